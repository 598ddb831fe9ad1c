//! Body length rules of RFC 9112 section 6.3, decided by one ordered match.

use crate::anomaly::AnomalyKind;
use crate::http::Framing;

/// What the `Content-Length` header(s) of a head said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentLength {
    /// No `Content-Length` header.
    #[default]
    Absent,
    /// One value, or repeated identical values (`5`, `5, 5`, two headers `5`).
    Valid(u64),
    /// Values that differ (`5, 6`).
    Conflicting,
    /// A value that is not a decimal number (or overflows u64).
    Invalid,
}

impl ContentLength {
    /// Folds one more `Content-Length` header value (itself possibly a
    /// comma-separated list) into what was seen so far.
    pub fn add_value(self, value: &[u8]) -> ContentLength {
        let mut acc = self;
        for part in value.split(|&b| b == b',') {
            let part = part.trim_ascii();
            let parsed = parse_decimal(part);
            acc = match (acc, parsed) {
                (ContentLength::Invalid, _) | (_, None) => ContentLength::Invalid,
                (ContentLength::Conflicting, Some(_)) => ContentLength::Conflicting,
                (ContentLength::Absent, Some(n)) => ContentLength::Valid(n),
                (ContentLength::Valid(m), Some(n)) if m == n => ContentLength::Valid(m),
                (ContentLength::Valid(_), Some(_)) => ContentLength::Conflicting,
            };
        }
        acc
    }

    /// The length, if the header was present and valid.
    pub fn value(self) -> Option<u64> {
        match self {
            ContentLength::Valid(n) => Some(n),
            _ => None,
        }
    }
}

/// Parses a non-empty run of ASCII digits into a u64 (None on overflow).
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Is `chunked` the final coding of this (lower-cased, comma-joined)
/// `Transfer-Encoding` value?
pub fn chunked_is_final(te: &str) -> bool {
    te.rsplit(',')
        .map(str::trim)
        .find(|t| !t.is_empty())
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
}

/// Which message a framing decision is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A request.
    Request,
    /// A response with this status, answering a request of this kind.
    Response {
        /// Status code.
        status: u16,
        /// The method of the request it answers, as far as it matters.
        request: RequestKind,
    },
}

/// What the answered request's method means for a response's body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestKind {
    /// `HEAD`: the response has no body.
    Head,
    /// `CONNECT`: a 2xx response starts a tunnel.
    Connect,
    /// Any other method, or no request known.
    #[default]
    Other,
}

impl RequestKind {
    /// The kind of a request method.
    pub fn of_method(method: &str) -> RequestKind {
        if method.eq_ignore_ascii_case("HEAD") {
            RequestKind::Head
        } else if method.eq_ignore_ascii_case("CONNECT") {
            RequestKind::Connect
        } else {
            RequestKind::Other
        }
    }
}

/// The framing of one message and the anomalies (stable kinds) its length
/// headers showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// How the body ends. `Unknown` means the body cannot be framed.
    pub framing: Framing,
    /// Anomaly kinds, in the order found; empty almost always.
    pub anomalies: Vec<AnomalyKind>,
}

/// RFC 9112 section 6.3, in order:
/// 1. response to HEAD: no body;
/// 2. 101 Switching Protocols: tunnel;
/// 3. other 1xx, 204, 304: no body;
/// 4. 2xx to CONNECT: tunnel;
/// 5. Transfer-Encoding with chunked final: chunked; other codings: a
///    response is close-delimited, a request is unframeable (`Unknown`,
///    anomaly `bad_transfer_encoding`). With Content-Length too: anomaly
///    `content_length_with_chunked`, Transfer-Encoding wins;
/// 6. valid Content-Length: that length; conflicting or invalid: `Unknown`
///    with anomaly `conflicting_content_length` / `bad_content_length`;
/// 7. request: no body; response: close-delimited.
pub fn decide(kind: MessageKind, te: Option<&str>, cl: ContentLength) -> Decision {
    let mut anomalies = Vec::new();
    let framing = match (kind, te, cl) {
        (
            MessageKind::Response {
                request: RequestKind::Head,
                ..
            },
            _,
            _,
        ) => Framing::NoBody,
        (MessageKind::Response { status: 101, .. }, _, _) => Framing::Tunnel,
        (MessageKind::Response { status, .. }, _, _)
            if (100..200).contains(&status) || status == 204 || status == 304 =>
        {
            Framing::NoBody
        }
        (
            MessageKind::Response {
                status,
                request: RequestKind::Connect,
            },
            _,
            _,
        ) if (200..300).contains(&status) => Framing::Tunnel,
        (kind, Some(te), cl) => {
            if cl != ContentLength::Absent {
                anomalies.push(AnomalyKind::ContentLengthWithChunked);
            }
            if chunked_is_final(te) {
                Framing::Chunked
            } else if kind == MessageKind::Request {
                anomalies.push(AnomalyKind::BadTransferEncoding);
                Framing::Unknown
            } else {
                Framing::CloseDelimited
            }
        }
        (_, None, ContentLength::Valid(n)) => Framing::ContentLength(n),
        (_, None, ContentLength::Conflicting) => {
            anomalies.push(AnomalyKind::ConflictingContentLength);
            Framing::Unknown
        }
        (_, None, ContentLength::Invalid) => {
            anomalies.push(AnomalyKind::BadContentLength);
            Framing::Unknown
        }
        (MessageKind::Request, None, ContentLength::Absent) => Framing::NoBody,
        (MessageKind::Response { .. }, None, ContentLength::Absent) => Framing::CloseDelimited,
    };
    Decision { framing, anomalies }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, request: RequestKind) -> MessageKind {
        MessageKind::Response { status, request }
    }

    fn f(kind: MessageKind, te: Option<&str>, cl: ContentLength) -> Framing {
        decide(kind, te, cl).framing
    }

    #[test]
    fn head_response_has_no_body() {
        let d = decide(
            resp(200, RequestKind::Head),
            None,
            ContentLength::Valid(100),
        );
        assert_eq!(d.framing, Framing::NoBody);
        assert!(d.anomalies.is_empty());
        assert_eq!(
            f(
                resp(200, RequestKind::Head),
                Some("chunked"),
                ContentLength::Absent
            ),
            Framing::NoBody
        );
    }

    #[test]
    fn informational_has_no_body() {
        for s in [100, 102, 103, 199] {
            assert_eq!(
                f(resp(s, RequestKind::Other), None, ContentLength::Valid(5)),
                Framing::NoBody
            );
        }
    }

    #[test]
    fn no_content_and_not_modified_have_no_body() {
        assert_eq!(
            f(
                resp(204, RequestKind::Other),
                Some("chunked"),
                ContentLength::Absent
            ),
            Framing::NoBody
        );
        assert_eq!(
            f(
                resp(304, RequestKind::Other),
                None,
                ContentLength::Valid(10)
            ),
            Framing::NoBody
        );
    }

    #[test]
    fn connect_2xx_is_tunnel() {
        assert_eq!(
            f(resp(200, RequestKind::Connect), None, ContentLength::Absent),
            Framing::Tunnel
        );
        assert_eq!(
            f(
                resp(407, RequestKind::Connect),
                None,
                ContentLength::Valid(3)
            ),
            Framing::ContentLength(3)
        );
    }

    #[test]
    fn switching_protocols_is_tunnel() {
        assert_eq!(
            f(resp(101, RequestKind::Other), None, ContentLength::Absent),
            Framing::Tunnel
        );
    }

    #[test]
    fn chunked_final_is_chunked() {
        assert_eq!(
            f(MessageKind::Request, Some("chunked"), ContentLength::Absent),
            Framing::Chunked
        );
        assert_eq!(
            f(
                resp(200, RequestKind::Other),
                Some("gzip, chunked"),
                ContentLength::Absent
            ),
            Framing::Chunked
        );
        assert_eq!(
            f(
                resp(200, RequestKind::Other),
                Some("Chunked "),
                ContentLength::Absent
            ),
            Framing::Chunked
        );
    }

    #[test]
    fn non_chunked_te_response_is_close_delimited_request_is_unknown() {
        assert_eq!(
            f(
                resp(200, RequestKind::Other),
                Some("chunked, gzip"),
                ContentLength::Absent
            ),
            Framing::CloseDelimited
        );
        let d = decide(MessageKind::Request, Some("gzip"), ContentLength::Absent);
        assert_eq!(d.framing, Framing::Unknown);
        assert_eq!(d.anomalies, vec![AnomalyKind::BadTransferEncoding]);
    }

    #[test]
    fn content_length() {
        assert_eq!(
            f(MessageKind::Request, None, ContentLength::Valid(7)),
            Framing::ContentLength(7)
        );
        assert_eq!(
            f(resp(200, RequestKind::Other), None, ContentLength::Valid(0)),
            Framing::ContentLength(0)
        );
    }

    #[test]
    fn content_length_with_chunked_te_wins() {
        let d = decide(
            MessageKind::Request,
            Some("chunked"),
            ContentLength::Valid(7),
        );
        assert_eq!(d.framing, Framing::Chunked);
        assert_eq!(d.anomalies, vec![AnomalyKind::ContentLengthWithChunked]);
    }

    #[test]
    fn conflicting_content_length() {
        let cl = ContentLength::Absent.add_value(b"5").add_value(b"6");
        assert_eq!(cl, ContentLength::Conflicting);
        let d = decide(resp(200, RequestKind::Other), None, cl);
        assert_eq!(d.framing, Framing::Unknown);
        assert_eq!(d.anomalies, vec![AnomalyKind::ConflictingContentLength]);
    }

    #[test]
    fn content_length_values() {
        assert_eq!(
            ContentLength::Absent.add_value(b" 5 "),
            ContentLength::Valid(5)
        );
        assert_eq!(
            ContentLength::Absent.add_value(b"5, 5"),
            ContentLength::Valid(5)
        );
        assert_eq!(
            ContentLength::Absent.add_value(b"5").add_value(b"5"),
            ContentLength::Valid(5)
        );
        assert_eq!(
            ContentLength::Absent.add_value(b"5,6"),
            ContentLength::Conflicting
        );
        assert_eq!(
            ContentLength::Absent.add_value(b"-1"),
            ContentLength::Invalid
        );
        assert_eq!(ContentLength::Absent.add_value(b""), ContentLength::Invalid);
        assert_eq!(
            ContentLength::Absent.add_value(b"99999999999999999999999"),
            ContentLength::Invalid
        );
        let d = decide(MessageKind::Request, None, ContentLength::Invalid);
        assert_eq!(d.anomalies, vec![AnomalyKind::BadContentLength]);
    }

    #[test]
    fn close_delimited_response() {
        assert_eq!(
            f(resp(200, RequestKind::Other), None, ContentLength::Absent),
            Framing::CloseDelimited
        );
    }

    #[test]
    fn request_without_length_has_no_body() {
        assert_eq!(
            f(MessageKind::Request, None, ContentLength::Absent),
            Framing::NoBody
        );
    }
}
