#!/usr/bin/env bash
# bench/backlog.sh [ROWS] [NAME=VALUE ...] — replicate a backlog of ROWS TaskRun inserts (default 100,000) and report,
# side by side in one run on the same backlog:
#   decode:     how fast this machine's PostgreSQL + our stream reader decode the slot (no ClickHouse at all);
#   end to end: how fast the replicator stores it in ClickHouse and confirms it (rows/s, CPU per row, peak RSS).
# The ratio of the two is the figure to compare across machines; absolute numbers drift on a shared machine.
# NAME=VALUE pairs are passed to the replicator (e.g. RUN_REPLICATION_FLUSH_BATCH_SIZE=1000).
# Needs the services (scripts/services up). Works in its own PostgreSQL and ClickHouse databases, dropped at the end.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
rows=100000
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then rows=$1; shift; fi
eval "$(scripts/services env)"
out="$REPO/artifacts/bench"; mkdir -p "$out"
echo "building (Release)..." >&2
dotnet build -c Release --nologo -v q src/RunsReplication.Host -o "$out/host" >&2
dotnet build -c Release --nologo -v q bench/RunsReplication.Bench -o "$out/bench" >&2

name="bench_$(date +%s)"
admin="$DATABASE_URL"
db_url="${DATABASE_URL%/*}/$name"
psql_admin() { "$PGBIN/psql" "$admin" -v ON_ERROR_STOP=1 -qAt "$@"; }
psql_db() { "$PGBIN/psql" "$db_url" -v ON_ERROR_STOP=1 -qAt "$@"; }
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql_admin -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$name'" >/dev/null 2>&1 || true
  psql_admin -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  curl -s "$RUN_REPLICATION_CLICKHOUSE_URL" --data-binary "DROP DATABASE IF EXISTS $name" >/dev/null || true
}
trap cleanup EXIT

psql_admin -c "CREATE DATABASE $name"
psql_db -f schema/postgres/task_run.sql -f schema/postgres/task_run_replica_identity.sql >/dev/null
psql_db -c "CREATE PUBLICATION ${name}_pub FOR TABLE public.\"TaskRun\" WITH (publish = 'insert, update, delete')"
psql_db -c "SELECT pg_create_logical_replication_slot('${name}_e2e', 'pgoutput')" >/dev/null
psql_db -c "SELECT pg_create_logical_replication_slot('${name}_dec', 'pgoutput')" >/dev/null

echo "writing a backlog of $rows runs (10,000 per transaction)..." >&2
for ((start = 1; start <= rows; start += 10000)); do
  end=$(( start + 9999 < rows ? start + 9999 : rows ))
  psql_db -c "
    INSERT INTO public.\"TaskRun\" (id, \"friendlyId\", \"taskIdentifier\", payload, \"traceId\", \"spanId\", \"runtimeEnvironmentId\",
      \"projectId\", \"organizationId\", \"environmentType\", queue, \"updatedAt\", status, \"runTags\", output, error, \"createdAt\",
      \"startedAt\", \"completedAt\", \"taskVersion\", \"sdkVersion\", \"machinePreset\", \"usageDurationMs\", \"costInCents\")
    SELECT 'run_' || lpad(g::text, 10, '0'), 'run_friendly_' || g, 'my-task', '{\"n\":' || g || ',\"text\":\"some payload text here\"}',
      'trace' || g, 'span' || g, 'env_' || (g % 10), 'proj_1', 'org_1', 'PRODUCTION', 'task/my-task', now(),
      'COMPLETED_SUCCESSFULLY', ARRAY['a', 'b'], '{\"result\":' || g || '}', NULL, now() - (g || ' ms')::interval,
      now() - interval '2 seconds', now(), '20260101.1', '4.0.0', 'small-1x', 1200, 0.01
    FROM generate_series($start, $end) g"
done
target=$(psql_db -c "SELECT pg_current_wal_lsn()")

export DATABASE_URL="$db_url" RUN_REPLICATION_CLICKHOUSE_DATABASE="$name" RUN_REPLICATION_PUBLICATION_NAME="${name}_pub" \
  RUN_REPLICATION_LEADER_LOCK_KEY="$name" RUN_REPLICATION_INSTANCE_ID="$name" RUN_REPLICATION_HTTP_PORT="${BENCH_HTTP_PORT:-9599}"
for kv in "$@"; do export "${kv?}"; done

echo "decode only..." >&2
decode=$(RUN_REPLICATION_SLOT_NAME="${name}_dec" "$out/bench/RunsReplication.Bench" decode "${name}_dec" "$rows")
psql_db -c "SELECT pg_drop_replication_slot('${name}_dec')" >/dev/null

echo "end to end..." >&2
export RUN_REPLICATION_SLOT_NAME="${name}_e2e"
ch_pid=$(scripts/services pid clickhouse)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ch0=$(ticks "$ch_pid")
t0=$EPOCHREALTIME
"$out/host/runs-replication" run > "$out/replicator.log" 2>&1 & pid=$!
rss_samples=()
until [ "$(psql_db -c "SELECT confirmed_flush_lsn >= '$target' FROM pg_replication_slots WHERE slot_name = '${name}_e2e'")" = t ]; do
  kill -0 "$pid" 2>/dev/null || { tail -5 "$out/replicator.log"; echo "the replicator died" >&2; exit 1; }
  rss_samples+=("$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")")
  sleep 0.1
done
t1=$EPOCHREALTIME
# Memory over the run: the highest RSS seen in each quarter of it. Flat memory means the later quarters are no higher
# than the second, however long the backlog.
quarters=$(printf '%s\n' "${rss_samples[@]}" | awk '{ v[NR] = $1 } END {
  for (q = 1; q <= 4; q++) { m = 0; for (i = int((q - 1) * NR / 4) + 1; i <= int(q * NR / 4); i++) if (v[i] > m) m = v[i]; printf "%s%.0f", (q > 1 ? " / " : ""), m / 1024 }
}')
gc_heap=$(curl -s "http://127.0.0.1:${RUN_REPLICATION_HTTP_PORT}/metrics" | awk '/^dotnet_gc_last_collection_heap_size_bytes/ { s += $NF } END { printf "%.0f", s / 1048576 }')
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
cpu_ticks=$(ticks "$pid"); ch_ticks=$(( $(ticks "$ch_pid") - ch0 ))
hz=$(getconf CLK_TCK)
kill -TERM "$pid"; wait "$pid" || true; pid=""
verdict=$("$out/host/runs-replication" verify || true)

awk -v rows="$rows" -v t0="$t0" -v t1="$t1" -v peak="$peak_kb" -v quarters="$quarters" -v gcheap="$gc_heap" -v cpu="$cpu_ticks" -v ch="$ch_ticks" -v hz="$hz" -v decode="$decode" -v verdict="$verdict" 'BEGIN {
  secs = t1 - t0; rate = rows / secs
  split(decode, d, " "); drate = 0
  for (i in d) if (d[i] ~ /\/s,?$/) { v = d[i]; sub(/\/s,?$/, "", v); drate = v }
  printf "backlog:      %d runs inserted in transactions of 10,000\n", rows
  printf "decode only:  %s\n", decode
  printf "end to end:   %d runs stored and confirmed in %.2f s = %.0f runs/s (from process start, incl. ~1 s start-up)\n", rows, secs, rate
  printf "              replicator CPU %.1f us/run, ClickHouse engine CPU %.1f us/run, replicator peak RSS %.0f MiB\n", cpu / hz * 1e6 / rows, ch / hz * 1e6 / rows, peak / 1024
  printf "              RSS by quarter of the run (peak in each): %s MiB; managed heap after the last GC %s MiB\n", quarters, gcheap
  if (drate > 0) printf "ratio:        end to end / decode only = %.2f\n", rate / drate
  printf "verify:       %s\n", verdict
}' | tee "$out/summary.txt"
