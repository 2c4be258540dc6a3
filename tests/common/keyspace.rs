//! Helpers for tests that drive a server with the `redis` crate: polling, INFO fields, and
//! reading a whole keyspace to compare two servers (or one before and after a restart).

use redis::Connection;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Polls `done` (bounded: 30 s) until it holds; for state a server reaches on its own time
/// (a background save, a cluster agreeing), never as a stand-in for a reply.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One field of `INFO persistence`.
pub fn info_field(con: &mut Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {field} in INFO persistence:\n{info}"))
        .to_string()
}

/// Runs `args` and converts the reply, panicking with the command on an error.
pub fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Every string key of every database: (db, name) → (value, has a TTL).
pub fn read_all(con: &mut Connection) -> BTreeMap<(u32, String), (String, bool)> {
    let mut out = BTreeMap::new();
    for db in 0..16u32 {
        let _: () = query(con, &["SELECT", &db.to_string()]);
        let keys: Vec<String> = query(con, &["KEYS", "*"]);
        for k in keys {
            let v: String = query(con, &["GET", &k]);
            let ttl: i64 = query(con, &["PTTL", &k]);
            out.insert((db, k), (v, ttl > 0));
        }
    }
    let _: () = query(con, &["SELECT", "0"]);
    out
}
