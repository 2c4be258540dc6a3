//! Proposals of replicated changes, committed in the order they were made, in batches.
//!
//! Every node queues its own proposals here. While a batch is being committed, what comes
//! meanwhile waits and goes into the next one: one log entry, sent on one connection to the
//! leader (kept open between batches). The leader queues the batches its followers forward in
//! its own queue, so the proposals of every node in a burst share its log entries. A burst of
//! changes costs a commit per batch, not per change: what `redis-cli --cluster reshard` needs,
//! whose `SETSLOT … NODE`s (three per slot, one per master) are answered before their commit
//! (see [`ControlPlane::propose`](super::ControlPlane::propose)) and would otherwise each take
//! a Raft round of their own.
//!
//! `redis-cli` sends each slot's NODE to the target first, then to the source and the other
//! masters, whose NODEs then only repeat the target's (while its commit is on its way there).
//! Such a *follower handoff* (one that changes nothing but the slot's owner, on a node other
//! than the target) waits [`HANDOFF_GRACE`] before it is proposed, and is dropped if the
//! published state shows the slot the target's by then: a reshard commits one change per slot,
//! not three, and a NODE sent to one node only (by hand) is still committed.
//!
//! Handoffs alone in the queue (nobody waits for them: they were answered) linger up to
//! [`HANDOFF_LINGER`] for company, so that a reshard's stream of them, a slot a millisecond,
//! goes into the log a few dozen at a time rather than one commit (three fsyncs) a slot.
//!
//! A proposal has a deadline (`cluster-node-timeout` after it was made). A batch not committed
//! by its earliest deadline fails the proposals whose deadline passed; the others go into the
//! next batch. A batch can be in doubt, as any Raft proposal: a leader that logged it may still
//! commit it after the proposer gave up. A node that is not the leader (any more) answers the
//! batches forwarded to it `NotLeader`, and the follower asks the new leader: no two nodes
//! ever wait on each other.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::network::{Peer, ProposeReply};
use super::ControlPlane;
use crate::{Applied, ClusterCommand, ClusterError, NodeId};

/// The most commands in one log entry (a follower's forwarded batch is never split).
const MAX_BATCH: usize = 512;

/// How long handoffs alone in the queue wait for more proposals to share their commit.
const HANDOFF_LINGER: Duration = Duration::from_millis(20);

/// How long a follower handoff waits for the target's commit (see the module docs).
pub(crate) const HANDOFF_GRACE: Duration = Duration::from_millis(100);

pub(crate) type Outcome = Result<Applied, ClusterError>;

/// The queue of proposals not yet committed, shared by the control plane (which adds to it)
/// and the task that commits them ([`run`]).
#[derive(Default)]
pub(crate) struct Proposals {
    queue: Mutex<VecDeque<Proposal>>,
    /// Follower handoffs in their grace, in the order they were made (so by due time).
    deferred: Mutex<VecDeque<(Instant, Proposal)>>,
    wake: Notify,
}

struct Proposal {
    cmds: Vec<ClusterCommand>,
    /// When it was queued (set by [`Proposals::push`]).
    queued: Instant,
    deadline: Instant,
    waiter: Waiter,
}

/// Who learns a proposal's outcome.
enum Waiter {
    /// A caller of [`ControlPlane::propose`](super::ControlPlane::propose) (one command).
    Caller(oneshot::Sender<Outcome>),
    /// Myself's `SETSLOT <slot> NODE <target>`, answered already: its end is noted in the view.
    Handoff { slot: u16, target: NodeId },
    /// Myself's DELSLOTS of its own slots, answered already: a `ReleaseSlots` of those the view
    /// still has forgotten when it is due (see `ControlPlane::del_slots`).
    Release { slots: Vec<u16> },
    /// A follower's batch, committed here as the leader.
    Forwarded(oneshot::Sender<ProposeReply>),
}

/// Why a batch was not committed.
pub(crate) enum NotCommitted {
    /// This node is not the leader, and the batch holds proposals forwarded to it.
    NotLeader,
    /// Not within the deadline (maybe still will be).
    TimedOut(ClusterError),
}

impl Proposals {
    /// Queues myself's `SETSLOT <slot> NODE <target>`, already answered and laid over the view.
    pub(crate) fn submit_handoff(&self, cmd: ClusterCommand, slot: u16, target: NodeId, deadline: Instant) {
        self.push(Proposal {
            cmds: vec![cmd],
            queued: Instant::now(),
            deadline,
            waiter: Waiter::Handoff { slot, target },
        });
    }

    /// Queues `cmds` as one proposal (one log entry, applied at once); the receiver gets the
    /// first refusal, else the last command's outcome.
    pub(crate) fn submit(&self, cmds: Vec<ClusterCommand>, deadline: Instant) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.push(Proposal { cmds, queued: Instant::now(), deadline, waiter: Waiter::Caller(tx) });
        rx
    }

    /// Queues myself's `ReleaseSlots` to be proposed at `due`, for the slots the view has
    /// forgotten as myself's then.
    pub(crate) fn defer_release(&self, node: NodeId, slots: Vec<u16>, due: Instant, deadline: Instant) {
        let cmds = vec![ClusterCommand::ReleaseSlots { node, slots: slots.clone() }];
        let proposal = Proposal { cmds, queued: Instant::now(), deadline, waiter: Waiter::Release { slots } };
        self.deferred.lock().push_back((due, proposal));
        self.wake.notify_one();
    }

    /// Queues a follower handoff (see the module docs) to be proposed at `due` unless the
    /// published state shows it by then.
    pub(crate) fn defer_handoff(
        &self,
        cmd: ClusterCommand,
        slot: u16,
        target: NodeId,
        due: Instant,
        deadline: Instant,
    ) {
        let proposal =
            Proposal { cmds: vec![cmd], queued: Instant::now(), deadline, waiter: Waiter::Handoff { slot, target } };
        self.deferred.lock().push_back((due, proposal));
        self.wake.notify_one();
    }

    /// Moves the follower handoffs due now to the queue, or drops them if the view shows them;
    /// the time the next one is due.
    fn release_deferred(&self, plane: &ControlPlane) -> Option<Instant> {
        let now = Instant::now();
        loop {
            let mut deferred = self.deferred.lock();
            match deferred.front() {
                Some((due, _)) if *due <= now => {}
                next => return next.map(|(due, _)| *due),
            }
            let (_, proposal) = deferred.pop_front()?;
            drop(deferred);
            match (&proposal.waiter, proposal.cmds.as_slice()) {
                (Waiter::Handoff { slot, target }, _) if plane.view.handoff_pending(*slot, *target) => {
                    self.push(proposal);
                }
                (Waiter::Release { slots }, [ClusterCommand::ReleaseSlots { node, .. }]) => {
                    let (still, _) = plane.view.forgotten(slots);
                    if !still.is_empty() {
                        let cmds = vec![ClusterCommand::ReleaseSlots { node: *node, slots: still.clone() }];
                        self.push(Proposal { cmds, waiter: Waiter::Release { slots: still }, ..proposal });
                    }
                }
                _ => {}
            }
        }
    }

    /// Queues a follower's batch on the leader.
    pub(crate) fn submit_forwarded(
        &self,
        cmds: Vec<ClusterCommand>,
        deadline: Instant,
    ) -> oneshot::Receiver<ProposeReply> {
        let (tx, rx) = oneshot::channel();
        self.push(Proposal { cmds, queued: Instant::now(), deadline, waiter: Waiter::Forwarded(tx) });
        rx
    }

    fn push(&self, mut proposal: Proposal) {
        proposal.queued = Instant::now();
        self.queue.lock().push_back(proposal);
        self.wake.notify_one();
    }

    /// The next batch: the oldest proposals, up to [`MAX_BATCH`] commands (at least one
    /// proposal); or, for handoffs alone lingering (see the module docs), when to look again.
    fn take_batch(&self) -> Result<Vec<Proposal>, Instant> {
        let mut queue = self.queue.lock();
        if let Some(oldest) = queue.front() {
            let linger_until = oldest.queued + HANDOFF_LINGER;
            let handoffs_only =
                queue.iter().all(|p| matches!(p.waiter, Waiter::Handoff { .. } | Waiter::Release { .. }));
            if handoffs_only && queue.len() < MAX_BATCH && Instant::now() < linger_until {
                return Err(linger_until);
            }
        }
        let mut batch = Vec::new();
        let mut size = 0;
        while let Some(next) = queue.front() {
            if !batch.is_empty() && size + next.cmds.len() > MAX_BATCH {
                break;
            }
            size += next.cmds.len();
            batch.extend(queue.pop_front());
        }
        Ok(batch)
    }

    /// Puts proposals back at the head of the queue, in their order.
    fn put_back(&self, proposals: Vec<Proposal>) {
        let mut queue = self.queue.lock();
        for proposal in proposals.into_iter().rev() {
            queue.push_front(proposal);
        }
    }
}

/// Commits the queued proposals, a batch at a time, until the control plane is dropped.
pub(crate) async fn run(proposals: Arc<Proposals>, plane: Weak<ControlPlane>) {
    // The connection to the leader, kept between batches.
    let mut leader: Option<(String, Peer)> = None;
    let mut next_due: Option<Instant> = None;
    loop {
        // Woken by a new proposal or a deferred one's due time; now and then anyway, to notice
        // the plane is gone.
        let wake = next_due.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        let _ = tokio::time::timeout_at(wake, proposals.wake.notified()).await;
        loop {
            next_due = match plane.upgrade() {
                Some(plane) => proposals.release_deferred(&plane),
                None => None,
            };
            let batch = match proposals.take_batch() {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => batch,
                Err(linger_until) => {
                    next_due = Some(next_due.map_or(linger_until, |due| due.min(linger_until)));
                    break;
                }
            };
            let Some(plane) = plane.upgrade() else {
                let gone = ClusterError::ControlPlane("the control plane is shut down".to_string());
                fail(None, batch, &gone);
                let rest = std::mem::take(&mut *proposals.queue.lock());
                fail(None, rest.into(), &gone);
                proposals.deferred.lock().clear();
                return;
            };
            let deadline = batch.iter().map(|p| p.deadline).min().unwrap_or_else(Instant::now);
            let cmds: Vec<ClusterCommand> = batch.iter().flat_map(|p| p.cmds.iter().cloned()).collect();
            let forwarded = batch.iter().any(|p| matches!(p.waiter, Waiter::Forwarded(_)));
            match plane.commit_batch(cmds, deadline, &mut leader, !forwarded).await {
                Ok((results, index)) => finish(&plane, batch, results, index),
                Err(NotCommitted::NotLeader) => {
                    // The followers ask the new leader; ours go there with the next batch.
                    let (theirs, ours): (Vec<_>, Vec<_>) =
                        batch.into_iter().partition(|p| matches!(p.waiter, Waiter::Forwarded(_)));
                    for proposal in theirs {
                        if let Waiter::Forwarded(reply) = proposal.waiter {
                            let _ = reply.send(ProposeReply::NotLeader);
                        }
                    }
                    proposals.put_back(ours);
                }
                Err(NotCommitted::TimedOut(why)) => {
                    // Those past their deadline fail, the others wait for the next batch.
                    let now = Instant::now();
                    let (expired, rest): (Vec<_>, Vec<_>) = batch.into_iter().partition(|p| p.deadline <= now);
                    fail(Some(&plane), expired, &why);
                    proposals.put_back(rest);
                    if plane.is_closed() {
                        let rest = std::mem::take(&mut *proposals.queue.lock());
                        fail(Some(&plane), rest.into(), &why);
                        return;
                    }
                }
            }
        }
    }
}

/// Hands each proposal of a committed batch its results (in the batch's order).
fn finish(plane: &ControlPlane, batch: Vec<Proposal>, results: Vec<Outcome>, index: u64) {
    let mut results = results.into_iter();
    for proposal in batch {
        let mine: Vec<Outcome> = results.by_ref().take(proposal.cmds.len()).collect();
        match proposal.waiter {
            Waiter::Forwarded(reply) => {
                let _ = reply.send(ProposeReply::Done { results: mine, index });
            }
            waiter => {
                let refused = mine.iter().position(Result::is_err);
                let outcome = match refused {
                    Some(i) => mine.into_iter().nth(i),
                    None => mine.into_iter().last(),
                };
                settle(Some(plane), waiter, outcome.unwrap_or(Ok(Applied::Ok)));
            }
        }
    }
}

/// Fails every proposal of `batch` with `why`.
fn fail(plane: Option<&ControlPlane>, batch: Vec<Proposal>, why: &ClusterError) {
    for proposal in batch {
        match proposal.waiter {
            Waiter::Forwarded(reply) => {
                let _ = reply.send(ProposeReply::Failed(why.clone()));
            }
            waiter => settle(plane, waiter, Err(why.clone())),
        }
    }
}

fn settle(plane: Option<&ControlPlane>, waiter: Waiter, outcome: Outcome) {
    match waiter {
        Waiter::Caller(reply) => {
            let _ = reply.send(outcome);
        }
        Waiter::Handoff { slot, target } => {
            if let Err(e) = &outcome {
                tracing::warn!(slot, %target, "CLUSTER SETSLOT NODE answered but not committed: {e}");
            }
            if let Some(plane) = plane {
                plane.view.end_handoff(slot, target);
            }
        }
        Waiter::Release { slots } => {
            // Not committed: the cluster still has them myself's, and so does this node again.
            if let (Err(e), Some(plane)) = (&outcome, plane) {
                tracing::warn!("CLUSTER DELSLOTS of own slots answered but not committed: {e}");
                plane.view.unforget_mine(&slots);
            }
        }
        Waiter::Forwarded(_) => {}
    }
}

/// Whether `cmd` is a `SETSLOT … NODE`, answered before its commit on a member.
pub(crate) fn is_handoff(cmd: &ClusterCommand) -> bool {
    matches!(cmd, ClusterCommand::SetSlot { action: crate::SetSlotAction::Node { .. }, .. })
}
