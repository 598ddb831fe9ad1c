//! One connection's HTTP/2 state in the analysis: the engine
//! ([`H2Session`]), the verdict's fold over its streams, and the streams
//! handed out as exchanges as they finish.
//!
//! Self-contained so that every way into HTTP/2 uses it the same way:
//! prior knowledge and `Upgrade: h2c` (from [`super::AppSession`]), and
//! ALPN `h2` on decrypted TLS (the TLS session feeds it plaintext):
//!
//! ```text
//! let mut h2 = H2Conn::new(H2Start::Alpn, 0, None);
//! h2.on_event(dir, StreamEvent::Data(plaintext), at);   // per event
//! h2.settle(conn, &mut |n, exchange_report, stale| ...); // after each segment
//! h2.finish(at);                                        // at the end
//! let (reports, stale, verdict) = h2.conclude(conn, fold, window, evicted);
//! ```

use crate::http::Exchange;
use crate::http2::{H2Facts, H2Session, H2Start, H2Stream};
use crate::report::{ExchangeReport, Http2Report};
use crate::tcp::{Connection, StreamEvent};
use crate::types::{Anomaly, At, Dir};
use crate::verdict::{self, Verdict, h2::H2Fold};

/// One connection's HTTP/2 analysis (see the module docs).
pub struct H2Conn {
    session: H2Session,
    /// Exchanges of the connection before HTTP/2 (HTTP/1 ones before an
    /// upgrade): the streams are numbered after them.
    base: u64,
    /// Streams handed out so far.
    handed: u64,
    fold: H2Fold,
    /// `Upgrade: h2c`: the 101 head (an interim response of stream 1).
    switched: Option<At>,
}

impl H2Conn {
    /// HTTP/2 from here on; `base`: exchanges of the connection before it;
    /// `switched`: the 101 of an upgrade.
    pub fn new(start: H2Start, base: u64, switched: Option<At>) -> Self {
        H2Conn {
            session: H2Session::new(start),
            base,
            handed: 0,
            fold: H2Fold::new(),
            switched,
        }
    }

    /// One stream event of the HTTP/2 bytes.
    pub fn on_event(&mut self, dir: Dir, ev: StreamEvent<'_>, at: At) {
        self.session.on_event(dir, ev, at);
    }

    /// No more events: streams still open are handed out unfinished.
    pub fn finish(&mut self, at: At) {
        self.session.finish(at);
    }

    /// Bytes the session holds.
    pub fn buffered(&self) -> usize {
        self.session.buffered_bytes()
    }

    /// The engine's connection facts.
    pub fn facts(&self) -> &H2Facts {
        self.session.facts()
    }

    /// The engine's anomalies.
    pub fn anomalies(&self) -> &[Anomaly] {
        self.session.anomalies()
    }

    /// The engine's anomalies past the cap.
    pub fn anomalies_dropped(&self) -> u64 {
        self.session.anomalies_dropped()
    }

    /// The `http2` object of the connection report.
    pub fn report(&self, origin: At) -> Http2Report {
        crate::report::h2::http2_report(self.session.facts(), origin)
    }

    fn one(&mut self, conn: &Connection, st: &H2Stream) -> (u64, ExchangeReport, bool) {
        self.fold.stream(conn, st);
        self.handed += 1;
        let rep = crate::report::h2::stream_report(st, conn.first, self.switched);
        // opened after the server's FIN: the stale-reuse race
        let stale = conn.sides.server.fin.is_some_and(|fin| st.opened > fin);
        (self.base + self.handed, rep, stale)
    }

    /// Hands the streams that finished since the last call out as
    /// exchange reports, with their number on the connection (from 1) and
    /// whether they were opened after the server's FIN.
    pub fn settle(&mut self, conn: &Connection, out: &mut impl FnMut(u64, ExchangeReport, bool)) {
        for st in self.session.take_finished() {
            let (n, rep, stale) = self.one(conn, &st);
            out(n, rep, stale);
        }
    }

    /// The end (after [`H2Conn::finish`]): the streams not handed out yet
    /// as reports (with their stale flags), and the verdict over the whole
    /// connection. `fold` and `window`: the HTTP/1 exchanges before an
    /// upgrade (settled, and not).
    pub fn conclude(
        &mut self,
        conn: &Connection,
        fold: verdict::Fold,
        window: &[Exchange],
        evicted: Option<crate::tcp::flow::Eviction>,
    ) -> (Vec<ExchangeReport>, Vec<bool>, Verdict) {
        let mut reports = Vec::new();
        let mut stale = Vec::new();
        for st in self.session.take_finished() {
            let (_, rep, s) = self.one(conn, &st);
            reports.push(rep);
            stale.push(s);
        }
        let v = verdict::h2::judge_h2(
            conn,
            fold,
            window,
            &self.fold,
            self.session.facts(),
            evicted,
        );
        (reports, stale, v)
    }
}

#[cfg(test)]
mod tests {
    //! The `Upgrade: h2c` hand-off and prior-knowledge sniffing, with every
    //! byte stream split (and cut) at every offset. Hand-built bytes: a
    //! minimal exchange in the shape of the recorded Apache one
    //! (`fixtures/captures/h2-upgrade.pcap`), small enough to cut
    //! everywhere.
    use crate::app::AppSession;
    use crate::tcp::StreamEvent;
    use crate::types::{At, Dir, Timestamp};

    const REQ: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:18254\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAA\r\n\r\n";
    const SWITCH: &[u8] =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
    /// Server SETTINGS (empty), HEADERS stream 1 `:status 200` (HPACK
    /// static index 8) END_HEADERS, DATA stream 1 "ok" END_STREAM, then
    /// GOAWAY(last 1, NO_ERROR).
    const SERVER_H2: &[u8] = &[
        0, 0, 0, 4, 0, 0, 0, 0, 0, // SETTINGS
        0, 0, 1, 1, 4, 0, 0, 0, 1, 0x88, // HEADERS
        0, 0, 2, 0, 1, 0, 0, 0, 1, b'o', b'k', // DATA
        0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, // GOAWAY
    ];
    /// The preface, an empty SETTINGS and the ACK of the server's.
    fn client_h2() -> Vec<u8> {
        let mut v = crate::http2::PREFACE.to_vec();
        v.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        v.extend_from_slice(&[0, 0, 0, 4, 1, 0, 0, 0, 0]);
        v
    }

    fn at(n: u64) -> At {
        At {
            frame: n,
            ts: Timestamp::from_nanos(n * 1000),
        }
    }

    /// The streams of a session fed `events`, and its start.
    fn run(events: &[(Dir, &[u8])], end: bool) -> AppSession {
        let mut s = AppSession::new();
        for (i, (d, b)) in events.iter().enumerate() {
            s.on_event(*d, StreamEvent::Data(b), at(i as u64 + 1));
        }
        if end {
            s.finish(at(1000));
        }
        s
    }

    fn stream1(s: &mut AppSession) -> Option<(Option<String>, Option<u16>)> {
        let h = s.h2_mut()?;
        let st = h.session.take_finished();
        let one = st.iter().find(|x| x.stream_id == 1)?;
        Some((one.path.clone(), one.status))
    }

    #[test]
    fn upgrade_split_at_every_offset_reads_the_same() {
        let mut server = SWITCH.to_vec();
        server.extend_from_slice(SERVER_H2);
        let client = client_h2();
        let whole = {
            let mut s = run(
                &[
                    (Dir::ToServer, REQ),
                    (Dir::ToClient, &server),
                    (Dir::ToServer, &client),
                ],
                true,
            );
            assert!(s.http().handed_off());
            assert!(s.http().exchanges().is_empty());
            let f = s.h2().map(|h| h.facts().clone()).expect("h2");
            assert_eq!(f.start, crate::http2::H2StartKind::Upgrade);
            assert_eq!(f.goaway.len(), 1);
            // HTTP2-Settings: SETTINGS_MAX_CONCURRENT_STREAMS 100
            assert_eq!(f.max_concurrent_streams.client, Some(100));
            stream1(&mut s)
        };
        assert_eq!(whole, Some((Some("/index.html".to_string()), Some(200))));
        for k in 0..=server.len() {
            let (a, b) = server.split_at(k);
            let mut s = run(
                &[
                    (Dir::ToServer, REQ),
                    (Dir::ToClient, a),
                    (Dir::ToClient, b),
                    (Dir::ToServer, &client),
                ],
                true,
            );
            assert_eq!(stream1(&mut s), whole, "server split at {k}");
            assert!(s.http().anomalies().is_empty(), "server split at {k}");
        }
        for k in 0..=REQ.len() {
            let (a, b) = REQ.split_at(k);
            let mut s = run(
                &[
                    (Dir::ToServer, a),
                    (Dir::ToServer, b),
                    (Dir::ToClient, &server),
                    (Dir::ToServer, &client),
                ],
                true,
            );
            assert_eq!(stream1(&mut s), whole, "request split at {k}");
        }
    }

    #[test]
    fn upgrade_cut_at_every_offset_never_panics() {
        let mut all: Vec<(Dir, Vec<u8>)> = Vec::new();
        all.push((Dir::ToServer, REQ.to_vec()));
        let mut server = SWITCH.to_vec();
        server.extend_from_slice(SERVER_H2);
        all.push((Dir::ToClient, server));
        all.push((Dir::ToServer, client_h2()));
        let total: usize = all.iter().map(|(_, b)| b.len()).sum();
        for cut in 0..=total {
            // the conversation up to byte `cut`, then the end
            let mut left = cut;
            let mut ev: Vec<(Dir, &[u8])> = Vec::new();
            for (d, b) in &all {
                let n = left.min(b.len());
                ev.push((*d, &b[..n]));
                left -= n;
            }
            let mut s = run(&ev, true);
            let switched = cut >= REQ.len() + SWITCH.len();
            assert_eq!(s.h2().is_some(), switched, "cut at {cut}");
            if switched {
                // stream 1 is there whatever came of the rest
                let st = s
                    .h2_mut()
                    .map(|h| h.session.take_finished())
                    .unwrap_or_default();
                assert!(st.iter().any(|x| x.stream_id == 1), "cut at {cut}");
            }
            assert!(s.buffered() < 1 << 20);
        }
    }

    #[test]
    fn a_101_to_another_protocol_stays_a_tunnel() {
        let req = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n";
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi";
        let s = run(&[(Dir::ToServer, req), (Dir::ToClient, resp)], true);
        assert!(s.h2().is_none());
        assert!(s.http().stats().upgraded);
    }

    #[test]
    fn server_settings_before_the_preface_wait_for_the_client() {
        // nghttpd sends its SETTINGS at once (fixtures/captures/h2-push.pcap)
        let settings: &[u8] = &[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
        let client = client_h2();
        for k in 0..=client.len() {
            let (a, b) = client.split_at(k);
            let s = run(
                &[
                    (Dir::ToClient, settings),
                    (Dir::ToServer, a),
                    (Dir::ToServer, b),
                ],
                true,
            );
            assert!(s.h2().is_some(), "client split at {k}");
            assert!(s.http().anomalies().is_empty(), "client split at {k}");
        }
    }
}
