//! Cluster mode on this node: the applied [`ClusterState`], changed only through
//! [`ClusterNode::apply`], which hands each change to the Raft control plane
//! ([`ControlPlane`]): node-local observations and a node in no cluster apply at once, a
//! member's changes are committed by a majority and applied by every member in the same order.
//! CLUSTER MEET goes the same way. After every change the node rewrites `cluster-config-file`
//! (Redis's nodes.conf format, so ids and the view survive restarts); the Raft log itself lives
//! under `<dir>/raft`.

use super::Shared;
use crate::store::system_now_ms;
use ferrocache_cluster::control::{ControlOptions, ControlPlane};
use ferrocache_cluster::replies::MessageStats;
use ferrocache_cluster::{
    load_nodes_conf, render_nodes_conf, Applied, ClusterCommand, ClusterConfig, ClusterError, ClusterHealth,
    ClusterState, Node, NodeId,
};
use parking_lot::RwLock;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Redis lets a node call itself `ok` only this long after start-up
/// (`CLUSTER_WRITABLE_DELAY`), so a restarted node does not serve before it has news.
const WRITABLE_DELAY_MS: u128 = 2000;

pub struct ClusterNode {
    /// The applied state, which the control plane replaces on every change. A leaf in the
    /// lock order (`store/mod.rs`): take no other lock while holding it.
    pub state: Arc<RwLock<ClusterState>>,
    control: Arc<ControlPlane>,
    config_file: PathBuf,
    started: Instant,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode").field("config_file", &self.config_file).finish_non_exhaustive()
    }
}

impl ClusterNode {
    /// Reads `cluster-config-file` (relative to `dir`, as Redis resolves it after its chdir),
    /// or makes a new node with a random id; starts the control plane on the bus address.
    pub async fn open(
        dir: &str,
        config_file: &str,
        port: u16,
        bus: std::net::SocketAddr,
        node_timeout_ms: u64,
        announce_ip: &str,
    ) -> Result<ClusterNode, String> {
        let path = PathBuf::from(dir).join(config_file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("Can't open {} for reading: {e}", path.display())),
        };
        let mut state = match load_nodes_conf(&text, system_now_ms()) {
            Ok(Some(state)) => {
                tracing::info!("Node configuration loaded, I'm {}", state.myself().id);
                state
            }
            Ok(None) => {
                let me = NodeId::random();
                tracing::info!("No cluster configuration found, I'm {me}");
                ClusterState::new(Node::new(me, "", port, bus.port()))
            }
            Err(e) => {
                return Err(format!("Unrecoverable error: corrupted cluster config file \"{}\": {e}", path.display()))
            }
        };
        state.set_config(ClusterConfig::default());
        let mut options = ControlOptions::new(PathBuf::from(dir).join("raft"), bus, state);
        options.node_timeout = std::time::Duration::from_millis(node_timeout_ms.max(1));
        let control =
            ControlPlane::start(options).await.map_err(|e| format!("Can't start the cluster bus on {bus}: {e}"))?;
        let node = ClusterNode { state: control.state(), control, config_file: path, started: Instant::now() };
        node.state.write().set_config(ClusterConfig::default());
        // `cluster-announce-ip`: the address other nodes and clients are told (redirects, SLOTS).
        let me = node.state.read().myself().clone();
        if !announce_ip.is_empty() && me.ip != announce_ip {
            let set = ClusterCommand::SetAddress {
                node: me.id,
                ip: announce_ip.to_string(),
                port: me.port,
                cport: me.cport,
                hostname: me.hostname.clone(),
            };
            node.control.propose(set).await.map_err(|e| format!("Can't announce {announce_ip}: {e}"))?;
        }
        node.save().map_err(|e| format!("Can't write the cluster config file: {e}"))?;
        Ok(node)
    }

    /// CLUSTER INFO's message counters.
    pub fn message_stats(&self) -> MessageStats {
        self.control.message_stats()
    }

    /// The cluster bus links alive now (CLUSTER LINKS).
    pub fn links(&self) -> Vec<ferrocache_cluster::replies::LinkInfo> {
        self.control.links()
    }

    /// Applies `cmd` through the control plane (CLUSTER handlers are synchronous: this waits
    /// for the commit on the calling worker thread, as Redis's CLUSTER commands block too).
    /// Changes replicated from other nodes reach nodes.conf through [`ClusterNode::watch_changes`].
    pub fn apply(&self, cmd: &ClusterCommand) -> Result<Applied, ClusterError> {
        let control = self.control.clone();
        let cmd = cmd.clone();
        let result = tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(control.propose(cmd)));
        // Saved before the reply leaves, as Redis does (`clusterSaveConfigOrDie` in beforeSleep):
        // an acknowledged change survives a crash right after.
        if let Err(e) = self.save() {
            tracing::warn!("Can't save the cluster config file: {e}");
        }
        result
    }

    /// Rewrites nodes.conf after every change the control plane applies (here or replicated
    /// from another node).
    pub async fn watch_changes(&self) {
        let mut changes = self.control.changes();
        while changes.changed().await.is_ok() {
            if let Err(e) = self.save() {
                tracing::warn!("Can't save the cluster config file: {e}");
            }
        }
    }

    pub async fn shutdown(&self) {
        self.control.shutdown().await;
        if let Err(e) = self.save() {
            tracing::warn!("Can't save the cluster config file: {e}");
        }
    }

    /// Writes nodes.conf: temp file, fsync, rename (CLUSTER SAVECONFIG, and after changes).
    pub fn save(&self) -> io::Result<()> {
        let text = render_nodes_conf(&self.state.read());
        let temp = self.config_file.with_extension(format!("tmp-{}", std::process::id()));
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&temp, &self.config_file)
    }

    /// The cron's part: `cluster_state` follows slot coverage once the writable delay is over.
    pub async fn cron(&self) {
        if self.started.elapsed().as_millis() < WRITABLE_DELAY_MS {
            return;
        }
        let (health, current) = {
            let state = self.state.read();
            (state.evaluate_health(), state.health())
        };
        if health != current {
            let _ = self.control.propose(ClusterCommand::SetHealth { health }).await;
        }
    }

    pub fn health_ok(&self) -> bool {
        self.state.read().health() == ClusterHealth::Ok
    }
}

impl Shared {
    /// Cluster mode's node, when `cluster-enabled yes`.
    #[inline]
    pub fn cluster(&self) -> Option<&ClusterNode> {
        self.cluster.get()
    }

    /// Opens the cluster node (cluster mode): before the dataset loads, so the store indexes
    /// keys by slot from the first one. The bus listens on the first `bind` address at
    /// `cluster-port` (0: the client port + 10000, as Redis).
    pub async fn init_cluster(&self) -> io::Result<()> {
        let (dir, file, bus, timeout, announce) = {
            let c = self.config.read();
            let bus_port =
                match c.cluster_port {
                    0 if self.port > 55535 => return Err(io::Error::other(
                        "Redis port number too high. Cluster communication port is 10,000 port numbers higher than \
                         your Redis port. Your Redis port number must be 55535 or less.",
                    )),
                    0 => self.port + 10000,
                    p => p,
                };
            let host = c.bind.first().map(|h| h.trim_start_matches('-')).unwrap_or("127.0.0.1");
            let host = if host == "*" || host == "::*" { "0.0.0.0" } else { host };
            let ip: std::net::IpAddr =
                host.parse().map_err(|_| io::Error::other(format!("bad bind address {host}")))?;
            (
                c.dir.clone(),
                c.cluster_config_file.clone(),
                std::net::SocketAddr::new(ip, bus_port),
                c.cluster_node_timeout,
                c.cluster_announce_ip.clone(),
            )
        };
        let node =
            ClusterNode::open(&dir, &file, self.port, bus, timeout, &announce).await.map_err(io::Error::other)?;
        self.store.index_slots(ferrocache_cluster::key_slot);
        let _ = self.cluster.set(node);
        Ok(())
    }
}
