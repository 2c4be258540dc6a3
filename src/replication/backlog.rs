//! The replication stream's recent history: the bytes replicas are sent, kept so a replica
//! that reconnects can continue where it stopped (`PSYNC` → `+CONTINUE`) instead of copying
//! the whole dataset again.
//!
//! One buffer serves both purposes, as Redis 7.0's shared replication buffer does: replicas
//! do not get output buffers of their own, each one's sender reads the stream from its own
//! offset. History is kept for `repl-backlog-size` bytes, and longer while a connected replica
//! still needs it, up to `hard_limit` (the `client-output-buffer-limit replica` hard limit,
//! [`REPLICA_BUFFER_HARD_LIMIT`] by default); a replica further behind than that is dropped
//! and must resync.
//!
//! Offsets are Redis's: `end` is `master_repl_offset`, the number of bytes ever appended, and
//! the first byte held is at offset `first` (1-based; `end + 1` when nothing is held).

use bytes::Bytes;
use std::collections::VecDeque;

/// How far behind a replica's sender may fall before it is disconnected (Redis's default
/// `client-output-buffer-limit replica 256mb`).
pub const REPLICA_BUFFER_HARD_LIMIT: u64 = 256 << 20;

/// Chunks are frozen at this size (or sooner, when a sender wants what was written).
const CHUNK: usize = 16 * 1024;

#[derive(Debug)]
pub struct Backlog {
    chunks: VecDeque<Bytes>,
    /// The chunk being filled.
    tail: Vec<u8>,
    /// Offset of the first byte held.
    first: u64,
    /// `master_repl_offset`.
    end: u64,
    /// The database the stream last SELECTed (None: the next command is preceded by a SELECT).
    pub selected_db: Option<usize>,
    /// The size to keep without replicas needing more (`repl-backlog-size`).
    pub size: u64,
    /// How far behind a replica may fall (0: no limit).
    pub hard_limit: u64,
}

/// A sender asked for history the backlog no longer holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Trimmed;

impl Backlog {
    /// An empty backlog whose stream continues from `offset` (`master_repl_offset`).
    pub fn new(offset: u64, size: u64) -> Backlog {
        Backlog {
            chunks: VecDeque::new(),
            tail: Vec::new(),
            first: offset + 1,
            end: offset,
            selected_db: None,
            size,
            hard_limit: REPLICA_BUFFER_HARD_LIMIT,
        }
    }

    /// `master_repl_offset`.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// `repl_backlog_first_byte_offset`.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// `repl_backlog_histlen`.
    pub fn histlen(&self) -> u64 {
        self.end + 1 - self.first
    }

    /// Appends one command, preceded by a SELECT when `db` is not the stream's current one
    /// (`None`: a command for no database, as PING and REPLCONF GETACK are).
    pub fn append_command(&mut self, db: Option<usize>, args: &[&[u8]]) {
        let before = self.tail.len();
        if let Some(db) = db {
            if self.selected_db != Some(db) {
                crate::persistence::aof::encode_command(
                    &mut self.tail,
                    &[b"SELECT", itoa::Buffer::new().format(db).as_bytes()],
                );
                self.selected_db = Some(db);
            }
        }
        crate::persistence::aof::encode_command(&mut self.tail, args);
        self.end += (self.tail.len() - before) as u64;
        if self.tail.len() >= CHUNK {
            self.freeze_tail();
        }
    }

    /// Appends bytes as they are (a replica relaying its primary's stream).
    pub fn append_raw(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.end += bytes.len() as u64;
        if self.tail.len() >= CHUNK {
            self.freeze_tail();
        }
    }

    fn freeze_tail(&mut self) {
        if !self.tail.is_empty() {
            let full = std::mem::take(&mut self.tail);
            self.chunks.push_back(Bytes::from(full));
        }
    }

    /// Holding well over `size`: worth a [`trim`](Self::trim) on the write path (between the
    /// cron's), so a burst without replicas does not pile up history.
    #[inline]
    pub fn over_size(&self) -> bool {
        self.histlen() > self.size + 4 * CHUNK as u64
    }

    /// Drops history older than both `size` bytes and `oldest_needed` (the lowest offset a
    /// connected replica still has to be sent), never keeping more than the hard limit.
    pub fn trim(&mut self, oldest_needed: Option<u64>) {
        while let Some(front) = self.chunks.front() {
            let len = front.len() as u64;
            let held_after = self.histlen() - len;
            let needed = oldest_needed.is_some_and(|o| o < self.first + len);
            let hard_limit = if self.hard_limit == 0 { u64::MAX } else { self.hard_limit };
            let over_hard_limit = held_after >= hard_limit.max(self.size);
            if held_after < self.size || (needed && !over_hard_limit) {
                break;
            }
            self.first += len;
            self.chunks.pop_front();
        }
    }

    /// Everything from offset `from` (1-based, at most `end + 1`) to the end: the frozen
    /// chunks as shared slices, the chunk being filled as a copy (freezing it on every read
    /// would leave the history in tiny chunks); returns the offset after them. `Trimmed` if
    /// `from` is no longer held.
    pub fn read_from(&mut self, from: u64, out: &mut Vec<Bytes>) -> Result<u64, Trimmed> {
        if from < self.first || from > self.end + 1 {
            return Err(Trimmed);
        }
        if from == self.end + 1 {
            return Ok(from);
        }
        // Senders read near the end: find the first chunk needed walking back from there.
        let tail_start = self.end + 1 - self.tail.len() as u64;
        let mut at = tail_start;
        let mut first_needed = self.chunks.len();
        while at > from && first_needed > 0 {
            first_needed -= 1;
            at -= self.chunks[first_needed].len() as u64;
        }
        for chunk in self.chunks.range(first_needed..) {
            let len = chunk.len() as u64;
            let skip = from.saturating_sub(at).min(len) as usize;
            if skip < chunk.len() {
                out.push(chunk.slice(skip..));
            }
            at += len;
        }
        let skip = from.saturating_sub(tail_start) as usize;
        if skip < self.tail.len() {
            out.push(Bytes::copy_from_slice(&self.tail[skip..]));
        }
        Ok(self.end + 1)
    }

    /// Whether offset `from` can still be continued from (`PSYNC`'s backlog check).
    pub fn holds(&self, from: u64) -> bool {
        from >= self.first && from <= self.end + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(b: &mut Backlog, from: u64) -> Result<Vec<u8>, Trimmed> {
        let mut out = Vec::new();
        b.read_from(from, &mut out)?;
        Ok(out.concat())
    }

    #[test]
    fn offsets_count_bytes_and_select_is_emitted_on_change() {
        let mut b = Backlog::new(0, 1 << 20);
        b.append_command(Some(0), &[b"SET", b"k", b"v"]);
        let select = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        assert_eq!(b.end(), (select.len() + set.len()) as u64);
        assert_eq!(b.first(), 1);
        b.append_command(Some(0), &[b"SET", b"k", b"v"]);
        b.append_command(None, &[b"PING"]);
        let all = collect(&mut b, 1).unwrap();
        assert_eq!(all, [&select[..], set, set, b"*1\r\n$4\r\nPING\r\n"].concat());
        // From the middle: the bytes after the first SELECT.
        assert_eq!(collect(&mut b, select.len() as u64 + 1).unwrap(), all[select.len()..]);
        // From every offset, frozen chunks and tail alike.
        for from in 1..=all.len() as u64 {
            assert_eq!(collect(&mut b, from).unwrap(), all[from as usize - 1..], "from {from}");
        }
        let end = b.end();
        assert_eq!(collect(&mut b, end + 1).unwrap(), b"");
        assert_eq!(collect(&mut b, end + 2), Err(Trimmed));
    }

    #[test]
    fn trim_keeps_size_and_what_a_replica_needs_but_not_past_the_hard_limit() {
        let mut b = Backlog::new(100, 40_000);
        let value = vec![b'x'; 1000];
        for _ in 0..200 {
            b.append_command(Some(0), &[b"SET", b"k", &value]);
        }
        let end = b.end();
        // A replica at the start: everything stays.
        b.trim(Some(101));
        assert_eq!(b.first(), 101);
        assert!(b.holds(101));
        // Nobody needs it: back to about `size`, whole chunks at a time.
        b.trim(None);
        assert!(b.histlen() >= 40_000 && b.histlen() < 40_000 + CHUNK as u64 * 2, "{}", b.histlen());
        assert!(!b.holds(101));
        assert_eq!(b.end(), end);
        let first = b.first();
        let tail = collect(&mut b, first).unwrap();
        assert_eq!(tail.len() as u64, b.histlen());
    }

    #[test]
    fn reads_from_any_offset_across_frozen_chunks_and_the_tail() {
        let mut b = Backlog::new(0, 1 << 20);
        let value = vec![b'y'; 1000];
        for i in 0..100 {
            b.append_command(Some(i % 3), &[b"SET", b"k", &value]);
        }
        assert!(b.chunks.len() >= 5 && !b.tail.is_empty(), "{} chunks", b.chunks.len());
        let all = collect(&mut b, 1).unwrap();
        assert_eq!(all.len() as u64, b.end());
        for from in (1..=b.end()).step_by(997).chain([b.end()]) {
            assert_eq!(collect(&mut b, from).unwrap(), all[from as usize - 1..], "from {from}");
        }
    }

    #[test]
    fn continues_from_a_given_offset() {
        let mut b = Backlog::new(5000, 1 << 20);
        assert_eq!((b.first(), b.histlen()), (5001, 0));
        b.append_raw(b"abc");
        assert_eq!(b.end(), 5003);
        assert_eq!(collect(&mut b, 5002).unwrap(), b"bc");
    }
}
