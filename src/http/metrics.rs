//! `/metrics`: the server's counters in Prometheus's text format, through the `metrics`
//! facade and `metrics-exporter-prometheus`.
//!
//! Nothing is recorded on the request path for this: connections already count commands,
//! their time and latency bucket per client and publish them to relaxed atomics once per
//! batch (`commands::PendingStats`, the same counters INFO commandstats reads), and the
//! store counts hits, misses, expiries and evictions per shard. A scrape reads those
//! counters and hands them to a recorder built for that scrape, whose rendering is the reply:
//! no series outlives the thing it describes (a replica gone, a database emptied), and
//! several servers in one process (the tests) do not share a global recorder.
//!
//! Names follow oliver006/redis_exporter, so dashboards made for Redis work unchanged
//! (`redis_commands_total{cmd}`, `redis_memory_used_bytes`, `redis_db_keys{db}`, …).
//!
//! The per-command latency histogram is redis_exporter's `redis_latency_usec` (buckets in
//! microseconds, from Redis's power-of-two LATENCY HISTOGRAM buckets). The facade's
//! histograms take one sample at a time, which would mean either recording on the request
//! path or replaying millions of samples per scrape; the buckets are already counted, so
//! they are published as the series of a classic Prometheus histogram (`_bucket{le}`
//! cumulative, `_sum`, `_count`), which `histogram_quantile` reads as it reads any other:
//! only the `# TYPE` line says counter rather than histogram.

use crate::commands::{self, LATENCY_BUCKETS};
use crate::server::Shared;
use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::sync::atomic::{AtomicU64, Ordering};

/// The exposition text for one scrape. Walks every shard (one at a time) for the key
/// counts: call it off the async workers.
pub fn render(shared: &Shared) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || publish(shared));
    handle.render()
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn publish(shared: &Shared) {
    server(shared);
    clients_and_memory(shared);
    stats(shared);
    persistence(shared);
    replication(shared);
    command_stats(shared);
    keyspace(shared);
    cluster(shared);
}

fn server(shared: &Shared) {
    // Copied out: no lock is held while /proc is read below.
    let (cluster_enabled, policy, maxclients, maxmemory) = {
        let c = shared.config.read();
        (c.cluster_enabled, c.maxmemory_policy.name(), c.maxclients, c.maxmemory)
    };
    describe_gauge!("redis_up", "Whether the server answers (always 1 when this is scraped)");
    gauge!("redis_up").set(1.0);
    describe_gauge!("redis_instance_info", "Information about the instance (labels), value 1");
    let role = if shared.repl.is_replica() { "slave" } else { "master" };
    gauge!(
        "redis_instance_info",
        "role" => role,
        "redis_version" => commands::REDIS_COMPAT_VERSION,
        "ferrocache_version" => env!("CARGO_PKG_VERSION"),
        "redis_mode" => commands::connection::mode_name(cluster_enabled),
        "os" => format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        "maxmemory_policy" => policy,
        "tcp_port" => shared.port().to_string(),
        "run_id" => shared.run_id.clone(),
        "process_id" => std::process::id().to_string(),
    )
    .set(1.0);
    let uptime = shared.started.elapsed().as_secs();
    describe_gauge!("redis_uptime_in_seconds", Unit::Seconds, "Seconds since the server started");
    gauge!("redis_uptime_in_seconds").set(uptime as f64);
    describe_gauge!("redis_start_time_seconds", Unit::Seconds, "Start time, Unix seconds");
    gauge!("redis_start_time_seconds").set((crate::store::system_now_ms() / 1000).saturating_sub(uptime) as f64);
    describe_gauge!("redis_config_maxclients", "maxclients");
    gauge!("redis_config_maxclients").set(f64::from(maxclients));
    describe_gauge!("redis_memory_max_bytes", Unit::Bytes, "maxmemory (0: no limit)");
    gauge!("redis_memory_max_bytes").set(maxmemory as f64);
    // Fractional seconds: the facade's counters are integers, so these totals are gauges
    // (PromQL's rate() reads them alike).
    // The same figures as INFO's used_cpu_user / used_cpu_sys.
    let cpu = crate::server::cpu_usage();
    describe_gauge!("redis_cpu_user_seconds_total", Unit::Seconds, "User CPU time of the process");
    gauge!("redis_cpu_user_seconds_total").set(cpu.user);
    describe_gauge!("redis_cpu_sys_seconds_total", Unit::Seconds, "System CPU time of the process");
    gauge!("redis_cpu_sys_seconds_total").set(cpu.sys);
}

fn clients_and_memory(shared: &Shared) {
    describe_gauge!("redis_connected_clients", "Client connections (replicas excluded, as INFO)");
    gauge!("redis_connected_clients").set(shared.clients.count() as f64);
    // INFO's blocked_clients: clients blocked on keys or in WAIT (a write held by a pause is
    // not counted, as in Redis).
    describe_gauge!("redis_blocked_clients", "Clients blocked in a command (as INFO blocked_clients)");
    gauge!("redis_blocked_clients").set(crate::commands::blocking::blocked(shared) as f64);
    // INFO's figures, measured the same way (the key tables are read one shard at a time).
    let memory = crate::memory::report::Overhead::gather(shared, &mut shared.store.lock_none());
    let (used, peak) = (memory.total_allocated, memory.peak_allocated);
    describe_gauge!("redis_memory_used_bytes", Unit::Bytes, "INFO used_memory");
    gauge!("redis_memory_used_bytes").set(used as f64);
    describe_gauge!("redis_memory_used_rss_bytes", Unit::Bytes, "INFO used_memory_rss");
    gauge!("redis_memory_used_rss_bytes").set(memory.process_rss as f64);
    describe_gauge!("redis_memory_used_peak_bytes", Unit::Bytes, "INFO used_memory_peak");
    gauge!("redis_memory_used_peak_bytes").set(peak as f64);
    describe_gauge!("redis_memory_used_dataset_bytes", Unit::Bytes, "INFO used_memory_dataset");
    gauge!("redis_memory_used_dataset_bytes").set(memory.dataset as f64);
}

fn stats(shared: &Shared) {
    let s = &shared.stats;
    let ks = &shared.store.stats;
    let (hits, misses) = shared.store.keyspace_hits_misses();
    let counters: [(&'static str, &'static str, u64); 10] = [
        ("redis_commands_processed_total", "INFO total_commands_processed", get(&s.total_commands_processed)),
        ("redis_connections_received_total", "INFO total_connections_received", get(&s.total_connections_received)),
        ("redis_rejected_connections_total", "INFO rejected_connections", get(&s.rejected_connections)),
        ("redis_net_input_bytes_total", "INFO total_net_input_bytes", get(&s.total_net_input_bytes)),
        ("redis_net_output_bytes_total", "INFO total_net_output_bytes", get(&s.total_net_output_bytes)),
        ("redis_keyspace_hits_total", "INFO keyspace_hits", hits),
        ("redis_keyspace_misses_total", "INFO keyspace_misses", misses),
        ("redis_expired_keys_total", "INFO expired_keys", get(&ks.expired_keys)),
        ("redis_evicted_keys_total", "INFO evicted_keys", get(&ks.evicted_keys)),
        ("redis_total_error_replies", "INFO total_error_replies", get(&s.total_error_replies)),
    ];
    for (name, help, value) in counters {
        describe_counter!(name, help);
        counter!(name).absolute(value);
    }
    describe_gauge!("redis_instantaneous_ops_per_sec", "INFO instantaneous_ops_per_sec");
    gauge!("redis_instantaneous_ops_per_sec").set(s.instantaneous_ops() as f64);
    describe_counter!("redis_errors_total", "Error replies by their first word (INFO errorstats)");
    for (prefix, count) in s.errors.lock().iter() {
        counter!("redis_errors_total", "err" => prefix.clone()).absolute(*count);
    }
    describe_gauge!("redis_slowlog_length", "Entries in the slow log");
    gauge!("redis_slowlog_length").set(shared.slowlog.len() as f64);
}

fn persistence(shared: &Shared) {
    let rdb = shared.rdb_info();
    let aof = shared.aof_info();
    let gauges: [(&'static str, &'static str, f64); 7] = [
        ("redis_loading_dump_file", "INFO loading", rdb.loading as u8 as f64),
        ("redis_rdb_changes_since_last_save", "INFO rdb_changes_since_last_save", rdb.changes_since_last_save as f64),
        ("redis_rdb_bgsave_in_progress", "INFO rdb_bgsave_in_progress", rdb.bgsave_in_progress as u8 as f64),
        ("redis_rdb_last_save_timestamp_seconds", "INFO rdb_last_save_time", rdb.last_save_time as f64),
        ("redis_rdb_last_bgsave_status", "INFO rdb_last_bgsave_status (1: ok)", rdb.last_bgsave_ok as u8 as f64),
        ("redis_aof_enabled", "INFO aof_enabled", aof.enabled as u8 as f64),
        ("redis_aof_rewrite_in_progress", "INFO aof_rewrite_in_progress", aof.rewrite_in_progress as u8 as f64),
    ];
    for (name, help, value) in gauges {
        describe_gauge!(name, help);
        gauge!(name).set(value);
    }
}

fn replication(shared: &Shared) {
    let repl = &shared.repl;
    let replicas = repl.replicas();
    describe_gauge!("redis_connected_slaves", "INFO connected_slaves");
    gauge!("redis_connected_slaves").set(replicas.len() as f64);
    describe_gauge!("redis_master_repl_offset", "INFO master_repl_offset");
    gauge!("redis_master_repl_offset").set(repl.offset() as f64);
    describe_gauge!("redis_connected_slave_offset_bytes", "Offset a replica acknowledged");
    describe_gauge!("redis_connected_slave_lag_seconds", Unit::Seconds, "Seconds since a replica's last ACK");
    for r in &replicas {
        let state = match r.state() {
            crate::replication::PeerState::WaitBgsave => "wait_bgsave",
            crate::replication::PeerState::SendBulk => "send_bulk",
            crate::replication::PeerState::Online => "online",
        };
        let labels = [("slave_ip", r.ip.clone()), ("slave_port", r.port.to_string()), ("slave_state", state.into())];
        gauge!("redis_connected_slave_offset_bytes", &labels).set(get(&r.ack_offset) as f64);
        gauge!("redis_connected_slave_lag_seconds", &labels).set(r.lag_secs() as f64);
    }
    if let Some(link) = repl.link().filter(|_| repl.is_replica()) {
        let labels = [("master_host", link.host.clone()), ("master_port", link.port.to_string())];
        describe_gauge!("redis_master_link_up", "1 while the link to the primary is up");
        gauge!("redis_master_link_up", &labels).set(link.is_up() as u8 as f64);
        describe_gauge!("redis_slave_repl_offset", "INFO slave_repl_offset");
        gauge!("redis_slave_repl_offset", &labels).set(repl.offset() as f64);
        let last_io = get(&link.last_io_ms);
        let ago =
            if last_io == 0 { -1.0 } else { (crate::store::system_now_ms().saturating_sub(last_io) / 1000) as f64 };
        describe_gauge!("redis_master_last_io_seconds_ago", Unit::Seconds, "INFO master_last_io_seconds_ago");
        gauge!("redis_master_last_io_seconds_ago", &labels).set(ago);
    }
}

fn command_stats(shared: &Shared) {
    describe_counter!("redis_commands_total", "Calls per command (INFO commandstats calls)");
    // Fractional seconds: a gauge, as the CPU totals above.
    describe_gauge!(
        "redis_commands_duration_seconds_total",
        Unit::Seconds,
        "Time spent per command (INFO commandstats usec)"
    );
    describe_counter!("redis_commands_rejected_calls_total", "Calls refused before running (INFO commandstats)");
    describe_counter!("redis_commands_failed_calls_total", "Calls that replied an error (INFO commandstats)");
    describe_counter!("redis_latency_usec_bucket", "Per-command latency histogram: calls at most `le` µs");
    describe_counter!("redis_latency_usec_sum", "Per-command latency histogram: total µs");
    describe_counter!("redis_latency_usec_count", "Per-command latency histogram: calls");
    for (spec, stats) in shared.command_stats.iter() {
        let (calls, rejected, failed) = (get(&stats.calls), get(&stats.rejected_calls), get(&stats.failed_calls));
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let cmd = spec.full_name();
        let usec = get(&stats.usec);
        counter!("redis_commands_total", "cmd" => cmd.clone()).absolute(calls);
        gauge!("redis_commands_duration_seconds_total", "cmd" => cmd.clone()).set(usec as f64 / 1e6);
        counter!("redis_commands_rejected_calls_total", "cmd" => cmd.clone()).absolute(rejected);
        counter!("redis_commands_failed_calls_total", "cmd" => cmd.clone()).absolute(failed);
        // Cumulative, as Prometheus's `le` buckets are; the count is the buckets' own total,
        // so the series agree with each other even while calls are being published.
        let mut cumulative = 0;
        for i in 0..LATENCY_BUCKETS {
            cumulative += get(&stats.latency[i]);
            let le = match commands::latency_bucket_bound_ns(i) {
                Some(ns) => format!("{}", ns as f64 / 1000.0),
                None => "+Inf".to_string(),
            };
            counter!("redis_latency_usec_bucket", "cmd" => cmd.clone(), "le" => le).absolute(cumulative);
        }
        counter!("redis_latency_usec_sum", "cmd" => cmd.clone()).absolute(usec);
        counter!("redis_latency_usec_count", "cmd" => cmd).absolute(cumulative);
    }
}

fn keyspace(shared: &Shared) {
    let store = &shared.store;
    let dbs = store.databases();
    let (mut keys, mut expiring) = (vec![0usize; dbs], vec![0usize; dbs]);
    // One shard at a time, as KEYS walks: a scrape never holds the whole keyspace.
    let mut walk = store.lock_none();
    for i in 0..store.shard_count() {
        walk.with_shard(i, |one, pos| {
            for db in 0..dbs {
                let table = one.table(pos, db);
                keys[db] += table.len();
                expiring[db] += table.expires_len();
            }
        });
    }
    describe_gauge!("redis_db_keys", "Keys per database (INFO keyspace keys)");
    describe_gauge!("redis_db_keys_expiring", "Keys with a TTL per database (INFO keyspace expires)");
    for db in 0..dbs {
        // Empty databases are left out, as INFO keyspace leaves them out; db0 is always there.
        if db > 0 && keys[db] == 0 {
            continue;
        }
        let name = format!("db{db}");
        gauge!("redis_db_keys", "db" => name.clone()).set(keys[db] as f64);
        gauge!("redis_db_keys_expiring", "db" => name).set(expiring[db] as f64);
    }
}

fn cluster(shared: &Shared) {
    describe_gauge!("redis_cluster_enabled", "INFO cluster_enabled");
    let Some(node) = shared.cluster() else {
        gauge!("redis_cluster_enabled").set(0.0);
        return;
    };
    gauge!("redis_cluster_enabled").set(1.0);
    // CLUSTER INFO's own text, so the numbers are the ones CLUSTER INFO shows.
    let text = ferrocache_cluster::replies::info_text(&node.state.read(), &node.message_stats());
    for line in text.lines() {
        let Some((field, value)) = line.split_once(':') else { continue };
        let value = match (field, value) {
            ("cluster_state", v) => (v == "ok") as u8 as f64,
            (_, v) => match v.parse::<f64>() {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        match field {
            "cluster_stats_messages_sent" => counter!("redis_cluster_messages_sent_total").absolute(value as u64),
            "cluster_stats_messages_received" => {
                counter!("redis_cluster_messages_received_total").absolute(value as u64)
            }
            f if f.starts_with("cluster_stats_") || f.starts_with("total_") => {}
            f => gauge!(format!("redis_{f}")).set(value),
        }
    }
}
