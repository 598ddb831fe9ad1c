use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use httpreuse::cli::{Cli, Color, Format};
use httpreuse::{analyzer, report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let report = match analyzer::analyze(&cli.inputs(), cli.options()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("httpreuse: {e}");
            return ExitCode::from(2);
        }
    };
    for input in &report.header.inputs {
        if let Some(err) = &input.error {
            eprintln!("httpreuse: warning: {err}; the report covers the frames before it");
        }
    }
    let stdout = io::stdout();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            cli.output.is_none() && stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let sink: Box<dyn Write> = match &cli.output {
        None => Box::new(stdout.lock()),
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("httpreuse: cannot create {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let mut out = io::BufWriter::with_capacity(1 << 16, sink);
    let written = match cli.format {
        Format::Json => report::json::write(&report, &mut out),
        Format::Html => report::html::write(&report, &mut out),
        Format::Text => {
            let opts = report::text::TextOptions {
                color,
                exchanges: !cli.brief,
            };
            report::text::write(&report, &opts, &mut out)
        }
    }
    .and_then(|()| out.flush());
    drop(out);
    // The process ends here: freeing a large report piece by piece would
    // only cost time (a tenth of a run on captures with many exchanges).
    std::mem::forget(report);
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // `httpreuse x.pcap | head` is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("httpreuse: cannot write the report: {e}");
            ExitCode::from(2)
        }
    }
}
