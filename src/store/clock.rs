//! The store's notion of "now", injectable so TTL tests advance time instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, from the system or from a test's hand.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    /// A clock that moves only when a test calls [`Clock::advance`].
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub fn manual(start_ms: u64) -> Clock {
        Clock::Manual(Arc::new(AtomicU64::new(start_ms)))
    }

    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => system_now_ms(),
            Clock::Manual(t) => t.load(Ordering::Relaxed),
        }
    }

    /// Moves a manual clock forward; a no-op on the system clock.
    pub fn advance(&self, ms: u64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(ms, Ordering::Relaxed);
        }
    }
}

pub fn system_now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Nanoseconds on the monotonic clock, for timing commands (commandstats): one vDSO read.
/// `Instant` adds a normalising `timespec` subtraction per measurement, about a third of the
/// cost, which a difference of two `u64`s does not need.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on every target we build.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The command timer's clock (commandstats, slowlog, latency spikes): the CPU's timestamp
/// counter where it is invariant, calibrated once, else CLOCK_MONOTONIC. A reading costs
/// ~12 ns against the vDSO clock's ~33 ns here, and every command takes two.
static COMMAND_CLOCK: std::sync::LazyLock<quanta::Clock> = std::sync::LazyLock::new(quanta::Clock::new);

/// A reading of the command timer, for [`ticks_to_ns`]; both on one thread.
#[inline]
pub fn timer_ticks() -> u64 {
    COMMAND_CLOCK.raw()
}

/// Nanoseconds between two [`timer_ticks`] readings.
#[inline]
pub fn ticks_to_ns(start: u64, end: u64) -> u64 {
    COMMAND_CLOCK.delta_as_nanos(start, end)
}

/// Calibrates the command timer (milliseconds of work) before clients are served.
pub fn calibrate_timer() {
    std::sync::LazyLock::force(&COMMAND_CLOCK);
}

pub fn system_now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}
