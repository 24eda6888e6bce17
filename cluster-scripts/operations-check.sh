#!/usr/bin/env bash
# cluster-scripts/operations-check.sh: runs the SRE operations (rolling restart, add a node, remove a node) against a live local cluster under a steady on-sale and checks that no sale is lost or doubled.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/operations-check.sh [--help] [--buyers B] [--seconds S]

Starts a separate 3-node cluster (BOXOFFICE_HOME=/tmp/boxoffice-operations, gRPC ports
21081-21083, HTTP 22081-22083, release build), creates a 100,000-seat stadium and runs
`boxctl onsale` with B buyers (default 16) for S seconds (default 90). While it runs, in turn:

  - rolling-restart.sh restarts every node in turn (drain, stop, start, catch up, undrain);
  - add-node.sh 4 starts node 4 (gRPC 21084), which joins; replicas move onto it until even;
  - remove-node.sh 1 moves node 1's replicas (and group 0's leadership) away, waits until the
    cluster forgets it, and stops it;
  - `boxctl move-event operations` moves the on-sale event to a group of its own (sealed, exported,
    imported, routed, dropped) and the check waits until it is no longer moving.

Then it checks: every operation finished while the on-sale was still running; every order the
buyers were told about is there (missing_orders = 0) and no outcome is left unresolved; every
replica of every group passes the invariant audit and replicas agree (`boxctl audit`). It reports
the failed-request rate (errors and indeterminate results over commands) and the longest pause
the buyers saw. Stops and wipes the cluster at the end. Exit status 0 only if every check passed.
USAGE
}

BUYERS=16
SECONDS_N=90
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --buyers) BUYERS="${2:?--buyers needs a value}"; shift 2 ;;
        --seconds) SECONDS_N="${2:?--seconds needs a value}"; shift 2 ;;
        *) echo "operations-check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$BUYERS" =~ ^[1-9][0-9]*$ ]] || { echo "operations-check.sh: --buyers must be a positive number" >&2; exit 2; }
[[ "$SECONDS_N" =~ ^[1-9][0-9]*$ ]] || { echo "operations-check.sh: --seconds must be a positive number" >&2; exit 2; }

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ensure_build_deps
ensure_apt_packages python3

cd "$REPO_ROOT"
if [[ "${BOXOFFICE_SKIP_BUILD:-0}" != "1" ]]; then
    log "building release binaries (BOXOFFICE_SKIP_BUILD=1 skips this)"
    cargo build --release --locked -p boxoffice-node -p boxoffice-client
fi
export BOXOFFICE_SKIP_BUILD=1
export BOXOFFICE_HOME=/tmp/boxoffice-operations
export BOXOFFICE_GRPC_BASE=21080
export BOXOFFICE_HTTP_BASE=22080
export BOXOFFICE_ENDPOINTS=127.0.0.1:21081,127.0.0.1:21082,127.0.0.1:21083
BOXCTL="$CARGO_TARGET_DIR/release/boxctl"
SCRIPTS="$REPO_ROOT/cluster-scripts"

if compgen -G "$BOXOFFICE_HOME/node-*" >/dev/null; then
    "$SCRIPTS/stop-local.sh" --wipe
fi
RESULT="$(mktemp)"
# finish: stops the cluster; wipes it after a pass, keeps its data and logs after a failure.
finish() {
    local rc=$?
    rm -f "$RESULT"
    if ((rc == 0)); then
        "$SCRIPTS/stop-local.sh" --wipe >/dev/null 2>&1 || true
    else
        "$SCRIPTS/stop-local.sh" >/dev/null 2>&1 || true
        log "the nodes' data and logs are kept for diagnosis in $BOXOFFICE_HOME"
    fi
}
trap finish EXIT
"$SCRIPTS/start-local.sh" 3
"$BOXCTL" create-stadium --event operations --sections 40 --rows 50 --seats 50 --ga 0

log "on-sale: $BUYERS buyers for $SECONDS_N s"
"$BOXCTL" --json onsale --event operations --buyers "$BUYERS" --duration-s "$SECONDS_N" \
    --seats-per-hold 1..4 --abandon-pct 20 --report-every-s 0 --seed 11 >"$RESULT" &
ONSALE=$!
sleep 3
onsale_started=$SECONDS

# operation NAME CMD...: runs one operation under the on-sale, which must outlast it.
operation() {
    local name="$1" began=$SECONDS
    shift
    "$@" || die "$name failed"
    kill -0 "$ONSALE" 2>/dev/null \
        || die "the on-sale ended before the $name did: it was not checked under load; raise --seconds"
    log "$name took $((SECONDS - began)) s (on-sale running for $((SECONDS - onsale_started)) s)"
}
operation "rolling restart" "$SCRIPTS/rolling-restart.sh"
operation "node addition" "$SCRIPTS/add-node.sh" 4
operation "node removal" "$SCRIPTS/remove-node.sh" 1

# move_hot_event: moves the on-sale event to a group of its own and waits until it has moved.
move_hot_event() {
    "$BOXCTL" move-event operations >&2 || return 1
    local deadline=$((SECONDS + 60)) answer
    until answer="$(cluster_ask events-settled)"; do
        ((SECONDS < deadline)) || { log "the event did not finish moving: $answer"; return 1; }
        sleep 0.5
    done
}
operation "event move" move_hot_event
log "every operation finished under the on-sale; waiting for the on-sale to end"
wait "$ONSALE" || die "boxctl onsale failed"

log "auditing every replica"
"$BOXCTL" audit >/dev/null || die "the audit failed after the operations (run boxctl audit for the table)"

python3 - "$RESULT" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
count = lambda v: sum(count(x) for x in v.values()) if isinstance(v, dict) else int(v)
rejected = count(r["rejections"])
errors, indeterminate = count(r["errors"]), count(r["indeterminate"])
commands = r["holds"] + r["buys"] + rejected + errors + indeterminate
failed = errors + indeterminate
print(f"on-sale under the operations: {r['holds']} holds, {r['buys']} buys, {r['tickets_sold']} tickets in {r['duration_s']:.1f} s")
print(f"failed requests:  {failed} of {commands} ({100.0 * failed / max(commands, 1):.3f}%): {errors} errors, {indeterminate} indeterminate")
print(f"longest pause:    {r['longest_pause_ms']} ms (from {r['longest_pause_from_s']:.1f} s)")
print(f"hold latency:     p50 {r['hold_latency_ms']['p50']:.1f} ms, p99 {r['hold_latency_ms']['p99']:.1f} ms, max {r['hold_latency_ms']['max']:.1f} ms")
print(f"orders read back: {r['acknowledged_orders']} acknowledged, {r['missing_orders']} missing, {count(r['unresolved'])} unresolved")
sys.exit(1 if r["missing_orders"] or count(r["unresolved"]) else 0)
PY
log "operations check passed"
