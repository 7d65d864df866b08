"""`make run`'s own server answers as the deployed API does (issue 10, items 12-13;
issue 11, item 6): unknown paths are a contract 404 with or without credentials,
a burst of simultaneous requests all get an answer, a busy port is one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from .conftest import REPO, LocalStack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer x"}, {"X-Access-Key": "k", "X-Access-Secret": "s"}],
    ids=["no credentials", "a bearer token", "access keys"],
)
def test_a_path_the_service_does_not_serve_is_a_contract_404(local_stack: LocalStack, headers: dict[str, str]) -> None:
    for path in ("/nope", "/v1/users/u1/nope", "/v2/health"):
        reply = local_stack.http.call("GET", path, headers=headers)
        assert reply.status == 404, (path, reply)
        assert reply.body["error"]["code"] == "not_found" and reply.body["error"]["message"]


def test_a_served_path_with_another_method_stays_405(local_stack: LocalStack) -> None:
    for method, path in (("DELETE", "/v1/health"), ("OPTIONS", "/v1/users"), ("PUT", "/v1/boot")):
        reply = local_stack.http.call(method, path, headers=local_stack.http.credentials.admin_headers)
        assert reply.status == 405, (method, path, reply)
        assert reply.body["error"]["code"] == "method_not_allowed"


def test_thirty_requests_released_at_once_all_get_an_answer(local_stack: LocalStack) -> None:
    http = local_stack.http
    http.admin("PUT", "/v1/members/burst-member", {"profile": {"name": "Burst"}})
    statuses: list[int] = []
    gate = threading.Barrier(30)

    def login() -> None:
        gate.wait()
        try:
            boot = http.boot({"memberId": "burst-member"})
            statuses.append(boot.status)
        except OSError as exc:  # a reset connection: what the issue saw with a backlog of 5
            statuses.append(-1)
            raise AssertionError(f"no HTTP answer: {exc}") from exc

    threads = [threading.Thread(target=login) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [200] * 30


def test_make_run_on_a_busy_port_says_so_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        python = REPO / ".venv" / "bin" / "python"
        env = {**os.environ, "PORT": str(port)}
        done = subprocess.run(
            [str(python if python.exists() else sys.executable), "-m", "chalicelib.local"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {port} is not free" in lines[0], lines
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2)
