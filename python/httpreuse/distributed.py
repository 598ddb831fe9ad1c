"""Analysing days of rotated captures from many sensors on an existing
engine (Dask, Spark, Ray...), and stitching the results.

The unit of work is a *run*: a time-ordered list of rotated files from one
sensor, analysed as one capture (connection state carries across its
files). Runs are independent, so any engine can map them; each writes its
two tables as Parquet with ``sensor`` and ``run`` columns added. A
connection that crosses a run boundary comes out as one piece per run;
:func:`stitch` (DuckDB) or :func:`httpreuse.stitch_sql` (any SQL engine)
joins the pieces by ``community_id`` and time.

Dask::

    from dask.distributed import Client, LocalCluster
    from httpreuse import distributed as hd

    runs = hd.plan_runs({"sensor-a": glob.glob("/caps/a/*.pcap")}, files_per_run=24)
    with Client(LocalCluster(n_workers=2, threads_per_worker=1)) as client:
        hd.run_on_dask(client, runs, "/data/out")
    connections, exchanges = hd.stitch("/data/out")

Spark: ``python/examples/spark_runs.py`` (``DataFrame.mapInArrow`` over a
DataFrame of runs, then Spark SQL with ``stitch_sql(dialect="spark")``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq

import httpreuse

__all__ = ["Run", "plan_runs", "analyze_run", "run_on_dask", "stitch", "load"]


@dataclass(frozen=True)
class Run:
    """A time-ordered run of capture files from one sensor."""

    sensor: str
    run: int
    paths: Tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """File-name-safe name of the run: ``SENSOR-RUN``."""
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.sensor)
        return f"{safe}-{self.run:06d}"


def _start(path: str) -> Tuple[float, str]:
    ts = httpreuse.capture_start(path)
    return (float("inf") if ts is None else ts, path)


def plan_runs(
    files: Mapping[str, Iterable[str]],
    files_per_run: int = 1,
    **options: Any,
) -> List[Run]:
    """Cuts each sensor's files into runs of ``files_per_run`` consecutive
    files, in the time order of their first frames (not their names).

    :param files: sensor name -> its capture files (any order).
    :param options: analysis options (see :data:`httpreuse.OPTIONS`) for every run.
    """
    if files_per_run < 1:
        raise ValueError("files_per_run must be at least 1")
    runs: List[Run] = []
    for sensor, paths in files.items():
        ordered = [p for _, p in sorted(_start(os.fsdecode(p)) for p in paths)]
        for i in range(0, len(ordered), files_per_run):
            runs.append(Run(sensor, i // files_per_run, tuple(ordered[i : i + files_per_run]), dict(options)))
    return runs


def _with_run(table: pa.Table, run: Run) -> pa.Table:
    n = table.num_rows
    table = table.append_column("sensor", pa.array([run.sensor] * n, pa.string()))
    return table.append_column("run", pa.array([run.run] * n, pa.int64()))


def analyze_run(run: Run, out_dir: str) -> Dict[str, Any]:
    """Analyses one run and writes ``OUT/connections/RUN.parquet`` and
    ``OUT/exchanges/RUN.parquet`` (the flat tables plus ``sensor`` and
    ``run``). Returns a small record of the run: its name, row counts, the
    frames read and any input errors. Runs on a worker: all it needs is the
    files and ``out_dir`` (shared storage)."""
    a = httpreuse.analyze(list(run.paths), **dict(run.options))
    for sub in ("connections", "exchanges"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    pq.write_table(_with_run(a.connections, run), os.path.join(out_dir, "connections", run.name + ".parquet"))
    pq.write_table(_with_run(a.exchanges, run), os.path.join(out_dir, "exchanges", run.name + ".parquet"))
    return {
        "sensor": run.sensor,
        "run": run.run,
        "files": len(run.paths),
        "connections": a.connections.num_rows,
        "exchanges": a.exchanges.num_rows,
        "frames": a.summary.get("frames", 0),
        "errors": [i["error"] for i in a.inputs if i.get("error")],
    }


def run_on_dask(client: Any, runs: Sequence[Run], out_dir: str) -> List[Dict[str, Any]]:
    """Maps :func:`analyze_run` over ``runs`` on a ``dask.distributed``
    client (one task per run) and waits for them all."""
    futures = client.map(analyze_run, list(runs), out_dir=out_dir, pure=False)
    return client.gather(futures)


def load(out_dir: str, con: Optional[Any] = None) -> Any:
    """A DuckDB connection with views ``connections`` and ``exchanges``
    over the runs' Parquet files in ``out_dir``."""
    import duckdb

    con = con or duckdb.connect()
    for sub in ("connections", "exchanges"):
        path = os.path.join(out_dir, sub, "*.parquet").replace("'", "''")
        con.execute(f"CREATE OR REPLACE VIEW {sub} AS SELECT * FROM read_parquet('{path}')")
    return con


def stitch(
    out_dir: str, max_gap: float = 300.0, close_linger: float = 5.0, con: Optional[Any] = None
) -> Tuple[pa.Table, pa.Table]:
    """Stitches the runs written into ``out_dir`` with the shipped SQL in
    DuckDB: (connections, exchanges) as Arrow tables, one row per
    connection as one run over all the files would give it, keyed by
    ``sensor``, ``community_id`` and ``start``."""
    con = load(out_dir, con)
    conns = con.sql(httpreuse.stitch_sql("connections", max_gap=max_gap, close_linger=close_linger) + "\nORDER BY sensor, start, community_id")
    exs = con.sql(
        httpreuse.stitch_sql("exchanges", max_gap=max_gap, close_linger=close_linger) + "\nORDER BY sensor, connection_start, community_id, trans_depth"
    )
    return _arrow(conns), _arrow(exs)


def _arrow(result: Any) -> pa.Table:
    """A DuckDB relation as an Arrow table (the method's name
    changed across DuckDB versions)."""
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        f = getattr(result, name, None)
        if f is not None:
            t = f()
            return t if isinstance(t, pa.Table) else t.read_all()
    raise RuntimeError("this duckdb cannot return Arrow tables")
