"""Erasure (R11): a person forgotten.

`request` does what must hold from the answer on, in work that grows with the
person's users, never with their history: the person's user items become
tombstones (invisible to every route, unmatchable, their devices' sessions
without a user), the memberId and channel ids are freed, and their open
unifications end `cancelled` (reason `erased`). `work` deletes the rest in
chunks, one step per stream record of the erasure (the schedule resumes any
the stream left), and reads `completed` only when nothing of theirs remains.
"""

from __future__ import annotations

from ..domain import writes as w
from ..domain.erasure import Erasure, forget_values, holds_values, person_counts
from ..domain.errors import NotFound
from ..domain.models import OPEN_STATUSES, Status, User
from .deps import Deps
from .lookup import resolve_user
from .retry import retrying
from .unifications import Unifications
from .unify import move_history

ROUNDS_FOR_MOVES = 3  # passes over the person while a move into it still ran (R11.3)


class Erasures:
    def __init__(self, deps: Deps, unifications: Unifications) -> None:
        self.deps = deps
        self.unifications = unifications

    # the request (R11.1, R11.2) -----------------------------------------------------

    def request(self, user_id: str, dry_run: bool = False) -> Erasure:
        """Erase the person `user_id` belongs to (any of their ids), or count what would go."""
        store = self.deps.store

        def once() -> Erasure:
            try:
                root, _ = resolve_user(store, user_id)
            except NotFound:
                accepted = self._accepted(user_id)
                if accepted is None:
                    raise
                return accepted  # asked again (a retry after a lost answer): the same erasure
            sources = self._sources(root)
            ids = (root.id, *(s.id for s in sources))
            counts = person_counts(root, sources, sum(store.count_devices(u) for u in ids))
            now = self.deps.clock.now()
            pending = tuple(dict.fromkeys(u for user in (root, *sources) for u in user.pending_unifications))
            erasure = Erasure(
                id=self.deps.clock.new_id("er_"),
                user_ids=ids,
                member_id=root.member_id,
                status="dry_run" if dry_run else "running",
                counts=counts,
                pending=pending,
                created_at=now,
                updated_at=now,
            )
            if dry_run:
                return erasure.model_copy(
                    update={"counts": counts.model_copy(update={"messages": store.count_messages(ids)})}
                )
            store.commit([w.SaveErasure(erasure, None), *self._hiding(root, erasure.id)])
            return erasure

        erasure = retrying(once)
        if erasure.status == "running":
            self._hide_sources(erasure)
            self._end_open(erasure)
        return erasure

    def get(self, erasure_id: str) -> Erasure:
        erasure = self.deps.store.get_erasure(erasure_id)
        if erasure is None:
            raise NotFound(f"no erasure {erasure_id}")
        return erasure

    def _accepted(self, user_id: str) -> Erasure | None:
        """The running erasure that already took this user, or the member it was unified into."""
        store = self.deps.store
        erasure_id = store.erasure_of(user_id)
        if erasure_id is None:
            unified = store.get_user(user_id)
            if unified is None or unified.unified_into is None:
                return None
            erasure_id = store.erasure_of(unified.unified_into)
        return store.get_erasure(erasure_id) if erasure_id else None

    def _sources(self, root: User) -> list[User]:
        """Every user unified into this one: those still moving are on the member itself
        (read strongly), the rest are listed by their unifications."""
        return self._unified_into(root.id, [*root.moving_sources, *self._listed_sources(root.id)])

    def _late_sources(self, e: Erasure) -> list[User]:
        """Sources the index listed only after the erasure was accepted."""
        late = [source for source in self._listed_sources(e.user_ids[0]) if source not in e.user_ids]
        return self._unified_into(e.user_ids[0], late)

    def _listed_sources(self, root_id: str) -> list[str]:
        return [
            source
            for status in (Status.RUNNING, Status.COMPLETED)
            for _, source in self.deps.store.unifications_targeting(root_id, status)
        ]

    def _unified_into(self, root_id: str, candidates: list[str]) -> list[User]:
        wanted = list(dict.fromkeys(candidates))
        found = self.deps.store.get_users(wanted) if wanted else {}
        return [found[s] for s in wanted if s in found and found[s].unified_into == root_id]

    @staticmethod
    def _hiding(user: User, erasure_id: str) -> list[w.Write]:
        """The writes that make one user vanish: its tombstone and its claims released."""
        writes: list[w.Write] = [w.EraseUser(user, user.version, erasure_id)]
        if user.member_id is not None and not user.is_unified:
            writes.append(w.ReleaseMember(user.member_id, user.id))
        if user.external_id is not None:
            writes.append(w.ReleaseExternal(user.channel.value, user.external_id, user.id))
        return writes

    def _hide_sources(self, erasure: Erasure) -> None:
        """Each unified source a tombstone too (idempotent: an erased one is skipped)."""
        for source_id in erasure.user_ids[1:]:

            def once(uid: str = source_id) -> None:
                user = self.deps.store.get_user(uid)
                if user is not None:
                    self.deps.store.commit(self._hiding(user, erasure.id))

            retrying(once)

    def _end_open(self, erasure: Erasure) -> None:
        for unification_id in erasure.pending:
            self.forget_in(unification_id)

    def forget_in(self, unification_id: str) -> None:
        """A unification naming an erased person: an open one ends `cancelled` (reason
        `erased`, R11.2); any keeps ids, statuses and times and loses its values (R11.3)."""
        store = self.deps.store

        def once() -> None:
            record = store.get_unification(unification_id)
            if record is None:
                return
            if record.status in OPEN_STATUSES:
                self.unifications.close_erased(forget_values(record))
            elif holds_values(record):
                store.commit([w.SaveUnification(forget_values(record), record.version)])

        retrying(once)

    # the background (R11.3) ---------------------------------------------------------

    def work(self, erasure_id: str, max_steps: int = 50) -> Erasure | None:
        """Advance a running erasure; safe to run any number of times, anywhere."""
        erasure = self.deps.store.get_erasure(erasure_id)
        for _ in range(max_steps):
            if erasure is None or erasure.status != "running":
                return erasure
            erasure = self._step(erasure)
        return erasure

    def resume_due(self) -> int:
        """Scheduled: every running erasure the stream did not finish."""
        finished = 0
        for erasure_id in self.deps.store.erasures_due(self.deps.clock.now()):
            done = self.work(erasure_id)
            finished += done is not None and done.status == "completed"
        return finished

    def _step(self, e: Erasure) -> Erasure | None:
        store, now, b = self.deps.store, self.deps.clock.now(), e.bookmark
        if not b.cancelled:  # what the request did, again: it may have stopped half-way
            self._hide_sources(e)
            self._end_open(e)
            return self._save(e, e.advanced(now, cancelled=True))
        if b.user_index < len(e.user_ids):
            user_id = e.user_ids[b.user_index]
            chunk = store.erase_history_chunk(user_id, self.deps.settings.move_chunk_size)
            if not chunk.done:
                return self._save(e, e.advanced(now, erased=chunk.items, messages=chunk.messages))
            devices = store.erase_about(user_id)
            store.forget_user(user_id)
            done = chunk.items + devices + 1
            return self._save(e, e.advanced(now, done, chunk.messages, user_index=b.user_index + 1))
        late = self._late_sources(e)
        if late:  # unified into the person as the erasure was accepted (the index lagged): theirs too
            for user in late:
                store.commit(self._hiding(user, e.id))  # a conflict: this step is retried whole
            grown = e.model_copy(update={"user_ids": (*e.user_ids, *(u.id for u in late))})
            counts = grown.counts.model_copy(update={"users": len(grown.user_ids)})
            return self._save(e, grown.model_copy(update={"counts": counts}).advanced(now))
        running = [u for u, _ in store.unifications_targeting(e.user_ids[0], Status.RUNNING)]
        if running and b.passes < ROUNDS_FOR_MOVES:
            # A move into the person was still running: it stops (its member is gone) and
            # the person's partitions are gone through once more for what it copied.
            for record in store.get_unifications(running).values():
                move_history(self.deps, record)
            return self._save(e, e.advanced(now, user_index=0, passes=b.passes + 1))
        for user_id in e.user_ids:
            for unification_id in store.unifications_naming(user_id):
                self.forget_in(unification_id)
                store.erase_messages_about(unification_id, e.created_at)
        store.erase_failures_naming(e.user_ids)
        return self._save(e, e.completed(now))

    def _save(self, before: Erasure, after: Erasure) -> Erasure | None:
        """The step's progress saved over the version it started from; on a conflict
        (another worker advanced it) the erasure as it now is."""
        try:
            self.deps.store.commit([w.SaveErasure(after, before.version)])
        except w.WriteConflict:
            return self.deps.store.get_erasure(before.id)
        return after
