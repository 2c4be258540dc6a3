//! Replication under faults, with every server a child process: a replica or a primary
//! killed (SIGKILL) in the middle of a full sync, a primary paused (SIGSTOP) beyond the
//! replica's `repl-timeout`, the link cut and restored by a proxy (a partial resync), the
//! backlog overrun while the link is cut (a full resync), and WAIT-acknowledged writes
//! surviving the primary's death on the replica.
//!
//! After each fault the replica must converge to the primary's data (every key compared by
//! DUMP), the primary must hold every write it acknowledged, a replica must never show a
//! half-loaded dataset, and no process may panic (each Ferrocache's stderr is kept in its
//! directory as `ferrocache.stderr` and checked).

mod common;

use common::keyspace::{query, wait_until};
use common::process::{free_port, ServerProcess};
use common::replication::{connect, dump_all, field, fill, info, repl_field, stat, write_mix};
use common::TempDir;
use redis::Connection;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Servers

/// The `ferrocache` binary on `port` working in `dir` ([`ServerProcess::ferrocache_on`]:
/// its log and stderr kept there); full syncs start at once and nothing is saved unless
/// `extra` says so.
fn ferrocache_on(dir: &Path, port: u16, extra: &[&str]) -> ServerProcess {
    let mut flags = vec!["--save", "", "--repl-diskless-sync-delay", "0"];
    flags.extend_from_slice(extra);
    ServerProcess::ferrocache_on(dir, port, &flags)
}

fn ferrocache(dir: &Path, extra: &[&str]) -> ServerProcess {
    ferrocache_on(dir, free_port(), extra)
}

/// The logs (last 60 lines of each) and stderr of the server that ran in `dir`, for failure
/// messages.
fn server_output(dir: &Path) -> String {
    let mut out = String::new();
    let mut files: Vec<_> = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if !(name.ends_with(".log") || name.ends_with(".stderr")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(60)..];
        out.push_str(&format!("--- {} (last {} lines) ---\n{}\n", path.display(), tail.len(), tail.join("\n")));
    }
    out
}

/// Nothing panicked in the Ferrocache that ran in `dir` (a panicking task does not stop the
/// process: its message on stderr is the only trace).
fn assert_no_panic(dir: &Path) {
    let stderr = std::fs::read_to_string(dir.join("ferrocache.stderr")).unwrap_or_default();
    assert!(!stderr.contains("panicked"), "a panic in the server of {}:\n{}", dir.display(), server_output(dir));
}

fn assert_alive(server: &mut ServerProcess, dir: &Path) {
    if let Ok(Some(status)) = server.child.try_wait() {
        panic!("the server in {} died ({status}):\n{}", dir.display(), server_output(dir));
    }
    let mut con = server.connect();
    let pong: String = query(&mut con, &["PING"]);
    assert_eq!(pong, "PONG");
}

fn signal(server: &ServerProcess, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid, which has not been reaped (we hold its Child).
    let rc = unsafe { libc::kill(server.child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({}, {sig}) failed", server.child.id());
}

fn replicaof_args(primary: SocketAddr) -> [String; 3] {
    ["--replicaof".into(), "127.0.0.1".into(), primary.port().to_string()]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------
// Reading servers

fn link_status(con: &mut Connection) -> String {
    repl_field(con, "master_link_status")
}

fn wait_link(replica: &mut Connection, status: &str, dir: &Path) {
    wait_link_within(replica, status, dir, Duration::from_secs(30));
}

fn wait_link_within(replica: &mut Connection, status: &str, dir: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while link_status(replica) != status {
        assert!(
            Instant::now() < deadline,
            "master_link_status did not become {status} within {within:?}; the replica's INFO replication:\n{}\n{}",
            info(replica, "replication"),
            server_output(dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the replica has applied everything the primary has streamed so far.
fn wait_caught_up(primary: &mut Connection, replica: &mut Connection, replica_dir: &Path) {
    let target: u64 = repl_field(primary, "master_repl_offset").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let at: u64 = repl_field(replica, "slave_repl_offset").parse().unwrap();
        if at >= target && link_status(replica) == "up" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica stayed at offset {at}, the primary is at {target}:\n{}",
            server_output(replica_dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The replica holds exactly the primary's data (after [`wait_caught_up`]).
fn assert_converged(primary: &mut Connection, replica: &mut Connection, what: &str) {
    let (p, r) = (dump_all(primary), dump_all(replica));
    if p != r {
        let only_p: Vec<_> = p.keys().filter(|k| !r.contains_key(*k)).take(5).collect();
        let only_r: Vec<_> = r.keys().filter(|k| !p.contains_key(*k)).take(5).collect();
        let differ: Vec<_> = p.iter().filter(|(k, v)| r.get(*k).is_some_and(|rv| rv != *v)).take(5).collect();
        panic!(
            "{what}: the replica differs from the primary ({} vs {} keys); only on the primary: {only_p:?}; \
             only on the replica: {only_r:?}; different values: {differ:?}",
            p.len(),
            r.len()
        );
    }
    assert!(!p.is_empty(), "{what}: nothing to compare");
}

/// Every `(key, value)` is on the server (db 0).
fn assert_all_present(con: &mut Connection, writes: &[(String, String)], what: &str) {
    let _: () = query(con, &["SELECT", "0"]);
    let mut missing = Vec::new();
    for chunk in writes.chunks(1000) {
        let mut mget = redis::cmd("MGET");
        for (k, _) in chunk {
            mget.arg(k);
        }
        let got: Vec<Option<String>> = mget.query(con).unwrap();
        for ((k, v), g) in chunk.iter().zip(got) {
            if g.as_deref() != Some(v.as_str()) {
                missing.push((k.clone(), v.clone(), g));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{what}: {} of {} acknowledged writes missing or wrong, e.g. {:?}",
        missing.len(),
        writes.len(),
        &missing[..missing.len().min(5)]
    );
}

// ---------------------------------------------------------------------------------------
// Load

/// A client writing `prefix:i = v<i>` one SET at a time, keeping the writes acknowledged with
/// OK, until stopped or until the server stops answering.
struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, String)>>>,
    handle: Option<JoinHandle<()>>,
}

impl Writer {
    fn start(addr: SocketAddr, prefix: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, a, prefix) = (stop.clone(), acked.clone(), prefix.to_string());
        let handle = std::thread::spawn(move || {
            let Ok(mut con) = redis::Client::open(format!("redis://{addr}")).unwrap().get_connection() else {
                return;
            };
            let _ = con.set_read_timeout(Some(Duration::from_secs(10)));
            let mut i = 0u64;
            while !s.load(Ordering::Relaxed) {
                let (k, v) = (format!("{prefix}:{i}"), format!("v{i}"));
                match redis::cmd("SET").arg(&k).arg(&v).query::<String>(&mut con) {
                    Ok(ok) if ok == "OK" => a.lock().unwrap().push((k, v)),
                    _ => return,
                }
                i += 1;
                // Rate limit (a load, not synchronisation): about 1000 writes a second.
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Writer { stop, acked, handle: Some(handle) }
    }

    fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Stops it and returns the writes acknowledged.
    fn finish(mut self) -> Vec<(String, String)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("writer thread");
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------
// A TCP proxy the test controls

/// Forwards every connection it accepts to `target`, both ways. `cut` drops every current
/// connection (both ends see EOF, as when a link dies) and closes new ones at once until
/// `restore`.
struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    accept: Option<JoinHandle<()>>,
}

struct ProxyState {
    target: SocketAddr,
    stop: AtomicBool,
    /// Open (forwarding) and the sockets of every forwarded connection, under one lock so a
    /// connection accepted while `cut` runs is either closed by it or refused.
    conns: Mutex<(bool, Vec<TcpStream>)>,
}

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state =
            Arc::new(ProxyState { target, stop: AtomicBool::new(false), conns: Mutex::new((true, Vec::new())) });
        let st = state.clone();
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let mut conns = st.conns.lock().unwrap();
                if !conns.0 {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(st.target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                conns.1.push(client.try_clone().unwrap());
                conns.1.push(server.try_clone().unwrap());
                drop(conns);
                pump(client.try_clone().unwrap(), server.try_clone().unwrap());
                pump(server, client);
            }
        });
        Proxy { addr, state, accept: Some(accept) }
    }

    fn cut(&self) {
        let mut conns = self.state.conns.lock().unwrap();
        conns.0 = false;
        for s in conns.1.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.state.conns.lock().unwrap().0 = true;
    }
}

/// Copies `from` to `to` until either fails, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        self.cut();
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. A replica killed in the middle of a full sync

/// The replica is SIGKILLed while the primary (slowed by `rdb-key-save-delay`) is still
/// producing or sending its snapshot, under a write load. The primary keeps serving and
/// holds every write it acknowledged; the replica, restarted on the same directory with the
/// same `--replicaof`, syncs again and converges.
fn replica_killed_mid_full_sync(diskless: bool) {
    let (pdir, rdir) = (TempDir::new("fault-p"), TempDir::new("fault-r"));
    let flag = if diskless { "yes" } else { "no" };
    let primary = ferrocache(&pdir.0, &["--repl-diskless-sync", flag]);
    let mut p = connect(primary.addr);
    fill(&mut p, "bulk", 20_000, 16);
    write_mix(&mut p, 0);
    let _: () = query(&mut p, &["CONFIG", "SET", "rdb-key-save-delay", "20"]);
    let writer = Writer::start(primary.addr, "during");
    let args = replicaof_args(primary.addr);
    let replica = ferrocache(&rdir.0, &strs(&args));
    let mut r = connect(replica.addr);
    // In the middle: the replica is syncing (and, diskless, has received part of the payload).
    wait_until("the replica to be in the middle of its full sync", || {
        let text = info(&mut r, "replication");
        let syncing = field(&text, "master_sync_in_progress").as_deref() == Some("1");
        let read: i64 = field(&text, "master_sync_read_bytes").and_then(|v| v.parse().ok()).unwrap_or(0);
        syncing && (!diskless || read > 0)
    });
    let line = repl_field(&mut p, "slave0");
    assert!(line.contains("state=wait_bgsave") || line.contains("state=send_bulk"), "primary sees: {line}");
    assert_eq!(repl_field(&mut r, "master_sync_in_progress"), "1", "the sync ended before the kill");
    drop(r);
    replica.kill9();

    // The primary notices, keeps serving, and has every acknowledged write.
    let acked_before = writer.count();
    wait_until("the primary to drop the dead replica", || repl_field(&mut p, "connected_slaves") == "0");
    wait_until("more writes after the kill", || writer.count() > acked_before + 50);
    let mut primary = primary;
    assert_alive(&mut primary, &pdir.0);

    // Restarted on the same directory, the replica syncs again (the primary still slow) and
    // converges; the writer runs through the second sync too.
    let replica = ferrocache(&rdir.0, &strs(&args));
    let mut r = connect(replica.addr);
    wait_link(&mut r, "up", &rdir.0);
    let acked = writer.finish();
    assert!(acked.len() > 100, "the writer made only {} writes", acked.len());
    assert_all_present(&mut p, &acked, "the primary");
    wait_caught_up(&mut p, &mut r, &rdir.0);
    assert_converged(&mut p, &mut r, "after the replica's restart");
    assert_all_present(&mut r, &acked, "the restarted replica");
    assert!(stat(&mut p, "sync_full") >= 2, "the restarted replica synced in full");
    assert_eq!(repl_field(&mut p, "connected_slaves"), "1");
    assert_no_panic(&pdir.0);
    assert_no_panic(&rdir.0);
}

#[test]
fn replica_killed_mid_diskless_full_sync_resyncs_and_converges() {
    replica_killed_mid_full_sync(true);
}

#[test]
fn replica_killed_mid_disk_full_sync_resyncs_and_converges() {
    replica_killed_mid_full_sync(false);
}

// ---------------------------------------------------------------------------------------
// 2. The primary killed in the middle of a full sync

/// A replica with a dataset of its own (`old_keys` keys) starts a full sync from a primary
/// (slowed by `rdb-key-save-delay`, its writes durable: `appendfsync always`) which is
/// SIGKILLed in the middle. A client polling the replica all along sees its old dataset
/// whole, or `-LOADING`, or the primary's dataset whole: never a part. The replica survives
/// with its old data; the primary, restarted on its port from its AOF, holds every write it
/// acknowledged, and the replica converges to it. `load` is the replica's
/// `repl-diskless-load`.
fn primary_killed_mid_full_sync(diskless: bool, load: &str, old_keys: usize) {
    let (pdir, rdir) = (TempDir::new("fault-p"), TempDir::new("fault-r"));
    let flag = if diskless { "yes" } else { "no" };
    let pport = free_port();
    let pflags = ["--repl-diskless-sync", flag, "--appendonly", "yes", "--appendfsync", "always"];
    let primary = ferrocache_on(&pdir.0, pport, &pflags);
    let mut p = connect(primary.addr);
    fill(&mut p, "bulk", 20_000, 16);
    write_mix(&mut p, 0);

    // The replica's own data, before it is made a replica.
    let mut replica = ferrocache(&rdir.0, &["--repl-diskless-load", load]);
    let mut r = connect(replica.addr);
    fill(&mut r, "old", old_keys, 8);
    let old = dump_all(&mut r);
    let old_count = old.len() as i64;

    let _: () = query(&mut p, &["CONFIG", "SET", "rdb-key-save-delay", "20"]);
    let writer = Writer::start(primary.addr, "during");

    // Polls DBSIZE on the replica until stopped; returns every count seen and whether
    // `-LOADING` was seen.
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (addr, watching) = (replica.addr, watching.clone());
        std::thread::spawn(move || {
            let mut con = connect(addr);
            let (mut counts, mut loading, mut errors) = (BTreeSet::new(), false, Vec::new());
            while watching.load(Ordering::Relaxed) {
                match redis::cmd("DBSIZE").query::<i64>(&mut con) {
                    Ok(n) => {
                        counts.insert(n);
                    }
                    Err(e) if e.code() == Some("LOADING") => loading = true,
                    Err(e) => errors.push(e.to_string()),
                }
            }
            (counts, loading, errors)
        })
    };

    let _: String = query(&mut r, &["REPLICAOF", "127.0.0.1", &pport.to_string()]);
    // In the middle: syncing (diskless: part of the payload received), writes acknowledged
    // meanwhile.
    wait_until("the replica to be in the middle of its full sync", || {
        let text = info(&mut r, "replication");
        let syncing = field(&text, "master_sync_in_progress").as_deref() == Some("1");
        let read: i64 = field(&text, "master_sync_read_bytes").and_then(|v| v.parse().ok()).unwrap_or(0);
        syncing && (!diskless || read > 0) && writer.count() >= 30
    });
    let acked = writer.finish();
    let primary_count: i64 = query(&mut p, &["DBSIZE"]);
    drop(p);
    primary.kill9();

    // The replica: alive, link down, its old data whole.
    wait_link(&mut r, "down", &rdir.0);
    wait_until("the replica to give up the interrupted sync", || repl_field(&mut r, "master_sync_in_progress") == "0");
    assert_alive(&mut replica, &rdir.0);
    assert_eq!(dump_all(&mut r), old, "the replica's data after its primary died mid-sync");
    assert_no_panic(&rdir.0);

    // The primary back on its port, from its AOF, without the delay.
    let primary = ferrocache_on(&pdir.0, pport, &pflags);
    let mut p = connect(primary.addr);
    assert_all_present(&mut p, &acked, "the restarted primary");
    assert_eq!(query::<i64>(&mut p, &["DBSIZE"]), primary_count, "the restarted primary's key count");
    wait_caught_up(&mut p, &mut r, &rdir.0);
    assert_converged(&mut p, &mut r, "after the primary's restart");
    watching.store(false, Ordering::Relaxed);
    let (counts, loading, errors) = watcher.join().expect("watcher thread");
    assert!(errors.is_empty(), "DBSIZE on the replica failed: {errors:?}");
    let allowed: BTreeSet<i64> = [old_count, primary_count].into();
    assert!(
        counts.is_subset(&allowed),
        "the replica showed a partial dataset: DBSIZE took {counts:?} (old {old_count}, primary's {primary_count}; \
         -LOADING seen: {loading})\n{}",
        server_output(&rdir.0)
    );
    assert!(counts.contains(&old_count), "the watcher never saw the old dataset: {counts:?}");
    assert_alive(&mut replica, &rdir.0);
    assert_no_panic(&pdir.0);
    assert_no_panic(&rdir.0);
}

#[test]
fn primary_killed_mid_diskless_full_sync_leaves_no_partial_dataset() {
    primary_killed_mid_full_sync(true, "disabled", 500);
}

#[test]
fn primary_killed_mid_disk_full_sync_leaves_no_partial_dataset() {
    primary_killed_mid_full_sync(false, "disabled", 500);
}

/// The replica loads the snapshot as it arrives, into a store aside (`swapdb`): the old data
/// stays until the whole snapshot is in.
#[test]
fn primary_killed_mid_full_sync_loaded_with_swapdb_leaves_the_old_data() {
    primary_killed_mid_full_sync(true, "swapdb", 500);
}

/// The replica, empty, loads the snapshot as it arrives into its own store behind
/// `-LOADING` (`on-empty-db`): a transfer cut short must leave it empty, not half-loaded.
#[test]
fn primary_killed_mid_full_sync_loaded_on_empty_db_leaves_it_empty() {
    primary_killed_mid_full_sync(true, "on-empty-db", 0);
}

// ---------------------------------------------------------------------------------------
// 3. The primary paused beyond repl-timeout

/// The primary is SIGSTOPped longer than the replica's `repl-timeout 2`: the replica marks
/// the link down (and keeps serving its data); after SIGCONT it reconnects, continues with a
/// partial resync and converges.
fn primary_paused_beyond_repl_timeout(primary: ServerProcess, primary_log: &Path) {
    let rdir = TempDir::new("fault-r");
    let mut p = connect(primary.addr);
    write_mix(&mut p, 0);
    let args = replicaof_args(primary.addr);
    let mut rflags = strs(&args);
    rflags.extend(["--repl-timeout", "2"]);
    let mut replica = ferrocache(&rdir.0, &rflags);
    let mut r = connect(replica.addr);
    wait_link(&mut r, "up", &rdir.0);
    wait_caught_up(&mut p, &mut r, &rdir.0);
    write_mix(&mut p, 1);
    wait_caught_up(&mut p, &mut r, &rdir.0);
    let full_before = stat(&mut p, "sync_full");
    let partial_before = stat(&mut p, "sync_partial_ok");
    drop(p);

    signal(&primary, libc::SIGSTOP);
    let stopped = Instant::now();
    // Redis notices within about a second after the timeout (its replication cron).
    wait_link_within(&mut r, "down", &rdir.0, Duration::from_secs(10));
    let noticed = stopped.elapsed();
    assert!(noticed >= Duration::from_millis(1500), "the link went down after only {noticed:?}");
    // Stale data is served meanwhile.
    assert_eq!(query::<Option<String>>(&mut r, &["GET", "k1:5"]).as_deref(), Some("v5"));
    assert_alive(&mut replica, &rdir.0);
    signal(&primary, libc::SIGCONT);

    let mut p = connect(primary.addr);
    write_mix(&mut p, 2);
    wait_caught_up(&mut p, &mut r, &rdir.0);
    assert_converged(&mut p, &mut r, "after the pause");
    assert_eq!(stat(&mut p, "sync_full"), full_before, "no second full sync\n{}", server_output(primary_log));
    assert!(stat(&mut p, "sync_partial_ok") > partial_before, "the replica continued with a partial resync");
    let log = std::fs::read_to_string(&replica.log).unwrap_or_default();
    assert!(log.contains("MASTER timeout"), "the replica's log does not say the link timed out:\n{log}");
    assert_no_panic(&rdir.0);
}

#[test]
fn ferrocache_primary_paused_beyond_repl_timeout() {
    let pdir = TempDir::new("fault-p");
    let primary = ferrocache(&pdir.0, &["--repl-ping-replica-period", "1"]);
    primary_paused_beyond_repl_timeout(primary, &pdir.0);
    assert_no_panic(&pdir.0);
}

#[test]
fn redis_server_primary_paused_beyond_repl_timeout() {
    let pdir = TempDir::new("fault-redis-p");
    let primary =
        ServerProcess::redis(&pdir.0, &["--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"]);
    primary_paused_beyond_repl_timeout(primary, &pdir.0);
}

// ---------------------------------------------------------------------------------------
// 4. The link cut and restored

/// The replica reaches its primary through a proxy that cuts every connection, three times,
/// with writes on the primary while cut: each time the replica continues with a partial
/// resync and converges, and there is never a second full sync.
#[test]
fn a_cut_link_continues_with_a_partial_resync() {
    let (pdir, rdir) = (TempDir::new("fault-p"), TempDir::new("fault-r"));
    let primary = ferrocache(&pdir.0, &[]);
    let mut p = connect(primary.addr);
    write_mix(&mut p, 0);
    let proxy = Proxy::start(primary.addr);
    let args = replicaof_args(proxy.addr);
    let replica = ferrocache(&rdir.0, &strs(&args));
    let mut r = connect(replica.addr);
    wait_link(&mut r, "up", &rdir.0);
    wait_caught_up(&mut p, &mut r, &rdir.0);
    for round in 1..=3 {
        proxy.cut();
        wait_link(&mut r, "down", &rdir.0);
        write_mix(&mut p, round);
        // The cut is real: the replica has none of it.
        assert_eq!(query::<Option<String>>(&mut r, &["GET", &format!("k{round}:5")]), None);
        proxy.restore();
        wait_until("a partial resync", || stat(&mut p, "sync_partial_ok") >= round as u64);
        wait_caught_up(&mut p, &mut r, &rdir.0);
        assert_converged(&mut p, &mut r, &format!("after cut {round}"));
        assert_eq!(stat(&mut p, "sync_full"), 1, "no second full sync (cut {round})");
    }
    assert_eq!(stat(&mut p, "sync_partial_ok"), 3);
    assert_no_panic(&pdir.0);
    assert_no_panic(&rdir.0);
}

// ---------------------------------------------------------------------------------------
// 5. The backlog overrun

/// With a 16 KB backlog, the link is cut while ~250 KB are written: the history the replica
/// needs is gone, so its PSYNC is refused and it syncs in full, then converges.
#[test]
fn a_backlog_overrun_forces_a_full_resync() {
    let (pdir, rdir) = (TempDir::new("fault-p"), TempDir::new("fault-r"));
    let primary = ferrocache(&pdir.0, &["--repl-backlog-size", "16kb"]);
    let mut p = connect(primary.addr);
    write_mix(&mut p, 0);
    let proxy = Proxy::start(primary.addr);
    let args = replicaof_args(proxy.addr);
    let replica = ferrocache(&rdir.0, &strs(&args));
    let mut r = connect(replica.addr);
    wait_link(&mut r, "up", &rdir.0);
    wait_caught_up(&mut p, &mut r, &rdir.0);
    assert_eq!(stat(&mut p, "sync_full"), 1);

    proxy.cut();
    wait_link(&mut r, "down", &rdir.0);
    let replica_offset: u64 = repl_field(&mut r, "slave_repl_offset").parse().unwrap();
    fill(&mut p, "overrun", 2000, 100);
    write_mix(&mut p, 1);
    // The primary trims its backlog on its own time (its cron): wait until it is back to
    // about 16 KB (whole 16 KB chunks are dropped) and no longer holds the offset the
    // replica will ask for.
    wait_until("the backlog to be trimmed past the replica's offset", || {
        let text = info(&mut p, "replication");
        let first: u64 = field(&text, "repl_backlog_first_byte_offset").unwrap().parse().unwrap();
        let histlen: u64 = field(&text, "repl_backlog_histlen").unwrap().parse().unwrap();
        first > replica_offset + 1 && histlen < 48 * 1024
    });
    proxy.restore();
    wait_until("a second full sync", || stat(&mut p, "sync_full") == 2);
    wait_caught_up(&mut p, &mut r, &rdir.0);
    assert_converged(&mut p, &mut r, "after the full resync");
    assert!(stat(&mut p, "sync_partial_err") >= 1, "the PSYNC was refused");
    assert_eq!(stat(&mut p, "sync_partial_ok"), 0);
    assert_eq!(stat(&mut p, "sync_full"), 2);
    assert_no_panic(&pdir.0);
    assert_no_panic(&rdir.0);
}

// ---------------------------------------------------------------------------------------
// 6. WAIT

/// Under a write load from other clients, every write that `WAIT 1` says one replica has is
/// on the replica when read right after; then the primary is SIGKILLed in the middle of it
/// all, and every write WAIT acknowledged is still on the replica.
#[test]
fn wait_acknowledged_writes_are_on_the_replica_even_after_the_primary_dies() {
    let (pdir, rdir) = (TempDir::new("fault-p"), TempDir::new("fault-r"));
    let primary = ferrocache(&pdir.0, &[]);
    let mut p = connect(primary.addr);
    write_mix(&mut p, 0);
    let args = replicaof_args(primary.addr);
    let mut replica = ferrocache(&rdir.0, &strs(&args));
    let mut r = connect(replica.addr);
    wait_link(&mut r, "up", &rdir.0);
    drop(p);

    // Background load: two writers, one of them pipelining batches.
    let load = Writer::start(primary.addr, "load");
    let stop = Arc::new(AtomicBool::new(false));
    let batcher = {
        let (addr, stop) = (primary.addr, stop.clone());
        std::thread::spawn(move || {
            let mut con = connect(addr);
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut pipe = redis::pipe();
                for i in 0..50 {
                    pipe.cmd("SET").arg(format!("batch:{i}")).arg(round).ignore();
                }
                if pipe.query::<()>(&mut con).is_err() {
                    return;
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    // The WAIT client: SET, WAIT 1; when it says 1, the replica has the write right now.
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let waiter = {
        let (paddr, raddr, acked, violations) = (primary.addr, replica.addr, acked.clone(), violations.clone());
        std::thread::spawn(move || {
            let mut p = connect(paddr);
            let mut r = connect(raddr);
            let mut timeouts = 0u64;
            for i in 0.. {
                let (k, v) = (format!("wait:{i}"), format!("v{i}"));
                if redis::cmd("SET").arg(&k).arg(&v).query::<String>(&mut p).is_err() {
                    return timeouts;
                }
                match redis::cmd("WAIT").arg(1).arg(1000).query::<i64>(&mut p) {
                    Ok(1) => {
                        let got: Option<String> = redis::cmd("GET").arg(&k).query(&mut r).unwrap();
                        if got.as_deref() != Some(v.as_str()) {
                            violations.lock().unwrap().push(format!("{k}: replica has {got:?}"));
                        }
                        acked.lock().unwrap().push((k, v));
                    }
                    Ok(0) => timeouts += 1,
                    Ok(n) => violations.lock().unwrap().push(format!("WAIT 1 answered {n} with one replica")),
                    Err(_) => return timeouts,
                }
            }
            timeouts
        })
    };
    wait_until("500 WAIT-acknowledged writes", || acked.lock().unwrap().len() >= 500);
    primary.kill9();
    let timeouts = waiter.join().expect("waiter thread");
    stop.store(true, Ordering::Relaxed);
    batcher.join().expect("batch thread");
    let _ = load.finish();

    let violations = violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "WAIT-acknowledged writes not on the replica: {violations:?}");
    assert!(timeouts <= 5, "{timeouts} WAITs timed out with the replica connected");
    let acked = acked.lock().unwrap().clone();
    wait_link(&mut r, "down", &rdir.0);
    assert_alive(&mut replica, &rdir.0);
    assert_all_present(&mut r, &acked, "the replica after the primary died");
    assert_no_panic(&pdir.0);
    assert_no_panic(&rdir.0);
}
