/*! Unification browser SDK v1: one file, no dependencies. Speaks only the
 * customer side of the HTTP contract (API.md); holds no Open API secret. */
(function (root) {
  "use strict";

  // The tag that loaded this file names the API's origin; read it now, since
  // document.currentScript is null once this file has run.
  var me = document.currentScript;
  var scriptOrigin = me && me.src ? new URL(me.src).origin : location.origin;

  var VEIL_KEY = "unification_veil_id";
  var ATTEMPTS = 4; // one try and three retries, for a network failure or a 503
  var TIMEOUT_MS = 30000; // the API answers within 20 s (a 503 at worst)
  var CHAT_PAGES = 10; // chats() reads at most 10 pages of 100 chats

  /** An answer that is not 2xx: `status`, `code`, `message` from `{"error": {...}}`. */
  class UnificationError extends Error {
    constructor(status, error) {
      error = error || {};
      super(error.message || "HTTP " + status);
      this.name = "UnificationError";
      this.status = status;
      this.code = error.code || (status ? "http_" + status : "network_error");
      this.details = error;
    }
  }

  // The device's veilId lives in localStorage, or in a first-party cookie
  // where storage is blocked (some privacy modes throw on any access).
  var veilStore = {
    get: function () {
      try {
        var stored = localStorage.getItem(VEIL_KEY);
        if (stored) return stored;
      } catch (_) { /* blocked: the cookie below */ }
      var m = document.cookie.match(new RegExp("(?:^|; )" + VEIL_KEY + "=([^;]*)"));
      return m ? decodeURIComponent(m[1]) : null;
    },
    set: function (veilId) {
      try {
        localStorage.setItem(VEIL_KEY, veilId);
        return;
      } catch (_) { /* blocked: fall back to a cookie */ }
      document.cookie = VEIL_KEY + "=" + encodeURIComponent(veilId) + "; Path=/; Max-Age=63072000; SameSite=Lax" +
        (location.protocol === "https:" ? "; Secure" : "");
    },
  };

  /** A fresh Idempotency-Key: one per logical write, reused by each of its retries. */
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), function (b) {
      return (b + 256).toString(16).slice(1);
    }).join("");
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  /** Growing, jittered pauses (~0.25 s, 0.5 s, 1 s …, at most 8 s), or what Retry-After asks. */
  function pause(attempt, retryAfter) {
    var asked = parseInt(retryAfter, 10);
    if (asked >= 0) return Math.min(asked, 20) * 1000;
    var ceiling = Math.min(8000, 250 * Math.pow(2, attempt - 1));
    return ceiling / 2 + Math.random() * ceiling / 2;
  }

  // Only these say that the shop's page sees a different customer.
  function sameUser(a, b) {
    return !!a && !!b && a.id === b.id && a.type === b.type && a.memberId === b.memberId;
  }

  class Client {
    constructor(options) {
      if (!options || !options.pluginKey) throw new TypeError("Unification.create needs {pluginKey}");
      this.pluginKey = options.pluginKey;
      this.apiBase = (options.apiBase || scriptOrigin).replace(/\/+$/, "");
      this.user = null;
      this.session = null;
      this.veilId = veilStore.get();
      this._token = null; // in memory only: never written to storage
      this._login = null; // {memberId, memberHash} while logged in, to renew as that member
      this._booting = null;
      this._listeners = { user: [] };
    }

    on(event, fn) {
      this._list(event).push(fn);
      return this;
    }

    off(event, fn) {
      var list = this._list(event);
      var i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
      return this;
    }

    _list(event) {
      var list = this._listeners[event];
      if (!list) throw new TypeError("unknown event: " + event);
      return list;
    }

    /** Starts or continues this device's session (R4); with memberId it is also a login (R5). */
    boot(options) {
      var self = this;
      var running = this._boot(options || {}).finally(function () {
        if (self._booting === running) self._booting = null;
      });
      this._booting = running;
      return running;
    }

    async _boot(o) {
      // Read again: another tab may have been handed the device's veilId meanwhile.
      var veilId = veilStore.get() || this.veilId || undefined;
      var body = { veilId: veilId, memberId: o.memberId, memberHash: o.memberHash, profile: o.profile };
      var answer = await this._fetch("POST", "/v1/boot", body, { "X-Plugin-Key": this.pluginKey });
      // The server issues veilIds: an unknown one comes back replaced, so keep whatever it says.
      this.veilId = answer.veilId;
      veilStore.set(answer.veilId);
      this._token = answer.sessionToken;
      if (o.memberId) this._login = { memberId: o.memberId, memberHash: o.memberHash };
      this._update(answer);
      return { user: answer.user, session: answer.session, unification: answer.unification };
    }

    /** Logs the session in as memberId (R5): unifies or converts the user at once. */
    async login(options) {
      if (!this._token && !this._booting) return this.boot(options); // a boot with memberId logs in
      var body = { memberId: options.memberId, memberHash: options.memberHash, profile: options.profile };
      var answer = await this._call("POST", "/v1/session/login", body);
      this._login = { memberId: options.memberId, memberHash: options.memberHash };
      this._update(answer);
      return answer;
    }

    /** Ends the login; the member stays the session's user until the session ends (R4.2). */
    async logout() {
      this._login = null;
      var answer = await this._call("POST", "/v1/session/logout");
      this._update(answer);
      return answer;
    }

    /** Reads the session and its user again (fires "user" if it changed). */
    async refresh() {
      var answer = await this._call("GET", "/v1/session");
      this._update(answer);
      return answer;
    }

    async track(name, properties) {
      return (await this._call("POST", "/v1/session/events", { name: name, properties: properties || {} }, true)).event;
    }

    /** Starts a chat; an anonymous user becomes a lead by it (R1.2), so the user is read again. */
    async chat(text) {
      var answer = await this._call("POST", "/v1/session/chats", { text: text }, true);
      if (this.user && this.user.type === "anonymous") await this.refresh().catch(function () {});
      return answer;
    }

    async reply(chatId, text) {
      var path = "/v1/session/chats/" + encodeURIComponent(chatId) + "/messages";
      return (await this._call("POST", path, { text: text }, true)).message;
    }

    /** The user's chats with their messages, unified users' included (at most 1,000). */
    async chats() {
      var chats = [];
      var cursor = null;
      for (var page = 0; page < CHAT_PAGES; page++) {
        var query = "?limit=100" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
        var answer = await this._call("GET", "/v1/session/chats" + query);
        chats = chats.concat(answer.chats);
        cursor = answer.nextCursor;
        if (!cursor) break;
      }
      return chats;
    }

    _update(answer) {
      var before = this.user;
      this.user = answer.user;
      if (answer.session) {
        this.session = answer.session;
        if (!answer.session.loggedIn) this._login = null;
      }
      if (sameUser(before, answer.user)) return;
      this._listeners.user.slice().forEach(function (fn) {
        try {
          fn(answer.user, before);
        } catch (error) {
          setTimeout(function () { throw error; }); // reported, but never breaks the SDK
        }
      });
    }

    /** A session call. A 401 means the session ended: boot once more, retry once (never loops). */
    async _call(method, path, body, write) {
      var key = write ? newKey() : null;
      if (!this._token) await (this._booting || this.boot());
      var token = this._token;
      try {
        return await this._fetch(method, path, body, this._auth(token, key));
      } catch (error) {
        if (error.status !== 401) throw error;
        // Calls that failed together renew together: one boot for all of them.
        if (this._token === token) await (this._booting || this.boot(this._login || {}));
        return this._fetch(method, path, body, this._auth(this._token, key));
      }
    }

    _auth(token, key) {
      var headers = { Authorization: "Bearer " + token };
      if (key) headers["Idempotency-Key"] = key;
      return headers;
    }

    /** One request, retried on network failures and 503s. Every call this SDK makes is
     * safe to repeat: writes carry their Idempotency-Key, boot/login/logout are idempotent. */
    async _fetch(method, path, body, headers) {
      if (body !== undefined) headers["Content-Type"] = "application/json";
      for (var attempt = 1; ; attempt++) {
        var response = null;
        var data = null;
        try {
          response = await fetch(this.apiBase + path, {
            method: method,
            headers: headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            credentials: "omit",
            signal: AbortSignal.timeout ? AbortSignal.timeout(TIMEOUT_MS) : undefined,
          });
          data = await response.json().catch(function (error) {
            if (error.name === "SyntaxError") return null; // not JSON: the status tells
            throw error; // the answer was cut off
          });
        } catch (error) {
          if (attempt >= ATTEMPTS) {
            throw new UnificationError(0, { code: "network_error", message: "no answer from the API (" + error + ")" });
          }
          await sleep(pause(attempt));
          continue;
        }
        if (response.ok) return data;
        if (response.status === 503 && attempt < ATTEMPTS) {
          await sleep(pause(attempt, response.headers.get("Retry-After")));
          continue;
        }
        throw new UnificationError(response.status, data && data.error);
      }
    }
  }

  root.Unification = {
    create: function (options) { return new Client(options); },
    UnificationError: UnificationError,
    version: "1",
  };
})(window);
