//! The one interface every renderer implements. The engine calls, in this
//! order: [`Render::begin`] once (the run's header, the summary and the
//! findings, which are always known before the first connection is
//! rendered),
//! [`Render::connection`] for each connection in order of its first packet
//! (`id` order), then [`Render::end`] once. A renderer keeps at most one
//! connection in memory; the engine decides where connections wait until
//! they can be rendered in order.

use std::io;

use crate::report::findings::Finding;
use crate::report::{ConnectionReport, Header, Report, Summary};

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
