//! MONITOR: every executed command, formatted as redis-server prints it, to every
//! monitoring client.

use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::broadcast;

pub struct MonitorHub {
    tx: broadcast::Sender<Bytes>,
    count: AtomicUsize,
}

impl Default for MonitorHub {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(4096);
        MonitorHub { tx, count: AtomicUsize::new(0) }
    }
}

impl MonitorHub {
    /// Cheap check on the command path: is anyone monitoring?
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.tx.subscribe()
    }

    pub fn unsubscribe(&self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }

    /// `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`, args escaped like `sdscatrepr`.
    pub fn publish(&self, time_us: u64, db: usize, addr: &str, args: &[Bytes]) {
        let mut line = format!("+{}.{:06} [{} {}]", time_us / 1_000_000, time_us % 1_000_000, db, addr);
        for a in args {
            line.push(' ');
            repr(&mut line, a);
        }
        line.push_str("\r\n");
        let _ = self.tx.send(Bytes::from(line));
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
