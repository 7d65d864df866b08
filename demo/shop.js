// The demo shop's page script: what a shop writes around the SDK. Customer
// text is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var sdk = null;
  var chatId = null; // the chat the next message joins (the newest one), or null to start one

  function say(text, failed) {
    $("status").textContent = text;
    $("status").className = failed ? "error" : "";
  }

  // Every action shows its error instead of failing silently.
  function action(fn) {
    return function (event) {
      if (event && event.preventDefault) event.preventDefault();
      return fn().catch(function (error) {
        say((error.code ? error.code + ": " : "") + error.message, true);
      });
    };
  }

  function showUser() {
    var user = sdk.user;
    $("user-id").textContent = user ? user.id : "…";
    $("user-type").textContent = user ? user.type : "…";
    $("user-name").textContent = user ? user.displayName : "…";
    $("user-member").textContent = user && user.memberId ? user.memberId : "—";
    $("user-logged-in").textContent = sdk.session && sdk.session.loggedIn ? "yes" : "no";
    $("session-expires").textContent = sdk.session ? sdk.session.expiresAt : "…";
    document.body.dataset.userId = user ? user.id : "";
  }

  function messageItem(message) {
    var item = document.createElement("li");
    item.className = "message " + message.personType;
    item.dataset.personId = message.personId;
    var author = document.createElement("span");
    author.className = "author";
    author.textContent = message.personName;
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    item.append(author, text);
    return item;
  }

  async function showHistory() {
    var chats = await sdk.chats();
    chats.sort(function (a, b) { return a.createdAt < b.createdAt ? -1 : 1; });
    chatId = chats.length ? chats[chats.length - 1].id : null;
    var items = [];
    chats.forEach(function (chat) {
      chat.messages.forEach(function (message) { items.push(messageItem(message)); });
    });
    $("chat-history").dataset.count = String(items.length);
    if (!items.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No messages yet.";
      items.push(empty);
    }
    $("chat-history").replaceChildren.apply($("chat-history"), items);
  }

  function viewProduct(button) {
    return action(async function () {
      var event = await sdk.track("product_viewed", { sku: button.dataset.sku, name: button.dataset.name });
      $("last-event").textContent = "Viewed " + button.dataset.name + " (event " + event.id + ")";
    });
  }

  var sendMessage = action(async function () {
    var text = $("chat-text").value.trim();
    if (!text) return;
    if (chatId) await sdk.reply(chatId, text);
    else chatId = (await sdk.chat(text)).chat.id;
    $("chat-text").value = "";
    await showHistory();
    say("Message sent.");
  });

  var logIn = action(async function () {
    var memberId = $("member-id").value.trim();
    // The shop's own server signs the login (R5.4); the page never sees the secret.
    var answer = await fetch("/member-hash?memberId=" + encodeURIComponent(memberId));
    if (!answer.ok) throw new Error("the shop server refused the login");
    var memberHash = (await answer.json()).memberHash;
    await sdk.login({ memberId: memberId, memberHash: memberHash || undefined });
    showUser();
    say("Logged in as " + memberId + ".");
  });

  var logOut = action(async function () {
    await sdk.logout();
    showUser();
    say("Logged out: you stay this member until the session ends.");
  });

  var start = action(async function () {
    if (!window.Unification) throw new Error("the SDK did not load from the API");
    var config = await (await fetch("/demo-config.json")).json();
    // apiBase is left out: the SDK talks to the origin its <script> tag came from.
    sdk = window.Unification.create({ pluginKey: config.pluginKey });
    await sdk.boot();
    showUser();
    await showHistory();
    // From now on: a login that unified, a new anonymous user after the session ended…
    sdk.on("user", action(async function () {
      showUser();
      await showHistory();
    }));
    document.body.dataset.ready = "true";
  });

  document.querySelectorAll(".product").forEach(function (button) {
    button.addEventListener("click", viewProduct(button));
  });
  $("chat-form").addEventListener("submit", sendMessage);
  $("login-form").addEventListener("submit", logIn);
  $("logout").addEventListener("click", logOut);
  start();
})();
