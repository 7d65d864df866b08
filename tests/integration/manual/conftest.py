"""Fixtures of the manual-unification integration tests (issue 3).

Self-contained (names prefixed `manual_` or otherwise distinct): moto with the
table from the production schema, the real `app.py` behind
`chalice.test.Client`, a composition root built around a clock the test
controls, and moto's real DynamoDB stream fed to the real stream handler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from chalice.test import Client
from moto import mock_aws

import app
from chalicelib import bootstrap
from chalicelib.config import Settings
from chalicelib.store.schema import create_table

from .driver import ACCESS_KEY, ACCESS_SECRET, PLUGIN_KEY, ManualApi, ManualClock, StreamTap, TableView

REGION = "us-east-1"

MANUAL_ENV = {
    "ACCESS_KEY": ACCESS_KEY,
    "ACCESS_SECRET": ACCESS_SECRET,
    "PLUGIN_KEY": PLUGIN_KEY,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "SESSION_TIMEOUT_SECONDS": "600",
}
CLEARED = (
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "DYNAMODB_ENDPOINT_URL",
    "TABLE_NAME",
    "MEMBER_HASH_SECRET",
    "DEFAULT_PHONE_REGION",
    "CONTACT_BLOCKLIST",
    "MAX_CONTACT_MATCHES",
    "MOVE_CHUNK_SIZE",
    "SECRETS_SSM_PATH",
)


@dataclass
class ManualService:
    """The service under test: its container (rebuilt when settings change), clock, table and stream."""

    container: bootstrap.Container
    clock: ManualClock
    table: TableView
    raw_client: Any
    stream_arn: str
    monkeypatch: pytest.MonkeyPatch

    def configure(self, client: Any = None, **env: str) -> None:
        """Change settings as an operator does (environment) and/or wrap the client; rebuild the container."""
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        self.container = bootstrap.Container(
            settings=Settings.from_env(), client=client or self.container.client, clock=self.clock
        )
        bootstrap.reset(self.container)

    def tap(self, consume: bool = True) -> StreamTap:
        streams = boto3.client(
            "dynamodbstreams", region_name=REGION, config=Config(account_id_endpoint_mode="disabled")
        )
        return StreamTap(streams, self.stream_arn, consume=consume)


@pytest.fixture
def manual_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in MANUAL_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def manual_botocore() -> botocore.session.Session:
    """One botocore session for every test: service models are loaded once, not per client."""
    return botocore.session.Session()


@pytest.fixture
def manual_service(
    manual_env: None, manual_botocore: botocore.session.Session, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ManualService]:
    with mock_aws():
        # mock_aws clears boto3's default session; hand it one that reuses the loaded models.
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3.Session(botocore_session=manual_botocore))
        raw = boto3.client("dynamodb", region_name=REGION)
        # Inside the integration package's own mock (a test that ran before on this worker),
        # this one does not start empty: the table is made anew for each test.
        with contextlib.suppress(raw.exceptions.ResourceNotFoundException):
            raw.delete_table(TableName=Settings.from_env().table_name)
        arn = create_table(raw)
        bootstrap.reset()
        clock = ManualClock()
        settings = Settings.from_env()
        container = bootstrap.Container(settings=settings, client=bootstrap.dynamodb_client(settings), clock=clock)
        bootstrap.reset(container)
        try:
            yield ManualService(
                container=container,
                clock=clock,
                table=TableView(raw, settings.table_name),
                raw_client=raw,
                stream_arn=arn,
                monkeypatch=monkeypatch,
            )
        finally:
            bootstrap.reset()


@pytest.fixture
def mapi(manual_service: ManualService, tmp_path: Path) -> ManualApi:
    # An empty project dir: Chalice adds no stage variables, so the environment is the test's alone.
    return ManualApi(Client(app.app, project_dir=str(tmp_path)))


@pytest.fixture
def stream(manual_service: ManualService) -> StreamTap:
    """The table's stream, read from the start and handed to `app.stream_consumer`."""
    return manual_service.tap(consume=True)
