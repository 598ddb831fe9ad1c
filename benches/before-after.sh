#!/bin/sh
# Measures two httpreuse binaries alternately on the same captures, in one
# run (the machines are shared and noisy: compare ratios within one run):
# the floor, then for each of --brief, --format ndjson, --format json the
# BEFORE binary and this tree's release build, --threads 1; then both with
# --threads 2. Prints the tables (benches/measure.py --table).
#
# usage: benches/before-after.sh BEFORE_BINARY [DIR]   (DIR default /work/bigcap,
#        with big.pcap and small.pcap as benches/run.sh records them)
# e.g.   git worktree add /tmp/old <commit> && cargo build --release --manifest-path /tmp/old/Cargo.toml
#        sh benches/before-after.sh /tmp/old/target/release/httpreuse
set -eu
cd "$(dirname "$0")/.."
BEFORE=$(realpath "$1")
DIR=$(realpath -m "${2:-/work/bigcap}")
# PROFILE: the cargo profile of httpreuse and the floor (default release-lto,
# the build the figures are quoted on; PROFILE=release for a quicker build).
PROFILE=${PROFILE:-release-lto}
cargo build --profile "$PROFILE" >&2
FLOOR=$(cargo bench --profile "$PROFILE" --bench floor --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "floor" and m.get("executable"):
        print(os.path.relpath(m["executable"]))')
AFTER=target/$PROFILE/httpreuse
M="python3 benches/measure.py"
RES=$DIR/before-after-$(date +%Y%m%dT%H%M%S).jsonl
uptime >&2
for F in "$DIR/big.pcap" "$DIR/small.pcap"; do
  [ -s "$F" ] || continue
  cat "$F" >/dev/null
  $M --label floor --file "$F" -- "$FLOOR" "$F" >>"$RES"
  for mode in "--brief" "--format ndjson" "--format json"; do
    # shellcheck disable=SC2086
    $M --label "before $mode" --file "$F" -- "$BEFORE" --threads 1 $mode "$F" >>"$RES"
    # shellcheck disable=SC2086
    $M --label "after $mode" --file "$F" -- "$AFTER" --threads 1 $mode "$F" >>"$RES"
  done
  for mode in "--brief" "--format ndjson" "--format json"; do
    # shellcheck disable=SC2086
    $M --label "before -t2 $mode" --file "$F" -- "$BEFORE" --threads 2 $mode "$F" >>"$RES"
    # shellcheck disable=SC2086
    $M --label "after -t2 $mode" --file "$F" -- "$AFTER" --threads 2 $mode "$F" >>"$RES"
  done
done
uptime >&2
echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; before $BEFORE, after $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
$M --table "$RES"
echo "results: $RES"
