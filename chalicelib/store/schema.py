"""The table, as one source of truth for the app, the local stack, tests and infra/.

One table, keys `PK`/`SK`, streams NEW_AND_OLD_IMAGES. Item layout
(`keys.py` builds every key):

| item | PK | SK |
| --- | --- | --- |
| user | `USER#<id>` | `#USER` |
| memberId claim | `MEMBER#<memberId>` | `#MEMBER` |
| device + its session | `DEVICE#<hash of veilId>` | `#DEVICE` |
| messenger id claim | `EXT#<channel>#<externalId>` | `#EXT` |
| chat (header) | `CHAT#<chatId>` | `#CHAT` |
| message | `CHAT#<chatId>` | `M#<messageId>` |
| chat listed under its owner | `USER#<owner>` | `C#<chatId>` |
| event | `USER#<owner>` | `E#<eventId>` |
| delivery | `USER#<owner>` | `D#<campaignId>` |
| login record (R5.5) | `USER#<member user>` | `L#<loginId>` |
| unification | `UNIF#<id>` | `#UNIF` |
| members holding a contact value (R6) | `MCONTACT#<field>#<value>` | `#MEMBERS` |
| Idempotency-Key receipt | `IDEM#<hash of scope and key>` | `#IDEM` |

Ids are time-ordered, so a partition's `C#`/`E#` items list oldest first.

GSIs (all sparse; they only nominate: every reader confirms on the base item,
so they project keys only, or the few attributes a reader filters on):
- `gsi1` `g1pk`/`g1sk`: `CONTACT#mobileNumber#<e164>` → un-unified users holding
  it (R9.3; a placeholder value is sharded); `USTATUS#<status>#<shard>` →
  unifications by status and creation, write-sharded over `keys.SHARDS`.
- `gsi2` `g2pk`/`g2sk`: `CONTACT#email#<email>` → un-unified users holding it;
  `USRC#<user>` → unifications of a source; `DUSER#<user>` → a user's devices;
  `RSUBJ#<user>` → receipts about a user.
- `gsi3` `g3pk`/`g3sk`: `UTGT#<user>` → unifications of a target member, with
  their status and source (R7.4 runs the deferred ones).
- `gsi4` `g4pk`/`g4sk`: `DUE#<kind>#<shard>` → work that comes due, by time:
  a completed move's originals to delete after its grace period (R3.3).
"""

from __future__ import annotations

import contextlib
from typing import Any

DEFAULT_TABLE_NAME = "unification"
TTL_ATTRIBUTE = "ttl"

GSIS: tuple[tuple[str, str, str], ...] = (
    ("gsi1", "g1pk", "g1sk"),
    ("gsi2", "g2pk", "g2sk"),
    ("gsi3", "g3pk", "g3sk"),
    ("gsi4", "g4pk", "g4sk"),
)
# What each index copies of an item beside the keys (the rest is read from the base item).
PROJECTIONS: dict[str, dict[str, Any]] = {
    "gsi1": {"ProjectionType": "KEYS_ONLY"},
    "gsi2": {"ProjectionType": "KEYS_ONLY"},
    "gsi3": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status", "sourceUserId"]},
    "gsi4": {"ProjectionType": "KEYS_ONLY"},
}


def table_definition(table_name: str = DEFAULT_TABLE_NAME) -> dict[str, Any]:
    """Arguments of CreateTable (also rendered into the CloudFormation template)."""
    attributes = [("PK", "S"), ("SK", "S")]
    for _, pk, sk in GSIS:
        attributes += [(pk, "S"), (sk, "S")]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": PROJECTIONS[name],
            }
            for name, pk, sk in GSIS
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def create_table(client: Any, table_name: str = DEFAULT_TABLE_NAME) -> str:
    """Create the table if missing; returns its latest stream ARN."""
    with contextlib.suppress(client.exceptions.ResourceInUseException):
        client.create_table(**table_definition(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name)
    arn: str = client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    return arn


def enable_ttl(client: Any, table_name: str = DEFAULT_TABLE_NAME) -> None:
    """Devices of long-gone visitors expire through TTL (see `codec.DEVICE_RETENTION`)."""
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
