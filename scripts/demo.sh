#!/usr/bin/env bash
# See the whole flow on a machine without RHEL, in one command:
#
#   sudo scripts/demo.sh
#
# It installs what is missing (scripts/testbed.sh install), starts a test bed of its own
# (two registries on 127.0.0.1, busybox and systemd base images), runs `release` (both
# architectures built and pushed at the same time, the manifest list pushed and checked),
# builds the systemd stand-in image and runs it with `run -d` on a loop-device volume
# group, waits with `verify` until its (stand-in) pods are ready, undoes it with `clean`,
# stops the bed, and prints a summary: each step, its time, the list's architectures and
# the pods' verdict. Each step's output is kept in the bed's directory until it is stopped;
# a failing step prints its last lines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run it as root (sudo scripts/demo.sh): the test bed's registries, loop devices and podman storage need it" >&2
  exit 1
fi
bed=$PWD/.testbed-demo
logs=$(mktemp -d)
summary=()
finish() {
  local status=$?
  scripts/testbed.sh down "$bed" >/dev/null 2>&1 || true
  echo
  echo "demo summary"
  printf '  %s\n' "${summary[@]}"
  rm -rf "$logs"
  exit "$status"
}
trap finish EXIT

# step NAME COMMAND...: run it, time it, keep its output; stop at the first failure
step() {
  local name=$1 start end
  shift
  start=$(date +%s.%N)
  if "$@" >"$logs/$name.log" 2>&1; then
    end=$(date +%s.%N)
    summary+=("$(printf '%-10s ok     %6.1fs' "$name" "$(echo "$end - $start" | bc)")")
  else
    end=$(date +%s.%N)
    summary+=("$(printf '%-10s FAILED %6.1fs' "$name" "$(echo "$end - $start" | bc)")")
    echo "demo: $name failed; its last lines:" >&2
    tail -n 25 "$logs/$name.log" >&2
    return 1
  fi
}

step install scripts/testbed.sh install
step bed-up env -u REGISTRY_PASSWORD -u USER_PASSWD scripts/testbed.sh up "$bed"
# shellcheck source=/dev/null
. "$bed/env"
export XTASK_STATE_DIR=$bed/state
step compile cargo build --quiet --locked -p xtask
xtask=$PWD/target/debug/xtask

release() {
  REGISTRY_PASSWORD=$(cat "$TESTBED_PASSWORD_FILE") "$xtask" --json release >"$logs/release.json"
}
step release release
list=$(python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
print("%s holds %s" % (doc["facts"]["reference"], ", ".join(doc["results"]["list-inspect"]["architectures"])))' "$logs/release.json")
summary+=("  manifest list $list")

step build "$xtask" build --image-name demo-microshift --containerfile tests/Containerfile.systemd-test \
  --base-image localhost/xtask-testbed/systemd:latest
# this machine may lack the openvswitch module (a container cannot load its own): run says so
ovs=()
modprobe -n openvswitch >/dev/null 2>&1 || ovs=(--skip-openvswitch)
step run "$xtask" run -d --image-name demo-microshift "${ovs[@]}" --lvm-loop 256M \
  --volume-group xtask-demo-vg --loop-file "$bed/demo-lvm.img"
verify() {
  "$xtask" --json verify --interval 1s --timeout 120s >"$logs/verify.json"
}
step verify verify
verdict=$(python3 -c 'import json, sys
pods = json.load(open(sys.argv[1]))["results"]["pods"]
print("%d of %d pods ready%s" % (pods["ready"], pods["total"], "" if pods["all_ready"] else " (not all)"))' "$logs/verify.json")
summary+=("  pods: $verdict")
step clean "$xtask" clean
