//! The JSON renderer: the stable contract of REPORT.md (see the module docs
//! of [`crate::report`]). Byte-identical for the same capture: maps are
//! ordered, no clock or randomness enters the report.
//!
//! The output is pretty-printed (two-space indentation) and written one
//! connection at a time: the header and summary first, then each
//! connection as an element of `connections`, so the whole report never
//! has to be in memory.

use std::io::{self, Write};

use serde::Serialize;

use crate::report::findings::Finding;
use crate::report::render::{self, Render};
use crate::report::{ConnectionReport, Header, Report, Summary};

/// Writes the report as pretty-printed JSON followed by a newline.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    render::render(report, &mut JsonRenderer::new(out))
}

/// The JSON report as a [`Render`]er.
pub struct JsonRenderer<'w> {
    out: &'w mut dyn Write,
    buf: Vec<u8>,
    connections: u64,
}

impl<'w> JsonRenderer<'w> {
    /// A renderer writing to `out`.
    pub fn new(out: &'w mut dyn Write) -> Self {
        JsonRenderer {
            out,
            buf: Vec::with_capacity(64 * 1024),
            connections: 0,
        }
    }

    /// Writes `value` pretty-printed as if nested `depth` levels deep.
    fn nested<T: Serialize>(&mut self, value: &T, depth: usize) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer_pretty(&mut self.buf, value).map_err(io::Error::other)?;
        write_indented(&mut *self.out, &self.buf, depth)
    }
}

/// Copies pretty JSON, indenting every line after the first by `depth`
/// levels of two spaces (serde_json's pretty style).
fn write_indented(out: &mut dyn Write, json: &[u8], depth: usize) -> io::Result<()> {
    let pad = &b"                                "[..(2 * depth).min(32)];
    let mut rest = json;
    while let Some(nl) = memchr::memchr(b'\n', rest) {
        let (line, tail) = rest.split_at(nl + 1);
        out.write_all(line)?;
        out.write_all(pad)?;
        rest = tail;
    }
    out.write_all(rest)
}

impl Render for JsonRenderer<'_> {
    fn begin(
        &mut self,
        header: &Header,
        summary: &Summary,
        findings: &[Finding],
    ) -> io::Result<()> {
        self.out.write_all(b"{\n  \"format_version\": ")?;
        self.nested(&header.format_version, 1)?;
        self.out.write_all(b",\n  \"tool\": ")?;
        self.nested(&header.tool, 1)?;
        self.out.write_all(b",\n  \"inputs\": ")?;
        self.nested(&header.inputs, 1)?;
        self.out.write_all(b",\n  \"summary\": ")?;
        self.nested(summary, 1)?;
        self.out.write_all(b",\n  \"findings\": ")?;
        self.nested(&findings, 1)?;
        self.out.write_all(b",\n  \"connections\": [")
    }

    fn connection(&mut self, c: &ConnectionReport) -> io::Result<()> {
        self.out.write_all(if self.connections == 0 {
            b"\n    "
        } else {
            b",\n    "
        })?;
        self.connections += 1;
        self.nested(c, 2)
    }

    fn end(&mut self) -> io::Result<()> {
        if self.connections > 0 {
            self.out.write_all(b"\n  ")?;
        }
        self.out.write_all(b"]\n}\n")
    }
}
