//! # CLUSTER SLOTS / NODES / SHARDS / INFO / LINKS / REPLICAS / COUNT-FAILURE-REPORTS, against real redis-server 7.0
//!
//! Sets of `redis-server --cluster-enabled yes` and of Ferrocache nodes, each set made a
//! cluster by `redis-cli --cluster create` (three primaries; or six nodes with
//! `--cluster-replicas 1`), so both get the same slots (primary i: the i-th third) and config
//! epochs (i + 1). Every node of each cluster is then asked the same questions, in RESP2 and
//! (after `HELLO 3` on a raw connection) RESP3 — CLUSTER NODES, SLOTS, SHARDS, INFO, and
//! CLUSTER REPLICAS, SLAVES and COUNT-FAILURE-REPORTS of every node — and the replies must be
//! the same bytes once what has to differ is replaced by a placeholder:
//!
//! * node ids → `<id{i}>`, client ports → `<port{i}>`, bus ports → `<bus{i}>`, `i` being the
//!   node's index (below), so slot ranges line up;
//! * the ping-sent / pong-received columns of CLUSTER NODES and REPLICAS (milliseconds of the
//!   wall clock; Redis's myself line even shows a pong time, the whole seconds gossip brought
//!   it, where ours shows 0);
//! * CLUSTER INFO's `cluster_stats_messages_*` counters: Redis counts the PING/PONG/MEET
//!   messages of its gossip bus; ours counts the pings and pongs of its link liveness checks
//!   (the rest of the bus is Raft's traffic, and MEET is a join, not a message of its own), at
//!   its own pace. The per-type lines are dropped and the totals' values masked; the totals must
//!   still be there, at the same place;
//! * CLUSTER SHARDS' `replication-offset` when it is not 0: it counts the bytes of the
//!   replication stream, and each side streams its own (its PINGs every
//!   `repl-ping-replica-period`, its SELECTs…), so the values differ. It must be there, at the
//!   same place, and every replica that is not failed must be `online` at its master's offset,
//!   not 0: checked in each reply before masking, a snapshot of every node being taken again
//!   while that is not so (a PING on its way, gossip behind). An offset of 0 is compared as it
//!   is (it makes a replica `loading` and keeps it out of CLUSTER SLOTS). To get past 0 at once
//!   on both sides (an idle Redis master's offset is 0 until its first PING, up to 10 s after
//!   the sync), each primary is written a key once its replica is linked;
//! * COUNT-FAILURE-REPORTS of a node flagged `fail` in the asker's view: Redis counts the
//!   reports that random gossip brought within the last two node timeouts, so its count wanders
//!   between 0 and the number of the other masters; ours counts the masters that flag the node
//!   in their last status, i.e. all of them. Checked to be in that range, then compared as
//!   `<reports>`. Of any other node, counts are compared as they are;
//! * the bulk / verbatim length header, which follows from the above (checked to be the body's
//!   length on both sides, then compared as `<len>`).
//!
//! Order: CLUSTER SLOTS is in slot order on both. CLUSTER NODES lines and CLUSTER SHARDS
//! entries come in the order of Redis's node dict, i.e. a hash order no client can rely on, so
//! both sides are sorted by node index; and so are a master's replicas in SLOTS rows, SHARDS
//! entries and REPLICAS, which Redis lists in the order that node learned of them.
//!
//! Node indexes: the position in the `create` command; but which replica `create` gives to which
//! primary is random (redis-cli's anti-affinity shuffle keeps swaps that do not make things
//! worse), so the replica of primary `k` gets index `primaries + k` on both sides. A node added
//! later keeps its position.
//!
//! Gossip makes Redis's views converge over time, so each stage first waits until every node
//! of each side has the expected topology (and, as `redis-cli --cluster check` sees it, the same
//! one), then compares; a comparison is retried for a while before it fails.
//!
//! Stages:
//!
//! * three primaries: right after `create`; with slot 100 open (importing on node 1, migrating
//!   on node 0: the `[100-<-id]` / `[100->-id]` marks redis-cli reads); and after
//!   `SETSLOT 100 NODE` closed it (a one-slot range, a split range, the epoch bump of the
//!   importing node, as Redis does it);
//! * three primaries with a replica each: right after `create` (and their bus links: ten per
//!   node); and after CLUSTER FAILOVER on replica 4 (epoch 7, primary 1 its replica);
//! * failover, with `cluster-node-timeout 1000` on both: primary 0 killed with SIGKILL, once
//!   every other node flags it `fail` and replica 3 serves its slots (Redis: 1–3 s); then
//!   primary 0 restarted, once it is a replica of node 3 with FAIL cleared;
//! * replica migration (`cluster-allow-replica-migration yes`, the default): a seventh node
//!   joins (`add-node`) as an empty master, takes ten slots of node 0 (`reshard`), then gives
//!   them all to node 1 (`reshard`) and so becomes node 1's replica, as Redis 7.0 does.
//!
//! The tests start up to fourteen processes each: they run one at a time.

mod common;

use common::cluster::{port_pair, redis_cli, reshard, ProcessCluster};
use common::keyspace::wait_until;
use common::process::ServerProcess;
use common::{Conn, TempDir};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Held by each test: one cluster pair at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fast failure detection, for the failover test (Redis fails over within a few seconds).
const FAST_FAILURE: &[&str] = &["--cluster-node-timeout", "1000"];

/// Redis nodes as processes, each with its own directory (nodes.conf) and port pair.
struct RedisNodes {
    dirs: Vec<TempDir>,
    ports: Vec<u16>,
    nodes: Vec<Option<ServerProcess>>,
    args: Vec<String>,
}

impl RedisNodes {
    /// `n` fresh cluster-enabled redis-servers, with `extra` flags after the defaults.
    fn start(name: &str, n: usize, extra: &[&str]) -> RedisNodes {
        let mut args: Vec<String> =
            ["--cluster-enabled", "yes", "--cluster-node-timeout", "3000"].iter().map(|a| a.to_string()).collect();
        args.extend(extra.iter().map(|a| a.to_string()));
        let dirs = (0..n).map(|i| TempDir::new(&format!("{name}{i}"))).collect();
        let ports = (0..n).map(|_| port_pair()).collect();
        let mut nodes = RedisNodes { dirs, ports, nodes: Vec::new(), args };
        nodes.nodes = (0..n).map(|i| Some(nodes.spawn(i))).collect();
        nodes
    }

    fn spawn(&self, i: usize) -> ServerProcess {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        ServerProcess::redis_on(&self.dirs[i].0, self.ports[i], &args)
    }

    fn kill9(&mut self, i: usize) {
        self.nodes[i].take().expect("node running").kill9();
    }

    /// Node `i` again, from its nodes.conf.
    fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} is still running");
        self.nodes[i] = Some(self.spawn(i));
    }
}

/// One side: its nodes' client ports and ids, by node index (see the module docs).
struct Side {
    ports: Vec<u16>,
    ids: Vec<String>,
    /// `order[i]`: node `i`'s position in the `create` command and in its process list.
    order: Vec<usize>,
    /// The nodes to ask: running and in the cluster.
    live: Vec<bool>,
}

impl Side {
    fn new(ports: Vec<u16>) -> Side {
        let ids =
            ports.iter().map(|p| redis_cli(&["-p", &p.to_string(), "CLUSTER", "MYID"]).1.trim().to_string()).collect();
        let n = ports.len();
        Side { ports, ids, order: (0..n).collect(), live: vec![true; n] }
    }

    fn addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.ports[i])
    }

    fn live(&self) -> Vec<usize> {
        (0..self.ports.len()).filter(|&i| self.live[i]).collect()
    }

    /// `redis-cli --cluster create` of the first `count` nodes, `replicas` per primary.
    fn create(&self, count: usize, replicas: usize) {
        let addrs: Vec<String> = (0..count).map(|i| self.addr(i)).collect();
        let replicas = replicas.to_string();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", &replicas, "--cluster-yes"]);
        let (ok, out) = redis_cli(&args);
        assert!(ok && out.contains("[OK] All 16384 slots covered."), "{out}");
    }

    /// After `create` of the first `count` nodes, `primaries` of them primaries with one
    /// replica each, and convergence: gives the replica of primary `k` index `primaries + k`.
    fn index_replicas(&mut self, count: usize, primaries: usize) {
        let nodes = self.nodes_text(0);
        let mut order: Vec<usize> = (0..self.ports.len()).collect();
        for i in 0..count {
            let f = node_fields(&nodes, &self.ids[i]).unwrap_or_else(|| panic!("node {i} in {nodes}"));
            if i < primaries {
                assert!(has_flag(&f, "master") && f[3] == "-", "create made node {i} a primary: {nodes}");
            } else {
                assert!(has_flag(&f, "slave"), "create made node {i} a replica: {nodes}");
                let k = self.ids[..primaries].iter().position(|id| id == f[3]).expect("a replica of a primary");
                order[primaries + k] = i;
            }
        }
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..self.ports.len()).collect::<Vec<_>>(), "one replica per primary: {nodes}");
        self.ports = order.iter().map(|&i| self.ports[i]).collect();
        self.ids = order.iter().map(|&i| self.ids[i].clone()).collect();
        self.order = order;
    }

    /// Once the replicas (3 to 5) are linked to their primaries, writes a key to each primary
    /// (0 to 2), so that replication offsets are past 0 on both sides; an idle master's only
    /// grows with its PINGs, every 10 s.
    fn write_to_primaries(&self) {
        for i in 3..6 {
            let port = self.ports[i].to_string();
            wait_until("the replica's link up", || {
                redis_cli(&["-p", &port, "INFO", "replication"]).1.contains("master_link_status:up")
            });
        }
        for (i, (first, last)) in [(0, 5460), (5461, 10922), (10923, 16383)].into_iter().enumerate() {
            let key = (0..)
                .map(|n| format!("key:{n}"))
                .find(|k| (first..=last).contains(&ferrocache_cluster::key_slot(k.as_bytes())))
                .unwrap();
            let mut c = Conn::new(([127, 0, 0, 1], self.ports[i]).into());
            assert_eq!(c.call_text(&[b"SET", key.as_bytes(), b"v"]), "+OK\r\n");
        }
    }

    /// Node `i`'s CLUSTER NODES text.
    fn nodes_text(&self, i: usize) -> String {
        let mut c = Conn::new(([127, 0, 0, 1], self.ports[i]).into());
        bulk_body(&c.call_text(&[b"CLUSTER", b"NODES"])).1
    }

    /// Waits until every live node says `cluster_state:ok`, `--cluster check` passes and every
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
            let views: Vec<Option<String>> = self.live().into_iter().map(|i| view(self.ports[i])).collect();
            views[0].is_some() && views.iter().all(|v| v == &views[0])
        });
        let addr = self.addr(self.live()[0]);
        wait_until(what, || {
            let (ok, out) = redis_cli(&["--cluster", "check", &addr]);
            ok && out.contains("[OK] All nodes agree about slots configuration.")
                && out.contains("[OK] All 16384 slots covered.")
        });
    }

    /// Waits (60 s at most: the comparison that follows shows what differs) until `settled`
    /// holds of every live node's CLUSTER NODES, then until the cluster converged.
    fn wait_settled(&self, what: &str, settled: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.live().into_iter().all(|i| settled(&self.nodes_text(i))) {
            if Instant::now() > deadline {
                eprintln!("{what}: not there after 60 s; comparing anyway");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.wait_converged(what);
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
            // RESP integers where a port stands: after the address in SLOTS, after the `port`
            // key in SHARDS. Not every `:{port}`: test ports (10000-19999) can equal a slot.
            for before in ["127.0.0.1\r\n", "port\r\n"] {
                text = text.replace(&format!("{before}:{port}\r\n"), &format!("{before}:<port{i}>\r\n"));
            }
        }
        text
    }

    /// The replies of node `i`, masked, in RESP2 or RESP3; and whether its CLUSTER SHARDS
    /// showed every replica that is up at its master's offset.
    fn replies(&self, i: usize, resp3: bool) -> (Vec<(String, String)>, bool) {
        let mut c = Conn::new(([127, 0, 0, 1], self.ports[i]).into());
        if resp3 {
            let hello = c.call_text(&[b"HELLO", b"3"]);
            assert!(hello.starts_with('%'), "{hello}");
        }
        let proto = if resp3 { "RESP3" } else { "RESP2" };
        let mut out = Vec::new();
        let mut synced = true;
        let mut view = String::new();
        for sub in ["NODES", "SLOTS", "SHARDS", "INFO"] {
            let reply = c.call_text(&[b"CLUSTER", sub.as_bytes()]);
            let masked = match sub {
                "NODES" => {
                    let (header, body) = bulk_body(&reply);
                    let mut lines: Vec<String> = body.lines().map(|l| self.mask_nodes_line(l)).collect();
                    lines.sort_by_key(|l| first_index(l));
                    view = body;
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
                    let (masked, shards_synced) = self.mask_shards(&reply);
                    synced &= shards_synced;
                    masked
                }
                _ => self.mask_slots(&reply),
            };
            out.push((format!("node {i} {proto} CLUSTER {sub}"), masked));
        }
        for (k, id) in self.ids.iter().enumerate() {
            for sub in ["REPLICAS", "SLAVES"] {
                let reply = c.call_text(&[b"CLUSTER", sub.as_bytes(), id.as_bytes()]);
                out.push((format!("node {i} {proto} CLUSTER {sub} <id{k}>"), self.mask_replicas(&reply)));
            }
            let reply = c.call_text(&[b"CLUSTER", b"COUNT-FAILURE-REPORTS", id.as_bytes()]);
            let reply = match node_fields(&view, id) {
                Some(f) if has_flag(&f, "fail") => {
                    let n: usize = reply.strip_prefix(':').and_then(|r| r.trim_end().parse().ok()).expect(&reply);
                    let others = view
                        .lines()
                        .map(|l| l.split(' ').collect::<Vec<_>>())
                        .filter(|g| has_flag(g, "master") && !has_flag(g, "myself") && g[0] != id)
                        .count();
                    assert!(n <= others, "node {i}: {n} failure reports of node {k}, from {others} masters: {view}");
                    ":<reports>\r\n".to_string()
                }
                _ => reply,
            };
            out.push((format!("node {i} {proto} CLUSTER COUNT-FAILURE-REPORTS <id{k}>"), reply));
        }
        (out, synced)
    }

    /// CLUSTER SLOTS, masked, each row's replicas in index order.
    fn mask_slots(&self, reply: &str) -> String {
        let (header, rows) = split_aggregate(reply);
        let rows: Vec<String> = rows
            .iter()
            .map(|row| {
                let (row_header, mut items) = split_aggregate(row);
                items[3..].sort_by_key(|n| first_index(&self.mask(n)));
                self.mask(&format!("{row_header}{}", items.concat()))
            })
            .collect();
        format!("{header}{}", rows.concat())
    }

    /// CLUSTER SHARDS, masked: shards in their master's index order, each shard's master first
    /// then its replicas in index order, offsets other than 0 as `<offset>`; and whether every
    /// replica that is up shows its master's offset.
    fn mask_shards(&self, reply: &str) -> (String, bool) {
        let (header, shards) = split_aggregate(reply);
        let mut synced = true;
        let mut keyed: Vec<(usize, String)> = Vec::new();
        for shard in shards {
            let (shard_header, items) = split_aggregate(&shard);
            assert_eq!(items.len(), 4, "slots and nodes: {shard}");
            assert_eq!(items[2], "$5\r\nnodes\r\n", "{shard}");
            let (nodes_header, nodes) = split_aggregate(&items[3]);
            let facts: Vec<(i64, String)> = nodes.iter().map(|n| offset_and_health(n)).collect();
            let (master_offset, master_health) = &facts[0];
            if master_health != "fail" {
                synced &= facts[1..].iter().all(|(offset, health)| {
                    health == "fail" || (offset == master_offset && *offset != 0 && health == "online")
                });
            }
            let mut nodes: Vec<String> = nodes.iter().map(|n| mask_offset(&self.mask(n))).collect();
            nodes[1..].sort_by_key(|n| first_index(n));
            let masked = format!("{shard_header}{}{}{}{nodes_header}{}", items[0], items[1], items[2], nodes.concat());
            keyed.push((first_index(&nodes[0]), masked));
        }
        keyed.sort();
        (format!("{header}{}", keyed.into_iter().map(|(_, s)| s).collect::<String>()), synced)
    }

    /// CLUSTER REPLICAS / SLAVES: each line masked as in CLUSTER NODES, in index order.
    fn mask_replicas(&self, reply: &str) -> String {
        if reply.starts_with('-') {
            return self.mask(reply);
        }
        let (header, lines) = split_aggregate(reply);
        let mut lines: Vec<String> = lines
            .iter()
            .map(|l| {
                let (len, body) = bulk_body(l);
                format!("{len}{}\r\n", self.mask_nodes_line(&body))
            })
            .collect();
        lines.sort_by_key(|l| first_index(l));
        format!("{header}{}", lines.concat())
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

/// The fields of node `id`'s line in a CLUSTER NODES text.
fn node_fields<'a>(nodes: &'a str, id: &str) -> Option<Vec<&'a str>> {
    nodes.lines().find(|l| l.starts_with(id)).map(|l| l.split(' ').collect())
}

/// Whether a CLUSTER NODES line's fields have `flag` (exactly: `fail` is not `fail?`).
fn has_flag(fields: &[&str], flag: &str) -> bool {
    fields[2].split(',').any(|f| f == flag)
}

/// The index `i` of the first `<id{i}>` in `text` (a masked shard: its master comes first).
fn first_index(text: &str) -> usize {
    let at = text.find("<id").expect("a node id") + 3;
    text[at..].split('>').next().unwrap().parse().unwrap()
}

/// A CLUSTER SHARDS node (a map): its `replication-offset` and `health`.
fn offset_and_health(node: &str) -> (i64, String) {
    let (_, items) = split_aggregate(node);
    let value = |key: &str| {
        let at = items.iter().position(|k| k == &format!("${}\r\n{key}\r\n", key.len())).expect(key);
        items[at + 1].clone()
    };
    let offset = value("replication-offset");
    let offset = offset.strip_prefix(':').and_then(|o| o.trim_end().parse().ok()).expect(&offset);
    let (_, health) = bulk_body(&value("health"));
    (offset, health)
}

/// A CLUSTER SHARDS node with its offset, if not 0, as `<offset>`.
fn mask_offset(node: &str) -> String {
    let key = "$18\r\nreplication-offset\r\n:";
    let (before, after) = node.split_once(key).expect("a replication-offset");
    let (offset, rest) = after.split_once("\r\n").unwrap();
    let offset: i64 = offset.parse().unwrap_or_else(|_| panic!("{node}"));
    assert!(offset >= 0, "{node}");
    let offset = if offset == 0 { "0".to_string() } else { "<offset>".to_string() };
    format!("{before}{key}{offset}\r\n{rest}")
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

/// Every live node's replies, RESP2 then RESP3, taken again (for 30 s at most) until every
/// replica that is up shows its master's offset.
fn snapshot(side: &Side) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut synced = true;
        let mut out = Vec::new();
        for i in side.live() {
            for resp3 in [false, true] {
                let (replies, ok) = side.replies(i, resp3);
                synced &= ok;
                out.extend(replies);
            }
        }
        if synced {
            return out;
        }
        let shards: Vec<&String> = out.iter().filter(|(w, _)| w.ends_with("SHARDS")).map(|(_, r)| r).collect();
        assert!(Instant::now() < deadline, "replicas never showed their master's offset: {shards:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Both sides' replies are the same, or become so within 30 s (gossip, offsets); else panics
/// with every difference.
fn assert_same(stage: &str, redis: &Side, ours: &Side) {
    assert_eq!(redis.live(), ours.live());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (expected, got) = (snapshot(redis), snapshot(ours));
        assert_eq!(got.len(), expected.len());
        let diffs: Vec<String> = expected
            .iter()
            .zip(&got)
            .filter(|((_, e), (_, g))| e != g)
            .map(|((what, e), (_, g))| format!("{what}:\n  redis: {e:?}\n  ours:  {g:?}"))
            .collect();
        if diffs.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("{stage}: {} of {} replies differ:\n{}", diffs.len(), expected.len(), diffs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(500));
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
    let _serial = serial();
    let redis_nodes = RedisNodes::start("replies-redis", 3, &[]);
    let redis = Side::new(redis_nodes.ports.clone());
    redis.create(3, 0);

    let cluster = ProcessCluster::start("replies", 3);
    let ours = Side::new(cluster.ports.clone());
    ours.create(3, 0);

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

/// Both sides: of their nodes, the first six made three primaries with a replica each, and
/// indexed (see the module docs); the others are left out.
fn six_with_replicas(redis_ports: &[u16], our_ports: &[u16]) -> (Side, Side) {
    let mut sides = (Side::new(redis_ports.to_vec()), Side::new(our_ports.to_vec()));
    for side in [&mut sides.0, &mut sides.1] {
        for i in 6..side.ports.len() {
            side.live[i] = false;
        }
        side.create(6, 1);
    }
    for (side, name) in [(&mut sides.0, "the redis cluster"), (&mut sides.1, "our cluster")] {
        side.wait_converged(&format!("{name} to converge"));
        side.index_replicas(6, 3);
        side.write_to_primaries();
    }
    sides
}

/// Node `i`'s CLUSTER SHARDS shows a replication offset, not 0, for each of the six nodes
/// (that replicas show their master's is checked with every snapshot).
fn assert_offsets_shown(side: &Side, i: usize) {
    let mut c = Conn::new(([127, 0, 0, 1], side.ports[i]).into());
    let (masked, _) = side.mask_shards(&c.call_text(&[b"CLUSTER", b"SHARDS"]));
    assert_eq!(masked.matches("replication-offset\r\n:<offset>\r\n").count(), 6, "{masked}");
}

#[test]
fn replicas_of_every_node_match_a_redis_cluster() {
    let _serial = serial();
    let redis_nodes = RedisNodes::start("replicas-redis", 6, &[]);
    let cluster = ProcessCluster::start("replicas", 6);
    let (redis, ours) = six_with_replicas(&redis_nodes.ports, &cluster.ports);

    assert_same("three primaries with a replica each", &redis, &ours);
    for side in [&redis, &ours] {
        for i in 0..6 {
            assert_offsets_shown(side, i);
        }
    }
    // Each node has a bus link to and from each other node, replicas included.
    for i in 0..6 {
        wait_until("the bus links to match", || redis.links(i) == ours.links(i));
        assert_eq!(ours.links(i)[0].matches("direction").count(), 10, "{:?}", ours.links(i));
    }

    // CLUSTER FAILOVER on replica 4: it takes primary 1's slots with epoch 7, and primary 1,
    // alive, becomes its replica.
    for side in [&redis, &ours] {
        side.cluster(4, &["CLUSTER", "FAILOVER"]);
        let (old, new) = (side.ids[1].clone(), side.ids[4].clone());
        side.wait_settled("replica 4 promoted by CLUSTER FAILOVER", |nodes| {
            let demoted = node_fields(nodes, &old).is_some_and(|f| f[2].ends_with("slave") && f[3] == new);
            let promoted =
                node_fields(nodes, &new).is_some_and(|f| f[2].ends_with("master") && f[8..] == ["5461-10922"]);
            demoted && promoted
        });
    }
    assert_same("manual failover: node 4 the master of node 1", &redis, &ours);
}

#[test]
fn failover_of_a_killed_primary_matches_a_redis_cluster() {
    let _serial = serial();
    let mut redis_nodes = RedisNodes::start("failover-redis", 6, FAST_FAILURE);
    let mut cluster = ProcessCluster::start_with("failover-replies", 6, FAST_FAILURE);
    let (mut redis, mut ours) = six_with_replicas(&redis_nodes.ports, &cluster.ports);
    assert_same("before the failover", &redis, &ours);

    // SIGKILL primary 0: flagged `fail`, replica 3 takes its slots with a new epoch.
    redis_nodes.kill9(redis.order[0]);
    cluster.kill9(ours.order[0]);
    for (side, name) in [(&mut redis, "the redis cluster"), (&mut ours, "our cluster")] {
        side.live[0] = false;
        let (victim, heir) = (side.ids[0].clone(), side.ids[3].clone());
        side.wait_settled(&format!("{name} to fail over"), |nodes| {
            let failed = node_fields(nodes, &victim).is_some_and(|f| has_flag(&f, "fail"));
            let promoted = node_fields(nodes, &heir).is_some_and(|f| has_flag(&f, "master") && f[8..] == ["0-5460"]);
            failed && promoted
        });
    }
    assert_same("primary 0 killed, replica 3 promoted", &redis, &ours);

    // Back: a replica of node 3, FAIL cleared.
    redis_nodes.restart(redis.order[0]);
    cluster.restart(ours.order[0]);
    for (side, name) in [(&mut redis, "the redis cluster"), (&mut ours, "our cluster")] {
        side.live[0] = true;
        let (victim, heir) = (side.ids[0].clone(), side.ids[3].clone());
        side.wait_settled(&format!("{name} to take node 0 back"), |nodes| {
            node_fields(nodes, &victim).is_some_and(|f| f[2].ends_with("slave") && f[3] == heir)
        });
    }
    assert_same("node 0 back, a replica of node 3", &redis, &ours);
}

#[test]
fn a_master_resharded_empty_becomes_a_replica_as_in_a_redis_cluster() {
    let _serial = serial();
    let redis_nodes = RedisNodes::start("migration-redis", 7, &[]);
    let cluster = ProcessCluster::start("migration", 7);
    let (mut redis, mut ours) = six_with_replicas(&redis_nodes.ports, &cluster.ports);

    // Node 6 joins as an empty master.
    for side in [&mut redis, &mut ours] {
        let (ok, out) = redis_cli(&["--cluster", "add-node", &side.addr(6), &side.addr(0)]);
        assert!(ok && out.contains("[OK] New node added correctly."), "{out}");
        side.live[6] = true;
        side.wait_converged("node 6 to join");
    }
    assert_same("node 6 added, an empty master", &redis, &ours);

    // Ten slots of node 0 to node 6.
    for side in [&redis, &ours] {
        let (ok, out) = reshard(&side.addr(0), &side.ids[0], &side.ids[6], 10);
        assert!(ok, "{out}");
        side.wait_converged("ten slots on node 6");
    }
    assert_same("ten slots moved to node 6", &redis, &ours);

    // All of them to node 1: node 6, left without slots, replicates node 1
    // (`cluster-allow-replica-migration yes`, the default).
    for side in [&redis, &ours] {
        let (ok, out) = reshard(&side.addr(0), &side.ids[6], &side.ids[1], 10);
        assert!(ok, "{out}");
        let (migrant, owner) = (side.ids[6].clone(), side.ids[1].clone());
        side.wait_settled("node 6 a replica of node 1", |nodes| {
            node_fields(nodes, &migrant).is_some_and(|f| has_flag(&f, "slave") && f[3] == owner)
        });
    }
    assert_same("node 6 gave its last slot to node 1, whose replica it became", &redis, &ours);
}

#[test]
fn resp_splitting_helpers() {
    let reply = "*2\r\n%1\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n=7\r\ntxt:abc\r\n";
    let (header, items) = split_aggregate(reply);
    assert_eq!(header, "*2\r\n");
    assert_eq!(items, ["%1\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n", "=7\r\ntxt:abc\r\n"]);
    assert_eq!(bulk_body("=7\r\ntxt:abc\r\n"), ("=<len>\r\ntxt:".to_string(), "abc".to_string()));
    assert_eq!(bulk_body("$3\r\nabc\r\n"), ("$<len>\r\n".to_string(), "abc".to_string()));
    let node = "%2\r\n$18\r\nreplication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";
    assert_eq!(offset_and_health(node), (56, "online".to_string()));
    assert_eq!(mask_offset(node), node.replace(":56", ":<offset>"));
    assert_eq!(mask_offset(&node.replace(":56", ":0")), node.replace(":56", ":0"));
}
