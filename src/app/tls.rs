//! A TLS connection: the TLS engine ([`crate::tls::TlsSession`]) reads the
//! records; the plaintext it decrypts (with a key log) goes to the inner
//! application session, chosen once from ALPN ([`Inner`]).
//!
//! The inner dispatch is the one place an HTTP/2 session plugs in: today
//! ALPN `h2` plaintext is counted and not analysed (said in the report),
//! everything else goes to the HTTP/1 session the connection already has,
//! so exchanges, settling, verdicts and anomalies are those of a plaintext
//! connection.

use std::sync::Arc;

use crate::http::HttpSession;
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
    /// ALPN `h2`: HTTP/2, not analysed yet (the bytes are counted).
    H2Pending,
}

impl Inner {
    /// The name the report gives the plaintext's protocol.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Inner::Undecided => None,
            Inner::Http1 => Some("http/1.1"),
            Inner::H2Pending => Some("h2"),
        }
    }

    /// The plaintext is analysed (requests, exchanges, verdicts).
    pub fn analysed(self) -> bool {
        self == Inner::Http1
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
    /// Plaintext bytes that went to no analysis (ALPN h2).
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

    /// One TCP stream event; plaintext goes to `http` (see [`Inner`]).
    pub fn on_event(&mut self, dir: Dir, ev: StreamEvent<'_>, at: At, http: &mut HttpSession) {
        if matches!(ev, StreamEvent::Reset)
            && let Some(r) = self.reset.get_mut(dir.index())
        {
            *r = true;
        }
        let (buf, events) = (&mut self.buf, &mut self.events);
        self.engine
            .on_event(dir, ev, at, &mut |d, p, a| collect(buf, events, d, p, a));
        self.dispatch(http);
    }

    /// The connection is over.
    pub fn finish(&mut self, at: At, http: &mut HttpSession) {
        let (buf, events) = (&mut self.buf, &mut self.events);
        self.engine
            .finish(at, &mut |d, p, a| collect(buf, events, d, p, a));
        self.dispatch(http);
    }

    fn dispatch(&mut self, http: &mut HttpSession) {
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
                Some("h2") => Inner::H2Pending,
                _ => Inner::Http1,
            };
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
                // The HTTP/2 session plugs in here.
                (Inner::H2Pending, Plain::Data(d, _, r)) => {
                    if let Some(u) = self.unanalysed.get_mut(d.index()) {
                        *u += r.len() as u64;
                    }
                }
                (Inner::H2Pending, Plain::Gap(..) | Plain::End(..)) => {}
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
