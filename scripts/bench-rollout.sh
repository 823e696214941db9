#!/usr/bin/env bash
# Benchmark of `cargo xtask rollout` (docs/src/fleet-rollout.md): N light stand-in devices
# (tests/fleet: TEST FIXTURES, one container of the test bed's systemd image, each device
# its own sshd on 127.0.0.1; half amd64, half arm64) rolled from one small two-architecture
# release to another, in the default waves (1,10%,100%), with --parallel 1, 5 and N; then the
# same devices by the hand loop over `cargo xtask upgrade` (the documented way without
# rollout). One device's upgrade alone is the unit: the ideal of a rollout is the sum over
# its waves of ceil(wave size / parallel) units (waves x one device's time when --parallel is
# at least the largest wave). Every command's exit code and verdicts are checked: a run that
# fails quietly would make a ratio meaningless. Where the time goes: the CPU each run takes
# on the control node (the tool, Ansible, each upgrade and its ssh; /usr/bin/time) and in
# the devices' container (its cgroup), per device; Ansible's own is the control node's minus
# what the upgrades alone take. Run it when nothing else runs: it measures wall time.
#
# As root, with the test bed up (sudo scripts/testbed.sh up; ansible-core installed, as
# scripts/test.sh does):  sudo scripts/bench-rollout.sh [N]   (default 20)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
n=${1:-20}
bed=${XTASK_TESTBED:-$root/.testbed}
[ -r "$bed/env" ] || { echo "bench-rollout: no test bed at $bed (sudo scripts/testbed.sh up)" >&2; exit 1; }
# shellcheck disable=SC1091
. "$bed/env"
for tool in ansible-playbook ssh ssh-keygen jq skopeo podman python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench-rollout: $tool is missing (scripts/test.sh installs it)" >&2; exit 1; }
done
die() { echo "bench-rollout: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }

cargo build -q --locked -p xtask
xtask=$root/target/debug/xtask
work=$bed/bench-rollout
repo=$TESTBED_OPEN_REGISTRY/bench/rollout/os
container=bench-light-fleet
podman rm -f -t 0 "$container" >/dev/null 2>&1 || true
rm -rf "$work"
mkdir -p "$work/state/devices" "$work/ctx"

# two releases, each a list of two tiny images (the bed's busybox bases and a file)
for v in v1 v2; do
  podman manifest rm "localhost/bench-rollout:$v" >/dev/null 2>&1 || true
  podman manifest create "localhost/bench-rollout:$v" >/dev/null
  for arch in amd64 arm64; do
    echo "$v $(date +%s%N)" >"$work/ctx/version"
    printf 'FROM localhost/xtask-testbed/base:linux-%s\nCOPY version /version\nLABEL org.opencontainers.image.version=%s\n' "$arch" "$v" >"$work/ctx/Containerfile"
    podman build -q --arch "$arch" -t "localhost/bench-rollout-$arch:$v" "$work/ctx" >/dev/null
    podman manifest add "localhost/bench-rollout:$v" "containers-storage:localhost/bench-rollout-$arch:$v" >/dev/null
  done
  podman manifest push -q --all "localhost/bench-rollout:$v" "docker://$repo:$v"
done
digest() { skopeo --registries-conf "$CONTAINERS_REGISTRIES_CONF" inspect --raw "docker://$repo:$1" | python3 -c 'import hashlib,sys; print("sha256:" + hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'; }
v1="$repo@$(digest v1)"
v2="$repo@$(digest v2)"

# the devices, installed with v1
ssh-keygen -q -t ed25519 -N '' -C bench -f "$work/id_ed25519"
cp "$work/id_ed25519.pub" "$work/state/authorized_keys"
ports=$(python3 -c "
import socket
socks = [socket.socket() for _ in range($n)]
for s in socks: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in socks))")
inventory=$work/hosts.ini
{
  echo "# the light stand-in devices of tests/fleet (test fixtures)"
  echo "[edge]"
  i=0
  for port in $ports; do
    i=$((i + 1))
    name=$(printf 'edge-%02d' "$i")
    arch=amd64
    [ $((i % 2)) -eq 0 ] && arch=arm64
    mkdir -p "$work/state/devices/$name/ctl"
    echo "$port" >"$work/state/devices/$name/ctl/port"
    echo "$arch" >"$work/state/devices/$name/ctl/arch"
    echo "$repo:v1" >"$work/state/devices/$name/ctl/installed"
    echo "$name ansible_host=127.0.0.1 ansible_port=$port"
  done
  printf '\n[edge:vars]\nansible_user=redhat\nansible_ssh_private_key_file=%s\n' "$work/id_ed25519"
} >"$inventory"
podman run -d --name "$container" --init --network host \
  -v "$root/tests:/xtask-tests:ro" -v "$work/state:/fleet-state" \
  -e "FLEET_INSECURE_REGISTRY=$TESTBED_OPEN_REGISTRY" \
  --entrypoint sh localhost/xtask-testbed/systemd:latest /xtask-tests/fleet/fleet >/dev/null
trap 'podman rm -f -t 0 "$container" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 600); do [ -e "$work/state/up" ] && break; sleep 0.1; done
[ -e "$work/state/up" ] || die "the light devices did not come up: $(podman logs --tail 20 "$container")"
kh=$work/known_hosts
first_port=${ports%% *}
# the CPU seconds the devices' container has used so far (cgroup v1 or v2)
cgroup=$(podman inspect -f '{{.State.CgroupPath}}' "$container")
device_cpu() {
  if [ -r "/sys/fs/cgroup/cpuacct$cgroup/cpuacct.usage" ]; then
    python3 -c "print($(cat "/sys/fs/cgroup/cpuacct$cgroup/cpuacct.usage") / 1e9)"
  else
    python3 -c "print($(sed -n 's/^usage_usec //p' "/sys/fs/cgroup$cgroup/cpu.stat") / 1e6)"
  fi
}
# the control node's CPU seconds of a command and what it started (user + system)
timed() { # FILE COMMAND...
  local out=$1
  shift
  /usr/bin/time -o "$out" -f '%U %S' "$@"
}
cpu_of() { awk '{print $1 + $2}' "$1"; }

# one device's upgrade alone (there and back), the unit
upgrade_one() { # PORT IMAGE
  timed "$work/one.time" "$xtask" --json upgrade --host "redhat@127.0.0.1:$1" --ssh-key "$work/id_ed25519" \
    --known-hosts "$kh" --image "$2" --timeout 5m >"$work/one.json" 2>"$work/one.log" ||
    die "upgrade of one device: exit $? ($(tail -3 "$work/one.log"))"
  [ "$(jq -r .device.verdict "$work/one.json")" = upgraded ] || die "upgrade of one device: $(jq -c .device.verdict "$work/one.json")"
  one_cpu=$(python3 -c "print(${one_cpu:-0} + $(cpu_of "$work/one.time"))")
}
one_cpu=0
d0=$(device_cpu)
t0=$(now)
upgrade_one "$first_port" "$v2"
upgrade_one "$first_port" "$v1"
t2=$(now)
unit=$(python3 -c "print(f'{(($t2) - ($t0)) / 2:.1f}')")
unit_cpu=$(python3 -c "print(f'{$one_cpu / 2:.2f}')")
unit_device_cpu=$(python3 -c "print(f'{($(device_cpu) - $d0) / 2:.2f}')")

# a rollout to IMAGE with --parallel P: every device upgraded, exit 0
rollout() { # P IMAGE: "WALL CONTROL-CPU DEVICE-CPU"
  local p=$1 image=$2 start end d
  d=$(device_cpu)
  start=$(now)
  timed "$work/rollout-$p.time" "$xtask" --json rollout --inventory "$inventory" --image "$image" \
    --parallel "$p" --known-hosts "$kh" --timeout 10m >"$work/rollout-$p.json" 2>"$work/rollout-$p.log" ||
    die "rollout --parallel $p: exit $? ($(tail -5 "$work/rollout-$p.log"))"
  end=$(now)
  local upgraded
  upgraded=$(jq -r .fleet.counts.upgraded "$work/rollout-$p.json")
  [ "$upgraded" = "$n" ] || die "rollout --parallel $p: $upgraded of $n upgraded"
  echo "$(secs "$start" "$end") $(cpu_of "$work/rollout-$p.time") $(python3 -c "print($(device_cpu) - $d)")"
}
# the waves (the default 1,10%,100%), as the report says them
waves=$(python3 -c "
n = $n; sizes = []; left = n
for s in ['1', '10%', '100%'] + ['100%'] * n:
    if left == 0: break
    k = int(int(s[:-1]) / 100.0 * n) or 1 if s.endswith('%') else int(s)
    k = min(k, left); sizes.append(k); left -= k
print(' '.join(map(str, sizes)))")
declare -A wall
wall[1]=$(rollout 1 "$v2")
wall[5]=$(rollout 5 "$v1")
wall[$n]=$(rollout "$n" "$v2")

# the hand loop: one upgrade after the other
one_cpu=0
d=$(device_cpu)
start=$(now)
for port in $ports; do upgrade_one "$port" "$v1"; done
end=$(now)
hand="$(secs "$start" "$end") $one_cpu $(python3 -c "print($(device_cpu) - $d)")"

echo
echo "bench-rollout: $n light devices (half amd64, half arm64), waves ${waves// /, }; one device's upgrade alone: ${unit}s, of CPU ${unit_cpu}s on the control node and ${unit_device_cpu}s in the device"
python3 - "$n" "$unit" "$unit_cpu" "$waves" "1 ${wall[1]}" "5 ${wall[5]}" "$n ${wall[$n]}" "hand $hand" <<'PY'
import math, sys
n, unit, unit_cpu = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
waves = [int(w) for w in sys.argv[4].split()]
print(f"{'run':<24} {'wall s':>7} {'ideal s':>8} {'ratio':>6} {'over/dev s':>10} {'CPU/dev: node':>14} {'ansible':>8} {'device':>7}")
walls = {}
for arg in sys.argv[5:]:
    p, wall, cpu, dev = arg.split()
    wall, cpu, dev = float(wall), float(cpu), float(dev)
    if p == "hand":
        label, ideal, ansible = "hand loop over upgrade", n * unit, "-"
    else:
        label = f"rollout --parallel {p}"
        ideal = sum(math.ceil(w / int(p)) for w in waves) * unit
        ansible = f"{(cpu - n * unit_cpu) / n:.2f}"
    walls[p] = wall
    print(f"{label:<24} {wall:>7.1f} {ideal:>8.1f} {wall / ideal:>6.2f} {(wall - ideal) / n:>10.2f} {cpu / n:>14.2f} {ansible:>8} {dev / n:>7.2f}")
print(f"rollout --parallel {n} against the hand loop: {walls['hand'] / walls[str(n)]:.1f}x faster")
PY
