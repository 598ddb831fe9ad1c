//! A piece of a capture that begins mid-connection (a rotated file, a run
//! boundary: no SYN, the direction starts inside a message) must not read
//! body bytes as a request. A direction not yet synchronised on a message
//! head takes only a well-formed one; what comes before it is counted as
//! non-HTTP bytes. A connection seen from its SYN still reports a
//! malformed request line.

mod common;
use common::{Pieces, fixture, kinds, pcap_records, report, write_pcap};

/// TCP destination port and payload length of an Ethernet/IPv4/TCP record.
fn tcp_payload(rec: &[u8]) -> (u16, usize) {
    let ip = &rec[16 + 14..];
    assert_eq!(ip[0] >> 4, 4);
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let tcp = &ip[ihl..];
    let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
    let doff = usize::from(tcp[12] >> 4) * 4;
    (dport, total - ihl - doff)
}

/// `expect-100.pcap`: one POST /upload (frame 4, `Expect: 100-continue`,
/// a 2,000,000-byte body in frames 8-80, tshark), answered 200. Cut so that
/// the piece starts at each frame inside the body: the piece has no request
/// head, so it counts no request (its 200 answers a request it never saw),
/// reports no malformed request line, and every client byte it holds is
/// the rest of that body, counted as non-HTTP.
#[test]
fn piece_starting_inside_a_body_reads_no_request() {
    let whole = report(&fixture("fixtures/captures/expect-100.pcap"));
    let c = &whole["connections"][0];
    assert_eq!(c["requests"], 1);
    let req = &c["exchanges"][0]["request"];
    assert_eq!(req["method"], "POST");
    assert_eq!(req["content_length"], 2_000_000);
    assert_eq!(req["frame"], 4);
    let status = c["exchanges"][0]["response"]["status"].clone();
    assert_eq!(status, 200);

    let bytes = std::fs::read(fixture("fixtures/captures/expect-100.pcap")).unwrap();
    let (header, records) = pcap_records(&bytes);
    assert_eq!(records.len(), 88);
    let server_port = 18093;
    let dir = std::env::temp_dir().join(format!("httpreuse-midstream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Frames 8..=80 (1-based) carry the body; start the piece at each.
    for first in 8..=80usize {
        let kept = &records[first - 1..];
        let client_bytes: usize = kept
            .iter()
            .map(|r| tcp_payload(r))
            .filter(|&(dport, _)| dport == server_port)
            .map(|(_, n)| n)
            .sum();
        let path = dir.join(format!("from-{first}.pcap"));
        write_pcap(&path, header, kept);
        let v = report(&path);
        let c = &v["connections"][0];
        let ctx = format!("piece from frame {first}: {}", c["anomalies"]);
        assert_eq!(c["requests"], 0, "{ctx}");
        assert!(
            !kinds(c).iter().any(|k| k == "malformed_request_line"),
            "{ctx}"
        );
        assert_eq!(
            c["http"]["non_http_bytes"]["client"], client_bytes as u64,
            "{ctx}"
        );
        let ex = c["exchanges"].as_array().unwrap();
        assert_eq!(ex.len(), 1, "{ctx}");
        assert!(ex[0]["request"].is_null(), "{ctx}");
        assert_eq!(ex[0]["response"]["status"], status, "{ctx}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `zeek/methods.pcap`, the connection from port 46563: SYN (frame 9),
/// SYN-ACK (12), ACK (13), then frame 14 sends `OPTIONS HTTP/1.1` (no
/// target; tshark). Seen from its SYN, that is a malformed request line a
/// user wants reported, and the request is counted.
#[test]
fn malformed_request_line_after_syn_is_still_reported() {
    let v = report(&fixture("fixtures/thirdparty/zeek/methods.pcap"));
    let c = v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"].as_str().unwrap().ends_with(":46563"))
        .unwrap();
    assert_eq!(c["handshake_complete"], true);
    let a = &c["anomalies"][0];
    assert_eq!(a["kind"], "malformed_request_line");
    assert_eq!(a["frame"], 14);
    assert_eq!(c["exchanges"][0]["request"]["method"], "OPTIONS");
    assert_eq!(c["exchanges"][0]["request"]["frame"], 14);
}

/// TLS captures that begin after (or inside) the handshake, without keys:
/// each fixture with its first N records dropped, for every N. The piece
/// reads the records as protected (a first encrypted alert is not taken
/// for a plaintext one): while the whole run's first close is in the
/// piece, its close reason is the whole run's (never `tls_failed` where the
/// whole run says otherwise), and it never counts more turns.
#[test]
fn tls_cut_before_every_frame() {
    let mut mid = 0;
    for name in [
        "tls-tls12-aes128gcm.pcap",
        "tls-tls13-python-reuse.pcap",
        "tls-tls13-chromium.pcap",
    ] {
        let path = fixture(&format!("fixtures/captures/{name}"));
        let whole = report(&path);
        let bytes = std::fs::read(&path).unwrap();
        let pieces = Pieces::new(&bytes, &format!("tlsmid-{name}"));
        for cut in 1..pieces.records.len() {
            let v = pieces.from(cut);
            for c in v["connections"].as_array().unwrap() {
                let Some(w) = whole["connections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|w| w["client"] == c["client"] || w["client"] == c["server"])
                else {
                    continue;
                };
                // the whole run's first close must be in the piece
                let in_piece = w["first_close"]["frame"]
                    .as_u64()
                    .is_some_and(|f| f > cut as u64);
                if c["tls"].is_null() || !in_piece {
                    continue; // too little of it left to be TLS, or its close cut off
                }
                let ctx = format!("{name} cut before frame {}, {}", cut + 1, c["client"]);
                assert_eq!(c["close"]["reason"], w["close"]["reason"], "{ctx}");
                assert!(
                    c["tls"]["turns"].as_u64() <= w["tls"]["turns"].as_u64(),
                    "{ctx}"
                );
                mid += usize::from(c["tls"]["handshake"] == "not_seen");
            }
        }
    }
    assert!(mid > 20, "{mid}");
}
