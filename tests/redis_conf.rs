//! redis.conf as a drop-in: every Redis 7.0 parameter in CONFIG GET with Redis's default,
//! CONFIG SET answering as redis-server does for every parameter, the stock redis.conf files
//! (Redis 7.0.15's and Debian's) starting the server unchanged, `daemonize` with its pidfile,
//! and clients served over `unixsocket`.

mod common;

use common::process::ServerProcess;
use common::TempDir;
use std::collections::BTreeMap;

/// Parameters whose values legitimately differ between two servers started side by side.
const DIFFERENT_BY_SETUP: &[(&str, &str)] = &[
    ("port", "each server has its own free port"),
    ("dir", "each server has its own temporary directory"),
    ("logfile", "each server logs to its own file"),
];

/// Ferrocache's own directives: in our CONFIG GET *, not in Redis's.
const OURS_ONLY: &[&str] = &["shards", "threads", "busy-poll", "log-format", "http-port", "http-bind"];

fn config_get(con: &mut redis::Connection, pattern: &str) -> BTreeMap<String, String> {
    redis::cmd("CONFIG").arg("GET").arg(pattern).query(con).expect("CONFIG GET")
}

/// Both servers with the same test settings (persistence off, loopback, own dir and log).
fn both(redis_dir: &TempDir, our_dir: &TempDir) -> (ServerProcess, ServerProcess) {
    let redis = ServerProcess::redis(&redis_dir.0, &[]);
    let ours = ServerProcess::ferrocache(&our_dir.0, &["--save", "", "--appendonly", "no"]);
    (redis, ours)
}

#[test]
fn config_get_all_lists_every_redis_parameter_with_its_default() {
    let (rd, od) = (TempDir::new("conf-get-redis"), TempDir::new("conf-get-ours"));
    let (redis, ours) = both(&rd, &od);
    let theirs = config_get(&mut redis.connect(), "*");
    let mine = config_get(&mut ours.connect(), "*");
    assert!(theirs.len() >= 190, "redis-server 7.0 lists {} parameters", theirs.len());
    let mut differences = Vec::new();
    for (name, value) in &theirs {
        if DIFFERENT_BY_SETUP.iter().any(|(n, _)| n == name) {
            assert!(mine.contains_key(name), "{name} missing");
            continue;
        }
        match mine.get(name) {
            None => differences.push(format!("{name}: missing (redis: {value:?})")),
            Some(v) if v != value => differences.push(format!("{name}: {v:?}, redis: {value:?}")),
            Some(_) => {}
        }
    }
    for name in mine.keys().filter(|n| !theirs.contains_key(*n)) {
        if !OURS_ONLY.contains(&name.as_str()) {
            differences.push(format!("{name}: ours only"));
        }
    }
    assert!(differences.is_empty(), "CONFIG GET * differs:\n{}", differences.join("\n"));
}

/// Values tried on every parameter: each type's valid and invalid spellings.
const PROBES: &[&str] = &[
    "yes",
    "no",
    "0",
    "1",
    "-1",
    "abc",
    "",
    "100mb",
    "50%",
    "2 3",
    "1 2 3",
    "01",
    "normal 1mb 2mb 3",
    "save now",
    "save nosave",
    "local",
    "hostname",
    "allkeys-lru",
    "everysec",
    "777",
    "9223372036854775808",
];

/// Redis 7.0's hidden test knobs: not in CONFIG GET *, but CONFIG SET and exact GET work.
const HIDDEN: &[&str] = &[
    "use-exit-on-panic",
    "watchdog-period",
    "loading-process-events-interval-bytes",
    "rdb-key-save-delay",
    "key-load-delay",
];

/// Parameters the probe walk skips: CONFIG SET answers differently on purpose, or is
/// compared by a test of its own (docs/OPERATIONS.md).
const SET_EXCEPTIONS: &[(&str, &str)] = &[
    ("port", "a probe would move the listeners: config_set_port_and_bind_listen_anew_as_redis_does"),
    ("bind", "a probe would move the listeners: config_set_port_and_bind_listen_anew_as_redis_does"),
    ("activedefrag", "no active defragmentation: `yes` is refused"),
];

fn reply_text(r: redis::RedisResult<redis::Value>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn config_set_answers_as_redis_for_every_parameter() {
    let (rd, od) = (TempDir::new("conf-set-redis"), TempDir::new("conf-set-ours"));
    let (redis, ours) = both(&rd, &od);
    let (mut theirs, mut mine) = (redis.connect(), ours.connect());
    let mut names: Vec<String> = config_get(&mut theirs, "*").into_keys().collect();
    names.extend(HIDDEN.iter().map(|s| s.to_string()));
    let mut differences = Vec::new();
    let mut compared = 0;
    for name in &names {
        if SET_EXCEPTIONS.iter().any(|(n, _)| n == name) {
            continue;
        }
        let original_theirs = config_get(&mut theirs, name).remove(name).unwrap_or_default();
        let original_mine = config_get(&mut mine, name).remove(name).unwrap_or_default();
        for probe in PROBES {
            let set = |con: &mut redis::Connection| {
                reply_text(redis::cmd("CONFIG").arg("SET").arg(name).arg(*probe).query::<redis::Value>(con))
            };
            let (a, b) = (set(&mut theirs), set(&mut mine));
            compared += 1;
            if a != b {
                differences.push(format!("CONFIG SET {name} {probe:?}: ours {b}, redis {a}"));
            } else if a == "Okay" {
                let (va, vb) = (config_get(&mut theirs, name), config_get(&mut mine, name));
                let skip_value = DIFFERENT_BY_SETUP.iter().any(|(n, _)| n == name);
                if va != vb && !skip_value {
                    differences.push(format!("after CONFIG SET {name} {probe:?}: ours {vb:?}, redis {va:?}"));
                }
            }
            // Back to where each started, so one probe does not change the next one's answer.
            for (con, original) in [(&mut theirs, &original_theirs), (&mut mine, &original_mine)] {
                let _: redis::RedisResult<redis::Value> =
                    redis::cmd("CONFIG").arg("SET").arg(name).arg(original).query(con);
            }
        }
    }
    assert!(compared > 3000, "only {compared} probes compared");
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
}

/// A daemon started by a test: killed by pid if the test fails before it stops.
struct Daemon {
    pid: i32,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() && self.pid > 0 {
            let _ = std::process::Command::new("kill").args(["-9", &self.pid.to_string()]).status();
        }
    }
}

/// Polls `cond` (bounded) instead of sleeping a guessed time.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

/// Starts the binary with `args`, expecting it to exit 0 at once (the parent of a daemon).
fn start_daemon(args: &[String]) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .status()
        .expect("run ferrocache");
    assert!(status.success(), "the daemon's parent exited with {status}");
}

#[test]
fn daemonize_forks_writes_the_pidfile_and_removes_it_on_shutdown() {
    let dir = TempDir::new("conf-daemon");
    let port = common::process::free_port();
    let pidfile = dir.0.join("ferrocache.pid");
    let args: Vec<String> = [
        "--daemonize",
        "yes",
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--dir",
        &dir.path_str(),
        "--logfile",
        &dir.0.join("log").display().to_string(),
        "--pidfile",
        &pidfile.display().to_string(),
        "--save",
        "",
    ]
    .map(String::from)
    .to_vec();
    start_daemon(&args);
    // The parent has exited; the child wrote its own pid.
    wait_until("the pid file", || std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n')));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().expect("a pid");
    let _guard = Daemon { pid };
    assert!(alive(pid), "pid {pid} from the pid file is not running");
    let url = format!("redis://127.0.0.1:{port}");
    let mut con = None;
    wait_until("PING", || {
        con = redis::Client::open(url.as_str()).unwrap().get_connection().ok();
        con.as_mut().is_some_and(|c| redis::cmd("PING").query::<String>(c).is_ok())
    });
    let mut con = con.unwrap();
    let info: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    assert!(info.contains(&format!("process_id:{pid}\r\n")), "{info}");
    assert_eq!(config_get(&mut con, "daemonize")["daemonize"], "yes");
    assert_eq!(config_get(&mut con, "pidfile")["pidfile"], pidfile.display().to_string());
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<redis::Value>(&mut con);
    wait_until("the daemon to exit", || !alive(pid));
    assert!(!pidfile.exists(), "the pid file outlived a clean shutdown");
}

#[test]
fn shutdown_on_sigterm_takes_shutdowns_options() {
    // `save` writes a snapshot although no save point is configured; `default` does not.
    for (option, saved) in [("save", true), ("default", false)] {
        let dir = TempDir::new("conf-sigterm");
        let server = ServerProcess::ferrocache(&dir.0, &["--save", "", "--shutdown-on-sigterm", option]);
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut server.connect()).unwrap();
        let status = server.terminate();
        assert!(status.success(), "{option}: {status}");
        assert_eq!(dir.0.join("dump.rdb").exists(), saved, "shutdown-on-sigterm {option}");
    }
}

#[test]
fn unixsocket_serves_clients_with_its_permissions() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = TempDir::new("conf-unix");
    let socket = dir.0.join("ferrocache.sock");
    let path = socket.display().to_string();
    let server = ServerProcess::ferrocache(&dir.0, &["--save", "", "--unixsocket", &path, "--unixsocketperm", "700"]);
    let meta = std::fs::metadata(&socket).expect("the socket file");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    let mut con =
        redis::Client::open(format!("unix://{path}")).unwrap().get_connection().expect("connect over the socket");
    let _: () = redis::cmd("SET").arg("k").arg("over unix").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "over unix");
    // Named as Redis names a socket client: `path:0`, flagged U.
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    let me = list.lines().find(|l| l.contains("cmd=client|list")).expect("our own line");
    assert!(me.contains(&format!(" addr={path}:0 laddr={path}:0 ")), "{me}");
    assert!(me.contains(" flags=U "), "{me}");
    // The same keyspace as TCP clients see.
    let v: String = redis::cmd("GET").arg("k").query(&mut server.connect()).unwrap();
    assert_eq!(v, "over unix");
    assert_eq!(
        config_get(&mut con, "unixsocket*"),
        BTreeMap::from([("unixsocket".to_string(), path.clone()), ("unixsocketperm".to_string(), "700".to_string()),])
    );
    let log = dir.0.join("ferrocache.log");
    let status = server.terminate();
    assert!(status.success(), "{status}: {}", std::fs::read_to_string(log).unwrap_or_default());
    assert!(!socket.exists(), "the socket file outlived the server");
}

#[test]
fn port_0_with_a_unixsocket_serves_only_the_socket() {
    let dir = TempDir::new("conf-unix-only");
    let path = dir.0.join("only.sock").display().to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["--port", "0", "--save", "", "--unixsocket", &path, "--dir", &dir.path_str()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn ferrocache");
    let _guard = Daemon { pid: child.id() as i32 };
    let mut pong = String::new();
    wait_until("PING over the socket", || {
        let Ok(mut con) = redis::Client::open(format!("unix://{path}")).unwrap().get_connection() else { return false };
        redis::cmd("PING").query::<String>(&mut con).is_ok_and(|p| {
            pong = p;
            true
        })
    });
    assert_eq!(pong, "PONG");
    let mut con = redis::Client::open(format!("unix://{path}")).unwrap().get_connection().unwrap();
    assert_eq!(config_get(&mut con, "port")["port"], "0");
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<redis::Value>(&mut con);
    assert!(child.wait().unwrap().success());
}

/// The stock files, unchanged: Redis 7.0.15's redis.conf and Debian's /etc/redis/redis.conf.
const STOCK_FILES: &[&str] = &["tests/fixtures/redis-7.0.15/redis.conf", "tests/fixtures/debian/redis.conf"];

fn fixture(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The settings that must differ from the file to run beside other tests: a free port, a
/// temporary dir, log and pid file (flags after the file win, as redis-server's do).
fn overrides(dir: &TempDir, port: u16) -> Vec<String> {
    let p = |name: &str| dir.0.join(name).display().to_string();
    ["--port", &port.to_string(), "--dir", &dir.path_str(), "--logfile", &p("log"), "--pidfile", &p("pid")]
        .map(String::from)
        .to_vec()
}

fn ping_ready(port: u16) -> redis::Connection {
    let url = format!("redis://127.0.0.1:{port}");
    let mut con = None;
    wait_until(&format!("PING on {port}"), || {
        con = redis::Client::open(url.as_str()).unwrap().get_connection().ok();
        con.as_mut().is_some_and(|c| redis::cmd("PING").query::<String>(c).is_ok_and(|p| p == "PONG"))
    });
    con.unwrap()
}

/// Debian's file names `dir /var/lib/redis`, which must exist here as it must for redis-server
/// (the redis-server package, which these tests need anyway, creates it).
#[test]
fn stock_files_are_read_whole() {
    for file in STOCK_FILES {
        let config = ferrocache::Config::from_args([fixture(file)]).unwrap_or_else(|e| panic!("{file} refused:{e}"));
        assert_eq!(config.port, 6379, "{file}");
        assert_eq!(config.bind, ["127.0.0.1", "-::1"], "{file}");
        assert_eq!(
            config.client_output_buffer_limit.show(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
    }
    let debian = ferrocache::Config::from_args([fixture(STOCK_FILES[1])]).unwrap();
    assert!(debian.daemonize);
    assert_eq!(debian.pidfile, "/run/redis/redis-server.pid");
    assert_eq!(debian.logfile, "/var/log/redis/redis-server.log");
    assert_eq!(debian.dir, "/var/lib/redis");
}

/// Each stock file starts the server (Debian's as a daemon, as it says), which answers PING and
/// shows in CONFIG GET * the same values as a redis-server started with the same file.
#[test]
fn stock_files_start_the_server_as_they_start_redis() {
    for file in STOCK_FILES {
        let (rd, od) = (TempDir::new("stock-redis"), TempDir::new("stock-ours"));
        let (rport, oport) = (common::process::free_port(), common::process::free_port());
        let mut reference = std::process::Command::new(common::process::program("REDIS_SERVER", "redis-server"))
            .arg(fixture(file))
            .args(overrides(&rd, rport))
            .args(["--daemonize", "no"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        let mut args = vec![fixture(file)];
        args.extend(overrides(&od, oport));
        let daemonizes = file.contains("debian");
        let mut child = None;
        if daemonizes {
            start_daemon(&args);
        } else {
            child = Some(
                std::process::Command::new(env!("CARGO_BIN_EXE_ferrocache"))
                    .args(&args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("ferrocache"),
            );
        }
        let mut ours = ping_ready(oport);
        let pid: i32 = std::fs::read_to_string(od.0.join("pid")).expect("pid file").trim().parse().unwrap();
        let _guard = Daemon { pid };
        let mut theirs = ping_ready(rport);
        let (mine, want) = (config_get(&mut ours, "*"), config_get(&mut theirs, "*"));
        let mut differences = Vec::new();
        for (name, value) in &want {
            let expected_difference = DIFFERENT_BY_SETUP.iter().any(|(n, _)| n == name)
                || name == "pidfile"
                || (daemonizes && name == "daemonize");
            if !expected_difference && mine.get(name) != Some(value) {
                differences.push(format!("{name}: ours {:?}, redis {value:?}", mine.get(name)));
            }
        }
        assert!(differences.is_empty(), "{file}:\n{}", differences.join("\n"));
        assert_eq!(mine["daemonize"], if daemonizes { "yes" } else { "no" });
        for con in [&mut ours, &mut theirs] {
            let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<redis::Value>(con);
        }
        wait_until("the server to exit", || !alive(pid));
        if let Some(mut c) = child {
            assert!(c.wait().unwrap().success());
        }
        reference.wait().unwrap();
    }
}

/// The binary started with `args` as systemd starts a unit: `NOTIFY_SOCKET` names a datagram
/// socket of the test's, returned for reading the notifications (20 s timeout per read).
fn under_systemd(dir: &TempDir, args: &[String]) -> (std::os::unix::net::UnixDatagram, std::process::Child) {
    let notify = dir.0.join("notify.sock");
    let listener = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    listener.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(args)
        .env("NOTIFY_SOCKET", &notify)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn ferrocache");
    (listener, child)
}

#[test]
fn supervised_systemd_without_daemonize_as_debians_unit_runs_it() {
    let dir = TempDir::new("conf-systemd-fg");
    let port = common::process::free_port();
    let mut args = vec![fixture(STOCK_FILES[1])];
    args.extend(overrides(&dir, port));
    args.extend(["--supervised", "systemd", "--daemonize", "no"].map(String::from));
    let (listener, mut child) = under_systemd(&dir, &args);
    let _guard = Daemon { pid: child.id() as i32 };
    let mut buf = [0u8; 512];
    let n = listener.recv(&mut buf).expect("the loading status");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("STATUS="), "{:?}", String::from_utf8_lossy(&buf[..n]));
    loop {
        let n = listener.recv(&mut buf).expect("READY=1 before the timeout");
        if &buf[..n] == b"READY=1\n" {
            break;
        }
    }
    let mut con = ping_ready(port);
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<redis::Value>(&mut con);
    assert!(child.wait().unwrap().success());
}

#[test]
fn supervised_systemd_notifies_readiness_and_does_not_fork() {
    let dir = TempDir::new("conf-systemd");
    let port = common::process::free_port();
    let mut args = overrides(&dir, port);
    args.extend(["--daemonize", "yes", "--supervised", "systemd", "--save", ""].map(String::from));
    let (listener, mut child) = under_systemd(&dir, &args);
    let _guard = Daemon { pid: child.id() as i32 };
    let mut messages = Vec::new();
    let mut buf = [0u8; 512];
    while !messages.iter().any(|m: &String| m.contains("READY=1")) {
        let n = listener.recv(&mut buf).expect("a notification before the timeout");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(messages.last().map(String::as_str), Some("READY=1\n"), "{messages:?}");
    assert!(messages.iter().any(|m| m == "STATUS=Ready to accept connections\n"), "{messages:?}");
    // Supervised, so not forked: the process we started is the server.
    let mut con = ping_ready(port);
    let pid: u32 = std::fs::read_to_string(dir.0.join("pid")).unwrap().trim().parse().unwrap();
    assert_eq!(pid, child.id());
    let info: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    assert!(info.contains("\r\nprocess_supervised:systemd\r\n"), "{info}");
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<redis::Value>(&mut con);
    assert!(child.wait().unwrap().success());
}

#[test]
fn oom_score_adj_follows_the_config_and_the_role() {
    let dir = TempDir::new("conf-oom");
    let server = ServerProcess::ferrocache(
        &dir.0,
        &["--save", "", "--oom-score-adj", "absolute", "--oom-score-adj-values", "100 200 800"],
    );
    let score = || -> String {
        std::fs::read_to_string(format!("/proc/{}/oom_score_adj", server.child.id())).unwrap().trim().to_string()
    };
    assert_eq!(score(), "100");
    let mut con = server.connect();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("oom-score-adj-values").arg("300 400 800").query(&mut con).unwrap();
    assert_eq!(score(), "300");
    // A replica takes the second value (the primary need not be up).
    let port = common::process::free_port().to_string();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(&port).query(&mut con).unwrap();
    assert_eq!(score(), "400");
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut con).unwrap();
    assert_eq!(score(), "300");
    // `no` puts back the score the process started with.
    let _: () = redis::cmd("CONFIG").arg("SET").arg("oom-score-adj").arg("no").query(&mut con).unwrap();
    let started = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap().trim().to_string();
    assert_eq!(score(), started);
}

/// The slow log's arguments of a CONFIG SET naming a secret, on both servers.
#[test]
fn config_set_hides_secrets_as_redis() {
    let (rd, od) = (TempDir::new("conf-redact-redis"), TempDir::new("conf-redact-ours"));
    let (redis, ours) = both(&rd, &od);
    let logged = |server: &ServerProcess| -> Vec<String> {
        let mut con = server.connect();
        let _: () = redis::cmd("CONFIG").arg("SET").arg("slowlog-log-slower-than").arg("0").query(&mut con).unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("masterauth")
            .arg("s3cret")
            .arg("maxmemory")
            .arg("0")
            .query(&mut con)
            .unwrap();
        let entries: Vec<(i64, i64, i64, Vec<String>, String, String)> =
            redis::cmd("SLOWLOG").arg("GET").arg("1").query(&mut con).unwrap();
        entries[0].3.clone()
    };
    let theirs = logged(&redis);
    assert_eq!(theirs, ["CONFIG", "SET", "masterauth", "(redacted)", "maxmemory", "0"]);
    assert_eq!(logged(&ours), theirs);
}

/// While the dataset loads, CONFIG SET of appendonly, dir and repl-diskless-load answers
/// -LOADING (Redis's DENY_LOADING_CONFIG); other parameters are set as usual.
#[test]
fn config_set_answers_loading_for_deny_loading_parameters() {
    let dir = TempDir::new("conf-loading");
    {
        let server = ServerProcess::ferrocache(&dir.0, &["--save", ""]);
        let mut con = server.connect();
        for i in 0..40 {
            let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut con).unwrap();
        }
        let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<redis::Value>(&mut con);
    }
    let port = common::process::free_port();
    // 40 keys at 50 ms each: two seconds of loading.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir", &dir.path_str(), "--save", ""])
        .args(["--key-load-delay", "50000", "--logfile", &dir.0.join("log").display().to_string()])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn ferrocache");
    let _guard = Daemon { pid: child.id() as i32 };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    wait_until("the server to accept", || std::net::TcpStream::connect(addr).is_ok());
    let mut con = common::Conn::new(addr);
    assert_eq!(
        con.call_text(&[b"PING"]),
        "-LOADING Redis is loading the dataset in memory\r\n",
        "not loading any more"
    );
    for (name, value) in [("appendonly", "yes"), ("repl-diskless-load", "swapdb")] {
        let reply = con.call_text(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]);
        assert_eq!(reply, "-LOADING Redis is loading the dataset in memory\r\n", "CONFIG SET {name}");
    }
    assert_eq!(con.call_text(&[b"CONFIG", b"SET", b"maxmemory", b"0"]), "+OK\r\n");
    con.cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    let _ = child.wait();
}

/// CONFIG SET `port` and `bind` listen anew, as Redis's do, and answer Redis's errors when
/// they cannot, still listening where they did.
#[test]
fn config_set_port_and_bind_listen_anew_as_redis_does() {
    use common::Conn;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    let dir = TempDir::new("listen-anew");
    let servers =
        [("redis", ServerProcess::redis(&dir.0, &[])), ("ferrocache", ServerProcess::ferrocache(&dir.0, &[]))];
    for (name, server) in servers {
        let mut c = Conn::new(server.addr);
        let set = |c: &mut Conn, param: &str, value: &str, expected: &str| {
            let reply = c.call_text(&[b"CONFIG", b"SET", param.as_bytes(), value.as_bytes()]);
            assert_eq!(reply, format!("{expected}\r\n"), "{name}: CONFIG SET {param} {value}");
        };
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port().to_string();
        let port_error = "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.";
        set(&mut c, "port", &taken_port, &format!("-{port_error}"));
        Conn::new(server.addr).roundtrip(&[b"PING"], b"+PONG\r\n");
        let bind_error =
            "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.";
        set(&mut c, "bind", "10.255.255.1", &format!("-{bind_error}"));
        Conn::new(server.addr).roundtrip(&[b"PING"], b"+PONG\r\n");

        let port = common::process::free_port();
        set(&mut c, "port", &port.to_string(), "+OK");
        let moved = SocketAddr::from(([127, 0, 0, 1], port));
        Conn::new(moved).roundtrip(&[b"PING"], b"+PONG\r\n");
        assert!(TcpStream::connect(server.addr).is_err(), "{name} still listens on its old port");
        assert!(c.call_text(&[b"INFO", b"server"]).contains(&format!("tcp_port:{port}\r\n")), "{name}");
        set(&mut c, "bind", "127.0.0.2", "+OK");
        Conn::new(SocketAddr::from(([127, 0, 0, 2], port))).roundtrip(&[b"PING"], b"+PONG\r\n");
        assert!(TcpStream::connect(moved).is_err(), "{name} still listens on 127.0.0.1");
        // The connection that moved it is served throughout.
        c.roundtrip(&[b"PING"], b"+PONG\r\n");
    }
}
