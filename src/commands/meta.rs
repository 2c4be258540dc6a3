//! Redis's own COMMAND INFO and COMMAND DOCS entries, which COMMAND serves for the commands
//! Ferrocache implements.
//!
//! `redis-7.0-commands.resp` holds them for every Redis 7.0 command, as one RESP3 array of
//! `[name, info, docs]` triples captured from redis-server 7.0 by
//! `tools/gen_command_meta.py` (run it again to regenerate; it also adds the few
//! subcommands Ferrocache takes from a later Redis). It is parsed on first use. The command
//! table keeps what dispatch needs (arity, flags, key positions); a test holds the two equal.

use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::collections::HashMap;
use std::sync::OnceLock;

static DATA: &[u8] = include_bytes!("redis-7.0-commands.resp");

/// One command's or subcommand's entries, as Redis reports them.
pub struct Meta {
    /// The ten-element COMMAND INFO entry (its subcommands: all of Redis's).
    pub info: Reply,
    /// The COMMAND DOCS map (its `subcommands`: all of Redis's).
    pub docs: Reply,
}

/// The entries of `name` (`get`, `config|get`; lower case), if Redis 7.0 has that command.
pub fn get(name: &str) -> Option<&'static Meta> {
    table().get(name)
}

fn table() -> &'static HashMap<String, Meta> {
    static TABLE: OnceLock<HashMap<String, Meta>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut pos = 0;
        let Reply::Array(triples) = parse(&mut pos) else { panic!("command data is not an array") };
        assert_eq!(pos, DATA.len(), "trailing bytes in the command data");
        let mut table = HashMap::new();
        for triple in triples {
            let Reply::Array(mut parts) = triple else { panic!("command data entry is not an array") };
            let (docs, info, name) = (parts.pop(), parts.pop(), parts.pop());
            let (Some(name), Some(info), Some(docs)) = (name, info, docs) else { panic!("short command data entry") };
            let name = text(&name).to_string();
            if let Some(Reply::Array(subs)) = array_at(&info, 9) {
                for sub in subs {
                    let sub_name = array_at(sub, 0).map(text).expect("subcommand name").to_string();
                    let sub_docs = field(&docs, "subcommands").and_then(|s| field(s, &sub_name)).cloned();
                    let sub_docs = sub_docs.unwrap_or_else(|| panic!("no docs for {sub_name}"));
                    table.insert(sub_name, Meta { info: sub.clone(), docs: sub_docs });
                }
            }
            table.insert(name, Meta { info, docs });
        }
        table
    })
}

/// Element `i` of an array reply.
pub fn array_at(reply: &Reply, i: usize) -> Option<&Reply> {
    match reply {
        Reply::Array(items) | Reply::Set(items) => items.get(i),
        _ => None,
    }
}

/// The value under the bulk-string key `key` of a map reply.
pub fn field<'a>(reply: &'a Reply, key: &str) -> Option<&'a Reply> {
    match reply {
        Reply::Map(pairs) => pairs.iter().find(|(k, _)| k.bulk_bytes() == Some(key.as_bytes())).map(|(_, v)| v),
        _ => None,
    }
}

/// The text of a bulk or simple string ("" for anything else).
pub fn text(reply: &Reply) -> &str {
    match reply {
        Reply::Simple(s) => s,
        Reply::Bulk(b) => std::str::from_utf8(b).unwrap_or(""),
        _ => "",
    }
}

/// An integer reply's value (0 for anything else).
pub fn int(reply: &Reply) -> i64 {
    match reply {
        Reply::Integer(n) => *n,
        _ => 0,
    }
}

/// Parses the RESP3 subset the data file uses. The file is checked in and tested, so a
/// malformed one is a build mistake: it panics.
fn parse(pos: &mut usize) -> Reply {
    let buf = DATA;
    let line_end = buf[*pos..].windows(2).position(|w| w == b"\r\n").expect("CRLF") + *pos;
    let kind = buf[*pos];
    let head = std::str::from_utf8(&buf[*pos + 1..line_end]).expect("ASCII header");
    *pos = line_end + 2;
    let n = || head.parse::<usize>().expect("length");
    match kind {
        b'+' => Reply::Simple(head.to_string().into()),
        b':' => Reply::Integer(head.parse().expect("integer")),
        b'_' => Reply::Null,
        b'$' => {
            let bytes = Bytes::from_static(&buf[*pos..*pos + n()]);
            *pos += n() + 2;
            Reply::Bulk(bytes)
        }
        b'*' => Reply::Array((0..n()).map(|_| parse(pos)).collect()),
        b'~' => Reply::Set((0..n()).map(|_| parse(pos)).collect()),
        b'%' => Reply::Map((0..n()).map(|_| (parse(pos), parse(pos))).collect()),
        other => panic!("unexpected RESP type {:?} in the command data", other as char),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_parses_and_holds_subcommands() {
        let set = get("set").expect("set");
        assert_eq!(array_at(&set.info, 0).map(text), Some("set"));
        assert_eq!(field(&set.docs, "since").map(text), Some("1.0.0"));
        let config_get = get("config|get").expect("config|get");
        assert_eq!(int(array_at(&config_get.info, 1).unwrap()), -3);
        assert_eq!(field(&config_get.docs, "group").map(text), Some("server"));
        assert!(get("client|setinfo").is_some(), "added from Redis 7.2");
        assert!(get("nosuchcommand").is_none());
    }
}
