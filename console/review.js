// What a manager decides on (R3.6, R7.2-R7.3): per field both values with their verified marks, the
// result and the rule in words, what moves, whether approval runs now or waits for the member's next
// login, and the guide's warning that a unification cannot be undone. Then Approve or Reject.
import * as api from "./api.js";
import { errorBlock } from "./errors.js";
import {
  badge,
  fieldLabel,
  h,
  link,
  plural,
  replace,
  STATUS_LABELS,
  shown,
  TRIGGER_LABELS,
  userLink,
  verifiedMark,
  when,
} from "./dom.js";

export const RULE_WORDS = {
  has_value: "a value beats an empty field",
  verified: "verified beats unverified",
  member: "the member's value beats the lead's",
  recent: "the more recent value wins",
};

const sourceName = (u) => u.sourceDisplayName || u.sourceUserId;
const targetName = (u) => u.targetDisplayName || u.targetUserId;

// The side that wins is marked; the other is struck through only where its value is dropped.
function side(value, verified, winner, result) {
  const present = value !== null && value !== undefined && value !== "";
  const dropped = present && JSON.stringify(value) !== JSON.stringify(result);
  const cls = winner ? "winner" : dropped ? "loser dropped" : "loser";
  return h("td", { class: cls }, shown(value), " ", verifiedMark(verified, present));
}

export function decisionsTable(u) {
  const rows = (u.fieldDecisions || []).map((d) =>
    h(
      "tr",
      { "data-field": d.field },
      h("th", { scope: "row" }, fieldLabel(d.field)),
      side(d.sourceValue, d.sourceVerified, d.winner === "source", d.value),
      side(d.targetValue, d.targetVerified, d.winner === "target", d.value),
      h("td", { class: "result" }, shown(d.value)),
      h("td", { class: "rule" }, RULE_WORDS[d.rule] || d.rule),
    ),
  );
  const table = h(
    "table",
    { class: "decisions" },
    h("caption", {}, "The member's profile after the unification, field by field"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Field"),
        h("th", { scope: "col" }, sourceName(u), h("small", {}, " (being unified)")),
        h("th", { scope: "col" }, targetName(u), h("small", {}, " (member)")),
        h("th", { scope: "col" }, "Result"),
        h("th", { scope: "col" }, "Why"),
      ),
    ),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "5" }, "Neither side has profile values."))),
  );
  return h("div", { class: "scroll" }, table);
}

export function movesLine(u) {
  const m = u.moves || { chats: 0, events: 0, deliveries: 0 };
  const open = u.status === "pending_approval" || u.status === "deferred";
  const what = [plural(m.chats, "chat", "chats"), plural(m.events, "event", "events")];
  what.push(plural(m.deliveries, "delivery", "deliveries"));
  return h(
    "p",
    { class: "moves" },
    h("strong", {}, open ? "What moves to the member: " : "What moved to the member: "),
    what.join(", "),
  );
}

export function progressBar(u) {
  const p = u.progress || { chats: { moved: 0, total: 0 }, events: { moved: 0, total: 0 } };
  // A total is null until the history is counted (R10): the bar is indeterminate until then.
  const counted = p.chats.total !== null && p.events.total !== null;
  const moved = p.chats.moved + p.events.moved;
  const total = counted ? p.chats.total + p.events.total : 0;
  const attrs = { class: "progress", "aria-label": "History moved" };
  const bar = total > 0 ? h("progress", { ...attrs, max: total, value: moved }) : h("progress", attrs);
  const words =
    counted && total > 0
      ? `${plural(p.chats.moved, "chat", "chats")} of ${p.chats.total}, ` +
        `${plural(p.events.moved, "event", "events")} of ${p.events.total} moved`
      : counted
        ? "nothing to move"
        : "counting the history…";
  return h("span", { class: "progress-line" }, bar, " ", h("span", { class: "progress-words" }, words));
}

// Where the unification stands, and for a pending one what approval will do (R7.3).
export function outlook(u) {
  const src = sourceName(u);
  const tgt = targetName(u);
  switch (u.status) {
    case "pending_approval":
      if (u.whenApproved === "at_member_login") {
        return h(
          "p",
          { class: "when deferred-when" },
          h("strong", {}, "Approval waits for the member's next login. "),
          `${src} has visited the site or app and may be chatting right now, so nothing is merged until ${tgt} next logs in (R7.3).`,
        );
      }
      return h(
        "p",
        { class: "when immediate-when" },
        h("strong", {}, "Approval unifies them at once. "),
        `${src} has never visited the site or app (R7.3).`,
      );
    case "deferred":
      return h(
        "p",
        { class: "when deferred-when" },
        h("strong", {}, "Waiting for the member's login. "),
        `Approved `,
        when(u.approvedAt),
        `; it runs when ${tgt} next logs in (R7.3, R7.4).`,
      );
    case "running":
      return h("p", { class: "when" }, h("strong", {}, "Running: "), progressBar(u));
    case "completed":
      return h(
        "p",
        { class: "when done" },
        h("strong", {}, "Completed "),
        when(u.completedAt),
        `. ${src} is now part of ${tgt}; its history is under the member.`,
      );
    default:
      return h(
        "p",
        { class: "when ended" },
        h("strong", {}, `${STATUS_LABELS[u.status] || u.status}. `),
        u.reason ? `Reason: ${u.reason}. ` : "",
        "Nothing was merged.",
      );
  }
}

export function warning() {
  return h(
    "div",
    { class: "warning", role: "note" },
    h("p", {}, h("strong", {}, "A unification cannot be undone. "), "Make sure the contact information really matches and that this is the same member before you approve."),
    h(
      "p",
      { lang: "ja" },
      "ユニフィケーションは一度実行すると元に戻すことができません。連絡先情報が本当に一致するかどうか、同一のメンバーかを必ず確認してから実行してください。",
    ),
  );
}

function heading(u) {
  return h(
    "p",
    { class: "parties" },
    userLink(u.sourceUserId, sourceName(u)),
    " → ",
    userLink(u.targetUserId, targetName(u)),
    u.targetMemberId ? h("small", {}, ` (memberId ${u.targetMemberId})`) : null,
    " ",
    badge("status", u.status, STATUS_LABELS),
  );
}

function facts(u) {
  const matched = (u.matchedOn || []).map(fieldLabel).join(", ") || "—";
  return h(
    "p",
    { class: "facts" },
    `Matched on: ${matched}. Proposed by: ${TRIGGER_LABELS[u.trigger] || u.trigger}, `,
    when(u.createdAt),
    ". ",
    link(["unification", u.id], "Details"),
  );
}

// The whole review; Approve / Reject while it waits for approval. `decided(u)` hears the answer.
export function review(u, { decided = () => {} } = {}) {
  const box = h("section", { class: "review", "data-unification": u.id, "aria-label": "Unification review" });
  const draw = (current, problem) => {
    const parts = [heading(current), facts(current), decisionsTable(current), movesLine(current), outlook(current)];
    if (current.status === "pending_approval") {
      parts.push(warning(), actions(current));
    }
    if (problem) parts.push(errorBlock(problem));
    replace(box, ...parts);
  };
  const actions = (current) => {
    const decide = async (verb, button) => {
      for (const b of box.querySelectorAll("button")) b.disabled = true;
      button.textContent = verb === "approve" ? "Approving…" : "Rejecting…";
      try {
        const answer = await api.post(`v1/unifications/${api.id(current.id)}/${verb}`);
        draw(answer.unification);
        decided(answer.unification);
      } catch (error) {
        draw(current, error);
      }
    };
    const approve = h("button", { type: "button", class: "primary approve" }, "Approve");
    const reject = h("button", { type: "button", class: "reject" }, "Reject");
    approve.addEventListener("click", () => decide("approve", approve));
    reject.addEventListener("click", () => decide("reject", reject));
    return h("div", { class: "actions" }, approve, " ", reject);
  };
  draw(u);
  return box;
}
