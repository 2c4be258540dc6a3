//! Command execution: the command table, the dispatcher, and one module per command family.
//!
//! A handler has the signature [`Handler`]: it reads its arguments, works on the shards the
//! dispatcher locked for it (`ctx.ks`), and returns a [`Reply`]. It never touches a socket,
//! so handlers are unit-testable in-process and a pipeline's replies leave in one write.

mod collection;
mod dispatch;
mod introspection;
mod memory;
mod meta;
mod table;

pub mod blocking;
pub mod cluster;
pub mod connection;
pub mod dump;
pub mod hash;
pub mod keyspace;
pub mod latency;
pub mod list;
pub mod migrate;
pub mod replication;
pub mod server;
pub mod set;
pub mod slowlog;
pub mod sort;
pub mod string;
pub mod transaction;
pub mod zset;

#[cfg(test)]
mod propagation_tests;
#[cfg(test)]
pub(crate) mod testing;

pub use connection::REDIS_COMPAT_VERSION;
pub use dispatch::{apply_replicated, execute, not_counted, replay};
pub use table::{
    latency_bucket, latency_bucket_bound_ns, lookup, CommandSpec, CommandStatsTable, Flags, PendingStats, COMMANDS,
    LATENCY_BUCKETS,
};

use crate::client::Client;
use crate::server::Shared;
use crate::store::Locked;
use bytes::Bytes;
use ferrocache_protocol::Reply;

/// What a handler sees: the server, the calling client, and the shards locked for it.
pub struct Ctx<'a, 's> {
    pub shared: &'a Shared,
    pub client: &'a mut Client,
    pub ks: &'a mut Locked<'s>,
    /// How this command's effect is propagated (AOF); see [`Propagation`].
    pub propagation: Propagation,
}

/// How a command's effect reaches the AOF. By default the request itself, if the command
/// changed anything; handlers whose request would not replay the same (relative TTLs,
/// floating point, deletions in disguise) rewrite it, as Redis does.
#[derive(Debug, Default)]
pub enum Propagation {
    #[default]
    AsRequest,
    /// These commands instead, whether or not the store counted a change.
    Rewritten(Vec<Vec<Bytes>>),
    /// The request even if nothing changed (FLUSHALL on an empty server, as Redis forces).
    Forced,
}

impl Ctx<'_, '_> {
    /// Whether effects are wanted at all: handlers skip building rewrites when not.
    pub fn propagating(&self) -> bool {
        self.shared.store.effects.enabled()
    }

    /// Propagates `commands` instead of the request (only worth calling when [`propagating`](Self::propagating)).
    pub fn propagate_as(&mut self, commands: Vec<Vec<Bytes>>) {
        self.propagation = Propagation::Rewritten(commands);
    }

    /// Propagates the one command `parts` instead of the request, if effects are wanted.
    pub fn propagate_one(&mut self, parts: &[&[u8]]) {
        if self.propagating() {
            self.propagation = Propagation::Rewritten(vec![parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()]);
        }
    }

    /// Propagates nothing for this command (it changed nothing worth replaying).
    pub fn propagate_nothing(&mut self) {
        self.propagation = Propagation::Rewritten(Vec::new());
    }

    /// The client's selected database.
    pub fn db(&self) -> usize {
        self.client.db
    }

    pub fn now(&self) -> u64 {
        self.ks.now()
    }
}

pub type Handler = fn(&mut Ctx, &[Bytes]) -> Reply;

/// Argument helpers shared by every family.
pub mod args {
    use super::errors;
    use crate::store::parse_i64_strict;
    use ferrocache_protocol::Reply;

    /// An argument as an integer (`getLongLongFromObjectOrReply`).
    pub fn int(arg: &[u8]) -> Result<i64, Reply> {
        parse_i64_strict(arg).ok_or_else(|| Reply::err(errors::NOT_INTEGER))
    }

    /// An argument as a double (`getDoubleFromObjectOrReply`).
    pub fn float(arg: &[u8]) -> Result<f64, Reply> {
        parse_f64(arg).ok_or_else(|| Reply::err(errors::NOT_FLOAT))
    }

    /// Redis's `string2d` (`getDoubleFromObject`): glibc's strtod over the whole argument, no
    /// leading space, not NaN, no overflow or underflow to zero ([`crate::strtod::string2d`]).
    pub fn parse_f64(arg: &[u8]) -> Option<f64> {
        crate::strtod::string2d(arg)
    }

    /// Redis's `string2ld` (`getLongDoubleFromObject`, which timeouts use), as an f64: accepted
    /// or refused as x87 `strtold` would (its range reaches 1e4932, so `1e400` is accepted and
    /// reads as +inf here, `1e-400` as 0), the value read by strtod.
    pub fn long_double(arg: &[u8]) -> Option<f64> {
        super::string::ld::Ld::parse(arg)?;
        Some(crate::strtod::strtod(arg).value)
    }

    /// Case-insensitive ASCII comparison of an argument with an option name.
    pub fn is(arg: &[u8], name: &str) -> bool {
        arg.eq_ignore_ascii_case(name.as_bytes())
    }

    pub fn lossy(arg: &[u8]) -> String {
        String::from_utf8_lossy(arg).into_owned()
    }

    /// An argument as Redis's `%s` prints it in an error: up to its first NUL byte.
    pub fn c_str(arg: &[u8]) -> &[u8] {
        arg.split(|&b| b == 0).next().unwrap_or_default()
    }
}

/// Every wire error string, in one place (as Redis's `shared.*` objects and Dragonfly's
/// `facade/error.h`): clients switch on these texts, so they must match Redis exactly.
pub mod errors {
    pub const SYNTAX: &str = "ERR syntax error";
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const DB_INDEX: &str = "ERR DB index is out of range";
    pub const NOAUTH: &str = "NOAUTH Authentication required.";
    pub const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
    pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
    pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
    pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
    pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
    pub const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to \
        persist to disk. Commands that may modify the data set are disabled, because this instance is configured to \
        report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the \
        Redis logs for details about the RDB error.";
    pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
    pub const MAX_CLIENTS: &str = "ERR max number of clients reached";
    pub const MAX_CLIENTS_CLUSTER: &str = "ERR max number of clients + cluster connections reached";
    pub const INVALID_CURSOR: &str = "ERR invalid cursor";
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    pub const EXEC_ABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
    pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
    pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
    pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
    pub const WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
    pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
    pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
    pub const OFFSET_RANGE: &str = "ERR offset is out of range";
    pub const EXPIRE_NX_INCOMPATIBLE: &str = "ERR NX and XX, GT or LT options at the same time are not compatible";
    pub const EXPIRE_GT_LT_INCOMPATIBLE: &str = "ERR GT and LT options at the same time are not compatible";
    /// `getIntFromObjectOrReply` on an integer outside the i32 range (SELECT, MOVE, COPY … DB).
    pub const INT_RANGE: &str = "ERR value is out of range, value must between -2147483648 and 2147483647";
    pub const INVALID_FIRST_DB: &str = "ERR invalid first DB index";
    pub const INVALID_SECOND_DB: &str = "ERR invalid second DB index";
    pub const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
    pub const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. \
Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
    pub const DECR_OVERFLOW: &str = "ERR decrement would overflow";
    pub const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
    pub const BIT_ARGUMENT: &str = "ERR The bit argument must be 1 or 0.";
    pub const LCS_WRONGTYPE: &str = "ERR The specified keys must contain string values";
    pub const LCS_IDX_AND_LEN: &str = "ERR If you want both the length and indexes, please just use IDX.";
    pub const LCS_TOO_BIG: &str = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
    pub const INVALID_TTL: &str = "ERR Invalid TTL value, must be >= 0";
    pub const INVALID_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
    pub const INVALID_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
    pub const DUMP_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
    pub const BAD_DATA_FORMAT: &str = "ERR Bad data format";
    // Hashes and sets.
    pub const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
    pub const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
    pub const NAN_OR_INF_VALUE: &str = "ERR value is NaN or Infinity";
    pub const OUT_OF_RANGE: &str = "ERR value is out of range";
    pub const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
    pub const NUMKEYS_POSITIVE: &str = "ERR numkeys should be greater than 0";
    pub const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
    pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

    /// `-ERR wrong number of arguments for '<name>' command` (name lower-cased, `cmd|sub` form).
    pub fn arity(name: &str) -> String {
        format!("ERR wrong number of arguments for '{}' command", name.to_ascii_lowercase())
    }

    /// `-ERR invalid expire time in '<cmd>' command`.
    pub fn invalid_expire(cmd: &str) -> String {
        format!("ERR invalid expire time in '{}' command", cmd.to_ascii_lowercase())
    }

    /// `-ERR unknown subcommand 'X'. Try CMD HELP.`
    pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> String {
        let sub = super::args::c_str(sub);
        format!("ERR unknown subcommand '{}'. Try {} HELP.", String::from_utf8_lossy(sub), cmd.to_ascii_uppercase())
    }

    /// `-ERR unknown subcommand or wrong number of arguments for 'X'. Try CMD HELP.`: Redis's
    /// `addReplySubcommandSyntaxError` (`%.128s`, so cut at 128 bytes and the first NUL).
    pub fn subcommand_syntax(sub: &[u8], cmd: &str) -> String {
        let sub = super::args::c_str(&sub[..sub.len().min(128)]);
        format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            String::from_utf8_lossy(sub),
            cmd.to_ascii_uppercase()
        )
    }

    /// `-ERR unknown command 'X', with args beginning with: 'a' 'b' `, built as Redis builds it:
    /// arguments are appended while the list is under 128 bytes, each cut to the room left
    /// and, being printed with `%s`, at its first NUL byte.
    pub fn unknown_command(args: &[bytes::Bytes]) -> String {
        let mut list = String::new();
        for a in &args[1..] {
            if list.len() >= 128 {
                break;
            }
            let room = 128 - list.len();
            let a = super::args::c_str(a);
            list.push('\'');
            list.push_str(&String::from_utf8_lossy(&a[..a.len().min(room)]));
            list.push_str("' ");
        }
        format!("ERR unknown command '{}', with args beginning with: {list}", trunc(&args[0]))
    }

    fn trunc(a: &[u8]) -> String {
        let a = super::args::c_str(a);
        String::from_utf8_lossy(&a[..a.len().min(128)]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::args::parse_f64;

    /// `string2d`, checked against redis-server 7.0 (ZADD, which reads scores with it).
    #[test]
    fn floats_parse_as_strtod_reads_them() {
        for (text, want) in [
            ("1.5", Some(1.5)),
            ("-0", Some(-0.0)),
            ("+inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("1e3", Some(1000.0)),
            ("0x10", Some(16.0)),
            ("0X1p4", Some(16.0)),
            ("-0x1.8p1", Some(-3.0)),
            ("0x.8", Some(0.5)),
            ("0xffp-4", Some(15.9375)),
            ("0x1p-1074", Some(f64::from_bits(1))),
            ("1e-320", Some(1e-320)),
            ("0x1p1024", None),
            ("1e400", None),
            ("1e-400", None),
            ("0x1p99999999999999999999", None),
            ("0x1P-99999999999999999999", None),
            ("0x0p99999999999", Some(0.0)),
            ("0x", None),
            ("0x.", None),
            ("0x1p", None),
            ("0x1p+", None),
            ("0xg", None),
            ("0x1.2.3", None),
            ("nan", None),
            ("", None),
            (" 1", None),
            ("1 ", None),
            ("1e", None),
        ] {
            let got = parse_f64(text.as_bytes());
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{text:?} gave {got:?}");
        }
    }

    /// `string2ld`, checked against redis-server 7.0 (BLPOP's timeout reads it).
    #[test]
    fn long_doubles_are_accepted_as_strtold_accepts_them() {
        use super::args::long_double;
        assert_eq!(long_double(b"1e400"), Some(f64::INFINITY));
        assert_eq!(long_double(b"-0x1p1024"), Some(f64::NEG_INFINITY));
        assert_eq!(long_double(b"1e-400"), Some(0.0));
        assert_eq!(long_double(b"0.5"), Some(0.5));
        for bad in ["1e5000", "0x1p99999999999999999999", "1e-99999999999999999999", " 1", "1 ", "", "nan", "0x"] {
            assert_eq!(long_double(bad.as_bytes()), None, "{bad:?}");
        }
        // Redis copies into a buffer of 5120 bytes, NUL included.
        let long = format!("0.{}", "1".repeat(5117));
        assert_eq!(long_double(long.as_bytes()), Some(0.1111111111111111));
        assert_eq!(long_double(format!("{long}1").as_bytes()), None);
    }
}
