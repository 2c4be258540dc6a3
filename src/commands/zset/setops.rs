//! Commands over several keys given by a `numkeys` argument: ZUNION ZINTER ZDIFF, their
//! STORE forms, ZINTERCARD (Redis's `zunionInterDiffGenericCommand`) and ZMPOP.

use super::{parse, pop, push_entry, store};
use crate::commands::{args, collection, errors, Ctx};
use crate::store::types::{Set, ZSet};
use crate::store::Value;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use hashbrown::HashMap;

/// Key positions of the numkeys commands (`zunionInterDiffGetKeys`, `zmpopGetKeys`): the
/// destination of a STORE form, then `numkeys` keys after the count. An unusable count gives
/// no input keys: the handler then fails before it looks any key up.
pub fn numkeys_keys(args: &[Bytes]) -> Vec<usize> {
    let store = args[0].len() > 5 && args::is(&args[0][args[0].len() - 5..], "store");
    let (count_at, mut keys) = if store { (2, vec![1]) } else { (1, vec![]) };
    let Some(n) = args.get(count_at).and_then(|a| args::int(a).ok()) else { return keys };
    if n >= 1 && n <= (args.len() - count_at - 1) as i64 {
        keys.extend(count_at + 1..count_at + 1 + n as usize);
    }
    keys
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// `zunionInterAggregate`: a sum of +inf and -inf is 0, not NaN.
    fn apply(self, target: &mut f64, val: f64) {
        match self {
            Aggregate::Sum => {
                *target += val;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => *target = if val < *target { val } else { *target },
            Aggregate::Max => *target = if val > *target { val } else { *target },
        }
    }
}

/// `ZUNION numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, None, Op::Union, false)
}

/// `ZINTER numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, None, Op::Inter, false)
}

/// `ZDIFF numkeys key [key ...] [WITHSCORES]`
pub fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, None, Op::Diff, false)
}

/// `ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]`
pub fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, Some(&args[1]), Op::Union, false)
}

/// `ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]`
pub fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, Some(&args[1]), Op::Inter, false)
}

/// `ZDIFFSTORE destination numkeys key [key ...]`
pub fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, Some(&args[1]), Op::Diff, false)
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`
pub fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    generic(ctx, args, None, Op::Inter, true)
}

/// An input: a sorted set, or a set whose members all score 1.
enum Src<'a> {
    Z(&'a ZSet),
    S(&'a Set),
}

impl Src<'_> {
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::Z(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Src::S(s) => s.iter().for_each(|m| f(m, 1.0)),
        }
    }
}

/// Runs `f` on the input at `key` (already looked up and type-checked once; this lookup
/// counts no hit or miss), or returns None if it is missing.
fn with_src<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(Src) -> R) -> Option<R> {
    let db = ctx.db();
    match &ctx.ks.peek(db, key)?.value {
        Value::ZSet(z) => Some(f(Src::Z(z))),
        Value::Set(s) => Some(f(Src::S(s))),
        _ => None,
    }
}

/// Redis's `zunionInterDiffGenericCommand`. `dst` for the STORE forms; `card` for ZINTERCARD.
fn generic(ctx: &mut Ctx, args: &[Bytes], dst: Option<&[u8]>, op: Op, card: bool) -> Reply {
    let count_at = if dst.is_some() { 2 } else { 1 };
    let setnum = match args::int(&args[count_at]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if setnum < 1 {
        return Reply::error(format!(
            "ERR at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        ));
    }
    if setnum > (args.len() - count_at - 1) as i64 {
        return Reply::err(errors::SYNTAX);
    }
    let setnum = setnum as usize;
    let keys = &args[count_at + 1..count_at + 1 + setnum];
    // Every input looked up once, in order (`lookupKeyRead`): the first of another type fails.
    let db = ctx.db();
    let mut lens = Vec::with_capacity(setnum);
    for key in keys {
        match ctx.ks.get(db, key).map(|e| &e.value) {
            None => lens.push(0),
            Some(Value::ZSet(z)) => lens.push(z.len()),
            Some(Value::Set(s)) => lens.push(s.len()),
            Some(_) => return collection::wrongtype(),
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: u64 = 0;
    let mut j = count_at + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != Op::Diff && !card && remaining > setnum && args::is(a, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match parse::score(&args[j]) {
                    Some(v) => *w = v,
                    None => return Reply::err("ERR weight value is not a float"),
                }
                j += 1;
            }
        } else if op != Op::Diff && !card && remaining >= 2 && args::is(a, "aggregate") {
            let b = &args[j + 1];
            aggregate = if args::is(b, "sum") {
                Aggregate::Sum
            } else if args::is(b, "min") {
                Aggregate::Min
            } else if args::is(b, "max") {
                Aggregate::Max
            } else {
                return Reply::err(errors::SYNTAX);
            };
            j += 2;
        } else if dst.is_none() && !card && args::is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card && remaining >= 2 && args::is(a, "limit") {
            match args::int(&args[j + 1]) {
                Ok(n) if n >= 0 => limit = n as u64,
                _ => return Reply::err("ERR LIMIT can't be negative"),
            }
            j += 2;
        } else {
            return Reply::err(errors::SYNTAX);
        }
    }

    // Smallest inputs first, as Redis sorts them (a stable sort, as glibc's qsort is): the
    // order in which scores are summed is the same.
    let mut order: Vec<usize> = (0..setnum).collect();
    if op != Op::Diff {
        order.sort_by_key(|&i| lens[i]);
    }
    let weigh = |w: f64, s: f64| {
        let v = w * s;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    // (member, score) of the result, unordered.
    let mut result: Vec<(Box<[u8]>, f64)> = Vec::new();
    match op {
        Op::Inter => {
            let first = order[0];
            if lens[first] > 0 {
                let w = weights[first];
                with_src(ctx, &keys[first], |src| src.for_each(|m, s| result.push((m.into(), weigh(w, s)))));
                for &i in &order[1..] {
                    let w = weights[i];
                    with_src(ctx, &keys[i], |src| {
                        result.retain_mut(|(m, score)| match src.score(m) {
                            Some(v) => {
                                aggregate.apply(score, v * w);
                                true
                            }
                            None => false,
                        })
                    })
                    .unwrap_or_else(|| result.clear());
                }
            }
        }
        Op::Union => {
            let mut acc: HashMap<Box<[u8]>, f64> = HashMap::new();
            for &i in &order {
                let w = weights[i];
                with_src(ctx, &keys[i], |src| {
                    src.for_each(|m, s| {
                        let v = weigh(w, s);
                        match acc.get_mut(m) {
                            Some(t) => aggregate.apply(t, v),
                            None => {
                                acc.insert(m.into(), v);
                            }
                        }
                    })
                });
            }
            result = acc.into_iter().collect();
        }
        Op::Diff => {
            if lens[0] > 0 {
                with_src(ctx, &keys[0], |src| src.for_each(|m, s| result.push((m.into(), s))));
                for key in &keys[1..] {
                    with_src(ctx, key, |src| result.retain(|(m, _)| src.score(m).is_none()));
                }
            }
        }
    }

    if card {
        let n = result.len() as u64;
        return Reply::Integer(if limit > 0 { n.min(limit) } else { n } as i64);
    }
    let mut z = ZSet::new();
    for (m, s) in &result {
        z.insert(m, *s);
    }
    match dst {
        Some(dst) => store(ctx, dst, z),
        None => {
            let resp = ctx.client.resp;
            let mut out = Vec::new();
            for (m, s) in z.iter() {
                push_entry(&mut out, resp, m, s, withscores);
            }
            Reply::Array(out)
        }
    }
}

/// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]`
pub fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (keys, max, count) = match zmpop_args(args, 1) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    match mpop(ctx, keys, max, count) {
        Some(reply) => reply,
        None => Reply::NullArray,
    }
}

/// `zmpopGenericCommand`'s parsing, `numkeys` at `numkeys_at`: the keys, MAX, the count.
pub(crate) fn zmpop_args(args: &[Bytes], numkeys_at: usize) -> Result<(&[Bytes], bool, u64), Reply> {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = match args::int(&args[numkeys_at]) {
        Ok(n) if n >= 1 => n as u64,
        _ => return Err(Reply::err(NUMKEYS)),
    };
    let where_idx = numkeys.saturating_add(numkeys_at as u64 + 1);
    if where_idx >= args.len() as u64 {
        return Err(Reply::err(errors::SYNTAX));
    }
    let where_idx = where_idx as usize;
    let max = if args::is(&args[where_idx], "min") {
        false
    } else if args::is(&args[where_idx], "max") {
        true
    } else {
        return Err(Reply::err(errors::SYNTAX));
    };
    let mut count: Option<u64> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && args::is(&args[j], "count") && j + 1 < args.len() {
            match args::int(&args[j + 1]) {
                Ok(n) if n >= 1 => count = Some(n as u64),
                _ => return Err(Reply::err("ERR count should be greater than 0")),
            }
            j += 2;
        } else {
            return Err(Reply::err(errors::SYNTAX));
        }
    }
    Ok((&args[numkeys_at + 1..where_idx], max, count.unwrap_or(1)))
}

/// Pops from the first non-empty set of `keys`: `[key, [[member, score], ...]]`, None if
/// every key is missing (WRONGTYPE as the reply). Propagated as `ZPOPMIN|ZPOPMAX key n`, n
/// the number popped, as Redis does.
pub(crate) fn mpop(ctx: &mut Ctx, keys: &[Bytes], max: bool, count: u64) -> Option<Reply> {
    for key in keys {
        match pop(ctx, key, max, count) {
            Ok(None) => continue,
            Err(r) => return Some(r),
            Ok(Some(popped)) => {
                let n = itoa::Buffer::new().format(popped.len()).as_bytes().to_vec();
                ctx.propagate_one(&[if max { b"ZPOPMAX" } else { b"ZPOPMIN" }, key, &n]);
                let items = popped
                    .into_iter()
                    .map(|(m, s)| Reply::Array(vec![Reply::bulk_copy(&m), Reply::Double(s)]))
                    .collect();
                return Some(Reply::Array(vec![Reply::bulk(key.clone()), Reply::Array(items)]));
            }
        }
    }
    None
}
