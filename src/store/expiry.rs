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
        let (mut total, mut sampled, mut capped) = (0, 0, false);
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
                    sampled += sample;
                    if expired * 100 <= sample * ACCEPTABLE_STALE_PERCENT {
                        break;
                    }
                    if shard_start.elapsed() > per_shard {
                        capped = true;
                        break;
                    }
                }
            }
        }
        self.stats.expire_cycle_cpu_ms.fetch_add(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        if capped {
            self.stats.expired_time_cap_reached.fetch_add(1, Ordering::Relaxed);
        }
        // Redis's running estimate: 5% this cycle's stale share, 95% the history. Only the
        // cron runs the cycle, so the read-modify-write has no concurrent writer.
        let current = if sampled > 0 { total as f64 / sampled as f64 } else { 0.0 };
        let stale = &self.stats.expired_stale_perc;
        let perc = current * 0.05 + f64::from_bits(stale.load(Ordering::Relaxed)) * 0.95;
        stale.store(perc.to_bits(), Ordering::Relaxed);
        total
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Clock, Store, Str, Value};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    #[test]
    fn the_cycle_reports_its_stale_share_and_time_caps() {
        let clock = Clock::manual(1_000);
        let store = Store::new(1, 2, clock.clone());
        for i in 0..100 {
            let key = format!("key:{i}");
            store.lock_key(key.as_bytes()).insert(0, key.as_bytes(), Value::Str(Str::new(b"v")), 2_000);
        }
        let stale = || f64::from_bits(store.stats.expired_stale_perc.load(Ordering::Relaxed));
        // Nothing expired yet: a sample of live keys, a zero share.
        assert_eq!(store.active_expire_cycle(Duration::from_secs(10)), 0);
        assert_eq!(stale(), 0.0);
        clock.advance(5_000);
        // Every sampled key expired: 5% of a 100% share joins the average. With no budget
        // each shard stops after its first sample, at the cap.
        let deleted = store.active_expire_cycle(Duration::ZERO);
        assert!(deleted > 0);
        assert_eq!(stale(), 0.05);
        assert_eq!(store.stats.expired_time_cap_reached.load(Ordering::Relaxed), 1);
    }
}
