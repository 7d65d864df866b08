// A customer's history as one timeline, newest first: chats (with their messages), events and
// marketing deliveries, each listed by the API in pages of its own. The pages are merged so that an
// entry is shown only once nothing older-but-unloaded could come before it: the boundary is the oldest
// loaded entry of every list that still has a next page. "Load more" fetches the next page of exactly
// the lists that hold the boundary, in one round of requests of a fixed size (never the whole history).
import * as api from "./api.js";
import { CHANNEL_LABELS, h, plural, shown, userLink, when } from "./dom.js";
import { errorBlock } from "./errors.js";

export const CHAT_PAGE = 20;
export const EVENT_PAGE = 50;
export const DELIVERY_PAGE = 1000;
const MESSAGE_PAGE = 20;

const stamp = (iso) => new Date(iso).getTime();

let managerName = "";

class Source {
  constructor(kind, page, itemsKey, timeOf, fetchNext) {
    this.kind = kind;
    this.items = [];
    this.taken = 0;
    this.cursor = null;
    this.timeOf = timeOf;
    this.itemsKey = itemsKey;
    this.fetchNext = fetchNext;
    this.add(page);
  }

  add(page) {
    const items = page[this.itemsKey] || [];
    this.items.push(...items.map((item) => ({ kind: this.kind, time: stamp(this.timeOf(item)), item })));
    this.cursor = page.nextCursor || null;
  }

  oldest() {
    return this.items.length ? this.items[this.items.length - 1].time : Infinity;
  }
}

export class Timeline {
  // `pages` are the first answers of the three listings (chats and events newest first).
  constructor(user, pages) {
    this.user = user;
    const base = `v1/users/${api.id(user.id)}`;
    this.sources = [
      new Source("chat", pages.chats, "chats", (c) => c.createdAt, (cursor) =>
        api.get(`${base}/chats`, { order: "newest", limit: CHAT_PAGE, cursor }),
      ),
      new Source("event", pages.events, "events", (e) => e.createdAt, (cursor) =>
        api.get(`${base}/events`, { order: "newest", limit: EVENT_PAGE, cursor }),
      ),
    ];
    // Deliveries are listed by campaign id, not by time: one bounded page, sorted here.
    const deliveries = [...(pages.deliveries.deliveries || [])].sort((a, b) => stamp(b.deliveredAt) - stamp(a.deliveredAt));
    this.deliveries = new Source("delivery", { deliveries, nextCursor: null }, "deliveries", (d) => d.deliveredAt);
    this.moreDeliveries = pages.deliveries.nextCursor || null;
    this.list = h("ol", { class: "timeline", "aria-label": "History, newest first" });
    this.more = h("button", { type: "button", class: "load-more" }, "Load more");
    this.more.addEventListener("click", () => this.loadMore());
    this.problem = h("div", {});
    this.element = h("div", { class: "history" }, this.list, this.problem, this.more, this.deliveryNote());
    this.show();
  }

  boundary() {
    const open = this.sources.filter((s) => s.cursor);
    return open.length ? Math.max(...open.map((s) => s.oldest())) : -Infinity;
  }

  // Append, newest first, every loaded entry at or after the boundary that is not shown yet.
  show() {
    const limit = this.boundary();
    const ready = [];
    for (const source of [...this.sources, this.deliveries]) {
      while (source.taken < source.items.length && source.items[source.taken].time >= limit) {
        ready.push(source.items[source.taken]);
        source.taken += 1;
      }
    }
    ready.sort((a, b) => b.time - a.time);
    for (const entry of ready) this.list.append(this.entry(entry));
    const left = this.sources.some((s) => s.cursor) || [...this.sources, this.deliveries].some((s) => s.taken < s.items.length);
    this.more.hidden = !left;
    if (!left && !this.list.children.length) this.list.append(h("li", { class: "entry none" }, "No chats, events or deliveries yet."));
  }

  async loadMore() {
    const limit = this.boundary();
    const due = this.sources.filter((s) => s.cursor && s.oldest() === limit);
    this.more.disabled = true;
    this.problem.replaceChildren();
    try {
      const pages = await Promise.all(due.map((s) => s.fetchNext(s.cursor)));
      due.forEach((s, i) => s.add(pages[i]));
      this.show();
    } catch (error) {
      this.problem.replaceChildren(errorBlock(error));
    } finally {
      this.more.disabled = false;
    }
  }

  deliveryNote() {
    if (!this.moreDeliveries) return null;
    return h(
      "p",
      { class: "notice info" },
      `This customer has more than ${DELIVERY_PAGE} marketing deliveries; the timeline shows the first ${DELIVERY_PAGE} by campaign id.`,
    );
  }

  entry({ kind, item }) {
    if (kind === "chat") return chatEntry(item, this.user);
    if (kind === "event") return eventEntry(item, this.user);
    return deliveryEntry(item, this.user);
  }
}

// "from <user>" when an entry came from a user unified into this one (R3.3: history moves to the member).
function origin(item, user) {
  return item.userId && item.userId !== user.id ? h("span", { class: "origin" }, " · from ", userLink(item.userId)) : null;
}

function eventEntry(event, user) {
  const props = Object.entries(event.properties || {});
  return h(
    "li",
    { class: "entry event" },
    h("p", { class: "entry-head" }, h("span", { class: "kind" }, "Event"), " ", h("strong", {}, event.name), " · ", when(event.createdAt), origin(event, user)),
    props.length
      ? h("dl", { class: "properties" }, ...props.map(([k, v]) => [h("dt", {}, k), h("dd", {}, shown(v))]))
      : null,
  );
}

function deliveryEntry(delivery, user) {
  return h(
    "li",
    { class: "entry delivery" },
    h(
      "p",
      { class: "entry-head" },
      h("span", { class: "kind" }, "Marketing"),
      " campaign ",
      h("strong", {}, delivery.campaignId),
      " delivered · ",
      when(delivery.deliveredAt),
      origin(delivery, user),
    ),
  );
}

// A message under its author's name as it was written (R3.4); a customer's name opens that user,
// which the API resolves to the member (R3.5). Managers' replies are set apart.
export function messageItem(m) {
  const manager = m.personType === "manager";
  const author = manager
    ? h("span", { class: "author-name" }, m.personName || "Manager")
    : userLink(m.personId, m.personName || m.personId);
  return h(
    "li",
    { class: ["message", manager ? "from-manager" : "from-user"], "data-message": m.id },
    h("p", { class: "author" }, author, manager ? h("span", { class: "role" }, " (manager)") : null, " · ", when(m.createdAt)),
    h("p", { class: "text" }, m.text),
  );
}

function chatEntry(chat, user) {
  const list = h("ol", { class: "messages", "aria-label": "Messages" }, ...(chat.messages || []).map(messageItem));
  let cursor = chat.messagesCursor || null;
  const earlier = h("button", { type: "button", class: "earlier" }, "Earlier messages");
  const problem = h("div", {});
  earlier.hidden = !cursor;
  earlier.addEventListener("click", async () => {
    earlier.disabled = true;
    problem.replaceChildren();
    try {
      const page = await api.get(`v1/chats/${api.id(chat.id)}/messages`, { cursor, limit: MESSAGE_PAGE });
      // Continuing a messagesCursor lists newest first: each older message goes on top.
      for (const m of page.messages || []) list.prepend(messageItem(m));
      cursor = page.nextCursor || null;
      earlier.hidden = !cursor;
    } catch (error) {
      problem.replaceChildren(errorBlock(error));
    } finally {
      earlier.disabled = false;
    }
  });
  const count = (chat.messages || []).length;
  return h(
    "li",
    { class: "entry chat", "data-chat": chat.id },
    h(
      "p",
      { class: "entry-head" },
      h("span", { class: "kind" }, "Chat"),
      ` on ${CHANNEL_LABELS[chat.channel] || chat.channel} · started `,
      when(chat.createdAt),
      cursor ? "" : ` · ${plural(count, "message", "messages")}`,
      origin(chat, user),
    ),
    earlier,
    problem,
    list,
    replyForm(chat, list),
  );
}

// A manager's reply, under the manager's own name (POST /v1/chats/{chatId}/messages).
function replyForm(chat, list) {
  const nameInput = h("input", { name: "managerName", required: true, maxlength: "1000", autocomplete: "name", value: managerName });
  const textInput = h("textarea", { name: "text", required: true, maxlength: "10000", rows: "2" });
  const button = h("button", { type: "submit" }, "Send reply");
  const problem = h("div", {});
  const form = h(
    "form",
    { class: "reply", "aria-label": "Reply in this chat" },
    h("label", {}, "Your name ", nameInput),
    h("label", { class: "reply-text" }, "Reply ", textInput),
    button,
    problem,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    problem.replaceChildren();
    managerName = nameInput.value.trim();
    try {
      const answer = await api.post(
        `v1/chats/${api.id(chat.id)}/messages`,
        { text: textInput.value, managerName },
        { "Idempotency-Key": api.idempotencyKey() },
      );
      list.append(messageItem(answer.message));
      textInput.value = "";
    } catch (error) {
      problem.replaceChildren(errorBlock(error));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
