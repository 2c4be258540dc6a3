//! Reading RDB: the length and string encodings of `rdb.c`, and the streaming file reader.

use super::object::read_collection;
use super::{len_enc, opcode, DataType, RdbEntry, RdbError, RdbString, RdbValue, RDB_VERSION, TYPE_STRING};
use crate::persistence::crc64::Crc64;
use crate::persistence::lzf;
use crate::store::types::EncodingThresholds;
use std::io::Read;

/// What a length byte announces (`rdbLoadLenByRef`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Len(u64),
    /// A special string encoding follows (`RDB_ENCVAL`): an integer width or LZF.
    Encoded(u8),
}

fn read_array<const N: usize>(input: &mut impl Read) -> Result<[u8; N], RdbError> {
    let mut buf = [0u8; N];
    input.read_exact(&mut buf)?;
    Ok(buf)
}

fn read_u8(input: &mut impl Read) -> Result<u8, RdbError> {
    Ok(read_array::<1>(input)?[0])
}

/// Reads exactly `len` bytes. The buffer grows with the data actually read, so a corrupt length
/// cannot make us allocate more than the input holds.
fn read_bytes(input: &mut impl Read, len: u64) -> Result<Vec<u8>, RdbError> {
    const FIRST_RESERVATION: u64 = 1 << 20;
    let mut bytes = Vec::with_capacity(len.min(FIRST_RESERVATION) as usize);
    input.by_ref().take(len).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < len {
        return Err(RdbError::Truncated);
    }
    Ok(bytes)
}

/// Reads a length, or the marker of a special string encoding.
pub fn read_len(input: &mut impl Read) -> Result<Length, RdbError> {
    let first = read_u8(input)?;
    Ok(match first >> 6 {
        len_enc::BITS6 => Length::Len(u64::from(first & 0x3f)),
        len_enc::BITS14 => Length::Len(u64::from(first & 0x3f) << 8 | u64::from(read_u8(input)?)),
        len_enc::ENCVAL => Length::Encoded(first & 0x3f),
        _ => match first {
            len_enc::BITS32 => Length::Len(u64::from(u32::from_be_bytes(read_array(input)?))),
            len_enc::BITS64 => Length::Len(u64::from_be_bytes(read_array(input)?)),
            _ => return Err(RdbError::Corrupt(format!("unknown length encoding 0x{first:02x}"))),
        },
    })
}

/// Reads a length where a special encoding makes no sense (counts, database numbers).
pub(crate) fn read_plain_len(input: &mut impl Read) -> Result<u64, RdbError> {
    match read_len(input)? {
        Length::Len(len) => Ok(len),
        Length::Encoded(enc) => Err(RdbError::Corrupt(format!("string encoding {enc} where a length belongs"))),
    }
}

/// Reads a string in any encoding Redis writes: raw, 8/16/32-bit integer, or LZF.
pub fn read_string(input: &mut impl Read) -> Result<RdbString, RdbError> {
    match read_len(input)? {
        Length::Len(len) => Ok(RdbString::Bytes(read_bytes(input, len)?)),
        Length::Encoded(len_enc::INT8) => Ok(RdbString::Int(i64::from(i8::from_le_bytes(read_array(input)?)))),
        Length::Encoded(len_enc::INT16) => Ok(RdbString::Int(i64::from(i16::from_le_bytes(read_array(input)?)))),
        Length::Encoded(len_enc::INT32) => Ok(RdbString::Int(i64::from(i32::from_le_bytes(read_array(input)?)))),
        Length::Encoded(len_enc::LZF) => {
            let compressed_len = read_plain_len(input)?;
            let len = read_plain_len(input)?;
            let compressed = read_bytes(input, compressed_len)?;
            let len = usize::try_from(len).map_err(|_| RdbError::Corrupt(format!("LZF length {len}")))?;
            let bytes = lzf::decompress(&compressed, len).map_err(|e| RdbError::Corrupt(e.to_string()))?;
            Ok(RdbString::Bytes(bytes))
        }
        Length::Encoded(enc) => Err(RdbError::Corrupt(format!("unknown string encoding {enc}"))),
    }
}

/// Counts and checksums every byte read.
struct Source<R> {
    inner: R,
    crc: Crc64,
    read: u64,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads a value of RDB type `type_byte` (a string or a collection in any encoding Redis 7.0
/// reads). `Ok(None)` is a well-formed collection with no elements, which Redis skips in a
/// file and refuses in a RESTORE payload. Streams and modules are errors. Collections take
/// the encodings `limits` give them.
pub fn read_value(
    input: &mut impl Read,
    type_byte: u8,
    limits: &EncodingThresholds,
) -> Result<Option<RdbValue>, RdbError> {
    match DataType::from_rdb_type(type_byte) {
        Some(DataType::String) => Ok(Some(RdbValue::String(read_string(input)?))),
        Some(DataType::Stream | DataType::Module) | None => {
            Err(RdbError::Corrupt(format!("value type {type_byte} cannot be read")))
        }
        Some(_) => Ok(read_collection(input, type_byte, limits)?.map(RdbValue::Collection)),
    }
}

/// What an RDB file holds, one piece at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbRecord {
    /// An AUX field (`redis-ver`, `ctime`, `used-mem`, …), worth logging; unknown ones are
    /// ignored by contract.
    Aux {
        name: Vec<u8>,
        value: Vec<u8>,
    },
    /// How many keys (and keys with a TTL) the database that follows holds, to size tables.
    ResizeDb {
        db: u32,
        keys: u64,
        expires: u64,
    },
    Entry(RdbEntry),
}

/// Attributes that opcodes give to the next key (`rdbLoadRioWithLoadingCtx` keeps them until
/// a key is read).
#[derive(Default)]
struct PendingKey {
    expire_at_ms: Option<i64>,
    lru_idle_secs: Option<u64>,
    lfu_freq: Option<u8>,
}

/// Reads an RDB file record by record, from any `Read` (a `BufReader` on a file, a socket).
///
/// ```text
/// let mut rdb = RdbReader::new(BufReader::new(file))?;      // checks the signature and version
/// while let Some(record) = rdb.next_record()? {
///     … load it; log rdb.bytes_read() now and then …
/// }                                                         // Ok(None): EOF and checksum verified
/// ```
///
/// Records come before the checksum at the end is verified, so a caller that loads as it reads
/// must throw away what it loaded when any error comes, as Redis refuses the whole file. After an
/// error, or the end, every call returns `Ok(None)`.
pub struct RdbReader<R: Read> {
    input: Source<R>,
    version: u32,
    verify_checksum: bool,
    db: u32,
    pending: PendingKey,
    finished: bool,
    empty_keys_skipped: u64,
    limits: EncodingThresholds,
}

impl<R: Read> RdbReader<R> {
    /// Reads the signature: `REDIS` and a four-digit version from 1 to 10.
    pub fn new(input: R) -> Result<RdbReader<R>, RdbError> {
        let mut input = Source { inner: input, crc: Crc64::new(), read: 0 };
        let header: [u8; 9] = read_array(&mut input)?;
        let (magic, digits) = header.split_at(5);
        if magic != b"REDIS" || !digits.iter().all(u8::is_ascii_digit) {
            return Err(RdbError::NotRdb);
        }
        let version = digits.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0'));
        if !(1..=u32::from(RDB_VERSION)).contains(&version) {
            return Err(RdbError::UnsupportedVersion(version));
        }
        Ok(RdbReader {
            input,
            version,
            verify_checksum: true,
            db: 0,
            pending: PendingKey::default(),
            finished: false,
            empty_keys_skipped: 0,
            limits: EncodingThresholds::default(),
        })
    }

    /// With `false` (`rdbchecksum no`), the trailer is not compared with the content. A zero
    /// trailer, written by `rdbchecksum no`, is never compared.
    pub fn set_verify_checksum(&mut self, verify: bool) {
        self.verify_checksum = verify;
    }

    /// The thresholds loaded collections are encoded by (Redis 7.0's defaults unless set).
    pub fn set_limits(&mut self, limits: EncodingThresholds) {
        self.limits = limits;
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Keys holding an empty collection, skipped as Redis 7.0 skips them (a bug of older
    /// versions could save them).
    pub fn empty_keys_skipped(&self) -> u64 {
        self.empty_keys_skipped
    }

    /// Bytes consumed so far, for loading progress.
    pub fn bytes_read(&self) -> u64 {
        self.input.read
    }

    /// The next record, `Ok(None)` after the EOF opcode and a good checksum.
    pub fn next_record(&mut self) -> Result<Option<RdbRecord>, RdbError> {
        if self.finished {
            return Ok(None);
        }
        let record = self.read_record();
        if !matches!(record, Ok(Some(_))) {
            self.finished = true;
        }
        record
    }

    fn read_record(&mut self) -> Result<Option<RdbRecord>, RdbError> {
        let input = &mut self.input;
        loop {
            match read_u8(input)? {
                opcode::EXPIRETIME => {
                    let secs = i32::from_le_bytes(read_array(input)?);
                    self.pending.expire_at_ms = Some(i64::from(secs) * 1000);
                }
                opcode::EXPIRETIME_MS => self.pending.expire_at_ms = Some(i64::from_le_bytes(read_array(input)?)),
                opcode::IDLE => self.pending.lru_idle_secs = Some(read_plain_len(input)?),
                opcode::FREQ => self.pending.lfu_freq = Some(read_u8(input)?),
                opcode::SELECTDB => {
                    let db = read_plain_len(input)?;
                    self.db = u32::try_from(db).map_err(|_| RdbError::Corrupt(format!("database number {db}")))?;
                }
                opcode::RESIZEDB => {
                    let keys = read_plain_len(input)?;
                    let expires = read_plain_len(input)?;
                    return Ok(Some(RdbRecord::ResizeDb { db: self.db, keys, expires }));
                }
                opcode::AUX => {
                    let name = read_string(input)?.into_bytes();
                    let value = read_string(input)?.into_bytes();
                    return Ok(Some(RdbRecord::Aux { name, value }));
                }
                opcode::MODULE_AUX => return Err(RdbError::Unsupported("module data (MODULE_AUX)")),
                opcode::FUNCTION2 | opcode::FUNCTION_PRE_GA => {
                    return Err(RdbError::Unsupported("Redis Functions libraries (FUNCTION)"))
                }
                opcode::EOF => {
                    self.read_trailer()?;
                    return Ok(None);
                }
                type_byte => {
                    let data_type = DataType::from_rdb_type(type_byte)
                        .ok_or_else(|| RdbError::Corrupt(format!("unknown value type or opcode {type_byte}")))?;
                    let key = read_string(input)?.into_bytes();
                    if matches!(data_type, DataType::Stream | DataType::Module) {
                        return Err(RdbError::UnsupportedType { db: self.db, key, data_type });
                    }
                    let value = if type_byte == TYPE_STRING {
                        Some(RdbValue::String(read_string(input)?))
                    } else {
                        read_collection(input, type_byte, &self.limits)?.map(RdbValue::Collection)
                    };
                    let PendingKey { expire_at_ms, lru_idle_secs, lfu_freq } = std::mem::take(&mut self.pending);
                    let Some(value) = value else {
                        self.empty_keys_skipped += 1;
                        if self.empty_keys_skipped <= 10 {
                            tracing::warn!("rdbLoadObject skipping empty key: {}", key.escape_ascii());
                        }
                        continue;
                    };
                    let entry = RdbEntry { db: self.db, key, value, expire_at_ms, lru_idle_secs, lfu_freq };
                    return Ok(Some(RdbRecord::Entry(entry)));
                }
            }
        }
    }

    /// Files from version 5 on end with the CRC-64 of everything before it.
    fn read_trailer(&mut self) -> Result<(), RdbError> {
        if self.version < 5 {
            return Ok(());
        }
        let expected = self.input.crc.value();
        let found = u64::from_le_bytes(read_array(&mut self.input)?);
        if self.verify_checksum && found != 0 && found != expected {
            return Err(RdbError::ChecksumMismatch { expected, found });
        }
        Ok(())
    }
}

impl<R: Read> Iterator for RdbReader<R> {
    type Item = Result<RdbRecord, RdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}
