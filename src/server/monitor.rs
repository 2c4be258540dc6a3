//! MONITOR: every executed command, formatted as redis-server prints it, to every
//! monitoring client.
//!
//! Each monitor has its own queue of unsent lines. A line is formatted once and appended to
//! every queue under the hub's lock, so all monitors see the commands in one order. A monitor
//! that lets more than [`QUEUE_LIMIT`] bytes pile up is closed, as Redis closes a client over
//! its output buffer limit, so a slow monitor never receives a stream with lines missing.
//! Redis classes monitors as normal clients, whose default limit is none; we do not buffer
//! without bound, and take Redis's limit for the other clients that only receive (pubsub's
//! 32 MB hard limit).

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Unsent bytes a monitor may have queued before it is closed. A single line larger than
/// this is still delivered to a monitor that has nothing else queued.
pub const QUEUE_LIMIT: usize = 32 << 20;

#[derive(Default)]
pub struct MonitorHub {
    monitors: Mutex<Vec<Arc<Monitor>>>,
    count: AtomicUsize,
}

/// One monitoring connection's queue.
#[derive(Default)]
pub struct Monitor {
    queue: Mutex<Queue>,
    /// Raised when lines arrive or the queue overflows.
    ready: Notify,
}

#[derive(Default)]
struct Queue {
    lines: BytesMut,
    overflowed: bool,
}

/// What a monitor's connection has to do next.
pub enum MonitorEvent {
    /// Send these lines.
    Lines(BytesMut),
    /// The queue went over [`QUEUE_LIMIT`]: close the connection.
    Overflowed,
}

impl Monitor {
    /// Waits for queued lines (all of them, to send in one write) or the overflow.
    pub async fn next(&self) -> MonitorEvent {
        loop {
            {
                let mut q = self.queue.lock();
                if q.overflowed {
                    return MonitorEvent::Overflowed;
                }
                if !q.lines.is_empty() {
                    return MonitorEvent::Lines(std::mem::take(&mut q.lines));
                }
            }
            self.ready.notified().await;
        }
    }

    /// Moves the queued lines to the end of `out`: a monitor's own commands then show right
    /// after their replies, as Redis interleaves them.
    pub fn drain_into(&self, out: &mut BytesMut) {
        let mut q = self.queue.lock();
        if !q.overflowed && !q.lines.is_empty() {
            out.extend_from_slice(&q.lines);
            q.lines.clear();
        }
    }

    /// Resolves once the queue has overflowed (to abandon a write the client is not reading).
    pub async fn overflowed(&self) {
        while !self.queue.lock().overflowed {
            self.ready.notified().await;
        }
    }

    fn push(&self, line: &[u8]) {
        let mut q = self.queue.lock();
        if q.overflowed {
            return;
        }
        if !q.lines.is_empty() && q.lines.len() + line.len() > QUEUE_LIMIT {
            q.overflowed = true;
            q.lines = BytesMut::new();
        } else {
            q.lines.extend_from_slice(line);
        }
        drop(q);
        self.ready.notify_one();
    }
}

/// A monitor's membership in the hub, ended when dropped (the connection closes or RESETs).
pub struct Subscription<'a> {
    hub: &'a MonitorHub,
    pub monitor: Arc<Monitor>,
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        let mut monitors = self.hub.monitors.lock();
        monitors.retain(|m| !Arc::ptr_eq(m, &self.monitor));
        self.hub.count.store(monitors.len(), Ordering::Relaxed);
    }
}

impl MonitorHub {
    /// Cheap check on the command path: is anyone monitoring?
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Starts queueing every published line for a new monitor.
    pub fn subscribe(&self) -> Subscription<'_> {
        let monitor = Arc::new(Monitor::default());
        let mut monitors = self.monitors.lock();
        monitors.push(monitor.clone());
        self.count.store(monitors.len(), Ordering::Relaxed);
        Subscription { hub: self, monitor }
    }

    /// `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`, args escaped like `sdscatrepr`.
    pub fn publish(&self, time_us: u64, db: usize, addr: &str, args: &[Bytes]) {
        let mut line = format!("+{}.{:06} [{} {}]", time_us / 1_000_000, time_us % 1_000_000, db, addr);
        for a in args {
            line.push(' ');
            repr(&mut line, a);
        }
        line.push_str("\r\n");
        for m in self.monitors.lock().iter() {
            m.push(line.as_bytes());
        }
    }
}

/// Redis's `sdscatrepr`: a double-quoted string with C-style escapes.
pub fn repr(out: &mut String, s: &[u8]) {
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(m: &Monitor) -> Option<BytesMut> {
        let mut q = m.queue.lock();
        (!q.overflowed).then(|| std::mem::take(&mut q.lines))
    }

    #[test]
    fn a_monitor_over_its_limit_gets_nothing_more_rather_than_a_gap() {
        let hub = MonitorHub::default();
        let sub = hub.subscribe();
        let big = Bytes::from(vec![b'x'; QUEUE_LIMIT / 4]);
        for _ in 0..3 {
            hub.publish(0, 0, "a", std::slice::from_ref(&big));
        }
        assert_eq!(lines(&sub.monitor).map(|l| l.len()), Some(3 * (QUEUE_LIMIT / 4 + 20)));
        for _ in 0..5 {
            hub.publish(0, 0, "a", std::slice::from_ref(&big));
        }
        assert!(lines(&sub.monitor).is_none(), "overflowed: closed, not truncated");
        hub.publish(0, 0, "a", &[Bytes::from_static(b"later")]);
        assert!(lines(&sub.monitor).is_none());
    }

    #[test]
    fn one_line_over_the_limit_still_reaches_an_idle_monitor() {
        let hub = MonitorHub::default();
        let sub = hub.subscribe();
        hub.publish(0, 0, "a", &[Bytes::from(vec![b'x'; QUEUE_LIMIT + 1])]);
        assert!(lines(&sub.monitor).is_some_and(|l| l.len() > QUEUE_LIMIT));
    }

    #[test]
    fn dropping_the_subscription_leaves_the_hub() {
        let hub = MonitorHub::default();
        let sub = hub.subscribe();
        assert!(hub.active());
        drop(sub);
        assert!(!hub.active());
    }
}
