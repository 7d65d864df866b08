"""Stream consumer and scheduled jobs: idempotent, so replays change nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..domain.models import Status, UserType
from ..store.streams import StreamRecord
from .deps import Deps
from .unifications import Unifications
from .unify import move_history_step

log = logging.getLogger(__name__)


class Consumers:
    def __init__(self, deps: Deps, unifications: Unifications) -> None:
        self.deps = deps
        self.unifications = unifications

    def handle_records(self, records: Sequence[StreamRecord]) -> list[str]:
        """Act on each record; return the sequence numbers that failed, lowest first.

        Processing stops at the first failure: Lambda retries from there, and
        every record is safe to see again.
        """
        for index, record in enumerate(records):
            try:
                self.handle_record(record)
            except Exception:
                log.exception("stream record %s failed", record.sequence_number)
                return [r.sequence_number for r in records[index:]]
        return []

    def handle_record(self, record: StreamRecord) -> None:
        """Route one change: running unifications move history (R10), login records
        complete deferred unifications (R7.4), users that were unified or became
        members end their stale proposals (R7.6)."""
        unification = record.unification()
        if unification is not None:
            p = unification.progress
            if unification.status is Status.RUNNING or (unification.status is Status.COMPLETED and not p.cleaned):
                move_history_step(self.deps, unification.id)
            return
        login = record.login()
        if login is not None and record.event_name == "INSERT":
            self.unifications.complete_deferred_for(login)
            return
        user, before = record.user(), record.user_before()
        if user is not None and user.pending_unifications and before is not None:
            unified_now = user.is_unified and not before.is_unified
            member_now = user.type is UserType.MEMBER and before.type is not UserType.MEMBER
            if unified_now or member_now:
                self.unifications.cancel_stale(user.id)

    def finish_deferred_unifications(self) -> int:
        """Scheduled: deferred unifications whose member logged in since approval (R7.4)."""
        return self.unifications.finish_deferred()

    def finish_running_unifications(self) -> int:
        """Scheduled: continue any history move the stream did not finish (R10)."""
        finished = 0
        cursor: str | None = None
        while True:
            page = self.deps.store.unifications_by("gsi1", f"USTATUS#{Status.RUNNING.value}", cursor, 100)
            for unification in page.items:
                result = move_history_step(self.deps, unification.id)
                if result is not None and result.status is Status.COMPLETED:
                    finished += 1
            cursor = page.next_cursor
            if cursor is None:
                return finished
