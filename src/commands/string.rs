//! String commands (being filled in): GET, SET.

use super::table::{CommandSpec, Flags};
use super::Ctx;
use crate::store::Value;
use bytes::Bytes;
use ferrocache_protocol::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, get)
        .flags(Flags::READONLY.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("string", "1.0.0", "Returns the string value of a key.", "key")
        .acl(&["read", "string", "fast"]),
    CommandSpec::new("set", -3, set)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, 1, 1)
        .doc(
            "string",
            "1.0.0",
            "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
            "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        )
        .acl(&["write", "string", "slow"]),
];

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    match ctx.ks.get(db, &args[1]) {
        None => Reply::Null,
        Some(e) => match e.value.as_bytes() {
            Some(b) => Reply::Bulk(b),
            None => Reply::err(super::errors::WRONGTYPE),
        },
    }
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    ctx.ks.insert(db, &args[1], Value::from_set(&args[2]), 0);
    Reply::OK
}
