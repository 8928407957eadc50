"""Soak run: the system at capacity for a long time, with churn; what leaks or gets lost.

Starts `publicrooms serve` as its own process (memory mode, SQLite, media off), seats 100
people across the rooms (the system's capacity), and keeps it there: each person chats about
once a minute and turns camera or microphone on or off about every two minutes, and 20 % of
the people are replaced every minute (a third leave with `leave-room`, a third close the
socket, a third vanish with the TCP connection aborted, so their seat is held for the grace
and the newcomer waits in the queue). Reports:

* unexpected disconnects (a socket the bench did not close that the server closed);
* acknowledged chat delivered to every member present: a message acknowledged by the server
  is expected by everyone seated in its room at the time who was not on the way out;
* the server's RSS, sampled every 10 s, with its linear-fit slope (MB per hour), after the
  first tenth of the run (warm-up);
* every in-memory table (`publicrooms_table_entries` on `/metrics`) once everyone has gone
  and the windows have run out: each must be back to 0.

    .venv/bin/python bench/soak.py                   # 30 minutes
    .venv/bin/python bench/soak.py --duration 300    # 5 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field

import aiohttp
import socketio
from serving import wait_ready

ROOMS = ["quiet-library", "deep-focus", "pomodoro", "math-and-physics", "coding-corner",
         "languages", "exam-prep", "writing-desk", "night-owls", "early-birds"]
SEATS = 100
CHAT_EVERY_S = 60.0
TOGGLE_EVERY_S = 120.0
CHURN_PER_MINUTE = 0.20
LEAVING_S = 2.0           # a leaver stops counting as a recipient this long before it goes
SAMPLE_EVERY_S = 10.0
ROOM_FULL_RETRY_S = 15.0   # at most 5 tries a minute: the join limit
TABLES_WAIT_S = 240.0     # windows and sweeps after everyone left


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def loadavg() -> str:
    return open("/proc/loadavg").read().split(" ", 3)[:3].__str__()


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per hour."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    return cov / var * 3600 if var else 0.0


_ips = (f"127.5.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@dataclass
class Person:
    index: int
    room: str
    ip: str = field(default_factory=lambda: next(_ips))
    client: socketio.AsyncClient | None = None
    session: aiohttp.ClientSession | None = None
    seated: bool = False
    leaving: bool = False
    closing: bool = False          # the bench is closing it: a disconnect is expected
    received: set[str] = field(default_factory=set)
    admitted: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def namespace(self) -> str:
        return f"/public-room/{self.room}"


class Soak:
    def __init__(self, url: str, duration_s: float) -> None:
        self.url = url
        self.duration_s = duration_s
        self.people: list[Person] = []
        self.counter = itertools.count()
        self.expected: dict[str, list[Person]] = {}   # message id → recipients present
        self.unexpected_disconnects = 0
        self.joins = self.leaves = self.chats = self.toggles = self.errors = 0
        self.queued_joins = 0
        self.longest_join_s = 0.0

    async def arrive(self, room: str) -> Person:
        person = Person(next(self.counter), room)
        person.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(person.ip, 0), force_close=True))
        client = person.client = socketio.AsyncClient(http_session=person.session,
                                                      reconnection=False, request_timeout=20)

        @client.on("new-message", namespace=person.namespace)
        async def on_message(data: dict) -> None:
            person.received.add(data["message"]["id"])

        @client.on("queue-admitted", namespace=person.namespace)
        async def on_admitted(data: dict) -> None:
            person.admitted.set()

        @client.on("disconnect", namespace=person.namespace)
        async def on_disconnect(*args) -> None:  # noqa: ANN002
            if not person.closing:
                self.unexpected_disconnects += 1
                print(f"unexpected disconnect of person {person.index}: {args}", flush=True)

        try:
            await client.connect(self.url, namespaces=[person.namespace],
                                 transports=["websocket"], wait_timeout=20)
            await self.join(person)
        except BaseException:
            person.closing = True
            await client.disconnect()
            await person.session.close()
            raise
        self.people.append(person)
        return person

    async def join(self, person: Person) -> None:
        began = time.monotonic()
        for _ in range(8):
            ack = await person.client.call("join-room", {"userName": f"Soak {person.index}"},
                                           namespace=person.namespace, timeout=20)
            if ack.get("success"):
                person.seated = True
                self.joins += 1
                self.longest_join_s = max(self.longest_join_s, time.monotonic() - began)
                return
            code = ack.get("error", {}).get("code")
            if code == "SYSTEM_AT_CAPACITY":
                self.queued_joins += 1
                person.admitted.clear()
                await asyncio.wait_for(person.admitted.wait(), 60)
                continue
            if code == "ROOM_FULL":
                # A vanished person's seat is held until the server notices and then for
                # the grace (10 s); tries spaced to stay inside the join limit.
                await asyncio.sleep(ROOM_FULL_RETRY_S)
                continue
            raise RuntimeError(f"join refused: {ack}")
        raise RuntimeError("join never succeeded")

    async def depart(self, person: Person, how: str) -> None:
        person.leaving = True
        await asyncio.sleep(LEAVING_S)
        person.closing = True
        self.people.remove(person)
        try:
            if how == "leave":
                await person.client.call("leave-room", {}, namespace=person.namespace, timeout=20)
                await person.client.disconnect()
            elif how == "close":
                await person.client.disconnect()
            else:  # vanish: the TCP connection aborted, the seat held for the grace
                ws = getattr(person.client.eio, "ws", None)
                if ws is not None and not ws.closed:
                    ws._response.connection.transport.abort()
        finally:
            await person.session.close()
            self.leaves += 1

    async def chat(self, person: Person) -> None:
        present = [p for p in self.people
                   if p.room == person.room and p.seated and not p.leaving]
        ack = await person.client.call("send-message", {"content": f"hello {time.time():.3f}"},
                                       namespace=person.namespace, timeout=20)
        if not ack.get("success"):
            self.errors += 1
            print(f"chat refused: {ack}", flush=True)
            return
        self.chats += 1
        self.expected[ack["message"]["id"]] = present

    async def toggle(self, person: Person) -> None:
        kind = random.choice(["toggle-video", "toggle-audio"])
        ack = await person.client.call(kind, {"enabled": random.random() < 0.5},
                                       namespace=person.namespace, timeout=20)
        if ack.get("success"):
            self.toggles += 1
        else:
            self.errors += 1

    async def person_loop(self, person: Person, until: float) -> None:
        """Chat and toggle at a person's pace, while the person stays."""
        while time.monotonic() < until and not person.leaving:
            await asyncio.sleep(random.expovariate(1 / 5))
            if person.leaving or not person.seated:
                continue
            roll = random.random()
            try:
                if roll < 5 / CHAT_EVERY_S:
                    await self.chat(person)
                elif roll < 5 / CHAT_EVERY_S + 5 / TOGGLE_EVERY_S:
                    await self.toggle(person)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                if not person.leaving:
                    self.errors += 1
                    print(f"person {person.index}: {exc!r}", flush=True)

    async def run(self, server_pid: int) -> dict:
        started = time.monotonic()
        until = started + self.duration_s
        tasks: set[asyncio.Task] = set()

        def live(person: Person) -> None:
            task = asyncio.create_task(self.person_loop(person, until))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        for start in range(0, SEATS, 20):
            arrived = await asyncio.gather(*(self.arrive(ROOMS[i % len(ROOMS)])
                                             for i in range(start, start + 20)))
            for person in arrived:
                live(person)
        print(f"{len(self.people)} seated after {time.monotonic() - started:.0f}s; "
              f"load {loadavg()}", flush=True)
        rss: list[tuple[float, float]] = []
        loads = [loadavg()]
        churn_every_s = 60 / (SEATS * CHURN_PER_MINUTE)
        next_sample = next_churn = time.monotonic()
        ways = itertools.cycle(["leave", "close", "vanish"])
        while time.monotonic() < until:
            now = time.monotonic()
            if now >= next_sample:
                rss.append((now - started, rss_mb(server_pid)))
                next_sample += SAMPLE_EVERY_S
                if len(rss) % 30 == 0:
                    loads.append(loadavg())
                    print(f"t={now - started:.0f}s rss={rss[-1][1]:.1f}MB "
                          f"people={len(self.people)} chats={self.chats} "
                          f"unexpected={self.unexpected_disconnects} load {loads[-1]}",
                          flush=True)
            if now >= next_churn:
                next_churn += churn_every_s
                candidates = [p for p in self.people if p.seated and not p.leaving]
                if candidates:
                    leaver = random.choice(candidates)
                    room = leaver.room

                    async def replace(leaver: Person = leaver, room: str = room,
                                      how: str = next(ways)) -> None:
                        try:
                            await self.depart(leaver, how)
                            live(await self.arrive(room))
                        except Exception as exc:  # noqa: BLE001 - counted and reported
                            self.errors += 1
                            print(f"churn: {exc!r}", flush=True)

                    task = asyncio.create_task(replace())
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            await asyncio.sleep(0.2)
        ran_s = time.monotonic() - started
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(3)  # the last broadcasts reach everyone
        delivered = sum(1 for mid, present in self.expected.items()
                        for p in present if mid in p.received)
        owed = sum(len(present) for present in self.expected.values())
        missing = [(mid, p.index) for mid, present in self.expected.items()
                   for p in present if mid not in p.received]
        for person in list(self.people):
            person.closing = True
            await person.client.disconnect()
            await person.session.close()
        self.people.clear()
        warm = [s for s in rss if s[0] >= ran_s / 10]
        return {
            "ran_s": round(ran_s), "joins": self.joins, "leaves": self.leaves,
            "queued_joins": self.queued_joins,
            "longest_join_s": round(self.longest_join_s, 1), "chats_acknowledged": self.chats,
            "toggles": self.toggles, "errors": self.errors,
            "unexpected_disconnects": self.unexpected_disconnects,
            "deliveries_owed": owed, "deliveries_made": delivered,
            "delivered_pct": round(100 * delivered / owed, 4) if owed else 100.0,
            "missing_sample": missing[:10],
            "rss_start_mb": round(rss[0][1], 1) if rss else None,
            "rss_end_mb": round(rss[-1][1], 1) if rss else None,
            "rss_slope_mb_per_h": round(slope_per_hour(warm), 2),
            "loadavg": loads + [loadavg()],
        }


async def tables(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as response:
        text = await response.text()
    found = {}
    for name, value in re.findall(r'^publicrooms_table_entries\{table="([^"]+)"\} (\S+)$',
                                  text, re.M):
        found[name] = float(value)
    sockets = re.search(r"^publicrooms_socket_connections (\S+)$", text, re.M)
    found["socket_connections"] = float(sockets.group(1)) if sockets else -1
    return found


async def main_async(args: argparse.Namespace) -> dict:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="soak-")
    env = {**os.environ,
           "PUBLICROOMS_MEDIA__ENABLED": "false",
           "PUBLICROOMS_LOG_LEVEL": "warning",
           "PUBLICROOMS_GC_FREEZE": "false",
           # Sweeps often enough that the end-of-run check does not wait for minutes.
           "PUBLICROOMS_CLEANUP__TABLE_SWEEP_INTERVAL_S": "10"}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "publicrooms.cli", "serve", "--port", str(port), "--data-dir",
        data_dir, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url)
        result = await Soak(url, args.duration).run(server.pid)
        deadline = time.monotonic() + TABLES_WAIT_S
        while True:
            sizes = await tables(url)
            if all(v == 0 for v in sizes.values()) or time.monotonic() > deadline:
                break
            await asyncio.sleep(5)
        result["tables_left"] = {k: v for k, v in sizes.items() if v}
        result["tables_checked"] = len(sizes)
        result["rss_after_mb"] = round(rss_mb(server.pid), 1)
        return result
    finally:
        server.terminate()
        await server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800, help="seconds at capacity")
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
