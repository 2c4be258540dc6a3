#!/usr/bin/env python3
"""Captures Redis 7.0's COMMAND INFO and COMMAND DOCS for every command into the data file
Ferrocache serves its COMMAND replies from (src/commands/redis-7.0-commands.resp).

Usage: tools/gen_command_meta.py [REDIS_SERVER_BINARY]   (default: redis-server on PATH)

Starts a private redis-server on a unix socket in a temp dir, asks it in RESP3 for each
top-level command's INFO entry and DOCS entry, and writes one RESP3 array of
[name, info, docs] triples, sorted by name. Redis keeps commands and subcommands in hash
tables with a per-process random seed, so their order changes with every start: the script
sorts subcommands by name, which makes the file reproducible.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "commands", "redis-7.0-commands.resp")


class Conn:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n + 2 :]
        return out

    def reply(self):
        """A reply as (type byte, payload): aggregates hold a list of replies, maps a flat one."""
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind in b"+-:_,#":
            return (kind, rest)
        if kind in b"$=":
            return (kind, self.exact(int(rest)))
        if kind in b"*~>":
            return (kind, [self.reply() for _ in range(int(rest))])
        if kind == b"%":
            return (kind, [self.reply() for _ in range(2 * int(rest))])
        raise ValueError(line)

    def call(self, *args):
        req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args))
        self.sock.sendall(req)
        r = self.reply()
        if r[0] == b"-":
            raise RuntimeError(r[1])
        return r


def encode(r):
    kind, payload = r
    if kind in b"+-:_,#":
        return kind + payload + b"\r\n"
    if kind in b"$=":
        return kind + b"%d\r\n" % len(payload) + payload + b"\r\n"
    n = len(payload) // 2 if kind == b"%" else len(payload)
    return kind + b"%d\r\n" % n + b"".join(encode(x) for x in payload)


def sort_info(entry):
    """Sorts an INFO entry's subcommands (element 9) by name, recursively."""
    kind, fields = entry
    subs = sorted((sort_info(s) for s in fields[9][1]), key=lambda s: s[1][0][1])
    return (kind, fields[:9] + [(fields[9][0], subs)])


def sort_docs(docs):
    """Sorts a DOCS entry's `subcommands` map by name, recursively."""
    kind, flat = docs
    out = []
    for k, v in zip(flat[::2], flat[1::2]):
        if k[1] == b"subcommands":
            pairs = sorted(zip(v[1][::2], v[1][1::2]), key=lambda p: p[0][1])
            v = (v[0], [x for name, d in pairs for x in (name, sort_docs(d))])
        out += [k, v]
    return (kind, out)


def bulk(s):
    return (b"$", s.encode())


def simple_set(items):
    return (b"~", [(b"+", s.encode()) for s in items])


def docs_map(pairs):
    return (b"%", [x for k, v in pairs for x in (bulk(k), v)])


# Subcommands Ferrocache implements from a later Redis, as that version reports them (Redis
# 7.2.0's client-setinfo.json): (container, INFO entry, DOCS entry).
LATER = [
    (
        "client",
        (b"*", [bulk("client|setinfo"), (b":", b"4"), simple_set(["noscript", "loading", "stale"]),
                (b":", b"0"), (b":", b"0"), (b":", b"0"), simple_set(["@slow", "@connection"]),
                (b"~", []), (b"*", []), (b"*", [])]),
        docs_map([
            ("summary", bulk("Sets information specific to the client or connection.")),
            ("since", bulk("7.2.0")),
            ("group", bulk("connection")),
            ("complexity", bulk("O(1)")),
            ("arguments", (b"*", [docs_map([
                ("name", bulk("attr")),
                ("type", bulk("oneof")),
                ("arguments", (b"*", [
                    docs_map([("name", bulk("libname")), ("type", bulk("string")), ("token", bulk("lib-name"))]),
                    docs_map([("name", bulk("libver")), ("type", bulk("string")), ("token", bulk("lib-ver"))]),
                ])),
            ])])),
        ]),
    ),
]


def add_later(name, info, docs):
    """Adds LATER's subcommands of container `name` to its INFO and DOCS entries."""
    for container, sub_info, sub_docs in LATER:
        if container != name:
            continue
        sub_name = sub_info[1][0]
        info[1][9][1].append(sub_info)
        flat = docs[1]
        i = flat.index(bulk("subcommands"))
        flat[i + 1][1].extend([sub_name, sub_docs])
    return info, docs


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "redis-server"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "redis.sock")
        proc = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", path, "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(500):
                if os.path.exists(path):
                    break
                time.sleep(0.01)
            conn = Conn(path)
            version = dict(zip(*[iter(conn.call("HELLO", "3")[1])] * 2))
            names = sorted(n[1].decode() for n in conn.call("COMMAND", "LIST")[1] if b"|" not in n[1])
            triples = []
            for name in names:
                (info,) = conn.call("COMMAND", "INFO", name)[1]
                _, docs = conn.call("COMMAND", "DOCS", name)[1]
                info, docs = add_later(name, info, docs)
                triples.append((b"*", [(b"$", name.encode()), sort_info(info), sort_docs(docs)]))
            with open(OUT, "wb") as f:
                f.write(encode((b"*", triples)))
            print(f"{len(names)} commands of redis {version[(b'$', b'version')][1].decode()} -> {OUT}")
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
