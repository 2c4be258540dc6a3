//! The append-only file as the server runs it, in Redis 7.0's multi-part layout:
//! `<dir>/<appenddirname>/` holds a base (an RDB, or commands), incremental files of
//! commands, and a manifest naming them. Ferrocache writes the same layout so `redis-check-aof`
//! reads it and a redis-server pointed at the directory loads it, and the other way round.
//!
//! - **Effects in:** the store's effect sink ([`EffectSink`]) encodes each effect as RESP into
//!   `pending` (with a SELECT when the database changes), with the key's shard still locked,
//!   so the file holds each key's writes in order.
//! - **To disk:** a connection whose batch wrote makes sure `pending` reached the current incr
//!   file before sending its replies ([`Shared::aof_flush_upto`]); under `appendfsync always`
//!   synced too, so an acknowledged write is on disk. Concurrent flushes group-commit: one
//!   writes and syncs everything pending, and a connection whose effects it carried returns
//!   without touching the file lock; a batch that wrote nothing never waits. Under `always`
//!   the wait, the write and the fsync are offloaded from the async worker; otherwise the
//!   write to the page cache is made on the worker, as Redis makes it on its event loop.
//!   `everysec` syncs once a second on a thread of its own (a clone of the file descriptor,
//!   one fsync at a time), and while it runs writes are put off for up to 2 s, as Redis puts
//!   them off; `no` leaves syncing to the kernel.
//! - **Rewrite:** a snapshot whose cut also switches writing to a new incr file; the copy
//!   becomes the new base and the manifest then drops the old base and incr files.
//! - **Loading:** base, then each incr file, replayed through the dispatcher; a torn tail of the
//!   last file is cut off under `aof-load-truncated yes`, as Redis does.

use super::Shared;
use crate::commands::replay;
use crate::persistence::aof::{self, AofReadError, AofReader, Manifest};
use crate::persistence::rdb_file::{self, LoadError, LoadOptions};
use crate::store::{system_now_ms, EffectSink};
use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FsyncPolicy {
    Always,
    EverySec,
    No,
}

impl FsyncPolicy {
    pub fn parse(s: &str) -> FsyncPolicy {
        match s {
            "always" => FsyncPolicy::Always,
            "no" => FsyncPolicy::No,
            _ => FsyncPolicy::EverySec,
        }
    }
}

/// Effects waiting to be written, and the database the file's command stream is in.
#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Bytes ever appended to `bytes`: a position in the effect stream.
    appended: u64,
    /// None at the start of a file: the first effect is preceded by a SELECT.
    selected_db: Option<usize>,
}

/// The incr file being appended to.
#[derive(Debug)]
struct IncrFile {
    file: File,
    /// Written since the last fsync.
    unsynced: bool,
}

/// The server's AOF state.
#[derive(Debug)]
pub struct Aof {
    /// Effects are being recorded (appendonly yes, loaded, file open).
    on: AtomicBool,
    pending: Mutex<Pending>,
    /// `Pending::appended`, readable without the lock.
    appended: AtomicU64,
    /// The stream position written out (and synced, under `always`): effects before it are
    /// in the file, so a connection whose effects end there need not wait for the lock.
    flushed: AtomicU64,
    /// Held while writing `pending` out (group commit) and while switching files. In the lock
    /// order (`store/mod.rs`) it comes before the shards, and `pending` is a leaf.
    incr: Mutex<Option<IncrFile>>,
    manifest: Mutex<Option<Manifest>>,
    fsync: AtomicU8,
    last_fsync_ms: AtomicU64,
    /// A write error, reported as `aof_last_write_status:err` and `-MISCONF` until a write
    /// succeeds again.
    write_error: Mutex<Option<String>>,
    /// `write_error.is_some()`, readable on every write without the lock.
    write_failed: AtomicBool,
    rewrite_started: Mutex<Option<Instant>>,
    rewrite_scheduled: AtomicBool,
    last_rewrite_ok: AtomicBool,
    last_rewrite_secs: AtomicI64,
    rewrites: AtomicU64,
    consecutive_failures: AtomicU64,
    /// Bytes of the base and of all incr files, for INFO and the auto-rewrite rule.
    base_size: AtomicU64,
    current_size: AtomicU64,
    /// A background `everysec` fsync is running (`aof_pending_bio_fsync`).
    fsync_in_progress: Arc<AtomicBool>,
    /// When writes began to be put off for that fsync (unix ms; 0: they are not).
    postponed_since_ms: AtomicU64,
    /// Writes that went ahead after 2 s of waiting for it (`aof_delayed_fsync`).
    delayed_fsync: AtomicU64,
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            on: AtomicBool::new(false),
            pending: Mutex::default(),
            appended: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            incr: Mutex::new(None),
            manifest: Mutex::new(None),
            fsync: AtomicU8::new(FsyncPolicy::EverySec as u8),
            last_fsync_ms: AtomicU64::new(0),
            write_error: Mutex::new(None),
            write_failed: AtomicBool::new(false),
            rewrite_started: Mutex::new(None),
            rewrite_scheduled: AtomicBool::new(false),
            last_rewrite_ok: AtomicBool::new(true),
            last_rewrite_secs: AtomicI64::new(-1),
            rewrites: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
            current_size: AtomicU64::new(0),
            fsync_in_progress: Arc::default(),
            postponed_since_ms: AtomicU64::new(0),
            delayed_fsync: AtomicU64::new(0),
        }
    }
}

impl Aof {
    /// Effects are being recorded.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The last write to the file failed (cheap: read on every write command).
    #[inline]
    pub fn write_failed(&self) -> bool {
        self.write_failed.load(Ordering::Relaxed)
    }

    /// Where the effect stream ends now: a connection that has just emitted its effects
    /// waits for the file to reach this ([`Shared::aof_flush_upto`]).
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }
}

impl EffectSink for Aof {
    fn emit(&self, db: usize, args: &[&[u8]]) {
        let mut p = self.pending.lock();
        let before = p.bytes.len();
        if p.selected_db != Some(db) {
            aof::encode_command(&mut p.bytes, &[b"SELECT", itoa::Buffer::new().format(db).as_bytes()]);
            p.selected_db = Some(db);
        }
        aof::encode_command(&mut p.bytes, args);
        p.appended += (p.bytes.len() - before) as u64;
        self.appended.store(p.appended, Ordering::Release);
    }
}

/// What INFO persistence prints about the AOF.
#[derive(Debug)]
pub struct AofInfo {
    pub enabled: bool,
    pub rewrite_in_progress: bool,
    pub rewrite_scheduled: bool,
    pub last_rewrite_time_sec: i64,
    pub current_rewrite_time_sec: i64,
    pub last_bgrewrite_ok: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_write_ok: bool,
    pub current_size: u64,
    pub base_size: u64,
    pub buffer_length: u64,
    /// A background fsync is running (0 or 1).
    pub pending_bio_fsync: u64,
    pub delayed_fsync: u64,
}

/// What BGREWRITEAOF did.
#[derive(Debug, PartialEq, Eq)]
pub enum RewriteOutcome {
    Started,
    AlreadyInProgress,
}

/// Why the AOF could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
pub enum AofLoadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Manifest(String),
    #[error("{0}")]
    Base(#[from] LoadError),
    #[error(
        "Unexpected end of file reading the append only file {file}. You can: 1) Make a backup of your AOF file, \
         then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the \
         'aof-load-truncated' configuration option to yes and restart the server."
    )]
    Truncated { file: String },
    #[error(
        "Bad file format reading the append only file {file}: make a backup of your AOF file, then use \
         ./redis-check-aof --fix <filename.manifest>"
    )]
    Corrupt { file: String },
    #[error("{message} reading the append only file {file}")]
    Replay { message: String, file: String },
}

impl Shared {
    fn aof_dir(&self) -> PathBuf {
        let c = self.config.read();
        Path::new(&c.dir).join(&c.appenddirname)
    }

    fn aof_basename(&self) -> String {
        self.config.read().appendfilename.clone()
    }

    pub fn aof_enabled(&self) -> bool {
        self.aof.on.load(Ordering::Relaxed)
    }

    fn fsync_policy(&self) -> FsyncPolicy {
        match self.aof.fsync.load(Ordering::Relaxed) {
            0 => FsyncPolicy::Always,
            1 => FsyncPolicy::EverySec,
            _ => FsyncPolicy::No,
        }
    }

    /// Follows `appendfsync` after CONFIG SET.
    pub fn apply_aof_config(&self) {
        let policy = FsyncPolicy::parse(&self.config.read().appendfsync);
        self.aof.fsync.store(policy as u8, Ordering::Relaxed);
    }

    /// Writes every pending effect to the incr file (and syncs under `always`): before a
    /// connection closes, from the cron, before a rewrite switches files.
    pub fn aof_flush(&self) {
        if self.aof_enabled() && self.aof.flushed.load(Ordering::Acquire) < self.aof.appended() {
            crate::blocking::offload(|| self.aof_write_pending(None));
        }
    }

    /// Makes sure the effect stream up to `upto` (an [`Aof::appended`] read after the caller's
    /// effects were emitted) is in the file, synced under `always`, before the caller's
    /// replies leave. Already there (another connection's write carried it: group commit),
    /// it returns at once. Under `always` the wait for the file, the write and the fsync run
    /// offloaded, so a slow fsync holds up only the connections whose writes it carries.
    /// Otherwise the write goes to the page cache from this worker, as Redis writes from its
    /// event loop: handing the worker's queue to another thread for every batch cost more
    /// than the write, and crossed busy polling's waiting helpers into 1 s stalls (SET with
    /// `appendonly yes` ran at ~130 requests/s).
    pub fn aof_flush_upto(&self, upto: u64) {
        if !self.aof_enabled() || self.aof.flushed.load(Ordering::Acquire) >= upto {
            return;
        }
        if self.fsync_policy() == FsyncPolicy::Always {
            crate::blocking::offload(|| self.aof_write_pending(Some(upto)));
        } else if !self.postpone_for_fsync() {
            self.aof_write_pending(Some(upto));
        }
    }

    /// Redis's `flushAppendOnlyFile` under `everysec`: while the background fsync runs, a
    /// write to the file would wait for it in the kernel, so writes are put off (the replies
    /// still leave, as Redis's do: `everysec` may lose up to two seconds) until it ends or for
    /// 2 s, after which they go ahead anyway and `aof_delayed_fsync` counts it.
    fn postpone_for_fsync(&self) -> bool {
        let a = &self.aof;
        if self.fsync_policy() != FsyncPolicy::EverySec || !a.fsync_in_progress.load(Ordering::Acquire) {
            a.postponed_since_ms.store(0, Ordering::Relaxed);
            return false;
        }
        let now = system_now_ms();
        let since = a.postponed_since_ms.load(Ordering::Relaxed);
        if since == 0 {
            a.postponed_since_ms.store(now, Ordering::Relaxed);
            return true;
        }
        if now.saturating_sub(since) < 2000 {
            return true;
        }
        a.postponed_since_ms.store(0, Ordering::Relaxed);
        a.delayed_fsync.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis."
        );
        false
    }

    fn aof_write_pending(&self, upto: Option<u64>) {
        let mut incr = self.aof.incr.lock();
        if upto.is_some_and(|upto| self.aof.flushed.load(Ordering::Acquire) >= upto) {
            return;
        }
        let (data, end) = {
            let mut p = self.aof.pending.lock();
            (std::mem::take(&mut p.bytes), p.appended)
        };
        let done = || self.aof.flushed.fetch_max(end, Ordering::Release);
        if data.is_empty() {
            done();
            return;
        }
        let Some(f) = incr.as_mut() else {
            done();
            return;
        };
        let start = self.latency.start();
        let (written, result) = write_counting(&mut f.file, &data);
        self.latency.end("aof-write", start);
        match result {
            Ok(()) => {
                self.aof.current_size.fetch_add(data.len() as u64, Ordering::Relaxed);
                f.unsynced = true;
                if self.fsync_policy() == FsyncPolicy::Always {
                    let start = self.latency.start();
                    let synced = f.file.sync_data();
                    self.latency.end("aof-fsync-always", start);
                    if let Err(e) = synced {
                        self.aof_write_failed(&e);
                        return;
                    }
                    f.unsynced = false;
                    self.aof.last_fsync_ms.store(system_now_ms(), Ordering::Relaxed);
                }
                done();
                if self.aof.write_failed.swap(false, Ordering::Relaxed) {
                    *self.aof.write_error.lock() = None;
                    tracing::warn!("AOF write error looks solved, Redis can write again.");
                }
            }
            Err(e) => {
                // A partial write (a full disk) must not stay in front of the retry, which
                // writes the whole buffer again: the file would hold a torn command followed
                // by a complete one, which no load accepts. As Redis's flushAppendOnlyFile,
                // cut it off; if that fails too, retry only what was not written.
                let mut unwritten = &data[..];
                if written > 0 {
                    match cut_partial_write(&mut f.file, written) {
                        Ok(()) => {}
                        Err(cut) => {
                            tracing::warn!(
                                "Could not remove short write from the append-only file. Redis may refuse to load the AOF the next time it starts. ftruncate: {cut}"
                            );
                            self.aof.current_size.fetch_add(written as u64, Ordering::Relaxed);
                            f.unsynced = true;
                            unwritten = &data[written..];
                        }
                    }
                }
                // Keep the effects for the next try, ahead of anything newer.
                let mut p = self.aof.pending.lock();
                let newer = std::mem::replace(&mut p.bytes, unwritten.to_vec());
                p.bytes.extend_from_slice(&newer);
                self.aof_write_failed(&e);
            }
        }
    }

    fn aof_write_failed(&self, e: &io::Error) {
        tracing::warn!("Error writing to the AOF file: {e}");
        *self.aof.write_error.lock() = Some(e.to_string());
        self.aof.write_failed.store(true, Ordering::Relaxed);
        if self.fsync_policy() == FsyncPolicy::Always {
            // An acknowledged write must be on disk; if it cannot be, Redis stops.
            tracing::error!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
            std::process::exit(1);
        }
    }

    /// The AOF's `-MISCONF` condition: the last write to it failed.
    pub fn aof_write_error(&self) -> Option<String> {
        if !self.aof_enabled() || !self.aof.write_failed.load(Ordering::Relaxed) {
            return None;
        }
        self.aof.write_error.lock().clone()
    }

    /// The cron's AOF duties: flush what background work (expiry, eviction) produced,
    /// fsync once a second under `everysec`, start a scheduled or automatic rewrite.
    pub fn aof_cron(&self) {
        if !self.aof_enabled() {
            return;
        }
        self.aof_flush();
        if self.fsync_policy() == FsyncPolicy::EverySec {
            let now = system_now_ms();
            if now.saturating_sub(self.aof.last_fsync_ms.load(Ordering::Relaxed)) >= 1000 {
                self.aof_fsync_in_background();
                self.aof.last_fsync_ms.store(now, Ordering::Relaxed);
            }
        }
        if self.aof.rewrite_started.lock().is_some() {
            return;
        }
        let (percentage, min_size) = {
            let c = self.config.read();
            (c.auto_aof_rewrite_percentage, c.auto_aof_rewrite_min_size)
        };
        let (base, current) =
            (self.aof.base_size.load(Ordering::Relaxed), self.aof.current_size.load(Ordering::Relaxed));
        let scheduled = self.aof.rewrite_scheduled.swap(false, Ordering::Relaxed);
        let growth = (current.saturating_sub(base) * 100).checked_div(base).unwrap_or(0);
        if scheduled || (percentage > 0 && current > min_size && growth >= percentage) {
            if !scheduled {
                tracing::info!("Starting automatic rewriting of AOF on {growth}% growth");
            }
            self.bgrewriteaof();
        }
    }

    /// fsync from a clone of the descriptor on another thread, so the writers' lock is not
    /// held for the duration (`aof_background_fsync`).
    fn aof_fsync_in_background(&self) {
        // One at a time, as Redis's bio job: the next starts at the first tick after it ends.
        if self.aof.fsync_in_progress.load(Ordering::Acquire) {
            return;
        }
        let clone = {
            let mut incr = self.aof.incr.lock();
            match incr.as_mut() {
                Some(f) if f.unsynced => {
                    f.unsynced = false;
                    f.file.try_clone()
                }
                _ => return,
            }
        };
        match clone {
            Ok(file) => {
                let in_progress = self.aof.fsync_in_progress.clone();
                in_progress.store(true, Ordering::Release);
                let spawned = std::thread::Builder::new().name("aof-fsync".into()).spawn(move || {
                    if let Err(e) = file.sync_data() {
                        tracing::warn!("AOF fsync failed: {e}");
                    }
                    in_progress.store(false, Ordering::Release);
                });
                if let Err(e) = spawned {
                    self.aof.fsync_in_progress.store(false, Ordering::Release);
                    tracing::warn!("AOF fsync: can't start its thread: {e}");
                }
            }
            Err(e) => tracing::warn!("AOF fsync: can't clone the descriptor: {e}"),
        }
    }

    /// Flushes and syncs everything (SHUTDOWN, turning the AOF off).
    pub fn aof_flush_and_sync(&self) {
        if !self.aof_enabled() {
            return;
        }
        self.aof_flush();
        if let Some(f) = self.aof.incr.lock().as_mut() {
            if let Err(e) = f.file.sync_data() {
                tracing::warn!("AOF fsync failed: {e}");
            }
            f.unsynced = false;
        }
    }

    /// `BGREWRITEAOF`, also how `appendonly yes` begins: a new base from a snapshot whose cut
    /// opens a new incr file.
    pub fn bgrewriteaof(&self) -> RewriteOutcome {
        {
            let mut started = self.aof.rewrite_started.lock();
            if started.is_some() {
                return RewriteOutcome::AlreadyInProgress;
            }
            *started = Some(Instant::now());
        }
        let shared = self.arc();
        tracing::info!("Background append only file rewriting started");
        let spawned = std::thread::Builder::new().name("aof-rewrite".into()).spawn(move || {
            let started = Instant::now();
            let result = shared.rewrite_aof();
            let a = &shared.aof;
            a.last_rewrite_secs.store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
            match &result {
                Ok(()) => {
                    a.last_rewrite_ok.store(true, Ordering::Relaxed);
                    a.rewrites.fetch_add(1, Ordering::Relaxed);
                    a.consecutive_failures.store(0, Ordering::Relaxed);
                    tracing::info!("Background AOF rewrite terminated with success");
                    tracing::info!("Background AOF rewrite finished successfully");
                }
                Err(e) => {
                    a.last_rewrite_ok.store(false, Ordering::Relaxed);
                    a.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("Background AOF rewrite failed: {e}");
                }
            }
            *a.rewrite_started.lock() = None;
        });
        if let Err(e) = spawned {
            tracing::warn!("Can't rewrite append only file in background: {e}");
            *self.aof.rewrite_started.lock() = None;
        }
        RewriteOutcome::Started
    }

    fn rewrite_aof(&self) -> io::Result<()> {
        let dir = self.aof_dir();
        std::fs::create_dir_all(&dir)?;
        let basename = self.aof_basename();
        let (preamble, appendonly) = {
            let c = self.config.read();
            (c.aof_use_rdb_preamble, c.appendonly)
        };
        // With the AOF on (or being turned on), the cut also switches files: everything before
        // it is in the old incr files (and the copy), everything after goes to a new one, which
        // the manifest names before the cut ends. With it off, Redis only writes a base.
        // The switch's file I/O happens after the cut, not under its shard locks: the incr lock,
        // taken first, keeps flushes out until the new file is in place (lock order: incr →
        // shards → pending; see `store/mod.rs`).
        let snapshot = if appendonly {
            let mut before_cut = (Vec::new(), 0);
            let (cut, mut incr) = self.store.cut_holding(
                || self.aof.incr.lock(),
                || {
                    let mut p = self.aof.pending.lock();
                    before_cut = (std::mem::take(&mut p.bytes), p.appended);
                    // The new file starts with a SELECT.
                    p.selected_db = None;
                    if !self.aof.on.swap(true, Ordering::Relaxed) {
                        self.refresh_effects();
                    }
                },
            );
            let switched = self.switch_incr_file(&mut incr, before_cut, &dir, &basename);
            drop(incr);
            let snapshot = cut.finish(&self.store);
            switched?;
            snapshot
        } else {
            self.store.snapshot()
        };
        let base_name = self.aof.manifest.lock().get_or_insert_with(Manifest::default).new_base(&basename, preamble);
        let base_path = dir.join(&base_name);
        let size = if preamble {
            let mut options = self.save_options();
            options.aof_base = true;
            rdb_file::save(&snapshot, &base_path, &options)?
        } else {
            write_command_base(&snapshot, &base_path)?
        };
        // The new base replaces the old one and every incr file before the current one.
        let obsolete = {
            let mut m = self.aof.manifest.lock();
            let m = m.as_mut().expect("manifest set above");
            if appendonly {
                m.mark_incrs_as_history();
            } else {
                m.mark_all_incrs_as_history();
            }
            aof::write_manifest(&dir, &basename, m)?;
            m.take_history()
        };
        self.delete_history(&dir, &basename, obsolete);
        let incr_size = self.current_incr_size();
        self.aof.base_size.store(size, Ordering::Relaxed);
        self.aof.current_size.store(size + incr_size, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes files the manifest no longer names, and records that (`aofDelHistoryFiles`).
    fn delete_history(&self, dir: &Path, basename: &str, history: Vec<aof::AofInfo>) {
        if history.is_empty() {
            return;
        }
        for old in &history {
            match std::fs::remove_file(dir.join(&old.name)) {
                Ok(()) => tracing::info!("Removing the history file {} in the background", old.name),
                Err(e) => tracing::warn!("Can't remove the history file {}: {e}", old.name),
            }
        }
        if let Some(m) = self.aof.manifest.lock().as_ref() {
            if let Err(e) = aof::write_manifest(dir, basename, m) {
                tracing::warn!("Can't persist the AOF manifest: {e}");
            }
        }
    }

    fn current_incr_size(&self) -> u64 {
        self.aof.incr.lock().as_ref().and_then(|f| f.file.metadata().ok()).map_or(0, |m| m.len())
    }

    /// Ends the current incr file with `before_cut` (the effects emitted before the rewrite's
    /// cut, and the stream position they end at), opens the next one and records it in the
    /// manifest (persisted): effects from the cut on go there. `incr` is the held incr lock.
    fn switch_incr_file(
        &self,
        incr: &mut Option<IncrFile>,
        (before_cut, end): (Vec<u8>, u64),
        dir: &Path,
        basename: &str,
    ) -> io::Result<()> {
        if let Some(f) = incr.as_mut() {
            f.file.write_all(&before_cut)?;
            f.file.sync_data()?;
        }
        self.aof.flushed.fetch_max(end, Ordering::Release);
        let mut m = self.aof.manifest.lock();
        let manifest = m.get_or_insert_with(Manifest::default);
        let name = manifest.new_incr(basename);
        let file = OpenOptions::new().create(true).append(true).open(dir.join(&name))?;
        aof::write_manifest(dir, basename, manifest)?;
        *incr = Some(IncrFile { file, unsynced: false });
        Ok(())
    }

    /// Follows `appendonly` and `appendfsync` after CONFIG SET: turning the AOF on starts a
    /// rewrite that creates it; turning it off closes it.
    pub fn apply_appendonly(&self) {
        self.apply_aof_config();
        let wanted = self.config.read().appendonly;
        if wanted && !self.aof_enabled() {
            self.start_aof();
        } else if !wanted && self.aof_enabled() {
            self.stop_aof();
        }
    }

    /// `CONFIG SET appendonly no`: flush, sync, close; effects stop.
    pub fn stop_aof(&self) {
        self.aof_flush_and_sync();
        self.aof.on.store(false, Ordering::Relaxed);
        self.refresh_effects();
        *self.aof.incr.lock() = None;
        self.aof.pending.lock().bytes.clear();
    }

    /// `CONFIG SET appendonly yes`: a rewrite creates the base and opens the incr file.
    pub fn start_aof(&self) {
        if !self.aof_enabled() {
            self.bgrewriteaof();
        }
    }

    /// Loads the AOF at start-up when `appendonly yes` (instead of the RDB file), then opens
    /// it for appending. With no AOF yet, creates one from the (empty) dataset, as Redis 7.0
    /// does.
    pub fn load_aof(&self) -> Result<(), AofLoadError> {
        self.apply_aof_config();
        let dir = self.aof_dir();
        let basename = self.aof_basename();
        let Some(mut manifest) = aof::read_manifest(&dir, &basename)? else {
            tracing::info!("No AOF yet: creating one from the current dataset");
            *self.aof.manifest.lock() = Some(Manifest::default());
            self.rewrite_aof()?;
            return Ok(());
        };
        let started = Instant::now();
        let mut base_size = 0;
        if let Some(base) = &manifest.base {
            let path = dir.join(&base.name);
            base_size = std::fs::metadata(&path)?.len();
            let mut head = [0u8; 5];
            let n = io::Read::read(&mut File::open(&path)?, &mut head)?;
            if aof::starts_with_rdb_preamble(&head[..n]) {
                let options = {
                    let c = self.config.read();
                    LoadOptions {
                        verify_checksum: c.rdbchecksum,
                        key_delay_us: c.key_load_delay,
                        keep_expired: false,
                        limits: self.hot.encoding.thresholds(),
                    }
                };
                let stats = rdb_file::load(&self.store, &path, options, |_, _| {})?;
                tracing::info!("DB loaded from base file {}: {} keys", base.name, stats.keys_loaded);
            } else {
                self.replay_aof_file(&path, &base.name, false)?;
            }
        }
        let last = manifest.incrs.len().saturating_sub(1);
        for (i, incr) in manifest.incrs.iter().enumerate() {
            self.replay_aof_file(&dir.join(&incr.name), &incr.name, i == last)?;
        }
        tracing::info!("DB loaded from append only file: {:.3} seconds", started.elapsed().as_secs_f64());
        // Loading is not a change to save again.
        self.store.stats.dirty.store(0, Ordering::Relaxed);
        // Appending goes on in the last incr file (or a new one), as Redis does at start-up.
        let incr_name = manifest.last_or_new_incr(&basename);
        let history = manifest.take_history();
        aof::write_manifest(&dir, &basename, &manifest)?;
        let file = OpenOptions::new().create(true).append(true).open(dir.join(&incr_name))?;
        let incr_size = file.metadata()?.len();
        *self.aof.incr.lock() = Some(IncrFile { file, unsynced: false });
        *self.aof.manifest.lock() = Some(manifest);
        self.delete_history(&dir, &basename, history);
        self.aof.base_size.store(base_size, Ordering::Relaxed);
        self.aof.current_size.store(base_size + incr_size, Ordering::Relaxed);
        self.aof.pending.lock().selected_db = None;
        self.aof.on.store(true, Ordering::Relaxed);
        self.refresh_effects();
        Ok(())
    }

    /// Replays one file of commands. A torn tail (or an unfinished MULTI) is cut off when it is
    /// the last file and `aof-load-truncated` allows it.
    fn replay_aof_file(&self, path: &Path, name: &str, last: bool) -> Result<(), AofLoadError> {
        let file = File::open(path)?;
        let mut reader = AofReader::new(io::BufReader::with_capacity(1 << 16, file));
        let mut client = crate::client::Client::replayer();
        let mut commands = 0u64;
        let cut_at = loop {
            match reader.next_command() {
                Ok(Some(args)) => {
                    if let Err(message) = replay(self, &mut client, args) {
                        return Err(AofLoadError::Replay { message, file: name.to_string() });
                    }
                    commands += 1;
                }
                Ok(None) => break None,
                Err(AofReadError::Io(e)) => return Err(AofLoadError::Io(e)),
                Err(e) => match e.truncate_to() {
                    Some(at) if last && self.config.read().aof_load_truncated => {
                        if matches!(e, AofReadError::UnfinishedMulti { .. }) {
                            tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
                        } else {
                            tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
                        }
                        // A transaction cut short goes too: cut before its MULTI.
                        break Some(reader.open_multi().map_or(at, |multi| multi.min(at)));
                    }
                    Some(_) => return Err(AofLoadError::Truncated { file: name.to_string() }),
                    None => return Err(AofLoadError::Corrupt { file: name.to_string() }),
                },
            }
        };
        if let Some(keep) = cut_at {
            OpenOptions::new().write(true).open(path)?.set_len(keep)?;
            tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled (cut at byte {keep})");
        }
        tracing::info!("Replayed {commands} commands from {name}");
        Ok(())
    }

    pub fn aof_info(&self) -> AofInfo {
        let a = &self.aof;
        let started = *a.rewrite_started.lock();
        AofInfo {
            enabled: self.aof_enabled(),
            rewrite_in_progress: started.is_some(),
            rewrite_scheduled: a.rewrite_scheduled.load(Ordering::Relaxed),
            last_rewrite_time_sec: a.last_rewrite_secs.load(Ordering::Relaxed),
            current_rewrite_time_sec: started.map_or(-1, |s| s.elapsed().as_secs() as i64),
            last_bgrewrite_ok: a.last_rewrite_ok.load(Ordering::Relaxed),
            rewrites: a.rewrites.load(Ordering::Relaxed),
            consecutive_failures: a.consecutive_failures.load(Ordering::Relaxed),
            last_write_ok: a.write_error.lock().is_none(),
            current_size: a.current_size.load(Ordering::Relaxed),
            base_size: a.base_size.load(Ordering::Relaxed),
            buffer_length: a.pending.lock().bytes.len() as u64,
            pending_bio_fsync: u64::from(a.fsync_in_progress.load(Ordering::Relaxed)),
            delayed_fsync: a.delayed_fsync.load(Ordering::Relaxed),
        }
    }
}

/// Writes all of `data` like `write_all`, but also says how much reached the file when it fails.
fn write_counting(file: &mut impl Write, data: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while written < data.len() {
        match file.write(&data[written..]) {
            Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Err(e)),
        }
    }
    (written, Ok(()))
}

/// Truncates an append-mode file by the `written` bytes a failed write left at its end.
fn cut_partial_write(file: &mut File, written: usize) -> io::Result<()> {
    let end = file.seek(io::SeekFrom::End(0))?;
    file.set_len(end.saturating_sub(written as u64))
}

/// A base of commands (`aof-use-rdb-preamble no`): SELECT, then a SET (PXAT when it
/// expires) per key.
fn write_command_base(snapshot: &crate::store::Snapshot, path: &Path) -> io::Result<u64> {
    let temp = path.with_extension("tmp");
    let mut out = io::BufWriter::new(File::create(&temp)?);
    let mut buf = Vec::with_capacity(1 << 16);
    let mut size = 0u64;
    for db in 0..snapshot.databases() {
        if snapshot.db_len(db) == 0 {
            continue;
        }
        let entries = snapshot.db(db);
        aof::encode_command(&mut buf, &[b"SELECT", itoa::Buffer::new().format(db).as_bytes()]);
        for e in entries {
            let at = itoa::Buffer::new().format(e.expire_at).to_string();
            match e.value.as_bytes() {
                Some(value) if e.expire_at == 0 => aof::encode_command(&mut buf, &[b"SET", &e.key[..], &value[..]]),
                Some(value) => aof::encode_command(&mut buf, &[b"SET", &e.key[..], &value[..], b"PXAT", at.as_bytes()]),
                None => {
                    write_collection_commands(&mut buf, &e.key, &e.value);
                    if e.expire_at != 0 {
                        aof::encode_command(&mut buf, &[b"PEXPIREAT", &e.key[..], at.as_bytes()]);
                    }
                }
            }
            if buf.len() >= 1 << 16 {
                out.write_all(&buf)?;
                size += buf.len() as u64;
                buf.clear();
            }
        }
    }
    out.write_all(&buf)?;
    size += buf.len() as u64;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&temp, path)?;
    Ok(size)
}

/// Items per command when a rewrite emits a collection (`AOF_REWRITE_ITEMS_PER_CMD`).
const AOF_REWRITE_ITEMS_PER_CMD: usize = 64;

/// A collection as `rewriteListObject` / `rewriteSetObject` / `rewriteSortedSetObject` /
/// `rewriteHashObject` write it: RPUSH, SADD, ZADD (score `%.17g`, then member) or HSET, with at
/// most 64 items each.
fn write_collection_commands(buf: &mut Vec<u8>, key: &[u8], value: &crate::store::Value) {
    use crate::store::Value;
    let scores: Vec<String>;
    let pairs: Vec<std::borrow::Cow<'_, [u8]>>;
    let (command, items): (&[u8], Vec<&[u8]>) = match value {
        Value::List(l) => return write_list_commands(buf, key, l),
        Value::Set(s) => (b"SADD", s.iter().collect()),
        Value::Hash(h) => {
            pairs = h.iter().flat_map(|(f, v)| [f, v]).collect();
            (b"HSET", pairs.iter().map(|e| &e[..]).collect())
        }
        Value::ZSet(z) => {
            scores = z.iter().map(|(_, score)| rewrite_score(score)).collect();
            (b"ZADD", z.iter().zip(&scores).flat_map(|((m, _), s)| [s.as_bytes(), m]).collect())
        }
        Value::Int(_) | Value::Str(_) | Value::Raw(_) => return,
    };
    let per_item = if matches!(value, Value::Hash(_) | Value::ZSet(_)) { 2 } else { 1 };
    for chunk in items.chunks(AOF_REWRITE_ITEMS_PER_CMD * per_item) {
        let mut args: Vec<&[u8]> = Vec::with_capacity(chunk.len() + 2);
        args.push(command);
        args.push(key);
        args.extend_from_slice(chunk);
        aof::encode_command(buf, &args);
    }
}

/// A list's RPUSH commands, streamed: a packed list's elements are decoded one at a time, so
/// only one command's worth of them is ever copied out.
fn write_list_commands(buf: &mut Vec<u8>, key: &[u8], list: &crate::store::types::List) {
    let (mut flat, mut ends) = (Vec::new(), Vec::with_capacity(AOF_REWRITE_ITEMS_PER_CMD));
    let mut emit = |flat: &mut Vec<u8>, ends: &mut Vec<usize>| {
        let mut args: Vec<&[u8]> = Vec::with_capacity(ends.len() + 2);
        args.extend([&b"RPUSH"[..], key]);
        let mut start = 0;
        for &end in ends.iter() {
            args.push(&flat[start..end]);
            start = end;
        }
        aof::encode_command(buf, &args);
        flat.clear();
        ends.clear();
    };
    list.for_each(|e| {
        flat.extend_from_slice(e);
        ends.push(flat.len());
        if ends.len() == AOF_REWRITE_ITEMS_PER_CMD {
            emit(&mut flat, &mut ends);
        }
    });
    if !ends.is_empty() {
        emit(&mut flat, &mut ends);
    }
}

/// `rioWriteBulkDouble`: `%.17g`, `inf` / `-inf`.
fn rewrite_score(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 { "inf" } else { "-inf" }.into();
    }
    crate::persistence::rdb::format_g17(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_are_rewritten_64_items_a_command() {
        use crate::store::types::{Hash, List, ZSet};
        use crate::store::Value;
        let mut list = List::new();
        (0..130).for_each(|i| list.push_back(i.to_string().as_bytes()));
        let mut buf = Vec::new();
        write_collection_commands(&mut buf, b"l", &Value::List(std::sync::Arc::new(list)));
        let mut reader = crate::persistence::aof::AofReader::new(&buf[..]);
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        while let Some(args) = reader.next_command().unwrap() {
            assert_eq!((&args[0][..], &args[1][..]), (&b"RPUSH"[..], &b"l"[..]));
            sizes.push(args.len() - 2);
            all.extend(args[2..].iter().map(|a| String::from_utf8(a.to_vec()).unwrap()));
        }
        assert_eq!(sizes, [64, 64, 2]);
        assert_eq!(all, (0..130).map(|i| i.to_string()).collect::<Vec<_>>());

        let mut z = ZSet::new();
        z.insert(b"a", 0.1);
        z.insert(b"b", f64::NEG_INFINITY);
        let mut buf = Vec::new();
        write_collection_commands(&mut buf, b"z", &Value::ZSet(std::sync::Arc::new(z)));
        assert_eq!(
            buf,
            b"*6\r\n$4\r\nZADD\r\n$1\r\nz\r\n$4\r\n-inf\r\n$1\r\nb\r\n$19\r\n0.10000000000000001\r\n$1\r\na\r\n"
        );

        let mut h = Hash::new();
        (0..65).for_each(|i| {
            h.insert(format!("f{i}").as_bytes(), b"v");
        });
        let mut buf = Vec::new();
        write_collection_commands(&mut buf, b"h", &Value::Hash(h));
        let mut reader = crate::persistence::aof::AofReader::new(&buf[..]);
        let mut sizes = Vec::new();
        while let Some(args) = reader.next_command().unwrap() {
            sizes.push(args.len() - 2);
        }
        assert_eq!(sizes, [128, 2]);
    }

    #[test]
    fn everysec_writes_wait_for_a_running_fsync_two_seconds_at_most() {
        let shared = Shared::new(crate::Config::default(), crate::store::Clock::System, 0);
        let a = &shared.aof;
        assert!(!shared.postpone_for_fsync(), "no fsync running: written at once");
        a.fsync_in_progress.store(true, Ordering::Release);
        assert!(shared.postpone_for_fsync(), "the wait begins");
        assert!(shared.postpone_for_fsync(), "and goes on within 2 s");
        a.postponed_since_ms.store(system_now_ms() - 2001, Ordering::Relaxed);
        assert!(!shared.postpone_for_fsync(), "after 2 s the write goes ahead");
        assert_eq!(shared.aof_info().delayed_fsync, 1);
        assert!(shared.postpone_for_fsync(), "the next one waits again");
        a.fsync_in_progress.store(false, Ordering::Release);
        assert!(!shared.postpone_for_fsync(), "the fsync ended");
        a.fsync_in_progress.store(true, Ordering::Release);
        a.fsync.store(FsyncPolicy::Always as u8, Ordering::Relaxed);
        assert!(!shared.postpone_for_fsync(), "under always every write is synced: never put off");
    }

    /// A file that takes `room` more bytes, then fails as a full disk does.
    struct FullDisk<'f> {
        file: &'f mut File,
        room: usize,
    }

    impl Write for FullDisk<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = buf.len().min(self.room).min(3); // short writes, as the kernel may make
            self.room -= n;
            self.file.write(&buf[..n])
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_cut_short_by_a_full_disk_is_removed_from_the_file() {
        let dir = std::env::temp_dir().join(format!("ferrocache-aof-partial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("incr.aof");
        let before = b"*1\r\n$4\r\nPING\r\n";
        std::fs::write(&path, before).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        let command = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        let (written, result) = write_counting(&mut FullDisk { file: &mut file, room: 10 }, command);
        assert_eq!(written, 10, "every short write counted");
        assert_eq!(result.unwrap_err().raw_os_error(), Some(28));
        assert_eq!(std::fs::read(&path).unwrap().len(), before.len() + 10, "the torn command is in the file");
        cut_partial_write(&mut file, written).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before, "and gone after the cut");
        // The retry appends the whole command after what was there: a file that loads.
        let (written, result) = write_counting(&mut file, command);
        assert!(result.is_ok() && written == command.len());
        assert_eq!(std::fs::read(&path).unwrap(), [&before[..], &command[..]].concat());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
