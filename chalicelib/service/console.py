"""The managers' console signs in with the Open API credentials, and then holds a
short-lived session instead of them: the secret never reaches the page's storage.

The browser keeps `<session id>.<signature>` in an HttpOnly, Secure,
SameSite=Strict cookie; the table keeps the session (until it expires or is
signed out) with the CSRF token every state-changing request must carry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain.errors import Unauthorized
from ..secrets import matches
from .deps import Deps

LIFETIME = timedelta(hours=1)
COOKIE = "uconsole"


@dataclass(frozen=True)
class ConsoleSession:
    session_id: str
    csrf_token: str
    expires_at: datetime


def _equal(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given).encode(), str(expected).encode())


class Console:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def _signature(self, session_id: str, secret: str | None = None) -> str:
        """Signed with the current access secret; a cookie signed with the previous one
        (during a rotation) still verifies."""
        secret = (self.deps.settings.access_secret if secret is None else secret) or ""
        key = hashlib.sha256(f"console-session\n{secret}".encode()).digest()
        return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()

    def sign_in(self, access_key: str, access_secret: str) -> tuple[ConsoleSession, str]:
        """A new session for the right credentials; returns it and the cookie's value."""
        settings = self.deps.settings
        if not (_equal(access_key, settings.access_key) and matches(access_secret, settings.access_secrets)):
            raise Unauthorized("the access key and secret are wrong")
        session = ConsoleSession(
            session_id=secrets.token_urlsafe(24),
            csrf_token=secrets.token_urlsafe(32),
            expires_at=self.deps.clock.now() + LIFETIME,
        )
        self.deps.store.start_console_session(session.session_id, session.csrf_token, session.expires_at)
        return session, f"{session.session_id}.{self._signature(session.session_id)}"

    def session(self, cookie: str | None) -> ConsoleSession:
        """The live session a cookie names (forged or ended ones are refused)."""
        session_id, _, signature = (cookie or "").partition(".")
        signatures = tuple(self._signature(session_id, s) for s in self.deps.settings.access_secrets)
        if not session_id or not matches(signature, signatures):
            raise Unauthorized("sign in to the console")
        stored = self.deps.store.console_session(session_id)
        if stored is None or stored[1] <= self.deps.clock.now():
            raise Unauthorized("the console session has ended: sign in again")
        return ConsoleSession(session_id, stored[0], stored[1])

    def authorize(self, cookie: str | None, csrf_token: str | None, changes_state: bool) -> ConsoleSession:
        """A console request in place of the access headers; a state-changing one must
        carry the session's CSRF token (a cross-site form cannot read it)."""
        session = self.session(cookie)
        if changes_state and not _equal(csrf_token, session.csrf_token):
            raise Unauthorized("X-CSRF-Token is missing or wrong")
        return session

    def sign_out(self, session: ConsoleSession) -> None:
        self.deps.store.end_console_session(session.session_id)
