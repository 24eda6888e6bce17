#!/usr/bin/env bash
# cluster-scripts/idle-cpu.sh: measures what idle Raft groups cost: starts a 3-node local cluster
# with G data groups (every node a replica of every group), lets it settle, then reports each
# boxofficed process's CPU time over a window as a percentage of one core.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/idle-cpu.sh [--help] [--groups G] [--seconds S] [--heartbeat-ms H] [--no-quiesce]

Starts a separate 3-node cluster (BOXOFFICE_HOME=/tmp/boxoffice-idle, gRPC ports 27081-27083)
with G data groups (default 100; with 3 nodes every node holds a replica of each), waits for every
group to have a leader plus a 10 s settle, samples /proc/<pid>/stat of each node over S seconds
(default 30), prints CPU per node as % of one core, then stops and wipes the cluster.
Heartbeat H ms (default 500, the node's default; election timeout 3H..6H). Idle groups go quiet
(stop ticking) as the node does by default; --no-quiesce keeps every group ticking, to compare.
Also prints how many groups each node held quiet at the end.
USAGE
}

GROUPS_N=100
SECONDS_N=30
HEARTBEAT_MS=500
QUIESCE=true
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --groups) GROUPS_N="${2:?--groups needs a value}"; shift 2 ;;
        --seconds) SECONDS_N="${2:?--seconds needs a value}"; shift 2 ;;
        --heartbeat-ms) HEARTBEAT_MS="${2:?--heartbeat-ms needs a value}"; shift 2 ;;
        --no-quiesce) QUIESCE=false; shift ;;
        *) echo "idle-cpu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ensure_apt_packages python3

export BOXOFFICE_HOME=/tmp/boxoffice-idle
export BOXOFFICE_GRPC_BASE=27080
export BOXOFFICE_HTTP_BASE=28080
export BOXOFFICE_DATA_GROUPS="$GROUPS_N"
export BOXOFFICE_LOCAL_HEARTBEAT_MS="$HEARTBEAT_MS"
export BOXOFFICE_LOCAL_ELECTION_MIN_MS=$((3 * HEARTBEAT_MS))
export BOXOFFICE_LOCAL_ELECTION_MAX_MS=$((6 * HEARTBEAT_MS))
export BOXOFFICE_QUIESCE="$QUIESCE"
SCRIPTS="$REPO_ROOT/cluster-scripts"

if compgen -G "$BOXOFFICE_HOME/node-*" >/dev/null; then
    "$SCRIPTS/stop-local.sh" --wipe
fi
trap '"$SCRIPTS/stop-local.sh" --wipe >/dev/null 2>&1 || true' EXIT
"$SCRIPTS/start-local.sh" 3
log "settling for 10 s"
sleep 10

ticks_per_s="$(getconf CLK_TCK)"
cpu_ticks() { # utime + stime of a process, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
declare -A before
for i in 1 2 3; do
    pid="$(cat "$BOXOFFICE_HOME/node-$i/pid")"
    before[$i]="$(cpu_ticks "$pid")"
done
log "sampling for $SECONDS_N s"
sleep "$SECONDS_N"
echo "idle CPU, 3 nodes x $GROUPS_N data groups (+ group 0), heartbeat $HEARTBEAT_MS ms, quiesce $QUIESCE, ${SECONDS_N} s:"
for i in 1 2 3; do
    pid="$(cat "$BOXOFFICE_HOME/node-$i/pid")"
    after="$(cpu_ticks "$pid")"
    awk -v b="${before[$i]}" -v a="$after" -v hz="$ticks_per_s" -v s="$SECONDS_N" -v n="$i" \
        'BEGIN { printf "  node %d: %.1f%% of one core\n", n, 100 * (a - b) / hz / s }'
done
quiet="$("$SCRIPTS/status.sh" --json 2>/dev/null | python3 -c '
import json, sys
status = json.load(sys.stdin)
print(" ".join("node %s: %s" % (n["node_id"], n["quiet_groups"]) for n in status["nodes"]))
' || echo "unknown")"
echo "quiet groups at the end (of $((GROUPS_N + 1)) per node): $quiet"
