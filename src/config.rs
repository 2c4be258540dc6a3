//! The server's configuration: one struct read by command-line flags, redis.conf-style
//! files, and `CONFIG GET` / `CONFIG SET`, through one table of directives.
//!
//! Directive names, value syntax (`yes`/`no`, memory units like `100mb`) and error texts
//! follow redis-server 7.0 so that a user's redis.conf and habits carry over.

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
    pub rdb_key_save_delay: u64,
    /// Microseconds to sleep per key loaded at start-up (Redis's `key-load-delay`, for tests).
    pub key_load_delay: u64,
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
        }
    }
}

/// Why a value was refused; rendered by the caller into the CONFIG SET or start-up message.
pub type SetError = String;

type Getter = fn(&Config) -> String;
type Setter = fn(&mut Config, &[String]) -> Result<(), SetError>;

/// One directive: its name, how to read and write it, and whether CONFIG SET may change it.
pub struct Directive {
    pub name: &'static str,
    pub get: Getter,
    pub set: Setter,
    pub mutable: bool,
}

fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.to_string()
}

fn one(v: &[String]) -> Result<&str, SetError> {
    match v {
        [s] => Ok(s),
        _ => Err("wrong number of arguments".into()),
    }
}

fn parse_bool(v: &[String]) -> Result<bool, SetError> {
    match one(v)?.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn parse_int(v: &[String], min: i64, max: i64) -> Result<i64, SetError> {
    let n: i64 = one(v)?.parse().map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < min || n > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(n)
}

/// Redis's `memtoull`: a number with an optional unit (k, kb, m, mb, g, gb; case-insensitive).
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if num.is_empty() {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mul)
}

fn parse_mem_arg(v: &[String]) -> Result<u64, SetError> {
    parse_memory(one(v)?).ok_or_else(|| "argument must be a memory value".to_string())
}

fn parse_enum(v: &[String], allowed: &[&str]) -> Result<String, SetError> {
    let s = one(v)?.to_ascii_lowercase();
    if allowed.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(format!("argument(s) must be one of the following: {}", allowed.join(", ")))
    }
}

/// Checks a `save` spec: pairs of `<seconds> <changes>`, or empty to disable.
fn parse_save(v: &[String]) -> Result<String, SetError> {
    let words: Vec<&str> = v.iter().flat_map(|s| s.split_whitespace()).collect();
    if !words.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    for w in &words {
        if w.parse::<u64>().is_err() {
            return Err("Invalid save parameters".into());
        }
    }
    Ok(words.join(" "))
}

macro_rules! directive {
    ($name:literal, $mutable:expr, |$c:ident| $get:expr, |$cs:ident, $v:ident| $set:expr) => {
        Directive {
            name: $name,
            mutable: $mutable,
            get: |$c: &Config| $get,
            set: |$cs: &mut Config, $v: &[String]| {
                $set;
                Ok(())
            },
        }
    };
}

/// The directive table: the single list CLI flags, config files and CONFIG read.
pub static DIRECTIVES: &[Directive] = &[
    directive!("port", false, |c| c.port.to_string(), |c, v| c.port = parse_int(v, 0, 65535)? as u16),
    directive!("bind", false, |c| c.bind.join(" "), |c, v| {
        let addrs: Vec<String> = v.iter().flat_map(|s| s.split_whitespace().map(str::to_string)).collect();
        if addrs.is_empty() {
            return Err("wrong number of arguments".into());
        }
        c.bind = addrs
    }),
    directive!("databases", false, |c| c.databases.to_string(), |c, v| c.databases =
        parse_int(v, 1, 1 << 20)? as usize),
    directive!("maxmemory", true, |c| c.maxmemory.to_string(), |c, v| c.maxmemory = parse_mem_arg(v)?),
    directive!("maxmemory-policy", true, |c| c.maxmemory_policy.name().to_string(), |c, v| {
        let names: Vec<&str> = EvictionPolicy::ALL.iter().map(|p| p.name()).collect();
        c.maxmemory_policy = EvictionPolicy::parse(&parse_enum(v, &names)?).expect("validated")
    }),
    directive!("maxmemory-samples", true, |c| c.maxmemory_samples.to_string(), |c, v| c.maxmemory_samples =
        parse_int(v, 1, i32::MAX as i64)? as u32),
    directive!("lfu-log-factor", true, |c| c.lfu_log_factor.to_string(), |c, v| c.lfu_log_factor =
        parse_int(v, 0, i32::MAX as i64)? as u32),
    directive!("lfu-decay-time", true, |c| c.lfu_decay_time.to_string(), |c, v| c.lfu_decay_time =
        parse_int(v, 0, i32::MAX as i64)? as u32),
    directive!("requirepass", true, |c| c.requirepass.clone(), |c, v| c.requirepass = one(v)?.to_string()),
    directive!("maxclients", true, |c| c.maxclients.to_string(), |c, v| c.maxclients =
        parse_int(v, 1, u32::MAX as i64)? as u32),
    directive!("timeout", true, |c| c.timeout.to_string(), |c, v| c.timeout = parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("tcp-keepalive", true, |c| c.tcp_keepalive.to_string(), |c, v| c.tcp_keepalive =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("tcp-backlog", false, |c| c.tcp_backlog.to_string(), |c, v| c.tcp_backlog =
        parse_int(v, 0, i32::MAX as i64)? as u32),
    directive!("proto-max-bulk-len", true, |c| c.proto_max_bulk_len.to_string(), |c, v| {
        let n = parse_mem_arg(v)?;
        if n < 1024 * 1024 {
            return Err(format!("argument must be between {} and {} inclusive", 1024 * 1024, i64::MAX));
        }
        c.proto_max_bulk_len = n
    }),
    directive!("client-query-buffer-limit", true, |c| c.client_query_buffer_limit.to_string(), |c, v| {
        let n = parse_mem_arg(v)?;
        if n < 1024 * 1024 {
            return Err(format!("argument must be between {} and {} inclusive", 1024 * 1024, i64::MAX));
        }
        c.client_query_buffer_limit = n
    }),
    directive!("loglevel", true, |c| c.loglevel.clone(), |c, v| c.loglevel =
        parse_enum(v, &["debug", "verbose", "notice", "warning", "nothing"])?),
    directive!("slowlog-log-slower-than", true, |c| c.slowlog_log_slower_than.to_string(), |c, v| c
        .slowlog_log_slower_than =
        parse_int(v, -1, i64::MAX)?),
    directive!("slowlog-max-len", true, |c| c.slowlog_max_len.to_string(), |c, v| c.slowlog_max_len =
        parse_int(v, 0, i64::MAX)? as u64),
    directive!("logfile", false, |c| c.logfile.clone(), |c, v| c.logfile = one(v)?.to_string()),
    directive!("log-format", false, |c| c.log_format.clone(), |c, v| c.log_format = parse_enum(v, &["redis", "json"])?),
    directive!("syslog-enabled", false, |c| yes_no(c.syslog_enabled), |c, v| c.syslog_enabled = parse_bool(v)?),
    directive!("syslog-ident", false, |c| c.syslog_ident.clone(), |c, v| c.syslog_ident = one(v)?.to_string()),
    directive!("syslog-facility", false, |c| c.syslog_facility.clone(), |c, v| c.syslog_facility =
        parse_enum(v, &crate::logging::SYSLOG_FACILITIES)?),
    directive!("daemonize", false, |c| yes_no(c.daemonize), |c, v| {
        if parse_bool(v)? {
            return Err("daemonize yes is not supported: run ferrocache under a supervisor instead".into());
        }
        c.daemonize = false
    }),
    directive!("save", true, |c| c.save.clone(), |c, v| c.save = parse_save(v)?),
    directive!("stop-writes-on-bgsave-error", true, |c| yes_no(c.stop_writes_on_bgsave_error), |c, v| c
        .stop_writes_on_bgsave_error =
        parse_bool(v)?),
    directive!("rdbcompression", true, |c| yes_no(c.rdbcompression), |c, v| c.rdbcompression = parse_bool(v)?),
    directive!("rdbchecksum", false, |c| yes_no(c.rdbchecksum), |c, v| c.rdbchecksum = parse_bool(v)?),
    directive!("rdb-key-save-delay", true, |c| c.rdb_key_save_delay.to_string(), |c, v| c.rdb_key_save_delay =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("key-load-delay", true, |c| c.key_load_delay.to_string(), |c, v| c.key_load_delay =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("appendonly", true, |c| yes_no(c.appendonly), |c, v| c.appendonly = parse_bool(v)?),
    directive!("appendfilename", false, |c| c.appendfilename.clone(), |c, v| {
        let f = one(v)?;
        if f.is_empty() || f.contains('/') {
            return Err("appendfilename can't be a path, just a filename".into());
        }
        c.appendfilename = f.to_string()
    }),
    directive!("appenddirname", false, |c| c.appenddirname.clone(), |c, v| {
        let d = one(v)?;
        if d.is_empty() || d.contains('/') {
            return Err("appenddirname can't be a path, just a dirname".into());
        }
        c.appenddirname = d.to_string()
    }),
    directive!("aof-load-truncated", true, |c| yes_no(c.aof_load_truncated), |c, v| c.aof_load_truncated =
        parse_bool(v)?),
    directive!("aof-use-rdb-preamble", true, |c| yes_no(c.aof_use_rdb_preamble), |c, v| c.aof_use_rdb_preamble =
        parse_bool(v)?),
    directive!("auto-aof-rewrite-percentage", true, |c| c.auto_aof_rewrite_percentage.to_string(), |c, v| c
        .auto_aof_rewrite_percentage =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("auto-aof-rewrite-min-size", true, |c| c.auto_aof_rewrite_min_size.to_string(), |c, v| c
        .auto_aof_rewrite_min_size =
        parse_mem_arg(v)?),
    directive!("appendfsync", true, |c| c.appendfsync.clone(), |c, v| c.appendfsync =
        parse_enum(v, &["always", "everysec", "no"])?),
    directive!("dir", true, |c| c.dir.clone(), |c, v| {
        let d = one(v)?;
        if !std::path::Path::new(d).is_dir() {
            return Err(format!("No such file or directory: {d}"));
        }
        c.dir = d.to_string()
    }),
    directive!("dbfilename", true, |c| c.dbfilename.clone(), |c, v| {
        let f = one(v)?;
        if f.contains('/') {
            return Err("dbfilename can't be a path, just a filename".into());
        }
        c.dbfilename = f.to_string()
    }),
    directive!("enable-protected-configs", false, |c| c.enable_protected_configs.clone(), |c, v| c
        .enable_protected_configs =
        parse_enum(v, &["no", "yes", "local"])?),
    directive!("enable-debug-command", false, |c| c.enable_debug_command.clone(), |c, v| c.enable_debug_command =
        parse_enum(v, &["no", "yes", "local"])?),
    directive!("cluster-enabled", false, |c| yes_no(c.cluster_enabled), |c, v| c.cluster_enabled = parse_bool(v)?),
    directive!("cluster-config-file", false, |c| c.cluster_config_file.clone(), |c, v| c.cluster_config_file =
        one(v)?.to_string()),
    directive!("cluster-node-timeout", true, |c| c.cluster_node_timeout.to_string(), |c, v| c.cluster_node_timeout =
        parse_int(v, 0, i64::MAX)? as u64),
    directive!("cluster-port", false, |c| c.cluster_port.to_string(), |c, v| c.cluster_port =
        parse_int(v, 0, 65535)? as u16),
    directive!("cluster-announce-ip", true, |c| c.cluster_announce_ip.clone(), |c, v| c.cluster_announce_ip =
        one(v)?.to_string()),
    directive!("cluster-require-full-coverage", true, |c| yes_no(c.cluster_require_full_coverage), |c, v| c
        .cluster_require_full_coverage =
        parse_bool(v)?),
    directive!("cluster-allow-reads-when-down", true, |c| yes_no(c.cluster_allow_reads_when_down), |c, v| c
        .cluster_allow_reads_when_down =
        parse_bool(v)?),
    directive!(
        "cluster-allow-pubsubshard-when-down",
        true,
        |c| yes_no(c.cluster_allow_pubsubshard_when_down),
        |c, v| c.cluster_allow_pubsubshard_when_down = parse_bool(v)?
    ),
    directive!("cluster-preferred-endpoint-type", true, |c| c.cluster_preferred_endpoint_type.clone(), |c, v| c
        .cluster_preferred_endpoint_type =
        parse_enum(v, &["ip", "hostname", "unknown-endpoint"])?),
    directive!("cluster-replica-no-failover", true, |c| yes_no(c.cluster_replica_no_failover), |c, v| c
        .cluster_replica_no_failover =
        parse_bool(v)?),
    directive!("cluster-replica-validity-factor", true, |c| c.cluster_replica_validity_factor.to_string(), |c, v| c
        .cluster_replica_validity_factor =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("cluster-migration-barrier", true, |c| c.cluster_migration_barrier.to_string(), |c, v| c
        .cluster_migration_barrier =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("cluster-allow-replica-migration", true, |c| yes_no(c.cluster_allow_replica_migration), |c, v| c
        .cluster_allow_replica_migration =
        parse_bool(v)?),
    directive!("hz", true, |c| c.hz.to_string(), |c, v| c.hz = parse_int(v, 0, i32::MAX as i64)?.clamp(1, 500) as u32),
    directive!("protected-mode", true, |c| yes_no(c.protected_mode), |c, v| c.protected_mode = parse_bool(v)?),
    directive!("jemalloc-bg-thread", true, |c| yes_no(c.jemalloc_bg_thread), |c, v| c.jemalloc_bg_thread =
        parse_bool(v)?),
    directive!("io-threads", false, |c| c.io_threads.to_string(), |c, v| c.io_threads = parse_int(v, 1, 128)? as u32),
    directive!("shards", false, |c| c.shards.to_string(), |c, v| {
        let n = parse_int(v, 1, 65536)? as usize;
        if !n.is_power_of_two() {
            return Err("argument must be a power of two".into());
        }
        c.shards = n
    }),
    directive!("threads", false, |c| c.threads.to_string(), |c, v| c.threads = parse_int(v, 0, 1024)? as usize),
    directive!(
        "replicaof",
        false,
        |c| c.replicaof.as_ref().map_or(String::new(), |(h, p)| format!("{h} {p}")),
        |c, v| {
            let words: Vec<&str> = v.iter().flat_map(|s| s.split_whitespace()).collect();
            c.replicaof = match words[..] {
                [] => None,
                [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => None,
                [host, port] => {
                    let port = port.parse::<u16>().map_err(|_| "Invalid master port".to_string())?;
                    Some((host.to_string(), port))
                }
                _ => return Err("wrong number of arguments".into()),
            }
        }
    ),
    directive!("masterauth", true, |c| c.masterauth.clone(), |c, v| c.masterauth = one(v)?.to_string()),
    directive!("masteruser", true, |c| c.masteruser.clone(), |c, v| c.masteruser = one(v)?.to_string()),
    directive!("replica-read-only", true, |c| yes_no(c.replica_read_only), |c, v| c.replica_read_only = parse_bool(v)?),
    directive!("replica-serve-stale-data", true, |c| yes_no(c.replica_serve_stale_data), |c, v| c
        .replica_serve_stale_data =
        parse_bool(v)?),
    directive!("replica-ignore-maxmemory", true, |c| yes_no(c.replica_ignore_maxmemory), |c, v| c
        .replica_ignore_maxmemory =
        parse_bool(v)?),
    directive!("replica-lazy-flush", true, |c| yes_no(c.replica_lazy_flush), |c, v| c.replica_lazy_flush =
        parse_bool(v)?),
    directive!("replica-announced", true, |c| yes_no(c.replica_announced), |c, v| c.replica_announced = parse_bool(v)?),
    directive!("repl-backlog-size", true, |c| c.repl_backlog_size.to_string(), |c, v| {
        let n = parse_mem_arg(v)?;
        if n < 1 || n > i64::MAX as u64 {
            return Err(format!("argument must be between 1 and {} inclusive", i64::MAX));
        }
        c.repl_backlog_size = n
    }),
    directive!("repl-backlog-ttl", true, |c| c.repl_backlog_ttl.to_string(), |c, v| c.repl_backlog_ttl =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("repl-timeout", true, |c| c.repl_timeout.to_string(), |c, v| c.repl_timeout =
        parse_int(v, 1, i32::MAX as i64)? as u64),
    directive!("repl-ping-replica-period", true, |c| c.repl_ping_replica_period.to_string(), |c, v| c
        .repl_ping_replica_period =
        parse_int(v, 1, i32::MAX as i64)? as u64),
    directive!("repl-diskless-sync", true, |c| yes_no(c.repl_diskless_sync), |c, v| c.repl_diskless_sync =
        parse_bool(v)?),
    directive!("repl-diskless-sync-delay", true, |c| c.repl_diskless_sync_delay.to_string(), |c, v| c
        .repl_diskless_sync_delay =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("repl-diskless-sync-max-replicas", true, |c| c.repl_diskless_sync_max_replicas.to_string(), |c, v| c
        .repl_diskless_sync_max_replicas =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("repl-diskless-load", true, |c| c.repl_diskless_load.clone(), |c, v| c.repl_diskless_load =
        parse_enum(v, &["disabled", "on-empty-db", "swapdb"])?),
    directive!("repl-disable-tcp-nodelay", true, |c| yes_no(c.repl_disable_tcp_nodelay), |c, v| c
        .repl_disable_tcp_nodelay =
        parse_bool(v)?),
    directive!("min-replicas-to-write", true, |c| c.min_replicas_to_write.to_string(), |c, v| c
        .min_replicas_to_write =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("min-replicas-max-lag", true, |c| c.min_replicas_max_lag.to_string(), |c, v| c.min_replicas_max_lag =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("replica-priority", true, |c| c.replica_priority.to_string(), |c, v| c.replica_priority =
        parse_int(v, 0, i32::MAX as i64)? as u64),
    directive!("replica-announce-ip", true, |c| c.replica_announce_ip.clone(), |c, v| c.replica_announce_ip =
        one(v)?.to_string()),
    directive!("replica-announce-port", true, |c| c.replica_announce_port.to_string(), |c, v| c
        .replica_announce_port =
        parse_int(v, 0, 65535)? as u16),
    directive!("busy-poll", true, |c| c.busy_poll_us.to_string(), |c, v| c.busy_poll_us =
        parse_int(v, 0, 1_000_000)? as u64),
];

/// Settings CONFIG SET changes only as `enable-protected-configs` allows (Redis 7.0's
/// `PROTECTED_CONFIG`).
pub const PROTECTED_DIRECTIVES: &[&str] = &["dir", "dbfilename"];

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

/// Redis's old names for the replication directives (`slave…`), still accepted everywhere.
const ALIASES: &[(&str, &str)] = &[
    ("slaveof", "replicaof"),
    ("slave-read-only", "replica-read-only"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-priority", "replica-priority"),
    ("cluster-slave-no-failover", "cluster-replica-no-failover"),
    ("cluster-slave-validity-factor", "cluster-replica-validity-factor"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
];

pub fn find_directive(name: &str) -> Option<&'static Directive> {
    let name = ALIASES.iter().find(|(old, _)| old.eq_ignore_ascii_case(name)).map_or(name, |(_, new)| new);
    DIRECTIVES.iter().find(|d| d.name.eq_ignore_ascii_case(name))
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

    /// Applies one `name value…` line (from a file or a `--name value…` flag).
    pub fn apply_line(&mut self, name: &str, values: &[String]) -> Result<(), String> {
        let d = find_directive(name).ok_or_else(|| "Bad directive or wrong number of arguments".to_string())?;
        (d.set)(self, values)
    }

    /// Reads redis.conf syntax: one directive per line, `#` comments, Redis's quoting.
    pub fn apply_file_text(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words =
                ferrocache_protocol::split_args(&bytes::Bytes::copy_from_slice(line.as_bytes())).ok_or_else(|| {
                    ConfigError { message: fatal(origin, n + 1, raw, "Unbalanced quotes in configuration line") }
                })?;
            let words: Vec<String> = words.into_iter().map(|w| String::from_utf8_lossy(&w).into_owned()).collect();
            let Some((name, values)) = words.split_first() else { continue };
            if name.eq_ignore_ascii_case("include") {
                let inc = values
                    .first()
                    .ok_or_else(|| ConfigError { message: fatal(origin, n + 1, raw, "wrong number of arguments") })?;
                let text = std::fs::read_to_string(inc).map_err(|e| ConfigError {
                    message: fatal(origin, n + 1, raw, &format!("Can't open the included file: {e}")),
                })?;
                self.apply_file_text(&text, inc)?;
                continue;
            }
            self.apply_line(name, values).map_err(|e| ConfigError { message: fatal(origin, n + 1, raw, &e) })?;
        }
        Ok(())
    }

    /// Parses redis-server's command line: `[config-file] [--directive value…]…`.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Config, ConfigError> {
        let args: Vec<String> = args.into_iter().collect();
        let mut config = Config::default();
        let mut rest = &args[..];
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first).map_err(|e| ConfigError {
                    message: format!("Fatal error, can't open config file '{first}': {e}"),
                })?;
                config.apply_file_text(&text, first)?;
                config.config_file = Some(
                    std::fs::canonicalize(first).map(|p| p.display().to_string()).unwrap_or_else(|_| first.clone()),
                );
                rest = &rest[1..];
            }
        }
        while let Some((flag, tail)) = rest.split_first() {
            let Some(name) = flag.strip_prefix("--") else {
                return Err(ConfigError { message: format!("Invalid argument '{flag}': directives start with '--'") });
            };
            let n = tail.iter().position(|a| a.starts_with("--") && a.len() > 2).unwrap_or(tail.len());
            let values = &tail[..n];
            let line = format!("{name} {}", values.join(" "));
            config
                .apply_line(name, values)
                .map_err(|e| ConfigError { message: fatal("(command line)", 1, &line, &e) })?;
            rest = &tail[n..];
        }
        Ok(config)
    }
}

/// A directive's value as a config-file line would spell it.
fn file_value(name: &str, value: &str) -> String {
    let list = matches!(name, "save" | "bind");
    if value.is_empty() {
        "\"\"".to_string()
    } else if !list && value.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\') {
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
                    if written.insert(d.name) {
                        out.push_str(&format!("{} {}\n", d.name, file_value(d.name, &(d.get)(self))));
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
            let value = (d.get)(self);
            if written.contains(d.name) || value == (d.get)(&defaults) {
                continue;
            }
            if !header {
                out.push_str("# Generated by CONFIG REWRITE\n");
                header = true;
            }
            out.push_str(&format!("{} {}\n", d.name, file_value(d.name, &value)));
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
    fn config_file_syntax() {
        let mut c = Config::default();
        c.apply_file_text("# comment\nport 7001\nrequirepass \"a b\"\n\nmaxmemory 1gb\n", "t.conf").unwrap();
        assert_eq!((c.port, c.requirepass.as_str(), c.maxmemory), (7001, "a b", 1 << 30));
        assert!(c.apply_file_text("port 1 2\n", "t.conf").is_err());
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
