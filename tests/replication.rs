//! Replication in Redis's protocol: Ferrocache replicating Ferrocache (in-process servers),
//! and both directions with a real redis-server 7.0: full sync (diskless and from disk), the
//! stream of write effects, WAIT, partial resync after a dropped link, after a replica's
//! restart and across a promotion, `redis-cli --rdb`.

mod common;

use common::keyspace::{query, wait_until};
use common::process::{program, ServerProcess};
use common::replication::{connect, dump_all, expect_field, info, repl_field, stat, write_mix};
use common::{TempDir, TestServer};
use ferrocache::Config;
use redis::Connection;
use std::net::SocketAddr;
use std::process::Command;

/// A Ferrocache server whose full syncs start at once (Redis's default waits 5 s for more
/// replicas).
fn ferrocache(f: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::with_config(|c| {
        c.repl_diskless_sync_delay = 0;
        f(c)
    })
}

fn replicaof(con: &mut Connection, primary: SocketAddr) {
    let reply: String = query(con, &["REPLICAOF", &primary.ip().to_string(), &primary.port().to_string()]);
    assert!(reply.starts_with("OK"), "{reply}");
}

fn wait_link_up(replica: &mut Connection) {
    wait_until("master_link_status:up", || repl_field(replica, "master_link_status") == "up");
}

/// Waits until the replica's link is up and it has applied everything streamed so far.
fn wait_synced(primary: &mut Connection, replica: &mut Connection) {
    wait_link_up(replica);
    wait_caught_up(primary, replica);
}

/// Makes `replica` a replica of `primary_addr` and waits until it has caught up.
fn attach(primary: &mut Connection, replica: &mut Connection, primary_addr: SocketAddr) {
    replicaof(replica, primary_addr);
    wait_synced(primary, replica);
}

/// Waits until the replica has applied everything the primary has streamed so far.
fn wait_caught_up(primary: &mut Connection, replica: &mut Connection) {
    let target: u64 = repl_field(primary, "master_repl_offset").parse().unwrap();
    wait_until("the replica to reach the primary's offset", || {
        repl_field(replica, "slave_repl_offset").parse::<u64>().unwrap() >= target
    });
}

#[test]
fn ferrocache_replicates_ferrocache_diskless_and_from_disk() {
    for diskless in ["yes", "no"] {
        let primary = ferrocache(|c| c.repl_diskless_sync = diskless == "yes");
        let replica = ferrocache(|_| {});
        let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
        write_mix(&mut p, 0);
        attach(&mut p, &mut r, primary.addr);
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
        assert_eq!(expect_field(&info, "connected_slaves"), "1");
        let line = expect_field(&info, "slave0");
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
    attach(&mut p, &mut r, primary.addr);
    let killed: i64 = query(&mut p, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed, 1);
    write_mix(&mut p, 1);
    wait_until("a partial resync", || stat(&mut p, "sync_partial_ok") == 1);
    wait_synced(&mut p, &mut r);
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
        wait_synced(&mut p, &mut r);
        let _: redis::Value = redis::cmd("SHUTDOWN").arg("SAVE").query(&mut r).unwrap_or(redis::Value::Nil);
        replica.join();
    }
    write_mix(&mut p, 1);
    let replica = ferrocache(replica_config);
    let mut r = connect(replica.addr);
    wait_synced(&mut p, &mut r);
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
    attach(&mut p, &mut r, primary.addr);
    let old_id = repl_field(&mut p, "master_replid");
    let offset: i64 = repl_field(&mut r, "master_repl_offset").parse().unwrap();
    let _: String = query(&mut r, &["REPLICAOF", "NO", "ONE"]);
    let info_r = info(&mut r, "replication");
    assert_eq!(expect_field(&info_r, "role"), "master");
    assert_eq!(expect_field(&info_r, "master_replid2"), old_id);
    assert_eq!(expect_field(&info_r, "second_repl_offset"), (offset + 1).to_string());
    assert_ne!(expect_field(&info_r, "master_replid"), old_id);
    // The promoted replica takes writes; the old primary follows it.
    write_mix(&mut r, 1);
    attach(&mut r, &mut p, replica.addr);
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

/// The interop scenario once a replica of the other kind is attached: full sync, more writes,
/// a dropped link continued with a partial resync, WAIT counting the replica, then the replica
/// promoted and the old primary following it with a partial resync; the data compared by
/// DUMP at every step.
fn sync_drop_promote(p: &mut Connection, r: &mut Connection, replica: SocketAddr) {
    wait_synced(p, r);
    assert_eq!(dump_all(r), dump_all(p), "after the full sync");
    write_mix(p, 1);
    let killed: i64 = query(p, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed, 1);
    write_mix(p, 2);
    wait_until("a partial resync", || stat(p, "sync_partial_ok") == 1);
    wait_synced(p, r);
    assert_eq!(dump_all(r), dump_all(p), "after the partial resync");
    assert_eq!(query::<i64>(p, &["WAIT", "1", "0"]), 1, "the primary counts the replica's ACKs");
    let _: String = query(r, &["REPLICAOF", "NO", "ONE"]);
    write_mix(r, 3);
    replicaof(p, replica);
    wait_synced(r, p);
    assert_eq!(stat(r, "sync_partial_ok"), 1, "the old primary continued with the promoted replica");
    assert_eq!(dump_all(p), dump_all(r), "after the promotion");
}

/// A redis-server replicating Ferrocache, then taking over.
#[test]
fn redis_server_replicates_ferrocache_and_takes_over() {
    let primary = ferrocache(|_| {});
    let mut p = connect(primary.addr);
    write_mix(&mut p, 0);
    let dir = TempDir::new("redis-replica");
    let redis = ServerProcess::redis(&dir.0, &["--replicaof", "127.0.0.1", &primary.addr.port().to_string()]);
    let mut r = connect(redis.addr);
    sync_drop_promote(&mut p, &mut r, redis.addr);
}

/// Ferrocache replicating a redis-server (how users migrate), then taking over.
#[test]
fn ferrocache_replicates_redis_server_and_takes_over() {
    let dir = TempDir::new("redis-primary");
    let redis = ServerProcess::redis(&dir.0, &["--repl-diskless-sync-delay", "0"]);
    let mut p = connect(redis.addr);
    write_mix(&mut p, 0);
    let replica = ferrocache(|c| c.replicaof = Some(("127.0.0.1".into(), redis.addr.port())));
    let mut r = connect(replica.addr);
    sync_drop_promote(&mut p, &mut r, replica.addr);
}

fn manual_ferrocache(clock: &ferrocache::store::Clock, f: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config { repl_diskless_sync_delay: 0, ..Default::default() };
    f(&mut config);
    TestServer::start_with(config, clock.clone())
}

fn advance(clock: &ferrocache::store::Clock, ms: u64) {
    clock.advance(ms);
}

/// A replica never expires keys on its own: past their TTL they read as missing but stay
/// until the primary's DEL (lazy or active expiry there) arrives in the stream.
#[test]
fn expiry_on_a_replica_waits_for_the_primarys_del() {
    let start = ferrocache::store::system_now_ms();
    let (primary_clock, replica_clock) =
        (ferrocache::store::Clock::manual(start), ferrocache::store::Clock::manual(start));
    let primary = manual_ferrocache(&primary_clock, |_| {});
    let replica = manual_ferrocache(&replica_clock, |_| {});
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    let _: () = query(&mut p, &["SET", "lazy", "v", "PX", "1000"]);
    let _: () = query(&mut p, &["SET", "active", "v", "PX", "1000"]);
    attach(&mut p, &mut r, primary.addr);
    advance(&replica_clock, 5000);
    assert_eq!(query::<Option<String>>(&mut r, &["GET", "lazy"]), None, "past its TTL it reads as missing");
    assert_eq!(query::<i64>(&mut r, &["DBSIZE"]), 2, "but is still there");
    assert_eq!(stat(&mut r, "expired_keys"), 0);
    // The primary expires one on access, the other in its active cycle: both DELs arrive.
    advance(&primary_clock, 5000);
    assert_eq!(query::<Option<String>>(&mut p, &["GET", "lazy"]), None);
    wait_until("the primary's active expiry", || query::<i64>(&mut p, &["DBSIZE"]) == 0);
    wait_caught_up(&mut p, &mut r);
    assert_eq!(query::<i64>(&mut r, &["DBSIZE"]), 0);
    assert_eq!(stat(&mut r, "expired_keys"), 0, "the replica deleted nothing on its own");
}

/// Evictions on the primary reach the replica as DELs; the replica (replica-ignore-maxmemory)
/// evicts nothing itself.
#[test]
fn evictions_reach_the_replica_as_dels() {
    // Processes of their own: in-process servers would share one allocator's used_memory.
    let dir = TempDir::new("evictions");
    let (pdir, rdir) = (dir.0.join("p"), dir.0.join("r"));
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::create_dir_all(&rdir).unwrap();
    let primary = ServerProcess::ferrocache(
        &pdir,
        &["--maxmemory-policy", "allkeys-lru", "--repl-diskless-sync-delay", "0", "--save", ""],
    );
    let replica = ServerProcess::ferrocache(&rdir, &["--save", ""]);
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    replicaof(&mut r, primary.addr);
    wait_link_up(&mut r);
    // Room for a few thousand of the keys below, above what the server uses empty; the
    // replica gets a lower limit, which it must ignore.
    let used: u64 = expect_field(&info(&mut p, "memory"), "used_memory").parse().unwrap();
    let _: () = query(&mut p, &["CONFIG", "SET", "maxmemory", &(used + (8 << 20)).to_string()]);
    let _: () = query(&mut r, &["CONFIG", "SET", "maxmemory", &(used + (1 << 20)).to_string()]);
    let value = "x".repeat(1000);
    for batch in 0..40 {
        let mut pipe = redis::pipe();
        for i in 0..500 {
            pipe.cmd("SET").arg(format!("e{batch}:{i}")).arg(&value).ignore();
        }
        let _: () = pipe.query(&mut p).unwrap();
    }
    assert!(stat(&mut p, "evicted_keys") > 0, "the primary evicted");
    // Any command may evict first (it runs the check): stop that before comparing.
    let _: () = query(&mut p, &["CONFIG", "SET", "maxmemory", "0"]);
    wait_caught_up(&mut p, &mut r);
    assert_eq!(stat(&mut r, "evicted_keys"), 0);
    assert_eq!(query::<i64>(&mut r, &["DBSIZE"]), query::<i64>(&mut p, &["DBSIZE"]));
    assert_eq!(dump_all(&mut r), dump_all(&mut p));
}

/// An idle primary PINGs its replicas every repl-ping-replica-period (the offset moves), and
/// a replica acknowledges every second without being asked.
#[test]
fn idle_primaries_ping_and_replicas_ack_every_second() {
    let primary = ferrocache(|c| c.repl_ping_replica_period = 1);
    let replica = ferrocache(|_| {});
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    replicaof(&mut r, primary.addr);
    wait_link_up(&mut r);
    let offset = |con: &mut Connection| repl_field(con, "master_repl_offset").parse::<u64>().unwrap();
    let before = offset(&mut p);
    wait_until("a PING in the stream", || offset(&mut p) >= before + 14);
    let _: () = query(&mut p, &["SET", "a", "1"]);
    let target = offset(&mut p);
    wait_until("an unrequested ACK", || {
        let line = repl_field(&mut p, "slave0");
        let acked: u64 = line.split("offset=").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
        acked >= target
    });
    wait_caught_up(&mut p, &mut r);
}

/// During a full sync the replica serves its old data while the snapshot arrives, then
/// answers -LOADING while it loads: never a half-loaded dataset. The primary takes writes
/// all along, and they arrive.
#[test]
fn a_syncing_replica_serves_old_data_then_loading_never_half() {
    let primary = ferrocache(|c| c.rdb_key_save_delay = 100);
    let replica = ferrocache(|c| c.key_load_delay = 200);
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    let mut pipe = redis::pipe();
    for i in 0..3000 {
        pipe.cmd("SET").arg(format!("new{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut p).unwrap();
    let _: () = query(&mut r, &["SET", "old", "data"]);
    replicaof(&mut r, primary.addr);
    let writer = {
        let addr = primary.addr;
        std::thread::spawn(move || {
            let mut w = connect(addr);
            for i in 0..500 {
                let _: () = query(&mut w, &["SET", &format!("during{i}"), "x"]);
            }
        })
    };
    let (mut saw_old, mut saw_loading) = (false, false);
    let mut raw = replica.connect();
    loop {
        let text = raw.call_text(&[b"DBSIZE"]);
        if text.starts_with("-LOADING") {
            saw_loading = true;
            continue;
        }
        let n: usize = text.trim_start_matches(':').trim().parse().unwrap_or_else(|_| panic!("DBSIZE: {text}"));
        if n == 1 {
            saw_old = true;
            let old = raw.call_text(&[b"GET", b"old"]);
            assert!(old.contains("data") || old.starts_with("-LOADING"), "GET old: {old}");
            continue;
        }
        assert!(n >= 3000, "a half-loaded dataset: {n} keys");
        break;
    }
    assert!(saw_old, "old data was served while the snapshot arrived");
    assert!(saw_loading, "-LOADING while it loaded");
    writer.join().unwrap();
    wait_synced(&mut p, &mut r);
    assert_eq!(dump_all(&mut r), dump_all(&mut p));
}

/// FAILOVER: writes pause until the replica has everything, the replica is promoted (by
/// `PSYNC … FAILOVER`), the old primary follows it; writes that waited meet a replica.
#[test]
fn failover_hands_over_to_the_replica_without_losing_a_write() {
    let primary = ferrocache(|_| {});
    let replica = ferrocache(|_| {});
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    let mut raw = primary.connect();
    raw.roundtrip(&[b"FAILOVER"], b"-ERR FAILOVER requires connected replicas.\r\n");
    raw.roundtrip(&[b"FAILOVER", b"ABORT"], b"-ERR No failover in progress.\r\n");
    write_mix(&mut p, 0);
    replicaof(&mut r, primary.addr);
    wait_link_up(&mut r);
    raw.roundtrip(
        &[b"FAILOVER", b"TO", b"127.0.0.1", b"1", b"FORCE"],
        b"-ERR FAILOVER with force option requires both a timeout and target HOST and IP.\r\n",
    );
    raw.roundtrip(
        &[b"FAILOVER", b"TO", b"127.0.0.1", b"1"],
        b"-ERR FAILOVER target HOST and PORT is not a replica.\r\n",
    );
    replica.connect().roundtrip(&[b"FAILOVER"], b"-ERR FAILOVER is not valid when server is a replica.\r\n");
    let port = replica.addr.port().to_string();
    let reply: String = query(&mut p, &["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "10000"]);
    assert_eq!(reply, "OK");
    wait_until("the replica to be promoted", || repl_field(&mut r, "role") == "master");
    wait_until("the old primary to follow", || {
        repl_field(&mut p, "role") == "slave" && repl_field(&mut p, "master_link_status") == "up"
    });
    wait_until("the failover to end", || repl_field(&mut p, "master_failover_state") == "no-failover");
    assert_eq!(repl_field(&mut p, "master_port"), port);
    assert_eq!(stat(&mut r, "sync_partial_ok"), 1, "the old primary continued");
    raw.roundtrip(&[b"SET", b"x", b"1"], b"-READONLY You can't write against a read only replica.\r\n");
    write_mix(&mut r, 1);
    wait_caught_up(&mut r, &mut p);
    assert_eq!(dump_all(&mut p), dump_all(&mut r));
}

/// FAILOVER across implementations: redis-server hands over to Ferrocache (which promotes
/// itself on `PSYNC … FAILOVER`), then Ferrocache hands back (redis-server promotes itself).
#[test]
fn failover_between_redis_server_and_ferrocache_both_ways() {
    let dir = TempDir::new("failover-interop");
    let redis = ServerProcess::redis(&dir.0, &["--repl-diskless-sync-delay", "0"]);
    let mut p = connect(redis.addr);
    write_mix(&mut p, 0);
    let ours = ferrocache(|c| c.replicaof = Some(("127.0.0.1".into(), redis.addr.port())));
    let mut f = connect(ours.addr);
    wait_link_up(&mut f);
    // redis-server counts a replica online once it has read its first ACK, which may come a
    // moment after the replica says its link is up (CI once got "target replica is not online").
    wait_until("redis-server to see its replica online", || {
        query::<String>(&mut p, &["INFO", "replication"]).contains("state=online")
    });
    let port = ours.addr.port().to_string();
    let _: String = query(&mut p, &["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "10000"]);
    wait_until("Ferrocache to be promoted", || repl_field(&mut f, "role") == "master");
    wait_until("redis-server to follow", || repl_field(&mut p, "master_link_status") == "up");
    wait_until("redis-server's failover to end", || repl_field(&mut p, "master_failover_state") == "no-failover");
    assert_eq!(stat(&mut f, "sync_partial_ok"), 1);
    write_mix(&mut f, 1);
    wait_caught_up(&mut f, &mut p);
    assert_eq!(dump_all(&mut p), dump_all(&mut f));
    let port = redis.addr.port().to_string();
    let _: String = query(&mut f, &["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "10000"]);
    wait_until("redis-server to be promoted", || repl_field(&mut p, "role") == "master");
    wait_until("Ferrocache to follow", || {
        repl_field(&mut f, "role") == "slave" && repl_field(&mut f, "master_link_status") == "up"
    });
    write_mix(&mut p, 2);
    wait_caught_up(&mut p, &mut f);
    assert_eq!(dump_all(&mut f), dump_all(&mut p));
    assert_eq!(stat(&mut p, "sync_full"), 1, "only the first sync was a full one");
    assert_eq!(stat(&mut p, "sync_partial_ok"), 1, "Ferrocache continued with redis-server");
}

/// `repl-diskless-load swapdb`: the snapshot is loaded aside as it arrives while clients
/// keep reading the old data (never -LOADING, never half), then swapped in.
/// `on-empty-db` loads an empty replica straight from the socket (here from redis-server).
#[test]
fn diskless_load_swapdb_serves_old_data_and_on_empty_db_loads_from_the_socket() {
    let primary = ferrocache(|c| c.rdb_key_save_delay = 100);
    let replica = ferrocache(|c| {
        c.repl_diskless_load = "swapdb".into();
        c.key_load_delay = 100;
    });
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    let mut pipe = redis::pipe();
    for i in 0..3000 {
        pipe.cmd("SET").arg(format!("new{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut p).unwrap();
    let _: () = query(&mut r, &["SET", "old", "data"]);
    replicaof(&mut r, primary.addr);
    let mut raw = replica.connect();
    let mut saw_old = 0;
    loop {
        let text = raw.call_text(&[b"DBSIZE"]);
        let n: usize = text.trim_start_matches(':').trim().parse().unwrap_or_else(|_| panic!("DBSIZE: {text}"));
        if n == 1 {
            saw_old += 1;
            continue;
        }
        assert_eq!(n, 3000, "all or nothing");
        break;
    }
    assert!(saw_old > 0, "the old data was served while the new loaded");
    wait_synced(&mut p, &mut r);
    assert_eq!(dump_all(&mut r), dump_all(&mut p));
    assert!(!std::fs::read_dir(replica_dir(&mut r)).unwrap().any(|e| e.unwrap().file_name() == "dump.rdb"));

    let dir = TempDir::new("on-empty-db");
    let redis = ServerProcess::redis(&dir.0, &["--repl-diskless-sync-delay", "0"]);
    let mut rp = connect(redis.addr);
    write_mix(&mut rp, 0);
    let empty = ferrocache(|c| {
        c.repl_diskless_load = "on-empty-db".into();
        c.replicaof = Some(("127.0.0.1".into(), redis.addr.port()));
    });
    let mut e = connect(empty.addr);
    wait_synced(&mut rp, &mut e);
    assert_eq!(dump_all(&mut e), dump_all(&mut rp));
    assert!(!std::fs::read_dir(replica_dir(&mut e)).unwrap().any(|f| f.unwrap().file_name() == "dump.rdb"));
}

fn replica_dir(con: &mut Connection) -> String {
    let pair: Vec<String> = query(con, &["CONFIG", "GET", "dir"]);
    pair[1].clone()
}

/// `repl-diskless-sync-delay` waits for more replicas to arrive; reaching
/// `repl-diskless-sync-max-replicas` of them ends the wait at once.
#[test]
fn diskless_sync_max_replicas_ends_the_delay() {
    let primary = ferrocache(|c| {
        c.repl_diskless_sync_delay = 3600;
        c.repl_diskless_sync_max_replicas = 1;
    });
    let replica = ferrocache(|_| {});
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    write_mix(&mut p, 0);
    attach(&mut p, &mut r, primary.addr);
    assert_eq!(dump_all(&mut r), dump_all(&mut p));
}

/// A full sync near `maxmemory` evicts nothing: the snapshot's copy is left out of the
/// eviction check (`mem_not_counted_for_evict`), as a fork's pages are outside Redis's
/// used memory.
#[test]
fn a_full_sync_near_maxmemory_does_not_evict() {
    let dir = TempDir::new("sync-maxmemory");
    let (pdir, rdir) = (dir.0.join("p"), dir.0.join("r"));
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::create_dir_all(&rdir).unwrap();
    let primary = ServerProcess::ferrocache(
        &pdir,
        &[
            "--maxmemory-policy",
            "allkeys-lru",
            "--repl-diskless-sync-delay",
            "0",
            "--save",
            "",
            "--rdb-key-save-delay",
            "5",
        ],
    );
    let replica = ServerProcess::ferrocache(&rdir, &["--save", ""]);
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    common::replication::fill(&mut p, "key", 200_000, 16);
    let used: u64 = expect_field(&info(&mut p, "memory"), "used_memory").parse().unwrap();
    // Room for the backlog and the transfer's buffers, not for the snapshot's copy (200,000
    // entries, over 12 MB).
    let _: () = query(&mut p, &["CONFIG", "SET", "maxmemory", &(used + (6 << 20)).to_string()]);
    replicaof(&mut r, primary.addr);
    // Overwrites while the copy is alive: each runs the eviction check.
    wait_until("the snapshot's copy", || {
        let not_counted: u64 = expect_field(&info(&mut p, "memory"), "mem_not_counted_for_evict").parse().unwrap();
        not_counted > 8 << 20
    });
    for _ in 0..10 {
        common::replication::fill(&mut p, "key", 1000, 16);
    }
    wait_link_up(&mut r);
    assert_eq!(stat(&mut p, "evicted_keys"), 0, "{}", info(&mut p, "memory"));
    wait_caught_up(&mut p, &mut r);
    assert_eq!(query::<i64>(&mut r, &["DBSIZE"]), 200_000);
}

#[test]
fn replication_bytes_and_backlog_memory_are_reported() {
    let primary = ferrocache(|_| {});
    let replica = ferrocache(|_| {});
    let (mut p, mut r) = (connect(primary.addr), connect(replica.addr));
    write_mix(&mut p, 0);
    attach(&mut p, &mut r, primary.addr);
    // The snapshot counts on both sides.
    let (out_synced, in_synced) =
        (stat(&mut p, "total_net_repl_output_bytes"), stat(&mut r, "total_net_repl_input_bytes"));
    assert!(out_synced > 0 && in_synced > 0, "{out_synced} {in_synced}");
    let from: u64 = repl_field(&mut p, "master_repl_offset").parse().unwrap();
    write_mix(&mut p, 1);
    wait_caught_up(&mut p, &mut r);
    let to: u64 = repl_field(&mut p, "master_repl_offset").parse().unwrap();
    // At least the stream between the two offsets went out and came in (a PING may add).
    assert!(stat(&mut p, "total_net_repl_output_bytes") - out_synced >= to - from);
    assert!(stat(&mut r, "total_net_repl_input_bytes") - in_synced >= to - from);
    // The backlog holds that stream: INFO memory reads it before INFO replication does.
    let both: String = redis::cmd("INFO").arg("memory").arg("replication").query(&mut p).unwrap();
    let backlog: u64 = expect_field(&both, "mem_replication_backlog").parse().unwrap();
    let histlen: u64 = expect_field(&both, "repl_backlog_histlen").parse().unwrap();
    assert!(backlog > 0 && backlog <= histlen, "{backlog} {histlen}");
    assert_eq!(expect_field(&both, "mem_clients_slaves"), "0", "within repl-backlog-size");
}
