//! End-to-end behaviour of the server over TCP: framing, pipelining, limits, auth,
//! connection management and shutdown. Replies are asserted byte for byte.

mod common;

use common::{resp, TestServer};
use ferrocache::store::Clock;
use ferrocache::Config;
use std::time::{Duration, Instant};

#[test]
fn busy_poll_is_a_setting_of_its_own() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.roundtrip(&[b"CONFIG", b"GET", b"busy-poll"], b"*2\r\n$9\r\nbusy-poll\r\n$2\r\n50\r\n");
    c.roundtrip(&[b"CONFIG", b"SET", b"busy-poll", b"0"], b"+OK\r\n");
    c.roundtrip(&[b"SET", b"k", b"v"], b"+OK\r\n");
    c.roundtrip(&[b"CONFIG", b"GET", b"busy-poll"], b"*2\r\n$9\r\nbusy-poll\r\n$1\r\n0\r\n");
    c.roundtrip(
        &[b"CONFIG", b"SET", b"busy-poll", b"-1"],
        b"-ERR CONFIG SET failed (possibly related to argument 'busy-poll') - argument must be between 0 and 1000000 inclusive\r\n",
    );
    c.roundtrip(&[b"CONFIG", b"SET", b"busy-poll", b"50"], b"+OK\r\n");
    c.roundtrip(&[b"GET", b"k"], b"$1\r\nv\r\n");
}

#[test]
fn inline_and_multibulk_requests() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"PING\r\n");
    c.expect(b"+PONG\r\n");
    c.send(b"SET k \"hello world\"\r\nGET k\r\n");
    c.expect(b"+OK\r\n$11\r\nhello world\r\n");
    c.roundtrip(&[b"ECHO", b"bin\x00\r\nary"], b"$9\r\nbin\x00\r\nary\r\n");
    // Empty lines and *0 are skipped, as in Redis.
    c.send(b"\r\n*0\r\nPING\r\n");
    c.expect(b"+PONG\r\n");
}

#[test]
fn pipelined_replies_come_back_in_order() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..500 {
        let key = format!("key:{i}");
        let val = format!("value:{i}");
        batch.extend(resp(&[b"SET", key.as_bytes(), val.as_bytes()]));
        batch.extend(resp(&[b"GET", key.as_bytes()]));
        expected.extend_from_slice(b"+OK\r\n");
        expected.extend(format!("${}\r\n{val}\r\n", val.len()).into_bytes());
    }
    c.send(&batch);
    c.expect(&expected);
}

#[test]
fn a_request_split_across_writes_is_reassembled() {
    let server = TestServer::start();
    let mut c = server.connect();
    let req = resp(&[b"SET", b"split", b"across many packets"]);
    for b in &req {
        c.send(std::slice::from_ref(b));
    }
    c.expect(b"+OK\r\n");
    c.roundtrip(&[b"GET", b"split"], b"$19\r\nacross many packets\r\n");
}

#[test]
fn protocol_error_replies_then_closes_only_that_connection() {
    let server = TestServer::start();
    let mut other = server.connect();
    for (bad, reply) in [
        (&b"*1\r\n$x\r\n"[..], &b"-ERR Protocol error: invalid bulk length\r\n"[..]),
        (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\nfoo\r\n", b"-ERR Protocol error: expected '$', got 'f'\r\n"),
        (b"SET \"k v\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    ] {
        let mut c = server.connect();
        c.send(bad);
        c.expect(reply);
        c.expect_closed();
    }
    other.roundtrip(&[b"PING"], b"+PONG\r\n");
}

/// The connection parses a pipelined request ahead of the keyed one it executes (to prefetch
/// its key): every request before a framing error still runs and replies first, in order.
#[test]
fn pipelined_writes_before_a_protocol_error_all_run_in_order() {
    let server = TestServer::start();
    let mut c = server.connect();
    // Runs of one command (parsed ahead), a switch of command, and the framing error found
    // by a parse ahead of the last SET.
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 1..=5 {
        batch.extend(common::resp(&[b"INCR", b"n"]));
        expected.extend_from_slice(format!(":{i}\r\n").as_bytes());
    }
    for i in 0..5 {
        batch.extend(common::resp(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
        expected.extend_from_slice(b"+OK\r\n");
    }
    batch.extend_from_slice(b"*1\r\n$x\r\n");
    expected.extend_from_slice(b"-ERR Protocol error: invalid bulk length\r\n");
    c.send(&batch);
    c.expect(&expected);
    c.expect_closed();
    let mut c = server.connect();
    c.roundtrip(&[b"MGET", b"k0", b"k4"], b"*2\r\n$1\r\nv\r\n$1\r\nv\r\n");
    c.roundtrip(&[b"GET", b"n"], b"$1\r\n5\r\n");
}

#[test]
fn command_errors_keep_the_connection() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.roundtrip(&[b"NOSUCH", b"a", b"b"], b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n");
    c.roundtrip(&[b"GET"], b"-ERR wrong number of arguments for 'get' command\r\n");
    c.roundtrip(&[b"CONFIG", b"GET"], b"-ERR wrong number of arguments for 'config|get' command\r\n");
    c.roundtrip(&[b"CLIENT", b"FOO"], b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n");
    c.roundtrip(&[b"PING"], b"+PONG\r\n");
}

#[test]
fn too_big_inline_request_is_a_protocol_error() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(&vec![b'a'; 70 * 1024]);
    c.expect(b"-ERR Protocol error: too big inline request\r\n");
    c.expect_closed();
}

#[test]
fn bulk_over_proto_max_bulk_len_is_refused() {
    let server = TestServer::with_config(|c| c.proto_max_bulk_len = 1024 * 1024);
    let mut c = server.connect();
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    c.expect(b"-ERR Protocol error: invalid bulk length\r\n");
    c.expect_closed();
}

#[test]
fn query_buffer_over_the_limit_closes_the_connection() {
    let server = TestServer::with_config(|c| c.client_query_buffer_limit = 1024 * 1024);
    let mut c = server.connect();
    // A 3 MB bulk is within proto-max-bulk-len but its buffer passes the 1 MB limit.
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < 3_000_000 {
        use std::io::Write;
        if c.stream.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    c.expect_closed();
    server.connect().roundtrip(&[b"EXISTS", b"k"], b":0\r\n");
}

#[test]
fn large_binary_values_roundtrip() {
    let server = TestServer::start();
    let mut c = server.connect();
    let value: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    c.roundtrip(&[b"SET", b"big", &value], b"+OK\r\n");
    c.cmd(&[b"GET", b"big"]);
    let mut expected = format!("${}\r\n", value.len()).into_bytes();
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\n");
    c.expect(&expected);
}

#[test]
fn requirepass_gates_commands_until_auth() {
    let server = TestServer::with_config(|c| c.requirepass = "s3cret".into());
    let mut c = server.connect();
    c.roundtrip(&[b"GET", b"k"], b"-NOAUTH Authentication required.\r\n");
    c.roundtrip(&[b"AUTH", b"wrong"], b"-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    c.roundtrip(
        &[b"AUTH", b"default", b"wrong"],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    c.roundtrip(&[b"AUTH", b"s3cret"], b"+OK\r\n");
    c.roundtrip(&[b"GET", b"k"], b"$-1\r\n");
    // Before AUTH, requests are kept small, as Redis does.
    let mut d = server.connect();
    let many: Vec<&[u8]> = std::iter::repeat_n(&b"x"[..], 11).collect();
    d.cmd(&many);
    d.expect(b"-ERR Protocol error: unauthenticated multibulk length\r\n");
    d.expect_closed();
    let mut e = server.connect();
    e.send(b"*2\r\n$4\r\nAUTH\r\n$20000\r\n");
    e.expect(b"-ERR Protocol error: unauthenticated bulk length\r\n");
    // HELLO can authenticate and switch protocol at once.
    let mut h = server.connect();
    h.cmd(&[b"HELLO", b"3", b"AUTH", b"default", b"s3cret"]);
    assert_eq!(h.read_line(), "%7\r\n");
}

#[test]
fn auth_without_requirepass_is_refused_like_redis() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.roundtrip(
        &[b"AUTH", b"x"],
        b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
    );
    c.roundtrip(&[b"AUTH", b"default", b"anything"], b"+OK\r\n");
}

#[test]
fn maxclients_refuses_the_extra_connection() {
    let server = TestServer::with_config(|c| c.maxclients = 2);
    let mut a = server.connect();
    let mut b = server.connect();
    a.roundtrip(&[b"PING"], b"+PONG\r\n");
    b.roundtrip(&[b"PING"], b"+PONG\r\n");
    let mut c = server.connect();
    c.expect(b"-ERR max number of clients reached\r\n");
    c.expect_closed();
    drop(a);
    // The freed slot becomes usable once the server has seen the close.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut d = server.connect();
        d.cmd(&[b"PING"]);
        let line = d.read_line();
        if line == "+PONG\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed: {line}");
    }
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let server = TestServer::with_config(|c| c.timeout = 1);
    let mut c = server.connect();
    c.roundtrip(&[b"PING"], b"+PONG\r\n");
    let start = Instant::now();
    c.expect_closed();
    assert!(start.elapsed() >= Duration::from_millis(900), "closed too early: {:?}", start.elapsed());
}

#[test]
fn quit_replies_ok_and_closes() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"QUIT\r\nPING\r\n");
    c.expect(b"+OK\r\n");
    c.expect_closed();
}

#[test]
fn client_kill_closes_another_connection() {
    let server = TestServer::start();
    let mut victim = server.connect();
    victim.roundtrip(&[b"CLIENT", b"SETNAME", b"victim"], b"+OK\r\n");
    victim.cmd(&[b"CLIENT", b"ID"]);
    let id = victim.read_line();
    let id = id.trim().trim_start_matches(':').to_string();
    let mut killer = server.connect();
    killer.roundtrip(&[b"CLIENT", b"KILL", b"ID", id.as_bytes()], b":1\r\n");
    victim.expect_closed();
    killer.roundtrip(&[b"CLIENT", b"KILL", b"ID", id.as_bytes()], b":0\r\n");
}

#[test]
fn client_reply_off_and_skip() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(&resp(&[b"CLIENT", b"REPLY", b"SKIP"]));
    c.send(&resp(&[b"PING", b"skipped"]));
    c.send(&resp(&[b"PING", b"seen"]));
    c.expect(b"$4\r\nseen\r\n");
    c.send(&resp(&[b"CLIENT", b"REPLY", b"OFF"]));
    c.send(&resp(&[b"PING", b"hidden"]));
    c.send(&resp(&[b"CLIENT", b"REPLY", b"ON"]));
    c.expect(b"+OK\r\n");
}

#[test]
fn hello_switches_to_resp3() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.roundtrip(&[b"HELLO", b"4"], b"-NOPROTO unsupported protocol version\r\n");
    c.roundtrip(&[b"HELLO", b"abc"], b"-ERR Protocol version is not an integer or out of range\r\n");
    c.cmd(&[b"HELLO", b"3"]);
    assert_eq!(c.read_line(), "%7\r\n");
    for _ in 0..10 {
        c.read_line(); // "server" "redis" "version" "7.0.15" "proto", each a $len line and a body line
    }
    assert_eq!(c.read_line(), ":3\r\n");
    // Drain id, mode, role, modules; then a RESP3 null and map.
    c.roundtrip(&[b"PING"], b"");
    let mut rest = String::new();
    while !rest.ends_with("*0\r\n") {
        rest.push_str(&c.read_line());
    }
    c.expect(b"+PONG\r\n");
    c.roundtrip(&[b"GET", b"missing"], b"_\r\n");
    c.roundtrip(&[b"CONFIG", b"GET", b"maxmemory"], b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
}

#[test]
fn transactions_are_atomic_and_watch_aborts() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"MULTI\r\nSET a 1\r\nGET a\r\nEXEC\r\n");
    c.expect(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\n1\r\n");
    c.send(b"MULTI\r\nNOSUCH\r\nEXEC\r\n");
    c.expect(b"+OK\r\n-ERR unknown command 'NOSUCH', with args beginning with: \r\n-EXECABORT Transaction discarded because of previous errors.\r\n");
    let mut other = server.connect();
    c.send(b"WATCH w\r\nMULTI\r\nSET w mine\r\n");
    c.expect(b"+OK\r\n+OK\r\n+QUEUED\r\n");
    other.roundtrip(&[b"SET", b"w", b"theirs"], b"+OK\r\n");
    c.send(b"EXEC\r\nGET w\r\n");
    c.expect(b"*-1\r\n$6\r\ntheirs\r\n");
}

#[test]
fn watched_key_expiring_aborts_exec() {
    let clock = Clock::manual(1_700_000_000_000);
    let server = TestServer::start_with(Config::default(), clock.clone());
    let mut c = server.connect();
    c.send(b"SET w v PX 1000\r\nWATCH w\r\nMULTI\r\nPING\r\n");
    c.expect(b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n");
    clock.advance(2000);
    c.send(b"EXEC\r\n");
    c.expect(b"*-1\r\n");
}

#[test]
fn keys_expire_actively_without_being_read() {
    let clock = Clock::manual(1_700_000_000_000);
    let server = TestServer::start_with(Config::default(), clock.clone());
    let mut c = server.connect();
    for i in 0..100 {
        c.roundtrip(&[b"SET", format!("k{i}").as_bytes(), b"v", b"PX", b"500"], b"+OK\r\n");
    }
    c.roundtrip(&[b"SET", b"stays", b"v"], b"+OK\r\n");
    clock.advance(1000);
    // DBSIZE counts expired keys until something deletes them: only the active cycle can.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        c.cmd(&[b"DBSIZE"]);
        if c.read_line() == ":1\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "active expiry never collected the keys");
        std::thread::yield_now();
    }
    c.cmd(&[b"INFO", b"stats"]);
    let header = c.read_line();
    let len: usize = header.trim()[1..].parse().unwrap();
    let mut body = vec![0; len + 2];
    std::io::Read::read_exact(&mut c.stream, &mut body).unwrap();
    assert!(String::from_utf8_lossy(&body).contains("expired_keys:100\r\n"));
}

#[test]
fn select_and_databases() {
    let server = TestServer::with_config(|c| c.databases = 4);
    let mut c = server.connect();
    c.send(b"SET k zero\r\nSELECT 3\r\nGET k\r\nSET k three\r\nSELECT 4\r\nSELECT 0\r\nGET k\r\n");
    c.expect(b"+OK\r\n+OK\r\n$-1\r\n+OK\r\n-ERR DB index is out of range\r\n+OK\r\n$4\r\nzero\r\n");
}

#[test]
fn shutdown_stops_the_server() {
    let server = TestServer::start();
    let addr = server.addr;
    let mut c = server.connect();
    c.send(b"SHUTDOWN NOSAVE\r\n");
    c.expect_closed();
    server.join();
    assert!(std::net::TcpStream::connect(addr).is_err(), "still accepting after SHUTDOWN");
}

#[test]
fn monitor_sees_other_clients_commands() {
    let server = TestServer::start();
    let mut m = server.connect();
    // Registered before its OK is written: the very next command is seen, no retry.
    m.roundtrip(&[b"MONITOR"], b"+OK\r\n");
    let mut c = server.connect();
    c.roundtrip(&[b"SET", b"watched", b"a\"b"], b"+OK\r\n");
    let line = m.read_line();
    assert!(line.starts_with('+') && line.ends_with("\"SET\" \"watched\" \"a\\\"b\"\r\n"), "{line}");
}

#[test]
fn redis_crate_client_works() {
    let server = TestServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("x").arg(42).query(&mut con).unwrap();
    let v: i64 = redis::cmd("GET").arg("x").query(&mut con).unwrap();
    assert_eq!(v, 42);
    let (a, b): (String, Option<String>) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("p")
        .arg("q")
        .ignore()
        .cmd("GET")
        .arg("p")
        .cmd("GET")
        .arg("nope")
        .query(&mut con)
        .unwrap();
    assert_eq!((a.as_str(), b), ("q", None));
}

#[test]
fn redis_crate_resp3_connection_works() {
    let server = TestServer::start();
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("x").arg("y").query(&mut con).unwrap();
    let v: Option<String> = redis::cmd("GET").arg("missing").query(&mut con).unwrap();
    assert_eq!(v, None);
    let v: String = redis::cmd("GET").arg("x").query(&mut con).unwrap();
    assert_eq!(v, "y");
}

#[test]
fn info_sections_follow_redis() {
    let server = TestServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let info: String = redis::cmd("INFO").query(&mut con).unwrap();
    let headers: Vec<&str> = info.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        headers,
        [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Modules",
            "# Errorstats",
            "# Cluster",
            "# Keyspace"
        ]
    );
    assert!(info.contains("\r\n\r\n# Clients\r\n"), "sections are separated by a blank CRLF line");
    assert!(info.contains("db0:keys=1,expires=0,avg_ttl=0\r\n"));
    for field in ["redis_version:", "redis_mode:standalone", "connected_clients:1", "used_memory:", "mem_allocator:"] {
        assert!(info.contains(field), "missing {field}");
    }
    let some: String = redis::cmd("INFO").arg("CLIENTS").arg("server").query(&mut con).unwrap();
    let headers: Vec<&str> = some.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(headers, ["# Server", "# Clients"]);
    let all: String = redis::cmd("INFO").arg("all").query(&mut con).unwrap();
    assert!(all.contains("# Commandstats\r\ncmdstat_"), "{all}");
    assert!(all.contains("cmdstat_set:calls=1,"));
    let none: String = redis::cmd("INFO").arg("nosuchsection").query(&mut con).unwrap();
    assert_eq!(none, "");
}

/// Reads one RESP bulk string reply.
fn read_bulk(c: &mut common::Conn) -> String {
    let header = c.read_line();
    let len: usize = header.trim_start_matches('$').trim_end().parse().unwrap();
    let mut body = vec![0; len + 2];
    std::io::Read::read_exact(&mut c.stream, &mut body).unwrap();
    String::from_utf8_lossy(&body[..len]).into_owned()
}

/// The counter after `field=` in the INFO line starting with `line`, if the line is there.
fn info_field(info: &str, line: &str, field: &str) -> Option<u64> {
    let l = info.lines().find(|l| l.starts_with(line))?;
    let v = l.split([':', ',']).find_map(|kv| kv.strip_prefix(field))?;
    Some(v.trim_start_matches('=').parse().unwrap())
}

#[test]
fn commandstats_count_pipelined_calls_in_order() {
    let server = TestServer::start();
    let mut a = server.connect();
    // One write: fast commands in a run, then INFO twice, as one pipelined batch.
    let mut batch = Vec::new();
    for _ in 0..3 {
        batch.extend(resp(&[b"GET", b"k"]));
    }
    batch.extend(resp(&[b"INCR", b"n"]));
    batch.extend(resp(&[b"GET", b"k"]));
    batch.extend(resp(&[b"INFO", b"commandstats"]));
    batch.extend(resp(&[b"INFO", b"all"]));
    a.send(&batch);
    a.expect(b"$-1\r\n$-1\r\n$-1\r\n:1\r\n$-1\r\n");
    // Like Redis, a command is counted once it has run: INFO sees the calls before it only.
    let first = read_bulk(&mut a);
    assert_eq!(info_field(&first, "cmdstat_get:", "calls"), Some(4), "{first}");
    assert_eq!(info_field(&first, "cmdstat_incr:", "calls"), Some(1), "{first}");
    assert_eq!(info_field(&first, "cmdstat_info:", "calls"), None, "{first}");
    let second = read_bulk(&mut a);
    assert_eq!(info_field(&second, "cmdstat_info:", "calls"), Some(1), "{second}");
    let total = second.lines().find_map(|l| l.strip_prefix("total_commands_processed:")).unwrap();
    assert_eq!(total, "6", "{second}");
    // Another client sees the whole batch once its replies are out.
    let mut b = server.connect();
    b.cmd(&[b"INFO", b"commandstats"]);
    let other = read_bulk(&mut b);
    assert_eq!(info_field(&other, "cmdstat_get:", "calls"), Some(4), "{other}");
    assert_eq!(info_field(&other, "cmdstat_info:", "calls"), Some(2), "{other}");
}

#[test]
fn command_docs_have_the_shape_redis_cli_asserts() {
    let server = TestServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let docs: redis::Value = redis::cmd("COMMAND").arg("DOCS").query(&mut con).unwrap();
    let redis::Value::Array(flat) = docs else { panic!("COMMAND DOCS is not an array in RESP2: {docs:?}") };
    assert!(flat.len() >= 2 * 20 && flat.len() % 2 == 0);
    for pair in flat.chunks(2) {
        assert!(matches!(pair[0], redis::Value::BulkString(_)), "name must be a bulk string");
        let redis::Value::Array(fields) = &pair[1] else { panic!("docs entry is not a map: {:?}", pair[1]) };
        let keys: Vec<String> = fields
            .chunks(2)
            .map(|kv| match &kv[0] {
                redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("doc field name not a bulk: {other:?}"),
            })
            .collect();
        assert!(keys.starts_with(&["summary".into(), "since".into(), "group".into()]), "{keys:?}");
    }
    // COMMAND: the entries redis-py's cluster client reads key positions from.
    let cmds: Vec<redis::Value> = redis::cmd("COMMAND").query(&mut con).unwrap();
    let get = cmds
        .iter()
        .find_map(|c| match c {
            redis::Value::Array(e) if e[0] == redis::Value::BulkString(b"get".to_vec()) => Some(e.clone()),
            _ => None,
        })
        .expect("get in COMMAND");
    assert_eq!(
        &get[1..6],
        &[redis::Value::Int(2), get[2].clone(), redis::Value::Int(1), redis::Value::Int(1), redis::Value::Int(1)]
    );
}

#[test]
fn client_setinfo_follows_redis_7_2() {
    // Redis 7.0 lacks CLIENT SETINFO; redis-py and redis-rs send it, and 7.2 answers +OK and
    // shows the values in CLIENT LIST / INFO.
    let server = TestServer::start();
    let mut c = server.connect();
    c.roundtrip(&[b"CLIENT", b"SETINFO", b"LIB-NAME", b"redis-py"], b"+OK\r\n");
    c.roundtrip(&[b"CLIENT", b"SETINFO", b"lib-ver", b"5.0.1"], b"+OK\r\n");
    c.roundtrip(&[b"CLIENT", b"SETINFO", b"color", b"blue"], b"-ERR Unrecognized option 'color'\r\n");
    c.roundtrip(
        &[b"CLIENT", b"SETINFO", b"lib-name", b"a b"],
        b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n",
    );
    c.cmd(&[b"CLIENT", b"INFO"]);
    c.read_line();
    let line = c.read_line();
    assert!(line.contains(" lib-name=redis-py lib-ver=5.0.1"), "{line}");
}

#[test]
fn client_list_shows_the_command_running_now() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.roundtrip(&[b"SET", b"k", b"v"], b"+OK\r\n");
    c.cmd(&[b"CLIENT", b"INFO"]);
    c.read_line();
    let line = c.read_line();
    assert!(line.contains(" cmd=client|info "), "{line}");
    let mut other = server.connect();
    other.cmd(&[b"CLIENT", b"LIST"]);
    other.read_line();
    let first = other.read_line();
    assert!(first.contains(" cmd=client|info "), "the other connection's last command: {first}");
}

/// CVE-2022-36021: stars that backtrack over every split of the subject used to leave a
/// worker spinning forever (this request never got a reply; the read times out). Redis 7.0.15
/// answers `(empty array)` at once, and so must every user of the matcher.
#[test]
fn exponential_star_patterns_answer_like_redis() {
    let server = TestServer::start();
    let mut c = server.connect();
    let key = [b'a'; 40];
    c.roundtrip(&[b"SET", &key, b"1"], b"+OK\r\n");
    let mut pattern = b"a*".repeat(20);
    pattern.push(b'b');
    c.roundtrip(&[b"KEYS", &pattern], b"*0\r\n");
    c.roundtrip(&[b"SCAN", b"0", b"MATCH", &pattern, b"COUNT", b"1000"], b"*2\r\n$1\r\n0\r\n*0\r\n");
    pattern.pop();
    c.roundtrip(&[b"KEYS", &pattern], format!("*1\r\n$40\r\n{}\r\n", "a".repeat(40)).as_bytes());
    // Case-folding users: directive and command names, `*?` pairs before a byte none ends with.
    let folded = [&b"*?".repeat(16)[..], b"#"].concat();
    c.roundtrip(&[b"CONFIG", b"GET", &folded], b"*0\r\n");
    c.roundtrip(&[b"COMMAND", b"LIST", b"FILTERBY", b"PATTERN", &folded], b"*0\r\n");
}
