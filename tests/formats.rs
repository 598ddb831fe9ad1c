//! The other formats carry what the JSON report says: CSV row counts,
//! HAR 1.2 validity (against `tests/data/har-1.2.schema.json`, written from
//! the spec), Zeek logs readable by a TSV reader with the types they
//! declare and in agreement with Zeek's own baselines for the Zeek
//! captures, Parquet read back by DuckDB. Connection and request counts are
//! also checked against tshark's reading (`fixtures/expected/`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(p: &str) -> String {
    root()
        .join("fixtures")
        .join(p)
        .to_string_lossy()
        .into_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_httpreuse"))
        .args(args)
        .output()
        .expect("run httpreuse")
}

fn ok(args: &[&str]) -> Vec<u8> {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn json(capture: &str) -> Value {
    serde_json::from_slice(&ok(&["-f", "json", capture])).unwrap()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("httpreuse-formats-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Captures of every kind we have: our recordings and third-party ones.
const CAPTURES: &[&str] = &[
    "captures/keepalive-requests-rollover.pcap",
    "captures/multi-connection-mixed.pcap",
    "captures/diff-before.pcap",
    "captures/diff-after.pcap",
    "captures/expect-100.pcap",
    "captures/mid-connection.pcap",
    "captures/lossy.pcap",
    "captures/ipv6.pcap",
    "captures/refused.pcap",
    "captures/server-reset.pcap",
    "captures/pipelined.pcap",
    "thirdparty/zeek/wikipedia.pcap",
    "thirdparty/zeek/methods.pcap",
];

fn exchanges(j: &Value) -> usize {
    j["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["exchanges"].as_array().unwrap().len())
        .sum()
}

/// tshark's connection count and request count for a capture.
fn tshark_counts(capture: &str) -> (usize, u64) {
    let p = root()
        .join("fixtures/expected")
        .join(format!("{capture}.json"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let conns = v["connections"].as_array().unwrap();
    (
        conns.len(),
        conns.iter().map(|c| c["requests"].as_u64().unwrap()).sum(),
    )
}

// ---------------------------------------------------------------- CSV

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

#[test]
fn csv_rows_are_connections_and_exchanges() {
    for cap in CAPTURES {
        let f = fixture(cap);
        let j = json(&f);
        let dir = tmpdir(&format!("csv-{}", cap.replace('/', "_")));
        ok(&["-f", "csv", "-o", dir.to_str().unwrap(), &f]);
        let (ch, crows) = read_csv(&dir.join("connections.csv"));
        let (eh, erows) = read_csv(&dir.join("exchanges.csv"));
        assert_eq!(
            crows.len(),
            j["summary"]["connections"].as_u64().unwrap() as usize,
            "{cap}"
        );
        assert_eq!(erows.len(), exchanges(&j), "{cap}");
        assert_eq!(ch[0], "id");
        assert_eq!(&eh[..2], ["connection_id", "trans_depth"]);
        // per connection, the requests column agrees with the JSON
        let req_col = ch.iter().position(|h| h == "requests").unwrap();
        for (row, c) in crows.iter().zip(j["connections"].as_array().unwrap()) {
            assert_eq!(row[req_col], c["requests"].to_string(), "{cap}");
        }
        // trans_depth counts 1.. within each connection
        let mut depth: BTreeMap<&str, u64> = BTreeMap::new();
        for row in &erows {
            let d = depth.entry(row[0].as_str()).or_insert(0);
            *d += 1;
            assert_eq!(row[1], d.to_string(), "{cap}");
        }
        // our recordings: as many connections as tshark saw
        if cap.starts_with("captures/") && *cap != "captures/lossy.pcap" {
            assert_eq!(crows.len(), tshark_counts(cap).0, "{cap} vs tshark");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn csv_to_stdout_is_the_connections_table() {
    let f = fixture("captures/diff-after.pcap");
    let out = ok(&["-f", "csv", &f]);
    let mut r = csv::Reader::from_reader(&out[..]);
    assert_eq!(r.headers().unwrap().get(0), Some("id"));
    // tshark: 3 TCP conversations in diff-after.pcap
    assert_eq!(r.records().count(), 3);
}

// ---------------------------------------------------------------- HAR

fn har_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/data/har-1.2.schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn har_is_valid_har_1_2() {
    let v = har_validator();
    for cap in CAPTURES {
        let f = fixture(cap);
        let har: Value = serde_json::from_slice(&ok(&["-f", "har", &f])).unwrap();
        let errors: Vec<String> = v
            .iter_errors(&har)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{cap}: {errors:#?}");
        let j = json(&f);
        let with_request: usize = j["connections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["exchanges"].as_array().unwrap())
            .filter(|e| !e["request"].is_null())
            .count();
        assert_eq!(
            har["log"]["entries"].as_array().unwrap().len(),
            with_request,
            "{cap}"
        );
    }
}

#[test]
fn har_schema_rejects_what_it_should() {
    // the schema is not a rubber stamp
    let v = har_validator();
    let f = fixture("captures/keepalive-requests-rollover.pcap");
    let good: Value = serde_json::from_slice(&ok(&["-f", "har", &f])).unwrap();
    assert!(v.is_valid(&good));
    let mut bad = good.clone();
    bad["log"]["entries"][0]["timings"]["wait"] = Value::from(-1);
    assert!(!v.is_valid(&bad), "wait must be >= 0");
    let mut bad = good.clone();
    bad["log"]["entries"][0]["request"]
        .as_object_mut()
        .unwrap()
        .remove("headers");
    assert!(!v.is_valid(&bad), "headers are required");
    let mut bad = good;
    bad["log"]["entries"][0]["closeReason"] = Value::from("x");
    assert!(!v.is_valid(&bad), "custom fields need a leading _");
}

#[test]
fn har_connect_is_minus_one_on_reused_connections() {
    // keepalive-requests-rollover: tshark shows 2 connections, 3 and 2 requests
    let f = fixture("captures/keepalive-requests-rollover.pcap");
    let har: Value = serde_json::from_slice(&ok(&["-f", "har", &f])).unwrap();
    let e = har["log"]["entries"].as_array().unwrap();
    let conn: Vec<&str> = e
        .iter()
        .map(|e| e["connection"].as_str().unwrap())
        .collect();
    assert_eq!(conn, ["0", "0", "0", "1", "1"]);
    let connect: Vec<f64> = e
        .iter()
        .map(|e| e["timings"]["connect"].as_f64().unwrap())
        .collect();
    assert!(connect[0] > 0.0 && connect[3] > 0.0, "{connect:?}");
    for i in [1, 2, 4] {
        assert_eq!(connect[i], -1.0, "entry {i}: {connect:?}");
    }
    for x in e {
        assert_eq!(x["timings"]["ssl"], -1);
        assert_eq!(x["serverIPAddress"], "127.0.0.1");
    }
    let idx: Vec<u64> = e
        .iter()
        .map(|e| e["_requestIndex"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, [1, 2, 3, 1, 2]);
    // nginx's 3rd response says Connection: close and nginx closes
    assert_eq!(e[0]["_closeReason"], "connection_close");
    assert_eq!(e[3]["_closeReason"], "idle");
}

// ---------------------------------------------------------------- Zeek

/// A Zeek TSV log: its header lines and rows split on the separator.
struct ZeekLog {
    fields: Vec<String>,
    types: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn read_zeek(text: &str) -> ZeekLog {
    let mut sep = "\t".to_string();
    let (mut fields, mut types, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut header_seen = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#separator ") {
            assert_eq!(rest, "\\x09");
            sep = "\t".into();
            header_seen = true;
        } else if let Some(rest) = line.strip_prefix("#fields\t") {
            fields = rest.split(&sep).map(str::to_string).collect();
        } else if let Some(rest) = line.strip_prefix("#types\t") {
            types = rest.split(&sep).map(str::to_string).collect();
        } else if line.starts_with('#') {
        } else if !header_seen && fields.is_empty() {
            // zeek-cut output (the *.log.cut baselines): first line names the columns
            fields = line.split('\t').map(str::to_string).collect();
        } else {
            rows.push(line.split(&sep).map(str::to_string).collect());
        }
    }
    ZeekLog {
        fields,
        types,
        rows,
    }
}

impl ZeekLog {
    fn col(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }
    fn get<'a>(&self, row: &'a [String], name: &str) -> Option<&'a str> {
        self.col(name).and_then(|i| row.get(i)).map(String::as_str)
    }
}

/// A value is of its declared Zeek type (or unset `-`).
fn type_ok(t: &str, v: &str) -> bool {
    if v == "-" {
        return true;
    }
    match t {
        "time" | "interval" => {
            v.parse::<f64>().is_ok() && v.split('.').nth(1).is_some_and(|f| f.len() == 6)
        }
        "addr" => v.parse::<IpAddr>().is_ok(),
        "port" => v.parse::<u16>().is_ok(),
        "count" => v.parse::<u64>().is_ok(),
        "bool" => v == "T" || v == "F",
        "enum" => {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        }
        "string" => !v.is_empty() && !v.contains('\t'),
        t if t.starts_with("set[") || t.starts_with("vector[") => !v.is_empty(),
        _ => false,
    }
}

fn check_types(log: &ZeekLog, what: &str) {
    assert_eq!(
        log.fields.len(),
        log.types.len(),
        "{what}: #fields vs #types"
    );
    for row in &log.rows {
        assert_eq!(row.len(), log.fields.len(), "{what}: {row:?}");
        for ((v, t), f) in row.iter().zip(&log.types).zip(&log.fields) {
            assert!(type_ok(t, v), "{what}: field {f} of type {t} has {v:?}");
        }
    }
}

fn zeek_logs(capture: &str) -> (ZeekLog, ZeekLog) {
    let dir = tmpdir(&format!("zeek-{}", capture.replace('/', "_")));
    ok(&["-f", "zeek", "-o", dir.to_str().unwrap(), &fixture(capture)]);
    let conn = read_zeek(&std::fs::read_to_string(dir.join("conn.log")).unwrap());
    let http = read_zeek(&std::fs::read_to_string(dir.join("http.log")).unwrap());
    std::fs::remove_dir_all(&dir).ok();
    (conn, http)
}

#[test]
fn zeek_logs_have_the_declared_types() {
    for cap in CAPTURES {
        let (conn, http) = zeek_logs(cap);
        check_types(&conn, &format!("{cap} conn.log"));
        check_types(&http, &format!("{cap} http.log"));
        let j = json(&fixture(cap));
        assert_eq!(
            conn.rows.len(),
            j["connections"].as_array().unwrap().len(),
            "{cap}"
        );
        let with_request = j["connections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["exchanges"].as_array().unwrap())
            .filter(|e| !e["request"].is_null())
            .count();
        assert_eq!(http.rows.len(), with_request, "{cap}");
        // every http.log uid is a conn.log uid
        let uids: Vec<&str> = conn
            .rows
            .iter()
            .map(|r| conn.get(r, "uid").unwrap())
            .collect();
        for r in &http.rows {
            assert!(uids.contains(&http.get(r, "uid").unwrap()), "{cap}");
        }
    }
}

#[test]
fn zeek_header_lines() {
    let f = fixture("captures/diff-after.pcap");
    let text = String::from_utf8(ok(&["-f", "zeek", &f])).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#separator \\x09");
    assert_eq!(lines[1], "#set_separator\t,");
    assert_eq!(lines[2], "#empty_field\t(empty)");
    assert_eq!(lines[3], "#unset_field\t-");
    assert_eq!(lines[4], "#path\tconn");
    assert!(lines[5].starts_with("#open\t"));
    assert!(lines.last().unwrap().starts_with("#close\t"));
}

/// Fields where ours and Zeek's differ for a documented reason, as
/// `capture|orig_p|trans_depth|field` (http.log) or `capture|orig_p|field`
/// (conn.log); `*` matches any port or depth.
const KNOWN_FIELDS: &[&str] = &[
    // Chunked responses: Zeek counts the de-chunked body, we count the
    // bytes on the wire, chunk-size lines and CRLFs included (21 bytes more
    // for these, by tshark's http.content_length vs. the chunk framing).
    "methods.pcap|46566|1|response_body_len",
    "methods.pcap|46567|1|response_body_len",
    "methods.pcap|46571|1|response_body_len",
    // 100-continue: the 200 is chunked (tshark: Transfer-Encoding: chunked)
    "100-continue.pcap|54102|1|response_body_len",
    // pipelined-requests: gzip-encoded bodies (tshark: Content-Encoding:
    // gzip, Content-Length 946 and 6716); Zeek counts them inflated
    "pipelined-requests.pcap|1673|1|response_body_len",
    "pipelined-requests.pcap|1673|2|response_body_len",
    // mixed-vlan-mpls 50343: the server answers without a status line
    // (HTTP/0.9 style); Zeek logs version 0.9, status 0 and the body, we
    // log the request with no response and the request's version
    "mixed-vlan-mpls.pcap|50343|1|version",
    "mixed-vlan-mpls.pcap|50343|1|status_code",
    "mixed-vlan-mpls.pcap|50343|1|response_body_len",
    // methods.pcap sends requests with methods and targets Zeek's HTTP
    // parser gives up on; Zeek then logs the answer as HTTP/0.9, status 0,
    // with the whole rest of the stream as its body. We parse the answers'
    // status lines (tshark agrees: 400/403/411, HTTP/1.0).
    "methods.pcap|*|1|version",
    "methods.pcap|*|1|status_code",
    "methods.pcap|*|1|response_body_len",
    // 46565: a request line Zeek logs as `-`; we read method OPTIONS and an
    // empty target.
    "methods.pcap|46565|1|method",
    "methods.pcap|46565|1|uri",
];

fn known(id: &str) -> Option<&'static str> {
    KNOWN_FIELDS.iter().copied().find(|k| {
        let (a, b): (Vec<&str>, Vec<&str>) = (k.split('|').collect(), id.split('|').collect());
        a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x == y || *x == "*")
    })
}

/// Zeek writes a history letter again when the event repeats (10, 100...
/// times); ours writes each letter once per side: keep first occurrences.
fn first_letters(h: &str) -> String {
    let mut seen = std::collections::BTreeSet::new();
    h.chars().filter(|c| seen.insert(*c)).collect()
}

#[test]
fn zeek_logs_agree_with_zeek_baselines() {
    let dir = root().join("fixtures/thirdparty/zeek");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut used_known = std::collections::BTreeSet::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for base in entries {
        let name = base.file_name().unwrap().to_string_lossy().into_owned();
        let (stem, kind) = if let Some(i) = name.find(".zeek-conn.log") {
            (&name[..i], "conn")
        } else if let Some(i) = name.find(".zeek-http.log") {
            (&name[..i], "http")
        } else {
            continue;
        };
        let Some(cap) = ["pcap", "pcapng"]
            .iter()
            .map(|e| format!("thirdparty/zeek/{stem}.{e}"))
            .find(|p| Path::new(&fixture(p)).exists())
        else {
            continue;
        };
        let capname = cap.rsplit('/').next().unwrap().to_string();
        let theirs = read_zeek(&std::fs::read_to_string(&base).unwrap());
        let (conn, http) = zeek_logs(&cap);
        let ours = if kind == "conn" { conn } else { http };
        let key_fields: &[&str] = if kind == "conn" {
            &["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"]
        } else {
            &[
                "id.orig_h",
                "id.orig_p",
                "id.resp_h",
                "id.resp_p",
                "trans_depth",
            ]
        };
        let compare: &[&str] = if kind == "conn" {
            &["proto", "conn_state", "history"]
        } else {
            &[
                "method",
                "uri",
                "version",
                "status_code",
                "request_body_len",
                "response_body_len",
            ]
        };
        // key by the key fields the baseline has (a .cut may lack some)
        let present: Vec<&str> = key_fields
            .iter()
            .copied()
            .filter(|f| theirs.col(f).is_some())
            .collect();
        if present.is_empty() {
            continue;
        }
        for trow in &theirs.rows {
            // Zeek's UDP rows (DNS, mDNS) are not ours to report
            if theirs.get(trow, "proto").is_some_and(|p| p != "tcp") {
                continue;
            }
            let key: Vec<&str> = present
                .iter()
                .map(|f| theirs.get(trow, f).unwrap())
                .collect();
            let found = ours.rows.iter().find(|orow| {
                present
                    .iter()
                    .zip(&key)
                    .all(|(f, k)| ours.get(orow, f) == Some(*k))
            });
            let orig_p = theirs.get(trow, "id.orig_p").unwrap_or("?");
            let depth = theirs.get(trow, "trans_depth").unwrap_or("");
            let Some(orow) = found else {
                // Zeek logged a request that did not parse (method `-`)
                if theirs.get(trow, "method") == Some("-") {
                    continue;
                }
                failures.push(format!("{capname} {kind}: no row for {key:?}"));
                continue;
            };
            for f in compare {
                let (Some(t), Some(o)) = (theirs.get(trow, f), ours.get(orow, f)) else {
                    continue;
                };
                checked += 1;
                let same = if *f == "history" && (t.contains(['g', 'G']) || o.contains(['g', 'G']))
                {
                    // gaps: same letters; Zeek places g/G where it noticed
                    // the gap, we where the stream reached it
                    let mut a: Vec<char> = first_letters(t).chars().collect();
                    let mut b: Vec<char> = o.chars().collect();
                    a.sort();
                    b.sort();
                    a == b
                } else if *f == "history" {
                    first_letters(t) == o
                } else {
                    t == o
                };
                if !same {
                    let id = if kind == "conn" {
                        format!("{capname}|{orig_p}|{f}")
                    } else {
                        format!("{capname}|{orig_p}|{depth}|{f}")
                    };
                    if let Some(k) = known(&id) {
                        used_known.insert(k);
                    } else {
                        failures.push(format!("{id}: zeek {t:?}, ours {o:?}"));
                    }
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} fields compared");
    assert!(failures.is_empty(), "{failures:#?}");
    let unused: Vec<&&str> = KNOWN_FIELDS
        .iter()
        .filter(|k| !used_known.contains(*k))
        .collect();
    assert!(unused.is_empty(), "stale known differences: {unused:?}");
}

// ---------------------------------------------------------------- Parquet

#[cfg(feature = "parquet")]
/// Runs a DuckDB query through python3; the test fails (never passes
/// silently) when python3 or the duckdb package is missing.
fn duckdb(sql: &str) -> Vec<Vec<Value>> {
    let script = "import sys, json, duckdb\n\
                  rows = duckdb.sql(sys.argv[1]).fetchall()\n\
                  print(json.dumps([list(r) for r in rows], default=str))\n";
    let out = Command::new("python3").args(["-c", script, sql]).output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!(
            "python3 is needed to read Parquet back with DuckDB ({e}): install python3, then `pip install duckdb`"
        ),
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("No module named 'duckdb'"),
        "the duckdb Python package is missing: run `pip install duckdb` (.ci/run does)"
    );
    assert!(out.status.success(), "duckdb query failed: {err}\n{sql}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_reads_back_in_duckdb() {
    for cap in [
        "captures/multi-connection-mixed.pcap",
        "captures/diff-before.pcap",
        "captures/lossy.pcap",
        "thirdparty/zeek/wikipedia.pcap",
    ] {
        let f = fixture(cap);
        let j = json(&f);
        let dir = tmpdir(&format!("pq-{}", cap.replace('/', "_")));
        ok(&["-f", "parquet", "-o", dir.to_str().unwrap(), &f]);
        let c = dir.join("connections.parquet").display().to_string();
        let e = dir.join("exchanges.parquet").display().to_string();
        let rows = duckdb(&format!(
            "select count(*), coalesce(sum(requests), 0), coalesce(sum(responses), 0) from '{c}'"
        ));
        let s = &j["summary"];
        assert_eq!(
            rows[0],
            [
                s["connections"].clone(),
                s["requests"].clone(),
                s["responses"].clone()
            ],
            "{cap}"
        );
        let rows = duckdb(&format!("select count(*) from '{e}'"));
        assert_eq!(rows[0][0], Value::from(exchanges(&j)), "{cap}");
        // a query against the JSON: close reasons by the side that closed
        let rows = duckdb(&format!(
            "select close_reason, count(*), count(*) filter (where close_by = 'client'), \
             count(*) filter (where close_by = 'server') from '{c}' group by 1 order by 1"
        ));
        let want: Vec<Vec<Value>> = s["close_reasons"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                vec![
                    Value::from(k.as_str()),
                    v["total"].clone(),
                    v["client"].clone(),
                    v["server"].clone(),
                ]
            })
            .collect();
        assert_eq!(rows, want, "{cap}");
        // statuses per connection id agree with the JSON, in order
        let rows = duckdb(&format!(
            "select connection_id, trans_depth, status from '{e}' order by connection_id, trans_depth"
        ));
        let mut want = Vec::new();
        for conn in j["connections"].as_array().unwrap() {
            for (i, x) in conn["exchanges"].as_array().unwrap().iter().enumerate() {
                let st = x["response"]["status"].clone();
                want.push(vec![conn["id"].clone(), Value::from(i + 1), st]);
            }
        }
        assert_eq!(rows, want, "{cap}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_needs_an_output_directory() {
    let o = run(&["-f", "parquet", &fixture("captures/diff-after.pcap")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("-o DIR"));
}

// ---------------------------------------------------------------- filters

#[test]
fn filters_keep_only_matching_connections() {
    // multi-connection-mixed: tshark sees 4 connections to :18080 (curl 1,
    // ab -k -c 3 makes 3) and 3 to :18090 (curl's 2 URLs: 2, requests: 1)
    let f = fixture("captures/multi-connection-mixed.pcap");
    let (total, _) = tshark_counts("captures/multi-connection-mixed.pcap");
    let exp: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("fixtures/expected/captures/multi-connection-mixed.pcap.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let to_18090 = exp["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["server"] == "127.0.0.1:18090")
        .count() as u64;
    let all = json(&f);
    assert_eq!(all["summary"]["connections"], total);
    assert!(
        all["summary"].get("filtered_out").is_none(),
        "no filter, no field"
    );
    for args in [
        vec!["--server", "127.0.0.1:18090"],
        vec!["--port", "18090"],
        vec!["--server", "127.0.0.1", "--port", "18090"],
    ] {
        let mut a = vec!["-f", "json"];
        a.extend(&args);
        a.push(&f);
        let j: Value = serde_json::from_slice(&ok(&a)).unwrap();
        assert_eq!(j["summary"]["connections"], to_18090, "{args:?}");
        for c in j["connections"].as_array().unwrap() {
            assert_eq!(c["server"], "127.0.0.1:18090");
        }
        let fo = &j["summary"]["filtered_out"];
        assert_eq!(fo["connections"], total as u64 - to_18090, "{args:?}");
        let frames = j["summary"]["frames"].as_u64().unwrap();
        let analysed = j["summary"]["tcp_segments"].as_u64().unwrap();
        assert_eq!(
            analysed + fo["frames"].as_u64().unwrap(),
            frames,
            "every frame accounted for"
        );
    }
    // nobody from 10.0.0.1
    let j: Value =
        serde_json::from_slice(&ok(&["-f", "json", "--client", "10.0.0.1", &f])).unwrap();
    assert_eq!(j["summary"]["connections"], 0);
    // the time window: from after the last packet keeps nothing, from 0 everything
    let dur = all["summary"]["duration"].as_f64().unwrap();
    let after_end = format!("{}", dur + 1.0);
    let j: Value = serde_json::from_slice(&ok(&["-f", "json", "--from", &after_end, &f])).unwrap();
    assert_eq!(j["summary"]["connections"], 0);
    assert_eq!(j["summary"]["filtered_out"]["connections"], total);
    let j: Value =
        serde_json::from_slice(&ok(&["-f", "json", "--from", "0", "--to", &after_end, &f]))
            .unwrap();
    assert_eq!(j["summary"]["connections"], total);
    // RFC 3339: the first connection's start, to the second
    let start = all["connections"][0]["start"].as_f64().unwrap() as i64;
    let secs = start.rem_euclid(86_400);
    let days = start.div_euclid(86_400);
    let (y, m, d) = civil(days);
    let stamp = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    let j: Value = serde_json::from_slice(&ok(&["-f", "json", "--from", &stamp, &f])).unwrap();
    assert_eq!(j["summary"]["connections"], total, "{stamp}");
    // bad values are usage errors
    for bad in [
        ["--server", "nowhere"],
        ["--from", "yesterday"],
        ["--port", "70000"],
    ] {
        let o = run(&[bad[0], bad[1], &f]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
}

/// Date of a day count since 1970-01-01 (for the RFC 3339 test input).
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
fn text_report_says_what_was_filtered() {
    let f = fixture("captures/multi-connection-mixed.pcap");
    let out = String::from_utf8(ok(&["--color", "never", "--port", "18090", &f])).unwrap();
    assert!(out.contains("filtered out"), "{out}");
    assert!(out.contains("port 18090"), "{out}");
}

// ---------------------------------------------------------------- shell

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let out = String::from_utf8(ok(&["completions", shell])).unwrap();
        assert!(out.contains("httpreuse"), "{shell}");
        assert!(
            out.contains("expect"),
            "{shell}: subcommand options completed"
        );
    }
    let man = String::from_utf8(ok(&["man"])).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH"),
        "{}",
        &man[..man.len().min(200)]
    );
    assert!(man.contains("httpreuse"));
    let o = run(&["completions", "nosuchshell"]);
    assert_eq!(o.status.code(), Some(2));
}
