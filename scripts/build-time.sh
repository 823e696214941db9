#!/usr/bin/env bash
# Cold debug build of xtask against a baseline: a bare crate that depends on exactly the
# chosen crates `cargo build -p xtask` compiles (xshell, clap with derive and xtask's clap
# features, anyhow, camino, serde_json, glob; insta is a dev-dependency and is not built),
# pinned to the same versions through a copy of Cargo.lock. Rounds alternate, each from an
# empty target directory; every build's exit status is checked, and each side's binary must
# exist afterwards (a baseline that failed quietly would make the ratio meaningless).
#
#   scripts/build-time.sh [ROUNDS] [REV]     REV: measure xtask at this commit (default: the work tree)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-3}
rev=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# the tree to measure
if [ -n "$rev" ]; then
  git archive "$rev" | tar -x -C "$work" --one-top-level=tree
else
  mkdir "$work/tree"
  cp -r Cargo.toml Cargo.lock xtask "$work/tree/"
  [ -d .cargo ] && cp -r .cargo "$work/tree/"
fi

# the baseline: the chosen crates, the same features as xtask's Cargo.toml, the same lock
base=$work/base
mkdir -p "$base/src"
clap_line=$(grep -E '^clap *=' "$work/tree/xtask/Cargo.toml")
cat >"$base/Cargo.toml" <<TOML
[package]
name = "baseline"
version = "0.1.0"
edition = "2021"

[dependencies]
anyhow = "1"
camino = "1"
$clap_line
glob = "0.3"
serde_json = "1"
xshell = "=0.2.7"

[profile.dev]
debug = 0
TOML
cat >"$base/src/main.rs" <<'RS'
// Uses each crate once, so that each is really compiled and linked.
use clap::Parser;
#[derive(Parser)]
struct Cli {
    #[arg(long)]
    name: Option<String>,
}
fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sh = xshell::Shell::new()?;
    let dir = camino::Utf8PathBuf::from(".");
    let found = glob::glob("*")?.count();
    let doc = serde_json::json!({ "name": cli.name, "dir": dir.as_str(), "found": found });
    let _ = sh.current_dir();
    println!("{doc}");
    Ok(())
}
RS
cp "$work/tree/Cargo.lock" "$base/Cargo.lock"

build() { # dir package-args... -> seconds
  local dir=$1; shift
  rm -rf "$work/target"
  local start end
  start=$(date +%s.%N)
  (cd "$dir" && CARGO_TARGET_DIR="$work/target" cargo build --quiet --offline "$@") || {
    echo "build-time: the build in $dir failed" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

cargo fetch --manifest-path "$work/tree/Cargo.toml" --quiet
cargo fetch --manifest-path "$base/Cargo.toml" --quiet
xs=() bs=()
for i in $(seq "$rounds"); do
  b=$(build "$base")
  [ -x "$work/target/debug/baseline" ] || { echo "build-time: no baseline binary" >&2; exit 1; }
  x=$(build "$work/tree" -p xtask)
  [ -x "$work/target/debug/xtask" ] || { echo "build-time: no xtask binary" >&2; exit 1; }
  bs+=("$b") xs+=("$x")
  awk -v i="$i" -v b="$b" -v x="$x" 'BEGIN { printf "round %d: baseline %.1f s, xtask %.1f s (%.2fx)\n", i, b, x, x / b }'
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mb=$(median "${bs[@]}") mx=$(median "${xs[@]}")
awk -v b="$mb" -v x="$mx" 'BEGIN { printf "median: baseline %.1f s, xtask %.1f s: %.2fx (budget 1.5x)\n", b, x, x / b }'
