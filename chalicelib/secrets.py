"""Credentials on AWS: read from SSM Parameter Store, once per cold start.

On AWS the template never carries a credential; it sets `SECRETS_SSM_PATH`
(e.g. `/unification/prod/`) and the functions read `<path>ACCESS_KEY`,
`<path>ACCESS_SECRET`, `<path>PLUGIN_KEY` and `<path>MEMBER_HASH_SECRET`
(SecureString, decrypted on read). Without that variable nothing is read:
locally and in tests the credentials still come from the environment.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

PATH_VARIABLE = "SECRETS_SSM_PATH"
SECRET_NAMES = ("ACCESS_KEY", "ACCESS_SECRET", "PLUGIN_KEY", "MEMBER_HASH_SECRET")

log = logging.getLogger(__name__)


def parameter_path(raw: str) -> str:
    """`unification/prod` and `/unification/prod/` both name `/unification/prod/`."""
    return "/" + raw.strip().strip("/") + "/"


def with_secrets(env: Mapping[str, str]) -> Mapping[str, str]:
    """The environment with the credentials from SSM laid over it (when `SECRETS_SSM_PATH` is set).

    A parameter missing in SSM leaves the environment's value (on AWS: none,
    so the matching check refuses every caller rather than letting one in).
    """
    raw_path = env.get(PATH_VARIABLE, "").strip()
    if not raw_path:
        return env
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    return {**env, **read_parameters(parameter_path(raw_path), region)}


@functools.cache
def read_parameters(path: str, region: str | None) -> dict[str, str]:
    """One `GetParameters` call per path and cold start (the result is cached in the process)."""
    import boto3  # only when asked: `import app` needs no AWS at all

    client: Any = boto3.client("ssm", region_name=region)
    answer = client.get_parameters(Names=[path + name for name in SECRET_NAMES], WithDecryption=True)
    found = {str(p["Name"])[len(path) :]: str(p["Value"]) for p in answer.get("Parameters", [])}
    missing = [name for name in SECRET_NAMES if name not in found]
    if missing:
        log.warning("SSM parameters missing under %s: %s", path, ", ".join(missing))
    return found


def forget() -> None:
    """Drop what was read (tests, or a rotated secret in a long-lived process)."""
    read_parameters.cache_clear()
