//! Command-line options (clap derive), validated into library options.
//!
//! `httpreuse CAPTURE...` reports on captures (the default command);
//! `httpreuse check`, `httpreuse diff`, `httpreuse completions` and
//! `httpreuse man` are subcommands, chosen when the first argument is
//! their name (a capture file with such a name is given as `./check`).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::analyzer::Options;
use crate::capture::Input;
use crate::filter::{Endpoint, Filter, TimeBound};

/// The grammar of `--expect` and `--fail-if`, for `--help`.
pub const EXPR_HELP: &str = "\
Expressions: PATH OP VALUE
  PATH   a dotted path into the JSON report's summary (check) or into the
         diff's before / after / delta (diff --fail-if), e.g.
           requests_per_handshake
           close_reasons.reset.total          (also .client, .server)
           anomalies.request_after_peer_fin
           requests_per_connection.median
           server[127.0.0.1:8080].requests_per_connection.median
         A count that is absent is 0 (close reasons, anomaly kinds,
         histogram buckets); any other unknown name is an error (exit 2).
  OP     == != < <= > >=
  VALUE  a number, true, false, null, a word or a \"quoted string\"
         (strings, booleans and null only with == and !=)
--expect-file: one expression per line; blank lines and lines starting
with # are ignored.";

/// How HTTP connections in packet captures were reused: requests per
/// connection, keep-alive, and who closed each connection, how and why.
#[derive(Debug, Parser)]
#[command(
    name = "httpreuse",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Subcommands: `httpreuse check --help`, `httpreuse diff --help`.\n\
                  Exit status: 0 report written, 2 unreadable input or usage error."
)]
pub struct Cli {
    /// `check`, `diff`, `completions`, `man`; without one, report on CAPTUREs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Capture files (pcap, pcapng, optionally gzip-compressed) or
    /// directories of them (a rotated set); `-` reads standard input.
    /// Several files are analysed as one capture, merged in timestamp
    /// order whatever their order here.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,

    /// Output format. csv, zeek: standard output gets the connections table
    /// (conn.log); `-o DIR` writes both tables. parquet needs `-o DIR`.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report to PATH instead of standard output; for csv, zeek
    /// and parquet PATH is a directory (created if missing) that gets
    /// connections.csv + exchanges.csv, conn.log + http.log, or
    /// connections.parquet + exchanges.parquet.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Colour in the text report.
    #[arg(long, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,

    /// Text report: leave out the per-exchange lines under each connection.
    #[arg(long)]
    pub brief: bool,

    /// Text report: show at most N connections (those with anomalies, then
    /// the busiest) and say how many were left out; `all` shows every one.
    #[arg(long, default_value = "20", value_name = "N|all", value_parser = parse_connections)]
    pub connections: ShownConnections,

    /// No progress display (shown on standard error only when it is a
    /// terminal). Warnings are still printed.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// Options of the analysis, shared by every command that reads captures.
#[derive(Clone, Debug, Args)]
pub struct AnalysisArgs {
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

    /// Seconds (capture time) without a packet after which a connection
    /// still open is concluded as open (`evicted: inactive`).
    #[arg(long, default_value = "300", value_name = "SECS",
          value_parser = parse_secs, allow_hyphen_values = true)]
    pub idle_timeout: f64,

    /// The same for a connection that never completed a handshake nor
    /// carried data (an unanswered SYN).
    #[arg(long, default_value = "30", value_name = "SECS",
          value_parser = parse_secs, allow_hyphen_values = true)]
    pub handshake_timeout: f64,

    /// Memory for open connections (4 KiB each, plus what they buffer); past
    /// it out-of-order buffers become gaps, then the longest-idle
    /// connections are concluded as open (`evicted: memory_budget`).
    #[arg(long, default_value = "512MiB", value_name = "BYTES",
          value_parser = parse_bytes, allow_hyphen_values = true)]
    pub memory_budget: usize,

    /// Most connections tracked at once (default: what the memory budget
    /// allows); past it the longest idle is concluded as open.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Frames out of time order by less than this much capture time are
    /// analysed in timestamp order (`2s`, `10ms`; `0`: in the order read);
    /// later ones are analysed where they come and counted.
    #[arg(long, default_value = "2s", value_name = "SECS",
          value_parser = parse_secs, allow_hyphen_values = true)]
    pub reorder_window: f64,

    /// Worker threads for the per-connection analysis (default: the cores
    /// available; 1: the reading thread does it all); the report is the
    /// same byte for byte whatever the number.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// With worker threads, connections still open at the end conclude
    /// this many at a time (a test knob: the report never depends on it).
    #[arg(long, value_name = "N", hide = true)]
    pub finish_part: Option<usize>,

    /// TLS key log (the NSS format SSLKEYLOGFILE makes browsers, curl,
    /// OpenSSL, Go, Python and Node write) to decrypt HTTPS with
    /// (repeatable). Malformed lines are counted and reported, not fatal.
    /// pcapng Decryption Secrets Blocks are read without it.
    #[arg(long = "keylog", value_name = "FILE")]
    pub keylogs: Vec<PathBuf>,

    /// Only connections to this server (repeatable; any of them).
    #[arg(long = "server", value_name = "ADDR[:PORT]", value_parser = Endpoint::parse)]
    pub servers: Vec<Endpoint>,

    /// Only connections whose server port is N (repeatable).
    #[arg(long = "port", value_name = "N")]
    pub ports: Vec<u16>,

    /// Only connections from this client address (repeatable).
    #[arg(long = "client", value_name = "ADDR")]
    pub clients: Vec<IpAddr>,

    /// Only connections with packets at or after this time: RFC 3339
    /// (2024-05-01T10:00:00Z) or seconds into the capture.
    #[arg(long, value_name = "TIME", value_parser = TimeBound::parse)]
    pub from: Option<TimeBound>,

    /// Only connections with packets at or before this time (as --from).
    #[arg(long, value_name = "TIME", value_parser = TimeBound::parse)]
    pub to: Option<TimeBound>,
}

impl AnalysisArgs {
    /// The analysis options; a `--keylog` file that cannot be read is an
    /// error naming it.
    pub fn options(&self) -> Result<Options, String> {
        let mut o = Options::default();
        o.tcp.max_buffered_bytes = self.max_buffer;
        // Validated finite and non-negative; saturates at u64::MAX ns.
        o.tcp.close_linger_ns = (self.close_linger * 1e9) as u64;
        o.tcp.idle_timeout_ns = (self.idle_timeout * 1e9) as u64;
        o.tcp.handshake_timeout_ns = (self.handshake_timeout * 1e9) as u64;
        o.tcp.memory_budget = self.memory_budget;
        o.tcp.max_connections = self.max_connections.unwrap_or(0);
        o.reorder_window_ns = (self.reorder_window * 1e9) as u64;
        o.threads = match self.threads {
            Some(n) => n.max(1),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if let Some(n) = self.finish_part {
            o.finish_part = n.max(1);
        }
        o.read_keylogs(&self.keylogs)?;
        Ok(o)
    }

    /// The connection filter (empty when no filter flag was given).
    pub fn filter(&self) -> Filter {
        Filter {
            servers: self.servers.clone(),
            ports: self.ports.clone(),
            clients: self.clients.clone(),
            from: self.from,
            to: self.to,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Regression checks for CI: compare the analysis with a golden JSON
    /// report and/or assert on its summary. Exit 0 all passed, 1 a
    /// difference or a failed assertion, 2 an error.
    #[command(after_long_help = EXPR_HELP)]
    Check(CheckArgs),
    /// Compare two captures (or saved JSON reports) of the same traffic
    /// before and after a change. Exit 0, or 1 when a --fail-if holds,
    /// 2 on an error.
    #[command(after_long_help = EXPR_HELP)]
    Diff(DiffArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output.
    Man,
}

/// `httpreuse check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Capture files analysed as one (or one saved JSON report).
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,

    /// Compare with this saved JSON report (`--format json` output).
    #[arg(long, value_name = "FILE")]
    pub golden: Option<PathBuf>,

    /// Write (or rewrite) the golden file from this analysis.
    #[arg(long, requires = "golden")]
    pub update: bool,

    /// An assertion `PATH OP VALUE` on the summary (repeatable).
    #[arg(long = "expect", value_name = "EXPR")]
    pub expects: Vec<String>,

    /// A file of assertions, one per line, `#` comments (repeatable).
    #[arg(long = "expect-file", value_name = "FILE")]
    pub expect_files: Vec<PathBuf>,

    /// Largest accepted difference of a time in the golden comparison, seconds.
    #[arg(long, default_value_t = crate::check::DEFAULT_TIME_TOLERANCE, value_name = "SECS")]
    pub time_tolerance: f64,

    /// Times must equal the golden report's exactly.
    #[arg(long)]
    pub strict_times: bool,

    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Colour in the output.
    #[arg(long, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,

    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// `httpreuse diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The capture (or saved JSON report) before the change.
    #[arg(value_name = "BEFORE")]
    pub before: PathBuf,

    /// The capture (or saved JSON report) after the change.
    #[arg(value_name = "AFTER")]
    pub after: PathBuf,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,

    /// Exit 1 when this expression over before./after./delta. holds
    /// (repeatable), e.g. 'delta.requests_per_handshake < 0'.
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<String>,

    /// Colour in the text output.
    #[arg(long, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,

    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// Output formats of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A report for people.
    Text,
    /// The stable JSON report (format_version 1).
    Json,
    /// One JSON object per line: a line per connection as it concludes (a
    /// live feed with `-` as input), then the summary's line.
    Ndjson,
    /// connections.csv and exchanges.csv.
    Csv,
    /// HAR 1.2 (browser devtools, HAR viewers).
    Har,
    /// Zeek conn.log and http.log (TSV).
    Zeek,
    /// connections.parquet and exchanges.parquet (needs -o DIR).
    Parquet,
    /// One self-contained HTML file: summary, findings, connection waterfall.
    Html,
}

/// Output formats of `diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Side by side, 80 columns.
    Text,
    /// `{before, after, delta, verdict}`.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// When standard output is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

/// Input paths as inputs (`-` is standard input).
pub fn inputs(paths: &[PathBuf]) -> Vec<Input> {
    paths
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

impl Cli {
    pub fn inputs(&self) -> Vec<Input> {
        inputs(&self.captures)
    }

    pub fn options(&self) -> Result<Options, String> {
        self.analysis.options()
    }
}

/// How many connections the text report shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShownConnections {
    /// At most this many of each kind (with anomalies, busiest).
    AtMost(u64),
    /// Every one.
    All,
}

impl ShownConnections {
    /// The limit, if any.
    pub fn limit(self) -> Option<u64> {
        match self {
            ShownConnections::AtMost(n) => Some(n),
            ShownConnections::All => None,
        }
    }
}

/// `--connections`: a number, or `all`.
pub fn parse_connections(s: &str) -> Result<ShownConnections, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(ShownConnections::All);
    }
    s.trim()
        .parse::<u64>()
        .map(ShownConnections::AtMost)
        .map_err(|_| format!("`{s}` is neither a number nor `all`"))
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
