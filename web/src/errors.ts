// One place that turns server error codes into plain words for people.

import type { ApiError } from "./types";

const MESSAGES: Record<string, string> = {
  ROOM_FULL: "This room is full right now.",
  ALREADY_IN_ROOM: "You're already in another room (perhaps in another tab or window). Leave it there first, then try again.",
  RATE_LIMIT_EXCEEDED: "Too many requests from your connection.",
  JOIN_LIMIT_EXCEEDED: "Too many join attempts in a short time.",
  CHAT_RATE_LIMIT_EXCEEDED: "You're sending messages faster than the room allows.",
  TIMER_LIMIT_EXCEEDED: "The timer has been changed a lot just now — give it a moment.",
  STATUS_LIMIT_EXCEEDED: "You've changed your status a lot just now — try again in a moment.",
  IP_BLOCKED: "Access from your network is temporarily blocked.",
  SYSTEM_AT_CAPACITY: "The study rooms are at capacity. You're in the queue.",
  ROOM_NOT_FOUND: "That room doesn't exist (any more).",
  INVALID_DISPLAY_NAME: "That display name can't be used. Try letters, numbers and spaces.",
  INVALID_MESSAGE: "That message can't be sent. Messages are 1 to 1000 characters of plain text.",
  MALICIOUS_INPUT: "That text was refused by the server's safety checks. Try rephrasing it.",
  INVALID_USER: "Your session doesn't match this connection. Please join again.",
  INVALID_REQUEST: "The server didn't understand that request.",
  TOO_MANY_CONNECTIONS: "Too many open connections from your network. Close other tabs of this site and try again.",
  RECONNECTION_THROTTLED: "Reconnecting too quickly.",
  CONNECTION_TIMEOUT: "The connection timed out.",
  SEATED_ELSEWHERE: "You're in this room in another tab — use it here?",
  SEAT_MOVED: "You opened this room in another tab, so you're no longer in it here.",
  NOT_IN_ROOM: "You're no longer in this room. Join it again from the lobby.",
  SERVER_SHUTTING_DOWN: "The server is restarting. You'll be reconnected automatically.",
  INTERNAL_ERROR: "Something went wrong on the server. Please try again.",
  CONNECTION_REFUSED: "The server refused the connection — perhaps too many tabs of this site are open. Close the others and try again.",
  NETWORK: "Can't reach the server. Check your connection and try again.",
  TIMEOUT: "The server took too long to answer. Try again.",
};

/** Why the server refused text (`details.reason` of MALICIOUS_INPUT), in words. */
const REFUSAL_REASONS: Record<string, string> = {
  "sql-injection": "it looks like a database attack (SQL injection)",
  "event-handler": "it has an on…= event-handler attribute",
  "script-url": "it has a javascript: or vbscript: link",
  "data-url": "it has a data: page link",
  srcdoc: "it has a srcdoc attribute",
  "meta-http-equiv": "it has a <meta http-equiv> tag",
  "active-css": "it has CSS that could run script",
};

function refusalReason(reason: string): string {
  if (REFUSAL_REASONS[reason]) return REFUSAL_REASONS[reason];
  const element = /^element:([a-z0-9-]+)$/i.exec(reason);
  if (element) return `it has a <${element[1]}> tag, which could run script`;
  return "";
}

/** Plain-language text for an error; never includes markup. */
export function describeError(error: ApiError): string {
  if (error.code === "MALICIOUS_INPUT") {
    // The server says why: show that, so people can fix their text instead of guessing.
    const why = refusalReason(String(error.details?.reason ?? ""));
    if (why) return `That text was refused because ${why}. Plain text, angle brackets and tag names like <div> are fine — leave out the markup.`;
    if (error.message) return error.message;
  }
  return MESSAGES[error.code] ?? error.message ?? "Something went wrong.";
}

/** Codes after which the user must wait `retryAfter` seconds before trying again. */
export function isWaitError(error: ApiError): boolean {
  return typeof error.retryAfter === "number" && error.retryAfter > 0;
}

export function toApiError(value: unknown, fallbackCode = "NETWORK"): ApiError {
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string, unknown>;
    const inner = (typeof v.error === "object" && v.error !== null ? v.error : v) as Record<string, unknown>;
    if (typeof inner.code === "string") {
      return {
        code: inner.code,
        message: typeof inner.message === "string" ? inner.message : "",
        retryAfter: typeof inner.retryAfter === "number" ? inner.retryAfter : undefined,
        details: typeof inner.details === "object" && inner.details !== null ? (inner.details as Record<string, unknown>) : undefined,
      };
    }
  }
  return { code: fallbackCode, message: "" };
}
