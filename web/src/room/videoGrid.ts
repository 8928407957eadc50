// The responsive video grid: the user's own preview plus one tile per other participant,
// each with a name; remote audio plays from a hidden <audio> per participant.

import { h, icon, ICONS } from "../dom";
import { colourFor, initials } from "../format";
import type { Participant } from "../types";

interface Tile {
  el: HTMLElement;
  video: HTMLVideoElement;
  audio: HTMLAudioElement | null;
  name: HTMLSpanElement;
  status: HTMLSpanElement;
  avatar: HTMLSpanElement;
  micState: HTMLSpanElement;
  pin: HTMLButtonElement;
  stream: MediaStream | null;
}

/** Columns for n tiles in a w×h box that make 16:9 tiles largest. */
export function bestColumns(n: number, width: number, height: number): number {
  let best = 1;
  let bestArea = 0;
  for (let cols = 1; cols <= Math.max(1, n); cols++) {
    const rows = Math.ceil(n / cols);
    const tileW = Math.min(width / cols, ((height / rows) * 16) / 9);
    const area = tileW * tileW;
    if (area > bestArea + 0.5) {
      best = cols;
      bestArea = area;
    }
  }
  return best;
}

export class VideoGrid {
  readonly el: HTMLElement;
  private tiles = new Map<string, Tile>();
  private selfId = "";
  private soundButton: HTMLButtonElement;
  private remoteStreams = new Map<string, MediaStream>();
  /** The "sound is blocked by the browser" prompt, placed by the room view above the video. */
  readonly soundPrompt: HTMLDivElement;
  private pinnedId: string | null = null;
  speakerView = false;
  private speakerId: string | null = null;
  private resize: ResizeObserver | null = null;

  constructor() {
    this.soundButton = h("button", { type: "button", class: "btn btn-primary btn-small sound-unlock" }, "Turn on room sound");
    this.soundButton.addEventListener("click", () => this.unlockSound());
    this.soundPrompt = h(
      "div",
      { class: "sound-prompt", role: "status", hidden: true },
      h("p", {}, "Your browser keeps new pages quiet until you interact with them, so you can't hear the room yet."),
      this.soundButton,
    );
    this.el = h("section", { class: "video-grid", "aria-label": "Cameras", "data-count": 0, "data-cols": 1 });
    if (typeof ResizeObserver !== "undefined") {
      this.resize = new ResizeObserver(() => this.layout());
      this.resize.observe(this.el);
    }
  }

  setSpeakerView(on: boolean): void {
    this.speakerView = on;
  }

  private togglePin(userId: string): void {
    this.pinnedId = this.pinnedId === userId ? null : userId;
    this.arrange();
  }

  /** Speaker view or a pin: one large tile (pinned, else speaking, else someone else), a strip of the rest. */
  private focusId(): string | null {
    if (this.pinnedId && this.tiles.has(this.pinnedId)) return this.pinnedId;
    if (!this.speakerView) return null;
    if (this.speakerId && this.tiles.has(this.speakerId)) return this.speakerId;
    return [...this.tiles.keys()].find((id) => id !== this.selfId) ?? this.selfId ?? null;
  }

  private arrange(): void {
    const focus = this.focusId();
    this.el.classList.toggle("is-focus-view", !!focus);
    for (const [id, tile] of this.tiles) {
      tile.el.classList.toggle("is-focus", id === focus);
      const pinned = id === this.pinnedId;
      tile.pin.setAttribute("aria-pressed", String(pinned));
      tile.el.classList.toggle("is-pinned", pinned);
    }
    this.layout();
  }

  /** Sizes the grid's columns to the space it has (the tiles fill the rows). */
  private layout(): void {
    const n = this.tiles.size;
    const focus = this.el.classList.contains("is-focus-view");
    const cols = focus ? Math.max(1, n - 1) : bestColumns(n, this.el.clientWidth || 1, this.el.clientHeight || 1);
    const rows = focus ? 1 : Math.ceil(n / cols);
    this.el.dataset.cols = String(Math.min(cols, 10));
    this.el.dataset.rows = String(Math.min(rows, 10));
  }

  setSelf(userId: string, localStream: MediaStream): void {
    if (this.selfId && this.selfId !== userId) this.removeTile(this.selfId);
    this.selfId = userId;
    const tile = this.ensureTile(userId, true);
    if (tile.video.srcObject !== localStream) tile.video.srcObject = localStream;
    tile.stream = localStream;
  }

  /** Syncs tiles with the participant list (tiles appear and disappear with people). */
  render(participants: Iterable<Participant>, speakerId: string | null, localVideoOn: boolean): void {
    this.speakerId = speakerId;
    const seen = new Set<string>();
    for (const p of participants) {
      seen.add(p.userId);
      const isSelf = p.userId === this.selfId;
      const tile = this.ensureTile(p.userId, isSelf);
      tile.name.textContent = isSelf ? `${p.displayName} (you)` : p.displayName;
      tile.avatar.textContent = initials(p.displayName);
      tile.status.textContent = p.status ?? "";
      tile.status.hidden = !p.status;
      tile.el.setAttribute("aria-label", isSelf ? `Your camera, ${p.displayName}` : `${p.displayName}'s camera`);
      tile.pin.setAttribute("aria-label", isSelf ? "Pin your camera" : `Pin ${p.displayName}'s camera`);
      const stream = isSelf ? tile.stream : this.remoteStreams.get(p.userId) ?? null;
      if (!isSelf) this.attachRemote(tile, stream);
      const hasVideo = isSelf ? localVideoOn : p.isVideoEnabled && !!stream && stream.getVideoTracks().some((t) => t.readyState === "live");
      tile.el.classList.toggle("has-video", hasVideo);
      tile.el.classList.toggle("is-speaking", p.userId === speakerId);
      tile.el.dataset.video = String(p.isVideoEnabled);
      tile.el.dataset.audio = String(p.isAudioEnabled);
      tile.micState.replaceChildren(icon(p.isAudioEnabled ? ICONS.mic : ICONS.micOff));
      tile.micState.className = `tile-mic ${p.isAudioEnabled ? "on" : "off"}`;
      tile.micState.setAttribute("aria-label", p.isAudioEnabled ? "microphone on" : "microphone off");
      if (hasVideo && tile.video.paused) void tile.video.play().catch(() => undefined);
    }
    for (const id of [...this.tiles.keys()]) if (!seen.has(id)) this.removeTile(id);
    // Keep self first, then join order as given.
    const order = [this.selfId, ...[...seen].filter((id) => id !== this.selfId)];
    order.forEach((id, index) => {
      const tile = this.tiles.get(id);
      if (tile && this.el.children[index] !== tile.el) this.el.insertBefore(tile.el, this.el.children[index] ?? null);
    });
    this.el.dataset.count = String(this.tiles.size);
    this.arrange();
  }

  /** A remote stream arrived (its id is the publisher's userId) or changed tracks. */
  setRemoteStream(userId: string, stream: MediaStream | null): void {
    if (stream) this.remoteStreams.set(userId, stream);
    else this.remoteStreams.delete(userId);
    const tile = this.tiles.get(userId);
    if (tile) this.attachRemote(tile, stream);
  }

  private attachRemote(tile: Tile, stream: MediaStream | null): void {
    if (tile.stream === stream && (!stream || tile.video.srcObject === stream)) return;
    tile.stream = stream;
    tile.video.srcObject = stream;
    if (!tile.audio) {
      tile.audio = h("audio", { class: "tile-audio", autoplay: true });
      tile.el.append(tile.audio);
    }
    tile.audio.srcObject = stream;
    if (stream) {
      void tile.video.play().catch(() => undefined);
      this.playAudio(tile.audio);
    }
  }

  private playAudio(audio: HTMLAudioElement): void {
    audio.muted = false;
    audio.play().catch((err: unknown) => {
      // Autoplay with sound needs a user gesture (e.g. after a reload): offer a button.
      if (err instanceof DOMException && err.name === "NotAllowedError") {
        this.soundPrompt.hidden = false;
      }
    });
  }

  private unlockSound(): void {
    this.soundPrompt.hidden = true;
    for (const tile of this.tiles.values()) if (tile.audio?.srcObject) this.playAudio(tile.audio);
  }

  private ensureTile(userId: string, isSelf: boolean): Tile {
    let tile = this.tiles.get(userId);
    if (tile) return tile;
    const video = h("video", { class: "tile-video", autoplay: true, playsinline: true, muted: true });
    video.muted = true; // the attribute alone doesn't set the property in every browser
    const avatar = h("span", { class: `avatar avatar-lg avatar-c${colourFor(userId)}`, "aria-hidden": "true" });
    const name = h("span", { class: "tile-name" });
    const status = h("span", { class: "tile-status", hidden: true });
    const micState = h("span", { class: "tile-mic", role: "img" });
    const pin = h("button", { type: "button", class: "tile-pin", "aria-pressed": "false", "aria-label": "Pin" }, icon(ICONS.pin));
    pin.addEventListener("click", () => this.togglePin(userId));
    const el = h(
      "figure",
      { class: `tile${isSelf ? " is-self" : ""}`, "data-user-id": userId },
      video,
      h("div", { class: "tile-placeholder" }, avatar),
      h("figcaption", { class: "tile-caption" }, micState, h("span", { class: "tile-who" }, name, status)),
      pin,
    );
    tile = { el, video, audio: null, name, status, avatar, micState, pin, stream: null };
    this.tiles.set(userId, tile);
    this.el.append(el);
    return tile;
  }

  private removeTile(userId: string): void {
    const tile = this.tiles.get(userId);
    if (!tile) return;
    tile.video.srcObject = null;
    if (tile.audio) tile.audio.srcObject = null;
    tile.el.remove();
    this.tiles.delete(userId);
  }

  clear(): void {
    for (const id of [...this.tiles.keys()]) this.removeTile(id);
    this.remoteStreams.clear();
    this.soundPrompt.hidden = true;
    this.resize?.disconnect();
  }
}
