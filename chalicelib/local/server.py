"""Chalice's local server as `make run` serves it, with the contract's answers where
Chalice's own differ from the deployed API's.

- A path the service does not serve answers `404 not_found` in the contract's
  shape, with or without credentials (Chalice's local gateway answers 403
  "Missing Authentication Token"; the deployed template maps it to 404).
- No access line of its own (it would print query strings): the app logs one
  JSON line per request, as on Lambda.
- A burst of simultaneous requests is queued, not reset: the listening
  socket's backlog is 128 (socketserver's default is 5), and each request
  gets its own thread.
"""

from __future__ import annotations

import json
from typing import Any

from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    ThreadedHTTPServer,
)

BACKLOG = 128
NOT_FOUND = json.dumps({"error": {"code": "not_found", "message": "the service does not serve this path"}}).encode()


class ContractGateway(LocalGateway):
    def _has_user_defined_options_method(self, lambda_event: Any) -> bool:
        # Every OPTIONS reaches the app: customer-side routes answer preflights
        # themselves (CORS, API.md); the Open API's answer 405 like any method they
        # do not take, instead of Chalice's generated 200.
        return True

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super().handle_request(method, path, headers, body)
        except ForbiddenError:
            # Raised only for a path no route matches (the app has no authorizers).
            return {
                "statusCode": 404,
                "headers": {"Content-Type": "application/json"},
                "multiValueHeaders": {},
                "body": NOT_FOUND,
            }


class ContractRequestHandler(ChaliceRequestHandler):
    # Headers and body go out in separate writes; with Nagle's algorithm and
    # delayed ACKs a kept-alive client would wait ~40 ms for every answer.
    disable_nagle_algorithm = True

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Config) -> None:
        self.local_gateway = ContractGateway(app_object, config)
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing: http.server's access line carries the query string (personal data, a
        token); the app writes its own line per request (chalicelib/observability.py)."""


class QueueingServer(ThreadedHTTPServer):
    request_queue_size = BACKLOG
    daemon_threads = True


def create_server(app: Any, host: str, port: int) -> LocalDevServer:
    """The app on `host:port` (raises OSError when the port is taken)."""
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(
        app, Config.create(), host, port, handler_cls=ContractRequestHandler, server_cls=QueueingServer
    )
