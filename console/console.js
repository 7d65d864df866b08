// The console's shell: sign-in and sign-out, the hash router, and each screen's lifetime
// (a screen whose route was left never draws over the next one).
import * as api from "./api.js";
import { customerScreen } from "./customer.js";
import { replace, status } from "./dom.js";
import { errorBlock } from "./errors.js";
import { wirePrompt } from "./prompt.js";
import { importScreen, proposeScreen, queueScreen, searchScreen, unificationScreen } from "./screens.js";

const screen = document.getElementById("screen");
const bar = document.getElementById("bar");
const signin = document.getElementById("signin");
const signinForm = document.getElementById("signin-form");
const signinOutcome = document.getElementById("signin-outcome");
let current = 0;
let expiryTimer = null;

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, search] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(search || "") };
}

function context(notice) {
  const mine = ++current;
  return {
    alive: () => mine === current && api.session() !== null,
    show(...children) {
      if (mine !== current) return;
      replace(screen, notice || null, ...children);
      screen.removeAttribute("aria-busy");
      const title = screen.querySelector("h1");
      if (title) title.focus({ preventScroll: true });
    },
    reload: (next) => render(next),
    go: (path) => {
      location.hash = `#/${path}`;
    },
  };
}

function markNavigation(name) {
  for (const a of bar.querySelectorAll("nav a")) {
    if (a.dataset.screen === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function render(notice) {
  if (!api.session()) return;
  const { parts, query } = parseRoute();
  const [name = "queue", arg] = parts;
  const ctx = context(notice);
  const dialog = document.getElementById("prompt");
  screen.setAttribute("aria-busy", "true");
  markNavigation(name === "user" || name === "record" || name === "unification" ? "" : name);
  try {
    if (name === "user" && arg) await customerScreen(ctx, arg);
    else if (name === "record" && arg) await customerScreen(ctx, arg, { frozen: true });
    else if (name === "unification" && arg) await unificationScreen(ctx, arg);
    else if (name === "search") await searchScreen(ctx, query);
    else if (name === "propose") await proposeScreen(ctx, query);
    else if (name === "import") await importScreen(ctx);
    else await queueScreen(ctx, query);
  } catch (error) {
    if (ctx.alive()) ctx.show(errorBlock(error));
  }
  if (!dialog.open) document.title = `${screen.querySelector("h1")?.textContent || "Console"} · Unification console`;
}

function showApp() {
  signin.hidden = true;
  bar.hidden = false;
  screen.hidden = false;
  const session = api.session();
  clearTimeout(expiryTimer);
  if (session && session.expiresAt) {
    // At the session's end, ask the server: it may still hold (a reload restores it), or it has ended.
    const wait = Math.max(1000, new Date(session.expiresAt).getTime() - Date.now() + 500);
    expiryTimer = setTimeout(async () => {
      if (await api.resume().catch(() => null)) showApp();
      else showSignIn(true);
    }, Math.min(wait, 2 ** 31 - 1));
  }
  render();
}

function showSignIn(expired) {
  current += 1;
  clearTimeout(expiryTimer);
  const dialog = document.getElementById("prompt");
  if (dialog.open) dialog.close();
  bar.hidden = true;
  screen.hidden = true;
  screen.replaceChildren();
  signin.hidden = false;
  signinOutcome.replaceChildren(expired ? status("Your session has ended. Please sign in again.") : "");
  document.title = "Sign in · Unification console";
  document.getElementById("signin-key").focus();
}

signinForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = document.getElementById("signin-key");
  const secret = document.getElementById("signin-secret");
  const button = signinForm.querySelector("button");
  button.disabled = true;
  signinOutcome.replaceChildren();
  try {
    await api.signIn(key.value.trim(), secret.value);
    secret.value = "";
    showApp();
  } catch (error) {
    secret.value = "";
    signinOutcome.replaceChildren(
      error.status === 401 ? status("The access key or secret is wrong.", "error") : errorBlock(error),
    );
    secret.focus();
  } finally {
    button.disabled = false;
  }
});

document.getElementById("sign-out").addEventListener("click", async () => {
  try {
    await api.signOut();
  } catch {
    // Signed out here either way; the server ends the session on its side when it can.
  }
  showSignIn(false);
});

api.whenSignedOut((expired) => showSignIn(expired));

window.addEventListener("hashchange", () => {
  if (!location.hash.startsWith("#/") && location.hash !== "") return; // the skip link
  const dialog = document.getElementById("prompt");
  if (dialog.open) dialog.close();
  render();
});

wirePrompt();

(async () => {
  let resumed = null;
  try {
    resumed = await api.resume();
  } catch (error) {
    signinOutcome.replaceChildren(errorBlock(error));
  }
  if (resumed) showApp();
  else showSignIn(false);
})();
