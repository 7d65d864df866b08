"""Stream consumer and scheduled jobs: idempotent, so replays change nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import budget
from .. import observability as ops
from ..domain.models import Message, Status, UserType
from ..domain.webhooks import erasure_change, unification_change, user_change
from ..store.streams import StreamRecord
from .deps import Deps
from .erasure import Erasures
from .history import History
from .unifications import Unifications
from .unify import clean_moved, move_history
from .webhooks import Webhooks


def _unification_id(record: StreamRecord) -> str | None:
    """The id of the unification a record is an image of (read from its key: a record
    whose image cannot be decoded fails in `handle_record`, on its own)."""
    image = record.new_image
    if record.kind != "unification" or image is None or not str(image.get("PK", "")).startswith("UNIF#"):
        return None
    return str(image["PK"])


@dataclass
class Batch:
    """What one batch's records share: the new messages of each chat, summarized
    together with the first of them (one read of the chat's header)."""

    new_messages: dict[str, list[Message]] = field(default_factory=dict)
    summarized: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, records: Sequence[StreamRecord]) -> Batch:
        batch = cls()
        for record in records:
            if record.kind != "message" or record.event_name != "INSERT":
                continue
            try:
                message = record.message()
            except Exception:  # it fails again in `handle_record`, on its own
                continue
            if message is not None:
                batch.new_messages.setdefault(message.chat_id, []).append(message)
        return batch

    def new_messages_from(self, message: Message) -> list[Message]:
        """`message` and the batch's later new messages of its chat; none when an
        earlier record of the batch already took them."""
        if message.id in self.summarized:
            return []
        messages = self.new_messages.pop(message.chat_id, [])
        start = next((i for i, m in enumerate(messages) if m.id == message.id), None)
        taken = [message] if start is None else messages[start:]
        self.summarized.update(m.id for m in taken)
        return taken


class Consumers:
    def __init__(
        self, deps: Deps, unifications: Unifications, history: History, webhooks: Webhooks, erasures: Erasures
    ) -> None:
        self.deps = deps
        self.erasures = erasures
        self.unifications = unifications
        self.history = history
        self.webhooks = webhooks

    def handle_records(self, records: Sequence[StreamRecord]) -> list[str]:
        """Act on each record; return the sequence numbers that failed, lowest first.

        Processing stops at the first failure, or when the invocation's time budget
        is nearly spent (never a timeout that retries the whole batch, issue 16.5):
        Lambda retries from there, and every record is safe to see again.
        """
        ids = [_unification_id(record) for record in records]
        latest = {key: index for index, key in enumerate(ids) if key is not None}
        batch = Batch.of(records)
        for index, record in enumerate(records):
            key = ids[index]
            # A later image of the same unification in this batch decides its move.
            superseded = key is not None and latest[key] != index
            rest = [r.sequence_number for r in records[index:]]
            if not budget.allows(budget.RESERVE):  # Lambda's time is nearly up: the rest is retried
                ops.stream_stopped(record.sequence_number, len(rest))
                return rest
            try:
                self.tell(record)
                if not superseded:
                    self.handle_record(record, batch)
                if record.kind == "unification":
                    ops.unification_step(record.unification_before(), record.unification())
                elif record.kind == "erasure":
                    ops.erasure_step(record.erasure_before(), record.erasure())
            except budget.BudgetExhausted:
                ops.stream_stopped(record.sequence_number, len(rest))
                return rest
            except Exception as error:
                ops.stream_record_failed(record.sequence_number, error, len(rest))
                return rest
        return []

    def tell(self, record: StreamRecord) -> None:
        """Every committed change worth telling, to the webhooks subscribed (R12): the
        stream is the outbox, so a change that committed is always told."""
        if record.kind == "webhook":
            self.webhooks.forget_subscriptions()
            return
        change = None
        if record.kind == "unification":
            after = record.unification()
            if after is not None:
                change = unification_change(record.unification_before(), after)
        elif record.kind == "user":
            change = user_change(record.user_before(), record.user())
        elif record.kind == "erasure":
            erasure = record.erasure()
            if erasure is not None:
                change = erasure_change(record.erasure_before(), erasure)
        if change is not None:
            self.webhooks.tell(change)

    def handle_record(self, record: StreamRecord, batch: Batch | None = None) -> None:
        """Route one change: running unifications move history (R10), login records
        complete deferred unifications (R7.4), users that were unified or became
        members end their stale proposals (R7.6), new messages join their chat's
        latest (what listings show), erasures take their next step (R11.3)."""
        erasure = record.erasure()
        if erasure is not None:
            if erasure.status == "running":
                self.erasures.work(erasure.id)
            return
        unification = record.unification()
        if unification is not None:
            if unification.status is Status.RUNNING:
                move_history(self.deps, unification)
            return
        message = record.message()
        if message is not None:
            if record.event_name == "INSERT":
                messages = (batch or Batch()).new_messages_from(message)
                if messages:
                    self.history.summarize(messages)
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
        for unification in self.deps.store.every_unification_with_status(Status.RUNNING):
            result = move_history(self.deps, unification)
            if result is not None and result.status is Status.COMPLETED:
                finished += 1
        return finished

    def resume_erasures(self) -> int:
        """Scheduled: continue any erasure the stream did not finish (R11.3)."""
        return self.erasures.resume_due()

    def clean_moved_histories(self) -> int:
        """Scheduled: delete the originals of moves whose grace period is over (R3.3)."""
        due = self.deps.store.unifications_due_for_cleaning(self.deps.clock.now())
        return sum(clean_moved(self.deps, unification_id) for unification_id in due)
