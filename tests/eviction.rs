//! `maxmemory` end to end. In its own test binary because used memory is process-wide:
//! other tests allocating in parallel would blur the numbers.

mod common;

use common::TestServer;

fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    let line = info.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("no {field}"));
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn maxmemory_evicts_or_refuses_by_policy() {
    let server = TestServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let value = vec![b'v'; 1024];

    // allkeys-lru: writes keep succeeding, keys are evicted, memory stays near the limit.
    let base = info_field(&mut con, "memory", "used_memory");
    let limit = base + 4 * 1024 * 1024;
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(limit).query(&mut con).unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("allkeys-lru").query(&mut con).unwrap();
    for i in 0..20_000 {
        let _: () = redis::cmd("SET").arg(format!("key:{i}")).arg(&value).query(&mut con).unwrap();
    }
    // One snapshot: every command may evict first, so INFO and DBSIZE read apart could
    // straddle an eviction. Inside MULTI/EXEC they run back to back on the locked keyspace.
    let (info, keys): (String, u64) =
        redis::pipe().atomic().cmd("INFO").arg("stats").cmd("DBSIZE").query(&mut con).unwrap();
    let evicted: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .expect("evicted_keys in INFO stats")
        .trim()
        .parse()
        .unwrap();
    assert!(evicted > 10_000, "evicted only {evicted}");
    assert_eq!(keys + evicted, 20_000, "every key is either stored or counted as evicted");
    let used = info_field(&mut con, "memory", "used_memory");
    assert!(used < limit + limit / 4, "used {used} far above the limit {limit}");

    // noeviction: writes that need memory are refused with Redis's error; reads still work.
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("noeviction").query(&mut con).unwrap();
    let mut refused = None;
    for i in 0..20_000 {
        match redis::cmd("SET").arg(format!("more:{i}")).arg(&value).query::<()>(&mut con) {
            Ok(()) => {}
            Err(e) => {
                refused = Some(e.to_string());
                break;
            }
        }
    }
    let refused = refused.expect("noeviction never refused a write");
    assert!(refused.contains("command not allowed when used memory > 'maxmemory'"), "{refused}");
    let _: Option<Vec<u8>> = redis::cmd("GET").arg("key:19999").query(&mut con).unwrap();
    // DEL frees memory and is not a DENYOOM command.
    let _: i64 = redis::cmd("DEL").arg("key:19999").query(&mut con).unwrap();

    // The refusal left memory over the limit with nothing to evict: an eviction-exceeded
    // span (Redis's `*_eviction_exceeded_time`), open until the limit is lifted.
    let during = info_field(&mut con, "stats", "total_eviction_exceeded_time");
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(0).query(&mut con).unwrap();
    assert_eq!(info_field(&mut con, "stats", "current_eviction_exceeded_time"), 0);
    assert!(info_field(&mut con, "stats", "total_eviction_exceeded_time") >= during);
}
