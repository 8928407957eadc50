// "Working on…": a short status the room sees next to your name and on your tile.

import { h } from "../dom";
import { describeError } from "../errors";
import type { ApiError } from "../types";

export const STATUS_MAX = 80;

export type StatusSetter = (status: string) => Promise<{ status?: string | null; error?: ApiError }>;

export class StatusField {
  readonly el: HTMLFormElement;
  private readonly input: HTMLInputElement;
  private readonly feedback: HTMLParagraphElement;
  private saved = "";
  private feedbackTimer = 0;

  constructor(private setStatus: StatusSetter) {
    this.input = h("input", {
      type: "text",
      id: "status-input",
      class: "status-input",
      maxlength: STATUS_MAX,
      placeholder: "Working on… (shown to the room)",
      autocomplete: "off",
      enterkeyhint: "done",
    });
    this.feedback = h("p", { class: "status-feedback", role: "status", "aria-live": "polite" });
    const save = h("button", { type: "submit", class: "btn btn-small status-save" }, "Set");
    this.el = h(
      "form",
      { class: "status-field" },
      h("label", { for: "status-input", class: "visually-hidden" }, "Working on…"),
      h("div", { class: "status-row" }, this.input, save),
      this.feedback,
    );
    this.el.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.submit();
    });
  }

  /** What the server holds for us (a join snapshot). */
  show(status: string | null | undefined): void {
    this.saved = status ?? "";
    if (document.activeElement !== this.input) this.input.value = this.saved;
  }

  private async submit(): Promise<void> {
    const text = this.input.value.trim();
    if (text === this.saved) return;
    const result = await this.setStatus(text);
    if (result.error) {
      window.clearTimeout(this.feedbackTimer);
      this.feedback.textContent = describeError(result.error);
      return;
    }
    this.saved = result.status ?? "";
    this.input.value = this.saved;
    this.feedback.textContent = this.saved ? "Shown to the room." : "Status cleared.";
    window.clearTimeout(this.feedbackTimer);
    this.feedbackTimer = window.setTimeout(() => {
      this.feedback.textContent = "";
    }, 4000);
  }
}
