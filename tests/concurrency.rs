//! The store is shared by many threads: commands must stay atomic under concurrent clients,
//! single-key (INCR), multi-key (MSET/MGET across shards) and transactions (MULTI/EXEC).

mod common;

use common::TestServer;

#[test]
fn concurrent_incr_loses_no_update() {
    let server = TestServer::start();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = server.url();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                for _ in 0..2_000 {
                    let _: i64 = redis::cmd("INCR").arg("counter").query(&mut con).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut con = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    let n: i64 = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
    assert_eq!(n, 8_000);
}

#[test]
fn multi_key_writes_are_never_seen_half_done() {
    let server = TestServer::start();
    // Keys chosen to land on different shards (64 by default): a reader must never see them differ.
    let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    let writer = {
        let (url, keys) = (server.url(), keys.clone());
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            for round in 0..1_000 {
                if round % 2 == 0 {
                    let mut cmd = redis::cmd("MSET");
                    for k in &keys {
                        cmd.arg(k).arg(round);
                    }
                    let _: () = cmd.query(&mut con).unwrap();
                } else {
                    let mut pipe = redis::pipe();
                    pipe.atomic();
                    for k in &keys {
                        pipe.cmd("SET").arg(k).arg(round).ignore();
                    }
                    let _: () = pipe.query(&mut con).unwrap();
                }
            }
        })
    };
    let mut con = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let values: Vec<Option<i64>> = redis::cmd("MGET").arg(&keys).query(&mut con).unwrap();
        assert!(values.windows(2).all(|w| w[0] == w[1]), "torn read: {values:?}");
        // A transaction reading the keys one by one sees the same consistency.
        let mut pipe = redis::pipe();
        pipe.atomic();
        for k in &keys {
            pipe.cmd("GET").arg(k);
        }
        let values: Vec<Option<i64>> = pipe.query(&mut con).unwrap();
        assert!(values.windows(2).all(|w| w[0] == w[1]), "torn transaction read: {values:?}");
        reads += 1;
    }
    writer.join().unwrap();
}

/// CONFIG SET is atomic against another CONFIG SET: each edits the configuration in place
/// rather than writing back a copy taken before the other's change. Two clients each own one
/// setting; after each set, its owner must read its own value back.
#[test]
fn concurrent_config_sets_lose_no_change() {
    let server = TestServer::start();
    let threads: Vec<_> = [("hz", 1..=40), ("maxmemory-samples", 1..=40)]
        .into_iter()
        .map(|(name, values)| {
            let url = server.url();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                for round in 0..25 {
                    for v in values.clone() {
                        let v = v + round;
                        let _: () = redis::cmd("CONFIG").arg("SET").arg(name).arg(v).query(&mut con).unwrap();
                        let got: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(&mut con).unwrap();
                        assert_eq!(got[1], v.to_string(), "{name} lost its update");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
