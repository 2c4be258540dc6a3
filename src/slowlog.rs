//! The slow log (SLOWLOG): commands that ran for at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, as Redis's `slowlog.c` keeps
//! them. The request path pays one atomic load per command ([`SlowLog::is_slow`]); only a slow
//! command takes the lock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

/// At most this many arguments are kept; the last kept one then says how many were left out
/// (`SLOWLOG_ENTRY_MAX_ARGC`).
const MAX_ARGC: usize = 32;
/// Longer arguments are cut to this many bytes (`SLOWLOG_ENTRY_MAX_STRING`).
const MAX_STRING: usize = 128;

/// One logged command.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: u64,
    /// Unix time, seconds, when it was logged.
    pub time: u64,
    pub duration_us: u64,
    pub args: Vec<Bytes>,
    /// `ip:port` of the client.
    pub peer: String,
    pub client_name: Bytes,
}

pub struct SlowLog {
    /// `slowlog-log-slower-than` in nanoseconds; `u64::MAX` when negative (off).
    threshold_ns: AtomicU64,
    max_len: AtomicU64,
    next_id: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for SlowLog {
    fn default() -> SlowLog {
        SlowLog {
            threshold_ns: AtomicU64::new(10_000_000),
            max_len: AtomicU64::new(128),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl SlowLog {
    /// Applies `slowlog-log-slower-than` (µs; negative: off) and `slowlog-max-len`.
    pub fn configure(&self, slower_than_us: i64, max_len: u64) {
        let ns = u64::try_from(slower_than_us).map_or(u64::MAX, |us| us.saturating_mul(1000));
        self.threshold_ns.store(ns, Ordering::Relaxed);
        self.max_len.store(max_len, Ordering::Relaxed);
    }

    /// Whether a command that ran `nanos` goes into the log. Redis compares whole
    /// microseconds, so a threshold of 0 logs every command.
    #[inline]
    pub fn is_slow(&self, nanos: u64) -> bool {
        let threshold = self.threshold_ns.load(Ordering::Relaxed);
        threshold != u64::MAX && nanos / 1000 * 1000 >= threshold
    }

    /// Logs a command (`slowlogPushEntryIfNeeded` once [`is_slow`](Self::is_slow) said so).
    pub fn push(&self, args: &[Bytes], duration_us: u64, peer: String, client_name: Bytes) {
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs(),
            duration_us,
            args: kept_args(args),
            peer,
            client_name,
        };
        let max_len = self.max_len.load(Ordering::Relaxed) as usize;
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max_len);
    }

    /// The newest `count` entries (all for `None`).
    pub fn newest(&self, count: Option<usize>) -> Vec<Entry> {
        let entries = self.entries.lock();
        entries.iter().take(count.unwrap_or(usize::MAX)).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

/// The arguments an entry keeps: at most [`MAX_ARGC`], the last then `... (N more arguments)`;
/// each cut to [`MAX_STRING`] bytes plus `... (N more bytes)`.
fn kept_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGC);
    (0..kept)
        .map(|j| {
            if kept != args.len() && j == kept - 1 {
                Bytes::from(format!("... ({} more arguments)", args.len() - kept + 1))
            } else if args[j].len() > MAX_STRING {
                let mut cut = args[j][..MAX_STRING].to_vec();
                cut.extend_from_slice(format!("... ({} more bytes)", args[j].len() - MAX_STRING).as_bytes());
                Bytes::from(cut)
            } else {
                args[j].clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_cut_as_redis_cuts_them() {
        let many: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let kept = kept_args(&many);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[30], "30");
        assert_eq!(kept[31], "... (9 more arguments)");
        let long = [Bytes::from("SET"), Bytes::from("k"), Bytes::from(vec![b'x'; 130])];
        let kept = kept_args(&long);
        assert_eq!(kept[2], format!("{}... (2 more bytes)", "x".repeat(128)));
        assert_eq!(kept_args(&many[..32]).len(), 32);
        assert_eq!(kept_args(&many[..32])[31], "31");
    }

    #[test]
    fn thresholds_and_length() {
        let log = SlowLog::default();
        log.configure(-1, 2);
        assert!(!log.is_slow(u64::MAX - 1));
        log.configure(0, 2);
        assert!(log.is_slow(0));
        log.configure(5, 2);
        assert!(!log.is_slow(4_999) && log.is_slow(5_000));
        for i in 0..3 {
            log.push(&[Bytes::from(format!("c{i}"))], 7, "1.2.3.4:5".into(), Bytes::new());
        }
        let ids: Vec<u64> = log.newest(None).iter().map(|e| e.id).collect();
        assert_eq!(ids, [2, 1]);
        assert_eq!(log.newest(Some(1))[0].args, [Bytes::from("c2")]);
        log.reset();
        assert!(log.is_empty());
    }
}
