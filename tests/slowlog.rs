//! SLOWLOG against a real redis-server: the same commands with `slowlog-log-slower-than 0`
//! give the same entries (ids, arguments cut and redacted as Redis cuts them, client names;
//! times and durations checked for sense only), EXEC's commands logged one by one, and
//! `slowlog-max-len` / a negative threshold acting alike.

mod common;

use common::process::ServerProcess;
use common::TempDir;
use redis::Value;

/// An entry without what legitimately differs (time, duration, client port). Ids count from
/// the script's first entry: the clients' set-up before it differs (redis-rs sends CLIENT
/// SETINFO, a 7.2 command that Ferrocache runs and 7.0 refuses unlogged).
#[derive(Debug, PartialEq)]
struct Entry {
    id: i64,
    args: Vec<Vec<u8>>,
    client_name: Vec<u8>,
}

fn entries(reply: Value) -> Vec<Entry> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let Value::Array(items) = reply else { panic!("{reply:?}") };
    items
        .into_iter()
        .map(|item| match item {
            Value::Array(fields) => match &fields[..] {
                [Value::Int(id), Value::Int(time), Value::Int(us), Value::Array(args), Value::BulkString(peer), Value::BulkString(name)] =>
                {
                    assert!((now - 60..=now + 1).contains(time), "time {time}");
                    assert!(*us >= 0);
                    assert!(peer.starts_with(b"127.0.0.1:"), "{peer:?}");
                    let args = args
                        .iter()
                        .map(|a| match a {
                            Value::BulkString(b) => b.clone(),
                            other => panic!("{other:?}"),
                        })
                        .collect();
                    Entry { id: *id, args, client_name: name.clone() }
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Runs the script on one server; what SLOWLOG answered along the way.
fn script(server: &ServerProcess) -> (Vec<Entry>, Vec<Value>) {
    let mut con = server.connect();
    let mut run =
        |args: &[&[u8]]| redis::cmd(std::str::from_utf8(args[0]).unwrap()).arg(&args[1..]).query::<Value>(&mut con);
    run(&[b"SLOWLOG", b"RESET"]).unwrap();
    run(&[b"CLIENT", b"SETNAME", b"probe"]).unwrap();
    run(&[b"SET", b"k", b"v"]).unwrap();
    let mset: Vec<Vec<u8>> =
        std::iter::once(b"MSET".to_vec()).chain((0..40).map(|i| format!("x{i}").into_bytes())).collect();
    let mset: Vec<&[u8]> = mset.iter().map(Vec::as_slice).collect();
    run(&mset).unwrap();
    let big = vec![b'z'; 200];
    run(&[b"SET", b"big", &big]).unwrap();
    assert!(run(&[b"AUTH", b"secret"]).is_err());
    run(&[b"MULTI"]).unwrap();
    run(&[b"SET", b"a", b"1"]).unwrap();
    run(&[b"EXEC"]).unwrap();
    run(&[b"GET", b"nosuch"]).unwrap();
    let mut all = entries(run(&[b"SLOWLOG", b"GET", b"-1"]).unwrap());
    let first = all.last().map_or(0, |e| e.id);
    all.iter_mut().for_each(|e| e.id -= first);
    let mut answers = vec![run(&[b"SLOWLOG", b"LEN"]).unwrap()];
    answers.push(run(&[b"CONFIG", b"SET", b"slowlog-max-len", b"2"]).unwrap());
    run(&[b"PING"]).unwrap();
    answers.push(run(&[b"SLOWLOG", b"LEN"]).unwrap());
    answers.push(Value::Int(entries(run(&[b"SLOWLOG", b"GET"]).unwrap()).len() as i64));
    answers.push(run(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"]).unwrap());
    run(&[b"SLOWLOG", b"RESET"]).unwrap();
    run(&[b"PING"]).unwrap();
    answers.push(run(&[b"SLOWLOG", b"LEN"]).unwrap());
    (all, answers)
}

#[test]
fn slowlog_entries_match_redis() {
    let (ours, theirs) = (TempDir::new("slowlog-ours"), TempDir::new("slowlog-redis"));
    let flags = ["--slowlog-log-slower-than", "0"];
    let (our_entries, our_answers) = script(&ServerProcess::ferrocache(&ours.0, &flags));
    let (their_entries, their_answers) = script(&ServerProcess::redis(&theirs.0, &flags));
    assert_eq!(our_entries, their_entries);
    assert_eq!(our_answers, their_answers);

    // What the comparison covered, spelled out.
    let args = |e: &Entry| e.args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>();
    let newest = args(&our_entries[0]);
    assert_eq!(newest, ["GET", "nosuch"]);
    assert!(our_entries.iter().any(|e| args(e) == ["AUTH", "(redacted)"]));
    assert!(our_entries.iter().any(|e| args(e) == ["SET", "a", "1"]), "EXEC's command is logged");
    assert!(!our_entries.iter().any(|e| args(e) == ["EXEC"]));
    let mset = our_entries.iter().find(|e| e.args[0] == b"MSET").unwrap();
    assert_eq!(args(mset).len(), 32);
    assert_eq!(args(mset)[31], "... (10 more arguments)");
    assert!(our_entries.iter().any(|e| args(e).get(2).is_some_and(|v| v.ends_with("z... (72 more bytes)"))));
    assert_eq!(our_entries[0].client_name, b"probe");
    assert_eq!(our_answers.last(), Some(&Value::Int(0)));
}
