"""What the SDK keeps and how it renews, driven from the shop's page: the veilId in
localStorage or a first-party cookie, as the server issued it; the session token in
memory only; one boot for calls made together; "user" only when the user changes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Request, Response

from .conftest import SESSION_TIMEOUT, Stack, Tab

if TYPE_CHECKING:
    from conftest import Credentials

VEIL_KEY = "unification_veil_id"
BLOCK_STORAGE = """
Object.defineProperty(window, "localStorage", {
    get() { throw new DOMException("storage is blocked", "SecurityError"); },
});
"""


def boots(tab: Tab, stack: Stack) -> list[Request]:
    seen: list[Request] = []
    tab.page.on("request", lambda r: seen.append(r) if r.url == stack.api + "/v1/boot" else None)
    return seen


def test_where_storage_is_blocked_the_veil_id_lives_in_a_first_party_cookie(stack: Stack, tab: Tab) -> None:
    tab.page.context.add_init_script(BLOCK_STORAGE)
    tab.open_demo(stack.demo)
    user_id = tab.text("user-id")
    [cookie] = [c for c in tab.page.context.cookies(stack.demo) if c["name"] == VEIL_KEY]
    assert cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert cookie["expires"] > time.time() + 365 * 24 * 3600  # long-lived: the device is remembered
    assert stack.open_api.user(user_id)["veilIds"] == [cookie["value"]]

    tab.reload()
    assert tab.text("user-id") == user_id  # the cookie brought the same device back
    assert tab.errors == []


def test_the_sdk_keeps_the_veil_id_the_server_issued_and_never_stores_the_token(stack: Stack, tab: Tab) -> None:
    tokens: list[str] = []

    def on_response(response: Response) -> None:
        if response.url == stack.api + "/v1/boot" and response.request.method == "POST":
            tokens.append(response.json()["sessionToken"])

    tab.page.on("response", on_response)
    # A device id made up on the page is not the server's: the answer replaces it.
    tab.page.goto(stack.demo + "/demo-config.json")
    tab.page.evaluate(f"localStorage.setItem('{VEIL_KEY}', 'v_made_up_on_the_page')")
    tab.open_demo(stack.demo)
    stored = tab.page.evaluate(f"localStorage.getItem('{VEIL_KEY}')")
    assert stored != "v_made_up_on_the_page"
    assert stack.open_api.user(tab.text("user-id"))["veilIds"] == [stored]

    kept = tab.page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])"
    )
    assert tokens and all(token not in kept for token in tokens)


def test_calls_made_before_any_boot_share_one_boot(stack: Stack, tab: Tab, credentials: Credentials) -> None:
    tab.open_demo(stack.demo)
    seen = boots(tab, stack)
    result = tab.page.evaluate(
        """async (pluginKey) => {
            const sdk = Unification.create({ pluginKey });
            const [first, second, chats] = await Promise.all([
                sdk.track("first"), sdk.track("second"), sdk.chats(),
            ]);
            return { users: [first.userId, second.userId, sdk.user.id], chats: chats.length };
        }""",
        credentials.plugin_key,
    )
    assert len(seen) == 1
    assert len(set(result["users"])) == 1 and result["chats"] == 0


def test_calls_that_find_the_session_ended_renew_it_once_and_each_write_lands_once(
    stack: Stack, tab: Tab, credentials: Credentials
) -> None:
    tab.open_demo(stack.demo)
    seen = boots(tab, stack)
    tab.page.evaluate(
        """async (pluginKey) => {
            window.sdk = Unification.create({ pluginKey });
            window.changes = [];
            await sdk.boot();
            await sdk.chat("a lead, so the same user comes back (R4.3)");
            sdk.on("user", (user, before) => changes.push([before.id, user.id]));
        }""",
        credentials.plugin_key,
    )
    time.sleep(SESSION_TIMEOUT + 1.5)
    result: dict[str, Any] = tab.page.evaluate(
        """async () => {
            const events = await Promise.all([sdk.track("one"), sdk.track("two"), sdk.track("three")]);
            return { users: events.map((e) => e.userId), me: sdk.user.id, changes };
        }"""
    )
    assert len(seen) == 2  # the first boot, then one renewal for the three calls
    assert set(result["users"]) == {result["me"]}
    assert result["changes"] == []  # the same lead: no "user" event
    names = sorted(e["name"] for e in stack.open_api.events(result["me"]))
    assert names == ["one", "three", "two"]


def test_user_fires_when_the_user_changes_and_off_stops_it(stack: Stack, tab: Tab, credentials: Credentials) -> None:
    tab.open_demo(stack.demo)
    heard = tab.page.evaluate(
        """async (pluginKey) => {
            const hash = async (id) => (await (await fetch("/member-hash?memberId=" + id)).json()).memberHash;
            const sdk = Unification.create({ pluginKey });
            const heard = [];
            const listener = (user, before) => heard.push([before && before.type, user.type, user.memberId]);
            sdk.on("user", listener);
            await sdk.boot();                                   // first boot: null -> anonymous
            await sdk.track("seen");                            // no change
            await sdk.login({ memberId: "umi-0001", memberHash: await hash("umi-0001") });  // converted (R5.2)
            await sdk.login({ memberId: "umi-0001", memberHash: await hash("umi-0001") });  // already that member
            sdk.off("user", listener);
            await sdk.login({ memberId: "umi-0002", memberHash: await hash("umi-0002") });  // switched, unheard
            return heard;
        }""",
        credentials.plugin_key,
    )
    assert heard == [[None, "anonymous", None], ["anonymous", "member", "umi-0001"]]
