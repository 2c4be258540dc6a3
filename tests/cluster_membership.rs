//! # Cluster membership: `redis-cli --cluster add-node` / `del-node`, FORGET and RESET
//!
//! A node joins a running three-node cluster with `add-node`, takes slots (`reshard`), gives
//! them back, leaves with `del-node` (FORGET on every other node, then `CLUSTER RESET SOFT`
//! on it: with Raft, the first FORGET removes it everywhere, and the forget list lets the
//! others' FORGETs succeed, as each Redis node forgets on its own), comes back with `add-node`
//! and gets slots with `rebalance --cluster-use-empty-masters`. The output lines expected are
//! those redis-cli 7.0.15 prints against redis-server 7.0.15 nodes for the same steps.
//!
//! Then the replies of FORGET and RESET on one node, compared byte for byte with a fresh
//! `redis-server --cluster-enabled yes`.

mod common;

use common::cluster::{cluster_server, redis_cli, reshard, slot_map, Follower, ProcessCluster};
use common::keyspace::wait_until;
use common::process::ServerProcess;
use common::{Conn, TempDir};

/// redis-cli's output without its colour escapes (`ESC [ … m`).
fn plain(out: &str) -> String {
    let mut text = String::with_capacity(out.len());
    let mut chars = out.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    text
}

fn cli(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let mut all = vec!["-p", port.as_str()];
    all.extend_from_slice(args);
    redis_cli(&all).1
}

/// `redis-cli --cluster check` through node `i` passes, seeing `n` nodes.
fn check_sees(cluster: &ProcessCluster, i: usize, n: usize) -> bool {
    let (ok, out) = cluster.check(i);
    ok && plain(&out).lines().filter(|l| l.starts_with("M: ") || l.starts_with("S: ")).count() == n
}

/// Ids of the nodes node `port`'s CLUSTER NODES lists, sorted.
fn known_ids(port: u16) -> Vec<String> {
    let mut ids: Vec<String> =
        cli(port, &["CLUSTER", "NODES"]).lines().filter_map(|l| l.split(' ').next().map(str::to_string)).collect();
    ids.sort();
    ids
}

fn move_slots(via: &str, from: &str, to: &str, slots: usize) {
    let (ok, out) = reshard(via, from, to, slots);
    assert!(ok && !out.contains("[ERR]"), "{out}");
}

#[test]
fn add_node_reshard_del_node_and_add_node_again() {
    let cluster = ProcessCluster::start("membership", 4);
    let (ports, addrs) = (cluster.ports.clone(), cluster.addrs());
    // A three-node cluster; node 3 stays out of it for now.
    let (ok, out) = redis_cli(&["--cluster", "create", &addrs[0], &addrs[1], &addrs[2], "--cluster-yes"]);
    assert!(ok && out.contains("[OK] All 16384 slots covered."), "{out}");
    wait_until("the three nodes to agree", || check_sees(&cluster, 0, 3));
    for port in &ports[..3] {
        wait_until("cluster_state:ok", || cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"));
    }
    let mut client = Follower::new(ports[0]);
    for i in 0..300 {
        let key = format!("key:{i}");
        assert_eq!(client.call(&[b"SET", key.as_bytes(), key.as_bytes()]), "+OK\r\n");
    }
    let id0 = cluster.id(0);
    let id3 = cluster.id(3);

    // add-node: node 3 MEETs node 0 and is taken in.
    let (ok, out) = redis_cli(&["--cluster", "add-node", &addrs[3], &addrs[0]]);
    let out = plain(&out);
    assert!(ok, "{out}");
    assert!(out.starts_with(&format!(">>> Adding node {} to cluster {}\n", addrs[3], addrs[0])), "{out}");
    assert!(out.contains(&format!(">>> Send CLUSTER MEET to node {} to make it join the cluster.\n", addrs[3])));
    assert!(out.ends_with("[OK] New node added correctly.\n"), "{out}");
    wait_until("four nodes to agree", || check_sees(&cluster, 0, 4) && check_sees(&cluster, 3, 4));
    // INFO's cluster_connections: two bus links per other known node, as Redis 7.0 counts.
    assert!(cli(ports[0], &["INFO", "clients"]).contains("cluster_connections:6\r\n"));

    // Slots (with their keys) to node 3 and back.
    move_slots(&addrs[0], &id0, &id3, 100);
    wait_until("node 3 to serve 100 slots", || slot_map(ports[1]).iter().filter(|&&p| p == ports[3]).count() == 100);
    wait_until("the check to pass", || check_sees(&cluster, 0, 4));
    let mut client = Follower::new(ports[3]);
    for i in 0..300 {
        let key = format!("key:{i}");
        assert_eq!(client.call(&[b"GET", key.as_bytes()]), format!("${}\r\n{key}\r\n", key.len()));
    }
    move_slots(&addrs[0], &id3, &id0, 100);
    wait_until("node 3 to serve no slot", || !slot_map(ports[0]).contains(&ports[3]));
    wait_until("the check to pass", || check_sees(&cluster, 0, 4));

    // del-node: FORGET on nodes 0, 1, 2 (each +OK), RESET SOFT on node 3: Redis's lines.
    let (ok, out) = redis_cli(&["--cluster", "del-node", &addrs[0], &id3]);
    assert!(ok, "{out}");
    assert_eq!(
        plain(&out),
        format!(
            ">>> Removing node {id3} from cluster {}\n\
             >>> Sending CLUSTER FORGET messages to the cluster...\n\
             >>> Sending CLUSTER RESET SOFT to the deleted node.\n",
            addrs[0]
        )
    );
    // The three agree without it; node 3 knows only itself, under the same id, empty.
    wait_until("three nodes to agree", || check_sees(&cluster, 0, 3));
    let mut three: Vec<String> = (0..3).map(|i| cluster.id(i)).collect();
    three.sort();
    for port in &ports[..3] {
        assert_eq!(known_ids(*port), three);
    }
    let nodes = cli(ports[3], &["CLUSTER", "NODES"]);
    assert_eq!(nodes.lines().count(), 1, "{nodes}");
    assert!(nodes.starts_with(&format!("{id3} 127.0.0.1:{}@{} myself,master - ", ports[3], ports[3] + 10000)));
    let info = cli(ports[3], &["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_known_nodes:1\r\n") && info.contains("cluster_slots_assigned:0\r\n"), "{info}");
    assert!(cli(ports[3], &["INFO", "clients"]).contains("cluster_connections:0\r\n"));
    assert!(cli(ports[0], &["INFO", "clients"]).contains("cluster_connections:4\r\n"));
    // A second FORGET on a node that has forgotten it: Redis's answer for a node it no longer knows.
    assert_eq!(cli(ports[1], &["CLUSTER", "FORGET", &id3]).trim_end(), format!("ERR Unknown node {id3}"));
    // The cluster goes on: every key is still served.
    let mut client = Follower::new(ports[2]);
    for i in 0..300 {
        let key = format!("key:{i}");
        assert_eq!(client.call(&[b"GET", key.as_bytes()]), format!("${}\r\n{key}\r\n", key.len()));
    }

    // add-node brings it back (within the 60 s: the forget list does not stand in the way),
    // and rebalance gives the empty master its share.
    let (ok, out) = redis_cli(&["--cluster", "add-node", &addrs[3], &addrs[1]]);
    assert!(ok && plain(&out).ends_with("[OK] New node added correctly.\n"), "{out}");
    wait_until("four nodes to agree again", || check_sees(&cluster, 1, 4) && check_sees(&cluster, 3, 4));
    assert_eq!(cluster.id(3), id3);
    // A small weight for node 3 keeps the move short (each slot is several commits).
    let weight = format!("{id3}=0.02");
    let (ok, out) =
        redis_cli(&["--cluster", "rebalance", &addrs[0], "--cluster-use-empty-masters", "--cluster-weight", &weight]);
    assert!(ok && !out.contains("[ERR]"), "{out}");
    wait_until("node 3 to serve its share of the slots", || {
        slot_map(ports[0]).iter().filter(|&&p| p == ports[3]).count() >= 100
    });
    wait_until("the check to pass", || check_sees(&cluster, 2, 4));
    let mut client = Follower::new(ports[3]);
    for i in 0..300 {
        let key = format!("key:{i}");
        assert_eq!(client.call(&[b"GET", key.as_bytes()]), format!("${}\r\n{key}\r\n", key.len()));
    }
}

/// CLUSTER RESET on a member the cluster still knows (no FORGET first): it leaves, the others
/// forget it (their FORGETs of it still answer +OK, once each), and `add-node` takes it back
/// under its new id (HARD).
#[test]
fn reset_hard_of_a_member_leaves_the_cluster() {
    let cluster = ProcessCluster::start("membership-reset", 4);
    let (ports, addrs) = (cluster.ports.clone(), cluster.addrs());
    let (ok, out) = redis_cli(&["--cluster", "create", &addrs[0], &addrs[1], &addrs[2], "--cluster-yes"]);
    assert!(ok, "{out}");
    let (ok, out) = redis_cli(&["--cluster", "add-node", &addrs[3], &addrs[0]]);
    assert!(ok, "{out}");
    wait_until("four nodes to agree", || check_sees(&cluster, 0, 4) && check_sees(&cluster, 3, 4));
    // INFO's cluster_connections: two bus links per other known node, as Redis 7.0 counts.
    assert!(cli(ports[0], &["INFO", "clients"]).contains("cluster_connections:6\r\n"));
    let old = cluster.id(3);
    assert_eq!(cli(ports[3], &["CLUSTER", "RESET", "HARD"]).trim_end(), "OK");
    let new = cluster.id(3);
    assert_ne!(new, old);
    assert_eq!(cli(ports[3], &["CLUSTER", "NODES"]).lines().count(), 1);
    let info = cli(ports[3], &["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_current_epoch:0\r\n") && info.contains("cluster_my_epoch:0\r\n"), "{info}");
    wait_until("three nodes to agree", || check_sees(&cluster, 0, 3));
    for port in &ports[..3] {
        assert_eq!(cli(*port, &["CLUSTER", "FORGET", &old]).trim_end(), "OK");
        assert_eq!(cli(*port, &["CLUSTER", "FORGET", &old]).trim_end(), format!("ERR Unknown node {old}"));
    }
    let (ok, out) = redis_cli(&["--cluster", "add-node", &addrs[3], &addrs[2]]);
    assert!(ok, "{out}");
    wait_until("four nodes to agree again", || check_sees(&cluster, 0, 4));
    assert!(known_ids(ports[1]).contains(&new));
    assert!(!known_ids(ports[1]).contains(&old));
}

/// Sends `args`, records the request and its reply with the node's id `myid` normalised.
fn record(out: &mut Vec<String>, c: &mut Conn, myid: &str, args: &[&[u8]]) {
    let reply = c.call_text(args).replace(myid, "<myid>");
    out.push(format!("{} -> {reply}", String::from_utf8_lossy(&args.join(&b' ')).replace(myid, "<myid>")));
}

fn my_id(c: &mut Conn) -> String {
    c.call_text(&[b"CLUSTER", b"MYID"]).lines().nth(1).unwrap().to_string()
}

/// FORGET's refusals and RESET's syntax on a fresh node, then it takes every slot.
fn membership_script(c: &mut Conn) -> Vec<String> {
    let myid = my_id(c);
    let mut out = Vec::new();
    for args in [
        &[&b"CLUSTER"[..], b"FORGET", myid.as_bytes()][..],
        &[b"CLUSTER", b"FORGET", b"0123456789012345678901234567890123456789"],
        &[b"CLUSTER", b"FORGET", b"abc"],
        &[b"CLUSTER", b"FORGET"],
        &[b"CLUSTER", b"RESET", b"FOO"],
        &[b"CLUSTER", b"RESET", b"SOFT", b"EXTRA"],
        &[b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"],
        &[b"CLUSTER", b"BUMPEPOCH"],
    ] {
        record(&mut out, c, &myid, args);
    }
    out
}

/// RESET refused while the master holds keys, then SOFT (same id) and HARD (new id, epochs 0).
fn reset_script(c: &mut Conn) -> Vec<String> {
    let myid = my_id(c);
    let mut out = Vec::new();
    for args in [
        &[&b"SET"[..], b"foo", b"bar"][..],
        &[b"CLUSTER", b"RESET"],
        &[b"CLUSTER", b"RESET", b"soft"],
        &[b"CLUSTER", b"RESET", b"Hard"],
        &[b"DEL", b"foo"],
        &[b"CLUSTER", b"RESET", b"SOFT"],
        &[b"CLUSTER", b"MYID"],
        &[b"CLUSTER", b"COUNTKEYSINSLOT", b"12182"],
        &[b"CLUSTER", b"ADDSLOTS", b"7"],
        &[b"CLUSTER", b"RESET", b"HARD"],
    ] {
        record(&mut out, c, &myid, args);
    }
    let new = my_id(c);
    out.push(format!("MYID changed: {}", new != myid));
    let info = c.call_text(&[b"CLUSTER", b"INFO"]);
    for field in ["cluster_slots_assigned", "cluster_known_nodes", "cluster_current_epoch", "cluster_my_epoch"] {
        out.push(info.lines().find(|l| l.starts_with(field)).unwrap_or("missing").to_string());
    }
    let nodes = c.call_text(&[b"CLUSTER", b"NODES"]);
    out.push(format!("nodes: {}", nodes.lines().filter(|l| l.contains("myself,master")).count()));
    record(&mut out, c, &new, &[b"CLUSTER", b"SET-CONFIG-EPOCH", b"5"]);
    record(&mut out, c, &new, &[b"CLUSTER", b"RESET", b"HARD"]);
    out
}

#[test]
fn forget_and_reset_answer_as_redis_does() {
    let dir = TempDir::new("membership-redis");
    let redis = ServerProcess::redis(&dir.0, &["--cluster-enabled", "yes"]);
    let mut r = Conn::new(redis.addr);
    let expected = membership_script(&mut r);
    wait_until("redis to report ok", || r.call_text(&[b"CLUSTER", b"INFO"]).contains("cluster_state:ok"));
    let expected_reset = reset_script(&mut r);

    let ours_dir = TempDir::new("membership-ours");
    let ours = cluster_server(&ours_dir);
    let mut c = ours.connect();
    let got = membership_script(&mut c);
    wait_until("ferrocache to report ok", || c.call_text(&[b"CLUSTER", b"INFO"]).contains("cluster_state:ok"));
    let got_reset = reset_script(&mut c);
    for (e, g) in expected.iter().chain(&expected_reset).zip(got.iter().chain(&got_reset)) {
        assert_eq!(g, e);
    }
    assert_eq!(got.len() + got_reset.len(), expected.len() + expected_reset.len());
}
