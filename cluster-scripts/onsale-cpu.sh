#!/usr/bin/env bash
# cluster-scripts/onsale-cpu.sh: what one command costs in CPU: runs `boxctl onsale` against a fresh
# 3-node local cluster and divides the CPU time the nodes (and the load generator) used by the
# commands decided. A figure that other load on the machine barely moves, unlike throughput.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/onsale-cpu.sh [--help] [--seconds S] [--buyers B] [--seats-per-hold N] [--perf]

Starts a separate 3-node cluster (BOXOFFICE_HOME=/tmp/boxoffice-onsale-cpu, gRPC ports
37081-37083, release build), creates a 50,000-seat stadium (20 sections x 50 rows x 50 seats) and
runs `boxctl onsale` for S seconds (default 15) with B buyers (default 256), N seats per hold
(default 1), nothing abandoned: each buyer holds then buys. Reports the commands decided (holds,
buys, rejected holds), the throughput and latencies, the nodes' CPU time per command (user +
system, all three nodes, from /proc/<pid>/stat) and the load generator's. With --perf, also
records the event group's leader for 5 s with `perf record --call-graph dwarf` into
perf-onsale-leader.data. Stops and wipes the cluster at the end.
USAGE
}

SECONDS_N=15
BUYERS=256
SEATS=1
PERF=false
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --seconds) SECONDS_N="${2:?--seconds needs a value}"; shift 2 ;;
        --buyers) BUYERS="${2:?--buyers needs a value}"; shift 2 ;;
        --seats-per-hold) SEATS="${2:?--seats-per-hold needs a value}"; shift 2 ;;
        --perf) PERF=true; shift ;;
        *) echo "onsale-cpu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$SECONDS_N" =~ ^[1-9][0-9]*$ ]] || { echo "onsale-cpu.sh: --seconds must be a positive number" >&2; exit 2; }
[[ "$BUYERS" =~ ^[1-9][0-9]*$ ]] || { echo "onsale-cpu.sh: --buyers must be a positive number" >&2; exit 2; }

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ensure_build_deps
ensure_apt_packages python3 time
$PERF && ensure_apt_packages linux-perf

cd "$REPO_ROOT"
if [[ "${BOXOFFICE_SKIP_BUILD:-0}" != "1" ]]; then
    log "building release binaries (BOXOFFICE_SKIP_BUILD=1 skips this)"
    cargo build --release --locked -p boxoffice-node -p boxoffice-client
fi
export BOXOFFICE_SKIP_BUILD=1
export BOXOFFICE_HOME=/tmp/boxoffice-onsale-cpu
export BOXOFFICE_GRPC_BASE=37080
export BOXOFFICE_HTTP_BASE=38080
export BOXOFFICE_ENDPOINTS=127.0.0.1:37081,127.0.0.1:37082,127.0.0.1:37083
BOXCTL="$CARGO_TARGET_DIR/release/boxctl"
SCRIPTS="$REPO_ROOT/cluster-scripts"

if compgen -G "$BOXOFFICE_HOME/node-*" >/dev/null; then
    "$SCRIPTS/stop-local.sh" --wipe
fi
trap '"$SCRIPTS/stop-local.sh" --wipe >/dev/null 2>&1 || true' EXIT
"$SCRIPTS/start-local.sh" 3
"$BOXCTL" create-stadium --event onsale-cpu --sections 20 --rows 50 --seats 50 --ga 0

cpu_ticks() { # utime + stime of the nodes, in clock ticks
    local total=0 i pid
    for i in 1 2 3; do
        pid="$(cat "$BOXOFFICE_HOME/node-$i/pid")"
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$total"
}

if $PERF; then
    leader="$("$BOXCTL" --json status | python3 -c '
import json, sys
status = json.load(sys.stdin)
group = next(e["group"] for e in status["events"] if e["event_id"] == "onsale-cpu")
print(next(g["leader_id"] for g in status["groups"] if g["group"] == group))')"
    ( sleep 3 && perf record -F 499 --call-graph dwarf,16384 -o perf-onsale-leader.data \
        -p "$(cat "$BOXOFFICE_HOME/node-$leader/pid")" -- sleep 5 >/dev/null 2>&1 \
        && log "perf: node $leader (the event's leader) recorded into perf-onsale-leader.data" ) &
fi

RESULT="$(mktemp)"
TIMES="$(mktemp)"
trap 'rm -f "$RESULT" "$TIMES"; "$SCRIPTS/stop-local.sh" --wipe >/dev/null 2>&1 || true' EXIT
before="$(cpu_ticks)"
log "onsale: $BUYERS buyers, $SEATS seat(s) per hold, $SECONDS_N s"
/usr/bin/time -f "%U %S" -o "$TIMES" "$BOXCTL" --json onsale --event onsale-cpu \
    --buyers "$BUYERS" --duration-s "$SECONDS_N" --seats-per-hold "$SEATS" --abandon-pct 0 \
    --report-every-s 0 --seed 7 >"$RESULT"
after="$(cpu_ticks)"
wait

python3 - "$RESULT" "$TIMES" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
user, system = (float(x) for x in open(sys.argv[2]).read().split())
before, after, hz = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rejected = sum(sum(codes.values()) for codes in result["rejections"].values())
commands = result["holds"] + result["buys"] + rejected
node_us = (after - before) / hz * 1e6 / max(commands, 1)
client_us = (user + system) * 1e6 / max(commands, 1)
print(f"commands decided: {commands} ({result['holds']} holds, {result['buys']} buys, {rejected} rejected) in {result['duration_s']:.1f} s")
print(f"throughput:       {result['holds_per_s']:.0f} holds/s, {result['buys_per_s']:.0f} buys/s")
print(f"hold latency:     p50 {result['hold_latency_ms']['p50']:.1f} ms, p99 {result['hold_latency_ms']['p99']:.1f} ms")
print(f"node CPU:         {node_us:.0f} us per command (three nodes together)")
print(f"client CPU:       {client_us:.0f} us per command (boxctl onsale)")
print(f"orders read back: {result['acknowledged_orders']} acknowledged, {result['missing_orders']} missing")
sys.exit(1 if result["missing_orders"] else 0)
PY
