#!/usr/bin/env bash
# cluster-scripts/add-node.sh: starts a new local node that joins the running cluster, and waits until replicas and leaderships have moved onto it.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/add-node.sh [--help] [--no-wait] [--timeout-s S] <i>

Adds node i to the local cluster in $BOXOFFICE_HOME (default ./.boxoffice):

  1. refuses unless every node of the cluster answers and every group has a leader;
  2. starts boxofficed as node i (gRPC 127.0.0.1:(GRPC_BASE+i), HTTP (HTTP_BASE+i), data, log and
     flags in $BOXOFFICE_HOME/node-<i>/, as start-local.sh does) with --join listing the running
     nodes: it adds itself to the cluster map and follows group 0;
  3. waits (unless --no-wait) until it is in the map and group 0's leader has moved replicas onto
     it one group at a time (learner, caught up by snapshot, then voter in place of a replica on
     the fullest node) until replica counts differ by at most one; preferred leaderships move with
     them and the leader balancer hands those groups to it.

Idempotent: a node already in the map and running is left alone (step 3 still waits). Waits at
most S seconds (default 300) for step 3. Environment: as start-local.sh.
USAGE
}

WAIT=1
TIMEOUT_S=300
ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --no-wait) WAIT=0; shift ;;
        --timeout-s) TIMEOUT_S="${2:?--timeout-s needs a value}"; shift 2 ;;
        -*) echo "add-node.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
[[ "$TIMEOUT_S" =~ ^[1-9][0-9]*$ ]] || { echo "add-node.sh: --timeout-s must be a positive number" >&2; exit 2; }

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ensure_apt_packages python3
parse_node_arg "${ARGS[@]}"
local_binaries boxctl boxofficed
JOIN="$(BOXOFFICE_ENDPOINTS="" local_endpoints)"
[[ -n "$JOIN" ]] || die "no local cluster in $BOXOFFICE_HOME (start one with start-local.sh)"
export BOXOFFICE_ENDPOINTS="${BOXOFFICE_ENDPOINTS:-$JOIN}"

running=0
if [[ -f "$DIR/pid" ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
    running=1
fi
if ((running)) && cluster_ask in-map "$NODE" >/dev/null; then
    log "node $NODE is already in the cluster and running; nothing to start"
else
    why="$(cluster_healthy)" || die "refusing to add a node: ${why:-the cluster does not answer}"
    if ((!running)); then
        # The node joins through every node that is already there (this one's own address aside).
        join=()
        IFS=, read -r -a peers <<<"$JOIN"
        for peer in "${peers[@]}"; do
            [[ "$peer" != "127.0.0.1:$((${BOXOFFICE_GRPC_BASE:-7080} + NODE))" ]] && join+=(--join "$peer")
        done
        if [[ -f "$DIR/node.env" ]]; then
            log "node $NODE: $DIR/node.env exists; starting it as it was configured"
        else
            write_node_env "$NODE" "$BIN_DIR/boxofficed" "${join[@]}"
            log "node $NODE: joining through ${JOIN}"
        fi
        "$REPO_ROOT/cluster-scripts/restart-node.sh" "$NODE"
    fi
fi
export BOXOFFICE_ENDPOINTS="$BOXOFFICE_ENDPOINTS,127.0.0.1:$((${BOXOFFICE_GRPC_BASE:-7080} + NODE))"

((WAIT)) || { log "node $NODE started; not waiting for replicas (--no-wait)"; exit 0; }
started=$SECONDS
deadline=$((SECONDS + TIMEOUT_S))
until answer="$(cluster_ask in-map "$NODE")"; do
    ((SECONDS < deadline)) || die "node $NODE is not in the cluster map after ${TIMEOUT_S} s ($answer); see $DIR/boxofficed.log"
    sleep 0.5
done
log "node $NODE is in the cluster map; replicas move onto it"
until answer="$(cluster_ask settled)"; do
    ((SECONDS < deadline)) || die "replicas did not settle after ${TIMEOUT_S} s: $answer"
    sleep 1
done
log "node $NODE added: replicas even after $((SECONDS - started)) s"
"$BOXCTL" status | sed -n '/^NODE/,/^$/p' >&2
