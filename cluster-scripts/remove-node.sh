#!/usr/bin/env bash
# cluster-scripts/remove-node.sh: removes a node from the running local cluster: drains it, moves its replicas away, waits until the cluster forgets it, then stops it.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/remove-node.sh [--help] [--timeout-s S] <i>

Removes node i from the local cluster in $BOXOFFICE_HOME (default ./.boxoffice):

  1. refuses unless every node answers and every group has a leader (moving replicas while
     another node is down could leave a group without a majority);
  2. `boxctl node remove <i>`: the cluster map marks it removing and draining (refused, with the
     reason, when the other nodes could not hold every group's replicas: add a node first);
  3. waits until its leaderships have moved away, group 0's leader has moved each of its replicas
     to the other nodes (learner, caught up, voter in its place) and the map has forgotten it;
  4. stops its process and renames its directory to removed-node-<i>-<time> (its data is no
     longer part of any group).

Idempotent: a node already gone from the map is only stopped and its directory set aside. Waits at
most S seconds (default 300) for step 3. Environment: as start-local.sh.
USAGE
}

TIMEOUT_S=300
ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --timeout-s) TIMEOUT_S="${2:?--timeout-s needs a value}"; shift 2 ;;
        -*) echo "remove-node.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
[[ "$TIMEOUT_S" =~ ^[1-9][0-9]*$ ]] || { echo "remove-node.sh: --timeout-s must be a positive number" >&2; exit 2; }

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ensure_apt_packages python3
parse_node_arg "${ARGS[@]}"
use_local_cluster

if cluster_ask gone "$NODE" >/dev/null; then
    log "node $NODE is not in the cluster map (removed before, or never added)"
else
    why="$(cluster_healthy)" || die "refusing to remove node $NODE: ${why:-the cluster does not answer}"
    log "node $NODE: marking it removing (it drains; its replicas move to the other nodes)"
    "$BOXCTL" node remove "$NODE" >&2 || die "node $NODE: removal refused (see above)"
    started=$SECONDS
    deadline=$((SECONDS + TIMEOUT_S))
    until answer="$(cluster_ask gone "$NODE")"; do
        ((SECONDS < deadline)) || die "node $NODE is still in the cluster map after ${TIMEOUT_S} s ($answer); see boxctl status"
        sleep 1
    done
    log "node $NODE: every replica moved away and the cluster forgot it after $((SECONDS - started)) s"
fi
stop_local_node "$NODE"
if [[ -d "$DIR" ]]; then
    aside="$BOXOFFICE_HOME/removed-node-$NODE-$(date -u +%Y%m%dT%H%M%SZ)"
    mv -- "$DIR" "$aside"
    log "node $NODE: its directory is now $aside (delete it when no longer needed)"
fi
why="$(cluster_healthy)" || die "after removing node $NODE: $why"
log "node $NODE removed; every remaining node answers and every group has a leader"
