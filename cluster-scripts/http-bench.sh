#!/usr/bin/env bash
# cluster-scripts/http-bench.sh: HTTP load test of a fresh local cluster (joins/s, reserve+order/s).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/http-bench.sh [--help] [--seconds S] [--concurrency C]

Builds release binaries, starts a separate 3-node cluster (BOXOFFICE_HOME=/tmp/boxoffice-http-bench,
gRPC ports 21081-21083, HTTP 22081-22083), runs the http_bench example against all three
gateways: S seconds (default 20) of waiting-room joins, then S seconds of reserve + order flows,
C requests in flight (default 128); prints rates and latency percentiles, then stops and wipes the
cluster.
USAGE
}

SECONDS_N=20
CONCURRENCY=128
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --seconds) SECONDS_N="${2:?--seconds needs a value}"; shift 2 ;;
        --concurrency) CONCURRENCY="${2:?--concurrency needs a value}"; shift 2 ;;
        *) echo "http-bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

export BOXOFFICE_HOME=/tmp/boxoffice-http-bench
export BOXOFFICE_GRPC_BASE=21080
export BOXOFFICE_HTTP_BASE=22080
SCRIPTS="$REPO_ROOT/cluster-scripts"

if compgen -G "$BOXOFFICE_HOME/node-*" >/dev/null; then
    "$SCRIPTS/stop-local.sh" --wipe
fi
trap '"$SCRIPTS/stop-local.sh" --wipe >/dev/null 2>&1 || true' EXIT
"$SCRIPTS/start-local.sh" 3
ensure_build_deps
cd "$REPO_ROOT"
cargo run --release --quiet -p boxoffice-node --example http_bench -- \
    --gateways 127.0.0.1:22081,127.0.0.1:22082,127.0.0.1:22083 \
    --seconds "$SECONDS_N" --concurrency "$CONCURRENCY"
