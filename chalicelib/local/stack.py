"""Start everything `make run` serves, on one machine."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from werkzeug.serving import make_server

from ..config import Settings
from ..store.schema import create_table, enable_ttl
from .pump import StreamPump

log = logging.getLogger(__name__)


class LockedApp:
    """moto is not built for concurrent access: one request at a time (local stack only)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


def scheduled_event() -> dict[str, Any]:
    """The EventBridge event a schedule rule hands its Lambda."""
    return {
        "version": "0",
        "id": secrets.token_hex(16),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }


def streams_endpoint(dynamodb_url: str | None) -> str | None:
    """AWS serves DynamoDB Streams on its own host; emulators serve both on one."""
    if dynamodb_url is None:
        return None
    parts = urllib.parse.urlsplit(dynamodb_url)
    host = parts.hostname or ""
    if host.startswith("dynamodb.") and host.endswith(".amazonaws.com"):
        return parts._replace(netloc="streams." + parts.netloc).geturl()
    return dynamodb_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_moto(port: int | None = None, patch: Any = setattr) -> tuple[str, Any]:
    """moto's server on loopback, serialized, with transactions that cost what they
    touch (`fast_moto`, installed with `patch`: for good by default, or undoably, as
    tests do); returns its URL and the server."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    from . import fast_moto

    fast_moto.install(patch)
    port = port or free_port()
    app = LockedApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="moto").start()
    return f"http://127.0.0.1:{port}", server


def local_defaults(env: dict[str, str]) -> dict[str, str]:
    """Fill what the local stack needs and the user did not set (printed at start)."""
    generated = {}
    for name in ("ACCESS_KEY", "ACCESS_SECRET", "PLUGIN_KEY"):
        if not env.get(name):
            generated[name] = f"{name.lower().replace('_', '-')}-{secrets.token_hex(8)}"
    for name, value in (
        ("ALLOWED_ORIGINS", "*"),  # API.md: `make run` answers browsers from any origin
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled"),
    ):
        if not env.get(name):
            generated[name] = value
    return generated


@dataclass
class LocalStack:
    settings: Settings
    port: int
    moto_server: Any = None
    pump: StreamPump | None = None
    threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start_workers(
        self,
        stream_handler: Callable[..., Any],
        scheduled: Iterable[Callable[..., Any]],
        on_give_up: Callable[[dict[str, Any], str], None] | None = None,
    ) -> None:
        s = self.settings
        streams = boto3.client(
            "dynamodbstreams",
            region_name=s.region,
            endpoint_url=streams_endpoint(s.dynamodb_endpoint_url),
            config=BotoConfig(account_id_endpoint_mode="disabled"),
        )
        client = boto3.client("dynamodb", region_name=s.region, endpoint_url=s.dynamodb_endpoint_url)
        arn = client.describe_table(TableName=s.table_name)["Table"]["LatestStreamArn"]
        self.pump = StreamPump(streams, arn, stream_handler, on_give_up=on_give_up, lanes=10, batch_size=1000)
        jobs = list(scheduled)
        self.threads = [
            threading.Thread(target=self.pump.run_forever, daemon=True, name="stream-pump"),
            threading.Thread(target=self._schedule, args=(jobs,), daemon=True, name="scheduler"),
        ]
        for thread in self.threads:
            thread.start()

    def _schedule(self, jobs: list[Callable[..., Any]]) -> None:
        while not self._stop.wait(self.settings.schedule_interval_seconds):
            for job in jobs:
                try:
                    job(scheduled_event(), None)
                except Exception:
                    log.exception("scheduled job failed")

    def stop(self) -> None:
        self._stop.set()
        if self.pump:
            self.pump.stop()
        if self.moto_server:
            self.moto_server.shutdown()


def prepare(env: dict[str, str]) -> tuple[Settings, Any]:
    """Start the embedded DynamoDB unless one is given; create the table."""
    moto_server = None
    if not env.get("DYNAMODB_ENDPOINT_URL"):
        url, moto_server = start_moto()
        env["DYNAMODB_ENDPOINT_URL"] = url
    settings = Settings.from_env(env)
    client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint_url)
    create_table(client, settings.table_name)
    try:
        enable_ttl(client, settings.table_name)
    except Exception:  # pragma: no cover - some DynamoDB emulators lack TTL
        log.warning("could not enable TTL")
    return settings, moto_server
