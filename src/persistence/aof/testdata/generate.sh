#!/usr/bin/env bash
# Regenerates the AOF fixtures next to this script from a real redis-server 7.0 (7.0.15 made the
# committed ones):
#
#     bash src/persistence/aof/testdata/generate.sh      # needs redis-server and redis-cli on PATH
#
# Each fixture is a file redis-server wrote into its appendonlydir, copied unchanged:
#
#   start.manifest           appendonly yes on an empty dir: the base and incr files created at start-up
#   rewrite_gc.manifest      after one BGREWRITEAOF (history files deleted at once, the default)
#   rewrite_twice_no_gc.manifest   aof-disable-auto-gc yes, after two BGREWRITEAOFs: history kept
#   no_preamble.manifest     aof-use-rdb-preamble no, after one BGREWRITEAOF: a ".base.aof" base
#   no_preamble.base.aof     that base: the rewrite's commands (one key in db 0, one in db 5)
#   odd_name.manifest        appendfilename 'my "odd" file<TAB>é.aof': names quoted as sdscatrepr does
#   commands.incr.aof        an incr file: aof-timestamp-enabled yes (two #TS: lines), SELECT, MULTI/EXEC,
#                            SET ... EXAT (propagated as PXAT), EXPIREAT (as PEXPIREAT), INCR, DEL
#
# Absolute expiry times keep the commands the same from run to run; only the #TS: values and
# ctime-like fields change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# start_redis <name> [redis-server args...]: a server in $work/<name>, reachable by unix socket.
start_redis() {
    local name=$1
    shift
    mkdir -p "$work/$name"
    redis-server --port 0 --unixsocket "$work/$name/sock" --dir "$work/$name" --save "" \
        --appendonly yes --daemonize yes --logfile "$work/$name/log" --pidfile "$work/$name/pid" "$@"
    for _ in $(seq 100); do
        [ -S "$work/$name/sock" ] && redis-cli -s "$work/$name/sock" ping >/dev/null 2>&1 && return
        sleep 0.05
    done
    echo "redis-server $name did not start" >&2
    cat "$work/$name/log" >&2
    exit 1
}

cli() {
    local name=$1
    shift
    redis-cli -s "$work/$name/sock" "$@" >/dev/null
}

rewrite() {
    local name=$1
    cli "$name" BGREWRITEAOF
    for _ in $(seq 200); do
        if redis-cli -s "$work/$name/sock" INFO persistence | grep -q '^aof_rewrite_in_progress:0'; then
            if ! redis-cli -s "$work/$name/sock" INFO persistence | grep -q '^aof_rewrite_scheduled:1'; then
                return
            fi
        fi
        sleep 0.05
    done
    echo "rewrite did not finish in $name" >&2
    exit 1
}

stop() {
    cli "$1" SHUTDOWN NOSAVE || true
}

start_redis start
cp "$work/start/appendonlydir/appendonly.aof.manifest" "$here/start.manifest"
stop start

start_redis gc
cli gc SET k v
rewrite gc
cp "$work/gc/appendonlydir/appendonly.aof.manifest" "$here/rewrite_gc.manifest"
stop gc

start_redis nogc --aof-disable-auto-gc yes
cli nogc SET k v
rewrite nogc
cli nogc SET k2 v2
rewrite nogc
cp "$work/nogc/appendonlydir/appendonly.aof.manifest" "$here/rewrite_twice_no_gc.manifest"
stop nogc

start_redis plain --aof-use-rdb-preamble no
cli plain SET k v EXAT 4102444800
cli plain -n 5 SET other 12345
rewrite plain
cp "$work/plain/appendonlydir/appendonly.aof.manifest" "$here/no_preamble.manifest"
cp "$work/plain/appendonlydir/appendonly.aof.2.base.aof" "$here/no_preamble.base.aof"
stop plain

start_redis odd --appendfilename "$(printf 'my "odd" file\t\xc3\xa9.aof')"
cp "$work/odd/appendonlydir/"*.manifest "$here/odd_name.manifest"
stop odd

start_redis cmds --aof-timestamp-enabled yes
printf '%s\r\n' 'SET greeting hello' 'INCR counter' 'INCR counter' | redis-cli -s "$work/cmds/sock" >/dev/null
sleep 1.1 # a second #TS: line
printf '%s\r\n' 'SET session token EXAT 4102444800' 'EXPIREAT greeting 4102444801' 'SELECT 3' \
    'SET "bin\x00key" "\xff\r\n"' 'MULTI' 'INCR counter' 'SET x ""' 'GET x' 'EXEC' 'DEL x' |
    redis-cli -s "$work/cmds/sock" >/dev/null
cp "$work/cmds/appendonlydir/appendonly.aof.1.incr.aof" "$here/commands.incr.aof"
stop cmds

echo "fixtures written to $here"
