"""HTTP routes, the stream consumer and scheduled jobs: parse, call one service, shape."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Rate, Response

from chalicelib import observability as ops
from chalicelib.api import static
from chalicelib.api.auth import bearer_token, require_plugin_key
from chalicelib.api.web import CONSOLE_COOKIE, Web, console_cookie, created
from chalicelib.bootstrap import container
from chalicelib.domain.errors import InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from chalicelib.lazy import LazyModule

# Imported on first use (chalicelib/lazy.py): the stream consumer's and the
# schedule's Lambdas never load the HTTP layer, its pydantic bodies or the use
# cases they do not run.
if TYPE_CHECKING:
    from chalicelib.api import schemas as s
    from chalicelib.api import views
    from chalicelib.domain import contacts, models
    from chalicelib.service import messengers
    from chalicelib.service import users as user_cases
    from chalicelib.service.history import ChatView, NamedChat, Posted
    from chalicelib.service.ports import Page
    from chalicelib.store import streams
else:
    s = LazyModule("chalicelib.api.schemas")
    views = LazyModule("chalicelib.api.views")
    contacts = LazyModule("chalicelib.domain.contacts")
    models = LazyModule("chalicelib.domain.models")
    messengers = LazyModule("chalicelib.service.messengers")
    user_cases = LazyModule("chalicelib.service.users")
    streams = LazyModule("chalicelib.store.streams")

app = Chalice(app_name="unification", configure_logs=False)  # JSON lines: chalicelib/observability.py
app.log.setLevel(logging.INFO)
web = Web(app)
route, body, params, keyed, respond = web.route, web.body, web.params, web.keyed, web.respond


def consent_of(b: s.ProfileWrite) -> user_cases.Consent:
    return user_cases.Consent(b.unsubscribeEmail, b.unsubscribeTexting)


def chat_payload(view: ChatView) -> dict[str, Any]:
    return views.chat_json(view, container().history.name_messages(view.messages))


def chats_payload(result: Page[NamedChat]) -> dict[str, Any]:
    return page("chats", [views.chat_json(c.view, c.messages) for c in result.items], result)


def messages_payload(result: Page[models.Message]) -> dict[str, Any]:
    named = container().history.name_messages(result.items)
    return page("messages", [views.message_json(m) for m in named], result)


def page(items_key: str, items: list[Any], result: Page[Any]) -> dict[str, Any]:
    """A list answer; `resolvedFrom` is added when a unified user was read as its member (R3.5)."""
    body = {items_key: items, "nextCursor": result.next_cursor}
    if result.resolved_from is not None:
        body["resolvedFrom"] = result.resolved_from
    return body


def open_api_scope() -> str:
    """Idempotency-Key scope of the Open API: the access key (API.md)."""
    return f"access:{container().settings.access_key}"


# health, documents and files served beside the API ----------------------------------


@route("/v1/health", ["GET"], auth="none")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@route("/v1/openapi.json", ["GET"], auth="none")
def openapi_document() -> dict[str, Any]:
    # Imported here: the document and its response models are not worth a cold start.
    from chalicelib.api import openapi

    return openapi.document()


def served(found: tuple[bytes, dict[str, str]]) -> Response:
    content, headers = found
    text = headers["Content-Type"].startswith("text/")
    return Response(body=content.decode() if text else content, status_code=200, headers=dict(headers))


@route("/sdk/v1/unification.js", ["GET"], auth="none")
def sdk_file() -> Response:
    return served(static.sdk())


@route("/console", ["GET"], auth="none")
def console_index() -> Response:
    return served(static.console_file("index.html"))


@route("/console/{name}", ["GET"], auth="none")
def console_file(name: str) -> Response:
    return served(static.console_file(name))


# the managers' console: signed in with the Open API credentials, then a cookie --------


def console_cookie_header(value: str, max_age: int) -> str:
    return f"{CONSOLE_COOKIE}={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"


@route("/v1/console/session", ["POST", "GET", "DELETE"], auth="none")
def console_session() -> Any:
    c = container()
    request = web.request()
    if request.method == "POST":
        from chalicelib.service.console import LIFETIME

        b = body(s.ConsoleSignIn)
        session, value = c.console.sign_in(b.accessKey, b.accessSecret)
        cookie_header = console_cookie_header(value, int(LIFETIME.total_seconds()))
        return Response(
            body=views.console_session_json(session), status_code=200, headers={"Set-Cookie": cookie_header}
        )
    cookie = console_cookie(request.headers)
    if request.method == "GET":
        return views.console_session_json(c.console.session(cookie))
    session = c.console.authorize(cookie, request.headers.get("x-csrf-token"), changes_state=True)
    c.console.sign_out(session)
    return Response(body="", status_code=204, headers={"Set-Cookie": console_cookie_header("", 0)})


# customer side (R4, R5) ------------------------------------------------------------


@route("/v1/boot", ["POST"], auth="plugin")
def boot() -> dict[str, Any]:
    c = container()
    require_plugin_key(web.request().headers, c.settings)
    b = body(s.BootIn)
    profile = s.profile_of(b, c.settings.default_phone_region)
    result = c.sessions.boot(b.veilId, b.memberId, b.memberHash, profile, consent_of(b))
    return {
        "veilId": result.device.veil_id,
        "sessionToken": result.token,
        "session": views.session_json(result.device),
        "user": views.customer_user_json(result.user, result.device.veil_id),
        "unification": views.unification_json(result.unification) if result.unification else None,
    }


def session_token() -> str:
    return bearer_token(web.request().headers)


@route("/v1/session", ["GET"], auth="session")
def get_session() -> dict[str, Any]:
    result = container().sessions.current(session_token())
    return {
        "session": views.session_json(result.device),
        "user": views.customer_user_json(result.user, result.device.veil_id),
    }


@route("/v1/session/login", ["POST"], auth="session")
def login() -> dict[str, Any]:
    c = container()
    token = session_token()
    b = body(s.LoginIn)
    profile = s.profile_of(b, c.settings.default_phone_region)
    result = c.sessions.login(token, b.memberId, b.memberHash, profile, consent_of(b))
    return {
        "session": views.session_json(result.device),
        "user": views.customer_user_json(result.user, result.device.veil_id),
        "unification": views.unification_json(result.unification) if result.unification else None,
    }


@route("/v1/session/logout", ["POST"], auth="session")
def logout() -> dict[str, Any]:
    result = container().sessions.logout(session_token())
    return {
        "session": views.session_json(result.device),
        "user": views.customer_user_json(result.user, result.device.veil_id),
    }


def session_scope(user_id: str) -> str:
    """Idempotency-Key scope on session routes: the session's user (API.md)."""
    return f"user:{user_id}"


def event_json(event: models.Event) -> dict[str, Any]:
    return {"event": views.event_json(event)}


@route("/v1/session/events", ["POST"], auth="session")
def session_event() -> Response:
    c = container()
    device = c.sessions.authenticate(session_token())
    b = body(s.EventIn).checked()
    answer = keyed(201, event_json, session_scope(device.user_id))
    event = c.history.record_event(device.user_id, b.name, b.properties, follow=True, receipt=answer.receipt)
    return respond(answer, event)


def posted_json(posted: Posted) -> dict[str, Any]:
    named = container().history.name_messages([posted.message], known=[posted.author])
    return {"chat": views.chat_json(posted.chat, named), "message": views.message_json(named[0])}


@route("/v1/session/chats", ["POST", "GET"], auth="session")
def session_chats() -> Any:
    c = container()
    device = c.sessions.authenticate(session_token())
    user = c.sessions.session_user(device)
    if web.request().method == "GET":
        q = params("limit", "cursor", "order")
        return chats_payload(c.history.list_chats(user.id, s.cursor_of(q), s.limit_of(q), s.order_of(q), read=user))
    b = body(s.TextIn)
    answer = keyed(201, posted_json, session_scope(device.user_id))
    return respond(answer, c.history.start_chat(user, b.text, receipt=answer.receipt))


def own_message_json(result: tuple[models.User, models.Message]) -> dict[str, Any]:
    user, message = result
    return {"message": views.message_json(container().history.name_messages([message], known=[user])[0])}


@route("/v1/session/chats/{chat_id}/messages", ["POST", "GET"], auth="session")
def session_message(chat_id: str) -> Any:
    c = container()
    device = c.sessions.authenticate(session_token())
    if web.request().method == "GET":
        q = params("limit", "cursor", "order")
        result = c.history.list_messages(chat_id, s.cursor_of(q), s.limit_of(q), s.order_of(q), for_user=device.user_id)
        return messages_payload(result)
    b = body(s.TextIn)
    answer = keyed(201, own_message_json, session_scope(device.user_id))
    return respond(answer, c.history.post_own_message(device.user_id, chat_id, b.text, receipt=answer.receipt))


# Open API: members and users (R9) ---------------------------------------------------


@route("/v1/members/{member_id}", ["PUT", "GET"])
def member(member_id: str) -> Any:
    c = container()
    if web.request().method == "GET":
        return {"user": views.user_json(c.users.get_member(member_id))}
    b = body(s.ProfileWrite)
    result = c.users.upsert_member(member_id, s.profile_of(b, c.settings.default_phone_region), consent_of(b))
    payload = {"user": views.user_json(result.user)}
    return created(payload) if result.created else payload


def user_write_json(result: user_cases.UserWrite) -> dict[str, Any]:
    candidate = views.unification_json(result.candidate) if result.candidate else None
    return {"user": views.user_json(result.user), "unificationCandidate": candidate}


@route("/v1/users", ["POST", "GET"])
def users() -> Any:
    c = container()
    if web.request().method == "GET":
        q = params("mobileNumber", "email", "memberId", "limit")
        keys = [k for k in ("mobileNumber", "email", "memberId") if k in q]
        if len(keys) != 1:
            raise InvalidRequest("give exactly one of mobileNumber, email or memberId")
        field = keys[0]
        value = (
            q[field]
            if field == "memberId"
            else contacts.normalize_contact(field, q[field], c.settings.default_phone_region)
        )
        found = c.users.search(field, value, s.limit_of(q))
        return {"users": [views.user_json(u) for u in found]}
    b = body(s.ProfileWrite)
    answer = keyed(201, user_write_json, open_api_scope())
    profile = s.profile_of(b, c.settings.default_phone_region)
    return respond(answer, c.users.create_lead(profile, consent_of(b), receipt=answer.receipt))


@route("/v1/users/{user_id}", ["GET", "PATCH"])
def user(user_id: str) -> Any:
    c = container()
    if web.request().method == "GET":
        q = params("resolve")
        found, resolved_from = c.users.get(user_id, resolve=s.flag_of(q, "resolve", True))
        return {"user": views.user_json(found), "resolvedFrom": resolved_from}
    b = body(s.ProfileWrite)
    return user_write_json(c.users.edit(user_id, s.profile_of(b, c.settings.default_phone_region), consent_of(b)))


@route("/v1/users/{user_id}/chats", ["GET"])
def user_chats(user_id: str) -> dict[str, Any]:
    q = params("limit", "cursor", "order")
    return chats_payload(container().history.list_chats(user_id, s.cursor_of(q), s.limit_of(q), s.order_of(q)))


@route("/v1/users/{user_id}/events", ["GET", "POST"])
def user_events(user_id: str) -> Any:
    c = container()
    if web.request().method == "GET":
        q = params("limit", "cursor", "order")
        result = c.history.list_events(user_id, s.cursor_of(q), s.limit_of(q), s.order_of(q))
        return page("events", [views.event_json(e) for e in result.items], result)
    b = body(s.EventIn).checked()
    c.users.get(user_id, resolve=False)
    answer = keyed(201, event_json, open_api_scope())
    return respond(answer, c.history.record_event(user_id, b.name, b.properties, follow=False, receipt=answer.receipt))


@route("/v1/users/{user_id}/marketing-deliveries", ["GET", "POST"])
def user_deliveries(user_id: str) -> Any:
    c = container()
    if web.request().method == "GET":
        q = params("limit", "cursor")
        result = c.history.list_deliveries(user_id, s.cursor_of(q), s.limit_of(q))
        return page("deliveries", [views.delivery_json(d) for d in result.items], result)
    b = body(s.DeliveryIn)
    delivery = c.history.deliver(user_id, b.campaignId)
    return created({"delivery": views.delivery_json(delivery)})


def reply_json(message: models.Message) -> dict[str, Any]:
    return {"message": views.message_json(container().history.name_messages([message])[0])}


@route("/v1/chats/{chat_id}/messages", ["POST", "GET"])
def manager_reply(chat_id: str) -> Any:
    c = container()
    if web.request().method == "GET":
        q = params("limit", "cursor", "order")
        return messages_payload(c.history.list_messages(chat_id, s.cursor_of(q), s.limit_of(q), s.order_of(q)))
    b = body(s.ManagerReplyIn)
    answer = keyed(201, reply_json, open_api_scope())
    return respond(answer, c.history.manager_reply(chat_id, b.text, b.managerName, receipt=answer.receipt))


# erasure (R11) -------------------------------------------------------------------------


@route("/v1/users/{user_id}/erasure", ["POST"])
def erasure_request(user_id: str) -> Response:
    """Forget the whole person `user_id` belongs to; `?dryRun=true` counts what would go."""
    dry_run = s.flag_of(params("dryRun"), "dryRun", False)
    erasure = container().erasures.request(user_id, dry_run=dry_run)
    return Response(
        body={"erasure": views.erasure_json(erasure)},
        status_code=200 if dry_run else 202,
        headers={"Content-Type": "application/json"},
    )


@route("/v1/erasures/{erasure_id}", ["GET"])
def erasure(erasure_id: str) -> dict[str, Any]:
    return {"erasure": views.erasure_json(container().erasures.get(erasure_id))}


# manual unification (R7) -------------------------------------------------------------


@route("/v1/unifications", ["GET", "POST"])
def unifications() -> Any:
    c = container()
    if web.request().method == "GET":
        q = params("status", "userId", "limit", "cursor")
        result = c.unifications.list(q.get("status"), q.get("userId"), s.cursor_of(q), s.limit_of(q))
        return page("unifications", [views.unification_json(u) for u in result.items], result)
    b = body(s.UnificationIn)
    return created({"unification": views.unification_json(c.unifications.propose(b.sourceUserId, b.targetUserId))})


@route("/v1/unifications/{unification_id}", ["GET"])
def unification(unification_id: str) -> dict[str, Any]:
    return {"unification": views.unification_json(container().unifications.get(unification_id))}


@route("/v1/unifications/{unification_id}/approve", ["POST"])
def approve(unification_id: str) -> dict[str, Any]:
    return {"unification": views.unification_json(container().unifications.approve(unification_id))}


@route("/v1/unifications/{unification_id}/reject", ["POST"])
def reject(unification_id: str) -> dict[str, Any]:
    return {"unification": views.unification_json(container().unifications.reject(unification_id))}


# channels and imports (R8) ------------------------------------------------------------


def received_json(received: messengers.Received) -> dict[str, Any]:
    named = container().history.name_messages([received.message])
    return {
        "user": views.user_json(received.user),
        "chat": chat_payload(received.chat),
        "message": views.message_json(named[0]),
    }


@route("/v1/messengers/{channel}/messages", ["POST"])
def messenger_message(channel: str) -> Response:
    c = container()
    if channel not in (models.Channel.LINE.value, models.Channel.INSTAGRAM.value):
        raise NotFound(f"no messenger channel {channel!r} (line or instagram)")
    data = s.json_object(web.raw_body())
    profile = data.get("profile")
    if isinstance(profile, dict):
        contact = sorted(set(profile) & {"mobileNumber", "email"})
        if contact:
            raise InvalidRequest(
                f"a messenger cannot hand over contact info ({', '.join(contact)}); a manager adds it (R8.1)",
                fields=contact,
            )
    b = s.validate(data, s.MessengerIn)
    # LINE and Instagram deliver webhooks at least once: the key is scoped to the channel.
    answer = keyed(201, received_json, f"channel:{channel}")
    received = c.messengers.receive(
        models.Channel(channel),
        b.externalId,
        b.text,
        messengers.MessengerProfile(b.profile.name, b.profile.avatarUrl, b.profile.username),
        receipt=answer.receipt,
    )
    return respond(answer, received)


@route("/v1/imports", ["POST"])
def imports() -> dict[str, Any]:
    c = container()
    q = params("autoApprove")
    media_type, charset = s.content_type(web.request().headers)
    if media_type not in ("text/csv", "application/csv"):
        raise UnsupportedMediaType("imports take Content-Type: text/csv")
    data = web.raw_body()
    if len(data) > s.MAX_CSV_BYTES:
        raise PayloadTooLarge(f"CSV bodies are limited to {s.MAX_CSV_BYTES} bytes; split larger files")
    result = c.imports.run(data, charset, s.flag_of(q, "autoApprove", False))
    return {
        "import": {
            "rows": result.rows,
            "members": result.members,
            "leads": result.leads,
            "candidates": [views.unification_json(u) for u in result.candidates],
            "errors": [{"row": row, "message": message} for row, message in result.errors],
        }
    }


# webhooks (R12) -------------------------------------------------------------------------


@route("/v1/webhooks", ["POST", "GET"])
def webhooks() -> Any:
    c = container()
    if web.request().method == "GET":
        return {"webhooks": [views.webhook_json(w) for w in c.webhooks.listed()]}
    b = body(s.WebhookIn)
    webhook = c.webhooks.subscribe(b.url, b.events, b.description)
    return created({"webhook": views.webhook_json(webhook, with_secret=True)})


@route("/v1/webhooks/{webhook_id}", ["DELETE"])
def webhook(webhook_id: str) -> Response:
    container().webhooks.unsubscribe(webhook_id)
    return Response(body="", status_code=204)


@route("/v1/webhooks/{webhook_id}/deliveries", ["GET"])
def webhook_deliveries(webhook_id: str) -> dict[str, Any]:
    q = params("limit", "cursor")
    result = container().webhooks.deliveries(webhook_id, s.cursor_of(q), s.limit_of(q))
    return page("deliveries", [views.webhook_delivery_json(m) for m in result.items], result)


# stream consumer and schedules --------------------------------------------------------


@app.lambda_function(name="stream_consumer")
@ops.invocation
def stream_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """DynamoDB stream → unification work; per-record failures, lowest first."""
    failed = container().consumers.handle_records(streams.decode_records(event))
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="finish_unifications")
@ops.invocation
def finish_unifications(event: Any) -> dict[str, Any]:
    """Finish what the stream left undone: deferred unifications whose member has
    logged in since approval (R7.4), then history moves (R10); then delete the
    originals of moves whose grace period is over (R3.3); then erasures (R11.3)."""
    consumers = container().consumers
    return {
        "deferred": consumers.finish_deferred_unifications(),
        "moved": consumers.finish_running_unifications(),
        "cleaned": consumers.clean_moved_histories(),
        "erased": consumers.resume_erasures(),
    }


@app.lambda_function(name="deliver_webhook")
@ops.invocation
def deliver_webhook(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One webhook message's delivery (invoked asynchronously, one message each, R12)."""
    return {"status": container().webhooks.deliver(str(event["message"]))}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="retry_webhooks")
@ops.invocation
def retry_webhooks(event: Any) -> dict[str, Any]:
    """Hand over every webhook message whose next attempt is due (R12)."""
    return {"handedOver": container().webhooks.retry_due()}
