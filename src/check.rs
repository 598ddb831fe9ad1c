//! `httpreuse check`: regression checks for CI.
//!
//! Two kinds of test case, each passing or failing on its own:
//! - a **golden comparison**: the analysis against a saved JSON report
//!   ([`compare`]). What is stable is compared exactly: the summary's
//!   counts, and per connection (in id order) the endpoints (the client
//!   without its ephemeral port), roles, handshake, first close, requests,
//!   responses, close reason and its facts, advertised keep-alive,
//!   anomalies (kinds and sides), and per exchange the request line,
//!   status, interim statuses, framing, body sizes and persistence. Times
//!   are compared within a tolerance, or exactly with `strict_times`.
//!   Frame numbers, packet counts, `history`, sentences and the input's
//!   file name are not compared (they change when the same scenario is
//!   recorded again). Fields the golden file lacks are not compared, so a
//!   golden file from an older version stays usable.
//! - an **assertion** `PATH OP VALUE` over the report's summary (see
//!   [`crate::expr`]).
//!
//! [`junit`] writes the cases as JUnit XML.

use std::path::Path;

use serde_json::Value;

use crate::analyzer::Options;
use crate::capture::Input;
use crate::expr::{self, Expr};
use crate::filter::Filter;

/// How golden comparisons treat times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompareOptions {
    /// Largest accepted difference of a time, seconds.
    pub time_tolerance: f64,
    /// Times must be equal.
    pub strict_times: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            time_tolerance: DEFAULT_TIME_TOLERANCE,
            strict_times: false,
        }
    }
}

/// Default `--time-tolerance`, seconds: generous, so that a scenario
/// recorded again still passes; idle timeouts of a few seconds still show.
pub const DEFAULT_TIME_TOLERANCE: f64 = 0.5;

/// One difference between a golden report and the analysis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// `summary`, or `connection #3 (client -> server)`, or with
    /// `exchange 2` after it.
    pub location: String,
    /// The field (dotted path in the JSON report).
    pub field: String,
    /// The golden value (JSON).
    pub expected: String,
    /// The value now (JSON).
    pub got: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: expected {} -> got {}",
            self.location, self.field, self.expected, self.got
        )
    }
}

/// A golden file or an input that cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A capture could not be read.
    #[error("{0}")]
    Capture(#[from] crate::capture::CaptureError),
    /// A file could not be read.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        err: std::io::Error,
    },
    /// A JSON file is not an httpreuse report.
    #[error("{path}: not an httpreuse JSON report: {why}")]
    NotAReport {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
}

/// A report as JSON, from captures or from a saved report.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The report.
    pub value: Value,
    /// The report as `--format json` prints it (for `--update`).
    pub json: Vec<u8>,
    /// Warnings about inputs cut off part-way.
    pub warnings: Vec<String>,
}

/// Checks that `v` looks like a JSON report (format_version, summary,
/// connections).
pub fn validate_report(v: &Value, path: &str) -> Result<(), LoadError> {
    let bad = |why: &str| LoadError::NotAReport {
        path: path.to_string(),
        why: why.to_string(),
    };
    let Some(o) = v.as_object() else {
        return Err(bad("not a JSON object"));
    };
    match o.get("format_version").and_then(Value::as_u64) {
        Some(n) if n == u64::from(crate::report::FORMAT_VERSION) => {}
        Some(n) => return Err(bad(&format!("format_version {n}, this program reads 1"))),
        None => return Err(bad("no format_version")),
    }
    if !o.get("summary").is_some_and(Value::is_object) {
        return Err(bad("no summary object"));
    }
    if !o.get("connections").is_some_and(Value::is_array) {
        return Err(bad("no connections array"));
    }
    Ok(())
}

/// Whether a file starts (after whitespace) with `{`: a saved JSON report
/// rather than a capture.
fn is_json_file(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = [0u8; 64];
    let n = f.read(&mut buf).unwrap_or(0);
    buf.get(..n)
        .unwrap_or_default()
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        == Some(&b'{')
}

/// Reads a saved JSON report.
pub fn read_report(path: &Path) -> Result<Loaded, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|err| LoadError::Io {
        path: name.clone(),
        err,
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| LoadError::NotAReport {
        path: name.clone(),
        why: e.to_string(),
    })?;
    validate_report(&value, &name)?;
    Ok(Loaded {
        value,
        json: bytes,
        warnings: Vec::new(),
    })
}

/// The report of `inputs`: one saved JSON report, or captures analysed as
/// one (with `filter`).
pub fn load(inputs: &[Input], opts: Options, filter: &Filter) -> Result<Loaded, LoadError> {
    if let [Input::Path(p)] = inputs
        && is_json_file(p)
    {
        return read_report(p);
    }
    let report = crate::analyzer::analyze_filtered(inputs, opts, filter.clone())?;
    let warnings = report
        .header
        .inputs
        .iter()
        .filter_map(|i| i.error.clone())
        .collect();
    let mut json = Vec::new();
    crate::report::json::write(&report, &mut json).map_err(|err| LoadError::Io {
        path: "(report)".into(),
        err,
    })?;
    let value = serde_json::from_slice(&json).map_err(|e| LoadError::NotAReport {
        path: "(report)".into(),
        why: e.to_string(),
    })?;
    Ok(Loaded {
        value,
        json,
        warnings,
    })
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

/// Summary fields compared exactly.
const SUMMARY_EXACT: &[&str] = &[
    "connections",
    "handshakes_completed",
    "handshakes_refused",
    "handshakes_unanswered",
    "handshakes_not_captured",
    "requests",
    "responses",
    "reused_connections",
    "reused_share",
    "requests_per_handshake",
    "requests_per_connection.min",
    "requests_per_connection.median",
    "requests_per_connection.max",
    "first_close.client_fin",
    "first_close.client_rst",
    "first_close.server_fin",
    "first_close.server_rst",
    "fins.client",
    "fins.server",
    "rsts.client",
    "rsts.server",
    "still_open",
    "half_closed",
    "max_pipelined",
    "upgrades",
];

/// Summary maps compared key by key, an absent key being 0.
const SUMMARY_COUNT_MAPS: &[&str] = &["requests_per_connection.histogram", "anomalies"];

/// Connection fields compared exactly (the client's address separately).
const CONN_EXACT: &[&str] = &[
    "server",
    "roles_from",
    "handshake_complete",
    "handshake.state",
    "first_close.by",
    "first_close.kind",
    "requests",
    "responses",
    "reused",
    "half_closed_by",
    "http.max_outstanding",
    "http.upgraded",
    "http.keep_alive_advertised.client",
    "http.keep_alive_advertised.server",
    "close.reason",
    "close.by",
    "close.kind",
    "close.said_by",
    "close.advertised_timeout",
    "close.matches_timeout",
    "close.request_outstanding",
];

/// Connection times (seconds).
const CONN_TIMES: &[&str] = &[
    "duration",
    "handshake.rtt",
    "close.idle_seconds",
    "idle.between_requests_min",
    "idle.between_requests_max",
    "idle.before_close",
];

/// Exchange fields compared exactly.
const EXCHANGE_EXACT: &[&str] = &[
    "request.method",
    "request.target",
    "request.version",
    "request.connection",
    "request.persistence",
    "request.framing",
    "request.body_bytes",
    "request.complete",
    "request.expect_continue",
    "response.status",
    "response.version",
    "response.connection",
    "response.keep_alive",
    "response.persistence",
    "response.framing",
    "response.body_bytes",
    "response.complete",
    "persistent",
    "response_lost_in_gap",
];

/// Exchange times (seconds since the connection's first packet).
const EXCHANGE_TIMES: &[&str] = &[
    "timing.request_start",
    "timing.request_end",
    "timing.response_start",
    "timing.response_end",
];

struct Cmp<'a> {
    opts: &'a CompareOptions,
    out: Vec<Difference>,
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "(absent)".to_string(), Value::to_string)
}

impl Cmp<'_> {
    fn push(&mut self, loc: &str, field: &str, want: Option<&Value>, got: Option<&Value>) {
        self.out.push(Difference {
            location: loc.to_string(),
            field: field.to_string(),
            expected: show(want),
            got: show(got),
        });
    }

    /// Exact comparison of the fields the golden report has.
    fn exact(&mut self, loc: &str, want: &Value, got: &Value, fields: &[&str]) {
        for f in fields {
            let w = get(want, f);
            if w.is_none() {
                continue;
            }
            let g = get(got, f);
            if w != g {
                self.push(loc, f, w, g);
            }
        }
    }

    fn times(&mut self, loc: &str, want: &Value, got: &Value, fields: &[&str]) {
        for f in fields {
            let Some(w) = get(want, f) else { continue };
            let g = get(got, f);
            let same = match (w.as_f64(), g.and_then(Value::as_f64)) {
                (Some(a), Some(b)) => {
                    if self.opts.strict_times {
                        a == b
                    } else {
                        (a - b).abs() <= self.opts.time_tolerance + 1e-9
                    }
                }
                _ => Some(w) == g,
            };
            if !same {
                self.push(loc, f, Some(w), g);
            }
        }
    }

    /// Maps of counts: every key of either side, absent = 0.
    fn count_map(&mut self, loc: &str, want: &Value, got: &Value, field: &str) {
        let Some(w) = get(want, field).and_then(Value::as_object) else {
            return;
        };
        let empty = serde_json::Map::new();
        let g = get(got, field).and_then(Value::as_object).unwrap_or(&empty);
        let zero = Value::from(0);
        let keys: std::collections::BTreeSet<&String> = w.keys().chain(g.keys()).collect();
        for k in keys {
            let (a, b) = (w.get(k).unwrap_or(&zero), g.get(k).unwrap_or(&zero));
            if a != b {
                self.push(loc, &format!("{field}.{k}"), Some(a), Some(b));
            }
        }
    }

    /// `close_reasons`: per reason `{total, client, server}`, absent = 0.
    fn reasons(&mut self, loc: &str, want: &Value, got: &Value, field: &str) {
        let Some(w) = get(want, field).and_then(Value::as_object) else {
            return;
        };
        let empty = serde_json::Map::new();
        let g = get(got, field).and_then(Value::as_object).unwrap_or(&empty);
        let keys: std::collections::BTreeSet<&String> = w.keys().chain(g.keys()).collect();
        let zero = Value::from(0);
        for k in keys {
            for side in ["total", "client", "server"] {
                let a = w.get(k).and_then(|r| r.get(side)).unwrap_or(&zero);
                let b = g.get(k).and_then(|r| r.get(side)).unwrap_or(&zero);
                if a != b {
                    self.push(loc, &format!("{field}.{k}.{side}"), Some(a), Some(b));
                }
            }
        }
    }
}

fn client_addr(c: &Value) -> Option<Value> {
    let s = c.get("client")?.as_str()?;
    Some(Value::String(crate::report::flat::split_endpoint(s).0))
}

fn anomaly_list(c: &Value) -> Option<Value> {
    let list = c.get("anomalies")?.as_array()?;
    let mut v: Vec<String> = list
        .iter()
        .map(|a| {
            let kind = a.get("kind").and_then(Value::as_str).unwrap_or("?");
            match a.get("by").and_then(Value::as_str) {
                Some(by) => format!("{kind} ({by})"),
                None => kind.to_string(),
            }
        })
        .collect();
    v.sort();
    Some(Value::from(v))
}

fn interim(e: &Value) -> Option<Value> {
    let list = e.get("interim")?.as_array()?;
    Some(Value::from(
        list.iter()
            .filter_map(|i| i.get("status").cloned())
            .collect::<Vec<_>>(),
    ))
}

fn conn_label(c: &Value, i: usize) -> String {
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    format!("connection #{i} ({} -> {})", s("client"), s("server"))
}

/// Compares a golden report with the analysis (see the module docs).
pub fn compare(golden: &Value, got: &Value, opts: &CompareOptions) -> Vec<Difference> {
    let mut c = Cmp {
        opts,
        out: Vec::new(),
    };
    let null = Value::Null;
    let (ws, gs) = (
        golden.get("summary").unwrap_or(&null),
        got.get("summary").unwrap_or(&null),
    );
    c.exact("summary", ws, gs, SUMMARY_EXACT);
    for m in SUMMARY_COUNT_MAPS {
        c.count_map("summary", ws, gs, m);
    }
    c.reasons("summary", ws, gs, "close_reasons");
    c.times("summary", ws, gs, &["duration"]);

    let empty = Vec::new();
    let wc = golden
        .get("connections")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let gc = got
        .get("connections")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for (i, (w, g)) in wc.iter().zip(gc).enumerate() {
        let loc = conn_label(w, i);
        let (a, b) = (client_addr(w), client_addr(g));
        if a.is_some() && a != b {
            c.push(&loc, "client (address)", a.as_ref(), b.as_ref());
        }
        c.exact(&loc, w, g, CONN_EXACT);
        c.times(&loc, w, g, CONN_TIMES);
        let (a, b) = (anomaly_list(w), anomaly_list(g));
        if a.is_some() && a != b {
            c.push(&loc, "anomalies", a.as_ref(), b.as_ref());
        }
        let we = w
            .get("exchanges")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let ge = g
            .get("exchanges")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        if we.len() != ge.len() {
            c.push(
                &loc,
                "exchanges (count)",
                Some(&Value::from(we.len())),
                Some(&Value::from(ge.len())),
            );
        }
        for (j, (x, y)) in we.iter().zip(ge).enumerate() {
            let eloc = format!("{loc} exchange {}", j + 1);
            c.exact(&eloc, x, y, EXCHANGE_EXACT);
            c.times(&eloc, x, y, EXCHANGE_TIMES);
            let (a, b) = (interim(x), interim(y));
            if a.is_some() && a != b {
                c.push(&eloc, "interim", a.as_ref(), b.as_ref());
            }
        }
    }
    for (i, w) in wc.iter().enumerate().skip(gc.len()) {
        c.out.push(Difference {
            location: conn_label(w, i),
            field: "connection".into(),
            expected: "present".into(),
            got: "(absent)".into(),
        });
    }
    for (i, g) in gc.iter().enumerate().skip(wc.len()) {
        c.out.push(Difference {
            location: conn_label(g, i),
            field: "connection".into(),
            expected: "(absent)".into(),
            got: "present".into(),
        });
    }
    c.out
}

/// How a test case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It passed.
    Pass,
    /// It failed: a one-line message and the details.
    Fail {
        /// One line.
        message: String,
        /// The details (one difference a line).
        detail: String,
    },
    /// It could not be evaluated (exit 2).
    Error {
        /// What went wrong.
        message: String,
    },
}

/// One test case (a golden comparison or an assertion).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// `golden FILE` or the expression.
    pub name: String,
    /// `golden` or `expect`.
    pub kind: &'static str,
    /// The result.
    pub status: Status,
    /// For assertions: the value found at the path.
    pub actual: Option<String>,
}

/// Evaluates assertions against a report's summary: one case each.
pub fn assertions(exprs: &[Expr], report: &Value) -> Vec<Case> {
    let null = Value::Null;
    let summary = report.get("summary").unwrap_or(&null);
    exprs
        .iter()
        .map(|e| {
            let (status, actual) = match expr::eval(e, summary) {
                Ok(o) if o.holds => (Status::Pass, Some(o.actual)),
                Ok(o) => (
                    Status::Fail {
                        message: format!("{} failed: actual value {}", e.text, o.actual),
                        detail: format!("expression: {}\nactual: {}", e.text, o.actual),
                    },
                    Some(o.actual),
                ),
                Err(err) => (
                    Status::Error {
                        message: err.to_string(),
                    },
                    None,
                ),
            };
            Case {
                name: e.text.clone(),
                kind: "expect",
                status,
                actual,
            }
        })
        .collect()
}

/// The golden comparison as a test case.
pub fn golden_case(name: &str, diffs: &[Difference]) -> Case {
    Case {
        name: format!("golden {name}"),
        kind: "golden",
        actual: None,
        status: if diffs.is_empty() {
            Status::Pass
        } else {
            Status::Fail {
                message: format!(
                    "{} difference{} from {name}",
                    diffs.len(),
                    if diffs.len() == 1 { "" } else { "s" }
                ),
                detail: diffs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            }
        },
    }
}

/// The exit code for a set of cases: 2 if any could not be evaluated, 1 if
/// any failed, else 0.
pub fn exit_code(cases: &[Case]) -> u8 {
    if cases
        .iter()
        .any(|c| matches!(c.status, Status::Error { .. }))
    {
        2
    } else if cases
        .iter()
        .any(|c| matches!(c.status, Status::Fail { .. }))
    {
        1
    } else {
        0
    }
}

/// What `httpreuse check` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// `--golden FILE`.
    pub golden: Option<std::path::PathBuf>,
    /// `--update`: write the golden file instead of comparing.
    pub update: bool,
    /// `--expect EXPR`.
    pub expects: Vec<String>,
    /// `--expect-file FILE`.
    pub expect_files: Vec<std::path::PathBuf>,
    /// Time comparison.
    pub compare: CompareOptions,
}

/// What a check run gave.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Every test case, in order: the golden comparison, then the
    /// assertions (`--expect` first, then each file's).
    pub cases: Vec<Case>,
    /// Inputs cut off part-way (the analysis covers what came before).
    pub warnings: Vec<String>,
}

fn error_case(name: String, kind: &'static str, message: String) -> Case {
    Case {
        name,
        kind,
        status: Status::Error { message },
        actual: None,
    }
}

/// Runs a check: analyses `inputs` (or reads one saved report), then the
/// golden comparison (or `--update`) and the assertions. Errors become
/// error cases, so the JUnit file still says what happened.
pub fn run(inputs: &[Input], opts: Options, filter: &Filter, plan: &Plan) -> Run {
    let mut run = Run::default();
    if plan.golden.is_none() && plan.expects.is_empty() && plan.expect_files.is_empty() {
        run.cases.push(error_case(
            "check".into(),
            "usage",
            "nothing to check: give --golden FILE, --expect EXPR or --expect-file FILE".into(),
        ));
        return run;
    }
    // Expressions first: a bad one is an error even if the capture is fine.
    let mut exprs = Vec::new();
    for text in &plan.expects {
        match expr::parse(text) {
            Ok(e) => exprs.push(Ok(e)),
            Err(e) => exprs.push(Err(error_case(text.clone(), "expect", e.to_string()))),
        }
    }
    for f in &plan.expect_files {
        let name = f.display().to_string();
        match std::fs::read_to_string(f) {
            Ok(text) => match expr::parse_file(&text, &name) {
                Ok(es) => exprs.extend(es.into_iter().map(Ok)),
                Err(e) => exprs.push(Err(error_case(
                    format!("expect-file {name}"),
                    "expect",
                    e.to_string(),
                ))),
            },
            Err(e) => exprs.push(Err(error_case(
                format!("expect-file {name}"),
                "expect",
                format!("{name}: {e}"),
            ))),
        }
    }
    let loaded = match load(inputs, opts, filter) {
        Ok(l) => l,
        Err(e) => {
            run.cases
                .push(error_case("analysis".into(), "input", e.to_string()));
            return run;
        }
    };
    run.warnings = loaded.warnings.clone();
    if let Some(g) = &plan.golden {
        let name = g.display().to_string();
        if plan.update {
            run.cases.push(match std::fs::write(g, &loaded.json) {
                Ok(()) => Case {
                    name: format!("golden {name} (updated)"),
                    kind: "golden",
                    status: Status::Pass,
                    actual: None,
                },
                Err(e) => error_case(format!("golden {name}"), "golden", format!("{name}: {e}")),
            });
        } else {
            run.cases.push(match read_report(g) {
                Ok(golden) => {
                    golden_case(&name, &compare(&golden.value, &loaded.value, &plan.compare))
                }
                Err(LoadError::Io { path, err }) if err.kind() == std::io::ErrorKind::NotFound => {
                    error_case(
                        format!("golden {name}"),
                        "golden",
                        format!("{path}: no such golden file (create it with --update)"),
                    )
                }
                Err(e) => error_case(format!("golden {name}"), "golden", e.to_string()),
            });
        }
    }
    let parsed: Vec<Expr> = exprs
        .iter()
        .filter_map(|e| e.as_ref().ok().cloned())
        .collect();
    let mut evaluated = assertions(&parsed, &loaded.value).into_iter();
    for e in exprs {
        match e {
            Ok(_) => run.cases.extend(evaluated.next()),
            Err(case) => run.cases.push(case),
        }
    }
    run
}

/// Escapes text for XML content and attribute values; characters XML 1.0
/// cannot carry (most control characters) become `?`.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML of the cases: one `<testsuite name=suite>` with one
/// `<testcase>` per case, `<failure>` for failures and `<error>` for cases
/// that could not be evaluated (the schema GitLab, Jenkins and GitHub
/// reporters read).
pub fn junit(suite: &str, cases: &[Case]) -> String {
    let failures = cases
        .iter()
        .filter(|c| matches!(c.status, Status::Fail { .. }))
        .count();
    let errors = cases
        .iter()
        .filter(|c| matches!(c.status, Status::Error { .. }))
        .count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"httpreuse\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n",
        cases.len()
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">\n",
        xml_escape(suite),
        cases.len()
    ));
    for c in cases {
        let open = format!(
            "    <testcase name=\"{}\" classname=\"httpreuse.{}\"",
            xml_escape(&c.name),
            c.kind
        );
        match &c.status {
            Status::Pass => x.push_str(&format!("{open}/>\n")),
            Status::Fail { message, detail } => x.push_str(&format!(
                "{open}>\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                xml_escape(message),
                c.kind,
                xml_escape(detail)
            )),
            Status::Error { message } => x.push_str(&format!(
                "{open}>\n      <error message=\"{}\" type=\"error\">{}</error>\n    </testcase>\n",
                xml_escape(message),
                xml_escape(message)
            )),
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(reason: &str, idle: f64) -> Value {
        json!({
            "format_version": 1,
            "summary": {"connections": 1, "requests": 2,
                        "close_reasons": {reason: {"total": 1, "client": 1, "server": 0}},
                        "anomalies": {}, "duration": 1.0},
            "connections": [{
                "id": 0, "client": "127.0.0.1:40000", "server": "127.0.0.1:80",
                "requests": 2, "close": {"reason": reason, "idle_seconds": idle},
                "anomalies": [],
                "exchanges": [{"request": {"method": "GET", "target": "/"}, "response": {"status": 200},
                               "timing": {"request_start": 0.1}}]
            }]
        })
    }

    #[test]
    fn same_report_has_no_difference() {
        let r = report("idle", 2.0);
        assert!(compare(&r, &r, &CompareOptions::default()).is_empty());
    }

    #[test]
    fn close_reason_change_is_named() {
        let d = compare(
            &report("idle", 2.0),
            &report("reset", 2.0),
            &CompareOptions::default(),
        );
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert!(fields.contains(&"close.reason"), "{d:?}");
        assert!(fields.contains(&"close_reasons.idle.total"), "{d:?}");
        assert!(fields.contains(&"close_reasons.reset.total"), "{d:?}");
        let line = d
            .iter()
            .find(|d| d.field == "close.reason")
            .unwrap()
            .to_string();
        assert_eq!(
            line,
            "connection #0 (127.0.0.1:40000 -> 127.0.0.1:80): close.reason: expected \"idle\" -> got \"reset\""
        );
    }

    #[test]
    fn times_within_tolerance_unless_strict() {
        let (a, b) = (report("idle", 2.0), report("idle", 2.3));
        assert!(compare(&a, &b, &CompareOptions::default()).is_empty());
        let strict = CompareOptions {
            strict_times: true,
            ..CompareOptions::default()
        };
        assert_eq!(compare(&a, &b, &strict).len(), 1);
        let tight = CompareOptions {
            time_tolerance: 0.1,
            strict_times: false,
        };
        assert_eq!(compare(&a, &b, &tight)[0].field, "close.idle_seconds");
    }

    #[test]
    fn client_port_is_not_compared_but_address_is() {
        let a = report("idle", 2.0);
        let mut b = a.clone();
        b["connections"][0]["client"] = json!("127.0.0.1:40001");
        assert!(compare(&a, &b, &CompareOptions::default()).is_empty());
        b["connections"][0]["client"] = json!("127.0.0.2:40001");
        assert_eq!(compare(&a, &b, &CompareOptions::default()).len(), 1);
    }

    #[test]
    fn missing_connection_is_a_difference() {
        let a = report("idle", 2.0);
        let mut b = a.clone();
        b["connections"] = json!([]);
        let d = compare(&a, &b, &CompareOptions::default());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].got, "(absent)");
    }

    #[test]
    fn xml_escaping() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(xml_escape("x\u{1}y"), "x?y");
    }

    #[test]
    fn exit_codes() {
        let pass = Case {
            name: "a".into(),
            kind: "expect",
            status: Status::Pass,
            actual: None,
        };
        let fail = Case {
            status: Status::Fail {
                message: "m".into(),
                detail: "d".into(),
            },
            ..pass.clone()
        };
        let err = Case {
            status: Status::Error {
                message: "e".into(),
            },
            ..pass.clone()
        };
        assert_eq!(exit_code(std::slice::from_ref(&pass)), 0);
        assert_eq!(exit_code(&[pass.clone(), fail.clone()]), 1);
        assert_eq!(exit_code(&[fail, err, pass]), 2);
    }
}
