//! MEMORY STATS / DOCTOR / MALLOC-STATS and INFO's memory, cpu, stats and errorstats
//! sections against a real redis-server 7.0: the same field names, order and reply types
//! (values are each server's own), and the values' consistency with each other.

mod common;

use common::process::ServerProcess;
use common::reference::{escape, Node, Outcome, RespConn};
use common::TempDir;
use std::collections::HashMap;

/// redis-server and the ferrocache binary side by side, fresh.
struct Pair {
    redis: ServerProcess,
    ours: ServerProcess,
    _dir: TempDir,
}

impl Pair {
    fn start(name: &str) -> Pair {
        let dir = TempDir::new(name);
        let redis = ServerProcess::redis(&dir.0, &[]);
        let ours = ServerProcess::ferrocache(&dir.0, &[]);
        Pair { redis, ours, _dir: dir }
    }

    /// A connection to each, in (redis, ours) order.
    fn connect(&self) -> (RespConn, RespConn) {
        (RespConn::connect(self.redis.addr).unwrap(), RespConn::connect(self.ours.addr).unwrap())
    }
}

fn reply(c: &mut RespConn, args: &[&[u8]]) -> Node {
    match c.call(args) {
        Outcome::Reply(n) => n,
        other => panic!("{:?}: {other:?}", args.iter().map(|a| escape(a)).collect::<Vec<_>>()),
    }
}

/// Runs `args` on both connections and returns both replies.
fn both(r: &mut RespConn, o: &mut RespConn, args: &[&[u8]]) -> (Node, Node) {
    (reply(r, args), reply(o, args))
}

/// The same keys in both: two in db 0 (one with a TTL), one in db 3.
fn populate(c: &mut RespConn) {
    for cmd in [
        &[&b"SET"[..], b"a", b"b"][..],
        &[b"SET", b"x", b"y", b"EX", b"100"],
        &[b"SELECT", b"3"],
        &[b"SET", b"c", b"d"],
        &[b"SELECT", b"0"],
    ] {
        assert_eq!(reply(c, cmd).bytes(), b"+OK\r\n");
    }
}

/// A bulk string's or simple string's text.
fn text(n: &Node) -> String {
    let bytes = n.bytes();
    let s = String::from_utf8_lossy(&bytes).into_owned();
    match n.kind() {
        b'$' | b'=' => s.split_once("\r\n").map(|(_, rest)| rest.trim_end_matches("\r\n").to_string()).unwrap(),
        _ => s[1..].trim_end_matches("\r\n").to_string(),
    }
}

/// A map reply (or its RESP2 flat array) as `name:type` entries in order, nested maps as
/// `outer/inner:type`.
fn field_kinds(n: &Node, prefix: &str, out: &mut Vec<String>) {
    assert!(matches!(n.kind(), b'%' | b'*'), "a map or an array: {}", escape(&n.bytes()));
    for pair in n.children.chunks(2) {
        let name = format!("{prefix}{}", text(&pair[0]));
        if pair[1].is_aggregate() {
            field_kinds(&pair[1], &format!("{name}/"), out);
        } else {
            out.push(format!("{name}:{}", pair[1].kind() as char));
        }
    }
}

/// A map reply's numeric values by name (nested maps as `outer/inner`).
fn values(n: &Node, prefix: &str, out: &mut HashMap<String, f64>) {
    for pair in n.children.chunks(2) {
        let name = format!("{prefix}{}", text(&pair[0]));
        if pair[1].is_aggregate() {
            values(&pair[1], &format!("{name}/"), out);
        } else {
            let v = text(&pair[1]);
            out.insert(name.clone(), v.parse().unwrap_or_else(|_| panic!("{name}: {v}")));
        }
    }
}

#[test]
fn memory_stats_has_redis_fields_order_and_types() {
    let pair = Pair::start("memory-stats");
    let (mut r, mut o) = pair.connect();
    populate(&mut r);
    populate(&mut o);
    for proto in ["2", "3"] {
        let (hr, ho) = both(&mut r, &mut o, &[b"HELLO", proto.as_bytes()]);
        assert_eq!(hr.kind(), ho.kind());
        let (sr, so) = both(&mut r, &mut o, &[b"MEMORY", b"STATS"]);
        assert_eq!(sr.children.len(), so.children.len(), "RESP{proto}: {}", escape(&so.bytes()));
        let (mut fr, mut fo) = (Vec::new(), Vec::new());
        field_kinds(&sr, "", &mut fr);
        field_kinds(&so, "", &mut fo);
        assert_eq!(fo, fr, "RESP{proto}");
        if proto == "3" {
            assert!(fo.contains(&"fragmentation:,".to_string()), "{fo:?}");
        }
    }

    // The values hold together.
    let stats = reply(&mut o, &[b"MEMORY", b"STATS"]);
    let mut v = HashMap::new();
    values(&stats, "", &mut v);
    let mut keys = 0.0;
    for db in ["0", "3"] {
        reply(&mut o, &[b"SELECT", db.as_bytes()]);
        keys += text(&reply(&mut o, &[b"DBSIZE"])).parse::<f64>().unwrap();
        assert!(v[&format!("db.{db}/overhead.hashtable.main")] > 0.0, "{v:?}");
    }
    assert_eq!(v["keys.count"], keys);
    assert!(v["db.0/overhead.hashtable.expires"] > 0.0, "db 0 has a key with a TTL: {v:?}");
    assert_eq!(v["db.3/overhead.hashtable.slot-to-keys"], 0.0, "no slot index outside cluster mode");
    let total = v["total.allocated"];
    assert!(v["peak.allocated"] >= total && total >= v["startup.allocated"], "{v:?}");
    assert!(total >= v["dataset.bytes"], "{v:?}");
    assert_eq!(v["overhead.total"] + v["dataset.bytes"], total, "{v:?}");
    assert!(v["clients.normal"] > 0.0, "this connection's buffers: {v:?}");
    assert!(v["overhead.total"] >= v["startup.allocated"] + v["clients.normal"], "{v:?}");
    assert!(v["allocator.resident"] >= v["allocator.active"] && v["allocator.active"] >= v["allocator.allocated"]);
    let frag = v["allocator-fragmentation.ratio"];
    let expected = (v["allocator.active"] / v["allocator.allocated"]) as f32 as f64;
    assert_eq!(frag, expected, "{v:?}");
    assert_eq!(v["allocator-fragmentation.bytes"], v["allocator.active"] - v["allocator.allocated"]);
    assert!(v["peak.percentage"] > 0.0 && v["peak.percentage"] <= 100.0, "{v:?}");
    assert!(v["dataset.percentage"] >= 0.0 && v["dataset.percentage"] <= 100.0, "{v:?}");
}

#[test]
fn memory_doctor_help_and_errors_as_redis() {
    let pair = Pair::start("memory-doctor");
    let (mut r, mut o) = pair.connect();
    for proto in ["2", "3"] {
        both(&mut r, &mut o, &[b"HELLO", proto.as_bytes()]);
        // A fresh instance is under the doctor's 5 MB floor: the same text, and type.
        for args in [
            &[&b"MEMORY"[..], b"DOCTOR"][..],
            &[b"MEMORY", b"HELP"],
            &[b"MEMORY", b"STATS", b"x"],
            &[b"MEMORY", b"DOCTOR", b"x"],
            &[b"MEMORY", b"MALLOC-STATS", b"x"],
            &[b"MEMORY", b"NOSUCH"],
        ] {
            let (a, b) = both(&mut r, &mut o, args);
            assert_eq!(escape(&b.bytes()), escape(&a.bytes()), "RESP{proto} {args:?}");
        }
        let (a, b) = both(&mut r, &mut o, &[b"MEMORY", b"MALLOC-STATS"]);
        assert_eq!(a.kind(), b.kind(), "RESP{proto}");
        let ours = text(&b);
        let ours = ours.strip_prefix("txt:").unwrap_or(&ours);
        assert!(ours.starts_with("___ Begin jemalloc statistics ___\n"), "{}", &ours[..80.min(ours.len())]);
        assert!(ours.ends_with("--- End jemalloc statistics ---\n"));
    }
}

/// INFO fields of Redis 7.0 that mean nothing here, by section, with why.
const NOT_HERE: &[(&str, &str)] = &[
    // No Lua or functions VM.
    ("used_memory_lua", "no Lua"),
    ("used_memory_vm_eval", "no Lua"),
    ("used_memory_lua_human", "no Lua"),
    ("used_memory_scripts_eval", "no Lua"),
    ("number_of_cached_scripts", "no Lua"),
    ("number_of_functions", "no functions"),
    ("number_of_libraries", "no functions"),
    ("used_memory_vm_functions", "no functions"),
    ("used_memory_vm_total", "no Lua or functions"),
    ("used_memory_vm_total_human", "no Lua or functions"),
    ("used_memory_functions", "no functions"),
    ("used_memory_scripts", "no Lua or functions"),
    ("used_memory_scripts_human", "no Lua or functions"),
    ("mem_cluster_links", "the cluster bus is not Redis's link-per-node bus; its buffers are not metered"),
    ("active_defrag_running", "no active defragmentation"),
    // Stats.
    ("latest_fork_usec", "snapshots do not fork"),
    ("total_forks", "snapshots do not fork"),
    ("slave_expires_tracked_keys", "writable replicas' own TTLs are not tracked apart"),
    ("active_defrag_hits", "no active defragmentation"),
    ("active_defrag_misses", "no active defragmentation"),
    ("active_defrag_key_hits", "no active defragmentation"),
    ("active_defrag_key_misses", "no active defragmentation"),
    ("total_active_defrag_time", "no active defragmentation"),
    ("current_active_defrag_time", "no active defragmentation"),
    ("tracking_total_keys", "no client-side caching"),
    ("tracking_total_items", "no client-side caching"),
    ("tracking_total_prefixes", "no client-side caching"),
    ("dump_payload_sanitizations", "RESTORE payloads are always checked whole"),
    ("io_threaded_reads_processed", "no io-threads: every connection task reads its own socket"),
    ("io_threaded_writes_processed", "no io-threads: every connection task writes its own socket"),
    ("reply_buffer_shrinks", "reply buffers are not resized by a cron"),
    ("reply_buffer_expands", "reply buffers are not resized by a cron"),
];

/// The field names of one INFO section, in order.
fn info_fields(c: &mut RespConn, section: &str) -> Vec<String> {
    let info = text(&reply(c, &[b"INFO", section.as_bytes()]));
    info.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

/// Ferrocache's own INFO fields: in ours, not in Redis's.
const OURS_ONLY: &[&str] = &["ferrocache_version"];

/// The sections whose fields do not depend on what ran (commandstats, errorstats,
/// latencystats and keyspace list what happened).
const FIXED_SECTIONS: &[&str] =
    &["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster"];

#[test]
fn info_sections_have_redis_fields_in_order() {
    let pair = Pair::start("memory-info");
    let (mut r, mut o) = pair.connect();
    for section in FIXED_SECTIONS {
        let expected: Vec<String> =
            info_fields(&mut r, section).into_iter().filter(|f| !NOT_HERE.iter().any(|(name, _)| name == f)).collect();
        let ours: Vec<String> =
            info_fields(&mut o, section).into_iter().filter(|f| !OURS_ONLY.contains(&f.as_str())).collect();
        assert_eq!(ours, expected, "INFO {section}");
    }
    // The same sections, in the same order, for each group INFO takes.
    let headers = |c: &mut RespConn, group: &[u8]| -> Vec<String> {
        text(&reply(c, &[b"INFO", group])).lines().filter(|l| l.starts_with('#')).map(str::to_string).collect()
    };
    for group in [&b"default"[..], b"all", b"everything"] {
        assert_eq!(headers(&mut o, group), headers(&mut r, group), "INFO {}", String::from_utf8_lossy(group));
    }
    // Every exclusion is a field Redis has: the list does not hide a typo.
    let all: Vec<String> = FIXED_SECTIONS.iter().flat_map(|s| info_fields(&mut r, s)).collect();
    for (name, _) in NOT_HERE {
        assert!(all.iter().any(|f| f == name), "{name} is not a Redis 7.0 INFO field");
    }
}

#[test]
fn errorstats_count_error_prefixes_as_redis() {
    let pair = Pair::start("memory-errorstats");
    let (mut r, mut o) = pair.connect();
    // The start-up probes' CLIENT SETINFO is an error on Redis 7.0 (a 7.2 command), not here.
    both(&mut r, &mut o, &[b"CONFIG", b"RESETSTAT"]);
    for args in [
        &[&b"NOSUCH"[..]][..],
        &[b"EXEC"],
        &[b"MULTI"],
        &[b"NOSUCH"],
        &[b"EXEC"],
        &[b"HELLO", b"4"],
        &[b"SET", b"n", b"x"],
        &[b"INCR", b"n"],
    ] {
        let (a, b) = both(&mut r, &mut o, args);
        assert_eq!(escape(&b.bytes()), escape(&a.bytes()), "{args:?}");
    }
    let (a, b) = both(&mut r, &mut o, &[b"INFO", b"errorstats"]);
    assert_eq!(text(&b), text(&a));
    assert!(text(&b).contains("errorstat_EXECABORT:count=1\r\n"), "{}", text(&b));
}

/// One field of an INFO section of ours.
fn info_value(c: &mut RespConn, section: &str, field: &str) -> String {
    let info = text(&reply(c, &[b"INFO", section.as_bytes()]));
    let line = info.lines().find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')));
    line.unwrap_or_else(|| panic!("no {field} in {info}")).to_string()
}

#[test]
fn flushall_async_counts_lazyfreed_keys() {
    let dir = TempDir::new("memory-lazyfree");
    let ours = ServerProcess::ferrocache(&dir.0, &[]);
    let mut c = RespConn::connect(ours.addr).unwrap();
    populate(&mut c);
    assert_eq!(info_value(&mut c, "memory", "lazyfreed_objects"), "0");
    assert_eq!(reply(&mut c, &[b"FLUSHALL", b"ASYNC"]).bytes(), b"+OK\r\n");
    // The tables are freed on a thread of their own, after the reply.
    common::keyspace::wait_until("the lazyfree thread", || info_value(&mut c, "memory", "lazyfreed_objects") == "3");
    assert_eq!(info_value(&mut c, "memory", "lazyfree_pending_objects"), "0");
    reply(&mut c, &[b"CONFIG", b"RESETSTAT"]);
    assert_eq!(info_value(&mut c, "memory", "lazyfreed_objects"), "0");
}
