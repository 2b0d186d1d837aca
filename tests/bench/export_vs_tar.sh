#!/usr/bin/env bash
# Benchmark: `gdprctl export` of one tenant (ROWS database rows and MEDIA bytes of recordings)
# against what an operator would otherwise run on the same data, in one run:
#   sqlite3 -json of the tenant's rows, then tar czf (or tar --zstd) of the rows and its files.
#   tests/bench/export_vs_tar.sh [ROWS] [MEDIA] [BUILD_DIR] [ROUNDS]   (defaults 1000000 1G build 3)
# Every job runs ROUNDS times, the jobs taking turns, and each figure is the median of its
# rounds: on a 2-core VM one run of the same job varies by 20% with the kernel's write-back,
# more than the differences measured here.
# Not a test: no timing is asserted anywhere.
set -euo pipefail
rows=${1:-1000000}
media=${2:-1G}
build=$(cd "${3:-$(dirname "$0")/../../build}" && pwd)
rounds=${4:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

python3 - platform.db "$rows" <<'PY'
import sqlite3, sys
path, rows = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
db.execute("CREATE TABLE viewer_stats (id INTEGER PRIMARY KEY, tenant_id TEXT, email TEXT, ip TEXT, "
           "ts INTEGER, bitrate INTEGER, player TEXT)")
db.executemany("INSERT INTO viewer_stats (tenant_id, email, ip, ts, bitrate, player) VALUES (?, ?, ?, ?, ?, ?)",
               (("t1", "viewer%d@example.org" % (i % 5000), "100.64.%d.%d" % (i >> 8 & 255, i & 255),
                 1795000000 + i, 2500 + i % 3000, "hls.js 1.5 Chrome/131") for i in range(rows)))
db.commit()
PY
mkdir -p recordings/t1
bytes=$(numfmt --from=iec "$media")
parts=16
for i in $(seq -w 1 $parts); do head -c $((bytes / parts)) /dev/urandom > "recordings/t1/main-20261101-0000$i.flv"; done
cat > gdprctl.json <<JSON
{"platform": "bench", "sources": [
  {"name": "db", "kind": "sqlite", "path": "platform.db",
   "tables": [{"table": "viewer_stats", "category": "streaming-data", "subjects": {"email": "email", "ip": "ip"},
               "tenant": {"column": "tenant_id"}, "timestamp": {"column": "ts", "format": "unix"}}]},
  {"name": "recordings", "kind": "files", "path": "recordings", "category": "recordings",
   "tenant": {"regex": "^([^/]+)/"}}]}
JSON
sync

# time NAME COMMAND: one run, warm cache; records "NAME seconds rss_kib".
# Each job starts from the same state: its input in the page cache, nothing left to write back,
# and a pause, since this VM hands freed memory back to its host after a moment and a job run
# right after another would reuse that job's pages at a fraction of the cost.
measure() {
  local name=$1; shift
  cat recordings/t1/* platform.db > /dev/null
  sync
  sleep "${SETTLE_SECONDS:-3}"
  /usr/bin/time -f "%e %M" -o time.txt sh -c "$*" > /dev/null 2> err.txt || { echo "$name failed:"; cat err.txt; exit 1; }
  echo "$name $(cat time.txt)" >> results.txt
}
baseline_dump="sqlite3 -json platform.db \"SELECT * FROM viewer_stats WHERE tenant_id = 't1'\" > rows.json"
for round in $(seq "$rounds"); do
  measure tar.gz "$baseline_dump && tar czf base.tar.gz rows.json recordings/t1"
  rm -f base.tar.gz rows.json
  measure tar.zst "$baseline_dump && tar --zstd -cf base.tar.zst rows.json recordings/t1"
  rm -f base.tar.zst rows.json
  # gdprctl's archive is on disk (fsync) when it exits; the same guarantee for the baseline:
  measure tar.zst+sync "$baseline_dump && tar --zstd -cf base.tar.zst rows.json recordings/t1 && sync -d base.tar.zst"
  rm -f base.tar.zst rows.json
  for format in zip tar.gz tar.zst; do
    measure "gdprctl.$format" "$build/gdprctl --config gdprctl.json -q export --tenant t1 --format $format --out export.$format"
    if [ "$round" = 1 ]; then
      "$build/gdprctl" --config gdprctl.json -q export verify "export.$format" && echo "verify: $format ok" || echo "verify: $format FAILED"
      ls -l "export.$format" | awk -v f="$format" '{print "size: " f " " $5}'
    fi
    rm -f "export.$format"
  done
done

# median NAME COLUMN: the median of the job's rounds (the lower middle one for an even count).
median() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' results.txt | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
get() { median "$1" 2 | awk '{print ($1 > 0 ? $1 : 0.01)}'; }
rss() { median "$1" 3 | awk '{printf "%.1f", $1 / 1024}'; }
all() { awk -v n="$1" '$1 == n {printf "%s%s", sep, $2; sep = " "}' results.txt; }
printf "\nTenant: %s rows, %s of recordings; median of %s rounds\n\n%-16s %10s %10s   %s\n" \
  "$rows" "$media" "$rounds" "job" "seconds" "RSS MiB" "every round (s)"
awk '!seen[$1]++ {print $1}' results.txt | while read -r name; do
  printf "%-16s %10s %10s   %s\n" "$name" "$(get "$name")" "$(rss "$name")" "$(all "$name")"
done
ratio() { echo "scale=2; $(get "$2") / $(get "$1")" | bc -l; }
echo
echo "ratio: gdprctl zip vs sqlite3 -json + tar czf: $(ratio gdprctl.zip tar.gz)x faster (goal >= 3)"
echo "ratio: gdprctl tar.gz vs sqlite3 -json + tar czf: $(ratio gdprctl.tar.gz tar.gz)x"
echo "ratio: gdprctl tar.zst vs sqlite3 -json + tar --zstd: $(ratio gdprctl.tar.zst tar.zst)x (goal >= 1)"
echo "ratio: gdprctl tar.zst vs sqlite3 -json + tar --zstd + sync: $(ratio gdprctl.tar.zst tar.zst+sync)x (both durable)"
echo "peak RSS MiB: gdprctl zip $(rss gdprctl.zip), tar.gz $(rss gdprctl.tar.gz), tar.zst $(rss gdprctl.tar.zst) (goal < 64)"
