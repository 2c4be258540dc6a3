//! Cluster mode on this node: the applied [`ClusterState`], changed only through
//! [`ClusterNode::apply`], which hands each change to the Raft control plane
//! ([`ControlPlane`]): node-local observations and a node in no cluster apply at once, a
//! member's changes are committed by a majority and applied by every member in the same order.
//! CLUSTER MEET goes the same way. After every change the node rewrites `cluster-config-file`
//! (at most every [`NODES_CONF_GAP`]; Redis's nodes.conf format, so ids and the view survive restarts); the Raft log itself lives
//! under `<dir>/raft`.

use super::Shared;
use crate::config::Config;
use crate::store::system_now_ms;
use ferrocache_cluster::control::{ControlOptions, ControlPlane, NodeStatus};
use ferrocache_cluster::replies::MessageStats;
use ferrocache_cluster::{
    load_nodes_conf, render_nodes_conf, Applied, ClusterCommand, ClusterConfig, ClusterError, ClusterHealth,
    ClusterState, EndpointType, Node, NodeFlags, NodeId,
};
use parking_lot::RwLock;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Redis lets a node call itself `ok` only this long after start-up
/// (`CLUSTER_WRITABLE_DELAY`), so a restarted node does not serve before it has news.
const WRITABLE_DELAY_MS: u128 = 2000;

/// The least time between two nodes.conf rewrites: a burst of changes (a reshard makes several
/// per slot on every node) is written once. For a member, nodes.conf is a hint (the Raft log
/// is the durable record) but for myself's open slots, which a kill in this gap may lose, as
/// a Redis node killed before its `clusterBeforeSleep` loses them; `--cluster fix` closes them.
const NODES_CONF_GAP: Duration = Duration::from_millis(100);

pub struct ClusterNode {
    /// The applied state, which the control plane replaces on every change. A leaf in the
    /// lock order (`store/mod.rs`): take no other lock while holding it.
    pub state: Arc<RwLock<ClusterState>>,
    control: Arc<ControlPlane>,
    config_file: PathBuf,
    started: Instant,
    /// Serializes nodes.conf rewrites (they share one temp file), holding the text last
    /// written. Lock order: before the state.
    save_lock: parking_lot::Mutex<String>,
    /// Serializes [`Shared::follow_cluster_role`]. Lock order: before the replication state and
    /// the configuration, which it changes; no shard is held.
    role_lock: parking_lot::Mutex<()>,
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
        config: ClusterConfig,
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
        state.set_config(config);
        let mut options = ControlOptions::new(PathBuf::from(dir).join("raft"), bus, state);
        options.node_timeout = std::time::Duration::from_millis(node_timeout_ms.max(1));
        let control =
            ControlPlane::start(options).await.map_err(|e| format!("Can't start the cluster bus on {bus}: {e}"))?;
        let node = ClusterNode {
            state: control.state(),
            control,
            config_file: path,
            started: Instant::now(),
            save_lock: parking_lot::Mutex::new(String::new()),
            role_lock: parking_lot::Mutex::new(()),
        };
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
        node.save(true).map_err(|e| format!("Can't write the cluster config file: {e}"))?;
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

    /// Applies myself's CLUSTER command `cmd` through the control plane (`in_exec`: run by
    /// EXEC). CLUSTER handlers are synchronous: this waits for the commit on the calling worker
    /// thread, as Redis's CLUSTER commands block too. Changes replicated from other nodes reach
    /// nodes.conf through [`Shared::watch_cluster_changes`].
    pub fn apply(&self, cmd: &ClusterCommand, in_exec: bool) -> Result<Applied, ClusterError> {
        let control = self.control.clone();
        let cmd = cmd.clone();
        let propose = async move {
            match in_exec {
                true => control.propose_in_transaction(cmd).await,
                false => control.propose(cmd).await,
            }
        };
        let result = tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(propose));
        // A node in no cluster has only nodes.conf to remember its claims by: saved before the
        // reply leaves, as Redis does (`clusterSaveConfigOrDie` in beforeSleep, no fsync). A
        // member's changes are in the Raft log, fsynced by a majority; the change watcher
        // rewrites nodes.conf for them.
        if !self.control.is_member() {
            if let Err(e) = self.save(false) {
                tracing::warn!("Can't save the cluster config file: {e}");
            }
        }
        result
    }

    pub async fn shutdown(&self) {
        self.control.shutdown().await;
        if let Err(e) = self.save(true) {
            tracing::warn!("Can't save the cluster config file: {e}");
        }
    }

    /// Writes nodes.conf: temp file, rename; `durable` also fsyncs it first (the first save of
    /// a new id, CLUSTER SAVECONFIG, shutdown) and writes even an unchanged text. Others skip a
    /// text already written: most changes are link and offset observations it does not show.
    pub fn save(&self, durable: bool) -> io::Result<()> {
        let mut last = self.save_lock.lock();
        let text = render_nodes_conf(&self.state.read());
        if !durable && *last == text {
            return Ok(());
        }
        let temp = self.config_file.with_extension(format!("tmp-{}", std::process::id()));
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(text.as_bytes())?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&temp, &self.config_file)?;
        *last = text;
        Ok(())
    }

    /// The control plane (manual failovers, status).
    pub fn control(&self) -> &Arc<ControlPlane> {
        &self.control
    }

    /// The cron's part: slots another node's DELSLOTS took from this view come back, and
    /// `cluster_state` is evaluated (for the end of the writable delay).
    pub fn cron(&self) {
        self.control.restore_forgotten_slots();
        self.update_health();
    }

    /// `clusterUpdateState`: `cluster_state` follows slot coverage and the masters' health, once
    /// the writable delay after start-up is over. Called after every change of the view, as
    /// Redis calls it before sleeping whenever slots or node states changed, and by the cron: a
    /// state that went `fail` for a moment (a slot unassigned between two commands) is `ok`
    /// again as soon as the slot is back, not a cron tick later.
    pub fn update_health(&self) {
        // Only a master waits (`clusterUpdateState`): a replica serves no slot of its own.
        if self.started.elapsed().as_millis() < WRITABLE_DELAY_MS && self.state.read().myself().is_master() {
            return;
        }
        let (health, current) = {
            let state = self.state.read();
            (state.evaluate_health(), state.health())
        };
        if health != current {
            // Redis's line (`clusterUpdateState`), with what decided it: counted only on a
            // change, not every tick.
            let (unowned, failing) = {
                let state = self.state.read();
                let unowned = (0..ferrocache_cluster::SLOTS).filter(|&s| state.slot_owner(s).is_none()).count();
                let failing =
                    state.nodes().iter().filter(|n| n.flags.intersects(NodeFlags::FAIL | NodeFlags::PFAIL)).count();
                (unowned, failing)
            };
            let state = if health == ClusterHealth::Ok { "ok" } else { "fail" };
            tracing::warn!(unowned_slots = unowned, failing_nodes = failing, "Cluster state changed: {state}");
            self.control.set_health(health);
        }
    }

    pub fn health_ok(&self) -> bool {
        self.state.read().health() == ClusterHealth::Ok
    }
}

/// The node-local `cluster-*` settings the cluster crate reads, from the configuration.
pub(super) fn cluster_config(c: &Config) -> ClusterConfig {
    ClusterConfig {
        require_full_coverage: c.cluster_require_full_coverage,
        allow_reads_when_down: c.cluster_allow_reads_when_down,
        allow_pubsubshard_when_down: c.cluster_allow_pubsubshard_when_down,
        preferred_endpoint: match c.cluster_preferred_endpoint_type.as_str() {
            "hostname" => EndpointType::Hostname,
            "unknown-endpoint" => EndpointType::Unknown,
            _ => EndpointType::Ip,
        },
        allow_replica_migration: c.cluster_allow_replica_migration,
        migration_barrier: c.cluster_migration_barrier,
    }
}

/// How long a manual failover waits for the replica to catch up (`CLUSTER_MF_TIMEOUT`); the
/// master pauses its writes for twice that at most.
const MANUAL_FAILOVER_TIMEOUT: Duration = Duration::from_millis(5000);

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
                    0 if self.port() > 55535 => return Err(io::Error::other(
                        "Redis port number too high. Cluster communication port is 10,000 port numbers higher than \
                         your Redis port. Your Redis port number must be 55535 or less.",
                    )),
                    0 => self.port() + 10000,
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
        let config = cluster_config(&self.config.read());
        let node = ClusterNode::open(&dir, &file, self.port(), bus, timeout, &announce, config)
            .await
            .map_err(io::Error::other)?;
        let weak = Arc::downgrade(&self.arc());
        // A manual failover of one of our replicas: pause writes, answer our offset.
        let shared = weak.clone();
        node.control.set_pause_hook(Arc::new(move |pause| {
            let Some(shared) = shared.upgrade() else { return -1 };
            shared.pause_for_manual_failover(pause);
            shared.repl.offset() as i64
        }));
        // Follow a role change the moment it is applied: a promoted replica is sent writes
        // by the others as soon as they apply the same entry. (Until the dataset is loaded,
        // `serve` follows it once loading ends.)
        node.control.set_on_change(Arc::new(move || {
            if let Some(shared) = weak.upgrade() {
                if !shared.persistence.loading() {
                    shared.follow_cluster_role();
                }
                if let Some(node) = shared.cluster() {
                    node.update_health();
                }
            }
        }));
        self.store.index_slots(ferrocache_cluster::key_slot);
        let _ = self.cluster.set(node);
        Ok(())
    }

    /// After every change of the cluster state: rewrites nodes.conf, at most every
    /// [`NODES_CONF_GAP`]. (Myself's role is followed by the change hook installed in
    /// [`Shared::init_cluster`].)
    pub async fn watch_cluster_changes(&self) {
        let Some(node) = self.cluster() else { return };
        let mut changes = node.control.changes();
        let mut last_save: Option<tokio::time::Instant> = None;
        loop {
            if let Some(at) = last_save {
                tokio::time::sleep_until(at + NODES_CONF_GAP).await;
            }
            last_save = Some(tokio::time::Instant::now());
            // File I/O off the async workers; changes that come meanwhile coalesce into one.
            let shared = self.arc();
            let saved = tokio::task::spawn_blocking(move || shared.cluster().map(|n| n.save(false))).await;
            if let Ok(Some(Err(e))) = saved {
                tracing::warn!("Can't save the cluster config file: {e}");
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Makes replication follow myself's role in the cluster state: replicate my master (after
    /// CLUSTER REPLICATE, or an old master after a failover), or stop replicating (promoted).
    pub fn follow_cluster_role(&self) {
        let Some(node) = self.cluster() else { return };
        // One at a time (the change hook, the replication check and start-up call this).
        let _following = node.role_lock.lock();
        let primary = {
            let state = node.state.read();
            let me = state.myself();
            match me.primary.and_then(|p| state.node(&p)) {
                Some(p) if me.is_replica() => Some((p.ip.clone(), p.port)),
                _ => None,
            }
        };
        match primary {
            Some((ip, port)) if !ip.is_empty() && port != 0 => {
                let current = self.repl.link();
                if current.is_some_and(|l| l.host == ip && l.port == port) {
                    return;
                }
                tracing::info!("Configuring the cluster to replicate {ip}:{port}");
                // A master that lost its slots to its replica's manual failover was paused.
                self.repl.pause_writes(false);
                self.replicate(ip, port);
            }
            Some(_) => {}
            None if self.repl.is_replica() => {
                tracing::info!("Cluster: this node is a master now; stopping replication");
                self.stop_replicating();
            }
            None => {}
        }
    }

    /// The cron's cluster duties: the status the pongs carry, `nofailover`, `cluster_state`.
    pub async fn cluster_cron(&self) {
        let Some(node) = self.cluster() else { return };
        let (status, no_failover) = {
            let c = self.config.read();
            (self.cluster_status(&c), c.cluster_replica_no_failover)
        };
        node.control.set_local_status(status);
        let (me, flagged) = {
            let state = node.state.read();
            let me = state.myself();
            (me.id, me.flags.contains(NodeFlags::NOFAILOVER))
        };
        if flagged != no_failover {
            let _ = node.control.propose(ClusterCommand::SetNoFailover { node: me, on: no_failover }).await;
        }
        node.cron();
    }

    /// What this node's pongs tell the others (see `ferrocache_cluster::control::NodeStatus`).
    fn cluster_status(&self, c: &Config) -> NodeStatus {
        let mut can_fail_over = !c.cluster_replica_no_failover;
        if let (true, Some(link)) = (self.repl.is_replica(), self.repl.link()) {
            // `clusterHandleSlaveFailover`'s data age: since the last byte from the master,
            // less the node timeout the failure took to detect.
            let last = link.last_io_ms.load(Ordering::Relaxed);
            let age = system_now_ms().saturating_sub(last).saturating_sub(c.cluster_node_timeout);
            let limit = c.repl_ping_replica_period * 1000 + c.cluster_node_timeout * c.cluster_replica_validity_factor;
            if last == 0 || (c.cluster_replica_validity_factor != 0 && age > limit) {
                can_fail_over = false;
            }
        }
        NodeStatus {
            repl_offset: self.repl.offset() as i64,
            replica_priority: c.replica_priority.min(u32::MAX as u64) as u32,
            can_fail_over,
            suspects: Vec::new(),
        }
    }

    /// The master's part of a replica's manual failover: writes wait (as under CLIENT PAUSE
    /// WRITE) until the failover makes this node a replica, or `pause` passes.
    fn pause_for_manual_failover(&self, pause: Duration) {
        self.repl.pause_writes(true);
        let weak = Arc::downgrade(&self.arc());
        tokio::spawn(async move {
            tokio::time::sleep(pause).await;
            if let Some(shared) = weak.upgrade() {
                if !shared.repl.is_replica() {
                    tracing::warn!("Manual failover timed out: resuming writes");
                }
                shared.repl.pause_writes(false);
            }
        });
    }

    /// CLUSTER FAILOVER on this replica, after its checks: TAKEOVER and FORCE commit the
    /// promotion at once; the default first has the master pause its writes and waits until
    /// this replica has processed everything the master had (no acknowledged write lost).
    pub async fn manual_failover(&self, force: bool, takeover: bool) {
        let Some(node) = self.cluster() else { return };
        let (me, primary) = {
            let state = node.state.read();
            (state.my_id(), state.myself().primary)
        };
        if !force {
            let Some(primary) = primary else { return };
            tracing::info!("Manual failover user request accepted.");
            let target = match node.control.request_failover_pause(primary, MANUAL_FAILOVER_TIMEOUT * 2).await {
                Ok(offset) => offset.max(0) as u64,
                Err(e) => {
                    tracing::warn!("Manual failover: the master did not pause: {e}");
                    return;
                }
            };
            tracing::info!("Received replication offset for paused master manual failover: {target}");
            let deadline = tokio::time::Instant::now() + MANUAL_FAILOVER_TIMEOUT;
            while self.repl.offset() < target {
                if tokio::time::Instant::now() > deadline {
                    tracing::warn!("Manual failover timed out.");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tracing::info!("All master replication stream processed, manual failover can start.");
        }
        match node.control.propose(ClusterCommand::Failover { node: me, takeover }).await {
            Ok(_) => tracing::info!("Failover: this node is now the master of its slots"),
            Err(e) => tracing::warn!("Manual failover failed: {e}"),
        }
    }
}
