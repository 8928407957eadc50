// Client generator of bench/chat_rate.py (run it through chat_rate.py, which starts the server).
//
//   node bench/chat_rate.mjs --url http://127.0.0.1:PORT --server-pid PID --client-modules DIR \
//        --rooms 10 --members 10 [--senders 10] --rates 2000,4000,... [--seconds 5]
//
// Seats --members clients in each of --rooms rooms (`bench-0` …), every client from its own
// loopback address (127.20.x.y), then offers chat at each rate of --rates in turn (deliveries/s:
// messages/s × members, the sender receives its own message too). The first --senders members
// of every room send, in turn across rooms, open loop (a message is due every 1/rate s whether
// or not the earlier ones were acknowledged). Per step, over --seconds: deliveries received per
// second, send→receive latency of that step's messages (p50/p99, after waiting for its last
// ones), acks and refusals, the server's CPU (utime+stime of --server-pid) per delivery and the
// generator's own CPU. A step is sustained when achieved ≥ 98 % of offered, p99 ≤ --max-p99-ms
// and no delivery is missing; stepping stops after --beyond (default 1) more steps past the
// first one that is not (a blip of the shared machine does not end the run). One JSON line
// per step.
import { address, args, connected, cpuSeconds, ms, now, open, quantile, sleep } from "./clients.mjs";

const url = args.url;
const serverPid = Number(args["server-pid"]);
const rooms = Number(args.rooms || 10);
const members = Number(args.members || 10);
const sendersPerRoom = Number(args.senders || members);
const rates = String(args.rates || "2000").split(",").map(Number);
const seconds = Number(args.seconds || 5);
const maxP99 = Number(args["max-p99-ms"] || 250);
const beyond = Number(args.beyond ?? 1);
const padding = "x".repeat(Number(args.size || 60));

const sentAt = [];       // message number -> when it was emitted
let step = null;         // the step being measured: counters and latencies
let seq = 0;

async function seat(room, member) {
  const socket = open(url, `/public-room/bench-${room}`, address(20, room * members + member));
  await connected(socket);
  const ack = await socket.timeout(60000).emitWithAck("join-room",
                                                      { userName: `M${room}-${member}` });
  if (!ack || !ack.success) throw new Error(`join refused: ${JSON.stringify(ack)}`);
  socket.on("new-message", (data) => {
    const n = parseInt(data.message.content, 10);
    const s = step;
    if (!s) return;
    const t = now();
    if (t <= s.windowEnd) s.inWindow++;
    if (n >= s.firstSeq) {
      s.latencies.push(t - sentAt[n]);
      if (s.latencies.length === s.expected && s.done) s.done();
    }
  });
  return socket;
}

async function seatAll() {
  const sockets = [];
  const all = [];
  for (let r = 0; r < rooms; r++) for (let m = 0; m < members; m++) all.push([r, m]);
  for (let i = 0; i < all.length; i += 20) {  // a few joins at a time
    sockets.push(...await Promise.all(all.slice(i, i + 20).map(([r, m]) => seat(r, m))));
  }
  return sockets;
}

function onAck(s) {
  return (answer) => {
    if (answer && answer.success) s.acked++;
    else {
      s.refused++;
      if (!s.firstRefusal) s.firstRefusal = JSON.stringify(answer).slice(0, 300);
    }
  };
}

async function runStep(senders, rate) {
  const messagesPerS = rate / members;
  const s = { firstSeq: seq, inWindow: 0, latencies: [], expected: Infinity, acked: 0,
              refused: 0, firstRefusal: null, done: null, windowEnd: Infinity };
  const ack = onAck(s);
  const cpu0 = cpuSeconds(serverPid);
  const own0 = process.cpuUsage();
  const t0 = now();
  s.windowEnd = t0 + seconds * 1000;
  step = s;
  let sent = 0;
  for (;;) {
    const t = now();
    if (t >= s.windowEnd) break;
    const due = Math.floor(((t - t0) / 1000) * messagesPerS);
    for (; sent < due; sent++) {
      const n = seq++;
      sentAt[n] = now();
      senders[n % senders.length].emit("send-message", { content: `${n} ${padding}` }, ack);
    }
    await sleep(1);
  }
  const wall = (now() - t0) / 1000;
  const cpu = cpuSeconds(serverPid) - cpu0;
  const own = process.cpuUsage(own0);
  const inWindow = s.inWindow;
  s.expected = sent * members;
  if (s.latencies.length < s.expected) {  // the step's last messages, or a backlog
    await Promise.race([new Promise((resolve) => { s.done = resolve; }),
                        sleep(Math.max(10000, seconds * 2000))]);
  }
  step = null;
  const latencies = s.latencies.sort((a, b) => a - b);
  const achieved = inWindow / wall;
  const p99 = quantile(latencies, 0.99);
  const missing = s.expected - latencies.length;
  return {
    offered_deliveries_per_s: rate, offered_messages_per_s: messagesPerS,
    messages: sent, achieved_deliveries_per_s: Math.round(achieved),
    achieved_ratio: Math.round((achieved / rate) * 1000) / 1000,
    latency_p50_ms: ms(quantile(latencies, 0.5)), latency_p99_ms: ms(p99),
    latency_max_ms: ms(latencies.length ? latencies[latencies.length - 1] : null),
    missing, acked: s.acked, refused: s.refused, first_refusal: s.firstRefusal,
    server_cpu_s: Math.round(cpu * 100) / 100,
    server_cpu_us_per_delivery: inWindow ? Math.round((cpu / inWindow) * 1e7) / 10 : null,
    server_core_share: Math.round((cpu / wall) * 100) / 100,
    generator_core_share: Math.round(((own.user + own.system) / 1e6 / wall) * 100) / 100,
    sustained: achieved >= 0.98 * rate && p99 !== null && p99 <= maxP99 && missing === 0,
  };
}

const sockets = await seatAll();
const senders = [];
for (let m = 0; m < sendersPerRoom; m++) {
  for (let r = 0; r < rooms; r++) senders.push(sockets[r * members + m]);
}
await sleep(1000);
let failed = 0;
for (const rate of rates) {
  const result = await runStep(senders, rate);
  console.log(JSON.stringify({ rooms, members, senders: senders.length, seconds, ...result }));
  failed = result.sustained ? 0 : failed + 1;
  if (failed > beyond) break;
  await sleep(500);
}
for (const socket of sockets) socket.close();
process.exit(0);
