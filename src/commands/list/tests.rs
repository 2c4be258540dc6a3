//! List command tests through the real dispatcher. Expected replies were checked against
//! Redis 7.0.15.

use crate::commands::testing::{bulk, err, Harness};
use ferrocache_protocol::Reply;

fn int(n: i64) -> Reply {
    Reply::Integer(n)
}

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|&n| int(n)).collect())
}

fn all(h: &mut Harness, key: &str) -> Reply {
    h.run(&["lrange", key, "0", "-1"])
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn pushes_and_pops_at_both_ends() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["rpush", "l", "b", "c"]), int(2));
    assert_eq!(h.run(&["lpush", "l", "a", "z"]), int(4));
    assert_eq!(all(&mut h, "l"), bulks(&["z", "a", "b", "c"]));
    assert_eq!(h.run(&["lpushx", "nokey", "a"]), int(0));
    assert_eq!(h.run(&["exists", "nokey"]), int(0));
    assert_eq!(h.run(&["rpushx", "l", "d"]), int(5));
    assert_eq!(h.run(&["lpop", "l"]), bulk("z"));
    assert_eq!(h.run(&["rpop", "l", "2"]), bulks(&["d", "c"]));
    assert_eq!(h.run(&["lpop", "l", "0"]), Reply::Array(vec![]));
    assert_eq!(h.run(&["lpop", "l", "-1"]), err("ERR value is out of range, must be positive"));
    assert_eq!(h.run(&["lpop", "l", "x"]), err("ERR value is out of range, must be positive"));
    assert_eq!(h.run(&["lpop", "l", "1", "2"]), err("ERR wrong number of arguments for 'lpop' command"));
    assert_eq!(h.run(&["lpop", "l", "100"]), bulks(&["a", "b"]));
    // The last pop deleted the key: a missing key is a null, an array null with a count.
    assert_eq!(h.run(&["exists", "l"]), int(0));
    assert_eq!(h.run(&["lpop", "l"]), Reply::Null);
    assert_eq!(h.run(&["rpop", "l", "0"]), Reply::NullArray);
    assert_eq!(h.run(&["llen", "l"]), int(0));
}

#[test]
fn ranges_indexes_and_trims() {
    let mut h = Harness::new();
    h.run(&["rpush", "l", "a", "b", "c", "d", "e"]);
    assert_eq!(h.run(&["lrange", "l", "1", "-2"]), bulks(&["b", "c", "d"]));
    assert_eq!(h.run(&["lrange", "l", "-100", "100"]), bulks(&["a", "b", "c", "d", "e"]));
    assert_eq!(h.run(&["lrange", "l", "3", "1"]), bulks(&[]));
    assert_eq!(
        h.run(&["lrange", "l", "-9223372036854775808", "9223372036854775807"]),
        bulks(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(h.run(&["lindex", "l", "-1"]), bulk("e"));
    assert_eq!(h.run(&["lindex", "l", "5"]), Reply::Null);
    assert_eq!(h.run(&["lindex", "l", "-9223372036854775808"]), Reply::Null);
    assert_eq!(h.run(&["lset", "l", "-2", "D"]), Reply::OK);
    assert_eq!(h.run(&["lset", "l", "5", "x"]), err("ERR index out of range"));
    assert_eq!(h.run(&["lset", "nokey", "0", "x"]), err("ERR no such key"));
    assert_eq!(h.run(&["ltrim", "l", "1", "-2"]), Reply::OK);
    assert_eq!(all(&mut h, "l"), bulks(&["b", "c", "D"]));
    assert_eq!(h.run(&["ltrim", "l", "5", "10"]), Reply::OK);
    assert_eq!(h.run(&["exists", "l"]), int(0));
}

#[test]
fn insert_and_remove_by_value() {
    let mut h = Harness::new();
    h.run(&["rpush", "l", "a", "x", "b", "x", "c", "x"]);
    assert_eq!(h.run(&["linsert", "l", "BEFORE", "b", "1"]), int(7));
    assert_eq!(h.run(&["linsert", "l", "after", "c", "2"]), int(8));
    assert_eq!(h.run(&["linsert", "l", "after", "nope", "2"]), int(-1));
    assert_eq!(h.run(&["linsert", "l", "middle", "c", "2"]), err("ERR syntax error"));
    assert_eq!(all(&mut h, "l"), bulks(&["a", "x", "1", "b", "x", "c", "2", "x"]));
    // From the tail: the last two x go, the first stays.
    assert_eq!(h.run(&["lrem", "l", "-2", "x"]), int(2));
    assert_eq!(all(&mut h, "l"), bulks(&["a", "x", "1", "b", "c", "2"]));
    h.run(&["rpush", "l", "x", "x"]);
    assert_eq!(h.run(&["lrem", "l", "2", "x"]), int(2));
    assert_eq!(all(&mut h, "l"), bulks(&["a", "1", "b", "c", "2", "x"]));
    assert_eq!(h.run(&["lrem", "l", "0", "x"]), int(1));
    assert_eq!(h.run(&["lrem", "l", "-9223372036854775808", "a"]), int(1));
    assert_eq!(h.run(&["lrem", "nokey", "0", "a"]), int(0));
}

#[test]
fn lpos_follows_rank_count_and_maxlen() {
    let mut h = Harness::new();
    h.run(&["rpush", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(h.run(&["lpos", "l", "a"]), int(0));
    assert_eq!(h.run(&["lpos", "l", "a", "rank", "-1"]), int(4));
    assert_eq!(h.run(&["lpos", "l", "a", "count", "0"]), ints(&[0, 2, 4]));
    assert_eq!(h.run(&["lpos", "l", "a", "rank", "2", "count", "2", "maxlen", "3"]), ints(&[2]));
    assert_eq!(h.run(&["lpos", "l", "a", "rank", "9", "count", "0"]), ints(&[]));
    assert_eq!(h.run(&["lpos", "l", "zz"]), Reply::Null);
    assert_eq!(h.run(&["lpos", "nokey", "zz", "count", "1"]), ints(&[]));
    // Redis negates i64::MIN in C: it stays negative, so every match ranks and COUNT never stops.
    assert_eq!(h.run(&["lpos", "l", "a", "rank", "-9223372036854775808", "count", "1"]), ints(&[4, 2, 0]));
    // A huge COUNT is a bound, not an allocation.
    assert_eq!(h.run(&["lpos", "l", "a", "count", "9223372036854775807"]), ints(&[0, 2, 4]));
    assert!(
        matches!(h.run(&["lpos", "l", "a", "rank", "0"]), Reply::Error(e) if e.starts_with("ERR RANK can't be zero"))
    );
    assert_eq!(h.run(&["lpos", "l", "a", "count", "-1"]), err("ERR COUNT can't be negative"));
    assert_eq!(h.run(&["lpos", "l", "a", "maxlen", "-1"]), err("ERR MAXLEN can't be negative"));
    assert_eq!(h.run(&["lpos", "l", "a", "count"]), err("ERR syntax error"));
}

#[test]
fn moves_between_lists_and_within_one() {
    let mut h = Harness::new();
    h.run(&["rpush", "src", "a", "b", "c"]);
    assert_eq!(h.run(&["lmove", "src", "dst", "left", "RIGHT"]), bulk("a"));
    assert_eq!(h.run(&["rpoplpush", "src", "dst"]), bulk("c"));
    assert_eq!(all(&mut h, "dst"), bulks(&["c", "a"]));
    assert_eq!(h.run(&["lmove", "dst", "dst", "left", "right"]), bulk("c"));
    assert_eq!(all(&mut h, "dst"), bulks(&["a", "c"]));
    assert_eq!(h.run(&["lmove", "src", "dst", "up", "right"]), err("ERR syntax error"));
    assert_eq!(h.run(&["lmove", "nokey", "dst", "left", "right"]), Reply::Null);
    // A wrong-typed destination changes nothing.
    h.run(&["set", "s", "v"]);
    assert_eq!(h.run(&["lmove", "src", "s", "left", "right"]), err(WRONGTYPE));
    assert_eq!(all(&mut h, "src"), bulks(&["b"]));
    assert_eq!(h.run(&["rpoplpush", "src", "dst"]), bulk("b"));
    assert_eq!(h.run(&["exists", "src"]), int(0));
}

#[test]
fn lmpop_pops_from_the_first_non_empty_list_and_propagates_a_pop() {
    let mut h = Harness::new();
    h.run(&["rpush", "b", "1", "2", "3"]);
    let log = h.capture_effects();
    let reply = h.run(&["lmpop", "2", "a", "b", "right", "count", "2"]);
    assert_eq!(reply, Reply::Array(vec![bulk("b"), bulks(&["3", "2"])]));
    assert_eq!(log.take(), vec!["0> RPOP b 2".to_string()]);
    assert_eq!(h.run(&["lmpop", "1", "a", "left"]), Reply::NullArray);
    assert_eq!(h.run(&["lmpop", "0", "a", "left"]), err("ERR numkeys should be greater than 0"));
    assert_eq!(h.run(&["lmpop", "5", "a", "left"]), err("ERR syntax error"));
    assert_eq!(h.run(&["lmpop", "9223372036854775807", "a", "left"]), err("ERR syntax error"));
    assert_eq!(h.run(&["lmpop", "1", "b", "left", "count", "0"]), err("ERR count should be greater than 0"));
    assert_eq!(h.run(&["lmpop", "1", "b", "left", "count", "1", "count", "1"]), err("ERR syntax error"));
    h.run(&["set", "s", "v"]);
    assert_eq!(h.run(&["lmpop", "2", "s", "b", "left"]), err(WRONGTYPE));
    assert_eq!(
        h.run(&["lmpop", "2", "a", "b", "left", "count", "9223372036854775807"]),
        Reply::Array(vec![bulk("b"), bulks(&["1"])])
    );
    assert_eq!(h.run(&["exists", "b"]), int(0));
}

#[test]
fn types_are_checked_both_ways() {
    let mut h = Harness::new();
    h.run(&["rpush", "l", "a"]);
    h.run(&["set", "s", "v"]);
    assert_eq!(h.run(&["get", "l"]), err(WRONGTYPE));
    assert_eq!(h.run(&["append", "l", "x"]), err(WRONGTYPE));
    for cmd in [
        &["lpush", "s", "a"][..],
        &["rpushx", "s", "a"],
        &["lpop", "s"],
        &["llen", "s"],
        &["lrange", "s", "0", "1"],
        &["lindex", "s", "0"],
        &["lset", "s", "0", "a"],
        &["linsert", "s", "before", "a", "b"],
        &["lrem", "s", "0", "a"],
        &["ltrim", "s", "0", "1"],
        &["lpos", "s", "a"],
        &["rpoplpush", "s", "l"],
    ] {
        assert_eq!(h.run(cmd), err(WRONGTYPE), "{cmd:?}");
    }
    assert_eq!(h.run(&["object", "encoding", "l"]), bulk("quicklist"));
    assert_eq!(h.run(&["type", "l"]), Reply::simple("list"));
}
