//! The keyspace to and from an RDB file: what SAVE, BGSAVE and start-up loading do with the
//! format layer in [`rdb`](super::rdb).

use super::rdb::{
    AuxFields, RdbCollection, RdbCollectionRef, RdbEntryRef, RdbError, RdbReader, RdbRecord, RdbStr, RdbString,
    RdbValue, RdbValueRef, RdbWriteOptions, RdbWriter,
};
use crate::store::types::EncodingThresholds;
use crate::store::{
    access_from_freq, access_from_idle, idle_ms, lfu_counter, AccessPolicy, LfuParams, Snapshot, Store, Value,
};
use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};

/// What a save needs besides the keys.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    pub compression: bool,
    pub checksum: bool,
    /// The eviction policy's kind: Redis writes each key's idle time under an LRU policy and
    /// its LFU counter under an LFU one, so a restart keeps the eviction order.
    pub access: Option<AccessPolicy>,
    pub lfu: LfuParams,
    pub now_ms: u64,
    pub used_mem: u64,
    /// `rdb-key-save-delay`: microseconds to sleep after each key (a testing knob; see
    /// [`debug_delay`] for negative values).
    pub key_delay_us: i64,
    /// The file is an AOF base (`aof-base` aux field set), not a plain dump.
    pub aof_base: bool,
    /// Replication's place as of the snapshot (`repl-stream-db`, `repl-id`, `repl-offset`),
    /// so a restarted replica can continue where it was.
    pub repl: Option<ReplAux>,
}

/// The replication AUX fields of an RDB file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplAux {
    pub stream_db: usize,
    pub replid: String,
    pub offset: u64,
}

/// Writes `snapshot` to `path` as Redis does: into `temp-<pid>.rdb` beside it, fsync, rename
/// over `path`, fsync the directory. A crash mid-save leaves the previous file intact.
/// Returns the file's size.
pub fn save(snapshot: &Snapshot, path: &Path, options: &SaveOptions) -> io::Result<u64> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = write_file(snapshot, &temp, options).and_then(|size| {
        std::fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()?;
        Ok(size)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn write_file(snapshot: &Snapshot, temp: &Path, options: &SaveOptions) -> io::Result<u64> {
    let file = File::create(temp)?;
    let file = write_to(snapshot, BufWriter::with_capacity(1 << 16, file), options)?
        .into_inner()
        .map_err(|e| e.into_error())?;
    file.sync_all()?;
    file.metadata().map(|m| m.len())
}

/// Writes `snapshot` as an RDB to `out` (a file, or a replica's diskless transfer) and
/// returns the writer.
pub fn write_to<W: io::Write>(snapshot: &Snapshot, out: W, options: &SaveOptions) -> io::Result<W> {
    let aux = AuxFields {
        redis_ver: crate::commands::REDIS_COMPAT_VERSION,
        ctime: (options.now_ms / 1000) as i64,
        used_mem: options.used_mem,
        aof_base: options.aof_base,
        repl: options.repl.as_ref().map(|r| (r.stream_db, r.replid.as_str(), r.offset)),
    };
    let write_options = RdbWriteOptions { compression: options.compression, checksum: options.checksum };
    let mut rdb = RdbWriter::new(out, write_options, aux)?;
    for db in 0..snapshot.databases() {
        let keys = snapshot.db_len(db);
        if keys == 0 {
            continue;
        }
        let expires = snapshot.db(db).filter(|e| e.expire_at != 0).count();
        rdb.select_db(db as u32, keys as u64, expires as u64)?;
        for e in snapshot.db(db) {
            let value = rdb_value(&e.value);
            let (lru_idle_secs, lfu_freq) = match options.access {
                Some(AccessPolicy::Lru) => (Some(idle_ms(e.access, options.now_ms) / 1000), None),
                Some(AccessPolicy::Lfu) => (None, Some(lfu_counter(e.access, options.now_ms, &options.lfu))),
                None => (None, None),
            };
            rdb.write_entry(&RdbEntryRef {
                key: &e.key,
                value,
                expire_at_ms: (e.expire_at != 0).then_some(e.expire_at as i64),
                lru_idle_secs,
                lfu_freq,
            })?;
            debug_delay(options.key_delay_us);
        }
    }
    rdb.finish()
}

/// A stored value as RDB writes it (SAVE, DUMP, MIGRATE): an integer keeps its integer
/// encoding, a collection is written in the encoding Redis 7.0 would give it.
pub fn rdb_value(value: &Value) -> RdbValueRef<'_> {
    match value {
        Value::Int(n) => RdbValueRef::String(RdbStr::Int(*n)),
        Value::Str(s) => RdbValueRef::String(RdbStr::Bytes(s)),
        Value::Raw(v) => RdbValueRef::String(RdbStr::Bytes(v)),
        Value::Hash(h) => RdbValueRef::Collection(RdbCollectionRef::Hash(h)),
        Value::List(l) => RdbValueRef::Collection(RdbCollectionRef::List(l)),
        Value::Set(s) => RdbValueRef::Collection(RdbCollectionRef::Set(s)),
        Value::ZSet(z) => RdbValueRef::Collection(RdbCollectionRef::ZSet(z)),
    }
}

/// The value to store for one read from RDB (loading, RESTORE). A string is left as Redis's
/// `tryObjectEncoding` leaves it: integers written as text (over 32 bits) become integers
/// again.
pub fn value_from_rdb(value: RdbValue) -> Value {
    match value {
        RdbValue::String(RdbString::Int(n)) => Value::Int(n),
        RdbValue::String(RdbString::Bytes(b)) => Value::from_set(&b),
        RdbValue::Collection(RdbCollection::Hash(h)) => Value::Hash(h),
        RdbValue::Collection(RdbCollection::List(l)) => Value::List(l.into()),
        RdbValue::Collection(RdbCollection::Set(s)) => Value::Set(s.into()),
        RdbValue::Collection(RdbCollection::ZSet(z)) => Value::ZSet(z.into()),
    }
}

/// Why a load failed. The server refuses to start on any of these, as Redis does, rather
/// than serve part of a dataset.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Rdb(#[from] RdbError),
    #[error("FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting")]
    DatabaseOutOfRange { databases: usize },
    #[error("RDB has duplicated key '{}' in DB {db}", String::from_utf8_lossy(key))]
    DuplicateKey { db: u32, key: Vec<u8> },
}

/// What a load did, for the log line Redis prints.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadStats {
    pub keys_loaded: u64,
    pub keys_expired: u64,
    pub bytes: u64,
    /// The replication AUX fields, when the file has them.
    pub repl: Option<ReplAux>,
}

/// How to read a file.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// `rdbchecksum`: verify the CRC-64 trailer (a zero trailer is never checked).
    pub verify_checksum: bool,
    /// `key-load-delay`: microseconds to sleep after each key (a testing knob, as in Redis;
    /// see [`debug_delay`]).
    pub key_delay_us: i64,
    /// Load keys whose TTL has passed too: a replica keeps them until its primary's DEL.
    pub keep_expired: bool,
    /// The configured encoding thresholds, which loaded collections take.
    pub limits: EncodingThresholds,
}

/// Loads the RDB file at `path` into `store` (which should be empty). Keys whose TTL has
/// already passed are dropped, as a primary does. `progress(bytes_read, file_size)` is called
/// now and then so the caller can log it. On error the keys loaded so far stay in the store;
/// the caller is expected to give up (Redis exits).
pub fn load(
    store: &Store,
    path: &Path,
    options: LoadOptions,
    progress: impl FnMut(u64, u64),
) -> Result<LoadStats, LoadError> {
    let file = File::open(path).map_err(RdbError::Io)?;
    let size = file.metadata().map_err(RdbError::Io)?.len();
    load_from(store, BufReader::with_capacity(1 << 16, file), size, options, progress)
}

/// [`load`] from any reader (a replica loading straight from its primary's socket); `size`
/// is for the progress reports only (0 when unknown).
pub fn load_from<R: io::BufRead>(
    store: &Store,
    input: R,
    size: u64,
    options: LoadOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<LoadStats, LoadError> {
    let mut rdb = RdbReader::new(input)?;
    rdb.set_verify_checksum(options.verify_checksum);
    rdb.set_limits(options.limits);
    let now = store.now_ms();
    let access = if store.eviction_policy().is_lfu() { AccessPolicy::Lfu } else { AccessPolicy::Lru };
    let mut stats = LoadStats::default();
    let mut next_report = 0;
    let (mut stream_db, mut replid, mut repl_offset) = (None, None, None);
    while let Some(record) = rdb.next_record()? {
        let e = match record {
            RdbRecord::Entry(e) => e,
            RdbRecord::Aux { name, value } => {
                let text = String::from_utf8_lossy(&value).into_owned();
                match &name[..] {
                    b"repl-stream-db" => stream_db = text.parse::<usize>().ok(),
                    b"repl-id" if text.len() == 40 => replid = Some(text),
                    b"repl-offset" => repl_offset = text.parse::<u64>().ok(),
                    _ => {}
                }
                continue;
            }
            _ => continue,
        };
        let db = e.db as usize;
        if db >= store.databases() {
            return Err(LoadError::DatabaseOutOfRange { databases: store.databases() });
        }
        if let Some(at) = e.expire_at_ms.filter(|_| !options.keep_expired) {
            if at <= now as i64 {
                stats.keys_expired += 1;
                continue;
            }
        }
        let value = value_from_rdb(e.value);
        let mut ks = store.lock_key(&e.key);
        if ks.exists(db, &e.key) {
            return Err(LoadError::DuplicateKey { db: e.db, key: e.key });
        }
        ks.insert(db, &e.key, value, e.expire_at_ms.map_or(0, |at| at as u64));
        let loaded_access = match (access, e.lru_idle_secs, e.lfu_freq) {
            (AccessPolicy::Lru, Some(idle), _) => access_from_idle(idle, now),
            (AccessPolicy::Lfu, _, Some(freq)) => Some(access_from_freq(freq, now)),
            _ => None,
        };
        if let Some(a) = loaded_access {
            ks.set_access(db, &e.key, a);
        }
        stats.keys_loaded += 1;
        debug_delay(options.key_delay_us);
        if rdb.bytes_read() >= next_report {
            progress(rdb.bytes_read(), size);
            next_report = rdb.bytes_read() + (size / 20).max(1 << 20);
        }
    }
    stats.bytes = rdb.bytes_read();
    if let (Some(replid), Some(offset)) = (replid, repl_offset) {
        stats.repl = Some(ReplAux { stream_db: stream_db.unwrap_or(0), replid, offset });
    }
    // Loading is not a change to save again.
    store.stats.dirty.store(0, std::sync::atomic::Ordering::Relaxed);
    Ok(stats)
}

/// `dir` + `dbfilename`.
pub fn rdb_path(dir: &str, dbfilename: &str) -> PathBuf {
    Path::new(dir).join(dbfilename)
}

/// Redis's `debugDelay`, for the per-key testing delays: `us` microseconds, or for a negative
/// value one microsecond with probability 1/|us| (on average 1/|us| µs a key, shorter than
/// any real sleep).
pub fn debug_delay(us: i64) {
    let us = if us < 0 { u64::from(rand::random::<u64>().is_multiple_of(us.unsigned_abs())) } else { us as u64 };
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Clock, EvictionPolicy, LfuParams};

    /// A directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
            let path = std::env::temp_dir().join(format!("ferrocache-unit-{name}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const NOW: u64 = 1_700_000_000_000;
    const CHECKED: LoadOptions = LoadOptions {
        verify_checksum: true,
        key_delay_us: 0,
        keep_expired: false,
        limits: EncodingThresholds::REDIS_DEFAULTS,
    };

    fn options() -> SaveOptions {
        SaveOptions {
            compression: true,
            checksum: true,
            access: None,
            lfu: LfuParams::default(),
            now_ms: NOW,
            used_mem: 0,
            key_delay_us: 0,
            aof_base: false,
            repl: None,
        }
    }

    fn put(store: &Store, db: usize, key: &str, value: Value, expire_at: u64) {
        store.lock_key(key.as_bytes()).insert(db, key.as_bytes(), value, expire_at);
    }

    fn contents(store: &Store) -> Vec<(usize, Vec<u8>, Value, u64)> {
        let snapshot = store.snapshot();
        let mut all: Vec<_> = (0..snapshot.databases())
            .flat_map(|db| snapshot.db(db).map(move |e| (db, e.key.to_vec(), e.value.clone(), e.expire_at)))
            .collect();
        all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        all
    }

    #[test]
    fn save_then_load_gives_back_every_key_value_and_ttl() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("dump.rdb");
        let store = Store::new(16, 8, Clock::manual(NOW));
        put(&store, 0, "int", Value::Int(-42), 0);
        put(&store, 0, "short", Value::from_set(b"hello"), NOW + 5_000);
        put(&store, 3, "long", Value::from_set(&b"abc".repeat(1000)), 0);
        put(&store, 15, "big-int-text", Value::from_set(b"123456789012345678901234567890"), NOW + 1);
        let size = save(&store.snapshot(), &path, &options()).unwrap();
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
        assert!(!dir.0.join(format!("temp-{}.rdb", std::process::id())).exists());

        let loaded = Store::new(16, 4, Clock::manual(NOW));
        let stats = load(&loaded, &path, CHECKED, |_, _| {}).unwrap();
        assert_eq!((stats.keys_loaded, stats.keys_expired, stats.bytes), (4, 0, size));
        assert_eq!(contents(&loaded), contents(&store));
        assert_eq!(loaded.stats.dirty.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn collections_survive_a_save_and_load() {
        use crate::store::types::{Hash, List, Set, ZSet};
        let dir = TempDir::new("collections");
        let path = dir.0.join("dump.rdb");
        let store = Store::new(16, 8, Clock::manual(NOW));
        let (mut list, mut set, mut ints, mut hash, mut zset) =
            (List::new(), Set::new(), Set::new(), Hash::new(), ZSet::new());
        for i in 0..300 {
            list.push_back(format!("item {i}").as_bytes());
            set.insert(format!("m{i}").as_bytes());
            ints.insert(i.to_string().as_bytes());
            hash.insert(format!("f{i}").as_bytes(), &[b'v'; 100]);
            zset.insert(format!("z{i}").as_bytes(), f64::from(i) / 3.0);
        }
        put(&store, 0, "list", Value::List(std::sync::Arc::new(list)), 0);
        put(&store, 0, "set", Value::Set(std::sync::Arc::new(set)), NOW + 5_000);
        put(&store, 1, "ints", Value::Set(std::sync::Arc::new(ints)), 0);
        put(&store, 2, "hash", Value::Hash(hash), 0);
        put(&store, 2, "zset", Value::ZSet(std::sync::Arc::new(zset)), 0);
        save(&store.snapshot(), &path, &options()).unwrap();
        let loaded = Store::new(16, 4, Clock::manual(NOW));
        let stats = load(&loaded, &path, CHECKED, |_, _| {}).unwrap();
        assert_eq!(stats.keys_loaded, 5);
        assert_eq!(contents(&loaded), contents(&store));
    }

    #[test]
    fn loaded_collections_take_the_configured_thresholds() {
        use crate::store::types::{Hash, HashLimits, Set, ZSet, ZSetLimits};
        let encoding = |store: &Store, db: usize, key: &str| {
            store.lock_key(key.as_bytes()).get(db, key.as_bytes()).map(|e| e.value.encoding().to_owned())
        };
        let dir = TempDir::new("thresholds");
        let path = dir.0.join("dump.rdb");
        let store = Store::new(16, 8, Clock::manual(NOW));
        // Written small (listpack, listpack, intset) under the defaults: 6 elements each.
        let (mut hash, mut zset, mut ints) = (Hash::new(), ZSet::new(), Set::new());
        for i in 0..6 {
            hash.insert(format!("f{i}").as_bytes(), b"v");
            zset.insert(format!("m{i}").as_bytes(), f64::from(i));
            ints.insert(i.to_string().as_bytes());
        }
        put(&store, 0, "hash", Value::Hash(hash), 0);
        put(&store, 0, "zset", Value::ZSet(std::sync::Arc::new(zset)), 0);
        put(&store, 0, "ints", Value::Set(std::sync::Arc::new(ints)), 0);
        save(&store.snapshot(), &path, &options()).unwrap();

        let four = EncodingThresholds {
            hash: HashLimits { max_entries: 4, max_value: 64 },
            zset: ZSetLimits { max_entries: 4, max_value: 64 },
            set_max_intset: 4,
        };
        let loaded = Store::new(16, 4, Clock::manual(NOW));
        load(&loaded, &path, LoadOptions { limits: four, ..CHECKED }, |_, _| {}).unwrap();
        assert_eq!(encoding(&loaded, 0, "hash").as_deref(), Some("hashtable"));
        assert_eq!(encoding(&loaded, 0, "zset").as_deref(), Some("skiplist"));
        assert_eq!(encoding(&loaded, 0, "ints").as_deref(), Some("hashtable"));
        assert_eq!(contents(&loaded), contents(&store));

        let defaults = Store::new(16, 4, Clock::manual(NOW));
        load(&defaults, &path, CHECKED, |_, _| {}).unwrap();
        assert_eq!(encoding(&defaults, 0, "hash").as_deref(), Some("listpack"));
        assert_eq!(encoding(&defaults, 0, "zset").as_deref(), Some("listpack"));
        assert_eq!(encoding(&defaults, 0, "ints").as_deref(), Some("intset"));
    }

    #[test]
    fn keys_expired_by_load_time_are_dropped_and_counted() {
        let dir = TempDir::new("expired");
        let path = dir.0.join("dump.rdb");
        let store = Store::new(16, 4, Clock::manual(NOW));
        put(&store, 0, "gone", Value::Int(1), NOW + 10);
        put(&store, 0, "kept", Value::Int(2), NOW + 10_000);
        save(&store.snapshot(), &path, &options()).unwrap();
        let later = Store::new(16, 4, Clock::manual(NOW + 10));
        let stats = load(&later, &path, CHECKED, |_, _| {}).unwrap();
        assert_eq!((stats.keys_loaded, stats.keys_expired), (1, 1));
        assert_eq!(contents(&later), vec![(0, b"kept".to_vec(), Value::Int(2), NOW + 10_000)]);
    }

    #[test]
    fn lru_idle_time_survives_a_save_and_load() {
        let dir = TempDir::new("lru");
        let path = dir.0.join("dump.rdb");
        let clock = Clock::manual(NOW);
        let store = Store::new(16, 4, clock.clone());
        store.set_eviction_policy(EvictionPolicy::AllKeysLru);
        put(&store, 0, "k", Value::Int(1), 0);
        clock.advance(90_000);
        let opts = SaveOptions { access: Some(AccessPolicy::Lru), now_ms: NOW + 90_000, ..options() };
        save(&store.snapshot(), &path, &opts).unwrap();
        let loaded = Store::new(16, 4, Clock::manual(NOW + 90_000));
        loaded.set_eviction_policy(EvictionPolicy::AllKeysLru);
        load(&loaded, &path, CHECKED, |_, _| {}).unwrap();
        let access = loaded.snapshot().db(0).next().expect("a key").access;
        let idle_s = idle_ms(access, NOW + 90_000) / 1000;
        assert!((89..=91).contains(&idle_s), "idle {idle_s}s after reload, 90s before");
    }

    #[test]
    fn a_database_beyond_the_configured_count_refuses_to_load() {
        let dir = TempDir::new("dbrange");
        let path = dir.0.join("dump.rdb");
        let store = Store::new(16, 4, Clock::manual(NOW));
        put(&store, 9, "k", Value::Int(1), 0);
        save(&store.snapshot(), &path, &options()).unwrap();
        let small = Store::new(4, 4, Clock::manual(NOW));
        let err = load(&small, &path, CHECKED, |_, _| {}).unwrap_err();
        assert!(matches!(err, LoadError::DatabaseOutOfRange { databases: 4 }), "{err}");
    }

    #[test]
    fn a_corrupt_or_truncated_file_is_an_error_not_a_partial_success() {
        let dir = TempDir::new("corrupt");
        let path = dir.0.join("dump.rdb");
        let store = Store::new(16, 4, Clock::manual(NOW));
        for i in 0..100 {
            put(&store, 0, &format!("key:{i}"), Value::Int(i), 0);
        }
        save(&store.snapshot(), &path, &options()).unwrap();
        let good = std::fs::read(&path).unwrap();

        std::fs::write(&path, &good[..good.len() - 20]).unwrap();
        let err = load(&Store::new(16, 4, Clock::manual(NOW)), &path, CHECKED, |_, _| {}).unwrap_err();
        assert!(matches!(err, LoadError::Rdb(RdbError::Truncated)), "{err}");

        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 0x01;
        std::fs::write(&path, &bad_crc).unwrap();
        let err = load(&Store::new(16, 4, Clock::manual(NOW)), &path, CHECKED, |_, _| {}).unwrap_err();
        assert!(matches!(err, LoadError::Rdb(RdbError::ChecksumMismatch { .. })), "{err}");

        // A flipped bit inside the data fails one way or another (checksum, a bad length, a
        // key renamed into a duplicate), depending on what it hits; it never loads.
        for at in [9, good.len() / 3, good.len() / 2, good.len() - 10] {
            let mut flipped = good.clone();
            flipped[at] ^= 0x01;
            std::fs::write(&path, &flipped).unwrap();
            assert!(load(&Store::new(16, 4, Clock::manual(NOW)), &path, CHECKED, |_, _| {}).is_err(), "bit at {at}");
        }

        std::fs::write(&path, b"not an rdb file at all").unwrap();
        let err = load(&Store::new(16, 4, Clock::manual(NOW)), &path, CHECKED, |_, _| {}).unwrap_err();
        assert!(matches!(err, LoadError::Rdb(RdbError::NotRdb)), "{err}");
    }

    #[test]
    fn a_failed_save_leaves_the_previous_file_and_no_temp_file() {
        let dir = TempDir::new("failed-save");
        let path = dir.0.join("dump.rdb");
        std::fs::write(&path, b"previous").unwrap();
        // A directory where the temp file would go makes the save fail part way.
        let temp = dir.0.join(format!("temp-{}.rdb", std::process::id()));
        std::fs::create_dir(&temp).unwrap();
        let store = Store::new(16, 4, Clock::manual(NOW));
        put(&store, 0, "k", Value::Int(1), 0);
        assert!(save(&store.snapshot(), &path, &options()).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
    }
}
