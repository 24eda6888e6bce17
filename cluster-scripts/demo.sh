#!/usr/bin/env bash
# cluster-scripts/demo.sh: runs the on-sale demo; extra arguments go to the example.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/demo.sh [--help] [ONSALE_ARGS...]

Installs missing build dependencies, then runs
  cargo run --release -p boxoffice-statemachine --example onsale -- ONSALE_ARGS...
from the repository root.
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
