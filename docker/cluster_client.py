#!/usr/bin/env python3
"""A cluster client for docker/test-cluster.sh that follows MOVED itself.

One redis-py Connection per node (not a pool), so that `WAIT 1` runs on the very connection
that made the writes it vouches for.

  cluster_client.py write HOST:PORT N FILE   SET N keys through MOVED; WAIT 1 after each batch on
                                             each node written; FILE gets the acknowledged keys
  cluster_client.py read HOST:PORT FILE      GET every key in FILE through MOVED; exit 1 on any
                                             missing or different value
  cluster_client.py replica-of HOST:PORT     the address of a replica of the primary HOST:PORT
  cluster_client.py key-for HOST:PORT        a key in a slot the primary HOST:PORT serves
  cluster_client.py writer SEEDS STOP FILE   SET roll:0, roll:1, ... until the file STOP exists,
                                             retrying redirects, TRYAGAIN and connection errors
                                             (any other error fails); FILE gets the keys whose
                                             SET answered OK
"""
import json
import os
import sys
import time

import redis

BATCH = 250
WAIT_MS = 5000


class RedirectLoop(Exception):
    """MOVED kept pointing elsewhere: nodes' views disagree for a moment (a failover)."""


class Cluster:
    def __init__(self, seed):
        self.seed = seed
        self.conns = {}
        self.slot_owner = {}
        self.moved = 0

    def conn(self, addr):
        if addr not in self.conns:
            host, port = addr.rsplit(":", 1)
            self.conns[addr] = redis.Connection(host=host, port=int(port), socket_timeout=10)
        return self.conns[addr]

    def call(self, slot, *args):
        """Runs a one-key command at the slot's owner as MOVED says; returns (addr, reply).
        Follows up to 16 redirects, as redis-py's cluster client (its request TTL); past that
        raises RedirectLoop, which the writer retries a moment later, as that client does."""
        addr = self.slot_owner.get(slot, self.seed)
        for _ in range(16):
            c = self.conn(addr)
            c.send_command(*args)
            try:
                return addr, c.read_response()
            except redis.exceptions.MovedError as e:
                self.moved += 1
                addr = f"{e.host}:{e.port}"
                self.slot_owner[e.slot_id] = addr
        raise RedirectLoop(f"too many redirects for {args!r}")

    def wait(self, addr):
        c = self.conn(addr)
        c.send_command("WAIT", 1, WAIT_MS)
        return c.read_response()


def writer(seeds, stop, path):
    """Writes until told to stop. A write counts as acknowledged when SET answers OK; one that
    fails with an allowed error is retried (SET is idempotent here) until it succeeds."""
    seeds = seeds.split(",")
    cl = Cluster(seeds[0])
    counts = {"ok": 0, "moved": 0, "tryagain": 0, "connection": 0, "redirect_loop": 0}
    other = []
    acked = []
    i = 0
    while not os.path.exists(stop):
        key, value = f"roll:{i}", f"value:{i}"
        slot = key_slot(key)
        deadline = time.monotonic() + 60
        while True:
            if time.monotonic() > deadline:
                other.append(f"{key}: not written within 60 s")
                break
            try:
                _, reply = cl.call(slot, "SET", key, value)
                if reply in (b"OK", "OK"):
                    acked.append(key)
                    counts["ok"] += 1
                else:
                    other.append(f"{key}: {reply!r}")
                break
            except redis.exceptions.TryAgainError:
                counts["tryagain"] += 1
            except RedirectLoop:
                # Retried after the sleep below; a loop that outlasts the 60 s deadline fails.
                counts["redirect_loop"] += 1
                cl.slot_owner.pop(slot, None)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
                # The node went away (restarting): forget it and ask another seed; MOVED
                # leads to the slot's current owner.
                counts["connection"] += 1
                addr = cl.slot_owner.pop(slot, cl.seed)
                bad = cl.conns.pop(addr, None)
                if bad is not None:
                    bad.disconnect()
                cl.slot_owner = {s: a for s, a in cl.slot_owner.items() if a != addr}
                cl.seed = seeds[(seeds.index(cl.seed) + 1) % len(seeds)] if cl.seed in seeds else seeds[0]
            except redis.exceptions.ResponseError as e:
                other.append(f"{key}: {e}")
                break
            time.sleep(0.05)
        i += 1
    counts["moved"] = cl.moved
    with open(path, "w") as f:
        json.dump(acked, f)
    print(f"writer: {counts}; other errors: {len(other)}")
    if other:
        print("first other errors:", other[:10])
        sys.exit(1)


def key_slot(key):
    return redis.crc.key_slot(key.encode())


def write(seed, n, path):
    cl = Cluster(seed)
    acked, pending = [], {}
    for i in range(n):
        key, value = f"key:{i}", f"value:{i}"
        addr, reply = cl.call(key_slot(key), "SET", key, value)
        if reply not in (b"OK", "OK"):
            sys.exit(f"SET {key} answered {reply!r}")
        pending.setdefault(addr, []).append(key)
        if i % BATCH == BATCH - 1 or i == n - 1:
            for a, keys in pending.items():
                replicas = cl.wait(a)
                if replicas < 1:
                    sys.exit(f"WAIT 1 {WAIT_MS} at {a} answered {replicas}")
                acked.extend(keys)
            pending = {}
    with open(path, "w") as f:
        json.dump(acked, f)
    print(f"wrote {len(acked)} keys, each acknowledged by WAIT 1; {cl.moved} MOVED followed")


def read(seed, path):
    with open(path) as f:
        keys = json.load(f)
    cl = Cluster(seed)
    bad = []
    for key in keys:
        _, reply = cl.call(key_slot(key), "GET", key)
        want = "value:" + key.split(":", 1)[1]
        if reply is None or reply.decode() != want:
            bad.append((key, reply))
    print(f"read {len(keys)} keys: {len(keys) - len(bad)} intact, {len(bad)} lost or wrong; "
          f"{cl.moved} MOVED followed")
    if bad:
        print("first differences:", bad[:10])
        sys.exit(1)


def replica_of(primary):
    host, port = primary.rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port), socket_timeout=10)
    lines = r.execute_command("CLUSTER", "NODES").decode().splitlines()
    me = next(line.split()[0] for line in lines if "myself" in line.split()[2])
    for line in lines:
        f = line.split()
        if f[3] == me and "slave" in f[2] and "fail" not in f[2]:
            print(f[1].split("@")[0])
            return
    sys.exit(f"{primary} has no replica in CLUSTER NODES")


def key_for(primary):
    host, port = primary.rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port), socket_timeout=10)
    lines = r.execute_command("CLUSTER", "NODES").decode().splitlines()
    ranges = next(line.split()[8:] for line in lines if "myself" in line.split()[2])
    first = int(ranges[0].split("-")[0])
    i = 0
    while key_slot(f"probe:{i}") != first:
        i += 1
    print(f"probe:{i}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "write":
        write(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "read":
        read(sys.argv[2], sys.argv[3])
    elif cmd == "replica-of":
        replica_of(sys.argv[2])
    elif cmd == "writer":
        writer(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "key-for":
        key_for(sys.argv[2])
    else:
        sys.exit(__doc__)
