#!/usr/bin/env python3
"""Cluster failover and resharding, Ferrocache beside redis-server, on one machine in one run.

Two measurements (issue 15, items 5 and 6), each on clusters of one kind only (Redis nodes
with Redis nodes, Ferrocache with Ferrocache), every node on 127.0.0.1 with its own port,
its own directory and `cluster-node-timeout` 1000 ms (`--node-timeout`):

1. Failover time. Six nodes, made a cluster by `redis-cli --cluster create ...
   --cluster-replicas 1 --cluster-yes` (3 primaries, 3 replicas). Once the cluster is healthy
   (see below), `--kills` times: a primary is chosen (rotating over the three shards), a
   client starts SETting a key of one of its slots every 10 ms, each SET on a fresh
   connection, following MOVED, and on a refused connection moving on to the next node;
   the primary gets `kill -9`; the failover time is from the kill until the first SET sent
   after it that succeeds (CLUSTERDOWN, TRYAGAIN, refused connections and MOVED to the dead
   node are retried every 10 ms). A failover that doesn't happen within `--failover-timeout`
   seconds is counted as such. Just before the kill a marker key of the same slot is SET on
   the victim and `WAIT 1 1000` sent there; after the failover the new primary must have it.
   Then the killed node is started again (same port, same directory, so the same nodes.conf)
   and the next kill waits until the cluster is healthy again; that wait is reported as the
   rejoin time. Healthy means: every node answers `CLUSTER INFO` with cluster_state:ok,
   16384 slots assigned and ok and every node known;
   its `CLUSTER NODES` shows no node failing or disconnected, 3 primaries with slots, each
   with one replica, and the same slot owners as every other node's; each replica's
   master_link_status is up; the killed node, if a replica took over, is back as a replica;
   and `redis-cli --cluster check` reports no error or warning. (A replica whose replication
   link stays down `--link-grace` seconds while all else is healthy is let pass and noted in
   the report: Ferrocache's cluster replicas may not replicate yet.) A cluster that doesn't
   heal within `--heal-timeout` ends that kind's series, which the report says.
2. Resharding. Three primaries, no replicas, no keys; `redis-cli --cluster reshard
   127.0.0.1:PORT --cluster-from ID --cluster-to ID --cluster-slots 1000 --cluster-yes`
   (first primary to last) is timed, once with nothing else going on, then on another fresh
   cluster while a client thread does SET and GET round trips on random keys of a
   `--keyspace`-sized keyspace (so all over the slot range), routing by slot, following MOVED
   and ASK (with ASKING), checking every GET against the last value it SET; it starts
   `--baseline` seconds before the reshard. Reported: the reshard's wall time, the client's
   operations completed meanwhile (and per second, against its rate before), the redirects it
   followed, any errors or wrong values. Afterwards the slot counts and `--cluster check` are
   verified, and every key the client wrote is read back. `--reshard-rounds` rounds, each on
   fresh clusters, alternating which kind goes first; medians.

If a replica never takes over, the kill shows up as "no failover within Ns" and the run goes
on. Ports (and their +10000 bus ports) are picked free at run time below the kernel's ephemeral
port range, so that no outgoing connection can take a killed node's port before its restart. Markdown report on stdout, progress on stderr.
Standard library only, plus redis-cli; reuses compare.py's server handling.

Usage:
    python3 benches/cluster_failover.py                      # both parts, both servers
    python3 benches/cluster_failover.py --only redis --kills 3 --skip-reshard
    python3 benches/cluster_failover.py --only ferrocache --skip-failover --reshard-rounds 1
    python3 benches/cluster_failover.py --ferrocache target/release/ferrocache --output out.md
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (server start-up/stop, RESP connection, tool lookup)
from compare import BenchError, Conn, Server, log, resp_command, server_args  # noqa: E402
from replication import loadavg, machine_busy_seconds, our_cpu_seconds  # noqa: E402

KINDS = ("Redis", "Ferrocache")
ONLY = {"redis": "Redis", "ferrocache": "Ferrocache"}
CLUSTER_SLOTS = 16384
SHARDS = 3
BAD_FLAGS = {"fail", "fail?", "pfail", "handshake", "noaddr"}


# --------------------------------------------------------------------------
# Slots and RESP
# --------------------------------------------------------------------------


def _crc16_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


CRC16_TABLE = _crc16_table()


def key_slot(key: str) -> int:
    """Redis Cluster's slot: CRC16 (XMODEM) of the key, or of its {hash tag}, mod 16384."""
    k = key.encode()
    start = k.find(b"{")
    if start != -1:
        end = k.find(b"}", start + 1)
        if end > start + 1:
            k = k[start + 1:end]
    crc = 0
    for b in k:
        crc = ((crc << 8) & 0xFFFF) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc % CLUSTER_SLOTS


class RespError(str):
    """An error reply (MOVED, ASK, CLUSTERDOWN, ...), returned rather than raised."""


class RConn(Conn):
    """compare.Conn, but error replies come back as RespError values: redirections are
    ordinary replies in a cluster."""

    def read_reply_after(self, line: bytes):
        if line[:1] == b"-":
            return RespError(line[1:].decode(errors="replace"))
        return super().read_reply_after(line)


def call(port: int, *cmd: str, timeout: float = 2.0):
    c = RConn(port, timeout=timeout)
    try:
        return c.call(*cmd)
    finally:
        c.close()


def parse_info(text) -> dict[str, str]:
    fields = {}
    for line in str(text).splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v.strip()
    return fields


def redirect_port(err: str) -> int:
    """The port of `MOVED 1234 127.0.0.1:7001` or `ASK ...`."""
    return int(err.split()[2].rsplit(":", 1)[1])


@dataclass
class NodeLine:
    """One line of CLUSTER NODES."""

    id: str
    port: int
    flags: set[str]
    master: str
    link: str
    slots: list[tuple[int, int]]

    @property
    def slot_count(self) -> int:
        return sum(b - a + 1 for a, b in self.slots)

    def owns(self, slot: int) -> bool:
        return any(a <= slot <= b for a, b in self.slots)


def parse_nodes(text) -> list[NodeLine]:
    out = []
    for line in str(text).splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        addr = f[1].split("@")[0].split(",")[0]
        port_s = addr.rsplit(":", 1)[-1]
        slots = []
        for s in f[8:]:
            if s.startswith("["):  # [slot->-id] / [slot-<-id]: migrating or importing
                continue
            a, _, b = s.partition("-")
            slots.append((int(a), int(b or a)))
        out.append(NodeLine(f[0], int(port_s) if port_s.isdigit() else 0, set(f[2].split(",")),
                            f[3], f[7], slots))
    return out


def nodes_view(port: int) -> list[NodeLine]:
    reply = call(port, "CLUSTER", "NODES")
    if isinstance(reply, RespError):
        raise BenchError(f"CLUSTER NODES on :{port}: -{reply}")
    return parse_nodes(reply)


def masters_of(view: list[NodeLine]) -> list[NodeLine]:
    """Primaries that own slots, by their first slot."""
    return sorted((l for l in view if "master" in l.flags and l.slots), key=lambda l: min(a for a, _ in l.slots))


def key_in(owner: NodeLine, tag: str) -> str:
    """A key whose slot `owner` serves; a hash tag, so that `key + ":marker"` shares its slot."""
    for i in range(1_000_000):
        k = "{fo:%s:%d}" % (tag, i)
        if owner.owns(key_slot(k)):
            return k
    raise BenchError(f"no key found for slots {owner.slots}")


# --------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------


def port_candidates() -> list[int]:
    """Ports that, like their cluster bus port (+10000), lie outside the kernel's ephemeral range.
    Inside it, while a node is down, any outgoing connection may take its port: the other
    nodes' reconnects to the dead node's bus port, or a client's connect to 127.0.0.1:P from
    source port P, which TCP turns into a connection to itself. The restart would then fail."""
    try:
        lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    return [p for p in range(10000, 65536 - 10000) if not (lo <= p <= hi or lo <= p + 10000 <= hi)]


def cluster_port_pair() -> int:
    """A free port, outside the ephemeral range, whose cluster bus port (+10000) is free too."""
    candidates = port_candidates()
    if not candidates:
        raise BenchError("no port pair (port, port + 10000) outside net.ipv4.ip_local_port_range")
    for _ in range(1000):
        port = random.choice(candidates)
        socks = []
        try:
            for p in (port, port + 10000):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise BenchError("found no free pair of ports (port, port + 10000)")


@dataclass
class Node:
    kind: str
    name: str
    port: int
    workdir: Path
    argv: list[str]
    srv: Server | None = None
    runs: int = 0

    @property
    def alive(self) -> bool:
        return self.srv is not None and self.srv.proc is not None and self.srv.proc.poll() is None


class Fleet:
    """Every node this script starts, so that the finally-block can stop them all."""

    def __init__(self, args, tmp: Path):
        self.args = args
        self.tmp = tmp
        self.nodes: list[Node] = []
        self.ports: set[int] = set()
        self.count = 0

    def start_node(self, kind: str) -> Node:
        self.count += 1
        name = f"{kind}-{self.count:02d}"
        workdir = self.tmp / name.lower()
        workdir.mkdir()
        port = cluster_port_pair()
        while port in self.ports:  # a stopped node's port stays ours until the run ends
            port = cluster_port_pair()
        self.ports.add(port)
        binary = self.args.redis_server if kind == "Redis" else self.args.ferrocache_run
        extra = shlex.split(self.args.redis_args if kind == "Redis" else self.args.ferrocache_args)
        argv = server_args(binary, port, workdir) + [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.args.node_timeout),
            "--repl-diskless-sync-delay", "0",
        ] + extra
        node = Node(kind, name, port, workdir, argv)
        self.nodes.append(node)  # before the start: a failed start is still cleaned up
        self.start(node)
        return node

    def start(self, node: Node) -> None:
        """(Re)starts a node: same argv, port and directory; a log file per run."""
        node.runs += 1
        node.srv = Server(f"{node.name}-run{node.runs}", node.argv, node.workdir, node.port)
        node.srv.start()

    def kill(self, node: Node) -> None:
        node.srv.proc.kill()  # SIGKILL
        node.srv.proc.wait(timeout=10)

    def stop(self, nodes: list[Node]) -> None:
        for n in nodes:
            try:
                if n.srv is not None:
                    n.srv.stop()
            except Exception as e:  # keep stopping the others
                print(f"cluster_failover.py: could not stop {n.name}: {e}", file=sys.stderr)

    def stop_all(self) -> None:
        self.stop(self.nodes)


def logs_of(nodes: list[Node], lines: int = 15) -> str:
    return "\n".join(f"  {n.name} log ({n.srv.log_path}):\n{n.srv.log_tail(lines)}" for n in nodes if n.srv)


# --------------------------------------------------------------------------
# Cluster set-up and health
# --------------------------------------------------------------------------


def cluster_check(args, port: int) -> str | None:
    """None if `redis-cli --cluster check` is happy, else what it said."""
    try:
        p = subprocess.run([args.redis_cli, "--cluster", "check", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "redis-cli --cluster check timed out"
    out = p.stdout + p.stderr
    bad = [l for l in out.splitlines() if "[ERR]" in l or "[WARNING]" in l]
    if p.returncode != 0 or bad or f"[OK] All {CLUSTER_SLOTS} slots covered" not in out:
        return f"--cluster check (exit {p.returncode}): " + "; ".join(bad or out.strip().splitlines()[-3:])
    return None


def cluster_problem(args, nodes: list[Node], replicas: int, must_be_replica: set[int]) -> tuple[str | None, str | None]:
    """(None, None) if the cluster is healthy (see the module docstring), else the first problem
    found: (problem, None), or (None, link) if only a replica's replication link is down."""
    views = {}
    link = None
    for n in nodes:
        if not n.alive:
            return f"{n.name} (:{n.port}) is not running", None
        try:
            info = call(n.port, "CLUSTER", "INFO")
            view = nodes_view(n.port)
        except (OSError, BenchError) as e:
            return f"{n.name} (:{n.port}): {e}", None
        if isinstance(info, RespError):
            return f"{n.name}: CLUSTER INFO -> -{info}", None
        ci = parse_info(info)
        for k, want in (("cluster_state", "ok"), ("cluster_slots_assigned", str(CLUSTER_SLOTS)),
                        ("cluster_slots_ok", str(CLUSTER_SLOTS)), ("cluster_known_nodes", str(len(nodes)))):
            if ci.get(k) != want:
                return f"{n.name} (:{n.port}): {k}:{ci.get(k)}", None
        for l in view:
            if l.flags & BAD_FLAGS or l.link != "connected":
                return f"{n.name} (:{n.port}) sees :{l.port} as {','.join(sorted(l.flags))} {l.link}", None
        masters = masters_of(view)
        if len(masters) != SHARDS:
            return f"{n.name} (:{n.port}) sees {len(masters)} primaries with slots", None
        for m in masters:
            got = sum(1 for l in view if l.master == m.id)
            if got != replicas:
                return f"{n.name} (:{n.port}) sees {got} replicas of :{m.port}", None
        views[n.name] = sorted((r, m.port) for m in masters for r in m.slots)
        me = next((l for l in view if "myself" in l.flags), None)
        if me is None:
            return f"{n.name} (:{n.port}): no myself line in CLUSTER NODES", None
        if n.port in must_be_replica and "slave" not in me.flags:
            return f"{n.name} (:{n.port}) is {','.join(sorted(me.flags))}, not back as a replica", None
        if "slave" in me.flags:
            try:
                repl = parse_info(call(n.port, "INFO", "replication"))
            except (OSError, BenchError) as e:
                return f"{n.name} (:{n.port}): {e}", None
            if repl.get("master_link_status") != "up" and link is None:
                link = (f"{n.name} (:{n.port}): a replica in CLUSTER NODES, but INFO replication says "
                        f"role:{repl.get('role')}, master_link_status:{repl.get('master_link_status', '(absent)')}")
    if len({tuple(v) for v in views.values()}) != 1:
        return "the nodes disagree on who owns which slots", None
    return cluster_check(args, nodes[0].port), link


def wait_healthy(args, nodes: list[Node], replicas: int, timeout: float, must_be_replica=frozenset(),
                 notes: list[str] | None = None) -> float:
    """Seconds until cluster_problem() finds nothing; BenchError after `timeout`. A replica whose
    replication link stays down for `--link-grace` seconds while all else is fine is noted in
    `notes` and let pass (Ferrocache's cluster replicas may not replicate yet); the time returned
    is then until all else was fine."""
    t0 = time.perf_counter()
    link_since = None
    while True:
        problem, link = cluster_problem(args, nodes, replicas, set(must_be_replica))
        now = time.perf_counter()
        if problem is None and link is None:
            return now - t0
        if problem is None:
            link_since = link_since or now
            if now - link_since >= args.link_grace:
                log(f"    going on although {link} for {args.link_grace:g}s")
                note = link.split(": ", 1)[-1]
                if notes is not None and note not in notes:
                    notes.append(note)
                return link_since - t0
        else:
            link_since = None
        if now - t0 > timeout:
            raise BenchError(f"cluster not healthy after {timeout:.0f}s: {problem or link}")
        time.sleep(0.1)


def create_cluster(args, fleet: Fleet, kind: str, replicas: int, notes: list[str] | None = None) -> list[Node]:
    nodes = [fleet.start_node(kind) for _ in range(SHARDS * (1 + replicas))]
    argv = [args.redis_cli, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in nodes],
            "--cluster-replicas", str(replicas), "--cluster-yes"]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=args.heal_timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{kind}: `redis-cli --cluster create` still running after {args.heal_timeout:.0f}s:\n"
                         + logs_of(nodes))
    if p.returncode != 0:
        raise BenchError(f"{kind}: `redis-cli --cluster create` failed ({p.returncode}):\n{p.stdout[-2000:]}"
                         f"{p.stderr[-1000:]}\n" + logs_of(nodes))
    try:
        secs = wait_healthy(args, nodes, replicas, args.heal_timeout, notes=notes)
    except BenchError as e:
        raise BenchError(f"{kind}: new cluster: {e}\n" + logs_of(nodes))
    # Our routing must agree with the server's hashing, or every figure below means little.
    for k in ("foo", "key:123", "{user1000}.following", "failover:x:7", "a{}b", "{}{x}"):
        got = call(nodes[0].port, "CLUSTER", "KEYSLOT", k)
        if got != key_slot(k):
            raise BenchError(f"{kind}: CLUSTER KEYSLOT {k} -> {got!r}, expected {key_slot(k)}")
    log(f"  {kind}: {len(nodes)}-node cluster ({replicas} replica(s) per primary) healthy "
        f"{secs:.1f}s after --cluster create: ports {' '.join(str(n.port) for n in nodes)}")
    return nodes


# --------------------------------------------------------------------------
# 1. Failover
# --------------------------------------------------------------------------


def set_following_moved(port: int, key: str, value: str) -> tuple[bool, int, str, bool]:
    """SET on a fresh connection to `port`, following up to 5 redirections, each on a fresh
    connection too. Returns (succeeded, last port tried, error, whether that port's connection
    failed)."""
    asking = False
    for _ in range(6):
        try:
            c = RConn(port, timeout=1.0)
        except OSError as e:
            return False, port, f"connect: {e.strerror or e}", True
        try:
            if asking:
                c.sock.sendall(resp_command("ASKING"))
                c.read_reply()
            reply = c.call("SET", key, value)
        except socket.timeout:
            return False, port, "no reply within 1s", True
        except (OSError, BenchError) as e:
            return False, port, f"connection lost: {getattr(e, 'strerror', None) or e}", True
        finally:
            c.close()
        if reply == "OK":
            return True, port, "", False
        if isinstance(reply, RespError) and reply.split()[0] in ("MOVED", "ASK"):
            asking = reply.startswith("ASK")
            port = redirect_port(reply)
            continue
        return False, port, f"-{reply}" if isinstance(reply, RespError) else f"reply {reply!r}", False
    return False, port, "more than 5 redirections", False


def set_and_wait(port: int, key: str, value: str) -> int:
    """SET on `port` itself (the key's primary), then WAIT 1 1000: replicas that acknowledged."""
    c = RConn(port, timeout=5.0)
    try:
        reply = c.call("SET", key, value)
        if reply != "OK":
            raise BenchError(f"SET {key} on :{port} -> {reply!r}")
        acked = c.call("WAIT", "1", "1000")
        return acked if isinstance(acked, int) else -1
    finally:
        c.close()


def get_following_moved(port: int, key: str):
    """GET on a fresh connection, following MOVED; an error text on failure."""
    for _ in range(6):
        try:
            reply = call(port, "GET", key)
        except (OSError, BenchError) as e:
            return f"(:{port} {e})"
        if isinstance(reply, RespError) and reply.startswith("MOVED"):
            port = redirect_port(reply)
            continue
        return reply
    return "(more than 5 redirections)"


def error_kind(err: str) -> str:
    """Groups error texts for the summary: the error code, or the connection failure."""
    if err.startswith("-"):
        return err.split()[0]
    return err


class SetProber(threading.Thread):
    """SETs `key` every `interval` s until, after `dead_at` is set, a SET sent after it succeeds."""

    def __init__(self, key: str, first_port: int, ports: list[int], interval: float):
        super().__init__(daemon=True)
        self.key, self.port, self.ports, self.interval = key, first_port, ports, interval
        self.running = True
        self.ok_before = 0  # successes before the kill: the client works at all
        self.dead_at: float | None = None
        self.done_at: float | None = None
        self.served_by: int | None = None
        self.attempts_after = 0
        self.errors: Counter[str] = Counter()
        self.first_seen: dict[str, str] = {}  # error kind -> when (after the kill), where, what
        self.last_error = ""
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            n = 0
            while self.running:
                t_send = time.perf_counter()
                after = self.dead_at is not None and t_send >= self.dead_at
                n += 1
                ok, port, err, conn_failed = set_following_moved(self.port, self.key, f"v{n}")
                if ok:
                    self.port = port
                    if after:
                        self.done_at, self.served_by = time.perf_counter(), port
                        return
                    if self.dead_at is None:
                        self.ok_before += 1
                else:
                    if after:
                        self.attempts_after += 1
                        self.errors[error_kind(err)] += 1
                        self.last_error = f":{port} {err}"
                        self.first_seen.setdefault(
                            error_kind(err), f"{t_send - self.dead_at:.3f}s after the kill, :{port} {err}")
                    # A node that refuses the connection: ask the next one where the slot went.
                    if conn_failed:
                        i = self.ports.index(port) if port in self.ports else -1
                        self.port = self.ports[(i + 1) % len(self.ports)]
                time.sleep(max(0.0, self.interval - (time.perf_counter() - t_send)))
        except Exception as e:  # reported by the caller
            self.error = e

    def finish(self) -> None:
        self.running = False
        self.join(timeout=10)


@dataclass
class Kill:
    victim: int
    replica: int  # the victim's replica when it was killed
    secs: float | None  # None: no failover within the timeout
    served_by: int | None
    attempts: int
    errors: Counter
    marker_acked: int  # replicas that acknowledged the marker (WAIT 1) before the kill
    marker_kept: bool | None  # the marker key readable from the new primary
    rejoin: float | None = None


@dataclass
class FailoverResult:
    kills: list[Kill] = field(default_factory=list)
    aborted: str = ""  # why the series stopped early, if it did
    notes: list[str] = field(default_factory=list)  # health checks let pass (see wait_healthy)

    def times(self) -> list[float]:
        return [k.secs for k in self.kills if k.secs is not None]

    def rejoins(self) -> list[float]:
        return [k.rejoin for k in self.kills if k.rejoin is not None]


def one_kill(args, fleet: Fleet, nodes: list[Node], i: int, shard_slot: int, res: FailoverResult) -> None:
    """Kill number `i` of the series, of the primary serving `shard_slot`; appends to `res`."""
    by_port = {n.port: n for n in nodes}
    alive = next(n for n in nodes if n.alive)
    view = nodes_view(alive.port)
    owner = next(m for m in masters_of(view) if m.owns(shard_slot))
    replica = next(l for l in view if l.master == owner.id)
    victim = by_port[owner.port]
    key = key_in(owner, str(i))

    prober = SetProber(key, victim.port, [n.port for n in nodes], args.retry_interval)
    prober.start()
    t = time.perf_counter()
    while prober.ok_before < 5:
        if prober.error or not prober.is_alive() or time.perf_counter() - t > 10:
            prober.finish()
            raise BenchError(f"kill {i + 1}: SET {key} never succeeded before the kill "
                             f"(last error: {prober.last_error or prober.error})")
        time.sleep(0.01)

    # A marker written to the victim and acknowledged by its replica (WAIT) must survive the
    # failover: that is what a replica is for.
    marker = key + ":marker"
    acked = set_and_wait(victim.port, marker, f"kill {i + 1}")

    t_kill = time.perf_counter()
    fleet.kill(victim)
    prober.dead_at = time.perf_counter()  # only SETs sent after the process is gone count
    while prober.is_alive() and time.perf_counter() - t_kill < args.failover_timeout:
        time.sleep(0.01)
    prober.finish()
    if prober.error:
        raise BenchError(f"kill {i + 1}: the client failed: {prober.error}")
    secs = prober.done_at - t_kill if prober.done_at is not None else None
    errs = ", ".join(f"{c}x {e}" for e, c in prober.errors.most_common())
    kind = victim.kind
    if secs is None:
        log(f"  {kind} kill {i + 1}: primary :{victim.port} killed; no SET to {key} succeeded within "
            f"{args.failover_timeout:.0f}s ({prober.attempts_after} attempts: {errs}; last {prober.last_error})")
        for n in nodes:  # what the survivors think, for the report
            if n.alive:
                try:
                    v = {l.port: l for l in nodes_view(n.port)}
                    me = next(l for l in v.values() if "myself" in l.flags)
                    ci = parse_info(call(n.port, "CLUSTER", "INFO"))
                    log(f"    :{n.port} ({','.join(sorted(me.flags))}) cluster_state:{ci.get('cluster_state')} "
                        f"current_epoch:{ci.get('cluster_current_epoch')}, sees the victim as "
                        f"{','.join(sorted(v[victim.port].flags)) if victim.port in v else 'unknown'} "
                        f"{v[victim.port].link if victim.port in v else ''}")
                except (OSError, BenchError, StopIteration) as e:
                    log(f"    :{n.port}: {e}")
    else:
        log(f"  {kind} kill {i + 1}: primary :{victim.port} killed; SET {key} served by :{prober.served_by} "
            f"after {secs:.3f}s (replica was :{replica.port}; {prober.attempts_after} failed attempts: {errs})")
    for what, first in prober.first_seen.items():
        if not what.startswith("connect:"):
            log(f"    first {what}: {first}")
    kept = None
    if prober.served_by is not None:
        got = get_following_moved(prober.served_by, marker)
        kept = got == f"kill {i + 1}"
        if not kept:
            log(f"    {kind}: GET {marker} after the failover -> {got!r}; SET to {f'kill {i + 1}'!r} on the "
                f"victim before the kill, WAIT 1 1000 there answered {acked}")
    kill = Kill(victim.port, replica.port, secs, prober.served_by, prober.attempts_after, prober.errors,
                acked, kept)
    res.kills.append(kill)  # before the restart, which may fail

    # Back on its port, from its own nodes.conf: it should rejoin as a replica of the new primary.
    t0 = time.perf_counter()
    fleet.start(victim)
    must = {victim.port} if secs is not None else set()
    started = time.perf_counter() - t0
    kill.rejoin = started + wait_healthy(args, nodes, 1, args.heal_timeout, must, res.notes)
    log(f"    {kind}: :{victim.port} restarted; cluster healthy again after {kill.rejoin:.2f}s")


def failover_series(args, fleet: Fleet, kind: str) -> FailoverResult:
    log(f"{kind}: failover, {args.kills} kill(s)")
    res = FailoverResult()
    try:
        nodes = create_cluster(args, fleet, kind, replicas=1, notes=res.notes)
    except BenchError as e:
        res.aborted = f"before the first kill: {e}"
        log(f"  {kind}: no failover series: {e}")
        return res
    try:
        shard_slots = [min(a for a, _ in m.slots) for m in masters_of(nodes_view(nodes[0].port))]
        for i in range(args.kills):
            try:
                one_kill(args, fleet, nodes, i, shard_slots[i % SHARDS], res)
            except BenchError as e:
                res.aborted = f"after kill {i + 1}: {e}"
                log(f"  {kind}: stopping the failover series {res.aborted}\n" + logs_of(nodes, 10))
                break
    finally:
        fleet.stop(nodes)
    return res


# --------------------------------------------------------------------------
# 2. Resharding
# --------------------------------------------------------------------------


class ClientError(Exception):
    pass


class ClusterClient:
    """A minimal cluster client: a slot table from CLUSTER SLOTS, a connection per node,
    MOVED updates the table, ASK is followed once with ASKING, TRYAGAIN is retried."""

    def __init__(self, seed_port: int):
        self.conns: dict[int, RConn] = {}
        self.owner = [seed_port] * CLUSTER_SLOTS
        self.moved = self.ask = self.tryagain = self.reconnects = 0
        for entry in call(seed_port, "CLUSTER", "SLOTS"):
            start, end, primary = entry[0], entry[1], entry[2]
            for s in range(start, end + 1):
                self.owner[s] = int(primary[1])

    def conn(self, port: int) -> RConn:
        c = self.conns.get(port)
        if c is None:
            c = self.conns[port] = RConn(port, timeout=5.0)
        return c

    def drop(self, port: int) -> None:
        c = self.conns.pop(port, None)
        if c is not None:
            c.close()

    def close(self) -> None:
        for port in list(self.conns):
            self.drop(port)

    def call(self, key: str, *cmd: str):
        slot = key_slot(key)
        port = self.owner[slot]
        last = ""
        for _ in range(20):
            try:
                reply = self.conn(port).call(*cmd)
            except (OSError, BenchError) as e:
                self.drop(port)
                self.reconnects += 1
                last = f":{port} {e}"
                time.sleep(0.01)
                continue
            if not isinstance(reply, RespError):
                return reply
            word = reply.split()[0]
            if word == "MOVED":
                self.moved += 1
                port = self.owner[slot] = redirect_port(reply)
                continue
            if word == "ASK":
                self.ask += 1
                target = redirect_port(reply)
                try:
                    c = self.conn(target)
                    c.sock.sendall(resp_command("ASKING") + resp_command(*cmd))
                    asking, reply = c.read_reply(), c.read_reply()
                except (OSError, BenchError) as e:
                    self.drop(target)
                    self.reconnects += 1
                    last = f":{target} {e}"
                    continue
                if asking != "OK":
                    raise ClientError(f"ASKING on :{target} -> {asking!r}")
                if not isinstance(reply, RespError):
                    return reply
                last = f":{target} (after ASKING) -{reply}"
                if not reply.startswith("TRYAGAIN"):
                    raise ClientError(f"{' '.join(cmd)}: {last}")
            elif word == "TRYAGAIN":
                last = f":{port} -{reply}"
            else:
                raise ClientError(f"{' '.join(cmd)}: :{port} -{reply}")
            self.tryagain += 1
            time.sleep(0.01)
        raise ClientError(f"{' '.join(cmd)}: gave up after 20 tries, last {last}")


class Load(threading.Thread):
    """SET a random key to a fresh value, then GET a random key and check it against the last
    value SET; counts commands completed."""

    def __init__(self, client: ClusterClient, keyspace: int):
        super().__init__(daemon=True)
        self.client, self.keyspace = client, keyspace
        self.running = True
        self.ops = 0
        self.expected: dict[str, str] = {}
        self.uncertain: set[str] = set()  # a SET that failed may or may not have been applied
        self.errors: Counter[str] = Counter()
        self.mismatches: list[str] = []
        self.error: Exception | None = None

    def run(self) -> None:
        rng = random.Random(15)
        n = 0
        try:
            while self.running:
                n += 1
                key, value = f"key:{rng.randrange(self.keyspace)}", f"v{n}"
                try:
                    reply = self.client.call(key, "SET", key, value)
                    if reply != "OK":
                        raise ClientError(f"SET {key} -> {reply!r}")
                    self.expected[key] = value
                    self.uncertain.discard(key)
                    self.ops += 1
                except ClientError as e:
                    self.errors[str(e)[:120]] += 1
                    self.uncertain.add(key)
                    time.sleep(0.01)
                key = f"key:{rng.randrange(self.keyspace)}"
                try:
                    got = self.client.call(key, "GET", key)
                    self.ops += 1
                    if key not in self.uncertain and got != self.expected.get(key):
                        self.mismatches.append(f"GET {key} -> {got!r}, expected {self.expected.get(key)!r}")
                except ClientError as e:
                    self.errors[str(e)[:120]] += 1
                    time.sleep(0.01)
        except Exception as e:  # reported by the caller
            self.error = e

    def finish(self) -> None:
        self.running = False
        self.join(timeout=30)
        if self.error is not None:
            raise BenchError(f"the client thread failed: {self.error!r}")


@dataclass
class Reshard:
    secs: float
    ops: int
    ops_per_s: float
    baseline_ops_per_s: float
    moved: int
    ask: int
    tryagain: int
    errors: int
    mismatches: int
    keys_checked: int
    wrong_after: int


def run_reshard(args, kind: str, nodes: list[Node], src: NodeLine, dst: NodeLine) -> float:
    """`redis-cli --cluster reshard` from `src` to `dst`: its wall time."""
    argv = [args.redis_cli, "--cluster", "reshard", f"127.0.0.1:{nodes[0].port}",
            "--cluster-from", src.id, "--cluster-to", dst.id,
            "--cluster-slots", str(args.reshard_slots), "--cluster-yes"]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=args.reshard_timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{kind}: reshard still running after {args.reshard_timeout:.0f}s\n" + logs_of(nodes))
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        raise BenchError(f"{kind}: `{' '.join(argv)}` failed ({p.returncode}):\n"
                         + "\n".join((p.stdout + p.stderr).strip().splitlines()[-15:]) + "\n" + logs_of(nodes))
    return secs


def check_resharded(args, kind: str, nodes: list[Node], src: NodeLine, dst: NodeLine) -> None:
    """The cluster healthy, with `--reshard-slots` slots moved from `src` to `dst`."""
    wait_healthy(args, nodes, 0, args.heal_timeout)
    after = {l.id: l.slot_count for l in nodes_view(nodes[0].port)}
    if after[src.id] != src.slot_count - args.reshard_slots or after[dst.id] != dst.slot_count + args.reshard_slots:
        raise BenchError(f"{kind}: after the reshard the source has {after[src.id]} slots (had "
                         f"{src.slot_count}), the target {after[dst.id]} (had {dst.slot_count})")


def reshard_idle(args, fleet: Fleet, kind: str) -> float:
    """The reshard alone, on a fresh cluster with no keys and no client."""
    nodes = create_cluster(args, fleet, kind, replicas=0)
    try:
        masters = masters_of(nodes_view(nodes[0].port))
        secs = run_reshard(args, kind, nodes, masters[0], masters[-1])
        check_resharded(args, kind, nodes, masters[0], masters[-1])
        log(f"  {kind}: reshard of {args.reshard_slots} slots, no client: {secs:.2f}s")
        return secs
    finally:
        fleet.stop(nodes)


def reshard_loaded(args, fleet: Fleet, kind: str) -> Reshard:
    """The reshard on a fresh cluster while the client thread runs."""
    nodes = create_cluster(args, fleet, kind, replicas=0)
    client = load = None
    try:
        masters = masters_of(nodes_view(nodes[0].port))
        src, dst = masters[0], masters[-1]
        client = ClusterClient(nodes[0].port)
        load = Load(client, args.keyspace)
        load.start()
        time.sleep(args.baseline)
        ops0 = load.ops
        baseline = ops0 / args.baseline
        secs = run_reshard(args, kind, nodes, src, dst)
        ops = load.ops - ops0
        load.finish()
        check_resharded(args, kind, nodes, src, dst)
        # Everything the client wrote, read back through a fresh slot table.
        check = ClusterClient(nodes[-1].port)
        wrong = []
        try:
            for k, v in load.expected.items():
                if k not in load.uncertain:
                    got = check.call(k, "GET", k)
                    if got != v:
                        wrong.append(f"{k} is {got!r}, expected {v!r}")
        finally:
            check.close()
        for what, items in (("wrong GET replies during the reshard", load.mismatches), ("keys wrong afterwards", wrong)):
            if items:
                log(f"  {kind}: {len(items)} {what}, e.g. " + "; ".join(items[:3]))
        if load.errors:
            log(f"  {kind}: client errors: " + "; ".join(f"{c}x {e}" for e, c in load.errors.most_common(5)))
        r = Reshard(secs, ops, ops / secs, baseline, client.moved, client.ask, client.tryagain,
                    sum(load.errors.values()) + client.reconnects, len(load.mismatches),
                    len(load.expected) - len(load.uncertain), len(wrong))
        log(f"  {kind}: reshard of {args.reshard_slots} slots :{src.port} -> :{dst.port} under load: {secs:.2f}s; "
            f"client {ops:,} ops meanwhile ({r.ops_per_s:,.0f}/s, {baseline:,.0f}/s before), {r.moved} MOVED, "
            f"{r.ask} ASK, {r.tryagain} TRYAGAIN, {r.errors} errors, {r.mismatches} wrong GETs; "
            f"{r.keys_checked:,} keys read back, {r.wrong_after} wrong")
        return r
    finally:
        if load is not None and load.is_alive():
            load.running = False
            load.join(timeout=30)
        if client is not None:
            client.close()
        fleet.stop(nodes)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def ratio(f: float | None, r: float | None) -> str:
    return f"{f / r:.2f}" if f is not None and r and f == f and r == r else "n/a"


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None or x != x else format(x, spec)


def med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def versions(args) -> list[str]:
    def first_line(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return "?"

    out = [f"- cores: {os.cpu_count()}; all nodes, redis-cli and the client share them"]
    if "Redis" in args.kinds:
        out.append(f"- redis-server: {first_line([args.redis_server, '--version'])}")
    out.append(f"- redis-cli: {first_line([args.redis_cli, '--version'])}")
    if "Ferrocache" in args.kinds:
        out.append(f"- ferrocache: {first_line([args.ferrocache_run, '--version'])} ({args.ferrocache}, "
                   f"git {args.git_commit or '?'}, binary built "
                   f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(Path(args.ferrocache_run).stat().st_mtime))}, "
                   "copied at start-up; the git state is the tree's at start-up, not necessarily the binary's)")
    out.append(f"- command: `{' '.join(shlex.quote(a) for a in ['python3'] + sys.argv)}`")
    out.append(f"- other processes on the machine used {args.others_share:.0%} of its CPU during the run "
               f"(load average at start {args.loadavg_start}); timings stretch with it")
    extra = [f"Redis `{args.redis_args}`"] * bool(args.redis_args) + [f"Ferrocache `{args.ferrocache_args}`"] * bool(args.ferrocache_args)
    if extra:
        out.append("- extra flags: " + ", ".join(extra))
    out.append(f"- every node: `--cluster-enabled yes --cluster-node-timeout {args.node_timeout} "
               "--cluster-config-file nodes.conf --save '' --appendonly no --repl-diskless-sync-delay 0`, "
               "on 127.0.0.1, its own directory")
    return out


def report(args, failover: dict[str, FailoverResult], reshard: dict[str, list[Reshard]]) -> str:
    kinds = args.kinds
    both = len(kinds) == 2
    head = "| | " + " | ".join(kinds) + (" | ratio F/R |" if both else " |")
    rule = "|---|" + "--:|" * (len(kinds) + both)

    def row(label: str, vals: dict[str, float | None], spec: str = ".2f", with_ratio: bool = True) -> str:
        cells = " | ".join(fmt(vals[k], spec) for k in kinds)
        rat = (" | " + (ratio(vals["Ferrocache"], vals["Redis"]) if with_ratio else "")) if both else ""
        return f"| {label} | {cells}{rat} |"

    out = ["## Cluster failover and resharding: Ferrocache vs Redis", ""] + versions(args)
    if failover:
        all_failed_over = all(len(failover[k].times()) == len(failover[k].kills) > 0 for k in kinds)
        out += [
            "",
            f"### Failover: `kill -9` of a primary (3 primaries + 3 replicas)",
            "",
            "From the kill until the first SET sent after it to a key of the dead primary's slots "
            f"succeeds (fresh connection per SET, MOVED followed, errors retried every "
            f"{args.retry_interval * 1000:.0f} ms); victims rotate over the shards. Rejoin: from restarting "
            "the killed node (same port and directory) until the cluster is healthy again, with it as a "
            f"replica. Seconds; a kill with no successful SET within {args.failover_timeout:.0f} s is a failure. "
            "Marker: a key of the same slot SET on the victim just before the kill, then `WAIT 1 1000` there "
            "(replicas that acknowledged it), and whether the new primary has it.",
            "",
            head,
            rule,
            "| kills | " + " | ".join(str(len(failover[k].kills)) for k in kinds) + (" | |" if both else " |"),
            "| failovers within the timeout | " + " | ".join(str(len(failover[k].times())) for k in kinds)
            + (" | |" if both else " |"),
            row("median failover time (s)", {k: med(failover[k].times()) for k in kinds}),
            row("worst failover time (s)", {k: max(failover[k].times(), default=None) for k in kinds}),
            row("best failover time (s)", {k: min(failover[k].times(), default=None) for k in kinds}),
            # Rejoining as a replica of the new primary and rejoining as the primary still (no
            # failover happened) are different things: no ratio unless every kill failed over.
            row("median rejoin time (s)", {k: med(failover[k].rejoins()) for k in kinds}, with_ratio=all_failed_over),
            row("worst rejoin time (s)", {k: max(failover[k].rejoins(), default=None) for k in kinds},
                with_ratio=all_failed_over),
            "| marker keys lost in a failover | " + " | ".join(
                str(sum(1 for kl in failover[k].kills if kl.marker_kept is False)) for k in kinds)
            + (" | |" if both else " |"),
        ]
        for k in kinds:
            res = failover[k]
            out += ["", f"{k}, kill by kill (victim port -> port that served the SET):", "",
                    "| # | victim | its replica | served by | failover (s) | failed SETs after the kill "
                    "| marker: WAIT acks / kept | rejoin (s) |",
                    "|--:|--:|--:|--:|--:|---|--:|--:|"]
            for i, kl in enumerate(res.kills):
                errs = ", ".join(f"{c}x {e}" for e, c in kl.errors.most_common(4))
                secs = fmt(kl.secs, ".3f") if kl.secs is not None else f"**none within {args.failover_timeout:.0f} s**"
                kept = {True: "yes", False: "**lost**", None: "-"}[kl.marker_kept]
                out.append(f"| {i + 1} | {kl.victim} | {kl.replica} | {kl.served_by or '-'} | {secs} "
                           f"| {errs or '-'} | {kl.marker_acked} / {kept} | {fmt(kl.rejoin)} |")
            if res.aborted:
                out += ["", f"{k}: series stopped {res.aborted.splitlines()[0]}"]
            for note in res.notes:
                out += ["", f"{k}: health check let pass after {args.link_grace:g} s: {note}"]
    if reshard:
        out += [
            "",
            f"### Resharding {args.reshard_slots} slots (3 primaries, no replicas)",
            "",
            f"`redis-cli --cluster reshard --cluster-from <first primary> --cluster-to <last primary> "
            f"--cluster-slots {args.reshard_slots} --cluster-yes`, timed, on a fresh cluster"
            + ("" if args.skip_idle_reshard else " with no keys and no client, then on another")
            + f" while one client thread does SET/GET round trips on random keys out of {args.keyspace:,} "
            "(one connection per node, MOVED/ASK followed; every GET checked against the last value SET; "
            f"every key read back afterwards). Median of {args.reshard_rounds} round(s).",
            "",
            head,
            rule,
            *([row("reshard time, no client (s)", {k: med(args.reshard_idle[k]) for k in kinds})]
              if not args.skip_idle_reshard else []),
            row("reshard time under the client load (s)", {k: med([r.secs for r in reshard[k]]) for k in kinds}),
            row("client ops completed during the reshard", {k: med([r.ops for r in reshard[k]]) for k in kinds}, ",.0f"),
            row("client ops/s during the reshard", {k: med([r.ops_per_s for r in reshard[k]]) for k in kinds}, ",.0f"),
            row(f"client ops/s in the {args.baseline:g} s before", {k: med([r.baseline_ops_per_s for r in reshard[k]]) for k in kinds}, ",.0f"),
            "| MOVED / ASK / TRYAGAIN followed | " + " | ".join(
                " / ".join(fmt(med([getattr(r, f) for r in reshard[k]]), ".0f") for f in ("moved", "ask", "tryagain"))
                for k in kinds) + (" | |" if both else " |"),
            row("client errors (sum over rounds)", {k: sum(r.errors for r in reshard[k]) for k in kinds}, ".0f", False),
            row("wrong GET replies (sum)", {k: sum(r.mismatches for r in reshard[k]) for k in kinds}, ".0f", False),
            row("keys wrong when read back afterwards (sum)", {k: sum(r.wrong_after for r in reshard[k]) for k in kinds}, ".0f", False),
        ]
        out += ["", "Reshard time under load per round (s): " + "; ".join(
            f"{k} " + (", ".join(f"{r.secs:.2f}" for r in reshard[k]) or "none") for k in kinds)]
        if not args.skip_idle_reshard:
            out += ["", "Reshard time with no client per round (s): " + "; ".join(
                f"{k} " + (", ".join(f"{x:.2f}" for x in args.reshard_idle[k]) or "none") for k in kinds)]
        for k in kinds:
            for failure in args.reshard_failures[k]:
                out += ["", f"{k}: reshard failed in {failure}"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Cluster benchmark, Ferrocache vs redis-server: failover time after kill -9 of a "
        "primary, and resharding time and client throughput during a reshard. Markdown on stdout, "
        "progress on stderr.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--ferrocache", default=str(compare.default_ferrocache()),
                   help="Ferrocache binary (the default path is built with cargo if missing)")
    p.add_argument("--redis-server", default="redis-server", help="redis-server binary")
    p.add_argument("--redis-cli", default="redis-cli", help="redis-cli binary (drives both kinds of cluster)")
    p.add_argument("--ferrocache-args", default="", help="extra flags for every Ferrocache node")
    p.add_argument("--redis-args", default="", help="extra flags for every redis-server node")
    p.add_argument("--only", choices=sorted(ONLY), help="measure one server kind only")
    p.add_argument("--node-timeout", type=int, default=1000, help="cluster-node-timeout (ms) of every node")
    p.add_argument("--kills", type=int, default=10, help="primaries killed, one after another")
    p.add_argument("--failover-timeout", type=float, default=30.0,
                   help="seconds after a kill without a successful SET that count as no failover")
    p.add_argument("--retry-interval", type=float, default=0.01, help="seconds between the client's SETs")
    p.add_argument("--heal-timeout", type=float, default=60.0,
                   help="seconds to wait for a new or recovering cluster to be healthy")
    p.add_argument("--link-grace", type=float, default=5.0,
                   help="seconds a replica's replication link may stay down, all else healthy, before "
                   "the cluster counts as healthy anyway (noted in the report)")
    p.add_argument("--reshard-rounds", type=int, default=3, help="fresh clusters resharded per kind")
    p.add_argument("--reshard-slots", type=int, default=1000, help="--cluster-slots of the reshard")
    p.add_argument("--reshard-timeout", type=float, default=300.0, help="give up on a reshard after this many seconds")
    p.add_argument("--keyspace", type=int, default=100_000, help="distinct keys the reshard-time client uses")
    p.add_argument("--baseline", type=float, default=2.0,
                   help="seconds the client runs before the reshard starts (its rate then is the baseline)")
    p.add_argument("--skip-failover", action="store_true", help="skip measurement 1")
    p.add_argument("--skip-reshard", action="store_true", help="skip measurement 2")
    p.add_argument("--skip-idle-reshard", action="store_true",
                   help="in measurement 2, only the reshard under the client load")
    p.add_argument("--output", metavar="FILE", help="also write the report to FILE")
    args = p.parse_args(argv)
    args.kinds = [ONLY[args.only]] if args.only else list(KINDS)
    if args.kills < 1 or args.reshard_rounds < 1 or args.keyspace < 1 or args.baseline <= 0:
        p.error("--kills, --reshard-rounds, --keyspace and --baseline must be positive")
    if args.skip_failover and args.skip_reshard:
        p.error("nothing to do with both --skip-failover and --skip-reshard")
    return args


def ensure_tools(args) -> None:
    tools = [("redis_cli", "redis-cli")] + [("redis_server", "redis-server")] * ("Redis" in args.kinds)
    for attr, name in tools:
        path = shutil.which(getattr(args, attr))
        if path is None:
            raise BenchError(f"{name} not found (looked for {getattr(args, attr)!r}); "
                             f"install it: {compare.INSTALL_HINT}")
        setattr(args, attr, path)
    if "Ferrocache" in args.kinds:
        compare.ensure_ferrocache(args)


def git_head() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(compare.REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(compare.REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return ""


def run_all(args, tmp: Path) -> tuple[dict, dict]:
    fleet = Fleet(args, tmp)
    failover: dict[str, FailoverResult] = {}
    reshard: dict[str, list[Reshard]] = {k: [] for k in args.kinds}
    args.reshard_idle = {k: [] for k in args.kinds}
    args.reshard_failures = {k: [] for k in args.kinds}
    try:
        if not args.skip_failover:
            for kind in args.kinds:
                failover[kind] = failover_series(args, fleet, kind)
        if not args.skip_reshard:
            for rnd in range(args.reshard_rounds):
                order = args.kinds if rnd % 2 == 0 else list(reversed(args.kinds))
                for kind in order:
                    log(f"reshard round {rnd + 1}: {kind}")
                    try:
                        if not args.skip_idle_reshard:
                            args.reshard_idle[kind].append(reshard_idle(args, fleet, kind))
                        reshard[kind].append(reshard_loaded(args, fleet, kind))
                    except BenchError as e:  # reported; the other rounds still run
                        log(f"  {kind}: reshard round {rnd + 1} failed: {e}")
                        args.reshard_failures[kind].append(f"round {rnd + 1}: {str(e).splitlines()[0]}")
        return failover, (reshard if not args.skip_reshard else {})
    finally:
        # Runs on success, BenchError, Ctrl-C and SIGTERM alike.
        fleet.stop_all()


def _exit_on_signal(signum, _frame) -> None:
    print(f"cluster_failover.py: stopped by {signal.Signals(signum).name}", file=sys.stderr)
    sys.exit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    try:
        ensure_tools(args)
        args.git_commit = git_head()
        with tempfile.TemporaryDirectory(prefix="ferrocache-cluster-bench-") as tmp:
            args.ferrocache_run = ""
            if "Ferrocache" in args.kinds:
                # A private copy: a `cargo build` finishing mid-run must not change the binary
                # that later nodes (and restarts) start from.
                args.ferrocache_run = str(Path(tmp) / "ferrocache")
                shutil.copy2(args.ferrocache, args.ferrocache_run)
            args.loadavg_start = loadavg()
            t0, machine0, ours0 = time.monotonic(), machine_busy_seconds(), our_cpu_seconds()
            failover, reshard = run_all(args, Path(tmp))
            wall = time.monotonic() - t0
            # Every node and redis-cli has been waited for by now: their CPU is in RUSAGE_CHILDREN.
            others = (machine_busy_seconds() - machine0) - (our_cpu_seconds() - ours0)
            args.others_share = max(0.0, others) / (wall * (os.cpu_count() or 1))
            log(f"done in {wall:.0f}s; other processes used {args.others_share:.0%} of the machine's CPU meanwhile")
            text = report(args, failover, reshard)
    except BenchError as e:
        print(f"cluster_failover.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cluster_failover.py: interrupted", file=sys.stderr)
        return 130
    sys.stdout.write(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
