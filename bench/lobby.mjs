// Client generator of bench/lobby.py (run it through lobby.py, which starts the server).
//
//   node bench/lobby.mjs --url http://127.0.0.1:PORT --server-pid PID --client-modules DIR \
//        --mode lobby|storm [--viewers 10000] [--trials 20] [--storm 500] ...
//
// lobby: N idle viewers on the lobby namespace "/", each from its own loopback address
// 127.a.b.c; the server's RSS (VmRSS of --server-pid) before and with all of them connected;
// then --trials seat changes in --room (a trigger client joins, then leaves, in turn), each
// timed from the moment the trigger emits until every viewer has the `room-occupancy-update`
// with the new count. storm: --storm clients (own addresses too) open the room namespace of
// --storm-room and send `join-room` at once (at most --concurrency in flight); with
// --storm-rooms N > 1 client i opens room `${storm-room}-${i % N}` instead; the rate is
// acknowledged joins per second of wall time, first connect to last ack. With --watchers W,
// W lobby viewers are connected first and watch the storm: how many lobby events each one got,
// and whether each ends on the current system seat count. With --leave 1 (and a watcher),
// every storm client then leaves at once (`disconnect()`): the time and server CPU until the
// watchers see no seat taken.
// Prints one JSON object on stdout.
import { address, args, connected, cpuSeconds as cpuOf, ms, now, open as openAt, quantile,
         rssKb as rssOf, sleep } from "./clients.mjs";

const url = args.url;
const serverPid = Number(args["server-pid"]);
const viewers = Number(args.viewers || 10000);
const trials = Number(args.trials || 20);
const batch = Number(args.batch || 200);
const stormSize = Number(args.storm || 500);
const concurrency = Number(args.concurrency || stormSize);
const room = args.room || "trigger";
const stormRoom = args["storm-room"] || "storm";
const stormRooms = Number(args["storm-rooms"] || 1);
const rssKb = () => rssOf(serverPid);
const cpuSeconds = () => cpuOf(serverPid);
const open = (path, localAddress) => openAt(url, path, localAddress);
const watchers = Number(args.watchers || 0);
const leave = args.leave === "1";

// `count` lobby viewers from 127.first.x.y, connected `batch` at a time; `listen` sets up each.
async function openViewers(count, first, listen) {
  const sockets = [];
  for (let start = 0; start < count; start += batch) {
    const opened = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      const socket = open("/", address(first, i));
      listen(socket);
      sockets.push(socket);
      opened.push(connected(socket));
    }
    await Promise.all(opened);
  }
  return sockets;
}

async function lobby() {
  const rssBefore = rssKb();
  let waiting = null;  // {count, started, times[], left, done}
  const connectStarted = now();
  const sockets = await openViewers(viewers, 10, (socket) => {
    socket.on("room-occupancy-update", (update) => {
      const w = waiting;
      if (w && update.roomId === room && update.currentOccupancy === w.count && !socket.seen) {
        socket.seen = true;
        w.times.push(now() - w.started);
        if (--w.left === 0) w.done();
      }
    });
  });
  const connectSeconds = (now() - connectStarted) / 1000;
  await sleep(3000);  // let the server settle (handshake buffers, rooms snapshot)
  const rssWith = rssKb();

  // A fresh trigger (its own address) for every join and its leave: publicrooms allows an
  // address 5 joins a minute, and this keeps that rule at its default.
  let trigger = null;
  const reachAll = [];
  const everyViewer = [];
  let missed = 0;
  let timedOutTrials = 0;
  for (let t = 0; t < trials; t++) {
    const join = t % 2 === 0;
    if (join) {
      if (trigger) trigger.close();
      trigger = open(`/public-room/${room}`, address(9, t));
      await connected(trigger);
    }
    for (const socket of sockets) socket.seen = false;
    const finished = new Promise((resolve) => {
      waiting = { count: join ? 1 : 0, started: now(), times: [], left: sockets.length,
                  done: resolve };
    });
    const ack = trigger.timeout(30000).emitWithAck(join ? "join-room" : "leave-room",
                                                   join ? { userName: "trigger" } : {});
    const timedOut = await Promise.race([finished.then(() => false),
                                         sleep(30000).then(() => true)]);
    const answer = await ack.catch((error) => ({ error: String(error) }));
    if (!answer || !answer.success) console.error("trigger", t, JSON.stringify(answer));
    const w = waiting;
    waiting = null;
    if (timedOut) { missed += w.left; timedOutTrials++; }
    else reachAll.push(Math.max(...w.times));
    everyViewer.push(...w.times);
    await sleep(300);
  }
  const rssAfter = rssKb();
  if (trigger) trigger.close();
  for (const socket of sockets) socket.close();
  reachAll.sort((a, b) => a - b);
  everyViewer.sort((a, b) => a - b);
  return {
    mode: "lobby", viewers, trials, connect_s: Math.round(connectSeconds * 10) / 10,
    rss_before_kb: rssBefore, rss_with_viewers_kb: rssWith, rss_after_trials_kb: rssAfter,
    rss_per_idle_connection_kb: Math.round((rssWith - rssBefore) / viewers * 100) / 100,
    update_per_viewer_p50_ms: ms(quantile(everyViewer, 0.5)),
    update_per_viewer_p99_ms: ms(quantile(everyViewer, 0.99)),
    reach_all_p50_ms: ms(quantile(reachAll, 0.5)),
    reach_all_p99_ms: ms(quantile(reachAll, 0.99)),  // = the worst trial when trials < 100
    reach_all_max_ms: ms(reachAll[reachAll.length - 1]),
    missed_deliveries: missed, timed_out_trials: timedOutTrials,
  };
}

async function storm() {
  const sockets = [];
  const latencies = [];
  let failures = 0;
  let next = 0;
  const watching = await openViewers(watchers, 20, (socket) => {
    socket.lobbyEvents = 0;
    socket.seatsTaken = -1;
    socket.onAny(() => socket.lobbyEvents++);
    socket.on("system-occupancy-update", (update) => { socket.seatsTaken = update.seatsTaken; });
  });
  await sleep(watchers ? 1000 : 0);  // the snapshots on connect are not the storm's
  for (const socket of watching) socket.lobbyEvents = 0;
  const cpuBefore = cpuSeconds();
  const started = now();
  async function one(i) {
    const t0 = now();
    const roomId = stormRooms > 1 ? `${stormRoom}-${i % stormRooms}` : stormRoom;
    const socket = open(`/public-room/${roomId}`, address(100, i));
    sockets.push(socket);
    try {
      await connected(socket);
      const ack = await socket.timeout(60000).emitWithAck("join-room", { userName: `S${i}` });
      if (!ack || !ack.success) throw new Error(JSON.stringify(ack));
      latencies.push(now() - t0);
    } catch (error) {
      failures++;
      if (failures <= 3) console.error("storm client", i, String(error));
    }
  }
  async function worker() {
    while (next < stormSize) await one(next++);
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, stormSize) }, worker));
  const seconds = (now() - started) / 1000;
  const cpu = cpuSeconds() - cpuBefore;
  // Every watcher ends on the current count (the last joins' updates may still be on the way).
  const seats = latencies.length;
  for (let waited = 0; waited < 30000 && watching.some((w) => w.seatsTaken !== seats); waited += 50) {
    await sleep(50);
  }
  const current = watching.filter((w) => w.seatsTaken === seats).length;
  const events = watching.reduce((sum, w) => sum + w.lobbyEvents, 0);
  let left = null;
  if (leave && watching.length) {  // everyone leaves at once; done when no seat is taken
    const [cpuLeave, leaveStarted] = [cpuSeconds(), now()];
    for (const socket of sockets) socket.disconnect();
    let waited = 0;
    for (; waited < 120000 && watching.some((w) => w.seatsTaken !== 0); waited += 20) await sleep(20);
    left = { leave_wall_s: Math.round((now() - leaveStarted) / 10) / 100,
             server_cpu_ms_per_leave: Math.round((cpuSeconds() - cpuLeave) / seats * 100000) / 100,
             all_seats_free: watching.every((w) => w.seatsTaken === 0) };
  }
  for (const socket of [...sockets, ...watching]) socket.close();
  latencies.sort((a, b) => a - b);
  return {
    mode: "storm", clients: stormSize, rooms: stormRooms, concurrency, acknowledged: latencies.length, failures,
    wall_s: Math.round(seconds * 1000) / 1000,
    joins_per_s: Math.round(latencies.length / seconds),
    server_cpu_s: Math.round(cpu * 100) / 100,
    server_cpu_ms_per_join: Math.round(cpu / Math.max(1, latencies.length) * 100000) / 100,
    connect_to_ack_p50_ms: ms(quantile(latencies, 0.5)),
    connect_to_ack_p99_ms: ms(quantile(latencies, 0.99)),
    ...(watchers ? { watchers, lobby_events_per_watcher: Math.round(events / watchers),
                     watchers_on_current_count: current } : {}),
    ...(left || {}),
  };
}

const result = args.mode === "storm" ? await storm() : await lobby();
console.log(JSON.stringify(result));
process.exit(0);
