//! Server-wide counters for INFO.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug, Default)]
pub struct ServerStats {
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_error_replies: AtomicU64,
    /// Error replies to our primary's stream or to the AOF being loaded, where none should
    /// happen (`unexpected_error_replies`).
    pub unexpected_error_replies: AtomicU64,
    pub total_net_input_bytes: AtomicU64,
    pub total_net_output_bytes: AtomicU64,
    /// Socket reads and reply writes of client connections (`total_reads_processed`, …).
    pub total_reads_processed: AtomicU64,
    pub total_writes_processed: AtomicU64,
    /// Since when (monotonic ns, 0: not) used memory has stayed over `maxmemory` with nothing
    /// left to evict, and the total of such spans (µs): `*_eviction_exceeded_time`.
    pub eviction_exceeded_since_ns: AtomicU64,
    pub eviction_exceeded_total_us: AtomicU64,
    /// Replication stream and snapshot bytes: read from a primary, written to replicas.
    pub total_net_repl_input_bytes: AtomicU64,
    pub total_net_repl_output_bytes: AtomicU64,
    /// Clients waiting in WAIT: counted in INFO `blocked_clients` with those blocked on keys,
    /// as Redis counts its BLOCKED_WAIT clients (a write held by a pause is not counted).
    pub blocked_in_wait: AtomicU64,
    /// Error replies by their first word (`errorstat_ERR:count=3`).
    pub errors: Mutex<BTreeMap<String, u64>>,
    /// Recent rates of commands, client and replication input and output bytes, for
    /// `instantaneous_ops_per_sec` and the `instantaneous_*_kbps` fields.
    samples: Mutex<[RateSamples; 5]>,
}

const OPS: usize = 0;
const NET_INPUT: usize = 1;
const NET_OUTPUT: usize = 2;
const NET_REPL_INPUT: usize = 3;
const NET_REPL_OUTPUT: usize = 4;

/// Redis's `trackInstantaneousMetric`: a ring of per-second rates sampled by the cron.
#[derive(Debug, Default)]
struct RateSamples {
    last: Option<(Instant, u64)>,
    rates: [f64; 16],
    next: usize,
}

impl RateSamples {
    fn sample(&mut self, now: Instant, total: u64) {
        if let Some((t, n)) = self.last {
            let secs = now.duration_since(t).as_secs_f64();
            if secs > 0.0 {
                let i = self.next;
                self.rates[i] = total.saturating_sub(n) as f64 / secs;
                self.next = (i + 1) % self.rates.len();
            }
        }
        self.last = Some((now, total));
    }

    fn mean(&self) -> f64 {
        self.rates.iter().sum::<f64>() / self.rates.len() as f64
    }
}

impl ServerStats {
    pub fn count_error(&self, text: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let prefix = text.split(' ').next().unwrap_or("ERR");
        *self.errors.lock().entry(prefix.to_string()).or_default() += 1;
    }

    /// Records the outcome of an eviction check, as Redis's `performEvictions` metrics: a
    /// span starts at the first check left over the limit and ends at the first one under it.
    /// Costs one load per check while nothing changes.
    pub fn eviction_exceeded(&self, over: bool) {
        let since = self.eviction_exceeded_since_ns.load(Ordering::Relaxed);
        if over && since == 0 {
            let now = crate::store::monotonic_ns().max(1);
            let _ = self.eviction_exceeded_since_ns.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        } else if !over && since != 0 {
            if let Ok(start) =
                self.eviction_exceeded_since_ns.compare_exchange(since, 0, Ordering::Relaxed, Ordering::Relaxed)
            {
                let us = crate::store::monotonic_ns().saturating_sub(start) / 1000;
                self.eviction_exceeded_total_us.fetch_add(us, Ordering::Relaxed);
            }
        }
    }

    /// `(total_eviction_exceeded_time, current_eviction_exceeded_time)` in ms; the total
    /// includes the current span.
    pub fn eviction_exceeded_ms(&self) -> (u64, u64) {
        let since = self.eviction_exceeded_since_ns.load(Ordering::Relaxed);
        let current_us = if since == 0 { 0 } else { crate::store::monotonic_ns().saturating_sub(since) / 1000 };
        let total_us = self.eviction_exceeded_total_us.load(Ordering::Relaxed) + current_us;
        (total_us / 1000, current_us / 1000)
    }

    /// Called by the cron: records the command and network rates since the previous sample.
    pub fn sample_ops(&self) {
        let now = Instant::now();
        let totals = [
            self.total_commands_processed.load(Ordering::Relaxed),
            self.total_net_input_bytes.load(Ordering::Relaxed),
            self.total_net_output_bytes.load(Ordering::Relaxed),
            self.total_net_repl_input_bytes.load(Ordering::Relaxed),
            self.total_net_repl_output_bytes.load(Ordering::Relaxed),
        ];
        let mut samples = self.samples.lock();
        for (s, total) in samples.iter_mut().zip(totals) {
            s.sample(now, total);
        }
    }

    /// The mean of the recent samples, as INFO's `instantaneous_ops_per_sec`.
    pub fn instantaneous_ops(&self) -> u64 {
        self.samples.lock()[OPS].mean().round() as u64
    }

    /// `instantaneous_input_kbps` and `instantaneous_output_kbps`: KiB per second.
    pub fn instantaneous_kbps(&self) -> (f64, f64) {
        let s = self.samples.lock();
        (s[NET_INPUT].mean() / 1024.0, s[NET_OUTPUT].mean() / 1024.0)
    }

    /// `instantaneous_input_repl_kbps` and `instantaneous_output_repl_kbps`.
    pub fn instantaneous_repl_kbps(&self) -> (f64, f64) {
        let s = self.samples.lock();
        (s[NET_REPL_INPUT].mean() / 1024.0, s[NET_REPL_OUTPUT].mean() / 1024.0)
    }

    pub fn reset(&self) {
        for c in [
            &self.total_connections_received,
            &self.total_commands_processed,
            &self.rejected_connections,
            &self.total_error_replies,
            &self.unexpected_error_replies,
            &self.eviction_exceeded_since_ns,
            &self.eviction_exceeded_total_us,
            &self.total_net_input_bytes,
            &self.total_net_output_bytes,
            &self.total_reads_processed,
            &self.total_writes_processed,
            &self.total_net_repl_input_bytes,
            &self.total_net_repl_output_bytes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.errors.lock().clear();
    }
}

/// INFO's CPU section, in seconds: the process and its children from `getrusage`, and the
/// process's main thread from /proc (clock ticks), as Redis's `used_cpu_*_main_thread`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuUsage {
    pub sys: f64,
    pub user: f64,
    pub sys_children: f64,
    pub user_children: f64,
    pub sys_main_thread: f64,
    pub user_main_thread: f64,
}

pub fn cpu_usage() -> CpuUsage {
    fn rusage(who: libc::c_int) -> (f64, f64) {
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        // SAFETY: getrusage fills the zeroed struct it is given and reads nothing else.
        unsafe {
            let mut r: libc::rusage = std::mem::zeroed();
            if libc::getrusage(who, &mut r) != 0 {
                return (0.0, 0.0);
            }
            (secs(r.ru_stime), secs(r.ru_utime))
        }
    }
    let (sys, user) = rusage(libc::RUSAGE_SELF);
    let (sys_children, user_children) = rusage(libc::RUSAGE_CHILDREN);
    let (sys_main_thread, user_main_thread) = main_thread_times();
    CpuUsage { sys, user, sys_children, user_children, sys_main_thread, user_main_thread }
}

/// System and user seconds of the main thread (its tid is the pid), from its stat file.
fn main_thread_times() -> (f64, f64) {
    let path = format!("/proc/self/task/{}/stat", std::process::id());
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let secs = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / hz;
    // Fields 14 (utime) and 15 (stime); after ")" they are the 12th and 13th.
    (secs(12), secs(11))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eviction_exceeded_span_opens_once_and_closes_into_the_total() {
        let stats = ServerStats::default();
        stats.eviction_exceeded(false);
        assert_eq!(stats.eviction_exceeded_since_ns.load(Ordering::Relaxed), 0, "nothing to close");
        stats.eviction_exceeded(true);
        let since = stats.eviction_exceeded_since_ns.load(Ordering::Relaxed);
        assert_ne!(since, 0);
        stats.eviction_exceeded(true);
        assert_eq!(stats.eviction_exceeded_since_ns.load(Ordering::Relaxed), since, "the span keeps its start");
        stats.eviction_exceeded(false);
        assert_eq!(stats.eviction_exceeded_since_ns.load(Ordering::Relaxed), 0);
        assert_eq!(stats.eviction_exceeded_ms().1, 0, "no current span");
    }
}
