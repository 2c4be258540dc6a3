//! # CLUSTER SLOTS / NODES / SHARDS / INFO / LINKS of a 3-primary cluster, against real redis-server 7.0
//!
//! Three `redis-server --cluster-enabled yes` and three Ferrocache nodes, each set made a
//! cluster by `redis-cli --cluster create`, so both get the same slots (node i: the i-th third)
//! and config epochs (i + 1). Every node of each cluster is then asked the same questions, in
//! RESP2 and (after `HELLO 3` on a raw connection) RESP3, and the replies must be the same bytes
//! once what has to differ is replaced by a placeholder:
//!
//! * node ids → `<id{i}>`, client ports → `<port{i}>`, bus ports → `<bus{i}>`, `i` being the
//!   node's position in the `create` command (so slot ranges line up);
//! * the ping-sent / pong-received columns of CLUSTER NODES (milliseconds of the wall clock);
//! * CLUSTER INFO's `cluster_stats_messages_*` counters: Redis counts the PING/PONG/MEET
//!   messages of its gossip bus; ours counts the pings and pongs of its link liveness checks
//!   (the rest of the bus is Raft's traffic, and MEET is a join, not a message of its own), at
//!   its own pace. The per-type lines are dropped and the totals' values masked; the totals must
//!   still be there, at the same place;
//! * the bulk / verbatim length header, which follows from the above (checked to be the body's
//!   length on both sides, then compared as `<len>`).
//!
//! Order: CLUSTER SLOTS is in slot order on both. CLUSTER NODES lines and CLUSTER SHARDS
//! entries come in the order of Redis's node dict, i.e. a hash order no client can rely on, so
//! both sides are sorted by node index.
//!
//! The questions are asked three times: right after `create`; with slot 100 open (importing on
//! node 1, migrating on node 0: the `[100-<-id]` / `[100->-id]` marks redis-cli reads); and after
//! `SETSLOT 100 NODE` closed it (a one-slot range, a split range, the epoch bump of the
//! importing node, as Redis does it).

mod common;

use common::cluster::{port_pair, redis_cli, ProcessCluster};
use common::keyspace::wait_until;
use common::process::ServerProcess;
use common::{Conn, TempDir};

/// One side: its nodes' client ports and ids, in `create` order.
struct Side {
    ports: Vec<u16>,
    ids: Vec<String>,
}

impl Side {
    fn new(ports: Vec<u16>) -> Side {
        let ids =
            ports.iter().map(|p| redis_cli(&["-p", &p.to_string(), "CLUSTER", "MYID"]).1.trim().to_string()).collect();
        Side { ports, ids }
    }

    fn create(&self) {
        let addrs: Vec<String> = self.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.push("--cluster-yes");
        let (ok, out) = redis_cli(&args);
        assert!(ok && out.contains("[OK] All 16384 slots covered."), "{out}");
    }

    /// Waits until every node says `cluster_state:ok`, `--cluster check` passes and every
    /// node's view of the topology (ids, addresses, flags but myself, epochs, slots) is the same,
    /// with the same current epoch: Redis's gossip takes a moment to get there.
    fn wait_converged(&self, what: &str) {
        let view = |port: u16| -> Option<String> {
            let mut c = Conn::new(([127, 0, 0, 1], port).into());
            let info = c.call_text(&[b"CLUSTER", b"INFO"]);
            if !info.contains("cluster_state:ok") {
                return None;
            }
            let epoch = info.lines().find(|l| l.starts_with("cluster_current_epoch:"))?.to_string();
            let (_, body) = bulk_body(&c.call_text(&[b"CLUSTER", b"NODES"]));
            let mut lines: Vec<String> = body
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    let slots: Vec<&str> = f[8..].iter().copied().filter(|s| !s.starts_with('[')).collect();
                    let f2 = f[2].replace("myself,", "");
                    format!("{} {} {} {} {} {} {}", f[0], f[1], f2, f[3], f[6], f[7], slots.join(" "))
                })
                .collect();
            lines.sort();
            Some(format!("{epoch}\n{}", lines.join("\n")))
        };
        wait_until(what, || {
            let views: Vec<Option<String>> = self.ports.iter().map(|&p| view(p)).collect();
            views[0].is_some() && views.iter().all(|v| v == &views[0])
        });
        let addr = format!("127.0.0.1:{}", self.ports[0]);
        wait_until(what, || {
            let (ok, out) = redis_cli(&["--cluster", "check", &addr]);
            ok && out.contains("[OK] All nodes agree about slots configuration.")
                && out.contains("[OK] All 16384 slots covered.")
        });
    }

    fn cluster(&self, i: usize, args: &[&str]) {
        let mut full = vec!["-p".to_string(), self.ports[i].to_string()];
        full.extend(args.iter().map(|a| a.to_string()));
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let (ok, out) = redis_cli(&full);
        assert!(ok && out.trim() == "OK", "{args:?} on node {i}: {out}");
    }

    /// Replaces ids, `ip:port@bus` and integer ports by their node's index.
    fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (i, (id, port)) in self.ids.iter().zip(&self.ports).enumerate() {
            text = text.replace(id, &format!("<id{i}>"));
            text = text.replace(&format!(":{port}@{}", port + 10000), &format!(":<port{i}>@<bus{i}>"));
            // RESP integers (SLOTS, SHARDS); slots are < 16384 and ports are not.
            text = text.replace(&format!(":{port}\r\n"), &format!(":<port{i}>\r\n"));
        }
        text
    }

    /// The four replies of node `i`, masked, in RESP2 or RESP3.
    fn replies(&self, i: usize, resp3: bool) -> Vec<(String, String)> {
        let mut c = Conn::new(([127, 0, 0, 1], self.ports[i]).into());
        if resp3 {
            let hello = c.call_text(&[b"HELLO", b"3"]);
            assert!(hello.starts_with('%'), "{hello}");
        }
        let proto = if resp3 { "RESP3" } else { "RESP2" };
        let mut out = Vec::new();
        for sub in ["SLOTS", "NODES", "SHARDS", "INFO"] {
            let reply = c.call_text(&[b"CLUSTER", sub.as_bytes()]);
            let masked = match sub {
                "NODES" => {
                    let (header, body) = bulk_body(&reply);
                    let mut lines: Vec<String> = body.lines().map(|l| self.mask_nodes_line(l)).collect();
                    lines.sort();
                    format!("{header}{}\n", lines.join("\n"))
                }
                "INFO" => {
                    let (header, body) = bulk_body(&reply);
                    let lines: Vec<String> = body
                        .split_inclusive("\r\n")
                        .filter_map(|l| match l.split_once(':') {
                            Some((k, _))
                                if k == "cluster_stats_messages_sent" || k == "cluster_stats_messages_received" =>
                            {
                                Some(format!("{k}:<n>\r\n"))
                            }
                            Some((k, _)) if k.starts_with("cluster_stats_messages_") => None,
                            _ => Some(l.to_string()),
                        })
                        .collect();
                    format!("{header}{}", lines.concat())
                }
                "SHARDS" => {
                    let (header, mut shards) = split_aggregate(&reply);
                    let masked: Vec<String> = shards.drain(..).map(|s| self.mask(&s)).collect();
                    let mut keyed: Vec<(usize, String)> = masked.into_iter().map(|s| (first_index(&s), s)).collect();
                    keyed.sort();
                    format!("{header}{}", keyed.into_iter().map(|(_, s)| s).collect::<String>())
                }
                _ => self.mask(&reply),
            };
            out.push((format!("node {i} {proto} CLUSTER {sub}"), masked));
        }
        out
    }

    /// CLUSTER LINKS of node `i` in RESP2 and RESP3, each link masked (ids, its create time)
    /// and the links sorted: Redis lists them in its node dict's hash order.
    fn links(&self, i: usize) -> Vec<String> {
        let mut c = Conn::new(([127, 0, 0, 1], self.ports[i]).into());
        let mut out = Vec::new();
        for resp3 in [false, true] {
            if resp3 {
                assert!(c.call_text(&[b"HELLO", b"3"]).starts_with('%'));
            }
            let (header, links) = split_aggregate(&c.call_text(&[b"CLUSTER", b"LINKS"]));
            let mut masked: Vec<String> = links
                .iter()
                .map(|l| {
                    let l = self.mask(l);
                    let (before, after) = l.split_once("create-time\r\n:").expect("a create-time");
                    let (time, rest) = after.split_once("\r\n").unwrap();
                    assert!(time.parse::<u64>().is_ok(), "{l}");
                    format!("{before}create-time\r\n:<ms>\r\n{rest}")
                })
                .collect();
            masked.sort();
            out.push(format!("{header}{}", masked.concat()));
        }
        out
    }

    /// A CLUSTER NODES line, masked: ids, addresses and the two times.
    fn mask_nodes_line(&self, line: &str) -> String {
        let line = self.mask(line);
        let mut f: Vec<String> = line.split(' ').map(str::to_string).collect();
        assert!(f[4].parse::<u64>().is_ok() && f[5].parse::<u64>().is_ok(), "{line}");
        f[4] = "<ping-sent>".into();
        f[5] = "<pong-recv>".into();
        f.join(" ")
    }
}

/// The index `i` of the first `<id{i}>` in `text` (a masked shard: its master comes first).
fn first_index(text: &str) -> usize {
    let at = text.find("<id").expect("a node id") + 3;
    text[at..].split('>').next().unwrap().parse().unwrap()
}

/// A bulk (`$`) or verbatim (`=`, format `txt`) reply: its header with the length masked
/// (after checking it is the body's) and the verbatim format, and its body.
fn bulk_body(reply: &str) -> (String, String) {
    let (header, rest) = reply.split_once("\r\n").expect("a header line");
    let len: usize = header[1..].parse().unwrap_or_else(|_| panic!("not a bulk: {reply}"));
    let body = rest.strip_suffix("\r\n").unwrap_or_else(|| panic!("no final CRLF: {reply}"));
    assert_eq!(body.len(), len, "length header of {reply}");
    match &header[..1] {
        "$" => ("$<len>\r\n".to_string(), body.to_string()),
        "=" => {
            let text = body.strip_prefix("txt:").unwrap_or_else(|| panic!("not txt: {reply}"));
            ("=<len>\r\ntxt:".to_string(), text.to_string())
        }
        _ => panic!("not a bulk: {reply}"),
    }
}

/// The byte length of the first RESP element of `s`.
fn element_len(s: &str) -> usize {
    let line_end = s.find("\r\n").expect("a CRLF") + 2;
    let count = || s[1..line_end - 2].parse::<i64>().unwrap();
    match &s[..1] {
        "$" | "=" | "!" if count() >= 0 => line_end + count() as usize + 2,
        "*" | "~" | ">" | "%" => {
            let n = if &s[..1] == "%" { 2 * count() } else { count() };
            let mut at = line_end;
            for _ in 0..n.max(0) {
                at += element_len(&s[at..]);
            }
            at
        }
        _ => line_end,
    }
}

/// An aggregate reply split into its header line and its elements' texts.
fn split_aggregate(reply: &str) -> (String, Vec<String>) {
    let line_end = reply.find("\r\n").unwrap() + 2;
    let mut items = Vec::new();
    let mut at = line_end;
    while at < reply.len() {
        let len = element_len(&reply[at..]);
        items.push(reply[at..at + len].to_string());
        at += len;
    }
    assert_eq!(element_len(reply), reply.len(), "one whole reply: {reply}");
    (reply[..line_end].to_string(), items)
}

/// Every node's replies, RESP2 then RESP3.
fn all_replies(side: &Side) -> Vec<(String, String)> {
    (0..side.ports.len()).flat_map(|i| [side.replies(i, false), side.replies(i, true)]).flatten().collect()
}

fn assert_same(stage: &str, redis: &Side, ours: &Side) {
    let (expected, got) = (all_replies(redis), all_replies(ours));
    assert_eq!(got.len(), expected.len());
    for ((what, e), (_, g)) in expected.iter().zip(&got) {
        assert_eq!(g, e, "{stage}: {what}");
    }
}

/// Opens slot 100 from node 0 to node 1 (as reshard does: importing first).
fn open_slot_100(side: &Side) {
    side.cluster(1, &["CLUSTER", "SETSLOT", "100", "IMPORTING", &side.ids[0]]);
    side.cluster(0, &["CLUSTER", "SETSLOT", "100", "MIGRATING", &side.ids[1]]);
}

/// Closes it with `SETSLOT NODE` on the importing node, the migrating one, then the other.
fn close_slot_100(side: &Side) {
    for i in [1, 0, 2] {
        side.cluster(i, &["CLUSTER", "SETSLOT", "100", "NODE", &side.ids[1]]);
    }
}

#[test]
fn cluster_replies_of_every_node_match_a_redis_cluster() {
    let redis_dirs: Vec<TempDir> = (0..3).map(|i| TempDir::new(&format!("replies-redis{i}"))).collect();
    let redis_nodes: Vec<ServerProcess> = redis_dirs
        .iter()
        .map(|d| {
            let args = ["--cluster-enabled", "yes", "--cluster-node-timeout", "3000"];
            ServerProcess::redis_on(&d.0, port_pair(), &args)
        })
        .collect();
    let redis = Side::new(redis_nodes.iter().map(|n| n.addr.port()).collect());
    redis.create();

    let cluster = ProcessCluster::start("replies", 3);
    let ours = Side::new(cluster.ports.clone());
    ours.create();

    redis.wait_converged("the redis cluster to converge");
    ours.wait_converged("our cluster to converge");
    assert_same("after create", &redis, &ours);
    // Each node has a bus link to and from each other node, as Redis's nodes do.
    for i in 0..3 {
        wait_until("the bus links to match", || redis.links(i) == ours.links(i));
        assert_eq!(ours.links(i)[0].matches("direction").count(), 4, "{:?}", ours.links(i));
    }

    // While Redis's SETSLOT state reaches only the node it was sent to, nothing to wait for.
    open_slot_100(&redis);
    open_slot_100(&ours);
    assert_same("slot 100 open", &redis, &ours);

    close_slot_100(&redis);
    close_slot_100(&ours);
    redis.wait_converged("the redis cluster to agree on slot 100");
    ours.wait_converged("our cluster to agree on slot 100");
    assert_same("slot 100 moved", &redis, &ours);
    // The stage did exercise the epoch bump: node 1 (epoch 2, not the greatest) took epoch 4
    // for the slot it imported (`clusterBumpConfigEpochWithoutConsensus`).
    let (_, info) = bulk_body(&Conn::new(([127, 0, 0, 1], ours.ports[1]).into()).call_text(&[b"CLUSTER", b"INFO"]));
    assert!(info.contains("cluster_my_epoch:4\r\n"), "{info}");
}

#[test]
fn resp_splitting_helpers() {
    let reply = "*2\r\n%1\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n=7\r\ntxt:abc\r\n";
    let (header, items) = split_aggregate(reply);
    assert_eq!(header, "*2\r\n");
    assert_eq!(items, ["%1\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n", "=7\r\ntxt:abc\r\n"]);
    assert_eq!(bulk_body("=7\r\ntxt:abc\r\n"), ("=<len>\r\ntxt:".to_string(), "abc".to_string()));
    assert_eq!(bulk_body("$3\r\nabc\r\n"), ("$<len>\r\n".to_string(), "abc".to_string()));
}
