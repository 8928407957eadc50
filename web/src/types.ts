// Wire shapes of the publicrooms server (REST + Socket.IO), as the UI consumes them.

export interface Room {
  id: string;
  name: string;
  currentOccupancy: number;
  capacity: number;
  isFull: boolean;
}

export interface Participant {
  userId: string;
  displayName: string;
  isVideoEnabled: boolean;
  isAudioEnabled: boolean;
  joinedAt?: string;
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
}

export type JoinAck = JoinSuccess | { success?: false; error: ApiError };

export type Ack<T> = T | { success?: false; error: ApiError };

export function isError(value: unknown): value is { error: ApiError } {
  return typeof value === "object" && value !== null && "error" in value && !!(value as { error: unknown }).error;
}
