//! Lookups shared by the hash, list, set and sorted-set commands: Redis's
//! `lookupKeyRead/Write` + `checkType`, creating a key on first write and deleting it when
//! its last element goes (a stored collection is never empty).

use super::{errors, Ctx};
use crate::store::types::Collection;
use ferrocache_protocol::Reply;

pub fn wrongtype() -> Reply {
    Reply::err(errors::WRONGTYPE)
}

/// The collection at `key` for reading (`lookupKeyRead`: counts a hit or miss, touches the
/// access data): `Ok(None)` if missing, `Err` WRONGTYPE if it holds another type.
pub fn read<'k, T: Collection>(ctx: &'k mut Ctx, key: &[u8]) -> Result<Option<&'k T>, Reply> {
    let db = ctx.db();
    match ctx.ks.get(db, key) {
        None => Ok(None),
        Some(e) => T::of(&e.value).map(Some).ok_or_else(wrongtype),
    }
}

/// Whether `key` holds something other than a `T` (a write's type check before it parses the
/// rest, where Redis checks the type first).
pub fn is_other_type<T: Collection>(ctx: &mut Ctx, key: &[u8]) -> bool {
    let db = ctx.db();
    ctx.ks.get_for_write(db, key).is_some_and(|e| T::of(&e.value).is_none())
}

/// Runs `edit` on the collection at `key` (`lookupKeyWrite`). A missing key gets a new, empty
/// collection when `create` (stored only if `edit` leaves something in it), else `Ok(None)`.
/// `edit` returns its result and whether it changed the collection (only a change is
/// propagated, dirties and touches WATCHers). A collection left empty is deleted.
pub fn write<T: Collection, R>(
    ctx: &mut Ctx,
    key: &[u8],
    create: bool,
    edit: impl FnOnce(&mut T) -> (R, bool),
) -> Result<Option<R>, Reply> {
    let db = ctx.db();
    // One lookup for the type check and the edit; `edit` stays here for a missing key.
    let mut edit = Some(edit);
    let found = ctx.ks.modify_for_write(db, key, |e| match T::of_mut(&mut e.value) {
        None => (None, false),
        Some(c) => {
            let (r, changed) = (edit.take().expect("called once"))(c);
            (Some((r, c.is_empty())), changed)
        }
    });
    match found {
        Some(None) => Err(wrongtype()),
        Some(Some((r, empty))) => {
            if empty {
                ctx.ks.remove(db, key);
            }
            Ok(Some(r))
        }
        None if !create => Ok(None),
        None => {
            let mut fresh = T::default();
            let (r, _) = (edit.take().expect("not called"))(&mut fresh);
            if !fresh.is_empty() {
                ctx.ks.insert(db, key, fresh.into_value(), 0);
            }
            Ok(Some(r))
        }
    }
}

/// Redis's (start, end) indices, negative ones counted from the end, as an inclusive range of
/// a collection of `len` elements, or `None` when empty: how LRANGE, LTRIM, ZRANGE and
/// ZREMRANGEBYRANK sanitize them.
pub fn index_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len.saturating_add(start) } else { start }.max(0);
    let end = if end < 0 { len.saturating_add(end) } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}
