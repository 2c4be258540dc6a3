//! # The multi-part AOF format against a real redis-server 7.0
//!
//! - a directory written with `persistence::aof` (manifest, an RDB base from `RdbWriter`, incr
//!   files of commands from `encode_command`) passes `redis-check-aof`, loads into redis-server
//!   with the keys its commands make, and the manifest Redis writes when it then rewrites is the
//!   one our `Manifest` operations give;
//! - a directory redis-server writes (SET, INCR, EXPIRE, SELECT, MULTI/EXEC, BGREWRITEAOF twice)
//!   reads back through `read_manifest`, `RdbReader` and `AofReader` as the commands sent;
//! - files cut short or damaged are judged as Redis judges them: where `aof-load-truncated yes`
//!   cuts them is our `valid_up_to`, what Redis refuses we call corrupt, and `redis-check-aof`'s
//!   `ok_up_to` agrees.
//!
//! `redis-server` and `redis-check-aof` must be on `PATH` (or named by `REDIS_SERVER` and
//! `REDIS_CHECK_AOF`); if they are missing the tests fail, they never skip:
//! `apt-get install -y redis-server redis-tools`.

mod common;

use common::keyspace::*;

use bytes::Bytes;
use common::process::{free_port, program, ServerProcess};
use common::TempDir;
use ferrocache::persistence::aof::{
    encode_command, encode_timestamp_annotation, read_manifest, starts_with_rdb_preamble, write_manifest, AofFileType,
    AofReadError, AofReader, Manifest, DEFAULT_APPEND_DIRNAME, DEFAULT_APPEND_FILENAME,
};
use ferrocache::persistence::rdb::{
    AuxFields, RdbEntryRef, RdbReader, RdbRecord, RdbStr, RdbValueRef, RdbWriteOptions, RdbWriter,
};
use redis::Connection;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// 2100-01-01T00:00:00.123Z: TTLs that do not run out while a test looks at them.
const FAR_FUTURE_MS: i64 = 4_102_444_800_123;

const BASENAME: &str = DEFAULT_APPEND_FILENAME;

fn aof_dir(dir: &TempDir) -> PathBuf {
    dir.0.join(DEFAULT_APPEND_DIRNAME)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// BGREWRITEAOF, then waits until the rewrite is done and the manifest switched.
fn rewrite(con: &mut Connection) {
    let started: String = redis::cmd("BGREWRITEAOF").query(con).unwrap();
    assert!(started.contains("rewriting started"), "{started}");
    wait_until("the AOF rewrite", || {
        info_field(con, "aof_rewrite_in_progress") == "0" && info_field(con, "aof_rewrite_scheduled") == "0"
    });
    assert_eq!(info_field(con, "aof_last_bgrewrite_status"), "ok");
}

type Cmd = Vec<Vec<u8>>;

fn cmd(args: &[&[u8]]) -> Cmd {
    args.iter().map(|a| a.to_vec()).collect()
}

fn encode(out: &mut Vec<u8>, commands: &[Cmd]) {
    for c in commands {
        let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        encode_command(out, &args);
    }
}

/// Every command of an AOF file, which must end cleanly.
fn read_commands(path: &Path) -> Vec<Cmd> {
    let mut reader = AofReader::new(File::open(path).unwrap());
    let mut out = Vec::new();
    while let Some(args) = reader.next_command().unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        out.push(args.iter().map(|a: &Bytes| a.to_vec()).collect());
    }
    out
}

/// (db, key) → (value bytes, expiry in Unix ms), and the AUX fields.
type RdbContents = BTreeMap<(u32, Vec<u8>), (Vec<u8>, Option<i64>)>;

fn read_rdb(path: &Path) -> (RdbContents, BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut head = [0u8; 5];
    std::io::Read::read_exact(&mut File::open(path).unwrap(), &mut head).unwrap();
    assert!(starts_with_rdb_preamble(&head), "{} is not RDB", path.display());
    let (mut keys, mut aux) = (BTreeMap::new(), BTreeMap::new());
    for record in RdbReader::new(BufReader::new(File::open(path).unwrap())).unwrap() {
        match record.unwrap() {
            RdbRecord::Entry(e) => {
                keys.insert(
                    (e.db, e.key),
                    (e.value.as_string().expect("a string").clone().into_bytes(), e.expire_at_ms),
                );
            }
            RdbRecord::Aux { name, value } => {
                aux.insert(name, value);
            }
            RdbRecord::ResizeDb { .. } => {}
        }
    }
    (keys, aux)
}

fn check_aof(manifest_or_file: &Path) -> (ExitStatus, String) {
    let out = Command::new(program("REDIS_CHECK_AOF", "redis-check-aof"))
        .arg(manifest_or_file)
        .stdin(Stdio::null())
        .output()
        .expect("redis-check-aof on PATH (apt-get install -y redis-tools)");
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// The base of our directory: strings, an integer, TTLs, two databases.
fn write_base(path: &Path) {
    let aux = AuxFields { redis_ver: "7.0.15", ctime: 1_700_000_000, used_mem: 1 << 20, aof_base: true, repl: None };
    let options = RdbWriteOptions { compression: true, checksum: true };
    let mut rdb = RdbWriter::new(BufWriter::new(File::create(path).unwrap()), options, aux).unwrap();
    let entry = |key: &'static [u8], value, expire_at_ms| RdbEntryRef {
        key,
        value: RdbValueRef::String(value),
        expire_at_ms,
        lru_idle_secs: None,
        lfu_freq: None,
    };
    rdb.select_db(0, 4, 1).unwrap();
    rdb.write_entry(&entry(b"base:str", RdbStr::Bytes(b"from the base"), None)).unwrap();
    rdb.write_entry(&entry(b"base:int", RdbStr::Int(42), None)).unwrap();
    rdb.write_entry(&entry(b"base:ttl", RdbStr::Bytes(&[b'x'; 100]), Some(FAR_FUTURE_MS))).unwrap();
    rdb.write_entry(&entry(b"base:gone", RdbStr::Bytes(b"bye"), None)).unwrap();
    rdb.select_db(3, 1, 0).unwrap();
    rdb.write_entry(&entry(b"db3:key", RdbStr::Bytes(b"three"), None)).unwrap();
    rdb.finish().unwrap().into_inner().unwrap().sync_all().unwrap();
}

#[test]
fn redis_checks_and_loads_a_directory_we_write() {
    let dir = TempDir::new("aof-ours");
    let aof = aof_dir(&dir);
    std::fs::create_dir(&aof).unwrap();

    // The manifest of a server that rewrote once (history kept), then failed a rewrite after
    // opening its incr file: base 2, history, incr files 2 and 3.
    let mut m = Manifest::default();
    let old_base = m.new_base(BASENAME, true);
    let old_incr = m.new_incr(BASENAME);
    let first_incr = m.new_incr(BASENAME);
    let base = m.new_base(BASENAME, true);
    m.mark_incrs_as_history();
    let second_incr = m.new_incr(BASENAME);
    assert_eq!(
        m.to_text(),
        "file appendonly.aof.2.base.rdb seq 2 type b\n\
         file appendonly.aof.1.incr.aof seq 1 type h\n\
         file appendonly.aof.1.base.rdb seq 1 type h\n\
         file appendonly.aof.2.incr.aof seq 2 type i\n\
         file appendonly.aof.3.incr.aof seq 3 type i\n"
    );
    for history in [&old_base, &old_incr] {
        File::create(aof.join(history)).unwrap();
    }
    write_base(&aof.join(&base));

    let mut incr = Vec::new();
    encode_timestamp_annotation(&mut incr, 1_700_000_001);
    encode(
        &mut incr,
        &[
            cmd(&[b"SELECT", b"0"]),
            cmd(&[b"SET", b"greeting", b"hello"]),
            cmd(&[b"INCR", b"base:int"]),
            cmd(&[b"APPEND", b"greeting", b" world"]),
            cmd(&[b"PEXPIREAT", b"greeting", (FAR_FUTURE_MS + 5).to_string().as_bytes()]),
            cmd(&[b"DEL", b"base:gone"]),
            cmd(&[b"SET", b"empty", b""]),
            cmd(&[b"SELECT", b"3"]),
            cmd(&[b"SET", b"bin\x00key", b"\xff\r\n\x00"]),
            cmd(&[b"MULTI"]),
            cmd(&[b"SET", b"t", b"1"]),
            cmd(&[b"INCR", b"t"]),
            cmd(&[b"EXEC"]),
        ],
    );
    std::fs::write(aof.join(&first_incr), &incr).unwrap();
    let mut incr = Vec::new();
    encode_timestamp_annotation(&mut incr, 1_700_000_002);
    encode(
        &mut incr,
        &[
            cmd(&[b"SELECT", b"0"]),
            cmd(&[b"SET", b"late", b"from the second incr file", b"PXAT", FAR_FUTURE_MS.to_string().as_bytes()]),
            cmd(&[b"SELECT", b"3"]),
            cmd(&[b"SET", b"db3:key", b"replaced"]),
        ],
    );
    std::fs::write(aof.join(&second_incr), &incr).unwrap();
    write_manifest(&aof, BASENAME, &m).unwrap();

    let manifest_path = aof.join("appendonly.aof.manifest");
    let (status, report) = check_aof(&manifest_path);
    assert!(status.success(), "{report}");
    for line in [
        "Start checking Multi Part AOF",
        "Start to check BASE AOF (RDB format).",
        "\\o/ RDB looks OK! \\o/",
        "[info] 5 keys read",
        "BASE AOF appendonly.aof.2.base.rdb is valid",
        "Start to check INCR files.",
        "INCR AOF appendonly.aof.2.incr.aof is valid",
        "INCR AOF appendonly.aof.3.incr.aof is valid",
        "All AOF files and manifest are valid",
    ] {
        assert!(report.lines().any(|l| l.contains(line)), "no {line:?} in:\n{report}");
    }

    // appendfsync always: with everysec Redis may hold a write back while an fsync runs,
    // and the test reads the files as soon as the reply comes.
    let server = ServerProcess::redis(&dir.0, &["--appendonly", "yes", "--appendfsync", "always"]);
    let mut con = server.connect();
    let get = |con: &mut Connection, db: u32, key: &[u8]| -> (Option<Vec<u8>>, i64) {
        redis::cmd("SELECT").arg(db).query::<()>(con).unwrap();
        (redis::cmd("GET").arg(key).query(con).unwrap(), redis::cmd("PEXPIRETIME").arg(key).query(con).unwrap())
    };
    let some = |v: &[u8]| Some(v.to_vec());
    assert_eq!(get(&mut con, 0, b"base:str"), (some(b"from the base"), -1));
    assert_eq!(get(&mut con, 0, b"base:int"), (some(b"43"), -1));
    assert_eq!(get(&mut con, 0, b"base:ttl"), (some(&[b'x'; 100]), FAR_FUTURE_MS));
    assert_eq!(get(&mut con, 0, b"base:gone"), (None, -2));
    assert_eq!(get(&mut con, 0, b"greeting"), (some(b"hello world"), FAR_FUTURE_MS + 5));
    assert_eq!(get(&mut con, 0, b"empty"), (some(b""), -1));
    assert_eq!(get(&mut con, 0, b"late"), (some(b"from the second incr file"), FAR_FUTURE_MS));
    assert_eq!(get(&mut con, 3, b"bin\x00key"), (some(b"\xff\r\n\x00"), -1));
    assert_eq!(get(&mut con, 3, b"t"), (some(b"2"), -1));
    assert_eq!(get(&mut con, 3, b"db3:key"), (some(b"replaced"), -1));
    for (db, keys) in [(0, 6), (3, 3)] {
        redis::cmd("SELECT").arg(db).query::<()>(&mut con).unwrap();
        assert_eq!(redis::cmd("DBSIZE").query::<usize>(&mut con).unwrap(), keys, "db {db}");
    }

    // Once loaded, Redis deletes the history files and drops them from the manifest (unless
    // aof-disable-auto-gc), and appends to our last incr file.
    let history = m.take_history();
    assert_eq!(read_manifest(&aof, BASENAME).unwrap(), Some(m.clone()));
    assert!(history.iter().all(|h| !aof.join(&h.name).exists()));
    redis::cmd("SET").arg("after-load").arg("1").query::<()>(&mut con).unwrap();
    let appended = read_commands(&aof.join(&second_incr));
    assert_eq!(appended.last(), Some(&cmd(&[b"SET", b"after-load", b"1"])));

    // Redis rewrites; the manifest it writes is the one our operations give.
    rewrite(&mut con);
    m.new_incr(BASENAME);
    let new_base = m.new_base(BASENAME, true);
    m.mark_incrs_as_history();
    let deleted = m.take_history();
    assert_eq!(deleted.len(), 3);
    assert!(deleted.iter().all(|i| i.file_type == AofFileType::History));
    assert_eq!(std::fs::read_to_string(&manifest_path).unwrap(), m.to_text());
    assert_eq!(new_base, "appendonly.aof.3.base.rdb");
    let (keys, aux) = read_rdb(&aof.join(&new_base));
    assert_eq!(aux.get(&b"aof-base"[..]).map(Vec::as_slice), Some(&b"1"[..]));
    assert_eq!(keys.len(), 10);
    assert_eq!(keys.get(&(3, b"bin\x00key".to_vec())), Some(&(b"\xff\r\n\x00".to_vec(), None)));
}

#[test]
fn we_read_a_directory_redis_writes() {
    let dir = TempDir::new("aof-redis");
    let aof = aof_dir(&dir);
    // appendfsync always, so that each write is in the file when its reply comes (see above).
    let server = ServerProcess::redis(&dir.0, &["--appendonly", "yes", "--appendfsync", "always"]);
    let mut con = server.connect();

    let first = read_manifest(&aof, BASENAME).unwrap().expect("Redis creates the manifest at start-up");
    assert_eq!(
        first.to_text(),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    let (keys, aux) = read_rdb(&aof.join("appendonly.aof.1.base.rdb"));
    assert!(keys.is_empty());
    assert_eq!(aux.get(&b"aof-base"[..]).map(Vec::as_slice), Some(&b"1"[..]));

    let before_expire = now_ms();
    redis::cmd("SET").arg("k1").arg("v1").query::<()>(&mut con).unwrap();
    redis::cmd("INCR").arg("counter").query::<i64>(&mut con).unwrap();
    redis::cmd("INCR").arg("counter").query::<i64>(&mut con).unwrap();
    redis::cmd("EXPIRE").arg("k1").arg(1000).query::<()>(&mut con).unwrap();
    let after_expire = now_ms();
    redis::cmd("GET").arg("k1").query::<String>(&mut con).unwrap();
    redis::cmd("SELECT").arg(2).query::<()>(&mut con).unwrap();
    redis::cmd("SET").arg("k2").arg(&b"v\x002"[..]).query::<()>(&mut con).unwrap();
    redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("a")
        .arg(1)
        .cmd("INCR")
        .arg("a")
        .cmd("GET")
        .arg("a")
        .query::<()>(&mut con)
        .unwrap();

    let incr = read_commands(&aof.join("appendonly.aof.1.incr.aof"));
    assert_eq!(incr.len(), 11, "{incr:?}");
    // EXPIRE is written as PEXPIREAT with the absolute time Redis computed.
    let expire_at: i64 = std::str::from_utf8(&incr[4][2]).unwrap().parse().unwrap();
    assert!((before_expire + 1_000_000..=after_expire + 1_000_000).contains(&expire_at), "{expire_at}");
    let expire_at = expire_at.to_string();
    let expected = [
        cmd(&[b"SELECT", b"0"]),
        cmd(&[b"SET", b"k1", b"v1"]),
        cmd(&[b"INCR", b"counter"]),
        cmd(&[b"INCR", b"counter"]),
        cmd(&[b"PEXPIREAT", b"k1", expire_at.as_bytes()]),
        cmd(&[b"SELECT", b"2"]),
        cmd(&[b"SET", b"k2", b"v\x002"]),
        cmd(&[b"MULTI"]),
        cmd(&[b"SET", b"a", b"1"]),
        cmd(&[b"INCR", b"a"]),
        cmd(&[b"EXEC"]),
    ];
    assert_eq!(incr, expected);

    // First rewrite: the dataset moves into base 2, new writes go to incr 2, the old files go.
    rewrite(&mut con);
    redis::cmd("SET").arg("after").arg("rewrite").query::<()>(&mut con).unwrap();
    redis::cmd("DEL").arg("k2").query::<()>(&mut con).unwrap();
    let mut expected_manifest = first.clone();
    expected_manifest.new_incr(BASENAME);
    expected_manifest.new_base(BASENAME, true);
    expected_manifest.mark_incrs_as_history();
    expected_manifest.take_history();
    let second = read_manifest(&aof, BASENAME).unwrap().unwrap();
    assert_eq!(second, expected_manifest);
    assert_eq!(
        second.to_text(),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    assert!(!aof.join("appendonly.aof.1.incr.aof").exists());

    let (keys, _) = read_rdb(&aof.join("appendonly.aof.2.base.rdb"));
    let entry =
        |db, key: &str, value: &[u8], expire: Option<i64>| ((db, key.as_bytes().to_vec()), (value.to_vec(), expire));
    let mut expected_keys: RdbContents = [
        entry(0, "k1", b"v1", Some(expire_at.parse().unwrap())),
        entry(0, "counter", b"2", None),
        entry(2, "k2", b"v\x002", None),
        entry(2, "a", b"2", None),
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected_keys);
    assert_eq!(
        read_commands(&aof.join("appendonly.aof.2.incr.aof")),
        [cmd(&[b"SELECT", b"2"]), cmd(&[b"SET", b"after", b"rewrite"]), cmd(&[b"DEL", b"k2"])]
    );

    // Second rewrite: base 3 holds it all.
    rewrite(&mut con);
    expected_manifest.new_incr(BASENAME);
    expected_manifest.new_base(BASENAME, true);
    expected_manifest.mark_incrs_as_history();
    expected_manifest.take_history();
    assert_eq!(read_manifest(&aof, BASENAME).unwrap(), Some(expected_manifest));
    expected_keys.remove(&(2, b"k2".to_vec()));
    expected_keys.extend([entry(2, "after", b"rewrite", None)]);
    assert_eq!(read_rdb(&aof.join("appendonly.aof.3.base.rdb")).0, expected_keys);
    assert!(read_commands(&aof.join("appendonly.aof.3.incr.aof")).is_empty());
}

/// How redis-server ended up with an incr file: loaded (and what the file's size is after), or
/// refused to start (and its log).
enum RedisVerdict {
    Loaded { size: u64 },
    Refused { log: String },
}

/// Starts redis-server on a directory whose only AOF file is `incr` and sees what it makes of it.
fn redis_verdict(incr: &[u8], load_truncated: bool) -> RedisVerdict {
    let dir = TempDir::new("aof-verdict");
    let aof = aof_dir(&dir);
    std::fs::create_dir(&aof).unwrap();
    let mut m = Manifest::default();
    let name = m.new_incr(BASENAME);
    std::fs::write(aof.join(&name), incr).unwrap();
    write_manifest(&aof, BASENAME, &m).unwrap();

    let port = free_port();
    let log = dir.0.join("redis.log");
    let mut child = Command::new(program("REDIS_SERVER", "redis-server"))
        .args(["--save", "", "--appendonly", "yes", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--aof-load-truncated", if load_truncated { "yes" } else { "no" }])
        .arg("--dir")
        .arg(&dir.0)
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server on PATH (apt-get install -y redis-server)");
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let verdict = loop {
        if let Some(_status) = child.try_wait().unwrap() {
            break RedisVerdict::Refused { log: std::fs::read_to_string(&log).unwrap_or_default() };
        }
        if let Ok(mut con) = redis::Client::open(url.as_str()).unwrap().get_connection() {
            if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                break RedisVerdict::Loaded { size: std::fs::metadata(aof.join(&name)).unwrap().len() };
            }
        }
        assert!(Instant::now() < deadline, "redis-server neither started nor exited");
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = child.kill();
    let _ = child.wait();
    verdict
}

/// How our reader ends on `file`.
fn our_verdict(file: &[u8]) -> Result<(), AofReadError> {
    let mut reader = AofReader::new(file);
    loop {
        match reader.next_command() {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn cut_and_damaged_files_are_judged_as_redis_judges_them() {
    let mut whole = Vec::new();
    encode(&mut whole, &[cmd(&[b"SELECT", b"0"]), cmd(&[b"SET", b"k", b"v"]), cmd(&[b"MULTI"]), cmd(&[b"INCR", b"n"])]);
    let mut before_multi = Vec::new();
    encode(&mut before_multi, &[cmd(&[b"SELECT", b"0"]), cmd(&[b"SET", b"k", b"v"])]);
    let up_to_multi = before_multi.len() as u64;
    let mut with_exec = whole.clone();
    encode(&mut with_exec, &[cmd(&[b"EXEC"])]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("whole", with_exec.clone()),
        ("cut in a bulk", with_exec[..30].to_vec()),
        ("cut in a count", with_exec[..24].to_vec()),
        ("cut before a CRLF", with_exec[..with_exec.len() - 2].to_vec()),
        ("cut between the CR and LF", with_exec[..with_exec.len() - 1].to_vec()),
        ("a MULTI without EXEC", whole.clone()),
        ("cut inside a MULTI", with_exec[..with_exec.len() - 5].to_vec()),
        ("garbage after", [&with_exec[..], b"garbage\r\n"].concat()),
        ("a zero count", [&with_exec[..], b"*0\r\n"].concat()),
        ("an inline command", [&with_exec[..], b"PING\r\n"].concat()),
        ("a bulk length larger than the file", [&with_exec[..], b"*1\r\n$1000000\r\nabc"].concat()),
    ];
    for (what, file) in &cases {
        let theirs = redis_verdict(file, true);
        match (our_verdict(file), theirs) {
            (Ok(()), RedisVerdict::Loaded { size }) => assert_eq!(size, file.len() as u64, "{what}"),
            (Err(e), RedisVerdict::Loaded { size }) if e.truncate_to().is_some() => {
                assert_eq!(e.truncate_to(), Some(size), "{what}: {e}");
            }
            (Err(AofReadError::Corrupt { .. }), RedisVerdict::Refused { log }) => {
                assert!(log.contains("Bad file format reading the append only file"), "{what}:\n{log}")
            }
            (ours, RedisVerdict::Loaded { size }) => {
                panic!("{what}: Redis loaded it ({size} bytes left), we: {ours:?}")
            }
            (ours, RedisVerdict::Refused { log }) => panic!("{what}: Redis refused it, we: {ours:?}\n{log}"),
        }
    }
    // The MULTI cases, spelled out: Redis reverts to before the MULTI when the file ends after
    // a whole command inside it, and to the last whole command when it ends inside one.
    assert!(
        matches!(our_verdict(&whole), Err(AofReadError::UnfinishedMulti { valid_up_to }) if valid_up_to == up_to_multi)
    );
    assert!(matches!(
        our_verdict(&with_exec[..with_exec.len() - 5]),
        Err(AofReadError::Truncated { valid_up_to }) if valid_up_to == whole.len() as u64
    ));

    // Without aof-load-truncated, Redis refuses a truncated file, and says so.
    match redis_verdict(&with_exec[..30], false) {
        RedisVerdict::Refused { log } => assert!(log.contains("Unexpected end of file"), "{log}"),
        RedisVerdict::Loaded { .. } => panic!("Redis loaded a truncated file with aof-load-truncated no"),
    }

    // Where we differ on purpose: an annotation cut short at the end. Redis loads the file as it
    // is (and would append its next command to the annotation line); we call it truncated.
    let cut_annotation = [&with_exec[..], b"#TS:17000"].concat();
    assert!(
        matches!(redis_verdict(&cut_annotation, true), RedisVerdict::Loaded { size } if size == cut_annotation.len() as u64)
    );
    assert!(matches!(
        our_verdict(&cut_annotation),
        Err(AofReadError::Truncated { valid_up_to }) if valid_up_to == with_exec.len() as u64
    ));
}

/// `redis-check-aof` on a single file: its `ok_up_to` is our `valid_up_to` when the file is cut
/// inside a command, and it accepts every file we encode.
#[test]
fn redis_check_aof_agrees_on_where_a_file_stops_being_valid() {
    let dir = TempDir::new("aof-check");
    let mut file = Vec::new();
    encode(
        &mut file,
        &[
            cmd(&[b"SET", b"k", b"v"]),
            cmd(&[b"SET", b"", b"\r\n\x00\xff"]),
            cmd(&[b"RPUSH", b"list", b"a", b"b", b"c"]),
            cmd(&[b"SET", b"big", &vec![b'z'; 100_000]]),
        ],
    );
    let path = dir.0.join("single.aof");
    std::fs::write(&path, &file).unwrap();
    let (status, report) = check_aof(&path);
    assert!(status.success() && report.contains("is valid"), "{report}");
    assert!(report.contains(&format!("size={}, ok_up_to={}, ", file.len(), file.len())), "{report}");

    for cut in [1, 5, 20, 33, 60, file.len() - 50_000, file.len() - 1] {
        std::fs::write(&path, &file[..cut]).unwrap();
        let ours = our_verdict(&file[..cut]);
        let Err(AofReadError::Truncated { valid_up_to }) = ours else { panic!("cut at {cut}: {ours:?}") };
        let (status, report) = check_aof(&path);
        assert!(!status.success(), "cut at {cut}: {report}");
        assert!(report.contains(&format!("size={cut}, ok_up_to={valid_up_to}, ")), "cut at {cut}: {report}");
    }
}
