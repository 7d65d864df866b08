"""The "nothing lost" invariant of issue 4, checked on a settled system.

Run it once streams are drained and schedules have run. For every
unification of S into M:

- every chat, message, event and delivery that existed or was acknowledged
  (2xx) is listed exactly once under M, walking every page of the Open API
  lists (`/v1/users/{M}/chats`, `/events`, `/marketing-deliveries`);
- each chat and event has one owner: its entry sits in exactly one `USER#`
  partition, the one of its final owner (read from the table directly);
- M's profile is R3.1 applied to S and M as they were just before the
  unification (`decide_fields`), whatever the delivery order or number of
  replays: checked on the stream's own before/after images of the
  unification's commit, and against expected final profiles the test knows;
- items of other users are untouched;
- exactly one `completed` unification record exists for (S, M), with
  `moved == total` and `total` = what S had (R10);
- `unifiedInto` has no cycle, and R2 held for every unification (only an
  anonymous user or a lead into a member, never involving a unified user).

Violations are collected, not stopped at, so a failing run (the negative
control) shows everything that went wrong.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.merge import decide_fields
from chalicelib.domain.models import Status, Unification, User, UserType
from chalicelib.store import codec

VISITOR_TYPES = frozenset({UserType.ANONYMOUS, UserType.LEAD})
PAGE_SIZE = 7  # small pages, so that walks cross cursors and moving sources (R3.3)

Item = dict[str, Any]
Profile = dict[str, tuple[Any, bool]]  # field -> (value, verified)


class InvariantViolation(AssertionError):
    """The invariant does not hold; `problems` lists every violation found."""

    def __init__(self, problems: list[str]) -> None:
        shown = "\n  - ".join(problems[:40])
        more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        super().__init__(f"nothing-lost invariant violated ({len(problems)} problems):\n  - {shown}{more}")
        self.problems = problems


class World(Protocol):
    """What the checker reads: the Open API (as a manager) and the table itself."""

    def get(self, path: str) -> tuple[int, Any]: ...

    def table_items(self) -> list[Item]: ...


@dataclass
class Ledger:
    """What the system acknowledged (2xx) or is known to hold, and what must have happened.

    Thread-safe: concurrent clients record into one ledger.
    """

    chats: dict[str, str] = field(default_factory=dict)  # chat id -> user it was acknowledged under
    messages: dict[str, tuple[str, str]] = field(default_factory=dict)  # message id -> (chat id, author id)
    events: dict[str, str] = field(default_factory=dict)  # event id -> user it was acknowledged under
    deliveries: set[tuple[str, str]] = field(default_factory=set)  # (user id, campaign id)
    unifications: set[tuple[str, str]] = field(default_factory=set)  # (source, member) that must have run
    separate: set[str] = field(default_factory=set)  # users that must still be un-unified
    profiles: dict[str, Profile] = field(default_factory=dict)  # user id -> its expected final profile
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def chat(self, chat_id: str, owner_id: str) -> None:
        with self._lock:
            self.chats[chat_id] = owner_id

    def message(self, message_id: str, chat_id: str, author_id: str) -> None:
        with self._lock:
            self.messages[message_id] = (chat_id, author_id)

    def event(self, event_id: str, owner_id: str) -> None:
        with self._lock:
            self.events[event_id] = owner_id

    def delivery(self, user_id: str, campaign_id: str) -> None:
        with self._lock:
            self.deliveries.add((user_id, campaign_id))

    def unified(self, source_id: str, member_id: str) -> None:
        with self._lock:
            self.unifications.add((source_id, member_id))

    def expect_profile(self, user_id: str, profile: Profile) -> None:
        with self._lock:
            self.profiles[user_id] = dict(profile)


@dataclass
class Summary:
    """What a passing check covered (printed by the tests as their figures)."""

    unifications: int = 0
    chats: int = 0
    messages: int = 0
    events: int = 0
    deliveries: int = 0
    merge_images: int = 0
    users: int = 0

    def __str__(self) -> str:
        return (
            f"{self.unifications} unifications, {self.chats} chats, {self.messages} messages, "
            f"{self.events} events, {self.deliveries} deliveries, {self.merge_images} merge commits re-derived "
            f"(R3.1) across {self.users} users: nothing lost"
        )


def profile_of(user: User) -> Profile:
    return {name: (fv.value, fv.verified) for name, fv in user.fields.items()}


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def walk(world: World, path: str, key: str, problems: list[str], page_size: int = PAGE_SIZE) -> list[Item]:
    """Every item of an Open API list, following `nextCursor` page after page."""
    found: list[Item] = []
    cursor: str | None = None
    for _ in range(10_000):
        query = f"?limit={page_size}" + (f"&cursor={quote(cursor)}" if cursor else "")
        status, body = world.get(path + query)
        if status != 200:
            problems.append(f"GET {path} answered {status}: {body}")
            return found
        page = body[key]
        if len(page) > page_size:
            problems.append(f"GET {path} returned {len(page)} items for limit={page_size}")
        found += page
        cursor = body.get("nextCursor")
        if cursor is None:
            return found
    problems.append(f"GET {path} never stopped handing out cursors")
    return found


@dataclass
class Snapshot:
    """The table, decoded: users, unification records, and where history entries sit."""

    items: list[Item]
    users: dict[str, User]
    unifications: list[Unification]
    placement: dict[str, list[str]]  # "C#<chat>" / "E#<event>" / "D#..." -> owners (USER# partitions) holding it

    @classmethod
    def of(cls, items: list[Item]) -> Snapshot:
        users = {str(i["id"]): codec.user_from_item(i) for i in items if i.get("kind") == "user"}
        records = [codec.unification_from_item(i) for i in items if i.get("kind") == "unification"]
        placement: dict[str, list[str]] = {}
        for item in items:
            pk, sk = str(item["PK"]), str(item["SK"])
            if pk.startswith("USER#") and sk[:2] in ("C#", "E#", "D#"):
                placement.setdefault(sk, []).append(pk.removeprefix("USER#"))
        return cls(items, users, records, placement)


def partition_snapshot(world: World, user_ids: Iterable[str]) -> dict[tuple[str, str], Item]:
    """Every item in these users' partitions (their user item included), to prove later they were untouched."""
    wanted = {f"USER#{uid}" for uid in user_ids}
    return {(str(i["PK"]), str(i["SK"])): i for i in world.table_items() if i["PK"] in wanted}


def _owner(users: Mapping[str, User], user_id: str, problems: list[str]) -> str:
    """The user's final owner (itself, or the member it was unified into); flags cycles."""
    seen = [user_id]
    current = user_id
    while True:
        user = users.get(current)
        if user is None:
            problems.append(f"user {current} (reached from {user_id}) does not exist")
            return current
        if user.unified_into is None:
            return current
        if user.unified_into in seen:
            problems.append(f"cycle in unifiedInto: {' -> '.join([*seen, user.unified_into])}")
            return current
        seen.append(user.unified_into)
        current = user.unified_into


def check_unified_graph(snap: Snapshot, problems: list[str]) -> dict[str, str]:
    """R1.3 / R2: a unified user points at an un-unified member; no cycles. Returns final owners."""
    owners = {uid: _owner(snap.users, uid, problems) for uid in snap.users}
    for user in snap.users.values():
        if user.unified_into is None:
            continue
        target = snap.users.get(user.unified_into)
        if user.type not in VISITOR_TYPES:
            problems.append(f"R2: {user.type.value} {user.id} was unified (only anonymous users and leads may be)")
        if target is None:
            continue
        if target.type is not UserType.MEMBER:
            problems.append(f"R2: {user.id} was unified into {target.type.value} {target.id}, not a member")
        if target.is_unified:
            problems.append(f"R1.3: {user.id} was unified into {target.id}, itself unified into {target.unified_into}")
    return owners


def check_records(snap: Snapshot, ledger: Ledger, problems: list[str]) -> int:
    """Exactly one `completed` record per (S, M), matching the users; nothing left running (R10)."""
    completed = Counter((r.source_user_id, r.target_user_id) for r in snap.unifications if r.status is Status.COMPLETED)
    by_source = Counter(r.source_user_id for r in snap.unifications if r.status is Status.COMPLETED)
    for record in snap.unifications:
        if record.status is Status.RUNNING:
            problems.append(
                f"unification {record.id} ({record.source_user_id} -> {record.target_user_id}) is still running "
                f"after streams and schedules: progress {record.progress}"
            )
        if record.status is not Status.COMPLETED:
            continue
        source = snap.users.get(record.source_user_id)
        if source is None or source.unified_into != record.target_user_id:
            problems.append(
                f"unification {record.id} is completed but {record.source_user_id} is unified into "
                f"{source.unified_into if source else 'nothing (missing user)'}, not {record.target_user_id}"
            )
        p = record.progress
        if p.chats_moved != p.chats_total or p.events_moved != p.events_total:
            problems.append(f"R10: completed unification {record.id} shows progress {p}")
    for source_id, count in by_source.items():
        if count > 1:
            problems.append(f"{source_id} is the source of {count} completed unifications")
    for user in snap.users.values():
        if user.unified_into is not None:
            count = completed[(user.id, user.unified_into)]
            if count != 1:
                problems.append(
                    f"{user.id} is unified into {user.unified_into} with {count} completed records (exactly 1 expected)"
                )
    for source_id, member_id in sorted(ledger.unifications):
        source = snap.users.get(source_id)
        if source is None or source.unified_into != member_id:
            problems.append(
                f"{source_id} must be unified into {member_id}, but is unified into "
                f"{source.unified_into if source else '(missing user)'}"
            )
    for user_id in sorted(ledger.separate):
        user = snap.users.get(user_id)
        if user is None or user.is_unified:
            problems.append(f"{user_id} must still be un-unified: {user}")
    return sum(completed.values())


def check_totals(snap: Snapshot, ledger: Ledger, problems: list[str]) -> None:
    """R10: `total` is how many chats/events the source had when it was unified."""
    chats = Counter(ledger.chats.values())
    events = Counter(ledger.events.values())
    for record in snap.unifications:
        if record.status is not Status.COMPLETED:
            continue
        p, source = record.progress, record.source_user_id
        if (p.chats_total, p.events_total) != (chats[source], events[source]):
            problems.append(
                f"R10: unification {record.id} counted {p.chats_total} chats / {p.events_total} events, "
                f"but {source} had {chats[source]} / {events[source]} acknowledged"
            )


def check_history(
    world: World, snap: Snapshot, ledger: Ledger, owners: Mapping[str, str], problems: list[str], strict: bool
) -> tuple[int, int, int, int]:
    """Every chat, message, event and delivery listed exactly once under its final owner, with one owner."""
    expected_chats: dict[str, set[str]] = {}
    expected_events: dict[str, set[str]] = {}
    expected_deliveries: dict[str, set[str]] = {}
    for chat_id, acked in ledger.chats.items():
        expected_chats.setdefault(owners.get(acked, acked), set()).add(chat_id)
    for event_id, acked in ledger.events.items():
        expected_events.setdefault(owners.get(acked, acked), set()).add(event_id)
    for acked, campaign in ledger.deliveries:
        expected_deliveries.setdefault(owners.get(acked, acked), set()).add(campaign)

    # One owner: each entry sits in exactly one USER# partition, its final owner's.
    for prefix, expected in (("C#", expected_chats), ("E#", expected_events)):
        for owner, ids in expected.items():
            for item_id in ids:
                holders = snap.placement.get(prefix + item_id, [])
                if holders != [owner]:
                    problems.append(f"{prefix}{item_id} must sit under USER#{owner} alone, but sits under {holders}")
    for owner, campaigns in expected_deliveries.items():
        for campaign in campaigns:
            if owner not in snap.placement.get("D#" + campaign, []):
                problems.append(f"delivery {campaign} is missing from USER#{owner}")
    if strict:
        known = {"C#" + c for c in ledger.chats} | {"E#" + e for e in ledger.events}
        for key, holders in snap.placement.items():
            if key[:2] in ("C#", "E#") and key not in known:
                problems.append(f"{key} under {holders} was never acknowledged to anyone (stray or mixed-up item)")

    # Listed exactly once under the final owner, every page walked.
    n_messages = 0
    for owner in sorted(set(expected_chats) | set(expected_events) | set(expected_deliveries)):
        if owner not in snap.users:
            problems.append(f"owner {owner} of acknowledged history does not exist")
            continue
        base = f"/v1/users/{quote(owner)}"
        chats = walk(world, base + "/chats", "chats", problems)
        listed = Counter(str(c["id"]) for c in chats)
        _compare(f"chats of {owner}", listed, expected_chats.get(owner, set()), problems, strict)
        for chat in chats:
            in_chat = Counter(str(m["id"]) for m in chat["messages"])
            wanted = {mid for mid, (cid, _) in ledger.messages.items() if cid == chat["id"]}
            _compare(f"messages of chat {chat['id']}", in_chat, wanted, problems, strict)
            for message in chat["messages"]:
                known = ledger.messages.get(str(message["id"]))
                if known is not None and message["personId"] != known[1]:
                    problems.append(f"R3.4: message {message['id']} shows author {message['personId']}, not {known[1]}")
            n_messages += len(wanted)
        events = walk(world, base + "/events", "events", problems)
        _compare(
            f"events of {owner}",
            Counter(str(e["id"]) for e in events),
            expected_events.get(owner, set()),
            problems,
            strict,
        )
        deliveries = walk(world, base + "/marketing-deliveries", "deliveries", problems)
        listed_campaigns = Counter(str(d["campaignId"]) for d in deliveries)
        _compare(f"deliveries of {owner}", listed_campaigns, expected_deliveries.get(owner, set()), problems, False)
        for campaign, count in listed_campaigns.items():
            if count != 1:
                problems.append(f"deliveries of {owner}: campaign {campaign} listed {count} times")
    for message_id, (chat_id, _) in ledger.messages.items():
        if chat_id not in ledger.chats:
            problems.append(f"message {message_id} belongs to chat {chat_id}, which the ledger does not know")
    return len(ledger.chats), n_messages, len(ledger.events), len(ledger.deliveries)


def _compare(what: str, listed: Counter[str], expected: set[str], problems: list[str], strict: bool) -> None:
    missing = sorted(i for i in expected if listed[i] == 0)
    doubled = sorted(i for i, n in listed.items() if n > 1)
    stray = sorted(i for i in listed if i not in expected) if strict else []
    if missing:
        problems.append(f"{what}: {len(missing)} lost: {missing[:5]}")
    if doubled:
        problems.append(f"{what}: listed more than once: {doubled[:5]}")
    if stray:
        problems.append(f"{what}: {len(stray)} listed that belong to someone else: {stray[:5]}")


def merge_commits(stream_records: Iterable[Item]) -> list[tuple[User, User, User, User]]:
    """(S before, M before, S after, M after) of every unification commit, from the stream's own images.

    The source's write is the one that sets `unifiedInto`; the member's write in
    the same commit is the one that sets `lastUnificationId` to that unification.
    """
    ordered = sorted({int(r["dynamodb"]["SequenceNumber"]): r for r in stream_records}.items())
    images: list[tuple[int, User | None, User | None]] = []
    for sequence, record in ordered:
        body = record["dynamodb"]
        old = codec.from_wire(body["OldImage"]) if "OldImage" in body else None
        new = codec.from_wire(body["NewImage"]) if "NewImage" in body else None
        if (new or old or {}).get("kind") != "user":
            continue
        images.append(
            (sequence, codec.user_from_item(old) if old else None, codec.user_from_item(new) if new else None),
        )
    commits = []
    for _, s_old, s_new in images:
        if s_old is None or s_new is None or s_old.is_unified or not s_new.is_unified:
            continue
        member_writes = [
            (m_old, m_new)
            for _, m_old, m_new in images
            if m_old is not None
            and m_new is not None
            and m_new.id == s_new.unified_into
            and m_new.last_unification_id == s_new.unification_id != m_old.last_unification_id
        ]
        for m_old, m_new in member_writes[:1]:
            commits.append((s_old, m_old, s_new, m_new))
    return commits


def check_merges(stream_records: Iterable[Item], snap: Snapshot, problems: list[str]) -> int:
    """R3.1 and R3.7 re-derived for every unification commit seen on the stream.

    The member written by the commit must be `decide_fields` of the source and
    the member exactly as they stood just before it (the stream's old images):
    a unification planned on a stale read, or overwritten by one, shows here.
    """
    commits = merge_commits(stream_records)
    seen_sources = Counter(s_old.id for s_old, _, _, _ in commits)
    for s_old, m_old, _s_new, m_new in commits:
        merged, _ = decide_fields(s_old, m_old)
        if m_new.fields != merged:
            wrong = sorted(k for k in set(merged) | set(m_new.fields) if merged.get(k) != m_new.fields.get(k))
            problems.append(
                f"R3.1: unifying {s_old.id} into {m_old.id} wrote fields {wrong} other than decide_fields "
                f"of the users as they were just before: got {[m_new.fields.get(k) for k in wrong][:3]}, "
                f"expected {[merged.get(k) for k in wrong][:3]}"
            )
        if m_new.unsubscribe_email != (m_old.unsubscribe_email or s_old.unsubscribe_email) or (
            m_new.unsubscribe_texting != (m_old.unsubscribe_texting or s_old.unsubscribe_texting)
        ):
            problems.append(f"R3.7: unifying {s_old.id} into {m_old.id} weakened consent")
        if s_old.type not in VISITOR_TYPES or m_old.type is not UserType.MEMBER:
            problems.append(f"R2: {s_old.type.value} {s_old.id} was unified into {m_old.type.value} {m_old.id}")
    unified = {uid for uid, u in snap.users.items() if u.is_unified}
    missing = sorted(unified - set(seen_sources))
    if missing:
        problems.append(f"no unification commit on the stream for unified users {missing[:5]}")
    for source_id, count in seen_sources.items():
        if count > 1:
            problems.append(f"{source_id} was unified {count} times on the stream")
    return len(commits)


def check_profiles(snap: Snapshot, ledger: Ledger, problems: list[str]) -> None:
    for user_id, expected in ledger.profiles.items():
        user = snap.users.get(user_id)
        actual = profile_of(user) if user else None
        if actual != expected:
            diff = sorted(k for k in set(expected) | set(actual or {}) if expected.get(k) != (actual or {}).get(k))
            problems.append(
                f"profile of {user_id} differs from the expected merge on {diff[:8]}: "
                f"got {[(actual or {}).get(k) for k in diff[:3]]}, expected {[expected.get(k) for k in diff[:3]]}"
            )


def check_nothing_lost(
    world: World,
    ledger: Ledger,
    *,
    stream_records: Iterable[Item] | None = None,
    untouched: Mapping[tuple[str, str], Item] | None = None,
    strict: bool = True,
) -> Summary:
    """Raise `InvariantViolation` listing every violation; return what was covered otherwise.

    `stream_records`: every record the table's stream produced (to re-derive each
    merge from its before-images); `untouched`: a `partition_snapshot` of users no
    unification may touch; `strict`: every history entry in the table must be in
    the ledger (nothing appears that nobody wrote).
    """
    problems: list[str] = []
    snap = Snapshot.of(world.table_items())
    owners = check_unified_graph(snap, problems)
    n_unifications = check_records(snap, ledger, problems)
    if strict:
        check_totals(snap, ledger, problems)
    chats, messages, events, deliveries = check_history(world, snap, ledger, owners, problems, strict)
    n_merges = check_merges(stream_records, snap, problems) if stream_records is not None else 0
    check_profiles(snap, ledger, problems)
    if untouched is not None:
        now = {(str(i["PK"]), str(i["SK"])): i for i in snap.items}
        pks = {pk for pk, _ in untouched}
        changed = sorted(k for k, v in untouched.items() if now.get(k) != v)
        added = sorted(k for k in now if k[0] in pks and k not in untouched)
        if changed or added:
            problems.append(f"items of other users were touched: changed/removed {changed[:5]}, added {added[:5]}")
    if problems:
        raise InvariantViolation(problems)
    return Summary(n_unifications, chats, messages, events, deliveries, n_merges, len(snap.users))


def check_still_visible(world: World, ledger: Ledger) -> list[str]:
    """R3.3 at any moment (mid-move, mid-race, after a crash): every acknowledged chat and event is
    listed under the user it was acknowledged under, a unified user resolving to its member (R3.5).

    Users resolving to the same member are checked against one walk of that member's lists."""
    problems: list[str] = []
    wanted_chats: dict[str, set[str]] = {}
    wanted_events: dict[str, set[str]] = {}
    resolved: dict[str, str] = {}
    for user_id in sorted(set(ledger.chats.values()) | set(ledger.events.values())):
        status, body = world.get(f"/v1/users/{quote(user_id)}")
        if status != 200:
            problems.append(f"R3.5: GET /v1/users/{user_id} answered {status}: {body}")
            continue
        resolved[user_id] = str(body["user"]["id"])
    for chat_id, user_id in ledger.chats.items():
        if user_id in resolved:
            wanted_chats.setdefault(resolved[user_id], set()).add(chat_id)
    for event_id, user_id in ledger.events.items():
        if user_id in resolved:
            wanted_events.setdefault(resolved[user_id], set()).add(event_id)
    for owner in sorted(set(wanted_chats) | set(wanted_events)):
        base = f"/v1/users/{quote(owner)}"
        if owner in wanted_chats:
            listed = {str(c["id"]) for c in walk(world, base + "/chats", "chats", problems)}
            gone = sorted(wanted_chats[owner] - listed)
            if gone:
                problems.append(f"R3.3: {len(gone)} chats out of view under {owner}: {gone[:5]}")
        if owner in wanted_events:
            listed = {str(e["id"]) for e in walk(world, base + "/events", "events", problems)}
            gone = sorted(wanted_events[owner] - listed)
            if gone:
                problems.append(f"R3.3: {len(gone)} events out of view under {owner}: {gone[:5]}")
    return problems
