//! nodes.conf interoperability with redis-server 7.0: a file this crate writes is loaded by
//! Redis (same id, epochs, slots), and a file Redis writes reads back and renders identically.

mod common;

use common::RedisNode;
use ferrocache_cluster::replies::nodes_text;
use ferrocache_cluster::*;

#[test]
fn redis_loads_our_nodes_conf_and_we_read_its() {
    // Our file: a master with slots, its config epoch, an epoch vote, a second known node and
    // an open slot.
    let dir = common::TempDir::new("conf");
    let me = NodeId::random();
    let other = NodeId::random();
    let port = common::free_port();
    let mut state = ClusterState::new(Node::new(me, "127.0.0.1", port, port + 10000));
    state.apply(&ClusterCommand::SetConfigEpoch { node: me, epoch: 7 }).unwrap();
    state.apply(&ClusterCommand::AddSlots { node: me, ranges: vec![(0, 99), (200, 200)] }).unwrap();
    let mut peer = Node::new(other, "127.0.0.1", 1, 2);
    peer.flags = NodeFlags::MASTER;
    peer.config_epoch = 3;
    state.apply(&ClusterCommand::AddNode { node: Box::new(peer) }).unwrap();
    state.apply(&ClusterCommand::AddSlots { node: other, ranges: vec![(300, 400)] }).unwrap();
    state
        .apply(&ClusterCommand::SetSlot { node: me, slot: 5, action: SetSlotAction::Migrating(other.to_string()) })
        .unwrap();
    state.apply(&ClusterCommand::SetLastVoteEpoch { epoch: 2 }).unwrap();
    std::fs::write(dir.0.join("nodes.conf"), render_nodes_conf(&state)).unwrap();

    let node = RedisNode::start_at(port, dir, &["--cluster-node-timeout", "600000"]);
    assert_eq!(node.text(&["CLUSTER", "MYID"]), me.to_string());
    let redis_nodes = node.text(&["CLUSTER", "NODES"]);
    let seen = ClusterState::from_nodes_text(&redis_nodes).unwrap();
    assert_eq!(seen.my_id(), me);
    assert_eq!(seen.myself().config_epoch, 7);
    assert_eq!(seen.slot_ranges_of(&me), vec![(0, 99), (200, 200)]);
    assert_eq!(seen.slot_ranges_of(&other), vec![(300, 400)]);
    assert_eq!(seen.migrating_to(5), Some(&other));
    let info = node.text(&["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_current_epoch:7\r\n"), "{info}");

    // Redis's own file (after CLUSTER SAVECONFIG) reads back and renders byte for byte.
    assert_eq!(node.text(&["CLUSTER", "SAVECONFIG"]), "OK");
    let written = std::fs::read_to_string(node.dir.0.join("nodes.conf")).unwrap();
    assert!(written.ends_with("vars currentEpoch 7 lastVoteEpoch 2\n"), "{written}");
    let parsed = ClusterState::from_nodes_text(&written).unwrap();
    assert_eq!(render_nodes_conf(&parsed), written);
    let loaded = load_nodes_conf(&written, 1).unwrap().unwrap();
    assert_eq!(loaded.my_id(), me);
    assert_eq!(loaded.last_vote_epoch(), 2);
    // And CLUSTER NODES as Redis prints it renders back from the parsed state.
    assert_eq!(nodes_text(&ClusterState::from_nodes_text(&redis_nodes).unwrap()), redis_nodes);
}
