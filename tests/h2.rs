//! HTTP/2 through the whole analysis (`httpreuse::analyzer`, as the binary
//! runs it): prior knowledge and `Upgrade: h2c` are sniffed and handed to
//! the HTTP/2 engine, streams become `exchanges`, each connection has an
//! `http2` object, and HTTP/2 verdicts (`goaway`...) are judged.
//!
//! Expected values:
//! - streams (id, method, path, final status, interim 1xx, promised_on),
//!   GOAWAYs (by, last_stream_id, error) and RST_STREAMs (by, stream id,
//!   error) per connection come from `fixtures/expected/h2/NAME.json`,
//!   written by `fixtures/h2-expect.py` from tshark (independently of this
//!   code), for every plaintext capture `fixtures/captures/h2-*.pcap` and
//!   the suricata-verify ones (`sv-*`), and for the `h2-tls-*` captures
//!   decrypted with their key logs (tshark's decrypted reading).
//! - close reasons come from what each recorded program did
//!   (`fixtures/record-h2.sh` describes every scenario).

use std::path::PathBuf;

use httpreuse::analyzer::{self, Options};
use httpreuse::capture::Input;
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn report_of(rel: &str, threads: usize) -> Value {
    let input = Input::Path(root().join("fixtures").join(rel));
    let opts = Options {
        threads,
        ..Options::default()
    };
    let r = analyzer::analyze(&[input], opts).expect("capture reads");
    serde_json::to_value(&r).expect("report serialises")
}

fn expected(name: &str) -> Value {
    let p = root()
        .join("fixtures/expected/h2")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("expected file is JSON")
}

/// Our connection in the shape of an expected one.
fn ours(c: &Value) -> Value {
    let upgrade = c["http2"]["start"] == "upgrade";
    let mut streams: Vec<&Value> = c["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .filter(|e| e["stream_id"].is_u64())
        .collect();
    streams.sort_by_key(|e| e["stream_id"].as_u64());
    let streams: Vec<Value> = streams
        .iter()
        .map(|e| {
            let mut v = json!({"stream_id": e["stream_id"]});
            if let Some(on) = e.get("promised_on") {
                v["promised_on"] = on.clone();
            }
            if let Some(r) = e["request"].as_object() {
                v["method"] = r["method"].clone();
                v["path"] = r["target"].clone();
            }
            // the 101 of an upgrade is HTTP/1's: tshark lists it there
            let interim: Vec<Value> = e["interim"]
                .as_array()
                .expect("interim")
                .iter()
                .map(|i| i["status"].clone())
                .filter(|s| !(upgrade && *s == json!(101)))
                .collect();
            if !interim.is_empty() {
                v["interim"] = json!(interim);
            }
            if let Some(r) = e["response"].as_object() {
                v["status"] = r["status"].clone();
            }
            v
        })
        .collect();
    let h = &c["http2"];
    let goaway: Vec<Value> = h["goaway"]
        .as_array()
        .map(|g| {
            g.iter()
                .map(|g| json!({"by": g["by"], "last_stream_id": g["last_stream_id"], "error": g["error"]}))
                .collect()
        })
        .unwrap_or_default();
    let rst: Vec<Value> = h["resets"]
        .as_array()
        .map(|g| {
            g.iter()
                .map(|r| json!({"by": r["by"], "stream_id": r["stream_id"], "error": r["error"]}))
                .collect()
        })
        .unwrap_or_default();
    let port: u64 = c["client"]
        .as_str()
        .and_then(|s| s.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("client port");
    json!({"client_port": port, "streams": streams, "goaway": goaway, "rst_stream": rst})
}

/// Asserts that the report of the expected file's capture agrees with
/// tshark, connection by connection; returns the report.
fn agrees(name: &str) -> Value {
    let exp = expected(name);
    let rel = exp["pcap"].as_str().expect("capture path");
    let r = report_of(rel, 1);
    let conns = r["connections"].as_array().expect("connections");
    let want = exp["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), want.len(), "{name}: connections");
    for (i, (c, w)) in conns.iter().zip(want).enumerate() {
        let w = json!({"client_port": w["client_port"], "streams": w["streams"],
                       "goaway": w["goaway"], "rst_stream": w["rst_stream"]});
        let plain_http1 =
            w["streams"].as_array().is_some_and(|s| s.is_empty()) && c["http2"].is_null();
        if plain_http1 {
            // an HTTP/1 connection beside the h2c ones: no streams either way
            continue;
        }
        assert_eq!(ours(c), w, "{name}: connection {i}");
        // every stream is an exchange, and requests are client streams
        let h = &c["http2"];
        assert_eq!(
            c["requests"], h["streams_opened"]["client"],
            "{name}: connection {i}: requests = client streams"
        );
        for e in c["exchanges"].as_array().expect("exchanges") {
            if let Some(r) = e["request"].as_object() {
                assert_eq!(r["version"], "HTTP/2");
            }
        }
    }
    r
}

fn conn(r: &Value, i: usize) -> &Value {
    &r["connections"][i]
}

fn close(r: &Value, i: usize) -> &Value {
    &conn(r, i)["close"]
}

fn anomaly_kinds(c: &Value) -> Vec<String> {
    c["anomalies"]
        .as_array()
        .expect("anomalies")
        .iter()
        .map(|a| a["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn every_expected_capture_agrees_with_tshark() {
    let dir = root().join("fixtures/expected/h2");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("expected dir")
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            n.strip_suffix(".json").map(str::to_string)
        })
        .filter(|n| !n.starts_with("h2-tls-"))
        .collect();
    names.sort();
    assert!(names.len() >= 26, "{names:?}");
    for n in &names {
        agrees(n);
    }
}

#[test]
fn curl_prior_knowledge_idle_close_by_client() {
    let r = agrees("h2-curl-prior");
    for i in 0..2 {
        let c = conn(&r, i);
        assert_eq!(c["http2"]["start"], "prior_knowledge");
        assert_eq!(c["requests"], 1);
        assert!(anomaly_kinds(c).is_empty(), "{:?}", c["anomalies"]);
    }
    let e = &conn(&r, 0)["exchanges"][0];
    assert_eq!(e["stream_id"], 1);
    assert_eq!(e["authority"], "127.0.0.1:18250");
    assert_eq!(e["response"]["body_bytes"], 136);
    assert!(e["timing"]["response_end"].is_f64());
    // the second answers 404
    assert_eq!(conn(&r, 1)["exchanges"][0]["response"]["status"], 404);
}

#[test]
fn nginx_rollover_is_a_goaway_stream_limit() {
    let r = agrees("h2-rollover");
    let c = close(&r, 0);
    assert_eq!(c["reason"], "goaway");
    assert_eq!(c["by"], "server");
    assert_eq!(c["goaway"]["error"], "NO_ERROR");
    assert_eq!(c["goaway"]["cause"], "stream_limit");
    assert_eq!(c["goaway"]["last_stream_id"], 17);
    assert_eq!(c["goaway"]["unprocessed"], 2);
    let text = c["explanation"].as_str().unwrap_or_default();
    assert!(text.contains("rollover"), "{text}");
    // streams 19 and 21 are exchanges marked unprocessed
    let un: Vec<u64> = conn(&r, 0)["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .filter(|e| e.get("unprocessed").is_some())
        .filter_map(|e| e["stream_id"].as_u64())
        .collect();
    assert_eq!(un, vec![19, 21]);
    assert_eq!(
        anomaly_kinds(conn(&r, 0)),
        vec!["h2_stream_after_goaway", "h2_stream_after_goaway"]
    );
    let s = &r["summary"]["http2"];
    assert_eq!(s["connections"], 1);
    assert_eq!(s["goaway"]["server:NO_ERROR:stream_limit"], 1);
    assert_eq!(s["streams_unprocessed"], 2);
    assert_eq!(r["summary"]["close_reasons"]["goaway"]["server"], 1);
    assert_eq!(r["summary"]["by_server"][0]["http2"]["connections"], 1);
}

#[test]
fn h2load_rollover_goaway_by_server_after_its_limit() {
    let r = agrees("h2load-rollover");
    for c in r["connections"].as_array().expect("connections") {
        let cl = &c["close"];
        if cl["reason"] == "goaway" {
            assert_eq!(cl["by"], "server");
            assert_eq!(cl["goaway"]["error"], "NO_ERROR");
            assert_eq!(cl["goaway"]["cause"], "stream_limit");
        }
    }
    assert_eq!(close(&r, 0)["reason"], "goaway");
}

#[test]
fn nginx_idle_goaway_is_an_idle_timeout() {
    let r = agrees("h2-idle");
    let c = close(&r, 0);
    assert_eq!(c["reason"], "goaway");
    assert_eq!(c["by"], "server");
    assert_eq!(c["goaway"]["cause"], "idle_timeout");
    // keepalive_timeout 1s
    let idle = c["goaway"]["idle_seconds"].as_f64().expect("idle");
    assert!((0.9..1.5).contains(&idle), "{idle}");
    let text = c["explanation"].as_str().unwrap_or_default();
    assert!(text.contains("idle timeout"), "{text}");
}

#[test]
fn client_reset_stream_cancel_then_reuse() {
    let r = agrees("h2-client-reset");
    let c = conn(&r, 0);
    assert_eq!(c["requests"], 2);
    assert_eq!(c["reused"], true);
    let first = &c["exchanges"][0];
    assert_eq!(first["stream_id"], 1);
    assert_eq!(first["rst_stream"]["error"], "CANCEL");
    assert_eq!(first["rst_stream"]["by"], "client");
    // then h2 answers each DATA frame still in flight with STREAM_CLOSED
    // (tshark: six RST_STREAMs from the client on stream 1)
    assert_eq!(c["http2"]["rst_streams"]["client"], 6);
    // the client closed when done, nothing open
    assert_eq!(c["close"]["reason"], "idle");
    assert_eq!(c["close"]["by"], "client");
}

#[test]
fn curl_max_filesize_resets_mid_stream() {
    let r = agrees("h2-curl-maxfilesize");
    let c = close(&r, 0);
    // curl closed the socket while nginx was still sending DATA
    assert_eq!(c["reason"], "reset");
    assert_eq!(c["by"], "client");
    assert_eq!(c["open_stream"], 1);
    assert_eq!(c["request_outstanding"], true);
}

#[test]
fn push_streams_carry_promised_on() {
    let r = agrees("h2-push");
    let c = conn(&r, 0);
    assert_eq!(c["http2"]["streams_opened"]["server"], 2);
    assert_eq!(c["requests"], 1);
    let pushed: Vec<(u64, u64)> = c["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .filter_map(|e| Some((e["stream_id"].as_u64()?, e["promised_on"].as_u64()?)))
        .collect();
    assert_eq!(pushed, vec![(2, 13), (4, 13)]);
    // nghttp sent GOAWAY when done, then closed
    assert_eq!(close(&r, 0)["reason"], "goaway");
    assert_eq!(close(&r, 0)["goaway"]["cause"], "client_done");
}

#[test]
fn upgrade_starts_http2_with_the_upgrading_request_as_stream_1() {
    for name in ["h2-upgrade", "h2-upgrade-nghttp"] {
        let r = agrees(name);
        for c in r["connections"].as_array().expect("connections") {
            assert_eq!(c["http2"]["start"], "upgrade", "{name}");
            assert_ne!(c["close"]["reason"], "upgraded", "{name}");
            assert_eq!(c["http"]["upgraded"], false, "{name}");
            let e = &c["exchanges"][0];
            assert_eq!(e["stream_id"], 1, "{name}");
            assert_eq!(e["interim"][0]["status"], 101, "{name}");
            assert_eq!(e["request"]["version"], "HTTP/2", "{name}");
            assert!(anomaly_kinds(c).is_empty(), "{name}: {:?}", c["anomalies"]);
        }
    }
    // Apache answered and sent GOAWAY before curl's FIN on the first
    let r = report_of("captures/h2-upgrade.pcap", 1);
    assert_eq!(close(&r, 0)["reason"], "goaway");
    assert_eq!(close(&r, 0)["by"], "server");
    // nghttp -u multiplexes streams 3 and 5 after the upgrade
    let r = report_of("captures/h2-upgrade-nghttp.pcap", 1);
    assert_eq!(conn(&r, 0)["requests"], 3);
}

#[test]
fn python_refused_stream_grpc_and_early_hints() {
    let r = agrees("h2-python");
    let all: Vec<&Value> = r["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .flat_map(|c| c["exchanges"].as_array().expect("exchanges"))
        .collect();
    let grpc: Vec<u64> = all
        .iter()
        .filter_map(|e| e["grpc_status"].as_u64())
        .collect();
    assert_eq!(grpc, vec![0, 12]);
    let refused = all
        .iter()
        .filter(|e| e["rst_stream"]["error"] == "REFUSED_STREAM")
        .count();
    assert!(refused >= 1);
    assert_eq!(
        r["summary"]["anomalies"]["h2_refused_stream"].as_u64(),
        Some(refused as u64)
    );
}

#[test]
fn goaway_race_leaves_streams_unprocessed() {
    let r = agrees("h2-goaway-race");
    let c = close(&r, 0);
    assert_eq!(c["reason"], "goaway");
    assert_eq!(c["by"], "server");
    assert_eq!(c["goaway"]["last_stream_id"], 1);
    assert_eq!(c["goaway"]["unprocessed"], 2);
}

#[test]
fn protocol_error_goaway_is_an_error() {
    let r = agrees("h2-protocol-error");
    let c = close(&r, 0);
    assert_eq!(c["reason"], "goaway");
    assert_eq!(c["goaway"]["error"], "PROTOCOL_ERROR");
    assert_eq!(c["goaway"]["cause"], "error");
    assert!(anomaly_kinds(conn(&r, 0)).contains(&"h2_protocol_error_goaway".to_string()));
}

#[test]
fn h2load_concurrency_in_the_summary() {
    let r = agrees("h2load");
    let s = &r["summary"]["http2"];
    assert_eq!(s["connections"], 2);
    assert_eq!(s["peak_concurrent_streams"], 4);
    assert_eq!(s["streams"]["client"], 20);
    // streams per connection are requests per connection
    assert_eq!(
        r["summary"]["requests_per_connection"]["histogram"]["10"],
        2
    );
}

#[test]
fn threads_give_the_same_report() {
    for rel in ["captures/h2load.pcap", "captures/h2-upgrade-nghttp.pcap"] {
        let a = report_of(rel, 1);
        let b = report_of(rel, 2);
        assert_eq!(a["connections"], b["connections"], "{rel}");
        assert_eq!(a["summary"], b["summary"], "{rel}");
    }
}

#[test]
fn http1_reports_carry_no_http2_fields() {
    let r = report_of("captures/curl-keepalive.pcap", 1);
    assert!(r["summary"].get("http2").is_none());
    for c in r["connections"].as_array().expect("connections") {
        assert!(c.get("http2").is_none());
        for e in c["exchanges"].as_array().expect("exchanges") {
            assert!(e.get("stream_id").is_none());
        }
    }
}

fn findings_of_kind<'a>(r: &'a Value, kind: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[test]
fn rollover_findings_count_http2_goaways() {
    // nginx keepalive_requests 3: streams were still coming (stream_limit)
    let r = report_of("captures/h2-rollover.pcap", 1);
    let f = findings_of_kind(&r, "request_limit_rollover");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["figures"]["request_limit"], 3);
    assert_eq!(f[0]["figures"]["http2_rollovers"], 1);
    // Apache's GOAWAY right after nghttp's last stream, none pending: one
    // connection says nothing of a limit...
    let r = report_of("captures/h2-upgrade-nghttp.pcap", 1);
    assert_eq!(close(&r, 0)["goaway"]["cause"], "after_last_stream");
    assert!(findings_of_kind(&r, "request_limit_rollover").is_empty());
    // ...the same count on two connections of the server does (the capture
    // and a copy of it 100 s later: two connections, three streams each;
    // the same file given twice would be merged frame by frame, as one
    // capture set)
    let path = root().join("fixtures/captures/h2-upgrade-nghttp.pcap");
    let dir = tempfile::tempdir().expect("temporary directory");
    let later = dir.path().join("later.pcap");
    std::fs::write(
        &later,
        shifted_pcap(&std::fs::read(&path).expect("reads"), 100),
    )
    .expect("writes");
    let r = analyzer::analyze(&[Input::Path(path), Input::Path(later)], Options::default())
        .expect("reads");
    let r = serde_json::to_value(&r).expect("serialises");
    assert_eq!(r["connections"].as_array().map(Vec::len), Some(2));
    let f = findings_of_kind(&r, "request_limit_rollover");
    assert_eq!(f.len(), 1, "{:?}", r["findings"]);
    assert_eq!(f[0]["figures"]["request_limit"], 3);
    assert_eq!(f[0]["figures"]["rollovers"], 2);
}

#[test]
fn har_entries_of_streams_use_authority_and_scheme() {
    // tshark on this capture: HEADERS of stream 1 are
    // `:method GET, :authority www.youtube.com, :scheme https, :path /robots.txt`
    let input = Input::Path(root().join("fixtures/thirdparty/suricata-verify/http2-bugfixes.pcap"));
    let r = analyzer::analyze(&[input], Options::default()).expect("reads");
    let c = &r.connections[0];
    let e = httpreuse::report::har::entry(c, 0, &c.exchanges[0]).expect("an entry");
    assert_eq!(e["request"]["url"], "https://www.youtube.com/robots.txt");
    assert_eq!(e["request"]["httpVersion"], "HTTP/2");
    assert_eq!(e["response"]["httpVersion"], "HTTP/2");
    assert_eq!(c.exchanges[0].scheme.as_deref(), Some("https"));
}

/// A little-endian pcap file with every timestamp `secs` seconds later.
fn shifted_pcap(bytes: &[u8], secs: u32) -> Vec<u8> {
    assert_eq!(
        bytes.get(..4),
        Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]),
        "LE pcap"
    );
    let mut out = bytes.to_vec();
    let mut at = 24;
    while at + 16 <= out.len() {
        let ts = u32::from_le_bytes(out[at..at + 4].try_into().expect("4 bytes"));
        out[at..at + 4].copy_from_slice(&(ts + secs).to_le_bytes());
        let incl = u32::from_le_bytes(out[at + 8..at + 12].try_into().expect("4 bytes"));
        at += 16 + incl as usize;
    }
    out
}

// HTTP/2 over decrypted TLS (ALPN `h2`): the TLS side decrypts with the
// capture's key log and hands the plaintext to the HTTP/2 analysis.
// Expected values from `fixtures/expected/h2/h2-tls-*.json` (tshark's
// decrypted reading, `-o tls.keylog_file:...`); close reasons from what each
// recorded program did (`fixtures/record-h2.sh`: curl fetching three URLs on
// one connection, nginx with `keepalive_requests 3` rolling a connection
// over with a GOAWAY, a headless Chromium page load).

fn tls_report(name: &str, keys: bool, threads: usize) -> Value {
    let cap = root()
        .join("fixtures/captures")
        .join(format!("{name}.pcap"));
    let mut opts = Options {
        threads,
        ..Options::default()
    };
    if keys {
        let log = root()
            .join("fixtures/captures")
            .join(format!("{name}.keys"));
        opts.read_keylogs(&[log]).expect("key log reads");
    }
    let r = analyzer::analyze(&[Input::Path(cap)], opts).expect("capture reads");
    serde_json::to_value(&r).expect("report serialises")
}

/// The keyed report agrees with tshark's decrypted reading, connection by
/// connection; returns it.
fn agrees_decrypted(name: &str) -> Value {
    let exp = expected(name);
    let r = tls_report(name, true, 1);
    let conns = r["connections"].as_array().expect("connections");
    let want = exp["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), want.len(), "{name}: connections");
    for (c, w) in conns.iter().zip(want) {
        let w = json!({"client_port": w["client_port"], "streams": w["streams"],
                       "goaway": w["goaway"], "rst_stream": w["rst_stream"]});
        assert_eq!(ours(c), w, "{name}: connection {}", c["id"]);
        assert_eq!(c["tls"]["alpn"], "h2", "{name}: ALPN");
        assert_eq!(c["tls"]["decrypted"], true, "{name}: decrypted");
        let records = &c["tls"]["records"];
        if records["client"] == 0 && records["server"] == 0 {
            // A preconnect (Chromium's second connection): a handshake and
            // no application record, so no HTTP/2 to analyse.
            assert!(
                c.get("http2").is_none(),
                "{name}: no HTTP/2 without plaintext"
            );
            assert_eq!(c["requests"], 0);
            continue;
        }
        assert_eq!(c["http2"]["start"], "alpn", "{name}: how HTTP/2 started");
        assert_ne!(c["close"]["estimated"], true, "{name}: judged from streams");
        let streams = w["streams"].as_array().map_or(0, Vec::len) as u64;
        assert_eq!(
            c["requests"], streams,
            "{name}: requests are client streams"
        );
    }
    r
}

fn close_of(c: &Value) -> (String, String) {
    (
        c["close"]["reason"].as_str().unwrap_or("").to_string(),
        c["close"]["by"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn curl_three_urls_on_one_decrypted_h2_connection() {
    let r = agrees_decrypted("h2-tls-curl");
    let c = &r["connections"][0];
    assert_eq!(c["requests"], 3);
    // curl closes when its last transfer is done
    assert_eq!(close_of(c), ("idle".into(), "client".into()));
}

#[test]
fn nginx_keepalive_requests_rollover_is_a_goaway_by_the_server() {
    let r = agrees_decrypted("h2-tls-rollover");
    let c0 = &r["connections"][0];
    assert_eq!(close_of(c0), ("goaway".into(), "server".into()));
    assert_eq!(c0["close"]["goaway"]["error"], "NO_ERROR");
    assert_eq!(c0["close"]["goaway"]["last_stream_id"], 5);
    // the client went on on a new connection
    assert_eq!(r["connections"][1]["requests"], 2);
}

#[test]
fn chromium_page_load_over_decrypted_h2() {
    let r = agrees_decrypted("h2-tls-chromium");
    assert_eq!(r["connections"][0]["requests"], 5);
    assert_eq!(r["summary"]["http2"]["started"]["alpn"], 1);
}

#[test]
fn without_keys_the_same_captures_are_estimated_from_records() {
    for name in ["h2-tls-curl", "h2-tls-rollover", "h2-tls-chromium"] {
        let r = tls_report(name, false, 1);
        for c in r["connections"].as_array().expect("connections") {
            assert!(c.get("http2").is_none(), "{name}: no HTTP/2 without keys");
            assert_eq!(c["tls"]["decrypted"], false, "{name}");
            assert_eq!(c["close"]["estimated"], true, "{name}");
        }
    }
}

#[test]
fn two_threads_give_the_same_decrypted_report() {
    for name in ["h2-tls-curl", "h2-tls-rollover", "h2-tls-chromium"] {
        assert_eq!(
            tls_report(name, true, 1),
            tls_report(name, true, 2),
            "{name}: --threads 2"
        );
    }
}
