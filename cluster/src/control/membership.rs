//! CLUSTER MEET in a Raft world: which node takes in which, seeding a cluster, and adding a
//! member (see the [module docs](super) for the rules).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Weak;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use tokio::time::{timeout_at, Instant};

use super::network::{Hello, JoinRequest, Peer, Reply, Request};
use super::types::{Payload, RaftId};
use super::ControlPlane;
use crate::{ClusterCommand, ClusterError, NodeId};

/// Why a join did not happen here.
enum JoinError {
    /// This node is not the leader: the join must go to the one that is.
    NotLeader,
    /// A step ran out of time (no majority answered): worth another attempt, as every step
    /// is idempotent.
    TimedOut(ClusterError),
    Failed(ClusterError),
}

fn failed(text: String) -> JoinError {
    JoinError::Failed(ClusterError::ControlPlane(text))
}

fn timed_out(text: String) -> JoinError {
    JoinError::TimedOut(ClusterError::ControlPlane(text))
}

impl ControlPlane {
    /// The answer to [`Request::Hello`] from node `from`, connected from `peer`.
    pub(crate) fn hello(&self, from: NodeId, peer: SocketAddr) -> Hello {
        Hello {
            id: self.me(),
            claims: self.view.claims(),
            cluster: self.view.cluster_id(),
            your_ip: peer.ip().to_string(),
            knows_you: self.view.state().read().node(&from).is_some(),
        }
    }

    /// CLUSTER MEET `ip` `port` (client port), reached on its cluster bus at `ip:bus_port`.
    ///
    /// Returns once the two nodes are in one cluster: this node has joined the other's (or the
    /// cluster the other seeded) and applied its state, or this node's cluster has taken the
    /// other in. Errors: the other node is unreachable ([`ClusterError::ControlPlane`], and
    /// nothing changed), both are members of different clusters
    /// ([`ClusterError::DifferentClusters`]), no majority answered in time.
    pub async fn meet(&self, ip: &str, port: u16, bus_port: u16) -> Result<(), ClusterError> {
        let invalid = || ClusterError::InvalidNodeAddress(ip.to_string(), port.to_string());
        let ip_addr: IpAddr = ip.parse().map_err(|_| invalid())?;
        if port == 0 || bus_port == 0 {
            return Err(invalid());
        }
        let addr = SocketAddr::new(ip_addr, bus_port).to_string();
        let mut peer = self.peer(addr.clone());
        let hello = match peer.call(&Request::Hello { from: self.me() }, self.timing.rpc).await {
            Ok(Reply::Hello(hello)) => hello,
            Ok(_) => {
                return Err(ClusterError::ControlPlane(format!(
                    "MEET {ip}:{port}: {addr} did not answer as a Ferrocache cluster bus"
                )))
            }
            Err(e) => {
                return Err(ClusterError::ControlPlane(format!("MEET {ip}:{port}: cannot reach its cluster bus: {e}")))
            }
        };
        if hello.id == self.me() {
            return Ok(());
        }
        let knows_them = self.view.state().read().node(&hello.id).is_some();
        match (self.view.cluster_id(), hello.cluster.clone()) {
            // The same cluster, and both in it: nothing to do.
            (Some(mine), Some(theirs)) if mine == theirs && knows_them && hello.knows_you => Ok(()),
            // The same cluster, but one of the two was forgotten by it: the other takes it
            // in again (it is a Raft member of this cluster's past, so its log is this log's).
            (Some(mine), Some(theirs)) if mine == theirs && !knows_them => {
                let _guard = self.join_lock.lock().await;
                self.join_locked(self.join_request(hello, ip_addr, &addr)).await
            }
            (Some(mine), Some(theirs)) if mine == theirs => self.ask_to_join(&mut peer, ip, port, &hello).await,
            (Some(mine), Some(theirs)) => Err(ClusterError::DifferentClusters(format!(
                "MEET {ip}:{port}: node {} is a member of another cluster ({theirs}; this node's is {mine}): \
                 a cluster only takes in nodes that are in no cluster",
                hello.id
            ))),
            (Some(_), None) => {
                // The other node is in no cluster: ours takes it in, its claims with it.
                let _guard = self.join_lock.lock().await;
                self.join_locked(self.join_request(hello, ip_addr, &addr)).await
            }
            (None, _) if self.view.is_member() => Err(ClusterError::ControlPlane(
                "MEET: this node's cluster state is still being restored; try again".to_string(),
            )),
            // This node is in no cluster: it joins the other's, or the one the other seeds.
            (None, _) => self.ask_to_join(&mut peer, ip, port, &hello).await,
        }
    }

    /// What joining the node that answered `hello` (reached at `ip_addr`, its bus at `addr`)
    /// asks of this node's cluster.
    fn join_request(&self, hello: Hello, ip_addr: IpAddr, addr: &str) -> JoinRequest {
        let mut claims = hello.claims;
        if claims.node.ip.is_empty() {
            claims.node.ip = ip_addr.to_string();
        }
        JoinRequest { claims, bus_addr: addr.to_string() }
    }

    /// Asks the node at the other end of `peer` to take this node into its cluster (seeding
    /// one if it is in none), then waits until this node has applied the cluster's state.
    async fn ask_to_join(&self, peer: &mut Peer, ip: &str, port: u16, hello: &Hello) -> Result<(), ClusterError> {
        let mut claims = self.view.claims();
        if claims.node.ip.is_empty() {
            claims.node.ip = hello.your_ip.clone();
        }
        let my_ip: IpAddr = claims.node.ip.parse().map_err(|_| {
            ClusterError::ControlPlane(format!("MEET: this node's address {:?} is not an IP", claims.node.ip))
        })?;
        let bus_addr = SocketAddr::new(my_ip, self.bus_addr.port()).to_string();
        // The other node retries a slow join for up to `join_total` (see `join_locked`).
        let budget = self.timing.join_total + self.timing.join;
        let deadline = Instant::now() + budget;
        // The cluster's leader will be sending.
        self.accepting.store(true, std::sync::atomic::Ordering::Relaxed);
        let request = Request::Join(JoinRequest { claims, bus_addr });
        match peer.call(&request, budget).await {
            Ok(Reply::Join(result)) => result?,
            Ok(_) => return Err(ClusterError::ControlPlane(format!("MEET {ip}:{port}: unexpected answer"))),
            Err(e) => return Err(ClusterError::ControlPlane(format!("MEET {ip}:{port}: {e}"))),
        }
        self.wait_joined(deadline).await;
        Ok(())
    }

    /// Until this node has applied a replicated state that holds it, or `deadline`.
    async fn wait_joined(&self, deadline: Instant) {
        let mut changes = self.view.subscribe();
        while self.view.cluster_id().is_none() {
            if timeout_at(deadline, changes.changed()).await.is_err() {
                return;
            }
        }
    }

    /// The answer to [`Request::Join`]: take the node in, seeding a cluster first if this node
    /// is in none. `local_ip`: the address the joining node reached this one at.
    pub(crate) async fn handle_join(&self, req: JoinRequest, local_ip: Option<IpAddr>) -> Result<(), ClusterError> {
        let _guard = self.join_lock.lock().await;
        if !self.view.is_member() {
            self.seed(local_ip).await?;
        }
        self.join_locked(req).await
    }

    /// Adds the node as the leader, or has the leader do it. Holding `join_lock`.
    ///
    /// Steps that run out of time (a slow or starved majority) are tried again until
    /// `join_total` has passed. A join forwarded to the leader is retried there the same way,
    /// so this node waits for its answer as long.
    async fn join_locked(&self, req: JoinRequest) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.timing.join_total;
        let mut last_timeout = None;
        loop {
            let attempt = async {
                match self.add_member(&req).await {
                    Ok(()) => Some(Ok(())),
                    Err(JoinError::Failed(e)) => Some(Err(e)),
                    Err(JoinError::TimedOut(e)) => {
                        last_timeout = Some(e);
                        None
                    }
                    Err(JoinError::NotLeader) => {
                        let (_, addr) = self.leader()?;
                        let mut peer = self.peer(addr);
                        match peer.call(&Request::Join(req.clone()), self.timing.join_total).await {
                            Ok(Reply::Join(result)) => Some(result),
                            _ => None,
                        }
                    }
                }
            };
            match timeout_at(deadline, attempt).await {
                Ok(Some(result)) => return result,
                Ok(None) => {}
                Err(_) => break,
            }
            if timeout_at(deadline, tokio::time::sleep(self.timing.heartbeat)).await.is_err() {
                break;
            }
        }
        Err(last_timeout.unwrap_or_else(|| {
            ClusterError::ControlPlane(format!(
                "MEET: could not add node {} to the cluster within {:?} (no leader, or no majority)",
                req.claims.node.id, self.timing.join_total
            ))
        }))
    }

    /// Makes this node, in no cluster, the single voter of a new one whose state is its own.
    async fn seed(&self, local_ip: Option<IpAddr>) -> Result<(), ClusterError> {
        let state = self.view.seed_state(local_ip);
        let ip = match state.myself().ip.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => local_ip.unwrap_or(self.bus_addr.ip()),
        };
        let me = BasicNode::new(SocketAddr::new(ip, self.bus_addr.port()));
        self.view.set_member();
        let control = |what: &str, e: &dyn std::fmt::Display| {
            ClusterError::ControlPlane(format!("seeding a cluster: {what}: {e}"))
        };
        match self.raft().initialize(BTreeMap::from([(RaftId(self.me()), me)])).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
            Err(e) => return Err(control("initialize", &e)),
        }
        self.raft()
            .wait(Some(self.timing.propose))
            .state(ServerState::Leader, "seed")
            .await
            .map_err(|e| control("election", &e))?;
        let seed = Payload::Seed { cluster_id: NodeId::random().to_string(), state };
        match tokio::time::timeout(self.timing.propose, self.raft().client_write(seed)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(control("first entry", &e)),
            Err(e) => Err(control("first entry", &e)),
        }
    }

    /// As the leader: the node becomes a learner (it receives the log, or a snapshot), its
    /// record and claims are committed, then it becomes a voter.
    async fn add_member(&self, req: &JoinRequest) -> Result<(), JoinError> {
        let id = RaftId(req.claims.node.id);
        let metrics = self.raft().metrics().borrow().clone();
        if metrics.current_leader != Some(RaftId(self.me())) {
            return Err(JoinError::NotLeader);
        }
        if metrics.membership_config.membership().voter_ids().any(|v| v == id) {
            return Ok(());
        }
        let forward = |e: &RaftError<RaftId, ClientWriteError<RaftId, BasicNode>>| {
            matches!(e, RaftError::APIError(ClientWriteError::ForwardToLeader(_)))
        };
        let node = BasicNode::new(&req.bus_addr);
        match tokio::time::timeout(self.timing.propose, self.raft().add_learner(id, node, true)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if forward(&e) => return Err(JoinError::NotLeader),
            outcome => {
                let (why, error): (_, fn(String) -> JoinError) = match outcome {
                    Ok(Err(e)) => (e.to_string(), failed),
                    _ => (format!("it did not catch up within {:?}", self.timing.propose), timed_out),
                };
                // Leave no learner behind that the leader would keep trying to reach.
                let gone = ChangeMembers::RemoveNodes(BTreeSet::from([id]));
                let _ = tokio::time::timeout(self.timing.propose, self.raft().change_membership(gone, false)).await;
                return Err(error(format!("MEET: cannot replicate to node {} at {}: {why}", id, req.bus_addr)));
            }
        }
        if self.view.state().read().node(&req.claims.node.id).is_none() {
            let cmds = req.claims.commands();
            let written =
                tokio::time::timeout(self.timing.propose, self.raft().client_write(Payload::Commands(cmds))).await;
            match written {
                Ok(Ok(response)) => {
                    // AddNode first: its refusal refuses the join; a refused claim (a slot
                    // another node already serves) only stays unclaimed.
                    if let Some(Err(e)) = response.data.first() {
                        return Err(JoinError::Failed(e.clone()));
                    }
                    for refused in response.data.iter().filter_map(|r| r.as_ref().err()) {
                        tracing::warn!(node = %id, "a claim of the joining node was refused: {refused}");
                    }
                }
                Ok(Err(e)) if forward(&e) => return Err(JoinError::NotLeader),
                Ok(Err(e)) => return Err(failed(format!("MEET: adding node {id}: {e}"))),
                Err(_) => {
                    return Err(timed_out(format!(
                        "MEET: adding node {id}: no majority within {:?}",
                        self.timing.propose
                    )))
                }
            }
        }
        let voters = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
        match tokio::time::timeout(self.timing.propose, self.raft().change_membership(voters, false)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if forward(&e) => Err(JoinError::NotLeader),
            Ok(Err(e)) => Err(failed(format!("MEET: making node {id} a voter: {e}"))),
            Err(_) => {
                Err(timed_out(format!("MEET: making node {id} a voter: no majority within {:?}", self.timing.propose)))
            }
        }
    }

    /// The answer to [`Request::Readdress`]: as the leader, the member's Raft address becomes
    /// `bus_addr`, and its node record's cluster port `bus_addr`'s; otherwise the leader is asked.
    pub(crate) async fn readdress(&self, id: NodeId, bus_addr: SocketAddr) -> Result<(), ClusterError> {
        let fail = |e: &dyn std::fmt::Display| ClusterError::ControlPlane(format!("new address of {id}: {e}"));
        let raft = self.raft();
        let metrics = raft.metrics().borrow().clone();
        if metrics.current_leader != Some(RaftId(self.me())) {
            let (_, leader) = self.leader().ok_or_else(|| fail(&"no leader"))?;
            return match self.peer(leader).call(&Request::Readdress { id, bus_addr }, self.timing.join).await {
                Ok(Reply::Readdress(result)) => result,
                Ok(_) => Err(fail(&"unexpected answer")),
                Err(e) => Err(fail(&e)),
            };
        }
        let node = BasicNode::new(bus_addr);
        let membership = metrics.membership_config.membership();
        if membership.get_node(&RaftId(id)).is_some_and(|n| *n != node) {
            let change = ChangeMembers::SetNodes(BTreeMap::from([(RaftId(id), node)]));
            match tokio::time::timeout(self.timing.propose, raft.change_membership(change, true)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(fail(&e)),
                Err(e) => return Err(fail(&e)),
            }
        }
        let record = self.view.state().read().node(&id).cloned();
        if let Some(record) = record {
            // The record's IP stays: it is what the node announces (`cluster-announce-ip`,
            // set by the server with SetAddress), not necessarily where its bus is bound.
            if record.cport != bus_addr.port() {
                let cmd = ClusterCommand::SetAddress {
                    node: id,
                    ip: record.ip.clone(),
                    port: record.port,
                    cport: bus_addr.port(),
                    hostname: record.hostname,
                };
                match self.propose_here(vec![cmd]).await {
                    super::network::ProposeReply::Done { results, .. } => {
                        results.into_iter().next().unwrap_or(Ok(crate::Applied::Ok))?;
                    }
                    super::network::ProposeReply::NotLeader => return Err(fail(&"no longer the leader")),
                    super::network::ProposeReply::Failed(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// On a member's start: if its bus answers elsewhere than the membership says (it restarted
/// on another port or, bound to a given IP, another address), tells the cluster, asking each
/// other member in turn until one (through its leader) has it done, or the plane is gone.
pub(crate) async fn announce_address(plane: Weak<ControlPlane>) {
    loop {
        let Some(this) = plane.upgrade() else { return };
        if this.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let me = RaftId(this.me());
        let membership = this.raft().metrics().borrow().membership_config.clone();
        let pause = this.timing.heartbeat * 10;
        let Some(recorded) = membership.membership().get_node(&me).map(|n| n.addr.clone()) else {
            // Not restored yet, or no longer a member.
            drop(this);
            tokio::time::sleep(pause).await;
            continue;
        };
        let Ok(recorded) = recorded.parse::<SocketAddr>() else { return };
        let ip = if this.bus_addr.ip().is_unspecified() { recorded.ip() } else { this.bus_addr.ip() };
        let actual = SocketAddr::new(ip, this.bus_addr.port());
        if actual == recorded {
            return;
        }
        let others: Vec<String> =
            membership.membership().nodes().filter(|(id, _)| **id != me).map(|(_, n)| n.addr.clone()).collect();
        for addr in others {
            let request = Request::Readdress { id: me.0, bus_addr: actual };
            if let Ok(Reply::Readdress(Ok(()))) = this.peer(addr).call(&request, this.timing.join).await {
                return;
            }
        }
        drop(this);
        tokio::time::sleep(pause).await;
    }
}
