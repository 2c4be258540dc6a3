//! COMMAND's metadata against real redis-server 7.0, byte for byte, in RESP2 and RESP3:
//! COMMAND INFO and COMMAND DOCS of every command and subcommand Ferrocache implements,
//! COMMAND and COMMAND INFO / DOCS without names, COMMAND LIST (with each FILTERBY), COMMAND
//! COUNT, and COMMAND GETKEYS / GETKEYSANDFLAGS over a set of command lines.
//!
//! Two differences are by design, and the comparison undoes them on Redis's side only:
//! Ferrocache lists only the commands and subcommands it implements, and Redis orders
//! commands and a container's subcommands by a hash table with a per-process random seed
//! (so two Redis runs differ too): entries are compared in name order. CLIENT SETINFO comes
//! from Redis 7.2 (the 7.0 reference does not know it) and is checked for presence only.

mod common;

use common::reference::*;

/// Implemented only from a later Redis: the 7.0 reference answers null for it.
const LATER: &[&str] = &["client|setinfo"];

fn reply(conn: &mut RespConn, args: &[&[u8]]) -> Node {
    match conn.call(args) {
        Outcome::Reply(node) => node,
        other => panic!("{}: {}", String::from_utf8_lossy(&args.concat()), other.describe(Compare::Exact)),
    }
}

fn text(node: &Node) -> String {
    String::from_utf8_lossy(node.bulk().unwrap_or_else(|| panic!("not a bulk string: {}", escape(&node.bytes()))))
        .into_owned()
}

/// An aggregate of the same kind as `like`, holding `children` (`pairs`: a map's length
/// counts pairs).
fn aggregate(like: &Node, children: Vec<Node>) -> Node {
    let len = if like.kind() == b'%' { children.len() / 2 } else { children.len() };
    Node { head: format!("{}{len}\r\n", like.kind() as char).into_bytes(), children }
}

/// Pairs of a map, whether RESP3 (`%`) or RESP2's flat array.
fn pairs(map: &Node) -> Vec<(Node, Node)> {
    map.children.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
}

fn from_pairs(like: &Node, mut pairs: Vec<(Node, Node)>, sort: bool) -> Node {
    if sort {
        pairs.sort_by_key(|(k, _)| text(k));
    }
    aggregate(like, pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
}

/// A COMMAND INFO entry with its subcommands (element 9) narrowed to `keep` and in name order.
fn normal_info(entry: &Node, keep: &dyn Fn(&str) -> bool) -> Node {
    if !entry.is_aggregate() {
        return entry.clone();
    }
    let mut entry = entry.clone();
    let subs = &entry.children[9];
    let mut kept: Vec<Node> = subs.children.iter().filter(|s| keep(&text(&s.children[0]))).cloned().collect();
    kept.sort_by_key(|s| text(&s.children[0]));
    entry.children[9] = aggregate(subs, kept);
    entry
}

/// A COMMAND DOCS entry with its `subcommands` narrowed to `keep` and in name order (and
/// dropped when none is left, as for a command without subcommands).
fn normal_docs(docs: &Node, keep: &dyn Fn(&str) -> bool) -> Node {
    let mut fields = Vec::new();
    for (k, v) in pairs(docs) {
        if text(&k) != "subcommands" {
            fields.push((k, v));
            continue;
        }
        let subs: Vec<(Node, Node)> = pairs(&v).into_iter().filter(|(name, _)| keep(&text(name))).collect();
        if !subs.is_empty() {
            fields.push((k, from_pairs(&v, subs, true)));
        }
    }
    from_pairs(docs, fields, false)
}

fn names(list: &Node) -> Vec<String> {
    let mut names: Vec<String> = list.children.iter().map(text).collect();
    names.sort();
    names
}

struct Both {
    redis: RespConn,
    ferro: RespConn,
    /// Every command and subcommand Ferrocache implements (COMMAND LIST).
    ours: Vec<String>,
    mismatches: Vec<String>,
}

impl Both {
    fn implemented(&self, name: &str) -> bool {
        self.ours.iter().any(|n| n == name)
    }

    fn check(&mut self, what: &str, redis: Node, ferro: Node) {
        if redis != ferro {
            self.mismatches.push(format!(
                "{what}\n  redis:      {}\n  ferrocache: {}",
                escape(&redis.bytes()),
                escape(&ferro.bytes())
            ));
        }
    }

    fn both(&mut self, args: &[&[u8]]) -> (Node, Node) {
        (reply(&mut self.redis, args), reply(&mut self.ferro, args))
    }
}

fn connect(proto: u8, redis: &RedisServer, ferro: &Ferrocache) -> Both {
    let mut b = Both {
        redis: RespConn::connect(redis.addr).unwrap(),
        ferro: RespConn::connect(ferro.addr).unwrap(),
        ours: vec![],
        mismatches: vec![],
    };
    if proto == 3 {
        b.both(&[b"HELLO", b"3"]);
    }
    b.ours = names(&reply(&mut b.ferro, &[b"COMMAND", b"LIST"]));
    b
}

fn info_and_docs_of_each_command(b: &mut Both) {
    let ours = b.ours.clone();
    for name in &ours {
        if LATER.contains(&name.as_str()) {
            let (redis, ferro) = b.both(&[b"COMMAND", b"INFO", name.as_bytes()]);
            assert!(!redis.children[0].is_aggregate(), "Redis 7.0 knows {name}: take its data");
            assert!(ferro.children[0].is_aggregate(), "{name} has no COMMAND INFO");
            continue;
        }
        let implemented = |n: &str| ours.iter().any(|o| o == n) && !LATER.contains(&n);
        let (redis, ferro) = b.both(&[b"COMMAND", b"INFO", name.as_bytes()]);
        let redis = aggregate(&redis, vec![normal_info(&redis.children[0], &implemented)]);
        let ferro = aggregate(&ferro, vec![normal_info(&ferro.children[0], &implemented)]);
        b.check(&format!("COMMAND INFO {name}"), redis, ferro);
        let (redis, ferro) = b.both(&[b"COMMAND", b"DOCS", name.as_bytes()]);
        let normal = |all: &Node| {
            from_pairs(all, pairs(all).into_iter().map(|(k, v)| (k, normal_docs(&v, &implemented))).collect(), false)
        };
        let (redis, ferro) = (normal(&redis), normal(&ferro));
        b.check(&format!("COMMAND DOCS {name}"), redis, ferro);
    }
    // Names in any case, several at once, unknown ones.
    for args in [
        &[&b"COMMAND"[..], b"INFO", b"GET", b"nosuch", b"Config|Get", b"config|nosuch", b"get|x"][..],
        &[b"COMMAND", b"DOCS", b"GET", b"nosuch", b"Config|Get", b"config|nosuch"],
        &[b"COMMAND", b"INFO", b""],
    ] {
        let (redis, ferro) = b.both(args);
        b.check(&String::from_utf8_lossy(&args.join(&b' ')), redis, ferro);
    }
}

/// COMMAND, COMMAND INFO and COMMAND DOCS without names: Redis's entries for what we
/// implement, each narrowed, in name order.
fn everything(b: &mut Both) {
    let ours = b.ours.clone();
    let implemented = |n: &str| ours.iter().any(|o| o == n) && !LATER.contains(&n);
    for args in [&[&b"COMMAND"[..]][..], &[b"COMMAND", b"INFO"]] {
        let (redis, ferro) = b.both(args);
        let normal = |all: &Node| {
            let mut entries: Vec<Node> = all
                .children
                .iter()
                .filter(|e| implemented(&text(&e.children[0])))
                .map(|e| normal_info(e, &implemented))
                .collect();
            entries.sort_by_key(|e| text(&e.children[0]));
            aggregate(all, entries)
        };
        b.check(&String::from_utf8_lossy(&args.join(&b' ')), normal(&redis), normal(&ferro));
    }
    let (redis, ferro) = b.both(&[b"COMMAND", b"DOCS"]);
    let normal = |all: &Node| {
        let kept = pairs(all).into_iter().filter(|(k, _)| implemented(&text(k)));
        from_pairs(all, kept.map(|(k, v)| (k, normal_docs(&v, &implemented))).collect(), true)
    };
    b.check("COMMAND DOCS", normal(&redis), normal(&ferro));
}

fn count_and_list(b: &mut Both) {
    let (redis_list, _) = b.both(&[b"COMMAND", b"LIST"]);
    let redis_names = names(&redis_list);
    let invented: Vec<&String> =
        b.ours.iter().filter(|n| !redis_names.contains(n) && !LATER.contains(&n.as_str())).collect();
    assert!(invented.is_empty(), "commands Redis 7.0 does not have: {invented:?}");
    let top = b.ours.iter().filter(|n| !n.contains('|')).count() as i64;
    let (redis, ferro) = b.both(&[b"COMMAND", b"COUNT"]);
    assert_eq!(ferro.integer(), Some(top));
    assert_eq!(redis.integer(), Some(redis_names.iter().filter(|n| !n.contains('|')).count() as i64));
    for filter in [
        &[&b"ACLCAT"[..], b"keyspace"][..],
        &[b"ACLCAT", b"Dangerous"],
        &[b"ACLCAT", b"@read"],
        &[b"ACLCAT", b"nosuch"],
        &[b"PATTERN", b"c*"],
        &[b"PATTERN", b"*|help"],
        &[b"PATTERN", b"CONFIG|[gs]et"],
        &[b"MODULE", b"nosuch"],
    ] {
        let args = [&[&b"COMMAND"[..], b"LIST", b"FILTERBY"][..], filter].concat();
        let (redis, ferro) = b.both(&args);
        let redis: Vec<String> = names(&redis).into_iter().filter(|n| b.implemented(n)).collect();
        let ferro: Vec<String> = names(&ferro).into_iter().filter(|n| !LATER.contains(&n.as_str())).collect();
        assert_eq!(ferro, redis, "{}", String::from_utf8_lossy(&args.join(&b' ')));
    }
    for args in [
        &[&b"COMMAND"[..], b"LIST", b"FILTERBY"][..],
        &[b"COMMAND", b"LIST", b"FILTERBY", b"nosuch", b"x"],
        &[b"COMMAND", b"LIST", b"FILTERBY", b"PATTERN", b"x", b"y"],
        &[b"COMMAND", b"LIST", b"x"],
    ] {
        let (redis, ferro) = b.both(args);
        b.check(&String::from_utf8_lossy(&args.join(&b' ')), redis, ferro);
    }
}

/// Command lines for GETKEYS / GETKEYSANDFLAGS: key specs of every shape we implement
/// (index+range, several specs, keyword search, incomplete specs, variable flags), and the
/// errors in the order Redis checks them.
const GETKEYS: &[&str] = &[
    "get k",
    "set k v",
    "set k v GET",
    "set k v EX 10 get",
    "set k v nx",
    "mset a 1 b 2 c 3",
    "mset a 1 b",
    "msetnx a 1 b 2",
    "mget a b c",
    "del a b c",
    "exists a",
    "copy src dst",
    "copy src dst DB 1 REPLACE",
    "rename a b",
    "renamenx a b",
    "move a 1",
    "lcs a b",
    "getex k PERSIST",
    "getdel k",
    "bitcount k 0 1",
    "touch a b",
    "watch a b",
    "object encoding k",
    "object help",
    "memory usage k",
    "dump k",
    "restore k 0 payload",
    "restore-asking k 0 payload",
    "expire k 10",
    "incrbyfloat k 1.5",
    "setrange k 0 v",
    "migrate h 1 k 0 5",
    "migrate h 1 \"\" 0 5 KEYS a b",
    "migrate h 1 \"\" 0 5 COPY REPLACE AUTH p KEYS a",
    "migrate h 1 \"\" 0 5 AUTH2 u p KEYS a b c",
    "migrate h 1 \"\" 0 5 KEYS",
    "migrate h 1 k 0 5 KEYS a",
    "ping",
    "ping x",
    "cluster info",
    "cluster nosuch",
    "cluster",
    "config get x",
    "config nosuch",
    "nosuch a b",
    "get",
    "get a b",
    "set k",
    "mset a",
    "scan 0",
    "keys *",
    "client list",
];

fn getkeys(b: &mut Both) {
    for line in GETKEYS {
        let parts = ferrocache_protocol::split_args(&bytes::Bytes::copy_from_slice(line.as_bytes())).unwrap();
        for sub in [&b"GETKEYS"[..], b"GETKEYSANDFLAGS"] {
            let mut args: Vec<&[u8]> = vec![b"COMMAND", sub];
            args.extend(parts.iter().map(|p| &p[..]));
            let (redis, ferro) = b.both(&args);
            b.check(&format!("COMMAND {} {line}", String::from_utf8_lossy(sub)), redis, ferro);
        }
    }
}

#[test]
fn command_metadata_matches_redis() {
    let redis = RedisServer::start();
    let ferro = Ferrocache::start();
    let mut mismatches = Vec::new();
    for proto in [2, 3] {
        let mut b = connect(proto, &redis, &ferro);
        assert!(b.ours.len() > 100, "COMMAND LIST: {:?}", b.ours);
        info_and_docs_of_each_command(&mut b);
        everything(&mut b);
        count_and_list(&mut b);
        getkeys(&mut b);
        mismatches.extend(b.mismatches.into_iter().map(|m| format!("RESP{proto} {m}")));
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}
