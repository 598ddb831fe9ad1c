//! Hostile input: damaged real captures never panic, and every frame read is
//! accounted for (analysed as TCP, or skipped with a reason).

use std::path::PathBuf;

use httpreuse::analyzer::{Analyzer, Options};
use httpreuse::capture::CaptureReader;
use proptest::prelude::*;

fn fixture(p: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(p),
    )
    .unwrap()
}

/// Analyses bytes as a capture; checks the accounting invariant.
fn check(bytes: Vec<u8>) {
    let Ok(reader) = CaptureReader::from_bytes("mutated", bytes) else {
        return; // a file-level error is a clean refusal
    };
    let mut a = Analyzer::new(Options::default());
    a.read_from(reader, "mutated".into());
    let r = a.finish();
    let skipped: u64 = r.summary.frames_skipped.values().sum();
    assert_eq!(
        r.summary.frames,
        r.summary.tcp_segments + skipped + r.summary.ip_fragments.fragments
    );
    assert_eq!(r.summary.frames, r.header.inputs[0].frames);
    let requests: u64 = r.connections.iter().map(|c| c.requests).sum();
    assert_eq!(requests, r.summary.requests);
    // The reports must serialise (no NaN or infinite floats).
    serde_json::to_string(&r).unwrap();
}

const SOURCES: [&str; 5] = [
    "captures/lossy.pcap",
    "captures/pipelined.pcap",
    "captures/expect-100.pcap",
    "variants/curl-keepalive+requests-session.two-if.pcapng",
    "captures/tcpdump-any.pcap",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random bytes overwritten anywhere after the file header.
    #[test]
    fn damaged_captures_do_not_panic(
        src in 0..SOURCES.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..64),
    ) {
        let mut bytes = fixture(SOURCES[src]);
        for (i, b) in edits {
            let at = 24 + i.index(bytes.len() - 24);
            bytes[at] = b;
        }
        check(bytes);
    }

    /// Cut anywhere: what was read stands.
    #[test]
    fn truncated_captures_do_not_panic(src in 0..SOURCES.len(), cut in any::<prop::sample::Index>()) {
        let bytes = fixture(SOURCES[src]);
        let n = cut.index(bytes.len());
        check(bytes[..n].to_vec());
    }

    /// Bytes that were never a capture.
    #[test]
    fn arbitrary_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check(bytes);
    }
}
