"""On AWS the credentials come from SSM Parameter Store; locally from the environment (issue 5, item 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import secrets
from chalicelib.config import Settings

ROOT = Path(__file__).resolve().parents[2]
PATH = "/unification/test/"


@pytest.fixture(autouse=True)
def cold_start() -> Iterator[None]:
    """Every test starts as a fresh Lambda container would."""
    secrets.forget()
    yield
    secrets.forget()


@pytest.fixture
def ssm(fake_aws: dict[str, str]) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def put(ssm: Any, name: str, value: str) -> None:
    ssm.put_parameter(Name=PATH + name, Value=value, Type="SecureString")


def aws_env(**extra: str) -> dict[str, str]:
    return {"AWS_REGION": "us-east-1", "SECRETS_SSM_PATH": PATH, **extra}


def test_secrets_come_from_ssm_when_a_path_is_set(ssm: Any) -> None:
    for name, value in {
        "ACCESS_KEY": "ssm-key",
        "ACCESS_SECRET": "ssm-secret",
        "PLUGIN_KEY": "ssm-plugin",
        "MEMBER_HASH_SECRET": "ssm-hash",
    }.items():
        put(ssm, name, value)

    settings = Settings.from_env(aws_env(ACCESS_SECRET="plain-env-value", TABLE_NAME="t"))

    assert (settings.access_key, settings.access_secret) == ("ssm-key", "ssm-secret")
    assert (settings.plugin_key, settings.member_hash_secret) == ("ssm-plugin", "ssm-hash")
    assert settings.table_name == "t"


def test_the_path_may_be_written_without_slashes(ssm: Any) -> None:
    put(ssm, "PLUGIN_KEY", "ssm-plugin")

    settings = Settings.from_env(aws_env(SECRETS_SSM_PATH="unification/test"))

    assert settings.plugin_key == "ssm-plugin"


def test_a_parameter_missing_in_ssm_leaves_nothing_or_the_environment(ssm: Any) -> None:
    put(ssm, "ACCESS_SECRET", "ssm-secret")

    settings = Settings.from_env(aws_env(PLUGIN_KEY="env-plugin"))

    assert settings.access_secret == "ssm-secret"
    assert settings.plugin_key == "env-plugin"
    assert settings.member_hash_secret is None


def test_ssm_is_read_once_per_cold_start(ssm: Any) -> None:
    put(ssm, "ACCESS_SECRET", "first")
    assert Settings.from_env(aws_env()).access_secret == "first"

    ssm.put_parameter(Name=PATH + "ACCESS_SECRET", Value="second", Type="SecureString", Overwrite=True)
    assert Settings.from_env(aws_env()).access_secret == "first"

    secrets.forget()  # a new container
    assert Settings.from_env(aws_env()).access_secret == "second"


def test_without_a_path_the_environment_alone_counts(ssm: Any) -> None:
    put(ssm, "ACCESS_SECRET", "ssm-secret")

    settings = Settings.from_env({"AWS_REGION": "us-east-1", "ACCESS_SECRET": "env-secret"})

    assert settings.access_secret == "env-secret"


def test_app_imports_with_no_variables_and_no_aws() -> None:
    """Chalice imports app.py when packaging: that must not touch SSM or anything else."""
    env = {"PATH": os.environ.get("PATH", ""), "SECRETS_SSM_PATH": PATH, "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run(
        [sys.executable, "-c", "import app; print(app.app.app_name)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unification"
