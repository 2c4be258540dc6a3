//! Real Redis tools and clients against Ferrocache: redis-cli (one-shot), redis-benchmark,
//! an inline request over a bare socket as `nc` sends it, and redis-py. These are the
//! programs users point at us first; each must run without an error.
//!
//! The tools must be installed (`apt-get install -y redis-tools`, `pip install redis`); a
//! missing tool fails the test with that instruction rather than skipping it.

mod common;

use common::TestServer;
use std::process::Command;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}): install it (apt-get install -y redis-tools / pip install redis)")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{program} {args:?} failed: {stdout}\n{stderr}");
    stdout + &stderr
}

#[test]
fn redis_cli_one_shot() {
    let server = TestServer::start();
    let port = server.addr.port().to_string();
    let cli = |args: &[&str]| {
        let mut all = vec!["-h", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        run("redis-cli", &all)
    };
    assert_eq!(cli(&["SET", "k", "hello world"]), "OK\n");
    assert_eq!(cli(&["GET", "k"]), "hello world\n");
    assert_eq!(cli(&["-n", "2", "SET", "k", "db2"]), "OK\n");
    assert_eq!(cli(&["-n", "2", "GET", "k"]), "db2\n");
    // Without a tty redis-cli prints nil as an empty line, in RESP2 and RESP3 alike.
    assert_eq!(cli(&["GET", "nothing"]), "\n");
    assert_eq!(cli(&["-3", "GET", "nothing"]), "\n");
    // redis-cli prints an error and then a blank line, as it does against redis-server.
    assert_eq!(cli(&["NOSUCH"]), "ERR unknown command 'NOSUCH', with args beginning with: \n\n");
}

#[test]
fn inline_request_over_a_bare_socket() {
    use std::io::{Read, Write};
    let server = TestServer::start();
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    // What `echo 'SET k v' | nc localhost 6379` sends: an inline command ended by a bare LF.
    s.write_all(b"SET k v\nGET k\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "+OK\r\n$1\r\nv\r\n");
}

#[test]
fn redis_benchmark_runs_without_errors() {
    let server = TestServer::start();
    let port = server.addr.port().to_string();
    for pipeline in ["1", "16"] {
        let out = run(
            "redis-benchmark",
            &["-h", "127.0.0.1", "-p", &port, "-t", "ping,set,get,incr,mset", "-n", "5000", "-P", pipeline, "-q"],
        );
        for test in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"] {
            assert!(out.contains(&format!("{test}: ")), "{test} missing from:\n{out}");
        }
        assert!(!out.contains("ERR") && !out.contains("rror"), "redis-benchmark saw an error:\n{out}");
    }
}

#[test]
fn redis_py_resp2_resp3_and_pipelines() {
    let server = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/redis_py_check.py");
    let out = run("python3", &[script, &server.addr.port().to_string()]);
    assert!(out.contains("redis-py ok"), "{out}");
}

/// `DEBUG DIGEST-VALUE`, which `redis-cli --cluster fix` sends to compare a key found on two
/// nodes: the same digests as redis-server's for the same values (SHA-1 mixes, so any slip in
/// the type, the int rendering or the expire marker shows), zeros for a missing key, inside
/// MULTI too; refused while `enable-debug-command` is `no`, as in Redis 7.0.
#[test]
fn debug_digest_value_matches_redis() {
    use common::process::ServerProcess;
    use common::TempDir;
    let (ours, theirs) = (TempDir::new("digest-ours"), TempDir::new("digest-redis"));
    let flags = ["--enable-debug-command", "yes"];
    let servers = [ServerProcess::ferrocache(&ours.0, &flags), ServerProcess::redis(&theirs.0, &flags)];
    let replies: Vec<Vec<redis::Value>> = servers
        .iter()
        .map(|server| {
            let mut con = server.connect();
            let setup: &[&[&str]] = &[
                &["SET", "s", "hello"],
                &["SET", "i", "-12345"],
                &["SET", "r", "x"],
                &["APPEND", "r", "yz"],
                &["SET", "t", "v", "EX", "1000"],
                &["SET", "empty", ""],
            ];
            for args in setup {
                redis::cmd(args[0]).arg(&args[1..]).query::<redis::Value>(&mut con).unwrap();
            }
            let digest = |con: &mut redis::Connection, keys: &[&str]| {
                redis::cmd("DEBUG").arg("DIGEST-VALUE").arg(keys).query::<redis::Value>(con).unwrap()
            };
            let mut pipe = redis::pipe();
            pipe.atomic().cmd("DEBUG").arg("DIGEST-VALUE").arg("s").arg("nope");
            vec![
                digest(&mut con, &["s", "i", "r", "t", "empty", "missing"]),
                digest(&mut con, &[]),
                pipe.query::<redis::Value>(&mut con).unwrap(),
            ]
        })
        .collect();
    assert_eq!(replies[0], replies[1]);
    let zeros = redis::Value::SimpleString("0".repeat(40));
    assert!(matches!(&replies[0][0], redis::Value::Array(d) if d.len() == 6 && d[5] == zeros && d[0] != zeros));

    let off = TempDir::new("digest-off");
    let server = ServerProcess::ferrocache(&off.0, &[]);
    let refused = redis::cmd("DEBUG").arg("DIGEST-VALUE").arg("s").query::<redis::Value>(&mut server.connect());
    assert!(refused.unwrap_err().to_string().contains("DEBUG command not allowed"));
}
