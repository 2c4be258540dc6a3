//! Replication in Redis's own protocol, both ways: replicas of this server (a redis-server
//! among them) and this server as a replica of another (a redis-server among them).
//!
//! - [`Replication`] is the state both roles share: the replication ids, the stream's
//!   [`Backlog`], the replicas attached to us, the link to our primary.
//! - [`primary`] serves one replica on its own connection: `PSYNC` → `+CONTINUE` from the
//!   backlog, or `+FULLRESYNC` with a snapshot (RDB on disk, or streamed diskless), then the
//!   stream; it reads the replica's `REPLCONF ACK`s, which `WAIT` counts.
//! - [`replica`] is the task that replicates a primary (`REPLICAOF host port`): handshake,
//!   load the snapshot, apply the stream, acknowledge it every second, reconnect and
//!   continue after a drop.
//!
//! # Where the stream comes from
//!
//! On a primary, the store's write effects (the same commands the AOF gets, emitted under the
//! shard locks, so per key in order) are appended to the backlog once a replica has attached.
//! The snapshot of a full sync is cut with every shard locked, and the backlog's offset read
//! at that instant: the copy holds every write before that offset and none after. A replica
//! relays its primary's bytes as received (so offsets agree along a chain of replicas) and
//! emits nothing of its own.
//!
//! # Locks
//!
//! `backlog` is taken while shards are held (effects are emitted under them) and so is a
//! leaf after the shards, as `ids`, `replicas` and `link` are leaves: none of them is held
//! while another lock is taken, nor across I/O.

pub mod backlog;
pub mod failover;
pub mod primary;
pub mod replica;

use crate::store::{system_now_ms, EffectSink};
use backlog::{Backlog, Trimmed};
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// What `master_replid2` shows when there is no previous id.
pub const NO_REPLID: &str = "0000000000000000000000000000000000000000";

/// The server's replication ids (`master_replid`, `master_replid2`, `second_repl_offset`).
#[derive(Debug, Clone)]
pub struct ReplIds {
    pub replid: String,
    pub replid2: String,
    /// The first offset `replid2` is no longer valid for (-1: none).
    pub second_offset: i64,
}

/// Counters INFO stats prints.
#[derive(Debug, Default)]
pub struct SyncStats {
    pub full: AtomicU64,
    pub partial_ok: AtomicU64,
    pub partial_err: AtomicU64,
}

/// A replica attached to this server, as INFO, ROLE and WAIT see it.
#[derive(Debug)]
pub struct ReplicaPeer {
    pub client_id: u64,
    pub ip: String,
    pub port: u16,
    state: AtomicU8,
    /// The offset it last acknowledged (`REPLCONF ACK`).
    pub ack_offset: AtomicU64,
    /// When it last acknowledged, Unix ms.
    pub ack_time_ms: AtomicU64,
    /// The next offset its sender will send: history from there must be kept.
    pub next_offset: AtomicU64,
}

/// A replica's place in the sync, as INFO prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PeerState {
    WaitBgsave = 0,
    SendBulk = 1,
    Online = 2,
}

impl ReplicaPeer {
    pub fn new(client_id: u64, ip: String, port: u16) -> ReplicaPeer {
        ReplicaPeer {
            client_id,
            ip,
            port,
            state: AtomicU8::new(PeerState::WaitBgsave as u8),
            ack_offset: AtomicU64::new(0),
            ack_time_ms: AtomicU64::new(system_now_ms()),
            next_offset: AtomicU64::new(u64::MAX),
        }
    }

    pub fn state(&self) -> PeerState {
        match self.state.load(Ordering::Relaxed) {
            0 => PeerState::WaitBgsave,
            1 => PeerState::SendBulk,
            _ => PeerState::Online,
        }
    }

    pub fn set_state(&self, s: PeerState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// Seconds since its last acknowledgement (`lag=` in INFO).
    pub fn lag_secs(&self) -> u64 {
        system_now_ms().saturating_sub(self.ack_time_ms.load(Ordering::Relaxed)) / 1000
    }
}

/// The replication half of the server's shared state.
pub struct Replication {
    ids: Mutex<ReplIds>,
    /// None until a replica first attaches (or this server syncs from a primary).
    backlog: Mutex<Option<Backlog>>,
    /// `master_repl_offset`, readable without the lock.
    offset: AtomicU64,
    /// History held beyond `repl-backlog-size` (for replicas behind), readable without the
    /// lock: like Redis's replica output buffers, not counted for eviction.
    held_beyond_size: AtomicU64,
    /// `client-output-buffer-limit replica` hard limit (see `Backlog::hard_limit`).
    replica_hard_limit: AtomicU64,
    /// Local write effects are appended to the backlog (a primary with a backlog).
    feeding: AtomicBool,
    /// This server replicates a primary (REPLICAOF host port).
    is_replica: AtomicBool,
    /// Woken when the stream grows while a replica's sender sleeps (see [`Self::wait_grown`]).
    grown: Notify,
    /// A sender is (about to be) asleep on `grown`: the next append wakes it. Spares every
    /// write the notify's lock while the senders are busy anyway.
    sender_sleeping: AtomicBool,
    /// Woken when a replica acknowledges: WAIT waits on it.
    pub acked: Notify,
    replicas: Mutex<Vec<Arc<ReplicaPeer>>>,
    /// The link to our primary, while a replica.
    link: Mutex<Option<Arc<replica::MasterLink>>>,
    pub stats: SyncStats,
    /// Unix ms since when no replica has been attached (for `repl-backlog-ttl`).
    alone_since_ms: AtomicU64,
    last_ping_ms: AtomicU64,
    /// The stream's database as of a restored RDB (`repl-stream-db`), for the link.
    restored_stream_db: AtomicU64,
    /// The lowest offset a replica still needed at the last [`trim`](Self::trim) (u64::MAX:
    /// none), so appends can trim too: senders only move forward and new ones start at the
    /// end, so a stale value keeps more history, never less.
    oldest_needed: AtomicU64,
    /// Writes wait (FAILOVER hands over): see `commands::dispatch`.
    writes_paused: AtomicBool,
    unpaused: Notify,
    /// `master_failover_state`.
    failover_state: AtomicU8,
    /// Cancels the failover in progress (FAILOVER ABORT).
    failover_abort: Mutex<Option<tokio_util::sync::CancellationToken>>,
}

/// Where a FAILOVER stands (`master_failover_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FailoverState {
    None = 0,
    WaitingForSync = 1,
    InProgress = 2,
}

impl FailoverState {
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "no-failover",
            FailoverState::WaitingForSync => "waiting-for-sync",
            FailoverState::InProgress => "failover-in-progress",
        }
    }
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            ids: Mutex::new(ReplIds { replid: random_replid(), replid2: NO_REPLID.into(), second_offset: -1 }),
            backlog: Mutex::new(None),
            offset: AtomicU64::new(0),
            held_beyond_size: AtomicU64::new(0),
            replica_hard_limit: AtomicU64::new(backlog::REPLICA_BUFFER_HARD_LIMIT),
            feeding: AtomicBool::new(false),
            is_replica: AtomicBool::new(false),
            grown: Notify::new(),
            sender_sleeping: AtomicBool::new(false),
            acked: Notify::new(),
            replicas: Mutex::new(Vec::new()),
            link: Mutex::new(None),
            stats: SyncStats::default(),
            alone_since_ms: AtomicU64::new(system_now_ms()),
            last_ping_ms: AtomicU64::new(0),
            restored_stream_db: AtomicU64::new(0),
            oldest_needed: AtomicU64::new(u64::MAX),
            writes_paused: AtomicBool::new(false),
            unpaused: Notify::new(),
            failover_state: AtomicU8::new(FailoverState::None as u8),
            failover_abort: Mutex::new(None),
        }
    }
}

/// 40 random hex characters, as Redis's `changeReplicationId`.
pub fn random_replid() -> String {
    (0..40).map(|_| char::from_digit(rand::random::<u32>() % 16, 16).expect("digit < 16")).collect()
}

impl Replication {
    #[inline]
    pub fn is_replica(&self) -> bool {
        self.is_replica.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn writes_paused(&self) -> bool {
        self.writes_paused.load(Ordering::Acquire)
    }

    pub fn pause_writes(&self, on: bool) {
        self.writes_paused.store(on, Ordering::Release);
        if !on {
            self.unpaused.notify_waiters();
        }
    }

    pub async fn wait_writes_unpaused(&self) {
        loop {
            let unpaused = self.unpaused.notified();
            tokio::pin!(unpaused);
            unpaused.as_mut().enable();
            if !self.writes_paused() {
                return;
            }
            unpaused.await;
        }
    }

    pub fn failover_state(&self) -> FailoverState {
        match self.failover_state.load(Ordering::Relaxed) {
            1 => FailoverState::WaitingForSync,
            2 => FailoverState::InProgress,
            _ => FailoverState::None,
        }
    }

    /// Registers a failover about to start; false if one is already running.
    pub fn begin_failover(&self, abort: tokio_util::sync::CancellationToken) -> bool {
        let mut slot = self.failover_abort.lock();
        if slot.is_some() {
            return false;
        }
        *slot = Some(abort);
        true
    }

    /// FAILOVER ABORT: false if none is running.
    pub fn abort_failover(&self) -> bool {
        match self.failover_abort.lock().as_ref() {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    pub fn clear_failover(&self) {
        *self.failover_abort.lock() = None;
    }

    pub fn set_failover_state(&self, s: FailoverState) {
        self.failover_state.store(s as u8, Ordering::Relaxed);
    }

    /// Whether local effects go to the stream.
    #[inline]
    pub fn feeding(&self) -> bool {
        self.feeding.load(Ordering::Relaxed)
    }

    /// `master_repl_offset`.
    pub fn offset(&self) -> u64 {
        self.offset.load(Ordering::Acquire)
    }

    pub fn ids(&self) -> ReplIds {
        self.ids.lock().clone()
    }

    /// Stream history held beyond `repl-backlog-size` for replicas that are behind.
    pub fn held_beyond_size(&self) -> u64 {
        self.held_beyond_size.load(Ordering::Relaxed)
    }

    /// `(active, size, first byte offset, histlen)` for INFO.
    pub fn backlog_info(&self) -> Option<(u64, u64, u64)> {
        self.backlog.lock().as_ref().map(|b| (b.size, b.first(), b.histlen()))
    }

    pub fn replicas(&self) -> Vec<Arc<ReplicaPeer>> {
        self.replicas.lock().clone()
    }

    pub fn link(&self) -> Option<Arc<replica::MasterLink>> {
        self.link.lock().clone()
    }

    /// Appends a command to the stream (no SELECT when `db` is None) and wakes the senders.
    fn append(&self, db: Option<usize>, args: &[&[u8]]) {
        self.grow(|b| b.append_command(db, args));
    }

    /// Relays bytes of our primary's stream to our own replicas.
    pub fn append_raw(&self, bytes: &[u8]) {
        self.grow(|b| b.append_raw(bytes));
    }

    /// Runs `add` on the backlog (if there is one), trims it when well over its size,
    /// publishes the new offset and wakes the senders.
    fn grow(&self, add: impl FnOnce(&mut Backlog)) {
        let mut guard = self.backlog.lock();
        let Some(b) = guard.as_mut() else { return };
        add(b);
        self.offset.store(b.end(), Ordering::Release);
        if b.over_size() {
            b.trim(Some(self.oldest_needed.load(Ordering::Relaxed)).filter(|&o| o != u64::MAX));
        }
        self.held_beyond_size.store(b.histlen().saturating_sub(b.size), Ordering::Relaxed);
        drop(guard);
        self.wake_senders();
    }

    fn wake_senders(&self) {
        if self.sender_sleeping.load(Ordering::SeqCst) && self.sender_sleeping.swap(false, Ordering::SeqCst) {
            self.grown.notify_waiters();
        }
    }

    /// A future that completes once the stream grows. A sender enables it
    /// (`Notified::enable`), then calls [`mark_sender_sleeping`](Self::mark_sender_sleeping),
    /// then checks for new data, and awaits it only if there was none: no append is missed.
    pub fn grown(&self) -> tokio::sync::futures::Notified<'_> {
        self.grown.notified()
    }

    pub fn mark_sender_sleeping(&self) {
        self.sender_sleeping.store(true, Ordering::SeqCst);
    }

    /// `PING` into the stream every `repl-ping-replica-period` while replicas are attached,
    /// so they can tell a quiet primary from a dead one.
    pub fn ping_if_due(&self, period_secs: u64) {
        let now = system_now_ms();
        if self.is_replica() || !self.feeding() || self.replicas.lock().is_empty() {
            return;
        }
        if now.saturating_sub(self.last_ping_ms.load(Ordering::Relaxed)) >= period_secs * 1000 {
            self.last_ping_ms.store(now, Ordering::Relaxed);
            self.append(None, &[b"PING"]);
        }
    }

    /// Asks every replica for an acknowledgement now (WAIT): `REPLCONF GETACK *` in the stream.
    pub fn request_acks(&self) {
        if self.feeding() {
            self.append(None, &[b"REPLCONF", b"GETACK", b"*"]);
        }
    }

    /// Everything from `from` on, for a replica's sender.
    pub fn read_from(&self, from: u64, out: &mut Vec<Bytes>) -> Result<u64, Trimmed> {
        let mut b = self.backlog.lock();
        let Some(b) = b.as_mut() else { return Err(Trimmed) };
        b.read_from(from, out)
    }

    /// Sets how far behind a replica may fall before it is dropped (applied at the next trim).
    pub fn set_replica_hard_limit(&self, bytes: u64) {
        self.replica_hard_limit.store(bytes, Ordering::Relaxed);
    }

    /// Lets go of history nobody needs any more (called after sends and from the cron).
    pub fn trim(&self, backlog_size: u64) {
        let oldest = self.replicas.lock().iter().map(|r| r.next_offset.load(Ordering::Relaxed)).min();
        self.oldest_needed.store(oldest.unwrap_or(u64::MAX), Ordering::Relaxed);
        let mut b = self.backlog.lock();
        if let Some(b) = b.as_mut() {
            b.size = backlog_size;
            b.hard_limit = self.replica_hard_limit.load(Ordering::Relaxed);
            b.trim(oldest.filter(|&o| o != u64::MAX));
            self.held_beyond_size.store(b.histlen().saturating_sub(b.size), Ordering::Relaxed);
        }
    }

    /// `PSYNC replid offset`'s decision (`masterTryPartialResynchronization`): whether the
    /// stream from `offset` can be sent, and the id to continue under.
    /// When it can, `peer` is registered as needing the history from `offset` in the same
    /// step, so no trim comes between.
    pub fn can_continue(&self, replid: &str, offset: i64, peer: &ReplicaPeer) -> Option<String> {
        let ids = self.ids.lock().clone();
        if replid != ids.replid && (replid != ids.replid2 || offset > ids.second_offset) {
            return None;
        }
        let b = self.backlog.lock();
        let held = b.as_ref().is_some_and(|b| offset >= 1 && b.holds(offset as u64));
        if held {
            self.hold_from(peer, offset as u64);
        }
        held.then_some(ids.replid)
    }

    /// At a full sync's cut (every shard held): starts the backlog if there is none and local
    /// effects flowing into it, makes the next command carry a SELECT, and registers `peer`
    /// as needing the stream from here. Returns the replication id and offset the snapshot
    /// is as of.
    pub fn attach_at_cut(&self, peer: &ReplicaPeer, backlog_size: u64) -> (String, u64) {
        let replid = self.ids.lock().replid.clone();
        let mut b = self.backlog.lock();
        let b = b.get_or_insert_with(|| Backlog::new(self.offset(), backlog_size));
        b.selected_db = None;
        let offset = b.end();
        self.hold_from(peer, offset + 1);
        if !self.is_replica() {
            self.feeding.store(true, Ordering::Release);
        }
        (replid, offset)
    }

    /// `peer` will be sent the stream from `from` on: history from there is kept.
    pub fn hold_from(&self, peer: &ReplicaPeer, from: u64) {
        peer.next_offset.store(from, Ordering::Relaxed);
        self.oldest_needed.fetch_min(from, Ordering::Relaxed);
    }

    pub fn add_replica(&self, peer: Arc<ReplicaPeer>) {
        self.replicas.lock().push(peer);
    }

    pub fn remove_replica(&self, client_id: u64) {
        let mut r = self.replicas.lock();
        r.retain(|p| p.client_id != client_id);
        if r.is_empty() {
            self.alone_since_ms.store(system_now_ms(), Ordering::Relaxed);
        }
    }

    /// Replicas whose acknowledged offset is at least `offset` (WAIT).
    pub fn acked_at_least(&self, offset: u64) -> usize {
        self.replicas
            .lock()
            .iter()
            .filter(|r| r.state() == PeerState::Online && r.ack_offset.load(Ordering::Relaxed) >= offset)
            .count()
    }

    /// Replicas online whose last acknowledgement is at most `max_lag` seconds old
    /// (`min-replicas-to-write`'s good replicas).
    pub fn good_replicas(&self, max_lag: u64) -> usize {
        self.replicas.lock().iter().filter(|r| r.state() == PeerState::Online && r.lag_secs() <= max_lag).count()
    }

    /// Frees the backlog after `repl-backlog-ttl` seconds without replicas (a primary only:
    /// a replica keeps it to continue after a promotion).
    pub fn expire_backlog(&self, ttl_secs: u64) {
        if ttl_secs == 0 || self.is_replica() || !self.replicas.lock().is_empty() {
            return;
        }
        let alone = system_now_ms().saturating_sub(self.alone_since_ms.load(Ordering::Relaxed));
        if alone >= ttl_secs * 1000 && self.backlog.lock().is_some() {
            tracing::info!("Replication backlog freed after {ttl_secs} seconds without connected replicas.");
            // A new id: the history the old one promised is gone.
            self.shift_ids_for_new_history();
            *self.backlog.lock() = None;
            self.feeding.store(false, Ordering::Release);
        }
    }

    /// `DEBUG CHANGE-REPL-ID`: a new replication id, and no previous one
    /// (`changeReplicationId` + `clearReplicationId2`).
    pub fn change_ids(&self) {
        self.shift_ids_for_new_history();
    }

    fn shift_ids_for_new_history(&self) {
        let mut ids = self.ids.lock();
        ids.replid = random_replid();
        ids.replid2 = NO_REPLID.into();
        ids.second_offset = -1;
    }

    /// Becoming a primary (`REPLICAOF NO ONE`, a failover): the old id stays valid, as
    /// `replid2`, up to the current offset, so replicas of the old primary can continue with
    /// us (`shiftReplicationId`).
    pub fn promote(&self) {
        let offset = self.offset();
        {
            let mut ids = self.ids.lock();
            ids.replid2 = std::mem::replace(&mut ids.replid, random_replid());
            ids.second_offset = offset as i64 + 1;
            tracing::info!(
                "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
                ids.replid2,
                ids.second_offset,
                ids.replid
            );
        }
        self.is_replica.store(false, Ordering::Release);
        crate::logging::set_replica(false);
        let mut b = self.backlog.lock();
        if let Some(b) = b.as_mut() {
            b.selected_db = None;
            self.feeding.store(true, Ordering::Release);
        }
    }

    /// Becoming a replica: local effects stop feeding the stream (the primary's bytes will).
    pub fn demote(&self, link: Arc<replica::MasterLink>) -> Option<Arc<replica::MasterLink>> {
        self.is_replica.store(true, Ordering::Release);
        crate::logging::set_replica(true);
        self.feeding.store(false, Ordering::Release);
        self.link.lock().replace(link)
    }

    /// Stops replicating (the link's task ends on its own once cancelled).
    pub fn take_link(&self) -> Option<Arc<replica::MasterLink>> {
        self.link.lock().take()
    }

    /// After a full sync from a primary: our history starts over as the primary's, at `offset`.
    pub fn reset_to_primary(&self, replid: &str, offset: u64, backlog_size: u64) {
        {
            let mut ids = self.ids.lock();
            ids.replid = replid.to_string();
            ids.replid2 = NO_REPLID.into();
            ids.second_offset = -1;
        }
        *self.backlog.lock() = Some(Backlog::new(offset, backlog_size));
        self.offset.store(offset, Ordering::Release);
    }

    /// After `+CONTINUE <newid>` from a primary that was promoted: the id we had stays valid
    /// up to here, as `replid2`.
    pub fn switch_replid(&self, new_id: &str) {
        let offset = self.offset();
        let mut ids = self.ids.lock();
        if ids.replid != new_id {
            ids.replid2 = std::mem::replace(&mut ids.replid, new_id.to_string());
            ids.second_offset = offset as i64 + 1;
        }
    }

    /// The id and offset a restarted replica continues from (the RDB's `repl-id`,
    /// `repl-offset`, `repl-stream-db`), with an empty backlog from there.
    pub fn restore(&self, replid: &str, offset: u64, stream_db: usize, backlog_size: u64) {
        self.reset_to_primary(replid, offset, backlog_size);
        self.restored_stream_db.store(stream_db as u64, Ordering::Relaxed);
        if let Some(link) = self.link() {
            link.stream_db.store(stream_db, Ordering::Relaxed);
        }
    }

    pub fn restored_stream_db(&self) -> usize {
        self.restored_stream_db.load(Ordering::Relaxed) as usize
    }

    /// What `PSYNC` should ask our primary for: our id and next offset if we have a history
    /// to continue (`? -1` otherwise).
    pub fn psync_target(&self) -> Option<(String, u64)> {
        self.save_info().map(|(replid, offset)| (replid, offset + 1))
    }

    /// The RDB aux fields that let a restarted replica continue (`repl-id`, `repl-offset`),
    /// when there is a history to continue.
    pub fn save_info(&self) -> Option<(String, u64)> {
        let has_history = self.backlog.lock().is_some();
        has_history.then(|| (self.ids.lock().replid.clone(), self.offset()))
    }
}

impl EffectSink for Replication {
    fn emit(&self, db: usize, args: &[&[u8]]) {
        self.append(Some(db), args);
    }
}
