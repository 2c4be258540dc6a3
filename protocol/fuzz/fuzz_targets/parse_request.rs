//! Feeds arbitrary bytes to the request parser: it must never panic, and cutting the input into
//! reads of any size must not change what it parses.
//!
//! The first four bytes of the fuzzer's input choose the split point, the read size and the
//! limits; the rest is what the client sent.

#![no_main]

use bytes::BytesMut;
use ferrocache_protocol::{Limits, RequestParser, INLINE_MAX_SIZE};
use libfuzzer_sys::fuzz_target;

/// The requests parsed, then the error that ended parsing, if any.
type Outcome = (Vec<Vec<Vec<u8>>>, Option<String>);

fn feed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, limits: &Limits) -> Outcome {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parser.parse(&mut buf, limits) {
                Ok(Some(args)) => {
                    assert!(!args.is_empty(), "empty request returned");
                    requests.push(args.iter().map(|a| a.to_vec()).collect());
                }
                Ok(None) => {
                    // Exercised for panics only; its value depends on the state.
                    let _ = parser.pending_bulk_len(&buf);
                    break;
                }
                Err(e) => return (requests, Some(e.reason().to_string())),
            }
        }
    }
    (requests, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((head, input)) = data.split_first_chunk::<4>() else { return };
    let split = usize::from(u16::from_le_bytes([head[0], head[1]])) % (input.len() + 1);
    let max_bulk_len = match head[2] & 7 {
        0 => i64::MAX,
        1 => i64::MIN,
        2 => 512 * 1024 * 1024,
        3 => 16384,
        _ => i64::from(head[2] >> 3) - 2,
    };
    let limits = Limits { max_bulk_len, authenticated: head[3] & 1 == 0 };
    let read_size = usize::from(head[3] >> 1) + 1;

    let whole = feed([input], &limits);
    // The "too big" errors fire when the *buffered* bytes pass 64 KiB without a line end, so a
    // longer input may legitimately parse differently depending on how it is cut.
    if input.len() > INLINE_MAX_SIZE {
        let _ = feed([&input[..split], &input[split..]], &limits);
        return;
    }
    let (a, b) = input.split_at(split);
    assert_eq!(feed([a, b], &limits), whole, "split at {split}");
    assert_eq!(feed(input.chunks(read_size), &limits), whole, "reads of {read_size} bytes");
});
