"""Figures of issue 13, in one run on one machine:

1. throughput through Python (httpreuse.analyze -> Arrow tables, and
   analyze_to_parquet) against the CLI (--format parquet, and ndjson to
   /dev/null) on the same capture, runs interleaved;
2. the Dask speed-up: the capture cut into parts (editcap -c), each part a
   run, on a LocalCluster of 1 and then 2 worker processes (one thread
   each, --threads 1 per analysis), then stitched in DuckDB.

    python3 python/examples/bench.py CAPTURE [--cli target/release/httpreuse] [--repeat 2] [--parts 8]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

import httpreuse
from httpreuse import distributed as hd


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--cli", default="target/release/httpreuse")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="--threads of each analysis (default 1)")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--only-dask", action="store_true")
    args = ap.parse_args()
    cap = args.capture
    size = os.path.getsize(cap)
    tmp = tempfile.mkdtemp(prefix="hr-bench-")
    th = str(args.threads)
    runs = {
        "cli --format parquet": lambda: subprocess.run(
            [args.cli, "--threads", th, "--format", "parquet", "-o", os.path.join(tmp, "cli"), cap], check=True),
        "cli --format ndjson >/dev/null": lambda: subprocess.run(
            [args.cli, "--threads", th, "--format", "ndjson", cap], check=True, stdout=subprocess.DEVNULL),
        "python analyze() -> Arrow": lambda: httpreuse.analyze(cap, threads=args.threads),
        "python analyze_to_parquet()": lambda: httpreuse.analyze_to_parquet(cap, os.path.join(tmp, "py"), threads=args.threads),
    }
    best = {k: float("inf") for k in runs}
    for _ in range(0 if args.only_dask else args.repeat):
        for k, f in runs.items():
            best[k] = min(best[k], timed(f))
    print(f"capture {cap}: {size / 1e9:.2f} GB, best of {args.repeat}, --threads {th}, load {os.getloadavg()[0]:.1f}")
    base = best["cli --format parquet"]
    for k, t in best.items():
        if t < float("inf"):
            print(f"  {k:34s} {t:7.2f} s  {size / t / 1e9:5.2f} GB/s  {t / base:4.2f}x the CLI's parquet time")
    a = httpreuse.analyze(cap, threads=args.threads)
    print(f"  ({a.connections.num_rows} connections, {a.exchanges.num_rows} exchanges)")

    if args.skip_dask:
        return 0
    from dask.distributed import Client, LocalCluster

    frames = a.summary["frames"]
    per = max(1, -(-frames // args.parts))
    parts_dir = os.path.join(tmp, "parts")
    os.makedirs(parts_dir)
    subprocess.run(["editcap", "-c", str(per), cap, os.path.join(parts_dir, "part.pcap")], check=True)
    parts = sorted(glob.glob(os.path.join(parts_dir, "*")))
    plan = hd.plan_runs({"s": parts}, files_per_run=1, threads=1)
    times = {}
    for workers in (1, 2):
        out = os.path.join(tmp, f"dask{workers}")
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cl, Client(cl) as c:
            c.run(lambda: __import__("httpreuse"))  # workers up and the extension loaded before the clock starts
            cpu0 = sum(c.run(_cpu).values())
            t_map = timed(lambda: hd.run_on_dask(c, plan, out))
            cpu = sum(c.run(_cpu).values()) - cpu0
        t_stitch = timed(lambda: hd.stitch(out))
        times[workers] = t_map
        print(f"dask LocalCluster {workers} worker(s): {len(plan)} runs in {t_map:.2f} s ({size / t_map / 1e9:.2f} GB/s), "
              f"workers' CPU {cpu:.2f} s ({cpu / t_map:.2f} cores busy), stitch {t_stitch:.2f} s, load {os.getloadavg()[0]:.1f}")
    print(f"speed-up 2 workers vs 1: {times[1] / times[2]:.2f}x")
    conns, _ = hd.stitch(os.path.join(tmp, "dask2"))
    print(f"  stitched {conns.num_rows} connections (one run: {a.connections.num_rows})")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
