"""The repository: the one table behind the use cases' `Store` (service/ports.py).

Built from modules a reader holds in one sitting: `reads` (items by key),
`history` (history across partitions), `listings` (through the indexes),
`moves` (a history moving into its member), `webhooks` (subscriptions and their
messages), `commits` (transactions and batches), over `base` (the table itself). Every access is a GetItem, a
BatchGetItem of what is read together, a Query, or a conditional write.
"""

from __future__ import annotations

from datetime import datetime

from . import keys
from .base import UnprocessedItems
from .commits import Commits
from .erasures import Erasures
from .history import HistoryReads
from .listings import Listings
from .moves import Moves
from .webhooks import Webhooks

__all__ = ["DynamoStore", "UnprocessedItems"]


class DynamoStore(Listings, HistoryReads, Webhooks, Erasures, Moves, Commits):
    def unifications_due_for_cleaning(self, now: datetime) -> list[str]:
        """Completed moves whose grace period is over: their originals may go (R3.3)."""
        return [pk.removeprefix(keys.UNIFICATION) for pk, _ in self.due(keys.CLEAN, now)]

    def erasures_due(self, now: datetime) -> list[str]:
        """Running erasures, oldest first: the schedule's backstop for the stream (R11.3)."""
        return [pk.removeprefix(keys.ERASURE) for pk, _ in self.due(keys.ERASE, now)]
