"""Posting a webhook message over HTTP(S), safely: the host is resolved, every address
checked (a deployed stage never posts to loopback, private or link-local
addresses, R12), and the connection made to the very address that was checked
(DNS cannot change between the check and the connect). 10 seconds in all.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass

from .domain.webhooks import address_problem, url_problem

TOTAL_SECONDS = 10.0
CONNECT_SECONDS = 5.0


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: no HTTP answer
    error: str | None  # a short reason, never the body or a header


class Refused(Exception):
    """The URL or what it resolves to may not be posted to."""


def resolve(host: str, port: int, *, deployed: bool) -> list[tuple[int, tuple[str, int]]]:
    """The addresses a host has now, each allowed to be posted to (else `Refused`)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"the host does not resolve ({exc.strerror})") from exc
    addresses: list[tuple[int, tuple[str, int]]] = []
    for family, _, _, _, sockaddr in infos:
        problem = address_problem(str(sockaddr[0]), deployed=deployed)
        if problem is not None:
            raise Refused(problem)
        addresses.append((family, (str(sockaddr[0]), int(sockaddr[1]))))
    return addresses


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to one checked address, with the URL's host for SNI and the certificate."""

    def __init__(self, host: str, address: tuple[int, tuple[str, int]], timeout: float, tls: bool) -> None:
        self._tls_context = ssl.create_default_context()
        super().__init__(host, address[1][1], timeout=timeout, context=self._tls_context)
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        family, sockaddr = self._address
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(min(CONNECT_SECONDS, self.timeout or CONNECT_SECONDS))
        try:
            sock.connect(sockaddr)
        except OSError:
            sock.close()
            raise
        sock.settimeout(self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self.host) if self._tls else sock


def post(url: str, body: bytes, headers: dict[str, str], *, deployed: bool) -> Outcome:
    """POST `body`; any 2xx within 10 s is delivered. Redirects are not followed."""
    problem = url_problem(url, deployed=deployed)
    if problem is not None:
        return Outcome(None, problem)
    parts = urllib.parse.urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    deadline = time.monotonic() + TOTAL_SECONDS
    try:
        addresses = resolve(parts.hostname or "", port, deployed=deployed)
    except Refused as refused:
        return Outcome(None, str(refused))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    last_error = "no address to connect to"
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Outcome(None, "timed out")
        connection = _PinnedConnection(parts.hostname or "", address, remaining, tls)
        try:
            connection.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
            connection.sock.settimeout(max(0.01, deadline - time.monotonic()))  # type: ignore[union-attr]
            response = connection.getresponse()
            response.read(64 * 1024)  # a few bytes are enough: the body is never kept
            return Outcome(response.status, None if 200 <= response.status < 300 else f"answered {response.status}")
        except TimeoutError:
            return Outcome(None, "timed out")
        except (OSError, http.client.HTTPException) as exc:
            last_error = type(exc).__name__
        finally:
            connection.close()
    return Outcome(None, last_error)
