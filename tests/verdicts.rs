//! Keep-alive verdicts on real captures: what each recorded scenario did
//! (fixtures/record.sh, fixtures/expected/notes.json), checked against what
//! httpreuse concludes. Frame numbers and counts were read with tshark from
//! the same files (the comments say which), never from this program.

use std::path::PathBuf;

use httpreuse::analyzer::{Options, analyze};
use httpreuse::capture::Input;
use serde_json::Value;

fn report(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/captures")
        .join(name);
    let r = analyze(&[Input::Path(path)], Options::default()).expect("analyze");
    serde_json::to_value(&r).unwrap()
}

fn conns(v: &Value) -> &Vec<Value> {
    v["connections"].as_array().unwrap()
}

fn anomaly_kinds(c: &Value) -> Vec<&str> {
    c["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect()
}

fn close(c: &Value) -> (&str, &str, &str) {
    (
        c["close"]["reason"].as_str().unwrap(),
        c["close"]["by"].as_str().unwrap_or("-"),
        c["close"]["kind"].as_str().unwrap_or("-"),
    )
}

#[test]
fn rollover_by_keepalive_requests_is_connection_close_said_by_server() {
    // nginx keepalive_requests 3: the 3rd response says Connection: close
    // and nginx closes; curl opens a 2nd connection for the last 2 URLs.
    let v = report("keepalive-requests-rollover.pcap");
    let c = conns(&v);
    assert_eq!(c.len(), 2);
    assert_eq!(close(&c[0]), ("connection_close", "server", "fin"));
    assert_eq!(c[0]["close"]["said_by"], "server");
    assert_eq!(c[0]["requests"], 3);
    assert_eq!(c[0]["exchanges"][2]["persistent"], false);
    assert_eq!(c[0]["exchanges"][2]["response"]["persistence"], "close");
    assert_eq!(
        c[0]["exchanges"][1]["response"]["persistence"],
        "keep-alive"
    );
    // tshark: FINs from both sides on both connections, no RST.
    assert_eq!(v["summary"]["fins"]["client"], 2);
    assert_eq!(v["summary"]["fins"]["server"], 2);
    assert_eq!(v["summary"]["rsts"]["client"], 0);
    assert_eq!(c[0]["exchanges"][1]["persistent"], true);
    assert_eq!(close(&c[1]), ("idle", "client", "fin"));
    assert_eq!(v["summary"]["reused_connections"], 2);
    assert_eq!(
        v["summary"]["close_reasons"]["connection_close"]["server"],
        1
    );
}

#[test]
fn idle_close_by_server_after_keepalive_timeout() {
    // nginx keepalive_timeout 2s (not advertised): FIN about 2 s after the response.
    let v = report("idle-close.pcap");
    let c = &conns(&v)[0];
    assert_eq!(close(c), ("idle", "server", "fin"));
    let idle = c["close"]["idle_seconds"].as_f64().unwrap();
    assert!((1.9..2.5).contains(&idle), "{idle}");
    assert!(c["close"]["advertised_timeout"].is_null());
    assert!(c["anomalies"].as_array().unwrap().is_empty());
}

#[test]
fn idle_close_matches_advertised_timeout() {
    // keepalive_timeout 2s 2s: Keep-Alive: timeout=2 sent, FIN 2.0 s later.
    let v = report("idle-close-advertised.pcap");
    let c = &conns(&v)[0];
    assert_eq!(close(c), ("idle", "server", "fin"));
    assert_eq!(c["close"]["advertised_timeout"], 2);
    assert_eq!(c["close"]["matches_timeout"], true);
    assert_eq!(c["http"]["keep_alive_advertised"]["server"]["timeout"], 2);
    let text = c["close"]["explanation"].as_str().unwrap();
    assert!(text.contains("as its Keep-Alive: timeout=2 said"), "{text}");
    assert!(anomaly_kinds(c).is_empty());
}

#[test]
fn server_closing_before_its_advertised_timeout_broke_keepalive() {
    // keepalive_timeout 2s 10s: advertises timeout=10, closes after 2 s.
    let v = report("broken-promise.pcap");
    let c = &conns(&v)[0];
    assert_eq!(close(c), ("idle", "server", "fin"));
    assert_eq!(c["close"]["advertised_timeout"], 10);
    assert_eq!(c["close"]["matches_timeout"], false);
    assert_eq!(anomaly_kinds(c), ["server_broke_keepalive"]);
    // tshark: the server's FIN is frame 8.
    assert_eq!(c["anomalies"][0]["frame"], 8);
    assert_eq!(c["first_close"]["frame"], 8);
}

#[test]
fn request_after_server_fin_is_a_stale_reuse() {
    // Client idles 3 s; nginx FINs at 2 s (frame 8); the client's 2nd GET is
    // frame 10 (tshark), answered by RST.
    let v = report("stale-reuse.pcap");
    let c = &conns(&v)[0];
    assert_eq!(close(c), ("idle", "server", "fin"));
    let idle = c["close"]["idle_seconds"].as_f64().unwrap();
    assert!(
        (1.9..2.5).contains(&idle),
        "idle measured to the FIN: {idle}"
    );
    assert_eq!(c["requests"], 2);
    assert!(c["exchanges"][1]["response"].is_null());
    let a = c["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "request_after_peer_fin")
        .expect("stale reuse flagged");
    assert_eq!(a["frame"], 10);
    assert_eq!(a["by"], "client");
    assert!(c["rst"]["server"].is_u64());
}

#[test]
fn python_http_server_ends_with_http10() {
    // http.server answers HTTP/1.0; its 404 also says Connection: close,
    // and http10 wins over connection_close.
    let v = report("python-http-server.pcap");
    for c in conns(&v) {
        assert_eq!(c["close"]["reason"], "http10", "{}", c["id"]);
        assert_eq!(c["requests"], 1);
    }
    let statuses: Vec<_> = conns(&v)
        .iter()
        .map(|c| c["exchanges"][0]["response"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 404]);
}

#[test]
fn http10_keepalive_is_reused_then_closed_by_a_plain_http10_request() {
    let v = report("http10-keepalive.pcap");
    let c = &conns(&v)[0];
    assert_eq!(c["requests"], 3);
    assert_eq!(c["reused"], true);
    assert_eq!(close(c), ("http10", "server", "fin"));
    let persistent: Vec<_> = c["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["persistent"].as_bool().unwrap())
        .collect();
    assert_eq!(persistent, [true, true, false]);
    assert!(anomaly_kinds(c).is_empty());
    // What each message asked for: 1.0 + keep-alive twice, then plain 1.0.
    let asked: Vec<_> = c["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["persistence"].as_str().unwrap())
        .collect();
    assert_eq!(asked, ["keep-alive", "keep-alive", "http10-default"]);
}

#[test]
fn http10_without_keepalive_closes_each_connection() {
    let v = report("http10-close.pcap");
    assert_eq!(conns(&v).len(), 3);
    for c in conns(&v) {
        assert_eq!(c["close"]["reason"], "http10");
        assert_eq!(c["exchanges"][0]["request"]["version"], "HTTP/1.0");
    }
}

#[test]
fn connection_close_on_every_request_said_by_both() {
    // curl -H 'Connection: close'; nginx echoes it and closes.
    let v = report("connection-close.pcap");
    assert_eq!(conns(&v).len(), 3);
    for c in conns(&v) {
        assert_eq!(close(c), ("connection_close", "server", "fin"));
        assert_eq!(c["close"]["said_by"], "both");
    }
    assert_eq!(v["summary"]["reused_connections"], 0);
}

#[test]
fn ab_without_k_is_one_request_per_connection() {
    // ab -n 20 -c 2 sends HTTP/1.0 without keep-alive; ab opens one more
    // connection at the end and closes it without a request.
    let v = report("ab-no-k.pcap");
    let c = conns(&v);
    assert_eq!(c.len(), 21);
    assert_eq!(v["summary"]["close_reasons"]["http10"]["total"], 20);
    assert_eq!(v["summary"]["close_reasons"]["no_http"]["total"], 1);
    assert_eq!(
        v["summary"]["requests_per_connection"]["histogram"]["1"],
        20
    );
    assert_eq!(v["summary"]["requests_per_connection"]["histogram"]["0"], 1);
    assert_eq!(v["summary"]["reused_connections"], 0);
}

#[test]
fn ab_with_k_reuses_two_connections_for_twenty_requests() {
    let v = report("ab-k.pcap");
    assert_eq!(v["summary"]["connections"], 2);
    assert_eq!(v["summary"]["requests"], 20);
    assert_eq!(v["summary"]["requests_per_handshake"], 10.0);
    for c in conns(&v) {
        assert_eq!(close(c), ("idle", "client", "fin"));
        // ab -k sends HTTP/1.0 with Connection: Keep-Alive.
        assert_eq!(c["exchanges"][0]["request"]["version"], "HTTP/1.0");
        assert_eq!(c["exchanges"][0]["persistent"], true);
    }
}

#[test]
fn refused_connections() {
    let v = report("refused.pcap");
    assert_eq!(conns(&v).len(), 2);
    for c in conns(&v) {
        assert_eq!(close(c), ("refused", "server", "rst"));
        assert_eq!(c["handshake"]["state"], "refused");
        assert_eq!(c["handshake_complete"], false);
    }
    assert_eq!(v["summary"]["handshakes_refused"], 2);
}

#[test]
fn resets_by_client_and_server() {
    let v = report("client-reset.pcap");
    let c = &conns(&v)[0];
    assert_eq!(close(c), ("reset", "client", "rst"));
    assert_eq!(c["close"]["request_outstanding"], false);

    // Stream 0: answered, then RST; stream 1: RST without an answer.
    let v = report("server-reset.pcap");
    let c = conns(&v);
    assert_eq!(close(&c[0]), ("reset", "server", "rst"));
    assert_eq!(c[0]["close"]["request_outstanding"], false);
    assert_eq!(close(&c[1]), ("reset", "server", "rst"));
    assert_eq!(c[1]["close"]["request_outstanding"], true);
    assert!(c[1]["exchanges"][0]["response"].is_null());
}

#[test]
fn tcp_keepalive_probes_are_counted_not_taken_for_data() {
    // tshark: [TCP Keep-Alive] at frames 8, 10, 12, 14 from the client,
    // each ACKed; about 1.02 s apart.
    let v = report("tcp-keepalive.pcap");
    let c = &conns(&v)[0];
    assert_eq!(c["tcp_keepalive_probes"]["client"], 4);
    assert_eq!(c["tcp_keepalive_probes"]["server"], 0);
    let k = &c["tcp_keepalive"]["client"];
    assert_eq!(k["first_frame"], 8);
    assert_eq!(k["last_frame"], 14);
    assert_eq!(k["acks"], 4);
    let (lo, hi) = (
        k["min_interval"].as_f64().unwrap(),
        k["max_interval"].as_f64().unwrap(),
    );
    assert!(lo > 0.9 && hi < 1.2, "{lo} {hi}");
    for side in ["client", "server"] {
        assert_eq!(c["tcp"][side]["gaps"], 0);
        assert_eq!(c["tcp"][side]["retransmitted_segments"], 0);
    }
    assert_eq!(c["requests"], 2);
    assert_eq!(close(c), ("idle", "client", "fin"));
    assert!(anomaly_kinds(c).is_empty());
}

#[test]
fn pipelined_requests_in_one_segment() {
    // tshark: frame 4 carries the three GETs.
    let v = report("pipelined.pcap");
    let c = &conns(&v)[0];
    assert_eq!(c["requests"], 3);
    assert_eq!(c["http"]["max_outstanding"], 3);
    for e in c["exchanges"].as_array().unwrap() {
        assert_eq!(e["request"]["frame"], 4);
        assert_eq!(e["response"]["status"], 200);
    }
    assert_eq!(v["summary"]["max_pipelined"], 3);
}

#[test]
fn expect_100_continue_is_interim_not_final() {
    // tshark: 100 Continue at frame 6, a 2,000,000-byte POST; the final
    // response's head begins frame 82 (its payload starts `HTTP/1.1 200 OK`)
    // and its body is frame 84, where tshark files the reassembled message.
    let v = report("expect-100.pcap");
    let c = &conns(&v)[0];
    assert_eq!(c["requests"], 1);
    let e = &c["exchanges"][0];
    assert_eq!(e["interim"][0]["status"], 100);
    assert_eq!(e["interim"][0]["frame"], 6);
    assert_eq!(e["response"]["status"], 200);
    assert_eq!(e["response"]["frame"], 82);
    assert_eq!(e["request"]["expect_continue"], true);
    assert_eq!(e["request"]["body_bytes"], 2_000_000);
    assert_eq!(e["request"]["complete"], true);
}

#[test]
fn framings_seen_on_the_wire() {
    let v = report("chunked-trailers.pcap");
    for e in conns(&v)[0]["exchanges"].as_array().unwrap() {
        assert_eq!(e["response"]["framing"], "chunked");
        assert_eq!(e["response"]["complete"], true);
    }
    let v = report("nginx-gzip-chunked.pcap");
    let e = &conns(&v)[0]["exchanges"][0];
    assert_eq!(e["response"]["framing"], "chunked");
    let v = report("head-304.pcap");
    let ex = conns(&v)[0]["exchanges"].as_array().unwrap();
    assert_eq!(ex[0]["request"]["method"], "HEAD");
    assert_eq!(ex[0]["response"]["framing"], "none");
    assert!(ex[0]["response"]["content_length"].as_u64().unwrap() > 0);
    assert_eq!(ex[1]["response"]["status"], 304);
    assert_eq!(ex[1]["response"]["framing"], "none");
    let v = report("close-delimited.pcap");
    for c in conns(&v) {
        let r = &c["exchanges"][0]["response"];
        assert_eq!(r["framing"], "close_delimited");
        assert_eq!(r["complete"], true);
        assert_eq!(close(c), ("connection_close", "server", "fin"));
    }
    // tshark: Content-Length 2621440.
    let v = report("large-response.pcap");
    let r = &conns(&v)[0]["exchanges"][0]["response"];
    assert_eq!(r["body_bytes"], 2_621_440);
    assert_eq!(r["complete"], true);
}

#[test]
fn capture_started_mid_connection() {
    let v = report("mid-connection.pcap");
    let c = &conns(&v)[0];
    assert_eq!(c["handshake"]["state"], "not_captured");
    assert_eq!(c["roles_from"], "payload");
    assert_eq!(c["requests"], 2);
    assert_eq!(close(c), ("idle", "client", "fin"));
}

#[test]
fn snaplen_cut_heads_do_not_make_a_verdict_up() {
    // tcpdump -s 96: every head is cut; requests are still recognised, the
    // bodies are counted as missing, and nothing is called mid-message.
    let v = report("snaplen.pcap");
    let c = &conns(&v)[0];
    assert_eq!(c["requests"], 2);
    assert!(c["tcp"]["server"]["truncated_bytes"].as_u64().unwrap() > 0);
    assert_eq!(close(c), ("idle", "client", "fin"));
}

#[test]
fn lossy_path_loses_no_request() {
    // 5% random drop in a router namespace: retransmissions and
    // out-of-order segments, every response complete at the client.
    let v = report("lossy.pcap");
    assert_eq!(v["summary"]["requests"], 7);
    assert_eq!(v["summary"]["responses"], 7);
    let mut rexmit = 0;
    for c in conns(&v) {
        for side in ["client", "server"] {
            rexmit += c["tcp"][side]["retransmitted_segments"].as_u64().unwrap();
            rexmit += c["tcp"][side]["out_of_order_segments"].as_u64().unwrap();
        }
        for e in c["exchanges"].as_array().unwrap() {
            assert_eq!(e["response"]["complete"], true);
        }
    }
    assert!(rexmit > 0, "the capture has retransmissions");
}

#[test]
fn garbage_gets_400_and_is_counted_as_non_http() {
    let v = report("garbage-400.pcap");
    assert_eq!(conns(&v).len(), 2);
    for c in conns(&v) {
        assert!(c["http"]["non_http_bytes"]["client"].as_u64().unwrap() > 0);
        assert!(anomaly_kinds(c).contains(&"non_http"));
        assert_eq!(c["exchanges"][0]["response"]["status"], 400);
        assert_eq!(c["first_close"]["by"], "server");
    }
}

#[test]
fn several_servers_are_summarised_separately() {
    let v = report("multi-connection-mixed.pcap");
    let servers = v["summary"]["by_server"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    let nginx = servers
        .iter()
        .find(|s| s["server"] == "127.0.0.1:18080")
        .unwrap();
    let python = servers
        .iter()
        .find(|s| s["server"] == "127.0.0.1:18090")
        .unwrap();
    // curl 3 GETs + ab -k -n 6 on nginx; curl 2 URLs + requests 5 GETs on python.
    assert_eq!(nginx["requests"], 9);
    assert_eq!(python["requests"], 7);
    assert_eq!(python["reused_connections"], 0);
    assert_eq!(python["close_reasons"]["http10"]["total"], 7);
}

#[test]
fn apache_idle_close_keeps_its_advertised_timeout() {
    // Apache KeepAliveTimeout 2: "Keep-Alive: timeout=2, max=100" to an
    // HTTP/1.0 keep-alive client; FIN 2.0 s after the response.
    let v = report("apache-idle.pcap");
    let c = &conns(&v)[0];
    assert_eq!(close(c), ("idle", "server", "fin"));
    assert_eq!(c["close"]["advertised_timeout"], 2);
    assert_eq!(c["close"]["matches_timeout"], true);
    assert_eq!(c["exchanges"][0]["response"]["keep_alive"]["max"], 100);
    assert!(anomaly_kinds(c).is_empty());
}

#[test]
fn apache_max_counts_down_and_is_kept() {
    // MaxKeepAliveRequests 3: max=3, max=2, max=1, then Connection: close
    // on the 4th response (strings in the capture); 6 requests in all.
    let v = report("apache-max.pcap");
    let c = conns(&v);
    assert_eq!(c.len(), 2);
    let maxes: Vec<Value> = c[0]["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["keep_alive"]["max"].clone())
        .collect();
    assert_eq!(
        maxes,
        [Value::from(3), Value::from(2), Value::from(1), Value::Null]
    );
    assert_eq!(close(&c[0]), ("connection_close", "server", "fin"));
    assert_eq!(c[0]["close"]["said_by"], "server");
    // Apache kept its word: no more requests than max allowed, no broken promise.
    assert!(anomaly_kinds(&c[0]).is_empty());
    assert_eq!(c[1]["requests"], 2);
    assert_eq!(v["summary"]["requests"], 6);
}
