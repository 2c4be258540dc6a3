//! The directive table: every name a config file, a `--flag` or CONFIG GET/SET knows, with
//! redis-server 7.0's names, aliases, defaults, mutability and value syntax (config.c's
//! `static_configs`), and what each one does here ([`Status`]).
//!
//! A directive is stored either in a [`Config`] field (the server reads it) or, when it has no
//! effect in our design, as its canonical text in `Config::no_effect`, still validated exactly
//! as Redis validates it, so CONFIG GET shows what a file or CONFIG SET gave. Values that would
//! turn on a feature we do not have (TLS, active defragmentation, keyspace notifications, an
//! ACL file) are refused rather than silently ignored.

use super::parse::*;
use super::Config;
use crate::store::EvictionPolicy;

type Getter = fn(&Config) -> String;
type Setter = fn(&mut Config, &[String]) -> Result<(), SetError>;

/// CONFIG SET refuses it: "can't set immutable config".
pub const IMMUTABLE: u8 = 1;
/// CONFIG SET allows it only as `enable-protected-configs` says.
pub const PROTECTED: u8 = 2;
/// Takes several words (`save 3600 1 300 100`): one quoted value is split into words.
pub const MULTI_ARG: u8 = 4;
/// Left out of CONFIG GET patterns (an exact name still answers), as Redis's test knobs.
pub const HIDDEN: u8 = 8;
/// A secret: its CONFIG SET value is `(redacted)` in MONITOR and the slow log.
pub const SENSITIVE: u8 = 16;
/// CONFIG SET answers -LOADING while the dataset loads.
pub const DENY_LOADING: u8 = 32;

/// What a directive does in Ferrocache (listed in docs/OPERATIONS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Read and acted on as Redis does.
    Honoured,
    /// Accepted and validated as Redis does; changes nothing in our design (the reason).
    NoEffect(&'static str),
    /// Ferrocache's own directive (not Redis's).
    Own,
}

/// A value stored as text because it has no effect here: how it is validated.
#[derive(Clone, Copy)]
pub enum Kind {
    Bool,
    Num(Num),
    /// Redis's enum configs: case-insensitive, the error lists the names in this order.
    Enum(&'static [&'static str]),
    Str,
    /// Validates and returns the canonical text.
    Check(fn(&[String]) -> Result<String, SetError>),
}

impl Kind {
    fn parse(&self, v: &[String]) -> Result<String, SetError> {
        match self {
            Kind::Bool => parse_bool(v).map(yes_no),
            Kind::Num(n) => num(v, *n).map(|x| n.show(x)),
            Kind::Enum(names) => parse_enum(v, names),
            Kind::Str => one(v).map(str::to_string),
            Kind::Check(f) => f(v),
        }
    }
}

#[derive(Clone, Copy)]
enum Value {
    Field { get: Getter, set: Setter },
    Stored { kind: Kind, default: &'static str },
}

/// One directive: its names, flags, status and storage.
pub struct Directive {
    pub name: &'static str,
    /// Redis's other name for it (`slave…` for `replica…`), answered as its own entry.
    pub alias: Option<&'static str>,
    flags: u8,
    pub status: Status,
    value: Value,
}

impl Directive {
    const fn new(name: &'static str, value: Value) -> Directive {
        Directive { name, alias: None, flags: 0, status: Status::Honoured, value }
    }

    const fn stored(name: &'static str, kind: Kind, default: &'static str, why: &'static str) -> Directive {
        Directive { status: Status::NoEffect(why), ..Directive::new(name, Value::Stored { kind, default }) }
    }

    const fn alias(self, alias: &'static str) -> Directive {
        Directive { alias: Some(alias), ..self }
    }

    const fn flags(self, flags: u8) -> Directive {
        Directive { flags: self.flags | flags, ..self }
    }

    const fn status(self, status: Status) -> Directive {
        Directive { status, ..self }
    }

    pub fn mutable(&self) -> bool {
        self.flags & IMMUTABLE == 0
    }

    pub fn protected(&self) -> bool {
        self.flags & PROTECTED != 0
    }

    pub fn multi_arg(&self) -> bool {
        self.flags & MULTI_ARG != 0
    }

    pub fn hidden(&self) -> bool {
        self.flags & HIDDEN != 0
    }

    pub fn sensitive(&self) -> bool {
        self.flags & SENSITIVE != 0
    }

    pub fn deny_loading(&self) -> bool {
        self.flags & DENY_LOADING != 0
    }

    /// The value as CONFIG GET shows it.
    pub fn get(&self, c: &Config) -> String {
        match self.value {
            Value::Field { get, .. } => get(c),
            Value::Stored { default, .. } => c.no_effect.get(self.name).cloned().unwrap_or_else(|| default.into()),
        }
    }

    /// Validates and stores `args` (already split into words for multi-word directives).
    pub fn set(&self, c: &mut Config, args: &[String]) -> Result<(), SetError> {
        match self.value {
            Value::Field { set, .. } => set(c, args),
            Value::Stored { kind, .. } => {
                let text = kind.parse(args)?;
                c.no_effect.insert(self.name, text);
                Ok(())
            }
        }
    }

    /// CONFIG SET's one value: multi-word directives split it on single spaces, as Redis's
    /// `performInterfaceSet` (`sdssplitlen`), so `""` is no words at all.
    pub fn set_from_value(&self, c: &mut Config, value: &str) -> Result<(), SetError> {
        if self.multi_arg() {
            let words: Vec<String> =
                if value.is_empty() { Vec::new() } else { value.split(' ').map(str::to_string).collect() };
            self.set(c, &words)
        } else {
            self.set(c, &[value.to_string()])
        }
    }
}

macro_rules! field {
    ($name:literal, |$c:ident| $get:expr, |$cs:ident, $v:ident| $set:expr) => {
        Directive::new(
            $name,
            Value::Field {
                get: |$c: &Config| $get,
                set: |$cs: &mut Config, $v: &[String]| {
                    $set;
                    Ok(())
                },
            },
        )
    };
}

const INT_MIN: i128 = i32::MIN as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;

/// Redis's integer types, by their bounds and how they are compared.
const fn int(min: i128, max: i128) -> Kind {
    Kind::Num(Num::int(min, max))
}
const fn size(min: i128, max: i128) -> Kind {
    Kind::Num(Num::int(min, max).unsigned())
}
const fn size_mem(min: i128, max: i128) -> Kind {
    Kind::Num(Num::memory(min, max).unsigned())
}

const WHY_ENCODING: &str =
    "values are stored in one encoding; this tunes Redis's compact encodings of types we do not have";
const WHY_LIST_ENCODING: &str =
    "lists have one encoding in memory, packed nodes of about 8 KB whose elements share prefixes with their neighbours (OBJECT ENCODING says quicklist, as in 7.0); RDB and DUMP split them as 7.0's default does";
const WHY_LAZYFREE: &str = "large values are always freed off the request path";
const WHY_DEFRAG: &str = "no active defragmentation (jemalloc purges freed pages instead)";
const WHY_TLS: &str = "no TLS: only the settings that would turn it on are refused";
const WHY_PROC: &str = "Ferrocache does not rewrite its process title";
const WHY_CPU: &str = "threads are not pinned to CPUs";
const WHY_ACL: &str = "no ACL: the default user is the only user";
const WHY_FSYNC: &str = "RDB and AOF rewrites are written in one pass and fsynced once";
const WHY_CRASH: &str = "a panic prints Rust's report; there is no crash log or memory test";
const WHY_SCRIPTS: &str = "no scripting or modules, so nothing runs long enough to be busy";
const WHY_CLUSTER_BUS: &str = "the cluster bus announces the addresses it is reached at";

fn activedefrag(v: &[String]) -> Result<String, SetError> {
    if parse_bool(v)? {
        // Redis's own refusal when built without defragmentation support.
        return Err("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution".into());
    }
    Ok(yes_no(false))
}

fn tls_off(v: &[String]) -> Result<String, SetError> {
    if parse_bool(v)? {
        return Err("Unable to update TLS configuration. Check server logs.".into());
    }
    Ok(yes_no(false))
}

fn tls_port(v: &[String]) -> Result<String, SetError> {
    match num(v, Num::int(0, 65535))? {
        0 => Ok("0".into()),
        _ => Err("Unable to update TLS configuration. Check server logs.".into()),
    }
}

fn aclfile(v: &[String]) -> Result<String, SetError> {
    match one(v)? {
        "" => Ok(String::new()),
        _ => Err("ACL files are not supported: Ferrocache has only the default user".into()),
    }
}

/// Redis's `keyspaceEventsStringToFlags` check; any class is refused, as nothing would publish
/// the events (no PUBLISH/SUBSCRIBE).
fn notify_keyspace_events(v: &[String]) -> Result<String, SetError> {
    let s = one(v)?;
    if !s.chars().all(|c| "Ag$lshzxeKEtmdn".contains(c)) {
        return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into());
    }
    if !s.is_empty() {
        return Err("keyspace notifications are not supported (no PUBLISH/SUBSCRIBE)".into());
    }
    Ok(String::new())
}

/// Redis's `isValidAnnouncedHostname`.
fn announced_hostname(v: &[String]) -> Result<String, SetError> {
    let s = one(v)?;
    if s.len() >= 256 {
        return Err("Hostnames must be less than 256 characters".into());
    }
    if !s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.') {
        return Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into());
    }
    Ok(s.to_string())
}

/// Redis's `validateProcTitleTemplate`: known `{variables}`, `{{` for a brace, and something
/// left once expanded with an empty title.
fn proc_title_template(v: &[String]) -> Result<String, SetError> {
    let s = one(v)?;
    let bad = || "template format is invalid or contains unknown variables".to_string();
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if after.is_empty() {
            return Err(bad());
        }
        if let Some(tail) = after.strip_prefix('{') {
            out.push('{');
            rest = tail;
            continue;
        }
        let close = after.find('}').ok_or_else(bad)?;
        match &after[..close] {
            "title" | "server-mode" => {}
            "listen-addr" | "config-file" | "port" | "tls-port" | "unixsocket" => out.push('x'),
            _ => return Err(bad()),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    if out.trim_matches(' ').is_empty() {
        return Err(bad());
    }
    Ok(s.to_string())
}

/// Redis's `latency-tracking-info-percentiles`: numbers in [0, 100], shown as `%f` trimmed.
fn percentiles(v: &[String]) -> Result<String, SetError> {
    let words: &[String] = if v.len() == 1 && v[0].is_empty() { &[] } else { v };
    let mut out = Vec::new();
    for w in words {
        let p: f64 = w
            .parse()
            .ok()
            .filter(|p: &f64| !p.is_nan() && !w.starts_with(char::is_whitespace))
            .ok_or_else(|| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
        if !(0.0..=100.0).contains(&p) {
            return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
        }
        let text = format!("{p:.6}");
        out.push(text.trim_end_matches('0').trim_end_matches('.').to_string());
    }
    Ok(out.join(" "))
}

/// `dir` as an absolute path without touching the disk for the usual forms (an absolute path,
/// or the default `.`).
fn absolute_dir(dir: &str) -> String {
    if std::path::Path::new(dir).is_absolute() {
        return dir.to_string();
    }
    let resolved = if dir == "." || dir == "./" { std::env::current_dir() } else { std::fs::canonicalize(dir) };
    resolved.map_or_else(|_| dir.to_string(), |p| p.display().to_string())
}

/// Redis's `pathIsBaseName`.
fn base_name(s: &str) -> bool {
    !s.contains(['/', '\\'])
}

const SHUTDOWN_FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];

/// `shutdown-on-sigint` / `-sigterm`: `default`, or any of save|nosave, now, force.
fn shutdown_flags(v: &[String]) -> Result<String, SetError> {
    let mut set = [false; 5];
    if v.is_empty() {
        return Err(enum_error(SHUTDOWN_FLAGS));
    }
    for w in v {
        let i =
            SHUTDOWN_FLAGS.iter().position(|f| f.eq_ignore_ascii_case(w)).ok_or_else(|| enum_error(SHUTDOWN_FLAGS))?;
        set[i] = true;
    }
    if set[1] && set[2] {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
    }
    let names: Vec<&str> = (1..5).filter(|&i| set[i]).map(|i| SHUTDOWN_FLAGS[i]).collect();
    Ok(if names.is_empty() { "default".into() } else { names.join(" ") })
}

fn oom_score_adj_values(v: &[String]) -> Result<[i32; 3], SetError> {
    if v.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut out = [0; 3];
    for (slot, w) in out.iter_mut().zip(v) {
        *slot = strtoll(w, 10)
            .filter(|n| (-2000..=2000).contains(n))
            .ok_or_else(|| "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".to_string())?
            as i32;
    }
    if out[1] < out[0] || out[2] < out[1] {
        tracing::warn!(
            "The oom-score-adj-values configuration may not work for non-privileged processes! Please consult the documentation."
        );
    }
    Ok(out)
}

/// The directive table: the single list CLI flags, config files and CONFIG read. Redis 7.0's
/// directives in config.c's order, then Ferrocache's own.
pub static DIRECTIVES: &[Directive] = &[
    // Booleans.
    field!("rdbchecksum", |c| yes_no(c.rdbchecksum), |c, v| c.rdbchecksum = parse_bool(v)?).flags(IMMUTABLE),
    field!("daemonize", |c| yes_no(c.daemonize), |c, v| c.daemonize = parse_bool(v)?).flags(IMMUTABLE),
    Directive::stored("io-threads-do-reads", Kind::Bool, "no", "connections are read by the thread that serves them")
        .flags(IMMUTABLE),
    Directive::stored("always-show-logo", Kind::Bool, "no", "Ferrocache logs no ASCII-art logo").flags(IMMUTABLE),
    field!("protected-mode", |c| yes_no(c.protected_mode), |c, v| c.protected_mode = parse_bool(v)?),
    field!("rdbcompression", |c| yes_no(c.rdbcompression), |c, v| c.rdbcompression = parse_bool(v)?),
    Directive::stored(
        "rdb-del-sync-files",
        Kind::Bool,
        "no",
        "replication transfers the RDB from memory; no sync file is left to delete",
    ),
    Directive::stored("activerehashing", Kind::Bool, "yes", "tables grow incrementally; there is no rehash to drive"),
    field!("stop-writes-on-bgsave-error", |c| yes_no(c.stop_writes_on_bgsave_error), |c, v| c
        .stop_writes_on_bgsave_error =
        parse_bool(v)?),
    Directive::stored("set-proc-title", Kind::Bool, "yes", WHY_PROC).flags(IMMUTABLE),
    Directive::stored("dynamic-hz", Kind::Bool, "yes", "background cycles run at `hz`; they do not scale with clients"),
    Directive::stored("lazyfree-lazy-eviction", Kind::Bool, "no", WHY_LAZYFREE),
    Directive::stored("lazyfree-lazy-expire", Kind::Bool, "no", WHY_LAZYFREE),
    Directive::stored("lazyfree-lazy-server-del", Kind::Bool, "no", WHY_LAZYFREE),
    Directive::stored("lazyfree-lazy-user-del", Kind::Bool, "no", WHY_LAZYFREE),
    Directive::stored("lazyfree-lazy-user-flush", Kind::Bool, "no", WHY_LAZYFREE),
    field!("repl-disable-tcp-nodelay", |c| yes_no(c.repl_disable_tcp_nodelay), |c, v| c.repl_disable_tcp_nodelay =
        parse_bool(v)?),
    field!("repl-diskless-sync", |c| yes_no(c.repl_diskless_sync), |c, v| c.repl_diskless_sync = parse_bool(v)?),
    Directive::stored("aof-rewrite-incremental-fsync", Kind::Bool, "yes", WHY_FSYNC),
    Directive::stored(
        "no-appendfsync-on-rewrite",
        Kind::Bool,
        "no",
        "a rewrite runs on its own thread and does not stall the AOF's fsync",
    ),
    field!("cluster-require-full-coverage", |c| yes_no(c.cluster_require_full_coverage), |c, v| c
        .cluster_require_full_coverage =
        parse_bool(v)?),
    Directive::stored("rdb-save-incremental-fsync", Kind::Bool, "yes", WHY_FSYNC),
    field!("aof-load-truncated", |c| yes_no(c.aof_load_truncated), |c, v| c.aof_load_truncated = parse_bool(v)?),
    field!("aof-use-rdb-preamble", |c| yes_no(c.aof_use_rdb_preamble), |c, v| c.aof_use_rdb_preamble = parse_bool(v)?),
    Directive::stored("aof-timestamp-enabled", Kind::Bool, "no", "the AOF carries no timestamp annotations"),
    field!("cluster-replica-no-failover", |c| yes_no(c.cluster_replica_no_failover), |c, v| c
        .cluster_replica_no_failover =
        parse_bool(v)?)
    .alias("cluster-slave-no-failover"),
    field!("replica-lazy-flush", |c| yes_no(c.replica_lazy_flush), |c, v| c.replica_lazy_flush = parse_bool(v)?)
        .alias("slave-lazy-flush"),
    field!("replica-serve-stale-data", |c| yes_no(c.replica_serve_stale_data), |c, v| c.replica_serve_stale_data =
        parse_bool(v)?)
    .alias("slave-serve-stale-data"),
    field!("replica-read-only", |c| yes_no(c.replica_read_only), |c, v| c.replica_read_only = parse_bool(v)?)
        .alias("slave-read-only"),
    field!("replica-ignore-maxmemory", |c| yes_no(c.replica_ignore_maxmemory), |c, v| c.replica_ignore_maxmemory =
        parse_bool(v)?)
    .alias("slave-ignore-maxmemory"),
    field!("jemalloc-bg-thread", |c| yes_no(c.jemalloc_bg_thread), |c, v| c.jemalloc_bg_thread = parse_bool(v)?),
    Directive::stored(
        "activedefrag",
        Kind::Check(activedefrag),
        "no",
        "no active defragmentation: `yes` is refused with the text of a Redis built without it",
    ),
    field!("syslog-enabled", |c| yes_no(c.syslog_enabled), |c, v| c.syslog_enabled = parse_bool(v)?).flags(IMMUTABLE),
    field!("cluster-enabled", |c| yes_no(c.cluster_enabled), |c, v| c.cluster_enabled = parse_bool(v)?)
        .flags(IMMUTABLE),
    field!("appendonly", |c| yes_no(c.appendonly), |c, v| c.appendonly = parse_bool(v)?).flags(DENY_LOADING),
    field!("cluster-allow-reads-when-down", |c| yes_no(c.cluster_allow_reads_when_down), |c, v| c
        .cluster_allow_reads_when_down =
        parse_bool(v)?),
    field!("cluster-allow-pubsubshard-when-down", |c| yes_no(c.cluster_allow_pubsubshard_when_down), |c, v| c
        .cluster_allow_pubsubshard_when_down =
        parse_bool(v)?),
    Directive::stored("crash-log-enabled", Kind::Bool, "yes", WHY_CRASH),
    Directive::stored("crash-memcheck-enabled", Kind::Bool, "yes", WHY_CRASH),
    Directive::stored("use-exit-on-panic", Kind::Bool, "no", WHY_CRASH).flags(HIDDEN),
    Directive::stored(
        "disable-thp",
        Kind::Bool,
        "yes",
        "transparent huge pages are left as the system sets them (no fork, so no copy-on-write cost)",
    )
    .flags(IMMUTABLE),
    field!("cluster-allow-replica-migration", |c| yes_no(c.cluster_allow_replica_migration), |c, v| c
        .cluster_allow_replica_migration =
        parse_bool(v)?),
    field!("replica-announced", |c| yes_no(c.replica_announced), |c, v| c.replica_announced = parse_bool(v)?),
    field!("latency-tracking", |c| yes_no(c.latency_tracking), |c, v| c.latency_tracking = parse_bool(v)?),
    Directive::stored("aof-disable-auto-gc", Kind::Bool, "no", "a rewrite removes the history files it replaces"),
    Directive::stored(
        "replica-ignore-disk-write-errors",
        Kind::Bool,
        "no",
        "a replica does not write to disk while it replicates",
    ),
    // Strings.
    Directive::stored("aclfile", Kind::Check(aclfile), "", "no ACL: a file to load users from is refused")
        .flags(IMMUTABLE),
    field!("unixsocket", |c| c.unixsocket.clone(), |c, v| c.unixsocket = one(v)?.to_string()).flags(IMMUTABLE),
    field!("pidfile", |c| c.pidfile.clone(), |c, v| c.pidfile = one(v)?.to_string()).flags(IMMUTABLE),
    field!("replica-announce-ip", |c| c.replica_announce_ip.clone(), |c, v| c.replica_announce_ip =
        one(v)?.to_string())
    .alias("slave-announce-ip"),
    field!("masteruser", |c| c.masteruser.clone(), |c, v| c.masteruser = one(v)?.to_string()).flags(SENSITIVE),
    field!("cluster-announce-ip", |c| c.cluster_announce_ip.clone(), |c, v| c.cluster_announce_ip =
        one(v)?.to_string()),
    field!("cluster-config-file", |c| c.cluster_config_file.clone(), |c, v| c.cluster_config_file =
        one(v)?.to_string())
    .flags(IMMUTABLE),
    Directive::stored("cluster-announce-hostname", Kind::Check(announced_hostname), "", WHY_CLUSTER_BUS),
    field!("syslog-ident", |c| c.syslog_ident.clone(), |c, v| c.syslog_ident = one(v)?.to_string()).flags(IMMUTABLE),
    field!("dbfilename", |c| c.dbfilename.clone(), |c, v| {
        let f = one(v)?;
        if !base_name(f) {
            return Err("dbfilename can't be a path, just a filename".into());
        }
        c.dbfilename = f.to_string()
    })
    .flags(PROTECTED),
    field!("appendfilename", |c| c.appendfilename.clone(), |c, v| {
        let f = one(v)?;
        if f.is_empty() {
            return Err("appendfilename can't be empty".into());
        }
        if !base_name(f) {
            return Err("appendfilename can't be a path, just a filename".into());
        }
        c.appendfilename = f.to_string()
    })
    .flags(IMMUTABLE),
    field!("appenddirname", |c| c.appenddirname.clone(), |c, v| {
        let d = one(v)?;
        if d.is_empty() {
            return Err("appenddirname can't be empty".into());
        }
        if !base_name(d) {
            return Err("appenddirname can't be a path, just a dirname".into());
        }
        c.appenddirname = d.to_string()
    })
    .flags(IMMUTABLE),
    Directive::stored("server_cpulist", Kind::Str, "", WHY_CPU).flags(IMMUTABLE),
    Directive::stored("bio_cpulist", Kind::Str, "", WHY_CPU).flags(IMMUTABLE),
    Directive::stored("aof_rewrite_cpulist", Kind::Str, "", WHY_CPU).flags(IMMUTABLE),
    Directive::stored("bgsave_cpulist", Kind::Str, "", WHY_CPU).flags(IMMUTABLE),
    Directive::stored("ignore-warnings", Kind::Str, "", "Ferrocache runs none of Redis's kernel-bug start-up checks"),
    Directive::stored(
        "proc-title-template",
        Kind::Check(proc_title_template),
        "{title} {listen-addr} {server-mode}",
        WHY_PROC,
    ),
    Directive::stored(
        "bind-source-addr",
        Kind::Str,
        "",
        "outgoing connections (replication, MIGRATE, the cluster bus) use the route's source address",
    ),
    field!("logfile", |c| c.logfile.clone(), |c, v| c.logfile = one(v)?.to_string()).flags(IMMUTABLE),
    field!("masterauth", |c| c.masterauth.clone(), |c, v| c.masterauth = one(v)?.to_string()).flags(SENSITIVE),
    field!("requirepass", |c| c.requirepass.clone(), |c, v| c.requirepass = one(v)?.to_string()).flags(SENSITIVE),
    // Enums.
    field!("supervised", |c| c.supervised.clone(), |c, v| c.supervised =
        parse_enum(v, &["upstart", "systemd", "auto", "no"])?)
    .flags(IMMUTABLE),
    field!("syslog-facility", |c| c.syslog_facility.clone(), |c, v| c.syslog_facility =
        parse_enum(v, &crate::logging::SYSLOG_FACILITIES)?)
    .flags(IMMUTABLE),
    field!("repl-diskless-load", |c| c.repl_diskless_load.clone(), |c, v| c.repl_diskless_load =
        parse_enum(v, &["disabled", "on-empty-db", "swapdb"])?)
    .flags(DENY_LOADING),
    field!("loglevel", |c| c.loglevel.clone(), |c, v| c.loglevel =
        parse_enum(v, &["debug", "verbose", "notice", "warning"])?),
    field!("maxmemory-policy", |c| c.maxmemory_policy.name().to_string(), |c, v| {
        let names: Vec<&str> = EvictionPolicy::ALL.iter().map(|p| p.name()).collect();
        c.maxmemory_policy = EvictionPolicy::parse(&parse_enum(v, &names)?).expect("validated")
    }),
    field!("appendfsync", |c| c.appendfsync.clone(), |c, v| c.appendfsync =
        parse_enum(v, &["everysec", "always", "no"])?),
    field!("oom-score-adj", |c| c.oom_score_adj.clone(), |c, v| {
        // `relative` is `yes`'s other name; Redis shows the first name of a value.
        c.oom_score_adj = match parse_enum(v, &["no", "yes", "relative", "absolute"])?.as_str() {
            "relative" => "yes".into(),
            other => other.into(),
        }
    }),
    Directive::stored("acl-pubsub-default", Kind::Enum(&["allchannels", "resetchannels"]), "resetchannels", WHY_ACL),
    Directive::stored(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
        "RESTORE and replication always check a payload completely before using it",
    ),
    field!("enable-protected-configs", |c| c.enable_protected_configs.clone(), |c, v| c.enable_protected_configs =
        parse_enum(v, &["no", "yes", "local"])?)
    .flags(IMMUTABLE),
    field!("enable-debug-command", |c| c.enable_debug_command.clone(), |c, v| c.enable_debug_command =
        parse_enum(v, &["no", "yes", "local"])?)
    .flags(IMMUTABLE),
    Directive::stored("enable-module-command", Kind::Enum(&["no", "yes", "local"]), "no", WHY_SCRIPTS).flags(IMMUTABLE),
    field!("cluster-preferred-endpoint-type", |c| c.cluster_preferred_endpoint_type.clone(), |c, v| c
        .cluster_preferred_endpoint_type =
        parse_enum(v, &["ip", "hostname", "unknown-endpoint"])?),
    Directive::stored(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
        "a replica applies the primary's effects, which cannot fail as scripts can",
    ),
    field!("shutdown-on-sigint", |c| c.shutdown_on_sigint.clone(), |c, v| c.shutdown_on_sigint = shutdown_flags(v)?)
        .flags(MULTI_ARG),
    field!("shutdown-on-sigterm", |c| c.shutdown_on_sigterm.clone(), |c, v| c.shutdown_on_sigterm = shutdown_flags(v)?)
        .flags(MULTI_ARG),
    // Integers.
    field!("databases", |c| c.databases.to_string(), |c, v| c.databases = parse_int(v, 1, 1 << 20)? as usize)
        .flags(IMMUTABLE),
    // Mutable: CONFIG SET listens anew (`server::rebind`), as Redis's `changeListenPort`.
    field!("port", |c| c.port.to_string(), |c, v| c.port = parse_int(v, 0, 65535)? as u16),
    field!("io-threads", |c| c.io_threads.to_string(), |c, v| c.io_threads = parse_int(v, 1, 128)? as u32)
        .flags(IMMUTABLE),
    field!("auto-aof-rewrite-percentage", |c| c.auto_aof_rewrite_percentage.to_string(), |c, v| c
        .auto_aof_rewrite_percentage =
        num(v, Num::INT)? as u64),
    field!("cluster-replica-validity-factor", |c| c.cluster_replica_validity_factor.to_string(), |c, v| c
        .cluster_replica_validity_factor =
        num(v, Num::INT)? as u64)
    .alias("cluster-slave-validity-factor"),
    Directive::stored("list-max-listpack-size", int(INT_MIN, INT_MAX), "-2", WHY_LIST_ENCODING)
        .alias("list-max-ziplist-size"),
    field!("tcp-keepalive", |c| c.tcp_keepalive.to_string(), |c, v| c.tcp_keepalive = num(v, Num::INT)? as u64),
    field!("cluster-migration-barrier", |c| c.cluster_migration_barrier.to_string(), |c, v| c
        .cluster_migration_barrier =
        num(v, Num::INT)? as u64),
    Directive::stored("active-defrag-cycle-min", int(1, 99), "1", WHY_DEFRAG),
    Directive::stored("active-defrag-cycle-max", int(1, 99), "25", WHY_DEFRAG),
    Directive::stored("active-defrag-threshold-lower", int(0, 1000), "10", WHY_DEFRAG),
    Directive::stored("active-defrag-threshold-upper", int(0, 1000), "100", WHY_DEFRAG),
    field!("lfu-log-factor", |c| c.lfu_log_factor.to_string(), |c, v| c.lfu_log_factor = num(v, Num::INT)? as u32),
    field!("lfu-decay-time", |c| c.lfu_decay_time.to_string(), |c, v| c.lfu_decay_time = num(v, Num::INT)? as u32),
    field!("replica-priority", |c| c.replica_priority.to_string(), |c, v| c.replica_priority =
        num(v, Num::INT)? as u64)
    .alias("slave-priority"),
    field!("repl-diskless-sync-delay", |c| c.repl_diskless_sync_delay.to_string(), |c, v| c.repl_diskless_sync_delay =
        num(v, Num::INT)? as u64),
    field!("maxmemory-samples", |c| c.maxmemory_samples.to_string(), |c, v| c.maxmemory_samples =
        parse_int(v, 1, i32::MAX as i64)? as u32),
    Directive::stored(
        "maxmemory-eviction-tenacity",
        int(0, 100),
        "10",
        "eviction frees what a write needs before the write, on the writer's shard",
    ),
    field!("timeout", |c| c.timeout.to_string(), |c, v| c.timeout = num(v, Num::INT)? as u64),
    field!("replica-announce-port", |c| c.replica_announce_port.to_string(), |c, v| c.replica_announce_port =
        parse_int(v, 0, 65535)? as u16)
    .alias("slave-announce-port"),
    field!("tcp-backlog", |c| c.tcp_backlog.to_string(), |c, v| c.tcp_backlog = num(v, Num::INT)? as u32)
        .flags(IMMUTABLE),
    field!("cluster-port", |c| c.cluster_port.to_string(), |c, v| c.cluster_port = parse_int(v, 0, 65535)? as u16)
        .flags(IMMUTABLE),
    Directive::stored("cluster-announce-bus-port", int(0, 65535), "0", WHY_CLUSTER_BUS),
    Directive::stored("cluster-announce-port", int(0, 65535), "0", WHY_CLUSTER_BUS),
    Directive::stored("cluster-announce-tls-port", int(0, 65535), "0", WHY_TLS),
    field!("repl-timeout", |c| c.repl_timeout.to_string(), |c, v| c.repl_timeout =
        parse_int(v, 1, i32::MAX as i64)? as u64),
    field!("repl-ping-replica-period", |c| c.repl_ping_replica_period.to_string(), |c, v| c.repl_ping_replica_period =
        parse_int(v, 1, i32::MAX as i64)? as u64)
    .alias("repl-ping-slave-period"),
    Directive::stored("list-compress-depth", int(0, INT_MAX), "0", "list nodes are not compressed in memory"),
    field!("rdb-key-save-delay", |c| c.rdb_key_save_delay.to_string(), |c, v| c.rdb_key_save_delay =
        num(v, Num::int(INT_MIN, INT_MAX))?)
    .flags(HIDDEN),
    field!("key-load-delay", |c| c.key_load_delay.to_string(), |c, v| c.key_load_delay =
        num(v, Num::int(INT_MIN, INT_MAX))?)
    .flags(HIDDEN),
    Directive::stored(
        "active-expire-effort",
        int(1, 10),
        "1",
        "the active expiry cycle keeps Redis's effort-1 budget (25% of a tick)",
    ),
    field!("hz", |c| c.hz.to_string(), |c, v| c.hz = num(v, Num::INT)?.clamp(1, 500) as u32),
    field!("min-replicas-to-write", |c| c.min_replicas_to_write.to_string(), |c, v| c.min_replicas_to_write =
        num(v, Num::INT)? as u64)
    .alias("min-slaves-to-write"),
    field!("min-replicas-max-lag", |c| c.min_replicas_max_lag.to_string(), |c, v| c.min_replicas_max_lag =
        num(v, Num::INT)? as u64)
    .alias("min-slaves-max-lag"),
    Directive::stored("watchdog-period", int(0, INT_MAX), "0", WHY_CRASH).flags(HIDDEN),
    Directive::stored(
        "shutdown-timeout",
        int(0, INT_MAX),
        "10",
        "shutdown does not wait for replicas to catch up (they resynchronise by PSYNC)",
    ),
    field!("repl-diskless-sync-max-replicas", |c| c.repl_diskless_sync_max_replicas.to_string(), |c, v| c
        .repl_diskless_sync_max_replicas =
        num(v, Num::INT)? as u64),
    // Unsigned integers.
    field!("maxclients", |c| c.maxclients.to_string(), |c, v| c.maxclients =
        num(v, Num::int(1, UINT_MAX).unsigned())? as u32),
    field!("unixsocketperm", |c| format!("{:o}", c.unixsocketperm), |c, v| c.unixsocketperm =
        num(v, Num::int(0, 0o777).unsigned().octal())? as u32)
    .flags(IMMUTABLE),
    Directive::stored("socket-mark-id", size(0, UINT_MAX), "0", "listening sockets carry no SO_MARK").flags(IMMUTABLE),
    Directive::stored("active-defrag-max-scan-fields", int(1, LONG_MAX), "1000", WHY_DEFRAG),
    field!("slowlog-max-len", |c| c.slowlog_max_len.to_string(), |c, v| c.slowlog_max_len = num(v, Num::LONG)? as u64),
    Directive::stored("acllog-max-len", int(0, LONG_MAX), "128", WHY_ACL),
    Directive::stored("busy-reply-threshold", int(0, LONG_MAX), "5000", WHY_SCRIPTS).alias("lua-time-limit"),
    field!("cluster-node-timeout", |c| c.cluster_node_timeout.to_string(), |c, v| c.cluster_node_timeout =
        num(v, Num::LONG)? as u64),
    field!("slowlog-log-slower-than", |c| c.slowlog_log_slower_than.to_string(), |c, v| c.slowlog_log_slower_than =
        num(v, Num::int(-1, LONG_MAX))?),
    field!("latency-monitor-threshold", |c| c.latency_monitor_threshold.to_string(), |c, v| c
        .latency_monitor_threshold =
        num(v, Num::LONG)? as u64),
    field!("proto-max-bulk-len", |c| c.proto_max_bulk_len.to_string(), |c, v| c.proto_max_bulk_len =
        num(v, Num::memory(1 << 20, LONG_MAX))? as u64),
    Directive::stored("stream-node-max-entries", int(0, LONG_MAX), "100", WHY_ENCODING),
    field!("repl-backlog-size", |c| c.repl_backlog_size.to_string(), |c, v| c.repl_backlog_size =
        num(v, Num::memory(1, LONG_MAX))? as u64),
    field!("maxmemory", |c| c.maxmemory.to_string(), |c, v| c.maxmemory = parse_mem_arg(v)?),
    Directive::stored(
        "cluster-link-sendbuf-limit",
        Kind::Num(Num::memory(0, ULLONG_MAX).unsigned()),
        "0",
        "the cluster bus carries Raft messages with their own bounds",
    ),
    // Read by the hash and set commands from the stored text (`commands/hash.rs`, `set.rs`).
    Directive::stored("hash-max-listpack-entries", size(0, LONG_MAX), "512", "")
        .alias("hash-max-ziplist-entries")
        .status(Status::Honoured),
    Directive::stored("set-max-intset-entries", size(0, LONG_MAX), "512", "").status(Status::Honoured),
    Directive::stored("zset-max-listpack-entries", size(0, LONG_MAX), "128", "")
        .alias("zset-max-ziplist-entries")
        .status(Status::Honoured),
    Directive::stored("active-defrag-ignore-bytes", size_mem(1, LONG_MAX), "104857600", WHY_DEFRAG),
    Directive::stored("hash-max-listpack-value", size_mem(0, LONG_MAX), "64", "")
        .alias("hash-max-ziplist-value")
        .status(Status::Honoured),
    Directive::stored("stream-node-max-bytes", size_mem(0, LONG_MAX), "4096", WHY_ENCODING),
    Directive::stored("zset-max-listpack-value", size_mem(0, LONG_MAX), "64", "")
        .alias("zset-max-ziplist-value")
        .status(Status::Honoured),
    Directive::stored("hll-sparse-max-bytes", size_mem(0, LONG_MAX), "3000", WHY_ENCODING),
    Directive::stored("tracking-table-max-keys", size(0, LONG_MAX), "1000000", "no CLIENT TRACKING"),
    field!("client-query-buffer-limit", |c| c.client_query_buffer_limit.to_string(), |c, v| c
        .client_query_buffer_limit =
        num(v, Num::memory(1 << 20, LONG_MAX).unsigned())? as u64),
    field!("maxmemory-clients", |c| MaxmemoryClients::SPEC.show(c.maxmemory_clients.raw()), |c, v| c
        .maxmemory_clients =
        MaxmemoryClients::from_raw(num(v, MaxmemoryClients::SPEC)?)),
    field!("repl-backlog-ttl", |c| c.repl_backlog_ttl.to_string(), |c, v| c.repl_backlog_ttl =
        num(v, Num::LONG)? as u64),
    field!("auto-aof-rewrite-min-size", |c| c.auto_aof_rewrite_min_size.to_string(), |c, v| c
        .auto_aof_rewrite_min_size =
        num(v, Num::memory(0, LONG_MAX))? as u64),
    Directive::stored(
        "loading-process-events-interval-bytes",
        int(1024, INT_MAX),
        "2097152",
        "loading runs off the request path; clients are answered -LOADING meanwhile",
    )
    .flags(HIDDEN),
    // TLS (Redis built with TLS, as Debian's is): off, and only "off" is accepted.
    Directive::stored("tls-port", Kind::Check(tls_port), "0", WHY_TLS),
    Directive::stored("tls-session-cache-size", int(0, INT_MAX), "20480", WHY_TLS),
    Directive::stored("tls-session-cache-timeout", int(0, INT_MAX), "300", WHY_TLS),
    Directive::stored("tls-cluster", Kind::Check(tls_off), "no", WHY_TLS),
    Directive::stored("tls-replication", Kind::Check(tls_off), "no", WHY_TLS),
    Directive::stored("tls-auth-clients", Kind::Enum(&["no", "yes", "optional"]), "yes", WHY_TLS),
    Directive::stored("tls-prefer-server-ciphers", Kind::Bool, "no", WHY_TLS),
    Directive::stored("tls-session-caching", Kind::Bool, "yes", WHY_TLS),
    Directive::stored("tls-cert-file", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-key-file", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-key-file-pass", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-client-cert-file", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-client-key-file", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-client-key-file-pass", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-dh-params-file", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-ca-cert-file", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-ca-cert-dir", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-protocols", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-ciphers", Kind::Str, "", WHY_TLS),
    Directive::stored("tls-ciphersuites", Kind::Str, "", WHY_TLS),
    // Special.
    field!(
        "dir",
        // Redis shows getcwd(), an absolute path; ours is resolved the same way.
        |c| absolute_dir(&c.dir),
        |c, v| {
            let d = one(v)?;
            // Redis chdir()s and answers strerror's text; we keep the path instead.
            match std::fs::metadata(d) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err("Not a directory".into()),
                Err(e) => return Err(strerror(&e)),
            }
            c.dir = d.to_string()
        }
    )
    .flags(PROTECTED | DENY_LOADING),
    field!("save", |c| c.save.clone(), |c, v| c.save = parse_save(v)?).flags(MULTI_ARG),
    field!("client-output-buffer-limit", |c| c.client_output_buffer_limit.show(), |c, v| c
        .client_output_buffer_limit
        .update(v)?)
    .flags(MULTI_ARG),
    field!("oom-score-adj-values", |c| c.oom_score_adj_values.map(|v| v.to_string()).join(" "), |c, v| c
        .oom_score_adj_values =
        oom_score_adj_values(v)?)
    .flags(MULTI_ARG),
    Directive::stored(
        "notify-keyspace-events",
        Kind::Check(notify_keyspace_events),
        "",
        "no keyspace notifications: only the empty value (off) is accepted",
    ),
    field!("bind", |c| c.bind.join(" "), |c, v| {
        if v.len() > 16 {
            return Err("Too many bind addresses specified.".into());
        }
        c.bind = if v.len() == 1 && v[0].is_empty() { Vec::new() } else { v.to_vec() }
    })
    .flags(MULTI_ARG),
    field!("replicaof", |c| c.replicaof.as_ref().map_or(String::new(), |(h, p)| format!("{h} {p}")), |c, v| {
        c.replicaof = match v {
            [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => None,
            [host, port] => {
                let port = strtoll(port, 10)
                    .filter(|p| (0..=65535).contains(p) && !port.is_empty())
                    .ok_or_else(|| "Invalid master port".to_string())?;
                Some((host.to_string(), port as u16))
            }
            _ => return Err("wrong number of arguments".into()),
        }
    })
    .alias("slaveof")
    .flags(IMMUTABLE | MULTI_ARG),
    field!("latency-tracking-info-percentiles", |c| c.latency_tracking_info_percentiles.clone(), |c, v| c
        .latency_tracking_info_percentiles =
        percentiles(v)?)
    .flags(MULTI_ARG),
    // Ferrocache's own.
    field!("log-format", |c| c.log_format.clone(), |c, v| c.log_format = parse_enum(v, &["redis", "json"])?)
        .flags(IMMUTABLE)
        .status(Status::Own),
    field!("shards", |c| c.shards.to_string(), |c, v| {
        let n = parse_int(v, 1, 65536)? as usize;
        if !n.is_power_of_two() {
            return Err("argument must be a power of two".into());
        }
        c.shards = n
    })
    .flags(IMMUTABLE)
    .status(Status::Own),
    field!("threads", |c| c.threads.to_string(), |c, v| c.threads = parse_int(v, 0, 1024)? as usize)
        .flags(IMMUTABLE)
        .status(Status::Own),
    field!("busy-poll", |c| c.busy_poll_us.to_string(), |c, v| c.busy_poll_us = parse_int(v, 0, 1_000_000)? as u64)
        .status(Status::Own),
    field!("http-port", |c| c.http_port.to_string(), |c, v| c.http_port = parse_int(v, 0, 65535)? as u16)
        .flags(IMMUTABLE)
        .status(Status::Own),
    field!("http-bind", |c| c.http_bind.clone(), |c, v| c.http_bind = one(v)?.to_string())
        .flags(IMMUTABLE)
        .status(Status::Own),
];

/// Finds a directive by its name or alias (any case); also returns the spelling matched, which
/// Redis treats as a config of its own (CONFIG SET `slave-read-only` and `replica-read-only`
/// together is no duplicate there).
pub fn lookup(name: &str) -> Option<(&'static Directive, &'static str)> {
    DIRECTIVES.iter().find_map(|d| {
        if d.name.eq_ignore_ascii_case(name) {
            Some((d, d.name))
        } else {
            d.alias.filter(|a| a.eq_ignore_ascii_case(name)).map(|a| (d, a))
        }
    })
}

pub fn find_directive(name: &str) -> Option<&'static Directive> {
    lookup(name).map(|(d, _)| d)
}

/// Every name CONFIG GET answers to, aliases included, with its directive.
pub fn all_names() -> impl Iterator<Item = (&'static str, &'static Directive)> {
    DIRECTIVES.iter().flat_map(|d| std::iter::once((d.name, d)).chain(d.alias.map(|a| (a, d))))
}

/// Directives Redis 7.0 reads only from a file, never through CONFIG, and that would mislead
/// here: refused with the text Redis gives for a directive it does not know.
pub const REFUSED_FILE_DIRECTIVES: &[(&str, &str)] = &[
    ("rename-command", "commands cannot be renamed or disabled"),
    ("loadmodule", "no modules"),
    ("user", "no ACL users: only requirepass for the default user"),
    ("sentinel", "no Sentinel mode"),
];

/// The status table of docs/OPERATIONS.md, one row per directive (a test keeps the two equal).
pub fn status_table() -> String {
    let mut out = String::from("| directive | CONFIG SET | status | |\n|---|---|---|---|\n");
    for d in DIRECTIVES {
        let name = match d.alias {
            Some(a) => format!("`{}` (`{a}`)", d.name),
            None => format!("`{}`", d.name),
        };
        let set = if !d.mutable() {
            "start-up only"
        } else if d.protected() {
            "protected"
        } else {
            "yes"
        };
        let (status, why) = match d.status {
            Status::Honoured => ("honoured", ""),
            Status::NoEffect(why) => ("no effect", why),
            Status::Own => ("ours", ""),
        };
        let hidden = if d.hidden() { " (hidden, as in Redis)" } else { "" };
        out.push_str(&format!("| {name}{hidden} | {set} | {status} | {why} |\n"));
    }
    for (name, why) in REFUSED_FILE_DIRECTIVES {
        out.push_str(&format!("| `{name}` | - | refused | {why} |\n"));
    }
    out
}

/// Directives Redis 7.0 still reads and ignores (config.c's `deprecated_configs`), with the
/// number of words each takes.
pub const DEPRECATED: &[(&str, usize)] =
    &[("list-max-ziplist-entries", 2), ("list-max-ziplist-value", 2), ("lua-replicate-commands", 2)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_guide_lists_every_directive() {
        let guide = include_str!("../../docs/OPERATIONS.md");
        assert!(
            guide.contains(&status_table()),
            "docs/OPERATIONS.md's directive table is out of date; it should read:\n{}",
            status_table()
        );
    }

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (name, _) in all_names() {
            assert!(seen.insert(name), "{name} twice");
            assert_eq!(name, name.to_ascii_lowercase());
        }
    }

    #[test]
    fn defaults_parse_back() {
        let defaults = Config::default();
        // `replicaof` has no spelling for "none" but `no one` (Redis's CONFIG GET shows "").
        for d in DIRECTIVES.iter().filter(|d| d.name != "replicaof") {
            let mut c = Config::default();
            let value = d.get(&defaults);
            d.set_from_value(&mut c, &value).unwrap_or_else(|e| panic!("{} {value:?}: {e}", d.name));
            assert_eq!(d.get(&c), value, "{}", d.name);
        }
    }

    #[test]
    fn stored_values_are_canonical() {
        let mut c = Config::default();
        let set = |c: &mut Config, name: &str, value: &str| find_directive(name).unwrap().set_from_value(c, value);
        set(&mut c, "hash-max-ziplist-value", "1kb").unwrap();
        assert_eq!(find_directive("hash-max-listpack-value").unwrap().get(&c), "1024");
        set(&mut c, "latency-tracking-info-percentiles", "50.50 100").unwrap();
        assert_eq!(find_directive("latency-tracking-info-percentiles").unwrap().get(&c), "50.5 100");
        assert!(set(&mut c, "activedefrag", "yes").unwrap_err().starts_with("Active defragmentation cannot"));
        assert_eq!(
            set(&mut c, "notify-keyspace-events", "KQ").unwrap_err(),
            "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
        );
        set(&mut c, "shutdown-on-sigterm", "force NOW").unwrap();
        assert_eq!(c.shutdown_on_sigterm, "now force");
        set(&mut c, "oom-score-adj", "relative").unwrap();
        assert_eq!(c.oom_score_adj, "yes");
        assert!(set(&mut c, "proc-title-template", "{title}").is_err());
        set(&mut c, "proc-title-template", "{title} {port}").unwrap();
    }
}
