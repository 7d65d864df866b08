"""Issue 16.5: whatever the table does, a request answers within 20 s (API.md: `503
unavailable` with `Retry-After`, or success), and nothing is half-written.

The throttling is injected into the service's real botocore client on moto's
server: a `before-send` hook answers DynamoDB's own throttling responses (HTTP
400, `ProvisionedThroughputExceededException`; a transaction cancelled for
`ThrottlingError`), which botocore parses, retries and raises as it would on AWS.
"""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.awsrequest import AWSResponse
from integration.support import Reply, ok

from chalicelib import budget

from .conftest import Service

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


class Throttle:
    """DynamoDB throttling, on while `operations` is set (None: every operation)."""

    def __init__(self, client: Any) -> None:
        self.on = False
        self.operations: set[str] | None = None
        self.answered = 0
        client.meta.events.register("before-send.dynamodb", self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        operation = str(request.headers.get("X-Amz-Target", b"")).split(".")[-1].strip("'")
        if not self.on or (self.operations is not None and operation not in self.operations):
            return None
        self.answered += 1
        if operation == "TransactWriteItems":
            body = {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                "CancellationReasons": [{"Code": "ThrottlingError", "Message": "Throughput exceeds the limit"}],
            }
        else:
            body = {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded.",
            }
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "throttled"}
        return AWSResponse(request.url, 400, headers, _Body(json.dumps(body).encode()))


def timed(call: Any) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = call()
    return reply, time.monotonic() - started


def busy_in_time(reply: Reply, seconds: float) -> None:
    assert reply.status == 503 and reply.code == "unavailable", reply
    assert seconds < budget.REQUEST_SECONDS, f"answered after {seconds:.1f} s"


def test_a_throttled_table_answers_503_with_retry_after_within_the_budget_and_writes_nothing(
    service: Service,
) -> None:
    api, throttle = service.api, Throttle(service.container.client)
    member = api.put_member("m-busy", {"name": "Busy Member"})
    boot = ok(api.call("POST", "/v1/boot", {}, api.credentials.plugin_headers))
    token = boot["sessionToken"]
    bearer = {"Authorization": f"Bearer {token}"}
    ok(api.call("POST", "/v1/session/chats", {"text": "hello"}, bearer), 201)
    before = service.items()

    throttle.on, throttle.operations = True, WRITES
    calls = {
        # a transaction: re-planned by the retry loop until the budget has no room for another
        "login": lambda: api.call("POST", "/v1/session/login", {"memberId": "m-busy"}, bearer),
        "member edit": lambda: api.admin("PUT", "/v1/members/m-busy", {"profile": {"name": "Edited"}}),
        # single writes: botocore's own 3 attempts, then the throttling error
        "event": lambda: api.admin("POST", f"/v1/users/{member['id']}/events", {"name": "PageView"}),
        "lead": lambda: api.admin("POST", "/v1/users", {"profile": {"name": "New Lead"}}),
    }
    for what, call in calls.items():
        reply, seconds = timed(call)
        busy_in_time(reply, seconds)
        assert what and reply.body["error"]["code"] == "unavailable"
    assert service.items() == before, "a refused request wrote something"

    throttle.operations = None  # reads too
    reply, seconds = timed(lambda: api.admin("GET", f"/v1/users/{member['id']}"))
    busy_in_time(reply, seconds)
    assert throttle.answered > len(calls)

    throttle.on = False  # the same requests succeed once the table has room again
    login = ok(api.call("POST", "/v1/session/login", {"memberId": "m-busy"}, bearer))
    assert login["user"]["id"] == member["id"] and login["unification"]["trigger"] == "login"


def test_the_retry_after_header_comes_with_every_busy_answer(service: Service) -> None:
    throttle = Throttle(service.container.client)
    throttle.on = True
    response = service.api.client.http.request(
        "GET", "/v1/members/m-any", headers=service.api.credentials.admin_headers, body=b""
    )
    assert response.status_code == 503
    assert response.headers.get("Retry-After") == "2"
    assert json.loads(response.body)["error"]["code"] == "unavailable"
