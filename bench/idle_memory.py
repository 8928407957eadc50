"""What an idle lobby connection holds in the server's Python heap: tracemalloc and object counts.

    .venv/bin/python bench/idle_memory.py [--connections 2000] [--top 30] [--frames 8]

Starts `publicrooms serve` (media off, SQLite, system capacity raised; the same environment as
bench/lobby.py) under tracemalloc in a child process, then opens N WebSocket connections to
the lobby namespace `/` from this process (raw Engine.IO/Socket.IO over the `websockets`
client, each from its own loopback address 127.10.x.y, answering pings), waits for them to
settle, and asks the server (SIGUSR1) for a snapshot before and with the connections.
Prints the Python heap per connection, the top allocation sites by bytes per connection
(the line where the memory was allocated, then the callers), by source line and by file,
and the objects per connection by type (gc-tracked objects, after a full collection).

tracemalloc counts Python allocations only (not the kernel's socket buffers, not
allocator slack), so its total is below the RSS growth `bench/lobby.py` measures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


# --- the server side (child process) -------------------------------------------------------

def serve(port: int, out_dir: str, frames: int) -> None:
    count = [0]

    def snapshot(*_: object) -> None:
        if not tracemalloc.is_tracing():  # from the first snapshot on (start-up untraced)
            tracemalloc.start(frames)
        gc.collect()
        types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        snap = tracemalloc.take_snapshot()
        path = os.path.join(out_dir, f"snap{count[0]}")
        snap.dump(path + ".tm")
        with open(path + ".types", "wb") as f:
            pickle.dump(dict(types), f)
        count[0] += 1
        with open(path + ".done", "w") as f:
            f.write("ok")

    signal.signal(signal.SIGUSR1, snapshot)
    from publicrooms.cli import cli
    sys.argv = ["publicrooms", "serve", "--port", str(port), "--data-dir", tempfile.mkdtemp()]
    cli()


# --- the driver ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def address(i: int) -> str:
    return f"127.{10 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}"


async def one_client(url: str, i: int, ready: asyncio.Event, counter: list[int],
                     stop: asyncio.Event) -> None:
    import websockets

    async with websockets.connect(url, max_size=None, ping_interval=None,
                                  compression=None, open_timeout=60,
                                  family=socket.AF_INET,
                                  local_addr=(address(i), 0)) as ws:
        await ws.recv()             # Engine.IO open
        await ws.send("40")         # Socket.IO connect to "/"
        connected = False
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(ws.recv(), 1.0)
            except asyncio.TimeoutError:
                continue
            if message == "2":
                await ws.send("3")
            elif message.startswith("40") and not connected:
                connected = True
                counter[0] += 1
                if counter[0] == counter[1]:
                    ready.set()


async def drive(url: str, n: int, batch: int, snap, stop: asyncio.Event) -> None:
    ready = asyncio.Event()
    counter = [0, n]
    tasks = []
    for start in range(0, n, batch):
        for i in range(start, min(n, start + batch)):
            tasks.append(asyncio.ensure_future(one_client(url, i, ready, counter, stop)))
        while counter[0] < min(n, start + batch):
            await asyncio.sleep(0.05)
            for task in tasks:
                if task.done() and task.exception():
                    raise task.exception()
    await ready.wait()
    await asyncio.sleep(3)
    await asyncio.get_running_loop().run_in_executor(None, snap)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


def report(before: str, after: str, n: int, top: int) -> None:
    old = tracemalloc.Snapshot.load(before + ".tm")
    new = tracemalloc.Snapshot.load(after + ".tm")
    skip = [tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    old, new = old.filter_traces(skip), new.filter_traces(skip)
    total = sum(s.size for s in new.statistics("filename")) - \
        sum(s.size for s in old.statistics("filename"))
    print(f"Python heap per connection: {total / n / 1000:.2f} kB "
          f"({n} connections, tracemalloc)")
    print(f"\ntop allocation sites (bytes per connection, blocks per connection):")
    diffs = new.compare_to(old, "traceback")
    diffs.sort(key=lambda d: -d.size_diff)
    shown = 0
    for diff in diffs:
        if diff.size_diff / n < 20 or shown >= top:
            break
        shown += 1
        frames = list(reversed(diff.traceback))  # most recent first
        site = frames[0]
        print(f"{diff.size_diff / n:8.0f} B {diff.count_diff / n:6.2f}  "
              f"{_short(site.filename)}:{site.lineno}")
        for frame in frames[1:6]:
            print(f"{'':20}< {_short(frame.filename)}:{frame.lineno}")
    print("\nby source line (bytes per connection):")
    for diff in sorted(new.compare_to(old, "lineno"), key=lambda d: -d.size_diff)[:top]:
        if diff.size_diff / n < 20:
            break
        frame = diff.traceback[0]
        print(f"{diff.size_diff / n:8.0f} B {diff.count_diff / n:6.2f}  "
              f"{_short(frame.filename)}:{frame.lineno}")
    print("\nby file (bytes per connection):")
    for diff in sorted(new.compare_to(old, "filename"), key=lambda d: -d.size_diff)[:top]:
        if diff.size_diff / n < 20:
            break
        print(f"{diff.size_diff / n:8.0f} B  {_short(diff.traceback[0].filename)}")
    with open(before + ".types", "rb") as f:
        types_old = pickle.load(f)
    with open(after + ".types", "rb") as f:
        types_new = pickle.load(f)
    print("\ngc-tracked objects per connection, by type:")
    grown = sorted(((types_new.get(t, 0) - types_old.get(t, 0)) / n, t) for t in types_new)
    for per, name in reversed(grown[-top:]):
        if per < 0.05:
            break
        print(f"{per:6.2f}  {name}")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--frames", type=int, default=8, help="traceback depth kept")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.frames)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, out_dir = free_port(), tempfile.mkdtemp()
    env = {**os.environ, "PUBLICROOMS_MEDIA__ENABLED": "false",
           "PUBLICROOMS_SYSTEM_CAPACITY": "10000", "PUBLICROOMS_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--frames",
                               str(args.frames), "--serve", str(port), out_dir], env=env)
    shots = [0]

    def snap() -> str:
        path = os.path.join(out_dir, f"snap{shots[0]}")
        server.send_signal(signal.SIGUSR1)
        while not os.path.exists(path + ".done"):
            time.sleep(0.1)
        shots[0] += 1
        return path

    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)
        before = snap()
        ws_url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        asyncio.run(drive(ws_url, args.connections, args.batch, snap, asyncio.Event()))
        report(before, os.path.join(out_dir, "snap1"), args.connections, args.top)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
