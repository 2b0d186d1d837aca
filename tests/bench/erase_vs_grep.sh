#!/usr/bin/env bash
# Benchmark for verified erasure against what a user would otherwise run, on the same generated
# nginx access log, in one run, with a warm page cache:
#   1. the rescan for 1,000 identifiers (500 IPv4 addresses that occur in the log, 500 e-mail
#      addresses that do not; 30,000 viewers): `gdprctl erase verify` vs `rg -F -w -c -f ids.txt` and
#      `LC_ALL=C grep -F -w -c -f ids.txt`; gdprctl's match count is checked against
#      `rg -F -w -o -f ids.txt | wc -l`.
#   2. erasing one person (one viewer's address) from the log: `gdprctl erase` (plan, rewrite, rescan,
#      signed certificate) vs `grep -v -F -f ids.txt log > new`.
#   tests/bench/erase_vs_grep.sh [SIZE] [BUILD_DIR]     SIZE like 1G (default), 200M
# Not a test: no timing is asserted anywhere. Needs: rg, grep, jq, /usr/bin/time (scripts/bootstrap).
set -euo pipefail
[ -n "${BENCH_TRACE:-}" ] && set -x
size=${1:-1G}
build=$(cd "${2:-$(dirname "$0")/../../build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/access_log.sh"
seed_access_log "$work" "$size" 30000 "$build"
log="$work/logs/access.log"
rm -f "$work"/logs/access.log.*      # one file: the comparison is about one 1 GiB log
bytes=$(stat -c %s "$log")
g() { "$build/gdprctl" --config "$work/bench.json" "$@"; }

# 500 addresses that occur (every 20th of the distinct ones, about 2 % of the lines), 500 e-mail
# addresses that do not: a rescan mostly finds nothing, as after an erasure.
awk '{ print $1 }' "$log" | sort -u | awk 'NR % 20 == 0' | awk 'NR <= 500' > "$work/ips.txt"
seq 1 500 | sed 's/.*/nobody&@absent.example/' > "$work/emails.txt"
cat "$work/ips.txt" "$work/emails.txt" > "$work/ids.txt"
{ sed 's/^/ip:/' "$work/ips.txt"; sed 's/^/email:/' "$work/emails.txt"; } > "$work/gids.txt"
request=$(g --format json erase --yes --subject email:bench@absent.example | jq -r .request)

sync
cat "$log" > /dev/null

# Wall seconds and peak RSS (KiB) of one run; the exit status is not the point (a rescan that
# finds identifiers exits 1).
measure() {
  local out
  out=$( { /usr/bin/time -f "%e %M" "$@" >"$work/out" || true; } 2>&1 | tail -1 )
  echo "$out"
}

read -r t_g m_g < <(measure "$build/gdprctl" --config "$work/bench.json" --format json erase verify --request "$request" --subject-file "$work/gids.txt")
g_matches=$(jq '[.residue[].matches] | add // 0' "$work/out")
read -r t_rg m_rg < <(measure rg -F -w -c -f "$work/ids.txt" "$log")
read -r t_grep m_grep < <(measure env LC_ALL=C grep -F -w -c -f "$work/ids.txt" "$log")
rg_matches=$(rg -F -w -o -f "$work/ids.txt" "$log" | wc -l)

# 2. One person out of the log: a viewer's address (the first of those above; a few hundred lines).
target=$(head -1 "$work/ips.txt")
echo "$target" > "$work/one.txt"
read -r t_grepv m_grepv < <(measure sh -c "LC_ALL=C grep -v -F -f '$work/one.txt' '$log' > '$work/new.log'; sync '$work/new.log'")
# Both start alike: nothing left to write back, the same free space, the log in the page cache.
rm -f "$work/new.log"
sync
read -r t_erase m_erase < <(measure "$build/gdprctl" --config "$work/bench.json" --format json erase --yes --subject "ip:$target")
erased=$(jq '.records' "$work/out")
left=$(grep -c -F -w "$target" "$log" || true)

python3 - "$bytes" "$t_g" "$m_g" "$t_rg" "$m_rg" "$t_grep" "$m_grep" "$g_matches" "$rg_matches" \
          "$t_grepv" "$m_grepv" "$t_erase" "$m_erase" "$erased" "$left" "$(nproc)" <<'PY'
import sys
(b, tg, mg, tr, mr, tp, mp, gm, rm, tv, mv, te, me, erased, left, cores) = sys.argv[1:]
b = int(b); mb = b / 1e6
tg, tr, tp, tv, te = (max(float(x), 0.005) for x in (tg, tr, tp, tv, te))
print(f"access log: {mb:.0f} MB, {cores} cores, one run each, warm page cache")
print(f"{'rescan for 1000 identifiers':<46}{'seconds':>9}{'MB/s':>9}{'peak RSS MiB':>14}")
for name, t, m in (("gdprctl erase verify", tg, mg), ("rg -F -w -c -f ids.txt", tr, mr),
                   ("LC_ALL=C grep -F -w -c -f ids.txt", tp, mp)):
    print(f"{name:<46}{t:>9.2f}{mb / t:>9.0f}{int(m) / 1024:>14.1f}")
print(f"matches: gdprctl {gm}, rg -o {rm}" + ("" if gm == rm else "  MISMATCH"))
print(f"ratio: the rescan is {tr / tg:.2f}x ripgrep's throughput and {tp / tg:.2f}x grep's")
print(f"{'erase one address':<46}{'seconds':>9}{'MB/s':>9}{'peak RSS MiB':>14}")
for name, t, m in (("gdprctl erase (plan, rewrite, rescan, certificate)", te, me),
                   ("grep -v -F -f one.txt > new (+ sync)", tv, mv)):
    print(f"{name:<46}{t:>9.2f}{mb / t:>9.0f}{int(m) / 1024:>14.1f}")
print(f"gdprctl erased {erased} lines; {left} left")
print(f"ratio: gdprctl erase takes {te / tv:.2f}x the time of grep -v")
PY
