// Before joining: a preview of the camera, "join with camera / microphone on" and device
// pickers. The choices are remembered on this device; the running tracks go into the room.

import { h } from "../dom";
import { LocalMedia, listDevices, type Kind } from "../room/localMedia";
import { mediaPrefs } from "../storage";

const LABEL: Record<Kind, string> = { video: "Camera", audio: "Microphone" };

export class DevicePreview {
  readonly el: HTMLElement;
  private local = new LocalMedia();
  private readonly video: HTMLVideoElement;
  private readonly frame: HTMLDivElement;
  private readonly problem: HTMLParagraphElement;
  private readonly on: Record<Kind, HTMLInputElement>;
  private readonly pick: Record<Kind, HTMLSelectElement>;
  private readonly pickField: Record<Kind, HTMLDivElement>;
  /** Bumped by every start/stop, so a slow getUserMedia never lands after the dialog closed. */
  private generation = 0;

  constructor() {
    this.video = h("video", { class: "prejoin-video", autoplay: true, playsinline: true, muted: true, "aria-label": "Your camera preview" });
    this.video.muted = true;
    this.frame = h("div", { class: "prejoin-frame" }, this.video, h("p", { class: "prejoin-off" }, "Camera is off"));
    this.problem = h("p", { class: "prejoin-problem field-error", role: "alert" });
    this.on = { video: this.checkbox("video"), audio: this.checkbox("audio") };
    this.pick = { video: this.select("video"), audio: this.select("audio") };
    this.pickField = {
      video: h("div", { class: "field prejoin-pick", hidden: true }, h("label", { for: "prejoin-video-device" }, "Camera"), this.pick.video),
      audio: h("div", { class: "field prejoin-pick", hidden: true }, h("label", { for: "prejoin-audio-device" }, "Microphone"), this.pick.audio),
    };
    this.el = h(
      "fieldset",
      { class: "prejoin" },
      h("legend", { class: "prejoin-legend" }, "Camera and microphone"),
      this.frame,
      h(
        "div",
        { class: "prejoin-options" },
        h("label", { class: "check" }, this.on.video, " Join with camera on"),
        this.pickField.video,
        h("label", { class: "check" }, this.on.audio, " Join with microphone on"),
        this.pickField.audio,
        this.problem,
      ),
    );
  }

  private checkbox(kind: Kind): HTMLInputElement {
    const box = h("input", { type: "checkbox", id: `prejoin-${kind}`, class: `prejoin-${kind}` });
    box.addEventListener("change", () => {
      mediaPrefs.set({ [kind]: box.checked });
      void this.apply(kind, this.generation);
    });
    return box;
  }

  private select(kind: Kind): HTMLSelectElement {
    const select = h("select", { id: `prejoin-${kind}-device`, class: `prejoin-device prejoin-${kind}-device` });
    select.addEventListener("change", () => {
      mediaPrefs.set(kind === "video" ? { videoDevice: select.value } : { audioDevice: select.value });
      if (this.local.track(kind)) void this.switchTo(kind, select.value, this.generation);
    });
    return select;
  }

  /** Shows the remembered choices and starts the devices that are on. */
  async start(): Promise<void> {
    const generation = ++this.generation;
    const prefs = mediaPrefs.get();
    this.on.video.checked = prefs.video;
    this.on.audio.checked = prefs.audio;
    this.problem.textContent = "";
    await this.apply("video", generation);
    await this.apply("audio", generation);
    await this.fillPickers();
  }

  /** Releases the devices (the dialog closed without joining). */
  stop(): void {
    this.generation++;
    this.local.stopAll();
    this.show();
  }

  /** The running devices and the choices, for the room; the preview lets go of them. */
  handOver(): { local: LocalMedia; want: { video: boolean; audio: boolean } } {
    this.generation++;
    const local = this.local;
    this.local = new LocalMedia();
    this.video.srcObject = null;
    this.show();
    return { local, want: { video: this.on.video.checked, audio: this.on.audio.checked } };
  }

  private async apply(kind: Kind, generation: number): Promise<void> {
    if (!this.on[kind].checked) {
      this.local.disable(kind);
      this.show();
      return;
    }
    const prefs = mediaPrefs.get();
    const result = await this.local.enable(kind, kind === "video" ? prefs.videoDevice : prefs.audioDevice);
    if (generation !== this.generation) {
      this.local.disable(kind); // the dialog moved on meanwhile
      return;
    }
    if (result.error) {
      this.on[kind].checked = false;
      this.problem.textContent = result.error;
    } else {
      this.problem.textContent = "";
      // A device picked while this one was starting: move to it now.
      const wanted = kind === "video" ? mediaPrefs.get().videoDevice : mediaPrefs.get().audioDevice;
      if (wanted && wanted !== this.local.deviceOf(kind)) await this.switchTo(kind, wanted, generation);
    }
    this.show();
    await this.fillPickers();
  }

  private async switchTo(kind: Kind, deviceId: string, generation: number): Promise<void> {
    const result = await this.local.switchTo(kind, deviceId);
    if (generation !== this.generation) return;
    this.problem.textContent = result.error ?? "";
    this.show();
  }

  private show(): void {
    const camera = this.local.track("video");
    if (camera) {
      if (this.video.srcObject !== this.local.stream) this.video.srcObject = this.local.stream;
      void this.video.play().catch(() => undefined);
    }
    this.frame.classList.toggle("has-video", !!camera);
  }

  /** Device names are only given once a device was allowed: fill the pickers then. */
  private async fillPickers(): Promise<void> {
    const prefs = mediaPrefs.get();
    for (const kind of ["video", "audio"] as Kind[]) {
      const devices = await listDevices(kind);
      const named = devices.filter((d) => d.label);
      this.pickField[kind].hidden = named.length === 0;
      if (named.length === 0) continue;
      const current = this.local.deviceOf(kind) || (kind === "video" ? prefs.videoDevice : prefs.audioDevice);
      this.pick[kind].replaceChildren(
        ...named.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${LABEL[kind]} ${i + 1}`)),
      );
    }
  }
}
