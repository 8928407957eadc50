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

  /** Asks for the device (this is when the browser prompts) and adds its track; `deviceId`
   *  is preferred (a remembered device that is gone falls back to the default). */
  async enable(kind: Kind, deviceId = ""): Promise<DeviceResult> {
    const existing = this.track(kind);
    if (existing && existing.readyState === "live") return { track: existing };
    if (existing) this.disable(kind);
    const result = await capture(kind, deviceId ? { ideal: deviceId } : undefined);
    if (result.track) this.stream.addTrack(result.track);
    return result;
  }

  /** Moves a running device to another one (`deviceId` exactly); the old track stops. */
  async switchTo(kind: Kind, deviceId: string): Promise<DeviceResult> {
    const old = this.track(kind);
    const result = await capture(kind, { exact: deviceId });
    if (!result.track) return result;
    if (old) {
      old.stop();
      this.stream.removeTrack(old);
    }
    this.stream.addTrack(result.track);
    return result;
  }

  /** The device a running track uses ("" when off). */
  deviceOf(kind: Kind): string {
    return this.track(kind)?.getSettings().deviceId ?? "";
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

async function capture(kind: Kind, deviceId?: ConstrainDOMString): Promise<DeviceResult> {
  if (!navigator.mediaDevices?.getUserMedia) {
    return { error: explainMediaError(kind, { name: window.isSecureContext ? "NotFoundError" : "InsecureContextError" }) };
  }
  try {
    const constraints = deviceId ? { ...CONSTRAINTS[kind], deviceId } : CONSTRAINTS[kind];
    const media = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
    const track = kind === "video" ? media.getVideoTracks()[0] : media.getAudioTracks()[0];
    if (!track) return { error: explainMediaError(kind, { name: "NotFoundError" }) };
    return { track };
  } catch (err) {
    return { error: explainMediaError(kind, err instanceof Error ? err : { name: String((err as { name?: string })?.name ?? "") }) };
  }
}

/** The cameras or microphones the browser offers (named once permission was given). */
export async function listDevices(kind: Kind): Promise<MediaDeviceInfo[]> {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const want = kind === "video" ? "videoinput" : "audioinput";
  try {
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === want && d.deviceId);
  } catch {
    return [];
  }
}
