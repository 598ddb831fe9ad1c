#!/usr/bin/env python3
"""Runs one command under `/usr/bin/time -v` and samples its memory.

usage: measure.py [--label L] [--file F] [--limit-gib G] [--out FILE] -- CMD ARGS...
       measure.py --table RESULTS.jsonl...   (Markdown tables of results)

Standard output of CMD goes to FILE (default /dev/null). While it runs, the
command's /proc/PID/status is read every 10 ms for RssAnon (heap and stacks:
unlike VmRSS it leaves out pages of a memory-mapped capture) and VmRSS; when
RssAnon passes --limit-gib (default 8) the command is killed (SIGKILL) and
the result says so. Prints one JSON object: wall/user/sys seconds and
"Maximum resident set size" as /usr/bin/time -v reports them, the sampled
peaks, the exit status, whether it was killed, and, with --file (the
capture the command reads), its size and GB/s over the wall time.
"""

import json
import os
import subprocess
import sys
import tempfile
import time


def status_kib(pid):
    """RssAnon and VmRSS of pid, in KiB (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            vals = {}
            for line in f:
                k, _, v = line.partition(":")
                if k in ("RssAnon", "VmRSS"):
                    vals[k] = int(v.split()[0])
            return vals
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def parse_time(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().rpartition(": ")
            if k == "User time (seconds)":
                out["user_s"] = float(v)
            elif k == "System time (seconds)":
                out["sys_s"] = float(v)
            elif k.startswith("Elapsed (wall clock) time"):
                parts = [float(p) for p in v.split(":")]
                secs = 0.0
                for p in parts:
                    secs = secs * 60 + p
                out["wall_s"] = secs
            elif k == "Maximum resident set size (kbytes)":
                out["max_rss_kib"] = int(v)
            elif k == "Exit status":
                out["exit"] = int(v)
    return out


def floor_counts(path):
    """The key=value pairs of the floor program's output line."""
    try:
        with open(path) as f:
            words = f.read().split()
    except OSError:
        return {}
    return dict(w.split("=", 1) for w in words if "=" in w)


def mib(kib):
    return f"{kib / 1024:.0f}" if kib else "-"


def table(path):
    """Prints Markdown tables of a results file (one JSON object a line)."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    files = []
    for r in rows:
        if r.get("file") not in files:
            files.append(r.get("file"))
    for f in files:
        rs = [r for r in rows if r.get("file") == f]
        floor = next((r for r in rs if r["label"] == "floor"), None)
        cat = next((r for r in rs if r["label"] == "cat"), None)
        counts = floor_counts(floor["out"]) if floor else {}
        frames = int(counts.get("frames", 0))
        size = rs[0].get("bytes", 0)
        print(f"\n{f}: {size / 1e9:.2f} GB, {frames} frames"
              + (f", {counts.get('flows')} flows, {counts.get('requests')} requests,"
                 f" {counts.get('responses')} responses (floor's counts)" if counts else ""))
        print()
        print("| command | wall s | cpu s (user+sys) | GB/s | GB/s of cpu | M frames/s | x floor | x floor, cpu | x cat | max RSS MiB | peak RssAnon MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        fw = floor.get("wall_s") if floor else None
        fc = (floor.get("user_s", 0) + floor.get("sys_s", 0)) if floor else None
        for r in rs:
            w = r.get("wall_s") or 0
            c = r.get("user_s", 0) + r.get("sys_s", 0)
            note = ""
            if r.get("killed_over_gib"):
                note = f" (killed: RssAnon over {r['killed_over_gib']} GiB)"
            elif r.get("exit"):
                note = f" (exit {r['exit']})"

            def ratio(x, base):
                return f"{x / base:.2f}" if x and base else "-"

            x_cat = ratio(w, cat.get("wall_s")) if cat else "-"
            mpps = f"{frames / w / 1e6:.2f}" if frames and w else "-"
            gbps = f"{size / w / 1e9:.2f}" if size and w else "-"
            gbpc = f"{size / c / 1e9:.2f}" if size and c else "-"
            print(f"| `{r['cmd']}`{note} | {w:.2f} | {c:.2f} | {gbps} | {gbpc} | {mpps} "
                  f"| {ratio(w, fw)} | {ratio(c, fc)} | {x_cat} | {mib(r.get('max_rss_kib'))} | {mib(r.get('peak_rss_anon_kib'))} |")


def main(argv):
    if argv[:1] == ["--table"]:
        for p in argv[1:]:
            table(p)
        return
    label, limit_gib, out, capture = None, 8.0, "/dev/null", None
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--label":
            label = argv[i + 1]
        elif argv[i] == "--limit-gib":
            limit_gib = float(argv[i + 1])
        elif argv[i] == "--out":
            out = argv[i + 1]
        elif argv[i] == "--file":
            capture = argv[i + 1]
        else:
            sys.exit(f"measure.py: unknown option {argv[i]}")
        i += 2
    cmd = argv[i + 1:]
    if not cmd:
        sys.exit(__doc__)
    limit_kib = int(limit_gib * 1024 * 1024)
    with tempfile.NamedTemporaryFile(prefix="measure-", suffix=".time") as tf, open(out, "wb") as sink:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tf.name] + cmd, stdout=sink)
        peak_anon = peak_rss = 0
        killed = False
        child = None
        while p.poll() is None:
            if child is None:
                c = children(p.pid)
                child = c[0] if c else None
            if child is not None:
                s = status_kib(child)
                if s:
                    peak_anon = max(peak_anon, s.get("RssAnon", 0))
                    peak_rss = max(peak_rss, s.get("VmRSS", 0))
                    if peak_anon > limit_kib and not killed:
                        os.kill(child, 9)
                        killed = True
            time.sleep(0.01)
        outer_wall = time.monotonic() - t0
        res = parse_time(tf.name)
    res.setdefault("wall_s", outer_wall)
    res.update(
        label=label or " ".join(cmd),
        cmd=" ".join(cmd) + f" >{out}",
        out=out,
        outer_wall_s=round(outer_wall, 3),
        peak_rss_anon_kib=peak_anon,
        peak_vmrss_kib=peak_rss,
        killed_over_gib=limit_gib if killed else None,
        time_exit=p.returncode,
    )
    if capture:
        res["file"] = capture
        res["bytes"] = os.path.getsize(capture)
        if res.get("wall_s"):
            res["gb_per_s"] = round(res["bytes"] / res["wall_s"] / 1e9, 3)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
