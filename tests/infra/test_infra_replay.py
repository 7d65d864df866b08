"""`make replay-failures` on AWS (issue 16.4): the failure queue's messages re-driven through the consumer.

On moto: the production table schema with its real stream, a real SQS queue
holding the messages Lambda's event source mapping writes when it gives up on
a batch, and the real `app.stream_consumer` as the deployed consumer (the one
step that is injected is the Lambda invocation itself: the event is handed to
the handler as the JSON Lambda would deliver). A story is written through the
real HTTP API, so the records replayed are the service's own: a login that
unified a visitor with history into a member, whose history only the
consumer moves.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from chalice.test import Client
from moto import mock_aws

import app
from chalicelib import bootstrap
from chalicelib.config import Settings
from chalicelib.service.clock import SystemClock
from chalicelib.store.schema import create_table
from infra import replay

REGION = "us-east-1"
TABLE = "unification-replay"
QUEUE = "unification-replay-StreamFailureQueue"


@dataclass
class Consumer:
    """The deployed stream consumer, as `lambda:InvokeFunction` reaches it: JSON in, JSON out."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, payload: bytes) -> dict[str, Any]:
        event = json.loads(payload)  # exactly what Lambda would hand the handler
        self.events.append(event)
        answer: dict[str, Any] = json.loads(json.dumps(app.stream_consumer(event, None)))
        return answer


@dataclass
class Aws:
    tables: Any
    streams: Any
    sqs: Any
    queue_url: str
    stream_arn: str
    http: Any
    credentials: Any

    def settle(self, table_name: str = TABLE) -> None:
        """The consumer's container, on this table (or another name: a broken deployment)."""
        settings = Settings(**{**Settings.from_env().__dict__, "table_name": table_name})
        bootstrap.reset(bootstrap.Container(settings, bootstrap.dynamodb_client(settings), SystemClock()))

    def records(self) -> list[dict[str, Any]]:
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found: list[dict[str, Any]] = self.streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        return found

    def give_up(self, records: list[dict[str, Any]]) -> None:
        """What the event source mapping sends its on-failure destination for a batch it gave up on."""
        sequence = [r["dynamodb"]["SequenceNumber"] for r in records]
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
        body = {
            "requestContext": {
                "requestId": "c9b8fa9f-5a7f-4f59-9a2a-7a4b2d3e1f00",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:unification-test-stream_consumer",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 6,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-12-01T10:00:00.000Z",
            "DDBStreamBatchInfo": {
                "shardId": shard["ShardId"],
                "startSequenceNumber": sequence[0],
                "endSequenceNumber": sequence[-1],
                "approximateArrivalOfFirstRecord": "2026-12-01T09:59:00Z",
                "approximateArrivalOfLastRecord": "2026-12-01T09:59:01Z",
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))

    def waiting(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def visible(self) -> int:
        return int(
            self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        )

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        sent = {"Content-Type": "application/json", **(headers or {})}
        answer = self.http.request(method, path, body=json.dumps(body) if body is not None else b"", headers=sent)
        return answer.status_code, json.loads(answer.body or b"null")

    def unification(self, unification_id: str) -> dict[str, Any]:
        status, body = self.call("GET", f"/v1/unifications/{unification_id}", headers=self.credentials.admin_headers)
        assert status == 200, body
        found: dict[str, Any] = body["unification"]
        return found

    def chats_stored_under(self, user_id: str) -> int:
        """Chats in the user's own partition (reads see a moving history under the member before: R3.3)."""
        answer = self.tables.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :chat)",
            ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":chat": {"S": "C#"}},
        )
        return int(answer["Count"])

    def snapshot(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.tables.scan(TableName=TABLE)["Items"]  # tests only
        return sorted(items, key=lambda i: (i["PK"]["S"], i["SK"]["S"]))


@pytest.fixture
def aws(fake_aws: dict[str, str], credentials: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Aws]:
    for name, value in {**credentials.service_env(), "MEMBER_HASH_SECRET": credentials.member_hash_secret}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("MOVE_IN_COMMIT_ITEMS", "0")  # the history moves on the stream these tests replay
    monkeypatch.setattr(replay, "WAIT_SECONDS", 0)  # moto's queue answers every message to a short poll
    with mock_aws():
        tables = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        found = Aws(
            tables=tables,
            streams=boto3.client(
                "dynamodbstreams", region_name=REGION, config=Config(account_id_endpoint_mode="disabled")
            ),
            sqs=sqs,
            queue_url=sqs.create_queue(QueueName=QUEUE)["QueueUrl"],
            stream_arn=create_table(tables, TABLE),
            http=Client(app.app, project_dir=str(tmp_path)).http,
            credentials=credentials,
        )
        found.settle()
        yield found
    bootstrap.reset()


@dataclass(frozen=True)
class Story:
    unification_id: str
    member_user: str
    records: list[dict[str, Any]]


def unify_a_visitor_with_history(aws: Aws) -> Story:
    """A member, a visitor who chats twice, then logs in as the member: the history waits for the consumer."""
    status, member = aws.call(
        "PUT", "/v1/members/m-taro", {"profile": {"name": "Taro Yamada"}}, aws.credentials.admin_headers
    )
    assert status in (200, 201), member
    status, booted = aws.call("POST", "/v1/boot", {"profile": {"name": "Mango135"}}, aws.credentials.plugin_headers)
    assert status == 200, booted
    session = {"Authorization": f"Bearer {booted['sessionToken']}"}
    for text in ("is this in stock?", "and in blue?"):
        status, chat = aws.call("POST", "/v1/session/chats", {"text": text}, session)
        assert status == 201, chat
    login = {"memberId": "m-taro", "memberHash": aws.credentials.member_hash("m-taro")}
    status, logged_in = aws.call("POST", "/v1/session/login", login, session)
    assert status == 200, logged_in
    unification = logged_in["unification"]
    assert aws.unification(unification["id"])["status"] == "running"  # nothing consumed the stream yet
    assert aws.chats_stored_under(member["user"]["id"]) == 0
    return Story(unification["id"], member["user"]["id"], aws.records())


def test_a_given_up_batch_is_replayed_through_the_consumer_and_its_message_deleted(aws: Aws) -> None:
    story = unify_a_visitor_with_history(aws)
    aws.give_up(story.records)
    consumer = Consumer()

    report = replay.replay(aws.sqs, aws.streams, aws.queue_url, consumer)

    assert [o.status for o in report.outcomes] == ["replayed"]
    assert report.outcomes[0].records == len(story.records) and report.outcomes[0].deleted
    assert report.ok
    assert aws.waiting() == 0
    assert aws.unification(story.unification_id)["status"] == "completed"
    assert aws.chats_stored_under(story.member_user) == 2
    [event] = consumer.events  # Lambda's event shape: the stream's ARN, epoch times
    assert {r["eventSourceARN"] for r in event["Records"]} == {aws.stream_arn}
    assert all(isinstance(r["dynamodb"]["ApproximateCreationDateTime"], int) for r in event["Records"])
    assert [r["dynamodb"]["SequenceNumber"] for r in event["Records"]] == [
        r["dynamodb"]["SequenceNumber"] for r in story.records
    ]
    assert report.lines()[-1] == "1 messages: 1 replayed"


def test_replaying_the_same_records_again_changes_nothing(aws: Aws) -> None:
    story = unify_a_visitor_with_history(aws)
    aws.give_up(story.records)
    replay.replay(aws.sqs, aws.streams, aws.queue_url, Consumer())
    after_first = aws.snapshot()

    aws.give_up(story.records)  # the same batch reported twice, or replayed by two operators
    aws.give_up(story.records)
    report = replay.replay(aws.sqs, aws.streams, aws.queue_url, Consumer())

    assert [o.status for o in report.outcomes] == ["replayed", "replayed"]
    assert aws.snapshot() == after_first
    assert aws.waiting() == 0


def test_records_that_fail_again_keep_their_message_until_a_later_run_handles_them(aws: Aws) -> None:
    story = unify_a_visitor_with_history(aws)
    aws.give_up(story.records)
    aws.settle(table_name="unification-missing")  # the consumer is still broken (here: the wrong table)

    failing = replay.replay(aws.sqs, aws.streams, aws.queue_url, Consumer())

    [outcome] = failing.outcomes
    assert outcome.status == "failing" and not outcome.deleted
    assert not failing.ok
    assert aws.visible() == 1  # visible again at once: the alarm stays on, the next run sees it
    aws.settle()  # fixed and redeployed
    assert aws.unification(story.unification_id)["status"] == "running"

    fixed = replay.replay(aws.sqs, aws.streams, aws.queue_url, Consumer())

    assert [o.status for o in fixed.outcomes] == ["replayed"]
    assert aws.waiting() == 0
    assert aws.unification(story.unification_id)["status"] == "completed"


@dataclass
class Retention:
    """The table's stream, with records before `oldest` trimmed as DynamoDB does after 24 hours."""

    streams: Any
    oldest: int

    def get_shard_iterator(self, **kwargs: Any) -> Any:
        if kwargs.get("ShardIteratorType") == "AT_SEQUENCE_NUMBER" and int(kwargs["SequenceNumber"]) < self.oldest:
            error = {"Error": {"Code": "TrimmedDataAccessException", "Message": "records trimmed"}}
            raise ClientError(error, "GetShardIterator")  # type: ignore[arg-type]
        return self.streams.get_shard_iterator(**kwargs)

    def get_records(self, **kwargs: Any) -> Any:
        return self.streams.get_records(**kwargs)


def test_records_past_the_streams_retention_are_reported_lost_with_their_range(aws: Aws) -> None:
    story = unify_a_visitor_with_history(aws)
    old, recent = story.records[:2], story.records[2:]
    aws.give_up(old)
    aws.give_up(recent)
    stream = Retention(aws.streams, oldest=int(recent[0]["dynamodb"]["SequenceNumber"]))
    consumer = Consumer()

    report = replay.replay(aws.sqs, stream, aws.queue_url, consumer)

    lost, replayed = sorted(report.outcomes, key=lambda o: o.status)
    assert (lost.status, replayed.status) == ("lost", "replayed")
    first, last = old[0]["dynamodb"]["SequenceNumber"], old[-1]["dynamodb"]["SequenceNumber"]
    assert f"{first}..{last}" in lost.detail and "24 h" in lost.detail
    assert not lost.deleted and aws.visible() == 1
    assert sum(len(e["Records"]) for e in consumer.events) == len(recent)  # nothing invented for the lost range

    forgotten = replay.replay(aws.sqs, stream, aws.queue_url, consumer, forget_lost=True)
    assert [(o.status, o.deleted) for o in forgotten.outcomes] == [("lost", True)]
    assert aws.waiting() == 0


def test_long_ranges_are_handed_over_in_order_in_events_the_size_of_the_mappings_batches(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = unify_a_visitor_with_history(aws)
    aws.give_up(story.records)
    monkeypatch.setattr(replay, "EVENT_SIZE", 3)
    consumer = Consumer()

    report = replay.replay(aws.sqs, aws.streams, aws.queue_url, consumer)

    assert [o.status for o in report.outcomes] == ["replayed"]
    assert [len(e["Records"]) for e in consumer.events][:-1] == [3] * (len(consumer.events) - 1)
    handed = [r["dynamodb"]["SequenceNumber"] for e in consumer.events for r in e["Records"]]
    assert handed == [r["dynamodb"]["SequenceNumber"] for r in story.records]
    assert aws.unification(story.unification_id)["status"] == "completed"


def test_a_dry_run_reads_and_reports_but_invokes_and_deletes_nothing(aws: Aws) -> None:
    story = unify_a_visitor_with_history(aws)
    aws.give_up(story.records)
    consumer = Consumer()

    report = replay.replay(aws.sqs, aws.streams, aws.queue_url, consumer, dry_run=True)

    assert [(o.status, o.records, o.deleted) for o in report.outcomes] == [("would-replay", len(story.records), False)]
    assert consumer.events == []
    assert aws.visible() == 1
    assert aws.unification(story.unification_id)["status"] == "running"


def test_a_message_that_is_no_failure_record_is_kept_and_reported(aws: Aws) -> None:
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody='{"hello": "world"}')

    report = replay.replay(aws.sqs, aws.streams, aws.queue_url, Consumer())

    assert [o.status for o in report.outcomes] == ["unreadable"]
    assert not report.ok and aws.visible() == 1


def test_the_command_finds_the_queue_and_consumer_from_the_stacks_outputs(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stack = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "StreamFailureQueueUrl": {"Value": aws.queue_url},
            "StreamConsumerName": {"Value": "unification-test-stream_consumer"},
        },
    }
    cloudformation.create_stack(StackName="unification-test", TemplateBody=json.dumps(stack))

    assert replay.main(["--stage", "test", "--region", REGION]) == 0
    assert capsys.readouterr().out.strip() == "0 messages: the failure queue is empty"

    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="not json")
    assert replay.main(["--stage", "test", "--region", REGION]) == 1
    assert "unreadable" in capsys.readouterr().out


def test_the_lambda_invoker_reads_the_consumers_answer_or_its_crash() -> None:
    client = boto3.client("lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    invoke = replay.lambda_invoker(client, "unification-test-stream_consumer")
    answer = json.dumps({"batchItemFailures": [{"itemIdentifier": "42"}]}).encode()
    crash = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": "details stay in the log"}).encode()
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(answer), len(answer))})
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": StreamingBody(io.BytesIO(crash), len(crash))},
        )
        assert invoke(b'{"Records": []}') == {"batchItemFailures": [{"itemIdentifier": "42"}]}
        with pytest.raises(replay.ConsumerFailed, match=r"Runtime\.ExitError") as failed:
            invoke(b'{"Records": []}')
    assert "details stay in the log" not in str(failed.value)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], "-m chalicelib.local.replay"),
        (["STAGE=local"], "-m chalicelib.local.replay"),
        (
            ["STAGE=prod", "REGION=ap-northeast-1", "REPLAY_ARGS=--dry-run"],
            "-m infra.replay --stage prod --stack unification-prod --region ap-northeast-1 --dry-run",
        ),
    ],
)
def test_make_replay_failures_runs_the_local_twin_or_the_aws_replay(arguments: list[str], expected: str) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in {"STAGE", "REGION", "AWS_REGION", "AWS_DEFAULT_REGION"}}
    result = subprocess.run(
        ["make", "-n", "-s", "replay-failures", *arguments], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(expected)
