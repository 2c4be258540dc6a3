#!/usr/bin/env python3
"""BGSAVE under load, Ferrocache beside redis-server, on one machine in one run.

Both servers get the same 1,000,000 keys (16-byte names, 10-byte values). Then, for each server
in alternating rounds, redis-benchmark runs SET (or GET) over that keyspace twice: once quietly,
once with a BGSAVE issued shortly after it starts. The report shows requests/s and p99 for both
runs, how long the save took, and the ratios: with-save / quiet for each server, and
Ferrocache / Redis for each figure (medians over the rounds).

Redis forks and writes from the child; Ferrocache takes a point-in-time cut and copies shards in
the background (a writer may copy the shard it needs first). See docs/PERSISTENCE.md.

Usage: python3 benches/bgsave.py [--rounds 3] [--requests 300000] [--output FILE]
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (shares server start-up, loading and tool checks)
from compare import BenchError, Server, info, load_keys, log  # noqa: E402


def run_load(args, srv: Server, test: str, with_save: bool) -> dict:
    """One redis-benchmark run of `test`; with `with_save`, a BGSAVE 0.2 s in.

    Returns rps, p99 and (with a save) how long the save took, measured by polling
    rdb_bgsave_in_progress every 10 ms.
    """
    argv = [
        args.redis_benchmark, "-h", "127.0.0.1", "-p", str(srv.port), "-c", str(args.clients),
        "-n", str(args.requests), "-r", str(args.keys), "-d", "10", "-P", "1", "-t", test, "--csv",
    ]
    bench = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    save_secs = None
    if with_save:
        time.sleep(0.2)
        c = compare.Conn(srv.port, timeout=30.0)
        try:
            reply = c.call("BGSAVE")
            if reply != "Background saving started":
                raise BenchError(f"{srv.name}: BGSAVE answered {reply!r}")
            t0 = time.monotonic()
            while info(srv.port, "persistence")["rdb_bgsave_in_progress"] == "1":
                time.sleep(0.01)
            save_secs = time.monotonic() - t0
            if info(srv.port, "persistence")["rdb_last_bgsave_status"] != "ok":
                raise BenchError(f"{srv.name}: BGSAVE failed:\n" + srv.log_tail())
        finally:
            c.close()
    out, err = bench.communicate(timeout=600)
    if bench.returncode != 0:
        raise BenchError(f"redis-benchmark against {srv.name} failed: {err.strip()}")
    rows = list(csv.DictReader(io.StringIO(out)))
    if not rows:
        raise BenchError(f"redis-benchmark against {srv.name} printed no result:\n{out}\n{err}")
    row = rows[0]
    return {"rps": float(row["rps"]), "p99": float(row["p99_latency_ms"]), "save": save_secs}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ferrocache", default=str(compare.default_ferrocache()))
    p.add_argument("--redis-server", default="redis-server")
    p.add_argument("--redis-benchmark", default="redis-benchmark")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=300_000, help="-n per run (long enough to cover the save)")
    p.add_argument("--tests", default="set,get")
    p.add_argument("--output", metavar="FILE")
    args = p.parse_args(argv)
    compare.ensure_tools(args)
    compare.ensure_ferrocache(args)
    args.git_commit = compare.git_describe()
    tests = args.tests.split(",")
    # (server, test, with_save) -> [run]
    runs: dict[tuple[str, str, bool], list[dict]] = {}
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="ferrocache-bgsave-") as tmp:
        try:
            compare.start_servers(args, Path(tmp), servers)
            for srv in servers:
                log(f"{srv.name}: loading {args.keys:,} keys")
                load_keys(srv.port, args.keys)
            for r in range(args.rounds):
                for test in tests:
                    for srv in servers:
                        for with_save in (False, True):
                            res = run_load(args, srv, test, with_save)
                            runs.setdefault((srv.name, test, with_save), []).append(res)
                            saved = f", save {res['save']:.2f}s" if with_save else ""
                            log(f"  round {r + 1} {test} {srv.name} {'with BGSAVE' if with_save else 'quiet'}: "
                                f"{res['rps']:,.0f} req/s, p99 {res['p99']:.3f} ms{saved}")
        finally:
            for s in servers:
                s.stop()

    def m(name, test, with_save, field):
        return median(r[field] for r in runs[(name, test, with_save)])

    lines = [
        f"BGSAVE of {args.keys:,} keys during `redis-benchmark -t <test> -c {args.clients} -n {args.requests} "
        f"-r {args.keys} -d 10 -P 1`; medians of {args.rounds} rounds.",
        "",
        *compare.machine_info(args),
        "",
        "| test | server | quiet req/s | with BGSAVE req/s | ratio | quiet p99 ms | with BGSAVE p99 ms | ratio | save s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for test in tests:
        for name in ("Redis", "Ferrocache"):
            q_rps, s_rps = m(name, test, False, "rps"), m(name, test, True, "rps")
            q_p99, s_p99 = m(name, test, False, "p99"), m(name, test, True, "p99")
            lines.append(
                f"| {test.upper()} | {name} | {q_rps:,.0f} | {s_rps:,.0f} | {s_rps / q_rps:.2f} | {q_p99:.3f} | "
                f"{s_p99:.3f} | {s_p99 / q_p99:.2f} | {m(name, test, True, 'save'):.2f} |"
            )
        lines.append(
            f"| {test.upper()} | **Ferrocache / Redis** | {m('Ferrocache', test, False, 'rps') / m('Redis', test, False, 'rps'):.2f} | "
            f"{m('Ferrocache', test, True, 'rps') / m('Redis', test, True, 'rps'):.2f} | | "
            f"{m('Ferrocache', test, False, 'p99') / m('Redis', test, False, 'p99'):.2f} | "
            f"{m('Ferrocache', test, True, 'p99') / m('Redis', test, True, 'p99'):.2f} | | "
            f"{m('Ferrocache', test, True, 'save') / m('Redis', test, True, 'save'):.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"bgsave.py: {e}", file=sys.stderr)
        sys.exit(1)
