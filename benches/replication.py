#!/usr/bin/env python3
"""Replication, Ferrocache beside redis-server, on one machine in one run.

Each server kind replicates to a replica of its own kind (Redis -> Redis, Ferrocache ->
Ferrocache), in alternating rounds, and four things are measured:

1. Full sync time: the primary holds N keys (1,000,000 by default; 16-byte names, 10-byte
   values) and sits idle; a fresh, empty replica is sent `REPLICAOF 127.0.0.1 <port>` and
   `INFO replication` is polled every 10 ms until `master_link_status:up`. Once with
   `repl-diskless-sync yes` (the RDB streamed to the socket, Redis 7.0's default) and once
   with `no` (written to disk, then sent); `repl-diskless-sync-delay 0` on the primary.
   The replica's DBSIZE must equal the primary's.
2. Primary throughput: `redis-benchmark -t set -P 16 -c 50 -r N` against the primary, once
   with no replica and once with a replica attached (started with `--replicaof`).
3. Replica lag during that second run: `master_repl_offset` on the primary against
   `slave_repl_offset` on the replica every 100 ms (max and mean bytes), and how long the
   replica takes to catch up once the load stops. Afterwards DBSIZE and a sample of values
   are compared between primary and replica.
4. Primary memory during a full sync under write load: a fresh primary with N keys, a
   `redis-benchmark -t set -P 16 -l` load running, then a replica syncs. VmRSS of the
   primary (plus, for Redis, its fork child's: /proc, found by ppid) and the same processes'
   PSS (/proc/<pid>/smaps_rollup, which counts pages a fork shares with its parent once)
   are sampled every 20 ms from just before REPLICAOF until the link is up.

Medians over the rounds are printed as Markdown tables, with ratios Ferrocache / Redis: the
machine this is written for has 2 cores shared by primary, replica and load generator, so
absolute times say little, and alternating the order spreads slow drift over both.

Standard library only; reuses compare.py's server handling. Progress goes to stderr, the
report to stdout. Usage: python3 benches/replication.py [--keys 1000000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (server start-up/stop, loading, tool checks, machine info)
from compare import BenchError, Conn, Server, free_port, load_keys, log, server_args  # noqa: E402

KINDS = ("Redis", "Ferrocache")
MODES = {"yes": "diskless", "no": "disk"}
VERIFY_SAMPLE = 2000


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def parse_info(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v.strip()
    return fields


def repl_info(conn: Conn) -> dict[str, str]:
    return parse_info(conn.call("INFO", "replication"))


def machine_busy_seconds() -> float:
    """CPU time spent by the whole machine, all cores (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / os.sysconf("SC_CLK_TCK")


def our_cpu_seconds() -> float:
    """CPU time of this script and every process it started and waited for."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def loadavg() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def proc_status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass  # the process (a fork child) may be gone between listing and reading
    return 0


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children_of(pid: int) -> list[int]:
    """Direct children, from /proc/<pid>/task/*/children where the kernel has it, else by
    scanning every process's ppid (this container's kernel lacks CONFIG_PROC_CHILDREN)."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    found_file = False
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                found_file = True
                kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    if found_file:
        return kids
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                after_name = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(after_name[1]) == pid:
            kids.append(int(entry))
    return kids


@dataclass
class MemSample:
    rss_main: int  # KiB, the server process alone
    rss_total: int  # KiB, server + its children (Redis's fork child)
    pss_total: int  # KiB
    children: int


def mem_sample(pid: int) -> MemSample:
    kids = children_of(pid)
    rss_main = proc_status_kib(pid, "VmRSS:")
    rss_kids = sum(proc_status_kib(k, "VmRSS:") for k in kids)
    pss = pss_kib(pid) + sum(pss_kib(k) for k in kids)
    return MemSample(rss_main, rss_main + rss_kids, pss, len(kids))


class Procs:
    """Every redis-benchmark this script starts, so the finally-block can stop them all."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=compare._die_with_parent, **kw)
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def stop_all(self) -> None:
        for p in self.procs:
            try:
                self.stop(p)
            except Exception as e:
                print(f"replication.py: could not stop pid {p.pid}: {e}", file=sys.stderr)


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


class Fleet:
    """Starts primaries and replicas, each in its own directory; stops whatever started."""

    def __init__(self, args, tmp: Path):
        self.args = args
        self.tmp = tmp
        self.servers: list[Server] = []
        self.count = 0

    def start(self, kind: str, role: str, extra: list[str]) -> Server:
        self.count += 1
        binary = self.args.redis_server if kind == "Redis" else self.args.ferrocache_run
        extra = extra + shlex.split(self.args.redis_args if kind == "Redis" else self.args.ferrocache_args)
        workdir = self.tmp / f"{self.count:03d}-{kind.lower()}-{role}"
        workdir.mkdir()
        port = free_port()
        srv = Server(f"{kind}-{role}", server_args(binary, port, workdir) + extra, workdir, port)
        self.servers.append(srv)  # before start: a failed start is still cleaned up
        srv.start()
        return srv

    def primary(self, kind: str, diskless: str = "yes") -> Server:
        return self.start(kind, "primary", ["--repl-diskless-sync", diskless, "--repl-diskless-sync-delay", "0"])

    def replica(self, kind: str, of: Server | None = None) -> Server:
        extra = ["--replicaof", "127.0.0.1", str(of.port)] if of is not None else []
        return self.start(kind, "replica", extra)

    def stop(self, srv: Server) -> None:
        srv.stop()
        if srv in self.servers:
            self.servers.remove(srv)

    def stop_all(self) -> None:
        # Replicas first, so a primary's shutdown doesn't wait for them.
        for srv in sorted(self.servers, key=lambda s: not s.name.endswith("replica")):
            try:
                srv.stop()
            except Exception as e:  # keep stopping the others
                print(f"replication.py: could not stop {srv.name}: {e}", file=sys.stderr)
        self.servers.clear()


def logs_of(*servers: Server) -> str:
    return "\n".join(f"  {s.name} log ({s.log_path}):\n{s.log_tail(30)}" for s in servers)


def dbsize(port: int) -> int:
    c = Conn(port, timeout=60.0)
    try:
        return c.call("DBSIZE")
    finally:
        c.close()


def wait_link_up(args, replica: Server, primary: Server, conn: Conn, t0: float) -> float:
    """Polls the replica's INFO replication until the link is up; seconds since `t0`."""
    while True:
        fields = repl_info(conn)
        now = time.perf_counter()
        if fields.get("master_link_status") == "up":
            return now - t0
        for s in (replica, primary):
            if s.proc.poll() is not None:
                raise BenchError(f"{s.name} exited ({s.proc.returncode}) during the sync:\n" + logs_of(replica, primary))
        if now - t0 > args.sync_timeout:
            raise BenchError(
                f"{replica.name}: link not up {args.sync_timeout:.0f}s after REPLICAOF "
                f"(last INFO: {fields}):\n" + logs_of(replica, primary)
            )
        time.sleep(args.poll_interval)


def full_sync(args, replica: Server, primary: Server) -> float:
    """REPLICAOF on an empty, started replica; seconds until its link is up."""
    c = Conn(replica.port, timeout=60.0)
    try:
        t0 = time.perf_counter()
        reply = c.call("REPLICAOF", "127.0.0.1", str(primary.port))
        if not str(reply).startswith("OK"):
            raise BenchError(f"{replica.name}: REPLICAOF answered {reply!r}")
        return wait_link_up(args, replica, primary, c, t0)
    finally:
        c.close()


def wait_caught_up(args, replica: Server, primary: Server) -> float:
    """With the primary idle: seconds until the replica has processed the whole stream."""
    pc, rc = Conn(primary.port), Conn(replica.port)
    try:
        t0 = time.perf_counter()
        while True:
            p = int(repl_info(pc)["master_repl_offset"])
            r = int(repl_info(rc).get("slave_repl_offset", -1))
            if r >= p:
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > args.sync_timeout:
                raise BenchError(
                    f"{replica.name} did not catch up within {args.sync_timeout:.0f}s "
                    f"(primary offset {p}, replica offset {r}):\n" + logs_of(replica, primary)
                )
            time.sleep(args.poll_interval)
    finally:
        pc.close()
        rc.close()


def verify(args, replica: Server, primary: Server, what: str) -> None:
    """DBSIZE equal, and a sample of keys holding the same values on both."""
    p, r = dbsize(primary.port), dbsize(replica.port)
    if p != r:
        raise BenchError(f"{what}: replica DBSIZE {r} != primary DBSIZE {p}:\n" + logs_of(replica, primary))
    rng = random.Random(42)
    keys = ["key:%012d" % rng.randrange(args.keys) for _ in range(min(VERIFY_SAMPLE, args.keys))]
    pc, rc = Conn(primary.port), Conn(replica.port)
    try:
        for i in range(0, len(keys), 100):
            batch = keys[i:i + 100]
            pv, rv = pc.call("MGET", *batch), rc.call("MGET", *batch)
            for k, a, b in zip(batch, pv, rv):
                if a != b:
                    raise BenchError(f"{what}: {k} is {a!r} on the primary but {b!r} on the replica")
    finally:
        pc.close()
        rc.close()


# --------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------


def bench_argv(args, port: int, loop: bool = False) -> list[str]:
    argv = [
        args.redis_benchmark, "-h", "127.0.0.1", "-p", str(port), "-c", str(args.clients),
        "-r", str(args.keys), "-d", str(args.value_size), "-P", str(args.pipeline), "-t", "set",
    ]
    return argv + (["-l", "-q"] if loop else ["-n", str(args.requests), "--csv"])


def run_set(args, procs: Procs, srv: Server) -> float:
    """One redis-benchmark SET run to completion: requests/s."""
    p = procs.start(bench_argv(args, srv.port), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=60 + args.requests / 2000)
    except subprocess.TimeoutExpired:
        procs.stop(p)
        raise BenchError(f"redis-benchmark against {srv.name} timed out")
    if p.returncode != 0:
        raise BenchError(f"redis-benchmark against {srv.name} failed ({p.returncode}): {err.strip()}")
    if srv.proc.poll() is not None:
        raise BenchError(f"{srv.name} died during the benchmark:\n" + srv.log_tail())
    rows = list(csv.DictReader(io.StringIO(out)))
    if not rows:
        raise BenchError(f"redis-benchmark against {srv.name} printed no result:\n{out}\n{err}")
    return float(rows[0]["rps"])


class LagSampler(threading.Thread):
    """Every `interval` s: primary offset, replica offset, primary offset again; the lag is the
    mean of the two primary readings minus the replica's (the readings aren't simultaneous).
    Samples taken before the primary's offset first moves (redis-benchmark still connecting)
    are left out, so a shorter run isn't credited with more idle samples."""

    def __init__(self, primary: Server, replica: Server, interval: float):
        super().__init__(daemon=True)
        self.pc, self.rc = Conn(primary.port), Conn(replica.port)
        self.interval = interval
        self.running = True
        self.lags: list[float] = []
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            start = int(repl_info(self.pc)["master_repl_offset"])
            while self.running:
                t = time.perf_counter()
                p1 = int(repl_info(self.pc)["master_repl_offset"])
                r = int(repl_info(self.rc)["slave_repl_offset"])
                p2 = int(repl_info(self.pc)["master_repl_offset"])
                if p2 > start:
                    self.lags.append((p1 + p2) / 2 - r)
                time.sleep(max(0.0, self.interval - (time.perf_counter() - t)))
        except Exception as e:  # reported by the caller
            self.error = e

    def finish(self) -> list[float]:
        self.running = False
        self.join(timeout=30)
        self.pc.close()
        self.rc.close()
        if self.error is not None:
            raise BenchError(f"lag sampling failed: {self.error}")
        return self.lags


class MemSampler(threading.Thread):
    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.running = True
        self.samples: list[MemSample] = []

    def run(self) -> None:
        while self.running:
            t = time.perf_counter()
            self.samples.append(mem_sample(self.pid))
            time.sleep(max(0.0, self.interval - (time.perf_counter() - t)))

    def finish(self) -> list[MemSample]:
        self.running = False
        self.join(timeout=30)
        self.samples.append(mem_sample(self.pid))
        return self.samples


# --------------------------------------------------------------------------
# The measurements
# --------------------------------------------------------------------------


@dataclass
class Results:
    values: dict[tuple, list[float]] = field(default_factory=dict)

    def add(self, key: tuple, v: float) -> None:
        self.values.setdefault(key, []).append(v)

    def med(self, *key) -> float:
        return median(self.values.get(tuple(key), []))


def sync_and_throughput(args, fleet: Fleet, procs: Procs, kind: str, res: Results) -> None:
    """Measurements 1-3 on one primary of `kind`."""
    primary = fleet.primary(kind)
    t = time.perf_counter()
    load_keys(primary.port, args.keys)
    log(f"  {kind}: loaded {args.keys:,} keys in {time.perf_counter() - t:.1f}s")

    if not args.skip_throughput:
        # First, while the primary has never had a replica (Redis keeps feeding its backlog
        # for repl-backlog-ttl after the last replica leaves).
        cpu0 = compare.cpu_seconds(primary.pid)
        rps = run_set(args, procs, primary)
        res.add((kind, "rps", "none"), rps)
        res.add((kind, "cpu_primary", "none"), (compare.cpu_seconds(primary.pid) - cpu0) * 1e6 / args.requests)
        log(f"  {kind}: SET -P {args.pipeline}, no replica: {rps:,.0f}/s")

    if not args.skip_sync:
        for mode in args.modes:
            primary_conn = Conn(primary.port)
            try:
                primary_conn.call("CONFIG", "SET", "repl-diskless-sync", mode)
            finally:
                primary_conn.close()
            replica = fleet.replica(kind)
            secs = full_sync(args, replica, primary)
            verify(args, replica, primary, f"{kind} full sync ({MODES[mode]})")
            res.add((kind, "sync", mode), secs)
            log(f"  {kind}: full sync, {MODES[mode]}: {secs:.2f}s, DBSIZE {dbsize(replica.port):,} on both")
            fleet.stop(replica)

    if not args.skip_throughput:
        # The replica started with --replicaof, as from a config file.
        replica = fleet.replica(kind, of=primary)
        rc = Conn(replica.port)
        try:
            wait_link_up(args, replica, primary, rc, time.perf_counter())
        finally:
            rc.close()
        wait_caught_up(args, replica, primary)
        sampler = LagSampler(primary, replica, args.lag_interval)
        sampler.start()
        cpu0 = compare.cpu_seconds(primary.pid), compare.cpu_seconds(replica.pid)
        try:
            rps = run_set(args, procs, primary)
            cpu1 = compare.cpu_seconds(primary.pid), compare.cpu_seconds(replica.pid)
        finally:
            lags = sampler.finish()
        res.add((kind, "cpu_primary", "replica"), (cpu1[0] - cpu0[0]) * 1e6 / args.requests)
        res.add((kind, "cpu_replica", "replica"), (cpu1[1] - cpu0[1]) * 1e6 / args.requests)
        catch_up = wait_caught_up(args, replica, primary)
        verify(args, replica, primary, f"{kind} after the load with a replica")
        res.add((kind, "rps", "replica"), rps)
        res.add((kind, "lag_max"), max(lags, default=float("nan")))
        res.add((kind, "lag_mean"), statistics.mean(lags) if lags else float("nan"))
        res.add((kind, "lag_samples"), len(lags))
        res.add((kind, "catch_up"), catch_up)
        log(
            f"  {kind}: SET -P {args.pipeline}, one replica: {rps:,.0f}/s; lag max {max(lags, default=0):,.0f} B, "
            f"mean {statistics.mean(lags) if lags else 0:,.0f} B over {len(lags)} samples; "
            f"caught up {catch_up * 1000:.0f} ms after the load"
        )
        fleet.stop(replica)
    fleet.stop(primary)


def sync_memory(args, fleet: Fleet, procs: Procs, kind: str, mode: str, res: Results) -> None:
    """Measurement 4: primary memory during a full sync under write load."""
    primary = fleet.primary(kind, diskless=mode)
    load_keys(primary.port, args.keys)
    replica = fleet.replica(kind)
    time.sleep(0.5)
    idle = mem_sample(primary.pid)
    load = procs.start(bench_argv(args, primary.port, loop=True), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    try:
        time.sleep(args.load_warmup)
        if load.poll() is not None:
            raise BenchError(f"redis-benchmark -l against {primary.name} exited ({load.returncode})")
        before = mem_sample(primary.pid)
        sampler = MemSampler(primary.pid, args.rss_interval)
        sampler.start()
        try:
            secs = full_sync(args, replica, primary)
        finally:
            samples = sampler.finish()
    finally:
        procs.stop(load)
    catch_up = wait_caught_up(args, replica, primary)
    verify(args, replica, primary, f"{kind} full sync under load ({MODES[mode]})")
    key = (kind, "mem", mode)
    res.add(key + ("idle",), idle.rss_main)
    res.add(key + ("before_rss",), before.rss_total)
    res.add(key + ("before_pss",), before.pss_total)
    res.add(key + ("peak_rss_main",), max(s.rss_main for s in samples))
    res.add(key + ("peak_rss",), max(s.rss_total for s in samples))
    res.add(key + ("peak_pss",), max(s.pss_total for s in samples))
    res.add(key + ("children",), max(s.children for s in samples))
    res.add(key + ("samples",), len(samples))
    res.add(key + ("secs",), secs)
    res.add(key + ("catch_up",), catch_up)
    log(
        f"  {kind}: full sync under load, {MODES[mode]}: {secs:.2f}s; RSS idle {idle.rss_main / 1024:.0f} MiB, "
        f"before {before.rss_total / 1024:.0f} MiB, peak {max(s.rss_total for s in samples) / 1024:.0f} MiB "
        f"(PSS peak {max(s.pss_total for s in samples) / 1024:.0f} MiB, {max(s.children for s in samples)} "
        f"child process(es), {len(samples)} samples); caught up {catch_up * 1000:.0f} ms after the load"
    )
    fleet.stop(replica)
    fleet.stop(primary)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def ratio(f: float, r: float) -> str:
    return f"{f / r:.2f}" if r and r == r and f == f else "n/a"


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f}"


def report(args, res: Results) -> str:
    out = ["## Replication: Ferrocache vs Redis", ""]
    out += compare.machine_info(args)
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.stat(args.ferrocache_run).st_mtime))
    out += [f"- ferrocache binary built {built}, copied at start-up so a rebuild mid-run doesn't change it"]
    out += [f"- other processes on the machine used {args.others_share:.0%} of its CPU during the run "
            f"(load average at start {args.loadavg_start}); anything else running skews every figure below"]
    out += [
        *([f"- extra flags: Redis `{args.redis_args}`"] if args.redis_args else []),
        *([f"- extra flags: Ferrocache `{args.ferrocache_args}`"] if args.ferrocache_args else []),
        f"- {args.keys:,} keys (`key:%012d` -> `v:%08d`), loaded by a pipelined RESP client; "
        "primary and replica of the same kind on loopback, `--save \"\"`, `--repl-diskless-sync-delay 0`",
        f"- load: `redis-benchmark -t set -c {args.clients} -P {args.pipeline} -d {args.value_size} "
        f"-r {args.keys} -n {args.requests}` (measurement 4: `-l` instead of `-n`, stopped at link up)",
        f"- median of {args.rounds} round(s), Redis and Ferrocache alternating which goes first; "
        "ratio = Ferrocache / Redis",
    ]
    if not args.skip_sync:
        out += [
            "",
            f"### Full sync of {args.keys:,} keys (idle primary)",
            "",
            "From `REPLICAOF` sent to an empty replica until its `master_link_status:up` (polled every "
            f"{args.poll_interval * 1000:.0f} ms); replica DBSIZE and {VERIFY_SAMPLE} sampled values checked "
            "equal to the primary's.",
            "",
            "| primary setting | Redis (s) | Ferrocache (s) | ratio F/R |",
            "|---|--:|--:|--:|",
        ]
        for mode in args.modes:
            r, f = res.med("Redis", "sync", mode), res.med("Ferrocache", "sync", mode)
            out.append(f"| `repl-diskless-sync {mode}` ({MODES[mode]}) | {r:.2f} | {f:.2f} | {ratio(f, r)} |")
    if not args.skip_throughput:
        out += [
            "",
            f"### Primary throughput, SET -P {args.pipeline} -c {args.clients}",
            "",
            "The keys loaded above, overwritten at random. CPU: user + system time of the server process "
            "(all threads, /proc) over the run, per request sent; primary, replica and redis-benchmark share "
            "the cores, so CPU per request bounds throughput.",
            "",
            "| | Redis req/s | Ferrocache req/s | ratio F/R |",
            "|---|--:|--:|--:|",
        ]
        for label, which in (("no replica", "none"), ("one replica attached", "replica")):
            r, f = res.med("Redis", "rps", which), res.med("Ferrocache", "rps", which)
            out.append(f"| {label} | {r:,.0f} | {f:,.0f} | {ratio(f, r)} |")
        rr = res.med("Redis", "rps", "replica") / res.med("Redis", "rps", "none")
        fr = res.med("Ferrocache", "rps", "replica") / res.med("Ferrocache", "rps", "none")
        out.append(f"| with replica / without | {rr:.2f} | {fr:.2f} | |")
        for label, key, which in (
            ("primary CPU µs/request, no replica", "cpu_primary", "none"),
            ("primary CPU µs/request, one replica", "cpu_primary", "replica"),
            ("replica CPU µs/request", "cpu_replica", "replica"),
        ):
            r, f = res.med("Redis", key, which), res.med("Ferrocache", key, which)
            out.append(f"| {label} | {r:.2f} | {f:.2f} | {ratio(f, r)} |")
        out += [
            "",
            "### Replica lag during that load (with replica)",
            "",
            f"Primary `master_repl_offset` minus replica `slave_repl_offset`, sampled every "
            f"{args.lag_interval * 1000:.0f} ms while the load ran; catch-up: from the end of the load until "
            "the replica's offset reached the primary's. DBSIZE and sampled values checked equal afterwards.",
            "",
            "| | Redis | Ferrocache | ratio F/R |",
            "|---|--:|--:|--:|",
        ]
        for label, key, fmt in (
            ("max lag (bytes)", "lag_max", "{:,.0f}"),
            ("mean lag (bytes)", "lag_mean", "{:,.0f}"),
            ("catch-up after the load (ms; polled every "
             f"{args.poll_interval * 1000:.0f} ms)", "catch_up", None),
            ("samples", "lag_samples", "{:.0f}"),
        ):
            r, f = res.med("Redis", key), res.med("Ferrocache", key)
            if fmt is None:
                out.append(f"| {label} | {r * 1000:.0f} | {f * 1000:.0f} | |")
            else:
                out.append(f"| {label} | {fmt.format(r)} | {fmt.format(f)} | {ratio(f, r) if key != 'lag_samples' else ''} |")
    if not args.skip_memory:
        out += [
            "",
            f"### Primary memory during a full sync of {args.keys:,} keys under write load",
            "",
            f"A fresh primary per run; the SET load runs {args.load_warmup:g} s before `REPLICAOF` and until the "
            f"link is up; sampled every {args.rss_interval * 1000:.0f} ms. RSS of primary + child sums VmRSS "
            "of the primary and its children (Redis's fork child; Ferrocache has none), so pages the child "
            "still shares with its parent count twice; PSS (smaps_rollup) counts them once. MiB.",
            "",
            "| primary setting | | Redis | Ferrocache | ratio F/R |",
            "|---|---|--:|--:|--:|",
        ]
        for mode in args.modes:
            k = lambda kind, m: res.med(kind, "mem", mode, m)  # noqa: E731
            rows = (
                ("RSS, keys loaded, idle", "idle", mib),
                ("RSS before the sync (under load)", "before_rss", mib),
                ("peak RSS, primary process alone", "peak_rss_main", mib),
                ("**peak RSS, primary + child**", "peak_rss", mib),
                ("peak PSS, primary + child", "peak_pss", mib),
                ("growth: peak RSS (+ child) - RSS before", ("peak_rss", "before_rss"), None),
                ("growth: peak PSS - PSS before", ("peak_pss", "before_pss"), None),
                ("child processes seen", "children", lambda x: f"{x:.0f}"),
                ("sync time under load (s)", "secs", lambda x: f"{x:.2f}"),
            )
            for label, m, fmt in rows:
                if isinstance(m, tuple):
                    r = k("Redis", m[0]) - k("Redis", m[1])
                    f = k("Ferrocache", m[0]) - k("Ferrocache", m[1])
                    out.append(f"| {MODES[mode]} | {label} | {mib(r)} | {mib(f)} | {ratio(f, r)} |")
                    continue
                r, f = k("Redis", m), k("Ferrocache", m)
                rat = "" if m == "children" else ratio(f, r)
                out.append(f"| {MODES[mode]} | {label} | {fmt(r)} | {fmt(f)} | {rat} |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Replication benchmark, Ferrocache vs redis-server: full sync time, primary throughput "
        "and replica lag with a replica attached, primary memory during a sync under load. Markdown on "
        "stdout, progress on stderr.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--ferrocache", default=str(compare.default_ferrocache()),
                   help="Ferrocache binary (the default path is built with cargo if missing)")
    p.add_argument("--redis-server", default="redis-server", help="redis-server binary")
    p.add_argument("--redis-benchmark", default="redis-benchmark", help="redis-benchmark binary")
    p.add_argument("--ferrocache-args", default="", help="extra flags for every Ferrocache server, e.g. '--busy-poll 0'")
    p.add_argument("--redis-args", default="", help="extra flags for every redis-server")
    p.add_argument("--keys", type=int, default=1_000_000, help="keys on the primary (and redis-benchmark -r)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds; the tables show medians")
    p.add_argument("--modes", default="yes,no", help="repl-diskless-sync settings to measure")
    p.add_argument("--requests", type=int, default=1_000_000, help="redis-benchmark -n of the throughput runs")
    p.add_argument("--clients", type=int, default=50, help="redis-benchmark -c")
    p.add_argument("--pipeline", type=int, default=16, help="redis-benchmark -P")
    p.add_argument("--value-size", type=int, default=3, help="redis-benchmark -d")
    p.add_argument("--poll-interval", type=float, default=0.01, help="seconds between link-status polls")
    p.add_argument("--lag-interval", type=float, default=0.1, help="seconds between replica-lag samples")
    p.add_argument("--rss-interval", type=float, default=0.02, help="seconds between memory samples")
    p.add_argument("--load-warmup", type=float, default=1.0,
                   help="seconds the write load runs before the sync in the memory measurement")
    p.add_argument("--sync-timeout", type=float, default=300.0, help="give up on a sync after this many seconds")
    p.add_argument("--skip-sync", action="store_true", help="skip measurement 1 (full sync time)")
    p.add_argument("--skip-throughput", action="store_true", help="skip measurements 2 and 3")
    p.add_argument("--skip-memory", action="store_true", help="skip measurement 4")
    p.add_argument("--output", metavar="FILE", help="also write the report to FILE")
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in MODES for m in args.modes) or not args.modes:
        p.error("--modes takes yes and/or no")
    if args.rounds < 1 or args.keys < 1:
        p.error("--rounds and --keys must be at least 1")
    return args


def run_all(args, tmp: Path) -> Results:
    fleet = Fleet(args, tmp)
    procs = Procs()
    res = Results()
    try:
        for rnd in range(args.rounds):
            order = KINDS if rnd % 2 == 0 else tuple(reversed(KINDS))
            if not (args.skip_sync and args.skip_throughput):
                for kind in order:
                    log(f"round {rnd + 1}: {kind}: sync time / throughput / lag")
                    sync_and_throughput(args, fleet, procs, kind, res)
            if not args.skip_memory:
                for mode in args.modes:
                    for kind in order:
                        log(f"round {rnd + 1}: {kind}: memory during a {MODES[mode]} sync under load")
                        sync_memory(args, fleet, procs, kind, mode, res)
        return res
    finally:
        # Runs on success, BenchError, Ctrl-C and SIGTERM alike.
        procs.stop_all()
        fleet.stop_all()


def _exit_on_signal(signum, _frame) -> None:
    print(f"replication.py: stopped by {signal.Signals(signum).name}", file=sys.stderr)
    sys.exit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    try:
        compare.ensure_tools(args)
        compare.ensure_ferrocache(args)
        args.git_commit = compare.git_describe()
        args.loadavg_start = loadavg()
        busy0 = machine_busy_seconds()
        time.sleep(1.0)
        busy = (machine_busy_seconds() - busy0) / (os.cpu_count() or 1)
        if busy > 0.1:
            log(f"warning: the machine is {busy:.0%} busy before the start; other work will skew the figures")
        with tempfile.TemporaryDirectory(prefix="ferrocache-repl-bench-") as tmp:
            # A private copy: a `cargo build` finishing mid-run must not change the binary that
            # later servers start from.
            pinned = Path(tmp) / "ferrocache"
            shutil.copy2(args.ferrocache, pinned)
            args.ferrocache_run = str(pinned)
            t0, machine0, ours0 = time.monotonic(), machine_busy_seconds(), our_cpu_seconds()
            res = run_all(args, Path(tmp))
            wall = time.monotonic() - t0
            # Every server and redis-benchmark has been waited for by now, so their CPU (and
            # that of Redis's fork children, which Redis waited for) is in RUSAGE_CHILDREN.
            others = (machine_busy_seconds() - machine0) - (our_cpu_seconds() - ours0)
            args.others_share = max(0.0, others) / (wall * (os.cpu_count() or 1))
            log(f"done in {wall:.0f}s; other processes used {args.others_share:.0%} of the machine's CPU meanwhile")
            text = report(args, res)
    except BenchError as e:
        print(f"replication.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("replication.py: interrupted", file=sys.stderr)
        return 130
    sys.stdout.write(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
