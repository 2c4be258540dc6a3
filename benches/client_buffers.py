#!/usr/bin/env python3
"""What clients that stop reading cost the server: its RSS before and after.

Each scenario starts a fresh server, stores a value, then opens clients that pipeline
`GET` of that value without ever reading a reply, until the server stops taking their
requests (no progress for a while) or a cap on what they sent. The server's RSS
(/proc/<pid>/status VmRSS) is sampled before, once every client stalled, and 3 s later
after MEMORY PURGE (what stays held):

- one:        one such client;
- one-big:    one client that first SET a 50 MB value (growing its query buffer);
- twenty-big: twenty of those.

The numbers are in docs/OPERATIONS.md ("Client buffers"). Standard library only;
raw sockets, no client library.

    benches/client_buffers.py [--server target/release/ferrocache] [--value-kb 64]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BIG_SET = 50 * 1024 * 1024
STALL_S = 1.5
SETTLE_S = 3.0
SENT_CAP = 64 * 1024 * 1024


def command(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def read_reply_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise RuntimeError("connection closed")
        data += chunk
    return data


def read_bulk(sock: socket.socket) -> bytes:
    header = read_reply_line(sock)
    assert header.startswith(b"$"), header
    n = int(header[1:-2])
    data = b""
    while len(data) < n + 2:
        data += sock.recv(n + 2 - len(data))
    return data[:-2]


def connect(port: int) -> socket.socket:
    deadline = time.monotonic() + 15
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stalled_client(port: int, big_set: bool) -> socket.socket:
    """A client (optionally after a 50 MB SET) that sends GETs until the server stops taking them."""
    s = connect(port)
    if big_set:
        s.sendall(command(b"SET", b"big", b"x" * BIG_SET))
        assert read_reply_line(s) == b"+OK\r\n"
        s.sendall(command(b"DEL", b"big"))
        read_reply_line(s)
    s.setblocking(False)
    return s


def pump(clients: list[socket.socket]) -> int:
    """Sends pipelined GETs on every client until each one stalls; returns bytes sent."""
    chunk = command(b"GET", b"v") * 4096
    last_progress = {id(c): time.monotonic() for c in clients}
    sent = {id(c): 0 for c in clients}
    live = list(clients)
    while live:
        for c in list(live):
            try:
                n = c.send(chunk)
                sent[id(c)] += n
                last_progress[id(c)] = time.monotonic()
            except BlockingIOError:
                pass
            except OSError:  # closed by the server (an output buffer limit)
                live.remove(c)
                continue
            if sent[id(c)] >= SENT_CAP or time.monotonic() - last_progress[id(c)] > STALL_S:
                live.remove(c)
        time.sleep(0.001)
    return sum(sent.values())


def scenario(server: str, value_kb: int, clients: int, big_set: bool) -> tuple[int, int, int]:
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen(
            [server, "--port", str(port), "--save", "", "--dir", d],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            setup = connect(port)
            setup.sendall(command(b"SET", b"v", b"v" * (value_kb * 1024)))
            assert read_reply_line(setup) == b"+OK\r\n"
            time.sleep(0.5)
            before = rss_kb(proc.pid)
            socks = [stalled_client(port, big_set) for _ in range(clients)]
            sent = pump(socks)
            after = rss_kb(proc.pid)
            # What stays held: buffers shrink back within a few seconds, and MEMORY PURGE
            # hands jemalloc's freed pages back, so that only live memory is counted.
            time.sleep(SETTLE_S)
            setup.sendall(command(b"MEMORY", b"PURGE"))
            read_reply_line(setup)
            held = rss_kb(proc.pid)
            setup.sendall(command(b"CLIENT", b"LIST"))
            listing = read_bulk(setup).decode()
            tot_mem = sum(int(f.split("=")[1]) for f in listing.split() if f.startswith("tot-mem="))
            if os.environ.get("SHOW_CLIENTS"):
                print(listing, file=sys.stderr)
            for s in socks:
                s.close()
            return before, after, held, sent, tot_mem
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default=str(REPO_ROOT / "target/release/ferrocache"))
    ap.add_argument("--value-kb", type=int, default=64)
    args = ap.parse_args()
    if not os.access(args.server, os.X_OK):
        print(f"no server binary at {args.server}", file=sys.stderr)
        return 2
    print(f"server: {args.server}, GET of a {args.value_kb} KB value\n")
    print("| scenario | RSS before | RSS once stalled | RSS 3 s later, purged | held | CLIENT LIST tot-mem | requests sent |")
    print("|---|---|---|---|---|---|---|")
    for name, clients, big in [("one", 1, False), ("one-big", 1, True), ("twenty-big", 20, True)]:
        before, after, held, sent, tot_mem = scenario(args.server, args.value_kb, clients, big)
        print(
            f"| {name} | {before / 1024:.1f} MB | {after / 1024:.1f} MB | {held / 1024:.1f} MB | "
            f"{(held - before) / 1024:.1f} MB | {tot_mem / 1024 / 1024:.1f} MB | {sent / 1024 / 1024:.1f} MB |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
