//! The one interface every renderer implements. The engine calls, in this
//! order: [`Render::begin`] once (the run's header, the summary and the
//! findings, which are always known before the first connection is
//! rendered),
//! [`Render::connection`] for each connection in order of its first packet
//! (`id` order), then [`Render::end`] once. A renderer keeps at most one
//! connection in memory; the engine decides where connections wait until
//! they can be rendered in order.

use std::io::{self, Write};

use crate::report::findings::Finding;
use crate::report::{ConnectionReport, ExchangeReport, Header, Report, Summary};

/// A report renderer (text, JSON, and the other formats).
pub trait Render {
    /// Starts the output: what was read, the totals and the findings.
    fn begin(&mut self, header: &Header, summary: &Summary, findings: &[Finding])
    -> io::Result<()>;
    /// One connection, in id order.
    fn connection(&mut self, c: &ConnectionReport) -> io::Result<()>;
    /// Ends the output.
    fn end(&mut self) -> io::Result<()>;
}

/// Renders a whole report held in memory.
pub fn render(report: &Report, r: &mut dyn Render) -> io::Result<()> {
    r.begin(&report.header, &report.summary, &report.findings)?;
    for c in &report.connections {
        r.connection(c)?;
    }
    r.end()
}

/// What a streaming renderer is told before the first connection.
pub struct Preamble<'a> {
    /// Version, tool, inputs.
    pub header: &'a Header,
    /// The totals (`None` for a live renderer, which gets them at the end).
    pub summary: Option<&'a Summary>,
    /// The findings (empty for a live renderer).
    pub findings: &'a [Finding],
    /// How many connections will be rendered, when that is a selection of
    /// them (the text report of a big capture: see `--connections`).
    pub shown: Option<u64>,
}

/// A renderer the engine can stream: it renders each exchange as it
/// settles and each connection as it concludes into bytes of their own, so
/// neither the report nor a long connection's exchanges are ever held in
/// memory; the engine keeps the bytes (in a temporary file when they are
/// many) until they can be written in order (text, JSON), or writes them at
/// once (NDJSON, a live feed).
///
/// A connection's bytes are `head`, then its exchanges' bytes in order,
/// then `tail`; between two connections the engine writes
/// [`SpillRender::separator`]. None of these may depend on what was
/// rendered before (the engine reorders them).
/// Renders exchanges as [`SpillRender::exchange`] does, on a worker thread
/// of `--threads` (see [`crate::threads`]): what it writes depends on the
/// exchange and its number only.
pub trait ExchangeRender: Send {
    /// The `n`th exchange of a connection (from 1).
    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>);
    /// [`SpillRender::connection`], if this renderer renders connections
    /// on workers too (false: it does not, and wrote nothing). The id it
    /// renders is the first number in `head` that is `c.id`, written once
    /// (the workers render with a stand-in id, and the reading thread puts
    /// the connection's own in its place).
    fn connection(
        &mut self,
        c: &ConnectionReport,
        exchanges: u64,
        head: &mut Vec<u8>,
        tail: &mut Vec<u8>,
    ) -> bool {
        let _ = (c, exchanges, head, tail);
        false
    }
}

pub trait SpillRender {
    /// Connections are written as they conclude, the summary at the end
    /// (true: NDJSON), not in id order after the summary (false).
    fn live(&self) -> bool {
        false
    }
    /// Whether exchanges are rendered at all (the brief text report: no).
    fn wants_exchanges(&self) -> bool {
        true
    }
    /// At most this many connections are shown, chosen by the engine (the
    /// text report's `--connections N`).
    fn shown_at_most(&self) -> Option<u64> {
        None
    }
    /// A renderer of exchanges for a worker thread, if this renderer's
    /// exchanges can be rendered there.
    fn exchange_renderer(&self) -> Option<Box<dyn ExchangeRender>> {
        None
    }
    /// What comes before the first connection.
    fn begin(&mut self, pre: &Preamble<'_>, out: &mut dyn Write) -> io::Result<()>;
    /// The `n`th exchange of a connection (from 1).
    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>);
    /// A concluded connection. Its `exchanges` are to be ignored: they were
    /// given to [`SpillRender::exchange`]; `exchanges` says how many.
    fn connection(
        &mut self,
        c: &ConnectionReport,
        exchanges: u64,
        head: &mut Vec<u8>,
        tail: &mut Vec<u8>,
    );
    /// Bytes between two connections.
    fn separator(&self) -> &'static [u8] {
        b""
    }
    /// What comes after the last connection (`pre.summary` is always given
    /// here); `connections` were written.
    fn end(&mut self, pre: &Preamble<'_>, connections: u64, out: &mut dyn Write) -> io::Result<()>;
}

/// Renders a whole report held in memory with a streaming renderer.
pub fn render_spill(
    report: &Report,
    r: &mut dyn SpillRender,
    out: &mut dyn Write,
) -> io::Result<()> {
    let pre = Preamble {
        header: &report.header,
        summary: Some(&report.summary),
        findings: &report.findings,
        shown: None,
    };
    if !r.live() {
        r.begin(&pre, out)?;
    }
    let (mut head, mut tail, mut ex) = (Vec::new(), Vec::new(), Vec::new());
    for (i, c) in report.connections.iter().enumerate() {
        if i > 0 {
            out.write_all(r.separator())?;
        }
        head.clear();
        tail.clear();
        ex.clear();
        if r.wants_exchanges() {
            for (n, e) in c.exchanges.iter().enumerate() {
                r.exchange(n as u64 + 1, e, &mut ex);
            }
        }
        r.connection(c, c.exchanges.len() as u64, &mut head, &mut tail);
        out.write_all(&head)?;
        out.write_all(&ex)?;
        out.write_all(&tail)?;
    }
    r.end(&pre, report.connections.len() as u64, out)
}
