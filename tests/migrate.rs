//! # MIGRATE against real redis-server 7.0 targets
//!
//! The same script of MIGRATE calls runs twice, each time against a fresh redis-server target
//! that requires a password: once from a redis-server source, once from Ferrocache. Every reply
//! must be the same bytes, and the keys must end where Redis puts them. Then redis-server
//! migrates keys into Ferrocache (RESTORE with TTLs, REPLACE, AUTH).

mod common;

use common::process::{free_port, ServerProcess};
use common::{Conn, TempDir, TestServer};
use std::net::SocketAddr;

/// Runs the script with `source` migrating to `target` (which requires password `pw`);
/// returns every reply, the target's view of the keys, and the source's.
fn script(source: SocketAddr, target: &ServerProcess) -> Vec<String> {
    let mut a = Conn::new(source);
    let mut b = Conn::new(target.addr);
    let port = target.addr.port().to_string();
    let p = port.as_bytes();
    let closed = free_port().to_string();
    let mut out = Vec::new();
    let mut run = |c: &mut Conn, args: &[&[u8]]| {
        let reply = c.call_text(args);
        let shown = String::from_utf8_lossy(&args.join(&b' ')).replace(&port, "PORT").replace(&closed, "CLOSED");
        out.push(format!("{shown} -> {reply}"));
    };
    run(&mut b, &[b"AUTH", b"pw"]);
    run(&mut a, &[b"SET", b"k1", b"v1"]);
    run(&mut a, &[b"SET", b"k2", b"v2", b"PX", b"100000"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k1", b"0", b"1000"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k1", b"0", b"1000", b"AUTH", b"pw"]);
    run(&mut b, &[b"GET", b"k1"]);
    run(&mut a, &[b"EXISTS", b"k1"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"nokey", b"0", b"1000", b"AUTH", b"pw"]);
    run(&mut a, &[b"SET", b"k1", b"again"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k1", b"0", b"1000", b"AUTH", b"pw"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k1", b"0", b"1000", b"AUTH2", b"default", b"pw", b"REPLACE", b"COPY"]);
    run(&mut a, &[b"EXISTS", b"k1"]);
    run(&mut b, &[b"GET", b"k1"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"", b"3", b"1000", b"AUTH", b"pw", b"KEYS", b"k1", b"k2", b"nokey"]);
    run(&mut a, &[b"EXISTS", b"k1", b"k2"]);
    run(&mut b, &[b"SELECT", b"3"]);
    run(&mut b, &[b"GET", b"k2"]);
    run(&mut b, &[b"GET", b"k1"]);
    run(&mut a, &[b"SET", b"k3", b"v3"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k3", b"0", b"1000", b"KEYS", b"k2"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k3", b"x", b"1000"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k3", b"0", b"1000", b"foo"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k3", b"0", b"1000", b"AUTH"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k3", b"0", b"1000", b"AUTH2", b"u"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k3", b"99", b"1000", b"AUTH", b"pw"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k3", b"0", b"1000", b"AUTH", b"wrong"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", closed.as_bytes(), b"k3", b"0", b"100"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"k3", b"0", b"-5", b"AUTH", b"pw"]);
    run(&mut a, &[b"EXISTS", b"k3"]);
    run(&mut b, &[b"SELECT", b"0"]);
    run(&mut b, &[b"GET", b"k3"]);
    run(&mut a, &[b"MULTI"]);
    run(&mut a, &[b"MIGRATE", b"127.0.0.1", p, b"gone", b"0", b"1000"]);
    run(&mut a, &[b"EXEC"]);
    run(
        &mut a,
        &[b"COMMAND", b"GETKEYS", b"MIGRATE", b"h", b"1", b"", b"0", b"5", b"AUTH", b"pw", b"KEYS", b"a", b"b"],
    );
    // The connection to the target stays cached (for 10 s, longer than this script).
    let stats = a.call_text(&[b"INFO", b"stats"]);
    out.extend(stats.lines().filter(|l| l.starts_with("migrate_cached_sockets:")).map(str::to_string));
    out
}

#[test]
fn replies_and_key_moves_match_redis() {
    let dir = TempDir::new("migrate");
    let expected = {
        let source = ServerProcess::redis(&dir.0, &[]);
        let target = ServerProcess::redis(&dir.0, &["--requirepass", "pw"]);
        script(source.addr, &target)
    };
    let ours = TestServer::start();
    let target = ServerProcess::redis(&dir.0, &["--requirepass", "pw"]);
    let got = script(ours.addr, &target);
    for (e, g) in expected.iter().zip(&got) {
        assert_eq!(g, e);
    }
    assert_eq!(got.len(), expected.len());
    assert_eq!(got.last().map(String::as_str), Some("migrate_cached_sockets:1"));
}

#[test]
fn redis_migrates_keys_into_ferrocache() {
    let dir = TempDir::new("migrate-in");
    let ours = TestServer::with_config(|c| c.requirepass = "pw".into());
    let redis = ServerProcess::redis(&dir.0, &[]);
    let mut r = Conn::new(redis.addr);
    let port = ours.addr.port().to_string();
    r.roundtrip(&[b"SET", b"plain", b"v"], b"+OK\r\n");
    r.roundtrip(&[b"SET", b"ttl", b"12345", b"EX", b"100"], b"+OK\r\n");
    let long = "xyz".repeat(1000);
    r.roundtrip(&[b"SET", b"long", long.as_bytes()], b"+OK\r\n");
    let reply = r.call_text(&[
        b"MIGRATE",
        b"127.0.0.1",
        port.as_bytes(),
        b"",
        b"2",
        b"1000",
        b"AUTH",
        b"pw",
        b"KEYS",
        b"plain",
        b"ttl",
        b"long",
    ]);
    assert_eq!(reply, "+OK\r\n");
    let mut c = Conn::new(ours.addr);
    c.roundtrip(&[b"AUTH", b"pw"], b"+OK\r\n");
    c.roundtrip(&[b"SELECT", b"2"], b"+OK\r\n");
    assert_eq!(c.call_text(&[b"GET", b"plain"]), "$1\r\nv\r\n");
    assert_eq!(c.call_text(&[b"GET", b"long"]), format!("$3000\r\n{long}\r\n"));
    assert_eq!(c.call_text(&[b"OBJECT", b"ENCODING", b"ttl"]), "$3\r\nint\r\n");
    let ttl: i64 = c.call_text(&[b"PTTL", b"ttl"]).trim_start_matches(':').trim().parse().unwrap();
    assert!(ttl > 95_000 && ttl <= 100_000, "PTTL {ttl}");
    // A key already there: BUSYKEY comes back through MIGRATE; REPLACE overwrites.
    r.roundtrip(&[b"SET", b"plain", b"second"], b"+OK\r\n");
    let busy = r.call_text(&[b"MIGRATE", b"127.0.0.1", port.as_bytes(), b"plain", b"2", b"1000", b"AUTH", b"pw"]);
    assert_eq!(busy, "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n");
    let replaced =
        r.call_text(&[b"MIGRATE", b"127.0.0.1", port.as_bytes(), b"plain", b"2", b"1000", b"AUTH", b"pw", b"REPLACE"]);
    assert_eq!(replaced, "+OK\r\n");
    assert_eq!(c.call_text(&[b"GET", b"plain"]), "$6\r\nsecond\r\n");
}
