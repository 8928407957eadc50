// REST client for /api/public.

import { toApiError } from "./errors";
import type { ApiError, PublicConfig, Room, User } from "./types";
import { DEFAULT_MAX_MESSAGE, DEFAULT_MAX_NAME } from "./format";

export class ApiFailure extends Error {
  constructor(readonly error: ApiError) {
    super(error.message || error.code);
  }
}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      ...init,
      headers: { Accept: "application/json", ...(init?.body ? { "Content-Type": "application/json" } : {}) },
      credentials: "same-origin",
    });
  } catch {
    throw new ApiFailure({ code: "NETWORK", message: "" });
  }
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = toApiError(body, response.status === 404 ? "ROOM_NOT_FOUND" : "NETWORK");
    const header = Number(response.headers.get("Retry-After"));
    if (error.retryAfter === undefined && Number.isFinite(header) && header > 0) error.retryAfter = header;
    throw new ApiFailure(error);
  }
  return body as T;
}

export function listRooms(): Promise<Room[]> {
  return request<Room[] | { rooms: Room[] }>("/api/public/rooms").then((r) => (Array.isArray(r) ? r : r.rooms));
}

export function createUser(displayName: string): Promise<User> {
  return request<User>("/api/public/users", { method: "POST", body: JSON.stringify({ displayName }) });
}

const FALLBACK_CONFIG: PublicConfig = {
  iceServers: [],
  maxDisplayNameLength: DEFAULT_MAX_NAME,
  maxMessageLength: DEFAULT_MAX_MESSAGE,
};

let configPromise: Promise<PublicConfig> | null = null;

/** Public config, fetched once; falls back to defaults so the page still works if it fails. */
export function getConfig(): Promise<PublicConfig> {
  configPromise ??= request<PublicConfig>("/api/public/config")
    .then((c) => ({ ...FALLBACK_CONFIG, ...c }))
    .catch(() => {
      configPromise = null;
      return FALLBACK_CONFIG;
    });
  return configPromise;
}
