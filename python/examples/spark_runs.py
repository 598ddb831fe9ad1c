"""httpreuse on Spark: DataFrame.mapInArrow over a DataFrame of file runs,
the results as Parquet, stitched with the shipped SQL in Spark SQL.

Local mode (needs Java, ``pip install pyspark pandas`` and the httpreuse package)::

    python3 python/examples/spark_runs.py --out /tmp/hr-spark \\
        --files-per-run 2 /caps/sensor-a/*.pcap

On a cluster: ``spark-submit --master yarn python/examples/spark_runs.py
--master '' --out hdfs-mounted-or-shared/dir ...`` with the httpreuse wheel
installed on every executor (it is a compiled extension, so
``pip install httpreuse-*.whl`` in the executors' environment, not
``--py-files``), and the captures and ``--out`` on storage every executor
sees under the same path.

Each task analyses one run (a time-ordered list of rotated files from one
sensor, read as one capture) with :func:`httpreuse.distributed.analyze_run`,
which writes ``OUT/connections/RUN.parquet`` and ``OUT/exchanges/RUN.parquet``
and returns one row about the run; Spark SQL then stitches the pieces of
connections cut by run boundaries (``httpreuse.stitch_sql(dialect="spark")``)
into ``OUT/stitched/connections`` and ``OUT/stitched/exchanges``.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Iterator

import pyarrow as pa

import httpreuse
from httpreuse import distributed as hd

RUN_SCHEMA = "sensor string, run long, files long, connections long, exchanges long, frames long, errors long"


def analyse_runs(out: str, options: dict):
    """The function mapInArrow runs on each partition of the runs DataFrame."""

    def f(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            rows = []
            for sensor, run, paths in zip(*(b.column(n).to_pylist() for n in ("sensor", "run", "paths"))):
                r = hd.analyze_run(hd.Run(sensor, run, tuple(paths), options), out)
                rows.append({**{k: r[k] for k in ("sensor", "run", "files", "connections", "exchanges", "frames")}, "errors": len(r["errors"])})
            yield pa.RecordBatch.from_pylist(
                rows,
                schema=pa.schema(
                    [("sensor", pa.string()), ("run", pa.int64()), ("files", pa.int64()), ("connections", pa.int64()),
                     ("exchanges", pa.int64()), ("frames", pa.int64()), ("errors", pa.int64())]
                ),
            )

    return f


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="capture files of one sensor (any order; a directory: its *.pcap*)")
    ap.add_argument("--sensor", default="sensor", help="the sensor's name (default: sensor)")
    ap.add_argument("--files-per-run", type=int, default=1)
    ap.add_argument("--out", required=True, help="output directory (shared storage on a cluster)")
    ap.add_argument("--master", default="local[2]", help="Spark master (default local[2]; '' to leave it to spark-submit)")
    ap.add_argument("--idle-timeout", type=float, default=300.0)
    args = ap.parse_args(argv)

    from pyspark.sql import SparkSession

    files = []
    for f in args.files:
        files += sorted(glob.glob(os.path.join(f, "*.pcap*"))) if os.path.isdir(f) else [f]
    files = [os.path.abspath(f) for f in files]
    out = os.path.abspath(args.out)
    runs = hd.plan_runs({args.sensor: files}, files_per_run=args.files_per_run, idle_timeout=args.idle_timeout)

    builder = SparkSession.builder.appName("httpreuse")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate()
    try:
        df = spark.createDataFrame(
            [(r.sensor, r.run, list(r.paths)) for r in runs], "sensor string, run long, paths array<string>"
        ).repartition(max(1, len(runs)))
        done = df.mapInArrow(analyse_runs(out, {"idle_timeout": args.idle_timeout}), RUN_SCHEMA).collect()
        print(f"analysed {len(done)} runs: {sum(r.connections for r in done)} connection pieces, "
              f"{sum(r.frames for r in done)} frames, {sum(r.errors for r in done)} inputs cut off")

        spark.read.parquet(os.path.join(out, "connections")).createOrReplaceTempView("connections")
        spark.read.parquet(os.path.join(out, "exchanges")).createOrReplaceTempView("exchanges")
        conns = spark.sql(httpreuse.stitch_sql("connections", dialect="spark", max_gap=args.idle_timeout))
        exs = spark.sql(httpreuse.stitch_sql("exchanges", dialect="spark", max_gap=args.idle_timeout))
        conns.write.mode("overwrite").parquet(os.path.join(out, "stitched", "connections"))
        exs.write.mode("overwrite").parquet(os.path.join(out, "stitched", "exchanges"))
        stitched = spark.read.parquet(os.path.join(out, "stitched", "connections"))
        n = stitched.count()
        cut = stitched.filter("pieces > 1").count()
        reqs = stitched.agg({"requests": "sum"}).collect()[0][0] or 0
        print(f"stitched: {n} connections ({cut} across runs), {reqs} requests -> {out}/stitched")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
