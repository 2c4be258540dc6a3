//! The blocking sorted-set commands: BZPOPMIN BZPOPMAX BZMPOP (`blockingGenericZpopCommand`),
//! and how a ready sorted set serves their waiters. The registry, the waiting and when keys
//! are served are `commands::blocking`'s.

use super::setops::{mpop, zmpop_args};
use super::{pop, Owned};
use crate::commands::blocking::{block, timeout_arg, Op, Step};
use crate::commands::collection::wrongtype;
use crate::commands::Ctx;
use crate::store::Value;
use bytes::Bytes;
use ferrocache_protocol::Reply;

/// What a sorted-set waiter pops once its key has members.
#[derive(Debug)]
pub(crate) enum WaitOp {
    /// BZPOPMIN / BZPOPMAX (`max`): `[key, member, score]`.
    Pop { max: bool },
    /// BZMPOP: `[key, [[member, score], ...]]`, up to `count`.
    MPop { max: bool, count: u64 },
}

fn pop_name(max: bool) -> Bytes {
    Bytes::from_static(if max { b"ZPOPMAX" } else { b"ZPOPMIN" })
}

fn count_arg(n: u64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes())
}

/// `[key, member, score]`: BZPOPMIN's reply.
fn triple(key: &Bytes, (member, score): Owned) -> Reply {
    Reply::Array(vec![Reply::Bulk(key.clone()), Reply::bulk_copy(&member), Reply::Double(score)])
}

fn nested(key: &Bytes, popped: Vec<Owned>) -> Reply {
    let items = popped.into_iter().map(|(m, s)| Reply::Array(vec![Reply::bulk_copy(&m), Reply::Double(s)])).collect();
    Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(items)])
}

/// Serves one sorted-set waiter at ready `key` (`serveClientBlockedOnSortedSet`), propagated
/// as Redis 7.0 rewrites it: `ZPOPMIN|ZPOPMAX key` for BZPOP*, with the number popped for
/// BZMPOP.
pub(crate) fn serve_waiter(ctx: &mut Ctx, key: &Bytes, op: &WaitOp) -> Step {
    let db = ctx.db();
    if !matches!(ctx.ks.get_for_write(db, key).map(|e| &e.value), Some(Value::ZSet(z)) if !z.is_empty()) {
        return Step::Skip;
    }
    let (max, count) = match *op {
        WaitOp::Pop { max } => (max, 1),
        WaitOp::MPop { max, count } => (max, count),
    };
    let popped = match pop(ctx, key, max, count) {
        Ok(Some(p)) if !p.is_empty() => p,
        _ => return Step::Skip,
    };
    match op {
        WaitOp::Pop { .. } => {
            Step::Served(triple(key, popped.into_iter().next().expect("one popped")), vec![pop_name(max), key.clone()])
        }
        WaitOp::MPop { .. } => {
            let effect = vec![pop_name(max), key.clone(), count_arg(popped.len() as u64)];
            Step::Served(nested(key, popped), effect)
        }
    }
}

/// `BZPOPMIN key [key ...] timeout`
pub(super) fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bzpop(ctx, args, false)
}

/// `BZPOPMAX key [key ...] timeout`
pub(super) fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bzpop(ctx, args, true)
}

/// The timeout first, then the keys in order: the first sorted set is popped, a key of
/// another type is WRONGTYPE, missing keys are skipped; none: block.
fn bzpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Reply {
    let timeout = match timeout_arg(&args[args.len() - 1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let keys = &args[1..args.len() - 1];
    let db = ctx.db();
    for key in keys {
        match ctx.ks.get_for_write(db, key).map(|e| matches!(e.value, Value::ZSet(_))) {
            None => continue,
            Some(false) => return wrongtype(),
            Some(true) => {}
        }
        if let Ok(Some(popped)) = pop(ctx, key, max, 1) {
            if let Some(entry) = popped.into_iter().next() {
                ctx.propagate_one(&[&pop_name(max), key]);
                return triple(key, entry);
            }
        }
    }
    block(ctx, args, keys, Op::ZSet(WaitOp::Pop { max }), timeout)
}

/// `BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]`: the arguments after the
/// timeout are checked first, as `zmpopGenericCommand` does.
pub(super) fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (keys, max, count) = match zmpop_args(args, 2) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let timeout = match timeout_arg(&args[1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    match mpop(ctx, keys, max, count) {
        Some(reply) => reply,
        None => block(ctx, args, keys, Op::ZSet(WaitOp::MPop { max, count }), timeout),
    }
}
