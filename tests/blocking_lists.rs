//! Blocking list commands over real connections: FIFO service per key, timeouts, service
//! by pushes from other clients, MULTI, and clients that hang up while blocked. Replies were
//! checked against redis-server 7.0.15.

mod common;

use common::{Conn, TestServer};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Waits until INFO reports `n` blocked clients (as Redis's own tests do before pushing).
fn wait_blocked(addr: SocketAddr, n: usize) {
    let mut c = Conn::new(addr);
    let want = format!("blocked_clients:{n}\r\n");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let info = c.call_text(&[b"INFO", b"clients"]);
        if info.contains(&want) {
            return;
        }
        assert!(Instant::now() < until, "never reached {want:?}: {info}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A server without save points: these tests are about blocking, not shutdown saves.
fn server() -> TestServer {
    TestServer::with_config(|c| c.save = String::new())
}

#[test]
fn waiters_are_served_in_arrival_order_by_another_clients_push() {
    let server = server();
    let mut first = server.connect();
    let mut second = server.connect();
    let mut pusher = server.connect();
    first.cmd(&[b"BLPOP", b"k", b"other", b"0"]);
    wait_blocked(server.addr, 1);
    second.cmd(&[b"BRPOP", b"k", b"0"]);
    wait_blocked(server.addr, 2);
    pusher.roundtrip(&[b"RPUSH", b"k", b"a", b"b", b"c"], b":3\r\n");
    first.expect(b"*2\r\n$1\r\nk\r\n$1\r\na\r\n");
    second.expect(b"*2\r\n$1\r\nk\r\n$1\r\nc\r\n");
    pusher.roundtrip(&[b"LRANGE", b"k", b"0", b"-1"], b"*1\r\n$1\r\nb\r\n");
    wait_blocked(server.addr, 0);
    // The served connections go on as usual.
    first.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn timeouts_answer_null_and_bad_timeouts_are_errors() {
    let server = server();
    let mut c = server.connect();
    let started = Instant::now();
    c.roundtrip(&[b"BLPOP", b"k", b"0.2"], b"*-1\r\n");
    assert!(started.elapsed() >= Duration::from_millis(190), "{:?}", started.elapsed());
    // A move that times out answers a null array too (`replyToBlockedClientTimedOut`).
    c.roundtrip(&[b"BRPOPLPUSH", b"k", b"d", b"0.05"], b"*-1\r\n");
    c.roundtrip(&[b"BLMOVE", b"k", b"d", b"LEFT", b"RIGHT", b"0.05"], b"*-1\r\n");
    c.roundtrip(&[b"BLMPOP", b"0.05", b"1", b"k", b"LEFT"], b"*-1\r\n");
    c.roundtrip(&[b"BLPOP", b"k", b"-1"], b"-ERR timeout is negative\r\n");
    c.roundtrip(&[b"BLPOP", b"k", b"1e300"], b"-ERR timeout is negative\r\n");
    c.roundtrip(&[b"BLPOP", b"k", b"abc"], b"-ERR timeout is not a float or out of range\r\n");
    c.roundtrip(&[b"BLMPOP", b"x", b"1", b"k", b"LEFT"], b"-ERR timeout is not a float or out of range\r\n");
    c.roundtrip(&[b"BLMPOP", b"0", b"0", b"k", b"LEFT"], b"-ERR numkeys should be greater than 0\r\n");
    c.roundtrip(&[b"BLMOVE", b"k", b"d", b"UP", b"RIGHT", b"x"], b"-ERR syntax error\r\n");
    c.roundtrip(&[b"SET", b"s", b"v"], b"+OK\r\n");
    c.roundtrip(
        &[b"BLPOP", b"k", b"s", b"0"],
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.call_text(&[b"HELLO", b"3"]);
    c.roundtrip(&[b"BLPOP", b"k", b"0.01"], b"_\r\n");
}

#[test]
fn lists_with_elements_do_not_block_and_multi_never_blocks() {
    let server = server();
    let mut c = server.connect();
    c.roundtrip(&[b"RPUSH", b"k", b"a", b"b", b"c"], b":3\r\n");
    c.roundtrip(&[b"BLPOP", b"none", b"k", b"0"], b"*2\r\n$1\r\nk\r\n$1\r\na\r\n");
    c.roundtrip(&[b"BLMOVE", b"k", b"d", b"RIGHT", b"LEFT", b"0"], b"$1\r\nc\r\n");
    c.roundtrip(
        &[b"BLMPOP", b"0", b"2", b"none", b"k", b"LEFT", b"COUNT", b"5"],
        b"*2\r\n$1\r\nk\r\n*1\r\n$1\r\nb\r\n",
    );
    c.roundtrip(&[b"MULTI"], b"+OK\r\n");
    for cmd in [
        &[&b"BLPOP"[..], b"k", b"0"][..],
        &[b"BRPOP", b"k", b"0"],
        &[b"BLMOVE", b"k", b"d", b"LEFT", b"LEFT", b"0"],
        &[b"BRPOPLPUSH", b"k", b"d", b"0"],
        &[b"BLMPOP", b"0", b"1", b"k", b"LEFT"],
    ] {
        c.roundtrip(cmd, b"+QUEUED\r\n");
    }
    c.roundtrip(&[b"EXEC"], b"*5\r\n*-1\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n");
}

#[test]
fn moves_and_multi_pops_are_served_by_pushes() {
    let server = server();
    let mut mover = server.connect();
    let mut popper = server.connect();
    let mut pusher = server.connect();
    // Whichever shards the keys fall in (served by the push, or run again), the move is made.
    for (src, dst) in [(&b"src"[..], &b"dst"[..]), (b"{t}src", b"{t}dst")] {
        mover.cmd(&[b"BLMOVE", src, dst, b"LEFT", b"RIGHT", b"0"]);
        wait_blocked(server.addr, 1);
        pusher.roundtrip(&[b"LPUSH", src, b"x"], b":1\r\n");
        mover.expect(b"$1\r\nx\r\n");
        pusher.roundtrip(&[b"LRANGE", dst, b"0", b"-1"], b"*1\r\n$1\r\nx\r\n");
        pusher.roundtrip(&[b"EXISTS", src], b":0\r\n");
    }
    popper.cmd(&[b"BLMPOP", b"0", b"2", b"a", b"b", b"RIGHT", b"COUNT", b"2"]);
    wait_blocked(server.addr, 1);
    pusher.roundtrip(&[b"RPUSH", b"b", b"1", b"2", b"3"], b":3\r\n");
    popper.expect(b"*2\r\n$1\r\nb\r\n*2\r\n$1\r\n3\r\n$1\r\n2\r\n");
    // An LMOVE into a waited-on key serves it too.
    popper.cmd(&[b"BRPOPLPUSH", b"c", b"e", b"0"]);
    wait_blocked(server.addr, 1);
    pusher.roundtrip(&[b"LMOVE", b"b", b"c", b"LEFT", b"LEFT"], b"$1\r\n1\r\n");
    popper.expect(b"$1\r\n1\r\n");
    pusher.roundtrip(&[b"LRANGE", b"e", b"0", b"-1"], b"*1\r\n$1\r\n1\r\n");
}

#[test]
fn a_client_that_hangs_up_while_blocked_takes_nothing() {
    let server = server();
    let mut gone = server.connect();
    gone.cmd(&[b"BLPOP", b"k", b"0"]);
    wait_blocked(server.addr, 1);
    drop(gone);
    wait_blocked(server.addr, 0);
    let mut c = server.connect();
    c.roundtrip(&[b"RPUSH", b"k", b"a"], b":1\r\n");
    c.roundtrip(&[b"LPOP", b"k"], b"$1\r\na\r\n");
}

/// CLIENT LIST shows a blocked client as `flags=b` (as Redis does) and its usual flags again
/// once it is served.
#[test]
fn client_list_flags_a_blocked_client() {
    let server = server();
    let mut waiter = server.connect();
    let mut other = server.connect();
    let id = waiter.call_text(&[b"CLIENT", b"ID"]);
    let id = id.trim_start_matches(':').trim().to_string();
    let flags_of = |c: &mut Conn| {
        let list = c.call_text(&[b"CLIENT", b"LIST"]);
        let line = list.lines().find(|l| l.contains(&format!("id={id} "))).expect("the waiter is listed").to_string();
        line.split(' ').find_map(|f| f.strip_prefix("flags=")).expect("a flags field").to_string()
    };
    assert_eq!(flags_of(&mut other), "N");
    waiter.cmd(&[b"BLPOP", b"k", b"0"]);
    wait_blocked(server.addr, 1);
    assert_eq!(flags_of(&mut other), "b");
    other.roundtrip(&[b"RPUSH", b"k", b"a"], b":1\r\n");
    waiter.expect(b"*2\r\n$1\r\nk\r\n$1\r\na\r\n");
    assert_eq!(flags_of(&mut other), "N");
}
