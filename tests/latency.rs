//! LATENCY against a real redis-server, with events recorded: the same script (a 50 ms
//! DEBUG SLEEP with `latency-monitor-threshold 20`, well above what anything else takes)
//! gives the same LATEST / HISTORY / GRAPH / DOCTOR / RESET replies once times and
//! milliseconds are set aside (checked for sense instead), and the same LATENCY HISTOGRAM and
//! INFO latencystats shapes, with `latency-tracking no` stopping both.
//! tests/corpus/latency.redis covers the replies that need no event.

mod common;

use common::process::ServerProcess;
use common::TempDir;
use redis::Value;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        other => panic!("not text: {other:?}"),
    }
}

/// Every run of digits as `N`: times, durations and ages differ between servers.
fn digits_out(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('N') {
                out.push('N');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `[event, time, latest ms, max ms]` rows, checked for sense, without time and ms.
fn latest_rows(v: &Value) -> Vec<String> {
    let Value::Array(rows) = v else { panic!("{v:?}") };
    rows.iter()
        .map(|row| match row {
            Value::Array(f) => match &f[..] {
                [event, Value::Int(time), Value::Int(ms), Value::Int(max)] => {
                    assert!((now() - 60..=now() + 1).contains(time), "time {time}");
                    assert!(*ms >= 50 && max >= ms, "{ms} {max}");
                    text(event)
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect()
}

/// A LATENCY HISTOGRAM reply (RESP2) as `name: calls [bound µs…]`, bounds checked for sense
/// (at least `min_usec`), not compared: they are times.
fn histogram(v: &Value, min_usec: i64) -> Vec<String> {
    let Value::Array(items) = v else { panic!("{v:?}") };
    items
        .chunks(2)
        .map(|pair| {
            let Value::Array(fields) = &pair[1] else { panic!("{pair:?}") };
            let [calls_name, Value::Int(calls), hist_name, Value::Array(cdf)] = &fields[..] else {
                panic!("{fields:?}")
            };
            assert_eq!((text(calls_name), text(hist_name)), ("calls".into(), "histogram_usec".into()));
            let counts: Vec<i64> = cdf
                .chunks(2)
                .map(|kv| match kv {
                    [Value::Int(bound), Value::Int(count)] => {
                        assert!(*bound >= min_usec, "bound {bound}");
                        *count
                    }
                    other => panic!("{other:?}"),
                })
                .collect();
            assert!(counts.windows(2).all(|w| w[0] < w[1]) && counts.last() == Some(calls), "{cdf:?}");
            format!("{}: {calls} in {} buckets", text(&pair[0]), counts.len())
        })
        .collect()
}

/// What one server answered along the script, normalised for comparison.
fn script(server: &ServerProcess) -> Vec<String> {
    let mut con = server.connect();
    // An error reply comes back as a status line saying so (both servers go through the
    // same client, so its wording is the same).
    let mut run = |args: &[&str]| {
        redis::cmd(args[0])
            .arg(&args[1..])
            .query::<Value>(&mut con)
            .unwrap_or_else(|e| Value::SimpleString(format!("error: {e}")))
    };
    let mut seen = Vec::new();
    run(&["CONFIG", "SET", "latency-monitor-threshold", "20"]);
    seen.push(text(&run(&["LATENCY", "DOCTOR"])));
    run(&["CONFIG", "RESETSTAT"]);
    assert_eq!(run(&["DEBUG", "SLEEP", "0.05"]), Value::Okay);
    seen.push(format!("{:?}", latest_rows(&run(&["LATENCY", "LATEST"]))));
    let Value::Array(history) = run(&["LATENCY", "HISTORY", "command"]) else { panic!() };
    seen.push(format!("history: {} sample(s)", history.len()));
    assert_eq!(run(&["LATENCY", "HISTORY", "COMMAND"]), Value::Array(vec![]), "names match exactly");
    let graph = text(&run(&["LATENCY", "GRAPH", "command"]));
    let mut lines = graph.lines();
    let header = lines.next().unwrap();
    let (high, low) = (header.split("high ").nth(1).unwrap(), header.split("low ").nth(1).unwrap());
    assert!(header.starts_with("command - high ") && high.starts_with(&low[..low.find(' ').unwrap()]), "{header}");
    assert_eq!(lines.next(), Some("-".repeat(80).as_str()));
    // Bars and the blank row; the labels below are the sample's age.
    seen.push(format!("graph: {} / {:?}", digits_out(header), lines.take(5).collect::<Vec<_>>()));
    let doctor = text(&run(&["LATENCY", "DOCTOR"]));
    seen.push(doctor.lines().map(digits_out).collect::<Vec<_>>().join("\n"));
    seen.extend(histogram(&run(&["LATENCY", "HISTOGRAM", "debug"]), 50_000));
    let info = text(&run(&["INFO", "latencystats"]));
    let debug_line = info.lines().find(|l| l.starts_with("latency_percentiles_usec_debug:")).unwrap();
    seen.push(digits_out(debug_line));
    for p in debug_line.split_once(':').unwrap().1.split(',') {
        let usec: f64 = p.split_once('=').unwrap().1.parse().unwrap();
        assert!(usec >= 50_000.0, "{debug_line}");
    }
    seen.push(format!("{:?}", run(&["LATENCY", "RESET", "nosuch", "Command", "command"])));
    seen.push(format!("{:?}", run(&["LATENCY", "RESET"])));
    seen.push(format!("{:?}", run(&["LATENCY", "LATEST"])));
    seen.push(text(&run(&["LATENCY", "DOCTOR"])));
    seen.push(format!("{:?}", run(&["LATENCY", "GRAPH", "nosuch"])));
    // Tracking off: nothing recorded, INFO's section empty, HISTOGRAM keeps what it had.
    run(&["CONFIG", "SET", "latency-tracking", "no"]);
    run(&["CONFIG", "RESETSTAT"]);
    run(&["PING"]);
    seen.push(format!("{:?}", run(&["LATENCY", "HISTOGRAM"])));
    seen.push(text(&run(&["INFO", "latencystats"])));
    run(&["CONFIG", "SET", "latency-tracking", "yes"]);
    run(&["PING"]);
    seen.extend(histogram(&run(&["LATENCY", "HISTOGRAM", "ping", "config"]), 1));
    run(&["CONFIG", "SET", "latency-monitor-threshold", "0"]);
    seen.push(text(&run(&["LATENCY", "DOCTOR"])));
    seen
}

#[test]
fn latency_events_match_redis() {
    let (ours, theirs) = (TempDir::new("latency-ours"), TempDir::new("latency-redis"));
    let flags = ["--enable-debug-command", "yes"];
    let our_answers = script(&ServerProcess::ferrocache(&ours.0, &flags));
    let their_answers = script(&ServerProcess::redis(&theirs.0, &flags));
    assert_eq!(our_answers, their_answers);

    // What the comparison covered, spelled out.
    assert!(our_answers[0].starts_with("Dave, no latency spike was observed"));
    assert_eq!(our_answers[1], r#"["command"]"#);
    assert_eq!(our_answers[2], "history: 1 sample(s)");
    assert_eq!(
        our_answers[3],
        r#"graph: command - high N ms, low N ms (all time high N ms) / [" ", " ", " ", "_", " "]"#
    );
    assert!(our_answers[4].contains("N. command: N latency spikes (average Nms, mean deviation Nms, period N.N sec)."));
    assert!(our_answers[4].contains("- Check your Slow Log to understand what are the commands"));
    assert_eq!(our_answers[5], "debug: 1 in 1 buckets");
    assert_eq!(our_answers[6], "latency_percentiles_usec_debug:pN=N.N,pN=N.N,pN.N=N.N");
    assert_eq!(our_answers[7], "int(1)");
    assert_eq!(our_answers[8], "int(0)");
    assert!(our_answers[10].starts_with("Dave, no latency spike"));
    assert!(our_answers[11].contains("No samples available for event 'nosuch'"), "{}", our_answers[11]);
    assert_eq!(our_answers[12], "array([])");
    assert_eq!(our_answers[13], "# Latencystats\r\n");
    assert_eq!(our_answers[14..16], ["ping: 1 in 1 buckets", "config|set: 1 in 1 buckets"]);
    assert!(our_answers.last().unwrap().starts_with("I'm sorry, Dave"));
}

/// The events of one server's LATENCY LATEST, by name.
fn event_names(con: &mut redis::Connection) -> Vec<String> {
    let latest: Value = redis::cmd("LATENCY").arg("LATEST").query(con).unwrap();
    let Value::Array(rows) = latest else { panic!("{latest:?}") };
    rows.iter()
        .map(|row| match row {
            Value::Array(f) => text(&f[0]),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Background work records its own events, on both servers: an expiry cycle with 50,000 keys
/// to delete and an eviction cycle after `maxmemory` drops under the data (eviction's time
/// limit lifted, so that Redis too evicts in one cycle); and a slow fast command is a
/// "fast-command".
#[test]
fn cycles_and_fast_commands_are_events() {
    let (ours, theirs) = (TempDir::new("latency-cycles-ours"), TempDir::new("latency-cycles-redis"));
    let flags = ["--latency-monitor-threshold", "1", "--maxmemory-eviction-tenacity", "100"];
    for server in [ServerProcess::ferrocache(&ours.0, &flags), ServerProcess::redis(&theirs.0, &flags)] {
        let mut con = server.connect();
        let mut pipe = redis::pipe();
        for i in 0..50_000 {
            pipe.cmd("SET").arg(format!("e:{i}")).arg("x").arg("PX").arg(1).ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
        common::keyspace::wait_until("an expire-cycle event", || {
            event_names(&mut con).contains(&"expire-cycle".to_string())
        });
        let mut pipe = redis::pipe();
        for i in 0..50_000 {
            pipe.cmd("SET").arg(format!("k:{i}")).arg("v".repeat(100)).ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
        let _: () =
            redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("allkeys-random").query(&mut con).unwrap();
        let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("2mb").query(&mut con).unwrap();
        common::keyspace::wait_until("an eviction-cycle event", || {
            event_names(&mut con).contains(&"eviction-cycle".to_string())
        });
        let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("0").query(&mut con).unwrap();
        // A command flagged fast is recorded apart: MGET of 200,000 keys takes milliseconds.
        let keys: Vec<String> = (0..200_000).map(|i| format!("m:{i}")).collect();
        let _: Value = redis::cmd("MGET").arg(&keys).query(&mut con).unwrap();
        assert!(event_names(&mut con).contains(&"fast-command".to_string()));
    }
}
