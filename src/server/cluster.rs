//! Cluster mode on this node: the applied [`ClusterState`], kept in `cluster-config-file`
//! (Redis's nodes.conf format, so the node id survives restarts), and changed only through
//! [`ClusterNode::apply`].
//!
//! Today changes apply locally: a node serves its slots, redirects for slots it knows other
//! nodes own (from its nodes.conf), and runs the whole single-node CLUSTER command set. Joining
//! nodes (MEET) needs the Raft control plane, which will sit behind `apply` so every node
//! applies the same commands in the same order.

use super::Shared;
use crate::store::system_now_ms;
use ferrocache_cluster::replies::MessageStats;
use ferrocache_cluster::{
    load_nodes_conf, render_nodes_conf, Applied, ClusterCommand, ClusterConfig, ClusterError, ClusterHealth,
    ClusterState, Node, NodeId,
};
use parking_lot::{Mutex, RwLock};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Redis lets a node call itself `ok` only this long after start-up
/// (`CLUSTER_WRITABLE_DELAY`), so a restarted node does not serve before it has news.
const WRITABLE_DELAY_MS: u128 = 2000;

#[derive(Debug)]
pub struct ClusterNode {
    /// The applied state; shared with the control plane that will apply replicated changes.
    pub state: Arc<RwLock<ClusterState>>,
    config_file: PathBuf,
    pub stats: Mutex<MessageStats>,
    started: Instant,
}

impl ClusterNode {
    /// Reads `cluster-config-file` (relative to `dir`, as Redis resolves it after its chdir),
    /// or makes a new node with a random id and writes the file at once.
    pub fn open(dir: &str, config_file: &str, port: u16, bus_port: u16) -> Result<ClusterNode, String> {
        let path = PathBuf::from(dir).join(config_file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("Can't open {} for reading: {e}", path.display())),
        };
        let state = match load_nodes_conf(&text, system_now_ms()) {
            Ok(Some(state)) => {
                tracing::info!("Node configuration loaded, I'm {}", state.myself().id);
                state
            }
            Ok(None) => {
                let me = NodeId::random();
                tracing::info!("No cluster configuration found, I'm {me}");
                ClusterState::new(Node::new(me, "", port, bus_port))
            }
            Err(e) => {
                return Err(format!("Unrecoverable error: corrupted cluster config file \"{}\": {e}", path.display()))
            }
        };
        let node = ClusterNode {
            state: Arc::new(RwLock::new(state)),
            config_file: path,
            stats: Mutex::default(),
            started: Instant::now(),
        };
        node.state.write().set_config(ClusterConfig::default());
        node.save().map_err(|e| format!("Can't write the cluster config file: {e}"))?;
        Ok(node)
    }

    /// Applies `cmd` and rewrites nodes.conf, as Redis saves the config after every change.
    pub fn apply(&self, cmd: &ClusterCommand) -> Result<Applied, ClusterError> {
        let applied = self.state.write().apply(cmd)?;
        if let Err(e) = self.save() {
            tracing::warn!("Can't save the cluster config file: {e}");
        }
        Ok(applied)
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
    pub fn cron(&self) {
        if self.started.elapsed().as_millis() < WRITABLE_DELAY_MS {
            return;
        }
        let health = self.state.read().evaluate_health();
        if self.state.read().health() != health {
            let _ = self.state.write().apply(&ClusterCommand::SetHealth { health });
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
    /// keys by slot from the first one.
    pub fn init_cluster(&self) -> io::Result<()> {
        let (dir, file, bus_port) = {
            let c = self.config.read();
            let bus = if c.cluster_port != 0 { c.cluster_port } else { self.port.wrapping_add(10000) };
            (c.dir.clone(), c.cluster_config_file.clone(), bus)
        };
        let node = ClusterNode::open(&dir, &file, self.port, bus_port).map_err(io::Error::other)?;
        self.store.index_slots(ferrocache_cluster::key_slot);
        let _ = self.cluster.set(node);
        Ok(())
    }
}
