#!/usr/bin/env bash
# cluster-scripts/onsale-cpu.sh: what one command costs in CPU: runs `boxctl onsale` against a fresh
# 3-node local cluster and divides the CPU time the nodes (and the load generator) used by the
# commands decided. A figure that other load on the machine barely moves, unlike throughput.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/onsale-cpu.sh [--help] [--seconds S] [--buyers B] [--seats-per-hold N] [--perf]

Starts a separate 3-node cluster (BOXOFFICE_HOME=/tmp/boxoffice-onsale-cpu, gRPC ports
29081-29083, release build), creates a 50,000-seat stadium (20 sections x 50 rows x 50 seats) and
runs `boxctl onsale` for S seconds (default 15) with B buyers (default 256), N seats per hold
(default 1), nothing abandoned: each buyer holds then buys. Reports the commands decided (holds,
buys, rejected holds), the throughput and latencies, the nodes' CPU time per command (user +
system from /proc/<pid>/stat, each node and all three, over the sale itself: the read-back of the
acknowledged orders that follows is left out) and the load generator's. With --perf, also
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
ensure_apt_packages python3
$PERF && ensure_apt_packages linux-perf

cd "$REPO_ROOT"
if [[ "${BOXOFFICE_SKIP_BUILD:-0}" != "1" ]]; then
    log "building release binaries (BOXOFFICE_SKIP_BUILD=1 skips this)"
    cargo build --release --locked -p boxoffice-node -p boxoffice-client
fi
export BOXOFFICE_SKIP_BUILD=1
export BOXOFFICE_HOME=/tmp/boxoffice-onsale-cpu
export BOXOFFICE_GRPC_BASE=29080
export BOXOFFICE_HTTP_BASE=30080
export BOXOFFICE_ENDPOINTS=127.0.0.1:29081,127.0.0.1:29082,127.0.0.1:29083
BOXCTL="$CARGO_TARGET_DIR/release/boxctl"
SCRIPTS="$REPO_ROOT/cluster-scripts"

if compgen -G "$BOXOFFICE_HOME/node-*" >/dev/null; then
    "$SCRIPTS/stop-local.sh" --wipe
fi
trap '"$SCRIPTS/stop-local.sh" --wipe >/dev/null 2>&1 || true' EXIT
"$SCRIPTS/start-local.sh" 3
"$BOXCTL" create-stadium --event onsale-cpu --sections 20 --rows 50 --seats 50 --ga 0

cpu_ticks() { # utime + stime of each node, in clock ticks, comma-separated
    local ticks=() i pid
    for i in 1 2 3; do
        pid="$(cat "$BOXOFFICE_HOME/node-$i/pid")"
        ticks+=("$(awk '{ print $14 + $15 }' "/proc/$pid/stat")")
    done
    (IFS=,; echo "${ticks[*]}")
}

event_leader() { # the node that leads the event's group now
    "$BOXCTL" --json status | python3 -c '
import json, sys
status = json.load(sys.stdin)
group = next(e["group"] for e in status["events"] if e["event_id"] == "onsale-cpu")
print(next(g["leader_id"] for g in status["groups"] if g["group"] == group))'
}

if $PERF; then
    leader="$(event_leader)"
    ( sleep 3 && perf record -F 499 --call-graph dwarf,16384 -o perf-onsale-leader.data \
        -p "$(cat "$BOXOFFICE_HOME/node-$leader/pid")" -- sleep 5 >/dev/null 2>&1 \
        && log "perf: node $leader (the event's leader) recorded into perf-onsale-leader.data" ) &
fi

RESULT="$(mktemp)"
SAMPLES="$(mktemp)"
trap 'rm -f "$RESULT" "$SAMPLES"; "$SCRIPTS/stop-local.sh" --wipe >/dev/null 2>&1 || true' EXIT
log "onsale: $BUYERS buyers, $SEATS seat(s) per hold, $SECONDS_N s"
"$BOXCTL" --json onsale --event onsale-cpu \
    --buyers "$BUYERS" --duration-s "$SECONDS_N" --seats-per-hold "$SEATS" --abandon-pct 0 \
    --report-every-s 0 --seed 7 >"$RESULT" &
client_pid=$!
# CPU ticks of the nodes and of the load generator every 100 ms: the sale's own window is cut
# out of them afterwards (the read-back of the orders that follows is not the sale's cost).
while kill -0 "$client_pid" 2>/dev/null; do
    client_ticks="$(awk '{ print $14 + $15 }' "/proc/$client_pid/stat" 2>/dev/null)" || break
    echo "$(date +%s%3N) $(cpu_ticks) $client_ticks" >>"$SAMPLES"
    sleep 0.1
done
wait "$client_pid"
wait
# Asked after the sale: the balancer may have moved the leadership to its preferred node meanwhile.
leader="$(event_leader)"

python3 - "$RESULT" "$SAMPLES" "$(getconf CLK_TCK)" "$leader" <<'PY'
import bisect, json, sys
result = json.load(open(sys.argv[1]))
hz, leader = int(sys.argv[3]), int(sys.argv[4])
samples = []  # (unix ms, [ticks of each node], ticks of the load generator)
for line in open(sys.argv[2]):
    at, nodes, client = line.split()
    samples.append((int(at), [int(t) for t in nodes.split(",")], int(client)))
times = [s[0] for s in samples]
def at(unix_ms):  # the last sample taken at or before unix_ms (the first one if none)
    return samples[max(bisect.bisect_right(times, unix_ms) - 1, 0)]
first, last = at(result["sale_started_unix_ms"]), at(result["sale_ended_unix_ms"])
rejected = sum(sum(codes.values()) for codes in result["rejections"].values())
commands = result["holds"] + result["buys"] + rejected
# The commands decided in the sampled window, assuming a steady rate over the sale.
window_s = max(last[0] - first[0], 1) / 1000
sampled = commands * min(window_s / max(result["duration_s"], 0.001), 1.0)
per_node_us = [(a - b) / hz * 1e6 / max(sampled, 1) for a, b in zip(last[1], first[1])]
node_us = sum(per_node_us)
client_us = (last[2] - first[2]) / hz * 1e6 / max(sampled, 1)
print(f"commands decided: {commands} ({result['holds']} holds, {result['buys']} buys, {rejected} rejected) in {result['duration_s']:.1f} s")
print(f"throughput:       {result['holds_per_s']:.0f} holds/s, {result['buys_per_s']:.0f} buys/s")
print(f"hold latency:     p50 {result['hold_latency_ms']['p50']:.1f} ms, p99 {result['hold_latency_ms']['p99']:.1f} ms")
print(f"node CPU:         {node_us:.0f} us per command (three nodes together)")
print("  per node:       " + ", ".join(
    f"node {i} {us:.0f} us" + (" (leader)" if i == leader else "")
    for i, us in enumerate(per_node_us, start=1)))
print(f"client CPU:       {client_us:.0f} us per command (boxctl onsale)")
print(f"orders read back: {result['acknowledged_orders']} acknowledged, {result['missing_orders']} missing")
sys.exit(1 if result["missing_orders"] else 0)
PY
