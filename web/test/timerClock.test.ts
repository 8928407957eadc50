import { describe, expect, it } from "vitest";
import { formatClock, presenceOf, received, remainingMs, timerLine, timerSummary } from "../src/timerClock";
import type { TimerInfo } from "../src/types";

const running: TimerInfo = {
  phase: "focus",
  status: "running",
  round: 1,
  rounds: 4,
  endsAt: "2026-01-01T10:25:00.000Z",
  remainingMs: 25 * 60000,
  phaseMs: 25 * 60000,
  action: "start",
  by: { userId: "u1", displayName: "Ada" },
  serverTime: "2026-01-01T10:00:00.000Z",
};

describe("the shared timer, counted locally", () => {
  it("corrects the countdown by the server's clock", () => {
    const serverNow = Date.parse(running.serverTime);
    // This browser's clock is 7 minutes fast: it still shows 25 minutes at arrival.
    const fast = serverNow + 7 * 60000;
    const timer = received(running, fast);
    expect(remainingMs(timer, fast)).toBe(25 * 60000);
    expect(remainingMs(timer, fast + 60000)).toBe(24 * 60000);
    expect(remainingMs(timer, fast + 3600000)).toBe(0);
  });

  it("keeps a paused timer's time left", () => {
    const paused = received({ ...running, status: "paused", endsAt: null, remainingMs: 90000 });
    expect(remainingMs(paused, Date.now() + 10 ** 7)).toBe(90000);
    expect(timerSummary(paused)).toBe("Focus · paused");
  });

  it("formats clocks and lobby lines", () => {
    expect(formatClock(25 * 60000)).toBe("25:00");
    expect(formatClock(59001)).toBe("1:00");
    expect(formatClock(3723000)).toBe("1:02:03");
    const now = Date.parse(running.serverTime);
    expect(timerSummary(received(running, now), now + 30000)).toBe("Focus · 25 min left");
    expect(timerSummary(received({ ...running, status: "stopped" }, now))).toBe("");
  });

  it("names who changed it, and what people are doing", () => {
    expect(timerLine(running)).toBe("Ada started the timer: focus");
    expect(timerLine(running, { ...running, status: "paused" })).toBe("Ada resumed the timer");
    expect(timerLine({ ...running, action: "skip", phase: "long-break" })).toBe("Ada skipped ahead to long break");
    expect(timerLine({ ...running, action: "phase-end", by: null })).toBe("");
    expect(presenceOf(running)).toBe("focusing");
    expect(presenceOf({ ...running, phase: "break" })).toBe("on break");
    expect(presenceOf({ ...running, status: "paused" })).toBe("");
  });
});
