// Two people, from two loopback addresses, chat in one room through a load balancer with the
// npm socket.io-client on its default transports (long-polling first, then the upgrade to
// WebSocket: both need the balancer's stickiness). Prints one JSON line with what they saw.
import http from "node:http";
import { io } from "socket.io-client";

const [baseUrl, roomId, ipA, ipB, countArg] = process.argv.slice(2);
const count = Number(countArg ?? 3);
const timeout = (ms, what) =>
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms));
const until = (check, what) => Promise.race([
  new Promise((resolve) => {
    const tick = () => (check() ? resolve() : setTimeout(tick, 20));
    tick();
  }),
  timeout(15000, what),
]);

function person(ip) {
  const agent = new http.Agent({ localAddress: ip, keepAlive: false });
  const socket = io(`${baseUrl}/public-room/${roomId}`, { agent, reconnection: false, forceNew: true });
  const seen = [];
  const transports = [];
  socket.on("new-message", (event) => seen.push(event.message.id));
  socket.io.on("open", () => {
    transports.push(socket.io.engine.transport.name);
    socket.io.engine.on("upgrade", (transport) => transports.push(transport.name));
  });
  return { socket, seen, transports };
}

const a = person(ipA);
const b = person(ipB);
const acked = [];
try {
  await until(() => a.socket.connected && b.socket.connected, "connect");
  const joinA = await a.socket.timeout(10000).emitWithAck("join-room", { userName: "Ada" });
  const joinB = await b.socket.timeout(10000).emitWithAck("join-room", { userName: "Bob" });
  if (!joinA.success || !joinB.success) throw new Error(`join failed: ${JSON.stringify([joinA, joinB])}`);
  for (let i = 0; i < count; i += 1) {
    for (const [who, p] of [["Ada", a], ["Bob", b]]) {
      const ack = await p.socket.timeout(10000).emitWithAck("send-message", { content: `${who} ${i}` });
      if (!ack.success) throw new Error(`send failed: ${JSON.stringify(ack)}`);
      acked.push(ack.message.id);
    }
  }
  // The last message is a marker: any duplicate of an earlier one would arrive before it.
  const last = acked[acked.length - 1];
  await until(() => a.seen.includes(last) && b.seen.includes(last), "every message delivered");
  await until(() => a.socket.io.engine.transport.name === "websocket"
    && b.socket.io.engine.transport.name === "websocket", "upgrade to websocket");
  console.log(JSON.stringify({
    ok: true, acked, seenA: a.seen, seenB: b.seen, transportsA: a.transports,
    transportsB: b.transports, occupancy: joinB.room.currentOccupancy,
  }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error), acked, seenA: a.seen, seenB: b.seen,
    transportsA: a.transports, transportsB: b.transports }));
} finally {
  for (const p of [a, b]) p.socket.disconnect();
  setTimeout(() => process.exit(0), 50);
}
