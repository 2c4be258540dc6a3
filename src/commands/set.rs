//! Set commands, with Redis 7.0's options, replies and error strings:
//! SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE SINTER SINTERCARD
//! SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN.
//!
//! Each handler follows the order of checks of its counterpart in Redis's `t_set.c`. Results
//! of SINTER/SUNION/SDIFF are built as Redis builds them (a new set, an intset while it can
//! be), so an all-integer result replies in ascending order exactly like Redis.

use super::collection::{is_other_type, read, write, wrongtype};
use super::hash::{matches, range_long, scan_options, scan_reply, MAX_RANDOM_REPEATS};
use super::table::{CommandSpec, Flags};
use super::{args, errors, Ctx};
use crate::store::types::{Collection, Set};
use bytes::Bytes;
use ferrocache_protocol::Reply;
use rand::Rng;

const RO_FAST: Flags = Flags::READONLY.or(Flags::FAST);

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, sadd)
        .flags(Flags::WRITE.or(Flags::DENYOOM).or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("set", "1.0.0", "Adds one or more members to a set", "key member [member ...]")
        .acl(&["write", "set", "fast"]),
    CommandSpec::new("srem", -3, srem)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("set", "1.0.0", "Removes one or more members from a set", "key member [member ...]")
        .acl(&["write", "set", "fast"]),
    CommandSpec::new("smembers", 2, smembers)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("set", "1.0.0", "Returns all members of a set", "key")
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sismember", 3, sismember)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("set", "1.0.0", "Determines whether a member belongs to a set", "key member")
        .acl(&["read", "set", "fast"]),
    CommandSpec::new("smismember", -3, smismember)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("set", "6.2.0", "Determines whether multiple members belong to a set", "key member [member ...]")
        .acl(&["read", "set", "fast"]),
    CommandSpec::new("scard", 2, scard)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("set", "1.0.0", "Returns the number of members in a set", "key")
        .acl(&["read", "set", "fast"]),
    CommandSpec::new("spop", -2, spop)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("set", "1.0.0", "Returns one or more random members from a set after removing them", "key [count]")
        .acl(&["write", "set", "fast"]),
    CommandSpec::new("srandmember", -2, srandmember)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("set", "1.0.0", "Get one or multiple random members from a set", "key [count]")
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("smove", 4, smove)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 2, 1)
        .doc("set", "1.0.0", "Moves a member from one set to another", "source destination member")
        .acl(&["write", "set", "fast"]),
    CommandSpec::new("sinter", -2, sinter)
        .flags(Flags::READONLY)
        .keys(1, -1, 1)
        .doc("set", "1.0.0", "Returns the intersect of multiple sets", "key [key ...]")
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sintercard", -3, sintercard)
        .flags(Flags::READONLY)
        .keys(0, 0, 0)
        .movable_keys(sintercard_keys)
        .doc(
            "set",
            "7.0.0",
            "Returns the number of members of the intersect of multiple sets",
            "numkeys key [key ...] [LIMIT limit]",
        )
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sinterstore", -3, sinterstore)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, -1, 1)
        .doc("set", "1.0.0", "Stores the intersect of multiple sets in a key", "destination key [key ...]")
        .acl(&["write", "set", "slow"]),
    CommandSpec::new("sunion", -2, sunion)
        .flags(Flags::READONLY)
        .keys(1, -1, 1)
        .doc("set", "1.0.0", "Returns the union of multiple sets", "key [key ...]")
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sunionstore", -3, sunionstore)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, -1, 1)
        .doc("set", "1.0.0", "Stores the union of multiple sets in a key", "destination key [key ...]")
        .acl(&["write", "set", "slow"]),
    CommandSpec::new("sdiff", -2, sdiff)
        .flags(Flags::READONLY)
        .keys(1, -1, 1)
        .doc("set", "1.0.0", "Returns the difference of multiple sets", "key [key ...]")
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sdiffstore", -3, sdiffstore)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, -1, 1)
        .doc("set", "1.0.0", "Stores the difference of multiple sets in a key", "destination key [key ...]")
        .acl(&["write", "set", "slow"]),
    CommandSpec::new("sscan", -3, sscan)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("set", "2.8.0", "Iterates over members of a set", "key cursor [MATCH pattern] [COUNT count]")
        .acl(&["read", "set", "slow"]),
];

// ---------------------------------------------------------------------------------------
// Helpers

fn max_intset(ctx: &Ctx) -> usize {
    ctx.shared.hot.encoding.set_intset_entries()
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

fn members_reply(s: &Set) -> Reply {
    Reply::Set(s.iter().map(bulk).collect())
}

/// SINTERCARD's `numkeys` as Redis checks it, with the number of keys it names.
fn sintercard_numkeys(args: &[Bytes]) -> Result<usize, Reply> {
    let n = range_long(&args[1], 1, i64::MAX, Some(errors::NUMKEYS_POSITIVE))?;
    if n > (args.len() - 2) as i64 {
        return Err(Reply::err(errors::NUMKEYS_TOO_MANY));
    }
    Ok(n as usize)
}

/// The keys of a SINTERCARD request: `numkeys` of them after it (none if it is invalid: the
/// handler then replies with the error before touching any key).
fn sintercard_keys(args: &[Bytes]) -> Vec<usize> {
    match args.get(1).map(|_| sintercard_numkeys(args)) {
        Some(Ok(n)) => (2..2 + n).collect(),
        _ => Vec::new(),
    }
}

/// The set at `key` without counting a hit or touching it (after [`lookup_sets`] did).
fn peek_set<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a Set> {
    let db = ctx.db();
    ctx.ks.peek(db, key).and_then(|e| Set::of(&e.value))
}

/// `lookupKeyRead` + `checkType` of every key, in order, stopping at the first of another
/// type: each set's size, `None` for a missing key.
fn lookup_sets(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Vec<Option<usize>>, Reply> {
    keys.iter().map(|k| read::<Set>(ctx, k).map(|s| s.map(Set::len))).collect()
}

/// Stores `result` at `dst` (replacing whatever was there, TTL included) or deletes `dst` if
/// it is empty: the STORE variants' reply is the stored size.
fn store(ctx: &mut Ctx, dst: &[u8], result: Set) -> Reply {
    let db = ctx.db();
    let n = result.len();
    if n > 0 {
        ctx.ks.insert(db, dst, result.into_value(), 0);
    } else {
        ctx.ks.remove(db, dst);
    }
    Reply::Integer(n as i64)
}

/// The intersection (`sinterGenericCommand`): `None` when a key is missing (an empty
/// result). Iterates the smallest set and keeps what every other one holds, stopping once
/// `limit` (0: none) members are found.
fn intersect(ctx: &mut Ctx, keys: &[Bytes], limit: usize) -> Result<Option<Vec<Bytes>>, Reply> {
    let sizes = lookup_sets(ctx, keys)?;
    if sizes.iter().any(Option::is_none) {
        return Ok(None);
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let first = &keys[order[0]];
    let mut candidates: Vec<Bytes> =
        peek_set(ctx, first).expect("looked up").iter().map(Bytes::copy_from_slice).collect();
    for &i in &order[1..] {
        if keys[i] == *first {
            continue;
        }
        let other = peek_set(ctx, &keys[i]).expect("looked up");
        candidates.retain(|m| other.contains(m));
        if candidates.is_empty() {
            break;
        }
    }
    if limit > 0 {
        candidates.truncate(limit);
    }
    Ok(Some(candidates))
}

/// SUNION / SDIFF (`sunionDiffGenericCommand`) into a new set.
fn union_or_diff(ctx: &mut Ctx, keys: &[Bytes], diff: bool) -> Result<Set, Reply> {
    let sizes = lookup_sets(ctx, keys)?;
    let max = max_intset(ctx);
    let mut result = Set::new();
    if !diff {
        for (k, size) in keys.iter().zip(&sizes) {
            if size.is_some() {
                for m in peek_set(ctx, k).expect("looked up").iter() {
                    result.insert_limited(m, max);
                }
            }
        }
        return Ok(result);
    }
    if sizes[0].is_none() || keys[1..].contains(&keys[0]) {
        return Ok(result);
    }
    let mut candidates: Vec<Bytes> =
        peek_set(ctx, &keys[0]).expect("looked up").iter().map(Bytes::copy_from_slice).collect();
    for (k, size) in keys[1..].iter().zip(&sizes[1..]) {
        if size.is_some() {
            let other = peek_set(ctx, k).expect("looked up");
            candidates.retain(|m| !other.contains(m));
        }
    }
    for m in candidates {
        result.insert_limited(&m, max);
    }
    Ok(result)
}

// ---------------------------------------------------------------------------------------
// Single-key commands

/// `SADD key member [member ...]`: members added.
fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let max = max_intset(ctx);
    let r = write::<Set, _>(ctx, &args[1], true, |s| {
        let added = args[2..].iter().filter(|m| s.insert_limited(m, max)).count();
        (added, added > 0)
    });
    match r {
        Err(e) => e,
        Ok(n) => Reply::Integer(n.unwrap_or(0) as i64),
    }
}

/// `SREM key member [member ...]`: members removed.
fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = write::<Set, _>(ctx, &args[1], false, |s| {
        let mut removed = 0;
        for m in &args[2..] {
            if s.remove(m) {
                removed += 1;
                if s.is_empty() {
                    break;
                }
            }
        }
        (removed, removed > 0)
    });
    match r {
        Err(e) => e,
        Ok(n) => Reply::Integer(n.unwrap_or(0)),
    }
}

/// `SMEMBERS key` (Redis 7.0 serves it as a one-key SINTER: a set reply).
fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Set>(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Set(Vec::new()),
        Ok(Some(s)) => members_reply(s),
    }
}

/// `SISMEMBER key member`.
fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Set>(ctx, &args[1]) {
        Err(e) => e,
        Ok(s) => Reply::Integer(s.is_some_and(|s| s.contains(&args[2])) as i64),
    }
}

/// `SMISMEMBER key member [member ...]`: a missing key is an empty set.
fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Set>(ctx, &args[1]) {
        Err(e) => e,
        Ok(s) => {
            Reply::Array(args[2..].iter().map(|m| Reply::Integer(s.is_some_and(|s| s.contains(m)) as i64)).collect())
        }
    }
}

/// `SCARD key`.
fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Set>(ctx, &args[1]) {
        Err(e) => e,
        Ok(s) => Reply::Integer(s.map_or(0, Set::len) as i64),
    }
}

/// `SPOP key [count]`: removes and returns random members. Propagated as `SREM key member`
/// per member, or `DEL key` when the count takes the whole set, as Redis does.
fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::err(errors::SYNTAX);
    }
    if args.len() == 2 {
        let r = write::<Set, _>(ctx, &args[1], false, |s| {
            let i = rand::thread_rng().gen_range(0..s.len());
            let m = Bytes::copy_from_slice(s.get_index(i).expect("index below len"));
            s.remove(&m);
            (m, true)
        });
        return match r {
            Err(e) => e,
            Ok(None) => Reply::Null,
            Ok(Some(m)) => {
                ctx.propagate_one(&[b"SREM", &args[1], &m]);
                Reply::Bulk(m)
            }
        };
    }
    let count = match range_long(&args[2], 0, i64::MAX, Some(errors::MUST_BE_POSITIVE)) {
        Ok(n) => n as u64,
        Err(e) => return e,
    };
    let db = ctx.db();
    match ctx.ks.get_for_write(db, &args[1]) {
        None => return Reply::Set(Vec::new()),
        Some(e) if Set::of(&e.value).is_none() => return wrongtype(),
        Some(_) => {}
    }
    if count == 0 {
        return Reply::Set(Vec::new());
    }
    let key = &args[1];
    let r = write::<Set, _>(ctx, key, false, |s| {
        let size = s.len();
        if count >= size as u64 {
            let all: Vec<Bytes> = s.iter().map(Bytes::copy_from_slice).collect();
            for m in &all {
                s.remove(m);
            }
            return ((all, true), true);
        }
        let mut rng = rand::thread_rng();
        let picked: Vec<Bytes> = rand::seq::index::sample(&mut rng, size, count as usize)
            .into_iter()
            .map(|i| Bytes::copy_from_slice(s.get_index(i).expect("index below len")))
            .collect();
        for m in &picked {
            s.remove(m);
        }
        ((picked, false), true)
    });
    match r {
        Err(e) => e,
        Ok(None) => Reply::Set(Vec::new()),
        Ok(Some((members, whole))) => {
            if ctx.propagating() {
                let commands = if whole {
                    vec![vec![Bytes::from_static(b"DEL"), key.clone()]]
                } else {
                    members.iter().map(|m| vec![Bytes::from_static(b"SREM"), key.clone(), m.clone()]).collect()
                };
                ctx.propagate_as(commands);
            }
            Reply::Set(members.into_iter().map(Reply::Bulk).collect())
        }
    }
}

/// `SRANDMEMBER key [count]`: like HRANDFIELD (positive: distinct, negative: repeats).
fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::err(errors::SYNTAX);
    }
    if args.len() == 2 {
        return match read::<Set>(ctx, &args[1]) {
            Err(e) => e,
            Ok(None) => Reply::Null,
            Ok(Some(s)) => {
                let i = rand::thread_rng().gen_range(0..s.len());
                s.get_index(i).map_or(Reply::Null, bulk)
            }
        };
    }
    let l = match range_long(&args[2], -i64::MAX, i64::MAX, None) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let s = match read::<Set>(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(Vec::new()),
        Ok(Some(s)) => s,
    };
    let count = l.unsigned_abs();
    let size = s.len();
    let mut rng = rand::thread_rng();
    let out = if count == 0 {
        Vec::new()
    } else if l < 0 || count == 1 {
        if count > MAX_RANDOM_REPEATS {
            return Reply::err(errors::OUT_OF_RANGE);
        }
        let members: Option<Vec<&[u8]>> = (!s.has_fast_index()).then(|| s.iter().collect());
        let pick = |i: usize| members.as_ref().map_or_else(|| s.get_index(i).expect("index below len"), |m| m[i]);
        (0..count).map(|_| bulk(pick(rng.gen_range(0..size)))).collect()
    } else if count >= size as u64 {
        s.iter().map(bulk).collect()
    } else {
        rand::seq::index::sample(&mut rng, size, count as usize)
            .into_iter()
            .map(|i| bulk(s.get_index(i).expect("index below len")))
            .collect()
    };
    Reply::Array(out)
}

/// `SMOVE source destination member`.
fn smove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let db = ctx.db();
    let src_type_ok = match ctx.ks.get_for_write(db, src) {
        None => return Reply::Integer(0),
        Some(e) => Set::of(&e.value).is_some(),
    };
    if !src_type_ok || is_other_type::<Set>(ctx, dst) {
        return wrongtype();
    }
    if src == dst {
        return Reply::Integer(peek_set(ctx, src).is_some_and(|s| s.contains(member)) as i64);
    }
    let removed = write::<Set, _>(ctx, src, false, |s| {
        let r = s.remove(member);
        (r, r)
    });
    if !matches!(removed, Ok(Some(true))) {
        return Reply::Integer(0);
    }
    let max = max_intset(ctx);
    if let Err(e) = write::<Set, _>(ctx, dst, true, |s| {
        let added = s.insert_limited(member, max);
        (added, added)
    }) {
        return e;
    }
    Reply::Integer(1)
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`.
fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = super::keyspace::parse_cursor(&args[2]) else {
        return Reply::err(errors::INVALID_CURSOR);
    };
    let s = match read::<Set>(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return scan_reply(0, Vec::new()),
        Ok(Some(s)) => s,
    };
    let (count, pattern) = match scan_options(&args[3..]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let mut out = Vec::new();
    let next = s.scan(cursor, count, |m| {
        if matches(pattern, m) {
            out.push(bulk(m));
        }
    });
    scan_reply(next, out)
}

// ---------------------------------------------------------------------------------------
// Multi-key commands

/// `SINTER key [key ...]`: a set reply, in the smallest set's order.
fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match intersect(ctx, &args[1..], 0) {
        Err(e) => e,
        Ok(None) => Reply::Set(Vec::new()),
        Ok(Some(members)) => Reply::Set(members.into_iter().map(Reply::Bulk).collect()),
    }
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`.
fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let numkeys = match sintercard_numkeys(args) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < args.len() {
        if args::is(&args[j], "limit") && j + 1 < args.len() {
            j += 1;
            match range_long(&args[j], 0, i64::MAX, Some(errors::LIMIT_NEGATIVE)) {
                Ok(n) => limit = usize::try_from(n).unwrap_or(usize::MAX),
                Err(e) => return e,
            }
        } else {
            return Reply::err(errors::SYNTAX);
        }
        j += 1;
    }
    match intersect(ctx, &args[2..2 + numkeys], limit) {
        Err(e) => e,
        Ok(members) => Reply::Integer(members.map_or(0, |m| m.len()) as i64),
    }
}

/// `SINTERSTORE destination key [key ...]`.
fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match intersect(ctx, &args[2..], 0) {
        Err(e) => e,
        Ok(members) => {
            let max = max_intset(ctx);
            let mut result = Set::new();
            for m in members.unwrap_or_default() {
                result.insert_limited(&m, max);
            }
            store(ctx, &args[1], result)
        }
    }
}

/// `SUNION key [key ...]`.
fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match union_or_diff(ctx, &args[1..], false) {
        Err(e) => e,
        Ok(s) => members_reply(&s),
    }
}

/// `SUNIONSTORE destination key [key ...]`.
fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match union_or_diff(ctx, &args[2..], false) {
        Err(e) => e,
        Ok(s) => store(ctx, &args[1], s),
    }
}

/// `SDIFF key [key ...]`: the first set less every other.
fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match union_or_diff(ctx, &args[1..], true) {
        Err(e) => e,
        Ok(s) => members_reply(&s),
    }
}

/// `SDIFFSTORE destination key [key ...]`.
fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match union_or_diff(ctx, &args[2..], true) {
        Err(e) => e,
        Ok(s) => store(ctx, &args[1], s),
    }
}

/// Whether `arg` is a canonical integer (an intset member): for tests of encodings.
#[cfg(test)]
fn is_int(arg: &str) -> bool {
    crate::store::parse_i64_strict(arg.as_bytes()).is_some()
}

#[cfg(test)]
mod tests {
    use super::is_int;
    use crate::commands::testing::{bulk, err, Harness};
    use ferrocache_protocol::Reply;
    use std::collections::HashSet;

    fn members(r: Reply) -> Vec<String> {
        match r {
            Reply::Array(items) | Reply::Set(items) => {
                items.into_iter().map(|i| String::from_utf8(i.bulk_bytes().expect("bulk").to_vec()).unwrap()).collect()
            }
            other => panic!("not an aggregate: {other:?}"),
        }
    }

    fn fill(h: &mut Harness, key: &str, n: usize, prefix: &str) {
        for i in 0..n {
            h.run(&["SADD", key, &format!("{prefix}{i}")]);
        }
    }

    #[test]
    fn spop_removes_what_it_returns() {
        let mut h = Harness::new();
        for (key, prefix) in [("ints", ""), ("strs", "m")] {
            fill(&mut h, key, 100, prefix);
            let popped = members(h.run(&["SPOP", key, "30"]));
            assert_eq!(popped.len(), 30);
            assert_eq!(popped.iter().collect::<HashSet<_>>().len(), 30, "distinct");
            assert_eq!(h.run(&["SCARD", key]), Reply::Integer(70));
            for m in &popped {
                assert_eq!(h.run(&["SISMEMBER", key, m]), Reply::Integer(0));
            }
            let one = h.run(&["SPOP", key]);
            let one = String::from_utf8(one.bulk_bytes().unwrap().to_vec()).unwrap();
            assert!(!popped.contains(&one));
            assert_eq!(h.run(&["SCARD", key]), Reply::Integer(69));
            // A count past the size takes everything and deletes the key.
            assert_eq!(members(h.run(&["SPOP", key, "1000"])).len(), 69);
            assert_eq!(h.run(&["EXISTS", key]), Reply::Integer(0));
        }
        assert_eq!(h.run(&["SPOP", "s", "-1"]), err("ERR value is out of range, must be positive"));
    }

    #[test]
    fn spop_propagates_srem_or_del() {
        let mut h = Harness::new();
        fill(&mut h, "s", 10, "");
        let effects = h.capture_effects();
        let one = h.run(&["SPOP", "s"]);
        let one = String::from_utf8(one.bulk_bytes().unwrap().to_vec()).unwrap();
        h.run(&["SPOP", "s", "2"]);
        h.run(&["SPOP", "s", "100"]);
        let log = effects.take().join("\n");
        assert!(log.contains(&format!("SREM s {one}")), "{log}");
        assert_eq!(log.matches("SREM s").count(), 3, "{log}");
        assert!(log.contains("DEL s"), "{log}");
    }

    #[test]
    fn srandmember_counts() {
        let mut h = Harness::new();
        fill(&mut h, "big", 1000, "m");
        fill(&mut h, "small", 5, "");
        for (key, n) in [("big", 1000), ("small", 5)] {
            for count in [1usize, 3, 4, 5, 400, 999, 2000] {
                let got = members(h.run(&["SRANDMEMBER", key, &count.to_string()]));
                assert_eq!(got.len(), count.min(n));
                assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "distinct for {count}");
            }
            let got = members(h.run(&["SRANDMEMBER", key, "-20"]));
            assert_eq!(got.len(), 20);
        }
        let got = members(h.run(&["SRANDMEMBER", "small", "-100"]));
        assert!(got.iter().collect::<HashSet<_>>().len() <= 5 && got.iter().all(|m| is_int(m)));
        assert_eq!(h.run(&["SRANDMEMBER", "small", "-9223372036854775807"]), err("ERR value is out of range"));
        assert_eq!(h.run(&["SCARD", "small"]), Reply::Integer(5), "reads change nothing");
    }

    #[test]
    fn sscan_walks_a_hashtable_set() {
        let mut h = Harness::new();
        fill(&mut h, "s", 700, "m");
        assert_eq!(h.run(&["OBJECT", "ENCODING", "s"]), bulk("hashtable"));
        let mut seen = HashSet::new();
        let mut cursor = "0".to_string();
        loop {
            let Reply::Array(parts) = h.run(&["SSCAN", "s", &cursor, "COUNT", "100", "MATCH", "m1*"]) else { panic!() };
            cursor = String::from_utf8(parts[0].bulk_bytes().unwrap().to_vec()).unwrap();
            seen.extend(members(parts[1].clone()));
            h.run(&["SREM", "s", "m5"]);
            if cursor == "0" {
                break;
            }
        }
        let expected: HashSet<String> = (0..700).map(|i| format!("m{i}")).filter(|m| m.starts_with("m1")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn intset_encoding_and_limits() {
        let mut h = Harness::new();
        h.run(&["SADD", "s", "3", "1", "2"]);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "s"]), bulk("intset"));
        assert_eq!(members(h.run(&["SMEMBERS", "s"])), vec!["1", "2", "3"]);
        h.run(&["CONFIG", "SET", "set-max-intset-entries", "3"]);
        h.run(&["SADD", "s", "4"]);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "s"]), bulk("hashtable"));
        h.run(&["SADD", "t", "a"]);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "t"]), bulk("hashtable"));
    }

    #[test]
    fn multi_key_commands_lock_their_keys() {
        // Keys spread over shards: a key the dispatcher did not lock would panic.
        let mut h = Harness::new();
        for i in 0..20 {
            h.run(&["SADD", &format!("k{i}"), "a", "b", &format!("x{i}")]);
        }
        let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        let mut args = vec!["SINTERCARD", "20"];
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(h.run(&args), Reply::Integer(2));
        args.extend(["LIMIT", "1"]);
        assert_eq!(h.run(&args), Reply::Integer(1));
        let mut args = vec!["SUNIONSTORE", "dst"];
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(h.run(&args), Reply::Integer(22));
        assert_eq!(h.run(&["SMOVE", "k1", "k19", "x1"]), Reply::Integer(1));
        assert_eq!(h.run(&["SISMEMBER", "k19", "x1"]), Reply::Integer(1));
        assert_eq!(h.run(&["SINTERCARD", "3", "k1"]), err("ERR Number of keys can't be greater than number of args"));
    }
}
