"""Browser tests: Debian's Chromium, headless, driven by Playwright for Python, against
the local stack started as `make run` starts it (`python -m chalicelib.local`), with
the demo shop on its own port: the page's origin is not the API's.

One browser and one stack per module; each test gets a fresh browser context (its
own storage: a new device). Playwright's launch gives the browser a fresh, temporary
user-data dir. Where Chromium is missing the tests skip, or fail with CI=true.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

if TYPE_CHECKING:
    from conftest import Credentials

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium dials out at start, and this
# closed network refuses its connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SESSION_TIMEOUT = 4  # seconds: short, so a test can outwait a session (R4.1)
START_TIMEOUT = 90


def chromium_path() -> str | None:
    found = shutil.which(CHROMIUM)
    return found if found and os.access(found, os.X_OK) else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        message = f"no Chromium at {CHROMIUM}: `sh tests/browser/ensure_chromium.sh` installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


# the local stack -------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class OpenApi:
    """What the service says, asked over HTTP with the access keys the stack was started with."""

    def __init__(self, base: str, credentials: Credentials) -> None:
        self.base = base
        self.credentials = credentials

    def call(self, method: str, path: str, body: Any = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", **self.credentials.admin_headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return Reply(status, json.loads(raw) if raw else None)

    def get(self, path: str) -> Any:
        reply = self.call("GET", path)
        assert reply.status == 200, reply
        return reply.body

    def user(self, user_id: str) -> dict[str, Any]:
        user: dict[str, Any] = self.get(f"/v1/users/{user_id}")["user"]
        return user

    def chats(self, user_id: str) -> list[dict[str, Any]]:
        chats: list[dict[str, Any]] = self.get(f"/v1/users/{user_id}/chats")["chats"]
        return chats

    def events(self, user_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.get(f"/v1/users/{user_id}/events")["events"]
        return events


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    log: Path
    api: str  # the API's origin, where the SDK is loaded from
    demo: str  # the demo shop's origin: another port, so another origin
    open_api: OpenApi

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


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, credentials: Credentials) -> Iterator[Stack]:
    python = REPO / ".venv" / "bin" / "python"
    port, demo_port = free_port(), free_port()
    demo = f"http://127.0.0.1:{demo_port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DYNAMODB_ENDPOINT_URL",)}
    env.update(credentials.service_env())
    env.update(
        {
            "PORT": str(port),
            "DEMO_PORT": str(demo_port),
            "MEMBER_HASH_SECRET": credentials.member_hash_secret,
            "ALLOWED_ORIGINS": demo,  # the demo page's exact origin, nothing else
            "SESSION_TIMEOUT_SECONDS": str(SESSION_TIMEOUT),
            "SCHEDULE_INTERVAL_SECONDS": "1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = tmp_path_factory.mktemp("browser-stack") / "stack.log"
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
    api = f"http://127.0.0.1:{port}"
    running = Stack(process, log, api, demo, OpenApi(api, credentials))
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (answers(api + "/v1/health") and answers(demo + "/demo-config.json")):
            if process.poll() is not None:
                pytest.fail(f"the local stack exited with {process.returncode}:\n{running.output()}")
            if "Demo shop:     not served" in running.output():
                pytest.fail(f"the local stack could not serve the demo shop:\n{running.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no answer from the API and the demo within {START_TIMEOUT}s:\n{running.output()}")
            time.sleep(0.2)
        yield running
    finally:
        stop(process)


# one tab per test --------------------------------------------------------------------


@dataclass
class Tab:
    """A page in a fresh context (a new device), its console errors, and its screenshots
    (screenshots/<test>/<NN>-<step>.png, git-ignored)."""

    page: Page
    name: str
    errors: list[str] = field(default_factory=list)
    shots: int = 0

    def shot(self, step: str) -> Path:
        self.shots += 1
        folder = SHOTS / self.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.shots:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def text(self, element_id: str) -> str:
        return self.page.locator(f"#{element_id}").inner_text()

    def open_demo(self, url: str) -> None:
        self.page.goto(url)
        self.wait_ready()

    def reload(self) -> None:
        self.page.reload()
        self.wait_ready()

    def wait_ready(self) -> None:
        self.page.wait_for_selector("body[data-ready='true']", timeout=20_000)


def shot_prefix(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")


@pytest.fixture
def tab(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    opened = Tab(page, shot_prefix(request))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: opened.errors.append(f"page error: {error}"))
    try:
        yield opened
    finally:
        context.close()
