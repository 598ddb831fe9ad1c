//! HTTP/1.x over a reassembled TCP connection: heads (httparse), body framing
//! (RFC 9112 section 6), request/response pairing with pipelining, 1xx,
//! upgrades, and resynchronisation after gaps.

pub mod chunked;
pub mod framing;
pub mod head;
pub mod keepalive;
pub mod parser;
pub mod session;
pub mod start_line;

#[cfg(test)]
mod proptests;

pub use session::HttpSession;

use crate::types::At;

/// HTTP/1.minor as sent on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// The digit after `HTTP/1.`.
    pub minor: u8,
}

impl Version {
    /// HTTP/1.0.
    pub const HTTP10: Version = Version { minor: 0 };
    /// HTTP/1.1.
    pub const HTTP11: Version = Version { minor: 1 };

    /// `HTTP/1.0`, `HTTP/1.1`, or `HTTP/1.x` for other minors.
    pub fn as_str(self) -> &'static str {
        match self.minor {
            0 => "HTTP/1.0",
            1 => "HTTP/1.1",
            _ => "HTTP/1.x",
        }
    }
}

/// How a message body's end was (or would be) found, RFC 9112 section 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body: request without length, response to HEAD, 1xx, 204, 304.
    NoBody,
    /// A body of exactly this many bytes.
    ContentLength(u64),
    /// `Transfer-Encoding: chunked` (chunked as the final coding).
    Chunked,
    /// A response that ends when the server closes the connection.
    CloseDelimited,
    /// 101 Switching Protocols or 2xx to CONNECT: the rest of the stream is
    /// not HTTP.
    Tunnel,
    /// The head was not seen whole (a gap), so the body cannot be framed.
    Unknown,
}

crate::named_enum! {
    /// The kind of a [`Framing`], without its length: what reports write.
    pub enum FramingKind {
        /// [`Framing::NoBody`].
        NoBody = "none",
        /// [`Framing::ContentLength`].
        ContentLength = "content_length",
        /// [`Framing::Chunked`].
        Chunked = "chunked",
        /// [`Framing::CloseDelimited`].
        CloseDelimited = "close_delimited",
        /// [`Framing::Tunnel`].
        Tunnel = "tunnel",
        /// [`Framing::Unknown`].
        Unknown = "unknown",
        /// HTTP/2: DATA frames until END_STREAM (no HTTP/1 framing).
        EndStream = "end_stream",
    }
}

impl Framing {
    /// The kind of this framing.
    pub fn kind(self) -> FramingKind {
        match self {
            Framing::NoBody => FramingKind::NoBody,
            Framing::ContentLength(_) => FramingKind::ContentLength,
            Framing::Chunked => FramingKind::Chunked,
            Framing::CloseDelimited => FramingKind::CloseDelimited,
            Framing::Tunnel => FramingKind::Tunnel,
            Framing::Unknown => FramingKind::Unknown,
        }
    }
}

/// `Keep-Alive: timeout=N, max=N` parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeepAliveParams {
    /// `timeout=N`: seconds the sender keeps an idle connection.
    pub timeout: Option<u64>,
    /// `max=N`: requests the sender still allows on the connection.
    pub max: Option<u64>,
}

/// Facts taken from one message head, the same for requests and responses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadInfo {
    /// `Connection` header tokens, lower-cased, in order, all such headers
    /// (in requests, `Proxy-Connection` tokens too). One is held inline:
    /// nearly every head has at most one, and a heap vector for it was an
    /// allocation and a free per message.
    pub connection: smallvec::SmallVec<[crate::types::Text; 1]>,
    /// Present only if a `Keep-Alive` header was sent.
    pub keep_alive: Option<KeepAliveParams>,
    /// A valid `Content-Length` (None if absent, invalid or conflicting).
    pub content_length: Option<u64>,
    /// `Transfer-Encoding` value(s) as sent, lower-cased, joined with ", ".
    pub transfer_encoding: Option<crate::types::Text>,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// `Upgrade` header value(s) as sent, joined with ", ".
    pub upgrade: Option<String>,
    /// Bytes of the head, request/status line to the blank line inclusive.
    pub head_bytes: u64,
    /// In a request whose `Upgrade` lists `h2c`: what HTTP/2 needs of it if
    /// the server switches (None otherwise, so other heads keep nothing).
    pub h2c: Option<Box<H2cFields>>,
}

/// The headers of an `Upgrade: h2c` request that HTTP/2 takes over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct H2cFields {
    /// `Host` (becomes stream 1's authority).
    pub host: Option<String>,
    /// `HTTP2-Settings` (the client's first SETTINGS, base64url).
    pub http2_settings: Option<String>,
}

/// Whether an `Upgrade` header value lists the token `h2c`.
pub fn lists_h2c(upgrade: &str) -> bool {
    upgrade
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case("h2c"))
}

impl HeadInfo {
    /// Whether the `Connection` header listed this (lower-case) token.
    pub fn has_token(&self, token: &str) -> bool {
        self.connection.iter().any(|t| t == token)
    }
}

/// Progress of one message on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageTiming {
    /// First byte of the head.
    pub start: At,
    /// Last byte of the head.
    pub head_end: At,
    /// Last byte of the body; `None` while (or if never) complete.
    pub end: Option<At>,
}

/// A request head and how its body went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method as sent (`GET`, `POST`, ...).
    pub method: crate::types::Text,
    /// Request target as sent.
    pub target: crate::types::Text,
    /// Version of the request line.
    pub version: Version,
    /// Header facts (default for a head cut short).
    pub head: HeadInfo,
    /// How the body was framed (`Unknown` for a head cut short).
    pub framing: Framing,
    /// Body bytes seen on the wire (chunked: including chunk framing).
    /// Bytes lost to a capture gap inside a Content-Length or
    /// close-delimited body are included here and in `gap_bytes`.
    pub body_bytes: u64,
    /// Body bytes that were never captured (a gap inside a Content-Length or
    /// close-delimited body: the message stays framed). 0 normally.
    pub gap_bytes: u64,
    /// The whole message was framed to its end (head and body per its
    /// framing). A gap inside a Content-Length body does not clear it: see
    /// `gap_bytes`.
    pub complete: bool,
    /// When the message was seen.
    pub timing: MessageTiming,
}

/// A response head and how its body went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase as sent (lossy UTF-8).
    pub reason: crate::types::Text,
    /// Version of the status line.
    pub version: Version,
    /// Header facts (default for a head cut short).
    pub head: HeadInfo,
    /// How the body was framed (`Unknown` for a head cut short).
    pub framing: Framing,
    /// As [`Request::body_bytes`].
    pub body_bytes: u64,
    /// As [`Request::gap_bytes`].
    pub gap_bytes: u64,
    /// As [`Request::complete`].
    pub complete: bool,
    /// When the message was seen.
    pub timing: MessageTiming,
}

/// An interim 1xx response (100 Continue, 103 Early Hints...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interim {
    /// Status code (1xx, not 101).
    pub status: u16,
    /// The event completing its head.
    pub at: At,
}

/// A request and the final response that answered it. Either may be absent:
/// a request never answered, or a response whose request was not captured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    /// The request, if captured (its request line recognised).
    pub request: Option<Request>,
    /// The final (non-1xx, or 101) response, if any.
    pub response: Option<Response>,
    /// Interim 1xx responses before the final one, in order.
    pub interim: Vec<Interim>,
    /// No response was seen, and the response stream lost bytes after the
    /// request: the answer was most likely in them.
    pub response_lost: bool,
}

/// Per-session counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Runs of bytes that were not HTTP where a message was expected, per
    /// direction (index: Dir::index()), and their byte counts.
    pub non_http_runs: [u64; 2],
    /// Bytes of those runs, per direction.
    pub non_http_bytes: [u64; 2],
    /// Times parsing picked up again after a gap or garbage.
    pub resyncs: [u64; 2],
    /// Most requests outstanding (sent, not yet answered) at once.
    pub max_outstanding: u32,
    /// The stream switched to a tunnel (101 or CONNECT 2xx).
    pub upgraded: bool,
    /// Bytes through the tunnel per direction (index: Dir::index()).
    pub tunnel_bytes: [u64; 2],
    /// Anomalies not kept because the per-connection cap
    /// ([`crate::types::MAX_ANOMALIES_PER_CONNECTION`]) was reached.
    pub anomalies_dropped: u64,
}

/// Which role sent these first bytes of a stream, if they look like HTTP:
/// a request line says client, a status line says server. Used by the TCP
/// layer to assign roles when the handshake was not captured.
pub fn role_hint(first_bytes: &[u8]) -> Option<crate::types::Role> {
    start_line::role_hint(first_bytes)
}
