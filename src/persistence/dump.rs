//! DUMP / RESTORE payloads (and MIGRATE's, which are the same), as `createDumpPayload` and
//! `verifyDumpPayload` in Redis 7.0's `cluster.c`:
//!
//! ```text
//! <type byte> <value, RDB-encoded> <RDB version, u16 LE> <CRC-64 of all before, u64 LE>
//! ```

use super::crc64::crc64;
use super::rdb::{self, DataType, RdbValue, RdbValueRef, RDB_VERSION};
use crate::store::types::EncodingThresholds;
use std::fmt;

/// Why RESTORE refuses a payload. The first two are Redis's own cases and replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadError {
    /// Shorter than its footer, a version newer than 10, or a wrong CRC:
    /// `ERR DUMP payload version or checksum are wrong`.
    VersionOrChecksum,
    /// The footer is right but the value cannot be decoded: `ERR Bad data format`.
    BadData,
    /// A well-formed payload of a type Ferrocache does not store (streams, modules; Redis
    /// would accept it).
    UnsupportedType(DataType),
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::VersionOrChecksum => f.write_str("DUMP payload version or checksum are wrong"),
            PayloadError::BadData => f.write_str("Bad data format"),
            PayloadError::UnsupportedType(t) => {
                write!(f, "DUMP payload holds a {t}, a type Ferrocache does not support")
            }
        }
    }
}

impl std::error::Error for PayloadError {}

/// The DUMP payload of a value. `compress` is `rdbcompression`: Redis's DUMP follows it.
pub fn dump_payload<'a>(value: impl Into<RdbValueRef<'a>>, compress: bool) -> Vec<u8> {
    let value = value.into();
    let mut payload = vec![value.rdb_type()];
    rdb::write_object(&mut payload, value, compress).expect("writing to a Vec cannot fail");
    payload.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    payload
}

/// The value of a DUMP payload, checked as RESTORE checks it.
///
/// Like Redis, this accepts payloads of any RDB version up to 10 and ignores bytes between the
/// value and the footer. Unlike Redis, a value whose length runs into the footer is refused
/// (Redis reads the footer's bytes as part of the string).
///
/// The value is checked whole, as Redis does with `sanitize-dump-payload yes`: compact
/// encodings validated entry by entry, no duplicate members, no empty collection.
pub fn restore_payload(payload: &[u8], limits: &EncodingThresholds) -> Result<RdbValue, PayloadError> {
    let Some(body_len) = payload.len().checked_sub(10) else {
        return Err(PayloadError::VersionOrChecksum);
    };
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("the footer is 10 bytes"));
    if version > RDB_VERSION || crc != crc64(&payload[..payload.len() - 8]) {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (&type_byte, mut value) = body.split_first().ok_or(PayloadError::BadData)?;
    match DataType::from_rdb_type(type_byte) {
        Some(t @ (DataType::Stream | DataType::Module)) => Err(PayloadError::UnsupportedType(t)),
        Some(_) => match rdb::read_value(&mut value, type_byte, limits) {
            Ok(Some(value)) => Ok(value),
            Ok(None) | Err(_) => Err(PayloadError::BadData),
        },
        None => Err(PayloadError::BadData),
    }
}

#[cfg(test)]
mod tests;
