#!/usr/bin/env bash
# cluster-scripts/start-local.sh: starts a local N-node boxofficed cluster, bootstraps it and waits until ready.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/start-local.sh [--help] [N]

Starts N (default 3) boxofficed nodes on this machine, bootstraps the cluster (an already
bootstrapped cluster, e.g. after stop-local.sh, is fine) and waits until every group has a leader,
the replica placed to lead it (a starting cluster hands leaderships over in its first seconds).

Node i (1..N) listens on gRPC 127.0.0.1:(GRPC_BASE+i) and HTTP 127.0.0.1:(HTTP_BASE+i) and keeps
its data, log (boxofficed.log), pid file (pid) and flags (node.env) in $BOXOFFICE_HOME/node-<i>/.
Raft timings suit a local cluster: heartbeat 100 ms, election timeout 400-800 ms.

Environment:
  BOXOFFICE_HOME         state directory (default ./.boxoffice)
  BOXOFFICE_GRPC_BASE    gRPC port base (default 7080)
  BOXOFFICE_HTTP_BASE    HTTP port base (default 8080)
  BOXOFFICE_DATA_GROUPS  data groups created at bootstrap (default 4*N)
  BOXOFFICE_LOCAL_HEARTBEAT_MS, BOXOFFICE_LOCAL_ELECTION_MIN_MS, BOXOFFICE_LOCAL_ELECTION_MAX_MS
                         Raft timings (default 100, 400, 800)
  BOXOFFICE_APP_KEY      the HTTP API key of role app (default dev-app-key; local clusters only)
  BOXOFFICE_ADMIN_KEY    the HTTP API key of role admin (default dev-admin-key; local clusters only)
  BOXOFFICE_WAITING_ROOM_SECRET
                         signs waiting-room tokens, the same on every node (default
                         dev-waiting-room-secret; local clusters only)
  BOXOFFICE_SKIP_BUILD=1 do not build; use the binaries already in $CARGO_TARGET_DIR/release
  BOXOFFICE_BIN_DIR      where boxofficed and boxctl are (default $CARGO_TARGET_DIR/release)

Stop with cluster-scripts/stop-local.sh (--wipe also deletes $BOXOFFICE_HOME).
USAGE
}

case "${1:-}" in
    -h | --help)
        usage
        exit 0
        ;;
esac

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -le 1 ]] || die "too many arguments (see --help)"
NODES="${1:-3}"
[[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, got '$NODES'"

resolve_local_home
GRPC_BASE="${BOXOFFICE_GRPC_BASE:-7080}"
HTTP_BASE="${BOXOFFICE_HTTP_BASE:-8080}"
DATA_GROUPS="${BOXOFFICE_DATA_GROUPS:-$((4 * NODES))}"
for value in "$GRPC_BASE" "$HTTP_BASE" "$DATA_GROUPS"; do
    [[ "$value" =~ ^[0-9]+$ ]] || die "BOXOFFICE_GRPC_BASE, BOXOFFICE_HTTP_BASE and BOXOFFICE_DATA_GROUPS must be numbers (got '$value')"
done
(( GRPC_BASE + NODES <= 65535 && HTTP_BASE + NODES <= 65535 )) || die "ports out of range"
(( GRPC_BASE + NODES < HTTP_BASE + 1 || HTTP_BASE + NODES < GRPC_BASE + 1 )) \
    || die "the gRPC and HTTP port ranges overlap (GRPC_BASE=$GRPC_BASE HTTP_BASE=$HTTP_BASE N=$NODES)"

if [[ "${BOXOFFICE_SKIP_BUILD:-0}" != "1" ]]; then
    ensure_build_deps
    log "building release binaries (BOXOFFICE_SKIP_BUILD=1 skips this)"
    (cd "$REPO_ROOT" && cargo build --release -p boxoffice-node -p boxoffice-client) \
        || die "the release build failed"
fi
BIN_DIR="${BOXOFFICE_BIN_DIR:-$CARGO_TARGET_DIR/release}"
BOXOFFICED="$BIN_DIR/boxofficed"
BOXCTL="$BIN_DIR/boxctl"
for bin in "$BOXOFFICED" "$BOXCTL"; do
    [[ -x "$bin" ]] || die "$bin not found; build it (unset BOXOFFICE_SKIP_BUILD) or set BOXOFFICE_BIN_DIR"
done

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Refuse to start over live nodes; clear stale pid files.
for ((i = 1; i <= NODES; i++)); do
    dir="$BOXOFFICE_HOME/node-$i"
    if [[ -f "$dir/pid" ]]; then
        pid="$(cat "$dir/pid")"
        if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            die "node $i is already running (pid $pid, $dir/pid); stop it first with cluster-scripts/stop-local.sh"
        fi
        log "node $i: removing stale pid file (pid $pid is not running)"
        rm -f "$dir/pid"
    fi
    for port in $((GRPC_BASE + i)) $((HTTP_BASE + i)); do
        if port_open "$port"; then
            die "port $port (node $i) is already in use by another process; pick other bases with BOXOFFICE_GRPC_BASE / BOXOFFICE_HTTP_BASE"
        fi
    done
done

ENDPOINTS=""
BOOTSTRAP_ARGS=()
for ((i = 1; i <= NODES; i++)); do
    dir="$BOXOFFICE_HOME/node-$i"
    write_node_env "$i" "$BOXOFFICED"
    ENDPOINTS+="${ENDPOINTS:+,}$NODE_GRPC"
    BOOTSTRAP_ARGS+=(--node "$i=$NODE_GRPC,$NODE_HTTP")
    log "starting node $i: gRPC $NODE_GRPC, HTTP $NODE_HTTP, data $dir"
    nohup "$BOXOFFICED" "${NODE_FLAGS[@]}" >>"$dir/boxofficed.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    disown
done

# Wait for every gRPC port; a node that exits meanwhile fails the start loudly.
deadline=$((SECONDS + 60))
for ((i = 1; i <= NODES; i++)); do
    dir="$BOXOFFICE_HOME/node-$i"
    pid="$(cat "$dir/pid")"
    until port_open $((GRPC_BASE + i)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "node $i (pid $pid) exited; the end of its log:"
            tail -n 30 "$dir/boxofficed.log" >&2 || true
            rm -f "$dir/pid"
            die "node $i did not start (log: $dir/boxofficed.log)"
        fi
        ((SECONDS < deadline)) || die "node $i does not listen on port $((GRPC_BASE + i)) after 60 s (log: $dir/boxofficed.log)"
        sleep 0.2
    done
done
log "all $NODES nodes listen"

export BOXOFFICE_ENDPOINTS="$ENDPOINTS"
set +e
"$BOXCTL" bootstrap "${BOOTSTRAP_ARGS[@]}" --data-groups "$DATA_GROUPS"
rc=$?
set -e
case "$rc" in
    0) log "cluster bootstrapped with $DATA_GROUPS data groups" ;;
    3) log "the cluster was bootstrapped before (restart): nothing to do" ;;
    *) die "bootstrap failed (exit $rc); see the node logs in $BOXOFFICE_HOME/node-*/boxofficed.log" ;;
esac

"$BOXCTL" wait-ready --balanced --timeout-s 60 \
    || die "the cluster did not become ready; see $BOXOFFICE_HOME/node-*/boxofficed.log and cluster-scripts/status.sh"

cat <<DONE

Boxoffice local cluster: $NODES node(s), state in $BOXOFFICE_HOME
  gRPC endpoints:  $ENDPOINTS
    (export BOXOFFICE_ENDPOINTS=$ENDPOINTS for boxctl: $BOXCTL)
  HTTP gateways:   $(for ((i = 1; i <= NODES; i++)); do printf 'http://127.0.0.1:%s ' $((HTTP_BASE + i)); done)
    API keys (Authorization: Bearer <key>): app ${BOXOFFICE_APP_KEY:-dev-app-key}, admin ${BOXOFFICE_ADMIN_KEY:-dev-admin-key}
    API document:  http://127.0.0.1:$((HTTP_BASE + 1))/openapi.json
  logs:            $BOXOFFICE_HOME/node-<i>/boxofficed.log
  status:          BOXOFFICE_HOME=$BOXOFFICE_HOME cluster-scripts/status.sh
  stop:            BOXOFFICE_HOME=$BOXOFFICE_HOME cluster-scripts/stop-local.sh [--wipe]
DONE
