#!/usr/bin/env bash
# cluster-scripts/status.sh: shows which local nodes run and the cluster's status (boxctl status).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/status.sh [--help] [--json]

Lists the nodes of the local cluster in $BOXOFFICE_HOME (default ./.boxoffice) and whether each
runs, then prints `boxctl status` (nodes, groups, leaders, lag, event placement, warnings) against
their gRPC endpoints. --json is passed to boxctl. Exit status: boxctl's (1 if no node answers).
USAGE
}

JSON=()
for arg in "$@"; do
    case "$arg" in
        -h | --help)
            usage
            exit 0
            ;;
        --json) JSON=(--json) ;;
        *)
            usage >&2
            printf '[boxoffice] error: unknown argument %s\n' "$arg" >&2
            exit 1
            ;;
    esac
done

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

resolve_local_home
shopt -s nullglob
ENDPOINTS=""
BOXCTL="${BOXOFFICE_BIN_DIR:-$CARGO_TARGET_DIR/release}/boxctl"
envs=("$BOXOFFICE_HOME"/node-*/node.env)
((${#envs[@]} > 0)) || die "no local cluster in $BOXOFFICE_HOME (no node-*/node.env); start one with cluster-scripts/start-local.sh"

for env in "${envs[@]}"; do
    dir="$(dirname "$env")"
    BOXOFFICED=""
    NODE_GRPC=""
    # shellcheck disable=SC2034 # node.env sets it
    NODE_FLAGS=()
    # shellcheck source=/dev/null
    source "$env"
    [[ -x "${BOXOFFICE_BIN_DIR:-}/boxctl" ]] || BOXCTL="$(dirname "$BOXOFFICED")/boxctl"
    ENDPOINTS+="${ENDPOINTS:+,}$NODE_GRPC"
    state="stopped"
    if [[ -f "$dir/pid" ]]; then
        pid="$(cat "$dir/pid")"
        if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            state="running (pid $pid)"
        else
            state="dead (stale pid file, pid $pid)"
        fi
    fi
    printf '%-8s %-22s %s\n' "$(basename "$dir")" "$NODE_GRPC" "$state" >&2
done
echo >&2

[[ -x "$BOXCTL" ]] || die "$BOXCTL not found; build it with cargo build --release -p boxoffice-client"
exec "$BOXCTL" --endpoints "$ENDPOINTS" --timeout-ms 5000 "${JSON[@]}" status
