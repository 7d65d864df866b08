"""Issue 10, item 8 (R10): while a history waits to move, the unification shows what it
holds (`total`), never a false 0; before it runs, `total` is null and `moves` says what
approval would move."""

from __future__ import annotations

import app
from chalicelib.local.stack import scheduled_event

from .support import Api, ok


def test_the_login_answer_and_every_read_show_the_totals_before_anything_moved(api: Api) -> None:
    api.put_member("m-progress", {"name": "Taro"})
    visitor = api.visit()
    for n in range(2):
        api.chat(visitor, f"chat {n}")
    for n in range(30):
        api.track(visitor, f"View {n}")
    unification = ok(api.login(visitor, "m-progress"))["unification"]
    expected = {"chats": {"moved": 0, "total": 2}, "events": {"moved": 0, "total": 30}}
    assert unification["status"] == "running" and unification["progress"] == expected
    assert unification["moves"] == {"chats": 2, "events": 30, "deliveries": 0}
    listed = ok(api.admin("GET", f"/v1/unifications/{unification['id']}"))["unification"]
    assert listed["progress"] == expected
    app.finish_unifications(scheduled_event(), None)
    done = ok(api.admin("GET", f"/v1/unifications/{unification['id']}"))["unification"]
    assert done["status"] == "completed"
    assert done["progress"] == {"chats": {"moved": 2, "total": 2}, "events": {"moved": 30, "total": 30}}


def test_a_candidate_shows_what_approval_would_move_and_no_total_yet(api: Api) -> None:
    member = api.put_member("m-candidate", {"name": "Taro", "mobileNumber": "090-1234-5678"})
    visitor = api.visit()
    api.chat(visitor, "hello")
    api.track(visitor, "View")
    ok(api.admin("POST", f"/v1/users/{visitor.user_id}/marketing-deliveries", {"campaignId": "spring"}), 201)
    edit = ok(api.admin("PATCH", f"/v1/users/{visitor.user_id}", {"profile": {"mobileNumber": "09012345678"}}))
    candidate = edit["unificationCandidate"]
    assert candidate["targetUserId"] == member["id"] and candidate["waitingFor"] == "approval"
    assert candidate["moves"] == {"chats": 1, "events": 1, "deliveries": 1}
    assert candidate["progress"] == {"chats": {"moved": 0, "total": None}, "events": {"moved": 0, "total": None}}
    assert candidate["whenApproved"] == "at_member_login", "the visitor has visited: R7.3 defers it"
    approved = ok(api.admin("POST", f"/v1/unifications/{candidate['id']}/approve"))["unification"]
    assert approved["status"] == "deferred" and approved["waitingFor"] == "member_login"
