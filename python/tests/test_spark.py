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
pytest.importorskip("pandas")  # mapInArrow needs it
if shutil.which("java") is None:
    pytest.skip("no Java", allow_module_level=True)


def spark_recipe(parts, out: Path, files_per_run: int) -> Path:
    """python/examples/spark_runs.py over PARTS (one sensor) into OUT."""
    subprocess.run(
        [sys.executable, str(ROOT / "python" / "examples" / "spark_runs.py"), "--out", str(out),
         "--files-per-run", str(files_per_run), *parts],
        check=True,
    )
    return out


def test_spark_recipe_equals_duckdb_and_one_run(tmp_path: Path) -> None:
    cap = str(ROOT / "fixtures" / "captures" / "multi-connection-mixed.pcap")
    parts = editcap_split(cap, 6, tmp_path / "parts")
    out = spark_recipe(parts, tmp_path / "out", files_per_run=2)
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


def test_spark_sql_equals_duckdb_on_tls_and_http2(tmp_path: Path) -> None:
    """The same Parquet stitched by Spark SQL and by DuckDB, every column of
    every row: HTTP/2 pieces joined by stream id (an h2c upgrade cut
    between its request and its 101 among them), TLS closes judged again,
    columns that are NULL in the piece they come from."""
    parts = []
    for name, n in [("h2-upgrade.pcap", 10), ("h2load.pcap", 10), ("tls-tls13-python-reuse.pcap", 6),
                    ("tls-tls13-chromium.pcap", 6), ("stale-reuse.pcap", 10)]:
        parts += editcap_split(str(ROOT / "fixtures" / "captures" / name), n, tmp_path / name)
    out = spark_recipe(parts, tmp_path / "out", files_per_run=1)
    spark_c = pq.read_table(out / "stitched" / "connections").to_pylist()
    spark_e = pq.read_table(out / "stitched" / "exchanges").to_pylist()
    duck_c, duck_e = hd.stitch(str(out))

    def rows(rs, key):
        out = {}
        for r in rs:
            out[key(r)] = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
        return out

    ck = lambda r: (r["community_id"], r["start"])  # noqa: E731
    ek = lambda r: (r["community_id"], r["connection_start"], r["trans_depth"])  # noqa: E731
    for got, want in [(rows(spark_c, ck), rows(duck_c.to_pylist(), ck)), (rows(spark_e, ek), rows(duck_e.to_pylist(), ek))]:
        assert sorted(got) == sorted(want)
        for k in want:
            diff = {c: (want[k][c], got[k].get(c)) for c in want[k] if got[k].get(c) != want[k][c]}
            assert not diff, (k, diff)
    assert any(r["pieces"] > 1 for r in spark_c)
    assert any(r["stream_id"] is not None and r["method"] is not None and r["status"] is not None
               and r["run"] is not None for r in spark_e)
