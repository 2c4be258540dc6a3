//! The latency monitor (LATENCY LATEST / HISTORY / GRAPH / DOCTOR / RESET): per event ("command",
//! "fast-command", "expire-cycle", …) the latencies of at least `latency-monitor-threshold`
//! milliseconds, one sample per second (the worst of that second) in a ring of
//! [`SERIES_LEN`], plus the worst ever, as Redis's `latency.c` keeps them.
//!
//! With the threshold at 0 (the default) the request path pays one atomic load and a compare
//! per command ([`LatencyMonitor::is_spike`]); only a spike takes the lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Samples kept per event (`LATENCY_TS_LEN`).
pub const SERIES_LEN: usize = 160;

/// One second's worst latency; `time == 0` marks an unused slot, as in Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Unix time, seconds.
    pub time: u64,
    /// Milliseconds.
    pub latency: u64,
}

/// One event's ring of samples (`struct latencyTimeSeries`).
#[derive(Debug, Clone)]
pub struct Series {
    /// Where the next sample goes.
    idx: usize,
    /// The worst latency ever added, including samples the ring has dropped since.
    pub max: u64,
    samples: [Sample; SERIES_LEN],
}

impl Default for Series {
    fn default() -> Series {
        Series { idx: 0, max: 0, samples: [Sample::default(); SERIES_LEN] }
    }
}

impl Series {
    /// Adds a latency seen at unix second `now`: a second already sampled keeps the worse of
    /// the two; a new second takes the next slot, overwriting the oldest once the ring is full.
    pub fn add(&mut self, now: u64, latency: u64) {
        self.max = self.max.max(latency);
        let prev = (self.idx + SERIES_LEN - 1) % SERIES_LEN;
        if self.samples[prev].time == now {
            self.samples[prev].latency = self.samples[prev].latency.max(latency);
            return;
        }
        self.samples[self.idx] = Sample { time: now, latency };
        self.idx = (self.idx + 1) % SERIES_LEN;
    }

    /// The samples held, oldest first.
    pub fn history(&self) -> Vec<Sample> {
        (0..SERIES_LEN).map(|j| self.samples[(self.idx + j) % SERIES_LEN]).filter(|s| s.time != 0).collect()
    }

    /// The newest sample.
    pub fn latest(&self) -> Sample {
        self.samples[(self.idx + SERIES_LEN - 1) % SERIES_LEN]
    }

    /// Redis's `analyzeLatencyForEvent`: integer average and mean deviation, and the seconds
    /// since the oldest sample (at least 1).
    fn analyze(&self, now: u64) -> Analysis {
        let held = self.history();
        let mut a = Analysis { samples: held.len() as u64, ..Analysis::default() };
        if held.is_empty() {
            return a;
        }
        let sum: u64 = held.iter().map(|s| s.latency).sum();
        a.avg = sum / a.samples;
        let oldest = held.iter().map(|s| s.time).min().unwrap_or(now);
        a.period = (now as i64 - oldest as i64).max(0) as u64;
        if a.period == 0 {
            a.period = 1;
        }
        a.mad = held.iter().map(|s| s.latency.abs_diff(a.avg)).sum::<u64>() / a.samples;
        a
    }
}

#[derive(Debug, Default)]
struct Analysis {
    samples: u64,
    avg: u64,
    mad: u64,
    period: u64,
}

/// The server's latency events, in the order they first happened.
pub struct LatencyMonitor {
    /// `latency-monitor-threshold` in nanoseconds; `u64::MAX` when 0 (off), so the request
    /// path's test is one compare.
    threshold_ns: AtomicU64,
    events: Mutex<Vec<(String, Series)>>,
}

impl Default for LatencyMonitor {
    fn default() -> LatencyMonitor {
        LatencyMonitor { threshold_ns: AtomicU64::new(u64::MAX), events: Mutex::new(Vec::new()) }
    }
}

/// What DOCTOR's advice depends on besides the events.
pub struct DoctorSettings {
    pub threshold_ms: u64,
    /// `slowlog-log-slower-than`, µs (negative: off).
    pub slowlog_log_slower_than: i64,
    pub appendfsync_always: bool,
    pub hz: u64,
    /// Bytes of transparent huge pages the process holds.
    pub anon_huge_pages: u64,
}

impl LatencyMonitor {
    /// Applies `latency-monitor-threshold` (milliseconds; 0: off).
    pub fn configure(&self, threshold_ms: u64) {
        let ns = if threshold_ms == 0 { u64::MAX } else { threshold_ms.saturating_mul(1_000_000) };
        self.threshold_ns.store(ns, Ordering::Relaxed);
    }

    /// Whether something that took `nanos` is a spike. Redis compares whole milliseconds
    /// (`duration / 1000 >= threshold`), which is the same as comparing nanoseconds against
    /// the threshold in nanoseconds.
    #[inline]
    pub fn is_spike(&self, nanos: u64) -> bool {
        nanos >= self.threshold_ns.load(Ordering::Relaxed)
    }

    /// A start time when the monitor is on (`latencyStartMonitor`): what is measured pays no
    /// clock reads while it is off.
    #[inline]
    pub fn start(&self) -> Option<u64> {
        (self.threshold_ns.load(Ordering::Relaxed) != u64::MAX).then(crate::store::monotonic_ns)
    }

    /// Records `event` if the time since `start` (from [`start`](Self::start)) is a spike.
    pub fn end(&self, event: &str, start: Option<u64>) {
        if let Some(start) = start {
            self.add_if_needed(event, crate::store::monotonic_ns().saturating_sub(start));
        }
    }

    /// Records `event` if `nanos` is a spike (`latencyAddSampleIfNeeded`).
    pub fn add_if_needed(&self, event: &str, nanos: u64) {
        if self.is_spike(nanos) {
            self.add(event, nanos / 1_000_000);
        }
    }

    /// Records a latency of `ms` for `event` now (`latencyAddSample`).
    pub fn add(&self, event: &str, ms: u64) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        self.add_at(event, now, ms);
    }

    fn add_at(&self, event: &str, now: u64, ms: u64) {
        let mut events = self.events.lock();
        match events.iter_mut().find(|(name, _)| name == event) {
            Some((_, series)) => series.add(now, ms),
            None => {
                let mut series = Series::default();
                series.add(now, ms);
                events.push((event.to_string(), series));
            }
        }
    }

    /// `(event, newest sample, worst ever)` for every event.
    pub fn latest(&self) -> Vec<(String, Sample, u64)> {
        self.events.lock().iter().map(|(name, s)| (name.clone(), s.latest(), s.max)).collect()
    }

    /// An event's samples, oldest first (`None`: no such event). Names match exactly, as
    /// Redis's dictionary lookup.
    pub fn series(&self, event: &str) -> Option<Series> {
        self.events.lock().iter().find(|(name, _)| name == event).map(|(_, s)| s.clone())
    }

    /// Forgets the events named (any case, as `latencyResetEvent`), or all for `None`; how
    /// many were forgotten.
    pub fn reset(&self, event: Option<&[u8]>) -> usize {
        let mut events = self.events.lock();
        let before = events.len();
        events.retain(|(name, _)| event.is_some_and(|e| !name.as_bytes().eq_ignore_ascii_case(e)));
        before - events.len()
    }

    /// LATENCY DOCTOR's report (`createLatencyReport`).
    pub fn doctor(&self, settings: &DoctorSettings) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let events = self.events.lock().clone();
        doctor_report(&events, settings, now)
    }

    /// LATENCY GRAPH's text for `event` (`latencyCommandGenSparkeline`), `None` without samples.
    pub fn graph(&self, event: &str) -> Option<String> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        self.events.lock().iter().find(|(name, _)| name == event).map(|(name, s)| graph(name, s, now))
    }
}

/// The advice DOCTOR can give, in the order it prints it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Advice {
    SlowlogEnable,
    SlowlogTuning,
    SlowlogInspect,
    Scheduler,
    LocalDisk,
    Ssd,
    DataWriteback,
    DiskContention,
    NoAppendfsync,
    RelaxFsyncPolicy,
    WriteLoadInfo,
    Hz,
    LargeObjects,
    MassEviction,
    DisableThp,
}

/// What each event suggests, as `createLatencyReport` decides it. Counts what Redis counts in
/// `advices` (which only decides between its closing texts).
fn advice_for(event: &str, s: &DoctorSettings, out: &mut Vec<Advice>) -> usize {
    use Advice::*;
    let mut add = |list: &[Advice]| {
        out.extend_from_slice(list);
        list.len()
    };
    match event.to_ascii_lowercase().as_str() {
        "command" => {
            let mut n = 0;
            if s.slowlog_log_slower_than < 0 {
                n += add(&[SlowlogEnable]);
            } else if (s.slowlog_log_slower_than / 1000) as u64 > s.threshold_ms {
                n += add(&[SlowlogTuning]);
            }
            n + add(&[SlowlogInspect, LargeObjects])
        }
        "fast-command" => add(&[Scheduler]),
        "aof-write-pending-fsync" => add(&[LocalDisk, DiskContention, Ssd, DataWriteback]),
        "aof-write-active-child" => add(&[NoAppendfsync, DataWriteback, Ssd]),
        "aof-write-alone" => add(&[LocalDisk, DataWriteback, Ssd]),
        "aof-fsync-always" => add(&[RelaxFsyncPolicy]),
        "aof-fstat" | "rdb-unlink-temp-file" => add(&[DiskContention, LocalDisk]),
        "aof-rewrite-diff-write" | "aof-rename" => add(&[WriteLoadInfo, DataWriteback, Ssd, LocalDisk]),
        "expire-cycle" => add(&[Hz, LargeObjects]),
        "eviction-del" => add(&[LargeObjects]),
        "eviction-cycle" => add(&[MassEviction]),
        _ => 0,
    }
}

fn doctor_report(events: &[(String, Series)], s: &DoctorSettings, now: u64) -> String {
    if events.is_empty() && s.threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let mut report = String::new();
    let mut advice = Vec::new();
    let mut advices = 0;
    for (n, (event, series)) in events.iter().enumerate() {
        if n == 0 {
            report.push_str(
                "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
            );
        }
        let a = series.analyze(now);
        let _ = write!(
            report,
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            n + 1,
            event,
            a.samples,
            a.avg,
            a.mad,
            a.period as f64 / a.samples as f64,
            series.max
        );
        advices += advice_for(event, s, &mut advice);
        report.push('\n');
    }
    if s.anon_huge_pages > 0 {
        advice.push(Advice::DisableThp);
        advices += 1;
    }
    if events.is_empty() && advices == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return report;
    }
    if advices == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return report;
    }
    report.push_str("\nI have a few advices for you:\n\n");
    advice.sort();
    advice.dedup();
    for a in advice {
        let text: String = match a {
            Advice::SlowlogEnable => format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", s.threshold_ms * 1000),
            Advice::SlowlogTuning => format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", s.threshold_ms * 1000),
            Advice::SlowlogInspect => "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n".into(),
            Advice::Scheduler => "- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n".into(),
            Advice::LocalDisk => "- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n".into(),
            Advice::Ssd => "- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage and smaller final AOF rewrite buffer flushes). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n".into(),
            Advice::DataWriteback => "- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n".into(),
            Advice::DiskContention => "- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n".into(),
            Advice::NoAppendfsync => "- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n".into(),
            Advice::RelaxFsyncPolicy if s.appendfsync_always => "- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n".into(),
            Advice::WriteLoadInfo => "- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n".into(),
            Advice::Hz if s.hz < 100 => "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n".into(),
            Advice::LargeObjects => "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n".into(),
            Advice::MassEviction => "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n".into(),
            Advice::DisableThp => "- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n".into(),
            Advice::RelaxFsyncPolicy | Advice::Hz => String::new(),
        };
        report.push_str(&text);
    }
    report
}

/// Bytes of anonymous transparent huge pages this process holds (Redis's
/// `THPGetAnonHugePagesSize`, summed over /proc/self/smaps; 0 when unreadable).
pub fn anon_huge_pages() -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup")
        .or_else(|_| std::fs::read_to_string("/proc/self/smaps"))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("AnonHugePages:"))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// Columns of GRAPH's sparkline (`LATENCY_GRAPH_COLS`) and its rows of bars.
const GRAPH_COLS: usize = 80;
const GRAPH_ROWS: usize = 4;

/// LATENCY GRAPH: a header, a rule, then the samples as Redis's filled sparkline with each
/// one's age (`12s`, `3m`, `2h`, `1d`) written downwards under it.
fn graph(event: &str, series: &Series, now: u64) -> String {
    let held = series.history();
    let min = held.iter().map(|s| s.latency).min().unwrap_or(0);
    let max = held.iter().map(|s| s.latency).max().unwrap_or(0);
    let mut out = format!("{event} - high {max} ms, low {min} ms (all time high {} ms)\n", series.max);
    out.push_str(&"-".repeat(GRAPH_COLS));
    out.push('\n');
    let points: Vec<(f64, String)> = held
        .iter()
        .map(|s| {
            let elapsed = now as i64 - s.time as i64;
            let label = if elapsed < 60 {
                format!("{elapsed}s")
            } else if elapsed < 3600 {
                format!("{}m", elapsed / 60)
            } else if elapsed < 86400 {
                format!("{}h", elapsed / 3600)
            } else {
                format!("{}d", elapsed / 86400)
            };
            (s.latency as f64, label)
        })
        .collect();
    for (n, chunk) in points.chunks(GRAPH_COLS).enumerate() {
        if n != 0 {
            out.push('\n');
        }
        sparkline(&mut out, chunk, min as f64, max as f64);
    }
    out
}

/// Redis's `sparklineRenderRange` with `SPARKLINE_FILL`: [`GRAPH_ROWS`] rows of `_o#` bars
/// (`|` below a bar's top), one blank row, then the labels one character per row. `min` and
/// `max` are the whole sequence's, not the chunk's.
fn sparkline(out: &mut String, points: &[(f64, String)], min: f64, max: f64) {
    const FILL: [char; 3] = ['_', 'o', '#'];
    let span = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * GRAPH_ROWS) as i64;
    let step = |v: f64| {
        // C's `(int)(relval*steps)/relmax`: truncate, divide as a double, truncate again.
        let s = (((v - min) * steps as f64) as i64 as f64 / span) as i64;
        s.clamp(0, steps - 1)
    };
    for row in 0..GRAPH_ROWS as i64 {
        let line: String = points
            .iter()
            .map(|(v, _)| {
                let idx = step(*v) - (GRAPH_ROWS as i64 - row - 1) * FILL.len() as i64;
                if (0..FILL.len() as i64).contains(&idx) {
                    FILL[idx as usize]
                } else if idx >= FILL.len() as i64 {
                    '|'
                } else {
                    ' '
                }
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    // The blank row between the bars and the labels (every sample has a label).
    out.push_str(&" ".repeat(points.len()));
    out.push('\n');
    let longest = points.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    for i in 0..longest {
        let line: String = points.iter().map(|(_, l)| l.as_bytes().get(i).map_or(' ', |&b| b as char)).collect();
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_the_worst_kept() {
        let mut s = Series::default();
        s.add(100, 5);
        s.add(100, 3);
        s.add(100, 9);
        s.add(101, 2);
        assert_eq!(s.history(), [Sample { time: 100, latency: 9 }, Sample { time: 101, latency: 2 }]);
        assert_eq!(s.latest(), Sample { time: 101, latency: 2 });
        assert_eq!(s.max, 9);
    }

    #[test]
    fn the_ring_drops_the_oldest_but_keeps_the_max() {
        let mut s = Series::default();
        s.add(1, 1000);
        for t in 2..=SERIES_LEN as u64 + 5 {
            s.add(t, t);
        }
        let held = s.history();
        assert_eq!(held.len(), SERIES_LEN);
        assert_eq!(held[0].time, 6);
        assert_eq!(held.last().unwrap().time, SERIES_LEN as u64 + 5);
        assert!(held.windows(2).all(|w| w[0].time < w[1].time));
        assert_eq!(s.max, 1000);
        // A full ring still merges into its newest second.
        s.add(SERIES_LEN as u64 + 5, 7000);
        assert_eq!(s.history().len(), SERIES_LEN);
        assert_eq!(s.latest().latency, 7000);
    }

    #[test]
    fn threshold_compares_whole_milliseconds() {
        let m = LatencyMonitor::default();
        assert!(!m.is_spike(u64::MAX - 1));
        m.configure(2);
        assert!(!m.is_spike(1_999_999));
        assert!(m.is_spike(2_000_000));
        m.add_if_needed("command", 1_000_000);
        m.add_if_needed("command", 2_500_000);
        let latest = m.latest();
        assert_eq!(latest.len(), 1);
        assert_eq!((latest[0].1.latency, latest[0].2), (2, 2));
        m.configure(0);
        assert!(!m.is_spike(u64::MAX - 1));
    }

    #[test]
    fn reset_matches_any_case_and_counts() {
        let m = LatencyMonitor::default();
        m.add_at("command", 10, 5);
        m.add_at("fast-command", 10, 5);
        assert_eq!(m.reset(Some(b"COMMAND")), 1);
        assert_eq!(m.reset(Some(b"nosuch")), 0);
        assert!(m.series("fast-command").is_some() && m.series("FAST-command").is_none());
        assert_eq!(m.reset(None), 1);
        assert!(m.latest().is_empty());
    }

    fn settings() -> DoctorSettings {
        DoctorSettings {
            threshold_ms: 1,
            slowlog_log_slower_than: 10_000,
            appendfsync_always: false,
            hz: 10,
            anon_huge_pages: 0,
        }
    }

    #[test]
    fn doctor_texts() {
        let off = DoctorSettings { threshold_ms: 0, ..settings() };
        assert!(doctor_report(&[], &off, 0).starts_with("I'm sorry, Dave"));
        assert!(doctor_report(&[], &settings(), 0).starts_with("Dave, no latency spike"));
        let mut s = Series::default();
        s.add(1_796_391_370, 10);
        let report = doctor_report(&[("command".into(), s)], &settings(), 1_796_391_370);
        // What redis-server 7.0.15 printed for one 10 ms DEBUG SLEEP with a 1 ms threshold.
        assert_eq!(
            report,
            "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n\
             1. command: 1 latency spikes (average 10ms, mean deviation 0ms, period 1.00 sec). Worst all time event 10ms.\n\n\
             I have a few advices for you:\n\n\
             - Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than 1000'.\n\
             - Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n\
             - Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n"
        );
        let mut s = Series::default();
        s.add(100, 4);
        s.add(103, 8);
        let report = doctor_report(&[("some-event".into(), s)], &settings(), 110);
        assert!(report.contains("1. some-event: 2 latency spikes (average 6ms, mean deviation 2ms, period 5.00 sec)."));
        assert!(report.ends_with("I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n"));
    }

    #[test]
    fn graph_as_redis_draws_it() {
        let mut s = Series::default();
        s.add(1000, 10);
        // redis-server 7.0.15's LATENCY GRAPH for one 10 ms sample a second old.
        assert_eq!(
            graph("command", &s, 1001),
            format!("command - high 10 ms, low 10 ms (all time high 10 ms)\n{}\n \n \n \n_\n \n1\ns\n", "-".repeat(80))
        );
        s.add(1001, 20);
        s.add(1002, 15);
        let g = graph("command", &s, 1002);
        let rows: Vec<&str> = g.lines().skip(2).collect();
        assert_eq!(rows, [" # ", " |_", " ||", "_||", "   ", "210", "sss"]);
    }

    #[test]
    fn graph_wraps_at_80_columns_and_ages_in_larger_units() {
        let mut s = Series::default();
        for t in 0..81 {
            s.add(10_000 + t * 100, 5);
        }
        let now = 10_000 + 80 * 100;
        let g = graph("e", &s, now);
        let rows: Vec<&str> = g.lines().skip(2).collect();
        // First block: 4 bar rows, a blank row, labels up to "2h"'s two characters ("120m"
        // is shown as hours); then an empty line and the 81st sample alone ("0s").
        let blank = rows.iter().position(|r| r.is_empty()).unwrap();
        assert!(rows[..blank].iter().all(|r| r.len() == 80), "{rows:?}");
        assert_eq!(rows[3], "_".repeat(80));
        assert_eq!(&rows[5][..3], "222");
        assert_eq!(&rows[6][..3], "hhh");
        assert_eq!(&rows[5][79..], "1");
        assert_eq!(rows[blank + 1..], [" ", " ", " ", "_", " ", "0", "s"]);
    }
}
