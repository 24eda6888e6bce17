#!/usr/bin/env bash
# cluster-scripts/backup-check.sh: a backup/restore round trip of a live local cluster under a steady on-sale, with the scripts an SRE uses.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster-scripts/backup-check.sh [--help] [--buyers B] [--seconds S]

Starts a separate 3-node cluster (BOXOFFICE_HOME=/tmp/boxoffice-backup-source, gRPC ports
23081-23083, HTTP 24081-24083, release build), creates a 20,000-seat stadium and runs
`boxctl onsale` with B buyers (default 16) for S seconds (default 15). A third of the way in,
backup.sh backs the cluster up into /tmp/boxoffice-backup-check/backup while the buyers buy.

Then it checks: the backup finished while the on-sale ran; every order the buyers were told
about is there (missing_orders = 0, nothing unresolved); restore.sh builds a new cluster from the
backup (BOXOFFICE_HOME=/tmp/boxoffice-backup-restored, ports 25081-25083 and 26081-26083) whose
every replica's data hash equals the backup's (checked before it starts; see restore.sh) and
which passes the audit; and the restored cluster sells on (a 5 s on-sale, no missing order). It
reports the backup's duration and size, and the failed-request rate and longest pause of the
on-sale the backup ran in. Stops and wipes both clusters at the end. Exit status 0 only if every
check passed.
USAGE
}

BUYERS=16
SECONDS_N=15
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --buyers) BUYERS="${2:?--buyers needs a value}"; shift 2 ;;
        --seconds) SECONDS_N="${2:?--seconds needs a value}"; shift 2 ;;
        *) echo "backup-check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$BUYERS" =~ ^[1-9][0-9]*$ ]] || { echo "backup-check.sh: --buyers must be a positive number" >&2; exit 2; }
[[ "$SECONDS_N" =~ ^[1-9][0-9]*$ && "$SECONDS_N" -ge 6 ]] || { echo "backup-check.sh: --seconds must be a number of at least 6" >&2; exit 2; }

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
BOXCTL="${BOXOFFICE_BIN_DIR:-$CARGO_TARGET_DIR/release}/boxctl"
SCRIPTS="$REPO_ROOT/cluster-scripts"
SOURCE_HOME=/tmp/boxoffice-backup-source
RESTORED_HOME=/tmp/boxoffice-backup-restored
WORK=/tmp/boxoffice-backup-check
BACKUP="$WORK/backup"

# wipe: stops both clusters and deletes their state and the backup (this script's own, only).
wipe() {
    BOXOFFICE_HOME="$SOURCE_HOME" "$SCRIPTS/stop-local.sh" --wipe >/dev/null 2>&1 || true
    BOXOFFICE_HOME="$RESTORED_HOME" "$SCRIPTS/stop-local.sh" --wipe >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
wipe
mkdir -p "$WORK"
trap wipe EXIT

export BOXOFFICE_HOME="$SOURCE_HOME" BOXOFFICE_GRPC_BASE=23080 BOXOFFICE_HTTP_BASE=24080
export BOXOFFICE_ENDPOINTS=127.0.0.1:23081,127.0.0.1:23082,127.0.0.1:23083
"$SCRIPTS/start-local.sh" 3
"$BOXCTL" create-stadium --event backup --sections 20 --rows 20 --seats 50 --ga 0

log "on-sale: $BUYERS buyers for $SECONDS_N s, a backup a third of the way in"
"$BOXCTL" --json onsale --event backup --buyers "$BUYERS" --duration-s "$SECONDS_N" \
    --seats-per-hold 1..4 --abandon-pct 20 --report-every-s 0 --seed 13 >"$WORK/onsale.json" &
ONSALE=$!
started=$SECONDS
sleep $((SECONDS_N / 3))
backup_from=$((SECONDS - started))
"$SCRIPTS/backup.sh" "$BACKUP"
backup_to=$((SECONDS - started))
kill -0 "$ONSALE" 2>/dev/null \
    || die "the on-sale ended before the backup did (${backup_to} s): nothing was checked under load; raise --seconds"
log "backup done ${backup_from}-${backup_to} s into the on-sale; waiting for the on-sale to end"
wait "$ONSALE" || die "boxctl onsale failed"

python3 - "$WORK/onsale.json" "$BACKUP/manifest.json" "$backup_from" "$backup_to" <<'PY'
import json, sys
r, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
count = lambda v: sum(count(x) for x in v.values()) if isinstance(v, dict) else int(v)
rejected = count(r["rejections"])
errors, indeterminate = count(r["errors"]), count(r["indeterminate"])
commands = r["holds"] + r["buys"] + rejected + errors + indeterminate
failed = errors + indeterminate
print(f"backup:           {len(m['groups'])} groups, {sum(g['bytes'] for g in m['groups'])} bytes in {m['took_ms']} ms "
      f"({sys.argv[3]}-{sys.argv[4]} s into the on-sale)")
print(f"on-sale:          {r['holds']} holds, {r['buys']} buys, {r['tickets_sold']} tickets in {r['duration_s']:.1f} s")
print(f"failed requests:  {failed} of {commands} ({100.0 * failed / max(commands, 1):.3f}%): {errors} errors, {indeterminate} indeterminate")
print(f"longest pause:    {r['longest_pause_ms']} ms (from {r['longest_pause_from_s']:.1f} s)")
print(f"orders read back: {r['acknowledged_orders']} acknowledged, {r['missing_orders']} missing, {count(r['unresolved'])} unresolved")
sys.exit(1 if r["missing_orders"] or count(r["unresolved"]) else 0)
PY
"$SCRIPTS/backup.sh" "$BACKUP" >/dev/null 2>&1 || die "backup.sh into a complete backup should do nothing and succeed"
"$SCRIPTS/stop-local.sh"

export BOXOFFICE_HOME="$RESTORED_HOME" BOXOFFICE_GRPC_BASE=25080 BOXOFFICE_HTTP_BASE=26080
export BOXOFFICE_ENDPOINTS=127.0.0.1:25081,127.0.0.1:25082,127.0.0.1:25083
"$SCRIPTS/restore.sh" "$BACKUP"
"$SCRIPTS/restore.sh" "$BACKUP" >/dev/null 2>&1 && die "restore.sh over a running restored cluster was not refused"

log "the restored cluster sells on"
"$BOXCTL" --json onsale --event backup --buyers 4 --duration-s 5 --report-every-s 0 --seed 14 >"$WORK/after.json" \
    || die "boxctl onsale on the restored cluster failed"
python3 - "$WORK/after.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"restored cluster: {r['holds']} holds, {r['buys']} buys, {r['missing_orders']} missing orders")
sys.exit(1 if r["buys"] == 0 or r["missing_orders"] else 0)
PY
"$BOXCTL" audit >/dev/null || die "the restored cluster's audit failed after selling on"
log "backup check passed"
