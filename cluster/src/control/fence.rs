//! Write fencing: a master accepts writes only while it knows itself part of the majority and
//! up to date with the log, so that at most one side of a partition writes a slot.
//!
//! Redis's own rule (`cluster_state:fail` once most masters are `fail?`) takes effect only when
//! a node's timers run. A master frozen (SIGSTOP, a long pause) while the others failed it over
//! would, on waking, serve the writes queued on its sockets before its timers or the log told
//! it that its slots are gone. So each write also asks the [`Fence`]:
//!
//! * a follower: a leader reached it within `cluster-node-timeout`, and it has applied every
//!   entry that leader had committed then (a demotion committed meanwhile is applied first);
//! * the leader: a majority of the nodes answered its pings within the timeout.
//!
//! A node in no cluster is not fenced.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) struct Fence {
    base: Instant,
    /// Milliseconds after `base` of the last contact with a majority (0: none yet).
    contact_ms: AtomicU64,
    /// The leader's commit index at that contact: applied entries must reach it.
    needed_index: AtomicU64,
}

impl Default for Fence {
    fn default() -> Fence {
        Fence { base: Instant::now(), contact_ms: AtomicU64::new(0), needed_index: AtomicU64::new(0) }
    }
}

impl Fence {
    fn now_ms(&self) -> u64 {
        // +1: 0 means "never".
        self.base.elapsed().as_millis() as u64 + 1
    }

    /// A leader's append-entries (or heartbeat) was accepted; it had committed `commit`. After
    /// being out of touch for longer than `timeout` (or never in touch), this node must apply
    /// that much of the log before it writes again; while in touch, the usual lag of applying
    /// behind committing does not close the fence.
    pub(crate) fn heard_leader(&self, commit: Option<u64>, timeout: Duration) {
        let now = self.now_ms();
        let last = self.contact_ms.load(Ordering::Acquire);
        if last == 0 || now.saturating_sub(last) > timeout.as_millis() as u64 {
            if let Some(commit) = commit {
                self.needed_index.fetch_max(commit, Ordering::AcqRel);
            }
        }
        self.contact_ms.fetch_max(now, Ordering::AcqRel);
    }

    /// This node leads, and a quorum acknowledged it `ago`.
    pub(crate) fn quorum_acked(&self, ago: Duration) {
        let at = self.now_ms().saturating_sub(ago.as_millis() as u64).max(1);
        self.contact_ms.fetch_max(at, Ordering::AcqRel);
    }

    /// Whether a master may write now, having applied entries up to `applied`.
    pub(crate) fn open(&self, timeout: Duration, applied: u64) -> bool {
        let contact = self.contact_ms.load(Ordering::Acquire);
        contact != 0
            && self.now_ms().saturating_sub(contact) <= timeout.as_millis() as u64
            && applied >= self.needed_index.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_until_contact_and_until_caught_up() {
        let fence = Fence::default();
        let timeout = Duration::from_secs(60);
        assert!(!fence.open(timeout, 100), "no contact yet");
        fence.heard_leader(Some(7), timeout);
        assert!(!fence.open(timeout, 6), "entry 7 committed before the first contact, not applied");
        assert!(fence.open(timeout, 7));
        fence.heard_leader(Some(9), timeout);
        assert!(fence.open(timeout, 7), "in touch: applying may lag committing");
    }

    #[test]
    fn after_a_long_silence_the_log_must_be_applied_first() {
        let fence = Fence::default();
        let timeout = Duration::from_millis(20);
        fence.heard_leader(Some(5), timeout);
        assert!(fence.open(timeout, 5));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!fence.open(timeout, 5), "out of touch past the timeout");
        fence.heard_leader(Some(12), timeout);
        assert!(!fence.open(timeout, 11), "entries committed meanwhile are not applied yet");
        assert!(fence.open(timeout, 12));
        fence.heard_leader(Some(3), timeout);
        assert!(fence.open(timeout, 12), "a lower commit index never lowers what is needed");
    }

    #[test]
    fn a_leader_is_open_while_a_quorum_acknowledges_it() {
        let fence = Fence::default();
        std::thread::sleep(Duration::from_millis(30));
        fence.quorum_acked(Duration::from_millis(0));
        assert!(fence.open(Duration::from_millis(20), 0));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!fence.open(Duration::from_millis(20), 0), "stale after the timeout");
        assert!(fence.open(Duration::from_secs(1), 0));
    }
}
