#!/usr/bin/env python3
"""A big collection during BGSAVE, Ferrocache beside redis-server, on one machine in one run.

Loads one collection of --elements members (sorted set, list or hash) into a fresh server,
then has one client send `TYPE big` in a loop (in Ferrocache it locks the key's shard) while
BGSAVE runs, --saves times, and reports that client's worst wait per save. A snapshot that
copied the collection under its shard's lock shows here as a stall of the copy's length.
With --write the client changes one element instead (ZADD, LSET, HSET), which makes a
copy-on-write server copy what the snapshot still holds.

    python3 benches/snapshot_stall.py [--ferrocache BIN] [--kinds zset,list,hash] [--write]

Prints a Markdown table on stdout. Needs the `redis` Python package and `redis-server`.
"""

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import redis


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(r, kind, n):
    pipe = r.pipeline(transaction=False)
    for i in range(0, n, 1000):
        chunk = range(i, min(i + 1000, n))
        if kind == "zset":
            pipe.zadd("big", {f"member:{j}": j for j in chunk})
        elif kind == "list":
            pipe.rpush("big", *[f"element:{j}" for j in chunk])
        else:
            pipe.hset("big", mapping={f"field:{j}": j for j in chunk})
        if i % 100_000 == 0:
            pipe.execute()
    pipe.execute()


WRITES = {
    "zset": ("ZADD", "big", "0", "member:0"),
    "list": ("LSET", "big", "0", "x"),
    "hash": ("HSET", "big", "field:0", "x"),
}


def worst_waits(binary, kind, n, saves, write):
    """The reader's worst wait (ms) during each of `saves` BGSAVEs."""
    workdir = tempfile.mkdtemp(prefix="snapshot-stall-")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--dir", workdir, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        r = redis.Redis(port=port)
        for _ in range(200):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        load(r, kind, n)
        worst = []
        for _ in range(saves):
            stop = threading.Event()
            waits = []

            command = WRITES[kind] if write else ("TYPE", "big")

            def reader():
                c = redis.Redis(port=port)
                while not stop.is_set():
                    t = time.perf_counter()
                    c.execute_command(*command)
                    waits.append(time.perf_counter() - t)

            thread = threading.Thread(target=reader)
            thread.start()
            time.sleep(0.2)
            r.bgsave()
            while r.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.01)
            time.sleep(0.1)
            stop.set()
            thread.join()
            worst.append(max(waits) * 1000)
        return worst
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferrocache", default=os.path.join(here, "..", "target", "release", "ferrocache"))
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--kinds", default="zset,list,hash")
    ap.add_argument("--elements", type=int, default=2_000_000)
    ap.add_argument("--saves", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="send a write to the collection, not TYPE")
    args = ap.parse_args()
    what = "a write to it (" + ", ".join(" ".join(WRITES[k]) for k in args.kinds.split(",")) + ")" if args.write else "TYPE"
    print(f"Worst wait (ms) of a client sending {what} in a loop during each of {args.saves} BGSAVEs "
          f"of one {args.elements:,}-element collection.\n")
    print("| kind | Ferrocache | Redis |")
    print("|---|--:|--:|")
    for kind in args.kinds.split(","):
        cells = []
        for binary in (args.ferrocache, args.redis_server):
            waits = worst_waits(binary, kind, args.elements, args.saves, args.write)
            cells.append(f"{min(waits):.1f}–{max(waits):.1f}")
        print(f"| {kind} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
