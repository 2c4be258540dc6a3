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
    pub total_net_input_bytes: AtomicU64,
    pub total_net_output_bytes: AtomicU64,
    /// Error replies by their first word (`errorstat_ERR:count=3`).
    pub errors: Mutex<BTreeMap<String, u64>>,
    /// Recent (time, commands processed) samples for `instantaneous_ops_per_sec`.
    ops_samples: Mutex<OpsSamples>,
}

/// Redis's `trackInstantaneousMetric`: a ring of per-second rates sampled by the cron.
#[derive(Debug, Default)]
struct OpsSamples {
    last: Option<(Instant, u64)>,
    rates: [f64; 16],
    next: usize,
}

impl ServerStats {
    pub fn count_error(&self, text: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let prefix = text.split(' ').next().unwrap_or("ERR");
        *self.errors.lock().entry(prefix.to_string()).or_default() += 1;
    }

    /// Called by the cron: records the command rate since the previous sample.
    pub fn sample_ops(&self) {
        let now = Instant::now();
        let total = self.total_commands_processed.load(Ordering::Relaxed);
        let mut s = self.ops_samples.lock();
        if let Some((t, n)) = s.last {
            let secs = now.duration_since(t).as_secs_f64();
            if secs > 0.0 {
                let i = s.next;
                s.rates[i] = total.saturating_sub(n) as f64 / secs;
                s.next = (i + 1) % s.rates.len();
            }
        }
        s.last = Some((now, total));
    }

    /// The mean of the recent samples, as INFO's `instantaneous_ops_per_sec`.
    pub fn instantaneous_ops(&self) -> u64 {
        let s = self.ops_samples.lock();
        (s.rates.iter().sum::<f64>() / s.rates.len() as f64).round() as u64
    }

    pub fn reset(&self) {
        for c in [
            &self.total_connections_received,
            &self.total_commands_processed,
            &self.rejected_connections,
            &self.total_error_replies,
            &self.total_net_input_bytes,
            &self.total_net_output_bytes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.errors.lock().clear();
    }
}
