//! The application layer of one connection: decide what it speaks from its
//! first bytes ([`sniff`]), then hand its stream events to that protocol's
//! session.
//!
//! Until the protocol is known, events are held (bounded by
//! [`MAX_HELD_BYTES`]) and replayed, with their own frames and times, into
//! the session once it is. TLS connections go to the TLS engine
//! ([`tls::TlsConn`]), whose decrypted plaintext (with a key log) goes to
//! the HTTP/1 session, or to an [`h2::H2Conn`] when ALPN chose `h2`.
//! HTTP/2 with prior knowledge (the client's preface) goes to an
//! [`h2::H2Conn`]; so does the rest of a connection whose `Upgrade: h2c`
//! request the server answered with 101 (the HTTP/1 session hands over
//! there, see [`crate::http::session::H2cHandoff`]). Everything else is
//! analysed by the HTTP/1 session.

pub mod h2;
pub mod sniff;
pub mod tls;

use std::sync::Arc;

use crate::http::HttpSession;
use crate::http2::H2Start;
use crate::tcp::StreamEvent;
use crate::tls::KeyLog;
use crate::types::{At, Dir};
use h2::H2Conn;
use sniff::{Guess, Protocol};

/// Most bytes held while the protocol is undecided (a TLS-looking first
/// flight waiting for the server's first bytes). Past it the client's bytes
/// decide alone.
pub const MAX_HELD_BYTES: usize = 64 * 1024;

/// Bytes of each direction's start kept for sniffing.
const PROBE_LEN: usize = 32;

/// A stream event held until the protocol is known.
enum Held {
    Data(Dir, At, Vec<u8>),
    Gap(Dir, At, u64),
    Fin(Dir, At),
    Reset(Dir, At),
}

/// The first bytes of one direction.
#[derive(Default)]
struct Probe {
    buf: [u8; PROBE_LEN],
    len: usize,
    /// The direction ended or lost bytes: no more will come for sniffing.
    over: bool,
}

impl Probe {
    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    fn push(&mut self, data: &[u8]) {
        if self.over {
            return;
        }
        let room = PROBE_LEN - self.len;
        let n = room.min(data.len());
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), data.get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
    }
}

/// One connection's application-layer state.
pub struct AppSession {
    protocol: Option<Protocol>,
    probes: [Probe; 2],
    held: Vec<Held>,
    held_bytes: usize,
    http: HttpSession,
    /// The run's key log, for a TLS session once the protocol is known.
    keys: Option<Arc<KeyLog>>,
    tls: Option<Box<tls::TlsConn>>,
    /// The connection's HTTP/2, once it speaks it.
    h2: Option<Box<H2Conn>>,
    /// Its start was not seen (no SYN): its bytes may be HTTP/2 frames
    /// from anywhere in the connection ([`sniff::h2_frames_at`]).
    mid: bool,
    /// Mid-connection: the held bytes were recognised as HTTP/2 frames.
    mid_h2: bool,
}

impl Default for AppSession {
    fn default() -> Self {
        Self::new()
    }
}

impl AppSession {
    /// A connection before any of its bytes.
    pub fn new() -> Self {
        Self::with_keys(None)
    }

    /// A connection before any of its bytes, whose TLS (if it turns out to
    /// speak it) is decrypted with `keys`.
    pub fn with_keys(keys: Option<Arc<KeyLog>>) -> Self {
        AppSession {
            protocol: None,
            probes: [Probe::default(), Probe::default()],
            held: Vec::new(),
            held_bytes: 0,
            http: HttpSession::new(),
            keys,
            tls: None,
            h2: None,
            mid: false,
            mid_h2: false,
        }
    }

    /// The capture did not see the connection's start (no SYN): before it
    /// is taken for HTTP/1 for want of anything recognisable, its bytes are
    /// searched for a run of HTTP/2 frames. Call before any event.
    pub fn set_mid_stream(&mut self) {
        self.mid = true;
    }

    /// The TLS side, for a TLS connection.
    pub fn tls(&self) -> Option<&tls::TlsConn> {
        self.tls.as_deref()
    }

    /// The connection's HTTP/2 analysis, if it speaks HTTP/2.
    pub fn h2(&self) -> Option<&H2Conn> {
        self.h2.as_deref()
    }

    /// The same, to change.
    pub fn h2_mut(&mut self) -> Option<&mut H2Conn> {
        self.h2.as_deref_mut()
    }

    /// The HTTP/1 session and the HTTP/2 analysis at once.
    pub fn parts_mut(&mut self) -> (&mut HttpSession, Option<&mut H2Conn>) {
        (&mut self.http, self.h2.as_deref_mut())
    }

    /// The HTTP/1 session, the HTTP/2 analysis and the TLS side at once.
    pub fn parts_all(&mut self) -> (&mut HttpSession, Option<&mut H2Conn>, Option<&tls::TlsConn>) {
        (&mut self.http, self.h2.as_deref_mut(), self.tls.as_deref())
    }

    /// What the connection speaks, once decided.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    /// The HTTP/1 session (every connection has one; see the module docs).
    pub fn http(&self) -> &HttpSession {
        &self.http
    }

    /// Bytes held: events waiting for the protocol to be decided, and what
    /// the protocol's session buffers.
    pub fn buffered(&self) -> usize {
        self.held_bytes + self.http.buffered() + self.h2.as_ref().map_or(0, |h| h.buffered())
    }

    /// Frees the allocations that are empty: called once the connection
    /// has closed (see [`HttpSession::trim`]).
    pub fn trim(&mut self) {
        if self.held.is_empty() && self.held.capacity() > 0 {
            self.held = Vec::new();
        }
        self.http.trim();
    }

    /// The HTTP/1 session, to change.
    pub fn http_mut(&mut self) -> &mut HttpSession {
        &mut self.http
    }

    /// Hands out the exchanges that have settled (see
    /// [`HttpSession::settle`]).
    pub fn settle(
        &mut self,
        out: &mut impl FnMut(u64, &mut crate::http::Exchange, &crate::http::Exchange),
    ) {
        self.http.settle(out);
    }

    /// One stream event from the TCP layer; `at` is the frame that released it.
    pub fn on_event(&mut self, dir: Dir, ev: StreamEvent<'_>, at: At) {
        if self.protocol.is_some() {
            self.route(dir, ev, at);
            return;
        }
        let i = dir.index();
        match ev {
            StreamEvent::Data(b) => {
                if let Some(p) = self.probes.get_mut(i) {
                    p.push(b);
                }
            }
            StreamEvent::Gap(0) => return,
            StreamEvent::Gap(_) | StreamEvent::Fin | StreamEvent::Reset => {
                if let Some(p) = self.probes.get_mut(i) {
                    p.over = true;
                }
            }
        }
        let ended = matches!(ev, StreamEvent::Fin | StreamEvent::Reset);
        let full = self.held_bytes >= MAX_HELD_BYTES;
        match self.decide(ended || full) {
            Some(p) => {
                self.set_protocol(p);
                self.route(dir, ev, at);
            }
            None => self.hold(dir, ev, at),
        }
    }

    /// No more events will come: decide with what was seen, then end the
    /// session.
    pub fn finish(&mut self, at: At) {
        if self.protocol.is_none() {
            let p = self.decide(true).unwrap_or(Protocol::Http1);
            self.set_protocol(p);
        }
        if let Some(t) = &mut self.tls {
            t.finish(at, &mut self.http, &mut self.h2);
        }
        self.http.finish(at);
        if let Some(h) = self.h2.as_mut() {
            h.finish(at);
        }
    }

    /// The protocol, if the bytes so far decide it; with `now`, a guess is
    /// forced from what there is.
    fn decide(&mut self, now: bool) -> Option<Protocol> {
        let base = self.decide_first_bytes(now);
        if !self.mid {
            return base;
        }
        // Mid-connection: the first bytes say HTTP/1, TLS or the preface
        // outright, or HTTP/2 frames are searched for in what is held.
        let [c, s] = &self.probes;
        let known = |g: Guess| matches!(g, Guess::Is(p) if p != Protocol::Unknown);
        if (!c.bytes().is_empty() && known(sniff::client_first(c.bytes())))
            || (!s.bytes().is_empty() && known(sniff::server_first(s.bytes())))
        {
            return base;
        }
        if self.held_h2(sniff::h2_frames_at_some) || (now && self.held_h2(sniff::h2_whole_frames)) {
            self.mid_h2 = true;
            return Some(Protocol::Http2);
        }
        let over = self.probes.iter().all(|p| p.over);
        if now || over || self.held_bytes >= MAX_HELD_BYTES {
            return base.or(Some(Protocol::Http1));
        }
        None
    }

    /// Whether either direction's held bytes (from its first to its first
    /// gap) pass `test`: a run of HTTP/2 frames, or (when deciding at the
    /// end) nothing but whole frames.
    fn held_h2(&self, test: fn(&[u8]) -> bool) -> bool {
        [Dir::ToServer, Dir::ToClient].into_iter().any(|want| {
            let mut bytes = Vec::new();
            for h in &self.held {
                match h {
                    Held::Data(d, _, b) if *d == want => bytes.extend_from_slice(b),
                    Held::Gap(d, _, n) if *d == want && *n > 0 => break,
                    _ => {}
                }
            }
            test(&bytes)
        })
    }

    fn decide_first_bytes(&self, now: bool) -> Option<Protocol> {
        let [c, s] = &self.probes;
        let client = c.bytes();
        let server = s.bytes();
        if !client.is_empty() {
            return match sniff::client_first(client) {
                Guess::Is(Protocol::Tls) => match sniff::server_first(server) {
                    // A ClientHello sent to a plaintext HTTP port: the
                    // server answers in HTTP/1.
                    Guess::Is(Protocol::Http1) => Some(Protocol::Http1),
                    Guess::Is(_) => Some(Protocol::Tls),
                    Guess::NeedMore if now || s.over => Some(Protocol::Tls),
                    Guess::NeedMore => None,
                },
                Guess::Is(p) => Some(p),
                Guess::NeedMore if now || c.over => Some(Protocol::Http1),
                Guess::NeedMore => None,
            };
        }
        if !server.is_empty() {
            if sniff::h2_server_settings(server) && !now && !c.over {
                // An HTTP/2 server's SETTINGS before the client's preface.
                return None;
            }
            return match sniff::server_first(server) {
                Guess::Is(Protocol::Unknown) => Some(Protocol::Http1),
                Guess::Is(p) => Some(p),
                Guess::NeedMore if now || s.over => Some(Protocol::Http1),
                Guess::NeedMore => None,
            };
        }
        now.then_some(Protocol::Http1)
    }

    fn hold(&mut self, dir: Dir, ev: StreamEvent<'_>, at: At) {
        self.held.push(match ev {
            StreamEvent::Data(b) => {
                self.held_bytes = self.held_bytes.saturating_add(b.len());
                Held::Data(dir, at, b.to_vec())
            }
            StreamEvent::Gap(n) => Held::Gap(dir, at, n),
            StreamEvent::Fin => Held::Fin(dir, at),
            StreamEvent::Reset => Held::Reset(dir, at),
        });
    }

    /// Decides the protocol and replays what was held.
    fn set_protocol(&mut self, p: Protocol) {
        self.protocol = Some(p);
        if p == Protocol::Tls {
            self.tls = Some(Box::new(tls::TlsConn::new(self.keys.take())));
        }
        if p == Protocol::Http2 {
            let start = if self.mid_h2 {
                H2Start::MidStream
            } else {
                H2Start::PriorKnowledge
            };
            self.h2 = Some(Box::new(H2Conn::new(start, 0, None)));
        }
        for h in std::mem::take(&mut self.held) {
            match h {
                Held::Data(d, at, b) => self.route(d, StreamEvent::Data(&b), at),
                Held::Gap(d, at, n) => self.route(d, StreamEvent::Gap(n), at),
                Held::Fin(d, at) => self.route(d, StreamEvent::Fin, at),
                Held::Reset(d, at) => self.route(d, StreamEvent::Reset, at),
            }
        }
        self.held_bytes = 0;
    }

    fn route(&mut self, dir: Dir, ev: StreamEvent<'_>, at: At) {
        if let Some(t) = &mut self.tls {
            t.on_event(dir, ev, at, &mut self.http, &mut self.h2);
            return;
        }
        if let Some(h) = self.h2.as_mut() {
            h.on_event(dir, ev, at);
            return;
        }
        // Everything else goes to the HTTP/1 session (module docs).
        self.http.on_event(dir, ev, at);
        if let Some(h) = self.http.take_h2c() {
            let h = *h;
            let mut conn = H2Conn::new(
                H2Start::Upgrade { request: h.request },
                h.prior,
                Some(h.switched.0),
            );
            if !h.server_rest.is_empty() {
                conn.on_event(Dir::ToClient, StreamEvent::Data(&h.server_rest), at);
            }
            self.h2 = Some(Box::new(conn));
        }
    }
}
