//! End-to-end in-process dispatch, without sockets: what a connection does per read batch.
//!
//! A pipelined buffer of 1000 RESP requests is parsed with `RequestParser`, each request runs
//! through `commands::execute` (lookup, arity, auth, memory check, shard locking, handler,
//! command stats) and every reply is encoded into one output `BytesMut`.
//!
//! Run: `cargo bench --bench dispatch -- --measurement-time 3 --warm-up-time 1`

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferrocache::client::{Client, ClientInfo};
use ferrocache::store::Clock;
use ferrocache::{Config, Shared};
use ferrocache_protocol::{encode, Limits, RequestParser};
use std::net::SocketAddr;
use std::sync::Arc;

/// Requests per pipelined batch.
const REQUESTS: usize = 1000;

fn resp(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A pipelined batch: `SET key:NNN value` and/or `GET key:NNN`, NNN walking 000..999.
fn batch(kind: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..REQUESTS {
        let key = format!("key:{i:03}");
        let set = match kind {
            "set" => true,
            "get" => false,
            _ => i % 2 == 0,
        };
        if set {
            resp(&mut out, &[b"SET", key.as_bytes(), b"value"]);
        } else {
            resp(&mut out, &[b"GET", key.as_bytes()]);
        }
    }
    out
}

fn setup() -> (Arc<Shared>, Client) {
    let shared = Shared::new(Config::default(), Clock::System, 0);
    let addr: SocketAddr = "127.0.0.1:40000".parse().expect("valid address");
    let laddr: SocketAddr = "127.0.0.1:6379".parse().expect("valid address");
    let client = Client::new(Arc::new(ClientInfo::new(1, addr, laddr)), true);
    (shared, client)
}

/// Parses every request of `input`, executes it and encodes its reply; returns the count.
fn run_batch(shared: &Shared, client: &mut Client, input: &mut BytesMut, output: &mut BytesMut) -> usize {
    let mut parser = RequestParser::new();
    let limits = Limits::default();
    let mut n = 0;
    while let Some(mut args) = parser.parse(input, &limits).expect("well-formed batch") {
        let reply = ferrocache::commands::execute(shared, client, &mut args);
        parser.recycle(args);
        encode(&reply, client.resp, output);
        n += 1;
    }
    n
}

fn benches(c: &mut Criterion) {
    let (shared, mut client) = setup();
    let mut output = BytesMut::with_capacity(64 * 1024);

    // Pre-load every key so the GETs hit, and check the batch replies as expected.
    let sets = batch("set");
    let n = run_batch(&shared, &mut client, &mut BytesMut::from(&sets[..]), &mut output);
    assert_eq!(n, REQUESTS);
    assert_eq!(&output[..], b"+OK\r\n".repeat(REQUESTS).as_slice());
    output.clear();
    run_batch(&shared, &mut client, &mut BytesMut::from(&batch("get")[..]), &mut output);
    assert_eq!(&output[..], b"$5\r\nvalue\r\n".repeat(REQUESTS).as_slice());

    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(REQUESTS as u64));
    for kind in ["set", "get", "mixed"] {
        let input = batch(kind);
        g.bench_function(format!("{kind}_{REQUESTS}_pipelined"), |b| {
            b.iter_batched_ref(
                // The read buffer as the socket read would leave it (copy not timed).
                || BytesMut::from(&input[..]),
                |buf| {
                    output.clear();
                    let n = run_batch(&shared, &mut client, buf, &mut output);
                    black_box(&output);
                    n
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(dispatch_benches, benches);
criterion_main!(dispatch_benches);
