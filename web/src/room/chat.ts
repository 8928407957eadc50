// The chat panel: history on entry, live messages, sender names, local timestamps,
// a character counter and rate-limit feedback.

import { countdown } from "../countdown";
import { h, icon, ICONS } from "../dom";
import { describeError } from "../errors";
import { charLength, DEFAULT_MAX_MESSAGE, formatTime } from "../format";
import type { ApiError, ChatMessage } from "../types";

/** A chat line: a message, or (system) a quiet line the page writes itself ("Ada joined"). */
type Line = ChatMessage & { system?: boolean };
type MessageItem = HTMLLIElement & { message: Line };

export type SendFn = (content: string) => Promise<{ message?: ChatMessage; error?: ApiError }>;

export class ChatPanel {
  readonly el: HTMLElement;
  private log: HTMLOListElement;
  private empty: HTMLParagraphElement;
  private input: HTMLTextAreaElement;
  private counter: HTMLSpanElement;
  private sendButton: HTMLButtonElement;
  private feedback: HTMLParagraphElement;
  private ids = new Set<string>();
  private systemCount = 0;
  private selfId = "";
  private sending = false;
  private blockedUntil = 0;
  private stopCountdown: (() => void) | null = null;
  private max = DEFAULT_MAX_MESSAGE;
  /** A message that could not be sent while offline, offered again on reconnecting. */
  private unsent = "";
  private offline = false;
  private typedOffline = false;

  constructor(private send: SendFn) {
    // The live region is the scrolling box; the messages inside stay an ordinary list.
    this.log = h("ol", { class: "chat-log" });
    this.empty = h("p", { class: "chat-empty" }, "No messages yet. Say hello — or just study quietly.");
    this.input = h("textarea", {
      id: "chat-input",
      name: "message",
      rows: 2,
      placeholder: "Write a message…",
      "aria-describedby": "chat-counter chat-feedback",
    });
    this.counter = h("span", { id: "chat-counter", class: "chat-counter", "aria-live": "off" });
    this.sendButton = h("button", { type: "submit", class: "btn btn-primary btn-send" }, icon(ICONS.send), h("span", {}, "Send"));
    this.feedback = h("p", { id: "chat-feedback", class: "chat-feedback", role: "status", "aria-live": "polite" });
    const form = h(
      "form",
      { class: "chat-form" },
      h("label", { for: "chat-input", class: "visually-hidden" }, "Message to the room"),
      this.input,
      h("div", { class: "chat-form-row" }, this.counter, this.sendButton),
      this.feedback,
    );
    this.el = h(
      "section",
      { class: "panel chat-panel", "aria-labelledby": "chat-title" },
      h("h2", { id: "chat-title", class: "panel-title" }, "Chat"),
      h("div", { class: "chat-scroll", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-labelledby": "chat-title", tabindex: 0 }, this.empty, this.log),
      form,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.submit();
    });
    this.input.addEventListener("input", () => {
      if (this.offline) this.typedOffline = true;
      this.updateCounter();
    });
    this.input.addEventListener("keydown", (e) => {
      // Enter sends, Shift+Enter adds a line (IME composition is left alone).
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.submit();
      }
    });
    this.updateCounter();
  }

  setLimits(maxMessageLength: number): void {
    this.max = maxMessageLength;
    this.updateCounter();
  }

  setSelf(userId: string): void {
    this.selfId = userId;
  }

  /** Replaces the log with a server snapshot (on join and after a reconnect), keeping order. */
  reset(messages: ChatMessage[]): void {
    this.ids.clear();
    this.log.replaceChildren();
    for (const m of messages) this.add(m, false);
    this.scrollToEnd(true);
  }

  /** Adds messages missing from the log (e.g. those sent while disconnected). */
  merge(messages: ChatMessage[]): void {
    const missing = messages.filter((m) => !this.ids.has(m.id));
    if (missing.length === 0) return;
    const all = [...this.currentMessages(), ...missing].sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    this.reset(all);
  }

  private currentMessages(): Line[] {
    return [...this.log.children].map((li) => (li as MessageItem).message);
  }

  /** A quiet line from the page itself (joins, leaves, timer changes); not a message. */
  system(text: string): void {
    this.add({ id: `system-${++this.systemCount}`, senderId: "", senderName: "", content: text, timestamp: new Date().toISOString(), system: true });
  }

  add(message: Line, scroll = true): void {
    if (this.ids.has(message.id)) return;
    this.ids.add(message.id);
    const stick = this.isNearBottom();
    const time = formatTime(message.timestamp);
    const isSelf = !message.system && message.senderId === this.selfId;
    const li = message.system
      ? (h("li", { class: "chat-system", "data-system": "true" }, h("span", { class: "chat-system-text" }, message.content), " ", h("time", { class: "chat-time", datetime: message.timestamp, title: time.full }, time.short)) as MessageItem)
      : h(
      "li",
      { class: `chat-message${isSelf ? " is-self" : ""}`, "data-message-id": message.id },
      h(
        "div",
        { class: "chat-meta" },
        h("span", { class: "chat-sender" }, message.senderName),
        isSelf ? h("span", { class: "visually-hidden" }, " (you)") : null,
        h("time", { class: "chat-time", datetime: message.timestamp, title: time.full }, time.short),
      ),
      h("p", { class: "chat-text" }, message.content),
    ) as MessageItem;
    li.message = message;
    // Ordered by the server's timestamp, whatever order acks and broadcasts arrive in.
    const at = Date.parse(message.timestamp);
    let next: MessageItem | null = null;
    for (let el = this.log.lastElementChild as MessageItem | null; el; el = el.previousElementSibling as MessageItem | null) {
      if (Date.parse(el.message.timestamp) <= at) break;
      next = el;
    }
    this.log.insertBefore(li, next);
    this.markContinued(li);
    if (next) this.markContinued(next);
    this.empty.hidden = true;
    if (scroll) this.scrollToEnd(stick || isSelf);
  }

  /** Consecutive messages from one sender within two minutes share one name header. */
  private markContinued(li: MessageItem): void {
    const previous = li.previousElementSibling as MessageItem | null;
    const continued =
      !!previous && !previous.message.system && !li.message.system && previous.message.senderId === li.message.senderId && Date.parse(li.message.timestamp) - Date.parse(previous.message.timestamp) < 120000;
    li.classList.toggle("is-continued", continued);
  }

  private isNearBottom(): boolean {
    const box = this.log.parentElement!;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  private scrollToEnd(force: boolean): void {
    this.empty.hidden = this.log.children.length > 0;
    if (!force) return;
    const box = this.log.parentElement!;
    box.scrollTop = box.scrollHeight;
  }

  private setFeedback(kind: "" | "limit" | "rate" | "error" | "offer", text: string): void {
    this.feedback.dataset.kind = kind;
    this.feedback.className = kind === "offer" ? "chat-feedback is-offer" : kind ? "chat-feedback is-error" : "chat-feedback";
    this.feedback.textContent = text;
  }

  private updateCounter(): void {
    const len = charLength(this.input.value);
    const over = len > this.max;
    this.counter.textContent = `${len} / ${this.max}`;
    this.counter.classList.toggle("near", len > this.max * 0.9 && !over);
    this.counter.classList.toggle("over", over);
    const blocked = Date.now() < this.blockedUntil;
    this.sendButton.disabled = this.sending || blocked || over || this.input.value.trim().length === 0;
    const kind = this.feedback.dataset.kind ?? "";
    if (kind === "rate") return;
    if (over) this.setFeedback("limit", `That's ${len - this.max} characters over the limit of ${this.max}.`);
    else if (kind === "limit") this.setFeedback("", "");
  }

  private async submit(): Promise<void> {
    const content = this.input.value.trim();
    if (!content || this.sending || Date.now() < this.blockedUntil) return;
    if (charLength(content) > this.max) return;
    this.sending = true;
    this.updateCounter();
    const result = await this.send(content);
    this.sending = false;
    if (result.error?.code === "NETWORK") {
      // Offline: the text stays in the box and is offered for sending once we're back.
      this.unsent = content;
      this.setFeedback("error", "You're offline — your message wasn't sent. It stays here and you can send it when you're back online.");
    } else if (result.error) {
      this.showError(result.error);
    } else {
      if (result.message) this.add(result.message);
      // Keep anything typed while the message was on its way.
      if (this.input.value.trim() === content) this.input.value = "";
      if (this.feedback.dataset.kind === "error" || this.feedback.dataset.kind === "offer") this.setFeedback("", "");
    }
    this.updateCounter();
    this.input.focus({ preventScroll: true });
  }

  /** The connection is back: errors from before are stale; offer what was typed offline. */
  reconnected(): void {
    if (this.feedback.dataset.kind === "error") this.setFeedback("", "");
    const text = this.input.value.trim();
    const offer = !!text && (this.unsent !== "" || this.typedOffline);
    this.unsent = "";
    this.typedOffline = false;
    this.offline = false;
    if (!offer) return;
    const send = h("button", { type: "button", class: "btn btn-small btn-primary send-unsent" }, "Send it now");
    send.addEventListener("click", () => void this.submit());
    this.setFeedback("offer", "You're back online. The message you wrote while offline hasn't been sent yet. ");
    this.feedback.append(send);
    this.updateCounter();
  }

  /** The connection dropped: what is typed from now on is offered again on reconnecting. */
  disconnected(): void {
    this.offline = true;
  }

  showError(error: ApiError): void {
    if (error.retryAfter && error.retryAfter > 0) {
      this.rateLimited(error.retryAfter, describeError(error));
      return;
    }
    this.setFeedback("error", describeError(error));
  }

  /** Blocks sending until the limit resets, with a live countdown. */
  rateLimited(retryAfter: number, text = describeError({ code: "CHAT_RATE_LIMIT_EXCEEDED", message: "" })): void {
    this.blockedUntil = Date.now() + retryAfter * 1000;
    this.stopCountdown?.();
    // The live region is announced once; the ticking clock inside it is hidden from screen readers.
    const clock = h("span", { class: "countdown", "aria-hidden": "true" });
    this.setFeedback("rate", `${text} `);
    this.feedback.append(
      h("span", { class: "visually-hidden" }, `You can send again in ${Math.ceil(retryAfter)} seconds.`),
      h("span", { "aria-hidden": "true" }, "You can send again in ", clock, "."),
    );
    this.stopCountdown = countdown(
      retryAfter,
      (label) => {
        clock.textContent = label;
        this.updateCounter();
      },
      () => {
        this.blockedUntil = 0;
        this.setFeedback("", "");
        this.updateCounter();
      },
    );
  }

  destroy(): void {
    this.stopCountdown?.();
  }
}
