//! Persistence in Redis's own formats, so that Redis's tools and dumps keep working with us.
//!
//! This is the format layer only: bytes in, bytes out, no store and no server state.
//!
//! ```text
//! crc64.rs   CRC-64 (Jones) as Redis computes it, for RDB trailers and DUMP footers
//! lzf.rs     LZF compression, byte-identical to the liblzf Redis uses
//! rdb/       RDB version 10: length/string encodings, streaming RdbWriter and RdbReader,
//!            collections in every 7.0 encoding (object.rs) and the compact codecs they use:
//!            listpack.rs (read/write), intset.rs (read/write), ziplist.rs, zipmap.rs (read)
//! dump.rs    DUMP / RESTORE payloads: one RDB-encoded value + version + CRC-64
//! aof/       the multi-part AOF of 7.0: manifest, file names, commands as RESP, AofReader
//! ```

pub mod aof;
pub mod crc64;
pub mod dump;
pub mod lzf;
pub mod rdb;
pub mod rdb_file;

#[cfg(test)]
pub(crate) mod fixtures;
