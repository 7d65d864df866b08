"""Manual unification (R6, R7): candidates, approval, deferred completion, cancellation."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .. import observability as ops
from ..domain import writes as w
from ..domain.contacts import CONTACT_FIELDS
from ..domain.erasure import ERASED_REASON
from ..domain.errors import InvalidRequest, InvalidState, NotFound
from ..domain.matching import choose_target_member, is_junk, normalized_blocklist
from ..domain.merge import decide_fields
from ..domain.models import OPEN_STATUSES, LoginRecord, Status, Trigger, Unification, User
from ..domain.preview import holdings, shown
from ..domain.rules import require_room_for_candidate, require_unification_allowed, why_not_allowed
from .deps import Deps
from .lookup import require_pair, require_user
from .ports import Page
from .retry import FirstThenReload, retrying
from .unify import prepare_unification

log = logging.getLogger(__name__)

# (field, value) -> ids of the members holding it (the members' contact index, R6.1);
# None: more members than the index lists (junk, R6.4).
ContactIndex = Mapping[tuple[str, str], Sequence[str] | None]


@dataclass(frozen=True)
class Candidate:
    """A proposed unification and the writes that record it beside the source's own write."""

    unification: Unification
    source: User
    writes: list[w.Write]


class Unifications:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    # matching and proposing (R6, R7.2) -----------------------------------------

    def match(self, user: User, listed: ContactIndex | None = None) -> tuple[User, tuple[str, ...]] | None:
        """The member the user's verified contact values point at, if any (R6.1-R6.4)."""
        return self.match_many([user], listed).get(user.id)

    def match_many(
        self, users: Sequence[User], listed: ContactIndex | None = None
    ) -> dict[str, tuple[User, tuple[str, ...]]]:
        """`match` for many users with a constant number of reads (CSV blocks).

        The members' contact index is read from the table (not a GSI), apart
        from the entries `listed` already holds (read along with something
        else), and every nominated member is re-read to confirm it still holds
        the value.
        """
        settings = self.deps.settings
        blocked = normalized_blocklist(settings.contact_blocklist, settings.default_phone_region)
        pairs_of = {
            user.id: [
                (field, str(value))
                for field in CONTACT_FIELDS
                if (value := user.verified_value(field)) is not None and not is_junk(field, str(value), blocked)
            ]
            for user in users
        }
        all_pairs = list(dict.fromkeys(pair for pairs in pairs_of.values() for pair in pairs))
        if not all_pairs:
            return {}
        known = listed or {}
        unread = [pair for pair in all_pairs if pair not in known]
        index = {**known, **(self.deps.store.members_by_contact(unread) if unread else {})}
        # A value held by more members than the cap is junk (R6.4): not worth reading them.
        holders = {pair: list(index[pair] or ()) for pair in all_pairs if index[pair] is not None}
        usable = {pair for pair, ids in holders.items() if 0 < len(ids) <= settings.max_contact_matches}
        members = self.deps.store.get_users(sorted({uid for pair in usable for uid in holders[pair]}))
        chosen = {}
        for user in users:
            matches: list[tuple[str, Sequence[User]]] = [
                (
                    field,
                    [m for uid in holders[(field, value)] if (m := members.get(uid)) and m.profile.get(field) == value],
                )
                for field, value in pairs_of[user.id]
                if (field, value) in usable
            ]
            choice = choose_target_member(user, matches, settings.max_contact_matches)
            if choice is not None:
                chosen[user.id] = choice
        return chosen

    def candidate(self, source: User, target: User, trigger: Trigger, matched_on: Sequence[str]) -> Candidate:
        """A `pending_approval` unification of source into target, listed on both (R7.2, R7.5).

        `source` is the source as it is about to be written (the caller writes
        it); an open proposal for the same pair is reused, not duplicated.
        """
        existing = self._open_between(source, target)
        if existing is not None:
            return Candidate(existing, source, [])
        require_unification_allowed(source, target)
        require_room_for_candidate(source, target)
        now = self.deps.clock.now()
        _, decisions = decide_fields(source, target)
        record = Unification(
            id=self.deps.clock.new_id("un_"),
            source_user_id=source.id,
            target_user_id=target.id,
            target_member_id=target.member_id or "",
            trigger=trigger,
            status=Status.PENDING_APPROVAL,
            matched_on=tuple(matched_on),
            field_decisions=decisions,
            progress=holdings(source),
            created_at=now,
            updated_at=now,
        )
        writes: list[w.Write] = [
            w.SaveUser(target.with_pending(record.id), target.version),
            w.SaveUnification(record, None),
        ]
        return Candidate(shown(record, source, target), source.with_pending(record.id), writes)

    def _open_between(self, source: User, target: User) -> Unification | None:
        for unification_id in source.pending_unifications:
            record = self.deps.store.get_unification(unification_id)
            if record and record.target_user_id == target.id and record.status in OPEN_STATUSES:
                return shown(record, source, target)
        return None

    def propose(self, source_id: str, target_id: str) -> Unification:
        """A manager proposes S into M directly; R2 is checked at once (R7.2)."""

        def once() -> Unification:
            source = require_user(self.deps.store, source_id)
            target = require_user(self.deps.store, target_id)
            require_unification_allowed(source, target)
            shared = [
                f
                for f in CONTACT_FIELDS
                if f in source.fields and f in target.fields and source.fields[f].value == target.fields[f].value
            ]
            proposal = self.candidate(source, target, Trigger.MANAGER_EDIT, shared)
            if proposal.writes:
                self.deps.store.commit([w.SaveUser(proposal.source, source.version), *proposal.writes])
            return proposal.unification

        return retrying(once)

    # reading (R3.6 previews) ------------------------------------------------------

    def get(self, unification_id: str) -> Unification:
        record = self.deps.store.get_unification(unification_id)
        if record is None:
            raise NotFound(f"no unification {unification_id}")
        return self.with_preview([record])[0]

    def with_preview(self, records: list[Unification]) -> list[Unification]:
        """The records with both users' names; open ones show the decisions and moves as
        they would be now (R3.6). One batch read for the page."""
        ids = [u for r in records for u in (r.source_user_id, r.target_user_id)]
        users = self.deps.store.get_users(ids) if ids else {}
        return [shown(r, users.get(r.source_user_id), users.get(r.target_user_id)) for r in records]

    def list(self, status: str | None, user_id: str | None, cursor: str | None, limit: int) -> Page[Unification]:
        """By status and/or user (as source, then as target); oldest first."""
        if status is not None and status not in {s.value for s in Status}:
            raise InvalidRequest(f"status must be one of {', '.join(s.value for s in Status)}", field="status")
        wanted = Status(status) if status is not None else None
        store = self.deps.store
        if user_id is not None:
            page = store.unifications_of_user(user_id, wanted, cursor, limit)
        else:
            page = store.unifications_with_status(wanted, cursor, limit)
        return Page(self.with_preview(page.items), page.next_cursor)

    # approving and rejecting (R7.3) -----------------------------------------------

    def approve(self, unification_id: str) -> Unification:
        """Immediate for a source that never visited the site or app; otherwise deferred
        until the member's next login (R7.3)."""

        def once() -> Unification:
            record = self._pending(unification_id)
            now = self.deps.clock.now()
            approved = record.model_copy(update={"approved_at": now})
            source, target = require_pair(self.deps.store, record.source_user_id, record.target_user_id)
            reason = why_not_allowed(source, target)
            if reason is not None:
                return self._close(record, Status.CANCELLED, reason)
            if source.visited:
                deferred = approved.changed(now, status=Status.DEFERRED)
                self.deps.store.commit([w.SaveUnification(deferred, record.version)])
                return shown(deferred, source, target)
            return self._run(approved, record.version, source, target)

        return retrying(once)

    def reject(self, unification_id: str) -> Unification:
        def once() -> Unification:
            record = self._pending(unification_id)
            return self._close(record, Status.REJECTED, None)

        return retrying(once)

    def _pending(self, unification_id: str) -> Unification:
        record = self.deps.store.get_unification(unification_id)
        if record is None:
            raise NotFound(f"no unification {unification_id}")
        if record.status is not Status.PENDING_APPROVAL:
            raise InvalidState(f"unification {unification_id} is {record.status.value}, not pending_approval")
        return record

    def _run(
        self, record: Unification, expected_version: int, source: User | None = None, target: User | None = None
    ) -> Unification:
        """Carry out an approved unification, or cancel it if no longer allowed (R7.6).

        The record is written over `expected_version` in the same transaction,
        so of two workers that try, exactly one commits.
        """
        store = self.deps.store
        if source is None or target is None:
            source, target = require_pair(store, record.source_user_id, record.target_user_id)
        reason = why_not_allowed(source, target)
        if reason is not None:
            return self._close(record.model_copy(update={"version": expected_version}), Status.CANCELLED, reason)
        commit = prepare_unification(self.deps, source, target, record.trigger, existing=record)
        commit.record_expected = expected_version
        store.commit(commit.writes())
        return shown(commit.record, commit.source, commit.target)

    def _close(self, record: Unification, status: Status, reason: str | None) -> Unification:
        """End an open unification and take it off both users' lists."""
        store, now = self.deps.store, self.deps.clock.now()
        closed = record.changed(now, status=status, reason=reason)
        writes: list[w.Write] = [w.SaveUnification(closed, record.version)]
        users = store.get_users([record.source_user_id, record.target_user_id])
        for user in users.values():
            if record.id in user.pending_unifications:
                writes.append(w.SaveUser(user.without_pending(record.id), user.version))
        store.commit(writes)
        return shown(closed, users.get(record.source_user_id), users.get(record.target_user_id))

    def close_erased(self, record: Unification) -> Unification:
        """An open unification naming an erased person ends (R11.2)."""
        return self._close(record, Status.CANCELLED, ERASED_REASON)

    # deferred completion (R7.4) and cancellation (R7.6) --------------------------------

    def complete_deferred_for(self, login: LoginRecord) -> int:
        """A member logged in: run its deferred unifications approved before this login.
        Each is read with its source and member in one request."""
        done = 0
        for unification_id, source_id in self.deps.store.unifications_targeting(login.user_id, Status.DEFERRED):
            found = self.deps.store.read_together(unifications=[unification_id], users=[source_id, login.user_id])
            record = found.unifications.get(unification_id)
            if record is None:
                continue
            pair = (found.users.get(source_id), found.users.get(login.user_id))
            if self._run_deferred(record, login.at, pair):
                done += 1
        return done

    def finish_deferred(self) -> int:
        """Scheduled: deferred unifications whose member has logged in since approval."""
        seen = done = 0
        for record in self.deps.store.every_unification_with_status(Status.DEFERRED):
            seen += 1
            target = self.deps.store.get_user(record.target_user_id)
            if target and target.last_login_at and self._run_deferred(record, target.last_login_at):
                done += 1
        ops.deferred_run(ran=done, waiting=seen - done)
        return done

    def _run_deferred(
        self, listed: Unification, login_at: datetime, pair: tuple[User | None, User | None] = (None, None)
    ) -> bool:
        """Run one deferred unification. The record (and the users) already read serve the
        first try (the transaction claims the record at that version); a retry reads it."""
        fresh = FirstThenReload[tuple[Unification | None, User | None, User | None]](
            (listed, *pair), lambda: (self.deps.store.get_unification(listed.id), None, None)
        )

        def once() -> bool:
            record, source, target = fresh.get()
            if record is None or record.status is not Status.DEFERRED:
                return False  # already run (or ended) by someone else
            if record.approved_at is None or login_at <= record.approved_at:
                return False  # a login from before the approval does not count (R7.4)
            self._run(record, record.version, source, target)
            return True

        return retrying(once)

    def cancel_stale(self, user_id: str) -> int:
        """End the user's open unifications that are no longer allowed (R7.6)."""
        user = self.deps.store.get_user(user_id)
        if user is None:
            return 0
        cancelled = 0
        for unification_id in user.pending_unifications:

            def once(uid: str = unification_id) -> bool:
                store = self.deps.store
                record = store.get_unification(uid)
                if record is None or record.status not in OPEN_STATUSES:
                    users = store.get_users([user_id])
                    current = users.get(user_id)
                    if current and uid in current.pending_unifications:
                        store.commit([w.SaveUser(current.without_pending(uid), current.version)])
                    return False
                source = require_user(store, record.source_user_id)
                target = require_user(store, record.target_user_id)
                reason = why_not_allowed(source, target)
                if reason is None:
                    return False
                self._close(record, Status.CANCELLED, reason)
                return True

            if retrying(once):
                cancelled += 1
        return cancelled
