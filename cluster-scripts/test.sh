#!/usr/bin/env bash
# cluster-scripts/test.sh: the full check suite (fmt, clippy, tests, doctests); CI runs this.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/test.sh [--help]

Installs missing build dependencies, then runs from the repository root, stopping at
the first failure:
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets [--locked] -- -D warnings
  cargo test --workspace --all-targets
  cargo test --workspace --doc

Environment:
  PROPTEST_CASES    proptest cases per property (default 256)
  CARGO_TARGET_DIR  build directory (default ${XDG_CACHE_HOME:-$HOME/.cache}/boxoffice/target)
USAGE
}

case "${1:-}" in
    -h | --help)
        usage
        exit 0
        ;;
    "") ;;
    *)
        usage >&2
        exit 64
        ;;
esac

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ensure_build_deps

export PROPTEST_CASES="${PROPTEST_CASES:-256}"

cd "$REPO_ROOT"

locked=()
if [[ -f Cargo.lock ]]; then
    locked=(--locked)
fi

run() {
    log "running: $*"
    "$@" || die "failed: $*"
}

run cargo fmt --all -- --check
run cargo clippy --workspace --all-targets ${locked[@]+"${locked[@]}"} -- -D warnings
run cargo test --workspace --all-targets
run cargo test --workspace --doc

log "all checks passed"
