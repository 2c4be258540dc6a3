//! # `/metrics` on a live server
//!
//! A server with `http-port` set is scraped while clients load it (SET, GET hits and misses,
//! pipelined GETs): every scrape parses, counters never go back, each command's latency
//! histogram is cumulative and ends at its call count. Once the load stops, the metrics
//! agree with INFO: per-command calls and time (commandstats), commands processed, keyspace
//! hits and misses, expired and evicted keys, keys per database, clients, role.

mod common;

use common::http::{get, info_fields, parse_metrics, server_with_http, value, Sample};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn scrape(http: SocketAddr) -> Vec<Sample> {
    let r = get(http, "/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    parse_metrics(&r.text())
}

/// Per command: the `le` buckets in order, non-decreasing, the last `+Inf` equal to `_count`.
fn check_histograms(samples: &[Sample]) {
    let mut by_cmd: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == "redis_latency_usec_bucket") {
        let le = match s.labels["le"].as_str() {
            "+Inf" => f64::INFINITY,
            le => le.parse().unwrap(),
        };
        by_cmd.entry(s.labels["cmd"].clone()).or_default().push((le, s.value));
    }
    assert!(!by_cmd.is_empty(), "no latency histogram");
    for (cmd, mut buckets) in by_cmd {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(buckets.len(), 22, "{cmd}: {buckets:?}");
        assert_eq!(buckets[0].0, 1.024);
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{cmd}: not cumulative: {buckets:?}");
        let count = value(samples, "redis_latency_usec_count", &[("cmd", &cmd)]).unwrap();
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, count), "{cmd}");
    }
}

fn load(url: String, worker: usize, rounds: usize) {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    for i in 0..rounds {
        let key = format!("load:{worker}:{i}");
        let _: () = redis::cmd("SET").arg(&key).arg(i).query(&mut con).unwrap();
        let _: Option<String> = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
        let _: Option<String> = redis::cmd("GET").arg(format!("missing:{worker}:{i}")).query(&mut con).unwrap();
        if i % 50 == 0 {
            let mut pipe = redis::pipe();
            for j in 0..16 {
                pipe.cmd("GET").arg(format!("load:{worker}:{j}"));
            }
            let _: Vec<Option<String>> = pipe.query(&mut con).unwrap();
        }
    }
}

#[test]
fn scraped_under_load_then_equal_to_info() {
    let (server, http) = server_with_http(|_| {});
    let mut con = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    // A key that expires (expired_keys) and one in another database (db_keys{db="db3"}).
    let _: () = redis::cmd("SET").arg("short").arg("x").arg("PX").arg(1).query(&mut con).unwrap();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("in3").arg("x").query(&mut con).unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();

    let workers: Vec<_> = (0..4)
        .map(|w| {
            let url = server.url();
            std::thread::spawn(move || load(url, w, 1500))
        })
        .collect();
    let mut scrapes = 0;
    let mut last_processed = 0.0;
    while workers.iter().any(|w| !w.is_finished()) && scrapes < 200 {
        let samples = scrape(http);
        let processed = value(&samples, "redis_commands_processed_total", &[]).unwrap();
        assert!(processed >= last_processed, "commands processed went back: {last_processed} → {processed}");
        last_processed = processed;
        check_histograms(&samples);
        scrapes += 1;
    }
    for w in workers {
        w.join().unwrap();
    }
    assert!(scrapes > 0, "the load ended before any scrape");

    // The key with PX 1 expires on access (bounded wait: it has a 1 ms TTL).
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("EXISTS").arg("short").query::<i64>(&mut con).unwrap() == 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    // The load's connections are gone from the registry (they close asynchronously).
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_fields(&mut con, "clients")["connected_clients"] != "1" {
        assert!(Instant::now() < deadline, "load connections still registered");
        std::thread::sleep(Duration::from_millis(10));
    }

    let info = info_fields(&mut con, "everything");
    let samples = scrape(http);
    let field = |name: &str| -> f64 { info[name].parse().unwrap() };
    let metric = |name: &str, labels: &[(&str, &str)]| -> f64 {
        value(&samples, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?}"))
    };
    // INFO itself ran after its numbers were taken and before the scrape.
    assert_eq!(metric("redis_commands_processed_total", &[]), field("total_commands_processed") + 1.0);
    for cmd in ["set", "get", "exists", "select"] {
        let stat = &info[&format!("cmdstat_{cmd}")];
        let calls: f64 = stat.split(',').next().unwrap().strip_prefix("calls=").unwrap().parse().unwrap();
        let usec: f64 = stat.split(',').nth(1).unwrap().strip_prefix("usec=").unwrap().parse().unwrap();
        assert_eq!(metric("redis_commands_total", &[("cmd", cmd)]), calls, "{cmd}");
        assert_eq!(metric("redis_latency_usec_count", &[("cmd", cmd)]), calls, "{cmd}");
        assert_eq!(metric("redis_latency_usec_sum", &[("cmd", cmd)]), usec, "{cmd}");
        assert!((metric("redis_commands_duration_seconds_total", &[("cmd", cmd)]) - usec / 1e6).abs() < 1e-9);
    }
    assert!(metric("redis_commands_total", &[("cmd", "get")]) >= 4.0 * (2.0 * 1500.0 + 16.0 * 30.0));
    check_histograms(&samples);
    for (m, f) in [
        ("redis_keyspace_hits_total", "keyspace_hits"),
        ("redis_keyspace_misses_total", "keyspace_misses"),
        ("redis_expired_keys_total", "expired_keys"),
        ("redis_evicted_keys_total", "evicted_keys"),
        ("redis_connections_received_total", "total_connections_received"),
        ("redis_connected_clients", "connected_clients"),
        ("redis_connected_slaves", "connected_slaves"),
        ("redis_master_repl_offset", "master_repl_offset"),
        ("redis_cluster_enabled", "cluster_enabled"),
    ] {
        assert_eq!(metric(m, &[]), field(f), "{m} vs INFO {f}");
    }
    assert_eq!(metric("redis_expired_keys_total", &[]), 1.0);
    for db in ["db0", "db3"] {
        let keys: f64 = info[db].split(',').next().unwrap().strip_prefix("keys=").unwrap().parse().unwrap();
        assert_eq!(metric("redis_db_keys", &[("db", db)]), keys, "{db}");
    }
    assert_eq!(metric("redis_db_keys", &[("db", "db0")]), 4.0 * 1500.0);
    assert_eq!(value(&samples, "redis_db_keys", &[("db", "db1")]), None, "empty databases are left out, as INFO");
    let port = server.addr.port().to_string();
    assert_eq!(
        metric("redis_instance_info", &[("role", "master"), ("tcp_port", &port), ("redis_mode", "standalone")]),
        1.0
    );
    assert!(metric("redis_memory_used_bytes", &[]) > 0.0);
    assert!(metric("redis_memory_used_rss_bytes", &[]) > 0.0);
    assert!(metric("redis_memory_used_peak_bytes", &[]) >= metric("redis_memory_used_bytes", &[]));
    assert_eq!(metric("redis_blocked_clients", &[]), field("blocked_clients"));
}

/// Error replies by their first word, and the calls refused before running, as INFO
/// errorstats and commandstats count them.
#[test]
fn errors_are_counted_as_info_counts_them() {
    let (server, http) = server_with_http(|_| {});
    let mut con = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("s").arg("x").query(&mut con).unwrap();
    assert!(redis::cmd("INCR").arg("s").query::<i64>(&mut con).is_err());
    assert!(redis::cmd("LPUSH_NO_SUCH").query::<i64>(&mut con).is_err());
    assert!(redis::cmd("GET").query::<i64>(&mut con).is_err());
    let info = info_fields(&mut con, "everything");
    let samples = scrape(http);
    let count = |f: &str| -> f64 { info[f].strip_prefix("count=").unwrap().parse().unwrap() };
    assert_eq!(value(&samples, "redis_errors_total", &[("err", "ERR")]), Some(count("errorstat_ERR")));
    assert_eq!(count("errorstat_ERR"), 3.0);
    assert_eq!(value(&samples, "redis_commands_failed_calls_total", &[("cmd", "incr")]), Some(1.0));
    assert_eq!(value(&samples, "redis_commands_rejected_calls_total", &[("cmd", "get")]), Some(1.0));
    assert_eq!(value(&samples, "redis_total_error_replies", &[]), Some(info["total_error_replies"].parse().unwrap()));
}
