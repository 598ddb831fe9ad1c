//! A piece of a capture that begins inside an HTTP/2 connection (a rotated
//! file, a run boundary: no SYN, no preface, no SETTINGS exchange, no HPACK
//! dynamic table) is still read as HTTP/2. Each fixture is cut before every
//! frame (the first N records dropped, as `editcap -r` would): the streams
//! whose request HEADERS fall in the piece are counted there, with the
//! method and status the whole-capture run reads; those whose request came
//! before the cut are counted only by the head of the capture, never twice;
//! a stream whose header block needed the unknown dynamic table is marked
//! `headers_unknown`. A response in the piece to a request before the cut
//! is an exchange without a request, with the status the whole run reads,
//! once. An HTTP/1 connection cut mid-stream is never taken
//! for HTTP/2. Expected values come from the whole-capture run (which
//! agrees with tshark, tests/tshark_agreement.rs).

mod common;
use common::{Pieces, fixture, report};

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// One stream as the whole run reads it.
#[derive(Clone, Debug)]
struct Whole {
    request_frame: u64,
    method: Value,
    path: Value,
    status: Value,
    response_frame: Option<u64>,
}

/// Per connection (by client address): stream id -> what the run read.
fn streams(v: &Value) -> BTreeMap<String, BTreeMap<u64, Whole>> {
    let mut out = BTreeMap::new();
    for c in v["connections"].as_array().unwrap() {
        let mut m = BTreeMap::new();
        for e in c["exchanges"].as_array().unwrap() {
            let Some(sid) = e["stream_id"].as_u64() else {
                continue;
            };
            let req = &e["request"];
            if req.is_null() {
                continue;
            }
            m.insert(
                sid,
                Whole {
                    request_frame: req["frame"].as_u64().unwrap(),
                    method: req["method"].clone(),
                    path: req["target"].clone(),
                    status: e["response"]["status"].clone(),
                    response_frame: e["response"]["frame"].as_u64(),
                },
            );
        }
        out.insert(c["client"].as_str().unwrap().to_string(), m);
    }
    out
}

fn conn<'a>(v: &'a Value, client: &str) -> Option<&'a Value> {
    v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == client)
}

/// Cuts `name` before every frame and checks the pieces against the whole.
/// Returns how many (piece, stream) pairs were read mid-stream (the piece
/// without the preface), how many of them had `headers_unknown`, and how
/// many responses the pieces read to requests before their cut.
fn cut_everywhere(name: &str) -> (usize, usize, usize) {
    let path = fixture(&format!("fixtures/captures/{name}"));
    let whole = report(&path);
    let want = streams(&whole);
    let bytes = std::fs::read(&path).unwrap();
    let pieces = Pieces::new(&bytes, &format!("h2mid-{name}"));
    let (mut checked, mut unknown, mut answered) = (0, 0, 0);
    for cut in 1..pieces.records.len() {
        let head = pieces.until(cut);
        let tail = pieces.from(cut);
        let head_streams = streams(&head);
        for (client, ws) in &want {
            let ctx = format!("{name} cut before frame {}, {client}", cut + 1);
            // frames of the piece are numbered from 1 again
            let after: BTreeMap<u64, &Whole> = ws
                .iter()
                .filter(|(_, w)| w.request_frame > cut as u64)
                .map(|(k, w)| (*k, w))
                .collect();
            let Some(c) = conn(&tail, client) else {
                assert!(after.is_empty(), "{ctx}: connection missing");
                continue;
            };
            if !after.is_empty() {
                assert!(!c["http2"].is_null(), "{ctx}: not read as HTTP/2");
            }
            let mut got = BTreeSet::new();
            let mut responses = BTreeSet::new();
            for e in c["exchanges"].as_array().unwrap() {
                let sid = e["stream_id"].as_u64().expect("an HTTP/2 exchange");
                if e["request"].is_null() {
                    // the answer to a request before the cut: its stream
                    // and status as the whole run reads them, once
                    let w = ws.get(&sid).unwrap_or_else(|| {
                        panic!("{ctx}: response on stream {sid}, no such stream")
                    });
                    assert!(w.request_frame <= cut as u64, "{ctx}: stream {sid}");
                    assert!(
                        w.response_frame.is_some_and(|f| f > cut as u64),
                        "{ctx}: stream {sid} answered before the cut"
                    );
                    assert_eq!(
                        e["response"]["status"], w.status,
                        "{ctx}: stream {sid} status"
                    );
                    assert!(
                        responses.insert(sid),
                        "{ctx}: response on stream {sid} twice"
                    );
                    answered += 1;
                    continue;
                }
                assert!(got.insert(sid), "{ctx}: stream {sid} twice");
                let w = after
                    .get(&sid)
                    .unwrap_or_else(|| panic!("{ctx}: stream {sid} counted, began earlier"));
                let req = &e["request"];
                let hu = e["headers_unknown"] == true;
                // what is decoded is what the whole run read; never guessed
                for (k, wv) in [("method", &w.method), ("target", &w.path)] {
                    assert!(req[k].is_null() || req[k] == *wv, "{ctx}: stream {sid} {k}");
                    assert!(hu || req[k] == *wv, "{ctx}: stream {sid} {k} missing");
                }
                let st = &e["response"]["status"];
                assert!(
                    st.is_null() || st == &w.status,
                    "{ctx}: stream {sid} status"
                );
                if c["http2"]["start"] == "mid_stream" {
                    checked += 1;
                    unknown += usize::from(hu);
                }
            }
            let want_ids: BTreeSet<u64> = after.keys().copied().collect();
            assert_eq!(got, want_ids, "{ctx}: streams of the piece");
            assert_eq!(c["requests"], got.len(), "{ctx}");
            // the head counts the rest: together each stream exactly once
            let before: BTreeSet<u64> = head_streams
                .get(client)
                .map(|m| m.keys().copied().collect())
                .unwrap_or_default();
            assert!(before.is_disjoint(&got), "{ctx}: counted in both pieces");
            let all: BTreeSet<u64> = before.union(&got).copied().collect();
            assert_eq!(all, ws.keys().copied().collect(), "{ctx}: head + piece");
            // a response counted in the piece is not one in the head
            if let Some(hc) = conn(&head, client) {
                for e in hc["exchanges"].as_array().unwrap() {
                    let sid = e["stream_id"].as_u64();
                    assert!(
                        !(e["response"].is_object() && sid.is_some_and(|s| responses.contains(&s))),
                        "{ctx}: response of stream {sid:?} in both pieces"
                    );
                }
            }
            let statuses = |v: &Value| {
                v["exchanges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["response"].is_object())
                    .count()
            };
            assert_eq!(c["responses"], statuses(c), "{ctx}: responses");
        }
    }
    (checked, unknown, answered)
}

/// `h2load.pcap`: two connections of ten GETs each (streams 1-19, tshark).
/// h2load sends the same request again and again: after the first, every
/// header block refers to dynamic-table entries, so a piece that begins
/// after a connection's first request cannot decode them all.
#[test]
fn h2load_cut_before_every_frame() {
    let (checked, unknown, answered) = cut_everywhere("h2load.pcap");
    assert!(checked > 100, "{checked}");
    assert!(answered > 100, "{answered}");
    assert_eq!(
        unknown, checked,
        "h2load requests all refer to the dynamic table"
    );
}

/// `h2-nghttp-prior.pcap`: nghttp sends its four requests with the
/// preface, so no piece without the preface has a request; the pieces
/// still must not count any.
#[test]
fn nghttp_prior_knowledge_cut_before_every_frame() {
    let (checked, _, answered) = cut_everywhere("h2-nghttp-prior.pcap");
    assert_eq!(checked, 0);
    // its responses come after the preface: cuts between read them
    assert!(answered > 0, "{answered}");
}

#[test]
fn rollover_goaway_reset_cut_before_every_frame() {
    for f in [
        "h2-rollover.pcap",
        "h2-goaway-race.pcap",
        "h2-client-reset.pcap",
        "h2-curl-prior.pcap",
        "h2-idle.pcap",
    ] {
        let (_, _, answered) = cut_everywhere(f);
        assert!(answered > 0, "{f}: {answered}");
    }
}

/// HTTP/1 connections cut before every frame: never HTTP/2, whatever bytes
/// the piece begins with (a binary body included).
#[test]
fn http1_cut_mid_stream_is_not_http2() {
    for name in [
        "large-response.pcap",
        "curl-keepalive.pcap",
        "pipelined.pcap",
        "expect-100.pcap",
    ] {
        let path = fixture(&format!("fixtures/captures/{name}"));
        let bytes = std::fs::read(&path).unwrap();
        let pieces = Pieces::new(&bytes, &format!("h2mid-h1-{name}"));
        for cut in 1..pieces.records.len() {
            let v = pieces.from(cut);
            for c in v["connections"].as_array().unwrap() {
                assert!(
                    c["http2"].is_null(),
                    "{name} cut before frame {}: {}",
                    cut + 1,
                    c["http2"]
                );
            }
        }
    }
}

/// `Upgrade: h2c` cut between the request and its 101 (curl and nghttp
/// against nghttpd: `h2-upgrade.pcap`, `h2-upgrade-nghttp.pcap`): the piece
/// sees the 101 without its request, switches to HTTP/2 as the whole run
/// does, and reads stream 1's answer as a response without its request,
/// `101` first, with the whole run's status; its close is the whole run's.
#[test]
fn h2c_cut_between_request_and_101() {
    let mut seen = 0;
    for name in ["h2-upgrade.pcap", "h2-upgrade-nghttp.pcap"] {
        let path = fixture(&format!("fixtures/captures/{name}"));
        let whole = report(&path);
        let bytes = std::fs::read(&path).unwrap();
        let pieces = Pieces::new(&bytes, &format!("h2mid-h2c-{name}"));
        for wc in whole["connections"].as_array().unwrap() {
            let Some(up) = wc["exchanges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["stream_id"] == 1 && e["interim"][0]["status"] == 101)
            else {
                continue;
            };
            let request_frame = up["request"]["frame"].as_u64().unwrap() as usize;
            let switched = up["interim"][0]["frame"].as_u64().unwrap() as usize;
            let response_frame = up["response"]["frame"].as_u64().unwrap() as usize;
            // cuts after the request's frame, up to the 101's
            for cut in request_frame..switched {
                let ctx = format!("{name} cut before frame {}, {}", cut + 1, wc["client"]);
                let v = pieces.from(cut);
                let c = conn(&v, wc["client"].as_str().unwrap()).expect("the connection");
                assert_eq!(c["http2"]["start"], "upgrade", "{ctx}");
                // every request but the upgrading one comes after the 101
                assert_eq!(
                    c["requests"].as_u64(),
                    wc["requests"].as_u64().map(|n| n - 1),
                    "{ctx}"
                );
                let e = c["exchanges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["stream_id"] == 1)
                    .unwrap_or_else(|| panic!("{ctx}: no stream 1"));
                assert!(e["request"].is_null(), "{ctx}");
                assert_eq!(e["interim"][0]["status"], 101, "{ctx}");
                assert!(response_frame > cut);
                assert_eq!(e["response"]["status"], up["response"]["status"], "{ctx}");
                assert_eq!(c["close"]["reason"], wc["close"]["reason"], "{ctx}");
                seen += 1;
            }
        }
    }
    assert!(seen >= 3, "{seen}");
}
