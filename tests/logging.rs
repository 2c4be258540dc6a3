//! Log lines as Redis writes them (`pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`, checked
//! against a real redis-server's own lines), the role letter following replication, no colour
//! codes on a pipe, and `log-format json`.

mod common;

use common::keyspace::wait_until;
use common::process::ServerProcess;
use common::TempDir;
use regex::Regex;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// A Redis log line: pid, role, local time to the millisecond, level letter, message.
fn redis_line() -> Regex {
    Regex::new(r"^(\d+):([MSCX]) \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2}\.\d{3} [.\-*#] \S").unwrap()
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.is_empty()).collect()
}

/// The server's log once it holds the ready line (the server may answer a PING a moment
/// before it writes that line).
fn logged_ready(server: &ServerProcess) -> String {
    wait_until("the ready line", || server.log_text().contains("Ready to accept connections"));
    server.log_text()
}

#[test]
fn log_lines_are_redis_lines() {
    let line = redis_line();
    // The pattern is Redis's: every line redis-server writes to its logfile matches it (but
    // its start-up banner, which is ASCII art).
    let theirs = TempDir::new("log-redis");
    let logfile = theirs.0.join("redis.log");
    let redis = ServerProcess::redis(&theirs.0, &["--logfile", logfile.to_str().unwrap()]);
    wait_until("redis to log that it is ready", || {
        std::fs::read_to_string(&logfile).unwrap_or_default().contains("Ready to accept connections")
    });
    let text = std::fs::read_to_string(&logfile).unwrap();
    let ready = lines(&text).into_iter().find(|l| l.contains("Ready to accept connections")).unwrap().to_string();
    assert!(line.is_match(&ready), "{ready}");
    drop(redis);

    let ours = TempDir::new("log-ours");
    let primary = ServerProcess::ferrocache(&ours.0, &[]);
    let text = logged_ready(&primary);
    let all = lines(&text);
    assert!(!all.is_empty());
    for l in &all {
        let caps = line.captures(l).unwrap_or_else(|| panic!("not a Redis log line: {l:?}\n{text}"));
        assert_eq!(caps[1].parse::<u32>().unwrap(), primary.child.id(), "{l}");
        assert_eq!(&caps[2], "M", "{l}");
        assert!(!l.contains('\u{1b}'), "colour codes in {l:?}");
    }
    assert!(all.iter().any(|l| l.contains(" * Ready to accept connections")), "{text}");

    // A replica's lines say S once it is one.
    let replica_dir = TempDir::new("log-replica");
    let port = primary.addr.port().to_string();
    let replica = ServerProcess::ferrocache(&replica_dir.0, &["--replicaof", "127.0.0.1", &port]);
    wait_until("the replica's lines to say S", || {
        lines(&replica.log_text()).iter().any(|l| line.captures(l).is_some_and(|c| &c[2] == "S"))
    });
}

#[test]
fn stderr_on_a_pipe_gets_no_colour() {
    let dir = TempDir::new("log-stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--save", ""])
        .arg("--dir")
        .arg(&dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for l in BufReader::new(child.stderr.take().unwrap()).lines() {
        let l = l.unwrap();
        let done = l.contains("Ready to accept connections");
        seen.push(l);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = redis_line();
    assert!(seen.iter().any(|l| l.contains("Ready to accept connections")), "{seen:?}");
    for l in &seen {
        assert!(line.is_match(l) && !l.contains('\u{1b}'), "{l:?}");
    }
}

#[test]
fn log_format_json_is_one_object_a_line() {
    let dir = TempDir::new("log-json");
    let server = ServerProcess::ferrocache(&dir.0, &["--log-format", "json"]);
    let text = logged_ready(&server);
    let utc = Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
    let mut ready = None;
    for l in lines(&text) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
        assert_eq!(v["pid"], server.child.id(), "{l}");
        assert_eq!(v["role"], "master", "{l}");
        assert!(["debug", "notice", "warning"].contains(&v["level"].as_str().unwrap()), "{l}");
        let time = v["time"].as_str().unwrap();
        assert!(utc.is_match(time), "{l}");
        if v["message"].as_str().unwrap().starts_with("Ready to accept connections") {
            ready = Some(v);
        }
    }
    // An event's fields are the object's own.
    let ready = ready.unwrap_or_else(|| panic!("no ready line:\n{text}"));
    assert_eq!(ready["level"], "notice");
    assert_eq!(ready["port"].as_u64(), Some(u64::from(server.addr.port())), "{ready}");

    // Anything else is refused at start-up, with Redis's wording for an enum.
    let refused = TempDir::new("log-xml");
    let (status, _) = ServerProcess::ferrocache_failing(&refused.0, &["--log-format", "xml"]);
    let stderr = std::fs::read_to_string(refused.0.join("ferrocache.stderr")).unwrap_or_default();
    assert!(!status.success());
    assert!(stderr.contains("argument(s) must be one of the following: redis, json"), "{stderr}");
}

/// `syslog-enabled yes`: each line goes to the syslog socket as glibc's `syslog()` sends Redis's
/// (`<PRI>Mmm dd hh:mm:ss ident[pid]: message`), PRI from `syslog-facility` and the level. The
/// socket is the test's (`FERROCACHE_SYSLOG_SOCKET`; a test cannot bind `/dev/log`).
#[test]
fn syslog_gets_the_lines() {
    let dir = TempDir::new("log-syslog");
    let path = dir.0.join("log.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--save", "", "--syslog-enabled", "yes"])
        .args(["--syslog-ident", "fctest", "--syslog-facility", "local3"])
        .arg("--dir")
        .arg(&dir.0)
        .env("FERROCACHE_SYSLOG_SOCKET", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = Regex::new(
        r"^<(\d+)>(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2} fctest\[(\d+)\]: (.+)$",
    )
    .unwrap();
    let mut buf = vec![0u8; 65536];
    let ready = loop {
        let n = socket.recv(&mut buf).expect("a syslog datagram");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let caps = line.captures(&text).unwrap_or_else(|| panic!("not a syslog line: {text:?}"));
        assert_eq!(caps[3].parse::<u32>().unwrap(), child.id(), "{text}");
        if caps[4].starts_with("Ready to accept connections") {
            break (caps[1].to_string(), caps[4].to_string());
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    // local3 is facility 19, notice severity 5.
    assert_eq!(ready.0, "157");
    assert!(ready.1.contains(" port="), "{}", ready.1);

    // Redis's refusal of a facility it does not know.
    let refused = TempDir::new("log-facility");
    let (status, _) = ServerProcess::ferrocache_failing(&refused.0, &["--syslog-facility", "local9"]);
    let stderr = std::fs::read_to_string(refused.0.join("ferrocache.stderr")).unwrap_or_default();
    assert!(!status.success());
    let want = "argument(s) must be one of the following: user, local0, local1, local2, local3, local4, local5, local6, local7";
    assert!(stderr.contains(want), "{stderr}");
}
