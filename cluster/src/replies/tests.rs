//! Reply shapes. Expected texts are copies of redis-server 7.0.15 output (the integration test
//! `tests/vs_redis_cluster.rs` compares live ones byte for byte).

use super::*;
use crate::node::NodeFlags;
use crate::state::tests::{cluster, id};
use crate::state::{ClusterCommand, ClusterConfig, SetSlotAction};
use ferrocache_protocol::encode;

fn enc(reply: &Reply, proto: u8) -> String {
    let mut out = bytes::BytesMut::new();
    encode(reply, proto, &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn fresh_node_line() {
    // `redis-cli -p 7001 cluster nodes` on a fresh redis-server 7.0.15.
    let me = NodeId::parse(b"b5ec036ae9e83565236b4a3aa177998ea8c590ed").unwrap();
    let state = ClusterState::new(Node::new(me, "", 7001, 17001));
    assert_eq!(
        nodes_text(&state),
        "b5ec036ae9e83565236b4a3aa177998ea8c590ed :7001@17001 myself,master - 0 0 0 connected\n"
    );
    assert_eq!(enc(&nodes_reply(&state), 3), format!("=89\r\ntxt:{}\r\n", nodes_text(&state)));
    assert_eq!(enc(&myid_reply(&state), 2), "$40\r\nb5ec036ae9e83565236b4a3aa177998ea8c590ed\r\n");
}

#[test]
fn lines() {
    let mut s = cluster();
    let (a, b, r) = (id('a'), id('b'), id('r'));
    s.apply(&ClusterCommand::SetLink {
        node: b,
        link: LinkState::Connected,
        ping_sent: 0,
        pong_received: 1795964827116,
    })
    .unwrap();
    s.apply(&ClusterCommand::SetSlot { node: a, slot: 6000, action: SetSlotAction::Importing(b.to_string()) }).unwrap();
    s.apply(&ClusterCommand::SetSlot { node: a, slot: 100, action: SetSlotAction::Migrating(b.to_string()) }).unwrap();
    s.apply(&ClusterCommand::DelSlots { node: a, ranges: vec![(5000, 5000), (5002, 5002)] }).unwrap();
    let lines: Vec<String> = s.nodes().iter().map(|n| node_line(&s, n)).collect();
    assert_eq!(
        lines[0],
        format!(
            "{a} 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-4999 5001 5003-5460 [100->-{b}] [6000-<-{b}]"
        )
    );
    assert_eq!(lines[1], format!("{b} 127.0.0.1:7002@17002 master - 0 1795964827116 2 connected 5461-10922"));
    // A replica shows its primary's epoch; others' open slots are not shown.
    assert_eq!(lines[3], format!("{r} 127.0.0.1:7004@17004 slave {a} 0 0 1 disconnected"));
    s.apply(&ClusterCommand::SetAddress { node: b, ip: "::1".into(), port: 1, cport: 2, hostname: "h.example".into() })
        .unwrap();
    s.apply(&ClusterCommand::SetFailState { node: b, pfail: true, fail: true }).unwrap();
    s.apply(&ClusterCommand::SetNoFailover { node: b, on: true }).unwrap();
    assert!(
        node_line(&s, s.node(&b).unwrap()).starts_with(&format!("{b} ::1:1@2,h.example master,fail?,fail,nofailover "))
    );
    let mut bare = Node::new(id('z'), "1.2.3.4", 1, 2);
    bare.flags = NodeFlags::HANDSHAKE | NodeFlags::NOADDR;
    s.apply(&ClusterCommand::AddNode { node: Box::new(bare) }).unwrap();
    assert!(node_line(&s, s.node(&id('z')).unwrap()).contains(" handshake,noaddr - "));
    let mut none = Node::new(id('y'), "", 0, 0);
    none.flags = NodeFlags::empty();
    s.apply(&ClusterCommand::AddNode { node: Box::new(none) }).unwrap();
    assert!(node_line(&s, s.node(&id('y')).unwrap()).contains(" noflags - "));
    assert_eq!(nodes_text(&s).lines().count(), 6);
    assert!(nodes_text(&s).ends_with('\n'));
}

#[test]
fn slots() {
    let mut s = cluster();
    let (a, r) = (id('a'), id('r'));
    let row_a = |s: &ClusterState| enc(&slots_reply(s), 2).split("*3\r\n:0\r\n").nth(1).unwrap().to_string();
    // The replica has no offset yet: left out.
    assert!(!row_a(&s).contains(r.as_str()));
    s.apply(&ClusterCommand::SetReplOffset { node: r, offset: 14 }).unwrap();
    let two = enc(&slots_reply(&s), 2);
    assert!(two.starts_with(&format!(
        "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:7001\r\n$40\r\n{a}\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:7004\r\n$40\r\n{r}\r\n*0\r\n"
    )));
    assert!(enc(&slots_reply(&s), 3).contains("%0\r\n"));
    s.apply(&ClusterCommand::SetFailState { node: r, pfail: false, fail: true }).unwrap();
    assert!(!row_a(&s).contains(r.as_str()));
    // Holes split the rows; hostname goes to the metadata map.
    s.apply(&ClusterCommand::DelSlots { node: a, ranges: vec![(10, 10)] }).unwrap();
    s.apply(&ClusterCommand::SetAddress {
        node: a,
        ip: "127.0.0.1".into(),
        port: 7001,
        cport: 17001,
        hostname: "ha".into(),
    })
    .unwrap();
    let two = enc(&slots_reply(&s), 2);
    assert!(two.starts_with("*4\r\n*3\r\n:0\r\n:9\r\n*4\r\n$9\r\n127.0.0.1\r\n:7001\r\n"));
    assert!(two.contains("*2\r\n$8\r\nhostname\r\n$2\r\nha\r\n"));
    s.set_config(ClusterConfig { preferred_endpoint: EndpointType::Hostname, ..*s.config() });
    let two = enc(&slots_reply(&s), 2);
    assert!(two.contains("$2\r\nha\r\n:7001\r\n"));
    assert!(two.contains("*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"));
    assert!(two.contains("$1\r\n?\r\n:7002\r\n"));
    s.set_config(ClusterConfig { preferred_endpoint: EndpointType::Unknown, ..*s.config() });
    assert!(enc(&slots_reply(&s), 2).contains("*4\r\n$-1\r\n:7002\r\n"));
}

#[test]
fn shards() {
    let mut s = cluster();
    let r = id('r');
    let text = enc(&shards_reply(&s), 2);
    assert!(
        text.starts_with("*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n")
    );
    assert!(text.contains(
        "$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$7\r\nloading\r\n"
    ));
    s.apply(&ClusterCommand::SetReplOffset { node: r, offset: 5 }).unwrap();
    assert!(enc(&shards_reply(&s), 2).contains(":5\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"));
    s.apply(&ClusterCommand::SetFailState { node: r, pfail: false, fail: true }).unwrap();
    assert!(enc(&shards_reply(&s), 2).contains(":5\r\n$6\r\nhealth\r\n$4\r\nfail\r\n"));
    assert!(enc(&shards_reply(&s), 3).starts_with("*3\r\n%2\r\n"));
    // A slotless master is a shard with no slots; port 0 is left out.
    let mut fresh = ClusterState::new(Node::new(id('a'), "", 0, 0));
    fresh.apply(&ClusterCommand::SetHealth { health: ClusterHealth::Ok }).unwrap();
    assert_eq!(
        enc(&shards_reply(&fresh), 2),
        format!(
            "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*12\r\n$2\r\nid\r\n$40\r\n{}\r\n$2\r\nip\r\n$0\r\n\r\n$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n",
            id('a')
        )
    );
}

#[test]
fn info() {
    let mut s = cluster();
    let mut stats = MessageStats::default();
    stats.sent[MessageType::Ping as usize] = 11;
    stats.sent[MessageType::Meet as usize] = 1;
    stats.received[MessageType::Pong as usize] = 12;
    s.apply(&ClusterCommand::SetFailState { node: id('b'), pfail: true, fail: false }).unwrap();
    s.apply(&ClusterCommand::SetFailState { node: id('c'), pfail: false, fail: true }).unwrap();
    s.set_myself(id('r')).unwrap();
    assert_eq!(
        info_text(&s, &stats),
        "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:5461\r\ncluster_slots_pfail:5462\r\n\
         cluster_slots_fail:5461\r\ncluster_known_nodes:4\r\ncluster_size:3\r\ncluster_current_epoch:3\r\n\
         cluster_my_epoch:1\r\ncluster_stats_messages_ping_sent:11\r\ncluster_stats_messages_meet_sent:1\r\n\
         cluster_stats_messages_sent:12\r\ncluster_stats_messages_pong_received:12\r\n\
         cluster_stats_messages_received:12\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n"
    );
    assert!(matches!(info_reply(&s, &stats), Reply::Verbatim("txt", _)));
    for t in MessageType::ALL {
        assert_eq!(MessageType::from_name(t.name()), Some(t));
    }
    assert_eq!(MessageType::from_name("nope"), None);
}

#[test]
fn small_replies() {
    let s = cluster();
    let (a, r) = (id('a'), id('r'));
    assert_eq!(enc(&keyslot_reply(b"foo"), 2), ":12182\r\n");
    assert_eq!(enc(&count_failure_reports_reply(&s, a.as_bytes()).unwrap(), 2), ":0\r\n");
    assert_eq!(count_failure_reports_reply(&s, b"x").unwrap_err().reply_text(), "ERR Unknown node x");
    assert_eq!(
        enc(&replicas_reply(&s, a.as_bytes()).unwrap(), 2),
        format!("*1\r\n${}\r\n{}\r\n", 127, node_line(&s, s.node(&r).unwrap()))
    );
    assert_eq!(replicas_reply(&s, r.as_bytes()).unwrap_err().reply_text(), "ERR The specified node is not a master");
    assert_eq!(replicas_reply(&s, b"x").unwrap_err().reply_text(), "ERR Unknown node x");
    let help = enc(&help_reply(), 2);
    assert!(help.starts_with("*56\r\n+CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"));
    assert!(help.ends_with("+HELP\r\n+    Prints this help.\r\n"));
    let links = links_reply(&[LinkInfo {
        direction: LinkDirection::To,
        node: a,
        create_time: 1795964863470,
        events: "r".into(),
        send_buffer_allocated: 0,
        send_buffer_used: 0,
    }]);
    assert_eq!(
        enc(&links, 2),
        format!(
            "*1\r\n*12\r\n$9\r\ndirection\r\n$2\r\nto\r\n$4\r\nnode\r\n$40\r\n{a}\r\n$11\r\ncreate-time\r\n:1795964863470\r\n$6\r\nevents\r\n$1\r\nr\r\n$21\r\nsend-buffer-allocated\r\n:0\r\n$16\r\nsend-buffer-used\r\n:0\r\n"
        )
    );
}
