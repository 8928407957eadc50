// One place that turns server error codes into plain words for people.

import type { ApiError } from "./types";

const MESSAGES: Record<string, string> = {
  ROOM_FULL: "This room is full right now.",
  ALREADY_IN_ROOM: "You're already in another room (perhaps in another tab or window). Leave it there first, then try again.",
  RATE_LIMIT_EXCEEDED: "Too many requests from your connection.",
  JOIN_LIMIT_EXCEEDED: "Too many join attempts in a short time.",
  CHAT_RATE_LIMIT_EXCEEDED: "You're sending messages faster than the room allows.",
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
  NOT_IN_ROOM: "You're no longer in this room. Join it again from the lobby.",
  SERVER_SHUTTING_DOWN: "The server is restarting. You'll be reconnected automatically.",
  INTERNAL_ERROR: "Something went wrong on the server. Please try again.",
  CONNECTION_REFUSED: "The server refused the connection — perhaps too many tabs of this site are open. Close the others and try again.",
  NETWORK: "Can't reach the server. Check your connection and try again.",
  TIMEOUT: "The server took too long to answer. Try again.",
};

/** Plain-language text for an error; never includes markup. */
export function describeError(error: ApiError): string {
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
