// Small wrappers around web storage that survive private mode / disabled storage.

const NAME_KEY = "publicrooms.displayName";
const ROOM_KEY = "publicrooms.activeRoom";

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

export const rememberedName = {
  get: (): string => safe(() => localStorage.getItem(NAME_KEY) ?? "", ""),
  set: (name: string): void => safe(() => localStorage.setItem(NAME_KEY, name), undefined),
};

/** The room this tab was in, so a reload re-enters it (re-joining is idempotent on the server). */
export const activeRoom = {
  get: (): string => safe(() => sessionStorage.getItem(ROOM_KEY) ?? "", ""),
  set: (roomId: string): void => safe(() => sessionStorage.setItem(ROOM_KEY, roomId), undefined),
  clear: (): void => safe(() => sessionStorage.removeItem(ROOM_KEY), undefined),
};

const MEDIA_KEY = "publicrooms.media";

/** Camera / microphone choices: on or off when joining, and which device. */
export interface MediaPrefs {
  video: boolean;
  audio: boolean;
  videoDevice: string;
  audioDevice: string;
}

const NO_MEDIA: MediaPrefs = { video: false, audio: false, videoDevice: "", audioDevice: "" };

export const mediaPrefs = {
  get: (): MediaPrefs =>
    safe(() => ({ ...NO_MEDIA, ...(JSON.parse(localStorage.getItem(MEDIA_KEY) ?? "{}") as Partial<MediaPrefs>) }), { ...NO_MEDIA }),
  set: (change: Partial<MediaPrefs>): void =>
    safe(() => localStorage.setItem(MEDIA_KEY, JSON.stringify({ ...mediaPrefs.get(), ...change })), undefined),
};
