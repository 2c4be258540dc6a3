//! `FAILOVER`: a primary hands its role to one of its replicas without losing a write
//! (Redis 6.2+'s coordinated failover).
//!
//! 1. *waiting-for-sync*: writes are paused (clients' write commands wait), and the target
//!    (the one named with TO, else the replica that has acknowledged the most) is asked to
//!    acknowledge until it has everything; past TIMEOUT, FORCE goes on anyway and otherwise
//!    the failover is aborted.
//! 2. *failover-in-progress*: this server becomes a replica of the target and sends it
//!    `PSYNC <replid> <offset> FAILOVER`, on which the target promotes itself (if it is
//!    still replicating us) and answers `+CONTINUE` with its new id.
//! 3. Writes resume: the ones that waited now meet a replica (`-READONLY`). An error or a
//!    timeout in step 2 makes this server a primary again.

use super::{FailoverState, PeerState};
use crate::server::Shared;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What FAILOVER asked for.
#[derive(Debug, Clone)]
pub struct FailoverRequest {
    pub to: Option<(String, u16)>,
    pub force: bool,
    pub timeout: Option<Duration>,
}

/// How long step 2 may take without a TIMEOUT before the failover is given up.
const HANDOVER_LIMIT: Duration = Duration::from_secs(60);

impl Shared {
    /// Starts a failover (its checks done by the command); `abort` cancels it.
    pub fn start_failover(&self, request: FailoverRequest, abort: CancellationToken) {
        self.repl.set_failover_state(FailoverState::WaitingForSync);
        self.repl.pause_writes(true);
        let shared = self.arc();
        tokio::spawn(async move {
            let outcome = tokio::select! {
                r = failover(&shared, &request) => r,
                _ = abort.cancelled() => Err("Failover manually aborted".to_string()),
            };
            if let Err(why) = outcome {
                tracing::warn!("FAILOVER aborted: {why}");
                if shared.repl.failover_state() == FailoverState::InProgress {
                    // Back to being a primary, our history intact.
                    shared.stop_replicating();
                }
            }
            shared.repl.set_failover_state(FailoverState::None);
            shared.repl.clear_failover();
            shared.repl.pause_writes(false);
        });
    }
}

async fn failover(shared: &Arc<Shared>, request: &FailoverRequest) -> Result<(), String> {
    let started = Instant::now();
    let deadline = request.timeout.map(|t| started + t);
    // Writes are paused: everything to hand over is before this offset.
    let offset = shared.repl.offset();
    let target = loop {
        let acked = shared.repl.acked.notified();
        tokio::pin!(acked);
        acked.as_mut().enable();
        let replicas = shared.repl.replicas();
        let caught_up = replicas.iter().filter(|r| r.state() == PeerState::Online).find(|r| {
            r.ack_offset.load(Ordering::Relaxed) >= offset
                && request.to.as_ref().is_none_or(|(host, port)| r.ip.eq_ignore_ascii_case(host) && r.port == *port)
        });
        if let Some(r) = caught_up {
            break (r.ip.clone(), r.port);
        }
        shared.repl.request_acks();
        let wait = tokio::time::sleep(Duration::from_millis(100));
        match deadline {
            Some(d) if Instant::now() >= d => {
                if let (true, Some(to)) = (request.force, &request.to) {
                    tracing::info!("FAILOVER timeout reached: forcing the failover to {}:{}", to.0, to.1);
                    break to.clone();
                }
                return Err("FAILOVER timeout exceeded: the replica did not catch up".into());
            }
            _ => {}
        }
        tokio::select! {
            _ = acked => {}
            _ = wait => {}
        }
    };
    tracing::info!("FAILOVER: target {}:{} has our data, handing over", target.0, target.1);
    shared.repl.set_failover_state(FailoverState::InProgress);
    let link = shared.become_replica(target.0.clone(), target.1);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    *link.failover.lock() = Some(done_tx);
    shared.start_link(link);
    let limit = deadline.map_or(HANDOVER_LIMIT, |d| d.saturating_duration_since(Instant::now()).max(HANDOVER_LIMIT));
    match tokio::time::timeout(limit, done_rx).await {
        Ok(Ok(Ok(()))) => {
            tracing::info!("FAILOVER to {}:{} succeeded", target.0, target.1);
            Ok(())
        }
        Ok(Ok(Err(why))) => Err(why),
        Ok(Err(_)) => Err("the link to the target ended".into()),
        Err(_) => Err("the target did not take over in time".into()),
    }
}
