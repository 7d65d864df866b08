"""The service on moto: one table from the production schema, the real `app.py`
behind `chalice.test.Client`, and a composition root whose clock the test moves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from chalice.test import Client
from moto import mock_aws

import app
from chalicelib import bootstrap
from chalicelib.config import Settings
from chalicelib.local.pump import StreamPump
from chalicelib.store.schema import create_table

from .support import Api, FakeClock, Table

if TYPE_CHECKING:
    from conftest import Credentials

REGION = "us-east-1"
SESSION_TIMEOUT = 60


@dataclass
class Service:
    """The running service: its container (rebuilt when settings change), clock and table."""

    container: bootstrap.Container
    clock: FakeClock
    table: Table
    monkeypatch: pytest.MonkeyPatch

    @property
    def store(self) -> Any:
        return self.container.deps.store

    def configure(self, **env: str | None) -> None:
        """Change settings the way an operator does (environment), then rebuild the container."""
        for name, value in env.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)
        self.container = bootstrap.Container(
            settings=Settings.from_env(), client=self.container.client, clock=self.clock
        )
        bootstrap.reset(self.container)


@dataclass(frozen=True)
class Aws:
    """moto, active for the whole package; clients are built once (building one costs ~50 ms)."""

    tables: Any  # the test's own client: creates the table, reads it behind the service's back
    service: Any  # the client the service's container uses (as `bootstrap.dynamodb_client` builds it)


@pytest.fixture(scope="package")
def aws(fake_aws: dict[str, str]) -> Iterator[Aws]:
    with mock_aws():
        yield Aws(
            tables=boto3.client("dynamodb", region_name=REGION),
            service=bootstrap.dynamodb_client(Settings(region=REGION)),
        )


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch, fake_aws: dict[str, str], credentials: Credentials) -> None:
    for name in ("TABLE_NAME", "MEMBER_HASH_SECRET", "DEFAULT_PHONE_REGION", "CONTACT_BLOCKLIST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in credentials.service_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SESSION_TIMEOUT_SECONDS", str(SESSION_TIMEOUT))
    # Originals of a completed move go at the next sweep (tests of the grace period set it).
    monkeypatch.setenv("MOVE_CLEANUP_GRACE_SECONDS", "0")


@pytest.fixture
def dynamodb(aws: Aws, service_env: None) -> Any:
    """A fresh, empty table created from the one schema (`chalicelib.store.schema`)."""
    name = Settings.from_env().table_name
    with contextlib.suppress(aws.tables.exceptions.ResourceNotFoundException):
        aws.tables.delete_table(TableName=name)
    create_table(aws.tables, name)
    return aws.tables


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(aws: Aws, dynamodb: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    bootstrap.reset()
    settings = Settings.from_env()
    container = bootstrap.Container(settings=settings, client=aws.service, clock=clock)
    bootstrap.reset(container)
    yield Service(container=container, clock=clock, table=Table(dynamodb, settings.table_name), monkeypatch=monkeypatch)
    bootstrap.reset()


@pytest.fixture
def table(service: Service) -> Table:
    return service.table


@pytest.fixture
def api(service: Service, credentials: Credentials, tmp_path: Path) -> Api:
    # An empty project dir: Chalice adds no stage variables, so the environment is the test's alone.
    return Api(Client(app.app, project_dir=str(tmp_path)), credentials)


# the table's stream, fed to the real handler by the local stack's pump ---------------------


@dataclass
class RecordingHandler:
    """The real stream handler, remembering every batch it was given."""

    batches: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.batches.append(event)
        result: dict[str, Any] = app.stream_consumer(event, context)
        self.results.append(result)
        return result


@pytest.fixture(scope="package")
def streams(aws: Any) -> Any:
    return boto3.client("dynamodbstreams", region_name=REGION, config=Config(account_id_endpoint_mode="disabled"))


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def pump(service: Service, streams: Any, handler: RecordingHandler) -> StreamPump:
    arn = service.table.client.describe_table(TableName=service.table.name)["Table"]["LatestStreamArn"]
    return StreamPump(streams, arn, handler, idle_sleep=0)


# A webhook receiver and inline delivery, for every module that hears webhooks.
from .receiver import inline, receiver  # noqa: E402, F401
