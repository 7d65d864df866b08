"""Issue 10, item 1: a veilId is a device secret. Whoever reads an answer or a token
learns no veilId of another device; veilIds are the service's own; what a veilId
grants after its session ended is R4.3's and nothing more."""

from __future__ import annotations

import base64

from .conftest import SESSION_TIMEOUT, Service
from .support import Api, Table, ok


def test_a_session_token_does_not_reveal_its_veil_id(api: Api, service: Service) -> None:
    visitor = api.visit()
    service.clock.advance(SESSION_TIMEOUT + 1)  # an expired token: still nothing to learn from it
    head = visitor.token.partition(".")[0]
    encoded = base64.urlsafe_b64encode(visitor.veil_id.encode()).decode().rstrip("=")
    assert visitor.veil_id not in visitor.token and encoded not in visitor.token
    assert visitor.veil_id not in base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("latin-1")


def test_the_table_keys_devices_by_a_hash_of_the_veil_id(api: Api, table: Table) -> None:
    visitor = api.visit()
    keys = [pk for pk, _ in table.snapshot()]
    assert not [k for k in keys if visitor.veil_id in k], keys


def test_customer_side_answers_list_only_the_callers_own_device(api: Api) -> None:
    """A member on three devices: each device's answers list that device alone."""
    api.put_member("m-devices", {"name": "Taro"})
    devices = [api.visit(member_id="m-devices") for _ in range(3)]
    for device in devices:
        for reply in (
            api.session(device.token, "GET", "/v1/session"),
            api.session(device.token, "POST", "/v1/session/logout"),
            api.boot(veil_id=device.veil_id),
        ):
            assert ok(reply)["user"]["veilIds"] == [device.veil_id]
    visitor = api.visit()
    login = ok(api.login(visitor, "m-devices"))
    assert login["user"]["veilIds"] == [visitor.veil_id], "a login that unifies shows the caller's device only"
    listed = api.get_user(devices[0].user_id)["user"]["veilIds"]
    assert set(listed) == {d.veil_id for d in devices} | {visitor.veil_id}, "the Open API lists them"


def test_after_its_session_ended_a_veil_id_continues_only_an_un_unified_visitor(api: Api, service: Service) -> None:
    """R4.3, as decided: the device's anonymous user or lead comes back; a member never
    does without a login, and a device whose user was unified starts over."""
    lead = api.visit()
    api.chat(lead)
    api.put_member("m-ended", {"name": "Taro"})
    member = api.visit(member_id="m-ended")
    unified = api.visit()
    ok(api.login(unified, "m-ended"))
    service.clock.advance(SESSION_TIMEOUT + 1)
    assert ok(api.boot(veil_id=lead.veil_id))["user"]["id"] == lead.user_id
    for device in (member, unified):
        again = ok(api.boot(veil_id=device.veil_id))
        assert again["user"]["type"] == "anonymous" and again["user"]["id"] not in (member.user_id, unified.user_id)
        assert again["veilId"] == device.veil_id


def test_a_members_device_list_is_bounded(api: Api) -> None:
    """Issue 10, item 10: each new-device login appended a veilId without bound."""
    api.put_member("m-many", {"name": "Taro"})
    veils = [api.visit(member_id="m-many").veil_id for _ in range(14)]
    listed = api.get_user(api.visit(member_id="m-many").user_id)["user"]["veilIds"]
    assert len(listed) == 10 and veils[-9:] == listed[:9]
