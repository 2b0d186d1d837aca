#!/usr/bin/env bash
# Benchmark: `gdprctl retention apply` against what an operator would otherwise run, on
# identical copies of the same data, in one run:
#   1. SQLite, ROWS rows with half expired:  sqlite3 "DELETE ... WHERE ts < X"
#   2. FILES files with half expired (mtime): find DIR -type f -mtime +90 -delete
#   3. an nginx access log of LOG bytes, 40 % of its lines expired: awk with the same cut-off
#      writing a new file
#   tests/bench/retention_vs_baselines.sh [ROWS] [FILES] [LOG] [BUILD_DIR]   (defaults 2000000 200000 1G)
# Not a test: no timing is asserted anywhere.
set -euo pipefail
rows=${1:-2000000}
files=${2:-200000}
log=${3:-1G}
build=$(cd "${4:-$(dirname "$0")/../../build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now=1795447510                 # 2026-11-23T15:25:10Z
cutoff=$((now - 90 * 86400))

seconds() { local start=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $start" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }

# --- 1. SQLite -----------------------------------------------------------------------------
mkdir -p "$work/sql"
python3 - "$work/sql/a.db" "$rows" "$cutoff" <<'PY'
import sqlite3, sys
path, rows, cutoff = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(path)
db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, tenant_id TEXT, ip TEXT, ts INTEGER)")
# Half the rows before the cut-off, half after, interleaved as real inserts would be.
db.executemany("INSERT INTO events (tenant_id, ip, ts) VALUES (?, ?, ?)",
               (("t%d" % (i % 8), "100.64.%d.%d" % (i >> 8 & 255, i & 255),
                 cutoff - 1 - i % 86400 if i % 2 else cutoff + i % 86400) for i in range(rows)))
db.execute("CREATE INDEX events_ts ON events(ts)")
db.commit()
PY
cp "$work/sql/a.db" "$work/sql/b.db"
cat > "$work/sql/gdprctl.json" <<JSON
{"platform": "bench", "sources": [{"name": "db", "kind": "sqlite", "path": "a.db",
  "tables": [{"table": "events", "category": "usage-data", "subjects": {"ip": "ip"},
              "tenant": {"column": "tenant_id"}, "timestamp": {"column": "ts", "format": "unix"}}]}]}
JSON
sync
t_sql=$(seconds "$build/gdprctl" --config "$work/sql/gdprctl.json" -q retention apply --force --now $now)
t_sqlite3=$(seconds sqlite3 "$work/sql/b.db" "DELETE FROM events WHERE ts < $cutoff")
left_a=$(sqlite3 "$work/sql/a.db" "SELECT count(*) FROM events")
left_b=$(sqlite3 "$work/sql/b.db" "SELECT count(*) FROM events")
rm -rf "$work/sql"

# --- 2. Files ------------------------------------------------------------------------------
python3 - "$work/files" "$files" "$now" <<'PY'
import os, sys
root, count, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
made = set()
for copy in ("a", "b"):
    for i in range(count):
        d = os.path.join(root, copy, "t%d" % (i % 8), "%03d" % (i // 1000 % 1000))
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        p = os.path.join(d, "rec%d.flv" % i)
        with open(p, "wb") as f: f.write(b"FLV")
        t = now - (100 if i % 2 else 10) * 86400
        os.utime(p, (t, t))
PY
mkdir -p "$work/policies"
cat > "$work/policies/bench.json" <<JSON
{"id": "bench.recordings-90d", "kind": "retention", "rationale": "benchmark", "article": "Art. 5(1)(e)",
 "categories": ["recordings"], "max_age_days": 90, "action": "delete"}
JSON
cat > "$work/files/gdprctl.json" <<JSON
{"platform": "bench", "sources": [{"name": "media", "kind": "files", "path": "a", "category": "recordings",
  "tenant": {"regex": "^([^/]+)/"}, "timestamp": {"format": "mtime"}}]}
JSON
sync
# find -mtime counts days back from *now*; the files were dated relative to $now, which is the past.
age_days=$(( ( $(date +%s) - now ) / 86400 + 90 ))
t_files=$(seconds "$build/gdprctl" --config "$work/files/gdprctl.json" -q retention apply --force --now $now --policies "$work/policies")
t_find=$(seconds find "$work/files/b" -type f -mtime +$age_days -delete)
left_fa=$(find "$work/files/a" -type f | wc -l)
left_fb=$(find "$work/files/b" -type f | wc -l)
rm -rf "$work/files"

# --- 3. A 1 GiB access log, 40 % expired ----------------------------------------------------
"$build/refstack" seed --dir "$work/log" --days 1 --tenants 8 --viewers 2000 --log-size "$log" --now $now >/dev/null
day_start=$(( now / 86400 * 86400 ))
log_cut=$(( day_start + 86400 * 4 / 10 ))
python3 - "$work/log" <<'PY'
import json, sys
d = sys.argv[1]
c = json.load(open(d + "/gdprctl.json"))
c["sources"] = [s for s in c["sources"] if s["name"] == "access-log"]
json.dump(c, open(d + "/gdprctl.json", "w"))
PY
cp "$work/log/logs/access.log" "$work/log/baseline.log"
sync
cat "$work/log/logs/access.log" "$work/log/baseline.log" >/dev/null
t_log=$(seconds "$build/gdprctl" --config "$work/log/gdprctl.json" -q retention apply --force --now $(( log_cut + 90 * 86400 )))
cut_hms=$(( log_cut - day_start ))
t_awk=$(seconds sh -c "awk -v cut=$cut_hms '{ split(\$4, a, \":\"); if (a[2] * 3600 + a[3] * 60 + a[4] >= cut || NF < 4) print }' '$work/log/baseline.log' > '$work/log/baseline.new'")
lines_a=$(wc -l < "$work/log/logs/access.log")
lines_b=$(wc -l < "$work/log/baseline.new")
log_bytes=$(stat -c %s "$work/log/baseline.log")

printf '%-58s %9s %9s %7s\n' "job" "gdprctl" "baseline" "ratio"
printf '%-58s %8.2fs %8.2fs %6sx\n' "SQLite: $rows rows, half expired (vs sqlite3 DELETE)" "$t_sql" "$t_sqlite3" "$(ratio "$t_sql" "$t_sqlite3")"
printf '%-58s %8.2fs %8.2fs %6sx\n' "files: $files, half expired (vs find -mtime -delete)" "$t_files" "$t_find" "$(ratio "$t_files" "$t_find")"
printf '%-58s %8.2fs %8.2fs %6sx\n' "log: $((log_bytes / 1000000)) MB, 40 % expired (vs awk to a new file)" "$t_log" "$t_awk" "$(ratio "$t_log" "$t_awk")"
echo "rows left: gdprctl $left_a, sqlite3 $left_b; files left: gdprctl $left_fa, find $left_fb; log lines left: gdprctl $lines_a, awk $lines_b"
echo "ratio = gdprctl time / baseline time (below 1: gdprctl is faster)"
