//! Request parsing throughput on a pipelined batch, the shape a busy client sends
//! (`redis-benchmark -P 1000`).

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrocache_protocol::{Limits, RequestParser};

const REQUESTS: usize = 1000;

fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn pipeline(command: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..REQUESTS {
        let key = format!("key:{i:03}");
        match command {
            "SET" => out.extend(multibulk(&[b"SET", key.as_bytes(), b"value"])),
            _ => out.extend(multibulk(&[b"GET", key.as_bytes()])),
        }
    }
    out
}

fn bench_pipelines(c: &mut Criterion) {
    let limits = Limits::default();
    for command in ["SET", "GET"] {
        let input = pipeline(command);
        for (unit, throughput) in
            [("bytes", Throughput::Bytes(input.len() as u64)), ("requests", Throughput::Elements(REQUESTS as u64))]
        {
            let mut group = c.benchmark_group(format!("parse_pipeline_{unit}"));
            group.throughput(throughput);
            group.bench_with_input(BenchmarkId::from_parameter(command), &input, |b, input| {
                b.iter(|| {
                    // Copying the batch in is part of what a read costs, and keeps each
                    // iteration independent.
                    let mut buf = BytesMut::from(&input[..]);
                    let mut parser = RequestParser::new();
                    let mut n = 0;
                    while let Some(args) = parser.parse(&mut buf, &limits).unwrap() {
                        n += black_box(args).len();
                    }
                    assert_eq!(n, REQUESTS * if command == "SET" { 3 } else { 2 });
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench_pipelines);
criterion_main!(benches);
