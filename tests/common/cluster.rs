//! Multi-node cluster tests: Ferrocache nodes as processes on loopback, driven by `redis-cli
//! --cluster` as users drive Redis clusters, and a client that follows MOVED/ASK.

use super::keyspace::wait_until;
use super::process::{free_port, program, ServerProcess};
use super::{Conn, TempDir, TestServer};
use ferrocache::store::Clock;
use ferrocache::Config;
use std::time::Duration;

/// One cluster-mode node in-process (`dir` keeps its nodes.conf and Raft log; no RDB saves),
/// after `f` has adjusted its configuration.
pub fn cluster_server_with(dir: &TempDir, f: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config {
        dir: dir.path_str(),
        cluster_enabled: true,
        cluster_port: free_port(),
        save: String::new(),
        ..Config::default()
    };
    f(&mut config);
    TestServer::start_with(config, Clock::System)
}

/// [`cluster_server_with`] the defaults.
pub fn cluster_server(dir: &TempDir) -> TestServer {
    cluster_server_with(dir, |_| {})
}

/// A client port whose cluster bus port (+10000, Redis's rule, which redis-cli's MEET relies
/// on) is free too.
pub fn port_pair() -> u16 {
    free_port()
}

/// Runs redis-cli, for two minutes at most (`--cluster create` waits forever for a node that
/// never joins); (exit success, stdout + stderr).
pub fn redis_cli(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(program("REDIS_CLI", "redis-cli"))
        .args(args)
        .output()
        .expect("run redis-cli (apt-get install -y redis-tools)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// `redis-cli --cluster reshard <via> --cluster-from <from> --cluster-to <to> --cluster-slots
/// <slots> --cluster-yes`: (exit success, output).
pub fn reshard(via: &str, from: &str, to: &str, slots: usize) -> (bool, String) {
    let slots = slots.to_string();
    redis_cli(&[
        "--cluster",
        "reshard",
        via,
        "--cluster-from",
        from,
        "--cluster-to",
        to,
        "--cluster-slots",
        &slots,
        "--cluster-yes",
    ])
}

/// The node serving each slot, from a node's CLUSTER NODES: slot → client port.
pub fn slot_map(port: u16) -> Vec<u16> {
    let (_, out) = redis_cli(&["-p", &port.to_string(), "CLUSTER", "NODES"]);
    let mut owners = vec![0u16; 16384];
    for line in out.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let node_port: u16 = f[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
        for range in &f[8..] {
            if range.starts_with('[') {
                continue;
            }
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            owners[a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()].fill(node_port);
        }
    }
    owners
}

/// Ferrocache nodes as processes, each with its own directory and a port pair; `None` while a
/// node is down.
pub struct ProcessCluster {
    /// Before `dirs`: fields drop in order, and the nodes must stop before their directories go.
    pub nodes: Vec<Option<ServerProcess>>,
    pub dirs: Vec<TempDir>,
    pub ports: Vec<u16>,
    /// Flags every node gets after the defaults (so they win), kept for restarts.
    pub extra: Vec<String>,
}

impl ProcessCluster {
    /// `n` fresh cluster-enabled nodes, not yet met.
    pub fn start(name: &str, n: usize) -> ProcessCluster {
        Self::start_with(name, n, &[])
    }

    /// [`ProcessCluster::start`] with `extra` flags for every node (e.g. `--appendonly yes`).
    pub fn start_with(name: &str, n: usize, extra: &[&str]) -> ProcessCluster {
        let dirs: Vec<TempDir> = (0..n).map(|i| TempDir::new(&format!("{name}-node{i}"))).collect();
        let ports: Vec<u16> = (0..n).map(|_| port_pair()).collect();
        let extra = extra.iter().map(|a| a.to_string()).collect();
        let mut cluster = ProcessCluster { nodes: Vec::new(), dirs, ports, extra };
        cluster.nodes = (0..n).map(|i| Some(cluster.spawn(i))).collect();
        cluster
    }

    fn spawn(&self, i: usize) -> ServerProcess {
        let mut args = vec!["--cluster-enabled", "yes", "--save", "", "--cluster-node-timeout", "3000"];
        args.extend(self.extra.iter().map(String::as_str));
        ServerProcess::ferrocache_on(&self.dirs[i].0, self.ports[i], &args)
    }

    pub fn addrs(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect()
    }

    pub fn addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.ports[i])
    }

    /// `redis-cli --cluster create` of every node as a primary; returns its output.
    pub fn create(&self) -> String {
        let addrs = self.addrs();
        let mut create = vec!["--cluster", "create"];
        create.extend(addrs.iter().map(String::as_str));
        create.push("--cluster-yes");
        let (ok, out) = redis_cli(&create);
        assert!(ok && out.contains("[OK] All 16384 slots covered."), "{out}");
        out
    }

    /// `redis-cli --cluster create … --cluster-replicas <replicas>`: the first nodes become
    /// primaries, the rest their replicas; returns its output once every replica's link to its
    /// primary is up.
    pub fn create_with_replicas(&self, replicas: usize) -> String {
        let addrs = self.addrs();
        let replicas = replicas.to_string();
        let mut create = vec!["--cluster", "create"];
        create.extend(addrs.iter().map(String::as_str));
        create.extend(["--cluster-replicas", &replicas, "--cluster-yes"]);
        let (ok, out) = redis_cli(&create);
        assert!(ok && out.contains("[OK] All 16384 slots covered."), "{out}");
        self.wait_replicas_up();
        out
    }

    /// Waits until every running replica reports `master_link_status:up`.
    pub fn wait_replicas_up(&self) {
        for (i, port) in self.ports.iter().enumerate() {
            if self.nodes[i].is_some() {
                let port = port.to_string();
                wait_until("replica links up", || {
                    let info = redis_cli(&["-p", &port, "INFO", "replication"]).1;
                    info.contains("role:master") || info.contains("master_link_status:up")
                });
            }
        }
    }

    /// Node `i`'s CLUSTER NODES line for node `of`.
    pub fn nodes_line(&self, i: usize, of: &str) -> String {
        let out = redis_cli(&["-p", &self.ports[i].to_string(), "CLUSTER", "NODES"]).1;
        out.lines().find(|l| l.starts_with(of)).unwrap_or_default().to_string()
    }

    /// The index of the node with id `id`.
    pub fn index_of(&self, id: &str) -> usize {
        (0..self.ports.len()).find(|&i| self.nodes[i].is_some() && self.id(i) == id).expect("a running node")
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub fn wait_ok(&self) {
        for (i, port) in self.ports.iter().enumerate() {
            if self.nodes[i].is_some() {
                let port = port.to_string();
                wait_until("cluster_state:ok", || {
                    redis_cli(&["-p", &port, "CLUSTER", "INFO"]).1.contains("cluster_state:ok")
                });
            }
        }
    }

    /// `redis-cli --cluster check` through node `i`: (passed, output).
    pub fn check(&self, i: usize) -> (bool, String) {
        let (ok, out) = redis_cli(&["--cluster", "check", &self.addr(i)]);
        let agreed = out.contains("[OK] All nodes agree about slots configuration.")
            && out.contains("[OK] All 16384 slots covered.");
        (ok && agreed, out)
    }

    pub fn kill9(&mut self, i: usize) {
        self.nodes[i].take().expect("node running").kill9();
    }

    /// Starts node `i` again from its directory (nodes.conf, Raft log).
    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} is still running");
        self.nodes[i] = Some(self.spawn(i));
    }

    pub fn id(&self, i: usize) -> String {
        redis_cli(&["-p", &self.ports[i].to_string(), "CLUSTER", "MYID"]).1.trim().to_string()
    }
}

/// A client following MOVED and ASK as cluster clients do, over raw connections.
pub struct Follower {
    pub conns: std::collections::HashMap<u16, Conn>,
    pub owners: Vec<u16>,
    pub redirects: u64,
}

impl Follower {
    /// Starts from the slot map node `port` reports.
    pub fn new(port: u16) -> Follower {
        Follower { conns: Default::default(), owners: slot_map(port), redirects: 0 }
    }

    pub fn call(&mut self, args: &[&[u8]]) -> String {
        let slot = ferrocache_cluster::key_slot(args[1]) as usize;
        let mut port = self.owners[slot];
        let mut asking = false;
        // Nodes apply a slot's move a moment apart, so a key may bounce between two of them
        // briefly; cluster clients retry (redis-py up to 16 times), and so does this one.
        for attempt in 0..50 {
            if attempt >= 5 {
                std::thread::sleep(Duration::from_millis(2));
            }
            let c = self.conns.entry(port).or_insert_with(|| Conn::new(([127, 0, 0, 1], port).into()));
            if asking {
                assert_eq!(c.call_text(&[b"ASKING"]), "+OK\r\n");
            }
            let reply = c.call_text(args);
            let target = |r: &str| r.trim_end().rsplit(':').next().unwrap().parse::<u16>().unwrap();
            if reply.starts_with("-MOVED") {
                port = target(&reply);
                self.owners[slot] = port;
                asking = false;
            } else if reply.starts_with("-ASK") {
                port = target(&reply);
                asking = true;
            } else if reply.starts_with("-TRYAGAIN") {
                asking = false;
            } else {
                return reply;
            }
            self.redirects += 1;
        }
        panic!("too many redirects for {:?}", String::from_utf8_lossy(args[1]));
    }
}
