#!/usr/bin/env bash
# See the whole flow on a machine without RHEL, in one command:
#
#   sudo scripts/demo.sh
#
# It installs what is missing (scripts/testbed.sh install), starts a test bed of its own
# (two registries on 127.0.0.1, busybox and systemd base images) and shows:
#   day 1: `release` (both architectures built and pushed at the same time, the manifest
#          list pushed and checked), the systemd stand-in image run with `run -d` on a
#          loop-device volume group, `verify` until its (stand-in) pods are ready, `clean`;
#   day 2: three light stand-in devices (TEST FIXTURES of tests/fleet: each an sshd on
#          127.0.0.1 with a stand-in bootc and greenboot, amd64 and arm64; tests/fleet/README
#          says what a real device does differently) installed with release v1; release v2
#          and `upgrade` one device (green, exit 0); release v3, whose health check fails on
#          that device, and `upgrade` (greenboot rolls it back: exit 4, the expected
#          outcome, the failing check named); `status`; then a `rollout` of v2 over the three
#          devices in waves through Ansible (the device already on v2 skipped).
# It stops the bed and prints a summary: each step, its time and verdict; stopped halfway
# (Ctrl-C, a failed step), it runs `clean` first, for what `run` made. Each step's output
# is kept in a temporary directory until the end; a failing step prints its last lines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# before anything is installed or started: sudo leaves rustup's ~/.cargo/bin off root's PATH
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo is not on the PATH ($PATH): sudo leaves out ~/.cargo/bin, where rustup puts it; install the Rust toolchain for root (rustup, as root) and run this again; nothing was installed or started" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run it as root (sudo scripts/demo.sh): the test bed's registries, loop devices and podman storage need it" >&2
  exit 1
fi
bed=$PWD/.testbed-demo
logs=$(mktemp -d)
summary=()
began=$(date +%s.%N)
finish() {
  local status=$?
  # a demo stopped between `run` and `clean` (Ctrl-C, a failed step) leaves no container,
  # volume group, loop device or loop file behind: `clean` undoes what `run` recorded in the
  # bed's state (nothing, when the demo's own `clean` ran), before the bed goes
  if [ -n "${xtask:-}" ] && [ -x "$xtask" ] && [ -n "${XTASK_STATE_DIR:-}" ]; then
    if ! "$xtask" clean >"$logs/finish-clean.log" 2>&1; then
      echo "demo: \`cargo xtask clean\` could not undo what \`run\` made (the volume group xtask-demo-vg, its loop device):" >&2
      tail -n 10 "$logs/finish-clean.log" >&2
    fi
  fi
  scripts/testbed.sh down "$bed" >/dev/null 2>&1 || true
  echo
  echo "demo summary"
  printf '  %s\n' "${summary[@]}"
  printf '  %-10s %s %6.1fs\n' total "$([ "$status" -eq 0 ] && echo 'ok    ' || echo FAILED)" "$(awk -v a="$began" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
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
    summary+=("$(printf '%-10s ok     %6.1fs' "$name" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')")")
  else
    end=$(date +%s.%N)
    summary+=("$(printf '%-10s FAILED %6.1fs' "$name" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')")")
    echo "demo: $name failed; its last lines:" >&2
    tail -n 25 "$logs/$name.log" >&2
    return 1
  fi
}

# expect CODE NAME COMMAND...: a step whose expected outcome is exit CODE (a rollback)
expect() {
  local code=$1 name=$2 start end got=0
  shift 2
  start=$(date +%s.%N)
  "$@" >"$logs/$name.log" 2>&1 || got=$?
  end=$(date +%s.%N)
  if [ "$got" -eq "$code" ]; then
    summary+=("$(printf '%-10s ok     %6.1fs  (exit %s, as expected)' "$name" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$code")")
  else
    summary+=("$(printf '%-10s FAILED %6.1fs  (exit %s, not %s)' "$name" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$got" "$code")")
    echo "demo: $name ended with exit $got, not $code; its last lines:" >&2
    tail -n 25 "$logs/$name.log" >&2
    return 1
  fi
}

# json FILE EXPRESSION: a value of a JSON document (python3: no jq needed here)
json() {
  python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
print(eval(sys.argv[2], {"doc": doc}))' "$1" "$2"
}

install() {
  scripts/testbed.sh install
  # rollout hands the fleet to Ansible (the version scripts/test.sh installs)
  if ! command -v ansible-playbook >/dev/null 2>&1; then
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check 'ansible-core==2.19.14'
  fi
}
step install install
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

# --- day 2 ----------------------------------------------------------------------------
open=$TESTBED_OPEN_REGISTRY
fleet=$bed/demo-fleet
# release VERSION: the OS image list demo-os:latest, pushed to the bed's open registry (the
# light devices read it without credentials); MicroShift's version makes each one another
# image
day2_release() {
  "$xtask" --json release --registry-url "$open" --image-name demo-os \
    --microshift-version "$1" >"$logs/release-$1.json"
}
step release-v1 day2_release 4.16
v1=$(json "$logs/release-4.16.json" 'doc["results"]["list-push"]["digest"]')
# the list's repository (REGISTRY/ORG/demo-os), as release names it
os_ref=$(json "$logs/release-4.16.json" 'doc["facts"]["reference"].rsplit(":", 1)[0]')

# three light devices installed with v1 (one container of the bed's systemd image)
light_devices() {
  rm -rf "$fleet"
  mkdir -p "$fleet/state/devices"
  ssh-keygen -q -t ed25519 -N '' -C demo -f "$fleet/id_ed25519"
  cp "$fleet/id_ed25519.pub" "$fleet/state/authorized_keys"
  local i=0 port arch
  {
    echo "# the demo's light stand-in devices (tests/fleet: test fixtures)"
    echo "[edge]"
  } >"$fleet/hosts.ini"
  for arch in amd64 arm64 amd64; do
    i=$((i + 1))
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$fleet/state/devices/edge-$i/ctl"
    echo "$port" >"$fleet/state/devices/edge-$i/ctl/port"
    echo "$arch" >"$fleet/state/devices/edge-$i/ctl/arch"
    echo "$os_ref@$v1" >"$fleet/state/devices/edge-$i/ctl/installed"
    echo "edge-$i ansible_host=127.0.0.1 ansible_port=$port" >>"$fleet/hosts.ini"
  done
  printf '\n[edge:vars]\nansible_user=redhat\nansible_ssh_private_key_file=%s\n' "$fleet/id_ed25519" >>"$fleet/hosts.ini"
  podman run -d --name demo-light-fleet --init --network host \
    -v "$PWD/tests:/xtask-tests:ro" -v "$fleet/state:/fleet-state" \
    -e "FLEET_INSECURE_REGISTRY=$open" --entrypoint sh \
    localhost/xtask-testbed/systemd:latest /xtask-tests/fleet/fleet >/dev/null
  local tries=0
  until [ -e "$fleet/state/up" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 300 ] || { podman logs --tail 20 demo-light-fleet; return 1; }
    sleep 0.2
  done
}
step devices light_devices
edge1_port=$(cat "$fleet/state/devices/edge-1/ctl/port")
device=(--host "redhat@127.0.0.1:$edge1_port" --ssh-key "$fleet/id_ed25519"
  --known-hosts "$fleet/known_hosts")
summary+=("  3 devices (amd64, arm64, amd64) installed with $os_ref@$v1")

step release-v2 day2_release 4.17
v2=$(json "$logs/release-4.17.json" 'doc["results"]["list-push"]["digest"]')
upgrade_green() {
  "$xtask" --json upgrade "${device[@]}" --image "$os_ref:latest" --interval 1s \
    --timeout 2m >"$logs/upgrade-v2.json"
}
step upgrade upgrade_green
summary+=("  edge-1: $(json "$logs/upgrade-v2.json" 'doc["device"]["verdict"]'), booted $(json "$logs/upgrade-v2.json" 'doc["device"]["after"]["booted_digest"]')")

step release-v3 day2_release 4.18
# v3's health check fails on edge-1: greenboot fails it, the device rolls itself back
json "$logs/release-4.18.json" '"\n".join(m["digest"] for m in doc["results"]["list-inspect"]["manifests"])' \
  >"$fleet/state/devices/edge-1/ctl/red"
upgrade_red() {
  "$xtask" --json upgrade "${device[@]}" --image "$os_ref:latest" --interval 1s \
    --timeout 2m >"$logs/upgrade-v3.json"
}
expect 4 upgrade-red upgrade_red
summary+=("  edge-1: $(json "$logs/upgrade-v3.json" 'doc["device"]["verdict"]'); greenboot: $(grep -o "greenboot's failing checks: [^;]*" "$logs/upgrade-red.log" | head -n 1)")
status() {
  "$xtask" --json status "${device[@]}" --image "$os_ref@$v2" >"$logs/status.json"
}
step status status
summary+=("  edge-1 runs v2 again ($(json "$logs/status.json" 'doc["results"]["bootc"]["booted_digest"]')), its rollback is v3's $(json "$logs/status.json" 'doc["results"]["bootc"]["rollback_digest"]')")

# the fleet: v2, pinned by its list's digest, in waves of 1 and the rest
rollout() {
  "$xtask" --json rollout --inventory "$fleet/hosts.ini" --image "$os_ref@$v2" \
    --known-hosts "$fleet/known_hosts" --waves 1,100% --interval 1s --timeout 2m \
    >"$logs/rollout.json"
}
step rollout rollout
summary+=("  fleet: $(json "$logs/rollout.json" 'doc["fleet"]["said"]')")
