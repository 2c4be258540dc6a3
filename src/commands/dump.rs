//! DUMP and RESTORE: a key's value as Redis's serialized payload, and a key made from one
//! (`dumpCommand` and `restoreCommand` of Redis 7.0's `cluster.c`).
//!
//! Payloads are byte for byte Redis 7.0's (see [`persistence::dump`](crate::persistence::dump)),
//! so values move between Redis and Ferrocache with DUMP / RESTORE in either direction. Only
//! strings exist here yet: RESTORE of a list, hash, set, sorted set, stream or module payload
//! is refused with an error that names the type, where Redis would create the key.

use super::args::{self, is};
use super::table::{CommandSpec, Flags};
use super::{errors, Ctx};
use crate::persistence::dump::{dump_payload, restore_payload, PayloadError};
use crate::persistence::rdb_file::{rdb_value, value_from_rdb};
use crate::store::{access_from_freq, access_from_idle};
use bytes::Bytes;
use ferrocache_protocol::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, dump)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("generic", "2.6.0", "Return a serialized version of the value stored at the specified key.", "key")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("restore", -4, restore)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, 1, 1)
        .doc(
            "generic",
            "2.6.0",
            "Create a key using the provided serialized value, previously obtained using DUMP.",
            "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
        )
        .acl(&["keyspace", "write", "slow", "dangerous"]),
];

/// `DUMP key`: the serialized value, or nil. A read lookup (`lookupKeyRead`): it updates the
/// key's access data and counts a keyspace hit or miss.
fn dump(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    // Payloads follow `rdbcompression`, as in Redis.
    let compress = ctx.shared.config.read().rdbcompression;
    match ctx.ks.get(db, &args[1]) {
        Some(entry) => Reply::Bulk(dump_payload(rdb_value(&entry.value), compress).into()),
        None => Reply::Null,
    }
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`.
///
/// Checks in `restoreCommand`'s order, because that order decides which error a client sees:
/// the options left to right (IDLETIME and FREQ exclude each other), then BUSYKEY unless
/// REPLACE, then the TTL, then the payload. A TTL already past replies OK without creating the
/// key, and deletes the key REPLACE would have replaced.
pub(super) fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "absttl") {
            absttl = true;
        } else if is(&args[j], "idletime") && more && freq.is_none() {
            match args::int(&args[j + 1]) {
                Ok(n) if n >= 0 => idle = Some(n),
                Ok(_) => return Reply::err(errors::INVALID_IDLETIME),
                Err(e) => return e,
            }
            j += 1;
        } else if is(&args[j], "freq") && more && idle.is_none() {
            match args::int(&args[j + 1]) {
                Ok(n) if (0..=255).contains(&n) => freq = Some(n),
                Ok(_) => return Reply::err(errors::INVALID_FREQ),
                Err(e) => return e,
            }
            j += 1;
        } else {
            return Reply::err(errors::SYNTAX);
        }
        j += 1;
    }

    let db = ctx.db();
    let key = &args[1];
    // A write lookup: an expired key is deleted here and does not count as existing.
    let existed = ctx.ks.get_for_write(db, key).is_some();
    if existed && !replace {
        return Reply::err(errors::BUSYKEY);
    }
    let ttl = match args::int(&args[2]) {
        Ok(n) if n >= 0 => n,
        Ok(_) => return Reply::err(errors::INVALID_TTL),
        Err(e) => return e,
    };
    let value = match restore_payload(&args[3], &ctx.shared.hot.encoding.thresholds()) {
        Ok(value) => value,
        Err(PayloadError::VersionOrChecksum) => return Reply::err(errors::DUMP_PAYLOAD),
        Err(PayloadError::BadData) => return Reply::err(errors::BAD_DATA_FORMAT),
        // Redis would create the key; saying which type we cannot hold beats "Bad data format".
        Err(e @ PayloadError::UnsupportedType(_)) => return Reply::error(format!("ERR {e}")),
    };

    let now = ctx.now() as i64;
    // Redis's `ttl += mstime()` wraps on overflow, so a huge relative TTL is "already past".
    let expire_at = if ttl != 0 && !absttl { ttl.wrapping_add(now) } else { ttl };
    if expire_at != 0 && expire_at <= now {
        if existed {
            ctx.ks.remove(db, key);
            ctx.propagate_one(&[b"DEL", key]);
        }
        return Reply::OK;
    }
    // A relative TTL replays as the absolute time it meant: Redis 7.0 rewrites the TTL
    // argument and appends ABSTTL.
    if ttl != 0 && !absttl && ctx.propagating() {
        let mut rewritten: Vec<Bytes> = args.to_vec();
        rewritten[2] = Bytes::copy_from_slice(itoa::Buffer::new().format(expire_at).as_bytes());
        rewritten.push(Bytes::from_static(b"ABSTTL"));
        ctx.propagate_as(vec![rewritten]);
    }
    // Replaces an existing key (REPLACE) with its TTL: the new key has only the one given here.
    ctx.ks.insert(db, key, value_from_rdb(value), expire_at as u64);

    // `objectSetLRUOrLFU`: FREQ counts under an LFU policy, IDLETIME under any other (the LRU
    // clock is kept then); the other option is accepted and ignored.
    let store = ctx.ks.store();
    let access_now = store.coarse_now_ms();
    let access = if store.eviction_policy().is_lfu() {
        freq.map(|f| access_from_freq(f as u8, access_now))
    } else {
        idle.and_then(|secs| access_from_idle(secs as u64, access_now))
    };
    if let Some(access) = access {
        ctx.ks.set_access(db, key, access);
    }
    Reply::OK
}

#[cfg(test)]
mod tests {
    use super::super::testing::{bulk, err, Harness, START_MS};
    use super::*;
    use crate::persistence::crc64::crc64;
    use crate::persistence::fixtures::{dump_payloads, hex, other_type_payloads};
    use crate::store::EvictionPolicy;

    fn int(n: i64) -> Reply {
        Reply::Integer(n)
    }

    fn ok() -> Reply {
        Reply::OK
    }

    /// `"hello"` as Redis 7.0.15 DUMPs it.
    const HELLO: &str = "000568656c6c6f0a006372df766534200a";

    /// A payload around `body` with version 10 and a correct CRC.
    fn payload(body: &[u8]) -> Vec<u8> {
        let mut p = body.to_vec();
        p.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    /// RESTORE with a binary payload; `before` and `after` are the arguments around it.
    fn restore(h: &mut Harness, before: &[&str], payload: &[u8], after: &[&str]) -> Reply {
        let mut args: Vec<&[u8]> = vec![b"restore"];
        args.extend(before.iter().map(|a| a.as_bytes()));
        args.push(payload);
        args.extend(after.iter().map(|a| a.as_bytes()));
        h.run_bytes(&args)
    }

    fn dump_bytes(h: &mut Harness, key: &[u8]) -> Option<Vec<u8>> {
        match h.run_bytes(&[b"dump", key]) {
            Reply::Null => None,
            r => Some(r.bulk_bytes().unwrap_or_else(|| panic!("DUMP replied {r:?}")).to_vec()),
        }
    }

    #[test]
    fn dump_of_every_fixture_is_redis_byte_for_byte() {
        let mut h = Harness::new();
        for f in dump_payloads() {
            h.run_bytes(&[b"set", f.name.as_bytes(), &f.value]);
            let ours = dump_bytes(&mut h, f.name.as_bytes()).expect("the key was just set");
            assert_eq!(ours.escape_ascii().to_string(), f.payload.escape_ascii().to_string(), "{}", f.name);
        }
    }

    /// Strings edited in place are raw in both servers, and still dump integers as integers.
    /// Expected bytes: redis-server 7.0.15's DUMP after the same commands.
    #[test]
    fn dump_of_edited_strings_is_redis_byte_for_byte() {
        let mut h = Harness::new();
        h.run(&["set", "raw", "123"]);
        h.run(&["append", "raw", ""]);
        h.run(&["set", "appended", "12345"]);
        h.run(&["append", "appended", "6"]);
        h.run(&["setrange", "ranged", "0", "abc"]);
        h.run(&["set", "neg", "-42"]);
        h.run(&["set", "raw45", &"x".repeat(45)]);
        for (key, expected) in [
            ("raw", "00c07b0a0048e253e1007a67b9"),
            ("appended", "00c240e201000a00432647f443197283"),
            ("ranged", "00036162630a00d9ac303d4172a2e2"),
            ("neg", "00c0d60a00bcf2d2acd2eebeaa"),
            ("raw45", "00c3092d017878e020000178780a000d31e59dae771ef7"),
        ] {
            assert_eq!(h.run(&["object", "encoding", key]), bulk(if key == "neg" { "int" } else { "raw" }), "{key}");
            assert_eq!(dump_bytes(&mut h, key.as_bytes()), Some(hex(expected)), "{key}");
        }
    }

    #[test]
    fn restore_of_every_fixture_gives_the_value_and_dumps_back_the_same_bytes() {
        let mut h = Harness::new();
        for f in dump_payloads() {
            let key = f.name;
            assert_eq!(restore(&mut h, &[key, "0"], &f.payload, &[]), ok(), "{key}");
            assert_eq!(h.run(&["get", key]).bulk_bytes(), Some(&f.value[..]), "{key}");
            assert_eq!(h.run(&["pttl", key]), int(-1), "{key}");
            assert_eq!(dump_bytes(&mut h, key.as_bytes()), Some(f.payload), "{key}");
        }
        // Encodings as Redis 7.0.15 reports them after RESTORE (`tryObjectEncoding`).
        assert_eq!(h.run(&["object", "encoding", "int_12345"]), bulk("int"));
        assert_eq!(h.run(&["object", "encoding", "int_2pow40"]), bulk("int"));
        assert_eq!(h.run(&["object", "encoding", "a21_lzf"]), bulk("embstr"));
        assert_eq!(h.run(&["object", "encoding", "a100_lzf"]), bulk("raw"));
    }

    #[test]
    fn round_trip_of_values_set_here() {
        let mut h = Harness::new();
        let values: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"0".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"007".to_vec(),
            b"\x00\xff\r\n".to_vec(),
            b"abc".repeat(1000),
            (0..=255u8).cycle().take(5000).collect(),
        ];
        for (i, v) in values.iter().enumerate() {
            let (src, dst) = (format!("src{i}"), format!("dst{i}"));
            h.run_bytes(&[b"set", src.as_bytes(), v]);
            let payload = dump_bytes(&mut h, src.as_bytes()).expect("set above");
            assert_eq!(restore(&mut h, &[&dst, "0"], &payload, &[]), ok());
            assert_eq!(h.run(&["get", &dst]).bulk_bytes(), Some(&v[..]));
            assert_eq!(dump_bytes(&mut h, dst.as_bytes()), Some(payload));
        }
    }

    #[test]
    fn payloads_follow_rdbcompression() {
        let mut h = Harness::new();
        let value = b"abc".repeat(1000);
        h.run_bytes(&[b"set", b"k", &value]);
        let compressed = dump_bytes(&mut h, b"k").expect("set above");
        assert!(compressed.len() < 200, "{} bytes", compressed.len());
        assert_eq!(h.run(&["config", "set", "rdbcompression", "no"]), ok());
        let plain = dump_bytes(&mut h, b"k").expect("set above");
        // Type byte, 2-byte length, the value, version and CRC-64.
        assert_eq!(plain.len(), 1 + 2 + value.len() + 2 + 8);
        assert_eq!(restore(&mut h, &["copy", "0"], &plain, &[]), ok());
        assert_eq!(h.run(&["get", "copy"]).bulk_bytes(), Some(&value[..]));
    }

    #[test]
    fn dump_of_a_missing_or_expired_key_is_nil() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["dump", "nokey"]), Reply::Null);
        h.run(&["set", "k", "v"]);
        h.run(&["pexpire", "k", "10"]);
        h.advance(10);
        assert_eq!(h.run(&["dump", "k"]), Reply::Null);
        assert_eq!(h.run(&["dump"]), err("ERR wrong number of arguments for 'dump' command"));
        assert_eq!(h.run(&["dump", "a", "b"]), err("ERR wrong number of arguments for 'dump' command"));
    }

    #[test]
    fn dump_is_a_read_access() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        h.advance(5_000);
        assert_eq!(h.run(&["object", "idletime", "k"]), int(5));
        dump_bytes(&mut h, b"k");
        assert_eq!(h.run(&["object", "idletime", "k"]), int(0));
    }

    /// Every case was run against redis-server 7.0.15; the expected replies are its own.
    #[test]
    fn option_errors_come_first_left_to_right() {
        let mut h = Harness::new();
        let p = hex(HELLO);
        h.run(&["set", "s", "taken"]);
        let syntax = err("ERR syntax error");
        let not_int = err("ERR value is not an integer or out of range");
        let bad_idle = err("ERR Invalid IDLETIME value, must be >= 0");
        let bad_freq = err("ERR Invalid FREQ value, must be >= 0 and <= 255");
        // Before BUSYKEY, before the TTL, before the payload.
        assert_eq!(restore(&mut h, &["s", "0"], &p, &["FOO"]), syntax);
        assert_eq!(restore(&mut h, &["s", "abc"], &p, &["FOO"]), syntax);
        assert_eq!(restore(&mut h, &["s", "0"], b"garbage", &["FOO"]), syntax);
        assert_eq!(restore(&mut h, &["s", "0"], &p, &["IDLETIME", "-1"]), bad_idle);
        for (after, expected) in [
            (&["IDLETIME"][..], &syntax),
            (&["FREQ"], &syntax),
            (&["IDLETIME", "1", "FREQ", "1"], &syntax),
            (&["FREQ", "1", "IDLETIME", "1"], &syntax),
            (&["IDLETIME", "abc"], &not_int),
            (&["idletime", "1.5"], &not_int),
            (&["IDLETIME", "99999999999999999999"], &not_int),
            (&["IDLETIME", "-1"], &bad_idle),
            (&["FREQ", "256"], &bad_freq),
            (&["FREQ", "-1"], &bad_freq),
            (&["FREQ", "x"], &not_int),
            (&["IDLETIME", "-1", "FOO"], &bad_idle),
            (&["FOO", "IDLETIME", "-1"], &syntax),
            (&["REPLACE", "ABSTTL", "BOGUS"], &syntax),
        ] {
            assert_eq!(&restore(&mut h, &["new", "0"], &p, after), expected, "{after:?}");
        }
        assert_eq!(h.run(&["exists", "new"]), int(0));
        assert_eq!(h.run(&["restore", "k", "0"]), err("ERR wrong number of arguments for 'restore' command"));
    }

    #[test]
    fn busykey_comes_before_the_ttl_and_the_payload() {
        let mut h = Harness::new();
        let p = hex(HELLO);
        h.run(&["set", "s", "taken"]);
        let busy = err("BUSYKEY Target key name already exists.");
        for (ttl, payload) in [("0", &p[..]), ("abc", &p), ("-1", &p), ("abc", b"garbage"), ("0", b"")] {
            assert_eq!(restore(&mut h, &["s", ttl], payload, &[]), busy, "{ttl}");
        }
        // Repeated IDLETIME is fine; the key exists.
        assert_eq!(restore(&mut h, &["s", "0"], &p, &["IDLETIME", "1", "IDLETIME", "2"]), busy);
        assert_eq!(h.run(&["get", "s"]), bulk("taken"));
        // An expired key is not in the way.
        h.run(&["pexpire", "s", "5"]);
        h.advance(5);
        assert_eq!(restore(&mut h, &["s", "0"], &p, &[]), ok());
        assert_eq!(h.run(&["get", "s"]), bulk("hello"));
    }

    #[test]
    fn ttl_errors_come_before_the_payload() {
        let mut h = Harness::new();
        let p = hex(HELLO);
        let not_int = err("ERR value is not an integer or out of range");
        let bad_ttl = err("ERR Invalid TTL value, must be >= 0");
        assert_eq!(restore(&mut h, &["n", "abc"], &p, &[]), not_int);
        assert_eq!(restore(&mut h, &["n", "+5"], &p, &[]), not_int);
        assert_eq!(restore(&mut h, &["n", " 5"], &p, &[]), not_int);
        assert_eq!(restore(&mut h, &["n", "-1"], &p, &[]), bad_ttl);
        assert_eq!(restore(&mut h, &["n", "abc"], b"garbage", &[]), not_int);
        assert_eq!(restore(&mut h, &["n", "-1"], b"garbage", &[]), bad_ttl);
        assert_eq!(h.run(&["exists", "n"]), int(0));
    }

    #[test]
    fn payload_errors() {
        let mut h = Harness::new();
        let wrong = err("ERR DUMP payload version or checksum are wrong");
        let bad = err("ERR Bad data format");
        assert_eq!(restore(&mut h, &["n", "0"], b"garbage", &[]), wrong);
        assert_eq!(restore(&mut h, &["n", "0"], b"", &[]), wrong);
        // Past TTLs do not skip the check.
        assert_eq!(restore(&mut h, &["n", "1"], b"garbage", &["ABSTTL"]), wrong);
        let mut flipped = hex(HELLO);
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(restore(&mut h, &["n", "0"], &flipped, &[]), wrong);
        // A zero CRC is not "no checksum" to Redis 7.0.
        let mut zero_crc = hex(HELLO);
        let len = zero_crc.len();
        zero_crc[len - 8..].fill(0);
        assert_eq!(restore(&mut h, &["n", "0"], &zero_crc, &[]), wrong);
        let mut v11 = hex(HELLO);
        v11[len - 10] = 11;
        assert_eq!(restore(&mut h, &["n", "0"], &v11, &[]), wrong);
        for body in [&b""[..], b"\x08\x05hello", b"\x00\xc4", b"\x00\x05hel"] {
            assert_eq!(restore(&mut h, &["n", "0"], &payload(body), &[]), bad, "{}", body.escape_ascii());
        }
        assert_eq!(h.run(&["exists", "n"]), int(0));
        // REPLACE does not delete the key when the payload is refused.
        h.run(&["set", "s", "kept"]);
        assert_eq!(restore(&mut h, &["s", "0"], b"garbage", &["REPLACE"]), wrong);
        assert_eq!(restore(&mut h, &["s", "0"], &payload(b"\x00\xc4"), &["REPLACE"]), bad);
        assert_eq!(h.run(&["get", "s"]), bulk("kept"));
        // The constants say what PayloadError says, with Redis's prefix.
        assert_eq!(errors::DUMP_PAYLOAD, format!("ERR {}", PayloadError::VersionOrChecksum));
        assert_eq!(errors::BAD_DATA_FORMAT, format!("ERR {}", PayloadError::BadData));
    }

    #[test]
    fn collections_restore_and_dump_back_while_streams_are_refused_by_name() {
        let mut h = Harness::new();
        h.run(&["set", "s", "kept"]);
        for (i, (type_name, payload)) in other_type_payloads().into_iter().enumerate() {
            let key = format!("k{i}");
            if type_name == "stream" {
                let expected = err("ERR DUMP payload holds a stream, a type Ferrocache does not support");
                assert_eq!(restore(&mut h, &[&key, "0"], &payload, &[]), expected);
                assert_eq!(restore(&mut h, &["s", "0"], &payload, &["REPLACE"]), expected);
                assert_eq!(h.run(&["exists", &key]), int(0));
                continue;
            }
            assert_eq!(restore(&mut h, &[&key, "0"], &payload, &[]), ok(), "{type_name}");
            assert_eq!(h.run(&["type", &key]), Reply::Simple(type_name.to_string().into()));
            let again = dump_bytes(&mut h, key.as_bytes()).unwrap();
            // A two-member hash-table set comes back in the table's order, maybe not Redis's.
            if payload[0] != crate::persistence::rdb::rdb_type::SET {
                assert_eq!(again, payload, "{type_name}");
            }
            assert_eq!(restore(&mut h, &["copy", "0"], &again, &["REPLACE"]), ok());
        }
        assert_eq!(h.run(&["get", "s"]), bulk("kept"));
        // An empty collection, well formed otherwise: Redis's "Bad data format".
        for body in [&b"\x01\x00"[..], b"\x02\x00", b"\x12\x00", b"\x10\x07\x07\x00\x00\x00\x00\x00\xff"] {
            assert_eq!(restore(&mut h, &["e", "0"], &payload(body), &[]), err("ERR Bad data format"));
        }
        // A duplicate set member.
        assert_eq!(restore(&mut h, &["e", "0"], &payload(b"\x02\x02\x01x\x01x"), &[]), err("ERR Bad data format"));
        assert_eq!(h.run(&["exists", "e"]), int(0));
    }

    #[test]
    fn replace_overwrites_value_and_ttl() {
        let mut h = Harness::new();
        let p = hex(HELLO);
        h.run(&["set", "s", "old"]);
        h.run(&["expire", "s", "100"]);
        assert_eq!(restore(&mut h, &["s", "0"], &p, &["replace"]), ok());
        assert_eq!(h.run(&["get", "s"]), bulk("hello"));
        assert_eq!(h.run(&["ttl", "s"]), int(-1));
        assert_eq!(restore(&mut h, &["s", "5000"], &p, &["REPLACE", "REPLACE", "ABSTTL", "ABSTTL"]), ok());
        // ABSTTL 5000 is long past: the key is gone.
        assert_eq!(h.run(&["exists", "s"]), int(0));
        // REPLACE without a key to replace.
        assert_eq!(restore(&mut h, &["t", "0"], &p, &["REPLACE"]), ok());
        assert_eq!(h.run(&["get", "t"]), bulk("hello"));
    }

    #[test]
    fn relative_and_absolute_ttls() {
        let mut h = Harness::new();
        let p = hex(HELLO);
        let now = START_MS as i64;
        assert_eq!(restore(&mut h, &["rel", "5000"], &p, &[]), ok());
        assert_eq!(h.run(&["pttl", "rel"]), int(5000));
        let at = (now + 60_000).to_string();
        assert_eq!(restore(&mut h, &["abs", &at], &p, &["ABSTTL"]), ok());
        assert_eq!(h.run(&["pexpiretime", "abs"]), int(now + 60_000));
        assert_eq!(restore(&mut h, &["zero", "0"], &p, &["ABSTTL"]), ok());
        assert_eq!(h.run(&["pttl", "zero"]), int(-1));
        assert_eq!(restore(&mut h, &["max", "9223372036854775807"], &p, &["ABSTTL"]), ok());
        assert_eq!(h.run(&["pexpiretime", "max"]), int(i64::MAX));
        h.advance(5000);
        assert_eq!(h.run(&["exists", "rel"]), int(0));
        assert_eq!(h.run(&["exists", "abs"]), int(1));
    }

    #[test]
    fn a_ttl_already_past_creates_nothing_and_deletes_what_replace_would_replace() {
        let mut h = Harness::new();
        let p = hex(HELLO);
        let now = START_MS.to_string();
        assert_eq!(restore(&mut h, &["n", "1"], &p, &["ABSTTL"]), ok());
        assert_eq!(restore(&mut h, &["n", &now], &p, &["ABSTTL"]), ok());
        // Redis adds the relative TTL to the clock with a wrapping add: this one is "past".
        assert_eq!(restore(&mut h, &["n", "9223372036854775807"], &p, &[]), ok());
        assert_eq!(h.run(&["exists", "n"]), int(0));
        h.run(&["set", "s", "old"]);
        assert_eq!(restore(&mut h, &["s", "1"], &p, &["ABSTTL"]), err("BUSYKEY Target key name already exists."));
        assert_eq!(restore(&mut h, &["s", "1"], &p, &["ABSTTL", "REPLACE"]), ok());
        assert_eq!(h.run(&["exists", "s"]), int(0));
        h.run(&["set", "s", "old"]);
        assert_eq!(restore(&mut h, &["s", "9223372036854775807"], &p, &["REPLACE"]), ok());
        assert_eq!(h.run(&["exists", "s"]), int(0));
    }

    #[test]
    fn restore_notifies_watchers() {
        let mut h = Harness::new();
        let p = hex(HELLO);
        h.run(&["watch", "w"]);
        assert_eq!(restore(&mut h, &["w", "0"], &p, &[]), ok());
        h.run(&["multi"]);
        h.run(&["get", "w"]);
        assert_eq!(h.run(&["exec"]), Reply::NullArray);
    }

    #[test]
    fn idletime_sets_the_lru_clock_unless_the_policy_is_lfu() {
        let mut h = Harness::new();
        let p = hex(HELLO);
        assert_eq!(restore(&mut h, &["i", "0"], &p, &["IDLETIME", "1000"]), ok());
        assert_eq!(h.run(&["object", "idletime", "i"]), int(1000));
        assert_eq!(restore(&mut h, &["zero", "0"], &p, &["idletime", "0"]), ok());
        assert_eq!(h.run(&["object", "idletime", "zero"]), int(0));
        // Redis's arithmetic on absurd idle times (see `access_from_idle`).
        assert_eq!(restore(&mut h, &["huge", "0"], &p, &["IDLETIME", "9223372036854775807"]), ok());
        assert_eq!(h.run(&["object", "idletime", "huge"]), int(16_777_214));
        // With REPLACE the new key takes the given idle time.
        h.run(&["set", "r", "old"]);
        assert_eq!(restore(&mut h, &["r", "0"], &p, &["REPLACE", "IDLETIME", "77"]), ok());
        assert_eq!(h.run(&["object", "idletime", "r"]), int(77));
        h.advance(3_000);
        assert_eq!(h.run(&["object", "idletime", "r"]), int(80));
        // FREQ is accepted and ignored outside LFU: the key is fresh.
        assert_eq!(restore(&mut h, &["f", "0"], &p, &["FREQ", "100"]), ok());
        assert_eq!(h.run(&["object", "idletime", "f"]), int(0));

        h.shared.store.set_eviction_policy(EvictionPolicy::AllKeysLfu);
        assert_eq!(restore(&mut h, &["lfu", "0"], &p, &["FREQ", "100"]), ok());
        assert_eq!(h.run(&["object", "freq", "lfu"]), int(100));
        assert_eq!(restore(&mut h, &["lfu0", "0"], &p, &["FREQ", "0"]), ok());
        assert_eq!(h.run(&["object", "freq", "lfu0"]), int(0));
        assert_eq!(restore(&mut h, &["lfu255", "0"], &p, &["FREQ", "255"]), ok());
        assert_eq!(h.run(&["object", "freq", "lfu255"]), int(255));
        // IDLETIME under LFU is ignored: a new key's counter, LFU_INIT_VAL.
        assert_eq!(restore(&mut h, &["idle", "0"], &p, &["IDLETIME", "100"]), ok());
        assert_eq!(h.run(&["object", "freq", "idle"]), int(5));
        assert_eq!(restore(&mut h, &["plain", "0"], &p, &[]), ok());
        assert_eq!(h.run(&["object", "freq", "plain"]), int(5));
        // The counter decays from the time of the RESTORE (lfu-decay-time 1: a minute).
        h.advance(60_000);
        assert_eq!(h.run(&["object", "freq", "lfu"]), int(99));

        h.shared.store.set_eviction_policy(EvictionPolicy::VolatileLru);
        assert_eq!(restore(&mut h, &["vlru", "0"], &p, &["IDLETIME", "42"]), ok());
        assert_eq!(h.run(&["object", "idletime", "vlru"]), int(42));
    }

    /// As `COMMAND INFO dump restore` reports them on redis-server 7.0.15.
    #[test]
    fn specs_are_redis_7_0s() {
        let dump = crate::commands::lookup(b"dump").expect("registered");
        assert_eq!((dump.arity, dump.first_key, dump.last_key, dump.step), (2, 1, 1, 1));
        assert_eq!(dump.flags.names(), ["readonly"]);
        assert_eq!(dump.acl, ["keyspace", "read", "slow"]);
        let restore = crate::commands::lookup(b"RESTORE").expect("registered");
        assert_eq!((restore.arity, restore.first_key, restore.last_key, restore.step), (-4, 1, 1, 1));
        assert_eq!(restore.flags.names(), ["write", "denyoom"]);
        assert_eq!(restore.acl, ["keyspace", "write", "slow", "dangerous"]);
    }
}
