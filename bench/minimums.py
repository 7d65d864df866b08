"""The fewest DynamoDB requests each operation needs in this data model, and why.

Read from `chalicelib/store/schema.py` as of commit fa4bde0 (one table; a
device item holds its session and token hashes; a memberId claim item points
at its user; a user counts its deliveries; a `MCONTACT#<field>#<value>` item
lists the ids of the members holding a contact value; chats, events,
deliveries and login records live in their owner's partition; GSIs project
every attribute) and from the rules the services enforce: every write that
depends on a read is conditional, a unification commits in one
TransactWriteItems, an index only nominates (the member is read, or the
conditional write confirms it).

Batch limits used: BatchGetItem 100 keys, TransactWriteItems 100 actions
(all or nothing, so only writes that are each conditional and independent are
packed together). CSV rows are counted per row in blocks of 100 rows.

An operation passes when it makes at most its minimum + 1 requests. Counts
are for the happy path (no conflict, no retry). For stream records the
minimum is for the whole drain that follows the operation; the table shows
it divided by the number of records the drain handled, as the measurement
is, and the row passes when the whole drain makes at most its minimum + 1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Minimum:
    title: str
    by_api: dict[str, float]
    why: str

    @property
    def requests(self) -> float:
        return sum(self.by_api.values())


ALLOWANCE = 1  # the target: measured <= minimum + ALLOWANCE

_LOGIN_UNIFIES = Minimum(
    "login that unifies",
    {"UpdateItem": 1, "BatchGetItem": 1, "GetItem": 1, "TransactWriteItems": 1},
    "1 conditional UpdateItem on the device validates the token and counts activity (ALL_NEW: the session's user id)"
    " + 1 BatchGetItem [session user, memberId claim] + 1 GetItem member (its id comes from the claim)"
    " + 1 TransactWriteItems [device, frozen source, member, record, login record]. The source has no"
    " deliveries (its deliveryCount says so: no Query, R3.2). History moves afterwards, so the count does not"
    " depend on it (R10).",
)

MINIMUM: dict[str, Minimum] = {
    "boot_new": Minimum(
        "boot, new device",
        {"TransactWriteItems": 1},
        "Nothing to read (the veilId is new): 1 TransactWriteItems [Put device with its session"
        " (attribute_not_exists), Put anonymous user].",
    ),
    "boot_returning_live": Minimum(
        "boot, returning device, live session",
        {"UpdateItem": 1, "GetItem": 1},
        "1 UpdateItem on the device, conditional on the session being live (expiresAt > now), adding the new"
        " token hash and extending it (ALL_NEW gives the user id; a failed condition means a new session)"
        " + 1 GetItem of the user the answer carries (R4.4: one more only if it was unified).",
    ),
    "boot_returning_ended": Minimum(
        "boot, returning device, session ended",
        {"GetItem": 2, "TransactWriteItems": 1},
        "1 GetItem device (its user; the session has ended) + 1 GetItem that user (R4.3 decides on its type and"
        " unified state; the answer carries it) + 1 TransactWriteItems [device with the new session, user's"
        " lastSeenAt/veilIds], both conditional on version. The service first tries the live session's"
        " UpdateItem; its failed condition hands back the device (ReturnValuesOnConditionCheckFailure), so it"
        " stands in for the GetItem.",
    ),
    "session_event": Minimum(
        "session event",
        {"UpdateItem": 1, "TransactWriteItems": 1},
        "1 conditional UpdateItem to validate the token and count activity + 1 TransactWriteItems"
        " [ConditionCheck user not unified, Put event].",
    ),
    "chat": Minimum(
        "chat (first message, anonymous -> lead)",
        {"UpdateItem": 1, "GetItem": 1, "TransactWriteItems": 1},
        "1 UpdateItem device (token, activity) + 1 GetItem user (R1.2: anonymous becomes lead, needs its type and"
        " version; the answer names the author) + 1 TransactWriteItems [user, chat header, chat entry, message].",
    ),
    "message": Minimum(
        "message in an own chat",
        {"UpdateItem": 1, "BatchGetItem": 1, "PutItem": 1},
        "1 UpdateItem device + 1 BatchGetItem [session user (R4.4, personName), chat (its creator: ownership)]"
        " + 1 PutItem message (attribute_not_exists).",
    ),
    "login_converts": Minimum(
        "login that converts (new memberId)",
        {"UpdateItem": 1, "BatchGetItem": 1, "TransactWriteItems": 1},
        "1 UpdateItem device (token) + 1 BatchGetItem [session user, memberId claim: absent]"
        " + 1 TransactWriteItems [device, user -> member, claim (attribute_not_exists), login record,"
        " contact index entries] (R5.2).",
    ),
    "login_unifies_10": _LOGIN_UNIFIES,
    "login_unifies_1000": _LOGIN_UNIFIES,
    "manager_edit_candidate": Minimum(
        "manager edit with a candidate",
        {"BatchGetItem": 2, "TransactWriteItems": 1},
        "1 BatchGetItem [user (R1.6 merge, version), MCONTACT item of the new phone (its key comes from the"
        " request)] + 1 BatchGetItem of the members it lists (the index holds ids only: each member's value and"
        " version, R6) + 1 TransactWriteItems [user, member's pending list, record] (R6.3, R7.2).",
    ),
    "manager_edit_candidate_long_history": Minimum(
        "manager edit with a candidate, lead with 300 events, 50 chats",
        {"BatchGetItem": 2, "TransactWriteItems": 1},
        "As the edit with a candidate: the preview's counts of what would move (issue 12) must not grow with"
        " the history (counts kept with the user, or one bounded read: the allowance).",
    ),
    "session_chats_page": Minimum(
        "GET /v1/session/chats, a page of 20 chats",
        {"UpdateItem": 1, "GetItem": 1, "Query": 1, "BatchGetItem": 2},
        "1 UpdateItem device (token, activity) + 1 GetItem session user (R4.4) + 1 Query of its C# entries (the"
        " page) + 1 BatchGetItem of the page's chats with their latest messages (issue 12: a listing may carry a"
        " chat's latest messages, the rest behind a cursor) + 1 BatchGetItem of the messages' authors (R3.4"
        " names): constant, whatever the page holds.",
    ),
    "user_chats_page": Minimum(
        "GET /v1/users/{id}/chats, a page of 20 chats",
        {"GetItem": 1, "Query": 1, "BatchGetItem": 2},
        "1 GetItem user (unified? R3.5; moving sources, R3.3) + 1 Query of its C# entries + 1 BatchGetItem of the"
        " page's chats with their latest messages + 1 BatchGetItem of the authors (R3.4): constant, whatever the"
        " page holds.",
    ),
    "approve_immediate": Minimum(
        "approve, immediate",
        {"GetItem": 1, "BatchGetItem": 1, "TransactWriteItems": 1},
        "1 GetItem record (status, users) + 1 BatchGetItem [source, target] (R7.3 visited?, R2/R7.6 re-check;"
        " deliveryCount 0: no Query) + 1 TransactWriteItems [record, source, member].",
    ),
    "csv_row_member_new": Minimum(
        "CSV row, new member",
        {"BatchGetItem": 0.01, "TransactWriteItems": 0.04},
        "Per block of 100 rows: 1 BatchGetItem of the 100 claims (none exists) + TransactWriteItems of 4 actions"
        " a row [Put member, Put claim, ADD to the phone's and the email's MCONTACT item], 25 rows to a"
        " transaction: 0.01 + 0.04 a row.",
    ),
    "csv_row_member_update": Minimum(
        "CSV row, existing member",
        {"BatchGetItem": 0.02, "PutItem": 1},
        "Per block of 100 rows: 1 BatchGetItem of the claims + 1 BatchGetItem of their users (R1.6 merge,"
        " versions) + 1 conditional PutItem per row (contacts unchanged: no index writes). Packing the 100 Puts"
        " into one TransactWriteItems would take 0.01 requests a row but bill twice the write units (figure 1b);"
        " requests are free, units are not, so each row is its own conditional write, 8 in flight.",
    ),
    "csv_row_lead": Minimum(
        "CSV row, lead (phone + email, no match)",
        {"BatchGetItem": 0.02, "TransactWriteItems": 0.01},
        "Per block of 100 rows: 200 MCONTACT keys (phone, email) in 2 BatchGetItem, none lists a member"
        " (R6.3) + 1 TransactWriteItems of 100 Puts (leads are not indexed). The service writes them with 4"
        " BatchWriteItem of 25 instead (+0.03 requests a row): a new lead's id is fresh, so nothing needs a"
        " condition or atomicity, and a batch write costs half the write units of a transactional one.",
    ),
    "csv_row_lead_matching": Minimum(
        "CSV row, lead matching a member (phone only)",
        {"BatchGetItem": 0.02, "TransactWriteItems": 0.0303},
        "Per block of 100 rows: 1 BatchGetItem of the 100 MCONTACT keys + 1 BatchGetItem of the 100 members"
        " listed (value, version) + TransactWriteItems of 3 actions a row [lead, member's pending list, record],"
        " 33 rows to a transaction.",
    ),
    "stream_session": Minimum(
        "stream record, after a visitor's session",
        {"Query": 1},
        "Drain after boot, event, chat, message and a login that converts: only the login record needs a read"
        " (1 Query gsi3: the member's deferred unifications, R7.4); every other record is recognised from its"
        " image and needs none.",
    ),
    "stream_unify_move": Minimum(
        "stream record, login unifying a source with 11 history items",
        {"Query": 3, "BatchWriteItem": 2, "GetItem": 1, "TransactWriteItems": 1},
        "Drain after the login: login record 1 Query gsi3 (R7.4); the record's INSERT (its image is the record)"
        " moves the history: 2 Query (the source's C# and E# items; their counts are the R10 totals when they"
        " fit one chunk) + 1 BatchWriteItem copy + 1 BatchWriteItem delete (keys from the same reads; the copies"
        " already sit with the member, R3.3) + 1 GetItem member (movingSources, version) + 1 TransactWriteItems"
        " [record completed with its progress, member without the source]. The records this causes need nothing."
        " The service reads the record along with the member (one BatchGetItem in place of the GetItem: a stream"
        " image may be stale, and a stale one must never copy again over a completed move) and spends one more"
        " request: it marks the record `cleaned` after the delete (PutItem), so that an interrupted clean-up is"
        " finished later.",
    ),
    "stream_deferred_login": Minimum(
        "stream record, member login completing a deferred unification",
        {"Query": 3, "BatchGetItem": 1, "TransactWriteItems": 2, "BatchWriteItem": 2, "GetItem": 1},
        "Drain after the member's login: login record 1 Query gsi3 (the deferred record, version in the"
        " projection) + 1 BatchGetItem [source, member] (R7.6 re-check; deliveryCount 0: no Query)"
        " + 1 TransactWriteItems (the unification, record claimed at its version); then the move of the"
        " source's chat as above: 2 Query + 2 BatchWriteItem + 1 GetItem + 1 TransactWriteItems.",
    ),
}
