"""The HTTP plumbing under app.py's routes: auth, the contract's error shape, CORS,
Idempotency-Key receipts, request bodies and path parameters.

Every answer has the contract's shape whatever goes wrong (API.md,
conventions); customer-side routes answer browsers from allowed origins;
a keyed write answers its first answer again.
"""

from __future__ import annotations

import functools
import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from chalice.app import Chalice, Request, Response

from .. import budget
from .. import observability as ops
from ..bootstrap import container
from ..domain.errors import DomainError, InvalidRequest, ReceiptTaken, RetriesExhausted
from . import cors
from . import idempotency as idem
from .auth import require_access
from .errors import RETRY_AFTER_SECONDS, domain_error_response, error_response

if TYPE_CHECKING:
    from . import schemas as s

log = ops.log
CONSOLE_COOKIE = "uconsole"
View = Callable[..., Any]
Auth = Literal["access", "plugin", "session", "none"]
T = TypeVar("T")
# Every body reaches the view, which answers a wrong one in the contract's shape.
ANY_BODY = ["*/*"]
JSON_HEADERS: dict[str, str | list[str]] = {"Content-Type": "application/json"}

CHALICE_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "BadRequestError": "invalid_request",
}


def decoded_path_param(raw: str, decode: bool) -> str:
    """A path parameter as text. Percent-escapes must decode to valid UTF-8: two
    invalid ones would otherwise both read as U+FFFD and name the same record."""
    try:
        value = urllib.parse.unquote(raw, errors="strict") if decode else raw
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the path is not valid UTF-8 once decoded") from exc
    if "\ufffd" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidRequest("the path holds an invalid or control character")
    return value


class Web:
    """app.py's routes go through here: `route`, `body`, `params`, `keyed`."""

    def __init__(self, app: Chalice) -> None:
        self.app = app
        app.register_middleware(self._middleware, "http")

    # the request --------------------------------------------------------------

    def request(self) -> Request:
        request = self.app.current_request
        assert request is not None, "only called while serving a request"
        return request

    def raw_body(self) -> bytes:
        raw = self.request().raw_body
        return raw.encode() if isinstance(raw, str) else (raw or b"")

    def body(self, model: type[s.B]) -> s.B:
        from . import schemas

        return schemas.parse_body(self.raw_body(), model)

    def params(self, *allowed: str) -> dict[str, str]:
        from . import schemas

        return schemas.only_params(self.request().query_params, set(allowed))

    # routes -----------------------------------------------------------------

    def route(self, path: str, methods: list[str], auth: Auth = "access") -> Callable[[View], View]:
        """Register a view: Open API routes check the access key; customer-side routes
        (plugin key or session) also answer CORS preflights."""
        if cors.is_customer_path(path):
            methods = [*methods, "OPTIONS"]

        def register(view: View) -> View:
            @functools.wraps(view)
            def guarded(**path_params: str) -> Any:
                settings = container().settings
                if auth == "access":
                    self._open_api_caller()
                decode = settings.decode_path_params
                return view(**{k: decoded_path_param(v, decode) for k, v in path_params.items()})

            registered: View = self.app.route(path, methods=methods, content_types=ANY_BODY)(self._contract(guarded))
            return registered

        return register

    def _open_api_caller(self) -> None:
        """The Open API's credentials, or a console session signed in with them (whose
        state-changing requests carry its CSRF token)."""
        request = self.request()
        cookie = console_cookie(request.headers)
        if cookie is not None and not request.headers.get("x-access-key"):
            changes = request.method not in ("GET", "HEAD")
            container().console.authorize(cookie, request.headers.get("x-csrf-token"), changes)
            return
        require_access(request.headers, container().settings)

    def _contract(self, view: View) -> View:
        """Every answer in the contract's shape, whatever goes wrong."""

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                # An answer within 20 s whatever the table does (API.md): see chalicelib/budget.py.
                with budget.within(budget.REQUEST_SECONDS):
                    try:
                        return view(*args, **kwargs)
                    except ReceiptTaken as taken:
                        return self._replay(taken)
            except DomainError as error:
                return domain_error_response(error)
            except Exception as error:
                if not isinstance(error, RetriesExhausted) and not budget.is_busy(error):
                    log.exception("unexpected error")
                    return error_response("internal_error", "unexpected error")
                ops.store_gave_up(error)
                return error_response(
                    "unavailable", "the service is busy; try again", headers={"Retry-After": RETRY_AFTER_SECONDS}
                )

        return wrapper

    def _middleware(self, event: Request, get_response: Callable[[Request], Response]) -> Response:
        """One log line per request and its metrics flushed (issue 16), around the answer."""
        started = time.monotonic()
        response = self._answer(event, get_response)
        try:
            context = event.context or {}
            lambda_context = getattr(self.app, "lambda_context", None)
            ops.request(
                route=context.get("resourcePath"),
                method=event.method,
                status=response.status_code,
                error_code=error_code_of(response),
                latency_ms=(time.monotonic() - started) * 1000,
                request_id=context.get("requestId") or getattr(lambda_context, "aws_request_id", None),
                path_params=event.uri_params,
            )
        finally:
            ops.flush()
        return response

    def _answer(self, event: Request, get_response: Callable[[Request], Response]) -> Response:
        """CORS for the customer side (API.md); Chalice's own refusals (405, 415, ...)
        in the contract's error shape too."""
        customer = cors.is_customer_path(event.path)
        allowed = container().settings.allowed_origins if customer else ()
        origin = cors.origin_of(event.headers)
        if customer and event.method == "OPTIONS":
            return Response(body="", status_code=204, headers=dict(cors.preflight_headers(origin, allowed)))
        response = get_response(event)
        body = response.body
        if isinstance(body, dict) and set(body) == {"Code", "Message"}:
            code = CHALICE_CODES.get(str(body["Code"]), "internal_error")
            reshaped = error_response(code, str(body["Message"]))
            reshaped.headers.update({k: v for k, v in response.headers.items() if k.lower() == "allow"})
            response = reshaped
        if customer:
            response.headers.update(cors.answer_headers(origin, allowed))
        return response

    # Idempotency-Key -------------------------------------------------------------

    def keyed(self, status: int, render: Callable[[T], dict[str, Any]], scope: str) -> idem.Answer[T]:
        """The answer a keyed write gives (its receipt, when the request has a key)."""
        request = self.request()
        route = f"{request.path}?{sorted((request.uri_params or {}).items())}"
        return idem.answer(
            status,
            render,
            headers=request.headers,
            scope=scope,
            method=request.method,
            path=route,
            body=self.raw_body(),
            now=container().clock.now(),
        )

    @staticmethod
    def respond(answer: idem.Answer[T], result: T) -> Response:
        return Response(body=answer.body(result), status_code=answer.status, headers=dict(JSON_HEADERS))

    @staticmethod
    def _replay(taken: ReceiptTaken) -> Response:
        status, body = idem.replay(container().deps.store.get_receipt(taken.receipt_id), taken)
        return Response(body=body, status_code=status, headers={**JSON_HEADERS, "Idempotency-Replayed": "true"})


def error_code_of(response: Response) -> str | None:
    """The contract's error code of an answer (`{"error": {"code": ...}}`), if it is one."""
    body = response.body
    if isinstance(body, (str, bytes)) and response.status_code >= 400:
        try:
            body = json.loads(body)
        except ValueError:
            return None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code")) if isinstance(error, dict) else None


def console_cookie(headers: Mapping[str, str]) -> str | None:
    from http.cookies import CookieError, SimpleCookie

    raw = headers.get("cookie") or headers.get("Cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = jar.get(CONSOLE_COOKIE)
    return morsel.value if morsel is not None else None


def created(payload: dict[str, Any]) -> Response:
    return Response(body=payload, status_code=201, headers=dict(JSON_HEADERS))
