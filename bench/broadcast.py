"""Chat broadcast cost: server CPU per delivered message, and delivery latency.

Starts `publicrooms serve` as its own process (media off), seats N listeners in one room from
distinct loopback addresses, sends M messages from the first S of them (round-robin, one every `--interval` seconds in
all) and measures the server
process's CPU time (utime+stime from /proc) per delivered copy, plus send→receive latency.

    .venv/bin/python bench/broadcast.py --listeners 100 --messages 200 [--senders 10] [--compression]
    .venv/bin/python bench/broadcast.py ... --node /path/to/node_modules   # the Node reference
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time

import aiohttp
import socketio
from serving import cpu_seconds, free_port, wait_ready

ROOM = "bench"


async def listener(url: str, index: int, received: list[float], sent_at: dict[str, float]):
    ip = f"127.3.{index // 250}.{index % 250 + 1}"
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(ip, 0)))
    client = socketio.AsyncClient(http_session=session, reconnection=False)

    @client.on("new-message", namespace=f"/public-room/{ROOM}")
    async def on_message(data: dict) -> None:
        received.append(time.perf_counter() - sent_at[data["message"]["content"]])

    await client.connect(url, namespaces=[f"/public-room/{ROOM}"], transports=["websocket"])
    ack = await client.call("join-room", {"userName": f"L{index}"},
                            namespace=f"/public-room/{ROOM}")
    assert ack.get("success"), ack
    return client, session


async def run(args: argparse.Namespace) -> dict:
    port = free_port()
    data_dir = tempfile.mkdtemp()
    env = {**os.environ,
           "PUBLICROOMS_MEDIA__ENABLED": "false",
           "PUBLICROOMS_ROOMS": json.dumps([{"id": ROOM, "name": "Bench", "capacity": 10_000}]),
           "PUBLICROOMS_SYSTEM_CAPACITY": "10000",
           "PUBLICROOMS_LIMITS__CHAT_PER_MINUTE": "1000000",
           "PUBLICROOMS_LIMITS__JOIN_PER_MINUTE": "1000000",
           "PUBLICROOMS_LIMITS__RECONNECT_FREE_ATTEMPTS": "1000000",
           "PUBLICROOMS_WS_COMPRESSION": "true" if args.compression else "false",
           "PUBLICROOMS_LOG_LEVEL": "warning"}
    if args.node:
        command = ["node", os.path.join(os.path.dirname(__file__), "node_chat_server.js"),
                   str(port)]
        env = {**os.environ, "NODE_PATH": args.node}
    else:
        command = [sys.executable, "-m", "publicrooms.cli", "serve", "--port", str(port),
                   "--data-dir", data_dir]
    server = await asyncio.create_subprocess_exec(*command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, attempts=200)
        received: list[float] = []
        sent_at: dict[str, float] = {}
        clients = []
        for start in range(0, args.listeners, 20):
            clients += await asyncio.gather(*(listener(url, i, received, sent_at)
                                              for i in range(start, min(start + 20,
                                                                        args.listeners))))
        senders = [client for client, _ in clients[:args.senders]]
        await asyncio.sleep(0.5)
        load_before = open("/proc/loadavg").read().split()[0]
        cpu_before, wall_before = cpu_seconds(server.pid), time.perf_counter()
        expected = args.messages * args.listeners
        for i in range(args.messages):
            content = f"message {i} " + "x" * args.size
            sent_at[content] = time.perf_counter()
            await senders[i % len(senders)].emit("send-message", {"content": content},
                              namespace=f"/public-room/{ROOM}")
            await asyncio.sleep(args.interval)
        deadline = time.perf_counter() + 60
        while len(received) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        cpu = cpu_seconds(server.pid) - cpu_before
        wall = time.perf_counter() - wall_before
        for client, session in clients:
            await client.disconnect()
            await session.close()
        latencies = sorted(received)
        return {
            "listeners": args.listeners, "messages": args.messages, "senders": len(senders),
            "compression": args.compression, "delivered": len(received), "expected": expected,
            "server_cpu_s": round(cpu, 3),
            "server_cpu_us_per_delivery": round(cpu / max(1, len(received)) * 1e6, 1),
            "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "wall_s": round(wall, 2),
            "loadavg": f"{load_before} → {open('/proc/loadavg').read().split()[0]}",
        }
    finally:
        server.terminate()
        await server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--senders", type=int, default=1, help="listeners that also send")
    parser.add_argument("--size", type=int, default=60, help="extra characters per message")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between sends")
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--node", metavar="NODE_MODULES",
                        help="run bench/node_chat_server.js (socket.io from this node_modules) "
                             "instead of publicrooms, as the reference")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
