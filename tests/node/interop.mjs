// Two people, from two loopback addresses, join one room with the npm socket.io-client and
// exercise every documented event. Prints one JSON line with what each of them observed.
import http from "node:http";
import { io } from "socket.io-client";

const [baseUrl, roomId, transportArg, ipA, ipB] = process.argv.slice(2);
const transports = transportArg === "default" ? undefined : transportArg.split(",");
const timeout = (ms, what) =>
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms));

function person(ip) {
  const agent = new http.Agent({ localAddress: ip, keepAlive: false });
  const socket = io(`${baseUrl}/public-room/${roomId}`, {
    agent, transports, reconnection: false, forceNew: true,
  });
  const seen = {};
  socket.onAny((event, data) => { (seen[event] ??= []).push(data); });
  const lobby = io(`${baseUrl}/`, { agent, transports, reconnection: false, forceNew: true });
  lobby.onAny((event, data) => { (seen[`lobby:${event}`] ??= []).push(data); });
  return { socket, lobby, seen };
}

const until = (check, what) => Promise.race([
  new Promise((resolve) => {
    const tick = () => (check() ? resolve() : setTimeout(tick, 20));
    tick();
  }),
  timeout(8000, what),
]);

const a = person(ipA);
const b = person(ipB);
try {
  await until(() => a.socket.connected && b.socket.connected && a.lobby.connected, "connect");
  const joinA = await a.socket.timeout(8000).emitWithAck("join-room", { userName: "Ada" });
  const joinB = await b.socket.timeout(8000).emitWithAck("join-room", { userName: "Bob" });
  await until(() => a.seen["user-joined"], "user-joined");
  const sent = await b.socket.timeout(8000).emitWithAck("send-message", { content: "hi from node" });
  await until(() => a.seen["new-message"] && b.seen["new-message"], "new-message");
  await b.socket.timeout(8000).emitWithAck("toggle-video",
    { userId: joinB.self.userId, enabled: true });
  await until(() => a.seen["participant-video-toggle"], "participant-video-toggle");
  const left = await b.socket.timeout(8000).emitWithAck("leave-room", { userId: joinB.self.userId });
  await until(() => a.seen["user-left"], "user-left");
  await until(() => (a.seen["lobby:room-occupancy-update"] ?? []).length >= 3, "lobby updates");
  const transportUsed = a.socket.io.engine.transport.name;
  console.log(JSON.stringify({ ok: true, joinA, joinB, sent, left, transportUsed,
    seenA: a.seen, seenB: b.seen }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error), seenA: a.seen, seenB: b.seen }));
} finally {
  for (const p of [a, b]) { p.socket.disconnect(); p.lobby.disconnect(); }
  setTimeout(() => process.exit(0), 50);
}
