"""The local stack as a user starts it (`make run`), and a small HTTP driver for the guide's
manual-unification stories (issue 3). Standard library only, like any client of the API."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "e2e-manual-access-key"
ACCESS_SECRET = "e2e-manual-access-secret"
PLUGIN_KEY = "e2e-manual-plugin-key"
MEMBER_HASH_SECRET = "e2e-manual-member-secret"
SESSION_TIMEOUT_SECONDS = 30
SCHEDULE_INTERVAL_SECONDS = 1
START_TIMEOUT_SECONDS = 90

# Variables from the machine that must not leak into the stack under test.
NOT_INHERITED = (
    "DYNAMODB_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "TABLE_NAME",
    "DEFAULT_PHONE_REGION",
    "CONTACT_BLOCKLIST",
    "MAX_CONTACT_MATCHES",
    "SECRETS_SSM_PATH",
)

T = TypeVar("T")


def uniq(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def jp_mobile(prefix: str = "90") -> tuple[str, str]:
    """A fresh Japanese mobile number: (national `090-xxxx-xxxx`, E.164)."""
    first = secrets.choice("23456789")
    rest = f"{secrets.randbelow(10**7):07d}"
    subscriber = first + rest
    return f"0{prefix}-{subscriber[:4]}-{subscriber[4:]}", f"+81{prefix}{subscriber}"


def member_hash(member_id: str) -> str:
    """R5.4: hex HMAC-SHA256(secret, memberId)."""
    return hmac.new(MEMBER_HASH_SECRET.encode(), member_id.encode(), hashlib.sha256).hexdigest()


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, step: float = 0.02) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class StackApi:
    """The HTTP contract over real sockets."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        sent = {"Accept": "application/json", **(headers or {})}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Reply(status, parsed)

    def expect(self, reply: Reply, status: int | tuple[int, ...], what: str) -> Any:
        wanted = (status,) if isinstance(status, int) else status
        assert reply.status in wanted, f"{what}: expected {wanted}, got {reply.status}: {reply.body}"
        return reply.body

    # Open API (a manager) ------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        headers = {"X-Access-Key": ACCESS_KEY, "X-Access-Secret": ACCESS_SECRET}
        return self.call(method, path, body, headers=headers, **kwargs)

    def put_member(self, member_id: str, profile: dict[str, Any]) -> dict[str, Any]:
        reply = self.admin("PUT", f"/v1/members/{urllib.parse.quote(member_id, safe='')}", {"profile": profile})
        user: dict[str, Any] = self.expect(reply, (200, 201), "upsert member")["user"]
        return user

    def user(self, user_id: str, resolve: bool = True) -> dict[str, Any]:
        query = "" if resolve else "?resolve=false"
        found: dict[str, Any] = self.expect(self.admin("GET", f"/v1/users/{user_id}{query}"), 200, "get user")
        return found

    def edit(self, user_id: str, profile: dict[str, Any]) -> dict[str, Any]:
        edited: dict[str, Any] = self.expect(
            self.admin("PATCH", f"/v1/users/{user_id}", {"profile": profile}), 200, "manager edit"
        )
        return edited

    def unification(self, unification_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.expect(
            self.admin("GET", f"/v1/unifications/{unification_id}"), 200, "get unification"
        )["unification"]
        return found

    def unifications_of(self, user_id: str) -> list[dict[str, Any]]:
        body = self.expect(self.admin("GET", f"/v1/unifications?userId={user_id}&limit=1000"), 200, "list")
        assert body["nextCursor"] is None
        found: list[dict[str, Any]] = body["unifications"]
        return found

    def approve(self, unification_id: str) -> dict[str, Any]:
        approved: dict[str, Any] = self.expect(
            self.admin("POST", f"/v1/unifications/{unification_id}/approve"), 200, "approve"
        )["unification"]
        return approved

    def chats_of(self, user_id: str) -> list[dict[str, Any]]:
        body = self.expect(self.admin("GET", f"/v1/users/{user_id}/chats?limit=1000"), 200, "chats")
        chats: list[dict[str, Any]] = body["chats"]
        return chats

    def messenger(self, channel: str, external_id: str, text: str, profile: dict[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"externalId": external_id, "text": text}
        if profile is not None:
            body["profile"] = profile
        return self.expect(self.admin("POST", f"/v1/messengers/{channel}/messages", body), 201, f"{channel} message")

    def import_csv(self, data: bytes, content_type: str = "text/csv") -> dict[str, Any]:
        reply = self.admin("POST", "/v1/imports", raw=data, content_type=content_type)
        result: dict[str, Any] = self.expect(reply, 200, "CSV import")["import"]
        return result

    # the web SDK (a visitor) ---------------------------------------------------------

    def boot(
        self, veil_id: str | None = None, member_id: str | None = None, profile: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if veil_id:
            body["veilId"] = veil_id
        if member_id:
            body["memberId"] = member_id
            body["memberHash"] = member_hash(member_id)
        if profile:
            body["profile"] = profile
        booted: dict[str, Any] = self.expect(
            self.call("POST", "/v1/boot", body, headers={"X-Plugin-Key": PLUGIN_KEY}), 200, "boot"
        )
        return booted

    def session(self, token: str, method: str, path: str, body: Any = None) -> Reply:
        return self.call(method, path, body, headers={"Authorization": f"Bearer {token}"})


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    api: StackApi
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def start_stack(log_path: Path) -> Stack:
    """Start the local stack as `make run` does and wait until it answers GET /v1/health."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        PORT=str(port),
        ACCESS_KEY=ACCESS_KEY,
        ACCESS_SECRET=ACCESS_SECRET,
        PLUGIN_KEY=PLUGIN_KEY,
        MEMBER_HASH_SECRET=MEMBER_HASH_SECRET,
        SESSION_TIMEOUT_SECONDS=str(SESSION_TIMEOUT_SECONDS),
        SCHEDULE_INTERVAL_SECONDS=str(SCHEDULE_INTERVAL_SECONDS),
        PYTHONUNBUFFERED="1",
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [python(), "-m", "chalicelib.local"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    stack = Stack(process, StackApi(f"http://127.0.0.1:{port}"), log_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited with {process.returncode}:\n{stack.log_tail()}")
        with contextlib.suppress(OSError):
            if stack.api.call("GET", "/v1/health").status == 200:
                return stack
        time.sleep(0.2)
    stop_stack(stack)
    raise RuntimeError(f"the local stack never answered /v1/health:\n{stack.log_tail()}")


def stop_stack(stack: Stack) -> None:
    """End the stack's whole process group (it was started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(stack.process.pid, signal.SIGTERM)
    try:
        stack.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stack.process.pid, signal.SIGKILL)
        stack.process.wait(timeout=15)
