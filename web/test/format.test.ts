import { describe, expect, it } from "vitest";
import { charLength, colourFor, formatCountdown, formatTime, initials, validateDisplayName } from "../src/format";
import { describeError, toApiError } from "../src/errors";
import { h } from "../src/dom";

describe("display name validation", () => {
  it("requires 1-50 characters after trimming", () => {
    expect(validateDisplayName("")).toMatch(/enter a display name/);
    expect(validateDisplayName("   ")).toMatch(/enter a display name/);
    expect(validateDisplayName(" Ada ")).toBe("");
    expect(validateDisplayName("x".repeat(50))).toBe("");
    expect(validateDisplayName("x".repeat(51))).toMatch(/limit is 50/);
  });

  it("counts code points like the server does", () => {
    expect(charLength("😀😀")).toBe(2);
    expect(validateDisplayName("😀".repeat(50))).toBe("");
  });
});

describe("formatting", () => {
  it("formats countdowns as m:ss, rounding up", () => {
    expect(formatCountdown(0)).toBe("0:00");
    expect(formatCountdown(4.2)).toBe("0:05");
    expect(formatCountdown(300)).toBe("5:00");
    expect(formatCountdown(-3)).toBe("0:00");
  });

  it("formats timestamps in the given locale and survives bad input", () => {
    expect(formatTime("2026-01-02T15:04:05Z", "en-GB").short).toMatch(/^\d{2}:04$/);
    expect(formatTime("not a date").short).toBe("");
  });

  it("makes initials and stable colour slots", () => {
    expect(initials("ada lovelace")).toBe("AL");
    expect(initials("  ")).toBe("?");
    expect(colourFor("user-1")).toBe(colourFor("user-1"));
    expect(colourFor("user-1")).toBeGreaterThanOrEqual(0);
    expect(colourFor("user-1")).toBeLessThan(8);
  });
});

describe("errors", () => {
  it("reads error payloads from acks, connect errors and HTTP bodies", () => {
    expect(toApiError({ error: { code: "ROOM_FULL", message: "x" } }).code).toBe("ROOM_FULL");
    expect(toApiError({ code: "IP_BLOCKED", message: "", retryAfter: 9 }).retryAfter).toBe(9);
    expect(toApiError(null).code).toBe("NETWORK");
  });

  it("has plain words for known codes and falls back to the server message", () => {
    expect(describeError({ code: "ROOM_FULL", message: "" })).toMatch(/full/);
    expect(describeError({ code: "SOMETHING_NEW", message: "Server says hi" })).toBe("Server says hi");
  });
});

describe("h()", () => {
  it("renders strings as text, never as markup", () => {
    const el = h("p", {}, "<img src=x onerror=alert(1)>");
    expect(el.children.length).toBe(0);
    expect(el.textContent).toBe("<img src=x onerror=alert(1)>");
  });
});
