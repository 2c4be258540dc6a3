//! # deploy/grafana/ferrocache.json and deploy/prometheus.yml against live /metrics
//!
//! Every series the dashboard queries, and every label its legends and `by (…)` clauses
//! name, must be in what Ferrocache serves. The dashboard charts a deployment: a primary
//! under load (with an error among its replies), its replica (the link metrics), and a
//! cluster node (the cluster metrics); each metric must appear in one of their scrapes.

mod common;

use common::cluster::cluster_server_with;
use common::http::{get, parse_metrics, server_with_http, wait_http, Sample};
use common::keyspace::wait_until;
use common::process::free_port;
use common::TempDir;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `expr` and `legendFormat` of the dashboard's panels (rows' nested panels too).
fn targets(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<&serde_json::Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(panel) = stack.pop() {
        stack.extend(panel["panels"].as_array().into_iter().flatten());
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("a PromQL expr").to_string();
            out.push((expr, t["legendFormat"].as_str().unwrap_or("").to_string()));
        }
    }
    out
}

/// Identifiers in `text` that start with `prefix`.
fn words_with_prefix(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find(prefix) {
        let start = i + at;
        let before_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b':') {
            end += 1;
        }
        if before_ok {
            out.insert(text[start..end].to_string());
        }
        i = end.max(start + 1);
    }
    out
}

/// The labels an expression groups by or a legend shows (`by (a, b)`, `{{a}}`), but for
/// `instance`, which Prometheus adds to every series it scrapes.
fn labels_used(expr: &str, legend: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("by (") {
        let inner = &rest[at + 4..];
        let close = inner.find(')').expect("by (…) closes");
        out.extend(inner[..close].split(',').map(|l| l.trim().to_string()));
        rest = &inner[close..];
    }
    let mut rest = legend;
    while let Some(at) = rest.find("{{") {
        let inner = &rest[at + 2..];
        let close = inner.find("}}").expect("{{…}} closes");
        out.insert(inner[..close].trim().to_string());
        rest = &inner[close..];
    }
    out.remove("instance");
    out.retain(|l| !l.is_empty());
    out
}

fn scrape(http: SocketAddr) -> Vec<Sample> {
    let r = get(http, "/metrics");
    assert_eq!(r.status, 200);
    parse_metrics(&r.text())
}

#[test]
fn every_queried_metric_is_served() {
    // A primary with a replica, under load while it is scraped.
    let (primary, primary_http) = server_with_http(|_| {});
    let (replica, replica_http) = server_with_http(|c| c.replicaof = Some(("127.0.0.1".into(), primary.addr.port())));
    let mut to_replica = redis::Client::open(replica.url()).unwrap().get_connection().unwrap();
    wait_until("replica link up", || {
        redis::cmd("INFO")
            .arg("replication")
            .query::<String>(&mut to_replica)
            .unwrap()
            .contains("master_link_status:up")
    });
    let load = {
        let url = primary.url();
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            for i in 0..3000 {
                let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).arg("EX").arg(100).query(&mut con).unwrap();
                let _: Option<String> = redis::cmd("GET").arg(format!("k{}", i / 2)).query(&mut con).unwrap();
            }
            // An error reply, so errors_total has a series.
            assert!(redis::cmd("INCR").arg("k1").arg("extra").query::<i64>(&mut con).is_err());
        })
    };
    let mut samples = scrape(primary_http);
    load.join().unwrap();
    samples.extend(scrape(primary_http));
    samples.extend(scrape(replica_http));
    // A cluster node serving every slot.
    let dir = TempDir::new("dashboard-cluster");
    let cluster_http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let node = cluster_server_with(&dir, |c| c.http_port = cluster_http.port());
    wait_http(cluster_http);
    let mut c = node.connect();
    c.roundtrip(&[b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"], b"+OK\r\n");
    wait_until("cluster ok", || c.call_text(&[b"CLUSTER", b"INFO"]).contains("cluster_state:ok"));
    samples.extend(scrape(cluster_http));

    let mut served: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &samples {
        served.entry(s.name.clone()).or_default().extend(s.labels.keys().cloned());
    }
    let dashboard: serde_json::Value = serde_json::from_str(&repo_file("deploy/grafana/ferrocache.json")).unwrap();
    let targets = targets(&dashboard);
    assert!(targets.len() > 20, "the dashboard has {} queries", targets.len());
    let mut queried = BTreeSet::new();
    for (expr, legend) in &targets {
        let metrics = words_with_prefix(expr, "redis_");
        assert!(!metrics.is_empty(), "{expr} queries no Ferrocache metric");
        for m in &metrics {
            assert!(served.contains_key(m), "{m} (in {expr}) is not served; served: {:?}", served.keys());
        }
        let labels: BTreeSet<String> = metrics.iter().flat_map(|m| served[m].iter().cloned()).collect();
        for l in labels_used(expr, legend) {
            assert!(labels.contains(&l), "label {l} (in {expr} / {legend}) is on none of {metrics:?}");
        }
        queried.extend(metrics);
    }
    // The headline series are charted.
    for m in ["redis_commands_total", "redis_latency_usec_bucket", "redis_memory_used_bytes", "redis_db_keys"] {
        assert!(queried.contains(m), "the dashboard does not chart {m}");
    }
    // The instance variable reads a series every node serves.
    let variable =
        dashboard["templating"]["list"].as_array().unwrap().iter().find(|v| v["name"] == "instance").unwrap();
    for m in words_with_prefix(variable["definition"].as_str().unwrap(), "redis_") {
        assert!(served.contains_key(&m), "{m}");
    }

    // prometheus.yml scrapes the path the metrics are served on.
    let prometheus = repo_file("deploy/prometheus.yml");
    let path = prometheus
        .lines()
        .find_map(|l| l.trim().strip_prefix("metrics_path:"))
        .expect("metrics_path in deploy/prometheus.yml")
        .trim();
    assert!(prometheus.contains("job_name: ferrocache"), "{prometheus}");
    let r = get(primary_http, path);
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/plain; version=0.0.4; charset=utf-8")));
    drop(replica);
}
