#!/usr/bin/env python3
"""Regenerates the golden fixtures of src/persistence from a real redis-server 7.0.

    python3 src/persistence/testdata/generate.py     # needs redis-server 7.0 on PATH and redis-py

Writes, next to this script:
  dump_payloads.txt   one line per value: name, how to build the value, Redis's DUMP payload (hex)
  dump_other_types.txt  DUMP payloads of non-string types: type name, payload (hex)
  *.rdb               dump.rdb files saved by SAVE (see RDB_FILES below for their contents)

Values are described rather than stored when they are large: `hex:<bytes>`, or `splitmix:<seed>:<len>`
(the low byte of each output of splitmix64 seeded with <seed>, the generator the Rust tests re-implement),
or `rep:<count>:<hex unit>`, or `numbers:<count>` (the text "0:0,1:1,2:4,…" of i:i*i%9973 for i below <count>).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = (1 << 64) - 1


def splitmix_bytes(seed, n):
    out = bytearray()
    state = seed
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        out.append((z ^ (z >> 31)) & 0xFF)
    return bytes(out)


def build(spec):
    kind, _, rest = spec.partition(":")
    if kind == "hex":
        return bytes.fromhex(rest)
    if kind == "splitmix":
        seed, n = rest.split(":")
        return splitmix_bytes(int(seed), int(n))
    if kind == "numbers":
        return "".join(f"{i}:{i * i % 9973}," for i in range(int(rest))).encode()
    if kind == "rep":
        count, unit = rest.split(":")
        return bytes.fromhex(unit) * int(count)
    raise ValueError(spec)


def text(s):
    return "hex:" + s.encode().hex()


# name -> value spec. Covers every string encoding rdbSaveRawString / rdbSaveStringObject choose.
STRING_VALUES = [
    ("empty", "hex:"),
    ("short", text("hello")),
    ("int_0", text("0")),
    ("int_minus1", text("-1")),
    ("int_127", text("127")),
    ("int_128", text("128")),
    ("int_minus128", text("-128")),
    ("int_minus129", text("-129")),
    ("int_12345", text("12345")),
    ("int_32767", text("32767")),
    ("int_32768", text("32768")),
    ("int_minus32769", text("-32769")),
    ("int_i32_max", text("2147483647")),
    ("int_i32_min", text("-2147483648")),
    ("int_i32_max_plus1", text("2147483648")),
    ("int_2pow40", text(str(2**40))),
    ("int_i64_max", text(str(2**63 - 1))),
    ("int_i64_min", text(str(-(2**63)))),
    ("int_overflow", text(str(2**63))),
    ("int_12_digits", text("123456789012")),
    ("not_int_leading_zero", text("007")),
    ("not_int_plus", text("+1")),
    ("not_int_minus_zero", text("-0")),
    ("not_int_space", text(" 1")),
    ("a20_too_short_for_lzf", "rep:20:61"),
    ("a21_lzf", "rep:21:61"),
    ("a100_lzf", "rep:100:61"),
    ("abc_repeat_lzf", "rep:50:616263"),
    ("text_lzf", "rep:40:" + b"hello world, ".hex()),
    ("incompressible_25", text("abcdefghijklmnopqrstuvwxy")),
    ("random_63", "splitmix:1:63"),
    ("random_64", "splitmix:2:64"),
    ("random_1000", "splitmix:3:1000"),
    ("random_16384_len32", "splitmix:4:16384"),
    ("numbers_lzf_len32", "numbers:2000"),
    ("binary_zeros_lzf", "rep:5000:00"),
]

OTHER_TYPES = [
    ("list", [("RPUSH", "k", "a", "b", "c")]),
    ("hash", [("HSET", "k", "f", "v")]),
    ("set", [("SADD", "k", "x", "y")]),
    ("set", [("SADD", "k", "1", "2")]),  # intset encoding
    ("zset", [("ZADD", "k", "1", "m")]),
    ("stream", [("XADD", "k", "1-1", "f", "v")]),
]

FAR_FUTURE_MS = 4102444800123  # 2100-01-01T00:00:00.123Z: the fixtures never expire
FAR_FUTURE_S = 4133980800  # 2101-01-01T00:00:00Z

# file name -> (extra server args, commands run after FLUSHALL)
RDB_FILES = {
    "strings.rdb": (
        [],
        [
            ("SELECT", "0"),
            ("SET", "short", "hello"),
            ("SET", "int", "12345"),
            ("SET", "neg", "-1"),
            ("SET", "big", str(2**40)),
            ("SET", "empty", ""),
            ("SET", "a100", "a" * 100),
            ("SET", "random_1000", splitmix_bytes(3, 1000)),
            ("SET", "incompressible_25", "abcdefghijklmnopqrstuvwxy"),
            ("SET", "12345", "key that is an integer"),
            ("SET", b"bin\x00\xff", b"\x00\x01\x02"),
            ("SET", "ttl_ms", "v1"),
            ("PEXPIREAT", "ttl_ms", str(FAR_FUTURE_MS)),
            ("SELECT", "3"),
            ("SET", "db3_plain", "x"),
            ("SET", "db3_ttl_s", "y" * 30),
            ("EXPIREAT", "db3_ttl_s", str(FAR_FUTURE_S)),
        ],
    ),
    "lru.rdb": (["--maxmemory-policy", "allkeys-lru"], [("SET", "k1", "v1"), ("SET", "k2", "v2")]),
    "lfu.rdb": (
        ["--maxmemory-policy", "allkeys-lfu"],
        [("SET", "k1", "v1"), ("SET", "k2", "v2")] + [("GET", "k2")] * 100,
    ),
    "nochecksum.rdb": (["--rdbchecksum", "no"], [("SET", "k", "v")]),
    "function.rdb": (
        [],
        [
            ("FUNCTION", "LOAD", "#!lua name=mylib\nredis.register_function('f', function() return 1 end)"),
            ("SET", "k", "v"),
        ],
    ),
    "list.rdb": ([], [("RPUSH", "mylist", "a", "b")]),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, workdir, extra=()):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", workdir, *extra],
            stdout=subprocess.DEVNULL,
        )
        self.client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.client.close()
        self.proc.terminate()
        self.proc.wait()


def main():
    workdir = tempfile.mkdtemp(prefix="ferrocache-rdb-fixtures-")
    try:
        server = Server(workdir)
        r = server.client
        with open(os.path.join(HERE, "dump_payloads.txt"), "w") as f:
            f.write("# name value-spec redis-7.0-DUMP-payload-hex (generated by generate.py)\n")
            for name, spec in STRING_VALUES:
                r.set("k", build(spec))
                f.write(f"{name} {spec} {r.dump('k').hex()}\n")
        with open(os.path.join(HERE, "dump_other_types.txt"), "w") as f:
            f.write("# type redis-7.0-DUMP-payload-hex (generated by generate.py)\n")
            for type_name, commands in OTHER_TYPES:
                r.delete("k")
                for command in commands:
                    r.execute_command(*command)
                f.write(f"{type_name} {r.dump('k').hex()}\n")
        server.stop()

        for file_name, (extra, commands) in RDB_FILES.items():
            server = Server(workdir, extra)
            server.client.flushall()
            server.client.function_flush()
            for command in commands:
                server.client.execute_command(*command)
            server.client.save()
            server.stop()
            shutil.copy(os.path.join(workdir, "dump.rdb"), os.path.join(HERE, file_name))
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
