//! Parsing pipelined requests ahead of the one executing, to prefetch their keys.
//!
//! On a large keyspace a key lookup misses the cache in a chain: the index (control bytes and
//! position slots), then the entry, then for a long string its shared buffer, whose reference
//! count an overwrite drops and a GET takes. A pipelined batch holds the next requests already,
//! so while one request executes, [`Lookahead`] keeps the following three parsed and moves
//! each one step down that chain: the farthest gets its index lines prefetched
//! ([`Store::prefetch`]), the middle one, whose index lines arrived meanwhile, its entry
//! ([`Store::prefetch_entry`]), the next one its value's buffer ([`Store::prefetch_value`]).
//! Their misses then overlap work instead of queueing up (docs/PERFORMANCE.md has the
//! measurements).
//!
//! Parsing ahead is only done past requests that cannot change how what follows parses —
//! AUTH, HELLO, RESET or CONFIG SET could (auth limits, `proto-max-bulk-len`) — namely repeats
//! of a command that takes keys ([`KeyedName`]). Requests parsed ahead still execute, and a
//! framing error found ahead is still answered, in order.

use crate::client::Client;
use crate::store::{key_hash, Store};
use bytes::{Bytes, BytesMut};
use ferrocache_protocol::{Limits, ProtocolError, RequestParser};
use std::collections::VecDeque;

/// Requests kept parsed ahead; the farthest gets its index lines prefetched.
const FAR: usize = 3;
/// Which one parsed ahead (1: the next) gets its entry prefetched.
const NEAR: usize = 2;
/// Which one gets its value's buffer prefetched. Two steps per stage (5/3/1) measured no
/// better in the server than one, nor did deeper index/entry distances without this stage
/// (4/2, 8/4), though they help the in-process store bench (docs/PERFORMANCE.md).
const VALUE: usize = 1;

pub(super) type ParseResult = Result<Option<Vec<Bytes>>, ProtocolError>;

#[derive(Default)]
pub(super) struct Lookahead {
    /// Requests parsed ahead, with their key's hash when they repeat the keyed command (the
    /// key is hashed once for all its prefetches).
    ahead: VecDeque<(ParseResult, Option<u64>)>,
    keyed: Option<KeyedName>,
    /// The key hash of the request executing now, when it was parsed ahead.
    current: Option<u64>,
}

impl Lookahead {
    /// The next request: the oldest one parsed ahead, else a fresh parse.
    pub(super) fn next(&mut self, parser: &mut RequestParser, input: &mut BytesMut, limits: &Limits) -> ParseResult {
        match self.ahead.pop_front() {
            Some((parsed, hash)) => {
                self.current = hash;
                parsed
            }
            None => {
                self.current = None;
                parser.parse(input, limits)
            }
        }
    }

    /// The key hash of the request parsed ahead at `at`, unless the request before it has the
    /// same key: that one's lookup brings the lines in (a pipeline on one hot key needs no
    /// prefetches, and they would take its shard's lock for nothing).
    fn to_fetch(&self, at: usize) -> Option<u64> {
        let hash = self.ahead.get(at)?.1?;
        let before = if at == 0 { self.current } else { self.ahead[at - 1].1 };
        (before != Some(hash)).then_some(hash)
    }

    /// Copies the arguments of the requests parsed ahead out of the read buffer, so that
    /// replacing it (to shrink it) frees its allocation.
    pub(super) fn detach(&mut self) {
        for (parsed, _) in &mut self.ahead {
            if let Ok(Some(args)) = parsed {
                for a in args.iter_mut() {
                    *a = Bytes::copy_from_slice(a);
                }
            }
        }
    }

    /// Called just before `args` executes: parses up to [`FAR`] requests ahead if `args` is a
    /// repeated keyed command, and prefetches their keys.
    pub(super) fn prepare(
        &mut self,
        store: &Store,
        client: &Client,
        args: &[Bytes],
        parser: &mut RequestParser,
        input: &mut BytesMut,
        limits: &Limits,
    ) {
        if !self.keyed.as_ref().is_some_and(|k| k.is(&args[0])) {
            self.keyed = KeyedName::of(client, &args[0]);
        }
        let Some(k) = &self.keyed else { return };
        while self.ahead.len() < FAR && self.ahead.back().is_none_or(|(_, hash)| hash.is_some()) {
            let next = parser.parse(input, limits);
            let hash = k.key_in(&next).map(key_hash);
            let more = matches!(next, Ok(Some(_)));
            self.ahead.push_back((next, hash));
            if let Some(hash) = self.to_fetch(self.ahead.len() - 1) {
                store.prefetch(client.db, hash);
            }
            if !more {
                break;
            }
        }
        if self.ahead.len() == FAR {
            if let Some(hash) = self.to_fetch(NEAR - 1) {
                store.prefetch_entry(client.db, hash);
            }
            if let Some(hash) = self.to_fetch(VALUE - 1) {
                store.prefetch_value(client.db, hash);
            }
        }
    }
}

/// A command that takes keys, as the client spells it, and its first key's position.
///
/// Pipelines repeat one command: recognised once as the client's previous command (whose
/// request then cannot change how the next one parses), the name is afterwards compared byte
/// for byte, with no command lookup.
struct KeyedName {
    name: [u8; 16],
    len: usize,
    key: usize,
}

impl KeyedName {
    /// The keyed command `name` is, if it repeats the client's previous command.
    fn of(client: &Client, name: &[u8]) -> Option<KeyedName> {
        let spec = client.last_cmd?;
        let repeated = spec.first_key > 0 && spec.parent.is_none() && spec.is_named(name) && name.len() <= 16;
        repeated.then(|| {
            let mut copy = [0u8; 16];
            copy[..name.len()].copy_from_slice(name);
            KeyedName { name: copy, len: name.len(), key: spec.first_key as usize }
        })
    }

    #[inline]
    fn is(&self, name: &[u8]) -> bool {
        name.len() == self.len && name.iter().zip(&self.name).all(|(a, b)| a == b)
    }

    /// The key of a parsed request of this command (none for anything else).
    #[inline]
    fn key_in<'a>(&self, parsed: &'a ParseResult) -> Option<&'a [u8]> {
        match parsed {
            Ok(Some(args)) if self.is(&args[0]) => args.get(self.key).map(|k| &k[..]),
            _ => None,
        }
    }
}
