//! Ferrocache's wire protocol: a resumable request parser and a reply encoder.
//!
//! This crate is pure: no sockets, no tokio, no knowledge of the store. The server
//! reads bytes into a [`bytes::BytesMut`], asks [`RequestParser::parse`] for every
//! complete request it holds, executes them, and encodes every [`Reply`] of the batch
//! into one output buffer with [`encode`].
//!
//! ```text
//!   socket bytes ──▶ BytesMut ──RequestParser::parse──▶ Vec<Bytes> (one request's args)
//!                                   │ Ok(None): need more bytes (state kept, no re-parse)
//!                                   │ Err(ProtocolError): reply "-ERR Protocol error: …", close
//!   Reply ──encode(proto 2|3)──▶ BytesMut ──one write──▶ socket
//! ```
//!
//! Requests are RESP multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline
//! (`GET k\r\n`, with Redis's quoting rules), exactly as `redis-server` accepts them,
//! with the same limits and the same error strings.

mod reply;
mod request;

pub use reply::{encode, encode_array_len, encode_bulk, format_double, DoubleText, Reply};
pub use request::{split_args, Limits, ProtocolError, RequestParser, INLINE_MAX_SIZE};
