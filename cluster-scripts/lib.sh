#!/usr/bin/env bash
# cluster-scripts/lib.sh: shared helpers sourced by the other cluster scripts.
#
# Safe to source under `set -euo pipefail`. Sourcing it only defines functions and
# exports REPO_ROOT and CARGO_TARGET_DIR; it never changes the working directory.

# Guard against being sourced twice.
if [[ -n "${BOXOFFICE_LIB_SOURCED:-}" ]]; then
    return 0
fi
BOXOFFICE_LIB_SOURCED=1

# Repository root, derived from this file's location (cluster-scripts/..).
REPO_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
export REPO_ROOT

# One shared target dir so builds stay incremental across clones of the repo.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/boxoffice/target}"

# log MESSAGE...: print "[boxoffice] MESSAGE" to stderr.
log() {
    printf '[boxoffice] %s\n' "$*" >&2
}

# die MESSAGE...: log the message and exit 1.
die() {
    log "error: $*"
    exit 1
}

# as_root CMD...: run CMD as root, via sudo only when we are not root and sudo exists.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' and sudo is not available"
    fi
}

# ensure_apt_packages PKG...: install whichever of PKG... are not installed yet.
# Idempotent: does nothing (and never runs apt-get) when all are present.
ensure_apt_packages() {
    local pkg
    local -a missing=()
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "missing packages (${missing[*]}) and apt-get is not available; install them by hand"
    log "installing missing packages: ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
}

# ensure_toolchain: make sure cargo, rustfmt and clippy are usable.
ensure_toolchain() {
    if ! command -v cargo >/dev/null 2>&1; then
        if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            die "cargo not found; install Rust with rustup (https://rustup.rs) and re-run"
        fi
    fi
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 \
            || die "cargo fmt/clippy missing and rustup not found; install the rustfmt and clippy components"
        log "adding rustfmt and clippy components"
        rustup component add rustfmt clippy
    fi
}

# ensure_build_deps: system libraries (RocksDB, compression, protoc, clang), the release build of
# RocksDB that boxofficed links (ensure_rocksdb), plus the Rust toolchain.
ensure_build_deps() {
    # libprotobuf-dev: the well-known .proto files (google/protobuf/*) that etcd-client's build
    # script (client/bench) imports.
    ensure_apt_packages build-essential pkg-config libclang-dev clang librocksdb-dev \
        libsnappy-dev liblz4-dev libzstd-dev protobuf-compiler libprotobuf-dev curl ca-certificates
    ensure_toolchain
    ensure_rocksdb
}

# The RocksDB boxofficed links: the source of Debian's librocksdb-dev (the same 7.8.3), built once
# into the cache as a static release library. Debian builds it with its assertions on (no NDEBUG:
# 6,390 of them, two more key comparisons per step of the memtable's skip list), which costs the
# one-event storm about 15% of its throughput (docs/benchmarks.md). BOXOFFICE_ROCKSDB=system links
# Debian's shared library instead, as a plain `cargo build` does (.cargo/config.toml).
ROCKSDB_VERSION=7.8.3
ROCKSDB_SOURCE_URL="https://deb.debian.org/debian/pool/main/r/rocksdb/rocksdb_${ROCKSDB_VERSION}.orig.tar.gz"
ROCKSDB_SOURCE_SHA256=b85408a374770897332bf15e51620a5f35720dd416a4749e3899057f9cfaf84d

# ensure_rocksdb: builds the release RocksDB if the cache lacks it (about 8 minutes on 2 cores,
# once per machine) and exports ROCKSDB_LIB_DIR and ROCKSDB_STATIC for librocksdb-sys (with
# BOXOFFICE_ROCKSDB=system, unsets them).
ensure_rocksdb() {
    case "${BOXOFFICE_ROCKSDB:-release}" in
        system)
            # .cargo/config.toml names Debian's library when the environment names none.
            unset ROCKSDB_LIB_DIR ROCKSDB_STATIC
            return 0
            ;;
        release) ;;
        *) die "BOXOFFICE_ROCKSDB is '${BOXOFFICE_ROCKSDB}': use release (the default) or system" ;;
    esac
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/boxoffice/rocksdb-${ROCKSDB_VERSION}-ndebug-sse"
    if [[ ! -f "$dir/librocksdb.a" ]]; then
        build_rocksdb "$dir"
    fi
    export ROCKSDB_LIB_DIR="$dir" ROCKSDB_STATIC=1
}

# build_rocksdb DIR: downloads and checks the source, builds librocksdb.a (NDEBUG; for any x86-64
# CPU with AVX2, BMI and LZCNT, Intel since 2013 and AMD since 2015: USE_SSE, which also gives its
# checksums SSE4.2 and PCLMUL; snappy its only compression; no debug info) and moves it into DIR,
# which appears whole or not at all.
build_rocksdb() {
    local dir="$1"
    mkdir -p "$(dirname -- "$dir")"
    local work
    work="$(mktemp -d "$dir.build.XXXXXX")"
    log "building RocksDB $ROCKSDB_VERSION from Debian's source as a release library, once (about 8 minutes on 2 cores)"
    curl -fsSL --retry 3 -o "$work/source.tar.gz" "$ROCKSDB_SOURCE_URL" \
        || die "could not download $ROCKSDB_SOURCE_URL (BOXOFFICE_ROCKSDB=system links Debian's build instead)"
    echo "$ROCKSDB_SOURCE_SHA256  $work/source.tar.gz" | sha256sum --check --quiet \
        || die "$ROCKSDB_SOURCE_URL does not have the expected checksum"
    tar -xzf "$work/source.tar.gz" -C "$work"
    # Only snappy among the optional libraries, whatever else this machine has installed: the link
    # (librocksdb-sys with its snappy feature) names exactly that.
    (
        cd "$work/rocksdb-$ROCKSDB_VERSION"
        export ROCKSDB_DISABLE_GFLAGS=1 ROCKSDB_DISABLE_ZLIB=1 ROCKSDB_DISABLE_BZIP=1 \
            ROCKSDB_DISABLE_LZ4=1 ROCKSDB_DISABLE_ZSTD=1 ROCKSDB_DISABLE_NUMA=1 \
            ROCKSDB_DISABLE_TBB=1 ROCKSDB_DISABLE_JEMALLOC=1 ROCKSDB_DISABLE_TCMALLOC=1 \
            ROCKSDB_DISABLE_MEMKIND=1 ROCKSDB_USE_IO_URING=0
        # USE_SSE from the environment: make 4.3 does not pass its command line to $(shell), where
        # RocksDB detects the platform.
        export USE_SSE=1
        make -j"$(nproc)" static_lib DEBUG_LEVEL=0 PORTABLE=1 DISABLE_WARNING_AS_ERROR=1 \
            EXTRA_CXXFLAGS=-fPIC >"$work/build.log" 2>&1
    ) || die "the RocksDB build failed; see $work/build.log"
    strip --strip-debug "$work/rocksdb-$ROCKSDB_VERSION/librocksdb.a"
    mkdir "$work/out"
    mv "$work/rocksdb-$ROCKSDB_VERSION/librocksdb.a" "$work/out/"
    rm -rf "$dir"
    mv -T "$work/out" "$dir"
    rm -rf "$work"
    log "RocksDB $ROCKSDB_VERSION release library in $dir"
}

# ensure_bench_peers: the peers cluster-scripts/bench.sh measures Boxoffice against (etcd 3.4 with
# etcdctl, PostgreSQL 15, Redis 7) and the chart's font. Installing them starts no service here
# (no systemd); bench.sh starts its own instances on loopback.
ensure_bench_peers() {
    ensure_apt_packages etcd-server etcd-client postgresql redis-server redis-tools fonts-dejavu-core
}

# Resolves $BOXOFFICE_HOME (default ./.boxoffice) to an absolute path.
resolve_local_home() {
    BOXOFFICE_HOME="$(realpath -m -- "${BOXOFFICE_HOME:-./.boxoffice}")"
    export BOXOFFICE_HOME
}

# write_node_env ID BOXOFFICED [FLAG...]: writes $BOXOFFICE_HOME/node-ID/node.env, how local node
# ID is started (restart-node.sh sources it): its ports (gRPC GRPC_BASE+ID, HTTP HTTP_BASE+ID),
# data directory, local Raft timings, API keys and waiting-room secret, then FLAG... (--join for a
# node added to a running cluster). Sets NODE_GRPC, NODE_HTTP and NODE_FLAGS.
write_node_env() {
    local id="$1" boxofficed="$2"
    shift 2
    local dir="$BOXOFFICE_HOME/node-$id"
    NODE_GRPC="127.0.0.1:$((${BOXOFFICE_GRPC_BASE:-7080} + id))"
    NODE_HTTP="127.0.0.1:$((${BOXOFFICE_HTTP_BASE:-8080} + id))"
    NODE_FLAGS=(
        --node-id "$id"
        --data-dir "$dir"
        --grpc-listen "$NODE_GRPC"
        --grpc-advertise "$NODE_GRPC"
        --http-listen "$NODE_HTTP"
        --http-advertise "$NODE_HTTP"
        --heartbeat-ms "${BOXOFFICE_LOCAL_HEARTBEAT_MS:-100}"
        --election-timeout-min-ms "${BOXOFFICE_LOCAL_ELECTION_MIN_MS:-400}"
        --election-timeout-max-ms "${BOXOFFICE_LOCAL_ELECTION_MAX_MS:-800}"
        --app-keys "${BOXOFFICE_APP_KEY:-dev-app-key}"
        --admin-keys "${BOXOFFICE_ADMIN_KEY:-dev-admin-key}"
        --waiting-room-secret "${BOXOFFICE_WAITING_ROOM_SECRET:-dev-waiting-room-secret}"
        "$@"
    )
    mkdir -p "$dir"
    {
        echo "# node.env: how node $id is started; restart-node.sh sources it."
        printf 'BOXOFFICED=%q\n' "$boxofficed"
        printf 'NODE_GRPC=%q\n' "$NODE_GRPC"
        printf 'NODE_FLAGS=('
        printf ' %q' "${NODE_FLAGS[@]}"
        printf ' )\n'
    } >"$dir/node.env"
}

# local_binaries NAME...: sets BIN_DIR ($BOXOFFICE_BIN_DIR, default $CARGO_TARGET_DIR/release)
# and BOXCTL; dies unless every NAME (boxctl, boxofficed) is an executable there.
local_binaries() {
    BIN_DIR="${BOXOFFICE_BIN_DIR:-$CARGO_TARGET_DIR/release}"
    BOXCTL="$BIN_DIR/boxctl"
    local name
    for name in "$@"; do
        [[ -x "$BIN_DIR/$name" ]] \
            || die "no $name in $BIN_DIR (build with cargo build --release, or set BOXOFFICE_BIN_DIR)"
    done
}

# use_local_cluster: local_binaries boxctl, and exports BOXOFFICE_ENDPOINTS (local_endpoints); dies when
# $BOXOFFICE_HOME holds no local cluster.
use_local_cluster() {
    local_binaries boxctl
    BOXOFFICE_ENDPOINTS="$(local_endpoints)"
    [[ -n "$BOXOFFICE_ENDPOINTS" ]] || die "no local cluster in $BOXOFFICE_HOME (start one with start-local.sh)"
    export BOXOFFICE_ENDPOINTS
}

# local_endpoints: the gRPC addresses of the local nodes in $BOXOFFICE_HOME (node-<i> directories),
# comma-separated, unless BOXOFFICE_ENDPOINTS is set.
local_endpoints() {
    if [[ -n "${BOXOFFICE_ENDPOINTS:-}" ]]; then
        echo "$BOXOFFICE_ENDPOINTS"
        return
    fi
    local dir endpoints=""
    for dir in "$BOXOFFICE_HOME"/node-*; do
        [[ -d "$dir" && "${dir##*node-}" =~ ^[0-9]+$ ]] || continue
        endpoints+="${endpoints:+,}127.0.0.1:$((${BOXOFFICE_GRPC_BASE:-7080} + ${dir##*node-}))"
    done
    echo "$endpoints"
}

# cluster_ask QUESTION [NODE] [LAG_MAX]: asks status-query.py QUESTION about `$BOXCTL --json status`
# (BOXCTL must be set); prints its answer; status 1 for "no", 2 when the cluster does not answer.
cluster_ask() {
    local status
    status="$("$BOXCTL" --json status 2>/dev/null)" || return 2
    python3 "$REPO_ROOT/cluster-scripts/status-query.py" "$@" <<<"$status"
}

# cluster_healthy: succeeds once every node answers and every group has a leader, asking for up to
# HEALTHY_WAIT_S seconds (default 5): a leadership handed over leaves its group without a leader
# for a moment. Prints why not on failure.
cluster_healthy() {
    local why="" deadline=$((SECONDS + ${HEALTHY_WAIT_S:-5}))
    while true; do
        why="$(cluster_ask healthy)" && return 0
        ((SECONDS < deadline)) || break
        sleep 0.2
    done
    echo "$why"
    return 1
}

# stop_local_node ID: stops local node ID (SIGTERM, SIGKILL after 10 s) and removes its pid file.
stop_local_node() {
    local pid_file="$BOXOFFICE_HOME/node-$1/pid" pid
    [[ -f "$pid_file" ]] || return 0
    pid="$(cat "$pid_file")"
    log "node $1: stopping pid $pid (SIGTERM)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "node $1: still running after 10 s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

# Parses the one node-number argument of a per-node script: sets NODE and DIR (its directory).
parse_node_arg() {
    [[ $# -eq 1 ]] || die "expected one node number (see --help)"
    NODE="$1"
    [[ "$NODE" =~ ^[1-9][0-9]*$ ]] || die "node must be a positive number, got '$NODE'"
    resolve_local_home
    DIR="$BOXOFFICE_HOME/node-$NODE"
    export NODE DIR
}
