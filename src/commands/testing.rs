//! An in-process harness for command unit tests: one server state on a manual clock and one
//! client, with requests run through the real dispatcher (arity, key locking, handlers).

use crate::client::{Client, ClientInfo};
use crate::config::Config;
use crate::server::Shared;
use crate::store::Clock;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::sync::Arc;

/// The manual clock's starting point: 2023-11-14T22:13:20Z, in Unix milliseconds.
pub(crate) const START_MS: u64 = 1_700_000_000_000;

pub(crate) struct Harness {
    pub shared: Arc<Shared>,
    pub client: Client,
}

impl Harness {
    pub fn new() -> Harness {
        // No save points: FLUSHALL would otherwise write dump.rdb into the working directory.
        let config = Config { save: String::new(), ..Config::default() };
        let shared = Shared::new(config, Clock::manual(START_MS), 0);
        let addr = "127.0.0.1:40000".parse().expect("valid address");
        let laddr = "127.0.0.1:6379".parse().expect("valid address");
        let client = Client::new(Arc::new(ClientInfo::new(1, addr, laddr)), true);
        Harness { shared, client }
    }

    /// Runs one request and returns its reply.
    pub fn run(&mut self, args: &[&str]) -> Reply {
        self.run_bytes(args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>().as_slice())
    }

    /// Runs one request whose arguments are raw bytes.
    pub fn run_bytes(&mut self, args: &[&[u8]]) -> Reply {
        let mut args = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        // One request is one batch, as the connection loop would publish it.
        let reply = crate::commands::execute(&self.shared, &mut self.client, &mut args);
        self.client.publish_stats(&self.shared);
        reply
    }

    /// Records what the store propagates, for effect tests.
    pub fn capture_effects(&self) -> Arc<EffectLog> {
        let log = Arc::new(EffectLog::default());
        self.shared.store.effects.set_sink(log.clone());
        self.shared.store.effects.set_enabled(true);
        log
    }

    /// Moves the manual clock forward by `ms` milliseconds.
    pub fn advance(&self, ms: u64) {
        self.shared.store.clock.advance(ms);
    }
}

/// Effects as the sink received them: `db> args…`, one string per effect.
#[derive(Default)]
pub(crate) struct EffectLog(parking_lot::Mutex<Vec<String>>);

impl EffectLog {
    /// Everything recorded since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock())
    }
}

impl crate::store::EffectSink for EffectLog {
    fn emit(&self, db: usize, args: &[&[u8]]) {
        let words: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        self.0.lock().push(format!("{db}> {}", words.join(" ")));
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

/// `Reply::Bulk` from a string, for terse assertions.
pub(crate) fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// `Reply::Error` from a string, for terse assertions.
pub(crate) fn err(s: &str) -> Reply {
    Reply::Error(s.to_string().into())
}
