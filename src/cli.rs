//! Command-line options (clap derive), validated into library options.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::analyzer::Options;
use crate::capture::Input;

/// How HTTP connections in packet captures were reused: requests per
/// connection, keep-alive, and who closed each connection, how and why.
#[derive(Debug, Parser)]
#[command(name = "httpreuse", version, about, long_about = None)]
pub struct Cli {
    /// Capture files (pcap, pcapng, optionally gzip-compressed); `-` reads
    /// standard input. Several files are analysed as one capture, in order.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Colour in the text report.
    #[arg(long, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,

    /// Text report: leave out the per-exchange lines under each connection.
    #[arg(long)]
    pub brief: bool,

    /// Seconds (capture time) a closed connection waits for late packets
    /// before it is concluded and its memory freed.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub close_linger: f64,

    /// Out-of-order bytes buffered per direction before declaring a gap.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    pub max_buffer: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A report for people.
    Text,
    /// The stable JSON report (format_version 1).
    Json,
    /// One self-contained HTML file: summary, findings, connection waterfall.
    Html,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// When standard output is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

impl Cli {
    pub fn inputs(&self) -> Vec<Input> {
        self.captures
            .iter()
            .map(|p| {
                if p.as_os_str() == "-" {
                    Input::Stdin
                } else {
                    Input::Path(p.clone())
                }
            })
            .collect()
    }

    pub fn options(&self) -> Options {
        let mut o = Options::default();
        o.tcp.max_buffered_bytes = self.max_buffer;
        o.tcp.close_linger_ns = (self.close_linger.max(0.0) * 1e9) as u64;
        o
    }
}
