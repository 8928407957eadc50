"""Maximum sustained chat deliveries per second per core, beside Node socket.io.

Each server gets a fresh process pinned to one core (`taskset -c 0`): `publicrooms serve` on its
defaults (media off, SQLite) with the bench rooms configured and the chat limit raised, a plain
python-socketio server (bench/socketio_chat_server.py) or plain socket.io 4.8.1
(bench/node_chat_server.js). The client generator bench/chat_rate.mjs (socket.io-client, one Node
process) runs pinned to the other core, seats --members clients in each of --rooms rooms, every
one from its own loopback address, and offers chat at stepped rates until one is not sustained:

    .venv/bin/python bench/chat_rate.py --node DIR/node_modules [--rooms 10 --members 10]
        [--rates 2000,4000,8000] [--seconds 5] [--servers node,socketio,publicrooms]
        [--variant before=/path/to/other/src] [--repeat 2]

`--variant NAME=SRC` adds a publicrooms server run from another tree's src (PYTHONPATH), named
NAME in --servers. One JSON line per step, then a table (markdown) of every step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid

from serving import delete_prefix, free_port, wait_ready

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_MODULES = os.path.join(HERE, "..", "tests", "node", "node_modules")
# 10 x 10 offering 60 000 deliveries/s is 60 messages/s per member: far above the default
# (10 a minute), so the bench raises it through its documented setting and nothing else.
CHAT_PER_MINUTE = "10000000"


def loadavg() -> str:
    return open("/proc/loadavg").read().split()[0]


def command_for(kind: str, port: int, args: argparse.Namespace) -> tuple[list[str], dict]:
    if kind == "node":
        if not args.node:
            sys.exit("--node DIR/node_modules (with socket.io 4.8.1) is needed for the reference")
        return (["node", os.path.join(HERE, "node_chat_server.js"), str(port)],
                {**os.environ, "NODE_PATH": args.node})
    if kind == "socketio":
        return [sys.executable, os.path.join(HERE, "socketio_chat_server.py"), str(port)], {}
    src = args.variants.get(kind, os.path.join(HERE, "..", "src"))
    rooms = [{"id": f"bench-{i}", "name": f"Bench {i}", "capacity": args.members}
             for i in range(args.rooms)]
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src),
           "PUBLICROOMS_MEDIA__ENABLED": "false",
           "PUBLICROOMS_ROOMS": json.dumps(rooms),
           "PUBLICROOMS_SYSTEM_CAPACITY": str(max(100, args.rooms * args.members)),
           "PUBLICROOMS_LIMITS__CHAT_PER_MINUTE": CHAT_PER_MINUTE,
           "PUBLICROOMS_LOG_LEVEL": "warning",
           # Redis mode: each server its own key space (seats of an earlier run stay there).
           "PUBLICROOMS_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:12]}:",
           **dict(setting.split("=", 1) for setting in args.env)}
    return ([sys.executable, "-m", "publicrooms.cli", "serve", "--port", str(port),
             "--data-dir", tempfile.mkdtemp()], env)


def measure(kind: str, args: argparse.Namespace) -> list[dict]:
    port = free_port()
    command, env = command_for(kind, port, args)
    server = subprocess.Popen(["taskset", "-c", args.server_cpu, *command], env=env or None)
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_ready(url))
        load_before = loadavg()
        generator = ["taskset", "-c", args.generator_cpu, "node",
                     os.path.join(HERE, "chat_rate.mjs"), "--url", url,
                     "--server-pid", str(server.pid), "--client-modules", CLIENT_MODULES,
                     "--rooms", str(args.rooms), "--members", str(args.members),
                     "--senders", str(args.senders or args.members), "--rates", args.rates,
                     "--seconds", str(args.seconds), "--max-p99-ms", str(args.max_p99_ms),
                     "--beyond", str(args.beyond)]
        out = subprocess.run(generator, capture_output=True, text=True, timeout=args.timeout)
        sys.stderr.write(out.stderr[-2000:])
        if out.returncode != 0:
            raise RuntimeError(f"generator failed ({out.returncode})")
        steps = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        load = f"{load_before} → {loadavg()}"
        settings = {"env": args.env} if args.env and kind not in ("node", "socketio") else {}
        return [{"server": kind, **settings, **step, "loadavg": load} for step in steps]
    finally:
        server.terminate()
        server.wait(timeout=30)
        prefix = env.get("PUBLICROOMS_REDIS_PREFIX", "")
        if env.get("PUBLICROOMS_REDIS_URL") and prefix.startswith("bench-"):  # ours, not --env's
            asyncio.run(forget_keys(env["PUBLICROOMS_REDIS_URL"], prefix))


async def forget_keys(url: str, prefix: str) -> None:
    """Delete what a Redis-mode server left under its prefix."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    try:
        await delete_prefix(client, prefix)
    finally:
        await client.aclose()


def table(results: list[dict]) -> str:
    lines = ["| server | offered deliveries/s | achieved | achieved/offered | p50 / p99 ms "
             "| server µs/delivery | server core | generator core | sustained | load |",
             "|---|---:|---:|---:|---|---:|---:|---:|---|---|"]
    for r in results:
        lines.append(
            f"| {r['server']} | {r['offered_deliveries_per_s']:,} | "
            f"{r['achieved_deliveries_per_s']:,} | {r['achieved_ratio']} | "
            f"{r['latency_p50_ms']} / {r['latency_p99_ms']} | "
            f"{r['server_cpu_us_per_delivery']} | {r['server_core_share']} | "
            f"{r['generator_core_share']} | {'yes' if r['sustained'] else 'no'} | "
            f"{r['loadavg']} |")
    lines.append("")
    for name in dict.fromkeys(r["server"] for r in results):
        mine = [r for r in results if r["server"] == name]
        kept = [r["achieved_deliveries_per_s"] for r in mine if r["achieved_ratio"] >= 0.98]
        best = [r["achieved_deliveries_per_s"] for r in mine if r["sustained"]]
        lines.append(f"{name}: max sustained {max(best, default=0):,} deliveries/s "
                     f"(achieved ≥ 98 % regardless of latency: {max(kept, default=0):,})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--senders", type=int, default=0,
                        help="members of each room that send (default: all)")
    parser.add_argument("--rates", default="2000,4000,6000,8000,12000,16000,24000,32000,48000,"
                        "64000,96000,128000,192000",
                        help="offered deliveries/s, in steps (messages/s × members)")
    parser.add_argument("--seconds", type=float, default=5, help="length of each step")
    parser.add_argument("--max-p99-ms", type=float, default=250)
    parser.add_argument("--beyond", type=int, default=1,
                        help="steps still run after the first that is not sustained")
    parser.add_argument("--servers", default="node,socketio,publicrooms",
                        help="comma-separated, run in this order")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SRC",
                        help="a publicrooms server from another tree's src, named NAME")
    parser.add_argument("--repeat", type=int, default=1, help="sittings, order reversed each time")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for every publicrooms server (repeatable), e.g. "
                             "PUBLICROOMS_REDIS_URL=redis://127.0.0.1:6379/0 and "
                             "PUBLICROOMS_SECRET=… for Redis mode")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--generator-cpu", default="1")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--node", metavar="NODE_MODULES",
                        help="node_modules holding socket.io 4.8.1 for the reference server")
    args = parser.parse_args()
    args.variants = dict(v.split("=", 1) for v in args.variant)
    servers = args.servers.split(",")
    results = []
    for sitting in range(args.repeat):
        for kind in servers if sitting % 2 == 0 else servers[::-1]:
            for step in measure(kind, args):
                print(json.dumps(step), flush=True)
                results.append(step)
    print(table(results))


if __name__ == "__main__":
    main()
