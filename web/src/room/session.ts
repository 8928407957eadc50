// A user's seat in one room: the room namespace socket, join / queue / re-join after a
// reconnect, and the room events, forwarded to whoever renders them.

import type { Socket } from "socket.io-client";
import { namespace, refusalOf, reportProblem } from "../connection";
import { describeError, toApiError } from "../errors";
import type { ApiError, ChatMessage, JoinSuccess, TimerInfo, User } from "../types";
import { isError } from "../types";

const ACK_TIMEOUT_MS = 15000;

export interface RoomEvents {
  /** A (re-)join succeeded: render everything from this snapshot. */
  joined: (state: JoinSuccess, isRejoin: boolean) => void;
  queued: (position: number) => void;
  /** Joining failed (initially or when re-joining after a reconnect). */
  failed: (error: ApiError) => void;
  "user-joined": (p: {
    userId: string;
    userName: string;
    joinedAt?: string;
    currentOccupancy?: number;
    isVideoEnabled?: boolean;
    isAudioEnabled?: boolean;
  }) => void;
  "user-left": (p: { userId: string; currentOccupancy?: number }) => void;
  "new-message": (p: { roomId?: string; message: ChatMessage }) => void;
  "participant-video-toggle": (p: { userId: string; enabled: boolean }) => void;
  "participant-audio-toggle": (p: { userId: string; enabled: boolean }) => void;
  "active-speaker": (p: { userId: string | null }) => void;
  "timer-changed": (p: { roomId?: string; timer: TimerInfo }) => void;
  "participant-status-changed": (p: { userId: string; status: string | null }) => void;
  "rate-limit-exceeded": (p: { action?: string; resetTime?: string | number; retryAfter?: number }) => void;
  notice: (error: ApiError) => void;
  connection: (connected: boolean) => void;
  /** Another tab of this person took the seat over; this socket is closed next. */
  "seat-moved": () => void;
}

type Handlers = { [K in keyof RoomEvents]?: RoomEvents[K][] };

export class RoomSession {
  readonly socket: Socket;
  private handlers: Handlers = {};
  private joined = false;
  private disposed = false;
  private joining: Promise<void> | null = null;
  private retryTimer: number | undefined;
  /** Acknowledged requests in flight: their failures arrive in the ack, so the twin `error` event is ignored. */
  private inFlight = 0;
  private rejection: ApiError | null = null;
  /** Whether join-room may move the seat here from another tab (asked first on a fresh join). */
  takeOver = false;

  constructor(readonly roomId: string, public user: User) {
    this.socket = namespace(`/public-room/${encodeURIComponent(roomId)}`);
    this.socket.removeAllListeners();
    this.bind();
  }

  on<K extends keyof RoomEvents>(event: K, fn: RoomEvents[K]): void {
    ((this.handlers[event] ??= []) as RoomEvents[K][]).push(fn);
  }

  private emitLocal<K extends keyof RoomEvents>(event: K, ...args: Parameters<RoomEvents[K]>): void {
    for (const fn of this.handlers[event] ?? []) (fn as (...a: Parameters<RoomEvents[K]>) => void)(...args);
  }

  get isJoined(): boolean {
    return this.joined;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Connects the namespace (if needed) and emits join-room; the outcome arrives as an event. */
  start(): void {
    if (this.socket.connected) void this.join();
    else this.socket.connect();
  }

  private bind(): void {
    const s = this.socket;
    s.on("connect", () => {
      this.emitLocal("connection", true);
      // Covers the first connect and every reconnect: join-room is idempotent, and its ack
      // carries the full room state (participants, recent chat) to re-render from.
      void this.join();
    });
    s.on("disconnect", (reason) => {
      this.emitLocal("connection", false);
      if (this.disposed) return;
      const rejection = this.rejection;
      this.rejection = null;
      if (rejection) {
        // Refused: don't let the library hammer the server; explain, and retry after its wait.
        // (Any reason: some servers' refusal packet reaches the client as a parse error.)
        s.disconnect();
        if (!this.joined) {
          this.emitLocal("failed", rejection);
          return;
        }
        reportProblem(describeError(rejection));
        this.scheduleReconnect(rejection.retryAfter ?? 5);
        return;
      }
      // The server closed this namespace (timed out, shutting down): the library won't retry, we do.
      if (reason === "io server disconnect") this.scheduleReconnect(2);
    });
    s.on("connect_error", (err: Error & { data?: unknown }) => {
      if (this.disposed) return;
      // Transport trouble is retried by the client library (s.active stays true); a refusal by
      // the server is not, so it is explained and retried here after the server's wait.
      if (s.active) return;
      const refusal = refusalOf(err);
      const error: ApiError = refusal
        ? { code: refusal.code, message: refusal.message, retryAfter: refusal.retryAfter }
        : { code: "CONNECTION_REFUSED", message: err.message };
      if (this.joined) {
        this.emitLocal("notice", error);
        this.scheduleReconnect(error.retryAfter ?? 5);
      } else {
        this.emitLocal("failed", error);
      }
    });
    s.on("ping", () => s.emit("pong")); // listeners were reset above: answer pings again
    s.on("queue-position-changed", (p: { position: number }) => this.emitLocal("queued", p.position));
    s.on("queue-admitted", () => void this.join());
    s.on("user-joined", (p) => this.emitLocal("user-joined", p));
    s.on("user-left", (p) => this.emitLocal("user-left", p));
    s.on("new-message", (p) => this.emitLocal("new-message", p));
    s.on("participant-video-toggle", (p) => this.emitLocal("participant-video-toggle", p));
    s.on("participant-audio-toggle", (p) => this.emitLocal("participant-audio-toggle", p));
    s.on("active-speaker", (p) => this.emitLocal("active-speaker", p ?? { userId: null }));
    s.on("timer-changed", (p) => this.emitLocal("timer-changed", p));
    s.on("participant-status-changed", (p) => this.emitLocal("participant-status-changed", p));
    s.on("rate-limit-exceeded", (p) => this.emitLocal("rate-limit-exceeded", p ?? {}));
    // A refused connection is first told why, then disconnected by the server.
    s.on("connection-rejected", (p) => {
      this.rejection = toApiError(p, "CONNECTION_REFUSED");
      if (this.joined) this.emitLocal("notice", this.rejection);
    });
    s.on("error", (p) => {
      if (this.inFlight === 0) this.emitLocal("notice", toApiError(p, "ERROR"));
    });
    s.on("seat-moved", () => {
      // Not a connection problem: stop here (no reconnect) and let the page say what happened.
      this.dispose();
      this.emitLocal("seat-moved");
    });
    s.on("server-shutting-down", () => {
      reportProblem("The server is restarting. You'll be reconnected automatically.");
      this.emitLocal("notice", { code: "SERVER_SHUTTING_DOWN", message: "The server is restarting. You'll be reconnected automatically." });
    });
  }

  private scheduleReconnect(seconds: number): void {
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => {
      if (!this.disposed && !this.socket.active) this.socket.connect();
    }, Math.max(1, seconds) * 1000);
  }

  private join(): Promise<void> {
    this.joining ??= this.doJoin().finally(() => {
      this.joining = null;
    });
    return this.joining;
  }

  private async doJoin(): Promise<void> {
    const isRejoin = this.joined;
    let ack: unknown;
    this.inFlight++;
    try {
      ack = await this.socket
        .timeout(ACK_TIMEOUT_MS)
        .emitWithAck("join-room", {
          userId: this.user.userId,
          userName: this.user.displayName,
          // Re-joining after a reconnect is this tab's own seat: never ask then.
          takeOver: this.takeOver || isRejoin,
        });
    } catch {
      if (this.disposed) return;
      // No answer: if the socket is still up, the server is slow; tell the user, keep the seat.
      if (!this.socket.connected) return; // the next "connect" re-joins
      const error: ApiError = { code: "TIMEOUT", message: "" };
      if (isRejoin) this.emitLocal("notice", error);
      else this.emitLocal("failed", error);
      return;
    } finally {
      this.inFlight--;
    }
    if (this.disposed) return;
    if (isError(ack)) {
      const error = toApiError(ack);
      if (error.code === "SYSTEM_AT_CAPACITY") {
        const position = Number(error.details?.position ?? 0);
        this.emitLocal("queued", position);
        return;
      }
      this.joined = false;
      this.emitLocal("failed", error);
      return;
    }
    const state = ack as JoinSuccess;
    if (state.self) this.user = state.self;
    this.joined = true;
    this.emitLocal("joined", state, isRejoin);
  }

  sendMessage(content: string): Promise<{ message?: ChatMessage; error?: ApiError }> {
    return this.request("send-message", { content }).then((ack) =>
      isError(ack) ? { error: toApiError(ack) } : { message: (ack as { message?: ChatMessage }).message },
    );
  }

  toggle(kind: "video" | "audio", enabled: boolean): Promise<{ error?: ApiError }> {
    return this.request(`toggle-${kind}`, { userId: this.user.userId, enabled }).then((ack) =>
      isError(ack) ? { error: toApiError(ack) } : {},
    );
  }

  /** Reports someone in the room; null once received, else what went wrong. */
  report(userId: string, reason: string, text: string): Promise<string | null> {
    return this.request("report-user", { userId, reason, text }).then((ack) =>
      isError(ack) ? toApiError(ack).message || "The report could not be sent." : null,
    );
  }

  /** Starts, pauses or skips the room's shared timer. */
  timer(action: "start" | "pause" | "skip"): Promise<{ timer?: TimerInfo; error?: ApiError }> {
    return this.request(`timer-${action}`, {}).then((ack) =>
      isError(ack) ? { error: toApiError(ack) } : { timer: (ack as { timer?: TimerInfo }).timer },
    );
  }

  /** Says what this person is working on ("" clears it). */
  setStatus(status: string): Promise<{ status?: string | null; error?: ApiError }> {
    return this.request("set-status", { status }).then((ack) =>
      isError(ack) ? { error: toApiError(ack) } : { status: (ack as { status?: string | null }).status ?? null },
    );
  }

  private async request(event: string, payload: unknown): Promise<unknown> {
    if (!this.socket.connected) return { error: { code: "NETWORK", message: "" } };
    this.inFlight++;
    try {
      return await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
    } catch {
      return { error: { code: "TIMEOUT", message: "" } };
    } finally {
      this.inFlight--;
    }
  }

  /** Leaves the room (or the queue) and closes the namespace. */
  async leave(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    window.clearTimeout(this.retryTimer);
    if (this.socket.connected) {
      try {
        await this.socket.timeout(3000).emitWithAck("leave-room", { userId: this.user.userId });
      } catch {
        // Disconnecting below releases the seat on the server anyway.
      }
    }
    this.dispose();
  }

  /** Drops the socket without telling the server (it notices the disconnect). */
  dispose(): void {
    this.disposed = true;
    this.joined = false;
    window.clearTimeout(this.retryTimer);
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }
}
