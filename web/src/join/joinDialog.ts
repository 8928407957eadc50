// The join dialog: display name (validated inline, remembered), then join over the socket,
// with plain-language errors, countdowns for limits and the live system-capacity queue.

import { ApiFailure, createUser, getConfig } from "../api";
import { countdown } from "../countdown";
import { h, clear } from "../dom";
import { describeError } from "../errors";
import { charLength, DEFAULT_MAX_NAME, validateDisplayName } from "../format";
import type { RoomDirectory } from "../lobby/lobby";
import { DevicePreview } from "./devicePreview";
import type { LocalMedia } from "../room/localMedia";
import { RoomSession } from "../room/session";
import { rememberedName } from "../storage";
import type { ApiError, JoinSuccess, Room } from "../types";

/** Joined: the session, its first snapshot, and the devices chosen before joining (running). */
export type Joined = (session: RoomSession, state: JoinSuccess, local: LocalMedia, want: { video: boolean; audio: boolean }) => void;

export class JoinDialog {
  readonly el: HTMLDialogElement;
  private form: HTMLFormElement;
  private title: HTMLHeadingElement;
  private input: HTMLInputElement;
  private nameHint: HTMLParagraphElement;
  private nameError: HTMLParagraphElement;
  private submit: HTMLButtonElement;
  private status: HTMLDivElement;
  private alternatives: HTMLDivElement;
  private cancelButton: HTMLButtonElement;
  private room: Room | null = null;
  private session: RoomSession | null = null;
  private stopCountdown: (() => void) | null = null;
  private busy = false;
  private maxName = DEFAULT_MAX_NAME;
  private touched = false;
  private takeOver = false;
  private readonly preview = new DevicePreview();

  constructor(private directory: RoomDirectory, private onJoined: Joined) {
    this.title = h("h2", { id: "join-title" }, "Join room");
    this.input = h("input", {
      id: "display-name",
      name: "displayName",
      type: "text",
      autocomplete: "nickname",
      spellcheck: "false",
      required: true,
      "aria-describedby": "display-name-hint display-name-error",
    });
    this.nameHint = h("p", { id: "display-name-hint", class: "field-hint" });
    this.nameError = h("p", { id: "display-name-error", class: "field-error", "aria-live": "polite" });
    this.submit = h("button", { type: "submit", class: "btn btn-primary" }, "Join");
    this.cancelButton = h("button", { type: "button", class: "btn btn-ghost" }, "Cancel");
    this.status = h("div", { class: "join-status", role: "status", "aria-live": "polite" });
    this.alternatives = h("div", { class: "join-alternatives" });
    this.form = h(
      "form",
      { class: "join-form", novalidate: true },
      this.title,
      h("p", { class: "join-lead" }, "Choose the name others will see. It's remembered on this device."),
      h("div", { class: "field" }, h("label", { for: "display-name" }, "Display name"), this.input, h("div", { class: "field-meta" }, this.nameError, this.nameHint)),
      this.preview.el,
      this.status,
      this.alternatives,
      h("div", { class: "dialog-actions" }, this.cancelButton, this.submit),
    );
    this.el = h("dialog", { class: "join-dialog", "aria-labelledby": "join-title" }, this.form);

    this.input.addEventListener("input", () => this.validate(false));
    this.input.addEventListener("blur", () => {
      if (this.input.value) this.touched = true;
      this.validate(false);
    });
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.join();
    });
    this.cancelButton.addEventListener("click", () => this.close());
    this.el.addEventListener("cancel", (e) => {
      e.preventDefault();
      this.close();
    });
    void getConfig().then((c) => {
      this.maxName = c.maxDisplayNameLength;
      this.validate(false);
    });
  }

  open(room: Room, options: { autoJoin?: boolean; takeOver?: boolean } = {}): void {
    this.reset();
    this.room = room;
    // A reload of a tab that was in the room takes its own seat back without asking.
    this.takeOver = !!options.takeOver;
    void this.preview.start();
    this.title.textContent = `Join ${room.name}`;
    this.input.value = this.input.value || rememberedName.get();
    this.touched = false;
    this.validate(false);
    if (!this.el.open) this.el.showModal();
    this.input.focus();
    this.input.select();
    if (options.autoJoin && !validateDisplayName(this.input.value, this.maxName)) void this.join();
  }

  get isOpen(): boolean {
    return this.el.open;
  }

  /** Closes the dialog; a pending join or queue place is abandoned. */
  close(): void {
    if (this.session) {
      void this.session.leave();
      this.session = null;
    }
    this.preview.stop();
    this.reset();
    if (this.el.open) this.el.close();
  }

  private reset(): void {
    this.stopCountdown?.();
    this.stopCountdown = null;
    this.busy = false;
    clear(this.status);
    clear(this.alternatives);
    this.status.className = "join-status";
    this.status.setAttribute("role", "status");
    this.setFormEnabled(true);
    this.submit.textContent = "Join";
    this.cancelButton.textContent = "Cancel";
  }

  private validate(force: boolean): boolean {
    const message = validateDisplayName(this.input.value, this.maxName);
    const len = charLength(this.input.value.trim());
    this.nameHint.textContent = `${len} / ${this.maxName}`;
    this.nameHint.classList.toggle("over", len > this.maxName);
    const show = message && (force || this.touched || len > this.maxName);
    this.nameError.textContent = show ? message : "";
    this.input.setAttribute("aria-invalid", show ? "true" : "false");
    return !message;
  }

  private setFormEnabled(enabled: boolean): void {
    this.input.disabled = !enabled;
    this.submit.disabled = !enabled;
  }

  private showStatus(kind: "info" | "error" | "queue", ...content: (Node | string)[]): void {
    this.status.className = `join-status notice notice-${kind}`;
    this.status.replaceChildren(...content);
  }

  private async join(): Promise<void> {
    if (this.busy || !this.room) return;
    this.touched = true;
    if (!this.validate(true)) {
      this.input.focus();
      return;
    }
    const room = this.room;
    const name = this.input.value.trim();
    this.busy = true;
    this.setFormEnabled(false);
    clear(this.alternatives);
    this.showStatus("info", "Joining…");
    let user;
    try {
      user = await createUser(name);
    } catch (e) {
      this.fail(e instanceof ApiFailure ? e.error : { code: "NETWORK", message: "" });
      return;
    }
    rememberedName.set(user.displayName);
    this.input.value = user.displayName;

    const session = new RoomSession(room.id, user);
    session.takeOver = this.takeOver;
    this.session = session;
    session.on("joined", (state) => {
      if (this.session !== session) return;
      this.session = null;
      const { local, want } = this.preview.handOver();
      this.reset();
      if (this.el.open) this.el.close();
      this.onJoined(session, state, local, want);
    });
    session.on("queued", (position) => {
      if (this.session !== session || session.isJoined) return;
      this.showQueue(position);
    });
    session.on("failed", (error) => {
      if (this.session !== session || session.isJoined) return;
      this.session = null;
      session.dispose();
      this.fail(error);
    });
    session.start();
  }

  private showQueue(position: number): void {
    this.cancelButton.textContent = "Leave queue";
    this.submit.textContent = "Waiting…";
    const where = position > 0 ? h("strong", { class: "queue-position" }, `#${position}`) : h("strong", { class: "queue-position" }, "in line");
    this.showStatus(
      "queue",
      h("span", { class: "queue-title" }, "All study rooms are at capacity right now."),
      h("span", {}, "Your place in the queue: ", where),
      h("span", { class: "queue-note" }, "Keep this window open — you'll enter the room automatically when a seat frees up."),
    );
  }

  private fail(error: ApiError): void {
    this.busy = false;
    this.setFormEnabled(true);
    if (error.code === "SEATED_ELSEWHERE") {
      this.askToMoveHere();
      return;
    }
    let text = describeError(error);
    const otherRoom = error.code === "ALREADY_IN_ROOM" ? this.directory.get(String(error.details?.roomId ?? "")) : undefined;
    if (otherRoom) text = `You're already in “${otherRoom.name}” (perhaps in another tab or window). Leave it there first, then try again.`;
    const parts: (Node | string)[] = [h("span", { class: "error-text" }, text)];
    if (error.code === "INVALID_DISPLAY_NAME" || error.code === "MALICIOUS_INPUT") {
      this.nameError.textContent = text;
      this.input.setAttribute("aria-invalid", "true");
    }
    if (error.retryAfter && error.retryAfter > 0) {
      const clock = h("span", { class: "countdown" });
      parts.push(
        h("span", { class: "visually-hidden" }, `You can try again in ${Math.ceil(error.retryAfter)} seconds.`),
        h("span", { class: "retry", "aria-hidden": "true" }, "You can try again in ", clock, "."),
      );
      this.submit.disabled = true;
      this.stopCountdown?.();
      this.stopCountdown = countdown(
        error.retryAfter,
        (label) => {
          clock.textContent = label;
          this.submit.textContent = `Wait ${label}`;
        },
        () => {
          this.stopCountdown = null;
          this.submit.disabled = false;
          this.submit.textContent = "Try again";
          clear(this.status);
          this.status.className = "join-status";
        },
      );
    }
    this.showStatus("error", ...parts);
    this.status.setAttribute("role", "alert");
    if (error.code === "ROOM_FULL" || error.code === "ROOM_NOT_FOUND") this.showAlternatives();
  }

  /** The person is in this room in another tab: offer to continue here instead. */
  private askToMoveHere(): void {
    const here = h("button", { type: "button", class: "btn btn-primary btn-small use-here" }, "Use it here");
    here.addEventListener("click", () => {
      this.takeOver = true;
      void this.join();
    });
    this.showStatus("info", h("span", { class: "elsewhere-text" }, describeError({ code: "SEATED_ELSEWHERE", message: "" })), " ", here);
    this.submit.textContent = "Use it here";
    this.takeOver = true; // pressing Join again means the same
    here.focus();
  }

  /** Other rooms with free seats, so a full room isn't a dead end. */
  private showAlternatives(): void {
    const current = this.room?.id;
    const options = this.directory
      .list()
      .filter((r) => !r.isFull && r.id !== current)
      .sort((a, b) => b.currentOccupancy / b.capacity - a.currentOccupancy / a.capacity)
      .slice(0, 4);
    clear(this.alternatives);
    if (options.length === 0) {
      this.alternatives.append(h("p", {}, "Every room is full at the moment. Try again in a little while."));
      return;
    }
    const list = h("ul", { class: "alt-list" });
    for (const r of options) {
      const button = h("button", { type: "button", class: "btn btn-small" }, `Join ${r.name}`);
      button.addEventListener("click", () => this.open(r, { autoJoin: true }));
      list.append(h("li", {}, h("span", { class: "alt-name" }, r.name), h("span", { class: "alt-count" }, `${r.currentOccupancy} / ${r.capacity}`), button));
    }
    this.alternatives.append(h("h3", {}, "Rooms with free seats"), list);
  }
}
