#!/usr/bin/env bash
# cluster-scripts/restore.sh: builds and starts a new local cluster from a backup directory and checks it holds the backup's data.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/restore.sh [--help] BACKUP_DIR

Builds a new local cluster from a backup taken by backup.sh (or boxctl backup): one node per node
of the backed-up cluster (node ids 1..N, as start-local.sh numbers them), in $BOXOFFICE_HOME,
on gRPC ports GRPC_BASE+i and HTTP ports HTTP_BASE+i. Use a $BOXOFFICE_HOME and ports other than
the backed-up cluster's if it still runs on this machine.

Steps, each logged:
  1. `boxofficed restore` writes each node's data directory: every group the node holds starts from
     the backup's state at the backup's applied index, with the new cluster's addresses; it reads
     every group back and refuses unless its data hash equals the manifest's.
  2. start-local.sh N starts the nodes (the cluster is bootstrapped already: bootstrap is a no-op).
  3. `boxctl check-restore` compares every replica's data hash with the manifest and audits the
     invariants (a replica that fails the audit or does not answer fails the restore; one whose
     group already applied a change, e.g. swept holds that ran out meanwhile, is a warning, as
     step 1 checked it); `boxctl audit` checks that replicas agree.

Refused: a $BOXOFFICE_HOME that already holds node data (a restore never writes over a cluster),
running nodes there, a backup without manifest.json, or a backup whose node ids are not 1..N.
A restore interrupted in step 1 can be run again (its partial work is removed).

Environment: BOXOFFICE_HOME, BOXOFFICE_GRPC_BASE, BOXOFFICE_HTTP_BASE, BOXOFFICE_SKIP_BUILD,
BOXOFFICE_BIN_DIR and the other variables of start-local.sh (see its --help).
USAGE
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 1 ]] || die "expected one backup directory (see --help)"
BACKUP="$(realpath -m -- "$1")"
[[ -f "$BACKUP/manifest.json" ]] \
    || die "$BACKUP holds no manifest.json: not a complete backup (an interrupted backup cannot be restored)"
ensure_apt_packages python3

resolve_local_home
GRPC_BASE="${BOXOFFICE_GRPC_BASE:-7080}"
HTTP_BASE="${BOXOFFICE_HTTP_BASE:-8080}"
[[ "$GRPC_BASE" =~ ^[0-9]+$ && "$HTTP_BASE" =~ ^[0-9]+$ ]] || die "BOXOFFICE_GRPC_BASE and BOXOFFICE_HTTP_BASE must be numbers"

# The backup's node ids, which the new cluster keeps.
NODE_IDS="$(python3 -c 'import json, sys; print(" ".join(str(n["node_id"]) for n in json.load(open(sys.argv[1]))["nodes"]))' "$BACKUP/manifest.json")" \
    || die "cannot read $BACKUP/manifest.json"
read -r -a IDS <<<"$NODE_IDS"
NODES=${#IDS[@]}
((NODES > 0)) || die "the backup's manifest lists no node"
for ((i = 1; i <= NODES; i++)); do
    [[ "${IDS[i - 1]}" == "$i" ]] || die "the backup's node ids are ${IDS[*]}; this script numbers local nodes 1..$NODES (restore by hand with boxofficed restore, see docs/operations.md)"
done

for ((i = 1; i <= NODES; i++)); do
    dir="$BOXOFFICE_HOME/node-$i"
    if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        die "node $i runs in $BOXOFFICE_HOME (pid $(cat "$dir/pid")); a restore builds a new cluster: choose another BOXOFFICE_HOME"
    fi
    [[ ! -e "$dir/db" ]] \
        || die "$dir/db exists: refusing to restore over existing data (choose another BOXOFFICE_HOME, or delete it with stop-local.sh --wipe)"
done

if [[ "${BOXOFFICE_SKIP_BUILD:-0}" != "1" ]]; then
    ensure_build_deps
    log "building release binaries (BOXOFFICE_SKIP_BUILD=1 skips this)"
    (cd "$REPO_ROOT" && cargo build --release -p boxoffice-node -p boxoffice-client) || die "the release build failed"
fi
export BOXOFFICE_SKIP_BUILD=1
BIN_DIR="${BOXOFFICE_BIN_DIR:-$CARGO_TARGET_DIR/release}"
for bin in boxofficed boxctl; do
    [[ -x "$BIN_DIR/$bin" ]] || die "$BIN_DIR/$bin not found; build it (unset BOXOFFICE_SKIP_BUILD) or set BOXOFFICE_BIN_DIR"
done

NODE_ARGS=()
ENDPOINTS=""
for ((i = 1; i <= NODES; i++)); do
    NODE_ARGS+=(--node "$i=127.0.0.1:$((GRPC_BASE + i)),127.0.0.1:$((HTTP_BASE + i))")
    ENDPOINTS+="${ENDPOINTS:+,}127.0.0.1:$((GRPC_BASE + i))"
done
for ((i = 1; i <= NODES; i++)); do
    dir="$BOXOFFICE_HOME/node-$i"
    mkdir -p "$dir"
    log "node $i: restoring $BACKUP into $dir"
    "$BIN_DIR/boxofficed" --node-id "$i" --data-dir "$dir" restore --backup "$BACKUP" "${NODE_ARGS[@]}" \
        >>"$dir/restore.log" 2>&1 \
        || { tail -n 20 "$dir/restore.log" >&2; die "the restore of node $i failed (log: $dir/restore.log)"; }
    tail -n 1 "$dir/restore.log" >&2
done

log "starting the restored cluster"
"$REPO_ROOT/cluster-scripts/start-local.sh" "$NODES"

export BOXOFFICE_ENDPOINTS="$ENDPOINTS"
log "comparing every replica with the backup"
set +e
"$BIN_DIR/boxctl" --json check-restore "$BACKUP" >"$BOXOFFICE_HOME/check-restore.json"
set -e
python3 - "$BOXOFFICE_HOME/check-restore.json" <<'PY' || die "the restored cluster failed its check (above; $BOXOFFICE_HOME/check-restore.json)"
import json, sys
r = json.load(open(sys.argv[1]))
bad = [x for x in r["replicas"] if x["error"] or x["violation"]]
moved = [x for x in r["replicas"] if not x["matches"] and x not in bad]
for x in r["replicas"]:
    state = "same as the backup" if x["matches"] else (x["error"] or x["violation"] or "differs from the backup")
    print(f"group {x['group']:<4} node {x['node_id']:<3} applied {x['applied_index']}  {state}", file=sys.stderr)
for x in moved:
    print(f"[boxoffice] warning: group {x['group']} on node {x['node_id']} differs from the backup: it has applied "
          "commands since the start (expiry sweeps of holds that ran out, admissions); its data hash was "
          "checked against the backup's before the start", file=sys.stderr)
print(f"[boxoffice] {len(r['replicas']) - len(bad) - len(moved)} of {len(r['replicas'])} replica(s) hold exactly the backup's data",
      file=sys.stderr)
sys.exit(1 if bad else 0)
PY
"$BIN_DIR/boxctl" audit >/dev/null || die "the audit of the restored cluster failed (run boxctl audit for the table)"
log "restored cluster ready: BOXOFFICE_HOME=$BOXOFFICE_HOME BOXOFFICE_ENDPOINTS=$ENDPOINTS"
