//! # Interop with a real redis-server 7.0: RDB files and DUMP payloads
//!
//! - a file written by `RdbWriter` passes `redis-check-rdb` and loads into redis-server with the
//!   same keys, values and TTLs;
//! - a file saved by redis-server reads back through `RdbReader` as the keys that were set;
//! - `dump_payload` gives Redis's DUMP bytes exactly, for many strings of every size and entropy,
//!   and each side RESTOREs the other's payloads;
//! - the DUMP and RESTORE commands of a running Ferrocache and of redis-server trade keys both
//!   ways, and after each move both DUMP the key to the same bytes;
//! - lists, sets, hashes and sorted sets in every encoding Redis 7.0 keeps them in: Ferrocache
//!   starts on Redis's dump and holds the same dataset (DEBUG DIGEST, per key and whole), DUMPs
//!   them to Redis's bytes where the order is not a hash table's, and its own SAVE passes
//!   `redis-check-rdb` and loads into redis-server to the same digest.
//!
//! `redis-server` and `redis-check-rdb` must be on `PATH` (or named by `REDIS_SERVER` and
//! `REDIS_CHECK_RDB`); if they are missing the tests fail, they never skip:
//! `apt-get install -y redis-server redis-tools`.

mod common;

use common::process::{program, ServerProcess};
use common::{TempDir, TestServer};
use ferrocache::persistence::dump::{dump_payload, restore_payload};
use ferrocache::persistence::rdb::{
    AuxFields, RdbEntry, RdbReader, RdbRecord, RdbStr, RdbString, RdbValue, RdbWriteOptions, RdbWriter,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::process::Command;

/// 2100-01-01T00:00:00.123Z: TTLs that do not run out while a test looks at them.
const FAR_FUTURE_MS: i64 = 4_102_444_800_123;

/// Strings of every kind: empty, integers, short, long, compressible or not.
fn sample_value(rng: &mut SmallRng) -> Vec<u8> {
    let len = match rng.gen_range(0..10) {
        0 => rng.gen_range(0..12),
        1..=4 => rng.gen_range(12..200),
        5..=7 => rng.gen_range(200..5000),
        _ => rng.gen_range(5000..40_000),
    };
    match rng.gen_range(0..5) {
        0 => {
            let number = rng.gen::<i64>().to_string().into_bytes();
            number[..len.min(number.len())].to_vec()
        }
        1 => (0..len).map(|_| rng.gen()).collect(),
        2 => (0..len).map(|_| b"ab"[rng.gen_range(0..2)]).collect(),
        3 => {
            let words: [&[u8]; 6] = [b"cache ", b"redis ", b"key ", b"value ", b"ferro ", b"\x00\xff"];
            let mut text = Vec::with_capacity(len);
            while text.len() < len {
                text.extend_from_slice(words[rng.gen_range(0..words.len())]);
            }
            text.truncate(len);
            text
        }
        _ => {
            let mut runs = Vec::with_capacity(len);
            while runs.len() < len {
                let byte = rng.gen_range(b'a'..=b'e');
                runs.extend(std::iter::repeat_n(byte, rng.gen_range(1..50)));
            }
            runs.truncate(len);
            runs
        }
    }
}

/// The bytes of a string value (these tests deal in strings).
fn string_bytes(value: RdbValue) -> Vec<u8> {
    match value {
        RdbValue::String(s) => s.into_bytes(),
        RdbValue::Collection(c) => panic!("a collection: {c:?}"),
    }
}

fn entry(db: u32, key: &str, value: RdbString, expire_at_ms: Option<i64>) -> RdbEntry {
    RdbEntry {
        db,
        key: key.as_bytes().to_vec(),
        value: value.into(),
        expire_at_ms,
        lru_idle_secs: None,
        lfu_freq: None,
    }
}

/// What the tests put in files: several databases, integers, TTLs, every size of string.
fn sample_entries() -> Vec<RdbEntry> {
    let mut rng = SmallRng::seed_from_u64(2024);
    let mut entries = vec![
        entry(0, "short", RdbString::Bytes(b"hello".to_vec()), None),
        entry(0, "int", RdbString::Int(12345), None),
        entry(0, "neg", RdbString::Int(-1), Some(FAR_FUTURE_MS)),
        entry(0, "big", RdbString::Int(1 << 40), None),
        entry(0, "a100", RdbString::Bytes(vec![b'a'; 100]), Some(FAR_FUTURE_MS + 1)),
        entry(0, "empty", RdbString::Bytes(Vec::new()), None),
        entry(0, "12345", RdbString::Bytes(b"a key that is an integer".to_vec()), None),
        RdbEntry { lru_idle_secs: Some(77), lfu_freq: Some(9), ..entry(0, "hints", RdbString::Int(7), None) },
        entry(3, "db3", RdbString::Bytes(b"three".to_vec()), Some(FAR_FUTURE_MS + 3)),
        entry(15, "db15", RdbString::Int(i64::MIN), None),
    ];
    for i in 0..300 {
        let db = [0, 3, 15][i % 3];
        let expire = (i % 4 == 0).then(|| FAR_FUTURE_MS + i as i64);
        entries.push(entry(db, &format!("sample:{i}"), RdbString::Bytes(sample_value(&mut rng)), expire));
    }
    entries.sort_by_key(|e| e.db);
    entries
}

fn write_rdb(path: &Path, entries: &[RdbEntry], options: RdbWriteOptions) {
    let aux = AuxFields { redis_ver: "7.0.15", ctime: 1_700_000_000, used_mem: 1 << 20, aof_base: false, repl: None };
    let mut writer = RdbWriter::new(BufWriter::new(File::create(path).unwrap()), options, aux).unwrap();
    let mut dbs: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for e in entries {
        let counts = dbs.entry(e.db).or_default();
        counts.0 += 1;
        counts.1 += u64::from(e.expire_at_ms.is_some());
    }
    for (&db, &(keys, expires)) in &dbs {
        writer.select_db(db, keys, expires).unwrap();
        for e in entries.iter().filter(|e| e.db == db) {
            writer.write_entry(&e.as_entry_ref()).unwrap();
        }
    }
    writer.finish().unwrap().into_inner().unwrap().sync_all().unwrap();
}

#[test]
fn redis_loads_the_files_we_write() {
    let entries = sample_entries();
    for options in
        [RdbWriteOptions { compression: true, checksum: true }, RdbWriteOptions { compression: false, checksum: false }]
    {
        let dir = TempDir::new("rdb-ours");
        write_rdb(&dir.0.join("ours.rdb"), &entries, options);

        let check = Command::new(program("REDIS_CHECK_RDB", "redis-check-rdb"))
            .arg(dir.0.join("ours.rdb"))
            .output()
            .expect("redis-check-rdb on PATH (apt-get install -y redis-tools)");
        let report = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success() && report.contains("RDB looks OK"), "{options:?}:\n{report}");
        assert!(report.contains(&format!("{} keys read", entries.len())), "{report}");

        let server = ServerProcess::redis(&dir.0, &["--dbfilename", "ours.rdb"]);
        let mut con = server.connect();
        for db in [0, 3, 15] {
            redis::cmd("SELECT").arg(db).query::<()>(&mut con).unwrap();
            let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
            assert_eq!(dbsize, entries.iter().filter(|e| e.db == db).count(), "db {db}");
            for e in entries.iter().filter(|e| e.db == db) {
                let value: Vec<u8> = redis::cmd("GET").arg(&e.key).query(&mut con).unwrap();
                assert_eq!(value, string_bytes(e.value.clone()), "{}", e.key.escape_ascii());
                let expire: i64 = redis::cmd("PEXPIRETIME").arg(&e.key).query(&mut con).unwrap();
                assert_eq!(expire, e.expire_at_ms.unwrap_or(-1), "{}", e.key.escape_ascii());
            }
        }
    }
}

#[test]
fn we_read_the_files_redis_writes() {
    let dir = TempDir::new("rdb-redis");
    let server = ServerProcess::redis(&dir.0, &[]);
    let mut con = server.connect();
    let entries = sample_entries();
    for e in &entries {
        redis::cmd("SELECT").arg(e.db).query::<()>(&mut con).unwrap();
        redis::cmd("SET").arg(&e.key).arg(string_bytes(e.value.clone())).query::<()>(&mut con).unwrap();
        if let Some(at) = e.expire_at_ms {
            redis::cmd("PEXPIREAT").arg(&e.key).arg(at).query::<()>(&mut con).unwrap();
        }
    }
    redis::cmd("SAVE").query::<()>(&mut con).unwrap();

    let mut reader = RdbReader::new(BufReader::new(File::open(dir.0.join("dump.rdb")).unwrap())).unwrap();
    let mut read = BTreeMap::new();
    while let Some(record) = reader.next_record().unwrap() {
        if let RdbRecord::Entry(e) = record {
            read.insert((e.db, e.key), (string_bytes(e.value), e.expire_at_ms));
        }
    }
    let expected: BTreeMap<_, _> =
        entries.into_iter().map(|e| ((e.db, e.key), (string_bytes(e.value), e.expire_at_ms))).collect();
    assert_eq!(read.len(), expected.len());
    assert!(read == expected, "the keys read differ from the keys set");
}

#[test]
fn dump_payloads_match_redis_byte_for_byte() {
    let dir = TempDir::new("dump");
    let server = ServerProcess::redis(&dir.0, &[]);
    let mut con = server.connect();
    let mut rng = SmallRng::seed_from_u64(7);
    for compression in ["yes", "no"] {
        redis::cmd("CONFIG").arg("SET").arg("rdbcompression").arg(compression).query::<()>(&mut con).unwrap();
        for i in 0..400 {
            let value = sample_value(&mut rng);
            redis::cmd("SET").arg("k").arg(&value[..]).query::<()>(&mut con).unwrap();
            let theirs: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut con).unwrap();
            let ours = dump_payload(RdbStr::Bytes(&value), compression == "yes");
            assert!(
                ours == theirs,
                "value {i} (rdbcompression {compression}, {} bytes) dumps differently",
                value.len()
            );
            assert_eq!(string_bytes(restore_payload(&theirs, &Default::default()).unwrap()), value);
            redis::cmd("RESTORE").arg("restored").arg(0).arg(&ours[..]).arg("REPLACE").query::<()>(&mut con).unwrap();
            let restored: Vec<u8> = redis::cmd("GET").arg("restored").query(&mut con).unwrap();
            assert_eq!(restored, value);
        }
    }
}

/// Runs a command whose reply is a bulk string or nil.
fn bulk(con: &mut redis::Connection, cmd: &mut redis::Cmd) -> Option<Vec<u8>> {
    cmd.query(con).unwrap()
}

/// Values whose DUMP exercises every encoding: integers of each width and as text, strings
/// that look like integers but are not, the LZF threshold, and the random samples.
fn dump_command_values() -> Vec<Vec<u8>> {
    let mut values: Vec<Vec<u8>> = [
        "",
        "0",
        "-1",
        "127",
        "128",
        "-129",
        "32768",
        "2147483647",
        "2147483648",
        "-2147483649",
        "1099511627776",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "007",
        "+1",
        "-0",
        " 1",
        "1 ",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    values.push(vec![b'a'; 20]);
    values.push(vec![b'a'; 21]);
    values.push(vec![b'x'; 44]);
    values.push(vec![b'x'; 45]);
    let mut rng = SmallRng::seed_from_u64(99);
    values.extend((0..300).map(|_| sample_value(&mut rng)));
    values
}

#[test]
fn dump_and_restore_commands_trade_keys_with_redis_both_ways() {
    let dir = TempDir::new("dump-cmd");
    let redis_server = ServerProcess::redis(&dir.0, &[]);
    let ours_server = TestServer::start();
    let mut redis = redis_server.connect();
    let mut ours = redis::Client::open(ours_server.url()).unwrap().get_connection().unwrap();

    for (i, value) in dump_command_values().iter().enumerate() {
        let what = format!("value {i} ({} bytes: {:.40})", value.len(), value.escape_ascii().to_string());
        // Some keys move with an absolute expiry, which must arrive unchanged.
        let expire_at = (i % 3 == 0).then(|| FAR_FUTURE_MS + i as i64);
        let restore = |key: &str, payload: &[u8]| {
            let mut cmd = redis::cmd("RESTORE");
            cmd.arg(key).arg(expire_at.unwrap_or(0)).arg(payload);
            if expire_at.is_some() {
                cmd.arg("ABSTTL");
            }
            cmd
        };

        // Redis → Ferrocache.
        let key = format!("from-redis:{i}");
        redis::cmd("SET").arg(&key).arg(&value[..]).query::<()>(&mut redis).unwrap();
        if let Some(at) = expire_at {
            redis::cmd("PEXPIREAT").arg(&key).arg(at).query::<()>(&mut redis).unwrap();
        }
        let theirs = bulk(&mut redis, redis::cmd("DUMP").arg(&key)).expect("the key was just set");
        restore(&key, &theirs).query::<()>(&mut ours).unwrap_or_else(|e| panic!("{what}: RESTORE: {e}"));
        let ours_dump = bulk(&mut ours, redis::cmd("DUMP").arg(&key));
        assert!(ours_dump.as_deref() == Some(&theirs[..]), "{what}: Ferrocache DUMPs a Redis key differently");

        // Ferrocache → Redis.
        let key = format!("from-ours:{i}");
        redis::cmd("SET").arg(&key).arg(&value[..]).query::<()>(&mut ours).unwrap();
        if let Some(at) = expire_at {
            redis::cmd("PEXPIREAT").arg(&key).arg(at).query::<()>(&mut ours).unwrap();
        }
        let ours_payload = bulk(&mut ours, redis::cmd("DUMP").arg(&key)).expect("the key was just set");
        restore(&key, &ours_payload).query::<()>(&mut redis).unwrap_or_else(|e| panic!("{what}: Redis RESTORE: {e}"));
        let theirs_dump = bulk(&mut redis, redis::cmd("DUMP").arg(&key));
        assert!(theirs_dump.as_deref() == Some(&ours_payload[..]), "{what}: Redis DUMPs our payload differently");

        // Both keys now hold the same value, encoding and expiry on both servers.
        for key in [format!("from-redis:{i}"), format!("from-ours:{i}")] {
            let query = |con: &mut redis::Connection| -> (Vec<u8>, String, i64) {
                (
                    redis::cmd("GET").arg(&key).query(con).unwrap(),
                    redis::cmd("OBJECT").arg("ENCODING").arg(&key).query(con).unwrap(),
                    redis::cmd("PEXPIRETIME").arg(&key).query(con).unwrap(),
                )
            };
            let (r, o) = (query(&mut redis), query(&mut ours));
            assert!(r == o, "{what}, {key}: redis has {:?}, Ferrocache {:?}", (&r.1, r.2), (&o.1, o.2));
            assert_eq!(r.0, *value, "{what}, {key}");
        }
    }
}

#[test]
fn restore_options_and_other_types_against_redis() {
    let dir = TempDir::new("restore-opts");
    let redis_server = ServerProcess::redis(&dir.0, &["--enable-debug-command", "yes"]);
    let ours_server = TestServer::start();
    let mut redis = redis_server.connect();
    let mut ours = redis::Client::open(ours_server.url()).unwrap().get_connection().unwrap();
    redis::cmd("SET").arg("s").arg("hello").query::<()>(&mut redis).unwrap();
    let payload = bulk(&mut redis, redis::cmd("DUMP").arg("s")).unwrap();

    // IDLETIME lands as the same idle time on both (a second may pass between the commands).
    for con in [&mut redis, &mut ours] {
        redis::cmd("RESTORE").arg("idle").arg(0).arg(&payload[..]).arg("IDLETIME").arg(1000).query::<()>(con).unwrap();
        let idle: i64 = redis::cmd("OBJECT").arg("IDLETIME").arg("idle").query(con).unwrap();
        assert!((1000..=1001).contains(&idle), "OBJECT IDLETIME {idle} after RESTORE ... IDLETIME 1000");
    }
    // FREQ under an LFU policy.
    for con in [&mut redis, &mut ours] {
        redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("allkeys-lfu").query::<()>(con).unwrap();
        redis::cmd("RESTORE").arg("freq").arg(0).arg(&payload[..]).arg("FREQ").arg(42).query::<()>(con).unwrap();
        let freq: i64 = redis::cmd("OBJECT").arg("FREQ").arg("freq").query(con).unwrap();
        assert!((41..=42).contains(&freq), "OBJECT FREQ {freq} after RESTORE ... FREQ 42");
        redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("noeviction").query::<()>(con).unwrap();
    }

    // Collections: both restore them and DUMP them back to the same bytes (a hash-table set
    // aside, whose order is each table's); streams Ferrocache refuses, naming the type.
    redis::cmd("RPUSH").arg("list").arg("a").arg("b").query::<()>(&mut redis).unwrap();
    redis::cmd("HSET").arg("hash").arg("f").arg("v").query::<()>(&mut redis).unwrap();
    redis::cmd("SADD").arg("set").arg("x").arg("y").query::<()>(&mut redis).unwrap();
    redis::cmd("SADD").arg("intset").arg(1).arg(2).query::<()>(&mut redis).unwrap();
    redis::cmd("ZADD").arg("zset").arg(1).arg("m").query::<()>(&mut redis).unwrap();
    redis::cmd("XADD").arg("stream").arg("1-1").arg("f").arg("v").query::<()>(&mut redis).unwrap();
    for (key, type_name) in
        [("list", "list"), ("hash", "hash"), ("set", "set"), ("intset", "set"), ("zset", "zset"), ("stream", "stream")]
    {
        let payload = bulk(&mut redis, redis::cmd("DUMP").arg(key)).unwrap();
        let copy = format!("{key}-copy");
        redis::cmd("RESTORE").arg(&copy).arg(0).arg(&payload[..]).query::<()>(&mut redis).unwrap();
        if type_name == "stream" {
            let err = redis::cmd("RESTORE").arg(&copy).arg(0).arg(&payload[..]).query::<()>(&mut ours).unwrap_err();
            let expected = "DUMP payload holds a stream, a type Ferrocache does not support";
            assert!(err.to_string().contains(expected), "{key}: {err}");
            let exists: i64 = redis::cmd("EXISTS").arg(&copy).query(&mut ours).unwrap();
            assert_eq!(exists, 0, "{key}");
            continue;
        }
        redis::cmd("RESTORE").arg(&copy).arg(0).arg(&payload[..]).query::<()>(&mut ours).unwrap();
        let t: String = redis::cmd("TYPE").arg(&copy).query(&mut ours).unwrap();
        assert_eq!(t, type_name);
        let ours_payload = bulk(&mut ours, redis::cmd("DUMP").arg(&copy)).unwrap();
        if key != "set" {
            assert_eq!(ours_payload, payload, "{key}");
        }
        let back = format!("{key}-back");
        redis::cmd("RESTORE").arg(&back).arg(0).arg(&ours_payload[..]).query::<()>(&mut redis).unwrap();
        let digests: Vec<String> =
            redis::cmd("DEBUG").arg("DIGEST-VALUE").arg(key).arg(&back).query(&mut redis).unwrap();
        assert_eq!(digests[0], digests[1], "{key}");
    }
}

/// Collections of every size that gives Redis 7.0 a different encoding (listpack, intset,
/// hashtable, skiplist; quicklists of one and many nodes, an element bigger than a node),
/// some with a TTL, built in `con` with Redis's own commands. Returns their keys.
fn build_collections(con: &mut redis::Connection) -> Vec<String> {
    let mut rng = SmallRng::seed_from_u64(2024);
    let mut keys = Vec::new();
    let member = |rng: &mut SmallRng, i: usize| -> Vec<u8> {
        match rng.gen_range(0..5) {
            0 => i.to_string().into_bytes(),
            1 => (rng.gen::<i64>() >> rng.gen_range(0..63)).to_string().into_bytes(),
            2 => format!("member:{i}").into_bytes(),
            3 => (0..rng.gen_range(0..100)).map(|_| rng.gen()).collect(),
            _ => [format!("{i}:").as_bytes(), &sample_value(rng)[..]].concat(),
        }
    };
    for (n, tag) in [(1, "one"), (5, "small"), (128, "edge"), (129, "over"), (600, "big"), (3000, "huge")] {
        let list = format!("list:{tag}");
        for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
            let items: Vec<Vec<u8>> = chunk.iter().map(|&i| member(&mut rng, i)).collect();
            redis::cmd("RPUSH").arg(&list).arg(&items).query::<()>(con).unwrap();
        }
        let set = format!("set:{tag}");
        let intset = format!("intset:{tag}");
        let hash = format!("hash:{tag}");
        let small_hash = format!("hash-short:{tag}");
        let zset = format!("zset:{tag}");
        let small_zset = format!("zset-short:{tag}");
        for i in 0..n {
            redis::cmd("SADD").arg(&set).arg(member(&mut rng, i)).query::<()>(con).unwrap();
            redis::cmd("SADD").arg(&intset).arg(i as i64 * 7919 - 50_000).query::<()>(con).unwrap();
            redis::cmd("HSET").arg(&hash).arg(member(&mut rng, i)).arg(member(&mut rng, i)).query::<()>(con).unwrap();
            redis::cmd("HSET").arg(&small_hash).arg(format!("f{i}")).arg(i).query::<()>(con).unwrap();
            let score = match i % 4 {
                0 => rng.gen_range(-1e9..1e9),
                1 => rng.gen_range(-100..100) as f64,
                2 => rng.gen::<f64>(),
                _ => (i as f64) * 0.1,
            };
            redis::cmd("ZADD").arg(&zset).arg(score).arg(member(&mut rng, i)).query::<()>(con).unwrap();
            redis::cmd("ZADD").arg(&small_zset).arg(i % 7).arg(format!("m{i}")).query::<()>(con).unwrap();
        }
        keys.extend([list, set, intset, hash, small_hash, zset, small_zset]);
    }
    redis::cmd("ZADD")
        .arg("zset:inf")
        .arg("+inf")
        .arg("up")
        .arg("-inf")
        .arg("down")
        .arg(0)
        .arg("zero")
        .query::<()>(con)
        .unwrap();
    redis::cmd("RPUSH")
        .arg("list:fat")
        .arg(vec![b'f'; 20_000])
        .arg("x")
        .arg(vec![b'g'; 9000])
        .query::<()>(con)
        .unwrap();
    keys.extend(["zset:inf".to_string(), "list:fat".to_string()]);
    for key in keys.iter().step_by(3) {
        redis::cmd("PEXPIREAT").arg(key).arg(FAR_FUTURE_MS).query::<()>(con).unwrap();
    }
    keys
}

fn digest(con: &mut redis::Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(con).unwrap()
}

fn digest_value(con: &mut redis::Connection, key: &str) -> String {
    let d: Vec<String> = redis::cmd("DEBUG").arg("DIGEST-VALUE").arg(key).query(con).unwrap();
    d.into_iter().next().unwrap()
}

#[test]
fn collections_move_between_redis_and_ferrocache_in_files_and_dumps() {
    let dir = TempDir::new("rdb-collections");
    let redis_server = ServerProcess::redis(&dir.0, &["--enable-debug-command", "yes"]);
    let mut redis = redis_server.connect();
    let keys = build_collections(&mut redis);
    let mut encodings = std::collections::BTreeSet::new();
    for key in &keys {
        let enc: String = redis::cmd("OBJECT").arg("ENCODING").arg(key).query(&mut redis).unwrap();
        encodings.insert(enc);
    }
    let all: Vec<&str> = encodings.iter().map(String::as_str).collect();
    assert_eq!(all, ["hashtable", "intset", "listpack", "quicklist", "skiplist"]);
    redis::cmd("SAVE").query::<()>(&mut redis).unwrap();
    let redis_digest = digest(&mut redis);

    // Redis's file, read in process: every key, the right type.
    let mut reader = RdbReader::new(BufReader::new(File::open(dir.0.join("dump.rdb")).unwrap())).unwrap();
    let mut read = 0;
    while let Some(record) = reader.next_record().unwrap() {
        if let RdbRecord::Entry(e) = record {
            assert!(matches!(e.value, RdbValue::Collection(_)), "{}", e.key.escape_ascii());
            read += 1;
        }
    }
    assert_eq!(read, keys.len());

    // Ferrocache starts on Redis's file and holds the same dataset, key by key.
    let dir_str = dir.path_str();
    let ours_server = TestServer::with_config(|c| {
        c.dir = dir_str.clone();
        c.enable_debug_command = "yes".into();
    });
    let mut ours = redis::Client::open(ours_server.url()).unwrap().get_connection().unwrap();
    // It loads in the background: LOADING until done.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let dbsize: usize = loop {
        match redis::cmd("DBSIZE").query(&mut ours) {
            Ok(n) => break n,
            Err(e) if e.to_string().contains("loading") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(dbsize, keys.len());
    for key in &keys {
        let (t_ours, t_redis): (String, String) = (
            redis::cmd("TYPE").arg(key).query(&mut ours).unwrap(),
            redis::cmd("TYPE").arg(key).query(&mut redis).unwrap(),
        );
        assert_eq!(t_ours, t_redis, "{key}");
        assert_eq!(digest_value(&mut ours, key), digest_value(&mut redis, key), "{key}: contents differ");
        let (e_ours, e_redis): (i64, i64) = (
            redis::cmd("PEXPIRETIME").arg(key).query(&mut ours).unwrap(),
            redis::cmd("PEXPIRETIME").arg(key).query(&mut redis).unwrap(),
        );
        assert_eq!(e_ours, e_redis, "{key}");
        // DUMP: the same bytes wherever the order is not a hash table's.
        let theirs = bulk(&mut redis, redis::cmd("DUMP").arg(key)).unwrap();
        let mine = bulk(&mut ours, redis::cmd("DUMP").arg(key)).unwrap();
        let enc: String = redis::cmd("OBJECT").arg("ENCODING").arg(key).query(&mut redis).unwrap();
        let ordered = key.starts_with("list") || key.starts_with("zset") || enc == "intset";
        let single_field = key.starts_with("hash") && key.ends_with(":one");
        if ordered || single_field {
            assert!(mine == theirs, "{key} ({enc}): DUMP differs from Redis's");
        }
        // And each side RESTOREs the other's payload to the same contents.
        let copy = format!("copy:{key}");
        redis::cmd("RESTORE").arg(&copy).arg(0).arg(&mine[..]).query::<()>(&mut redis).unwrap();
        redis::cmd("RESTORE").arg(&copy).arg(0).arg(&theirs[..]).query::<()>(&mut ours).unwrap();
        assert_eq!(digest_value(&mut redis, &copy), digest_value(&mut ours, &copy), "{key}: RESTORE differs");
        // DEBUG OBJECT's serializedlength is the DUMP body's size.
        let obj: String = redis::cmd("DEBUG").arg("OBJECT").arg(key).query(&mut ours).unwrap();
        assert!(obj.contains(&format!(" serializedlength:{} ", mine.len() - 11)), "{key}: {obj}");
        if key.starts_with("list") {
            // The quicklist fields Redis appends, for the same nodes.
            let theirs: String = redis::cmd("DEBUG").arg("OBJECT").arg(key).query(&mut redis).unwrap();
            let ql = |line: &str| line[line.find(" ql_nodes:").expect("ql fields")..].to_string();
            assert_eq!(ql(&obj), ql(&theirs), "{key}");
        }
        for con in [&mut redis, &mut ours] {
            redis::cmd("DEL").arg(&copy).query::<()>(con).unwrap();
        }
    }
    assert_eq!(digest(&mut ours), redis_digest, "DEBUG DIGEST of the whole dataset");
    // DEBUG RELOAD (save, flush, load) on both keeps the dataset.
    for con in [&mut redis, &mut ours] {
        redis::cmd("DEBUG").arg("RELOAD").query::<()>(con).unwrap();
        assert_eq!(digest(con), redis_digest, "after DEBUG RELOAD");
    }

    // Ferrocache's SAVE passes redis-check-rdb and redis-server loads it to the same dataset.
    // (Over Redis's file, in the same directory: `dir` is a protected config.)
    redis::cmd("SAVE").query::<()>(&mut ours).unwrap();
    let check = Command::new(program("REDIS_CHECK_RDB", "redis-check-rdb"))
        .arg(dir.0.join("dump.rdb"))
        .output()
        .expect("redis-check-rdb on PATH (apt-get install -y redis-tools)");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success() && report.contains("RDB looks OK"), "{report}");
    assert!(report.contains(&format!("{} keys read", keys.len())), "{report}");
    let reloaded = ServerProcess::redis(&dir.0, &["--enable-debug-command", "yes"]);
    let mut reloaded = reloaded.connect();
    assert_eq!(digest(&mut reloaded), redis_digest, "Redis loading Ferrocache's file");

    // MIGRATE (DUMP payloads over the wire) moves every collection into a fresh redis-server.
    let target_dir = TempDir::new("rdb-collections-target");
    let target = ServerProcess::redis(&target_dir.0, &["--enable-debug-command", "yes"]);
    let mut migrate = redis::cmd("MIGRATE");
    migrate.arg("127.0.0.1").arg(target.addr.port()).arg("").arg(0).arg(10_000).arg("COPY").arg("KEYS").arg(&keys);
    let reply: String = migrate.query(&mut ours).unwrap();
    assert_eq!(reply, "OK");
    assert_eq!(digest(&mut target.connect()), redis_digest, "Redis after MIGRATE from Ferrocache");
}

#[test]
fn an_aof_rewritten_as_commands_loads_into_redis() {
    use common::keyspace::{info_field, wait_until};
    // The collections, made by Redis, moved into Ferrocache by DUMP / RESTORE.
    let source_dir = TempDir::new("aof-collections-source");
    let source = ServerProcess::redis(&source_dir.0, &["--enable-debug-command", "yes"]);
    let mut redis = source.connect();
    let keys = build_collections(&mut redis);
    let redis_digest = digest(&mut redis);

    let dir = TempDir::new("aof-collections");
    let dir_str = dir.path_str();
    let ours_server = TestServer::with_config(|c| {
        c.dir = dir_str;
        c.appendonly = true;
        c.aof_use_rdb_preamble = false;
    });
    let mut ours = redis::Client::open(ours_server.url()).unwrap().get_connection().unwrap();
    wait_until("the AOF to be loaded", || redis::cmd("PING").query::<String>(&mut ours).is_ok());
    wait_until("the AOF to be created", || info_field(&mut ours, "aof_enabled") == "1");
    for key in &keys {
        let payload = bulk(&mut redis, redis::cmd("DUMP").arg(key)).unwrap();
        let ttl: i64 = redis::cmd("PEXPIRETIME").arg(key).query(&mut redis).unwrap();
        let mut restore = redis::cmd("RESTORE");
        restore.arg(key).arg(ttl.max(0)).arg(&payload[..]);
        if ttl > 0 {
            restore.arg("ABSTTL");
        }
        restore.query::<()>(&mut ours).unwrap();
    }
    let before: i64 = info_field(&mut ours, "aof_rewrites").parse().unwrap();
    redis::cmd("BGREWRITEAOF").query::<()>(&mut ours).unwrap();
    wait_until("the rewrite", || info_field(&mut ours, "aof_rewrites").parse::<i64>().unwrap() > before);

    // The base holds RPUSH / SADD / HSET / ZADD, 64 items at most each.
    let aof_dir = dir.0.join("appendonlydir");
    let base = std::fs::read_dir(&aof_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".base.aof"))
        .expect("a base file");
    let text = std::fs::read(&base).unwrap();
    for command in ["RPUSH", "SADD", "HSET", "ZADD", "PEXPIREAT"] {
        assert!(text.windows(command.len()).any(|w| w == command.as_bytes()), "no {command} in the base");
    }
    drop(ours);
    drop(ours_server);

    // redis-server loads the multi-part AOF Ferrocache wrote: the same dataset.
    let loaded = ServerProcess::redis(&dir.0, &["--appendonly", "yes", "--enable-debug-command", "yes"]);
    assert_eq!(digest(&mut loaded.connect()), redis_digest);
}
