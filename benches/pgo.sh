#!/bin/sh
# Builds httpreuse with profile-guided optimisation on top of the
# release-lto profile: an instrumented build is run on training captures,
# its profile merged, and the binary built again using it.
#
# usage: sh benches/pgo.sh [TRAINING_CAPTURE...]
#        (default: every capture in fixtures/captures, which are small;
#        a capture of your own traffic trains it best)
# needs: the llvm-tools rustup component (rustup component add llvm-tools),
#        whose llvm-profdata matches rustc's LLVM.
# result: target/pgo-use/release-lto/httpreuse (the report is the same as
#        any other build's: PGO only moves code and changes inlining).
set -eu
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  set -- fixtures/captures/*.pcap fixtures/captures/*.pcapng
fi
SYSROOT=$(rustc --print sysroot)
HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA=$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata
if [ ! -x "$PROFDATA" ]; then
  echo "pgo.sh: $PROFDATA not found: rustup component add llvm-tools" >&2
  exit 2
fi
DIR=$PWD/target/pgo-data
rm -rf "$DIR"
mkdir -p "$DIR"

echo "== instrumented build (target/pgo-gen)" >&2
RUSTFLAGS="-Cprofile-generate=$DIR/raw" cargo build --profile release-lto --locked --target-dir target/pgo-gen >&2
GEN=target/pgo-gen/release-lto/httpreuse

echo "== training on $# capture(s)" >&2
# Runs that exit non-zero still train (a capture given may be cut or
# broken, and the tool says so with its exit status); they are counted,
# and a run killed by a signal stops the build.
runs=0
nonzero=0
train() {
  runs=$((runs + 1))
  rc=0
  "$GEN" "$@" >/dev/null 2>&1 || rc=$?
  if [ "$rc" -gt 128 ]; then
    echo "pgo.sh: killed by signal $((rc - 128)): $GEN $*" >&2
    exit 2
  fi
  [ "$rc" -eq 0 ] || nonzero=$((nonzero + 1))
}
for f in "$@"; do
  [ -f "$f" ] || continue
  # What the tool mostly runs: the text report, JSON, NDJSON and --brief,
  # one thread and two (the reading thread's loop differs).
  for args in "" "--format json" "--format ndjson" "--brief"; do
    # shellcheck disable=SC2086
    train --threads 1 $args "$f"
  done
  train --threads 2 --format ndjson "$f"
done
echo "== $runs training runs, $nonzero of them exited non-zero" >&2
[ "$runs" -gt 0 ] || { echo "pgo.sh: no training capture found" >&2; exit 2; }
"$PROFDATA" merge -o "$DIR/merged.profdata" "$DIR/raw"

echo "== optimised build (target/pgo-use)" >&2
RUSTFLAGS="-Cprofile-use=$DIR/merged.profdata" cargo build --profile release-lto --locked --target-dir target/pgo-use >&2
echo "target/pgo-use/release-lto/httpreuse"
