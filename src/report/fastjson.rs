//! HTTP/1 exchanges written as JSON by hand, byte for byte what serde_json
//! writes for [`ExchangeReport`] (compact, or pretty at a given depth, as
//! [`super::json`]'s `Indented` formatter): exchanges are the bulk of the
//! JSON and NDJSON reports (hundreds of thousands in a big capture), and a
//! fifth of the NDJSON run went to serde_json escaping the same static
//! keys again for every one of them. Here keys are written as they are,
//! strings are copied whole when nothing in them needs escaping (and go
//! through serde_json when something does), numbers use serde_json's own
//! formatters.
//!
//! Only exchanges without any HTTP/2 field take this way (those have
//! optional fields serde skips); [`write()`] returns false for the others and
//! the caller serialises them with serde. A test compares both ways on
//! exchanges with every field set, empty, and with strings that need
//! escaping; the golden reports compare every fixture's.

use serde_json::ser::{CompactFormatter, Formatter};

use super::{ExchangeReport, KeepAliveReport, MessageReport};

/// Writes key `$k` (a literal) of the object at hand, `$first` or not.
macro_rules! key {
    ($w:expr, $first:literal, $k:literal) => {
        if $w.pretty {
            $w.pretty_key($first, $k)
        } else if $first {
            $w.out
                .extend_from_slice(concat!("\"", $k, "\":").as_bytes())
        } else {
            $w.out
                .extend_from_slice(concat!(",\"", $k, "\":").as_bytes())
        }
    };
}

/// Where the writer is: the output, pretty or not, the depth, and whether
/// the current object or array has a value yet (serde_json's
/// `PrettyFormatter` keeps one such flag, not one per level; so does this).
struct W<'a> {
    out: &'a mut Vec<u8>,
    pretty: bool,
    depth: usize,
    has_value: bool,
}

impl W<'_> {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.extend_from_slice(b"  ");
        }
    }

    fn open(&mut self, b: u8) {
        self.depth += 1;
        self.has_value = false;
        self.out.push(b);
    }

    fn close(&mut self, b: u8) {
        self.depth -= 1;
        if self.pretty && self.has_value {
            self.out.push(b'\n');
            self.indent();
        }
        self.out.push(b);
        // The value just ended counts for the level around it.
        self.has_value = true;
    }

    /// Before an object's key or an array's value.
    fn sep(&mut self, first: bool) {
        if !first {
            self.out.push(b',');
        }
        if self.pretty {
            self.out.push(b'\n');
            self.indent();
        }
    }

    /// A key in pretty output (compact keys are one static slice each: see
    /// [`key!`]).
    fn pretty_key(&mut self, first: bool, k: &str) {
        self.sep(first);
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\": ");
    }

    /// After a scalar value.
    fn done(&mut self) {
        self.has_value = true;
    }

    fn str(&mut self, s: &str) {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(b'"');
        } else {
            let _ = serde_json::to_writer(&mut *self.out, s);
        }
        self.done();
    }

    fn u64(&mut self, v: u64) {
        let _ = CompactFormatter.write_u64(self.out, v);
        self.done();
    }

    fn bool(&mut self, v: bool) {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        self.done();
    }

    fn null(&mut self) {
        self.out.extend_from_slice(b"null");
        self.done();
    }

    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.u64(v),
            None => self.null(),
        }
    }

    fn opt_f64(&mut self, v: Option<f64>) {
        match v {
            // serde_json writes non-finite numbers as null.
            Some(v) if v.is_finite() => {
                let _ = CompactFormatter.write_f64(self.out, v);
                self.done();
            }
            _ => self.null(),
        }
    }

    fn keep_alive(&mut self, k: &Option<KeepAliveReport>) {
        let Some(k) = k else { return self.null() };
        self.open(b'{');
        key!(self, true, "timeout");
        self.opt_u64(k.timeout);
        key!(self, false, "max");
        self.opt_u64(k.max);
        self.close(b'}');
    }

    /// A message's fields, in line in its request or response.
    fn message(&mut self, m: &MessageReport) {
        key!(self, false, "frame");
        self.u64(m.frame);
        key!(self, false, "connection");
        self.open(b'[');
        for (i, t) in m.connection.iter().enumerate() {
            self.sep(i == 0);
            self.str(t);
        }
        self.close(b']');
        key!(self, false, "keep_alive");
        self.keep_alive(&m.keep_alive);
        key!(self, false, "persistence");
        self.str(m.persistence.name());
        key!(self, false, "framing");
        self.str(m.framing.name());
        key!(self, false, "content_length");
        self.opt_u64(m.content_length);
        key!(self, false, "transfer_encoding");
        match &m.transfer_encoding {
            Some(t) => self.str(t),
            None => self.null(),
        }
        key!(self, false, "body_bytes");
        self.u64(m.body_bytes);
        key!(self, false, "complete");
        self.bool(m.complete);
    }
}

/// Whether the exchange has none of the fields serde may skip (HTTP/2's).
fn plain(ex: &ExchangeReport) -> bool {
    ex.stream_id.is_none()
        && ex.authority.is_none()
        && ex.scheme.is_none()
        && ex.promised_on.is_none()
        && ex.rst_stream.is_none()
        && ex.grpc_status.is_none()
        && ex.trailers.is_none()
        && !ex.headers_unknown
        && ex.unprocessed.is_none()
        && !ex.open_at_end
}

/// Appends `ex` as serde_json would write it: compact (`pretty` None) or
/// pretty, the exchange's object at depth `depth` (its opening brace
/// already indented by the caller). False, and nothing written, for an
/// exchange this does not handle (see the module docs).
pub(crate) fn write(ex: &ExchangeReport, pretty: Option<usize>, out: &mut Vec<u8>) -> bool {
    if !plain(ex) {
        return false;
    }
    out.reserve(1024);
    let mut w = W {
        out,
        pretty: pretty.is_some(),
        depth: pretty.unwrap_or(0),
        has_value: false,
    };
    w.open(b'{');
    key!(w, true, "request");
    match &ex.request {
        Some(r) => {
            w.open(b'{');
            key!(w, true, "method");
            w.str(&r.method);
            key!(w, false, "target");
            w.str(&r.target);
            key!(w, false, "version");
            w.str(r.version);
            w.message(&r.message);
            key!(w, false, "expect_continue");
            w.bool(r.expect_continue);
            w.close(b'}');
        }
        None => w.null(),
    }
    key!(w, false, "response");
    match &ex.response {
        Some(r) => {
            w.open(b'{');
            key!(w, true, "status");
            w.u64(u64::from(r.status));
            key!(w, false, "version");
            w.str(r.version);
            key!(w, false, "reason");
            w.str(&r.reason);
            w.message(&r.message);
            w.close(b'}');
        }
        None => w.null(),
    }
    key!(w, false, "interim");
    w.open(b'[');
    for (i, it) in ex.interim.iter().enumerate() {
        w.sep(i == 0);
        w.open(b'{');
        key!(w, true, "status");
        w.u64(u64::from(it.status));
        key!(w, false, "frame");
        w.u64(it.frame);
        w.close(b'}');
    }
    w.close(b']');
    key!(w, false, "response_lost_in_gap");
    w.bool(ex.response_lost_in_gap);
    key!(w, false, "persistent");
    w.bool(ex.persistent);
    key!(w, false, "timing");
    w.open(b'{');
    key!(w, true, "request_start");
    w.opt_f64(ex.timing.request_start);
    key!(w, false, "request_end");
    w.opt_f64(ex.timing.request_end);
    key!(w, false, "response_start");
    w.opt_f64(ex.timing.response_start);
    key!(w, false, "response_end");
    w.opt_f64(ex.timing.response_end);
    w.close(b'}');
    w.close(b'}');
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::FramingKind;
    use crate::http::keepalive::Persistence;
    use crate::report::{InterimReport, RequestReport, ResponseReport, TimingReport};

    fn message(frame: u64, tokens: &[&str], ka: bool, te: Option<&str>) -> MessageReport {
        MessageReport {
            frame,
            connection: tokens.iter().map(|&t| t.into()).collect(),
            keep_alive: ka.then_some(KeepAliveReport {
                timeout: Some(5),
                max: None,
            }),
            persistence: Persistence::KeepAlive,
            framing: FramingKind::Chunked,
            content_length: (!ka).then_some(12),
            transfer_encoding: te.map(Into::into),
            body_bytes: 12,
            complete: ka,
        }
    }

    fn empty() -> ExchangeReport {
        ExchangeReport::http1(None, None, vec![], false, false, TimingReport::default())
    }

    fn exchanges() -> Vec<ExchangeReport> {
        let full = ExchangeReport {
            request: Some(RequestReport {
                method: "GET".into(),
                target: "/a?q=\"x\"\\y\u{1}é".into(),
                version: "HTTP/1.1",
                message: message(3, &["keep-alive", "upgrade"], true, Some("chunked")),
                expect_continue: true,
            }),
            response: Some(ResponseReport {
                status: 200,
                version: "HTTP/1.0",
                reason: "Très \"OK\"\n".into(),
                message: message(5, &[], false, None),
            }),
            interim: vec![
                InterimReport {
                    status: 100,
                    frame: 4,
                },
                InterimReport {
                    status: 103,
                    frame: 6,
                },
            ],
            response_lost_in_gap: true,
            persistent: true,
            timing: TimingReport {
                request_start: Some(0.000004),
                request_end: Some(1.5),
                response_start: Some(12345.678901),
                response_end: Some(f64::NAN),
            },
            ..empty()
        };
        let bare = empty();
        let only_request = ExchangeReport {
            response: None,
            interim: vec![],
            timing: TimingReport::default(),
            ..full.clone()
        };
        vec![full, bare, only_request]
    }

    #[test]
    fn writes_what_serde_writes_compact_and_pretty() {
        for ex in exchanges() {
            let mut fast = Vec::new();
            assert!(write(&ex, None, &mut fast));
            let slow = serde_json::to_vec(&ex).unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&slow)
            );
            for depth in [0, 1, 4] {
                let mut fast = Vec::new();
                assert!(write(&ex, Some(depth), &mut fast));
                let mut slow = Vec::new();
                super::super::json::pretty_into(&ex, depth, &mut slow);
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&slow),
                    "depth {depth}"
                );
            }
        }
    }

    #[test]
    fn http2_exchanges_are_left_to_serde() {
        let ex = ExchangeReport {
            stream_id: Some(1),
            ..empty()
        };
        let mut out = Vec::new();
        assert!(!write(&ex, None, &mut out));
        assert!(out.is_empty());
    }
}
