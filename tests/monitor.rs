//! MONITOR against a real redis-server: the same commands give the same lines (timestamps
//! and client ports aside), in the same order; a monitor that stops reading is closed
//! rather than fed a stream with lines missing.

mod common;

use common::process::ServerProcess;
use common::{Conn, TempDir, TestServer};
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

/// `+1339518083.107412 [0 127.0.0.1:60866] "SET" "k"` → `[0] "SET" "k"`.
fn normalize(line: &str) -> String {
    assert!(line.starts_with('+') && line.ends_with("\r\n"), "not a monitor line: {line:?}");
    let open = line.find(" [").expect("[db addr]");
    let close = line[open..].find(']').expect("]") + open;
    let db = line[open + 2..close].split(' ').next().unwrap();
    format!("[{db}]{}", line[close + 1..].trim_end())
}

/// Runs `batches` (each sent in one write, then every reply read) from one client while a
/// monitor watches; returns the monitor's lines up to a final sentinel command.
fn monitored(addr: SocketAddr, batches: &[(&str, usize)]) -> Vec<String> {
    let mut m = Conn::new(addr);
    m.roundtrip(&[b"MONITOR"], b"+OK\r\n");
    let mut c = Conn::new(addr);
    for (text, replies) in batches {
        c.send(text.as_bytes());
        for _ in 0..*replies {
            c.read_reply_text();
        }
    }
    c.roundtrip(&[b"ECHO", b"sentinel"], b"$8\r\nsentinel\r\n");
    let mut lines = Vec::new();
    loop {
        let line = normalize(&m.read_line());
        if line == "[0] \"ECHO\" \"sentinel\"" {
            return lines;
        }
        lines.push(line);
    }
}

#[test]
fn monitor_lines_match_redis_server() {
    let batches: &[(&str, usize)] = &[
        // EXEC after the commands it ran.
        ("MULTI\r\nSET a 1\r\nINCR a\r\nEXEC\r\n", 4),
        // The db is the one each command leaves selected.
        ("SELECT 3\r\nSET x 1\r\nSELECT 0\r\nGET x\r\n", 4),
        ("MULTI\r\nSELECT 5\r\nSET y 1\r\nEXEC\r\nGET y\r\nSELECT 0\r\n", 6),
        // Passwords are redacted; what follows KEYS is key names.
        ("MIGRATE 127.0.0.1 1 nokey 0 100 AUTH pw\r\n", 1),
        ("MIGRATE 127.0.0.1 1 \"\" 0 100 COPY AUTH2 user pw KEYS auth nokey2\r\n", 1),
        ("AUTH x\r\nAUTH u p\r\nHELLO 2 AUTH u p SETNAME n\r\n", 3),
        // Queued then discarded: not shown. Rejected while queueing: not shown.
        ("MULTI\r\nGET a\r\nDISCARD\r\n", 3),
        ("MULTI\r\nNOSUCHCOMMAND\r\nEXEC\r\n", 3),
        ("MULTI\r\nSET a\r\nEXEC\r\n", 3),
        // Admin commands are not shown.
        ("SET k \"a\\\"b\"\r\nCONFIG GET maxclients\r\nPING\r\n", 3),
    ];
    let dir = TempDir::new("monitor-redis");
    let redis = ServerProcess::redis(&dir.0, &[]);
    let expected = monitored(redis.addr, batches);
    let server = TestServer::start();
    let got = monitored(server.addr, batches);
    assert_eq!(got, expected);
    // Not vacuous: the lines the cases are about.
    for line in [
        "[0] \"EXEC\"",
        "[5] \"EXEC\"",
        "[3] \"SET\" \"x\" \"1\"",
        "[0] \"MIGRATE\" \"127.0.0.1\" \"1\" \"nokey\" \"0\" \"100\" \"AUTH\" \"(redacted)\"",
        "[0] \"MIGRATE\" \"127.0.0.1\" \"1\" \"\" \"0\" \"100\" \"COPY\" \"AUTH2\" \"(redacted)\" \"(redacted)\" \"KEYS\" \"auth\" \"nokey2\"",
    ] {
        assert!(got.iter().any(|l| l == line), "no {line} in {got:#?}");
    }
}

#[test]
fn a_monitor_sees_its_own_commands_right_after_their_replies() {
    // As redis-server: the monitor is registered before MONITOR's +OK, so the PING
    // pipelined behind it is shown, after PING's own reply.
    let server = TestServer::start();
    let mut m = server.connect();
    m.send(b"MONITOR\r\nPING\r\nECHO hi\r\n");
    m.expect(b"+OK\r\n+PONG\r\n");
    assert_eq!(normalize(&m.read_line()), "[0] \"PING\"");
    m.expect(b"$2\r\nhi\r\n");
    assert_eq!(normalize(&m.read_line()), "[0] \"ECHO\" \"hi\"");
}

#[test]
fn reset_stops_monitoring() {
    let server = TestServer::start();
    let mut m = server.connect();
    m.roundtrip(&[b"MONITOR"], b"+OK\r\n");
    m.roundtrip(&[b"RESET"], b"+RESET\r\n");
    let mut c = server.connect();
    c.roundtrip(&[b"SET", b"k", b"v"], b"+OK\r\n");
    // The next thing on the former monitor's connection is its own reply, no SET line.
    m.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn a_monitor_that_stops_reading_is_closed_never_fed_a_gap() {
    let dir = TempDir::new("monitor-flood");
    let server = ServerProcess::ferrocache(&dir.0, &[]);
    let mut m = Conn::new(server.addr);
    m.roundtrip(&[b"MONITOR"], b"+OK\r\n");
    // ~150 MB of lines from a client that reads its replies: more than the 32 MB queue, a
    // write of up to as much in progress, and the sockets' buffers.
    let value = vec![b'v'; 64 * 1024];
    let mut c = Conn::new(server.addr);
    for batch in 0..24 {
        for i in 0..100 {
            let key = format!("k{}", batch * 100 + i);
            c.cmd(&[b"SET", key.as_bytes(), &value]);
        }
        for _ in 0..100 {
            c.expect(b"+OK\r\n");
        }
    }
    // The monitor reads now: consecutive keys from k0, then the end of the connection.
    m.stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut text = Vec::new();
    let end = m.stream.read_to_end(&mut text);
    assert!(
        end.is_ok() || end.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the monitor was not closed: {end:?}"
    );
    let text = String::from_utf8_lossy(&text);
    let mut next = 0;
    for line in text.split_inclusive("\r\n") {
        if !line.ends_with("\r\n") {
            break; // cut off mid-line by the close
        }
        let key = normalize(line).split('"').nth(3).unwrap().to_string();
        assert_eq!(key, format!("k{next}"), "a gap in the stream");
        next += 1;
    }
    assert!(next < 2400, "closed, so not every line arrived");
    let log = server.log_text();
    assert!(log.contains("scheduled to be closed ASAP for overcoming of output buffer limits"), "{log}");
    c.roundtrip(&[b"PING"], b"+PONG\r\n");
}
