// The shared focus timer, counted down locally: the server sends the phase's end and its own
// time, never ticks; the difference between its clock and ours corrects the countdown.

import type { TimerInfo, TimerPhase } from "./types";

export interface LocalTimer {
  info: TimerInfo;
  /** Server time minus local time when it arrived (ms). */
  offsetMs: number;
}

export function received(info: TimerInfo, now = Date.now()): LocalTimer {
  const server = Date.parse(info.serverTime);
  return { info, offsetMs: Number.isNaN(server) ? 0 : server - now };
}

/** Milliseconds left in the phase, on the server's clock. */
export function remainingMs(timer: LocalTimer, now = Date.now()): number {
  const { info } = timer;
  if (info.status !== "running" || !info.endsAt) return Math.max(0, info.remainingMs);
  return Math.max(0, Date.parse(info.endsAt) - (now + timer.offsetMs));
}

/** "24:59", or "1:02:03" past an hour. */
export function formatClock(ms: number): string {
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

export const PHASE_LABEL: Record<TimerPhase, string> = { focus: "Focus", break: "Break", "long-break": "Long break" };

/** What a person is doing while this timer runs: focusing or on a break (or nothing shared). */
export function presenceOf(info: TimerInfo | null | undefined): "focusing" | "on break" | "" {
  if (!info || info.status !== "running") return "";
  return info.phase === "focus" ? "focusing" : "on break";
}

/** The lobby card's line: "Focus · 12 min left", "Break · paused", or "" for no timer. */
export function timerSummary(timer: LocalTimer | null, now = Date.now()): string {
  if (!timer || timer.info.status === "stopped") return "";
  const label = PHASE_LABEL[timer.info.phase];
  if (timer.info.status === "paused") return `${label} · paused`;
  const minutes = Math.ceil(remainingMs(timer, now) / 60000);
  return `${label} · ${minutes} min left`;
}

/** The chat's system line for a timer change someone made ("" for a phase that simply ended). */
export function timerLine(info: TimerInfo, before?: TimerInfo | null): string {
  if (!info.by) return "";
  const who = info.by.displayName;
  switch (info.action) {
    case "start":
      if (before?.status === "paused") return `${who} resumed the timer`;
      return `${who} started the timer: ${PHASE_LABEL[info.phase].toLowerCase()}`;
    case "pause":
      return `${who} paused the timer`;
    case "skip":
      return `${who} skipped ahead to ${PHASE_LABEL[info.phase].toLowerCase()}`;
    default:
      return "";
  }
}
