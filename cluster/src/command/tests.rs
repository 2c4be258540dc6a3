//! `parse_cluster`. The expected refusals are what redis-server 7.0.15 answered to
//! `redis-cli -p <port> cluster <args>` on a node of a 3-master cluster; `tests/vs_redis_cluster.rs`
//! replays them against a live node.

use super::*;
use crate::state::tests::{cluster, id};
use crate::state::Applied;

fn no_keys(_: u16) -> u64 {
    0
}

const FACTS: LocalFacts<'static> = LocalFacts { db_keys: 0, keys_in_slot: &no_keys, allow_replica_migration: true };

fn words(line: &str) -> Vec<&[u8]> {
    line.split(' ').filter(|w| !w.is_empty()).map(str::as_bytes).collect()
}

/// The reply Redis would send: the parse refusal, or the apply refusal / answer of a change.
fn outcome(state: &mut ClusterState, line: &str) -> String {
    match parse_cluster(&words(line), state, &FACTS) {
        Err(e) => e.reply_text(),
        Ok(ClusterRequest::Change(cmd)) => match state.apply(&cmd) {
            Ok(Applied::Ok) => "OK".to_string(),
            Ok(other) => format!("{other:?}"),
            Err(e) => e.reply_text(),
        },
        Ok(other) => format!("{other:?}"),
    }
}

#[test]
fn refusals_as_redis() {
    let cases = [
        ("", "ERR wrong number of arguments for 'cluster' command"),
        ("NODES x", "ERR wrong number of arguments for 'cluster|nodes' command"),
        ("FOO", "ERR unknown subcommand 'FOO'. Try CLUSTER HELP."),
        ("foo bar", "ERR unknown subcommand 'foo'. Try CLUSTER HELP."),
        ("ADDSLOTS", "ERR wrong number of arguments for 'cluster|addslots' command"),
        ("ADDSLOTSRANGE 1 2 3", "ERR wrong number of arguments for 'cluster|addslotsrange' command"),
        ("ADDSLOTSRANGE 1", "ERR wrong number of arguments for 'cluster|addslotsrange' command"),
        ("DELSLOTSRANGE 1 2 3", "ERR wrong number of arguments for 'cluster|delslotsrange' command"),
        ("SETSLOT 1", "ERR wrong number of arguments for 'cluster|setslot' command"),
        ("SETSLOT 1 STABLE x", "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"),
        ("SETSLOT 1 NODE", "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"),
        ("SETSLOT abc STABLE", "ERR Invalid or out of range slot"),
        ("SETSLOT 1 FOO", "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"),
        ("setslot 0 migrating x y", "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"),
        ("RESET x", "ERR syntax error"),
        ("RESET soft x", "ERR unknown subcommand or wrong number of arguments for 'RESET'. Try CLUSTER HELP."),
        ("MEET a", "ERR wrong number of arguments for 'cluster|meet' command"),
        ("MEET 127.0.0.1 abc", "ERR Invalid TCP base port specified: abc"),
        ("MEET 127.0.0.1 7000 abc", "ERR Invalid TCP bus port specified: abc"),
        ("MEET 127.0.0.1 7000 99999999999999999999", "ERR Invalid TCP bus port specified: 99999999999999999999"),
        (
            "MEET 127.0.0.1 7000 17000 1",
            "ERR unknown subcommand or wrong number of arguments for 'MEET'. Try CLUSTER HELP.",
        ),
        ("MEET nothost 7000", "ERR Invalid node address specified: nothost:7000"),
        ("MEET 127.0.0.1 -5", "ERR Invalid node address specified: 127.0.0.1:-5"),
        ("COUNTKEYSINSLOT abc", "ERR value is not an integer or out of range"),
        ("COUNTKEYSINSLOT -1", "ERR Invalid slot"),
        ("COUNTKEYSINSLOT 99999999999999999999", "ERR value is not an integer or out of range"),
        ("GETKEYSINSLOT 1 abc", "ERR value is not an integer or out of range"),
        ("GETKEYSINSLOT abc 1", "ERR value is not an integer or out of range"),
        ("GETKEYSINSLOT 99999 abc", "ERR value is not an integer or out of range"),
        ("GETKEYSINSLOT 1 -1", "ERR Invalid slot or number of keys"),
        ("FAILOVER x", "ERR syntax error"),
        ("FAILOVER force x", "ERR unknown subcommand or wrong number of arguments for 'FAILOVER'. Try CLUSTER HELP."),
        ("FAILOVER", "ERR You should send CLUSTER FAILOVER to a replica"),
        ("SET-CONFIG-EPOCH abc", "ERR value is not an integer or out of range"),
        ("HELP x", "ERR wrong number of arguments for 'cluster|help' command"),
        ("ADDSLOTS abc 0", "ERR Invalid or out of range slot"),
        ("ADDSLOTS 0 abc", "ERR Invalid or out of range slot"),
        ("ADDSLOTS 0", "ERR Slot 0 is already busy"),
        ("ADDSLOTSRANGE 0 1 abc 2", "ERR Slot 0 is already busy"),
        ("ADDSLOTSRANGE 5 3 abc 2", "ERR start slot number 5 is greater than end slot number 3"),
        ("DELSLOTS 99999", "ERR Invalid or out of range slot"),
        ("KEYSLOT", "ERR wrong number of arguments for 'cluster|keyslot' command"),
        ("KEYSLOT a b", "ERR wrong number of arguments for 'cluster|keyslot' command"),
        ("MYID x", "ERR wrong number of arguments for 'cluster|myid' command"),
        ("SLOTS x", "ERR wrong number of arguments for 'cluster|slots' command"),
        ("INFO x", "ERR wrong number of arguments for 'cluster|info' command"),
        ("LINKS x", "ERR wrong number of arguments for 'cluster|links' command"),
        ("FLUSHSLOTS x", "ERR wrong number of arguments for 'cluster|flushslots' command"),
        ("BUMPEPOCH x", "ERR wrong number of arguments for 'cluster|bumpepoch' command"),
        ("FORGET", "ERR wrong number of arguments for 'cluster|forget' command"),
        ("REPLICATE", "ERR wrong number of arguments for 'cluster|replicate' command"),
        ("SLAVES", "ERR wrong number of arguments for 'cluster|slaves' command"),
        ("COUNT-FAILURE-REPORTS", "ERR wrong number of arguments for 'cluster|count-failure-reports' command"),
        ("SAVECONFIG x", "ERR wrong number of arguments for 'cluster|saveconfig' command"),
        ("SHARDS x", "ERR wrong number of arguments for 'cluster|shards' command"),
        ("REPLICAS a b", "ERR wrong number of arguments for 'cluster|replicas' command"),
        ("FORGET nobody", "ERR Unknown node nobody"),
        (
            "SET-CONFIG-EPOCH 9",
            "ERR The user can assign a config epoch only when the node does not know any other node.",
        ),
    ];
    for (line, expected) in cases {
        let mut state = cluster();
        let before = state.clone();
        assert_eq!(outcome(&mut state, line), expected, "CLUSTER {line}");
        assert_eq!(state, before, "CLUSTER {line} changed the state");
    }
}

#[test]
fn requests() {
    let mut s = cluster();
    let p = |s: &ClusterState, line: &str| parse_cluster(&words(line), s, &FACTS).unwrap();
    assert_eq!(p(&s, "info"), ClusterRequest::Info);
    assert_eq!(p(&s, "LINKS"), ClusterRequest::Links);
    assert_eq!(p(&s, "saveconfig"), ClusterRequest::SaveConfig);
    assert_eq!(p(&s, "countkeysinslot 16383"), ClusterRequest::CountKeysInSlot(16383));
    assert_eq!(p(&s, "getkeysinslot 5 10"), ClusterRequest::GetKeysInSlot { slot: 5, count: 10 });
    assert_eq!(p(&s, "keyslot foo"), ClusterRequest::Reply(Reply::Integer(12182)));
    assert_eq!(p(&s, "myid"), ClusterRequest::Reply(replies::myid_reply(&s)));
    assert_eq!(p(&s, "nodes"), ClusterRequest::Reply(replies::nodes_reply(&s)));
    assert_eq!(p(&s, "slots"), ClusterRequest::Reply(replies::slots_reply(&s)));
    assert_eq!(p(&s, "shards"), ClusterRequest::Reply(replies::shards_reply(&s)));
    assert_eq!(p(&s, "help"), ClusterRequest::Reply(replies::help_reply()));
    let a = id('a').to_string();
    assert_eq!(p(&s, &format!("slaves {a}")), p(&s, &format!("replicas {a}")));
    assert_eq!(p(&s, &format!("count-failure-reports {a}")), ClusterRequest::Reply(Reply::Integer(0)));
    assert_eq!(
        p(&s, "addslots 1 2"),
        ClusterRequest::Change(ClusterCommand::AddSlots { node: id('a'), ranges: vec![(1, 1), (2, 2)] })
    );
    assert_eq!(
        p(&s, "delslotsrange 1 2 4 5"),
        ClusterRequest::Change(ClusterCommand::DelSlots { node: id('a'), ranges: vec![(1, 2), (4, 5)] })
    );
    // MEET draws a random handshake id; without a bus port, port + 10000.
    match p(&s, "meet 127.0.0.1 7010") {
        ClusterRequest::Change(ClusterCommand::Meet { ip, port, cport, .. }) => {
            assert_eq!((ip.as_str(), port, cport), ("127.0.0.1", 7010, 17010))
        }
        other => panic!("{other:?}"),
    }
    match p(&s, "reset hard") {
        ClusterRequest::Change(ClusterCommand::Reset { hard: true, new_id, .. }) => assert_ne!(new_id, id('a')),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p(&s, "RESET"),
        ClusterRequest::Change(ClusterCommand::Reset { node: id('a'), hard: false, new_id: id('a'), db_keys: 0 })
    );
    // Facts travel into the commands.
    let five = |_: u16| 5;
    let facts = LocalFacts { db_keys: 3, keys_in_slot: &five, allow_replica_migration: false };
    let b = id('b').to_string();
    assert_eq!(
        parse_cluster(&words(&format!("setslot 1 node {b}")), &s, &facts).unwrap(),
        ClusterRequest::Change(ClusterCommand::SetSlot {
            node: id('a'),
            slot: 1,
            action: SetSlotAction::Node {
                target: b.clone(),
                keys_in_slot: 5,
                allow_replica_migration: false,
                closing_import: false,
                migrating_to_target: false
            },
        })
    );
    // Myself's open slots (node-local) travel too: closing an import, migrating to the target.
    let mut open = s.clone();
    let a = id('a').to_string();
    open.apply(&ClusterCommand::SetSlot { node: id('a'), slot: 1, action: SetSlotAction::Migrating(b.clone()) })
        .unwrap();
    open.apply(&ClusterCommand::SetSlot { node: id('a'), slot: 6000, action: SetSlotAction::Importing(b.clone()) })
        .unwrap();
    let facts_of = |cmd: &str| match parse_cluster(&words(cmd), &open, &facts).unwrap() {
        ClusterRequest::Change(ClusterCommand::SetSlot {
            action: SetSlotAction::Node { closing_import, migrating_to_target, .. },
            ..
        }) => (closing_import, migrating_to_target),
        other => panic!("{other:?}"),
    };
    assert_eq!(facts_of(&format!("setslot 1 node {b}")), (false, true));
    assert_eq!(facts_of(&format!("setslot 1 node {a}")), (false, false));
    assert_eq!(facts_of(&format!("setslot 6000 node {a}")), (true, false));
    assert_eq!(facts_of(&format!("setslot 6000 node {b}")), (false, false));
    assert_eq!(
        parse_cluster(&words("flushslots"), &s, &facts).unwrap(),
        ClusterRequest::Change(ClusterCommand::FlushSlots { node: id('a'), db_keys: 3 })
    );
    // On a replica: SETSLOT is refused before its slot is even read; FAILOVER's checks run.
    s.set_myself(id('r')).unwrap();
    assert_eq!(outcome(&mut s, "setslot 99999 stable"), "ERR Please use SETSLOT only with masters.");
    assert_eq!(outcome(&mut s, "failover"), "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE");
    assert_eq!(p(&s, "failover FORCE"), ClusterRequest::Failover { force: true, takeover: false });
    assert_eq!(p(&s, "failover takeover"), ClusterRequest::Failover { force: true, takeover: true });
}

#[test]
fn subcommand_table() {
    assert_eq!(check_subcommand(&[&b"NoDeS"[..]]), Ok("nodes"));
    assert_eq!(check_subcommand(&[&b"addslots"[..], b"1", b"2", b"3"]), Ok("addslots"));
    assert!(SUBCOMMANDS.windows(2).all(|w| w[0].0 < w[1].0));
    let empty: [&[u8]; 0] = [];
    assert_eq!(check_subcommand(&empty), Err(ClusterError::WrongArity("cluster".into())));
}
