"""CSV import of customers (R8.2)."""

from __future__ import annotations

import codecs
import csv
import functools
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..domain import writes as w
from ..domain.errors import DomainError, InvalidRequest
from ..domain.models import Channel, ProfileValue, Trigger, Unification, User, UserType
from ..domain.profile import check_profile_key, validate_profile
from .deps import Deps
from .unifications import Unifications
from .users import Consent, Users, UserWrite

UTF8_BOM = codecs.BOM_UTF8
BLOCK_ROWS = 100
CHUNK = 64 * 1024


@dataclass
class ImportResult:
    rows: int = 0
    members: int = 0
    leads: int = 0
    candidates: list[Unification] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


# Names Japanese software gives to what is, in practice, CP932 (a superset of Shift_JIS).
CP932_NAMES = {"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j", "cp932", "ms932"}


def decodes_as(body: bytes, encoding: str) -> bool:
    """Whether the whole body is valid text in `encoding`, checked chunk by chunk."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for start in range(0, len(body), CHUNK):
            decoder.decode(body[start : start + CHUNK], final=start + CHUNK >= len(body))
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(body: bytes, charset: str | None) -> str:
    """R8.2: a declared charset wins; else a BOM or valid UTF-8 means UTF-8; else CP932.

    The body is checked to decode fully before any row is imported, so a bad
    byte never leaves half a file imported.
    """
    if charset:
        label = charset.strip().lower()
        try:
            name = "cp932" if label in CP932_NAMES else codecs.lookup(label).name
        except LookupError as exc:
            raise InvalidRequest(f"unknown charset {charset!r}") from exc
        encoding = "utf-8-sig" if name == "utf-8" else name
    elif body.startswith(UTF8_BOM):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8" if decodes_as(body, "utf-8") else "cp932"
    if not decodes_as(body, encoding):
        raise InvalidRequest(f"the file is not valid {encoding} text")
    return encoding


def numbered_rows(body: bytes, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line number where the row starts, cells), read lazily from the body."""
    text = io.TextIOWrapper(io.BytesIO(body), encoding=encoding, newline="")
    reader = csv.reader(text)
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            yield start, cells
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the file is not valid {encoding} text") from exc
    except csv.Error as exc:
        raise InvalidRequest(f"the CSV is malformed near line {line}: {exc}") from exc


STANDARD_COLUMNS = ("memberId", "name", "mobileNumber", "email", "companyName")


def check_header(cells: list[str]) -> list[str]:
    header = [c.strip() for c in cells]
    if not any(header):
        raise InvalidRequest("the first line must be a header row")
    seen = set()
    for name in header:
        if name in seen:
            raise InvalidRequest(f"column {name!r} appears twice in the header")
        seen.add(name)
        if name not in STANDARD_COLUMNS:
            try:
                check_profile_key(name)
            except InvalidRequest as error:
                raise InvalidRequest(f"column {name!r}: {error.message}") from None
    return header


@dataclass(frozen=True)
class Row:
    line: int
    member_id: str | None
    profile: dict[str, ProfileValue | None]


def blocks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    block: list[Row] = []
    for row in rows:
        block.append(row)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


class Imports:
    """R8.2, in two passes over the file, each in blocks of BLOCK_ROWS rows read
    as a stream: member rows first (upserted), then lead rows (created and
    matched against every member, this file's included). A block is read with
    a constant number of requests; members and candidates are written in
    packed transactions, leads matching nobody in plain batches (new ids:
    nothing to race). A row whose write is refused is redone on its own, with
    fresh reads."""

    def __init__(self, deps: Deps, users: Users, unifications: Unifications) -> None:
        self.deps = deps
        self.users = users
        self.unifications = unifications

    def run(self, body: bytes, charset: str | None, auto_approve: bool) -> ImportResult:
        """Rows with memberId upsert members, others create leads (matched, R6.3);
        a bad row is reported with its line number and does not stop the others."""
        encoding = detect_encoding(body, charset)
        result = ImportResult()
        for block in blocks(self._rows(body, encoding, result, members=True), BLOCK_ROWS):
            self._members(block, result)
        for block in blocks(self._rows(body, encoding, result, members=False), BLOCK_ROWS):
            self._leads(block, auto_approve, result)
        result.errors.sort()
        return result

    def _rows(self, body: bytes, encoding: str, result: ImportResult, members: bool) -> Iterator[Row]:
        """One pass over the file: its valid member rows (those with a memberId), or its
        valid lead rows. The members' pass counts every row; each bad row is reported
        once, in the pass of its kind (a row of the wrong width: in the members' pass)."""
        rows = numbered_rows(body, encoding)
        first = next(rows, None)
        if first is None:
            raise InvalidRequest("the file is empty: a header row is required")
        header = check_header(first[1])
        id_column = header.index("memberId") if "memberId" in header else None
        for line, cells in rows:
            if not any(c.strip() for c in cells):
                continue
            if members:
                result.rows += 1
            if len(cells) == len(header):
                if (id_column is not None and bool(cells[id_column].strip())) != members:
                    continue  # the other pass's row
            elif not members:
                continue
            try:
                yield self._parse(header, line, cells)
            except DomainError as error:
                result.errors.append((line, error.message))

    def _parse(self, header: list[str], line: int, cells: list[str]) -> Row:
        if len(cells) != len(header):
            raise InvalidRequest(f"the row has {len(cells)} cells but the header has {len(header)}")
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=True) if cell.strip()}
        member_id = values.pop("memberId", None)
        if member_id is not None and len(member_id) > 1000:
            raise InvalidRequest("memberId must be 1-1000 characters", field="memberId")
        profile = validate_profile(values, self.deps.settings.default_phone_region)
        if member_id is None and not profile:
            raise InvalidRequest("the row has no values")
        return Row(line, member_id, profile)

    def _members(self, rows: list[Row], result: ImportResult) -> None:
        """Upsert a block's members: one read of their claims and users, packed writes."""
        first: dict[str, Row] = {}
        again: list[Row] = []  # a memberId seen twice in a block: its later rows go one by one
        for row in rows:
            assert row.member_id is not None
            if row.member_id in first:
                again.append(row)
            else:
                first[row.member_id] = row
        claims = self.deps.store.get_member_user_ids(list(first))
        existing = self.deps.store.get_users(list(claims.values()))
        groups = []
        for member_id, row in first.items():
            current = existing.get(claims.get(member_id, ""))
            groups.append(self.users.plan_member(member_id, row.profile, Consent(), current, Channel.CSV)[1])
        committed = self.deps.store.commit_many(groups)
        again += [row for row, ok in zip(first.values(), committed, strict=True) if not ok]
        result.members += sum(committed)
        for row in sorted(again, key=lambda r: r.line):
            assert row.member_id is not None
            self._one(
                row,
                result,
                functools.partial(self.users.upsert_member, row.member_id, row.profile, Consent(), Channel.CSV),
            )

    def _leads(self, rows: list[Row], auto_approve: bool, result: ImportResult) -> None:
        """Create a block's leads, matched in one read of the contact index (R6.3): those
        matching nobody are written together in plain batches, each candidate with
        its proposal in packed transactions."""
        leads = [self.users.plan_lead(row.profile, Consent(), Channel.CSV) for row in rows]
        matches = self.unifications.match_many(leads)
        alone = [i for i, lead in enumerate(leads) if lead.id not in matches]
        matched = [i for i, lead in enumerate(leads) if lead.id in matches]
        proposals = []
        for i in matched:
            member, matched_on = matches[leads[i].id]
            proposals.append(self.unifications.candidate(leads[i], member, Trigger.CSV_IMPORT, matched_on))
        written = dict(zip(alone, self.deps.store.put_new_users([leads[i] for i in alone]), strict=True))
        groups = [[w.SaveUser(proposal.source, None), *proposal.writes] for proposal in proposals]
        written |= dict(zip(matched, self.deps.store.commit_many(groups), strict=True))
        candidates = dict(zip(matched, (proposal.unification for proposal in proposals), strict=True))
        for i, row in enumerate(rows):
            if written[i]:
                result.leads += 1
                self._propose(candidates.get(i), auto_approve, result)
                continue
            if i in candidates:  # its transaction wrote nothing: plan it afresh
                redo = functools.partial(
                    self.users.create_lead, row.profile, Consent(), Channel.CSV, Trigger.CSV_IMPORT
                )
            else:  # the very same lead (its batch may have landed it): a conditional write
                redo = functools.partial(self._write_lead, leads[i])
            again = self._one(row, result, redo)
            if again is not None:
                self._propose(again.candidate, auto_approve, result)

    def _write_lead(self, lead: User) -> UserWrite:
        self.deps.store.commit([w.SaveUser(lead, None)])
        return UserWrite(lead, created=True)

    def _one(self, row: Row, result: ImportResult, write: Callable[[], UserWrite]) -> UserWrite | None:
        """One row on its own, through the use case with its retries; errors are the row's."""
        try:
            written = write()
        except DomainError as error:
            result.errors.append((row.line, error.message))
            return None
        if written.user.type is UserType.MEMBER:
            result.members += 1
        else:
            result.leads += 1
        return written

    def _propose(self, candidate: Unification | None, auto_approve: bool, result: ImportResult) -> None:
        if candidate is None:
            return
        if auto_approve:
            candidate = self.unifications.approve(candidate.id)
        result.candidates.append(candidate)
