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

/// A second client of the harness's server, blocked by `args`: its waiter and deadline.
fn block_other(h: &Harness, id: u64, args: &[&str]) -> (crate::client::Client, crate::client::Blocked) {
    use crate::client::{Client, ClientInfo};
    use std::sync::Arc;
    let addr = "127.0.0.1:40001".parse().unwrap();
    let mut other = Client::new(Arc::new(ClientInfo::new(id, addr, addr)), true);
    let mut request = args.iter().map(|a| bytes::Bytes::copy_from_slice(a.as_bytes())).collect();
    let reply = crate::commands::execute(&h.shared, &mut other, &mut request);
    assert_eq!(reply, Reply::Raw(bytes::Bytes::new()), "{args:?} did not block");
    let blocked = other.blocked.take().expect("blocked");
    (other, blocked)
}

/// What a blocked client was answered, once its wait ends (at once if it was served).
fn outcome(h: &Harness, blocked: crate::client::Blocked) -> Option<Reply> {
    let crate::client::Blocked::Keys { waiter, deadline, .. } = blocked else { panic!("not a wait on keys") };
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    match rt.block_on(crate::commands::blocking::wait_served(&h.shared, waiter, deadline)) {
        crate::commands::blocking::Outcome::Served(reply) => Some(reply),
        crate::commands::blocking::Outcome::Retry => None,
    }
}

#[test]
fn a_push_serves_waiters_in_order_and_propagates_their_pops_after_it() {
    let mut h = Harness::new();
    let (_a, first) = block_other(&h, 2, &["blpop", "k", "0"]);
    let (_b, second) = block_other(&h, 3, &["blmpop", "0", "2", "x", "k", "right", "count", "5"]);
    let (_c, third) = block_other(&h, 4, &["brpop", "k", "0"]);
    assert_eq!(crate::commands::blocking::blocked(&h.shared), 3);
    let log = h.capture_effects();
    assert_eq!(h.run(&["rpush", "k", "a", "b", "c"]), int(3));
    assert_eq!(outcome(&h, first), Some(Reply::Array(vec![bulk("k"), bulk("a")])));
    assert_eq!(outcome(&h, second), Some(Reply::Array(vec![bulk("k"), bulks(&["c", "b"])])));
    assert_eq!(crate::commands::blocking::blocked(&h.shared), 1, "the third still waits: nothing was left");
    assert_eq!(h.run(&["exists", "k"]), int(0));
    assert_eq!(log.take(), vec!["0> rpush k a b c", "0> LPOP k", "0> RPOP k 2"]);
    assert_eq!(h.run(&["lpush", "k", "z"]), int(1));
    assert_eq!(outcome(&h, third), Some(Reply::Array(vec![bulk("k"), bulk("z")])));
    assert_eq!(crate::commands::blocking::blocked(&h.shared), 0);
}

#[test]
fn a_wait_times_out_with_a_null_array() {
    let h = Harness::new();
    let (_a, pop) = block_other(&h, 2, &["blpop", "k", "0.01"]);
    let (_b, mv) = block_other(&h, 3, &["brpoplpush", "k", "d", "0.01"]);
    assert_eq!(outcome(&h, pop), Some(Reply::NullArray));
    // A move too (`replyToBlockedClientTimedOut`); inside MULTI it would answer a null.
    assert_eq!(outcome(&h, mv), Some(Reply::NullArray));
    assert_eq!(crate::commands::blocking::blocked(&h.shared), 0);
}

#[test]
fn a_move_waiter_is_served_in_its_shard_or_told_to_run_again() {
    let mut h = Harness::new();
    let shared = h.shared.clone();
    let pair = |same: bool| {
        (0..1000)
            .map(|i| (format!("s{i}"), format!("d{i}")))
            .find(|(s, d)| (shared.store.shard_index(s.as_bytes()) == shared.store.shard_index(d.as_bytes())) == same)
            .expect("a pair of keys")
    };
    // Both in one shard: served by the push itself.
    let (src, dst) = pair(true);
    let (_a, same) = block_other(&h, 2, &["blmove", &src, &dst, "right", "left", "0"]);
    let log = h.capture_effects();
    assert_eq!(h.run(&["rpush", &src, "x"]), int(1));
    assert_eq!(outcome(&h, same), Some(bulk("x")));
    assert_eq!(log.take(), vec![format!("0> rpush {src} x"), format!("0> LMOVE {src} {dst} RIGHT LEFT")]);
    assert_eq!(h.run(&["lrange", &dst, "0", "-1"]), bulks(&["x"]));
    // In different shards: the waiter is woken to run its command again.
    let (src, dst) = pair(false);
    let (_b, apart) = block_other(&h, 3, &["brpoplpush", &src, &dst, "0"]);
    assert_eq!(h.run(&["rpush", &src, "y"]), int(1));
    assert_eq!(outcome(&h, apart), None);
    assert_eq!(h.run(&["llen", &src]), int(1), "the element waits for the retry");
}

#[test]
fn a_blmove_that_need_not_wait_propagates_an_lmove_and_the_pops_it_causes() {
    let mut h = Harness::new();
    h.run(&["rpush", "s", "a"]);
    let (_a, waiting) = block_other(&h, 2, &["blpop", "d", "0"]);
    let log = h.capture_effects();
    assert_eq!(h.run(&["brpoplpush", "s", "d", "0"]), bulk("a"));
    assert_eq!(outcome(&h, waiting), Some(Reply::Array(vec![bulk("d"), bulk("a")])));
    assert_eq!(log.take(), vec!["0> LMOVE s d RIGHT LEFT", "0> LPOP d"]);
    h.run(&["rpush", "s", "b"]);
    log.take();
    assert_eq!(h.run(&["blmove", "s", "d", "left", "left", "0"]), bulk("b"));
    assert_eq!(log.take(), vec!["0> LMOVE s d LEFT LEFT"]);
    // A far deadline (292 000 years) waits like any other.
    let (_b, far) = block_other(&h, 3, &["blpop", "k", "9223372036854"]);
    h.run(&["rpush", "k", "x"]);
    assert_eq!(outcome(&h, far), Some(Reply::Array(vec![bulk("k"), bulk("x")])));
}

#[test]
fn a_served_move_serves_its_destinations_waiters_in_turn() {
    let mut h = Harness::new();
    let shared = h.shared.clone();
    let same = |a: &str, b: &str| shared.store.shard_index(a.as_bytes()) == shared.store.shard_index(b.as_bytes());
    let (src, dst) =
        (0..1000).map(|i| (format!("s{i}"), format!("d{i}"))).find(|(s, d)| same(s, d)).expect("two keys in one shard");
    let (_a, mover) = block_other(&h, 2, &["blmove", &src, &dst, "left", "left", "0"]);
    let (_b, popper) = block_other(&h, 3, &["brpop", &dst, "0"]);
    let log = h.capture_effects();
    assert_eq!(h.run(&["lpush", &src, "x"]), int(1));
    assert_eq!(outcome(&h, mover), Some(bulk("x")));
    assert_eq!(outcome(&h, popper), Some(Reply::Array(vec![bulk(&dst), bulk("x")])));
    assert_eq!(
        log.take(),
        vec![format!("0> lpush {src} x"), format!("0> LMOVE {src} {dst} LEFT LEFT"), format!("0> RPOP {dst}")]
    );
    assert_eq!(h.run(&["exists", &src, &dst]), int(0));
}
