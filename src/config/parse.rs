//! Value syntax shared by the directives, with redis-server 7.0's error texts.

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

pub(super) fn parse_bool(v: &[String]) -> Result<bool, SetError> {
    match one(v)?.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

pub(super) fn parse_int(v: &[String], min: i64, max: i64) -> Result<i64, SetError> {
    let n: i64 = one(v)?.parse().map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < min || n > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(n)
}

/// Redis's `memtoull`: a number with an optional unit (k, kb, m, mb, g, gb; case-insensitive).
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if num.is_empty() {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mul)
}

pub(super) fn parse_mem_arg(v: &[String]) -> Result<u64, SetError> {
    parse_memory(one(v)?).ok_or_else(|| "argument must be a memory value".to_string())
}

pub(super) fn parse_enum(v: &[String], allowed: &[&str]) -> Result<String, SetError> {
    let s = one(v)?.to_ascii_lowercase();
    if allowed.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(format!("argument(s) must be one of the following: {}", allowed.join(", ")))
    }
}

/// Checks a `save` spec: pairs of `<seconds> <changes>`, or empty to disable.
pub(super) fn parse_save(v: &[String]) -> Result<String, SetError> {
    let words: Vec<&str> = v.iter().flat_map(|s| s.split_whitespace()).collect();
    if !words.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    for w in &words {
        if w.parse::<u64>().is_err() {
            return Err("Invalid save parameters".into());
        }
    }
    Ok(words.join(" "))
}
