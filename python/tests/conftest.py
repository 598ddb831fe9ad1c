"""Shared helpers of the Python package's tests.

The package must be installed (``pip install ./python``, or the wheel that
``.ci/run`` builds); the CLI is ``target/release/httpreuse`` (built here if
missing) or ``$HTTPREUSE_BIN``. Expected values come from the CLI's JSON
report of the same capture (whose own expectations come from tshark, see
``fixtures/``) and from tshark directly.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = sorted(
    p
    for p in glob.glob(str(ROOT / "fixtures" / "captures" / "*"))
    if p.endswith((".pcap", ".pcapng", ".pcap.gz"))
)


@functools.lru_cache(maxsize=None)
def cli() -> str:
    exe = os.environ.get("HTTPREUSE_BIN") or str(ROOT / "target" / "release" / "httpreuse")
    if not os.path.exists(exe):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    return exe


def cli_json(paths: List[str], *flags: str) -> Dict[str, Any]:
    out = subprocess.run(
        [cli(), "--format", "json", *flags, *paths], check=True, capture_output=True
    ).stdout
    return json.loads(out)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install -y tshark)")
    return path


def editcap_split(capture: str, packets: int, out_dir: Path) -> List[str]:
    """``editcap -c N``: the capture cut into files of N packets, as
    ``tcpdump -C``/``-G`` rotations cut a live capture."""
    need("editcap")
    out_dir.mkdir(parents=True, exist_ok=True)
    ext = ".pcapng" if capture.endswith(".pcapng") else ".pcap"
    subprocess.run(
        ["editcap", "-c", str(packets), capture, str(out_dir / ("part" + ext))],
        check=True,
        capture_output=True,
    )
    return sorted(str(p) for p in out_dir.iterdir())
