//! An in-process harness for command tests: a server state with a manual clock and one
//! client, driven through the real dispatcher.

use crate::client::{Client, ClientInfo};
use crate::config::Config;
use crate::server::Shared;
use crate::store::Clock;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) struct Harness {
    pub shared: Shared,
    pub client: Client,
}

impl Harness {
    /// Default config, a manual clock at 1_700_000_000_000 ms, one authenticated client.
    pub fn new() -> Harness {
        let shared = Shared::new(Config::default(), Clock::manual(1_700_000_000_000), 0);
        let addr: SocketAddr = "127.0.0.1:50000".parse().expect("valid address");
        let client = Client::new(Arc::new(ClientInfo::new(1, addr, addr)), true);
        Harness { shared, client }
    }

    /// Executes one command as the client would send it.
    pub fn run(&mut self, args: &[&str]) -> Reply {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        crate::commands::execute(&self.shared, &mut self.client, args)
    }

    /// Moves the manual clock forward.
    pub fn advance(&self, ms: u64) {
        self.shared.store.clock.advance(ms);
    }
}
