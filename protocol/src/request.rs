//! Resumable request parser (RESP multibulk + inline). API stub: implementation pending.

use bytes::{Bytes, BytesMut};

/// Longest inline request, and longest `*<count>` / `$<len>` header line, Redis accepts
/// before it has seen the line's end (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Per-connection limits, read from the config at every parse call so `CONFIG SET` applies at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest bulk argument accepted.
    pub max_bulk_len: i64,
    /// False while the connection still has to `AUTH`: then more than 10 arguments or a bulk
    /// over 16384 bytes is a protocol error, as in Redis.
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bulk_len: 512 * 1024 * 1024, authenticated: true }
    }
}

/// A framing error. The connection replies `-ERR Protocol error: <reason>` and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    reason: String,
}

impl ProtocolError {
    pub fn new(reason: impl Into<String>) -> Self {
        ProtocolError { reason: reason.into() }
    }
    /// The reason alone, e.g. `invalid bulk length`.
    pub fn reason(&self) -> &str {
        &self.reason
    }
    /// The error reply text without the leading `-`: `ERR Protocol error: <reason>`.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {}", self.reason)
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Protocol error: {}", self.reason)
    }
}

impl std::error::Error for ProtocolError {}

/// Parses requests out of a connection's read buffer, keeping its place across partial reads.
#[derive(Debug, Default)]
pub struct RequestParser {}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser::default()
    }

    /// Takes the next complete request out of `buf`.
    ///
    /// `Ok(Some(args))`: one request (never empty). `Ok(None)`: more bytes are needed; what was
    /// already parsed is kept, so the next call does not start over. Empty inline lines and
    /// `*0` / `*-1` are consumed and skipped, as Redis does.
    pub fn parse(&mut self, _buf: &mut BytesMut, _limits: &Limits) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        Ok(None)
    }
}
