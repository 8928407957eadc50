// Three stock socket.io-client managers from one address: the third is refused. It must see
// `connection-rejected`, end with "io server disconnect", and not reconnect by itself.
import http from "node:http";
import { io } from "socket.io-client";

const [baseUrl, ip] = process.argv.slice(2);
const agent = new http.Agent({ localAddress: ip });
const open = (ns) => io(`${baseUrl}${ns}`, { agent, transports: ["websocket"], forceNew: true });
const first = open("/public-room/deep-focus");
const second = open("/");
await new Promise((resolve) => setTimeout(resolve, 700));
const third = open("/public-room/deep-focus");
const seen = { rejected: [], disconnects: [], connects: 0, reconnectAttempts: 0 };
third.on("connect", () => { seen.connects += 1; });
third.on("connection-rejected", (data) => seen.rejected.push(data));
third.on("disconnect", (reason) => seen.disconnects.push(reason));
third.io.on("reconnect_attempt", () => { seen.reconnectAttempts += 1; });
await new Promise((resolve) => setTimeout(resolve, 3000));
console.log(JSON.stringify({ ...seen, firstConnected: first.connected,
  secondConnected: second.connected }));
for (const s of [first, second, third]) s.disconnect();
setTimeout(() => process.exit(0), 50);
