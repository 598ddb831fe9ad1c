"""The Spark recipe (python/examples/spark_runs.py) in Spark's local mode:
mapInArrow over a DataFrame of runs, stitched in Spark SQL, gives what
DuckDB's stitch of the same Parquet gives, and one run's connections.
Skipped without pyspark and Java (not installed by .ci/run: Spark takes
minutes to start on a loaded 2-core machine)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import httpreuse
from httpreuse import distributed as hd
from conftest import ROOT, editcap_split

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("no Java", allow_module_level=True)


def test_spark_recipe_equals_duckdb_and_one_run(tmp_path: Path) -> None:
    cap = str(ROOT / "fixtures" / "captures" / "multi-connection-mixed.pcap")
    parts = editcap_split(cap, 6, tmp_path / "parts")
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, str(ROOT / "python" / "examples" / "spark_runs.py"), "--out", str(out),
         "--files-per-run", "2", *parts],
        check=True,
    )
    spark_c = pq.read_table(out / "stitched" / "connections").to_pylist()
    spark_e = pq.read_table(out / "stitched" / "exchanges").to_pylist()
    duck_c, duck_e = hd.stitch(str(out))
    key = lambda r: (r["community_id"], r["start"])  # noqa: E731
    cols = ["requests", "responses", "pieces", "close_reason", "close_by", "client_packets", "server_packets", "open_at_end"]
    assert sorted((key(r), [r[c] for c in cols]) for r in spark_c) == sorted(
        (key(r), [r[c] for c in cols]) for r in duck_c.to_pylist()
    )
    ex = lambda r: (r["community_id"], r["connection_start"], r["trans_depth"], r["method"], r["target"], r["status"])  # noqa: E731
    assert sorted(map(ex, spark_e)) == sorted(map(ex, duck_e.to_pylist()))
    whole = httpreuse.analyze(cap)
    assert sorted((key(r), r["requests"]) for r in spark_c) == sorted(
        (key(r), r["requests"]) for r in whole.connections.to_pylist()
    )
    assert any(r["pieces"] > 1 for r in spark_c)
