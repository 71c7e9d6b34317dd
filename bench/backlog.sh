#!/bin/bash
# End-to-end backlog benchmark (perf_ names only; shared services are left alone).
# usage: bench/backlog.sh NAME ROWS [--decode] [env assignments...]
#   Deletes the previous perf_bulk_* runs and inserts ROWS new ones (~2*ROWS changes once warmed up) while a fresh
#   slot holds the WAL, then starts the replicator (built in /tmp/perf-rr) and times it until the slot's
#   confirmed_flush_lsn reaches the WAL position after the insert. Prints elapsed, changes/s, replicator CPU
#   (µs/change), chDB front CPU (µs/change, shared process: other users may add noise) and peak RSS.
#   --decode first reads a second slot with the same backlog through `bench decode` (/tmp/perf-bench) for comparison.
set -e
here=$(cd "$(dirname "$0")" && pwd)
eval "$(/work/main/scripts/services env)"
name=$1; rows=$2; shift 2
decode=0; if [ "$1" = --decode ]; then decode=1; shift; fi
slot=perf_$name
export RUN_REPLICATION_SLOT_NAME=$slot RUN_REPLICATION_HTTP_PORT=${PERF_PORT:-9571} RUN_REPLICATION_INSTANCE_ID=perf-$name \
  RUN_REPLICATION_CLICKHOUSE_DATABASE=perf_$name RUN_REPLICATION_LEADER_LOCK_KEY=perf-$name \
  RUN_REPLICATION_PUBLICATION_NAME=perf_pub
for kv in "$@"; do export "$kv"; done
psql() { $PGBIN/psql "$DATABASE_URL" "$@"; }
psql -qAtc "DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname='perf_pub') THEN CREATE PUBLICATION perf_pub FOR TABLE public.\"TaskRun\" WITH (publish='insert, update, delete'); END IF; END\$\$" >/dev/null
cleanup() { [ -n "$pid" ] && kill -TERM $pid 2>/dev/null; for s in $slot ${slot}_dec; do psql -qAtc "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name='$s' and not active" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
psql -qAtc "select pg_create_logical_replication_slot('$slot','pgoutput')" >/dev/null
[ $decode = 1 ] && psql -qAtc "select pg_create_logical_replication_slot('${slot}_dec','pgoutput')" >/dev/null
deleted=$(psql -qAtc "WITH d AS (DELETE FROM \"TaskRun\" WHERE id LIKE 'perf_bulk_%' RETURNING 1) SELECT count(*) FROM d")
sed -e "s/100000/$rows/" -e "s/'bulk_'/'perf_bulk_'/" -e "s/'friendly_'/'perf_friendly_'/" "$here/bulk.sql" | psql -q -v ON_ERROR_STOP=1
target=$(psql -Atc "select pg_current_wal_lsn()")
changes=$((deleted + rows))
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
if [ $decode = 1 ]; then
  /tmp/perf-bench/RunsReplication.Bench decode ${slot}_dec $changes
  psql -qAtc "select pg_drop_replication_slot('${slot}_dec')"
fi
chdb=$(pgrep -f 'chdb-http-server --host 127.0.0.1 --port 58123' | head -1)
chdb0=$(ticks $chdb)
start=$(date +%s.%N)
DOTNET_PerfMapEnabled=${PERF:-0} DOTNET_EnableWriteXorExecute=${PERF:+0}${PERF:-1} /tmp/perf-rr/runs-replication run > /tmp/perf-bench-$name.log 2>&1 & pid=$!
[ -n "$PERF" ] && { perf record -F 499 -p $pid -o /tmp/perf-$name.data >/dev/null 2>&1 & perfpid=$!; }
while true; do c=$(psql -Atc "select confirmed_flush_lsn >= '$target' from pg_replication_slots where slot_name='$slot'"); [ "$c" = t ] && break; kill -0 $pid || { tail /tmp/perf-bench-$name.log; exit 1; }; sleep 0.2; done
end=$(date +%s.%N)
[ -n "$perfpid" ] && { kill -INT $perfpid; wait $perfpid || true; }
rt=$(ticks $pid); ct=$(( $(ticks $chdb) - chdb0 )); hwm=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true; pid=
echo "$name: $changes changes in $(printf %.2f $(echo "$end - $start" | bc))s = $(echo "$changes / ($end - $start)" | bc)/s; replicator cpu $(echo "scale=1; $rt*10000/$changes" | bc) us/change ($(echo "scale=2; $rt/100" | bc)s), chdb $(echo "scale=1; $ct*10000/$changes" | bc) us/change, peak RSS $((hwm/1024)) MB"
