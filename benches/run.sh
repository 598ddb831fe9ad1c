#!/bin/sh
# Re-measures the figures of issue 8 (streaming engine) and prints them as
# tables: build, record the captures that are missing, measure each command
# once, print. See benches/README.md for what each figure means.
#
# usage: benches/run.sh [DIR]     (root for the recording; default DIR /work/bigcap)
#   DIR must be outside the repository: the captures are several GB.
# environment:
#   SECS=20          length of the recording (record-bigcap.sh), when big.pcap is missing
#   LIMIT_GIB=8      kill an httpreuse run whose RssAnon passes this
#   HOSTILE=1        also measure httpreuse on the five hostile captures (0: skip)
#   BIG4=1           also measure the 4x capture (0: skip)
#   TSHARK=0         1: also count conversations and HTTP messages with tshark (slow)
#   SMALL=1          also record (if missing) and measure the small-message capture (0: skip)
#   HTTPREUSE_ARGS=  extra flags for every httpreuse run
# Every httpreuse run gives --threads explicitly: --threads 1 for brief,
# ndjson and json, and the same with --threads 2 (labels ending in -t2).
# It writes DIR/results-TIME.jsonl (one JSON object per run, see
# benches/measure.py) and DIR/floor-*.txt, and prints the tables at the end.
set -eu
cd "$(dirname "$0")/.."
REPO=$(pwd)
DIR=$(realpath -m "${1:-/work/bigcap}")
case "$DIR/" in "$REPO"/*) echo "run.sh: $DIR is inside the repository; use a directory outside it" >&2; exit 2 ;; esac
mkdir -p "$DIR"
LIMIT_GIB=${LIMIT_GIB:-8}
HOSTILE=${HOSTILE:-1}
DO_BIG4=${BIG4:-1}
TSHARK=${TSHARK:-0}
HTTPREUSE_ARGS=${HTTPREUSE_ARGS:-}
DO_SMALL=${SMALL:-1}

echo "== build" >&2
# PROFILE: the cargo profile of httpreuse and the floor (default release-lto,
# the build the figures are quoted on; PROFILE=release for a quicker build).
PROFILE=${PROFILE:-release-lto}
cargo build --profile "$PROFILE" >&2
# The floor is a [[bench]] target: ask cargo where its binary is.
FLOOR=$(cargo bench --profile "$PROFILE" --bench floor --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "floor" and m.get("executable"):
        print(os.path.relpath(m["executable"]))')
cargo build --release --manifest-path xtask/Cargo.toml >&2
X=xtask/target/release/httpreuse-xtask
HR=target/$PROFILE/httpreuse
M="python3 benches/measure.py"

echo "== captures in $DIR" >&2
BIG=$DIR/big.pcap
BIG4=$DIR/big4.pcap
[ -s "$BIG" ] || sh benches/record-bigcap.sh "$BIG" "${SECS:-20}"
if [ "$DO_BIG4" = 1 ] && { [ ! -s "$BIG4" ] || [ "$BIG" -nt "$BIG4" ]; }; then
  "$X" repeat "$BIG" "$BIG4" --copies 4 --server-port 18180
fi
SMALLCAP=$DIR/small.pcap
[ "$DO_SMALL" = 1 ] && { [ -s "$SMALLCAP" ] || sh benches/record-smallcap.sh "$SMALLCAP" 1000000; }
CASES="syn-flood abandoned ooo pipelined small-conns"
if [ "$HOSTILE" = 1 ]; then
  for c in $CASES; do
    [ -s "$DIR/hostile-$c.pcap" ] || "$X" hostile "$DIR" --case "$c"
  done
fi

RES=$DIR/results-$(date +%Y%m%dT%H%M%S).jsonl
echo "== measure -> $RES" >&2
uptime >&2
measure_file() {
  F=$1; B=$(basename "$F" .pcap)
  cat "$F" >/dev/null # warm the page cache: every run below reads it from memory
  $M --label cat --file "$F" -- cat "$F" >>"$RES"
  $M --label tcpdump --file "$F" -- tcpdump -r "$F" -w /dev/null >>"$RES" 2>/dev/null
  $M --label floor --file "$F" --out "$DIR/floor-$B.txt" -- "$FLOOR" "$F" >>"$RES"
  for t in 1 2; do
    sfx=$([ $t = 1 ] || echo "-t$t")
    # shellcheck disable=SC2086
    $M --label "brief$sfx" --file "$F" --limit-gib "$LIMIT_GIB" -- "$HR" $HTTPREUSE_ARGS --threads $t --brief "$F" >>"$RES"
    # shellcheck disable=SC2086
    $M --label "ndjson$sfx" --file "$F" --limit-gib "$LIMIT_GIB" -- "$HR" $HTTPREUSE_ARGS --threads $t --format ndjson "$F" >>"$RES"
    # shellcheck disable=SC2086
    $M --label "json$sfx" --file "$F" --limit-gib "$LIMIT_GIB" -- "$HR" $HTTPREUSE_ARGS --threads $t --format json "$F" >>"$RES"
  done
  tail -n 9 "$RES" | cut -c1-160 >&2
}
measure_file "$BIG"
[ "$DO_SMALL" = 1 ] && measure_file "$SMALLCAP"
[ "$DO_BIG4" = 1 ] && measure_file "$BIG4"
# --threads 1 and 2 give the same bytes (checked after the timed runs, so
# the files written here do not take page cache from them).
SAME=$DIR/threads-identical.txt
: >"$SAME"
for fmt in json ndjson; do
  for t in 1 2; do
    # shellcheck disable=SC2086
    "$HR" $HTTPREUSE_ARGS --threads $t --format $fmt "$BIG" | md5sum | sed "s|-\$|$fmt --threads $t|" >>"$SAME"
  done
done
if [ "$HOSTILE" = 1 ]; then
  for c in $CASES; do
    F=$DIR/hostile-$c.pcap
    $M --label floor --file "$F" --out "$DIR/floor-hostile-$c.txt" -- "$FLOOR" "$F" >>"$RES"
    # shellcheck disable=SC2086
    $M --label json --file "$F" --limit-gib "$LIMIT_GIB" -- "$HR" $HTTPREUSE_ARGS --format json "$F" >>"$RES"
    tail -n 1 "$RES" | cut -c1-160 >&2
  done
fi
uptime >&2

echo "== counts on $BIG" >&2
COUNTS=$DIR/counts-big.txt
{
  echo "floor:     $(cat "$DIR/floor-big.txt")"
  # shellcheck disable=SC2086
  "$HR" $HTTPREUSE_ARGS --format json "$BIG" | python3 -c '
import json, sys
s = json.load(sys.stdin)["summary"]
f = dict(w.split("=", 1) for w in open(sys.argv[1]).read().split() if "=" in w)
print("httpreuse: frames=%s connections=%s handshakes_completed=%s requests=%s responses=%s" % (
    s["frames"], s["connections"], s["handshakes_completed"], s["requests"], s["responses"]))
pairs = [("frames", "frames"), ("flows", "connections"), ("requests", "requests"), ("responses", "responses")]
bad = [f"{a} {f.get(a)} != {b} {s[b]}" for a, b in pairs if str(f.get(a)) != str(s[b])]
print("floor vs httpreuse: " + ("; ".join(bad) if bad else "frames, connections, requests and responses agree"))' "$DIR/floor-big.txt"
  echo "capinfos:  $(capinfos -M -c "$BIG" | grep -i 'number of packets')"
  if [ "$TSHARK" = 1 ]; then
    # -d: port 18180 is HTTP. Without it tshark gives a few ab connections
    # whose client port is another protocol's (44818 EtherNet/IP, 48898
    # Beckhoff AMS, ...) to that protocol's dissector and misses their requests.
    tshark -r "$BIG" -d tcp.port==18180,http -q -z conv,tcp -z http,tree 2>/dev/null >"$DIR/tshark-big.txt"
    echo "tshark:    conversations=$(grep -c '<->' "$DIR/tshark-big.txt") $(grep -E 'HTTP (Request|Response) Packets' "$DIR/tshark-big.txt" | awk '{printf "%s=%s ", $2, $4}')"
  fi
} >"$COUNTS"

echo
echo "# Results $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -n), $(nproc) cores; httpreuse $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
$M --table "$RES"
echo
echo "Counts on $BIG:"
sed 's/^/    /' "$COUNTS"
echo
echo "md5 of the reports on $BIG, --threads 1 and 2:"
sed 's/^/    /' "$SAME"
