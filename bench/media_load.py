"""The spec's full load through the real server: rooms of 10 people, every camera and mic.

    .venv/bin/python bench/media_load.py --rooms 1,2,5,10 --procs 3 --seconds 10

Starts `publicrooms serve` (media on, `--workers` media worker processes, loopback only, SQLite)
and adds rooms of 10 people in steps. Each person is a real client: a Socket.IO connection
(join-room, media-publish, media-subscribe, media-answer, every `media-offer` answered) and two
aiortc peer connections. Every person publishes the pre-encoded 640x480 30 fps VP8 (~1 Mbit/s)
and Opus of bench/media.py and subscribes to the other nine. In every room one subscriber (the
probe) decodes one publisher's video: frame rate, frame-number gaps, send -> decode latency.
After each step, over `--seconds`: the media workers' CPU (user+system from /proc) per
forwarded packet, their RSS, the signalling process's CPU, a chat round trip in a room of its
own on the same server (one message every 100 ms), and the load generator's own CPU.

The generator is several processes (`--procs`, rooms dealt out in turn), each kept cheap:
* publishers: aiortc sends the first 3 s loop itself (ICE, DTLS, packetising); its plain RTP
  packets are kept and from then on replayed by one task per process with fresh sequence
  numbers and timestamps, SRTP-protected and sent by the product's compiled sender (FastPath);
* subscribers: their UDP sockets are taken off the event loop and drained every 20 ms with one
  `recvmmsg` (ctypes) per batch; RTP packets are only counted and their headers kept (loss per
  SSRC from the sequence numbers, without decrypting), everything else (STUN consent checks,
  DTLS, RTCP) goes to aiortc as usual. Probes are drained every 5 ms and also hand the decoded
  publisher's video to aiortc (adds up to 5 ms to the latency measured).
Forwarded packets are the RTP packets the subscribers received (the SFU's own counter is not
exposed by the server).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import multiprocessing
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broadcast import cpu_seconds, free_port  # noqa: E402
from media import FPS, LOOP_FRAMES, ReplayTrack, close_peers, encode_audio, encode_video, peer_connection, read_number, ssrcs_of  # noqa: E402,E501
from serving import wait_ready  # noqa: E402

AUDIO_LOOP = LOOP_FRAMES * 50 // FPS  # 20 ms packets in one 3 s video loop
BATCH, MTU = 64, 1500
CHAT_ROOM = "chat-probe"


def room_id(index: int) -> str:
    return f"load-{index}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- recvmmsg through ctypes: a subscriber's socket drained in batches, off the event loop ------


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
_MSG_DONTWAIT = 0x40


class Drain:
    """One process's recvmmsg buffers (the event loop is single-threaded: one set is enough)."""

    def __init__(self) -> None:
        self.data = np.zeros((BATCH, MTU), dtype=np.uint8)
        self.names = np.zeros((BATCH, 16), dtype=np.uint8)
        self.iovs = (_Iovec * BATCH)()
        self.msgs = (_Mmsghdr * BATCH)()
        for i in range(BATCH):
            self.iovs[i].base, self.iovs[i].len = self.data[i].ctypes.data, MTU
            hdr = self.msgs[i].hdr
            hdr.name, hdr.iov, hdr.iovlen = self.names[i].ctypes.data, ctypes.addressof(self.iovs[i]), 1
        fields = {"namelen": (np.uint32, _Mmsghdr.hdr.offset + _Msghdr.namelen.offset),
                  "len": (np.uint32, _Mmsghdr.len.offset)}
        dtype = np.dtype({"names": list(fields), "formats": [f[0] for f in fields.values()],
                          "offsets": [f[1] for f in fields.values()], "itemsize": ctypes.sizeof(_Mmsghdr)})
        self.view = np.frombuffer(self.msgs, dtype=dtype)

    def read(self, fd: int) -> int:
        self.view["namelen"] = 16
        n = _libc.recvmmsg(fd, self.msgs, BATCH, _MSG_DONTWAIT, None)
        return max(n, 0)

    def address(self, i: int) -> tuple[str, int]:
        name = self.names[i]
        return ".".join(str(b) for b in name[4:8]), int(name[2]) << 8 | int(name[3])


class Inbox:
    """A subscriber's socket: RTP counted (headers kept while measuring), the rest to aiortc."""

    def __init__(self, fd: int, deliver: Any, wanted: set[int]) -> None:
        self.fd, self.deliver, self.wanted = fd, deliver, np.array(sorted(wanted), dtype=">u4")
        self.packets = 0
        self.headers: list[np.ndarray] = []
        self.keep = False

    def drain(self, buf: Drain) -> None:
        while True:
            n = buf.read(self.fd)
            if not n:
                return
            first, second = buf.data[:n, 0], buf.data[:n, 1]
            rtp = (first >= 128) & (first < 192) & ((second < 192) | (second >= 224))
            pass_on = ~rtp
            if self.wanted.size:
                ssrc = buf.data[:n, 8:12].copy().view(">u4")[:, 0]
                pass_on |= rtp & np.isin(ssrc, self.wanted)
            media = int(rtp.sum())
            self.packets += media
            if self.keep and media:
                self.headers.append(buf.data[:n][rtp][:, :12].copy())
            if pass_on.any():
                lengths = buf.view["len"][:n]
                for i in np.flatnonzero(pass_on):
                    self.deliver(buf.data[i, : lengths[i]].tobytes(), buf.address(i))
            if n < BATCH:
                return


def losses(headers: list[np.ndarray]) -> tuple[int, int]:
    """(packets expected, packets missing) per SSRC from the RTP sequence numbers received."""
    if not headers:
        return 0, 0
    rows = np.concatenate(headers)
    ssrc = rows[:, 8:12].copy().view(">u4")[:, 0]
    seq = rows[:, 2:4].copy().view(">u2")[:, 0].astype(np.int64)
    expected = missing = 0
    for value in np.unique(ssrc):
        numbers = seq[ssrc == value]
        steps = (np.diff(numbers) + 32768) % 65536 - 32768  # unwrapped, arrival order
        position = np.concatenate([[0], np.cumsum(steps)])
        span = int(position.max() - position.min()) + 1
        expected += span
        missing += span - len(np.unique(position))
    return expected, missing


# --- the generator: one process of several, holding whole rooms ---------------------------------


class Replayer:
    """Every publisher of this process, replayed from its captured first loop (one task)."""

    def __init__(self) -> None:
        self.streams: list[dict[str, Any]] = []
        self.late: list[float] = []

    def add(self, stream: dict[str, Any]) -> None:
        self.streams.append(stream)

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            for s in self.streams:
                due = int((now - s["t0"]) / s["interval"])
                while s["next"] <= due:
                    self._send(s, s["next"], now)
                    s["next"] += 1
            await asyncio.sleep(0.005)

    def _send(self, s: dict[str, Any], n: int, now: float) -> None:
        loop, index = divmod(n, s["length"])
        if index == 0:
            self.late.append(now - (s["t0"] + n * s["interval"]))
        for offset, packet in s["frames"][index]:
            data = bytearray(packet)
            seq, ts = struct.unpack_from("!HI", data, 2)
            struct.pack_into("!HI", data, 2, (seq + loop * s["count"]) & 0xFFFF,
                             (ts + loop * s["length"] * s["step"]) & 0xFFFFFFFF)
            s["send"](bytes(data), -1)
        if s["sent_at"] is not None:
            s["sent_at"][index] = now


class Person:
    def __init__(self, gen: "Generator", room: str, index: int) -> None:
        self.gen, self.room, self.index = gen, room, index
        self.namespace = f"/public-room/{room}"
        self.user_id = ""
        self.pub: Any = None
        self.sub: Any = None
        self.inboxes: list[Inbox] = []
        self.frames: list[tuple[float, int]] = []
        self.probe_of: Person | None = None
        self.sent_at: dict[int, float] | None = None
        self.lock = asyncio.Lock()
        self.tasks: list[asyncio.Task[None]] = []

    async def join(self, url: str, address: str) -> None:
        import aiohttp
        import socketio

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
        self.sio = socketio.AsyncClient(http_session=self.session, reconnection=False)
        self.sio.on("media-offer", self._offer_event, namespace=self.namespace)
        await self.sio.connect(url, namespaces=[self.namespace], transports=["websocket"])
        ack = await self.call("join-room", {"userName": f"P{self.index}"})
        self.user_id = ack["self"]["userId"]

    async def call(self, event: str, data: dict[str, Any]) -> Any:
        ack = await self.sio.call(event, data, namespace=self.namespace, timeout=60)
        if not isinstance(ack, dict) or "error" in ack or ack.get("success") is False:
            raise RuntimeError(f"{self.room} P{self.index} {event}: {ack}")
        return ack

    def _watch(self, pc: Any, what: str) -> None:
        @pc.on("connectionstatechange")
        def changed() -> None:
            if pc.connectionState in ("failed", "closed") and not self.gen.closing:
                self.gen.dropped += 1
                print(f"{time.strftime('%H:%M:%S')} {self.room} P{self.index} {what} connection "
                      f"{pc.connectionState}", file=sys.stderr, flush=True)

    async def publish(self, video: list[bytes], audio: list[bytes]) -> None:
        from publicrooms.media import aiortc_adapter

        self.pub = peer_connection()
        self._watch(self.pub, "publish")
        tracks = [ReplayTrack("video", video, 90000, 90000 // FPS, 1 / FPS),
                  ReplayTrack("audio", audio, 48000, 960, 0.02)]
        for track, limit in zip(tracks, (LOOP_FRAMES, AUDIO_LOOP)):
            track.recv = _limited(track.recv, track, limit)  # type: ignore[method-assign]
            self.pub.addTrack(track)
        offer = await self.pub.createOffer()
        aiortc_adapter.prepare_gathering(self.pub)
        await self.pub.setLocalDescription(offer)
        dtls = aiortc_adapter.transport_of(self.pub)
        captures = {}
        for transceiver, track in zip(self.pub.getTransceivers(), tracks):
            captures[transceiver.sender._ssrc] = (track, [])
        original = dtls._send_rtp

        async def capture(data: bytes) -> None:
            ssrc = int.from_bytes(data[8:12], "big")
            if ssrc in captures:
                captures[ssrc][1].append(bytes(data))
            await original(data)

        dtls._send_rtp = capture
        answer = await self.call("media-publish", {"sdp": self.pub.localDescription.sdp})
        await self.pub.setRemoteDescription(_description(answer["sdp"], "answer"))
        self.tasks.append(asyncio.ensure_future(self._replay_after(dtls, captures)))

    async def _replay_after(self, dtls: Any, captures: dict[int, Any]) -> None:
        from publicrooms.media import aiortc_adapter

        for track, packets in captures.values():
            step = track._step
            length = LOOP_FRAMES if track.kind == "video" else AUDIO_LOOP
            while track._n < length or track._start is None or time.monotonic() < track._start + length * track._interval:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)  # the last frame's packets leave after its recv()
            ts0 = struct.unpack_from("!I", packets[0], 4)[0]
            frames: list[list[tuple[int, bytes]]] = [[] for _ in range(length)]
            for offset, packet in enumerate(packets):
                frames[((struct.unpack_from("!I", packet, 4)[0] - ts0) & 0xFFFFFFFF) // step].append((offset, packet))
            seqs = [struct.unpack_from("!H", p, 2)[0] for p in packets]
            if any((b - a) & 0xFFFF != 1 for a, b in zip(seqs, seqs[1:])):
                raise RuntimeError("captured loop has sequence gaps")
            fast = aiortc_adapter.fast_path(dtls)
            assert fast is not None
            self.gen.replayer.add({"t0": track._start, "interval": track._interval, "length": length,
                                   "next": length, "frames": frames, "count": len(packets), "step": step,
                                   "send": fast.send, "sent_at": self.sent_at if track.kind == "video" else None})
        dtls._send_rtp = getattr(type(dtls), "_send_rtp").__get__(dtls)

    async def subscribe(self) -> None:
        self.sub = peer_connection()
        self._watch(self.sub, "subscribe")
        self.sub.on("track", self._on_track)
        ack = await self.call("media-subscribe", {})
        if ack.get("offer"):
            await self.on_offer(ack["offer"])

    async def _offer_event(self, payload: dict[str, Any]) -> None:
        self.tasks.append(asyncio.ensure_future(self.on_offer(payload)))

    async def on_offer(self, offer: dict[str, Any]) -> None:
        from publicrooms.media import aiortc_adapter

        async with self.lock:
            if self.sub is None:
                return
            self.tracks = offer["tracks"]
            await self.sub.setRemoteDescription(_description(offer["sdp"], "offer"))
            answer = await self.sub.createAnswer()
            aiortc_adapter.prepare_gathering(self.sub)
            await self.sub.setLocalDescription(answer)
            wanted: set[int] = set()
            if self.probe_of is not None:
                mids = {t["mid"] for t in self.tracks if t["participantId"] == self.probe_of.user_id
                        and t["kind"] == "video"}
                wanted = ssrcs_of(offer["sdp"], mids)
            dtls = aiortc_adapter.transport_of(self.sub)
            for protocol in dtls.transport._connection._protocols:
                fd = protocol.transport.get_extra_info("socket").fileno()
                inbox = next((i for i in self.inboxes if i.fd == fd), None)
                if inbox is None:
                    asyncio.get_running_loop()._remove_reader(fd)  # type: ignore[attr-defined]
                    inbox = Inbox(fd, protocol.datagram_received, wanted)
                    self.inboxes.append(inbox)
                    (self.gen.probes if self.probe_of else self.gen.counters).append(inbox)
                inbox.wanted = np.array(sorted(wanted), dtype=">u4")
            await self.call("media-answer", {"sdp": self.sub.localDescription.sdp, "offerId": offer["offerId"]})

    def _on_track(self, track: Any) -> None:
        if self.probe_of is not None and track.kind == "video":
            self.tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                self.frames.append((time.monotonic(), read_number(frame)))
        except Exception:  # noqa: BLE001 - the track ended
            pass

    async def close(self) -> None:
        await close_peers(self.tasks, (self.pub, self.sub))
        await self.sio.disconnect()
        await self.session.close()


def _limited(recv: Any, track: ReplayTrack, limit: int) -> Any:
    """The track's first loop only; after it the replayer sends (aiortc then waits forever)."""

    async def limited() -> Any:
        if track._n >= limit:
            await asyncio.Event().wait()
        return await recv()

    return limited


def _description(sdp: str, kind: str) -> Any:
    from aiortc import RTCSessionDescription

    return RTCSessionDescription(sdp=sdp, type=kind)


class Generator:
    def __init__(self, url: str) -> None:
        self.url = url
        self.replayer = Replayer()
        self.counters: list[Inbox] = []
        self.probes: list[Inbox] = []
        self.people: list[Person] = []
        self.buffers = Drain()
        self.dropped = 0  # client connections failed or closed before the end
        self.closing = False

    async def poll(self, inboxes: list[Inbox], interval: float) -> None:
        while True:
            for inbox in inboxes:
                inbox.drain(self.buffers)
            await asyncio.sleep(interval)

    async def add_room(self, index: int, video: list[bytes], audio: list[bytes]) -> None:
        room = room_id(index)
        members = [Person(self, room, i) for i in range(10)]
        await asyncio.gather(*(m.join(self.url, f"127.30.{index}.{m.index + 1}") for m in members))
        members[0].sent_at = {}
        members[1].probe_of = members[0]
        for member in members:
            await member.publish(video, audio)
        await asyncio.gather(*(m.subscribe() for m in members))
        self.people += members

    def window(self, keep: bool) -> None:
        for inbox in self.counters + self.probes:
            inbox.keep, inbox.headers = keep, []
        self.marks = {id(p): len(p.frames) for p in self.people}
        self.replayer.late = []

    def report(self, elapsed: float) -> dict[str, Any]:
        inboxes = self.counters + self.probes
        expected = missing = 0
        for inbox in inboxes:
            e, m = losses(inbox.headers)
            expected, missing = expected + e, missing + m
        packets = sum(sum(len(h) for h in inbox.headers) for inbox in inboxes)
        probes = []
        for probe in (p for p in self.people if p.probe_of is not None):
            window = probe.frames[self.marks[id(probe)]:]
            numbers = [n for _, n in window]
            sent_at = probe.probe_of.sent_at or {}
            latencies = [t - sent_at[n] for t, n in window if n in sent_at and 0 <= t - sent_at[n] < 2]
            probes.append({"room": probe.room, "fps": len(window) / elapsed, "latencies": latencies,
                           "gaps": sum(1 for a, b in zip(numbers, numbers[1:]) if (b - a) % LOOP_FRAMES != 1)})
        late = sorted(self.replayer.late)
        return {"packets": packets, "expected": expected, "missing": missing, "probes": probes,
                "dropped": self.dropped,
                "replayLateP99Ms": 1000 * late[int(0.99 * (len(late) - 1))] if late else 0.0}


def generator_main(pipe: Any, url: str, src: str) -> None:
    sys.path.insert(0, src)
    asyncio.run(_generator(pipe, url))


async def _generator(pipe: Any, url: str) -> None:
    gen = Generator(url)
    video, audio = encode_video(), encode_audio()
    tasks = [asyncio.ensure_future(gen.replayer.run()), asyncio.ensure_future(gen.poll(gen.counters, 0.02)),
             asyncio.ensure_future(gen.poll(gen.probes, 0.005))]
    pipe.send(("ready", None))
    try:
        while True:
            command, arg = await asyncio.to_thread(pipe.recv)
            if command == "room":
                await gen.add_room(arg, video, audio)
                # no cyclic GC while the media flows: its collections over the connections'
                # objects took half of this process's time and stalled the replay by seconds
                gc.collect()
                gc.freeze()
                gc.disable()
                pipe.send(("ok", None))
            elif command == "start":
                gen.window(True)
                pipe.send(("ok", None))
            elif command == "stop":
                report = gen.report(arg)
                gen.window(False)
                pipe.send(("ok", report))
            elif command == "live":
                live = all(i.packets for i in gen.counters) and all(p.frames for p in gen.people if p.probe_of)
                pipe.send(("ok", live))
            else:
                break
    finally:
        gen.closing = True
        for task in tasks:
            task.cancel()
        for person in gen.people:
            await person.close()
        pipe.send(("closed", None))


# --- the driver: the server, the generator processes, the chat probe, the figures ---------------


class ChatProbe:
    """Two Socket.IO clients in a room of their own: one sends a message every 100 ms, the other
    times its delivery (the round trip through the server while the media load runs)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.delays: list[float] = []
        self.sent_at: dict[str, float] = {}
        self.namespace = f"/public-room/{CHAT_ROOM}"

    async def start(self) -> None:
        import aiohttp
        import socketio

        self.clients = []
        for index in range(2):
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(f"127.4.0.{index + 1}", 0)))
            client = socketio.AsyncClient(http_session=session, reconnection=False)
            if index == 1:
                client.on("new-message", self._received, namespace=self.namespace)
            await client.connect(self.url, namespaces=[self.namespace], transports=["websocket"])
            ack = await client.call("join-room", {"userName": f"Chat{index}"}, namespace=self.namespace)
            assert ack.get("success"), ack
            self.clients.append((client, session))

    async def _received(self, data: dict[str, Any]) -> None:
        sent = self.sent_at.get(data["message"]["content"])
        if sent is not None:
            self.delays.append(time.perf_counter() - sent)

    async def run(self, seconds: float) -> dict[str, float]:
        self.delays = []
        sender = self.clients[0][0]
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            content = f"chat {n} {time.monotonic()}"
            self.sent_at[content] = time.perf_counter()
            await sender.emit("send-message", {"content": content}, namespace=self.namespace)
            n += 1
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        delays = sorted(self.delays)
        if not delays:
            return {"chatP50Ms": float("nan"), "chatP99Ms": float("nan"), "chatLost": n}
        return {"chatP50Ms": 1000 * statistics.median(delays),
                "chatP99Ms": 1000 * delays[min(len(delays) - 1, int(0.99 * len(delays)))],
                "chatLost": n - len(delays)}

    async def stop(self) -> None:
        for client, session in self.clients:
            await client.disconnect()
            await session.close()


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of a process's children."""
    result = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    result.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except (OSError, IndexError, ValueError):
                continue
    return result


class Server:
    """`publicrooms serve` with media workers, its rooms and limits sized for the load."""

    def __init__(self, src: str, rooms: int, workers: int) -> None:
        self.src, self.rooms, self.workers = src, rooms, workers

    async def start(self) -> str:
        port = free_port()
        rooms = [{"id": room_id(i), "name": f"Load {i}", "capacity": 10} for i in range(self.rooms)]
        rooms.append({"id": CHAT_ROOM, "name": "Chat probe", "capacity": 10})
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([self.src, str(Path(self.src).parent)]),
               "PUBLICROOMS_ROOMS": json.dumps(rooms), "PUBLICROOMS_SYSTEM_CAPACITY": "1000",
               "PUBLICROOMS_MEDIA__WORKERS": str(self.workers), "PUBLICROOMS_MEDIA__LOOPBACK_ONLY": "true",
               "PUBLICROOMS_LIMITS__CHAT_PER_MINUTE": "100000", "PUBLICROOMS_LOG_LEVEL": "warning"}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "publicrooms.cli", "serve", "--port", str(port), "--data-dir",
            tempfile.mkdtemp(prefix="media-load-"), env=env)
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, attempts=600)
        self.worker_pids = [pid for pid, cmd in children(self.process.pid) if "spawn_main" in cmd]
        if len(self.worker_pids) != self.workers:
            raise RuntimeError(f"expected {self.workers} media workers, found {self.worker_pids}")
        return url

    def cpu(self) -> tuple[float, float]:
        """(media workers' CPU seconds, the signalling process's)."""
        return sum(cpu_seconds(pid) for pid in self.worker_pids), cpu_seconds(self.process.pid)

    async def stop(self) -> None:
        self.process.terminate()
        await self.process.wait()


class Clients:
    """The generator processes, talked to over pipes."""

    def __init__(self, count: int, url: str, src: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes, self.processes = [], []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=generator_main, args=(theirs, url, src), daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    async def ask(self, index: int, command: str, arg: Any = None, timeout: float = 120) -> Any:
        pipe = self.pipes[index]
        if command:
            pipe.send((command, arg))
        ready = await asyncio.to_thread(pipe.poll, timeout)
        if not ready:
            raise RuntimeError(f"generator {index}: no answer to {command!r} in {timeout}s")
        status, value = pipe.recv()
        return value

    async def all(self, command: str, arg: Any = None) -> list[Any]:
        return list(await asyncio.gather(*(self.ask(i, command, arg) for i in range(len(self.pipes)))))

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes if p.pid is not None)

    def rss(self) -> float:
        return sum(rss_mb(p.pid) for p in self.processes if p.pid is not None)

    async def stop(self) -> None:
        for index in range(len(self.pipes)):
            try:
                await self.ask(index, "quit", timeout=30)
            except (RuntimeError, EOFError, OSError):
                pass
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


async def measure(server: Server, clients: Clients, chat: ChatProbe, rooms: int, seconds: float) -> dict[str, Any]:
    load_before = loadavg()
    await clients.all("start")
    workers_before, signalling_before = server.cpu()
    generator_before, own_before = clients.cpu(), time.process_time()
    start = time.monotonic()
    chat_result = await chat.run(seconds)
    elapsed = time.monotonic() - start
    workers_after, signalling_after = server.cpu()
    generator_after, own_after = clients.cpu(), time.process_time()
    reports = await clients.all("stop", elapsed)
    packets = sum(r["packets"] for r in reports)
    expected = sum(r["expected"] for r in reports)
    probes = [p for r in reports for p in r["probes"]]
    latencies = sorted(x for p in probes for x in p["latencies"])
    worker_cpu = workers_after - workers_before
    return {
        "rooms": rooms, "seconds": round(elapsed, 1),
        "forwardedPps": packets / elapsed,
        "lossPercent": 100 * sum(r["missing"] for r in reports) / expected if expected else float("nan"),
        "workersCores": worker_cpu / elapsed,
        "usPerPacket": 1e6 * worker_cpu / packets if packets else float("nan"),
        "signallingCores": (signalling_after - signalling_before) / elapsed,
        "generatorCores": (generator_after - generator_before + own_after - own_before) / elapsed,
        "fpsMin": min(p["fps"] for p in probes), "fpsMean": statistics.mean(p["fps"] for p in probes),
        "frameGaps": sum(p["gaps"] for p in probes),
        "latencyP50Ms": 1000 * latencies[len(latencies) // 2] if latencies else float("nan"),
        "latencyP95Ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
        "replayLateP99Ms": max(r["replayLateP99Ms"] for r in reports),
        "connectionsDropped": sum(r["dropped"] for r in reports),
        "workersRssMb": sum(rss_mb(pid) for pid in server.worker_pids),
        "generatorRssMb": clients.rss(),
        **chat_result,
        "load": f"{load_before} → {loadavg()}",
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| rooms | forwarded pkt/s | lost | workers' CPU (cores) | µs per forwarded packet | signalling CPU "
             "| probe fps min / mean | frame gaps | probe latency p50 / p95 | chat p50 / p99 | workers' RSS "
             "| generator CPU (cores) | load before → after |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(
            f"| {r['rooms']} | {r['forwardedPps']:.0f} | {r['lossPercent']:.2f} % | {r['workersCores']:.2f} "
            f"| {r['usPerPacket']:.1f} | {r['signallingCores']:.2f} | {r['fpsMin']:.1f} / {r['fpsMean']:.1f} "
            f"| {r['frameGaps']} | {r['latencyP50Ms']:.0f} / {r['latencyP95Ms']:.0f} ms "
            f"| {r['chatP50Ms']:.0f} / {r['chatP99Ms']:.0f} ms | {r['workersRssMb']:.0f} MB "
            f"| {r['generatorCores']:.2f} | {r['load']} |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    steps = [int(n) for n in args.rooms.split(",")]
    src = str(Path(args.src).resolve())
    server = Server(src, steps[-1], args.workers)
    url = await server.start()
    clients = Clients(args.procs, url, src)
    chat = ChatProbe(url)
    results: list[dict[str, Any]] = []
    try:
        await clients.all("")  # each process has encoded its media
        await chat.start()
        rooms = 0
        for target in steps:
            while rooms < target:
                await clients.ask(rooms % args.procs, "room", rooms)
                print(f"room {rooms} up ({loadavg()})", file=sys.stderr, flush=True)
                rooms += 1
            deadline = time.monotonic() + 60
            while not all(await clients.all("live")):
                if time.monotonic() > deadline:
                    raise RuntimeError("not every subscriber receives media after 60 s")
                await asyncio.sleep(0.5)
            await asyncio.sleep(args.warmup)
            results.append(await measure(server, clients, chat, rooms, args.seconds))
            print(table(results[-1:]).splitlines()[-1], flush=True)
            if args.json:
                print("RESULT " + json.dumps(results[-1]), flush=True)
    finally:
        await chat.stop() if hasattr(chat, "clients") else None
        await clients.stop()
        await server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", default="1,2,5,10", help="rooms of 10 people after each step")
    parser.add_argument("--procs", type=int, default=3, help="load generator processes")
    parser.add_argument("--workers", type=int, default=2, help="media worker processes of the server")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window per step")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds after every subscriber receives")
    parser.add_argument("--src", default=str(Path(__file__).resolve().parent.parent / "src"),
                        help="the publicrooms source tree to serve (e.g. a git archive of another commit)")
    parser.add_argument("--json", action="store_true", help="also print each step as a RESULT line")
    results = asyncio.run(run(parser.parse_args()))
    print(table(results))


if __name__ == "__main__":
    main()
