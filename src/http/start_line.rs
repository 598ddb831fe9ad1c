//! Request and status lines: recognising the start of an HTTP/1.x message
//! in a byte stream (also the TCP layer's role hint), and reading the first
//! line of heads httparse will not parse (cut short, or malformed request
//! lines that servers still answer).

use crate::http::Version;
use crate::http::head::{Fields, INLINE_HEADERS, head_fields};
use crate::types::{Dir, Role, Text};

/// Longest method accepted as "token-shaped".
const MAX_METHOD: usize = 24;

const KNOWN_METHODS: &[&[u8]] = &[
    b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE", b"PRI",
];

/// Does a byte prefix look like the start of an HTTP message?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It does.
    Yes,
    /// Too short to tell, but consistent so far.
    NeedMore,
    /// It does not.
    No,
}

pub(crate) fn is_method_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b == b'-' || b == b'_'
}

/// Classifies bytes as the start of a request line: a known method, or an
/// upper-case token followed by ` /` or ` http`.
pub fn classify_request(bytes: &[u8]) -> Verdict {
    let Some(sp) = bytes
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
    else {
        return if bytes.len() <= MAX_METHOD && bytes.iter().all(|&b| is_method_byte(b)) {
            Verdict::NeedMore
        } else {
            Verdict::No
        };
    };
    let (method, rest) = bytes.split_at(sp);
    if method.is_empty() || method.len() > MAX_METHOD || !method.iter().all(|&b| is_method_byte(b))
    {
        return Verdict::No;
    }
    if rest.first() != Some(&b' ') {
        // A known method alone on its line (`OPTIONS`): malformed, but a
        // request all the same (servers answer it with 400).
        return if KNOWN_METHODS.contains(&method) {
            Verdict::Yes
        } else {
            Verdict::No
        };
    }
    let target = rest.get(1..).unwrap_or_default();
    let Some(&first) = target.first() else {
        return Verdict::NeedMore;
    };
    if KNOWN_METHODS.contains(&method) {
        return if first.is_ascii_graphic() {
            Verdict::Yes
        } else {
            Verdict::No
        };
    }
    if first == b'/' {
        return Verdict::Yes;
    }
    let n = target.len().min(4);
    match (target.get(..n), b"http".get(..n)) {
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => {
            if n == 4 {
                Verdict::Yes
            } else {
                Verdict::NeedMore
            }
        }
        _ => Verdict::No,
    }
}

/// Classifies bytes as the start of a status line (`HTTP/1.`).
pub fn classify_status(bytes: &[u8]) -> Verdict {
    const P: &[u8] = b"HTTP/1.";
    let n = bytes.len().min(P.len());
    if bytes.get(..n) != P.get(..n) {
        Verdict::No
    } else if n < P.len() {
        Verdict::NeedMore
    } else {
        Verdict::Yes
    }
}

pub(crate) fn classify(dir: Dir, bytes: &[u8]) -> Verdict {
    match dir {
        Dir::ToServer => classify_request(bytes),
        Dir::ToClient => classify_status(bytes),
    }
}

/// [`classify`] over the concatenation of `a` and `b` (only a short prefix
/// is needed).
pub(crate) fn classify_joined(dir: Dir, a: &[u8], b: &[u8]) -> Verdict {
    let mut tmp = [0u8; 64];
    let na = a.len().min(tmp.len());
    let nb = b.len().min(tmp.len() - na);
    let (ta, tb) = tmp.split_at_mut(na);
    ta.copy_from_slice(a.get(..na).unwrap_or_default());
    if let (Some(dst), Some(src)) = (tb.get_mut(..nb), b.get(..nb)) {
        dst.copy_from_slice(src);
    }
    classify(dir, tmp.get(..na + nb).unwrap_or_default())
}

/// Longest first line [`classify_strict`] waits for.
const MAX_STRICT_LINE: usize = 16 * 1024;

fn is_token_byte(b: u8) -> bool {
    // RFC 9110 5.6.2 tchar.
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Classifies bytes as the start of a *well-formed* message head, for a
/// direction that has not synchronised on a message yet (it started
/// mid-stream, or lost track after a gap or non-HTTP bytes): a request line
/// `METHOD SP target SP HTTP/1.d CRLF` (a known method or an upper-case
/// token, a target of visible characters), or a status line
/// `HTTP/1.d SP ddd` followed by SP or CRLF. `NeedMore` while the bytes are
/// a consistent prefix of one; body bytes that merely begin like a request
/// (`A /...`) are `No` once their line ends otherwise.
pub(crate) fn classify_strict(dir: Dir, bytes: &[u8]) -> Verdict {
    match dir {
        Dir::ToServer => strict_request(bytes),
        Dir::ToClient => strict_status(bytes),
    }
}

fn strict_request(bytes: &[u8]) -> Verdict {
    match classify_request(bytes) {
        Verdict::No => return Verdict::No,
        Verdict::NeedMore => return Verdict::NeedMore,
        Verdict::Yes => {}
    }
    let Some(nl) = memchr::memchr(b'\n', bytes) else {
        // The line goes on: only visible characters and at most two spaces
        // so far.
        let spaces = bytes.iter().filter(|&&b| b == b' ').count();
        let ok = bytes.len() <= MAX_STRICT_LINE
            && spaces <= 2
            && bytes.iter().enumerate().all(|(i, &b)| {
                b == b' ' || b.is_ascii_graphic() || (b == b'\r' && i + 1 == bytes.len())
            });
        return if ok { Verdict::NeedMore } else { Verdict::No };
    };
    let Some(line) = bytes.get(..nl).and_then(|l| l.strip_suffix(b"\r")) else {
        return Verdict::No;
    };
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Verdict::No;
    };
    let method_ok = !method.is_empty() && method.iter().all(|&b| is_token_byte(b));
    let target_ok = !target.is_empty() && target.iter().all(u8::is_ascii_graphic);
    let version_ok = version.len() == 8
        && version.starts_with(b"HTTP/1.")
        && version.last().is_some_and(u8::is_ascii_digit);
    if method_ok && target_ok && version_ok {
        Verdict::Yes
    } else {
        Verdict::No
    }
}

fn strict_status(bytes: &[u8]) -> Verdict {
    // `HTTP/1.d ddd` then SP, CR or LF.
    const SHAPE: &[u8] = b"HTTP/1.d ddd";
    for (i, &want) in SHAPE.iter().enumerate() {
        let Some(&b) = bytes.get(i) else {
            return Verdict::NeedMore;
        };
        let ok = match want {
            b'd' => b.is_ascii_digit(),
            w => b == w,
        };
        if !ok {
            return Verdict::No;
        }
    }
    match bytes.get(SHAPE.len()) {
        None => Verdict::NeedMore,
        Some(b' ' | b'\r' | b'\n') => Verdict::Yes,
        Some(_) => Verdict::No,
    }
}

/// [`classify_strict`] over the concatenation of `a` (buffered, at most a
/// line) and `b`.
pub(crate) fn classify_strict_joined(dir: Dir, a: &[u8], b: &[u8]) -> Verdict {
    if a.is_empty() {
        return classify_strict(dir, b);
    }
    let end = memchr::memchr(b'\n', b).map_or(b.len(), |i| i + 1);
    let end = end.min(MAX_STRICT_LINE + 1);
    let mut tmp = Vec::with_capacity(a.len() + end);
    tmp.extend_from_slice(a);
    tmp.extend_from_slice(b.get(..end).unwrap_or(b));
    classify_strict(dir, &tmp)
}

/// Which role sent these first bytes, if they look like HTTP/1.x.
pub fn role_hint(first_bytes: &[u8]) -> Option<Role> {
    if first_bytes.len() >= 7 && classify_status(first_bytes) == Verdict::Yes {
        return Some(Role::Server);
    }
    if classify_request(first_bytes) != Verdict::Yes {
        return None;
    }
    match memchr::memchr(b'\n', first_bytes) {
        // Cut before the end of the line: the method and target will do.
        None => Some(Role::Client),
        Some(nl) => {
            let line = first_bytes.get(..nl).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let sp = line.iter().rposition(|&b| b == b' ')?;
            let version = line.get(sp + 1..)?;
            (version.len() == 8 && version.starts_with(b"HTTP/1.")).then_some(Role::Client)
        }
    }
}

/// Finds the end of a head: the first empty line (`\r\n\r\n`, or leniently
/// `\n\n` / `\n\r\n`). `tail` is the end of what is already buffered (up to

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// A request line.
    Request {
        /// Method as sent.
        method: Text,
        /// Request target as sent.
        target: Text,
    },
    /// A status line.
    Response {
        /// Status code.
        status: u16,
        /// Reason phrase (lossy UTF-8).
        reason: Text,
    },
}

/// The first line of a head, for messages (at most 80 characters).
pub(crate) fn first_line_text(head: &[u8]) -> String {
    let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = head.get(..end).unwrap_or_default().trim_ascii_end();
    String::from_utf8_lossy(line.get(..line.len().min(80)).unwrap_or_default()).into_owned()
}

/// Reads a request head whose request line httparse rejected, as tshark and
/// Zeek do: the line must start with an upper-case method token followed by
/// a space or the end of the line (`OPTIONS HTTP/1.1`, `GET / HTTP/1.`,
/// `OPTIONS`); `GET/ HTTP/1.1` is not a request line. The target is the
/// next word that is not a version; the version `HTTP/1.N` if one is there
/// (else 1.1, the default of the servers that answer these).
pub(crate) fn lenient_request(head: &[u8]) -> Option<(StartLine, Version, Fields)> {
    let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = head.get(..end)?.trim_ascii_end();
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let method = words.next()?;
    if method.len() > MAX_METHOD || !method.iter().all(|&b| is_method_byte(b)) {
        return None;
    }
    let mut target: &[u8] = b"";
    let mut minor = 1;
    for w in words {
        if let Some(v) = w.strip_prefix(b"HTTP/1.") {
            minor = v
                .first()
                .filter(|d| d.is_ascii_digit())
                .map_or(1, |d| d - b'0');
        } else if target.is_empty() {
            target = w;
        }
    }
    let rest = head.get(end + 1..).unwrap_or_default();
    let mut headers = [httparse::EMPTY_HEADER; INLINE_HEADERS];
    let fields = match httparse::parse_headers(rest, &mut headers) {
        Ok(httparse::Status::Complete((_, h))) => head_fields(h, true),
        _ => head_fields(&[], true),
    };
    Some((
        StartLine::Request {
            method: Text::from_utf8_lossy(method),
            target: Text::from_utf8_lossy(target),
        },
        Version { minor },
        fields,
    ))
}

/// recognisable method and target, or a final (>= 200) status line.
pub(crate) fn parse_first_line(dir: Dir, buf: &[u8]) -> Option<(StartLine, Version)> {
    let line = match memchr::memchr(b'\n', buf) {
        Some(i) => buf.get(..i)?,
        None => buf,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let version_of = |v: Option<&[u8]>| {
        v.and_then(|v| v.strip_prefix(b"HTTP/1."))
            .and_then(|d| d.first())
            .filter(|d| d.is_ascii_digit())
            .map_or(Version::HTTP11, |d| Version { minor: d - b'0' })
    };
    match dir {
        Dir::ToServer => {
            if classify_request(buf) != Verdict::Yes {
                return None;
            }
            let method = parts.next()?;
            let target = parts.next()?;
            let version = version_of(parts.next());
            Some((
                StartLine::Request {
                    method: Text::from_utf8_lossy(method),
                    target: Text::from_utf8_lossy(target),
                },
                version,
            ))
        }
        Dir::ToClient => {
            let v = parts.next()?;
            if classify_status(v) != Verdict::Yes {
                return None;
            }
            let code = parts.next()?;
            if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let status = std::str::from_utf8(code).ok()?.parse::<u16>().ok()?;
            if status < 200 {
                return None;
            }
            let reason_start = line
                .windows(code.len())
                .position(|w| w == code)
                .map_or(line.len(), |p| p + code.len());
            let reason = line.get(reason_start..).unwrap_or_default().trim_ascii();
            Some((
                StartLine::Response {
                    status,
                    reason: Text::from_utf8_lossy(reason),
                },
                version_of(Some(v)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_hints() {
        assert_eq!(
            role_hint(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(Role::Client)
        );
        assert_eq!(role_hint(b"POST /x?y=1 HTTP/1.0\r\n"), Some(Role::Client));
        assert_eq!(role_hint(b"GET /very/long/target/cut"), Some(Role::Client));
        assert_eq!(role_hint(b"PROPFIND /dav HTTP/1.1\r\n"), Some(Role::Client));
        assert_eq!(
            role_hint(b"CONNECT example.com:443 HTTP/1.1\r\n"),
            Some(Role::Client)
        );
        assert_eq!(role_hint(b"HTTP/1.1 200 OK\r\n"), Some(Role::Server));
        assert_eq!(role_hint(b"HTTP/1.0 404"), Some(Role::Server));
        assert_eq!(role_hint(b"GET / HTTP/2.0\r\n"), None);
        assert_eq!(role_hint(b"\x16\x03\x01\x02\x00"), None);
        assert_eq!(role_hint(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(role_hint(b"get / HTTP/1.1\r\n"), None);
        assert_eq!(role_hint(b""), None);
        assert_eq!(role_hint(b"HTTP/"), None);
        assert_eq!(role_hint(b"FOO bar HTTP/1.1\r\n"), None);
    }

    #[test]
    fn classifiers() {
        assert_eq!(classify_request(b"GE"), Verdict::NeedMore);
        assert_eq!(classify_request(b"GET "), Verdict::NeedMore);
        assert_eq!(classify_request(b"GET /"), Verdict::Yes);
        assert_eq!(classify_request(b"FOO h"), Verdict::NeedMore);
        assert_eq!(classify_request(b"FOO http://"), Verdict::Yes);
        assert_eq!(classify_request(b"FOO x"), Verdict::No);
        assert_eq!(classify_request(b"\x16\x03"), Verdict::No);
        assert_eq!(classify_status(b"HTT"), Verdict::NeedMore);
        assert_eq!(classify_status(b"HTTP/1.1 200"), Verdict::Yes);
        assert_eq!(classify_status(b"HTTP/2 200"), Verdict::No);
    }

    #[test]
    fn strict_classifier() {
        let r = |b: &[u8]| classify_strict(Dir::ToServer, b);
        assert_eq!(r(b"GET / HTTP/1.1\r\n"), Verdict::Yes);
        assert_eq!(r(b"PROPFIND /dav HTTP/1.0\r\nHost: a"), Verdict::Yes);
        assert_eq!(r(b"GET /a"), Verdict::NeedMore);
        assert_eq!(r(b"GET /a HTTP/1.1\r"), Verdict::NeedMore);
        // Body bytes that begin like a request.
        assert_eq!(r(b"A /U\xfd\x00x"), Verdict::No);
        assert_eq!(r(b"A /x y\r\n"), Verdict::No);
        assert_eq!(r(b"OPTIONS HTTP/1.1\r\n"), Verdict::No);
        assert_eq!(r(b"GET / HTTP/1.\r\n"), Verdict::No);
        assert_eq!(r(b"GET / HTTP/1.1\n"), Verdict::No);
        let s = |b: &[u8]| classify_strict(Dir::ToClient, b);
        assert_eq!(s(b"HTTP/1.1 200 OK\r\n"), Verdict::Yes);
        assert_eq!(s(b"HTTP/1.0 204\r\n"), Verdict::Yes);
        assert_eq!(s(b"HTTP/1.1 20"), Verdict::NeedMore);
        assert_eq!(s(b"HTTP/1.1 2000"), Verdict::No);
        assert_eq!(s(b"HTTP/1.x 200"), Verdict::No);
        assert_eq!(
            classify_strict_joined(Dir::ToServer, b"GET /lo", b"ng HTTP/1.1\r\nHost"),
            Verdict::Yes
        );
    }

    #[test]
    fn first_line_of_cut_heads() {
        let (l, v) = parse_first_line(Dir::ToServer, b"GET /a HTTP/1.0\r\nHost: x").unwrap();
        assert_eq!(
            l,
            StartLine::Request {
                method: "GET".into(),
                target: "/a".into()
            }
        );
        assert_eq!(v, Version::HTTP10);
        assert!(parse_first_line(Dir::ToServer, b"GE").is_none());
        let (l, _) =
            parse_first_line(Dir::ToClient, b"HTTP/1.1 503 Service Unavailable\r\n").unwrap();
        assert_eq!(
            l,
            StartLine::Response {
                status: 503,
                reason: "Service Unavailable".into()
            }
        );
        assert!(parse_first_line(Dir::ToClient, b"HTTP/1.1 100 Continue\r\n").is_none());
    }
}
