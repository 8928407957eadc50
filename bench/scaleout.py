"""Scale-out cost: chat and lobby fan-out on one node in memory mode vs one and three Redis nodes.

Each run starts its own `publicrooms serve` processes (media off, limits raised), on a fresh
PostgreSQL database (or the default SQLite file for `memory-sqlite`) and, in Redis mode, a fresh
key prefix that is deleted afterwards. Clients are raw Engine.IO/Socket.IO WebSockets (protocol
v4/v5, the same packets python-socketio's client sends) from distinct loopback addresses, spread
round-robin over the nodes. Per run:

* chat: L listeners seated in one room, S senders (on different nodes) each send their next
  message once the previous one reached every listener (S messages in flight): delivered
  copies per second, CPU (node processes; Redis and PostgreSQL server processes) per copy, and
  send→receive latency;
* lobby: W lobby (`/`) listeners, C churners each cycling join-room / leave-room in a room of
  their own, the next step once every lobby listener got the `room-occupancy-update`:
  lobby copies per second, CPU per copy, latency;
* Redis round trips (Redis modes): Redis MONITOR, filtered to this run's nodes, around a known
  number of sequential connects, joins, chat messages, leaves and disconnects; periodic jobs
  (heartbeats, leases, activity flush, hold expiry) are counted apart.

Configurations run interleaved (A B C D, then D C B A, ...) so that load drifts on a shared
machine hit all alike; `cat /proc/loadavg` is recorded at the start and end of every run, and so
is a fixed CPU probe (a pure-Python loop's CPU ms): on a shared VM the vCPUs themselves slow
down when the host is busy, which the guest's load average does not show. A run that fails
(e.g. PostgreSQL out of connection slots because another suite holds them) is retried once.

    .venv/bin/python bench/scaleout.py                  # all four configurations, twice
    .venv/bin/python bench/scaleout.py --quick          # smoke run (small, once)
    .venv/bin/python bench/scaleout.py --configs memory-pg,redis-3 --repeat 3 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from serving import delete_prefix

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    # name: (state, database, nodes)
    "memory-sqlite": ("memory", "sqlite", 1),
    "memory-pg": ("memory", "pg", 1),
    "redis-1": ("redis", "pg", 1),
    "redis-3": ("redis", "pg", 3),
}
CHAT_ROOM, RT_ROOM = "bench", "rt"


# --- small helpers ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def cpu_probe() -> float:
    """CPU ms of a fixed pure-Python loop (best of 3): this VM's vCPUs change speed with the
    host's load, which the guest's load average does not show."""
    best = float("inf")
    for _ in range(3):
        started, x = time.process_time(), 0
        for i in range(1_000_000):
            x += i * i
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


def ip_for(role: int, index: int) -> str:
    """A distinct loopback source address per client: 127.<role>.<hi>.<lo>."""
    return f"127.{role}.{index // 250}.{index % 250 + 1}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --- a lean Socket.IO client over raw WebSockets --------------------------------------------

class SocketIOError(Exception):
    pass


class Sock:
    """One Engine.IO connection with one Socket.IO namespace: emit with ack, events to a callback.

    The server pings every 25 s ("2"); we answer "3". Packets: `40/ns,` connect, `42/ns,ID[...]`
    event (with ack id), `43/ns,ID[...]` ack, `41/ns,` disconnect.
    """

    def __init__(self, url: str, ip: str, namespace: str, on_event=None) -> None:  # noqa: ANN001
        self.url, self.ip, self.namespace, self.on_event = url, ip, namespace, on_event
        self.prefix = "" if namespace == "/" else namespace + ","
        self.acks: dict[int, asyncio.Future] = {}
        self.next_id = 0
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.connected: asyncio.Future | None = None
        self.closed = False

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        loop = asyncio.get_running_loop()
        self.connected = loop.create_future()
        self.ws = await connect(
            self.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
            local_addr=(self.ip, 0), compression=None, ping_interval=None, max_size=None,
            max_queue=1024, open_timeout=30, close_timeout=2)
        handshake = await self.ws.recv()
        if not handshake.startswith("0"):
            raise SocketIOError(f"unexpected Engine.IO handshake {handshake[:80]!r}")
        self.reader = asyncio.create_task(self._read())
        await self.ws.send("40" + self.prefix)
        await asyncio.wait_for(self.connected, 30)

    async def _read(self) -> None:
        ws = self.ws
        try:
            async for message in ws:
                now = time.perf_counter()
                kind = message[0]
                if kind == "2":
                    await ws.send("3")
                    continue
                if kind != "4":
                    continue
                packet, body = message[1], message[2:]
                if body.startswith("/"):
                    body = body[body.index(",") + 1:]
                if packet == "2":
                    if self.on_event is not None:
                        self.on_event(self, body, now)
                elif packet == "3":
                    digits = 0
                    while body[digits].isdigit():
                        digits += 1
                    future = self.acks.pop(int(body[:digits]), None)
                    if future is not None and not future.done():
                        future.set_result(json.loads(body[digits:])[0])
                elif packet == "0":
                    if not self.connected.done():
                        self.connected.set_result(True)
                elif packet in "14":
                    if not self.connected.done():
                        self.connected.set_exception(SocketIOError(f"refused: {body[:200]}"))
                    break
        except Exception:  # noqa: BLE001 - the connection went away
            pass
        finally:
            self.closed = True
            for future in self.acks.values():
                if not future.done():
                    future.set_exception(SocketIOError("connection closed"))
            if self.connected is not None and not self.connected.done():
                self.connected.set_exception(SocketIOError("connection closed"))

    async def call(self, event: str, data: dict, timeout: float = 30) -> dict:
        self.next_id += 1
        ack_id = self.next_id
        future = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = future
        await self.ws.send(f"42{self.prefix}{ack_id}" + json.dumps([event, data]))
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except Exception:  # noqa: BLE001
                self.ws.transport.abort()
        if self.reader is not None:
            self.reader.cancel()


async def open_all(socks: list[Sock], batch: int = 25) -> None:
    for start in range(0, len(socks), batch):
        await asyncio.gather(*(s.open() for s in socks[start:start + batch]))


async def close_all(socks: list[Sock]) -> None:
    await asyncio.gather(*(s.close() for s in socks), return_exceptions=True)


# --- Redis MONITOR: commands per operation ------------------------------------------------

TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"')
KEEP_SEGMENTS = {"user", "chat", "join", "rest", "sess", "eio", "n", "node", "entries", "seq",
                 "told", "wait"}


def script_names(src: str) -> dict[str, str]:
    """sha1 → readable name for every Lua script the server may run."""
    names: dict[str, str] = {}
    sys.path.insert(0, src)
    import importlib

    for module_name in ("seats", "sessions", "simple", "activity", "connections", "abuse"):
        try:
            module = importlib.import_module(f"publicrooms.state.redis.{module_name}")
        except Exception:  # noqa: BLE001 - a renamed module only loses a label
            continue
        for attr, value in vars(module).items():
            if attr.startswith("_") and isinstance(value, str) and "redis.call" in value:
                names[hashlib.sha1(value.encode()).hexdigest()] = f"{module_name}.{attr[1:].lower()}"
    try:
        import limits

        for lua in (Path(limits.__file__).parent / "resources/redis/lua_scripts").glob("*.lua"):
            names[hashlib.sha1(lua.read_bytes()).hexdigest()] = f"limits.{lua.stem}"
        from redis.asyncio.lock import Lock

        for attr in ("LUA_RELEASE_SCRIPT", "LUA_EXTEND_SCRIPT", "LUA_REACQUIRE_SCRIPT"):
            names[hashlib.sha1(getattr(Lock, attr).encode()).hexdigest()] = \
                f"lock.{attr[4:-7].lower()}"
    except Exception:  # noqa: BLE001
        pass
    return names


def key_kind(key: str, prefix: str) -> str:
    if not key.startswith(prefix):
        return "?"
    parts = key[len(prefix):].split(":")
    if parts[0] == "limits":
        return "limits:*"
    return ":".join([parts[0]] + [p if p in KEEP_SEGMENTS else "*" for p in parts[1:]])


@dataclass
class Line:
    addr: str
    args: list[str]
    lua: list[list[str]] = field(default_factory=list)


class Monitor:
    """Reads MONITOR on a raw connection while a phase runs; markers are ECHO <prefix>mark:..."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.host, self.port, self.prefix = host, port, prefix
        self.lines: list[Line] = []
        self.marks: set[str] = set()
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(b"MONITOR\r\n")
        await self.writer.drain()
        assert (await self.reader.readline()).startswith(b"+OK")
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        prefix = self.prefix
        last_top: Line | None = None
        while True:
            raw = await self.reader.readline()
            if not raw:
                return
            text = raw.decode("utf-8", "replace")
            close = text.find("]")
            if close < 0:
                continue
            addr = text[text.find("[") + 1:close].split(" ", 1)[-1]
            rest = text[close + 1:]
            if addr == "lua":
                if prefix in rest and last_top is not None:
                    last_top.lua.append(TOKEN.findall(rest)[:2])
                continue
            # Keep only what may be ours: a prefixed command, or anything keyless (MULTI, EXEC,
            # PING, HELLO) whose address we decide about afterwards.
            if prefix in rest or rest.count('"') <= 4:
                args = TOKEN.findall(rest) if prefix in rest else TOKEN.findall(rest)[:1]
                if args and args[0].upper() == "PUBLISH" and len(args) > 2:
                    payload = args[2].replace('\\"', '"')
                    method = re.search(r'"method": "([^"]*)"', payload)
                    event = re.search(r'"event": "([^"]*)"', payload)
                    args = args[:2] + [f"{method and method.group(1)}:{event and event.group(1)}"]
                last_top = Line(addr, args[:6])
                self.lines.append(last_top)
                if len(args) > 1 and args[0] == "ECHO":
                    self.marks.add(args[1])
            else:
                last_top = None

    async def seen(self, mark: str, timeout: float = 20) -> None:
        """Wait until the reader got this far (it may lag behind a busy Redis)."""
        deadline = time.monotonic() + timeout
        while mark not in self.marks and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.writer.close()
        if self.task:
            self.task.cancel()


# Periodic jobs: node heartbeat, leases, dead-node check, activity flush, hold expiry, the
# suspicious-event outbox, and a node's reconciliation of its own sessions/connections.
BACKGROUND = re.compile(r"^(SET lease:|SET node:\*$|SADD nodes|SMEMBERS nodes|EXISTS node:\*$|"
                        r"EVALSHA activity\.|EVALSHA simple\.take_expired|LPOP suspicious|"
                        r"EVALSHA sessions\.of_node|SMEMBERS node:\*:eio)")


def is_mark(line: Line, prefix: str) -> bool:
    return len(line.args) > 1 and line.args[0].upper() == "ECHO" and \
        line.args[1].startswith(prefix + "mark:")


def analyse(lines: list[Line], prefix: str, names: dict[str, str]) -> dict:
    """Per phase (between ECHO markers): round trips, commands, Lua commands, by label.

    The nodes' connections are those that sent anything carrying the run's prefix (keys, the
    pub/sub channel); their keyless commands (MULTI, EXEC, PING, HELLO) count too.
    """
    own = {line.addr for line in lines if is_mark(line, prefix)}
    ours = {line.addr for line in lines
            if line.addr not in own and any(prefix in a for a in line.args)}
    phases: dict[str, dict] = {}
    current: dict | None = None
    in_multi: dict[str, list[str]] = {}

    def label(line: Line) -> str:
        cmd = line.args[0].upper()
        if cmd in ("EVALSHA", "EVAL") and len(line.args) > 3:
            name = names.get(line.args[1], line.args[1][:8])
            return f"EVALSHA {name}"
        if cmd == "PUBLISH":
            return f"PUBLISH {line.args[-1]}"
        if len(line.args) > 1:
            return f"{cmd} {key_kind(line.args[1], prefix)}"
        return cmd

    for line in lines:
        if line.addr in own:
            if is_mark(line, prefix):
                mark = line.args[1][len(prefix) + len("mark:"):]
                if mark.startswith("start:"):
                    current = phases.setdefault(mark[6:], {
                        "round_trips": Counter(), "commands": 0, "lua": 0,
                        "background": Counter()})
                else:
                    current = None
            continue
        if line.addr not in ours or not line.args:
            continue
        cmd = line.args[0].upper()
        if cmd == "MULTI":
            in_multi[line.addr] = []
            continue
        if cmd == "EXEC":
            block = in_multi.pop(line.addr, [])
            if current is not None:
                name = "MULTI[" + " + ".join(block) + "]"
                if block and all(BACKGROUND.match(b) for b in block):
                    current["background"][name] += 1
                else:
                    current["round_trips"][name] += 1  # one write, one reply
                    current["commands"] += len(block) + 2
            continue
        text = label(line)
        if line.addr in in_multi:
            in_multi[line.addr].append(text)
            continue
        if current is None:
            continue
        if BACKGROUND.match(text):
            current["background"][text] += 1
            continue
        current["round_trips"][text] += 1
        current["commands"] += 1
        current["lua"] += len(line.lua)
    return phases


# --- one run --------------------------------------------------------------------------------

@dataclass
class Node:
    port: int
    process: asyncio.subprocess.Process
    data_dir: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Run:
    def __init__(self, args: argparse.Namespace, config: str, repeat: int) -> None:
        self.args, self.config, self.repeat = args, config, repeat
        self.state, self.database, self.node_count = CONFIGS[config]
        tag = uuid.uuid4().hex[:8]
        self.prefix = f"bench{tag}:"
        self.db_name = f"bench_{tag}"
        self.nodes: list[Node] = []
        self.secret = "bench-secret-" + uuid.uuid4().hex
        self.redis = None
        self.result: dict = {"config": config, "repeat": repeat}
        # chat
        self.chat_sent_at: dict[int, float] = {}
        self.chat_count: dict[int, int] = {}
        self.chat_done: dict[int, asyncio.Event] = {}
        self.chat_latency: list[float] = []
        self.chat_expected = 0
        # lobby
        self.lobby_sent_at: dict[str, list[float]] = defaultdict(list)
        self.lobby_count: dict[tuple[str, int], int] = defaultdict(int)
        self.lobby_done: dict[tuple[str, int], asyncio.Event] = {}
        self.lobby_latency: list[float] = []
        self.lobby_expected = 0

    # processes and backing services ------------------------------------------------------

    def rooms(self) -> list[dict]:
        rooms = [{"id": CHAT_ROOM, "name": "Bench", "capacity": 10_000},
                 {"id": RT_ROOM, "name": "Round trips", "capacity": 10_000}]
        rooms += [{"id": f"churn-{i}", "name": f"Churn {i}", "capacity": 10_000}
                  for i in range(self.args.churners)]
        return rooms

    def env(self, data_dir: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLICROOMS_")}
        # Ahead of the editable install's path: the nodes run the code under --src.
        env["PYTHONPATH"] = os.pathsep.join(
            [self.args.src] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env.update({
            "PUBLICROOMS_MEDIA__ENABLED": "false",
            "PUBLICROOMS_LOG_LEVEL": "warning",
            "PUBLICROOMS_SECRET": self.secret,
            "PUBLICROOMS_ROOMS": json.dumps(self.rooms()),
            "PUBLICROOMS_SYSTEM_CAPACITY": "100000",
            "PUBLICROOMS_LIMITS__CHAT_PER_MINUTE": "1000000",
            "PUBLICROOMS_LIMITS__JOIN_PER_MINUTE": "1000000",
            "PUBLICROOMS_LIMITS__REST_PER_MINUTE": "1000000",
            "PUBLICROOMS_LIMITS__CONNECTIONS_PER_IP": "100000",
            "PUBLICROOMS_LIMITS__RECONNECT_FREE_ATTEMPTS": "1000000",
        })
        if self.database == "pg":
            env["PUBLICROOMS_DATABASE_URL"] = (
                f"postgresql+asyncpg://{self.args.pg_dsn.split('://', 1)[1].rstrip('/')}"
                f"/{self.db_name}")
        if self.state == "redis":
            env["PUBLICROOMS_REDIS_URL"] = self.args.redis_url
            env["PUBLICROOMS_REDIS_PREFIX"] = self.prefix
        return env

    async def pg(self, sql: str):  # noqa: ANN201
        import asyncpg

        connection = await asyncpg.connect(self.args.pg_dsn.rstrip("/") + "/postgres")
        try:
            return await connection.fetch(sql)
        finally:
            await connection.close()

    async def start(self) -> None:
        if self.database == "pg":
            await self.pg(f'CREATE DATABASE "{self.db_name}"')
        if self.state == "redis" or self.args.redis_url:
            import redis.asyncio as aioredis

            self.redis = aioredis.Redis.from_url(self.args.redis_url, decode_responses=True)
        executable = shutil.which("publicrooms", path=str(Path(sys.executable).parent)) \
            or str(ROOT / ".venv/bin/publicrooms")
        for _ in range(self.node_count):
            port, data_dir = free_port(), tempfile.mkdtemp(prefix="publicrooms-bench-")
            process = await asyncio.create_subprocess_exec(
                executable, "serve", "--host", "127.0.0.1", "--port", str(port),
                "--data-dir", data_dir, env=self.env(data_dir))
            self.nodes.append(Node(port, process, data_dir))
        await asyncio.gather(*(self.wait_ready(node) for node in self.nodes))

    async def wait_ready(self, node: Node) -> None:
        import aiohttp

        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if node.process.returncode is not None:
                    raise RuntimeError(f"node on port {node.port} exited ({node.process.returncode})")
                try:
                    async with session.get(node.url + "/ready") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"node on port {node.port} not ready after 60 s")

    async def stop(self) -> None:
        for node in self.nodes:
            if node.process.returncode is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                await asyncio.wait_for(node.process.wait(), 20)
            except asyncio.TimeoutError:
                node.process.kill()
                await node.process.wait()
            shutil.rmtree(node.data_dir, ignore_errors=True)
        if self.redis is not None:
            if self.state == "redis":
                self.result["redis_keys_deleted"] = await delete_prefix(self.redis, self.prefix)
            await self.redis.aclose()
        if self.database == "pg":
            await self.pg(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    # measurement ----------------------------------------------------------------------------

    async def snapshot(self) -> dict:
        snap = {"wall": time.perf_counter(), "client": time.process_time(),
                "nodes": sum(cpu_seconds(n.process.pid) for n in self.nodes),
                "redis": 0.0, "pg": {}}
        if self.redis is not None:
            info = await self.redis.info("cpu")
            snap["redis"] = info["used_cpu_user"] + info["used_cpu_sys"]
        if self.database == "pg":
            rows = await self.pg("SELECT pid FROM pg_stat_activity "
                                 f"WHERE datname = '{self.db_name}'")
            snap["pg"] = {row["pid"]: cpu_seconds(row["pid"]) for row in rows}
        return snap

    def spent(self, before: dict, after: dict, copies: int) -> dict:
        """CPU per copy: node processes, plus (all) the Redis server in Redis mode and this
        run's PostgreSQL backends. Redis is shared: anything else using it meanwhile counts."""
        wall = after["wall"] - before["wall"]
        pg = sum(cpu - before["pg"].get(pid, 0.0) for pid, cpu in after["pg"].items())
        nodes, redis_cpu = after["nodes"] - before["nodes"], after["redis"] - before["redis"]
        if self.state != "redis":
            redis_cpu = 0.0  # memory mode does not use Redis (others' traffic is not ours)
        per = 1e6 / max(1, copies)
        return {
            "copies": copies, "wall_s": round(wall, 3),
            "copies_per_s": round(copies / wall, 1),
            "nodes_cpu_s": round(nodes, 3), "redis_cpu_s": round(redis_cpu, 3),
            "pg_cpu_s": round(pg, 3), "client_cpu_s": round(after["client"] - before["client"], 3),
            "nodes_us_per_copy": round(nodes * per, 1),
            "all_us_per_copy": round((nodes + redis_cpu + pg) * per, 1),
        }

    def node_url(self, index: int) -> str:
        return self.nodes[index % len(self.nodes)].url

    # chat ------------------------------------------------------------------------------------

    def on_chat_event(self, sock: Sock, body: str, now: float) -> None:
        if not body.startswith('["new-message"'):
            return
        at = body.find('"content":"k')
        if at < 0:
            return
        end = body.find(" ", at + 12)
        message = int(body[at + 12:end])
        sent = self.chat_sent_at.get(message)
        if sent is None:
            return
        self.chat_latency.append(now - sent)
        count = self.chat_count[message] = self.chat_count[message] + 1
        if count == self.chat_expected:
            self.chat_done[message].set()

    async def chat(self, listeners: list[Sock]) -> tuple[dict, dict]:
        """(paced, saturated): the same room, first at a fixed rate, then closed-loop."""
        args = self.args
        senders = listeners[:args.senders]  # listeners i are on node i % nodes: spread
        filler = "x" * args.size
        counter = iter(range(10**9))
        self.chat_expected = len(listeners)
        failures = 0

        def new_message() -> int:
            message = next(counter)
            self.chat_count[message] = 0
            self.chat_done[message] = asyncio.Event()
            self.chat_sent_at[message] = time.perf_counter()
            return message

        async def send(sock: Sock, message: int) -> None:
            nonlocal failures
            ack = await sock.call("send-message", {"content": f"k{message} {filler}"})
            if not ack.get("success"):
                raise RuntimeError(f"send-message refused: {ack}")
            try:
                await asyncio.wait_for(self.chat_done[message].wait(), 30)
            except asyncio.TimeoutError:
                failures += 1

        async def closed_loop(sock: Sock, count: int) -> None:
            for _ in range(count):
                await send(sock, new_message())

        def summary(before: dict, after: dict, first: int, messages: int) -> dict:
            delivered = sum(c for m, c in self.chat_count.items() if m >= first)
            result = self.spent(before, after, delivered)
            result.update({
                "listeners": len(listeners), "senders": len(senders), "messages": messages,
                "expected": messages * len(listeners), "timeouts": failures,
                "p50_ms": round(statistics.median(self.chat_latency) * 1000, 1),
                "p99_ms": round(percentile(self.chat_latency, 0.99) * 1000, 1),
            })
            return result

        await asyncio.gather(*(closed_loop(s, 3) for s in senders))  # warm-up, not measured
        await asyncio.sleep(0.3)

        # paced: one message every 1/rate s, round-robin over the senders, nobody waits
        self.chat_latency.clear()
        count = max(1, round(args.paced_rate * args.paced_seconds))
        first = next(counter)
        counter = iter(range(first, 10**9))
        before = await self.snapshot()
        started, tasks = time.perf_counter(), []
        for i in range(count):
            await asyncio.sleep(max(0.0, started + i / args.paced_rate - time.perf_counter()))
            tasks.append(asyncio.create_task(send(senders[i % len(senders)], new_message())))
        await asyncio.gather(*tasks)
        after = await self.snapshot()
        paced = summary(before, after, first, count)
        paced["rate_msgs_per_s"] = args.paced_rate
        await asyncio.sleep(0.3)

        # saturated: each sender's next message once the previous one reached everyone
        self.chat_latency.clear()
        failures = 0
        first = next(counter)
        counter = iter(range(first, 10**9))
        before = await self.snapshot()
        await asyncio.gather(*(closed_loop(s, args.messages) for s in senders))
        after = await self.snapshot()
        return paced, summary(before, after, first, len(senders) * args.messages)

    # lobby -----------------------------------------------------------------------------------

    def on_lobby_event(self, sock: Sock, body: str, now: float) -> None:
        if not body.startswith('["room-occupancy-update"'):
            return
        at = body.find('"roomId":"churn-')
        if at < 0:
            return
        room = body[at + 10:body.find('"', at + 10)]
        counts = sock.seen  # type: ignore[attr-defined]
        step = counts[room] = counts.get(room, 0) + 1
        sent = self.lobby_sent_at[room]
        if step > len(sent):
            return
        self.lobby_latency.append(now - sent[step - 1])
        key = (room, step)
        count = self.lobby_count[key] = self.lobby_count[key] + 1
        if count == self.lobby_expected and key in self.lobby_done:
            self.lobby_done[key].set()

    async def lobby(self, watchers: list[Sock], churners: list[Sock]) -> dict:
        args = self.args
        self.lobby_expected = len(watchers)
        join_ms: list[float] = []
        failures = 0

        async def step(sock: Sock, room: str, event: str, data: dict) -> None:
            nonlocal failures
            key = (room, len(self.lobby_sent_at[room]) + 1)
            self.lobby_done[key] = asyncio.Event()
            started = time.perf_counter()
            self.lobby_sent_at[room].append(started)
            ack = await sock.call(event, data)
            if not ack.get("success"):
                raise RuntimeError(f"{event} refused: {ack}")
            if event == "join-room":
                join_ms.append((time.perf_counter() - started) * 1000)
            try:
                await asyncio.wait_for(self.lobby_done[key].wait(), 30)
            except asyncio.TimeoutError:
                failures += 1

        async def churner(index: int, sock: Sock, cycles: int) -> None:
            room = f"churn-{index}"
            for _ in range(cycles):
                await step(sock, room, "join-room", {"userName": f"Churn {index}"})
                await step(sock, room, "leave-room", {})

        await asyncio.gather(*(churner(i, s, 1) for i, s in enumerate(churners)))  # warm-up
        await asyncio.sleep(0.3)
        self.lobby_latency.clear()
        join_ms.clear()
        before = await self.snapshot()
        await asyncio.gather(*(churner(i, s, args.cycles) for i, s in enumerate(churners)))
        after = await self.snapshot()
        updates = len(churners) * args.cycles * 2
        result = self.spent(before, after, len(self.lobby_latency))
        result.update({
            "watchers": len(watchers), "churners": len(churners), "updates": updates,
            "expected": updates * len(watchers), "timeouts": failures,
            "join_leave_per_s": round(updates / 2 / result["wall_s"], 1),
            "join_ack_p50_ms": round(statistics.median(join_ms), 1),
            "p50_ms": round(statistics.median(self.lobby_latency) * 1000, 1),
            "p99_ms": round(percentile(self.lobby_latency, 0.99) * 1000, 1),
        })
        return result

    # Redis round trips -----------------------------------------------------------------------

    async def round_trips(self, names: dict[str, str]) -> dict:
        args = self.args
        host, port = self.redis.connection_pool.connection_kwargs["host"], \
            self.redis.connection_pool.connection_kwargs["port"]
        monitor = Monitor(host, port, self.prefix)
        await monitor.start()
        ops = args.rt_ops
        received: dict[int, int] = defaultdict(int)
        done: dict[int, asyncio.Event] = {}

        def on_event(sock: Sock, body: str, now: float) -> None:
            at = body.find('"content":"k')
            if body.startswith('["new-message"') and at >= 0:
                message = int(body[at + 12:body.find(" ", at + 12)])
                received[message] += 1
                if received[message] == ops and message in done:
                    done[message].set()

        async def phase(name: str, count: int, work) -> None:  # noqa: ANN001
            await asyncio.sleep(0.2)
            await self.redis.echo(f"{self.prefix}mark:start:{name}")
            await work()
            await asyncio.sleep(0.4)  # asynchronous tails (disconnect handling, pub/sub)
            await self.redis.echo(f"{self.prefix}mark:end:{name}")
            await monitor.seen(f"{self.prefix}mark:end:{name}")
            counts[name] = count

        counts: dict[str, int] = {}
        socks = [Sock(self.node_url(i), ip_for(13, i), f"/public-room/{RT_ROOM}", on_event)
                 for i in range(ops)]
        lobby = [Sock(self.node_url(i), ip_for(14, i), "/") for i in range(ops)]

        async def connect_rooms() -> None:
            for sock in socks:
                await sock.open()

        async def joins() -> None:
            for i, sock in enumerate(socks):
                ack = await sock.call("join-room", {"userName": f"Rt {i}"})
                assert ack.get("success"), ack

        async def chats() -> None:
            for message in range(args.rt_messages):
                done[message] = asyncio.Event()
                await socks[message % ops].call("send-message", {"content": f"k{message} rt"})
                await asyncio.wait_for(done[message].wait(), 30)

        async def leaves() -> None:
            for sock in socks:
                ack = await sock.call("leave-room", {})
                assert ack.get("success"), ack

        async def disconnects() -> None:
            for sock in socks:
                await sock.close()

        async def connect_lobby() -> None:
            for sock in lobby:
                await sock.open()

        async def disconnect_lobby() -> None:
            for sock in lobby:
                await sock.close()

        async def idle() -> None:
            await asyncio.sleep(args.rt_idle)

        try:
            await phase("room connect", ops, connect_rooms)
            await phase("join", ops, joins)
            await phase("chat message", args.rt_messages, chats)
            await phase("leave", ops, leaves)
            await phase("room disconnect", ops, disconnects)
            await phase("lobby connect", ops, connect_lobby)
            await phase("lobby disconnect", ops, disconnect_lobby)
            await phase("idle (per second)", args.rt_idle, idle)
        finally:
            await monitor.stop()
            await close_all(socks + lobby)
        phases = analyse(monitor.lines, self.prefix, names)
        out = {}
        for name, data in phases.items():
            n = counts.get(name, 1)
            rts = sum(data["round_trips"].values())
            out[name] = {
                "ops": n,
                "round_trips_per_op": round(rts / n, 2),
                "commands_per_op": round(data["commands"] / n, 2),
                "lua_commands_per_op": round(data["lua"] / n, 2),
                "publish_per_op": round(sum(v for k, v in data["round_trips"].items()
                                            if k.startswith("PUBLISH")) / n, 2),
                "breakdown": {k: round(v / n, 2) for k, v in data["round_trips"].most_common()},
                "periodic_per_op": round(sum(data["background"].values()) / n, 2),
                "periodic": {k: round(v / n, 2) for k, v in data["background"].most_common()},
            }
        return out

    # the whole run ---------------------------------------------------------------------------

    async def execute(self, names: dict[str, str]) -> dict:
        args = self.args
        self.result["load_start"] = loadavg()
        self.result["probe_start_ms"] = cpu_probe()
        started = time.perf_counter()
        listeners: list[Sock] = []
        watchers: list[Sock] = []
        churners: list[Sock] = []
        try:
            await self.start()
            self.result["startup_s"] = round(time.perf_counter() - started, 1)
            listeners = [Sock(self.node_url(i), ip_for(10, i), f"/public-room/{CHAT_ROOM}",
                              self.on_chat_event) for i in range(args.listeners)]
            await open_all(listeners)
            join_started = time.perf_counter()
            for start in range(0, len(listeners), 25):
                acks = await asyncio.gather(*(
                    s.call("join-room", {"userName": f"Listener {start + i}"})
                    for i, s in enumerate(listeners[start:start + 25])))
                for ack in acks:
                    if not ack.get("success"):
                        raise RuntimeError(f"join refused: {ack}")
            self.result["seat_listeners_per_s"] = round(
                len(listeners) / (time.perf_counter() - join_started), 1)
            self.result["chat_paced"], self.result["chat"] = await self.chat(listeners)

            watchers = [Sock(self.node_url(i), ip_for(11, i), "/", self.on_lobby_event)
                        for i in range(args.watchers)]
            for sock in watchers:
                sock.seen = {}  # type: ignore[attr-defined]
            churners = [Sock(self.node_url(i), ip_for(12, i), f"/public-room/churn-{i}")
                        for i in range(args.churners)]
            await open_all(watchers + churners)
            self.result["lobby"] = await self.lobby(watchers, churners)
            if self.state == "redis" and args.rt_ops > 0:
                self.result["redis_round_trips"] = await self.round_trips(names)
        finally:
            self.result["load_end"] = loadavg()
            await self.stop()
            self.result["probe_end_ms"] = cpu_probe()
            await close_all(listeners + watchers + churners)
            self.result["run_s"] = round(time.perf_counter() - started, 1)
        return self.result


# --- reporting ----------------------------------------------------------------------------

def complete(result: dict) -> bool:
    return all(result.get(phase) for phase in ("chat_paced", "chat", "lobby"))


def cpu(d: dict) -> str:
    return f"{d['nodes_us_per_copy']:.0f} ({d['all_us_per_copy']:.0f})"


def run_table(results: list[dict]) -> str:
    rows = ["| config | run | load avg start → end | CPU probe ms start → end | "
            "chat copies/s (saturated) | chat CPU µs/copy "
            "saturated | chat CPU µs/copy paced | chat latency p50 / p99 ms paced; saturated | "
            "lobby copies/s | lobby CPU µs/copy | lobby latency p50 / p99 ms | "
            "join+leave cycles/s |",
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if not complete(r):
            rows.append(f"| {r['config']} | {r['repeat']} | {r.get('load_start')} → "
                        f"{r.get('load_end')} | failed: {r.get('error', '?')} |")
            continue
        p, c, lo = r["chat_paced"], r["chat"], r["lobby"]
        rows.append(
            f"| {r['config']} | {r['repeat']} | {r['load_start']} → {r['load_end']} | "
            f"{r['probe_start_ms']:.0f} → {r['probe_end_ms']:.0f} | "
            f"{c['copies_per_s']:,.0f} | {cpu(c)} | {cpu(p)} | "
            f"{p['p50_ms']:.0f} / {p['p99_ms']:.0f}; {c['p50_ms']:.0f} / {c['p99_ms']:.0f} | "
            f"{lo['copies_per_s']:,.0f} | {cpu(lo)} | {lo['p50_ms']:.0f} / {lo['p99_ms']:.0f} | "
            f"{lo['join_leave_per_s']:.1f} |")
    lost = [f"{r['config']}#{r['repeat']} {phase}: {r[phase]['copies']}/{r[phase]['expected']}"
            for r in results if complete(r) for phase in ("chat_paced", "chat", "lobby")
            if r[phase]["copies"] != r[phase]["expected"]]
    if lost:
        rows.append("\nIncomplete deliveries: " + "; ".join(lost))
    return "\n".join(rows)


RATIO_COLUMNS = [("chat", "copies_per_s", "chat copies/s"),
                 ("chat", "nodes_us_per_copy", "chat CPU/copy saturated, nodes"),
                 ("chat_paced", "nodes_us_per_copy", "chat CPU/copy paced, nodes"),
                 ("chat_paced", "all_us_per_copy", "chat CPU/copy paced, all"),
                 ("lobby", "copies_per_s", "lobby copies/s"),
                 ("lobby", "nodes_us_per_copy", "lobby CPU/copy, nodes"),
                 ("lobby", "all_us_per_copy", "lobby CPU/copy, all"),
                 ("lobby", "join_leave_per_s", "join+leave cycles/s")]


def ratio_table(results: list[dict], baselines: tuple[str, ...]) -> str:
    by_config: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        if complete(r):
            by_config[r["config"]].append(r)

    def mean(config: str, phase: str, metric: str) -> float:
        return statistics.mean(r[phase][metric] for r in by_config[config])

    rows = []
    for base in baselines:
        if base not in by_config or len(by_config) < 2:
            continue
        rows += [f"\nRatio to {base}, mean of the runs (throughput: higher is better; CPU per "
                 "copy: lower is better; 'all' adds Redis and PostgreSQL server CPU):",
                 "| config | " + " | ".join(title for _, _, title in RATIO_COLUMNS) + " |",
                 "|---|" + "---:|" * len(RATIO_COLUMNS)]
        for config in by_config:
            if config == base:
                continue
            cells = [f"{mean(config, ph, m) / mean(base, ph, m):.2f}×"
                     for ph, m, _ in RATIO_COLUMNS]
            rows.append(f"| {config} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def round_trip_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        rt = r.get("redis_round_trips")
        if not rt:
            continue
        rows += [f"\nRedis commands per operation, {r['config']} run {r['repeat']} (MONITOR):",
                 "| operation | ops | round trips | commands (MULTI/EXEC included) | inside Lua | "
                 "PUBLISH | periodic jobs meanwhile | breakdown per op |",
                 "|---|---:|---:|---:|---:|---:|---:|---|"]
        for name, d in rt.items():
            breakdown = ", ".join(f"{k} ×{v:g}" for k, v in d["breakdown"].items())
            if name.startswith("idle"):
                breakdown = ", ".join(f"{k} ×{v:g}" for k, v in
                                      [*d["periodic"].items(), *d["breakdown"].items()])
            rows.append(f"| {name} | {d['ops']} | {d['round_trips_per_op']:g} | "
                        f"{d['commands_per_op']:g} | {d['lua_commands_per_op']:g} | "
                        f"{d['publish_per_op']:g} | {d['periodic_per_op']:g} | {breakdown} |")
    return "\n".join(rows)


async def main_async(args: argparse.Namespace) -> list[dict]:
    names = script_names(args.src)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for config in configs:
        if config not in CONFIGS:
            raise SystemExit(f"unknown configuration {config!r}; known: {', '.join(CONFIGS)}")
    order = []
    for round_index in range(args.repeat):
        this_round = configs if round_index % 2 == 0 else list(reversed(configs))
        order += [(config, round_index + 1) for config in this_round]
    results = []
    bench_started = time.perf_counter()
    print(f"# {len(order)} runs: {', '.join(f'{c}#{r}' for c, r in order)}; "
          f"load average {loadavg()}; nodes run {args.src}", flush=True)
    for config, repeat in order:
        for attempt in (1, 2):
            run = Run(args, config, repeat)
            try:
                result = await run.execute(names)
            except Exception as error:  # noqa: BLE001 - report it and go on with the others
                result = run.result
                result["error"] = f"{type(error).__name__}: {error}"
                if attempt == 1:  # a shared machine: another suite may hold PostgreSQL's slots
                    print(f"# {config}#{repeat} failed ({result['error'][:160]}); "
                          "retrying once", flush=True)
                    continue
            if attempt == 2:
                result["retried"] = True
            break
        results.append(result)
        chat, lobby = result.get("chat") or {}, result.get("lobby") or {}
        print(f"# {config}#{repeat}: load {result.get('load_start')} → {result.get('load_end')}, "
              f"CPU probe {result.get('probe_start_ms')} → {result.get('probe_end_ms')} ms, "
              f"chat {chat.get('copies_per_s')} copies/s ({chat.get('nodes_us_per_copy')} µs "
              f"node CPU/copy), lobby {lobby.get('copies_per_s')} copies/s, "
              f"{result.get('run_s')} s" + (f", ERROR {result['error']}" if "error" in result
                                           else ""), flush=True)
    print(f"# total {time.perf_counter() - bench_started:.0f} s\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated, from: {', '.join(CONFIGS)}")
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration")
    parser.add_argument("--listeners", type=int, default=100, help="seated chat listeners")
    parser.add_argument("--senders", type=int, default=4,
                        help="chat senders (among the listeners), one message in flight each")
    parser.add_argument("--messages", type=int, default=200,
                        help="messages per sender in the saturated phase")
    parser.add_argument("--size", type=int, default=60, help="extra characters per message")
    parser.add_argument("--paced-rate", type=float, default=20,
                        help="chat messages per second in the paced phase (all senders)")
    parser.add_argument("--paced-seconds", type=float, default=5, help="paced phase length")
    parser.add_argument("--watchers", type=int, default=200, help="lobby listeners")
    parser.add_argument("--churners", type=int, default=4,
                        help="users cycling join/leave, each in a room of its own")
    parser.add_argument("--cycles", type=int, default=30, help="join+leave cycles per churner")
    parser.add_argument("--rt-ops", type=int, default=10,
                        help="sequential operations per kind for the Redis command count (0: skip)")
    parser.add_argument("--rt-messages", type=int, default=20,
                        help="sequential chat messages for the Redis command count")
    parser.add_argument("--rt-idle", type=int, default=3,
                        help="seconds of idle MONITOR for the periodic jobs' rate")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server (a database per run is created and dropped)")
    parser.add_argument("--src", default=str(ROOT / "src"),
                        help="the publicrooms source the nodes run (e.g. a `git archive` of a "
                             "commit, to measure it while the working tree changes)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small sizes, one run per configuration")
    args = parser.parse_args()
    args.src = os.path.abspath(args.src)
    if args.quick:
        args.repeat, args.listeners, args.messages, args.watchers, args.cycles = 1, 20, 10, 20, 3
        args.rt_ops, args.rt_messages, args.rt_idle, args.paced_seconds = 3, 3, 1, 1
    try:
        import uvloop  # the client process is one of the loads on the machine: keep it lean

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(run_table(results))
    print(ratio_table(results, ("memory-pg", "memory-sqlite")))
    print(round_trip_table(results))


if __name__ == "__main__":
    main()
