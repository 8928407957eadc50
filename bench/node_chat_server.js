// Reference for bench/broadcast.py --node: the same chat events on a plain Node socket.io
// server (no database, no rate limits, no sanitising: the bar the fan-out is compared with).
// Setup: `npm install socket.io@4.8.1` in some DIR, then pass --node DIR/node_modules.
// For bench/lobby.py it also has the lobby namespace "/": a `rooms` snapshot and a
// `system-occupancy-update` on connect, and on every seat taken or freed the three lobby events
// publicrooms sends (`room-occupancy-update`, `room-updated`, `system-occupancy-update`).
const http = require("http");
const { randomUUID } = require("crypto");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  if (req.url === "/ready") { res.writeHead(200); res.end("ok"); }
});
const io = new Server(server, { perMessageDeflate: false });
const CAPACITY = 10000;
const occupancy = new Map();  // roomId -> seats taken
let seatsTaken = 0;
const roomCard = (id) => {
  const n = occupancy.get(id) || 0;
  return { id, name: id, currentOccupancy: n, capacity: CAPACITY, isFull: n >= CAPACITY,
           camerasOn: 0, timer: null };
};
const system = () => ({ seatsTaken, systemCapacity: CAPACITY, waiting: 0,
                        isFull: seatsTaken >= CAPACITY });
const lobby = io.of("/");
lobby.on("connection", (socket) => {
  socket.emit("rooms", { rooms: [...occupancy.keys()].map(roomCard) });
  socket.emit("system-occupancy-update", system());
  socket.on("get-rooms", (ack) => {
    if (typeof ack === "function") ack({ rooms: [...occupancy.keys()].map(roomCard) });
  });
});
const seatChanged = (roomId, delta) => {
  occupancy.set(roomId, (occupancy.get(roomId) || 0) + delta);
  seatsTaken += delta;
  const room = roomCard(roomId);
  lobby.emit("room-occupancy-update", { roomId, currentOccupancy: room.currentOccupancy,
                                         capacity: room.capacity, isFull: room.isFull });
  lobby.emit("room-updated", { room });
  lobby.emit("system-occupancy-update", system());
};
io.of(/^\/public-room\/.+$/).on("connection", (socket) => {
  const nsp = socket.nsp;
  const roomId = nsp.name.slice(13);
  let name = "";
  let seated = false;
  socket.on("join-room", (data, ack) => {
    name = (data && data.userName) || "anon";
    socket.join("seated");
    if (!seated) { seated = true; seatChanged(roomId, 1); }
    if (typeof ack === "function") ack({ success: true, room: roomCard(roomId) });
  });
  socket.on("leave-room", (data, ack) => {
    if (seated) { seated = false; socket.leave("seated"); seatChanged(roomId, -1); }
    if (typeof ack === "function") ack({ success: true });
  });
  socket.on("disconnect", () => { if (seated) { seated = false; seatChanged(roomId, -1); } });
  socket.on("send-message", (data, ack) => {
    const message = { id: randomUUID(), senderId: socket.id, senderName: name,
                      content: String(data.content).trim(), timestamp: new Date().toISOString() };
    nsp.to("seated").emit("new-message", { roomId: nsp.name.slice(13), message });
    if (typeof ack === "function") ack({ success: true, message });
  });
});
server.listen(port, "127.0.0.1");
