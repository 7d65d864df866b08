// Building the page without HTML strings: every piece of customer text becomes a text node.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key in PROPERTIES) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

const PROPERTIES = { value: 1, checked: 1, disabled: 1, max: 1, selected: 1 };

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// A link to a screen of the console (hash routes only, so no customer value ever becomes a URL scheme).
export function link(route, ...children) {
  return h("a", { href: `#/${route.map(encodeURIComponent).join("/")}` }, ...children);
}

export const userLink = (userId, ...label) => link(["user", userId], ...(label.length ? label : [userId]));

// Times: absolute in the reader's locale, ages in words.
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return h("time", { datetime: iso, title: iso }, date.toLocaleString());
}

const AGES = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

export function age(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  const words = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  let text = words.format(-Math.round(seconds), "second");
  for (const [unit, size] of AGES) {
    if (seconds >= size) {
      text = words.format(-Math.floor(seconds / size), unit);
      break;
    }
  }
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, text);
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

export const FIELD_LABELS = {
  name: "Name",
  mobileNumber: "Mobile number",
  email: "Email",
  companyName: "Company",
};

export const fieldLabel = (field) => FIELD_LABELS[field] || field;

export const TYPE_LABELS = { anonymous: "Anonymous", lead: "Lead", member: "Member" };

export const STATUS_LABELS = {
  pending_approval: "Waiting for approval",
  deferred: "Approved, waiting for the member's login",
  running: "Running",
  completed: "Completed",
  rejected: "Rejected",
  cancelled: "Cancelled",
};

export const WAITING_LABELS = {
  approval: "a manager's approval",
  member_login: "the member's next login",
};

export const TRIGGER_LABELS = {
  login: "login",
  manager_edit: "manager",
  csv_import: "CSV import",
  open_api: "Open API",
};

export const CHANNEL_LABELS = { web: "Web", line: "LINE", instagram: "Instagram", csv: "CSV", api: "Open API" };

export function badge(kind, value, labels) {
  return h("span", { class: `badge ${kind}-${value}` }, labels[value] || value);
}

// A value as text (custom fields may be numbers or booleans); an absent one as a dash.
export function shown(value) {
  if (value === null || value === undefined || value === "") return h("span", { class: "empty" }, "(empty)");
  return h("span", { class: "value" }, typeof value === "string" ? value : JSON.stringify(value));
}

export function verifiedMark(verified, present = true) {
  if (!present) return null;
  return verified
    ? h("span", { class: "mark verified", title: "verified" }, "✓ verified")
    : h("span", { class: "mark unverified", title: "unverified" }, "unverified");
}

export function status(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
