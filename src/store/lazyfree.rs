//! Freeing big values off the request path.
//!
//! Dropping a collection of a million elements takes tens of milliseconds; done where the key
//! goes away (DEL, an overwrite, expiry, eviction) it would hold the key's shard, and the
//! worker, that long. Values whose free effort passes [`LAZYFREE_THRESHOLD`] (Redis's, counted
//! as Redis's `lazyfreeGetFreeEffort` counts: one per element of a general encoding, one for a
//! packed one) go to one background thread per store instead; smaller ones are dropped where
//! they are, which is cheaper than the hand-over. Redis frees that way only for UNLINK and the
//! `lazyfree-lazy-*` options; here it is always done, as nothing is lost by it, and
//! `lazyfree_pending_objects` / `lazyfreed_objects` count these values too.

use super::{LazyfreeStats, Value};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, OnceLock};

/// Redis's `LAZYFREE_THRESHOLD`: values costing more allocations than this to free are freed
/// in the background.
pub const LAZYFREE_THRESHOLD: usize = 64;

/// The store's background freer: a channel to a thread started on first use.
#[derive(Default)]
pub struct LazyFreer {
    queue: OnceLock<Option<Sender<Value>>>,
}

impl LazyFreer {
    /// Drops `value` here if it is cheap to free, else hands it to the background thread. A
    /// collection another holder still shares (a snapshot, a COPY) frees nothing when dropped:
    /// it is let go here, neither sent nor counted.
    pub fn free(&self, value: Value, stats: &Arc<LazyfreeStats>) {
        if value.free_effort() <= LAZYFREE_THRESHOLD || value.is_shared() {
            return;
        }
        let Some(queue) = self.queue.get_or_init(|| spawn(stats.clone())) else { return };
        stats.pending.fetch_add(1, Ordering::Relaxed);
        if let Err(back) = queue.send(value) {
            stats.pending.fetch_sub(1, Ordering::Relaxed);
            drop(back.0);
        }
    }
}

/// Starts the thread; `None` (values then freed in place) if the OS refuses one.
fn spawn(stats: Arc<LazyfreeStats>) -> Option<Sender<Value>> {
    let (send, receive) = mpsc::channel::<Value>();
    let spawned = std::thread::Builder::new().name("lazyfree-values".into()).spawn(move || {
        for value in receive {
            drop(value);
            stats.pending.fetch_sub(1, Ordering::Relaxed);
            stats.freed.fetch_add(1, Ordering::Relaxed);
        }
    });
    match spawned {
        Ok(_) => Some(send),
        Err(e) => {
            tracing::warn!("Can't start the thread that frees big values ({e}); freeing them in place");
            None
        }
    }
}

impl std::fmt::Debug for LazyFreer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LazyFreer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::types::{Collection, Set};
    use std::time::{Duration, Instant};

    fn set_of(n: usize) -> Value {
        let mut set = Set::new();
        for i in 0..n {
            set.insert(i.to_string().as_bytes());
        }
        set.into_value()
    }

    #[test]
    fn big_values_are_freed_in_the_background_and_counted() {
        let (freer, stats) = (LazyFreer::default(), Arc::new(LazyfreeStats::default()));
        freer.free(set_of(LAZYFREE_THRESHOLD), &stats);
        freer.free(Value::Int(1), &stats);
        assert_eq!(stats.freed.load(Ordering::Relaxed), 0, "small ones are dropped in place");
        freer.free(set_of(LAZYFREE_THRESHOLD + 1), &stats);
        freer.free(set_of(10_000), &stats);
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.freed.load(Ordering::Relaxed) < 2 {
            assert!(Instant::now() < deadline, "the background thread never freed them");
            std::thread::yield_now();
        }
        assert_eq!(stats.pending.load(Ordering::Relaxed), 0);
        // One of two holders lets go: nothing is freed, nothing counted; the last one is.
        let shared = set_of(10_000);
        freer.free(shared.clone(), &stats);
        assert_eq!((stats.pending.load(Ordering::Relaxed), stats.freed.load(Ordering::Relaxed)), (0, 2));
        freer.free(shared, &stats);
        while stats.freed.load(Ordering::Relaxed) < 3 {
            assert!(Instant::now() < deadline, "the background thread never freed it");
            std::thread::yield_now();
        }
    }
}
