//! What MEMORY STATS, MEMORY DOCTOR, MEMORY MALLOC-STATS and INFO's memory section report:
//! Redis 7.0's `getMemoryOverheadData` breakdown over this server's own figures.
//!
//! `total.allocated` is jemalloc's `stats.allocated`; the overhead is what is not keys and
//! values: start-up memory, the replication backlog, client buffers, the AOF buffer and the
//! key tables' own structure. The dataset is the rest, as Redis computes it.

use super::process_rss;
use crate::server::Shared;
use crate::store::Locked;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// jemalloc's view: bytes handed out, in active pages, and resident.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allocator {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
}

#[cfg(not(target_env = "msvc"))]
pub fn allocator() -> Allocator {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    Allocator {
        allocated: stats::allocated::read().unwrap_or(0) as u64,
        active: stats::active::read().unwrap_or(0) as u64,
        resident: stats::resident::read().unwrap_or(0) as u64,
    }
}

#[cfg(target_env = "msvc")]
pub fn allocator() -> Allocator {
    Allocator::default()
}

/// `MEMORY MALLOC-STATS`: jemalloc's `malloc_stats_print` text, with no options (as Redis).
#[cfg(not(target_env = "msvc"))]
pub fn malloc_stats() -> Bytes {
    use std::ffi::{c_char, c_void, CStr};
    /// Appends each piece jemalloc writes to the `Vec<u8>` behind `out`.
    unsafe extern "C" fn append(out: *mut c_void, text: *const c_char) {
        // SAFETY: `out` is the Vec passed below, alive for the whole call, and jemalloc
        // hands a NUL-terminated string.
        unsafe { (*(out as *mut Vec<u8>)).extend_from_slice(CStr::from_ptr(text).to_bytes()) }
    }
    let mut text: Vec<u8> = Vec::new();
    // SAFETY: the callback only appends to `text`, which outlives the call; null options.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(Some(append), &mut text as *mut Vec<u8> as *mut c_void, std::ptr::null())
    };
    if text.is_empty() {
        Bytes::from_static(NO_MALLOC_STATS)
    } else {
        Bytes::from(text)
    }
}

#[cfg(target_env = "msvc")]
pub fn malloc_stats() -> Bytes {
    Bytes::from_static(NO_MALLOC_STATS)
}

/// Redis's text for an allocator without stats.
const NO_MALLOC_STATS: &[u8] = b"Stats not supported for the current allocator";

/// One non-empty database's table structure.
#[derive(Debug, Clone, Copy)]
pub struct DbOverhead {
    pub db: usize,
    pub keys: u64,
    pub main: u64,
    pub expires: u64,
    pub slot_to_keys: u64,
}

/// Redis's `struct redisMemOverhead`.
#[derive(Debug, Clone, Default)]
pub struct Overhead {
    pub peak_allocated: u64,
    pub total_allocated: u64,
    pub startup_allocated: u64,
    pub repl_backlog: u64,
    pub clients_slaves: u64,
    pub clients_normal: u64,
    pub aof_buffer: u64,
    pub dbs: Vec<DbOverhead>,
    pub overhead_total: u64,
    pub total_keys: u64,
    pub dataset: u64,
    pub bytes_per_key: u64,
    pub dataset_perc: f32,
    pub peak_perc: f32,
    pub allocator: Allocator,
    pub process_rss: u64,
    /// The whole replication stream held (`mem_total_replication_buffers`).
    pub repl_buffers: u64,
    pub normal_clients: usize,
    pub replicas: usize,
}

/// A ratio and a difference, as Redis's fragmentation figures (`float`, then widened).
fn ratio(a: u64, b: u64) -> f32 {
    a as f32 / b.max(1) as f32
}

fn diff(a: u64, b: u64) -> i64 {
    a as i64 - b as i64
}

impl Overhead {
    /// Measures now. `ks` walks the key tables one shard at a time unless it holds them all.
    pub fn gather(shared: &Shared, ks: &mut Locked) -> Overhead {
        // Shard by shard, every database under one lock (not a lock per shard and database).
        let mut dbs: Vec<DbOverhead> = (0..shared.store.databases())
            .map(|db| DbOverhead { db, keys: 0, main: 0, expires: 0, slot_to_keys: 0 })
            .collect();
        for i in 0..shared.store.shard_count() {
            ks.with_shard(i, |one, pos| {
                for d in dbs.iter_mut() {
                    let t = one.table(pos, d.db);
                    let (main, expires, slots) = t.overhead();
                    d.keys += t.len() as u64;
                    d.main += main as u64;
                    d.expires += expires as u64;
                    d.slot_to_keys += slots as u64;
                }
            });
        }
        dbs.retain(|d| d.keys > 0);
        let total = shared.memory.refresh_with(shared.store.logical_used());
        let peak = shared.memory.peak.load(Ordering::Relaxed).max(total);
        let startup = shared.memory.startup;
        let (normal_clients, clients_normal, replicas) = shared.clients.memory();
        // Redis 7.0 shares one replication buffer between the backlog and the replicas: what
        // it holds beyond `repl-backlog-size` is counted as the replicas'.
        let (backlog_size, held) = shared.repl.backlog_info().map_or((0, 0), |(size, _, held)| (size, held));
        let (repl_backlog, clients_slaves) =
            if replicas > 0 && held > backlog_size { (backlog_size, held - backlog_size) } else { (held, 0) };
        let aof = shared.aof_info();
        let aof_buffer = if aof.enabled { aof.buffer_length } else { 0 };
        let tables: u64 = dbs.iter().map(|d| d.main + d.expires + d.slot_to_keys).sum();
        let overhead_total = startup + repl_backlog + clients_slaves + clients_normal + aof_buffer + tables;
        let total_keys = dbs.iter().map(|d| d.keys).sum();
        let dataset = total.saturating_sub(overhead_total);
        // Shares of what was allocated after start-up.
        let net_usage = if total > startup { total - startup } else { 1 };
        Overhead {
            peak_allocated: peak,
            total_allocated: total,
            startup_allocated: startup,
            repl_backlog,
            clients_slaves,
            clients_normal,
            aof_buffer,
            dbs,
            overhead_total,
            total_keys,
            dataset,
            bytes_per_key: net_usage.checked_div(total_keys).unwrap_or(0),
            dataset_perc: dataset as f32 * 100.0 / net_usage as f32,
            peak_perc: total as f32 * 100.0 / peak.max(1) as f32,
            allocator: allocator(),
            process_rss: process_rss(),
            repl_buffers: held,
            normal_clients,
            replicas,
        }
    }

    fn allocator_frag(&self) -> (f32, i64) {
        (ratio(self.allocator.active, self.allocator.allocated), diff(self.allocator.active, self.allocator.allocated))
    }

    fn allocator_rss(&self) -> (f32, i64) {
        (ratio(self.allocator.resident, self.allocator.active), diff(self.allocator.resident, self.allocator.active))
    }

    fn rss_extra(&self) -> (f32, i64) {
        (ratio(self.process_rss, self.allocator.resident), diff(self.process_rss, self.allocator.resident))
    }

    fn total_frag(&self) -> (f32, i64) {
        (ratio(self.process_rss, self.total_allocated), diff(self.process_rss, self.total_allocated))
    }

    /// `MEMORY STATS`: Redis 7.0's fields in its order; ratios are doubles (bulk strings in
    /// RESP2). Lua and functions caches and cluster bus links do not exist here: zero.
    pub fn stats_reply(&self) -> Reply {
        fn key(k: &'static str) -> Reply {
            Reply::Bulk(Bytes::from_static(k.as_bytes()))
        }
        fn int(k: &'static str, v: u64) -> (Reply, Reply) {
            (key(k), Reply::Integer(v as i64))
        }
        fn signed(k: &'static str, v: i64) -> (Reply, Reply) {
            (key(k), Reply::Integer(v))
        }
        fn double(k: &'static str, v: f32) -> (Reply, Reply) {
            (key(k), Reply::Double(v as f64))
        }
        let mut m = vec![
            int("peak.allocated", self.peak_allocated),
            int("total.allocated", self.total_allocated),
            int("startup.allocated", self.startup_allocated),
            int("replication.backlog", self.repl_backlog),
            int("clients.slaves", self.clients_slaves),
            int("clients.normal", self.clients_normal),
            int("cluster.links", 0),
            int("aof.buffer", self.aof_buffer),
            int("lua.caches", 0),
            int("functions.caches", 0),
        ];
        for d in &self.dbs {
            let tables = vec![
                int("overhead.hashtable.main", d.main),
                int("overhead.hashtable.expires", d.expires),
                int("overhead.hashtable.slot-to-keys", d.slot_to_keys),
            ];
            m.push((Reply::bulk(format!("db.{}", d.db)), Reply::Map(tables)));
        }
        let (af, afb) = self.allocator_frag();
        let (ar, arb) = self.allocator_rss();
        let (rr, rrb) = self.rss_extra();
        let (f, fb) = self.total_frag();
        m.extend([
            int("overhead.total", self.overhead_total),
            int("keys.count", self.total_keys),
            int("keys.bytes-per-key", self.bytes_per_key),
            int("dataset.bytes", self.dataset),
            double("dataset.percentage", self.dataset_perc),
            double("peak.percentage", self.peak_perc),
            int("allocator.allocated", self.allocator.allocated),
            int("allocator.active", self.allocator.active),
            int("allocator.resident", self.allocator.resident),
            double("allocator-fragmentation.ratio", af),
            signed("allocator-fragmentation.bytes", afb),
            double("allocator-rss.ratio", ar),
            signed("allocator-rss.bytes", arb),
            double("rss-overhead.ratio", rr),
            signed("rss-overhead.bytes", rrb),
            double("fragmentation", f),
            signed("fragmentation.bytes", fb),
        ]);
        Reply::Map(m)
    }

    /// `MEMORY DOCTOR`: Redis's report, with its thresholds and texts.
    pub fn doctor(&self) -> String {
        let mut issues: Vec<&str> = Vec::new();
        let empty = self.total_allocated < 5 << 20;
        let mut high_frag = false;
        if !empty {
            const TEN_MB: i64 = 10 << 20;
            if self.peak_allocated as f32 / self.total_allocated as f32 > 1.5 {
                issues.push(BIG_PEAK);
            }
            let (f, fb) = self.total_frag();
            high_frag = f > 1.4 && fb > TEN_MB;
            let (af, afb) = self.allocator_frag();
            if af > 1.1 && afb > TEN_MB {
                issues.push(HIGH_ALLOC_FRAG);
            }
            let (ar, arb) = self.allocator_rss();
            if ar > 1.1 && arb > TEN_MB {
                issues.push(HIGH_ALLOC_RSS);
            }
            let (rr, rrb) = self.rss_extra();
            if rr > 1.1 && rrb > TEN_MB {
                issues.push(HIGH_PROC_RSS);
            }
            if self.replicas > 0 && self.clients_slaves / self.replicas as u64 > 10 << 20 {
                issues.push(BIG_SLAVE_BUF);
            }
            if self.clients_normal / self.normal_clients.max(1) as u64 > 200 << 10 {
                issues.push(BIG_CLIENT_BUF);
            }
        }
        if empty {
            return EMPTY.to_string();
        }
        if issues.is_empty() && !high_frag {
            return NO_ISSUES.to_string();
        }
        let mut s = String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
        // Redis's order: peak, total RSS, allocator fragmentation, allocator RSS, process
        // RSS, replica buffers, client buffers.
        let mut issues = issues.into_iter().peekable();
        if issues.peek() == Some(&BIG_PEAK) {
            s.push_str(issues.next().unwrap_or_default());
        }
        if high_frag {
            let _ = write!(s, "{HIGH_FRAG_HEAD}\"{}\".\n\n", super::ALLOCATOR_NAME);
        }
        for text in issues {
            s.push_str(text);
        }
        s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
        s
    }

    /// INFO's memory section: Redis 7.0's fields that mean something here, in its order
    /// (no Lua or functions VM, no active defrag, no cluster bus link buffers).
    pub fn write_info(&self, shared: &Shared, out: &mut String) {
        let config = shared.config.read();
        macro_rules! w {
            ($k:expr, $v:expr) => {{
                let _ = write!(out, "{}:{}\r\n", $k, $v);
            }};
        }
        let system = total_system_memory();
        out.push_str("# Memory\r\n");
        w!("used_memory", self.total_allocated);
        w!("used_memory_human", human(self.total_allocated));
        w!("used_memory_rss", self.process_rss);
        w!("used_memory_rss_human", human(self.process_rss));
        w!("used_memory_peak", self.peak_allocated);
        w!("used_memory_peak_human", human(self.peak_allocated));
        w!("used_memory_peak_perc", format!("{:.2}%", self.peak_perc));
        w!("used_memory_overhead", self.overhead_total);
        w!("used_memory_startup", self.startup_allocated);
        w!("used_memory_dataset", self.dataset);
        w!("used_memory_dataset_perc", format!("{:.2}%", self.dataset_perc));
        w!("allocator_allocated", self.allocator.allocated);
        w!("allocator_active", self.allocator.active);
        w!("allocator_resident", self.allocator.resident);
        w!("total_system_memory", system);
        w!("total_system_memory_human", human(system));
        w!("maxmemory", config.maxmemory);
        w!("maxmemory_human", human(config.maxmemory));
        w!("maxmemory_policy", config.maxmemory_policy.name());
        let (af, afb) = self.allocator_frag();
        let (ar, arb) = self.allocator_rss();
        let (rr, rrb) = self.rss_extra();
        let (f, fb) = self.total_frag();
        w!("allocator_frag_ratio", format!("{af:.2}"));
        w!("allocator_frag_bytes", afb);
        w!("allocator_rss_ratio", format!("{ar:.2}"));
        w!("allocator_rss_bytes", arb);
        w!("rss_overhead_ratio", format!("{rr:.2}"));
        w!("rss_overhead_bytes", rrb);
        w!("mem_fragmentation_ratio", format!("{f:.2}"));
        w!("mem_fragmentation_bytes", fb);
        w!("mem_not_counted_for_evict", crate::commands::not_counted(shared));
        w!("mem_replication_backlog", self.repl_backlog);
        w!("mem_total_replication_buffers", self.repl_buffers);
        w!("mem_clients_slaves", self.clients_slaves);
        w!("mem_clients_normal", self.clients_normal);
        w!("mem_aof_buffer", self.aof_buffer);
        w!("mem_allocator", super::ALLOCATOR_NAME);
        w!("lazyfree_pending_objects", shared.store.lazyfree.pending.load(Ordering::Relaxed));
        w!("lazyfreed_objects", shared.store.lazyfree.freed.load(Ordering::Relaxed));
    }
}

/// Physical memory of the machine (`total_system_memory`), from sysconf as Redis reads it.
pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf only reads system constants.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    if pages < 0 || size < 0 {
        0
    } else {
        pages as u64 * size as u64
    }
}

/// Redis's `bytesToHuman`.
pub fn human(bytes: u64) -> String {
    const UNITS: [(&str, f64); 6] = [
        ("K", 1024.0),
        ("M", 1048576.0),
        ("G", 1073741824.0),
        ("T", 1099511627776.0),
        ("P", 1125899906842624.0),
        ("E", 1152921504606846976.0),
    ];
    let b = bytes as f64;
    if b < 1024.0 {
        return format!("{bytes}B");
    }
    for (i, (unit, size)) in UNITS.iter().enumerate() {
        if i + 1 == UNITS.len() || b < UNITS[i + 1].1 {
            return format!("{:.2}{unit}", b / size);
        }
    }
    unreachable!("the last unit takes every size")
}

/// `MEMORY DOCTOR`'s texts, as Redis 7.0 words them.
const EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n";
const NO_ISSUES: &str =
    "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n";
const BIG_PEAK: &str = " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n";
const HIGH_FRAG_HEAD: &str = " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is ";
const HIGH_ALLOC_FRAG: &str = " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n";
const HIGH_ALLOC_RSS: &str = " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n";
const HIGH_PROC_RSS: &str = " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n";
const BIG_SLAVE_BUF: &str = " * Big replica buffers: The replica output buffers in this instance are greater than 10MB for each replica (on average). This likely means that there is some replica instance that is struggling receiving data, either because it is too slow or because of networking issues. As a result, data piles on the master output buffers. Please try to identify what replica is not receiving data correctly and why. You can use the INFO output in order to check the replicas delays and the CLIENT LIST command to check the output buffers of each replica.\n\n";
const BIG_CLIENT_BUF: &str = " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(total: u64, peak: u64) -> Overhead {
        let a = Allocator { allocated: total, active: total, resident: total };
        Overhead {
            total_allocated: total,
            peak_allocated: peak,
            allocator: a,
            process_rss: total,
            normal_clients: 1,
            ..Overhead::default()
        }
    }

    #[test]
    fn doctor_texts_follow_redis_thresholds() {
        assert_eq!(sized(1 << 20, 1 << 20).doctor(), EMPTY);
        assert_eq!(sized(64 << 20, 64 << 20).doctor(), NO_ISSUES);
        let peaked = sized(64 << 20, 100 << 20).doctor();
        assert_eq!(
            peaked,
            format!("Sam, I detected a few issues in this Redis instance memory implants:\n\n{BIG_PEAK}I'm here to keep you safe, Sam. I want to help you.\n")
        );
        let mut fragmented = sized(64 << 20, 64 << 20);
        fragmented.process_rss = 128 << 20;
        fragmented.allocator.resident = 128 << 20;
        fragmented.clients_normal = 300 << 10;
        let report = fragmented.doctor();
        let frag = format!("{HIGH_FRAG_HEAD}\"{}\".\n\n", crate::memory::ALLOCATOR_NAME);
        assert_eq!(
            report,
            format!("Sam, I detected a few issues in this Redis instance memory implants:\n\n{frag}{HIGH_ALLOC_RSS}{BIG_CLIENT_BUF}I'm here to keep you safe, Sam. I want to help you.\n")
        );
    }

    #[test]
    fn human_sizes_as_redis() {
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(963840), "941.25K");
        assert_eq!(human(12324864), "11.75M");
        assert_eq!(human(25276203008), "23.54G");
        assert_eq!(human(3 << 40), "3.00T");
    }
}
