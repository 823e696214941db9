#!/usr/bin/env bash
# Wall time of a two-architecture release on the test bed: the documented raw commands run
# one after the other (build, images, build, images, login, push, push, manifest list,
# manifest push, inspect) against `cargo xtask release` (the release binary), alternating,
# several rounds, medians of each.
#
#   sudo scripts/testbed.sh up && sudo scripts/bench.sh [ROUNDS]
#
# Two cases:
#   rebuilt  every layer built again (--no-cache), as a first release: target <= 0.75
#   re-run   nothing changed (builds from the layer cache; the tool may skip what the
#            registry already holds): target <= 1.00
#
# The baseline proves it did the whole work: every raw command's exit status is checked
# (and the pushed list must hold exactly amd64 and arm64), and the bench stops when either
# side fails. The raw side uses the workaround the tool uses for podman 4.3, whose
# `manifest create` cannot authenticate: create the list, then `manifest add --authfile`.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-5}
bed=${XTASK_TESTBED:-$PWD/.testbed}
[ -f "$bed/env" ] || { echo "bench: no test bed at $bed (sudo scripts/testbed.sh up)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$bed/env"
cargo build --quiet --release -p xtask
xtask=$PWD/target/release/xtask

registry=$TESTBED_AUTH_REGISTRY
password_file=$TESTBED_PASSWORD_FILE
pull_secret=$bed/pull-secret.json
auth=$REGISTRY_AUTH_FILE
ctx=$PWD/tests/containerfiles
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the raw procedure, too, gets the password as a build secret (a build argument would leak)
(umask 077 && printf '%s' "$USER_PASSWD" >"$work/passwd")
export XTASK_STATE_DIR=$work/state
log=$work/log

# one raw command; its failure stops the sequence, with its output
step() {
  if ! "$@" >>"$log" 2>&1; then
    echo "bench: the raw sequence failed at: $*" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
}

raw() {
  local name=bench-raw org=bench/raw arch
  : >"$log"
  for arch in amd64 arm64; do
    step podman build --authfile "$pull_secret" -t "localhost/$name:linux-$arch" --platform "linux/$arch" \
      "${extra[@]}" --build-arg "BASE_IMAGE=localhost/xtask-testbed/base:linux-$arch" \
      --build-arg MICROSHIFT_VERSION=4.16 --secret "id=user-passwd,src=$work/passwd" \
      -f "$ctx/Containerfile.test" "$ctx"
    step podman images "localhost/$name:linux-$arch"
  done
  step podman login --authfile "$auth" --username tester --password-stdin "$registry" <"$password_file"
  for arch in amd64 arm64; do
    step podman push --authfile "$auth" "localhost/$name:linux-$arch" "$registry/$org/$name:linux-$arch"
  done
  if podman manifest exists "localhost/$name:latest"; then
    step podman manifest rm "localhost/$name:latest"
  fi
  step podman manifest create "localhost/$name:latest"
  for arch in amd64 arm64; do
    step podman manifest add --authfile "$auth" "localhost/$name:latest" "docker://$registry/$org/$name:linux-$arch"
  done
  step podman manifest push --all --authfile "$auth" "localhost/$name:latest" "docker://$registry/$org/$name:latest"
  if ! skopeo --registries-conf "$CONTAINERS_REGISTRIES_CONF" inspect --raw --authfile "$auth" \
    "docker://$registry/$org/$name:latest" >"$work/list.json" 2>>"$log"; then
    echo "bench: the raw sequence failed at: skopeo inspect" >&2
    return 1
  fi
  python3 -c 'import json, sys
archs = sorted(m["platform"]["architecture"] for m in json.load(open(sys.argv[1]))["manifests"])
sys.exit(0 if archs == ["amd64", "arm64"] else "bench: the raw list holds %s" % archs)' "$work/list.json"
}

tool() {
  : >"$log"
  if ! REGISTRY_PASSWORD=$(cat "$password_file") "$xtask" release --image-name bench-xtask \
    --registry-org bench/xtask "${extra[@]}" >>"$log" 2>&1; then
    echo "bench: cargo xtask release failed" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
}

seconds() {
  local start end
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

# dangling images from earlier rounds slow every podman command (with ~800 images,
# `podman images` takes seconds): remove them before each timed run, outside the timing
prune() {
  podman image prune -f >/dev/null 2>&1 || true
}

median() {
  sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'
}

# one case: warm-up (page cache, first pushes), then alternating rounds
measure() {
  local label=$1 raw_times=() tool_times=() t i
  prune
  seconds raw >/dev/null || exit 1
  seconds tool >/dev/null || exit 1
  for i in $(seq 1 "$rounds"); do
    prune
    t=$(seconds raw) || exit 1
    raw_times+=("$t")
    prune
    t=$(seconds tool) || exit 1
    tool_times+=("$t")
    echo "$label round $i: raw ${raw_times[-1]}s, release ${tool_times[-1]}s" >&2
  done
  local raw_median tool_median
  raw_median=$(printf '%s\n' "${raw_times[@]}" | median)
  tool_median=$(printf '%s\n' "${tool_times[@]}" | median)
  echo "bench $label ($rounds rounds): raw median ${raw_median}s, release median ${tool_median}s, ratio $(echo "scale=3; $tool_median / $raw_median" | bc)"
}

extra=(--no-cache)
measure rebuilt
extra=()
measure re-run
