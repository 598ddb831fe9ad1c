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
use crate::capture::merge::CaptureSet;
use crate::capture::{CaptureError, CaptureReader, Input};
use crate::clock::{Clock, Jump};
use crate::decode::{self, Decoded, Segment};
use crate::defrag::Defrag;
use crate::engine::{Engine, Events, FilterState};
use crate::filter::Filter;
use crate::report::build::SummaryBuilder;
use crate::report::findings::FindingsBuilder;
use crate::report::{self, ConnectionReport, ExchangeReport, InputReport, Report};
use crate::tcp::TcpConfig;
use crate::types::{Anomaly, At, MAX_ANOMALIES_PER_CONNECTION, Timestamp, human_secs, round_us};

/// Tunables of a run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The TCP layer's.
    pub tcp: TcpConfig,
    /// Worker threads for the per-connection analysis (1: none, the
    /// reading thread does it all). The report is the same byte for byte
    /// whatever the number, as long as the memory bounds do not bite (each
    /// worker gets its share of `--memory-budget` and `--max-connections`).
    pub threads: usize,
    /// The reorder window, ns of capture time (see [`crate::capture::merge`]):
    /// frames out of time order by less than this are analysed in order.
    pub reorder_window_ns: u64,
    /// TLS secrets (`--keylog` files, merged), shared by every connection
    /// and worker; the Decryption Secrets Blocks of pcapng inputs are added
    /// to them as they are read.
    pub keylog: Option<std::sync::Arc<crate::tls::KeyLog>>,
    /// What reading each key log file gave (the report's `keylogs`).
    pub keylog_sources: Vec<report::tls::KeyLogReport>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tcp: TcpConfig {
                role_hint: Some(crate::http::role_hint),
                ..TcpConfig::default()
            },
            threads: 1,
            reorder_window_ns: crate::capture::merge::DEFAULT_WINDOW_NS,
            keylog: None,
            keylog_sources: Vec::new(),
        }
    }
}

/// How far a run has got, for a progress display ([`Analyzer::read_set_with`]).
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Bytes of the inputs read (on disk).
    pub bytes_read: u64,
    /// The inputs' sizes, when all are regular files.
    pub bytes_total: Option<u64>,
    /// Frames analysed so far.
    pub frames: u64,
    /// Connections open now.
    pub open_connections: usize,
}

/// Frames between two calls of the progress hook.
pub const PROGRESS_EVERY: u32 = 8192;

impl Options {
    /// Reads `--keylog` files (in order; later secrets win). A file that
    /// cannot be read is an error naming it; malformed lines are counted
    /// per file (see [`report::tls::KeyLogReport`]), never fatal.
    pub fn read_keylogs(&mut self, files: &[std::path::PathBuf]) -> Result<(), String> {
        if files.is_empty() {
            return Ok(());
        }
        let mut all = self.keylog.as_deref().cloned().unwrap_or_default();
        for f in files {
            let name = f.display().to_string();
            let bytes =
                std::fs::read(f).map_err(|e| format!("--keylog {name}: cannot read: {e}"))?;
            let log = crate::tls::KeyLog::parse(&bytes, &name);
            self.keylog_sources
                .push(report::tls::KeyLogReport::of(&name, &log));
            all.merge(log);
        }
        self.keylog = Some(std::sync::Arc::new(all));
        Ok(())
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

/// What the per-connection analysis hands to the run's front: the sink,
/// the summary and the findings, folded in the engine's order.
pub(crate) struct Front<S: Sink> {
    pub(crate) sink: S,
    summary: SummaryBuilder,
    findings: FindingsBuilder,
    /// What the findings need of each open connection's exchanges.
    digests: rustc_hash::FxHashMap<u64, report::findings::Digest>,
}

impl<S: Sink> Front<S> {
    fn new(sink: S) -> Self {
        Front {
            sink,
            summary: SummaryBuilder::new(),
            findings: FindingsBuilder::new(),
            digests: Default::default(),
        }
    }
}

impl<S: Sink> Events for Front<S> {
    fn wants_exchanges(&self) -> bool {
        self.sink.wants_exchanges()
    }

    fn exchange(
        &mut self,
        id: u64,
        server: std::net::SocketAddr,
        n: u64,
        ex: ExchangeReport,
        stale: bool,
    ) {
        let d = self.digests.entry(id).or_default();
        self.findings
            .exchange(d, || crate::types::addr_text(server), id, &ex, stale);
        if self.sink.wants_exchanges() {
            self.sink.exchange(id, n, ex);
        }
    }

    fn concluded(&mut self, c: ConnectionReport, stale: Vec<bool>) {
        let mut d = self.digests.remove(&c.id).unwrap_or_default();
        for (ex, stale) in c.exchanges.iter().zip(stale) {
            self.findings
                .exchange(&mut d, || c.server.clone(), c.id, ex, stale);
        }
        self.summary.add(&c);
        self.findings.add(&c, &d);
        self.sink.connection(c);
    }
}

/// Where segments go: one engine, or worker threads.
enum Backend {
    Local(Box<Engine>),
    Threads(Box<crate::threads::Pool>),
}

/// Reads captures frame by frame, hands what concludes to its sink, and
/// folds the summary and findings from it.
pub struct Analyzer<S: Sink = Collect> {
    backend: Backend,
    front: Front<S>,
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
    /// The per-segment filter pre-check (the decision at conclusion is the
    /// engine's).
    prefilter: Option<Box<FilterState>>,
    opts: Options,
    /// The key log in force (`--keylog` and the Decryption Secrets Blocks
    /// read so far).
    keys: Option<std::sync::Arc<crate::tls::KeyLog>>,
    /// The key logs read, for the header.
    keylogs: Vec<report::tls::KeyLogReport>,
}

/// The backend of a run: one engine, or worker threads.
fn backend(opts: &Options, filter: Filter) -> Backend {
    if opts.threads > 1 {
        let mut p = crate::threads::Pool::new(opts.threads, opts.tcp, filter);
        if opts.keylog.is_some() {
            p.set_keys(opts.keylog.clone(), &mut NoEvents);
        }
        Backend::Threads(Box::new(p))
    } else {
        let mut e = Engine::new(opts.tcp, filter);
        e.set_keys(opts.keylog.clone());
        Backend::Local(Box::new(e))
    }
}

/// Receives nothing (a pool before its first segment has nothing to give).
struct NoEvents;

impl Events for NoEvents {
    fn exchange(&mut self, _: u64, _: std::net::SocketAddr, _: u64, _: ExchangeReport, _: bool) {}
    fn concluded(&mut self, _: ConnectionReport, _: Vec<bool>) {}
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
        let backend = backend(&opts, Filter::default());
        Analyzer {
            backend,
            front: Front::new(sink),
            frames: 0,
            tcp_segments: 0,
            skipped: Default::default(),
            inputs: Vec::new(),
            clock: Clock::new(),
            defrag: Defrag::new(),
            capture_anomalies: Vec::new(),
            capture_anomalies_dropped: 0,
            capture_anomaly_counts: BTreeMap::new(),
            prefilter: None,
            keys: opts.keylog.clone(),
            keylogs: opts.keylog_sources.clone(),
            opts,
        }
    }

    /// Connections tracked now (with threads: as of the last batch).
    pub fn open_connections(&self) -> usize {
        match &self.backend {
            Backend::Local(e) => e.open_connections(),
            Backend::Threads(p) => p.open_connections(),
        }
    }

    /// Analyses and reports only the connections `filter` keeps (see
    /// [`crate::filter`]); the summary's `filtered_out` says what it left
    /// out. Call before the first frame.
    pub fn set_filter(&mut self, filter: Filter) {
        self.prefilter = FilterState::new(filter.clone());
        self.backend = backend(&self.opts, filter);
    }

    /// Reads one whole input. Errors that keep the input from being read at
    /// all (cannot open, not a capture) are returned; a file cut off or
    /// corrupt part-way is recorded in the report and what came before it
    /// stands. A directory is read as a rotated set (see
    /// [`crate::capture::merge`]).
    pub fn read(&mut self, input: &Input) -> Result<(), CaptureError> {
        let set = CaptureSet::open(std::slice::from_ref(input))?;
        self.read_set(set);
        Ok(())
    }

    /// Reads every frame an opened reader gives (see [`Analyzer::read`]).
    pub fn read_from(&mut self, reader: CaptureReader, name: String) {
        self.read_set(CaptureSet::from_reader(reader, name));
    }

    /// Reads a set of inputs as one capture, merged in timestamp order
    /// through the reorder window (see [`crate::capture::merge`]).
    pub fn read_set(&mut self, set: CaptureSet) {
        self.read_set_with(set, &mut |_| {});
    }

    /// [`Analyzer::read_set`], calling `progress` every
    /// [`PROGRESS_EVERY`] frames.
    pub fn read_set_with(&mut self, set: CaptureSet, progress: &mut dyn FnMut(Progress)) {
        let mut merged = set.merge(self.opts.reorder_window_ns);
        let mut tick = PROGRESS_EVERY;
        while let Some(mut frame) = merged.next_frame() {
            if let Some(keys) = frame.secrets.take() {
                self.add_keys(keys);
            }
            self.frame(frame.linktype, frame.data, frame.ts);
            tick -= 1;
            if tick == 0 {
                tick = PROGRESS_EVERY;
                progress(Progress {
                    bytes_read: merged.bytes_read(),
                    bytes_total: merged.bytes_total(),
                    frames: self.frames,
                    open_connections: self.open_connections(),
                });
            }
        }
        progress(Progress {
            bytes_read: merged.bytes_read(),
            bytes_total: merged.bytes_total(),
            frames: self.frames,
            open_connections: self.open_connections(),
        });
        self.keylogs.extend(merged.keylog_reports());
        self.inputs.extend(merged.finish());
    }

    /// Secrets read from a capture (Decryption Secrets Blocks): merged into
    /// the key log in force, for the connections created from now on.
    fn add_keys(&mut self, new: crate::tls::KeyLog) {
        let mut all = self.keys.as_deref().cloned().unwrap_or_default();
        all.merge(new);
        let keys = Some(std::sync::Arc::new(all));
        self.keys = keys.clone();
        match &mut self.backend {
            Backend::Local(e) => e.set_keys(keys),
            Backend::Threads(p) => p.set_keys(keys, &mut self.front),
        }
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
                if self
                    .prefilter
                    .as_mut()
                    .is_some_and(|f| !f.segment(seg.src, seg.dst))
                {
                    return;
                }
                self.tcp_segments += 1;
                self.segment(&seg, crate::threads::Raw::Frame(linktype, data), at, now);
            }
            Ok(Decoded::Fragment(f)) => {
                if let Some(datagram) = self.defrag.push(&f, at, now) {
                    match decode::reassembled(f.src, f.dst, &datagram) {
                        Ok(seg) => self.segment(
                            &seg,
                            crate::threads::Raw::Datagram(f.src, f.dst, &datagram),
                            at,
                            now,
                        ),
                        Err(_) => self.defrag.malformed(),
                    }
                }
                self.defrag_dropped();
            }
            Err(skip) => *self.skipped.entry(skip).or_insert(0) += 1,
        }
    }

    /// One segment to the backend; `raw`: what it was read from (the
    /// threads send bytes, not borrowed segments).
    fn segment(&mut self, seg: &Segment<'_>, raw: crate::threads::Raw<'_>, at: At, now: Timestamp) {
        let start = self.clock.span().map_or(Timestamp::default(), |s| s.0);
        match &mut self.backend {
            Backend::Local(e) => e.segment(seg, at, now, start, &mut self.front),
            Backend::Threads(p) => p.segment(seg, raw, at, now, start, &mut self.front),
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
        let start = self.clock.span().map_or(Timestamp::default(), |s| s.0);
        let (late, evictions, filtered) = match &mut self.backend {
            Backend::Local(e) => {
                e.finish(start, &mut self.front);
                (e.late_segments(), e.evictions(), e.filtered_out())
            }
            Backend::Threads(p) => p.finish(start, &mut self.front),
        };
        let capture = report::build::CaptureFacts {
            frames: self.frames,
            tcp_segments: self.tcp_segments,
            frames_skipped: self.skipped.into_iter().collect(),
            duration: self
                .clock
                .span()
                .map_or(0.0, |(first, last)| round_us(last.secs_since(first))),
            start,
            late_segments: late,
            evictions,
            ip_fragments: self.defrag.stats(),
            frames_out_of_order: self.clock.out_of_order(),
            anomalies: self.capture_anomalies,
            anomalies_dropped: self.capture_anomalies_dropped,
            anomaly_counts: self.capture_anomaly_counts,
        };
        let mut summary = self.front.summary.finish(capture);
        summary.filtered_out = match (self.prefilter, filtered) {
            (Some(pre), Some(mut judged)) => {
                judged.connections += pre.out.connections;
                judged.frames += pre.out.frames;
                Some(judged)
            }
            _ => None,
        };
        let findings = self.front.findings.finish(&summary);
        let outcome = Outcome {
            header: report::Header {
                format_version: report::FORMAT_VERSION,
                tool: report::Tool {
                    name: env!("CARGO_PKG_NAME"),
                    version: env!("CARGO_PKG_VERSION"),
                },
                inputs: self.inputs,
                keylogs: self.keylogs,
            },
            summary,
            findings,
        };
        (outcome, self.front.sink)
    }
}

/// Opens and checks every input before any is analysed, so that a missing
/// or unreadable input fails the run at once, not after minutes of work on
/// the ones before it; directories stand for the captures in them (see
/// [`CaptureSet::open`]).
pub fn open_inputs(inputs: &[Input]) -> Result<CaptureSet, CaptureError> {
    CaptureSet::open(inputs)
}

/// Analyses inputs as one capture, merged in timestamp order (see
/// [`crate::capture::merge`]). Every input is opened and checked first
/// (see [`open_inputs`]).
pub fn analyze(inputs: &[Input], opts: Options) -> Result<Report, CaptureError> {
    analyze_filtered(inputs, opts, Filter::default())
}

/// [`analyze`], keeping only the connections `filter` keeps.
pub fn analyze_filtered(
    inputs: &[Input],
    opts: Options,
    filter: Filter,
) -> Result<Report, CaptureError> {
    let set = open_inputs(inputs)?;
    let mut a = Analyzer::new(opts);
    a.set_filter(filter);
    a.read_set(set);
    Ok(a.finish())
}
