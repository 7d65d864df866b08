"""Schemathesis against the local stack: every operation of /v1/openapi.json, no 5xx,
every answer (status, content type, body) as the document says.

The stack is started the way `make run` starts it. The cases are collected from
`openapi.document()` before the stack runs (one test per operation); a test holds
the document the stack serves equal to it. Runs are bounded and derandomized: the
same cases each time. Generated ids rarely name anything, so every other case is
pointed at records made up front (a member, a lead, chats, a pending unification):
success paths get exercised, not only 404s.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.api import openapi

from .conftest import TALLY

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 20  # fuzzing cases per operation; the examples and coverage phases add their own few
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ACCESS = {"X-Access-Key": "contract-access-key", "X-Access-Secret": "contract-access-secret"}
PLUGIN = {"X-Plugin-Key": "contract-plugin-key"}
# Never a real account, never another DynamoDB: the stack embeds its own.
CLEARED = (
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "DYNAMODB_ENDPOINT_URL",
    "SECRETS_SSM_PATH",
    "TABLE_NAME",
    "MEMBER_HASH_SECRET",  # logins without memberHash: generated ones get past R5.4
)


@dataclass
class Stack:
    url: str
    log: Path
    started: float = field(default_factory=time.monotonic)
    cases: Counter[str] = field(default_factory=Counter)
    statuses: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
    """The whole process group `start_new_session` made, politely first."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the local stack exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"the local stack did not answer /v1/health within {timeout:.0f}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`make run` on a free port, in its own process group, killed with it."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name not in CLEARED}
    env.update(
        PORT=str(port),
        ACCESS_KEY=ACCESS["X-Access-Key"],
        ACCESS_SECRET=ACCESS["X-Access-Secret"],
        PLUGIN_KEY=PLUGIN["X-Plugin-Key"],
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path_factory.mktemp("contract") / "stack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    request.addfinalizer(lambda: stop(process))
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process, log)
    running = Stack(url=url, log=log)
    yield running
    report(running)


def report(stack: Stack) -> None:
    """Cases per operation and the statuses they got, for the session's summary."""
    TALLY.append(
        f"{stack.cases.total()} cases over {len(stack.cases)} operations "
        f"in {time.monotonic() - stack.started:.1f}s (stack log: {stack.log})"
    )
    for label, count in sorted(stack.cases.items()):
        statuses = " ".join(f"{status}×{n}" for status, n in sorted(stack.statuses[label].items()))
        TALLY.append(f"  {count:4d}  {label:50s} {statuses}")


@pytest.fixture(scope="module")
def headers(stack: Stack) -> dict[str, str]:
    """Every credential a route may ask for; the bearer token of a real session."""
    booted = requests.post(f"{stack.url}/v1/boot", json={}, headers=PLUGIN, timeout=10)
    assert booted.status_code == 200, booted.text
    return {**ACCESS, **PLUGIN, "Authorization": f"Bearer {booted.json()['sessionToken']}"}


def ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), f"{response.request.method} {response.url}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def known(stack: Stack, headers: dict[str, str]) -> dict[str, list[str]]:
    """Real ids for path parameters and id-carrying bodies."""

    def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return ok(requests.request(method, f"{stack.url}{path}", json=body, headers=headers, timeout=30))

    member = call("PUT", "/v1/members/contract-member", {"profile": {"name": "Contract Member"}})["user"]
    other = call("PUT", "/v1/members/contract-other", {"profile": {"email": "other@example.com"}})["user"]
    leads = [call("POST", "/v1/users", {"profile": {"name": f"Lead {n}"}})["user"] for n in range(3)]
    proposed = [
        call("POST", "/v1/unifications", {"sourceUserId": lead["id"], "targetUserId": member["id"]})["unification"]
        for lead in leads[:2]
    ]
    line = call("POST", "/v1/messengers/line/messages", {"externalId": "contract-line", "text": "hello"})
    session_chat = call("POST", "/v1/session/chats", {"text": "hello"})["chat"]
    return {
        "memberId": ["contract-member", "contract-other"],
        "userId": [leads[2]["id"], member["id"], other["id"], line["user"]["id"], leads[0]["id"]],
        "chatId": [line["chat"]["id"]],
        "sessionChatId": [session_chat["id"]],
        "unificationId": [u["id"] for u in proposed],
        "sourceUserId": [lead["id"] for lead in leads],
        "targetUserId": [member["id"], other["id"]],
    }


def point_at_known(case: schemathesis.Case, n: int, known: dict[str, list[str]]) -> None:
    """Every other case: path ids (and the ids of a unification proposal) name real records."""
    if n % 2:
        return
    for name in case.path_parameters or {}:
        key = "sessionChatId" if name == "chatId" and case.path.startswith("/v1/session/") else name
        if key in known:
            case.path_parameters[name] = known[key][n // 2 % len(known[key])]
    if isinstance(case.body, dict):
        for name in ("sourceUserId", "targetUserId"):
            if isinstance(case.body.get(name), str):
                case.body[name] = known[name][n // 2 % len(known[name])]


def test_the_served_document_is_the_one_tested(stack: Stack) -> None:
    served = requests.get(f"{stack.url}/v1/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"].startswith("application/json")
    assert served.json() == json.loads(json.dumps(DOCUMENT))


# Collected before any server runs (one test per operation), so built from the same
# `document()` the service serves; the test above holds the two equal.
DOCUMENT = openapi.document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.update(request_timeout=30)
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
# Undocumented methods are sent too (expecting 4xx), but not TRACE: Chalice's local server
# (http.server) answers it 501 itself, a method API Gateway never hands to the app.
schema.config.phases.coverage.unexpected_methods = {"get", "put", "post", "delete", "patch", "options"}


@schema.parametrize()
def test_contract(case: schemathesis.Case, stack: Stack, headers: dict[str, str], known: dict[str, list[str]]) -> None:
    label = case.operation.label
    point_at_known(case, stack.cases[label], known)
    stack.cases[label] += 1
    response = case.call(base_url=stack.url, headers=headers)
    method = "" if case.method.upper() == case.operation.method.upper() else f"{case.method.upper()}:"
    stack.statuses[label][f"{method}{response.status_code}"] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)
