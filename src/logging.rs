//! Logging: `tracing` to stderr or `logfile`, with a level `CONFIG SET loglevel` can change
//! while the server runs.

use std::sync::OnceLock;
use tracing_subscriber::{fmt, prelude::*, reload, EnvFilter, Registry};

type Handle = reload::Handle<EnvFilter, Registry>;

static RELOAD: OnceLock<Handle> = OnceLock::new();

/// Redis's log levels mapped onto tracing's (`RUST_LOG` overrides them at start-up).
fn filter_for(loglevel: &str) -> EnvFilter {
    let level = match loglevel {
        "debug" => "debug",
        "verbose" | "notice" => "info",
        "warning" => "warn",
        _ => "off",
    };
    EnvFilter::new(level)
}

/// Installs the global subscriber. Errors only if `logfile` cannot be opened.
pub fn init(loglevel: &str, logfile: &str) -> std::io::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| filter_for(loglevel));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    if logfile.is_empty() {
        // Colours only for a terminal: stderr redirected to a file gets plain lines.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        registry.with(fmt::layer().with_target(false).with_ansi(ansi).with_writer(std::io::stderr)).init();
    } else {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(logfile)?;
        registry.with(fmt::layer().with_target(false).with_ansi(false).with_writer(std::sync::Mutex::new(file))).init();
    }
    let _ = RELOAD.set(handle);
    Ok(())
}

/// Applies a new `loglevel` (no-op when logging was not initialised, as in tests).
pub fn set_level(loglevel: &str) {
    if let Some(handle) = RELOAD.get() {
        let _ = handle.reload(filter_for(loglevel));
    }
}
