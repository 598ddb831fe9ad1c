//! Feeds arbitrary bytes to an `HttpSession` as interleaved stream events.
//!
//! Layout of the input: the first byte seeds the chunk sizes and the
//! direction pattern; the rest is cut into chunks. Each chunk's first byte
//! says what it is: mostly Data in one direction, sometimes a Gap (its
//! length from the next byte), a Fin or a Reset.
#![no_main]

use httpreuse::http::HttpSession;
use httpreuse::tcp::StreamEvent;
use httpreuse::types::{At, Dir, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, mut rest)) = data.split_first() else {
        return;
    };
    let mut sess = HttpSession::new();
    let mut frame = 0u64;
    let mut size_state = u32::from(seed) | 1;
    while let Some((&ctl, tail)) = rest.split_first() {
        frame += 1;
        let at = At {
            frame,
            ts: Timestamp::from_nanos(frame * 1000),
        };
        let dir = if ctl & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        // A cheap LCG over the seed varies chunk sizes: 1..=64 bytes mostly.
        size_state = size_state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = ((size_state >> 16) as usize % 64) + 1;
        match ctl >> 1 {
            // Gap.
            0..=4 => {
                let (n, t) = match tail.split_first() {
                    Some((&n, t)) => (u64::from(n), t),
                    None => (1, tail),
                };
                let n = if ctl >> 1 == 0 { u64::MAX - n } else { n };
                sess.on_event(dir, StreamEvent::Gap(n), at);
                rest = t;
            }
            5 => {
                sess.on_event(dir, StreamEvent::Fin, at);
                rest = tail;
            }
            6 => {
                sess.on_event(dir, StreamEvent::Reset, at);
                rest = tail;
            }
            _ => {
                let n = len.min(tail.len());
                let (chunk, t) = tail.split_at(n);
                sess.on_event(dir, StreamEvent::Data(chunk), at);
                rest = t;
            }
        }
    }
    frame += 1;
    sess.finish(At {
        frame,
        ts: Timestamp::from_nanos(frame * 1000),
    });
    let _ = (sess.exchanges(), sess.stats(), sess.anomalies());
});
