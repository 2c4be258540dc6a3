//! Redis's RDB format, version 10 (Redis 7.0): the encodings of `rdb.c` for lengths and strings, a
//! streaming file writer and a streaming file reader.
//!
//! A file, as `rdbSaveRio` writes it:
//!
//! ```text
//! "REDIS0010"
//! AUX redis-ver 7.0.15 │ AUX redis-bits 64 │ AUX ctime <unix s> │ AUX used-mem <bytes> │ AUX aof-base 0
//! for each non-empty database, in ascending order:
//!     SELECTDB <db> │ RESIZEDB <keys> <keys with a TTL>
//!     for each key: [EXPIRETIME_MS <i64 LE>] [IDLE <secs>] [FREQ <u8>] <type> <key> <value>
//! EOF │ CRC64 of everything before, little endian (8 zero bytes when `rdbchecksum no`)
//! ```
//!
//! Strings, lists, sets, sorted sets and hashes are supported in every encoding Redis 7.0 reads
//! (see [`object`] for the collections and the compact codecs beside it). Anything else a Redis
//! file may hold (streams, function libraries, module data) is an error that names it, so the
//! server never starts with part of a dataset without saying so.

mod decode;
mod encode;
pub mod intset;
pub mod listpack;
pub mod object;
pub mod ziplist;
pub mod zipmap;

pub use decode::{read_len, read_string, read_value, Length, RdbReader, RdbRecord};
pub use encode::{
    write_int, write_len, write_object, write_string, write_value, AuxFields, RdbWriteOptions, RdbWriter,
};
pub use object::{RdbCollection, RdbCollectionRef};

use std::fmt;
use std::io;

/// The RDB version Redis 7.0 writes, and the newest one it reads.
pub const RDB_VERSION: u16 = 10;

/// The value type byte of a string (`RDB_TYPE_STRING`).
pub(crate) const TYPE_STRING: u8 = 0;

/// The value type bytes of `rdb.h` (`RDB_TYPE_*`) that Redis 7.0 reads for the collections.
pub mod rdb_type {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
}

/// Opcodes that may stand where a value type byte is expected (`rdb.h`).
pub(crate) mod opcode {
    /// Redis Functions library source (7.0).
    pub const FUNCTION2: u8 = 245;
    /// The function library format of 7.0 release candidates.
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    /// LRU idle time in seconds, written before a key when maxmemory-policy is an LRU one.
    pub const IDLE: u8 = 248;
    /// LFU counter, written before a key when maxmemory-policy is an LFU one.
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    /// Expiry in seconds, from RDB files older than version 3.
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// The first two bits of a length byte (`RDB_6BITLEN` … `RDB_ENCVAL`), and the special string
/// encodings that `RDB_ENCVAL` introduces.
pub(crate) mod len_enc {
    pub const BITS6: u8 = 0;
    pub const BITS14: u8 = 1;
    pub const BITS32: u8 = 0x80;
    pub const BITS64: u8 = 0x81;
    pub const ENCVAL: u8 = 3;
    pub const INT8: u8 = 0;
    pub const INT16: u8 = 1;
    pub const INT32: u8 = 2;
    pub const LZF: u8 = 3;
}

/// A string value read from RDB: bytes, or an integer when it was stored with an integer
/// encoding (the store keeps those as numbers, like Redis's `OBJ_ENCODING_INT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdbString {
    Bytes(Vec<u8>),
    Int(i64),
}

impl RdbString {
    pub fn as_str(&self) -> RdbStr<'_> {
        match self {
            RdbString::Bytes(bytes) => RdbStr::Bytes(bytes),
            RdbString::Int(n) => RdbStr::Int(*n),
        }
    }

    /// The string's bytes, integers in decimal (keys and aux fields are plain strings).
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            RdbString::Bytes(bytes) => bytes,
            RdbString::Int(n) => n.to_string().into_bytes(),
        }
    }
}

/// A string value to write, borrowed from the store: an integer is written as Redis writes an
/// `OBJ_ENCODING_INT` object, without being rendered to text first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbStr<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

/// A value read from RDB: a string or a collection.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbValue {
    String(RdbString),
    Collection(RdbCollection),
}

impl From<RdbString> for RdbValue {
    fn from(s: RdbString) -> RdbValue {
        RdbValue::String(s)
    }
}

impl RdbValue {
    pub fn as_value_ref(&self) -> RdbValueRef<'_> {
        match self {
            RdbValue::String(s) => RdbValueRef::String(s.as_str()),
            RdbValue::Collection(c) => RdbValueRef::Collection(match c {
                RdbCollection::List(l) => RdbCollectionRef::List(l),
                RdbCollection::Set(s) => RdbCollectionRef::Set(s),
                RdbCollection::ZSet(z) => RdbCollectionRef::ZSet(z),
                RdbCollection::Hash(h) => RdbCollectionRef::Hash(h),
            }),
        }
    }

    /// The string, if this is one.
    pub fn as_string(&self) -> Option<&RdbString> {
        match self {
            RdbValue::String(s) => Some(s),
            RdbValue::Collection(_) => None,
        }
    }
}

/// A value to write, borrowed from the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RdbValueRef<'a> {
    String(RdbStr<'a>),
    Collection(RdbCollectionRef<'a>),
}

impl<'a> From<RdbStr<'a>> for RdbValueRef<'a> {
    fn from(s: RdbStr<'a>) -> RdbValueRef<'a> {
        RdbValueRef::String(s)
    }
}

impl RdbValueRef<'_> {
    /// The RDB type byte this value is written with.
    pub fn rdb_type(self) -> u8 {
        match self {
            RdbValueRef::String(_) => TYPE_STRING,
            RdbValueRef::Collection(c) => object::collection_type(c),
        }
    }
}

/// Redis's `d2string` (util.c): how a double becomes text in a listpack score — an integer
/// when it is one within ±2^52, else `%.17g`; `inf`, `-inf`, `nan`, and `-0` for negative zero.
pub fn d2string(value: f64) -> String {
    if value.is_nan() {
        "nan".into()
    } else if value.is_infinite() {
        if value < 0.0 { "-inf" } else { "inf" }.into()
    } else if value == 0.0 {
        if value.is_sign_negative() { "-0" } else { "0" }.into()
    } else if value > -4503599627370495.0 && value < 4503599627370496.0 && value == (value as i64) as f64 {
        (value as i64).to_string()
    } else {
        format_g17(value)
    }
}

/// C's `printf("%.17g", value)` for a finite value: the replies' formatter, which also
/// spells `inf`/`nan` as Redis does.
pub fn format_g17(value: f64) -> String {
    ferrocache_protocol::format_double(value)
}

/// One key as read from an RDB file.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbEntry {
    pub db: u32,
    pub key: Vec<u8>,
    pub value: RdbValue,
    /// Absolute expiry, Unix milliseconds; it may already be in the past (Redis skips such keys
    /// when a primary loads a file, and keeps them on a replica).
    pub expire_at_ms: Option<i64>,
    /// Seconds since last access (`IDLE`), present when the writer ran an LRU maxmemory-policy.
    pub lru_idle_secs: Option<u64>,
    /// Logarithmic access counter (`FREQ`), present when the writer ran an LFU maxmemory-policy.
    pub lfu_freq: Option<u8>,
}

impl RdbEntry {
    pub fn as_entry_ref(&self) -> RdbEntryRef<'_> {
        RdbEntryRef {
            key: &self.key,
            value: self.value.as_value_ref(),
            expire_at_ms: self.expire_at_ms,
            lru_idle_secs: self.lru_idle_secs,
            lfu_freq: self.lfu_freq,
        }
    }
}

/// One key to write; its database is the one last given to [`RdbWriter::select_db`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RdbEntryRef<'a> {
    pub key: &'a [u8],
    pub value: RdbValueRef<'a>,
    pub expire_at_ms: Option<i64>,
    /// Written as `IDLE`: Redis writes it for every key when maxmemory-policy is an LRU one.
    pub lru_idle_secs: Option<u64>,
    /// Written as `FREQ`: Redis writes it for every key when maxmemory-policy is an LFU one.
    pub lfu_freq: Option<u8>,
}

/// Redis's data types, as named by `TYPE`, for errors about values we cannot hold yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    String,
    List,
    Set,
    SortedSet,
    Hash,
    Stream,
    Module,
}

impl DataType {
    /// The type of an RDB value type byte, for every encoding Redis 7.0 reads (`rdbIsObjectType`).
    pub fn from_rdb_type(byte: u8) -> Option<DataType> {
        Some(match byte {
            TYPE_STRING => DataType::String,
            1 | 10 | 14 | 18 => DataType::List, // linked list, ziplist, quicklist, quicklist 2
            2 | 11 => DataType::Set,            // hash table, intset
            3 | 5 | 12 | 17 => DataType::SortedSet, // skiplist, skiplist 2, ziplist, listpack
            4 | 9 | 13 | 16 => DataType::Hash,  // hash table, zipmap, ziplist, listpack
            15 | 19 => DataType::Stream,        // listpacks, listpacks 2
            6 | 7 => DataType::Module,          // pre-GA, module 2
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::List => "list",
            DataType::Set => "set",
            DataType::SortedSet => "zset",
            DataType::Hash => "hash",
            DataType::Stream => "stream",
            DataType::Module => "module",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an RDB file (or an RDB-encoded value) could not be read.
#[derive(Debug)]
pub enum RdbError {
    Io(io::Error),
    /// The data ends in the middle of the structure being read.
    Truncated,
    /// The file does not start with `REDIS` and a four-digit version.
    NotRdb,
    /// A version newer than this reader knows (Redis 7.0 refuses them too).
    UnsupportedVersion(u32),
    /// Bytes that no Redis writes: an unknown opcode, type, length or string encoding, a bad
    /// LZF block.
    Corrupt(String),
    /// The CRC-64 trailer does not match the content.
    ChecksumMismatch {
        expected: u64,
        found: u64,
    },
    /// A key holding a type Ferrocache does not store (streams, modules). The value was not read, so the file
    /// cannot be read further.
    UnsupportedType {
        db: u32,
        key: Vec<u8>,
        data_type: DataType,
    },
    /// Content outside the keyspace that Ferrocache cannot load (function libraries, module data).
    Unsupported(&'static str),
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::Io(e) => write!(f, "I/O error: {e}"),
            RdbError::Truncated => f.write_str("unexpected end of RDB data"),
            RdbError::NotRdb => f.write_str("not an RDB file (wrong signature)"),
            RdbError::UnsupportedVersion(v) => write!(f, "can't handle RDB format version {v}"),
            RdbError::Corrupt(what) => write!(f, "corrupt RDB data: {what}"),
            RdbError::ChecksumMismatch { expected, found } => {
                write!(f, "wrong RDB checksum: expected {expected:016x}, got {found:016x}")
            }
            RdbError::UnsupportedType { db, key, data_type } => write!(
                f,
                "key '{}' in DB {db} holds a {data_type}, a type Ferrocache does not support",
                key.escape_ascii()
            ),
            RdbError::Unsupported(what) => write!(f, "the RDB data contains {what}, which Ferrocache does not support"),
        }
    }
}

impl std::error::Error for RdbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RdbError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RdbError {
    fn from(e: io::Error) -> RdbError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            RdbError::Truncated
        } else {
            RdbError::Io(e)
        }
    }
}

#[cfg(test)]
mod tests;
