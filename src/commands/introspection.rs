//! COMMAND and its subcommands, generated from the command table.

use super::args::{self, is};
use super::connection::help_reply;
use super::dispatch::resolve;
use super::table::{self, CommandSpec, Flags};
use super::{errors, meta, Ctx};
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

fn bulk_str(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// Redis's COMMAND INFO entry of `full` (`get`, `config|get`), listing of its subcommands
/// only `subs`, the implemented ones, in that order.
fn info_entry(full: &str, subs: &[&str]) -> Reply {
    let Some(Reply::Array(mut fields)) = meta::get(full).map(|m| m.info.clone()) else {
        return Reply::Null;
    };
    if let Some(list) = fields.get_mut(9) {
        let entries = subs.iter().map(|s| info_entry(&format!("{full}|{s}"), &[])).collect();
        // Redis 7.0 replies a set here (an array in RESP2), as for the key specs.
        *list = match list {
            Reply::Set(_) => Reply::Set(entries),
            _ => Reply::Array(entries),
        };
    }
    Reply::Array(fields)
}

/// Redis's COMMAND DOCS entry of `full`, its `subcommands` narrowed as in [`info_entry`].
fn docs_entry(full: &str, subs: &[&str]) -> Reply {
    let Some(Reply::Map(mut fields)) = meta::get(full).map(|m| m.docs.clone()) else {
        return Reply::Map(vec![]);
    };
    fields.retain(|(k, _)| k.bulk_bytes() != Some(b"subcommands"));
    if !subs.is_empty() {
        let docs = subs.iter().map(|s| {
            let name = format!("{full}|{s}");
            (bulk_str(&name), docs_entry(&name, &[]))
        });
        fields.push((bulk_str("subcommands"), Reply::Map(docs.collect())));
    }
    Reply::Map(fields)
}

/// An implemented command or subcommand as COMMAND names it: its full name and the names of
/// its implemented subcommands.
struct Named {
    full: String,
    subs: Vec<&'static str>,
}

impl Named {
    fn top(spec: &CommandSpec) -> Named {
        Named { full: spec.name.to_string(), subs: spec.subcommand_names().collect() }
    }

    fn info(&self) -> Reply {
        info_entry(&self.full, &self.subs)
    }

    fn docs(&self) -> (Reply, Reply) {
        (bulk_str(&self.full), docs_entry(&self.full, &self.subs))
    }
}

/// Every implemented top-level command.
fn top_level() -> impl Iterator<Item = Named> {
    table::all().map(Named::top)
}

/// Resolves `name` or `container|sub` (any case) to an implemented command.
fn find(name: &[u8]) -> Option<Named> {
    let s = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    match s.split_once('|') {
        None => table::lookup(name).map(Named::top),
        Some((parent, sub)) => {
            let parent = table::lookup(parent.as_bytes())?;
            let sub = parent.subcommand_names().find(|n| *n == sub)?;
            Some(Named { full: format!("{}|{sub}", parent.name), subs: vec![] })
        }
    }
}

/// `COMMAND`: every command's info.
fn command(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    debug_assert_eq!(args.len(), 1);
    Reply::Array(top_level().map(|n| n.info()).collect())
}

fn command_count(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(table::all().count() as i64)
}

fn command_info(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return Reply::Array(top_level().map(|n| n.info()).collect());
    }
    Reply::Array(args[2..].iter().map(|n| find(n).map_or(Reply::Null, |n| n.info())).collect())
}

fn command_docs(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return Reply::Map(top_level().map(|n| n.docs()).collect());
    }
    Reply::Map(args[2..].iter().filter_map(|n| find(n)).map(|n| n.docs()).collect())
}

/// Every implemented command's full name, each container followed by its subcommands.
fn all_names() -> impl Iterator<Item = String> {
    table::all().flat_map(|s| {
        std::iter::once(s.name.to_string()).chain(s.subcommand_names().map(move |sub| format!("{}|{sub}", s.name)))
    })
}

/// Whether the command `full` is in the ACL category `cat` (any case, no `@`), by Redis's
/// categories for it (COMMAND INFO's seventh element).
fn in_acl_category(full: &str, cat: &str) -> bool {
    let cats = meta::get(full).and_then(|m| meta::array_at(&m.info, 6));
    let Some(Reply::Set(cats)) = cats else { return false };
    cats.iter().any(|c| meta::text(c).strip_prefix('@').is_some_and(|c| c.eq_ignore_ascii_case(cat)))
}

/// `COMMAND LIST [FILTERBY MODULE m|ACLCAT c|PATTERN p]`
fn command_list(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let keep: Box<dyn Fn(&str) -> bool> = match args.len() {
        2 => Box::new(|_| true),
        5 if is(&args[2], "filterby") => {
            let v = args[4].clone();
            if is(&args[3], "module") {
                Box::new(|_| false)
            } else if is(&args[3], "aclcat") {
                let cat = args::lossy(&v);
                Box::new(move |full| in_acl_category(full, &cat))
            } else if is(&args[3], "pattern") {
                Box::new(move |full| glob::matches(&v, full.as_bytes(), Case::Insensitive))
            } else {
                return Reply::err(errors::SYNTAX);
            }
        }
        _ => return Reply::err(errors::SYNTAX),
    };
    Reply::Array(all_names().filter(|n| keep(n)).map(|n| bulk_str(&n)).collect())
}

/// The key specs (COMMAND INFO's ninth element) of `full`.
fn key_specs(full: &str) -> &'static [Reply] {
    match meta::get(full).and_then(|m| meta::array_at(&m.info, 8)) {
        Some(Reply::Array(specs) | Reply::Set(specs)) => specs,
        _ => &[],
    }
}

fn has_flag(flags: &Reply, flag: &str) -> bool {
    matches!(flags, Reply::Set(fs) if fs.iter().any(|f| meta::text(f) == flag))
}

fn key_flags(flags: &[&'static str]) -> Reply {
    Reply::Set(flags.iter().map(|f| Reply::simple(f)).collect())
}

/// Redis's `getKeysUsingKeySpecs`: the position of each key in `args` (the command line,
/// name first) with its key spec's flags; `None` where Redis finds a spec invalid or
/// incomplete and falls back to the command's own key finder.
fn keys_by_specs(specs: &[Reply], args: &[Bytes]) -> Option<Vec<(usize, Reply)>> {
    let argc = args.len() as i64;
    let mut keys = Vec::new();
    for spec in specs {
        let flags = meta::field(spec, "flags")?;
        if has_flag(flags, "not_key") {
            continue;
        }
        let begin = meta::field(spec, "begin_search")?;
        let begin_spec = meta::field(begin, "spec")?;
        let mut first = match meta::text(meta::field(begin, "type")?) {
            "index" => meta::int(meta::field(begin_spec, "index")?),
            "keyword" => {
                let keyword = meta::text(meta::field(begin_spec, "keyword")?).as_bytes();
                let from = meta::int(meta::field(begin_spec, "startfrom")?);
                let (start, end) = if from > 0 { (from, argc - 1) } else { (argc + from, 1) };
                let mut found = 0;
                let mut i = start;
                while i != end && (1..argc).contains(&i) {
                    if args[i as usize].eq_ignore_ascii_case(keyword) {
                        found = i + 1;
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            _ => return None,
        };
        let find = meta::field(spec, "find_keys")?;
        let find_spec = meta::field(find, "spec")?;
        let (last, step) = match meta::text(meta::field(find, "type")?) {
            "range" => {
                let lastkey = meta::int(meta::field(find_spec, "lastkey")?);
                let limit = meta::int(meta::field(find_spec, "limit")?);
                let last = match (lastkey >= 0, limit) {
                    (true, _) => first + lastkey,
                    (false, 0) => argc + lastkey,
                    (false, limit) => first + ((argc - first) / limit + lastkey),
                };
                (last, meta::int(meta::field(find_spec, "keystep")?))
            }
            "keynum" => {
                let numkeys_at = first + meta::int(meta::field(find_spec, "keynumidx")?);
                let numkeys = args.get(numkeys_at as usize).and_then(|n| args::int(n).ok())?;
                if numkeys < 0 {
                    return None;
                }
                first += meta::int(meta::field(find_spec, "firstkey")?);
                (first + numkeys - 1, meta::int(meta::field(find_spec, "keystep")?))
            }
            _ => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        keys.extend((first..=last).step_by(step.max(1) as usize).map(|i| (i as usize, flags.clone())));
        if has_flag(flags, "incomplete") {
            return None;
        }
    }
    Some(keys)
}

/// The key finders Redis falls back to (`getkeys_proc`) for the commands we implement whose
/// specs do not give flags (SET's depend on GET) or all keys (MIGRATE … KEYS), as Redis
/// 7.0 writes them (`setGetKeys`, `migrateGetKeys`).
fn keys_by_command(spec: &CommandSpec, args: &[Bytes]) -> Vec<(usize, Reply)> {
    match spec.name {
        "set" => {
            let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            vec![(1, key_flags(if get { &["RW", "access", "update"] } else { &["OW", "update"] }))]
        }
        "migrate" => {
            let flags = key_flags(&["RW", "access", "delete"]);
            migrate_get_keys(args).into_iter().map(|i| (i, flags.clone())).collect()
        }
        // `sortGetKeys` (SORT_RO's "unknown" BY/GET spec leaves only its key).
        "sort" | "sort_ro" => spec
            .keys_of(args)
            .into_iter()
            .map(|i| (i, key_flags(if i == 1 { &["RO", "access"] } else { &["OW", "update"] })))
            .collect(),
        _ => vec![],
    }
}

/// `migrateGetKeys`: `key`, or what follows the first `KEYS` (scanning forward from the
/// options, skipping AUTH's and AUTH2's values); nothing if `key` is not empty then. Our own
/// finder (`migrate_keys`) follows the key spec instead, which routing needs.
fn migrate_get_keys(args: &[Bytes]) -> Vec<usize> {
    let mut i = 6;
    while i < args.len() {
        let arg = &args[i];
        if arg.eq_ignore_ascii_case(b"keys") {
            if !args[3].is_empty() {
                return vec![];
            }
            return (i + 1..args.len()).collect();
        }
        i += if arg.eq_ignore_ascii_case(b"auth") {
            2
        } else if arg.eq_ignore_ascii_case(b"auth2") {
            3
        } else {
            1
        };
    }
    vec![3]
}

/// Whether Redis has a key finder of its own (`getkeys_proc`) for this command.
fn has_key_finder(spec: &CommandSpec) -> bool {
    spec.parent.is_none() && matches!(spec.name, "set" | "migrate" | "sort")
}

/// The keys of a full command line with their flags, checked the way
/// `getKeysSubcommandImpl` checks it (`getKeysFromCommandWithSpecs`).
fn keys_of(args: &[Bytes]) -> Result<Vec<(Bytes, Reply)>, Reply> {
    let cmd_args = &args[2..];
    let invalid = || Reply::err("ERR Invalid command specified");
    let spec = resolve(cmd_args).map_err(|_| invalid())?;
    let full = match (spec.external_subcommands.is_empty(), cmd_args.get(1)) {
        (false, Some(sub)) => {
            let sub = spec.subcommand_names().find(|n| n.as_bytes().eq_ignore_ascii_case(sub)).ok_or_else(invalid)?;
            format!("{}|{sub}", spec.name)
        }
        _ => spec.full_name(),
    };
    let specs = key_specs(&full);
    let has_key_spec = specs.iter().any(|s| meta::field(s, "flags").is_some_and(|f| !has_flag(f, "not_key")));
    if !has_key_spec && !has_key_finder(spec) {
        return Err(Reply::err("ERR The command has no key arguments"));
    }
    let arity = meta::get(&full).and_then(|m| meta::array_at(&m.info, 1)).map_or(spec.arity as i64, meta::int);
    let argc = cmd_args.len() as i64;
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(Reply::err("ERR Invalid number of arguments specified for command"));
    }
    let variable_flags = specs.iter().any(|s| meta::field(s, "flags").is_some_and(|f| has_flag(f, "variable_flags")));
    let keys = match (has_key_spec && !variable_flags).then(|| keys_by_specs(specs, cmd_args)).flatten() {
        Some(keys) => keys,
        None => keys_by_command(spec, cmd_args),
    };
    if keys.is_empty() && !spec.flags.has(Flags::NO_MANDATORY_KEYS) {
        return Err(Reply::err("ERR Invalid arguments specified for command"));
    }
    Ok(keys.into_iter().map(|(i, flags)| (cmd_args[i].clone(), flags)).collect())
}

/// `COMMAND GETKEYS command arg [arg …]`
fn command_getkeys(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match keys_of(args) {
        Ok(keys) => Reply::Array(keys.into_iter().map(|(key, _)| Reply::Bulk(key)).collect()),
        Err(e) => e,
    }
}

/// `COMMAND GETKEYSANDFLAGS command arg [arg …]`: each key with its key-spec flags.
fn command_getkeysandflags(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match keys_of(args) {
        Ok(keys) => {
            Reply::Array(keys.into_iter().map(|(key, flags)| Reply::Array(vec![Reply::Bulk(key), flags])).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(reply: Option<&Reply>) -> Vec<String> {
        let mut out: Vec<String> = match reply {
            Some(Reply::Set(items)) | Some(Reply::Array(items)) => {
                items.iter().map(|i| meta::text(i).to_string()).collect()
            }
            _ => vec![],
        };
        out.sort();
        out
    }

    /// What the table says of one command against what Redis says of it: dispatch, key
    /// lookup and cluster routing use the table, COMMAND shows Redis's data, so they must
    /// not drift apart.
    fn check(full: &str, arity: i32, spec: Option<&CommandSpec>, problems: &mut Vec<String>) {
        let Some(m) = meta::get(full) else {
            problems.push(format!("{full}: not in redis-7.0-commands.resp"));
            return;
        };
        let info = |i| meta::array_at(&m.info, i);
        let mut differ = |what: &str, ours: String, redis: String| {
            if ours != redis {
                problems.push(format!("{full}: {what} is {ours}, Redis says {redis}"));
            }
        };
        differ("arity", arity.to_string(), info(1).map_or(0, meta::int).to_string());
        let Some(spec) = spec else { return };
        // A container whose handler parses its subcommands (CLUSTER) carries the flags they
        // need for dispatch; Redis's container has none of its own.
        if spec.external_subcommands.is_empty() {
            let mut flags: Vec<String> = spec.flags.names().into_iter().map(String::from).collect();
            flags.sort();
            differ("flags", format!("{flags:?}"), format!("{:?}", texts(info(2))));
        }
        let keys = (spec.first_key, spec.last_key, spec.step);
        let redis_keys = (info(3).map_or(0, meta::int), info(4).map_or(0, meta::int), info(5).map_or(0, meta::int));
        differ("first/last/step", format!("{keys:?}"), format!("{redis_keys:?}"));
        let mut acl: Vec<String> = spec.acl.iter().map(|c| format!("@{c}")).collect();
        acl.sort();
        differ("acl", format!("{acl:?}"), format!("{:?}", texts(info(6))));
        // Not the summary: the table's are Redis 7.2's wording, COMMAND DOCS serves 7.0's.
        for (what, ours) in [("group", spec.group), ("since", spec.since)] {
            differ(what, ours.to_string(), meta::field(&m.docs, what).map_or("", meta::text).to_string());
        }
    }

    #[test]
    fn table_agrees_with_redis_metadata() {
        let mut problems = vec![];
        for spec in table::all() {
            for s in std::iter::once(spec).chain(spec.subcommands) {
                check(&s.full_name(), s.arity, Some(s), &mut problems);
            }
            for (sub, arity) in spec.external_subcommands {
                check(&format!("{}|{sub}", spec.name), *arity, None, &mut problems);
            }
        }
        assert!(problems.is_empty(), "{} disagreements:\n{}", problems.len(), problems.join("\n"));
    }
}
