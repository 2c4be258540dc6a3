//! Client buffers: output limits (client-output-buffer-limit), client eviction
//! (maxmemory-clients), query buffers shrinking back, and CLIENT LIST's figures for them.
//! Every wait polls CLIENT LIST with a deadline.

mod common;

use common::process::ServerProcess;
use common::{resp, Conn, TempDir, TestServer};
use std::io::Read;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(15);
const VALUE: usize = 100 * 1024;

/// `field` of the CLIENT LIST line of the client named `name`, or None if it is gone.
fn client_field(admin: &mut Conn, name: &str, field: &str) -> Option<u64> {
    let list = admin.call_text(&[b"CLIENT", b"LIST"]);
    let line = list.lines().find(|l| l.contains(&format!(" name={name} ")))?;
    let value = line.split(' ').find_map(|f| f.strip_prefix(&format!("{field}=")))?;
    Some(value.parse().unwrap_or_else(|_| panic!("{field} in {line}")))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
    Instant::now()
}

fn named(server: &TestServer, name: &str) -> Conn {
    let mut c = server.connect();
    c.roundtrip(&[b"CLIENT", b"SETNAME", name.as_bytes()], b"+OK\r\n");
    c
}

/// A client that asks for `gets` copies of a big value and reads none of them.
fn stops_reading(server: &TestServer, name: &str, gets: usize) -> Conn {
    let mut c = named(server, name);
    c.send(&resp(&[b"GET", b"v"]).repeat(gets));
    c
}

fn server_with_value() -> (TestServer, Conn) {
    let server = TestServer::start();
    let mut admin = named(&server, "admin");
    admin.roundtrip(&[b"SET", b"v", &vec![b'v'; VALUE]], b"+OK\r\n");
    (server, admin)
}

#[test]
fn a_client_that_stops_reading_is_closed_at_the_hard_limit() {
    let (server, mut admin) = server_with_value();
    admin.roundtrip(&[b"CONFIG", b"SET", b"client-output-buffer-limit", b"normal 1mb 0 0"], b"+OK\r\n");
    let mut slow = stops_reading(&server, "slow", 1000);
    wait_until("the slow client is closed", || client_field(&mut admin, "slow", "id").is_none());
    // What it had not read is all it gets: the connection ends.
    let mut sink = Vec::new();
    let _ = slow.stream.read_to_end(&mut sink);
    assert!(sink.len() < 1000 * VALUE, "{} bytes", sink.len());
}

#[test]
fn the_limit_from_the_command_line_closes_with_redis_s_log_line() {
    let dir = TempDir::new("obuf-log");
    let server = ServerProcess::ferrocache(&dir.0, &["--client-output-buffer-limit", "normal", "1mb", "0", "0"]);
    let mut admin = Conn::new(server.addr);
    admin.roundtrip(&[b"CLIENT", b"SETNAME", b"admin"], b"+OK\r\n");
    admin.roundtrip(&[b"SET", b"v", &vec![b'v'; VALUE]], b"+OK\r\n");
    let mut slow = Conn::new(server.addr);
    slow.roundtrip(&[b"CLIENT", b"SETNAME", b"slow"], b"+OK\r\n");
    slow.send(&resp(&[b"GET", b"v"]).repeat(1000));
    wait_until("the slow client is closed", || client_field(&mut admin, "slow", "id").is_none());
    let expected = "scheduled to be closed ASAP for overcoming of output buffer limits.";
    wait_until("the closing is logged", || {
        server.log_text().lines().any(|l| l.contains(" name=slow ") && l.ends_with(expected))
    });
}

#[test]
fn without_a_limit_a_client_that_stops_reading_holds_one_pause_of_output_and_is_answered_in_full() {
    let (server, mut admin) = server_with_value();
    let mut slow = stops_reading(&server, "slow", 300);
    wait_until("its output waits", || client_field(&mut admin, "slow", "omem").is_some_and(|m| m > 0));
    let omem = client_field(&mut admin, "slow", "omem").unwrap();
    let tot = client_field(&mut admin, "slow", "tot-mem").unwrap();
    // The pause (1 MB) plus one reply, whatever the client asked for (30 MB here, of which
    // the kernel's socket buffers take some).
    assert!(omem <= (1 << 20) + VALUE as u64 + 64, "omem={omem}");
    assert!(tot <= 4 << 20, "tot-mem={tot}");
    assert_eq!(client_field(&mut admin, "slow", "obl"), Some(16384));
    let one = format!("${VALUE}\r\n").len() + VALUE + 2;
    let mut got = 0;
    let mut buf = vec![0; 1 << 16];
    while got < 300 * one {
        let n = slow.stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {got} bytes");
        got += n;
    }
    assert_eq!(got, 300 * one);
}

#[test]
fn a_client_over_the_soft_limit_is_closed_only_after_its_seconds() {
    let (server, mut admin) = server_with_value();
    admin.roundtrip(&[b"CONFIG", b"SET", b"client-output-buffer-limit", b"normal 0 512kb 1"], b"+OK\r\n");
    let _slow = stops_reading(&server, "slow", 1000);
    let over = wait_until("it is over the soft limit", || {
        client_field(&mut admin, "slow", "omem").is_none_or(|m| m >= 512 * 1024)
    });
    assert!(client_field(&mut admin, "slow", "id").is_some(), "closed at once");
    let closed = wait_until("it is closed", || client_field(&mut admin, "slow", "id").is_none());
    assert!(closed - over >= Duration::from_millis(900), "closed after {:?}", closed - over);
}

#[test]
fn maxmemory_clients_evicts_the_biggest_client_but_not_a_no_evict_one() {
    let server = TestServer::start();
    let mut admin = named(&server, "admin");
    // Two clients in the middle of a 4 MB argument: each holds a buffer for all of it.
    let bloat = |name: &str, no_evict: bool| {
        let mut c = named(&server, name);
        if no_evict {
            c.roundtrip(&[b"CLIENT", b"NO-EVICT", b"on"], b"+OK\r\n");
        }
        c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4000000\r\n");
        c.send(&vec![b'x'; 100_000]);
        c
    };
    let _keep = bloat("keep", true);
    let _big = bloat("big", false);
    wait_until("both buffers are counted", || {
        client_field(&mut admin, "keep", "tot-mem").is_some_and(|m| m > 3_000_000)
            && client_field(&mut admin, "big", "tot-mem").is_some_and(|m| m > 3_000_000)
    });
    admin.roundtrip(&[b"CONFIG", b"SET", b"maxmemory-clients", b"6mb"], b"+OK\r\n");
    wait_until("the biggest evictable client is gone", || client_field(&mut admin, "big", "id").is_none());
    assert!(client_field(&mut admin, "keep", "id").is_some(), "CLIENT NO-EVICT on was evicted");
    let info = admin.call_text(&[b"INFO", b"stats"]);
    assert!(info.contains("evicted_clients:1\r\n"), "{info}");
}

#[test]
fn an_idle_client_s_query_buffer_is_freed() {
    let server = TestServer::start();
    let mut admin = named(&server, "admin");
    let mut c = named(&server, "big");
    // Part of a 1 MB argument: room is made for all of it.
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n");
    c.send(&vec![b'x'; 100_000]);
    wait_until("the part is buffered", || client_field(&mut admin, "big", "qbuf").is_some_and(|q| q >= 100_000));
    assert!(client_field(&mut admin, "big", "qbuf-free").unwrap() >= 800_000);
    // Idle for more than 2 s: only what it holds is kept.
    wait_until("the free space is given back", || client_field(&mut admin, "big", "qbuf-free") == Some(0));
    assert!(client_field(&mut admin, "big", "qbuf").unwrap() >= 100_000);
    // The argument still completes.
    c.send(&vec![b'x'; 900_000]);
    c.send(b"\r\n");
    c.expect(b"+OK\r\n");
    c.roundtrip(&[b"STRLEN", b"k"], b":1000000\r\n");
    wait_until("an idle buffer is freed entirely", || client_field(&mut admin, "big", "qbuf-free") == Some(0));
    let info = admin.call_text(&[b"INFO", b"clients"]);
    let max_input: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("client_recent_max_input_buffer:"))
        .and_then(|v| v.parse().ok())
        .expect("client_recent_max_input_buffer");
    assert!(max_input >= 1_000_000, "{info}");
}

#[test]
fn client_info_shows_its_own_command_s_arguments() {
    let server = TestServer::start();
    let mut c = server.connect();
    let line = c.call_text(&[b"CLIENT", b"INFO"]);
    assert!(line.contains(" argv-mem=10 "), "{line}");
    assert!(line.contains(" multi-mem=0 "), "{line}");
    c.roundtrip(&[b"MULTI"], b"+OK\r\n");
    c.roundtrip(&[b"SET", b"k", b"v"], b"+QUEUED\r\n");
    c.roundtrip(&[b"PING"], b"+QUEUED\r\n");
    let admin_line = {
        let mut admin = server.connect();
        admin.call_text(&[b"CLIENT", b"LIST"])
    };
    let multi_mem = admin_line
        .lines()
        .filter(|l| l.contains(" multi=2 "))
        .find_map(|l| l.split(' ').find_map(|f| f.strip_prefix("multi-mem=")))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("the MULTI client's multi-mem");
    assert!(multi_mem >= 9, "{admin_line}");
}

#[test]
fn a_replica_that_stops_reading_is_dropped_after_the_soft_limit_s_seconds() {
    let dir = TempDir::new("obuf-replica");
    let server = ServerProcess::ferrocache(&dir.0, &["--client-output-buffer-limit", "replica", "0", "1mb", "1"]);
    let mut admin = Conn::new(server.addr);
    // A replica that takes its full sync and then reads nothing more.
    let mut replica = Conn::new(server.addr);
    replica.send(&resp(&[b"PSYNC", b"?", b"-1"]));
    let mut first = [0u8; 11];
    replica.stream.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"+FULLRESYNC");
    wait_until("the replica is online", || admin.call_text(&[b"INFO", b"replication"]).contains("state=online"));
    // Well over the soft limit, and more than the sockets' buffers hold between the two.
    for i in 0..100 {
        admin.roundtrip(&[b"SET", format!("k{i}").as_bytes(), &vec![b'v'; VALUE]], b"+OK\r\n");
    }
    wait_until("the replica is dropped", || admin.call_text(&[b"INFO", b"replication"]).contains("connected_slaves:0"));
    let expected = "scheduled to be closed ASAP for overcoming of output buffer limits.";
    wait_until("the closing is logged", || {
        server.log_text().lines().any(|l| l.contains(" flags=S ") && l.ends_with(expected))
    });
}

/// The CLIENT LIST fields of a blocked client that are not its own address or age.
fn blocked_fields(admin: &mut Conn, name: &str) -> Option<String> {
    let list = admin.call_text(&[b"CLIENT", b"LIST"]);
    let line = list.lines().find(|l| l.contains(&format!(" name={name} ")))?;
    let keep = ["flags=", "argv-mem=", "cmd="];
    Some(line.split(' ').filter(|f| keep.iter().any(|k| f.starts_with(k))).collect::<Vec<_>>().join(" "))
}

/// While a client waits in BLPOP and another in WAIT, CLIENT LIST shows each with `flags=b`,
/// its command and its arguments' `argv-mem`, and INFO counts both in `blocked_clients`, as
/// redis-server does.
#[test]
fn blocked_clients_show_their_command_and_are_counted_as_redis_does() {
    let dir = TempDir::new("obuf-blocked");
    let mut seen = Vec::new();
    for server in [ServerProcess::redis(&dir.0, &[]), ServerProcess::ferrocache(&dir.0, &[])] {
        let mut admin = Conn::new(server.addr);
        let mut waiters = Vec::new();
        for (name, args) in [("pop", &[&b"BLPOP"[..], b"nokey", b"0"][..]), ("wait", &[b"WAIT", b"1", b"0"])] {
            let mut c = Conn::new(server.addr);
            c.roundtrip(&[b"CLIENT", b"SETNAME", name.as_bytes()], b"+OK\r\n");
            c.send(&resp(args));
            waiters.push(c);
        }
        wait_until("both clients block", || {
            admin.call_text(&[b"INFO", b"clients"]).contains("\r\nblocked_clients:2\r\n")
        });
        seen.push([blocked_fields(&mut admin, "pop"), blocked_fields(&mut admin, "wait")]);
    }
    assert_eq!(seen[1], seen[0], "ours, then redis-server's");
    assert_eq!(seen[1][0].as_deref(), Some("flags=b argv-mem=11 cmd=blpop"));
}
