//! RDB persistence as the server runs it: SAVE and BGSAVE, the `save <seconds> <changes>`
//! rules, the final save at shutdown, loading at start-up, and the state `INFO persistence`
//! and `LASTSAVE` report.
//!
//! Redis forks for BGSAVE; Ferrocache takes a consistent in-memory copy of the keyspace
//! ([`Store::snapshot`](crate::store::Store::snapshot)) and writes it from a plain thread while
//! the server keeps serving. Every writer of the RDB file (BGSAVE's thread, SAVE, the final
//! save, FLUSHALL's empty save) holds `file_lock` while it writes, so two saves never share
//! the temp file.

use super::Shared;
use crate::persistence::rdb_file::{self, LoadError, LoadOptions, ReplAux, SaveOptions};
use crate::store::{system_now_ms, AccessPolicy, SnapshotCut};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// After a failed background save, the `save` rules wait this long before trying again
/// (Redis's `CONFIG_BGSAVE_RETRY_DELAY`).
const BGSAVE_RETRY_DELAY_SECS: u64 = 5;

/// The persistence half of the server's shared state.
#[derive(Debug)]
pub struct Persistence {
    file_lock: Mutex<()>,
    /// Bumped by FLUSHALL: a save whose copy was taken before it is stale.
    flush_generation: AtomicU64,
    bgsave: Mutex<BgsaveState>,
    /// Unix seconds of the last successful save (LASTSAVE); the start time until then.
    lastsave_secs: AtomicU64,
    last_bgsave_try_secs: AtomicU64,
    /// The store's write counter as of the last successful save's snapshot.
    dirty_at_last_save: AtomicU64,
    last_bgsave_ok: AtomicBool,
    last_bgsave_secs: AtomicI64,
    saves: AtomicU64,
    loading: AtomicBool,
    last_load_keys_loaded: AtomicU64,
    last_load_keys_expired: AtomicU64,
}

#[derive(Debug, Default)]
struct BgsaveState {
    started: Option<Instant>,
    /// BGSAVE inside EXEC: the cron starts it once the transaction is over.
    scheduled: bool,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            file_lock: Mutex::new(()),
            flush_generation: AtomicU64::new(0),
            bgsave: Mutex::new(BgsaveState::default()),
            lastsave_secs: AtomicU64::new(system_now_ms() / 1000),
            last_bgsave_try_secs: AtomicU64::new(0),
            dirty_at_last_save: AtomicU64::new(0),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            loading: AtomicBool::new(false),
            last_load_keys_loaded: AtomicU64::new(0),
            last_load_keys_expired: AtomicU64::new(0),
        }
    }
}

/// What BGSAVE did.
#[derive(Debug, PartialEq, Eq)]
pub enum BgsaveOutcome {
    Started,
    Scheduled,
    AlreadyInProgress,
}

/// What `INFO persistence` prints about RDB.
#[derive(Debug)]
pub struct RdbInfo {
    pub loading: bool,
    pub changes_since_last_save: u64,
    pub bgsave_in_progress: bool,
    pub last_save_time: u64,
    pub last_bgsave_ok: bool,
    pub last_bgsave_time_sec: i64,
    pub current_bgsave_time_sec: i64,
    pub saves: u64,
    pub last_load_keys_expired: u64,
    pub last_load_keys_loaded: u64,
}

impl Persistence {
    pub fn lastsave(&self) -> u64 {
        self.lastsave_secs.load(Ordering::Relaxed)
    }

    /// True while the start-up load runs: commands without the `loading` flag get `-LOADING`.
    /// Raised while a dataset loads (start-up, a replica's full sync): `-LOADING`.
    pub fn set_loading(&self, on: bool) {
        self.loading.store(on, Ordering::Relaxed);
    }

    pub fn loading(&self) -> bool {
        self.loading.load(Ordering::Relaxed)
    }

    pub fn bgsave_in_progress(&self) -> bool {
        self.bgsave.lock().started.is_some()
    }
}

impl Shared {
    /// Writes changes since the last successful save (`rdb_changes_since_last_save`).
    pub fn changes_since_last_save(&self) -> u64 {
        let dirty = self.store.stats.dirty.load(Ordering::Relaxed);
        dirty.saturating_sub(self.persistence.dirty_at_last_save.load(Ordering::Relaxed))
    }

    pub fn rdb_path(&self) -> PathBuf {
        let c = self.config.read();
        rdb_file::rdb_path(&c.dir, &c.dbfilename)
    }

    pub(super) fn save_options(&self) -> SaveOptions {
        let c = self.config.read();
        let policy = self.store.eviction_policy();
        SaveOptions {
            compression: c.rdbcompression,
            checksum: c.rdbchecksum,
            access: if policy.is_lfu() {
                Some(AccessPolicy::Lfu)
            } else if policy.is_lru() {
                Some(AccessPolicy::Lru)
            } else {
                None
            },
            lfu: self.store.lfu_params().clone(),
            now_ms: self.store.now_ms(),
            used_mem: self.memory.estimate(self.store.logical_used()),
            key_delay_us: c.rdb_key_save_delay,
            aof_base: false,
            repl: None,
        }
    }

    /// [`save_options`](Self::save_options) for a replica's diskless transfer.
    pub fn save_options_for_sync(&self) -> SaveOptions {
        let mut options = self.save_options();
        options.repl = self.repl_save_info();
        options
    }

    /// Where replication stands, for the RDB's AUX fields; read inside a cut, so it is as of
    /// the snapshot (a replica relays each command under the command's shard locks).
    fn repl_save_info(&self) -> Option<ReplAux> {
        let (replid, offset) = self.repl.save_info()?;
        let stream_db = match self.repl.link() {
            Some(link) => link.stream_db.load(Ordering::Relaxed),
            None => 0,
        };
        Some(ReplAux { stream_db, replid, offset })
    }

    /// Takes the cut a save writes, with what the save needs to know of that instant;
    /// `at_cut` runs inside it too.
    fn cut_for_save(&self, at_cut: impl FnOnce()) -> (SnapshotCut, SaveMark) {
        let p = &self.persistence;
        let generation = p.flush_generation.load(Ordering::Acquire);
        let dirty = self.store.stats.dirty.load(Ordering::Relaxed);
        let mut repl = None;
        let cut = self.store.cut(|| {
            repl = self.repl_save_info();
            at_cut();
        });
        (cut, SaveMark { generation, dirty, repl })
    }

    /// Copies the keyspace and writes it, on the calling thread.
    fn save_current(&self) -> std::io::Result<bool> {
        let (cut, mark) = self.cut_for_save(|| {});
        self.write_cut(cut, mark)
    }

    /// A full sync to disk: a save whose cut also runs `at_cut` (the replica's place in the
    /// stream), as BGSAVE would write it. Returns the file's path.
    pub fn save_for_sync(&self, at_cut: impl FnOnce()) -> std::io::Result<PathBuf> {
        let (cut, mark) = self.cut_for_save(at_cut);
        self.write_cut(cut, mark)?;
        Ok(self.rdb_path())
    }

    /// Finishes the copy and writes it. Returns false when a FLUSHALL came between the cut
    /// and the write: its empty file stands, the stale copy is dropped.
    fn write_cut(&self, cut: SnapshotCut, mark: SaveMark) -> std::io::Result<bool> {
        let SaveMark { generation, dirty, repl } = mark;
        let p = &self.persistence;
        // The copy comes before `file_lock`: FLUSHALL takes the lock while holding every
        // shard, so a copy waiting for shards must not be holding it.
        let snapshot = cut.finish(&self.store);
        let _file = p.file_lock.lock();
        if p.flush_generation.load(Ordering::Acquire) != generation {
            tracing::info!("Save skipped: the dataset was flushed while it was being copied");
            return Ok(false);
        }
        let path = self.rdb_path();
        let options = SaveOptions { repl, ..self.save_options() };
        match rdb_file::save(&snapshot, &path, &options) {
            Ok(_) => {
                p.dirty_at_last_save.store(dirty, Ordering::Relaxed);
                p.lastsave_secs.store(system_now_ms() / 1000, Ordering::Relaxed);
                p.saves.fetch_add(1, Ordering::Relaxed);
                tracing::info!("DB saved on disk");
                Ok(true)
            }
            Err(e) => {
                tracing::warn!("Write error saving DB on disk ({}): {e}", path.display());
                Err(e)
            }
        }
    }

    /// `SAVE`: a foreground save. Refused while a background save runs, as Redis does.
    pub fn save_now(&self) -> Result<(), SaveError> {
        if self.persistence.bgsave_in_progress() {
            return Err(SaveError::BgsaveInProgress);
        }
        self.save_current().map_err(SaveError::Io)?;
        self.persistence.last_bgsave_ok.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// `BGSAVE [SCHEDULE]`. Inside EXEC Redis schedules it for the cron instead of starting it.
    pub fn bgsave(&self, in_exec: bool) -> BgsaveOutcome {
        let mut state = self.persistence.bgsave.lock();
        if state.started.is_some() {
            return BgsaveOutcome::AlreadyInProgress;
        }
        if in_exec {
            state.scheduled = true;
            return BgsaveOutcome::Scheduled;
        }
        state.started = Some(Instant::now());
        state.scheduled = false;
        drop(state);
        self.spawn_bgsave();
        BgsaveOutcome::Started
    }

    fn spawn_bgsave(&self) {
        let shared = self.arc();
        self.persistence.last_bgsave_try_secs.store(system_now_ms() / 1000, Ordering::Relaxed);
        // The cut here, before the reply: the file holds the data as of BGSAVE, as Redis's fork.
        let (cut, mark) = self.cut_for_save(|| {});
        tracing::info!("Background saving started");
        let spawned = std::thread::Builder::new().name("bgsave".into()).spawn(move || {
            let started = Instant::now();
            let result = shared.write_cut(cut, mark);
            let p = &shared.persistence;
            p.last_bgsave_ok.store(result.is_ok(), Ordering::Relaxed);
            p.last_bgsave_secs.store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
            p.bgsave.lock().started = None;
            match result {
                Ok(_) => tracing::info!("Background saving terminated with success"),
                Err(_) => tracing::warn!("Background saving error"),
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("Can't save in background: {e}");
            self.persistence.last_bgsave_ok.store(false, Ordering::Relaxed);
            self.persistence.bgsave.lock().started = None;
        }
    }

    /// The `save` rules and a scheduled BGSAVE, checked by the server cron (`serverCron`).
    pub fn persistence_cron(&self) {
        let p = &self.persistence;
        if p.bgsave_in_progress() || p.loading() {
            return;
        }
        let now = system_now_ms() / 1000;
        let may_retry = p.last_bgsave_ok.load(Ordering::Relaxed)
            || now.saturating_sub(p.last_bgsave_try_secs.load(Ordering::Relaxed)) > BGSAVE_RETRY_DELAY_SECS;
        if !may_retry {
            return;
        }
        let scheduled = std::mem::take(&mut p.bgsave.lock().scheduled);
        if scheduled {
            self.bgsave(false);
            return;
        }
        let changes = self.changes_since_last_save();
        let since = now.saturating_sub(p.lastsave());
        let points = self.config.read().save_points();
        if let Some((secs, n)) = points.into_iter().find(|&(secs, n)| changes >= n && since > secs) {
            tracing::info!("{n} changes in {secs} seconds. Saving...");
            self.bgsave(false);
        }
    }

    /// Why writes are refused with `-MISCONF`, if they are (`writeCommandsDeniedByDiskError`):
    /// inlined into the dispatcher, so the common case costs two loads.
    /// the last RDB save failed with save points set and `stop-writes-on-bgsave-error yes`,
    /// or the last AOF write failed.
    #[inline]
    pub fn disk_error(&self) -> Option<String> {
        if !self.may_refuse_writes() {
            return None;
        }
        self.disk_error_slow()
    }

    /// Two relaxed loads, on every write: whether [`disk_error`](Self::disk_error) needs a look.
    #[inline]
    fn may_refuse_writes(&self) -> bool {
        !self.persistence.last_bgsave_ok.load(Ordering::Relaxed) || self.aof.write_failed()
    }

    #[cold]
    fn disk_error_slow(&self) -> Option<String> {
        if !self.persistence.last_bgsave_ok.load(Ordering::Relaxed) {
            let c = self.config.read();
            if c.stop_writes_on_bgsave_error && !c.save.is_empty() {
                return Some(crate::commands::errors::MISCONF_RDB.to_string());
            }
        }
        self.aof_write_error().map(|e| format!("MISCONF Errors writing to the AOF file: {e}"))
    }

    /// The save SHUTDOWN and SIGTERM make before exiting: `force_save` for SHUTDOWN SAVE,
    /// otherwise only when save points are configured. Waits for a running BGSAVE first
    /// (Redis kills its child instead; our thread cannot be killed, and it is superseded
    /// anyway).
    pub fn final_save(&self, force_save: bool) -> std::io::Result<()> {
        self.aof_flush_and_sync();
        if !force_save && self.config.read().save.is_empty() {
            return Ok(());
        }
        tracing::info!("Saving the final RDB snapshot before exiting.");
        self.save_current().map(drop)
    }

    /// `FLUSHALL` with save points configured writes the now empty dataset at once, so that a
    /// restart does not bring the flushed keys back (`flushAllDataAndResetRDB`). Called while
    /// FLUSHALL holds every shard; the file is written by the returned job, which FLUSHALL runs
    /// once the shards are unlocked (no lock held across disk I/O). The save counts as of the
    /// flush: writes that land before the job runs stay unsaved changes. Redis kills a running
    /// BGSAVE here; ours finishes but its stale copy is not written.
    pub fn save_empty_after_flushall(&self) -> Option<impl FnOnce() + 'static> {
        let p = &self.persistence;
        // A save whose copy predates the flush must not write it after us.
        let generation = p.flush_generation.fetch_add(1, Ordering::AcqRel) + 1;
        if self.config.read().save.is_empty() {
            return None;
        }
        let dirty_at_flush = self.store.stats.dirty.load(Ordering::Relaxed);
        let shared = self.arc();
        Some(move || {
            let p = &shared.persistence;
            let _file = p.file_lock.lock();
            // A later FLUSHALL writes its own empty file.
            if p.flush_generation.load(Ordering::Acquire) != generation {
                return;
            }
            let empty = crate::store::Snapshot::default();
            if let Err(e) = rdb_file::save(&empty, &shared.rdb_path(), &shared.save_options()) {
                tracing::warn!("Error saving the empty dataset after FLUSHALL: {e}");
                return;
            }
            p.dirty_at_last_save.store(dirty_at_flush, Ordering::Relaxed);
            p.lastsave_secs.store(system_now_ms() / 1000, Ordering::Relaxed);
        })
    }

    /// What to load at start-up, if anything: the AOF when `appendonly yes` (even none yet:
    /// one is created), else the RDB file if it exists. Raises the `loading` flag at once,
    /// before the server accepts anyone, so no client sees an empty keyspace meanwhile.
    pub fn begin_loading(&self) -> Option<DataSource> {
        let source = if self.config.read().appendonly {
            Some(DataSource::Aof)
        } else {
            let path = self.rdb_path();
            path.exists().then_some(DataSource::Rdb(path))
        };
        if source.is_some() {
            self.persistence.loading.store(true, Ordering::Relaxed);
        }
        source
    }

    /// Loads what [`begin_loading`](Self::begin_loading) chose. On error the store is partly
    /// filled and `loading` stays raised: the caller must stop.
    pub fn load_dataset(&self, source: DataSource) -> Result<(), String> {
        match source {
            DataSource::Rdb(path) => self.load_rdb(&path).map_err(|e| e.to_string()),
            DataSource::Aof => {
                self.load_aof().map_err(|e| e.to_string())?;
                self.persistence.loading.store(false, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Loads `path` (from [`begin_loading`](Self::begin_loading)) and lowers the `loading`
    /// flag. An error leaves the store partly filled: the caller must not serve it.
    pub fn load_rdb(&self, path: &Path) -> Result<(), LoadError> {
        let p = &self.persistence;
        let started = Instant::now();
        let options = {
            let c = self.config.read();
            LoadOptions {
                verify_checksum: c.rdbchecksum,
                key_delay_us: c.key_load_delay,
                keep_expired: false,
                limits: self.hot.encoding.thresholds(),
            }
        };
        let result = rdb_file::load(&self.store, path, options, |read, total| {
            if total > 0 && read > 0 {
                tracing::info!("Loading RDB: {read} of {total} bytes ({:.0}%)", read as f64 * 100.0 / total as f64);
            }
        });
        // On error the flag stays up: nobody is served the partial dataset before the stop.
        let stats = result?;
        // A replica continues from where its RDB says replication stood (Redis 7.0 does
        // this for a configured replica only).
        if let (Some(r), true) = (&stats.repl, self.repl.is_replica()) {
            let backlog_size = self.config.read().repl_backlog_size;
            self.repl.restore(&r.replid, r.offset, r.stream_db, backlog_size);
            tracing::info!("Replication id and offset restored from the RDB: {}:{}", r.replid, r.offset);
        }
        p.last_load_keys_loaded.store(stats.keys_loaded, Ordering::Relaxed);
        p.last_load_keys_expired.store(stats.keys_expired, Ordering::Relaxed);
        p.dirty_at_last_save.store(self.store.stats.dirty.load(Ordering::Relaxed), Ordering::Relaxed);
        p.loading.store(false, Ordering::Relaxed);
        tracing::info!("Done loading RDB, keys loaded: {}, keys expired: {}.", stats.keys_loaded, stats.keys_expired);
        tracing::info!("DB loaded from disk: {:.3} seconds", started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Records a load of a replica's snapshot from its primary (INFO's
    /// `rdb_last_load_keys_*`) and logs it.
    pub fn record_load(&self, stats: &rdb_file::LoadStats, started: Instant) {
        let p = &self.persistence;
        p.last_load_keys_loaded.store(stats.keys_loaded, Ordering::Relaxed);
        p.last_load_keys_expired.store(stats.keys_expired, Ordering::Relaxed);
        tracing::info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}. ({:.3} seconds)",
            stats.keys_loaded,
            stats.keys_expired,
            started.elapsed().as_secs_f64()
        );
    }

    pub fn rdb_info(&self) -> RdbInfo {
        let p = &self.persistence;
        let started = p.bgsave.lock().started;
        RdbInfo {
            loading: p.loading(),
            changes_since_last_save: self.changes_since_last_save(),
            bgsave_in_progress: started.is_some(),
            last_save_time: p.lastsave(),
            last_bgsave_ok: p.last_bgsave_ok.load(Ordering::Relaxed),
            last_bgsave_time_sec: p.last_bgsave_secs.load(Ordering::Relaxed),
            current_bgsave_time_sec: started.map_or(-1, |s| s.elapsed().as_secs() as i64),
            saves: p.saves.load(Ordering::Relaxed),
            last_load_keys_expired: p.last_load_keys_expired.load(Ordering::Relaxed),
            last_load_keys_loaded: p.last_load_keys_loaded.load(Ordering::Relaxed),
        }
    }

    /// This state's `Arc` (handlers get `&Shared`; a background save outlives the handler).
    pub fn arc(&self) -> Arc<Shared> {
        self.me.upgrade().expect("Shared is only built inside an Arc")
    }
}

/// What a save needs to know of the instant of its cut.
struct SaveMark {
    /// FLUSHALL's generation: a save whose copy predates a flush is not written.
    generation: u64,
    dirty: u64,
    repl: Option<ReplAux>,
}

/// Where the dataset comes from at start-up.
#[derive(Debug)]
pub enum DataSource {
    Rdb(PathBuf),
    Aof,
}

/// Why SAVE failed.
#[derive(Debug)]
pub enum SaveError {
    BgsaveInProgress,
    Io(std::io::Error),
}
