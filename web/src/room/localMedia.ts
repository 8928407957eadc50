// The user's own camera and microphone. Permission is asked only when a device is turned on;
// a refusal is explained in words instead of leaving a dead button.

export type Kind = "video" | "audio";

export interface DeviceResult {
  track?: MediaStreamTrack;
  error?: string;
}

const CONSTRAINTS: Record<Kind, MediaTrackConstraints> = {
  video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 } },
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
};

const DEVICE_NAME: Record<Kind, string> = { video: "camera", audio: "microphone" };

/** Turns a getUserMedia failure into a sentence a person can act on. */
export function explainMediaError(kind: Kind, err: unknown): string {
  const device = DEVICE_NAME[kind];
  const name = err instanceof DOMException || err instanceof Error ? err.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return `Your browser is blocking the ${device}. Allow ${device} access for this site (usually the icon at the left of the address bar), then press the button again.`;
    case "NotFoundError":
    case "OverconstrainedError":
      return `No ${device} was found. Connect one and press the button again.`;
    case "NotReadableError":
    case "AbortError":
      return `The ${device} is in use by another app or couldn't be started. Close the other app and try again.`;
    case "InsecureContextError":
      return `The ${device} can only be used when the site is opened over HTTPS (or on localhost).`;
    default:
      return `The ${device} couldn't be started. Press the button to try again.`;
  }
}

export class LocalMedia {
  readonly stream = new MediaStream();

  track(kind: Kind): MediaStreamTrack | undefined {
    return kind === "video" ? this.stream.getVideoTracks()[0] : this.stream.getAudioTracks()[0];
  }

  /** Asks for the device (this is when the browser prompts) and adds its track. */
  async enable(kind: Kind): Promise<DeviceResult> {
    const existing = this.track(kind);
    if (existing && existing.readyState === "live") return { track: existing };
    if (!navigator.mediaDevices?.getUserMedia) {
      return { error: explainMediaError(kind, { name: window.isSecureContext ? "NotFoundError" : "InsecureContextError" }) };
    }
    try {
      const media = await navigator.mediaDevices.getUserMedia({ [kind]: CONSTRAINTS[kind] });
      const track = kind === "video" ? media.getVideoTracks()[0] : media.getAudioTracks()[0];
      if (!track) return { error: explainMediaError(kind, { name: "NotFoundError" }) };
      this.stream.addTrack(track);
      return { track };
    } catch (err) {
      return { error: explainMediaError(kind, err instanceof Error ? err : { name: String((err as { name?: string })?.name ?? "") }) };
    }
  }

  /** Stops the device entirely (the camera light goes out). */
  disable(kind: Kind): void {
    const track = this.track(kind);
    if (!track) return;
    track.stop();
    this.stream.removeTrack(track);
  }

  stopAll(): void {
    for (const track of this.stream.getTracks()) {
      track.stop();
      this.stream.removeTrack(track);
    }
  }
}
