//! # Differential test: Ferrocache against real redis-server 7.0
//!
//! Runs every corpus file in `tests/corpus/*.redis` against a real `redis-server` and an
//! in-process Ferrocache, and compares the replies **byte for byte**. Every mismatch of the run
//! is collected and printed (file:line, the command, both replies escaped); the test fails at
//! the end if there was any.
//!
//! ## Running
//!
//! ```text
//! cargo test --test differential                              # whole corpus
//! DIFFTEST_FILTER=strings cargo test --test differential      # only files whose name contains "strings"
//! DIFFTEST_VERBOSE=1 cargo test --test differential -- --nocapture   # print every exchange
//! DIFFTEST_AGAINST=redis cargo test --test differential       # redis vs a second redis: validates
//!                                                              # that the corpus is deterministic
//! ```
//!
//! `redis-server` must be on `PATH` (or named by `REDIS_SERVER`); if it is missing the test
//! fails (it never skips): `apt-get install -y redis-server`.
//!
//! ## Servers
//!
//! redis-server runs with `--save '' --appendonly no --bind 127.0.0.1 --port N` on a free port
//! (found by binding a listener to port 0 and dropping it) and is killed when the test ends.
//! Ferrocache runs in-process on `127.0.0.1:0` with `Config::default()` and the same `save ""`.
//!
//! ## Corpus format
//!
//! One command per line, split like redis-cli / inline commands (`ferrocache_protocol::split_args`:
//! `"double quotes"` with `\n \r \t \xHH` escapes, `'single quotes'`), sent to both servers as a
//! RESP multibulk. Blank lines and lines starting with `#` are ignored. Every file runs on a fresh
//! connection to each server after `FLUSHALL` and `SELECT 0` (fresh connections speak RESP2); the
//! setup replies must be `+OK` on both, otherwise that is reported as a mismatch at line 0.
//!
//! A line may start with directives (several may be combined, each is one word):
//!
//! | directive     | meaning |
//! |---------------|---------|
//! | `!raw TEXT`   | send TEXT as raw bytes (escapes `\r \n \t \\ \xHH` decoded); must be last |
//! | `!shape`      | compare only the reply's RESP type skeleton (type bytes, aggregate sizes, recursively); errors are still compared exactly. For values that legitimately differ: ids, times, INFO, CLIENT LIST… |
//! | `!sorted`     | sort the elements of every array/set made only of scalars before comparing (KEYS, SCAN keys, …) |
//! | `!replies=N`  | read N replies instead of one (pipelines in `!raw`; `N=0` for CLIENT REPLY OFF/SKIP) |
//! | `!close`      | after the replies, both servers must close the connection (QUIT, …) |
//!
//! A reply that is a `-ERR Protocol error…` implies `!close`. After a close (expected or not),
//! or when one server did not answer within the timeout, the harness reads until the connection
//! closes (or times out), compares what both sides did, and reconnects both (the new connection
//! is in db 0, RESP2, no MULTI). Each corpus file documents its exceptions at the top.

mod common;

use common::reference::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Decodes a `!raw` payload: `\r \n \t \\ \xHH`; any other backslash is kept literally.
fn unescape_raw(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = s.get(i + 2..i + 4).ok_or("truncated \\x escape")?;
                    out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad \\x escape {hex:?}"))?);
                    i += 4;
                    continue;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Step {
    line: usize,
    /// The corpus text (for the report).
    text: String,
    bytes: Vec<u8>,
    compare: Compare,
    replies: usize,
    close: bool,
}

fn parse_corpus(path: &Path) -> Vec<Step> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let content = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut steps = Vec::new();
    for (i, raw_line) in content.lines().enumerate() {
        let line = i + 1;
        let mut rest = raw_line.trim_start();
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        let bad = |why: String| -> ! { panic!("corpus error at {name}:{line}: {why}\n  {raw_line}") };
        let mut compare = Compare::Exact;
        let mut replies = 1;
        let mut close = false;
        let mut raw = None;
        while let Some(d) = rest.strip_prefix('!') {
            let (word, after) = d.split_once(' ').unwrap_or((d, ""));
            rest = after.trim_start();
            match word {
                "raw" => {
                    // The payload is everything after "!raw " exactly (leading blanks included).
                    let payload = &d["raw".len()..];
                    let payload = payload.strip_prefix(' ').unwrap_or(payload);
                    raw = Some(unescape_raw(payload).unwrap_or_else(|e| bad(e)));
                    break;
                }
                "shape" => compare = Compare::Shape,
                "sorted" => compare = Compare::Sorted,
                "close" => close = true,
                w if w.starts_with("replies=") => {
                    replies = w["replies=".len()..].parse().unwrap_or_else(|_| bad(format!("bad directive {w}")))
                }
                w => bad(format!("unknown directive !{w}")),
            }
        }
        let bytes = match raw {
            Some(b) => b,
            None => {
                let args = ferrocache_protocol::split_args(&bytes::Bytes::copy_from_slice(rest.as_bytes()))
                    .unwrap_or_else(|| bad("unbalanced quotes".into()));
                if args.is_empty() {
                    bad("no command".into());
                }
                multibulk(&args)
            }
        };
        steps.push(Step { line, text: raw_line.trim().to_string(), bytes, compare, replies, close });
    }
    steps
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let filter = std::env::var("DIFFTEST_FILTER").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "redis"))
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(&filter))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {} (filter {filter:?})", dir.display());
    files
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

struct Mismatch {
    location: String,
    command: String,
    redis: String,
    ours: String,
    note: &'static str,
}

struct Pair {
    redis_addr: SocketAddr,
    ours_addr: SocketAddr,
    redis: RespConn,
    ours: RespConn,
}

impl Pair {
    fn connect(redis_addr: SocketAddr, ours_addr: SocketAddr) -> Pair {
        let redis = RespConn::connect(redis_addr).expect("connect to redis-server");
        let ours = RespConn::connect(ours_addr).expect("connect to the server under test");
        Pair { redis_addr, ours_addr, redis, ours }
    }

    fn reconnect(&mut self) {
        *self = Pair::connect(self.redis_addr, self.ours_addr);
    }
}

/// Runs one corpus file; returns the number of steps run.
fn run_file(path: &Path, redis_addr: SocketAddr, ours_addr: SocketAddr, out: &mut Vec<Mismatch>) -> usize {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let verbose = std::env::var_os("DIFFTEST_VERBOSE").is_some();
    let steps = parse_corpus(path);
    let mut pair = Pair::connect(redis_addr, ours_addr);

    for setup in [&["FLUSHALL"][..], &["SELECT", "0"][..]] {
        let args: Vec<&[u8]> = setup.iter().map(|s| s.as_bytes()).collect();
        let r = pair.redis.call(&args);
        let o = pair.ours.call(&args);
        let ok = |x: &Outcome| matches!(x, Outcome::Reply(n) if n.head == b"+OK\r\n");
        if !ok(&r) || !ok(&o) {
            out.push(Mismatch {
                location: format!("{name}:0"),
                command: format!("<setup> {}", setup.join(" ")),
                redis: r.describe(Compare::Exact),
                ours: o.describe(Compare::Exact),
                note: "setup must reply +OK on both",
            });
        }
    }

    for step in &steps {
        let location = format!("{name}:{}", step.line);
        let r_sent = pair.redis.send(&step.bytes);
        let o_sent = pair.ours.send(&step.bytes);
        if r_sent.is_err() || o_sent.is_err() {
            out.push(Mismatch {
                location,
                command: step.text.clone(),
                redis: format!("{r_sent:?}"),
                ours: format!("{o_sent:?}"),
                note: "write failed; reconnected",
            });
            pair.reconnect();
            continue;
        }
        let mut desync = false;
        let mut close = step.close;
        for k in 0..step.replies {
            let r = pair.redis.read_reply();
            let o = pair.ours.read_reply();
            if verbose {
                println!(
                    "{location} [{k}] {}\n    redis: {}\n    ours:  {}",
                    step.text,
                    r.describe(step.compare),
                    o.describe(step.compare)
                );
            }
            if !same(&r, &o, step.compare) {
                out.push(Mismatch {
                    location: if step.replies > 1 { format!("{location} (reply {})", k + 1) } else { location.clone() },
                    command: step.text.clone(),
                    redis: r.describe(step.compare),
                    ours: o.describe(step.compare),
                    note: match step.compare {
                        Compare::Exact => "",
                        Compare::Shape => "compared by shape",
                        Compare::Sorted => "compared sorted",
                        Compare::Near(_) => "integers compared with a tolerance",
                        Compare::Kind => "compared by reply type",
                        Compare::Payload => "DUMP payload (table-ordered ones by length)",
                    },
                });
            }
            if !matches!(r, Outcome::Reply(_)) || !matches!(o, Outcome::Reply(_)) {
                desync = true;
                break;
            }
            if r.is_protocol_error() || o.is_protocol_error() {
                close = true;
            }
        }
        if close {
            let r = pair.redis.read_until_close();
            let o = pair.ours.read_until_close();
            let show = |x: &Result<Vec<u8>, Vec<u8>>| match x {
                Ok(b) if b.is_empty() => "<closed>".to_string(),
                Ok(b) => format!("<closed after extra bytes {}>", escape(b)),
                Err(b) => format!("<still open after {READ_TIMEOUT:?}; extra bytes {:?}>", escape(b)),
            };
            if r != o {
                out.push(Mismatch {
                    location: location.clone(),
                    command: step.text.clone(),
                    redis: show(&r),
                    ours: show(&o),
                    note: "connection close",
                });
            }
            pair.reconnect();
        } else if desync {
            pair.reconnect();
        }
    }

    // Catches replies one side sent and the other did not (e.g. after CLIENT REPLY OFF).
    let r = pair.redis.call(&[b"ECHO", b"end-of-file"]);
    let o = pair.ours.call(&[b"ECHO", b"end-of-file"]);
    if !same(&r, &o, Compare::Exact) {
        out.push(Mismatch {
            location: format!("{name}:EOF"),
            command: "ECHO end-of-file (sync check)".into(),
            redis: r.describe(Compare::Exact),
            ours: o.describe(Compare::Exact),
            note: "connections out of step at end of file",
        });
    }
    steps.len()
}

#[test]
fn differential_against_redis() {
    let redis = RedisServer::start();
    let ours = match std::env::var("DIFFTEST_AGAINST").as_deref() {
        Ok("redis") => Server::Redis(RedisServer::start()),
        Ok(other) if !other.is_empty() => panic!("DIFFTEST_AGAINST={other}: only `redis` is supported"),
        _ => Server::Ferro(Ferrocache::start()),
    };
    let ours_name = if matches!(ours, Server::Redis(_)) { "redis#2" } else { "ferrocache" };

    let mut mismatches = Vec::new();
    let mut total = 0;
    let mut per_file = Vec::new();
    for file in corpus_files() {
        let before = mismatches.len();
        let n = run_file(&file, redis.addr, ours.addr(), &mut mismatches);
        total += n;
        per_file.push((file.file_name().unwrap().to_string_lossy().into_owned(), n, mismatches.len() - before));
    }

    let mut report = String::new();
    for m in &mismatches {
        report.push_str(&format!("MISMATCH {}  {}\n", m.location, m.command));
        if !m.note.is_empty() {
            report.push_str(&format!("    ({})\n", m.note));
        }
        report.push_str(&format!("    redis:      {}\n    {:<11} {}\n", m.redis, format!("{ours_name}:"), m.ours));
    }
    report.push_str(&format!("\ndifferential summary vs {ours_name}:\n"));
    for (f, n, bad) in &per_file {
        report.push_str(&format!("  {f:<24} {n:>4} commands  {bad:>4} mismatches\n"));
    }
    report.push_str(&format!("  {:<24} {total:>4} commands  {:>4} mismatches\n", "TOTAL", mismatches.len()));
    if !mismatches.is_empty() {
        let mut by_cmd: std::collections::BTreeMap<String, usize> = Default::default();
        for m in &mismatches {
            let cmd = m.command.split_whitespace().find(|w| !w.starts_with('!')).unwrap_or("").to_uppercase();
            *by_cmd.entry(cmd).or_default() += 1;
        }
        let list: Vec<String> = by_cmd.iter().map(|(c, n)| format!("{c}({n})")).collect();
        report.push_str(&format!("  mismatches by command: {}\n", list.join(" ")));
    }
    println!("{report}");
    drop(ours);
    drop(redis);
    assert!(mismatches.is_empty(), "{} differential mismatch(es); see the report above", mismatches.len());
}

#[test]
fn reply_reader_handles_every_type() {
    let cases: &[&[u8]] = &[
        b"+OK\r\n",
        b"-ERR x\r\n",
        b":12\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"$3\r\na\r\n\r\n",
        b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
        b"%1\r\n+k\r\n~2\r\n_\r\n,1.5\r\n",
        b"#t\r\n",
        b"(123456789012345678901234567890\r\n",
        b"=7\r\ntxt:abc\r\n",
        b"!3\r\nerr\r\n",
        b">2\r\n+message\r\n:1\r\n",
        b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
        b"*0\r\n",
    ];
    for case in cases {
        let (node, used) = parse_node(case, 0).unwrap().unwrap_or_else(|| panic!("incomplete: {}", escape(case)));
        assert_eq!(used, case.len(), "{}", escape(case));
        assert_eq!(node.bytes(), *case);
        for cut in 0..case.len() {
            assert!(parse_node(&case[..cut], 0).unwrap().is_none(), "prefix {cut} of {}", escape(case));
        }
    }
    let keys = parse_node(b"*2\r\n$1\r\n0\r\n*3\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n", 0).unwrap().unwrap().0;
    assert_eq!(keys.sorted().bytes(), b"*2\r\n$1\r\n0\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    assert_eq!(unescape_raw(r"a\r\n\x41\\").unwrap(), b"a\r\nA\\");
}
