//! HTTP/2 over decrypted TLS (ALPN `h2`): the TLS side decrypts with the
//! capture's key log and hands the plaintext to the HTTP/2 analysis.
//!
//! Expected values come from `fixtures/expected/h2/h2-tls-*.json`, written
//! by `fixtures/h2-expect.py` from tshark's decrypted reading of the same
//! captures and key logs (`-o tls.keylog_file:...`), independently of this
//! code; close reasons from what each recorded program did
//! (`fixtures/record-h2.sh`: curl fetching three URLs on one connection,
//! nginx with `keepalive_requests 3` rolling a connection over with a
//! GOAWAY, a headless Chromium page load).

use std::path::PathBuf;

use httpreuse::analyzer::{self, Options};
use httpreuse::capture::Input;
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn report(name: &str, keys: bool, threads: usize) -> Value {
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

fn expected(name: &str) -> Value {
    let p = root()
        .join("fixtures/expected/h2")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("expected file is JSON")
}

/// Our connection in the shape of an expected one.
fn ours(c: &Value) -> Value {
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
            if let Some(r) = e["request"].as_object() {
                v["method"] = r["method"].clone();
                v["path"] = r["target"].clone();
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

/// The keyed report agrees with tshark's decrypted reading, connection by
/// connection; returns it.
fn agrees(name: &str) -> Value {
    let exp = expected(name);
    let r = report(name, true, 1);
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

fn close(c: &Value) -> (String, String) {
    (
        c["close"]["reason"].as_str().unwrap_or("").to_string(),
        c["close"]["by"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn curl_three_urls_on_one_decrypted_h2_connection() {
    let r = agrees("h2-tls-curl");
    let c = &r["connections"][0];
    assert_eq!(c["requests"], 3);
    // curl closes when its last transfer is done
    assert_eq!(close(c), ("idle".into(), "client".into()));
}

#[test]
fn nginx_keepalive_requests_rollover_is_a_goaway_by_the_server() {
    let r = agrees("h2-tls-rollover");
    let c0 = &r["connections"][0];
    assert_eq!(close(c0), ("goaway".into(), "server".into()));
    assert_eq!(c0["close"]["goaway"]["error"], "NO_ERROR");
    assert_eq!(c0["close"]["goaway"]["last_stream_id"], 5);
    // the client went on on a new connection
    assert_eq!(r["connections"][1]["requests"], 2);
}

#[test]
fn chromium_page_load_over_decrypted_h2() {
    let r = agrees("h2-tls-chromium");
    assert_eq!(r["connections"][0]["requests"], 5);
    assert_eq!(r["summary"]["http2"]["started"]["alpn"], 1);
}

#[test]
fn without_keys_the_same_captures_are_estimated_from_records() {
    for name in ["h2-tls-curl", "h2-tls-rollover", "h2-tls-chromium"] {
        let r = report(name, false, 1);
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
            report(name, true, 1),
            report(name, true, 2),
            "{name}: --threads 2"
        );
    }
}
