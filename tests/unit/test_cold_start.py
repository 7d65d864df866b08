"""Issue 6, cold start: `import app` loads what every Lambda needs, and the HTTP
layer, pydantic's models and the use cases only when a handler first uses them
(chalicelib/lazy.py). Checked in a fresh interpreter, where nothing was imported
before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
DEFERRED = [
    "chalicelib.api.schemas",
    "chalicelib.api.views",
    "chalicelib.domain.models",
    "chalicelib.service.sessions",
    "chalicelib.service.consumers",
    "chalicelib.store.dynamo",
    "pydantic.main",
    "phonenumbers",
    "email_validator",
]


def loaded_after(statement: str) -> dict[str, bool]:
    """Which of DEFERRED a fresh interpreter has imported after running `statement`."""
    script = f"import json, sys\n{statement}\nprint(json.dumps({{m: m in sys.modules for m in {DEFERRED!r}}}))"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, check=True, timeout=60
    )
    result: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_app_defers_the_http_layer_and_the_use_cases() -> None:
    loaded = loaded_after("import app")
    assert not any(loaded.values()), f"imported by `import app`: {[m for m, v in loaded.items() if v]}"


def test_the_first_use_imports_what_it_needs() -> None:
    loaded = loaded_after("import app\napp.s.TextIn")
    assert loaded["chalicelib.api.schemas"] and loaded["pydantic.main"]
    assert not loaded["chalicelib.service.consumers"], "a body's schema does not need the stream consumer"
