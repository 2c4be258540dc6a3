//! List commands, with Redis 7.0's options, replies and error strings: LPUSH RPUSH LPUSHX
//! RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP,
//! and the blocking BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP (`blocking.rs`; the waiting itself
//! is `commands::blocking`'s).
//!
//! Each handler follows the order of checks of its counterpart in Redis's `t_list.c`
//! (argument parsing before or after the key lookup varies per command), because that order
//! decides which error a client sees when several apply.

mod blocking;
#[cfg(test)]
mod tests;

pub(crate) use blocking::{serve_waiter, WaitOp};

use super::collection::{index_range, is_other_type, read, write, wrongtype};
use super::table::{numkeys_at, CommandSpec, Flags};
use super::{args, errors, Ctx};
use crate::store::types::List;
use crate::store::{parse_i64_strict, Value};
use bytes::{Bytes, BytesMut};
use ferrocache_protocol::{encode_array_len, encode_bulk, Reply};
use std::ops::ControlFlow;

const RW_FAST: Flags = Flags::WRITE.or(Flags::DENYOOM).or(Flags::FAST);
const RW: Flags = Flags::WRITE.or(Flags::DENYOOM);
const RO: Flags = Flags::READONLY;

const WRITE_FAST: &[&str] = &["write", "list", "fast"];
const WRITE_SLOW: &[&str] = &["write", "list", "slow"];
const READ_SLOW: &[&str] = &["read", "list", "slow"];
const WRITE_BLOCKING: &[&str] = &["write", "list", "slow", "blocking"];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, lpush)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Prepend one or multiple elements to a list", "key element [element ...]")
        .acl(WRITE_FAST),
    CommandSpec::new("rpush", -3, rpush)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Append one or multiple elements to a list", "key element [element ...]")
        .acl(WRITE_FAST),
    CommandSpec::new("lpushx", -3, lpushx)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("list", "2.2.0", "Prepend an element to a list, only if the list exists", "key element [element ...]")
        .acl(WRITE_FAST),
    CommandSpec::new("rpushx", -3, rpushx)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("list", "2.2.0", "Append an element to a list, only if the list exists", "key element [element ...]")
        .acl(WRITE_FAST),
    CommandSpec::new("lpop", -2, lpop)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Remove and get the first elements in a list", "key [count]")
        .acl(WRITE_FAST),
    CommandSpec::new("rpop", -2, rpop)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Remove and get the last elements in a list", "key [count]")
        .acl(WRITE_FAST),
    CommandSpec::new("llen", 2, llen)
        .flags(RO.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Get the length of a list", "key")
        .acl(&["read", "list", "fast"]),
    CommandSpec::new("lrange", 4, lrange)
        .flags(RO)
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Get a range of elements from a list", "key start stop")
        .acl(READ_SLOW),
    CommandSpec::new("lindex", 3, lindex)
        .flags(RO)
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Get an element from a list by its index", "key index")
        .acl(READ_SLOW),
    CommandSpec::new("lset", 4, lset)
        .flags(RW)
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Set the value of an element in a list by its index", "key index element")
        .acl(WRITE_SLOW),
    CommandSpec::new("linsert", 5, linsert)
        .flags(RW)
        .keys(1, 1, 1)
        .doc(
            "list",
            "2.2.0",
            "Insert an element before or after another element in a list",
            "key BEFORE|AFTER pivot element",
        )
        .acl(WRITE_SLOW),
    CommandSpec::new("lrem", 4, lrem)
        .flags(Flags::WRITE)
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Remove elements from a list", "key count element")
        .acl(WRITE_SLOW),
    CommandSpec::new("ltrim", 4, ltrim)
        .flags(Flags::WRITE)
        .keys(1, 1, 1)
        .doc("list", "1.0.0", "Trim a list to the specified range", "key start stop")
        .acl(WRITE_SLOW),
    CommandSpec::new("lpos", -3, lpos)
        .flags(RO)
        .keys(1, 1, 1)
        .doc(
            "list",
            "6.0.6",
            "Return the index of matching elements on a list",
            "key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
        )
        .acl(READ_SLOW),
    CommandSpec::new("lmove", 5, lmove)
        .flags(RW)
        .keys(1, 2, 1)
        .doc(
            "list",
            "6.2.0",
            "Pop an element from a list, push it to another list and return it",
            "source destination LEFT|RIGHT LEFT|RIGHT",
        )
        .acl(WRITE_SLOW),
    CommandSpec::new("rpoplpush", 3, rpoplpush)
        .flags(RW)
        .keys(1, 2, 1)
        .doc(
            "list",
            "1.2.0",
            "Remove the last element in a list, prepend it to another list and return it",
            "source destination",
        )
        .acl(WRITE_SLOW),
    CommandSpec::new("lmpop", -4, lmpop)
        .flags(Flags::WRITE)
        .movable_keys(numkeys_at::<1>)
        .doc("list", "7.0.0", "Pop elements from a list", "numkeys key [key ...] LEFT|RIGHT [COUNT count]")
        .acl(WRITE_SLOW),
    CommandSpec::new("blpop", -3, blocking::blpop)
        .flags(Flags::WRITE.or(Flags::NOSCRIPT).or(Flags::BLOCKING))
        .keys(1, -2, 1)
        .doc(
            "list",
            "2.0.0",
            "Remove and get the first element in a list, or block until one is available",
            "key [key ...] timeout",
        )
        .acl(WRITE_BLOCKING),
    CommandSpec::new("brpop", -3, blocking::brpop)
        .flags(Flags::WRITE.or(Flags::NOSCRIPT).or(Flags::BLOCKING))
        .keys(1, -2, 1)
        .doc(
            "list",
            "2.0.0",
            "Remove and get the last element in a list, or block until one is available",
            "key [key ...] timeout",
        )
        .acl(WRITE_BLOCKING),
    CommandSpec::new("blmove", 6, blocking::blmove)
        .flags(RW.or(Flags::NOSCRIPT).or(Flags::BLOCKING))
        .keys(1, 2, 1)
        .doc(
            "list",
            "6.2.0",
            "Pop an element from a list, push it to another list and return it; or block until one is available",
            "source destination LEFT|RIGHT LEFT|RIGHT timeout",
        )
        .acl(WRITE_BLOCKING),
    CommandSpec::new("brpoplpush", 4, blocking::brpoplpush)
        .flags(RW.or(Flags::NOSCRIPT).or(Flags::BLOCKING))
        .keys(1, 2, 1)
        .doc(
            "list",
            "2.2.0",
            "Pop an element from a list, push it to another list and return it; or block until one is available",
            "source destination timeout",
        )
        .acl(WRITE_BLOCKING),
    CommandSpec::new("blmpop", -5, blocking::blmpop)
        .flags(Flags::WRITE.or(Flags::BLOCKING))
        .movable_keys(numkeys_at::<2>)
        .doc(
            "list",
            "7.0.0",
            "Pop elements from a list, or block until one is available",
            "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]",
        )
        .acl(WRITE_BLOCKING),
];

/// An end of a list: LEFT (head) or RIGHT (tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Head,
    Tail,
}

/// `getListPositionFromObjectOrReply`: LEFT or RIGHT, any case, else a syntax error.
fn end_arg(arg: &[u8]) -> Result<End, Reply> {
    if args::is(arg, "left") {
        Ok(End::Head)
    } else if args::is(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(Reply::err(errors::SYNTAX))
    }
}

/// `getRangeLongFromObjectOrReply(arg, 1, LONG_MAX, msg)`: a positive integer, else `msg`
/// (for a non-integer too).
fn positive(arg: &[u8], msg: &'static str) -> Result<i64, Reply> {
    parse_i64_strict(arg).filter(|&n| n >= 1).ok_or_else(|| Reply::err(msg))
}

fn push_at(list: &mut List, end: End, item: &[u8]) {
    match end {
        End::Head => list.push_front(item),
        End::Tail => list.push_back(item),
    }
}

fn pop_at(list: &mut List, end: End) -> Option<Box<[u8]>> {
    match end {
        End::Head => list.pop_front(),
        End::Tail => list.pop_back(),
    }
}

/// Pops up to `count` elements from `end`, in the order popped (RPOP's from the tail inward).
fn pop_many(list: &mut List, end: End, count: i64) -> Vec<Reply> {
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(list.len());
    (0..n).filter_map(|_| pop_at(list, end)).map(|e| Reply::bulk_copy(&e)).collect()
}

/// An index into a list of `len` (negative from the tail), if it is inside.
fn index_of(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { (len as i64).checked_add(index)? } else { index };
    usize::try_from(i).ok().filter(|&i| i < len)
}

/// `LPUSH key element [element ...]`
fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, End::Head, true)
}

/// `RPUSH key element [element ...]`
fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, End::Tail, true)
}

/// `LPUSHX key element [element ...]`
fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, End::Head, false)
}

/// `RPUSHX key element [element ...]`
fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, End::Tail, false)
}

/// The four pushes; `create`: whether a missing key gets a new list (the X forms reply 0).
fn push(ctx: &mut Ctx, args: &[Bytes], end: End, create: bool) -> Reply {
    let pushed = write::<List, _>(ctx, &args[1], create, |list| {
        for item in &args[2..] {
            push_at(list, end, item);
        }
        (list.len(), true)
    });
    match pushed {
        Ok(len) => Reply::Integer(len.unwrap_or(0) as i64),
        Err(e) => e,
    }
}

/// `LPOP key [count]`
fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop(ctx, args, End::Head)
}

/// `RPOP key [count]`
fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop(ctx, args, End::Tail)
}

/// `popGenericCommand`: without a count a bulk (or null), with one an array (a null array
/// for a missing key, an empty one for a count of 0).
fn pop(ctx: &mut Ctx, args: &[Bytes], end: End) -> Reply {
    let count = match args.len() {
        2 => None,
        // `getPositiveLongFromObjectOrReply`: one error for a non-integer and a negative.
        3 => match parse_i64_strict(&args[2]) {
            Some(n) if n >= 0 => Some(n),
            _ => return Reply::err("ERR value is out of range, must be positive"),
        },
        _ => return Reply::error(errors::arity(if end == End::Head { "lpop" } else { "rpop" })),
    };
    let popped = write::<List, _>(ctx, &args[1], false, |list| match count {
        None => (pop_at(list, end).map(|e| Reply::bulk_copy(&e)).unwrap_or(Reply::Null), true),
        Some(0) => (Reply::Array(vec![]), false),
        Some(n) => (Reply::Array(pop_many(list, end, n)), true),
    });
    match popped {
        Ok(Some(reply)) => reply,
        Ok(None) if count.is_some() => Reply::NullArray,
        Ok(None) => Reply::Null,
        Err(e) => e,
    }
}

/// `LLEN key`
fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<List>(ctx, &args[1]) {
        Ok(list) => Reply::Integer(list.map_or(0, |l| l.len() as i64)),
        Err(e) => e,
    }
}

/// `LRANGE key start stop`: O(S + N), S the distance of `start` from the nearer end.
fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (start, end) = match (args::int(&args[2]), args::int(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let list = match read::<List>(ctx, &args[1]) {
        Ok(Some(list)) => list,
        Ok(None) => return Reply::Array(vec![]),
        Err(e) => return e,
    };
    match index_range(start, end, list.len()) {
        None => Reply::Array(vec![]),
        Some((s, e)) => {
            // Encoded as the nodes are decoded, into one buffer: an array of bulk strings is
            // the same in RESP2 and RESP3, and this skips a `Reply` per element (its copy,
            // encoding and drop).
            let n = e + 1 - s;
            let mut out = BytesMut::with_capacity(16 + n * 10);
            encode_array_len(&mut out, n);
            let _ = list.visit(s, e + 1, |item| {
                encode_bulk(&mut out, item);
                ControlFlow::Continue(())
            });
            Reply::Raw(out.freeze())
        }
    }
}

/// `LINDEX key index`: the key is looked up before the index is parsed.
fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let list = match read::<List>(ctx, &args[1]) {
        Ok(Some(list)) => list,
        Ok(None) => return Reply::Null,
        Err(e) => return e,
    };
    let index = match args::int(&args[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match index_of(index, list.len()).and_then(|i| list.get(i)) {
        Some(item) => Reply::bulk_copy(&item),
        None => Reply::Null,
    }
}

/// `LSET key index element`
fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let set = write::<List, _>(ctx, &args[1], false, |list| {
        let index = match args::int(&args[2]) {
            Ok(i) => i,
            Err(e) => return (e, false),
        };
        match index_of(index, list.len()) {
            Some(i) => (Reply::simple("OK"), list.set(i, &args[3])),
            None => (Reply::err("ERR index out of range"), false),
        }
    });
    match set {
        Ok(Some(reply)) => reply,
        Ok(None) => Reply::err(errors::NO_SUCH_KEY),
        Err(e) => e,
    }
}

/// `LINSERT key BEFORE|AFTER pivot element`: the list's new length, -1 without the pivot.
fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let after = if args::is(&args[2], "after") {
        true
    } else if args::is(&args[2], "before") {
        false
    } else {
        return Reply::err(errors::SYNTAX);
    };
    let inserted = write::<List, _>(ctx, &args[1], false, |list| {
        let (mut pivot, mut at) = (None, 0);
        let _ = list.visit(0, list.len(), |e| {
            if e == &args[3][..] {
                pivot = Some(at);
                return ControlFlow::Break(());
            }
            at += 1;
            ControlFlow::Continue(())
        });
        match pivot {
            Some(i) => {
                list.insert(i + usize::from(after), &args[4]);
                (list.len() as i64, true)
            }
            None => (-1, false),
        }
    });
    match inserted {
        Ok(n) => Reply::Integer(n.unwrap_or(0)),
        Err(e) => e,
    }
}

/// `LREM key count element`: count > 0 from the head, < 0 from the tail, 0 all.
fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let count = match args::int(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = write::<List, _>(ctx, &args[1], false, |list| {
        let n = list.remove_matching(&args[3], limit, count < 0);
        (n as i64, n > 0)
    });
    match removed {
        Ok(n) => Reply::Integer(n.unwrap_or(0)),
        Err(e) => e,
    }
}

/// `LTRIM key start stop`. Like Redis, it counts as a change (WATCH, propagation) whenever
/// the key exists, even if nothing was trimmed.
fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (start, end) = match (args::int(&args[2]), args::int(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let trimmed = write::<List, _>(ctx, &args[1], false, |list| {
        match index_range(start, end, list.len()) {
            Some((s, e)) => list.retain_range(s, e + 1),
            None => list.retain_range(0, 0),
        }
        ((), true)
    });
    match trimmed {
        Ok(_) => Reply::simple("OK"),
        Err(e) => e,
    }
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`. Options are parsed (and
/// fail) before the key is looked up. Matches are collected as found: COUNT only bounds them,
/// it never sizes anything.
fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut rank, mut count, mut maxlen): (i64, i64, i64) = (1, -1, 0);
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = &args[j];
        let value = || args::int(&args[j + 1]);
        if args::is(opt, "rank") && more {
            rank = match value() {
                Ok(r) => r,
                Err(e) => return e,
            };
            if rank == 0 {
                return Reply::err(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use \
                     negative to start from the end of the list",
                );
            }
        } else if args::is(opt, "count") && more {
            // `getPositiveLongFromObjectOrReply`: an unparsable number gets this text too.
            count = match value() {
                Ok(c) if c >= 0 => c,
                _ => return Reply::err("ERR COUNT can't be negative"),
            };
        } else if args::is(opt, "maxlen") && more {
            maxlen = match value() {
                Ok(m) if m >= 0 => m,
                _ => return Reply::err("ERR MAXLEN can't be negative"),
            };
        } else {
            return Reply::err(errors::SYNTAX);
        }
        j += 2;
    }
    // A negative rank searches from the tail. Redis negates it in C, so i64::MIN stays
    // negative: every match then ranks (wrapping below copies that, as clients can see it).
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let list = match read::<List>(ctx, &args[1]) {
        Ok(Some(list)) => list,
        Ok(None) if count != -1 => return Reply::Array(vec![]),
        Ok(None) => return Reply::Null,
        Err(e) => return e,
    };
    let element = &args[2][..];
    let len = list.len();
    let scan = usize::try_from(maxlen).unwrap_or(usize::MAX);
    let scan = if scan == 0 { len } else { scan.min(len) };
    let mut found = Vec::new();
    let (mut matches, mut index): (i64, usize) = (0, 0);
    let mut check = |item: &[u8]| {
        let i = index;
        index += 1;
        if item != element {
            return ControlFlow::Continue(());
        }
        matches += 1;
        if matches < rank {
            return ControlFlow::Continue(());
        }
        found.push(if from_tail { len - i - 1 } else { i } as i64);
        if count == -1 || (count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    };
    let _ = if from_tail { list.visit_rev(len - scan, len, &mut check) } else { list.visit(0, scan, &mut check) };
    if count == -1 {
        found.first().map_or(Reply::Null, |&at| Reply::Integer(at))
    } else {
        Reply::Array(found.into_iter().map(Reply::Integer).collect())
    }
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`
fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (from, to) = match (end_arg(&args[3]), end_arg(&args[4])) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    move_one(ctx, &args[1], &args[2], from, to)
}

/// `RPOPLPUSH source destination`
fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    move_one(ctx, &args[1], &args[2], End::Tail, End::Head)
}

/// `lmoveGenericCommand`: a missing source is a null; the destination's type is checked
/// before anything is popped, so a WRONGTYPE changes nothing.
fn move_one(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> Reply {
    let db = ctx.db();
    match ctx.ks.get_for_write(db, src).map(|e| matches!(e.value, Value::List(_))) {
        None => return Reply::Null,
        Some(false) => return wrongtype(),
        Some(true) => {}
    }
    if src == dst {
        let moved = write::<List, _>(ctx, src, false, |list| match pop_at(list, from) {
            Some(item) => {
                push_at(list, to, &item);
                (Some(item), true)
            }
            None => (None, false),
        });
        return match moved {
            Ok(Some(Some(item))) => Reply::bulk_copy(&item),
            Ok(_) => Reply::Null,
            Err(e) => e,
        };
    }
    if is_other_type::<List>(ctx, dst) {
        return wrongtype();
    }
    let item = match write::<List, _>(ctx, src, false, |list| {
        let item = pop_at(list, from);
        let popped = item.is_some();
        (item, popped)
    }) {
        Ok(Some(Some(item))) => item,
        Ok(_) => return Reply::Null,
        Err(e) => return e,
    };
    match write::<List, _>(ctx, dst, true, |list| {
        push_at(list, to, &item);
        ((), true)
    }) {
        Ok(_) => Reply::bulk_copy(&item),
        Err(e) => e,
    }
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`: pops from the first non-empty
/// list and replies `[key, [elements]]`; propagated as `LPOP|RPOP key n`, as Redis does.
fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match mpop_args(args, 1) {
        Ok((keys, end, count)) => mpop(ctx, keys, end, count),
        Err(e) => e,
    }
}

/// `mpopGenericCommand`: a null array when every list is missing.
fn mpop(ctx: &mut Ctx, keys: &[Bytes], end: End, count: i64) -> Reply {
    for key in keys {
        let popped = write::<List, _>(ctx, key, false, |list| {
            let items = pop_many(list, end, count);
            let changed = !items.is_empty();
            (items, changed)
        });
        let items = match popped {
            Ok(Some(items)) if !items.is_empty() => items,
            Ok(_) => continue,
            Err(e) => return e,
        };
        let n = itoa::Buffer::new().format(items.len()).as_bytes().to_vec();
        ctx.propagate_one(&[if end == End::Head { b"LPOP" } else { b"RPOP" }, key, &n]);
        return Reply::Array(vec![Reply::bulk(key.clone()), Reply::Array(items)]);
    }
    Reply::NullArray
}

/// `lmpopGenericCommand`'s parsing, `numkeys` at `numkeys_at`: the keys, the end and the count.
fn mpop_args(args: &[Bytes], numkeys_at: usize) -> Result<(&[Bytes], End, i64), Reply> {
    let numkeys = positive(&args[numkeys_at], "ERR numkeys should be greater than 0")?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_at + 1))
        .filter(|&i| i < args.len())
        .ok_or_else(|| Reply::err(errors::SYNTAX))?;
    let end = end_arg(&args[where_at])?;
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && args::is(&args[j], "count") && j + 1 < args.len() {
            count = Some(positive(&args[j + 1], "ERR count should be greater than 0")?);
            j += 2;
        } else {
            return Err(Reply::err(errors::SYNTAX));
        }
    }
    Ok((&args[numkeys_at + 1..where_at], end, count.unwrap_or(1)))
}
