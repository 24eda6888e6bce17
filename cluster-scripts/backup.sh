#!/usr/bin/env bash
# cluster-scripts/backup.sh: takes a consistent backup of every group of a running cluster into a directory (boxctl backup).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/backup.sh [--help] DIR

Backs up every group of the cluster at $BOXOFFICE_ENDPOINTS into DIR: each data group, then
group 0 (the cluster map), is exported by its leader after a read-index round, so each holds
every write acknowledged before its export, at one applied index. DIR gets one file a group
(group-<g>.bin) and, last, manifest.json (per group: applied index, data hash, entries, bytes).
Every file is synced before the manifest is written; the cluster keeps serving meanwhile.

Safe to run again: a DIR that already holds a complete backup is left as it is (exit 0).
Refused: a DIR that is not empty and holds no complete backup (an interrupted backup, or other
files) - delete it or choose a new one.

Restore with cluster-scripts/restore.sh DIR (a new local cluster) or, on other machines,
`boxofficed ... restore --backup DIR --node ...` on every node (docs/operations.md).

Environment:
  BOXOFFICE_ENDPOINTS    gRPC endpoints of the cluster (default 127.0.0.1:7081,7082,7083)
  BOXOFFICE_SKIP_BUILD=1 do not build; use the binaries already in $CARGO_TARGET_DIR/release
  BOXOFFICE_BIN_DIR      where boxctl is (default $CARGO_TARGET_DIR/release)
USAGE
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 1 ]] || die "expected one backup directory (see --help)"
DIR="$(realpath -m -- "$1")"

if [[ "${BOXOFFICE_SKIP_BUILD:-0}" != "1" ]]; then
    ensure_build_deps
    log "building release binaries (BOXOFFICE_SKIP_BUILD=1 skips this)"
    (cd "$REPO_ROOT" && cargo build --release -p boxoffice-client) || die "the release build failed"
fi
BOXCTL="${BOXOFFICE_BIN_DIR:-$CARGO_TARGET_DIR/release}/boxctl"
[[ -x "$BOXCTL" ]] || die "$BOXCTL not found; build it (unset BOXOFFICE_SKIP_BUILD) or set BOXOFFICE_BIN_DIR"

log "backing up the cluster at ${BOXOFFICE_ENDPOINTS:-127.0.0.1:7081,127.0.0.1:7082,127.0.0.1:7083} into $DIR"
"$BOXCTL" backup "$DIR" || die "the backup failed (see the lines above); $DIR holds no complete backup"
log "backup in $DIR: $(find "$DIR" -maxdepth 1 -type f | wc -l) file(s), $(du -sh "$DIR" | cut -f1)"
