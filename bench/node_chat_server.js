// Reference for bench/broadcast.py --node: the same chat events on a plain Node socket.io
// server (no database, no rate limits, no sanitising: the bar the fan-out is compared with).
// Setup: `npm install socket.io@4.8.1` in some DIR, then pass --node DIR/node_modules.
const http = require("http");
const { randomUUID } = require("crypto");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  if (req.url === "/ready") { res.writeHead(200); res.end("ok"); }
});
const io = new Server(server, { perMessageDeflate: false });
io.of(/^\/public-room\/.+$/).on("connection", (socket) => {
  const nsp = socket.nsp;
  let name = "";
  socket.on("join-room", (data, ack) => {
    name = (data && data.userName) || "anon";
    socket.join("seated");
    if (typeof ack === "function") ack({ success: true });
  });
  socket.on("send-message", (data, ack) => {
    const message = { id: randomUUID(), senderId: socket.id, senderName: name,
                      content: String(data.content).trim(), timestamp: new Date().toISOString() };
    nsp.to("seated").emit("new-message", { roomId: nsp.name.slice(13), message });
    if (typeof ack === "function") ack({ success: true, message });
  });
});
server.listen(port, "127.0.0.1");
