#!/usr/bin/env bash
# cluster-scripts/demo.sh: the main job. Builds release binaries, starts a 3-node local cluster,
# creates a stadium, runs an on-sale with concurrent buyers through the client crate, kills the
# leader of the event's group midway and restarts it, then prints the results and the audit of
# every replica. The cluster keeps running afterwards.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/demo.sh [--help] [--buyers N] [--duration-s S] [--seed N]

A stadium on-sale on a real 3-node Boxoffice cluster (20,000 reserved seats + 5,000 general
admission): starts the cluster (cluster-scripts/start-local.sh, data under $BOXOFFICE_HOME,
default ./.boxoffice; a previous demo cluster there is stopped and wiped first), creates the event,
runs `boxctl onsale` with concurrent buyers (10% of holds abandoned to expire), kills -9 the leader
of the event's group a few seconds in and restarts it, then prints tickets sold, holds/s, p50/p99
latency, the failover pause, every acknowledged order read back, and the invariant audit of every
replica. Installs what it needs (apt packages, Rust) first.

  --buyers N      concurrent simulated buyers (default 200)
  --duration-s S  stop the on-sale after S seconds if seats remain (default 60)
  --seed N        seed of the buyers' choices (default: from the clock)
USAGE
}

BUYERS=200
DURATION_S=60
SEED_ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --buyers) BUYERS="${2:?--buyers needs a value}"; shift 2 ;;
        --duration-s) DURATION_S="${2:?--duration-s needs a value}"; shift 2 ;;
        --seed) SEED_ARGS=(--seed "${2:?--seed needs a value}"); shift 2 ;;
        *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ensure_build_deps
ensure_apt_packages jq
cd "$REPO_ROOT"
log "building release binaries"
cargo build --release --locked -p boxoffice-node -p boxoffice-client
export BOXOFFICE_SKIP_BUILD=1
BOXCTL="$CARGO_TARGET_DIR/release/boxctl"
SCRIPTS="$REPO_ROOT/cluster-scripts"
HOME_DIR="${BOXOFFICE_HOME:-./.boxoffice}"

if compgen -G "$HOME_DIR/node-*" >/dev/null; then
    log "stopping and wiping the previous local cluster in $HOME_DIR"
    "$SCRIPTS/stop-local.sh" --wipe
fi
"$SCRIPTS/start-local.sh" 3

EVENT="demo-tour"
log "creating $EVENT: 20 sections x 25 rows x 40 seats + 5,000 GA places"
"$BOXCTL" create-stadium --event "$EVENT" --sections 20 --rows 25 --seats 40 --ga 5000

RESULT="$(mktemp)"
trap 'rm -f "$RESULT"' EXIT
log "on-sale: $BUYERS buyers for up to ${DURATION_S}s"
"$BOXCTL" --json onsale --event "$EVENT" --buyers "$BUYERS" --duration-s "$DURATION_S" \
    --abandon-pct 10 --ttl-ms 5000 "${SEED_ARGS[@]}" >"$RESULT" &
ONSALE=$!

sleep 4
STATUS="$("$BOXCTL" --json status)"
GROUP="$(jq -r --arg e "$EVENT" '.events[] | select(.event_id == $e) | .group' <<<"$STATUS")"
LEADER="$(jq -r --argjson g "$GROUP" '.groups[] | select(.group == $g) | .leader_id' <<<"$STATUS")"
[[ "$LEADER" =~ ^[0-9]+$ ]] || die "could not find the leader of group $GROUP"
log "killing node $LEADER (kill -9), the leader of group $GROUP that holds $EVENT"
"$SCRIPTS/kill-node.sh" "$LEADER"
sleep 5
log "restarting node $LEADER"
"$SCRIPTS/restart-node.sh" "$LEADER"

ONSALE_OK=0
wait "$ONSALE" || ONSALE_OK=$?

echo
echo "== on-sale of $EVENT on a 3-node cluster (leader of group $GROUP killed at ~4 s, back at ~9 s) =="
jq -r '
  "tickets sold:          \(.tickets_sold)",
  "orders acknowledged:   \(.acknowledged_orders) (read back linearizably: \(.missing_orders) missing)",
  "holds/s:               \(.holds_per_s | floor)",
  "buys/s:                \(.buys_per_s | floor)",
  "hold latency:          p50 \(.hold_latency_ms.p50) ms, p99 \(.hold_latency_ms.p99) ms, max \(.hold_latency_ms.max) ms",
  "buy latency:           p50 \(.buy_latency_ms.p50) ms, p99 \(.buy_latency_ms.p99) ms, max \(.buy_latency_ms.max) ms",
  "elapsed:               \(.duration_s) s (sold out: \(.sold_out))",
  "failover pause:        \(.longest_pause_ms) ms (longest time without a successful command)",
  "indeterminate:         \(.indeterminate)",
  "rejections:            \(.rejections | to_entries | map("\(.key): " + (.value | to_entries | map("\(.key)=\(.value)") | join(", "))) | join("; "))"
' "$RESULT" 2>/dev/null || cat "$RESULT"
echo
log "waiting for the restarted node to catch up, then auditing every replica"
"$BOXCTL" wait-ready --timeout-s 30 >/dev/null
AUDIT_OK=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
    if "$BOXCTL" audit --group "$GROUP"; then AUDIT_OK=0; break; else AUDIT_OK=$?; sleep 1; fi
done

cat <<EOF

The cluster is still running (endpoints 127.0.0.1:7081-7083). Try:
  $BOXCTL status
  $BOXCTL seats $EVENT --section S1
  $BOXCTL events
Stop it with: cluster-scripts/stop-local.sh   (add --wipe to delete $HOME_DIR)
EOF
[[ $ONSALE_OK -eq 0 ]] || die "the on-sale reported a problem (exit $ONSALE_OK)"
[[ $AUDIT_OK -eq 0 ]] || die "the audit found a problem (exit $AUDIT_OK)"
