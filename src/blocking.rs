//! Long work on a runtime worker, without stopping the runtime.
//!
//! Handlers run inside a connection task, on one of tokio's worker threads. A handler that
//! computes for a long time (KEYS over millions of keys, freeing a flushed keyspace, SAVE) or
//! waits (MIGRATE's target, a Raft commit, DEBUG SLEEP) would keep that worker's queued tasks —
//! other clients — waiting, and with two workers could leave nobody to poll the sockets.
//! [`offload`] runs such work with `block_in_place`: the worker hands its queue to a fresh
//! thread first, so every other connection keeps being served while this one waits.
//!
//! Locks are a separate matter: code that offloads must also not hold shard locks for long
//! (see the lock order in `store/mod.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::{Handle, RuntimeFlavor};

/// Offloaded work running now, in this process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Runs `work` where it cannot stop other clients being served: via `block_in_place` on a
/// multi-threaded runtime's worker, directly anywhere else (a blocking-pool thread, a test
/// without a runtime, a current-thread runtime, where `block_in_place` would panic).
pub fn offload<R>(work: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            let _running = Running::start();
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Whether offloaded work is running: busy polling's waiting helpers, which block a worker
/// thread of their own, stop waiting then (`server/busy_poll.rs`).
pub fn offloads_running() -> bool {
    RUNNING.load(Ordering::Relaxed) != 0
}

/// Counts one offload in [`RUNNING`] for as long as it lives (a panic in the work included).
struct Running;

impl Running {
    fn start() -> Running {
        RUNNING.fetch_add(1, Ordering::Relaxed);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::offload;

    #[test]
    fn runs_outside_a_runtime() {
        assert_eq!(offload(|| 7), 7);
    }

    /// Busy polling's helpers read it. (That it drops back is not asserted: other tests of
    /// this process offload concurrently.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn running_offloads_are_counted() {
        assert!(offload(super::offloads_running));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn runs_on_a_current_thread_runtime() {
        assert_eq!(offload(|| 8), 8);
    }

    /// While one task sits in offloaded work, a task queued on the same (only) worker still
    /// runs: the worker's queue moved to another thread. Without the offload it never would.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn other_tasks_run_meanwhile() {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (ran, other_ran) = std::sync::mpsc::channel::<()>();
        let blocked = tokio::spawn(async move { offload(|| released.recv().expect("sender alive")) });
        tokio::spawn(async move { ran.send(()).expect("receiver alive") });
        // This thread is not a runtime worker, so waiting here blocks neither task.
        let outcome = other_ran.recv_timeout(std::time::Duration::from_secs(10));
        release.send(()).expect("offloaded task waiting");
        blocked.await.expect("offloaded task finished");
        assert!(outcome.is_ok(), "a task queued behind offloaded work did not run");
    }
}
