"""Drives a Ferrocache server with redis-py the way applications do; exits non-zero on any
mismatch. Run by tests/tools.rs with the server's port as the only argument."""

import sys

import redis

port = int(sys.argv[1])

for protocol in (2, 3):
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, client_name=f"py{protocol}")
    assert r.ping() is True
    assert r.set("py:k", "v") is True
    assert r.get("py:k") == b"v"
    assert r.get("py:missing") is None
    name = r.client_getname()
    assert (name.decode() if isinstance(name, bytes) else name) == f"py{protocol}", name
    assert r.incr("py:n") >= 1
    assert r.mset({"py:a": "1", "py:b": "2"}) is True
    assert r.mget("py:a", "py:b", "py:missing") == [b"1", b"2", None]
    assert r.set("py:ttl", "x", ex=100) is True
    assert 0 < r.ttl("py:ttl") <= 100
    # pipeline() defaults to MULTI/EXEC.
    with r.pipeline() as p:
        p.set("py:t", "1").incr("py:t").get("py:t")
        assert p.execute() == [True, 2, b"2"]
    with r.pipeline(transaction=False) as p:
        p.set("py:u", "a").append("py:u", "b").get("py:u")
        assert p.execute() == [True, 2, b"ab"]
    try:
        r.execute_command("NOSUCHCOMMAND")
        raise AssertionError("unknown command accepted")
    except redis.ResponseError as e:
        assert str(e).startswith("unknown command 'NOSUCHCOMMAND'"), e
    info = r.info()
    assert info["redis_version"] and "connected_clients" in info
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    assert r.delete("py:k", "py:a", "py:b", "py:t", "py:u", "py:n", "py:ttl") == 7
    r.close()

print("redis-py ok")
