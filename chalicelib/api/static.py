"""Pages and files served beside the API (API.md): the browser SDK and the console.

They live in the repository at `sdk/` and `console/`, beside app.py; the
deployment bundle carries them at the same place (`infra/build.py` copies
them), so the same lookup serves both.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from ..domain.errors import NotFound

ROOT = Path(__file__).resolve().parents[2]
SDK_PATH = "sdk/unification.js"
CONSOLE_DIR = "console"
CONSOLE_FILE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.(js|css|html|svg|png|ico)")
TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
}
# Scripts from this origin only, never inline; images may come from https: (messenger avatars).
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SDK_CACHE = "public, max-age=3600"


@functools.cache
def read(relative: str) -> bytes:
    path = ROOT / relative
    if not path.is_file():
        raise NotFound(f"no file {relative}")
    return path.read_bytes()


def content_type(name: str) -> str:
    return TYPES[name.rsplit(".", 1)[-1]]


def sdk() -> tuple[bytes, dict[str, str]]:
    return read(SDK_PATH), {
        "Content-Type": content_type(SDK_PATH),
        "Cache-Control": SDK_CACHE,
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",
    }


def console_file(name: str) -> tuple[bytes, dict[str, str]]:
    """`/console` is its index.html; `/console/<file>` one of its files (no folders)."""
    if not CONSOLE_FILE.fullmatch(name):
        raise NotFound(f"no console file {name}")
    return read(f"{CONSOLE_DIR}/{name}"), {
        "Content-Type": content_type(name),
        "Cache-Control": "no-cache",
        "Content-Security-Policy": CONSOLE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
