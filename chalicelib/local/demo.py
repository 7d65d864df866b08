"""The demo shop's own server (`make run` only, never deployed).

It plays the part a shop's web server plays in real life: it serves the shop's
page, which loads the SDK from the API's origin (so the page and the API are
two origins, as on a real site), and it computes the memberHash of a login,
since only the shop's server may hold MEMBER_HASH_SECRET (R5.4).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
# The only files served: nothing else under demo/ (or beside it) can be asked for.
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/shop.js": ("shop.js", "text/javascript; charset=utf-8"),
    "/shop.css": ("shop.css", "text/css; charset=utf-8"),
}
API_BASE_PLACEHOLDER = "__API_BASE__"


def member_hash(secret: str, member_id: str) -> str:
    """R5.4: hex HMAC-SHA256(MEMBER_HASH_SECRET, memberId), what the shop's server hands its page."""
    return hmac.new(secret.encode(), member_id.encode(), hashlib.sha256).hexdigest()


def content_security_policy(api_base: str) -> str:
    """Scripts from the shop and the API's SDK only, never inline; calls to the shop and the API."""
    return (
        f"default-src 'self'; script-src 'self' {api_base}; connect-src 'self' {api_base}; "
        "style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def handler_for(api_base: str, plugin_key: str, member_hash_secret: str | None) -> type[BaseHTTPRequestHandler]:
    csp = content_security_policy(api_base)
    config = json.dumps({"apiBase": api_base, "pluginKey": plugin_key}).encode()

    class DemoHandler(BaseHTTPRequestHandler):
        server_version = "UnificationDemo/1"

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/demo-config.json":
                self.answer(HTTPStatus.OK, "application/json", config)
            elif url.path == "/member-hash":
                self.answer_member_hash(urllib.parse.parse_qs(url.query))
            elif url.path == "/favicon.ico":
                self.answer(HTTPStatus.NO_CONTENT, "image/x-icon", b"")
            elif url.path in FILES:
                name, content_type = FILES[url.path]
                data = (DEMO_DIR / name).read_bytes()
                if name == "index.html":
                    # The page's one <script> tag for the SDK names the API's origin.
                    data = data.replace(API_BASE_PLACEHOLDER.encode(), html.escape(api_base).encode())
                self.answer(HTTPStatus.OK, content_type, data)
            else:
                self.answer(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")

        def answer_member_hash(self, query: dict[str, list[str]]) -> None:
            # A real shop computes this only for the member its own login just checked.
            member_id = (query.get("memberId") or [""])[0]
            if not member_id:
                self.answer(HTTPStatus.BAD_REQUEST, "application/json", b'{"error": "memberId is required"}')
                return
            value = member_hash(member_hash_secret, member_id) if member_hash_secret else None
            self.answer(HTTPStatus.OK, "application/json", json.dumps({"memberHash": value}).encode())

        def answer(self, status: HTTPStatus, content_type: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", csp)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: a query string may carry a memberId (no personal data in logs)."""

    return DemoHandler


def start_demo(
    host: str, port: int, api_base: str, plugin_key: str, member_hash_secret: str | None
) -> ThreadingHTTPServer:
    """Serve the demo shop on host:port from a daemon thread; `server.shutdown()` stops it."""
    server = ThreadingHTTPServer((host, port), handler_for(api_base.rstrip("/"), plugin_key, member_hash_secret))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="demo-shop").start()
    return server
