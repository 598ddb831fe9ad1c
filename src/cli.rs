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
    /// before it is concluded and its memory freed (`5`, `0.5`, `500ms`).
    #[arg(long, default_value = "5", value_name = "SECS",
          value_parser = parse_secs, allow_hyphen_values = true)]
    pub close_linger: f64,

    /// Out-of-order bytes buffered per direction before declaring a gap
    /// (`4194304`, `64k`, `4MiB`; at least 1).
    #[arg(long, default_value = "4MiB", value_name = "BYTES",
          value_parser = parse_bytes, allow_hyphen_values = true)]
    pub max_buffer: usize,
}

/// A duration in seconds: a finite, non-negative number, optionally with a
/// unit (`s`, `ms`, `us`, `µs`, `m`, `h`).
pub fn parse_secs(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let units: [(&str, f64); 6] = [
        ("ms", 1e-3),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    let (num, scale) = units
        .iter()
        .find_map(|(u, k)| t.strip_suffix(u).map(|n| (n.trim(), *k)))
        .unwrap_or((t, 1.0));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds (e.g. 5, 0.5, 500ms)"))?;
    let v = v * scale;
    if !v.is_finite() {
        return Err(format!("`{s}` is not a finite number of seconds"));
    }
    if v < 0.0 {
        return Err(format!("`{s}`: seconds must not be negative"));
    }
    Ok(v)
}

/// A size in bytes, at least 1: a whole number, optionally with a unit
/// (`k`/`kB` = 1000, `KiB` = 1024, `M`/`MB`, `MiB`, `G`/`GB`, `GiB`).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let units: [(&str, u64); 10] = [
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("kB", 1000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("B", 1),
    ];
    let (num, scale) = units
        .iter()
        .find_map(|(u, k)| t.strip_suffix(u).map(|n| (n.trim(), *k)))
        .unwrap_or((t, 1));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of bytes (e.g. 65536, 64KiB, 4MiB)"))?;
    let n = n
        .checked_mul(scale)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("`{s}` is too large"))?;
    if n == 0 {
        return Err(format!("`{s}`: must be at least 1 byte"));
    }
    Ok(n)
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
        // Validated finite and non-negative; saturates at u64::MAX ns.
        o.tcp.close_linger_ns = (self.close_linger * 1e9) as u64;
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("5"), Ok(5.0));
        assert_eq!(parse_secs("500ms"), Ok(0.5));
        assert_eq!(parse_secs("2m"), Ok(120.0));
        assert_eq!(parse_secs("0"), Ok(0.0));
        for bad in ["-1", "nan", "inf", "-inf", "", "x", "1e400"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("4MiB"), Ok(4 << 20));
        assert_eq!(parse_bytes("64k"), Ok(64_000));
        assert_eq!(parse_bytes("1"), Ok(1));
        for bad in ["0", "-1", "1.5M", "", "x", "99999999999999999999G"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
