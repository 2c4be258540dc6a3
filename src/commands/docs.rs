//! COMMAND DOCS `arguments`, derived from each command's syntax line.
//!
//! The table stores Redis's human syntax (`key value [NX|XX] [EX seconds|PX milliseconds]`)
//! once; this turns it into the nested argument maps redis-cli 7 builds its hints from:
//! lower-case words are values, upper-case words tokens, `[…]` optional, `a|b` one-of,
//! `x [x ...]` or `x ...` multiple.

use bytes::Bytes;
use ferrocache_protocol::Reply;

#[derive(Debug, Clone, PartialEq)]
struct Arg {
    name: String,
    kind: &'static str,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    children: Vec<Arg>,
}

impl Arg {
    fn value(name: &str) -> Arg {
        Arg {
            name: name.to_string(),
            kind: value_type(name),
            token: None,
            optional: false,
            multiple: false,
            children: vec![],
        }
    }

    fn token(tok: &str) -> Arg {
        Arg {
            name: tok.to_ascii_lowercase(),
            kind: "pure-token",
            token: Some(tok.to_string()),
            optional: false,
            multiple: false,
            children: vec![],
        }
    }

    fn group(kind: &'static str, children: Vec<Arg>) -> Arg {
        let name = children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("-");
        Arg { name, kind, token: None, optional: false, multiple: false, children }
    }

    fn to_reply(&self) -> Reply {
        let kv = |k: &str, v: Reply| (Reply::Bulk(Bytes::copy_from_slice(k.as_bytes())), v);
        let text = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
        let mut m = vec![kv("name", text(&self.name)), kv("type", text(self.kind))];
        if self.kind == "key" {
            m.push(kv("key_spec_index", Reply::Integer(0)));
        }
        if let Some(t) = &self.token {
            m.push(kv("token", text(t)));
        }
        let mut flags = vec![];
        if self.optional {
            flags.push(Reply::Simple("optional".into()));
        }
        if self.multiple {
            flags.push(Reply::Simple("multiple".into()));
        }
        if !flags.is_empty() {
            m.push(kv("flags", Reply::Set(flags)));
        }
        if !self.children.is_empty() {
            m.push(kv("arguments", Reply::Array(self.children.iter().map(Arg::to_reply).collect())));
        }
        Reply::Map(m)
    }
}

fn value_type(name: &str) -> &'static str {
    match name {
        "key" | "source" | "destination" | "newkey" => "key",
        "seconds"
        | "milliseconds"
        | "count"
        | "index"
        | "offset"
        | "start"
        | "end"
        | "db"
        | "numkeys"
        | "increment"
        | "decrement"
        | "cursor"
        | "bit"
        | "len"
        | "unix-time-seconds"
        | "unix-time-milliseconds"
        | "protover"
        | "client-id"
        | "min-match-len"
        | "ttl"
        | "frequency" => "integer",
        _ => "string",
    }
}

fn is_token(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_uppercase()) && !word.chars().any(|c| c.is_ascii_lowercase())
}

fn tokenize(syntax: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in syntax.chars() {
        match c {
            '[' | ']' | '|' | ' ' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                if c != ' ' {
                    out.push(c.to_string());
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Parses a sequence up to a closing `]` (or the end), with `|` alternatives.
fn parse_seq(tokens: &[String], pos: &mut usize) -> Vec<Arg> {
    let mut alternatives: Vec<Vec<Arg>> = vec![vec![]];
    while *pos < tokens.len() {
        let t = tokens[*pos].as_str();
        *pos += 1;
        let current = alternatives.last_mut().expect("never empty");
        match t {
            "]" => break,
            "|" => alternatives.push(vec![]),
            "..." => {
                if let Some(last) = current.last_mut() {
                    last.multiple = true;
                }
            }
            "[" => {
                let inner = parse_seq(tokens, pos);
                // `x [x ...]`: the group repeats the previous argument.
                if let (Some(last), [only]) = (current.last_mut(), inner.as_slice()) {
                    if only.multiple && only.name == last.name && only.kind == last.kind {
                        last.multiple = true;
                        continue;
                    }
                }
                let mut group = match inner.len() {
                    1 => inner.into_iter().next().expect("one"),
                    _ => Arg::group("block", inner),
                };
                group.optional = true;
                current.push(group);
            }
            word if is_token(word) => current.push(Arg::token(word)),
            word => {
                // `EX seconds`: a token followed by its value becomes one argument.
                match current.last_mut() {
                    Some(last) if last.kind == "pure-token" && !last.optional && last.children.is_empty() => {
                        let token = last.token.take();
                        *last = Arg { token, ..Arg::value(word) };
                    }
                    _ => current.push(Arg::value(word)),
                }
            }
        }
    }
    if alternatives.len() == 1 {
        return alternatives.pop().expect("one");
    }
    let options = alternatives
        .into_iter()
        .filter(|a| !a.is_empty())
        .map(|alt| if alt.len() == 1 { alt.into_iter().next().expect("one") } else { Arg::group("block", alt) })
        .collect();
    vec![Arg::group("oneof", options)]
}

fn parse(syntax: &str) -> Vec<Arg> {
    let tokens = tokenize(syntax);
    let mut pos = 0;
    let mut args = Vec::new();
    while pos < tokens.len() {
        args.extend(parse_seq(&tokens, &mut pos));
    }
    args
}

/// The `arguments` array of COMMAND DOCS for a syntax line.
pub fn arguments(syntax: &str) -> Vec<Reply> {
    parse(syntax).iter().map(Arg::to_reply).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(args: &[Arg]) -> Vec<(String, &'static str, Option<String>, bool, bool)> {
        args.iter().map(|a| (a.name.clone(), a.kind, a.token.clone(), a.optional, a.multiple)).collect()
    }

    #[test]
    fn set_syntax() {
        let args = parse("key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]");
        assert_eq!(args.len(), 5);
        assert_eq!(
            names(&args[..2]),
            vec![("key".into(), "key", None, false, false), ("value".into(), "string", None, false, false)]
        );
        assert_eq!(args[2].kind, "oneof");
        assert!(args[2].optional);
        assert_eq!(
            names(&args[2].children),
            vec![
                ("nx".into(), "pure-token", Some("NX".into()), false, false),
                ("xx".into(), "pure-token", Some("XX".into()), false, false)
            ]
        );
        assert_eq!(names(&args[3..4]), vec![("get".into(), "pure-token", Some("GET".into()), true, false)]);
        assert_eq!(names(&args[4].children)[0], ("seconds".into(), "integer", Some("EX".into()), false, false));
        assert_eq!(names(&args[4].children)[2], ("keepttl".into(), "pure-token", Some("KEEPTTL".into()), false, false));
    }

    #[test]
    fn repetition() {
        let args = parse("key [key ...]");
        assert_eq!(names(&args), vec![("key".into(), "key", None, false, true)]);
        let args = parse("key value [key value ...]");
        assert_eq!(args.len(), 3);
        assert!(args[2].optional && args[2].kind == "block");
    }

    #[test]
    fn empty_syntax_has_no_arguments() {
        assert!(arguments("").is_empty());
    }
}
