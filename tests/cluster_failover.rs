//! # Cluster replicas, failure detection and failover
//!
//! Six Ferrocache nodes as processes, made a cluster of three primaries and three replicas by
//! `redis-cli --cluster create --cluster-replicas 1`, as users make Redis clusters, with
//! `cluster-node-timeout 1000`:
//!
//! * a primary killed with SIGKILL is flagged `fail` and its replica takes its slots; every
//!   write acknowledged by `WAIT 1` is there; the old primary, restarted, comes back as a
//!   replica of the new one with the same data;
//! * manual CLUSTER FAILOVER (default: the master pauses, the replica catches up, no
//!   acknowledged write is lost), FORCE and TAKEOVER;
//! * with no replica, a killed primary leaves `cluster_state:fail` and `-CLUSTERDOWN`
//!   (reads allowed with `cluster-allow-reads-when-down yes`), and FAIL is cleared when the
//!   node is back.

mod common;

use common::cluster::{redis_cli, Follower, ProcessCluster};
use common::keyspace::wait_until;
use common::Conn;

const TIMEOUT_FLAGS: &[&str] = &["--cluster-node-timeout", "1000"];

/// A six-node cluster, three primaries with a replica each, healthy.
fn six_nodes(name: &str) -> ProcessCluster {
    let cluster = ProcessCluster::start_with(name, 6, TIMEOUT_FLAGS);
    cluster.create_with_replicas(1);
    cluster.wait_ok();
    let (ok, out) = cluster.check(0);
    assert!(ok, "{out}");
    cluster
}

fn port_str(cluster: &ProcessCluster, i: usize) -> String {
    cluster.ports[i].to_string()
}

fn cli(cluster: &ProcessCluster, i: usize, args: &[&str]) -> String {
    let port = port_str(cluster, i);
    let mut all = vec!["-p", port.as_str()];
    all.extend(args);
    redis_cli(&all).1
}

/// The index of the primary serving `key`, and its replica's.
fn primary_and_replica(cluster: &ProcessCluster, key: &str) -> (usize, usize) {
    let slot = ferrocache_cluster::key_slot(key.as_bytes()) as usize;
    let owner_port = common::cluster::slot_map(cluster.ports[0])[slot];
    let primary = cluster.ports.iter().position(|&p| p == owner_port).unwrap();
    let primary_id = cluster.id(primary);
    let replica = (0..6)
        .find(|&i| cluster.nodes_line(0, &cluster.id(i)).contains(&format!("slave {primary_id}")))
        .expect("a replica of the key's primary");
    (primary, replica)
}

/// SET through MOVED, then `WAIT 1 2000` on the node that took it: acknowledged by a replica.
fn set_and_wait(follower: &mut Follower, key: &str, value: &str) -> bool {
    if follower.call(&[b"SET", key.as_bytes(), value.as_bytes()]) != "+OK\r\n" {
        return false;
    }
    let slot = ferrocache_cluster::key_slot(key.as_bytes()) as usize;
    let port = follower.owners[slot];
    let conn = follower.conns.get_mut(&port).unwrap();
    conn.call_text(&[b"WAIT", b"1", b"2000"]) == ":1\r\n"
}

#[test]
fn a_killed_primary_fails_over_to_its_replica_and_returns_as_a_replica() {
    let mut cluster = six_nodes("failover-kill");
    let (victim, replica) = primary_and_replica(&cluster, "user:1");
    let victim_id = cluster.id(victim);
    let replica_id = cluster.id(replica);
    let witness = (0..6).find(|&i| i != victim && i != replica).unwrap();

    // CLUSTER REPLICAS lists the replica's CLUSTER NODES line.
    let replicas = cli(&cluster, witness, &["CLUSTER", "REPLICAS", &victim_id]);
    assert!(replicas.starts_with(&replica_id) && replicas.contains(&format!("slave {victim_id}")), "{replicas}");
    assert_eq!(cli(&cluster, witness, &["CLUSTER", "COUNT-FAILURE-REPORTS", &victim_id]).trim(), "0");

    // Writes acknowledged by the replica, readable there with READONLY.
    let mut follower = Follower::new(cluster.ports[witness]);
    let keys: Vec<String> = (0..300).map(|i| format!("user:{i}")).collect();
    for key in &keys {
        assert!(set_and_wait(&mut follower, key, &format!("v-{key}")), "WAIT 1 for {key}");
    }
    let mut on_replica = Conn::new(([127, 0, 0, 1], cluster.ports[replica]).into());
    assert_eq!(on_replica.call_text(&[b"GET", b"user:1"]).split(' ').next(), Some("-MOVED"));
    assert_eq!(on_replica.call_text(&[b"READONLY"]), "+OK\r\n");
    assert_eq!(on_replica.call_text(&[b"GET", b"user:1"]), "$8\r\nv-user:1\r\n");
    assert!(on_replica.call_text(&[b"SET", b"user:1", b"x"]).starts_with("-MOVED"));

    cluster.kill9(victim);
    // Flagged `fail` by the others, and the replica is the master of the slots.
    wait_until("the killed primary flagged fail", || {
        let line = cluster.nodes_line(witness, &victim_id);
        line.split(' ').nth(2).is_some_and(|flags| flags.split(',').any(|f| f == "fail"))
    });
    wait_until("the replica promoted", || {
        cluster.nodes_line(witness, &replica_id).split(' ').nth(2) == Some("master")
            && cli(&cluster, replica, &["ROLE"]).starts_with("master")
    });
    let info = cli(&cluster, witness, &["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_state:ok"), "{info}");

    // Every acknowledged write is there, and the slots take writes again.
    let mut follower = Follower::new(cluster.ports[witness]);
    for key in &keys {
        assert_eq!(follower.call(&[b"GET", key.as_bytes()]), format!("${}\r\nv-{key}\r\n", key.len() + 2));
    }
    assert_eq!(follower.call(&[b"SET", b"user:1", b"after"]), "+OK\r\n");

    // The old primary comes back as a replica of the new one, with the same data.
    cluster.restart(victim);
    wait_until("the old primary a replica of the new one", || {
        cluster.nodes_line(witness, &victim_id).contains(&format!("slave {replica_id}"))
            && cli(&cluster, victim, &["INFO", "replication"]).contains("master_link_status:up")
    });
    let line = cluster.nodes_line(witness, &victim_id);
    assert!(!line.contains("fail"), "FAIL is cleared once the node is back: {line}");
    wait_until("the old primary synced", || cli(&cluster, victim, &["DBSIZE"]) == cli(&cluster, replica, &["DBSIZE"]));
    let mut on_old = Conn::new(([127, 0, 0, 1], cluster.ports[victim]).into());
    on_old.call_text(&[b"READONLY"]);
    assert_eq!(on_old.call_text(&[b"GET", b"user:1"]), "$5\r\nafter\r\n");
    cluster.wait_ok();
    let (ok, out) = cluster.check(witness);
    assert!(ok, "{out}");
}

#[test]
fn manual_failover_default_force_and_takeover() {
    let cluster = six_nodes("failover-manual");
    let (primary, replica) = primary_and_replica(&cluster, "order:1");
    let (primary_id, replica_id) = (cluster.id(primary), cluster.id(replica));

    // On a master: Redis's refusal.
    assert_eq!(
        cli(&cluster, primary, &["CLUSTER", "FAILOVER"]).trim(),
        "ERR You should send CLUSTER FAILOVER to a replica"
    );

    // Default: writes keep coming while the roles swap; every acknowledged one survives.
    let port = cluster.ports[primary];
    let writer = std::thread::spawn(move || {
        let mut follower = Follower::new(port);
        let (mut acked, mut refused) = (Vec::new(), Vec::new());
        for i in 0..400 {
            let key = format!("order:{i}");
            match follower.call(&[b"SET", key.as_bytes(), b"paid"]) {
                ok if ok == "+OK\r\n" => acked.push(key),
                other => refused.push(format!("{key}: {other:?}")),
            }
        }
        (acked, refused)
    });
    assert_eq!(cli(&cluster, replica, &["CLUSTER", "FAILOVER"]).trim(), "OK");
    wait_until("the replica promoted by CLUSTER FAILOVER", || {
        cli(&cluster, replica, &["ROLE"]).starts_with("master")
            && cluster.nodes_line(replica, &primary_id).contains(&format!("slave {replica_id}"))
    });
    let (acked, refused) = writer.join().unwrap();
    assert!(refused.is_empty(), "the writer got refusals: {refused:?}");
    let mut follower = Follower::new(cluster.ports[replica]);
    for key in &acked {
        assert_eq!(follower.call(&[b"GET", key.as_bytes()]), "$4\r\npaid\r\n", "{key} after the failover");
    }
    wait_until("the old primary replicating the new one", || {
        cli(&cluster, primary, &["INFO", "replication"]).contains("master_link_status:up")
    });
    // It had everything: it continues from where it was (replid2), no full sync.
    let stats = cli(&cluster, replica, &["INFO", "stats"]);
    assert!(stats.contains("sync_partial_ok:1"), "{stats}");

    // FORCE and TAKEOVER: back to the first primary, then over again.
    assert_eq!(cli(&cluster, primary, &["CLUSTER", "FAILOVER", "FORCE"]).trim(), "OK");
    wait_until("FORCE promoted", || cli(&cluster, primary, &["ROLE"]).starts_with("master"));
    wait_until("the other replicating", || {
        cli(&cluster, replica, &["INFO", "replication"]).contains("master_link_status:up")
    });
    let epoch_before: u64 = cluster.nodes_line(0, &primary_id).split(' ').nth(6).unwrap().parse().unwrap();
    assert_eq!(cli(&cluster, replica, &["CLUSTER", "FAILOVER", "TAKEOVER"]).trim(), "OK");
    wait_until("TAKEOVER promoted", || cli(&cluster, replica, &["ROLE"]).starts_with("master"));
    wait_until("TAKEOVER's epoch everywhere", || {
        cluster.nodes_line(0, &replica_id).split(' ').nth(6).unwrap().parse::<u64>().unwrap() > epoch_before
    });
    let mut follower = Follower::new(cluster.ports[0]);
    assert_eq!(follower.call(&[b"GET", b"order:7"]), "$4\r\npaid\r\n");
    cluster.wait_ok();
    let (ok, out) = cluster.check(0);
    assert!(ok, "{out}");
}

#[test]
fn a_primary_without_replica_down_means_clusterdown_until_it_returns() {
    let mut cluster = ProcessCluster::start_with("failover-down", 3, TIMEOUT_FLAGS);
    cluster.create();
    cluster.wait_ok();
    let victim_id = cluster.id(0);
    let owners = common::cluster::slot_map(cluster.ports[1]);
    let key_on = |port: u16| {
        (0..).map(|i| format!("k{i}")).find(|k| owners[ferrocache_cluster::key_slot(k.as_bytes()) as usize] == port)
    };
    let key_of_victim = key_on(cluster.ports[0]).unwrap();
    let key_of_survivor = key_on(cluster.ports[1]).unwrap();
    let mut survivor = Conn::new(([127, 0, 0, 1], cluster.ports[1]).into());
    assert_eq!(survivor.call_text(&[b"SET", key_of_survivor.as_bytes(), b"1"]), "+OK\r\n");

    cluster.kill9(0);
    wait_until("cluster_state:fail", || cli(&cluster, 1, &["CLUSTER", "INFO"]).contains("cluster_state:fail"));
    let line = cluster.nodes_line(1, &victim_id);
    assert_eq!(line.split(' ').nth(2), Some("master,fail"), "{line}");
    let info = cli(&cluster, 1, &["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_slots_fail:5461"), "{info}");
    for key in [&key_of_victim, &key_of_survivor] {
        assert_eq!(survivor.call_text(&[b"GET", key.as_bytes()]), "-CLUSTERDOWN The cluster is down\r\n");
    }
    // `cluster-allow-reads-when-down`: reads of its own slots, no writes.
    assert_eq!(survivor.call_text(&[b"CONFIG", b"SET", b"cluster-allow-reads-when-down", b"yes"]), "+OK\r\n");
    assert_eq!(survivor.call_text(&[b"GET", key_of_survivor.as_bytes()]), "$1\r\n1\r\n");
    assert_eq!(
        survivor.call_text(&[b"SET", key_of_survivor.as_bytes(), b"2"]),
        "-CLUSTERDOWN The cluster is down and only accepts read commands\r\n"
    );

    // Back: FAIL cleared (a master that kept its slots, after twice the node timeout), ok again.
    cluster.restart(0);
    cluster.wait_ok();
    wait_until("FAIL cleared", || !cluster.nodes_line(1, &victim_id).contains("fail"));
    assert_eq!(survivor.call_text(&[b"SET", key_of_survivor.as_bytes(), b"3"]), "+OK\r\n");
}

#[test]
fn a_primary_cut_off_from_the_majority_stops_taking_writes() {
    let cluster = six_nodes("failover-minority");
    let (primary, _) = primary_and_replica(&cluster, "cart:1");
    let mut conn = Conn::new(([127, 0, 0, 1], cluster.ports[primary]).into());
    assert_eq!(conn.call_text(&[b"SET", b"cart:1", b"before"]), "+OK\r\n");

    // Every other node stopped: it reaches no other master, so within the node timeout (and a
    // ping round) it says the cluster is down, and refuses the writes it took a moment ago.
    let others: Vec<String> =
        (0..6).filter(|&i| i != primary).map(|i| cluster.nodes[i].as_ref().unwrap().child.id().to_string()).collect();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill").arg(sig).args(&others).status().unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    // First the write fence (no word from a Raft majority for the node timeout), then Redis's
    // own rule (most masters `fail?`) makes the state `fail`.
    wait_until("CLUSTERDOWN on the cut-off primary", || {
        conn.call_text(&[b"SET", b"cart:1", b"during"]) == "-CLUSTERDOWN The cluster is down\r\n"
    });
    wait_until("cluster_state:fail on the cut-off primary", || {
        cli(&cluster, primary, &["CLUSTER", "INFO"]).contains("cluster_state:fail")
    });
    signal("-CONT");

    // Back together: healthy. The writes it took before the timeout were acknowledged by no
    // replica (the replica was stopped), so either value may survive, as in Redis.
    cluster.wait_ok();
    cluster.wait_replicas_up();
    let mut follower = Follower::new(cluster.ports[primary]);
    let value = follower.call(&[b"GET", b"cart:1"]);
    assert!(value == "$6\r\nbefore\r\n" || value == "$6\r\nduring\r\n", "{value}");
    let (ok, out) = cluster.check(primary);
    assert!(ok, "{out}");
}

#[test]
fn add_node_as_replica_and_replica_migration_to_an_orphaned_master() {
    let mut cluster = ProcessCluster::start_with("failover-migration", 7, TIMEOUT_FLAGS);
    let addrs = cluster.addrs();
    let mut create = vec!["--cluster", "create"];
    create.extend(addrs[..6].iter().map(String::as_str));
    create.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    let (ok, out) = redis_cli(&create);
    assert!(ok, "{out}");
    for i in 0..6 {
        wait_until("cluster_state:ok", || cli(&cluster, i, &["CLUSTER", "INFO"]).contains("cluster_state:ok"));
    }
    let (rich, _) = primary_and_replica(&cluster, "user:1");
    let (poor, poor_replica) = primary_and_replica(&cluster, "cart:1");
    assert_ne!(rich, poor, "two keys of different primaries");
    let (rich_id, poor_id) = (cluster.id(rich), cluster.id(poor));

    // `add-node --cluster-slave --cluster-master-id`: node 6 replicates `rich`, which then
    // has two replicas.
    let (ok, out) = redis_cli(&[
        "--cluster",
        "add-node",
        &cluster.addr(6),
        &cluster.addr(rich),
        "--cluster-slave",
        "--cluster-master-id",
        &rich_id,
    ]);
    assert!(ok, "{out}");
    let new_id = cluster.id(6);
    wait_until("the new node a replica of the chosen master", || {
        cluster.nodes_line(0, &new_id).contains(&format!("slave {rich_id}"))
            && cli(&cluster, 6, &["INFO", "replication"]).contains("master_link_status:up")
    });
    let replicas = cli(&cluster, 0, &["CLUSTER", "REPLICAS", &rich_id]);
    assert_eq!(replicas.lines().count(), 2, "{replicas}");

    // `poor` loses its only replica: one of `rich`'s two moves to it (barrier 1).
    cluster.kill9(poor_replica);
    wait_until("a replica migrated to the orphaned master", || {
        cli(&cluster, poor, &["CLUSTER", "REPLICAS", &poor_id])
            .lines()
            .any(|l| !l.contains("fail") && l.contains(&format!("slave {poor_id}")))
    });
    wait_until("one replica left to the first master", || {
        cli(&cluster, 0, &["CLUSTER", "REPLICAS", &rich_id]).lines().count() == 1
    });
    cluster.wait_replicas_up();
    let mut follower = Follower::new(cluster.ports[0]);
    assert_eq!(follower.call(&[b"SET", b"cart:1", b"x"]), "+OK\r\n");
    let port = cluster.ports[poor];
    let mut on_poor = Conn::new(([127, 0, 0, 1], port).into());
    assert_eq!(on_poor.call_text(&[b"WAIT", b"1", b"5000"]), ":1\r\n");
}
