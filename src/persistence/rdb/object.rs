//! Collection values in RDB (`rdbLoadObject` / `rdbSaveObject` of Redis 7.0): every encoding
//! 7.0 reads, and the ones it writes.
//!
//! Reading builds the store's types directly (no intermediate copy) and checks what Redis
//! checks, always with deep validation (`sanitize-dump-payload yes`): compact blobs whole,
//! no duplicate members or fields, no NaN score. A collection with no elements is reported as
//! `None`: a file skips such keys (Redis's "empty keys" tolerance), RESTORE refuses them.
//! Every loop is bounded by the input: each element consumes at least one byte of it. A
//! hash, set or sorted set takes the encoding the configured thresholds give it, as
//! `rdbLoadObject` converts (packed forms by their entry count only, as 7.0 does).
//!
//! Writing uses the encoding the value reports (OBJECT ENCODING: hashes, sets and sorted sets
//! convert at their configured limits, lists split as with
//! `list-max-listpack-size -2`) and writes it as `rdbSaveObject` does, so a DUMP is Redis's
//! byte for byte where the element order agrees (always for lists, sorted sets and intsets;
//! hash-table hashes and sets follow the table's order).

use super::decode::{read_plain_len, read_string};
use super::encode::{write_len, write_string};
use super::listpack::{self, ListpackWriter, LpEntry};
use super::{intset, rdb_type, ziplist, zipmap, RdbError};
use crate::store::parse_i64_strict;
use crate::store::types::{EncodingThresholds, Hash, List, Set, ZSet};
use std::io::{self, Read, Write};

/// A collection read from RDB.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbCollection {
    List(List),
    Set(Set),
    ZSet(ZSet),
    Hash(Hash),
}

/// A collection to write, borrowed from the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RdbCollectionRef<'a> {
    List(&'a List),
    Set(&'a Set),
    ZSet(&'a ZSet),
    Hash(&'a Hash),
}

fn corrupt(what: impl Into<String>) -> RdbError {
    RdbError::Corrupt(what.into())
}

fn read_bytes(input: &mut impl Read) -> Result<Vec<u8>, RdbError> {
    Ok(read_string(input)?.into_bytes())
}

/// `rdbLoadDoubleValue`: a length byte (253 NaN, 254 +inf, 255 -inf) and the number's text.
fn read_text_double(input: &mut impl Read) -> Result<f64, RdbError> {
    let mut len = [0u8; 1];
    input.read_exact(&mut len)?;
    match len[0] {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        n => {
            let mut buf = vec![0u8; usize::from(n)];
            input.read_exact(&mut buf)?;
            parse_score(&buf).ok_or_else(|| corrupt("unreadable zset score"))
        }
    }
}

/// A score as `strtod` reads what Redis writes (`%.17g`, integers, `inf`, `-inf`).
fn parse_score(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    match text {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => text.parse::<f64>().ok(),
    }
}

fn lp_score(entry: LpEntry<'_>) -> Result<f64, RdbError> {
    match entry {
        LpEntry::Int(n) => Ok(n as f64),
        LpEntry::Str(s) => parse_score(s).ok_or_else(|| corrupt("unreadable zset score")),
    }
}

fn add_zset(zset: &mut ZSet, member: &[u8], score: f64, limits: &EncodingThresholds) -> Result<(), RdbError> {
    if score.is_nan() {
        return Err(corrupt("Zset with NAN score detected"));
    }
    if !zset.insert_within(member, score, limits.zset) {
        return Err(corrupt("Duplicate zset fields detected"));
    }
    Ok(())
}

fn add_hash(hash: &mut Hash, field: &[u8], value: &[u8], limits: &EncodingThresholds) -> Result<(), RdbError> {
    if !hash.insert_limited(field, value, &limits.hash) {
        return Err(corrupt("Duplicate hash fields detected"));
    }
    Ok(())
}

fn add_set(set: &mut Set, member: &[u8], limits: &EncodingThresholds) -> Result<(), RdbError> {
    if !set.insert_limited(member, limits.set_max_intset) {
        return Err(corrupt("Duplicate set members detected"));
    }
    Ok(())
}

fn entry_bytes<'e>(entry: &'e LpEntry<'_>, buf: &'e mut itoa::Buffer) -> &'e [u8] {
    match entry {
        LpEntry::Str(s) => s,
        LpEntry::Int(n) => buf.format(*n).as_bytes(),
    }
}

/// Compact blobs of (field, value) or (member, score) pairs must have an even count.
fn pairs<'a, 'b>(entries: &'a [LpEntry<'b>]) -> Result<std::slice::ChunksExact<'a, LpEntry<'b>>, RdbError> {
    if !entries.len().is_multiple_of(2) {
        return Err(corrupt("odd number of entries in a paired encoding"));
    }
    Ok(entries.chunks_exact(2))
}

fn hash_from_entries(entries: &[LpEntry<'_>], limits: &EncodingThresholds) -> Result<Hash, RdbError> {
    let mut hash = Hash::new();
    let (mut fb, mut vb) = (itoa::Buffer::new(), itoa::Buffer::new());
    for pair in pairs(entries)? {
        add_hash(&mut hash, entry_bytes(&pair[0], &mut fb), entry_bytes(&pair[1], &mut vb), limits)?;
    }
    Ok(hash)
}

fn zset_from_entries(entries: &[LpEntry<'_>], limits: &EncodingThresholds) -> Result<ZSet, RdbError> {
    let mut zset = ZSet::new();
    let mut mb = itoa::Buffer::new();
    for pair in pairs(entries)? {
        add_zset(&mut zset, entry_bytes(&pair[0], &mut mb), lp_score(pair[1])?, limits)?;
    }
    Ok(zset)
}

fn push_entries(list: &mut List, entries: &[LpEntry<'_>]) {
    let mut buf = itoa::Buffer::new();
    for e in entries {
        list.push_back(entry_bytes(e, &mut buf));
    }
}

/// Reads the value of a collection of RDB type `type_byte`. `Ok(None)`: a well-formed empty
/// collection. Strings, streams and modules are the caller's. Hashes, sets and sorted sets
/// take the encoding `limits` give them, whichever one they were written in.
pub fn read_collection(
    input: &mut impl Read,
    type_byte: u8,
    limits: &EncodingThresholds,
) -> Result<Option<RdbCollection>, RdbError> {
    let value = match type_byte {
        rdb_type::LIST => {
            let len = read_plain_len(input)?;
            let mut list = List::new();
            for _ in 0..len {
                list.push_back(&read_bytes(input)?);
            }
            RdbCollection::List(list)
        }
        rdb_type::SET => {
            let len = read_plain_len(input)?;
            let mut set = Set::new();
            for _ in 0..len {
                add_set(&mut set, &read_bytes(input)?, limits)?;
            }
            RdbCollection::Set(set)
        }
        rdb_type::ZSET | rdb_type::ZSET_2 => {
            let len = read_plain_len(input)?;
            let mut zset = ZSet::new();
            for _ in 0..len {
                let member = read_bytes(input)?;
                let score = if type_byte == rdb_type::ZSET_2 {
                    let mut b = [0u8; 8];
                    input.read_exact(&mut b)?;
                    f64::from_le_bytes(b)
                } else {
                    read_text_double(input)?
                };
                add_zset(&mut zset, &member, score, limits)?;
            }
            RdbCollection::ZSet(zset)
        }
        rdb_type::HASH => {
            let len = read_plain_len(input)?;
            let mut hash = Hash::new();
            for _ in 0..len {
                let field = read_bytes(input)?;
                let value = read_bytes(input)?;
                add_hash(&mut hash, &field, &value, limits)?;
            }
            RdbCollection::Hash(hash)
        }
        rdb_type::LIST_QUICKLIST | rdb_type::LIST_QUICKLIST_2 => {
            let nodes = read_plain_len(input)?;
            let mut list = List::new();
            for _ in 0..nodes {
                let container =
                    if type_byte == rdb_type::LIST_QUICKLIST_2 { read_plain_len(input)? } else { QUICKLIST_PACKED };
                let blob = read_bytes(input)?;
                match container {
                    QUICKLIST_PLAIN => list.push_back(&blob),
                    QUICKLIST_PACKED if type_byte == rdb_type::LIST_QUICKLIST => {
                        push_entries(&mut list, &ziplist::parse(&blob).map_err(|e| corrupt(e.to_string()))?)
                    }
                    // Empty nodes are skipped, as Redis does.
                    QUICKLIST_PACKED => {
                        push_entries(&mut list, &listpack::parse(&blob).map_err(|e| corrupt(e.to_string()))?)
                    }
                    other => return Err(corrupt(format!("quicklist container {other}"))),
                }
            }
            RdbCollection::List(list)
        }
        rdb_type::LIST_ZIPLIST => {
            let blob = read_bytes(input)?;
            let mut list = List::new();
            push_entries(&mut list, &ziplist::parse(&blob).map_err(|e| corrupt(e.to_string()))?);
            RdbCollection::List(list)
        }
        rdb_type::SET_INTSET => {
            let blob = read_bytes(input)?;
            let mut set = Set::new();
            let mut buf = itoa::Buffer::new();
            for m in intset::parse(&blob).map_err(|e| corrupt(e.to_string()))? {
                add_set(&mut set, buf.format(m).as_bytes(), limits)?;
            }
            RdbCollection::Set(set)
        }
        rdb_type::ZSET_ZIPLIST | rdb_type::ZSET_LISTPACK => {
            let blob = read_bytes(input)?;
            let entries = if type_byte == rdb_type::ZSET_ZIPLIST {
                ziplist::parse(&blob).map_err(|e| corrupt(e.to_string()))?
            } else {
                listpack::parse(&blob).map_err(|e| corrupt(e.to_string()))?
            };
            // Redis 7.0 converts a packed sorted set or hash on load by its entry count only.
            RdbCollection::ZSet(zset_from_entries(&entries, &limits.entries_only())?)
        }
        rdb_type::HASH_ZIPLIST | rdb_type::HASH_LISTPACK => {
            let blob = read_bytes(input)?;
            let entries = if type_byte == rdb_type::HASH_ZIPLIST {
                ziplist::parse(&blob).map_err(|e| corrupt(e.to_string()))?
            } else {
                listpack::parse(&blob).map_err(|e| corrupt(e.to_string()))?
            };
            RdbCollection::Hash(hash_from_entries(&entries, &limits.entries_only())?)
        }
        rdb_type::HASH_ZIPMAP => {
            let blob = read_bytes(input)?;
            let mut hash = Hash::new();
            for (field, value) in zipmap::parse(&blob).map_err(|e| corrupt(e.to_string()))? {
                add_hash(&mut hash, field, value, limits)?;
            }
            RdbCollection::Hash(hash)
        }
        other => return Err(corrupt(format!("value type {other} is not a collection"))),
    };
    let empty = match &value {
        RdbCollection::List(l) => l.is_empty(),
        RdbCollection::Set(s) => s.is_empty(),
        RdbCollection::ZSet(z) => z.is_empty(),
        RdbCollection::Hash(h) => h.is_empty(),
    };
    Ok((!empty).then_some(value))
}

/// Quicklist node containers (`QUICKLIST_NODE_CONTAINER_*`).
const QUICKLIST_PLAIN: u64 = 1;
const QUICKLIST_PACKED: u64 = 2;

/// `list-max-listpack-size -2`: quicklist nodes of at most 8 KB.
const LIST_NODE_MAX_BYTES: usize = 8192;
/// `SIZE_ESTIMATE_OVERHEAD`: what one entry adds to a listpack besides its bytes, overestimated.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Elements this large get a node of their own (`packed_threshold`, 1 GB).
const LIST_PLAIN_THRESHOLD: usize = 1 << 30;

// Each value is written in the encoding it holds (OBJECT ENCODING's), as Redis writes its
// objects: the types convert one way as Redis's do, so a set that grew and shrank, or a sorted
// set SORT converted, is written as Redis would write it.
fn hash_is_listpack(h: &Hash) -> bool {
    h.encoding() == "listpack"
}

fn set_is_intset(s: &Set) -> bool {
    s.encoding() == "intset"
}

fn zset_is_listpack(z: &ZSet) -> bool {
    z.encoding() == "listpack"
}

/// The RDB type byte [`write_collection`] writes for `value`.
pub fn collection_type(value: RdbCollectionRef<'_>) -> u8 {
    match value {
        RdbCollectionRef::List(_) => rdb_type::LIST_QUICKLIST_2,
        RdbCollectionRef::Set(s) if set_is_intset(s) => rdb_type::SET_INTSET,
        RdbCollectionRef::Set(_) => rdb_type::SET,
        RdbCollectionRef::ZSet(z) if zset_is_listpack(z) => rdb_type::ZSET_LISTPACK,
        RdbCollectionRef::ZSet(_) => rdb_type::ZSET_2,
        RdbCollectionRef::Hash(h) if hash_is_listpack(h) => rdb_type::HASH_LISTPACK,
        RdbCollectionRef::Hash(_) => rdb_type::HASH,
    }
}

/// The quicklist nodes Redis builds by pushing `list`'s elements at the tail with
/// `list-max-listpack-size -2` (`_quicklistNodeAllowInsert` / `quicklistNodeExceedsLimit` of
/// 7.0.15): a node takes an element while its listpack plus the element and an estimated
/// 8 bytes of overhead stays within 8 KB.
fn quicklist_nodes(list: &List) -> Vec<QuicklistNode> {
    let mut nodes: Vec<QuicklistNode> = Vec::new();
    list.for_each(|item| {
        let sz = item.len();
        if sz >= LIST_PLAIN_THRESHOLD {
            nodes.push(QuicklistNode::Plain(item.to_vec()));
            return;
        }
        match nodes.last_mut() {
            Some(QuicklistNode::Packed(lp)) if lp.bytes() + sz + SIZE_ESTIMATE_OVERHEAD <= LIST_NODE_MAX_BYTES => {
                lp.push(item)
            }
            _ => {
                let mut lp = ListpackWriter::new();
                lp.push(item);
                nodes.push(QuicklistNode::Packed(lp));
            }
        }
    });
    nodes
}

/// The quicklist Redis 7.0 would hold `list` in (pushed at the tail, `list-max-listpack-size
/// -2`): its number of nodes and their total size in bytes (`ql_nodes`,
/// `ql_uncompressed_size` in DEBUG OBJECT).
pub fn quicklist_shape(list: &List) -> (usize, usize) {
    let nodes = quicklist_nodes(list);
    let bytes = nodes
        .iter()
        .map(|n| match n {
            QuicklistNode::Plain(item) => item.len(),
            QuicklistNode::Packed(lp) => lp.bytes(),
        })
        .sum();
    (nodes.len(), bytes)
}

enum QuicklistNode {
    Plain(Vec<u8>),
    Packed(ListpackWriter),
}

fn score_text(score: f64) -> Vec<u8> {
    crate::persistence::rdb::d2string(score).into_bytes()
}

/// Writes `value` as `rdbSaveObject` does, in the encoding [`collection_type`] names.
pub fn write_collection(out: &mut impl Write, value: RdbCollectionRef<'_>, compress: bool) -> io::Result<()> {
    match value {
        RdbCollectionRef::List(list) => {
            let nodes = quicklist_nodes(list);
            write_len(out, nodes.len() as u64)?;
            for node in nodes {
                match node {
                    QuicklistNode::Plain(item) => {
                        write_len(out, QUICKLIST_PLAIN)?;
                        write_string(out, &item, compress)?;
                    }
                    QuicklistNode::Packed(lp) => {
                        write_len(out, QUICKLIST_PACKED)?;
                        write_string(out, &lp.finish(), compress)?;
                    }
                }
            }
        }
        RdbCollectionRef::Set(set) if set_is_intset(set) => {
            let blob = intset::build(set.iter().filter_map(parse_i64_strict));
            write_string(out, &blob, compress)?;
        }
        RdbCollectionRef::Set(set) => {
            write_len(out, set.len() as u64)?;
            for m in set.iter() {
                write_string(out, m, compress)?;
            }
        }
        RdbCollectionRef::ZSet(zset) if zset_is_listpack(zset) => {
            let mut lp = ListpackWriter::new();
            for (member, score) in zset.iter() {
                lp.push(member);
                lp.push(&score_text(score));
            }
            write_string(out, &lp.finish(), compress)?;
        }
        RdbCollectionRef::ZSet(zset) => {
            write_len(out, zset.len() as u64)?;
            // Highest score first, as Redis walks its skiplist from the tail.
            for (member, score) in zset.iter().rev() {
                write_string(out, member, compress)?;
                out.write_all(&score.to_le_bytes())?;
            }
        }
        RdbCollectionRef::Hash(hash) if hash_is_listpack(hash) => {
            let mut lp = ListpackWriter::new();
            for (f, v) in hash.iter() {
                lp.push(&f);
                lp.push(&v);
            }
            write_string(out, &lp.finish(), compress)?;
        }
        RdbCollectionRef::Hash(hash) => {
            write_len(out, hash.len() as u64)?;
            for (f, v) in hash.iter() {
                write_string(out, &f, compress)?;
                write_string(out, &v, compress)?;
            }
        }
    }
    Ok(())
}
