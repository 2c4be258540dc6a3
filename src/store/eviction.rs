//! `maxmemory` eviction: Redis's sampled approximation of LRU / LFU / TTL order.
//!
//! Each round samples `maxmemory-samples` keys from a shard, merges them into a small pool
//! of the best candidates seen so far (Redis's `EVPOOL_SIZE` eviction pool), and deletes the
//! best candidate still present. No per-key list is kept, so LRU costs no memory per key.

use super::access::{idle_ms, lfu_counter};
use super::bytes24::Str;
use super::{entry_size, Store};
use std::sync::atomic::Ordering;

/// Candidates kept between rounds (`EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EvictionPolicy {
    NoEviction = 0,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl EvictionPolicy {
    pub const ALL: [EvictionPolicy; 8] = [
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::VolatileTtl,
        EvictionPolicy::AllKeysLru,
        EvictionPolicy::AllKeysLfu,
        EvictionPolicy::AllKeysRandom,
        EvictionPolicy::NoEviction,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::NoEviction => "noeviction",
            EvictionPolicy::AllKeysLru => "allkeys-lru",
            EvictionPolicy::AllKeysLfu => "allkeys-lfu",
            EvictionPolicy::AllKeysRandom => "allkeys-random",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    pub fn parse(s: &str) -> Option<EvictionPolicy> {
        Self::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }

    pub(super) fn from_u8(v: u8) -> EvictionPolicy {
        Self::ALL.into_iter().find(|p| *p as u8 == v).unwrap_or(EvictionPolicy::NoEviction)
    }

    pub fn is_lru(self) -> bool {
        matches!(self, EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru)
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu)
    }

    fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }

    fn random(self) -> bool {
        matches!(self, EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom)
    }
}

/// Why memory could not be brought under the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictError {
    /// The policy is `noeviction`, or no key qualifies (volatile-* with no TTLs).
    NothingToEvict,
}

#[derive(Debug, Clone)]
struct Candidate {
    /// Higher is a better victim: idle ms, 255 - LFU counter, or ms-until-expiry inverted.
    score: u64,
    shard: usize,
    db: usize,
    key: Str,
}

impl Store {
    /// Evicts keys until the logical size is at most `limit` bytes (`performEvictions`).
    /// `used` reports current usage; it is re-read after every deletion.
    pub fn evict_to(&self, limit: u64, samples: usize, used: impl Fn(&Store) -> u64) -> Result<usize, EvictError> {
        let policy = self.eviction_policy();
        let mut evicted = 0;
        let mut pool: Vec<Candidate> = Vec::with_capacity(POOL_SIZE + samples);
        while used(self) > limit {
            if policy == EvictionPolicy::NoEviction {
                return Err(EvictError::NothingToEvict);
            }
            if !self.evict_one(policy, samples.max(1), &mut pool) {
                return Err(EvictError::NothingToEvict);
            }
            evicted += 1;
        }
        Ok(evicted)
    }

    /// One eviction: refill the pool from every shard in turn (as Redis samples every db),
    /// then delete the best candidate that still exists. False when no key qualifies.
    fn evict_one(&self, policy: EvictionPolicy, samples: usize, pool: &mut Vec<Candidate>) -> bool {
        let n = self.shard_count();
        let start = rand::random::<usize>() & (n - 1);
        let now = self.coarse_now_ms();
        if policy.random() {
            // Random policies: the first qualifying random key of a random shard.
            for off in 0..n {
                let si = (start + off) & (n - 1);
                let mut shard = self.shard(si);
                for db in 0..self.databases() {
                    let t = &shard.dbs[db];
                    let len = if policy.volatile_only() { t.expires.len() } else { t.map.len() };
                    if len == 0 {
                        continue;
                    }
                    let i = rand::random::<usize>() % len;
                    let key = if policy.volatile_only() {
                        t.expires.get_index(i).expect("in range").0.clone()
                    } else {
                        t.map.get_index(i).expect("in range").0.clone()
                    };
                    self.delete_evicted(&mut shard, db, &key);
                    return true;
                }
            }
            return false;
        }
        for off in 0..n {
            let si = (start + off) & (n - 1);
            let shard = self.shard(si);
            for db in 0..self.databases() {
                let t = &shard.dbs[db];
                let len = if policy.volatile_only() { t.expires.len() } else { t.map.len() };
                for _ in 0..samples.min(len) {
                    let i = rand::random::<usize>() % len;
                    let (key, e, at) = if policy.volatile_only() {
                        let (key, at) = t.expires.get_index(i).expect("in range");
                        (key, t.map.get(key).expect("a volatile key is in the map"), *at)
                    } else {
                        let (key, e) = t.map.get_index(i).expect("in range");
                        (key, e, 0)
                    };
                    let score = match policy {
                        EvictionPolicy::VolatileTtl => u64::MAX - at,
                        p if p.is_lfu() => 255 - lfu_counter(e.access, now, self.lfu_params()) as u64,
                        _ => idle_ms(e.access, now),
                    };
                    if pool.iter().any(|c| c.shard == si && c.db == db && c.key == *key) {
                        continue;
                    }
                    pool.push(Candidate { score, shard: si, db, key: key.clone() });
                }
            }
            drop(shard);
            // Keep only the best POOL_SIZE candidates, best last.
            pool.sort_by_key(|c| c.score);
            if pool.len() > POOL_SIZE {
                pool.drain(..pool.len() - POOL_SIZE);
            }
            if off + 1 >= n.min(4) && !pool.is_empty() {
                break; // Sampling a few shards per round is enough, as Redis samples per db.
            }
        }
        while let Some(c) = pool.pop() {
            let mut shard = self.shard(c.shard);
            if shard.dbs[c.db].map.contains_key(&c.key) {
                self.delete_evicted(&mut shard, c.db, &c.key);
                return true;
            }
        }
        false
    }

    fn delete_evicted(&self, shard: &mut super::Shard, db: usize, key: &[u8]) {
        if let Some((old, _)) = shard.dbs[db].remove(key) {
            shard.touch_watched(db, key);
            self.account(&mut shard.dbs[db], -entry_size(key, &old));
            self.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
            self.effects.emit(db, &[b"DEL", key]);
            self.free(old.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Clock, Value};

    const T0: u64 = 1_700_000_000_000;

    fn store(policy: EvictionPolicy) -> (Store, Clock) {
        let clock = Clock::manual(T0);
        let store = Store::new(1, 8, clock.clone());
        store.set_eviction_policy(policy);
        (store, clock)
    }

    fn set(store: &Store, key: &str, expire_at: u64) {
        let mut ks = store.lock_keys([key]);
        ks.insert(0, key.as_bytes(), Value::from_set(b"some value"), expire_at);
    }

    fn exists(store: &Store, key: &str) -> bool {
        store.lock_keys([key]).peek(0, key.as_bytes()).is_some()
    }

    fn touch(store: &Store, key: &str) {
        store.lock_keys([key]).get(0, key.as_bytes());
    }

    /// Evicts until the logical size drops by `fraction` of what it was.
    fn evict_fraction(store: &Store, fraction: f64) -> Result<usize, EvictError> {
        let target = (store.logical_used() as f64 * (1.0 - fraction)) as u64;
        store.evict_to(target, 5, |s| s.logical_used() as u64)
    }

    fn survivors(store: &Store, prefix: &str, n: usize) -> usize {
        (0..n).filter(|i| exists(store, &format!("{prefix}{i}"))).count()
    }

    #[test]
    fn noeviction_refuses() {
        let (store, _) = store(EvictionPolicy::NoEviction);
        set(&store, "a", 0);
        assert_eq!(store.evict_to(0, 5, |s| s.logical_used() as u64), Err(EvictError::NothingToEvict));
        assert!(exists(&store, "a"));
    }

    #[test]
    fn allkeys_lru_prefers_idle_keys() {
        let (store, clock) = store(EvictionPolicy::AllKeysLru);
        for i in 0..200 {
            set(&store, &format!("old{i}"), 0);
        }
        clock.advance(100_000);
        for i in 0..200 {
            set(&store, &format!("new{i}"), 0);
        }
        evict_fraction(&store, 0.5).unwrap();
        let (old, new) = (survivors(&store, "old", 200), survivors(&store, "new", 200));
        assert!(new > old + 100, "LRU kept old={old} new={new}");
        assert!(store.stats.evicted_keys.load(Ordering::Relaxed) >= 190);
    }

    #[test]
    fn allkeys_lfu_prefers_rarely_used_keys() {
        let (store, _) = store(EvictionPolicy::AllKeysLfu);
        for i in 0..200 {
            set(&store, &format!("cold{i}"), 0);
            set(&store, &format!("hot{i}"), 0);
        }
        for _ in 0..50 {
            for i in 0..200 {
                touch(&store, &format!("hot{i}"));
            }
        }
        evict_fraction(&store, 0.5).unwrap();
        let (cold, hot) = (survivors(&store, "cold", 200), survivors(&store, "hot", 200));
        assert!(hot > cold + 100, "LFU kept cold={cold} hot={hot}");
    }

    #[test]
    fn volatile_policies_only_evict_keys_with_ttl() {
        for policy in [EvictionPolicy::VolatileLru, EvictionPolicy::VolatileRandom, EvictionPolicy::VolatileTtl] {
            let (store, _) = store(policy);
            for i in 0..100 {
                set(&store, &format!("keep{i}"), 0);
                set(&store, &format!("ttl{i}"), T0 + 1_000_000);
            }
            // Asking for more than the volatile keys hold: they all go, then it fails.
            assert_eq!(evict_fraction(&store, 0.9), Err(EvictError::NothingToEvict), "{policy:?}");
            assert_eq!(survivors(&store, "keep", 100), 100, "{policy:?}");
            assert_eq!(survivors(&store, "ttl", 100), 0, "{policy:?}");
        }
    }

    #[test]
    fn volatile_ttl_evicts_nearest_expiry_first() {
        let (store, _) = store(EvictionPolicy::VolatileTtl);
        for i in 0..200 {
            set(&store, &format!("soon{i}"), T0 + 1_000 + i);
            set(&store, &format!("late{i}"), T0 + 10_000_000 + i);
        }
        evict_fraction(&store, 0.5).unwrap();
        let (soon, late) = (survivors(&store, "soon", 200), survivors(&store, "late", 200));
        assert!(late > soon + 100, "volatile-ttl kept soon={soon} late={late}");
    }

    #[test]
    fn allkeys_random_evicts_from_everything() {
        let (store, _) = store(EvictionPolicy::AllKeysRandom);
        for i in 0..100 {
            set(&store, &format!("a{i}"), 0);
            set(&store, &format!("b{i}"), T0 + 1_000_000);
        }
        evict_fraction(&store, 0.5).unwrap();
        let (a, b) = (survivors(&store, "a", 100), survivors(&store, "b", 100));
        assert!(a < 100 && b < 100, "random eviction should hit both kinds: a={a} b={b}");
        assert!(store.logical_used() >= 0);
    }
}
