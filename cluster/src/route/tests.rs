//! `route`, branch by branch of `getNodeByQuery` (`tests/vs_redis_cluster.rs` replays a sample
//! against a live cluster).

use super::*;
use crate::state::tests::{cluster, id};
use crate::state::{ClusterCommand, ClusterConfig, SetSlotAction};
use std::cell::Cell;

/// A key of `slot` (`{<n>}suffix`).
fn key(slot: u16, suffix: &str) -> Vec<u8> {
    (0u32..).map(|n| format!("{{{n}}}{suffix}").into_bytes()).find(|k| key_slot(k) == slot).unwrap()
}

fn go(
    state: &ClusterState,
    keys: &[Vec<u8>],
    write: bool,
    kind: CommandKind,
    flags: ClientFlags,
    present: &[&[u8]],
) -> Route {
    let exists = |k: &[u8]| present.contains(&k);
    route(&Query { keys, write, kind, key_exists: &exists }, state, flags)
}

fn read(state: &ClusterState, keys: &[Vec<u8>]) -> Route {
    go(state, keys, false, CommandKind::Regular, ClientFlags::default(), &[])
}

fn moved(slot: u16, node: char, port: u16) -> Route {
    Route::Moved { slot, node: id(node), endpoint: "127.0.0.1".into(), port }
}

const NONE: ClientFlags = ClientFlags { asking: false, readonly: false, multi: false };
const ASKING: ClientFlags = ClientFlags { asking: true, readonly: false, multi: false };
const READONLY: ClientFlags = ClientFlags { asking: false, readonly: true, multi: false };

#[test]
fn keyless_and_exec_outside_multi_are_local() {
    let s = cluster();
    assert_eq!(read(&s, &[]), Route::Local);
    // EXEC without MULTI just fails locally, whatever its "keys".
    let keys = [key(6000, "x")];
    assert_eq!(go(&s, &keys, false, CommandKind::Exec { queued_write: true }, NONE, &[]), Route::Local);
    let multi = ClientFlags { multi: true, ..NONE };
    assert_eq!(go(&s, &keys, false, CommandKind::Exec { queued_write: true }, multi, &[]), moved(6000, 'b', 7002));
    assert_eq!(go(&s, &[], false, CommandKind::Exec { queued_write: false }, multi, &[]), Route::Local);
}

#[test]
fn owner_decides() {
    let s = cluster();
    assert_eq!(read(&s, &[key(0, "k")]), Route::Local);
    assert_eq!(read(&s, &[key(6000, "k")]), moved(6000, 'b', 7002));
    assert_eq!(read(&s, &[key(16383, "k")]), moved(16383, 'c', 7003));
    assert_eq!(moved(3999, 'b', 6381).error_text().unwrap(), "MOVED 3999 127.0.0.1:6381");
    assert!(matches!(moved(1, 'b', 1).to_reply(), Some(Reply::Error(_))));
    assert_eq!(Route::Local.to_reply(), None);
    assert!(Route::Local.is_local());
}

#[test]
fn unbound_slot() {
    let mut s = cluster();
    s.apply(&ClusterCommand::DelSlots { node: id('b'), ranges: vec![(6000, 6000)] }).unwrap();
    let r = read(&s, &[key(6000, "k")]);
    assert_eq!(r, Route::Down(DownReason::Unbound));
    assert_eq!(r.error_text().unwrap(), "CLUSTERDOWN Hash slot not served");
    // Checked on the first key, before cross-slot.
    assert_eq!(read(&s, &[key(6000, "k"), key(1, "k")]), Route::Down(DownReason::Unbound));
    // A later key in an unbound slot is just another slot: CROSSSLOT.
    assert_eq!(read(&s, &[key(1, "k"), key(6000, "k")]), Route::CrossSlot);
}

#[test]
fn cross_slot_and_repeated_keys() {
    let s = cluster();
    let r = read(&s, &[key(1, "a"), key(2, "a")]);
    assert_eq!(r, Route::CrossSlot);
    assert_eq!(r.error_text().unwrap(), "CROSSSLOT Keys in request don't hash to the same slot");
    assert_eq!(read(&s, &[key(1, "a"), key(1, "a"), key(1, "b")]), Route::Local);
    assert_eq!(read(&s, &[key(6000, "a"), key(6000, "b")]), moved(6000, 'b', 7002));
}

#[test]
fn cluster_down() {
    let mut s = cluster();
    s.apply(&ClusterCommand::SetHealth { health: ClusterHealth::Fail }).unwrap();
    let k = [key(0, "k")];
    let r = read(&s, &k);
    assert_eq!(r, Route::Down(DownReason::State));
    assert_eq!(r.error_text().unwrap(), "CLUSTERDOWN The cluster is down");
    // Keyless commands are not refused.
    assert_eq!(read(&s, &[]), Route::Local);
    s.set_config(ClusterConfig { allow_reads_when_down: true, ..*s.config() });
    assert_eq!(read(&s, &k), Route::Local);
    assert_eq!(read(&s, &[key(6000, "k")]), moved(6000, 'b', 7002));
    let w = go(&s, &k, true, CommandKind::Regular, NONE, &[]);
    assert_eq!(w, Route::Down(DownReason::ReadOnlyState));
    assert_eq!(w.error_text().unwrap(), "CLUSTERDOWN The cluster is down and only accepts read commands");
    // Redis's quirk, kept: EXEC is not itself a write command, so queued writes get through.
    let multi = ClientFlags { multi: true, ..NONE };
    assert_eq!(go(&s, &k, false, CommandKind::Exec { queued_write: true }, multi, &[]), Route::Local);
    // Shard pub/sub follows its own setting.
    assert_eq!(go(&s, &k, false, CommandKind::ShardPubSub, NONE, &[]), Route::Local);
    s.set_config(ClusterConfig { allow_pubsubshard_when_down: false, allow_reads_when_down: true, ..*s.config() });
    assert_eq!(go(&s, &k, false, CommandKind::ShardPubSub, NONE, &[]), Route::Down(DownReason::State));
}

/// Myself `a` migrating slot 100 to `b`.
fn migrating() -> ClusterState {
    let mut s = cluster();
    let action = SetSlotAction::Migrating(id('b').to_string());
    s.apply(&ClusterCommand::SetSlot { node: id('a'), slot: 100, action }).unwrap();
    s
}

#[test]
fn migrating_slot() {
    let s = migrating();
    let (here, gone, gone2) = (key(100, "here"), key(100, "gone"), key(100, "gone2"));
    let present: &[&[u8]] = &[&here];
    let ask = Route::Ask { slot: 100, node: id('b'), endpoint: "127.0.0.1".into(), port: 7002 };
    assert_eq!(go(&s, std::slice::from_ref(&here), false, CommandKind::Regular, NONE, present), Route::Local);
    assert_eq!(go(&s, std::slice::from_ref(&gone), false, CommandKind::Regular, NONE, present), ask);
    assert_eq!(ask.error_text().unwrap(), "ASK 100 127.0.0.1:7002");
    assert_eq!(go(&s, &[gone.clone(), gone2.clone()], true, CommandKind::Regular, NONE, present), ask);
    let r = go(&s, &[here.clone(), gone.clone()], false, CommandKind::Regular, NONE, present);
    assert_eq!(r, Route::TryAgain);
    assert_eq!(r.error_text().unwrap(), "TRYAGAIN Multiple keys request during rehashing of slot");
    // MIGRATE runs here while the slot is open, keys or not.
    assert_eq!(go(&s, std::slice::from_ref(&gone), true, CommandKind::Migrate, NONE, present), Route::Local);
    // ASKING changes nothing on the source.
    assert_eq!(go(&s, std::slice::from_ref(&gone), false, CommandKind::Regular, ASKING, present), ask);
    // Shard channels are never looked up: served by the source until the slot moves.
    assert_eq!(go(&s, &[gone], false, CommandKind::ShardPubSub, NONE, present), Route::Local);
}

#[test]
fn key_lookups_only_while_the_slot_is_open() {
    let s = migrating();
    let calls = Cell::new(0);
    let exists = |_: &[u8]| {
        calls.set(calls.get() + 1);
        true
    };
    let stable = [key(1, "a"), key(1, "b")];
    route(&Query { keys: &stable, write: false, kind: CommandKind::Regular, key_exists: &exists }, &s, NONE);
    assert_eq!(calls.get(), 0);
    let open = [key(100, "a"), key(100, "a"), key(100, "b")];
    route(&Query { keys: &open, write: false, kind: CommandKind::Regular, key_exists: &exists }, &s, NONE);
    assert_eq!(calls.get(), 3, "once per key argument, repeats included");
}

/// Myself `a` importing slot 6000 from `b`.
fn importing() -> ClusterState {
    let mut s = cluster();
    let action = SetSlotAction::Importing(id('b').to_string());
    s.apply(&ClusterCommand::SetSlot { node: id('a'), slot: 6000, action }).unwrap();
    s
}

#[test]
fn importing_slot() {
    let s = importing();
    let (k1, k2) = (key(6000, "one"), key(6000, "two"));
    // Without ASKING: MOVED to the owner.
    assert_eq!(go(&s, std::slice::from_ref(&k1), false, CommandKind::Regular, NONE, &[]), moved(6000, 'b', 7002));
    // With ASKING (or as RESTORE-ASKING): served here.
    assert_eq!(go(&s, std::slice::from_ref(&k1), true, CommandKind::Regular, ASKING, &[]), Route::Local);
    assert_eq!(go(&s, std::slice::from_ref(&k1), true, CommandKind::Asking, NONE, &[]), Route::Local);
    // One key repeated is not "multiple keys".
    assert_eq!(go(&s, &[k1.clone(), k1.clone()], false, CommandKind::Regular, ASKING, &[]), Route::Local);
    // Several keys: all must be here already.
    assert_eq!(go(&s, &[k1.clone(), k2.clone()], false, CommandKind::Regular, ASKING, &[]), Route::TryAgain);
    let both: &[&[u8]] = &[&k1, &k2];
    assert_eq!(go(&s, &[k1.clone(), k2.clone()], false, CommandKind::Regular, ASKING, both), Route::Local);
    // MIGRATE of an importing slot runs here too.
    assert_eq!(go(&s, &[k1], true, CommandKind::Migrate, NONE, &[]), Route::Local);
}

#[test]
fn replica_reads() {
    let mut s = cluster();
    s.set_myself(id('r')).unwrap();
    let mine = [key(0, "k")];
    // A replica redirects everything by default, even its primary's slots.
    assert_eq!(read(&s, &mine), moved(0, 'a', 7001));
    // READONLY: reads of its primary's slots are served, writes are not.
    assert_eq!(go(&s, &mine, false, CommandKind::Regular, READONLY, &[]), Route::Local);
    assert_eq!(go(&s, &mine, true, CommandKind::Regular, READONLY, &[]), moved(0, 'a', 7001));
    let multi_ro = ClientFlags { multi: true, ..READONLY };
    assert_eq!(go(&s, &mine, false, CommandKind::Exec { queued_write: true }, multi_ro, &[]), moved(0, 'a', 7001));
    assert_eq!(go(&s, &mine, false, CommandKind::Exec { queued_write: false }, multi_ro, &[]), Route::Local);
    // Other masters' slots: MOVED.
    assert_eq!(go(&s, &[key(6000, "k")], false, CommandKind::Regular, READONLY, &[]), moved(6000, 'b', 7002));
    // Shard pub/sub reads on the primary's replica without READONLY.
    assert_eq!(go(&s, &mine, false, CommandKind::ShardPubSub, NONE, &[]), Route::Local);
}

#[test]
fn preferred_endpoints() {
    let mut s = cluster();
    let b = id('b');
    let k = [key(6000, "k")];
    s.set_config(ClusterConfig { preferred_endpoint: EndpointType::Hostname, ..*s.config() });
    assert_eq!(read(&s, &k).error_text().unwrap(), "MOVED 6000 ?:7002");
    s.apply(&ClusterCommand::SetAddress {
        node: b,
        ip: "127.0.0.1".into(),
        port: 7002,
        cport: 17002,
        hostname: "b.example".into(),
    })
    .unwrap();
    assert_eq!(read(&s, &k).error_text().unwrap(), "MOVED 6000 b.example:7002");
    s.set_config(ClusterConfig { preferred_endpoint: EndpointType::Unknown, ..*s.config() });
    assert_eq!(read(&s, &k).error_text().unwrap(), "MOVED 6000 :7002");
}

#[test]
fn blocked_clients() {
    let mut s = cluster();
    assert_eq!(route_blocked(&key(0, "k"), &s, false, false), None);
    assert_eq!(route_blocked(&key(6000, "k"), &s, false, false), Some(moved(6000, 'b', 7002)));
    s.apply(&ClusterCommand::DelSlots { node: id('b'), ranges: vec![(6000, 6000)] }).unwrap();
    assert_eq!(route_blocked(&key(6000, "k"), &s, false, false), Some(Route::Down(DownReason::Unbound)));
    // Importing the slot: stay blocked.
    let mut imp = importing();
    assert_eq!(route_blocked(&key(6000, "k"), &imp, false, false), None);
    imp.apply(&ClusterCommand::SetHealth { health: ClusterHealth::Fail }).unwrap();
    assert_eq!(route_blocked(&key(6000, "k"), &imp, false, false), Some(Route::Down(DownReason::State)));
    // A READONLY reader on a replica of the owner stays; a writer is moved.
    let mut r = cluster();
    r.set_myself(id('r')).unwrap();
    assert_eq!(route_blocked(&key(0, "k"), &r, true, false), None);
    assert_eq!(route_blocked(&key(0, "k"), &r, true, true), Some(moved(0, 'a', 7001)));
}

#[test]
fn keys_as_any_byte_container() {
    let s = cluster();
    let exists = |_: &[u8]| false;
    let owned: Vec<bytes::Bytes> = vec![bytes::Bytes::from(key(6000, "k"))];
    let q = Query { keys: &owned, write: false, kind: CommandKind::Regular, key_exists: &exists };
    assert_eq!(route(&q, &s, NONE), moved(6000, 'b', 7002));
}
