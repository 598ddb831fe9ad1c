//! The JSON renderer: the stable contract of REPORT.md (see the module docs
//! of [`crate::report`]), pretty-printed, and its line-per-connection form
//! NDJSON. Byte-identical for the same capture: maps are ordered, no clock
//! or randomness enters the report.
//!
//! Both are [`SpillRender`]ers: each exchange is rendered as it settles and
//! each connection as it concludes, so the report is never held whole.

use std::io::{self, Write};

use serde::Serialize;

use crate::report::render::{self, ExchangeRender, Preamble, SpillRender};
use crate::report::{ConnectionReport, ExchangeReport, Report, Summary};

/// Writes the report as pretty-printed JSON followed by a newline.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    render::render_spill(report, &mut JsonRenderer::new(), out)
}

/// Writes the report as NDJSON: a line per connection, then the summary's.
pub fn write_ndjson(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    render::render_spill(report, &mut NdjsonRenderer::new(), out)
}

/// Writes `value` pretty-printed as if nested `depth` levels deep:
/// serde_json's pretty style (two spaces), every line after the first
/// indented by `depth` levels.
fn nested<T: Serialize>(value: &T, depth: usize, buf: &mut Vec<u8>, out: &mut dyn WriteBytes) {
    buf.clear();
    pretty_into(value, depth, buf);
    out.put(buf);
}

/// Appends `value` to `out` pretty-printed as if nested `depth` levels deep
/// (see [`nested`]), with [`Indented`].
pub(crate) fn pretty_into<T: Serialize>(value: &T, depth: usize, out: &mut Vec<u8>) {
    let mut ser = serde_json::Serializer::with_formatter(out, Indented::new(depth));
    // Serialising the report's own types into memory cannot fail (no
    // maps with non-string keys, no non-finite floats: those are rounded
    // finite values).
    let _ = value.serialize(&mut ser);
}

/// `,` then a newline then the indentation of up to [`PAD_LEVELS`] levels:
/// what [`Indented`] writes before a value, in one slice.
const PAD: &[u8; 2 + 2 * PAD_LEVELS] =
    b",\n                                                                ";
/// Levels of indentation [`PAD`] holds (deeper ones are written piecemeal).
const PAD_LEVELS: usize = 32;

/// serde_json's `PrettyFormatter` (two-space indentation, `": "` after
/// keys) byte for byte, except that it starts `depth` levels deep and
/// writes each line break and its indentation as one slice of [`PAD`]
/// (the `PrettyFormatter` writes the indentation two bytes at a time:
/// most of the pretty report's rendering time went there).
struct Indented {
    depth: usize,
    has_value: bool,
}

impl Indented {
    fn new(depth: usize) -> Self {
        Indented {
            depth,
            has_value: false,
        }
    }

    /// A line break (after a comma unless `first`) and the indentation of
    /// the current depth.
    #[inline]
    fn line<W: ?Sized + io::Write>(&self, w: &mut W, first: bool) -> io::Result<()> {
        let from = usize::from(first);
        if self.depth <= PAD_LEVELS {
            w.write_all(&PAD[from..2 + 2 * self.depth])
        } else {
            w.write_all(&PAD[from..2])?;
            for _ in 0..self.depth {
                w.write_all(b"  ")?;
            }
            Ok(())
        }
    }
}

impl serde_json::ser::Formatter for Indented {
    #[inline]
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    #[inline]
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.line(w, true)?;
        }
        w.write_all(b"]")
    }

    #[inline]
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.line(w, first)
    }

    #[inline]
    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    #[inline]
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    #[inline]
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.line(w, true)?;
        }
        w.write_all(b"}")
    }

    #[inline]
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.line(w, first)
    }

    #[inline]
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    #[inline]
    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Where rendered bytes go: a `Vec` or a writer (whose errors are kept).
trait WriteBytes {
    fn put(&mut self, b: &[u8]);
}

impl WriteBytes for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

struct IoBytes<'a> {
    w: &'a mut dyn Write,
    err: Option<io::Error>,
}

impl WriteBytes for IoBytes<'_> {
    fn put(&mut self, b: &[u8]) {
        if self.err.is_none()
            && let Err(e) = self.w.write_all(b)
        {
            self.err = Some(e);
        }
    }
}

impl IoBytes<'_> {
    fn done(self) -> io::Result<()> {
        self.err.map_or(Ok(()), Err)
    }
}

/// Splits a connection rendered with no exchanges at its `"exchanges": []`
/// (`marker`) into what comes before its exchanges and after them.
fn split_at_exchanges(
    rendered: &[u8],
    marker: &[u8],
    close_nonempty: &[u8],
    exchanges: u64,
    head: &mut Vec<u8>,
    tail: &mut Vec<u8>,
) {
    match memchr::memmem::find(rendered, marker) {
        Some(at) => {
            // `...,"exchanges": [` | exchanges | `]...`
            let open = at + marker.len() - 1;
            head.extend_from_slice(&rendered[..open]);
            if exchanges > 0 {
                tail.extend_from_slice(close_nonempty);
            }
            tail.extend_from_slice(&rendered[open..]);
        }
        // Not reachable for reports of this crate; render without them.
        None => head.extend_from_slice(rendered),
    }
}

/// The exchanges of the JSON report, inside its `exchanges` array.
struct PrettyExchanges;

impl ExchangeRender for PrettyExchanges {
    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>) {
        out.extend_from_slice(if n == 1 {
            b"\n        "
        } else {
            b",\n        "
        });
        if !super::fastjson::write(ex, Some(4), out) {
            pretty_into(ex, 4, out);
        }
    }
}

/// The exchanges of an NDJSON connection line.
struct NdjsonExchanges;

impl ExchangeRender for NdjsonExchanges {
    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>) {
        if n > 1 {
            out.push(b',');
        }
        if !super::fastjson::write(ex, None, out) {
            let _ = serde_json::to_writer(&mut *out, ex);
        }
    }
}

impl ExchangeRender for JsonRenderer {
    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>) {
        PrettyExchanges.exchange(n, ex, out);
    }

    fn connection(
        &mut self,
        c: &ConnectionReport,
        exchanges: u64,
        head: &mut Vec<u8>,
        tail: &mut Vec<u8>,
    ) -> bool {
        SpillRender::connection(self, c, exchanges, head, tail);
        true
    }
}

impl ExchangeRender for NdjsonRenderer {
    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>) {
        NdjsonExchanges.exchange(n, ex, out);
    }

    fn connection(
        &mut self,
        c: &ConnectionReport,
        exchanges: u64,
        head: &mut Vec<u8>,
        tail: &mut Vec<u8>,
    ) -> bool {
        SpillRender::connection(self, c, exchanges, head, tail);
        true
    }
}

/// The pretty JSON report as a [`SpillRender`]er.
#[derive(Default)]
pub struct JsonRenderer {
    buf: Vec<u8>,
}

impl JsonRenderer {
    /// A renderer.
    pub fn new() -> Self {
        JsonRenderer {
            buf: Vec::with_capacity(64 * 1024),
        }
    }
}

impl SpillRender for JsonRenderer {
    fn begin(&mut self, pre: &Preamble<'_>, out: &mut dyn Write) -> io::Result<()> {
        let mut o = IoBytes { w: out, err: None };
        let b = &mut self.buf;
        o.put(b"{\n  \"format_version\": ");
        nested(&pre.header.format_version, 1, b, &mut o);
        o.put(b",\n  \"tool\": ");
        nested(&pre.header.tool, 1, b, &mut o);
        o.put(b",\n  \"inputs\": ");
        nested(&pre.header.inputs, 1, b, &mut o);
        if !pre.header.keylogs.is_empty() {
            o.put(b",\n  \"keylogs\": ");
            nested(&pre.header.keylogs, 1, b, &mut o);
        }
        o.put(b",\n  \"summary\": ");
        match pre.summary {
            Some(s) => nested(s, 1, b, &mut o),
            None => o.put(b"null"),
        }
        o.put(b",\n  \"findings\": ");
        nested(&pre.findings, 1, b, &mut o);
        o.put(b",\n  \"connections\": [");
        o.done()
    }

    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>) {
        PrettyExchanges.exchange(n, ex, out);
    }

    fn exchange_renderer(&self) -> Option<Box<dyn ExchangeRender>> {
        Some(Box::new(JsonRenderer::new()))
    }

    fn connection(
        &mut self,
        c: &ConnectionReport,
        exchanges: u64,
        head: &mut Vec<u8>,
        tail: &mut Vec<u8>,
    ) {
        let mut rendered = std::mem::take(&mut self.buf);
        rendered.clear();
        rendered.extend_from_slice(b"\n    ");
        pretty_into(&WithoutExchanges(c), 2, &mut rendered);
        split_at_exchanges(
            &rendered,
            b"\n      \"exchanges\": []",
            b"\n      ",
            exchanges,
            head,
            tail,
        );
        self.buf = rendered;
    }

    fn separator(&self) -> &'static [u8] {
        b","
    }

    fn end(
        &mut self,
        _pre: &Preamble<'_>,
        connections: u64,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        if connections > 0 {
            out.write_all(b"\n  ")?;
        }
        out.write_all(b"]\n}\n")
    }
}

/// A connection serialised with an empty `exchanges` array (the renderers
/// write its exchanges themselves).
struct WithoutExchanges<'a>(&'a ConnectionReport);

impl Serialize for WithoutExchanges<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_with_exchanges(s, &[])
    }
}

/// NDJSON, a live feed: one line `{"type":"connection", ...}` per
/// connection as it concludes (the fields of a `connections[]` entry),
/// then one line `{"type":"summary", ...}` with the header, the summary's
/// fields and the findings. Every line is flushed as it is written.
#[derive(Default)]
pub struct NdjsonRenderer {
    buf: Vec<u8>,
}

impl NdjsonRenderer {
    /// A renderer.
    pub fn new() -> Self {
        NdjsonRenderer {
            buf: Vec::with_capacity(16 * 1024),
        }
    }
}

/// The last NDJSON line.
#[derive(Serialize)]
struct SummaryLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    format_version: u32,
    tool: &'a crate::report::Tool,
    inputs: &'a [crate::report::InputReport],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    keylogs: &'a [crate::report::tls::KeyLogReport],
    #[serde(flatten)]
    summary: &'a Summary,
    findings: &'a [crate::report::findings::Finding],
}

impl SpillRender for NdjsonRenderer {
    fn live(&self) -> bool {
        true
    }

    fn begin(&mut self, _pre: &Preamble<'_>, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>) {
        NdjsonExchanges.exchange(n, ex, out);
    }

    fn exchange_renderer(&self) -> Option<Box<dyn ExchangeRender>> {
        Some(Box::new(NdjsonRenderer::new()))
    }

    fn connection(
        &mut self,
        c: &ConnectionReport,
        exchanges: u64,
        head: &mut Vec<u8>,
        tail: &mut Vec<u8>,
    ) {
        self.buf.clear();
        let _ = serde_json::to_writer(&mut self.buf, &WithoutExchanges(c));
        let mut rendered = Vec::with_capacity(self.buf.len() + 24);
        rendered.extend_from_slice(b"{\"type\":\"connection\",");
        rendered.extend_from_slice(self.buf.get(1..).unwrap_or_default());
        rendered.push(b'\n');
        split_at_exchanges(&rendered, b",\"exchanges\":[]", b"", exchanges, head, tail);
    }

    fn end(
        &mut self,
        pre: &Preamble<'_>,
        _connections: u64,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let Some(summary) = pre.summary else {
            return Ok(());
        };
        self.buf.clear();
        let line = SummaryLine {
            kind: "summary",
            format_version: pre.header.format_version,
            tool: &pre.header.tool,
            inputs: &pre.header.inputs,
            keylogs: &pre.header.keylogs,
            summary,
            findings: pre.findings,
        };
        serde_json::to_writer(&mut self.buf, &line).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        out.write_all(&self.buf)?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`Indented`] replaces: serde_json's `PrettyFormatter`, every
    /// line after the first indented `depth` more levels.
    fn reference<T: Serialize>(value: &T, depth: usize) -> Vec<u8> {
        let plain = serde_json::to_vec_pretty(value).unwrap();
        let pad = "  ".repeat(depth);
        let mut out = Vec::new();
        for (i, line) in plain.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                out.push(b'\n');
                out.extend_from_slice(pad.as_bytes());
            }
            out.extend_from_slice(line);
        }
        out
    }

    fn indented<T: Serialize>(value: &T, depth: usize) -> Vec<u8> {
        let mut out = Vec::new();
        pretty_into(value, depth, &mut out);
        out
    }

    #[test]
    fn indented_is_pretty_formatter_shifted() {
        // Empty and nested containers, strings with newlines and quotes,
        // numbers; and nesting past what PAD holds.
        let mut deep = serde_json::json!({"leaf": [1, {"a": []}]});
        for i in 0..40 {
            deep = serde_json::json!({ format!("k{i}"): [deep, {}], "s": "x\ny\"z" });
        }
        let values = [
            serde_json::json!(null),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!({"a": [], "b": {}, "c": [1, 2.5, "t"], "d": {"e": null}}),
            deep,
        ];
        for v in &values {
            for depth in [0, 1, 2, 4, 31, 32, 33] {
                assert_eq!(
                    String::from_utf8(indented(v, depth)).unwrap(),
                    String::from_utf8(reference(v, depth)).unwrap(),
                    "depth {depth}"
                );
            }
        }
    }
}
