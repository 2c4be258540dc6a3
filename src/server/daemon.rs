//! Running as a service, as redis-server does: `daemonize` (fork, new session, stdio to
//! /dev/null), `pidfile`, `supervised` (upstart's SIGSTOP, systemd's notify socket) and
//! `oom-score-adj`.
//!
//! [`daemonize`] must run before any thread exists (the tokio runtime, the log writer,
//! jemalloc's background thread): `fork` copies only the calling thread.

use crate::Config;
use std::io;

/// Redis's `CONFIG_DEFAULT_PID_FILE`: where a daemon writes its pid when `pidfile` is unset.
pub const DEFAULT_PIDFILE: &str = "/var/run/redis.pid";

/// The supervisor [`supervised`] found (`upstart` or `systemd`), for INFO's
/// `process_supervised`; unset while none is.
static SUPERVISOR: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// INFO's `process_supervised`: `no`, or the supervisor that runs us, as Redis prints it.
pub fn supervisor_name() -> &'static str {
    SUPERVISOR.get().copied().unwrap_or("no")
}

/// Redis's `redisIsSupervised`: whether a supervisor (upstart or systemd) runs us, in which
/// case `daemonize yes` does not fork. Upstart is told we are up by stopping ourselves.
pub fn supervised(config: &Config) -> bool {
    let found = supervisor(config);
    if let Some(name) = found {
        let _ = SUPERVISOR.set(name);
    }
    found.is_some()
}

fn supervisor(config: &Config) -> Option<&'static str> {
    let mode = match config.supervised.as_str() {
        "auto" if std::env::var_os("UPSTART_JOB").is_some() => "upstart",
        "auto" if std::env::var_os("NOTIFY_SOCKET").is_some() => "systemd",
        mode => mode,
    };
    match mode {
        "upstart" => {
            if std::env::var_os("UPSTART_JOB").is_none() {
                tracing::warn!("upstart supervision requested, but UPSTART_JOB not found!");
                return None;
            }
            tracing::info!("supervised by upstart, will stop to signal readiness.");
            #[cfg(unix)]
            // SAFETY: raising a signal on ourselves; upstart resumes us with SIGCONT.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
            std::env::remove_var("UPSTART_JOB");
            Some("upstart")
        }
        "systemd" => {
            if !notify_systemd("STATUS=Ferrocache is loading...\n") {
                return None;
            }
            tracing::info!(
                "Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit."
            );
            Some("systemd")
        }
        _ => None,
    }
}

/// `sd_notify`: one datagram to `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
/// namespace). False when there is no socket to tell.
pub fn notify_systemd(message: &str) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            tracing::warn!("systemd supervision error: NOTIFY_SOCKET not found!");
            return false;
        };
        let path = path.to_string_lossy().into_owned();
        let addr = match path.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None => SocketAddr::from_pathname(&path),
        };
        let sent = addr.and_then(|addr| UnixDatagram::unbound()?.send_to_addr(message.as_bytes(), &addr));
        if let Err(e) = sent {
            tracing::warn!("systemd supervision error: sd_notify: {e}");
            return false;
        }
        true
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = message;
        false
    }
}

/// Tells a systemd supervisor we serve (`READY=1`), once the dataset is loaded.
pub fn notify_ready(config: &Config) {
    let systemd = match config.supervised.as_str() {
        "systemd" => true,
        "auto" => std::env::var_os("NOTIFY_SOCKET").is_some() && std::env::var_os("UPSTART_JOB").is_none(),
        _ => false,
    };
    if systemd {
        let status = if config.replicaof.is_some() {
            "STATUS=Ready to accept connections in read-write mode. Waiting for MASTER <-> REPLICA sync\n"
        } else {
            "STATUS=Ready to accept connections\n"
        };
        notify_systemd(status);
        notify_systemd("READY=1\n");
    }
}

/// Redis's `daemonize`: the parent exits 0, the child leads a new session with stdin, stdout
/// and stderr on /dev/null. Call only while the process has one thread.
#[cfg(unix)]
pub fn daemonize() -> io::Result<()> {
    // SAFETY: called from `main` before any other thread starts, so the child is whole.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: plain syscalls on our own process and descriptors.
    unsafe {
        libc::setsid();
    }
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&null);
    for target in 0..3 {
        // SAFETY: `fd` is open; dup2 onto the standard descriptors.
        unsafe {
            libc::dup2(fd, target);
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn daemonize() -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "daemonize needs a unix system"))
}

/// Redis's `createPidFile`: best effort, as Redis (a pid file that cannot be written is
/// logged, not fatal).
pub fn write_pidfile(path: &str) {
    if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
        tracing::warn!("Failed to write PID file {path}: {e}");
    }
}

/// On a clean shutdown, as Redis's `prepareForShutdown`.
pub fn remove_pidfile(path: &str) {
    tracing::info!("Removing the pid file.");
    let _ = std::fs::remove_file(path);
}

/// The `oom_score_adj` found at start-up, which `yes` (relative) values add to and `no`
/// restores.
static OOM_SCORE_BASE: std::sync::OnceLock<i32> = std::sync::OnceLock::new();

const OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";

/// Redis's `setOOMScoreAdj` for this process (`replica`: the replica class, else the
/// primary's): writes `oom-score-adj-values`' value, made relative to the start-up score for
/// `yes`, clamped to the kernel's range; `no` puts back the start-up score if we changed it.
pub fn apply_oom_score_adj(config: &Config, replica: bool) -> Result<(), String> {
    // Never changed, nothing to put back (Redis's `oom_score_adjusted_by_redis`).
    if config.oom_score_adj == "no" && OOM_SCORE_BASE.get().is_none() {
        return Ok(());
    }
    if !std::path::Path::new(OOM_SCORE_ADJ).exists() {
        return Ok(());
    }
    let base = *OOM_SCORE_BASE
        .get_or_init(|| std::fs::read_to_string(OOM_SCORE_ADJ).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0));
    let value = match config.oom_score_adj.as_str() {
        "no" => base,
        mode => {
            let v = config.oom_score_adj_values[usize::from(replica)];
            if mode == "absolute" {
                v
            } else {
                v + base
            }
        }
    };
    let value = value.clamp(-1000, 1000);
    std::fs::write(OOM_SCORE_ADJ, value.to_string()).map_err(|e| {
        tracing::warn!("Unable to write oom_score_adj: {e}");
        "Failed to set current oom_score_adj. Check server logs.".to_string()
    })
}

/// Which signal asked for the shutdown (0: none, or the caller's own future), for
/// `shutdown-on-sigint` / `shutdown-on-sigterm`.
static SHUTDOWN_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Records the signal that is about to stop the server (called by the binary's handler).
pub fn note_shutdown_signal(signal: i32) {
    SHUTDOWN_SIGNAL.store(signal, std::sync::atomic::Ordering::Relaxed);
}

/// SHUTDOWN's options for a signal-driven shutdown: `(save, nosave, force)` from
/// `shutdown-on-sigint` / `-sigterm` (`default`: none; `now` changes nothing here, as
/// shutdown never waits for replicas).
pub fn signal_shutdown_flags(config: &Config) -> (bool, bool, bool) {
    #[cfg(unix)]
    let words = match SHUTDOWN_SIGNAL.load(std::sync::atomic::Ordering::Relaxed) {
        libc::SIGINT => config.shutdown_on_sigint.as_str(),
        libc::SIGTERM => config.shutdown_on_sigterm.as_str(),
        _ => "default",
    };
    #[cfg(not(unix))]
    let words = "default";
    let has = |w: &str| words.split(' ').any(|x| x == w);
    (has("save"), has("nosave"), has("force"))
}
