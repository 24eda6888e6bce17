#!/usr/bin/env bash
# cluster-scripts/rolling-restart.sh: restarts every node of the local cluster in turn without losing a group's leader: drain, stop, start, catch up, undrain.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/rolling-restart.sh [--help] [--nodes "1 2 3"] [--step-timeout-s S]

Restarts the nodes of the local cluster in $BOXOFFICE_HOME (default ./.boxoffice) one at a time
(default: every node in the cluster map, in id order). For each node:

  1. `boxctl drain <id>`: group 0 records it as draining; each group it leads hands its leadership
     to its next replica, and it is given none;
  2. waits until `boxctl status` shows it leading no group;
  3. stops it (SIGTERM, SIGKILL after 10 s) and starts it again with restart-node.sh (same
     binary and flags: to upgrade, replace the binary in BOXOFFICE_BIN_DIR first);
  4. waits until it answers and every replica it holds has caught up with its leader (lag at most
     CAUGHT_UP_LAG_ENTRIES = 100 entries) and every group has a leader;
  5. `boxctl undrain <id>`: leaderships come back to it as placed.

Refuses to start unless every node answers and every group has a leader (restarting a node while
another is down could take a group's majority away). Safe to run again after an interruption: a
node left draining is drained, restarted and undrained like the others. Each step waits at most S
seconds (default 60); on a timeout the node is undrained and the script stops with the reason.

Environment: as start-local.sh (BOXOFFICE_HOME, BOXOFFICE_GRPC_BASE, BOXOFFICE_ENDPOINTS,
BOXOFFICE_BIN_DIR).
USAGE
}

NODES_ARG=""
STEP_TIMEOUT_S=60
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --nodes) NODES_ARG="${2:?--nodes needs a value}"; shift 2 ;;
        --step-timeout-s) STEP_TIMEOUT_S="${2:?--step-timeout-s needs a value}"; shift 2 ;;
        *) echo "rolling-restart.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$STEP_TIMEOUT_S" =~ ^[1-9][0-9]*$ ]] || { echo "rolling-restart.sh: --step-timeout-s must be a positive number" >&2; exit 2; }

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ensure_apt_packages python3
resolve_local_home
SCRIPTS="$REPO_ROOT/cluster-scripts"
use_local_cluster
CAUGHT_UP_LAG_ENTRIES=100

ask() {
    cluster_ask "$1" "${2:-0}" "$CAUGHT_UP_LAG_ENTRIES"
}

# Waits until `ask $1 $2` succeeds (and, for "leads", prints 0); dies after the step timeout.
wait_for() {
    local what="$1" question="$2" node="$3" deadline=$((SECONDS + STEP_TIMEOUT_S)) answer
    while true; do
        if answer="$(ask "$question" "$node")"; then
            [[ "$question" != "leads" || "$answer" == "0" ]] && return 0
        fi
        if ((SECONDS >= deadline)); then
            log "timed out after ${STEP_TIMEOUT_S} s waiting for $what (${answer:-no answer})"
            return 1
        fi
        sleep 0.5
    done
}

why="$(cluster_healthy)" || die "refusing to start: ${why:-the cluster does not answer}"
NODES="${NODES_ARG:-$(ask ids)}"
for node in $NODES; do
    [[ "$node" =~ ^[1-9][0-9]*$ ]] || die "node ids are positive numbers, got '$node'"
    [[ -f "$BOXOFFICE_HOME/node-$node/node.env" ]] || die "node $node was not started by start-local.sh in $BOXOFFICE_HOME"
done

restarted=0
started_at=$SECONDS
for node in $NODES; do
    log "node $node: draining"
    "$BOXCTL" drain "$node" >/dev/null || die "node $node: drain refused (see above)"
    if ! wait_for "node $node to lead no group" leads "$node"; then
        "$BOXCTL" undrain "$node" >/dev/null || true
        die "node $node still leads groups; undrained it and stopped"
    fi
    log "node $node: leads nothing"
    stop_local_node "$node"
    down_at=$SECONDS
    "$SCRIPTS/restart-node.sh" "$node"
    if ! wait_for "node $node to catch up" caught-up "$node"; then
        "$BOXCTL" undrain "$node" >/dev/null || true
        die "node $node did not catch up; undrained it and stopped (log: $BOXOFFICE_HOME/node-$node/boxofficed.log)"
    fi
    log "node $node: caught up $((SECONDS - down_at)) s after it stopped; undraining"
    "$BOXCTL" undrain "$node" >/dev/null || die "node $node: undrain failed"
    restarted=$((restarted + 1))
done
why="$(cluster_healthy)" || die "after the restart: $why"
log "rolling restart done: $restarted node(s) in $((SECONDS - started_at)) s; every node answers and every group has a leader"
