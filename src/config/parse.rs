//! Value syntax shared by the directives, with redis-server 7.0's parsers and error texts
//! (config.c's `numericParseString`, `numericBoundaryCheck`, util.c's `memtoull`, `string2ll`).
//! Their quirks are kept on purpose: a value Redis takes, we take, and the reverse.

/// Why a value was refused; rendered by the caller into the CONFIG SET or start-up message.
pub type SetError = String;

pub(super) fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.to_string()
}

pub(super) fn one(v: &[String]) -> Result<&str, SetError> {
    match v {
        [s] => Ok(s),
        _ => Err("wrong number of arguments".into()),
    }
}

/// `strerror`'s text for an OS error, without std's " (os error N)" suffix.
pub(super) fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Redis's `yesnotoi`.
pub(super) fn parse_bool(v: &[String]) -> Result<bool, SetError> {
    match one(v)?.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// A numeric directive's syntax and bounds (Redis's `numericConfigData`): plain integers,
/// memory values (`100mb`), percentages (`50%`, kept as a negative number as Redis does) or
/// octal (`unixsocketperm`). Bounds are compared as unsigned for Redis's unsigned types.
#[derive(Debug, Clone, Copy)]
pub struct Num {
    pub min: i128,
    pub max: i128,
    pub unsigned: bool,
    pub memory: bool,
    pub percent: bool,
    pub octal: bool,
}

/// C's limits, as Redis's config table states its ranges.
pub(super) const INT_MAX: i128 = i32::MAX as i128;
pub(super) const LONG_MAX: i128 = i64::MAX as i128;

impl Num {
    pub const fn int(min: i128, max: i128) -> Num {
        Num { min, max, unsigned: false, memory: false, percent: false, octal: false }
    }
    pub const fn memory(min: i128, max: i128) -> Num {
        Num { memory: true, ..Num::int(min, max) }
    }
    pub const fn unsigned(self) -> Num {
        Num { unsigned: true, ..self }
    }
    pub const fn percent(self) -> Num {
        Num { percent: true, ..self }
    }
    pub const fn octal(self) -> Num {
        Num { octal: true, ..self }
    }
    pub const INT: Num = Num::int(0, INT_MAX);
    pub const LONG: Num = Num::int(0, LONG_MAX);
    pub const SIZE: Num = Num::memory(0, LONG_MAX).unsigned();

    /// Parses and bounds-checks `s`, with Redis's error texts.
    pub fn parse(&self, s: &str) -> Result<i64, SetError> {
        let v = self.parse_value(s)?;
        self.check(v)?;
        Ok(v)
    }

    fn parse_value(&self, s: &str) -> Result<i64, SetError> {
        if self.memory {
            if let Some(v) = memtoull(s) {
                return Ok(v as i64);
            }
        }
        if self.percent && s.len() > 1 && s.ends_with('%') {
            if let Some(p) = string2ll(&s[..s.len() - 1]).filter(|p| *p >= 0) {
                return Ok(-p);
            }
        }
        if self.octal {
            if let Some(v) = strtoll(s, 8) {
                return Ok(v);
            }
        }
        if !(self.memory || self.percent || self.octal) {
            if let Some(v) = string2ll(s) {
                return Ok(v);
            }
        }
        Err(if self.memory && self.percent {
            "argument must be a memory or percent value"
        } else if self.memory {
            "argument must be a memory value"
        } else if self.octal {
            "argument couldn't be parsed as an octal number"
        } else {
            "argument couldn't be parsed into an integer"
        }
        .into())
    }

    fn check(&self, v: i64) -> Result<(), SetError> {
        let (min, max) = (self.min, self.max);
        if self.unsigned {
            // Redis casts the value and the bounds to unsigned long long.
            let (u, lo, hi) = (v as u64, min as u64, max as u64);
            if u > hi || u < lo {
                return Err(if self.octal {
                    format!("argument must be between {lo:o} and {hi:o} inclusive")
                } else {
                    format!("argument must be between {lo} and {hi} inclusive")
                });
            }
        } else if self.percent && v < 0 {
            if (v as i128) < min {
                return Err(format!("percentage argument must be less or equal to {}", -min));
            }
        } else if (v as i128) > max || (v as i128) < min {
            return Err(format!("argument must be between {min} and {max} inclusive"));
        }
        Ok(())
    }

    /// The value as CONFIG GET shows it.
    pub fn show(&self, v: i64) -> String {
        if self.percent && v < 0 {
            format!("{}%", -(v as i128))
        } else if self.memory {
            (v as u64).to_string()
        } else if self.octal {
            format!("{v:o}")
        } else {
            v.to_string()
        }
    }
}

/// One value parsed with `spec` (exactly one argument, as Redis's single-value configs).
pub(super) fn num(v: &[String], spec: Num) -> Result<i64, SetError> {
    spec.parse(one(v)?)
}

pub(super) fn parse_int(v: &[String], min: i64, max: i64) -> Result<i64, SetError> {
    num(v, Num::int(min as i128, max as i128))
}

/// Redis's `string2ll`: an optional `-`, no `+`, no leading zeros or spaces, no overflow.
pub fn string2ll(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i128 = 0;
    for d in digits {
        v = v * 10 + (d - b'0') as i128;
        if v > i64::MAX as i128 + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// C's `strtoll(s, &end, base)` accepted only when it consumed the whole string without
/// overflow (leading spaces and a sign allowed; the empty string is 0, as glibc gives).
pub fn strtoll(s: &str, base: u32) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() {
        // No digits: nothing was converted and `end` is the start of the string.
        return s.is_empty().then_some(0);
    }
    let mut v: i128 = 0;
    for c in body.chars() {
        v = v * base as i128 + c.to_digit(base)? as i128;
        if v > i64::MAX as i128 + 1 {
            return None;
        }
    }
    i64::try_from(if neg { -v } else { v }).ok()
}

/// Redis's `memtoull`: digits with an optional unit (b, k, kb, m, mb, g, gb; any case).
/// Like Redis, no digits means 0 and too many saturate before the unit multiplies (wrapping).
pub fn memtoull(s: &str) -> Option<u64> {
    if s.starts_with('-') {
        return None;
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if num.len() >= 128 {
        return None;
    }
    let v = if num.is_empty() { 0 } else { num.parse::<u64>().unwrap_or(u64::MAX) };
    Some(v.wrapping_mul(mul))
}

/// A memory value with at least one digit (for callers outside the directive table, which
/// want `100mb`, never Redis's empty-means-zero).
pub fn parse_memory(s: &str) -> Option<u64> {
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let v = memtoull(s)?;
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    // Reject what saturated: a real size never has 20 digits.
    (s[..digits].parse::<u64>().is_ok()).then_some(v)
}

pub(super) fn parse_mem_arg(v: &[String]) -> Result<u64, SetError> {
    Ok(num(v, Num::memory(0, u64::MAX as i128).unsigned())? as u64)
}

/// Redis's `enumConfigSet` for a single-valued enum (case-insensitive, the error lists the
/// names in the table's order).
pub(super) fn parse_enum(v: &[String], allowed: &[&str]) -> Result<String, SetError> {
    let s = v.first().filter(|_| v.len() == 1).map(|s| s.to_ascii_lowercase());
    match s {
        Some(s) if allowed.contains(&s.as_str()) => Ok(s),
        _ => Err(enum_error(allowed)),
    }
}

pub(super) fn enum_error(allowed: &[&str]) -> SetError {
    format!("argument(s) must be one of the following: {}", allowed.join(", "))
}

/// Redis's `setConfigSaveOption`: pairs of `<seconds ≥ 1> <changes ≥ 0>`, or `""` for none.
pub(super) fn parse_save(v: &[String]) -> Result<String, SetError> {
    let words: &[String] = if v.len() == 1 && v[0].is_empty() { &[] } else { v };
    if !words.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    let mut out = Vec::new();
    for (j, w) in words.iter().enumerate() {
        let min = if j % 2 == 0 { 1 } else { 0 };
        match strtoll_prefix(w) {
            Some(n) if n >= min => out.push(n.to_string()),
            _ => return Err("Invalid save parameters".into()),
        }
    }
    Ok(out.join(" "))
}

/// `strtoll` whose whole input must be consumed but which, like C, saturates on overflow.
fn strtoll_prefix(s: &str) -> Option<i64> {
    strtoll(s, 10).or_else(|| {
        let t = s.trim_start();
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| {
            if t.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            }
        })
    })
}

/// Limits of one class of clients' output buffers: a hard limit, and a soft limit that may
/// be exceeded for at most `soft_seconds` (0 bytes: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputBufferLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit`: one limit per client class, Redis's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOutputBufferLimits {
    pub normal: OutputBufferLimit,
    /// Redis's `slave` class (`replica` is accepted as its name too).
    pub replica: OutputBufferLimit,
    pub pubsub: OutputBufferLimit,
}

impl Default for ClientOutputBufferLimits {
    fn default() -> Self {
        let limit = |hard_bytes, soft_bytes, soft_seconds| OutputBufferLimit { hard_bytes, soft_bytes, soft_seconds };
        ClientOutputBufferLimits {
            normal: limit(0, 0, 0),
            replica: limit(256 << 20, 64 << 20, 60),
            pubsub: limit(32 << 20, 8 << 20, 60),
        }
    }
}

/// The classes `client-output-buffer-limit` names (Redis's `slave` is `Replica`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientClass {
    Normal = 0,
    Replica = 1,
    Pubsub = 2,
}

impl ClientClass {
    pub const ALL: [ClientClass; 3] = [ClientClass::Normal, ClientClass::Replica, ClientClass::Pubsub];
}

impl ClientOutputBufferLimits {
    /// One class's limit.
    pub fn of(&self, class: ClientClass) -> OutputBufferLimit {
        match class {
            ClientClass::Normal => self.normal,
            ClientClass::Replica => self.replica,
            ClientClass::Pubsub => self.pubsub,
        }
    }

    /// Redis's `updateClientOutputBufferLimit`: `<class> <hard> <soft> <seconds>` groups, all
    /// checked before any is applied; classes not named keep their limits.
    pub fn update(&mut self, args: &[String]) -> Result<(), SetError> {
        if !args.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut next = *self;
        for group in args.chunks(4) {
            let slot = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &mut next.normal,
                "slave" | "replica" => &mut next.replica,
                "pubsub" => &mut next.pubsub,
                _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
            };
            let seconds = strtoll_prefix(&group[3]).map(|s| s as i32);
            match (memtoull(&group[1]), memtoull(&group[2]), seconds) {
                (Some(hard), Some(soft), Some(secs)) if secs >= 0 => {
                    *slot = OutputBufferLimit { hard_bytes: hard, soft_bytes: soft, soft_seconds: secs as u64 }
                }
                _ => return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into()),
            }
        }
        *self = next;
        Ok(())
    }

    pub fn show(&self) -> String {
        [("normal", self.normal), ("slave", self.replica), ("pubsub", self.pubsub)]
            .iter()
            .map(|(n, l)| format!("{n} {} {} {}", l.hard_bytes, l.soft_bytes, l.soft_seconds))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `maxmemory-clients`: all clients' buffers together may use at most this much before the
/// biggest are disconnected (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxmemoryClients {
    Bytes(u64),
    /// A percentage of `maxmemory` (0 ..= 100).
    PercentOfMaxmemory(u8),
}

impl MaxmemoryClients {
    /// Redis's ssize_t config with MEMORY and PERCENT flags: `-100 ..= SSIZE_MAX`.
    pub const SPEC: Num = Num::memory(-100, i64::MAX as i128).percent();

    pub fn from_raw(v: i64) -> MaxmemoryClients {
        if v < 0 {
            MaxmemoryClients::PercentOfMaxmemory((-v) as u8)
        } else {
            MaxmemoryClients::Bytes(v as u64)
        }
    }

    pub fn raw(&self) -> i64 {
        match *self {
            MaxmemoryClients::Bytes(b) => b as i64,
            MaxmemoryClients::PercentOfMaxmemory(p) => -(p as i64),
        }
    }

    /// The limit in bytes for a given `maxmemory` (a percentage of 0 maxmemory: no limit).
    pub fn bytes(&self, maxmemory: u64) -> u64 {
        match *self {
            MaxmemoryClients::Bytes(b) => b,
            // As `getClientEvictionLimit`: multiplied in floating point, not divided first.
            MaxmemoryClients::PercentOfMaxmemory(p) => (maxmemory as f64 * f64::from(p) / 100.0) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_number_syntax() {
        assert_eq!(string2ll("0"), Some(0));
        assert_eq!(string2ll("-12"), Some(-12));
        for bad in ["", "01", "+1", "-0", " 1", "1.0", "-", "9223372036854775808"] {
            assert_eq!(string2ll(bad), None, "{bad:?}");
        }
        assert_eq!(string2ll("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(strtoll("", 8), Some(0));
        assert_eq!(strtoll(" 0777", 8), Some(0o777));
        assert_eq!(strtoll("8", 8), None);
        assert_eq!(strtoll(" ", 8), None);
    }

    #[test]
    fn memory_values_as_memtoull() {
        assert_eq!(memtoull("100"), Some(100));
        assert_eq!(memtoull("1k"), Some(1000));
        assert_eq!(memtoull("1KB"), Some(1024));
        assert_eq!(memtoull("2gb"), Some(2 << 30));
        assert_eq!(memtoull(""), Some(0));
        assert_eq!(memtoull("mb"), Some(0));
        assert_eq!(memtoull("99999999999999999999"), Some(u64::MAX));
        for bad in ["-1", "+5", "5 ", "1x"] {
            assert_eq!(memtoull(bad), None, "{bad:?}");
        }
        assert_eq!(parse_memory("mb"), None);
        assert_eq!(parse_memory("100mb"), Some(100 << 20));
    }

    #[test]
    fn numeric_errors_are_redis_texts() {
        let pct = MaxmemoryClients::SPEC;
        assert_eq!(pct.parse("50%"), Ok(-50));
        assert_eq!(pct.show(-50), "50%");
        assert_eq!(pct.parse("0%"), Ok(0));
        assert_eq!(pct.parse("101%").unwrap_err(), "percentage argument must be less or equal to 100");
        assert_eq!(pct.parse("-1").unwrap_err(), "argument must be a memory or percent value");
        // 2^63 bytes is negative as a signed size: Redis reads it as a percentage too.
        assert_eq!(pct.parse("9223372036854775808").unwrap_err(), "percentage argument must be less or equal to 100");
        let perm = Num::int(0, 0o777).unsigned().octal();
        assert_eq!(perm.parse("1000").unwrap_err(), "argument must be between 0 and 777 inclusive");
        assert_eq!(perm.show(0o770), "770");
        assert_eq!(Num::INT.parse("-1").unwrap_err(), "argument must be between 0 and 2147483647 inclusive");
        assert_eq!(Num::SIZE.parse("-1").unwrap_err(), "argument must be a memory value");
    }

    #[test]
    fn output_buffer_limits() {
        let mut l = ClientOutputBufferLimits::default();
        assert_eq!(l.show(), "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        l.update(&args("replica 1mb 2mb 3 normal 1 2 3")).unwrap();
        assert_eq!(l.show(), "normal 1 2 3 slave 1048576 2097152 3 pubsub 33554432 8388608 60");
        assert!(l.update(&args("master 1 2 3")).unwrap_err().starts_with("Invalid client class"));
        assert!(l.update(&args("normal 1 2 -3")).unwrap_err().starts_with("Error in hard"));
        assert!(l.update(&args("normal 1 2")).unwrap_err().starts_with("Wrong number"));
    }
}
