import os
from typing import Any, Dict, Iterable, List, Optional, Union

import pyarrow as pa

from .errors import CaptureError as CaptureError
from .errors import CaptureWarning as CaptureWarning
from .errors import HttpReuseError as HttpReuseError

__version__: str

PathLike = Union[str, os.PathLike[str]]
Paths = Union[PathLike, Iterable[PathLike]]

OPTIONS: Dict[str, str]

class Analysis:
    connections: pa.Table
    exchanges: pa.Table
    summary: Dict[str, Any]
    findings: List[Dict[str, Any]]
    inputs: List[Dict[str, Any]]
    format_version: int
    def connection_batches(self) -> List[pa.RecordBatch]: ...
    def exchange_batches(self) -> List[pa.RecordBatch]: ...

def analyze(
    paths: Paths,
    *,
    strict: bool = ...,
    close_linger: Optional[Union[float, str]] = ...,
    max_buffer: Optional[Union[int, str]] = ...,
    idle_timeout: Optional[Union[float, str]] = ...,
    handshake_timeout: Optional[Union[float, str]] = ...,
    memory_budget: Optional[Union[int, str]] = ...,
    max_connections: Optional[int] = ...,
    threads: Optional[int] = ...,
    reorder_window: Optional[Union[float, str]] = ...,
    keylog: Optional[Union[PathLike, Iterable[PathLike]]] = ...,
    server: Optional[Union[str, Iterable[str]]] = ...,
    port: Optional[Union[int, Iterable[int]]] = ...,
    client: Optional[Union[str, Iterable[str]]] = ...,
    from_: Optional[Union[str, float]] = ...,
    to: Optional[Union[str, float]] = ...,
) -> Analysis: ...
def analyze_to_parquet(
    paths: Paths,
    out_dir: PathLike,
    *,
    strict: bool = ...,
    **options: Any,
) -> Dict[str, Any]: ...
def capture_start(path: PathLike) -> Optional[float]: ...
def connection_schema() -> pa.Schema: ...
def exchange_schema() -> pa.Schema: ...
def stitch_sql(
    table: str = ...,
    *,
    dialect: str = ...,
    connections: str = ...,
    exchanges: str = ...,
    max_gap: float = ...,
    close_linger: float = ...,
) -> str: ...
