"""Every key and key prefix of the table and its indexes, in one place.

No other module outside `chalicelib/store/` names a prefix or an index: the
store offers intents (`unifications_with_status`, `users_holding`, ...).
Index keys that unrelated customers would share are write-sharded: a
unification's status key and a placeholder contact value's key spread over
`SHARDS` partitions by a hash of the item's own id, and readers gather them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..domain.matching import is_junk

Item = dict[str, Any]
SHARDS = 10  # at 1,000 unifying logins a second, 200 index writes a second per status key

# item kinds by their partition
USER, MEMBER, DEVICE, EXTERNAL = "USER#", "MEMBER#", "DEVICE#", "EXT#"
CHAT, UNIFICATION, CONTACT_INDEX, RECEIPT, FAILURE = "CHAT#", "UNIF#", "MCONTACT#", "IDEM#", "FAILURE#"
CONSOLE, ERASURE = "CONSOLE#", "ERASURE#"
WEBHOOKS, WEBHOOK_MESSAGES = "WEBHOOKS", "WHMSG#"
# sort-key prefixes within a user's partition
CHATS, EVENTS, DELIVERIES, LOGINS = "C#", "E#", "D#", "L#"
HISTORY_PREFIXES = (CHATS, EVENTS)
MESSAGES = "M#"
# kinds of work that comes due (gsi4)
CLEAN, ERASE = "clean", "erase"

# indexes: (name, partition attribute, sort attribute)
GSI1 = ("gsi1", "g1pk", "g1sk")  # users by phone; unifications by status
GSI2 = ("gsi2", "g2pk", "g2sk")  # users by email; unifications by source; devices and receipts by user
GSI3 = ("gsi3", "g3pk", "g3sk")  # unifications by target
GSI4 = ("gsi4", "g4pk", "g4sk")  # work that comes due: originals to delete, webhook retries
CONTACT_INDEXES = {"mobileNumber": GSI1, "email": GSI2}


def shard_of(item_id: str) -> int:
    return hashlib.sha256(item_id.encode()).digest()[0] % SHARDS


def user_key(user_id: str) -> Item:
    return {"PK": f"{USER}{user_id}", "SK": "#USER"}


def member_key(member_id: str) -> Item:
    return {"PK": f"{MEMBER}{member_id}", "SK": "#MEMBER"}


def device_key(handle: str) -> Item:
    """A device by the hash of its veilId (`domain.devices.device_handle`), never the veilId."""
    return {"PK": f"{DEVICE}{handle}", "SK": "#DEVICE"}


def external_key(channel: str, external_id: str) -> Item:
    return {"PK": f"{EXTERNAL}{channel}#{external_id}", "SK": "#EXT"}


def contact_key(field: str, value: str) -> Item:
    """The members holding one contact value (R6.1), read by BatchGetItem."""
    return {"PK": f"{CONTACT_INDEX}{field}#{value}", "SK": "#MEMBERS"}


def contact_of(pk: str) -> tuple[str, str]:
    _, field, value = pk.split("#", 2)
    return field, value


def chat_key(chat_id: str) -> Item:
    return {"PK": f"{CHAT}{chat_id}", "SK": "#CHAT"}


def chat_entry_key(owner_id: str, chat_id: str) -> Item:
    return {"PK": f"{USER}{owner_id}", "SK": f"{CHATS}{chat_id}"}


def message_key(chat_id: str, message_id: str) -> Item:
    return {"PK": f"{CHAT}{chat_id}", "SK": f"{MESSAGES}{message_id}"}


def event_key(owner_id: str, event_id: str) -> Item:
    return {"PK": f"{USER}{owner_id}", "SK": f"{EVENTS}{event_id}"}


def delivery_key(user_id: str, campaign_id: str) -> Item:
    return {"PK": f"{USER}{user_id}", "SK": f"{DELIVERIES}{campaign_id}"}


def login_key(user_id: str, login_id: str) -> Item:
    return {"PK": f"{USER}{user_id}", "SK": f"{LOGINS}{login_id}"}


def unification_key(unification_id: str) -> Item:
    return {"PK": f"{UNIFICATION}{unification_id}", "SK": "#UNIF"}


def receipt_key(receipt_id: str) -> Item:
    return {"PK": f"{RECEIPT}{receipt_id}", "SK": "#IDEM"}


def console_session_key(session_id: str) -> Item:
    return {"PK": f"{CONSOLE}{session_id}", "SK": "#SESSION"}


def erasure_key(erasure_id: str) -> Item:
    return {"PK": f"{ERASURE}{erasure_id}", "SK": "#ERASURE"}


def failure_key(source: str, key: str) -> Item:
    return {"PK": f"{FAILURE}{source}", "SK": key}


def user_partition(user_id: str) -> str:
    return f"{USER}{user_id}"


def owner_of(item: Item) -> str:
    return str(item["PK"]).removeprefix(USER)


# index entries ------------------------------------------------------------------------


def contact_search_keys(field: str, value: str) -> list[str]:
    """The index partitions holding the users with this contact value (R9.3): one, or
    every shard of a placeholder that thousands of customers type (R6.4)."""
    base = f"CONTACT#{field}#{value}"
    return [f"{base}#{shard}" for shard in range(SHARDS)] if is_junk(field, value) else [base]


def contact_index_entry(field: str, value: str, user_id: str) -> Item:
    base = f"CONTACT#{field}#{value}"
    pk = f"{base}#{shard_of(user_id)}" if is_junk(field, value) else base
    _, pk_attribute, sk_attribute = CONTACT_INDEXES[field]
    return {pk_attribute: pk, sk_attribute: user_id}


def status_keys(status: str) -> list[str]:
    return [f"USTATUS#{status}#{shard}" for shard in range(SHARDS)]


def unification_index_entries(unification_id: str, status: str, created: str, source: str, target: str) -> Item:
    """By status (sharded), by source, by target; each sorted by creation."""
    order = f"{created}#{unification_id}"
    return {
        "g1pk": f"USTATUS#{status}#{shard_of(unification_id)}",
        "g1sk": order,
        "g2pk": f"USRC#{source}",
        "g2sk": order,
        "g3pk": f"UTGT#{target}",
        "g3sk": order,
    }


def source_key(user_id: str) -> str:
    return f"USRC#{user_id}"


def target_key(user_id: str) -> str:
    return f"UTGT#{user_id}"


def device_owner_entry(user_id: str, handle: str) -> Item:
    """A device listed under its user (erasure finds a person's devices, R11)."""
    return {"g2pk": f"DUSER#{user_id}", "g2sk": handle} if user_id else {}


def devices_of_key(user_id: str) -> str:
    return f"DUSER#{user_id}"


def about_entry(subjects: tuple[str, ...], item_id: str) -> Item:
    """A receipt or webhook message listed under the user it is about (erasure, R11)."""
    return {"g2pk": f"ABOUT#{subjects[0]}", "g2sk": item_id} if subjects else {}


def about_key(user_id: str) -> str:
    return f"ABOUT#{user_id}"


def webhook_key(webhook_id: str) -> Item:
    return {"PK": WEBHOOKS, "SK": f"W#{webhook_id}"}


def webhook_message_key(webhook_id: str, created: str, message_id: str) -> Item:
    """A webhook's message, in one of its shards, sorted by creation."""
    return {"PK": f"{WEBHOOK_MESSAGES}{webhook_id}#{shard_of(message_id)}", "SK": f"{created}#{message_id}"}


def webhook_message_partitions(webhook_id: str) -> list[str]:
    return [f"{WEBHOOK_MESSAGES}{webhook_id}#{shard}" for shard in range(SHARDS)]


def webhook_message_of(pk: str, sk: str) -> tuple[str, str, str]:
    """(webhook id, creation, message id) of a message's key."""
    webhook_id = pk.removeprefix(WEBHOOK_MESSAGES).rsplit("#", 1)[0]
    created, _, message_id = sk.rpartition("#")
    return webhook_id, created, message_id


def due_keys(kind: str) -> list[str]:
    return [f"DUE#{kind}#{shard}" for shard in range(SHARDS)]


def due_entry(kind: str, item_id: str, at: str) -> Item:
    """Listed as due for `kind` of work at `at` (an ISO time), sharded by the item's id."""
    return {"g4pk": f"DUE#{kind}#{shard_of(item_id)}", "g4sk": f"{at}#{item_id}"}
