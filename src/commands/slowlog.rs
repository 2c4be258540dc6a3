//! SLOWLOG GET / LEN / RESET / HELP over the server's [`crate::slowlog::SlowLog`].

use super::connection::help_reply;
use super::table::{CommandSpec, Flags};
use super::Ctx;
use crate::store::parse_i64_strict;
use bytes::Bytes;
use ferrocache_protocol::Reply;

const ADMIN: Flags = Flags::ADMIN.or(Flags::LOADING).or(Flags::STALE);

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("slowlog", -2, super::connection::container_help)
    .doc("server", "2.2.12", "A container for slow log commands", "")
    .acl(&["slow"])
    .subcommands(SUBCOMMANDS)];

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", -2, get)
        .flags(ADMIN)
        .parent("slowlog")
        .doc("server", "2.2.12", "Get the slow log's entries", "[count]")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("len", 2, len)
        .flags(ADMIN)
        .parent("slowlog")
        .doc("server", "2.2.12", "Get the slow log's length", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("reset", 2, reset)
        .flags(ADMIN)
        .parent("slowlog")
        .doc("server", "2.2.12", "Clear all entries from the slow log", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("help", 2, help)
        .flags(Flags::LOADING.or(Flags::STALE))
        .parent("slowlog")
        .doc("server", "6.2.0", "Show helpful text about the different subcommands", "")
        .acl(&["slow"]),
];

/// `SLOWLOG GET [count]`: the newest `count` entries (10 by default, -1 for all), each
/// `[id, unix time, microseconds, [args…], "ip:port", client name]`.
fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::error(super::errors::subcommand_syntax(&args[1], "slowlog"));
    }
    let count = match args.get(2).map(|a| parse_i64_strict(a)) {
        None => Some(10),
        Some(Some(-1)) => None,
        Some(Some(n)) if n >= 0 => Some(n as usize),
        // `getRangeLongFromObjectOrReply` gives its message for a non-number too.
        Some(_) => return Reply::err("ERR count should be greater than or equal to -1"),
    };
    let entries = ctx.shared.slowlog.newest(count);
    Reply::Array(
        entries
            .into_iter()
            .map(|e| {
                Reply::Array(vec![
                    Reply::Integer(e.id as i64),
                    Reply::Integer(e.time as i64),
                    Reply::Integer(e.duration_us as i64),
                    Reply::Array(e.args.into_iter().map(Reply::Bulk).collect()),
                    Reply::Bulk(Bytes::from(e.peer)),
                    Reply::Bulk(e.client_name),
                ])
            })
            .collect(),
    )
}

fn len(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(ctx.shared.slowlog.len() as i64)
}

fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.shared.slowlog.reset();
    Reply::OK
}

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "slowlog",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}
