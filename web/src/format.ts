// Pure helpers: validation, counters and time formatting (unit-tested).

export const DEFAULT_MAX_NAME = 50;
export const DEFAULT_MAX_MESSAGE = 1000;

/** Length in user-perceived characters (code points), matching the server's Python len(). */
export function charLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Returns an inline validation message for a display name, or "" when it is acceptable. */
export function validateDisplayName(raw: string, max = DEFAULT_MAX_NAME): string {
  const name = raw.trim();
  if (name.length === 0) return "Please enter a display name.";
  const len = charLength(name);
  if (len > max) return `That name is ${len} characters long; the limit is ${max}.`;
  return "";
}

/** "0:42" / "5:00" style countdown for a number of seconds. */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

/** Short local time for a chat message; the full date goes into the title. */
export function formatTime(iso: string, locale?: string): { short: string; full: string } {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return { short: "", full: "" };
  const short = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit" }).format(date);
  const full = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium" }).format(date);
  return { short, full };
}

/** Up to two initials for an avatar placeholder. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const chars = words.slice(0, 2).map((w) => Array.from(w)[0] ?? "");
  return chars.join("").toUpperCase() || "?";
}

export const AVATAR_COLOURS = 8;

/** A stable colour slot for a user id (a CSS class, so no inline styles are needed). */
export function colourFor(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return hash % AVATAR_COLOURS;
}

export function occupancyLabel(current: number, capacity: number): string {
  return `${current} of ${capacity} seats taken`;
}
