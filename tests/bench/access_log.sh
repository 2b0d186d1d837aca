# Sourced by the benchmarks that work on one nginx access log.
# seed_access_log DIR SIZE VIEWERS BUILD: seeds the reference platform into DIR with SIZE bytes
# of access log from VIEWERS viewers, and writes DIR/bench.json: its config with only the
# access-log source.
seed_access_log() {
  "$4/refstack" seed --dir "$1" --days 1 --tenants 8 --viewers "$3" --log-size "$2" --now 1795447510 >/dev/null
  python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
c = json.load(open(d + "/gdprctl.json"))
c["sources"] = [s for s in c["sources"] if s["name"] == "access-log"]
json.dump(c, open(d + "/bench.json", "w"))
PY
}
