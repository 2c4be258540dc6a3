//! Connections at the limits: the descriptor limit and `maxclients`, `tcp-backlog`,
//! IPv6-only listeners, and loopback seen through an IPv4-mapped address.
//!
//! The descriptor tests start the `ferrocache` binary under `prlimit --nofile=64` (a limit
//! lower than `maxclients` + 32, which a process cannot raise) and connect more clients than
//! it has descriptors: every client must get a reply, none may wait.

mod common;

use common::keyspace::wait_until;
use common::process::ServerProcess;
use common::{Conn, TempDir, TestServer};
use ferrocache::store::Clock;
use ferrocache::Config;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const MAX_CLIENTS_ERR: &str = "-ERR max number of clients reached\r\n";

/// One reply line per client, each bounded by a read timeout: a client left without an
/// answer fails the test instead of hanging it.
fn ping_all(addr: SocketAddr, n: usize) -> Vec<String> {
    let streams: Vec<TcpStream> = (0..n)
        .map(|i| {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("connect #{i}: {e}"));
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        })
        .collect();
    for s in &streams {
        // A refused client may already be closed: its write can fail, its read cannot hang.
        let _ = (&*s).write_all(b"PING\r\n");
    }
    streams
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while !line.ends_with(b"\r\n") {
                match (&*s).read(&mut b) {
                    Ok(1) => line.push(b[0]),
                    Ok(_) => panic!("client #{i}: closed without a reply after {:?}", String::from_utf8_lossy(&line)),
                    Err(e) => panic!("client #{i}: no reply ({e}) after {:?}", String::from_utf8_lossy(&line)),
                }
            }
            String::from_utf8(line).unwrap()
        })
        .collect()
}

fn count(replies: &[String], what: &str) -> usize {
    replies.iter().filter(|r| *r == what).count()
}

fn info_field(c: &mut Conn, section: &[u8], field: &str) -> String {
    let text = c.call_text(&[b"INFO", section]);
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in INFO: {text}"))
        .to_string()
}

#[test]
fn a_low_descriptor_limit_lowers_maxclients_and_the_rest_are_refused() {
    let dir = TempDir::new("nofile");
    let server = ServerProcess::ferrocache_with_nofile(&dir.0, 64, &[]);
    let log = server.log_text();
    for line in [
        "You requested maxclients of 10000 requiring at least 10032 max file descriptors.",
        "Server can't set maximum open files to 10032 because of OS error: Operation not permitted.",
        "Current maximum open files is 64. maxclients has been reduced to 32 to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
    ] {
        assert!(log.contains(line), "missing {line:?} in the log:\n{log}");
    }
    let mut c = Conn::new(server.addr);
    c.roundtrip(&[b"CONFIG", b"GET", b"maxclients"], b"*2\r\n$10\r\nmaxclients\r\n$2\r\n32\r\n");
    assert_eq!(info_field(&mut c, b"clients", "maxclients"), "32");

    // 150 clients while `c` holds one of the 32 slots: 31 served, 119 told why not. First
    // the start-up check's connection must be gone, or it holds a slot too (seen: 30 served).
    wait_until("the readiness check's connection to close", || {
        info_field(&mut c, b"clients", "connected_clients") == "1"
    });
    let replies = ping_all(server.addr, 150);
    assert_eq!(count(&replies, "+PONG\r\n"), 31, "{replies:?}");
    assert_eq!(count(&replies, MAX_CLIENTS_ERR), 119, "{replies:?}");
    assert_eq!(info_field(&mut c, b"stats", "rejected_connections"), "119");
    // Refused under maxclients, not by a failing accept: nothing for the accept loop to log.
    assert!(!server.log_text().contains("Accepting client connection"), "{}", server.log_text());
}

#[test]
fn accept_out_of_descriptors_answers_every_client_and_logs_sparingly() {
    let dir = TempDir::new("emfile");
    let server = ServerProcess::ferrocache_with_nofile(&dir.0, 64, &[]);
    let mut c = Conn::new(server.addr);
    // Past what the descriptors allow: accept itself now fails with EMFILE.
    c.roundtrip(&[b"CONFIG", b"SET", b"maxclients", b"10000"], b"+OK\r\n");
    let started = Instant::now();
    let replies = ping_all(server.addr, 150);
    let elapsed = started.elapsed();
    let served = count(&replies, "+PONG\r\n");
    let refused = count(&replies, MAX_CLIENTS_ERR);
    assert_eq!(served + refused, 150, "{replies:?}");
    assert!(served > 0 && refused > 0, "served {served}, refused {refused}");
    let log = server.log_text();
    let warnings = log.matches("Accepting client connection: Too many open files").count();
    // At most one line per second of the storm (plus the first), not one per failure.
    assert!(warnings >= 1, "{log}");
    assert!(warnings as u64 <= 2 + elapsed.as_secs(), "{warnings} warnings in {elapsed:?}:\n{log}");
    // Still serving once the storm is over.
    drop(replies);
    c.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn too_few_descriptors_to_start_is_an_error_as_in_redis() {
    let dir = TempDir::new("nofile-start");
    let log = dir.0.join("ferrocache.log");
    let mut child = std::process::Command::new("prlimit")
        .args(["--nofile=20:20", "--", env!("CARGO_BIN_EXE_ferrocache"), "--port", "0", "--logfile"])
        .arg(&log)
        .spawn()
        .expect("run prlimit (util-linux)");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running with 20 descriptors: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("Your current 'ulimit -n' of 20 is not enough for the server to start. Please increase your open file limit to at least 10032. Exiting."),
        "{text}"
    );
}

/// The backlog `ss` reports for the listener on `port` (Send-Q of a listening socket).
fn listen_backlog(port: u16) -> u32 {
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("run ss (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_else(|| panic!("no listener on {port} in `ss -ltn`"));
    line.split_whitespace().nth(2).and_then(|q| q.parse().ok()).unwrap_or_else(|| panic!("cannot read {line:?}"))
}

fn somaxconn() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap()
}

#[test]
fn tcp_backlog_sets_the_listen_backlog_and_is_immutable() {
    let dir = TempDir::new("backlog");
    let server = ServerProcess::ferrocache(&dir.0, &["--tcp-backlog", "300"]);
    assert_eq!(listen_backlog(server.addr.port()), 300.min(somaxconn()));
    let mut c = Conn::new(server.addr);
    c.roundtrip(&[b"CONFIG", b"GET", b"tcp-backlog"], b"*2\r\n$11\r\ntcp-backlog\r\n$3\r\n300\r\n");
    c.roundtrip(
        &[b"CONFIG", b"SET", b"tcp-backlog", b"100"],
        b"-ERR CONFIG SET failed (possibly related to argument 'tcp-backlog') - can't set immutable config\r\n",
    );
    // Listeners made by a library caller get it too (here the default, 511).
    let in_process = TestServer::start();
    // Answering means serving, which starts after the listen() that sets the backlog.
    in_process.connect().roundtrip(&[b"PING"], b"+PONG\r\n");
    assert_eq!(listen_backlog(in_process.addr.port()), 511.min(somaxconn()));
}

#[test]
fn a_backlog_above_somaxconn_is_warned_about_in_redis_words() {
    let dir = TempDir::new("somaxconn");
    let cap = somaxconn();
    let asked = (cap + 1).to_string();
    let server = ServerProcess::ferrocache(&dir.0, &["--tcp-backlog", &asked]);
    let warning = format!(
        "WARNING: The TCP backlog setting of {asked} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {cap}."
    );
    assert!(server.log_text().contains(&warning), "{}", server.log_text());
    assert_eq!(listen_backlog(server.addr.port()), cap);
}

#[test]
fn bind_ipv6_any_is_v6_only_so_ipv4_can_share_the_port() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        // No IPv6 loopback here: check the option on a listener the library makes.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let listener = rt
            .block_on(async { ferrocache::server::bind_listener("[::]:0".parse().unwrap(), 511) })
            .expect("an IPv6 socket (the machine has no ::1, but must have IPv6 sockets)");
        assert!(socket2::SockRef::from(&listener).only_v6().unwrap());
        return;
    }
    let dir = TempDir::new("v6only");
    // Without IPV6_V6ONLY the `::` socket takes the IPv4 port too and 127.0.0.1 cannot bind.
    let server = ServerProcess::ferrocache(&dir.0, &["--bind", "::", "127.0.0.1"]);
    let port = server.addr.port();
    let mut v6 = Conn::new(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)));
    v6.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut v4 = Conn::new(server.addr);
    v4.roundtrip(&[b"PING"], b"+PONG\r\n");
    let addrs = v4.call_text(&[b"CLIENT", b"LIST"]);
    assert!(addrs.contains("addr=[::1]:") || addrs.contains("addr=::1:"), "{addrs}");
}

#[test]
fn protected_mode_counts_ipv4_mapped_loopback_as_loopback() {
    // A dual-stack listener: an IPv4 client shows up as ::ffff:127.0.0.1.
    let socket = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    socket.set_only_v6(false).unwrap();
    socket.bind(&SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)).into()).unwrap();
    socket.listen(128).unwrap();
    let server = TestServer::start_on(socket.into(), Config::default(), Clock::System);
    let mut c = Conn::new(SocketAddr::from(([127, 0, 0, 1], server.addr.port())));
    c.roundtrip(&[b"PING"], b"+PONG\r\n");
    let me = c.call_text(&[b"CLIENT", b"INFO"]);
    assert!(me.contains("::ffff:127.0.0.1"), "not the mapped address: {me}");
}
