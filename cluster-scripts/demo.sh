#!/usr/bin/env bash
# cluster-scripts/demo.sh: runs the on-sale demo; extra arguments go to the example.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/demo.sh [--help] [--buyers N] [--seed N] [--admit N]

A stadium on-sale (22,000 seats + 2,000 general admission) with simulated buyers against the
ticketing state machine, ending with tickets sold, rejections by code, per-command costs and the
invariant check. Installs missing build dependencies, then runs from the repository root
  cargo run --release -p boxoffice-statemachine --example onsale -- [ARGS...]

  --buyers N   simulated buyers (default 100000)
  --seed N     seed of the simulation (default 2026); the same seed gives the same state hash
  --admit N    buyers the waiting room admits per simulated second (default 100)
USAGE
}

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    usage
    exit 0
fi

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ensure_build_deps

cd "$REPO_ROOT"

# Until the replicated node exists (issue 3), the demo runs the on-sale against the
# state machine in process rather than against a cluster of boxofficed replicas.
exec cargo run --release -p boxoffice-statemachine --example onsale -- "$@"
