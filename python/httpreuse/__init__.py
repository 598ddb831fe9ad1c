"""httpreuse: how were the HTTP connections in a packet capture reused?

The analysis of the ``httpreuse`` command-line tool (keep-alive verdicts,
requests per connection, who closed each connection and why), with its
results as Arrow tables::

    import httpreuse
    a = httpreuse.analyze(["capture.pcap"], idle_timeout=60)
    a.connections          # pyarrow.Table, one row per connection
    a.exchanges            # pyarrow.Table, one row per request/response
    a.summary["requests_per_handshake"]

The tables have the columns and types of ``httpreuse --format parquet``
(see ``src/report/flat.rs``); their buffers are the ones the analysis
built, handed to pyarrow through the Arrow C data interface (no copy).

Options are the CLI's analysis flags, as keywords (``--idle-timeout 60`` is
``idle_timeout=60``; a repeatable flag takes a list; ``--from`` is
``from_``)::

    close_linger, max_buffer, idle_timeout, handshake_timeout,
    memory_budget, max_connections, threads, server, port, client,
    from_, to

Several paths are read in the order given as one capture (rotated files:
connection state carries across them). For runs analysed separately (on
Dask, Spark...) see :mod:`httpreuse.distributed` and :func:`stitch_sql`.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import pyarrow as pa

from . import _native
from .errors import CaptureError, CaptureWarning, HttpReuseError

__all__ = [
    "Analysis",
    "CaptureError",
    "CaptureWarning",
    "HttpReuseError",
    "OPTIONS",
    "analyze",
    "analyze_to_parquet",
    "capture_start",
    "connection_schema",
    "exchange_schema",
    "stitch_sql",
    "__version__",
]

__version__: str = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]
Paths = Union[PathLike, Iterable[PathLike]]

#: Keyword options and the CLI flag each one stands for.
OPTIONS: Dict[str, str] = {
    "close_linger": "--close-linger",
    "max_buffer": "--max-buffer",
    "idle_timeout": "--idle-timeout",
    "handshake_timeout": "--handshake-timeout",
    "memory_budget": "--memory-budget",
    "max_connections": "--max-connections",
    "threads": "--threads",
    "reorder_window": "--reorder-window",
    "keylog": "--keylog",
    "server": "--server",
    "port": "--port",
    "client": "--client",
    "from_": "--from",
    "from": "--from",
    "to": "--to",
}
_REPEATABLE = {"server", "port", "client", "keylog"}


def _paths(paths: Paths) -> List[str]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    out = [os.fsdecode(p) for p in paths]
    if not out:
        raise ValueError("no capture given")
    return out


def _argv(options: Dict[str, Any]) -> List[str]:
    argv: List[str] = []
    for key, value in options.items():
        flag = OPTIONS.get(key)
        if flag is None:
            known = ", ".join(k for k in OPTIONS if k != "from")
            raise TypeError(f"unknown option {key!r} (options: {known})")
        if value is None:
            continue
        values = value if key in _REPEATABLE and isinstance(value, (list, tuple, set)) else [value]
        for v in values:
            if isinstance(v, bool):
                raise TypeError(f"option {key!r} takes a value, not {v!r}")
            argv += [flag, os.fspath(v) if isinstance(v, os.PathLike) else str(v)]
    return argv


def connection_schema() -> pa.Schema:
    """The schema of :attr:`Analysis.connections` (and ``connections.parquet``)."""
    return pa.schema(_native.schema("connections"))


def exchange_schema() -> pa.Schema:
    """The schema of :attr:`Analysis.exchanges` (and ``exchanges.parquet``)."""
    return pa.schema(_native.schema("exchanges"))


_OFFSET = re.compile(r"at byte offset (\d+)")


def _check_inputs(header: Dict[str, Any], strict: bool) -> None:
    for inp in header.get("inputs", []):
        err = inp.get("error")
        if not err:
            continue
        m = _OFFSET.search(err)
        offset = int(m.group(1)) if m else None
        if strict:
            raise CaptureError(err, inp.get("file"), offset)
        warnings.warn(f"{err}; the results cover the frames before it", CaptureWarning, stacklevel=3)


@dataclass(frozen=True)
class Analysis:
    """What :func:`analyze` found.

    ``connections`` and ``exchanges`` are the flat tables (the Parquet
    output's columns); ``summary`` and ``findings`` are the JSON report's
    ``summary`` object and ``findings`` list; ``inputs`` says what reading
    each file gave (``error`` is set when one was cut off).
    """

    connections: pa.Table
    exchanges: pa.Table
    summary: Dict[str, Any]
    findings: List[Dict[str, Any]]
    inputs: List[Dict[str, Any]] = field(default_factory=list)
    format_version: int = 1

    def connection_batches(self) -> List[pa.RecordBatch]:
        """The connections as record batches (no copy)."""
        return self.connections.to_batches()

    def exchange_batches(self) -> List[pa.RecordBatch]:
        """The exchanges as record batches (no copy)."""
        return self.exchanges.to_batches()


def analyze(paths: Paths, *, strict: bool = False, **options: Any) -> Analysis:
    """Analyse one capture, or several files read in order as one capture.

    :param paths: a path, or paths (``"-"`` is standard input) read in the
        order given, connection state carried from one to the next.
    :param strict: raise :class:`CaptureError` when a file is cut off or
        corrupt part way (default: warn with :class:`CaptureWarning`, and
        keep what was read before it, as the CLI does).
    :param options: the CLI's analysis flags (see :data:`OPTIONS`).
    :raises CaptureError: a file is missing, not a capture, or corrupt
        (``.file`` and ``.offset`` say where).
    :raises ValueError: an option's value is not one the CLI accepts.

    The analysis runs with the GIL released.
    """
    header, summary, findings, conns, exs = _native.analyze(_paths(paths), _argv(options))
    header = json.loads(header)
    _check_inputs(header, strict)
    return Analysis(
        connections=pa.Table.from_batches([pa.record_batch(b) for b in conns], connection_schema()),
        exchanges=pa.Table.from_batches([pa.record_batch(b) for b in exs], exchange_schema()),
        summary=json.loads(summary),
        findings=json.loads(findings),
        inputs=header.get("inputs", []),
        format_version=header.get("format_version", 1),
    )


def analyze_to_parquet(paths: Paths, out_dir: PathLike, *, strict: bool = False, **options: Any) -> Dict[str, Any]:
    """Analyse like :func:`analyze` and write ``connections.parquet`` and
    ``exchanges.parquet`` into ``out_dir`` (created if missing), the files
    ``httpreuse --format parquet -o OUT_DIR`` writes.

    Returns ``{"summary": ..., "findings": [...], "inputs": [...]}``.
    """
    header, summary, findings = _native.analyze_to_parquet(
        _paths(paths), os.fsdecode(out_dir), _argv(options)
    )
    header = json.loads(header)
    _check_inputs(header, strict)
    return {
        "summary": json.loads(summary),
        "findings": json.loads(findings),
        "inputs": header.get("inputs", []),
    }


def capture_start(path: PathLike) -> Optional[float]:
    """Timestamp (seconds since the epoch) of a capture file's first frame,
    ``None`` when it has none: puts rotated files in time order."""
    return _native.capture_start(os.fsdecode(path))


_SQL_PART = re.compile(r"^-- part: (\w+)\s*$", re.M)


def _sql_parts() -> Dict[str, str]:
    text = resources.files(__package__).joinpath("stitch.sql").read_text(encoding="utf-8")
    pieces = _SQL_PART.split(text)
    return {pieces[i]: pieces[i + 1].strip() for i in range(1, len(pieces) - 1, 2)}


def stitch_sql(
    table: str = "connections",
    *,
    dialect: str = "duckdb",
    connections: str = "connections",
    exchanges: str = "exchanges",
    max_gap: float = 300.0,
    close_linger: float = 5.0,
) -> str:
    """The shipped SQL (``httpreuse/stitch.sql``) that stitches connections
    cut by run boundaries, as one ``SELECT`` statement.

    Its inputs are the tables of several runs with two more columns each,
    ``sensor`` (text) and ``run`` (the run's position in its sensor's time
    order), as :func:`httpreuse.distributed.analyze_run` writes them. A
    piece that was ``open_at_start`` continues the piece of the same sensor
    and ``community_id`` just before it when that one was ``open_at_end`` in
    an earlier run, ended before it began, and at most ``max_gap`` seconds
    before (the ``--idle-timeout``; default 300 s); or when the one before
    was closed (FIN each way, or RST) and ended at most ``close_linger``
    seconds before (``--close-linger``, default 5 s: the last ACKs of a
    close, which one run gives to the closed connection).

    :param table: ``"connections"`` (one row per stitched connection,
        keyed by ``sensor``, ``community_id``, ``start``) or ``"exchanges"``
        (renumbered ``trans_depth``, times from the stitched start).
    :param dialect: ``"duckdb"`` or ``"spark"`` (Spark SQL): only the
        quoting of the ``end`` column differs.
    :param connections: name (or parenthesised query) of the connections input.
    :param exchanges: name of the exchanges input.
    """
    parts = _sql_parts()
    if table not in ("connections", "exchanges"):
        raise ValueError(f"table must be 'connections' or 'exchanges', not {table!r}")
    quote = {"duckdb": '"', "spark": "`"}.get(dialect)
    if quote is None:
        raise ValueError(f"dialect must be 'duckdb' or 'spark', not {dialect!r}")
    gap, linger = float(max_gap), float(close_linger)
    if not (gap >= 0 and linger >= 0) or gap == float("inf") or linger == float("inf"):
        raise ValueError("max_gap and close_linger must be finite non-negative seconds")
    rest = parts[table]
    # `connections` is the final SELECT; `exchanges` adds CTEs of its own first.
    sql = parts["pieces"] + ("\n" if rest.upper().startswith("SELECT") else ",\n") + rest
    return (
        sql.replace("{q}", quote)
        .replace("{max_gap}", repr(gap))
        .replace("{close_linger}", repr(linger))
        .replace("{connections}", connections)
        .replace("{exchanges}", exchanges)
    )
