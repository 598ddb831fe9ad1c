//! The text report: what a person reads in a terminal. Summary first, then
//! servers, then one block per connection. Fits 80 columns; colour only
//! when asked (see the CLI's `--color`).

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::report::findings::{Finding, Severity};
use crate::report::render::{ExchangeRender, Preamble, SpillRender};
use crate::report::*;
use crate::tcp::connection::CloseKind;

pub struct TextOptions {
    /// ANSI colours.
    pub color: bool,
    /// One line per exchange under each connection.
    pub exchanges: bool,
    /// Show at most this many connections: those with anomalies first, then
    /// the busiest (`None`: every one).
    pub connections: Option<u64>,
}

#[derive(Clone, Copy)]
enum Paint {
    Bold,
    Dim,
    Green,
    Yellow,
    Red,
    Cyan,
}

struct Out<'a> {
    w: &'a mut dyn Write,
    color: bool,
}

impl Out<'_> {
    fn paint(&self, p: Paint, s: &str) -> String {
        if !self.color {
            return s.to_string();
        }
        let code = match p {
            Paint::Bold => "1",
            Paint::Dim => "2",
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Red => "31",
            Paint::Cyan => "36",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }

    fn line(&mut self, s: &str) -> io::Result<()> {
        writeln!(self.w, "{s}")
    }
}

/// `client 5, server 0`.
fn per_side(client: u64, server: u64) -> String {
    format!("client {client}, server {server}")
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn pct(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.0}%", a as f64 * 100.0 / b as f64)
    }
}

/// Splits `text` into lines of at most `width` characters at spaces (a
/// word longer than the width stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    // A unit stays with its number: "2.0 s", "4032 B".
    let mut words: Vec<String> = Vec::new();
    for w in text.split(' ') {
        let unit = matches!(
            w.trim_end_matches([',', '.', ';', ':', ')']),
            "s" | "ms" | "µs" | "B" | "kB" | "MB"
        );
        match words.last_mut() {
            Some(prev) if unit => {
                prev.push(' ');
                prev.push_str(w);
            }
            _ => words.push(w.to_string()),
        }
    }
    for word in &words {
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Joins items with `sep` into lines of at most `width` characters,
/// breaking between items (an item longer than a line is wrapped itself).
fn wrap_items(items: &[String], sep: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for item in items {
        let len = cur.chars().count();
        if len > 0 && len + sep.chars().count() + item.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if cur.is_empty() && item.chars().count() > width {
            let mut parts = wrap(item, width);
            cur = parts.pop().unwrap_or_default();
            lines.extend(parts);
            continue;
        }
        if !cur.is_empty() {
            cur.push_str(sep);
        }
        cur.push_str(item);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn bytes(n: u64) -> String {
    super::sentences::human_bytes(n)
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

fn reason_word(r: CloseReason) -> &'static str {
    match r {
        CloseReason::Refused => "refused",
        CloseReason::Http10 => "HTTP/1.0",
        CloseReason::ConnectionClose => "connection close",
        CloseReason::Idle => "idle",
        CloseReason::Reset => "reset",
        CloseReason::MidMessage => "mid-message",
        CloseReason::Open => "open",
        CloseReason::NoHttp => "no HTTP",
        CloseReason::Upgraded => "upgraded",
        CloseReason::TlsFailed => "TLS failed",
        CloseReason::Goaway => "GOAWAY",
    }
}

fn reason_paint(r: CloseReason) -> Paint {
    match r {
        CloseReason::Idle
        | CloseReason::ConnectionClose
        | CloseReason::Http10
        | CloseReason::Upgraded
        | CloseReason::Goaway => Paint::Green,
        CloseReason::Open | CloseReason::NoHttp => Paint::Dim,
        CloseReason::Reset
        | CloseReason::MidMessage
        | CloseReason::Refused
        | CloseReason::TlsFailed => Paint::Red,
    }
}

fn reasons_line(m: &BTreeMap<CloseReason, ReasonCount>) -> String {
    if m.is_empty() {
        return "-".into();
    }
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, c)| {
            let mut by = Vec::new();
            if c.client > 0 {
                by.push(format!("client {}", c.client));
            }
            if c.server > 0 {
                by.push(format!("server {}", c.server));
            }
            if by.is_empty() {
                format!("{} {}", k, c.total)
            } else {
                format!("{} {} ({})", k, c.total, by.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes the text report.
pub fn write(report: &Report, opts: &TextOptions, w: &mut dyn Write) -> io::Result<()> {
    crate::report::render::render_spill(report, &mut TextRenderer::new(opts), w)
}

/// The exchange lines of the text report.
struct TextExchanges {
    color: bool,
}

impl ExchangeRender for TextExchanges {
    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>) {
        let mut o = Out {
            w: out,
            color: self.color,
        };
        // Writing into memory cannot fail.
        let _ = exchange(&mut o, n as usize, ex);
    }
}

/// The text report as a [`SpillRender`]er.
pub struct TextRenderer {
    color: bool,
    exchanges: bool,
    /// Show at most this many connections (the engine picks which).
    shown_at_most: Option<u64>,
}

impl TextRenderer {
    /// A renderer.
    pub fn new(opts: &TextOptions) -> Self {
        TextRenderer {
            color: opts.color,
            exchanges: opts.exchanges,
            shown_at_most: opts.connections,
        }
    }

    fn out<'a>(&self, w: &'a mut dyn Write) -> Out<'a> {
        Out {
            w,
            color: self.color,
        }
    }
}

impl SpillRender for TextRenderer {
    fn wants_exchanges(&self) -> bool {
        self.exchanges
    }

    fn shown_at_most(&self) -> Option<u64> {
        self.shown_at_most
    }

    fn begin(&mut self, pre: &Preamble<'_>, w: &mut dyn Write) -> io::Result<()> {
        let mut o = self.out(w);
        header(&mut o, pre.header)?;
        if let Some(s) = pre.summary {
            summary(&mut o, s)?;
            if s.by_server.len() > 1 {
                servers(&mut o, &s.by_server)?;
            }
        }
        findings(&mut o, pre.findings)?;
        let total = pre.summary.map_or(0, |s| s.connections);
        let shown = pre.shown.unwrap_or(total);
        if shown > 0 {
            o.line("")?;
            let t = o.paint(Paint::Bold, "Connections");
            if shown < total {
                let t = format!(
                    "{t} ({shown} of {total}: anomalies first, then the busiest; --connections all)"
                );
                for l in wrap(&t, 78) {
                    o.line(&l)?;
                }
            } else {
                o.line(&t)?;
            }
        }
        Ok(())
    }

    fn exchange(&mut self, n: u64, ex: &ExchangeReport, out: &mut Vec<u8>) {
        TextExchanges { color: self.color }.exchange(n, ex, out);
    }

    fn exchange_renderer(&self) -> Option<Box<dyn ExchangeRender>> {
        Some(Box::new(TextExchanges { color: self.color }))
    }

    fn connection(
        &mut self,
        c: &ConnectionReport,
        exchanges: u64,
        head: &mut Vec<u8>,
        tail: &mut Vec<u8>,
    ) {
        let _ = connection_head(&mut self.out(head), c, exchanges);
        let _ = connection_tail(&mut self.out(tail), c);
    }

    fn end(
        &mut self,
        _pre: &Preamble<'_>,
        _connections: u64,
        _w: &mut dyn Write,
    ) -> io::Result<()> {
        Ok(())
    }
}

fn header(o: &mut Out<'_>, r: &Header) -> io::Result<()> {
    let title = o.paint(Paint::Bold, &format!("httpreuse {} report", r.tool.version));
    o.line(&title)?;
    for i in &r.inputs {
        let kind = match i.container {
            Some(crate::capture::Container::Pcap) => "pcap",
            Some(crate::capture::Container::Pcapng) => "pcapng",
            None => "?",
        };
        let gz = if i.gzip { ", gzip" } else { "" };
        o.line(&format!(
            "  {} ({kind}{gz}, {})",
            i.file,
            plural(i.frames, "frame", "frames")
        ))?;
        if let Some(e) = &i.error {
            let t = o.paint(Paint::Red, &format!("  ! {e}"));
            o.line(&t)?;
        }
    }
    Ok(())
}

/// A summary row: label, then the value wrapped to 80 columns (values
/// already painted are written as they are).
fn row(o: &mut Out<'_>, label: &str, value: &str) -> io::Result<()> {
    let l = o.paint(Paint::Dim, &format!("  {label:<17}"));
    if value.contains('\x1b') {
        return o.line(&format!("{l}{value}"));
    }
    let mut lines = wrap(value, 80 - 19).into_iter();
    o.line(&format!("{l}{}", lines.next().unwrap_or_default()))?;
    for rest in lines {
        o.line(&format!("{:19}{rest}", ""))?;
    }
    Ok(())
}

fn summary(o: &mut Out<'_>, s: &Summary) -> io::Result<()> {
    o.line("")?;
    let t = o.paint(Paint::Bold, "Summary");
    o.line(&t)?;
    let mut hs = format!("{} completed", s.handshakes_completed);
    for (n, what) in [
        (s.handshakes_refused, "refused"),
        (s.handshakes_unanswered, "unanswered"),
        (s.handshakes_not_captured, "not captured"),
    ] {
        if n > 0 {
            hs.push_str(&format!(", {n} {what}"));
        }
    }
    row(
        o,
        "connections",
        &format!("{}   handshakes: {hs}", s.connections),
    )?;
    row(
        o,
        "requests",
        &format!(
            "{}   responses: {}   over {}",
            s.requests,
            s.responses,
            dur(s.duration)
        ),
    )?;
    let with_requests = s.connections - s.requests_per_connection.histogram.get(&0).unwrap_or(&0);
    row(
        o,
        "reuse",
        &format!("{:.2} requests per handshake", s.requests_per_handshake),
    )?;
    row(
        o,
        "reused conns",
        &format!(
            "{} of {} connections with requests ({})",
            s.reused_connections,
            with_requests,
            pct(s.reused_connections, with_requests)
        ),
    )?;
    if with_requests > 0 {
        let d = &s.requests_per_connection;
        row(
            o,
            "requests/conn",
            &format!("min {}, median {}, max {}", d.min, d.median, d.max),
        )?;
        histogram(o, &d.histogram)?;
    }
    let fc = &s.first_close;
    let mut closes = Vec::new();
    for (n, what) in [
        (fc.client_fin, "client FIN"),
        (fc.server_fin, "server FIN"),
        (fc.client_rst, "client RST"),
        (fc.server_rst, "server RST"),
        (s.still_open, "still open"),
    ] {
        if n > 0 {
            closes.push(format!("{what} {n}"));
        }
    }
    row(
        o,
        "first close",
        &if closes.is_empty() {
            "-".to_string()
        } else {
            closes.join(", ")
        },
    )?;
    let teardown = format!(
        "FIN from client {}, server {}; RST from client {}, server {}",
        s.fins.client, s.fins.server, s.rsts.client, s.rsts.server
    );
    row(o, "teardowns", &teardown)?;
    row(o, "close reasons", &reasons_line(&s.close_reasons))?;
    if let Some(h) = &s.http2 {
        row(o, "HTTP/2", &http2_summary_line(h))?;
    }
    if s.max_pipelined > 1 {
        row(
            o,
            "pipelining",
            &format!("up to {} requests outstanding", s.max_pipelined),
        )?;
    }
    let ka = s.tcp_keepalive_probes;
    if ka.client + ka.server > 0 {
        row(
            o,
            "TCP keep-alive",
            &format!(
                "{} probes from clients, {} from servers",
                ka.client, ka.server
            ),
        )?;
    }
    let zw = s.tcp_zero_window_probes;
    if zw.client + zw.server > 0 {
        row(
            o,
            "zero window",
            &format!(
                "{} probes from clients, {} from servers",
                zw.client, zw.server
            ),
        )?;
    }
    let anomalies = if s.anomalies.is_empty() {
        o.paint(Paint::Green, "none")
    } else {
        let txt = s
            .anomalies
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        o.paint(Paint::Yellow, &txt)
    };
    row(o, "anomalies", &anomalies)?;
    let skipped: u64 = s.frames_skipped.values().sum();
    let mut frames = format!("{} TCP analysed", s.tcp_segments);
    let fr = &s.ip_fragments;
    if fr.fragments > 0 {
        frames.push_str(&format!(
            ", {} IP fragments ({} reassembled, {} incomplete)",
            fr.fragments,
            plural(fr.reassembled, "datagram", "datagrams"),
            fr.incomplete
        ));
    }
    if s.late_segments > 0 {
        frames.push_str(&format!(
            ", {} after their connection ended",
            plural(s.late_segments, "segment", "segments")
        ));
    }
    if skipped > 0 {
        let why = s
            .frames_skipped
            .iter()
            .map(|(k, n)| format!("{} {n}", k.kind()))
            .collect::<Vec<_>>()
            .join(", ");
        frames.push_str(&format!(", {skipped} skipped ({why})"));
    }
    row(o, "frames", &frames)?;
    if let Some(f) = &s.filtered_out {
        let txt = format!(
            "{} connections, {} frames (kept: {})",
            f.connections, f.frames, f.filter
        );
        row(o, "filtered out", &txt)?;
    }
    if let Some(t) = &s.tls {
        for (label, value) in super::tls::text_rows(t) {
            row(o, label, &value)?;
        }
    }
    Ok(())
}

/// Most rows of the requests-per-connection histogram before its values
/// are bucketed by powers of two.
const HISTOGRAM_ROWS: usize = 12;

/// The histogram's rows: one per value, or with many distinct values one
/// per power-of-two bucket (`0`, `1`, `2-3`, `4-7`, ...).
fn histogram_rows(h: &BTreeMap<u64, u64>) -> Vec<(String, u64)> {
    if h.len() <= HISTOGRAM_ROWS {
        return h.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    }
    let mut buckets: BTreeMap<u32, u64> = BTreeMap::new();
    for (&k, &n) in h {
        // Bucket b holds [2^(b-1), 2^b - 1]; bucket 0 holds 0.
        let b = 64 - k.leading_zeros();
        *buckets.entry(b).or_insert(0) += n;
    }
    buckets
        .into_iter()
        .map(|(b, n)| {
            let label = match b {
                0 => "0".to_string(),
                1 => "1".to_string(),
                b => {
                    let lo = 1u64 << (b - 1);
                    let hi = lo.saturating_mul(2).saturating_sub(1);
                    format!("{lo}-{hi}")
                }
            };
            (label, n)
        })
        .collect()
}

fn histogram(o: &mut Out<'_>, h: &BTreeMap<u64, u64>) -> io::Result<()> {
    let rows = histogram_rows(h);
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
    for (label, n) in rows {
        let bar_len = ((n as f64 / max as f64) * 30.0).ceil() as usize;
        let bar = o.paint(Paint::Cyan, &"█".repeat(bar_len.max(1)));
        o.line(&format!("{:19}{label:>width$} req {bar} {n}", ""))?;
    }
    Ok(())
}

fn servers(o: &mut Out<'_>, servers: &[ServerSummary]) -> io::Result<()> {
    o.line("")?;
    let t = o.paint(Paint::Bold, "Servers");
    o.line(&t)?;
    let width = servers
        .iter()
        .map(|s| s.server.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    for s in servers {
        let name = o.paint(Paint::Bold, &format!("{:<width$}", s.server));
        o.line(&format!(
            "  {name}  {}, {}",
            plural(s.connections, "connection", "connections"),
            plural(s.requests, "request", "requests"),
        ))?;
        o.line(&format!(
            "  {:width$}  {:.2} requests per handshake, {} of {} reused",
            "", s.requests_per_handshake, s.reused_connections, s.connections
        ))?;
        for l in wrap(&reasons_line(&s.close_reasons), 76 - width) {
            o.line(&format!("  {:width$}  {l}", ""))?;
        }
    }
    Ok(())
}

fn findings(o: &mut Out<'_>, findings: &[Finding]) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    o.line("")?;
    let t = o.paint(Paint::Bold, "Findings");
    o.line(&t)?;
    for f in findings {
        let (mark, paint) = match f.severity {
            Severity::Error => ("error", Paint::Red),
            Severity::Warning => ("warning", Paint::Yellow),
            Severity::Info => ("info", Paint::Dim),
        };
        let head = o.paint(paint, &format!("{mark:<7}"));
        let server = f.server.as_deref().unwrap_or("whole capture");
        o.line(&format!("  {head} {} · {server}", f.kind))?;
        for l in wrap(&f.observed, 68) {
            o.line(&format!("          {l}"))?;
        }
        let mut advice = wrap(&f.advice, 65).into_iter();
        if let Some(first) = advice.next() {
            let first = o.paint(Paint::Bold, &first);
            o.line(&format!("          -> {first}"))?;
        }
        for l in advice {
            o.line(&format!("             {l}"))?;
        }
        let ev = &f.evidence;
        if !ev.connections.is_empty() {
            let ids: Vec<String> = ev.connections.iter().map(|i| format!("#{i}")).collect();
            let mut items = vec![format!("connections {}", ids.join(" "))];
            if !ev.frames.is_empty() {
                let fr: Vec<String> = ev.frames.iter().map(|i| i.to_string()).collect();
                items.push(format!("frames {}", fr.join(" ")));
            }
            for l in wrap_items(&items, " · ", 68) {
                let l = o.paint(Paint::Dim, &l);
                o.line(&format!("          {l}"))?;
            }
        }
    }
    Ok(())
}

/// A connection's lines before its exchanges: the header line, the verdict
/// and the facts. `exchanges`: how many it has.
fn connection_head(o: &mut Out<'_>, c: &ConnectionReport, exchanges: u64) -> io::Result<()> {
    let id = o.paint(Paint::Bold, &format!("#{}", c.id));
    let mut reqs = plural(c.requests, "request", "requests");
    if let Some(h) = c.http2.as_ref().filter(|h| h.streams_opened.server > 0) {
        reqs.push_str(&format!(" + {} pushed", h.streams_opened.server));
    }
    // Pushed HTTP/2 streams are exchanges without a request of the client.
    let pushed = c.http2.as_ref().map_or(0, |h| h.streams_opened.server);
    let unmatched = exchanges.saturating_sub(c.requests + pushed);
    if unmatched > 0 {
        reqs.push_str(&format!(
            " + {}",
            plural(
                unmatched,
                "response without request",
                "responses without request"
            )
        ));
    }
    let hs = match c.handshake.state {
        HandshakeState::Complete => String::new(),
        other => format!("  [handshake {}]", other.name().replace('_', " ")),
    };
    o.line(&format!(
        "{id} {} -> {}  {}  {reqs}{hs}",
        c.client,
        c.server,
        dur(c.duration)
    ))?;
    // The verdict, in words.
    let how = match (c.close.by, c.close.kind) {
        (Some(by), Some(kind)) => format!(
            "{} {}",
            by,
            match kind {
                CloseKind::Fin => "FIN",
                CloseKind::Rst => "RST",
            }
        ),
        _ => "no close".into(),
    };
    let verdict = o.paint(
        reason_paint(c.close.reason),
        &format!("{}:", reason_word(c.close.reason)),
    );
    // The verdict line wraps; it is the sentence people come for.
    let first_width = 76 - reason_word(c.close.reason).chars().count() - 2;
    let mut lines = wrap(&c.close.explanation, first_width.max(20)).into_iter();
    o.line(&format!(
        "    {verdict} {}",
        lines.next().unwrap_or_default()
    ))?;
    for l in lines {
        o.line(&format!("      {l}"))?;
    }
    if let Some(t) = &c.tls {
        for l in wrap(&super::tls::text_line(t), 74) {
            o.line(&format!("    {l}"))?;
        }
    }
    let mut facts = vec![
        format!("first close: {how}"),
        format!("history {}", c.history),
    ];
    if let (Some(lo), Some(hi)) = (c.idle.between_requests_min, c.idle.between_requests_max) {
        let (lo, hi) = (dur(lo), dur(hi));
        facts.push(if lo == hi {
            format!("idle between requests {lo}")
        } else {
            format!("idle between requests {lo} to {hi}")
        });
    }
    if let Some(r) = c.half_closed_by {
        facts.push(format!("half-closed, {r} kept sending"));
    }
    let ka = c.tcp_keepalive_probes;
    if ka.client + ka.server > 0 {
        facts.push(format!(
            "TCP keep-alive probes: {}",
            per_side(ka.client, ka.server)
        ));
    }
    let zw = c.tcp_zero_window_probes;
    if zw.client + zw.server > 0 {
        facts.push(format!(
            "zero-window probes: {}",
            per_side(zw.client, zw.server)
        ));
    }
    let t = &c.tcp;
    let (rc, rs) = (&t.client.reassembly, &t.server.reassembly);
    let gaps = rc.gaps + rs.gaps;
    let rexmit = rc.retransmitted_segments + rs.retransmitted_segments;
    if rexmit > 0 {
        facts.push(format!(
            "{} retransmitted",
            plural(rexmit, "segment", "segments")
        ));
    }
    if gaps > 0 {
        facts.push(format!(
            "{} ({})",
            plural(gaps, "gap", "gaps"),
            bytes(rc.gap_bytes + rs.gap_bytes)
        ));
    }
    for l in wrap_items(&facts, " · ", 74) {
        let l = o.paint(Paint::Dim, &l);
        o.line(&format!("    {l}"))?;
    }
    if let Some(h) = &c.http2 {
        for l in wrap_items(&http2_facts(h), " · ", 74) {
            o.line(&format!("    {l}"))?;
        }
    }
    Ok(())
}

/// The HTTP/2 figures of the summary, in a line.
fn http2_summary_line(h: &Http2Summary) -> String {
    let d = &h.streams_per_connection;
    let mut parts = vec![
        format!(
            "{}, {} (streams/conn min {}, median {}, max {})",
            plural(h.connections, "connection", "connections"),
            plural(h.streams.client, "stream", "streams"),
            d.min,
            d.median,
            d.max
        ),
        format!("peak {} concurrent", h.peak_concurrent_streams),
    ];
    if h.streams.server > 0 {
        parts.push(format!("{} pushed", h.streams.server));
    }
    for (k, n) in &h.goaway {
        parts.push(format!("GOAWAY {} {n}", k.replace(':', " ")));
    }
    if h.streams_unprocessed > 0 {
        parts.push(format!("{} unprocessed", h.streams_unprocessed));
    }
    parts.join("; ")
}

/// The HTTP/2 line of a connection: how it started, streams, concurrency,
/// GOAWAYs, resets, pings.
fn http2_facts(h: &Http2Report) -> Vec<String> {
    let start = match h.start {
        crate::http2::H2StartKind::PriorKnowledge => "prior knowledge",
        crate::http2::H2StartKind::Upgrade => "Upgrade: h2c",
        crate::http2::H2StartKind::Alpn => "ALPN h2",
        crate::http2::H2StartKind::MidStream => "begun before the capture",
    };
    let mut v = vec![format!(
        "HTTP/2 ({start}): {}",
        plural(h.streams_opened.client, "stream", "streams")
    )];
    if h.streams_opened.server > 0 {
        v.push(format!("{} pushed", h.streams_opened.server));
    }
    v.push(format!("peak {} concurrent", h.peak_concurrent_streams));
    let mcs = |x: Option<u32>| x.map_or("-".to_string(), |n| n.to_string());
    v.push(format!(
        "max concurrent {} client / {} server",
        mcs(h.max_concurrent_streams.client),
        mcs(h.max_concurrent_streams.server)
    ));
    for g in &h.goaway {
        v.push(format!(
            "GOAWAY by {} {} last_stream_id {} (frame {})",
            g.by, g.error, g.last_stream_id, g.frame
        ));
    }
    if h.streams_unprocessed > 0 {
        v.push(format!("{} unprocessed", h.streams_unprocessed));
    }
    let r = h.rst_streams;
    if r.client + r.server > 0 {
        v.push(format!("RST_STREAM: {}", per_side(r.client, r.server)));
    }
    let p = h.pings;
    if p.client + p.server > 0 {
        v.push(format!("PING: {}", per_side(p.client, p.server)));
    }
    if h.header_blocks_unknown > 0 {
        v.push(format!(
            "{} with headers unknown (HPACK state lost)",
            plural(h.header_blocks_unknown, "header block", "header blocks")
        ));
    }
    v
}

/// A connection's lines after its exchanges: its anomalies.
fn connection_tail(o: &mut Out<'_>, c: &ConnectionReport) -> io::Result<()> {
    for a in &c.anomalies {
        let t = o.paint(
            Paint::Yellow,
            &format!("    ! {} (frame {})", a.kind, a.frame),
        );
        o.line(&t)?;
        for l in wrap(&a.detail, 72) {
            o.line(&format!("      {l}"))?;
        }
    }
    if c.anomalies_not_listed > 0 {
        o.line(&format!(
            "    ! … {} more anomalies",
            c.anomalies_not_listed
        ))?;
    }
    Ok(())
}

/// Width of the request column of an exchange line.
const REQUEST_COLUMN: usize = 36;
/// Longest request text shown on a line of its own.
const REQUEST_LINE_MAX: usize = 72;

/// Shortens to `max` characters by cutting the middle, so the start (the
/// method, a proxy request's scheme and host) and the end (the file part of
/// the path) both show.
fn clip_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head = max / 2;
    let tail = max.saturating_sub(head + 1);
    let mut t: String = s.chars().take(head).collect();
    t.push('…');
    t.extend(s.chars().skip(n - tail));
    t
}

fn exchange(o: &mut Out<'_>, n: usize, ex: &ExchangeReport) -> io::Result<()> {
    let req = match &ex.request {
        Some(r) => {
            let v = if r.version == "HTTP/1.1" {
                String::new()
            } else {
                format!(" {}", r.version)
            };
            format!("{} {}{v}", r.method, r.target)
        }
        None => "(request not seen)".into(),
    };
    // A request too long for its column (an absolute-form proxy target, a
    // long path, a version suffix) gets a line of its own, cut in the
    // middle if it must be, and the answer goes on the next line.
    let req = if req.chars().count() > REQUEST_COLUMN {
        o.line(&format!("{n:>5} {}", clip_middle(&req, REQUEST_LINE_MAX)))?;
        String::new()
    } else {
        req
    };
    let n = if req.is_empty() {
        String::new()
    } else {
        n.to_string()
    };
    let resp = match &ex.response {
        Some(r) => {
            let p = match r.status {
                200..=299 => Paint::Green,
                100..=199 | 300..=399 => Paint::Cyan,
                400..=499 => Paint::Yellow,
                _ => Paint::Red,
            };
            o.paint(p, &r.status.to_string())
        }
        None if ex.response_lost_in_gap => o.paint(Paint::Yellow, "(lost in capture gap)"),
        None => o.paint(Paint::Red, "---"),
    };
    let mut extra = Vec::new();
    if let Some(id) = ex.stream_id {
        extra.push(match ex.promised_on {
            Some(on) => format!("stream {id} pushed on {on}"),
            None => format!("stream {id}"),
        });
    }
    for i in &ex.interim {
        extra.push(format!("{} first", i.status));
    }
    if let Some(r) = &ex.response {
        let framing = match r.message.framing {
            FramingKind::ContentLength => "",
            FramingKind::Chunked => "chunked ",
            FramingKind::CloseDelimited => "to close ",
            FramingKind::Tunnel => "",
            FramingKind::NoBody => "no body ",
            FramingKind::Unknown => "? ",
            FramingKind::EndStream => "",
        };
        if r.message.framing == FramingKind::Tunnel {
            // The tunnel's bytes are in the verdict line.
            extra.push("then a tunnel".into());
        } else {
            extra.push(format!("{framing}{}", bytes(r.message.body_bytes)));
        }
        if !r.message.complete {
            extra.push("incomplete".into());
        }
        if r.message.connection.iter().any(|t| t == "close") {
            extra.push("close".into());
        }
    }
    if let (Some(s), Some(e)) = (ex.timing.request_start, ex.timing.response_end) {
        extra.push(dur((e - s).max(0.0)));
    }
    if let Some(g) = ex.grpc_status {
        extra.push(format!("grpc-status {g}"));
    }
    if let Some(r) = &ex.rst_stream {
        extra.push(format!("RST_STREAM {} by {}", r.error, r.by));
    }
    if let Some(u) = &ex.unprocessed {
        extra.push(format!(
            "unprocessed (above {}'s GOAWAY last_stream_id {})",
            u.goaway_by, u.last_stream_id
        ));
    }
    if ex.headers_unknown {
        extra.push("headers unknown (HPACK state lost)".into());
    }
    if ex.open_at_end {
        extra.push("open at the end".into());
    }
    let line = format!(
        "{:>5} {:<REQUEST_COLUMN$} -> {resp}  {}",
        n,
        req,
        extra.join(", ")
    );
    o.line(&line)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_units_with_numbers_and_width() {
        let lines = wrap("server closed after 2.0 s idle, before 10 s", 22);
        assert_eq!(lines, ["server closed after", "2.0 s idle, before", "10 s"]);
        assert!(wrap("", 10) == [""]);
    }

    #[test]
    fn wrap_items_breaks_between_items() {
        let items: Vec<String> = ["first close: server FIN", "history ShADadfF", "half-closed"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            wrap_items(&items, " · ", 44),
            ["first close: server FIN · history ShADadfF", "half-closed"]
        );
    }

    #[test]
    fn histogram_buckets_many_values_by_powers_of_two() {
        let few: BTreeMap<u64, u64> = [(1, 3), (5, 1)].into_iter().collect();
        assert_eq!(
            histogram_rows(&few),
            [("1".to_string(), 3), ("5".to_string(), 1)]
        );
        let many: BTreeMap<u64, u64> = (0..40).map(|k| (k, 1)).collect();
        let rows = histogram_rows(&many);
        let labels: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(labels, ["0", "1", "2-3", "4-7", "8-15", "16-31", "32-63"]);
        let counts: Vec<u64> = rows.iter().map(|r| r.1).collect();
        assert_eq!(counts, [1, 1, 2, 4, 8, 16, 8]);
    }

    #[test]
    fn clip_middle_keeps_both_ends_and_counts_characters() {
        assert_eq!(clip_middle("µµµµµ", 3), "µ…µ");
        assert_eq!(clip_middle("abc", 3), "abc");
        assert_eq!(
            clip_middle("GET http://example.com/a/b/c/file.txt", 20),
            "GET http:/…/file.txt"
        );
    }
}
