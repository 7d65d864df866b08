"""Shared by every test layer: the credentials the service is started with, and
an AWS environment that can never reach a real account."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Credentials:
    """The keys a test service is configured with (API.md, "Running it locally")."""

    access_key: str = "test-access-key"
    access_secret: str = "test-access-secret"
    plugin_key: str = "test-plugin-key"
    member_hash_secret: str = "test-member-hash-secret"

    def member_hash(self, member_id: str) -> str:
        """R5.4: hex HMAC-SHA256(secret, memberId)."""
        return hmac.new(self.member_hash_secret.encode(), member_id.encode(), hashlib.sha256).hexdigest()

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"X-Access-Key": self.access_key, "X-Access-Secret": self.access_secret}

    @property
    def plugin_headers(self) -> dict[str, str]:
        return {"X-Plugin-Key": self.plugin_key}

    def service_env(self) -> dict[str, str]:
        """The variables a service under test reads (MEMBER_HASH_SECRET only where a test sets it)."""
        return {"ACCESS_KEY": self.access_key, "ACCESS_SECRET": self.access_secret, "PLUGIN_KEY": self.plugin_key}


FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


@pytest.fixture(scope="session")
def credentials() -> Credentials:
    return Credentials()


@pytest.fixture(scope="session")
def fake_aws() -> Iterator[dict[str, str]]:
    """Fake AWS credentials and region; no profile or endpoint leaks in from the machine."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "DYNAMODB_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        yield dict(FAKE_AWS_ENV)


# The longest groups of `make test` (seconds on 2 cores, from `pytest --durations`), started
# first so that no core is left waiting on one of them at the end (xdist hands out groups
# in collection order).
LONG_FIRST = (
    "tests/robustness/stateful/",  # ~135 s: one hypothesis run
    "tests/infra/",  # ~90 s: the package builds and checkov
    "test_replay_faults.py::test_a_crash_after_any_write_of_a_history_move",  # ~50 s
    "test_replay_races.py::test_fifty_devices_logging_in_to_one_member_lose_nothing",  # ~45 s
    "tests/ops/test_time_budget.py",  # ~35 s
    "tests/browser/",
)


def _rank(item: pytest.Item) -> int:
    nodeid = item.nodeid
    return next((n for n, part in enumerate(LONG_FIRST) if part in nodeid), len(LONG_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs the suite on every core (pytest-xdist, `--dist loadgroup`): a module's
    tests stay together (they share module-scoped stacks and browsers; the replay tests, which
    share nothing costly, go one by one), and so do the
    infra tests (they share the session's package builds). The longest groups go first."""
    items.sort(key=_rank)  # stable: each group's tests keep their order
    for item in items:
        path = item.path.as_posix()
        if "/tests/infra/" in path:
            group = "infra"
        elif "/tests/robustness/replay/" in path:
            group = item.nodeid  # each builds its own tables: the long crash loops spread over the cores
        else:
            group = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
