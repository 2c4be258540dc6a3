//! CRC-64 as Redis computes it (`crc64.c`: the Jones polynomial, reflected, init 0, no final xor),
//! for the RDB trailer and the DUMP payload footer.

use crc::{Crc, Digest, Table, CRC_64_REDIS};

/// Slice-by-16 tables: RDB files are checksummed whole, so throughput matters more than the 32 KiB.
static REDIS_CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// The CRC-64 of `bytes`, equal to Redis's `crc64(0, bytes, len)`.
pub fn crc64(bytes: &[u8]) -> u64 {
    REDIS_CRC64.checksum(bytes)
}

/// A running CRC-64 over data that arrives in pieces (an RDB file as it is written or read).
#[derive(Clone)]
pub struct Crc64 {
    digest: Digest<'static, u64, Table<16>>,
}

impl Crc64 {
    pub fn new() -> Crc64 {
        Crc64 { digest: REDIS_CRC64.digest() }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    /// The checksum of everything fed so far; more may still be fed afterwards.
    pub fn value(&self) -> u64 {
        self.digest.clone().finalize()
    }
}

impl Default for Crc64 {
    fn default() -> Crc64 {
        Crc64::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of Redis's own `crc64Test` (crc64.c).
    #[test]
    fn matches_redis_test_vector() {
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn running_checksum_equals_one_shot() {
        let text = b"This is a test of the emergency broadcast system.";
        let mut running = Crc64::new();
        for piece in text.chunks(7) {
            running.update(piece);
        }
        assert_eq!(running.value(), crc64(text));
        assert_eq!(Crc64::new().value(), 0);
    }
}
