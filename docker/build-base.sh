#!/usr/bin/env bash
# Builds the runtime base image `ferrocache-base:bookworm` without any image registry: a minimal
# Debian bookworm root filesystem made by debootstrap from Debian's package repository, then
# `docker import`ed. The Dockerfile's `local` target uses it on machines that cannot pull
# debian:bookworm-slim (ours: no registry). Idempotent: does nothing when the image exists
# (pass --force to rebuild). Needs root (debootstrap) and a Debian package mirror.
#
#   docker/build-base.sh [--force]
#   MIRROR=http://deb.debian.org/debian IMAGE=ferrocache-base:bookworm docker/build-base.sh
set -euo pipefail

IMAGE="${IMAGE:-ferrocache-base:bookworm}"
SUITE=bookworm
# redis-tools: redis-cli for the HEALTHCHECK and the compose file's `cluster create` service.
# It is what the user path's Dockerfile installs on debian:bookworm-slim too.
INCLUDE="redis-tools"

if [[ "${1:-}" != "--force" ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "$IMAGE exists; not rebuilding (--force to rebuild)"
    exit 0
fi

# The mirror this machine's apt already uses (deb822 or one-line sources), else Debian's CDN.
if [[ -z "${MIRROR:-}" ]]; then
    MIRROR=$(sed -n 's/^URIs: *\(\S*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    if [[ -z "$MIRROR" ]]; then
        MIRROR=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(\S*\/debian\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1)
    fi
    MIRROR="${MIRROR:-http://deb.debian.org/debian}"
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/ferrocache-base.XXXXXX")
trap 'rm -rf "$root"' EXIT

echo "debootstrap --variant=minbase $SUITE from $MIRROR"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 || {
    tail -n 30 "$root.log" >&2
    rm -f "$root.log"
    exit 1
}
rm -f "$root.log"

# Trim what a server image never reads, as debian:bookworm-slim does (docs, man pages, apt's
# downloaded lists and packages). Locales other than C are not used by ferrocache or redis-cli.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old

tar --numeric-owner -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/bash"]' \
    -m "debootstrap --variant=minbase --include=$INCLUDE $SUITE $MIRROR" \
    - "$IMAGE" >/dev/null
docker images "$IMAGE"
