// The room: video grid, camera / microphone controls, participants, chat and leave.

import { getConfig } from "../api";
import { h, icon, ICONS } from "../dom";
import { describeError } from "../errors";
import type { ApiError, JoinSuccess, Participant, Room } from "../types";
import { ChatPanel } from "./chat";
import { mediaPrefs } from "../storage";
import { LocalMedia, listDevices, type Kind } from "./localMedia";
import type { MediaLink } from "./mediaLink";
import { ParticipantList } from "./participants";
import type { RoomSession } from "./session";
import { StatusField } from "./statusField";
import { TimerPanel } from "./timerPanel";
import { VideoGrid } from "./videoGrid";
import { presenceOf, timerLine } from "../timerClock";

export interface RoomViewOptions {
  session: RoomSession;
  createMedia: (
    session: RoomSession,
    grid: VideoGrid,
    onRemoteChange: () => void,
    initial?: unknown,
    onProblem?: (text: string) => void,
  ) => MediaLink;
  onLeave: (reason?: ApiError) => void;
  onOccupancy: (roomId: string, currentOccupancy: number) => void;
  /** Devices chosen before joining (tracks may already run) and which to turn on. */
  local?: LocalMedia;
  want?: { video: boolean; audio: boolean };
}

/** Single-key shortcuts (as in Jitsi Meet), ignored while typing. */
const SHORTCUTS: Record<string, Kind> = { m: "audio", v: "video" };

export class RoomView {
  readonly el: HTMLElement;
  private room: Room;
  private participants = new Map<string, Participant>();
  private speakerId: string | null = null;
  private readonly session: RoomSession;
  private readonly grid = new VideoGrid();
  private readonly list = new ParticipantList();
  private readonly chat: ChatPanel;
  private readonly timer: TimerPanel;
  private readonly status: StatusField;
  /** Messages that arrived while the tab was hidden (shown in the tab title). */
  private hiddenUnread = 0;
  private readonly onVisibility = () => {
    if (!document.hidden) {
      this.hiddenUnread = 0;
      this.updateTitle();
    }
  };
  private readonly local: LocalMedia;
  private readonly media: MediaLink;
  private readonly title: HTMLHeadingElement;
  private readonly occupancy: HTMLSpanElement;
  private readonly occupancyText: HTMLSpanElement;
  private readonly notice: HTMLDivElement;
  private readonly deviceHelp: HTMLDivElement;
  private readonly micButton: HTMLButtonElement;
  private readonly camButton: HTMLButtonElement;
  private readonly leaveButton: HTMLButtonElement;
  private readonly devicesButton: HTMLButtonElement;
  private readonly devicePanel: HTMLDivElement;
  private readonly devicePick: Record<Kind, HTMLSelectElement>;
  private readonly layoutButton: HTMLButtonElement;
  private readonly tabs: HTMLDivElement;
  private readonly chatTab: HTMLButtonElement;
  private readonly videoTab: HTMLButtonElement;
  private unread = 0;
  private readonly onKey = (e: KeyboardEvent) => this.shortcut(e);
  private busy: Record<Kind, boolean> = { video: false, audio: false };
  private noticeTimer = 0;
  private left = false;

  constructor(state: JoinSuccess, private options: RoomViewOptions) {
    this.session = options.session;
    this.list.setReporter((userId, reason, text) => this.session.report(userId, reason, text));
    this.local = options.local ?? new LocalMedia();
    this.room = state.room;
    this.chat = new ChatPanel((content) => this.session.sendMessage(content));
    this.timer = new TimerPanel((action) => this.session.timer(action));
    this.status = new StatusField((text) => this.session.setStatus(text));
    this.media = options.createMedia(this.session, this.grid, () => this.render(), state, (text) => this.showNotice(text));

    this.title = h("h1", { class: "room-title", id: "room-title" });
    this.occupancy = h("span", { class: "room-occupancy-pill", "aria-hidden": "true" });
    this.occupancyText = h("span", { class: "visually-hidden" });
    this.notice = h("div", { class: "room-notice", role: "status", "aria-live": "polite", hidden: true });
    this.deviceHelp = h("div", { class: "device-help", role: "alert", hidden: true });
    this.micButton = this.toggleButton("audio", "Microphone", "M");
    this.camButton = this.toggleButton("video", "Camera", "V");
    this.leaveButton = h("button", { type: "button", class: "btn control control-leave" }, icon(ICONS.leave), h("span", { class: "control-label" }, "Leave"));
    this.leaveButton.addEventListener("click", () => void this.leave());

    this.devicesButton = h(
      "button",
      { type: "button", class: "btn control control-devices", "aria-expanded": "false", "aria-controls": "device-panel" },
      icon(ICONS.settings),
      h("span", { class: "control-label" }, "Devices"),
    );
    this.devicesButton.addEventListener("click", () => void this.toggleDevicePanel());
    this.layoutButton = h(
      "button",
      { type: "button", class: "btn control control-layout", "aria-pressed": "false" },
      icon(ICONS.speaker),
      h("span", { class: "control-label" }, "Speaker view"),
    );
    this.layoutButton.addEventListener("click", () => {
      this.grid.setSpeakerView(!this.grid.speakerView);
      this.render();
    });
    this.devicePick = { video: this.devicePicker("video"), audio: this.devicePicker("audio") };
    this.devicePanel = h(
      "div",
      { class: "device-panel", id: "device-panel", role: "group", "aria-label": "Choose camera and microphone", hidden: true },
      h("div", { class: "field" }, h("label", { for: "room-video-device" }, "Camera"), this.devicePick.video),
      h("div", { class: "field" }, h("label", { for: "room-audio-device" }, "Microphone"), this.devicePick.audio),
    );
    const controls = h(
      "div",
      { class: "controls", role: "toolbar", "aria-label": "Your camera and microphone" },
      this.micButton,
      this.camButton,
      this.devicesButton,
      this.layoutButton,
      this.leaveButton,
    );
    // On a phone the video and the chat share the screen as two tabs.
    this.videoTab = h("button", { type: "button", class: "room-tab", "aria-pressed": "true", "aria-controls": "room-stage", "data-tab": "video" }, "Video");
    this.chatTab = h("button", { type: "button", class: "room-tab", "aria-pressed": "false", "aria-controls": "room-sidebar", "data-tab": "chat" }, "Chat");
    this.videoTab.addEventListener("click", () => this.showTab("video"));
    this.chatTab.addEventListener("click", () => this.showTab("chat"));
    this.tabs = h("div", { class: "room-tabs", role: "group", "aria-label": "Show" }, this.videoTab, this.chatTab);
    this.el = h(
      "section",
      { class: "room", "aria-labelledby": "room-title", "data-tab": "video" },
      h("header", { class: "room-header" }, h("div", { class: "room-heading" }, this.title, this.occupancy, this.occupancyText), this.status.el, this.timer.el, this.tabs),
      this.notice,
      h(
        "div",
        { class: "room-layout" },
        h("div", { class: "stage", id: "room-stage" }, this.grid.soundPrompt, this.grid.el, this.deviceHelp, this.devicePanel, controls),
        h("section", { class: "sidebar", id: "room-sidebar", "aria-label": "People and chat" }, this.list.el, this.chat.el),
      ),
    );
    document.addEventListener("keydown", this.onKey);
    document.addEventListener("visibilitychange", this.onVisibility);

    void getConfig().then((c) => this.chat.setLimits(c.maxMessageLength));
    this.bindSession();
    this.apply(state, false);
    this.media.start();
    // The choices made before joining (or before a reload) come back on.
    const want = options.want ?? { video: false, audio: false };
    for (const kind of ["audio", "video"] as Kind[]) {
      if (want[kind]) void this.toggle(kind, true);
      else this.local.disable(kind);
    }
  }

  private toggleButton(kind: Kind, label: string, key: string): HTMLButtonElement {
    const button = h(
      "button",
      { type: "button", class: `btn control control-${kind}`, "aria-pressed": "false", "data-kind": kind, "aria-keyshortcuts": key },
      h("span", { class: "control-icon" }),
      h("span", { class: "control-label" }, label, " ", h("kbd", { class: "shortcut" }, key)),
    );
    button.addEventListener("click", () => void this.toggle(kind));
    return button;
  }

  private shortcut(e: KeyboardEvent): void {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || this.left) return;
    const target = e.target as HTMLElement | null;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (document.querySelector("dialog[open]")) return;
    const kind = SHORTCUTS[e.key.toLowerCase()];
    if (!kind) return;
    e.preventDefault();
    void this.toggle(kind);
  }

  private showTab(tab: "video" | "chat"): void {
    this.el.dataset.tab = tab;
    this.videoTab.setAttribute("aria-pressed", String(tab === "video"));
    this.chatTab.setAttribute("aria-pressed", String(tab === "chat"));
    if (tab === "chat") {
      this.unread = 0;
      this.updateChatTab();
    }
  }

  private updateChatTab(): void {
    this.chatTab.textContent = this.unread > 0 ? `Chat (${this.unread} new)` : "Chat";
  }

  private devicePicker(kind: Kind): HTMLSelectElement {
    const select = h("select", { id: `room-${kind}-device`, class: `room-device room-${kind}-device` });
    select.addEventListener("change", () => void this.switchDevice(kind, select.value));
    return select;
  }

  private async toggleDevicePanel(): Promise<void> {
    const open = this.devicePanel.hidden;
    this.devicePanel.hidden = !open;
    this.devicesButton.setAttribute("aria-expanded", String(open));
    if (open) await this.fillDevicePickers();
  }

  private async fillDevicePickers(): Promise<void> {
    const prefs = mediaPrefs.get();
    for (const kind of ["video", "audio"] as Kind[]) {
      const devices = await listDevices(kind);
      const current = this.local.deviceOf(kind) || (kind === "video" ? prefs.videoDevice : prefs.audioDevice);
      const options = devices.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${kind === "video" ? "Camera" : "Microphone"} ${i + 1}`));
      this.devicePick[kind].replaceChildren(...options);
      this.devicePick[kind].disabled = options.length === 0;
    }
  }

  /** Moves a running camera/microphone to another device without leaving or renegotiating. */
  private async switchDevice(kind: Kind, deviceId: string): Promise<void> {
    mediaPrefs.set(kind === "video" ? { videoDevice: deviceId } : { audioDevice: deviceId });
    if (!this.local.track(kind) || this.busy[kind]) return;
    this.busy[kind] = true;
    this.render();
    try {
      const result = await this.local.switchTo(kind, deviceId);
      if (!result.track) {
        this.showDeviceHelp(result.error ?? "");
        return;
      }
      this.watchEnded(kind, result.track);
      await this.media.publish(kind, result.track);
    } finally {
      this.busy[kind] = false;
      this.render();
    }
  }

  private watchEnded(kind: Kind, track: MediaStreamTrack): void {
    track.addEventListener("ended", () => {
      // Device unplugged or permission revoked mid-call.
      if (this.local.track(kind) === track) void this.toggle(kind);
    });
  }

  private bindSession(): void {
    const s = this.session;
    s.on("joined", (state, isRejoin) => this.apply(state, isRejoin));
    s.on("failed", (error) => {
      // Re-joining after a reconnect failed (e.g. the seat was given away): back to the lobby.
      if (!this.left) void this.leave(error);
    });
    s.on("user-joined", (p) => {
      const existing = this.participants.get(p.userId);
      this.participants.set(p.userId, {
        userId: p.userId,
        displayName: p.userName,
        isVideoEnabled: p.isVideoEnabled ?? existing?.isVideoEnabled ?? false,
        isAudioEnabled: p.isAudioEnabled ?? existing?.isAudioEnabled ?? false,
        joinedAt: p.joinedAt ?? existing?.joinedAt ?? new Date().toISOString(),
      });
      this.setOccupancy(p.currentOccupancy);
      if (!existing && p.userId !== this.session.user.userId) this.chat.system(`${p.userName} joined`);
      this.render();
    });
    s.on("seat-moved", () => {
      if (!this.left) void this.leave({ code: "SEAT_MOVED", message: "" });
    });
    s.on("user-left", (p) => {
      if (p.userId === this.session.user.userId) return;
      const gone = this.participants.get(p.userId);
      if (gone) this.chat.system(`${gone.displayName} left`);
      this.participants.delete(p.userId);
      this.grid.setRemoteStream(p.userId, null);
      if (this.speakerId === p.userId) this.speakerId = null;
      this.setOccupancy(p.currentOccupancy);
      this.render();
    });
    s.on("new-message", (p) => {
      this.chat.add(p.message);
      if (p.message.senderId === this.session.user.userId) return;
      if (this.el.dataset.tab !== "chat") {
        this.unread++;
        this.updateChatTab();
      }
      if (document.hidden) {
        this.hiddenUnread++;
        this.updateTitle();
      }
    });
    s.on("timer-changed", (p) => {
      const line = timerLine(p.timer, this.timer.info);
      this.timer.set(p.timer, true);
      if (line) this.chat.system(line);
      this.render();
    });
    s.on("participant-status-changed", (p) => {
      const person = this.participants.get(p.userId);
      if (!person) return;
      person.status = p.status;
      if (p.userId === this.session.user.userId) this.status.show(p.status);
      this.render();
    });
    s.on("participant-video-toggle", (p) => this.setFlag(p.userId, "isVideoEnabled", p.enabled));
    s.on("participant-audio-toggle", (p) => {
      // A muted person is not speaking, whatever the last level said.
      if (!p.enabled && this.speakerId === p.userId) this.speakerId = null;
      this.setFlag(p.userId, "isAudioEnabled", p.enabled);
    });
    s.on("active-speaker", (p) => {
      this.speakerId = p.userId ?? null;
      this.render();
    });
    s.on("rate-limit-exceeded", (p) => {
      const wait = Number(p.retryAfter ?? 30);
      if (!p.action || /message|chat/i.test(p.action)) this.chat.rateLimited(wait);
      else this.showNotice(`Slow down a little — that action is limited. Try again in ${Math.ceil(wait)} s.`);
    });
    s.on("notice", (error) => this.showNotice(describeError(error)));
    s.on("connection", (connected) => {
      this.el.classList.toggle("is-offline", !connected);
      if (!connected) this.chat.disconnected();
    });
  }

  /** Renders everything from a join-room ack (initial join and every re-join). */
  private apply(state: JoinSuccess, isRejoin: boolean): void {
    const self = this.session.user;
    this.room = state.room ?? this.room;
    this.participants = new Map(state.participants.map((p) => [p.userId, { ...p }]));
    if (!this.participants.has(self.userId)) {
      this.participants.set(self.userId, { userId: self.userId, displayName: self.displayName, isVideoEnabled: false, isAudioEnabled: false });
    }
    this.list.setSelf(self.userId);
    this.chat.setSelf(self.userId);
    this.grid.setSelf(self.userId, this.local.stream);
    if (isRejoin) this.chat.merge(state.recentMessages ?? []);
    else this.chat.reset(state.recentMessages ?? []);
    this.title.textContent = this.room.name;
    this.setOccupancy(this.room.currentOccupancy);
    this.updateTitle();
    this.timer.set(state.timer ?? state.room.timer);
    this.status.show(this.participants.get(self.userId)?.status);
    if (isRejoin) {
      // Back online: what went wrong while offline is over; a message typed then is offered.
      this.notice.hidden = true;
      this.chat.reconnected();
      // Our devices are still on locally: make sure the server's view matches, then reconnect media.
      const me = this.participants.get(self.userId)!;
      for (const kind of ["video", "audio"] as Kind[]) {
        const on = !!this.local.track(kind);
        const flag = kind === "video" ? "isVideoEnabled" : "isAudioEnabled";
        if (me[flag] !== on) {
          me[flag] = on;
          void this.session.toggle(kind, on);
        }
      }
      this.media.start();
    }
    this.render();
  }

  /** The room's name, after the count of messages that came while the tab was hidden. */
  private updateTitle(): void {
    const unread = this.hiddenUnread > 0 ? `(${this.hiddenUnread}) ` : "";
    document.title = `${unread}${this.room.name} · publicrooms`;
  }

  private setFlag(userId: string, flag: "isVideoEnabled" | "isAudioEnabled", enabled: boolean): void {
    const p = this.participants.get(userId);
    if (!p) return;
    p[flag] = enabled;
    this.render();
  }

  private setOccupancy(current: number | undefined): void {
    if (typeof current === "number") {
      this.room = { ...this.room, currentOccupancy: current, isFull: current >= this.room.capacity };
      this.options.onOccupancy(this.room.id, current);
    }
    this.occupancy.textContent = `${this.room.currentOccupancy} / ${this.room.capacity}`;
    this.occupancyText.textContent = `${this.room.currentOccupancy} of ${this.room.capacity} seats taken`;
  }

  private render(): void {
    this.list.setPresence(presenceOf(this.timer.info));
    this.list.render(this.participants.values(), this.speakerId);
    this.grid.render(this.participants.values(), this.speakerId, !!this.local.track("video"));
    for (const kind of ["audio", "video"] as Kind[]) {
      const button = kind === "audio" ? this.micButton : this.camButton;
      const on = !!this.local.track(kind);
      button.setAttribute("aria-pressed", String(on));
      button.classList.toggle("is-on", on);
      button.setAttribute("aria-busy", String(this.busy[kind]));
      const iconSlot = button.querySelector(".control-icon")!;
      iconSlot.replaceChildren(icon(kind === "audio" ? (on ? ICONS.mic : ICONS.micOff) : on ? ICONS.cam : ICONS.camOff));
      button.title = `${on ? "Turn off" : "Turn on"} ${kind === "audio" ? "microphone (M)" : "camera (V)"}`;
    }
    this.layoutButton.setAttribute("aria-pressed", String(this.grid.speakerView));
  }

  private async toggle(kind: Kind, on?: boolean): Promise<void> {
    if (this.busy[kind] || this.left) return;
    const turnOn = on ?? !this.local.track(kind);
    this.busy[kind] = true;
    this.render();
    const flag = kind === "video" ? "isVideoEnabled" : "isAudioEnabled";
    try {
      if (turnOn) {
        const prefs = mediaPrefs.get();
        const result = await this.local.enable(kind, kind === "video" ? prefs.videoDevice : prefs.audioDevice);
        if (this.left) {
          this.local.disable(kind);
          return;
        }
        if (result.error || !result.track) {
          this.showDeviceHelp(result.error ?? "");
          return;
        }
        this.hideDeviceHelp();
        this.watchEnded(kind, result.track);
        await this.media.publish(kind, result.track);
      } else {
        this.local.disable(kind);
        await this.media.publish(kind, null);
        if (kind === "audio" && this.speakerId === this.session.user.userId) this.speakerId = null;
      }
      // Remembered, so a reload (or the next join) comes back the same way.
      mediaPrefs.set({ [kind]: turnOn });
      const me = this.participants.get(this.session.user.userId);
      if (me) me[flag] = turnOn;
      const ack = await this.session.toggle(kind, turnOn);
      if (ack.error) this.showNotice(describeError(ack.error));
    } finally {
      this.busy[kind] = false;
      this.render();
    }
  }

  private showDeviceHelp(text: string): void {
    const dismiss = h("button", { type: "button", class: "btn btn-small btn-ghost" }, "Dismiss");
    dismiss.addEventListener("click", () => this.hideDeviceHelp());
    this.deviceHelp.replaceChildren(h("p", {}, text), dismiss);
    this.deviceHelp.hidden = false;
  }

  private hideDeviceHelp(): void {
    this.deviceHelp.hidden = true;
    this.deviceHelp.replaceChildren();
  }

  private showNotice(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = false;
    window.clearTimeout(this.noticeTimer);
    this.noticeTimer = window.setTimeout(() => {
      this.notice.hidden = true;
    }, 8000);
  }

  /** Leaves the room: releases devices and peer connections, then back to the lobby. */
  async leave(reason?: ApiError): Promise<void> {
    if (this.left) return;
    this.left = true;
    this.teardown();
    // The lobby reconnects first, so the shared transport stays open across the switch
    // (closing and reopening it would briefly count as two connections).
    this.options.onLeave(reason);
    if (!reason) await this.session.leave();
    else this.session.dispose();
  }

  /** The page is going away: release devices and disconnect cleanly (no ack to wait for). */
  closeForUnload(): void {
    if (this.left) return;
    this.left = true;
    this.teardown();
    this.session.dispose();
  }

  /** Releases devices and peer connections. */
  teardown(): void {
    document.removeEventListener("keydown", this.onKey);
    document.removeEventListener("visibilitychange", this.onVisibility);
    this.timer.destroy();
    this.media.stop();
    this.local.stopAll();
    this.grid.clear();
    this.chat.destroy();
    window.clearTimeout(this.noticeTimer);
  }

  get roomId(): string {
    return this.room.id;
  }
}
