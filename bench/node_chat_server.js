// Reference for bench/broadcast.py --node: the same chat events on a plain Node socket.io
// server (no database, no rate limits, no sanitising: the bar the fan-out is compared with).
// Setup: `npm install socket.io@4.8.1` in some DIR, then pass --node DIR/node_modules.
// For bench/lobby.py it also has the lobby namespace "/": a `rooms` snapshot and a
// `system-occupancy-update` on connect, and on every seat taken or freed the three lobby events
// publicrooms sends (`room-occupancy-update`, `room-updated`, `system-occupancy-update`).
// A join does what publicrooms' join does that a client can see: `user-joined` to the room's
// other members, the three lobby events, and an ack carrying the room, the full participant
// list and the recent chat (the last 50 messages, kept in memory); leaving sends `user-left`.
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
const members = new Map();    // roomId -> Map(socket.id -> participant)
const history = new Map();    // roomId -> the last 50 messages
const HISTORY = 50;
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
  if (!members.has(roomId)) { members.set(roomId, new Map()); history.set(roomId, []); }
  const seats = members.get(roomId);
  let name = "";
  let me = null;
  const leave = () => {
    if (!me) return;
    seats.delete(socket.id);
    socket.leave("seated");
    seatChanged(roomId, -1);
    nsp.to("seated").emit("user-left", { userId: me.userId, currentOccupancy: seats.size });
    me = null;
  };
  socket.on("join-room", (data, ack) => {
    name = (data && data.userName) || "anon";
    if (!me) {
      me = { userId: randomUUID(), displayName: name, isVideoEnabled: false,
             isAudioEnabled: false, joinedAt: new Date().toISOString(), status: null };
      seats.set(socket.id, me);
      socket.join("seated");
      seatChanged(roomId, 1);
      socket.to("seated").emit("user-joined", { userId: me.userId, userName: name,
        joinedAt: me.joinedAt, currentOccupancy: seats.size, isVideoEnabled: false,
        isAudioEnabled: false });
    }
    if (typeof ack === "function") {
      ack({ success: true, room: roomCard(roomId), participants: [...seats.values()],
            recentMessages: history.get(roomId), self: { userId: me.userId, displayName: name },
            media: [], mediaConfig: { enabled: false }, timer: null });
    }
  });
  socket.on("leave-room", (data, ack) => {
    leave();
    if (typeof ack === "function") ack({ success: true });
  });
  socket.on("disconnect", leave);
  socket.on("send-message", (data, ack) => {
    const message = { id: randomUUID(), senderId: socket.id, senderName: name,
                      content: String(data.content).trim(), timestamp: new Date().toISOString() };
    const recent = history.get(roomId);
    recent.push(message);
    if (recent.length > HISTORY) recent.shift();
    nsp.to("seated").emit("new-message", { roomId: nsp.name.slice(13), message });
    if (typeof ack === "function") ack({ success: true, message });
  });
});
server.listen(port, "127.0.0.1");
