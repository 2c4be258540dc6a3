//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT, CLIENT.

use super::args::{self, is};
use super::table::{CommandSpec, Flags};
use super::{errors, Ctx};
use crate::client::ReplyMode;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::sync::atomic::Ordering;

/// The Redis version we are compatible with, reported where clients look for it.
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

const CONN: Flags = Flags::NOSCRIPT.or(Flags::LOADING).or(Flags::STALE).or(Flags::FAST);

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, ping)
        .flags(Flags::FAST)
        .doc("connection", "1.0.0", "Returns the server's liveliness response.", "[message]")
        .acl(&["fast", "connection"]),
    CommandSpec::new("echo", 2, echo)
        .flags(Flags::FAST.or(Flags::LOADING).or(Flags::STALE))
        .doc("connection", "1.0.0", "Returns the given string.", "message")
        .acl(&["fast", "connection"]),
    CommandSpec::new("quit", -1, quit)
        .flags(
            Flags::ALLOW_BUSY
                .or(Flags::NOSCRIPT)
                .or(Flags::LOADING)
                .or(Flags::STALE)
                .or(Flags::FAST)
                .or(Flags::NO_AUTH),
        )
        .doc("connection", "1.0.0", "Closes the connection.", "")
        .acl(&["fast", "connection"]),
    CommandSpec::new("reset", 1, reset)
        .flags(CONN.or(Flags::NO_AUTH).or(Flags::ALLOW_BUSY))
        .doc("connection", "6.2.0", "Resets the connection.", "")
        .acl(&["fast", "connection"]),
    CommandSpec::new("hello", -1, hello)
        .flags(CONN.or(Flags::NO_AUTH).or(Flags::ALLOW_BUSY))
        .doc(
            "connection",
            "6.0.0",
            "Handshakes with the Redis server.",
            "[protover [AUTH username password] [SETNAME clientname]]",
        )
        .acl(&["fast", "connection"]),
    CommandSpec::new("auth", -2, auth)
        .flags(CONN.or(Flags::NO_AUTH).or(Flags::ALLOW_BUSY))
        .doc("connection", "1.0.0", "Authenticates the connection.", "[username] password")
        .acl(&["fast", "connection"]),
    CommandSpec::new("select", 2, select)
        .flags(Flags::LOADING.or(Flags::STALE).or(Flags::FAST))
        .doc("connection", "1.0.0", "Changes the selected database.", "index")
        .acl(&["fast", "connection"]),
    CommandSpec::new("client", -2, container_help)
        .doc("connection", "2.4.0", "A container for client connection commands.", "")
        .acl(&["slow"])
        .subcommands(CLIENT_SUBCOMMANDS),
];

const CLIENT_FLAGS: Flags = Flags::NOSCRIPT.or(Flags::LOADING).or(Flags::STALE);

static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("id", 2, client_id)
        .flags(CLIENT_FLAGS)
        .parent("client")
        .doc("connection", "5.0.0", "Returns the unique client ID of the connection.", "")
        .acl(&["slow", "connection"]),
    CommandSpec::new("setname", 3, client_setname)
        .flags(CLIENT_FLAGS)
        .parent("client")
        .doc("connection", "2.6.9", "Sets the connection name.", "connection-name")
        .acl(&["slow", "connection"]),
    CommandSpec::new("getname", 2, client_getname)
        .flags(CLIENT_FLAGS)
        .parent("client")
        .doc("connection", "2.6.9", "Returns the name of the connection.", "")
        .acl(&["slow", "connection"]),
    CommandSpec::new("setinfo", 4, client_setinfo)
        .flags(CLIENT_FLAGS)
        .parent("client")
        .doc("connection", "7.2.0", "Sets information specific to the client or connection.", "LIB-NAME libname|LIB-VER libver")
        .acl(&["slow", "connection"]),
    CommandSpec::new("list", -2, client_list)
        .flags(CLIENT_FLAGS.or(Flags::ADMIN))
        .parent("client")
        .doc("connection", "2.4.0", "Lists open connections.", "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]")
        .acl(&["admin", "slow", "dangerous", "connection"]),
    CommandSpec::new("info", 2, client_info)
        .flags(CLIENT_FLAGS)
        .parent("client")
        .doc("connection", "6.2.0", "Returns information about the connection.", "")
        .acl(&["slow", "connection"]),
    CommandSpec::new("kill", -3, client_kill)
        .flags(CLIENT_FLAGS.or(Flags::ADMIN))
        .parent("client")
        .doc(
            "connection",
            "2.4.0",
            "Terminates open connections.",
            "ip:port|[ID client-id] [TYPE NORMAL|MASTER|SLAVE|REPLICA|PUBSUB] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME YES|NO]",
        )
        .acl(&["admin", "slow", "dangerous", "connection"]),
    CommandSpec::new("reply", 3, client_reply)
        .flags(CLIENT_FLAGS)
        .parent("client")
        .doc("connection", "3.2.0", "Instructs the server whether to reply to commands.", "ON|OFF|SKIP")
        .acl(&["slow", "connection"]),
    CommandSpec::new("unblock", -3, client_unblock)
        .flags(CLIENT_FLAGS.or(Flags::ADMIN))
        .parent("client")
        .doc("connection", "5.0.0", "Unblock a client blocked in a blocking command from a different connection.", "client-id [TIMEOUT|ERROR]")
        .acl(&["admin", "slow", "dangerous", "connection"]),
    CommandSpec::new("no-evict", 3, client_no_evict)
        .flags(CLIENT_FLAGS.or(Flags::ADMIN))
        .parent("client")
        .doc("connection", "7.0.0", "Sets the client eviction mode of the connection.", "ON|OFF")
        .acl(&["admin", "slow", "dangerous", "connection"]),
    CommandSpec::new("help", 2, client_help)
        .flags(Flags::LOADING.or(Flags::STALE))
        .parent("client")
        .doc("connection", "5.0.0", "Returns helpful text about the different subcommands.", "")
        .acl(&["slow", "connection"]),
];

/// The handler of a container command called without a subcommand never runs (arity -2
/// catches it); this exists so the table entry has a handler.
pub fn container_help(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::error(errors::arity(&String::from_utf8_lossy(&args[0])))
}

/// `PING [message]`
fn ping(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::simple("PONG"),
        2 => Reply::Bulk(args[1].clone()),
        _ => Reply::error(errors::arity("ping")),
    }
}

/// `ECHO message`
fn echo(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}

/// `QUIT`: reply OK, then the connection closes once it is written.
fn quit(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.client.close_after_reply = true;
    Reply::OK
}

/// `RESET`: back to a fresh connection's state (`clearClientConnectionState`).
fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let c = &mut *ctx.client;
    c.multi = None;
    c.unwatch_all();
    c.select(0);
    c.resp = 2;
    c.reply_mode = ReplyMode::On;
    c.authenticated = !ctx.shared.auth_required();
    // The connection leaves the monitor hub when it sees the flag cleared.
    c.monitor = false;
    c.info.meta.lock().name = None;
    Reply::simple("RESET")
}

/// Checks a password for `user` against `requirepass` (the default user is the only one).
fn check_password(ctx: &Ctx, user: &[u8], pass: &[u8]) -> bool {
    if !user.eq_ignore_ascii_case(b"default") && user != b"default" {
        return false;
    }
    let config = ctx.shared.config.read();
    config.requirepass.is_empty() || config.requirepass.as_bytes() == pass
}

/// `AUTH [username] password`
fn auth(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::err(errors::SYNTAX);
    }
    let (user, pass): (&[u8], &[u8]) = if args.len() == 2 {
        if !ctx.shared.auth_required() {
            return Reply::err(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            );
        }
        (b"default", &args[1])
    } else {
        (&args[1], &args[2])
    };
    if user != b"default" || !check_password(ctx, user, pass) {
        return Reply::err(errors::WRONGPASS);
    }
    ctx.client.authenticated = true;
    Reply::OK
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
fn hello(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut ver = ctx.client.resp as i64;
    let mut next = 1;
    if args.len() >= 2 {
        ver = match args::int(&args[1]) {
            Ok(v) => v,
            Err(_) => return Reply::err("ERR Protocol version is not an integer or out of range"),
        };
        next = 2;
        if !(2..=3).contains(&ver) {
            return Reply::err(errors::NOPROTO);
        }
    }
    let mut creds = None;
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "auth") && more >= 2 {
            creds = Some((args[j + 1].clone(), args[j + 2].clone()));
            j += 2;
        } else if is(&args[j], "setname") && more >= 1 {
            if let Err(e) = validate_name(&args[j + 1]) {
                return e;
            }
            // Redis sets the name as soon as it parses the option, even if HELLO fails later.
            let name = &args[j + 1];
            ctx.client.info.meta.lock().name = (!name.is_empty()).then(|| name.clone());
            j += 1;
        } else {
            return Reply::error(format!("ERR Syntax error in HELLO option '{}'", args::lossy(&args[j])));
        }
        j += 1;
    }
    if let Some((user, pass)) = creds {
        if user != b"default"[..] || !check_password(ctx, &user, &pass) {
            return Reply::err(errors::WRONGPASS);
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return Reply::err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    ctx.client.resp = ver as u8;
    let kv = |k: &'static str, v: Reply| (Reply::bulk(Bytes::from_static(k.as_bytes())), v);
    Reply::Map(vec![
        kv("server", Reply::bulk(Bytes::from_static(b"redis"))),
        kv("version", Reply::bulk(Bytes::from_static(REDIS_COMPAT_VERSION.as_bytes()))),
        kv("proto", Reply::Integer(ver)),
        kv("id", Reply::Integer(ctx.client.id as i64)),
        kv("mode", Reply::bulk(Bytes::from_static(mode_name(ctx.shared.config.read().cluster_enabled).as_bytes()))),
        kv("role", Reply::bulk(Bytes::from_static(if ctx.shared.repl.is_replica() { b"replica" } else { b"master" }))),
        kv("modules", Reply::Array(vec![])),
    ])
}

/// `SELECT index`
fn select(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // `getIntFromObjectOrReply`: an integer that does not fit an int has its own message.
    let id = match args::int(&args[1]) {
        Ok(id) if id >= i32::MIN as i64 && id <= i32::MAX as i64 => id,
        Ok(_) => return Reply::err(errors::INT_RANGE),
        Err(e) => return e,
    };
    if id != 0 && ctx.shared.cluster().is_some() {
        return Reply::err("ERR SELECT is not allowed in cluster mode");
    }
    if id < 0 || id as usize >= ctx.shared.store.databases() {
        return Reply::err(errors::DB_INDEX);
    }
    ctx.client.select(id as usize);
    Reply::OK
}

/// Client names and SETINFO values: printable ASCII without spaces (`validateClientName`).
fn valid_attr(v: &[u8]) -> bool {
    v.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn validate_name(name: &[u8]) -> Result<(), Reply> {
    if valid_attr(name) {
        Ok(())
    } else {
        Err(Reply::err("ERR Client names cannot contain spaces, newlines or special characters."))
    }
}

fn client_id(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(ctx.client.id as i64)
}

fn client_setname(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(e) = validate_name(&args[2]) {
        return e;
    }
    ctx.client.info.meta.lock().name = (!args[2].is_empty()).then(|| args[2].clone());
    Reply::OK
}

fn client_getname(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match &ctx.client.info.meta.lock().name {
        Some(n) => Reply::Bulk(n.clone()),
        None => Reply::Null,
    }
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value` (Redis 7.2; redis-py and redis-rs send it).
fn client_setinfo(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let attr = args::lossy(&args[2]).to_ascii_lowercase();
    if attr != "lib-name" && attr != "lib-ver" {
        return Reply::error(format!("ERR Unrecognized option '{}'", args::lossy(&args[2])));
    }
    if !valid_attr(&args[3]) {
        return Reply::error(format!("ERR {attr} cannot contain spaces, newlines or special characters."));
    }
    let value = (!args[3].is_empty()).then(|| args[3].clone());
    let mut meta = ctx.client.info.meta.lock();
    if attr == "lib-name" {
        meta.lib_name = value;
    } else {
        meta.lib_ver = value;
    }
    Reply::OK
}

fn client_text(text: String) -> Reply {
    Reply::Verbatim("txt", Bytes::from(text))
}

/// The caller's own line shows the command running now (`cmd=client|list`), as in Redis;
/// other connections publish theirs after each batch.
fn publish_own_command(ctx: &Ctx) {
    ctx.client.info.meta.lock().last_cmd = ctx.client.last_cmd.map(|spec| (spec.name, spec.parent));
}

/// The running command's `argv-mem`: its arguments' lengths, as Redis's `argv_len_sum`.
fn argv_mem(args: &[Bytes]) -> usize {
    args.iter().map(Bytes::len).sum()
}

/// `CLIENT LIST [TYPE type] [ID id …]`
fn client_list(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "type") && i + 1 < args.len() {
            let t = args::lossy(&args[i + 1]).to_ascii_lowercase();
            match t.as_str() {
                "normal" => {}
                "master" | "replica" | "slave" | "pubsub" => ids = Some(vec![]),
                _ => return Reply::error(format!("ERR Unknown client type '{}'", args::lossy(&args[i + 1]))),
            }
            i += 2;
        } else if is(&args[i], "id") && i + 1 < args.len() {
            let mut v = ids.take().unwrap_or_default();
            for a in &args[i + 1..] {
                match args::int(a) {
                    Ok(n) if n > 0 => v.push(n as u64),
                    _ => return Reply::err("ERR Invalid client ID"),
                }
            }
            ids = Some(v);
            i = args.len();
        } else {
            return Reply::err(errors::SYNTAX);
        }
    }
    publish_own_command(ctx);
    let mut out = String::new();
    for c in ctx.shared.clients.snapshot() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        out.push_str(&if c.id == ctx.client.id { c.list_line_running(argv_mem(args)) } else { c.list_line() });
        out.push('\n');
    }
    client_text(out)
}

/// `CLIENT INFO`
fn client_info(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    publish_own_command(ctx);
    client_text(format!("{}\n", ctx.client.info.list_line_running(argv_mem(args))))
}

/// `CLIENT KILL ip:port` or `CLIENT KILL <filter> <value> …`
fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let clients = ctx.shared.clients.snapshot();
    if args.len() == 3 {
        let addr = args::lossy(&args[2]);
        return match clients.iter().find(|c| c.peer_id() == addr) {
            Some(c) => {
                kill(ctx, c);
                Reply::OK
            }
            None => Reply::err("ERR No such client"),
        };
    }
    let (mut id, mut addr, mut laddr, mut skipme) = (None, None, None, true);
    // TYPE: replicas are the connections flagged `S`; the link to our primary and pub/sub
    // clients are not in the registry, so those types match nobody.
    let mut kind: Option<bool> = None;
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Reply::err(errors::SYNTAX);
        }
        let v = &args[i + 1];
        match args::lossy(&args[i]).to_ascii_lowercase().as_str() {
            "id" => match args::int(v) {
                Ok(n) if n > 0 => id = Some(n as u64),
                _ => return Reply::err("ERR client-id should be greater than 0"),
            },
            "addr" => addr = Some(args::lossy(v)),
            "laddr" => laddr = Some(args::lossy(v)),
            "type" => match args::lossy(v).to_ascii_lowercase().as_str() {
                "normal" => kind = Some(false),
                "replica" | "slave" => kind = Some(true),
                "master" | "pubsub" => id = Some(0),
                _ => return Reply::error(format!("ERR Unknown client type '{}'", args::lossy(v))),
            },
            "user" => {
                if v != "default" {
                    return Reply::error(format!("ERR No such user '{}'", args::lossy(v)));
                }
            }
            "skipme" => {
                if is(v, "yes") {
                    skipme = true
                } else if is(v, "no") {
                    skipme = false
                } else {
                    return Reply::err(errors::SYNTAX);
                }
            }
            _ => return Reply::err(errors::SYNTAX),
        }
        i += 2;
    }
    let mut killed = 0;
    for c in &clients {
        if id.is_some_and(|id| id != c.id)
            || addr.as_ref().is_some_and(|a| *a != c.peer_id())
            || laddr.as_ref().is_some_and(|a| *a != c.local_id())
            || (skipme && c.id == ctx.client.id)
            || kind.is_some_and(|replica| replica != (c.meta.lock().flags == "S"))
        {
            continue;
        }
        kill(ctx, c);
        killed += 1;
    }
    Reply::Integer(killed)
}

fn kill(ctx: &mut Ctx, target: &crate::client::ClientInfo) {
    if target.id == ctx.client.id {
        // Killing ourselves: the reply still goes out first, as in Redis (CLOSE_AFTER_REPLY).
        ctx.client.close_after_reply = true;
    } else {
        target.kill();
    }
}

/// `CLIENT REPLY ON|OFF|SKIP`
fn client_reply(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let silent = Reply::Raw(Bytes::new());
    if is(&args[2], "on") {
        ctx.client.reply_mode = ReplyMode::On;
        Reply::OK
    } else if is(&args[2], "off") {
        ctx.client.reply_mode = ReplyMode::Off;
        silent
    } else if is(&args[2], "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
        silent
    } else {
        Reply::err(errors::SYNTAX)
    }
}

/// `CLIENT NO-EVICT ON|OFF`
/// `CLIENT UNBLOCK client-id [TIMEOUT|ERROR]`: 1 if the client was blocked on keys and is
/// now answered (its command's timeout reply, or `-UNBLOCKED …`), else 0. The reason is
/// checked before the id, as Redis does.
fn client_unblock(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return Reply::error(errors::subcommand_syntax(&args[1], "client"));
    }
    let error = match args.get(3) {
        None => false,
        Some(r) if is(r, "timeout") => false,
        Some(r) if is(r, "error") => true,
        Some(_) => return Reply::err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let id = match super::args::int(&args[2]) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let unblocked = u64::try_from(id).is_ok_and(|id| super::blocking::unblock(ctx.shared, id, error));
    Reply::Integer(i64::from(unblocked))
}

fn client_no_evict(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let on = if is(&args[2], "on") {
        true
    } else if is(&args[2], "off") {
        false
    } else {
        return Reply::err(errors::SYNTAX);
    };
    ctx.client.info.no_evict.store(on, Ordering::Relaxed);
    Reply::OK
}

/// Renders a HELP reply: the first line, the subcommand lines, and Redis's closing HELP line.
pub fn help_reply(cmd: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::Simple(
        format!("{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", cmd.to_ascii_uppercase()).into(),
    )];
    out.extend(lines.iter().map(|l| Reply::Simple(l.to_string().into())));
    out.push(Reply::simple("HELP"));
    out.push(Reply::simple("    Prints this help."));
    Reply::Array(out)
}

fn client_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "client",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    )
}

/// `standalone` or `cluster`, as HELLO's `mode` and INFO's `redis_mode` say.
pub fn mode_name(cluster_enabled: bool) -> &'static str {
    if cluster_enabled {
        "cluster"
    } else {
        "standalone"
    }
}
