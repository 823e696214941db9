#!/usr/bin/env bash
# Wall time of the build, push and manifest sequence on the test bed: the documented raw
# podman commands against `cargo xtask` (the binary, built beforehand), alternating, several
# rounds, median of each. Prints the ratio xtask/raw; the target is <= 1.10.
#
#   sudo scripts/testbed.sh up && sudo scripts/bench.sh [ROUNDS] [--no-cache]
#
# With --no-cache every build rebuilds every layer (as a first build does); without it,
# the builds hit the layer cache (as a re-run does), which makes the tool's own overhead
# the largest share of the time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-5}
extra=()
case ${2:-} in
  --no-cache) extra=(--no-cache) ;;
  "") ;;
  *) echo "bench: the second argument is --no-cache or nothing" >&2; exit 2 ;;
esac
bed=${XTASK_TESTBED:-$PWD/.testbed}
[ -f "$bed/env" ] || { echo "bench: no test bed at $bed (sudo scripts/testbed.sh up)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$bed/env"
cargo build --quiet --release -p xtask
xtask=$PWD/target/release/xtask

registry=$TESTBED_AUTH_REGISTRY
org=bench/raw
name=bench-raw
password_file=$TESTBED_PASSWORD_FILE
pull_secret=$bed/pull-secret.json
ctx=$PWD/tests/containerfiles
secret_dir=$(mktemp -d)
trap 'rm -rf "$secret_dir"' EXIT
# the raw procedure, too, gets the password as a build secret (a build argument would leak)
(umask 077 && printf '%s' "$USER_PASSWD" >"$secret_dir/passwd")

raw() {
  local arch
  for arch in amd64 arm64; do
    podman build --authfile "$pull_secret" -t "localhost/$name:linux-$arch" --platform "linux/$arch" \
      "${extra[@]}" --build-arg "BASE_IMAGE=localhost/xtask-testbed/base:linux-$arch" \
      --build-arg MICROSHIFT_VERSION=4.16 --secret "id=user-passwd,src=$secret_dir/passwd" \
      -f "$ctx/Containerfile.test" "$ctx"
    podman images "localhost/$name:linux-$arch"
  done
  podman login --username tester --password-stdin "$registry" <"$password_file"
  for arch in amd64 arm64; do
    podman push "localhost/$name:linux-$arch" "$registry/$org/$name:linux-$arch"
  done
  podman manifest rm "localhost/$name:latest" 2>/dev/null || true
  podman manifest create "localhost/$name:latest" \
    "docker://$registry/$org/$name:linux-amd64" "docker://$registry/$org/$name:linux-arm64"
  podman manifest push "localhost/$name:latest" "docker://$registry/$org/$name:latest"
  skopeo --registries-conf "$CONTAINERS_REGISTRIES_CONF" inspect --raw "docker://$registry/$org/$name:latest"
}

tool() {
  local arch
  for arch in amd64 arm64; do
    "$xtask" build --arch "$arch" --image-name bench-xtask "${extra[@]}"
  done
  # one login, as in the raw sequence: the first push logs in (REGISTRY_PASSWORD), the
  # others use the auth file it wrote
  "$xtask" push --arch amd64 --image-name bench-xtask --registry-org bench/xtask
  REGISTRY_PASSWORD='' "$xtask" push --arch arm64 --image-name bench-xtask --registry-org bench/xtask
  REGISTRY_PASSWORD='' "$xtask" manifest --image-name bench-xtask --registry-org bench/xtask
}

seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

median() {
  sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'
}

# warm-up: base images in the page cache, first pushes done
seconds raw >/dev/null || { echo "bench: the raw sequence failed; run it with output: bash -x $0" >&2; raw; }
seconds tool >/dev/null
raw_times=()
tool_times=()
for i in $(seq 1 "$rounds"); do
  raw_times+=("$(seconds raw)")
  tool_times+=("$(seconds tool)")
  echo "round $i: raw ${raw_times[-1]}s, xtask ${tool_times[-1]}s" >&2
done
raw_median=$(printf '%s\n' "${raw_times[@]}" | median)
tool_median=$(printf '%s\n' "${tool_times[@]}" | median)
ratio=$(echo "scale=3; $tool_median / $raw_median" | bc)
echo "bench (${extra[*]:-cached builds}, $rounds rounds): raw podman median ${raw_median}s, cargo xtask median ${tool_median}s, ratio ${ratio}"
