#!/usr/bin/env python3
"""Side-by-side benchmark of Ferrocache against a real redis-server.

One run, one machine: both servers are started on loopback with equivalent
settings, `redis-benchmark` is pointed at each of them in alternation for a
few rounds, and the medians are printed as a Markdown table together with
memory per key (strings) and per element (hashes, sets, sorted sets, lists). See docs/PERFORMANCE.md for how to read it.

Standard library only, so it runs anywhere python3 and redis-tools are.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "apt-get install -y redis-server redis-tools"

# redis-benchmark names MSET after its fixed 10-key batch; map back to the
# name the user asked for with -t so the table reads naturally.
TEST_LABELS = {"SET": "SET", "GET": "GET", "INCR": "INCR", "MSET (10 keys)": "MSET"}
# A custom command's CSV row is named by the command line.
TEST_LABELS_BY_PREFIX = {"MGET ": "MGET"}

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


class BenchError(Exception):
    """A failure worth a one-line message rather than a traceback."""


# --------------------------------------------------------------------------
# Talking to a server: just enough RESP for PING, INFO, FLUSHALL and a loader.
# A client library would be a dependency; these few commands don't need one.
# --------------------------------------------------------------------------


def resp_command(*args: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Conn:
    def __init__(self, port: int, timeout: float = 30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise BenchError("server closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self):
        # Only the reply types our commands produce: status, error, integer, bulk, array.
        return self.read_reply_after(self._line())

    def read_reply_after(self, line: bytes):
        """The reply whose first line is `line` (already read)."""
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise BenchError(f"server error: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2 :]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read_reply() for _ in range(n)]
        raise BenchError(f"unexpected reply {line[:60]!r}")

    def call(self, *args: str):
        self.sock.sendall(resp_command(*args))
        return self.read_reply()

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def info(port: int, section: str) -> dict[str, str]:
    c = Conn(port)
    try:
        text = c.call("INFO", section)
    finally:
        c.close()
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v
    return fields


def free_port() -> int:
    # Let the kernel pick: avoids colliding with anything else on the box.
    # There is a small window before the server binds it; start-up fails
    # loudly in that case rather than benchmarking the wrong process.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_rss_bytes(pid: int) -> int:
    # Read /proc directly rather than trusting INFO used_memory_rss, so both
    # servers are measured by the same ruler.
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads, from /proc (same ruler for both)."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces; the fields after its closing parenthesis don't.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# Server processes
# --------------------------------------------------------------------------


def _die_with_parent() -> None:
    # If this script is SIGKILLed its finally-blocks never run; PR_SET_PDEATHSIG
    # makes the kernel take the servers down with it instead of leaving orphans.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        pass


@dataclass
class Server:
    name: str
    argv: list[str]
    workdir: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    def start(self) -> None:
        self.log_path = self.workdir / f"{self.name.lower()}.log"
        log = open(self.log_path, "wb")
        # Own session: a Ctrl-C in the terminal reaches only this script, which
        # then stops the servers in order instead of racing them.
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last_err: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with status {self.proc.returncode} during start-up:\n"
                    + self.log_tail()
                )
            try:
                c = Conn(self.port, timeout=1.0)
                try:
                    if c.call("PING") == "PONG":
                        return
                finally:
                    c.close()
            except (OSError, BenchError) as e:
                last_err = e
            time.sleep(0.1)
        raise BenchError(
            f"{self.name} did not answer PING on port {self.port} within "
            f"{READY_TIMEOUT_S:.0f}s (last error: {last_err}):\n" + self.log_tail()
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join("    " + l for l in text[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # SIGTERM is a graceful stop for both; escalate if that hangs.
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def flushall(self) -> None:
        c = Conn(self.port, timeout=120.0)
        try:
            c.call("FLUSHALL")
        finally:
            c.close()


def server_args(binary: str, port: int, workdir: Path) -> list[str]:
    # Identical flags for both: no persistence, loopback only, no memory cap,
    # so neither server does background work the other doesn't.
    return [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--daemonize", "no",
    ]


# --------------------------------------------------------------------------
# Throughput
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    size: int
    pipeline: int
    requests: int


@dataclass
class Sample:
    rps: float
    p50: float
    p99: float


@dataclass
class Results:
    # (server, test, size, pipeline) -> samples over rounds
    samples: dict[tuple[str, str, int, int], list[Sample]] = field(default_factory=dict)
    # (server, load label) -> server CPU microseconds per request, over rounds
    cpu: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add_cpu(self, server: str, load: str, us_per_request: float) -> None:
        self.cpu.setdefault((server, load), []).append(us_per_request)

    def median_cpu(self, server: str, load: str) -> float:
        return statistics.median(self.cpu[(server, load)])

    def add(self, server: str, test: str, wl: Workload, s: Sample) -> None:
        self.samples.setdefault((server, test, wl.size, wl.pipeline), []).append(s)

    def median(self, server: str, test: str, wl: Workload) -> Sample:
        ss = self.samples[(server, test, wl.size, wl.pipeline)]
        return Sample(
            statistics.median(s.rps for s in ss),
            statistics.median(s.p50 for s in ss),
            statistics.median(s.p99 for s in ss),
        )


def benchmark_argv(args, port: int, wl: Workload) -> list[str]:
    return [
        args.redis_benchmark,
        "-h", "127.0.0.1",
        "-p", str(port),
        "-c", str(args.clients),
        "-n", str(wl.requests),
        "-r", str(args.keyspace),
        "-d", str(wl.size),
        "-P", str(wl.pipeline),
        "-t", args.tests,
        "--csv",
    ]


def mget_argv(args, port: int, wl: Workload) -> list[str]:
    """redis-benchmark has no MGET test: a custom command, each key drawn apart from `-r`."""
    argv = benchmark_argv(args, port, wl)
    at = argv.index("-t")
    del argv[at:at + 2]
    at = argv.index("-d")
    del argv[at:at + 2]
    return argv + ["MGET"] + ["key:__rand_int__"] * args.mget_keys


def reported_tests(args) -> list[str]:
    return [t.upper() for t in args.tests.split(",")] + (["MGET"] if args.mget_keys else [])


def run_benchmark(args, server: Server, wl: Workload) -> dict[str, Sample]:
    expected = [t.upper() for t in args.tests.split(",")]
    rows = run_benchmark_argv(args, server, wl, benchmark_argv(args, server.port, wl), expected)
    if args.mget_keys:
        # Runs on the keyspace the -t tests just wrote (SET, MSET), the same for both servers.
        argv = mget_argv(args, server.port, wl)
        rows |= run_benchmark_argv(args, server, wl, argv, ["MGET"])
    return rows


def run_benchmark_argv(
    args, server: Server, wl: Workload, argv: list[str], expected: list[str]
) -> dict[str, Sample]:
    # Generous bound: a hung server should fail the run, not stall it forever.
    timeout = 60 + wl.requests * len(args.tests.split(",")) / 2000
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"redis-benchmark against {server.name} timed out after {timeout:.0f}s")
    if p.returncode != 0:
        raise BenchError(
            f"redis-benchmark against {server.name} failed ({p.returncode}):\n{p.stderr.strip()}"
        )
    if server.proc.poll() is not None:
        raise BenchError(f"{server.name} died during the benchmark:\n" + server.log_tail())
    rows = {}
    for row in csv.DictReader(io.StringIO(p.stdout)):
        # LRANGE_* fill their list first with an LPUSH run of their own: not the LPUSH test.
        if row["test"].startswith("LPUSH (needed"):
            continue
        test = TEST_LABELS.get(row["test"]) or next(
            (label for prefix, label in TEST_LABELS_BY_PREFIX.items() if row["test"].startswith(prefix)),
            # "LRANGE_100 (first 100 elements)" is the test lrange_100.
            row["test"].split(" (")[0],
        )
        rows[test] = Sample(
            float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])
        )
    missing = [t for t in expected if t not in rows]
    if missing:
        # redis-benchmark prints errors (e.g. an unknown command) on stdout and
        # carries on; a missing row means the server failed that test.
        raise BenchError(
            f"redis-benchmark against {server.name} produced no result for {missing}:\n"
            f"{p.stdout.strip()}\n{p.stderr.strip()}"
        )
    return rows


def run_throughput(args, servers: list[Server], workloads: list[Workload]) -> Results:
    results = Results()
    total = args.rounds * len(workloads) * len(servers)
    done = 0
    for rnd in range(args.rounds):
        # Alternate which server goes first so slow drift (thermal, noisy
        # neighbours, page cache) doesn't always penalise the same one.
        order = servers if rnd % 2 == 0 else list(reversed(servers))
        for wl in workloads:
            for srv in order:
                done += 1
                log(
                    f"[{done}/{total}] round {rnd + 1}: {srv.name} "
                    f"-d {wl.size} -P {wl.pipeline} -n {wl.requests}"
                )
                # Every run starts from an empty keyspace, so GET hit rates and
                # table sizes are the same for both servers.
                srv.flushall()
                t0 = time.monotonic()
                cpu0 = cpu_seconds(srv.pid)
                rows = run_benchmark(args, srv, wl)
                requests = wl.requests * (len(args.tests.split(",")) + (1 if args.mget_keys else 0))
                results.add_cpu(srv.name, workload_label(args, wl), (cpu_seconds(srv.pid) - cpu0) * 1e6 / requests)
                for test, s in rows.items():
                    results.add(srv.name, test, wl, s)
                log(
                    f"    {time.monotonic() - t0:5.1f}s  "
                    + "  ".join(f"{t} {s.rps:,.0f}/s p99 {s.p99:.3f}" for t, s in rows.items())
                )
    if not args.skip_cpu:
        run_cpu_loads(args, servers, results)
    for srv in servers:
        srv.flushall()
    return results


def workload_label(args, wl: Workload) -> str:
    return f"closed loop -c {args.clients} -d {wl.size} -P {wl.pipeline} (all tests)"


def run_cpu_loads(args, servers: list[Server], results: Results) -> None:
    """Server CPU per request at light loads: one client in a closed loop, and one client
    paced at fixed rates (where busy polling must not spin a core for nothing)."""
    for rnd in range(args.rounds):
        for srv in servers if rnd % 2 == 0 else list(reversed(servers)):
            n = args.requests
            argv = [args.redis_benchmark, "-h", "127.0.0.1", "-p", str(srv.port), "-c", "1", "-n", str(n),
                    "-r", str(args.keyspace), "-t", "get", "--csv"]
            cpu0 = cpu_seconds(srv.pid)
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60 + n / 1000)
            if p.returncode != 0:
                raise BenchError(f"redis-benchmark -c 1 against {srv.name} failed: {p.stderr.strip()}")
            results.add_cpu(srv.name, "closed loop -c 1 GET", (cpu_seconds(srv.pid) - cpu0) * 1e6 / n)
            for rate in (int(r) for r in args.cpu_paced_rates.split(",")):
                sent, cpu = paced_gets(srv, rate, args.cpu_paced_seconds)
                log(f"    {srv.name}: paced {rate}/s: {sent} GETs, {cpu * 1000 / args.cpu_paced_seconds:.0f} ms CPU/s")
                results.add_cpu(srv.name, f"paced {rate:,} GET/s, one client", cpu * 1e6 / sent)


def paced_gets(srv: Server, rate: int, seconds: float) -> tuple[int, float]:
    """GETs from one connection, one every 1/rate s, for `seconds`: (requests, server CPU s)."""
    c = Conn(srv.port)
    try:
        get = resp_command("GET", "key:000000000001")
        interval = 1.0 / rate
        cpu0 = cpu_seconds(srv.pid)
        start = time.perf_counter()
        sent = 0
        while True:
            due = start + sent * interval
            now = time.perf_counter()
            if due - start >= seconds:
                break
            if due > now:
                time.sleep(due - now)
            c.sock.sendall(get)
            c.read_reply()
            sent += 1
        return sent, cpu_seconds(srv.pid) - cpu0
    finally:
        c.close()


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


def load_keys(port: int, n: int, batch: int = 10_000) -> None:
    """SET key:%012d (16 bytes) -> v:%08d (10 bytes), pipelined in batches.

    Each batch is sent whole and its replies read back before the next, which
    keeps both socket buffers bounded (no deadlock) while still amortising the
    round trip over thousands of commands.
    """
    ok = b"+OK\r\n"
    c = Conn(port, timeout=120.0)
    try:
        for start in range(0, n, batch):
            end = min(start + batch, n)
            payload = b"".join(
                b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$10\r\nv:%08d\r\n" % (i, i)
                for i in range(start, end)
            )
            c.sock.sendall(payload)
            replies = c.read_exact(len(ok) * (end - start))
            if replies != ok * (end - start):
                raise BenchError(f"unexpected reply while loading keys: {replies[:80]!r}")
    finally:
        c.close()


@dataclass
class MemResult:
    rss_before: int
    rss_after: int
    used_before: int
    used_after: int
    keys: int
    # RSS again after the server sat idle for `settle_s`: both allocators return freed pages
    # to the OS over time (jemalloc's background purging), so the first reading includes
    # pages a growing table just freed.
    rss_idle: int
    settle_s: float

    @property
    def rss_per_key(self) -> float:
        return (self.rss_after - self.rss_before) / self.keys

    @property
    def rss_idle_per_key(self) -> float:
        return (self.rss_idle - self.rss_before) / self.keys

    @property
    def used_per_key(self) -> float:
        return (self.used_after - self.used_before) / self.keys


def measure_memory(srv: Server, n: int, settle_s: float) -> MemResult:
    srv.flushall()
    time.sleep(0.5)  # let allocator stats settle after start-up/flush
    rss0 = vm_rss_bytes(srv.pid)
    used0 = int(info(srv.port, "memory")["used_memory"])
    t0 = time.monotonic()
    load_keys(srv.port, n)
    got = int(info(srv.port, "keyspace").get("db0", "keys=0").split(",")[0].split("=")[1])
    if got != n:
        raise BenchError(f"{srv.name}: loaded {n} keys but DBSIZE says {got}")
    time.sleep(0.5)
    rss1 = vm_rss_bytes(srv.pid)
    used1 = int(info(srv.port, "memory")["used_memory"])
    log(f"    {srv.name}: loaded {n:,} keys in {time.monotonic() - t0:.1f}s; idle {settle_s:g}s")
    time.sleep(settle_s)
    return MemResult(rss0, rss1, used0, used1, n, vm_rss_bytes(srv.pid), settle_s)


# Issue 18's memory goal: bytes per element of small hashes, small sets, one big sorted set and
# one big list. Each kind: (label of n units, elements per unit, the command filling unit i).
COLLECTIONS = {
    "hash": ("{n:,} hashes of 10 fields", 10, lambda i: resp_command(
        "HSET", f"h:{i}", *[x for j in range(10) for x in (f"field:{j}", f"value:{j}")])),
    "set": ("{n:,} sets of 10 members", 10, lambda i: resp_command(
        "SADD", f"s:{i}", *[f"member:{j}" for j in range(10)])),
    "zset": ("one sorted set", 1, lambda i: resp_command("ZADD", "bigz", str(i), f"member:{i}")),
    "list": ("one list", 1, lambda i: resp_command("RPUSH", "bigl", f"element:{i}")),
}


def load_collection(port: int, kind: str, n: int, batch: int = 2_000) -> None:
    """Sends the `n` commands filling `kind`, pipelined in batches (see `load_keys`)."""
    command = COLLECTIONS[kind][2]
    c = Conn(port, timeout=120.0)
    try:
        for start in range(0, n, batch):
            end = min(start + batch, n)
            c.sock.sendall(b"".join(command(i) for i in range(start, end)))
            for _ in range(end - start):
                c.read_reply()  # raises on an error reply
    finally:
        c.close()


@dataclass
class CollectionMem:
    kind: str
    units: int
    elements: int
    used: int  # used_memory growth, bytes
    rss: int  # RSS growth, bytes


def measure_collection(srv: Server, kind: str, units: int) -> CollectionMem:
    srv.flushall()
    time.sleep(0.5)  # lazily freed memory settles
    rss0, used0 = vm_rss_bytes(srv.pid), int(info(srv.port, "memory")["used_memory"])
    t0 = time.monotonic()
    load_collection(srv.port, kind, units)
    time.sleep(0.5)
    rss1, used1 = vm_rss_bytes(srv.pid), int(info(srv.port, "memory")["used_memory"])
    elements = units * COLLECTIONS[kind][1]
    log(f"    {srv.name}: {kind}: {elements:,} elements in {time.monotonic() - t0:.1f}s")
    return CollectionMem(kind, units, elements, used1 - used0, rss1 - rss0)


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def log(msg: str) -> None:
    # Progress goes to stderr so stdout is just the report (pipe it to a file).
    print(msg, file=sys.stderr, flush=True)


def fmt_rps(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ms(x: float) -> str:
    return f"{x:.3f}"


def fmt_size(n: int) -> str:
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} B"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def machine_info(args) -> list[str]:
    uname = platform.uname()
    rv = subprocess.run([args.redis_server, "--version"], capture_output=True, text=True).stdout
    try:
        model = next(
            l.split(":", 1)[1].strip()
            for l in open("/proc/cpuinfo")
            if l.startswith("model name")
        )
    except (OSError, StopIteration):
        model = uname.processor or "unknown"
    return [
        f"- cores: {os.cpu_count()} ({model}); servers and redis-benchmark share them",
        f"- kernel: {uname.system} {uname.release}",
        f"- redis-server: {rv.strip()}",
        f"- ferrocache: {args.ferrocache}" + (f" (tree at git {args.git_commit})" if args.git_commit else ""),
        f"- command: `{' '.join(shlex.quote(a) for a in ['python3'] + sys.argv)}`",
    ]


def report(args, workloads, results: Results | None, mem: dict[str, MemResult] | None,
           coll: dict[str, list[CollectionMem]] | None = None) -> str:
    out = ["## Ferrocache vs Redis", ""]
    out += machine_info(args)
    if results is not None:
        wl0 = workloads[0]
        bench_cmd = " ".join(shlex.quote(a) for a in benchmark_argv(args, 0, wl0))
        bench_cmd = bench_cmd.replace(f"-n {wl0.requests}", "-n N").replace(
            f"-d {wl0.size}", "-d SIZE").replace(f"-P {wl0.pipeline}", "-P DEPTH").replace(
            "-p 0", "-p PORT")
        ns = ", ".join(f"-P {p}: -n {n}" for p, n in sorted({(w.pipeline, w.requests) for w in workloads}))
        out += [f"- per run: `{bench_cmd}` ({ns})"]
        if args.mget_keys:
            out += [f"- then MGET of {args.mget_keys} keys: the same with `MGET key:__rand_int__ ...` "
                    "in place of `-t` and `-d`, on the keyspace the tests before it wrote"]
        out += [
            f"- median of {args.rounds} alternating rounds; latencies in ms",
            "",
            "| workload | Redis req/s | Redis p50 | Redis p99 "
            "| Ferrocache req/s | Ferrocache p50 | Ferrocache p99 "
            "| req/s ratio F/R | p99 ratio F/R |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for wl in workloads:
            for test in reported_tests(args):
                r = results.median("Redis", test, wl)
                f = results.median("Ferrocache", test, wl)
                out.append(
                    f"| {test} {fmt_size(wl.size)} P{wl.pipeline} "
                    f"| {fmt_rps(r.rps)} | {fmt_ms(r.p50)} | {fmt_ms(r.p99)} "
                    f"| {fmt_rps(f.rps)} | {fmt_ms(f.p50)} | {fmt_ms(f.p99)} "
                    f"| {ratio(f.rps, r.rps)} | {ratio(f.p99, r.p99)} |"
                )
    if results is not None and results.cpu:
        loads = list(dict.fromkeys(load for (_, load) in results.cpu))
        out += [
            "",
            "### Server CPU per request",
            "",
            "User + system CPU of the server process over the run (/proc), divided by the requests",
            "sent; medians over the rounds. Closed loop: the throughput runs above, all their tests;",
            "paced: one connection sending GET at a fixed rate.",
            "",
            "| load | Redis µs/req | Ferrocache µs/req | ratio F/R |",
            "|---|--:|--:|--:|",
        ]
        for load in loads:
            r, f = results.median_cpu("Redis", load), results.median_cpu("Ferrocache", load)
            out.append(f"| {load} | {r:.2f} | {f:.2f} | {ratio(f, r)} |")
    if mem is not None:
        r, f = mem["Redis"], mem["Ferrocache"]
        out += [
            "",
            f"### Memory: {r.keys:,} keys, 16-byte names, 10-byte values",
            "",
            "| | Redis | Ferrocache | ratio F/R |",
            "|---|--:|--:|--:|",
            f"| used_memory per key (B) | {r.used_per_key:.1f} | {f.used_per_key:.1f} "
            f"| {ratio(f.used_per_key, r.used_per_key)} |",
            f"| RSS per key (B), 0.5 s after loading | {r.rss_per_key:.1f} | {f.rss_per_key:.1f} "
            f"| {ratio(f.rss_per_key, r.rss_per_key)} |",
            f"| RSS per key (B), after {f.settle_s:g} s idle | {r.rss_idle_per_key:.1f} "
            f"| {f.rss_idle_per_key:.1f} | {ratio(f.rss_idle_per_key, r.rss_idle_per_key)} |",
            f"| used_memory before / after (MiB) | {r.used_before / 2**20:.1f} / {r.used_after / 2**20:.1f} "
            f"| {f.used_before / 2**20:.1f} / {f.used_after / 2**20:.1f} | |",
            f"| RSS before / after (MiB) | {r.rss_before / 2**20:.1f} / {r.rss_after / 2**20:.1f} "
            f"| {f.rss_before / 2**20:.1f} / {f.rss_after / 2**20:.1f} | |",
        ]
    if coll:
        out += [
            "",
            "### Memory: collections, bytes per element",
            "",
            "Growth of used_memory and RSS while one kind is loaded into an emptied server, divided",
            "by the elements: `h:N` with `field:J` → `value:J` (J < 10), `s:N` with `member:J`,",
            "ZADD bigz N member:N, RPUSH bigl element:N.",
            "",
            "| kind | elements | Redis used B/el | Ferrocache used B/el | used F/R "
            "| Redis RSS B/el | Ferrocache RSS B/el | RSS F/R |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for r, f in zip(coll["Redis"], coll["Ferrocache"]):
            ru, fu, rr, fr = (x / r.elements for x in (r.used, f.used, r.rss, f.rss))
            out.append(
                f"| {COLLECTIONS[r.kind][0].format(n=r.units)} | {r.elements:,} | {ru:.1f} | {fu:.1f} "
                f"| {ratio(fu, ru)} | {rr:.1f} | {fr:.1f} | {ratio(fr, rr)} |"
            )
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def default_ferrocache() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    base = Path(target) if target else REPO_ROOT / "target"
    return base / "release" / "ferrocache"


def git_describe() -> str:
    # Taken at start-up: the tree may change (e.g. docs edits) while the run goes on.
    try:
        return subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def ensure_tools(args) -> None:
    for attr, name in (("redis_server", "redis-server"), ("redis_benchmark", "redis-benchmark")):
        path = shutil.which(getattr(args, attr))
        if path is None:
            raise BenchError(f"{name} not found (looked for {getattr(args, attr)!r}); install it: {INSTALL_HINT}")
        setattr(args, attr, path)


def ensure_ferrocache(args) -> None:
    path = Path(args.ferrocache)
    if path.is_file():
        args.ferrocache = str(path.resolve())
        return
    if args.ferrocache != str(default_ferrocache()):
        raise BenchError(f"--ferrocache {path}: no such file")
    # Only the default path is built on demand; an explicit path that doesn't
    # exist is more likely a typo than a request to build.
    log(f"{path} missing; running cargo build --release (a few minutes)...")
    try:
        subprocess.run(["cargo", "build", "--release", "--bin", "ferrocache"], cwd=REPO_ROOT, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise BenchError(f"cargo build --release failed: {e}")
    if not path.is_file():
        raise BenchError(f"cargo build succeeded but {path} does not exist")
    args.ferrocache = str(path.resolve())


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark Ferrocache against redis-server side by side with redis-benchmark, "
        "and compare memory per key. Prints a Markdown report on stdout; progress on stderr.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--ferrocache", default=str(default_ferrocache()),
                   help="Ferrocache binary (the default path is built with cargo if missing)")
    p.add_argument("--redis-server", default="redis-server", help="redis-server binary")
    p.add_argument("--redis-benchmark", default="redis-benchmark", help="redis-benchmark binary")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; the table shows medians")
    p.add_argument("--tests", default="set,get,incr,mset", help="redis-benchmark -t list")
    p.add_argument("--mget-keys", type=int, default=10,
                   help="also run MGET of this many random keys (0: don't)")
    p.add_argument("--clients", type=int, default=50, help="redis-benchmark -c")
    p.add_argument("--keyspace", type=int, default=1_000_000, help="redis-benchmark -r")
    p.add_argument("--sizes", default="3,1024", help="value sizes in bytes (redis-benchmark -d)")
    p.add_argument("--pipelines", default="1,16", help="pipeline depths (redis-benchmark -P)")
    p.add_argument("--requests", type=int, default=100_000, help="-n per test without pipelining")
    # Defaults measured on 2 cores: a full 3-round run takes about 6 minutes.
    p.add_argument("--requests-pipelined", type=int, default=500_000,
                   help="-n per test at pipeline depth > 1")
    p.add_argument("--memory-keys", type=int, default=1_000_000, help="keys loaded for the memory test (0: skip it)")
    p.add_argument("--memory-settle", type=float, default=10.0,
                   help="seconds each server sits idle after loading before RSS is read again")
    p.add_argument("--memory-collections", type=int, default=1_000_000, metavar="N",
                   help="memory per element of N 10-field hashes, N 10-member sets, an N-member "
                        "sorted set and an N-element list (0: skip)")
    p.add_argument("--collection-kinds", default="hash,set,zset,list",
                   help="which of the collection memory tests to run")
    p.add_argument("--skip-throughput", action="store_true", help="only measure memory")
    p.add_argument("--skip-memory", action="store_true", help="only measure throughput")
    p.add_argument("--skip-cpu", action="store_true",
                   help="skip the light-load CPU runs (-c 1, paced); CPU of the throughput runs is still shown")
    p.add_argument("--cpu-paced-rates", default="1000,5000,15000", help="GET/s of the paced single-client runs")
    p.add_argument("--cpu-paced-seconds", type=float, default=3.0, help="length of each paced run")
    p.add_argument("--output", metavar="FILE", help="also write the report to FILE")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def start_servers(args, tmp: Path, servers: list[Server]) -> None:
    """Starts Redis and Ferrocache, each in its own directory under `tmp`, appending each to
    `servers` before it starts, so that the caller's cleanup stops whatever did start."""
    for name, binary in (("Redis", args.redis_server), ("Ferrocache", args.ferrocache)):
        workdir = tmp / name.lower()
        workdir.mkdir()
        port = free_port()
        srv = Server(name, server_args(binary, port, workdir), workdir, port)
        servers.append(srv)
        log(f"starting {name} on 127.0.0.1:{port}")
        srv.start()


def run_all(args, workloads: list[Workload], tmp: Path) -> str:
    servers: list[Server] = []
    try:
        start_servers(args, tmp, servers)

        mem = None
        if not args.skip_memory and args.memory_keys > 0:
            # Memory first, on freshly started servers: after the throughput
            # runs the allocators hold freed pages and RSS deltas mean little.
            log(f"memory: loading {args.memory_keys:,} keys into each server")
            mem = {s.name: measure_memory(s, args.memory_keys, args.memory_settle) for s in servers}
        coll = None
        if not args.skip_memory and args.memory_collections > 0:
            kinds = [k for k in args.collection_kinds.split(",") if k]
            unknown = [k for k in kinds if k not in COLLECTIONS]
            if unknown:
                raise BenchError(f"unknown collection kind(s): {', '.join(unknown)}")
            log(f"memory: collections, {args.memory_collections:,} of each")
            coll = {s.name: [measure_collection(s, k, args.memory_collections) for k in kinds]
                    for s in servers}
        results = None if args.skip_throughput else run_throughput(args, servers, workloads)
        return report(args, workloads, results, mem, coll)
    finally:
        # Runs on success, BenchError, Ctrl-C and SIGTERM alike.
        for s in servers:
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                print(f"compare.py: could not stop {s.name}: {e}", file=sys.stderr)


def _exit_on_signal(signum, _frame) -> None:
    print(f"compare.py: stopped by {signal.Signals(signum).name}", file=sys.stderr)
    sys.exit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # SIGTERM/SIGHUP would otherwise kill us without running the finally that
    # stops the servers; turn them into an ordinary exit.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)

    workloads = [
        Workload(size, pipe, args.requests if pipe == 1 else args.requests_pipelined)
        for size in (int(s) for s in args.sizes.split(","))
        for pipe in (int(p) for p in args.pipelines.split(","))
    ]

    try:
        ensure_tools(args)
        ensure_ferrocache(args)
        args.git_commit = git_describe()
        with tempfile.TemporaryDirectory(prefix="ferrocache-bench-") as tmp:
            text = run_all(args, workloads, Path(tmp))
    except BenchError as e:
        print(f"compare.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("compare.py: interrupted", file=sys.stderr)
        return 130

    sys.stdout.write(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
