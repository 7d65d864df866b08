"""Fixtures of the replay/fault/race tests (issue 4): the service on moto, in process or as a server.

Helper modules are loaded under names of their own (`replay_invariants` for
`invariants.py`, ...), so they can never collide with same-named helpers of
other test directories (there are no `__init__.py` files).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

HERE = Path(__file__).parent


def _load(name: str, filename: str) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_load("replay_invariants", "invariants.py")
_load("replay_pump", "replay_pump.py")
_load("replay_faults", "replay_faults.py")
_load("replay_harness", "replay_harness.py")
_load("replay_moto", "replay_moto.py")

from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402
from replay_harness import FakeClock, Harness  # noqa: E402
from replay_moto import fast_moto  # noqa: E402

import app  # noqa: E402
from chalicelib import bootstrap  # noqa: E402
from chalicelib.config import Settings  # noqa: E402
from chalicelib.local.stack import start_moto  # noqa: E402
from chalicelib.service.clock import SystemClock  # noqa: E402
from chalicelib.store.schema import create_table  # noqa: E402

if TYPE_CHECKING:
    from conftest import Credentials

REGION = "us-east-1"
STREAMS_CONFIG = Config(account_id_endpoint_mode="disabled")

MakeHarness = Callable[..., Harness]


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch, fake_aws: dict[str, str], credentials: Credentials) -> None:
    """The settings every harness starts from (MEMBER_HASH_SECRET set: logins carry a valid memberHash)."""
    for name in ("DEFAULT_PHONE_REGION", "CONTACT_BLOCKLIST", "MOVE_CHUNK_SIZE", "DYNAMODB_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in credentials.service_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MEMBER_HASH_SECRET", credentials.member_hash_secret)
    monkeypatch.setenv("SESSION_TIMEOUT_SECONDS", "1800")
    monkeypatch.setenv("MOVE_CLEANUP_GRACE_SECONDS", "0")  # originals of a completed move go at the next sweep


@pytest.fixture(scope="module")
def mocked_aws(fake_aws: dict[str, str]) -> Iterator[dict[str, Any]]:
    """moto in process for a whole module; clients built once (building one costs ~50 ms)."""
    with mock_aws():
        yield {
            "service": bootstrap.dynamodb_client(Settings(region=REGION)),
            "ddb": boto3.client("dynamodb", region_name=REGION),
            "streams": boto3.client("dynamodbstreams", region_name=REGION, config=STREAMS_CONFIG),
        }


def _harness(
    clients: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    credentials: Credentials,
    tmp_path: Path,
    clock: Any,
    seed: int,
    env: dict[str, str],
) -> Harness:
    table = f"replay-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("TABLE_NAME", table)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    arn = create_table(clients["ddb"], table)
    settings = Settings.from_env()
    bootstrap.reset(bootstrap.Container(settings=settings, client=clients["service"], clock=clock))
    # An empty project dir: Chalice adds no stage variables, so the environment is the test's alone.
    return Harness(
        client=Client(app.app, project_dir=str(tmp_path)),
        credentials=credentials,
        ddb=clients["ddb"],
        streams=clients["streams"],
        table=table,
        stream_arn=arn,
        seed=seed,
    )


@pytest.fixture
def make_harness(
    mocked_aws: dict[str, Any],
    service_env: None,
    monkeypatch: pytest.MonkeyPatch,
    credentials: Credentials,
    tmp_path: Path,
) -> Iterator[MakeHarness]:
    """A fresh table and container on in-process moto, per call (crash loops need many)."""
    fast_moto(monkeypatch)
    tables: list[str] = []

    def make(seed: int = 0, **env: str) -> Harness:
        harness = _harness(mocked_aws, monkeypatch, credentials, tmp_path, FakeClock(), seed, env)
        tables.append(harness.table)
        return harness

    yield make
    bootstrap.reset()
    for table in tables:  # moto copies a whole table on every transaction: keep the backend small
        mocked_aws["ddb"].delete_table(TableName=table)


@pytest.fixture(scope="module")
def moto_server(fake_aws: dict[str, str]) -> Iterator[dict[str, Any]]:
    """moto's server on loopback (the local stack's embedded DynamoDB), for tests with real concurrency."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as patched:  # moto is stock again for the next module
        url, server = start_moto(patch=lambda owner, name, value: patched.setattr(owner, name, value, raising=False))
        yield {
            "url": url,
            "ddb": boto3.client("dynamodb", region_name=REGION, endpoint_url=url),
            "streams": boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=url, config=STREAMS_CONFIG),
        }
        server.shutdown()


@pytest.fixture
def make_server_harness(
    moto_server: dict[str, Any],
    service_env: None,
    monkeypatch: pytest.MonkeyPatch,
    credentials: Credentials,
    tmp_path: Path,
) -> Iterator[MakeHarness]:
    """A fresh table on the moto server; the container is built the production way (`container()`)."""
    fast_moto(monkeypatch)
    tables: list[str] = []

    def make(seed: int = 0, **env: str) -> Harness:
        table = f"race-{uuid.uuid4().hex[:12]}"
        monkeypatch.setenv("TABLE_NAME", table)
        monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", moto_server["url"])
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        arn = create_table(moto_server["ddb"], table)
        bootstrap.reset()
        container = bootstrap.container()
        assert isinstance(container.clock, SystemClock) and container.settings.table_name == table
        tables.append(table)
        return Harness(
            client=Client(app.app, project_dir=str(tmp_path)),
            credentials=credentials,
            ddb=moto_server["ddb"],
            streams=moto_server["streams"],
            table=table,
            stream_arn=arn,
            seed=seed,
        )

    yield make
    bootstrap.reset()
    for table in tables:
        moto_server["ddb"].delete_table(TableName=table)
