#!/usr/bin/env bash
# Benchmark: encrypting and decrypting one file with `gdprctl container` against the tools a
# user would otherwise use, all in one run on the same input:
#   age (X25519 recipient), gpg --symmetric AES256 without compression, restic backup into a
#   fresh local repository (and restic restore), with `openssl speed -evp aes-256-gcm` (16 KiB
#   blocks, one core) as the ceiling and `dd` writing a new file as the file-to-file limit.
# Each tool runs to /dev/null (CPU-bound) and file to file. Peak RSS from /usr/bin/time.
#   tests/bench/crypto_vs_baselines.sh [SIZE] [BUILD_DIR]      (default 1G)
# Not a test: no timing is asserted anywhere.
set -euo pipefail
size=${1:-1G}
build=$(cd "${2:-$(dirname "$0")/../../build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

bytes=$(numfmt --from=iec "$size")
head -c "$bytes" /dev/urandom > input.bin
sync

# run NAME COMMAND...: runs COMMAND three times with a warm cache (writes to new files are
# noisy here) and records "NAME median_seconds max_rss_kib".
runs=${BENCH_RUNS:-3}
run() {
  local name=$1; shift
  local times=() rss_max=0
  for _ in $(seq "$runs"); do
    rm -f ${clean:-}
    cat input.bin > /dev/null
    /usr/bin/time -f "%e %M" -o time.txt "$@" > /dev/null 2> err.txt || { echo "$name failed:"; cat err.txt; exit 1; }
    read -r seconds rss < time.txt
    times+=("$seconds")
    [ "$rss" -gt "$rss_max" ] && rss_max=$rss
    rm -f gdprctl.out age.out gpg.out dd.out
    rm -rf restored
  done
  local median
  median=$(printf "%s\n" "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  echo "$name $median $rss_max" >> results.txt
}
# sh -c wrappers keep redirections inside the timed process.
sh_run() { local name=$1; shift; run "$name" sh -c "$*"; }

"$build/gdprctl" -q keys keygen --out id.key
recipient=$(sed -n 's/^# public: //p' id.key)
age-keygen -o age.key 2> /dev/null
age_recipient=$(sed -n 's/^# public key: //p' age.key)
echo "bench passphrase for gpg and restic" > pass.txt
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg_args="--batch --yes --quiet --pinentry-mode loopback --passphrase-file pass.txt"
export RESTIC_PASSWORD_FILE=$work/pass.txt
restic init -q --repo repo > /dev/null

sh_run dd.write "dd if=input.bin of=dd.out bs=1M 2>/dev/null"
# gdprctl fsyncs a file before renaming it into place (a crash leaves the old file or the
# whole new one); dd with conv=fsync is the same work without the encryption.
sh_run dd.write.fsync "dd if=input.bin of=dd.out bs=1M conv=fsync 2>/dev/null"

sh_run gdprctl.enc.null "$build/gdprctl container encrypt input.bin -o /dev/null -r $recipient -q"
clean=gdprctl.gdpc sh_run gdprctl.enc.file "$build/gdprctl container encrypt input.bin -o gdprctl.gdpc -r $recipient -q"
sh_run gdprctl.dec.null "$build/gdprctl container decrypt gdprctl.gdpc -o /dev/null -i id.key -q"
sh_run gdprctl.dec.file "$build/gdprctl container decrypt gdprctl.gdpc -o gdprctl.out -i id.key -q"
"$build/gdprctl" container decrypt gdprctl.gdpc -o - -i id.key | cmp -s input.bin - && echo "roundtrip: gdprctl ok" || echo "roundtrip: gdprctl FAILED"

sh_run age.enc.null "age -r $age_recipient input.bin > /dev/null"
sh_run age.enc.file "age -r $age_recipient -o age.age input.bin"
sh_run age.dec.null "age -d -i age.key age.age > /dev/null"
sh_run age.dec.file "age -d -i age.key -o age.out age.age"
age -d -i age.key age.age | cmp -s input.bin - && echo "roundtrip: age ok" || echo "roundtrip: age FAILED"
rm -f age.age

sh_run gpg.enc.null "gpg $gpg_args --symmetric --cipher-algo AES256 --compress-algo none -o - input.bin > /dev/null"
sh_run gpg.enc.file "gpg $gpg_args --symmetric --cipher-algo AES256 --compress-algo none -o gpg.gpg input.bin"
sh_run gpg.dec.null "gpg $gpg_args -d -o - gpg.gpg > /dev/null"
sh_run gpg.dec.file "gpg $gpg_args -d -o gpg.out gpg.gpg"
rm -f gpg.gpg

# The first backup into a fresh repository is what a backup of new data costs; later runs
# deduplicate against it, so restic gets one run here.
runs_saved=$runs; runs=1
sh_run restic.enc.file "restic backup -q --repo repo input.bin"
runs=$runs_saved
sh_run restic.dec.file "restic restore -q --repo repo latest --target restored"
rm -rf repo

ceiling=$(openssl speed -evp aes-256-gcm -seconds 2 -bytes 16384 2>/dev/null | awk 'tolower($1) == "aes-256-gcm" {print $2}' | tr -d k)
# Times below the clock's resolution (tiny smoke-test inputs) count as 0.01 s.
get() { awk -v n="$1" '$1 == n {print ($2 > 0 ? $2 : 0.01)}' results.txt; }
mbps() { echo "scale=0; $bytes / 1000000 / $1" | bc -l; }
rss() { awk -v n="$1" '$1 == n {printf "%.1f", $3 / 1024}' results.txt; }

printf "\nInput: %s (%d bytes), %s cores\n\n" "$size" "$bytes" "$(nproc)"
printf "%-20s %10s %10s\n" "job" "MB/s" "RSS MiB"
while read -r name seconds _; do
  printf "%-20s %10s %10s\n" "$name" "$(mbps "$(get "$name")")" "$(rss "$name")"
done < results.txt
printf "%-20s %10.0f %10s\n" "openssl speed 16KiB" "$(echo "$ceiling / 1000" | bc -l)" "-"

ratio() { echo "scale=2; $(get "$2") / $(get "$1")" | bc -l; }
echo
echo "ratio: gdprctl/age encrypt to /dev/null: $(ratio gdprctl.enc.null age.enc.null)x (goal >= 1.8)"
echo "ratio: gdprctl/age decrypt to /dev/null: $(ratio gdprctl.dec.null age.dec.null)x (goal >= 2.5)"
echo "ratio: gdprctl/gpg encrypt to /dev/null: $(ratio gdprctl.enc.null gpg.enc.null)x"
echo "ratio: gdprctl/restic backup file to file: $(ratio gdprctl.enc.file restic.enc.file)x"
echo "ratio: gdprctl encrypt to /dev/null vs openssl 1-core ceiling: $(echo "scale=2; $(mbps "$(get gdprctl.enc.null)") * 1000 / $ceiling" | bc -l)"
echo "ratio: gdprctl decrypt to /dev/null vs openssl 1-core ceiling: $(echo "scale=2; $(mbps "$(get gdprctl.dec.null)") * 1000 / $ceiling" | bc -l)"
echo "ratio: gdprctl encrypt file to file vs dd write: $(ratio gdprctl.enc.file dd.write), vs dd conv=fsync: $(ratio gdprctl.enc.file dd.write.fsync) (goal >= 0.9)"
echo "ratio: gdprctl decrypt file to file vs dd write: $(ratio gdprctl.dec.file dd.write), vs dd conv=fsync: $(ratio gdprctl.dec.file dd.write.fsync) (goal >= 0.9)"
echo "peak RSS MiB: gdprctl encrypt $(rss gdprctl.enc.file), decrypt $(rss gdprctl.dec.file) (goal < 64)"
