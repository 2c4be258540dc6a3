//! nodes.conf / CLUSTER NODES parsing, the rules of `clusterLoadConfig`. The texts are files
//! redis-server 7.0.15 wrote (`tests/vs_redis_cluster.rs` also round-trips live ones).

use super::*;
use crate::replies::nodes_text;
use rand::{Rng, SeedableRng};

/// A node's nodes.conf right after `redis-cli --cluster create` and a replica joining.
const CONF: &str = "\
5abb2e4efce7bb8563b3792b0b916b9cac4b9066 127.0.0.1:7004@17004 slave b5ec036ae9e83565236b4a3aa177998ea8c590ed 0 1795964865232 1 connected
2a19757e2635226367fe3c70ba24c26a256c9a82 127.0.0.1:7003@17003 master - 0 1795964866235 3 connected 10923-16383
009c5dce183b821efa2b41c0af802a5126c006df 127.0.0.1:7002@17002 master - 0 1795964864229 2 connected 5461-10922
b5ec036ae9e83565236b4a3aa177998ea8c590ed 127.0.0.1:7001@17001 myself,master - 0 1795964864000 1 connected 0-5460
vars currentEpoch 3 lastVoteEpoch 0
";

fn nid(s: &str) -> NodeId {
    s.parse().unwrap()
}

#[test]
fn reads_a_redis_file() {
    let state = load_nodes_conf(CONF, 42).unwrap().unwrap();
    assert_eq!(state.my_id(), nid("b5ec036ae9e83565236b4a3aa177998ea8c590ed"));
    assert_eq!(state.current_epoch(), 3);
    assert_eq!(state.nodes().len(), 4);
    let replica = &state.nodes()[0];
    assert_eq!(replica.primary, Some(state.my_id()));
    assert_eq!(replica.config_epoch, 0, "a replica's epoch is its primary's");
    assert_eq!(replica.pong_received, 42, "times become the load time");
    assert_eq!(replica.link, LinkState::Disconnected, "links start down");
    assert_eq!(state.slot_ranges_of(&nid("2a19757e2635226367fe3c70ba24c26a256c9a82")), vec![(10923, 16383)]);
    // Written back, only the times and links differ.
    let again = render_nodes_conf(&state);
    assert!(again.contains("5abb2e4efce7bb8563b3792b0b916b9cac4b9066 127.0.0.1:7004@17004 slave b5ec036ae9e83565236b4a3aa177998ea8c590ed 0 42 1 disconnected\n"));
    assert!(again.ends_with("vars currentEpoch 3 lastVoteEpoch 0\n"));
    assert_eq!(load_nodes_conf("", 0), Ok(None));
}

#[test]
fn nodes_text_round_trips() {
    let state = ClusterState::from_nodes_text(CONF).unwrap();
    assert_eq!(render_nodes_conf(&state), CONF);
    let body: String = CONF.lines().take(4).map(|l| format!("{l}\n")).collect();
    assert_eq!(nodes_text(&ClusterState::from_nodes_text(&body).unwrap()), body);
}

#[test]
fn fresh_file_and_old_formats() {
    // What a new node writes before it knows its ports.
    let fresh = "b5ec036ae9e83565236b4a3aa177998ea8c590ed :0@0 myself,master - 0 0 0 connected\nvars currentEpoch 0 lastVoteEpoch 0\n";
    let state = load_nodes_conf(fresh, 1).unwrap().unwrap();
    assert_eq!((state.myself().port, state.myself().cport, state.myself().ip.as_str()), (0, 0, ""));
    assert_eq!(render_nodes_conf(&state), fresh);
    // No @cport: port + 10000. A hostname after a comma. IPv6 split at the last ':'.
    let text = format!(
        "{} ::1:7000 myself,master - 0 0 5 connected 1 3-4\n{} 10.0.0.1:7001@1,host.x master - 0 0 2 connected\n",
        "a".repeat(40),
        "b".repeat(40)
    );
    let state = ClusterState::from_nodes_text(&text).unwrap();
    let me = state.myself();
    assert_eq!((me.ip.as_str(), me.port, me.cport), ("::1", 7000, 17000));
    assert_eq!(state.slot_ranges_of(&me.id), vec![(1, 1), (3, 4)]);
    assert_eq!(state.nodes()[1].hostname(), Some("host.x"));
    assert_eq!(state.nodes()[1].cport, 1);
    assert_eq!(state.current_epoch(), 5, "at least the greatest config epoch");
    // Blank lines are skipped; unknown vars ignored; flags case-insensitive; noflags.
    let text = format!(
        "\n{} 1.1.1.1:1@2 MYSELF,Master - 0 0 0 connected\n\nvars foo 1 currentEpoch 9\n{} 1.1.1.1:3@4 noflags - 0 0 0 disconnected\n",
        "a".repeat(40),
        "c".repeat(40)
    );
    let state = ClusterState::from_nodes_text(&text).unwrap();
    assert_eq!(state.current_epoch(), 9);
    assert!(state.nodes()[1].flags.is_empty_for_test());
}

trait EmptyForTest {
    fn is_empty_for_test(&self) -> bool;
}
impl EmptyForTest for NodeFlags {
    fn is_empty_for_test(&self) -> bool {
        *self == NodeFlags::empty()
    }
}

#[test]
fn open_slots_belong_to_myself() {
    let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
    // Written on another line than myself's, and naming a node not listed yet.
    let text = format!(
        "{b} 1.1.1.1:2@3 master - 0 0 2 connected 100-200 [5->-{c}]\n{a} 1.1.1.1:1@2 myself,master - 0 0 1 connected 0-99 [150-<-{b}]\n"
    );
    let state = ClusterState::from_nodes_text(&text).unwrap();
    assert_eq!(state.migrating_to(5), Some(&nid(&c)));
    assert_eq!(state.importing_from(150), Some(&nid(&b)));
    assert!(state.node(&nid(&b)).unwrap().migrating.is_empty());
    // The node only mentioned is created blank, after the listed ones.
    assert_eq!(state.nodes().len(), 3);
    assert_eq!(state.nodes()[2].id, nid(&c));
    assert_eq!(
        nodes_text(&state).lines().nth(1).unwrap(),
        format!("{a} 1.1.1.1:1@2 myself,master - 0 0 1 connected 0-99 [5->-{c}] [150-<-{b}]")
    );
}

#[test]
fn order_is_the_texts_even_when_a_primary_comes_later() {
    let (a, b, m) = ("a".repeat(40), "b".repeat(40), "m".repeat(40));
    let text = format!(
        "{a} 1.1.1.1:1@2 slave {m} 0 0 0 connected\n{b} 1.1.1.1:3@4 master - 0 0 0 connected\n{m} 1.1.1.1:5@6 myself,master - 0 0 1 connected 0-16383\n"
    );
    let state = ClusterState::from_nodes_text(&text).unwrap();
    assert_eq!(
        nodes_text(&state),
        text.replace(&format!("{a} 1.1.1.1:1@2 slave {m} 0 0 0"), &format!("{a} 1.1.1.1:1@2 slave {m} 0 0 1"))
    );
}

#[test]
fn first_owner_of_a_slot_keeps_it() {
    let (a, b) = ("a".repeat(40), "b".repeat(40));
    let text = format!(
        "{a} 1.1.1.1:1@2 myself,master - 0 0 1 connected 0-10\n{b} 1.1.1.1:3@4 master - 0 0 2 connected 5-20 30-25\n"
    );
    let state = ClusterState::from_nodes_text(&text).unwrap();
    assert_eq!(state.slot_ranges_of(&nid(&a)), vec![(0, 10)]);
    assert_eq!(state.slot_ranges_of(&nid(&b)), vec![(11, 20)], "a reversed range adds nothing");
}

#[test]
fn corrupt_files() {
    let a = "a".repeat(40);
    let good = format!("{a} 1.1.1.1:1@2 myself,master - 0 0 1 connected");
    let cases = [
        (format!("{good}\n{a} x"), 2, "fewer than 8 fields"),
        ("x 1.1.1.1:1@2 myself,master - 0 0 1 connected".to_string(), 1, "bad node id"),
        (format!("{a} 1.1.1.1 myself,master - 0 0 1 connected"), 1, "address without ':'"),
        (format!("{a} 1.1.1.1:1@2 myself,boss - 0 0 1 connected"), 1, "unknown flag"),
        (format!("{good}\n{good}"), 2, "two myself nodes"),
        (format!("{a} 1.1.1.1:1@2 master - 0 0 1 connected"), 0, "no myself node"),
        (format!("{good} 16384"), 1, "slot out of range"),
        (format!("{good} 1-16384"), 1, "slot out of range"),
        (format!("{good} [5"), 1, "open slot without '-'"),
        (format!("{good} [5-"), 1, "open slot without a node"),
        (format!("{good} [5->-{a}"), 1, "open slot without ']'"),
        (format!("{good} [5->-abc]"), 1, "bad node id"),
        (format!("{good} [99999->-{a}]"), 1, "slot out of range"),
        (format!("{a} 1.1.1.1:70000@2 myself,master - 0 0 1 connected"), 1, "port out of range"),
        (format!("{a} 1.1.1.1:1@2 myself,slave xyz 0 0 1 connected"), 1, "bad node id"),
        (format!("{a} 1.1.1.1:1@2 myself,slave {a} 0 0 1 connected"), 1, "cannot replicate itself"),
        (format!("{good}\nvars currentEpoch"), 2, "vars without a value"),
        (format!("{good}\n   \n"), 2, "blank line"),
        (format!("{good} \"unbalanced"), 1, "unbalanced quotes"),
    ];
    for (text, line, reason) in cases {
        let e = ClusterState::from_nodes_text(&text).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.reason.contains(reason), "{text:?}: {e}");
        assert!(load_nodes_conf(&text, 0).is_err());
    }
    assert!(NodesParseError { line: 0, reason: "x".into() }.to_string().contains("corrupted"));
}

#[test]
fn lenient_numbers_like_c() {
    assert_eq!(c_u64(b"12abc"), 12);
    assert_eq!(c_u64(b"abc"), 0);
    assert_eq!(c_u64(b"  7"), 7);
    assert_eq!(c_u64(b"99999999999999999999999"), u64::MAX);
    assert_eq!(c_u64(b"-1"), u64::MAX);
    let a = "a".repeat(40);
    let state =
        ClusterState::from_nodes_text(&format!("{a} 1.1.1.1:1x@2y myself,master - 5ms 0 3e connected 1z\n")).unwrap();
    assert_eq!((state.myself().port, state.myself().cport, state.myself().ping_sent), (1, 2, 5));
    assert_eq!(state.myself().config_epoch, 3);
    assert_eq!(state.slot_ranges_of(&state.my_id()), vec![(1, 1)]);
}

/// Seeded mutations of valid texts: parsing never panics, and whatever parses renders and
/// parses again to the same state.
#[test]
fn mutated_texts_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let alphabet = b" ,:@-[]<>{}\"\\\n\r\t0123456789abcdefxyzMYSELFmasterslavefail?";
    for _ in 0..3000 {
        let mut bytes = CONF.as_bytes().to_vec();
        for _ in 0..rng.gen_range(1..6) {
            let at = rng.gen_range(0..bytes.len());
            match rng.gen_range(0..3) {
                0 => bytes[at] = alphabet[rng.gen_range(0..alphabet.len())],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, alphabet[rng.gen_range(0..alphabet.len())]),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(state) = ClusterState::from_nodes_text(&text) {
            let rendered = render_nodes_conf(&state);
            let again = ClusterState::from_nodes_text(&rendered).unwrap_or_else(|e| panic!("{e}\n{rendered}"));
            assert_eq!(render_nodes_conf(&again), rendered);
        }
        let _ = load_nodes_conf(&text, 1);
    }
    // Random bytes too.
    for _ in 0..2000 {
        let len = rng.gen_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
        let _ = ClusterState::from_nodes_text(&String::from_utf8_lossy(&bytes));
    }
}
