//! LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR / HISTOGRAM / HELP over the server's
//! [`crate::latency::LatencyMonitor`] and the per-command latency histograms
//! ([`super::table::CommandStats::latency`]), and INFO's `latencystats` section.
//!
//! The histograms have power-of-two buckets where Redis keeps an HDR histogram (2 significant
//! digits), so HISTOGRAM and the INFO percentiles are reported as Redis's HDR iteration reports
//! the same powers of two: each bucket under the highest value equivalent to its bound
//! ([`reported_bound_ns`]), so the keys are Redis's (`1, 2, 4, 8, 16, 33, 66, 132 …`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::connection::help_reply;
use super::table::{CommandSpec, CommandStats, Flags, LATENCY_BUCKETS};
use super::Ctx;
use crate::latency::DoctorSettings;
use crate::server::Shared;
use bytes::Bytes;
use ferrocache_protocol::Reply;

const ADMIN: Flags = Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::LOADING).or(Flags::STALE);

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("latency", -2, super::connection::container_help)
    .doc("server", "2.8.13", "A container for latency diagnostics commands", "")
    .acl(&["slow"])
    .subcommands(SUBCOMMANDS)];

const ACL: &[&str] = &["admin", "slow", "dangerous"];

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("history", 3, history)
        .flags(ADMIN)
        .parent("latency")
        .doc("server", "2.8.13", "Return timestamp-latency samples for the event.", "event")
        .acl(ACL),
    CommandSpec::new("doctor", 2, doctor)
        .flags(ADMIN)
        .parent("latency")
        .doc("server", "2.8.13", "Return a human readable latency analysis report.", "")
        .acl(ACL),
    CommandSpec::new("reset", -2, reset)
        .flags(ADMIN)
        .parent("latency")
        .doc("server", "2.8.13", "Reset latency data for one or more events.", "[event [event ...]]")
        .acl(ACL),
    CommandSpec::new("histogram", -2, histogram)
        .flags(ADMIN)
        .parent("latency")
        .doc(
            "server",
            "7.0.0",
            "Return the cumulative distribution of latencies of a subset of commands or all.",
            "[command [command ...]]",
        )
        .acl(ACL),
    CommandSpec::new("graph", 3, graph)
        .flags(ADMIN)
        .parent("latency")
        .doc("server", "2.8.13", "Return a latency graph for the event.", "event")
        .acl(ACL),
    CommandSpec::new("help", 2, help)
        .flags(Flags::LOADING.or(Flags::STALE))
        .parent("latency")
        .doc("server", "2.8.13", "Show helpful text about the different subcommands.", "")
        .acl(&["slow"]),
    CommandSpec::new("latest", 2, latest)
        .flags(ADMIN)
        .parent("latency")
        .doc("server", "2.8.13", "Return the latest latency samples for all events.", "")
        .acl(ACL),
];

/// `LATENCY LATEST`: `[event, unix time, latest ms, worst ms]` per event.
fn latest(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Array(
        ctx.shared
            .latency
            .latest()
            .into_iter()
            .map(|(event, sample, max)| {
                Reply::Array(vec![
                    Reply::Bulk(Bytes::from(event)),
                    Reply::Integer(sample.time as i64),
                    Reply::Integer(sample.latency as i64),
                    Reply::Integer(max as i64),
                ])
            })
            .collect(),
    )
}

/// `LATENCY HISTORY event`: `[unix time, ms]` per sample, oldest first; none for an unknown
/// event.
fn history(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let samples =
        ctx.shared.latency.series(&String::from_utf8_lossy(&args[2])).map(|s| s.history()).unwrap_or_default();
    Reply::Array(
        samples
            .into_iter()
            .map(|s| Reply::Array(vec![Reply::Integer(s.time as i64), Reply::Integer(s.latency as i64)]))
            .collect(),
    )
}

/// `LATENCY RESET [event …]`: how many events were forgotten.
fn reset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let monitor = &ctx.shared.latency;
    let resets = match &args[2..] {
        [] => monitor.reset(None),
        events => events.iter().map(|e| monitor.reset(Some(e))).sum(),
    };
    Reply::Integer(resets as i64)
}

/// `LATENCY GRAPH event`.
fn graph(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let event = String::from_utf8_lossy(&args[2]);
    match ctx.shared.latency.graph(&event) {
        Some(text) => Reply::Verbatim("txt", Bytes::from(text)),
        None => {
            let name = super::args::c_str(&args[2]);
            Reply::error(format!("ERR No samples available for event '{}'", String::from_utf8_lossy(name)))
        }
    }
}

/// `LATENCY DOCTOR`.
fn doctor(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let settings = {
        let c = ctx.shared.config.read();
        DoctorSettings {
            threshold_ms: c.latency_monitor_threshold,
            slowlog_log_slower_than: c.slowlog_log_slower_than,
            appendfsync_always: c.appendfsync == "always",
            hz: c.hz as u64,
            anon_huge_pages: crate::latency::anon_huge_pages(),
        }
    };
    Reply::Verbatim("txt", Bytes::from(ctx.shared.latency.doctor(&settings)))
}

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "latency",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}

/// `LATENCY HISTOGRAM [command …]`: per command with calls recorded, `{calls, histogram_usec:
/// {bound µs: calls at most that long}}`, only bounds where the count grows. Without names,
/// every command and subcommand; a name may be `container|sub`, and a container's name gives
/// its subcommands. Unknown names are skipped; a name given twice answers twice, as in Redis.
fn histogram(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let stats = &ctx.shared.command_stats;
    let mut out = Vec::new();
    let mut add = |spec: &'static CommandSpec| {
        if let Some(cdf) = command_cdf(stats.get(spec)) {
            out.push((Reply::Bulk(Bytes::from(spec.full_name())), cdf));
        }
    };
    if args.len() == 2 {
        stats.iter().for_each(|(spec, _)| add(spec));
    } else {
        for name in &args[2..] {
            if let Some(spec) = lookup_by_full_name(name) {
                add(spec);
                spec.subcommands.iter().for_each(&mut add);
            }
        }
    }
    Reply::Map(out)
}

/// Redis's `lookupCommandBySds`: `name` or `container|sub`, any case.
fn lookup_by_full_name(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut parts = name.split(|&b| b == b'|');
    let base = super::table::lookup(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(base),
        (Some(sub), None) if !base.subcommands.is_empty() => super::table::lookup_sub(base, sub),
        _ => None,
    }
}

/// Redis's histogram bounds are in nanoseconds; buckets from the 2^30 ns one on are reported
/// together as Redis's last (it clamps every call to at most one second).
const LAST_REPORTED: usize = 20;

/// The value Redis's HDR histogram (1 ns to 1 s, 2 significant digits) reports for the power
/// of two that bounds bucket `i`: the highest value equivalent to `2^(10+i)` ns, i.e. the bound
/// plus its sub-bucket's width less one (`2^(10+i) + 2^(3+i) - 1`); the top of the histogram's
/// range for the last buckets.
pub fn reported_bound_ns(i: usize) -> u64 {
    if i < LAST_REPORTED {
        (1u64 << (10 + i)) + (1u64 << (3 + i)) - 1
    } else {
        (1u64 << 30) - 1
    }
}

/// The lowest value Redis would report for bucket `i` (its 0th percentile): the power of two
/// below the bucket, or Redis's 1 ns minimum for the first.
fn reported_floor_ns(i: usize) -> u64 {
    if i == 0 {
        1
    } else {
        1u64 << (9 + i.min(LAST_REPORTED))
    }
}

fn bucket_counts(stats: &CommandStats) -> [u64; LATENCY_BUCKETS] {
    std::array::from_fn(|i| stats.latency[i].load(Ordering::Relaxed))
}

/// One command's `{calls, histogram_usec}` (Redis's `fillCommandCDF`), `None` with no calls.
fn command_cdf(stats: &CommandStats) -> Option<Reply> {
    let counts = bucket_counts(stats);
    let calls: u64 = counts.iter().sum();
    if calls == 0 {
        return None;
    }
    let mut cdf = Vec::new();
    let (mut cumulative, mut previous) = (0, 0);
    for (i, count) in counts.iter().enumerate() {
        cumulative += count;
        if (LAST_REPORTED..LATENCY_BUCKETS - 1).contains(&i) {
            continue;
        }
        if cumulative > previous {
            cdf.push((Reply::Integer((reported_bound_ns(i) / 1000) as i64), Reply::Integer(cumulative as i64)));
        }
        previous = cumulative;
    }
    Some(Reply::Map(vec![
        (Reply::Bulk(Bytes::from_static(b"calls")), Reply::Integer(calls as i64)),
        (Reply::Bulk(Bytes::from_static(b"histogram_usec")), Reply::Map(cdf)),
    ]))
}

/// The value at `percentile` (Redis's `hdr_value_at_percentile`: the first bucket holding the
/// `round(p% of calls)`-th call, at least the first call), in nanoseconds.
fn value_at_percentile(counts: &[u64; LATENCY_BUCKETS], percentile: f64) -> u64 {
    let total: u64 = counts.iter().sum();
    let wanted = (((percentile.min(100.0) / 100.0) * total as f64 + 0.5) as u64).max(1);
    let mut seen = 0;
    for (i, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= wanted {
            return if percentile == 0.0 { reported_floor_ns(i) } else { reported_bound_ns(i) };
        }
    }
    0
}

/// INFO's `latencystats` lines: `latency_percentiles_usec_<cmd>:p50=…,p99=…` per command with
/// calls recorded, for `latency-tracking-info-percentiles` (nothing while `latency-tracking`
/// is off, as Redis).
pub fn info_latencystats(shared: &Shared, out: &mut String) {
    let (tracking, percentiles) = {
        let c = shared.config.read();
        (c.latency_tracking, c.latency_tracking_info_percentiles.clone())
    };
    if !tracking {
        return;
    }
    let percentiles: Vec<(&str, f64)> =
        percentiles.split(' ').filter_map(|p| p.parse::<f64>().ok().map(|v| (p, v))).collect();
    for (spec, stats) in shared.command_stats.iter() {
        let counts = bucket_counts(stats);
        if counts.iter().all(|&c| c == 0) {
            continue;
        }
        let _ = write!(out, "latency_percentiles_usec_{}:", spec.full_name());
        for (n, (text, p)) in percentiles.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            let _ = write!(out, "p{text}={:.3}", value_at_percentile(&counts, *p) as f64 / 1000.0);
        }
        out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_the_keys_redis_reports() {
        // redis-server 7.0.15's LATENCY HISTOGRAM keys for calls of 1 µs to 1.1 s.
        let keys: Vec<u64> = (0..LATENCY_BUCKETS).map(|i| reported_bound_ns(i) / 1000).collect();
        assert_eq!(&keys[..10], [1, 2, 4, 8, 16, 33, 66, 132, 264, 528]);
        assert_eq!(&keys[10..20], [1056, 2113, 4227, 8454, 16908, 33816, 67633, 135266, 270532, 541065]);
        assert_eq!(&keys[20..], [1073741, 1073741]);
    }

    fn stats_with(calls: &[(usize, u64)]) -> CommandStats {
        let stats = CommandStats::new();
        for &(bucket, n) in calls {
            stats.latency[bucket].store(n, Ordering::Relaxed);
        }
        stats
    }

    #[test]
    fn cdf_skips_empty_buckets_and_merges_the_last_two() {
        assert!(command_cdf(&CommandStats::new()).is_none());
        let cdf = command_cdf(&stats_with(&[(7, 1), (9, 2), (20, 1), (21, 3)])).unwrap();
        let int = Reply::Integer;
        let expected = Reply::Map(vec![
            (Reply::Bulk(Bytes::from_static(b"calls")), int(7)),
            (
                Reply::Bulk(Bytes::from_static(b"histogram_usec")),
                Reply::Map(vec![(int(132), int(1)), (int(528), int(3)), (int(1073741), int(7))]),
            ),
        ]);
        assert_eq!(cdf, expected);
    }

    #[test]
    fn percentiles_as_hdr_picks_them() {
        let counts = bucket_counts(&stats_with(&[(0, 98), (5, 1), (12, 1)]));
        assert_eq!(value_at_percentile(&counts, 50.0), 1031);
        assert_eq!(value_at_percentile(&counts, 99.0), reported_bound_ns(5));
        assert_eq!(value_at_percentile(&counts, 99.9), reported_bound_ns(12));
        assert_eq!(value_at_percentile(&counts, 100.0), reported_bound_ns(12));
        assert_eq!(value_at_percentile(&counts, 0.0), 1);
        let one = bucket_counts(&stats_with(&[(7, 1), (9, 1)]));
        // Half of two calls is the first one (Redis rounds p% of the count).
        assert_eq!(value_at_percentile(&one, 50.0), reported_bound_ns(7));
        assert_eq!(value_at_percentile(&one, 0.0), 1 << 16);
    }

    #[test]
    fn names_resolve_as_lookup_command_by_sds() {
        let name = |n: &[u8]| lookup_by_full_name(n).map(|s| s.full_name());
        assert_eq!(name(b"GET").as_deref(), Some("get"));
        assert_eq!(name(b"config|GET").as_deref(), Some("config|get"));
        assert_eq!(name(b"config").as_deref(), Some("config"));
        for bad in [&b"get|x"[..], b"config|", b"config|get|x", b"|get", b"", b"nosuch"] {
            assert_eq!(name(bad), None, "{bad:?}");
        }
    }
}
