"""Re-drive the stream records the consumer gave up on, through the deployed consumer (issue 16.4).

    make replay-failures STAGE=prod REGION=ap-northeast-1 [REPLAY_ARGS=--dry-run]
    python -m infra.replay --stage prod --region ap-northeast-1 [--stack NAME] [--dry-run] [--forget-lost]

When the stream's event source mapping gives up on a batch (5 retries, or
records older than 6 h), it sends one message to `StreamFailureQueue` naming
the shard and the sequence-number range, not the records. For each message
this tool:

1. reads the range back from the table's stream (`GetShardIterator`
   AT_SEQUENCE_NUMBER, then `GetRecords` until the range's last record);
2. invokes the deployed `stream_consumer` with the event Lambda would have
   given it (at most 100 records an event, in order) and reads its
   `batchItemFailures`;
3. deletes the message only when every record was handled. A message whose
   records failed again stays in the queue (visible again at once), and so
   does one whose records are past the stream's 24 h retention: those are
   reported as lost, with their range (`--forget-lost` deletes them once
   reported; the scheduled sweeps re-drive running unifications anyway).

Every consumer is idempotent (DESIGN.md), so replaying a record that was in
fact handled, or replaying twice, changes nothing. The report names shards,
sequence numbers and counts, never a record's content.

Exit status: 0 when every message was replayed (or the queue was empty), 1
when some are still failing, lost or unreadable.

The steps take their AWS clients and the `invoke` function as arguments, so
a test runs them on moto with the real `app.stream_consumer` as the consumer.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

EVENT_SIZE = 100  # records per consumer invocation: the mapping's BatchSize
VISIBILITY_SECONDS = 900  # a message is hidden this long while its records are replayed
MAX_MESSAGES = 10_000  # a bound on one run
WAIT_SECONDS = 1  # long polling: an empty answer means empty (a short poll may miss messages)
EMPTY_PAGES = 5  # GetRecords may answer empty before the range's records: this many in a row ends the read
LOST_ERRORS = {"TrimmedDataAccessException", "ExpiredIteratorException", "ResourceNotFoundException"}

Invoke = Callable[[bytes], dict[str, Any]]  # the event as JSON → the consumer's answer


class ConsumerFailed(Exception):
    """The consumer raised or timed out (Lambda's FunctionError), rather than reporting failed items."""


@dataclass(frozen=True)
class Pointer:
    """What a failure message says: where the batch's records are in the stream."""

    stream_arn: str
    shard_id: str
    start: str
    end: str
    size: int
    first_arrival: str
    condition: str

    @property
    def range(self) -> str:
        return f"{self.shard_id} {self.start}..{self.end}"


@dataclass
class Outcome:
    message_id: str
    status: str  # replayed | failing | lost | incomplete | unreadable | would-replay
    detail: str
    records: int = 0
    deleted: bool = False


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return all(o.status in {"replayed", "would-replay"} for o in self.outcomes)

    def lines(self) -> list[str]:
        lines = [
            f"{o.status:<12} {o.detail} ({o.records} records){'; message deleted' if o.deleted else ''}"
            for o in self.outcomes
        ]
        statuses = sorted({o.status for o in self.outcomes})
        summary = ", ".join(f"{self.count(s)} {s}" for s in statuses) or "the failure queue is empty"
        return [*lines, f"{len(self.outcomes)} messages: {summary}"]


def parse_pointer(body: str) -> Pointer | None:
    """A Lambda on-failure record for a DynamoDB stream batch, or None for anything else."""
    try:
        message = json.loads(body)
        info = message["DDBStreamBatchInfo"]
        return Pointer(
            stream_arn=str(info["streamArn"]),
            shard_id=str(info["shardId"]),
            start=str(info["startSequenceNumber"]),
            end=str(info["endSequenceNumber"]),
            size=int(info.get("batchSize", 0)),
            first_arrival=str(info.get("approximateArrivalOfFirstRecord", "")),
            condition=str(message.get("requestContext", {}).get("condition", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


# reading the stream ------------------------------------------------------------------------


@dataclass
class Range:
    records: list[dict[str, Any]]
    complete: bool  # the range's last record was read
    lost: str | None = None  # why none could be read (past retention, shard gone)


def read_range(streams: Any, pointer: Pointer, page: int = 1000) -> Range:
    """The records of [start, end] in their shard, oldest first."""
    try:
        return _read(streams, pointer, page)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in LOST_ERRORS:
            return Range([], complete=False, lost=f"{code}: past the stream's 24 h retention, or the shard is gone")
        raise


def _read(streams: Any, pointer: Pointer, page: int) -> Range:
    iterator = streams.get_shard_iterator(
        StreamArn=pointer.stream_arn,
        ShardId=pointer.shard_id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=pointer.start,
    )["ShardIterator"]
    start, end = int(pointer.start), int(pointer.end)
    found: list[dict[str, Any]] = []
    empty = 0
    while iterator and empty < EMPTY_PAGES:
        answer = streams.get_records(ShardIterator=iterator, Limit=page)
        records = answer.get("Records", [])
        empty = 0 if records else empty + 1
        for record in records:
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence > end:
                return Range(found, complete=True)
            if sequence >= start:
                found.append(record)
            if sequence == end:
                return Range(found, complete=True)
        iterator = answer.get("NextShardIterator")
    return Range(found, complete=False)


def _json_ready(value: Any) -> Any:
    """GetRecords' answer as Lambda's JSON event has it: binary as base64, times as epoch seconds."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def lambda_event(records: list[dict[str, Any]], stream_arn: str) -> bytes:
    """The event the mapping would have sent (Lambda's DynamoDB Streams event, JSON)."""
    shaped = [{**_json_ready(r), "eventSourceARN": stream_arn} for r in records]
    return json.dumps({"Records": shaped}).encode()


# invoking the consumer ---------------------------------------------------------------------


def lambda_invoker(client: Any, function_name: str) -> Invoke:
    """Invoke the deployed consumer synchronously; its answer, or ConsumerFailed."""

    def invoke(payload: bytes) -> dict[str, Any]:
        answer = client.invoke(FunctionName=function_name, InvocationType="RequestResponse", Payload=payload)
        body = answer["Payload"].read()
        if answer.get("FunctionError"):
            error_type = json.loads(body or b"{}").get("errorType", "error") if body else "error"
            request = answer.get("ResponseMetadata", {}).get("RequestId", "?")
            raise ConsumerFailed(f"{error_type} (request {request}; see the consumer's log)")
        result: dict[str, Any] = json.loads(body or b"{}") or {}
        return result

    return invoke


def replay_records(records: list[dict[str, Any]], stream_arn: str, invoke: Invoke) -> str | None:
    """Hand the records to the consumer in events of EVENT_SIZE; the first failed sequence number, if any."""
    for offset in range(0, len(records), EVENT_SIZE):
        chunk = records[offset : offset + EVENT_SIZE]
        answer = invoke(lambda_event(chunk, stream_arn))
        failures = [str(f["itemIdentifier"]) for f in answer.get("batchItemFailures", [])]
        if failures:
            return min(failures, key=int)
    return None


# the queue ---------------------------------------------------------------------------------


def receive_all(sqs: Any, queue_url: str, limit: int = MAX_MESSAGES) -> Iterator[dict[str, Any]]:
    """Every message visible now, each hidden from other readers while this run holds it."""
    seen = 0
    while seen < limit:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=VISIBILITY_SECONDS,
            WaitTimeSeconds=WAIT_SECONDS,
        )
        messages = answer.get("Messages", [])
        if not messages:
            return
        for message in messages:
            seen += 1
            yield message


def replay(
    sqs: Any,
    streams: Any,
    queue_url: str,
    invoke: Invoke,
    *,
    dry_run: bool = False,
    forget_lost: bool = False,
) -> Report:
    """Replay every message in the failure queue; see the module's docstring."""
    report = Report()
    kept: list[str] = []
    for message in receive_all(sqs, queue_url):
        outcome = replay_one(message, streams, invoke, dry_run=dry_run)
        forget = forget_lost and outcome.status == "lost"
        if (outcome.status == "replayed" or forget) and not dry_run:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            outcome.deleted = True
        else:
            kept.append(message["ReceiptHandle"])
        report.outcomes.append(outcome)
    for receipt in kept:  # visible again now: the alarm stays on, the next run sees them
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return report


def replay_one(message: dict[str, Any], streams: Any, invoke: Invoke, dry_run: bool = False) -> Outcome:
    message_id = str(message.get("MessageId", "?"))
    pointer = parse_pointer(str(message.get("Body", "")))
    if pointer is None:
        return Outcome(message_id, "unreadable", f"message {message_id} is not a stream batch's failure record")
    read = read_range(streams, pointer)
    if read.lost is not None:
        return Outcome(message_id, "lost", f"{pointer.range} (first arrived {pointer.first_arrival}): {read.lost}")
    if dry_run:
        return Outcome(message_id, "would-replay", pointer.range, len(read.records))
    try:
        failed = replay_records(read.records, pointer.stream_arn, invoke)
    except ConsumerFailed as error:
        return Outcome(message_id, "failing", f"{pointer.range}: the consumer failed: {error}", len(read.records))
    if failed is not None:
        detail = f"{pointer.range}: the consumer reported {failed} and later records failed again"
        return Outcome(message_id, "failing", detail, len(read.records))
    if not read.complete:
        last = read.records[-1]["dynamodb"]["SequenceNumber"] if read.records else "none"
        detail = f"{pointer.range}: replayed up to {last}; the rest of the range was not found in the stream"
        return Outcome(message_id, "incomplete", detail, len(read.records))
    return Outcome(message_id, "replayed", pointer.range, len(read.records))


# the command -------------------------------------------------------------------------------


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay the stream failure queue through the deployed consumer.")
    parser.add_argument("--stage", required=True)
    parser.add_argument("--region", default=None)
    parser.add_argument("--stack", default=None, help="default: unification-<stage>")
    parser.add_argument("--dry-run", action="store_true", help="read the records and report; invoke and delete nothing")
    parser.add_argument(
        "--forget-lost", action="store_true", help="delete messages whose records are lost, once reported"
    )
    args = parser.parse_args(argv)

    import boto3
    from botocore.config import Config

    session = boto3.Session(region_name=args.region)
    outputs = stack_outputs(session.client("cloudformation"), args.stack or f"unification-{args.stage}")
    # One attempt, a long wait: the consumer may take its whole 120 s, and a retried
    # invocation would only replay the same idempotent records twice.
    patient = Config(read_timeout=300, retries={"max_attempts": 1, "mode": "standard"})
    report = replay(
        session.client("sqs"),
        session.client("dynamodbstreams"),
        outputs["StreamFailureQueueUrl"],
        lambda_invoker(session.client("lambda", config=patient), outputs["StreamConsumerName"]),
        dry_run=args.dry_run,
        forget_lost=args.forget_lost,
    )
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
