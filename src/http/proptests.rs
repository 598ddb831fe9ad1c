//! Property tests: parsing does not depend on how the stream is cut into
//! Data events, and no input panics.

use proptest::prelude::*;

use crate::http::HttpSession;
use crate::tcp::StreamEvent;
use crate::types::{At, Dir, Timestamp};

#[derive(Clone, Debug)]
enum Body {
    None,
    Length(Vec<u8>),
    /// Chunks (non-empty), with extensions, with trailers.
    Chunked(Vec<Vec<u8>>, bool, bool),
}

impl Body {
    fn encode(&self, out: &mut Vec<u8>) -> u64 {
        let start = out.len();
        match self {
            Body::None => {
                out.extend_from_slice(b"\r\n");
            }
            Body::Length(b) => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Body::Chunked(chunks, ext, trailers) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let body_start = out.len();
                for c in chunks {
                    out.extend_from_slice(format!("{:x}", c.len()).as_bytes());
                    if *ext {
                        out.extend_from_slice(b";name=\"v\"; x");
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n");
                if *trailers {
                    out.extend_from_slice(b"X-Trailer: yes\r\nX-Other: 1\r\n");
                }
                out.extend_from_slice(b"\r\n");
                return (out.len() - body_start) as u64;
            }
        }
        let _ = start;
        match self {
            Body::Length(b) => b.len() as u64,
            _ => 0,
        }
    }
}

fn body() -> impl Strategy<Value = Body> {
    let bytes = prop::collection::vec(any::<u8>(), 0..40);
    let tricky = prop::sample::select(vec![
        b"\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        b"0\r\n\r\n".to_vec(),
    ]);
    let data = prop_oneof![bytes, tricky];
    prop_oneof![
        Just(Body::None),
        data.clone().prop_map(Body::Length),
        (
            prop::collection::vec(data.prop_filter("non-empty", |d| !d.is_empty()), 0..4),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(c, e, t)| Body::Chunked(c, e, t)),
    ]
}

#[derive(Clone, Debug)]
struct Ex {
    method: &'static str,
    target: String,
    req_body: Body,
    status: u16,
    resp_body: Body,
}

fn exchange() -> impl Strategy<Value = Ex> {
    (
        prop::sample::select(vec![
            "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS",
        ]),
        "/[a-z0-9/?=&]{0,12}",
        body(),
        prop::sample::select(vec![200u16, 201, 204, 304, 404, 500]),
        body(),
    )
        .prop_map(|(method, target, req_body, status, resp_body)| Ex {
            method,
            target,
            req_body,
            status,
            resp_body,
        })
}

/// (method, target, req body, req complete, status, resp body, resp complete)
type Summary = Vec<(String, String, u64, bool, u16, u64, bool)>;

fn build(exs: &[Ex]) -> (Vec<u8>, Vec<u8>, Summary) {
    let mut c = Vec::new();
    let mut s = Vec::new();
    let mut expect = Vec::new();
    for e in exs {
        c.extend_from_slice(
            format!("{} {} HTTP/1.1\r\nHost: h\r\n", e.method, e.target).as_bytes(),
        );
        let rb = e.req_body.encode(&mut c);
        s.extend_from_slice(format!("HTTP/1.1 {} X\r\n", e.status).as_bytes());
        let no_body = e.method == "HEAD" || e.status == 204 || e.status == 304;
        let sb = if no_body {
            // Headers may announce a length; no body follows.
            let mut tmp = Vec::new();
            e.resp_body.encode(&mut tmp);
            let head_end = tmp
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(0, |p| p + 2);
            match &e.resp_body {
                Body::None => s.extend_from_slice(b"\r\n"),
                _ => {
                    s.extend_from_slice(&tmp[..head_end]);
                    s.extend_from_slice(b"\r\n");
                }
            }
            0
        } else {
            match e.resp_body {
                // A response without length would be close-delimited.
                Body::None => {
                    s.extend_from_slice(b"Content-Length: 0\r\n\r\n");
                    0
                }
                _ => e.resp_body.encode(&mut s),
            }
        };
        expect.push((
            e.method.to_string(),
            e.target.clone(),
            rb,
            true,
            e.status,
            sb,
            true,
        ));
    }
    (c, s, expect)
}

fn at(frame: u64) -> At {
    At {
        frame,
        ts: Timestamp::from_nanos(frame),
    }
}

fn feed_split(
    sess: &mut HttpSession,
    dir: Dir,
    bytes: &[u8],
    cuts: &[prop::sample::Index],
    frame: &mut u64,
) {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    for w in points.windows(2) {
        *frame += 1;
        sess.on_event(dir, StreamEvent::Data(&bytes[w[0]..w[1]]), at(*frame));
    }
}

fn summarize(sess: &HttpSession) -> Summary {
    sess.exchanges()
        .iter()
        .map(|x| {
            let r = x.request.as_ref();
            let p = x.response.as_ref();
            (
                r.map(|r| r.method.to_string()).unwrap_or_default(),
                r.map(|r| r.target.to_string()).unwrap_or_default(),
                r.map_or(0, |r| r.body_bytes),
                r.is_some_and(|r| r.complete),
                p.map_or(0, |p| p.status),
                p.map_or(0, |p| p.body_bytes),
                p.is_some_and(|p| p.complete),
            )
        })
        .collect()
}

fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24),
        prop::sample::select(vec![
            b"GET / HTTP/1.1\r\n".to_vec(),
            b"HEAD /x HTTP/1.0\r\n".to_vec(),
            b"CONNECT a:443 HTTP/1.1\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\n".to_vec(),
            b"HTTP/1.1 100 Continue\r\n".to_vec(),
            b"HTTP/1.1 101 Switching\r\n".to_vec(),
            b"HTTP/1.1 204 No\r\n".to_vec(),
            b"Content-Length: 5\r\n".to_vec(),
            b"Content-Length: 5, 6\r\n".to_vec(),
            b"Transfer-Encoding: chunked\r\n".to_vec(),
            b"Transfer-Encoding: gzip\r\n".to_vec(),
            b"Keep-Alive: timeout=\"5\", max=x\r\n".to_vec(),
            b"Connection: close\r\n".to_vec(),
            b"\r\n".to_vec(),
            b"\n".to_vec(),
            b"5;x=y\r\nhello\r\n".to_vec(),
            b"0\r\n\r\n".to_vec(),
            b"ffffffffffffffff\r\n".to_vec(),
        ]),
    ]
}

#[derive(Clone, Debug)]
enum Ev {
    Data(bool, Vec<u8>),
    Gap(bool, u64),
    Fin(bool),
    Reset(bool),
}

fn event() -> impl Strategy<Value = Ev> {
    prop_oneof![
        8 => (any::<bool>(), prop::collection::vec(fragment(), 1..6))
            .prop_map(|(d, f)| Ev::Data(d, f.concat())),
        1 => (any::<bool>(), prop_oneof![0u64..20, Just(u64::MAX)]).prop_map(|(d, n)| Ev::Gap(d, n)),
        1 => any::<bool>().prop_map(Ev::Fin),
        1 => any::<bool>().prop_map(Ev::Reset),
    ]
}

fn dir(b: bool) -> Dir {
    if b { Dir::ToServer } else { Dir::ToClient }
}

proptest! {
    #[test]
    fn split_does_not_matter(
        exs in prop::collection::vec(exchange(), 1..6),
        ccuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        scuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let (c, s, expect) = build(&exs);
        let mut whole = HttpSession::new();
        whole.on_event(Dir::ToServer, StreamEvent::Data(&c), at(1));
        whole.on_event(Dir::ToClient, StreamEvent::Data(&s), at(2));
        whole.finish(at(3));
        prop_assert_eq!(&summarize(&whole), &expect);
        prop_assert!(whole.anomalies().is_empty(), "{:?}", whole.anomalies());

        let mut split = HttpSession::new();
        let mut frame = 0;
        feed_split(&mut split, Dir::ToServer, &c, &ccuts, &mut frame);
        feed_split(&mut split, Dir::ToClient, &s, &scuts, &mut frame);
        split.finish(at(frame + 1));
        prop_assert_eq!(&summarize(&split), &expect);
        prop_assert!(split.anomalies().is_empty(), "{:?}", split.anomalies());
        prop_assert_eq!(split.stats(), whole.stats());
        // Heads are the same too.
        for (a, b) in split.exchanges().iter().zip(whole.exchanges()) {
            prop_assert_eq!(&a.request.as_ref().map(|r| &r.head), &b.request.as_ref().map(|r| &r.head));
            prop_assert_eq!(&a.response.as_ref().map(|r| &r.head), &b.response.as_ref().map(|r| &r.head));
        }
    }

    #[test]
    fn arbitrary_events_never_panic(evs in prop::collection::vec(event(), 0..40)) {
        let mut sess = HttpSession::new();
        for (i, e) in evs.iter().enumerate() {
            let a = at(i as u64 + 1);
            match e {
                Ev::Data(d, b) => sess.on_event(dir(*d), StreamEvent::Data(b), a),
                Ev::Gap(d, n) => sess.on_event(dir(*d), StreamEvent::Gap(*n), a),
                Ev::Fin(d) => sess.on_event(dir(*d), StreamEvent::Fin, a),
                Ev::Reset(d) => sess.on_event(dir(*d), StreamEvent::Reset, a),
            }
        }
        sess.finish(at(1000));
        let _ = (sess.exchanges(), sess.stats(), sess.anomalies());
        prop_assert!(sess.anomalies().len() <= crate::types::MAX_ANOMALIES_PER_CONNECTION);
    }

    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        d in any::<bool>(),
    ) {
        let mut sess = HttpSession::new();
        let mut frame = 0;
        feed_split(&mut sess, dir(d), &bytes, &cuts, &mut frame);
        sess.finish(at(frame + 1));
    }
}
