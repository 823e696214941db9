#!/usr/bin/env bash
# Size and wall time of a bundle for devices with no network (`cargo xtask bundle`) against
# the plain copy bootc documents for offline updates: `skopeo copy docker://... oci:DIR` of
# the same images (each architecture's, by digest), on the test bed, alternating, several
# rounds, medians of each.
#
#   sudo scripts/testbed.sh up && sudo scripts/bench-bundle.sh [ROUNDS] [LAYER_MIB]
#
# The release: a two-architecture list pushed to the bed's open registry, each image the
# bed's busybox base and a layer of LAYER_MIB MiB of random bytes (default 64). The bundle
# is signed with a throwaway GPG key made here (no passphrase). Both sides prove they did
# the whole work: every command's exit status is checked; the plain copy must hold both
# images with the list's digests (read back from the layouts), the bundle must verify with
# the device's verifier. The bench stops when either side fails.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-5}
mib=${2:-64}
bed=${XTASK_TESTBED:-$PWD/.testbed}
[ -f "$bed/env" ] || { echo "bench-bundle: no test bed at $bed (sudo scripts/testbed.sh up)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$bed/env"
cargo build --quiet --release -p xtask
xtask=$PWD/target/release/xtask
verifier=$PWD/containerfiles/usb/microshift-usb-update

work=$(mktemp -d)
export GNUPGHOME=$work/gnupg
trap 'gpgconf --kill gpg-agent 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -m 700 "$GNUPGHOME"
export XTASK_STATE_DIR=$work/state
repo=$TESTBED_OPEN_REGISTRY/bench/bundle/os
skopeo=(skopeo --registries-conf "$CONTAINERS_REGISTRIES_CONF")

fail() { echo "bench-bundle: $*" >&2; exit 1; }

# the release: two architectures, each a layer of random bytes
podman manifest rm localhost/bench-bundle:list >/dev/null 2>&1 || true
podman manifest create localhost/bench-bundle:list >/dev/null
for arch in amd64 arm64; do
  ctx=$work/ctx-$arch
  mkdir -p "$ctx"
  head -c "$((mib << 20))" /dev/urandom >"$ctx/payload"
  printf 'FROM localhost/xtask-testbed/base:linux-%s\nCOPY payload /payload\n' "$arch" >"$ctx/Containerfile"
  podman build -q --arch "$arch" -t "localhost/bench-bundle:$arch" "$ctx" >/dev/null
  podman manifest add localhost/bench-bundle:list "containers-storage:localhost/bench-bundle:$arch" >/dev/null
done
podman manifest push -q --all localhost/bench-bundle:list "docker://$repo:v1" >/dev/null
list=$("${skopeo[@]}" inspect --raw "docker://$repo:v1")
digest() { jq -r --arg a "$1" '.manifests[] | select(.platform.architecture == $a) | .digest' <<<"$list"; }
amd64=$(digest amd64)
arm64=$(digest arm64)
if [ -z "$amd64" ] || [ -z "$arm64" ]; then fail "the pushed list lacks an architecture"; fi

gpg --batch --quiet --passphrase '' --quick-gen-key "bench bundle" ed25519 sign never
fpr=$(gpg --batch --with-colons --list-secret-keys | awk -F: '/^fpr:/ { print $10; exit }')
gpg --batch --quiet --yes --output "$work/public.gpg" --export "$fpr"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f\n", b - a }'; }
# each side timed alone; its check after, untimed
plain() {
  local out=$work/plain arch t
  rm -rf "$out"
  mkdir -p "$out"
  t=$(now)
  for arch in amd64 arm64; do
    "${skopeo[@]}" copy -q --preserve-digests "docker://$repo@$(digest "$arch")" "oci:$out/$arch" ||
      fail "skopeo copy of $arch failed"
  done
  since "$t" >>"$work/plain.times"
  for arch in amd64 arm64; do
    [ "sha256:$("${skopeo[@]}" inspect --raw "oci:$out/$arch" | sha256sum | cut -c1-64)" = "$(digest "$arch")" ] ||
      fail "the plain copy of $arch is not $(digest "$arch")"
  done
}
bundle() {
  local out=$work/stick/microshift-bundle t
  rm -rf "$work/stick"
  mkdir -p "$work/stick"
  t=$(now)
  "$xtask" bundle --to "$out" --image "$repo:v1" --arch amd64,arm64 --sign-method gpg \
    --sign-by "$fpr" --sign-public-key "$work/public.gpg" >"$work/bundle.log" 2>&1 ||
    { tail -n 20 "$work/bundle.log" >&2; fail "cargo xtask bundle failed"; }
  since "$t" >>"$work/bundle.times"
  sh "$verifier" verify --key "$work/public.gpg" --method gpg "$out" >/dev/null ||
    fail "the bundle does not verify"
}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

: >"$work/plain.times"
: >"$work/bundle.times"
for i in $(seq "$rounds"); do
  plain
  bundle
  echo "round $i: plain $(tail -n 1 "$work/plain.times") s, bundle $(tail -n 1 "$work/bundle.times") s" >&2
done
plain_bytes=$(du -sb "$work/plain" | cut -f1)
bundle_bytes=$(du -sb "$work/stick/microshift-bundle" | cut -f1)
manifest_bytes=$(($(wc -c <"$work/stick/microshift-bundle/bundle.json") + $(wc -c <"$work/stick/microshift-bundle/bundle.json.sig")))
p=$(median <"$work/plain.times")
b=$(median <"$work/bundle.times")
echo "two architectures, a ${mib} MiB layer each, $rounds rounds:"
echo "  plain skopeo copy ... oci: median ${p} s, ${plain_bytes} bytes"
echo "  cargo xtask bundle:        median ${b} s, ${bundle_bytes} bytes (manifest and signature ${manifest_bytes} bytes)"
awk -v b="$b" -v p="$p" -v bb="$bundle_bytes" -v pb="$plain_bytes" \
  'BEGIN { printf "  ratio: time %.2f, size %.4f\n", b / p, bb / pb }'
