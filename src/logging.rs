//! Logging: `tracing` events written as Redis writes its log lines, or as one JSON object a
//! line (`log-format json`, for ELK / Loki), to stderr or `logfile`, without colour codes (Redis
//! has none; a pipe or file must not get escapes); the level `CONFIG SET loglevel` can change
//! while the server runs.
//!
//! A Redis line is `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`, the time local, the
//! role `M` (master) or `S` (replica), the level `.` debug, `-` verbose, `*` notice, `#`
//! warning (`serverLogRaw`). An event's fields follow its message as `key=value`.
//!
//! With `syslog-enabled yes` each line also goes to syslog, as Redis's `syslog()` call sends
//! it: the message alone, tagged `ident[pid]`, at the level's priority in `syslog-facility`
//! (see [`Syslog`]).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{prelude::*, reload, EnvFilter, Registry};

use crate::config::Config;

type Handle = reload::Handle<EnvFilter, Registry>;

static RELOAD: OnceLock<Handle> = OnceLock::new();

/// Whether this server is a replica now: the role letter of its log lines.
static REPLICA: AtomicBool = AtomicBool::new(false);

/// Records the server's role for the log lines that follow (replication calls it).
pub fn set_replica(replica: bool) {
    REPLICA.store(replica, Ordering::Relaxed);
}

/// Redis's log levels mapped onto tracing's (`RUST_LOG` overrides them at start-up).
fn filter_for(loglevel: &str) -> EnvFilter {
    let level = match loglevel {
        "debug" => "debug",
        "verbose" | "notice" => "info",
        "warning" => "warn",
        _ => "off",
    };
    EnvFilter::new(level)
}

/// Installs the global subscriber from `loglevel`, `logfile`, `log-format` and `syslog-*`.
/// Errors only if `logfile` cannot be opened.
pub fn init(config: &Config) -> std::io::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| filter_for(&config.loglevel));
    let (filter, handle) = reload::Layer::new(filter);
    let syslog = config.syslog_enabled.then(|| Syslog::new(&config.syslog_ident, &config.syslog_facility));
    let registry = tracing_subscriber::registry().with(filter).with(syslog);
    let lines = LogLine { json: config.log_format == "json" };
    let layer = tracing_subscriber::fmt::layer().event_format(lines).with_ansi(false);
    if config.logfile.is_empty() {
        registry.with(layer.with_writer(std::io::stderr)).init();
    } else {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&config.logfile)?;
        registry.with(layer.with_writer(std::sync::Mutex::new(file))).init();
    }
    let _ = RELOAD.set(handle);
    Ok(())
}

/// Applies a new `loglevel` (no-op when logging was not initialised, as in tests).
pub fn set_level(loglevel: &str) {
    if let Some(handle) = RELOAD.get() {
        let _ = handle.reload(filter_for(loglevel));
    }
}

/// How an event becomes a line: Redis's format, or JSON.
struct LogLine {
    json: bool,
}

/// Redis's level letter and name for a tracing level (`verbose` has no level of its own here:
/// the `verbose` loglevel shows what `notice` does).
fn redis_level(level: &Level) -> (char, &'static str) {
    match *level {
        Level::ERROR | Level::WARN => ('#', "warning"),
        Level::INFO => ('*', "notice"),
        Level::DEBUG | Level::TRACE => ('.', "debug"),
    }
}

impl<S, N> FormatEvent<S, N> for LogLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let (letter, name) = redis_level(event.metadata().level());
        let replica = REPLICA.load(Ordering::Relaxed);
        let pid = std::process::id();
        if self.json {
            let mut fields = JsonFields::default();
            event.record(&mut fields);
            let mut line = serde_json::Map::new();
            line.insert("time".into(), utc_iso8601(now).into());
            line.insert("pid".into(), pid.into());
            line.insert("role".into(), if replica { "replica" } else { "master" }.into());
            line.insert("level".into(), name.into());
            line.insert("message".into(), fields.message.into());
            line.extend(fields.fields);
            return writeln!(writer, "{}", serde_json::Value::Object(line));
        }
        let role = if replica { 'S' } else { 'M' };
        write!(writer, "{pid}:{role} {} {letter} ", local_time(now))?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// An event's message and other fields, for a JSON line.
#[derive(Default)]
struct JsonFields {
    message: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl JsonFields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.fields.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

/// `syslog-facility`'s values, in the order of their codes' use: `user` is 1, `local0` … `local7`
/// are 16 … 23.
pub const SYSLOG_FACILITIES: [&str; 9] =
    ["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"];

/// Where syslog listens. The environment variable is a test seam (a test cannot bind
/// `/dev/log`); Redis has no such setting.
fn syslog_socket_path() -> std::path::PathBuf {
    std::env::var_os("FERROCACHE_SYSLOG_SOCKET").map_or_else(|| "/dev/log".into(), Into::into)
}

/// A layer that sends every event to the local syslog daemon, as glibc's `syslog()` does for
/// Redis: one datagram `<PRI>Mmm dd hh:mm:ss ident[pid]: message` on `/dev/log`. Never blocks:
/// a full or missing daemon loses the line (the file or stderr still has it).
pub struct Syslog {
    ident: String,
    facility: u8,
    socket: std::sync::Mutex<Option<std::os::unix::net::UnixDatagram>>,
}

impl Syslog {
    fn new(ident: &str, facility: &str) -> Syslog {
        let facility = match SYSLOG_FACILITIES.iter().position(|f| *f == facility) {
            Some(0) | None => 1,
            Some(i) => 15 + i as u8,
        };
        Syslog { ident: ident.to_string(), facility, socket: std::sync::Mutex::new(None) }
    }

    fn send(&self, datagram: &[u8]) {
        let Ok(mut socket) = self.socket.lock() else { return };
        for _ in 0..2 {
            if socket.is_none() {
                let connected = std::os::unix::net::UnixDatagram::unbound().and_then(|s| {
                    s.set_nonblocking(true)?;
                    s.connect(syslog_socket_path())?;
                    Ok(s)
                });
                *socket = connected.ok();
            }
            match socket.as_ref().map(|s| s.send(datagram)) {
                Some(Ok(_)) | None => return,
                Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // The daemon restarted: connect again, once.
                Some(Err(_)) => *socket = None,
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for Syslog {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut text = SyslogText::default();
        event.record(&mut text);
        // LOG_DEBUG, LOG_NOTICE, LOG_WARNING (Redis's `syslogLevelMap` for its levels).
        let severity = match *event.metadata().level() {
            Level::ERROR | Level::WARN => 4,
            Level::INFO => 5,
            Level::DEBUG | Level::TRACE => 7,
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        // RFC 3164's timestamp, `Dec  3 22:55:01`, in local time.
        let stamp = local_tm(now).map_or_else(String::new, |tm| {
            let month = MONTHS.get(tm.tm_mon as usize).unwrap_or(&"???");
            format!("{month} {:>2} {:02}:{:02}:{:02}", tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
        });
        let datagram = format!(
            "<{}>{stamp} {}[{}]: {}{}",
            u32::from(self.facility) * 8 + severity,
            self.ident,
            std::process::id(),
            text.message,
            text.fields
        );
        self.send(datagram.as_bytes());
    }
}

/// An event as one syslog message: the message, then the fields as ` key=value`.
#[derive(Default)]
struct SyslogText {
    message: String,
    fields: String,
}

impl Visit for SyslogText {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `dd Mon yyyy hh:mm:ss.mmm` in local time, as Redis's `strftime("%d %b %Y %H:%M:%S.")`.
fn local_time(now: Duration) -> String {
    let Some(tm) = local_tm(now) else { return utc_iso8601(now) };
    let month = MONTHS.get(tm.tm_mon as usize).unwrap_or(&"???");
    format!(
        "{:02} {month} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// `now` broken down in local time (`localtime_r`).
fn local_tm(now: Duration) -> Option<libc::tm> {
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: `localtime_r` only writes the `tm` it is given; all-zero is a valid `tm`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = !unsafe { libc::localtime_r(&secs, &mut tm) }.is_null();
    ok.then_some(tm)
}

/// `yyyy-mm-ddThh:mm:ss.mmmZ` (UTC), for JSON lines.
fn utc_iso8601(now: Duration) -> String {
    let secs = now.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        now.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_iso8601(Duration::from_millis(0)), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year), 2026-12-03 22:55:01.123.
        assert_eq!(utc_iso8601(Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_iso8601(Duration::from_millis(1_796_338_501_123)), "2026-12-03T22:55:01.123Z");
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
