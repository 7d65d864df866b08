"""Issue 10, item 11: every cursor of every list, tampered with, is a 400 `invalid_request`
and never a 500: each value inside it swapped for one of every other JSON type, keys
dropped and added, and the cursor itself mangled."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .support import Api, Reply, Visitor, ok, quote

JUNK: list[Any] = [None, True, 0, -1, 1.5, "", "x", "\uffff" * 3, [], ["a"], {}, {"S": "x"}, {"PK": 1}]


def decode(cursor: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(cursor.encode()))


def encode(state: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def variants(state: Any) -> Iterator[Any]:
    """The state with one value (at any depth) swapped, one key dropped, or one added."""
    if isinstance(state, dict):
        for key, value in state.items():
            for junk in JUNK:
                if junk != value:
                    yield {**state, key: junk}
            yield {k: v for k, v in state.items() if k != key}
            for inner in variants(value):
                yield {**state, key: inner}
        yield {**state, "extra": 1}
    elif isinstance(state, list):
        for index, value in enumerate(state):
            for inner in variants(value):
                yield [*state[:index], inner, *state[index + 1 :]]
            for junk in JUNK:
                yield [*state[:index], junk, *state[index + 1 :]]


Lists = dict[str, tuple[Callable[[str | None], Reply], str]]


@pytest.fixture
def lists(api: Api) -> Lists:
    """Every list that hands out a cursor, with a call that asks it for one page."""
    member = api.put_member("m-fuzz", {"name": "Taro", "email": "taro@example.com"})
    visitor: Visitor = api.visit(profile={"name": "Mango"})
    chat = api.chat(visitor, "hello")["chat"]
    for i in range(3):
        api.say(visitor, chat["id"], f"more {i}")
        api.track(visitor, f"View {i}")
        api.chat(visitor, f"chat {i}")
        ok(api.admin("POST", f"/v1/users/{member['id']}/marketing-deliveries", {"campaignId": f"c{i}"}), 201)
    for i in range(3):
        lead = api.create_lead({"name": f"Lead {i}", "email": "taro@example.com"})
        assert lead["unificationCandidate"]

    def admin(path: str) -> Callable[[str | None], Reply]:
        sep = "&" if "?" in path else "?"
        return lambda cursor: api.admin("GET", f"{path}{sep}limit=1" + (f"&cursor={quote(cursor)}" if cursor else ""))

    def session(path: str) -> Callable[[str | None], Reply]:
        sep = "&" if "?" in path else "?"
        return lambda cursor: api.session(
            visitor.token, "GET", f"{path}{sep}limit=1" + (f"&cursor={quote(cursor)}" if cursor else "")
        )

    uid = visitor.user_id
    return {
        "chats": (admin(f"/v1/users/{uid}/chats"), "chats"),
        "chats newest": (admin(f"/v1/users/{uid}/chats?order=newest"), "chats"),
        "events": (admin(f"/v1/users/{uid}/events"), "events"),
        "deliveries": (admin(f"/v1/users/{member['id']}/marketing-deliveries"), "deliveries"),
        "messages": (admin(f"/v1/chats/{chat['id']}/messages"), "messages"),
        "session chats": (session("/v1/session/chats"), "chats"),
        "session messages": (session(f"/v1/session/chats/{chat['id']}/messages"), "messages"),
        "unifications": (admin("/v1/unifications"), "unifications"),
        "unifications pending": (admin("/v1/unifications?status=pending_approval"), "unifications"),
        "unifications of a user": (admin(f"/v1/unifications?userId={member['id']}"), "unifications"),
    }


def test_every_tampered_cursor_of_every_list_is_a_400(
    lists: dict[str, tuple[Callable[[str | None], Reply], str]],
) -> None:
    failures: list[str] = []
    tried = 0
    for name, (call, key) in lists.items():
        first = ok(call(None))
        assert first["nextCursor"], f"{name} hands out a cursor"
        state = decode(first["nextCursor"])
        mangled = [first["nextCursor"][:-3], first["nextCursor"] + "AAAA", "!!!", encode([1, 2]), encode("s")]
        for variant in [*(encode(v) for v in variants(state)), *mangled]:
            tried += 1
            reply = call(variant)
            if reply.status >= 500 or (reply.status == 400 and reply.code != "invalid_request"):
                failures.append(f"{name}: {decode_or(variant)} -> {reply.status} {reply.body}")
            elif reply.status == 200:
                assert isinstance(reply.body.get(key), list), (name, reply.body)
    assert tried > 500
    assert not failures, f"{len(failures)} of {tried} tampered cursors were not refused:\n" + "\n".join(failures[:20])


def decode_or(cursor: str) -> Any:
    try:
        return decode(cursor)
    except ValueError:
        return cursor
