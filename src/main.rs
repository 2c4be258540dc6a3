//! The `ferrocache` binary: redis-server's command line, then serve until a signal or SHUTDOWN.

use ferrocache::server::daemon;
use ferrocache::Config;
use std::process::ExitCode;

const USAGE: &str = "Usage: ferrocache [/path/to/redis.conf] [options] [-]
       ferrocache -v or --version
       ferrocache -h or --help

Examples:
       ferrocache (run the server with default config)
       ferrocache /etc/redis/6379.conf
       ferrocache --port 7777
       ferrocache --port 7777 --maxmemory 100mb --maxmemory-policy allkeys-lru
       ferrocache /etc/myredis.conf --loglevel verbose";

/// jemalloc's start-up options (tikv-jemallocator's prefixed `malloc_conf`). Freed pages go
/// back to the OS after 1 s instead of jemalloc's default 10 s: a table that doubles frees its
/// old buffers at once, and with the default decay RSS kept ~15 B/key of them after loading
/// 1 M keys. Measured with no change in throughput on SET churn (docs/PERFORMANCE.md). The
/// purging itself runs on jemalloc's background thread (`jemalloc-bg-thread`, on by default;
/// one thread: purging is light work).
#[cfg(not(target_env = "msvc"))]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &u8 = &b"dirty_decay_ms:1000,max_background_threads:1\0"[0];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("-v" | "--version") => {
            println!(
                "Ferrocache server v={} (Redis {} compatible)",
                env!("CARGO_PKG_VERSION"),
                ferrocache::commands::REDIS_COMPAT_VERSION
            );
            return ExitCode::SUCCESS;
        }
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let mut config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // Checked before forking, so that a daemon that cannot log fails where it is seen.
    if !config.logfile.is_empty() {
        if let Err(e) = std::fs::OpenOptions::new().create(true).append(true).open(&config.logfile) {
            eprintln!("Can't open the log file: {e}");
            return ExitCode::FAILURE;
        }
    }
    // As Redis's main: a supervisor replaces the fork, and the fork comes before any thread
    // (the log writer, the runtime, jemalloc's background thread).
    // Debian's unit runs `--supervised systemd --daemonize no`: supervision is set up either way.
    let supervised = daemon::supervised(&config);
    let background = config.daemonize && !supervised;
    if background {
        if let Err(e) = daemon::daemonize() {
            eprintln!("Can't daemonize: {e}");
            return ExitCode::FAILURE;
        }
        if config.pidfile.is_empty() {
            config.pidfile = daemon::DEFAULT_PIDFILE.to_string();
        }
    }
    if let Err(e) = ferrocache::logging::init(&config) {
        eprintln!("Can't open the log file: {e}");
        return ExitCode::FAILURE;
    }
    let pidfile = (!config.pidfile.is_empty()).then(|| config.pidfile.clone());
    if let Some(path) = &pidfile {
        daemon::write_pidfile(path);
    }
    let _ = daemon::apply_oom_score_adj(&config, config.replicaof.is_some());
    // Before the runtime and listeners take descriptors, as Redis's `initServer`.
    if ferrocache::server::adjust_open_files_limit(&mut config).is_err() {
        return ExitCode::FAILURE;
    }
    ferrocache::server::check_tcp_backlog(config.tcp_backlog);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    // `threads` is ours; redis.conf's `io-threads` sizes the pool when it is not set.
    let workers = if config.threads > 0 {
        config.threads
    } else if config.io_threads > 1 {
        config.io_threads as usize
    } else {
        0
    };
    if workers > 0 {
        runtime.worker_threads(workers);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve(config));
    if let Some(path) = &pidfile {
        daemon::remove_pidfile(path);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Binds every `bind` address on `port`, as redis-server does, then serves them all.
async fn serve(config: Config) -> std::io::Result<()> {
    let shutdown = shutdown_signal();
    // Redis's `port 0`: no TCP at all, when a unix socket serves instead (otherwise ours: an
    // ephemeral port, which tests use).
    let tcp = config.port != 0 || config.unixsocket.is_empty();
    let bind = if tcp { config.bind.clone() } else { Vec::new() };
    let listeners = ferrocache::server::bind_all(&bind, config.port, config.tcp_backlog).await?;
    ferrocache::run_listeners(listeners, config, shutdown).await
}

/// SIGINT or SIGTERM: stop accepting, close clients, exit 0 (as redis-server does). The
/// handlers are installed when this is called, not when the future is first polled: the
/// server answers clients before it polls it, and a signal in between would kill the process.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        let signal = tokio::select! {
            _ = int.recv() => libc::SIGINT,
            _ = term.recv() => libc::SIGTERM,
        };
        daemon::note_shutdown_signal(signal);
        tracing::warn!("Received shutdown signal, scheduling shutdown...");
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::warn!("Received shutdown signal, scheduling shutdown...");
    }
}
