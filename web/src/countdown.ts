// A ticking "try again in m:ss" countdown.

import { formatCountdown } from "./format";

export function countdown(seconds: number, onTick: (label: string, remaining: number) => void, onDone: () => void): () => void {
  const end = Date.now() + seconds * 1000;
  let timer = 0;
  const tick = () => {
    const remaining = (end - Date.now()) / 1000;
    if (remaining <= 0) {
      window.clearInterval(timer);
      onDone();
      return;
    }
    onTick(formatCountdown(remaining), remaining);
  };
  timer = window.setInterval(tick, 250);
  tick();
  return () => window.clearInterval(timer);
}
