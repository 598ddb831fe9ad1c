//! The HTML report: one self-contained file (inline CSS, hand-written JS
//! and SVG, no network access: a Content-Security-Policy forbids every
//! load) that opens in any browser.
//!
//! [`Render::begin`] writes the page head, the summary cards, the charts
//! (SVG drawn here, each with a data table as its text alternative), the
//! per-server table and the findings, then opens a JSON data array in a
//! `<script type="application/json">`. [`Render::connection`] appends one
//! compact row per connection to that array as it arrives (nothing is
//! kept), and [`Render::end`] closes it and adds the script that draws the
//! waterfall from it: one row per connection on a shared time axis,
//! virtualised (only the rows in view exist in the DOM, each a
//! `div.wf-row` carrying `data-conn-id`), with filters, zoom and hover
//! details.
//!
//! A data row is an array (see `ROW_FIELDS` in `html/report.js`):
//! `[id, server index, client, start µs (from the first connection's
//! start), duration µs, handshake µs or -1, close reason index, closed by
//! (0 nobody, 1 client, 2 server), close kind (0, 1 FIN, 2 RST), close µs
//! or -1, requests, exchanges, exchanges not listed, anomalies, history,
//! explanation]`; an exchange is `[request start µs, response end µs or
//! -1, status or 0, "METHOD target"]` (times from the connection's start),
//! an anomaly `[kind index, µs, frame]`. At most [`MAX_EXCHANGES_PER_ROW`]
//! exchanges per connection are listed; targets are cut to
//! [`MAX_TARGET_CHARS`] characters.
//!
//! The page checks itself when it loads: `<output id="selfcheck">` gets a
//! JSON object with the number of data rows, the connections the summary
//! counts, the rows rendered, script errors and resource loads. With
//! `#selfcheck` in the URL it also scrolls the waterfall from top to bottom
//! and counts the distinct `data-conn-id` values rendered (the test in
//! `tests/html.rs` reads it from `chromium --dump-dom`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::json;

use crate::anomaly::AnomalyKind;
use crate::report::findings::{Finding, FindingKind, Severity};
use crate::report::render::{self, Render};
use crate::report::{ConnectionReport, Header, ReasonCount, Report, Summary};
use crate::tcp::connection::CloseKind;
use crate::types::Role;
use crate::verdict::CloseReason;

/// Exchanges listed per connection row (the rest are counted).
pub const MAX_EXCHANGES_PER_ROW: usize = 200;
/// Characters of a request target kept in the data.
pub const MAX_TARGET_CHARS: usize = 48;

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// Okabe-Ito colours per close reason (colour-blind safe), in
/// [`CloseReason::ALL`] order.
fn reason_colour(r: CloseReason) -> &'static str {
    match r {
        CloseReason::Refused => "#000000",
        CloseReason::Open => "#999999",
        CloseReason::Reset => "#D55E00",
        CloseReason::NoHttp => "#E69F00",
        CloseReason::MidMessage => "#CC79A7",
        CloseReason::Http10 => "#56B4E9",
        CloseReason::ConnectionClose => "#0072B2",
        CloseReason::Idle => "#009E73",
        CloseReason::Upgraded => "#F0E442",
        CloseReason::TlsFailed => "#882255",
        // Paul Tol's teal: Okabe-Ito has eight colours and they are used.
        CloseReason::Goaway => "#44AA99",
    }
}

/// Writes the HTML report of a report held in memory.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    render::render(report, &mut HtmlRenderer::new(out))
}

/// The HTML report as a [`Render`]er.
pub struct HtmlRenderer<'w> {
    out: &'w mut dyn Write,
    servers: HashMap<String, usize>,
    t0: Option<f64>,
    rows: u64,
    buf: Vec<u8>,
}

impl<'w> HtmlRenderer<'w> {
    /// A renderer writing to `out`.
    pub fn new(out: &'w mut dyn Write) -> Self {
        HtmlRenderer {
            out,
            servers: HashMap::new(),
            t0: None,
            rows: 0,
            buf: Vec::with_capacity(4096),
        }
    }
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// JSON that can sit inside a `<script>` element: every `<` is escaped, so
/// no `</script>` or `<!--` can appear.
fn script_json(v: &serde_json::Value, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    serde_json::to_writer(&mut *buf, v).map_err(io::Error::other)?;
    if buf.contains(&b'<') {
        let mut o = Vec::with_capacity(buf.len() + 16);
        for &b in buf.iter() {
            if b == b'<' {
                o.extend_from_slice(b"\\u003c");
            } else {
                o.push(b);
            }
        }
        *buf = o;
    }
    Ok(())
}

fn us(secs: f64) -> i64 {
    (secs * 1e6).round() as i64
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn dur(s: f64) -> String {
    if s < 0.001 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn reason_index(r: CloseReason) -> usize {
    CloseReason::ALL.iter().position(|&x| x == r).unwrap_or(0)
}

fn anomaly_index(k: AnomalyKind) -> usize {
    AnomalyKind::ALL.iter().position(|&x| x == k).unwrap_or(0)
}

fn card(h: &mut String, label: &str, value: &str, note: &str) {
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"card-v\">{}</div><div class=\"card-l\">{}</div><div class=\"card-n\">{}</div></div>",
        esc(value),
        esc(label),
        esc(note)
    );
}

/// Bins of the requests-per-connection histogram: exact below 10, then
/// decades split in 1-2-5 steps.
fn histogram_bins(h: &std::collections::BTreeMap<u64, u64>) -> Vec<(String, u64)> {
    if h.len() <= 12 {
        return h.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    }
    let edges: [u64; 13] = [0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 10_000];
    let mut bins: Vec<(String, u64)> = Vec::new();
    for w in edges.windows(2) {
        let [lo, hi] = w else { continue };
        let n: u64 = h.range(*lo..*hi).map(|(_, v)| *v).sum();
        let label = if hi - lo == 1 {
            lo.to_string()
        } else {
            format!("{lo}–{}", hi - 1)
        };
        bins.push((label, n));
    }
    let rest: u64 = h.range(10_000..).map(|(_, v)| *v).sum();
    bins.push(("≥10000".into(), rest));
    while bins.last().is_some_and(|b| b.1 == 0) {
        bins.pop();
    }
    bins
}

fn requests_histogram(h: &mut String, s: &Summary) {
    let bins = histogram_bins(&s.requests_per_connection.histogram);
    let max = bins.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (w, ht, left, bottom) = (520.0, 190.0, 44.0, 44.0);
    let n = bins.len().max(1) as f64;
    let bw = (w - left - 8.0) / n;
    let _ = write!(
        h,
        "<figure class=\"chart\"><figcaption id=\"rpc-t\">Requests per connection</figcaption>\
         <svg viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-labelledby=\"rpc-t rpc-d\"><desc id=\"rpc-d\">Bar chart: connections by the number of requests they carried; the table below has the same numbers.</desc>"
    );
    let _ = write!(
        h,
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" class=\"axis\"/>",
        y = ht - bottom,
        x2 = w - 4.0
    );
    let _ = write!(
        h,
        "<text x=\"{x}\" y=\"12\" class=\"tick\" text-anchor=\"end\">{max}</text>",
        x = left - 4.0
    );
    for (i, (label, v)) in bins.iter().enumerate() {
        let bh = (*v as f64 / max as f64) * (ht - bottom - 16.0);
        let x = left + i as f64 * bw + 2.0;
        let y = ht - bottom - bh;
        let _ = write!(
            h,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#0072B2\"><title>{} requests: {v} connections</title></rect>",
            (bw - 4.0).max(1.0),
            esc(label)
        );
        let (lx, ly) = (x + (bw - 4.0) / 2.0, ht - bottom + 14.0);
        if bins.len() > 8 {
            // Many bins: slanted labels so that they do not overlap.
            let _ = write!(
                h,
                "<text x=\"{lx:.1}\" y=\"{ly:.1}\" class=\"tick\" text-anchor=\"end\" transform=\"rotate(-30 {lx:.1} {ly:.1})\">{}</text>",
                esc(label)
            );
        } else {
            let _ = write!(
                h,
                "<text x=\"{lx:.1}\" y=\"{ly:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
                esc(label)
            );
        }
        if *v > 0 {
            let _ = write!(
                h,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{v}</text>",
                x + (bw - 4.0) / 2.0,
                (y - 3.0).max(10.0)
            );
        }
    }
    let _ = write!(
        h,
        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">requests on the connection</text></svg>",
        left + (w - left) / 2.0,
        ht - 2.0
    );
    h.push_str("<details><summary>Data table</summary><table><thead><tr><th>requests</th><th>connections</th></tr></thead><tbody>");
    for (label, v) in &bins {
        let _ = write!(h, "<tr><td>{}</td><td>{v}</td></tr>", esc(label));
    }
    h.push_str("</tbody></table></details></figure>");
}

fn close_reasons_chart(
    h: &mut String,
    reasons: &std::collections::BTreeMap<CloseReason, ReasonCount>,
) {
    let max = reasons.values().map(|c| c.total).max().unwrap_or(0).max(1);
    let rows = reasons.len().max(1) as f64;
    let (w, left, rh) = (520.0, 130.0, 22.0);
    let ht = rows * rh + 30.0;
    let _ = write!(
        h,
        "<figure class=\"chart\"><figcaption id=\"cr-t\">Close reasons, by the side that closed</figcaption>\
         <svg viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-labelledby=\"cr-t cr-d\"><desc id=\"cr-d\">Stacked bars per close reason: closed by the client (solid), by the server (hatched), by nobody (light); the table below has the same numbers.</desc>\
         <defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\" opacity=\"0.0\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#fff\" stroke-width=\"2.5\"/></pattern></defs>"
    );
    for (i, (r, c)) in reasons.iter().enumerate() {
        let y = 6.0 + i as f64 * rh;
        let scale = (w - left - 40.0) / max as f64;
        let colour = reason_colour(*r);
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + 13.0,
            r.name()
        );
        let mut x = left;
        let none = c.total.saturating_sub(c.client + c.server);
        for (n, side) in [(c.client, "client"), (c.server, "server"), (none, "nobody")] {
            if n == 0 {
                continue;
            }
            let bw = n as f64 * scale;
            let opacity = if side == "nobody" { "0.35" } else { "1" };
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{colour}\" opacity=\"{opacity}\"><title>{}: {n} closed by {side}</title></rect>",
                rh - 6.0,
                r.name()
            );
            if side == "server" {
                let _ = write!(
                    h,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"url(#hatch)\" pointer-events=\"none\"/>",
                    rh - 6.0
                );
            }
            x += bw;
        }
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\">{}</text>",
            x + 4.0,
            y + 13.0,
            c.total
        );
    }
    let _ = write!(
        h,
        "<text x=\"{left}\" y=\"{:.1}\" class=\"tick\">solid: client closed · hatched: server · light: nobody</text></svg>",
        ht - 6.0
    );
    h.push_str("<details><summary>Data table</summary><table><thead><tr><th>close reason</th><th>total</th><th>client</th><th>server</th></tr></thead><tbody>");
    for (r, c) in reasons {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.name(),
            c.total,
            c.client,
            c.server
        );
    }
    h.push_str("</tbody></table></details></figure>");
}

fn servers_table(h: &mut String, s: &Summary) {
    h.push_str("<section><h2>Servers</h2><table class=\"servers\"><thead><tr><th>server</th><th>connections</th><th>requests</th><th>requests / handshake</th><th>reused</th><th>close reasons</th><th>anomalies</th></tr></thead><tbody>");
    for sv in &s.by_server {
        let reasons: Vec<String> = sv
            .close_reasons
            .iter()
            .map(|(r, c)| {
                format!(
                    "<span class=\"sw\" style=\"background:{}\"></span>{} {}",
                    reason_colour(*r),
                    r.name(),
                    c.total
                )
            })
            .collect();
        let anomalies: Vec<String> = sv
            .anomalies
            .iter()
            .map(|(k, n)| format!("{} {n}", k.name()))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{} of {}</td><td>{}</td><td>{}</td></tr>",
            esc(&sv.server),
            sv.connections,
            sv.requests,
            sv.requests_per_handshake,
            sv.reused_connections,
            sv.connections,
            reasons.join("<br>"),
            if anomalies.is_empty() {
                "none".to_string()
            } else {
                esc(&anomalies.join(", "))
            }
        );
    }
    h.push_str("</tbody></table></section>");
}

fn findings_section(h: &mut String, findings: &[Finding]) {
    h.push_str("<section><h2>Findings</h2>");
    if findings.is_empty() {
        h.push_str("<p>No findings: the capture has no HTTP requests.</p></section>");
        return;
    }
    h.push_str("<ul class=\"findings\">");
    for f in findings {
        let sev = f.severity.name();
        let icon = match f.severity {
            Severity::Error => "✖",
            Severity::Warning => "▲",
            Severity::Info => "●",
        };
        let ids: Vec<String> = f
            .evidence
            .connections
            .iter()
            .map(|i| format!("<a href=\"#\" data-goto=\"{i}\">#{i}</a>"))
            .collect();
        let frames: Vec<String> = f.evidence.frames.iter().map(|i| i.to_string()).collect();
        let figures = serde_json::to_string_pretty(&f.figures).unwrap_or_default();
        let _ = write!(
            h,
            "<li class=\"finding {sev}\"><div class=\"f-head\"><span class=\"sev\" aria-hidden=\"true\">{icon}</span> <b>{sev}</b> <code>{}</code> · {}</div>\
             <p>{}</p><p class=\"advice\"><b>What to change:</b> {}</p>",
            f.kind.name(),
            esc(f.server.as_deref().unwrap_or("whole capture")),
            esc(&f.observed),
            esc(&f.advice)
        );
        if !ids.is_empty() {
            let _ = write!(
                h,
                "<p class=\"ev\">Evidence: connections {}{}</p>",
                ids.join(" "),
                if frames.is_empty() {
                    String::new()
                } else {
                    format!(" · frames {}", frames.join(" "))
                }
            );
        }
        let _ = write!(
            h,
            "<details><summary>Figures</summary><pre>{}</pre></details></li>",
            esc(&figures)
        );
    }
    h.push_str("</ul><details><summary>What each kind of finding means</summary><dl>");
    for k in FindingKind::ALL {
        let _ = write!(
            h,
            "<dt><code>{}</code></dt><dd>{}</dd>",
            k.name(),
            esc(k.meaning())
        );
    }
    h.push_str("</dl></details></section>");
}

impl Render for HtmlRenderer<'_> {
    fn begin(&mut self, header: &Header, s: &Summary, findings: &[Finding]) -> io::Result<()> {
        let mut h = String::with_capacity(64 * 1024);
        let title = header
            .inputs
            .iter()
            .map(|i| i.file.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>httpreuse: {}</title><script>window.__hrErrors=[];window.addEventListener('error',function(e){{window.__hrErrors.push(String(e.message))}});\
             document.addEventListener('securitypolicyviolation',function(e){{window.__hrErrors.push('CSP '+e.violatedDirective+' '+e.blockedURI)}});</script><style>{CSS}</style></head><body>\n",
            esc(&title)
        );
        let _ = write!(
            h,
            "<header><h1>httpreuse {} report</h1><p class=\"inputs\">",
            esc(header.tool.version)
        );
        for i in &header.inputs {
            let _ = write!(h, "<span>{} ({} frames)</span> ", esc(&i.file), i.frames);
            if let Some(e) = &i.error {
                let _ = write!(h, "<span class=\"err\">{}</span> ", esc(e));
            }
        }
        h.push_str("</p></header><main>");

        // Summary cards.
        let with_requests =
            s.connections - s.requests_per_connection.histogram.get(&0).unwrap_or(&0);
        let anomalies: u64 = s.anomalies.values().sum();
        h.push_str("<section class=\"cards\" aria-label=\"Summary\">");
        card(
            &mut h,
            "connections",
            &s.connections.to_string(),
            &format!("{} handshakes completed", s.handshakes_completed),
        );
        card(
            &mut h,
            "requests",
            &s.requests.to_string(),
            &format!("{} responses over {}", s.responses, dur(s.duration)),
        );
        card(
            &mut h,
            "requests per handshake",
            &format!("{:.2}", s.requests_per_handshake),
            &format!(
                "median {} per connection, max {}",
                s.requests_per_connection.median, s.requests_per_connection.max
            ),
        );
        card(
            &mut h,
            "reused",
            &format!("{:.0}%", s.reused_share * 100.0),
            &format!(
                "{} of {} connections with requests",
                s.reused_connections, with_requests
            ),
        );
        card(
            &mut h,
            "anomalies",
            &anomalies.to_string(),
            &if s.anomalies.is_empty() {
                "none".to_string()
            } else {
                s.anomalies
                    .iter()
                    .map(|(k, n)| format!("{} {n}", k.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        let warnings = findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count();
        card(
            &mut h,
            "findings",
            &format!("{errors} / {warnings}"),
            "errors / warnings",
        );
        h.push_str("</section>");

        findings_section(&mut h, findings);
        h.push_str("<section class=\"charts\">");
        requests_histogram(&mut h, s);
        close_reasons_chart(&mut h, &s.close_reasons);
        h.push_str("</section>");
        servers_table(&mut h, s);

        // The waterfall's frame; the script fills it.
        h.push_str(
            "<section id=\"waterfall\"><h2>Connections</h2>\
             <div class=\"toolbar\" role=\"toolbar\" aria-label=\"Waterfall filters and zoom\">\
             <label>server <select id=\"f-server\"><option value=\"\">all</option></select></label>\
             <label>close reason <select id=\"f-reason\"><option value=\"\">all</option></select></label>\
             <label>anomaly <select id=\"f-anomaly\"><option value=\"\">any or none</option><option value=\"*\">with an anomaly</option></select></label>\
             <span class=\"zoom\"><button id=\"z-in\" type=\"button\" title=\"zoom in\">+</button><button id=\"z-out\" type=\"button\" title=\"zoom out\">−</button>\
             <button id=\"z-left\" type=\"button\" title=\"earlier\">◀</button><button id=\"z-right\" type=\"button\" title=\"later\">▶</button><button id=\"z-reset\" type=\"button\">whole capture</button></span>\
             <span id=\"wf-count\" aria-live=\"polite\"></span></div>\
             <div class=\"legend\" id=\"legend\"></div>\
             <div id=\"wf-axis\" title=\"drag to zoom into a time range\"></div>\
             <div id=\"wf-view\" tabindex=\"0\" aria-label=\"Connections waterfall; each row is one connection; the table of findings and the servers table above give the same facts in text\"><div id=\"wf-spacer\"></div></div>\
             <div id=\"wf-tip\" role=\"tooltip\" hidden></div>\
             <p class=\"hint\">One row per connection on a shared time axis: thin line = connection open, grey = handshake (SYN to SYN-ACK), blue bars = exchanges (request start to end of response; hatched: no response), gaps between bars = idle, the end mark = first FIN (▌) or RST (✖) coloured by close reason with C/S for who closed, ◆ = anomaly. Hover for details; drag on the time axis to zoom.</p>\
             </section></main><output id=\"selfcheck\" hidden></output>\n",
        );

        // Metadata, then the data array (rows follow in `connection`).
        let servers: Vec<&str> = s.by_server.iter().map(|x| x.server.as_str()).collect();
        self.servers = servers
            .iter()
            .enumerate()
            .map(|(i, x)| (x.to_string(), i))
            .collect();
        let meta = json!({
            "servers": servers,
            "reasons": CloseReason::ALL.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "reason_colours": CloseReason::ALL.iter().map(|r| reason_colour(*r)).collect::<Vec<_>>(),
            "anomalies": AnomalyKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
            "connections": s.connections,
            "duration": s.duration,
        });
        self.out.write_all(h.as_bytes())?;
        self.out
            .write_all(b"<script type=\"application/json\" id=\"hr-meta\">")?;
        script_json(&meta, &mut self.buf)?;
        self.out.write_all(&self.buf)?;
        self.out
            .write_all(b"</script>\n<script type=\"application/json\" id=\"hr-data\">[")
    }

    fn connection(&mut self, c: &ConnectionReport) -> io::Result<()> {
        let t0 = *self.t0.get_or_insert(c.start);
        let server = self.servers.get(&c.server).map_or(-1, |&i| i as i64);
        let exchanges: Vec<serde_json::Value> = c
            .exchanges
            .iter()
            .take(MAX_EXCHANGES_PER_ROW)
            .map(|e| {
                let start = e
                    .timing
                    .request_start
                    .or(e.timing.response_start)
                    .map_or(-1, us);
                let end = e.timing.response_end.map_or(-1, us);
                let status = e.response.as_ref().map_or(0, |r| r.status);
                let what = e.request.as_ref().map_or_else(
                    || "(request not seen)".to_string(),
                    |r| format!("{} {}", r.method, clip(&r.target, MAX_TARGET_CHARS)),
                );
                json!([start, end, status, what])
            })
            .collect();
        let anomalies: Vec<serde_json::Value> = c
            .anomalies
            .iter()
            .map(|a| json!([anomaly_index(a.kind), us(a.time), a.frame]))
            .collect();
        let by = match c.close.by {
            None => 0,
            Some(Role::Client) => 1,
            Some(Role::Server) => 2,
        };
        let kind = match c.close.kind {
            None => 0,
            Some(CloseKind::Fin) => 1,
            Some(CloseKind::Rst) => 2,
        };
        let row = json!([
            c.id,
            server,
            if server < 0 {
                format!("{} -> {}", c.client, c.server)
            } else {
                c.client.clone()
            },
            us((c.start - t0).max(0.0)),
            us(c.duration),
            c.handshake.rtt.map_or(-1, us),
            reason_index(c.close.reason),
            by,
            kind,
            c.first_close.as_ref().map_or(-1, |f| us(f.time)),
            c.requests,
            exchanges,
            c.exchanges.len().saturating_sub(MAX_EXCHANGES_PER_ROW),
            anomalies,
            c.history,
            c.close.explanation,
        ]);
        script_json(&row, &mut self.buf)?;
        if self.rows > 0 {
            self.out.write_all(b",\n")?;
        }
        self.rows += 1;
        self.out.write_all(&self.buf)
    }

    fn end(&mut self) -> io::Result<()> {
        self.out.write_all(b"]</script>\n<script>")?;
        self.out.write_all(JS.as_bytes())?;
        self.out.write_all(b"</script>\n</body></html>\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script() {
        let mut buf = Vec::new();
        script_json(&json!(["</script><!-- x"]), &mut buf).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(!s.contains('<'), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back[0], "</script><!-- x");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn histogram_bins_group_many_values() {
        let h: std::collections::BTreeMap<u64, u64> = (1..=40).map(|i| (i, 1)).collect();
        let bins = histogram_bins(&h);
        let total: u64 = bins.iter().map(|b| b.1).sum();
        assert_eq!(total, 40);
        assert!(bins.len() <= 13);
    }
}
