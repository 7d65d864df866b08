"""Request bodies and query parameters, validated at the boundary.

`extra="forbid"`: unknown or read-only fields (`type`, `memberId`,
`verifiedFields`, `unifiedInto`, ...) are refused, never ignored.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from ..domain.errors import InvalidRequest, PayloadTooLarge
from ..domain.profile import validate_profile

MAX_JSON_BYTES = 1024 * 1024
MAX_CSV_BYTES = 10 * 1024 * 1024
MAX_PROPERTIES_BYTES = 300 * 1024
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_JSON_DEPTH = 32
LIMIT = re.compile(r"[0-9]{1,4}")  # ASCII digits only: "²".isdigit() is true, int("²") fails

ProfileIn = dict[str, StrictStr | StrictBool | StrictInt | StrictFloat | None]
Text = Annotated[StrictStr, Field(min_length=1, max_length=10_000)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=1000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ProfileWrite(Body):
    profile: ProfileIn | None = None
    unsubscribeEmail: StrictBool | None = None
    unsubscribeTexting: StrictBool | None = None


class BootIn(ProfileWrite):
    veilId: Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")] | None = None
    memberId: Id | None = None
    memberHash: Annotated[StrictStr, Field(max_length=200)] | None = None


class LoginIn(ProfileWrite):
    memberId: Id
    memberHash: Annotated[StrictStr, Field(max_length=200)] | None = None


class EventIn(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    properties: dict[str, Any] = {}

    def checked(self) -> EventIn:
        """Event properties are stored in one item: at most MAX_PROPERTIES_BYTES of JSON."""
        size = len(json.dumps(self.properties, ensure_ascii=False).encode())
        if size > MAX_PROPERTIES_BYTES:
            raise PayloadTooLarge(f"event properties are limited to {MAX_PROPERTIES_BYTES} bytes of JSON")
        return self


class TextIn(Body):
    text: Text


class ManagerReplyIn(Body):
    text: Text
    managerName: Annotated[StrictStr, Field(min_length=1, max_length=1000)] = "Manager"


class DeliveryIn(Body):
    campaignId: Annotated[StrictStr, Field(min_length=1, max_length=200)]


class UnificationIn(Body):
    sourceUserId: Id
    targetUserId: Id


class WebhookIn(Body):
    url: Annotated[StrictStr, Field(min_length=1, max_length=2000)]
    events: Annotated[
        list[Annotated[StrictStr, Field(min_length=1, max_length=100)]], Field(min_length=1, max_length=20)
    ]
    description: Annotated[StrictStr, Field(max_length=1000)] | None = None


class ConsoleSignIn(Body):
    accessKey: Annotated[StrictStr, Field(min_length=1, max_length=1000)]
    accessSecret: Annotated[StrictStr, Field(min_length=1, max_length=1000)]


class MessengerProfileIn(Body):
    """What LINE / Instagram hand over; contact fields are refused (R8.1)."""

    name: Annotated[StrictStr, Field(max_length=1000)] | None = None
    avatarUrl: Annotated[StrictStr, Field(max_length=2000)] | None = None
    username: Annotated[StrictStr, Field(max_length=1000)] | None = None


class MessengerIn(Body):
    externalId: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    text: Text
    profile: MessengerProfileIn = MessengerProfileIn()


B = TypeVar("B", bound=Body)


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def parse_body(raw: bytes | None, model: type[B]) -> B:
    """JSON body → model, or a clear 400/413 (API.md: bodies ≤ 1 MiB)."""
    return validate(json_object(raw), model)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def _has_lone_surrogate(value: Any) -> bool:
    """A lone \\uD800-\\uDFFF (a JSON escape can make one) anywhere: no UTF-8 store takes it."""
    if isinstance(value, str):
        return not value.isascii() and any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def json_object(raw: bytes | None) -> dict[str, Any]:
    """A JSON object as RFC 8259 has it: no NaN or Infinity, numbers in range, text in Unicode."""
    raw = raw or b""
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_not_json, parse_float=_finite) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidRequest("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    if _depth(data) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    if _has_lone_surrogate(data):
        raise InvalidRequest("the body has a lone UTF-16 surrogate (\\uD800-\\uDFFF) in a string")
    return data


def validate(data: dict[str, Any], model: type[B]) -> B:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from None


def invalid(exc: ValidationError) -> InvalidRequest:
    fields = [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "problem": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
    return InvalidRequest(f"invalid request: {summary}", fields=fields)


def profile_of(body: ProfileWrite, region: str) -> dict[str, Any]:
    return validate_profile(body.profile or {}, region)


def limit_of(params: Mapping[str, str] | None) -> int:
    raw = (params or {}).get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def cursor_of(params: Mapping[str, str] | None) -> str | None:
    raw = (params or {}).get("cursor")
    if raw is not None and (not raw or len(raw) > 4096):
        raise InvalidRequest("cursor is not one this service handed out", field="cursor")
    return raw


def order_of(params: Mapping[str, str] | None) -> Literal["oldest", "newest"] | None:
    """`?order=oldest|newest` of a history listing (None: the cursor's, or oldest)."""
    raw = (params or {}).get("order")
    if raw is None:
        return None
    if raw not in ("oldest", "newest"):
        raise InvalidRequest("order must be oldest or newest", field="order")
    return "oldest" if raw == "oldest" else "newest"


def flag_of(params: Mapping[str, str] | None, name: str, default: bool) -> bool:
    raw = (params or {}).get(name)
    if raw is None:
        return default
    if raw.lower() in {"true", "1"}:
        return True
    if raw.lower() in {"false", "0"}:
        return False
    raise InvalidRequest(f"{name} must be true or false", field=name)


def only_params(params: Mapping[str, str] | None, allowed: set[str]) -> dict[str, str]:
    given = dict(params or {})
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown query parameters: {', '.join(unknown)}", fields=unknown)
    return given


def content_type(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """(media type, charset) of the request; a charset must name a text encoding."""
    raw = headers.get("content-type") or headers.get("Content-Type") or ""
    media, _, rest = raw.partition(";")
    charset = None
    for param in rest.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"') or None
    if charset is not None and _not_a_charset(charset):
        raise InvalidRequest(f"charset {charset!r} is not a text encoding", field="charset")
    return media.strip().lower(), charset


# Python's own codecs that read backslash escapes into any code point, lone surrogates included.
PYTHON_ONLY_CODECS = frozenset({"undefined", "unicode-escape", "raw-unicode-escape"})


def _not_a_charset(name: str) -> bool:
    """rot13, base64, hex, zlib (bytes to bytes), unicode_escape...: codecs Python knows that
    are no charset. Names Python does not know are left to the reader (imports know Japanese
    aliases)."""
    try:
        found = codecs.lookup(name).name
    except LookupError:
        return False
    if found in PYTHON_ONLY_CODECS:
        return True
    try:
        "".encode(name)
    except (LookupError, UnicodeError):
        return True
    return False
