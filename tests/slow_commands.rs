//! One client's slow command does not stop the others (`src/blocking.rs`, and the lock order
//! in `src/store/mod.rs`): the checks here are about order, never time — the other client's
//! answers must arrive while the slow command is still running.

mod common;

use common::{Conn, TestServer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn call(c: &mut Conn, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.call_text(&args)
}

/// Whether `c` has a reply waiting, without waiting for one.
fn has_reply(c: &mut Conn) -> bool {
    c.stream.set_nonblocking(true).expect("nonblocking");
    let mut b = [0u8; 1];
    let ready = matches!(c.stream.peek(&mut b), Ok(n) if n > 0);
    c.stream.set_nonblocking(false).expect("blocking");
    ready
}

fn debug_server() -> TestServer {
    TestServer::with_config(|c| c.enable_debug_command = "yes".into())
}

/// Two keys the default 64 shards keep apart.
fn keys_on_two_shards() -> (String, String) {
    let store = ferrocache::store::Store::new(1, 64, ferrocache::store::Clock::System);
    let a = "a".to_string();
    let b = (0..).map(|i| format!("b{i}")).find(|b| store.shard_index(b.as_bytes()) != store.shard_index(a.as_bytes()));
    (a, b.expect("some key on another shard"))
}

#[test]
fn exec_holds_only_its_keys_shards() {
    let server = debug_server();
    let (a, b) = keys_on_two_shards();
    let mut other = server.connect();
    assert_eq!(call(&mut other, &["SET", &b, "1"]), "+OK\r\n");
    let mut tx = server.connect();
    call(&mut tx, &["MULTI"]);
    call(&mut tx, &["SET", &a, "1"]);
    call(&mut tx, &["DEBUG", "SLEEP", "3"]);
    tx.cmd(&[b"EXEC"]);
    // The EXEC sleeps holding a's shard only: a key elsewhere, and PING, answer meanwhile.
    assert_eq!(call(&mut other, &["PING"]), "+PONG\r\n");
    assert_eq!(call(&mut other, &["GET", &b]), "$1\r\n1\r\n");
    assert_eq!(call(&mut other, &["INCR", &b]), ":2\r\n");
    assert!(!has_reply(&mut tx), "EXEC finished before the other client was answered");
    assert_eq!(tx.read_reply_text(), "*2\r\n+OK\r\n+OK\r\n");
}

#[test]
fn debug_sleep_stops_only_its_client() {
    let server = debug_server();
    let mut sleeper = server.connect();
    sleeper.cmd(&[b"DEBUG", b"SLEEP", b"3"]);
    let mut other = server.connect();
    for _ in 0..10 {
        assert_eq!(call(&mut other, &["PING"]), "+PONG\r\n");
        assert_eq!(call(&mut other, &["SET", "k", "v"]), "+OK\r\n");
    }
    assert!(!has_reply(&mut sleeper), "DEBUG SLEEP 3 returned before ten round trips of another client");
    assert_eq!(sleeper.read_reply_text(), "+OK\r\n");
}

#[test]
fn debug_is_refused_unless_enabled_and_parses_as_redis() {
    let server = TestServer::start();
    let mut c = server.connect();
    let refused = "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can \
                   run it from a local connection, otherwise you need to set this option in the configuration file, \
                   and then restart the server.\r\n";
    assert_eq!(call(&mut c, &["DEBUG", "SLEEP", "0"]), refused);
    assert_eq!(call(&mut c, &["DEBUG"]), "-ERR wrong number of arguments for 'debug' command\r\n");
    assert_eq!(
        call(&mut c, &["CONFIG", "GET", "enable-debug-command"]),
        "*2\r\n$20\r\nenable-debug-command\r\n$2\r\nno\r\n"
    );
    assert_eq!(
        call(&mut c, &["CONFIG", "SET", "enable-debug-command", "yes"]),
        "-ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - can't set immutable config\r\n"
    );

    let server = TestServer::with_config(|c| c.enable_debug_command = "local".into());
    let mut c = server.connect();
    // Answers as redis-server 7.0.15 does: strtod's reading of the argument, 0 when none.
    for ok in [
        &["DEBUG", "SLEEP", "0"][..],
        &["DEBUG", "SLEEP", "abc"],
        &["DEBUG", "SLEEP", "-1"],
        &["debug", "sleep", "0.01x"],
    ] {
        assert_eq!(call(&mut c, ok), "+OK\r\n", "{ok:?}");
    }
    let unknown =
        |sub: &str| format!("-ERR unknown subcommand or wrong number of arguments for '{sub}'. Try DEBUG HELP.\r\n");
    assert_eq!(call(&mut c, &["DEBUG", "SLEEP"]), unknown("SLEEP"));
    assert_eq!(call(&mut c, &["DEBUG", "sleep", "0.1", "x"]), unknown("sleep"));
    assert_eq!(call(&mut c, &["DEBUG", "nosuch"]), unknown("nosuch"));
}

/// A MIGRATE target that reads one request, tells the test, and answers `+OK` per RESTORE once
/// the test says so; returns every request it got.
fn gated_target(requests: usize) -> (u16, std::sync::mpsc::Receiver<Vec<u8>>, std::sync::mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (got_tx, got_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("MIGRATE connects");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        for _ in 0..requests {
            let request = read_request(&mut s);
            let restores = request.windows(9).filter(|w| w.eq_ignore_ascii_case(b"\r\nRESTORE")).count();
            let selects = request.windows(8).filter(|w| w.eq_ignore_ascii_case(b"\r\nSELECT")).count();
            let dels = request.windows(7).filter(|w| w.eq_ignore_ascii_case(b"\r\nDEL\r\n")).count();
            got_tx.send(request).expect("test listening");
            go_rx.recv().expect("test says go");
            s.write_all(&[b"+OK\r\n".repeat(restores + selects), b":1\r\n".repeat(dels)].concat()).expect("reply");
        }
    });
    (port, got_rx, go_tx)
}

/// Reads until the bytes received end a whole number of RESP multibulk commands (enough for
/// the MIGRATE requests of these tests, whose payloads hold no CR LF).
fn read_request(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).expect("read the request");
        assert!(n > 0, "MIGRATE closed the connection");
        out.extend_from_slice(&buf[..n]);
        if complete(&out) {
            return out;
        }
    }
}

fn complete(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        let Some(n) = parse_len(b, &mut i, b'*') else { return false };
        for _ in 0..n {
            let Some(len) = parse_len(b, &mut i, b'$') else { return false };
            i += len + 2;
            if i > b.len() {
                return false;
            }
        }
    }
    true
}

fn parse_len(b: &[u8], i: &mut usize, kind: u8) -> Option<usize> {
    if b.get(*i) != Some(&kind) {
        return None;
    }
    let end = b[*i..].windows(2).position(|w| w == b"\r\n")? + *i;
    let n = std::str::from_utf8(&b[*i + 1..end]).ok()?.parse().ok()?;
    *i = end + 2;
    Some(n)
}

/// `moving` set to a value, and a MIGRATE of it to a [`gated_target`] (two requests) whose
/// first request the target has received and not yet answered.
struct MigrateInFlight {
    _server: TestServer,
    other: Conn,
    migrating: Conn,
    first: Vec<u8>,
    requests: std::sync::mpsc::Receiver<Vec<u8>>,
    go: std::sync::mpsc::Sender<()>,
}

fn migrate_in_flight(value: &str) -> MigrateInFlight {
    let server = TestServer::start();
    let (port, requests, go) = gated_target(2);
    let mut other = server.connect();
    assert_eq!(call(&mut other, &["SET", "moving", value]), "+OK\r\n");
    let mut migrating = server.connect();
    migrating.cmd(&[b"MIGRATE", b"127.0.0.1", port.to_string().as_bytes(), b"moving", b"0", b"5000"]);
    let first = requests.recv_timeout(Duration::from_secs(10)).expect("first RESTORE");
    MigrateInFlight { _server: server, other, migrating, first, requests, go }
}

#[test]
fn migrate_waits_for_its_target_without_holding_the_key() {
    let MigrateInFlight { other: mut c, mut migrating, first, requests, go, _server } =
        migrate_in_flight("first-version");
    assert!(first.windows(13).any(|w| w == b"first-version"), "{:?}", String::from_utf8_lossy(&first));
    // The target has not answered: the key is not locked meanwhile.
    assert_eq!(call(&mut c, &["SET", "moving", "second-version"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["GET", "moving"]), "$14\r\nsecond-version\r\n");
    go.send(()).expect("target waiting");
    // Written during the transfer: sent again in its new version, replacing the target's copy.
    let second = requests.recv_timeout(Duration::from_secs(10)).expect("second RESTORE");
    let text = String::from_utf8_lossy(&second);
    assert!(text.contains("second-version") && text.contains("REPLACE"), "{text:?}");
    go.send(()).expect("target waiting");
    assert_eq!(migrating.read_reply_text(), "+OK\r\n");
    assert_eq!(call(&mut c, &["EXISTS", "moving"]), ":0\r\n");
}

#[test]
fn a_key_deleted_while_migrate_waits_is_deleted_at_the_target_too() {
    let MigrateInFlight { other: mut c, mut migrating, requests, go, _server, .. } = migrate_in_flight("v");
    assert_eq!(call(&mut c, &["DEL", "moving"]), ":1\r\n");
    go.send(()).expect("target waiting");
    // The target stored the key; it is gone here, so it must go there too (no resurrection).
    let second = requests.recv_timeout(Duration::from_secs(10)).expect("DEL at the target");
    assert_eq!(String::from_utf8_lossy(&second), "*2\r\n$3\r\nDEL\r\n$6\r\nmoving\r\n");
    go.send(()).expect("target waiting");
    assert_eq!(migrating.read_reply_text(), "+OK\r\n");
}

#[test]
fn keys_and_flushall_answer_as_before() {
    let server = TestServer::start();
    let mut c = server.connect();
    for i in 0..500 {
        call(&mut c, &["SET", &format!("key:{i}"), "v"]);
    }
    call(&mut c, &["SET", "other", "v"]);
    let reply = call(&mut c, &["KEYS", "key:*"]);
    assert!(reply.starts_with("*500\r\n"), "{}", &reply[..20]);
    call(&mut c, &["MULTI"]);
    call(&mut c, &["KEYS", "oth*"]);
    call(&mut c, &["SET", "x", "1"]);
    assert_eq!(call(&mut c, &["EXEC"]), "*2\r\n*1\r\n$5\r\nother\r\n+OK\r\n");
    assert_eq!(call(&mut c, &["FLUSHALL", "ASYNC"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["DBSIZE"]), ":0\r\n");
    for i in 0..100 {
        call(&mut c, &["SET", &format!("key:{i}"), "v"]);
    }
    assert_eq!(call(&mut c, &["FLUSHALL"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["KEYS", "*"]), "*0\r\n");
}
