"""Issue 16.6: rotating ACCESS_SECRET and MEMBER_HASH_SECRET without downtime. While
`<NAME>_PREVIOUS` is set (environment, or SSM on AWS) a caller holding either value
is accepted; once it is removed, only the current one is (infra/README.md,
"Rotating a secret")."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from integration.support import ok, refused
from moto import mock_aws

from chalicelib import secrets
from chalicelib.config import Settings

from .conftest import Service

OLD, NEW = "old-access-secret", "new-access-secret"
OLD_HASH, NEW_HASH = "old-member-hash-secret", "new-member-hash-secret"


def member_hash(secret: str, member_id: str) -> str:
    return hmac.new(secret.encode(), member_id.encode(), hashlib.sha256).hexdigest()


def admin(service: Service, secret: str) -> dict[str, str]:
    return {"X-Access-Key": service.api.credentials.access_key, "X-Access-Secret": secret}


def test_both_access_secrets_work_during_a_rotation_and_only_the_new_one_after(service: Service) -> None:
    api = service.api
    rebuild(service, ACCESS_SECRET=OLD)
    assert api.call("GET", "/v1/members/m-1", headers=admin(service, OLD)).status == 404

    rebuild(service, ACCESS_SECRET=NEW, ACCESS_SECRET_PREVIOUS=OLD)  # step 1
    for secret in (OLD, NEW):
        assert api.call("GET", "/v1/members/m-1", headers=admin(service, secret)).status == 404
    refused(api.call("GET", "/v1/members/m-1", headers=admin(service, "neither")), 401, "unauthorized")
    session = ok(
        api.call("POST", "/v1/console/session", {"accessKey": api.credentials.access_key, "accessSecret": OLD})
    )
    assert session

    rebuild(service, ACCESS_SECRET=NEW, ACCESS_SECRET_PREVIOUS=None)  # step 3
    assert api.call("GET", "/v1/members/m-1", headers=admin(service, NEW)).status == 404
    refused(api.call("GET", "/v1/members/m-1", headers=admin(service, OLD)), 401, "unauthorized")


def test_a_member_hash_made_with_either_secret_logs_in_during_a_rotation(service: Service) -> None:
    api = service.api
    rebuild(service, MEMBER_HASH_SECRET=NEW_HASH, MEMBER_HASH_SECRET_PREVIOUS=OLD_HASH)
    for secret, member_id in ((OLD_HASH, "m-old"), (NEW_HASH, "m-new")):
        api.put_member(member_id, {"name": member_id})
        body = {"memberId": member_id, "memberHash": member_hash(secret, member_id)}
        booted = ok(api.call("POST", "/v1/boot", body, api.credentials.plugin_headers))
        assert booted["session"]["loggedIn"] is True
    wrong = {"memberId": "m-old", "memberHash": member_hash("another", "m-old")}
    refused(api.call("POST", "/v1/boot", wrong, api.credentials.plugin_headers), 401, "unauthorized")

    rebuild(service, MEMBER_HASH_SECRET=NEW_HASH, MEMBER_HASH_SECRET_PREVIOUS=None)
    stale = {"memberId": "m-old", "memberHash": member_hash(OLD_HASH, "m-old")}
    refused(api.call("POST", "/v1/boot", stale, api.credentials.plugin_headers), 401, "unauthorized")


def rebuild(service: Service, **env: str | None) -> None:
    """Settings as an operator sets them, read again as a new container reads them."""
    from chalicelib import bootstrap

    patch = pytest.MonkeyPatch()
    for name, value in env.items():
        if value is None:
            patch.delenv(name, raising=False)
        else:
            patch.setenv(name, value)
    service.container = bootstrap.Container(
        settings=Settings.from_env(), client=service.container.client, clock=service.container.clock
    )
    bootstrap.reset(service.container)
    service.patches.append(patch)


@pytest.fixture(autouse=True)
def undo(service: Service) -> Iterator[None]:
    service.patches = []
    yield
    for patch in reversed(service.patches):  # the last change first: each restores what it found
        patch.undo()


# on AWS: the previous values come from SSM with the current ones ---------------------------


@pytest.fixture
def ssm(fake_aws: dict[str, str]) -> Iterator[Any]:
    secrets.forget()
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")
    secrets.forget()


def test_the_previous_values_are_read_from_ssm_beside_the_current_ones(ssm: Any) -> None:
    path = "/unification/rotate/"
    for name, value in {"ACCESS_SECRET": NEW, "ACCESS_SECRET_PREVIOUS": OLD, "MEMBER_HASH_SECRET": NEW_HASH}.items():
        ssm.put_parameter(Name=path + name, Value=value, Type="SecureString")
    settings = Settings.from_env({"AWS_REGION": "us-east-1", "SECRETS_SSM_PATH": path})
    assert settings.access_secrets == (NEW, OLD)
    assert settings.member_hash_secrets == (NEW_HASH,)


def test_a_previous_value_left_alone_still_guards() -> None:
    """An operator whose step 1 stopped half-way has not switched memberHash checks off."""
    settings = Settings.from_env({"ACCESS_SECRET_PREVIOUS": OLD, "MEMBER_HASH_SECRET_PREVIOUS": OLD_HASH})
    assert settings.access_secrets == (OLD,) and settings.member_hash_secrets == (OLD_HASH,)
    assert not secrets.matches("", settings.access_secrets) and not secrets.matches(None, settings.access_secrets)
