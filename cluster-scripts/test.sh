#!/usr/bin/env bash
# cluster-scripts/test.sh: the full check suite (fmt, clippy, tests, doctests, schemathesis, Jepsen); CI runs this.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/test.sh [--help]

Installs missing build dependencies, then runs from the repository root, stopping at
the first failure:
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets [--locked] -- -D warnings
  cargo test --workspace --doc
  cargo test --workspace --all-targets
  cargo build --release [--locked] -p boxoffice-node -p boxoffice-client -p boxoffice-jepsen
                                    -p boxoffice-bench
  cluster-scripts/schemathesis.sh   (the HTTP gateway against its OpenAPI document, on a
                                     throwaway 3-node cluster; see its --help)
  cluster-scripts/bench.sh --smoke  (every workload on Boxoffice, etcd, PostgreSQL and Redis at
                                     small sizes; any invariant violation fails it; then the
                                     storm on Boxoffice swept over 1 and 8 buyers)
  cluster-scripts/operations-check.sh
                                    (a rolling restart under an on-sale: no lost order, no
                                     unresolved outcome, every replica audited)
  cluster-scripts/backup-check.sh   (a backup under an on-sale restored into a new cluster:
                                     data hashes, audit, no lost order, sells on)
  cluster-scripts/jepsen.sh --short (3 nodes in network namespaces under partitions, kill -9
                                     and pause; every history checked; an unsafe build must
                                     be caught; see its --help)

Environment:
  PROPTEST_CASES                 proptest cases per property (default 256)
  CARGO_TARGET_DIR               build directory (default ${XDG_CACHE_HOME:-$HOME/.cache}/boxoffice/target)
  BOXOFFICE_SKIP_SCHEMATHESIS=1  skip schemathesis
  BOXOFFICE_SKIP_BENCH=1         skip the benchmark smoke run
  BOXOFFICE_SKIP_OPERATIONS=1    skip the operations check
  BOXOFFICE_SKIP_BACKUP_CHECK=1  skip the backup/restore round trip
  BOXOFFICE_SKIP_JEPSEN=1        skip the Jepsen suite
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
# The Jepsen harness: namespaces and iptables; its plots need a font.
ensure_apt_packages iproute2 iptables fonts-dejavu-core

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
# Cargo prints one "test result:" line per test binary; keep them to print one total at the end.
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
run_tests() {
    log "running: $*"
    set +e
    "$@" 2>&1 | tee -a "$results"
    local status=${PIPESTATUS[0]}
    set -e
    [[ $status -eq 0 ]] || die "failed: $*"
}
run_tests cargo test --workspace --doc
run_tests cargo test --workspace --all-targets

run cargo build --release ${locked[@]+"${locked[@]}"} -p boxoffice-node -p boxoffice-client -p boxoffice-jepsen -p boxoffice-bench
if [[ "${BOXOFFICE_SKIP_SCHEMATHESIS:-0}" == "1" ]]; then
    log "skipping schemathesis (BOXOFFICE_SKIP_SCHEMATHESIS=1)"
else
    run env BOXOFFICE_SKIP_BUILD=1 cluster-scripts/schemathesis.sh
fi
if [[ "${BOXOFFICE_SKIP_BENCH:-0}" == "1" ]]; then
    log "skipping the benchmark smoke run (BOXOFFICE_SKIP_BENCH=1)"
else
    run cluster-scripts/bench.sh --smoke --skip-build
    run cluster-scripts/bench.sh --smoke --skip-build --stores boxoffice --workloads storm --sweep-buyers 1,8
fi
if [[ "${BOXOFFICE_SKIP_OPERATIONS:-0}" == "1" ]]; then
    log "skipping the operations check (BOXOFFICE_SKIP_OPERATIONS=1)"
else
    run env BOXOFFICE_SKIP_BUILD=1 cluster-scripts/operations-check.sh
fi
if [[ "${BOXOFFICE_SKIP_BACKUP_CHECK:-0}" == "1" ]]; then
    log "skipping the backup/restore round trip (BOXOFFICE_SKIP_BACKUP_CHECK=1)"
else
    run env BOXOFFICE_SKIP_BUILD=1 cluster-scripts/backup-check.sh
fi
if [[ "${BOXOFFICE_SKIP_JEPSEN:-0}" == "1" ]]; then
    log "skipping the Jepsen suite (BOXOFFICE_SKIP_JEPSEN=1)"
else
    run env BOXOFFICE_SKIP_BUILD=1 cluster-scripts/jepsen.sh --short
fi

read -r passed failed < <(awk '/^test result:/ {
    for (i = 2; i <= NF; i++) { if ($i == "passed;") p += $(i - 1); if ($i == "failed;") f += $(i - 1) }
} END { print p + 0, f + 0 }' "$results")
log "all checks passed"
echo "tests: ${passed} passed, ${failed} failed"
