//! The JSON renderer: the stable contract of REPORT.md (see the module docs
//! of [`crate::report`]). Byte-identical for the same capture: maps are
//! ordered, no clock or randomness enters the report.

use std::io::{self, Write};

use crate::report::Report;

/// Writes the report as pretty-printed JSON followed by a newline.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
