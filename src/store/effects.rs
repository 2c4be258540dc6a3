//! Write effects leaving the store: what the AOF (and, later, replicas) receive.
//!
//! An effect is a command that reproduces a change: the request itself when that is
//! deterministic, a rewrite when not (`SET k v EX 10` leaves as `SET k v PXAT <when>`), and a
//! `DEL` for each key the store expires or evicts on its own. Effects are emitted while the
//! shards they touch are still locked, so those on any one key reach the sink in the order
//! they happened.

use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Where effects go.
pub trait EffectSink: Send + Sync {
    /// One effect, to be applied in database `db`.
    fn emit(&self, db: usize, args: &[&[u8]]);
}

/// The store's switch and sink for effects. Off (and free: one relaxed load) unless
/// something consumes them.
#[derive(Default)]
pub struct Effects {
    on: AtomicBool,
    sink: RwLock<Option<Arc<dyn EffectSink>>>,
}

impl std::fmt::Debug for Effects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effects").field("on", &self.on.load(Ordering::Relaxed)).finish()
    }
}

impl Effects {
    /// Installs the sink; effects flow once [`set_enabled`](Self::set_enabled).
    pub fn set_sink(&self, sink: Arc<dyn EffectSink>) {
        *self.sink.write() = Some(sink);
    }

    pub fn set_enabled(&self, on: bool) {
        self.on.store(on && self.sink.read().is_some(), Ordering::Release);
    }

    #[inline]
    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn emit(&self, db: usize, args: &[&[u8]]) {
        if self.enabled() {
            if let Some(sink) = &*self.sink.read() {
                sink.emit(db, args);
            }
        }
    }
}
