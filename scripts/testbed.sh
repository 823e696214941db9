#!/usr/bin/env bash
# A self-contained test bed for `cargo xtask`: no RHEL subscription, no internet registry.
#
#   scripts/testbed.sh install        install the packages it needs (apt-get or dnf; root)
#   scripts/testbed.sh up [DIR]       set it up (idempotent); prints how to use it
#   scripts/testbed.sh down [DIR]     stop what it started (by pid) and remove what it made
#   scripts/testbed.sh status [DIR]   what is running
#   scripts/testbed.sh stop-registry open|auth [DIR]    (fault tests)
#   scripts/testbed.sh start-registry open|auth [DIR]
#
# DIR defaults to .testbed at the repository root. Everything lives there:
#   - podman's own storage, containers.conf and registries.conf (the user's container
#     storage and credentials are never touched);
#   - two registries (Debian's docker-registry) on 127.0.0.1: an open one and one with
#     htpasswd auth (user `tester`, a random password);
#   - base images localhost/xtask-testbed/base:linux-amd64 and :linux-arm64, imported from a
#     busybox rootfs (arm64 runs through qemu-user-static and binfmt_misc), and
#     localhost/xtask-testbed/systemd (debootstrap + systemd-sysv, with skopeo and jq for
#     the embedded-images tests, openssh-server and sudo for the stand-in device) for
#     `run`, `verify` and the device lifecycle;
#   - a config file for `cargo xtask` (XTASK_CONFIG) and an env file to source.
#
# Use: sudo scripts/testbed.sh up && . .testbed/env && cargo xtask build --arch arm64
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port_base=${TESTBED_PORT_BASE:-5100}

die() { echo "testbed: $*" >&2; exit 1; }
say() { echo "testbed: $*" >&2; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 $*)"
}

bed_dir() {
  local d=${1:-$repo/.testbed}
  mkdir -p "$d"
  (cd "$d" && pwd)
}

# --- install ---------------------------------------------------------------------------

install_packages() {
  need_root install
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    # arm64 package lists, for the arm64 busybox of the base image
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
      dpkg --add-architecture arm64
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends \
      podman runc conmon skopeo uidmap fuse-overlayfs slirp4netns \
      containernetworking-plugins iptables catatonit \
      docker-registry apache2-utils \
      qemu-user-static binfmt-support busybox-static kmod \
      lvm2 debootstrap virtinst libvirt-clients cpio xorriso qemu-utils shellcheck python3-pip ca-certificates \
      jq openssh-client openssh-server gnupg curl openssl
  elif command -v dnf >/dev/null 2>&1; then
    # Fedora / RHEL (written for them; the project's CI runs on Debian)
    dnf install -y podman runc skopeo docker-distribution httpd-tools \
      qemu-user-static busybox lvm2 virt-install libvirt-client cpio xorriso qemu-img ShellCheck python3-pip \
      jq openssh-clients openssh-server gnupg2 curl openssl
  else
    die "neither apt-get nor dnf found: install podman, skopeo, a docker registry, htpasswd and qemu-user-static by hand"
  fi
}

# --- pieces ------------------------------------------------------------------------------

write_podman_config() {
  local d=$1
  mkdir -p "$d/storage" "$d/run" "$d/tmp"
  cat >"$d/containers.conf" <<EOF
# containers.conf(5) of the test bed: runc (crun refuses hybrid cgroups here), low ulimits
# (root may lack CAP_SYS_RESOURCE), no systemd.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
image_copy_tmp_dir = "$d/tmp"
EOF
  cat >"$d/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$d/storage"
runroot = "$d/run"
EOF
  cat >"$d/registries.conf" <<EOF
# The loopback registries speak plain HTTP.
unqualified-search-registries = []
[[registry]]
location = "127.0.0.1:$port_base"
insecure = true
[[registry]]
location = "127.0.0.1:$((port_base + 1))"
insecure = true
EOF
  [ -f "$d/auth.json" ] || { echo '{"auths":{}}' >"$d/auth.json"; chmod 600 "$d/auth.json"; }
  [ -f "$d/pull-secret.json" ] || { echo '{"auths":{"registry.redhat.io":{"auth":"dGVzdGJlZDp0ZXN0YmVk"}}}' >"$d/pull-secret.json"; chmod 600 "$d/pull-secret.json"; }
}

podman_env() {
  local d=$1
  export CONTAINERS_CONF="$d/containers.conf"
  export CONTAINERS_STORAGE_CONF="$d/storage.conf"
  export CONTAINERS_REGISTRIES_CONF="$d/registries.conf"
  export REGISTRY_AUTH_FILE="$d/auth.json"
  export TMPDIR="$d/tmp"
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

registry_port() {
  case $1 in
    open) echo "$port_base" ;;
    auth) echo "$((port_base + 1))" ;;
    *) die "registry is 'open' or 'auth', not '$1'" ;;
  esac
}

start_registry() {
  local d=$1 which=$2 port
  port=$(registry_port "$which")
  local pidfile="$d/pids/registry-$which"
  mkdir -p "$d/pids" "$d/registry-$which"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    return 0
  fi
  port_open "$port" && die "port $port is taken by something else; set TESTBED_PORT_BASE"
  {
    echo "version: 0.1"
    # the access log lets tests see which blobs a push uploads
    echo "log: {level: info, accesslog: {disabled: false}}"
    echo "storage:"
    echo "  filesystem: {rootdirectory: $d/registry-$which}"
    echo "  delete: {enabled: true}"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    echo "  secret: testbed-$which"
    if [ "$which" = auth ]; then
      echo "auth:"
      echo "  htpasswd: {realm: xtask-testbed, path: $d/htpasswd}"
    fi
  } >"$d/registry-$which.yml"
  # a clean environment: docker-registry dies when REGISTRY_AUTH_FILE is set, and must not
  # inherit secrets from a shell that sourced the env file
  env -i PATH="$PATH" docker-registry serve "$d/registry-$which.yml" \
    >>"$d/registry-$which.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    port_open "$port" && return 0
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { cat "$d/registry-$which.log" >&2; die "the $which registry exited"; }
    sleep 0.1
  done
  die "the $which registry did not listen on 127.0.0.1:$port"
}

stop_pidfile() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

setup_emulation() {
  local d=$1
  [ "$(uname -m)" = x86_64 ] || return 0
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    touch "$d/made-binfmt-mount"
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    [ -f "$conf" ] || die "$conf missing: install qemu-user-static"
    if [ -x /lib/systemd/systemd-binfmt ]; then
      /lib/systemd/systemd-binfmt "$conf"
    else
      # the same line systemd-binfmt would write
      grep -v '^#' "$conf" >/proc/sys/fs/binfmt_misc/register
    fi
    touch "$d/made-binfmt-aarch64"
  fi
}

busybox_rootfs() {
  local d=$1 arch=$2 out=$3
  mkdir -p "$d/cache"
  local deb
  deb=$(find "$d/cache" -name "busybox-static_*_${arch}.deb" | head -n 1)
  if [ -z "$deb" ]; then
    if command -v apt-get >/dev/null 2>&1; then
      (cd "$d/cache" && apt-get download -q "busybox-static:$arch" >/dev/null 2>&1) ||
        die "could not download busybox-static:$arch (run: sudo $0 install)"
      deb=$(find "$d/cache" -name "busybox-static_*_${arch}.deb" | head -n 1)
    else
      die "no busybox-static .deb for $arch in $d/cache"
    fi
  fi
  rm -rf "$out"
  mkdir -p "$out/x" "$out/rootfs/bin" "$out/rootfs/etc" "$out/rootfs/tmp" "$out/rootfs/root"
  dpkg-deb -x "$deb" "$out/x"
  cp "$out/x/bin/busybox" "$out/rootfs/bin/busybox"
  # the applet list of the host's busybox (same version); links are architecture-free
  local host_busybox
  host_busybox=$(find "$d/cache" -name "busybox-static_*_$(dpkg --print-architecture).deb" | head -n 1)
  local list=/bin/busybox
  if [ -n "$host_busybox" ]; then
    mkdir -p "$out/hx" && dpkg-deb -x "$host_busybox" "$out/hx" && list="$out/hx/bin/busybox"
  fi
  [ -x "$list" ] || list=$(command -v busybox)
  local applet
  for applet in $("$list" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$out/rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$out/rootfs/etc/passwd"
  echo 'root:x:0:' >"$out/rootfs/etc/group"
  # the project's Containerfiles end with `RUN bootc container lint`: a labelled stand-in
  mkdir -p "$out/rootfs/usr/bin"
  install -m 755 "$repo/tests/fixtures/bin/bootc-stand-in" "$out/rootfs/usr/bin/bootc"
}

import_base() {
  local d=$1 arch=$2 tag="localhost/xtask-testbed/base:linux-$2"
  if podman image exists "$tag"; then return 0; fi
  local deb_arch=$arch
  busybox_rootfs "$d" "$deb_arch" "$d/rootfs-$arch"
  if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    # make sure the host's own busybox is cached too, for the applet list
    busybox_rootfs "$d" "$(dpkg --print-architecture)" "$d/rootfs-host" >/dev/null
    rm -rf "$d/rootfs-host"
  fi
  tar -C "$d/rootfs-$arch/rootfs" -c . |
    podman import --quiet --arch "$arch" --os linux --change 'CMD ["/bin/sh"]' - "$tag" >/dev/null
  rm -rf "$d/rootfs-$arch"
  say "imported $tag"
}

# A systemd-based image (debootstrap minbase + systemd-sysv) for `run` and `verify`: it
# boots under `podman run --privileged` like a bootc image does. skopeo and jq are there
# because a RHEL bootc image with MicroShift has them too: `build --embed` uses both.
import_systemd_base() {
  local d=$1 tag=localhost/xtask-testbed/systemd:latest
  # the label says which packages it holds: a bed made before sshd was added is made again
  local edition=2
  if podman image exists "$tag" &&
    [ "$(podman image inspect --format '{{index .Labels "xtask.testbed.edition"}}' "$tag")" = "$edition" ]; then
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found (run: sudo $0 install)"
  local mirror
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$mirror" ] || die "no Debian mirror found in the apt sources"
  rm -rf "$d/rootfs-systemd"
  say "debootstrap of the systemd test base (about a minute)"
  debootstrap --variant=minbase --include=systemd-sysv bookworm "$d/rootfs-systemd" "$mirror" \
    >"$d/debootstrap.log" 2>&1 || { tail -n 20 "$d/debootstrap.log" >&2; die "debootstrap failed"; }
  # skopeo and jq after debootstrap: debootstrap's own configure pass fails on skopeo's
  # dependencies. openssh-server and sudo: the stand-in device of the lifecycle tests
  # (tests/device/) is reached over ssh, as a real one
  mount -t proc proc "$d/rootfs-systemd/proc"
  # a clean environment: the host's TMPDIR (the bed's, when its env file is sourced) is not
  # in the chroot
  chroot "$d/rootfs-systemd" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends skopeo jq openssh-server sudo >>"$d/debootstrap.log" 2>&1 ||
    { umount "$d/rootfs-systemd/proc"; tail -n 20 "$d/debootstrap.log" >&2; die "apt-get install skopeo jq openssh-server sudo in the systemd test base failed"; }
  # every proc mount of the chroot, also one debootstrap left stacked under ours
  local tries=0
  while mountpoint -q "$d/rootfs-systemd/proc" && [ "$tries" -lt 5 ]; do
    umount "$d/rootfs-systemd/proc" || umount -l "$d/rootfs-systemd/proc"
    tries=$((tries + 1))
  done
  chroot "$d/rootfs-systemd" apt-get clean
  rm -rf "$d/rootfs-systemd/usr/share/doc" "$d/rootfs-systemd/usr/share/man" "$d/rootfs-systemd/var/cache/apt/"*.bin
  tar -C "$d/rootfs-systemd" --exclude='./proc/*' --exclude='./sys/*' -c . |
    podman import --quiet --change 'CMD ["/sbin/init"]' --change "LABEL xtask.testbed.edition=$edition" - "$tag" >/dev/null
  rm -rf "$d/rootfs-systemd"
  say "imported $tag"
}

write_env() {
  local d=$1 password
  password=$(cat "$d/registry-password")
  cat >"$d/microshift-image.json" <<EOF
{
  "image_name": "xtask-testbed-image",
  "microshift_version": "4.16",
  "base_image": "localhost/xtask-testbed/base:linux-{arch}",
  "containerfile": "tests/containerfiles/Containerfile.test",
  "architectures": ["amd64", "arm64"],
  "registry_url": "127.0.0.1:$((port_base + 1))",
  "registry_org": "xtask/testbed",
  "registry_user": "tester",
  "pull_secret": "$d/pull-secret.json",
  "registry_auth": "$d/auth.json"
}
EOF
  cat >"$d/env" <<EOF
# Source this file to use the test bed: . $d/env
export XTASK_TESTBED=$d
export XTASK_CONFIG=$d/microshift-image.json
export CONTAINERS_CONF=$d/containers.conf
export CONTAINERS_STORAGE_CONF=$d/storage.conf
export CONTAINERS_REGISTRIES_CONF=$d/registries.conf
export REGISTRY_AUTH_FILE=$d/auth.json
export TMPDIR=$d/tmp
export TESTBED_OPEN_REGISTRY=127.0.0.1:$port_base
export TESTBED_AUTH_REGISTRY=127.0.0.1:$((port_base + 1))
export TESTBED_PASSWORD_FILE=$d/registry-password
export REGISTRY_USER=tester
# a throwaway password of this test bed only
export REGISTRY_PASSWORD=$password
export USER_PASSWD=testbed-user-password
EOF
}

up() {
  need_root up
  local d
  d=$(bed_dir "${1:-}")
  for tool in podman skopeo docker-registry htpasswd dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run: sudo $0 install)"
  done
  if [ -f "$d/env" ]; then
    # already up: keep its ports
    port_base=$(sed -n 's/^export TESTBED_OPEN_REGISTRY=127.0.0.1://p' "$d/env")
  else
    # registries of an earlier `up` that stopped before writing the env file: their ports
    # are unknown to it, so stop them and choose again
    local pidfile
    for pidfile in "$d"/pids/registry-*; do
      [ -e "$pidfile" ] && stop_pidfile "$pidfile"
    done
  fi
  if [ ! -f "$d/env" ] && [ -z "${TESTBED_PORT_BASE:-}" ]; then
    local tries=0
    while port_open "$port_base" || port_open "$((port_base + 1))"; do
      tries=$((tries + 1))
      [ "$tries" -lt 50 ] || die "no free port pair from ${port_base}; set TESTBED_PORT_BASE"
      port_base=$((port_base + 10))
    done
  fi
  write_podman_config "$d"
  podman_env "$d"
  if [ ! -f "$d/registry-password" ]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$d/registry-password")
  fi
  # htpasswd reads the password on stdin (-i): never on a command line
  htpasswd -B -i -c "$d/htpasswd" tester <"$d/registry-password" 2>/dev/null
  start_registry "$d" open
  start_registry "$d" auth
  setup_emulation "$d"
  import_base "$d" amd64
  import_base "$d" arm64
  import_systemd_base "$d"
  write_env "$d"
  say "up in $d: . $d/env, then cargo xtask build --arch arm64 (see docs/src/test-bed.md)"
}

down() {
  local d=${1:-$repo/.testbed}
  [ -d "$d" ] || return 0
  d=$(cd "$d" && pwd)
  for pidfile in "$d"/pids/*; do
    [ -e "$pidfile" ] && stop_pidfile "$pidfile"
  done
  if [ -f "$d/storage.conf" ] && command -v podman >/dev/null 2>&1; then
    podman_env "$d"
    podman system reset --force >/dev/null 2>&1 || true
  fi
  if [ -f "$d/made-binfmt-aarch64" ] && [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    echo -1 >/proc/sys/fs/binfmt_misc/qemu-aarch64 || true
  fi
  if [ -f "$d/made-binfmt-mount" ]; then
    umount /proc/sys/fs/binfmt_misc 2>/dev/null || true
  fi
  # overlay mounts left behind by a killed podman would make rm fail
  { grep -F " $d/" /proc/mounts || true; } | awk '{print $2}' | sort -r |
    while read -r m; do umount -l "$m" || true; done
  rm -rf "$d"
  say "down: removed $d"
}

status() {
  local d=${1:-$repo/.testbed}
  [ -d "$d" ] || { echo "testbed: not up"; return 1; }
  for pidfile in "$d"/pids/*; do
    [ -e "$pidfile" ] || continue
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$(basename "$pidfile"): running (pid $(cat "$pidfile"))"
    else
      echo "$(basename "$pidfile"): stopped"
    fi
  done
}

cmd=${1:-}
shift || true
case $cmd in
  install) install_packages ;;
  up) up "${1:-}" ;;
  down) down "${1:-}" ;;
  status) status "${1:-}" ;;
  stop-registry) stop_pidfile "$(bed_dir "${2:-}")/pids/registry-${1:?open or auth}" ;;
  start-registry)
    d=$(bed_dir "${2:-}")
    port_base=$(sed -n 's/^export TESTBED_OPEN_REGISTRY=127.0.0.1://p' "$d/env" 2>/dev/null || echo "$port_base")
    start_registry "$d" "${1:?open or auth}"
    ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
