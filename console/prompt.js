// The confirmation prompt after an edit that matches a member (R7.2, the guide's 確認を求めるメッセージ):
// a modal dialog with the review; Approve, Reject, or decide later (Escape or the close button).
import { h, replace } from "./dom.js";
import { review } from "./review.js";

export function openPrompt(unification, closed = () => {}) {
  const dialog = document.getElementById("prompt");
  const body = document.getElementById("prompt-body");
  const title = document.getElementById("prompt-title");
  const close = document.getElementById("prompt-close");
  title.textContent = `This contact info matches the member ${unification.targetDisplayName || unification.targetUserId}`;
  close.textContent = "Decide later";
  replace(
    body,
    h("p", {}, "Nothing is merged until you approve. Check both sides before you decide."),
    review(unification, {
      decided: () => {
        close.textContent = "Close";
        close.focus();
      },
    }),
  );
  const done = () => {
    dialog.removeEventListener("close", done);
    closed();
  };
  dialog.addEventListener("close", done);
  // The first focus is "Decide later" (first in the dialog): Enter never approves by accident.
  dialog.showModal();
}

export function wirePrompt() {
  const dialog = document.getElementById("prompt");
  document.getElementById("prompt-close").addEventListener("click", () => dialog.close());
}
