"""Figures 10 and 11: what a browser downloads (issues 11 and 12).

10: the browser SDK `sdk/unification.js`, gzipped (level 9, as a server
would send it); target <= 5 KB. 11: the managers' console's own JavaScript
and CSS under `console/` (every .js, .mjs and .css file, as stored: no build
step), target <= 100 KB. A file not there yet is reported as missing.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
SDK = PROJECT / "sdk" / "unification.js"
CONSOLE = PROJECT / "console"
SDK_LIMIT = 5 * 1024
CONSOLE_LIMIT = 100 * 1024


def sdk() -> dict[str, Any]:
    if not SDK.is_file():
        return {"missing": str(SDK.relative_to(PROJECT))}
    raw = SDK.read_bytes()
    return {"bytes": len(raw), "gzip_bytes": len(gzip.compress(raw, compresslevel=9, mtime=0))}


def console() -> dict[str, Any]:
    files = sorted(p for p in CONSOLE.rglob("*") if p.is_file() and p.suffix in (".js", ".mjs", ".css"))
    if not files:
        return {"missing": f"{CONSOLE.relative_to(PROJECT)}/ (no .js or .css)"}
    sizes = {str(p.relative_to(PROJECT)): p.stat().st_size for p in files}
    raw = b"".join(p.read_bytes() for p in files)
    return {"bytes": sum(sizes.values()), "gzip_bytes": len(gzip.compress(raw, 9, mtime=0)), "files": sizes}
