#!/usr/bin/env bash
# Runs a libFuzzer binary for a bounded time on a copy of its seed corpus (the corpus it grows
# stays in a temp dir, so the tree is not modified). Usage: run_fuzzer.sh BINARY SEED_DIR SECONDS
set -euo pipefail
binary=$1 seeds=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work"/
cd "$work"
exec "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$work"
