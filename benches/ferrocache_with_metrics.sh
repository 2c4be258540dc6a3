#!/bin/sh
# Ferrocache with its HTTP port on, scraped as Prometheus would scrape it, for measuring what
# metrics cost: `python3 benches/compare.py --ferrocache benches/ferrocache_with_metrics.sh`
# against a run with the plain binary (docs/PERFORMANCE.md, "Metrics on the request path").
#
# Runs $FERROCACHE_BIN (default: target/release/ferrocache) with the arguments it is given
# plus `--http-port <a free port>`, and fetches /metrics with curl every $SCRAPE_INTERVAL
# seconds (default 1, harsher than Prometheus's usual 15) for as long as the server runs.
# The server keeps this script's pid (exec), so compare.py's CPU accounting and SIGTERM
# reach it.
set -eu
here=$(dirname "$0")
bin=${FERROCACHE_BIN:-$here/../target/release/ferrocache}
interval=${SCRAPE_INTERVAL:-1}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server=$$
(
    while kill -0 "$server" 2>/dev/null; do
        sleep "$interval"
        curl -s -m 5 -o /dev/null "http://127.0.0.1:$port/metrics" || true
    done
) </dev/null >/dev/null 2>&1 &
exec "$bin" "$@" --http-port "$port"
