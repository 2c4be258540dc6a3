//! Reading an AOF of commands (an incr file, or a base written without the RDB preamble), as
//! `loadSingleAppendOnlyFile` in Redis 7.0's `aof.c` reads one.
//!
//! ```text
//! file     = { annotation | command }
//! command  = "*" argc CRLF { "$" len CRLF <len bytes> CRLF }      argc ≥ 1, one bulk per argument
//! annotation = "#" <any bytes but LF> LF                          skipped (Redis writes "#TS:<secs>")
//! ```
//!
//! Redis tells three endings apart, and so does [`AofReader`]:
//!
//! - the end of the file between two commands: the file is whole;
//! - the end of the file inside a command (a write cut short by a crash or a full disk): the
//!   tail is *truncated*, and with `aof-load-truncated yes` Redis cuts the file just past the
//!   last complete command and carries on;
//! - bytes that no writer produces (a line not starting with `*`, a bad count, a missing CRLF):
//!   the file is *corrupt*, and Redis refuses to start whatever the configuration says.
//!
//! The end of the file inside a `MULTI` (no `EXEC` after it) counts as truncated as well: Redis
//! reverts the transaction and cuts the file before the `MULTI`.
//!
//! We are stricter than Redis's loader in one way, as strict as `redis-check-aof`: every
//! count and length must be plain decimal digits followed by CRLF, and every argument must be
//! followed by CRLF (Redis's loader reads counts with `atoi`, skips the two bytes after an
//! argument without looking at them, and aborts on a negative length). No Redis writes such
//! bytes, so only a damaged file reads differently, and it then reads as corrupt.

use bytes::Bytes;
use std::fmt;
use std::io::{self, Read};

const BUFFER_SIZE: usize = 64 * 1024;

/// Redis reads annotation lines with `fgets` into a buffer of this size
/// (`AOF_ANNOTATION_LINE_MAX_LEN`), so a longer line would be split into two.
const ANNOTATION_LINE_MAX: usize = 1024;

/// Redis keeps the argument count in an `int`.
const MAX_ARGC: u64 = i32::MAX as u64;

/// The first allocation for a bulk is at most this large, whatever length the file announces.
const BULK_STEP: usize = 1 << 20;

/// Does this file start like an RDB file (`REDIS`), as a base written with
/// `aof-use-rdb-preamble yes` does? `loadSingleAppendOnlyFile` looks at the first five bytes
/// and nothing else; a file shorter than that is not RDB.
pub fn starts_with_rdb_preamble(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(b"REDIS")
}

/// Why an AOF cannot be read (further).
#[derive(Debug)]
pub enum AofReadError {
    Io(io::Error),
    /// The file ends inside a command (or inside an annotation line). With
    /// `aof-load-truncated yes`, cut it at `valid_up_to` (just past the last complete command)
    /// and go on; Redis allows this only for the last file of the manifest.
    Truncated {
        valid_up_to: u64,
    },
    /// The file ends inside a transaction: a `MULTI` without its `EXEC`. Redis drops the
    /// commands queued since the `MULTI`, and with `aof-load-truncated yes` cuts the file at
    /// `valid_up_to` (just past the last complete command before the `MULTI`).
    UnfinishedMulti {
        valid_up_to: u64,
    },
    /// Bytes no writer produces, first seen at `offset` (from the start of the file).
    Corrupt {
        offset: u64,
        what: Corruption,
    },
}

impl AofReadError {
    /// Where `aof-load-truncated yes` cuts the file, for the two errors it forgives.
    pub fn truncate_to(&self) -> Option<u64> {
        match self {
            AofReadError::Truncated { valid_up_to } | AofReadError::UnfinishedMulti { valid_up_to } => {
                Some(*valid_up_to)
            }
            AofReadError::Io(_) | AofReadError::Corrupt { .. } => None,
        }
    }
}

impl fmt::Display for AofReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AofReadError::Io(e) => write!(f, "Unrecoverable error reading the append only file: {e}"),
            AofReadError::Truncated { valid_up_to } => write!(
                f,
                "Unexpected end of file reading the append only file (the last complete command ends at offset {valid_up_to})"
            ),
            AofReadError::UnfinishedMulti { valid_up_to } => write!(
                f,
                "Incomplete MULTI/EXEC transaction at the end of the append only file (it starts after offset {valid_up_to})"
            ),
            AofReadError::Corrupt { offset, what } => {
                write!(f, "Bad file format reading the append only file at offset {offset}: {what}")
            }
        }
    }
}

impl std::error::Error for AofReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AofReadError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// What made a file corrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// A command must start with `*` (or be an annotation line starting with `#`).
    ExpectedArray { found: u8 },
    /// Each argument must start with `$`.
    ExpectedBulk { found: u8 },
    /// The argument count is not digits and CRLF, or is 0 or more than `i32::MAX`.
    InvalidArgc,
    /// An argument length is not digits and CRLF, or is more than `i64::MAX`.
    InvalidBulkLength,
    /// An argument is not followed by CRLF.
    ExpectedCrlf { found: u8 },
    /// An annotation line of 1024 bytes or more, which Redis would read as two lines.
    AnnotationTooLong,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Worded as redis-check-aof words them where it has a word for them.
        match self {
            Corruption::ExpectedArray { found } => write!(f, "Expected prefix '*', got: '{}'", found.escape_ascii()),
            Corruption::ExpectedBulk { found } => write!(f, "Expected prefix '$', got: '{}'", found.escape_ascii()),
            Corruption::InvalidArgc => f.write_str("invalid argument count"),
            Corruption::InvalidBulkLength => f.write_str("invalid bulk length"),
            Corruption::ExpectedCrlf { found } => write!(f, "Expected \\r\\n, got: {found:02x}"),
            Corruption::AnnotationTooLong => f.write_str("annotation line too long"),
        }
    }
}

/// How a read inside a command ended early.
enum Stop {
    Eof,
    Corrupt(u64, Corruption),
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Io(e)
    }
}

/// Reads commands from an AOF, one at a time, from any `Read` (it buffers on its own):
///
/// ```text
/// let mut aof = AofReader::new(File::open(path)?);
/// loop {
///     match aof.next_command() {
///         Ok(Some(args)) => … execute args (MULTI queues, EXEC runs the queue) …,
///         Ok(None) => break,                                  // the whole file was read
///         Err(e) => match e.truncate_to() {                   // Truncated or UnfinishedMulti
///             Some(at) if aof_load_truncated && last file => { truncate the file at `at`; break }
///             _ => refuse to start,
///         },
///     }
/// }
/// ```
///
/// After an error, or the end, every call returns `Ok(None)`.
///
/// [`AofReader::valid_up_to`] is what Redis calls `valid_up_to`: the offset just past the last
/// complete command. A truncated tail inside a `MULTI` is cut there too, as Redis 7.0 cuts it
/// (leaving a `MULTI` without `EXEC` that the next load reverts); [`AofReader::open_multi`]
/// says where that transaction started, for a caller that prefers to cut before it.
pub struct AofReader<R> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// The file offset of `buf[pos]`.
    offset: u64,
    valid_up_to: u64,
    /// `valid_up_to` before the `MULTI` of an open transaction.
    multi_start: Option<u64>,
    finished: bool,
}

impl<R: Read> AofReader<R> {
    pub fn new(input: R) -> AofReader<R> {
        AofReader::starting_at(input, 0)
    }

    /// For the command part of a file that `input` has already read `offset` bytes of: the
    /// tail after an RDB preamble (an AOF of Redis before 7.0), read after
    /// [`RdbReader`](crate::persistence::rdb::RdbReader) on the same buffered reader. Offsets are
    /// then offsets in the file, so `valid_up_to` never cuts into the preamble (Redis 7.0
    /// counts from 0 there, and would).
    pub fn starting_at(input: R, offset: u64) -> AofReader<R> {
        AofReader {
            input,
            buf: vec![0; BUFFER_SIZE].into_boxed_slice(),
            pos: 0,
            end: 0,
            offset,
            valid_up_to: offset,
            multi_start: None,
            finished: false,
        }
    }

    /// Just past the last complete command (where it started, before the first one).
    pub fn valid_up_to(&self) -> u64 {
        self.valid_up_to
    }

    /// Bytes consumed so far, counted from the start of the file, for loading progress.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// While the commands read since a `MULTI` wait for their `EXEC`: the offset just past the
    /// last complete command before that `MULTI`.
    pub fn open_multi(&self) -> Option<u64> {
        self.multi_start
    }

    /// The next command's arguments, `Ok(None)` at the end of the file (see [`AofReadError`]
    /// for how a file can end badly).
    pub fn next_command(&mut self) -> Result<Option<Vec<Bytes>>, AofReadError> {
        if self.finished {
            return Ok(None);
        }
        let result = match self.read_command() {
            Ok(Some(args)) => {
                self.complete(&args);
                return Ok(Some(args));
            }
            Ok(None) => match self.multi_start {
                Some(valid_up_to) => Err(AofReadError::UnfinishedMulti { valid_up_to }),
                None => Ok(None),
            },
            Err(Stop::Eof) => Err(AofReadError::Truncated { valid_up_to: self.valid_up_to }),
            Err(Stop::Corrupt(offset, what)) => Err(AofReadError::Corrupt { offset, what }),
            Err(Stop::Io(e)) => Err(AofReadError::Io(e)),
        };
        self.finished = true;
        result
    }

    /// Bookkeeping after a whole command: where the file could be cut, and whether a
    /// transaction is open. Like Redis's loader (not redis-check-aof), a `MULTI` inside a
    /// transaction is just queued, and an `EXEC` outside one changes nothing.
    fn complete(&mut self, args: &[Bytes]) {
        let before = std::mem::replace(&mut self.valid_up_to, self.offset);
        let name = &args[0];
        match self.multi_start {
            None if name.eq_ignore_ascii_case(b"multi") => self.multi_start = Some(before),
            Some(_) if name.eq_ignore_ascii_case(b"exec") => self.multi_start = None,
            _ => {}
        }
    }

    /// One command, skipping annotations before it; `Ok(None)` if the file ends first.
    fn read_command(&mut self) -> Result<Option<Vec<Bytes>>, Stop> {
        loop {
            match self.peek()? {
                None => return Ok(None),
                Some(b'#') => self.skip_annotation()?,
                Some(b'*') => break,
                Some(found) => return Err(Stop::Corrupt(self.offset, Corruption::ExpectedArray { found })),
            }
        }
        self.consume(1);
        let count_at = self.offset;
        let argc = self.read_number(MAX_ARGC, Corruption::InvalidArgc)?;
        if argc == 0 {
            return Err(Stop::Corrupt(count_at, Corruption::InvalidArgc));
        }
        // Grown as arguments arrive: a large count in a short file allocates nothing.
        let mut args = Vec::with_capacity(argc.min(16) as usize);
        for _ in 0..argc {
            let at = self.offset;
            match self.next_byte()? {
                b'$' => {}
                found => return Err(Stop::Corrupt(at, Corruption::ExpectedBulk { found })),
            }
            let len = self.read_number(i64::MAX as u64, Corruption::InvalidBulkLength)?;
            args.push(self.read_bulk(len)?);
            for expected in [b'\r', b'\n'] {
                let at = self.offset;
                let found = self.next_byte()?;
                if found != expected {
                    return Err(Stop::Corrupt(at, Corruption::ExpectedCrlf { found }));
                }
            }
        }
        Ok(Some(args))
    }

    /// Skips a `#` line, newline included.
    fn skip_annotation(&mut self) -> Result<(), Stop> {
        let start = self.offset;
        let mut len = 0;
        loop {
            if self.pos == self.end && !self.fill()? {
                return Err(Stop::Eof);
            }
            let available = &self.buf[self.pos..self.end];
            let newline = available.iter().position(|&c| c == b'\n');
            let take = newline.map_or(available.len(), |i| i + 1);
            len += take;
            // fgets keeps at most ANNOTATION_LINE_MAX - 1 bytes, newline included.
            if len >= ANNOTATION_LINE_MAX {
                return Err(Stop::Corrupt(start, Corruption::AnnotationTooLong));
            }
            self.consume(take);
            if newline.is_some() {
                return Ok(());
            }
        }
    }

    /// Decimal digits up to `max`, then CRLF.
    fn read_number(&mut self, max: u64, invalid: Corruption) -> Result<u64, Stop> {
        let mut value: u64 = 0;
        let mut digits = 0;
        loop {
            let at = self.offset;
            match self.next_byte()? {
                c @ b'0'..=b'9' => {
                    value = value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(c - b'0')))
                        .filter(|&v| v <= max)
                        .ok_or(Stop::Corrupt(at, invalid))?;
                    digits += 1;
                }
                b'\r' if digits > 0 => break,
                _ => return Err(Stop::Corrupt(at, invalid)),
            }
        }
        let at = self.offset;
        match self.next_byte()? {
            b'\n' => Ok(value),
            _ => Err(Stop::Corrupt(at, invalid)),
        }
    }

    /// Exactly `len` bytes, in an allocation of their own (a stored value must not pin the
    /// read buffer). The allocation grows at most twice ahead of the data actually read, so a
    /// length the file does not hold costs little.
    fn read_bulk(&mut self, len: u64) -> Result<Bytes, Stop> {
        let len = usize::try_from(len).map_err(|_| Stop::Eof)?;
        let mut bulk = vec![0u8; len.min(BULK_STEP)];
        let mut filled = 0;
        while filled < len {
            if filled == bulk.len() {
                let target = len.min(bulk.len().saturating_mul(2));
                bulk.reserve_exact(target - bulk.len());
                bulk.resize(target, 0);
            }
            let room = &mut bulk[filled..];
            if self.pos < self.end {
                let take = room.len().min(self.end - self.pos);
                room[..take].copy_from_slice(&self.buf[self.pos..self.pos + take]);
                self.consume(take);
                filled += take;
            } else if len - filled < BUFFER_SIZE {
                if !self.fill()? {
                    return Err(Stop::Eof);
                }
            } else {
                // Large: straight from the input, not through the buffer.
                let n = read_some(&mut self.input, room)?;
                if n == 0 {
                    return Err(Stop::Eof);
                }
                self.offset += n as u64;
                filled += n;
            }
        }
        Ok(Bytes::from(bulk))
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    /// Refills an exhausted buffer; `false` at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        debug_assert_eq!(self.pos, self.end);
        let n = read_some(&mut self.input, &mut self.buf)?;
        self.pos = 0;
        self.end = n;
        Ok(n > 0)
    }

    fn peek(&mut self) -> Result<Option<u8>, Stop> {
        if self.pos == self.end && !self.fill()? {
            return Ok(None);
        }
        Ok(Some(self.buf[self.pos]))
    }

    fn next_byte(&mut self) -> Result<u8, Stop> {
        let byte = self.peek()?.ok_or(Stop::Eof)?;
        self.consume(1);
        Ok(byte)
    }
}

/// One `read`, retried when interrupted.
fn read_some(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

impl<R: Read> Iterator for AofReader<R> {
    type Item = Result<Vec<Bytes>, AofReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_command().transpose()
    }
}

#[cfg(test)]
mod tests;
