#!/usr/bin/env bash
# Benchmark: `gdprctl breach assess` of a breach reaching two tenants' access logs (the inventory
# of the source, and the distinct addresses in the tenants' lines) against counting the same by
# hand, in one run on the same files:
#   zcat -f | grep -c, then grep -oE | sort -u | wc -l   (per tenant: lines, then addresses)
#   tests/data/breach/count_access_log.py                (the independent count the tests use)
# Both by-hand counts must equal gdprctl's (MISMATCH otherwise).
#   tests/bench/breach_assess_vs_by_hand.sh [LOG_SIZE] [BUILD_DIR]     (default 600M)
# Not a test: no timing is asserted anywhere.
set -euo pipefail
log_size=${1:-600M}
build=$(cd "${2:-$(dirname "$0")/../../build}" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/refstack" seed --dir "$work" --seed 5 --log-size "$log_size" > /dev/null
gdprctl() { "$build/gdprctl" --config "$work/gdprctl.json" "$@"; }
gdprctl register import "$source_dir/examples/refstack/register.json" -q
breach=$(gdprctl --format json breach open --aware-at 2026-11-23T08:00:00Z --now 2026-11-23T09:00:00Z \
  --summary "access-log archive exposed" --tenant acme --tenant bluebird | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
echo "access logs: $(du -ch "$work"/logs/access.log* | tail -1 | cut -f1) (rotated ones gzipped)"

runs=${BENCH_RUNS:-5}
# shellcheck source=median_of.sh
source "$source_dir/tests/bench/median_of.sh"

assess="'$build/gdprctl' --config '$work/gdprctl.json' breach assess $breach --source access-log \
  --consequences c --measures m --risk risk --now 2026-11-23T10:00:00Z"
# What an operator types: per tenant, its lines, then the distinct IPv4 addresses in them.
by_grep="for t in acme bluebird; do zcat -f '$work'/logs/access.log* | grep -a -c \"\\\"[A-Z]* /hls/\$t/\"; \
  zcat -f '$work'/logs/access.log* | grep -a \"\\\"[A-Z]* /hls/\$t/\" | grep -oE '\\b([0-9]{1,3}\\.){3}[0-9]{1,3}\\b' \
  | sort -u | wc -l; done"
by_python="python3 '$source_dir/tests/data/breach/count_access_log.py' '$work' acme bluebird"

cat "$work"/logs/access.log* > /dev/null
assess_time=$(median_of "$assess")
grep_time=$(median_of "$by_grep")
python_time=$(median_of "$by_python")

# The counts, once more, compared.
gdprctl --format json breach show "$breach" > "$work/breach.json"
bash -c "$by_grep" > "$work/grep.txt"
bash -c "$by_python" > "$work/python.json"
python3 - "$work" << 'PY'
import json, sys
work = sys.argv[1]
assessed = {a["tenant"]: a for a in json.load(open(work + "/breach.json"))["assessment"]["affected"]}
grep = [int(x) for x in open(work + "/grep.txt").read().split()]
python = json.load(open(work + "/python.json"))
for i, tenant in enumerate(["acme", "bluebird"]):
    mine = assessed[tenant]
    lines, addresses = mine["records_per_category"].get("usage-data", 0), mine["identifiers_per_kind"].get("ip", 0)
    ok = lines == grep[2 * i] == python[tenant]["lines"] and addresses == python[tenant]["addresses"]
    # grep's pattern finds IPv4 only: it may count fewer addresses where viewers came over IPv6.
    ok = ok and grep[2 * i + 1] <= addresses
    print(f"{tenant}: {lines} lines, {addresses} addresses (grep {grep[2 * i]}/{grep[2 * i + 1]}, "
          f"python {python[tenant]['lines']}/{python[tenant]['addresses']}){'' if ok else '  MISMATCH'}")
PY

printf "%-52s %8s s\n" "gdprctl breach assess (2 tenants, access-log)" "$assess_time" \
  "zcat | grep -c; grep -oE | sort -u | wc -l (per tenant)" "$grep_time" \
  "count_access_log.py (both tenants, one pass)" "$python_time"
ratio() { printf "%.2f" "$(echo "$1 / $2" | bc -l)"; }
echo "ratio: gdprctl breach assess takes $(ratio "$assess_time" "$grep_time")x the time of the grep pipeline," \
  "$(ratio "$assess_time" "$python_time")x of the Python count"
