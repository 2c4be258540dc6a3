//! The server's configuration: one struct read by command-line flags, redis.conf-style
//! files, and `CONFIG GET` / `CONFIG SET`, through one table of directives.
//!
//! Directive names, value syntax (`yes`/`no`, memory units like `100mb`) and error texts
//! follow redis-server 7.0 so that a user's redis.conf and habits carry over.
//!
//! - `mod.rs` (this file): the [`Config`] struct, its defaults, reading files and flags,
//!   CONFIG REWRITE.
//! - `directives.rs`: the directive table, the one list every reader goes through.
//! - `parse.rs`: value syntax (yes/no, integers, memory units, enums, save points).

mod directives;
mod parse;

pub use directives::{
    all_names, find_directive, lookup, status_table, Directive, Kind, Status, DIRECTIVES, REFUSED_FILE_DIRECTIVES,
};
pub use parse::{parse_memory, ClientClass, ClientOutputBufferLimits, MaxmemoryClients, OutputBufferLimit, SetError};
use parse::{parse_save, strerror};

use crate::store::EvictionPolicy;

/// Every setting the server reads. Defaults are redis-server 7.0's.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub databases: usize,
    pub maxmemory: u64,
    pub maxmemory_policy: EvictionPolicy,
    pub maxmemory_samples: u32,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    pub requirepass: String,
    pub maxclients: u32,
    pub timeout: u64,
    pub tcp_keepalive: u64,
    /// `listen(2)`'s backlog for every listener (the kernel caps it at `somaxconn`).
    pub tcp_backlog: u32,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub loglevel: String,
    /// `slowlog-log-slower-than`, microseconds; negative: off.
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub logfile: String,
    /// `log-format` (ours, not Redis's): `redis` lines, or `json` (one object a line).
    pub log_format: String,
    pub syslog_enabled: bool,
    pub syslog_ident: String,
    /// `user` or `local0` … `local7`.
    pub syslog_facility: String,
    pub daemonize: bool,
    /// RDB save points, `"<seconds> <changes> …"`, empty for none.
    pub save: String,
    pub stop_writes_on_bgsave_error: bool,
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    /// Microseconds to sleep per key written by a save: Redis's testing knob, which makes a
    /// BGSAVE last long enough to observe.
    pub rdb_key_save_delay: i64,
    /// Microseconds to sleep per key loaded at start-up (Redis's `key-load-delay`, for tests).
    pub key_load_delay: i64,
    pub appendonly: bool,
    /// `always`, `everysec` or `no`.
    pub appendfsync: String,
    pub appendfilename: String,
    pub appenddirname: String,
    pub aof_load_truncated: bool,
    pub aof_use_rdb_preamble: bool,
    pub auto_aof_rewrite_percentage: u64,
    pub auto_aof_rewrite_min_size: u64,
    pub dir: String,
    pub dbfilename: String,
    pub hz: u32,
    pub protected_mode: bool,
    /// jemalloc's background thread, which returns freed pages to the OS (Redis's default: yes).
    pub jemalloc_bg_thread: bool,
    pub io_threads: u32,
    /// Ferrocache's own: shards of the keyspace (a power of two).
    pub shards: usize,
    /// Ferrocache's own: tokio worker threads (0: one per core).
    pub threads: usize,
    /// Ferrocache's own: while requests arrive on average more often than this many
    /// microseconds, a worker thread polls for them instead of sleeping (the others join when
    /// it cannot keep up), until they stop or come further apart (0: never poll); see
    /// `server::busy_poll`.
    pub busy_poll_us: u64,
    /// Ferrocache's own: the HTTP server's port (metrics, health, REST); 0: no HTTP server.
    pub http_port: u16,
    /// Ferrocache's own: the address the HTTP server listens on.
    pub http_bind: String,
    /// `client-output-buffer-limit`, per client class (normal, replica, pubsub).
    pub client_output_buffer_limit: ClientOutputBufferLimits,
    /// `maxmemory-clients`: bytes, or a percentage of `maxmemory`, that all clients'
    /// buffers together may use (0 bytes: no limit).
    pub maxmemory_clients: MaxmemoryClients,
    /// Cluster mode (`cluster-enabled yes`): hash slots, MOVED/ASK, the CLUSTER commands.
    pub cluster_enabled: bool,
    pub cluster_config_file: String,
    pub cluster_node_timeout: u64,
    /// The cluster bus port; 0 means the client port + 10000, as Redis.
    pub cluster_port: u16,
    pub cluster_announce_ip: String,
    pub cluster_require_full_coverage: bool,
    pub cluster_allow_reads_when_down: bool,
    pub cluster_allow_pubsubshard_when_down: bool,
    pub cluster_preferred_endpoint_type: String,
    /// A replica that never promotes itself (manual CLUSTER FAILOVER still works).
    pub cluster_replica_no_failover: bool,
    /// A replica whose data is older than `node-timeout × factor` (plus the ping period) does
    /// not take over a failed master (0: any replica may).
    pub cluster_replica_validity_factor: u64,
    pub cluster_migration_barrier: u64,
    pub cluster_allow_replica_migration: bool,
    /// `no`, `yes` or `local`: whether CONFIG SET may change protected settings (`dir`,
    /// `dbfilename`), which can point the server's writes anywhere.
    pub enable_protected_configs: String,
    /// `enable-debug-command`: no, yes, or local (loopback clients only).
    pub enable_debug_command: String,
    /// `replicaof <host> <port>` at start-up (REPLICAOF changes the live role, not this).
    pub replicaof: Option<(String, u16)>,
    pub masterauth: String,
    pub masteruser: String,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    /// Replicas do not evict on their own (they apply the primary's DELs).
    pub replica_ignore_maxmemory: bool,
    pub replica_lazy_flush: bool,
    pub replica_announced: bool,
    pub repl_backlog_size: u64,
    pub repl_backlog_ttl: u64,
    pub repl_timeout: u64,
    pub repl_ping_replica_period: u64,
    pub repl_diskless_sync: bool,
    pub repl_diskless_sync_delay: u64,
    pub repl_diskless_sync_max_replicas: u64,
    /// `disabled`, `on-empty-db` or `swapdb`.
    pub repl_diskless_load: String,
    pub repl_disable_tcp_nodelay: bool,
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    pub replica_priority: u64,
    pub replica_announce_ip: String,
    pub replica_announce_port: u16,
    /// The file the configuration was read from, if any (CONFIG REWRITE writes it back).
    pub config_file: Option<String>,
    /// Where the process id is written (empty: nowhere, or Redis's default path when
    /// daemonized); removed on a clean shutdown.
    pub pidfile: String,
    /// A unix socket to serve clients on as well (empty: none), with `unixsocketperm`'s mode
    /// (0: as the umask leaves it).
    pub unixsocket: String,
    pub unixsocketperm: u32,
    /// `no`, `upstart`, `systemd` or `auto`: how to tell a supervisor the server is ready.
    pub supervised: String,
    /// What SIGINT / SIGTERM do: `default` (SHUTDOWN), or words among `save`/`nosave`,
    /// `now`, `force`, as SHUTDOWN's arguments.
    pub shutdown_on_sigint: String,
    pub shutdown_on_sigterm: String,
    /// `no`, `yes` (relative to the start-up value) or `absolute`: whether to set
    /// /proc/self/oom_score_adj to `oom_score_adj_values` (primary, replica, background child).
    pub oom_score_adj: String,
    pub oom_score_adj_values: [i32; 3],
    /// `latency-monitor-threshold`, milliseconds (0: off).
    pub latency_monitor_threshold: u64,
    /// `latency-tracking`: record per-command latency histograms (LATENCY HISTOGRAM, INFO
    /// latencystats, the metrics endpoint's `redis_latency_usec`).
    pub latency_tracking: bool,
    /// `latency-tracking-info-percentiles`, in CONFIG GET's form (`50 99 99.9`).
    pub latency_tracking_info_percentiles: String,
    /// Values of the directives accepted for compatibility that change nothing here
    /// (`Status::NoEffect`), in CONFIG GET's form; absent means the default.
    pub no_effect: std::collections::BTreeMap<&'static str, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".into()],
            databases: 16,
            maxmemory: 0,
            maxmemory_policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            requirepass: String::new(),
            maxclients: 10000,
            timeout: 0,
            tcp_keepalive: 300,
            tcp_backlog: 511,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            loglevel: "notice".into(),
            logfile: String::new(),
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            log_format: "redis".into(),
            syslog_enabled: false,
            syslog_ident: "redis".into(),
            syslog_facility: "local0".into(),
            daemonize: false,
            save: "3600 1 300 100 60 10000".into(),
            stop_writes_on_bgsave_error: true,
            rdbcompression: true,
            rdbchecksum: true,
            rdb_key_save_delay: 0,
            key_load_delay: 0,
            appendonly: false,
            appendfsync: "everysec".into(),
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            aof_load_truncated: true,
            aof_use_rdb_preamble: true,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 << 20,
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
            hz: 10,
            protected_mode: true,
            jemalloc_bg_thread: true,
            io_threads: 1,
            shards: 64,
            threads: 0,
            busy_poll_us: 50,
            http_port: 0,
            http_bind: "127.0.0.1".into(),
            client_output_buffer_limit: ClientOutputBufferLimits::default(),
            maxmemory_clients: MaxmemoryClients::Bytes(0),
            enable_protected_configs: "no".into(),
            enable_debug_command: "no".into(),
            cluster_enabled: false,
            cluster_config_file: "nodes.conf".into(),
            cluster_node_timeout: 15_000,
            cluster_port: 0,
            cluster_announce_ip: String::new(),
            cluster_require_full_coverage: true,
            cluster_allow_reads_when_down: false,
            cluster_allow_pubsubshard_when_down: true,
            cluster_preferred_endpoint_type: "ip".into(),
            cluster_replica_no_failover: false,
            cluster_replica_validity_factor: 10,
            cluster_migration_barrier: 1,
            cluster_allow_replica_migration: true,
            replicaof: None,
            masterauth: String::new(),
            masteruser: String::new(),
            replica_read_only: true,
            replica_serve_stale_data: true,
            replica_ignore_maxmemory: true,
            replica_lazy_flush: false,
            replica_announced: true,
            repl_backlog_size: 1 << 20,
            repl_backlog_ttl: 3600,
            repl_timeout: 60,
            repl_ping_replica_period: 10,
            repl_diskless_sync: true,
            repl_diskless_sync_delay: 5,
            repl_diskless_sync_max_replicas: 0,
            repl_diskless_load: "disabled".into(),
            repl_disable_tcp_nodelay: false,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            replica_priority: 100,
            replica_announce_ip: String::new(),
            replica_announce_port: 0,
            config_file: None,
            pidfile: String::new(),
            unixsocket: String::new(),
            unixsocketperm: 0,
            supervised: "no".into(),
            shutdown_on_sigint: "default".into(),
            shutdown_on_sigterm: "default".into(),
            oom_score_adj: "no".into(),
            oom_score_adj_values: [0, 200, 800],
            latency_monitor_threshold: 0,
            latency_tracking: true,
            latency_tracking_info_percentiles: "50 99 99.9".into(),
            no_effect: Default::default(),
        }
    }
}

impl Config {
    /// Whether CONFIG SET may change a protected setting for a client from `peer`.
    pub fn protected_configs_allowed(&self, peer: std::net::SocketAddr) -> bool {
        protected_action_allowed(&self.enable_protected_configs, peer)
    }

    /// Whether DEBUG may run for a client from `peer` (`enable-debug-command`).
    pub fn debug_command_allowed(&self, peer: std::net::SocketAddr) -> bool {
        protected_action_allowed(&self.enable_debug_command, peer)
    }
}

/// Redis's `allowProtectedAction`: "yes", or "local" for a loopback client.
fn protected_action_allowed(setting: &str, peer: std::net::SocketAddr) -> bool {
    match setting {
        "yes" => true,
        "local" => peer.ip().is_loopback(),
        _ => false,
    }
}

/// A start-up configuration error, shown the way redis-server shows one.
#[derive(Debug)]
pub struct ConfigError {
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The `save` rules as `(seconds, changes)` pairs (validated when set).
    pub fn save_points(&self) -> Vec<(u64, u64)> {
        let n: Vec<u64> = self.save.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        n.chunks_exact(2).map(|p| (p[0], p[1])).collect()
    }

    /// Redis's `loadServerConfigFromString` for one line (`include` aside).
    fn apply_directive(&mut self, name: &str, values: &[String], loader: &mut Loader) -> Result<(), String> {
        if let Some(d) = find_directive(name) {
            if !d.multi_arg() && values.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            // `save "3600 1 300 100"`: one quoted value holds the words.
            let words: Vec<String> = match values {
                [one] if d.multi_arg() && !one.is_empty() => split_words(one)?,
                _ => values.to_vec(),
            };
            if d.name == "save" {
                return self.add_save_points(&words, loader);
            }
            return d.set(self, &words);
        }
        if directives::DEPRECATED.iter().any(|(old, argc)| old.eq_ignore_ascii_case(name) && values.len() + 1 == *argc)
        {
            return Ok(());
        }
        if name.eq_ignore_ascii_case("sentinel") {
            return Err("sentinel directive while not in sentinel mode".into());
        }
        if name.contains('.') {
            // A module's own directive (`module.name value`).
            return Err(if values.is_empty() {
                "Module config specified without value"
            } else {
                "Module Configuration detected without loadmodule directive or no ApplyConfig call: aborting"
            }
            .into());
        }
        // rename-command, loadmodule, user and unknown names: what Redis says of a directive
        // it does not know (docs/OPERATIONS.md says why each is refused).
        Err("Bad directive or wrong number of arguments".into())
    }

    /// `save` lines in a file add to each other, the first one replacing the defaults;
    /// `save ""` clears them all (Redis's `setConfigSaveOption` while reading a file).
    fn add_save_points(&mut self, words: &[String], loader: &mut Loader) -> Result<(), String> {
        let points = parse_save(words)?;
        if !loader.save_loaded || points.is_empty() {
            self.save.clear();
        }
        loader.save_loaded = true;
        if !points.is_empty() {
            if !self.save.is_empty() {
                self.save.push(' ');
            }
            self.save.push_str(&points);
        }
        Ok(())
    }

    /// Reads redis.conf syntax: one directive per line, `#` comments, Redis's quoting.
    pub fn apply_file_text(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        self.apply_text(text, origin, &mut Loader::default(), 0)
    }

    fn apply_text(&mut self, text: &str, origin: &str, loader: &mut Loader, depth: usize) -> Result<(), ConfigError> {
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim_matches([' ', '\t', '\r', '\n']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |reason: &str| ConfigError { message: fatal(origin, n + 1, line, reason) };
            let words = split_words(line).map_err(|e| fail(&e))?;
            let Some((name, values)) = words.split_first() else { continue };
            if name.eq_ignore_ascii_case("include") && values.len() == 1 {
                // Bounded: a file that includes itself must not recurse forever.
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(fail("Too many nested include directives"));
                }
                for file in include_files(&values[0]).map_err(|e| fail(&e))? {
                    let text = std::fs::read_to_string(&file).map_err(|e| ConfigError {
                        message: format!("Fatal error, can't open config file '{file}': {}", strerror(&e)),
                    })?;
                    self.apply_text(&text, &file, loader, depth + 1)?;
                }
                continue;
            }
            self.apply_directive(name, values, loader).map_err(|e| fail(&e))?;
        }
        Ok(())
    }

    /// Parses redis-server's command line: `[config-file] [--directive value…]…`.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Config, ConfigError> {
        Self::from_args_and_stdin(args, || std::io::read_to_string(std::io::stdin()))
    }

    /// [`Config::from_args`] with `-` (first or last, as redis-server) reading more
    /// configuration from `stdin`, after the file and before the flags.
    pub fn from_args_and_stdin<I: IntoIterator<Item = String>>(
        args: I,
        stdin: impl FnOnce() -> std::io::Result<String>,
    ) -> Result<Config, ConfigError> {
        let mut args: Vec<String> = args.into_iter().collect();
        let from_stdin = args.first().is_some_and(|a| a == "-") || args.last().is_some_and(|a| a == "-");
        if from_stdin {
            let at = if args[0] == "-" { 0 } else { args.len() - 1 };
            args.remove(at);
        }
        let mut config = Config::default();
        let mut loader = Loader::default();
        let mut rest = &args[..];
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first).map_err(|e| ConfigError {
                    message: format!("Fatal error, can't open config file '{first}': {}", strerror(&e)),
                })?;
                config.apply_text(&text, first, &mut loader, 0)?;
                config.config_file = Some(
                    std::fs::canonicalize(first).map(|p| p.display().to_string()).unwrap_or_else(|_| first.clone()),
                );
                rest = &rest[1..];
            }
        }
        if from_stdin {
            let text = stdin().map_err(|e| ConfigError { message: format!("Can't read config from stdin: {e}") })?;
            config.apply_text(&text, "(stdin)", &mut loader, 0)?;
        }
        while let Some((flag, tail)) = rest.split_first() {
            let Some(name) = flag.strip_prefix("--") else {
                return Err(ConfigError { message: format!("Invalid argument '{flag}': directives start with '--'") });
            };
            let n = tail.iter().position(|a| a.starts_with("--") && a.len() > 2).unwrap_or(tail.len());
            let values = &tail[..n];
            let line = format!("{name} {}", values.join(" "));
            config
                .apply_directive(name, values, &mut loader)
                .map_err(|e| ConfigError { message: fatal("(command line)", 1, &line, &e) })?;
            rest = &tail[n..];
        }
        if config.cluster_enabled && config.replicaof.is_some() {
            return Err(ConfigError {
                message: format!(
                    "\n*** FATAL CONFIG FILE ERROR (Ferrocache {}) ***\nreplicaof directive not allowed in cluster mode",
                    env!("CARGO_PKG_VERSION")
                ),
            });
        }
        Ok(config)
    }
}

/// State that spans a whole load (file, includes, then flags), as Redis's static
/// `save_loaded`.
#[derive(Default)]
struct Loader {
    save_loaded: bool,
}

/// Includes nested deeper than this are refused (Redis recurses without a bound).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Redis's `sdssplitargs`: words, with `"…"` (escapes) and `'…'` quoting.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let words = ferrocache_protocol::split_args(&bytes::Bytes::copy_from_slice(line.as_bytes()))
        .ok_or_else(|| "Unbalanced quotes in configuration line".to_string())?;
    Ok(words.into_iter().map(|w| String::from_utf8_lossy(&w).into_owned()).collect())
}

/// The files an `include` names: the path itself, or the sorted matches of a pattern in its
/// last component (`include /etc/redis/conf.d/*.conf`; none is fine, as Redis's glob).
fn include_files(path: &str) -> Result<Vec<String>, String> {
    if !path.contains(['*', '?', '[']) {
        return Ok(vec![path.to_string()]);
    }
    let p = std::path::Path::new(path);
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let pattern = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut files: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            crate::glob::matches(pattern.as_bytes(), e.file_name().as_encoded_bytes(), crate::glob::Case::Sensitive)
        })
        .map(|e| e.path().display().to_string())
        .collect();
    files.sort();
    Ok(files)
}

/// A directive's value as a config-file line would spell it (a multi-word value unquoted,
/// so it reads back as its words).
fn file_value(multi_arg: bool, value: &str) -> String {
    if value.is_empty() {
        "\"\"".to_string()
    } else if !multi_arg && value.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\') {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_string()
    }
}

impl Config {
    /// CONFIG REWRITE: the file's text with every known directive set to its current value.
    /// Lines for known directives are rewritten in place (later duplicates dropped); values that
    /// differ from the defaults and have no line yet are appended; comments and unknown lines stay.
    pub fn rewrite_text(&self, old: &str) -> String {
        let defaults = Config::default();
        let mut written = std::collections::HashSet::new();
        let mut out = String::new();
        for line in old.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            match find_directive(name).filter(|_| !line.trim_start().starts_with('#')) {
                Some(d) => {
                    let value = d.get(self);
                    // No primary: the line goes, as Redis's rewrite drops it (`replicaof ""`
                    // would not load).
                    if written.insert(d.name) && !(d.name == "replicaof" && value.is_empty()) {
                        out.push_str(&format!("{} {}\n", d.name, file_value(d.multi_arg(), &value)));
                    }
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        let mut header = false;
        for d in DIRECTIVES {
            let value = d.get(self);
            if written.contains(d.name) || value == d.get(&defaults) {
                continue;
            }
            if !header {
                out.push_str("# Generated by CONFIG REWRITE\n");
                header = true;
            }
            out.push_str(&format!("{} {}\n", d.name, file_value(d.multi_arg(), &value)));
        }
        out
    }
}

fn fatal(origin: &str, line: usize, text: &str, reason: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR (Ferrocache {}) ***\nReading the configuration file {origin}, at line {line}\n>>> '{}'\n{reason}",
        env!("CARGO_PKG_VERSION"),
        text.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("100mb"), Some(100 << 20));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("1x"), None);
        assert_eq!(parse_memory("mb"), None);
        assert_eq!(parse_memory("-1"), None);
    }

    #[test]
    fn command_line_like_redis_server() {
        let c = Config::from_args(
            ["--port", "7000", "--maxmemory", "100mb", "--save", "", "--maxmemory-policy", "allkeys-lru"]
                .map(String::from),
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.maxmemory, 100 << 20);
        assert_eq!(c.save, "");
        assert_eq!(c.maxmemory_policy, EvictionPolicy::AllKeysLru);
        let c = Config::from_args(["--save", "900", "1", "300", "10"].map(String::from)).unwrap();
        assert_eq!(c.save_points(), vec![(900, 1), (300, 10)]);
        let err = Config::from_args(["--save", "900"].map(String::from)).unwrap_err();
        assert!(err.message.contains("Invalid save parameters"), "{}", err.message);
        let err = Config::from_args(["--bogus", "1"].map(String::from)).unwrap_err();
        assert!(err.message.contains("'bogus 1'"), "{}", err.message);
        assert!(err.message.contains("Bad directive"), "{}", err.message);
        let err = Config::from_args(["--port", "abc"].map(String::from)).unwrap_err();
        assert!(err.message.contains("couldn't be parsed into an integer"), "{}", err.message);
    }

    #[test]
    fn http_and_client_limit_fields() {
        let c = Config::default();
        assert_eq!((c.http_port, c.http_bind.as_str()), (0, "127.0.0.1"));
        assert_eq!(c.maxmemory_clients, MaxmemoryClients::Bytes(0));
        let c = Config::from_args(
            [
                "--http-port",
                "8080",
                "--http-bind",
                "0.0.0.0",
                "--maxmemory-clients",
                "10%",
                "--client-output-buffer-limit",
                "pubsub",
                "1mb",
                "0",
                "0",
            ]
            .map(String::from),
        )
        .unwrap();
        assert_eq!((c.http_port, c.http_bind.as_str()), (8080, "0.0.0.0"));
        assert_eq!(c.maxmemory_clients, MaxmemoryClients::PercentOfMaxmemory(10));
        assert_eq!(c.maxmemory_clients.bytes(1000), 100);
        assert_eq!(
            c.client_output_buffer_limit.pubsub,
            OutputBufferLimit { hard_bytes: 1 << 20, soft_bytes: 0, soft_seconds: 0 }
        );
        assert_eq!(c.client_output_buffer_limit.replica, ClientOutputBufferLimits::default().replica);
    }

    #[test]
    fn config_file_syntax() {
        let mut c = Config::default();
        c.apply_file_text("# comment\nport 7001\nrequirepass \"a b\"\n\nmaxmemory 1gb\n", "t.conf").unwrap();
        assert_eq!((c.port, c.requirepass.as_str(), c.maxmemory), (7001, "a b", 1 << 30));
        assert!(c.apply_file_text("port 1 2\n", "t.conf").is_err());
    }

    #[test]
    fn rewrite_drops_replicaof_once_a_primary() {
        let mut c = Config::default();
        c.apply_file_text("replicaof 127.0.0.1 6380\nport 7000\n", "t.conf").unwrap();
        c.replicaof = None;
        let text = c.rewrite_text("replicaof 127.0.0.1 6380\nport 7000\n");
        assert_eq!(text, "port 7000\n");
        Config::default().apply_file_text(&text, "t.conf").unwrap();
    }

    #[test]
    fn rewrite_keeps_no_effect_and_multi_word_values() {
        let mut c = Config::default();
        let text =
            "lazyfree-lazy-user-del yes\nclient-output-buffer-limit pubsub 1mb 0 0\nshutdown-on-sigint save now\n";
        c.apply_file_text(text, "t.conf").unwrap();
        let rewritten = c.rewrite_text(text);
        let mut again = Config::default();
        again.apply_file_text(&rewritten, "t.conf").unwrap();
        for name in ["lazyfree-lazy-user-del", "client-output-buffer-limit", "shutdown-on-sigint"] {
            let d = find_directive(name).unwrap();
            assert_eq!(d.get(&again), d.get(&c), "{name} after rewrite:\n{rewritten}");
        }
        assert_eq!(again.no_effect.get("lazyfree-lazy-user-del").map(String::as_str), Some("yes"));
    }

    #[test]
    fn dash_reads_configuration_from_stdin() {
        let stdin = || Ok("maxmemory 1mb\nport 7002\n".to_string());
        let c = Config::from_args_and_stdin(["-", "--port", "7003"].map(String::from), stdin).unwrap();
        assert_eq!((c.maxmemory, c.port), (1 << 20, 7003));
        let c = Config::from_args_and_stdin(["--port", "7003", "-"].map(String::from), stdin).unwrap();
        assert_eq!((c.maxmemory, c.port), (1 << 20, 7003), "flags win over stdin");
        let err = Config::from_args_and_stdin(["-"].map(String::from), || Ok("bogus 1".into())).unwrap_err();
        assert!(err.message.contains("(stdin), at line 1"), "{}", err.message);
    }

    #[test]
    fn save_lines_add_up_in_a_file() {
        let mut c = Config::default();
        c.apply_file_text("save 900 1\nsave 300 10\n", "t.conf").unwrap();
        assert_eq!(c.save, "900 1 300 10");
        c.apply_file_text("save \"\"\n", "t.conf").unwrap();
        assert_eq!(c.save, "");
        let c = Config::from_args(["--save", "60 1"].map(String::from)).unwrap();
        assert_eq!(c.save, "60 1");
    }

    #[test]
    fn redis_file_syntax_and_refusals() {
        let mut c = Config::default();
        // Deprecated directives are ignored; one quoted value holds a multi-word setting.
        c.apply_file_text("list-max-ziplist-entries 512\nclient-output-buffer-limit \"pubsub 1 2 3\"\n", "t.conf")
            .unwrap();
        assert_eq!(c.client_output_buffer_limit.pubsub.soft_seconds, 3);
        for (line, reason) in [
            ("rename-command CONFIG \"\"", "Bad directive or wrong number of arguments"),
            ("loadmodule /x.so", "Bad directive or wrong number of arguments"),
            ("sentinel monitor m 127.0.0.1 6379 2", "sentinel directive while not in sentinel mode"),
            ("mymodule.size 10", "Module Configuration detected without loadmodule directive"),
            ("maxmemory 1 2", "wrong number of arguments"),
            ("notify-keyspace-events KEA", "keyspace notifications are not supported"),
        ] {
            let err = Config::default().apply_file_text(line, "t.conf").unwrap_err();
            assert!(err.message.contains(reason), "{line}: {}", err.message);
            assert!(err.message.contains("at line 1"), "{}", err.message);
        }
        let err =
            Config::from_args(["--cluster-enabled", "yes", "--replicaof", "h", "1"].map(String::from)).unwrap_err();
        assert!(err.message.contains("replicaof directive not allowed in cluster mode"));
    }

    #[test]
    fn include_reads_globbed_files_in_order() {
        let dir = std::env::temp_dir().join(format!("ferrocache-include-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.conf"), "maxmemory 1mb\n").unwrap();
        std::fs::write(dir.join("b.conf"), "maxmemory 2mb\n").unwrap();
        let mut c = Config::default();
        c.apply_file_text(&format!("include {}/*.conf\n", dir.display()), "t.conf").unwrap();
        assert_eq!(c.maxmemory, 2 << 20);
        std::fs::write(dir.join("self.conf"), format!("include {}/self.conf\n", dir.display())).unwrap();
        let err =
            Config::default().apply_file_text(&format!("include {}/self.conf", dir.display()), "t.conf").unwrap_err();
        assert!(err.message.contains("Too many nested include directives"), "{}", err.message);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rewrite_keeps_comments_and_updates_values() {
        let mut c = Config::default();
        c.apply_file_text("# mine\nport 7001\nmaxmemory 1mb\nmaxmemory 2mb\n", "t.conf").unwrap();
        c.maxmemory = 5 << 20;
        c.requirepass = "a b".into();
        let text = c.rewrite_text("# mine\nport 7001\nmaxmemory 1mb\nmaxmemory 2mb\n");
        assert_eq!(text, "# mine\nport 7001\nmaxmemory 5242880\n# Generated by CONFIG REWRITE\nrequirepass \"a b\"\n");
        let mut again = Config::default();
        again.apply_file_text(&text, "t.conf").unwrap();
        assert_eq!((again.maxmemory, again.requirepass.as_str()), (5 << 20, "a b"));
    }
}
