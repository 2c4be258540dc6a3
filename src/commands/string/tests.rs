//! String command tests through the real dispatcher. Expected replies were checked against
//! Redis 7.0.15.

use crate::commands::errors;
use crate::commands::testing::{bulk, err, Harness, START_MS};
use ferrocache_protocol::Reply;
use std::sync::atomic::Ordering;

fn int(n: i64) -> Reply {
    Reply::Integer(n)
}

/// `OBJECT ENCODING` of a key, read straight from the store.
fn encoding(h: &Harness, key: &str) -> Option<&'static str> {
    let mut ks = h.shared.store.lock_keys([key]);
    ks.peek(0, key.as_bytes()).map(|e| e.value.encoding())
}

/// The absolute expiry of a key (0: none), `None` when the key is missing.
fn expire_at(h: &Harness, key: &str) -> Option<u64> {
    let mut ks = h.shared.store.lock_keys([key]);
    ks.expire_at(0, key.as_bytes())
}

fn exists(h: &mut Harness, key: &str) -> bool {
    h.run(&["exists", key]) == int(1)
}

#[test]
fn get_and_set_basics() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["get", "k"]), Reply::Null);
    assert_eq!(h.run(&["set", "k", "v"]), Reply::OK);
    assert_eq!(h.run(&["get", "k"]), bulk("v"));
    assert_eq!(h.run(&["SeT", "k", ""]), Reply::OK);
    assert_eq!(h.run(&["get", "k"]), bulk(""));
    assert_eq!(h.run(&["get"]), err("ERR wrong number of arguments for 'get' command"));
    assert_eq!(h.run(&["set", "k"]), err("ERR wrong number of arguments for 'set' command"));
}

#[test]
fn set_option_errors() {
    let mut h = Harness::new();
    let invalid = err("ERR invalid expire time in 'set' command");
    for bad in [
        &["set", "k", "v", "NX", "XX"][..],
        &["set", "k", "v", "XX", "NX"],
        &["set", "k", "v", "EX", "10", "PX", "10"],
        &["set", "k", "v", "EX"],
        &["set", "k", "v", "KEEPTTL", "EX", "10"],
        &["set", "k", "v", "EX", "10", "KEEPTTL"],
        &["set", "k", "v", "PERSIST"],
        &["set", "k", "v", "EX", "1", "extra"],
        &["set", "k", "v", "EXAT", "1", "PXAT", "1"],
    ] {
        assert_eq!(h.run(bad), err(errors::SYNTAX), "{bad:?}");
    }
    assert_eq!(h.run(&["set", "k", "v", "EX", "0"]), invalid);
    assert_eq!(h.run(&["set", "k", "v", "EX", "-1"]), invalid);
    assert_eq!(h.run(&["set", "k", "v", "PX", "0"]), invalid);
    assert_eq!(h.run(&["set", "k", "v", "EXAT", "0"]), invalid);
    // Seconds that overflow once turned into ms, or once "now" is added.
    assert_eq!(h.run(&["set", "k", "v", "EX", "9223372036854776"]), invalid);
    assert_eq!(h.run(&["set", "k", "v", "EX", "9223372036854775"]), invalid);
    assert_eq!(h.run(&["set", "k", "v", "PX", "9223372036854775807"]), invalid);
    assert_eq!(h.run(&["set", "k", "v", "EX", "abc"]), err(errors::NOT_INTEGER));
    // The expire check comes before GET's type check, syntax before everything.
    assert_eq!(h.run(&["set", "k", "v", "GET", "EX", "0"]), invalid);
    assert!(!exists(&mut h, "k"));
    // Absolute times far in the future are fine; options repeat; case does not matter.
    assert_eq!(h.run(&["set", "k", "v", "EXAT", "9223372036854775"]), Reply::OK);
    assert_eq!(h.run(&["set", "k", "v", "ex", "10", "EX", "20", "nx", "NX"]), Reply::Null);
}

#[test]
fn set_nx_xx_get_keepttl() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["set", "k", "v", "XX"]), Reply::Null);
    assert_eq!(h.run(&["set", "k", "v", "XX", "GET"]), Reply::Null);
    assert!(!exists(&mut h, "k"));
    assert_eq!(h.run(&["set", "k", "v", "NX", "GET"]), Reply::Null);
    assert_eq!(h.run(&["set", "k", "v2", "NX"]), Reply::Null);
    assert_eq!(h.run(&["set", "k", "v2", "NX", "GET"]), bulk("v"));
    assert_eq!(h.run(&["get", "k"]), bulk("v"));
    assert_eq!(h.run(&["set", "k", "v3", "XX", "GET", "EX", "100"]), bulk("v"));
    assert_eq!(expire_at(&h, "k"), Some(START_MS + 100_000));
    assert_eq!(h.run(&["set", "k", "v4", "KEEPTTL"]), Reply::OK);
    assert_eq!(expire_at(&h, "k"), Some(START_MS + 100_000));
    assert_eq!(h.run(&["get", "k"]), bulk("v4"));
    // A plain SET drops the TTL.
    assert_eq!(h.run(&["set", "k", "v5", "GET"]), bulk("v4"));
    assert_eq!(expire_at(&h, "k"), Some(0));
    // KEEPTTL on a missing key just sets it.
    assert_eq!(h.run(&["set", "n", "1", "KEEPTTL"]), Reply::OK);
    assert_eq!(expire_at(&h, "n"), Some(0));
}

#[test]
fn set_expiry_variants_and_clock() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["set", "ex", "v", "EX", "10"]), Reply::OK);
    assert_eq!(h.run(&["set", "px", "v", "PX", "1500"]), Reply::OK);
    let exat = ((START_MS / 1000) + 5).to_string();
    assert_eq!(h.run(&["set", "exat", "v", "EXAT", &exat]), Reply::OK);
    let pxat = (START_MS + 2500).to_string();
    assert_eq!(h.run(&["set", "pxat", "v", "PXAT", &pxat]), Reply::OK);
    assert_eq!(expire_at(&h, "ex"), Some(START_MS + 10_000));
    assert_eq!(expire_at(&h, "px"), Some(START_MS + 1500));
    assert_eq!(expire_at(&h, "exat"), Some((START_MS / 1000 + 5) * 1000));
    assert_eq!(expire_at(&h, "pxat"), Some(START_MS + 2500));
    h.advance(1499);
    assert_eq!(h.run(&["get", "px"]), bulk("v"));
    h.advance(1);
    assert_eq!(h.run(&["get", "px"]), Reply::Null);
    h.advance(1000);
    assert_eq!(h.run(&["get", "pxat"]), Reply::Null);
    assert_eq!(h.run(&["get", "ex"]), bulk("v"));
    h.advance(10_000);
    assert_eq!(h.run(&["mget", "ex", "exat"]), Reply::Array(vec![Reply::Null, Reply::Null]));
    // An absolute time in the past deletes the key, and GET still answers the old value.
    assert_eq!(h.run(&["set", "k", "old"]), Reply::OK);
    assert_eq!(h.run(&["set", "k", "v", "GET", "PXAT", "1"]), bulk("old"));
    assert!(!exists(&mut h, "k"));
    assert_eq!(h.run(&["set", "k", "v", "EXAT", "1"]), Reply::OK);
    assert!(!exists(&mut h, "k"));
}

#[test]
fn setnx_setex_psetex_getset() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["setnx", "k", "1"]), int(1));
    assert_eq!(h.run(&["setnx", "k", "2"]), int(0));
    assert_eq!(h.run(&["get", "k"]), bulk("1"));
    assert_eq!(h.run(&["setex", "k", "0", "v"]), err("ERR invalid expire time in 'setex' command"));
    assert_eq!(h.run(&["setex", "k", "-5", "v"]), err("ERR invalid expire time in 'setex' command"));
    assert_eq!(h.run(&["psetex", "k", "0", "v"]), err("ERR invalid expire time in 'psetex' command"));
    assert_eq!(h.run(&["setex", "k", "abc", "v"]), err(errors::NOT_INTEGER));
    assert_eq!(h.run(&["setex", "k", "10", "v"]), Reply::OK);
    assert_eq!(expire_at(&h, "k"), Some(START_MS + 10_000));
    assert_eq!(h.run(&["psetex", "k", "250", "w"]), Reply::OK);
    assert_eq!(expire_at(&h, "k"), Some(START_MS + 250));
    assert_eq!(h.run(&["getset", "k", "x"]), bulk("w"));
    assert_eq!(expire_at(&h, "k"), Some(0), "GETSET clears the TTL");
    assert_eq!(h.run(&["getset", "new", "1"]), Reply::Null);
    assert_eq!(h.run(&["get", "new"]), bulk("1"));
    assert_eq!(h.run(&["setex", "k", "1"]), err("ERR wrong number of arguments for 'setex' command"));
}

#[test]
fn getdel_and_getex() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["getdel", "k"]), Reply::Null);
    h.run(&["set", "k", "v"]);
    assert_eq!(h.run(&["getdel", "k"]), bulk("v"));
    assert!(!exists(&mut h, "k"));

    let invalid = err("ERR invalid expire time in 'getex' command");
    // A missing key answers nil before the expiry is even validated; syntax comes first.
    assert_eq!(h.run(&["getex", "nokey", "EX", "0"]), Reply::Null);
    assert_eq!(h.run(&["getex", "nokey", "foo"]), err(errors::SYNTAX));
    h.run(&["set", "k", "v"]);
    assert_eq!(h.run(&["getex", "k", "EX", "0"]), invalid);
    for bad in [
        &["getex", "k", "NX"][..],
        &["getex", "k", "GET"],
        &["getex", "k", "KEEPTTL"],
        &["getex", "k", "EX", "10", "PERSIST"],
        &["getex", "k", "PERSIST", "EX", "10"],
        &["getex", "k", "EX"],
        &["getex", "k", "EX", "1", "PX", "1"],
    ] {
        assert_eq!(h.run(bad), err(errors::SYNTAX), "{bad:?}");
    }
    assert_eq!(h.run(&["getex", "k"]), bulk("v"));
    assert_eq!(h.run(&["getex", "k", "EX", "100"]), bulk("v"));
    assert_eq!(expire_at(&h, "k"), Some(START_MS + 100_000));
    assert_eq!(h.run(&["getex", "k", "PX", "100", "PX", "200"]), bulk("v"));
    assert_eq!(expire_at(&h, "k"), Some(START_MS + 200));
    assert_eq!(h.run(&["getex", "k", "PERSIST", "PERSIST"]), bulk("v"));
    assert_eq!(expire_at(&h, "k"), Some(0));
    let pxat = (START_MS + 50).to_string();
    assert_eq!(h.run(&["getex", "k", "PXAT", &pxat]), bulk("v"));
    h.advance(50);
    assert_eq!(h.run(&["getex", "k"]), Reply::Null);
    h.run(&["set", "k", "v"]);
    assert_eq!(h.run(&["getex", "k", "EXAT", "1"]), bulk("v"));
    assert!(!exists(&mut h, "k"), "an EXAT in the past deletes the key");
}

#[test]
fn mget_mset_msetnx() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["mset", "a"]), err("ERR wrong number of arguments for 'mset' command"));
    assert_eq!(h.run(&["mset", "a", "b", "c"]), err("ERR wrong number of arguments for 'mset' command"));
    assert_eq!(h.run(&["msetnx", "a", "b", "c"]), err("ERR wrong number of arguments for 'msetnx' command"));
    assert_eq!(h.run(&["mset", "a", "1", "b", "2", "a", "3"]), Reply::OK);
    assert_eq!(h.run(&["mget", "a", "b", "c"]), Reply::Array(vec![bulk("3"), bulk("2"), Reply::Null]));
    assert_eq!(h.run(&["msetnx", "c", "1", "a", "9"]), int(0));
    assert!(!exists(&mut h, "c"));
    assert_eq!(h.run(&["msetnx", "c", "1", "d", "2"]), int(1));
    assert_eq!(h.run(&["mget", "c", "d"]), Reply::Array(vec![bulk("1"), bulk("2")]));
    // MSET clears TTLs.
    h.run(&["set", "t", "v", "EX", "10"]);
    h.run(&["mset", "t", "w"]);
    assert_eq!(expire_at(&h, "t"), Some(0));
}

/// MGET and MSET work through their keys in prefetched chunks: results must not depend on
/// where a chunk ends (a key repeated across chunks, misses, 41 keys = 2 full chunks + 9).
#[test]
fn mget_mset_over_several_prefetch_chunks() {
    let mut h = Harness::new();
    let mut mset = vec!["mset".to_string()];
    for i in 0..41 {
        // k3 appears again as the last key: the later value wins, as in Redis.
        let key = if i == 40 { "k3".to_string() } else { format!("k{i}") };
        mset.extend([key, format!("v{i}")]);
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    assert_eq!(h.run(&mset), Reply::OK);
    let keys: Vec<String> = (0..45).map(|i| format!("k{i}")).collect();
    let mut mget = vec!["mget"];
    mget.extend(keys.iter().map(String::as_str));
    let expected = (0..45)
        .map(|i| match i {
            3 => bulk("v40"),
            0..=39 => bulk(&format!("v{i}")),
            _ => Reply::Null,
        })
        .collect();
    assert_eq!(h.run(&mget), Reply::Array(expected));
}

#[test]
fn append_and_strlen() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["strlen", "k"]), int(0));
    assert_eq!(h.run(&["append", "k", "123"]), int(3));
    assert_eq!(encoding(&h, "k"), Some("int"), "APPEND to a missing key stores the argument as SET would");
    assert_eq!(h.run(&["append", "k", "456"]), int(6));
    assert_eq!(encoding(&h, "k"), Some("raw"));
    assert_eq!(h.run(&["get", "k"]), bulk("123456"));
    assert_eq!(h.run(&["strlen", "k"]), int(6));
    h.run(&["set", "n", "-12345"]);
    assert_eq!(h.run(&["strlen", "n"]), int(6));
    // APPEND keeps the TTL.
    h.run(&["set", "t", "a", "EX", "10"]);
    assert_eq!(h.run(&["append", "t", "b"]), int(2));
    assert_eq!(expire_at(&h, "t"), Some(START_MS + 10_000));
    // The size limit is proto-max-bulk-len.
    h.shared.hot.proto_max_bulk_len.store(8, Ordering::Relaxed);
    assert_eq!(h.run(&["append", "k", "12"]), int(8));
    assert_eq!(h.run(&["append", "k", "x"]), err(errors::STRING_TOO_LONG));
    assert_eq!(h.run(&["get", "k"]), bulk("12345612"));
}

#[test]
fn getrange_and_substr() {
    let mut h = Harness::new();
    h.run(&["set", "s", "Hello World"]);
    let cases: &[(&str, &str, &str)] = &[
        ("0", "4", "Hello"),
        ("-3", "-1", "rld"),
        ("0", "-1", "Hello World"),
        ("10", "100", "d"),
        ("-1", "-5", ""),
        ("5", "3", ""),
        ("-100", "-50", "H"),
        ("-100", "2", "Hel"),
        ("100", "200", ""),
    ];
    for (start, end, want) in cases {
        assert_eq!(h.run(&["getrange", "s", start, end]), bulk(want), "{start} {end}");
        assert_eq!(h.run(&["substr", "s", start, end]), bulk(want), "{start} {end}");
    }
    assert_eq!(h.run(&["getrange", "nokey", "0", "1"]), bulk(""));
    assert_eq!(h.run(&["getrange", "nokey", "x", "1"]), err(errors::NOT_INTEGER));
    h.run(&["set", "n", "12345"]);
    assert_eq!(h.run(&["getrange", "n", "1", "2"]), bulk("23"));
    h.run(&["set", "e", ""]);
    assert_eq!(h.run(&["getrange", "e", "0", "-1"]), bulk(""));
}

#[test]
fn setrange() {
    let mut h = Harness::new();
    h.run(&["set", "s", "Hello World"]);
    assert_eq!(h.run(&["setrange", "s", "6", "Redis"]), int(11));
    assert_eq!(h.run(&["get", "s"]), bulk("Hello Redis"));
    assert_eq!(encoding(&h, "s"), Some("raw"));
    assert_eq!(h.run(&["setrange", "s", "-1", "x"]), err(errors::OFFSET_RANGE));
    assert_eq!(h.run(&["setrange", "s", "x", "y"]), err(errors::NOT_INTEGER));
    assert_eq!(h.run(&["setrange", "s", "0", ""]), int(11));
    assert_eq!(h.run(&["setrange", "s", "13", "!"]), int(14));
    assert_eq!(h.run(&["get", "s"]), bulk("Hello Redis\0\0!"));
    assert_eq!(h.run(&["setrange", "new", "3", "ab"]), int(5));
    assert_eq!(h.run(&["get", "new"]), bulk("\0\0\0ab"));
    assert_eq!(encoding(&h, "new"), Some("raw"));
    assert_eq!(h.run(&["setrange", "none", "5", ""]), int(0));
    assert!(!exists(&mut h, "none"));
    let too_long = err(errors::STRING_TOO_LONG);
    assert_eq!(h.run(&["setrange", "s", "536870911", "ab"]), too_long);
    assert_eq!(h.run(&["setrange", "s", "9223372036854775807", "a"]), too_long);
    assert_eq!(h.run(&["setrange", "none", "536870911", "ab"]), too_long);
    // Empty patches never hit the limit.
    assert_eq!(h.run(&["setrange", "none", "536870912", ""]), int(0));
    // Integers become raw strings; the TTL stays.
    h.run(&["set", "n", "12", "EX", "5"]);
    assert_eq!(h.run(&["setrange", "n", "1", "x"]), int(2));
    assert_eq!(h.run(&["get", "n"]), bulk("1x"));
    assert_eq!(expire_at(&h, "n"), Some(START_MS + 5_000));
}

#[test]
fn incr_family() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["incr", "n"]), int(1));
    assert_eq!(encoding(&h, "n"), Some("int"));
    assert_eq!(h.run(&["incrby", "n", "9"]), int(10));
    assert_eq!(h.run(&["decr", "n"]), int(9));
    assert_eq!(h.run(&["decrby", "n", "-3"]), int(12));
    assert_eq!(h.run(&["get", "n"]), bulk("12"));
    assert_eq!(h.run(&["incrby", "n", "x"]), err(errors::NOT_INTEGER));
    assert_eq!(h.run(&["incrby", "nokey", "1.5"]), err(errors::NOT_INTEGER));
    assert!(!exists(&mut h, "nokey"));
    assert_eq!(h.run(&["decrby", "n", "-9223372036854775808"]), err("ERR decrement would overflow"));
    h.run(&["set", "n", "9223372036854775806"]);
    assert_eq!(h.run(&["incr", "n"]), int(i64::MAX));
    assert_eq!(h.run(&["incr", "n"]), err(errors::OVERFLOW));
    h.run(&["set", "n", "-9223372036854775807"]);
    assert_eq!(h.run(&["decr", "n"]), int(i64::MIN));
    assert_eq!(h.run(&["decr", "n"]), err(errors::OVERFLOW));
    assert_eq!(h.run(&["incrby", "n", "-1"]), err(errors::OVERFLOW));
    for bad in [" 1", "01", "abc", "1.0", "123456789012345678901", "+1", ""] {
        h.run(&["set", "b", bad]);
        assert_eq!(h.run(&["incr", "b"]), err(errors::NOT_INTEGER), "{bad:?}");
    }
    // A string holding an integer (e.g. after APPEND) still counts, and becomes an int.
    h.run(&["set", "r", "1"]);
    h.run(&["append", "r", "0"]);
    assert_eq!(encoding(&h, "r"), Some("raw"));
    assert_eq!(h.run(&["incr", "r"]), int(11));
    assert_eq!(encoding(&h, "r"), Some("int"));
    // INCR keeps the TTL.
    h.run(&["set", "t", "1", "PX", "100"]);
    assert_eq!(h.run(&["incr", "t"]), int(2));
    assert_eq!(expire_at(&h, "t"), Some(START_MS + 100));
    h.advance(100);
    assert_eq!(h.run(&["incr", "t"]), int(1));
    assert_eq!(expire_at(&h, "t"), Some(0));
}

#[test]
fn incrbyfloat() {
    let mut h = Harness::new();
    h.run(&["set", "f", "10.50"]);
    assert_eq!(h.run(&["incrbyfloat", "f", "0.1"]), bulk("10.6"));
    assert_eq!(h.run(&["incrbyfloat", "f", "-5"]), bulk("5.6"));
    // Long double artefacts show, exactly as in Redis.
    assert_eq!(h.run(&["incrbyfloat", "f", "2.0e2"]), bulk("205.60000000000000001"));
    assert_eq!(h.run(&["get", "f"]), bulk("205.60000000000000001"));
    h.run(&["set", "f", "5.0e3"]);
    assert_eq!(h.run(&["incrbyfloat", "f", "2.0e2"]), bulk("5200"));
    assert_eq!(encoding(&h, "f"), Some("embstr"), "the result is stored as text, never as an int");
    assert_eq!(h.run(&["incrbyfloat", "new", "3.0e3"]), bulk("3000"));
    assert_eq!(h.run(&["incrbyfloat", "a", "0.1"]), bulk("0.1"));
    assert_eq!(h.run(&["incrbyfloat", "a", "0.2"]), bulk("0.3"));
    h.run(&["set", "b", "1000"]);
    assert_eq!(h.run(&["incrbyfloat", "b", "0.1"]), bulk("1000.09999999999999998"));
    assert_eq!(h.run(&["incrbyfloat", "c", "-0.0"]), bulk("0"));
    assert_eq!(h.run(&["incrbyfloat", "c", "1e-20"]), bulk("0"));
    assert_eq!(h.run(&["incrbyfloat", "c", "0x1p3"]), bulk("8"));
    assert_eq!(h.run(&["incrbyfloat", "c", "+1.5"]), bulk("9.5"));

    let nan = err("ERR increment would produce NaN or Infinity");
    assert_eq!(h.run(&["incrbyfloat", "c", "inf"]), nan);
    assert_eq!(h.run(&["incrbyfloat", "c", "-infinity"]), nan);
    for bad in [" 1", "1 ", "abc", "nan", "1e5000", "1e-5000", "1e", ""] {
        assert_eq!(h.run(&["incrbyfloat", "c", bad]), err(errors::NOT_FLOAT), "{bad:?}");
    }
    h.run(&["set", "s", "abc"]);
    assert_eq!(h.run(&["incrbyfloat", "s", "1"]), err(errors::NOT_FLOAT));
    assert_eq!(h.run(&["incrbyfloat", "s", "abc"]), err(errors::NOT_FLOAT));
    // Huge but finite in long double precision (beyond f64's range).
    h.run(&["set", "h", "1e308"]);
    let Reply::Bulk(b) = h.run(&["incrbyfloat", "h", "1e308"]) else { panic!("bulk expected") };
    assert_eq!(b.len(), 309);
    assert!(b.starts_with(b"19999999999999999999337175931169129132112019969483113441559409598984346973767"));
    // TTL is kept.
    h.run(&["set", "t", "1", "EX", "10"]);
    assert_eq!(h.run(&["incrbyfloat", "t", "1.5"]), bulk("2.5"));
    assert_eq!(expire_at(&h, "t"), Some(START_MS + 10_000));
}

#[test]
fn lcs() {
    let mut h = Harness::new();
    h.run(&["mset", "a", "ohmytext", "b", "mynewtext"]);
    assert_eq!(h.run(&["lcs", "a", "b"]), bulk("mytext"));
    assert_eq!(h.run(&["lcs", "a", "b", "LEN"]), int(6));
    let range = |a: i64, b: i64, c: i64, d: i64, len: Option<i64>| {
        let mut v = vec![Reply::Array(vec![int(a), int(b)]), Reply::Array(vec![int(c), int(d)])];
        v.extend(len.map(int));
        Reply::Array(v)
    };
    let idx = |matches: Vec<Reply>, len: i64| {
        Reply::Map(vec![(bulk("matches"), Reply::Array(matches)), (bulk("len"), int(len))])
    };
    assert_eq!(h.run(&["lcs", "a", "b", "IDX"]), idx(vec![range(4, 7, 5, 8, None), range(2, 3, 0, 1, None)], 6));
    assert_eq!(h.run(&["lcs", "a", "b", "idx", "minmatchlen", "4"]), idx(vec![range(4, 7, 5, 8, None)], 6));
    assert_eq!(
        h.run(&["lcs", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
        idx(vec![range(4, 7, 5, 8, Some(4))], 6)
    );
    assert_eq!(
        h.run(&["lcs", "a", "b", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "-5"]),
        idx(vec![range(4, 7, 5, 8, Some(4)), range(2, 3, 0, 1, Some(2))], 6)
    );
    assert_eq!(h.run(&["lcs", "a", "nokey"]), bulk(""));
    assert_eq!(h.run(&["lcs", "x", "y", "IDX"]), idx(vec![], 0));
    assert_eq!(
        h.run(&["lcs", "a", "b", "IDX", "LEN"]),
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
    assert_eq!(h.run(&["lcs", "a", "b", "MINMATCHLEN"]), err(errors::SYNTAX));
    assert_eq!(h.run(&["lcs", "a", "b", "MINMATCHLEN", "x"]), err(errors::NOT_INTEGER));
    assert_eq!(h.run(&["lcs", "a", "b", "foo"]), err(errors::SYNTAX));
    h.shared.hot.proto_max_bulk_len.store(16, Ordering::Relaxed);
    assert_eq!(
        h.run(&["lcs", "a", "b"]),
        err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    );
}

#[test]
fn setbit_getbit() {
    let mut h = Harness::new();
    let offset_err = err(errors::BIT_OFFSET);
    let bit_err = err(errors::BIT_VALUE);
    assert_eq!(h.run(&["setbit", "b", "-1", "1"]), offset_err);
    assert_eq!(h.run(&["setbit", "b", "4294967296", "1"]), offset_err);
    assert_eq!(h.run(&["setbit", "b", "x", "1"]), offset_err);
    assert_eq!(h.run(&["setbit", "b", "1", "2"]), bit_err);
    assert_eq!(h.run(&["setbit", "b", "1", "-1"]), bit_err);
    assert_eq!(h.run(&["setbit", "b", "1", "x"]), bit_err);
    assert_eq!(h.run(&["getbit", "b", "4294967296"]), offset_err);
    assert_eq!(h.run(&["getbit", "nokey", "x"]), offset_err);
    assert!(!exists(&mut h, "b"));
    assert_eq!(h.run(&["setbit", "b", "7", "1"]), int(0));
    assert_eq!(h.run(&["setbit", "b", "7", "1"]), int(1));
    assert_eq!(h.run(&["get", "b"]), bulk("\x01"));
    assert_eq!(encoding(&h, "b"), Some("raw"));
    assert_eq!(h.run(&["setbit", "b", "100", "1"]), int(0));
    assert_eq!(h.run(&["strlen", "b"]), int(13));
    assert_eq!(h.run(&["getbit", "b", "100"]), int(1));
    assert_eq!(h.run(&["getbit", "b", "99"]), int(0));
    assert_eq!(h.run(&["getbit", "b", "100000"]), int(0));
    assert_eq!(h.run(&["setbit", "b", "7", "0"]), int(1));
    assert_eq!(h.run(&["getbit", "b", "7"]), int(0));
    assert_eq!(h.run(&["getbit", "nokey", "1"]), int(0));
    // Integers are edited as their decimal text ("5" is 0x35).
    h.run(&["set", "n", "5"]);
    assert_eq!(h.run(&["getbit", "n", "2"]), int(1));
    assert_eq!(h.run(&["setbit", "n", "6", "1"]), int(0));
    assert_eq!(h.run(&["get", "n"]), bulk("7"));
    assert_eq!(encoding(&h, "n"), Some("raw"));
    // The limit follows proto-max-bulk-len.
    h.shared.hot.proto_max_bulk_len.store(2, Ordering::Relaxed);
    assert_eq!(h.run(&["setbit", "c", "15", "1"]), int(0));
    assert_eq!(h.run(&["setbit", "c", "16", "1"]), offset_err);
}

#[test]
fn bitcount() {
    let mut h = Harness::new();
    h.run(&["set", "s", "foobar"]);
    let cases: &[(&[&str], i64)] = &[
        (&[], 26),
        (&["0", "0"], 4),
        (&["1", "1"], 6),
        (&["1", "1", "BYTE"], 6),
        (&["5", "30", "BIT"], 17),
        (&["0", "-1", "bit"], 26),
        (&["-5", "-1", "bit"], 2),
        (&["-1", "-5"], 0),
        (&["3", "1"], 0),
        (&["0", "100"], 26),
        (&["-100", "-1"], 26),
    ];
    for (range, want) in cases {
        let mut args = vec!["bitcount", "s"];
        args.extend_from_slice(range);
        assert_eq!(h.run(&args), int(*want), "{range:?}");
    }
    assert_eq!(h.run(&["bitcount", "s", "1"]), err(errors::SYNTAX));
    assert_eq!(h.run(&["bitcount", "s", "a", "b"]), err(errors::NOT_INTEGER));
    assert_eq!(h.run(&["bitcount", "s", "0", "1", "bad"]), err(errors::SYNTAX));
    assert_eq!(h.run(&["bitcount", "s", "0", "1", "bit", "x"]), err(errors::SYNTAX));
    // A missing key is 0 before the arguments are looked at.
    assert_eq!(h.run(&["bitcount", "nokey", "a", "b"]), int(0));
    h.run(&["set", "e", ""]);
    assert_eq!(h.run(&["bitcount", "e"]), int(0));
    assert_eq!(h.run(&["bitcount", "e", "0", "-1", "bit"]), int(0));
    h.run_bytes(&[b"set", b"x", b"\xff\xf0\x00"]);
    assert_eq!(h.run(&["bitcount", "x", "3", "12", "bit"]), int(9));
    assert_eq!(h.run(&["bitcount", "x", "4", "11", "bit"]), int(8));
    assert_eq!(h.run(&["bitcount", "x", "5", "5", "bit"]), int(1));
    assert_eq!(h.run(&["bitcount", "x", "12", "12", "bit"]), int(0));
}

#[test]
fn bitpos() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["bitpos", "nokey", "1", "a"]), int(-1));
    assert_eq!(h.run(&["bitpos", "nokey", "0"]), int(0));
    assert_eq!(h.run(&["bitpos", "nokey", "2"]), err("ERR The bit argument must be 1 or 0."));
    assert_eq!(h.run(&["bitpos", "nokey", "x"]), err(errors::NOT_INTEGER));
    h.run_bytes(&[b"set", b"s", b"\xff\xf0\x00"]);
    let cases: &[(&[&str], i64)] = &[
        (&["0"], 12),
        (&["1"], 0),
        (&["0", "1"], 12),
        (&["0", "0", "0"], -1),
        (&["0", "0", "1"], 12),
        (&["1", "2"], -1),
        (&["0", "3", "11", "bit"], -1),
        (&["0", "3", "-13", "bit"], -1),
        (&["1", "9", "-2", "bit"], 9),
        (&["1", "7", "15", "BIT"], 7),
        (&["0", "8", "15", "bit"], 12),
        (&["0", "-1", "-1"], 16),
        (&["1", "-1"], -1),
        (&["1", "100"], -1),
    ];
    for (rest, want) in cases {
        let mut args = vec!["bitpos", "s"];
        args.extend_from_slice(rest);
        assert_eq!(h.run(&args), int(*want), "{rest:?}");
    }
    h.run_bytes(&[b"set", b"f", b"\xff\xff\xff"]);
    assert_eq!(h.run(&["bitpos", "f", "0"]), int(24), "no explicit end: zero padded");
    assert_eq!(h.run(&["bitpos", "f", "0", "1"]), int(24));
    assert_eq!(h.run(&["bitpos", "f", "0", "1", "2"]), int(-1));
    assert_eq!(h.run(&["bitpos", "f", "0", "3", "23", "bit"]), int(-1));
    h.run_bytes(&[b"set", b"z", b"\x00\x00\x00\x00"]);
    assert_eq!(h.run(&["bitpos", "z", "1"]), int(-1));
    assert_eq!(h.run(&["bitpos", "z", "0", "2"]), int(16));
    h.run(&["set", "e", ""]);
    assert_eq!(h.run(&["bitpos", "e", "0"]), int(-1));
    assert_eq!(h.run(&["bitpos", "e", "1"]), int(-1));
    assert_eq!(h.run(&["bitpos", "s", "1", "0", "x"]), err(errors::NOT_INTEGER));
    assert_eq!(h.run(&["bitpos", "s", "1", "x"]), err(errors::NOT_INTEGER));
    assert_eq!(h.run(&["bitpos", "s", "1", "0", "1", "bad"]), err(errors::SYNTAX));
    assert_eq!(h.run(&["bitpos", "s", "1", "0", "-1", "bit", "x"]), err(errors::SYNTAX));
    // A long run of skipped bytes, then the bit.
    let mut long = vec![0u8; 1000];
    long[999] = 0x10;
    h.run_bytes(&[b"set", b"l", &long]);
    assert_eq!(h.run(&["bitpos", "l", "1"]), int(999 * 8 + 3));
    assert_eq!(h.run(&["bitpos", "l", "1", "10", "-1", "bit"]), int(999 * 8 + 3));
}

#[test]
fn encodings_follow_redis() {
    let mut h = Harness::new();
    h.run(&["set", "i", "12345"]);
    h.run(&["set", "e", &"a".repeat(44)]);
    h.run(&["set", "r", &"a".repeat(45)]);
    assert_eq!(encoding(&h, "i"), Some("int"));
    assert_eq!(encoding(&h, "e"), Some("embstr"));
    assert_eq!(encoding(&h, "r"), Some("raw"));
    h.run(&["append", "e", ""]);
    assert_eq!(encoding(&h, "e"), Some("raw"));
}

#[test]
fn command_table_entries() {
    use crate::commands::lookup;
    let arities = [
        ("get", 2),
        ("set", -3),
        ("setnx", 3),
        ("setex", 4),
        ("psetex", 4),
        ("getset", 3),
        ("getdel", 2),
        ("getex", -2),
        ("mget", -2),
        ("mset", -3),
        ("msetnx", -3),
        ("append", 3),
        ("strlen", 2),
        ("getrange", 4),
        ("substr", 4),
        ("setrange", 4),
        ("incr", 2),
        ("decr", 2),
        ("incrby", 3),
        ("decrby", 3),
        ("incrbyfloat", 3),
        ("lcs", -3),
        ("setbit", 4),
        ("getbit", 3),
        ("bitcount", -2),
        ("bitpos", -3),
    ];
    for (name, arity) in arities {
        let spec = lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(spec.arity, arity, "{name}");
        assert!(!spec.summary.is_empty() && !spec.syntax.is_empty(), "{name} undocumented");
    }
    let mset = lookup(b"mset").unwrap();
    assert_eq!(mset.key_positions(7).collect::<Vec<_>>(), vec![1, 3, 5]);
    assert_eq!(lookup(b"lcs").unwrap().key_positions(5).collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn plain_set_over_a_stale_key_counts_it_expired() {
    // Redis's SET looks the key up for writing first, which expires a stale key (and counts it)
    // before the new value goes in without a TTL.
    let mut h = Harness::new();
    h.run(&["set", "k", "old", "px", "100"]);
    h.advance(200);
    assert_eq!(h.run(&["set", "k", "new"]), Reply::OK);
    assert_eq!(h.shared.store.stats.expired_keys.load(Ordering::Relaxed), 1);
    assert_eq!(expire_at(&h, "k"), Some(0));
    assert_eq!(h.run(&["get", "k"]), bulk("new"));
}
