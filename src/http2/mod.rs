//! HTTP/2 (RFC 9113) over a reassembled TCP connection: frames, HPACK,
//! streams, SETTINGS, GOAWAY, RST_STREAM, server push. A self-contained
//! engine: it is handed the two byte streams of one connection as
//! [`StreamEvent`](crate::tcp::StreamEvent)s and hands back finished streams and connection facts.
//! It knows nothing of the report; the integration (sniffing, the h2c
//! hand-off from the HTTP/1 session, ALPN on decrypted TLS, streams as
//! `exchanges`, verdicts) sits outside.
//!
//! ```text
//! StreamEvent::{Data, Gap, Fin, Reset} per direction
//!   -> frame reader (frame.rs: 9-byte header, length checked once;
//!      DATA payloads skipped by length, header blocks buffered, bounded)
//!   -> header blocks -> HPACK, one decoder per direction (hpack.rs)
//!   -> streams (session.rs) -> take_finished() -> H2Stream
//!                           -> facts()         -> H2Facts (serde)
//!                           -> anomalies()     -> [Anomaly]
//! ```
//!
//! # Using it
//!
//! ```no_run
//! use httpreuse::http2::{H2Session, H2Start};
//! use httpreuse::tcp::StreamEvent;
//! use httpreuse::types::{At, Dir};
//! let mut s = H2Session::new(H2Start::PriorKnowledge);
//! # let (bytes, at) = (&b""[..], At::default());
//! s.on_event(Dir::ToServer, StreamEvent::Data(bytes), at);
//! for stream in s.take_finished() { /* one exchange per stream */ }
//! s.finish(at); // every stream still open is handed out, unfinished
//! let rest = s.take_finished();
//! let facts = s.facts();
//! ```
//!
//! - [`H2Start::PriorKnowledge`] and [`H2Start::Alpn`]: the client stream
//!   begins with the 24-byte preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
//! - [`H2Start::Upgrade`]: the HTTP/1 session saw `Upgrade: h2c` answered by
//!   101 and hands over the bytes after the 101 head (server direction) and
//!   after the upgrading request (client direction, which then starts with
//!   the preface). The upgrading request is stream 1, half-closed on the
//!   client side; its `HTTP2-Settings` header, if passed, counts as the
//!   client's first SETTINGS.
//! - Events come in stream order per direction ([`Dir::ToServer`](crate::types::Dir::ToServer) is
//!   client to server), interleaved as the capture has them; `at` is the
//!   frame that released the bytes, and what a frame does is dated by the
//!   event that completed it.
//! - Finished streams are handed out as they complete
//!   ([`H2Session::take_finished`]), so memory follows the streams open at
//!   once, not the connection; the caller drains them (the session keeps
//!   what is not taken). A stream reset by one side is handed out when the
//!   other side ends its side or resets too (or at the end), so that what
//!   the other side had in flight (the response to a cancelled request) is
//!   still recorded; at most 64 reset streams wait like this.
//! - Every header block is decoded whatever the state of its stream, so the
//!   HPACK tables stay in step with the peers'.
//!
//! # Bounds
//!
//! Header blocks are buffered up to [`MAX_HEADER_BLOCK`] (HEADERS or
//! PUSH_PROMISE plus CONTINUATION); past it the block is skipped and the
//! direction's HPACK state is lost. DATA is never copied. Kept values are cut
//! at [`hpack::MAX_VALUE_LEN`] bytes; at most [`MAX_OPEN_STREAMS`] streams
//! are tracked at once (the oldest is handed out unfinished past it);
//! [`MAX_GOAWAYS`] GOAWAYs and `MAX_ANOMALIES_PER_CONNECTION` anomalies are
//! kept in detail. Frame lengths are checked against the receiver's
//! SETTINGS_MAX_FRAME_SIZE, and bounded at 16 MiB whatever was advertised.
//!
//! # After a capture gap
//!
//! A gap inside a DATA payload costs nothing but those bytes (the frame
//! reader stays aligned). A gap that covers a frame header or part of a
//! header block makes that direction's HPACK state unknown for the rest of
//! the connection: later header blocks are not decoded (streams are still
//! counted by id and frame type, marked `headers_unknown`), and the reader
//! looks for two consecutive plausible frame headers to realign
//! (`h2_resync`). Nothing is guessed.
//!
//! # Anomaly kinds
//!
//! | kind | meaning |
//! |---|---|
//! | `h2_bad_preface` | the client did not start with the 24-byte preface (the direction is not read further), or a side's first frame was not SETTINGS |
//! | `h2_frame_too_large` | a frame longer than the receiver's SETTINGS_MAX_FRAME_SIZE (FRAME_SIZE_ERROR); skipped by its length |
//! | `h2_frame_error` | a frame malformed for its type (length, padding, stream id, zero WINDOW_UPDATE, DATA on an idle stream, PUSH_PROMISE from a client...) |
//! | `h2_continuation_expected` | a header block interrupted by another frame (PROTOCOL_ERROR); the block is lost |
//! | `h2_continuation_flood` | a header block past [`MAX_HEADER_BLOCK`] bytes or [`MAX_CONTINUATION_FRAMES`] frames; the block is skipped |
//! | `h2_hpack_error` | a header block the HPACK decoder rejected (COMPRESSION_ERROR) |
//! | `h2_hpack_state_lost` | a header block could not be decoded because the direction's HPACK state was lost earlier (gap, skipped block, error); streams are still counted, headers unknown |
//! | `h2_header_list_too_large` | a decoded header list over [`hpack::MAX_HEADER_LIST_SIZE`] |
//! | `h2_resync` | after a gap the frame reader realigned on two plausible frame headers, skipping bytes |
//! | `h2_settings_storm` | more than [`SETTINGS_STORM`] SETTINGS frames from one side |
//! | `h2_ping_flood` | more than [`PING_FLOOD`] PINGs from one side |
//! | `h2_rapid_reset` | the client reset [`RAPID_RESET`] streams before any response (CVE-2023-44487 pattern) |
//! | `h2_refused_stream` | RST_STREAM REFUSED_STREAM: the stream was not processed, safe to retry |
//! | `h2_stream_after_goaway` | a stream opened by the peer of a GOAWAY sender above its last_stream_id (before or after the GOAWAY in capture order, the detail says which): not processed, must be retried |
//! | `h2_protocol_error_goaway` | a GOAWAY with an error code other than NO_ERROR (a connection error) |
//! | `h2_too_many_open_streams` | more than [`MAX_OPEN_STREAMS`] streams open at once; the oldest was handed out unfinished |
//! | `h2_truncated_frame` | a direction ended (FIN, RST, end of capture) inside a frame or a header block |

pub mod frame;
pub mod hpack;
pub mod session;

#[cfg(test)]
mod session_tests;

pub use session::{
    H2Facts, H2Goaway, H2Half, H2Reset, H2RstFrame, H2Session, H2Stream, H2Unprocessed, Stamp,
};

use crate::types::At;

/// The client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Largest header block (HEADERS/PUSH_PROMISE + CONTINUATION) buffered.
pub const MAX_HEADER_BLOCK: usize = 256 * 1024;
/// Most CONTINUATION frames accepted in one header block.
pub const MAX_CONTINUATION_FRAMES: u32 = 1024;
/// Most streams tracked open at once.
pub const MAX_OPEN_STREAMS: usize = 512;
/// Most GOAWAYs kept in detail per connection.
pub const MAX_GOAWAYS: usize = 16;
/// Longest GOAWAY debug data kept (bytes, before lossy UTF-8).
pub const MAX_GOAWAY_DEBUG: usize = 256;
/// SETTINGS frames from one side past which `h2_settings_storm` is noted.
pub const SETTINGS_STORM: u64 = 100;
/// PINGs from one side past which `h2_ping_flood` is noted.
pub const PING_FLOOD: u64 = 1000;
/// Client resets before a response at which `h2_rapid_reset` is noted.
pub const RAPID_RESET: u64 = 100;

/// The upgrading HTTP/1 request of an `Upgrade: h2c` connection: it becomes
/// stream 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2RequestInfo {
    /// Request method.
    pub method: String,
    /// Request target as sent (becomes stream 1's `path`).
    pub target: String,
    /// The `Host` header (becomes `authority`).
    pub authority: Option<String>,
    /// The `HTTP2-Settings` header value (base64url SETTINGS payload).
    pub http2_settings: Option<String>,
    /// Body bytes of the upgrading request.
    pub body_bytes: u64,
    /// When the request was complete.
    pub at: At,
}

/// How the connection became HTTP/2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum H2Start {
    /// h2c with prior knowledge: the client sends the preface at once.
    PriorKnowledge,
    /// `Upgrade: h2c` answered by 101.
    Upgrade {
        /// The upgrading request (stream 1); None when the capture began
        /// after it and only the 101 was seen.
        request: Option<H2RequestInfo>,
    },
    /// ALPN `h2` on (decrypted) TLS.
    Alpn,
    /// A connection whose start the capture did not see (no SYN): its
    /// bytes were recognised as HTTP/2 frames, read from the first frame
    /// boundary they synchronise on; no preface or SETTINGS expected, the
    /// HPACK tables built before unknown.
    MidStream,
}

/// [`H2Start`] without its payload, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum H2StartKind {
    /// `"prior_knowledge"`
    PriorKnowledge,
    /// `"upgrade"`
    Upgrade,
    /// `"alpn"`
    Alpn,
    /// `"mid_stream"`
    MidStream,
}

impl H2Start {
    /// The kind of start.
    pub fn kind(&self) -> H2StartKind {
        match self {
            H2Start::PriorKnowledge => H2StartKind::PriorKnowledge,
            H2Start::Upgrade { .. } => H2StartKind::Upgrade,
            H2Start::Alpn => H2StartKind::Alpn,
            H2Start::MidStream => H2StartKind::MidStream,
        }
    }
}

/// Whether `first` (a connection's first client bytes) starts like the
/// HTTP/2 preface: `Some(true)` if it is the preface (or a prefix of it
/// that is all there is), `Some(false)` if it cannot be, `None` if empty.
pub fn looks_like_preface(first: &[u8]) -> Option<bool> {
    if first.is_empty() {
        return None;
    }
    let n = first.len().min(PREFACE.len());
    Some(first.get(..n) == PREFACE.get(..n))
}
