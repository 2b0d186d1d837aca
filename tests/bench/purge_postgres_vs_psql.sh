#!/usr/bin/env bash
# Benchmark: `gdprctl retention apply` on a PostgreSQL table against the bare statement an
# operator would otherwise run, on two identical databases of one server, in one run:
#   ROWS rows, half of them expired (90-day rule), an index on the time column;
#   1. a plain table: gdprctl (batched deletes, each its own transaction, resumable) vs
#      psql -c "DELETE FROM events WHERE ts < X" (one transaction);
#   2. the same rows in a table partitioned by range on the time column, the expired half in
#      its own partition: gdprctl (drops the partition) vs the same DELETE, and vs
#      psql -c "DROP TABLE events_old".
#   tests/bench/purge_postgres_vs_psql.sh [ROWS] [BUILD_DIR]     (defaults 2000000)
# Starts its own server (Debian's postgresql) on a free loopback port and stops it at the end.
# Not a test: no timing is asserted anywhere.
set -euo pipefail
rows=${1:-2000000}
build=$(cd "${2:-$(dirname "$0")/../../build}" && pwd)
work=$(mktemp -d)
chmod 755 "$work"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop() { as_server "$bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap stop EXIT
now=1795447510                 # 2026-11-23T15:25:10Z
cutoff=$((now - 90 * 86400))

echo bench-secret > "$work/password"
[ "$(id -u)" = 0 ] && chown -R postgres "$work"
as_server "$bin/initdb" -D "$work/data" -U gdprctl -A scram-sha-256 --pwfile="$work/password" -N >/dev/null
as_server "$bin/pg_ctl" -D "$work/data" -w -l "$work/server.log" \
  -o "-p $port -h 127.0.0.1 -k $work -c shared_buffers=256MB -c max_wal_size=4GB" start >/dev/null
export PGPASSWORD=bench-secret
sql() { psql -q -X -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=gdprctl dbname=$1" -c "$2"; }
value() { psql -q -X -At "host=127.0.0.1 port=$port user=gdprctl dbname=$1" -c "$2"; }

for db in a b c d e; do
  sql postgres "CREATE DATABASE $db"
  case $db in
    a|b) table="CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id text, ip text, ts bigint)" ;;
    *) table="CREATE TABLE events (id bigserial, tenant_id text, ip text, ts bigint) PARTITION BY RANGE (ts);
              CREATE TABLE events_old PARTITION OF events FOR VALUES FROM (MINVALUE) TO ($cutoff);
              CREATE TABLE events_new PARTITION OF events FOR VALUES FROM ($cutoff) TO (MAXVALUE)" ;;
  esac
  # Half the rows before the cut-off, half after, interleaved as real inserts would be.
  sql $db "$table;
           INSERT INTO events (tenant_id, ip, ts)
             SELECT 't' || (i % 8), '100.64.' || (i >> 8 & 255) || '.' || (i & 255),
                    CASE WHEN i % 2 = 1 THEN $cutoff - 1 - i % 86400 ELSE $cutoff + i % 86400 END
             FROM generate_series(0, $rows - 1) AS i;
           CREATE INDEX events_ts ON events(ts);"
  sql $db "VACUUM ANALYZE events"
done
sql postgres "CHECKPOINT"

echo "$PGPASSWORD" > "$work/gdprctl-password"
for db in a c; do
  cat > "$work/gdprctl-$db.json" <<JSON
{"platform": "bench", "sources": [{"name": "db", "kind": "postgres",
  "connection": "host=127.0.0.1 port=$port user=gdprctl dbname=$db", "password_file": "gdprctl-password",
  "tables": [{"table": "events", "category": "usage-data", "subjects": {"ip": "ip"},
              "tenant": {"column": "tenant_id"}, "timestamp": {"column": "ts", "format": "unix"}}]}]}
JSON
done
unset PGPASSWORD

seconds() { local start=$(date +%s.%N); "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }; echo "$(date +%s.%N) - $start" | bc -l; }
t_gdprctl=$(seconds "$build/gdprctl" --config "$work/gdprctl-a.json" -q retention apply --force --now $now)
plan_c=$("$build/gdprctl" --config "$work/gdprctl-c.json" retention plan --now $now | grep -c "drop partition" || true)
t_gdprctl_part=$(seconds "$build/gdprctl" --config "$work/gdprctl-c.json" -q retention apply --force --now $now)
export PGPASSWORD=bench-secret
t_psql=$(seconds sql b "DELETE FROM events WHERE ts < $cutoff")
t_psql_part=$(seconds sql d "DELETE FROM events WHERE ts < $cutoff")
t_drop=$(seconds sql e "DROP TABLE events_old")
left_a=$(value a "SELECT count(*) FROM events")
left_b=$(value b "SELECT count(*) FROM events")
left_c=$(value c "SELECT count(*) FROM events")
left_d=$(value d "SELECT count(*) FROM events")
left_e=$(value e "SELECT count(*) FROM events")

printf "\nPostgreSQL %s, %s rows, half expired, index on ts\n\n" "$("$bin/postgres" --version | awk '{print $3}')" "$rows"
echo "1. a plain table"
printf "%-60s %8.2f s  %s rows left\n" "gdprctl retention apply (batches of 50,000)" "$t_gdprctl" "$left_a"
printf "%-60s %8.2f s  %s rows left\n" "psql -c \"DELETE FROM events WHERE ts < X\"" "$t_psql" "$left_b"
echo "2. partitioned by range on ts, the expired half in one partition (gdprctl planned $plan_c partition drop)"
printf "%-60s %8.2f s  %s rows left\n" "gdprctl retention apply (drops the partition)" "$t_gdprctl_part" "$left_c"
printf "%-60s %8.2f s  %s rows left\n" "psql -c \"DELETE FROM events WHERE ts < X\"" "$t_psql_part" "$left_d"
printf "%-60s %8.2f s  %s rows left\n" "psql -c \"DROP TABLE events_old\"" "$t_drop" "$left_e"
echo "ratio: gdprctl takes $(echo "scale=2; $t_gdprctl / $t_psql" | bc -l)x the time of the bare DELETE (plain table)"
echo "ratio: gdprctl by partition drop takes $(echo "scale=2; $t_gdprctl_part / $t_psql_part" | bc -l)x the time of the DELETE and $(echo "scale=2; $t_gdprctl_part / $t_drop" | bc -l)x the time of the bare DROP TABLE"
for left in "$left_b" "$left_c" "$left_d" "$left_e"; do
  [ "$left_a" = "$left" ] || { echo "MISMATCH: the purges left different rows"; exit 1; }
done
[ "$plan_c" = 1 ] || { echo "MISMATCH: gdprctl did not plan the partition drop"; exit 1; }
