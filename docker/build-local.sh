#!/usr/bin/env bash
# Builds the image `ferrocache:latest` on a machine without an image registry (ours: nothing
# can be pulled): the base image from Debian's packages (docker/build-base.sh, once), then the
# Dockerfile's `local` target around a binary built here. After it, `docker compose up -d`
# finds the image and starts the cluster without building (README "Run a cluster").
#
#   docker/build-local.sh                      # cargo build --release, then the image
#   FERROCACHE_BIN=path docker/build-local.sh  # an already built binary (CI: the debug one)
#   FERROCACHE_IMAGE=ferrocache:test docker/build-local.sh
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${FERROCACHE_IMAGE:-ferrocache:latest}"

timeout 600 docker/build-base.sh

if [[ -z "${FERROCACHE_BIN:-}" ]]; then
    cargo build --release --bin ferrocache
    target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    FERROCACHE_BIN="$target/release/ferrocache"
fi

# A context of just what the `local` target copies, wherever CARGO_TARGET_DIR points.
ctx=$(mktemp -d "${TMPDIR:-/tmp}/ferrocache-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/target/release" "$ctx/docker"
cp Dockerfile "$ctx/"
cp docker/entrypoint.sh docker/ferrocache.conf "$ctx/docker/"
# Without the release profile's debug line tables (73 MB → 14 MB); symbols stay for backtraces.
strip --strip-debug -o "$ctx/target/release/ferrocache" "$FERROCACHE_BIN"
# The legacy builder: Docker Engine 20.10 without buildx, as here (see the Dockerfile).
DOCKER_BUILDKIT=0 timeout 300 docker build -q --target local \
    --build-arg BASE_IMAGE=ferrocache-base:bookworm -t "$IMAGE" "$ctx" >/dev/null
docker images "$IMAGE"
