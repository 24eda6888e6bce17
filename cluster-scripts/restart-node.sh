#!/usr/bin/env bash
# cluster-scripts/restart-node.sh: starts one local node again with the flags start-local.sh recorded in its node.env.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/restart-node.sh [--help] <i>

Starts node i of the local cluster in $BOXOFFICE_HOME (default ./.boxoffice) again, with the
flags start-local.sh wrote to $BOXOFFICE_HOME/node-<i>/node.env, if it is not running, and waits
until it listens on its gRPC port. Its log is appended to node-<i>/boxofficed.log.
USAGE
}

case "${1:-}" in
    -h | --help)
        usage
        exit 0
        ;;
esac

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

parse_node_arg "$@"

[[ -f "$DIR/node.env" ]] || die "no $DIR/node.env: node $NODE was never started by start-local.sh in $BOXOFFICE_HOME"
if [[ -f "$DIR/pid" ]]; then
    PID="$(cat "$DIR/pid")"
    if [[ "$PID" =~ ^[0-9]+$ ]] && kill -0 "$PID" 2>/dev/null; then
        log "node $NODE is already running (pid $PID); nothing to do"
        exit 0
    fi
    log "node $NODE: removing stale pid file (pid $PID is not running)"
    rm -f "$DIR/pid"
fi

BOXOFFICED=""
NODE_GRPC=""
NODE_FLAGS=()
# shellcheck source=/dev/null
source "$DIR/node.env"
[[ -x "$BOXOFFICED" ]] || die "$BOXOFFICED (from $DIR/node.env) is not an executable"
[[ ${#NODE_FLAGS[@]} -gt 0 && -n "$NODE_GRPC" ]] || die "$DIR/node.env is incomplete"

port="${NODE_GRPC##*:}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use by another process; node $NODE cannot start"
fi

log "restarting node $NODE: $BOXOFFICED ${NODE_FLAGS[*]}"
printf '\n[restart-node.sh %s]\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$DIR/boxofficed.log"
nohup "$BOXOFFICED" "${NODE_FLAGS[@]}" >>"$DIR/boxofficed.log" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$DIR/pid"
disown

deadline=$((SECONDS + 60))
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$PID" 2>/dev/null; then
        log "node $NODE (pid $PID) exited; the end of its log:"
        tail -n 30 "$DIR/boxofficed.log" >&2 || true
        rm -f "$DIR/pid"
        die "node $NODE did not restart (log: $DIR/boxofficed.log)"
    fi
    ((SECONDS < deadline)) || die "node $NODE does not listen on $NODE_GRPC after 60 s (log: $DIR/boxofficed.log)"
    sleep 0.2
done
log "node $NODE is up (pid $PID, gRPC $NODE_GRPC); it catches up from its peers"
