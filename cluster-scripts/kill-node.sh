#!/usr/bin/env bash
# cluster-scripts/kill-node.sh: kills one local node with SIGKILL (a crash, for failover demos) and removes its pid file.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/kill-node.sh [--help] <i>

Kills node i of the local cluster in $BOXOFFICE_HOME (default ./.boxoffice) with kill -9, as a
crash would, and removes its pid file. Bring it back with cluster-scripts/restart-node.sh <i>.
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

[[ -d "$DIR" ]] || die "no node $NODE in $BOXOFFICE_HOME (no $DIR)"
[[ -f "$DIR/pid" ]] || die "node $NODE is not running (no pid file $DIR/pid)"
PID="$(cat "$DIR/pid")"
if ! [[ "$PID" =~ ^[0-9]+$ ]] || ! kill -0 "$PID" 2>/dev/null; then
    rm -f "$DIR/pid"
    die "node $NODE is not running (stale pid file, pid $PID); removed the pid file"
fi
comm="$(cat "/proc/$PID/comm" 2>/dev/null || echo boxofficed)"
[[ "$comm" == boxofficed* ]] || die "pid $PID in $DIR/pid is '$comm', not boxofficed; not killing it"

kill -KILL "$PID"
for _ in $(seq 50); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$PID" 2>/dev/null && die "pid $PID survived SIGKILL"
rm -f "$DIR/pid"
log "node $NODE (pid $PID) killed with SIGKILL"
