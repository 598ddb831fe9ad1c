//! Message heads: finding a head's end in the stream, httparse glue, and
//! the header facts the analysis needs (Connection and Proxy-Connection
//! tokens, Keep-Alive, lengths, Transfer-Encoding, Expect, Upgrade).

use std::mem::MaybeUninit;

use memchr::memchr_iter;

use crate::http::framing::ContentLength;
use crate::http::start_line::StartLine;
use crate::http::{HeadInfo, KeepAliveParams, Version};
use crate::types::Text;

/// Most bytes one head may take; past this it is the anomaly
/// `head_too_large` and the direction resynchronises.
pub const HEAD_CAP: usize = 64 * 1024;

/// Headers parsed without allocating; a head with more is retried once with
/// [`MAX_HEADERS`].
pub(crate) const INLINE_HEADERS: usize = 100;
/// Most headers accepted in one head.
const MAX_HEADERS: usize = 4096;

/// 2 bytes matter); returns how many bytes of `input` complete the head.
pub fn find_head_end(tail: &[u8], input: &[u8]) -> Option<usize> {
    let tail = tail.get(tail.len().saturating_sub(2)..).unwrap_or_default();
    let mut best: Option<usize> = None;
    if !tail.is_empty() {
        let mut w = [0u8; 4];
        let nt = tail.len();
        let ni = input.len().min(2);
        let (wa, wb) = w.split_at_mut(nt);
        wa.copy_from_slice(tail);
        if let (Some(dst), Some(src)) = (wb.get_mut(..ni), input.get(..ni)) {
            dst.copy_from_slice(src);
        }
        let window = w.get(..nt + ni).unwrap_or_default();
        if let Some(end) = find_blank_line(window, nt) {
            best = Some(end - nt);
        }
    }
    if let Some(end) = find_blank_line(input, 0) {
        best = Some(best.map_or(end, |b| b.min(end)));
    }
    best
}

/// The end (exclusive) of the first blank line whose first `\n` is at or
/// after... any position, ending after `min_end`.
pub(crate) fn find_blank_line(hay: &[u8], min_end: usize) -> Option<usize> {
    if min_end == 0 {
        return first_blank_line(hay);
    }
    blank_line_scan(hay, min_end)
}

/// [`find_blank_line`] with no lower bound, by two SIMD substring searches
/// instead of a `memchr` per line (a head's lines are short, and starting a
/// search per line cost more than the search): the first `\n\r\n`, and a
/// `\n\n` only before it. The same answer as [`blank_line_scan`] (the
/// first `\n` followed by `\n` or `\r\n`); a test compares them on every
/// string of up to 9 bytes over `a`, `\r`, `\n`.
fn first_blank_line(hay: &[u8]) -> Option<usize> {
    static CRLF: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\n\r\n"));
    static LFLF: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\n\n"));
    let crlf = CRLF.find(hay);
    // A `\n\n` starting before the `\n\r\n` lies within hay[..p + 1].
    let before = crlf.map_or(hay, |p| hay.get(..p + 1).unwrap_or(hay));
    match (LFLF.find(before), crlf) {
        (Some(q), _) => Some(q + 2),
        (None, Some(p)) => Some(p + 3),
        (None, None) => None,
    }
}

/// [`find_blank_line`] line by line.
fn blank_line_scan(hay: &[u8], min_end: usize) -> Option<usize> {
    for i in memchr_iter(b'\n', hay) {
        let end = match (hay.get(i + 1), hay.get(i + 2)) {
            (Some(b'\n'), _) => i + 2,
            (Some(b'\r'), Some(b'\n')) => i + 3,
            _ => continue,
        };
        if end > min_end {
            return Some(end);
        }
    }
    None
}

/// First line of a message, as parsed.
/// What a head's headers say, before framing.
pub(crate) struct Fields {
    pub(crate) info: HeadInfo,
    pub(crate) cl: ContentLength,
}

pub(crate) type HeadParse = Result<(StartLine, Version, Fields), String>;

pub(crate) fn config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_requests(true)
        .ignore_invalid_headers_in_responses(true);
    c
}

pub(crate) fn parse_request(head: &[u8]) -> HeadParse {
    // Uninitialised: an initialised array would be {INLINE_HEADERS} x 32
    // bytes written for every head before parsing it.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; INLINE_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match config().parse_request_with_uninit_headers(&mut req, head, &mut headers) {
        Ok(httparse::Status::Complete(_)) => request_parts(&req),
        Ok(httparse::Status::Partial) => Err("incomplete head".into()),
        Err(httparse::Error::TooManyHeaders) => {
            let mut big = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut big);
            match config().parse_request(&mut req, head) {
                Ok(httparse::Status::Complete(_)) => request_parts(&req),
                Ok(httparse::Status::Partial) => Err("incomplete head".into()),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn request_parts(req: &httparse::Request<'_, '_>) -> HeadParse {
    let line = StartLine::Request {
        method: Text::from(req.method.unwrap_or_default()),
        target: Text::from(req.path.unwrap_or_default()),
    };
    let version = Version {
        minor: req.version.unwrap_or(1),
    };
    Ok((line, version, head_fields(req.headers, true)))
}

pub(crate) fn parse_response(head: &[u8]) -> HeadParse {
    // Uninitialised: an initialised array would be {INLINE_HEADERS} x 32
    // bytes written for every head before parsing it.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; INLINE_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    match config().parse_response_with_uninit_headers(&mut resp, head, &mut headers) {
        Ok(httparse::Status::Complete(_)) => response_parts(&resp),
        Ok(httparse::Status::Partial) => Err("incomplete head".into()),
        Err(httparse::Error::TooManyHeaders) => {
            let mut big = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut big);
            match config().parse_response(&mut resp, head) {
                Ok(httparse::Status::Complete(_)) => response_parts(&resp),
                Ok(httparse::Status::Partial) => Err("incomplete head".into()),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn response_parts(resp: &httparse::Response<'_, '_>) -> HeadParse {
    let line = StartLine::Response {
        status: resp.code.unwrap_or_default(),
        reason: Text::from(resp.reason.unwrap_or_default()),
    };
    let version = Version {
        minor: resp.version.unwrap_or(1),
    };
    Ok((line, version, head_fields(resp.headers, false)))
}

/// The tokens of a `Connection` (or `Proxy-Connection`) field, lower-cased.
fn connection_tokens(info: &mut HeadInfo, value: &[u8]) {
    for t in value.split(|&b| b == b',') {
        let t = t.trim_ascii();
        if t.is_empty() {
            continue;
        }
        // The two tokens nearly every head carries, without an allocation
        // or a lossy conversion.
        let t = if name_is(t, b"keep-alive") {
            Text::const_new("keep-alive")
        } else if name_is(t, b"close") {
            Text::const_new("close")
        } else {
            let mut t = Text::from_utf8_lossy(t);
            t.make_ascii_lowercase();
            t
        };
        info.connection.push(t);
    }
}

/// Whether `bytes` is `lower` (ASCII, no upper-case letter) in any case:
/// exactly `eq_ignore_ascii_case`, for any bytes, with one compare a byte
/// instead of two case conversions (a letter of `lower` matches either case
/// by setting bit 0x20, which only an ASCII letter's other case maps onto
/// it; any other byte of `lower` must be there as it is).
fn name_is(bytes: &[u8], lower: &[u8]) -> bool {
    bytes.len() == lower.len()
        && bytes.iter().zip(lower).all(|(&a, &b)| {
            if b.is_ascii_lowercase() {
                a | 0x20 == b
            } else {
                a == b
            }
        })
}

/// The facts of a head's header fields. In a request, `Proxy-Connection`
/// tokens count as `Connection` tokens: HTTP/1.0 clients talking to a proxy
/// send `Proxy-Connection: keep-alive`, and proxies (Squid among them)
/// honour it.
pub(crate) fn head_fields(headers: &[httparse::Header<'_>], request: bool) -> Fields {
    let mut info = HeadInfo::default();
    let mut cl = ContentLength::Absent;
    let mut host: Option<&[u8]> = None;
    let mut settings: Option<&[u8]> = None;
    for h in headers {
        // Dispatched on the name's length first: a head's other fields
        // (Date, Server, Content-Type, User-Agent...) then cost one compare,
        // not nine.
        let name = h.name.as_bytes();
        let is = |want: &str| name_is(name, want.as_bytes());
        match name.len() {
            10 if is("connection") => connection_tokens(&mut info, h.value),
            16 if request && is("proxy-connection") => connection_tokens(&mut info, h.value),
            10 if is("keep-alive") => {
                let ka = info.keep_alive.get_or_insert_with(KeepAliveParams::default);
                crate::http::keepalive::parse_keep_alive(h.value, ka);
            }
            14 if is("content-length") => cl = cl.add_value(h.value),
            17 if is("transfer-encoding") => {
                let mut v = Text::from_utf8_lossy(h.value.trim_ascii());
                v.make_ascii_lowercase();
                match &mut info.transfer_encoding {
                    Some(te) => {
                        te.push_str(", ");
                        te.push_str(&v);
                    }
                    None => info.transfer_encoding = Some(v),
                }
            }
            6 if is("expect") && h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue") => {
                info.expect_continue = true;
            }
            7 if is("upgrade") => {
                let v = String::from_utf8_lossy(h.value.trim_ascii());
                match &mut info.upgrade {
                    Some(u) => {
                        u.push_str(", ");
                        u.push_str(&v);
                    }
                    None => info.upgrade = Some(v.into_owned()),
                }
            }
            4 if request && is("host") => host = host.or(Some(h.value)),
            14 if request && is("http2-settings") => settings = settings.or(Some(h.value)),
            _ => {}
        }
    }
    if request && info.upgrade.as_deref().is_some_and(crate::http::lists_h2c) {
        let text = |v: &[u8]| String::from_utf8_lossy(v.trim_ascii()).into_owned();
        info.h2c = Some(Box::new(crate::http::H2cFields {
            host: host.map(text),
            http2_settings: settings.map(text),
        }));
    }
    info.content_length = cl.value();
    Fields { info, cl }
}

/// Parses the first line of a cut head by hand: a request line with a
#[cfg(test)]
mod tests {
    use super::*;

    /// The two-search fast path gives what the line-by-line scan gives, on
    /// every string of up to 9 bytes over `a`, `\r`, `\n`.
    #[test]
    fn first_blank_line_is_the_scan() {
        let alphabet = [b'a', b'\r', b'\n'];
        for len in 0..=9u32 {
            for mut k in 0..3usize.pow(len) {
                let mut hay = Vec::new();
                for _ in 0..len {
                    hay.push(alphabet[k % 3]);
                    k /= 3;
                }
                assert_eq!(
                    first_blank_line(&hay),
                    blank_line_scan(&hay, 0),
                    "{:?}",
                    String::from_utf8_lossy(&hay)
                );
            }
        }
    }

    /// `name_is` is `eq_ignore_ascii_case` for every byte against every
    /// byte a lower-case literal may hold.
    #[test]
    fn name_is_is_eq_ignore_ascii_case() {
        for b in 0..=255u8 {
            for l in (0..=127u8).filter(|l| !l.is_ascii_uppercase()) {
                assert_eq!(
                    name_is(&[b], &[l]),
                    b.eq_ignore_ascii_case(&l),
                    "{b:#x} {l:#x}"
                );
            }
        }
        assert!(name_is(b"Content-Length", b"content-length"));
        assert!(name_is(b"KEEP-ALIVE", b"keep-alive"));
        assert!(!name_is(b"keep\ralive", b"keep-alive"));
        assert!(!name_is(b"Content-Lengths", b"content-length"));
    }

    #[test]
    fn head_end_across_boundary() {
        assert_eq!(find_head_end(b"", b"GET / HTTP/1.1\r\n\r\nxx"), Some(18));
        assert_eq!(find_head_end(b"a\r\n\r", b"\nxx"), Some(1));
        assert_eq!(find_head_end(b"a\r\n", b"\r\nxx"), Some(2));
        assert_eq!(find_head_end(b"a\r", b"\n\r\nxx"), Some(3));
        assert_eq!(find_head_end(b"a\n", b"\nxx"), Some(1));
        assert_eq!(find_head_end(b"a", b"\n\nxx"), Some(2));
        assert_eq!(find_head_end(b"a\r\n", b"b\r\n"), None);
    }
}
