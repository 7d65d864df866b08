"""CSV import of customers (R8.2)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..domain.errors import DomainError, InvalidRequest
from ..domain.models import Channel, Trigger, Unification
from ..domain.profile import CUSTOM_KEY, RESERVED_KEYS, validate_profile
from .deps import Deps
from .unifications import Unifications
from .users import Consent, Users

UTF8_BOM = codecs.BOM_UTF8
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
        if name not in STANDARD_COLUMNS and (name in RESERVED_KEYS or not CUSTOM_KEY.fullmatch(name)):
            raise InvalidRequest(f"column {name!r} is not a profile field (letters, digits, _ up to 64)")
    return header


class Imports:
    def __init__(self, deps: Deps, users: Users, unifications: Unifications) -> None:
        self.deps = deps
        self.users = users
        self.unifications = unifications

    def run(self, body: bytes, charset: str | None, auto_approve: bool) -> ImportResult:
        """Rows with memberId upsert members, others create leads (matched, R6.3);
        a bad row is reported with its line number and does not stop the others."""
        rows = numbered_rows(body, detect_encoding(body, charset))
        first = next(rows, None)
        if first is None:
            raise InvalidRequest("the file is empty: a header row is required")
        header = check_header(first[1])
        result = ImportResult()
        for line, cells in rows:
            if not any(c.strip() for c in cells):
                continue
            result.rows += 1
            try:
                self._import_row(header, cells, auto_approve, result)
            except DomainError as error:
                result.errors.append((line, error.message))
        return result

    def _import_row(self, header: list[str], cells: list[str], auto_approve: bool, result: ImportResult) -> None:
        if len(cells) != len(header):
            raise InvalidRequest(f"the row has {len(cells)} cells but the header has {len(header)}")
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=True) if cell.strip()}
        member_id = values.pop("memberId", None)
        profile = validate_profile(values, self.deps.settings.default_phone_region)
        if member_id:
            self.users.upsert_member(member_id, profile, Consent())
            result.members += 1
            return
        if not profile:
            raise InvalidRequest("the row has no values")
        written = self.users.create_lead(profile, Consent(), channel=Channel.CSV, trigger=Trigger.CSV_IMPORT)
        result.leads += 1
        if written.candidate is not None:
            candidate = written.candidate
            if auto_approve:
                candidate = self.unifications.approve(candidate.id)
            result.candidates.append(candidate)
