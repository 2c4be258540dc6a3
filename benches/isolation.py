#!/usr/bin/env python3
"""One slow command must not freeze other clients: measured against redis-server.

With N keys loaded (1,000,000 by default), one client runs a long command — KEYS *,
FLUSHALL (sync), SAVE, DEBUG SLEEP 1, MIGRATE to a target that answers after a delay — while
a second client loops PING and GET on a key the command does not write. Reported per
command and server: how long the command took, and the largest PING/GET round trip of the
second client while it ran (redis-server, single-threaded, stalls for the whole command).
Both servers run side by side in alternating rounds; medians of the rounds are printed as
a Markdown table. See docs/PERFORMANCE.md ("One slow command").

Standard library only; reuses compare.py's server handling.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import (  # noqa: E402
    BenchError,
    Conn,
    Server,
    default_ferrocache,
    ensure_ferrocache,
    free_port,
    load_keys,
    log,
    resp_command,
    server_args,
)

PROBE_KEY = "key:%012d" % 7


class SlowTarget:
    """A MIGRATE target that answers every RESTORE with +OK, `delay` seconds late."""

    def __init__(self, delay: float):
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        buf = b""
        with sock:
            while True:
                try:
                    chunk = sock.recv(1 << 16)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                # Each command is a multibulk; answer once per "*" header seen at a line start.
                commands = buf.count(b"\r\n*") + (1 if buf.startswith(b"*") else 0)
                if buf.endswith(b"\r\n") and commands:
                    time.sleep(self.delay)
                    sock.sendall(b"+OK\r\n" * commands)
                    buf = b""

    def close(self) -> None:
        self.stop = True
        self.listener.close()


class Prober(threading.Thread):
    """Loops PING and GET on its own connection, recording each round trip's start and end."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.conn = Conn(port, timeout=120.0)
        self.running = True
        self.lock = threading.Lock()
        self.spans: list[tuple[float, float]] = []

    def run(self) -> None:
        while self.running:
            for cmd in (("PING",), ("GET", PROBE_KEY)):
                start = time.perf_counter()
                self.conn.call(*cmd)
                end = time.perf_counter()
                with self.lock:
                    self.spans.append((start, end))

    def worst_during(self, t0: float, t1: float) -> tuple[float, int]:
        """The longest round trip that overlapped [t0, t1] (waiting for the one in flight at
        t1: a server that stalled answers it only after the command), and how many did."""
        while True:
            with self.lock:
                if self.spans and self.spans[-1][0] >= t1:
                    overlapping = [e - s for s, e in self.spans if e > t0 and s < t1]
                    self.spans = self.spans[-1:]
                    return max(overlapping, default=0.0), len(overlapping)
            time.sleep(0.001)

    def close(self) -> None:
        self.running = False
        self.join(timeout=30)
        self.conn.close()


def run_one(port: int, command: list[str], prober: Prober) -> tuple[float, float, int]:
    """Runs `command` while `prober` probes: (command seconds, worst probe seconds, probes)."""
    conn = Conn(port, timeout=300.0)
    try:
        start = time.perf_counter()
        conn.sock.sendall(resp_command(*command))
        # The reply's first line marks the end of the command; the rest (a million keys) is
        # parsed after the probes are counted, since parsing holds Python's GIL.
        first = conn._line()
        end = time.perf_counter()
        worst, probes = prober.worst_during(start, end)
        conn.read_reply_after(first)
    finally:
        conn.close()
    return end - start, worst, probes


def commands(target_port: int) -> list[tuple[str, list[str], bool]]:
    """(label, command, reloads the keys afterwards)."""
    return [
        ("KEYS *", ["KEYS", "*"], False),
        ("FLUSHALL", ["FLUSHALL"], True),
        ("SAVE", ["SAVE"], False),
        ("DEBUG SLEEP 1", ["DEBUG", "SLEEP", "1"], False),
        (
            "MIGRATE (target answers after 1 s)",
            ["MIGRATE", "127.0.0.1", str(target_port), "key:%012d" % 3, "0", "5000", "COPY"],
            False,
        ),
    ]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--redis-server", default="redis-server")
    p.add_argument("--ferrocache", default=str(default_ferrocache()))
    args = p.parse_args(argv)
    ensure_ferrocache(args)
    target = SlowTarget(delay=1.0)
    results: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="isolation-") as tmp:
        servers = []
        for name, binary in (("Redis", args.redis_server), ("Ferrocache", args.ferrocache)):
            workdir = Path(tmp) / name.lower()
            workdir.mkdir()
            port = free_port()
            argv_ = server_args(binary, port, workdir) + ["--enable-debug-command", "yes"]
            servers.append(Server(name, argv_, workdir, port))
        try:
            for s in servers:
                s.start()
            for r in range(args.rounds):
                for s in servers if r % 2 == 0 else reversed(servers):
                    log(f"round {r + 1}: {s.name}: loading {args.keys} keys")
                    s.flushall()
                    load_keys(s.port, args.keys)
                    prober = Prober(s.port)
                    prober.start()
                    try:
                        for label, cmd, reload in commands(target.port):
                            took, worst, probes = run_one(s.port, cmd, prober)
                            log(f"  {label}: {took * 1000:.0f} ms, worst probe {worst * 1000:.1f} ms ({probes} probes)")
                            results.setdefault((s.name, label), []).append((took, worst, probes))
                            if reload:
                                load_keys(s.port, args.keys)
                    finally:
                        prober.close()
        finally:
            for s in servers:
                s.stop()
            target.close()

    def med(name: str, label: str, i: int) -> float:
        return statistics.median(x[i] for x in results[(name, label)])

    print(f"{args.keys:,} keys, {args.rounds} rounds, medians; probe = the other client's PING/GET round trip\n")
    print("| command | Redis: command | Redis: worst probe | Ferrocache: command | Ferrocache: worst probe |")
    print("|---|---:|---:|---:|---:|")
    for label, _, _ in commands(0):
        print(
            f"| {label} | {med('Redis', label, 0) * 1000:.0f} ms | {med('Redis', label, 1) * 1000:.1f} ms "
            f"| {med('Ferrocache', label, 0) * 1000:.0f} ms | {med('Ferrocache', label, 1) * 1000:.1f} ms |"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
