//! The command table: every command's name, arity, flags and key positions. Arity checks,
//! shard locking, cluster routing, replication and `COMMAND COUNT/LIST` read it. What
//! `COMMAND INFO/DOCS` show (tips, key specs, arguments, history) is Redis's own data
//! (`meta.rs`); a test holds the table's fields equal to it.
//!
//! Each family module declares its own `pub static COMMANDS: &[CommandSpec]`; this module
//! only joins them.

use super::Handler;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Command flags, as in Redis's command JSON files. Only the low 32 bits go on the wire
/// (COMMAND INFO); `ALL_SHARDS` and `WALKS_SHARDS` are Ferrocache's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u64);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const WRITE: Flags = Flags(1 << 0);
    pub const READONLY: Flags = Flags(1 << 1);
    pub const DENYOOM: Flags = Flags(1 << 2);
    pub const ADMIN: Flags = Flags(1 << 3);
    pub const PUBSUB: Flags = Flags(1 << 4);
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    pub const BLOCKING: Flags = Flags(1 << 6);
    pub const LOADING: Flags = Flags(1 << 7);
    pub const STALE: Flags = Flags(1 << 8);
    pub const SKIP_MONITOR: Flags = Flags(1 << 9);
    pub const SKIP_SLOWLOG: Flags = Flags(1 << 10);
    pub const ASKING: Flags = Flags(1 << 11);
    pub const FAST: Flags = Flags(1 << 12);
    pub const NO_AUTH: Flags = Flags(1 << 13);
    pub const MAY_REPLICATE: Flags = Flags(1 << 14);
    pub const NO_MULTI: Flags = Flags(1 << 15);
    pub const MOVABLE_KEYS: Flags = Flags(1 << 16);
    pub const ALLOW_BUSY: Flags = Flags(1 << 17);
    pub const NO_MANDATORY_KEYS: Flags = Flags(1 << 18);
    /// Refused while a replica loads its primary's data asynchronously (not implemented:
    /// Ferrocache loads synchronously); COMMAND shows it.
    pub const NO_ASYNC_LOADING: Flags = Flags(1 << 19);
    /// Not a Redis flag: the command needs the whole keyspace at once (SCAN, FLUSHALL,
    /// SWAPDB, …), so the dispatcher locks every shard for it. Only for commands that then
    /// take O(shards), not O(keys), under the locks.
    pub const ALL_SHARDS: Flags = Flags(1 << 40);
    /// Not a Redis flag: the command reads the whole keyspace in a walk that may take long
    /// (KEYS) or locks what it needs by itself (CLUSTER), so the dispatcher locks nothing and
    /// the handler takes one shard at a time (`Locked::for_each_table`). Inside EXEC, which
    /// cannot release locks mid-transaction, such a command gets every shard instead.
    pub const WALKS_SHARDS: Flags = Flags(1 << 41);

    pub const fn or(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn has(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Names as `COMMAND INFO` reports them, in Redis's order.
    pub fn names(self) -> Vec<&'static str> {
        const NAMES: &[(Flags, &str)] = &[
            (Flags::WRITE, "write"),
            (Flags::READONLY, "readonly"),
            (Flags::DENYOOM, "denyoom"),
            (Flags::ADMIN, "admin"),
            (Flags::PUBSUB, "pubsub"),
            (Flags::NOSCRIPT, "noscript"),
            (Flags::BLOCKING, "blocking"),
            (Flags::LOADING, "loading"),
            (Flags::STALE, "stale"),
            (Flags::SKIP_MONITOR, "skip_monitor"),
            (Flags::SKIP_SLOWLOG, "skip_slowlog"),
            (Flags::ASKING, "asking"),
            (Flags::FAST, "fast"),
            (Flags::NO_AUTH, "no_auth"),
            (Flags::MAY_REPLICATE, "may_replicate"),
            (Flags::NO_MULTI, "no_multi"),
            (Flags::MOVABLE_KEYS, "movablekeys"),
            (Flags::ALLOW_BUSY, "allow_busy"),
            (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
            (Flags::NO_ASYNC_LOADING, "no_async_loading"),
        ];
        NAMES.iter().filter(|(f, _)| self.has(*f)).map(|(_, n)| *n).collect()
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.or(rhs)
    }
}

/// Finite buckets of the per-command latency histogram, then one for everything slower.
/// Bucket `i < LATENCY_BUCKETS - 1` counts calls that took at most `2^(10 + i)` ns (about
/// 1 µs, 2 µs, 4 µs … 1.07 s): the powers of two Redis's LATENCY HISTOGRAM reports.
pub const LATENCY_BUCKETS: usize = 22;

/// The histogram bucket of a call that took `nanos`: a leading-zero count, no search.
#[inline]
pub fn latency_bucket(nanos: u64) -> usize {
    if nanos <= 1 << 10 {
        0
    } else {
        ((64 - (nanos - 1).leading_zeros()) as usize - 10).min(LATENCY_BUCKETS - 1)
    }
}

/// The upper bound of histogram bucket `i` in nanoseconds (`None`: the last, unbounded one).
pub fn latency_bucket_bound_ns(i: usize) -> Option<u64> {
    (i < LATENCY_BUCKETS - 1).then(|| 1u64 << (10 + i))
}

/// Per-command counters for INFO commandstats and the metrics endpoint.
#[derive(Debug, Default)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
    /// Calls by duration (see [`latency_bucket`]), not cumulative.
    pub latency: [AtomicU64; LATENCY_BUCKETS],
}

impl CommandStats {
    pub const fn new() -> Self {
        CommandStats {
            calls: AtomicU64::new(0),
            usec: AtomicU64::new(0),
            rejected_calls: AtomicU64::new(0),
            failed_calls: AtomicU64::new(0),
            latency: [const { AtomicU64::new(0) }; LATENCY_BUCKETS],
        }
    }

    pub fn reset(&self) {
        for c in [&self.calls, &self.usec, &self.rejected_calls, &self.failed_calls].into_iter().chain(&self.latency) {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Counts of one client's consecutive calls of one fast command, not yet added to the
/// shared [`CommandStats`]: a pipeline of 16 GETs then updates the shared counters once
/// instead of 16 times, and those counters, written by every worker thread, stop bouncing
/// between cores on every request. Published before the client runs a different command
/// (so a later INFO, CONFIG RESETSTAT or EXEC sees it in order), right after any command
/// that is not fast, at the end of each batch of requests and when the connection ends.
#[derive(Default)]
pub struct PendingStats {
    spec: Option<&'static CommandSpec>,
    calls: u64,
    /// Summed in nanoseconds, rounded to Redis's microseconds when published: a fast command
    /// takes well under one.
    nanos: u64,
    failed: u64,
    /// Calls per latency bucket, and which buckets are non-zero (bit i: bucket i), so that
    /// publishing touches only those: the calls of a batch mostly fall in one or two.
    latency: [u32; LATENCY_BUCKETS],
    latency_used: u32,
}

impl PendingStats {
    /// Prepares to count a call of `spec`, publishing what was counted for another command.
    pub fn switch_to(&mut self, spec: &'static CommandSpec, table: &CommandStatsTable, total: &AtomicU64) {
        if !self.spec.is_some_and(|s| std::ptr::eq(s, spec)) {
            self.publish(table, total);
            self.spec = Some(spec);
        }
    }

    /// Counts one finished call of the command set by [`switch_to`](Self::switch_to).
    #[inline]
    pub fn count(&mut self, nanos: u64, failed: bool) {
        self.calls += 1;
        self.nanos += nanos;
        self.failed += failed as u64;
        let bucket = latency_bucket(nanos);
        self.latency[bucket] += 1;
        self.latency_used |= 1 << bucket;
    }

    /// Adds the pending counts to the shared table and to `total` (total_commands_processed).
    pub fn publish(&mut self, table: &CommandStatsTable, total: &AtomicU64) {
        let Some(spec) = self.spec.take() else { return };
        if self.calls > 0 {
            let stats = table.get(spec);
            stats.calls.fetch_add(self.calls, Ordering::Relaxed);
            stats.usec.fetch_add((self.nanos + 500) / 1000, Ordering::Relaxed);
            if self.failed > 0 {
                stats.failed_calls.fetch_add(self.failed, Ordering::Relaxed);
            }
            // `latency-tracking no` drops the buckets here, once per batch rather than per call
            // (a call published after tracking was turned off is dropped too).
            let tracking = table.latency_tracking.load(Ordering::Relaxed);
            let mut used = self.latency_used;
            while used != 0 {
                let bucket = used.trailing_zeros() as usize;
                used &= used - 1;
                if tracking {
                    stats.latency[bucket].fetch_add(u64::from(self.latency[bucket]), Ordering::Relaxed);
                }
                self.latency[bucket] = 0;
            }
            total.fetch_add(self.calls, Ordering::Relaxed);
        }
        self.calls = 0;
        self.nanos = 0;
        self.failed = 0;
        self.latency_used = 0;
    }
}

/// Finds the key positions of one request (Redis's `getkeys_proc`).
pub type KeyFinder = fn(&[Bytes]) -> Vec<usize>;

/// A [`KeyFinder`] for the `numkeys key [key ...]` forms (LMPOP, BLMPOP, SINTERCARD, …):
/// the count at argument `AT`, the keys right after it. Like Redis's `genericGetKeys`, no keys
/// when the count is not an integer from 1 to the arguments left: the handler then fails
/// before touching any key.
pub fn numkeys_at<const AT: usize>(args: &[Bytes]) -> Vec<usize> {
    let left = args.len().saturating_sub(AT + 1);
    match args.get(AT).and_then(|n| crate::store::parse_i64_strict(n)) {
        Some(n) if n >= 1 && n as u64 <= left as u64 => (AT + 1..=AT + n as usize).collect(),
        _ => Vec::new(),
    }
}

/// One command (or subcommand) and everything the server needs to know about it.
pub struct CommandSpec {
    /// Lower-case name; for a subcommand, the subcommand alone (`get` of `config|get`).
    pub name: &'static str,
    /// Redis's convention: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub flags: Flags,
    /// Key positions (1-based, `last` negative counts from the end, 0: no keys).
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub handler: Handler,
    /// Group and version as Redis's docs give them (checked against `meta.rs`).
    pub group: &'static str,
    pub since: &'static str,
    /// A one-line summary in Redis 7.2's wording, for readers of the table: COMMAND DOCS
    /// serves Redis 7.0's from `meta.rs`.
    pub summary: &'static str,
    /// Redis's syntax line for the arguments, e.g. `key value [NX|XX]`: the fuzzer's option
    /// words (COMMAND DOCS serves Redis's argument tree from `meta.rs`).
    pub syntax: &'static str,
    /// ACL categories as COMMAND INFO lists them (without the leading `@`).
    pub acl: &'static [&'static str],
    pub subcommands: &'static [CommandSpec],
    /// Subcommands the handler parses itself (CLUSTER's: `ferrocache-cluster` checks them),
    /// as (name, arity): COMMAND lists them as Redis does; dispatch never sees them.
    pub external_subcommands: &'static [(&'static str, i32)],
    /// Set for subcommands: the container's name (`config`), to print `config|get`.
    pub parent: Option<&'static str>,
    /// For commands whose keys move with their options (MIGRATE … KEYS): the key positions
    /// of a request (Redis's `getkeys_proc`). The first/last/step fields then describe the
    /// fixed part only, as COMMAND INFO reports it.
    pub movable_keys: Option<KeyFinder>,
    /// Keys a command reads without declaring them (DEBUG DIGEST-VALUE: Redis's DEBUG has no
    /// keys, so cluster mode never redirects it): their shards are locked for it, in EXEC too,
    /// as a declared key's are; COMMAND and routing never see them.
    pub undeclared_keys: Option<KeyFinder>,
    /// For commands that look up keys computed at run time (SORT … BY/GET patterns): when it
    /// says so for a request, the dispatcher locks every shard for it (in EXEC too).
    pub all_shards_when: Option<fn(&[Bytes]) -> bool>,
}

impl CommandSpec {
    /// A command with no keys, no flags and no documentation yet; chain the setters below.
    pub const fn new(name: &'static str, arity: i32, handler: Handler) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags: Flags::NONE,
            first_key: 0,
            last_key: 0,
            step: 0,
            handler,
            group: "generic",
            since: "1.0.0",
            summary: "",
            syntax: "",
            acl: &[],
            subcommands: &[],
            external_subcommands: &[],
            parent: None,
            movable_keys: None,
            undeclared_keys: None,
            all_shards_when: None,
        }
    }

    pub const fn flags(mut self, flags: Flags) -> Self {
        self.flags = flags;
        self
    }

    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    /// Group, version it appeared in, one-line summary, and argument syntax.
    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
        syntax: &'static str,
    ) -> Self {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self.syntax = syntax;
        self
    }

    pub const fn acl(mut self, acl: &'static [&'static str]) -> Self {
        self.acl = acl;
        self
    }

    pub const fn subcommands(mut self, subs: &'static [CommandSpec]) -> Self {
        self.subcommands = subs;
        self
    }

    pub const fn external_subcommands(mut self, subs: &'static [(&'static str, i32)]) -> Self {
        self.external_subcommands = subs;
        self
    }

    /// The names of the subcommands COMMAND lists: the table's, then the handler's own.
    pub fn subcommand_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.subcommands.iter().map(|s| s.name).chain(self.external_subcommands.iter().map(|(n, _)| *n))
    }

    pub const fn parent(mut self, parent: &'static str) -> Self {
        self.parent = Some(parent);
        self
    }

    /// `get`, or `config|get` for a subcommand: the name used in errors and stats.
    pub fn full_name(&self) -> String {
        match self.parent {
            Some(p) => format!("{p}|{}", self.name),
            None => self.name.to_string(),
        }
    }

    pub fn is_write(&self) -> bool {
        self.flags.has(Flags::WRITE)
    }

    /// Does `argc` satisfy the arity?
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Positions of the keys in `args` (0-based), from the table's first/last/step.
    /// Declares a key-finding function for a request (see [`CommandSpec::movable_keys`]).
    pub const fn movable_keys(mut self, find: KeyFinder) -> Self {
        self.movable_keys = Some(find);
        self.flags = self.flags.or(Flags::MOVABLE_KEYS);
        self
    }

    /// Declares keys to lock but not to show (see [`CommandSpec::undeclared_keys`]).
    pub const fn undeclared_keys(mut self, find: KeyFinder) -> Self {
        self.undeclared_keys = Some(find);
        self
    }

    /// Locks every shard for the requests `when` picks (see [`CommandSpec::all_shards_when`]).
    pub const fn all_shards_when(mut self, when: fn(&[Bytes]) -> bool) -> Self {
        self.all_shards_when = Some(when);
        self
    }

    /// Whether this request needs every shard locked (the `ALL_SHARDS` flag, or
    /// [`all_shards_when`](Self::all_shards_when) says so).
    pub fn needs_all_shards(&self, args: &[Bytes]) -> bool {
        self.flags.has(Flags::ALL_SHARDS) || self.all_shards_when.is_some_and(|when| when(args))
    }

    /// The key positions of this request: the movable-keys function's if there is one,
    /// else the fixed first/last/step.
    pub fn keys_of(&self, args: &[Bytes]) -> Vec<usize> {
        match self.movable_keys {
            Some(find) => find(args),
            None => self.key_positions(args.len()).collect(),
        }
    }

    /// Whether a request's command name (any case) is this command's: the name is stored in
    /// lower case, so only the request's side needs folding.
    #[inline]
    pub fn is_named(&self, arg: &[u8]) -> bool {
        arg.len() == self.name.len() && arg.iter().zip(self.name.bytes()).all(|(&a, b)| a.to_ascii_lowercase() == b)
    }

    pub fn key_positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, step) = (self.first_key, self.step.max(1));
        let last = if self.last_key < 0 { argc as i32 + self.last_key } else { self.last_key };
        let valid = first > 0 && (last as usize) < argc;
        let (first, last) = if valid { (first, last) } else { (1, 0) };
        (first..=last).step_by(step as usize).map(|i| i as usize)
    }
}

/// Every family's commands.
pub static COMMANDS: &[&[CommandSpec]] = &[
    super::connection::COMMANDS,
    super::string::COMMANDS,
    super::hash::COMMANDS,
    super::set::COMMANDS,
    super::list::COMMANDS,
    super::keyspace::COMMANDS,
    super::dump::COMMANDS,
    super::server::COMMANDS,
    super::slowlog::COMMANDS,
    super::latency::COMMANDS,
    super::transaction::COMMANDS,
    super::introspection::COMMANDS,
    super::migrate::COMMANDS,
    super::cluster::COMMANDS,
    super::replication::COMMANDS,
    super::zset::COMMANDS,
    super::sort::COMMANDS,
];

/// The name → spec index. Keys are lower-case name bytes; ahash because this lookup runs once
/// per request and SipHash showed up in profiles.
type Index = HashMap<&'static [u8], &'static CommandSpec, ahash::RandomState>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = Index::default();
        for family in COMMANDS {
            for spec in family.iter() {
                let previous = map.insert(spec.name.as_bytes(), spec);
                assert!(previous.is_none(), "command {} declared twice", spec.name);
            }
        }
        map
    })
}

/// One server's counters for every command and subcommand, keyed by the spec's address
/// (specs live in statics; counters belong to a server, so tests can run several).
pub struct CommandStatsTable {
    stats: HashMap<usize, CommandStats, ahash::RandomState>,
    /// `latency-tracking`: whether published calls go into the latency histograms.
    latency_tracking: AtomicBool,
}

impl Default for CommandStatsTable {
    fn default() -> Self {
        CommandStatsTable {
            stats: all()
                .flat_map(|s| std::iter::once(s).chain(s.subcommands.iter()))
                .map(|s| (s as *const CommandSpec as usize, CommandStats::new()))
                .collect(),
            latency_tracking: AtomicBool::new(true),
        }
    }
}

impl CommandStatsTable {
    pub fn get(&self, spec: &'static CommandSpec) -> &CommandStats {
        self.stats.get(&(spec as *const CommandSpec as usize)).expect("every table entry has stats")
    }

    /// Applies `latency-tracking`.
    pub fn set_latency_tracking(&self, on: bool) {
        self.latency_tracking.store(on, Ordering::Relaxed);
    }

    /// Every command and subcommand with its counters, in the command table's order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static CommandSpec, &CommandStats)> {
        all().flat_map(|s| std::iter::once(s).chain(s.subcommands.iter())).map(|s| (s, self.get(s)))
    }
}

/// Looks up a command by name, case-insensitively, without allocating for short names.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index().get(&*lower).copied()
}

/// Looks up a subcommand of `parent`.
pub fn lookup_sub(parent: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    parent.subcommands.iter().find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// All commands, for COMMAND / COMMAND COUNT / COMMAND LIST.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().flat_map(|f| f.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_powers_of_two_nanoseconds() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1024), 0);
        assert_eq!(latency_bucket(1025), 1);
        assert_eq!(latency_bucket(2048), 1);
        assert_eq!(latency_bucket(2049), 2);
        assert_eq!(latency_bucket(1 << 30), LATENCY_BUCKETS - 2);
        assert_eq!(latency_bucket((1 << 30) + 1), LATENCY_BUCKETS - 1);
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
        for i in 0..LATENCY_BUCKETS - 1 {
            let bound = latency_bucket_bound_ns(i).unwrap();
            assert_eq!((latency_bucket(bound), latency_bucket(bound + 1)), (i, i + 1));
        }
        assert_eq!(latency_bucket_bound_ns(LATENCY_BUCKETS - 1), None);
    }

    #[test]
    fn pending_latency_is_published_once_per_bucket() {
        let table = CommandStatsTable::default();
        let total = AtomicU64::new(0);
        let get = lookup(b"get").unwrap();
        let mut pending = PendingStats::default();
        pending.switch_to(get, &table, &total);
        for nanos in [100, 900, 3000, 5_000_000_000] {
            pending.count(nanos, false);
        }
        pending.publish(&table, &total);
        let counts: Vec<u64> = table.get(get).latency.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!((counts[0], counts[2], counts[LATENCY_BUCKETS - 1]), (2, 1, 1));
        assert_eq!(counts.iter().sum::<u64>(), 4);
        assert_eq!(total.load(Ordering::Relaxed), 4);
        // Nothing is left pending to count twice.
        pending.switch_to(get, &table, &total);
        pending.count(100, false);
        pending.publish(&table, &total);
        assert_eq!(table.get(get).latency[0].load(Ordering::Relaxed), 3);
        // latency-tracking no: calls count, latencies do not (and are not kept for later).
        table.set_latency_tracking(false);
        pending.switch_to(get, &table, &total);
        pending.count(100, false);
        pending.publish(&table, &total);
        table.set_latency_tracking(true);
        pending.switch_to(get, &table, &total);
        pending.publish(&table, &total);
        assert_eq!(table.get(get).latency[0].load(Ordering::Relaxed), 3);
        assert_eq!(table.get(get).calls.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn every_command_is_reachable_and_consistent() {
        for spec in all() {
            assert_eq!(lookup(spec.name.as_bytes()).map(|s| s.name), Some(spec.name));
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.arity != 0, "{} has arity 0", spec.name);
            for sub in spec.subcommands {
                assert_eq!(sub.parent, Some(spec.name), "{}|{} has no parent set", spec.name, sub.name);
            }
        }
        assert!(lookup(b"GeT").is_some());
    }

    #[test]
    fn key_positions_follow_first_last_step() {
        let mset = lookup(b"mset").unwrap();
        assert_eq!(mset.key_positions(5).collect::<Vec<_>>(), vec![1, 3]);
        let get = lookup(b"get").unwrap();
        assert_eq!(get.key_positions(2).collect::<Vec<_>>(), vec![1]);
        let del = lookup(b"del").unwrap();
        assert_eq!(del.key_positions(4).collect::<Vec<_>>(), vec![1, 2, 3]);
        let ping = lookup(b"ping").unwrap();
        assert_eq!(ping.key_positions(1).count(), 0);
    }

    #[test]
    fn numkeys_finds_the_counted_keys_or_none() {
        let args = |a: &[&str]| a.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect::<Vec<_>>();
        assert_eq!(numkeys_at::<1>(&args(&["lmpop", "2", "a", "b", "left"])), vec![2, 3]);
        assert_eq!(numkeys_at::<2>(&args(&["blmpop", "0", "1", "a", "left"])), vec![3]);
        assert_eq!(numkeys_at::<1>(&args(&["sintercard", "2", "a", "b"])), vec![2, 3]);
        for bad in ["0", "-1", "x", "3", "9223372036854775807", "01"] {
            assert!(numkeys_at::<1>(&args(&["lmpop", bad, "a", "b"])).is_empty(), "{bad}");
        }
        assert!(numkeys_at::<1>(&args(&["lmpop"])).is_empty());
    }
}
