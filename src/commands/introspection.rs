//! COMMAND and its subcommands, generated from the command table.

use super::args::{self, is};
use super::connection::help_reply;
use super::dispatch::resolve;
use super::table::{self, CommandSpec, Flags};
use super::{errors, Ctx};
use crate::glob::{self, Case};
use bytes::Bytes;
use ferrocache_protocol::Reply;

const INTRO: Flags = Flags::LOADING.or(Flags::STALE);

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("command", -1, command)
    .flags(INTRO)
    .doc("server", "2.8.13", "Returns detailed information about all commands.", "")
    .acl(&["slow", "connection"])
    .subcommands(COMMAND_SUBCOMMANDS)];

static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("count", 2, command_count)
        .flags(INTRO)
        .parent("command")
        .doc("server", "2.8.13", "Returns a count of commands.", "")
        .acl(&["slow", "connection"]),
    CommandSpec::new("info", -2, command_info)
        .flags(INTRO)
        .parent("command")
        .doc(
            "server",
            "2.8.13",
            "Returns information about one, multiple or all commands.",
            "[command-name [command-name ...]]",
        )
        .acl(&["slow", "connection"]),
    CommandSpec::new("docs", -2, command_docs)
        .flags(INTRO)
        .parent("command")
        .doc(
            "server",
            "7.0.0",
            "Returns documentary information about one, multiple or all commands.",
            "[command-name [command-name ...]]",
        )
        .acl(&["slow", "connection"]),
    CommandSpec::new("list", -2, command_list)
        .flags(INTRO)
        .parent("command")
        .doc(
            "server",
            "7.0.0",
            "Returns a list of command names.",
            "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]",
        )
        .acl(&["slow", "connection"]),
    CommandSpec::new("getkeysandflags", -4, command_getkeysandflags)
        .flags(INTRO)
        .parent("command")
        .doc(
            "server",
            "7.0.0",
            "Extracts the key names and access flags for an arbitrary command.",
            "command [arg [arg ...]]",
        )
        .acl(&["slow", "connection"]),
    CommandSpec::new("getkeys", -4, command_getkeys)
        .flags(INTRO)
        .parent("command")
        .doc("server", "2.8.13", "Extracts the key names from an arbitrary command.", "command [arg [arg ...]]")
        .acl(&["slow", "connection"]),
    CommandSpec::new("help", 2, command_help)
        .flags(INTRO)
        .parent("command")
        .doc("server", "5.0.0", "Returns helpful text about the different subcommands.", "")
        .acl(&["slow", "connection"]),
];

fn simple_set(items: impl IntoIterator<Item = String>) -> Reply {
    Reply::Set(items.into_iter().map(|s| Reply::Simple(s.into())).collect())
}

fn bulk_str(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// One COMMAND INFO entry, in Redis 7.0's ten-element shape.
fn info_entry(spec: &CommandSpec) -> Reply {
    let mut key_specs = Vec::new();
    if spec.first_key > 0 {
        let flags = if spec.is_write() { vec!["RW", "update"] } else { vec!["RO", "access"] };
        let kv = |k: &str, v: Reply| (bulk_str(k), v);
        key_specs.push(Reply::Map(vec![
            kv("flags", simple_set(flags.into_iter().map(String::from))),
            kv(
                "begin_search",
                Reply::Map(vec![
                    kv("type", bulk_str("index")),
                    kv("spec", Reply::Map(vec![kv("index", Reply::Integer(spec.first_key as i64))])),
                ]),
            ),
            kv(
                "find_keys",
                Reply::Map(vec![
                    kv("type", bulk_str("range")),
                    kv(
                        "spec",
                        Reply::Map(vec![
                            kv(
                                "lastkey",
                                Reply::Integer(if spec.last_key < 0 {
                                    spec.last_key as i64
                                } else {
                                    (spec.last_key - spec.first_key) as i64
                                }),
                            ),
                            kv("keystep", Reply::Integer(spec.step as i64)),
                            kv("limit", Reply::Integer(0)),
                        ]),
                    ),
                ]),
            ),
        ]));
    }
    Reply::Array(vec![
        bulk_str(&spec.full_name()),
        Reply::Integer(spec.arity as i64),
        simple_set(spec.flags.names().into_iter().map(String::from)),
        Reply::Integer(spec.first_key as i64),
        Reply::Integer(spec.last_key as i64),
        Reply::Integer(spec.step as i64),
        simple_set(spec.acl.iter().map(|c| format!("@{c}"))),
        Reply::Set(vec![]),
        Reply::Array(key_specs),
        Reply::Array(spec.subcommands.iter().map(info_entry).collect()),
    ])
}

/// One COMMAND DOCS entry: summary, since, group, complexity, arguments, subcommands.
fn docs_entry(spec: &CommandSpec) -> Reply {
    let kv = |k: &str, v: Reply| (bulk_str(k), v);
    let mut fields = vec![
        kv("summary", bulk_str(spec.summary)),
        kv("since", bulk_str(spec.since)),
        kv("group", bulk_str(spec.group)),
    ];
    let arguments = super::docs::arguments(spec.syntax);
    if !arguments.is_empty() {
        fields.push(kv("arguments", Reply::Array(arguments)));
    }
    if !spec.subcommands.is_empty() {
        fields.push(kv(
            "subcommands",
            Reply::Map(spec.subcommands.iter().map(|s| (bulk_str(&s.full_name()), docs_entry(s))).collect()),
        ));
    }
    Reply::Map(fields)
}

/// `COMMAND`: every command's info.
fn command(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    debug_assert_eq!(args.len(), 1);
    Reply::Array(table::all().map(info_entry).collect())
}

fn command_count(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(table::all().count() as i64)
}

/// Resolves `name` or `container|sub`.
fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    let s = std::str::from_utf8(name).ok()?;
    match s.split_once('|') {
        Some((parent, sub)) => table::lookup_sub(table::lookup(parent.as_bytes())?, sub.as_bytes()),
        None => table::lookup(name),
    }
}

fn command_info(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return Reply::Array(table::all().map(info_entry).collect());
    }
    Reply::Array(args[2..].iter().map(|n| find(n).map_or(Reply::Null, info_entry)).collect())
}

fn command_docs(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let specs: Vec<&CommandSpec> =
        if args.len() == 2 { table::all().collect() } else { args[2..].iter().filter_map(|n| find(n)).collect() };
    Reply::Map(specs.into_iter().map(|s| (bulk_str(&s.full_name()), docs_entry(s))).collect())
}

/// `COMMAND LIST [FILTERBY MODULE m|ACLCAT c|PATTERN p]`
fn command_list(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let names = || table::all().flat_map(|s| std::iter::once(s).chain(s.subcommands.iter()));
    let keep: Box<dyn Fn(&CommandSpec) -> bool> = match args.len() {
        2 => Box::new(|_| true),
        5 if is(&args[2], "filterby") => {
            let v = args[4].clone();
            if is(&args[3], "module") {
                Box::new(|_| false)
            } else if is(&args[3], "aclcat") {
                let cat = args::lossy(&v).to_ascii_lowercase();
                Box::new(move |s| s.acl.iter().any(|c| *c == cat))
            } else if is(&args[3], "pattern") {
                Box::new(move |s| glob::matches(&v, s.full_name().as_bytes(), Case::Insensitive))
            } else {
                return Reply::err(errors::SYNTAX);
            }
        }
        _ => return Reply::err(errors::SYNTAX),
    };
    Reply::Array(names().filter(|s| keep(s)).map(|s| bulk_str(&s.full_name())).collect())
}

/// The keys of a full command line, checked the way `getKeysSubCommandImpl` checks it.
fn keys_of(args: &[Bytes]) -> Result<(&'static CommandSpec, Vec<usize>), Reply> {
    let cmd_args = &args[2..];
    let spec = resolve(cmd_args).map_err(|_| Reply::err("ERR Invalid command specified"))?;
    if spec.first_key == 0 {
        return Err(Reply::err("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(cmd_args.len()) {
        return Err(Reply::err("ERR Invalid number of arguments specified for command"));
    }
    let keys: Vec<usize> = spec.keys_of(cmd_args).into_iter().map(|i| i + 2).collect();
    if keys.is_empty() {
        return Err(Reply::err("ERR Invalid arguments specified for command"));
    }
    Ok((spec, keys))
}

/// `COMMAND GETKEYS command arg [arg …]`
fn command_getkeys(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match keys_of(args) {
        Ok((_, keys)) => Reply::Array(keys.into_iter().map(|i| Reply::Bulk(args[i].clone())).collect()),
        Err(e) => e,
    }
}

/// `COMMAND GETKEYSANDFLAGS command arg [arg …]`: each key with its key-spec flags.
fn command_getkeysandflags(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match keys_of(args) {
        Ok((spec, keys)) => {
            let flags = if spec.is_write() { ["RW", "update"] } else { ["RO", "access"] };
            Reply::Array(
                keys.into_iter()
                    .map(|i| {
                        let flags = simple_set(flags.iter().map(|f| f.to_string()));
                        Reply::Array(vec![Reply::Bulk(args[i].clone()), flags])
                    })
                    .collect(),
            )
        }
        Err(e) => e,
    }
}

fn command_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "command",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    )
}
