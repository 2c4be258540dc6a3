//! # RDB persistence as a user drives it
//!
//! SAVE, BGSAVE (beside live writes), LASTSAVE, the `save` rules, SHUTDOWN and SIGTERM saving,
//! FLUSHALL's empty save, `-LOADING` while a dump loads, `-MISCONF` after a failed save, files
//! that must stop the server, and interop both ways with a real redis-server 7.0 and
//! `redis-check-rdb` (`apt-get install -y redis-server redis-tools`; missing tools fail the
//! tests, they never skip).

mod common;

use common::keyspace::*;

use common::process::{program, ServerProcess};
use common::{Conn, TempDir, TestServer};
use ferrocache::persistence::rdb::{RdbReader, RdbRecord};
use ferrocache::store::Clock;
use ferrocache::Config;
use redis::Connection;
use std::collections::BTreeMap;
use std::path::Path;

fn server_in(dir: &TempDir, f: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config { dir: dir.path_str(), ..Config::default() };
    f(&mut config);
    TestServer::start_with(config, Clock::System)
}

/// Waits (bounded) until the server answers PING rather than `-LOADING`.
fn connect_loaded(server: &TestServer) -> Connection {
    let mut con = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    wait_until("the dataset to load", || redis::cmd("PING").query::<String>(&mut con).is_ok());
    con
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// (db, key) → (value bytes, expiry in Unix ms).
type RdbContents = BTreeMap<(u32, Vec<u8>), (Vec<u8>, Option<i64>)>;

/// Every key of every database in an RDB file.
fn rdb_contents(path: &Path) -> RdbContents {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut out = BTreeMap::new();
    for record in RdbReader::new(file).unwrap() {
        if let RdbRecord::Entry(e) = record.unwrap() {
            out.insert((e.db, e.key), (e.value.as_string().expect("a string").clone().into_bytes(), e.expire_at_ms));
        }
    }
    out
}

/// The keys a test writes: integers, short and long (compressible) strings, TTLs, 3 databases.
fn write_sample(con: &mut Connection) {
    let long = "abcdefgh".repeat(500);
    for db in [0, 3, 15] {
        let _: () = query(con, &["SELECT", &db.to_string()]);
        let _: () = query(con, &["SET", "int", "-12345"]);
        let _: () = query(con, &["SET", "short", &format!("hello from db {db}")]);
        let _: () = query(con, &["SET", "long", &long]);
        let _: () = query(con, &["SET", "ttl", "soon", "PX", "3600000"]);
        let _: () = query(con, &["SET", "big", "123456789012345678901234567890"]);
    }
    let _: () = query(con, &["SELECT", "0"]);
}

#[test]
fn save_then_restart_brings_back_every_key_and_ttl() {
    let dir = TempDir::new("save-restart");
    let expected = {
        let server = server_in(&dir, |c| c.save = String::new());
        let mut con = connect_loaded(&server);
        let before: i64 = query(&mut con, &["LASTSAVE"]);
        write_sample(&mut con);
        assert_eq!(info_field(&mut con, "rdb_changes_since_last_save"), "15");
        let mut raw = server.connect();
        raw.roundtrip(&[b"SAVE"], b"+OK\r\n");
        let after: i64 = query(&mut con, &["LASTSAVE"]);
        assert!(after >= before && after >= unix_now() - 5, "LASTSAVE {after}, was {before}");
        assert_eq!(info_field(&mut con, "rdb_changes_since_last_save"), "0");
        assert_eq!(info_field(&mut con, "rdb_saves"), "1");
        read_all(&mut con)
    };
    assert_eq!(expected.len(), 15);
    assert!(dir.0.join("dump.rdb").exists());

    let server = server_in(&dir, |c| c.save = String::new());
    let mut con = connect_loaded(&server);
    assert_eq!(read_all(&mut con), expected);
    let ttl: i64 = query(&mut con, &["PTTL", "ttl"]);
    assert!(ttl > 3_500_000 && ttl <= 3_600_000, "PTTL {ttl}");
    assert_eq!(info_field(&mut con, "rdb_last_load_keys_loaded"), "15");
    assert_eq!(info_field(&mut con, "rdb_changes_since_last_save"), "0");
    let encoding: String = query(&mut con, &["OBJECT", "ENCODING", "int"]);
    assert_eq!(encoding, "int");
}

#[test]
fn bgsave_serves_writes_meanwhile_and_refuses_a_second_save() {
    let dir = TempDir::new("bgsave");
    let server = server_in(&dir, |c| c.save = String::new());
    let mut con = connect_loaded(&server);
    for i in 0..200 {
        let _: () = query(&mut con, &["SET", &format!("key:{i}"), &i.to_string()]);
    }
    // 200 keys × 10 ms: the save lasts about two seconds.
    let _: () = query(&mut con, &["CONFIG", "SET", "rdb-key-save-delay", "10000"]);
    let mut raw = server.connect();
    raw.roundtrip(&[b"BGSAVE"], b"+Background saving started\r\n");
    raw.roundtrip(&[b"BGSAVE"], b"-ERR Background save already in progress\r\n");
    raw.roundtrip(&[b"BGSAVE", b"SCHEDULE"], b"-ERR Background save already in progress\r\n");
    raw.roundtrip(&[b"SAVE"], b"-ERR Background save already in progress\r\n");
    assert_eq!(info_field(&mut con, "rdb_bgsave_in_progress"), "1");
    // The server keeps serving, writes included, while the file is written.
    for i in 0..50 {
        let key = format!("during:{i}");
        raw.roundtrip(&[b"SET", key.as_bytes(), b"x"], b"+OK\r\n");
        raw.roundtrip(&[b"GET", b"key:7"], b"$1\r\n7\r\n");
    }
    assert_eq!(info_field(&mut con, "rdb_bgsave_in_progress"), "1", "the writes above took the whole save");
    wait_until("the BGSAVE to finish", || info_field(&mut con, "rdb_bgsave_in_progress") == "0");
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut con, "rdb_saves"), "1");
    let saved = rdb_contents(&dir.0.join("dump.rdb"));
    for i in 0..200 {
        let (value, ttl) = &saved[&(0, format!("key:{i}").into_bytes())];
        assert_eq!((value.as_slice(), *ttl), (i.to_string().as_bytes(), None));
    }
    // The copy was taken when BGSAVE started, before the writes that followed its reply.
    assert_eq!(saved.len(), 200);
}

#[test]
fn bgsave_inside_exec_is_scheduled_and_the_cron_runs_it() {
    let dir = TempDir::new("bgsave-exec");
    let server = server_in(&dir, |c| c.save = String::new());
    let mut con = connect_loaded(&server);
    let _: () = query(&mut con, &["SET", "k", "v"]);
    let mut raw = server.connect();
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"BGSAVE"], b"+QUEUED\r\n");
    raw.roundtrip(&[b"EXEC"], b"*1\r\n+Background saving scheduled\r\n");
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SAVE"], b"-ERR Command not allowed inside a transaction\r\n");
    raw.roundtrip(&[b"DISCARD"], b"+OK\r\n");
    raw.roundtrip(&[b"BGSAVE", b"NOW"], b"-ERR syntax error\r\n");
    wait_until("the scheduled BGSAVE", || info_field(&mut con, "rdb_saves") == "1");
    assert_eq!(rdb_contents(&dir.0.join("dump.rdb")).len(), 1);
}

#[test]
fn a_save_rule_triggers_a_background_save() {
    let dir = TempDir::new("save-rule");
    let server = server_in(&dir, |c| c.save = "1 2".into());
    let mut con = connect_loaded(&server);
    // The rule: more than one second since the last save and at least two changes.
    let _: () = query(&mut con, &["SET", "a", "1"]);
    let _: () = query(&mut con, &["SET", "b", "2"]);
    wait_until("the save rule to fire", || info_field(&mut con, "rdb_saves") != "0");
    wait_until("the save to finish", || info_field(&mut con, "rdb_bgsave_in_progress") == "0");
    assert_eq!(info_field(&mut con, "rdb_changes_since_last_save"), "0");
    assert_eq!(rdb_contents(&dir.0.join("dump.rdb")).len(), 2);
}

#[test]
fn shutdown_saves_with_save_points_and_nosave_does_not() {
    let dir = TempDir::new("shutdown");
    let dump = dir.0.join("dump.rdb");

    let server = server_in(&dir, |_| {}); // Redis's default save points
    let mut raw = connect_loaded_raw(&server);
    raw.roundtrip(&[b"SET", b"k", b"v1"], b"+OK\r\n");
    raw.roundtrip(&[b"SHUTDOWN", b"NOSAVE"], b"");
    raw.expect_closed();
    server.join();
    assert!(!dump.exists(), "SHUTDOWN NOSAVE wrote a dump");

    let server = server_in(&dir, |_| {});
    let mut raw = connect_loaded_raw(&server);
    raw.roundtrip(&[b"SET", b"k", b"v2"], b"+OK\r\n");
    raw.roundtrip(&[b"SHUTDOWN"], b"");
    raw.expect_closed();
    server.join();
    assert_eq!(rdb_contents(&dump)[&(0, b"k".to_vec())].0, b"v2");

    // No save points: plain SHUTDOWN does not save, SHUTDOWN SAVE does.
    let server = server_in(&dir, |c| c.save = String::new());
    let mut raw = connect_loaded_raw(&server);
    raw.roundtrip(&[b"GET", b"k"], b"$2\r\nv2\r\n");
    raw.roundtrip(&[b"SET", b"k", b"v3"], b"+OK\r\n");
    raw.roundtrip(&[b"SHUTDOWN", b"SAVE", b"NOSAVE"], b"-ERR syntax error\r\n");
    raw.roundtrip(&[b"SHUTDOWN", b"SAVE"], b"");
    raw.expect_closed();
    server.join();
    assert_eq!(rdb_contents(&dump)[&(0, b"k".to_vec())].0, b"v3");
}

fn connect_loaded_raw(server: &TestServer) -> Conn {
    drop(connect_loaded(server));
    server.connect()
}

#[test]
fn flushall_with_save_points_leaves_an_empty_dump() {
    let dir = TempDir::new("flushall");
    let server = server_in(&dir, |_| {});
    let mut raw = connect_loaded_raw(&server);
    raw.roundtrip(&[b"SET", b"k", b"v"], b"+OK\r\n");
    raw.roundtrip(&[b"SAVE"], b"+OK\r\n");
    assert_eq!(rdb_contents(&dir.0.join("dump.rdb")).len(), 1);
    raw.roundtrip(&[b"FLUSHALL"], b"+OK\r\n");
    assert_eq!(rdb_contents(&dir.0.join("dump.rdb")).len(), 0, "FLUSHALL did not save the empty dataset");
}

#[test]
fn a_failed_save_refuses_writes_with_misconf_until_allowed() {
    let dir = TempDir::new("misconf");
    let server = server_in(&dir, |c| c.enable_protected_configs = "yes".into());
    let mut con = connect_loaded(&server);
    let gone = TempDir::new("misconf-gone");
    let _: () = query(&mut con, &["CONFIG", "SET", "dir", &gone.path_str()]);
    drop(gone); // the directory disappears under the server: the next save cannot create its file
    let mut raw = server.connect();
    raw.roundtrip(&[b"SET", b"k", b"v"], b"+OK\r\n");
    raw.roundtrip(&[b"SAVE"], b"-ERR\r\n");
    raw.roundtrip(&[b"BGSAVE"], b"+Background saving started\r\n");
    wait_until("the BGSAVE to fail", || info_field(&mut con, "rdb_last_bgsave_status") == "err");
    let misconf = "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. \
        Commands that may modify the data set are disabled, because this instance is configured to report errors \
        during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs \
        for details about the RDB error.\r\n";
    raw.roundtrip(&[b"SET", b"k", b"w"], misconf.as_bytes());
    raw.roundtrip(&[b"PING"], misconf.as_bytes());
    raw.roundtrip(&[b"GET", b"k"], b"$1\r\nv\r\n");
    // Refused when queued, as Redis does, so EXEC discards the transaction.
    raw.roundtrip(&[b"MULTI"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"k", b"w"], misconf.as_bytes());
    raw.roundtrip(&[b"EXEC"], b"-EXECABORT Transaction discarded because of previous errors.\r\n");
    raw.roundtrip(&[b"CONFIG", b"SET", b"stop-writes-on-bgsave-error", b"no"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"k", b"w"], b"+OK\r\n");
    // A good save clears the condition.
    let dir_arg = dir.path_str();
    raw.roundtrip(&[b"CONFIG", b"SET", b"dir", dir_arg.as_bytes()], b"+OK\r\n");
    raw.roundtrip(&[b"CONFIG", b"SET", b"stop-writes-on-bgsave-error", b"yes"], b"+OK\r\n");
    raw.roundtrip(&[b"BGSAVE"], b"+Background saving started\r\n");
    wait_until("the BGSAVE to succeed", || info_field(&mut con, "rdb_last_bgsave_status") == "ok");
    raw.roundtrip(&[b"SET", b"k", b"x"], b"+OK\r\n");
}

#[test]
fn clients_get_loading_until_the_dump_is_in() {
    let dir = TempDir::new("loading");
    {
        let server = server_in(&dir, |c| c.save = String::new());
        let mut con = connect_loaded(&server);
        for i in 0..100 {
            let _: () = query(&mut con, &["SET", &format!("k{i}"), "v"]);
        }
        let _: () = query(&mut con, &["SAVE"]);
    }
    // 100 keys × 30 ms: about three seconds of loading.
    let server = server_in(&dir, |c| {
        c.save = String::new();
        c.key_load_delay = 30_000;
    });
    let mut raw = server.connect();
    raw.roundtrip(&[b"PING"], b"-LOADING Redis is loading the dataset in memory\r\n");
    raw.roundtrip(&[b"GET", b"k1"], b"-LOADING Redis is loading the dataset in memory\r\n");
    raw.cmd(&[b"INFO", b"persistence"]);
    let header = raw.read_line();
    assert!(header.starts_with('$'), "{header}");
    let len: usize = header[1..].trim().parse().unwrap();
    let mut body = vec![0; len + 2];
    std::io::Read::read_exact(&mut raw.stream, &mut body).unwrap();
    assert!(String::from_utf8_lossy(&body).contains("\r\nloading:1\r\n"));
    let mut con = connect_loaded(&server);
    let n: i64 = query(&mut con, &["DBSIZE"]);
    assert_eq!(n, 100);
}

#[test]
fn a_dump_that_cannot_be_loaded_stops_the_server_with_the_reason() {
    let dir = TempDir::new("bad-dump");
    let dump = dir.0.join("dump.rdb");

    std::fs::write(&dump, b"this is not an RDB file").unwrap();
    let (status, log) = ServerProcess::ferrocache_failing(&dir.0, &[]);
    assert!(!status.success());
    assert!(log.contains("Fatal error loading the DB: not an RDB file"), "{log}");

    // A stream: a type Ferrocache does not store (the load stops at its key).
    std::fs::write(&dump, b"REDIS0010\x0f\x06stream\x00").unwrap();
    let (status, log) = ServerProcess::ferrocache_failing(&dir.0, &[]);
    assert!(!status.success());
    assert!(log.contains("key 'stream' in DB 0 holds a stream, a type Ferrocache does not support"), "{log}");

    let mut truncated =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/src/persistence/testdata/strings.rdb")).unwrap();
    truncated.truncate(truncated.len() / 2);
    std::fs::write(&dump, &truncated).unwrap();
    let (status, log) = ServerProcess::ferrocache_failing(&dir.0, &[]);
    assert!(!status.success());
    assert!(log.contains("Fatal error loading the DB: unexpected end of RDB data"), "{log}");
}

#[test]
fn a_list_saved_by_redis_loads_at_start_up() {
    let dir = TempDir::new("redis-list");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/src/persistence/testdata/list.rdb"), dir.0.join("dump.rdb"))
        .unwrap();
    let dir_str = dir.path_str();
    let server = TestServer::with_config(|c| c.dir = dir_str);
    let mut con = connect_loaded(&server);
    let t: String = query(&mut con, &["TYPE", "mylist"]);
    assert_eq!(t, "list");
    // RPUSH mylist a b, as redis-server 7.0 DUMPs it: a quicklist of one listpack node.
    let dump: Vec<u8> = query(&mut con, &["DUMP", "mylist"]);
    let body = b"\x12\x01\x02\x0d\x0d\x00\x00\x00\x02\x00\x81a\x02\x81b\x02\xff\x0a\x00";
    assert_eq!(&dump[..dump.len() - 8], body);
}

#[test]
fn sigterm_saves_and_the_next_start_loads_it() {
    let dir = TempDir::new("sigterm");
    let server = ServerProcess::ferrocache(&dir.0, &[]);
    let mut con = server.connect();
    write_sample(&mut con);
    let expected = read_all(&mut con);
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");

    let server = ServerProcess::ferrocache(&dir.0, &[]);
    let mut con = server.connect();
    assert_eq!(read_all(&mut con), expected);
    let log = server.log_text();
    assert!(log.contains("Done loading RDB, keys loaded: 15, keys expired: 0."), "{log}");
}

#[test]
fn redis_checks_and_loads_our_bgsave_and_we_load_its_save() {
    // Ours → Redis.
    let ours = TempDir::new("interop-ours");
    let server = server_in(&ours, |c| c.save = String::new());
    let mut con = connect_loaded(&server);
    write_sample(&mut con);
    let expected = read_all(&mut con);
    let _: String = query(&mut con, &["BGSAVE"]);
    wait_until("the BGSAVE", || info_field(&mut con, "rdb_saves") == "1");
    let check = std::process::Command::new(program("REDIS_CHECK_RDB", "redis-check-rdb"))
        .arg(ours.0.join("dump.rdb"))
        .output()
        .expect("run redis-check-rdb (apt-get install -y redis-tools)");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success() && report.contains("RDB looks OK!"), "{report}");
    let redis = ServerProcess::redis(&ours.0, &[]);
    let mut rcon = redis.connect();
    assert_eq!(read_all(&mut rcon), expected);
    drop(redis);

    // Redis → ours, through start-up loading.
    let theirs = TempDir::new("interop-theirs");
    let redis = ServerProcess::redis(&theirs.0, &[]);
    let mut rcon = redis.connect();
    write_sample(&mut rcon);
    let expected = read_all(&mut rcon);
    let _: () = query(&mut rcon, &["SAVE"]);
    drop(redis);
    let server = server_in(&theirs, |c| c.save = String::new());
    let mut con = connect_loaded(&server);
    assert_eq!(read_all(&mut con), expected);
    let ttl: i64 = query(&mut con, &["PTTL", "ttl"]);
    assert!(ttl > 3_500_000, "PTTL {ttl}");
}

#[test]
fn dir_and_dbfilename_are_protected_configs() {
    let dir = TempDir::new("protected");
    let server = server_in(&dir, |_| {});
    let mut raw = connect_loaded_raw(&server);
    let other = TempDir::new("protected-other");
    let other_arg = other.path_str();
    raw.roundtrip(
        &[b"CONFIG", b"SET", b"dir", other_arg.as_bytes()],
        b"-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config\r\n",
    );
    raw.roundtrip(
        &[b"CONFIG", b"SET", b"dbfilename", b"x.rdb"],
        b"-ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config\r\n",
    );
    raw.roundtrip(
        &[b"CONFIG", b"SET", b"enable-protected-configs", b"yes"],
        b"-ERR CONFIG SET failed (possibly related to argument 'enable-protected-configs') - can't set immutable config\r\n",
    );
    drop(server);
    // `local` lets loopback clients change them; the save then goes to the new place.
    let server = server_in(&dir, |c| c.enable_protected_configs = "local".into());
    let mut raw = connect_loaded_raw(&server);
    raw.roundtrip(&[b"CONFIG", b"SET", b"dir", other_arg.as_bytes()], b"+OK\r\n");
    raw.roundtrip(&[b"CONFIG", b"SET", b"dbfilename", b"x.rdb"], b"+OK\r\n");
    raw.roundtrip(&[b"SET", b"k", b"v"], b"+OK\r\n");
    raw.roundtrip(&[b"SAVE"], b"+OK\r\n");
    assert_eq!(rdb_contents(&other.0.join("x.rdb")).len(), 1);
}
