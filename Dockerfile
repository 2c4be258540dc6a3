# Ferrocache's image, for two audiences (docs/DOCKER.md):
#
#   Users (pull base images; the default, last stage): a Rust builder runs `cargo build
#   --release`, the binary goes into debian:bookworm-slim.
#       docker build -t ferrocache .
#
#   Machines without an image registry (ours): the `local` target takes a prebuilt
#   target/release/ferrocache from the build context and a base image made here by
#   docker/build-base.sh (debootstrap + docker import), so nothing is pulled.
#       docker/build-base.sh && cargo build --release
#       docker build --target local --build-arg BASE_IMAGE=ferrocache-base:bookworm -t ferrocache .
#
# `local` comes before the Rust stage on purpose: the legacy builder (DOCKER_BUILDKIT=0, or
# Docker Engine < 23 without buildx) builds every stage up to the target, so with `--target
# local` it never reaches the `rust:` image it could not pull. BuildKit skips unused stages.

ARG BASE_IMAGE=debian:bookworm-slim
ARG RUST_VERSION=1.95

# Everything the runtime needs except the binary, shared by both audiences.
FROM ${BASE_IMAGE} AS runtime-base
# redis-cli serves the HEALTHCHECK and the compose file's `cluster create` one-shot. The
# registry-free base already has it (build-base.sh); debian:bookworm-slim gets it from apt.
# The user is made after redis-tools, whose postinst may take the first system uid.
RUN set -eux; \
    if ! command -v redis-cli >/dev/null 2>&1; then \
        apt-get update; \
        apt-get install -y --no-install-recommends redis-tools; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --system --gid 10001 ferrocache; \
    useradd --system --uid 10001 --gid ferrocache --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin ferrocache; \
    mkdir -p /data /etc/ferrocache; \
    chown ferrocache:ferrocache /data
COPY docker/ferrocache.conf /etc/ferrocache/ferrocache.conf
COPY docker/entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# dump.rdb, the AOF directory, nodes.conf and the cluster's raft log all live in `dir`, which
# the default configuration sets to /data; a named volume there keeps them across restarts.
WORKDIR /data
VOLUME /data
USER ferrocache
# Client port, cluster bus (port + 10000), HTTP (/metrics, /health, REST; http-port).
EXPOSE 6379 16379 9121
# FERROCACHE_PORT: the client port the health check asks, when the server runs on another one.
ENV FERROCACHE_PORT=6379
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD redis-cli -h 127.0.0.1 -p "$FERROCACHE_PORT" ping | grep -q PONG || exit 1
# SIGTERM goes to ferrocache itself (exec'd as PID 1): it saves as SHUTDOWN does (RDB when
# save points are set, AOF flushed) and exits 0. Compose/`docker stop` wait 10 s by default.
STOPSIGNAL SIGTERM
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["ferrocache", "/etc/ferrocache/ferrocache.conf"]

# This machine's image: the binary cargo built outside Docker (the .dockerignore lets only it
# through from target/).
FROM runtime-base AS local
COPY target/release/ferrocache /usr/local/bin/ferrocache

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
# make: tikv-jemalloc-sys builds jemalloc with it; rust:*-slim has gcc but not make.
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# strip --strip-debug: the release profile's line tables are 80% of the binary (73 MB → 14 MB);
# the symbols stay, for backtraces.
RUN cargo build --release --locked --bin ferrocache \
    && strip --strip-debug -o /ferrocache target/release/ferrocache

# The users' image (default target).
FROM runtime-base AS runtime
COPY --from=builder /ferrocache /usr/local/bin/ferrocache
