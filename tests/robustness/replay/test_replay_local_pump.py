"""The local stack's stream pump (`make run`) on moto's server, as it runs there (moto unpatched).

moto undoes a cancelled TransactWriteItems by putting back a copy of the
whole table, stream included. A reader that keeps following the shard
iterators it was handed is left on the discarded table: it sees the records
of the write that was undone, and never anything written afterwards.
`StreamPump` keeps its iterators from batch to batch, so after the first
cancelled transaction (any lost race of two logins, edits or approvals) the
stream consumer of `make run` hears nothing more: history moves and deferred
unifications wait for the scheduler, and consumers are handed writes that
never happened. Re-acquiring the iterator from the last sequence number it
handed over (as `ReplayingPump` does) reads the live table.
"""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib.local.pump import StreamPump
from chalicelib.store.schema import create_table


def put(key: str, condition: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"Item": {"PK": {"S": key}, "SK": {"S": "#ITEM"}}}
    if condition:
        action["ConditionExpression"] = condition
    return action


def test_the_local_pump_hears_writes_made_after_a_cancelled_transaction(moto_server: dict[str, Any]) -> None:
    ddb, table = moto_server["ddb"], f"pump-{uuid.uuid4().hex[:12]}"
    arn = create_table(ddb, table)
    handed: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        handed.extend(r["dynamodb"]["Keys"]["PK"]["S"] for r in event["Records"])
        return {"batchItemFailures": []}

    pump = StreamPump(moto_server["streams"], arn, handler)
    try:
        ddb.put_item(TableName=table, **put("before"))
        pump.drain()
        try:  # the second Put fails its condition: the whole transaction is undone
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, **put("undone")}},
                    {"Put": {"TableName": table, **put("before", "attribute_not_exists(PK)")}},
                ]
            )
            raise AssertionError("the transaction should have been cancelled")
        except ddb.exceptions.TransactionCanceledException:
            pass
        ddb.put_item(TableName=table, **put("after"))
        pump.drain()
        assert "undone" not in handed, f"the consumer was handed a write that was undone: {handed}"
        assert handed == ["before", "after"], f"the pump stopped hearing the table: {handed}"
    finally:
        ddb.delete_table(TableName=table)
