//! # The append-only file as a user relies on it
//!
//! Crash safety (`kill -9` under `appendfsync always` loses no acknowledged write; under
//! `everysec` the loss is measured), rewrites that compact, `appendonly` switched at run time,
//! a torn tail under `aof-load-truncated`, and interop with Redis 7.0: `redis-check-aof`
//! accepts our directory, redis-server loads it, and we load redis-server's.

mod common;

use common::keyspace::*;

use common::process::{program, ServerProcess};
use common::TempDir;
use redis::Connection;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes of every kind the AOF must replay: plain and relative-TTL sets, counters, floats,
/// deletes, expiries, transactions, several databases.
fn write_mix(con: &mut Connection, rounds: usize) {
    for i in 0..rounds {
        let db = (i % 3).to_string();
        let _: () = query(con, &["SELECT", &db]);
        let _: () = query(con, &["SET", &format!("k{i}"), &format!("v{i}")]);
        let _: () = query(con, &["SET", &format!("t{i}"), "x", "EX", "3600"]);
        let _: i64 = query(con, &["INCR", "counter"]);
        let _: String = query(con, &["INCRBYFLOAT", "float", "0.1"]);
        let _: i64 = query(con, &["EXPIRE", &format!("k{i}"), "7200"]);
        if i % 5 == 4 {
            let _: i64 = query(con, &["DEL", &format!("k{}", i - 1)]);
        }
        let _: redis::Value = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(format!("m{i}"))
            .arg("multi")
            .cmd("APPEND")
            .arg("log")
            .arg(format!("{i},"))
            .query(con)
            .unwrap();
    }
    let _: () = query(con, &["SELECT", "0"]);
}

fn aof_dir(dir: &TempDir) -> std::path::PathBuf {
    dir.0.join("appendonlydir")
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

#[test]
fn always_loses_no_acknowledged_write_to_kill_9() {
    let dir = TempDir::new("aof-always");
    let args = ["--appendonly", "yes", "--appendfsync", "always", "--save", ""];
    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    write_mix(&mut con, 60);
    let expected = read_all(&mut con);
    server.kill9();

    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    assert_eq!(read_all(&mut con), expected);
    assert_eq!(info_field(&mut con, "aof_enabled"), "1");
}

#[test]
fn everysec_loses_at_most_about_a_second_to_kill_9() {
    let dir = TempDir::new("aof-everysec");
    let args = ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""];
    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    // Write for a while, noting when each write was acknowledged.
    let started = Instant::now();
    let mut acked = Vec::new();
    while started.elapsed() < Duration::from_millis(1500) {
        let n = acked.len();
        let _: () = query(&mut con, &["SET", &format!("seq:{n}"), "1"]);
        acked.push(Instant::now());
    }
    let killed_at = Instant::now();
    server.kill9();

    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    let kept: usize = query(&mut con, &["DBSIZE"]);
    let lost = acked.len() - kept;
    // Writes are in the kernel before they are acknowledged, so a killed process loses none;
    // only a machine crash could take the last second's, which fsync would have covered.
    let last_second = acked.iter().filter(|t| killed_at.duration_since(**t) <= Duration::from_secs(1)).count();
    eprintln!("everysec + kill -9: {} writes acknowledged, {lost} lost", acked.len());
    assert!(lost <= last_second, "lost {lost}, more than the last second's {last_second}");
    for n in 0..kept {
        let v: Option<String> = query(&mut con, &["GET", &format!("seq:{n}")]);
        assert_eq!(v.as_deref(), Some("1"), "seq:{n} missing though later writes survived");
    }
}

#[test]
fn bgrewriteaof_compacts_and_keeps_every_key() {
    let dir = TempDir::new("aof-rewrite");
    let args = ["--appendonly", "yes", "--save", ""];
    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    for _ in 0..2000 {
        let _: i64 = query(&mut con, &["INCR", "hot"]);
    }
    write_mix(&mut con, 20);
    let before = dir_size(&aof_dir(&dir));
    let reply: String = query(&mut con, &["BGREWRITEAOF"]);
    assert_eq!(reply, "Background append only file rewriting started");
    wait_until("the rewrite", || info_field(&mut con, "aof_rewrite_in_progress") == "0");
    assert_eq!(info_field(&mut con, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(info_field(&mut con, "aof_rewrites"), "1");
    // Writes after the rewrite land in the new incr file.
    write_mix(&mut con, 5);
    let expected = read_all(&mut con);
    let after = dir_size(&aof_dir(&dir));
    assert!(after < before / 4, "rewrite left {after} bytes of {before}");
    let manifest = std::fs::read_to_string(aof_dir(&dir).join("appendonly.aof.manifest")).unwrap();
    assert_eq!(manifest.lines().count(), 2, "one base and one incr file:\n{manifest}");
    assert!(manifest.contains("type b") && manifest.contains("type i"), "{manifest}");
    assert_eq!(std::fs::read_dir(aof_dir(&dir)).unwrap().count(), 3, "old files left behind");
    drop(con);
    assert!(server.terminate().success());

    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    assert_eq!(read_all(&mut con), expected);
}

#[test]
fn appendonly_can_be_switched_on_and_off_at_run_time() {
    let dir = TempDir::new("aof-switch");
    // `always`: under `everysec` a write made while the background fsync runs is put off
    // (its reply still leaves, as in Redis), so a kill -9 may lose it and the test would flake.
    let server = ServerProcess::ferrocache(&dir.0, &["--save", "", "--appendfsync", "always"]);
    let mut con = server.connect();
    write_mix(&mut con, 10);
    assert_eq!(info_field(&mut con, "aof_enabled"), "0");
    let _: () = query(&mut con, &["CONFIG", "SET", "appendonly", "yes"]);
    wait_until("the AOF to be created", || {
        info_field(&mut con, "aof_enabled") == "1" && info_field(&mut con, "aof_rewrite_in_progress") == "0"
    });
    write_mix(&mut con, 10);
    let expected = read_all(&mut con);
    server.kill9();

    let args = ["--appendonly", "yes", "--save", "", "--appendfsync", "always"];
    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    assert_eq!(read_all(&mut con), expected);
    let _: () = query(&mut con, &["CONFIG", "SET", "appendonly", "no"]);
    assert_eq!(info_field(&mut con, "aof_enabled"), "0");
    let _: () = query(&mut con, &["SET", "after-off", "1"]);
    server.kill9();
    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    let v: Option<String> = query(&mut con, &["GET", "after-off"]);
    assert_eq!(v, None, "a write made with the AOF off was replayed");
}

#[test]
fn a_torn_tail_is_cut_off_or_refused_as_configured() {
    let dir = TempDir::new("aof-torn");
    let args = ["--appendonly", "yes", "--appendfsync", "always", "--save", ""];
    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    let _: () = query(&mut con, &["SET", "whole", "1"]);
    server.kill9();
    let manifest = std::fs::read_to_string(aof_dir(&dir).join("appendonly.aof.manifest")).unwrap();
    let incr = manifest.lines().find(|l| l.ends_with("type i")).unwrap().split(' ').nth(1).unwrap().to_string();
    let incr_path = aof_dir(&dir).join(&incr);
    let good_len = std::fs::metadata(&incr_path).unwrap().len();
    let mut torn = std::fs::read(&incr_path).unwrap();
    torn.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$5\r\nval");
    std::fs::write(&incr_path, &torn).unwrap();

    let mut refuse = args.to_vec();
    refuse.extend(["--aof-load-truncated", "no"]);
    let (status, log) = ServerProcess::ferrocache_failing(&dir.0, &refuse);
    assert!(!status.success());
    assert!(log.contains("Unexpected end of file reading the append only file"), "{log}");

    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    let whole: Option<String> = query(&mut con, &["GET", "whole"]);
    let torn: Option<String> = query(&mut con, &["GET", "torn"]);
    assert_eq!((whole.as_deref(), torn), (Some("1"), None));
    assert_eq!(std::fs::metadata(&incr_path).unwrap().len(), good_len, "the torn tail was not cut off");
    assert!(server.log_text().contains("short read while loading the AOF file"), "{}", server.log_text());
}

#[test]
fn redis_checks_and_loads_our_aof_and_we_load_its() {
    // Ours → redis-check-aof and redis-server.
    let ours = TempDir::new("aof-ours");
    let args = ["--appendonly", "yes", "--save", ""];
    let server = ServerProcess::ferrocache(&ours.0, &args);
    let mut con = server.connect();
    write_mix(&mut con, 20);
    let _: String = query(&mut con, &["BGREWRITEAOF"]);
    wait_until("the rewrite", || info_field(&mut con, "aof_rewrite_in_progress") == "0");
    write_mix(&mut con, 5);
    let expected = read_all(&mut con);
    drop(con);
    assert!(server.terminate().success());
    let check = std::process::Command::new(program("REDIS_CHECK_AOF", "redis-check-aof"))
        .arg(aof_dir(&ours).join("appendonly.aof.manifest"))
        .output()
        .expect("run redis-check-aof (apt-get install -y redis-tools)");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success() && report.contains("All AOF files and manifest are valid"), "{report}");
    let redis = ServerProcess::redis(&ours.0, &["--appendonly", "yes"]);
    assert_eq!(read_all(&mut redis.connect()), expected);
    drop(redis);

    // Redis → ours.
    let theirs = TempDir::new("aof-theirs");
    let redis = ServerProcess::redis(&theirs.0, &["--appendonly", "yes"]);
    let mut rcon = redis.connect();
    write_mix(&mut rcon, 10);
    let _: String = query(&mut rcon, &["BGREWRITEAOF"]);
    wait_until("redis's rewrite", || info_field(&mut rcon, "aof_rewrite_in_progress") == "0");
    write_mix(&mut rcon, 5);
    let expected = read_all(&mut rcon);
    drop(rcon);
    assert!(redis.terminate().success());
    let server = ServerProcess::ferrocache(&theirs.0, &args);
    assert_eq!(read_all(&mut server.connect()), expected);
}

#[test]
fn an_error_while_loading_is_counted_and_loading_goes_on() {
    let dir = TempDir::new("aof-unexpected-error");
    let args = ["--appendonly", "yes", "--appendfsync", "always", "--save", ""];
    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    let _: () = query(&mut con, &["SET", "k", "a"]);
    server.kill9();
    let manifest = std::fs::read_to_string(aof_dir(&dir).join("appendonly.aof.manifest")).unwrap();
    let incr = manifest.lines().find(|l| l.ends_with("type i")).unwrap().split(' ').nth(1).unwrap().to_string();
    let incr_path = aof_dir(&dir).join(&incr);
    let mut aof = std::fs::read(&incr_path).unwrap();
    // An INCR of a non-number, then a write that must still load (redis-server 7.0 does the same).
    aof.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n1\r\n");
    std::fs::write(&incr_path, &aof).unwrap();
    let server = ServerProcess::ferrocache(&dir.0, &args);
    let mut con = server.connect();
    let after: Option<String> = query(&mut con, &["GET", "after"]);
    assert_eq!(after.as_deref(), Some("1"));
    let stats: String = redis::cmd("INFO").arg("stats").arg("errorstats").query(&mut con).unwrap();
    // (total_error_replies may also count a start-up probe's -LOADING.)
    for line in ["unexpected_error_replies:1\r\n", "errorstat_ERR:count=1\r\n"] {
        assert!(stats.contains(line), "{line} in {stats}");
    }
    assert!(
        server.log_text().contains("== CRITICAL == This server is sending an error to its AOF-loading-client: 'value is not an integer or out of range' after processing the command 'incr'"),
        "{}",
        server.log_text()
    );
}
