#!/usr/bin/env bash
# Benchmark: a viewer's erasure from an access-log archive in a bucket of a real RADOS Gateway
# (a one-node Ceph cluster, tests/support/ceph-cluster): DAYS days of gzipped nginx logs from two
# edge nodes, LINES lines each, the viewer's address in a few of them. In one run, on two
# identical buckets:
#   gdprctl erase --subject ip:ADDR    (plan, rewrite, rescan, certificate)
#   by hand: s3cmd sync the archive down, zgrep for the address, and for each object holding
#            it zcat | grep -v -w -F | gzip, then s3cmd put it back (no rescan, no proof)
#   tests/bench/s3_erase_person_vs_by_hand.sh [DAYS] [LINES] [BUILD_DIR]   (defaults 90 20000 build)
# Both buckets must end with the same lines, none of them the viewer's ("MISMATCH" and exit 1
# otherwise). Not a test: no timing is asserted anywhere.
set -euo pipefail
days=${1:-90}
lines=${2:-20000}
build=$(cd "${3:-$(dirname "$0")/../../build}" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
. "$source_dir/tests/bench/ceph_bench_cluster.sh"
viewer=198.51.100.7

# The archive: logs/edgeN/access.log-YYYYMMDD.gz; the viewer watched on one day in ten.
python3 - "$work/archive" "$days" "$lines" "$viewer" <<'PY'
import gzip, os, sys
root, days, lines, viewer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for node in (1, 2):
    os.makedirs(os.path.join(root, "edge%d" % node), exist_ok=True)
    for day in range(days):
        name = "access.log-2026%02d%02d.gz" % (9 + day // 30, 1 + day % 30)
        with gzip.open(os.path.join(root, "edge%d" % node, name), "wt", compresslevel=6) as f:
            for n in range(lines):
                ip = viewer if day % 10 == 0 and n % 500 == 0 else "203.0.113.%d" % (n % 250)
                f.write('%s - - [01/Sep/2026:10:%02d:%02d +0000] "GET /hls/t%d/live/index%d.ts HTTP/1.1" 200 51234 '
                        '"-" "Mozilla/5.0 (X11; Linux x86_64)"\n' % (ip, n // 60 % 60, n % 60, n % 4, n))
PY
for bucket in gdprctl byhand; do
  s3cmd_ mb "s3://$bucket" >/dev/null
  s3cmd_ sync -q "$work/archive/" "s3://$bucket/logs/"
done
objects=$(find "$work/archive" -type f | wc -l)
plain_bytes=$(find "$work/archive" -type f -exec zcat {} + | wc -c)

mkdir -p "$work/ws"
cat >"$work/ws/gdprctl.json" <<JSON
{"platform": "bench", "sources": [{"name": "log-archive", "kind": "s3", "endpoint": "$endpoint",
  "bucket": "gdprctl", "prefix": "logs/", "credentials_file": "$cluster/credentials", "category": "usage-data"}]}
JSON
gd() { "$build/gdprctl" --config "$work/ws/gdprctl.json" "$@"; }
gd keys init --key-file "$work/ws/master.key" -q

by_hand() {
  local down="$work/down"
  s3cmd_ sync -q s3://byhand/logs/ "$down/"
  for file in $(cd "$down" && find . -type f | sort); do
    zgrep -q -w -F "$viewer" "$down/$file" || continue
    zcat "$down/$file" | { grep -v -w -F "$viewer" || true; } | gzip -6 >"$down/$file.new"
    s3cmd_ put -q "$down/$file.new" "s3://byhand/logs/${file#./}"
  done
}

timed() { local start=$(date +%s.%N); "$@" >"$work/timed.out" 2>&1 || { cat "$work/timed.out"; echo "failed: $*"; exit 1; }; echo "$(date +%s.%N) - $start" | bc -l; }
t_gdprctl=$(timed gd erase --yes --subject "ip:$viewer")
grep -q "nothing left" "$work/timed.out" || { echo "MISMATCH: gdprctl's rescan found residue"; cat "$work/timed.out"; exit 1; }
t_hand=$(timed by_hand)

mismatch=0
content() { rm -rf "$work/check"; s3cmd_ sync -q "s3://$1/logs/" "$work/check/"; (cd "$work/check" && find . -type f | sort | xargs zcat); }
gd_sum=$(content gdprctl | sha256sum)
hand_sum=$(content byhand | sha256sum)
left=$(content gdprctl | grep -c -w -F "$viewer" || true)
[ "$gd_sum" = "$hand_sum" ] || { echo "MISMATCH: the two buckets hold different lines"; mismatch=1; }
[ "$left" = 0 ] || { echo "MISMATCH: $left of the viewer's lines left"; mismatch=1; }

printf 'archive: %s gzipped objects, %s lines, %s bytes plain; one-node Ceph RADOS Gateway on 127.0.0.1\n' \
  "$objects" "$((objects * lines))" "$plain_bytes"
printf '%-60s %9s\n' "erasure of one viewer's lines" seconds
printf '%-60s %9.2f\n' "gdprctl erase (plan, rewrite, rescan, certificate)" "$t_gdprctl" \
  "by hand: s3cmd sync, zgrep, zcat | grep -v | gzip, s3cmd put" "$t_hand"
printf 'ratio: gdprctl/by-hand %s\n' "$(echo "scale=2; $t_gdprctl / $t_hand" | bc -l)"
exit $mismatch
