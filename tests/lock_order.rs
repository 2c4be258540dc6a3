//! The lock order (`src/store/mod.rs`, "Lock order") under load: many clients mixing the
//! commands that take several locks or wait while holding one — MULTI/EXEC, CLUSTER
//! ADDSLOTS/DELSLOTS/SETSLOT (Raft proposals), MIGRATE (to the server itself: its RESTORE needs
//! the very shard MIGRATE reads), CONFIG SET, KEYS, FLUSHALL, SAVE, BGREWRITEAOF with
//! `appendfsync always`, DEBUG SLEEP — for a bounded
//! number of rounds, with parking_lot's deadlock detector watching. Every client must get
//! every answer (each read times out after 10 s, which fails the test), and the detector must
//! find no cycle.

mod common;

use common::{Conn, TempDir, TestServer};
use ferrocache::store::Clock;
use ferrocache::Config;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CLIENTS: usize = 8;
const ROUNDS: usize = 150;

/// Checks for deadlocked parking_lot locks every 50 ms until dropped; panics the test (from
/// `finish`) if it ever found one.
struct DeadlockWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl DeadlockWatch {
    fn start() -> DeadlockWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut found = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                for cycle in parking_lot::deadlock::check_deadlock() {
                    for t in cycle {
                        found.push(format!("thread {:?}:\n{:?}", t.thread_id(), t.backtrace()));
                    }
                }
            }
            found
        });
        DeadlockWatch { stop, thread: Some(thread) }
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let found = self.thread.take().expect("running").join().expect("watcher thread");
        assert!(found.is_empty(), "deadlock detected:\n{}", found.join("\n"));
    }
}

fn call(c: &mut Conn, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.call_text(&args)
}

/// Runs `CLIENTS` threads of `ROUNDS` random operations each against `addr`.
fn hammer(addr: std::net::SocketAddr, op: fn(&mut Conn, &mut SmallRng, u16)) {
    let port = addr.port();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Conn::new(addr);
                let mut rng = SmallRng::seed_from_u64(0x10c4_0000 + i as u64);
                for _ in 0..ROUNDS {
                    op(&mut c, &mut rng, port);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client thread failed (see its panic above)");
    }
}

fn standalone_op(c: &mut Conn, rng: &mut SmallRng, port: u16) {
    let key = format!("k{}", rng.gen_range(0..64));
    let other = format!("k{}", rng.gen_range(0..64));
    let port = port.to_string();
    match rng.gen_range(0..100) {
        0..=29 => {
            assert_eq!(call(c, &["SET", &key, "v"]), "+OK\r\n");
        }
        30..=44 => {
            call(c, &["MULTI"]);
            call(c, &["SET", &key, "1"]);
            call(c, &["INCR", &other]);
            call(c, &["GET", &key]);
            let reply = call(c, &["EXEC"]);
            assert!(reply.starts_with("*3\r\n"), "EXEC: {reply:?}");
        }
        45..=52 => {
            call(c, &["WATCH", &key]);
            call(c, &["MULTI"]);
            call(c, &["KEYS", "k1*"]);
            call(c, &["SET", &other, "x"]);
            let reply = call(c, &["EXEC"]);
            assert!(reply.starts_with("*2\r\n") || reply == "*-1\r\n", "EXEC: {reply:?}");
        }
        53..=62 => {
            // To this very server, db 1: its RESTORE needs the shard MIGRATE read the key from.
            let reply = call(c, &["MIGRATE", "127.0.0.1", &port, &key, "1", "5000", "COPY", "REPLACE"]);
            assert!(reply == "+OK\r\n" || reply == "+NOKEY\r\n", "MIGRATE: {reply:?}");
        }
        63..=66 => {
            call(c, &["MULTI"]);
            call(c, &["SET", &key, "m"]);
            call(c, &["MIGRATE", "127.0.0.1", &port, &key, "2", "5000", "REPLACE"]);
            let reply = call(c, &["EXEC"]);
            assert_eq!(reply, "*2\r\n+OK\r\n+OK\r\n", "MULTI with MIGRATE");
        }
        67..=76 => {
            let reply = call(c, &["KEYS", "*"]);
            assert!(reply.starts_with('*'), "KEYS: {reply:?}");
        }
        77..=84 => {
            let samples = rng.gen_range(1..10).to_string();
            assert_eq!(call(c, &["CONFIG", "SET", "maxmemory-samples", &samples, "hz", "10"]), "+OK\r\n");
        }
        85..=88 => {
            let mode = if rng.gen_bool(0.5) { "ASYNC" } else { "SYNC" };
            assert_eq!(call(c, &["FLUSHALL", mode]), "+OK\r\n");
        }
        89..=91 => {
            call(c, &["MULTI"]);
            call(c, &["SET", &key, "f"]);
            call(c, &["FLUSHDB"]);
            call(c, &["SET", &other, "f"]);
            assert_eq!(call(c, &["EXEC"]), "*3\r\n+OK\r\n+OK\r\n+OK\r\n");
        }
        92..=93 => {
            let reply = call(c, &["SAVE"]);
            assert!(reply == "+OK\r\n" || reply.starts_with("-ERR Background save"), "SAVE: {reply:?}");
        }
        94 => {
            // Its cut takes the AOF file lock before the shards (the lock order's rule 2).
            let reply = call(c, &["BGREWRITEAOF"]);
            assert!(reply.contains("Background append only file rewriting"), "BGREWRITEAOF: {reply:?}");
        }
        _ => {
            call(c, &["MULTI"]);
            call(c, &["SET", &key, "d"]);
            call(c, &["DEBUG", "SLEEP", "0.001"]);
            assert_eq!(call(c, &["EXEC"]), "*2\r\n+OK\r\n+OK\r\n");
        }
    }
}

#[test]
fn mixed_commands_never_deadlock_and_every_client_is_answered() {
    let dir = TempDir::new("lock-order");
    let config =
        Config { dir: dir.path_str(), save: "3600 1".into(), enable_debug_command: "yes".into(), ..Config::default() };
    let server = TestServer::start_with(config, Clock::System);
    let watch = DeadlockWatch::start();
    hammer(server.addr, standalone_op);
    watch.finish();
    assert_eq!(call(&mut server.connect(), &["PING"]), "+PONG\r\n");
}

fn cluster_op(c: &mut Conn, rng: &mut SmallRng, _port: u16) {
    // Slots 0..64 change hands, and the keys are hash-tagged into them.
    let slot = rng.gen_range(0..64u16);
    let key = format!("{{{}}}k", TAGS[slot as usize]);
    let slot_s = slot.to_string();
    match rng.gen_range(0..100) {
        0..=24 => {
            call(c, &["CLUSTER", "ADDSLOTS", &slot_s]);
        }
        25..=39 => {
            call(c, &["CLUSTER", "DELSLOTS", &slot_s]);
        }
        40..=49 => {
            let me = call(c, &["CLUSTER", "MYID"]);
            let me = me.lines().nth(1).unwrap_or_default().to_string();
            let state = if rng.gen_bool(0.5) { "MIGRATING" } else { "IMPORTING" };
            call(c, &["CLUSTER", "SETSLOT", &slot_s, state, &me]);
            call(c, &["CLUSTER", "SETSLOT", &slot_s, "STABLE"]);
        }
        50..=74 => {
            // The redirect check reads the slot map (and key existence for a migrating slot).
            call(c, &["SET", &key, "v"]);
            call(c, &["GET", &key]);
        }
        75..=84 => {
            call(c, &["MULTI"]);
            call(c, &["SET", &key, "1"]);
            call(c, &["CLUSTER", "ADDSLOTS", &slot_s]);
            call(c, &["CLUSTER", "COUNTKEYSINSLOT", &slot_s]);
            let reply = call(c, &["EXEC"]);
            assert!(reply.starts_with('*') || reply.starts_with('-'), "EXEC: {reply:?}");
        }
        85..=92 => {
            call(c, &["CLUSTER", "GETKEYSINSLOT", &slot_s, "10"]);
            call(c, &["KEYS", "*"]);
        }
        _ => {
            assert_eq!(call(c, &["CONFIG", "SET", "maxmemory-samples", "5"]), "+OK\r\n");
        }
    }
}

/// Hash tags landing in slots 0..64 (found by brute force over short strings), so keys hit
/// the slots whose ownership the clients change.
static TAGS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let mut tags = vec![String::new(); 64];
    let mut missing = 64;
    let mut n = 0u64;
    while missing > 0 {
        let tag = format!("t{n}");
        let slot = ferrocache_cluster::key_slot(tag.as_bytes()) as usize;
        if slot < 64 && tags[slot].is_empty() {
            tags[slot] = tag;
            missing -= 1;
        }
        n += 1;
    }
    tags
});

#[test]
fn cluster_changes_under_load_never_deadlock() {
    let dir = TempDir::new("lock-order-cluster");
    let server = common::cluster::cluster_server(&dir);
    let watch = DeadlockWatch::start();
    hammer(server.addr, cluster_op);
    watch.finish();
    assert_eq!(call(&mut server.connect(), &["PING"]), "+PONG\r\n");
}

/// The same mix on a primary while a replica keeps re-syncing (full syncs cut snapshots under
/// every shard; partial ones read the backlog), links are killed, WAIT and INFO read the
/// replication state, and the replica is promoted and demoted: replication's locks (the
/// backlog under the shards, the leaves) must fit the order too.
#[test]
fn replication_under_mixed_commands_never_deadlocks() {
    let dir = TempDir::new("lock-order-repl");
    let config = Config {
        dir: dir.path_str(),
        save: "3600 1".into(),
        enable_debug_command: "yes".into(),
        repl_diskless_sync_delay: 0,
        ..Config::default()
    };
    let primary = TestServer::start_with(config, Clock::System);
    let replica = TestServer::start_with(Config { repl_diskless_sync_delay: 0, ..Config::default() }, Clock::System);
    let watch = DeadlockWatch::start();
    let stop = Arc::new(AtomicBool::new(false));
    let (p_addr, r_addr) = (primary.addr, replica.addr);
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut p, mut r) = (Conn::new(p_addr), Conn::new(r_addr));
            let port = p_addr.port().to_string();
            let mut rng = SmallRng::seed_from_u64(0x5eed);
            while !stop.load(Ordering::Relaxed) {
                // A replica loading a snapshot answers REPLICAOF with -LOADING, as Redis does.
                let ok_or_loading = |reply: String| {
                    assert!(reply.starts_with("+OK") || reply.starts_with("-LOADING"), "REPLICAOF: {reply:?}")
                };
                match rng.gen_range(0..5) {
                    0 => ok_or_loading(call(&mut r, &["REPLICAOF", "127.0.0.1", &port])),
                    1 => ok_or_loading(call(&mut r, &["REPLICAOF", "NO", "ONE"])),
                    2 => assert!(call(&mut p, &["CLIENT", "KILL", "TYPE", "replica"]).starts_with(':')),
                    3 => assert!(call(&mut p, &["WAIT", "1", "20"]).starts_with(':')),
                    _ => assert!(call(&mut r, &["INFO", "replication"]).starts_with('$')),
                }
            }
        })
    };
    hammer(primary.addr, standalone_op);
    stop.store(true, Ordering::Relaxed);
    churn.join().expect("the replication churn thread failed");
    watch.finish();
    assert_eq!(call(&mut primary.connect(), &["PING"]), "+PONG\r\n");
    assert_eq!(call(&mut replica.connect(), &["PING"]), "+PONG\r\n");
}
