//! The server: shared state, the accept loop, background cycles and shutdown.

mod aof;
mod buffers;
mod busy_poll;
mod cluster;
mod connection;
pub mod daemon;
mod listen;
mod lookahead;
mod monitor;
mod persistence;
mod stats;

pub use aof::{Aof, AofInfo, RewriteOutcome};
pub use buffers::{BufferFigures, ClientMemory, OutputLimitCheck};
pub use busy_poll::BusyPoll;
pub use cluster::ClusterNode;
pub use listen::{
    adjust_open_files_limit, bind_all, bind_listener, check_tcp_backlog, rebind, TcpListeners, MAX_ACCEPTS_PER_CALL,
};
pub use monitor::MonitorHub;
pub use persistence::{BgsaveOutcome, Persistence, RdbInfo, SaveError};
pub use stats::{cpu_usage, CpuUsage, ServerStats};

use crate::client::ClientRegistry;
use crate::config::Config;
use crate::memory::MemoryMeter;
use crate::store::types::{EncodingThresholds, HashLimits, ZSetLimits};
use crate::store::{Clock, Store};
use parking_lot::RwLock;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Settings read on every command, mirrored out of `Config` into atomics so the hot path
/// takes no lock. `Shared::apply_config` keeps them in step with CONFIG SET.
#[derive(Debug, Default)]
pub struct HotConfig {
    pub maxmemory: AtomicU64,
    pub maxmemory_samples: AtomicU64,
    pub requirepass_set: AtomicBool,
    pub proto_max_bulk_len: AtomicU64,
    pub client_query_buffer_limit: AtomicU64,
    pub maxclients: AtomicU64,
    pub timeout_secs: AtomicU64,
    pub hz: AtomicU64,
    pub protected_mode: AtomicBool,
    pub tcp_keepalive_secs: AtomicU64,
    /// `busy-poll`, microseconds (see `busy_poll`).
    pub busy_poll_us: AtomicU64,
    pub min_replicas_to_write: AtomicU64,
    /// `client-output-buffer-limit`, by `ClientClass`: hard, soft, soft seconds.
    pub output_limits: [[AtomicU64; 3]; 3],
    /// `maxmemory-clients` in bytes (a percentage resolved against `maxmemory`, at least
    /// [`buffers::MIN_CLIENT_EVICTION_LIMIT`]); 0: none.
    pub maxmemory_clients: AtomicU64,
    /// The packed encodings' conversion thresholds.
    pub encoding: EncodingLimits,
}

/// `hash-max-listpack-*`, `set-max-intset-entries` and `zset-max-listpack-*`, parsed from the
/// config's text at each CONFIG SET rather than on every write to a collection.
#[derive(Debug, Default)]
pub struct EncodingLimits {
    hash_entries: AtomicUsize,
    hash_value: AtomicUsize,
    set_intset_entries: AtomicUsize,
    zset_entries: AtomicUsize,
    zset_value: AtomicUsize,
}

impl EncodingLimits {
    pub fn hash(&self) -> HashLimits {
        HashLimits {
            max_entries: self.hash_entries.load(Ordering::Relaxed),
            max_value: self.hash_value.load(Ordering::Relaxed),
        }
    }

    pub fn zset(&self) -> ZSetLimits {
        ZSetLimits {
            max_entries: self.zset_entries.load(Ordering::Relaxed),
            max_value: self.zset_value.load(Ordering::Relaxed),
        }
    }

    pub fn set_intset_entries(&self) -> usize {
        self.set_intset_entries.load(Ordering::Relaxed)
    }

    /// All of them, for a loader.
    pub fn thresholds(&self) -> EncodingThresholds {
        EncodingThresholds { hash: self.hash(), zset: self.zset(), set_max_intset: self.set_intset_entries() }
    }

    fn load_from(&self, config: &Config) {
        // The directives' own defaults stand in for text that does not parse (it always
        // does: CONFIG SET and the file loader check it).
        let number = |name: &str, default: usize| {
            crate::config::find_directive(name).and_then(|d| d.get(config).parse().ok()).unwrap_or(default)
        };
        let d = EncodingThresholds::default();
        self.hash_entries.store(number("hash-max-listpack-entries", d.hash.max_entries), Ordering::Relaxed);
        self.hash_value.store(number("hash-max-listpack-value", d.hash.max_value), Ordering::Relaxed);
        self.set_intset_entries.store(number("set-max-intset-entries", d.set_max_intset), Ordering::Relaxed);
        self.zset_entries.store(number("zset-max-listpack-entries", d.zset.max_entries), Ordering::Relaxed);
        self.zset_value.store(number("zset-max-listpack-value", d.zset.max_value), Ordering::Relaxed);
    }
}

impl HotConfig {
    pub fn output_limit(&self, class: crate::config::ClientClass) -> crate::config::OutputBufferLimit {
        let [hard, soft, secs] = &self.output_limits[class as usize];
        crate::config::OutputBufferLimit {
            hard_bytes: hard.load(Ordering::Relaxed),
            soft_bytes: soft.load(Ordering::Relaxed),
            soft_seconds: secs.load(Ordering::Relaxed),
        }
    }
}

/// Everything connections share. The order its locks are taken in is written down once, in
/// `store/mod.rs` ("Lock order").
pub struct Shared {
    pub config: RwLock<Config>,
    pub hot: HotConfig,
    pub store: Store,
    pub clients: ClientRegistry,
    /// What clients' buffers hold together (`maxmemory-clients`, INFO).
    pub client_memory: ClientMemory,
    /// The active expiry cycle runs (`DEBUG SET-ACTIVE-EXPIRE 0` stops it).
    pub active_expire: AtomicBool,
    /// Open client connections, counted from accept (`maxclients` is checked against this,
    /// before the connection's task registers it in `clients`).
    pub connections: AtomicUsize,
    pub stats: ServerStats,
    pub command_stats: crate::commands::CommandStatsTable,
    pub monitors: MonitorHub,
    /// Clients blocked on keys (BLPOP, BZPOPMIN, …).
    pub key_waiters: crate::commands::blocking::KeyWaiters,
    /// SLOWLOG's entries (fed by `commands::dispatch::call`).
    pub slowlog: crate::slowlog::SlowLog,
    /// LATENCY's events (fed by `commands::dispatch::call` and the background cycles).
    pub latency: crate::latency::LatencyMonitor,
    pub memory: MemoryMeter,
    pub started: Instant,
    pub run_id: String,
    /// The port actually bound (differs from the config when it asked for port 0); see
    /// [`Shared::port`].
    port: std::sync::atomic::AtomicU16,
    /// The TCP listeners (CONFIG SET `port` / `bind` replace them).
    pub listeners: TcpListeners,
    pub shutdown: CancellationToken,
    pub persistence: Persistence,
    /// The append-only file; one of the two consumers of the store's effects.
    pub aof: Arc<Aof>,
    /// Replication: the other consumer of effects, replicas, the link to our primary.
    pub repl: Arc<crate::replication::Replication>,
    /// Cluster mode's node (`cluster-enabled yes`), set at start-up.
    pub cluster: std::sync::OnceLock<ClusterNode>,
    /// Connections MIGRATE keeps to its targets.
    pub migrate_sockets: crate::commands::migrate::MigrateSockets,
    /// Worker threads polling for requests while the server is busy.
    pub busy_poll: BusyPoll,
    /// A weak reference to the `Arc` holding this state, for work that outlives a handler
    /// (BGSAVE's thread); see [`Shared::arc`].
    me: Weak<Shared>,
}

impl Shared {
    /// The TCP port clients connect to (INFO `tcp_port`, what replicas announce).
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    pub(crate) fn set_port(&self, port: u16) {
        self.port.store(port, Ordering::Relaxed);
    }

    pub fn new(config: Config, clock: Clock, port: u16) -> Arc<Shared> {
        let store = Store::new(config.databases, config.shards, clock);
        let aof = Arc::new(Aof::default());
        let repl = Arc::new(crate::replication::Replication::default());
        store.effects.set_sink(Arc::new(EffectFanout { aof: aof.clone(), repl: repl.clone() }));
        let shared = Arc::new_cyclic(|me| Shared {
            hot: HotConfig::default(),
            store,
            clients: ClientRegistry::default(),
            client_memory: ClientMemory::default(),
            active_expire: AtomicBool::new(true),
            connections: AtomicUsize::new(0),
            stats: ServerStats::default(),
            command_stats: Default::default(),
            monitors: MonitorHub::default(),
            key_waiters: Default::default(),
            slowlog: Default::default(),
            latency: Default::default(),
            memory: MemoryMeter::new(),
            started: Instant::now(),
            run_id: random_hex(40),
            port: port.into(),
            listeners: TcpListeners::default(),
            shutdown: CancellationToken::new(),
            persistence: Persistence::default(),
            aof,
            repl,
            migrate_sockets: Default::default(),
            busy_poll: BusyPoll::default(),
            cluster: std::sync::OnceLock::new(),
            me: me.clone(),
            config: RwLock::new(config),
        });
        shared.apply_config();
        crate::store::calibrate_timer();
        shared
    }

    /// Pushes the config's values into the hot atomics and the store (after start-up and
    /// after every successful CONFIG SET).
    pub fn apply_config(&self) {
        let c = self.config.read();
        let h = &self.hot;
        h.maxmemory.store(c.maxmemory, Ordering::Relaxed);
        if c.maxmemory == 0 {
            // No limit, nothing exceeded: an open span ends here.
            self.stats.eviction_exceeded(false);
        }
        h.maxmemory_samples.store(c.maxmemory_samples as u64, Ordering::Relaxed);
        h.requirepass_set.store(!c.requirepass.is_empty(), Ordering::Relaxed);
        h.proto_max_bulk_len.store(c.proto_max_bulk_len, Ordering::Relaxed);
        h.client_query_buffer_limit.store(c.client_query_buffer_limit, Ordering::Relaxed);
        h.maxclients.store(c.maxclients as u64, Ordering::Relaxed);
        h.timeout_secs.store(c.timeout, Ordering::Relaxed);
        h.hz.store(c.hz as u64, Ordering::Relaxed);
        h.protected_mode.store(c.protected_mode, Ordering::Relaxed);
        h.tcp_keepalive_secs.store(c.tcp_keepalive, Ordering::Relaxed);
        h.busy_poll_us.store(c.busy_poll_us, Ordering::Relaxed);
        h.min_replicas_to_write.store(c.min_replicas_to_write, Ordering::Relaxed);
        h.encoding.load_from(&c);
        for (hot, class) in h.output_limits.iter().zip(crate::config::ClientClass::ALL) {
            let limit = c.client_output_buffer_limit.of(class);
            hot[0].store(limit.hard_bytes, Ordering::Relaxed);
            hot[1].store(limit.soft_bytes, Ordering::Relaxed);
            hot[2].store(limit.soft_seconds, Ordering::Relaxed);
        }
        self.repl.set_replica_hard_limit(c.client_output_buffer_limit.replica.hard_bytes);
        h.maxmemory_clients
            .store(buffers::client_eviction_limit(c.maxmemory_clients.bytes(c.maxmemory)), Ordering::Relaxed);
        self.command_stats.set_latency_tracking(c.latency_tracking);
        crate::logging::set_level(&c.loglevel);
        self.slowlog.configure(c.slowlog_log_slower_than, c.slowlog_max_len);
        self.latency.configure(c.latency_monitor_threshold);
        crate::memory::set_background_thread(c.jemalloc_bg_thread);
        self.store.set_eviction_policy(c.maxmemory_policy);
        self.store.lfu_params().set_log_factor(c.lfu_log_factor);
        self.store.lfu_params().set_decay_time(c.lfu_decay_time);
        if let Some(node) = self.cluster() {
            node.state.write().set_config(cluster::cluster_config(&c));
        }
    }

    /// Turns the store's effects on while something consumes them (the AOF, or replicas'
    /// stream), off otherwise. Called where either switches, under the locks that make the
    /// switch exact (a rewrite's or a full sync's cut).
    pub fn refresh_effects(&self) {
        self.store.effects.set_enabled(self.aof.is_on() || self.repl.feeding());
    }

    pub fn auth_required(&self) -> bool {
        self.hot.requirepass_set.load(Ordering::Relaxed)
    }
}

/// Sends each effect to whichever of the AOF and the replication stream is taking them.
struct EffectFanout {
    aof: Arc<Aof>,
    repl: Arc<crate::replication::Replication>,
}

impl crate::store::EffectSink for EffectFanout {
    fn emit(&self, db: usize, args: &[&[u8]]) {
        if self.aof.is_on() {
            self.aof.emit(db, args);
        }
        if self.repl.feeding() {
            self.repl.emit(db, args);
        }
    }
}

fn random_hex(n: usize) -> String {
    (0..n).map(|_| char::from_digit(rand::random::<u32>() % 16, 16).expect("digit < 16")).collect()
}

/// Serves `listener` until `shutdown` resolves or a client sends SHUTDOWN.
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    run_with_clock(listener, config, Clock::System, shutdown).await
}

/// [`run`] over several listeners (one per `bind` address).
pub async fn run_listeners(
    listeners: Vec<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let port = match listeners.first() {
        Some(l) => l.local_addr()?.port(),
        // `port 0` with a `unixsocket`: clients come only through the socket.
        None if !config.unixsocket.is_empty() => 0,
        None => return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")),
    };
    let shared = Shared::new(config, Clock::System, port);
    serve(listeners, shared, shutdown).await
}

/// [`run`] with an injected clock (TTL tests).
pub async fn run_with_clock(
    listener: TcpListener,
    config: Config,
    clock: Clock,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let shared = Shared::new(config, clock, port);
    serve(vec![listener], shared, shutdown).await
}

/// Accept loops and background cycles over an existing [`Shared`], until shutdown.
///
/// The RDB file is loaded after the listeners start, as Redis answers `-LOADING` meanwhile;
/// a file that cannot be loaded stops the server with an error rather than serving part of it.
pub async fn serve(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Bound before anything starts, so a taken HTTP port stops start-up as a taken port does.
    let http = crate::http::bind(&shared).await?;
    let cluster_enabled = shared.config.read().cluster_enabled;
    if cluster_enabled {
        shared.init_cluster().await?;
        let watcher = shared.clone();
        tokio::spawn(async move { watcher.watch_cluster_changes().await });
    }
    // `tcp-backlog` for every listener, including ones a library caller bound itself
    // (listening again on a listening socket only changes its backlog).
    let backlog = listen::backlog_arg(shared.config.read().tcp_backlog);
    for l in &listeners {
        socket2::SockRef::from(l).listen(backlog)?;
    }
    // A replica by configuration is one before anyone connects; it syncs once loaded.
    let replicaof = shared.config.read().replicaof.clone();
    let link = replicaof.map(|(host, port)| shared.become_replica(host, port));
    // The unix socket before any accept loop: a client that saw TCP answer finds it too.
    #[cfg(unix)]
    let (unix_listener, _unix_file) = {
        let (path, perm, backlog) = {
            let c = shared.config.read();
            (c.unixsocket.clone(), c.unixsocketperm, c.tcp_backlog)
        };
        if path.is_empty() {
            (None, None)
        } else {
            let l = listen::bind_unix(&path, perm, backlog)
                .map_err(|e| std::io::Error::new(e.kind(), format!("Failed opening Unix socket: {e}")))?;
            (Some(l), Some(listen::SocketFile(path)))
        }
    };
    let to_load = shared.begin_loading();
    shared.listeners.replace(listeners, &shared);
    let mut accepts = Vec::new();
    #[cfg(unix)]
    if let Some(l) = unix_listener {
        accepts.push(tokio::spawn(listen::accept_unix_loop(l, shared.clone())));
    }
    // Up while loading: /health answers and /ready says not yet.
    accepts.extend(http.map(|l| tokio::spawn(crate::http::serve(l, shared.clone()))));
    let loader = shared.clone();
    let loaded = tokio::task::spawn_blocking(move || to_load.map_or(Ok(()), |source| loader.load_dataset(source)));
    tokio::pin!(shutdown);
    let loaded = tokio::select! {
        loaded = loaded => loaded.map_err(std::io::Error::other)?,
        // Interrupted while loading: exit without saving a half-loaded dataset (Redis too).
        _ = &mut shutdown => return stop_serving(&shared, accepts).await,
    };
    if let Err(e) = loaded {
        tracing::error!("Fatal error loading the DB: {e}. Exiting.");
        stop_serving(&shared, accepts).await?;
        return Err(std::io::Error::other(format!("Fatal error loading the DB: {e}")));
    }
    tracing::info!(port = shared.port(), "Ready to accept connections tcp");
    daemon::notify_ready(&shared.config.read());
    if let Some(link) = link {
        shared.start_link(link);
    }
    // A cluster replica (nodes.conf) starts replicating once loaded.
    shared.follow_cluster_role();
    let cron = tokio::spawn(server_cron(shared.clone()));
    tokio::select! {
        _ = &mut shutdown => {
            // A signal: save as SHUTDOWN would with `shutdown-on-sigint`/`-sigterm`'s options
            // (the command saves by itself).
            let (save, nosave, force) = daemon::signal_shutdown_flags(&shared.config.read());
            let saver = shared.clone();
            let saved = if nosave {
                Ok(())
            } else {
                tokio::task::spawn_blocking(move || saver.final_save(save)).await.map_err(std::io::Error::other)?
            };
            if let Err(e) = saved.or_else(|e| if force { tracing::warn!("Error trying to save the DB: {e}"); Ok(()) } else { Err(e) }) {
                tracing::error!("Error trying to save the DB, can't exit: {e}");
                tracing::warn!("SIGTERM received but errors trying to shut down the server, check the logs for more information");
                // Keep serving (and keep the data) until SHUTDOWN NOSAVE or a successful SHUTDOWN.
                shared.shutdown.cancelled().await;
            }
        }
        _ = shared.shutdown.cancelled() => {}
    }
    cron.abort();
    stop_serving(&shared, accepts).await
}

async fn stop_serving(shared: &Shared, accepts: Vec<tokio::task::JoinHandle<()>>) -> std::io::Result<()> {
    tracing::info!("Shutting down: closing {} client connection(s)", shared.clients.count());
    shared.shutdown.cancel();
    for a in &accepts {
        a.abort();
    }
    for a in shared.listeners.take().into_iter().chain(accepts) {
        let _ = a.await; // each listener closes when its task is gone
    }
    shared.clients.kill_all();
    if let Some(cluster) = shared.cluster() {
        cluster.shutdown().await;
    }
    Ok(())
}

/// Redis's `serverCron` duties that apply here, `hz` times a second: the active expiry
/// cycle, memory and ops sampling, the `save` rules.
async fn server_cron(shared: Arc<Shared>) {
    loop {
        let hz = shared.hot.hz.load(Ordering::Relaxed).clamp(1, 500);
        let period = Duration::from_millis(1000 / hz);
        tokio::time::sleep(period).await;
        shared.store.refresh_coarse_clock();
        // Redis gives the slow cycle 25% of a tick; run it off the async workers.
        if shared.active_expire.load(Ordering::Relaxed) {
            let s = shared.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let start = s.latency.start();
                s.store.active_expire_cycle(period / 4);
                s.latency.end("expire-cycle", start);
            })
            .await;
        }
        shared.memory.refresh_with(shared.store.logical_used());
        shared.stats.sample_ops();
        // Neither does file I/O on this worker: save points start a background save, and the
        // AOF's write is offloaded when there is one (`aof_flush`). An offload every tick
        // would hand this worker's queue to another thread ten times a second for nothing.
        shared.persistence_cron();
        shared.aof_cron();
        shared.replication_cron();
        shared.cluster_cron().await;
    }
}
