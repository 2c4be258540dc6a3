//! SORT where the differential corpus cannot go: cluster mode (BY/GET refusals in Redis 7.0's
//! order, checked against `redis-server --cluster-enabled yes`), and BY/GET patterns reading
//! keys in every shard, alone and inside MULTI/EXEC, while other clients write.

mod common;

use common::cluster::cluster_server;
use common::keyspace::wait_until;
use common::{Conn, TempDir, TestServer};

/// One request's reply, flattened: each scalar's text (errors with their `-`, nil as `(nil)`).
fn call(c: &mut Conn, args: &[&str]) -> Vec<String> {
    let text = c.call_text(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
    let mut out = Vec::new();
    let mut lines = text.split("\r\n");
    while let Some(line) = lines.next() {
        match line.as_bytes().first() {
            Some(b'*') | None => {}
            Some(b'$') if line == "$-1" => out.push("(nil)".to_string()),
            Some(b'$') => out.push(lines.next().unwrap_or_default().to_string()),
            Some(b'-') => out.push(line.to_string()),
            _ => out.push(line[1..].to_string()),
        }
    }
    out
}

#[test]
fn cluster_mode_refuses_by_and_get_patterns_in_order() {
    let dir = TempDir::new("sort-cluster");
    let server = cluster_server(&dir);
    let mut c = server.connect();
    assert_eq!(call(&mut c, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), ["OK"]);
    wait_until("cluster ok", || c.call_text(&[b"CLUSTER", b"INFO"]).contains("cluster_state:ok"));
    call(&mut c, &["RPUSH", "k", "3", "1", "2"]);
    // Replies as redis-server 7.0.15 --cluster-enabled yes gives them.
    let by = "-ERR BY option of SORT denied in Cluster mode.";
    let get = "-ERR GET option of SORT denied in Cluster mode.";
    let cases: &[(&[&str], &str)] = &[
        (&["SORT", "k", "BY", "w_*"], by),
        (&["SORT", "k", "BY", "{k}w_*"], by),
        (&["SORT", "k", "GET", "#"], get),
        (&["SORT", "k", "GET", "{k}*"], get),
        (&["SORT", "k", "BY", "nosort", "GET", "#"], get),
        (&["SORT", "k", "BY", "w_*", "GET", "#"], by),
        (&["SORT_RO", "k", "BY", "w_*"], by),
        (&["SORT", "k", "foo", "BY", "w_*"], "-ERR syntax error"),
        (&["SORT", "k", "LIMIT", "a", "1", "GET", "#"], "-ERR value is not an integer or out of range"),
        (&["SORT_RO", "k", "STORE", "x"], "-ERR syntax error"),
    ];
    for (args, expected) in cases {
        assert_eq!(call(&mut c, args), [*expected], "{args:?}");
    }
    // A constant BY sorts nothing and looks nothing up: allowed.
    assert_eq!(call(&mut c, &["SORT", "k", "BY", "nosort"]), ["3", "1", "2"]);
    assert_eq!(call(&mut c, &["SORT", "k"]), ["1", "2", "3"]);
    assert_eq!(call(&mut c, &["SORT", "k", "STORE", "{k}dst"]), ["3"]);
    assert_eq!(
        call(&mut c, &["SORT", "k", "STORE", "other"]),
        ["-CROSSSLOT Keys in request don't hash to the same slot"]
    );
}

#[test]
fn patterns_read_keys_in_every_shard_also_inside_exec() {
    let server = TestServer::start();
    let mut c = server.connect();
    let n = 200;
    for i in 0..n {
        let (i_s, w) = (i.to_string(), (n - i).to_string());
        call(&mut c, &["RPUSH", "l", &i_s]);
        call(&mut c, &["SET", &format!("w_{i}"), &w]);
        call(&mut c, &["HSET", &format!("h_{i}"), "f", &format!("v{i}")]);
    }
    let expected: Vec<String> = (0..n).rev().flat_map(|i| [i.to_string(), format!("v{i}")]).collect();
    assert_eq!(call(&mut c, &["SORT", "l", "BY", "w_*", "GET", "#", "GET", "h_*->f"]), expected);

    // Other clients write pattern keys meanwhile: no lock is missed (a missed one panics).
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let mut w = server.connect();
            std::thread::spawn(move || {
                for i in 0..300 {
                    let key = format!("x_{}", (i * 7 + t) % 200);
                    call(&mut w, &["SET", &key, &i.to_string()]);
                }
            })
        })
        .collect();
    call(&mut c, &["MULTI"]);
    call(&mut c, &["SORT", "l", "BY", "w_*", "GET", "h_*->f", "STORE", "out"]);
    call(&mut c, &["SORT_RO", "l", "BY", "x_*", "LIMIT", "0", "3", "GET", "x_*"]);
    call(&mut c, &["LRANGE", "out", "0", "1"]);
    let exec = call(&mut c, &["EXEC"]);
    for w in writers {
        w.join().unwrap();
    }
    // STORE's count, three GET x_* values (or nils), then LRANGE's two.
    assert_eq!(exec.len(), 1 + 3 + 2, "{exec:?}");
    assert_eq!(exec[0], "200");
    assert_eq!(&exec[4..], ["v199", "v198"]);
}

/// `SORT … STORE` creates its destination as a list, which serves a client blocked on it
/// (redis-server 7.0.15: the BLPOP gets the first stored element, the rest stay).
#[test]
fn store_serves_a_client_blocked_on_the_destination() {
    let server = TestServer::with_config(|c| c.save = String::new());
    let mut blocked = server.connect();
    let mut c = server.connect();
    call(&mut c, &["RPUSH", "l", "3", "1", "2"]);
    blocked.cmd(&[b"BLPOP", b"d", b"0"]);
    wait_until("the BLPOP to block", || c.call_text(&[b"INFO", b"clients"]).contains("blocked_clients:1\r\n"));
    assert_eq!(call(&mut c, &["SORT", "l", "STORE", "d"]), ["3"]);
    blocked.expect(b"*2\r\n$1\r\nd\r\n$1\r\n1\r\n");
    assert_eq!(call(&mut c, &["LRANGE", "d", "0", "-1"]), ["2", "3"]);
}
