// The customer page: who this is (type, name, profile with verified marks, consent, channel, devices),
// what waits (pending unifications), the history as one timeline, and the manager's edit (R7.1).
// One round of requests, each of a fixed size, whatever the customer's history.
import * as api from "./api.js";
import {
  badge,
  CHANNEL_LABELS,
  fieldLabel,
  h,
  link,
  shown,
  status,
  TYPE_LABELS,
  userLink,
  verifiedMark,
  when,
} from "./dom.js";
import { errorBlock } from "./errors.js";
import { openPrompt } from "./prompt.js";
import { review } from "./review.js";
import { CHAT_PAGE, DELIVERY_PAGE, EVENT_PAGE, Timeline } from "./timeline.js";

const CONTACT_FIELDS = ["name", "mobileNumber", "email", "companyName"];
const OPEN_STATUSES = ["pending_approval", "deferred"];

function pendingOf(userId) {
  return OPEN_STATUSES.map((s) => api.get("v1/unifications", { userId, status: s, limit: 100 }));
}

export async function customerScreen(ctx, userId, { frozen = false } = {}) {
  const base = `v1/users/${api.id(userId)}`;
  const calls = [api.get(base, frozen ? { resolve: "false" } : undefined)];
  if (!frozen) {
    calls.push(
      api.get(`${base}/chats`, { order: "newest", limit: CHAT_PAGE }),
      api.get(`${base}/events`, { order: "newest", limit: EVENT_PAGE }),
      api.get(`${base}/marketing-deliveries`, { limit: DELIVERY_PAGE }),
      ...pendingOf(userId),
    );
  }
  const answers = await Promise.allSettled(calls);
  if (!ctx.alive()) return;
  if (answers[0].status === "rejected") {
    ctx.show(h("h1", { tabindex: "-1" }, "Customer"), errorBlock(answers[0].reason));
    return;
  }
  const { user, resolvedFrom } = answers[0].value;
  if (frozen || user.unifiedInto) {
    ctx.show(...frozenPage(user));
    return;
  }
  let pending = answers.slice(4, 6);
  if (resolvedFrom) {
    // The id named a user unified into this member (R3.5): the member's own open unifications.
    pending = await Promise.allSettled(pendingOf(user.id));
    if (!ctx.alive()) return;
  }
  const [chats, events, deliveries] = answers.slice(1, 4);
  const history = historySection(user, chats, events, deliveries);
  ctx.show(
    header(user),
    resolvedFrom ? resolvedNote(resolvedFrom, user) : null,
    pendingSection(user, pending, ctx),
    h("div", { class: "columns" }, profileSection(user), h("div", { class: "side" }, editSection(user, ctx), proposeLink(user))),
    history,
  );
}

function header(user) {
  return h(
    "header",
    { class: "customer-head" },
    user.avatarUrl && /^https:\/\//.test(user.avatarUrl)
      ? h("img", { class: "avatar", src: user.avatarUrl, alt: "", referrerpolicy: "no-referrer", width: "48", height: "48" })
      : null,
    h("h1", { tabindex: "-1" }, user.displayName || user.id, " ", badge("type", user.type, TYPE_LABELS)),
  );
}

function resolvedNote(fromId, member) {
  return h(
    "p",
    { class: "notice info resolved", role: "status" },
    "The user you opened (",
    link(["record", fromId], fromId),
    `) has been unified into this member, ${member.displayName}. Its history is shown here (R3.5). `,
    link(["record", fromId], "See its frozen record"),
  );
}

// A unified user's own record, frozen (R1.3), and the member it now belongs to.
function frozenPage(user) {
  return [
    header(user),
    user.unifiedInto
      ? h(
          "p",
          { class: "notice info unified", role: "status" },
          h("strong", {}, "This user has been unified into a member "),
          user.unifiedAt ? ["on ", when(user.unifiedAt), ". "] : ". ",
          "Its record is frozen as it was; its chats, events and deliveries are under the member. ",
          userLink(user.unifiedInto, "Open the member"),
        )
      : null,
    profileSection(user),
  ];
}

function facts(user) {
  const rows = [
    ["Type", TYPE_LABELS[user.type] || user.type],
    ["Channel", CHANNEL_LABELS[user.channel] || user.channel],
    ["memberId", user.memberId],
    ["User id", user.id],
    ["Channel id", user.externalId],
    ["Created", when(user.createdAt)],
    ["Last seen", user.lastSeenAt ? when(user.lastSeenAt) : "never"],
  ];
  return rows.filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v instanceof Node ? v : shown(v))]);
}

function profileSection(user) {
  const profile = user.profile || {};
  const verified = new Set(user.verifiedFields || []);
  const keys = [...CONTACT_FIELDS.filter((k) => k in profile), ...Object.keys(profile).filter((k) => !CONTACT_FIELDS.includes(k))];
  const consent = (flag) => (flag ? "unsubscribed" : "subscribed");
  return h(
    "section",
    { class: "profile", "aria-labelledby": "profile-title" },
    h("h2", { id: "profile-title" }, "Profile"),
    h(
      "dl",
      { class: "fields" },
      keys.length
        ? keys.map((k) => [
            h("dt", {}, fieldLabel(k)),
            h("dd", { "data-field": k }, shown(profile[k]), " ", verifiedMark(verified.has(k))),
          ])
        : [h("dt", {}, "Profile"), h("dd", {}, "no values yet")],
      h("dt", {}, "Email marketing"),
      h("dd", { "data-consent": "email" }, consent(user.unsubscribeEmail)),
      h("dt", {}, "Text messages"),
      h("dd", { "data-consent": "texting" }, consent(user.unsubscribeTexting)),
    ),
    h("h3", {}, "Record"),
    h("dl", { class: "fields" }, facts(user)),
    devices(user),
  );
}

function devices(user) {
  const ids = user.veilIds || [];
  return h(
    "div",
    { class: "devices" },
    h("h3", {}, "Devices (veilIds)"),
    ids.length ? h("ul", {}, ...ids.map((v) => h("li", {}, h("code", {}, v)))) : h("p", {}, "No device has booted as this user."),
  );
}

function proposeLink(user) {
  const member = user.type === "member";
  const propose = link(["propose"], member ? "Propose a unification into this member" : "Propose a unification");
  propose.href += `?${member ? "target" : "source"}=${encodeURIComponent(user.id)}`;
  return h("p", {}, propose);
}

function pendingSection(user, pending, ctx) {
  const open = [];
  const problems = [];
  for (const answer of pending) {
    if (answer.status === "fulfilled") open.push(...answer.value.unifications);
    else problems.push(errorBlock(answer.reason));
  }
  return h(
    "section",
    { class: "pending", "aria-labelledby": "pending-title" },
    h("h2", { id: "pending-title" }, "Pending unifications"),
    open.length
      ? open.map((u) => review(u, { decided: () => ctx.reload() }))
      : h("p", {}, (user.pendingUnifications || []).length ? "Listed, but not readable now." : "None."),
    problems,
  );
}

// R7.1: a manager edits contact info; values typed here are verified. Only the fields changed are sent
// (an unchanged field is no edit, R6.3); an emptied field is cleared (null).
function editSection(user, ctx) {
  const profile = user.profile || {};
  const inputs = {};
  const rows = CONTACT_FIELDS.map((field) => {
    const type = field === "mobileNumber" ? "tel" : "text";
    const input = h("input", {
      id: `edit-${field}`,
      name: field,
      type,
      value: profile[field] === undefined || profile[field] === null ? "" : String(profile[field]),
      maxlength: "1000",
      autocomplete: "off",
      inputmode: field === "email" ? "email" : undefined,
    });
    inputs[field] = input;
    return h("p", { class: "field" }, h("label", { for: input.id }, fieldLabel(field)), input);
  });
  const email = h("input", { type: "checkbox", id: "edit-unsubscribeEmail", checked: !!user.unsubscribeEmail });
  const texting = h("input", { type: "checkbox", id: "edit-unsubscribeTexting", checked: !!user.unsubscribeTexting });
  const button = h("button", { type: "submit", class: "primary" }, "Save contact info");
  const outcome = h("div", {});
  const form = h(
    "form",
    { class: "edit", "aria-labelledby": "edit-title" },
    h("h2", { id: "edit-title" }, "Edit contact info"),
    rows,
    h("p", { class: "field check" }, email, h("label", { for: email.id }, "Unsubscribed from email marketing")),
    h("p", { class: "field check" }, texting, h("label", { for: texting.id }, "Unsubscribed from text messages")),
    h("p", { class: "hint" }, "Values a manager enters count as verified (R1.4)."),
    button,
    outcome,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {};
    for (const field of CONTACT_FIELDS) {
      const typed = inputs[field].value.trim();
      const was = profile[field] === undefined || profile[field] === null ? "" : String(profile[field]);
      if (typed !== was) changes[field] = typed === "" ? null : typed;
    }
    const body = { profile: changes };
    if (email.checked !== !!user.unsubscribeEmail) body.unsubscribeEmail = email.checked;
    if (texting.checked !== !!user.unsubscribeTexting) body.unsubscribeTexting = texting.checked;
    if (!Object.keys(changes).length && Object.keys(body).length === 1) {
      outcome.replaceChildren(status("Nothing changed."));
      return;
    }
    button.disabled = true;
    outcome.replaceChildren();
    try {
      const answer = await api.patch(`v1/users/${api.id(user.id)}`, body);
      if (answer.unificationCandidate) {
        openPrompt(answer.unificationCandidate, () => ctx.reload());
      } else {
        ctx.reload(status("Saved. No member matches this contact info."));
      }
    } catch (error) {
      outcome.replaceChildren(errorBlock(error));
      button.disabled = false;
    }
  });
  return form;
}

function historySection(user, chats, events, deliveries) {
  const failed = [chats, events, deliveries].find((a) => a.status === "rejected");
  const body = failed
    ? errorBlock(failed.reason)
    : new Timeline(user, { chats: chats.value, events: events.value, deliveries: deliveries.value }).element;
  return h("section", { class: "history-section", "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, "History"), body);
}
