//! Clients blocked on keys, compared with redis-server 7.0: every scenario runs on a real
//! redis-server and on Ferrocache, with the same connections doing the same things in the
//! same order, and the transcripts of replies must match byte for byte. Covered: BZPOPMIN
//! BZPOPMAX BZMPOP (RESP2 and RESP3), FIFO service among many clients, timeouts, MULTI,
//! keys in different shards, waiters served only after EXEC, keys made lists or sorted sets
//! by RENAME / MOVE / COPY / RESTORE / ZUNIONSTORE / ZRANGESTORE / LMOVE, and CLIENT UNBLOCK.
//!
//! No sleeps synchronise anything: before a step that should serve a blocked client, the
//! scenario waits for INFO's `blocked_clients` to show it blocked.

mod common;

use common::reference::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One step of a scenario; connections are numbered from 0 and opened on first use.
enum Step<'a> {
    /// Sends a command and records its reply.
    Call(usize, &'a [&'a str]),
    /// Sends a command and reads its reply, not recorded (HELLO, whose reply holds the id).
    Quiet(usize, &'a [&'a str]),
    /// Sends a command whose reply comes later (a blocking one).
    Send(usize, &'a [&'a str]),
    /// Reads and records one reply on a connection.
    Read(usize),
    /// Waits until INFO shows this many blocked clients.
    Blocked(usize),
    /// `CLIENT UNBLOCK <id of the second connection> [reason]` from the first; records it.
    Unblock(usize, usize, &'a str),
}

use Step::*;

fn wait_blocked(addr: SocketAddr, n: usize) -> bool {
    let mut c = RespConn::connect(addr).expect("connect");
    let want = format!("blocked_clients:{n}\r\n");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Outcome::Reply(node) = c.call(&[b"INFO", b"clients"]) {
            if String::from_utf8_lossy(&node.bytes()).contains(&want) {
                return true;
            }
        }
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `steps` against the server at `addr`; the transcript of what each step read.
fn run(addr: SocketAddr, steps: &[Step]) -> Vec<String> {
    let mut conns: Vec<Option<(RespConn, Vec<u8>)>> = Vec::new();
    let conn = |conns: &mut Vec<Option<(RespConn, Vec<u8>)>>, i: usize| {
        if conns.len() <= i {
            conns.resize_with(i + 1, || None);
        }
        if conns[i].is_none() {
            let mut c = RespConn::connect(addr).expect("connect");
            let id = match c.call(&[b"CLIENT", b"ID"]) {
                Outcome::Reply(n) => n.bytes()[1..].split(|&b| b == b'\r').next().unwrap().to_vec(),
                other => panic!("CLIENT ID: {}", other.describe(Compare::Exact)),
            };
            conns[i] = Some((c, id));
        }
    };
    let mut out = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let line = match *step {
            Call(i, args) | Send(i, args) | Quiet(i, args) => {
                conn(&mut conns, i);
                let c = &mut conns[i].as_mut().unwrap().0;
                let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                c.send(&multibulk(&bytes)).expect("send");
                if matches!(step, Send(..)) {
                    continue;
                }
                if matches!(step, Quiet(..)) {
                    c.read_reply();
                    continue;
                }
                format!("{n} [{i}] {} -> {}", args.join(" "), c.read_reply().describe(Compare::Exact))
            }
            Read(i) => {
                conn(&mut conns, i);
                let c = &mut conns[i].as_mut().unwrap().0;
                format!("{n} [{i}] read -> {}", c.read_reply().describe(Compare::Exact))
            }
            Blocked(k) => {
                assert!(wait_blocked(addr, k), "never {k} blocked at step {n} on {addr}; so far:\n{}", out.join("\n"));
                continue;
            }
            Unblock(i, target, reason) => {
                conn(&mut conns, target);
                conn(&mut conns, i);
                let id = conns[target].as_ref().unwrap().1.clone();
                let mut args: Vec<&[u8]> = vec![b"CLIENT", b"UNBLOCK", &id];
                if !reason.is_empty() {
                    args.push(reason.as_bytes());
                }
                let c = &mut conns[i].as_mut().unwrap().0;
                format!("{n} [{i}] unblock [{target}] {reason} -> {}", c.call(&args).describe(Compare::Exact))
            }
        };
        out.push(line);
    }
    out
}

/// Runs `steps` on redis-server and on Ferrocache (each fresh) and compares the transcripts.
fn same_as_redis(steps: &[Step]) {
    let redis = RedisServer::start();
    let expected = run(redis.addr, steps);
    drop(redis);
    let ferro = Ferrocache::start();
    let got = run(ferro.addr, steps);
    let diff: Vec<String> =
        expected.iter().zip(&got).filter(|(e, g)| e != g).map(|(e, g)| format!("redis: {e}\nferro: {g}")).collect();
    assert!(diff.is_empty() && expected.len() == got.len(), "transcripts differ:\n{}", diff.join("\n"));
}

#[test]
fn bzpop_replies_errors_and_timeouts() {
    same_as_redis(&[
        Call(0, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]),
        Call(0, &["SET", "s", "x"]),
        Call(0, &["BZPOPMIN", "z", "0"]),
        Call(0, &["BZPOPMAX", "missing", "z", "0"]),
        Call(0, &["BZPOPMIN", "s", "0"]),
        Call(0, &["BZPOPMIN", "missing", "s", "z", "0"]),
        Call(0, &["BZPOPMIN", "z", "-1"]),
        Call(0, &["BZPOPMIN", "z", "abc"]),
        Call(0, &["BZMPOP", "0", "1", "z", "MIN"]),
        Call(0, &["BZMPOP", "abc", "1", "z", "MIN"]),
        Call(0, &["BZMPOP", "abc", "0", "z", "MIN"]),
        Call(0, &["BZMPOP", "-1", "1", "z", "MAX", "COUNT", "0"]),
        Call(0, &["BZMPOP", "0", "1", "z", "foo"]),
        Call(0, &["BZMPOP", "0", "3", "z", "MIN"]),
        Call(0, &["BZMPOP", "0", "2", "s", "z", "MIN"]),
        Call(0, &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "10"]),
        Call(0, &["EXISTS", "z"]),
        Call(0, &["BZPOPMIN", "z", "0.05"]),
        Call(0, &["BZMPOP", "0.05", "2", "z", "y", "MIN"]),
        Call(0, &["BLMPOP", "abc", "1", "k", "LEFT", "COUNT", "0"]),
        Call(0, &["BLMPOP", "abc", "0", "k", "LEFT"]),
        Quiet(0, &["HELLO", "3"]),
        Call(0, &["ZADD", "z", "1.5", "a", "2", "b", "3", "c"]),
        Call(0, &["BZPOPMIN", "z", "0"]),
        Call(0, &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "2"]),
        Call(0, &["BZPOPMIN", "z", "0.02"]),
        Call(0, &["BZMPOP", "0.02", "1", "z", "MIN"]),
        Call(0, &["MULTI"]),
        Call(0, &["BZPOPMIN", "z", "0"]),
        Call(0, &["BZMPOP", "0", "1", "z", "MIN"]),
        Call(0, &["BLPOP", "z", "0"]),
        Call(0, &["EXEC"]),
    ]);
}

#[test]
fn zset_waiters_are_served_in_arrival_order() {
    same_as_redis(&[
        Send(0, &["BZPOPMIN", "z", "other", "0"]),
        Blocked(1),
        Send(1, &["BZMPOP", "0", "2", "other", "z", "MAX", "COUNT", "2"]),
        Blocked(2),
        Quiet(2, &["HELLO", "3"]),
        Send(2, &["BZPOPMAX", "z", "0"]),
        Blocked(3),
        Send(3, &["BZPOPMIN", "z", "0"]),
        Blocked(4),
        Call(9, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]),
        Read(0),
        Read(1),
        Read(2),
        Call(9, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        Blocked(1),
        Call(9, &["ZINCRBY", "z", "7", "x"]),
        Read(3),
        Blocked(0),
        Call(3, &["PING"]),
    ]);
}

#[test]
fn many_list_clients_are_served_in_order() {
    let clients = 12;
    let names: Vec<String> = (0..clients).map(|i| format!("e{i}")).collect();
    let mut push: Vec<&str> = vec!["RPUSH", "k"];
    push.extend(names.iter().map(|s| s.as_str()));
    let mut steps = Vec::new();
    for i in 0..clients {
        steps.push(Send(i, if i % 2 == 0 { &["BLPOP", "k", "0"] } else { &["BRPOP", "j", "k", "0"] }));
        steps.push(Blocked(i + 1));
    }
    steps.push(Call(99, &push));
    for i in 0..clients {
        steps.push(Read(i));
    }
    steps.push(Blocked(0));
    same_as_redis(&steps);
}

#[test]
fn waiters_of_another_type_are_skipped() {
    same_as_redis(&[
        Send(0, &["BZPOPMIN", "k", "0"]),
        Blocked(1),
        Send(1, &["BLPOP", "k", "0"]),
        Blocked(2),
        Call(9, &["RPUSH", "k", "x", "y"]),
        Read(1),
        Call(9, &["LRANGE", "k", "0", "-1"]),
        Call(9, &["DEL", "k"]),
        Call(9, &["ZADD", "k", "5", "m"]),
        Read(0),
        Blocked(0),
    ]);
}

#[test]
fn inside_exec_waiters_are_served_after_the_transaction() {
    same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Call(9, &["MULTI"]),
        Call(9, &["RPUSH", "k", "a", "b"]),
        Call(9, &["LLEN", "k"]),
        Call(9, &["LRANGE", "k", "0", "-1"]),
        Call(9, &["EXEC"]),
        Read(0),
        Call(9, &["LRANGE", "k", "0", "-1"]),
        // Created and emptied inside one transaction: nobody is served.
        Send(1, &["BZPOPMAX", "z", "0"]),
        Blocked(1),
        Call(9, &["MULTI"]),
        Call(9, &["ZADD", "z", "1", "a"]),
        Call(9, &["ZPOPMIN", "z"]),
        Call(9, &["EXEC"]),
        Call(9, &["PING"]),
        Blocked(1),
        Call(9, &["ZADD", "z", "2", "b"]),
        Read(1),
        Blocked(0),
    ]);
}

#[test]
fn keys_made_lists_or_sorted_sets_by_any_command_wake_waiters() {
    same_as_redis(&[
        Call(9, &["RPUSH", "src", "a", "b"]),
        Send(0, &["BLPOP", "dst", "0"]),
        Blocked(1),
        Call(9, &["RENAME", "src", "dst"]),
        Read(0),
        Call(9, &["DEL", "dst"]),
        // COPY
        Call(9, &["ZADD", "zsrc", "1", "m", "2", "n"]),
        Send(1, &["BZPOPMAX", "zdst", "0"]),
        Blocked(1),
        Call(9, &["COPY", "zsrc", "zdst"]),
        Read(1),
        // MOVE into the waiter's database
        Call(2, &["SELECT", "3"]),
        Send(2, &["BRPOP", "moved", "0"]),
        Blocked(1),
        Call(9, &["RPUSH", "moved", "x", "y"]),
        Call(9, &["MOVE", "moved", "3"]),
        Read(2),
        // ZUNIONSTORE, ZINTERSTORE
        Send(3, &["BZMPOP", "0", "1", "u", "MIN", "COUNT", "5"]),
        Blocked(1),
        Call(9, &["ZUNIONSTORE", "u", "2", "zsrc", "zdst"]),
        Read(3),
        // ZRANGESTORE (SORT … STORE is not implemented yet)
        Call(9, &["RPUSH", "nums", "3", "1", "2"]),
        Send(4, &["BZPOPMIN", "ranged", "0"]),
        Blocked(1),
        Call(9, &["ZRANGESTORE", "ranged", "zsrc", "0", "0"]),
        Read(4),
        // LMOVE creating the destination
        Send(5, &["BRPOP", "to", "0"]),
        Blocked(1),
        Call(9, &["LMOVE", "nums", "to", "LEFT", "LEFT"]),
        Read(5),
        Blocked(0),
        Call(9, &["LRANGE", "nums", "0", "-1"]),
    ]);
}

#[test]
fn swapdb_serves_the_waiters_of_both_databases() {
    same_as_redis(&[
        Call(9, &["SELECT", "1"]),
        Call(9, &["RPUSH", "k", "one", "two"]),
        Call(9, &["ZADD", "z", "1", "m"]),
        Send(0, &["BLPOP", "k", "0"]),
        Blocked(1),
        Send(1, &["BZPOPMIN", "z", "0"]),
        Blocked(2),
        Call(2, &["SELECT", "1"]),
        Send(2, &["BLPOP", "other", "0"]),
        Blocked(3),
        Call(9, &["SWAPDB", "0", "1"]),
        Read(0),
        Read(1),
        Blocked(1),
        Call(9, &["SELECT", "0"]),
        Call(9, &["LRANGE", "k", "0", "-1"]),
        Call(9, &["RPUSH", "other", "x"]),
        Call(9, &["SWAPDB", "1", "0"]),
        Read(2),
        Blocked(0),
    ]);
}

#[test]
fn restore_wakes_waiters() {
    same_as_redis(&[
        Call(9, &["ZADD", "z", "1", "a"]),
        Send(0, &["BZPOPMIN", "r", "0"]),
        Blocked(1),
        Call(9, &["SELECT", "0"]),
        Call(9, &["RENAME", "z", "r"]),
        Read(0),
    ]);
    // The payload is each server's own DUMP output, so this one runs per server.
    for server in [Server::Redis(RedisServer::start()), Server::Ferro(Ferrocache::start())] {
        let addr = server.addr();
        let mut c = RespConn::connect(addr).unwrap();
        c.call(&[b"RPUSH", b"l", b"p", b"q"]);
        let Outcome::Reply(dump) = c.call(&[b"DUMP", b"l"]) else { panic!("DUMP") };
        let payload = {
            let b = dump.bytes();
            let start = b.iter().position(|&x| x == b'\n').unwrap() + 1;
            b[start..b.len() - 2].to_vec()
        };
        let mut waiter = RespConn::connect(addr).unwrap();
        waiter.send(&multibulk(&[&b"BLPOP"[..], b"restored", b"0"])).unwrap();
        assert!(wait_blocked(addr, 1));
        let Outcome::Reply(ok) = c.call(&[b"RESTORE", b"restored", b"0", &payload]) else { panic!("RESTORE") };
        assert_eq!(ok.bytes(), b"+OK\r\n");
        let Outcome::Reply(got) = waiter.read_reply() else { panic!("no reply") };
        assert_eq!(escape(&got.bytes()), escape(b"*2\r\n$8\r\nrestored\r\n$1\r\np\r\n"), "{addr}");
    }
}

#[test]
fn keys_in_different_shards() {
    // Ferrocache spreads these over its shards: a wait on several, pushes to each, moves
    // between them.
    let keys: Vec<String> = (0..16).map(|i| format!("key:{i}")).collect();
    let mut blpop: Vec<&str> = vec!["BLPOP"];
    blpop.extend(keys.iter().map(|s| s.as_str()));
    blpop.push("0");
    let mut steps = vec![Send(0, &blpop), Blocked(1)];
    steps.push(Call(9, &["RPUSH", "key:11", "x"]));
    steps.push(Read(0));
    steps.push(Send(0, &blpop));
    steps.push(Blocked(1));
    steps.push(Send(1, &["BLMOVE", "key:3", "key:7", "RIGHT", "LEFT", "0"]));
    steps.push(Blocked(2));
    steps.push(Send(2, &["BRPOPLPUSH", "key:7", "key:12", "0"]));
    steps.push(Blocked(3));
    // The first waiter on key:3 (the BLPOP) takes "a"; the move takes "b" to key:7, whose
    // waiter moves it on to key:12.
    steps.push(Call(9, &["RPUSH", "key:3", "a", "b"]));
    steps.push(Read(0));
    steps.push(Read(1));
    steps.push(Read(2));
    steps.push(Blocked(0));
    steps.push(Call(9, &["LRANGE", "key:3", "0", "-1"]));
    steps.push(Call(9, &["LRANGE", "key:7", "0", "-1"]));
    steps.push(Call(9, &["LRANGE", "key:12", "0", "-1"]));
    same_as_redis(&steps);
}

#[test]
fn client_unblock_answers_as_a_timeout_or_an_error() {
    same_as_redis(&[
        Send(0, &["BLPOP", "k", "0"]),
        Send(1, &["BZMPOP", "0", "1", "z", "MIN"]),
        Send(2, &["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]),
        Quiet(4, &["HELLO", "3"]),
        Send(4, &["BZPOPMIN", "z", "0"]),
        Blocked(4),
        Unblock(9, 0, ""),
        Read(0),
        Unblock(9, 1, "ERROR"),
        Read(1),
        Unblock(9, 2, "timeout"),
        Read(2),
        Unblock(9, 4, "TIMEOUT"),
        Read(4),
        Blocked(0),
        Unblock(9, 0, ""),
        Unblock(9, 3, "ERROR"),
        Call(9, &["CLIENT", "UNBLOCK", "1", "foo"]),
        Call(9, &["CLIENT", "UNBLOCK", "abc"]),
        Call(9, &["CLIENT", "UNBLOCK", "abc", "foo"]),
        Call(9, &["CLIENT", "UNBLOCK", "-5"]),
        Call(9, &["CLIENT", "UNBLOCK", "1", "2", "3"]),
        Call(9, &["CLIENT", "UNBLOCK"]),
        // Unblocked, the connections go on.
        Call(0, &["RPUSH", "k", "v"]),
        Call(2, &["LPOP", "k"]),
    ]);
}

/// Many clients at once on Ferrocache alone (the interleaving is not Redis's to compare):
/// producers push lists and add to sorted sets over keys in different shards, movers
/// BLMOVE elements between shards, consumers BLPOP / BZPOPMIN them. Every element must come
/// out exactly once, and nobody stays blocked.
#[test]
fn concurrent_producers_movers_and_consumers_lose_nothing() {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    const PER_PRODUCER: usize = 150;
    const PRODUCERS: usize = 4;
    let server = Ferrocache::start();
    let addr = server.addr;
    let total = PER_PRODUCER * PRODUCERS;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let moved = Arc::new(AtomicUsize::new(0));
    let list_items = PRODUCERS / 2 * PER_PRODUCER;
    // Bounded: an element lost (popped, its reply never delivered) must fail the test, not
    // leave the consumers waiting for it forever. The run takes well under a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let bulk_of = |o: &Outcome| -> Vec<String> {
        let Outcome::Reply(n) = o else { return vec![] };
        n.children.iter().filter_map(|c| c.bulk().map(|b| String::from_utf8_lossy(b).into_owned())).collect()
    };
    let mut threads = Vec::new();
    for p in 0..PRODUCERS {
        threads.push(std::thread::spawn(move || {
            let mut c = RespConn::connect(addr).unwrap();
            for i in 0..PER_PRODUCER {
                let item = format!("p{p}-{i}");
                let key = format!("in{}", i % 4);
                let zkey = format!("z{}", i % 4);
                let reply = if p % 2 == 0 {
                    c.call(&[b"RPUSH", key.as_bytes(), item.as_bytes()])
                } else {
                    c.call(&[b"ZADD", zkey.as_bytes(), b"1", item.as_bytes()])
                };
                assert!(matches!(reply, Outcome::Reply(_)));
            }
        }));
    }
    for m in 0..3 {
        let moved = moved.clone();
        threads.push(std::thread::spawn(move || {
            let mut c = RespConn::connect(addr).unwrap();
            let mut i = m;
            while moved.load(Ordering::SeqCst) < list_items && std::time::Instant::now() < deadline {
                let src = format!("in{}", i % 4);
                let dst = format!("k{}", (i * 7) % 8);
                i += 1;
                if let Outcome::Reply(n) =
                    c.call(&[b"BLMOVE", src.as_bytes(), dst.as_bytes(), b"RIGHT", b"LEFT", b"0.05"])
                {
                    if n.bulk().is_some() {
                        moved.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    for n in 0..6 {
        let seen = seen.clone();
        threads.push(std::thread::spawn(move || {
            let mut c = RespConn::connect(addr).unwrap();
            while seen.lock().unwrap().len() < total && std::time::Instant::now() < deadline {
                let reply = if n % 2 == 0 {
                    c.call(&[b"BLPOP", b"k0", b"k1", b"k2", b"k3", b"k4", b"k5", b"k6", b"k7", b"0.05"])
                } else {
                    c.call(&[b"BZPOPMIN", b"z0", b"z1", b"z2", b"z3", b"0.05"])
                };
                let got = bulk_of(&reply);
                if got.len() >= 2 {
                    seen.lock().unwrap().push(got[1].clone());
                }
            }
        }));
    }
    for t in threads {
        t.join().expect("a client thread panicked");
    }
    let seen = seen.lock().unwrap().clone();
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "an element came out twice");
    assert_eq!(seen.len(), total, "elements were lost (popped, but no client got them)");
    assert!(wait_blocked(addr, 0));
    let mut c = RespConn::connect(addr).unwrap();
    let Outcome::Reply(n) = c.call(&[b"DBSIZE"]) else { panic!("DBSIZE") };
    assert_eq!(n.bytes(), b":0\r\n");
}
