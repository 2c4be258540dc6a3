//! MEMORY STATS, DOCTOR and MALLOC-STATS: replies built by [`crate::memory::report`].

use super::Ctx;
use crate::memory::report::{malloc_stats, Overhead};
use bytes::Bytes;
use ferrocache_protocol::Reply;

/// `MEMORY STATS`: the overhead breakdown, as a map (flat array in RESP2).
pub fn stats(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Overhead::gather(ctx.shared, ctx.ks).stats_reply()
}

/// `MEMORY DOCTOR`: Redis's report on what the figures suggest.
pub fn doctor(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Verbatim("txt", Bytes::from(Overhead::gather(ctx.shared, ctx.ks).doctor()))
}

/// `MEMORY MALLOC-STATS`: jemalloc's own statistics text.
pub fn malloc_stats_reply(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Verbatim("txt", malloc_stats())
}
