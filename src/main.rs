//! The `ferrocache` binary: redis-server's command line, then serve until a signal or SHUTDOWN.

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
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&config);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
        runtime.worker_threads(config.threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> std::io::Result<()> {
    let addr = format!("{}:{}", config.bind.first().map(String::as_str).unwrap_or("127.0.0.1"), config.port);
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("Could not create server TCP listening socket {addr}: {e}"))
    })?;
    ferrocache::run(listener, config, shutdown_signal()).await
}

/// SIGINT or SIGTERM: stop accepting, close clients, exit 0 (as redis-server does).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::warn!("Received shutdown signal, scheduling shutdown...");
}

fn init_logging(config: &Config) {
    let level = match config.loglevel.as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "notice" => "info",
        "warning" => "warn",
        _ => "off",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if config.logfile.is_empty() {
        builder.with_writer(std::io::stderr).init();
    } else {
        match std::fs::OpenOptions::new().create(true).append(true).open(&config.logfile) {
            Ok(file) => builder.with_ansi(false).with_writer(std::sync::Mutex::new(file)).init(),
            Err(e) => {
                eprintln!("Can't open the log file: {e}");
                std::process::exit(1);
            }
        }
    }
}
