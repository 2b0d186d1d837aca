# Sourced by the S3 benchmarks: starts a one-node Ceph cluster (tests/support/ceph-cluster) in a
# temporary directory that is removed, with the cluster stopped, when the script exits. Sets
# work, cluster, endpoint, access, secret, host, writes $work/s3cfg and defines s3cmd_.
work=$(mktemp -d)
cluster="$work/ceph"
trap '"$source_dir/tests/support/ceph-cluster" stop "$cluster"; rm -rf "$work"' EXIT
"$source_dir/tests/support/ceph-cluster" start "$cluster" >/dev/null
endpoint=$(cat "$cluster/endpoint")
access=$(awk '/^access_key_id/ {print $3}' "$cluster/credentials")
secret=$(awk '/^secret_access_key/ {print $3}' "$cluster/credentials")
host=${endpoint#http://}
printf '[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\nsignature_v2 = False\n' \
  "$access" "$secret" "$host" "$host" >"$work/s3cfg"
s3cmd_() { s3cmd -c "$work/s3cfg" "$@"; }
