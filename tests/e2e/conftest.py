"""The local stack started as a user starts it (`make run` runs `python -m chalicelib.local`),
on a free port, with short session and schedule intervals; stopped with its process group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Credentials

REPO = Path(__file__).resolve().parents[2]
SESSION_TIMEOUT = 3
SCHEDULE_INTERVAL = 1
START_TIMEOUT = 90


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class Http:
    """The contract over real HTTP, stdlib only, as any client speaks it."""

    def __init__(self, base: str, credentials: Credentials) -> None:
        self.base = base
        self.credentials = credentials

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        sent = {"Accept": "application/json", **({"Content-Type": "application/json"} if data else {})}
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={**sent, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return Reply(status, parsed)

    def admin(self, method: str, path: str, body: Any = None) -> Reply:
        return self.call(method, path, body, self.credentials.admin_headers)

    def sdk(self, token: str, method: str, path: str, body: Any = None) -> Reply:
        return self.call(method, path, body, {"Authorization": f"Bearer {token}"})

    def boot(self, body: dict[str, Any]) -> Reply:
        return self.call("POST", "/v1/boot", body, self.credentials.plugin_headers)


@dataclass
class LocalStack:
    process: subprocess.Popen[bytes]
    log: Path
    http: Http

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory, credentials: Credentials) -> Iterator[LocalStack]:
    python = REPO / ".venv" / "bin" / "python"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DYNAMODB_ENDPOINT_URL", "MEMBER_HASH_SECRET")}
    env.update(credentials.service_env())
    env.update(
        {
            "PORT": str(port),
            "SESSION_TIMEOUT_SECONDS": str(SESSION_TIMEOUT),
            "SCHEDULE_INTERVAL_SECONDS": str(SCHEDULE_INTERVAL),
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = tmp_path_factory.mktemp("local-stack") / "stack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(python if python.exists() else sys.executable), "-m", "chalicelib.local"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    stack = LocalStack(process, log, Http(f"http://127.0.0.1:{port}", credentials))
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the local stack exited with {process.returncode}:\n{stack.output()}")
            try:
                if stack.http.call("GET", "/v1/health").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer on /v1/health within {START_TIMEOUT}s:\n{stack.output()}")
            time.sleep(0.2)
        yield stack
    finally:
        stop(process)
