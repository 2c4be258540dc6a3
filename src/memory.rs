//! Memory accounting for `maxmemory` and INFO.
//!
//! jemalloc's `stats.allocated` is the truth (what INFO reports as `used_memory`), but reading
//! it needs an epoch advance that merges every arena's stats: too slow for every write. So the
//! meter keeps the last reading plus the change in the store's logical size since then, and
//! re-reads jemalloc every few milliseconds. Eviction decisions use that estimate, the way
//! Redis uses its cheap `zmalloc_used_memory` counter.

pub mod report;

use parking_lot::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const REFRESH_EVERY: Duration = Duration::from_millis(5);

/// INFO's `mem_allocator`: the jemalloc that tikv-jemalloc-sys 0.6 builds.
pub const ALLOCATOR_NAME: &str = "jemalloc-5.3.0";

pub struct MemoryMeter {
    /// jemalloc's allocated bytes at the last refresh.
    allocated: AtomicU64,
    /// The store's logical size at the last refresh.
    logical_at_refresh: AtomicI64,
    last_refresh: Mutex<Instant>,
    /// Allocated bytes right after start-up, before any key (`used_memory_startup`).
    pub startup: u64,
    pub peak: AtomicU64,
}

impl Default for MemoryMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryMeter {
    pub fn new() -> MemoryMeter {
        let now = allocated_now();
        MemoryMeter {
            allocated: AtomicU64::new(now),
            logical_at_refresh: AtomicI64::new(0),
            last_refresh: Mutex::new(Instant::now()),
            startup: now,
            peak: AtomicU64::new(now),
        }
    }

    /// Re-reads jemalloc (INFO, the cron, and the estimate when it is stale). `logical` must be
    /// the store's logical size now, so later growth is measured from the same instant.
    pub fn refresh_with(&self, logical: i64) -> u64 {
        let now = allocated_now();
        self.allocated.store(now, Ordering::Relaxed);
        self.logical_at_refresh.store(logical, Ordering::Relaxed);
        self.peak.fetch_max(now, Ordering::Relaxed);
        *self.last_refresh.lock() = Instant::now();
        now
    }

    /// Estimated used memory: the last jemalloc reading plus logical growth since.
    pub fn estimate(&self, logical_now: i64) -> u64 {
        if let Some(mut last) = self.last_refresh.try_lock() {
            if last.elapsed() >= REFRESH_EVERY {
                *last = Instant::now();
                drop(last);
                return self.refresh_with(logical_now);
            }
        }
        let base = self.allocated.load(Ordering::Relaxed) as i64;
        let delta = logical_now - self.logical_at_refresh.load(Ordering::Relaxed);
        (base + delta).max(0) as u64
    }
}

#[cfg(not(target_env = "msvc"))]
pub fn allocated_now() -> u64 {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    stats::allocated::read().unwrap_or(0) as u64
}

/// `jemalloc-bg-thread`: jemalloc's background thread purges freed pages after their decay
/// time (see `MALLOC_CONF` in main.rs), so RSS follows what is allocated instead of keeping
/// what a growing table freed. Redis enables it the same way.
#[cfg(not(target_env = "msvc"))]
pub fn set_background_thread(on: bool) {
    if tikv_jemalloc_ctl::background_thread::read().ok() != Some(on) {
        if let Err(e) = tikv_jemalloc_ctl::background_thread::write(on) {
            tracing::warn!("Can't set jemalloc's background thread {}: {e}", if on { "on" } else { "off" });
        }
    }
}

#[cfg(target_env = "msvc")]
pub fn set_background_thread(_on: bool) {}

/// Returns every arena's freed pages to the OS now (Redis's `jemalloc_purge`, run after a
/// synchronous FLUSHALL/FLUSHDB and by MEMORY PURGE). Left to decay, the pages of a large
/// flushed keyspace go back during the next second of traffic, with jemalloc's background
/// thread taking a core from the workers; the flush blocks anyway, so it pays for this too.
/// False when jemalloc refuses.
#[cfg(not(target_env = "msvc"))]
pub fn purge() -> bool {
    use std::ptr::null_mut;
    // `arena.<MALLCTL_ARENAS_ALL>.purge`: all arenas. The calling thread's cache is emptied
    // first so the objects it holds count as free; that fails harmlessly without a tcache.
    // SAFETY: both controls take no input and give no output, which is what the null
    // pointers and zero length say.
    unsafe {
        tikv_jemalloc_sys::mallctl(c"thread.tcache.flush".as_ptr(), null_mut(), null_mut(), null_mut(), 0);
        tikv_jemalloc_sys::mallctl(c"arena.4096.purge".as_ptr(), null_mut(), null_mut(), null_mut(), 0) == 0
    }
}

#[cfg(target_env = "msvc")]
pub fn purge() -> bool {
    true
}

#[cfg(target_env = "msvc")]
pub fn allocated_now() -> u64 {
    0
}

/// The process's resident set size from /proc (INFO `used_memory_rss`).
pub fn process_rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        // SAFETY: sysconf only reads a system constant.
        .map(|pages| pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64)
        .unwrap_or(0)
}

#[cfg(all(test, not(target_env = "msvc")))]
mod tests {
    use super::*;

    #[test]
    fn purge_returns_freed_pages_to_the_os() {
        const MIB: u64 = 1 << 20;
        // 64 touched MiB, freed: jemalloc keeps them as dirty pages (still resident) until
        // their decay time, or until a purge.
        let blocks: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; MIB as usize]).collect();
        std::hint::black_box(&blocks);
        drop(blocks);
        let before = report::allocator().resident;
        assert!(purge());
        let after = report::allocator().resident;
        // Half the freed size leaves room for other tests allocating meanwhile.
        assert!(after + 32 * MIB <= before, "resident {before} -> {after} bytes");
    }
}
