"""The service on moto's server (real HTTP, the real botocore client and its hooks), the
real `app.py` behind `chalice.test.Client`, a table of its own per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from chalice.test import Client
from integration.support import Api

import app
from chalicelib import bootstrap
from chalicelib.config import Settings
from chalicelib.local.stack import start_moto
from chalicelib.service.clock import SystemClock
from chalicelib.store.schema import create_table

if TYPE_CHECKING:
    from conftest import Credentials

REGION = "us-east-1"


@dataclass
class Service:
    container: bootstrap.Container
    api: Api
    raw: Any  # a client of the test's own, without the service's hooks
    streams: Any
    table: str

    def items(self) -> list[dict[str, Any]]:
        """Every item of the table, read behind the service's back."""
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table}
        while True:
            page = self.raw.scan(**kwargs)
            found += page["Items"]
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda i: (i["PK"]["S"], i["SK"]["S"]))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def stream_arn(self) -> str:
        arn: str = self.raw.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        return arn


@pytest.fixture(scope="module")
def moto_url(fake_aws: dict[str, str]) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patched:  # moto is stock again for the next module
        url, server = start_moto(patch=lambda owner, name, value: patched.setattr(owner, name, value, raising=False))
        yield url
        server.shutdown()


@pytest.fixture
def service(
    moto_url: str, monkeypatch: pytest.MonkeyPatch, credentials: Credentials, tmp_path: Path
) -> Iterator[Service]:
    table = f"ops-{secrets.token_hex(4)}"
    for name in ("MEMBER_HASH_SECRET", "ACCESS_SECRET_PREVIOUS", "MEMBER_HASH_SECRET_PREVIOUS", "SECRETS_SSM_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**credentials.service_env(), "TABLE_NAME": table, "DYNAMODB_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(name, value)
    raw = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_url)
    create_table(raw, table)
    settings = Settings.from_env()
    container = bootstrap.Container(settings=settings, client=bootstrap.dynamodb_client(settings), clock=SystemClock())
    bootstrap.reset(container)
    streams = boto3.client(
        "dynamodbstreams",
        region_name=REGION,
        endpoint_url=moto_url,
        config=Config(account_id_endpoint_mode="disabled"),
    )
    yield Service(container, Api(Client(app.app, project_dir=str(tmp_path)), credentials), raw, streams, table)
    bootstrap.reset()
