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
