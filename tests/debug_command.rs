//! DEBUG's subcommands against a real redis-server, both with `enable-debug-command yes`:
//! the same replies byte for byte (DEBUG OBJECT's address and LRU fields aside), the same
//! dataset digest for the same keys, and the effects of SET-ACTIVE-EXPIRE and CHANGE-REPL-ID.

mod common;

use common::process::ServerProcess;
use common::{Conn, TempDir, TestServer};
use std::time::{Duration, Instant};

fn call(c: &mut Conn, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.call_text(&args)
}

/// DEBUG OBJECT's line without what differs between servers (address, LRU clock, idle time).
fn object_fields(line: &str) -> String {
    line.split(' ').filter(|f| !f.starts_with("at:") && !f.starts_with("lru")).collect::<Vec<_>>().join(" ")
}

#[test]
fn debug_subcommands_answer_as_redis_server_does() {
    let dir = TempDir::new("debug-redis");
    let redis = ServerProcess::redis(&dir.0, &["--enable-debug-command", "yes"]);
    let ours = TestServer::with_config(|c| c.enable_debug_command = "yes".into());
    let mut r = Conn::new(redis.addr);
    let mut f = ours.connect();
    let script: &[&[&str]] = &[
        &["DEBUG", "DIGEST"],
        &["SET", "k", "v"],
        &["SET", "n", "123"],
        &["SET", "big", "70000"],
        &["SET", "long", &"a".repeat(100)],
        &["SET", "ttl", "x", "EX", "1000"],
        &["SELECT", "3"],
        &["SET", "k", "other db"],
        &["SELECT", "0"],
        &["DEBUG", "DIGEST"],
        &["DEBUG", "DIGEST-VALUE", "k", "ttl", "nosuch"],
        &["DEBUG", "DIGEST", "x"],
        &["DEBUG", "OBJECT", "nosuch"],
        &["DEBUG", "OBJECT"],
        &["DEBUG", "OBJECT", "k", "extra"],
        &["DEBUG", "SET-ACTIVE-EXPIRE"],
        &["DEBUG", "SET-ACTIVE-EXPIRE", "x"],
        &["DEBUG", "SET-ACTIVE-EXPIRE", "1"],
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD"],
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"],
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "abc"],
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5gb"],
        &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0"],
        &["DEBUG", "CHANGE-REPL-ID"],
        &["DEBUG", "CHANGE-REPL-ID", "x"],
        &["DEBUG", "nosuch"],
        &["DEBUG", "RELOAD", "bogus"],
        &["DEBUG", "RELOAD"],
        &["DEBUG", "DIGEST"],
        &["DEBUG", "RELOAD", "NOSAVE"],
        &["DEBUG", "DIGEST"],
        &["DBSIZE"],
        // Inside a transaction that holds another key's shard.
        &["MULTI"],
        &["SET", "k2", "v2"],
        &["DEBUG", "DIGEST"],
        &["EXEC"],
        &["DEBUG", "DIGEST"],
    ];
    for cmd in script {
        assert_eq!(call(&mut f, cmd), call(&mut r, cmd), "{cmd:?}");
    }
    for key in ["k", "n", "big", "long", "ttl"] {
        let (ours, theirs) = (call(&mut f, &["DEBUG", "OBJECT", key]), call(&mut r, &["DEBUG", "OBJECT", key]));
        assert!(ours.starts_with("+Value at:0x"), "{ours}");
        assert_eq!(object_fields(&ours), object_fields(&theirs), "DEBUG OBJECT {key}");
    }
}

#[test]
fn change_repl_id_and_set_active_expire_take_effect() {
    let server = TestServer::with_config(|c| c.enable_debug_command = "yes".into());
    let mut c = server.connect();
    let replid = |c: &mut Conn| {
        let info = call(c, &["INFO", "replication"]);
        info.lines().find_map(|l| l.strip_prefix("master_replid:")).expect("master_replid").to_string()
    };
    let before = replid(&mut c);
    assert_eq!(call(&mut c, &["DEBUG", "CHANGE-REPL-ID"]), "+OK\r\n");
    assert_ne!(replid(&mut c), before);
    // With the active cycle off, an expired key nobody reads stays counted; back on, it goes.
    assert_eq!(call(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["SET", "k", "v", "PX", "1"]), "+OK\r\n");
    let expired_keys = |c: &mut Conn| {
        let info = call(c, &["INFO", "stats"]);
        info.lines().find_map(|l| l.strip_prefix("expired_keys:")).expect("expired_keys").to_string()
    };
    assert_eq!(call(&mut c, &["DBSIZE"]), ":1\r\n");
    assert_eq!(call(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), "+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(&mut c, &["DBSIZE"]) != ":0\r\n" {
        assert!(Instant::now() < deadline, "the active cycle did not expire the key");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(expired_keys(&mut c), "1");
}

#[test]
fn reload_keeps_the_dataset_and_refuses_what_it_does_not_do() {
    let server = TestServer::with_config(|c| c.enable_debug_command = "yes".into());
    let mut c = server.connect();
    for i in 0..200 {
        let key = format!("key:{i}");
        assert_eq!(call(&mut c, &["SET", &key, &"v".repeat(i), "EX", "1000"]), "+OK\r\n");
    }
    let digest = call(&mut c, &["DEBUG", "DIGEST"]);
    assert_eq!(call(&mut c, &["DEBUG", "RELOAD"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["DEBUG", "DIGEST"]), digest);
    assert_eq!(call(&mut c, &["DBSIZE"]), ":200\r\n");
    // NOSAVE loads what the file holds: a key written since is gone.
    assert_eq!(call(&mut c, &["SET", "later", "x"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["DEBUG", "RELOAD", "NOSAVE"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["EXISTS", "later"]), ":0\r\n");
    assert_eq!(
        call(&mut c, &["DEBUG", "RELOAD", "MERGE"]),
        "-ERR DEBUG RELOAD MERGE and NOFLUSH are not supported\r\n"
    );
    assert_eq!(call(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(call(&mut c, &["DEBUG", "RELOAD"]), "+QUEUED\r\n");
    assert_eq!(call(&mut c, &["EXEC"]), "*1\r\n-ERR DEBUG RELOAD is not supported inside MULTI\r\n");
}
