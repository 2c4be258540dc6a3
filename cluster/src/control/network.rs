//! The cluster bus: a small framed request / answer protocol over TCP on the cluster port,
//! carrying openraft's RPCs and the control plane's own (hello, join, forwarded proposals).
//!
//! ```text
//! connection  = magic *(request answer)        the client sends the magic once, then requests;
//! magic       = "FCB1"                         the server answers each before reading the next
//! request     = frame(Request)                 one request at a time per connection
//! answer      = frame(Reply)
//! frame(T)    = length:u32 (big-endian) body   body: T as JSON, at most 64 MiB
//! ```
//!
//! This is not Redis's gossip bus: a Redis node's `RCmb` packets fail the magic and the
//! connection is closed, so a Redis node cannot join a Ferrocache cluster (nor the reverse).
//!
//! Clients ([`Peer`]) keep one connection per openraft replication stream and one to the leader
//! for forwarded proposals (`proposals.rs`), and reconnect after any failure; MEET and joins
//! use a connection of their own.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use openraft::error::{
    Fatal, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::{BasicNode, OptionalSend, Snapshot};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::types::{RaftId, SnapshotMeta, TypeConfig, Vote};
use super::view::Claims;
use super::ControlPlane;
use crate::{Applied, ClusterCommand, ClusterError, NodeId};

/// Sent once by the client at the start of a connection.
const MAGIC: &[u8; 4] = b"FCB1";

/// Largest frame body accepted.
const MAX_FRAME: usize = 64 << 20;

/// What one node asks another.
#[derive(Serialize, Deserialize)]
pub(crate) enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<RaftId>),
    /// A whole snapshot (states are small: no chunking).
    Snapshot {
        vote: Vote,
        meta: SnapshotMeta,
        data: Vec<u8>,
    },
    /// Who are you, in which cluster, and do you know me (`from`)?
    Hello {
        from: NodeId,
    },
    /// Are you there? (link liveness, see `links.rs`; changes nothing on the answering node)
    Ping {
        from: NodeId,
    },
    /// Commit these commands, in order, in one log entry (sent to the leader).
    Propose(Vec<ClusterCommand>),
    /// Take this node into your cluster (seeding a cluster first if you are in none).
    Join(JoinRequest),
    /// A manual CLUSTER FAILOVER of `from`, a replica of this node: stop accepting writes for
    /// `pause_ms` and answer the replication offset then (Redis's MFSTART).
    PauseForFailover {
        from: NodeId,
        pause_ms: u64,
    },
    /// Member `id`'s bus now answers at `bus_addr` (it restarted elsewhere): update the
    /// membership and its node record (sent to any member, forwarded to the leader).
    Readdress {
        id: NodeId,
        bus_addr: SocketAddr,
    },
}

/// The answer to a [`Request`] of the same name.
#[derive(Serialize, Deserialize)]
pub(crate) enum Reply {
    AppendEntries(Result<AppendEntriesResponse<RaftId>, RaftError<RaftId>>),
    Vote(Result<VoteResponse<RaftId>, RaftError<RaftId>>),
    Snapshot(Result<SnapshotResponse<RaftId>, Fatal<RaftId>>),
    Hello(Hello),
    /// The answer to a ping: the node's status (offset, failure reports, …).
    Pong(super::failure::NodeStatus),
    Propose(ProposeReply),
    Join(Result<(), ClusterError>),
    Readdress(Result<(), ClusterError>),
    /// Writes are paused: the master's replication offset.
    Paused(Result<i64, ClusterError>),
    /// The request could not be served (the node is shutting down).
    Refused(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub id: NodeId,
    /// What the node would bring into a cluster that takes it in.
    pub claims: Claims,
    /// The id of its cluster, if it is in one.
    pub cluster: Option<String>,
    /// The address the asking node's connection came from: its own IP as others see it.
    pub your_ip: String,
    /// Whether the answering node's state holds the asking node.
    pub knows_you: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ProposeReply {
    /// Committed at this log index; one result per command (its refusal or not), in order.
    Done { results: Vec<Result<Applied, ClusterError>>, index: u64 },
    /// Not the leader (any more): ask again.
    NotLeader,
    /// Could not be committed.
    Failed(ClusterError),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JoinRequest {
    pub claims: Claims,
    /// Where the joining node's bus answers (`ip:port`).
    pub bus_addr: String,
}

pub(crate) async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg)?;
    if body.len() > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await
}

pub(crate) async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(r: &mut R) -> io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(serde_json::from_slice(&body)?)
}

/// A client of one node's bus: one connection, one request at a time.
pub(crate) struct Peer {
    addr: String,
    stream: Option<TcpStream>,
    cut: Arc<AtomicBool>,
}

impl Peer {
    pub(crate) fn new(addr: String, cut: Arc<AtomicBool>) -> Peer {
        Peer { addr, stream: None, cut }
    }

    /// Sends `req` and waits at most `ttl` for the answer. Any failure drops the connection.
    pub(crate) async fn call(&mut self, req: &Request, ttl: Duration) -> io::Result<Reply> {
        if self.cut.load(Ordering::Relaxed) {
            self.stream = None;
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "the bus is cut"));
        }
        match tokio::time::timeout(ttl, self.exchange(req)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.stream = None;
                Err(io::Error::new(e.kind(), format!("{}: {e}", self.addr)))
            }
            Err(_) => {
                self.stream = None;
                Err(io::Error::new(io::ErrorKind::TimedOut, format!("{}: no answer within {ttl:?}", self.addr)))
            }
        }
    }

    /// One request and its answer. The connection is taken out for the exchange and put back
    /// only once the whole answer is read: a caller that gives up half-way (openraft drops an
    /// RPC's future at its own timeout) closes it, so that the next request never reads the
    /// previous one's late answer (a stale `Conflict` made openraft panic; a stale success
    /// could have advanced a follower's match index).
    async fn exchange(&mut self, req: &Request) -> io::Result<Reply> {
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => {
                let mut stream = TcpStream::connect(&self.addr).await?;
                stream.set_nodelay(true)?;
                stream.write_all(MAGIC).await?;
                stream
            }
        };
        write_frame(&mut stream, req).await?;
        let reply = read_frame(&mut stream).await?;
        self.stream = Some(stream);
        Ok(reply)
    }
}

/// openraft's network: a [`Peer`] per replication stream, to the member's bus address.
pub(crate) struct Network {
    pub cut: Arc<AtomicBool>,
    pub backoff: Duration,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = RaftPeer;

    async fn new_client(&mut self, target: RaftId, node: &BasicNode) -> RaftPeer {
        RaftPeer { target, peer: Peer::new(node.addr.clone(), self.cut.clone()), backoff: self.backoff }
    }
}

pub(crate) struct RaftPeer {
    target: RaftId,
    peer: Peer,
    backoff: Duration,
}

fn unexpected() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "unexpected answer")
}

type RpcError = RPCError<RaftId, BasicNode, RaftError<RaftId>>;

impl RaftPeer {
    fn rpc_error(&self, reply: io::Result<Reply>) -> RpcError {
        match reply {
            Ok(Reply::Refused(why)) => RPCError::Unreachable(Unreachable::new(&io::Error::other(why))),
            Ok(_) => RPCError::Network(NetworkError::new(&unexpected())),
            Err(e) => RPCError::Unreachable(Unreachable::new(&e)),
        }
    }
}

impl RaftNetwork<TypeConfig> for RaftPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<RaftId>, RpcError> {
        match self.peer.call(&Request::AppendEntries(rpc), option.hard_ttl()).await {
            Ok(Reply::AppendEntries(r)) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.rpc_error(other)),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<RaftId>, option: RPCOption) -> Result<VoteResponse<RaftId>, RpcError> {
        match self.peer.call(&Request::Vote(rpc), option.hard_ttl()).await {
            Ok(Reply::Vote(r)) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.rpc_error(other)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<RaftId>, StreamingError<TypeConfig, Fatal<RaftId>>> {
        let req = Request::Snapshot { vote, meta: snapshot.meta, data: snapshot.snapshot.into_inner() };
        tokio::select! {
            reply = self.peer.call(&req, option.hard_ttl()) => match reply {
                Ok(Reply::Snapshot(r)) => r.map_err(|e| StreamingError::RemoteError(RemoteError::new(self.target, e))),
                Ok(Reply::Refused(why)) => Err(StreamingError::Unreachable(Unreachable::new(&io::Error::other(why)))),
                Ok(_) => Err(StreamingError::Network(NetworkError::new(&unexpected()))),
                Err(e) => Err(StreamingError::Unreachable(Unreachable::new(&e))),
            },
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.backoff))
    }
}

/// Accepts bus connections until the task is aborted (aborting it ends every connection).
pub(crate) async fn serve(listener: TcpListener, plane: Weak<ControlPlane>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(stream, peer, plane.clone()));
                }
                // Out of descriptors or the like: wait a moment rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, plane: Weak<ControlPlane>) {
    let local = stream.local_addr().ok();
    let _ = stream.set_nodelay(true);
    let mut magic = [0u8; 4];
    if stream.read_exact(&mut magic).await.is_err() || &magic != MAGIC {
        return;
    }
    // Listed in CLUSTER LINKS once the peer pings over this connection, until it ends.
    let mut incoming = None;
    loop {
        let Ok(req) = read_frame::<_, Request>(&mut stream).await else { return };
        let Some(plane) = plane.upgrade() else { return };
        if plane.is_cut() {
            return;
        }
        if let (Request::Ping { from }, None) = (&req, &incoming) {
            incoming = Some(plane.links.incoming(*from));
        }
        let reply = plane.handle(req, peer, local).await;
        drop(plane);
        if write_frame(&mut stream, &reply).await.is_err() {
            return;
        }
    }
}
