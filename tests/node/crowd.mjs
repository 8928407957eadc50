// A crowd that joins and then vanishes at once: `count` stock socket.io-client sockets, each
// from its own loopback address (127.<first>.x.y), join rooms <room>-0 … <room>-(rooms-1) in
// turn; once every join is acknowledged it prints {"joined": n} and the process exits without
// closing them, so the server sees every connection drop together.
import http from "node:http";
import { io } from "socket.io-client";

const [baseUrl, room, rooms, count, first] = process.argv.slice(2);
const address = (i) => `127.${Number(first) + Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
const join = (i) => new Promise((resolve, reject) => {
  const socket = io(`${baseUrl}/public-room/${room}-${i % Number(rooms)}`, {
    agent: new http.Agent({ localAddress: address(i) }), transports: ["websocket"],
    forceNew: true, reconnection: false, timeout: 60000 });
  socket.once("connect_error", reject);
  socket.once("connect", async () => {
    const ack = await socket.timeout(60000).emitWithAck("join-room", { userName: `C${i}` });
    if (ack && ack.success) resolve(); else reject(new Error(JSON.stringify(ack)));
  });
});
let joined = 0;
const results = await Promise.allSettled(Array.from({ length: Number(count) }, (_, i) => join(i)));
for (const r of results) if (r.status === "fulfilled") joined++;
else console.error(String(r.reason));
console.log(JSON.stringify({ joined }));
process.exit(0);
