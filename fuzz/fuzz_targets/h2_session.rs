//! Feeds arbitrary bytes to an `H2Session` after a valid start: the client
//! preface and SETTINGS, the server's SETTINGS, then the input as
//! interleaved stream events (the layout of `http_session.rs`: the first
//! byte seeds chunk sizes and picks prior knowledge or an h2c Upgrade; each
//! chunk's first byte says Data in one direction, a Gap, a Fin or a Reset).
//! Checks the bounds on every step: buffered bytes and open streams.
#![no_main]

use httpreuse::http2::{
    H2RequestInfo, H2Session, H2Start, MAX_HEADER_BLOCK, MAX_OPEN_STREAMS, PREFACE,
};
use httpreuse::tcp::StreamEvent;
use httpreuse::types::{At, Dir, Timestamp};
use libfuzzer_sys::fuzz_target;

const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

fn at(frame: u64) -> At {
    At {
        frame,
        ts: Timestamp::from_nanos(frame * 1000),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, mut rest)) = data.split_first() else {
        return;
    };
    let start = if seed & 0x80 != 0 {
        H2Start::Upgrade {
            request: H2RequestInfo {
                method: "GET".into(),
                target: "/".into(),
                authority: Some("fuzz".into()),
                http2_settings: Some("AAMAAABkAAQCAAAAAAIAAAAA".into()),
                body_bytes: 0,
                at: at(1),
            },
        }
    } else {
        H2Start::PriorKnowledge
    };
    let mut sess = H2Session::new(start);
    let mut preface = PREFACE.to_vec();
    preface.extend_from_slice(&SETTINGS);
    sess.on_event(Dir::ToServer, StreamEvent::Data(&preface), at(1));
    sess.on_event(Dir::ToClient, StreamEvent::Data(&SETTINGS), at(2));
    let mut frame = 2u64;
    let mut size_state = u32::from(seed) | 1;
    while let Some((&ctl, tail)) = rest.split_first() {
        frame += 1;
        let at = at(frame);
        let dir = if ctl & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        size_state = size_state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = ((size_state >> 16) as usize % 256) + 1;
        match ctl >> 1 {
            0..=2 => {
                let (n, t) = match tail.split_first() {
                    Some((&n, t)) => (u64::from(n), t),
                    None => (1, tail),
                };
                let n = if ctl >> 1 == 0 { u64::MAX - n } else { n };
                sess.on_event(dir, StreamEvent::Gap(n), at);
                rest = t;
            }
            3 => {
                sess.on_event(dir, StreamEvent::Fin, at);
                rest = tail;
            }
            4 => {
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
        let _ = sess.take_finished();
        assert!(sess.buffered_bytes() <= 2 * MAX_HEADER_BLOCK + 2 * 64 * 1024 + 4096);
        assert!(sess.open_streams() <= MAX_OPEN_STREAMS);
    }
    frame += 1;
    sess.finish(at(frame));
    let _ = sess.take_finished();
    assert_eq!(sess.open_streams(), 0);
    let _ = serde_json::to_string(sess.facts());
    let _ = sess.anomalies();
});
