#!/usr/bin/env bash
# Benchmark: listing and deleting OBJECTS objects in a bucket of a real RADOS Gateway (a
# one-node Ceph cluster, tests/support/ceph-cluster), gdprctl against the tools an operator
# would otherwise use, in one run, on three identical buckets (a delete cannot be repeated):
#   list:   gdprctl scan (lists and tallies per tenant)   s3cmd ls -r | wc -l   rclone ls | wc -l
#   delete: gdprctl retention apply (every object is an   s3cmd del -r          rclone delete
#           archived log past its 90 days)
#   tests/bench/s3_list_delete_vs_s3cmd_rclone.sh [OBJECTS] [BUILD_DIR]   (defaults 100000, build)
# Listing times are medians of BENCH_RUNS runs (default 3); each delete runs once. Every tool's
# result is checked: the listings must count OBJECTS, and every bucket must be empty after its
# delete ("MISMATCH" and exit 1 otherwise). Not a test: no timing is asserted anywhere.
set -euo pipefail
objects=${1:-100000}
build=$(cd "${2:-$(dirname "$0")/../../build}" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
runs=${BENCH_RUNS:-3}
. "$source_dir/tests/bench/median_of.sh"
. "$source_dir/tests/bench/ceph_bench_cluster.sh"
now=1795447510                                  # 2026-11-23T15:25:10Z
old=$((now - 120 * 86400))

printf '[ceph]\ntype = s3\nprovider = Ceph\naccess_key_id = %s\nsecret_access_key = %s\nendpoint = %s\n' \
  "$access" "$secret" "$endpoint" >"$work/rclone.conf"
# rclone refuses a CA bundle named in the environment that it cannot load for plain http.
rclone_() { env -u AWS_CA_BUNDLE rclone --config "$work/rclone.conf" "$@"; }

# OBJECTS archived access logs of four tenants, 200 bytes each, uploaded once per bucket.
python3 - "$work/objects" "$objects" "$old" <<'PY'
import os, sys
root, count, old = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line = "203.0.113.%d - - [01/Aug/2026:10:00:00 +0000] \"GET /live/index.m3u8 HTTP/1.1\" 200 512\n"
for tenant in range(4):
    os.makedirs(os.path.join(root, "logs", "t%d" % tenant), exist_ok=True)
for n in range(count):
    with open(os.path.join(root, "logs", "t%d" % (n % 4), "access-%d-%d.log" % (n, old)), "w") as f:
        f.write((line % (n % 250))[:200])
PY
for bucket in gdprctl s3cmd rclone; do
  rclone_ mkdir "ceph:$bucket"
  rclone_ copy --transfers 16 --checkers 16 --s3-no-check-bucket "$work/objects" "ceph:$bucket"
done

cat >"$work/gdprctl.json" <<JSON
{"platform": "bench", "state_dir": "state", "sources": [{"name": "log-archive", "kind": "s3",
  "endpoint": "$endpoint", "bucket": "gdprctl", "prefix": "logs/", "credentials_file": "$cluster/credentials",
  "category": "usage-data", "tenant": {"regex": "^([^/]+)/"},
  "timestamp": {"format": "unix", "regex": "-([0-9]+)\\\\.log\$"}}]}
JSON
gd() { "$build/gdprctl" --config "$work/gdprctl.json" "$@"; }

mismatch=0
check() { # what expected got
  if [ "$2" != "$3" ]; then echo "MISMATCH: $1: expected $2, got $3"; mismatch=1; fi
}
listed_by_gdprctl=$(gd --format json scan | jq '[.sources[].inventory[].records] | add')
check "gdprctl scan" "$objects" "$listed_by_gdprctl"
check "s3cmd ls" "$objects" "$(s3cmd_ ls -r s3://s3cmd/ | wc -l)"
check "rclone ls" "$objects" "$(rclone_ ls ceph:rclone | wc -l)"

t_list_gdprctl=$(median_of "'$build/gdprctl' --config '$work/gdprctl.json' -q scan")
t_list_s3cmd=$(median_of "s3cmd -c '$work/s3cfg' ls -r s3://s3cmd/ | wc -l")
t_list_rclone=$(median_of "env -u AWS_CA_BUNDLE rclone --config '$work/rclone.conf' ls ceph:rclone | wc -l")

timed() { local start=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*"; exit 1; }; echo "$(date +%s.%N) - $start" | bc -l; }
t_del_gdprctl=$(timed gd -q retention apply --force --now $now)
t_del_s3cmd=$(timed s3cmd_ del -r --force s3://s3cmd/)
t_del_rclone=$(timed rclone_ delete --checkers 16 --transfers 16 ceph:rclone)
check "objects left after gdprctl retention apply" 0 "$(s3cmd_ ls -r s3://gdprctl/ | wc -l)"
check "objects left after s3cmd del" 0 "$(s3cmd_ ls -r s3://s3cmd/ | wc -l)"
check "objects left after rclone delete" 0 "$(rclone_ ls ceph:rclone | wc -l)"

ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf 'objects: %s (4 tenants, 200 bytes each), one-node Ceph RADOS Gateway on 127.0.0.1\n' "$objects"
printf '%-8s %-34s %9s\n' "" "tool" "seconds"
printf '%-8s %-34s %9.2f\n' list "gdprctl scan" "$t_list_gdprctl" list "s3cmd ls -r" "$t_list_s3cmd" \
  list "rclone ls" "$t_list_rclone"
printf '%-8s %-34s %9.2f\n' delete "gdprctl retention apply" "$t_del_gdprctl" delete "s3cmd del -r" "$t_del_s3cmd" \
  delete "rclone delete" "$t_del_rclone"
printf 'list:   gdprctl/s3cmd %s   gdprctl/rclone %s\n' "$(ratio "$t_list_gdprctl" "$t_list_s3cmd")" \
  "$(ratio "$t_list_gdprctl" "$t_list_rclone")"
printf 'delete: gdprctl/s3cmd %s   gdprctl/rclone %s\n' "$(ratio "$t_del_gdprctl" "$t_del_s3cmd")" \
  "$(ratio "$t_del_gdprctl" "$t_del_rclone")"
exit $mismatch
