"""The bench's capacity meter bills as DynamoDB's rules say (`bench/item_size.py`,
`bench/meter.py`): item sizes, write units in the table and each sparse index by
projection, transactions, condition checks, failed conditions, read units by
consistency. The end-to-end cases run real requests through moto's server with
the meter inside it, as `make bench` does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.item_size import Index, Schema, item_size
from bench.meter import Ledger, Meter, Write, cost_write
from chalicelib.store.schema import table_definition


def S(v: str) -> dict[str, str]:
    return {"S": v}


def test_item_sizes_follow_dynamodbs_rules() -> None:
    assert item_size({"a": S("xyz")}) == 4
    assert item_size({"é": S("é")}) == 4  # UTF-8 bytes, names too
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # 5 significant digits: 3 bytes + 1
    assert item_size({"n": {"N": "-0.00100"}}) == 1 + 2  # leading and trailing zeroes trimmed
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 4
    assert item_size({"s": {"SS": ["ab", "c"]}}) == 1 + 3
    assert item_size({"l": {"L": [S("a"), {"N": "1"}]}}) == 1 + 3 + (1 + 1) + (1 + 2)
    assert item_size({"m": {"M": {"k": S("v")}}}) == 1 + 3 + (1 + 1 + 1)


# The billing rules on indexes of each projection (the table's own schema is read in the end-to-end cases).
SCHEMA = Schema("PK", "SK", (Index("gsi1", "g1pk", "g1sk", "ALL"),))
KEYS_ONLY = Schema("PK", "SK", (Index("gsi1", "g1pk", "g1sk", "KEYS_ONLY"),))


def _user(pad: int, **extra: Any) -> dict[str, Any]:
    return {"PK": S("USER#u1"), "SK": S("#USER"), "g1pk": S("PHONE#1"), "g1sk": S("t"), "pad": S("x" * pad), **extra}


def _units(write: Write, schema: Schema = SCHEMA) -> dict[str, float]:
    out: dict[str, float] = {}
    for charge in cost_write(write, schema):
        out[charge.scope] = out.get(charge.scope, 0) + charge.units
    return out


def test_writes_cost_the_table_and_every_index_the_item_lands_in() -> None:
    new = _user(1500)
    assert _units(Write("PutItem", "t", ("USER#u1", "#USER"), None, new)) == {"table": 2, "gsi1": 2}
    assert _units(Write("TransactWriteItems", "t", ("USER#u1", "#USER"), None, new, transactional=True)) == {
        "table": 4,
        "gsi1": 2,
    }
    sparse = {k: v for k, v in new.items() if k != "g1sk"}  # no sort key of gsi1: not in it
    assert _units(Write("PutItem", "t", ("USER#u1", "#USER"), None, sparse)) == {"table": 2}
    moved = {**new, "g1pk": S("PHONE#2")}  # an index key that changes: delete + put there
    charges = cost_write(Write("PutItem", "t", ("USER#u1", "#USER"), new, moved), SCHEMA)
    assert [(c.scope, c.partition, c.units) for c in charges if c.scope == "gsi1"] == [
        ("gsi1", "PHONE#1", 2),
        ("gsi1", "PHONE#2", 2),
    ]


def test_an_index_is_charged_only_for_what_it_projects() -> None:
    old, new = _user(100), _user(100, name=S("renamed"))
    assert _units(Write("UpdateItem", "t", ("USER#u1", "#USER"), old, new)) == {"table": 1, "gsi1": 1}
    assert _units(Write("UpdateItem", "t", ("USER#u1", "#USER"), old, new), KEYS_ONLY) == {"table": 1}
    assert _units(Write("UpdateItem", "t", ("USER#u1", "#USER"), old, old)) == {"table": 1}  # unchanged: no index write


def test_condition_checks_and_failed_conditions() -> None:
    old = _user(2500)
    assert _units(Write("TransactWriteItems", "t", ("USER#u1", "#USER"), old, old, condition_check=True)) == {
        "table": 6
    }
    assert _units(Write("PutItem", "t", ("USER#u1", "#USER"), old, None, failed=True)) == {"table": 3}
    assert _units(Write("PutItem", "t", ("USER#u9", "#USER"), None, None, failed=True)) == {"table": 1}


# end to end, on moto's server with the meter inside ----------------------------------------


@pytest.fixture
def metered(fake_aws: Any) -> Iterator[tuple[Any, Ledger]]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    ledger = Ledger(keep_keys=True)
    server = make_server(
        "127.0.0.1",
        0,
        Meter(DomainDispatcherApplication(create_backend_app), ledger),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{server.server_port}",
        config=Config(account_id_endpoint_mode="disabled"),
    )
    client.create_table(**table_definition("metered"))
    try:
        yield client, ledger
    finally:
        server.shutdown()


def test_requests_are_billed_from_the_items_they_touch(metered: tuple[Any, Ledger]) -> None:
    client, ledger = metered
    big = {"PK": S("USER#a"), "SK": S("#USER"), "pad": S("x" * 5000)}
    events = [{"PK": S("USER#a"), "SK": S(f"E#{n}"), "pad": S("y" * 1500)} for n in range(3)]
    with ledger.window() as usage:
        client.put_item(TableName="metered", Item=big)
    assert usage.write_units == 5
    for event in events:
        client.put_item(TableName="metered", Item=event)
    with ledger.window() as strong:
        client.get_item(TableName="metered", Key={"PK": S("USER#a"), "SK": S("#USER")}, ConsistentRead=True)
    with ledger.window() as eventual:
        client.get_item(TableName="metered", Key={"PK": S("USER#a"), "SK": S("#USER")}, ProjectionExpression="PK")
    assert (strong.read_units, eventual.read_units) == (2, 1)  # 5 KB: 2 units; eventual half; projection no less
    with ledger.window() as query:
        client.query(
            TableName="metered",
            KeyConditionExpression="PK = :pk AND begins_with(SK, :e)",
            ExpressionAttributeValues={":pk": S("USER#a"), ":e": S("E#")},
            ConsistentRead=True,
            ProjectionExpression="PK, SK",
        )
    assert query.read_units == 2  # 3 items of ~1.5 KB added up: 2 units of 4 KB
    with ledger.window() as failed, pytest.raises(ClientError):
        client.put_item(TableName="metered", Item=big, ConditionExpression="attribute_not_exists(PK)")
    assert failed.write_units == 5 and failed.breakdown() == {"failed conditions": 5}
    with ledger.window() as transaction:
        client.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": "metered",
                        "Key": {"PK": S("USER#a"), "SK": S("E#0")},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
                {"Put": {"TableName": "metered", "Item": {"PK": S("USER#b"), "SK": S("#USER")}}},
            ]
        )
    assert transaction.breakdown() == {"condition checks": 4, "table": 1, "transactions (x2)": 1}
    keys = ledger.take_keys()
    assert keys["writes"]["table"]["top"][0][0] == "USER#a"
