//! The golden data of `testdata/`, produced by a real redis-server 7.0.15 (`testdata/generate.py`).

/// One line of `dump_payloads.txt`: a string value and Redis's DUMP payload of it.
pub struct DumpFixture {
    pub name: &'static str,
    pub value: Vec<u8>,
    pub payload: Vec<u8>,
}

pub fn dump_payloads() -> Vec<DumpFixture> {
    include_str!("testdata/dump_payloads.txt")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split(' ');
            let (Some(name), Some(spec), Some(payload), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                panic!("malformed fixture line: {line}");
            };
            DumpFixture { name, value: build_value(spec), payload: hex(payload) }
        })
        .collect()
}

/// `dump_other_types.txt`: (type name, Redis's DUMP payload) for types other than string.
pub fn other_type_payloads() -> Vec<(&'static str, Vec<u8>)> {
    include_str!("testdata/dump_other_types.txt")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (type_name, payload) = line.split_once(' ').expect("type and payload");
            (type_name, hex(payload))
        })
        .collect()
}

/// The value specs of generate.py: `hex:`, `rep:<count>:<hex>`, `splitmix:<seed>:<len>`, `numbers:<count>`.
fn build_value(spec: &str) -> Vec<u8> {
    let (kind, rest) = spec.split_once(':').expect("kind:rest");
    match kind {
        "hex" => hex(rest),
        "rep" => {
            let (count, unit) = rest.split_once(':').expect("count:unit");
            hex(unit).repeat(count.parse().expect("count"))
        }
        "splitmix" => {
            let (seed, len) = rest.split_once(':').expect("seed:len");
            splitmix_bytes(seed.parse().expect("seed"), len.parse().expect("len"))
        }
        "numbers" => {
            let count: u64 = rest.parse().expect("count");
            (0..count).map(|i| format!("{i}:{},", i * i % 9973)).collect::<String>().into_bytes()
        }
        _ => panic!("unknown value spec {spec}"),
    }
}

/// The low byte of each output of splitmix64, as generate.py computes it.
pub fn splitmix_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

pub fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit")).collect()
}
