//! Busy polling: while requests keep arriving, the worker threads poll for I/O instead of
//! sleeping in epoll between them.
//!
//! A server asleep in `epoll_wait` is woken by its client's send: the kernel delivers the
//! request and wakes the server inside the client's system call, which on another core means
//! an inter-processor interrupt (a VM exit on virtual machines). At pipeline 1 almost every
//! request finds the server asleep, so the client pays for the wake-up and, being the
//! bottleneck there, serves fewer requests (docs/PERFORMANCE.md has the measurements).
//!
//! So when batches arrive often — the moving average of the gaps between them is under
//! `busy-poll` microseconds — a worker that runs a batch starts a poller task of its own
//! ([`poll_while_busy`]), so under load every worker has one. A
//! poller yields to tokio in a loop, and a worker holding a yielded task polls the I/O driver
//! without blocking; on a turn that found no new batch it also yields the core to the OS, so
//! any other runnable thread there (a client on the same machine) goes first. Pollers end, and
//! the workers sleep in epoll as usual, once no batch has run anywhere for `STOP_WINDOWS` ×
//! `busy-poll` microseconds, or once commands come further apart than `busy-poll` on average.
//! A server whose requests come further apart than that never polls, so it costs nothing at
//! idle or light load; under sustained load the polling workers stay busy, which is the price
//! (docs/PERFORMANCE.md). `busy-poll 0` turns it off.
//!
//! No worker may sleep in epoll while another polls, because tokio's workers share one epoll:
//! a worker that parks takes it and blocks in it, and then the others can only poll it when it
//! wakes. So a worker claims its poller (`POLLER_HERE`) when it starts one, and a poller that
//! tokio's work stealing moved to another worker hands the claim back and leaves if that
//! worker already has its own (before, when pollers were spread by stealing alone, two often
//! ended up on one worker: ~30% of a pipeline-1 run went that way).
//!
//! Only one of them polls while one worker keeps up: the first poller leads, and the others
//! ("helpers") block their threads on a condition variable — neither spinning nor parking in
//! epoll — until the lead's worker is busy running connections for more than `HELPERS_ON` of
//! its time ([`LoadGauge`]). On a machine shared with the clients (a benchmark on the same
//! box) a second spinning worker takes CPU from the client and lengthens the tail; at deep
//! pipelines the second worker is what doubles throughput (docs/PERFORMANCE.md, seventh round).
//!
//! A waiting helper is a worker the I/O driver cannot use for up to `HELPER_WAIT`. That is
//! kept on purpose: letting uncalled helpers end instead, so their workers park as tokio parks
//! them, was measured again with the slow-command work in place (docs/PERFORMANCE.md, "Busy
//! polling's parked helpers") and cost pipeline 1 its p99 margin and deep pipelines 15–20% of
//! their throughput; and long work never relies on that worker, as it is offloaded
//! (`crate::blocking`), which moves the busy worker's queue to a fresh thread.

use super::Shared;
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The moving average of batch gaps starts here (microseconds), as if the server had been idle.
const IDLE_GAP_US: u64 = 1_000_000;

/// Pollers running, and the batch timing that decides when to start them.
#[derive(Debug)]
pub struct BusyPoll {
    pollers: AtomicUsize,
    epoch: Instant,
    /// When the last batch seen ran, in microseconds since `epoch` (pollers that end set it
    /// to the last batch they saw, since `after_batch` does not look while they run).
    last_batch_us: AtomicU64,
    /// Moving average (1/8 weight per batch) of the gaps between batches while no pollers run.
    mean_gap_us: AtomicU64,
    /// Whether a lead poller runs: the first poller to start leads, later ones help.
    lead_running: AtomicBool,
    /// The lead's call for help, and where uncalled helpers wait for it.
    helpers_wanted: AtomicBool,
    helper_gate: Mutex<()>,
    helper_call: Condvar,
}

impl Default for BusyPoll {
    fn default() -> Self {
        BusyPoll {
            pollers: AtomicUsize::new(0),
            epoch: Instant::now(),
            last_batch_us: AtomicU64::new(0),
            mean_gap_us: AtomicU64::new(IDLE_GAP_US),
            lead_running: AtomicBool::new(false),
            helpers_wanted: AtomicBool::new(false),
            helper_gate: Mutex::new(()),
            helper_call: Condvar::new(),
        }
    }
}

impl BusyPoll {
    /// Called after each batch of requests a connection runs (its command counts published):
    /// starts a poller on this worker if batches have been coming often and none runs here.
    pub(super) fn after_batch(&self, shared: &Shared) {
        if POLLER_HERE.with(|here| here.load(Ordering::Relaxed)) {
            return;
        }
        let window_us = shared.hot.busy_poll_us.load(Ordering::Relaxed);
        if window_us == 0 {
            return;
        }
        // Updated racily by concurrent batches: an estimate is all this needs.
        let now = self.micros(Instant::now());
        let gap = now.saturating_sub(self.last_batch_us.swap(now, Ordering::Relaxed));
        let mean = moving_average(self.mean_gap_us.load(Ordering::Relaxed), gap);
        self.mean_gap_us.store(mean, Ordering::Relaxed);
        if mean >= window_us {
            return;
        }
        // Claimed before the spawn, so this worker's next batches do not start another. A
        // task spawned from a worker runs on it (tokio's LIFO slot), and the poller re-checks
        // where it is on every turn anyway.
        let claim = POLLER_HERE.with(|here| {
            here.store(true, Ordering::Relaxed);
            here.clone()
        });
        self.pollers.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(poll_while_busy(shared.arc(), claim));
    }

    /// Pollers running now (the lead and its helpers, waiting or not).
    pub fn pollers(&self) -> usize {
        self.pollers.load(Ordering::Relaxed)
    }

    /// The lead's decision: helpers poll (`true`) or wait. Wakes the waiting ones either way.
    fn call_helpers(&self, wanted: bool) {
        let _gate = self.helper_gate.lock();
        self.helpers_wanted.store(wanted, Ordering::Relaxed);
        self.helper_call.notify_all();
    }

    /// Blocks this worker thread until the lead calls for help or ends, work is offloaded
    /// somewhere, or `HELPER_WAIT`. Offloads are noticed within `OFFLOAD_CHECK` (their start
    /// does not signal the condition variable, which belongs to one server while `offload`
    /// serves every part of the process); looking costs a futex wake, not a worker turn.
    fn wait_for_call(&self) {
        let until = Instant::now() + HELPER_WAIT;
        let mut gate = self.helper_gate.lock();
        while !self.helpers_wanted.load(Ordering::Relaxed)
            && self.lead_running.load(Ordering::Relaxed)
            && !crate::blocking::offloads_running()
            && Instant::now() < until
        {
            self.helper_call.wait_for(&mut gate, OFFLOAD_CHECK);
        }
    }

    fn micros(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }
}

/// The next moving average of batch gaps after one of `gap_us` (a long silence counts as
/// `IDLE_GAP_US`).
fn moving_average(mean_us: u64, gap_us: u64) -> u64 {
    eighth_weight(mean_us, gap_us.min(IDLE_GAP_US))
}

/// A moving average's next value: the new sample weighs 1/8.
fn eighth_weight(mean: u64, sample: u64) -> u64 {
    mean - mean / 8 + sample / 8
}

/// Pollers end after this many `busy-poll` windows without a batch: a short stall of the
/// clients (a client preempted for a moment) should not send the workers back to epoll.
const STOP_WINDOWS: u64 = 20;
/// How long the lead measures its worker's busy share before deciding on helpers.
const GAUGE_PERIOD: Duration = Duration::from_millis(5);
/// Busy share (per mille of `GAUGE_PERIOD` spent in connection turns) of the lead's worker
/// from which helpers are called, and under which they go back to waiting. Measured: 500–650
/// at pipeline 1 with one worker, 790–940 at pipeline 16.
const HELPERS_ON: u64 = 850;
const HELPERS_OFF: u64 = 400;
/// Longest an uncalled helper blocks its thread before looking again. Long, because each
/// wake runs its worker for a moment (it polls epoll once and takes connections with it),
/// which with 20 ms cost as much tail latency as a second polling worker; the lead wakes
/// helpers at once when it calls them or ends.
const HELPER_WAIT: Duration = Duration::from_secs(1);
/// How often a waiting helper looks whether work was offloaded. While a worker sits in
/// offloaded work (an fsync under `appendfsync always`, a big KEYS), a helper that kept
/// waiting held the other worker too: measured, SET under `always` stalled for ~1 s at a time
/// and ran at 77-300 requests/s instead of thousands. So helpers poll while offloads run.
const OFFLOAD_CHECK: Duration = Duration::from_millis(2);

thread_local! {
    /// Set while a poller runs on this worker thread (or is about to): at most one per worker.
    static POLLER_HERE: Arc<AtomicBool> = Arc::new(AtomicBool::new(false));
    /// Time this worker thread spent in connection turns, in nanoseconds (the lead's gauge).
    static BUSY_NS: Cell<u64> = const { Cell::new(0) };
}

/// When a connection's turn starts, on a worker with a poller (the lead's gauge needs it
/// there only, so other workers skip the clock): pass it to [`add_busy`] when the turn ends.
pub(super) fn turn_start() -> Option<Instant> {
    POLLER_HERE.with(|here| here.load(Ordering::Relaxed)).then(Instant::now)
}

/// Adds a connection's turn (running its batch and writing the replies), started at `start`
/// from [`turn_start`], to this worker's busy time.
pub(super) fn add_busy(start: Option<Instant>) {
    if let Some(start) = start {
        BUSY_NS.with(|busy| busy.set(busy.get() + start.elapsed().as_nanos() as u64));
    }
}

/// Keeps a worker polling (or, for a helper, ready to) until [`IdleWindow`] says the load has
/// gone. `claim` is the [`POLLER_HERE`] flag of the worker it was started for.
async fn poll_while_busy(shared: Arc<Shared>, claim: Arc<AtomicBool>) {
    // Published once per batch, so it moves exactly when batches run.
    let batches = || shared.stats.total_commands_processed.load(Ordering::Relaxed);
    let busy_poll = &shared.busy_poll;
    let lead = busy_poll.lead_running.compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed).is_ok();
    let mut held = Held { busy_poll, claim: Some(claim), lead };
    let mut idle = IdleWindow::new(batches(), Instant::now());
    let mut gauge = LoadGauge::new(Instant::now(), BUSY_NS.with(Cell::get));
    loop {
        // Back in line behind the tasks already woken: the worker runs them, then, holding a
        // yielded task, polls the I/O driver without blocking, then comes back here.
        tokio::task::yield_now().await;
        // A requeued poller can be stolen by another worker. Two pollers on one worker leave
        // the other worker to park in epoll, where it takes the I/O driver from the pollers
        // (measured: ~30% of a pipeline-1 run spent that way), so a poller that moved gives
        // its old worker back the right to start one and leaves if its new one has its own.
        if !held.runs_on_its_worker() {
            held.release_claim();
            match POLLER_HERE.with(|here| (!here.swap(true, Ordering::Relaxed)).then(|| here.clone())) {
                Some(here) => held.claim = Some(here),
                None => break,
            }
        }
        if !lead && !busy_poll.helpers_wanted.load(Ordering::Relaxed) && !crate::blocking::offloads_running() {
            if !busy_poll.lead_running.load(Ordering::Relaxed) {
                break;
            }
            // Blocks the worker thread on purpose: it must neither spin nor park in epoll.
            // What it holds queued, the lead's worker steals when it runs out of work.
            busy_poll.wait_for_call();
            idle = IdleWindow::new(batches(), Instant::now());
            continue;
        }
        let window = Duration::from_micros(shared.hot.busy_poll_us.load(Ordering::Relaxed));
        let now = Instant::now();
        match idle.observe(batches(), now, window) {
            Activity::Batches => {}
            // Nothing arrived this turn: let any other runnable thread on this core go first.
            Activity::Quiet => std::thread::yield_now(),
            Activity::Idle => break,
        }
        if lead {
            if let Some(wanted) = gauge.reading(now, BUSY_NS.with(Cell::get)) {
                busy_poll.call_helpers(wanted);
            }
        }
    }
    // So that the gap to the next batch counts from the last one, not from when polling began.
    busy_poll.last_batch_us.fetch_max(busy_poll.micros(idle.since), Ordering::Relaxed);
}

/// What a running poller holds; given back when it ends, or when its task is dropped at
/// shutdown (so that waiting helpers are released either way).
struct Held<'a> {
    busy_poll: &'a BusyPoll,
    /// The claim on the worker it runs on (none once it left for a worker with a poller).
    claim: Option<Arc<AtomicBool>>,
    lead: bool,
}

impl Held<'_> {
    fn runs_on_its_worker(&self) -> bool {
        POLLER_HERE.with(|here| self.claim.as_ref().is_some_and(|claim| Arc::ptr_eq(here, claim)))
    }

    fn release_claim(&mut self) {
        if let Some(claim) = self.claim.take() {
            claim.store(false, Ordering::Relaxed);
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.release_claim();
        if self.lead {
            self.busy_poll.lead_running.store(false, Ordering::Relaxed);
            self.busy_poll.call_helpers(false);
        }
        self.busy_poll.pollers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The lead worker's busy share, read every `GAUGE_PERIOD`, with hysteresis.
struct LoadGauge {
    since: Instant,
    busy_ns_then: u64,
    helping: bool,
}

impl LoadGauge {
    fn new(now: Instant, busy_ns: u64) -> Self {
        LoadGauge { since: now, busy_ns_then: busy_ns, helping: false }
    }

    /// Given the worker's busy time so far, returns at the end of a period whether helpers
    /// should now poll, if that changed.
    fn reading(&mut self, now: Instant, busy_ns: u64) -> Option<bool> {
        let period = now.duration_since(self.since);
        if period < GAUGE_PERIOD {
            return None;
        }
        let per_mille = busy_ns.saturating_sub(self.busy_ns_then) * 1000 / (period.as_nanos() as u64).max(1);
        self.since = now;
        self.busy_ns_then = busy_ns;
        let helping = per_mille >= if self.helping { HELPERS_OFF } else { HELPERS_ON };
        (helping != self.helping).then(|| {
            self.helping = helping;
            helping
        })
    }
}

/// What a poller saw since its last look.
#[derive(Debug, PartialEq)]
enum Activity {
    /// Batches ran.
    Batches,
    /// None ran, but the last one is recent.
    Quiet,
    /// None for `STOP_WINDOWS` windows, or commands too far apart: time to sleep.
    Idle,
}

/// When the last batch ran, and how far apart commands come, as a poller sees it.
struct IdleWindow {
    batches: u64,
    since: Instant,
    /// Moving average (1/8 weight per look that found batches) of the time per command.
    mean_gap_ns: u64,
}

impl IdleWindow {
    fn new(batches: u64, now: Instant) -> Self {
        IdleWindow { batches, since: now, mean_gap_ns: 0 }
    }

    /// Classifies `now`, given the batch count then and the `busy-poll` window: idle once
    /// commands come further apart than the window on average (a steady light load, where
    /// polling would only burn a core), or none has come for `STOP_WINDOWS` windows.
    fn observe(&mut self, batches: u64, now: Instant, window: Duration) -> Activity {
        if window.is_zero() {
            return Activity::Idle;
        }
        if batches != self.batches {
            let commands = batches.wrapping_sub(self.batches).max(1);
            let per_command = now.duration_since(self.since).as_nanos() as u64 / commands;
            self.mean_gap_ns = eighth_weight(self.mean_gap_ns, per_command);
            self.batches = batches;
            self.since = now;
            return if self.mean_gap_ns > window.as_nanos() as u64 { Activity::Idle } else { Activity::Batches };
        }
        if now.duration_since(self.since) < window * STOP_WINDOWS as u32 {
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
    fn a_poller_keeps_polling_while_batches_run_and_stops_when_they_stop() {
        let t0 = Instant::now();
        let us = Duration::from_micros;
        let silence = WINDOW * STOP_WINDOWS as u32;
        let mut idle = IdleWindow::new(7, t0);
        assert_eq!(idle.observe(7, t0 + us(49), WINDOW), Activity::Quiet);
        // Five commands by 49 µs: ~10 µs apart, and the silence counts from here.
        assert_eq!(idle.observe(12, t0 + us(49), WINDOW), Activity::Batches);
        assert_eq!(idle.observe(12, t0 + us(49) + silence - us(1), WINDOW), Activity::Quiet);
        assert_eq!(idle.observe(12, t0 + us(49) + silence, WINDOW), Activity::Idle);
    }

    #[test]
    fn a_poller_stops_when_commands_come_further_apart_than_the_window() {
        // One command every 67 µs (15,000 a second) against a 50 µs window: polling would
        // keep a core busy for nothing, so the average gap ends it within a few looks.
        let t0 = Instant::now();
        let mut idle = IdleWindow::new(0, t0);
        let ended =
            (1..=40u64).find(|&n| idle.observe(n, t0 + Duration::from_micros(67 * n), WINDOW) == Activity::Idle);
        assert!(ended.is_some_and(|n| n < 40), "{ended:?}");
        // Commands 10 µs apart keep it going.
        let mut idle = IdleWindow::new(0, t0);
        assert!((1..=40u64).all(|n| idle.observe(n, t0 + Duration::from_micros(10 * n), WINDOW) == Activity::Batches));
    }

    #[test]
    fn the_gap_average_follows_batches_and_caps_long_silences() {
        let mut mean = IDLE_GAP_US;
        for _ in 0..100 {
            mean = moving_average(mean, 10);
        }
        assert!(mean < 20, "{mean}");
        // One long silence lifts the average by an eighth of it (capped at IDLE_GAP_US).
        assert_eq!(moving_average(16, u64::MAX), 16 - 2 + IDLE_GAP_US / 8);
    }

    /// Calls `after_batch` in quick succession until a poller starts; false if none did.
    fn batches_until_a_poller_starts(shared: &Shared) -> bool {
        let before = shared.busy_poll.pollers();
        (0..100).any(|_| {
            shared.busy_poll.after_batch(shared);
            shared.busy_poll.pollers() != before
        })
    }

    async fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frequent_batches_start_a_poller_on_their_worker_which_ends_once_batches_stop() {
        let shared = Shared::new(crate::Config::default(), crate::store::Clock::System, 0);
        shared.hot.busy_poll_us.store(20_000, Ordering::Relaxed);
        // The first batch starts none: the average starts as if the server had been idle.
        shared.busy_poll.after_batch(&shared);
        assert_eq!(shared.busy_poll.pollers(), 0);
        // On a worker, as connections run: batches in quick succession bring the average gap
        // under the window, and further batches there start no second poller.
        let on_worker = shared.arc();
        tokio::spawn(async move {
            assert!(batches_until_a_poller_starts(&on_worker));
            for _ in 0..100 {
                on_worker.busy_poll.after_batch(&on_worker);
            }
        })
        .await
        .unwrap();
        assert_eq!(shared.busy_poll.pollers(), 1);
        wait_until("the poller ends with no batches", || shared.busy_poll.pollers() == 0).await;
        shared.hot.busy_poll_us.store(0, Ordering::Relaxed);
        for _ in 0..100 {
            shared.busy_poll.after_batch(&shared);
        }
        assert_eq!(shared.busy_poll.pollers(), 0, "busy-poll 0 starts none");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_poller_that_runs_elsewhere_gives_back_the_claim_of_the_thread_that_started_it() {
        let shared = Shared::new(crate::Config::default(), crate::store::Clock::System, 0);
        shared.hot.busy_poll_us.store(20_000, Ordering::Relaxed);
        // Started from a thread outside the runtime, the poller can only run on a worker.
        let handle = tokio::runtime::Handle::current();
        let starter = shared.arc();
        let claim = std::thread::spawn(move || {
            let _runtime = handle.enter();
            assert!(batches_until_a_poller_starts(&starter));
            POLLER_HERE.with(|here| here.clone())
        })
        .join()
        .unwrap();
        wait_until("the starting thread's claim is released", || !claim.load(Ordering::Relaxed)).await;
        wait_until("the poller ends with no batches", || shared.busy_poll.pollers() == 0).await;
    }

    #[test]
    fn the_gauge_calls_helpers_when_the_lead_is_busy_and_dismisses_them_when_it_is_not() {
        let t0 = Instant::now();
        let period_ns = GAUGE_PERIOD.as_nanos() as u64;
        let at = |periods: u64| t0 + GAUGE_PERIOD * periods as u32;
        let mut gauge = LoadGauge::new(t0, 0);
        // No reading before a whole period.
        assert_eq!(gauge.reading(t0 + GAUGE_PERIOD / 2, period_ns), None);
        // 80% busy (pipeline 1 on one worker is 50–65%): no help yet.
        let mut busy = period_ns * 8 / 10;
        assert_eq!(gauge.reading(at(1), busy), None);
        // 90%: helpers called.
        busy += period_ns * 9 / 10;
        assert_eq!(gauge.reading(at(2), busy), Some(true));
        // With helpers, the lead's share falls; above HELPERS_OFF they stay.
        busy += period_ns / 2;
        assert_eq!(gauge.reading(at(3), busy), None);
        // Under it they go back to waiting.
        busy += period_ns / 4;
        assert_eq!(gauge.reading(at(4), busy), Some(false));
    }

    #[test]
    fn a_waiting_helper_is_woken_by_the_lead_s_call_and_by_its_end() {
        let busy_poll = Arc::new(BusyPoll::default());
        busy_poll.lead_running.store(true, Ordering::Relaxed);
        for lead_ends in [false, true] {
            busy_poll.call_helpers(false);
            let helper = {
                let busy_poll = busy_poll.clone();
                std::thread::spawn(move || {
                    let started = Instant::now();
                    busy_poll.wait_for_call();
                    started.elapsed()
                })
            };
            if lead_ends {
                busy_poll.lead_running.store(false, Ordering::Relaxed);
                busy_poll.call_helpers(false);
            } else {
                busy_poll.call_helpers(true);
            }
            // Woken, not timed out (HELPER_WAIT is 1 s); a call made before the wait began
            // is seen under the lock and the wait skipped.
            let waited = helper.join().unwrap();
            assert!(waited < HELPER_WAIT / 2, "lead_ends={lead_ends}: waited {waited:?}");
        }
    }

    #[test]
    fn a_window_of_zero_stops_pollers_at_once() {
        let t0 = Instant::now();
        let mut idle = IdleWindow::new(0, t0);
        assert_eq!(idle.observe(1, t0, Duration::ZERO), Activity::Idle);
    }
}
