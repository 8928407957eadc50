"""Lobby fan-out to idle viewers, RSS per idle connection, and connect storm, beside Node.

Starts a fresh server per measurement (`publicrooms serve` on its defaults plus the capacities
below, media off, SQLite; or bench/node_chat_server.js on plain socket.io 4.8.1) and runs the
client generator bench/lobby.mjs (socket.io-client, one Node process) against it:

    .venv/bin/python bench/lobby.py --node /path/to/node_modules [--viewers 10000]
        [--trials 20] [--storm 500] [--storm-rooms 1] [--only lobby|storm]
        [--servers publicrooms,node,before] [--watchers 2000] [--leave] [--env NAME=VALUE ...]
        [--variant before=/path/to/other/src] [--server-cpu 0 --generator-cpu 1]

`/path/to/node_modules` holds socket.io 4.8.1 (`npm install socket.io@4.8.1`); the clients
come from tests/node/node_modules. Every client has its own loopback address (127.10.x.y for
viewers, 127.100.x.y for the storm), so publicrooms' per-address rules stay at their defaults;
only the system and room capacities are raised. `--variant NAME=SRC` adds a publicrooms server
run from another tree's src (PYTHONPATH), named NAME in `--servers`, to compare two versions in
one sitting. `--server-cpu`/`--generator-cpu` pin the server and the generator each to one
core (`taskset -c`), as the connect-storm figures per core are taken. Prints one JSON line per
measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request

from serving import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_MODULES = os.path.join(HERE, "..", "tests", "node", "node_modules")


def pinned(command: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *command] if cpu else command


def start(kind: str, port: int, node_modules: str | None, storm_rooms: int,
          extra_env: list[str], variants: dict[str, str], cpu: str | None) -> subprocess.Popen:
    if kind == "node":
        if not node_modules:
            sys.exit("--node DIR/node_modules (with socket.io 4.8.1) is needed for the reference")
        return subprocess.Popen(pinned(["node", os.path.join(HERE, "node_chat_server.js"),
                                        str(port)], cpu),
                                env={**os.environ, "NODE_PATH": node_modules})
    rooms = [{"id": "trigger", "name": "Trigger", "capacity": 10},
             {"id": "storm", "name": "Storm", "capacity": 10_000}]
    if storm_rooms > 1:  # the storm spread over rooms storm-0 … storm-(N-1), 10 000 seats in all
        rooms[1:] = [{"id": f"storm-{i}", "name": f"Storm {i}", "capacity": 10_000 // storm_rooms}
                     for i in range(storm_rooms)]
    src = variants.get(kind, os.path.join(HERE, "..", "src"))
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src),
           "PUBLICROOMS_MEDIA__ENABLED": "false",
           "PUBLICROOMS_ROOMS": json.dumps(rooms),
           "PUBLICROOMS_SYSTEM_CAPACITY": "10000",
           "PUBLICROOMS_LOG_LEVEL": "warning",
           **dict(item.split("=", 1) for item in extra_env)}
    return subprocess.Popen(pinned([sys.executable, "-m", "publicrooms.cli", "serve", "--port",
                                    str(port), "--data-dir", tempfile.mkdtemp()], cpu), env=env)


def wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server never became ready")


def measure(kind: str, mode: str, args: argparse.Namespace) -> dict:
    port = free_port()
    server = start(kind, port, args.node, args.storm_rooms, args.env, args.variants,
                   args.server_cpu)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        time.sleep(1)
        load_before = open("/proc/loadavg").read().split()[0]
        command = pinned(["node", os.path.join(HERE, "lobby.mjs"), "--url", url,
                   "--server-pid", str(server.pid), "--client-modules", CLIENT_MODULES,
                   "--mode", mode, "--viewers", str(args.viewers), "--trials", str(args.trials),
                   "--batch", str(args.batch), "--storm", str(args.storm),
                   "--storm-rooms", str(args.storm_rooms), "--watchers", str(args.watchers),
                   "--concurrency", str(args.concurrency or args.storm),
                   "--leave", "1" if args.leave else "0"], args.generator_cpu)
        out = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
        if out.returncode != 0:
            raise RuntimeError(f"generator failed: {out.stderr[-2000:]}")
        sys.stderr.write(out.stderr[-2000:])
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["loadavg"] = f"{load_before} → {open('/proc/loadavg').read().split()[0]}"
        return {"server": kind, **({"env": args.env} if args.env and kind != "node" else {}),
                **result}
    finally:
        server.terminate()
        stopping = time.monotonic()
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        sys.stderr.write(f"{kind}: exited {time.monotonic() - stopping:.1f} s after SIGTERM\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=20, help="seat changes timed")
    parser.add_argument("--batch", type=int, default=200, help="viewers connecting at once")
    parser.add_argument("--storm", type=int, default=500, help="clients in the connect storm")
    parser.add_argument("--storm-rooms", type=int, default=1,
                        help="rooms the storm's clients are spread over, in turn")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="storm clients in flight at once (default: all)")
    parser.add_argument("--watchers", type=int, default=0,
                        help="lobby viewers watching the connect storm")
    parser.add_argument("--leave", action="store_true",
                        help="after the storm, every client leaves at once (needs a watcher)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the publicrooms server (repeatable)")
    parser.add_argument("--only", choices=["lobby", "storm"])
    parser.add_argument("--servers", default="node,publicrooms",
                        help="comma-separated, run in this order")
    parser.add_argument("--repeat", type=int, default=1, help="sittings, order reversed each time")
    parser.add_argument("--server-cpu", help="pin the server to this core (taskset -c)")
    parser.add_argument("--generator-cpu", help="pin the clients' generator to this core")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--node", metavar="NODE_MODULES",
                        help="node_modules holding socket.io 4.8.1 for the reference server")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SRC",
                        help="a publicrooms server run from another src tree, named NAME")
    args = parser.parse_args()
    args.variants = dict(v.split("=", 1) for v in args.variant)
    if args.leave and not args.watchers:
        args.watchers = 1  # the watcher's seat count says when every leave is done
    # Both servers inherit this limit; 10 000 viewers need 10 000 descriptors on each side.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.viewers + 1000:
        print(f"warning: RLIMIT_NOFILE hard limit {hard} < viewers + 1000", file=sys.stderr)
    servers = args.servers.split(",")
    modes = [args.only] if args.only else ["storm", "lobby"]
    for sitting in range(args.repeat):
        order = servers if sitting % 2 == 0 else servers[::-1]
        for mode in modes:
            for kind in order:
                print(json.dumps(measure(kind, mode, args)), flush=True)


if __name__ == "__main__":
    main()
