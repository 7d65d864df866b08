// The console's one door to the service: same-origin fetch, the session cookie, the CSRF token.
//
// The access secret is sent once, to the sign-in route, and never kept: the server answers with an
// HttpOnly session cookie the script cannot read, and a CSRF token that lives in this module's memory
// only (never in web storage or in a cookie script can read). Every state-changing request carries it
// as X-CSRF-Token.

// The API lives beside the console: /console -> /v1/..., and under a stage prefix /api/console -> /api/v1/...
const ROOT = location.pathname.replace(/\/console(\/.*)?$/, "/");

let csrfToken = null;
let expiresAt = null;
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || (status === 0 ? "network" : "unknown");
    this.detail = error;
  }
}

export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function session() {
  return csrfToken ? { expiresAt } : null;
}

function url(path, query) {
  const target = new URL(path.replace(/^\//, ""), location.origin + ROOT);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(key, String(value));
  }
  return target.toString();
}

async function send(method, path, { query, json, raw, contentType, headers, quietUnauthorized } = {}) {
  const sent = { Accept: "application/json", ...(headers || {}) };
  let body;
  if (json !== undefined) {
    sent["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (raw !== undefined) {
    sent["Content-Type"] = contentType;
    body = raw;
  }
  if (method !== "GET" && csrfToken) sent["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(url(path, query), { method, headers: sent, body, credentials: "same-origin" });
  } catch (cause) {
    throw new ApiError(0, { error: { code: "network", message: String(cause) } });
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, parsed);
    if (response.status === 401 && !quietUnauthorized) signedOut(true);
    throw error;
  }
  return parsed;
}

function signedOut(expired) {
  const had = csrfToken !== null;
  csrfToken = null;
  expiresAt = null;
  if (had || expired) onSignedOut(expired);
}

function keep(answer) {
  csrfToken = answer.csrfToken;
  expiresAt = answer.expiresAt;
  return answer;
}

// Sign-in, the session already held by the cookie (a reload), and sign-out.
export async function signIn(accessKey, accessSecret) {
  return keep(
    await send("POST", "v1/console/session", { json: { accessKey, accessSecret }, quietUnauthorized: true }),
  );
}

export async function resume() {
  try {
    return keep(await send("GET", "v1/console/session", { quietUnauthorized: true }));
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

export async function signOut() {
  try {
    await send("DELETE", "v1/console/session", { quietUnauthorized: true });
  } finally {
    signedOut(false);
  }
}

export const get = (path, query) => send("GET", path, { query });
export const post = (path, json, headers) => send("POST", path, { json, headers });
export const patch = (path, json) => send("PATCH", path, { json });
export const upload = (path, file, query) => send("POST", path, { raw: file, contentType: "text/csv", query });

export const id = (value) => encodeURIComponent(value);

// A fresh Idempotency-Key for one attempt at a write that must not be doubled by a retry.
export function idempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}
