//! # The HTTP API: `/health`, `/ready`, `/nodes`, `/cache/{key}`
//!
//! Each endpoint on a live server; the REST API going through the command path a RESP
//! client's requests take (what it writes is seen over RESP, counted in commandstats and
//! appended to the AOF; `requirepass` is asked for as a bearer token); bad input answered
//! with a 4xx and a JSON error; in a three-node cluster, a key another node owns answered
//! with a 307 to that node's HTTP port, which serves it. Every response checked against
//! docs/openapi.json, and every response the document lists seen.

mod common;

use common::cluster::{port_pair, ProcessCluster};
use common::http::{get, info_fields, parse_metrics, request, server_with_http, value, wait_http, HttpResponse};
use common::openapi::OpenApi;
use common::process::ServerProcess;
use common::{Conn, TempDir};
use std::net::SocketAddr;

fn assert_json_error(r: &HttpResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[test]
fn health_ready_and_nodes_of_a_standalone_server() {
    let (server, http) = server_with_http(|_| {});
    let r = get(http, "/health");
    assert_eq!((r.status, r.json()), (200, serde_json::json!({"status": "ok"})));
    let r = get(http, "/ready");
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"ready": true, "loading": false, "cluster_state": null}))
    );
    let r = get(http, "/nodes");
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["cluster_enabled"], false);
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["port"], server.addr.port());
    assert_eq!(nodes[0]["role"], "master");
    assert_eq!(nodes[0]["id"], body["myself"]);
    assert_json_error(&get(http, "/no/such/thing"), 404, "NOT_FOUND");
    assert_json_error(&request(http, "POST", "/cache/k", &[], b"v"), 405, "METHOD_NOT_ALLOWED");
}

#[test]
fn cache_round_trip_through_the_command_path() {
    let dir = TempDir::new("http-api-aof");
    let (server, http) = server_with_http(|c| {
        c.dir = dir.path_str();
        c.appendonly = true;
    });
    // Loading the (empty) AOF first: /ready says when the data can be served.
    common::keyspace::wait_until("ready", || get(http, "/ready").status == 200);
    let mut resp = server.connect();
    // Any bytes make a key, percent-encoded in the path.
    let r = request(http, "PUT", "/cache/a%2Fb%20%00c", &[], b"hello\r\nworld");
    assert_eq!((r.status, r.body.len()), (204, 0), "{}", r.text());
    resp.roundtrip(&[b"GET", b"a/b \0c"], b"$12\r\nhello\r\nworld\r\n");
    let r = get(http, "/cache/a%2Fb%20%00c");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, b"hello\r\nworld");
    // Written over RESP, read over HTTP.
    resp.roundtrip(&[b"SET", b"resp", b"from resp"], b"+OK\r\n");
    assert_eq!(get(http, "/cache/resp").body, b"from resp");
    // A TTL, as SET … EX sets it.
    assert_eq!(request(http, "PUT", "/cache/ttl?ttl=100", &[], b"x").status, 204);
    let ttl = resp.call_text(&[b"TTL", b"ttl"]);
    assert!(ttl == ":100\r\n" || ttl == ":99\r\n", "{ttl}");
    // A PUT without a TTL clears one, as SET does.
    assert_eq!(request(http, "PUT", "/cache/ttl", &[], b"y").status, 204);
    resp.roundtrip(&[b"TTL", b"ttl"], b":-1\r\n");
    // DELETE: 204, then 404 (DEL's 1 and 0).
    assert_eq!(request(http, "DELETE", "/cache/resp", &[], b"").status, 204);
    assert_json_error(&request(http, "DELETE", "/cache/resp", &[], b""), 404, "NOT_FOUND");
    assert_json_error(&get(http, "/cache/resp"), 404, "NOT_FOUND");
    resp.roundtrip(&[b"EXISTS", b"resp"], b":0\r\n");
    // The same commands as RESP clients': counted, and appended to the AOF before the reply.
    let mut con = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    let stats = info_fields(&mut con, "commandstats");
    assert!(stats["cmdstat_set"].starts_with("calls=4,"), "{}", stats["cmdstat_set"]);
    assert!(stats["cmdstat_del"].starts_with("calls=2,"), "{}", stats["cmdstat_del"]);
    let aof: Vec<u8> = std::fs::read_dir(dir.0.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    let aof = String::from_utf8_lossy(&aof);
    assert!(aof.contains("$3\r\nSET\r\n$6\r\na/b \0c\r\n$12\r\nhello\r\nworld\r\n"), "{aof:?}");
    assert!(aof.contains("$3\r\nDEL\r\n$4\r\nresp\r\n"), "{aof:?}");
}

#[test]
fn bad_input_gets_a_4xx_with_a_json_error() {
    let (server, http) = server_with_http(|_| {});
    let mut resp = server.connect();
    // TTLs are SET's EX argument, refused with SET's own errors.
    let r = request(http, "PUT", "/cache/k?ttl=abc", &[], b"v");
    assert_json_error(&r, 400, "ERR");
    assert_eq!(r.json()["message"], "ERR value is not an integer or out of range");
    let r = request(http, "PUT", "/cache/k?ttl=0", &[], b"v");
    assert_json_error(&r, 400, "ERR");
    assert_eq!(r.json()["message"], "ERR invalid expire time in 'set' command");
    assert_json_error(&request(http, "PUT", "/cache/k?ttl=-5", &[], b"v"), 400, "ERR");
    assert_json_error(&request(http, "PUT", "/cache/k?ttl=1&ttl=2", &[], b"v"), 400, "BAD_TTL");
    assert_json_error(&request(http, "PUT", "/cache/k?nx=1", &[], b"v"), 400, "BAD_QUERY");
    resp.roundtrip(&[b"EXISTS", b"k"], b":0\r\n");
    // Keys: malformed percent-encoding, too long.
    assert_json_error(&get(http, "/cache/a%zz"), 400, "BAD_KEY");
    let long = "k".repeat(8 * 1024 + 1);
    assert_json_error(&get(http, &format!("/cache/{long}")), 414, "KEY_TOO_LONG");
    assert_eq!(get(http, &format!("/cache/{}", &long[1..])).status, 404);
    // Values: over proto-max-bulk-len (1 MB, its least), refused before being read whole.
    resp.roundtrip(&[b"CONFIG", b"SET", b"proto-max-bulk-len", b"1mb"], b"+OK\r\n");
    let big = vec![b'v'; 1024 * 1024 + 1];
    assert_json_error(&request(http, "PUT", "/cache/big", &[], &big), 413, "BODY_TOO_LARGE");
    assert_eq!(request(http, "PUT", "/cache/big", &[], &big[1..]).status, 204);
    resp.roundtrip(&[b"STRLEN", b"big"], b":1048576\r\n");
    // http-port and http-bind are start-up settings, as Redis's port.
    let port = http.port().to_string();
    resp.roundtrip(
        &[b"CONFIG", b"GET", b"http-port"],
        format!("*2\r\n$9\r\nhttp-port\r\n${}\r\n{port}\r\n", port.len()).as_bytes(),
    );
    resp.roundtrip(
        &[b"CONFIG", b"SET", b"http-port", b"1"],
        b"-ERR CONFIG SET failed (possibly related to argument 'http-port') - can't set immutable config\r\n",
    );
    resp.roundtrip(
        &[b"CONFIG", b"SET", b"http-bind", b"0.0.0.0"],
        b"-ERR CONFIG SET failed (possibly related to argument 'http-bind') - can't set immutable config\r\n",
    );
}

#[test]
fn requirepass_is_asked_for_as_a_bearer_token() {
    let (server, http) = server_with_http(|c| c.requirepass = "s3cret".into());
    let r = get(http, "/cache/k");
    assert_json_error(&r, 401, "NOAUTH");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_json_error(&request(http, "PUT", "/cache/k", &[], b"v"), 401, "NOAUTH");
    let r = request(http, "GET", "/cache/k", &[("Authorization", "Bearer wrong")], b"");
    assert_json_error(&r, 401, "WRONGPASS");
    assert_eq!(r.json()["message"], "WRONGPASS invalid username-password pair or user is disabled.");
    assert_json_error(&request(http, "GET", "/cache/k", &[("Authorization", "Basic czNjcmV0")], b""), 401, "NOAUTH");
    let auth = [("Authorization", "Bearer s3cret")];
    assert_eq!(request(http, "PUT", "/cache/k", &auth, b"v").status, 204);
    assert_eq!(request(http, "GET", "/cache/k", &auth, b"").body, b"v");
    assert_eq!(request(http, "DELETE", "/cache/k", &auth, b"").status, 204);
    // Health, readiness and metrics stay open (probes and scrapers carry no password).
    assert_eq!(get(http, "/health").status, 200);
    assert_eq!(get(http, "/ready").status, 200);
    assert_eq!(get(http, "/metrics").status, 200);
    let mut c = Conn::new(server.addr);
    c.roundtrip(&[b"GET", b"k"], b"-NOAUTH Authentication required.\r\n");
}

/// A node's client port whose HTTP port (the next one) is free too.
fn port_with_http() -> u16 {
    loop {
        let p = port_pair();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

#[test]
fn cluster_redirects_to_the_owners_http_port() {
    // Three primaries, each with its HTTP port one above its client port (the one offset
    // every node must share for redirects to find the owner's HTTP port).
    let dirs: Vec<TempDir> = (0..3).map(|i| TempDir::new(&format!("http-cluster{i}"))).collect();
    let ports: Vec<u16> = (0..3).map(|_| port_with_http()).collect();
    let nodes = (0..3)
        .map(|i| {
            let http = (ports[i] + 1).to_string();
            let args =
                ["--cluster-enabled", "yes", "--save", "", "--cluster-node-timeout", "3000", "--http-port", &http];
            Some(ServerProcess::ferrocache_on(&dirs[i].0, ports[i], &args))
        })
        .collect();
    let cluster = ProcessCluster { nodes, dirs, ports: ports.clone(), extra: Vec::new() };
    let http = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i] + 1));
    for i in 0..3 {
        wait_http(http(i));
    }
    let api = OpenApi::load();
    let r = get(http(0), "/ready");
    api.check("GET", "/ready", &r);
    assert_eq!(r.status, 503, "a node without slots is not ready: {}", r.text());
    assert_eq!(r.json()["cluster_state"], "fail");
    cluster.create();
    cluster.wait_ok();
    for i in 0..3 {
        common::keyspace::wait_until("ready", || get(http(i), "/ready").status == 200);
    }

    // /nodes: the three primaries and their slots, all 16384 of them.
    let r = get(http(0), "/nodes");
    api.check("GET", "/nodes", &r);
    let body = r.json();
    assert_eq!((body["cluster_enabled"].as_bool(), body["cluster_state"].as_str()), (Some(true), Some("ok")));
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{body}");
    let mut slots = 0;
    for n in nodes {
        assert_eq!(n["role"], "master");
        assert!(ports.contains(&(n["port"].as_u64().unwrap() as u16)));
        for range in n["slots"].as_array().unwrap() {
            slots += range[1].as_u64().unwrap() - range[0].as_u64().unwrap() + 1;
        }
    }
    assert_eq!(slots, 16384);
    let me = nodes.iter().find(|n| n["id"] == body["myself"]).unwrap();
    assert_eq!(me["port"], ports[0]);
    assert!(me["flags"].as_array().unwrap().contains(&serde_json::json!("myself")));

    // "foo" is in slot 12182: find its owner, then ask a node that is not.
    let owner_of = |key: &[u8]| {
        (0..3).find(|&i| !Conn::new(cluster_addr(ports[i])).call_text(&[b"GET", key]).starts_with("-MOVED")).unwrap()
    };
    let owner = owner_of(b"foo");
    let other = (owner + 1) % 3;
    for (method, body) in [("PUT", &b"bar"[..]), ("GET", b""), ("DELETE", b"")] {
        let r = request(http(other), method, "/cache/foo?ttl=60", &[], body);
        api.check(method, "/cache/foo", &r);
        assert_json_error(&r, 307, "MOVED");
        assert_eq!(r.json()["message"], format!("MOVED 12182 127.0.0.1:{}", ports[owner]));
        let location = format!("http://127.0.0.1:{}/cache/foo", ports[owner] + 1);
        assert_eq!(r.header("location"), Some(location.as_str()), "{method}");
    }
    // Following the redirect: the owner serves it.
    assert_eq!(request(http(owner), "PUT", "/cache/foo?ttl=60", &[], b"bar").status, 204);
    assert_eq!(get(http(owner), "/cache/foo").body, b"bar");
    // The key is percent-encoded again in the Location.
    let owner = owner_of(b"{user1000}.following");
    let r = get(http((owner + 1) % 3), "/cache/%7Buser1000%7D.following");
    assert_eq!(r.status, 307);
    let location = format!("http://127.0.0.1:{}/cache/%7Buser1000%7D.following", ports[owner] + 1);
    assert_eq!(r.header("location"), Some(location.as_str()));

    // The cluster's metrics on each node.
    for i in 0..3 {
        let samples = parse_metrics(&get(http(i), "/metrics").text());
        assert_eq!(value(&samples, "redis_cluster_enabled", &[]), Some(1.0));
        assert_eq!(value(&samples, "redis_cluster_state", &[]), Some(1.0));
        assert_eq!(value(&samples, "redis_cluster_slots_assigned", &[]), Some(16384.0));
        assert_eq!(value(&samples, "redis_cluster_slots_ok", &[]), Some(16384.0));
        assert_eq!(value(&samples, "redis_cluster_slots_fail", &[]), Some(0.0));
        assert_eq!(value(&samples, "redis_cluster_known_nodes", &[]), Some(3.0));
        assert_eq!(value(&samples, "redis_cluster_size", &[]), Some(3.0));
    }
}

fn cluster_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Documented responses a standalone server cannot give: the cluster's (seen in
/// `cluster_redirects_to_the_owners_http_port`), protected mode's (needs a client that is not
/// on loopback), and the cache's 503s (LOADING, CLUSTERDOWN, MISCONF, …: states the cluster
/// test and the persistence tests reach).
const NOT_SEEN_STANDALONE: &[(&str, &str, &str)] = &[
    ("/cache/{key}", "get", "307"),
    ("/cache/{key}", "put", "307"),
    ("/cache/{key}", "delete", "307"),
    ("/ready", "get", "503"),
    ("/cache/{key}", "get", "403"),
    ("/cache/{key}", "get", "503"),
    ("/cache/{key}", "put", "503"),
    ("/cache/{key}", "delete", "503"),
];

#[test]
fn responses_match_the_openapi_document() {
    let api = OpenApi::load();
    let replica_of = common::TestServer::start();
    let (server, http) = server_with_http(|c| c.requirepass = "pw".into());
    let call = |method: &str, path: &str, auth: bool, body: &[u8]| {
        let headers: &[(&str, &str)] = if auth { &[("Authorization", "Bearer pw")] } else { &[] };
        let r = request(http, method, path, headers, body);
        api.check(method, path, &r);
        r.status
    };
    let mut resp = Conn::new(server.addr);
    resp.roundtrip(&[b"AUTH", b"pw"], b"+OK\r\n");
    for path in ["/health", "/ready", "/nodes", "/metrics"] {
        assert_eq!(call("GET", path, false, b""), 200, "{path}");
    }
    let long = format!("/cache/{}", "k".repeat(9000));
    for method in ["GET", "PUT", "DELETE"] {
        assert_eq!(call(method, "/cache/k", false, b"v"), 401, "{method}");
        assert_eq!(call(method, "/cache/%zz", true, b"v"), 400, "{method}");
        assert_eq!(call(method, &long, true, b"v"), 414, "{method}");
    }
    assert_eq!(call("PUT", "/cache/k?ttl=10", true, b"v"), 204);
    assert_eq!(call("PUT", "/cache/k?ttl=x", true, b"v"), 400);
    assert_eq!(call("GET", "/cache/k", true, b""), 200);
    assert_eq!(call("DELETE", "/cache/k", true, b""), 204);
    assert_eq!(call("DELETE", "/cache/k", true, b""), 404);
    assert_eq!(call("GET", "/cache/k", true, b""), 404);
    // A key holding a list: GET's WRONGTYPE is 409; PUT overwrites it, as SET does.
    resp.roundtrip(&[b"RPUSH", b"k", b"a"], b":1\r\n");
    assert_eq!(call("GET", "/cache/k", true, b""), 409);
    assert_eq!(call("PUT", "/cache/k", true, b"v"), 204);
    assert_eq!(call("DELETE", "/cache/k", true, b""), 204);
    resp.roundtrip(&[b"CONFIG", b"SET", b"proto-max-bulk-len", b"1mb"], b"+OK\r\n");
    assert_eq!(call("PUT", "/cache/k", true, &vec![0u8; (1 << 20) + 1]), 413);
    // maxmemory below what is used, nothing evictable: OOM.
    resp.roundtrip(&[b"CONFIG", b"SET", b"maxmemory", b"1"], b"+OK\r\n");
    assert_eq!(call("PUT", "/cache/k", true, b"v"), 507);
    resp.roundtrip(&[b"CONFIG", b"SET", b"maxmemory", b"0"], b"+OK\r\n");
    // A read-only replica refuses writes (READONLY): 403.
    let port = replica_of.addr.port().to_string();
    resp.roundtrip(&[b"REPLICAOF", b"127.0.0.1", port.as_bytes()], b"+OK\r\n");
    assert_eq!(call("PUT", "/cache/k", true, b"v"), 403);
    assert_eq!(call("DELETE", "/cache/k", true, b""), 403);
    resp.roundtrip(&[b"REPLICAOF", b"NO", b"ONE"], b"+OK\r\n");

    let mut missing: Vec<_> = api.documented().difference(&api.seen()).cloned().collect();
    missing.retain(|(p, m, s)| !NOT_SEEN_STANDALONE.contains(&(p.as_str(), m.as_str(), s.as_str())));
    assert!(missing.is_empty(), "documented but never answered: {missing:?}");
}

/// A taken HTTP port stops start-up, as a taken client port does.
#[test]
fn a_taken_http_port_stops_start_up() {
    let dir = TempDir::new("http-taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (status, log) = ServerProcess::ferrocache_failing(&dir.0, &["--http-port", &port]);
    assert!(!status.success(), "{log}");
    assert!(log.contains(&format!("Could not create the HTTP listening socket 127.0.0.1:{port}")), "{log}");
}

/// A write over HTTP reaches replicas as a RESP client's does (the replication stream is fed
/// by the same command path), and a replica refuses it with READONLY (403).
#[test]
fn rest_writes_are_replicated() {
    let (primary, http) = server_with_http(|_| {});
    let (replica, replica_http) = server_with_http(|c| c.replicaof = Some(("127.0.0.1".into(), primary.addr.port())));
    let mut to_replica = Conn::new(replica.addr);
    common::keyspace::wait_until("replica link up", || {
        to_replica.call_text(&[b"INFO", b"replication"]).contains("master_link_status:up")
    });
    assert_eq!(request(http, "PUT", "/cache/replicated?ttl=100", &[], b"value").status, 204);
    common::keyspace::wait_until("the write replicated", || {
        to_replica.call_text(&[b"GET", b"replicated"]) == "$5\r\nvalue\r\n"
    });
    let ttl = to_replica.call_text(&[b"TTL", b"replicated"]);
    assert!(ttl == ":100\r\n" || ttl == ":99\r\n", "{ttl}");
    assert_eq!(get(replica_http, "/cache/replicated").body, b"value");
    let r = request(replica_http, "PUT", "/cache/replicated", &[], b"other");
    assert_json_error(&r, 403, "READONLY");
    assert_eq!(request(http, "DELETE", "/cache/replicated", &[], b"").status, 204);
    common::keyspace::wait_until("the delete replicated", || {
        to_replica.call_text(&[b"EXISTS", b"replicated"]) == ":0\r\n"
    });
}
