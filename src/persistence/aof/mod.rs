//! Redis 7.0's multi-part append-only file: the manifest, the file names, commands as RESP, and a
//! reader that tells a whole file from a truncated or a corrupt one. The format only: what to
//! log, when to fsync and when to rewrite belong to the server.
//!
//! ```text
//! appendonlydir/
//!   appendonly.aof.manifest      which files, in what order       Manifest::parse / to_text
//!   appendonly.aof.3.base.rdb    the last rewrite's snapshot      rdb::RdbReader (starts with "REDIS")
//!   appendonly.aof.3.incr.aof    commands written since           AofReader / encode_command
//! ```
//!
//! Loading replays the base, then each incr file in the manifest's order. The manifest's life,
//! as Redis 7.0 changes it (each change persisted before the next step relies on it):
//!
//! ```text
//! start, nothing yet  m.new_base(name, preamble)       an empty base is written at once
//! start               m.last_or_new_incr(name)         the incr file to append to
//! start, after load   m.take_history()                 delete those files (unless aof-disable-auto-gc)
//! rewrite starts      m.new_incr(name)                 new writes go to a new incr file
//! rewrite succeeds    m.new_base(name, preamble)       the snapshot becomes the base, the old base history
//!                     m.mark_incrs_as_history()        incr files the snapshot covers become history
//!                     m.take_history()                 delete those files (unless aof-disable-auto-gc)
//! ```
//!
//! Layout:
//!
//! ```text
//! manifest.rs   Manifest, AofInfo, AofFileType, ManifestError: parse, print, change
//! sds.rs        the sds.c and libc string routines whose quirks the manifest format inherits
//! dir.rs        file names in the AOF directory; read_manifest, write_manifest (temp, fsync, rename)
//! command.rs    encode_command, encode_timestamp_annotation
//! reader.rs     AofReader, AofReadError, starts_with_rdb_preamble
//! ```

mod command;
mod dir;
mod manifest;
mod reader;
mod sds;

pub use command::{encode_command, encode_timestamp_annotation, encoded_len};
pub use dir::{
    manifest_file_name, read_manifest, temp_incr_file_name, temp_manifest_file_name, write_manifest,
    DEFAULT_APPEND_DIRNAME, DEFAULT_APPEND_FILENAME,
};
pub use manifest::{AofFileType, AofInfo, Manifest, ManifestError, ManifestErrorKind};
pub use reader::{starts_with_rdb_preamble, AofReadError, AofReader, Corruption};
