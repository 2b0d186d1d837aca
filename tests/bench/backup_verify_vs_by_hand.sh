#!/usr/bin/env bash
# Benchmark: `gdprctl backup verify` (every chunk authenticated, the archive's SHA-256, size and
# per-dataset counts held to the manifest) against what an operator would otherwise run to
# check one backup by hand, in one run on the same file:
#   gdprctl container decrypt -o - | sha256sum      (digest only: what verify did before)
#   gdprctl container decrypt -o - | tar -t         (the archive read through, as verify now reads it)
#   reference.py decrypt-keystore | sha256sum       (the independent decoder, with the state database)
# The reference platform is seeded with LOG_SIZE of access log; the largest tenant's backup is used.
#   tests/bench/backup_verify_vs_by_hand.sh [LOG_SIZE] [BUILD_DIR]     (default 600M)
# Not a test: no timing is asserted anywhere.
set -euo pipefail
log_size=${1:-600M}
build=$(cd "${2:-$(dirname "$0")/../../build}" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/refstack" seed --dir "$work" --seed 5 --log-size "$log_size" > /dev/null
gdprctl() { "$build/gdprctl" --config "$work/gdprctl.json" "$@"; }
gdprctl keys init --key-file "$work/master.key" -q
gdprctl backup create --all -q
backup=$(ls -S "$work"/backups/*/*.gdpb | head -1)
echo "backup: $(basename "$(dirname "$backup")") $(du -h "$backup" | cut -f1)"

runs=${BENCH_RUNS:-5}
# shellcheck source=median_of.sh
source "$source_dir/tests/bench/median_of.sh"

cat "$backup" > /dev/null
g="'$build/gdprctl' --config '$work/gdprctl.json'"
verify=$(median_of "$g backup verify '$backup'")
digest=$(median_of "$g container decrypt '$backup' -o - | sha256sum")
listing=$(median_of "$g container decrypt '$backup' -o - | tar -t")
# The reference decoder holds the whole file in memory and runs once: it is the independent
# check of the documented format, not a tool anyone runs for speed.
reference=$(runs=1 median_of "python3 '$source_dir/tests/data/container/reference.py' decrypt-keystore '$backup' \
  '$work/.gdprctl/state.db' '$work/master.key' | sha256sum")

printf "%-44s %8s s\n" "gdprctl backup verify" "$verify" "decrypt | sha256sum" "$digest" \
  "decrypt | tar -t" "$listing" "reference.py decrypt-keystore | sha256sum" "$reference"
ratio() { printf "%.2f" "$(echo "$1 / $2" | bc -l)"; }
echo "ratio: gdprctl backup verify takes $(ratio "$verify" "$digest")x the time of decrypt | sha256sum," \
  "$(ratio "$verify" "$listing")x of decrypt | tar -t, $(ratio "$verify" "$reference")x of the reference decoder"
