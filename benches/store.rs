//! Keyspace store hot paths: GET hit, GET miss and SET through `Store::lock_key` → `Locked`,
//! over a store pre-filled with 1,000,000 keys (16-byte names `key:%012d`, 10-byte values).
//!
//! Keys come from a precomputed pseudo-random sequence, walked by a cursor that carries over
//! from one iteration to the next, so neither the key nor its table slot stays cache-hot.
//! `get_hit_lookahead_*` runs the same GETs with the keys known a few steps ahead and
//! prefetched (`Store::prefetch`, `Store::prefetch_entry`), as the server does for pipelined
//! requests.
//!
//! The `parts` group splits a GET into its pieces (shard hash, lock + clock read, full GET) to
//! show where the time goes; `all_cores` runs GETs on every core at once.
//!
//! Two more groups put the 1 M-key figures in context. `hot` repeats GET over a 10,000-key
//! working set that stays in the CPU caches (the hot keys of a cache). `reference` runs the
//! same random 1 M-key GETs against a bare `hashbrown` map of inline 16-byte keys and
//! 24-byte values, sharded 64 ways, once unlocked and once behind a `parking_lot` mutex per
//! lookup: what this machine's memory allows a design that looks a random key up under a lock.
//! A bare lookup is short enough that the CPU's reorder window reaches into the next ones and
//! their cache misses overlap; a store GET (~400 instructions: lock bookkeeping, expiry check,
//! LRU stamp, hit counters) waits out its own misses one after the other unless the keys are
//! prefetched ahead, which is what the `lookahead` variants show.
//!
//! Run: `cargo bench --bench store -- --measurement-time 3 --warm-up-time 1`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferrocache::store::{key_hash, Clock, Store, Value};
use ferrocache::Config;
use std::time::Instant;

/// Keys the store is pre-filled with.
const KEYS: usize = 1_000_000;
/// Keys of the cache-resident working set of the `hot` group.
const HOT_KEYS: usize = 10_000;
/// Length of the precomputed key sequence (a power of two; 16 MiB of key bytes, read in
/// order). Its keys' table lines (index and entry, ~3 lines a key) are many times a 32 MiB
/// L3; at 2^18 they were about the size of one (get_hit then measured ~5% higher).
const SEQ: usize = 1 << 20;
/// Operations per Criterion iteration: amortises the harness's own per-iteration cost.
const BATCH: usize = 1000;
/// GETs each thread performs per Criterion iteration in the all-cores bench.
const PER_THREAD: usize = 10_000;
const DB: usize = 0;

type Key = [u8; 16];

fn key(i: usize) -> Key {
    let mut k = [0u8; 16];
    k.copy_from_slice(format!("key:{i:012}").as_bytes());
    k
}

/// SplitMix64: a deterministic pseudo-random sequence, no dependency needed.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `SEQ` keys drawn uniformly from `base..base + n`: base 0 gives hits, base `n` misses
/// (same length and prefix, so the work up to the table probe is identical).
fn sequence(base: usize, n: usize, seed: u64) -> Vec<Key> {
    let mut s = seed;
    (0..SEQ).map(|_| key(base + (splitmix(&mut s) % n as u64) as usize)).collect()
}

/// A store laid out as the server builds it (default databases and shard count), pre-filled
/// with `n` keys.
fn filled_store(n: usize) -> Store {
    let config = Config::default();
    let store = Store::new(config.databases, config.shards, Clock::System);
    for i in 0..n {
        let k = key(i);
        let v = format!("val:{:06}", i % 1_000_000);
        debug_assert_eq!(v.len(), 10);
        store.lock_key(&k).insert(DB, &k, Value::from_set(v.as_bytes()), 0);
    }
    store
}

/// Walks `seq` from `*cursor`, `n` keys, wrapping around.
fn next_keys<'a>(seq: &'a [Key], cursor: &mut usize, n: usize) -> impl Iterator<Item = &'a Key> {
    let start = *cursor;
    *cursor = (start + n) % seq.len();
    (0..n).map(move |i| &seq[(start + i) % seq.len()])
}

#[inline(never)] // one call per measured GET, and a name for profilers to find
fn get_one(store: &Store, k: &Key) -> bool {
    let mut l = store.lock_key(k);
    l.get(DB, k).is_some()
}

fn bench_single_thread(c: &mut Criterion, store: &Store, hits: &[Key], misses: &[Key]) {
    // Sanity: the sequences really hit and miss.
    assert!(hits.iter().take(100).all(|k| get_one(store, k)));
    assert!(misses.iter().take(100).all(|k| !get_one(store, k)));

    let mut g = c.benchmark_group("store/1thread");
    g.throughput(Throughput::Elements(BATCH as u64));

    let mut cursor = 0;
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            for k in next_keys(hits, &mut cursor, BATCH) {
                black_box(get_one(store, black_box(k)));
            }
        })
    });

    // GETs whose keys are known ahead, as in a pipeline: while GET i runs, key i + far's index
    // lines are prefetched and key i + near's entry, so misses overlap. The server's
    // lookahead (server/lookahead.rs) uses 3 and 2 (and prefetches long values' buffers one
    // step later, which these 10-byte inline values do not have); 8 and 4 show how far the
    // store goes when more keys are known.
    for (far, near) in [(3usize, 2usize), (8, 4)] {
        let mut cursor = 0;
        g.bench_function(format!("get_hit_lookahead_{far}"), |b| {
            b.iter(|| {
                let keys: Vec<&Key> = next_keys(hits, &mut cursor, BATCH + far).collect();
                let hashes: Vec<u64> = keys.iter().map(|k| key_hash(&k[..])).collect();
                for &h in &hashes[..far] {
                    store.prefetch(DB, h);
                }
                for i in 0..BATCH {
                    store.prefetch(DB, hashes[i + far]);
                    store.prefetch_entry(DB, hashes[i + near]);
                    black_box(get_one(store, black_box(keys[i])));
                }
            })
        });
    }

    let mut cursor = 0;
    g.bench_function("get_miss", |b| {
        b.iter(|| {
            for k in next_keys(misses, &mut cursor, BATCH) {
                black_box(get_one(store, black_box(k)));
            }
        })
    });

    // SET overwrites existing keys (steady-state size), with a fresh 10-byte value each time as
    // the SET command does (`Value::from_set` copies it out of the request buffer).
    let mut cursor = 0;
    g.bench_function("set_overwrite", |b| {
        b.iter(|| {
            for k in next_keys(hits, &mut cursor, BATCH) {
                let mut l = store.lock_key(k);
                l.insert(DB, black_box(k), Value::from_set(black_box(b"val:abcdef")), 0);
            }
        })
    });
    g.finish();
}

/// The pieces of a GET, each measured alone over the same key sequence.
fn bench_parts(c: &mut Criterion, store: &Store, hits: &[Key]) {
    let mut g = c.benchmark_group("store/parts");
    g.throughput(Throughput::Elements(BATCH as u64));

    let mut cursor = 0;
    g.bench_function("shard_index", |b| {
        b.iter(|| {
            for k in next_keys(hits, &mut cursor, BATCH) {
                black_box(store.shard_index(black_box(k)));
            }
        })
    });

    let mut cursor = 0;
    g.bench_function("lock_keys_only", |b| {
        b.iter(|| {
            for k in next_keys(hits, &mut cursor, BATCH) {
                black_box(store.lock_key(black_box(k)).now());
            }
        })
    });

    let mut cursor = 0;
    g.bench_function("clock_now_ms", |b| {
        b.iter(|| {
            for _ in next_keys(hits, &mut cursor, BATCH) {
                black_box(store.now_ms());
            }
        })
    });
    g.finish();
}

fn bench_all_cores(c: &mut Criterion, store: &Store, hits: &[Key]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("store/all_cores");
    g.throughput(Throughput::Elements((threads * PER_THREAD) as u64));
    g.bench_function(format!("get_hit_{threads}threads"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for t in 0..threads {
                    s.spawn(move || {
                        // Each thread starts at its own point of the sequence.
                        let mut cursor = t * (SEQ / threads);
                        for _ in 0..iters {
                            for k in next_keys(hits, &mut cursor, PER_THREAD) {
                                black_box(get_one(store, black_box(k)));
                            }
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    g.finish();
}

/// GET hits over a working set that fits in the caches.
fn bench_hot(c: &mut Criterion) {
    let store = filled_store(HOT_KEYS);
    let hits = sequence(0, HOT_KEYS, 0x5eed);
    assert!(hits.iter().take(100).all(|k| get_one(&store, k)));
    let mut g = c.benchmark_group("store/hot");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut cursor = 0;
    g.bench_function(format!("get_hit_{HOT_KEYS}keys"), |b| {
        b.iter(|| {
            for k in next_keys(&hits, &mut cursor, BATCH) {
                black_box(get_one(&store, black_box(k)));
            }
        })
    });
    g.finish();
}

/// The floor: a bare map with the same keys, values as large as ours, the same sharding.
fn bench_reference(c: &mut Criterion, hits: &[Key]) {
    type Map = hashbrown::HashMap<Key, [u8; 24], ahash::RandomState>;
    const SHARDS: usize = 64;
    let hasher = ahash::RandomState::new();
    let shard_of = |k: &Key| (hasher.hash_one(k) >> 32) as usize % SHARDS;
    let shards: Vec<parking_lot::Mutex<Map>> = (0..SHARDS).map(|_| Default::default()).collect();
    for i in 0..KEYS {
        let k = key(i);
        shards[shard_of(&k)].lock().insert(k, [1; 24]);
    }
    let mut g = c.benchmark_group("store/reference");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut cursor = 0;
    g.bench_function("hashbrown_mutex_get_hit", |b| {
        b.iter(|| {
            for k in next_keys(hits, &mut cursor, BATCH) {
                let k = black_box(k);
                black_box(shards[shard_of(k)].lock().get(k).map(|v| v[0]));
            }
        })
    });
    let unlocked: Vec<Map> = shards.into_iter().map(parking_lot::Mutex::into_inner).collect();
    let mut cursor = 0;
    g.bench_function("hashbrown_unlocked_get_hit", |b| {
        b.iter(|| {
            for k in next_keys(hits, &mut cursor, BATCH) {
                let k = black_box(k);
                black_box(unlocked[shard_of(k)].get(k).map(|v| v[0]));
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let t = Instant::now();
    let store = filled_store(KEYS);
    let hits = sequence(0, KEYS, 0x5eed);
    let misses = sequence(KEYS, KEYS, 0xfeed);
    eprintln!("filled {KEYS} keys in {:?}", t.elapsed());

    bench_single_thread(c, &store, &hits, &misses);
    bench_parts(c, &store, &hits);
    bench_all_cores(c, &store, &hits);
    drop(store);
    bench_hot(c);
    bench_reference(c, &hits);
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
