//! A TLS connection: the TLS engine ([`crate::tls::TlsSession`]) reads the
//! records; the plaintext it decrypts (with a key log) goes to the inner
//! application session, chosen once from ALPN ([`Inner`]).
//!
//! ALPN `h2` plaintext goes to an HTTP/2 analysis ([`H2Conn`], started
//! as `H2Start::Alpn`), everything else to the HTTP/1 session the
//! connection already has, so exchanges, settling, verdicts and anomalies
//! are those of a plaintext connection.

use std::sync::Arc;

use super::h2::H2Conn;
use crate::http::HttpSession;
use crate::http2::H2Start;
use crate::tcp::StreamEvent;
use crate::tls::{KeyLog, PlainEvent, TlsSession};
use crate::types::{At, Dir};

/// Where decrypted application data goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inner {
    /// No plaintext yet: decided at the first.
    Undecided,
    /// The connection's HTTP/1 session.
    Http1,
    /// ALPN `h2`: the connection's HTTP/2 analysis.
    H2,
}

impl Inner {
    /// The name the report gives the plaintext's protocol.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Inner::Undecided => None,
            Inner::Http1 => Some("http/1.1"),
            Inner::H2 => Some("h2"),
        }
    }

    /// The plaintext is analysed (requests, exchanges, verdicts).
    pub fn analysed(self) -> bool {
        matches!(self, Inner::Http1 | Inner::H2)
    }
}

/// A plaintext event copied out of the engine's callback (dispatched once
/// the engine call returns, when the facts it learnt, ALPN among them, are
/// readable).
enum Plain {
    Data(Dir, At, std::ops::Range<usize>),
    Gap(Dir, At, u64),
    End(Dir, At),
}

/// The TLS side of a connection.
pub struct TlsConn {
    engine: TlsSession,
    inner: Inner,
    /// Plaintext of the current engine call (reused; bounded by what one
    /// stream event decrypts to).
    buf: Vec<u8>,
    events: Vec<Plain>,
    /// The TCP stream of each direction ended with a RST (its plaintext
    /// end is then a reset for the HTTP session too).
    reset: [bool; 2],
    /// Plaintext bytes that went to no analysis (none since HTTP/2 is
    /// analysed; kept for the report).
    unanalysed: [u64; 2],
}

impl TlsConn {
    /// A TLS connection decrypted with `keys`, if any.
    pub fn new(keys: Option<Arc<KeyLog>>) -> TlsConn {
        TlsConn {
            engine: TlsSession::new(keys),
            inner: Inner::Undecided,
            buf: Vec::new(),
            events: Vec::new(),
            reset: [false; 2],
            unanalysed: [0; 2],
        }
    }

    /// The TLS engine (its facts and anomalies).
    pub fn engine(&self) -> &TlsSession {
        &self.engine
    }

    /// Where the plaintext went.
    pub fn inner(&self) -> Inner {
        self.inner
    }

    /// Plaintext bytes per direction that were not analysed.
    pub fn unanalysed(&self) -> [u64; 2] {
        self.unanalysed
    }

    /// One TCP stream event; plaintext goes to `http`, or to `h2` (created
    /// here) when ALPN chose HTTP/2 (see [`Inner`]).
    pub fn on_event(
        &mut self,
        dir: Dir,
        ev: StreamEvent<'_>,
        at: At,
        http: &mut HttpSession,
        h2: &mut Option<Box<H2Conn>>,
    ) {
        if matches!(ev, StreamEvent::Reset)
            && let Some(r) = self.reset.get_mut(dir.index())
        {
            *r = true;
        }
        let (buf, events) = (&mut self.buf, &mut self.events);
        self.engine
            .on_event(dir, ev, at, &mut |d, p, a| collect(buf, events, d, p, a));
        self.dispatch(http, h2);
    }

    /// The connection is over.
    pub fn finish(&mut self, at: At, http: &mut HttpSession, h2: &mut Option<Box<H2Conn>>) {
        let (buf, events) = (&mut self.buf, &mut self.events);
        self.engine
            .finish(at, &mut |d, p, a| collect(buf, events, d, p, a));
        self.dispatch(http, h2);
    }

    fn dispatch(&mut self, http: &mut HttpSession, h2: &mut Option<Box<H2Conn>>) {
        if self.events.is_empty() {
            return;
        }
        if self.inner == Inner::Undecided
            && self
                .events
                .iter()
                .any(|e| matches!(e, Plain::Data(..) | Plain::Gap(..)))
        {
            self.inner = match self.engine.facts().alpn.as_deref() {
                Some("h2") => Inner::H2,
                _ => Inner::Http1,
            };
            if self.inner == Inner::H2 && h2.is_none() {
                *h2 = Some(Box::new(H2Conn::new(H2Start::Alpn, 0, None)));
            }
        }
        for e in self.events.drain(..) {
            match (self.inner, e) {
                (Inner::Http1, Plain::Data(d, at, r)) => {
                    if let Some(b) = self.buf.get(r) {
                        http.on_event(d, StreamEvent::Data(b), at);
                    }
                }
                (Inner::Http1, Plain::Gap(d, at, n)) => http.on_event(d, StreamEvent::Gap(n), at),
                (Inner::Http1, Plain::End(d, at)) => {
                    let ev = if self.reset.get(d.index()).copied().unwrap_or(false) {
                        StreamEvent::Reset
                    } else {
                        StreamEvent::Fin
                    };
                    http.on_event(d, ev, at);
                }
                (Inner::H2, e) => match (h2.as_deref_mut(), e) {
                    (Some(h), Plain::Data(d, at, r)) => {
                        if let Some(b) = self.buf.get(r) {
                            h.on_event(d, StreamEvent::Data(b), at);
                        }
                    }
                    (Some(h), Plain::Gap(d, at, n)) => h.on_event(d, StreamEvent::Gap(n), at),
                    (Some(h), Plain::End(d, at)) => {
                        let ev = if self.reset.get(d.index()).copied().unwrap_or(false) {
                            StreamEvent::Reset
                        } else {
                            StreamEvent::Fin
                        };
                        h.on_event(d, ev, at);
                    }
                    // Created when Inner became H2.
                    (None, _) => {}
                },
                // Only ends before any plaintext: nothing to tell.
                (Inner::Undecided, _) => {}
            }
        }
        self.buf.clear();
        // A large flush (out-of-order data released at once) must not keep
        // its memory for the life of the connection.
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
        if self.events.capacity() > 1024 {
            self.events = Vec::new();
        }
    }
}

/// Plaintext buffer capacity kept between engine calls.
const KEEP_CAPACITY: usize = 64 * 1024;

fn collect(buf: &mut Vec<u8>, events: &mut Vec<Plain>, d: Dir, p: PlainEvent<'_>, a: At) {
    match p {
        PlainEvent::Data(b) => {
            let start = buf.len();
            buf.extend_from_slice(b);
            events.push(Plain::Data(d, a, start..buf.len()));
        }
        PlainEvent::Gap(n) => events.push(Plain::Gap(d, a, n)),
        PlainEvent::End => events.push(Plain::End(d, a)),
    }
}
