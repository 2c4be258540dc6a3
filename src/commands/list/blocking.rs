//! The blocking list commands: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP, and how a ready list
//! serves their waiters. The registry, the waiting and when keys are served are
//! `commands::blocking`'s.

use super::{end_arg, mpop_args, pop_at, pop_many, push_at, End};
use crate::commands::blocking::{block, timeout_arg, Op, Step};
use crate::commands::collection::{is_other_type, write, wrongtype};
use crate::commands::Ctx;
use crate::store::types::List;
use crate::store::Value;
use bytes::Bytes;
use ferrocache_protocol::Reply;

/// What a list waiter does once its key has elements.
#[derive(Debug)]
pub(crate) enum WaitOp {
    /// BLPOP / BRPOP: `[key, element]`.
    Pop(End),
    /// BLMPOP: `[key, [elements]]`, up to the count.
    MPop(End, i64),
    /// BLMOVE / BRPOPLPUSH: the element, pushed onto `dst`.
    Move { dst: Bytes, from: End, to: End },
}

impl WaitOp {
    /// What the command answers inside MULTI, where it may not block.
    pub fn multi_reply(&self) -> Reply {
        match self {
            WaitOp::Pop(_) | WaitOp::MPop(..) => Reply::NullArray,
            WaitOp::Move { .. } => Reply::Null,
        }
    }
}

/// Serves one list waiter at ready `key` (`serveClientBlockedOnList`), under the shards the
/// command that made it ready holds.
pub(crate) fn serve_waiter(ctx: &mut Ctx, key: &Bytes, op: &WaitOp) -> Step {
    let db = ctx.db();
    let has_items = matches!(ctx.ks.get_for_write(db, key).map(|e| &e.value), Some(Value::List(l)) if !l.is_empty());
    if !has_items {
        return Step::Skip;
    }
    match op {
        WaitOp::Pop(end) => match write::<List, _>(ctx, key, false, |l| (pop_at(l, *end), true)) {
            Ok(Some(Some(item))) => Step::Served(
                Reply::Array(vec![Reply::Bulk(key.clone()), Reply::bulk_copy(&item)]),
                vec![pop_name(*end), key.clone()],
            ),
            _ => Step::Skip,
        },
        WaitOp::MPop(end, count) => match write::<List, _>(ctx, key, false, |l| (pop_many(l, *end, *count), true)) {
            Ok(Some(items)) => {
                let n = Bytes::copy_from_slice(itoa::Buffer::new().format(items.len()).as_bytes());
                Step::Served(
                    Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(items)]),
                    vec![pop_name(*end), key.clone(), n],
                )
            }
            _ => Step::Skip,
        },
        WaitOp::Move { dst, from, to } => {
            if !ctx.ks.holds(dst) {
                // Its destination's shard is not ours to take: it runs again itself.
                return Step::Retry;
            }
            if dst != key && is_other_type::<List>(ctx, dst) {
                // Redis answers it WRONGTYPE, and serves the next one.
                return Step::Failed(wrongtype());
            }
            let Ok(Some(Some(item))) = write::<List, _>(ctx, key, false, |l| (pop_at(l, *from), true)) else {
                return Step::Skip;
            };
            // A destination created here is noted ready by the store: its waiters come next.
            let _ = write::<List, _>(ctx, dst, true, |l| {
                push_at(l, *to, &item);
                ((), true)
            });
            Step::Served(
                Reply::bulk_copy(&item),
                vec![
                    Bytes::from_static(b"LMOVE"),
                    key.clone(),
                    dst.clone(),
                    Bytes::from_static(end_name(*from)),
                    Bytes::from_static(end_name(*to)),
                ],
            )
        }
    }
}

fn pop_name(end: End) -> Bytes {
    Bytes::from_static(if end == End::Head { b"LPOP" } else { b"RPOP" })
}

fn end_name(end: End) -> &'static [u8] {
    if end == End::Head {
        b"LEFT"
    } else {
        b"RIGHT"
    }
}

/// Whether `key` holds a non-empty list; Err WRONGTYPE for another type.
fn has_items(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Reply> {
    let db = ctx.db();
    match ctx.ks.get_for_write(db, key).map(|e| &e.value) {
        None => Ok(false),
        Some(Value::List(l)) => Ok(!l.is_empty()),
        Some(_) => Err(wrongtype()),
    }
}

/// `BLPOP key [key ...] timeout`
pub(super) fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop(ctx, args, End::Head)
}

/// `BRPOP key [key ...] timeout`
pub(super) fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop(ctx, args, End::Tail)
}

/// `blockingPopGenericCommand`: the first non-empty list is popped as [LR]POP would.
fn bpop(ctx: &mut Ctx, args: &[Bytes], end: End) -> Reply {
    let timeout = match timeout_arg(&args[args.len() - 1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let keys = &args[1..args.len() - 1];
    for key in keys {
        match has_items(ctx, key) {
            Err(e) => return e,
            Ok(false) => continue,
            Ok(true) => {}
        }
        if let Ok(Some(Some(item))) = write::<List, _>(ctx, key, false, |l| (pop_at(l, end), true)) {
            ctx.propagate_one(&[&pop_name(end), key]);
            return Reply::Array(vec![Reply::Bulk(key.clone()), Reply::bulk_copy(&item)]);
        }
    }
    block(ctx, args, keys, Op::List(WaitOp::Pop(end)), timeout)
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`
pub(super) fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (from, to) = match (end_arg(&args[3]), end_arg(&args[4])) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    bmove(ctx, args, from, to, &args[5])
}

/// `BRPOPLPUSH source destination timeout`
pub(super) fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bmove(ctx, args, End::Tail, End::Head, &args[3])
}

fn bmove(ctx: &mut Ctx, args: &[Bytes], from: End, to: End, timeout: &[u8]) -> Reply {
    let timeout = match timeout_arg(timeout) {
        Ok(t) => t,
        Err(e) => return e,
    };
    match has_items(ctx, &args[1]) {
        Err(e) => e,
        Ok(true) => {
            // Propagated as the LMOVE it is.
            ctx.propagate_one(&[b"LMOVE", &args[1], &args[2], end_name(from), end_name(to)]);
            super::move_one(ctx, &args[1], &args[2], from, to)
        }
        Ok(false) => {
            let op = Op::List(WaitOp::Move { dst: args[2].clone(), from, to });
            block(ctx, args, &args[1..2], op, timeout)
        }
    }
}

/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`
pub(super) fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // The arguments after the timeout are checked first (`lmpopGenericCommand`).
    let (keys, end, count) = match mpop_args(args, 2) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let timeout = match timeout_arg(&args[1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    match super::mpop(ctx, keys, end, count) {
        Reply::NullArray => block(ctx, args, keys, Op::List(WaitOp::MPop(end, count)), timeout),
        reply => reply,
    }
}
