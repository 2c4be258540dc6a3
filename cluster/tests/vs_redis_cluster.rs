//! This crate against a real Redis 7.0 cluster, byte for byte.
//!
//! Three `redis-server --cluster-enabled yes` processes are joined with
//! `redis-cli --cluster create … --cluster-yes`. For every node, the state is rebuilt from its
//! own CLUSTER NODES text (`ClusterState::from_nodes_text`); then CLUSTER NODES, SLOTS, SHARDS,
//! INFO and MYID are rendered from that state, encoded in RESP2 and RESP3, and compared with the
//! bytes the node sent. What cannot match is taken from the node's own reply, and only that:
//! `cluster_state`, the current epoch and the message counters (from its CLUSTER INFO), and
//! replication offsets (from its CLUSTER SHARDS). The same is done again with a replica added
//! and with slots migrating / importing, and routing decisions and error texts are compared
//! with what the nodes answer.

mod common;

use bytes::BytesMut;
use common::{reply_text, RawClient, RedisNode};
use ferrocache_cluster::replies::{self, MessageStats, MessageType};
use ferrocache_cluster::*;
use ferrocache_protocol::encode;
use std::process::Command;
use std::time::{Duration, Instant};

fn enc(reply: &Reply, proto: u8) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(reply, proto, &mut out);
    out.to_vec()
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\\r\\n\n")
}

fn assert_bytes(what: &str, ours: &[u8], redis: &[u8]) {
    assert!(ours == redis, "{what} differs\n--- ours:\n{}\n--- redis:\n{}", show(ours), show(redis));
}

/// A connection speaking `proto`.
fn client(node: &RedisNode, proto: u8) -> RawClient {
    let mut c = node.client();
    if proto == 3 {
        c.call(&["HELLO", "3"]);
    }
    c
}

fn info_field(info: &str, name: &str) -> String {
    info.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or_default().trim().to_string()
}

fn stats_from_info(info: &str) -> MessageStats {
    let mut stats = MessageStats::default();
    for line in info.lines() {
        let Some((key, value)) = line.trim().split_once(':') else { continue };
        let value: u64 = value.parse().unwrap_or(0);
        if key == "total_cluster_links_buffer_limit_exceeded" {
            stats.links_buffer_limit_exceeded = value;
        }
        let Some(rest) = key.strip_prefix("cluster_stats_messages_") else { continue };
        for (suffix, counts) in [("_sent", &mut stats.sent), ("_received", &mut stats.received)] {
            if let Some(name) = rest.strip_suffix(suffix) {
                if let Some(t) = MessageType::from_name(name) {
                    counts[t as usize] = value;
                }
            }
        }
    }
    stats
}

/// The node's view rebuilt from its CLUSTER NODES text, with what NODES does not say taken
/// from its CLUSTER INFO text.
fn state_of(nodes_text: &str, info: &str) -> ClusterState {
    let mut state = ClusterState::from_nodes_text(nodes_text).unwrap_or_else(|e| panic!("{e}\n{nodes_text}"));
    let health = if info_field(info, "cluster_state") == "ok" { ClusterHealth::Ok } else { ClusterHealth::Fail };
    state.apply(&ClusterCommand::SetHealth { health }).unwrap();
    let epoch = info_field(info, "cluster_current_epoch").parse().unwrap();
    state.apply(&ClusterCommand::ObserveEpoch { epoch }).unwrap();
    state
}

/// `replication-offset` per node id, read from a raw CLUSTER SHARDS reply.
fn offsets_from_shards(raw: &[u8]) -> Vec<(NodeId, i64)> {
    let text = String::from_utf8_lossy(raw);
    let mut out = Vec::new();
    let mut rest = &text[..];
    let marker = "$2\r\nid\r\n$40\r\n";
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let id: NodeId = rest[..40].parse().unwrap();
        let off_at = rest.find("replication-offset\r\n:").unwrap() + "replication-offset\r\n:".len();
        let end = rest[off_at..].find("\r\n").unwrap();
        out.push((id, rest[off_at..off_at + end].parse().unwrap()));
    }
    out
}

fn set_offsets(state: &mut ClusterState, shards_raw: &[u8]) {
    for (id, offset) in offsets_from_shards(shards_raw) {
        state.apply(&ClusterCommand::SetReplOffset { node: id, offset }).unwrap();
    }
}

/// Compares every read-only reply of one node, in both protocols.
fn compare_node(node: &RedisNode) {
    for proto in [2u8, 3] {
        let mut c = client(node, proto);
        let info_raw = c.call(&["CLUSTER", "INFO"]);
        let info = reply_text(&info_raw);
        let nodes_raw = c.call(&["CLUSTER", "NODES"]);
        let shards_raw = c.call(&["CLUSTER", "SHARDS"]);
        let slots_raw = c.call(&["CLUSTER", "SLOTS"]);
        let myid_raw = c.call(&["CLUSTER", "MYID"]);

        let mut state = state_of(&reply_text(&nodes_raw), &info);
        set_offsets(&mut state, &shards_raw);
        let port = node.port;
        assert_bytes(
            &format!("{port} RESP{proto} CLUSTER NODES"),
            &enc(&replies::nodes_reply(&state), proto),
            &nodes_raw,
        );
        assert_bytes(
            &format!("{port} RESP{proto} CLUSTER SLOTS"),
            &enc(&replies::slots_reply(&state), proto),
            &slots_raw,
        );
        assert_bytes(
            &format!("{port} RESP{proto} CLUSTER SHARDS"),
            &enc(&replies::shards_reply(&state), proto),
            &shards_raw,
        );
        assert_bytes(&format!("{port} RESP{proto} CLUSTER MYID"), &enc(&replies::myid_reply(&state), proto), &myid_raw);
        let info_ours = enc(&replies::info_reply(&state, &stats_from_info(&info)), proto);
        assert_bytes(&format!("{port} RESP{proto} CLUSTER INFO"), &info_ours, &info_raw);
    }
}

/// Polls until `done` holds (bounded).
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every node sees `count` nodes, all connected, no handshake, and cluster_state ok.
fn wait_settled(nodes: &[&RedisNode], count: usize) {
    wait_for("the cluster to settle", || {
        nodes.iter().all(|n| {
            let text = n.text(&["CLUSTER", "NODES"]);
            let info = n.text(&["CLUSTER", "INFO"]);
            text.lines().count() == count
                && !text.contains("handshake")
                && !text.contains("disconnected")
                && !text.contains("fail")
                && info_field(&info, "cluster_state") == "ok"
                && info_field(&info, "cluster_size") == "3"
        })
    });
}

fn myid(node: &RedisNode) -> NodeId {
    node.text(&["CLUSTER", "MYID"]).parse().unwrap()
}

/// A key whose slot is `slot`, of the form `{<n>}<suffix>`.
fn key_in_slot(slot: u16, suffix: &str) -> String {
    (0u32..).map(|n| format!("{{{n}}}{suffix}")).find(|k| key_slot(k.as_bytes()) == slot).unwrap()
}

/// What `route` says for `args` (a GET / MGET / SET of the given keys) on `node`'s view,
/// against what the node replies. Keys exist if the node has them (asked with EXISTS first).
fn compare_route(node: &RedisNode, asking: bool, args: &[&str], write: bool) {
    let mut c = node.client();
    let nodes_text = reply_text(&c.call(&["CLUSTER", "NODES"]));
    let info = reply_text(&c.call(&["CLUSTER", "INFO"]));
    let state = state_of(&nodes_text, &info);
    let keys: Vec<&[u8]> = match args[0] {
        "SET" => vec![args[1].as_bytes()],
        _ => args[1..].iter().map(|k| k.as_bytes()).collect(),
    };
    let present: Vec<Vec<u8>> = keys
        .iter()
        .filter(|k| {
            let mut probe = node.client();
            probe.call(&["ASKING"]);
            // EXISTS after ASKING is served here for importing slots; for others it may be
            // redirected, which means "not here" too.
            probe.call(&["EXISTS", std::str::from_utf8(k).unwrap()]) == b":1\r\n"
        })
        .map(|k| k.to_vec())
        .collect();
    let exists = |k: &[u8]| present.iter().any(|p| p == k);
    let query = Query { keys: &keys, write, kind: CommandKind::Regular, key_exists: &exists };
    let ours = route(&query, &state, ClientFlags { asking, ..ClientFlags::default() });
    if asking {
        assert_eq!(c.call(&["ASKING"]), b"+OK\r\n");
    }
    let reply = c.call(args);
    match ours.error_text() {
        Some(text) => assert_eq!(String::from_utf8_lossy(&reply), format!("-{text}\r\n"), "{args:?} asking={asking}"),
        None => assert_ne!(reply.first(), Some(&b'-'), "{args:?} asking={asking}: {}", String::from_utf8_lossy(&reply)),
    }
}

/// The error a real node gives for `args`, against our `apply` of `command` on its view.
fn compare_error(node: &RedisNode, args: &[&str], command: impl FnOnce(&ClusterState) -> ClusterCommand) {
    let mut c = node.client();
    let nodes_text = reply_text(&c.call(&["CLUSTER", "NODES"]));
    let info = reply_text(&c.call(&["CLUSTER", "INFO"]));
    let mut state = state_of(&nodes_text, &info);
    let before = state.clone();
    let redis = String::from_utf8_lossy(&c.call(args)).into_owned();
    let command = command(&state);
    let ours = state.apply(&command).unwrap_err();
    assert_eq!(format!("-{}\r\n", ours.reply_text()), redis, "{args:?}");
    assert_eq!(state, before, "a refused command changed the state");
}

#[test]
fn replies_routes_and_errors_match_a_real_cluster() {
    let a = RedisNode::start();
    let b = RedisNode::start();
    let c = RedisNode::start();

    // A fresh node: no address yet, `:port@cport`, cluster_size 0 once its first state update ran.
    wait_for("the first state update", || info_field(&a.text(&["CLUSTER", "INFO"]), "cluster_size") == "0");
    compare_node(&a);

    let out = Command::new(std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into()))
        .args(["--cluster", "create"])
        .args([&a, &b, &c].iter().map(|n| format!("127.0.0.1:{}", n.port)))
        .arg("--cluster-yes")
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    wait_settled(&[&a, &b, &c], 3);
    for node in [&a, &b, &c] {
        compare_node(node);
    }

    // A replica of `a` (redis-cli --cluster add-node --cluster-slave).
    let r = RedisNode::start();
    let out = Command::new("redis-cli")
        .args(["--cluster", "add-node", &format!("127.0.0.1:{}", r.port), &format!("127.0.0.1:{}", a.port)])
        .args(["--cluster-slave", "--cluster-master-id", myid(&a).as_str()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    wait_settled(&[&a, &b, &c, &r], 4);
    // Until the replica has an offset every node knows, it is "loading" and out of SLOTS; wait
    // for the offsets to travel so that SLOTS is stable while we compare.
    wait_for("the replica's offset to be known everywhere", || {
        [&a, &b, &c, &r].iter().all(|n| {
            let raw = n.client().call(&["CLUSTER", "SHARDS"]);
            offsets_from_shards(&raw).iter().any(|(id, off)| *id == myid(&r) && *off > 0)
        })
    });
    for node in [&a, &b, &c, &r] {
        compare_node(node);
        // Its nodes.conf (with a replica line and a vars line) reads back and renders identically.
        assert_eq!(node.text(&["CLUSTER", "SAVECONFIG"]), "OK");
        let file = std::fs::read_to_string(node.dir.0.join("nodes.conf")).unwrap();
        assert_eq!(render_nodes_conf(&ClusterState::from_nodes_text(&file).unwrap()), file);
        let loaded = load_nodes_conf(&file, 1).unwrap().unwrap();
        assert_eq!(loaded.my_id(), myid(node));
    }

    // CLUSTER REPLICAS.
    let ra = a.client().call(&["CLUSTER", "REPLICAS", myid(&a).as_str()]);
    let state = state_of(&a.text(&["CLUSTER", "NODES"]), &a.text(&["CLUSTER", "INFO"]));
    // The replica's ping/pong columns move between the two calls: compare the shape only.
    let ours = enc(&replies::replicas_reply(&state, myid(&a).as_bytes()).unwrap(), 2);
    assert_eq!(ours.len(), ra.len(), "{} vs {}", show(&ours), show(&ra));

    // Open slots: `a` migrates slot 100 to `b`, which imports it; `a` also imports 6000 from `b`.
    let (ida, idb) = (myid(&a), myid(&b));
    assert_eq!(a.text(&["SET", &key_in_slot(100, "present"), "v"]), "OK");
    assert_eq!(b.text(&["CLUSTER", "SETSLOT", "100", "IMPORTING", ida.as_str()]), "OK");
    assert_eq!(a.text(&["CLUSTER", "SETSLOT", "100", "MIGRATING", idb.as_str()]), "OK");
    assert_eq!(a.text(&["CLUSTER", "SETSLOT", "6000", "IMPORTING", idb.as_str()]), "OK");
    for node in [&a, &b] {
        compare_node(node);
    }
    let (present, missing, missing2) =
        (key_in_slot(100, "present"), key_in_slot(100, "missing"), key_in_slot(100, "missing2"));
    // On the migrating side: present → served; missing → ASK; a mix → TRYAGAIN.
    compare_route(&a, false, &["GET", &present], false);
    compare_route(&a, false, &["GET", &missing], false);
    compare_route(&a, false, &["MGET", &present, &missing], false);
    compare_route(&a, false, &["MGET", &present, &present], false);
    // On the importing side: MOVED without ASKING, served with it, TRYAGAIN for several
    // missing keys.
    compare_route(&b, false, &["GET", &missing], false);
    compare_route(&b, true, &["GET", &missing], false);
    compare_route(&b, true, &["MGET", &missing, &missing2], false);
    compare_route(&b, true, &["MGET", &missing, &missing], false);
    // Elsewhere: MOVED to the owner; CROSSSLOT across slots; a write on the replica is MOVED.
    compare_route(&c, false, &["GET", &present], false);
    compare_route(&c, false, &["MGET", &key_in_slot(1, "x"), &key_in_slot(2, "y")], false);
    compare_route(&r, false, &["SET", &present, "v"], true);
    compare_route(&r, false, &["GET", &key_in_slot(7000, "z")], false);

    // Refusals, each against `apply` on the node's own view.
    let me = |s: &ClusterState| s.my_id();
    compare_error(&a, &["CLUSTER", "ADDSLOTS", "0"], |s| ClusterCommand::AddSlots {
        node: me(s),
        ranges: vec![(0, 0)],
    });
    compare_error(&a, &["CLUSTER", "ADDSLOTSRANGE", "5", "3"], |s| ClusterCommand::AddSlots {
        node: me(s),
        ranges: vec![(5, 3)],
    });
    compare_error(&a, &["CLUSTER", "SETSLOT", "6000", "MIGRATING", idb.as_str()], |s| ClusterCommand::SetSlot {
        node: me(s),
        slot: 6000,
        action: SetSlotAction::Migrating(idb.to_string()),
    });
    compare_error(&a, &["CLUSTER", "SETSLOT", "100", "MIGRATING", "nobody"], |s| ClusterCommand::SetSlot {
        node: me(s),
        slot: 100,
        action: SetSlotAction::Migrating("nobody".into()),
    });
    compare_error(&a, &["CLUSTER", "SETSLOT", "1", "IMPORTING", idb.as_str()], |s| ClusterCommand::SetSlot {
        node: me(s),
        slot: 1,
        action: SetSlotAction::Importing(idb.to_string()),
    });
    compare_error(&a, &["CLUSTER", "SETSLOT", "1", "NODE", "nobody"], |s| ClusterCommand::SetSlot {
        node: me(s),
        slot: 1,
        action: SetSlotAction::Node {
            target: "nobody".into(),
            keys_in_slot: 0,
            allow_replica_migration: true,
            closing_import: false,
            migrating_to_target: false,
        },
    });
    compare_error(&a, &["CLUSTER", "SETSLOT", "1", "NODE", myid(&r).as_str()], |s| ClusterCommand::SetSlot {
        node: me(s),
        slot: 1,
        action: SetSlotAction::Node {
            target: myid(&r).to_string(),
            keys_in_slot: 0,
            allow_replica_migration: true,
            closing_import: false,
            migrating_to_target: false,
        },
    });
    compare_error(&a, &["CLUSTER", "SETSLOT", "100", "NODE", idb.as_str()], |s| ClusterCommand::SetSlot {
        node: me(s),
        slot: 100,
        action: SetSlotAction::Node {
            target: idb.to_string(),
            keys_in_slot: 1,
            allow_replica_migration: true,
            closing_import: false,
            migrating_to_target: false,
        },
    });
    compare_error(&r, &["CLUSTER", "SETSLOT", "1", "STABLE"], |s| ClusterCommand::SetSlot {
        node: me(s),
        slot: 1,
        action: SetSlotAction::Stable,
    });
    compare_error(&a, &["CLUSTER", "FORGET", ida.as_str()], |s| ClusterCommand::Forget {
        node: me(s),
        target: ida.to_string(),
        now_ms: 0,
    });
    compare_error(&r, &["CLUSTER", "FORGET", ida.as_str()], |s| ClusterCommand::Forget {
        node: me(s),
        target: ida.to_string(),
        now_ms: 0,
    });
    compare_error(&a, &["CLUSTER", "FORGET", "nobody"], |s| ClusterCommand::Forget {
        node: me(s),
        target: "nobody".into(),
        now_ms: 0,
    });
    compare_error(&a, &["CLUSTER", "REPLICATE", ida.as_str()], |s| ClusterCommand::Replicate {
        node: me(s),
        target: ida.to_string(),
        db_keys: 1,
    });
    compare_error(&a, &["CLUSTER", "REPLICATE", idb.as_str()], |s| ClusterCommand::Replicate {
        node: me(s),
        target: idb.to_string(),
        db_keys: 1,
    });
    compare_error(&b, &["CLUSTER", "REPLICATE", myid(&r).as_str()], |s| ClusterCommand::Replicate {
        node: me(s),
        target: myid(&r).to_string(),
        db_keys: 0,
    });
    compare_error(&a, &["CLUSTER", "SET-CONFIG-EPOCH", "-1"], |s| ClusterCommand::SetConfigEpoch {
        node: me(s),
        epoch: -1,
    });
    compare_error(&a, &["CLUSTER", "SET-CONFIG-EPOCH", "9"], |s| ClusterCommand::SetConfigEpoch {
        node: me(s),
        epoch: 9,
    });
    compare_error(&a, &["CLUSTER", "RESET"], |s| ClusterCommand::Reset {
        node: me(s),
        hard: false,
        new_id: me(s),
        db_keys: 1,
    });
    let failover = a.text(&["CLUSTER", "FAILOVER"]);
    let state = state_of(&a.text(&["CLUSTER", "NODES"]), &a.text(&["CLUSTER", "INFO"]));
    assert_eq!(format!("{}", state.check_failover(&state.my_id(), false).unwrap_err()), failover);
    let unknown = a.text(&["CLUSTER", "COUNT-FAILURE-REPORTS", "nobody"]);
    assert_eq!(replies::count_failure_reports_reply(&state, b"nobody").unwrap_err().to_string(), unknown);
    assert_eq!(
        enc(&replies::count_failure_reports_reply(&state, idb.as_bytes()).unwrap(), 2),
        a.client().call(&["CLUSTER", "COUNT-FAILURE-REPORTS", idb.as_str()])
    );
    let not_master = a.text(&["CLUSTER", "REPLICAS", myid(&r).as_str()]);
    assert_eq!(replies::replicas_reply(&state, myid(&r).as_bytes()).unwrap_err().to_string(), not_master);
    assert_eq!(enc(&replies::help_reply(), 2), a.client().call(&["CLUSTER", "HELP"]));

    // Whole CLUSTER commands through `parse_cluster` (+ `apply`), against the node's answers.
    let lines = [
        "",
        "NODES x",
        "FOO",
        "foo bar",
        "ADDSLOTS",
        "ADDSLOTSRANGE 1 2 3",
        "SETSLOT 1",
        "SETSLOT 1 STABLE x",
        "SETSLOT 1 NODE",
        "SETSLOT abc STABLE",
        "SETSLOT 1 FOO",
        "setslot 0 migrating x y",
        "RESET x",
        "RESET soft x",
        "MEET a",
        "MEET 127.0.0.1 abc",
        "MEET 127.0.0.1 7000 abc",
        "MEET 127.0.0.1 7000 17000 1",
        "MEET nothost 7000",
        "MEET 127.0.0.1 -5",
        "MEET 127.0.0.1 70000",
        "COUNTKEYSINSLOT abc",
        "COUNTKEYSINSLOT -1",
        "GETKEYSINSLOT 1 abc",
        "GETKEYSINSLOT 1 -1",
        "FAILOVER x",
        "FAILOVER force x",
        "FAILOVER",
        "SET-CONFIG-EPOCH abc",
        "SET-CONFIG-EPOCH 9",
        "HELP x",
        "ADDSLOTS abc 0",
        "ADDSLOTS 0 abc",
        "ADDSLOTS 0",
        "ADDSLOTS 16000 16000",
        "ADDSLOTSRANGE 0 1 abc 2",
        "ADDSLOTSRANGE 5 3 abc 2",
        "DELSLOTS 99999",
        "DELSLOTSRANGE 1 2 x 3",
        "KEYSLOT a b",
        "FORGET nobody",
        "REPLICATE nobody",
        "SLAVES nobody",
        "REPLICAS nobody",
        "COUNT-FAILURE-REPORTS nobody",
        "SETSLOT 0 MIGRATING nobody",
        "SETSLOT 0 IMPORTING nobody",
        "SETSLOT 0 NODE nobody",
        "KEYSLOT {user1000}.following",
        "MYID",
        "HELP",
    ];
    for line in lines {
        let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
        let mut args = vec!["CLUSTER"];
        args.extend(&words);
        let redis = b.client().call(&args);
        let mut state = state_of(&b.text(&["CLUSTER", "NODES"]), &b.text(&["CLUSTER", "INFO"]));
        let no_keys = |_: u16| 0;
        let facts = LocalFacts { db_keys: 0, keys_in_slot: &no_keys, allow_replica_migration: true };
        let ours = match parse_cluster(&words, &state, &facts) {
            Ok(ClusterRequest::Reply(reply)) => enc(&reply, 2),
            Ok(ClusterRequest::Change(cmd)) => {
                enc(&state.apply(&cmd).map_or_else(|e| e.to_reply(), |a| a.to_reply()), 2)
            }
            Ok(other) => panic!("CLUSTER {line}: {other:?}"),
            Err(e) => enc(&e.to_reply(), 2),
        };
        assert_bytes(&format!("CLUSTER {line}"), &ours, &redis);
    }

    // SETSLOT … STABLE closes both ends, and the views match again.
    assert_eq!(a.text(&["CLUSTER", "SETSLOT", "100", "STABLE"]), "OK");
    assert_eq!(a.text(&["CLUSTER", "SETSLOT", "6000", "STABLE"]), "OK");
    assert_eq!(b.text(&["CLUSTER", "SETSLOT", "100", "STABLE"]), "OK");
    compare_node(&a);

    // A whole slot move (slot 200, no keys), as redis-cli --cluster reshard does it: each
    // node's SETSLOT, applied to that node's view, leaves the view the node then prints.
    let moves: [(&RedisNode, &[&str]); 4] = [
        (&b, &["SETSLOT", "200", "IMPORTING", ida.as_str()]),
        (&a, &["SETSLOT", "200", "MIGRATING", idb.as_str()]),
        // The importing side closes the slot: it takes a new config epoch.
        (&b, &["SETSLOT", "200", "NODE", idb.as_str()]),
        // The source learns it; with no keys left its migration closes.
        (&a, &["SETSLOT", "200", "NODE", idb.as_str()]),
    ];
    for (node, words) in moves {
        let mut state = state_of(&node.text(&["CLUSTER", "NODES"]), &node.text(&["CLUSTER", "INFO"]));
        let no_keys = |_: u16| 0;
        let facts = LocalFacts { db_keys: 1, keys_in_slot: &no_keys, allow_replica_migration: true };
        let Ok(ClusterRequest::Change(cmd)) = parse_cluster(words, &state, &facts) else { panic!("{words:?}") };
        assert_eq!(state.apply(&cmd), Ok(Applied::Ok));
        let mut args = vec!["CLUSTER"];
        args.extend(words);
        assert_eq!(node.text(&args), "OK");
        let after = state_of(&node.text(&["CLUSTER", "NODES"]), &node.text(&["CLUSTER", "INFO"]));
        let mine =
            |s: &ClusterState| replies::node_line(s, s.myself()).split(' ').skip(6).collect::<Vec<_>>().join(" ");
        assert_eq!(mine(&state), mine(&after), "{words:?}");
        assert_eq!(state.current_epoch(), after.current_epoch(), "{words:?}");
        assert_eq!(state.slot_owner(200).map(|n| n.id), after.slot_owner(200).map(|n| n.id), "{words:?}");
    }

    // BUMPEPOCH: the node takes a new epoch past the greatest, then keeps it.
    for _ in 0..2 {
        let mut state = state_of(&c.text(&["CLUSTER", "NODES"]), &c.text(&["CLUSTER", "INFO"]));
        let ours = state.apply(&ClusterCommand::BumpEpoch { node: state.my_id() }).unwrap();
        assert_eq!(enc(&ours.to_reply(), 2), c.client().call(&["CLUSTER", "BUMPEPOCH"]));
    }
}
