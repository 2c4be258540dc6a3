//! The ZRANGE family: ZRANGE ZRANGESTORE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE
//! ZRANGEBYLEX ZREVRANGEBYLEX, all through Redis's `zrangeGenericCommand`.

use super::parse::{LexRange, ScoreRange};
use super::{lex_ranks, push_entry, score_ranks, store, MIN_MAX_FLOAT, MIN_MAX_LEX};
use crate::commands::collection::index_range;
use crate::commands::{args, collection, errors, Ctx};
use crate::store::types::ZSet;
use bytes::Bytes;
use ferrocache_protocol::Reply;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
pub fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, 1, None, Kind::Auto, Direction::Auto)
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`
pub fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, 2, Some(&args[1]), Kind::Auto, Direction::Auto)
}

/// `ZREVRANGE key start stop [WITHSCORES]`
pub fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, 1, None, Kind::Rank, Direction::Reverse)
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
pub fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, 1, None, Kind::Score, Direction::Forward)
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
pub fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, 1, None, Kind::Score, Direction::Reverse)
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`
pub fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, 1, None, Kind::Lex, Direction::Forward)
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
pub fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, 1, None, Kind::Lex, Direction::Reverse)
}

enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// Redis's `zrangeGenericCommand`: options first (in its order of checks), then the range,
/// then the key. `first` is the position of the source key.
fn generic(ctx: &mut Ctx, args: &[Bytes], first: usize, dst: Option<&[u8]>, kind: Kind, dir: Direction) -> Reply {
    let (mut kind, mut dir) = (kind, dir);
    let mut withscores = false;
    let (mut offset, mut limit): (i64, i64) = (0, -1);
    let mut j = first + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if dst.is_none() && args::is(a, "withscores") {
            withscores = true;
        } else if args::is(a, "limit") && left >= 2 {
            offset = match args::int(&args[j + 1]) {
                Ok(n) => n,
                Err(e) => return e,
            };
            limit = match args::int(&args[j + 2]) {
                Ok(n) => n,
                Err(e) => return e,
            };
            j += 2;
        } else if dir == Direction::Auto && args::is(a, "rev") {
            dir = Direction::Reverse;
        } else if kind == Kind::Auto && args::is(a, "bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && args::is(a, "byscore") {
            kind = Kind::Score;
        } else {
            return Reply::err(errors::SYNTAX);
        }
        j += 1;
    }
    let reverse = dir == Direction::Reverse;
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit != -1 && kind == Kind::Rank {
        return Reply::err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    }
    if withscores && kind == Kind::Lex {
        return Reply::err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (mut min, mut max) = (&args[first + 1], &args[first + 2]);
    if reverse && kind != Kind::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let range = match kind {
        Kind::Score => match ScoreRange::parse(min, max) {
            Some(r) => Range::Score(r),
            None => return Reply::err(MIN_MAX_FLOAT),
        },
        Kind::Lex => match LexRange::parse(min, max) {
            Some(r) => Range::Lex(r),
            None => return Reply::err(MIN_MAX_LEX),
        },
        _ => {
            let start = match args::int(min) {
                Ok(n) => n,
                Err(e) => return e,
            };
            let end = match args::int(max) {
                Ok(n) => n,
                Err(e) => return e,
            };
            Range::Rank(start, end)
        }
    };

    let resp = ctx.client.resp;
    let z = match collection::read::<ZSet>(ctx, &args[first]) {
        Ok(Some(z)) => z,
        Ok(None) => {
            return match dst {
                Some(dst) => store(ctx, dst, ZSet::new()),
                None => Reply::Array(vec![]),
            }
        }
        Err(r) => return r,
    };
    let (from, n) = select(z, &range, reverse, offset, limit);
    let entries: Box<dyn Iterator<Item = (&[u8], f64)>> =
        if reverse { Box::new(z.iter_down_from(from)) } else { Box::new(z.iter_from(from)) };
    let entries = entries.take(n);
    match dst {
        Some(dst) => {
            let mut out = ZSet::new();
            for (m, s) in entries {
                out.insert(m, s);
            }
            store(ctx, dst, out)
        }
        None => {
            let mut out = Vec::with_capacity(if withscores && resp == 2 { 2 * n } else { n });
            for (m, s) in entries {
                push_entry(&mut out, resp, m, s, withscores);
            }
            Reply::Array(out)
        }
    }
}

/// Where the reply starts (a rank; iteration goes down from it when `reverse`) and how many
/// entries it has, LIMIT applied as Redis does: a negative offset gives nothing, a negative
/// count means all the rest.
fn select(z: &ZSet, range: &Range, reverse: bool, offset: i64, limit: i64) -> (usize, usize) {
    let len = z.len();
    let (lo, hi) = match range {
        Range::Rank(start, end) => {
            return match index_range(*start, *end, len) {
                Some((s, e)) if reverse => (len - 1 - s, e - s + 1),
                Some((s, e)) => (s, e - s + 1),
                None => (0, 0),
            };
        }
        Range::Score(r) => score_ranks(z, r),
        Range::Lex(r) => lex_ranks(z, r),
    };
    if offset < 0 || hi <= lo {
        return (0, 0);
    }
    let avail = hi - lo;
    let offset = offset as u64;
    if offset >= avail as u64 {
        return (0, 0);
    }
    let offset = offset as usize;
    let n = avail - offset;
    let n = if limit < 0 { n } else { n.min(usize::try_from(limit).unwrap_or(usize::MAX)) };
    if reverse {
        (hi - 1 - offset, n)
    } else {
        (lo + offset, n)
    }
}
