//! The glob matcher (`ferrocache::glob::matches`) on ordinary key patterns and on the hostile
//! ones that used to hang a worker (CVE-2022-36021) or that stay costly under Redis's rule.
//!
//! Each case is one match of a pattern against one subject; throughput is subject bytes. The
//! pathological cases bound what one key costs KEYS / SCAN MATCH: the matcher is
//! O((|s| + stars) · L), `L` the longest star-free piece of the pattern (see src/glob.rs).
//!
//! Run: `cargo bench --bench glob -- --measurement-time 3 --warm-up-time 1`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferrocache::glob::{matches, Case};

/// (name, pattern, subject, expected answer).
fn cases() -> Vec<(&'static str, Vec<u8>, Vec<u8>, bool)> {
    let kb = |n: usize| vec![b'a'; n * 1024];
    let cat = |parts: &[&[u8]]| parts.concat();
    // A 512 KB subject with an `x` every 500 bytes: each star must skip ahead to the next one.
    let mut spread = kb(512);
    for i in (0..spread.len()).step_by(500) {
        spread[i] = b'x';
    }
    vec![
        ("ordinary/prefix", b"user:*".to_vec(), b"user:1234:profile".to_vec(), true),
        ("ordinary/suffix", b"*:profile".to_vec(), b"user:1234:profile".to_vec(), true),
        ("ordinary/class+star", b"user:[0-9]*:p?ofile".to_vec(), b"user:1234:profile".to_vec(), true),
        ("ordinary/nocase-config", b"MAXMEMORY-*".to_vec(), b"maxmemory-policy".to_vec(), true),
        ("ordinary/miss", b"session:*".to_vec(), b"user:1234:profile".to_vec(), false),
        ("issue/(a*)x20 b vs a x40", cat(&[&b"a*".repeat(20), b"b"]), vec![b'a'; 40], false),
        ("stars/1000 vs 512KB", cat(&[b"*", &b"a*".repeat(999), b"b"]), kb(512), false),
        ("stars/(*x)x999 *b vs 512KB spread", cat(&[&b"*x".repeat(999), b"*b"]), spread.clone(), false),
        ("stars/(*x)x999 * vs 512KB spread", cat(&[&b"*x".repeat(999), b"*"]), spread, true),
        ("piece/*a x100 b vs 64KB", cat(&[b"*", &[b'a'; 100], b"b"]), kb(64), false),
        ("piece/*a x1000 b vs 64KB", cat(&[b"*", &[b'a'; 1000], b"b"]), kb(64), false),
        ("class/*[1000-byte class]b vs 64KB", cat(&[b"*[", &[b'c'; 998], b"a]b"]), kb(64), false),
        ("class/*[a-z] x100 b vs 64KB", cat(&[b"*", &b"[a-z]".repeat(100), b"b"]), kb(64), false),
    ]
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("glob");
    for (name, pattern, subject, want) in cases() {
        // CONFIG GET and COMMAND LIST fold case, key patterns do not.
        let case = if name.contains("nocase") { Case::Insensitive } else { Case::Sensitive };
        assert_eq!(matches(&pattern, &subject, case), want, "{name}");
        group.throughput(Throughput::Bytes(subject.len() as u64));
        group.sample_size(if subject.len() > 4096 { 10 } else { 100 });
        group.bench_function(name, |b| b.iter(|| matches(black_box(&pattern), black_box(&subject), case)));
    }
    group.finish();
}

criterion_group!(glob_benches, benches);
criterion_main!(glob_benches);
