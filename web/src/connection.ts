// One Socket.IO manager (one transport connection) shared by the lobby and room namespaces,
// plus the connection status shown in the header.

import { Manager, type Socket } from "socket.io-client";

export type ConnectionState = "connecting" | "online" | "reconnecting" | "offline";

export interface ConnectionStatus {
  state: ConnectionState;
  attempt: number;
  detail: string;
}

type Listener = (status: ConnectionStatus) => void;

const listeners = new Set<Listener>();
let status: ConnectionStatus = { state: "connecting", attempt: 0, detail: "" };

export const manager = new Manager(window.location.origin, {
  path: "/socket.io",
  autoConnect: false,
  // Exponential backoff with jitter: 1 s, 2 s, 4 s … capped at 15 s.
  reconnection: true,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 15000,
  randomizationFactor: 0.5,
  timeout: 10000,
});

function setStatus(next: Partial<ConnectionStatus>): void {
  status = { ...status, ...next };
  for (const fn of listeners) fn(status);
}

export function onStatus(fn: Listener): () => void {
  listeners.add(fn);
  fn(status);
  return () => listeners.delete(fn);
}

/** Marks the connection as offline with an explanation (e.g. the server is shutting down). */
export function reportProblem(detail: string): void {
  setStatus({ state: status.state === "online" ? "reconnecting" : status.state, detail });
}

manager.on("open", () => setStatus({ state: "online", attempt: 0, detail: "" }));
manager.on("close", (reason: string) => {
  // "forced close" is us closing the last namespace on purpose: not a problem to report.
  if (reason !== "forced close" && manager.reconnection()) setStatus({ state: "reconnecting" });
});
manager.on("reconnect_attempt", (attempt: number) => setStatus({ state: "reconnecting", attempt }));
manager.on("reconnect_failed", () => setStatus({ state: "offline" }));
window.addEventListener("offline", () => setStatus({ state: "reconnecting", detail: "Your device is offline." }));
window.addEventListener("online", () => setStatus({ detail: "" }));

/** The socket for a namespace on the shared connection. */
export function namespace(nsp: string): Socket {
  const socket = manager.socket(nsp);
  // The server pings idle sockets on every namespace (the lobby too) and ends those that do
  // not answer three times; answering here keeps a page left open alive.
  if (!socket.hasListeners("ping")) socket.on("ping", () => socket.emit("pong"));
  return socket;
}

/** Refusal data sent with connect_error by the server ({code, message, retryAfter?}). */
export function refusalOf(err: Error & { data?: unknown }): { code: string; message: string; retryAfter?: number } | null {
  const data = err.data as Record<string, unknown> | undefined;
  if (data && typeof data.code === "string") {
    return {
      code: data.code,
      message: typeof data.message === "string" ? data.message : "",
      retryAfter: typeof data.retryAfter === "number" ? data.retryAfter : undefined,
    };
  }
  return null;
}
