"""The console's files as committed (issue 12): no build step, nothing inline the CSP would have to
allow, no HTML built from strings, nothing fetched from elsewhere, and ≤ 100 KB of JS + CSS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONSOLE = Path(__file__).resolve().parents[2] / "console"
SCRIPTS = sorted(CONSOLE.glob("*.js"))
BUDGET = 100 * 1024


def test_the_console_is_plain_files_within_its_size_budget() -> None:
    names = {p.name for p in CONSOLE.iterdir()}
    assert {"index.html", "console.css", "console.js"} <= names
    assert all(p.suffix in (".html", ".css", ".js") for p in CONSOLE.iterdir()), names
    size = sum(p.stat().st_size for p in CONSOLE.iterdir() if p.suffix in (".js", ".css"))
    assert size <= BUDGET, f"the console's JS + CSS is {size} bytes, over {BUDGET}"


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    html = (CONSOLE / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<meta charset="utf-8">', html)
    assert re.search(r"<html lang=\"\w+\"", html)
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="' in tag, tag
    assert re.findall(r"<script\b[^>]*>\s*[^<\s]", html) == [], "a script element with a body"
    assert "<style" not in html
    assert re.findall(r"\sstyle\s*=", html) == []
    assert re.findall(r"\son[a-z]+\s*=", html) == []
    assert re.findall(r"(?:src|href)=\"(?:https?:)?//", html) == [], "nothing from another origin"


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_scripts_build_the_page_from_text_nodes_only(script: Path) -> None:
    code = script.read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc"):
        assert sink not in code, f"{script.name} uses {sink}"
    assert re.findall(r"localStorage|sessionStorage|document\.cookie", code) == [], "no web storage, no cookies"
    assert re.findall(r"https?://", code) == [], "no address of another origin"
    assert ".style." not in code and 'setAttribute("style"' not in code


def test_styles_use_system_fonts_with_japanese_fallbacks() -> None:
    css = (CONSOLE / "console.css").read_text(encoding="utf-8")
    assert "@import" not in css and "@font-face" not in css and "url(" not in css
    stack = re.search(r"font-family:([^;]+);", css)
    assert stack is not None
    assert all(font in stack.group(1) for font in ("Hiragino", "Yu Gothic", "Meiryo", "Noto Sans CJK JP"))
