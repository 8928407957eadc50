// Wire shapes of the publicrooms server (REST + Socket.IO), as the UI consumes them.

export interface Room {
  id: string;
  name: string;
  currentOccupancy: number;
  capacity: number;
  isFull: boolean;
  /** Seats with the camera on (absent from older servers). */
  camerasOn?: number;
  timer?: TimerInfo | null;
}

export type TimerPhase = "focus" | "break" | "long-break";

/** A room's shared focus timer, as the server keeps it (`timer-changed`, room lists, join). */
export interface TimerInfo {
  phase: TimerPhase;
  status: "running" | "paused" | "stopped";
  round: number;
  rounds: number;
  endsAt: string | null;
  remainingMs: number;
  phaseMs: number;
  action: string | null;
  by: { userId: string; displayName: string } | null;
  serverTime: string;
}

export interface Participant {
  userId: string;
  displayName: string;
  isVideoEnabled: boolean;
  isAudioEnabled: boolean;
  joinedAt?: string;
  /** "Working on…" (null or absent: nothing said). */
  status?: string | null;
}

export interface ChatMessage {
  id: string;
  senderId: string;
  senderName: string;
  content: string;
  timestamp: string;
}

export interface ApiError {
  code: string;
  message: string;
  retryAfter?: number;
  details?: Record<string, unknown>;
}

export interface PublicConfig {
  iceServers: RTCIceServer[];
  maxDisplayNameLength: number;
  maxMessageLength: number;
}

export interface User {
  userId: string;
  displayName: string;
}

export interface JoinSuccess {
  success: true;
  room: Room;
  participants: Participant[];
  recentMessages: ChatMessage[];
  self?: User;
  timer?: TimerInfo | null;
}

export type JoinAck = JoinSuccess | { success?: false; error: ApiError };

export type Ack<T> = T | { success?: false; error: ApiError };

export function isError(value: unknown): value is { error: ApiError } {
  return typeof value === "object" && value !== null && "error" in value && !!(value as { error: unknown }).error;
}
