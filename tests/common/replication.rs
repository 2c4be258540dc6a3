//! Helpers for the replication tests (`replication.rs`, `replication_faults.rs`): INFO
//! fields, a whole keyspace by DUMP to compare a replica with its primary, and a mix of
//! writes of every kind the replication stream must carry.

use super::keyspace::{query, wait_until};
use redis::Connection;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A connection that has been answered (a replica may still be loading).
pub fn connect(addr: SocketAddr) -> Connection {
    let mut con = redis::Client::open(format!("redis://{addr}")).unwrap().get_connection().unwrap();
    wait_until("the server to answer PING", || redis::cmd("PING").query::<String>(&mut con).is_ok());
    con
}

pub fn info(con: &mut Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(con).unwrap()
}

/// A field of an INFO text, if there.
pub fn field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':'))).map(str::to_string)
}

/// A field of an INFO text that must be there.
pub fn expect_field(info: &str, name: &str) -> String {
    field(info, name).unwrap_or_else(|| panic!("no {name} in:\n{info}"))
}

pub fn repl_field(con: &mut Connection, name: &str) -> String {
    expect_field(&info(con, "replication"), name)
}

/// A counter of INFO stats (`sync_full`, `expired_keys`, …).
pub fn stat(con: &mut Connection, name: &str) -> u64 {
    expect_field(&info(con, "stats"), name).parse().unwrap()
}

/// (db, key) → (DUMP payload, has a TTL).
pub type Dump = BTreeMap<(u32, Vec<u8>), (Vec<u8>, bool)>;

/// Every key of every database with its DUMP payload and whether it has a TTL, pipelined.
pub fn dump_all(con: &mut Connection) -> Dump {
    let mut out = BTreeMap::new();
    for db in 0..16u32 {
        let _: () = query(con, &["SELECT", &db.to_string()]);
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(con).unwrap();
        for chunk in keys.chunks(1000) {
            let mut dumps = redis::pipe();
            let mut ttls = redis::pipe();
            for k in chunk {
                dumps.cmd("DUMP").arg(k);
                ttls.cmd("PTTL").arg(k);
            }
            let dumps: Vec<Option<Vec<u8>>> = dumps.query(con).unwrap();
            let ttls: Vec<i64> = ttls.query(con).unwrap();
            for ((k, d), t) in chunk.iter().zip(dumps).zip(ttls) {
                if let Some(d) = d {
                    out.insert((db, k.clone()), (d, t > 0));
                }
            }
        }
    }
    let _: () = query(con, &["SELECT", "0"]);
    out
}

/// Writes of every kind the stream must carry: plain and integer values, relative TTLs
/// (sent as absolute PXAT), deletions, a transaction, another database.
pub fn write_mix(con: &mut Connection, round: usize) {
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

/// `n` keys `prefix:i` with `value_len`-byte values, pipelined.
pub fn fill(con: &mut Connection, prefix: &str, n: usize, value_len: usize) {
    let value = "x".repeat(value_len);
    for start in (0..n).step_by(1000) {
        let mut pipe = redis::pipe();
        for i in start..(start + 1000).min(n) {
            pipe.cmd("SET").arg(format!("{prefix}:{i}")).arg(&value).ignore();
        }
        let () = pipe.query(con).unwrap();
    }
}
