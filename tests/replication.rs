//! Replication in Redis's protocol: Ferrocache replicating Ferrocache (in-process servers),
//! and both directions with a real redis-server 7.0: full sync (diskless and from disk), the
//! stream of write effects, WAIT, partial resync after a dropped link, after a replica's
//! restart and across a promotion, `redis-cli --rdb`.

mod common;

use common::keyspace::{query, wait_until};
use common::process::{program, ServerProcess};
use common::{TempDir, TestServer};
use ferrocache::Config;
use redis::Connection;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;

fn connect(addr: SocketAddr) -> Connection {
    let client = redis::Client::open(format!("redis://{addr}")).unwrap();
    let mut con = client.get_connection().unwrap();
    // A replica may still be loading: wait for it to answer.
    wait_until("the server to answer PING", || redis::cmd("PING").query::<String>(&mut con).is_ok());
    con
}

/// A Ferrocache server whose full syncs start at once (Redis's default waits 5 s for more
/// replicas).
fn ferrocache(f: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::with_config(|c| {
        c.repl_diskless_sync_delay = 0;
        f(c)
    })
}

fn info(con: &mut Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(con).unwrap()
}

fn field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {name} in:\n{info}"))
        .to_string()
}

fn repl_field(con: &mut Connection, name: &str) -> String {
    field(&info(con, "replication"), name)
}

fn stat(con: &mut Connection, name: &str) -> u64 {
    field(&info(con, "stats"), name).parse().unwrap()
}

fn replicaof(con: &mut Connection, primary: SocketAddr) {
    let reply: String = query(con, &["REPLICAOF", &primary.ip().to_string(), &primary.port().to_string()]);
    assert!(reply.starts_with("OK"), "{reply}");
}

fn wait_link_up(replica: &mut Connection) {
    wait_until("master_link_status:up", || repl_field(replica, "master_link_status") == "up");
}

/// Waits until the replica has applied everything the primary has streamed so far.
fn wait_caught_up(primary: &mut Connection, replica: &mut Connection) {
    let target: u64 = repl_field(primary, "master_repl_offset").parse().unwrap();
    wait_until("the replica to reach the primary's offset", || {
        repl_field(replica, "slave_repl_offset").parse::<u64>().unwrap() >= target
    });
}

/// Every key of every database with its DUMP payload and whether it has a TTL.
fn dump_all(con: &mut Connection) -> BTreeMap<(u32, Vec<u8>), (Vec<u8>, bool)> {
    let mut out = BTreeMap::new();
    for db in 0..16u32 {
        let _: () = query(con, &["SELECT", &db.to_string()]);
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(con).unwrap();
        for k in keys {
            let dump: Vec<u8> = redis::cmd("DUMP").arg(&k).query(con).unwrap();
            let ttl: i64 = redis::cmd("PTTL").arg(&k).query(con).unwrap();
            out.insert((db, k), (dump, ttl > 0));
        }
    }
    let _: () = query(con, &["SELECT", "0"]);
    out
}

/// Writes of every kind the stream must carry: plain and integer values, relative TTLs
/// (sent as absolute PXAT), deletions, a transaction, other databases.
fn write_mix(con: &mut Connection, round: usize) {
    for i in 0..200 {
        let _: () = query(con, &["SET", &format!("k{round}:{i}"), &format!("v{i}")]);
    }
    let _: () = query(con, &["SET", &format!("ttl{round}"), "x", "EX", "1000"]);
    let _: i64 = query(con, &["INCRBY", "counter", "7"]);
    let _: i64 = query(con, &["DEL", &format!("k{round}:0"), &format!("k{round}:1")]);
    let _: () = query(con, &["SELECT", "3"]);
    let _: () = query(con, &["SET", &format!("db3:{round}"), "three"]);
    let _: () = query(con, &["SELECT", "0"]);
    let _: Vec<redis::Value> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(format!("tx{round}"))
        .arg("a")
        .cmd("APPEND")
        .arg(format!("tx{round}"))
        .arg("b")
        .query(con)
        .unwrap();
    let _: i64 = query(con, &["PEXPIRE", &format!("k{round}:2"), "500000"]);
}

#[test]
fn ferrocache_replicates_ferrocache_diskless_and_from_disk() {
    for diskless in ["yes", "no"] {
        let primary = ferrocache(|c| c.repl_diskless_sync = diskless == "yes");
        let replica = ferrocache(|_| {});
        let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
        write_mix(&mut p, 0);
        replicaof(&mut r, primary.addr);
        wait_link_up(&mut r);
        wait_caught_up(&mut p, &mut r);
        assert_eq!(dump_all(&mut r), dump_all(&mut p), "after the full sync (diskless {diskless})");
        write_mix(&mut p, 1);
        wait_caught_up(&mut p, &mut r);
        assert_eq!(dump_all(&mut r), dump_all(&mut p), "after streaming (diskless {diskless})");
        assert_eq!(stat(&mut p, "sync_full"), 1);
        // A read-only replica refuses writes with Redis's error.
        replica
            .connect()
            .roundtrip(&[b"SET", b"x", b"1"], b"-READONLY You can't write against a read only replica.\r\n");
        // ROLE on both sides.
        let role: Vec<redis::Value> = query(&mut r, &["ROLE"]);
        assert_eq!(role.len(), 5);
        assert_eq!(role[0], redis::Value::BulkString(b"slave".to_vec()));
        assert_eq!(role[2], redis::Value::Int(primary.addr.port() as i64));
        assert_eq!(role[3], redis::Value::BulkString(b"connected".to_vec()));
        let role: (String, i64, Vec<Vec<String>>) = query(&mut p, &["ROLE"]);
        assert_eq!(role.0, "master");
        assert_eq!(role.2.len(), 1);
        assert_eq!(role.2[0][1], replica.addr.port().to_string());
        let info = info(&mut p, "replication");
        assert_eq!(field(&info, "connected_slaves"), "1");
        let line = field(&info, "slave0");
        assert!(line.starts_with(&format!("ip=127.0.0.1,port={},state=online,offset=", replica.addr.port())), "{line}");
    }
}

#[test]
fn wait_counts_the_replicas_that_acknowledged_the_clients_writes() {
    let primary = ferrocache(|_| {});
    let replica = ferrocache(|_| {});
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    // No replica: WAIT 0 answers at once, WAIT 1 with a timeout answers 0 after it.
    let _: () = query(&mut p, &["SET", "a", "1"]);
    assert_eq!(query::<i64>(&mut p, &["WAIT", "0", "0"]), 0);
    assert_eq!(query::<i64>(&mut p, &["WAIT", "1", "50"]), 0);
    replicaof(&mut r, primary.addr);
    wait_link_up(&mut r);
    for i in 0..20 {
        let _: () = query(&mut p, &["SET", &format!("w{i}"), "v"]);
        // Acknowledged by the one replica: its data has the write.
        assert_eq!(query::<i64>(&mut p, &["WAIT", "1", "0"]), 1);
        assert_eq!(query::<Option<String>>(&mut r, &["GET", &format!("w{i}")]).as_deref(), Some("v"));
    }
    // Two wanted, one there: the timeout ends it with the count.
    assert_eq!(query::<i64>(&mut p, &["WAIT", "2", "100"]), 1);
    // Errors as Redis words them.
    let e = |con: &mut Connection, args: &[&str]| {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query::<redis::Value>(con).unwrap_err().to_string()
    };
    assert_eq!(
        e(&mut p, &["WAIT", "1", "-1"]),
        "An error was signalled by the server - ResponseError: timeout is negative"
    );
    assert!(e(&mut r, &["WAIT", "1", "0"]).contains("WAIT cannot be used with replica instances."));
}

/// The replica's connection on the primary, killed: the replica reconnects and continues
/// from the backlog (`+CONTINUE`), receiving what was written meanwhile.
#[test]
fn a_dropped_link_continues_with_a_partial_resync() {
    let primary = ferrocache(|_| {});
    let replica = ferrocache(|_| {});
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    write_mix(&mut p, 0);
    replicaof(&mut r, primary.addr);
    wait_link_up(&mut r);
    wait_caught_up(&mut p, &mut r);
    let killed: i64 = query(&mut p, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed, 1);
    write_mix(&mut p, 1);
    wait_until("a partial resync", || stat(&mut p, "sync_partial_ok") == 1);
    wait_link_up(&mut r);
    wait_caught_up(&mut p, &mut r);
    assert_eq!(dump_all(&mut r), dump_all(&mut p));
    assert_eq!(stat(&mut p, "sync_full"), 1, "no second full sync");
}

/// A replica restarted from its own RDB (which records the replication id and offset)
/// continues where it was instead of syncing everything again.
#[test]
fn a_restarted_replica_continues_from_its_rdb() {
    let primary = ferrocache(|_| {});
    let mut p = connect(primary.addr);
    write_mix(&mut p, 0);
    let dir = TempDir::new("replica-restart");
    let replica_config = |c: &mut Config| {
        c.dir = dir.path_str();
        c.replicaof = Some(("127.0.0.1".into(), primary.addr.port()));
    };
    {
        let replica = ferrocache(replica_config);
        let mut r = connect(replica.addr);
        wait_link_up(&mut r);
        wait_caught_up(&mut p, &mut r);
        let _: redis::Value = redis::cmd("SHUTDOWN").arg("SAVE").query(&mut r).unwrap_or(redis::Value::Nil);
        replica.join();
    }
    write_mix(&mut p, 1);
    let replica = ferrocache(replica_config);
    let mut r = connect(replica.addr);
    wait_link_up(&mut r);
    wait_caught_up(&mut p, &mut r);
    assert_eq!(dump_all(&mut r), dump_all(&mut p));
    assert_eq!(stat(&mut p, "sync_partial_ok"), 1);
    assert_eq!(stat(&mut p, "sync_full"), 1);
}

/// REPLICAOF NO ONE keeps the old history valid (`master_replid2`), so the old primary,
/// made a replica of the promoted one, continues with a partial resync.
#[test]
fn a_promotion_keeps_the_history_for_the_old_primary() {
    let primary = ferrocache(|_| {});
    let replica = ferrocache(|_| {});
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    write_mix(&mut p, 0);
    replicaof(&mut r, primary.addr);
    wait_link_up(&mut r);
    wait_caught_up(&mut p, &mut r);
    let old_id = repl_field(&mut p, "master_replid");
    let offset: i64 = repl_field(&mut r, "master_repl_offset").parse().unwrap();
    let _: String = query(&mut r, &["REPLICAOF", "NO", "ONE"]);
    let info_r = info(&mut r, "replication");
    assert_eq!(field(&info_r, "role"), "master");
    assert_eq!(field(&info_r, "master_replid2"), old_id);
    assert_eq!(field(&info_r, "second_repl_offset"), (offset + 1).to_string());
    assert_ne!(field(&info_r, "master_replid"), old_id);
    // The promoted replica takes writes; the old primary follows it.
    write_mix(&mut r, 1);
    replicaof(&mut p, replica.addr);
    wait_link_up(&mut p);
    wait_caught_up(&mut r, &mut p);
    assert_eq!(stat(&mut r, "sync_partial_ok"), 1, "the old primary continued");
    assert_eq!(stat(&mut r, "sync_full"), 0);
    assert_eq!(dump_all(&mut p), dump_all(&mut r));
}

/// A replica of a replica receives the same stream, byte for byte (same offsets).
#[test]
fn a_sub_replica_receives_the_same_stream() {
    let primary = ferrocache(|_| {});
    let middle = ferrocache(|_| {});
    let leaf = ferrocache(|_| {});
    let (mut p, mut m, mut l) = (connect(primary.addr), connect(middle.addr), connect(leaf.addr));
    write_mix(&mut p, 0);
    replicaof(&mut m, primary.addr);
    wait_link_up(&mut m);
    replicaof(&mut l, middle.addr);
    wait_link_up(&mut l);
    write_mix(&mut p, 1);
    wait_caught_up(&mut p, &mut m);
    wait_caught_up(&mut p, &mut l);
    assert_eq!(repl_field(&mut l, "master_replid"), repl_field(&mut p, "master_replid"));
    assert_eq!(dump_all(&mut l), dump_all(&mut p));
}

#[test]
fn replication_refusals_read_as_redis_words_them() {
    let primary = ferrocache(|c| c.min_replicas_to_write = 1);
    let mut p = connect(primary.addr);
    let err = redis::cmd("SET").arg("a").arg("1").query::<()>(&mut p).unwrap_err();
    assert_eq!(err.code(), Some("NOREPLICAS"));
    assert_eq!(err.detail(), Some("Not enough good replicas to write."));
    // A replica whose primary is unreachable, not allowed to serve stale data.
    let unreachable = common::process::free_port();
    let replica = ferrocache(|c| c.replica_serve_stale_data = false);
    let mut r = connect(replica.addr);
    let _: String = query(&mut r, &["REPLICAOF", "127.0.0.1", &unreachable.to_string()]);
    let err = redis::cmd("GET").arg("a").query::<()>(&mut r).unwrap_err();
    assert_eq!(err.code(), Some("MASTERDOWN"));
    assert_eq!(repl_field(&mut r, "master_link_status"), "down");
    let mut raw = replica.connect();
    raw.roundtrip(
        &[b"GET", b"a"],
        b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n",
    );
    raw.roundtrip(&[b"CONFIG", b"SET", b"replica-serve-stale-data", b"yes"], b"+OK\r\n");
    raw.roundtrip(&[b"PSYNC", b"?", b"-1"], b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n");
    raw.roundtrip(&[b"REPLICAOF", b"127.0.0.1", b"99999"], b"-ERR Invalid master port\r\n");
    raw.roundtrip(&[b"REPLCONF", b"foo", b"bar"], b"-ERR Unrecognized REPLCONF option: foo\r\n");
    raw.roundtrip(&[b"REPLCONF", b"foo"], b"-ERR syntax error\r\n");
    raw.roundtrip(&[b"REPLCONF", b"rdb-filter-only", b"xyz"], b"-ERR Unsupported rdb-filter-only option: xyz\r\n");
    raw.roundtrip(
        &[b"REPLICAOF", b"127.0.0.1", unreachable.to_string().as_bytes()],
        b"+OK Already connected to specified master\r\n",
    );
    raw.roundtrip(&[b"REPLICAOF", b"NO", b"ONE"], b"+OK\r\n");
    raw.roundtrip(&[b"GET", b"a"], b"$-1\r\n");
}

/// Every replication directive answers CONFIG GET exactly as redis-server 7.0 does by default.
#[test]
fn replication_directives_have_redis_defaults() {
    let dir = TempDir::new("repl-config");
    let redis = ServerProcess::redis(&dir.0, &[]);
    let ours = TestServer::start();
    let (mut theirs, mut mine) = (connect(redis.addr), connect(ours.addr));
    for name in [
        "replicaof",
        "masterauth",
        "masteruser",
        "replica-read-only",
        "replica-serve-stale-data",
        "replica-ignore-maxmemory",
        "replica-lazy-flush",
        "replica-announced",
        "repl-backlog-size",
        "repl-backlog-ttl",
        "repl-timeout",
        "repl-ping-replica-period",
        "repl-diskless-sync",
        "repl-diskless-sync-delay",
        "repl-diskless-sync-max-replicas",
        "repl-diskless-load",
        "repl-disable-tcp-nodelay",
        "min-replicas-to-write",
        "min-replicas-max-lag",
        "replica-priority",
        "replica-announce-ip",
        "replica-announce-port",
        "slave-read-only",
    ] {
        let a: Vec<String> = query(&mut theirs, &["CONFIG", "GET", name]);
        let b: Vec<String> = query(&mut mine, &["CONFIG", "GET", name]);
        assert_eq!(b, a, "CONFIG GET {name}");
    }
    for (name, value) in [("repl-backlog-size", "2mb"), ("repl-timeout", "0"), ("repl-diskless-load", "nope")] {
        let a = redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query::<String>(&mut theirs);
        let b = redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query::<String>(&mut mine);
        assert_eq!(format!("{b:?}"), format!("{a:?}"), "CONFIG SET {name} {value}");
    }
}

fn redis_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(program("REDIS_CLI", "redis-cli")).args(args).output().expect("run redis-cli");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// `redis-cli --rdb` (the usual backup) and `--functions-rdb` get a file redis-check-rdb accepts.
#[test]
fn redis_cli_rdb_backups_pass_redis_check_rdb() {
    let primary = ferrocache(|_| {});
    let mut p = connect(primary.addr);
    write_mix(&mut p, 0);
    let dir = TempDir::new("rdb-backup");
    let port = primary.addr.port().to_string();
    for flag in ["--rdb", "--functions-rdb"] {
        let file = dir.0.join(format!("backup{flag}.rdb"));
        let (ok, out) = redis_cli(&["-p", &port, flag, file.to_str().unwrap()]);
        assert!(ok, "redis-cli {flag}: {out}");
        assert!(out.contains("Transfer finished with success"), "{out}");
        let check = Command::new(program("REDIS_CHECK_RDB", "redis-check-rdb")).arg(&file).output().unwrap();
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success(), "redis-check-rdb {flag}: {text}");
        assert!(text.contains("RDB looks OK!"), "{text}");
        let keys = if flag == "--rdb" { "202 keys read" } else { "" };
        assert!(text.contains(keys), "{text}");
    }
    // The backup connections are gone and were never counted as replicas.
    assert_eq!(repl_field(&mut p, "connected_slaves"), "0");
}

/// A redis-server replicating Ferrocache: full sync, a write load, a dropped link continued
/// with a partial resync, then the replica promoted and Ferrocache following it.
#[test]
fn redis_server_replicates_ferrocache_and_takes_over() {
    let primary = ferrocache(|_| {});
    let mut p = connect(primary.addr);
    write_mix(&mut p, 0);
    let dir = TempDir::new("redis-replica");
    let redis = ServerProcess::redis(&dir.0, &["--replicaof", "127.0.0.1", &primary.addr.port().to_string()]);
    let mut r = connect(redis.addr);
    wait_link_up(&mut r);
    wait_caught_up(&mut p, &mut r);
    assert_eq!(dump_all(&mut r), dump_all(&mut p), "after the full sync");
    write_mix(&mut p, 1);
    let killed: i64 = query(&mut p, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed, 1);
    write_mix(&mut p, 2);
    wait_until("a partial resync", || stat(&mut p, "sync_partial_ok") == 1);
    wait_link_up(&mut r);
    wait_caught_up(&mut p, &mut r);
    assert_eq!(dump_all(&mut r), dump_all(&mut p), "after the partial resync");
    assert_eq!(query::<i64>(&mut p, &["WAIT", "1", "0"]), 1);
    // Promote redis-server; Ferrocache follows it and continues.
    let _: String = query(&mut r, &["REPLICAOF", "NO", "ONE"]);
    write_mix(&mut r, 3);
    replicaof(&mut p, redis.addr);
    wait_link_up(&mut p);
    wait_caught_up(&mut r, &mut p);
    assert_eq!(stat(&mut r, "sync_partial_ok"), 1, "Ferrocache continued with redis-server");
    assert_eq!(dump_all(&mut p), dump_all(&mut r), "after the promotion");
}

/// Ferrocache replicating a redis-server (how users migrate): full sync, a write load, a
/// dropped link continued with a partial resync, then Ferrocache promoted and redis-server
/// following it.
#[test]
fn ferrocache_replicates_redis_server_and_takes_over() {
    let dir = TempDir::new("redis-primary");
    let redis = ServerProcess::redis(&dir.0, &["--repl-diskless-sync-delay", "0"]);
    let mut p = connect(redis.addr);
    write_mix(&mut p, 0);
    let replica = ferrocache(|c| c.replicaof = Some(("127.0.0.1".into(), redis.addr.port())));
    let mut r = connect(replica.addr);
    wait_link_up(&mut r);
    wait_caught_up(&mut p, &mut r);
    assert_eq!(dump_all(&mut r), dump_all(&mut p), "after the full sync");
    write_mix(&mut p, 1);
    let killed: i64 = query(&mut p, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed, 1);
    write_mix(&mut p, 2);
    wait_until("a partial resync", || stat(&mut p, "sync_partial_ok") == 1);
    wait_link_up(&mut r);
    wait_caught_up(&mut p, &mut r);
    assert_eq!(dump_all(&mut r), dump_all(&mut p), "after the partial resync");
    assert_eq!(query::<i64>(&mut p, &["WAIT", "1", "0"]), 1, "redis-server counts our ACKs");
    let _: String = query(&mut r, &["REPLICAOF", "NO", "ONE"]);
    write_mix(&mut r, 3);
    replicaof(&mut p, replica.addr);
    wait_link_up(&mut p);
    wait_caught_up(&mut r, &mut p);
    assert_eq!(stat(&mut r, "sync_partial_ok"), 1, "redis-server continued with Ferrocache");
    assert_eq!(dump_all(&mut p), dump_all(&mut r), "after the promotion");
}
