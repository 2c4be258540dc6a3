#!/usr/bin/env python3
"""Bytes per element of hashes, sets, sorted sets and lists: Ferrocache against redis-server.

Fills each server in turn with N hashes of 10 fields, N sets of 10 members, one sorted set of N
members and one list of N elements (redis-py pipelines), and prints used_memory and RSS growth
per element, and Ferrocache's ratio to Redis. Both servers must already run:

    redis-server --port 16802 --save '' --daemonize yes
    target/release/ferrocache --port 16801 --save '' &
    python3 benches/collection_memory.py 100000      # N; FLUSHALLs both servers
"""

import sys
import time

import redis

REDIS_PORT, FERROCACHE_PORT = 16802, 16801


def fill(r: redis.Redis, kind: str, n: int) -> None:
    p = r.pipeline(transaction=False)
    for i in range(n):
        if kind == "hash":
            p.hset(f"h:{i}", mapping={f"field:{j}": f"value:{j}" for j in range(10)})
        elif kind == "set":
            p.sadd(f"s:{i}", *[f"member:{j}" for j in range(10)])
        elif kind == "zset":
            p.zadd("bigz", {f"member:{i}": i})
        else:
            p.rpush("bigl", f"element:{i}")
        if i % 2000 == 1999:
            p.execute()
    p.execute()


def memory(r: redis.Redis) -> tuple[int, int]:
    info = r.info("memory")
    return info["used_memory"], info["used_memory_rss"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print("| type | elements | Redis used B/el | Redis RSS B/el | Ferrocache used B/el | Ferrocache RSS B/el | used F/R | RSS F/R |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for kind, elements in [("hash (10 fields)", 10 * n), ("set (10 members)", 10 * n), ("zset", n), ("list", n)]:
        per = []
        for port in (REDIS_PORT, FERROCACHE_PORT):
            r = redis.Redis(port=port)
            r.flushall()
            time.sleep(0.5)  # lazily freed memory settles
            used0, rss0 = memory(r)
            fill(r, kind.split()[0], n)
            time.sleep(0.5)
            used1, rss1 = memory(r)
            per += [(used1 - used0) / elements, (rss1 - rss0) / elements]
        print(f"| {kind} | {elements:,} | {per[0]:.1f} | {per[1]:.1f} | {per[2]:.1f} | {per[3]:.1f} "
              f"| {per[2] / per[0]:.2f} | {per[3] / per[1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
