//! Busy polling: while requests keep arriving, the worker threads poll for I/O instead of
//! sleeping in epoll between them.
//!
//! A server asleep in `epoll_wait` is woken by its client's send: the kernel delivers the
//! request and wakes the server inside the client's system call, which on another core means
//! an inter-processor interrupt (a VM exit on virtual machines). At pipeline 1 almost every
//! request finds the server asleep, so the client pays for the wake-up and, being the
//! bottleneck there, serves fewer requests (docs/PERFORMANCE.md has the measurements).
//!
//! So when a batch of requests runs and no pollers are running, one poller task per worker
//! starts ([`poll_while_busy`]). A poller yields to tokio in a loop, and a worker holding a
//! yielded task polls the I/O driver without blocking; on a turn that found no new batch it
//! also yields the core to the OS, so any other runnable thread there (a client on the same
//! machine) goes first. Once no batch has run anywhere for `busy-poll` microseconds the
//! pollers end and the workers sleep in epoll as usual: an idle server uses no CPU.
//! `busy-poll 0` turns it off.
//!
//! It is all workers or none because tokio's workers share one epoll: a worker that parks
//! takes it and blocks in it, and then the others can only poll it when it wakes. The pollers
//! are spread by tokio's work stealing (an idle worker steals a queued one), not pinned.

use super::Shared;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Pollers running; the next batch after the last one ends starts a new set.
#[derive(Debug, Default)]
pub struct BusyPoll {
    pollers: AtomicUsize,
}

impl BusyPoll {
    /// Called after each batch of requests a connection runs (its command counts published):
    /// starts the pollers unless they are running or `busy-poll` is 0.
    pub(super) fn after_batch(&self, shared: &Shared) {
        if self.pollers.load(Ordering::Relaxed) != 0 || shared.hot.busy_poll_us.load(Ordering::Relaxed) == 0 {
            return;
        }
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        if self.pollers.compare_exchange(0, workers, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            for _ in 0..workers {
                tokio::spawn(poll_while_busy(shared.arc()));
            }
        }
    }

    /// Pollers running now.
    pub fn pollers(&self) -> usize {
        self.pollers.load(Ordering::Relaxed)
    }
}

/// Keeps a worker polling until no batch has run for the `busy-poll` window.
async fn poll_while_busy(shared: std::sync::Arc<Shared>) {
    // Published once per batch, so it moves exactly when batches run.
    let batches = || shared.stats.total_commands_processed.load(Ordering::Relaxed);
    let mut idle = IdleWindow::new(batches(), Instant::now());
    loop {
        // Back in line behind the tasks already woken: the worker runs them, then, holding a
        // yielded task, polls the I/O driver without blocking, then comes back here.
        tokio::task::yield_now().await;
        let window = Duration::from_micros(shared.hot.busy_poll_us.load(Ordering::Relaxed));
        match idle.observe(batches(), Instant::now(), window) {
            Activity::Batches => {}
            // Nothing arrived this turn: let any other runnable thread on this core go first.
            Activity::Quiet => std::thread::yield_now(),
            Activity::Idle => break,
        }
    }
    shared.busy_poll.pollers.fetch_sub(1, Ordering::Relaxed);
}

/// What a poller saw since its last look.
#[derive(Debug, PartialEq)]
enum Activity {
    /// Batches ran.
    Batches,
    /// None ran, but the last one is within the window.
    Quiet,
    /// None has run for the window: time to sleep.
    Idle,
}

/// When the last batch ran, as a poller sees it.
struct IdleWindow {
    batches: u64,
    since: Instant,
}

impl IdleWindow {
    fn new(batches: u64, now: Instant) -> Self {
        IdleWindow { batches, since: now }
    }

    /// Classifies `now`, given the batch count then.
    fn observe(&mut self, batches: u64, now: Instant, window: Duration) -> Activity {
        if window.is_zero() {
            return Activity::Idle;
        }
        if batches != self.batches {
            self.batches = batches;
            self.since = now;
            return Activity::Batches;
        }
        if now.duration_since(self.since) < window {
            Activity::Quiet
        } else {
            Activity::Idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_micros(50);

    #[test]
    fn a_poller_keeps_polling_while_batches_run_and_stops_a_window_after_the_last() {
        let t0 = Instant::now();
        let mut idle = IdleWindow::new(7, t0);
        assert_eq!(idle.observe(7, t0 + Duration::from_micros(49), WINDOW), Activity::Quiet);
        // A batch seen at 49 µs restarts the window from there.
        assert_eq!(idle.observe(8, t0 + Duration::from_micros(49), WINDOW), Activity::Batches);
        assert_eq!(idle.observe(8, t0 + Duration::from_micros(98), WINDOW), Activity::Quiet);
        assert_eq!(idle.observe(8, t0 + Duration::from_micros(99), WINDOW), Activity::Idle);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_starts_one_poller_per_worker_which_end_a_window_after_the_last_batch() {
        let shared = Shared::new(crate::Config::default(), crate::store::Clock::System, 0);
        shared.hot.busy_poll_us.store(2_000, Ordering::Relaxed);
        shared.busy_poll.after_batch(&shared);
        assert_eq!(shared.busy_poll.pollers(), 2);
        // While they run, further batches start no more.
        shared.busy_poll.after_batch(&shared);
        assert_eq!(shared.busy_poll.pollers(), 2);
        let deadline = Instant::now() + Duration::from_secs(10);
        while shared.busy_poll.pollers() != 0 {
            assert!(Instant::now() < deadline, "pollers still running with no batches");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        shared.hot.busy_poll_us.store(0, Ordering::Relaxed);
        shared.busy_poll.after_batch(&shared);
        assert_eq!(shared.busy_poll.pollers(), 0, "busy-poll 0 starts none");
    }

    #[test]
    fn a_window_of_zero_stops_pollers_at_once() {
        let t0 = Instant::now();
        let mut idle = IdleWindow::new(0, t0);
        assert_eq!(idle.observe(1, t0, Duration::ZERO), Activity::Idle);
    }
}
