// SFU signalling (docs/protocol-media.md): one publish connection (we offer, sendonly) and one
// subscribe connection (the server offers; one m-line per remote track, stream id = userId).

import { getConfig } from "../api";
import type { Kind } from "./localMedia";
import { NoMedia, type MediaLink } from "./mediaLink";
import type { RoomSession } from "./session";
import type { VideoGrid } from "./videoGrid";

interface TrackInfo {
  participantId: string;
  kind: Kind;
  mid: string;
  streamId?: string;
  muted?: boolean;
}

interface MediaOffer {
  type?: "offer";
  sdp: string;
  offerId?: number;
  tracks?: TrackInfo[];
}

interface MediaConfig {
  iceServers?: RTCIceServer[];
  bundlePolicy?: RTCBundlePolicy;
}

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 15000;

function hasError(ack: unknown): ack is { error: { code: string; message?: string } } {
  return typeof ack === "object" && ack !== null && "error" in ack && !!(ack as { error: unknown }).error;
}

export class SfuLink implements MediaLink {
  private config: MediaConfig = {};
  private publisher: RTCPeerConnection | null = null;
  private senders: Partial<Record<Kind, RTCRtpSender>> = {};
  private tracks: Partial<Record<Kind, MediaStreamTrack | null>> = {};
  private subscriber: RTCPeerConnection | null = null;
  private offers: Promise<void> = Promise.resolve();
  /** mid → whose track it carries, from the latest offer's `tracks`. */
  private byMid = new Map<string, TrackInfo>();
  private remote = new Map<string, MediaStream>();
  /** mid → msid stream id (= publisher's userId), a fallback when an offer carries no `tracks`. */
  private streamOfMid = new Map<string, string>();
  private generation = 0;
  private publishRetries = 0;
  private subscribeRetries = 0;
  private timers = new Set<number>();
  private stopped = false;

  constructor(
    private session: RoomSession,
    private grid: VideoGrid,
    private onRemoteChange: () => void,
    initial?: unknown,
    private onProblem: (text: string) => void = () => undefined,
  ) {
    this.setConfig(initial as MediaConfig | undefined);
    const s = session.socket;
    s.on("media-offer", (offer: MediaOffer) => this.enqueueOffer(offer, this.generation));
    s.on("media-reconnect", () => this.start());
    s.on("media-config", (config: MediaConfig) => this.setConfig(config));
    session.on("joined", (state) => this.setConfig(state as unknown as MediaConfig & { media?: MediaConfig }));
  }

  private setConfig(source: (MediaConfig & { media?: MediaConfig; mediaConfig?: MediaConfig }) | null | undefined): void {
    if (!source) return;
    const found = [source.mediaConfig, source.media, source].find(
      (c): c is MediaConfig => !!c && typeof c === "object" && !Array.isArray(c) && Array.isArray((c as MediaConfig).iceServers),
    );
    if (found) this.config = { ...this.config, ...found };
  }

  private async rtcConfig(): Promise<RTCConfiguration> {
    if (!this.config.iceServers) {
      const c = await getConfig();
      this.config.iceServers ??= c.iceServers;
    }
    return { iceServers: this.config.iceServers ?? [], bundlePolicy: this.config.bundlePolicy ?? "max-bundle" };
  }

  /** (Re)starts both connections: after joining, after a reconnect, or on `media-reconnect`. */
  start(): void {
    this.stopped = false;
    this.generation++;
    this.closeConnections();
    this.publishRetries = 0;
    this.subscribeRetries = 0;
    if (this.tracks.audio || this.tracks.video) void this.publish_(this.generation);
    void this.subscribe(this.generation);
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.closeConnections();
    for (const t of this.timers) window.clearTimeout(t);
    this.timers.clear();
  }

  private closeConnections(): void {
    this.publisher?.close();
    this.publisher = null;
    this.senders = {};
    this.subscriber?.close();
    this.subscriber = null;
    this.byMid.clear();
    this.offers = Promise.resolve();
    for (const userId of this.remote.keys()) this.grid.setRemoteStream(userId, null);
    this.remote.clear();
  }

  private later(fn: () => void, attempt: number): void {
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    const timer = window.setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, delay);
    this.timers.add(timer);
  }

  // --- publishing ------------------------------------------------------------------------

  async publish(kind: Kind, track: MediaStreamTrack | null): Promise<void> {
    this.tracks[kind] = track;
    const sender = this.senders[kind];
    if (this.publisher && sender) {
      // Both kinds are negotiated up front, so turning a device on or off never renegotiates.
      await sender.replaceTrack(track);
      return;
    }
    // Negotiating runs in the background: the button answers at once, media follows.
    if (track && !this.publisher) void this.publish_(this.generation);
  }

  private async publish_(generation: number): Promise<void> {
    if (this.stopped || generation !== this.generation) return;
    this.publisher?.close();
    const pc = new RTCPeerConnection(await this.rtcConfig());
    if (generation !== this.generation) {
      pc.close();
      return;
    }
    this.publisher = pc;
    const stream = new MediaStream();
    for (const kind of ["audio", "video"] as Kind[]) {
      const transceiver = pc.addTransceiver(this.tracks[kind] ?? kind, { direction: "sendonly", streams: [stream] });
      this.senders[kind] = transceiver.sender;
    }
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== this.publisher) return;
      if (pc.connectionState === "connected") this.publishRetries = 0;
      if (pc.connectionState === "failed") this.retryPublish(generation);
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const ack = await this.session.socket.timeout(20000).emitWithAck("media-publish", { sdp: pc.localDescription!.sdp });
      if (pc !== this.publisher) return;
      if (hasError(ack) || !(ack as { sdp?: string }).sdp) throw new Error(hasError(ack) ? ack.error.code : "no answer");
      await pc.setRemoteDescription({ type: "answer", sdp: (ack as { sdp: string }).sdp });
    } catch {
      if (pc === this.publisher) this.retryPublish(generation);
    }
  }

  private retryPublish(generation: number): void {
    if (this.stopped || generation !== this.generation) return;
    if (this.publishRetries === 1) this.onProblem("Your camera and microphone aren't reaching the room yet — retrying…");
    this.later(() => void this.publish_(generation), this.publishRetries++);
  }

  // --- subscribing -----------------------------------------------------------------------

  private async subscribe(generation: number): Promise<void> {
    if (this.stopped || generation !== this.generation) return;
    this.subscriber?.close();
    const pc = new RTCPeerConnection(await this.rtcConfig());
    if (generation !== this.generation) {
      pc.close();
      return;
    }
    this.subscriber = pc;
    this.byMid.clear();
    this.streamOfMid.clear();
    pc.addEventListener("track", (event) => {
      const mid = event.transceiver.mid;
      if (mid !== null && event.streams[0]) this.streamOfMid.set(mid, event.streams[0].id);
      this.reconcile(pc);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== this.subscriber) return;
      if (pc.connectionState === "connected") this.subscribeRetries = 0;
      if (pc.connectionState === "failed") this.retrySubscribe(generation);
    });
    try {
      const ack = await this.session.socket.timeout(20000).emitWithAck("media-subscribe", {});
      if (pc !== this.subscriber) return;
      if (hasError(ack)) throw new Error(ack.error.code);
      const offer = (ack as { offer?: MediaOffer | null }).offer;
      if (offer) this.enqueueOffer(offer, generation);
    } catch {
      if (pc === this.subscriber) this.retrySubscribe(generation);
    }
  }

  private retrySubscribe(generation: number): void {
    if (this.stopped || generation !== this.generation) return;
    if (this.subscribeRetries === 1) this.onProblem("Other people's cameras can't be received right now — retrying…");
    this.later(() => void this.subscribe(generation), this.subscribeRetries++);
  }

  /** Offers are applied one at a time, in order. */
  private enqueueOffer(offer: MediaOffer, generation: number): void {
    this.offers = this.offers.then(() => this.applyOffer(offer, generation)).catch(() => undefined);
  }

  private async applyOffer(offer: MediaOffer, generation: number): Promise<void> {
    // An offer can arrive before media-subscribe's ack resolves; wait for the connection.
    const pc = this.subscriber;
    if (!pc || generation !== this.generation || this.stopped) return;
    if (offer.tracks) this.byMid = new Map(offer.tracks.map((t) => [String(t.mid), t]));
    try {
      await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      const ack = await this.session.socket
        .timeout(20000)
        .emitWithAck("media-answer", { sdp: pc.localDescription!.sdp, offerId: offer.offerId });
      if (hasError(ack) && ack.error.code !== "STALE_ANSWER") throw new Error(ack.error.code);
    } catch {
      if (pc === this.subscriber) this.retrySubscribe(generation);
      return;
    }
    this.reconcile(pc);
  }

  /** Groups the receiving tracks by publisher (from the offer's `tracks`, else the msid stream id). */
  private reconcile(pc: RTCPeerConnection): void {
    if (pc !== this.subscriber) return;
    const wanted = new Map<string, MediaStreamTrack[]>();
    for (const transceiver of pc.getTransceivers()) {
      const mid = transceiver.mid;
      const track = transceiver.receiver.track;
      if (mid === null || !track || track.readyState === "ended") continue;
      const direction = transceiver.currentDirection ?? transceiver.direction;
      if (direction === "inactive" || direction === "stopped") continue;
      const info = this.byMid.get(mid);
      const owner = info?.participantId ?? info?.streamId ?? this.streamOfMid.get(mid);
      if (!owner) continue;
      wanted.set(owner, [...(wanted.get(owner) ?? []), track]);
    }
    let changed = false;
    for (const [userId, tracks] of wanted) {
      const current = this.remote.get(userId);
      const same = current && current.getTracks().length === tracks.length && tracks.every((t) => current.getTrackById(t.id));
      if (same) continue;
      // A fresh MediaStream per change makes every <video>/<audio> pick the new tracks up.
      const stream = new MediaStream(tracks);
      this.remote.set(userId, stream);
      this.grid.setRemoteStream(userId, stream);
      for (const t of tracks) {
        t.addEventListener("unmute", this.onRemoteChange);
        t.addEventListener("ended", () => this.reconcile(pc));
      }
      changed = true;
    }
    for (const userId of [...this.remote.keys()]) {
      if (!wanted.has(userId)) {
        this.remote.delete(userId);
        this.grid.setRemoteStream(userId, null);
        changed = true;
      }
    }
    if (changed) this.onRemoteChange();
  }
}

export function createMediaLink(
  session: RoomSession,
  grid: VideoGrid,
  onRemoteChange: () => void,
  initial?: unknown,
  onProblem?: (text: string) => void,
): MediaLink {
  if (typeof RTCPeerConnection === "undefined") return new NoMedia();
  return new SfuLink(session, grid, onRemoteChange, initial, onProblem);
}
