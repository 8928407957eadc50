// The seam between the room UI and the SFU signalling (see docs/protocol-media.md).

import type { Kind } from "./localMedia";

export interface MediaLink {
  /** Starts (or restarts after a reconnect) publishing and subscribing. */
  start(): void;
  /** Sends this track for the kind, or stops sending it (null). */
  publish(kind: Kind, track: MediaStreamTrack | null): Promise<void>;
  /** Closes every peer connection. */
  stop(): void;
}

/** Used when the server has media disabled: the room still works with chat only. */
export class NoMedia implements MediaLink {
  start(): void {}
  async publish(): Promise<void> {}
  stop(): void {}
}
