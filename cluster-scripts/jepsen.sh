#!/usr/bin/env bash
# cluster-scripts/jepsen.sh: builds boxofficed and boxoffice-jepsen (release) and runs the Jepsen suite.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/jepsen.sh [--short | --matrix | -- <boxoffice-jepsen arguments>]

Runs Boxoffice under faults in network namespaces and checks the histories (needs root: it
creates namespaces, a bridge and iptables rules, and removes them again, also on Ctrl-C).

  --short     the CI suite: 3 nodes; random-halves partitions, kill -9 (random and leaders)
              and pause with fixed seeds, then a run with deliberately unsafe local reads
              under isolate-leader that the checkers must catch (about 3 minutes)
  --matrix    5 nodes, every nemesis and the mixed schedule, seeds 1 and 2 (about 18 minutes)
  -- ARGS     anything else, passed to boxoffice-jepsen (see: -- --help, -- run --help)

Run directories (history.jsonl, summary.txt/json, plot.png, node logs) go to ./jepsen-runs
unless --out is given. Exits non-zero on any violation (or an unsafe run not caught).

Environment:
  CARGO_TARGET_DIR         build directory (default ${XDG_CACHE_HOME:-$HOME/.cache}/boxoffice/target)
  BOXOFFICE_SKIP_BUILD=1   use the release binaries already built
USAGE
}

mode=short
args=()
case "${1:-}" in
    -h | --help)
        usage
        exit 0
        ;;
    "" | --short) mode=short ;;
    --matrix) mode=matrix ;;
    --)
        mode=custom
        shift
        args=("$@")
        ;;
    *)
        usage >&2
        exit 64
        ;;
esac

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

[[ "$(id -u)" == "0" ]] || die "the Jepsen suite must run as root (network namespaces, iptables)"
ensure_build_deps
ensure_apt_packages iproute2 iptables fonts-dejavu-core

cd "$REPO_ROOT"
if [[ "${BOXOFFICE_SKIP_BUILD:-0}" != "1" ]]; then
    locked=()
    [[ -f Cargo.lock ]] && locked=(--locked)
    log "building release binaries (BOXOFFICE_SKIP_BUILD=1 skips this)"
    cargo build --release ${locked[@]+"${locked[@]}"} -p boxoffice-node -p boxoffice-jepsen
fi
JEPSEN="$CARGO_TARGET_DIR/release/boxoffice-jepsen"

case "$mode" in
    short) exec "$JEPSEN" suite --suite short --time-limit-s 16 --fault-s 5 --quiet-s 3 --recovery-s 6 ;;
    matrix) exec "$JEPSEN" suite --suite matrix --nodes 5 --seeds 1,2 ;;
    custom) exec "$JEPSEN" "${args[@]}" ;;
esac
