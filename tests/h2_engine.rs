//! The HTTP/2 engine (`httpreuse::http2`) on the recorded h2c captures agrees
//! with tshark.
//!
//! `fixtures/expected/h2/NAME.json` were written by `fixtures/h2-expect.py`
//! (TShark 4.0.17) from each capture, independently of this code. Per TCP
//! connection we compare the streams (id, method, path, final status,
//! interim statuses, promised_on), the GOAWAYs (by, last_stream_id, error)
//! and the RST_STREAMs (by, stream id, error), all in order: equal, not a
//! subsequence.
//!
//! The captures are read as the analyzer reads them (`capture` -> `decode`
//! -> `tcp::FlowTable`, the loop of `src/analyzer.rs`), and each
//! connection's stream events go to an [`H2Session`]. Integration with the
//! sniffing step is not built yet, so this test decides the start itself:
//! prior knowledge for the h2c captures; for the `Upgrade: h2c` captures it
//! does the minimal HTTP/1 part by hand: the client's upgrading request (a
//! head with no body, parsed with httparse) and the server's `101` head are
//! skipped, then the bytes after them are handed to an
//! `H2Start::Upgrade` session whose stream 1 is that request.

use std::path::PathBuf;

use httpreuse::capture::{CaptureReader, Input};
use httpreuse::decode;
use httpreuse::http2::{H2RequestInfo, H2Session, H2Start, H2Stream};
use httpreuse::tcp::{FlowTable, StreamEvent, TcpConfig, Tracked};
use httpreuse::types::{At, Dir, Role};
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    PriorKnowledge,
    Upgrade,
    /// An Upgrade-mode connection that did not ask for h2c.
    NotUpgraded,
}

/// One connection's HTTP/2 state, as the test drives it.
struct Conn {
    mode: Mode,
    session: Option<H2Session>,
    /// Upgrade: bytes of each direction before the hand-off.
    pre: [Vec<u8>; 2],
    request: Option<(H2RequestInfo, usize)>,
    response_head_end: Option<usize>,
    streams: Vec<H2Stream>,
}

impl Conn {
    fn new(mode: Mode) -> Self {
        let session =
            (mode == Mode::PriorKnowledge).then(|| H2Session::new(H2Start::PriorKnowledge));
        Conn {
            mode,
            session,
            pre: [Vec::new(), Vec::new()],
            request: None,
            response_head_end: None,
            streams: Vec::new(),
        }
    }

    fn on_event(&mut self, dir: Dir, ev: StreamEvent<'_>, at: At) {
        if let Some(s) = self.session.as_mut() {
            s.on_event(dir, ev, at);
            self.streams.extend(s.take_finished());
            return;
        }
        if self.mode == Mode::NotUpgraded {
            return;
        }
        let StreamEvent::Data(bytes) = ev else {
            return;
        };
        let buf = &mut self.pre[dir.index()];
        buf.extend_from_slice(bytes);
        assert!(buf.len() < 1 << 20, "upgrade head too long for this test");
        if dir == Dir::ToServer && self.request.is_none() {
            let mut hs = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut hs);
            if let Ok(httparse::Status::Complete(n)) = req.parse(buf) {
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).into_owned())
                };
                let info = H2RequestInfo {
                    method: req.method.unwrap_or_default().to_string(),
                    target: req.path.unwrap_or_default().to_string(),
                    authority: header("host"),
                    http2_settings: header("http2-settings"),
                    body_bytes: 0,
                    at,
                };
                if header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("h2c")) {
                    self.request = Some((info, n));
                } else {
                    // plain HTTP/1: not this engine's
                    self.mode = Mode::NotUpgraded;
                    return;
                }
            }
        }
        if dir == Dir::ToClient && self.response_head_end.is_none() {
            let mut hs = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut hs);
            if let Ok(httparse::Status::Complete(n)) = resp.parse(buf) {
                if resp.code != Some(101) {
                    self.mode = Mode::NotUpgraded;
                    return;
                }
                self.response_head_end = Some(n);
            }
        }
        if let (Some((info, req_end)), Some(resp_end)) =
            (self.request.clone(), self.response_head_end)
        {
            let mut s = H2Session::new(H2Start::Upgrade {
                request: Some(info),
            });
            let server_rest = self.pre[1].get(resp_end..).unwrap_or_default().to_vec();
            let client_rest = self.pre[0].get(req_end..).unwrap_or_default().to_vec();
            // the server's SETTINGS follow the 101; the client's preface
            // was sent after it arrived
            s.on_event(Dir::ToClient, StreamEvent::Data(&server_rest), at);
            s.on_event(Dir::ToServer, StreamEvent::Data(&client_rest), at);
            self.streams.extend(s.take_finished());
            self.session = Some(s);
        }
    }

    fn finish(&mut self, at: At) {
        if let Some(s) = self.session.as_mut() {
            s.finish(at);
            self.streams.extend(s.take_finished());
        }
    }
}

/// The analyzer's loop, with HTTP/2 sessions: per connection, in id order,
/// the conclusion of each.
fn run(path: &str, mode: Mode) -> Vec<(u16, Conn)> {
    let input = Input::Path(root().join("fixtures").join(path));
    let mut reader = CaptureReader::open(&input).expect("capture opens");
    let mut table: FlowTable<Conn> = FlowTable::new(TcpConfig::default());
    let mut done: Vec<(u64, u16, Conn)> = Vec::new();
    let mut conclude = |t: Box<Tracked<Conn>>| {
        let Tracked {
            mut conn, mut user, ..
        } = *t;
        let end = conn.last;
        conn.flush(end, &mut |dir, ev| user.on_event(dir, ev, end));
        user.finish(end);
        done.push((conn.id, conn.client.port(), user));
    };
    let mut n = 0u64;
    while let Some(frame) = reader.next_frame().expect("capture reads") {
        n += 1;
        let at = At {
            frame: n,
            ts: frame.ts,
        };
        let Ok(decode::Decoded::Segment(seg)) = decode::decode(frame.linktype, frame.data) else {
            continue;
        };
        if let Some(Tracked { conn, user, .. }) =
            table.lookup(&seg, at, at.ts, || Conn::new(mode), &mut conclude)
        {
            conn.segment(&seg, at, &mut |dir, ev| user.on_event(dir, ev, at));
        }
        table.expire(at.ts, &mut conclude);
    }
    table.drain(&mut conclude);
    done.sort_by_key(|(id, _, _)| *id);
    done.into_iter().map(|(_, port, c)| (port, c)).collect()
}

fn role(r: Role) -> &'static str {
    r.as_str()
}

/// Our view in the shape of the expected file.
fn ours(conns: &[(u16, Conn)]) -> Vec<Value> {
    conns
        .iter()
        .map(|(port, c)| {
            let mut streams: Vec<&H2Stream> = c
                .streams
                .iter()
                .filter(|s| s.request.headers.is_some() || s.response.headers.is_some())
                .collect();
            streams.sort_by_key(|s| s.stream_id);
            let streams: Vec<Value> = streams
                .iter()
                .map(|s| {
                    let mut v = json!({"stream_id": s.stream_id});
                    if let Some(m) = &s.method {
                        v["method"] = json!(m);
                    }
                    if let Some(p) = &s.path {
                        v["path"] = json!(p);
                    }
                    if !s.interim.is_empty() {
                        v["interim"] = json!(s.interim);
                    }
                    if let Some(st) = s.status {
                        v["status"] = json!(st);
                    }
                    if let Some(p) = s.promised_on {
                        v["promised_on"] = json!(p);
                    }
                    v
                })
                .collect();
            let facts = c.session.as_ref().map(|s| s.facts().clone());
            let goaway: Vec<Value> = facts
                .iter()
                .flat_map(|f| f.goaway.iter())
                .map(|g| json!({"by": role(g.by), "last_stream_id": g.last_stream_id, "error": g.error}))
                .collect();
            let rst: Vec<Value> = facts
                .iter()
                .flat_map(|f| f.resets.iter())
                .map(|r| json!({"by": role(r.by), "stream_id": r.stream_id, "error": r.error}))
                .collect();
            json!({"client_port": port, "streams": streams, "goaway": goaway, "rst_stream": rst})
        })
        .collect()
}

fn expected(name: &str) -> Value {
    let p = root()
        .join("fixtures/expected/h2")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("expected file is JSON")
}

/// Asserts our streams, GOAWAYs and RST_STREAMs equal tshark's, connection
/// by connection; returns the connections for further checks.
fn agrees(name: &str, mode: Mode) -> Vec<(u16, Conn)> {
    let exp = expected(name);
    let path = exp["pcap"].as_str().expect("capture path");
    let conns = run(path, mode);
    let got = ours(&conns);
    let want: Vec<Value> = exp["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| {
            json!({"client_port": c["client_port"], "streams": c["streams"],
                   "goaway": c["goaway"], "rst_stream": c["rst_stream"]})
        })
        .collect();
    assert_eq!(got.len(), want.len(), "{name}: connections");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{name}: connection {i}");
    }
    conns
}

fn session(c: &Conn) -> &H2Session {
    c.session.as_ref().expect("an HTTP/2 session")
}

fn kinds(c: &Conn) -> Vec<&'static str> {
    session(c)
        .anomalies()
        .iter()
        .map(|a| a.kind.name())
        .collect()
}

#[test]
fn curl_prior_knowledge_one_stream_per_connection() {
    let conns = agrees("h2-curl-prior", Mode::PriorKnowledge);
    for (_, c) in &conns {
        let f = session(c).facts();
        assert_eq!(f.streams_opened.client, 1);
        assert!(kinds(c).is_empty(), "{:?}", session(c).anomalies());
        let s = c.streams.first().expect("a stream");
        assert!(s.finished && s.request.end_stream.is_some() && s.response.end_stream.is_some());
    }
    // the first answers /index.html with its 136-byte body
    let s = conns[0].1.streams.first().expect("stream");
    assert_eq!(s.response.body_bytes, 136);
    assert_eq!(s.content_type.as_deref(), Some("text/html"));
    assert_eq!(s.authority.as_deref(), Some("127.0.0.1:18250"));
}

#[test]
fn nghttp_multiplexes_and_priority_frames_open_no_stream() {
    let conns = agrees("h2-nghttp-prior", Mode::PriorKnowledge);
    let f = session(&conns[0].1).facts();
    // nghttp sends PRIORITY on 3, 5, 7, 9, 11 (its dependency tree): not streams
    assert_eq!(f.streams_opened.client, 4);
    assert_eq!(f.peak_concurrent_streams, 4);
    assert_eq!(f.max_concurrent_streams.server, Some(128));
}

#[test]
fn nginx_rollover_goaway_leaves_streams_unprocessed() {
    let conns = agrees("h2-rollover", Mode::PriorKnowledge);
    let c = &conns[0].1;
    let f = session(c).facts();
    let g = &f.goaway[0];
    assert_eq!(
        (g.by, g.last_stream_id, g.error),
        (Role::Server, 17, "NO_ERROR")
    );
    // streams 19 and 21 were sent before the GOAWAY, above its last_stream_id
    let un: Vec<u32> = c
        .streams
        .iter()
        .filter(|s| s.unprocessed.is_some())
        .map(|s| s.stream_id)
        .collect();
    assert_eq!(un, vec![19, 21]);
    assert_eq!(f.streams_unprocessed, 2);
    assert_eq!(
        kinds(c),
        vec!["h2_stream_after_goaway", "h2_stream_after_goaway"]
    );
    // the facts as JSON: snake_case, RFC names, null for SETTINGS never sent
    let j = serde_json::to_value(f).expect("facts serialise");
    assert_eq!(j["start"], "prior_knowledge");
    assert_eq!(j["goaway"][0]["error"], "NO_ERROR");
    assert_eq!(j["goaway"][0]["by"], "server");
    assert_eq!(j["max_concurrent_streams"]["server"], 128);
    assert_eq!(j["max_concurrent_streams"]["client"], 100);
    assert_eq!(j["streams_opened"]["client"], 5);
    assert!(j["goaway"][0]["at"]["frame"].is_u64());
}

#[test]
fn nginx_idle_goaway_after_one_second() {
    let conns = agrees("h2-idle", Mode::PriorKnowledge);
    let f = session(&conns[0].1).facts();
    let g = &f.goaway[0];
    assert_eq!(
        (g.by, g.error, g.open_streams),
        (Role::Server, "NO_ERROR", 0)
    );
    // keepalive_timeout 1s: about a second of stream silence before it
    assert!(
        (900_000_000..1_500_000_000).contains(&g.idle_ns),
        "idle {} ns",
        g.idle_ns
    );
}

#[test]
fn h2load_concurrency() {
    let conns = agrees("h2load", Mode::PriorKnowledge);
    for (_, c) in &conns {
        let f = session(c).facts();
        assert_eq!(f.streams_opened.client, 10);
        assert_eq!(f.peak_concurrent_streams, 4);
    }
}

#[test]
fn h2load_rollover() {
    let conns = agrees("h2load-rollover", Mode::PriorKnowledge);
    let c = &conns[0].1;
    assert!(
        kinds(c).contains(&"h2_stream_after_goaway"),
        "{:?}",
        session(c).anomalies()
    );
}

#[test]
fn nghttpd_server_push() {
    let conns = agrees("h2-push", Mode::PriorKnowledge);
    let c = &conns[0].1;
    let f = session(c).facts();
    assert_eq!(f.streams_opened.server, 2);
    let pushed: Vec<(u32, Option<u32>)> = c
        .streams
        .iter()
        .filter(|s| s.stream_id % 2 == 0)
        .map(|s| (s.stream_id, s.promised_on))
        .collect();
    assert_eq!(pushed.len(), 2);
    assert!(pushed.iter().all(|(_, on)| *on == Some(13)));
}

#[test]
fn apache_upgrade_h2c_stream_one_is_the_request() {
    let conns = agrees("h2-upgrade", Mode::Upgrade);
    for (_, c) in &conns {
        let s = c
            .streams
            .iter()
            .find(|s| s.stream_id == 1)
            .expect("stream 1");
        assert!(s.finished);
        assert_eq!(s.status, Some(200));
        assert_eq!(session(c).facts().goaway.len(), 1);
    }
}

#[test]
fn nghttp_upgrade_then_more_streams() {
    let conns = agrees("h2-upgrade-nghttp", Mode::Upgrade);
    let f = session(&conns[0].1).facts();
    assert_eq!(f.streams_opened.client, 3);
}

#[test]
fn python_h2_grpc_trailers_early_hints_refused() {
    let conns = agrees("h2-python", Mode::PriorKnowledge);
    let first = |i: usize| conns[i].1.streams.first().expect("stream").clone();
    let grpc = first(0);
    assert_eq!(
        (grpc.status, grpc.grpc_status, grpc.response.trailers),
        (Some(200), Some(0), true)
    );
    let fail = first(1);
    assert_eq!(fail.grpc_status, Some(12));
    let early = first(2);
    assert_eq!(early.interim, vec![103]);
    for (_, c) in &conns[3..] {
        assert_eq!(kinds(c), vec!["h2_refused_stream"]);
        let s = c.streams.first().expect("stream");
        assert_eq!(
            s.rst.map(|r| (r.by, r.error)),
            Some((Role::Server, "REFUSED_STREAM"))
        );
    }
}

#[test]
fn python_h2_goaway_race() {
    let conns = agrees("h2-goaway-race", Mode::PriorKnowledge);
    let c = &conns[0].1;
    let g = &session(c).facts().goaway[0];
    assert_eq!(g.debug, "python-h2 says bye");
    let un: Vec<u32> = c
        .streams
        .iter()
        .filter(|s| s.unprocessed.is_some())
        .map(|s| s.stream_id)
        .collect();
    assert_eq!(un, vec![3, 5]);
}

#[test]
fn nginx_protocol_error_goaway() {
    let conns = agrees("h2-protocol-error", Mode::PriorKnowledge);
    let c = &conns[0].1;
    assert!(
        kinds(c).contains(&"h2_protocol_error_goaway"),
        "{:?}",
        session(c).anomalies()
    );
    // the engine itself sees the client's zero WINDOW_UPDATE as malformed
    assert!(kinds(c).contains(&"h2_frame_error"));
}

#[test]
fn python_h2_client_cancels_a_download() {
    let conns = agrees("h2-client-reset", Mode::PriorKnowledge);
    let c = &conns[0].1;
    let s = c
        .streams
        .iter()
        .find(|s| s.stream_id == 1)
        .expect("stream 1");
    assert_eq!(
        s.rst.map(|r| (r.by, r.error)),
        Some((Role::Client, "CANCEL"))
    );
    let next = c
        .streams
        .iter()
        .find(|s| s.stream_id == 3)
        .expect("stream 3");
    assert!(next.finished && next.status == Some(200));
}

#[test]
fn curl_max_filesize_closes_with_a_stream_open() {
    let conns = agrees("h2-curl-maxfilesize", Mode::PriorKnowledge);
    let c = &conns[0].1;
    let s = c.streams.first().expect("stream 1");
    // curl closed the connection mid-body: the stream was never finished
    assert!(!s.finished);
    assert_eq!(session(c).facts().open_streams_at_end, 1);
}

/// Third-party HTTP/2 captures (suricata-verify, see
/// fixtures/thirdparty/SOURCES.md): the same agreement with tshark.
#[test]
fn third_party_captures_agree() {
    for (name, mode) in [
        ("sv-http2-continuation", Mode::PriorKnowledge),
        ("sv-dns-over-http2", Mode::PriorKnowledge),
        ("sv-dns-over-http2-post", Mode::PriorKnowledge),
        ("sv-http2-keywords", Mode::PriorKnowledge),
        ("sv-bug-5929-02", Mode::PriorKnowledge),
        ("sv-http2-authority-mismatch", Mode::PriorKnowledge),
        ("sv-http2-userinfo-authority", Mode::PriorKnowledge),
        ("sv-http2-bugfixes", Mode::PriorKnowledge),
        ("sv-http2-long-frame", Mode::PriorKnowledge),
        ("sv-http2-range", Mode::Upgrade),
        ("sv-http2-deflate", Mode::Upgrade),
        ("sv-http2-keywords2", Mode::Upgrade),
    ] {
        agrees(name, mode);
    }
}
