//! SORT and SORT_RO, as Redis 7.0's `sort.c` runs them.
//!
//! ```text
//! SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] [STORE destination]
//! SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA]
//! ```
//!
//! Copied on purpose from Redis, because clients see it:
//! - numbers are read with C's `strtod` (leading blanks, hex floats, `inf`; an overflow or an
//!   inexact underflow is an error, an empty string is 0), up to the first NUL byte;
//! - ALPHA compares with `strcoll`, which in the C and C.UTF-8 locales orders as `strcmp`
//!   (so up to a NUL byte: "a\0b" ties with "a"), but with STORE it compares whole byte
//!   strings;
//! - C's `strtod` leaves `errno` set after an overflow and Redis never clears it, so after
//!   one such error every numeric SORT of that server thread fails: not copied;
//! - a full sort is glibc's `qsort`, a merge sort, so ties keep their input order; with BY and
//!   a LIMIT narrower than the whole, Redis uses its partial quicksort (`pqsort.c`), which does
//!   not, so [`pqsort`] reproduces it step for step;
//! - BY/GET patterns substitute the first `*` (C-string semantics: a `*` after a NUL byte is not
//!   seen), `->field` reads a hash field, `#` is the element itself.
//!
//! Pattern keys are found at run time, so the command table cannot name their shards:
//! [`needs_all_shards`] makes the dispatcher lock every shard for a request whose BY or GET
//! pattern contains a `*` (the only ones that look keys up), as Redis, single-threaded, reads
//! them all in one atomic step. Without such a pattern SORT locks its key's (and STORE
//! destination's) shards only, like any other command.

use super::table::{CommandSpec, Flags};
use super::{args, errors, Ctx};
use crate::store::types::{Collection, Hash, List};
use crate::store::Value;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::cmp::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sort", -2, sort)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, 1, 1)
        .movable_keys(sort_keys)
        .all_shards_when(needs_all_shards)
        .doc(
            "generic",
            "1.0.0",
            "Sort the elements in a list, set or sorted set",
            "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] \
             [STORE destination]",
        )
        .acl(&["write", "set", "sortedset", "list", "slow", "dangerous"]),
    CommandSpec::new("sort_ro", -2, sort_ro)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .movable_keys(sort_ro_keys)
        .all_shards_when(needs_all_shards)
        .doc(
            "generic",
            "7.0.0",
            "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
            "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA]",
        )
        .acl(&["read", "set", "sortedset", "list", "slow", "dangerous"]),
];

/// `sortGetKeys`: the key, and the last STORE's destination. Options are skipped by their
/// argument counts (LIMIT 2, GET and BY 1); STORE's own argument is not skipped but read as
/// the next option, as Redis does.
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    if args.len() < 2 {
        return Vec::new();
    }
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if args::is(a, "limit") {
            i += 2;
        } else if args::is(a, "get") || args::is(a, "by") {
            i += 1;
        } else if args::is(a, "store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// SORT_RO's only key is the one it sorts (its BY/GET keys are "unknown" in Redis's specs).
fn sort_ro_keys(args: &[Bytes]) -> Vec<usize> {
    if args.len() < 2 {
        Vec::new()
    } else {
        vec![1]
    }
}

/// Whether a request will look keys up by pattern: its options parse (as the handler parses
/// them, so an option's argument is never mistaken for an option) and a GET pattern, or the
/// BY pattern of a sort that is not skipped, has a `*` before any NUL byte (`#` and constant
/// patterns look nothing up).
pub fn needs_all_shards(args: &[Bytes]) -> bool {
    let readonly = args.first().is_some_and(|a| args::is(a, "sort_ro"));
    match parse(args, readonly, false) {
        Ok(o) => {
            let star = |p: &[u8]| args::c_str(p).contains(&b'*');
            (!o.dontsort && o.sortby.is_some_and(star)) || o.gets.iter().any(|g| star(g))
        }
        Err(_) => false,
    }
}

fn sort(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sort_generic(ctx, args, true)
}

/// What the options asked for.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    sortby: Option<&'a [u8]>,
    dontsort: bool,
    store: Option<&'a [u8]>,
    gets: Vec<&'a [u8]>,
}

/// The option loop of `sortCommandGeneric`: the first error met is the reply.
fn parse(args: &[Bytes], readonly: bool, cluster: bool) -> Result<Options<'_>, Reply> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        sortby: None,
        dontsort: false,
        store: None,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if args::is(a, "asc") {
            o.desc = false;
        } else if args::is(a, "desc") {
            o.desc = true;
        } else if args::is(a, "alpha") {
            o.alpha = true;
        } else if args::is(a, "limit") && left >= 2 {
            o.limit_start = args::int(&args[j + 1])?;
            o.limit_count = args::int(&args[j + 2])?;
            j += 2;
        } else if !readonly && args::is(a, "store") && left >= 1 {
            o.store = Some(&args[j + 1]);
            j += 1;
        } else if args::is(a, "by") && left >= 1 {
            let pattern = &args[j + 1];
            o.sortby = Some(pattern);
            // A constant pattern: nothing to sort by, nor to look up.
            if !args::c_str(pattern).contains(&b'*') {
                o.dontsort = true;
            } else if cluster {
                return Err(Reply::err("ERR BY option of SORT denied in Cluster mode."));
            }
            j += 1;
        } else if args::is(a, "get") && left >= 1 {
            if cluster {
                return Err(Reply::err("ERR GET option of SORT denied in Cluster mode."));
            }
            o.gets.push(&args[j + 1]);
            j += 1;
        } else {
            return Err(Reply::err(errors::SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

/// One element to sort: its bytes, and what it sorts by.
struct Item {
    obj: Vec<u8>,
    score: f64,
    /// ALPHA with BY: the looked-up value (`None`: missing, sorts first).
    cmp: Option<Vec<u8>>,
}

impl Item {
    fn new(obj: &[u8]) -> Item {
        Item { obj: obj.to_vec(), score: 0.0, cmp: None }
    }
}

/// `sortCompare`. ALPHA compares with `strcoll` (C strings: up to a NUL byte; the C and C.UTF-8 locales
/// order bytes like `strcmp`), except for STORE, which compares whole byte strings.
fn compare(a: &Item, b: &Item, alpha: bool, bypattern: bool, store: bool, desc: bool) -> Ordering {
    let text = |x: &[u8], y: &[u8]| if store { x.cmp(y) } else { args::c_str(x).cmp(args::c_str(y)) };
    let cmp = if !alpha {
        if a.score > b.score {
            Ordering::Greater
        } else if a.score < b.score {
            Ordering::Less
        } else {
            // Equal scores: by the elements' bytes, so the result is deterministic.
            a.obj.cmp(&b.obj)
        }
    } else if bypattern {
        match (&a.cmp, &b.cmp) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => text(x, y),
        }
    } else {
        text(&a.obj, &b.obj)
    };
    if desc {
        cmp.reverse()
    } else {
        cmp
    }
}

fn sort_generic(ctx: &mut Ctx, args: &[Bytes], readonly: bool) -> Reply {
    let o = match parse(args, readonly, ctx.shared.cluster().is_some()) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (mut alpha, mut dontsort, mut sortby) = (o.alpha, o.dontsort, o.sortby);
    let db = ctx.db();
    let write = o.store.is_some();

    // The elements, copied out: the pattern lookups below need the keyspace again.
    enum Kind {
        List,
        Set,
        ZSet,
    }
    // A missing key sorts as an empty list.
    let (kind, len) = match ctx.ks.get(db, &args[1]).map(|e| &e.value) {
        None => (Kind::List, 0),
        Some(Value::List(l)) => (Kind::List, l.len() as i64),
        Some(Value::Set(s)) => (Kind::Set, s.len() as i64),
        Some(Value::ZSet(z)) => (Kind::ZSet, z.len() as i64),
        Some(_) => return Reply::err(errors::WRONGTYPE),
    };
    if matches!(kind, Kind::ZSet) {
        // Redis converts the set it sorts to a skiplist, as a side effect. Through `modify`:
        // a set shared with a snapshot is copied first, and the copy's size is accounted.
        ctx.ks.modify(db, &args[1], |e| {
            if let Value::ZSet(z) = &mut e.value {
                if !z.is_big() {
                    std::sync::Arc::make_mut(z).convert_to_skiplist();
                }
            }
            ((), false)
        });
    }
    // A set's order is its encoding's; an unsorted SORT STORE of one is made ALPHA so that
    // what is stored (and replicated) does not depend on it.
    if dontsort && matches!(kind, Kind::Set) && o.store.is_some() {
        dontsort = false;
        alpha = true;
        sortby = None;
    }

    // LIMIT, clamped to the collection's size (no overflow, no huge allocation).
    let mut start = o.limit_start.clamp(0, len);
    let count = o.limit_count.clamp(-1, len);
    let mut end = if count < 0 { len - 1 } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    let mut vector: Vec<Item> = Vec::new();
    let ranged = matches!(kind, Kind::List | Kind::ZSet) && dontsort && (start != 0 || end != len - 1);
    if dontsort && matches!(kind, Kind::List | Kind::ZSet) {
        // The collection's own order (reversed for DESC), only the LIMIT range read.
        let take = if ranged { (end - start + 1).max(0) as usize } else { len as usize };
        let skip = if ranged { start.max(0) as usize } else { 0 };
        match ctx.ks.peek(db, &args[1]).map(|e| &e.value) {
            Some(Value::List(l)) if take > 0 => {
                if o.desc {
                    let top = l.len() - 1 - skip;
                    l.for_each_rev_in(top + 1 - take, top + 1, |e| vector.push(Item::new(e)));
                } else {
                    l.for_each_in(skip, skip + take, |e| vector.push(Item::new(e)));
                }
            }
            Some(Value::ZSet(z)) if take > 0 => {
                if o.desc {
                    let top = z.len() - 1 - skip;
                    vector.extend(z.iter_down_from(top).take(take).map(|(m, _)| Item::new(m)));
                } else {
                    vector.extend(z.iter_from(skip).take(take).map(|(m, _)| Item::new(m)));
                }
            }
            _ => {}
        }
        if ranged {
            end -= start;
            start = 0;
        }
    } else {
        match ctx.ks.peek(db, &args[1]).map(|e| &e.value) {
            Some(Value::List(l)) => l.for_each(|e| vector.push(Item::new(e))),
            Some(Value::Set(s)) => vector.extend(s.iter().map(Item::new)),
            Some(Value::ZSet(z)) => vector.extend(z.iter().map(|(m, _)| Item::new(m))),
            _ => {}
        }
    }

    let mut conversion_error = false;
    if !dontsort {
        for item in vector.iter_mut() {
            let byval = match sortby {
                Some(pattern) => match lookup_by_pattern(ctx, db, pattern, &item.obj, write) {
                    Some(v) => v,
                    None => continue,
                },
                None => {
                    if !alpha && !conversion_error {
                        match strtod(&item.obj) {
                            Some(v) => item.score = v,
                            None => conversion_error = true,
                        }
                    }
                    continue;
                }
            };
            if alpha {
                item.cmp = Some(byval);
            } else if !conversion_error {
                match strtod(&byval) {
                    Some(v) => item.score = v,
                    None => conversion_error = true,
                }
            }
        }
        if !conversion_error {
            let bypattern = sortby.is_some();
            let store = o.store.is_some();
            let cmp = |a: &Item, b: &Item| compare(a, b, alpha, bypattern, store, o.desc);
            if bypattern && (start != 0 || end != len - 1) {
                pqsort(&mut vector, &cmp, start.max(0) as usize, end.max(-1));
            } else {
                // glibc's qsort is a merge sort: stable, like this one.
                vector.sort_by(cmp);
            }
        }
    }

    if conversion_error {
        return Reply::err("ERR One or more scores can't be converted into double");
    }
    let range = if end >= start { &vector[start as usize..=end as usize] } else { &vector[..0] };
    let outputlen = if o.gets.is_empty() { range.len() } else { o.gets.len() * range.len() };
    match o.store {
        None => {
            let mut out = Vec::with_capacity(outputlen);
            for item in range {
                if o.gets.is_empty() {
                    out.push(Reply::Bulk(Bytes::copy_from_slice(&item.obj)));
                }
                for pattern in &o.gets {
                    out.push(match lookup_by_pattern(ctx, db, pattern, &item.obj, false) {
                        Some(v) => Reply::Bulk(Bytes::from(v)),
                        None => Reply::Null,
                    });
                }
            }
            Reply::Array(out)
        }
        Some(dest) => {
            let mut list = List::new();
            for item in range {
                if o.gets.is_empty() {
                    list.push_back(&item.obj);
                }
                for pattern in &o.gets {
                    let v = lookup_by_pattern(ctx, db, pattern, &item.obj, true).unwrap_or_default();
                    list.push_back(&v);
                }
            }
            if outputlen > 0 {
                // A new list serves the clients blocked on it (Redis's `setKey` → `dbAdd`): the
                // store notes it ready (`commands::blocking`).
                ctx.ks.insert(db, dest, list.into_value(), 0);
            } else {
                ctx.ks.delete(db, dest);
            }
            Reply::Integer(outputlen as i64)
        }
    }
}

/// `lookupKeyByPattern`: `#` is `subst` itself; otherwise the first `*` of the pattern is
/// replaced by `subst` and the key read: a string's value, or with `->field` a hash field.
/// `None` for a missing key, field, or a key of another type. Works on the pattern as a C
/// string up to its first NUL for finding `*` and `->`, on all of it for the rest.
fn lookup_by_pattern(ctx: &mut Ctx, db: usize, pattern: &[u8], subst: &[u8], write: bool) -> Option<Vec<u8>> {
    if pattern.first() == Some(&b'#') && pattern.get(1).is_none_or(|&b| b == 0) {
        return Some(subst.to_vec());
    }
    let c = args::c_str(pattern);
    let star = c.iter().position(|&b| b == b'*')?;
    let field_at = c[star + 1..].windows(2).position(|w| w == b"->").map(|f| star + 1 + f);
    // "->" at the very end (of the C string) is part of the key name.
    let field = field_at.filter(|&f| f + 2 < c.len()).map(|f| &pattern[f + 2..]);
    let key_end = match field {
        Some(f) => pattern.len() - f.len() - 2,
        None => pattern.len(),
    };
    let mut key = Vec::with_capacity(star + subst.len() + (key_end - star - 1));
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let entry = if write { ctx.ks.get_for_write(db, &key) } else { ctx.ks.get(db, &key) }?;
    match field {
        Some(field) => Hash::of(&entry.value)?.get(field).map(std::borrow::Cow::into_owned),
        None => entry.value.as_bytes().map(|b| b.to_vec()),
    }
}

/// C's `strtod` as Redis's SORT checks it: the number must run to the end of the string or to
/// a NUL byte; NaN, an overflow to infinity and an inexact underflow (`ERANGE`) are `None`.
/// No number at all leaves C's end pointer at the very start (before any blanks), so only an
/// empty string (or one starting with NUL) reads as 0.
fn strtod(s: &[u8]) -> Option<f64> {
    let r = crate::strtod::strtod(s);
    let at_end = s.get(r.len).is_none_or(|&b| b == 0);
    (at_end && !r.erange && !r.value.is_nan()).then_some(r.value)
}

/// Redis's `pqsort` (NetBSD's `qsort`, Bentley & McIlroy, cut short where a partition lies
/// wholly outside `lrange..=rrange`), on indices: it orders ties differently from a merge
/// sort, and SORT BY … LIMIT shows that. Recursion is an explicit stack of ranges, which
/// visits them in a different order but, the ranges being disjoint, to the same effect.
fn pqsort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering, lrange: usize, rrange: i64) {
    let lrange = lrange as i64;
    let lt = |v: &[T], a: usize, b: usize| cmp(&v[a], &v[b]);
    let outside = |l: usize, r: usize| {
        let (l, r) = (l as i64, r as i64);
        (lrange < l && rrange < l) || (lrange > r && rrange > r)
    };
    let mut stack = vec![(0usize, v.len())];
    while let Some((a, n)) = stack.pop() {
        let insertion = |v: &mut [T]| {
            for m in a + 1..a + n {
                let mut l = m;
                while l > a && lt(v, l - 1, l) == Ordering::Greater {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
        };
        if n < 7 {
            insertion(v);
            continue;
        }
        let med3 = |v: &[T], x: usize, y: usize, z: usize| {
            if lt(v, x, y) == Ordering::Less {
                if lt(v, y, z) == Ordering::Less {
                    y
                } else if lt(v, x, z) == Ordering::Less {
                    z
                } else {
                    x
                }
            } else if lt(v, y, z) == Ordering::Greater {
                y
            } else if lt(v, x, z) == Ordering::Less {
                x
            } else {
                z
            }
        };
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d);
                pm = med3(v, pm - d, pm, pm + d);
                pn = med3(v, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, pl, pm, pn);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        // pc and pd may go one below `a + 1` (to `a`): kept as signed.
        let (mut pc, mut pd) = ((a + n - 1) as i64, (a + n - 1) as i64);
        let mut swapped = false;
        loop {
            while pb as i64 <= pc {
                let c = lt(v, pb, a);
                if c == Ordering::Greater {
                    break;
                }
                if c == Ordering::Equal {
                    swapped = true;
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb as i64 <= pc {
                let c = lt(v, pc as usize, a);
                if c == Ordering::Less {
                    break;
                }
                if c == Ordering::Equal {
                    swapped = true;
                    v.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb as i64 > pc {
                break;
            }
            v.swap(pb, pc as usize);
            swapped = true;
            pb += 1;
            pc -= 1;
        }
        if !swapped {
            insertion(v);
            continue;
        }
        let pn = a + n;
        let vecswap = |v: &mut [T], x: usize, y: usize, r: usize| {
            for k in 0..r {
                v.swap(x + k, y + k);
            }
        };
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let (pc, pd) = (pc as usize, pd as usize);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !outside(a, a + r - 1) {
            stack.push((a, r));
        }
        let r = pd - pc;
        if r > 1 && !outside(pn - r, pn - 1) {
            stack.push((pn - r, r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{bulk, err, Harness};

    fn array(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(|s| bulk(s)).collect())
    }

    #[test]
    fn store_replaces_deletes_and_propagates_only_changes() {
        let mut h = Harness::new();
        h.run(&["rpush", "l", "3", "1", "2"]);
        h.run(&["set", "d", "x", "ex", "100"]);
        h.run(&["sadd", "s", "b", "a", "c"]);
        let log = h.capture_effects();
        assert_eq!(h.run(&["sort", "l", "store", "d"]), Reply::Integer(3));
        assert_eq!(h.run(&["ttl", "d"]), Reply::Integer(-1));
        assert_eq!(h.run(&["lrange", "d", "0", "-1"]), array(&["1", "2", "3"]));
        assert_eq!(h.run(&["sort", "l", "limit", "0", "2"]), array(&["1", "2"]));
        // An empty result deletes the destination; a second time there is nothing to delete.
        assert_eq!(h.run(&["sort", "nokey", "store", "d"]), Reply::Integer(0));
        assert_eq!(h.run(&["exists", "d"]), Reply::Integer(0));
        assert_eq!(h.run(&["sort", "nokey", "store", "d"]), Reply::Integer(0));
        // An unsorted STORE of a set is sorted ALPHA, so what is stored is deterministic.
        assert_eq!(h.run(&["sort", "s", "by", "nosort", "store", "d"]), Reply::Integer(3));
        assert_eq!(h.run(&["lrange", "d", "0", "-1"]), array(&["a", "b", "c"]));
        assert_eq!(h.run(&["sort", "s", "store", "d"]), err("ERR One or more scores can't be converted into double"));
        assert_eq!(log.take(), ["0> sort l store d", "0> sort nokey store d", "0> sort s by nosort store d"]);
    }

    #[test]
    fn wrong_type_comes_after_the_options() {
        let mut h = Harness::new();
        h.run(&["set", "str", "v"]);
        assert_eq!(h.run(&["sort", "str", "limit", "x", "1"]), err(errors::NOT_INTEGER));
        assert_eq!(h.run(&["sort", "str", "by"]), err(errors::SYNTAX));
        assert_eq!(h.run(&["sort", "str"]), err(errors::WRONGTYPE));
        assert_eq!(h.run(&["sort_ro", "str", "store", "d"]), err(errors::SYNTAX));
        assert_eq!(h.run(&["sort", "str", "store", "d"]), err(errors::WRONGTYPE));
    }

    #[test]
    fn huge_limits_are_clamped_to_the_collection() {
        let mut h = Harness::new();
        h.run(&["zadd", "z", "1", "a", "2", "b", "3", "c"]);
        let max = i64::MAX.to_string();
        let min = i64::MIN.to_string();
        assert_eq!(h.run(&["sort", "z", "by", "nosort", "limit", "1", &max]), array(&["b", "c"]));
        assert_eq!(h.run(&["sort", "z", "by", "nosort", "desc", "limit", "1", &max]), array(&["b", "a"]));
        assert_eq!(h.run(&["sort", "z", "alpha", "limit", &min, &max]), array(&["a", "b", "c"]));
        assert_eq!(h.run(&["sort", "z", "alpha", "limit", &max, &max]), array(&[]));
        assert_eq!(h.run(&["sort", "z", "by", "nosort", "limit", "3", "1"]), array(&[]));
    }

    fn b(args: &[&str]) -> Vec<Bytes> {
        args.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn keys_are_the_sorted_key_and_the_last_store() {
        assert_eq!(sort_keys(&b(&["sort", "k"])), vec![1]);
        assert_eq!(sort_keys(&b(&["sort", "k", "store", "a", "store", "b"])), vec![1, 5]);
        // LIMIT's and GET's arguments are skipped, STORE's is read as an option.
        assert_eq!(sort_keys(&b(&["sort", "k", "get", "store", "x"])), vec![1]);
        assert_eq!(sort_keys(&b(&["sort", "k", "limit", "store", "x", "y"])), vec![1]);
        assert_eq!(sort_keys(&b(&["sort", "k", "store", "store", "d"])), vec![1, 4]);
        assert_eq!(sort_keys(&b(&["sort", "k", "store"])), vec![1]);
    }

    #[test]
    fn only_star_patterns_need_every_shard() {
        assert!(!needs_all_shards(&b(&["sort", "k", "by", "nosort", "get", "#", "limit", "0", "1"])));
        assert!(needs_all_shards(&b(&["sort", "k", "by", "w_*"])));
        assert!(needs_all_shards(&b(&["sort", "k", "get", "h_*->f"])));
        assert!(!needs_all_shards(&b(&["sort", "k", "store", "a*"])));
        // An option's argument is not an option: STORE's key "limit" leaves BY its pattern.
        assert!(needs_all_shards(&b(&["sort", "k", "store", "limit", "by", "w_*"])));
        assert!(needs_all_shards(&b(&["sort", "k", "limit", "0", "1", "get", "x*"])));
        assert!(!needs_all_shards(&b(&["sort", "k", "by", "w_*", "by", "nosort"])));
        assert!(!needs_all_shards(&b(&["sort", "k", "by", "w_*", "foo"])));
        assert!(!needs_all_shards(&b(&["sort_ro", "k", "store", "d", "by", "w_*"])));
        assert!(!needs_all_shards(&[
            Bytes::from_static(b"sort"),
            Bytes::from_static(b"k"),
            Bytes::from_static(b"by"),
            Bytes::from_static(b"w\0*")
        ]));
    }

    #[test]
    fn strtod_follows_c() {
        assert_eq!(strtod(b""), Some(0.0));
        assert_eq!(strtod(b" 5"), Some(5.0));
        assert_eq!(strtod(b"5 "), None);
        assert_eq!(strtod(b"5\0x"), Some(5.0));
        assert_eq!(strtod(b"0x10"), Some(16.0));
        assert_eq!(strtod(b"0X1.8P1"), Some(3.0));
        assert_eq!(strtod(b"0x"), None);
        assert_eq!(strtod(b"1e"), None);
        assert_eq!(strtod(b"1e400"), None);
        assert_eq!(strtod(b"1e-400"), None);
        assert_eq!(strtod(b"1e-310"), None);
        assert_eq!(strtod(b"0e-400"), Some(0.0));
        assert_eq!(strtod(b"0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(strtod(b"-infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod(b"infinit"), None);
        assert_eq!(strtod(b"nan"), None);
        assert_eq!(strtod(b".5"), Some(0.5));
        assert_eq!(strtod(b"5."), Some(5.0));
        assert_eq!(strtod(b"."), None);
        assert_eq!(strtod(b"+3"), Some(3.0));
        assert_eq!(strtod(b"-"), None);
        assert_eq!(strtod(b"  "), None);
        assert_eq!(strtod(b"\0x"), Some(0.0));
    }

    #[test]
    fn pqsort_sorts_the_asked_range() {
        let mut seed = 7u64;
        for n in [0usize, 1, 5, 7, 8, 41, 200] {
            let mut v: Vec<u32> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (seed >> 33) as u32 % 50
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort();
            let (l, r) = (n / 3, (n as i64 * 2 / 3) - 1);
            pqsort(&mut v, &|a: &u32, b: &u32| a.cmp(b), l, r);
            if r >= l as i64 {
                assert_eq!(v[l..=r as usize], sorted[l..=r as usize], "n={n}");
            }
            let mut whole = v.clone();
            pqsort(&mut whole, &|a: &u32, b: &u32| a.cmp(b), 0, n as i64 - 1);
            assert_eq!(whole, sorted);
        }
    }
}
