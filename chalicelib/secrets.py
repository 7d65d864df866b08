"""Credentials on AWS: read from SSM Parameter Store, once per cold start.

On AWS the template never carries a credential; it sets `SECRETS_SSM_PATH`
(e.g. `/unification/prod/`) and the functions read `<path>ACCESS_KEY`,
`<path>ACCESS_SECRET`, `<path>PLUGIN_KEY` and `<path>MEMBER_HASH_SECRET`
(SecureString, decrypted on read), and during a rotation `<path>ACCESS_SECRET_PREVIOUS`
and `<path>MEMBER_HASH_SECRET_PREVIOUS`. Without that variable nothing is read:
locally and in tests the credentials still come from the environment.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Mapping
from typing import Any

PATH_VARIABLE = "SECRETS_SSM_PATH"
SECRET_NAMES = ("ACCESS_KEY", "ACCESS_SECRET", "PLUGIN_KEY", "MEMBER_HASH_SECRET")
# Rotated without downtime (infra/README.md, "Rotating a secret"): while `<NAME>_PREVIOUS`
# is set, a caller holding either value is accepted; new values are made with the current one.
ROTATED_NAMES = ("ACCESS_SECRET", "MEMBER_HASH_SECRET")
PREVIOUS_NAMES = tuple(f"{name}_PREVIOUS" for name in ROTATED_NAMES)

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
    names = (*SECRET_NAMES, *PREVIOUS_NAMES)  # 6 names: within GetParameters' 10
    answer = client.get_parameters(Names=[path + name for name in names], WithDecryption=True)
    found = {str(p["Name"])[len(path) :]: str(p["Value"]) for p in answer.get("Parameters", [])}
    missing = [name for name in SECRET_NAMES if name not in found]
    if missing:
        log.warning("SSM parameters missing under %s: %s", path, ", ".join(missing))
    return found


def accepted(current: str | None, previous: str | None) -> tuple[str, ...]:
    """The values a caller may present: the current one, and during a rotation the previous
    (a previous value left alone still guards: it is never read as "no secret")."""
    return tuple(value for value in (current, previous) if value)


def matches(given: str | None, values: tuple[str, ...]) -> bool:
    """`given` is one of `values`, compared in constant time (each compared, whatever matched)."""
    if not given:
        return False
    found = False
    for value in values:
        found |= hmac.compare_digest(given.encode(), value.encode())
    return found


def forget() -> None:
    """Drop what was read (tests, or a rotated secret in a long-lived process)."""
    read_parameters.cache_clear()
