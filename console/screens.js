// The work queue, search, one unification, a direct proposal and the CSV import.
import * as api from "./api.js";
import {
  age,
  badge,
  CHANNEL_LABELS,
  fieldLabel,
  h,
  link,
  plural,
  replace,
  STATUS_LABELS,
  shown,
  status,
  TRIGGER_LABELS,
  TYPE_LABELS,
  userLink,
  WAITING_LABELS,
} from "./dom.js";
import { errorBlock } from "./errors.js";
import { progressBar, review } from "./review.js";

const QUEUE_PAGE = 50;
const POLL_MS = 2000;
const STATUSES = Object.keys(STATUS_LABELS);

// Work queue -------------------------------------------------------------------------------------

function queueRow(u) {
  const row = h("tr", { "data-unification": u.id });
  const fill = (x) =>
    replace(
      row,
      h("td", {}, badge("status", x.status, STATUS_LABELS)),
      h("td", {}, userLink(x.sourceUserId, x.sourceDisplayName || x.sourceUserId)),
      h("td", {}, userLink(x.targetUserId, x.targetDisplayName || x.targetUserId)),
      h("td", {}, (x.matchedOn || []).map(fieldLabel).join(", ") || "—"),
      h("td", {}, TRIGGER_LABELS[x.trigger] || x.trigger),
      h("td", {}, age(x.createdAt)),
      h("td", {}, x.waitingFor ? WAITING_LABELS[x.waitingFor] || x.waitingFor : "—"),
      h("td", {}, x.status === "running" ? progressBar(x) : x.status === "completed" ? "all moved" : "—"),
      h("td", {}, link(["unification", x.id], x.status === "pending_approval" ? "Review" : "Open")),
    );
  fill(u);
  row.refill = fill;
  return row;
}

// Running unifications show their progress as it moves (R10): each visible running row is read again
// until it is no longer running; the number of reads is bounded by the rows on screen. One loop a screen.
function follower(ctx, rows) {
  let active = false;
  const tick = async () => {
    const running = [...rows.values()].filter((r) => r.status === "running");
    if (!ctx.alive() || !running.length) {
      active = false;
      return;
    }
    const answers = await Promise.allSettled(running.map((r) => api.get(`v1/unifications/${api.id(r.u.id)}`)));
    if (!ctx.alive()) return;
    answers.forEach((a, i) => {
      if (a.status !== "fulfilled") return;
      const entry = running[i];
      entry.u = a.value.unification;
      entry.status = entry.u.status;
      entry.row.refill(entry.u);
    });
    setTimeout(tick, POLL_MS);
  };
  return () => {
    if (active) return;
    active = true;
    setTimeout(tick, POLL_MS);
  };
}

const PAGE_SIZES = ["10", "50", "100"];

export async function queueScreen(ctx, query) {
  const chosen = STATUSES.includes(query.get("status")) ? query.get("status") : "";
  const size = PAGE_SIZES.includes(query.get("limit")) ? query.get("limit") : String(QUEUE_PAGE);
  const sizes = h(
    "select",
    { id: "queue-limit", name: "limit" },
    ...PAGE_SIZES.map((n) => h("option", { value: n, selected: n === size }, n)),
  );
  const select = h(
    "select",
    { id: "queue-status", name: "status" },
    h("option", { value: "", selected: chosen === "" }, "All (waiting for approval first)"),
    ...STATUSES.map((s) => h("option", { value: s, selected: chosen === s }, STATUS_LABELS[s])),
  );
  const choose = () => {
    const q = new URLSearchParams();
    if (select.value) q.set("status", select.value);
    if (sizes.value !== String(QUEUE_PAGE)) q.set("limit", sizes.value);
    ctx.go(`queue${q.size ? `?${q}` : ""}`);
  };
  select.addEventListener("change", choose);
  sizes.addEventListener("change", choose);
  const refresh = h("button", { type: "button" }, "Refresh");
  refresh.addEventListener("click", () => ctx.reload());
  const body = h("tbody", {});
  const more = h("button", { type: "button", class: "load-more" }, "Load more");
  const problem = h("div", {});
  const rows = new Map();
  let cursor = null;
  const load = async () => {
    more.disabled = true;
    problem.replaceChildren();
    try {
      const page = await api.get("v1/unifications", { status: chosen, limit: size, cursor });
      if (!ctx.alive()) return;
      for (const u of page.unifications) {
        const row = queueRow(u);
        rows.set(u.id, { u, row, status: u.status });
        body.append(row);
      }
      cursor = page.nextCursor;
      more.hidden = !cursor;
      if (!rows.size) body.append(h("tr", {}, h("td", { colspan: "9" }, "Nothing here.")));
    } catch (error) {
      problem.replaceChildren(errorBlock(error));
    } finally {
      more.disabled = false;
    }
  };
  await load();
  if (!ctx.alive()) return;
  ctx.show(
    h("h1", { tabindex: "-1" }, "Work queue"),
    h("form", { class: "toolbar", "aria-label": "Filter" }, h("label", { for: select.id }, "Status "), select, h("label", { for: sizes.id }, "Rows per page "), sizes, refresh),
    h(
      "table",
      { class: "queue" },
      h("caption", {}, chosen ? STATUS_LABELS[chosen] : "Unifications, waiting for approval first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Status", "Customer", "Member", "Matched on", "From", "Age", "Waiting for", "Progress", "Action"].map((t) =>
            h("th", { scope: "col" }, t),
          ),
        ),
      ),
      body,
    ),
    problem,
    more,
  );
  const follow = follower(ctx, rows);
  more.addEventListener("click", async () => {
    await load();
    follow();
  });
  follow();
}

// Search ----------------------------------------------------------------------------------------

const KINDS = { any: "Anything", mobileNumber: "Mobile number", email: "Email", memberId: "memberId", userId: "User id" };

// What an "anything" search tries at once: an email has an @; a phone is digits with + - ( ) and spaces.
function kindsFor(text) {
  if (text.includes("@")) return ["email"];
  const digits = text.replace(/[^0-9０-９]/g, "").length;
  const phoneLike = /^[+＋]?[0-9０-９\s\-‐－()（）]+$/.test(text) && digits >= 6;
  return phoneLike ? ["mobileNumber", "memberId", "userId"] : ["memberId", "userId"];
}

function lookup(kind, text) {
  if (kind === "userId") return api.get(`v1/users/${api.id(text)}`).then((a) => [{ ...a, by: kind }]);
  return api.get("v1/users", { [kind]: text }).then((a) => a.users.map((user) => ({ user, by: kind })));
}

function resultsTable(found) {
  return h(
    "table",
    { class: "results" },
    h("caption", {}, plural(found.length, "customer found", "customers found")),
    h(
      "thead",
      {},
      h("tr", {}, ...["Name", "Type", "Channel", "Mobile number", "Email", "memberId", "Found by"].map((t) => h("th", { scope: "col" }, t))),
    ),
    h(
      "tbody",
      {},
      ...found.map(({ user, by, resolvedFrom }) =>
        h(
          "tr",
          { "data-user": user.id },
          h("td", {}, userLink(user.id, user.displayName || user.id)),
          h("td", {}, TYPE_LABELS[user.type] || user.type),
          h("td", {}, CHANNEL_LABELS[user.channel] || user.channel),
          h("td", {}, shown(user.profile.mobileNumber)),
          h("td", {}, shown(user.profile.email)),
          h("td", {}, shown(user.memberId)),
          h("td", {}, KINDS[by], resolvedFrom ? ` (unified user ${resolvedFrom}, shown as its member)` : ""),
        ),
      ),
    ),
  );
}

export async function searchScreen(ctx, query) {
  const text = (query.get("q") || "").trim();
  const as = KINDS[query.get("as")] ? query.get("as") : "any";
  const input = h("input", { id: "search-q", name: "q", type: "search", value: text, required: true, autocomplete: "off" });
  const select = h(
    "select",
    { id: "search-as", name: "as" },
    ...Object.entries(KINDS).map(([k, label]) => h("option", { value: k, selected: k === as }, label)),
  );
  const form = h(
    "form",
    { class: "search", role: "search" },
    h("label", { for: input.id }, "Phone, email, memberId or user id"),
    input,
    h("label", { for: select.id }, "Look up as"),
    select,
    h("button", { type: "submit", class: "primary" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.go(`search?${new URLSearchParams({ q: input.value.trim(), as: select.value })}`);
  });
  const out = [];
  if (text) {
    const kinds = as === "any" ? kindsFor(text) : [as];
    const answers = await Promise.allSettled(kinds.map((k) => lookup(k, text)));
    if (!ctx.alive()) return;
    const found = new Map();
    // Trying several kinds at once, a kind the text is not (a 400 or a 404) is no error to show.
    const quiet = kinds.length > 1;
    for (const a of answers) {
      if (a.status === "fulfilled") {
        for (const r of a.value) if (!found.has(r.user.id)) found.set(r.user.id, r);
      } else if (!quiet || ![400, 404].includes(a.reason.status)) {
        out.push(errorBlock(a.reason));
      }
    }
    out.unshift(found.size ? resultsTable([...found.values()]) : status("No customer matches."));
  }
  ctx.show(h("h1", { tabindex: "-1" }, "Search"), form, ...out);
  if (!text) input.focus();
}

// One unification -----------------------------------------------------------------------------

export async function unificationScreen(ctx, unificationId) {
  const path = `v1/unifications/${api.id(unificationId)}`;
  let current;
  try {
    current = (await api.get(path)).unification;
  } catch (error) {
    if (ctx.alive()) ctx.show(h("h1", { tabindex: "-1" }, "Unification"), errorBlock(error));
    return;
  }
  if (!ctx.alive()) return;
  const holder = h("div", {}, review(current, { decided: (u) => follow(u) }));
  ctx.show(h("h1", { tabindex: "-1" }, "Unification"), holder);
  // A deferred or running one is read again until it ends, so the page follows it to completed.
  let timer = null;
  const follow = (u) => {
    current = u;
    clearTimeout(timer);
    if (u.status === "deferred" || u.status === "running") timer = setTimeout(tick, POLL_MS);
  };
  const tick = async () => {
    if (!ctx.alive()) return;
    try {
      const fresh = (await api.get(path)).unification;
      if (!ctx.alive()) return;
      if (JSON.stringify(fresh) !== JSON.stringify(current)) holder.replaceChildren(review(fresh, { decided: follow }));
      follow(fresh);
    } catch {
      timer = setTimeout(tick, POLL_MS * 2);
    }
  };
  follow(current);
}

// Propose ---------------------------------------------------------------------------------------

export async function proposeScreen(ctx, query) {
  const source = h("input", { id: "propose-source", name: "sourceUserId", required: true, value: query.get("source") || "", autocomplete: "off" });
  const target = h("input", { id: "propose-target", name: "targetUserId", required: true, value: query.get("target") || "", autocomplete: "off" });
  const button = h("button", { type: "submit", class: "primary" }, "Propose");
  const out = h("div", { class: "proposal" });
  const form = h(
    "form",
    { class: "propose" },
    h("p", { class: "field" }, h("label", { for: source.id }, "Customer to unify (anonymous user or lead), user id"), source),
    h("p", { class: "field" }, h("label", { for: target.id }, "Into member, user id"), target),
    h("p", { class: "hint" }, "Nothing is merged until the proposal is approved (R7.2)."),
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    out.replaceChildren();
    try {
      const answer = await api.post("v1/unifications", { sourceUserId: source.value.trim(), targetUserId: target.value.trim() });
      out.replaceChildren(review(answer.unification));
    } catch (error) {
      out.replaceChildren(errorBlock(error));
    } finally {
      button.disabled = false;
    }
  });
  ctx.show(h("h1", { tabindex: "-1" }, "Propose a unification"), form, out);
}

// CSV import ------------------------------------------------------------------------------------

function importResult(result) {
  const summary = h(
    "p",
    { class: "summary", role: "status" },
    `${plural(result.rows, "row", "rows")} read: ${plural(result.members, "member", "members")}, ` +
      `${plural(result.leads, "lead", "leads")}, ${plural(result.candidates.length, "candidate", "candidates")}, ` +
      `${plural(result.errors.length, "error", "errors")}.`,
  );
  const errors = result.errors.length
    ? h(
        "table",
        { class: "row-errors" },
        h("caption", {}, "Rows not imported (the header is line 1)"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Line"), h("th", { scope: "col" }, "Problem"))),
        h("tbody", {}, ...result.errors.map((e) => h("tr", {}, h("td", {}, String(e.row)), h("td", {}, e.message)))),
      )
    : null;
  const candidates = result.candidates.length
    ? [h("h2", {}, "Candidates"), ...result.candidates.map((u) => review(u))]
    : null;
  return [summary, errors, candidates];
}

export async function importScreen(ctx) {
  const file = h("input", { id: "import-file", name: "file", type: "file", accept: ".csv,text/csv", required: true });
  const auto = h("input", { id: "import-auto", name: "autoApprove", type: "checkbox" });
  const button = h("button", { type: "submit", class: "primary" }, "Import");
  const out = h("div", { class: "import-result" });
  const form = h(
    "form",
    { class: "import" },
    h("p", { class: "field" }, h("label", { for: file.id }, "CSV file (UTF-8 or Shift_JIS)"), file),
    h("p", { class: "field check" }, auto, h("label", { for: auto.id }, "Approve the candidates at once")),
    h(
      "p",
      { class: "hint" },
      "A row with a memberId is saved as a member; a row without as a lead. A lead whose contact matches a member becomes a candidate (R8.2).",
    ),
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files.length) return;
    button.disabled = true;
    out.replaceChildren(status("Importing…"));
    try {
      const answer = await api.upload("v1/imports", file.files[0], { autoApprove: auto.checked ? "true" : undefined });
      replace(out, importResult(answer.import));
    } catch (error) {
      out.replaceChildren(errorBlock(error));
    } finally {
      button.disabled = false;
    }
  });
  ctx.show(h("h1", { tabindex: "-1" }, "Import customers from CSV"), form, out);
}
