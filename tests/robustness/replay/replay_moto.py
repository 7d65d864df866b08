"""moto made fast enough for races and crash loops: see `chalicelib/local/fast_moto.py`."""

from __future__ import annotations

import pytest

from chalicelib.local import fast_moto as _fast


def fast_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack's moto speed-ups, undone after the test."""

    def patch(owner: object, name: str, value: object) -> None:
        monkeypatch.setattr(owner, name, value, raising=False)

    _fast.install(patch)
