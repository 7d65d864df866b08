// The contract's error codes in words (API.md, Conventions), the server's own message beside them.
import { h, userLink } from "./dom.js";

const WORDS = {
  invalid_request: "That was not accepted.",
  unauthorized: "Your session has ended, or the access key and secret are wrong. Please sign in again.",
  not_found: "Not found: no such user, member, chat or unification.",
  unification_not_allowed:
    "This unification is not allowed: only an anonymous user or a lead can be unified, and only into a member (R2).",
  already_delivered: "This campaign already reached this member.",
  user_unified: "This user has been unified into a member and can no longer be changed.",
  invalid_state: "This unification is no longer waiting for a decision; it may have been decided meanwhile.",
  method_not_allowed: "The service does not take this request.",
  idempotency_key_reused: "This request was already sent with different content.",
  payload_too_large: "Too large: CSV files up to 10 MiB, other requests up to 1 MiB.",
  unsupported_media_type: "That file is not a CSV file.",
  unavailable: "The service is busy. Please try again in a moment.",
  network: "The service could not be reached. Check the connection and try again.",
};

export function errorWords(error) {
  return WORDS[error.code] || `Something went wrong (${error.status || "no answer"}).`;
}

// An error as a block to show: the words, the service's detail, and for user_unified a link to the member.
export function errorBlock(error) {
  const parts = [h("strong", {}, errorWords(error))];
  if (error.message && error.code !== "network" && error.code !== "unauthorized") {
    parts.push(" ", h("span", { class: "detail" }, error.message));
  }
  const member = error.detail && error.detail.unifiedInto;
  if (error.code === "user_unified" && member) {
    parts.push(" ", userLink(member, "Open the member it was unified into"));
  }
  return h("div", { class: "notice error", role: "alert" }, ...parts);
}
