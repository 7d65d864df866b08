// Type declarations for the Unification browser SDK (sdk/unification.js), loaded
// with <script src="https://API/sdk/v1/unification.js">; it defines the global
// `Unification`. Shapes follow the HTTP contract (API.md, "Objects").

declare namespace Unification {
  type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

  /** Profile keys: the four the service knows, and custom keys (letters, digits, `_`). */
  interface Profile {
    name?: string | null;
    mobileNumber?: string | null;
    email?: string | null;
    companyName?: string | null;
    [customKey: string]: string | number | boolean | null | undefined;
  }

  interface User {
    id: string;
    type: "anonymous" | "lead" | "member";
    memberId: string | null;
    displayName: string;
    /** Customer-side answers list at most this device's own veilId. */
    veilIds: string[];
    channel: "web" | "line" | "instagram" | "csv" | "api";
    profile: Profile;
    verifiedFields: string[];
    unsubscribeEmail: boolean;
    unsubscribeTexting: boolean;
    unifiedInto: string | null;
    unifiedAt: string | null;
    pendingUnifications: string[];
    createdAt: string;
    updatedAt: string;
    lastSeenAt: string | null;
  }

  interface Session {
    id: string;
    expiresAt: string;
    loggedIn: boolean;
  }

  interface FieldDecision {
    field: string;
    winner: "source" | "target";
    rule: "has_value" | "verified" | "member" | "recent";
    sourceValue: Json;
    sourceVerified: boolean;
    targetValue: Json;
    targetVerified: boolean;
    /** The member's value after the unification. */
    value: Json;
  }

  interface Unification {
    id: string;
    sourceUserId: string;
    targetUserId: string;
    targetMemberId: string;
    trigger: "login" | "manager_edit" | "csv_import" | "open_api";
    status: "pending_approval" | "deferred" | "running" | "completed" | "rejected" | "cancelled";
    matchedOn: string[];
    fieldDecisions: FieldDecision[];
    progress: { chats: { moved: number; total: number }; events: { moved: number; total: number } };
    reason: string | null;
    createdAt: string;
    approvedAt: string | null;
    completedAt: string | null;
    moves: { chats: number; events: number; deliveries: number };
    waitingFor: "approval" | "member_login" | null;
  }

  interface Message {
    id: string;
    chatId: string;
    personType: "user" | "manager";
    personId: string;
    /** The author's display name; a unified user's as it was when it was unified (R3.4). */
    personName: string;
    text: string;
    createdAt: string;
  }

  interface Chat {
    id: string;
    userId: string;
    channel: string;
    createdAt: string;
    messages: Message[];
  }

  interface Event {
    id: string;
    userId: string;
    name: string;
    properties: { [key: string]: Json };
    createdAt: string;
  }

  interface Options {
    /** The shop's plugin key (not a secret: it only opens the customer side). */
    pluginKey: string;
    /** The API's origin; defaults to the origin this script was loaded from. */
    apiBase?: string;
  }

  interface Login {
    memberId: string;
    /** hex HMAC-SHA256(MEMBER_HASH_SECRET, memberId), computed by the shop's server (R5.4). */
    memberHash?: string;
    profile?: Profile;
  }

  interface BootOptions {
    memberId?: string;
    memberHash?: string;
    profile?: Profile;
  }

  interface BootResult {
    user: User;
    session: Session;
    /** The unification a login caused (R5.1), or null. */
    unification: Unification | null;
  }

  interface SessionResult {
    session: Session;
    user: User;
  }

  /** Fires with the new user and the one before (null on the first boot). */
  type UserListener = (user: User, previous: User | null) => void;

  interface Client {
    readonly pluginKey: string;
    readonly apiBase: string;
    /** The session's user; null until the first boot. */
    readonly user: User | null;
    readonly session: Session | null;
    /** This device's id, as the server issued it (kept in localStorage, or a cookie). */
    readonly veilId: string | null;

    boot(options?: BootOptions): Promise<BootResult>;
    login(login: Login): Promise<BootResult>;
    logout(): Promise<SessionResult>;
    /** Reads the session and its user again. */
    refresh(): Promise<SessionResult>;
    track(name: string, properties?: { [key: string]: Json }): Promise<Event>;
    /** Starts a chat (the user becomes a lead, R1.2). */
    chat(text: string): Promise<{ chat: Chat; message: Message }>;
    reply(chatId: string, text: string): Promise<Message>;
    /** The user's chats with their messages, in the server's order, at most 1,000. */
    chats(): Promise<Chat[]>;
    /** "user": the session's user changed (first boot, a login that unified or converted,
     * a new anonymous user after the session ended, a chat that made a lead). */
    on(event: "user", listener: UserListener): Client;
    off(event: "user", listener: UserListener): Client;
  }

  /** Rejections carry the contract's error: `{"error": {"code", "message"}}`. */
  class UnificationError extends Error {
    /** HTTP status; 0 when no answer arrived (network_error). */
    readonly status: number;
    /** e.g. "unauthorized", "invalid_request", "network_error". */
    readonly code: string;
    /** The whole `error` object (e.g. `unifiedInto`). */
    readonly details: { code?: string; message?: string; [more: string]: Json | undefined };
  }

  function create(options: Options): Client;
  const version: string;
}

interface Window {
  Unification: typeof Unification;
}
