// The lobby: every public room with live occupancy, from the "/" namespace.

import { listRooms } from "../api";
import { namespace, refusalOf } from "../connection";
import { describeError, toApiError } from "../errors";
import { h, clear } from "../dom";
import { occupancyLabel } from "../format";
import { received, timerSummary, type LocalTimer } from "../timerClock";
import type { ApiError, Room } from "../types";

type JoinHandler = (room: Room) => void;

interface OccupancyUpdate {
  roomId: string;
  currentOccupancy: number;
  capacity?: number;
  isFull?: boolean;
}

/** Seats taken in the whole system and the queue (`system-occupancy-update`). */
export interface SystemOccupancy {
  seatsTaken: number;
  systemCapacity: number;
  waiting: number;
  isFull: boolean;
}

/** Live room list shared by the lobby view and the join dialog ("other rooms to try"). */
export class RoomDirectory {
  private rooms = new Map<string, Room>();
  /** Each room's timer with this browser's clock offset, taken when it arrived. */
  private timers = new Map<string, LocalTimer>();
  private listeners = new Set<() => void>();
  private socket = namespace("/");
  loaded = false;
  loadError = "";
  /** The latest system-wide count, or null until the server has sent one. */
  system: SystemOccupancy | null = null;
  private wanted = false;
  private retryTimer = 0;
  private rejection: ApiError | null = null;

  constructor() {
    this.socket.on("rooms", (payload: { rooms: Room[] } | Room[]) => {
      this.replace(Array.isArray(payload) ? payload : payload.rooms, true);
    });
    this.socket.on("room-occupancy-update", (u: OccupancyUpdate) => this.update(u));
    this.socket.on("room-updated", (p: { room: Room }) => {
      if (!p?.room || !this.rooms.has(p.room.id)) return;
      this.rooms.set(p.room.id, { ...p.room });
      this.noteTimer(p.room);
      this.notify();
    });
    this.socket.on("system-occupancy-update", (s: SystemOccupancy) => {
      this.system = s;
      this.notify();
    });
    // A refused connection is told why (`connection-rejected`), then disconnected by the server.
    this.socket.on("connection-rejected", (p: unknown) => {
      this.rejection = toApiError(p, "CONNECTION_REFUSED");
    });
    this.socket.on("connect_error", (err: Error & { data?: unknown }) => {
      if (this.socket.active) return; // transport trouble: the client library retries by itself
      this.refused(refusalOf(err) ?? { code: "CONNECTION_REFUSED", message: err.message });
    });
    this.socket.on("disconnect", (reason: string) => {
      const rejection = this.rejection;
      this.rejection = null;
      if (!this.wanted) return;
      if (rejection) {
        this.socket.disconnect(); // refused: retry on our schedule, not the library's
        this.refused(rejection);
      } else if (reason === "io server disconnect") {
        this.retryLater(2);
      }
    });
    this.socket.on("connect", () => {
      if (this.loadError) {
        this.loadError = "";
        this.notify();
      }
    });
  }

  /** Starts listening; the REST list paints quickly, the socket snapshot then keeps it live. */
  start(): void {
    this.wanted = true;
    if (!this.socket.active) this.socket.connect();
    listRooms()
      .then((rooms) => {
        if (!this.loaded) this.replace(rooms);
      })
      .catch(() => {
        if (!this.loaded) {
          this.loadError = "The room list couldn't be loaded. Retrying…";
          this.notify();
        }
      });
  }

  /** Explains why live updates stopped and tries again after the server's wait. */
  private refused(error: ApiError): void {
    this.loadError = `${describeError(error)} Live updates are paused; retrying…`;
    this.notify();
    this.retryLater(error.retryAfter ?? 10);
  }

  private retryLater(seconds: number): void {
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => {
      if (this.wanted && !this.socket.active) this.socket.connect();
    }, Math.max(2, seconds) * 1000);
  }

  stop(): void {
    this.wanted = false;
    window.clearTimeout(this.retryTimer);
    this.socket.disconnect();
  }

  list(): Room[] {
    return [...this.rooms.values()];
  }

  get(id: string): Room | undefined {
    return this.rooms.get(id);
  }

  timer(id: string): LocalTimer | null {
    return this.timers.get(id) ?? null;
  }

  private noteTimer(room: Room): void {
    if (room.timer) this.timers.set(room.id, received(room.timer));
    else this.timers.delete(room.id);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private replace(rooms: Room[], live = false): void {
    this.rooms = new Map(rooms.map((r) => [r.id, { ...r }]));
    this.timers.clear();
    for (const room of rooms) this.noteTimer(room);
    this.loaded = true;
    if (live) this.loadError = ""; // only a live snapshot proves the socket works again
    this.notify();
  }

  update(u: OccupancyUpdate): void {
    const room = this.rooms.get(u.roomId);
    if (!room) return;
    room.currentOccupancy = u.currentOccupancy;
    if (typeof u.capacity === "number") room.capacity = u.capacity;
    room.isFull = typeof u.isFull === "boolean" ? u.isFull : room.currentOccupancy >= room.capacity;
    this.notify();
  }

  private notify(): void {
    for (const fn of this.listeners) fn();
  }
}

export class LobbyView {
  readonly el: HTMLElement;
  private listEl: HTMLUListElement;
  private summaryEl: HTMLParagraphElement;
  private systemEl: HTMLParagraphElement;
  private cards = new Map<string, { li: HTMLLIElement; render: (room: Room) => void; tick: () => void }>();

  constructor(private directory: RoomDirectory, private onJoin: JoinHandler) {
    this.summaryEl = h("p", { class: "lobby-summary", "aria-live": "polite" }, "Loading rooms…");
    this.systemEl = h("p", { class: "lobby-system notice notice-queue", role: "status", hidden: true });
    this.listEl = h("ul", { class: "room-list", "aria-label": "Study rooms" });
    this.el = h(
      "section",
      { class: "lobby", "aria-labelledby": "lobby-title" },
      h(
        "div",
        { class: "lobby-intro" },
        h("h1", { id: "lobby-title" }, "Study rooms"),
        h("p", { class: "lead" }, "Pick a room, choose a name, and study alongside others. No account needed — camera and microphone stay off until you turn them on."),
        this.summaryEl,
        this.systemEl,
      ),
      this.listEl,
    );
    directory.subscribe(() => this.render());
    // The timers' minutes left count down between updates (the view lives as long as the page).
    window.setInterval(() => {
      for (const card of this.cards.values()) card.tick();
    }, 5000);
  }

  render(): void {
    const rooms = this.directory.list();
    if (!this.directory.loaded) {
      this.summaryEl.textContent = this.directory.loadError || "Loading rooms…";
      return;
    }
    const people = rooms.reduce((n, r) => n + r.currentOccupancy, 0);
    const open = rooms.filter((r) => !r.isFull).length;
    // When the whole system is full, rooms with free seats would mislead: the notice below says why.
    const seats = this.directory.system?.isFull ? "" : ` · ${open} of ${rooms.length} rooms have free seats`;
    this.summaryEl.textContent = this.directory.loadError || `${people} ${people === 1 ? "person" : "people"} studying${seats}`;

    this.renderSystem();

    const seen = new Set<string>();
    rooms.forEach((room, index) => {
      seen.add(room.id);
      let card = this.cards.get(room.id);
      if (!card) {
        card = this.createCard(room);
        this.cards.set(room.id, card);
      }
      card.render(room);
      // Keep server order without rebuilding nodes (preserves keyboard focus).
      if (this.listEl.children[index] !== card.li) this.listEl.insertBefore(card.li, this.listEl.children[index] ?? null);
    });
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.li.remove();
        this.cards.delete(id);
      }
    }
    if (rooms.length === 0) {
      clear(this.listEl);
      this.summaryEl.textContent = "No rooms are open right now.";
    }
  }

  /** When every seat of the system is taken, a join waits in the queue: say so, and how long it is. */
  private renderSystem(): void {
    const system = this.directory.system;
    this.systemEl.hidden = !system?.isFull;
    if (!system?.isFull) return;
    const waiting = system.waiting === 0 ? "Nobody is waiting yet" : `${system.waiting} ${system.waiting === 1 ? "person is" : "people are"} waiting`;
    this.systemEl.replaceChildren(
      h("strong", { class: "lobby-system-title" }, `All study rooms are at capacity right now (${system.seatsTaken} of ${system.systemCapacity} seats taken).`),
      h("span", { class: "lobby-system-queue" }, `Joining a room puts you in the queue: ${waiting}. You'll enter automatically when a seat frees up.`),
    );
    this.systemEl.dataset.waiting = String(system.waiting);
  }

  private createCard(initial: Room) {
    const title = h("h2", { class: "room-name", id: `room-${initial.id}-name` });
    const count = h("span", { class: "room-count", "aria-hidden": "true" });
    const countText = h("span", { class: "visually-hidden" });
    const meter = h("meter", { class: "room-meter", min: 0, "aria-hidden": "true" });
    const badge = h("span", { class: "badge" });
    const cameras = h("span", { class: "room-cameras" });
    const timerLine = h("span", { class: "room-timer" });
    const button = h("button", { type: "button", class: "btn btn-primary room-join" });
    button.addEventListener("click", () => {
      const room = this.directory.get(initial.id);
      if (room) this.onJoin(room);
    });
    const li = h(
      "li",
      { class: "room-card", "data-room-id": initial.id },
      h("div", { class: "room-card-head" }, title, badge),
      h("div", { class: "room-occupancy" }, meter, count, countText),
      h("p", { class: "room-mood" }, cameras, timerLine),
      button,
    );
    const tick = () => {
      const timer = this.directory.timer(initial.id);
      const text = timerSummary(timer);
      timerLine.textContent = text;
      timerLine.hidden = !text;
      timerLine.dataset.phase = timer && timer.info.status !== "stopped" ? timer.info.phase : "";
    };
    const render = (room: Room) => {
      const on = room.camerasOn ?? 0;
      cameras.textContent = room.currentOccupancy === 0 ? "Nobody here yet" : on === 0 ? "Cameras off" : `${on} ${on === 1 ? "camera" : "cameras"} on`;
      tick();
      title.textContent = room.name;
      count.textContent = `${room.currentOccupancy} / ${room.capacity}`;
      countText.textContent = `${occupancyLabel(room.currentOccupancy, room.capacity)}${room.isFull ? ", full" : ""}`;
      meter.max = Math.max(room.capacity, 1);
      meter.value = Math.min(room.currentOccupancy, room.capacity);
      meter.low = Math.max(room.capacity * 0.6, 0.1);
      meter.high = Math.max(room.capacity - 0.5, 0.1);
      meter.optimum = 0;
      li.classList.toggle("is-full", room.isFull);
      li.classList.toggle("is-empty", room.currentOccupancy === 0);
      badge.textContent = room.isFull ? "Full" : room.currentOccupancy === 0 ? "Empty" : "Open";
      badge.className = `badge ${room.isFull ? "badge-full" : "badge-open"}`;
      button.textContent = room.isFull ? "Full" : "Join";
      button.disabled = room.isFull;
      button.setAttribute("aria-label", room.isFull ? `${room.name} is full` : `Join ${room.name}`);
      li.dataset.full = String(room.isFull);
    };
    return { li, render, tick };
  }
}
