//! Hostile HTTP/2 through the whole pipeline (`Analyzer::frame`, as a
//! capture is read): the TCP payloads of real h2c captures cut short and
//! mutated byte by byte. Nothing may panic, the report must serialise with
//! its accounting intact, requests must equal the client streams of each
//! HTTP/2 connection, and the damage must show as counted anomalies.
//! (The engine's own frame-level fuzzing is in `src/http2/session_tests.rs`.)

use std::path::PathBuf;

use httpreuse::analyzer::{Analyzer, Options};
use httpreuse::capture::{CaptureReader, Input};
use httpreuse::decode;
use httpreuse::report::Report;
use httpreuse::types::Timestamp;

/// The frames of a fixture capture: (linktype, bytes, timestamp, TCP
/// payload length).
fn frames(rel: &str) -> Vec<(u32, Vec<u8>, Timestamp, usize)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel);
    let mut r = CaptureReader::open(&Input::Path(path)).expect("capture opens");
    let mut out = Vec::new();
    while let Some(f) = r.next_frame().expect("capture reads") {
        let payload = match decode::decode(f.linktype, f.data) {
            Ok(decode::Decoded::Segment(s)) => s.payload.len(),
            _ => 0,
        };
        out.push((f.linktype, f.data.to_vec(), f.ts, payload));
    }
    out
}

fn analyse(frames: &[(u32, Vec<u8>, Timestamp, usize)]) -> Report {
    let mut a = Analyzer::new(Options::default());
    for (lt, data, ts, _) in frames {
        a.frame(*lt, data, *ts);
    }
    a.finish()
}

/// The invariants every damaged report keeps; returns its HTTP/2 anomalies.
fn check(r: &Report) -> u64 {
    serde_json::to_string(r).expect("serialises");
    let requests: u64 = r.connections.iter().map(|c| c.requests).sum();
    assert_eq!(requests, r.summary.requests);
    let mut h2_anomalies = 0;
    for c in &r.connections {
        if let Some(h) = &c.http2 {
            // requests are client streams (with prior knowledge, nothing
            // else: no HTTP/1 before)
            if h.start == httpreuse::http2::H2StartKind::PriorKnowledge {
                assert!(c.requests <= h.streams_opened.client, "{c:?}");
            }
        }
        h2_anomalies += c
            .anomalies
            .iter()
            .filter(|a| a.kind.name().starts_with("h2_"))
            .count() as u64
            + c.anomalies_not_listed;
    }
    h2_anomalies
}

const SOURCES: [&str; 4] = [
    "captures/h2-nghttp-prior.pcap",
    "captures/h2-upgrade-nghttp.pcap",
    "captures/h2-push.pcap",
    "captures/h2-python.pcap",
];

#[test]
fn clean_sources_have_no_h2_anomalies() {
    for src in SOURCES {
        let r = analyse(&frames(src));
        // h2-python records REFUSED_STREAM on purpose (six of them)
        let refused = r
            .summary
            .anomalies
            .iter()
            .filter(|(k, _)| k.name() == "h2_refused_stream")
            .map(|(_, n)| *n)
            .sum::<u64>();
        assert_eq!(check(&r), refused, "{src}");
        assert!(r.connections.iter().all(|c| c.http2.is_some()), "{src}");
    }
}

/// Every payload byte of every data frame, flipped in turn (bounded to the
/// first 512 payload bytes of each frame to keep the run short).
#[test]
fn flipped_payload_bytes_never_panic_and_are_counted() {
    for src in SOURCES {
        let base = frames(src);
        let clean = check(&analyse(&base));
        let mut damaged_runs = 0u64;
        let mut with_anomalies = 0u64;
        for (i, (_, data, _, payload)) in base.iter().enumerate() {
            if *payload == 0 {
                continue;
            }
            let start = data.len() - payload;
            let step = (payload / 64).max(1);
            for off in (0..(*payload).min(512)).step_by(step) {
                let mut f = base.clone();
                if let Some(b) = f.get_mut(i).and_then(|x| x.1.get_mut(start + off)) {
                    *b ^= 0xA5;
                }
                let r = analyse(&f);
                damaged_runs += 1;
                if check(&r) > clean {
                    with_anomalies += 1;
                }
            }
        }
        assert!(damaged_runs > 0, "{src}");
        // most flipped bytes are in frame headers, HPACK blocks or the
        // preface: they must show (DATA payload bytes and some SETTINGS
        // values change nothing visible)
        assert!(with_anomalies > 0, "{src}: {with_anomalies}/{damaged_runs}");
    }
}

/// Each data frame's payload cut at many lengths (the capture's snap
/// length): the rest of the stream is a gap.
#[test]
fn payloads_cut_short_never_panic() {
    for src in SOURCES {
        let base = frames(src);
        for (i, (_, data, _, payload)) in base.iter().enumerate() {
            if *payload == 0 {
                continue;
            }
            let step = (payload / 16).max(1);
            for keep in (0..*payload).step_by(step) {
                let mut f = base.clone();
                if let Some(x) = f.get_mut(i) {
                    x.1.truncate(data.len() - payload + keep);
                }
                check(&analyse(&f));
            }
        }
    }
}

/// The capture stops after every frame: each prefix gives a report (the
/// upgrade hand-off and the prior-knowledge sniffing cut everywhere).
#[test]
fn every_prefix_of_the_capture() {
    for src in SOURCES {
        let base = frames(src);
        for n in 0..=base.len() {
            let r = analyse(&base[..n]);
            check(&r);
        }
    }
}

/// A server segment lost from the capture (frame 27 of h2load.pcap: the
/// server's SETTINGS and its first HEADERS, which fill its HPACK dynamic
/// table): the later response header blocks cannot be decoded. The streams
/// are still all there and counted, their statuses unknown (never
/// guessed), and the loss is a counted anomaly.
#[test]
fn lost_segment_loses_hpack_state_not_streams() {
    let mut f = frames("captures/h2load.pcap");
    assert_eq!(
        f[26].3, 160,
        "frame 27 is the server's 160-byte first flight"
    );
    f.remove(26);
    let r = analyse(&f);
    check(&r);
    let c = &r.connections[0];
    let h = c.http2.as_ref().expect("still HTTP/2");
    assert_eq!(h.streams_opened.client, 10);
    assert_eq!(c.requests, 10);
    assert!(h.hpack_state_lost.server);
    let unknown: Vec<_> = c.exchanges.iter().filter(|e| e.headers_unknown).collect();
    assert!(!unknown.is_empty());
    // nothing made up: a stream whose response headers were not decoded
    // has no response status
    assert!(unknown.iter().all(|e| e.response.is_none()));
    assert!(
        c.anomalies
            .iter()
            .any(|a| a.kind.name() == "h2_hpack_state_lost"),
        "{:?}",
        c.anomalies
    );
    // the other connection is untouched
    let other = &r.connections[1];
    assert_eq!(other.responses, 10);
}
