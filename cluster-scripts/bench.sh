#!/usr/bin/env bash
# cluster-scripts/bench.sh: runs the same seeded on-sale workloads against Boxoffice, etcd, PostgreSQL and Redis on this machine and renders the comparison.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/bench.sh [--help] [--smoke] [--stores LIST] [--workloads LIST]
                                [--buyers N] [--seed N] [--duration-s S] [--seats-per-hold N|MIN..MAX]
                                [--contention R] [--sweep-buyers LIST] [--docs | --no-docs]
                                [--skip-build] [--keep] [-- EXTRA BOXOFFICE-BENCH RUN ARGS...]

Installs what it needs (etcd-server, postgresql, redis-server, fonts, build deps), builds the release
binaries (boxofficed, boxctl, boxoffice-bench), and for each store and workload in turn starts the
store afresh on loopback with its data in a temporary directory, runs the workload against it with
the same seed and concurrency as every other store, and stops it again:

  boxoffice            a fresh 3-node cluster (start-local.sh, own BOXOFFICE_HOME), gRPC 31081-31083
  etcd                 3 members (etcd 3.4, default fsync), clients 31381-31383
  postgres             PostgreSQL 15, one node, synchronous_commit=on, fsync on, port 31432:
                       optimistic locking (versions)
  postgres-for-update  the same server, SELECT ... FOR UPDATE
  redis                Redis 7, one node, no persistence, port 31379 (an upper bound, not durable)

Every run ends with the invariant check (no oversell, no lost buy, no phantom sale; Boxoffice also
audits every replica); a violation fails the script. Results (JSON) are rendered by
`boxoffice-bench report` into one table and a PNG chart. Everything started is stopped on exit or
Ctrl-C, and the temporary directory is removed.

Options:
  --smoke              every store, every workload, a few seconds each at small sizes (~2 minutes);
                       writes nothing to docs/ unless --docs
  --stores LIST        comma-separated (default: boxoffice,etcd,postgres,postgres-for-update,redis)
  --workloads LIST     comma-separated (default: storm,many-events,expiry-storm)
  --buyers N           concurrent buyers of every run (default 256; smoke 32)
  --seed N             the workloads' seed (default: from the clock; printed)
  --duration-s S       the longest run of storm and many-events (default 60 and 30; smoke 5 and 4)
  --seats-per-hold X   N or MIN..MAX (default: boxoffice-bench's, 1..4)
  --contention R       storm: each seat R times in the request pool (default 2)
  --sweep-buyers LIST  a concurrency sweep: every store and workload at each of these buyer counts
                       (comma-separated, e.g. 1,4,16,64,256,1024) instead of --buyers; the table
                       and chart show each store's rate and hold p99 against the count, its most,
                       and its latency at the fewest buyers reaching half of that (docs: section
                       "Concurrency sweep", docs/benchmarks-sweep.png)
  --docs / --no-docs   write the table into docs/benchmarks.md (section "Against etcd, PostgreSQL
                       and Redis", between markers, replaced by a rerun) and the chart into
                       docs/benchmarks-peers.png (default: --docs for a full run, --no-docs for smoke)
  --skip-build         use the release binaries already in $CARGO_TARGET_DIR/release
  --keep               keep the temporary directory (logs, data, results) instead of removing it
  -- ARGS...           passed to every `boxoffice-bench run`

Environment: CARGO_TARGET_DIR (see lib.sh), BENCH_TMPDIR (parent of the temporary directory,
default /tmp), BENCH_PG_CONNECTIONS_MAX (PostgreSQL pool cap, default 128).
USAGE
}

COMMAND_LINE="cluster-scripts/bench.sh${*:+ $*}"
SMOKE=0
STORES="boxoffice,etcd,postgres,postgres-for-update,redis"
WORKLOADS="storm,many-events,expiry-storm"
BUYERS=""
SEED=""
DURATION=""
SEATS_PER_HOLD=""
CONTENTION=""
SWEEP=""
DOCS=""
SKIP_BUILD=0
KEEP=0
EXTRA=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --smoke) SMOKE=1; shift ;;
        --stores) STORES="${2:?--stores needs a value}"; shift 2 ;;
        --workloads) WORKLOADS="${2:?--workloads needs a value}"; shift 2 ;;
        --buyers) BUYERS="${2:?--buyers needs a value}"; shift 2 ;;
        --seed) SEED="${2:?--seed needs a value}"; shift 2 ;;
        --duration-s) DURATION="${2:?--duration-s needs a value}"; shift 2 ;;
        --seats-per-hold) SEATS_PER_HOLD="${2:?--seats-per-hold needs a value}"; shift 2 ;;
        --contention) CONTENTION="${2:?--contention needs a value}"; shift 2 ;;
        --sweep-buyers) SWEEP="${2:?--sweep-buyers needs a value}"; shift 2 ;;
        --docs) DOCS=1; shift ;;
        --no-docs) DOCS=0; shift ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        --keep) KEEP=1; shift ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

# shellcheck source=cluster-scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

[[ -z "$DOCS" ]] && DOCS=$((1 - SMOKE))
[[ -z "$BUYERS" ]] && BUYERS=$((SMOKE ? 32 : 256))
[[ -z "$SEED" ]] && SEED="$(date +%s)"
for value in "$BUYERS" "$SEED" ${DURATION:+"$DURATION"} ${CONTENTION:+"$CONTENTION"}; do
    [[ "$value" =~ ^[0-9]+$ ]] || die "--buyers, --seed, --duration-s and --contention take numbers (got '$value')"
done
IFS=',' read -r -a STORE_LIST <<<"$STORES"
if [[ -n "$SWEEP" ]]; then
    IFS=',' read -r -a BUYER_LIST <<<"$SWEEP"
    for value in "${BUYER_LIST[@]}"; do
        [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "--sweep-buyers takes buyer counts of at least 1, comma-separated (got '$value')"
    done
else
    BUYER_LIST=("$BUYERS")
fi
IFS=',' read -r -a WORKLOAD_LIST <<<"$WORKLOADS"
for store in "${STORE_LIST[@]}"; do
    case "$store" in
        boxoffice | etcd | postgres | postgres-for-update | redis) ;;
        *) die "unknown store '$store' (see --help)" ;;
    esac
done
for workload in "${WORKLOAD_LIST[@]}"; do
    case "$workload" in
        storm | many-events | expiry-storm) ;;
        *) die "unknown workload '$workload' (see --help)" ;;
    esac
done

GRPC_BASE=31080
HTTP_BASE=32080
ETCD_CLIENT_BASE=31380
ETCD_PEER_BASE=31390
PG_PORT=31432
REDIS_PORT=31379
PG_CONNECTIONS_MAX="${BENCH_PG_CONNECTIONS_MAX:-128}"
PG_BIN=/usr/lib/postgresql/15/bin

ensure_build_deps
ensure_bench_peers
BIN_DIR="$CARGO_TARGET_DIR/release"
if ((SKIP_BUILD == 0)); then
    log "building release binaries (--skip-build skips this)"
    (cd "$REPO_ROOT" && cargo build --release --locked -p boxoffice-node -p boxoffice-client -p boxoffice-bench) \
        || die "the release build failed"
fi
BENCH="$BIN_DIR/boxoffice-bench"
for bin in "$BENCH" "$BIN_DIR/boxofficed" "$BIN_DIR/boxctl"; do
    [[ -x "$bin" ]] || die "$bin not found (build it, or drop --skip-build)"
done

WORK="$(mktemp -d "${BENCH_TMPDIR:-/tmp}/boxoffice-bench.XXXXXX")"
# PostgreSQL runs as user postgres and must reach its data directory.
chmod 755 "$WORK"
RESULTS="$WORK/results"
mkdir -p "$RESULTS"
log "work directory $WORK, seed $SEED, ${SWEEP:+buyers swept over }${BUYER_LIST[*]} buyers"

ETCD_PIDS=()
REDIS_PID=""
PG_STARTED=0
BOXOFFICE_STARTED=0

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_until SECONDS WHAT CMD...: retries CMD until it succeeds, or dies after SECONDS.
wait_until() {
    local seconds="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what not ready after $seconds s (logs in $WORK)"
        sleep 0.2
    done
}

boxoffice_env() {
    env BOXOFFICE_HOME="$WORK/boxoffice" BOXOFFICE_GRPC_BASE="$GRPC_BASE" \
        BOXOFFICE_HTTP_BASE="$HTTP_BASE" BOXOFFICE_SKIP_BUILD=1 BOXOFFICE_BIN_DIR="$BIN_DIR" "$@"
}

start_boxoffice() {
    BOXOFFICE_STARTED=1
    boxoffice_env "$REPO_ROOT/cluster-scripts/start-local.sh" 3 >"$WORK/boxoffice-start.log" 2>&1 \
        || { tail -n 20 "$WORK/boxoffice-start.log" >&2; die "the Boxoffice cluster did not start"; }
    log "boxoffice: 3 nodes on gRPC $((GRPC_BASE + 1))-$((GRPC_BASE + 3))"
}

stop_boxoffice() {
    ((BOXOFFICE_STARTED)) || return 0
    boxoffice_env "$REPO_ROOT/cluster-scripts/stop-local.sh" --wipe >/dev/null 2>&1 || true
    BOXOFFICE_STARTED=0
}

etcd_endpoints() {
    echo "127.0.0.1:$((ETCD_CLIENT_BASE + 1)),127.0.0.1:$((ETCD_CLIENT_BASE + 2)),127.0.0.1:$((ETCD_CLIENT_BASE + 3))"
}

start_etcd() {
    local cluster="" i
    for i in 1 2 3; do
        cluster+="${cluster:+,}m$i=http://127.0.0.1:$((ETCD_PEER_BASE + i))"
    done
    for i in 1 2 3; do
        local client="http://127.0.0.1:$((ETCD_CLIENT_BASE + i))"
        local peer="http://127.0.0.1:$((ETCD_PEER_BASE + i))"
        port_open $((ETCD_CLIENT_BASE + i)) && die "port $((ETCD_CLIENT_BASE + i)) is in use"
        mkdir -p "$WORK/etcd"
        etcd --name "m$i" --data-dir "$WORK/etcd/m$i" \
            --listen-client-urls "$client" --advertise-client-urls "$client" \
            --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
            --initial-cluster "$cluster" --initial-cluster-token boxoffice-bench \
            --initial-cluster-state new --quota-backend-bytes $((8 * 1024 * 1024 * 1024)) \
            >"$WORK/etcd/m$i.log" 2>&1 </dev/null &
        ETCD_PIDS+=("$!")
    done
    wait_until 60 "etcd" env ETCDCTL_API=3 etcdctl --endpoints="$(etcd_endpoints)" endpoint health
    log "etcd: 3 members on $(etcd_endpoints)"
}

stop_etcd() {
    local pid
    for pid in ${ETCD_PIDS[@]+"${ETCD_PIDS[@]}"}; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in ${ETCD_PIDS[@]+"${ETCD_PIDS[@]}"}; do
        wait "$pid" 2>/dev/null || true
    done
    ETCD_PIDS=()
    rm -rf "$WORK/etcd"
}

pg_url() {
    echo "host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
}

start_postgres() {
    port_open "$PG_PORT" && die "port $PG_PORT is in use"
    mkdir -p "$WORK/pg"
    chown postgres: "$WORK/pg"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg/data" --auth=trust -U postgres \
        >"$WORK/pg/initdb.log" 2>&1 || { cat "$WORK/pg/initdb.log" >&2; die "initdb failed"; }
    PG_STARTED=1
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 \
        -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=$((PG_CONNECTIONS_MAX + 20)) -c synchronous_commit=on -c fsync=on -c shared_buffers=1GB -c max_wal_size=4GB" \
        start >/dev/null || { tail -n 20 "$WORK/pg/postgres.log" >&2; die "PostgreSQL did not start"; }
    log "postgres: port $PG_PORT, synchronous_commit=on, max_connections $((PG_CONNECTIONS_MAX + 20))"
}

stop_postgres() {
    ((PG_STARTED)) || return 0
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    PG_STARTED=0
    rm -rf "$WORK/pg"
}

start_redis() {
    port_open "$REDIS_PORT" && die "port $REDIS_PORT is in use"
    mkdir -p "$WORK/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$WORK/redis" --daemonize no >"$WORK/redis/redis.log" 2>&1 </dev/null &
    REDIS_PID=$!
    wait_until 30 "redis" redis-cli -p "$REDIS_PORT" ping
    log "redis: port $REDIS_PORT, no persistence"
}

stop_redis() {
    [[ -n "$REDIS_PID" ]] || return 0
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
    rm -rf "$WORK/redis"
}

stop_all() {
    stop_boxoffice
    stop_etcd
    stop_postgres
    stop_redis
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    # Nothing of ours may be left listening.
    local port leftover=()
    for port in $((GRPC_BASE + 1)) $((GRPC_BASE + 2)) $((GRPC_BASE + 3)) \
        $((ETCD_CLIENT_BASE + 1)) $((ETCD_CLIENT_BASE + 2)) $((ETCD_CLIENT_BASE + 3)) \
        "$PG_PORT" "$REDIS_PORT"; do
        port_open "$port" && leftover+=("$port")
    done
    if ((${#leftover[@]} > 0)); then
        log "warning: still listening after teardown: ports ${leftover[*]}"
        rc=$((rc == 0 ? 1 : rc))
    fi
    if ((KEEP)); then
        log "kept $WORK"
    else
        rm -rf -- "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

start_store() {
    case "$1" in
        boxoffice) start_boxoffice ;;
        etcd) start_etcd ;;
        postgres | postgres-for-update) start_postgres ;;
        redis) start_redis ;;
    esac
}

target_of() {
    case "$1" in
        boxoffice) echo "127.0.0.1:$((GRPC_BASE + 1)),127.0.0.1:$((GRPC_BASE + 2)),127.0.0.1:$((GRPC_BASE + 3))" ;;
        etcd) etcd_endpoints ;;
        postgres | postgres-for-update) pg_url ;;
        redis) echo "redis://127.0.0.1:$REDIS_PORT/" ;;
    esac
}

# workload_args WORKLOAD: the sizes and durations of one workload (smoke or full).
workload_args() {
    local args=()
    case "$1" in
        storm)
            args+=(--duration-s "${DURATION:-$((SMOKE ? 5 : 60))}")
            ((SMOKE)) && args+=(--sections 4 --rows 10 --seats-per-row 25)
            ;;
        many-events)
            args+=(--duration-s "${DURATION:-$((SMOKE ? 4 : 30))}")
            ((SMOKE)) && args+=(--events 20 --sections 2 --rows 5 --seats-per-row 10)
            ;;
        expiry-storm)
            if ((SMOKE)); then
                args+=(--events 2 --sections 2 --rows 10 --seats-per-row 25 --expire-after-s 4
                    --side-buyers 4 --drain-timeout-s 30)
            else
                args+=(--expire-after-s 60 --side-buyers 16 --drain-timeout-s 120)
            fi
            ;;
    esac
    [[ -n "$SEATS_PER_HOLD" ]] && args+=(--seats-per-hold "$SEATS_PER_HOLD")
    [[ -n "$CONTENTION" ]] && args+=(--contention "$CONTENTION")
    printf '%s\n' "${args[@]}"
}

FAILED=()
for store in "${STORE_LIST[@]}"; do
    for workload in "${WORKLOAD_LIST[@]}"; do
        for buyers in "${BUYER_LIST[@]}"; do
            # A fresh store for every run: what one run leaves behind (etcd's history, PostgreSQL's
            # dead rows, Boxoffice's events) must not slow the next.
            start_store "$store"
            mapfile -t args < <(workload_args "$workload")
            log "run: $store / $workload / $buyers buyers"
            set +e
            "$BENCH" run --store "$store" --workload "$workload" --target "$(target_of "$store")" \
                --buyers "$buyers" --seed "$SEED" --pg-connections-max "$PG_CONNECTIONS_MAX" \
                --progress-s "$((SMOKE ? 0 : 5))" "${args[@]}" ${EXTRA[@]+"${EXTRA[@]}"} \
                --json "$RESULTS/$workload-$store-b$buyers.json"
            rc=$?
            set -e
            case "$rc" in
                0) ;;
                1) FAILED+=("$store/$workload/$buyers (invariant violated)") ;;
                *) FAILED+=("$store/$workload/$buyers (error, exit $rc)") ;;
            esac
            stop_all
        done
    done
done

shopt -s nullglob
results=("$RESULTS"/*.json)
((${#results[@]} > 0)) || die "no results"
# A sweep has its own section and chart, so it does not replace the comparison at one concurrency.
if [[ -n "$SWEEP" ]]; then
    KIND=sweep
    REPORT_ARGS=(--sweep)
    HEADING="Concurrency sweep"
    CAPTION="decided holds/s and hold p99 against concurrent buyers"
    WHO="buyers swept over ${SWEEP//,/, } on every store."
else
    KIND=peers
    REPORT_ARGS=()
    HEADING="Against etcd, PostgreSQL and Redis"
    CAPTION="decided holds/s and hold p99 per store"
    WHO="$BUYERS buyers on every store."
fi
TABLE="$WORK/table.md"
PNG="$WORK/benchmarks-$KIND.png"
"$BENCH" report "${results[@]}" ${REPORT_ARGS[@]+"${REPORT_ARGS[@]}"} --markdown "$TABLE" --png "$PNG" || true
cat "$TABLE"

if ((DOCS)); then
    DOC="$REPO_ROOT/docs/benchmarks.md"
    cp "$PNG" "$REPO_ROOT/docs/benchmarks-$KIND.png"
    SECTION="$WORK/section.md"
    {
        echo "<!-- bench-$KIND:start (written by cluster-scripts/bench.sh; a rerun replaces it) -->"
        echo "Measured on $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB of memory, with"
        echo
        echo '```sh'
        echo "$COMMAND_LINE"
        echo '```'
        echo
        echo "Seed $SEED, $WHO"
        echo
        cat "$TABLE"
        echo
        echo "![$CAPTION](benchmarks-$KIND.png)"
        echo "<!-- bench-$KIND:end -->"
    } >"$SECTION"
    if grep -q "<!-- bench-$KIND:start" "$DOC"; then
        awk -v section="$SECTION" -v start="<!-- bench-$KIND:start" -v end="<!-- bench-$KIND:end -->" '
            index($0, start) == 1 { while ((getline line < section) > 0) print line; skipping = 1; next }
            index($0, end) == 1 { skipping = 0; next }
            !skipping { print }
        ' "$DOC" >"$WORK/benchmarks.md"
        cp "$WORK/benchmarks.md" "$DOC"
    else
        {
            echo
            echo "## $HEADING"
            echo
            cat "$SECTION"
        } >>"$DOC"
    fi
    log "wrote the table into docs/benchmarks.md and the chart into docs/benchmarks-$KIND.png"
fi

if ((${#FAILED[@]} > 0)); then
    log "FAILED: ${FAILED[*]}"
    exit 1
fi
log "every run passed its invariant check"
