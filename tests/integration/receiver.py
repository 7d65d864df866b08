"""A webhook receiver on 127.0.0.1 and inline delivery, for the tests that hear webhooks
(the fixtures are registered in conftest.py)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from standardwebhooks import Webhook as Verifier

from chalicelib.service import webhooks as webhook_cases

from .support import Api, ok

if TYPE_CHECKING:
    from .conftest import Service


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers with `statuses` in turn (then 200),
    after `delay` seconds, and keeps every request."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    got: list[dict[str, Any]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.got.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                time.sleep(outer.delay)
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def messages(self, secret: str) -> list[dict[str, Any]]:
        """Every message received, each verified as the Standard Webhooks library does."""
        verified = []
        for request in self.got:
            payload = Verifier(secret).verify(request["body"], request["headers"])
            verified.append({**payload, "webhook-id": request["headers"]["webhook-id"]})
        return verified

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


class Inline:
    """Deliveries run as they are handed over (deterministic tests)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.refs: list[str] = []

    def deliver(self, ref: str) -> None:
        self.refs.append(ref)
        self.service.container.webhooks.deliver(ref)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def inline(service: Service, monkeypatch: pytest.MonkeyPatch) -> Inline:
    monkeypatch.setattr(webhook_cases, "SECOND_TRY_AFTER", (0.0, 0.0))
    invoker = Inline(service)
    service.container.webhooks.invoker = invoker
    return invoker


def subscribe(api: Api, url: str, events: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = ok(api.admin("POST", "/v1/webhooks", {"url": url, "events": events or ["*"]}), 201)
    return dict(body["webhook"])
