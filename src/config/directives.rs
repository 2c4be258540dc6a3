//! The directive table: every name a config file, a `--flag` or CONFIG GET/SET knows.

use super::parse::*;
use super::Config;
use crate::store::EvictionPolicy;

type Getter = fn(&Config) -> String;
type Setter = fn(&mut Config, &[String]) -> Result<(), SetError>;

/// One directive: its name, how to read and write it, and whether CONFIG SET may change it.
pub struct Directive {
    pub name: &'static str,
    pub get: Getter,
    pub set: Setter,
    pub mutable: bool,
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
    directive!("http-port", false, |c| c.http_port.to_string(), |c, v| c.http_port = parse_int(v, 0, 65535)? as u16),
    directive!("http-bind", false, |c| c.http_bind.clone(), |c, v| c.http_bind = one(v)?.to_string()),
    directive!("client-output-buffer-limit", true, |c| c.client_output_buffer_limit.show(), |c, v| {
        // One value holding every group (CONFIG SET, a quoted file value) or one word each.
        let words: Vec<String> = v.iter().flat_map(|s| s.split(' ').map(str::to_string)).collect();
        c.client_output_buffer_limit.update(&words)?
    }),
    directive!("maxmemory-clients", true, |c| MaxmemoryClients::SPEC.show(c.maxmemory_clients.raw()), |c, v| c
        .maxmemory_clients =
        MaxmemoryClients::from_raw(num(v, MaxmemoryClients::SPEC)?)),
    directive!("busy-poll", true, |c| c.busy_poll_us.to_string(), |c, v| c.busy_poll_us =
        parse_int(v, 0, 1_000_000)? as u64),
];

/// Settings CONFIG SET changes only as `enable-protected-configs` allows (Redis 7.0's
/// `PROTECTED_CONFIG`).
pub const PROTECTED_DIRECTIVES: &[&str] = &["dir", "dbfilename"];

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
