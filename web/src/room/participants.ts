// The participant list with live microphone / camera state and the active speaker.

import { append, h, icon, ICONS } from "../dom";
import { colourFor, initials } from "../format";
import type { Participant } from "../types";

export class ParticipantList {
  readonly el: HTMLElement;
  private list: HTMLUListElement;
  private count: HTMLSpanElement;
  private countText: HTMLSpanElement;
  private rows = new Map<string, HTMLLIElement>();
  private selfId = "";

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
  }

  setSelf(userId: string): void {
    this.selfId = userId;
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
    const micLabel = p.isAudioEnabled ? "microphone on" : "microphone off";
    const camLabel = p.isVideoEnabled ? "camera on" : "camera off";
    row.replaceChildren();
    append(
      row,
      h("span", { class: `avatar avatar-sm avatar-c${colourFor(p.userId)}`, "aria-hidden": "true" }, initials(p.displayName)),
      h("span", { class: "participant-name" }, h("span", { class: "name-text" }, p.displayName), isSelf ? h("span", { class: "you" }, " (you)") : null),
      speaking ? h("span", { class: "visually-hidden" }, ", speaking") : null,
      h(
        "span",
        { class: "participant-state" },
        h("span", { class: `state state-audio ${p.isAudioEnabled ? "on" : "off"}`, role: "img", "aria-label": micLabel, title: micLabel }, icon(p.isAudioEnabled ? ICONS.mic : ICONS.micOff)),
        h("span", { class: `state state-video ${p.isVideoEnabled ? "on" : "off"}`, role: "img", "aria-label": camLabel, title: camLabel }, icon(p.isVideoEnabled ? ICONS.cam : ICONS.camOff)),
      ),
    );
  }
}
