#!/usr/bin/env python3
"""Redis's side of benches/glob.rs: the same patterns and subjects, timed with KEYS.

Starts its own redis-server on a free loopback port (--save '' --appendonly no), stores the
subject as the only key, and reports the median time of `KEYS pattern` minus the median of a
`KEYS` that matches nothing by its first byte (round trip and the one-key scan). Cases that
match also pay for sending the key back. Standard library only; prints Markdown.

Run: python3 benches/glob_redis.py [--redis-server PATH]
"""
import argparse
import socket
import statistics
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            return [self.read() for _ in range(max(int(rest), 0))]
        return rest


def cases():
    kb = lambda n: b"a" * (n * 1024)
    spread = bytearray(kb(512))
    for i in range(0, len(spread), 500):
        spread[i] = ord("x")
    spread = bytes(spread)
    return [
        ("issue/(a*)x20 b vs a x40", b"a*" * 20 + b"b", b"a" * 40),
        ("stars/1000 vs 512KB", b"*" + b"a*" * 999 + b"b", kb(512)),
        ("stars/(*x)x999 *b vs 512KB spread", b"*x" * 999 + b"*b", spread),
        ("stars/(*x)x999 * vs 512KB spread", b"*x" * 999 + b"*", spread),
        ("piece/*a x100 b vs 64KB", b"*" + b"a" * 100 + b"b", kb(64)),
        ("piece/*a x1000 b vs 64KB", b"*" + b"a" * 1000 + b"b", kb(64)),
        ("class/*[1000-byte class]b vs 64KB", b"*[" + b"c" * 998 + b"a]b", kb(64)),
        ("class/*[a-z] x100 b vs 64KB", b"*" + b"[a-z]" * 100 + b"b", kb(64)),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redis-server", default="redis-server")
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [args.redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                conn = Conn(port)
                if conn.cmd("PING") == b"PONG":
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("redis-server did not start")
        version = conn.cmd("INFO", "server").split(b"redis_version:")[1].split(b"\r\n")[0].decode()

        def median_us(pattern, runs):
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                conn.cmd("KEYS", pattern)
                times.append(time.perf_counter() - start)
            return statistics.median(times) * 1e6

        print(f"redis-server {version}, KEYS against one key, median minus a no-match KEYS\n")
        print("| case | Redis |")
        print("|---|---:|")
        for name, pattern, subject in cases():
            conn.cmd("FLUSHALL")
            conn.cmd("SET", subject, "1")
            runs = 5 if len(subject) > 4096 else 51
            base = median_us(b"\x01", 21)
            print(f"| {name} | {max(median_us(pattern, runs) - base, 0):,.1f} µs |")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
