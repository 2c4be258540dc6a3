//! In-process tests of the sorted-set commands: properties of the random commands and
//! paging, state after the fact. Exact replies are held against redis-server by the
//! differential corpus (`tests/corpus/zsets.redis`).

use crate::commands::testing::{bulk, err, Harness};
use ferrocache_protocol::Reply;
use std::collections::{HashMap, HashSet};

fn int(r: Reply) -> i64 {
    match r {
        Reply::Integer(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn strings(r: Reply) -> Vec<String> {
    match r {
        Reply::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Reply::Double(d) => ferrocache_protocol::format_double(d),
                i => String::from_utf8(i.bulk_bytes().expect("bulk").to_vec()).expect("utf8"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// A set of `n` members `m0…` scored by their number.
fn fill(h: &mut Harness, key: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let mut args = vec!["zadd".to_string(), key.to_string()];
        for i in chunk {
            args.push(i.to_string());
            args.push(format!("m{i}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(int(h.run(&args)), chunk.len() as i64);
    }
}

#[test]
fn zrandmember_positive_counts_are_distinct_members() {
    let mut h = Harness::new();
    fill(&mut h, "z", 50);
    for count in [1, 2, 10, 49, 50, 500] {
        let got = strings(h.run(&["zrandmember", "z", &count.to_string()]));
        assert_eq!(got.len(), count.min(50));
        let distinct: HashSet<_> = got.iter().collect();
        assert_eq!(distinct.len(), got.len(), "count {count}: {got:?}");
        assert!(got.iter().all(|m| m.starts_with('m') && m[1..].parse::<usize>().unwrap() < 50));
    }
}

#[test]
fn zrandmember_negative_counts_repeat_and_cover() {
    let mut h = Harness::new();
    fill(&mut h, "z", 5);
    let got = strings(h.run(&["zrandmember", "z", "-1000"]));
    assert_eq!(got.len(), 1000);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for m in &got {
        *seen.entry(m).or_default() += 1;
    }
    // 1000 draws of 5: each member turns up (failure odds ~5 * 0.8^1000).
    assert_eq!(seen.len(), 5, "{seen:?}");
    // WITHSCORES pairs each member with its own score.
    let got = strings(h.run(&["zrandmember", "z", "-20", "withscores"]));
    assert_eq!(got.len(), 40);
    for pair in got.chunks(2) {
        assert_eq!(pair[0][1..], pair[1]);
    }
}

#[test]
fn huge_counts_are_refused_or_bounded() {
    let mut h = Harness::new();
    fill(&mut h, "z", 3);
    assert_eq!(h.run(&["zrandmember", "z", "-4611686018427387904"]), err("ERR value is out of range"));
    assert_eq!(h.run(&["zrandmember", "z", "-4611686018427387904", "withscores"]), err("ERR value is out of range"));
    assert_eq!(strings(h.run(&["zrandmember", "z", "9223372036854775807"])).len(), 3);
    assert_eq!(strings(h.run(&["zpopmin", "z", "9223372036854775807"])).len(), 6);
    fill(&mut h, "z", 3);
    let r = h.run(&["zrange", "z", "-inf", "+inf", "byscore", "limit", "1", "9223372036854775807"]);
    assert_eq!(strings(r), ["m1", "m2"]);
    let r = h.run(&["zrange", "z", "-9223372036854775808", "9223372036854775807"]);
    assert_eq!(strings(r), ["m0", "m1", "m2"]);
    assert_eq!(h.run(&["zmpop", "9223372036854775807", "z", "min"]), err("ERR syntax error"));
}

/// Scans `key` to the end with `count`, running `between` after each call.
fn scan_all(h: &mut Harness, key: &str, count: usize, mut between: impl FnMut(&mut Harness)) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let Reply::Array(mut parts) = h.run(&["zscan", key, &cursor, "count", &count.to_string()]) else {
            panic!("zscan reply")
        };
        let page = strings(parts.pop().unwrap());
        cursor = String::from_utf8(parts.pop().unwrap().bulk_bytes().unwrap().to_vec()).unwrap();
        seen.extend(page.chunks(2).map(|p| p[0].clone()));
        between(h);
        if cursor == "0" {
            return seen;
        }
    }
    panic!("zscan did not finish");
}

#[test]
fn zscan_of_a_large_set_pages_and_returns_every_member() {
    let mut h = Harness::new();
    fill(&mut h, "z", 1000);
    let seen = scan_all(&mut h, "z", 10, |_| {});
    assert_eq!(seen.len(), 1000, "no duplicates without changes");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 1000);

    // Members present for the whole scan are returned even as others come and go.
    let mut n = 0;
    let seen = scan_all(&mut h, "z", 7, |h| {
        n += 1;
        h.run(&["zadd", "z", &(n as f64 * 3.7 - 10.0).to_string(), &format!("new{n}")]);
        h.run(&["zrem", "z", &format!("m{}", 999 - n)]);
    });
    let seen: HashSet<_> = seen.into_iter().collect();
    for i in 0..(999 - n) {
        assert!(seen.contains(&format!("m{i}")), "m{i} missed");
    }
}

#[test]
fn zscan_pages_never_split_a_score() {
    let mut h = Harness::new();
    fill(&mut h, "z", 200);
    for i in 0..50 {
        h.run(&["zadd", "z", "5", &format!("same{i}")]);
    }
    let seen = scan_all(&mut h, "z", 3, |_| {});
    assert_eq!(seen.len(), 250);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 250);
}

#[test]
fn ranks_and_ranges_agree_on_a_large_set() {
    let mut h = Harness::new();
    fill(&mut h, "z", 3000);
    assert_eq!(int(h.run(&["zrank", "z", "m2500"])), 2500);
    assert_eq!(int(h.run(&["zrevrank", "z", "m2500"])), 499);
    assert_eq!(strings(h.run(&["zrange", "z", "1500", "1502"])), ["m1500", "m1501", "m1502"]);
    assert_eq!(strings(h.run(&["zrange", "z", "1500", "1501", "rev"])), ["m1499", "m1498"]);
    assert_eq!(int(h.run(&["zcount", "z", "(100", "200"])), 100);
    assert_eq!(int(h.run(&["zremrangebyrank", "z", "0", "999"])), 1000);
    assert_eq!(int(h.run(&["zrank", "z", "m2500"])), 1500);
    assert_eq!(int(h.run(&["zremrangebyscore", "z", "2000", "+inf"])), 1000);
    assert_eq!(int(h.run(&["zcard", "z"])), 1000);
    assert_eq!(h.run(&["object", "encoding", "z"]), bulk("skiplist"));
}

#[test]
fn numkeys_commands_declare_their_keys() {
    use bytes::Bytes;
    let a = |s: &str| s.split(' ').map(|w| Bytes::copy_from_slice(w.as_bytes())).collect::<Vec<_>>();
    assert_eq!(super::setops::numkeys_keys(&a("zunionstore d 2 a b weights 1 2")), [1, 3, 4]);
    assert_eq!(super::setops::numkeys_keys(&a("ZINTERSTORE d 3 a b")), [1]);
    assert_eq!(super::setops::numkeys_keys(&a("zunion 2 a b")), [2, 3]);
    assert_eq!(super::setops::numkeys_keys(&a("zintercard x a")), Vec::<usize>::new());
    assert_eq!(super::setops::numkeys_keys(&a("zmpop 1 a min")), [2]);
    assert_eq!(super::setops::numkeys_keys(&a("zmpop 0 a min")), Vec::<usize>::new());
}

#[test]
fn store_forms_replace_the_destination() {
    let mut h = Harness::new();
    fill(&mut h, "a", 5);
    h.run(&["set", "d", "x"]);
    h.run(&["expire", "d", "100"]);
    assert_eq!(int(h.run(&["zunionstore", "d", "2", "a", "nokey", "weights", "2", "1"])), 5);
    assert_eq!(int(h.run(&["ttl", "d"])), -1);
    assert_eq!(h.run(&["zscore", "d", "m4"]), Reply::Double(8.0));
    assert_eq!(int(h.run(&["zinterstore", "d", "2", "a", "nokey"])), 0);
    assert_eq!(int(h.run(&["exists", "d"])), 0);
    assert_eq!(int(h.run(&["zdiffstore", "a", "1", "a"])), 5);
    assert_eq!(int(h.run(&["zcard", "a"])), 5);
}

#[test]
fn plain_sets_are_inputs_scoring_one() {
    use crate::store::types::{Collection, Set};
    let mut h = Harness::new();
    let mut s = Set::new();
    for m in ["a", "d", "x"] {
        s.insert(m.as_bytes());
    }
    h.shared.store.lock_key(b"s").insert(0, b"s", s.into_value(), 0);
    h.run(&["zadd", "z", "1", "a", "2", "b", "3", "c"]);
    let r = h.run(&["zunion", "2", "z", "s", "weights", "1", "5", "withscores"]);
    assert_eq!(strings(r), ["b", "2", "c", "3", "d", "5", "x", "5", "a", "6"]);
    assert_eq!(strings(h.run(&["zinter", "2", "z", "s", "withscores"])), ["a", "2"]);
    assert_eq!(strings(h.run(&["zdiff", "2", "z", "s"])), ["b", "c"]);
    assert_eq!(strings(h.run(&["zdiff", "2", "s", "z", "withscores"])), ["d", "1", "x", "1"]);
    assert_eq!(int(h.run(&["zintercard", "2", "s", "z"])), 1);
    // Only the numkeys commands take sets; the rest want a sorted set.
    assert_eq!(h.run(&["zcard", "s"]), err("WRONGTYPE Operation against a key holding the wrong kind of value"));
}
