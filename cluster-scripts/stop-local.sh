#!/usr/bin/env bash
# cluster-scripts/stop-local.sh: stops the local cluster's nodes (SIGTERM, then SIGKILL after 10 s); --wipe deletes its state.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/stop-local.sh [--help] [--wipe]

Stops every node of the local cluster in $BOXOFFICE_HOME (default ./.boxoffice) that has a pid
file: SIGTERM, then SIGKILL for nodes still running after 10 s. Removes the pid files.

  --wipe   also delete $BOXOFFICE_HOME (data, logs, node.env): the next start is a new cluster
USAGE
}

WIPE=0
for arg in "$@"; do
    case "$arg" in
        -h | --help)
            usage
            exit 0
            ;;
        --wipe) WIPE=1 ;;
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

# is_node PID: true when PID is a live boxofficed process (not a recycled pid).
is_node() {
    [[ "$1" =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null \
        && [[ "$(cat "/proc/$1/comm" 2>/dev/null || echo boxofficed)" == boxofficed* ]]
}

declare -A PIDS=()
shopt -s nullglob
for pidfile in "$BOXOFFICE_HOME"/node-*/pid; do
    node="$(basename "$(dirname "$pidfile")")"
    pid="$(cat "$pidfile")"
    if is_node "$pid"; then
        log "$node: SIGTERM to pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        PIDS[$node]="$pid"
    else
        log "$node: not running (stale pid file, pid $pid)"
        rm -f "$pidfile"
    fi
done

deadline=$((SECONDS + 10))
while ((${#PIDS[@]} > 0)); do
    for node in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[$node]}" 2>/dev/null; then
            log "$node: stopped"
            rm -f "$BOXOFFICE_HOME/$node/pid"
            unset "PIDS[$node]"
        fi
    done
    ((${#PIDS[@]} > 0)) || break
    if ((SECONDS >= deadline)); then
        for node in "${!PIDS[@]}"; do
            log "$node: still running after 10 s, SIGKILL to pid ${PIDS[$node]}"
            kill -KILL "${PIDS[$node]}" 2>/dev/null || true
            rm -f "$BOXOFFICE_HOME/$node/pid"
            unset "PIDS[$node]"
        done
        break
    fi
    sleep 0.2
done

if ((WIPE)); then
    if [[ ! -e "$BOXOFFICE_HOME" ]]; then
        log "nothing to wipe: $BOXOFFICE_HOME does not exist"
    else
        nodes=("$BOXOFFICE_HOME"/node-*)
        case "$BOXOFFICE_HOME" in
            / | "$HOME" | "$REPO_ROOT") die "refusing to wipe $BOXOFFICE_HOME" ;;
        esac
        ((${#nodes[@]} > 0)) \
            || die "refusing to wipe $BOXOFFICE_HOME: it has no node-* directory, so it does not look like a Boxoffice home"
        rm -rf -- "$BOXOFFICE_HOME"
        log "wiped $BOXOFFICE_HOME"
    fi
fi
log "local cluster stopped"
