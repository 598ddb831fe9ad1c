//! Which application protocol a connection speaks, from its first bytes
//! (never from the port): an HTTP/1 request or status line, the HTTP/2
//! connection preface, a TLS record, or something else.
//!
//! The client's first bytes decide, except where they look like TLS and the
//! server answers with an HTTP/1 status line (a ClientHello sent to a
//! plaintext port, which the server answers with `400`): then the server's
//! first bytes decide. Where only the server spoke (a capture that began
//! mid-connection), its bytes decide.

use crate::http::start_line::{Verdict, classify_request, classify_status};

/// The HTTP/2 client connection preface (RFC 9113 section 3.4).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x (also the fallback for bytes that are nothing known: the
    /// HTTP/1 parser counts them as `non_http` and looks for HTTP after).
    Http1,
    /// HTTP/2 with prior knowledge: the client sent the preface.
    Http2,
    /// TLS records.
    Tls,
    /// Not recognisable (yet): bytes that are none of the above.
    Unknown,
}

/// A guess from a prefix of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guess {
    /// The prefix says this.
    Is(Protocol),
    /// Too short to tell.
    NeedMore,
}

/// A TLS record header: content type 20-23 (change_cipher_spec, alert,
/// handshake, application_data), major version 3, minor 0-4, and a length
/// no larger than a record may be (2^14 + 2048).
fn tls_record(b: &[u8]) -> Guess {
    let ok = [
        b.first().map(|&t| (20..=23).contains(&t)),
        b.get(1).map(|&v| v == 3),
        b.get(2).map(|&v| v <= 4),
        b.get(3..5)
            .map(|l| u16::from_be_bytes([l[0], l[1]]) <= (1 << 14) + 2048),
    ];
    for c in ok {
        match c {
            None => return Guess::NeedMore,
            Some(false) => return Guess::Is(Protocol::Unknown),
            Some(true) => {}
        }
    }
    Guess::Is(Protocol::Tls)
}

/// What the first bytes a client sent say.
pub fn client_first(b: &[u8]) -> Guess {
    if b.is_empty() {
        return Guess::NeedMore;
    }
    let n = b.len().min(H2_PREFACE.len());
    if b.get(..n) == H2_PREFACE.get(..n) {
        return if n == H2_PREFACE.len() {
            Guess::Is(Protocol::Http2)
        } else {
            Guess::NeedMore
        };
    }
    match classify_request(b) {
        Verdict::Yes => return Guess::Is(Protocol::Http1),
        Verdict::NeedMore => return Guess::NeedMore,
        Verdict::No => {}
    }
    tls_record(b)
}

/// What the first bytes a server sent say.
pub fn server_first(b: &[u8]) -> Guess {
    if b.is_empty() {
        return Guess::NeedMore;
    }
    match classify_status(b) {
        Verdict::Yes => return Guess::Is(Protocol::Http1),
        Verdict::NeedMore => return Guess::NeedMore,
        Verdict::No => {}
    }
    tls_record(b)
}

/// Whether a server's first bytes are an HTTP/2 SETTINGS frame on stream 0
/// (a server that speaks HTTP/2 by prior knowledge may send its SETTINGS
/// before the client's preface arrives; the client's bytes decide then).
pub fn h2_server_settings(b: &[u8]) -> bool {
    match b.get(..9) {
        Some(&[l0, l1, l2, 0x04, flags, s0, s1, s2, s3]) => {
            let len = u32::from_be_bytes([0, l0, l1, l2]);
            flags & !0x01 == 0
                && [s0, s1, s2, s3] == [0; 4]
                && len.is_multiple_of(6)
                && len <= 16384
        }
        _ => false,
    }
}

/// Consecutive plausible HTTP/2 frame headers needed to take bytes from
/// the middle of a connection for HTTP/2.
pub const H2_MID_FRAMES: usize = 3;

/// Where in `b` (bytes from the middle of a connection, either direction)
/// a run of [`H2_MID_FRAMES`] plausible HTTP/2 frame headers starts, each
/// right after the previous frame: known types, flags and lengths for the
/// type, the reserved bit clear, stream ids consistent with the type.
pub fn h2_frames_at(b: &[u8]) -> Option<usize> {
    crate::http2::session::find_alignment(
        b,
        crate::http2::frame::DEFAULT_MAX_FRAME_SIZE,
        H2_MID_FRAMES,
    )
}

/// Whether [`h2_frames_at`] finds a run in `b`.
pub fn h2_frames_at_some(b: &[u8]) -> bool {
    h2_frames_at(b).is_some()
}

/// Whether `b` (bytes from the middle of a connection) is whole plausible
/// HTTP/2 frames from its first byte to its last: when the connection (or
/// the input) ends before [`H2_MID_FRAMES`] frames came in a row.
pub fn h2_whole_frames(b: &[u8]) -> bool {
    crate::http2::session::whole_frames(b, crate::http2::frame::DEFAULT_MAX_FRAME_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_prefixes() {
        assert_eq!(
            client_first(b"GET / HTTP/1.1\r\n"),
            Guess::Is(Protocol::Http1)
        );
        assert_eq!(client_first(b"GE"), Guess::NeedMore);
        assert_eq!(client_first(b"PRI * HTTP/2"), Guess::NeedMore);
        assert_eq!(client_first(H2_PREFACE), Guess::Is(Protocol::Http2));
        // `PRI * HTTP/1.1` is not the HTTP/2 preface: an odd HTTP/1 request.
        assert_eq!(
            client_first(b"PRI * HTTP/1.1\r\n\r\n"),
            Guess::Is(Protocol::Http1)
        );
        assert_eq!(
            client_first(b"\x16\x03\x01\x02\x00\x01"),
            Guess::Is(Protocol::Tls)
        );
        assert_eq!(client_first(b"\x16\x03"), Guess::NeedMore);
        assert_eq!(
            client_first(b"\x17\x03\x03\x00\x20"),
            Guess::Is(Protocol::Tls)
        );
        assert_eq!(
            client_first(b"\x16\x03\x09\x00\x20"),
            Guess::Is(Protocol::Unknown)
        );
        assert_eq!(
            client_first(b"\x16\x03\x03\xff\xff"),
            Guess::Is(Protocol::Unknown)
        );
        assert_eq!(
            client_first(b"SSH-2.0-OpenSSH"),
            Guess::Is(Protocol::Unknown)
        );
    }

    #[test]
    fn server_prefixes() {
        assert_eq!(server_first(b"HTTP/1.1 200 OK"), Guess::Is(Protocol::Http1));
        assert_eq!(server_first(b"HTTP"), Guess::NeedMore);
        assert_eq!(
            server_first(b"\x16\x03\x03\x00\x7a"),
            Guess::Is(Protocol::Tls)
        );
        assert_eq!(
            server_first(b"\x00\x00\x12\x04\x00"),
            Guess::Is(Protocol::Unknown)
        );
        assert!(h2_server_settings(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00"));
        assert!(!h2_server_settings(b"\x00\x00\x12\x04\x00\x00\x00\x00\x01"));
        assert!(!h2_server_settings(b"\x00\x00\x12\x04"));
        assert!(!h2_server_settings(b"HTTP/1.1 200 OK\r\n"));
    }
}
