#!/usr/bin/env python3
"""Connection storms, Ferrocache beside redis-server, on one machine in one run.

Two scenarios, each with N back-to-back connections from one client (default 5,000):

  ping-close   connect, PING, read +PONG, close; one connection at a time.
  held-open    connect all N without reading (each stays open), then PING on every one and
               read every +PONG. Connects land in the listen backlog faster than a server
               accepts them; a backlog too short drops handshakes, which the client's kernel
               retries after a second. Reported: the time to connect all N, and to the last PONG.

Both servers run with the same flags (compare.server_args) and this script's descriptor limit
raised to its hard limit first (the servers inherit it), so maxclients 10,000 fits. Rounds
alternate between the servers; the report gives medians and Ferrocache / Redis time ratios
(below 1: Ferrocache is faster).

Usage: python3 benches/connect_storm.py [--connections 5000] [--rounds 3] [--output FILE]
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (shares server start-up and tool checks)
from compare import BenchError, Server, log  # noqa: E402

PING = b"*1\r\n$4\r\nPING\r\n"
PONG = b"+PONG\r\n"


def read_pong(s: socket.socket) -> None:
    got = b""
    while len(got) < len(PONG):
        chunk = s.recv(len(PONG) - len(got))
        if not chunk:
            raise BenchError(f"closed after {got!r}")
        got += chunk
    if got != PONG:
        raise BenchError(f"expected +PONG, got {got!r}")


def ping_close(port: int, n: int) -> dict[str, float]:
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(PING)
        read_pong(s)
        s.close()
    return {"total": time.monotonic() - t0}


def held_open(port: int, n: int) -> dict[str, float]:
    socks = []
    t0 = time.monotonic()
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        connected = time.monotonic() - t0
        for s in socks:
            s.sendall(PING)
        for s in socks:
            read_pong(s)
        return {"connect": connected, "total": time.monotonic() - t0}
    finally:
        for s in socks:
            s.close()


SCENARIOS = {"ping-close": ping_close, "held-open": held_open}


def wait_drained(port: int, timeout: float = 30.0) -> None:
    """Until the server counts only the one client asking (the storm's connections closed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if compare.info(port, "clients").get("connected_clients") == "1":
            return
        time.sleep(0.05)
    raise BenchError(f"port {port}: connections still open {timeout:.0f}s after the storm")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ferrocache", default=str(compare.default_ferrocache()), help="ferrocache binary")
    p.add_argument("--redis-server", default="redis-server", help="redis-server binary")
    p.add_argument("--redis-benchmark", default="redis-benchmark", help="(checked by compare's tool check)")
    p.add_argument("--connections", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--output", help="also write the report here")
    args = p.parse_args(argv)
    try:
        compare.ensure_tools(args)
        compare.ensure_ferrocache(args)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = args.connections + 1024
        if hard != resource.RLIM_INFINITY and hard < want:
            raise BenchError(f"the hard descriptor limit {hard} is below {want}: raise it (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if soft < want else soft, hard))
        with tempfile.TemporaryDirectory(prefix="connect-storm-") as tmp:
            servers = []
            for name, binary in (("Ferrocache", args.ferrocache), ("Redis", args.redis_server)):
                workdir = Path(tmp) / name.lower()
                workdir.mkdir()
                port = compare.free_port()
                servers.append(Server(name, compare.server_args(binary, port, workdir), workdir, port))
            samples: dict[tuple[str, str, str], list[float]] = {}
            try:
                for srv in servers:
                    srv.start()
                for r in range(args.rounds):
                    for scenario, run in SCENARIOS.items():
                        for srv in servers:
                            times = run(srv.port, args.connections)
                            wait_drained(srv.port)
                            log(f"round {r + 1} {scenario:10} {srv.name:10} "
                                + " ".join(f"{k} {v:.3f}s" for k, v in times.items()))
                            for k, v in times.items():
                                samples.setdefault((scenario, k, srv.name), []).append(v)
            finally:
                for srv in servers:
                    srv.stop()
        lines = [
            f"connect_storm.py: {args.connections} connections, {args.rounds} rounds, medians",
            "",
            "| scenario | measure | Ferrocache s | Redis s | Ferrocache / Redis |",
            "|---|---|---|---|---|",
        ]
        for scenario in SCENARIOS:
            for measure in ("connect", "total"):
                f = samples.get((scenario, measure, "Ferrocache"))
                if not f:
                    continue
                fm = statistics.median(f)
                rm = statistics.median(samples[(scenario, measure, "Redis")])
                lines.append(f"| {scenario} | {measure} | {fm:.3f} | {rm:.3f} | {fm / rm:.2f} |")
        text = "\n".join(lines)
        print(text)
        if args.output:
            Path(args.output).write_text(text + "\n")
        return 0
    except BenchError as e:
        print(f"connect_storm.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
