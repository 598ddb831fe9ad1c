//! The one place that connects the stages: frames -> segments -> connections
//! -> HTTP sessions -> connection reports -> a [`Sink`].
//!
//! Memory follows the connections open at a time, never the capture: each
//! exchange leaves its connection as soon as it has settled (see
//! `HttpSession::settle`), folded into the verdict's running state and
//! handed to the sink; each connection is handed to the sink when it
//! concludes; the summary and the findings are folded from them as they
//! go. The sink decides where reports wait: [`Collect`] keeps them all (the
//! in-memory [`Report`] of [`analyze`]); the streaming sink of
//! `report::stream` renders them at once and keeps only bytes.

use std::collections::BTreeMap;

use crate::anomaly::AnomalyKind;
use crate::app::AppSession;
use crate::capture::{CaptureError, CaptureReader, Input};
use crate::clock::{Clock, Jump};
use crate::decode::{self, Decoded, Segment};
use crate::defrag::Defrag;
use crate::filter::{Filter, FilteredOut};
use crate::report::build::SummaryBuilder;
use crate::report::findings::FindingsBuilder;
use crate::report::{self, ConnectionReport, ExchangeReport, InputReport, Report};
use crate::tcp::{FlowTable, TcpConfig, Tracked};
use crate::types::{Anomaly, At, MAX_ANOMALIES_PER_CONNECTION, Timestamp, human_secs, round_us};
use crate::verdict;

/// Tunables of a run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub tcp: TcpConfig,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tcp: TcpConfig {
                role_hint: Some(crate::http::role_hint),
                ..TcpConfig::default()
            },
        }
    }
}

/// Where concluded work goes: settled exchanges of open connections, then
/// each connection when it concludes (its own `exchanges` being those not
/// handed out before). Exchanges come in order within a connection.
pub trait Sink {
    /// Whether exchanges are wanted at all (not by the brief text report).
    fn wants_exchanges(&self) -> bool {
        true
    }
    /// The `n`th exchange (from 1) of the open connection `conn`.
    fn exchange(&mut self, conn: u64, n: u64, ex: ExchangeReport);
    /// A concluded connection.
    fn connection(&mut self, c: ConnectionReport);
}

/// A [`Sink`] that keeps every report in memory (for [`Report`]).
#[derive(Default)]
pub struct Collect {
    open: rustc_hash::FxHashMap<u64, Vec<ExchangeReport>>,
    connections: Vec<ConnectionReport>,
}

impl Sink for Collect {
    fn exchange(&mut self, conn: u64, _n: u64, ex: ExchangeReport) {
        self.open.entry(conn).or_default().push(ex);
    }

    fn connection(&mut self, mut c: ConnectionReport) {
        if let Some(mut earlier) = self.open.remove(&c.id) {
            earlier.append(&mut c.exchanges);
            c.exchanges = earlier;
        }
        self.connections.push(c);
    }
}

/// What a run found besides its connections.
pub struct Outcome {
    /// Version, tool, inputs.
    pub header: report::Header,
    /// The totals.
    pub summary: report::Summary,
    /// What to change.
    pub findings: Vec<report::findings::Finding>,
}

/// One connection's state beside its TCP state: the application session,
/// the verdict's running fold, and what the findings need of its
/// exchanges.
struct ConnState {
    app: AppSession,
    fold: verdict::Fold,
    digest: report::findings::Digest,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            app: AppSession::new(),
            fold: verdict::Fold::new(),
            digest: report::findings::Digest::default(),
        }
    }
}

/// Reads captures frame by frame, hands what concludes to its sink, and
/// folds the summary and findings from it.
pub struct Analyzer<S: Sink = Collect> {
    table: FlowTable<ConnState>,
    sink: S,
    /// Concluded connections waiting to be judged (filled inside table
    /// calls, emptied right after).
    /// (Boxed: they come out of the flow table so, and stay small here.)
    #[allow(clippy::vec_box)]
    concluded: Vec<Box<Tracked<ConnState>>>,
    summary: SummaryBuilder,
    /// Fed each connection as it concludes (bounded per-server aggregates).
    findings: FindingsBuilder,
    frames: u64,
    tcp_segments: u64,
    skipped: rustc_hash::FxHashMap<crate::decode::Skip, u64>,
    inputs: Vec<InputReport>,
    clock: Clock,
    defrag: Defrag,
    /// Capture-level anomalies (timestamp jumps), capped.
    capture_anomalies: Vec<Anomaly>,
    capture_anomalies_dropped: u64,
    capture_anomaly_counts: BTreeMap<AnomalyKind, u64>,
    filter: Option<Box<FilterState>>,
}

/// A run's connection filter and what it left out.
struct FilterState {
    filter: Filter,
    out: FilteredOut,
    /// Address pairs dropped by the pre-check (counted as connections once).
    dropped_pairs: rustc_hash::FxHashSet<(std::net::SocketAddr, std::net::SocketAddr)>,
}

/// Most distinct address pairs the pre-check counts.
const MAX_DROPPED_PAIRS: usize = 1 << 20;

impl FilterState {
    /// Pre-check of one segment: false drops it.
    fn segment(&mut self, seg: &Segment<'_>) -> bool {
        if self.filter.may_match_segment(seg.src, seg.dst) {
            return true;
        }
        self.out.frames += 1;
        let pair = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        if self.dropped_pairs.len() < MAX_DROPPED_PAIRS && self.dropped_pairs.insert(pair) {
            self.out.connections += 1;
        }
        false
    }

    /// Decision on a concluded connection: false leaves it out.
    fn keeps(&mut self, c: &crate::tcp::Connection, capture_start: Timestamp) -> bool {
        if self
            .filter
            .keeps(c.client, c.server, c.first.ts, c.last.ts, capture_start)
        {
            return true;
        }
        self.out.connections += 1;
        self.out.frames += c.sides.client.packets + c.sides.server.packets;
        false
    }
}

impl Analyzer<Collect> {
    /// An analyzer that keeps every report in memory ([`Analyzer::finish`]).
    pub fn new(opts: Options) -> Self {
        Analyzer::with_sink(opts, Collect::default())
    }

    /// Ends the run: every connection still in the table is concluded; the
    /// whole report.
    pub fn finish(self) -> Report {
        let (outcome, sink) = self.finish_with_sink();
        let mut connections = sink.connections;
        connections.sort_by_key(|c| c.id);
        Report {
            header: outcome.header,
            summary: outcome.summary,
            findings: outcome.findings,
            connections,
        }
    }
}

impl<S: Sink> Analyzer<S> {
    /// An analyzer handing what concludes to `sink`.
    pub fn with_sink(opts: Options, sink: S) -> Self {
        Analyzer {
            table: FlowTable::new(opts.tcp),
            sink,
            concluded: Vec::new(),
            summary: SummaryBuilder::new(),
            findings: FindingsBuilder::new(),
            frames: 0,
            tcp_segments: 0,
            skipped: Default::default(),
            inputs: Vec::new(),
            clock: Clock::new(),
            defrag: Defrag::new(),
            capture_anomalies: Vec::new(),
            capture_anomalies_dropped: 0,
            capture_anomaly_counts: BTreeMap::new(),
            filter: None,
        }
    }

    /// Connections tracked now.
    pub fn open_connections(&self) -> usize {
        self.table.len()
    }

    /// Analyses and reports only the connections `filter` keeps (see
    /// [`crate::filter`]); the summary's `filtered_out` says what it left out.
    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = (!filter.is_empty()).then(|| {
            Box::new(FilterState {
                out: FilteredOut {
                    filter: filter.describe(),
                    ..FilteredOut::default()
                },
                filter,
                dropped_pairs: Default::default(),
            })
        });
    }

    /// Reads one whole input. Errors that keep the input from being read at
    /// all (cannot open, not a capture) are returned; a file cut off or
    /// corrupt part-way is recorded in the report and what came before it
    /// stands.
    pub fn read(&mut self, input: &Input) -> Result<(), CaptureError> {
        let reader = CaptureReader::open(input)?;
        self.read_from(reader, input.display_name());
        Ok(())
    }

    /// Reads every frame an opened reader gives (see [`Analyzer::read`]).
    pub fn read_from(&mut self, mut reader: CaptureReader, name: String) {
        let mut rep = InputReport {
            file: name,
            container: Some(reader.container()),
            gzip: reader.gzip(),
            frames: 0,
            linktypes: BTreeMap::new(),
            error: None,
        };
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    rep.frames += 1;
                    *rep.linktypes.entry(frame.linktype).or_insert(0) += 1;
                    self.frame(frame.linktype, frame.data, frame.ts);
                }
                Ok(None) => break,
                Err(e) => {
                    rep.error = Some(e.to_string());
                    break;
                }
            }
        }
        self.inputs.push(rep);
    }

    /// Analyses one frame. Frame numbers count across all inputs.
    pub fn frame(&mut self, linktype: u32, data: &[u8], ts: Timestamp) {
        self.frames += 1;
        let at = At {
            frame: self.frames,
            ts,
        };
        let (now, jump) = self.clock.tick(at.frame, ts);
        if let Some(j) = jump {
            self.timestamp_jump(j);
        }
        match decode::decode(linktype, data) {
            Ok(Decoded::Segment(seg)) => {
                if self.filter.as_mut().is_some_and(|f| !f.segment(&seg)) {
                    return;
                }
                self.tcp_segments += 1;
                self.segment(&seg, at, now);
            }
            Ok(Decoded::Fragment(f)) => {
                if let Some(datagram) = self.defrag.push(&f, at, now) {
                    match decode::reassembled(f.src, f.dst, &datagram) {
                        Ok(seg) => self.segment(&seg, at, now),
                        Err(_) => self.defrag.malformed(),
                    }
                }
                self.defrag_dropped();
            }
            Err(skip) => *self.skipped.entry(skip).or_insert(0) += 1,
        }
    }

    fn segment(&mut self, seg: &Segment<'_>, at: At, now: Timestamp) {
        let concluded = &mut self.concluded;
        let mut done = |t: Box<Tracked<ConnState>>| concluded.push(t);
        // Expiry first, on this frame's clock: whether the connection this
        // segment belongs to has already been concluded must not depend on
        // which other connections' frames came before it.
        self.table.expire(now, &mut done);
        let mut buffered = None;
        if let Some(t) = self.table.lookup(seg, at, now, ConnState::new, &mut done) {
            let Tracked { conn, user, .. } = &mut *t;
            conn.segment(seg, at, &mut |dir, ev| user.app.on_event(dir, ev, at));
            buffered = Some(conn.buffered() + user.app.buffered());
            settle_exchanges(t, &mut self.sink, &mut self.findings);
        }
        if let Some(b) = buffered {
            self.table.set_buffered(b);
            if self.table.over_budget() {
                self.keep_budget(at);
            }
        }
        self.drain_concluded();
    }

    /// Over the memory budget: the connection just fed sheds its
    /// out-of-order buffers (holes become gaps), then the longest-idle
    /// connections are concluded until the budget is kept.
    fn keep_budget(&mut self, at: At) {
        if let Some(t) = self.table.last_mut()
            && t.conn.buffered() > 0
        {
            let Tracked { conn, user, .. } = &mut *t;
            conn.shed(at, &mut |dir, ev| user.app.on_event(dir, ev, at));
            let b = conn.buffered() + user.app.buffered();
            settle_exchanges(t, &mut self.sink, &mut self.findings);
            self.table.note_shed();
            self.table.set_buffered(b);
        }
        let keep = self.table.last_key();
        let concluded = &mut self.concluded;
        self.table
            .enforce_budget(keep, &mut |t: Box<Tracked<ConnState>>| concluded.push(t));
    }

    /// Judges and reports the connections concluded by the last table call.
    fn drain_concluded(&mut self) {
        if self.concluded.is_empty() {
            return;
        }
        let start = self.clock.span().map_or(Timestamp::default(), |s| s.0);
        for t in std::mem::take(&mut self.concluded) {
            if self.filter.as_mut().is_none_or(|f| f.keeps(&t.conn, start)) {
                let (c, digest) = conclude(t, &mut self.findings);
                self.summary.add(&c);
                self.findings.add(&c, &digest);
                self.sink.connection(c);
            }
        }
    }

    /// Fragmented datagrams that never completed become capture anomalies.
    fn defrag_dropped(&mut self) {
        for d in self.defrag.take_dropped() {
            self.capture_anomaly(Anomaly {
                kind: AnomalyKind::IpFragmentsIncomplete,
                frame: d.at.frame,
                ts: d.at.ts,
                by: None,
                detail: format!(
                    "a fragmented IP datagram (first fragment seen here, {} in all) {}; not analysed",
                    if d.fragments == 1 {
                        "1 fragment".to_string()
                    } else {
                        format!("{} fragments", d.fragments)
                    },
                    d.why
                ),
            });
        }
    }

    fn capture_anomaly(&mut self, a: Anomaly) {
        *self.capture_anomaly_counts.entry(a.kind).or_insert(0) += 1;
        if self.capture_anomalies.len() >= MAX_ANOMALIES_PER_CONNECTION {
            self.capture_anomalies_dropped += 1;
        } else {
            self.capture_anomalies.push(a);
        }
    }

    fn timestamp_jump(&mut self, j: Jump) {
        let (dir, by) = if j.to < j.from {
            ("back", j.from.nanos_since(j.to))
        } else {
            ("ahead", j.to.nanos_since(j.from))
        };
        self.capture_anomaly(Anomaly {
            kind: AnomalyKind::TimestampJump,
            frame: j.frame,
            ts: j.to,
            by: None,
            detail: format!(
                "timestamp {} jumps {dir} by {} from the frame before ({}); connection expiry goes on from the clock before the jump",
                j.to,
                human_secs(by as f64 / 1e9),
                j.from
            ),
        });
    }

    /// Ends the run: every connection still in the table is concluded and
    /// handed to the sink; the summary and the findings, and the sink.
    pub fn finish_with_sink(mut self) -> (Outcome, S) {
        self.defrag.finish();
        self.defrag_dropped();
        let concluded = &mut self.concluded;
        self.table
            .drain(&mut |t: Box<Tracked<ConnState>>| concluded.push(t));
        self.drain_concluded();
        let capture = report::build::CaptureFacts {
            frames: self.frames,
            tcp_segments: self.tcp_segments,
            frames_skipped: self.skipped.into_iter().collect(),
            duration: self
                .clock
                .span()
                .map_or(0.0, |(first, last)| round_us(last.secs_since(first))),
            start: self
                .clock
                .span()
                .map_or(Timestamp::default(), |(first, _)| first),
            late_segments: self.table.late_segments(),
            evictions: self.table.evictions(),
            ip_fragments: self.defrag.stats(),
            frames_out_of_order: self.clock.out_of_order(),
            anomalies: self.capture_anomalies,
            anomalies_dropped: self.capture_anomalies_dropped,
            anomaly_counts: self.capture_anomaly_counts,
        };
        let mut summary = self.summary.finish(capture);
        summary.filtered_out = self.filter.map(|f| f.out);
        let findings = self.findings.finish(&summary);
        let outcome = Outcome {
            header: report::Header {
                format_version: report::FORMAT_VERSION,
                tool: report::Tool {
                    name: env!("CARGO_PKG_NAME"),
                    version: env!("CARGO_PKG_VERSION"),
                },
                inputs: self.inputs,
            },
            summary,
            findings,
        };
        (outcome, self.sink)
    }
}

/// Hands the exchanges of `t` that have settled to the verdict's fold, the
/// findings and the sink.
fn settle_exchanges<S: Sink>(
    t: &mut Tracked<ConnState>,
    sink: &mut S,
    findings: &mut FindingsBuilder,
) {
    let wants = sink.wants_exchanges();
    let Tracked { conn, user, .. } = t;
    let ConnState { app, fold, digest } = user;
    app.settle(&mut |i, ex, next| {
        let persistent = fold.settle(conn, i, &ex, next);
        let rep = report::build::exchange_report(&ex, conn.first, persistent);
        let stale = stale_request(conn, &ex);
        findings.exchange(digest, &conn.server, conn.id, &rep, stale);
        if wants {
            sink.exchange(conn.id, i + 1, rep);
        }
    });
}

/// Whether this exchange's request went out after the server's FIN (the
/// stale-reuse race; the verdict's `request_after_peer_fin`).
fn stale_request(conn: &crate::tcp::Connection, ex: &crate::http::Exchange) -> bool {
    match (&ex.request, conn.sides.server.fin) {
        (Some(r), Some(fin)) => r.timing.start > fin,
        _ => false,
    }
}

/// A connection is over (closed and lingered, reused, or the capture ended):
/// flush its streams into the HTTP session and judge it over the exchanges
/// not settled yet. Returns its report and what the findings need of its
/// exchanges (the last of which go through the findings here).
fn conclude(
    t: Box<Tracked<ConnState>>,
    findings: &mut FindingsBuilder,
) -> (ConnectionReport, report::findings::Digest) {
    let evicted = t.evicted;
    let Tracked { mut conn, user, .. } = *t;
    let ConnState {
        mut app,
        fold,
        mut digest,
    } = user;
    let end = conn.last;
    conn.flush(end, &mut |dir, ev| app.on_event(dir, ev, end));
    app.finish(end);
    let t = app.http().stats().tunnel_bytes;
    let tunnel = crate::types::PerRole {
        client: t[0],
        server: t[1],
    };
    app.http_mut().make_contiguous();
    let window = app.http().exchanges().as_slices().0;
    let verdict = verdict::judge(&conn, fold, window, tunnel, evicted);
    let c = report::build::connection(&conn, app.http(), window, verdict);
    for (ex, rep) in window.iter().zip(&c.exchanges) {
        findings.exchange(
            &mut digest,
            &conn.server,
            conn.id,
            rep,
            stale_request(&conn, ex),
        );
    }
    (c, digest)
}

/// Inputs kept open between checking them and reading them; past this
/// many, files are checked, closed, and opened again when their turn comes
/// (rotated capture sets can have thousands).
const MAX_OPEN_INPUTS: usize = 64;

/// Opens and sniffs every input before any is analysed, so that a missing
/// or unreadable input fails the run at once, not after minutes of work on
/// the ones before it. Returns the readers kept open (`None` for a file to
/// reopen when read).
pub fn open_inputs(inputs: &[Input]) -> Result<Vec<Option<CaptureReader>>, CaptureError> {
    if inputs.iter().filter(|i| matches!(i, Input::Stdin)).count() > 1 {
        return Err(CaptureError::StdinTwice);
    }
    let keep = inputs.len() <= MAX_OPEN_INPUTS;
    inputs
        .iter()
        .map(|i| {
            let r = CaptureReader::open(i)?;
            Ok((keep || matches!(i, Input::Stdin)).then_some(r))
        })
        .collect()
}

/// Analyses inputs in order as one capture. Every input is opened and
/// checked first (see [`open_inputs`]).
pub fn analyze(inputs: &[Input], opts: Options) -> Result<Report, CaptureError> {
    analyze_filtered(inputs, opts, Filter::default())
}

/// [`analyze`], keeping only the connections `filter` keeps.
pub fn analyze_filtered(
    inputs: &[Input],
    opts: Options,
    filter: Filter,
) -> Result<Report, CaptureError> {
    let readers = open_inputs(inputs)?;
    let mut a = Analyzer::new(opts);
    a.set_filter(filter);
    for (input, reader) in inputs.iter().zip(readers) {
        match reader {
            Some(r) => a.read_from(r, input.display_name()),
            None => a.read(input)?,
        }
    }
    Ok(a.finish())
}
