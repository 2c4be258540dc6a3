use super::*;
use crate::persistence::fixtures::{dump_payloads, hex, other_type_payloads};
use crate::persistence::rdb::{RdbCollection, RdbStr, RdbString};

/// RESTORE's reading of `payload` under Redis 7.0's default encoding thresholds.
fn restore(payload: &[u8]) -> Result<RdbValue, PayloadError> {
    restore_payload(payload, &EncodingThresholds::REDIS_DEFAULTS)
}

/// A payload around `body` with a correct CRC, as Redis would build it for `version`.
fn payload(body: &[u8], version: u16) -> Vec<u8> {
    let mut payload = body.to_vec();
    payload.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    payload
}

/// Redis keeps a string that is a canonical integer of up to 20 chars as `OBJ_ENCODING_INT`.
fn as_stored_int(value: &[u8]) -> Option<i64> {
    let n: i64 = std::str::from_utf8(value).ok()?.parse().ok()?;
    (value.len() <= 20 && n.to_string().as_bytes() == value).then_some(n)
}

#[test]
fn our_payloads_are_redis_payloads_byte_for_byte() {
    for fixture in dump_payloads() {
        let ours = dump_payload(RdbStr::Bytes(&fixture.value), true);
        assert_eq!(ours.escape_ascii().to_string(), fixture.payload.escape_ascii().to_string(), "{}", fixture.name);
        if let Some(n) = as_stored_int(&fixture.value) {
            assert_eq!(dump_payload(RdbStr::Int(n), true), fixture.payload, "{} as an integer", fixture.name);
        }
    }
}

#[test]
fn restore_reads_redis_payloads() {
    for fixture in dump_payloads() {
        let value = restore(&fixture.payload).unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
        assert_eq!(string_bytes(value), fixture.value, "{}", fixture.name);
    }
    assert_eq!(restore(&hex("00c139300a009d94ea2793fc08b9")), Ok(RdbString::Int(12345).into()));
}

#[test]
fn without_compression_long_strings_stay_raw() {
    // Redis 7.0.15 with `rdbcompression no`: DUMP of 'a' * 100.
    let expected = [&[0x00, 0x40, 0x64][..], &[b'a'; 100], &hex("0a00afa7a1bf69717045")].concat();
    assert_eq!(dump_payload(RdbStr::Bytes(&[b'a'; 100]), false), expected);
}

fn string_bytes(value: RdbValue) -> Vec<u8> {
    match value {
        RdbValue::String(s) => s.into_bytes(),
        RdbValue::Collection(c) => panic!("a collection: {c:?}"),
    }
}

#[test]
fn collections_restore_and_dump_as_redis_does() {
    for (type_name, payload) in other_type_payloads() {
        let value = match restore(&payload) {
            Err(PayloadError::UnsupportedType(t)) => {
                assert_eq!((t.name(), type_name), ("stream", "stream"));
                continue;
            }
            Ok(RdbValue::Collection(c)) => c,
            other => panic!("{type_name}: {other:?}"),
        };
        let name = match &value {
            RdbCollection::List(l) => {
                assert_eq!(l.to_vec(), [b"a", b"b", b"c"]);
                "list"
            }
            RdbCollection::Hash(h) => {
                assert_eq!((h.len(), h.get(b"f").as_deref()), (1, Some(&b"v"[..])));
                "hash"
            }
            RdbCollection::Set(s) => {
                assert_eq!(s.len(), 2);
                assert!((s.contains(b"x") && s.contains(b"y")) || (s.contains(b"1") && s.contains(b"2")));
                "set"
            }
            RdbCollection::ZSet(z) => {
                assert_eq!((z.len(), z.score(b"m")), (1, Some(1.0)));
                "zset"
            }
        };
        assert_eq!(name, type_name);
        // Re-dumped: the same bytes, except for a hash-table set whose order is the table's.
        let again = dump_payload(RdbValue::Collection(value.clone()).as_value_ref(), true);
        if payload[0] != crate::persistence::rdb::rdb_type::SET {
            assert_eq!(hex_of(&again), hex_of(&payload), "{type_name}");
        }
        assert_eq!(restore(&again), Ok(RdbValue::Collection(value)));
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cases below were run against redis-server 7.0.15's RESTORE; the comments give its reply.
#[test]
fn checks_as_restore_does() {
    let hello = b"\x00\x05hello";
    // OK, for every version up to 10.
    for version in [0, 9, 10] {
        assert_eq!(restore(&payload(hello, version)), Ok(RdbString::Bytes(b"hello".to_vec()).into()));
    }
    // OK: Redis does not check that the value ends where the footer starts.
    assert_eq!(restore(&payload(b"\x00\x05helloXYZ", 10)), Ok(RdbString::Bytes(b"hello".to_vec()).into()));

    // ERR DUMP payload version or checksum are wrong
    assert_eq!(restore(&payload(hello, 11)), Err(PayloadError::VersionOrChecksum));
    let mut bad_crc = payload(hello, 10);
    *bad_crc.last_mut().unwrap() ^= 1;
    assert_eq!(restore(&bad_crc), Err(PayloadError::VersionOrChecksum));
    let mut flipped_value = payload(hello, 10);
    flipped_value[3] ^= 0x20;
    assert_eq!(restore(&flipped_value), Err(PayloadError::VersionOrChecksum));
    assert_eq!(restore(&[0u8; 9]), Err(PayloadError::VersionOrChecksum));
    assert_eq!(restore(b""), Err(PayloadError::VersionOrChecksum));

    // ERR Bad data format
    for body in [
        &b""[..],                 // no type
        b"\x08\x05hello",         // no such type
        b"\x14\x05hello",         // a Redis 7.2 type
        b"\x00\xc3\x02\x05\x00a", // LZF block shorter than declared
        b"\x00\xc4",              // no such string encoding
        b"\x00\x82",              // no such length encoding
    ] {
        assert_eq!(restore(&payload(body, 10)), Err(PayloadError::BadData), "{}", body.escape_ascii());
    }
    // Redis reads this string into its own footer and stores "hel\n\0"; we refuse it.
    assert_eq!(restore(&payload(b"\x00\x05hel", 10)), Err(PayloadError::BadData));
}

#[test]
fn round_trips_every_kind_of_string() {
    let values: [&[u8]; 6] = [b"", b"-0", b"2147483648", b"+1", &[0xff; 300], b"abcabcabcabcabcabcabcabcabc"];
    for value in values {
        for compress in [true, false] {
            let restored = restore(&dump_payload(RdbStr::Bytes(value), compress)).unwrap();
            assert_eq!(string_bytes(restored), value);
        }
    }
    for n in [0, -1, 127, 128, -32769, i64::from(i32::MAX) + 1, i64::MIN, i64::MAX] {
        let restored = restore(&dump_payload(RdbStr::Int(n), true)).unwrap();
        assert_eq!(string_bytes(restored), n.to_string().into_bytes());
    }
}

#[test]
fn mangled_collection_payloads_never_panic() {
    use crate::persistence::rdb::{RdbCollectionRef, RdbValueRef};
    use crate::store::types::{Hash, List, Set, ZSet};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let (mut list, mut big_list, mut ints, mut set) = (List::new(), List::new(), Set::new(), Set::new());
    let (mut hash, mut big_hash, mut zset, mut big_zset) = (Hash::new(), Hash::new(), ZSet::new(), ZSet::new());
    for i in 0..40 {
        list.push_back(i.to_string().as_bytes());
        big_list.push_back(&[b'a' + (i % 26) as u8; 700]);
        ints.insert((i * 1000).to_string().as_bytes());
        set.insert(format!("s{i}").as_bytes());
        hash.insert(format!("f{i}").as_bytes(), b"v");
        big_hash.insert(format!("f{i}").as_bytes(), &[b'v'; 80]);
        zset.insert(format!("m{i}").as_bytes(), f64::from(i) * 0.5);
        big_zset.insert(&[b'm' + (i % 3) as u8; 70][..(60 + i as usize).min(70)], f64::from(i));
    }
    let values = [
        RdbCollectionRef::List(&list),
        RdbCollectionRef::List(&big_list),
        RdbCollectionRef::Set(&ints),
        RdbCollectionRef::Set(&set),
        RdbCollectionRef::Hash(&hash),
        RdbCollectionRef::Hash(&big_hash),
        RdbCollectionRef::ZSet(&zset),
        RdbCollectionRef::ZSet(&big_zset),
    ];
    let mut rng = SmallRng::seed_from_u64(17);
    for value in values {
        let good = dump_payload(RdbValueRef::Collection(value), false);
        assert!(restore(&good).is_ok());
        let body_len = good.len() - 10;
        for _ in 0..400 {
            let mut body = good[..body_len].to_vec();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..body.len());
                body[at] = rng.gen();
            }
            if rng.gen_range(0..4) == 0 {
                body.truncate(rng.gen_range(1..body.len()));
            }
            // Whatever it gives, it returns.
            let _ = restore(&payload(&body, 10));
        }
    }
}

/// DUMPs by redis-server 7.0.15: `ZADD zz 0.1 a 2 b -3.5 c inf d` (a listpack, LZF-compressed),
/// `SADD is2 5 -70000 3` (a 32-bit intset), `HSET h2 name ferro n 12` (a listpack).
const ZSET_LZF: &str = "11c32c3516350000000800816302842d332e350581610293302e3130e005000f3114816202020181640283696e6604ff0a009a8722f0eb134230";
const INTSET_32: &str = "0b14040000000300000090eefeff03000000050000000a00d45d0f1d79b7dde3";
const HASH_LP: &str = "1019190000000400846e616d650585666572726f06816e020c01ff0a00f08aaa832a6628c9";

#[test]
fn listpack_zsets_and_intsets_dump_as_redis_does() {
    let Ok(RdbValue::Collection(RdbCollection::ZSet(z))) = restore(&hex(ZSET_LZF)) else { panic!() };
    let all: Vec<(&[u8], f64)> = z.iter().collect();
    assert_eq!(all, [(&b"c"[..], -3.5), (b"a", 0.1), (b"b", 2.0), (b"d", f64::INFINITY)]);
    let value = RdbValue::Collection(RdbCollection::ZSet(z.clone()));
    assert_eq!(hex_of(&dump_payload(value.as_value_ref(), true)), ZSET_LZF);

    let Ok(RdbValue::Collection(RdbCollection::Set(s))) = restore(&hex(INTSET_32)) else { panic!() };
    assert!(s.len() == 3 && s.contains(b"-70000") && s.contains(b"3") && s.contains(b"5"));
    let value = RdbValue::Collection(RdbCollection::Set(s.clone()));
    assert_eq!(hex_of(&dump_payload(value.as_value_ref(), true)), INTSET_32);

    let Ok(RdbValue::Collection(RdbCollection::Hash(h))) = restore(&hex(HASH_LP)) else { panic!() };
    assert_eq!(
        (h.len(), h.get(b"name").as_deref(), h.get(b"n").as_deref()),
        (2, Some(&b"ferro"[..]), Some(&b"12"[..]))
    );
    let value = RdbValue::Collection(RdbCollection::Hash(h.clone()));
    let ours = dump_payload(value.as_value_ref(), true);
    // Same encoding and size; the field order is the table's.
    assert_eq!((ours[0], ours.len()), (hex(HASH_LP)[0], hex(HASH_LP).len()));
    assert_eq!(restore(&ours), Ok(value));
}
