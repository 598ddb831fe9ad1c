"""Measures what stitching loses: every fixture capture cut with
``editcap -c N`` for several N, its parts planned into runs of 1-3 files,
each run analysed separately (in this process), stitched with the shipped
SQL in DuckDB, and compared connection by connection with one run over the
whole capture.

    python3 python/examples/stitch_diff.py [--cuts 4,6,10,25] [--files 1,2,3] [-v] [CAPTURE...]

Prints, per cut size and run size, how many connections differ in each
compared column (and in their exchange sequences), and with ``-v`` which
connections. The figures in python/README.md "Limits" come from it.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import warnings
from collections import defaultdict
from typing import Any, Dict, List, Tuple

import httpreuse
from httpreuse import distributed as hd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Compared per connection (the stitched table's columns that one run also has).
COLUMNS = (
    "requests",
    "responses",
    "reused",
    "first_close_by",
    "first_close_kind",
    "close_reason",
    "close_by",
    "close_kind",
    "close_said_by",
    "close_idle_seconds",
    "close_advertised_timeout",
    "close_matches_timeout",
    "close_request_outstanding",
    "idle_before_close",
    "close_explanation",
    "open_at_end",
)
# The verdict's columns: what the close test holds to one run.
CLOSE_COLUMNS = COLUMNS[3:15]


def whole(capture: str) -> Tuple[Dict[Tuple, Dict[str, Any]], Dict[Tuple, List[Tuple]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", httpreuse.CaptureWarning)
        a = httpreuse.analyze(capture)
    conns = {(r["community_id"], r["start"]): r for r in a.connections.to_pylist()}
    by_id = {r["id"]: k for k, r in conns.items()}
    exs: Dict[Tuple, List[Tuple]] = defaultdict(list)
    for x in a.exchanges.to_pylist():
        exs[by_id[x["connection_id"]]].append((x["method"], x["target"], x["status"]))
    return conns, exs


def stitched(out: str) -> Tuple[Dict[Tuple, Dict[str, Any]], Dict[Tuple, List[Tuple]]]:
    c, e = hd.stitch(out)
    conns = {(r["community_id"], r["start"]): r for r in c.to_pylist()}
    exs: Dict[Tuple, List[Tuple]] = defaultdict(list)
    for x in e.to_pylist():
        exs[(x["community_id"], x["connection_start"])].append((x["method"], x["target"], x["status"]))
    return conns, exs


def split(capture: str, packets: int, out_dir: str) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    ext = ".pcapng" if capture.endswith(".pcapng") else ".pcap"
    subprocess.run(
        ["editcap", "-c", str(packets), capture, os.path.join(out_dir, "part" + ext)],
        check=True,
        capture_output=True,
    )
    return sorted(os.path.join(out_dir, p) for p in os.listdir(out_dir))


def compare(capture: str, packets: int, files_per_run: int, tmp: str) -> Dict[str, List[Tuple]]:
    """Column (or "exchanges", "keys") -> the differing connections, as
    (capture, key, one run's value, stitched value)."""
    try:
        parts = split(capture, packets, os.path.join(tmp, "parts"))
    except subprocess.CalledProcessError:
        return {}  # editcap cannot rewrite a pcapng carrying TLS secrets (DSB)
    out = os.path.join(tmp, "out")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", httpreuse.CaptureWarning)
        for run in hd.plan_runs({"s": parts}, files_per_run=files_per_run):
            hd.analyze_run(run, out)
    want, want_ex = whole(capture)
    got, got_ex = stitched(out)
    name = os.path.basename(capture)
    diffs: Dict[str, List[Tuple]] = defaultdict(list)
    if sorted(got) != sorted(want):
        diffs["keys"].append((name, None, sorted(want), sorted(got)))
        return diffs
    for k, w in want.items():
        if got[k]["pieces"] == 1:
            continue
        for col in COLUMNS:
            if got[k][col] != w[col]:
                diffs[col].append((name, k, w[col], got[k][col]))
        if got_ex.get(k, []) != want_ex.get(k, []):
            diffs["exchanges"].append((name, k, want_ex.get(k), got_ex.get(k)))
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cuts", default="4,6,10,25")
    ap.add_argument("--files", default="1,2,3")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("captures", nargs="*")
    a = ap.parse_args()
    caps = a.captures or sorted(
        p for p in glob.glob(os.path.join(ROOT, "fixtures", "captures", "*")) if p.endswith((".pcap", ".pcapng"))
    )
    for packets in (int(x) for x in a.cuts.split(",")):
        for files in (int(x) for x in a.files.split(",")):
            total: Dict[str, List[Tuple]] = defaultdict(list)
            cut = 0
            for cap in caps:
                with tempfile.TemporaryDirectory() as tmp:
                    for col, rows in compare(cap, packets, files, tmp).items():
                        total[col] += rows
            summary = ", ".join(f"{col} {len(rows)}" for col, rows in sorted(total.items())) or "no differences"
            print(f"editcap -c {packets}, {files} file(s) per run: {summary}")
            if a.verbose:
                for col, rows in sorted(total.items()):
                    for r in rows:
                        print(f"  {col}: {r[0]} {r[1]}: one run {r[2]!r}, stitched {r[3]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
