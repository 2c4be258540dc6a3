//! Ferrocache: a Redis-compatible, multi-threaded in-memory cache.
//!
//! # Layout
//!
//! ```text
//! main.rs        flags / config file → Config → server::run
//! config/        one Config struct and the one directive table (CLI, files, CONFIG GET/SET)
//! glob.rs        Redis's glob matcher (KEYS, SCAN MATCH, CONFIG GET, COMMAND LIST) in polynomial time
//! strtod.rs      glibc's strtod (value, length, ERANGE): scores, SORT weights, float arguments
//! server/        accept loops (TCP, unix socket), connection task, MONITOR hub, stats, cron,
//!                daemonize / pidfile / supervised
//! client.rs      per-connection state and the client registry (CLIENT LIST/KILL)
//! commands/      the command table, the dispatcher, one module per command family
//! store/         the sharded keyspace: tables, values, expiry, eviction, clock
//! blocking.rs    offload(): long work on a worker without stopping the runtime
//! memory.rs      used-memory accounting (jemalloc + the store's logical size)
//! persistence/   Redis's formats: RDB files, DUMP payloads (CRC-64, LZF), AOF files and manifest
//! replication/   Redis's replication protocol: backlog, serving replicas, replicating a primary
//! http/          the HTTP port: Prometheus metrics, /health, /ready, /nodes, REST /cache/{key}
//! protocol/      (crate ferrocache-protocol) request parser and reply encoder
//! cluster/       (crate ferrocache-cluster) hash slots, cluster state, routing, CLUSTER replies
//! ```
//!
//! # Request flow
//!
//! ```text
//! TcpListener ──accept──▶ connection task (one per client)
//!   read into BytesMut ─▶ RequestParser::parse (every complete request; Incomplete ≠ error)
//!     ─▶ commands::execute: lookup → arity → auth → cluster route (MOVED/ASK) → OOM/evict
//!        → MISCONF / LOADING → MULTI queue → lock shards
//!        → handler(&mut Ctx, args) → Reply            (handlers never touch the socket)
//!   encode every reply of the batch into one buffer ─▶ one write
//! ```

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod blocking;
pub mod client;
pub mod commands;
pub mod config;
pub mod glob;
pub mod http;
pub mod latency;
pub mod logging;
pub mod memory;
pub mod persistence;
pub mod replication;
pub mod server;
pub mod slowlog;
pub mod store;
pub mod strtod;

pub use config::Config;
pub use server::{run, run_listeners, run_with_clock, Shared};
