//! Per-key access data for eviction: Redis's 24-bit LRU clock or its LFU counter,
//! packed into the same `u32` as `robj.lru` packs them.

use super::value::Entry;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const LRU_CLOCK_MAX: u64 = (1 << 24) - 1;
/// Redis's `LRU_CLOCK_RESOLUTION`: the LRU clock ticks once a second.
const LRU_RESOLUTION_MS: u64 = 1000;
/// A new key's LFU counter (`LFU_INIT_VAL`), so fresh keys are not evicted at once.
pub const LFU_INIT_VAL: u8 = 5;

/// `lfu-log-factor` and `lfu-decay-time`, shared with CONFIG SET.
#[derive(Debug, Clone)]
pub struct LfuParams(Arc<(AtomicU32, AtomicU32)>);

impl Default for LfuParams {
    fn default() -> Self {
        LfuParams(Arc::new((AtomicU32::new(10), AtomicU32::new(1))))
    }
}

impl LfuParams {
    pub fn log_factor(&self) -> u32 {
        self.0 .0.load(Ordering::Relaxed)
    }
    pub fn decay_time(&self) -> u32 {
        self.0 .1.load(Ordering::Relaxed)
    }
    pub fn set_log_factor(&self, v: u32) {
        self.0 .0.store(v, Ordering::Relaxed)
    }
    pub fn set_decay_time(&self, v: u32) {
        self.0 .1.store(v, Ordering::Relaxed)
    }
}

/// Which meaning `Entry::access` has, following `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessPolicy {
    Lru,
    Lfu,
}

pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / LRU_RESOLUTION_MS) & LRU_CLOCK_MAX) as u32
}

/// Idle time in ms of an entry whose access field holds an LRU clock (`estimateObjectIdleTime`).
pub fn idle_ms(access: u32, now_ms: u64) -> u64 {
    let clock = lru_clock(now_ms) as u64;
    let lru = access as u64 & LRU_CLOCK_MAX;
    if clock >= lru {
        (clock - lru) * LRU_RESOLUTION_MS
    } else {
        (clock + (LRU_CLOCK_MAX - lru)) * LRU_RESOLUTION_MS
    }
}

/// LRU access data of a key idle for `idle_secs` (RDB `IDLE`, RESTORE `IDLETIME`), as
/// `objectSetLRUOrLFU` computes it.
pub fn access_from_idle(idle_secs: u64, now_ms: u64) -> u32 {
    let clock = lru_clock(now_ms) as u64;
    // With a 1 s clock resolution the idle seconds are clock ticks. An idle time longer
    // than the wrapping clock can express gets Redis's answer: half-way into the future.
    match clock.checked_sub(idle_secs) {
        Some(abs) => abs as u32,
        None => ((clock + LRU_CLOCK_MAX / 2) % LRU_CLOCK_MAX) as u32,
    }
}

/// LFU access data of a key with counter `freq` (RDB `FREQ`, RESTORE `FREQ`), as
/// `objectSetLRUOrLFU` computes it: the counter, last decremented now.
pub fn access_from_freq(freq: u8, now_ms: u64) -> u32 {
    (lfu_minutes(now_ms) << 8) | freq as u32
}

fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 1000 / 60) & 65535) as u32
}

/// The LFU counter after decay (`LFUDecrAndReturn`); what OBJECT FREQ reports.
pub fn lfu_counter(access: u32, now_ms: u64, params: &LfuParams) -> u8 {
    let ldt = access >> 8;
    let counter = (access & 255) as u8;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt { now - ldt } else { 65535 - ldt + now };
    let periods = match params.decay_time() {
        0 => 0,
        d => elapsed / d,
    };
    counter.saturating_sub(periods.min(255) as u8)
}

/// Logarithmic increment (`LFULogIncr`): the higher the counter, the less likely it grows.
fn lfu_log_incr(counter: u8, params: &LfuParams) -> u8 {
    if counter == 255 {
        return 255;
    }
    let r: f64 = rand::random();
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * params.log_factor() as f64 + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

impl AccessPolicy {
    /// Access data of a newly created key.
    pub fn initial(self, now_ms: u64, _params: &LfuParams) -> u32 {
        match self {
            AccessPolicy::Lru => lru_clock(now_ms),
            AccessPolicy::Lfu => (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL as u32,
        }
    }

    /// Records an access (`updateLFU` or the LRU clock store in `lookupKey`).
    pub fn touch(self, entry: &mut Entry, now_ms: u64, params: &LfuParams) {
        entry.access = match self {
            AccessPolicy::Lru => lru_clock(now_ms),
            AccessPolicy::Lfu => {
                let c = lfu_log_incr(lfu_counter(entry.access, now_ms, params), params);
                (lfu_minutes(now_ms) << 8) | c as u32
            }
        };
    }
}
