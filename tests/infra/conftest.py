"""The deployable templates, built once per session by the code `make package` runs, and scanned once.

Every stage in .chalice/config.json is built into a temporary directory with
the real `chalice package`. The Lambda wheels are cached in dist/.cache/wheels/
(keyed by requirements.txt), so only the first run on a machine downloads them
from the package registry; that run also leaves `make package` able to work
offline. checkov (slow to start) runs once, over every stage's template.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra import build  # noqa: E402

STAGES = sorted(json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"])


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("dist")
    return {stage: build.package(stage, out=out / stage, cache=ROOT / "dist" / ".cache") for stage in STAGES}


@pytest.fixture(scope="session", params=STAGES)
def built(request: pytest.FixtureRequest, builds: dict[str, Any]) -> Any:
    return builds[request.param]


@pytest.fixture(scope="session")
def chalice_app() -> Any:
    return build.load_app()


@pytest.fixture(scope="session")
def checkov_reports(builds: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """checkov's JSON report per stage, from one run over every stage's template."""
    # `make test` installs checkov in a venv of its own (.venv/checkov: it pins an old boto3).
    found = [p for p in (Path(sys.executable).parent / "checkov", Path(sys.prefix) / "checkov" / "bin" / "checkov")]
    checkov = next((p for p in found if p.exists()), None)
    assert checkov is not None, f"checkov is not installed ({', '.join(map(str, found))}): run `make test`"
    command = [str(checkov), "--framework", "cloudformation", "--compact"]
    command += ["--skip-download", "--output", "json"]  # no Prisma Cloud: nothing leaves the machine
    for b in builds.values():
        command += ["--file", str(b.template)]
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode in (0, 1), result.stderr  # 1: some check failed (the test says which)
    loaded = json.loads(result.stdout)
    reports = loaded if isinstance(loaded, list) else [loaded]
    assert [r["check_type"] for r in reports] == ["cloudformation"], [r.get("check_type") for r in reports]
    by_stage: dict[str, dict[str, Any]] = {s: {"passed": [], "failed": [], "skipped": []} for s in builds}
    for kind in ("passed", "failed", "skipped"):
        for check in reports[0]["results"][f"{kind}_checks"]:
            stage = next(s for s, b in builds.items() if Path(check["file_abs_path"]) == b.template)
            by_stage[stage][kind].append(check)
    return by_stage
