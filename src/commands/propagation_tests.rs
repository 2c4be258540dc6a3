//! What each write command propagates (the AOF's content), checked against what Redis 7.0
//! writes to its AOF for the same requests: the request itself when it replays the same,
//! a rewrite when it would not (relative TTLs, floats, deletions in disguise), a DEL for each
//! key expired or evicted, and MULTI … EXEC around a transaction's writes.

use super::testing::{Harness, START_MS};

fn effects_of(h: &mut Harness, requests: &[&[&str]]) -> Vec<String> {
    let log = h.capture_effects();
    for r in requests {
        h.run(r);
    }
    log.take()
}

#[test]
fn deterministic_writes_propagate_as_requested() {
    let mut h = Harness::new();
    let got = effects_of(
        &mut h,
        &[
            &["set", "f", "1"],
            &["incr", "n"],
            &["incrby", "n", "5"],
            &["mset", "m1", "1", "m2", "2"],
            &["append", "f", "x"],
            &["set", "k", "v", "PXAT", "4102444800000"],
            &["pexpireat", "k", "4102444800001", "GT"],
            &["del", "f", "nope"],
        ],
    );
    assert_eq!(
        got,
        [
            "0> set f 1",
            "0> incr n",
            "0> incrby n 5",
            "0> mset m1 1 m2 2",
            "0> append f x",
            "0> set k v PXAT 4102444800000",
            "0> pexpireat k 4102444800001 GT",
            "0> del f nope",
        ]
    );
}

#[test]
fn writes_that_change_nothing_propagate_nothing() {
    let mut h = Harness::new();
    h.run(&["set", "nx", "1"]);
    let got = effects_of(
        &mut h,
        &[
            &["set", "nx", "2", "NX"],
            &["set", "absent", "2", "XX"],
            &["del", "nope"],
            &["expire", "nope", "100"],
            &["get", "nx"],
            &["incr", "nx", "extra"], // arity error
            &["msetnx", "nx", "3", "other", "4"],
        ],
    );
    assert_eq!(got, Vec::<String>::new());
}

#[test]
fn relative_times_become_absolute() {
    let mut h = Harness::new();
    let at = |ms: u64| (START_MS + ms).to_string();
    let got = effects_of(
        &mut h,
        &[
            &["set", "a", "1", "ex", "100"],
            &["set", "b", "2", "px", "100000", "get"],
            &["setex", "c", "100", "3"],
            &["psetex", "d", "100000", "4"],
            &["set", "e", "5", "exat", "4102444800"],
            &["expire", "a", "200"],
            &["pexpire", "b", "300000"],
            &["expireat", "c", "4102444800"],
            &["getex", "d", "ex", "50"],
            &["getex", "d", "persist"],
        ],
    );
    assert_eq!(
        got,
        [
            format!("0> SET a 1 PXAT {}", at(100_000)),
            format!("0> SET b 2 PXAT {}", at(100_000)),
            format!("0> SET c 3 PXAT {}", at(100_000)),
            format!("0> SET d 4 PXAT {}", at(100_000)),
            "0> SET e 5 PXAT 4102444800000".to_string(),
            format!("0> PEXPIREAT a {}", at(200_000)),
            format!("0> PEXPIREAT b {}", at(300_000)),
            "0> PEXPIREAT c 4102444800000".to_string(),
            format!("0> PEXPIREAT d {}", at(50_000)),
            "0> PERSIST d".to_string(),
        ]
    );
}

#[test]
fn deletions_in_disguise_become_del() {
    let mut h = Harness::new();
    h.run(&["set", "f", "1"]);
    h.run(&["set", "g", "1"]);
    h.run(&["set", "h", "1"]);
    let got = effects_of(
        &mut h,
        &[
            &["getdel", "f"],
            &["expire", "g", "-1"],
            &["set", "h", "2", "pxat", "1"],
            &["getex", "absent", "ex", "5"],
            &["incrbyfloat", "x", "1.5"],
        ],
    );
    assert_eq!(got, ["0> DEL f", "0> DEL g", "0> DEL h", "0> SET x 1.5 KEEPTTL"]);
}

#[test]
fn expired_keys_propagate_a_del_before_what_follows() {
    let mut h = Harness::new();
    h.run(&["set", "i", "1", "px", "10"]);
    h.run(&["set", "j", "1", "px", "10"]);
    h.run(&["set", "k", "1", "px", "10"]);
    h.advance(20);
    let got = effects_of(&mut h, &[&["get", "i"], &["set", "j", "2"], &["mset", "k", "2", "l", "3"]]);
    // MSET, like SET, expires a stale key before overwriting it (Redis's setKey → lookupKeyWrite).
    assert_eq!(got, ["0> DEL i", "0> DEL j", "0> set j 2", "0> DEL k", "0> mset k 2 l 3"]);
    let info = format!("{:?}", h.run(&["info", "stats"]));
    assert!(info.contains("expired_keys:3\\r\\n"), "{info}");
}

#[test]
fn transactions_are_wrapped_and_databases_follow_the_client() {
    let mut h = Harness::new();
    let got = effects_of(
        &mut h,
        &[
            &["multi"],
            &["set", "t1", "1"],
            &["get", "t1"],
            &["select", "3"],
            &["incr", "t2"],
            &["exec"],
            &["multi"],
            &["get", "t1"],
            &["exec"],
            &["flushdb"],
        ],
    );
    assert_eq!(got, ["0> MULTI", "0> set t1 1", "3> incr t2", "3> EXEC", "3> flushdb"]);
}

#[test]
fn flushall_propagates_even_when_empty() {
    let mut h = Harness::new();
    assert_eq!(effects_of(&mut h, &[&["flushall"]]), ["0> flushall"]);
}

#[test]
fn restore_with_a_relative_ttl_replays_with_absttl() {
    let mut h = Harness::new();
    h.run(&["set", "src", "hello"]);
    let payload = h.run(&["dump", "src"]).bulk_bytes().expect("a payload").to_vec();
    let log = h.capture_effects();
    h.run_bytes(&[b"restore", b"k", b"1000", &payload]);
    h.run_bytes(&[b"restore", b"k", b"0", &payload, b"replace"]);
    h.run_bytes(&[b"restore", b"k", b"1", &payload, b"REPLACE", b"ABSTTL"]);
    let p = String::from_utf8_lossy(&payload);
    assert_eq!(
        log.take(),
        [
            format!("0> restore k {} {p} ABSTTL", START_MS + 1000),
            format!("0> restore k 0 {p} replace"),
            "0> DEL k".to_string(),
        ]
    );
}
