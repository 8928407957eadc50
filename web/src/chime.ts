// An optional soft chime at each phase change, made with WebAudio (no sound file to fetch).
// Off by default; the choice is remembered in this browser.

const CHIME_KEY = "publicrooms.chime";

export const chimePref = {
  get: (): boolean => {
    try {
      return localStorage.getItem(CHIME_KEY) === "on";
    } catch {
      return false;
    }
  },
  set: (on: boolean): void => {
    try {
      localStorage.setItem(CHIME_KEY, on ? "on" : "off");
    } catch {
      // storage disabled: the choice lasts for this page only
    }
  },
};

let context: AudioContext | null = null;

/** Two quiet sine notes with a gentle fade; resolves once they are scheduled. */
export async function playChime(): Promise<void> {
  const Ctx = window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
  if (!Ctx) return;
  context ??= new Ctx();
  if (context.state === "suspended") await context.resume().catch(() => undefined);
  const start = context.currentTime + 0.02;
  for (const [offset, frequency] of [[0, 660], [0.28, 880]] as const) {
    const osc = context.createOscillator();
    const gain = context.createGain();
    osc.type = "sine";
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.12, start + offset + 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 1.2);
    osc.connect(gain).connect(context.destination);
    osc.start(start + offset);
    osc.stop(start + offset + 1.3);
  }
}
