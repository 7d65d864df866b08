"""Eventually consistent reads (issue 13: half the read units) where a stale answer can
never cost a chat or a message: chat listings read their chats' headers eventually
consistent, the stream reads a chat's header once per batch. moto always answers
consistently, so a replica that lags is put between the service and moto: an
eventually consistent read of a lagging item answers the image it had when it
started lagging (or nothing, if it did not exist yet)."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest

from chalicelib.domain.devices import device_handle
from chalicelib.local.pump import StreamPump

from .conftest import SESSION_TIMEOUT, RecordingHandler, Service
from .support import Api, ok


def _key(key: dict[str, Any]) -> tuple[str, str]:
    return key["PK"]["S"], key["SK"]["S"]


class LaggingReplica:
    """The service's DynamoDB client, with chosen items served stale to eventually
    consistent GetItem and BatchGetItem (what a replica behind the leader answers)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self.stale: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.calls: Counter[str] = Counter()  # "GetItem eventual", "BatchGetItem consistent", ...

    def lag(self, pk: str, sk: str) -> None:
        """From now on, eventually consistent reads of this item answer its current image."""
        raw = self._client.get_item(TableName=self._table, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True)
        self.stale[(pk, sk)] = copy.deepcopy(raw.get("Item"))

    def get_item(self, **kwargs: Any) -> Any:
        consistent = bool(kwargs.get("ConsistentRead"))
        self.calls[f"GetItem {'consistent' if consistent else 'eventual'} {_key(kwargs['Key'])[0][:5]}"] += 1
        key = _key(kwargs["Key"])
        if not consistent and key in self.stale:
            item = self.stale[key]
            return {"Item": copy.deepcopy(item)} if item is not None else {}
        return self._client.get_item(**kwargs)

    def batch_get_item(self, **kwargs: Any) -> Any:
        (request,) = kwargs["RequestItems"].values()
        consistent = bool(request.get("ConsistentRead"))
        self.calls[f"BatchGetItem {'consistent' if consistent else 'eventual'}"] += 1
        raw = self._client.batch_get_item(**kwargs)
        if consistent:
            return raw
        answered = []
        for item in raw["Responses"].get(self._table, []):
            key = _key(item)
            if key not in self.stale:
                answered.append(item)
            elif self.stale[key] is not None:
                answered.append(copy.deepcopy(self.stale[key]))
        return {**raw, "Responses": {self._table: answered}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def replica(service: Service, monkeypatch: pytest.MonkeyPatch) -> LaggingReplica:
    store = service.store
    lagging = LaggingReplica(store.client, service.table.name)
    monkeypatch.setattr(store, "client", lagging)
    return lagging


def test_a_listing_never_drops_a_chat_whose_header_the_replica_has_not_seen(
    api: Api, service: Service, replica: LaggingReplica
) -> None:
    visitor = api.visit()
    first = api.chat(visitor, "first question")["chat"]
    replica.calls.clear()
    listed = ok(api.session(visitor.token, "GET", "/v1/session/chats"))["chats"]
    assert [c["id"] for c in listed] == [first["id"]]
    assert replica.calls["BatchGetItem eventual"] == 1 and replica.calls["BatchGetItem consistent"] == 0

    second = api.chat(visitor, "second question")["chat"]
    replica.stale[(f"CHAT#{second['id']}", "#CHAT")] = None  # written, but not on the replica yet
    replica.calls.clear()
    for listed in (
        ok(api.session(visitor.token, "GET", "/v1/session/chats"))["chats"],
        api.chats_of(visitor.user_id),
    ):
        assert {c["id"] for c in listed} == {first["id"], second["id"]}
        by_id = {c["id"]: c for c in listed}
        assert [m["text"] for m in by_id[second["id"]]["messages"]] == ["second question"]
    # The unseen header alone was asked again, strongly consistent.
    assert replica.calls["BatchGetItem eventual"] == 2 and replica.calls["BatchGetItem consistent"] == 2


def test_the_session_listing_reads_its_user_once(api: Api, replica: LaggingReplica) -> None:
    visitor = api.visit()
    for n in range(3):
        api.chat(visitor, f"question {n}")
    replica.calls.clear()
    listed = ok(api.session(visitor.token, "GET", "/v1/session/chats"))["chats"]
    assert len(listed) == 3
    assert all(m["personName"] for c in listed for m in c["messages"])
    assert replica.calls["GetItem consistent USER#"] == 1, replica.calls
    assert replica.calls == Counter({"GetItem consistent USER#": 1, "BatchGetItem eventual": 1}), replica.calls


class CountingWrites:
    """UpdateItem calls on chat headers, as the stream consumer sends them."""

    def __init__(self, replica: LaggingReplica, monkeypatch: pytest.MonkeyPatch) -> None:
        self.headers: list[str] = []
        inner = replica._client

        def update_item(**kwargs: Any) -> Any:
            pk, _ = _key(kwargs["Key"])
            if pk.startswith("CHAT#"):
                self.headers.append(pk)
            return inner.update_item(**kwargs)

        monkeypatch.setattr(replica, "update_item", update_item, raising=False)


def test_the_stream_reads_a_chats_header_once_for_all_its_new_messages_in_a_batch(
    api: Api, service: Service, pump: StreamPump, handler: RecordingHandler, replica: LaggingReplica
) -> None:
    visitor = api.visit()
    chat = api.chat(visitor, "one")["chat"]
    for text in ("two", "three", "four"):
        api.say(visitor, chat["id"], text)
    replica.calls.clear()
    pump.drain()
    assert all(r == {"batchItemFailures": []} for r in handler.results), handler.results
    header_reads = {call: n for call, n in replica.calls.items() if call.startswith("GetItem") and "CHAT#" in call}
    assert header_reads == {"GetItem eventual CHAT#": 1}, replica.calls
    listed = api.chats_of(visitor.user_id)
    assert [m["text"] for m in listed[0]["messages"]] == ["one", "two", "three", "four"]


def test_a_stale_header_makes_the_stream_look_again_before_it_writes_or_erases(
    api: Api, service: Service, pump: StreamPump, handler: RecordingHandler, replica: LaggingReplica,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    visitor = api.visit()
    chat = api.chat(visitor, "one")["chat"]
    pump.drain()
    header = (f"CHAT#{chat['id']}", "#CHAT")
    replica.lag(*header)  # the replica still has the header without the next message
    api.say(visitor, chat["id"], "two")
    writes = CountingWrites(replica, monkeypatch)
    replica.calls.clear()
    pump.drain()
    assert replica.calls["GetItem eventual CHAT#"] == 1 and replica.calls["GetItem consistent CHAT#"] == 1
    assert writes.headers == [], "the header already held the message: nothing to write"

    # A replica that has not seen the header at all: the chat is not taken for erased.
    second = api.chat(visitor, "another chat")["chat"]
    replica.stale[(f"CHAT#{second['id']}", "#CHAT")] = None
    pump.drain()
    assert all(r == {"batchItemFailures": []} for r in handler.results), handler.results
    del replica.stale[header]  # the replica caught up with the first chat
    texts = {c["id"]: [m["text"] for m in c["messages"]] for c in api.chats_of(visitor.user_id)}
    assert texts == {chat["id"]: ["one", "two"], second["id"]: ["another chat"]}
    stored = service.table.snapshot()
    assert any(pk == f"CHAT#{second['id']}" and sk.startswith("M#") for pk, sk in stored), json.dumps(texts)


# boot: a returning device is read eventually consistent (R4) ----------------------------


def _device_key(veil_id: str) -> tuple[str, str]:
    return f"DEVICE#{device_handle(veil_id)}", "#DEVICE"


def test_a_device_the_replica_has_not_seen_is_read_again_and_keeps_its_session(
    api: Api, replica: LaggingReplica
) -> None:
    first = ok(api.boot())
    replica.stale[_device_key(first["veilId"])] = None
    again = ok(api.boot(veil_id=first["veilId"]))
    assert (again["veilId"], again["user"]["id"]) == (first["veilId"], first["user"]["id"])
    assert again["session"]["id"] == first["session"]["id"]
    assert replica.calls["GetItem eventual DEVIC"] == 1 and replica.calls["GetItem consistent DEVIC"] == 1


def test_a_stale_ended_session_is_a_retry_that_continues_the_live_one(
    api: Api, service: Service, replica: LaggingReplica
) -> None:
    first = ok(api.boot())
    service.clock.advance(SESSION_TIMEOUT + 1)
    replica.lag(*_device_key(first["veilId"]))  # the replica keeps the ended session
    second = ok(api.boot(veil_id=first["veilId"]))  # another tab starts the next session
    assert second["session"]["id"] != first["session"]["id"]
    third = ok(api.boot(veil_id=first["veilId"]))
    assert third["session"]["id"] == second["session"]["id"], "the live session continues (R4.1)"
    assert third["user"]["id"] == first["user"]["id"]


def test_a_returning_visitors_new_session_is_two_conditional_writes(
    api: Api, service: Service, replica: LaggingReplica, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ok(api.boot())
    service.clock.advance(SESSION_TIMEOUT + 1)
    sent: list[str] = []
    inner = replica._client
    for name in ("put_item", "transact_write_items", "update_item"):
        monkeypatch.setattr(
            replica, name, lambda _name=name, **kw: (sent.append(_name), getattr(inner, _name)(**kw))[1], raising=False
        )
    again = ok(api.boot(veil_id=first["veilId"]))
    assert again["user"]["id"] == first["user"]["id"] and again["session"]["id"] != first["session"]["id"]
    assert sent == ["put_item", "put_item"], "the user, then its device: no transaction, no failed write"
    assert ok(api.session(again["sessionToken"], "GET", "/v1/session"))["user"]["id"] == first["user"]["id"]
