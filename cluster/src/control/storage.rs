//! The Raft log and vote, on disk under the control directory (openraft's [`RaftLogStorage`]).
//!
//! | file | what | how it is written |
//! |---|---|---|
//! | `vote.json` | the vote (term, candidate, committed) | whole, fsynced, renamed over the old one |
//! | `committed.json` | the last committed log id (a hint: lets a restarted node re-apply its log at once) | whole, renamed, not fsynced, at most once a second |
//! | `raft.log` | the log: a sequence of records, each a `u32` length (big-endian), a `u32` CRC-32C of the body, and the body, a JSON [`LogOp`] | appended and fsynced before openraft is told; rewritten whole (then renamed) when a snapshot lets a prefix go |
//!
//! At start-up the records are replayed; a record cut short or failing its checksum (a crash
//! mid-write) ends the replay and is cut off, as nothing after it was ever acknowledged.
//!
//! Topology changes are rare and small, so the log is also kept whole in memory, and the file
//! I/O is plain blocking I/O on the Raft task (an fsync per append).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const LOG_FILE: &str = "raft.log";
const VOTE_FILE: &str = "vote.json";
const COMMITTED_FILE: &str = "committed.json";

/// CRC-32C (Castagnoli) of a record's body.
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// One record of `raft.log`.
#[derive(Serialize, Deserialize)]
enum LogOp {
    /// An entry at its index (replacing any entry from there on).
    Append(Entry),
    /// Entries from this index on are gone (a conflicting suffix).
    Truncate(u64),
    /// Entries up to this id are gone (covered by a snapshot).
    Purge(LogId),
}

/// The log store. Clones share the same log (the clone is the log reader openraft asks for).
#[derive(Clone)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

struct LogInner {
    dir: PathBuf,
    file: File,
    vote: Option<Vote>,
    committed: Option<LogId>,
    /// When `committed.json` was last written.
    committed_saved: Option<std::time::Instant>,
    last_purged: Option<LogId>,
    log: BTreeMap<u64, Entry>,
}

impl LogStore {
    /// Opens (or creates) the log under `dir`, replaying what is there.
    pub(crate) fn open(dir: &Path) -> io::Result<LogStore> {
        let path = dir.join(LOG_FILE);
        let mut data = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut data)?;
        }
        let mut log = BTreeMap::new();
        let mut last_purged = None;
        let (ops, valid) = decode_records(&data);
        for op in ops {
            apply_op(&mut log, &mut last_purged, op);
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if valid < data.len() {
            // A torn tail: never acknowledged, cut it off so appends follow the good records.
            file.set_len(valid as u64)?;
            file.sync_all()?;
        }
        let vote = read_json(&dir.join(VOTE_FILE))?;
        let committed = read_json(&dir.join(COMMITTED_FILE))?;
        let inner = LogInner { dir: dir.to_path_buf(), file, vote, committed, committed_saved: None, last_purged, log };
        Ok(LogStore { inner: Arc::new(Mutex::new(inner)) })
    }

    /// True if nothing was ever stored: the node has not been part of a Raft cluster.
    pub(crate) fn is_blank(&self) -> bool {
        let inner = self.inner.lock();
        inner.vote.is_none() && inner.log.is_empty() && inner.last_purged.is_none()
    }
}

impl LogInner {
    fn write_ops(&mut self, ops: &[LogOp]) -> io::Result<()> {
        let mut buf = Vec::new();
        for op in ops {
            encode_record(&mut buf, op)?;
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }

    /// Rewrites `raft.log` with only what is left (after a purge).
    fn rewrite(&mut self) -> io::Result<()> {
        let mut buf = Vec::new();
        if let Some(purged) = self.last_purged {
            encode_record(&mut buf, &LogOp::Purge(purged))?;
        }
        for entry in self.log.values() {
            encode_record(&mut buf, &LogOp::Append(entry.clone()))?;
        }
        let path = self.dir.join(LOG_FILE);
        write_atomic(&path, &buf, true)?;
        self.file = OpenOptions::new().append(true).open(&path)?;
        Ok(())
    }
}

fn apply_op(log: &mut BTreeMap<u64, Entry>, last_purged: &mut Option<LogId>, op: LogOp) {
    match op {
        LogOp::Append(entry) => {
            log.split_off(&entry.log_id.index);
            log.insert(entry.log_id.index, entry);
        }
        LogOp::Truncate(index) => {
            log.split_off(&index);
        }
        LogOp::Purge(id) => {
            *log = log.split_off(&(id.index + 1));
            if *last_purged < Some(id) {
                *last_purged = Some(id);
            }
        }
    }
}

fn encode_record(buf: &mut Vec<u8>, op: &LogOp) -> io::Result<()> {
    let body = serde_json::to_vec(op)?;
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("log record too large"))?;
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&CRC32.checksum(&body).to_be_bytes());
    buf.extend_from_slice(&body);
    Ok(())
}

/// The records of `data` up to the first damaged one, and the length of the good part.
fn decode_records(data: &[u8]) -> (Vec<LogOp>, usize) {
    let mut ops = Vec::new();
    let mut at = 0;
    while let Some(header) = data.get(at..at + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let Some(body) = data.get(at + 8..at + 8 + len) else { break };
        if CRC32.checksum(body) != crc {
            break;
        }
        let Ok(op) = serde_json::from_slice(body) else { break };
        ops.push(op);
        at += 8 + len;
    }
    (ops, at)
}

/// Removes the log, the vote and the commit hint (and their temporary files) from `dir`:
/// what CLUSTER RESET of a member leaves behind, a node that was never in a cluster.
pub(crate) fn wipe(dir: &Path) -> io::Result<()> {
    for name in [LOG_FILE, VOTE_FILE, COMMITTED_FILE] {
        remove_written(&dir.join(name))?;
    }
    Ok(())
}

/// Removes a file [`write_atomic`] writes, with its temporary file; missing ones are fine.
pub(crate) fn remove_written(path: &Path) -> io::Result<()> {
    for path in [path.with_extension("tmp"), path.to_path_buf()] {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Writes `path` whole: a temporary file, fsynced if `sync`, renamed over `path`, the
/// directory fsynced if `sync`. A crash leaves the old file or the new one, never a mix.
pub(crate) fn write_atomic(path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        if sync {
            file.sync_all()?;
        }
    }
    fs::rename(&tmp, path)?;
    if sync {
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
    }
    Ok(())
}

/// The JSON value in `path`, `None` if there is no such file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(data) => Ok(Some(serde_json::from_slice(&data)?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn log_error(verb: ErrorVerb, e: io::Error) -> StorageError {
    StorageError::from_io_error(ErrorSubject::Logs, verb, e)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(self.inner.lock().log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock();
        let last = inner.log.values().next_back().map(|e| e.log_id).or(inner.last_purged);
        Ok(LogState { last_purged_log_id: inner.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        let data = serde_json::to_vec(vote)
            .map_err(|e| StorageError::from_io_error(ErrorSubject::Vote, ErrorVerb::Write, e.into()))?;
        write_atomic(&inner.dir.join(VOTE_FILE), &data, true)
            .map_err(|e| StorageError::from_io_error(ErrorSubject::Vote, ErrorVerb::Write, e))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.inner.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner.committed = committed;
        // A hint, written at most once a second: a rename on every commit cost 0.3-1 ms of
        // each commit's latency (resharding commits per slot). Losing the last one only
        // delays re-applying the newest entries until the leader says again.
        if inner.committed_saved.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(1)) {
            return Ok(());
        }
        let data = serde_json::to_vec(&committed).map_err(|e| log_error(ErrorVerb::Write, e.into()))?;
        write_atomic(&inner.dir.join(COMMITTED_FILE), &data, false).map_err(|e| log_error(ErrorVerb::Write, e))?;
        inner.committed_saved = Some(std::time::Instant::now());
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.inner.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let ops: Vec<LogOp> = entries.into_iter().map(LogOp::Append).collect();
        let mut inner = self.inner.lock();
        let written = inner.write_ops(&ops);
        if written.is_ok() {
            let LogInner { log, last_purged, .. } = &mut *inner;
            for op in ops {
                apply_op(log, last_purged, op);
            }
        }
        drop(inner);
        let result = written.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.log_io_completed(result);
        written.map_err(|e| log_error(ErrorVerb::Write, e))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner.write_ops(&[LogOp::Truncate(log_id.index)]).map_err(|e| log_error(ErrorVerb::Delete, e))?;
        inner.log.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        let LogInner { log, last_purged, .. } = &mut *inner;
        apply_op(log, last_purged, LogOp::Purge(log_id));
        inner.rewrite().map_err(|e| log_error(ErrorVerb::Delete, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::types::{Payload, RaftId};
    use crate::NodeId;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(term: u64, index: u64) -> Entry {
        let leader = CommittedLeaderId::new(term, RaftId(NodeId::from_bytes_hex(&[1; 20])));
        Entry { log_id: LogId::new(leader, index), payload: EntryPayload::Normal(Payload::Commands(vec![])) }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferrocache-logstore-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn records_replay_and_torn_tail() {
        let mut buf = Vec::new();
        for i in 1..=3 {
            encode_record(&mut buf, &LogOp::Append(entry(1, i))).unwrap();
        }
        encode_record(&mut buf, &LogOp::Truncate(3)).unwrap();
        let good = buf.len();
        encode_record(&mut buf, &LogOp::Append(entry(2, 3))).unwrap();
        // Cut the last record short: replay stops before it.
        buf.truncate(buf.len() - 2);
        let (ops, valid) = decode_records(&buf);
        assert_eq!(valid, good);
        let (mut log, mut purged) = (BTreeMap::new(), None);
        for op in ops {
            apply_op(&mut log, &mut purged, op);
        }
        assert_eq!(log.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        // A flipped bit fails the checksum.
        let mut bad = buf[..good].to_vec();
        bad[12] ^= 1;
        assert_eq!(decode_records(&bad).1, 0);
    }

    #[test]
    fn store_survives_reopen_and_purge() {
        let dir = temp_dir("reopen");
        {
            let store = LogStore::open(&dir).unwrap();
            assert!(store.is_blank());
            let mut inner = store.inner.lock();
            let ops: Vec<LogOp> = (1..=5).map(|i| LogOp::Append(entry(1, i))).collect();
            inner.write_ops(&ops).unwrap();
            inner.write_ops(&[LogOp::Truncate(5)]).unwrap();
        }
        {
            let store = LogStore::open(&dir).unwrap();
            assert!(!store.is_blank());
            let mut inner = store.inner.lock();
            assert_eq!(inner.log.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
            let LogInner { log, last_purged, .. } = &mut *inner;
            apply_op(log, last_purged, LogOp::Purge(entry(1, 2).log_id));
            inner.rewrite().unwrap();
            let op = LogOp::Append(entry(1, 5));
            inner.write_ops(std::slice::from_ref(&op)).unwrap();
        }
        let store = LogStore::open(&dir).unwrap();
        let inner = store.inner.lock();
        assert_eq!(inner.log.keys().copied().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(inner.last_purged, Some(entry(1, 2).log_id));
        drop(inner);
        fs::remove_dir_all(&dir).unwrap();
    }
}
