"""Sessions (R4) on a clock the test moves: one device, 60 s without activity ends it."""

from __future__ import annotations

from datetime import datetime, timedelta

from .conftest import SESSION_TIMEOUT, Service
from .support import Api, Table, ok, refused


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_r4_1_a_first_boot_starts_an_anonymous_session(api: Api, service: Service) -> None:
    body = ok(api.boot())
    assert body["user"]["type"] == "anonymous"
    assert body["veilId"] and body["sessionToken"]
    assert body["user"]["veilIds"] == [body["veilId"]]
    assert body["session"]["loggedIn"] is False
    assert body["unification"] is None
    expires = at(body["session"]["expiresAt"])
    assert expires - service.clock.moment <= timedelta(seconds=SESSION_TIMEOUT)
    assert expires - service.clock.moment > timedelta(seconds=SESSION_TIMEOUT - 1)
    assert len(body["sessionToken"]) >= 40, "the token carries at least 256 random bits"


def test_r4_1_a_veil_id_the_service_never_issued_is_replaced(api: Api, table: Table) -> None:
    """veilIds are issued by the service (issue 10, item 1): a client-chosen one is replaced."""
    for chosen in ("a", "device-1234", "v_" + "A" * 32):
        body = ok(api.boot(veil_id=chosen))
        assert body["veilId"] != chosen and body["veilId"].startswith("v_")
        assert len(body["veilId"]) >= 2 + 32, "at least 192 random bits, base64url"
        assert body["user"]["veilIds"] == [body["veilId"]]
        again = ok(api.boot(veil_id=body["veilId"]))
        assert again["veilId"] == body["veilId"] and again["user"]["id"] == body["user"]["id"]


def test_r4_1_the_same_device_within_its_session_is_the_same_session_and_user(api: Api, service: Service) -> None:
    first = ok(api.boot())
    service.clock.advance(SESSION_TIMEOUT - 5)
    again = ok(api.boot(veil_id=first["veilId"]))
    assert again["user"]["id"] == first["user"]["id"]
    assert again["session"]["id"] == first["session"]["id"]
    assert again["session"]["expiresAt"] > first["session"]["expiresAt"], "a boot is activity"


def test_r4_1_many_boots_of_one_device_keep_one_session_and_the_latest_tokens(api: Api) -> None:
    """Each boot of a live session adds its token in one conditional write; past the
    session's token cap (20) the oldest tokens are dropped and the session goes on."""
    first = ok(api.boot())
    tokens = [first["sessionToken"]]
    for _ in range(25):
        again = ok(api.boot(veil_id=first["veilId"]))
        assert (again["session"]["id"], again["user"]["id"]) == (first["session"]["id"], first["user"]["id"])
        tokens.append(again["sessionToken"])
    for token in tokens[-20:]:
        assert ok(api.session(token, "GET", "/v1/session"))["session"]["id"] == first["session"]["id"]
    for token in tokens[:-20]:
        refused(api.session(token, "GET", "/v1/session"), 401, "unauthorized")


def test_r4_1_a_returning_boot_with_a_typed_profile_keeps_the_session(api: Api, service: Service) -> None:
    first = api.visit()
    again = ok(api.boot(veil_id=first.veil_id, profile={"name": "Mango135", "email": "mango@example.com"}))
    assert again["user"]["id"] == first.user_id and again["user"]["type"] == "lead"  # R1.2: contact info makes a lead
    assert again["user"]["profile"]["email"] == "mango@example.com" and again["user"]["verifiedFields"] == []
    assert ok(api.session(first.token, "GET", "/v1/session"))["user"]["type"] == "lead"


def test_r4_1_every_call_counts_as_activity(api: Api, service: Service) -> None:
    visitor = api.visit()
    for _ in range(3):
        service.clock.advance(SESSION_TIMEOUT - 5)
        session = ok(api.session(visitor.token, "GET", "/v1/session"))
        assert session["user"]["id"] == visitor.user_id
    service.clock.advance(SESSION_TIMEOUT - 5)
    api.track(visitor, "PageView")
    service.clock.advance(SESSION_TIMEOUT - 5)
    # Five times almost the timeout have passed since the boot: only activity kept the session alive.
    assert ok(api.session(visitor.token, "GET", "/v1/session"))["user"]["id"] == visitor.user_id


def test_r4_1_a_session_ends_after_the_timeout_without_activity(api: Api, service: Service, table: Table) -> None:
    visitor = api.visit()
    service.clock.advance(SESSION_TIMEOUT + 1)
    with table.unchanged():
        refused(api.session(visitor.token, "GET", "/v1/session"), 401, "unauthorized")
        refused(api.session(visitor.token, "POST", "/v1/session/chats", {"text": "hi"}), 401, "unauthorized")


def test_r4_1_the_session_timeout_is_configurable(api: Api, service: Service) -> None:
    service.configure(SESSION_TIMEOUT_SECONDS="5")
    visitor = api.visit()
    service.clock.advance(4)
    ok(api.session(visitor.token, "GET", "/v1/session"))
    service.clock.advance(6)
    refused(api.session(visitor.token, "GET", "/v1/session"), 401, "unauthorized")


def test_r4_1_an_ended_session_is_not_revived_by_its_old_token_after_a_new_boot(api: Api, service: Service) -> None:
    visitor = api.visit()
    service.clock.advance(SESSION_TIMEOUT + 1)
    fresh = api.visit(veil_id=visitor.veil_id)
    ok(api.session(fresh.token, "GET", "/v1/session"))
    refused(api.session(visitor.token, "GET", "/v1/session"), 401, "unauthorized")


def test_r4_2_after_logout_the_member_stays_until_the_session_ends(api: Api, service: Service) -> None:
    member = api.put_member("m-taro", {"name": "Taro Yamada"})
    visitor = api.visit()
    chat = api.chat(visitor, "before login")["chat"]
    ok(api.login(visitor, "m-taro"))
    out = ok(api.session(visitor.token, "POST", "/v1/session/logout"))
    assert out["session"]["loggedIn"] is False
    assert out["user"]["id"] == member["id"], "R4.2: still the member"
    session = ok(api.session(visitor.token, "GET", "/v1/session"))
    assert (session["user"]["id"], session["session"]["loggedIn"]) == (member["id"], False)
    started = api.chat(visitor, "after logout")
    assert started["chat"]["userId"] == member["id"], "chats stay those of the member"
    assert started["message"]["personName"] == "Taro Yamada"
    chats = ok(api.session(visitor.token, "GET", "/v1/session/chats"))["chats"]
    assert {c["id"] for c in chats} == {chat["id"], started["chat"]["id"]}
    again = ok(api.boot(veil_id=visitor.veil_id))
    assert again["user"]["id"] == member["id"], "a boot in the same session is still the member"


def test_r4_2_logout_twice_is_harmless(api: Api) -> None:
    api.put_member("m-taro", {"name": "Taro"})
    visitor = api.visit()
    ok(api.login(visitor, "m-taro"))
    first = ok(api.session(visitor.token, "POST", "/v1/session/logout"))
    second = ok(api.session(visitor.token, "POST", "/v1/session/logout"))
    assert first["user"]["id"] == second["user"]["id"]
    assert second["session"]["loggedIn"] is False


def test_r4_3_an_anonymous_device_returns_as_the_same_user(api: Api, service: Service) -> None:
    visitor = api.visit()
    service.clock.advance(SESSION_TIMEOUT + 1)
    again = ok(api.boot(veil_id=visitor.veil_id))
    assert again["user"]["id"] == visitor.user_id
    assert again["user"]["type"] == "anonymous"
    assert again["sessionToken"] != visitor.token


def test_r4_3_a_lead_device_returns_as_the_same_lead(api: Api, service: Service) -> None:
    visitor = api.visit()
    chat = api.chat(visitor)["chat"]
    service.clock.advance(SESSION_TIMEOUT + 1)
    again = api.visit(veil_id=visitor.veil_id)
    assert (again.user_id, again.user["type"]) == (visitor.user_id, "lead")
    chats = ok(api.session(again.token, "GET", "/v1/session/chats"))["chats"]
    assert [c["id"] for c in chats] == [chat["id"]]


def test_r4_3_a_member_is_never_continued_without_a_login(api: Api, service: Service, table: Table) -> None:
    """Converted in place (R5.2): after the session ends the device starts over."""
    visitor = api.visit()
    member = ok(api.login(visitor, "m-new"))["user"]
    assert member["id"] == visitor.user_id
    service.clock.advance(SESSION_TIMEOUT + 1)
    again = api.visit(veil_id=visitor.veil_id)
    assert again.user_id not in (visitor.user_id, member["id"])
    assert again.user["type"] == "anonymous"
    assert ok(api.session(again.token, "GET", "/v1/session/chats"))["chats"] == []


def test_r4_3_a_device_whose_user_was_unified_starts_over(api: Api, service: Service) -> None:
    member = api.put_member("m-taro", {"name": "Taro"})
    visitor = api.visit()
    api.chat(visitor)
    ok(api.login(visitor, "m-taro"))
    ok(api.session(visitor.token, "POST", "/v1/session/logout"))
    service.clock.advance(SESSION_TIMEOUT + 1)
    again = api.visit(veil_id=visitor.veil_id)
    assert again.user_id not in (visitor.user_id, member["id"]), "a NEW anonymous user"
    assert again.user["type"] == "anonymous"
    assert api.get_user(member["id"])["user"]["type"] == "member", "the member itself is untouched"


def test_r4_3_a_member_returning_with_its_member_id_continues_as_the_member(api: Api, service: Service) -> None:
    member = api.put_member("m-taro", {"name": "Taro"})
    visitor = api.visit(member_id="m-taro")
    service.clock.advance(SESSION_TIMEOUT + 1)
    again = api.visit(veil_id=visitor.veil_id, member_id="m-taro")
    assert again.user_id == member["id"]


def test_consent_flags_beside_the_profile_on_boot_and_login_are_applied(api: Api) -> None:
    """Issue 10, item 6: they answered 200 and stayed false. R3.7: a merge keeps them."""
    booted = ok(api.call("POST", "/v1/boot", {"unsubscribeEmail": True}, api.credentials.plugin_headers))
    assert booted["user"]["unsubscribeEmail"] is True and booted["user"]["unsubscribeTexting"] is False
    again = ok(
        api.call(
            "POST", "/v1/boot", {"veilId": booted["veilId"], "unsubscribeTexting": True}, api.credentials.plugin_headers
        )
    )
    assert again["user"]["id"] == booted["user"]["id"]
    assert (again["user"]["unsubscribeEmail"], again["user"]["unsubscribeTexting"]) == (True, True)
    api.put_member("m-consent", {"name": "Taro"})
    login = api.session(again["sessionToken"], "POST", "/v1/session/login", {"memberId": "m-consent"})
    member = ok(login)["user"]
    assert (member["unsubscribeEmail"], member["unsubscribeTexting"]) == (True, True), "R3.7: never weakens"
    fresh = ok(api.boot())
    login = api.session(
        fresh["sessionToken"], "POST", "/v1/session/login", {"memberId": "m-new-consent", "unsubscribeEmail": True}
    )
    assert ok(login)["user"]["unsubscribeEmail"] is True
