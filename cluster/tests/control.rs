//! The Raft control plane: several `ControlPlane`s in one process on 127.0.0.1, bus ports
//! taken by binding port 0, waits bounded (state polled on `changes()`), never fixed sleeps.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::TempDir;
use ferrocache_cluster::control::{ControlOptions, ControlPlane};
use ferrocache_cluster::replies::MessageType;
use ferrocache_cluster::{
    Applied, ClusterCommand, ClusterError, ClusterState, LinkState, Node, NodeId, SetSlotAction, SLOTS,
};
use tokio::time::{timeout, Instant};

/// `cluster-node-timeout` of the test nodes: heartbeats every ~66 ms, elections in 200–400 ms,
/// proposals give up after 2 s.
const NODE_TIMEOUT: Duration = Duration::from_millis(2000);

/// The longest any wait for convergence may take.
const PATIENCE: Duration = Duration::from_secs(20);

struct TestNode {
    plane: Arc<ControlPlane>,
    dir: TempDir,
    port: u16,
}

impl TestNode {
    async fn fresh(port: u16) -> TestNode {
        let state = ClusterState::new(Node::new(NodeId::random(), "", port, 0));
        TestNode::start(TempDir::new("control"), "127.0.0.1:0".parse().unwrap(), state, port).await
    }

    async fn start(dir: TempDir, bus: SocketAddr, initial: ClusterState, port: u16) -> TestNode {
        let mut opts = ControlOptions::new(&dir.0, bus, initial);
        opts.node_timeout = NODE_TIMEOUT;
        // Small, so that snapshots, purges and snapshot installs happen in these tests.
        opts.snapshot_logs = 3;
        let plane = ControlPlane::start(opts).await.expect("start");
        TestNode { plane, dir, port }
    }

    /// Stops the node, keeping its directory, bus address and last state for a restart.
    async fn stop(self) -> (TempDir, SocketAddr, ClusterState, u16) {
        self.plane.shutdown().await;
        let state = self.state();
        (self.dir, self.plane.bus_addr(), state, self.port)
    }

    fn id(&self) -> NodeId {
        self.plane.id()
    }

    fn state(&self) -> ClusterState {
        self.plane.state().read().clone()
    }

    async fn propose(&self, cmd: ClusterCommand) -> Result<Applied, ClusterError> {
        self.plane.propose(cmd).await
    }

    /// CLUSTER MEET `other`.
    async fn meet(&self, other: &TestNode) -> Result<(), ClusterError> {
        self.plane.meet("127.0.0.1", other.port, other.plane.bus_addr().port()).await
    }
}

/// Polls `check` on every change of `nodes`' states until it holds; panics after [`PATIENCE`].
async fn eventually(nodes: &[&TestNode], what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    let mut changes: Vec<_> = nodes.iter().map(|n| n.plane.changes()).collect();
    loop {
        if check() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        // Any node's next change, or a short tick (conditions on Raft metrics change silently).
        let any = async {
            for rx in changes.iter_mut() {
                if rx.has_changed().unwrap_or(false) {
                    let _ = rx.borrow_and_update();
                    return;
                }
            }
            let _ = changes[0].changed().await;
        };
        let _ = timeout(Duration::from_millis(50), any).await;
    }
}

/// The state seen as `viewer` sees it, without each node's own observations (who it pinged
/// when, `fail?`, failure reports, offsets): equal for every member of a cluster.
fn as_seen_by(mut state: ClusterState, viewer: NodeId) -> ClusterState {
    state.set_myself(viewer).expect("viewer known");
    let nodes: Vec<(NodeId, bool)> = state.nodes().iter().map(|n| (n.id, n.is_failed())).collect();
    for (node, fail) in nodes {
        let unobserved = [
            ClusterCommand::SetLink { node, link: LinkState::Disconnected, ping_sent: 0, pong_received: 0 },
            ClusterCommand::SetFailState { node, pfail: false, fail },
            ClusterCommand::SetFailureReports { node, count: 0 },
            ClusterCommand::SetReplOffset { node, offset: 0 },
        ];
        for cmd in &unobserved {
            state.apply(cmd).expect("a known node");
        }
    }
    state
}

/// True if every node's state is the same but for myself.
fn agree(nodes: &[&TestNode]) -> bool {
    let viewer = nodes[0].id();
    let first = as_seen_by(nodes[0].state(), viewer);
    nodes[1..].iter().all(|n| n.state().node(&viewer).is_some() && as_seen_by(n.state(), viewer) == first)
}

fn slots(range: std::ops::RangeInclusive<u16>) -> Vec<(u16, u16)> {
    // As redis-cli sends them: one ADDSLOTS argument per slot.
    range.map(|s| (s, s)).collect()
}

/// `redis-cli --cluster create` with three masters: ADDSLOTS and SET-CONFIG-EPOCH on each
/// fresh node, then nodes 2 and 3 MEET node 1. Returns the three once they agree.
async fn create_cluster() -> Vec<TestNode> {
    let nodes = vec![TestNode::fresh(7000).await, TestNode::fresh(7001).await, TestNode::fresh(7002).await];
    let thirds = [0..=5460, 5461..=10922, 10923..=16383];
    for (i, (node, third)) in nodes.iter().zip(thirds).enumerate() {
        let applied = node.propose(ClusterCommand::AddSlots { node: node.id(), ranges: slots(third) }).await;
        assert_eq!(applied, Ok(Applied::Ok));
        let epoch = ClusterCommand::SetConfigEpoch { node: node.id(), epoch: i as i64 + 1 };
        assert_eq!(node.propose(epoch).await, Ok(Applied::Ok));
        assert_eq!(node.plane.cluster_id(), None, "a fresh node is in no cluster");
    }
    nodes[1].meet(&nodes[0]).await.expect("meet 2 → 1");
    nodes[2].meet(&nodes[0]).await.expect("meet 3 → 1");
    let all: Vec<&TestNode> = nodes.iter().collect();
    eventually(&all, "the three states agree", || agree(&all)).await;
    nodes
}

fn follower(nodes: &[TestNode]) -> &TestNode {
    let (leader, _) = nodes[0].plane.leader().expect("a leader");
    nodes.iter().find(|n| n.id() != leader).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_create_converges() {
    let nodes = create_cluster().await;
    let state = nodes[2].state();
    assert_eq!(state.nodes().len(), 3);
    assert_eq!(state.slots_assigned(), usize::from(SLOTS));
    for (i, node) in nodes.iter().enumerate() {
        let seen = state.node(&node.id()).unwrap();
        assert_eq!(seen.config_epoch, i as u64 + 1, "config epoch of node {i}");
        assert_eq!(seen.port, node.port);
        assert_eq!(seen.cport, node.plane.bus_addr().port());
        assert_eq!(seen.ip, "127.0.0.1");
        assert_eq!(state.slot_count(&node.id()), [5461, 5462, 5461][i]);
        // Each node is myself in its own view.
        assert_eq!(node.state().my_id(), node.id());
        assert_eq!(node.plane.cluster_id(), nodes[0].plane.cluster_id());
    }
    assert_eq!(state.current_epoch(), 3);
    // The first node seeded the cluster: its bus is the first voter, it leads.
    assert!(nodes[0].plane.leader().is_some());
    // MEET within the same cluster is a no-op.
    nodes[0].meet(&nodes[2]).await.unwrap();
    for node in nodes {
        node.plane.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_on_a_follower_setslot_and_forget() {
    let nodes = create_cluster().await;
    let all: Vec<&TestNode> = nodes.iter().collect();
    let f = follower(&nodes);

    // A follower's proposal goes through the leader and is applied here when it returns.
    let del = ClusterCommand::DelSlots { node: f.id(), ranges: vec![(5461, 5461)] };
    assert_eq!(f.propose(del).await, Ok(Applied::Ok));
    assert!(f.state().slot_owner(5461).is_none(), "read your writes on the follower");
    eventually(&all, "DELSLOTS everywhere", || agree(&all)).await;
    assert_eq!(nodes[0].state().slots_assigned(), usize::from(SLOTS) - 1);
    // Refusals come back from the leader with Redis's text.
    let busy = f.propose(ClusterCommand::AddSlots { node: f.id(), ranges: vec![(0, 0)] }).await;
    assert_eq!(busy.unwrap_err().reply_text(), "ERR Slot 0 is already busy");
    let add = ClusterCommand::AddSlots { node: nodes[1].id(), ranges: vec![(5461, 5461)] };
    assert_eq!(nodes[1].propose(add).await, Ok(Applied::Ok));
    let bump = nodes[2].propose(ClusterCommand::BumpEpoch { node: nodes[2].id() }).await.unwrap();
    assert_eq!(bump, Applied::Still(3));

    // SETSLOT: move slot 0 from node 1 to node 2, as redis-cli --cluster reshard does.
    let (src, dst) = (&nodes[0], &nodes[1]);
    let setslot = |node: &TestNode, action| ClusterCommand::SetSlot { node: node.id(), slot: 0, action };
    let importing = SetSlotAction::Importing(src.id().to_string());
    assert_eq!(dst.propose(setslot(dst, importing)).await, Ok(Applied::Ok));
    let migrating = SetSlotAction::Migrating(dst.id().to_string());
    assert_eq!(src.propose(setslot(src, migrating)).await, Ok(Applied::Ok));
    assert_eq!(dst.state().importing_from(0), Some(&src.id()));
    assert_eq!(src.state().migrating_to(0), Some(&dst.id()));
    // Node-local, as in Redis: no other node sees them, and a commit keeps them.
    assert_eq!(src.state().importing_from(0), None);
    assert_eq!(nodes[2].state().node(&src.id()).unwrap().migrating.get(&0), None);
    assert_eq!(nodes[2].state().node(&dst.id()).unwrap().importing.get(&0), None);
    for add in [false, true] {
        let ranges = vec![(16383, 16383)];
        let cmd = if add {
            ClusterCommand::AddSlots { node: nodes[2].id(), ranges }
        } else {
            ClusterCommand::DelSlots { node: nodes[2].id(), ranges }
        };
        assert_eq!(nodes[2].propose(cmd).await, Ok(Applied::Ok));
        eventually(&all, "the change applied everywhere", || {
            nodes.iter().all(|n| n.state().slot_owner(16383).is_some() == add)
        })
        .await;
        assert_eq!(dst.state().importing_from(0), Some(&src.id()));
        assert_eq!(src.state().migrating_to(0), Some(&dst.id()));
    }
    for node in [dst, src, &nodes[2]] {
        // The facts parse_cluster takes from the node's view.
        let action = SetSlotAction::Node {
            target: dst.id().to_string(),
            keys_in_slot: 0,
            allow_replica_migration: true,
            closing_import: node.state().importing_from(0).is_some(),
            migrating_to_target: node.state().migrating_to(0) == Some(&dst.id()),
        };
        assert_eq!(node.propose(setslot(node, action)).await, Ok(Applied::Ok));
    }
    // Each node's view shows the move at once (SETSLOT NODE answers before its commit);
    // committed, it bumps the importing node's epoch past every other.
    for node in [dst, src, &nodes[2]] {
        assert_eq!(node.state().slot_owner(0).unwrap().id, dst.id());
    }
    let committed = || agree(&all) && nodes[2].state().node(&dst.id()).unwrap().config_epoch == 4;
    eventually(&all, "the slot moved everywhere, committed", committed).await;
    let state = nodes[2].state();
    assert_eq!(state.slot_owner(0).unwrap().id, dst.id());
    assert_eq!(dst.state().importing_from(0), None);
    assert_eq!(src.state().migrating_to(0), None);

    // A fourth, fresh node met from inside the cluster is taken in with its claims.
    let extra = TestNode::fresh(7003).await;
    let give = ClusterCommand::DelSlots { node: dst.id(), ranges: vec![(0, 0)] };
    assert_eq!(f.propose(give).await, Ok(Applied::Ok));
    assert_eq!(
        extra.propose(ClusterCommand::AddSlots { node: extra.id(), ranges: vec![(0, 0)] }).await,
        Ok(Applied::Ok)
    );
    nodes[1].meet(&extra).await.expect("the cluster meets a fresh node");
    let four: Vec<&TestNode> = nodes.iter().chain([&extra]).collect();
    eventually(&four, "four states agree", || agree(&four)).await;
    assert_eq!(extra.state().nodes().len(), 4);
    assert_eq!(extra.state().slot_owner(0).unwrap().id, extra.id());
    assert_eq!(extra.state().slots_assigned(), usize::from(SLOTS));

    // FORGET it: gone from every member's state (and from the Raft membership).
    let forget = ClusterCommand::Forget { node: f.id(), target: extra.id().to_string(), now_ms: 0 };
    assert_eq!(f.propose(forget).await, Ok(Applied::Ok));
    eventually(&all, "node 4 forgotten everywhere", || {
        agree(&all) && nodes.iter().all(|n| n.state().node(&extra.id()).is_none())
    })
    .await;
    assert_eq!(nodes[0].state().slots_assigned(), usize::from(SLOTS) - 1);
    // The cluster goes on with its three members.
    let add = ClusterCommand::AddSlots { node: nodes[0].id(), ranges: vec![(0, 0)] };
    assert_eq!(nodes[2].propose(add).await, Ok(Applied::Ok));
    eventually(&all, "slot 0 given to node 1 everywhere", || agree(&all)).await;

    // The forgotten node MEETs the cluster again: taken in again, its claim on slot 0
    // (now node 1's) refused.
    extra.meet(&nodes[0]).await.expect("met again");
    eventually(&four, "four states agree again", || agree(&four)).await;
    assert_eq!(extra.state().slot_owner(0).unwrap().id, nodes[0].id());
    assert_eq!(extra.state().slot_count(&extra.id()), 0);
    assert_eq!(nodes[2].state().nodes().len(), 4);
    extra.plane.shutdown().await;
    for node in nodes {
        node.plane.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_kill_and_partition() {
    let mut nodes = create_cluster().await;

    // Restart node 3 from its directory, after the others moved on without it.
    let (dir, bus, last_state, port) = nodes.remove(2).stop().await;
    for slot in 0..12u16 {
        let del = ClusterCommand::DelSlots { node: nodes[0].id(), ranges: vec![(slot, slot)] };
        assert_eq!(nodes[1].propose(del).await, Ok(Applied::Ok), "two of three still commit");
    }
    let back = TestNode::start(dir, bus, last_state, port).await;
    nodes.push(back);
    let all: Vec<&TestNode> = nodes.iter().collect();
    eventually(&all, "the restarted node caught up", || agree(&all)).await;
    assert_eq!(nodes[2].state().slots_assigned(), usize::from(SLOTS) - 12);
    assert_eq!(nodes[2].state().my_id(), nodes[2].id());
    // Every node pings the others: their links show connected, with a pong time.
    eventually(&all, "every link up", || {
        all.iter().all(|n| {
            let state = n.state();
            state
                .nodes()
                .iter()
                .filter(|p| p.id != n.id())
                .all(|p| p.link == LinkState::Connected && p.pong_received > 0)
        })
    })
    .await;
    // CLUSTER INFO counts those pings and pongs, both ways.
    for n in &all {
        let stats = n.plane.message_stats();
        let (ping, pong) = (MessageType::Ping as usize, MessageType::Pong as usize);
        assert!(stats.sent[ping] > 0 && stats.received[pong] > 0, "{stats:?}");
        assert!(stats.received[ping] > 0 && stats.sent[pong] > 0, "{stats:?}");
    }

    // Kill the leader: the other two elect one and go on.
    let (leader, _) = nodes[0].plane.leader().expect("leader");
    let at = nodes.iter().position(|n| n.id() == leader).unwrap();
    let killed = nodes.remove(at);
    let killed_id = killed.id();
    let _ = killed.stop().await;
    let add = ClusterCommand::AddSlots { node: nodes[0].id(), ranges: vec![(0, 11)] };
    assert_eq!(nodes[1].propose(add).await, Ok(Applied::Ok));
    let two: Vec<&TestNode> = nodes.iter().collect();
    eventually(&two, "the survivors agree", || agree(&two)).await;
    // The killed node's links go down, ping-sent showing the ping still unanswered.
    eventually(&two, "the killed node's links down", || {
        two.iter()
            .all(|n| n.state().node(&killed_id).is_some_and(|k| k.link == LinkState::Disconnected && k.ping_sent > 0))
    })
    .await;
    assert_ne!(nodes[0].plane.leader().map(|l| l.0), Some(killed_id));
    assert_eq!(nodes[0].state().slots_assigned(), usize::from(SLOTS));

    // Both are in touch with a majority (each other).
    for node in &nodes {
        let contact = node.plane.majority_contact().expect("in contact");
        assert!(contact < NODE_TIMEOUT, "{contact:?}");
    }
    // Cut one of the two off: it cannot commit, and says so.
    nodes[1].plane.set_bus_cut(true);
    let before = as_seen_by(nodes[1].state(), nodes[1].id());
    let del = ClusterCommand::DelSlots { node: nodes[1].id(), ranges: vec![(16383, 16383)] };
    let started = Instant::now();
    let err = nodes[1].propose(del.clone()).await.unwrap_err();
    assert!(matches!(err, ClusterError::ControlPlane(_)), "{err:?}");
    assert!(err.reply_text().starts_with("ERR the cluster did not commit the change within"), "{err}");
    assert!(started.elapsed() < NODE_TIMEOUT * 3);
    // (but its own observation that its links are down)
    assert_eq!(as_seen_by(nodes[1].state(), nodes[1].id()), before, "nothing changed");
    // So can't the other one, now alone among three voters.
    let err = nodes[0].propose(del.clone()).await.unwrap_err();
    assert!(matches!(err, ClusterError::ControlPlane(_)), "{err:?}");
    // Both have been out of touch with a majority for as long as those two proposals took.
    for node in &nodes {
        let contact = node.plane.majority_contact().expect("in touch once");
        assert!(contact >= NODE_TIMEOUT, "{contact:?}");
    }
    // Mended, they commit again. (A timed-out proposal is in doubt: the leader logged it and
    // may commit it once it hears from a majority again.)
    nodes[1].plane.set_bus_cut(false);
    let add = ClusterCommand::AddSlots { node: nodes[1].id(), ranges: vec![(16383, 16383)] };
    let del = ClusterCommand::DelSlots { node: nodes[1].id(), ranges: vec![(16383, 16383)] };
    let applied = nodes[1].propose(del).await;
    assert!(matches!(applied, Ok(Applied::Ok) | Err(ClusterError::SlotUnassigned(16383))), "{applied:?}");
    assert_eq!(nodes[0].propose(add).await, Ok(Applied::Ok));
    let two: Vec<&TestNode> = nodes.iter().collect();
    eventually(&two, "the two agree again", || agree(&two)).await;
    assert_eq!(nodes[1].state().slots_assigned(), usize::from(SLOTS));
    for node in nodes {
        node.plane.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meet_refusals_and_pending_state() {
    let a = TestNode::fresh(7000).await;
    // A fresh node's changes apply at once, locally.
    assert_eq!(a.propose(ClusterCommand::AddSlots { node: a.id(), ranges: vec![(0, 99)] }).await, Ok(Applied::Ok));
    let busy = a.propose(ClusterCommand::AddSlots { node: a.id(), ranges: vec![(5, 5)] }).await;
    assert_eq!(busy, Err(ClusterError::SlotBusy(5)));
    assert_eq!(a.state().slot_count(&a.id()), 100);

    // MEET to a dead address: an error, nothing changes.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let before = a.state();
    let err = a.plane.meet("127.0.0.1", 7999, dead).await.unwrap_err();
    assert!(matches!(err, ClusterError::ControlPlane(_)), "{err:?}");
    assert!(err.reply_text().starts_with("ERR MEET 127.0.0.1:7999: cannot reach its cluster bus"), "{err}");
    assert_eq!(a.state(), before);
    assert_eq!(a.plane.cluster_id(), None);
    // A bad address, through propose, as Redis refuses it.
    let meet = ClusterCommand::Meet { id: NodeId::random(), ip: "nope".into(), port: 7000, cport: 17000 };
    assert_eq!(a.propose(meet).await.unwrap_err().reply_text(), "ERR Invalid node address specified: nope:7000");

    // Two clusters: {a, b} and {c, d}. Meeting across them is refused; nothing changes.
    let b = TestNode::fresh(7001).await;
    let c = TestNode::fresh(7002).await;
    let d = TestNode::fresh(7003).await;
    // Through propose(Meet), as the server would send it.
    let meet_a = ClusterCommand::Meet {
        id: NodeId::random(),
        ip: "127.0.0.1".into(),
        port: i64::from(a.port),
        cport: i64::from(a.plane.bus_addr().port()),
    };
    assert_eq!(b.propose(meet_a).await, Ok(Applied::Ok));
    d.meet(&c).await.unwrap();
    let ab = [&a, &b];
    let cd = [&c, &d];
    eventually(&ab, "a and b agree", || agree(&ab)).await;
    eventually(&cd, "c and d agree", || agree(&cd)).await;
    assert_eq!(b.state().slot_count(&a.id()), 100, "a's pending claims joined with it");
    assert_ne!(a.plane.cluster_id(), c.plane.cluster_id());
    let err = a.meet(&c).await.unwrap_err();
    assert!(matches!(err, ClusterError::DifferentClusters(_)), "{err:?}");
    assert!(err.reply_text().contains("is a member of another cluster"), "{err}");
    assert!(matches!(c.meet(&b).await, Err(ClusterError::DifferentClusters(_))));
    assert_eq!(a.state().nodes().len(), 2);
    assert_eq!(c.state().nodes().len(), 2);

    // Local observations stay local, and survive replicated changes.
    let link = ClusterCommand::SetLink { node: b.id(), link: LinkState::Connected, ping_sent: 0, pong_received: 7 };
    assert_eq!(a.propose(link).await, Ok(Applied::Ok));
    assert_eq!(b.propose(ClusterCommand::AddSlots { node: b.id(), ranges: vec![(200, 200)] }).await, Ok(Applied::Ok));
    eventually(&ab, "a applied b's slot", || a.state().slot_owner(200).is_some()).await;
    assert_eq!(a.state().node(&b.id()).unwrap().link, LinkState::Connected);
    assert_eq!(a.state().node(&b.id()).unwrap().pong_received, 7);
    assert_eq!(b.state().node(&b.id()).unwrap().pong_received, 0);
    // CLUSTER RESET of a member: it leaves the cluster (b forgets it, and b's FORGET of it
    // still succeeds once, as on Redis), and is alone in no cluster.
    let reset = ClusterCommand::Reset { node: a.id(), hard: false, new_id: a.id(), db_keys: 0 };
    assert_eq!(a.propose(reset).await, Ok(Applied::Ok));
    assert_eq!(a.state().nodes().len(), 1);
    assert_eq!(a.plane.cluster_id(), None);
    eventually(&ab, "b forgot a", || b.state().node(&a.id()).is_none()).await;
    let forget = ClusterCommand::Forget { node: b.id(), target: a.id().to_string(), now_ms: 1 };
    assert_eq!(b.propose(forget.clone()).await, Ok(Applied::Ok));
    assert_eq!(b.propose(forget).await, Err(ClusterError::UnknownNode(a.id().to_string())));
    // MET again, it is taken in again.
    a.meet(&b).await.unwrap();
    eventually(&ab, "a and b agree again", || agree(&ab) && b.state().node(&a.id()).is_some()).await;
    for node in [a, b, c, d] {
        node.plane.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_meets_make_one_cluster() {
    let mut nodes = Vec::new();
    for port in 7000..7004 {
        nodes.push(TestNode::fresh(port).await);
    }
    for (i, node) in nodes.iter().enumerate() {
        let slot = i as u16;
        let add = ClusterCommand::AddSlots { node: node.id(), ranges: vec![(slot, slot)] };
        assert_eq!(node.propose(add).await, Ok(Applied::Ok));
    }
    // Everyone meets node 1 at once: node 1 seeds one cluster and takes them in one by one.
    let (r1, r2, r3) = tokio::join!(nodes[1].meet(&nodes[0]), nodes[2].meet(&nodes[0]), nodes[3].meet(&nodes[0]));
    r1.unwrap();
    r2.unwrap();
    r3.unwrap();
    let all: Vec<&TestNode> = nodes.iter().collect();
    eventually(&all, "four states agree", || agree(&all)).await;
    let state = nodes[3].state();
    assert_eq!(state.nodes().len(), 4);
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(state.slot_owner(i as u16).unwrap().id, node.id());
    }
    for node in nodes {
        node.plane.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_closes_on_redis_gossip() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = TestNode::fresh(7000).await;
    let mut stream = tokio::net::TcpStream::connect(node.plane.bus_addr()).await.unwrap();
    // The start of a Redis cluster bus message: signature, total length, version, …
    stream.write_all(b"RCmb\x00\x00\x08\x00\x00\x01\x00\x00").await.unwrap();
    let mut buf = [0u8; 16];
    let read = timeout(PATIENCE, stream.read(&mut buf)).await.expect("closed, not left hanging");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(node.plane.cluster_id(), None);
    node.plane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_nodes_restart_and_reset() {
    // A fresh node stores nothing of Raft: restarted, it is still in no cluster.
    let a = TestNode::fresh(7000).await;
    assert_eq!(a.propose(ClusterCommand::AddSlots { node: a.id(), ranges: vec![(0, 9)] }).await, Ok(Applied::Ok));
    let (dir, bus, last, port) = a.stop().await;
    assert!(!dir.0.join("vote.json").exists() && !dir.0.join("snapshot.json").exists());
    let a = TestNode::start(dir, bus, last, port).await;
    assert_eq!(a.state().slot_count(&a.id()), 10, "nodes.conf's state is the pending state");
    assert_eq!(a.plane.cluster_id(), None);

    // CLUSTER RESET HARD of a node in no cluster: a new id, its claims gone, and it joins
    // under that id.
    let old = a.id();
    let new = NodeId::random();
    let reset = ClusterCommand::Reset { node: old, hard: true, new_id: new, db_keys: 0 };
    assert_eq!(a.propose(reset).await, Ok(Applied::Ok));
    assert_eq!(a.id(), new);
    assert_eq!(a.state().my_id(), new);
    assert_eq!(a.state().slots_assigned(), 0);
    assert_eq!(a.propose(ClusterCommand::AddSlots { node: new, ranges: vec![(5, 5)] }).await, Ok(Applied::Ok));
    let b = TestNode::fresh(7001).await;
    b.meet(&a).await.unwrap();
    let ab = [&a, &b];
    eventually(&ab, "a and b agree", || agree(&ab)).await;
    assert_eq!(b.state().slot_owner(5).unwrap().id, new);
    assert!(b.state().node(&old).is_none());
    assert_eq!(a.plane.leader().map(|l| l.0), Some(new), "a seeded the cluster under its new id");
    for node in [a, b] {
        node.plane.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_restarted_on_another_port_tells_the_cluster() {
    let mut nodes = create_cluster().await;
    let (dir, old_bus, last_state, port) = nodes.remove(1).stop().await;
    // A new bus port: the membership and every node record learn it from the node itself.
    let back = TestNode::start(dir, "127.0.0.1:0".parse().unwrap(), last_state, port).await;
    let new_bus = back.plane.bus_addr();
    assert_ne!(new_bus, old_bus);
    nodes.insert(1, back);
    let all: Vec<&TestNode> = nodes.iter().collect();
    let moved = nodes[1].id();
    eventually(&all, "everyone knows the new bus port", || {
        agree(&all) && nodes.iter().all(|n| n.state().node(&moved).unwrap().cport == new_bus.port())
    })
    .await;
    // The leader replicates to it there.
    let del = ClusterCommand::DelSlots { node: nodes[0].id(), ranges: vec![(0, 0)] };
    assert_eq!(nodes[2].propose(del).await, Ok(Applied::Ok));
    eventually(&all, "the moved node applied it", || nodes[1].state().slot_owner(0).is_none()).await;
    for node in nodes {
        node.plane.shutdown().await;
    }
}
