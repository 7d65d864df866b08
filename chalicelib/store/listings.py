"""Lists read through the indexes: unifications by status or by user, users by contact.

The indexes only nominate (they project keys, or the few attributes a reader
filters on); every listed record is read from the base table, strongly
consistent, and kept only if it still is what the list asks for. A status key
is write-sharded (`keys.SHARDS`): a status listing gathers every shard and
merges them in creation order.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..domain.models import Status, Unification, User
from ..service.ports import Page
from . import keys
from .base import TableClient
from .codec import from_wire, to_wire
from .cursors import StatusCursor, UserUnificationsCursor, decode, encode
from .gather import Gather
from .reads import Reads

STATUS_ORDER = [s.value for s in Status]  # pending_approval first: what a manager looks at first


class Listings(Reads, Gather, TableClient):
    # unifications -------------------------------------------------------------------

    def unifications_with_status(self, status: Status | None, cursor: str | None, limit: int) -> Page[Unification]:
        """By status (all statuses, pending_approval first, when None), oldest first."""
        state = decode(cursor, StatusCursor) or StatusCursor(
            t="us", statuses=[status.value] if status else STATUS_ORDER
        )
        if status is not None and state.statuses != [status.value]:
            state = StatusCursor(t="us", statuses=[status.value])  # a cursor of another listing starts afresh
        statuses = [s for s in state.statuses if s in STATUS_ORDER] or [STATUS_ORDER[0]]
        shards = dict(state.shards)
        index, pk_name, sk_name = keys.GSI1
        found: list[Unification] = []
        while statuses and len(found) < limit:
            partitions = keys.status_keys(statuses[0])
            rows, shards = self._gather(partitions, pk_name, sk_name, shards, limit - len(found), index=index)
            ids = [str(r["PK"]).removeprefix(keys.UNIFICATION) for r in rows]
            records = self.get_unifications(ids)
            found += [records[i] for i in ids if i in records and (status is None or records[i].status is status)]
            if self._all_done(shards, len(partitions)):
                statuses, shards = statuses[1:], {}
        if not statuses:
            return Page(found, None)
        return Page(found, encode(StatusCursor(t="us", statuses=statuses, shards=shards)))

    def every_unification_with_status(self, status: Status) -> Iterator[Unification]:
        """All of one status, page after page (the scheduled sweeps)."""
        cursor: str | None = None
        while True:
            page = self.unifications_with_status(status, cursor, 100)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def unifications_of_user(
        self, user_id: str, status: Status | None, cursor: str | None, limit: int
    ) -> Page[Unification]:
        """A user's unifications: as source, then as target; each oldest first."""
        state = decode(cursor, UserUnificationsCursor) or UserUnificationsCursor(t="uu", phase=0)
        phase, after = state.phase, state.after
        found: list[Unification] = []
        while phase < 2 and len(found) < limit:
            index, pk_name, sk_name = keys.GSI2 if phase == 0 else keys.GSI3
            pk = keys.source_key(user_id) if phase == 0 else keys.target_key(user_id)
            condition = f"{pk_name} = :pk" + (f" AND {sk_name} > :after" if after else "")
            raw = self._query_page(
                IndexName=index,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=to_wire({":pk": pk, **({":after": after} if after else {})}),
                Limit=limit - len(found),
            )
            rows = [from_wire(i) for i in raw.get("Items", [])]
            ids = [str(row["PK"]).removeprefix(keys.UNIFICATION) for row in rows]
            records = self.get_unifications(ids)
            found += [records[i] for i in ids if i in records and (status is None or records[i].status is status)]
            if rows:
                after = str(rows[-1][sk_name])
            if "LastEvaluatedKey" not in raw:
                phase, after = phase + 1, ""
        if phase >= 2:
            return Page(found, None)
        return Page(found, encode(UserUnificationsCursor(t="uu", phase=phase, after=after)))

    def unifications_targeting(self, user_id: str, status: Status) -> list[tuple[str, str]]:
        """(id, source id) of a member's unifications the index lists with this status
        (R7.4: a login runs the deferred ones); the caller reads and confirms each."""
        index, pk_name, _ = keys.GSI3
        query = {
            "IndexName": index,
            "KeyConditionExpression": f"{pk_name} = :pk",
            "ExpressionAttributeValues": to_wire({":pk": keys.target_key(user_id)}),
        }
        return [
            (str(row["PK"]).removeprefix(keys.UNIFICATION), str(row["sourceUserId"]))
            for row in self._query(**query)
            if row.get("status") == status.value
        ]

    # users ------------------------------------------------------------------------

    def users_holding(self, field: str, value: str, limit: int) -> list[User]:
        """Un-unified users holding this normalized contact value, most recently updated
        first (R9.3). The index nominates; each user is read and kept only if it still
        holds the value and is still un-unified."""
        index, pk_name, sk_name = keys.CONTACT_INDEXES[field]
        ids: list[str] = []
        for pk in keys.contact_search_keys(field, value):
            raw = self.client.query(
                TableName=self.table,
                IndexName=index,
                KeyConditionExpression=f"{pk_name} = :v",
                ExpressionAttributeValues=to_wire({":v": pk}),
                ScanIndexForward=False,  # the newest users first, should more than `limit` hold it
                Limit=limit,
            )
            ids += [str(from_wire(row)[sk_name]) for row in raw.get("Items", [])]
        users = self.get_users(ids)
        confirmed = [
            u
            for u in (users.get(i) for i in dict.fromkeys(ids))
            if u is not None and not u.is_unified and (fv := u.fields.get(field)) is not None and fv.value == value
        ]
        return sorted(confirmed, key=lambda u: u.updated_at, reverse=True)[:limit]
