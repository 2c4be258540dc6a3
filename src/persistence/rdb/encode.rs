//! Writing RDB: the length and string encodings of `rdb.c`, and the file writer.

use super::object::write_collection;
use super::{len_enc, opcode, RdbEntryRef, RdbStr, RdbValueRef, RDB_VERSION};
use crate::persistence::crc64::Crc64;
use crate::persistence::lzf;
use std::io::{self, Write};

/// Writes a length as `rdbSaveLen`: 6 bits in one byte, 14 bits in two, else a marker byte and
/// 32 or 64 bits big endian.
pub fn write_len(out: &mut impl Write, len: u64) -> io::Result<()> {
    if len < 1 << 6 {
        out.write_all(&[(len as u8) | (len_enc::BITS6 << 6)])
    } else if len < 1 << 14 {
        out.write_all(&[((len >> 8) as u8) | (len_enc::BITS14 << 6), len as u8])
    } else if let Ok(len) = u32::try_from(len) {
        out.write_all(&[len_enc::BITS32])?;
        out.write_all(&len.to_be_bytes())
    } else {
        out.write_all(&[len_enc::BITS64])?;
        out.write_all(&len.to_be_bytes())
    }
}

/// `rdbEncodeInteger`: the special encoding of an integer that fits in 8, 16 or 32 bits.
fn encode_int(value: i64) -> Option<([u8; 5], usize)> {
    let mut enc = [0u8; 5];
    let width = if i8::try_from(value).is_ok() {
        enc[0] = (len_enc::ENCVAL << 6) | len_enc::INT8;
        1
    } else if i16::try_from(value).is_ok() {
        enc[0] = (len_enc::ENCVAL << 6) | len_enc::INT16;
        2
    } else if i32::try_from(value).is_ok() {
        enc[0] = (len_enc::ENCVAL << 6) | len_enc::INT32;
        4
    } else {
        return None;
    };
    enc[1..=width].copy_from_slice(&value.to_le_bytes()[..width]);
    Some((enc, width + 1))
}

/// Writes a string as `rdbSaveRawString`: a canonical integer of at most 11 characters as an
/// integer encoding; with `compress` (`rdbcompression yes`), a string over 20 bytes as LZF when
/// that saves at least 5 bytes; otherwise length and bytes.
pub fn write_string(out: &mut impl Write, bytes: &[u8], compress: bool) -> io::Result<()> {
    if bytes.len() <= 11 {
        if let Some((enc, len)) = string2ll(bytes).and_then(encode_int) {
            return out.write_all(&enc[..len]);
        }
    }
    // Redis does not try LZF on 20 bytes or fewer, even where it would save space.
    if compress && bytes.len() > 20 {
        if let Some(compressed) = lzf::compress(bytes, bytes.len() - 4) {
            out.write_all(&[(len_enc::ENCVAL << 6) | len_enc::LZF])?;
            write_len(out, compressed.len() as u64)?;
            write_len(out, bytes.len() as u64)?;
            return out.write_all(&compressed);
        }
    }
    write_len(out, bytes.len() as u64)?;
    out.write_all(bytes)
}

/// Writes an integer value as `rdbSaveLongLongAsStringObject`: an integer encoding when it fits
/// in 32 bits, else its decimal text (at most 20 bytes, so never compressed).
pub fn write_int(out: &mut impl Write, value: i64) -> io::Result<()> {
    if let Some((enc, len)) = encode_int(value) {
        return out.write_all(&enc[..len]);
    }
    let mut text = itoa::Buffer::new();
    let text = text.format(value).as_bytes();
    write_len(out, text.len() as u64)?;
    out.write_all(text)
}

/// Writes a string value as `rdbSaveStringObject` does for Redis's encodings of it.
pub fn write_value(out: &mut impl Write, value: RdbStr<'_>, compress: bool) -> io::Result<()> {
    match value {
        RdbStr::Bytes(bytes) => write_string(out, bytes, compress),
        RdbStr::Int(n) => write_int(out, n),
    }
}

/// Writes any value as `rdbSaveObject` does (without its type byte: see
/// [`RdbValueRef::rdb_type`]).
pub fn write_object(out: &mut impl Write, value: RdbValueRef<'_>, compress: bool) -> io::Result<()> {
    match value {
        RdbValueRef::String(s) => write_value(out, s, compress),
        RdbValueRef::Collection(c) => write_collection(out, c, compress),
    }
}

/// Redis's `string2ll`: an optional `-`, then digits without a leading zero (except "0"), within
/// the i64 range. Only such strings are integer-encoded, so that reading gives back the same bytes.
fn string2ll(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut value: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(c - b'0');
        value = value.checked_mul(10)?;
        value = if negative { value.checked_sub(digit)? } else { value.checked_add(digit)? };
    }
    Some(value)
}

/// What `rdbchecksum` and `rdbcompression` decide for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RdbWriteOptions {
    /// LZF-compress strings over 20 bytes when it saves space (`rdbcompression`).
    pub compression: bool,
    /// End with the CRC-64 of the file, or with 8 zero bytes that readers skip (`rdbchecksum`).
    pub checksum: bool,
}

/// The AUX fields Redis 7.0 writes at the start of a file (`rdbSaveInfoAuxFields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuxFields<'a> {
    /// `redis-ver`: the Redis version we claim to be.
    pub redis_ver: &'a str,
    /// `ctime`: when the snapshot was taken, Unix seconds.
    pub ctime: i64,
    /// `used-mem`: memory in use when the snapshot was taken; Redis logs it while loading.
    pub used_mem: u64,
    /// `aof-base`: whether the file is the base of an AOF rather than a snapshot.
    pub aof_base: bool,
    /// `repl-stream-db`, `repl-id`, `repl-offset`: where replication stood.
    pub repl: Option<(usize, &'a str, u64)>,
}

/// Counts and checksums every byte on its way to the file.
struct Sink<W> {
    inner: W,
    crc: Option<Crc64>,
    written: u64,
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(crc) = &mut self.crc {
            crc.update(&buf[..n]);
        }
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes an RDB file one key at a time, so a snapshot can be streamed to disk (or to a replica)
/// without being built in memory:
///
/// ```text
/// let mut rdb = RdbWriter::new(BufWriter::new(file), options, aux)?;    // header and AUX fields
/// for each non-empty db, ascending:
///     rdb.select_db(db, keys, keys_with_ttl)?;                         // SELECTDB, RESIZEDB
///     for each key: rdb.write_entry(&entry)?;
/// let writer = rdb.finish()?;                                          // EOF and checksum
/// ```
///
/// Redis writes a section only for a database that has keys; the caller skips empty ones.
pub struct RdbWriter<W: Write> {
    sink: Sink<W>,
    compression: bool,
    db: Option<u32>,
}

impl<W: Write> RdbWriter<W> {
    /// Writes the signature and the AUX fields.
    pub fn new(out: W, options: RdbWriteOptions, aux: AuxFields<'_>) -> io::Result<RdbWriter<W>> {
        let crc = options.checksum.then(Crc64::new);
        let mut writer =
            RdbWriter { sink: Sink { inner: out, crc, written: 0 }, compression: options.compression, db: None };
        write!(writer.sink, "REDIS{RDB_VERSION:04}")?;
        writer.write_aux(b"redis-ver", aux.redis_ver.as_bytes())?;
        writer.write_aux(b"redis-bits", itoa::Buffer::new().format(usize::BITS).as_bytes())?;
        writer.write_aux(b"ctime", itoa::Buffer::new().format(aux.ctime).as_bytes())?;
        writer.write_aux(b"used-mem", itoa::Buffer::new().format(aux.used_mem).as_bytes())?;
        if let Some((db, id, offset)) = aux.repl {
            writer.write_aux(b"repl-stream-db", itoa::Buffer::new().format(db).as_bytes())?;
            writer.write_aux(b"repl-id", id.as_bytes())?;
            writer.write_aux(b"repl-offset", itoa::Buffer::new().format(offset).as_bytes())?;
        }
        writer.write_aux(b"aof-base", if aux.aof_base { b"1" } else { b"0" })?;
        Ok(writer)
    }

    fn write_aux(&mut self, name: &[u8], value: &[u8]) -> io::Result<()> {
        self.sink.write_all(&[opcode::AUX])?;
        write_string(&mut self.sink, name, self.compression)?;
        write_string(&mut self.sink, value, self.compression)
    }

    /// Starts the section of database `db`; `keys` and `expires` are the RESIZEDB hints (the
    /// number of keys, and of keys with a TTL) that let the reader size its tables up front.
    /// Databases must come in ascending order, each once, as Redis writes them.
    pub fn select_db(&mut self, db: u32, keys: u64, expires: u64) -> io::Result<()> {
        if let Some(current) = self.db.filter(|&current| db <= current) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RDB databases must be written in ascending order: {db} after {current}"),
            ));
        }
        self.db = Some(db);
        self.sink.write_all(&[opcode::SELECTDB])?;
        write_len(&mut self.sink, u64::from(db))?;
        self.sink.write_all(&[opcode::RESIZEDB])?;
        write_len(&mut self.sink, keys)?;
        write_len(&mut self.sink, expires)
    }

    /// Writes one key of the current database, as `rdbSaveKeyValuePair`.
    pub fn write_entry(&mut self, entry: &RdbEntryRef<'_>) -> io::Result<()> {
        if self.db.is_none() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "RDB entry written before select_db"));
        }
        let out = &mut self.sink;
        if let Some(at) = entry.expire_at_ms {
            out.write_all(&[opcode::EXPIRETIME_MS])?;
            out.write_all(&at.to_le_bytes())?;
        }
        if let Some(idle) = entry.lru_idle_secs {
            out.write_all(&[opcode::IDLE])?;
            write_len(out, idle)?;
        }
        if let Some(freq) = entry.lfu_freq {
            out.write_all(&[opcode::FREQ, freq])?;
        }
        out.write_all(&[entry.value.rdb_type()])?;
        write_string(out, entry.key, self.compression)?;
        write_object(out, entry.value, self.compression)
    }

    /// Bytes written so far, for progress reports.
    pub fn bytes_written(&self) -> u64 {
        self.sink.written
    }

    /// Writes EOF and the checksum, flushes, and hands back the writer (to fsync and rename).
    pub fn finish(mut self) -> io::Result<W> {
        self.sink.write_all(&[opcode::EOF])?;
        let checksum = self.sink.crc.as_ref().map_or(0, Crc64::value);
        self.sink.write_all(&checksum.to_le_bytes())?;
        self.sink.flush()?;
        Ok(self.sink.inner)
    }
}
