//! `apply`, command by command and check by check (the texts and their order are Redis 7.0's
//! `clusterCommand`; the integration test `tests/vs_redis_cluster.rs` checks a sample of them
//! against a live redis-server).

use super::*;
use ferrocache_protocol::Reply;
use rand::{Rng, SeedableRng};

pub(crate) fn id(c: char) -> NodeId {
    NodeId::parse(c.to_string().repeat(40).as_bytes()).unwrap()
}

/// Myself `a` (slots 0-5460), `b` (5461-10922), `c` (10923-16383), replica `r` of `a`.
pub(crate) fn cluster() -> ClusterState {
    let (a, b, c, r) = (id('a'), id('b'), id('c'), id('r'));
    let mut state = ClusterState::new(Node::new(a, "127.0.0.1", 7001, 17001));
    for (n, port) in [(b, 7002), (c, 7003)] {
        let mut node = Node::new(n, "127.0.0.1", port, port + 10000);
        node.flags = NodeFlags::MASTER;
        state.apply(&ClusterCommand::AddNode { node: Box::new(node) }).unwrap();
    }
    let mut replica = Node::new(r, "127.0.0.1", 7004, 17004);
    replica.flags = NodeFlags::SLAVE;
    replica.primary = Some(a);
    state.apply(&ClusterCommand::AddNode { node: Box::new(replica) }).unwrap();
    for (n, range, epoch) in [(a, (0, 5460), 1), (b, (5461, 10922), 2), (c, (10923, 16383), 3)] {
        state.apply(&ClusterCommand::AddSlots { node: n, ranges: vec![range] }).unwrap();
        state.nodes.iter_mut().find(|x| x.id == n).unwrap().config_epoch = epoch;
    }
    state.apply(&ClusterCommand::ObserveEpoch { epoch: 3 }).unwrap();
    state.apply(&ClusterCommand::SetHealth { health: ClusterHealth::Ok }).unwrap();
    state
}

/// Applies a command that must fail, checking that it changed nothing.
fn refuse(state: &mut ClusterState, command: ClusterCommand) -> String {
    let before = state.clone();
    let err = state.apply(&command).unwrap_err();
    assert_eq!(*state, before, "{command:?} failed but changed the state");
    err.reply_text()
}

fn ok(state: &mut ClusterState, command: ClusterCommand) {
    assert_eq!(state.apply(&command), Ok(Applied::Ok), "{command:?}");
}

fn owner(state: &ClusterState, slot: u16) -> Option<NodeId> {
    state.slot_owner(slot).map(|n| n.id)
}

#[test]
fn fresh_node() {
    let me = id('a');
    let state = ClusterState::new(Node::new(me, "", 7000, 17000));
    assert_eq!(state.my_id(), me);
    assert!(state.myself().is_master());
    assert_eq!(state.health(), ClusterHealth::Fail);
    assert_eq!(state.nodes().len(), 1);
    assert_eq!(state.slots_assigned(), 0);
    assert_eq!(state.cluster_size(), 0);
    assert_eq!(state.evaluate_health(), ClusterHealth::Fail);
}

#[test]
fn add_and_del_slots() {
    let me = id('a');
    let mut s = ClusterState::new(Node::new(me, "", 7000, 17000));
    ok(&mut s, ClusterCommand::AddSlots { node: me, ranges: vec![(1, 3), (5, 5)] });
    assert_eq!(s.slot_ranges_of(&me), vec![(1, 3), (5, 5)]);
    assert_eq!(s.slot_count(&me), 4);
    // Every check runs before anything changes: a later busy slot refuses the whole command.
    assert_eq!(
        refuse(&mut s, ClusterCommand::AddSlots { node: me, ranges: vec![(7, 7), (3, 3)] }),
        "ERR Slot 3 is already busy"
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::AddSlots { node: me, ranges: vec![(7, 9), (8, 8)] }),
        "ERR Slot 8 specified multiple times"
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::AddSlots { node: me, ranges: vec![(9, 7)] }),
        "ERR start slot number 9 is greater than end slot number 7"
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::AddSlots { node: me, ranges: vec![(0, 16384)] }),
        "ERR Invalid or out of range slot"
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::DelSlots { node: me, ranges: vec![(4, 4)] }),
        "ERR Slot 4 is already unassigned"
    );
    ok(&mut s, ClusterCommand::DelSlots { node: me, ranges: vec![(2, 3)] });
    assert_eq!(s.slot_ranges_of(&me), vec![(1, 1), (5, 5)]);
    assert_eq!(s.slots_assigned(), 2);
    // An empty ADDSLOTS list is accepted (Redis's arity already refused it).
    ok(&mut s, ClusterCommand::AddSlots { node: me, ranges: vec![] });
}

#[test]
fn release_slots_unassigns_only_the_acting_nodes_own() {
    let mut s = cluster();
    // 100 is a's, 6000 b's, 7000 given to a meanwhile: a's release of all three frees a's.
    ok(&mut s, ClusterCommand::DelSlots { node: id('a'), ranges: vec![(7000, 7000)] });
    ok(&mut s, ClusterCommand::AddSlots { node: id('a'), ranges: vec![(7000, 7000)] });
    ok(&mut s, ClusterCommand::ReleaseSlots { node: id('a'), slots: vec![100, 6000, 7000] });
    assert_eq!(owner(&s, 100), None);
    assert_eq!(owner(&s, 6000), Some(id('b')));
    assert_eq!(owner(&s, 7000), None);
    // Nothing left of its own among them: a no-op, never refused.
    ok(&mut s, ClusterCommand::ReleaseSlots { node: id('a'), slots: vec![100, 6000] });
    assert_eq!(owner(&s, 6000), Some(id('b')));
}

#[test]
fn delslots_takes_any_owner_and_closes_imports() {
    let mut s = cluster();
    let a = id('a');
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 6000, action: SetSlotAction::Importing(id('b').to_string()) });
    ok(&mut s, ClusterCommand::DelSlots { node: a, ranges: vec![(6000, 6000)] });
    assert_eq!(owner(&s, 6000), None);
    assert!(s.importing_from(6000).is_none());
    // Taking the slot: an import of it is over too.
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 6000, action: SetSlotAction::Importing(id('b').to_string()) });
    ok(&mut s, ClusterCommand::AddSlots { node: a, ranges: vec![(6000, 6000)] });
    assert!(s.importing_from(6000).is_none());
    assert_eq!(owner(&s, 6000), Some(a));
}

#[test]
fn flushslots() {
    let mut s = cluster();
    assert_eq!(
        refuse(&mut s, ClusterCommand::FlushSlots { node: id('a'), db_keys: 3 }),
        "ERR DB must be empty to perform CLUSTER FLUSHSLOTS."
    );
    ok(&mut s, ClusterCommand::FlushSlots { node: id('a'), db_keys: 0 });
    assert_eq!(s.slot_count(&id('a')), 0);
    assert_eq!(s.slot_count(&id('b')), 5462);
    assert_eq!(s.slots_assigned(), 16384 - 5461);
}

#[test]
fn setslot_checks() {
    let mut s = cluster();
    let (a, b, r) = (id('a'), id('b'), id('r'));
    let set = |node, slot, action| ClusterCommand::SetSlot { node, slot, action };
    assert_eq!(refuse(&mut s, set(r, 1, SetSlotAction::Stable)), "ERR Please use SETSLOT only with masters.");
    assert_eq!(refuse(&mut s, set(a, 16384, SetSlotAction::Stable)), "ERR Invalid or out of range slot");
    assert_eq!(
        refuse(&mut s, set(a, 6000, SetSlotAction::Migrating(b.to_string()))),
        "ERR I'm not the owner of hash slot 6000"
    );
    assert_eq!(refuse(&mut s, set(a, 1, SetSlotAction::Migrating("x".into()))), "ERR I don't know about node x");
    assert_eq!(refuse(&mut s, set(a, 1, SetSlotAction::Migrating(r.to_string()))), "ERR Target node is not a master");
    assert_eq!(
        refuse(&mut s, set(a, 1, SetSlotAction::Importing(b.to_string()))),
        "ERR I'm already the owner of hash slot 1"
    );
    assert_eq!(refuse(&mut s, set(a, 6000, SetSlotAction::Importing("x".into()))), "ERR I don't know about node x");
    assert_eq!(
        refuse(&mut s, set(a, 6000, SetSlotAction::Importing(r.to_string()))),
        "ERR Target node is not a master"
    );
    let node = |target: String, keys| SetSlotAction::Node {
        target,
        keys_in_slot: keys,
        allow_replica_migration: true,
        closing_import: false,
        migrating_to_target: false,
    };
    assert_eq!(refuse(&mut s, set(a, 1, node("x".into(), 0))), "ERR Unknown node x");
    assert_eq!(refuse(&mut s, set(a, 1, node(r.to_string(), 0))), "ERR Target node is not a master");
    assert_eq!(
        refuse(&mut s, set(a, 1, node(b.to_string(), 2))),
        "ERR Can't assign hashslot 1 to a different node while I still hold keys for this hash slot."
    );
    // Upper-case ids name no node, as in Redis.
    assert_eq!(
        refuse(&mut s, set(a, 1, node(b.to_string().to_uppercase(), 0))),
        format!("ERR Unknown node {}", b.to_string().to_uppercase())
    );
}

#[test]
fn setslot_migration_round_trip() {
    let mut s = cluster();
    let (a, b) = (id('a'), id('b'));
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 100, action: SetSlotAction::Migrating(b.to_string()) });
    ok(&mut s, ClusterCommand::SetSlot { node: b, slot: 100, action: SetSlotAction::Importing(a.to_string()) });
    assert_eq!(s.migrating_to(100), Some(&b));
    assert_eq!(s.node(&b).unwrap().importing.get(&100), Some(&a));
    // The target closes the slot: it owns it, bumps its epoch (2 → 4, the current epoch was 3).
    let node = |keys| SetSlotAction::Node {
        target: b.to_string(),
        keys_in_slot: keys,
        allow_replica_migration: true,
        closing_import: false,
        migrating_to_target: false,
    };
    ok(&mut s, ClusterCommand::SetSlot { node: b, slot: 100, action: node(0) });
    assert_eq!(owner(&s, 100), Some(b));
    assert!(s.node(&b).unwrap().importing.is_empty());
    assert_eq!(s.node(&b).unwrap().config_epoch, 4);
    assert_eq!(s.current_epoch(), 4);
    // The source, with no keys left, learns it: its migration closes.
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 100, action: node(0) });
    assert!(s.migrating_to(100).is_none());
    // With keys still there (not its slot any more), the migration stays open.
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 200, action: SetSlotAction::Migrating(b.to_string()) });
    ok(&mut s, ClusterCommand::SetSlot { node: b, slot: 200, action: node(0) });
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 200, action: node(5) });
    assert_eq!(s.migrating_to(200), Some(&b));
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 200, action: SetSlotAction::Stable });
    assert!(s.migrating_to(200).is_none());
}

#[test]
fn setslot_node_with_the_open_slots_in_the_command() {
    // Open slots are node-local (the control plane's view): the replicated state has none,
    // the command carries what the acting node knew.
    let mut s = cluster();
    let (a, b) = (id('a'), id('b'));
    let node = |closing_import, migrating_to_target| SetSlotAction::Node {
        target: b.to_string(),
        keys_in_slot: 0,
        allow_replica_migration: true,
        closing_import,
        migrating_to_target,
    };
    // The target closes an import it had: a new epoch (2 → 4).
    ok(&mut s, ClusterCommand::SetSlot { node: b, slot: 100, action: node(true, false) });
    assert_eq!((owner(&s, 100), s.node(&b).unwrap().config_epoch), (Some(b), 4));
    // Without an import, no new epoch.
    ok(&mut s, ClusterCommand::SetSlot { node: b, slot: 101, action: node(false, false) });
    assert_eq!(s.node(&b).unwrap().config_epoch, 4);
    // The source that was migrating its last slot to the target follows it.
    ok(&mut s, ClusterCommand::FlushSlots { node: a, db_keys: 0 });
    ok(&mut s, ClusterCommand::AddSlots { node: a, ranges: vec![(0, 0)] });
    ok(&mut s, ClusterCommand::SetSlot { node: b, slot: 0, action: node(true, false) });
    let mut without = s.clone();
    ok(&mut without, ClusterCommand::SetSlot { node: a, slot: 0, action: node(false, false) });
    assert!(without.myself().is_master());
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 0, action: node(false, true) });
    assert_eq!(s.myself().primary, Some(b));
    // Older logs' form: the fields missing read as false.
    let old = r#"{"Node":{"target":"x","keys_in_slot":0,"allow_replica_migration":true}}"#;
    let action: SetSlotAction = serde_json::from_str(old).unwrap();
    assert!(matches!(action, SetSlotAction::Node { closing_import: false, migrating_to_target: false, .. }));
}

#[test]
fn giving_away_the_last_slot_makes_a_replica() {
    let mut s = cluster();
    let (a, b) = (id('a'), id('b'));
    ok(&mut s, ClusterCommand::FlushSlots { node: a, db_keys: 0 });
    ok(&mut s, ClusterCommand::AddSlots { node: a, ranges: vec![(0, 0)] });
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 1, action: SetSlotAction::Importing(b.to_string()) });
    // Without replica migration it stays a slotless master.
    let mut kept = s.clone();
    let give = |allow| ClusterCommand::SetSlot {
        node: a,
        slot: 0,
        action: SetSlotAction::Node {
            target: b.to_string(),
            keys_in_slot: 0,
            allow_replica_migration: allow,
            closing_import: false,
            migrating_to_target: false,
        },
    };
    kept.apply(&give(false)).unwrap();
    assert!(kept.myself().is_master());
    s.apply(&give(true)).unwrap();
    assert!(s.myself().is_replica());
    assert_eq!(s.myself().primary, Some(b));
    // Turning replica closed its open slots.
    assert!(s.importing_from(1).is_none());
}

#[test]
fn epochs() {
    let mut s = cluster();
    let (a, c) = (id('a'), id('c'));
    assert_eq!(s.apply(&ClusterCommand::BumpEpoch { node: a }), Ok(Applied::Bumped(4)));
    assert_eq!(s.apply(&ClusterCommand::BumpEpoch { node: a }), Ok(Applied::Still(4)));
    assert_eq!(s.apply(&ClusterCommand::BumpEpoch { node: c }), Ok(Applied::Bumped(5)));
    assert_eq!(Applied::Bumped(4).to_reply(), Reply::Simple("BUMPED 4".into()));
    assert_eq!(Applied::Still(4).to_reply(), Reply::Simple("STILL 4".into()));
    assert_eq!(
        refuse(&mut s, ClusterCommand::SetConfigEpoch { node: a, epoch: -1 }),
        "ERR Invalid config epoch specified: -1"
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::SetConfigEpoch { node: a, epoch: 9 }),
        "ERR The user can assign a config epoch only when the node does not know any other node."
    );
    let mut fresh = ClusterState::new(Node::new(a, "", 7000, 17000));
    ok(&mut fresh, ClusterCommand::SetConfigEpoch { node: a, epoch: 7 });
    assert_eq!(fresh.myself().config_epoch, 7);
    assert_eq!(fresh.current_epoch(), 7);
    assert_eq!(
        refuse(&mut fresh, ClusterCommand::SetConfigEpoch { node: a, epoch: 8 }),
        "ERR Node config epoch is already non-zero"
    );
    // A fresh node bumps from 0.
    let mut zero = ClusterState::new(Node::new(a, "", 7000, 17000));
    assert_eq!(zero.apply(&ClusterCommand::BumpEpoch { node: a }), Ok(Applied::Bumped(1)));
    ok(&mut zero, ClusterCommand::ObserveEpoch { epoch: 0 });
    assert_eq!(zero.current_epoch(), 1);
    ok(&mut zero, ClusterCommand::SetLastVoteEpoch { epoch: 5 });
    assert_eq!(zero.last_vote_epoch(), 5);
}

#[test]
fn meet_and_handshake() {
    let me = id('a');
    let mut s = ClusterState::new(Node::new(me, "", 7000, 17000));
    let meet = |id, ip: &str, port, cport| ClusterCommand::Meet { id, ip: ip.into(), port, cport };
    assert_eq!(refuse(&mut s, meet(id('t'), "nope", 7001, 17001)), "ERR Invalid node address specified: nope:7001");
    assert_eq!(refuse(&mut s, meet(id('t'), "127.0.0.1", 0, 10000)), "ERR Invalid node address specified: 127.0.0.1:0");
    assert_eq!(
        refuse(&mut s, meet(id('t'), "127.0.0.1", 70000, 17000)),
        "ERR Invalid node address specified: 127.0.0.1:70000"
    );
    assert_eq!(
        refuse(&mut s, meet(id('t'), "127.0.0.1", 7001, 65536)),
        "ERR Invalid node address specified: 127.0.0.1:7001"
    );
    ok(&mut s, meet(id('t'), "127.0.0.1", 7001, 17001));
    // The same address again while the handshake runs: +OK, nothing added.
    ok(&mut s, meet(id('u'), "127.0.0.1", 7001, 17001));
    assert_eq!(s.nodes().len(), 2);
    let t = s.node(&id('t')).unwrap();
    assert!(t.in_handshake() && t.flags.contains(NodeFlags::MEET));
    // IPv6 is stored as inet_ntop prints it.
    ok(&mut s, meet(id('v'), "0:0:0:0:0:0:0:1", 7001, 17001));
    assert_eq!(s.node(&id('v')).unwrap().ip, "::1");
    // The handshake ends: the node gets its real id.
    ok(&mut s, ClusterCommand::RenameNode { from: id('t'), to: id('b') });
    let b = s.node(&id('b')).unwrap();
    assert!(!b.in_handshake() && !b.flags.contains(NodeFlags::MEET));
    assert!(s.node(&id('t')).is_none());
    assert!(s.apply(&ClusterCommand::RenameNode { from: id('v'), to: id('b') }).is_err());
    assert!(s.apply(&ClusterCommand::RenameNode { from: id('x'), to: id('y') }).is_err());
}

#[test]
fn forget() {
    let mut s = cluster();
    let (a, b, r) = (id('a'), id('b'), id('r'));
    assert_eq!(
        refuse(&mut s, ClusterCommand::Forget { node: a, target: "zz".into(), now_ms: 0 }),
        "ERR Unknown node zz"
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::Forget { node: a, target: a.to_string(), now_ms: 0 }),
        "ERR I tried hard but I can't forget myself..."
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::Forget { node: r, target: a.to_string(), now_ms: 0 }),
        "ERR Can't forget my master!"
    );
    ok(&mut s, ClusterCommand::SetSlot { node: a, slot: 1, action: SetSlotAction::Migrating(b.to_string()) });
    ok(&mut s, ClusterCommand::Forget { node: a, target: b.to_string(), now_ms: 0 });
    assert!(s.node(&b).is_none());
    assert_eq!(owner(&s, 6000), None);
    assert!(s.migrating_to(1).is_none());
    // Slot owners behind the removed node still point at the right nodes.
    assert_eq!(owner(&s, 16383), Some(id('c')));
    assert_eq!(owner(&s, 0), Some(a));
    assert_eq!(s.cluster_size(), 2);
    // Forgetting a master leaves its replicas without a primary.
    ok(&mut s, ClusterCommand::Forget { node: id('c'), target: a.to_string(), now_ms: 0 });
    // ... but never removes the viewer's own node from its own view.
    assert_eq!(s.myself().id, a);
    let mut s = cluster();
    s.set_myself(id('c')).unwrap();
    ok(&mut s, ClusterCommand::Forget { node: b, target: a.to_string(), now_ms: 0 });
    assert!(s.node(&a).is_none());
    assert_eq!(s.node(&r).unwrap().primary, None);
    assert_eq!(owner(&s, 16383), Some(id('c')));
}

/// The forget list: FORGET's answers on the other members after the first one, its expiry,
/// and a node met again.
#[test]
fn forget_list() {
    let (a, b, c, r) = (id('a'), id('b'), id('c'), id('r'));
    let t0 = 1_000_000;
    let forget = |node, target: NodeId, now_ms| ClusterCommand::Forget { node, target: target.to_string(), now_ms };
    let mut s = cluster();
    ok(&mut s, forget(a, b, t0));
    assert!(s.node(&b).is_none());
    assert_eq!(s.forgotten().get(&b), Some(&Forgotten { until_ms: t0 + FORGET_TTL_MS, by: vec![a] }));
    // Each other node's FORGET succeeds once, as each Redis node forgets on its own...
    ok(&mut s, forget(c, b, t0 + 10));
    ok(&mut s, forget(r, b, t0 + 20));
    assert_eq!(s.forgotten()[&b].by, vec![a, c, r]);
    // ... and a second one is refused, as by a Redis node that no longer knows it.
    let unknown = format!("ERR Unknown node {b}");
    assert_eq!(refuse(&mut s, forget(a, b, t0 + 30)), unknown);
    assert_eq!(refuse(&mut s, forget(c, b, t0 + 30)), unknown);
    // 60 s on, the list no longer counts; the next FORGET applied drops the entry.
    let mut late = cluster();
    ok(&mut late, forget(a, b, t0));
    assert_eq!(refuse(&mut late, forget(c, b, t0 + FORGET_TTL_MS)), unknown);
    ok(&mut late, forget(a, id('c'), t0 + FORGET_TTL_MS));
    assert_eq!(late.forgotten().keys().collect::<Vec<_>>(), vec![&id('c')]);
    // Ids that are not ids, and ids never forgotten: Unknown node, the list untouched.
    assert_eq!(refuse(&mut s, forget(c, id('z'), t0)), format!("ERR Unknown node {}", id('z')));
    assert_eq!(
        refuse(&mut s, ClusterCommand::Forget { node: c, target: "nobody".into(), now_ms: t0 }),
        "ERR Unknown node nobody"
    );
    // Refusals on known nodes come first, and list nothing.
    assert_eq!(refuse(&mut s, forget(a, a, t0)), "ERR I tried hard but I can't forget myself...");
    assert_eq!(refuse(&mut s, forget(r, a, t0)), "ERR Can't forget my master!");
    // Met again: off the list; a FORGET now forgets it again.
    let mut back = Node::new(b, "127.0.0.1", 7002, 17002);
    back.flags = NodeFlags::MASTER;
    ok(&mut s, ClusterCommand::AddNode { node: Box::new(back) });
    assert!(s.forgotten().get(&b).is_none());
    ok(&mut s, forget(c, b, t0 + 40));
    assert_eq!(s.forgotten()[&b].by, vec![c]);
    // The list survives a serde round trip (the Raft snapshot); a state without one loads.
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<ClusterState>(&json).unwrap(), s);
    let mut plain = cluster();
    let json = serde_json::to_string(&plain).unwrap();
    assert!(!json.contains("forgotten"), "{json}");
    assert_eq!(serde_json::from_str::<ClusterState>(&json).unwrap(), plain);
    // A FORGET logged before the field existed reads as sent at time 0.
    let old = format!(r#"{{"Forget":{{"node":"{a}","target":"{b}"}}}}"#);
    assert_eq!(serde_json::from_str::<ClusterCommand>(&old).unwrap(), forget(a, b, 0));
    ok(&mut plain, forget(a, b, 0));
}

/// A member resetting itself out of the cluster: gone for every other node, and each of
/// their FORGETs of it succeeds once.
#[test]
fn leave() {
    let (a, b, c, r) = (id('a'), id('b'), id('c'), id('r'));
    let t0 = 5_000;
    let mut s = cluster();
    s.set_myself(c).unwrap();
    ok(&mut s, ClusterCommand::Leave { node: b, now_ms: t0 });
    assert!(s.node(&b).is_none());
    assert_eq!(s.slot_count(&b), 0);
    assert_eq!(s.forgotten()[&b], Forgotten { until_ms: t0 + FORGET_TTL_MS, by: vec![] });
    for node in [a, c, r] {
        ok(&mut s, ClusterCommand::Forget { node, target: b.to_string(), now_ms: t0 + 1 });
    }
    // Already gone: nothing to do.
    let before = s.clone();
    ok(&mut s, ClusterCommand::Leave { node: b, now_ms: t0 + 2 });
    ok(&mut s, ClusterCommand::Leave { node: id('z'), now_ms: t0 + 2 });
    assert_eq!(s, before);
    // The viewer's own node stays in its own view.
    ok(&mut s, ClusterCommand::Leave { node: c, now_ms: t0 + 3 });
    assert_eq!(s, before);
}

#[test]
fn replicate() {
    let mut s = cluster();
    let (a, b, c, r) = (id('a'), id('b'), id('c'), id('r'));
    assert_eq!(
        refuse(&mut s, ClusterCommand::Replicate { node: a, target: "q".into(), db_keys: 0 }),
        "ERR Unknown node q"
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::Replicate { node: a, target: a.to_string(), db_keys: 0 }),
        "ERR Can't replicate myself"
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::Replicate { node: b, target: r.to_string(), db_keys: 0 }),
        "ERR I can only replicate a master, not a replica."
    );
    assert_eq!(
        refuse(&mut s, ClusterCommand::Replicate { node: b, target: a.to_string(), db_keys: 0 }),
        "ERR To set a master the node must be empty and without assigned slots."
    );
    // A replica can move to another master freely, keys or not.
    ok(&mut s, ClusterCommand::Replicate { node: r, target: c.to_string(), db_keys: 10 });
    assert_eq!(s.node(&r).unwrap().primary, Some(c));
    assert_eq!(s.replicas_of(&c).count(), 1);
    assert_eq!(s.replicas_of(&a).count(), 0);
    // An empty master becomes a replica; its open slots close.
    ok(&mut s, ClusterCommand::FlushSlots { node: b, db_keys: 0 });
    ok(&mut s, ClusterCommand::SetSlot { node: b, slot: 1, action: SetSlotAction::Importing(a.to_string()) });
    assert_eq!(
        refuse(&mut s, ClusterCommand::Replicate { node: b, target: a.to_string(), db_keys: 1 }),
        "ERR To set a master the node must be empty and without assigned slots."
    );
    ok(&mut s, ClusterCommand::Replicate { node: b, target: a.to_string(), db_keys: 0 });
    let nb = s.node(&b).unwrap();
    assert!(nb.is_replica() && !nb.is_master() && nb.importing.is_empty());
    ok(&mut s, ClusterCommand::SetRole { node: b, primary: None });
    assert!(s.node(&b).unwrap().is_master());
    assert_eq!(s.node(&b).unwrap().primary, None);
    ok(&mut s, ClusterCommand::SetRole { node: b, primary: Some(c) });
    assert_eq!(s.node(&b).unwrap().primary, Some(c));
    assert!(s.apply(&ClusterCommand::SetRole { node: b, primary: Some(b) }).is_err());
}

#[test]
fn failover() {
    let mut s = cluster();
    let (a, r) = (id('a'), id('r'));
    assert_eq!(
        s.check_failover(&a, false).unwrap_err().reply_text(),
        "ERR You should send CLUSTER FAILOVER to a replica"
    );
    // The master's link is down from this view: only a forced failover may go.
    assert_eq!(
        s.check_failover(&r, false).unwrap_err().reply_text(),
        "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE"
    );
    assert_eq!(s.check_failover(&r, true), Ok(()));
    ok(&mut s, ClusterCommand::SetLink { node: a, link: LinkState::Connected, ping_sent: 0, pong_received: 1 });
    assert_eq!(s.check_failover(&r, false), Ok(()));
    ok(&mut s, ClusterCommand::SetFailState { node: a, pfail: false, fail: true });
    assert!(s.check_failover(&r, false).is_err());
    assert_eq!(
        refuse(&mut s, ClusterCommand::Failover { node: a, takeover: false }),
        "ERR You should send CLUSTER FAILOVER to a replica"
    );
    ok(&mut s, ClusterCommand::Failover { node: r, takeover: false });
    let nr = s.node(&r).unwrap();
    assert!(nr.is_master() && nr.primary.is_none());
    assert_eq!(nr.config_epoch, 4);
    assert_eq!(s.slot_ranges_of(&r), vec![(0, 5460)]);
    assert_eq!(s.slot_count(&a), 0);
    // Failed, it stays a master without slots until it is back, then follows `r`.
    let na = s.node(&a).unwrap();
    assert!(na.is_master() && na.primary.is_none() && na.failed_over_to == Some(r));
    ok(&mut s, ClusterCommand::ClearFail { node: a });
    let na = s.node(&a).unwrap();
    assert!(na.is_replica() && na.primary == Some(r) && na.failed_over_to.is_none());
    // A replica whose master is unknown cannot fail over.
    let mut lost = cluster();
    lost.set_myself(id('b')).unwrap();
    ok(&mut lost, ClusterCommand::Forget { node: id('b'), target: a.to_string(), now_ms: 0 });
    assert_eq!(
        refuse(&mut lost, ClusterCommand::Failover { node: r, takeover: true }),
        "ERR I'm a replica but my master is unknown to me"
    );
    // TAKEOVER takes its epoch like BUMPEPOCH.
    let mut t = cluster();
    ok(&mut t, ClusterCommand::Failover { node: r, takeover: true });
    assert_eq!(t.node(&r).unwrap().config_epoch, 4);
}

#[test]
fn reset() {
    let mut s = cluster();
    let (a, r, n) = (id('a'), id('r'), id('n'));
    assert_eq!(
        refuse(&mut s, ClusterCommand::Reset { node: a, hard: false, new_id: a, db_keys: 1 }),
        "ERR CLUSTER RESET can't be called with master nodes containing keys"
    );
    let mut soft = s.clone();
    ok(&mut soft, ClusterCommand::SetSlot { node: a, slot: 1, action: SetSlotAction::Migrating(id('b').to_string()) });
    ok(&mut soft, ClusterCommand::Reset { node: a, hard: false, new_id: a, db_keys: 0 });
    assert_eq!(soft.nodes().len(), 1);
    assert_eq!(soft.slots_assigned(), 0);
    assert!(soft.migrating_to(1).is_none());
    assert_eq!(soft.current_epoch(), 3);
    assert_eq!(soft.myself().config_epoch, 1);
    ok(&mut s, ClusterCommand::Reset { node: a, hard: true, new_id: n, db_keys: 0 });
    assert_eq!(s.my_id(), n);
    assert_eq!((s.current_epoch(), s.last_vote_epoch(), s.myself().config_epoch), (0, 0, 0));
    // A replica resets with keys and becomes a master.
    let mut s = cluster();
    s.set_myself(r).unwrap();
    ok(&mut s, ClusterCommand::Reset { node: r, hard: false, new_id: r, db_keys: 5 });
    assert!(s.myself().is_master() && s.myself().primary.is_none());
    assert_eq!(s.nodes().len(), 1);
}

#[test]
fn local_observations() {
    let mut s = cluster();
    let b = id('b');
    let cmds = [
        ClusterCommand::SetLink { node: b, link: LinkState::Connected, ping_sent: 5, pong_received: 6 },
        ClusterCommand::SetReplOffset { node: b, offset: 77 },
        ClusterCommand::SetFailureReports { node: b, count: 2 },
        ClusterCommand::SetNoFailover { node: b, on: true },
        ClusterCommand::SetFailState { node: b, pfail: true, fail: false },
        ClusterCommand::SetAddress { node: b, ip: "10.0.0.2".into(), port: 1, cport: 2, hostname: "h".into() },
    ];
    for cmd in &cmds {
        assert!(cmd.is_local() || matches!(cmd, ClusterCommand::SetAddress { .. }));
        ok(&mut s, cmd.clone());
    }
    let nb = s.node(&b).unwrap();
    assert_eq!((nb.ping_sent, nb.pong_received, nb.repl_offset, nb.failure_reports), (5, 6, 77, 2));
    assert!(nb.flags.contains(NodeFlags::NOFAILOVER | NodeFlags::PFAIL));
    assert_eq!((nb.ip.as_str(), nb.port, nb.cport, nb.hostname()), ("10.0.0.2", 1, 2, Some("h")));
    assert!(!ClusterCommand::AddSlots { node: b, ranges: vec![] }.is_local());
    assert!(s.apply(&ClusterCommand::SetReplOffset { node: id('q'), offset: 1 }).is_err());
}

#[test]
fn health() {
    let mut s = cluster();
    assert_eq!(s.evaluate_health(), ClusterHealth::Ok);
    ok(&mut s, ClusterCommand::SetFailState { node: id('b'), pfail: true, fail: false });
    // One of three masters unreachable: still a majority.
    assert_eq!(s.evaluate_health(), ClusterHealth::Ok);
    ok(&mut s, ClusterCommand::SetFailState { node: id('c'), pfail: true, fail: false });
    assert_eq!(s.evaluate_health(), ClusterHealth::Fail);
    let mut s = cluster();
    ok(&mut s, ClusterCommand::SetFailState { node: id('b'), pfail: false, fail: true });
    assert_eq!(s.evaluate_health(), ClusterHealth::Fail);
    let mut cfg = *s.config();
    cfg.require_full_coverage = false;
    s.set_config(cfg);
    assert_eq!(s.evaluate_health(), ClusterHealth::Ok);
    let mut s = cluster();
    ok(&mut s, ClusterCommand::DelSlots { node: id('a'), ranges: vec![(0, 0)] });
    assert_eq!(s.evaluate_health(), ClusterHealth::Fail);
}

#[test]
fn serde_round_trip_and_validation() {
    let mut s = cluster();
    ok(
        &mut s,
        ClusterCommand::SetSlot { node: id('a'), slot: 1, action: SetSlotAction::Migrating(id('b').to_string()) },
    );
    let json = serde_json::to_string(&s).unwrap();
    let back: ClusterState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    assert!(json.len() < 4096, "{}", json.len());
    // Two owners for one slot, an unknown primary, a missing myself: refused.
    let overlap = json.replacen("[[5461,10922]]", "[[5000,10922]]", 1);
    assert!(serde_json::from_str::<ClusterState>(&overlap).is_err());
    let orphan = json.replacen(&format!("\"primary\":\"{}\"", id('a')), &format!("\"primary\":\"{}\"", id('z')), 1);
    assert_ne!(orphan, json);
    assert!(serde_json::from_str::<ClusterState>(&orphan).is_err());
    let lost = json.replacen(&format!("\"myself\":\"{}\"", id('a')), &format!("\"myself\":\"{}\"", id('z')), 1);
    assert!(serde_json::from_str::<ClusterState>(&lost).is_err());
    let commands = vec![
        ClusterCommand::AddSlots { node: id('a'), ranges: vec![(1, 2)] },
        ClusterCommand::SetSlot { node: id('a'), slot: 3, action: SetSlotAction::Stable },
        ClusterCommand::AddNode { node: Box::new(Node::new(id('q'), "::1", 1, 2)) },
    ];
    let json = serde_json::to_string(&commands).unwrap();
    assert_eq!(serde_json::from_str::<Vec<ClusterCommand>>(&json).unwrap(), commands);
}

/// A random command over a small set of nodes, slots and facts.
fn random_command(rng: &mut impl Rng) -> ClusterCommand {
    let ids = ['a', 'b', 'c', 'r', 'x'];
    let mut node = || id(ids[rng.gen_range(0..ids.len())]);
    let n1 = node();
    let n2 = node();
    let slot = [0u16, 1, 100, 5460, 5461, 16383, 16384][rng.gen_range(0..7)];
    let range = (slot.min(16383), (slot + rng.gen_range(0..3)).min(16384));
    let name = if rng.gen_bool(0.9) { n2.to_string() } else { "junk".to_string() };
    let keys = rng.gen_range(0..2);
    match rng.gen_range(0..18) {
        0 => ClusterCommand::AddSlots { node: n1, ranges: vec![range] },
        1 => ClusterCommand::DelSlots { node: n1, ranges: vec![range, (range.1, range.0)] },
        2 => ClusterCommand::FlushSlots { node: n1, db_keys: keys },
        3 => ClusterCommand::SetSlot { node: n1, slot, action: SetSlotAction::Migrating(name) },
        4 => ClusterCommand::SetSlot { node: n1, slot, action: SetSlotAction::Importing(name) },
        5 => ClusterCommand::SetSlot { node: n1, slot, action: SetSlotAction::Stable },
        6 => ClusterCommand::SetSlot {
            node: n1,
            slot,
            action: SetSlotAction::Node {
                target: name,
                keys_in_slot: keys,
                allow_replica_migration: rng.gen(),
                closing_import: false,
                migrating_to_target: false,
            },
        },
        7 => ClusterCommand::BumpEpoch { node: n1 },
        8 => ClusterCommand::SetConfigEpoch { node: n1, epoch: rng.gen_range(-1..3) },
        9 => ClusterCommand::Meet { id: NodeId::random(), ip: "127.0.0.1".into(), port: rng.gen_range(0..3), cport: 1 },
        10 => ClusterCommand::Forget { node: n1, target: name, now_ms: [0, 30_000, 70_000][rng.gen_range(0..3)] },
        11 => ClusterCommand::Replicate { node: n1, target: name, db_keys: keys },
        12 => ClusterCommand::Failover { node: n1, takeover: rng.gen() },
        13 => ClusterCommand::SetRole { node: n1, primary: rng.gen_bool(0.5).then_some(n2) },
        14 => ClusterCommand::Reset { node: n1, hard: rng.gen(), new_id: NodeId::random(), db_keys: keys },
        16 => ClusterCommand::Leave { node: n1, now_ms: [0, 30_000, 70_000][rng.gen_range(0..3)] },
        15 => ClusterCommand::AddNode { node: Box::new(Node::new(n1, "1.2.3.4", 5, 6)) },
        _ => ClusterCommand::SetFailState { node: n1, pfail: rng.gen(), fail: rng.gen() },
    }
}

/// Random command sequences: never a panic, a refused command changes nothing, equal states
/// stay equal (determinism), and every state survives a serde round trip (which re-checks
/// all invariants).
#[test]
fn random_commands_keep_invariants() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _round in 0..40 {
        let mut s = cluster();
        let mut twin = s.clone();
        for _ in 0..60 {
            let cmd = random_command(&mut rng);
            let before = s.clone();
            let result = s.apply(&cmd);
            assert_eq!(twin.apply(&cmd), result);
            assert_eq!(s, twin);
            if result.is_err() {
                assert_eq!(s, before, "{cmd:?}");
            }
            let back: ClusterState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
            assert_eq!(back.nodes(), s.nodes());
            assert_eq!(back.slot_runs().len(), s.slot_runs().len());
            assert_eq!(s.myself().id, s.my_id());
            let counted: usize = s.nodes().iter().map(|n| s.slot_count(&n.id)).sum();
            assert_eq!(counted, s.slots_assigned());
        }
    }
}
