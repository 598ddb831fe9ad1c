//! Regression tests named after the bug they pin, on third-party captures
//! with capture loss. Expected values come from the capture itself (tshark
//! frame dumps, quoted) and from Zeek's logs shipped beside it.

use std::path::PathBuf;

use httpreuse::analyzer::{Options, analyze};
use httpreuse::capture::Input;
use serde_json::Value;

fn report(p: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/thirdparty")
        .join(p);
    serde_json::to_value(analyze(&[Input::Path(path)], Options::default()).unwrap()).unwrap()
}

fn kinds(c: &Value) -> Vec<String> {
    c["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The first response's head (server bytes 1..239) was not captured; its
/// body was. Every later response must still pair with its own request:
/// Zeek logs 1000 transactions; frame 4097's head says `Connection: close`
/// and the server's FIN (frame 4100) follows the 1000th response.
#[test]
fn lost_response_head_does_not_shift_pairing() {
    let v = report("zeek/1000-requests-one-dropped-response.pcap");
    let c = &v["connections"][0];
    assert_eq!(c["requests"], 1000);
    assert_eq!(c["responses"], 999);
    let ex = c["exchanges"].as_array().unwrap();
    assert!(ex[0]["response"].is_null());
    assert_eq!(ex[1]["request"]["frame"], 9);
    assert_eq!(ex[1]["response"]["frame"], 11);
    assert_eq!(ex[999]["request"]["frame"], 4096);
    assert_eq!(ex[999]["response"]["frame"], 4097);
    assert_eq!(c["close"]["reason"], "connection_close");
    assert_eq!(c["close"]["said_by"], "server");
    assert_eq!(kinds(c), ["response_lost_in_gap"]);
}

/// Client segments were lost (tshark: seq 4349..5623 and 10702..11977 never
/// appear; the server acknowledges them). Requests behind a hole must come
/// out before the responses that answer them; the one request lost whole
/// (10702..11977) leaves its response (frame 35, ack 11977) unpaired.
#[test]
fn requests_behind_lost_segments_pair_with_their_responses() {
    let v = report("zeek/zero-length-bodies-with-drops.pcap");
    let c = &v["connections"][0];
    assert_eq!(c["requests"], 7);
    assert_eq!(c["responses"], 8);
    let unpaired: Vec<&Value> = c["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["request"].is_null())
        .collect();
    assert_eq!(unpaired.len(), 1);
    assert_eq!(unpaired[0]["response"]["frame"], 35);
    assert!(
        c["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["response"].is_null())
    );
    assert_eq!(c["close"]["reason"], "idle");
    assert_eq!(c["close"]["by"], "client");
}

/// Stream 1 of tcpflow's http_with_jpegs.cap: the response's first 1460
/// bytes, head included, were never captured (tshark: "Previous segment(s)
/// not captured" at the server's FIN, frame 19). The POST was answered in
/// bytes we cannot see: no false mid_message, no broken-promise anomaly.
#[test]
fn response_head_lost_before_server_fin_is_not_mid_message() {
    let v = report("tcpflow/http_with_jpegs.cap");
    let c = &v["connections"][1];
    assert_eq!(c["exchanges"][0]["request"]["method"], "POST");
    assert!(c["exchanges"][0]["response"].is_null());
    assert_eq!(c["exchanges"][0]["response_lost_in_gap"], true);
    assert_eq!(c["first_close"]["frame"], 19);
    assert_ne!(c["close"]["reason"], "mid_message");
    assert_eq!(kinds(c), ["response_lost_in_gap"]);
}
