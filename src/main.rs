use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use httpreuse::check::{self, Status};
use httpreuse::cli::{self, CheckArgs, Cli, Color, Command, DiffArgs, DiffFormat, Format};
use httpreuse::report::render::{self, Render};
use httpreuse::{analyzer, diff, expr, report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Check(a)) => run_check(&a),
        Some(Command::Diff(a)) => run_diff(&a),
        Some(Command::Completions { shell }) => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "httpreuse", &mut io::stdout());
            0
        }
        Some(Command::Man) => match clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())
        {
            Ok(()) => 0,
            Err(e) => fail(&format!("cannot write the man page: {e}")),
        },
        None => run_report(&cli),
    };
    ExitCode::from(code)
}

fn fail(msg: &str) -> u8 {
    eprintln!("httpreuse: {msg}");
    2
}

fn use_color(c: Color) -> bool {
    match c {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

fn create(path: &Path) -> io::Result<Box<dyn Write>> {
    File::create(path)
        .map(|f| Box::new(BufWriter::new(f)) as Box<dyn Write>)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
}

fn run_report(cli: &Cli) -> u8 {
    let color = cli.output.is_none() && use_color(cli.color);
    if matches!(cli.format, Format::Text | Format::Json | Format::Ndjson) {
        return stream_report(cli, color);
    }
    let opts = match cli.options() {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let set = match open_set(cli) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let mut a = analyzer::Analyzer::new(opts);
    a.set_filter(cli.analysis.filter());
    read_set(cli, &mut a, set);
    let report = a.finish();
    warn_inputs(&report.header);
    let written = write_report(cli, &report, color);
    // The process ends here: freeing a large report piece by piece would
    // only cost time (a tenth of a run on captures with many exchanges).
    std::mem::forget(report);
    written_status(written)
}

fn written_status(written: io::Result<()>) -> u8 {
    match written {
        Ok(()) => 0,
        // `httpreuse x.pcap | head` is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => fail(&format!("cannot write the report: {e}")),
    }
}

/// Opens and checks the inputs; warns about files of directories left out.
fn open_set(cli: &Cli) -> Result<httpreuse::capture::merge::CaptureSet, String> {
    let set = analyzer::open_inputs(&cli.inputs()).map_err(|e| e.to_string())?;
    for s in set.skipped() {
        eprintln!("httpreuse: warning: {s}; left out");
    }
    Ok(set)
}

/// Reads the set, with a progress display on a terminal.
fn read_set<S: analyzer::Sink>(
    cli: &Cli,
    a: &mut analyzer::Analyzer<S>,
    set: httpreuse::capture::merge::CaptureSet,
) {
    let mut meter = httpreuse::progress::Meter::new(cli.quiet, set.total_bytes());
    if meter.shown() {
        a.read_set_with(set, &mut |p| meter.update(p));
    } else {
        a.read_set(set);
    }
    meter.finish();
}

fn warn_inputs(header: &report::Header) {
    for input in &header.inputs {
        if let Some(err) = &input.error {
            eprintln!("httpreuse: warning: {err}; the report covers the frames before it");
        }
    }
    for k in &header.keylogs {
        if k.malformed > 0 {
            let first = k.malformed_lines.first().map_or(String::new(), |m| {
                format!(" (first: line {}, {})", m.line, m.reason)
            });
            eprintln!(
                "httpreuse: warning: {}: {} malformed key log line{} skipped{first}",
                k.source,
                k.malformed,
                if k.malformed == 1 { "" } else { "s" }
            );
        }
    }
}

/// Text, JSON and NDJSON: rendered as the analysis goes (memory follows
/// the open connections, not the capture).
fn stream_report(cli: &Cli, color: bool) -> u8 {
    let opts = match cli.options() {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let set = match open_set(cli) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let stdout = io::stdout();
    let mut out: Box<dyn Write> = match &cli.output {
        Some(p) => match create(p) {
            Ok(w) => w,
            Err(e) => return fail(&format!("cannot write the report: {e}")),
        },
        None => Box::new(BufWriter::with_capacity(1 << 16, stdout.lock())),
    };
    let r: Box<dyn report::render::SpillRender> = match cli.format {
        Format::Json => Box::new(report::json::JsonRenderer::new()),
        Format::Ndjson => Box::new(report::json::NdjsonRenderer::new()),
        _ => Box::new(report::text::TextRenderer::new(
            &report::text::TextOptions {
                color,
                exchanges: !cli.brief,
                connections: cli.connections.limit(),
            },
        )),
    };
    let streamer = report::stream::Streamer::new(r, &mut *out);
    let mut a = analyzer::Analyzer::with_sink(opts, streamer);
    a.set_filter(cli.analysis.filter());
    read_set(cli, &mut a, set);
    let (outcome, streamer) = a.finish_with_sink();
    warn_inputs(&outcome.header);
    let written = streamer.finish(&outcome);
    drop(outcome);
    written_status(written.and_then(|()| out.flush()))
}

fn write_report(cli: &Cli, report: &report::Report, color: bool) -> io::Result<()> {
    let stdout = io::stdout();
    // single-stream formats: a file or standard output
    let single = |f: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>| -> io::Result<()> {
        match &cli.output {
            Some(p) => {
                let mut w = create(p)?;
                f(&mut w)?;
                w.flush()
            }
            None => {
                let mut w = BufWriter::new(stdout.lock());
                f(&mut w)?;
                w.flush()
            }
        }
    };
    match cli.format {
        Format::Json => single(&mut |w| report::json::write(report, w)),
        Format::Ndjson => single(&mut |w| report::json::write_ndjson(report, w)),
        Format::Text => {
            let opts = report::text::TextOptions {
                color,
                exchanges: !cli.brief,
                connections: cli.connections.limit(),
            };
            single(&mut |w| report::text::write(report, &opts, w))
        }
        Format::Har => {
            single(&mut |w| render::render(report, &mut report::har::HarRenderer::new(w)))
        }
        Format::Csv | Format::Zeek => {
            let (a, b): (Box<dyn Write>, Box<dyn Write>) = match &cli.output {
                Some(dir) => {
                    create_dir(dir)?;
                    let (x, y) = if cli.format == Format::Csv {
                        ("connections.csv", "exchanges.csv")
                    } else {
                        ("conn.log", "http.log")
                    };
                    (create(&dir.join(x))?, create(&dir.join(y))?)
                }
                None => (
                    Box::new(BufWriter::new(stdout.lock())),
                    Box::new(io::sink()),
                ),
            };
            let mut r: Box<dyn Render> = if cli.format == Format::Csv {
                Box::new(report::csv::CsvRenderer::new(a, b))
            } else {
                Box::new(report::zeek::ZeekRenderer::new(a, b))
            };
            render::render(report, r.as_mut())
        }
        Format::Parquet => parquet(cli, report),
        Format::Html => single(&mut |w| report::html::write(report, w)),
    }
}

#[cfg(feature = "parquet")]
fn parquet(cli: &Cli, report: &report::Report) -> io::Result<()> {
    let Some(dir) = &cli.output else {
        return Err(io::Error::other(
            "--format parquet writes two files: give -o DIR",
        ));
    };
    create_dir(dir)?;
    render::render(report, &mut report::parquet::ParquetRenderer::create(dir)?)
}

#[cfg(not(feature = "parquet"))]
fn parquet(_cli: &Cli, _report: &report::Report) -> io::Result<()> {
    Err(io::Error::other(
        "this httpreuse was built without the `parquet` feature",
    ))
}

fn run_check(a: &CheckArgs) -> u8 {
    let plan = check::Plan {
        golden: a.golden.clone(),
        update: a.update,
        expects: a.expects.clone(),
        expect_files: a.expect_files.clone(),
        compare: check::CompareOptions {
            time_tolerance: a.time_tolerance.max(0.0),
            strict_times: a.strict_times,
        },
    };
    let opts = match a.analysis.options() {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let run = check::run(&cli::inputs(&a.captures), opts, &a.analysis.filter(), &plan);
    for w in &run.warnings {
        eprintln!("httpreuse: warning: {w}; the report covers the frames before it");
    }
    let color = use_color(a.color);
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let (mut pass, mut failed, mut errors) = (0, 0, 0);
    for c in &run.cases {
        let actual = c
            .actual
            .as_deref()
            .map(|v| format!(" (actual {v})"))
            .unwrap_or_default();
        match &c.status {
            Status::Pass => {
                pass += 1;
                out.push_str(&format!("{} {}{actual}\n", paint("32", "PASS"), c.name));
            }
            Status::Fail { message, detail } => {
                failed += 1;
                out.push_str(&format!("{} {message}\n", paint("31", "FAIL")));
                if c.kind == "golden" {
                    for l in detail.lines() {
                        out.push_str(&format!("     {l}\n"));
                    }
                }
            }
            Status::Error { message } => {
                errors += 1;
                out.push_str(&format!("{} {message}\n", paint("31;1", "ERROR")));
            }
        }
    }
    out.push_str(&format!(
        "check: {pass} passed, {failed} failed, {errors} errors\n"
    ));
    let mut code = check::exit_code(&run.cases);
    if let Some(j) = &a.junit
        && let Err(e) = std::fs::write(j, check::junit("httpreuse check", &run.cases))
    {
        eprintln!("httpreuse: cannot write {}: {e}", j.display());
        code = 2;
    }
    let mut so = io::stdout().lock();
    if let Err(e) = so.write_all(out.as_bytes()).and_then(|()| so.flush())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("httpreuse: cannot write: {e}");
        code = 2;
    }
    code
}

fn run_diff(a: &DiffArgs) -> u8 {
    let mut exprs = Vec::new();
    for text in &a.fail_if {
        match expr::parse(text) {
            Ok(e) => exprs.push(e),
            Err(e) => return fail(&e.to_string()),
        }
    }
    let opts = match a.analysis.options() {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let filter = a.analysis.filter();
    let load = |p: &std::path::Path| {
        check::load(
            &cli::inputs(std::slice::from_ref(&p.to_path_buf())),
            opts.clone(),
            &filter,
        )
    };
    let before = match load(&a.before) {
        Ok(l) => l,
        Err(e) => return fail(&e.to_string()),
    };
    let after = match load(&a.after) {
        Ok(l) => l,
        Err(e) => return fail(&e.to_string()),
    };
    for w in before.warnings.iter().chain(&after.warnings) {
        eprintln!("httpreuse: warning: {w}; the report covers the frames before it");
    }
    let d = diff::diff(&before.value, &after.value);
    let holding = match diff::failing(&exprs, &d) {
        Ok(h) => h,
        Err(e) => return fail(&e.to_string()),
    };
    let mut so = io::BufWriter::new(io::stdout().lock());
    let written = match a.format {
        DiffFormat::Json => serde_json::to_writer_pretty(&mut so, &d)
            .map_err(io::Error::other)
            .and_then(|()| writeln!(so)),
        DiffFormat::Text => diff::write_text(
            &d,
            &diff::TextOptions {
                color: use_color(a.color),
            },
            &mut so,
        ),
    }
    .and_then(|()| so.flush());
    drop(so);
    if let Err(e) = written
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return fail(&format!("cannot write: {e}"));
    }
    for (e, actual) in &holding {
        eprintln!("httpreuse: --fail-if `{}` holds (actual {actual})", e.text);
    }
    u8::from(!holding.is_empty())
}
