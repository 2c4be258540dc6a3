//! # Cluster mode on one node, against a real redis-server 7.0 cluster node
//!
//! The same requests go to a fresh `redis-server --cluster-enabled yes` and to a fresh
//! Ferrocache in cluster mode; the replies must be the same bytes (CLUSTER INFO, HELP, KEYSLOT,
//! the errors, CLUSTERDOWN/CROSSSLOT, slots served once assigned). Then: the node id and slots
//! survive a restart, and a node that knows others (from its nodes.conf) redirects with MOVED
//! and ASK and accepts ASKING / RESTORE-ASKING for an importing slot.

mod common;

use common::keyspace::*;

use common::cluster::{cluster_server, cluster_server_with, redis_cli, reshard, slot_map, Follower, ProcessCluster};
use common::process::{program, ServerProcess};
use common::{Conn, TempDir};

fn cluster_ok(c: &mut Conn) -> bool {
    c.call_text(&[b"CLUSTER", b"INFO"]).contains("cluster_state:ok")
}

/// Requests whose replies do not depend on node ids or time.
fn script(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = |c: &mut Conn, args: &[&[u8]]| {
        let reply = c.call_text(args);
        out.push(format!("{} -> {reply}", String::from_utf8_lossy(&args.join(&b' '))));
    };
    // (Not CLUSTER INFO yet: Redis says cluster_size:1 for its first two seconds, then 0.)
    run(c, &[b"GET", b"foo"]);
    run(c, &[b"CLUSTER", b"KEYSLOT", b"foo"]);
    run(c, &[b"CLUSTER", b"KEYSLOT", b"{user1000}.following"]);
    run(c, &[b"CLUSTER", b"COUNTKEYSINSLOT", b"16384"]);
    run(c, &[b"CLUSTER", b"GETKEYSINSLOT", b"1", b"-1"]);
    run(c, &[b"CLUSTER", b"ADDSLOTS", b"16384"]);
    run(c, &[b"CLUSTER", b"ADDSLOTSRANGE", b"5", b"1"]);
    run(c, &[b"CLUSTER", b"SETSLOT", b"1", b"MIGRATING", b"0123456789012345678901234567890123456789"]);
    run(c, &[b"CLUSTER", b"FORGET", b"0123456789012345678901234567890123456789"]);
    run(c, &[b"CLUSTER", b"NOSUCH"]);
    run(c, &[b"CLUSTER", b"BUMPEPOCH"]);
    run(c, &[b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"]);
    run(c, &[b"CLUSTER", b"ADDSLOTS", b"7"]);
    out
}

fn script_when_ok(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    // The node's own id and port differ between the two servers: compare around them.
    let myid = c.call_text(&[b"CLUSTER", b"MYID"]).lines().nth(1).unwrap().to_string();
    let port = c.stream.peer_addr().unwrap().port().to_string();
    let mut run = |c: &mut Conn, args: &[&[u8]]| {
        let reply = c.call_text(args).replace(&myid, "<myid>").replace(&format!(":{port}\r\n"), ":<port>\r\n");
        out.push(format!("{} -> {reply}", String::from_utf8_lossy(&args.join(&b' '))));
    };
    run(c, &[b"CLUSTER", b"INFO"]);
    run(c, &[b"SET", b"foo", b"bar"]);
    run(c, &[b"GET", b"foo"]);
    run(c, &[b"CLUSTER", b"GETKEYSINSLOT", b"12182", b"10"]);
    run(c, &[b"SET", b"{foo}2", b"x"]);
    run(c, &[b"CLUSTER", b"COUNTKEYSINSLOT", b"12182"]);
    run(c, &[b"CLUSTER", b"COUNTKEYSINSLOT", b"0"]);
    run(c, &[b"MSET", b"a", b"1", b"b", b"2"]);
    run(c, &[b"MSET", b"{t}a", b"1", b"{t}b", b"2"]);
    run(c, &[b"SELECT", b"1"]);
    run(c, &[b"SELECT", b"0"]);
    run(c, &[b"MOVE", b"foo", b"1"]);
    run(c, &[b"SWAPDB", b"0", b"1"]);
    run(c, &[b"ASKING"]);
    run(c, &[b"READONLY"]);
    run(c, &[b"READWRITE"]);
    run(c, &[b"MULTI"]);
    run(c, &[b"SET", b"a", b"1"]);
    run(c, &[b"SET", b"b", b"1"]);
    run(c, &[b"EXEC"]);
    // CLUSTER inside MULTI, as `redis-cli --cluster fix` sends it.
    run(c, &[b"MULTI"]);
    run(c, &[b"CLUSTER", b"DELSLOTS", b"100"]);
    run(c, &[b"CLUSTER", b"ADDSLOTS", b"100"]);
    run(c, &[b"CLUSTER", b"SETSLOT", b"100", b"STABLE"]);
    run(c, &[b"CLUSTER", b"BUMPEPOCH"]);
    run(c, &[b"EXEC"]);
    run(c, &[b"CLUSTER", b"FLUSHSLOTS"]);
    run(c, &[b"CLUSTER", b"SETSLOT", b"12182", b"STABLE"]);
    run(c, &[b"CLUSTER", b"DELSLOTS", b"0"]);
    run(c, &[b"CLUSTER", b"DELSLOTS", b"0"]);
    run(c, &[b"CLUSTER", b"SLOTS"]);
    out
}

#[test]
fn a_single_node_answers_as_redis_does() {
    let dir = TempDir::new("cluster-redis");
    let redis = ServerProcess::redis(&dir.0, &["--cluster-enabled", "yes"]);
    let mut r = Conn::new(redis.addr);
    let expected = script(&mut r);
    wait_until("redis to report ok", || cluster_ok(&mut r));
    let expected_ok = script_when_ok(&mut r);

    let ours_dir = TempDir::new("cluster-ours");
    let ours = cluster_server(&ours_dir);
    let mut c = ours.connect();
    let got = script(&mut c);
    wait_until("ferrocache to report ok", || cluster_ok(&mut c));
    let got_ok = script_when_ok(&mut c);
    for (e, g) in expected.iter().chain(&expected_ok).zip(got.iter().chain(&got_ok)) {
        assert_eq!(g, e);
    }
    assert_eq!(got.len() + got_ok.len(), expected.len() + expected_ok.len());
}

#[test]
fn node_id_and_slots_survive_a_restart() {
    let dir = TempDir::new("cluster-restart");
    let (id, nodes) = {
        let server = cluster_server(&dir);
        let mut c = server.connect();
        c.roundtrip(&[b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"99"], b"+OK\r\n");
        let id = c.call_text(&[b"CLUSTER", b"MYID"]);
        (id, c.call_text(&[b"CLUSTER", b"NODES"]))
    };
    let server = cluster_server(&dir);
    let mut c = server.connect();
    assert_eq!(c.call_text(&[b"CLUSTER", b"MYID"]), id);
    let after = c.call_text(&[b"CLUSTER", b"NODES"]);
    let slots = |n: &str| n.split_whitespace().last().map(str::to_string);
    assert_eq!(slots(&after), slots(&nodes));
    assert!(after.contains(id.lines().nth(1).unwrap()), "{after}");
}

#[test]
fn known_peers_get_moved_and_ask_redirects() {
    let dir = TempDir::new("cluster-peers");
    let me = "1111111111111111111111111111111111111111";
    let peer = "2222222222222222222222222222222222222222";
    // foo is slot 12182 (the peer's), bar 5061 (ours, to migrate to the peer), and
    // {t}x 15891 (the peer's, importing here).
    let conf = format!(
        "{me} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-8191 [15891-<-{peer}]\n\
         {peer} 127.0.0.1:7777@17777 master - 0 0 2 connected 8192-16383\n\
         vars currentEpoch 2 lastVoteEpoch 0\n"
    );
    std::fs::write(dir.0.join("nodes.conf"), conf).unwrap();
    let server = cluster_server(&dir);
    let mut c = server.connect();
    wait_until("the node to report ok", || cluster_ok(&mut c));
    c.roundtrip(&[b"CLUSTER", b"MYID"], format!("${}\r\n{me}\r\n", me.len()).as_bytes());
    c.roundtrip(&[b"GET", b"foo"], b"-MOVED 12182 127.0.0.1:7777\r\n");
    // Migrating: a key still here is served, a missing one is asked for at the target.
    c.roundtrip(&[b"SET", b"bar", b"1"], b"+OK\r\n");
    let migrating = format!("CLUSTER SETSLOT 5061 MIGRATING {peer}");
    let args: Vec<&[u8]> = migrating.split(' ').map(str::as_bytes).collect();
    c.roundtrip(&args, b"+OK\r\n");
    c.roundtrip(&[b"GET", b"bar"], b"$1\r\n1\r\n");
    c.roundtrip(&[b"DEL", b"bar"], b":1\r\n");
    c.roundtrip(&[b"GET", b"bar"], b"-ASK 5061 127.0.0.1:7777\r\n");
    // Importing: only after ASKING, and only for that one command.
    c.roundtrip(&[b"SET", b"{t}x", b"1"], b"-MOVED 15891 127.0.0.1:7777\r\n");
    c.roundtrip(&[b"ASKING"], b"+OK\r\n");
    c.roundtrip(&[b"SET", b"{t}x", b"1"], b"+OK\r\n");
    c.roundtrip(&[b"GET", b"{t}x"], b"-MOVED 15891 127.0.0.1:7777\r\n");
    c.roundtrip(&[b"ASKING"], b"+OK\r\n");
    c.roundtrip(&[b"GET", b"{t}x"], b"$1\r\n1\r\n");
    // RESTORE-ASKING needs no ASKING (MIGRATE's way in).
    c.roundtrip(&[b"ASKING"], b"+OK\r\n");
    c.cmd(&[b"DUMP", b"{t}x"]);
    let header = c.read_line();
    let len: usize = header[1..].trim().parse().unwrap();
    let mut payload = vec![0; len + 2];
    std::io::Read::read_exact(&mut c.stream, &mut payload).unwrap();
    payload.truncate(len);
    c.roundtrip(&[b"RESTORE-ASKING", b"{t}y", b"0", &payload], b"+OK\r\n");
    c.roundtrip(&[b"CLUSTER", b"COUNTKEYSINSLOT", b"15891"], b":2\r\n");
    // A transaction touching a redirected slot is discarded with the redirect.
    c.roundtrip(&[b"MULTI"], b"+OK\r\n");
    c.roundtrip(&[b"GET", b"foo"], b"-MOVED 12182 127.0.0.1:7777\r\n");
    c.roundtrip(&[b"EXEC"], b"-EXECABORT Transaction discarded because of previous errors.\r\n");
}

#[test]
fn redis_cli_creates_and_checks_a_three_node_cluster() {
    let mut cluster = ProcessCluster::start("cluster", 3);
    let ports = cluster.ports.clone();
    cluster.create();
    wait_until("the cluster check to pass", || cluster.check(0).0);
    cluster.wait_ok();
    // Clients that follow redirects work against any node.
    for (i, key) in ["alpha", "beta", "gamma", "{user}1", "{user}2"].iter().enumerate() {
        let port = ports[i % 3].to_string();
        let (ok, out) = redis_cli(&["-c", "-p", &port, "SET", key, &format!("v{i}")]);
        assert!(ok && out.trim() == "OK", "{out}");
    }
    for (i, key) in ["alpha", "beta", "gamma", "{user}1", "{user}2"].iter().enumerate() {
        let port = ports[(i + 1) % 3].to_string();
        let (ok, out) = redis_cli(&["-c", "-p", &port, "GET", key]);
        assert!(ok && out.trim() == format!("v{i}"), "{key}: {out}");
    }

    // redis-benchmark's cluster mode and redis-py's RedisCluster run without an error.
    let bench = std::process::Command::new(program("REDIS_BENCHMARK", "redis-benchmark"))
        .args([
            "--cluster",
            "-h",
            "127.0.0.1",
            "-p",
            &ports[0].to_string(),
            "-t",
            "set,get",
            "-n",
            "20000",
            "-r",
            "10000",
        ])
        .args(["-q", "--csv"])
        .output()
        .expect("run redis-benchmark");
    let report = format!("{}{}", String::from_utf8_lossy(&bench.stdout), String::from_utf8_lossy(&bench.stderr));
    assert!(bench.status.success() && report.contains("\"SET\"") && report.contains("\"GET\""), "{report}");
    assert!(!report.to_lowercase().contains("error"), "{report}");
    let script = format!(
        "import redis\n\
         rc = redis.cluster.RedisCluster(host='127.0.0.1', port={})\n\
         for i in range(500):\n    rc.set(f'py:{{i}}', i)\n\
         assert all(int(rc.get(f'py:{{i}}')) == i for i in range(500))\n\
         assert rc.mget_nonatomic([f'py:{{i}}' for i in range(10)]) == [str(i).encode() for i in range(10)]\n\
         print(len(rc.get_nodes()))\n",
        ports[2]
    );
    let py = std::process::Command::new("python3").args(["-c", &script]).output().expect("run python3");
    let py_out = format!("{}{}", String::from_utf8_lossy(&py.stdout), String::from_utf8_lossy(&py.stderr));
    assert!(py.status.success() && py_out.trim() == "3", "{py_out}");

    // The redis crate's cluster client too.
    let client = redis::cluster::ClusterClient::new(vec![format!("redis://127.0.0.1:{}", ports[1])]).unwrap();
    let mut con = client.get_connection().unwrap();
    for i in 0..200 {
        let _: () = redis::cmd("SET").arg(format!("rs:{i}")).arg(i).query(&mut con).unwrap();
    }
    for i in 0..200 {
        let v: i64 = redis::cmd("GET").arg(format!("rs:{i}")).query(&mut con).unwrap();
        assert_eq!(v, i);
    }

    // Killing and restarting a node keeps the topology.
    let nodes_of = |port: u16| -> Vec<String> {
        let (_, out) = redis_cli(&["-p", &port.to_string(), "CLUSTER", "NODES"]);
        let mut lines: Vec<String> = out
            .lines()
            .map(|l| {
                // id, address, flags, primary, then skip ping/pong times, epoch, link, slots
                let f: Vec<&str> = l.split(' ').collect();
                [&f[..4], &f[6..7], &f[8..]].concat().join(" ")
            })
            .collect();
        lines.sort();
        lines
    };
    let before = nodes_of(ports[0]);
    assert_eq!(before.len(), 3, "{before:?}");
    cluster.kill9(1);
    cluster.restart(1);
    wait_until("the restarted node to agree", || cluster.check(0).0);
    cluster.wait_ok();
    let port = ports[1].to_string();
    let (ok, out) = redis_cli(&["-c", "-p", &port, "GET", "alpha"]);
    assert!(ok && out.trim() == "v0", "{out}");
    assert_eq!(nodes_of(ports[0]), before);
    let mut after_restart = nodes_of(ports[1]);
    after_restart.iter_mut().for_each(|l| *l = l.replace("myself,", ""));
    let mut expected: Vec<String> = before.iter().map(|l| l.replace("myself,", "")).collect();
    expected.sort();
    after_restart.sort();
    assert_eq!(after_restart, expected);
}

#[test]
fn reshard_moves_keys_while_a_client_keeps_working() {
    let cluster = ProcessCluster::start("reshard", 3);
    let (ports, addrs) = (cluster.ports.clone(), cluster.addrs());
    cluster.create();
    cluster.wait_ok();
    let mut client = Follower::new(ports[0]);
    const KEYS: usize = 100_000;
    for i in 0..KEYS {
        let key = format!("key:{i}");
        assert_eq!(client.call(&[b"SET", key.as_bytes(), b"0"]), "+OK\r\n");
    }
    let (from, to) = (cluster.id(0), cluster.id(1));

    // Reshard 1000 slots from node 0 to node 1 while the client reads and increments keys.
    let reshard = std::thread::spawn({
        let addr = addrs[0].clone();
        move || reshard(&addr, &from, &to, 1000)
    });
    let mut increments = vec![0u64; KEYS];
    let mut i = 0;
    while !reshard.is_finished() {
        let n = i % KEYS;
        let key = format!("key:{n}");
        let reply = client.call(&[b"INCR", key.as_bytes()]);
        assert!(reply.starts_with(':'), "INCR {key}: {reply}");
        increments[n] += 1;
        i += 1;
    }
    let (ok, out) = reshard.join().unwrap();
    assert!(ok, "{out}");
    let (ok, out) = redis_cli(&["--cluster", "check", &addrs[0]]);
    assert!(ok && out.contains("[OK] All 16384 slots covered."), "{out}");
    // Every key is on its new owner with every increment the client saw acknowledged.
    let owners = slot_map(ports[0]);
    let moved_to_1 = owners.iter().filter(|&&p| p == ports[1]).count();
    assert!(moved_to_1 >= 5461 + 1000 - 1, "node 1 serves {moved_to_1} slots");
    for (n, &count) in increments.iter().enumerate() {
        let key = format!("key:{n}");
        let slot = ferrocache_cluster::key_slot(key.as_bytes()) as usize;
        let mut c = Conn::new(([127, 0, 0, 1], owners[slot]).into());
        assert_eq!(c.call_text(&[b"GET", key.as_bytes()]), format!("${}\r\n{count}\r\n", count.to_string().len()));
    }
    eprintln!("reshard: {i} INCRs during the move, {} redirects followed", client.redirects);
}

#[test]
fn cluster_announce_ip_is_the_address_redirects_and_slots_give() {
    let dir = TempDir::new("cluster-announce");
    let server = cluster_server_with(&dir, |c| c.cluster_announce_ip = "10.1.2.3".into());
    let mut c = server.connect();
    c.roundtrip(&[b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"], b"+OK\r\n");
    let slots = c.call_text(&[b"CLUSTER", b"SLOTS"]);
    assert!(slots.contains("$8\r\n10.1.2.3\r\n"), "{slots}");
    let nodes = c.call_text(&[b"CLUSTER", b"NODES"]);
    assert!(nodes.contains(" 10.1.2.3:"), "{nodes}");
}

#[test]
fn meet_of_a_dead_address_is_an_error_and_changes_nothing() {
    let dir = TempDir::new("cluster-dead-meet");
    let server = cluster_server(&dir);
    let mut c = server.connect();
    let nodes = c.call_text(&[b"CLUSTER", b"NODES"]);
    let dead = common::process::free_port().to_string();
    let reply = c.call_text(&[b"CLUSTER", b"MEET", b"127.0.0.1", dead.as_bytes()]);
    assert!(reply.starts_with("-ERR ") && reply.contains(&dead), "{reply}");
    assert_eq!(c.call_text(&[b"CLUSTER", b"NODES"]), nodes);
    c.roundtrip(
        &[b"CLUSTER", b"MEET", b"not-an-ip", b"7000"],
        b"-ERR Invalid node address specified: not-an-ip:7000\r\n",
    );
}

/// CLUSTER DELSLOTS is the receiving node's alone, as in Redis (checked by hand against three
/// redis-server 7.0 nodes; `redis-cli --cluster fix` relies on it): a slot another node serves
/// leaves that node's view at once (it answers `CLUSTERDOWN Hash slot not served`), while the
/// owner keeps serving it, and the owner's claim brings it back within a second.
#[test]
fn delslots_of_another_nodes_slot_changes_the_receiving_node_alone() {
    let cluster = ProcessCluster::start("delslots-local", 3);
    cluster.create();
    cluster.wait_ok();
    let key: &[u8] = b"{06S}"; // slot 0
    let owner = slot_map(cluster.ports[0])[0];
    let other = cluster.ports.iter().copied().find(|&p| p != owner).unwrap();
    let mut o = Conn::new(([127, 0, 0, 1], other).into());
    let mut w = Conn::new(([127, 0, 0, 1], owner).into());
    assert_eq!(o.call_text(&[b"CLUSTER", b"DELSLOTS", b"0"]), "+OK\r\n");
    assert_eq!(o.call_text(&[b"GET", key]), "-CLUSTERDOWN Hash slot not served\r\n");
    assert_eq!(w.call_text(&[b"SET", key, b"x"]), "+OK\r\n");
    assert_eq!(slot_map(owner)[0], owner, "the owner gave the slot up");
    for port in &cluster.ports {
        if *port != other {
            assert_eq!(slot_map(*port)[0], owner, "node {port} forgot the owner of slot 0");
        }
    }
    wait_until("the owner's claim to reach the other node again", || {
        o.call_text(&[b"GET", key]) == format!("-MOVED 0 127.0.0.1:{owner}\r\n")
    });
    cluster.wait_ok();
}

/// `redis-cli --cluster fix` makes the node it picks as a slot's owner run
/// `MULTI; DELSLOTS s; ADDSLOTS s; BUMPEPOCH; EXEC`. On the owner itself, no node ever sees
/// the slot unserved; on another node, it takes the slot over, everywhere (in Redis, by its
/// new epoch).
#[test]
fn delslots_then_addslots_in_one_transaction_keeps_or_takes_the_slot() {
    let cluster = ProcessCluster::start("delslots-multi", 3);
    cluster.create();
    cluster.wait_ok();
    let owner = slot_map(cluster.ports[0])[0];
    let other = cluster.ports.iter().copied().find(|&p| p != owner).unwrap();
    let reassign = |port: u16| {
        let mut c = Conn::new(([127, 0, 0, 1], port).into());
        for cmd in
            [&["MULTI"][..], &["CLUSTER", "DELSLOTS", "0"], &["CLUSTER", "ADDSLOTS", "0"], &["CLUSTER", "BUMPEPOCH"]]
        {
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            c.call_text(&args);
        }
        let exec = c.call_text(&[b"EXEC"]);
        assert!(
            exec.starts_with("*3\r\n+OK\r\n+OK\r\n+BUMPED") || exec.starts_with("*3\r\n+OK\r\n+OK\r\n+STILL"),
            "{exec}"
        );
    };

    // On the owner: every node keeps it the owner throughout, past the release's grace.
    reassign(owner);
    let until = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while std::time::Instant::now() < until {
        for port in &cluster.ports {
            assert_eq!(slot_map(*port)[0], owner, "node {port} lost slot 0's owner");
        }
    }

    // On another node: it takes the slot, and every node agrees.
    reassign(other);
    wait_until("every node to give slot 0 to its new owner", || cluster.ports.iter().all(|&p| slot_map(p)[0] == other));
    cluster.wait_ok();
}
