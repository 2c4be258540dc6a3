//! redis.conf as a drop-in: every Redis 7.0 parameter in CONFIG GET with Redis's default,
//! CONFIG SET answering as redis-server does for every parameter, the stock redis.conf files
//! (Redis 7.0.15's and Debian's) starting the server unchanged, `daemonize` with its pidfile,
//! and clients served over `unixsocket`.

mod common;

use common::process::ServerProcess;
use common::TempDir;
use std::collections::BTreeMap;

/// Parameters whose values legitimately differ between two servers started side by side.
const DIFFERENT_BY_SETUP: &[(&str, &str)] = &[
    ("port", "each server has its own free port"),
    ("dir", "each server has its own temporary directory"),
    ("logfile", "each server logs to its own file"),
];

/// Ferrocache's own directives: in our CONFIG GET *, not in Redis's.
const OURS_ONLY: &[&str] = &["shards", "threads", "busy-poll", "log-format", "http-port", "http-bind"];

fn config_get(con: &mut redis::Connection, pattern: &str) -> BTreeMap<String, String> {
    redis::cmd("CONFIG").arg("GET").arg(pattern).query(con).expect("CONFIG GET")
}

/// Both servers with the same test settings (persistence off, loopback, own dir and log).
fn both(redis_dir: &TempDir, our_dir: &TempDir) -> (ServerProcess, ServerProcess) {
    let redis = ServerProcess::redis(&redis_dir.0, &[]);
    let ours = ServerProcess::ferrocache(&our_dir.0, &["--save", "", "--appendonly", "no"]);
    (redis, ours)
}

#[test]
fn config_get_all_lists_every_redis_parameter_with_its_default() {
    let (rd, od) = (TempDir::new("conf-get-redis"), TempDir::new("conf-get-ours"));
    let (redis, ours) = both(&rd, &od);
    let theirs = config_get(&mut redis.connect(), "*");
    let mine = config_get(&mut ours.connect(), "*");
    assert!(theirs.len() >= 190, "redis-server 7.0 lists {} parameters", theirs.len());
    let mut differences = Vec::new();
    for (name, value) in &theirs {
        if DIFFERENT_BY_SETUP.iter().any(|(n, _)| n == name) {
            assert!(mine.contains_key(name), "{name} missing");
            continue;
        }
        match mine.get(name) {
            None => differences.push(format!("{name}: missing (redis: {value:?})")),
            Some(v) if v != value => differences.push(format!("{name}: {v:?}, redis: {value:?}")),
            Some(_) => {}
        }
    }
    for name in mine.keys().filter(|n| !theirs.contains_key(*n)) {
        if !OURS_ONLY.contains(&name.as_str()) {
            differences.push(format!("{name}: ours only"));
        }
    }
    assert!(differences.is_empty(), "CONFIG GET * differs:\n{}", differences.join("\n"));
}

/// Values tried on every parameter: each type's valid and invalid spellings.
const PROBES: &[&str] = &[
    "yes",
    "no",
    "0",
    "1",
    "-1",
    "abc",
    "",
    "100mb",
    "50%",
    "2 3",
    "1 2 3",
    "01",
    "normal 1mb 2mb 3",
    "save now",
    "save nosave",
    "local",
    "hostname",
    "allkeys-lru",
    "everysec",
    "777",
    "9223372036854775808",
];

/// Redis 7.0's hidden test knobs: not in CONFIG GET *, but CONFIG SET and exact GET work.
const HIDDEN: &[&str] =
    &["use-exit-on-panic", "watchdog-period", "loading-process-events-interval-bytes", "rdb-key-save-delay"];

/// Where CONFIG SET answers differently on purpose, and why (docs/OPERATIONS.md).
const SET_EXCEPTIONS: &[(&str, &str)] = &[
    ("port", "listeners are not re-bound at run time: immutable here"),
    ("bind", "listeners are not re-bound at run time: immutable here"),
    ("activedefrag", "no active defragmentation: `yes` is refused"),
    ("rdb-key-save-delay", "a test knob: negative delays (busy loops in Redis) are refused"),
];

fn reply_text(r: redis::RedisResult<redis::Value>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn config_set_answers_as_redis_for_every_parameter() {
    let (rd, od) = (TempDir::new("conf-set-redis"), TempDir::new("conf-set-ours"));
    let (redis, ours) = both(&rd, &od);
    let (mut theirs, mut mine) = (redis.connect(), ours.connect());
    let mut names: Vec<String> = config_get(&mut theirs, "*").into_keys().collect();
    names.extend(HIDDEN.iter().map(|s| s.to_string()));
    let mut differences = Vec::new();
    let mut compared = 0;
    for name in &names {
        if SET_EXCEPTIONS.iter().any(|(n, _)| n == name) {
            continue;
        }
        let original_theirs = config_get(&mut theirs, name).remove(name).unwrap_or_default();
        let original_mine = config_get(&mut mine, name).remove(name).unwrap_or_default();
        for probe in PROBES {
            let set = |con: &mut redis::Connection| {
                reply_text(redis::cmd("CONFIG").arg("SET").arg(name).arg(*probe).query::<redis::Value>(con))
            };
            let (a, b) = (set(&mut theirs), set(&mut mine));
            compared += 1;
            if a != b {
                differences.push(format!("CONFIG SET {name} {probe:?}: ours {b}, redis {a}"));
            } else if a == "Okay" {
                let (va, vb) = (config_get(&mut theirs, name), config_get(&mut mine, name));
                let skip_value = DIFFERENT_BY_SETUP.iter().any(|(n, _)| n == name);
                if va != vb && !skip_value {
                    differences.push(format!("after CONFIG SET {name} {probe:?}: ours {vb:?}, redis {va:?}"));
                }
            }
            // Back to where each started, so one probe does not change the next one's answer.
            for (con, original) in [(&mut theirs, &original_theirs), (&mut mine, &original_mine)] {
                let _: redis::RedisResult<redis::Value> =
                    redis::cmd("CONFIG").arg("SET").arg(name).arg(original).query(con);
            }
        }
    }
    assert!(compared > 3000, "only {compared} probes compared");
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
}
