#!/usr/bin/env bash
# The Debian package as an operator gets it: built with cpack from the build tree, unpacked
# into an empty root, its binary run from there (so that it finds the policy pack it ships,
# not the source tree's), its completions loaded, its Depends naming the runtime libraries.
#   tests/package/deb_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAILED: $*"; exit 1; }

(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" > cpack.log 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/out/gdprctl_*_*.deb)
echo "package: $(basename "$deb")"

depends=$(dpkg-deb -f "$deb" Depends)
for library in libarchive13 libpq5 libsqlite3-0 libssl3 libpcre2-8-0; do
  [[ $depends == *"$library"* ]] || fail "Depends lacks $library: $depends"
done

root=$work/root
dpkg-deb -x "$deb" "$root"
for file in usr/bin/gdprctl usr/share/gdprctl/policies/retention.json usr/share/man/man1/gdprctl.1 \
            usr/share/man/man5/gdprctl.json.5 usr/share/bash-completion/completions/gdprctl \
            usr/share/zsh/vendor-completions/_gdprctl usr/share/gdprctl/examples/refstack/register.json \
            usr/share/doc/gdprctl/container/reference.py usr/share/doc/gdprctl/container/plaintext.bin.gdpc \
            usr/share/doc/gdprctl/container/low-order-first.gdpc \
            usr/share/doc/gdprctl/container/passphrase-beside-x25519.gdpc; do
  [ -f "$root/$file" ] || fail "the package has no $file"
done
gdprctl=$root/usr/bin/gdprctl
# Outputs go to files first: grep -q stopping early would fail the pipeline under pipefail.
"$gdprctl" --version > "$work/version.txt"
grep -q '^gdprctl [0-9]' "$work/version.txt" || fail "gdprctl --version"

# check on the reference platform, with the policy pack the package ships: a policy that
# exists only in the unpacked copy shows that the binary reads that one.
"$build/refstack" seed --dir "$work/platform" --seed 5 > /dev/null
config=$work/platform/gdprctl.json
"$gdprctl" --config "$config" -q register import "$root/usr/share/gdprctl/examples/refstack/register.json"
"$gdprctl" --config "$config" check > "$work/check.txt" || { cat "$work/check.txt"; fail "check on the reference platform"; }
python3 - "$root/usr/share/gdprctl/policies/checks.json" <<'PY'
import json, sys
path = sys.argv[1]
pack = json.load(open(path))
policies = pack["policies"] if isinstance(pack, dict) else pack
marker = dict(policies[0])
marker["id"] = "package.shipped-pack-is-read"
policies.append(marker)
json.dump(pack, open(path, "w"))
PY
"$gdprctl" --config "$config" --format json check --list-policies > "$work/policies.json"
grep -q 'package.shipped-pack-is-read' "$work/policies.json" ||
  fail "the packaged binary did not read the policy pack under usr/share/gdprctl/policies"

# The shipped vectors and decoder work from the package alone, as gdprctl-container(5) says.
doc=$root/usr/share/doc/gdprctl/container
python3 "$doc/reference.py" decrypt-key "$doc/plaintext.bin.gdpc" "$(cat "$doc/key.hex")" | cmp - "$doc/plaintext.bin" ||
  fail "the shipped reference decoder does not open the shipped vector"

bash -c "source '$root/usr/share/bash-completion/completions/gdprctl' && complete -p gdprctl" > "$work/complete.txt"
grep -q _gdprctl "$work/complete.txt" ||
  fail "the bash completion does not register"
echo "deb: ok"
