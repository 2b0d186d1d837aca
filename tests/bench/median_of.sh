# Sourced by the benchmarks: median_of COMMAND prints the median wall time, in seconds, of
# $runs runs of COMMAND (bash -c), warm cache; a failing run prints the command and its output
# and stops the benchmark.
median_of() {
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    bash -c "$1" > /dev/null 2>&1 || { echo "failed: $1"; bash -c "$1"; exit 1; }
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  printf "%.3f\n" "$(printf "%s\n" "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")"
}
