//! The whole pipeline on a hostile capture file: container parsing, link and
//! IP decoding, TCP reassembly, HTTP, verdicts and both renderers.
#![no_main]

use httpreuse::analyzer::{Analyzer, Options};
use httpreuse::capture::CaptureReader;
use httpreuse::report;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = CaptureReader::from_bytes("fuzz", data.to_vec()) else {
        return;
    };
    let mut a = Analyzer::new(Options::default());
    a.read_from(reader, "fuzz".into());
    let r = a.finish();
    let skipped: u64 = r.summary.frames_skipped.values().sum();
    assert_eq!(r.summary.frames, r.summary.tcp_segments + skipped);
    let mut out = Vec::new();
    let _ = report::json::write(&r, &mut out);
    let opts = report::text::TextOptions { color: true, exchanges: true };
    let _ = report::text::write(&r, &opts, &mut out);
});
