//! Bus link liveness, as Redis's gossip PING/PONG keeps it: every node pings every other node
//! it knows over the cluster bus, every [`ping_interval`], and records the outcome as a local
//! [`ClusterCommand::SetLink`] observation: the `connected` / `disconnected` column of CLUSTER
//! NODES and its ping-sent / pong-recv times. CLUSTER LINKS lists these bus connections:
//! outgoing (`to`: this node's pings) and incoming (`from`: a peer's pings).
//!
//! A ping is a [`Request::Ping`], not a `Hello`: answering a hello reopens a reset node to
//! Raft traffic (see `ControlPlane::handle`), which a liveness probe must not do.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::JoinSet;

use super::network::{Peer, Reply, Request};
use super::ControlPlane;
use crate::replies::{LinkDirection, LinkInfo, MessageStats, MessageType};
use crate::{ClusterCommand, LinkState, NodeId};

/// How often each peer is pinged: a tenth of the node timeout, so that a node that stops
/// answering is flagged `fail?` within a tenth past the timeout (Redis pings every node at
/// least every half timeout, and flags it a whole timeout after the first unanswered ping);
/// at least every 20 ms, and more often than once a second buys nothing.
pub(crate) fn ping_interval(node_timeout: Duration) -> Duration {
    (node_timeout / 10).clamp(Duration::from_millis(20), Duration::from_secs(1))
}

/// The bus connections alive now, with their creation times (unix ms).
#[derive(Default)]
pub(crate) struct LinkTable {
    links: Mutex<HashMap<(NodeId, bool), i64>>,
    /// CLUSTER INFO's message counters: the pings and pongs of link liveness (the bus's other
    /// traffic is Raft's, which has no Redis message type).
    stats: Mutex<MessageStats>,
}

impl LinkTable {
    /// Counts one message of `kind`, sent or received.
    pub(crate) fn count(&self, kind: MessageType, sent: bool) {
        let mut stats = self.stats.lock();
        let counts = if sent { &mut stats.sent } else { &mut stats.received };
        counts[kind as usize] += 1;
    }

    fn set(&self, node: NodeId, outgoing: bool, created: Option<i64>) {
        let mut links = self.links.lock();
        match created {
            Some(at) => {
                links.entry((node, outgoing)).or_insert(at);
            }
            None => {
                links.remove(&(node, outgoing));
            }
        }
    }

    /// Records an incoming link from `node` until the returned guard drops (the connection ends).
    pub(crate) fn incoming(self: &Arc<Self>, node: NodeId) -> IncomingLink {
        self.set(node, false, Some(now_ms()));
        IncomingLink { table: Arc::downgrade(self), node }
    }

    /// CLUSTER LINKS: by node id, each node's outgoing link before its incoming one.
    pub(crate) fn list(&self) -> Vec<LinkInfo> {
        let mut links: Vec<_> = self.links.lock().iter().map(|(&(node, out), &at)| (node, !out, at)).collect();
        links.sort_unstable_by_key(|&(node, incoming, _)| (node.to_string(), incoming));
        links
            .into_iter()
            .map(|(node, incoming, create_time)| LinkInfo {
                direction: if incoming { LinkDirection::From } else { LinkDirection::To },
                node,
                create_time,
                // Nothing is ever left queued on a link between two messages.
                events: "r".to_string(),
                send_buffer_allocated: 0,
                send_buffer_used: 0,
            })
            .collect()
    }
}

/// An incoming bus link, listed while it lives.
pub(crate) struct IncomingLink {
    table: Weak<LinkTable>,
    node: NodeId,
}

impl Drop for IncomingLink {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            table.set(self.node, false, None);
        }
    }
}

fn now_ms() -> i64 {
    crate::command::unix_ms() as i64
}

/// Pings every other known node each interval, until the control plane is gone or closed.
pub(crate) async fn watch(plane: Weak<ControlPlane>) {
    // One connection per peer, reused across pings: (bus address, peer, connected since).
    let mut peers: HashMap<NodeId, (String, Peer, Option<i64>)> = HashMap::new();
    loop {
        let Some(p) = plane.upgrade() else { return };
        if p.is_closed() {
            return;
        }
        let round = tokio::time::Instant::now();
        let interval = ping_interval(p.timing.node_timeout);
        let me = p.me();
        let targets = p.peer_buses();
        // Nodes forgotten since: their links go.
        peers.retain(|id, _| {
            let known = targets.iter().any(|(t, _)| t == id);
            if !known {
                p.links.set(*id, true, None);
            }
            known
        });
        let mut pings = JoinSet::new();
        for (id, addr) in targets {
            let (mut peer, since) = match peers.remove(&id) {
                Some((a, peer, since)) if a == addr => (peer, since),
                _ => (p.peer(addr.clone()), None),
            };
            p.links.count(MessageType::Ping, true);
            pings.spawn(async move {
                let sent = now_ms();
                let status = match peer.call(&Request::Ping { from: me }, interval).await {
                    Ok(Reply::Pong(status)) => Some(status),
                    _ => None,
                };
                (id, addr, peer, since, sent, status)
            });
        }
        drop(p);
        while let Some(Ok((id, addr, peer, since, sent, status))) = pings.join_next().await {
            let Some(p) = plane.upgrade() else { return };
            let answered = status.is_some();
            p.detector.observe(id, status);
            if answered {
                p.links.count(MessageType::Pong, false);
            }
            let since = if answered { since.or(Some(sent)) } else { None };
            p.links.set(id, true, since);
            p.observe_link(id, answered, sent);
            peers.insert(id, (addr, peer, since));
        }
        if let Some(p) = plane.upgrade() {
            p.after_pings().await;
        }
        tokio::time::sleep_until(round + interval).await;
    }
}

impl ControlPlane {
    /// Records one ping's outcome for `node` (see the module docs): a pong marks the link
    /// connected at this time; no answer marks it disconnected, ping-sent being the first
    /// ping still unanswered, as Redis shows it.
    fn observe_link(&self, node: NodeId, answered: bool, sent: i64) {
        let (old_ping, old_pong) = {
            let state = self.state();
            let state = state.read();
            match state.node(&node) {
                Some(n) => (n.ping_sent, n.pong_received),
                None => return,
            }
        };
        let cmd = if answered {
            ClusterCommand::SetLink { node, link: LinkState::Connected, ping_sent: 0, pong_received: now_ms() as u64 }
        } else {
            let ping_sent = if old_ping != 0 { old_ping } else { sent as u64 };
            ClusterCommand::SetLink { node, link: LinkState::Disconnected, ping_sent, pong_received: old_pong }
        };
        self.view.observe_link(&cmd);
    }

    /// The bus links alive now (CLUSTER LINKS).
    pub fn links(&self) -> Vec<LinkInfo> {
        self.links.list()
    }

    /// The message counters of CLUSTER INFO (pings and pongs, sent and received).
    pub fn message_stats(&self) -> MessageStats {
        self.links.stats.lock().clone()
    }
}
