//! Sorted-set commands, with Redis 7.0's options, replies (RESP2 and RESP3) and error strings:
//! ZADD ZINCRBY ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK ZREM ZCOUNT ZLEXCOUNT ZREMRANGEBYRANK
//! ZREMRANGEBYSCORE ZREMRANGEBYLEX ZPOPMIN ZPOPMAX ZRANDMEMBER ZSCAN here; the ZRANGE family in
//! `range.rs`; ZUNION ZINTER ZDIFF (and their STORE forms) ZINTERCARD ZMPOP in `setops.rs`.
//!
//! Each handler follows the order of checks of its counterpart in Redis's `t_zset.c`, because
//! that order decides which error a client sees when several apply. Scores go out with
//! `addReplyDouble` (`Reply::Double`: a `%.17g` bulk string in RESP2, a double in RESP3), and
//! WITHSCORES replies are flat in RESP2, arrays of [member, score] pairs in RESP3.
//!
//! Work is bounded by the set's size: ranges and offsets are resolved to ranks first
//! (O(log n)), then only the elements replied are visited.

mod blocking;
mod parse;
mod range;
mod setops;
#[cfg(test)]
mod tests;

use super::collection;
use super::table::{CommandSpec, Flags};
use super::{args, errors, Ctx};
use crate::glob::{self, Case};
use crate::store::types::{ZSet, ZSetLimits};
use bytes::Bytes;
use ferrocache_protocol::{format_double, Reply};
use parse::{LexRange, ScoreRange};
use rand::Rng;

pub(crate) use blocking::{serve_waiter, WaitOp};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, zadd)
        .flags(Flags::WRITE.or(Flags::DENYOOM).or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "1.2.0", "Add one or more members to a sorted set, or update its score if it already exists", "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]")
        .acl(&["write", "sortedset", "fast"]),
    CommandSpec::new("zcard", 2, zcard)
        .flags(Flags::READONLY.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "1.2.0", "Get the number of members in a sorted set", "key")
        .acl(&["read", "sortedset", "fast"]),
    CommandSpec::new("zscore", 3, zscore)
        .flags(Flags::READONLY.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "1.2.0", "Get the score associated with the given member in a sorted set", "key member")
        .acl(&["read", "sortedset", "fast"]),
    CommandSpec::new("zmscore", -3, zmscore)
        .flags(Flags::READONLY.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "6.2.0", "Get the score associated with the given members in a sorted set", "key member [member ...]")
        .acl(&["read", "sortedset", "fast"]),
    CommandSpec::new("zincrby", 4, zincrby)
        .flags(Flags::WRITE.or(Flags::DENYOOM).or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "1.2.0", "Increment the score of a member in a sorted set", "key increment member")
        .acl(&["write", "sortedset", "fast"]),
    CommandSpec::new("zrank", 3, zrank)
        .flags(Flags::READONLY.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "2.0.0", "Determine the index of a member in a sorted set", "key member")
        .acl(&["read", "sortedset", "fast"]),
    CommandSpec::new("zrevrank", 3, zrevrank)
        .flags(Flags::READONLY.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low", "key member")
        .acl(&["read", "sortedset", "fast"]),
    CommandSpec::new("zrem", -3, zrem)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "1.2.0", "Remove one or more members from a sorted set", "key member [member ...]")
        .acl(&["write", "sortedset", "fast"]),
    CommandSpec::new("zcount", 4, zcount)
        .flags(Flags::READONLY.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "2.0.0", "Count the members in a sorted set with scores within the given values", "key min max")
        .acl(&["read", "sortedset", "fast"]),
    CommandSpec::new("zrange", -4, range::zrange)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("sorted-set", "1.2.0", "Return a range of members in a sorted set", "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zrangestore", -5, range::zrangestore)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, 2, 1)
        .doc("sorted-set", "6.2.0", "Store a range of members from sorted set into another key", "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]")
        .acl(&["write", "sortedset", "slow"]),
    CommandSpec::new("zrevrange", -4, range::zrevrange)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("sorted-set", "1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low", "key start stop [WITHSCORES]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zrangebyscore", -4, range::zrangebyscore)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("sorted-set", "1.0.5", "Return a range of members in a sorted set, by score", "key min max [WITHSCORES] [LIMIT offset count]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zrevrangebyscore", -4, range::zrevrangebyscore)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("sorted-set", "2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low", "key max min [WITHSCORES] [LIMIT offset count]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zrangebylex", -4, range::zrangebylex)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("sorted-set", "2.8.9", "Return a range of members in a sorted set, by lexicographical range", "key min max [LIMIT offset count]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zrevrangebylex", -4, range::zrevrangebylex)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("sorted-set", "2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", "key max min [LIMIT offset count]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zlexcount", 4, zlexcount)
        .flags(Flags::READONLY.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "2.8.9", "Count the number of members in a sorted set between a given lexicographical range", "key min max")
        .acl(&["read", "sortedset", "fast"]),
    CommandSpec::new("zremrangebyrank", 4, zremrangebyrank)
        .flags(Flags::WRITE)
        .keys(1, 1, 1)
        .doc("sorted-set", "2.0.0", "Remove all members in a sorted set within the given indexes", "key start stop")
        .acl(&["write", "sortedset", "slow"]),
    CommandSpec::new("zremrangebyscore", 4, zremrangebyscore)
        .flags(Flags::WRITE)
        .keys(1, 1, 1)
        .doc("sorted-set", "1.2.0", "Remove all members in a sorted set within the given scores", "key min max")
        .acl(&["write", "sortedset", "slow"]),
    CommandSpec::new("zremrangebylex", 4, zremrangebylex)
        .flags(Flags::WRITE)
        .keys(1, 1, 1)
        .doc("sorted-set", "2.8.9", "Remove all members in a sorted set between the given lexicographical range", "key min max")
        .acl(&["write", "sortedset", "slow"]),
    CommandSpec::new("zpopmin", -2, zpopmin)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "5.0.0", "Remove and return members with the lowest scores in a sorted set", "key [count]")
        .acl(&["write", "sortedset", "fast"]),
    CommandSpec::new("zpopmax", -2, zpopmax)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("sorted-set", "5.0.0", "Remove and return members with the highest scores in a sorted set", "key [count]")
        .acl(&["write", "sortedset", "fast"]),
    CommandSpec::new("bzpopmin", -3, blocking::bzpopmin)
        .flags(Flags::WRITE.or(Flags::NOSCRIPT).or(Flags::BLOCKING).or(Flags::FAST))
        .keys(1, -2, 1)
        .doc(
            "sorted-set",
            "5.0.0",
            "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
            "key [key ...] timeout",
        )
        .acl(&["write", "sortedset", "fast", "blocking"]),
    CommandSpec::new("bzpopmax", -3, blocking::bzpopmax)
        .flags(Flags::WRITE.or(Flags::NOSCRIPT).or(Flags::BLOCKING).or(Flags::FAST))
        .keys(1, -2, 1)
        .doc(
            "sorted-set",
            "5.0.0",
            "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
            "key [key ...] timeout",
        )
        .acl(&["write", "sortedset", "fast", "blocking"]),
    CommandSpec::new("bzmpop", -5, blocking::bzmpop)
        .flags(Flags::WRITE.or(Flags::BLOCKING))
        .keys(0, 0, 0)
        .movable_keys(super::table::numkeys_at::<2>)
        .doc(
            "sorted-set",
            "7.0.0",
            "Remove and return members with scores in a sorted set or block until one is available",
            "timeout numkeys key [key ...] MIN|MAX [COUNT count]",
        )
        .acl(&["write", "sortedset", "slow", "blocking"]),
    CommandSpec::new("zrandmember", -2, zrandmember)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("sorted-set", "6.2.0", "Get one or multiple random elements from a sorted set", "key [count [WITHSCORES]]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zscan", -3, zscan)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("sorted-set", "2.8.0", "Incrementally iterate sorted sets elements and associated scores", "key cursor [MATCH pattern] [COUNT count]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zunion", -3, setops::zunion)
        .flags(Flags::READONLY)
        .keys(0, 0, 0)
        .movable_keys(setops::numkeys_keys)
        .doc("sorted-set", "6.2.0", "Add multiple sorted sets", "numkeys key [key ...] [WEIGHTS weight [WEIGHTS weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zinter", -3, setops::zinter)
        .flags(Flags::READONLY)
        .keys(0, 0, 0)
        .movable_keys(setops::numkeys_keys)
        .doc("sorted-set", "6.2.0", "Intersect multiple sorted sets", "numkeys key [key ...] [WEIGHTS weight [WEIGHTS weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zdiff", -3, setops::zdiff)
        .flags(Flags::READONLY)
        .keys(0, 0, 0)
        .movable_keys(setops::numkeys_keys)
        .doc("sorted-set", "6.2.0", "Subtract multiple sorted sets", "numkeys key [key ...] [WITHSCORES]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zunionstore", -4, setops::zunionstore)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, 1, 1)
        .movable_keys(setops::numkeys_keys)
        .doc("sorted-set", "2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key", "destination numkeys key [key ...] [WEIGHTS weight [WEIGHTS weight ...]] [AGGREGATE SUM|MIN|MAX]")
        .acl(&["write", "sortedset", "slow"]),
    CommandSpec::new("zinterstore", -4, setops::zinterstore)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, 1, 1)
        .movable_keys(setops::numkeys_keys)
        .doc("sorted-set", "2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key", "destination numkeys key [key ...] [WEIGHTS weight [WEIGHTS weight ...]] [AGGREGATE SUM|MIN|MAX]")
        .acl(&["write", "sortedset", "slow"]),
    CommandSpec::new("zdiffstore", -4, setops::zdiffstore)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, 1, 1)
        .movable_keys(setops::numkeys_keys)
        .doc("sorted-set", "6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key", "destination numkeys key [key ...]")
        .acl(&["write", "sortedset", "slow"]),
    CommandSpec::new("zintercard", -3, setops::zintercard)
        .flags(Flags::READONLY)
        .keys(0, 0, 0)
        .movable_keys(setops::numkeys_keys)
        .doc("sorted-set", "7.0.0", "Intersect multiple sorted sets and return the cardinality of the result", "numkeys key [key ...] [LIMIT limit]")
        .acl(&["read", "sortedset", "slow"]),
    CommandSpec::new("zmpop", -4, setops::zmpop)
        .flags(Flags::WRITE)
        .keys(0, 0, 0)
        .movable_keys(setops::numkeys_keys)
        .doc("sorted-set", "7.0.0", "Remove and return members with scores in a sorted set", "numkeys key [key ...] MIN|MAX [COUNT count]")
        .acl(&["write", "sortedset", "slow"]),
];

const NAN_ERR: &str = "ERR resulting score is not a number (NaN)";
const MIN_MAX_FLOAT: &str = "ERR min or max is not a float";
const MIN_MAX_LEX: &str = "ERR min or max not valid string range item";
const OUT_OF_RANGE: &str = "ERR value is out of range";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
/// ZRANDMEMBER with a negative count repeats members, so its reply is not bounded by the
/// set: Redis streams any count (up to LONG_MAX/2 with WITHSCORES), which would exhaust our
/// memory building the reply. Counts beyond this get Redis's WITHSCORES range error instead
/// (once the key is found: a missing key or another type answers as in Redis).
const MAX_RANDOM_REPLY: u64 = 1 << 20;

/// One member of a reply that may carry scores: the member bulk and, with WITHSCORES, its
/// score, as one `[member, score]` pair in RESP3 and two flat elements in RESP2.
pub(crate) fn push_entry(out: &mut Vec<Reply>, resp: u8, member: &[u8], score: f64, withscores: bool) {
    if withscores && resp > 2 {
        out.push(Reply::Array(vec![Reply::bulk_copy(member), Reply::Double(score)]));
    } else {
        out.push(Reply::bulk_copy(member));
        if withscores {
            out.push(Reply::Double(score));
        }
    }
}

/// The sorted set at `key` for reading, or the reply for a missing key / wrong type.
fn read<'k>(ctx: &'k mut Ctx, key: &[u8], missing: Reply) -> Result<&'k ZSet, Reply> {
    match collection::read::<ZSet>(ctx, key)? {
        Some(z) => Ok(z),
        None => Err(missing),
    }
}

/// What ZADD's flags ask.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

/// The outcome of one `zsetAdd`.
enum Added {
    New(f64),
    Updated(f64),
    /// Exists with the same score: processed, not changed.
    Same(f64),
    Nop,
    Nan,
}

/// Redis's `zsetAdd`.
fn zset_add(z: &mut ZSet, mut score: f64, member: &[u8], f: AddFlags, limits: ZSetLimits) -> Added {
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Added::Nop;
            }
            if f.incr {
                score += cur;
                if score.is_nan() {
                    return Added::Nan;
                }
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return Added::Nop;
            }
            if score != cur {
                z.insert_within(member, score, limits);
                Added::Updated(score)
            } else {
                Added::Same(score)
            }
        }
        None if f.xx => Added::Nop,
        None => {
            z.insert_within(member, score, limits);
            Added::New(score)
        }
    }
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`
fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zadd_generic(ctx, args, false)
}

/// `ZINCRBY key increment member`: ZADD's INCR (its argument parsing too, as Redis's).
fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zadd_generic(ctx, args, true)
}

fn zadd_generic(ctx: &mut Ctx, args: &[Bytes], incr: bool) -> Reply {
    let mut f = AddFlags { incr, ..AddFlags::default() };
    let mut ch = false;
    let mut idx = 2;
    while idx < args.len() {
        let a = &args[idx];
        if args::is(a, "nx") {
            f.nx = true;
        } else if args::is(a, "xx") {
            f.xx = true;
        } else if args::is(a, "ch") {
            ch = true;
        } else if args::is(a, "incr") {
            f.incr = true;
        } else if args::is(a, "gt") {
            f.gt = true;
        } else if args::is(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = args.len() - idx;
    if elements == 0 || elements % 2 == 1 {
        return Reply::err(errors::SYNTAX);
    }
    if f.nx && f.xx {
        return Reply::err("ERR XX and NX options at the same time are not compatible");
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Reply::err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && elements > 2 {
        return Reply::err("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(elements / 2);
    for pair in args[idx..].chunks(2) {
        let Some(score) = parse::score(&pair[0]) else { return Reply::err(errors::NOT_FLOAT) };
        pairs.push((score, &pair[1][..]));
    }
    let limits = ctx.shared.hot.encoding.zset();
    let outcome = collection::write::<ZSet, _>(ctx, &args[1], !f.xx, |z| {
        let (mut added, mut updated, mut processed, mut last) = (0, 0, 0, 0.0);
        for &(score, member) in &pairs {
            match zset_add(z, score, member, f, limits) {
                Added::New(s) => (added, processed, last) = (added + 1, processed + 1, s),
                Added::Updated(s) => (updated, processed, last) = (updated + 1, processed + 1, s),
                Added::Same(s) => (processed, last) = (processed + 1, s),
                Added::Nop => {}
                Added::Nan => return (Err(()), added + updated > 0),
            }
        }
        (Ok((added, updated, processed, last)), added + updated > 0)
    });
    match outcome {
        Err(e) => e,
        Ok(Some(Err(()))) => Reply::err(NAN_ERR),
        Ok(None) if f.incr => Reply::Null,
        Ok(None) => Reply::Integer(0),
        Ok(Some(Ok((added, updated, processed, last)))) => {
            if f.incr {
                if processed > 0 {
                    Reply::Double(last)
                } else {
                    Reply::Null
                }
            } else {
                Reply::Integer(if ch { added + updated } else { added })
            }
        }
    }
}

/// `ZCARD key`
fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read(ctx, &args[1], Reply::Integer(0)) {
        Ok(z) => Reply::Integer(z.len() as i64),
        Err(r) => r,
    }
}

/// `ZSCORE key member`
fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read(ctx, &args[1], Reply::Null) {
        Ok(z) => z.score(&args[2]).map_or(Reply::Null, Reply::Double),
        Err(r) => r,
    }
}

/// `ZMSCORE key member [member ...]`
fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let z = match collection::read::<ZSet>(ctx, &args[1]) {
        Ok(z) => z,
        Err(r) => return r,
    };
    Reply::Array(args[2..].iter().map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Null, Reply::Double)).collect())
}

/// `ZRANK key member`
fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank_generic(ctx, args, false)
}

/// `ZREVRANK key member`
fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank_generic(ctx, args, true)
}

fn rank_generic(ctx: &mut Ctx, args: &[Bytes], reverse: bool) -> Reply {
    match read(ctx, &args[1], Reply::Null) {
        Ok(z) => match z.rank(&args[2]) {
            Some(r) if reverse => Reply::Integer((z.len() - 1 - r) as i64),
            Some(r) => Reply::Integer(r as i64),
            None => Reply::Null,
        },
        Err(r) => r,
    }
}

/// `ZREM key member [member ...]`
fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let removed = collection::write::<ZSet, _>(ctx, &args[1], false, |z| {
        let n = args[2..].iter().filter(|m| z.remove(m)).count();
        (n, n > 0)
    });
    match removed {
        Ok(n) => Reply::Integer(n.unwrap_or(0) as i64),
        Err(r) => r,
    }
}

/// The ranks `[lo, hi)` of a score range (empty when `hi <= lo`).
pub(crate) fn score_ranks(z: &ZSet, r: &ScoreRange) -> (usize, usize) {
    (z.partition(|s, _| r.below(s)), z.partition(|s, _| r.not_above(s)))
}

/// The ranks `[lo, hi)` of a lexicographic range (meaningful when all scores are equal).
pub(crate) fn lex_ranks(z: &ZSet, r: &LexRange) -> (usize, usize) {
    (z.partition(|_, m| r.below(m)), z.partition(|_, m| r.not_above(m)))
}

/// `ZCOUNT key min max`
fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(range) = ScoreRange::parse(&args[2], &args[3]) else { return Reply::err(MIN_MAX_FLOAT) };
    match read(ctx, &args[1], Reply::Integer(0)) {
        Ok(z) => {
            let (lo, hi) = score_ranks(z, &range);
            Reply::Integer(hi.saturating_sub(lo) as i64)
        }
        Err(r) => r,
    }
}

/// `ZLEXCOUNT key min max`
fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(range) = LexRange::parse(&args[2], &args[3]) else { return Reply::err(MIN_MAX_LEX) };
    match read(ctx, &args[1], Reply::Integer(0)) {
        Ok(z) => {
            let (lo, hi) = lex_ranks(z, &range);
            Reply::Integer(hi.saturating_sub(lo) as i64)
        }
        Err(r) => r,
    }
}

enum RemRange {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// `ZREMRANGEBYRANK key start stop`
fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let start = match args::int(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let end = match args::int(&args[3]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    remrange(ctx, &args[1], RemRange::Rank(start, end))
}

/// `ZREMRANGEBYSCORE key min max`
fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ScoreRange::parse(&args[2], &args[3]) {
        Some(r) => remrange(ctx, &args[1], RemRange::Score(r)),
        None => Reply::err(MIN_MAX_FLOAT),
    }
}

/// `ZREMRANGEBYLEX key min max`
fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match LexRange::parse(&args[2], &args[3]) {
        Some(r) => remrange(ctx, &args[1], RemRange::Lex(r)),
        None => Reply::err(MIN_MAX_LEX),
    }
}

fn remrange(ctx: &mut Ctx, key: &[u8], range: RemRange) -> Reply {
    let removed = collection::write::<ZSet, _>(ctx, key, false, |z| {
        let (lo, hi) = match &range {
            RemRange::Rank(start, end) => match collection::index_range(*start, *end, z.len()) {
                Some((s, e)) => (s, e + 1),
                None => (0, 0),
            },
            RemRange::Score(r) => score_ranks(z, r),
            RemRange::Lex(r) => lex_ranks(z, r),
        };
        let doomed: Vec<Box<[u8]>> = z.iter_from(lo).take(hi.saturating_sub(lo)).map(|(m, _)| m.into()).collect();
        for m in &doomed {
            z.remove(m);
        }
        (doomed.len(), !doomed.is_empty())
    });
    match removed {
        Ok(n) => Reply::Integer(n.unwrap_or(0) as i64),
        Err(r) => r,
    }
}

/// `ZPOPMIN key [count]`
fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop_command(ctx, args, false)
}

/// `ZPOPMAX key [count]`
fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop_command(ctx, args, true)
}

/// Redis's `zpopMinMaxCommand`.
fn zpop_command(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Reply {
    if args.len() > 3 {
        return Reply::err(errors::SYNTAX);
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => match args::int(a) {
            Ok(n) if n >= 0 => Some(n as u64),
            _ => return Reply::err(NOT_POSITIVE),
        },
    };
    let resp = ctx.client.resp;
    // The type is checked before a count of 0 gives its empty reply (otherwise the write's
    // lookup checks it).
    if count == Some(0) {
        if collection::is_other_type::<ZSet>(ctx, &args[1]) {
            return collection::wrongtype();
        }
        return Reply::Array(vec![]);
    }
    // A flat array in RESP2 or without a count; pairs in RESP3 with a count. Built as the
    // entries go, from their bytes before they are freed.
    let nested = resp > 2 && count.is_some();
    let popped = collection::write::<ZSet, _>(ctx, &args[1], false, |z| {
        let n = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX).min(z.len());
        let mut out = Vec::with_capacity(if nested { n } else { 2 * n });
        for _ in 0..n {
            z.pop_with(max, |m, s| {
                if nested {
                    out.push(Reply::Array(vec![Reply::bulk_copy(m), Reply::Double(s)]));
                } else {
                    out.push(Reply::bulk_copy(m));
                    out.push(Reply::Double(s));
                }
            });
        }
        (out, n > 0)
    });
    match popped {
        Ok(Some(out)) => Reply::Array(out),
        Ok(None) => Reply::Array(vec![]),
        Err(r) => r,
    }
}

/// An entry copied out of a set.
pub(crate) type Owned = (Box<[u8]>, f64);

/// Pops up to `count` lowest (or highest) entries of the set at `key`: `Ok(None)` if the key
/// is missing; the key goes when its last entry does.
pub(crate) fn pop(ctx: &mut Ctx, key: &[u8], max: bool, count: u64) -> Result<Option<Vec<Owned>>, Reply> {
    collection::write::<ZSet, _>(ctx, key, false, |z| {
        let n = (count as usize).min(z.len());
        let taken: Vec<Owned> = (0..n).map_while(|_| if max { z.pop_last() } else { z.pop_first() }).collect();
        let changed = !taken.is_empty();
        (taken, changed)
    })
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`
fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() >= 3 {
        let count = match args::int(&args[2]) {
            Ok(i64::MIN) => {
                return Reply::err(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                )
            }
            Ok(n) => n,
            Err(e) => return e,
        };
        let withscores = args.len() == 4 && args::is(&args[3], "withscores");
        if args.len() > 4 || (args.len() == 4 && !withscores) {
            return Reply::err(errors::SYNTAX);
        }
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Reply::err(OUT_OF_RANGE);
        }
        return zrandmember_count(ctx, &args[1], count, withscores);
    }
    match read(ctx, &args[1], Reply::Null) {
        Ok(z) => {
            let r = rand::thread_rng().gen_range(0..z.len());
            Reply::bulk_copy(z.get_by_rank(r).expect("rank below len").0)
        }
        Err(r) => r,
    }
}

/// Redis's `zrandmemberWithCountCommand`: a negative count may repeat members (random
/// order); a positive one gives distinct members, in the set's order (as Redis's listpack
/// sampling and whole-set cases give them).
fn zrandmember_count(ctx: &mut Ctx, key: &[u8], count: i64, withscores: bool) -> Reply {
    let resp = ctx.client.resp;
    let z = match read(ctx, key, Reply::Array(vec![])) {
        Ok(z) => z,
        Err(r) => return r,
    };
    if count == 0 {
        return Reply::Array(vec![]);
    }
    if count < 0 && count.unsigned_abs() > MAX_RANDOM_REPLY {
        return Reply::err(OUT_OF_RANGE);
    }
    let mut rng = rand::thread_rng();
    let mut out = Vec::new();
    let size = z.len();
    if count < 0 || count == 1 {
        for _ in 0..count.unsigned_abs() {
            let (m, s) = z.get_by_rank(rng.gen_range(0..size)).expect("rank below len");
            push_entry(&mut out, resp, m, s, withscores);
        }
    } else if count as u64 >= size as u64 {
        // The whole set, highest first, as Redis 7.0 replies it.
        for (m, s) in z.iter().rev() {
            push_entry(&mut out, resp, m, s, withscores);
        }
    } else {
        let mut ranks = rand::seq::index::sample(&mut rng, size, count as usize).into_vec();
        ranks.sort_unstable();
        for r in ranks {
            let (m, s) = z.get_by_rank(r).expect("rank below len");
            push_entry(&mut out, resp, m, s, withscores);
        }
    }
    Reply::Array(out)
}

/// A score as Redis's listpack holds it (`d2string`, then read back as an integer when it
/// looks like one): what ZSCAN shows for a small set. A large one's show as `d2string`
/// prints them: `%.17g`, -0 included.
fn listpack_score(s: f64) -> String {
    if s == 0.0 {
        return "0".into();
    }
    format_double(s)
}

/// A ZSCAN cursor for a large set: the score to resume at, in an order-preserving encoding
/// of its bits (never 0, which is no finite or infinite score's code).
fn score_cursor(s: f64) -> u64 {
    let bits = (if s == 0.0 { 0.0f64 } else { s }).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

fn cursor_score(c: u64) -> f64 {
    f64::from_bits(if c >> 63 == 1 { c & !(1 << 63) } else { !c })
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`
///
/// A set Redis would hold as a listpack comes back whole with cursor 0, as Redis's does.
/// A larger one is paged by score: the cursor encodes the score of the next entry, and a
/// page ends only between two different scores, so every member present (with its score)
/// for the whole scan is returned, at least once.
fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = super::keyspace::parse_cursor(&args[2]) else { return Reply::err(errors::INVALID_CURSOR) };
    let z = match read(ctx, &args[1], Reply::Array(vec![Reply::bulk(Bytes::from_static(b"0")), Reply::Array(vec![])])) {
        Ok(z) => z,
        Err(r) => return r,
    };
    let mut count: usize = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if args::is(&args[i], "count") && more {
            match args::int(&args[i + 1]) {
                Ok(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Ok(_) => return Reply::err(errors::SYNTAX),
                Err(e) => return e,
            }
        } else if args::is(&args[i], "match") && more {
            pattern = (&args[i + 1][..] != b"*").then_some(&args[i + 1][..]);
        } else {
            return Reply::err(errors::SYNTAX);
        }
        i += 2;
    }
    let mut out = Vec::new();
    let mut push = |m: &[u8], score: String| {
        if pattern.is_none_or(|p| glob::matches(p, m, Case::Sensitive)) {
            out.push(Reply::bulk_copy(m));
            out.push(Reply::bulk(score));
        }
    };
    let mut next = 0;
    if !z.is_big() {
        for (m, s) in z.iter() {
            push(m, listpack_score(s));
        }
    } else {
        let from = if cursor == 0 { 0 } else { z.partition(|s, _| s < cursor_score(cursor)) };
        let mut last = None;
        for (taken, (m, s)) in z.iter_from(from).enumerate() {
            if taken >= count && last != Some(s) {
                next = score_cursor(s);
                break;
            }
            push(m, format_double(s));
            last = Some(s);
        }
    }
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)])
}

/// Stores `z` at `dst` (replacing whatever was there, TTL included) or deletes `dst` if `z`
/// is empty; replies its length.
pub(crate) fn store(ctx: &mut Ctx, dst: &[u8], mut z: ZSet) -> Reply {
    let db = ctx.db();
    let len = z.len();
    if len == 0 {
        ctx.ks.remove(db, dst);
    } else {
        z.compact_if_small(ctx.shared.hot.encoding.zset());
        ctx.ks.insert(db, dst, collection_value(z), 0);
    }
    Reply::Integer(len as i64)
}

fn collection_value(z: ZSet) -> crate::store::Value {
    use crate::store::types::Collection;
    z.into_value()
}
