"""The local stack's moto and the bench's answer exactly as stock moto does (issue 13.5).

`chalicelib/local/fast_moto.py` (behind `make run` and the replay tests) and
`bench/emulator.py` (behind `make bench`) replace pieces of moto's private
internals to make it fast. Nothing else shows that they keep its behaviour,
so the same workload runs on stock moto, on moto with `fast_moto`, and on
moto with `fast_moto` and the bench's emulator, each on a fresh backend, and
every answer and the table's whole stream must come out equal. Two
workloads: requests written shape by shape (`workload.py`) and the requests
the app itself sent through a session, logins that unify, a manager's edit
and approval, CSV imports and the stream consumer's moves
(`recorded_workload.json`, written by `python -m bench.record_workload`).

One difference is by design and read away before comparing: an unconditional
ADD to a string set of a missing item is one INSERT in the emulator's stream,
as DynamoDB writes it, where moto writes an INSERT of the bare key and then a
second INSERT with the set (`bench/emulator.py`); moto's pair is read as the
one record it stands for, on every variant alike.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.local import fast_moto
from chalicelib.store.schema import table_definition

from .workload import requests as shaped_requests

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "recorded_workload.json.gz"
TABLE = "equivalence"
VARIANTS = ("stock moto", "local stack (fast_moto)", "bench (fast_moto + emulator)")


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled"))


def _answer(call: Callable[..., dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    try:
        answer = call(**params)
    except ClientError as error:
        body = {k: v for k, v in error.response.items() if k != "ResponseMetadata"}
        return {"error": body}
    answer.pop("ResponseMetadata", None)
    return answer


def _normalize(api: str, answer: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB promises no order among a BatchGetItem's items: sort them."""
    if api == "BatchGetItem":
        for table, items in answer.get("Responses", {}).items():
            answer["Responses"][table] = sorted(items, key=lambda i: json.dumps(i, sort_keys=True))
    return answer


def run_workload(requests: list[tuple[str, dict[str, Any]]], table: str) -> dict[str, Any]:
    """Every request's answer (each page of a paginated Query) and the table's stream."""
    dynamodb = _client("dynamodb")
    definition = table_definition(table)
    dynamodb.create_table(**definition)
    answers: list[Any] = []
    for api, given in requests:
        params = copy.deepcopy(given)
        paginate = params.pop("PAGINATE", False)
        call = getattr(dynamodb, _snake(api))
        while True:
            answer = _normalize(api, _answer(call, params))
            answers.append([api, answer])
            last = answer.get("LastEvaluatedKey")
            if not (paginate and last):
                break
            params["ExclusiveStartKey"] = last
    return {"answers": answers, "stream": _stream(dynamodb, table)}


def _stream(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    streams = _client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        start = {"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}
        iterator = streams.get_shard_iterator(**start)["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return _one_record_per_write(
        [
            {
                "eventName": r["eventName"],
                "Keys": r["dynamodb"].get("Keys"),
                "NewImage": r["dynamodb"].get("NewImage"),
                "OldImage": r["dynamodb"].get("OldImage"),
                "StreamViewType": r["dynamodb"].get("StreamViewType"),
            }
            for r in records
        ]
    )


def _one_record_per_write(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """moto's INSERT of a bare key followed by the MODIFY that fills it: one INSERT."""
    out: list[dict[str, Any]] = []
    for record in records:
        previous = out[-1] if out else None
        if (
            previous is not None
            and previous["eventName"] == "INSERT"
            and previous["Keys"] == record["Keys"]
            and previous["NewImage"] == record["Keys"]
            and record["OldImage"] in (None, record["Keys"])
            and record["eventName"] in ("INSERT", "MODIFY")
        ):
            out[-1] = {**record, "eventName": "INSERT", "OldImage": None}
            continue
        out.append(record)
    return out


def _snake(api: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in api).lstrip("_")


@contextmanager
def variant(name: str) -> Iterator[None]:
    """moto as `name` has it, on a fresh backend; every patch undone after."""
    from moto.dynamodb.models import DynamoDBBackend

    # Another module's patches left behind would make "stock" a patched moto (and the test moot).
    assert not hasattr(DynamoDBBackend.transact_write_items, "unwrapped"), "moto is patched for good in this process"
    with pytest.MonkeyPatch.context() as monkeypatch:
        if name != VARIANTS[0]:
            fast_moto.install(lambda owner, attr, value: monkeypatch.setattr(owner, attr, value, raising=False))
        emulated = name == VARIANTS[2]
        if emulated:
            from bench import emulator

            emulator.install()
        try:
            with mock_aws():
                yield
        finally:
            if emulated:
                emulator.uninstall()


def _recorded() -> list[tuple[str, dict[str, Any]]]:
    with gzip.open(RECORDED, "rt", encoding="utf-8") as f:
        document = json.load(f)
    return [(api, _retable(params, document["table"])) for api, params in document["requests"]]


def _retable(value: Any, table: str) -> Any:
    if isinstance(value, dict):
        return {
            (TABLE if k == table else k): (TABLE if k == "TableName" else _retable(v, table)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_retable(v, table) for v in value]
    return value


WORKLOADS: dict[str, Callable[[], list[tuple[str, dict[str, Any]]]]] = {
    "shaped": lambda: shaped_requests(TABLE),
    "recorded": _recorded,
}


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_every_answer_and_stream_record_equal_stock_moto(workload: str, fake_aws: Any) -> None:
    results = {}
    for name in VARIANTS:
        with variant(name):
            results[name] = run_workload(WORKLOADS[workload](), TABLE)
    stock = results[VARIANTS[0]]
    _sanity(workload, stock)
    for name in VARIANTS[1:]:
        result = results[name]
        for n, (mine, theirs) in enumerate(zip(result["answers"], stock["answers"], strict=True)):
            assert mine == theirs, f"answer {n} ({theirs[0]}) differs from stock moto under {name}"
        assert len(result["stream"]) == len(stock["stream"]), f"stream length differs under {name}"
        for n, (mine, theirs) in enumerate(zip(result["stream"], stock["stream"], strict=True)):
            assert mine == theirs, f"stream record {n} differs from stock moto under {name}"


def _sanity(workload: str, result: dict[str, Any]) -> None:
    """The workload does what it says: conditions that fail, pages, a stream."""
    errors = [a for _, a in result["answers"] if "error" in a]
    codes = {a["error"]["Error"]["Code"] for a in errors}
    apis = {api for api, _ in result["answers"]}
    assert {"TransactWriteItems", "Query", "BatchGetItem", "BatchWriteItem", "UpdateItem"} <= apis
    assert "ConditionalCheckFailedException" in codes
    assert len(result["stream"]) > 20
    if workload == "shaped":
        assert "TransactionCanceledException" in codes
        assert any(api == "Query" and "LastEvaluatedKey" in a for api, a in result["answers"]), "no second page"
