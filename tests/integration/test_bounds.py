"""Issue 10, item 10: no list on one item grows without bound. Each bound driven past:
a member's devices (test_device_secrets.py), the members one contact value's index
item lists, the histories moving into one member, the open unifications naming one
user."""

from __future__ import annotations

from typing import Any

from chalicelib.config import Settings

from .conftest import Service
from .support import Api, Table, ok, refused


def raw(table: Table, pk: str, sk: str) -> dict[str, Any]:
    item: dict[str, Any] = table.client.get_item(TableName=table.name, Key={"PK": {"S": pk}, "SK": {"S": sk}})["Item"]
    return item


def set_list(table: Table, user_id: str, attribute: str, values: list[str]) -> None:
    """Fill one of a user's lists behind the service's back (and bump its version, as a write would)."""
    table.client.update_item(
        TableName=table.name,
        Key={"PK": {"S": f"USER#{user_id}"}, "SK": {"S": "#USER"}},
        UpdateExpression="SET #a = :v ADD version :one",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": {"L": [{"S": v} for v in values]}, ":one": {"N": "1"}},
    )


def test_a_contact_value_shared_by_25_members_lists_20_and_counts_the_rest(api: Api, table: Table) -> None:
    members = [api.put_member(f"m-shared-{i}", {"name": f"M{i}", "email": "desk@shop.example"}) for i in range(25)]
    item = raw(table, "MCONTACT#email#desk@shop.example", "#MEMBERS")
    assert len(item["members"]["SS"]) == 20 and item["extra"]["N"] == "5"
    lead = api.create_lead({"name": "Lead", "email": "desk@shop.example"})
    assert lead["unificationCandidate"] is None, "a value this shared never matches (R6.4)"
    for member in members[:3] + members[-3:]:  # both listed and counted members move away
        ok(api.admin("PATCH", f"/v1/users/{member['id']}", {"profile": {"email": f"{member['id']}@shop.example"}}))
    item = raw(table, "MCONTACT#email#desk@shop.example", "#MEMBERS")
    assert len(item["members"]["SS"]) + int(item["extra"]["N"]) == 19, item
    assert api.create_lead({"name": "Lead", "email": "desk@shop.example"})["unificationCandidate"] is None


def test_a_member_with_100_histories_moving_in_answers_503_for_one_more_and_changes_nothing(
    api: Api, table: Table
) -> None:
    member = api.put_member("m-busy", {"name": "Taro"})
    set_list(table, member["id"], "movingSources", [f"u_source{i:03d}" for i in range(100)])
    visitor = api.visit()
    for n in range(Settings().move_in_commit_items + 1):
        api.track(visitor, f"PageView {n}")  # a history to move afterwards
    with table.unchanged(ignore_activity=True):
        reply = api.login(visitor, "m-busy")
    error = refused(reply, 503, "unavailable")
    assert "moving in" in error["message"]
    quiet = api.visit()  # no chats, no events: nothing to move, complete at once (R10)
    login = ok(api.login(quiet, "m-busy"))
    assert login["unification"]["status"] == "completed" and login["user"]["id"] == member["id"]
    small = api.visit()  # a few events: copied inside the unification, complete at once too
    api.track(small, "PageView")
    login = ok(api.login(small, "m-busy"))
    assert login["unification"]["status"] == "completed"
    assert [e["name"] for e in api.events_of(member["id"])] == ["PageView"]


def test_a_user_named_in_50_open_unifications_gets_no_51st(api: Api, table: Table, service: Service) -> None:
    member = api.put_member("m-popular", {"name": "Taro", "mobileNumber": "090-1234-5678"})
    set_list(table, member["id"], "pendingUnifications", [f"un_open{i:03d}" for i in range(50)])
    visitor = api.visit()
    api.chat(visitor, "hello")
    with table.unchanged(ignore_activity=True):
        reply = api.admin("PATCH", f"/v1/users/{visitor.user_id}", {"profile": {"mobileNumber": "09012345678"}})
        created = api.admin("POST", "/v1/users", {"profile": {"name": "Lead", "mobileNumber": "09012345678"}})
    assert "50 open unifications" in refused(reply, 409, "invalid_state")["message"]
    refused(created, 409, "invalid_state")
    csv = b"name,mobileNumber\nLead A,090-1234-5678\nLead B,080-9999-0000\n"
    headers = {**api.credentials.admin_headers, "Content-Type": "text/csv"}
    result = ok(api.call("POST", "/v1/imports", raw=csv, headers=headers))["import"]
    assert result["leads"] == 1 and result["errors"] == [
        {"row": 2, "message": f"user {member['id']} already has 50 open unifications: approve or reject some first"}
    ]
