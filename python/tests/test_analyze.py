"""httpreuse.analyze against the CLI's JSON report, field by field, on
every fixture capture; the Parquet output; options, errors, the GIL."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import struct
import subprocess
import threading
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import httpreuse
from conftest import CAPTURES, ROOT, cli, cli_json, need


def split_endpoint(e: str) -> Tuple[str, Optional[int]]:
    host, _, port = e.rpartition(":")
    host = host[1:-1] if host.startswith("[") else host
    try:
        ipaddress.ip_address(host)
        return host, int(port)
    except ValueError:
        return e, None


def name(v: Any) -> Optional[str]:
    return v if isinstance(v, str) else None


def expected_connection(c: Dict[str, Any]) -> Dict[str, Any]:
    """The flat row of one JSON connection, as the Parquet docs
    (src/report/flat.rs) describe the columns: written from the JSON here,
    not from the Rust code that builds the tables."""
    ca, cp = split_endpoint(c["client"])
    sa, sp = split_endpoint(c["server"])
    fc = c["first_close"] or {}
    close = c["close"]
    tls = c.get("tls") or {}
    ka = c["http"]["keep_alive_advertised"]
    kinds: List[str] = []
    for a in c["anomalies"]:
        if not kinds or kinds[-1] != a["kind"]:
            kinds.append(a["kind"])
    return {
        "id": c["id"],
        "client_addr": ca,
        "client_port": cp,
        "server_addr": sa,
        "server_port": sp,
        "community_id": c["community_id"],
        "start": c["start"],
        "end": c["end"],
        "duration": c["duration"],
        "first_frame": c["first_frame"],
        "last_frame": c["last_frame"],
        "roles_from": c["roles_from"],
        "handshake_state": c["handshake"]["state"],
        "handshake_complete": c["handshake_complete"],
        "handshake_rtt": c["handshake"]["rtt"],
        "requests": c["requests"],
        "responses": c["responses"],
        "reused": c["reused"],
        "max_outstanding": c["http"]["max_outstanding"],
        "upgraded": c["http"]["upgraded"],
        "first_close_by": fc.get("by"),
        "first_close_kind": fc.get("kind"),
        "close_reason": close["reason"],
        "close_by": close["by"],
        "close_kind": close["kind"],
        "close_said_by": close["said_by"],
        "close_idle_seconds": close["idle_seconds"],
        "close_advertised_timeout": close["advertised_timeout"],
        "close_matches_timeout": close["matches_timeout"],
        "close_request_outstanding": close["request_outstanding"],
        "idle_between_requests_min": c["idle"]["between_requests_min"],
        "idle_between_requests_max": c["idle"]["between_requests_max"],
        "idle_before_close": c["idle"]["before_close"],
        "server_keep_alive_timeout": (ka["server"] or {}).get("timeout"),
        "server_keep_alive_max": (ka["server"] or {}).get("max"),
        "client_keep_alive_timeout": (ka["client"] or {}).get("timeout"),
        "client_packets": c["packets"]["client"],
        "server_packets": c["packets"]["server"],
        "client_payload_bytes": c["payload_bytes"]["client"],
        "server_payload_bytes": c["payload_bytes"]["server"],
        "client_retransmitted_bytes": c["tcp"]["client"]["retransmitted_bytes"],
        "server_retransmitted_bytes": c["tcp"]["server"]["retransmitted_bytes"],
        "client_gap_bytes": c["tcp"]["client"]["gap_bytes"],
        "server_gap_bytes": c["tcp"]["server"]["gap_bytes"],
        "half_closed_by": c["half_closed_by"],
        "history": c["history"],
        "anomalies": len(c["anomalies"]) + c["anomalies_not_listed"],
        "anomaly_kinds": ";".join(kinds),
        "close_explanation": close["explanation"],
        "open_at_start": c["open_at_start"],
        "open_at_end": c["open_at_end"],
        # absent from the JSON when false / not TLS
        "close_estimated": close.get("estimated", False),
        "tls_version": tls.get("version"),
        "tls_sni": tls.get("sni"),
        "tls_alpn": tls.get("alpn"),
        "tls_cipher": tls.get("cipher"),
        "tls_resumed": tls.get("resumed"),
        "tls_handshake": tls.get("handshake"),
        "tls_turns": tls.get("turns"),
        "tls_decrypted": tls.get("decrypted"),
        "tls_decrypt_error": tls.get("decrypt_error"),
        **expected_tail(c),
    }


class Check:
    """An expected value only known within bounds from the JSON."""

    def __init__(self, ok: Any, what: str) -> None:
        self.ok, self.what = ok, what

    def __call__(self, v: Any) -> bool:
        return bool(self.ok(v))

    def __repr__(self) -> str:
        return self.what


def near_ns(secs: float) -> Check:
    # The JSON's times are rounded to microseconds.
    return Check(lambda v: v is not None and abs(v / 1e9 - secs) <= 2e-6, f"about {secs} s")


def expected_tls_tail(c: Dict[str, Any]) -> Dict[str, Any]:
    """`tls_last_client_ns`, `tls_last_server_ns`: the JSON's
    `tls.last_turn` times (seconds) in nanoseconds; `tls_lead_server_ns`
    (server records before the first turn, e.g. TLS 1.3 session tickets)
    is not in the JSON: only bounded by the connection's times."""
    t = (c.get("tls") or {}).get("last_turn")
    start, end = c["start"], c["end"]
    within = Check(lambda v: v is None or start - 2e-6 <= v / 1e9 <= end + 2e-6, "within the connection or none")
    if c.get("tls") is None:
        return {"tls_last_client_ns": None, "tls_last_server_ns": None, "tls_lead_server_ns": None}
    return {
        "tls_last_client_ns": near_ns(t["client_last"]) if t else None,
        "tls_last_server_ns": near_ns(t["server_last"]) if t and t["server_last"] is not None else None,
        "tls_lead_server_ns": within,
    }


def expected_tail(c: Dict[str, Any]) -> Dict[str, Any]:
    """The stitching columns (`tail_*`, src/verdict/mod.rs `Tail`): not in
    the JSON report, so derived here from what it says of the connection's
    close and its last exchange (HTTP/1 only; an HTTP/2 connection has
    none)."""
    fc = c["first_close"]
    start, end = c["start"], c["end"]
    before = c["idle"]["before_close"]

    def payload(side: str) -> Any:
        if c["payload_bytes"][side] == 0:
            return None
        return Check(lambda v: v is not None and start - 2e-6 <= v / 1e9 <= end + 2e-6, "within the connection")

    out: Dict[str, Any] = {
        "first_close_ns": near_ns(start + fc["time"]) if fc else None,
        "last_message_ns": near_ns(start + fc["time"] - before) if fc and before is not None and c["close"]["reason"] != "upgraded" and not c["close"].get("estimated") and not c.get("http2") else Check(lambda v: True, "any"),
        "client_last_payload_ns": payload("client"),
        "server_last_payload_ns": payload("server"),
        **expected_tls_tail(c),
        "h2_start": (c.get("http2") or {}).get("start"),
        "h2_last_activity_ns": (near_ns(start + fc["time"] - before) if fc and before is not None else Check(lambda v: True, "any"))
        if c.get("http2")
        else None,
        "h2_open_streams_at_end": c["http2"]["open_streams_at_end"] if c.get("http2") else None,
        "h2_goaway_by": (c["http2"]["goaway"][0]["by"] if c.get("http2") and c["http2"].get("goaway") else None),
    }
    exs = c["exchanges"]
    if c.get("http2") or not exs:
        none = {k: None for k in ("tail_request_http10", "tail_request_close", "tail_response_http10", "tail_response_close",
                                  "tail_response_close_delimited", "tail_unfinished", "tail_close_delimited_open",
                                  "tail_request_remaining", "tail_response_remaining")}
        return {**out, **none, "tail_response_lost": False}
    last = exs[-1]
    rq, rs = last["request"], last["response"]
    http10 = lambda m: m["version"] == "HTTP/1.0" and "keep-alive" not in m["connection"]
    answered = [i for i, e in enumerate(exs) if e["response"] is not None]
    unfinished, cd_open = False, False
    rem: Dict[str, Any] = {"request": None, "response": None}
    for i, e in enumerate(exs):
        if e["response"] is None and (e["response_lost_in_gap"] or (answered and i < answered[-1])):
            continue
        for side in ("request", "response"):
            m = e[side]
            if m is None:
                continue
            if side == "response" and m["framing"] == "close_delimited":
                cd_open |= not m["complete"] or e["timing"]["response_end"] is None
            elif m["framing"] != "unknown" and e["timing"][side + "_end"] is None:
                if m["framing"] == "content_length" and rem[side] is None and m.get("content_length") is not None:
                    rem[side] = m["content_length"] - m["body_bytes"]
                elif m["framing"] == "content_length" and rem[side] is None:
                    rem[side] = Check(lambda v: v is not None and v >= 0, "bytes still expected")
                else:
                    unfinished = True
        if e["request"] is not None and e["response"] is None:
            unfinished = True
    return {
        **out,
        "tail_request_http10": http10(rq) if rq else None,
        "tail_request_close": "close" in rq["connection"] if rq else None,
        "tail_response_http10": http10(rs) if rs else None,
        "tail_response_close": "close" in rs["connection"] if rs else None,
        "tail_response_close_delimited": rs["framing"] == "close_delimited" if rs else None,
        "tail_response_lost": last["response_lost_in_gap"],
        "tail_unfinished": unfinished,
        "tail_close_delimited_open": cd_open,
        "tail_request_remaining": rem["request"],
        "tail_response_remaining": rem["response"],
    }


def expected_exchange(c: Dict[str, Any], i: int, e: Dict[str, Any]) -> Dict[str, Any]:
    rq = e["request"] or {}
    rs = e["response"] or {}
    t = e["timing"]
    return {
        "connection_id": c["id"],
        "trans_depth": i + 1,
        "client": c["client"],
        "server": c["server"],
        "method": rq.get("method"),
        "target": rq.get("target"),
        "request_version": rq.get("version"),
        "status": rs.get("status"),
        "reason": rs.get("reason"),
        "response_version": rs.get("version"),
        "interim_statuses": ";".join(str(x["status"]) for x in e["interim"]),
        "persistent": e["persistent"],
        "response_lost_in_gap": e["response_lost_in_gap"],
        "request_frame": rq.get("frame"),
        "request_connection": ",".join(rq["connection"]) if rq else None,
        "request_persistence": rq.get("persistence"),
        "request_framing": rq.get("framing"),
        "request_body_bytes": rq.get("body_bytes"),
        "request_complete": rq.get("complete"),
        "expect_continue": rq.get("expect_continue"),
        "response_frame": rs.get("frame"),
        "response_connection": ",".join(rs["connection"]) if rs else None,
        "response_persistence": rs.get("persistence"),
        "response_keep_alive_timeout": (rs.get("keep_alive") or {}).get("timeout"),
        "response_keep_alive_max": (rs.get("keep_alive") or {}).get("max"),
        "response_framing": rs.get("framing"),
        "response_content_length": rs.get("content_length"),
        "response_transfer_encoding": rs.get("transfer_encoding"),
        "response_body_bytes": rs.get("body_bytes"),
        "response_complete": rs.get("complete"),
        "request_start": t["request_start"],
        "request_end": t["request_end"],
        "response_start": t["response_start"],
        "response_end": t["response_end"],
        "stream_id": e.get("stream_id"),
        "open_at_end": e.get("open_at_end", False),
    }


def same(a: Any, b: Any) -> bool:
    if isinstance(b, Check):
        return b(a)
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-9)
    return a == b


def compare_rows(got: List[Dict[str, Any]], want: List[Dict[str, Any]], what: str) -> None:
    assert len(got) == len(want), f"{what}: {len(got)} rows, the JSON has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert set(g) == set(w), f"{what} {i}: columns {sorted(set(g) ^ set(w))}"
        for k in w:
            assert same(g[k], w[k]), f"{what} {i} ({w.get('id', w.get('connection_id'))}): {k}: analyze gives {g[k]!r}, the JSON {w[k]!r}"


@pytest.mark.parametrize("capture", CAPTURES, ids=os.path.basename)
def test_analyze_equals_cli_json(capture: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", httpreuse.CaptureWarning)
        a = httpreuse.analyze(capture)
    report = cli_json([capture])
    conns = report["connections"]
    compare_rows(a.connections.to_pylist(), [expected_connection(c) for c in conns], "connection")
    compare_rows(
        a.exchanges.to_pylist(),
        [expected_exchange(c, i, e) for c in conns for i, e in enumerate(c["exchanges"])],
        "exchange",
    )
    assert a.summary == report["summary"]
    assert a.findings == report["findings"]
    assert a.inputs == report["inputs"]
    assert a.connections.schema == httpreuse.connection_schema()
    assert a.exchanges.schema == httpreuse.exchange_schema()


def test_tables_have_the_parquet_schema_and_rows(tmp_path: Path) -> None:
    cap = str(ROOT / "fixtures" / "captures" / "ab-k.pcap")
    subprocess.run([cli(), "--format", "parquet", "-o", str(tmp_path / "cli"), cap], check=True)
    a = httpreuse.analyze(cap)
    out = httpreuse.analyze_to_parquet(cap, tmp_path / "py")
    for t, table in (("connections", a.connections), ("exchanges", a.exchanges)):
        from_cli = pq.read_table(tmp_path / "cli" / f"{t}.parquet")
        from_py = pq.read_table(tmp_path / "py" / f"{t}.parquet")
        assert from_cli.schema.remove_metadata() == table.schema
        assert from_cli.equals(table)
        assert from_py.equals(table)
    assert out["summary"] == a.summary
    # 2 connections, 11 + 9 requests (tshark: fixtures/expected/ab-k.json)
    assert a.connections.column("requests").to_pylist() == [11, 9]


def test_batches_are_record_batches_without_copy() -> None:
    a = httpreuse.analyze(str(ROOT / "fixtures" / "captures" / "ab-k.pcap"))
    batches = a.connection_batches()
    assert batches and all(isinstance(b, pa.RecordBatch) for b in batches)
    # The Table's buffers are the exported ones: the same addresses.
    col = a.connections.column("start").chunk(0)
    assert col.buffers()[1].address == batches[0].column(batches[0].schema.get_field_index("start")).buffers()[1].address
    raw = httpreuse._native.analyze([str(ROOT / "fixtures" / "captures" / "ab-k.pcap")], [])[3][0]
    assert len(raw) == 2
    pa.record_batch(raw)
    with pytest.raises(RuntimeError, match="already exported"):
        pa.record_batch(raw)


def test_empty_result_has_the_schema() -> None:
    a = httpreuse.analyze(str(ROOT / "fixtures" / "captures" / "ab-k.pcap"), port=1)
    assert a.connections.num_rows == 0 and a.exchanges.num_rows == 0
    assert a.connections.schema == httpreuse.connection_schema()
    assert a.summary["filtered_out"]["connections"] == 2


def test_options_are_the_cli_flags() -> None:
    cap = str(ROOT / "fixtures" / "captures" / "multi-connection-mixed.pcap")
    for flags, options in [
        (["--idle-timeout", "0.5"], {"idle_timeout": 0.5}),
        (["--max-connections", "2"], {"max_connections": 2}),
        (["--server", "127.0.0.1:18081"], {"server": ["127.0.0.1:18081"]}),
        (["--port", "18080", "--port", "18081"], {"port": [18080, 18081]}),
        (["--from", "1", "--to", "2.5"], {"from_": 1, "to": 2.5}),
        (["--close-linger", "1", "--memory-budget", "1MiB"], {"close_linger": 1, "memory_budget": "1MiB"}),
    ]:
        report = cli_json([cap], *flags)
        a = httpreuse.analyze(cap, **options)
        assert a.summary == report["summary"], flags
        assert a.connections.column("id").to_pylist() == [c["id"] for c in report["connections"]], flags
    one = httpreuse.analyze(cap, threads=1)
    two = httpreuse.analyze(cap, threads=2)
    assert one.connections.equals(two.connections) and one.exchanges.equals(two.exchanges)


def test_keylog_decrypts_like_the_cli() -> None:
    # curl fetching three URLs over one TLS connection with ALPN h2
    # (fixtures/record-h2.sh); tshark's decrypted reading has 3 streams
    # (fixtures/expected/h2/h2-tls-curl.json).
    cap = ROOT / "fixtures" / "captures" / "h2-tls-curl.pcap"
    keys = ROOT / "fixtures" / "captures" / "h2-tls-curl.keys"
    want = json.loads((ROOT / "fixtures" / "expected" / "h2" / "h2-tls-curl.json").read_text())
    streams = len(want["connections"][0]["streams"])
    a = httpreuse.analyze(cap, keylog=keys)
    row = a.connections.to_pylist()[0]
    assert row["tls_decrypted"] is True and row["tls_alpn"] == "h2"
    assert row["requests"] == streams == 3
    assert a.summary == cli_json([str(cap)], "--keylog", str(keys))["summary"]
    plain = httpreuse.analyze(cap).connections.to_pylist()[0]
    assert plain["tls_decrypted"] is False and plain["close_estimated"] is True
    with pytest.raises(ValueError, match="keylog"):
        httpreuse.analyze(cap, keylog=ROOT / "no-such.keys")


def test_bad_options() -> None:
    cap = str(ROOT / "fixtures" / "captures" / "ab-k.pcap")
    with pytest.raises(TypeError, match="unknown option 'idle'"):
        httpreuse.analyze(cap, idle=3)
    with pytest.raises(ValueError, match="idle-timeout"):
        httpreuse.analyze(cap, idle_timeout="soon")
    with pytest.raises(ValueError):
        httpreuse.analyze([])


def pcap_cut_offset(path: Path) -> int:
    """Byte offset of the first pcap record that the file cuts off, read
    here from the record headers (not from the tool)."""
    data = path.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off < len(data):
        if off + 16 > len(data):
            return off
        incl = struct.unpack(endian + "IIII", data[off : off + 16])[2]
        if off + 16 + incl > len(data):
            return off
        off += 16 + incl
    raise AssertionError("not cut off")


def test_errors_name_the_file_and_offset(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pcap")
    with pytest.raises(httpreuse.CaptureError) as e:
        httpreuse.analyze(missing)
    assert e.value.file == missing and missing in str(e.value) and e.value.offset is None

    text = str(ROOT / "fixtures" / "broken" / "text-file.pcap")
    with pytest.raises(httpreuse.CaptureError, match="not a pcap or pcapng capture") as e:
        httpreuse.analyze(text)
    assert e.value.file == text

    cut = ROOT / "fixtures" / "broken" / "truncated-mid-record.pcap"
    offset = pcap_cut_offset(cut)
    with pytest.warns(httpreuse.CaptureWarning, match=f"byte offset {offset}"):
        a = httpreuse.analyze(str(cut))
    assert a.inputs[0]["error"]
    with pytest.raises(httpreuse.CaptureError) as e:
        httpreuse.analyze(str(cut), strict=True)
    assert e.value.file == str(cut) and e.value.offset == offset


def repeated_pcap(data: bytes, copies: int, secs: int) -> bytes:
    """A little-endian pcap file holding `copies` copies of another's
    records, copy k with every timestamp k * `secs` later."""
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "LE pcap"
    records = []
    at = 24
    while at + 16 <= len(data):
        incl = struct.unpack_from("<I", data, at + 8)[0]
        records.append(data[at : at + 16 + incl])
        at += 16 + incl
    out = bytearray(data[:24])
    for k in range(copies):
        for r in records:
            ts = struct.unpack_from("<I", r, 0)[0]
            out += struct.pack("<I", ts + k * secs) + r[4:]
    return bytes(out)


def test_gil_is_released_during_analysis(tmp_path: Path) -> None:
    # A capture big enough to take a while: 600 copies of a fixture's
    # connections (ab without keep-alive, 206 frames), each copy 100 s
    # after the one before, in one file (124k frames).
    data = (ROOT / "fixtures" / "captures" / "ab-no-k.pcap").read_bytes()
    big = tmp_path / "repeated.pcap"
    big.write_bytes(repeated_pcap(data, 600, 100))
    caps = [str(big)]
    done = threading.Event()
    took: List[float] = []

    def work() -> None:
        t = time.perf_counter()
        httpreuse.analyze(caps)
        took.append(time.perf_counter() - t)
        done.set()

    ticks = 0
    th = threading.Thread(target=work)
    th.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0)
    th.join()
    # Holding the GIL for the call would leave this loop a handful of
    # switches (one per 5 ms switch interval at best, none inside the call).
    assert took[0] > 0.05, "capture too small to tell"
    assert ticks > 2 * took[0] / 0.005, (ticks, took)


def tshark_streams(capture: str) -> Dict[int, Dict[str, Any]]:
    """Per first frame of each TCP stream: whether a SYN (without ACK) was
    seen, whether it closed (a RST, or a FIN each way), and its Community
    ID (tshark's own dissector), as tshark says."""
    need("tshark")
    out = subprocess.run(
        [
            "tshark", "-r", capture, "-Y", "tcp", "-T", "fields", "-E", "separator=/t",
            "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.flags.syn",
            "-e", "tcp.flags.ack", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset",
            "--enable-protocol", "communityid", "-e", "communityid",
        ],
        check=True, capture_output=True, text=True,
    ).stdout
    streams: Dict[int, Dict[str, Any]] = {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 7 or not f[1]:
            continue
        frame, stream, port = int(f[0]), int(f[1]), f[2]
        flag = lambda v: v in ("1", "True")  # noqa: E731
        s = streams.setdefault(
            stream, {"first": frame, "syn": False, "rst": False, "fin_from": set(), "cid": f[7] if len(f) > 7 else None}
        )
        s["syn"] |= flag(f[3]) and not flag(f[4])
        s["rst"] |= flag(f[6])
        if flag(f[5]):
            s["fin_from"].add(port)
    return {s["first"]: s for s in streams.values()}


@pytest.mark.parametrize(
    "capture",
    ["ab-k.pcap", "tcp-keepalive.pcap", "client-reset.pcap", "multi-connection-mixed.pcap"],
)
def test_merge_keys_and_open_flags_agree_with_tshark(capture: str, tmp_path: Path) -> None:
    from conftest import editcap_split

    whole = str(ROOT / "fixtures" / "captures" / capture)
    # The parts of a split capture begin and end mid-connection.
    checked = 0
    for part in [whole, *editcap_split(whole, 15, tmp_path)]:
        streams = tshark_streams(part)
        a = httpreuse.analyze(part)
        for c in a.connections.to_pylist():
            s = streams.get(c["first_frame"])
            if s is None:
                continue  # a later connection on a tshark stream (port reuse)
            assert c["community_id"] == s["cid"], (part, c["id"])
            assert c["open_at_start"] == (not s["syn"]), (part, c["id"])
            closed = s["rst"] or len(s["fin_from"]) == 2
            assert c["open_at_end"] == (not closed), (part, c["id"])
            checked += 1
    assert checked > 0


def test_type_stubs_match_the_functions() -> None:
    import ast
    import inspect

    pkg = Path(httpreuse.__file__).parent
    assert (pkg / "py.typed").exists() and (pkg / "_native.pyi").exists()
    stub = ast.parse((pkg / "__init__.pyi").read_text())
    defs = {n.name: n for n in stub.body if isinstance(n, ast.FunctionDef)}
    for fname in ("analyze", "analyze_to_parquet", "capture_start", "connection_schema", "exchange_schema", "stitch_sql"):
        args = defs[fname].args
        stub_names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        real = inspect.signature(getattr(httpreuse, fname)).parameters
        named = [n for n, p in real.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        if fname == "analyze":
            # the stub spells out the options the runtime takes as **options
            assert stub_names == named + [k for k in httpreuse.OPTIONS if k != "from"]
        else:
            assert stub_names == named, fname
    native = ast.parse((pkg / "_native.pyi").read_text())
    for n in native.body:
        if isinstance(n, ast.FunctionDef):
            assert callable(getattr(httpreuse._native, n.name)), n.name
