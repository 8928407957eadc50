// The room's shared focus timer: phase, time left (counted here from the server's end time),
// start / pause / skip for anyone in the room, and an optional chime at each phase change.

import { chimePref, playChime } from "../chime";
import { h } from "../dom";
import { describeError } from "../errors";
import { formatClock, PHASE_LABEL, received, remainingMs, type LocalTimer } from "../timerClock";
import type { ApiError, TimerInfo } from "../types";

export type TimerAction = "start" | "pause" | "skip";
export type TimerRequest = (action: TimerAction) => Promise<{ timer?: TimerInfo; error?: ApiError }>;

export class TimerPanel {
  readonly el: HTMLElement;
  private timer: LocalTimer | null = null;
  private readonly phaseEl: HTMLSpanElement;
  private readonly clockEl: HTMLElement;
  private readonly roundEl: HTMLSpanElement;
  private readonly progress: HTMLProgressElement;
  private readonly startButton: HTMLButtonElement;
  private readonly skipButton: HTMLButtonElement;
  private readonly chimeBox: HTMLInputElement;
  private readonly feedback: HTMLParagraphElement;
  private ticker = 0;
  private chimes = 0;

  constructor(private request: TimerRequest) {
    this.phaseEl = h("span", { class: "timer-phase" });
    this.roundEl = h("span", { class: "timer-round" });
    this.clockEl = h("time", { class: "timer-clock", "aria-hidden": "true" });
    this.progress = h("progress", { class: "timer-progress", max: 1, value: 0, "aria-hidden": "true" });
    this.startButton = h("button", { type: "button", class: "btn btn-small btn-primary timer-start" }, "Start");
    this.skipButton = h("button", { type: "button", class: "btn btn-small timer-skip", title: "End this phase now and start the next" }, "Skip");
    this.startButton.addEventListener("click", () => void this.act(this.timer?.info.status === "running" ? "pause" : "start"));
    this.skipButton.addEventListener("click", () => void this.act("skip"));
    this.chimeBox = h("input", { type: "checkbox", class: "timer-chime-box", id: "timer-chime" });
    this.chimeBox.checked = chimePref.get();
    this.chimeBox.addEventListener("change", () => {
      chimePref.set(this.chimeBox.checked);
      if (this.chimeBox.checked) void playChime(); // a preview, and the gesture that unlocks audio
    });
    this.feedback = h("p", { class: "timer-feedback", role: "status", "aria-live": "polite" });
    this.el = h(
      "section",
      { class: "panel timer-panel", "aria-labelledby": "timer-title", "data-status": "stopped" },
      h("h2", { id: "timer-title", class: "visually-hidden" }, "Focus timer"),
      h("div", { class: "timer-readout" }, h("span", { class: "timer-labels" }, this.phaseEl, this.roundEl), this.clockEl),
      h(
        "div",
        { class: "timer-actions" },
        this.startButton,
        this.skipButton,
        h("label", { class: "timer-chime", for: "timer-chime", title: "A soft chime when a phase ends" }, this.chimeBox, " Chime"),
      ),
      this.progress,
      this.feedback,
    );
    this.ticker = window.setInterval(() => this.tick(), 250);
  }

  get info(): TimerInfo | null {
    return this.timer?.info ?? null;
  }

  /** A new state from the server: a join snapshot or `timer-changed`. */
  set(info: TimerInfo | null | undefined, announce = false): void {
    if (!info) return;
    const before = this.timer?.info;
    this.timer = received(info);
    const phaseChanged = !!before && (before.phase !== info.phase || before.round !== info.round);
    if (announce && phaseChanged && chimePref.get()) {
      this.chimes++;
      this.el.dataset.chimes = String(this.chimes);
      void playChime();
    }
    this.render();
  }

  private async act(action: TimerAction): Promise<void> {
    this.startButton.disabled = this.skipButton.disabled = true;
    const result = await this.request(action);
    this.startButton.disabled = this.skipButton.disabled = false;
    if (result.error) this.feedback.textContent = describeError(result.error);
    else {
      this.feedback.textContent = "";
      this.set(result.timer);
    }
  }

  private render(): void {
    const info = this.timer?.info;
    if (!info) return;
    this.el.dataset.status = info.status;
    this.el.dataset.phase = info.phase;
    this.phaseEl.textContent = info.status === "stopped" ? "Not started" : `${PHASE_LABEL[info.phase]}${info.status === "paused" ? " · paused" : ""}`;
    this.roundEl.textContent = `Round ${info.round} of ${info.rounds}`;
    this.roundEl.hidden = info.status === "stopped";
    this.startButton.textContent = info.status === "running" ? "Pause" : info.status === "paused" ? "Resume" : "Start";
    this.startButton.setAttribute("aria-label", `${this.startButton.textContent} the room's timer`);
    this.skipButton.setAttribute("aria-label", "Skip to the next phase");
    this.tick();
  }

  private tick(): void {
    if (!this.timer) return;
    const left = remainingMs(this.timer);
    const text = formatClock(left);
    if (this.clockEl.textContent !== text) {
      this.clockEl.textContent = text;
      this.el.setAttribute("aria-label", `Focus timer: ${this.phaseEl.textContent}, ${text} left`);
    }
    const whole = this.timer.info.phaseMs || 1;
    this.progress.value = Math.min(1, Math.max(0, 1 - left / whole));
  }

  destroy(): void {
    window.clearInterval(this.ticker);
  }
}
