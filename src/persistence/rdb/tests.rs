use super::*;
use crate::persistence::crc64::crc64;
use crate::persistence::fixtures::splitmix_bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Files saved by redis-server 7.0.15 (see `testdata/generate.py` for what each holds).
const STRINGS_RDB: &[u8] = include_bytes!("../testdata/strings.rdb");
const LRU_RDB: &[u8] = include_bytes!("../testdata/lru.rdb");
const LFU_RDB: &[u8] = include_bytes!("../testdata/lfu.rdb");
const NO_CHECKSUM_RDB: &[u8] = include_bytes!("../testdata/nochecksum.rdb");
const FUNCTION_RDB: &[u8] = include_bytes!("../testdata/function.rdb");
const LIST_RDB: &[u8] = include_bytes!("../testdata/list.rdb");

/// Far-future expiry times the fixtures were saved with (2100 and 2101).
const FAR_FUTURE_MS: i64 = 4_102_444_800_123;
const FAR_FUTURE_S: i64 = 4_133_980_800;

fn read_all(file: &[u8]) -> Result<Vec<RdbRecord>, RdbError> {
    RdbReader::new(file)?.collect()
}

fn entries(records: &[RdbRecord]) -> Vec<RdbEntry> {
    records
        .iter()
        .filter_map(|r| match r {
            RdbRecord::Entry(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn aux<'r>(records: &'r [RdbRecord], wanted: &str) -> &'r [u8] {
    records
        .iter()
        .find_map(|r| match r {
            RdbRecord::Aux { name, value } if name == wanted.as_bytes() => Some(value.as_slice()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no aux field {wanted}"))
}

fn entry(db: u32, key: &[u8], value: RdbString) -> RdbEntry {
    RdbEntry { db, key: key.to_vec(), value: value.into(), expire_at_ms: None, lru_idle_secs: None, lfu_freq: None }
}

fn bytes(value: &[u8]) -> RdbString {
    RdbString::Bytes(value.to_vec())
}

/// A version-10 file around `body` (what follows the signature, up to EOF), with its checksum.
fn file_with_body(body: &[u8]) -> Vec<u8> {
    let mut file = [b"REDIS0010", body, &[opcode::EOF]].concat();
    let crc = crc64(&file);
    file.extend_from_slice(&crc.to_le_bytes());
    file
}

fn encoded_len(len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_len(&mut out, len).unwrap();
    out
}

#[test]
fn lengths_use_the_smallest_of_the_four_forms() {
    let cases: [(u64, &[u8]); 8] = [
        (0, &[0x00]),
        (63, &[0x3f]),
        (64, &[0x40, 0x40]),
        (16383, &[0x7f, 0xff]),
        (16384, &[0x80, 0x00, 0x00, 0x40, 0x00]),
        (u64::from(u32::MAX), &[0x80, 0xff, 0xff, 0xff, 0xff]),
        (1 << 32, &[0x81, 0, 0, 0, 1, 0, 0, 0, 0]),
        (u64::MAX, &[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ];
    for (len, expected) in cases {
        assert_eq!(encoded_len(len), expected, "{len}");
        assert_eq!(read_len(&mut &expected[..]).unwrap(), Length::Len(len));
    }
    assert_eq!(read_len(&mut &[0xc3][..]).unwrap(), Length::Encoded(3));
    assert!(matches!(read_len(&mut &[0x82][..]), Err(RdbError::Corrupt(_))));
    assert!(matches!(read_len(&mut &[0x40][..]), Err(RdbError::Truncated)));
}

#[test]
fn strings_choose_integer_lzf_or_raw_as_redis_does() {
    let written = |value: &[u8], compress: bool| {
        let mut out = Vec::new();
        write_string(&mut out, value, compress).unwrap();
        out
    };
    assert_eq!(written(b"12345", true), [0xc1, 0x39, 0x30]);
    assert_eq!(written(b"-2147483648", true), [0xc2, 0x00, 0x00, 0x00, 0x80]);
    assert_eq!(written(b"2147483648", true), b"\x0a2147483648");
    assert_eq!(written(b"007", true), b"\x03007");
    assert_eq!(written(&[b'a'; 21], true), [0xc3, 0x06, 0x15, 0x01, 0x61, 0x61, 0xe0, 0x0a, 0x00]);
    assert_eq!(written(&[b'a'; 21], false), [&[21u8][..], &[b'a'; 21]].concat());

    let mut out = Vec::new();
    write_int(&mut out, 1 << 40).unwrap();
    assert_eq!(out, b"\x0d1099511627776");
    assert_eq!(read_string(&mut &out[..]).unwrap(), bytes(b"1099511627776"));
    assert_eq!(read_string(&mut &[0xc0, 0xff][..]).unwrap(), RdbString::Int(-1));
}

#[test]
fn reads_a_redis_dump() {
    let records = read_all(STRINGS_RDB).unwrap();
    assert_eq!(aux(&records, "redis-ver"), b"7.0.15");
    assert_eq!(aux(&records, "redis-bits"), b"64");
    assert_eq!(aux(&records, "aof-base"), b"0");
    let resizes: Vec<_> = records.iter().filter(|r| matches!(r, RdbRecord::ResizeDb { .. })).collect();
    assert_eq!(
        resizes,
        [&RdbRecord::ResizeDb { db: 0, keys: 11, expires: 1 }, &RdbRecord::ResizeDb { db: 3, keys: 2, expires: 1 }]
    );

    let mut got = entries(&records);
    got.sort_by(|a, b| (a.db, &a.key).cmp(&(b.db, &b.key)));
    let mut expected = vec![
        entry(0, b"short", bytes(b"hello")),
        entry(0, b"int", RdbString::Int(12345)),
        entry(0, b"neg", RdbString::Int(-1)),
        entry(0, b"big", bytes(b"1099511627776")),
        entry(0, b"empty", bytes(b"")),
        entry(0, b"a100", bytes(&[b'a'; 100])),
        entry(0, b"random_1000", bytes(&splitmix_bytes(3, 1000))),
        entry(0, b"incompressible_25", bytes(b"abcdefghijklmnopqrstuvwxy")),
        entry(0, b"12345", bytes(b"key that is an integer")),
        entry(0, b"bin\x00\xff", bytes(b"\x00\x01\x02")),
        RdbEntry { expire_at_ms: Some(FAR_FUTURE_MS), ..entry(0, b"ttl_ms", bytes(b"v1")) },
        entry(3, b"db3_plain", bytes(b"x")),
        RdbEntry { expire_at_ms: Some(FAR_FUTURE_S * 1000), ..entry(3, b"db3_ttl_s", bytes(&[b'y'; 30])) },
    ];
    expected.sort_by(|a, b| (a.db, &a.key).cmp(&(b.db, &b.key)));
    assert_eq!(got, expected);

    let mut reader = RdbReader::new(STRINGS_RDB).unwrap();
    while reader.next_record().unwrap().is_some() {}
    assert_eq!(reader.bytes_read(), STRINGS_RDB.len() as u64);
    assert_eq!(reader.version(), 10);
}

#[test]
fn reads_lru_idle_and_lfu_counters() {
    let idle: Vec<_> = entries(&read_all(LRU_RDB).unwrap()).iter().map(|e| (e.key.clone(), e.lru_idle_secs)).collect();
    assert_eq!(idle, [(b"k1".to_vec(), Some(0)), (b"k2".to_vec(), Some(0))]);
    // k1 has Redis's initial counter (LFU_INIT_VAL); 100 GETs raised k2's.
    let freq: Vec<_> = entries(&read_all(LFU_RDB).unwrap()).iter().map(|e| (e.key.clone(), e.lfu_freq)).collect();
    assert_eq!(freq, [(b"k2".to_vec(), Some(13)), (b"k1".to_vec(), Some(5))]);
}

#[test]
fn a_zero_checksum_means_not_checked() {
    assert_eq!(NO_CHECKSUM_RDB[NO_CHECKSUM_RDB.len() - 8..], [0; 8]);
    assert_eq!(entries(&read_all(NO_CHECKSUM_RDB).unwrap()), [entry(0, b"k", bytes(b"v"))]);
}

#[test]
fn checksum_verification_can_be_turned_off() {
    let mut file = STRINGS_RDB.to_vec();
    *file.last_mut().unwrap() ^= 1;
    assert!(matches!(read_all(&file), Err(RdbError::ChecksumMismatch { .. })));
    let mut reader = RdbReader::new(&file[..]).unwrap();
    reader.set_verify_checksum(false);
    assert_eq!(reader.collect::<Result<Vec<_>, _>>().unwrap().len(), read_all(STRINGS_RDB).unwrap().len());
}

#[test]
fn names_what_it_cannot_load() {
    let stream = file_with_body(&[15, 1, b's', 0]);
    let err = read_all(&stream).unwrap_err();
    assert!(matches!(&err, RdbError::UnsupportedType { db: 0, key, data_type: DataType::Stream } if key == b"s"));
    assert_eq!(err.to_string(), "key 's' in DB 0 holds a stream, a type Ferrocache does not support");
    let err = read_all(FUNCTION_RDB).unwrap_err();
    assert!(matches!(err, RdbError::Unsupported(what) if what.contains("Functions")), "{err}");
    let module_aux = file_with_body(&[opcode::MODULE_AUX, 0x00]);
    assert!(matches!(read_all(&module_aux), Err(RdbError::Unsupported(what)) if what.contains("module")));
}

#[test]
fn refuses_foreign_and_future_files() {
    assert!(matches!(read_all(b"REDIS0011\xff"), Err(RdbError::UnsupportedVersion(11))));
    assert!(matches!(read_all(b"REDIS0000\xff"), Err(RdbError::UnsupportedVersion(0))));
    assert!(matches!(read_all(b"REDIX0010\xff"), Err(RdbError::NotRdb)));
    assert!(matches!(read_all(b"REDIS 010\xff"), Err(RdbError::NotRdb)));
    assert!(matches!(read_all(b"*1\r\n$4\r\nPING\r\n"), Err(RdbError::NotRdb)));
    assert!(matches!(read_all(b""), Err(RdbError::Truncated)));
    assert!(matches!(read_all(&file_with_body(&[8])), Err(RdbError::Corrupt(_))));
    assert!(matches!(read_all(&file_with_body(&[200])), Err(RdbError::Corrupt(_))));
}

#[test]
fn reads_older_opcodes_and_versions() {
    // EXPIRETIME in seconds, from files before RDB 3.
    let mut body = vec![opcode::SELECTDB, 2, opcode::EXPIRETIME];
    body.extend_from_slice(&2_000_000_000i32.to_le_bytes());
    body.extend_from_slice(b"\x00\x01k\x01v");
    let records = read_all(&file_with_body(&body)).unwrap();
    let expected = RdbEntry { expire_at_ms: Some(2_000_000_000_000), ..entry(2, b"k", bytes(b"v")) };
    assert_eq!(records, [RdbRecord::Entry(expected)]);

    // Version 4 files have no checksum at all.
    let old = b"REDIS0004\x00\x01k\x01v\xff";
    assert_eq!(entries(&read_all(old).unwrap()), [entry(0, b"k", bytes(b"v"))]);
}

/// Rewrites a Redis file with our writer, from what our reader got out of it.
fn rewrite(file: &[u8], checksum: bool) -> Vec<u8> {
    let records = read_all(file).unwrap();
    let number = |name| std::str::from_utf8(aux(&records, name)).unwrap().parse::<i64>().unwrap();
    let aux_fields = AuxFields {
        redis_ver: "7.0.15",
        ctime: number("ctime"),
        used_mem: number("used-mem") as u64,
        aof_base: false,
        repl: None,
    };
    let options = RdbWriteOptions { compression: true, checksum };
    let mut writer = RdbWriter::new(Vec::new(), options, aux_fields).unwrap();
    for record in &records {
        match record {
            RdbRecord::ResizeDb { db, keys, expires } => writer.select_db(*db, *keys, *expires).unwrap(),
            RdbRecord::Entry(e) => writer.write_entry(&e.as_entry_ref()).unwrap(),
            RdbRecord::Aux { .. } => {}
        }
    }
    writer.finish().unwrap()
}

#[test]
fn writes_what_redis_writes_byte_for_byte() {
    for (name, file) in [("strings", STRINGS_RDB), ("lru", LRU_RDB), ("lfu", LFU_RDB)] {
        assert_eq!(rewrite(file, true).escape_ascii().to_string(), file.escape_ascii().to_string(), "{name}.rdb");
    }
    assert_eq!(rewrite(NO_CHECKSUM_RDB, false), NO_CHECKSUM_RDB);
}

#[test]
fn round_trips_through_writer_and_reader() {
    let aux_fields =
        AuxFields { redis_ver: "7.0.15", ctime: 1_700_000_000, used_mem: 1 << 20, aof_base: true, repl: None };
    let mut rng = SmallRng::seed_from_u64(99);
    let mut written = Vec::new();
    for db in [0u32, 5, 15] {
        for i in 0..200 {
            let value = match i % 4 {
                0 => RdbString::Int(rng.gen()),
                1 => bytes(&splitmix_bytes(i, rng.gen_range(0..3000))),
                2 => bytes(&b"compressible ".repeat(rng.gen_range(1..400))),
                _ => bytes(i.to_string().as_bytes()),
            };
            written.push(RdbEntry {
                db,
                key: format!("key:{i}").into_bytes(),
                value: value.into(),
                expire_at_ms: (i % 3 == 0).then(|| rng.gen()),
                lru_idle_secs: (i % 5 == 0).then(|| rng.gen()),
                lfu_freq: (i % 7 == 0).then(|| rng.gen()),
            });
        }
    }
    for options in
        [RdbWriteOptions { compression: true, checksum: true }, RdbWriteOptions { compression: false, checksum: false }]
    {
        let mut writer = RdbWriter::new(Vec::new(), options, aux_fields).unwrap();
        for db in [0, 5, 15] {
            writer.select_db(db, 200, 67).unwrap();
            for e in written.iter().filter(|e| e.db == db) {
                writer.write_entry(&e.as_entry_ref()).unwrap();
            }
        }
        let bytes_written = writer.bytes_written();
        let file = writer.finish().unwrap();
        assert_eq!(bytes_written + 9, file.len() as u64, "EOF and checksum come after");
        let records = read_all(&file).unwrap();
        assert_eq!(aux(&records, "aof-base"), b"1");
        assert_eq!(aux(&records, "ctime"), b"1700000000");
        let read = entries(&records);
        assert_eq!(read.len(), written.len());
        for (r, w) in read.iter().zip(&written) {
            // Canonical integers come back as integers, whichever way they went in.
            assert_eq!(
                (r.db, &r.key, r.expire_at_ms, r.lru_idle_secs, r.lfu_freq),
                (w.db, &w.key, w.expire_at_ms, w.lru_idle_secs, w.lfu_freq)
            );
            assert_eq!(
                r.value.as_string().cloned().map(RdbString::into_bytes),
                w.value.as_string().cloned().map(RdbString::into_bytes)
            );
        }
    }
}

#[test]
fn writer_keeps_databases_in_order() {
    let aux_fields = AuxFields { redis_ver: "7.0.15", ctime: 0, used_mem: 0, aof_base: false, repl: None };
    let options = RdbWriteOptions { compression: true, checksum: true };
    let key = RdbEntryRef {
        key: b"k",
        value: RdbStr::Int(1).into(),
        expire_at_ms: None,
        lru_idle_secs: None,
        lfu_freq: None,
    };
    let mut writer = RdbWriter::new(Vec::new(), options, aux_fields).unwrap();
    assert_eq!(writer.write_entry(&key).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    writer.select_db(3, 1, 0).unwrap();
    assert_eq!(writer.select_db(3, 1, 0).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(writer.select_db(1, 1, 0).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

/// Every prefix of a valid file is an error, never a shorter success.
#[test]
fn truncation_anywhere_is_an_error() {
    for len in 0..STRINGS_RDB.len() {
        match read_all(&STRINGS_RDB[..len]) {
            Err(RdbError::Truncated) => {}
            other => panic!("cut at {len}: {other:?}"),
        }
    }
}

/// Every single flipped byte is an error; inside a value, it is the checksum that notices.
#[test]
fn a_flipped_byte_is_an_error() {
    let value = splitmix_bytes(3, 1000);
    let value_at = STRINGS_RDB.windows(value.len()).position(|w| w == value).unwrap();
    for at in 0..STRINGS_RDB.len() {
        let mut file = STRINGS_RDB.to_vec();
        file[at] ^= 0x5a;
        match read_all(&file) {
            Err(RdbError::ChecksumMismatch { .. }) => {}
            Err(_) if !(value_at..value_at + 1000).contains(&at) => {}
            other => panic!("byte {at} flipped: {other:?}"),
        }
    }
}

#[test]
fn corrupt_lengths_do_not_allocate_or_panic() {
    // A 2^63-byte string, and an LZF block that claims to expand 2^40 times.
    let huge_string = [&[0x00, 0x01, b'k', 0x81][..], &(1u64 << 63).to_be_bytes()].concat();
    assert!(matches!(read_all(&file_with_body(&huge_string)), Err(RdbError::Truncated)));
    let huge_lzf = [&[0x00, 0x01, b'k', 0xc3, 0x02, 0x81][..], &(1u64 << 41).to_be_bytes(), &[0x00, b'a']].concat();
    assert!(matches!(read_all(&file_with_body(&huge_lzf)), Err(RdbError::Corrupt(_))));
}

#[test]
fn garbage_never_panics() {
    let mut rng = SmallRng::seed_from_u64(4242);
    for _ in 0..5000 {
        let len = rng.gen_range(0..200);
        let body: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let _ = read_all(&[b"REDIS0010", &body[..]].concat());
    }
    for _ in 0..5000 {
        let mut file = STRINGS_RDB.to_vec();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(9..file.len());
            file[at] = rng.gen();
        }
        file.truncate(rng.gen_range(9..=file.len()));
        let _ = read_all(&file);
    }
}

mod collections {
    use super::*;
    use crate::persistence::rdb::object::{RdbCollection, RdbCollectionRef};
    use crate::persistence::rdb::{intset, listpack::ListpackWriter, rdb_type, ziplist};
    use crate::store::types::{Hash, List, Set, ZSet};

    /// The collection stored under the only key of `file`.
    fn only_value(file: &[u8]) -> Result<Option<RdbCollection>, RdbError> {
        let mut found = None;
        for record in RdbReader::new(file)? {
            if let RdbRecord::Entry(e) = record? {
                match e.value {
                    RdbValue::Collection(c) => found = Some(c),
                    RdbValue::String(s) => panic!("a string: {s:?}"),
                }
            }
        }
        Ok(found)
    }

    /// A file with one key `k` of type `type_byte` whose value is `value`.
    fn file_with(type_byte: u8, value: &[u8]) -> Vec<u8> {
        file_with_body(&[&[type_byte, 1, b'k'][..], value].concat())
    }

    /// An RDB string holding `blob` (length prefix, no compression).
    fn blob(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_len(&mut out, bytes.len() as u64).unwrap();
        out.extend_from_slice(bytes);
        out
    }

    fn strings(items: &[&[u8]]) -> Vec<u8> {
        items.iter().flat_map(|i| blob(i)).collect()
    }

    fn list_of(items: &[&[u8]]) -> RdbCollection {
        let mut l = List::new();
        items.iter().for_each(|i| l.push_back(i));
        RdbCollection::List(l)
    }

    fn hash_of(pairs: &[(&[u8], &[u8])]) -> RdbCollection {
        let mut h = Hash::new();
        pairs.iter().for_each(|(f, v)| assert!(h.insert(f, v)));
        RdbCollection::Hash(h)
    }

    fn set_of(items: &[&[u8]]) -> RdbCollection {
        let mut s = Set::new();
        items.iter().for_each(|i| assert!(s.insert(i)));
        RdbCollection::Set(s)
    }

    fn zset_of(items: &[(&[u8], f64)]) -> RdbCollection {
        let mut z = ZSet::new();
        items.iter().for_each(|(m, s)| assert!(z.insert(m, *s)));
        RdbCollection::ZSet(z)
    }

    fn lp(items: &[&[u8]]) -> Vec<u8> {
        let mut w = ListpackWriter::new();
        items.iter().for_each(|i| w.push(i));
        w.finish()
    }

    #[test]
    fn the_list_redis_saved_loads() {
        assert_eq!(only_value(LIST_RDB).unwrap(), Some(list_of(&[b"a", b"b"])));
    }

    #[test]
    fn every_encoding_redis_7_reads() {
        let abc: &[&[u8]] = &[b"a", b"12", b"c"];
        // LIST (1): length and strings, one of them integer-encoded.
        let plain_list = [&[3][..], &blob(b"a"), &[0xc0, 12], &blob(b"c")].concat();
        assert_eq!(only_value(&file_with(rdb_type::LIST, &plain_list)).unwrap(), Some(list_of(abc)));
        // LIST_ZIPLIST (10), LIST_QUICKLIST (14): ziplists.
        let zl = blob(&ziplist::build(abc));
        assert_eq!(only_value(&file_with(rdb_type::LIST_ZIPLIST, &zl)).unwrap(), Some(list_of(abc)));
        let ql = [&[2][..], &blob(&ziplist::build(&[b"a"])), &blob(&ziplist::build(&[b"12", b"c"]))].concat();
        assert_eq!(only_value(&file_with(rdb_type::LIST_QUICKLIST, &ql)).unwrap(), Some(list_of(abc)));
        // LIST_QUICKLIST_2 (18): a packed node, an empty one (skipped), a plain one.
        let ql2 = [&[3, 2][..], &blob(&lp(&[b"a", b"12"])), &[2], &blob(&lp(&[])), &[1], &blob(b"c")].concat();
        assert_eq!(only_value(&file_with(rdb_type::LIST_QUICKLIST_2, &ql2)).unwrap(), Some(list_of(abc)));

        let xy = set_of(&[b"x", b"y"]);
        assert_eq!(
            only_value(&file_with(rdb_type::SET, &[&[2][..], &strings(&[b"x", b"y"])].concat())).unwrap(),
            Some(xy)
        );
        let ints = blob(&intset::build([3, -1, 70000]));
        assert_eq!(
            only_value(&file_with(rdb_type::SET_INTSET, &ints)).unwrap(),
            Some(set_of(&[b"-1", b"3", b"70000"]))
        );

        let fv = hash_of(&[(b"f", b"v"), (b"n", b"1")]);
        let plain_hash = [&[2][..], &strings(&[b"f", b"v", b"n", b"1"])].concat();
        assert_eq!(only_value(&file_with(rdb_type::HASH, &plain_hash)).unwrap(), Some(fv.clone()));
        let pairs: &[&[u8]] = &[b"f", b"v", b"n", b"1"];
        assert_eq!(only_value(&file_with(rdb_type::HASH_LISTPACK, &blob(&lp(pairs)))).unwrap(), Some(fv.clone()));
        let zl = blob(&ziplist::build(pairs));
        assert_eq!(only_value(&file_with(rdb_type::HASH_ZIPLIST, &zl)).unwrap(), Some(fv.clone()));
        let zipmap = blob(b"\x02\x01f\x01\x00v\x01n\x01\x031XYZ\xff");
        assert_eq!(only_value(&file_with(rdb_type::HASH_ZIPMAP, &zipmap)).unwrap(), Some(fv));

        let z = zset_of(&[(b"a", 1.5), (b"b", f64::INFINITY), (b"c", -2.0)]);
        let text = [&[3][..], &blob(b"a"), &[3], b"1.5", &blob(b"b"), &[254], &blob(b"c"), &[2], b"-2"].concat();
        assert_eq!(only_value(&file_with(rdb_type::ZSET, &text)).unwrap(), Some(z.clone()));
        let mut binary = vec![3];
        for (m, s) in [(b"a", 1.5), (b"b", f64::INFINITY), (b"c", -2.0)] {
            binary.extend_from_slice(&blob(m));
            binary.extend_from_slice(&f64::to_le_bytes(s));
        }
        assert_eq!(only_value(&file_with(rdb_type::ZSET_2, &binary)).unwrap(), Some(z.clone()));
        let scored: &[&[u8]] = &[b"c", b"-2", b"a", b"1.5", b"b", b"inf"];
        assert_eq!(only_value(&file_with(rdb_type::ZSET_LISTPACK, &blob(&lp(scored)))).unwrap(), Some(z.clone()));
        let zl = blob(&ziplist::build(scored));
        assert_eq!(only_value(&file_with(rdb_type::ZSET_ZIPLIST, &zl)).unwrap(), Some(z));
    }

    #[test]
    fn duplicates_nan_and_odd_pairs_are_refused() {
        let corrupt = |file: Vec<u8>| assert!(matches!(only_value(&file), Err(RdbError::Corrupt(_))));
        corrupt(file_with(rdb_type::SET, &[&[2][..], &strings(&[b"x", b"x"])].concat()));
        corrupt(file_with(rdb_type::HASH, &[&[2][..], &strings(&[b"f", b"1", b"f", b"2"])].concat()));
        corrupt(file_with(rdb_type::HASH_LISTPACK, &blob(&lp(&[b"f", b"1", b"f", b"2"]))));
        corrupt(file_with(rdb_type::HASH_LISTPACK, &blob(&lp(&[b"f", b"1", b"g"]))));
        corrupt(file_with(rdb_type::HASH_ZIPLIST, &blob(&ziplist::build(&[b"f", b"1", b"f", b"2"]))));
        corrupt(file_with(rdb_type::HASH_ZIPMAP, &blob(b"\x02\x01f\x01\x00v\x01f\x01\x00w\xff")));
        corrupt(file_with(rdb_type::ZSET_LISTPACK, &blob(&lp(&[b"m", b"1", b"m", b"2"]))));
        corrupt(file_with(rdb_type::ZSET_LISTPACK, &blob(&lp(&[b"m", b"nan"]))));
        corrupt(file_with(rdb_type::ZSET_LISTPACK, &blob(&lp(&[b"m", b"x"]))));
        corrupt(file_with(rdb_type::ZSET, &[&[1][..], &blob(b"m"), &[253]].concat()));
        corrupt(file_with(rdb_type::ZSET_2, &[&[1][..], &blob(b"m"), &f64::NAN.to_le_bytes()].concat()));
        corrupt(file_with(rdb_type::ZSET_2, &[&[2][..], &blob(b"m"), &[0; 8], &blob(b"m"), &[0; 8]].concat()));
        corrupt(file_with(rdb_type::LIST_QUICKLIST_2, &[&[1, 3][..], &blob(b"x")].concat()));
        corrupt(file_with(rdb_type::LIST_QUICKLIST_2, &[&[1, 2][..], &blob(b"not a listpack")].concat()));
        corrupt(file_with(rdb_type::SET_INTSET, &blob(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 1, 0])));
    }

    #[test]
    fn empty_collections_are_skipped_and_the_rest_loads() {
        let mut body = Vec::new();
        for (t, v) in [
            (rdb_type::LIST, vec![0]),
            (rdb_type::SET, vec![0]),
            (rdb_type::HASH_LISTPACK, blob(&lp(&[]))),
            (rdb_type::SET_INTSET, blob(&intset::build([]))),
            (rdb_type::LIST_QUICKLIST_2, [&[1, 2][..], &blob(&lp(&[]))].concat()),
        ] {
            body.extend_from_slice(&[t, 5]);
            body.extend_from_slice(format!("e{t:04}").as_bytes());
            body.extend_from_slice(&v);
        }
        body.extend_from_slice(b"\x00\x01k\x01v");
        let file = file_with_body(&body);
        let mut rdb = RdbReader::new(&file[..]).unwrap();
        let records: Vec<_> = rdb.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(entries(&records), [entry(0, b"k", bytes(b"v"))]);
        assert_eq!(rdb.empty_keys_skipped(), 5);
    }

    #[test]
    fn hostile_lengths_and_truncations_fail_fast() {
        // Element counts of 2^62 with nothing behind them: an error, no allocation.
        for t in [rdb_type::LIST, rdb_type::SET, rdb_type::ZSET_2, rdb_type::HASH, rdb_type::LIST_QUICKLIST_2] {
            let file = file_with(t, &[0x81, 0x40, 0, 0, 0, 0, 0, 0, 0]);
            assert!(only_value(&file).is_err(), "type {t}");
        }
        let mut h = Hash::new();
        for i in 0..300 {
            h.insert(format!("field:{i}").as_bytes(), &[b'v'; 70]);
        }
        let mut out = Vec::new();
        write_object(&mut out, RdbValueRef::Collection(RdbCollectionRef::Hash(&h)), true).unwrap();
        let file = file_with(rdb_type::HASH, &out);
        assert_eq!(only_value(&file).unwrap(), Some(RdbCollection::Hash(h)));
        for cut in (10..file.len()).step_by(97) {
            assert!(only_value(&file[..cut]).is_err());
        }
    }

    /// Writes `value` as a file and reads it back.
    fn round_trip(value: RdbCollectionRef<'_>, compress: bool) -> RdbCollection {
        let mut out = Vec::new();
        let options = RdbWriteOptions { compression: compress, checksum: true };
        let aux = AuxFields { redis_ver: "7.0.15", ctime: 0, used_mem: 0, aof_base: false, repl: None };
        let mut w = RdbWriter::new(&mut out, options, aux).unwrap();
        w.select_db(0, 1, 0).unwrap();
        let entry = RdbEntryRef {
            key: b"k",
            value: RdbValueRef::Collection(value),
            expire_at_ms: None,
            lru_idle_secs: None,
            lfu_freq: None,
        };
        w.write_entry(&entry).unwrap();
        w.finish().unwrap();
        only_value(&out).unwrap().expect("not empty")
    }

    #[test]
    fn every_size_round_trips_in_the_encoding_redis_would_use() {
        let mut rng = SmallRng::seed_from_u64(99);
        for n in [1usize, 2, 127, 128, 129, 511, 512, 513, 3000] {
            let item = |rng: &mut SmallRng, i: usize| -> Vec<u8> {
                match rng.gen_range(0..4) {
                    0 => i.to_string().into_bytes(),
                    1 => format!("m{i}").into_bytes(),
                    2 => [format!("{i}:").as_bytes(), &[b'x'; 80]].concat(),
                    _ => (rng.gen::<i64>() >> rng.gen_range(0..63)).to_string().into_bytes(),
                }
            };
            let mut list = List::new();
            let (mut set, mut ints, mut hash, mut zset) = (Set::new(), Set::new(), Hash::new(), ZSet::new());
            let mut small_hash = Hash::new();
            for i in 0..n {
                let it = item(&mut rng, i);
                list.push_back(&it);
                set.insert(&it);
                ints.insert(i.to_string().as_bytes());
                hash.insert(&it, &item(&mut rng, i));
                small_hash.insert(format!("f{i}").as_bytes(), i.to_string().as_bytes());
                zset.insert(&it, if rng.gen() { rng.gen_range(-1e6..1e6) } else { rng.gen_range(-50..50) as f64 });
            }
            for compress in [false, true] {
                let cases = [
                    (RdbCollectionRef::List(&list), RdbCollection::List(list.clone())),
                    (RdbCollectionRef::Set(&set), RdbCollection::Set(set.clone())),
                    (RdbCollectionRef::Set(&ints), RdbCollection::Set(ints.clone())),
                    (RdbCollectionRef::Hash(&hash), RdbCollection::Hash(hash.clone())),
                    (RdbCollectionRef::Hash(&small_hash), RdbCollection::Hash(small_hash.clone())),
                    (RdbCollectionRef::ZSet(&zset), RdbCollection::ZSet(zset.clone())),
                ];
                for (value, expected) in cases {
                    assert_eq!(round_trip(value, compress), expected, "n={n} {value:?}");
                }
            }
            let expect_type = |value, t| assert_eq!(RdbValueRef::Collection(value).rdb_type(), t, "n={n}");
            expect_type(RdbCollectionRef::List(&list), rdb_type::LIST_QUICKLIST_2);
            expect_type(RdbCollectionRef::Set(&ints), if n <= 512 { rdb_type::SET_INTSET } else { rdb_type::SET });
            expect_type(
                RdbCollectionRef::Hash(&small_hash),
                // 7.0's hash-max-listpack-entries is 512 (the sorted sets' limit is 128).
                if n <= 512 { rdb_type::HASH_LISTPACK } else { rdb_type::HASH },
            );
        }
    }

    #[test]
    fn scores_print_as_d2string() {
        use crate::persistence::rdb::d2string;
        let cases = [
            (1.0, "1"),
            (-0.0, "-0"),
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (1e20, "1e+20"),
            (4503599627370496.0, "4503599627370496"),
            (4503599627370497.0, "4503599627370497"),
            (1.0 / 3.0, "0.33333333333333331"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (123456.789, "123456.789"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-2.5e-300, "-2.5e-300"),
        ];
        for (value, text) in cases {
            assert_eq!(d2string(value), text, "{value:e}");
        }
    }
}
