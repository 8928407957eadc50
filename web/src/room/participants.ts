// The participant list with live microphone / camera state and the active speaker.

import { append, h, icon, ICONS } from "../dom";
import { colourFor, initials } from "../format";
import type { Participant } from "../types";

/** Files a report; resolves to an error message, or null once the server acknowledged it. */
export type Reporter = (userId: string, reason: string, text: string) => Promise<string | null>;

const REPORT_REASONS: [string, string][] = [
  ["harassment", "Harassment or bullying"],
  ["hate", "Hate speech"],
  ["spam", "Spam or advertising"],
  ["sexual-content", "Sexual content"],
  ["violence", "Violence or threats"],
  ["impersonation", "Impersonation"],
  ["other", "Something else"],
];

export class ParticipantList {
  readonly el: HTMLElement;
  private list: HTMLUListElement;
  private count: HTMLSpanElement;
  private countText: HTMLSpanElement;
  private rows = new Map<string, HTMLLIElement>();
  private selfId = "";
  private reporter: Reporter | null = null;
  private reportForm: HTMLFormElement;
  private reportTitle: HTMLParagraphElement;
  private reportReason: HTMLSelectElement;
  private reportText: HTMLTextAreaElement;
  private reportStatus: HTMLParagraphElement;
  private reportTarget = "";
  /** "focusing" or "on break" while the room's timer runs; "" otherwise. */
  private presence = "";

  constructor() {
    this.count = h("span", { class: "count-pill" }, "0");
    this.countText = h("span", { class: "visually-hidden" });
    this.list = h("ul", { class: "participant-list" });
    this.el = h(
      "section",
      { class: "panel participants-panel", "aria-labelledby": "participants-title" },
      h("h2", { id: "participants-title", class: "panel-title" }, icon(ICONS.users), "People ", this.count, this.countText),
      this.list,
    );
    this.reportTitle = h("p", { class: "report-title", id: "report-title" });
    this.reportReason = h("select", { name: "reason", required: true, "aria-label": "Reason" },
      ...REPORT_REASONS.map(([value, label]) => h("option", { value }, label)));
    this.reportText = h("textarea", { name: "text", maxlength: 500, rows: 3, "aria-label": "What happened (optional)", placeholder: "What happened (optional)" });
    this.reportStatus = h("p", { class: "report-status", role: "status", "aria-live": "polite" });
    this.reportForm = h("form", { class: "report-form", hidden: true, "aria-labelledby": "report-title", onsubmit: (e: Event) => { e.preventDefault(); void this.sendReport(); } },
      this.reportTitle, this.reportReason, this.reportText,
      h("div", { class: "report-actions" },
        h("button", { type: "submit", class: "btn btn-primary" }, "Send report"),
        h("button", { type: "button", class: "btn", onclick: () => this.closeReport() }, "Cancel")),
    );
    append(this.el, this.reportForm, this.reportStatus);
  }

  setReporter(reporter: Reporter): void {
    this.reporter = reporter;
  }

  private openReport(p: Participant): void {
    this.reportTarget = p.userId;
    this.reportTitle.textContent = `Report ${p.displayName}`;
    this.reportText.value = "";
    this.reportStatus.textContent = "";
    this.reportForm.hidden = false;
    this.reportReason.focus();
  }

  private closeReport(): void {
    this.reportForm.hidden = true;
    this.reportTarget = "";
  }

  private async sendReport(): Promise<void> {
    if (!this.reporter || !this.reportTarget) return;
    const problem = await this.reporter(this.reportTarget, this.reportReason.value, this.reportText.value);
    if (problem) {
      this.reportStatus.textContent = problem;
      return;
    }
    this.closeReport();
    this.reportStatus.textContent = "Thank you: your report was received.";
  }

  setSelf(userId: string): void {
    this.selfId = userId;
  }

  setPresence(presence: string): void {
    this.presence = presence;
  }

  render(participants: Iterable<Participant>, speakerId: string | null): void {
    const items = [...participants].sort((a, b) => {
      if (a.userId === this.selfId) return -1;
      if (b.userId === this.selfId) return 1;
      return (a.joinedAt ?? "").localeCompare(b.joinedAt ?? "") || a.displayName.localeCompare(b.displayName);
    });
    const seen = new Set<string>();
    items.forEach((p, index) => {
      seen.add(p.userId);
      let row = this.rows.get(p.userId);
      if (!row) {
        row = h("li", { class: "participant", "data-user-id": p.userId });
        this.rows.set(p.userId, row);
      }
      this.fill(row, p, p.userId === speakerId);
      if (this.list.children[index] !== row) this.list.insertBefore(row, this.list.children[index] ?? null);
    });
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.remove();
        this.rows.delete(id);
      }
    }
    this.count.textContent = String(items.length);
    this.count.setAttribute("aria-hidden", "true");
    this.countText.textContent = `: ${items.length} ${items.length === 1 ? "person" : "people"} in the room`;
  }

  private fill(row: HTMLLIElement, p: Participant, speaking: boolean): void {
    const isSelf = p.userId === this.selfId;
    row.classList.toggle("is-self", isSelf);
    row.classList.toggle("is-speaking", speaking);
    row.dataset.audio = String(p.isAudioEnabled);
    row.dataset.video = String(p.isVideoEnabled);
    row.dataset.presence = this.presence;
    const micLabel = p.isAudioEnabled ? "microphone on" : "microphone off";
    const camLabel = p.isVideoEnabled ? "camera on" : "camera off";
    row.replaceChildren();
    append(
      row,
      h("span", { class: `avatar avatar-sm avatar-c${colourFor(p.userId)}`, "aria-hidden": "true" }, initials(p.displayName)),
      h(
        "span",
        { class: "participant-name" },
        h("span", { class: "name-text" }, p.displayName),
        isSelf ? h("span", { class: "you" }, " (you)") : null,
        this.presence ? h("span", { class: `presence presence-${this.presence === "focusing" ? "focus" : "break"}` }, this.presence) : null,
        p.status ? h("span", { class: "participant-status", title: p.status }, p.status) : null,
      ),
      speaking ? h("span", { class: "visually-hidden" }, ", speaking") : null,
      h(
        "span",
        { class: "participant-state" },
        h("span", { class: `state state-audio ${p.isAudioEnabled ? "on" : "off"}`, role: "img", "aria-label": micLabel, title: micLabel }, icon(p.isAudioEnabled ? ICONS.mic : ICONS.micOff)),
        h("span", { class: `state state-video ${p.isVideoEnabled ? "on" : "off"}`, role: "img", "aria-label": camLabel, title: camLabel }, icon(p.isVideoEnabled ? ICONS.cam : ICONS.camOff)),
      ),
      isSelf || !this.reporter
        ? null
        : h("button", { type: "button", class: "report-button", "aria-label": `Report ${p.displayName}`, title: "Report", onclick: () => this.openReport(p) }, "Report"),
    );
  }
}
