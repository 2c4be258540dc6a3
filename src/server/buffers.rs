//! A connection's buffers: how much it reads at a time, when its query buffer shrinks back,
//! how much output may pile up before it stops taking requests, its output buffer limits
//! (`client-output-buffer-limit`), the figures CLIENT LIST and INFO show, and client eviction
//! (`maxmemory-clients`).
//!
//! What a client can make the server hold is bounded per read, whatever the configuration:
//! a read takes at most [`READ_CHUNK`] bytes (or exactly the rest of a big argument), and a
//! connection executes requests only while its unsent output is under [`OUTPUT_PAUSE`] (or
//! its class's limit, when one is set and larger, so that the limit can be reached and
//! enforced as Redis does). A client that stops reading therefore holds about one pause of
//! output, one reply and one read, and the rest of its requests wait in the kernel's socket
//! buffers. Buffers that grew for a big request shrink back as Redis's
//! `clientsCronResizeQueryBuffer` shrinks them ([`Resizer`]).

use crate::client::ClientInfo;
use crate::config::OutputBufferLimit;
use bytes::BytesMut;
use ferrocache_protocol::RequestParser;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes read at a time (Redis's `PROTO_IOBUF_LEN`).
pub(super) const READ_CHUNK: usize = 16 * 1024;
/// An argument at least this long is read in one piece of its own size (`PROTO_MBULK_BIG_ARG`).
const BIG_ARG: u64 = 32 * 1024;
/// A query buffer over this is shrunk when its recent peak is under half of it
/// (`PROTO_RESIZE_THRESHOLD`).
const RESIZE_THRESHOLD: usize = 32 * 1024;
/// Free space a buffer must waste before it is worth shrinking (Redis: 4 KB).
const RESIZE_MIN_WASTE: usize = 4 * 1024;
/// A client idle this long has its query buffer freed (Redis: more than 2 seconds).
const IDLE_FREE: Duration = Duration::from_secs(2);
/// How often a connection looks at its buffers (Redis's `clientsCron` visits each client
/// about once a second).
pub(super) const RESIZE_PERIOD: Duration = Duration::from_secs(1);
/// Unsent output at which a connection stops executing requests and reading until the
/// client takes some (unless its class's limit is larger).
pub(super) const OUTPUT_PAUSE: usize = 1 << 20;
/// Redis's static reply buffer: pending output up to this shows as `obl`, the rest as
/// `oll` / `omem`, which the limits are checked against.
pub const REPLY_CHUNK: usize = 16 * 1024;
/// What a connection costs besides its buffers: its state and the parser.
const CONNECTION_OVERHEAD: usize = std::mem::size_of::<crate::client::Client>()
    + std::mem::size_of::<ClientInfo>()
    + std::mem::size_of::<RequestParser>();

/// How much to read next: a chunk, or the rest of a big argument in one read (reserving
/// room for exactly that, so the argument does not make the buffer double), never past
/// `limit` (the query buffer limit, which closes the connection).
pub(super) fn prepare_read(parser: &RequestParser, input: &mut BytesMut, limit: usize) -> usize {
    let free = input.capacity() - input.len();
    match parser.pending_bulk_len(input) {
        Some(rest) if rest >= BIG_ARG => {
            // As Redis, room for the whole argument at once: pages are only touched as it
            // arrives, and the buffer does not double on the way.
            let want = rest.min(limit.saturating_sub(input.len()) as u64 + 1) as usize;
            if free < want {
                input.reserve(want);
            }
            want
        }
        _ => {
            if free < READ_CHUNK / 4 {
                input.reserve(READ_CHUNK);
            }
            READ_CHUNK
        }
    }
}

/// When to look at the buffers next, and the peaks seen since the last look.
pub(super) struct Resizer {
    next: Instant,
    input_peak: usize,
    output_peak: usize,
    /// A turn ran (bytes read, a command run, output written) since the last look.
    active: bool,
    /// The last look that found the connection active (Redis's `lastinteraction`, to the
    /// second as Redis has it): a client sending a big argument slowly is not idle.
    last_active: Instant,
}

impl Resizer {
    pub(super) fn new(now: Instant) -> Resizer {
        Resizer { next: now + RESIZE_PERIOD, input_peak: 0, output_peak: 0, active: false, last_active: now }
    }

    /// Notes how full the buffers are now (after a read, before a write), and whether the
    /// client did anything since the last turn.
    #[inline]
    pub(super) fn observe(&mut self, input: &BytesMut, output: &BytesMut, interacted: bool) {
        self.input_peak = self.input_peak.max(input.len());
        self.output_peak = self.output_peak.max(output.len());
        self.active |= interacted;
    }

    /// When the next look is due.
    pub(super) fn next(&self) -> Instant {
        self.next
    }

    /// Whether a look could shrink anything.
    pub(super) fn wanted(&self, input: &BytesMut, output: &BytesMut) -> bool {
        input.capacity() > 0 || output.capacity() > READ_CHUNK
    }

    /// Redis's `clientsCronResizeQueryBuffer` (and its output side): frees the query buffer of a
    /// client idle for more than [`IDLE_FREE`], or trims one whose recent peak is under half
    /// of it, never below what it holds or the argument it is reading; an empty output buffer
    /// much larger than its recent peak goes back to a chunk.
    /// Returns whether the query buffer was replaced: the caller then copies the arguments
    /// parsed from it and not yet run (which share its allocation) out of it.
    pub(super) fn resize(
        &mut self,
        now: Instant,
        parser: &RequestParser,
        input: &mut BytesMut,
        output: &mut BytesMut,
    ) -> bool {
        if std::mem::take(&mut self.active) {
            self.last_active = now;
        }
        let idle = now.duration_since(self.last_active);
        let mut replaced = false;
        let pending_arg = parser.pending_bulk_len(input).map_or(0, |rest| input.len() + rest as usize);
        if input.capacity() - input.len() > RESIZE_MIN_WASTE {
            let target = if idle > IDLE_FREE {
                Some(input.len())
            } else if input.capacity() > RESIZE_THRESHOLD && input.capacity() / 2 > self.input_peak {
                Some(input.len().max(self.input_peak).max(pending_arg))
            } else {
                None
            };
            if let Some(target) = target {
                *input = copy_with_capacity(input, target);
                replaced = true;
            }
        }
        if output.is_empty() && output.capacity() > 2 * READ_CHUNK && output.capacity() / 2 > self.output_peak {
            *output = BytesMut::new();
        }
        self.input_peak = input.len().max(pending_arg);
        self.output_peak = 0;
        self.next = now + RESIZE_PERIOD;
        replaced
    }
}

/// `buf`'s bytes in a buffer of `capacity` (none allocated for 0).
fn copy_with_capacity(buf: &BytesMut, capacity: usize) -> BytesMut {
    if capacity == 0 {
        return BytesMut::new();
    }
    let mut copy = BytesMut::with_capacity(capacity.max(buf.len()));
    copy.extend_from_slice(buf);
    copy
}

/// Output bytes beyond the static reply buffer: Redis's `omem`, what limits apply to.
#[inline]
pub fn omem(pending: usize) -> usize {
    pending.saturating_sub(REPLY_CHUNK)
}

/// How much unsent output a connection may build before it stops executing requests.
#[inline]
pub(super) fn output_cap(limit: OutputBufferLimit) -> usize {
    let limit = limit.hard_bytes.max(limit.soft_bytes).min(usize::MAX as u64 / 2) as usize;
    OUTPUT_PAUSE.max(limit + REPLY_CHUNK)
}

/// Redis's `checkClientOutputBufferLimits` for one connection: the hard limit closes at
/// once, the soft one once exceeded without a break for more than its seconds.
#[derive(Default)]
pub struct OutputLimitCheck {
    soft_since: Option<Instant>,
}

impl OutputLimitCheck {
    /// Whether the client must be closed with `omem` bytes unsent. The clock is read only
    /// while the soft limit is exceeded: a client that takes its output pays nothing.
    pub fn over(&mut self, omem: usize, limit: OutputBufferLimit) -> bool {
        self.over_at(omem, limit, Instant::now)
    }

    /// [`over`](Self::over) with the clock given (tests).
    fn over_at(&mut self, omem: usize, limit: OutputBufferLimit, now: impl FnOnce() -> Instant) -> bool {
        let omem = omem as u64;
        if limit.hard_bytes > 0 && omem >= limit.hard_bytes {
            return true;
        }
        if limit.soft_bytes > 0 && omem >= limit.soft_bytes {
            let now = now();
            let since = *self.soft_since.get_or_insert(now);
            return now.duration_since(since) > Duration::from_secs(limit.soft_seconds);
        }
        self.soft_since = None;
        false
    }

    /// When the soft limit will have been exceeded long enough, while it is.
    pub(super) fn soft_deadline(&self, limit: OutputBufferLimit) -> Option<Instant> {
        self.soft_since.map(|since| since + Duration::from_secs(limit.soft_seconds) + Duration::from_millis(1))
    }
}

/// Buffer figures a connection publishes after each turn, for CLIENT LIST / INFO and eviction.
#[derive(Debug, Default)]
pub struct BufferFigures {
    pub qbuf: AtomicU64,
    pub qbuf_free: AtomicU64,
    /// Output produced and not yet taken by the socket.
    pub pending_output: AtomicU64,
    /// Bytes of the queued MULTI commands (`multi-mem`).
    pub multi_mem: AtomicU64,
    /// Everything the connection holds (`tot-mem`).
    pub tot_mem: AtomicU64,
    /// The arguments of the command a blocked connection waits in (`argv-mem`, as Redis keeps
    /// a blocked client's argv); 0 while it is not blocked.
    pub blocked_argv_mem: AtomicU64,
}

impl BufferFigures {
    /// CLIENT LIST's `qbuf=… qbuf-free=… argv-mem=… multi-mem=… rbs=… rbp=… obl=… oll=… omem=… tot-mem=…`,
    /// `argv_mem` being the arguments of the command running now (the caller's own line).
    pub fn list_fields(&self, argv_mem: usize) -> String {
        let argv_mem = argv_mem + self.blocked_argv_mem.load(Ordering::Relaxed) as usize;
        let pending = self.pending_output.load(Ordering::Relaxed) as usize;
        let obl = pending.min(REPLY_CHUNK);
        let omem = omem(pending);
        format!(
            "qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={}",
            self.qbuf.load(Ordering::Relaxed),
            self.qbuf_free.load(Ordering::Relaxed),
            argv_mem,
            self.multi_mem.load(Ordering::Relaxed),
            REPLY_CHUNK,
            obl,
            obl,
            omem.div_ceil(REPLY_CHUNK),
            omem,
            self.tot_mem.load(Ordering::Relaxed) as usize + argv_mem,
        )
    }
}

/// A connection's buffers as it publishes them.
pub(super) struct BufferSnapshot {
    pub qbuf: usize,
    pub input_capacity: usize,
    pub pending_output: usize,
    pub output_capacity: usize,
    pub multi_mem: usize,
}

impl BufferSnapshot {
    pub(super) fn of(input: &BytesMut, output: &BytesMut, multi_mem: usize) -> BufferSnapshot {
        BufferSnapshot {
            qbuf: input.len(),
            input_capacity: input.capacity(),
            pending_output: output.len(),
            output_capacity: output.capacity(),
            multi_mem,
        }
    }
}

/// What all normal clients hold together, for `maxmemory-clients` and INFO.
#[derive(Debug, Default)]
pub struct ClientMemory {
    /// Sum of the published `tot-mem` of connections serving requests.
    normal: AtomicU64,
    /// An eviction pass is running (one at a time).
    evicting: AtomicBool,
    pub evicted_clients: AtomicU64,
    /// Largest query buffer allocation and `omem` seen in each of the last
    /// [`PEAK_SLOTS`] seconds (Redis's `ClientsPeakMemInput/Output`).
    peak_input: [AtomicU64; PEAK_SLOTS],
    peak_output: [AtomicU64; PEAK_SLOTS],
    /// The second whose slot was last cleared.
    peak_second: AtomicU64,
}

const PEAK_SLOTS: usize = 8;

/// The smallest `maxmemory-clients` enforced (Redis's `getClientEvictionLimit`): a smaller
/// setting would leave no client able to talk to the server.
pub(super) const MIN_CLIENT_EVICTION_LIMIT: u64 = 128 * 1024;

/// The eviction limit for `maxmemory-clients` of `bytes` (0: none).
pub(super) fn client_eviction_limit(bytes: u64) -> u64 {
    if bytes == 0 {
        0
    } else {
        bytes.max(MIN_CLIENT_EVICTION_LIMIT)
    }
}

impl ClientMemory {
    /// Publishes a connection's figures; returns whether all normal clients together now
    /// hold more than `limit` (0: no limit), so that eviction should run.
    pub(super) fn publish(&self, info: &ClientInfo, now: &BufferSnapshot, now_secs: u64, limit: u64) -> bool {
        let f = &info.buffers;
        f.qbuf.store(now.qbuf as u64, Ordering::Relaxed);
        f.qbuf_free.store((now.input_capacity - now.qbuf) as u64, Ordering::Relaxed);
        f.pending_output.store(now.pending_output as u64, Ordering::Relaxed);
        f.multi_mem.store(now.multi_mem as u64, Ordering::Relaxed);
        let tot =
            (CONNECTION_OVERHEAD + now.input_capacity + now.output_capacity.max(now.pending_output) + now.multi_mem)
                as u64;
        let old = f.tot_mem.swap(tot, Ordering::Relaxed);
        let total = if tot != old {
            self.normal.fetch_add(tot.wrapping_sub(old), Ordering::Relaxed).wrapping_add(tot.wrapping_sub(old))
        } else {
            self.normal.load(Ordering::Relaxed)
        };
        let slot = (now_secs % PEAK_SLOTS as u64) as usize;
        if self.peak_second.load(Ordering::Relaxed) != now_secs {
            self.peak_second.store(now_secs, Ordering::Relaxed);
            self.peak_input[(slot + 1) % PEAK_SLOTS].store(0, Ordering::Relaxed);
            self.peak_output[(slot + 1) % PEAK_SLOTS].store(0, Ordering::Relaxed);
        }
        self.peak_input[slot].fetch_max(now.input_capacity as u64, Ordering::Relaxed);
        if now.pending_output > REPLY_CHUNK {
            self.peak_output[slot].fetch_max(omem(now.pending_output) as u64, Ordering::Relaxed);
        }
        limit > 0 && total > limit
    }

    /// Takes a closed connection's figures out of the totals.
    pub(super) fn forget(&self, info: &ClientInfo) {
        let old = info.buffers.tot_mem.swap(0, Ordering::Relaxed);
        self.normal.fetch_sub(old, Ordering::Relaxed);
    }

    /// INFO's `client_recent_max_input_buffer` / `client_recent_max_output_buffer`.
    pub fn recent_max(&self) -> (u64, u64) {
        let max = |slots: &[AtomicU64; PEAK_SLOTS]| slots.iter().map(|s| s.load(Ordering::Relaxed)).max().unwrap_or(0);
        (max(&self.peak_input), max(&self.peak_output))
    }

    /// Redis's client eviction: while normal clients together hold `limit` bytes or more,
    /// closes the one holding most (clients with `CLIENT NO-EVICT on` are exempt).
    pub(super) fn evict(&self, clients: &crate::client::ClientRegistry, limit: u64) {
        if self.evicting.swap(true, Ordering::Acquire) {
            return;
        }
        let mut candidates: Vec<_> = clients
            .snapshot()
            .into_iter()
            .filter(|c| !c.killed.load(Ordering::Relaxed) && c.meta.lock().flags != "S")
            .map(|c| (c.buffers.tot_mem.load(Ordering::Relaxed), c))
            .collect();
        let mut used: u64 = candidates.iter().map(|(mem, _)| mem).sum();
        candidates.retain(|(_, c)| !c.no_evict.load(Ordering::Relaxed));
        candidates.sort_by_key(|(mem, _)| std::cmp::Reverse(*mem));
        for (mem, c) in candidates {
            if used < limit {
                break;
            }
            tracing::info!("Evicting client: {}", c.list_line());
            c.kill();
            self.evicted_clients.fetch_add(1, Ordering::Relaxed);
            used -= mem;
        }
        self.evicting.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_closes_only_after_its_seconds_without_a_break() {
        let limit = OutputBufferLimit { hard_bytes: 0, soft_bytes: 100, soft_seconds: 2 };
        let t0 = Instant::now();
        let mut check = OutputLimitCheck::default();
        assert!(!check.over_at(150, limit, || t0));
        assert!(!check.over_at(150, limit, || t0 + Duration::from_secs(2)));
        // A dip under the soft limit starts the count again.
        assert!(!check.over_at(50, limit, || t0 + Duration::from_millis(2100)));
        assert!(!check.over_at(150, limit, || t0 + Duration::from_secs(3)));
        assert!(!check.over_at(150, limit, || t0 + Duration::from_secs(5)));
        assert!(check.over_at(150, limit, || t0 + Duration::from_millis(5001)));
        let hard = OutputBufferLimit { hard_bytes: 100, soft_bytes: 0, soft_seconds: 0 };
        assert!(!OutputLimitCheck::default().over_at(99, hard, || t0));
        assert!(OutputLimitCheck::default().over_at(100, hard, || t0));
    }

    #[test]
    fn a_client_eviction_limit_is_at_least_128_kb() {
        assert_eq!(client_eviction_limit(0), 0);
        assert_eq!(client_eviction_limit(1), 128 * 1024);
        assert_eq!(client_eviction_limit(6 << 20), 6 << 20);
    }

    #[test]
    fn a_big_query_buffer_shrinks_to_its_peak_and_an_idle_one_is_freed() {
        let parser = RequestParser::new();
        let t0 = Instant::now();
        let mut resizer = Resizer::new(t0);
        let mut input = BytesMut::with_capacity(1 << 20);
        input.extend_from_slice(b"*1\r\n$4\r\nPI");
        let mut output = BytesMut::with_capacity(1 << 20);
        resizer.observe(&input, &output, true);
        resizer.resize(t0, &parser, &mut input, &mut output);
        assert!(input.capacity() < RESIZE_THRESHOLD, "{}", input.capacity());
        assert_eq!(&input[..], b"*1\r\n$4\r\nPI");
        assert_eq!(output.capacity(), 0);
        // Active a second ago (at the last look): kept. Idle for more than 2 s: freed down to
        // what it holds.
        let mut input = BytesMut::with_capacity(READ_CHUNK);
        resizer.resize(t0 + Duration::from_secs(2), &parser, &mut input, &mut output);
        assert_eq!(input.capacity(), READ_CHUNK);
        resizer.resize(t0 + Duration::from_secs(3), &parser, &mut input, &mut output);
        assert_eq!(input.capacity(), 0);
        // Busy and near its peak: kept.
        let mut input = BytesMut::with_capacity(64 << 10);
        input.extend_from_slice(&[b'x'; 40 << 10]);
        resizer.observe(&input, &output, true);
        input.clear();
        resizer.resize(t0 + Duration::from_secs(4), &parser, &mut input, &mut output);
        assert_eq!(input.capacity(), 64 << 10);
    }

    #[test]
    fn a_big_argument_is_read_in_one_piece_of_its_size() {
        let mut parser = RequestParser::new();
        let limits = ferrocache_protocol::Limits { max_bulk_len: 1 << 30, authenticated: true };
        let mut input = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1000000\r\nab"[..]);
        assert!(parser.parse(&mut input, &limits).unwrap().is_none());
        let want = prepare_read(&parser, &mut input, 1 << 30);
        assert_eq!(want, 1_000_000);
        assert!(input.capacity() - input.len() >= want);
        assert!(input.capacity() < 1_100_000, "{}", input.capacity());
        let mut small = BytesMut::new();
        assert_eq!(prepare_read(&RequestParser::new(), &mut small, 1 << 30), READ_CHUNK);
        assert!(small.capacity() >= READ_CHUNK);
    }
}
