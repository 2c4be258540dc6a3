//! The active expiry cycle: Redis's `activeExpireCycle`, per shard.
//!
//! Keys past their TTL that nobody reads would otherwise stay in memory forever. Every tick
//! each shard samples keys that have a TTL, deletes the expired ones, and repeats while more
//! than a quarter of a sample was expired, within a time budget so it never stalls clients.

use super::Store;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Keys sampled per database per loop (`ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const KEYS_PER_LOOP: usize = 20;
/// Repeat while more than this percentage of a sample had expired.
const ACCEPTABLE_STALE_PERCENT: usize = 25;

impl Store {
    /// Runs one active-expiry pass over every shard within `budget`; returns keys deleted.
    pub fn active_expire_cycle(&self, budget: Duration) -> usize {
        // A replica waits for its primary's DELs.
        if self.replica_mode() {
            return 0;
        }
        let start = Instant::now();
        let per_shard = budget / self.shard_count() as u32;
        let mut total = 0;
        for si in 0..self.shard_count() {
            let shard_start = Instant::now();
            let mut shard = self.shard(si);
            let now = self.now_ms();
            // Registrations of clients that have since unwatched or gone away.
            shard.watched.retain(|_, flags| {
                flags.retain(|f| std::sync::Arc::strong_count(f) > 1);
                !flags.is_empty()
            });
            for db in 0..self.databases() {
                loop {
                    let t = &mut shard.dbs[db];
                    let n = t.expires.len();
                    if n == 0 {
                        break;
                    }
                    let mut expired = 0;
                    let sample = KEYS_PER_LOOP.min(n);
                    for _ in 0..sample {
                        let t = &mut shard.dbs[db];
                        if t.expires.is_empty() {
                            break;
                        }
                        let i = rand::random::<usize>() % t.expires.len();
                        let (key, at) = t.expires.get_index(i).expect("in range");
                        if *at <= now {
                            let key = key.clone();
                            if self.remove_expired(&mut shard, db, &key) {
                                expired += 1;
                            }
                        }
                    }
                    total += expired;
                    if expired * 100 <= sample * ACCEPTABLE_STALE_PERCENT || shard_start.elapsed() > per_shard {
                        break;
                    }
                }
            }
        }
        self.stats.expire_cycle_cpu_ms.fetch_add(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        total
    }
}
