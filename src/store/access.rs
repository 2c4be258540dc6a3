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

/// LRU access data of a key idle for `idle_secs` (RDB `IDLE`, RESTORE `IDLETIME`), as Redis
/// 7.0.15's `objectSetLRUOrLFU` computes it, arithmetic quirks included, so that OBJECT
/// IDLETIME afterwards reads what Redis's would:
///
/// - the seconds are taken as a signed `long long` and scaled by `*1000/1000`, which wraps
///   for values over `i64::MAX / 1000`; a negative result leaves the key's access data alone
///   (`None`), as it does in Redis;
/// - an access time before the clock's zero is moved up by `LRU_CLOCK_MAX` (once) and then cut
///   to 24 bits, so an idle time beyond the ~194-day clock reads back modulo that clock.
///
/// (Older Redis releases put such keys "half-way into the future" instead; 7.0.15, the
/// reference, does not.)
pub fn access_from_idle(idle_secs: u64, now_ms: u64) -> Option<u32> {
    let idle = idle_secs as i64;
    if idle < 0 {
        return None;
    }
    let clock = lru_clock(now_ms) as i64;
    // With a 1 s clock resolution the idle seconds are clock ticks.
    let ticks = idle.wrapping_mul(1000) / LRU_RESOLUTION_MS as i64;
    let mut abs = clock - ticks;
    if abs < 0 {
        abs += LRU_CLOCK_MAX as i64;
    }
    Some((abs & LRU_CLOCK_MAX as i64) as u32)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms at which the LRU clock reads `clock` (the clock counts seconds modulo 2^24).
    fn at_clock(clock: u64) -> u64 {
        (1_776_000_000 / (LRU_CLOCK_MAX + 1) * (LRU_CLOCK_MAX + 1) + clock) * 1000 + 250
    }

    /// `RESTORE k 0 <payload> IDLETIME x` on redis-server 7.0.15 (started with
    /// `--enable-debug-command yes`), then `DEBUG OBJECT k` for `lru:` and `OBJECT IDLETIME k`.
    #[test]
    fn idle_times_read_back_as_in_redis_7_0_15() {
        let now = at_clock(799_475);
        assert_eq!(lru_clock(now), 799_475);
        // (IDLETIME, lru: of DEBUG OBJECT)
        for (idle, lru) in [
            (5, 799_470),
            (800_449, 16_776_241),
            (16_777_215, 799_475),
            (16_777_216, 799_474),
            (20_000_000, 14_353_906),
            (100_000_000, 1_462_770),
        ] {
            assert_eq!(access_from_idle(idle, now), Some(lru), "IDLETIME {idle}");
        }
        let now = at_clock(799_450);
        // (IDLETIME, OBJECT IDLETIME)
        for (idle, reported) in [
            (799_449, 799_449),
            (799_450, 799_450),
            (799_451, 799_451),
            (16_777_215, 0),
            (16_777_216, 1),
            (20_000_000, 3_222_784),
            (100_000_000, 16_113_920),
            (9_223_372_036_854_775, 14_898_167),
            (9_223_372_036_854_776, 1_879_048),
            (i64::MAX as u64, 16_777_214),
        ] {
            let access = access_from_idle(idle, now).expect("a non-negative idle time");
            assert_eq!(idle_ms(access, now) / 1000, reported, "IDLETIME {idle}");
        }
        // RDB IDLE values above i64::MAX are negative to Redis: the key keeps a fresh clock.
        assert_eq!(access_from_idle(1 << 63, now), None);
        assert_eq!(access_from_idle(u64::MAX, now), None);
    }

    #[test]
    fn freq_is_stamped_with_the_current_minute() {
        let now = 1_700_000_000_000;
        let access = access_from_freq(100, now);
        assert_eq!(access & 255, 100);
        assert_eq!(lfu_counter(access, now, &LfuParams::default()), 100);
        // One decay period (lfu-decay-time 1: a minute) later, one less.
        assert_eq!(lfu_counter(access, now + 60_000, &LfuParams::default()), 99);
    }
}
