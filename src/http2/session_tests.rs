//! Session tests on hand-built byte streams: one layer at a time, and the
//! hostile cases no real peer sends (floods, storms, bad HPACK, gaps placed
//! on purpose). Real traffic is tested in `tests/h2_engine.rs`.

use proptest::prelude::*;

use crate::http2::frame::{FrameHeader, FrameType, flags};
use crate::http2::{
    H2RequestInfo, H2Session, H2Start, H2Stream, MAX_HEADER_BLOCK, MAX_OPEN_STREAMS, PREFACE,
};
use crate::tcp::StreamEvent;
use crate::types::{At, Dir, Role, Timestamp};

fn at(frame: u64) -> At {
    At {
        frame,
        ts: Timestamp::from_nanos(frame * 1_000_000),
    }
}

fn fr(kind: u8, fl: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = FrameHeader {
        length: payload.len() as u32,
        kind: FrameType::from_u8(kind),
        flags: fl,
        stream_id: sid,
    }
    .encode()
    .to_vec();
    v.extend_from_slice(payload);
    v
}

/// HPACK literal without indexing, new name, no Huffman (short strings).
fn lit(name: &str, value: &str) -> Vec<u8> {
    let mut v = vec![0x00, name.len() as u8];
    v.extend_from_slice(name.as_bytes());
    v.push(value.len() as u8);
    v.extend_from_slice(value.as_bytes());
    v
}

fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    fields.iter().flat_map(|(n, v)| lit(n, v)).collect()
}

fn req(path: &str) -> Vec<u8> {
    block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "t.example"),
        (":path", path),
    ])
}

fn resp(status: &str) -> Vec<u8> {
    block(&[(":status", status), ("content-type", "text/plain")])
}

const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

fn client_start() -> Vec<u8> {
    let mut v = PREFACE.to_vec();
    v.extend_from_slice(&SETTINGS);
    v
}

struct T {
    s: H2Session,
    n: u64,
    done: Vec<H2Stream>,
}

impl T {
    fn new() -> Self {
        let mut t = T {
            s: H2Session::new(H2Start::PriorKnowledge),
            n: 0,
            done: Vec::new(),
        };
        t.c(&client_start());
        t.sv(&SETTINGS);
        t
    }
    fn ev(&mut self, dir: Dir, ev: StreamEvent<'_>) {
        self.n += 1;
        self.s.on_event(dir, ev, at(self.n));
        self.done.extend(self.s.take_finished());
    }
    fn c(&mut self, b: &[u8]) {
        self.ev(Dir::ToServer, StreamEvent::Data(b));
    }
    fn sv(&mut self, b: &[u8]) {
        self.ev(Dir::ToClient, StreamEvent::Data(b));
    }
    fn finish(&mut self) -> Vec<H2Stream> {
        self.n += 1;
        self.s.finish(at(self.n));
        self.done.extend(self.s.take_finished());
        std::mem::take(&mut self.done)
    }
    fn kinds(&self) -> Vec<&'static str> {
        self.s.anomalies().iter().map(|a| a.kind.name()).collect()
    }
    fn stream(&self, id: u32) -> &H2Stream {
        self.done
            .iter()
            .find(|s| s.stream_id == id)
            .unwrap_or_else(|| panic!("stream {id} not finished"))
    }
}

/// One whole GET on `sid` answered 200 with `body` bytes.
fn exchange(t: &mut T, sid: u32, path: &str, body: usize) {
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        sid,
        &req(path),
    ));
    t.sv(&fr(1, flags::END_HEADERS, sid, &resp("200")));
    t.sv(&fr(0, flags::END_STREAM, sid, &vec![b'x'; body]));
}

#[test]
fn prior_knowledge_exchange() {
    let mut t = T::new();
    exchange(&mut t, 1, "/a", 10);
    let s = t.stream(1);
    assert_eq!(s.method.as_deref(), Some("GET"));
    assert_eq!(s.path.as_deref(), Some("/a"));
    assert_eq!(s.authority.as_deref(), Some("t.example"));
    assert_eq!(s.status, Some(200));
    assert_eq!(s.response.body_bytes, 10);
    assert!(s.finished);
    assert_eq!(s.request.end_stream.map(|a| a.frame), Some(3));
    assert_eq!(s.response.headers.map(|a| a.frame), Some(4));
    assert_eq!(s.response.end_stream.map(|a| a.frame), Some(5));
    assert!(t.kinds().is_empty(), "{:?}", t.s.anomalies());
    assert_eq!(t.s.open_streams(), 0);
}

#[test]
fn header_block_across_headers_and_continuations() {
    let mut t = T::new();
    let b = req("/split");
    let (a, rest) = b.split_at(5);
    let (m, z) = rest.split_at(7);
    t.c(&fr(1, flags::END_STREAM, 1, a));
    t.c(&fr(9, 0, 1, m));
    t.c(&fr(9, flags::END_HEADERS, 1, z));
    t.sv(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &resp("204"),
    ));
    let s = t.stream(1);
    assert_eq!(s.path.as_deref(), Some("/split"));
    assert_eq!(s.status, Some(204));
    assert!(t.kinds().is_empty(), "{:?}", t.s.anomalies());
}

/// RFC 7541 C.3: the second request refers to the dynamic table entry the
/// first added; each block is in its own HEADERS frame.
#[test]
fn hpack_dynamic_table_across_streams() {
    let mut t = T::new();
    let b1 = [
        0x82, 0x86, 0x84, 0x41, 0x0f, b'w', b'w', b'w', b'.', b'e', b'x', b'a', b'm', b'p', b'l',
        b'e', b'.', b'c', b'o', b'm',
    ];
    let b2 = [
        0x82, 0x86, 0x84, 0xbe, 0x58, 0x08, b'n', b'o', b'-', b'c', b'a', b'c', b'h', b'e',
    ];
    t.c(&fr(1, flags::END_HEADERS | flags::END_STREAM, 1, &b1));
    t.c(&fr(1, flags::END_HEADERS | flags::END_STREAM, 3, &b2));
    t.sv(&fr(3, 0, 1, &[0, 0, 0, 8]));
    t.sv(&fr(3, 0, 3, &[0, 0, 0, 8]));
    assert_eq!(t.stream(3).authority.as_deref(), Some("www.example.com"));
    assert_eq!(t.stream(1).rst.map(|r| r.error), Some("CANCEL"));
}

#[test]
fn interrupted_header_block() {
    let mut t = T::new();
    t.c(&fr(1, 0, 1, &req("/a")));
    t.c(&fr(6, 0, 0, &[0; 8])); // a PING inside the block
    t.c(&fr(1, flags::END_HEADERS, 3, &req("/b")));
    assert_eq!(
        t.kinds(),
        vec!["h2_continuation_expected", "h2_hpack_state_lost"]
    );
    let open = t.finish();
    assert_eq!(open.len(), 1);
    assert!(open[0].headers_unknown && !open[0].finished && open[0].stream_id == 3);
}

#[test]
fn continuation_flood_is_bounded_and_counted_once() {
    let mut t = T::new();
    t.c(&fr(1, 0, 1, &req("/a")));
    let chunk = fr(9, 0, 1, &[0x40; 1000]);
    for _ in 0..2000 {
        t.c(&chunk);
        assert!(t.s.buffered_bytes() <= 2 * MAX_HEADER_BLOCK + 64 * 1024);
    }
    t.c(&fr(9, flags::END_HEADERS, 1, &[]));
    t.c(&fr(1, flags::END_HEADERS, 3, &req("/b")));
    let k = t.kinds();
    assert_eq!(
        k.iter().filter(|k| **k == "h2_continuation_flood").count(),
        1,
        "{k:?}"
    );
    assert!(k.contains(&"h2_hpack_state_lost"));
    assert_eq!(t.s.facts().streams_opened.client, 2);
    assert!(t.s.buffered_bytes() <= 2 * MAX_HEADER_BLOCK + 64 * 1024);
}

#[test]
fn empty_continuation_flood() {
    let mut t = T::new();
    t.c(&fr(1, 0, 1, &req("/a")));
    let empty = fr(9, 0, 1, &[]);
    let many: Vec<u8> = (0..5000).flat_map(|_| empty.clone()).collect();
    t.c(&many);
    assert_eq!(t.kinds(), vec!["h2_continuation_flood"]);
}

#[test]
fn settings_storm() {
    let mut t = T::new();
    let one = fr(4, 0, 0, &[0, 3, 0, 0, 0, 10]);
    for _ in 0..1000 {
        t.c(&one);
    }
    assert_eq!(t.kinds(), vec!["h2_settings_storm"]);
    assert_eq!(t.s.facts().settings.client, 1001);
    assert_eq!(t.s.facts().max_concurrent_streams.client, Some(10));
    assert_eq!(t.s.facts().max_concurrent_streams.server, None);
}

#[test]
fn bad_hpack_counts_the_stream_headers_unknown() {
    let mut t = T::new();
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ));
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        3,
        &req("/b"),
    ));
    assert_eq!(t.kinds(), vec!["h2_hpack_error", "h2_hpack_state_lost"]);
    let open = t.finish();
    assert_eq!(open.len(), 2);
    assert!(open.iter().all(|s| s.headers_unknown && s.path.is_none()));
    assert_eq!(t.s.facts().header_blocks_unknown, 2);
    assert!(t.s.facts().hpack_state_lost.client);
    assert!(!t.s.facts().hpack_state_lost.server);
}

#[test]
fn gap_inside_data_keeps_everything() {
    let mut t = T::new();
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &req("/big"),
    ));
    t.sv(&fr(1, flags::END_HEADERS, 1, &resp("200")));
    let data = fr(0, flags::END_STREAM, 1, &[7; 1000]);
    t.sv(&data[..100]);
    t.ev(Dir::ToClient, StreamEvent::Gap(800));
    t.sv(&data[900..]);
    exchange(&mut t, 3, "/next", 5);
    assert!(t.kinds().is_empty(), "{:?}", t.s.anomalies());
    assert_eq!(t.stream(1).response.body_bytes, 1000);
    assert_eq!(t.stream(3).status, Some(200));
}

#[test]
fn gap_over_a_header_loses_hpack_and_realigns() {
    let mut t = T::new();
    exchange(&mut t, 1, "/a", 3);
    // the server's response on stream 3 falls into the gap
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        3,
        &req("/b"),
    ));
    let lost = fr(1, flags::END_HEADERS, 3, &resp("200"));
    t.ev(Dir::ToClient, StreamEvent::Gap(lost.len() as u64 + 4));
    let d3 = fr(0, flags::END_STREAM, 3, &[1; 10]);
    t.sv(&d3[4..]); // the rest of stream 3's DATA frame: not aligned
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        5,
        &req("/c"),
    ));
    t.sv(&fr(1, flags::END_HEADERS, 5, &resp("404")));
    t.sv(&fr(0, flags::END_STREAM, 5, b"gone"));
    let k = t.kinds();
    assert!(k.contains(&"h2_resync"), "{k:?}");
    assert!(k.contains(&"h2_hpack_state_lost"), "{k:?}");
    let s5 = t.stream(5);
    // the request side is intact; the response's headers are unknown
    assert_eq!(s5.path.as_deref(), Some("/c"));
    assert!(s5.headers_unknown && s5.status.is_none() && s5.finished);
    assert_eq!(s5.response.body_bytes, 4);
    assert!(t.s.facts().hpack_state_lost.server);
}

/// Found by the h2_session fuzz target: a second huge gap while realigning
/// overflowed the skipped-bytes counter.
#[test]
fn huge_gaps_while_realigning() {
    let mut t = T::new();
    t.ev(Dir::ToClient, StreamEvent::Gap(u64::MAX - 3));
    t.sv(&[1, 2, 3]);
    t.ev(Dir::ToClient, StreamEvent::Gap(u64::MAX));
    t.ev(Dir::ToClient, StreamEvent::Gap(u64::MAX));
    exchange(&mut t, 1, "/after", 1);
    assert_eq!(t.s.facts().streams_opened.client, 1);
}

#[test]
fn bad_preface_stops_reading_the_direction() {
    let mut s = H2Session::new(H2Start::PriorKnowledge);
    s.on_event(
        Dir::ToServer,
        StreamEvent::Data(b"GET / HTTP/1.1\r\n\r\n"),
        at(1),
    );
    s.on_event(
        Dir::ToServer,
        StreamEvent::Data(&fr(1, 5, 1, &req("/"))),
        at(2),
    );
    assert_eq!(s.anomalies().len(), 1);
    assert_eq!(s.anomalies()[0].kind.name(), "h2_bad_preface");
    assert_eq!(s.facts().streams_opened.client, 0);
}

#[test]
fn preface_split_byte_by_byte() {
    let mut s = H2Session::new(H2Start::Alpn);
    let mut all = client_start();
    all.extend(fr(1, flags::END_HEADERS | flags::END_STREAM, 1, &req("/x")));
    for (i, b) in all.iter().enumerate() {
        s.on_event(
            Dir::ToServer,
            StreamEvent::Data(std::slice::from_ref(b)),
            at(i as u64 + 1),
        );
    }
    assert!(s.anomalies().is_empty(), "{:?}", s.anomalies());
    assert_eq!(s.facts().streams_opened.client, 1);
}

#[test]
fn server_must_start_with_settings() {
    let mut s = H2Session::new(H2Start::PriorKnowledge);
    s.on_event(
        Dir::ToClient,
        StreamEvent::Data(&fr(6, 0, 0, &[0; 8])),
        at(1),
    );
    assert_eq!(s.anomalies()[0].kind.name(), "h2_bad_preface");
    assert_eq!(s.anomalies()[0].by, Some(Role::Server));
}

#[test]
fn frame_too_large_is_skipped_by_length() {
    let mut t = T::new();
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &req("/a"),
    ));
    t.sv(&fr(1, flags::END_HEADERS, 1, &resp("200")));
    t.sv(&fr(0, 0, 1, &vec![0; 20_000]));
    t.sv(&fr(0, flags::END_STREAM, 1, b"end"));
    assert_eq!(t.kinds(), vec!["h2_frame_too_large"]);
    assert_eq!(t.stream(1).response.body_bytes, 3);
    // once the client allows bigger frames they are fine
    let mut t = T::new();
    t.c(&fr(4, 0, 0, &[0, 5, 0, 1, 0, 0]));
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &req("/a"),
    ));
    t.sv(&fr(1, flags::END_HEADERS, 1, &resp("200")));
    t.sv(&fr(0, flags::END_STREAM, 1, &vec![0; 20_000]));
    assert!(t.kinds().is_empty(), "{:?}", t.s.anomalies());
    assert_eq!(t.stream(1).response.body_bytes, 20_000);
}

#[test]
fn upgrade_stream_one() {
    let info = H2RequestInfo {
        method: "GET".into(),
        target: "/up".into(),
        authority: Some("h.example".into()),
        http2_settings: Some("AAMAAABkAAQCAAAAAAIAAAAA".into()),
        body_bytes: 0,
        at: at(1),
    };
    let mut s = H2Session::new(H2Start::Upgrade {
        request: Some(info),
    });
    assert_eq!(s.facts().max_concurrent_streams.client, Some(100));
    s.on_event(Dir::ToClient, StreamEvent::Data(&SETTINGS), at(2));
    s.on_event(Dir::ToServer, StreamEvent::Data(&client_start()), at(3));
    let mut r = fr(1, flags::END_HEADERS, 1, &resp("200"));
    r.extend(fr(0, flags::END_STREAM, 1, b"ok"));
    s.on_event(Dir::ToClient, StreamEvent::Data(&r), at(4));
    let done = s.take_finished();
    assert_eq!(done.len(), 1);
    let st = &done[0];
    assert_eq!(
        (st.method.as_deref(), st.path.as_deref()),
        (Some("GET"), Some("/up"))
    );
    assert_eq!(st.authority.as_deref(), Some("h.example"));
    assert_eq!(
        (st.status, st.response.body_bytes, st.finished),
        (Some(200), 2, true)
    );
    assert_eq!(st.request.end_stream.map(|a| a.frame), Some(1));
    assert!(s.anomalies().is_empty(), "{:?}", s.anomalies());
}

#[test]
fn goaway_then_a_new_stream_above_last() {
    let mut t = T::new();
    exchange(&mut t, 1, "/a", 1);
    t.sv(&fr(7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0, b'b', b'y', b'e']));
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        3,
        &req("/late"),
    ));
    let s3 = t.stream(3);
    let u = s3.unprocessed.expect("unprocessed");
    assert!(u.opened_after_goaway && u.last_stream_id == 1 && u.goaway_by == Role::Server);
    assert_eq!(t.kinds(), vec!["h2_stream_after_goaway"]);
    let g = &t.s.facts().goaway[0];
    assert_eq!(
        (g.error, g.debug.as_str(), g.open_streams),
        ("NO_ERROR", "bye", 0)
    );
}

#[test]
fn protocol_error_goaway_with_unknown_code() {
    let mut t = T::new();
    t.sv(&fr(7, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0x42]));
    assert_eq!(t.kinds(), vec!["h2_protocol_error_goaway"]);
    assert_eq!(t.s.facts().goaway[0].error, "UNKNOWN_ERROR");
    assert_eq!(t.s.facts().goaway[0].code, 0x42);
}

#[test]
fn pushed_stream() {
    let mut t = T::new();
    t.c(&fr(1, flags::END_HEADERS | flags::END_STREAM, 1, &req("/")));
    let mut pp = vec![0, 0, 0, 2];
    pp.extend(req("/style.css"));
    t.sv(&fr(5, flags::END_HEADERS, 1, &pp));
    t.sv(&fr(1, flags::END_HEADERS, 1, &resp("200")));
    t.sv(&fr(1, flags::END_HEADERS, 2, &resp("200")));
    t.sv(&fr(0, flags::END_STREAM, 2, b"css"));
    t.sv(&fr(0, flags::END_STREAM, 1, b"html"));
    let p = t.stream(2);
    assert_eq!(
        (p.promised_on, p.path.as_deref()),
        (Some(1), Some("/style.css"))
    );
    assert_eq!(p.response.body_bytes, 3);
    assert_eq!(t.s.facts().streams_opened.server, 1);
    assert_eq!(t.s.facts().peak_concurrent_streams, 2);
}

#[test]
fn interim_and_trailers() {
    let mut t = T::new();
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &req("/g"),
    ));
    t.sv(&fr(1, flags::END_HEADERS, 1, &block(&[(":status", "100")])));
    t.sv(&fr(1, flags::END_HEADERS, 1, &block(&[(":status", "103")])));
    t.sv(&fr(
        1,
        flags::END_HEADERS,
        1,
        &block(&[
            (":status", "200"),
            ("content-type", "application/grpc+proto"),
        ]),
    ));
    t.sv(&fr(0, 0, 1, &[0, 0, 0, 0, 0]));
    t.sv(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &block(&[("grpc-status", "5")]),
    ));
    let s = t.stream(1);
    assert_eq!((s.interim.clone(), s.status), (vec![100, 103], Some(200)));
    assert_eq!((s.grpc_status, s.response.trailers), (Some(5), true));
    assert_eq!(s.response.header_blocks, 4);
}

#[test]
fn refused_and_rapid_reset() {
    let mut t = T::new();
    t.c(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &req("/r"),
    ));
    t.sv(&fr(3, 0, 1, &[0, 0, 0, 7]));
    assert_eq!(t.kinds(), vec!["h2_refused_stream"]);
    for i in 0..150u32 {
        let sid = 3 + 2 * i;
        t.c(&fr(
            1,
            flags::END_HEADERS | flags::END_STREAM,
            sid,
            &req("/x"),
        ));
        t.c(&fr(3, 0, sid, &[0, 0, 0, 8]));
    }
    let k = t.kinds();
    assert_eq!(k.iter().filter(|k| **k == "h2_rapid_reset").count(), 1);
    assert_eq!(t.s.facts().rst_streams.client, 150);
    assert_eq!(t.s.facts().resets.len(), 64);
    assert_eq!(t.s.facts().resets_dropped, 151 - 64);
}

#[test]
fn open_streams_are_bounded() {
    let mut t = T::new();
    for i in 0..(MAX_OPEN_STREAMS as u32 + 10) {
        t.c(&fr(
            1,
            flags::END_HEADERS | flags::END_STREAM,
            1 + 2 * i,
            &req("/o"),
        ));
    }
    assert_eq!(t.s.open_streams(), MAX_OPEN_STREAMS);
    assert_eq!(t.kinds(), vec!["h2_too_many_open_streams"]);
    assert_eq!(t.done.len(), 10);
    assert!(t.done.iter().all(|s| !s.finished));
}

#[test]
fn truncated_at_the_end() {
    let mut t = T::new();
    let h = fr(1, flags::END_HEADERS | flags::END_STREAM, 1, &req("/t"));
    t.c(&h[..h.len() - 3]);
    t.ev(Dir::ToServer, StreamEvent::Fin);
    assert_eq!(t.kinds(), vec!["h2_truncated_frame"]);
}

#[test]
fn priority_and_unknown_frames_open_nothing() {
    let mut t = T::new();
    t.c(&fr(2, 0, 3, &[0, 0, 0, 0, 10]));
    t.c(&fr(0xbb, 0, 5, b"??"));
    t.c(&fr(8, 0, 0, &[0, 0, 1, 0]));
    assert_eq!(t.s.facts().streams_opened.client, 0);
    assert_eq!(t.s.facts().unknown_frames.client, 1);
    assert!(t.kinds().is_empty(), "{:?}", t.s.anomalies());
}

/// A capture that begins mid-connection: responses to requests sent
/// before it are exchanges of their own (no request), trailers and DATA
/// on them are theirs, and they count as neither opened streams nor
/// requests.
#[test]
fn responses_of_streams_opened_before_the_capture() {
    let mut t = T {
        s: H2Session::new(H2Start::MidStream),
        n: 0,
        done: Vec::new(),
    };
    let wu = fr(8, 0, 0, &[0, 0, 1, 0]);
    t.c(&[wu.clone(), wu.clone(), wu].concat());
    // DATA only: its response began before the capture, nothing to show
    let mut sv = fr(0, flags::END_STREAM, 3, b"tail");
    sv.extend(fr(1, flags::END_HEADERS, 5, &resp("200")));
    sv.extend(fr(0, 0, 5, b"hello"));
    sv.extend(fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        5,
        &block(&[("grpc-status", "0")]),
    ));
    sv.extend(fr(1, flags::END_HEADERS, 7, &resp("404")));
    t.sv(&sv);
    // the end of an upload on stream 9, then its answer
    t.c(&fr(0, flags::END_STREAM, 9, b"last bytes"));
    let upload_end = t.n;
    t.sv(&fr(
        1,
        flags::END_HEADERS | flags::END_STREAM,
        9,
        &resp("201"),
    ));
    let before_fin = t.s.facts().continued_last_activity;
    t.ev(Dir::ToServer, StreamEvent::Fin);
    // after the first FIN, continued streams' frames are not activity
    t.sv(&fr(0, flags::END_STREAM, 11, b"late"));
    assert_eq!(t.s.facts().continued_last_activity, before_fin);
    let done = t.finish();
    let find = |id: u32| done.iter().find(|s| s.stream_id == id);
    let s5 = find(5).expect("stream 5");
    assert!(s5.continued && s5.finished, "{s5:?}");
    assert_eq!(s5.request.headers, None);
    assert_eq!(s5.status, Some(200));
    assert_eq!(s5.response.body_bytes, 5);
    assert!(s5.response.trailers && s5.response.end_stream.is_some());
    let s7 = find(7).expect("stream 7");
    assert!(s7.continued && !s7.finished && s7.status == Some(404));
    let s9 = find(9).expect("stream 9");
    assert!(
        s9.continued && s9.finished && s9.status == Some(201),
        "{s9:?}"
    );
    assert_eq!(s9.request.end_stream, Some(at(upload_end)));
    assert_eq!(s9.request.body_bytes, 10);
    assert_eq!(done.len(), 3, "{done:?}");
    assert_eq!(t.s.facts().streams_opened.client, 0);
    assert_eq!(t.s.facts().streams_continued, 5);
}

/// A connection of well-formed frames, for the split tests.
fn conversation() -> (Vec<u8>, Vec<u8>) {
    let mut c = client_start();
    let mut s = SETTINGS.to_vec();
    for i in 0..6u32 {
        let sid = 1 + 2 * i;
        let b = req(&format!("/p{i}"));
        let (a, z) = b.split_at(b.len() / 2);
        c.extend(fr(1, flags::END_STREAM, sid, a));
        c.extend(fr(9, flags::END_HEADERS, sid, z));
        s.extend(fr(1, flags::END_HEADERS, sid, &resp("200")));
        s.extend(fr(0, flags::PADDED, sid, &[3, 1, 2, 3, 4, 0, 0, 0]));
        s.extend(fr(0, flags::END_STREAM, sid, &vec![9; 100 * i as usize]));
    }
    s.extend(fr(7, 0, 0, &[0, 0, 0, 11, 0, 0, 0, 0]));
    (c, s)
}

type Key = Vec<(u32, Option<String>, Option<u16>, u64, bool)>;

fn key(v: &[H2Stream]) -> Key {
    v.iter()
        .map(|s| {
            (
                s.stream_id,
                s.path.clone(),
                s.status,
                s.response.body_bytes,
                s.finished,
            )
        })
        .collect()
}

/// Feeds the two directions, cut at the given points, client first.
fn run_split(c: &[u8], s: &[u8], cuts_c: &[usize], cuts_s: &[usize]) -> (Vec<H2Stream>, usize) {
    fn pieces<'a>(b: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut cs: Vec<usize> = cuts.iter().map(|x| x % (b.len() + 1)).collect();
        cs.sort_unstable();
        let mut out = Vec::new();
        let mut prev = 0;
        for x in cs.into_iter().chain([b.len()]) {
            out.push(&b[prev..x]);
            prev = x;
        }
        out
    }
    let pc = pieces(c, cuts_c);
    let ps = pieces(s, cuts_s);
    let mut sess = H2Session::new(H2Start::PriorKnowledge);
    let mut out = Vec::new();
    let mut n = 0;
    // all requests first: a response must not come before its request
    for (dir, ps) in [(Dir::ToServer, pc), (Dir::ToClient, ps)] {
        for p in ps {
            n += 1;
            sess.on_event(dir, StreamEvent::Data(p), at(1));
            out.extend(sess.take_finished());
        }
    }
    sess.finish(at(n + 1));
    out.extend(sess.take_finished());
    if !sess.anomalies().is_empty() {
        eprintln!("{:?}", sess.anomalies());
    }
    (out, sess.anomalies().len())
}

#[test]
fn whole_conversation_byte_by_byte() {
    let (c, s) = conversation();
    let (whole, an) = run_split(&c, &s, &[], &[]);
    assert_eq!(an, 0);
    assert_eq!(whole.len(), 6);
    let cc: Vec<usize> = (0..c.len()).collect();
    let ss: Vec<usize> = (0..s.len()).collect();
    let (bytes, an2) = run_split(&c, &s, &cc, &ss);
    assert_eq!(an2, 0);
    assert_eq!(key(&whole), key(&bytes));
    assert_eq!(whole[5].response.body_bytes, 500 + 4);
}

proptest! {
    /// The same connection cut anywhere gives the same streams.
    #[test]
    fn split_anywhere_same_result(cc in proptest::collection::vec(any::<usize>(), 0..40),
                                  cs in proptest::collection::vec(any::<usize>(), 0..40)) {
        let (c, s) = conversation();
        let (whole, _) = run_split(&c, &s, &[], &[]);
        let (cut, an) = run_split(&c, &s, &cc, &cs);
        prop_assert_eq!(an, 0);
        prop_assert_eq!(key(&whole), key(&cut));
    }

    /// Arbitrary bytes after a valid preface, in arbitrary segments, with
    /// gaps: no panic, bounded buffers.
    #[test]
    fn arbitrary_after_preface(chunks in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), 0u64..3), 0..30)) {
        let mut s = H2Session::new(H2Start::PriorKnowledge);
        s.on_event(Dir::ToServer, StreamEvent::Data(&client_start()), at(1));
        for (i, (to_server, bytes, gap)) in chunks.iter().enumerate() {
            let dir = if *to_server { Dir::ToServer } else { Dir::ToClient };
            s.on_event(dir, StreamEvent::Data(bytes), at(i as u64 + 2));
            if *gap == 1 {
                s.on_event(dir, StreamEvent::Gap(17), at(i as u64 + 2));
            }
            let _ = s.take_finished();
            prop_assert!(s.buffered_bytes() <= 2 * MAX_HEADER_BLOCK + 2 * 64 * 1024 + 4096);
            prop_assert!(s.open_streams() <= MAX_OPEN_STREAMS);
        }
        s.finish(at(1000));
        prop_assert_eq!(s.open_streams(), 0);
    }

    /// Arbitrary frames (valid headers, random payloads) after a valid
    /// preface: no panic; streams never outnumber HEADERS frames.
    #[test]
    fn arbitrary_frames(frames in proptest::collection::vec(
            (any::<bool>(), 0u8..11, any::<u8>(), 0u32..20, proptest::collection::vec(any::<u8>(), 0..40)), 0..60)) {
        let mut s = H2Session::new(H2Start::PriorKnowledge);
        s.on_event(Dir::ToServer, StreamEvent::Data(&client_start()), at(1));
        let mut headers = 0u64;
        for (i, (to_server, kind, fl, sid, payload)) in frames.iter().enumerate() {
            let dir = if *to_server { Dir::ToServer } else { Dir::ToClient };
            if *kind == 1 || *kind == 5 { headers += 1; }
            s.on_event(dir, StreamEvent::Data(&fr(*kind, *fl, *sid, payload)), at(i as u64 + 2));
        }
        s.finish(at(1000));
        let f = s.facts();
        prop_assert!(f.streams_opened.client + f.streams_opened.server <= headers);
    }
}

/// A piece that ends before three frames in a row came (a response of
/// two frames, nothing else): read at its end, since it is whole frames.
#[test]
fn short_mid_connection_piece_is_read_at_its_end() {
    let mut t = T {
        s: H2Session::new(H2Start::MidStream),
        n: 0,
        done: Vec::new(),
    };
    let mut sv = fr(1, flags::END_HEADERS, 3, &resp("200"));
    sv.extend(fr(0, flags::END_STREAM, 3, b"body"));
    t.sv(&sv);
    assert!(
        t.s.facts().continued_last_activity.is_none(),
        "not read before the end"
    );
    let done = t.finish();
    let s3 = done.iter().find(|s| s.stream_id == 3).expect("stream 3");
    assert_eq!(s3.status, Some(200));
    assert_eq!(s3.response.body_bytes, 4);
    assert!(s3.finished);
    assert_eq!(t.kinds(), vec!["h2_resync"]);
    // a direction holding a partial frame at the end is not read
    let mut t = T {
        s: H2Session::new(H2Start::MidStream),
        n: 0,
        done: Vec::new(),
    };
    t.sv(&sv[..sv.len() - 2]);
    assert!(t.finish().is_empty());
}
