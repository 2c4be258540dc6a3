#!/usr/bin/env bash
# The compose cluster against the real Docker engine, from an empty engine (issue 17):
# builds the base image (debootstrap, no registry) and the image (`local` target, the binary
# cargo builds here), `up` → cluster check passes → 10,000 keys written through MOVED, each
# acknowledged by WAIT 1 → `docker kill` a primary → its replica is promoted and every
# acknowledged key reads back → `compose restart` → the killed node rejoins as a replica, the
# keys are all there → `docker network disconnect` a primary → it refuses writes, its replica
# is promoted → reconnect → it rejoins as a replica, the keys are all there → a rolling restart
# of all six nodes (replicas restarted as they are, primaries first handed over to their
# replica by CLUSTER FAILOVER) with a client writing throughout that sees only redirects,
# TRYAGAIN or connection errors and loses no acknowledged write. Always `down -v` at the end,
# also on failure or timeout.
#
#   docker/test-cluster.sh            (root or the docker group; python3 with redis-py;
#                                      redis-cli; FERROCACHE_BIN=path skips cargo build)
#
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything bounded: the whole run, and each wait inside it.
LIMIT="${DOCKER_TEST_TIMEOUT:-1200}"
if [[ -z "${DOCKER_TEST_BOUNDED:-}" ]]; then
    export DOCKER_TEST_BOUNDED=1
    exec timeout --foreground --kill-after=30 "$LIMIT" "$0" "$@"
fi

start=$SECONDS
phase() { echo "== [$((SECONDS - start))s] $*"; }

if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    compose=(docker-compose)
fi
export COMPOSE_PROJECT_NAME="ferrocache-test-$$"
export FERROCACHE_IMAGE="ferrocache:test"
unset FERROCACHE_ANNOUNCE_IP
# The first 172.30.X.0/24 no Docker network uses: Docker 20.10 can leave a removed project's
# network behind ("has active endpoints", moby/moby#17217; seen here once after the partition
# phase), and its subnet would make the next `up` fail ("Pool overlaps").
# (One line per network: joined, as `read` takes one line.)
read -ra used <<<"$(docker network ls -q | xargs docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' | tr '\n' ' ')"
FERROCACHE_SUBNET=$(python3 -c '
import ipaddress, sys
used = [ipaddress.ip_network(n) for n in sys.argv[1:] if ":" not in n]
print(next(f"172.30.{x}" for x in range(256)
           if not any(ipaddress.ip_network(f"172.30.{x}.0/24").overlaps(u) for u in used)))
' "${used[@]}")
export FERROCACHE_SUBNET
net=$FERROCACHE_SUBNET
work=$(mktemp -d "${TMPDIR:-/tmp}/ferrocache-docker-test.XXXXXX")

cleanup() {
    status=$?
    trap - EXIT INT TERM
    if [[ $status -ne 0 ]]; then
        echo "== FAILED (exit $status); the nodes' last log lines:"
        timeout 60 "${compose[@]}" logs --no-color --tail=15 2>&1 | tail -n 200 || true
    fi
    phase "compose down -v"
    timeout 120 "${compose[@]}" down -v --remove-orphans 2>&1 | grep -iv '^\(stopping\|removing\)' || true
    # `down` once left the network behind (seen after the partition phase's disconnect and
    # connect): remove whatever of this project is left, so that the next run's fixed subnet
    # does not overlap it.
    local label="label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
    docker ps -aq --filter "$label" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter "$label" | xargs -r docker network rm >/dev/null 2>&1 || true
    docker volume ls -q --filter "$label" | xargs -r docker volume rm >/dev/null 2>&1 || true
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT
trap 'exit 143' INT TERM

# Polls a command (no fixed sleeps as synchronisation) until it succeeds or SECS pass.
wait_for() {
    local secs=$1 what=$2
    shift 2
    local until=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= until)); then
            echo "timed out after ${secs}s waiting for: $what" >&2
            return 1
        fi
        sleep 0.5
    done
}

# The nodes' addresses are $net.1N:700(N-1); ferrocache-N is that node's service.
service_of() { echo "ferrocache-$((${1#*:} - 6999))"; }
role_of() { redis-cli -h "${1%:*}" -p "${1#*:}" role | head -n 1; }
is_master() { [[ "$(role_of "$1")" == master ]]; }
is_replica() { [[ "$(role_of "$1")" == slave ]]; }
all_ok() {
    redis-cli --cluster check "$1" >"$work/check" 2>&1 || return 1
    grep -q '\[OK\] All 16384 slots covered' "$work/check" || return 1
    # Six nodes known and none of them failing, from the seed's point of view, and every
    # node's own cluster_state ok (a restarted primary waits before it takes writes again).
    [[ $(redis-cli -h "${1%:*}" -p "${1#*:}" cluster nodes | grep -vc fail) == 6 ]] || return 1
    local n
    for n in 1 2 3 4 5 6; do
        redis-cli -h "$net.1$n" -p "$((6999 + n))" cluster info | grep -q '^cluster_state:ok' || return 1
    done
}

phase "image (docker/build-local.sh: base image, then --target local)"
docker/build-local.sh

phase "compose up -d"
timeout 180 "${compose[@]}" up -d --no-build
create=$("${compose[@]}" ps -q cluster-create)
code=$(timeout 120 docker wait "$create")
"${compose[@]}" logs --no-color cluster-create | tail -n 3
[[ "$code" == 0 ]] || { echo "cluster-create exited $code"; exit 1; }

phase "cluster check"
# Every node's own cluster_state too: the check passing at 7000 does not mean that the
# others have seen the cluster converge (one answered CLUSTERDOWN to redis-benchmark then).
wait_for 60 "cluster check with six healthy nodes" all_ok 127.0.0.1:7000
redis-cli --cluster check 127.0.0.1:7000 | head -n 3

phase "redis-benchmark --cluster from the host"
timeout 120 redis-benchmark --cluster -p 7000 -t set,get -n 20000 -r 10000 -q --csv

phase "write 10,000 keys through MOVED with WAIT 1"
timeout 300 python3 docker/cluster_client.py write 127.0.0.1:7000 10000 "$work/keys.json"

phase "docker kill the primary at $net.11:7000 (or the one it replicates)"
victim=$net.11:7000
if ! is_master "$victim"; then
    victim=$(redis-cli -h "$net.11" -p 7000 role | sed -n 2p):$(redis-cli -h "$net.11" -p 7000 role | sed -n 3p)
fi
replica=$(python3 docker/cluster_client.py replica-of "$victim")
service=$(service_of "$victim")
echo "killing $service ($victim); its replica is $replica"
docker kill "$("${compose[@]}" ps -q "$service")" >/dev/null
killed_at=$SECONDS
wait_for 60 "$replica to become a primary" is_master "$replica"
echo "replica promoted $((SECONDS - killed_at))s after the kill (cluster-node-timeout 5000 ms)"
state_ok() { redis-cli -h "${replica%:*}" -p "${replica#*:}" cluster info | grep -q '^cluster_state:ok'; }
wait_for 60 "cluster_state:ok at $replica" state_ok

phase "read every acknowledged key"
seed=$net.12:7001
[[ "$victim" == "$seed" ]] && seed=$net.13:7002
timeout 300 python3 docker/cluster_client.py read "$seed" "$work/keys.json"

phase "compose restart (all six, the killed one included)"
# The node services only: `restart` would rerun the one-shot cluster-create as well.
timeout 180 "${compose[@]}" restart ferrocache-{1..6} >/dev/null
wait_for 90 "$victim to rejoin as a replica" is_replica "$victim"
wait_for 90 "cluster check with six healthy nodes" all_ok 127.0.0.1:7000
timeout 300 python3 docker/cluster_client.py read 127.0.0.1:7000 "$work/keys.json"

phase "partition: docker network disconnect a primary"
# A primary other than the promoted replica and its old primary: the address that now serves
# the slot of a key read from a third node.
part=""
for addr in "$net".1{1..6}; do
    candidate="$addr:$((6999 + ${addr##*.} - 10))"
    if [[ "$candidate" != "$replica" ]] && is_master "$candidate"; then
        part=$candidate
        break
    fi
done
[[ -n "$part" ]] || { echo "no primary found to partition"; exit 1; }
part_replica=$(python3 docker/cluster_client.py replica-of "$part")
probe=$(python3 docker/cluster_client.py key-for "$part")
part_service=$(service_of "$part")
part_container=$("${compose[@]}" ps -q "$part_service")
network=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$part_container")
echo "disconnecting $part_service ($part) from $network; its replica is $part_replica; probe key $probe"
docker network disconnect "$network" "$part_container"
cut_at=$SECONDS
# Inside the cut-off container (docker exec needs no network): writes refused once the node
# sees it cannot reach the majority, within the node timeout plus gossip.
refuses() { docker exec "$part_container" redis-cli -p "${part#*:}" set "$probe" x | grep -q '^CLUSTERDOWN'; }
wait_for 60 "$part to refuse writes" refuses
echo "$part refuses writes $((SECONDS - cut_at))s after the cut: $(docker exec "$part_container" redis-cli -p "${part#*:}" set "$probe" x)"
wait_for 60 "$part_replica to become a primary" is_master "$part_replica"
echo "majority side promoted $part_replica $((SECONDS - cut_at))s after the cut"

phase "heal: docker network connect"
docker network connect --ip "${part%:*}" "$network" "$part_container"
healed_at=$SECONDS
wait_for 90 "$part to rejoin as a replica" is_replica "$part"
echo "$part is a replica $((SECONDS - healed_at))s after the heal"
wait_for 90 "cluster check with six healthy nodes" all_ok 127.0.0.1:7000
timeout 300 python3 docker/cluster_client.py read 127.0.0.1:7000 "$work/keys.json"
# The probe write was refused, so the old primary's copy must not have kept it either.
[[ -z "$(redis-cli -c -p 7000 get "$probe")" ]] || { echo "refused write $probe is visible"; exit 1; }

phase "rolling restart of the six nodes, a client writing throughout"
seeds=$(echo "$net".1{1..6} | awk '{for (i = 1; i <= NF; i++) printf "%s%s:%d", (i > 1 ? "," : ""), $i, 6999 + i}')
python3 docker/cluster_client.py writer "$seeds" "$work/stop" "$work/roll.json" >"$work/writer.log" 2>&1 &
writer=$!
synced() {
    [[ "$(role_of "$1")" == slave ]] || return 1
    redis-cli -h "${1%:*}" -p "${1#*:}" info replication | grep -q '^master_link_status:up'
}
for n in 1 2 3 4 5 6; do
    node="$net.1$n:$((6999 + n))"
    if is_master "$node"; then
        peer=$(python3 docker/cluster_client.py replica-of "$node")
        echo "$node: primary; CLUSTER FAILOVER at its replica $peer"
        redis-cli -h "${peer%:*}" -p "${peer#*:}" cluster failover >/dev/null
        wait_for 60 "$peer to take over from $node" is_master "$peer"
        wait_for 60 "$node to become a replica" is_replica "$node"
    fi
    echo "$node: docker restart"
    timeout 60 docker restart -t 30 "$("${compose[@]}" ps -q "$(service_of "$node")")" >/dev/null
    wait_for 90 "$node to be back in sync" synced "$node"
    wait_for 90 "cluster check with six healthy nodes" all_ok "127.0.0.1:$((6999 + (n % 6) + 1))"
    kill -0 "$writer" 2>/dev/null || { cat "$work/writer.log"; echo "the writer stopped"; exit 1; }
done
touch "$work/stop"
wait "$writer" || { cat "$work/writer.log"; exit 1; }
cat "$work/writer.log"
timeout 300 python3 docker/cluster_client.py read 127.0.0.1:7000 "$work/roll.json"
timeout 300 python3 docker/cluster_client.py read 127.0.0.1:7000 "$work/keys.json"

phase "PASS in $((SECONDS - start))s"
