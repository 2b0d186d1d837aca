#!/usr/bin/env bash
# Benchmark: `gdprctl scan` of a generated nginx access log against what a user would otherwise
# run to find the IPs in it: `rg -c` and `grep -cE` with an IPv4 pattern, on the same file, in
# one run, with a warm page cache. Prints MB/s, peak RSS and gdprctl's speed as a ratio of each.
#   tests/bench/scan_vs_grep.sh [SIZE] [BUILD_DIR]     SIZE like 1G (default), 200M
# Not a test: no timing is asserted anywhere. Needs: rg, grep, /usr/bin/time (scripts/bootstrap).
set -euo pipefail
size=${1:-1G}
build=$(cd "${2:-$(dirname "$0")/../../build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
runs=3

. "$(dirname "$0")/access_log.sh"
seed_access_log "$work" "$size" 2000 "$build"
log="$work/logs/access.log"
bytes=$(stat -c %s "$log")
sync                     # a fresh file being written back to disk slows every reader
cat "$log" > /dev/null   # warm the page cache: every tool reads from memory
pattern='[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}'

# Median wall seconds and the largest peak RSS (KiB) of $runs runs of a command.
measure() {
  local times=() rss=0 out
  for _ in $(seq $runs); do
    # Output to a file: GNU grep stops at the first match when it sees /dev/null.
    out=$( { /usr/bin/time -f "%e %M" "$@" >"$work/out"; } 2>&1 | tail -1 )
    times+=("${out% *}")
    [ "${out#* }" -gt "$rss" ] && rss=${out#* }
  done
  printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")" "$rss"
}

read -r t_gdprctl m_gdprctl < <(measure "$build/gdprctl" --config "$work/bench.json" -q scan)
read -r t_rg m_rg < <(measure rg -c "$pattern" "$log")
read -r t_grep m_grep < <(measure env LC_ALL=C grep -cE "$pattern" "$log")

python3 - "$bytes" "$t_gdprctl" "$m_gdprctl" "$t_rg" "$m_rg" "$t_grep" "$m_grep" "$(nproc)" <<'PY'
import sys
b, tg, mg, tr, mr, tp, mp, cores = sys.argv[1:]
b = int(b); tg, tr, tp = (max(float(x), 0.005) for x in (tg, tr, tp))
mb = b / 1e6
print(f"access log: {mb:.0f} MB, {cores} cores, median of 3 runs, warm page cache")
print(f"{'tool':<34}{'seconds':>9}{'MB/s':>9}{'peak RSS MiB':>14}")
for name, t, m in (("gdprctl scan", tg, mg), ("rg -c IPv4-pattern", tr, mr), ("LC_ALL=C grep -cE IPv4-pattern", tp, mp)):
    print(f"{name:<34}{t:>9.2f}{mb / t:>9.0f}{int(m) / 1024:>14.1f}")
print(f"ratio: gdprctl is {tr / tg:.2f}x ripgrep's throughput and {tp / tg:.2f}x grep's")
PY
