//! Keyspace commands (being filled in): DEL, EXISTS.

use super::table::{CommandSpec, Flags};
use super::Ctx;
use bytes::Bytes;
use ferrocache_protocol::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, del)
        .flags(Flags::WRITE)
        .keys(1, -1, 1)
        .doc("generic", "1.0.0", "Deletes one or more keys.", "key [key ...]")
        .acl(&["keyspace", "write", "slow"]),
    CommandSpec::new("exists", -2, exists)
        .flags(Flags::READONLY.or(Flags::FAST))
        .keys(1, -1, 1)
        .doc("generic", "1.0.0", "Determines whether one or more keys exist.", "key [key ...]")
        .acl(&["keyspace", "read", "fast"]),
];

fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let n = args[1..].iter().filter(|k| ctx.ks.remove(db, k).is_some()).count();
    Reply::Integer(n as i64)
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let n = args[1..].iter().filter(|k| ctx.ks.exists(db, k)).count();
    Reply::Integer(n as i64)
}
