"""A workload of DynamoDB requests in the shapes the store sends (`chalicelib/store/`),
written out request by request so that every shape is there on purpose: transactions
whose conditions pass and fail (with ALL_OLD on failure), conditional Put/Update/Delete,
Query with begins_with, both directions and pagination, GSI queries paged, BatchGetItem
with present and missing keys, BatchWriteItem puts and deletes, UpdateItem ADD/DELETE
on string sets (creating the item, emptying the set), ReturnValues of every kind."""

from __future__ import annotations

import json
from typing import Any

Request = tuple[str, dict[str, Any]]


def S(value: str) -> dict[str, str]:
    return {"S": value}


def N(value: int) -> dict[str, str]:
    return {"N": str(value)}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": S(pk), "SK": S(sk)}


def user(n: int, version: int = 0, **extra: Any) -> dict[str, Any]:
    item = {
        **key(f"USER#u{n}", "#USER"),
        "kind": S("user"),
        "id": S(f"u{n}"),
        "version": N(version),
        "name": S(f"ユーザー {n}"),
        "g1pk": S(f"PHONE#+8190000000{n:02d}"),
        "g1sk": S(f"2026-11-{n % 28 + 1:02d}T00:00:00Z"),
        "g2pk": S(f"EMAIL#u{n}@example.org"),
        "g2sk": S("2026-11-01T00:00:00Z"),
        "tags": {"SS": ["a", "b"]},
        "profile": {"M": {"name": S(f"User {n}"), "verified": {"BOOL": True}, "score": N(n * 7)}},
        "veilIds": {"L": [S(f"v{n}"), {"NULL": True}]},
    }
    item.update(extra)
    return item


def event(owner: str, n: int) -> dict[str, Any]:
    return {
        **key(f"USER#{owner}", f"E#{n:04d}"),
        "kind": S("event"),
        "name": S("page_view"),
        "properties": S(json.dumps({"path": f"/p/{n}"})),
        "createdAt": S(f"2026-11-28T17:{n // 60:02d}:{n % 60:02d}Z"),
    }


def unification(n: int, status: str) -> dict[str, Any]:
    return {
        **key(f"UNIF#x{n}", "#UNIF"),
        "kind": S("unification"),
        "status": S(status),
        "version": N(0),
        "g1pk": S(f"USTATUS#{status}"),
        "g1sk": S(f"2026-11-28T00:00:{n:02d}Z#x{n}"),
        "g2pk": S(f"USRC#u{n}"),
        "g2sk": S(f"x{n}"),
        "g3pk": S("UTGT#u0"),
        "g3sk": S(f"x{n}"),
    }


def requests(table: str) -> list[Request]:
    out: list[Request] = []
    add = out.append
    # users, with conditional creation: 5 pass, 1 fails (exists)
    for n in range(5):
        add(("PutItem", {"TableName": table, "Item": user(n), "ConditionExpression": "attribute_not_exists(PK)"}))
    add(
        (
            "PutItem",
            {
                "TableName": table,
                "Item": user(1, name=S("again")),
                "ConditionExpression": "attribute_not_exists(PK)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    )
    # a history of 30 events and 3 chats for u1, 4 events for u2, in batch writes
    history = [event("u1", n) for n in range(30)] + [event("u2", n) for n in range(4)]
    history += [{**key("USER#u1", f"C#c{n}"), "kind": S("chatRef"), "chatId": S(f"c{n}")} for n in range(3)]
    for start in range(0, len(history), 25):
        add(("BatchWriteItem", {"RequestItems": {table: [{"PutRequest": {"Item": i}} for i in history[start:]][:25]}}))
    # unifications in every status the service lists
    for n, status in enumerate(["running", "running", "completed", "deferred", "pending_approval", "running"]):
        add(("PutItem", {"TableName": table, "Item": unification(n, status)}))
    # a transaction that commits: version checks, an Update, a ConditionCheck, a Put
    add(
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Update": {
                            "TableName": table,
                            "Key": key("USER#u1", "#USER"),
                            "UpdateExpression": "SET version = :v1, unifiedInto = :m REMOVE g1pk, g1sk",
                            "ConditionExpression": "version = :v0 AND attribute_not_exists(unifiedInto)",
                            "ExpressionAttributeValues": {":v0": N(0), ":v1": N(1), ":m": S("u0")},
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": key("USER#u0", "#USER"),
                            "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(unifiedInto)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": table,
                            "Item": unification(9, "running"),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {"Delete": {"TableName": table, "Key": key("USER#u2", "E#0003")}},
                ]
            },
        )
    )
    # transactions that fail: a stale version (ALL_OLD back), and a Put over an existing item
    add(
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Put": {
                            "TableName": table,
                            "Item": user(3, version=1),
                            "ConditionExpression": "version = :v",
                            "ExpressionAttributeValues": {":v": N(5)},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {"Put": {"TableName": table, "Item": event("u3", 1)}},
                ]
            },
        )
    )
    add(
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": table, "Item": event("u4", 1)}},
                    {
                        "Put": {
                            "TableName": table,
                            "Item": unification(0, "completed"),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            },
        )
    )
    # conditional updates: the session's token check (pass, then fail with ALL_OLD)
    device = {**key("VEIL#v1", "#DEVICE"), "kind": S("device"), "tokenHashes": {"SS": ["h1"]}, "expiresAt": S("2030")}
    add(("PutItem", {"TableName": table, "Item": device}))
    for now in ("2029", "2031"):
        add(
            (
                "UpdateItem",
                {
                    "TableName": table,
                    "Key": key("VEIL#v1", "#DEVICE"),
                    "UpdateExpression": "SET lastSeenAt = :now ADD activity :one",
                    "ConditionExpression": "contains(tokenHashes, :h) AND expiresAt > :now",
                    "ExpressionAttributeValues": {":now": S(now), ":h": S("h1"), ":one": N(1)},
                    "ReturnValues": "ALL_NEW",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                },
            )
        )
    # the contact index: ADD to a set (creates the item), ADD again, DELETE one, DELETE the last
    contact = key("MCONTACT#phone#+819000000001", "#MEMBERS")
    for op, ids in (("ADD", ["u1"]), ("ADD", ["u2", "u3"]), ("DELETE", ["u2"]), ("DELETE", ["u1", "u3"])):
        add(
            (
                "UpdateItem",
                {
                    "TableName": table,
                    "Key": contact,
                    "UpdateExpression": f"{op} members :ids",
                    "ExpressionAttributeValues": {":ids": {"SS": ids}},
                },
            )
        )
    add(
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": key("MCONTACT#email#nobody@example.org", "#MEMBERS"),
                "UpdateExpression": "DELETE members :ids",
                "ExpressionAttributeValues": {":ids": {"SS": ["u9"]}},
            },
        )
    )
    add(("GetItem", {"TableName": table, "Key": contact, "ConsistentRead": True}))
    # updates with every ReturnValues
    for n, returned in enumerate(["NONE", "ALL_OLD", "UPDATED_OLD", "UPDATED_NEW", "ALL_NEW"]):
        add(
            (
                "UpdateItem",
                {
                    "TableName": table,
                    "Key": key("USER#u4", "#USER"),
                    "UpdateExpression": "SET version = version + :one, #n = :name",
                    "ExpressionAttributeNames": {"#n": "name"},
                    "ExpressionAttributeValues": {":one": N(1), ":name": S(f"renamed {n}")},
                    "ReturnValues": returned,
                },
            )
        )
    # reads: GetItem (present, missing, projected), BatchGetItem with a missing key
    add(("GetItem", {"TableName": table, "Key": key("USER#u1", "#USER"), "ConsistentRead": True}))
    add(("GetItem", {"TableName": table, "Key": key("USER#u99", "#USER")}))
    add(
        (
            "GetItem",
            {
                "TableName": table,
                "Key": key("USER#u0", "#USER"),
                "ProjectionExpression": "PK, version, profile.#n",
                "ExpressionAttributeNames": {"#n": "name"},
            },
        )
    )
    keys = [key(f"USER#u{n}", "#USER") for n in (0, 1, 2, 3, 4, 98)] + [key("UNIF#x9", "#UNIF")]
    add(("BatchGetItem", {"RequestItems": {table: {"Keys": keys, "ConsistentRead": True}}}))
    # Query: begins_with, both directions, pages of 7, a projection of the keys, counts
    for forward in (True, False):
        for prefix in ("E#", "C#", "E#001", "Z#"):
            add(
                (
                    "Query",
                    {
                        "TableName": table,
                        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
                        "ExpressionAttributeValues": {":pk": S("USER#u1"), ":p": S(prefix)},
                        "ConsistentRead": True,
                        "Limit": 7,
                        "ScanIndexForward": forward,
                        "PAGINATE": True,
                    },
                )
            )
    add(
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :a AND :b",
                "ExpressionAttributeValues": {":pk": S("USER#u1"), ":a": S("E#0005"), ":b": S("E#0012")},
                "ProjectionExpression": "PK, SK",
                "PAGINATE": True,
                "Limit": 3,
            },
        )
    )
    add(
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "PK = :pk AND SK > :a",
                "ExpressionAttributeValues": {":pk": S("USER#u2"), ":a": S("E#0000")},
                "Select": "COUNT",
            },
        )
    )
    # GSI queries: statuses paged by 2, a contact value, a target member
    for status in ("running", "completed", "deferred", "cancelled"):
        add(
            (
                "Query",
                {
                    "TableName": table,
                    "IndexName": "gsi1",
                    "KeyConditionExpression": "g1pk = :pk",
                    "ExpressionAttributeValues": {":pk": S(f"USTATUS#{status}")},
                    "Limit": 2,
                    "ScanIndexForward": status != "running",
                    "PAGINATE": True,
                },
            )
        )
    add(
        (
            "Query",
            {
                "TableName": table,
                "IndexName": "gsi1",
                "KeyConditionExpression": "g1pk = :pk",
                "ExpressionAttributeValues": {":pk": S("PHONE#+819000000001")},
            },
        )
    )
    add(
        (
            "Query",
            {
                "TableName": table,
                "IndexName": "gsi3",
                "KeyConditionExpression": "g3pk = :pk AND begins_with(g3sk, :p)",
                "ExpressionAttributeValues": {":pk": S("UTGT#u0"), ":p": S("x")},
                "PAGINATE": True,
                "Limit": 4,
            },
        )
    )
    # the move's clean-up: batch deletes (one of a missing item), then the partition again
    deletes = [{"DeleteRequest": {"Key": key("USER#u1", f"E#{n:04d}")}} for n in range(0, 30, 2)]
    deletes.append({"DeleteRequest": {"Key": key("USER#u1", "E#9999")}})
    add(("BatchWriteItem", {"RequestItems": {table: deletes}}))
    add(
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
                "ExpressionAttributeValues": {":pk": S("USER#u1"), ":p": S("E#")},
                "ConsistentRead": True,
                "Limit": 10,
                "PAGINATE": True,
            },
        )
    )
    # conditional deletes: pass (ALL_OLD back) and fail
    for expected in (0, 7):
        add(
            (
                "DeleteItem",
                {
                    "TableName": table,
                    "Key": key("UNIF#x3", "#UNIF"),
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": N(expected)},
                    "ReturnValues": "ALL_OLD",
                },
            )
        )
    # a status change moves an item between gsi1 keys, then it is listed under both
    add(
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": key("UNIF#x0", "#UNIF"),
                "UpdateExpression": "SET #s = :s, g1pk = :pk",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": S("completed"), ":pk": S("USTATUS#completed")},
            },
        )
    )
    for status in ("running", "completed"):
        add(
            (
                "Query",
                {
                    "TableName": table,
                    "IndexName": "gsi1",
                    "KeyConditionExpression": "g1pk = :pk",
                    "ExpressionAttributeValues": {":pk": S(f"USTATUS#{status}")},
                },
            )
        )
    return out
