//! `key_slot` against a real redis-server 7.0's `CLUSTER KEYSLOT`, for the COMPAT.md vectors,
//! tricky brace placements and a few hundred seeded random keys.

mod common;

use ferrocache_cluster::key_slot;
use rand::{Rng, SeedableRng};

#[test]
fn key_slot_matches_redis_cluster_keyslot() {
    let node = common::RedisNode::start();
    let mut client = node.client();

    let mut keys: Vec<Vec<u8>> = [
        "foo",
        "bar",
        "{user1000}.following",
        "123456789",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "foo{bar}{zap}",
        "",
        "{",
        "}",
        "{}",
        "}{",
        "{a",
        "a}",
        "{a}",
        "{{}}",
        "{}}",
        "{{}",
        "a{b}c",
        "a{{b}}c",
        "{a}{b}",
        "{}{a}",
        "x{}y{z}",
        "{ }",
        "{\u{e9}}",
        "\u{1F600}",
        "{\u{1F600}}x",
        "key:{tag}:__rand_int__",
    ]
    .iter()
    .map(|k| k.as_bytes().to_vec())
    .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5107);
    for _ in 0..400 {
        let len = rng.gen_range(0..24);
        // Mostly braces, letters and a few arbitrary bytes, so tags are common.
        let key: Vec<u8> = (0..len)
            .map(|_| match rng.gen_range(0..10) {
                0 => b'{',
                1 => b'}',
                2 => rng.gen(),
                _ => rng.gen_range(b'a'..=b'e'),
            })
            .collect();
        keys.push(key);
    }

    for key in &keys {
        // Send the key as raw bytes.
        let mut out = b"*3\r\n$7\r\nCLUSTER\r\n$7\r\nKEYSLOT\r\n".to_vec();
        out.extend_from_slice(format!("${}\r\n", key.len()).as_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(b"\r\n");
        let reply = client.call_raw(&out);
        let expected = format!(":{}\r\n", key_slot(key));
        assert_eq!(String::from_utf8_lossy(&reply), expected, "key {:?}", String::from_utf8_lossy(key));
    }
}
