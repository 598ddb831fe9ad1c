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
    /// With worker threads, the connections still open at the end conclude
    /// this many at a time (see [`crate::threads`]); the report is the same
    /// whatever it is.
    pub finish_part: usize,
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
            finish_part: crate::threads::FINISH_PART,
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
    /// A renderer of exchanges for worker threads, if the sink renders
    /// them: with one, `--threads` renders settled exchanges on the workers
    /// and hands the bytes to [`Sink::exchange_rendered`] (see
    /// [`crate::threads`]).
    fn exchange_renderer(&self) -> Option<Box<dyn report::render::ExchangeRender>> {
        None
    }
    /// The `n`th exchange of the open connection `conn`, rendered by a
    /// renderer from [`Sink::exchange_renderer`].
    fn exchange_rendered(&mut self, conn: u64, n: u64, bytes: &[u8]) {
        let _ = (conn, n, bytes);
    }
    /// A concluded connection rendered on a worker by a renderer from
    /// [`Sink::exchange_renderer`]: `more`, its own exchanges (those not
    /// handed out before), and its `head` and `tail`. The report is lent:
    /// the worker that built it frees it (its allocator's own memory).
    fn connection_rendered(&mut self, c: &ConnectionReport, head: &[u8], more: &[u8], tail: &[u8]) {
        let _ = (head, more, tail);
        self.connection(c.clone());
    }
    /// A concluded connection.
    fn connection(&mut self, c: ConnectionReport);
    /// Whether the sink takes concluded connections lent
    /// ([`Sink::connection_lent`]): with `--threads`, the worker that built
    /// a report then frees it (glibc's frees of another thread's memory are
    /// slow, and on the reading thread, which all the others wait on).
    fn borrows_connections(&self) -> bool {
        false
    }
    /// A concluded connection, lent (called only if
    /// [`Sink::borrows_connections`]).
    fn connection_lent(&mut self, c: &ConnectionReport) {
        self.connection(c.clone());
    }
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

impl<S: Sink> crate::threads::PoolFront for Front<S> {
    fn exchange_facts(
        &mut self,
        id: u64,
        server: std::net::SocketAddr,
        n: u64,
        facts: &report::findings::ExchangeFacts,
        full: Option<Box<ExchangeReport>>,
        rendered: &[u8],
        stale: bool,
    ) {
        self.facts_to_findings(id, server, facts, stale, || full);
        if self.sink.wants_exchanges() {
            self.sink.exchange_rendered(id, n, rendered);
        }
    }

    fn concluded_rendered(
        &mut self,
        c: &ConnectionReport,
        stale: Vec<bool>,
        head: &[u8],
        more: &[u8],
        tail: &[u8],
    ) {
        self.fold_concluded(c, stale);
        self.sink.connection_rendered(c, head, more, tail);
    }

    fn borrows_concluded(&self) -> bool {
        self.sink.borrows_connections()
    }

    fn concluded_lent(&mut self, c: &ConnectionReport, stale: Vec<bool>) {
        self.fold_concluded(c, stale);
        self.sink.connection_lent(c);
    }
}

impl<S: Sink> Front<S> {
    /// A concluded connection into the summary and the findings, with the
    /// exchanges it still holds folded into its digest first.
    fn fold_concluded(&mut self, c: &ConnectionReport, stale: Vec<bool>) {
        let mut d = self.digests.remove(&c.id).unwrap_or_default();
        for (ex, stale) in c.exchanges.iter().zip(stale) {
            self.findings
                .exchange(&mut d, || c.server.clone(), c.id, ex, stale);
        }
        self.summary.add(c);
        self.findings.add(c, &d);
    }

    /// What the findings read of an exchange of open connection `id`;
    /// `full`: its whole report, if it is given.
    fn facts_to_findings(
        &mut self,
        id: u64,
        server: std::net::SocketAddr,
        facts: &report::findings::ExchangeFacts,
        stale: bool,
        full: impl FnOnce() -> Option<Box<ExchangeReport>>,
    ) {
        let d = self.digests.entry(id).or_default();
        self.findings.exchange_facts(
            d,
            || crate::types::addr_text(server),
            id,
            facts,
            stale,
            full,
        );
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

    fn exchange_lazy(
        &mut self,
        id: u64,
        server: std::net::SocketAddr,
        n: u64,
        facts: &report::findings::ExchangeFacts,
        build: impl FnOnce() -> ExchangeReport,
        stale: bool,
    ) {
        if self.sink.wants_exchanges() {
            return self.exchange(id, server, n, build(), stale);
        }
        self.facts_to_findings(id, server, facts, stale, || Some(Box::new(build())));
    }

    fn concluded(&mut self, c: ConnectionReport, stale: Vec<bool>) {
        self.fold_concluded(&c, stale);
        self.sink.connection(c);
    }
}

/// Where segments go: one engine, or worker threads (the reading thread
/// of `--threads`: segments go to the pool, see [`crate::threads`]).
enum Backend {
    Local(Box<Engine>),
    Threads(Box<crate::threads::Pool>),
}

/// What the filter left out: the pre-check's flows and frames plus the
/// connections left out when they concluded.
pub(crate) fn filtered_total(
    pre: Option<crate::filter::FilteredOut>,
    judged: Option<crate::filter::FilteredOut>,
) -> Option<crate::filter::FilteredOut> {
    match (pre, judged) {
        (Some(pre), Some(mut judged)) => {
            judged.connections += pre.connections;
            judged.frames += pre.frames;
            Some(judged)
        }
        _ => None,
    }
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
fn backend(opts: &Options, filter: Filter, sink: &impl Sink) -> Backend {
    if opts.threads > 1 {
        let wants = sink.wants_exchanges();
        let renderers = (0..opts.threads)
            .map(|_| sink.exchange_renderer())
            .collect();
        Backend::Threads(Box::new(crate::threads::Pool::new(
            opts, filter, wants, renderers,
        )))
    } else {
        let mut e = Engine::new(opts.tcp, filter);
        e.set_keys(opts.keylog.clone());
        Backend::Local(Box::new(e))
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
        let backend = backend(&opts, Filter::default(), &sink);
        Analyzer::with_backend(opts, sink, backend)
    }

    fn with_backend(opts: Options, sink: S, backend: Backend) -> Self {
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
        self.backend = backend(&self.opts, filter, &self.front.sink);
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
                self.add_keys(*keys);
            }
            self.frame_from(frame.linktype, frame.data, frame.ts, frame.backing);
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
        self.set_keys_in_force(Some(std::sync::Arc::new(all)));
    }

    /// The key log for the connections created from the next frame on.
    pub(crate) fn set_keys_in_force(&mut self, keys: Option<std::sync::Arc<crate::tls::KeyLog>>) {
        self.keys = keys.clone();
        match &mut self.backend {
            Backend::Local(e) => e.set_keys(keys),
            Backend::Threads(p) => p.set_keys(keys),
        }
    }

    /// Analyses one frame. Frame numbers count across all inputs.
    pub fn frame(&mut self, linktype: u32, data: &[u8], ts: Timestamp) {
        self.frame_from(linktype, data, ts, None);
    }

    /// [`Analyzer::frame`]; `backing`: the shared bytes `data` is in, and
    /// where (worker threads read it there instead of a copy).
    fn frame_from(
        &mut self,
        linktype: u32,
        data: &[u8],
        ts: Timestamp,
        backing: Option<(&crate::capture::Whole, usize)>,
    ) {
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
                self.segment(&seg, at, now, data, backing);
            }
            Ok(Decoded::Fragment(f)) => {
                if let Some(datagram) = self.defrag.push(&f, at, now) {
                    match decode::reassembled(f.src, f.dst, &datagram) {
                        Ok(seg) => self.segment(&seg, at, now, data, backing),
                        Err(_) => self.defrag.malformed(),
                    }
                }
                self.defrag_dropped();
            }
            Err(skip) => *self.skipped.entry(skip).or_insert(0) += 1,
        }
    }

    /// One segment to the backend; `data`: the frame it was decoded from,
    /// `backing`: where that is in a shared input (see
    /// [`Analyzer::frame_from`]).
    fn segment(
        &mut self,
        seg: &Segment<'_>,
        at: At,
        now: Timestamp,
        data: &[u8],
        backing: Option<(&crate::capture::Whole, usize)>,
    ) {
        let start = self.clock.span().map_or(Timestamp::default(), |s| s.0);
        match &mut self.backend {
            Backend::Local(e) => e.segment(seg, at, now, start, &mut self.front),
            Backend::Threads(p) => p.segment(seg, at, now, start, data, backing, &mut self.front),
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
        let (capture, pre, judged) = self.finish_frames();
        let filtered = filtered_total(pre, judged);
        let mut summary = self.front.summary.finish(capture);
        summary.filtered_out = filtered;
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

    /// The end of the frame-level work: fragments never completed are
    /// counted, every connection still tracked is concluded; the capture's
    /// counters, what the pre-check and the engines left out.
    fn finish_frames(
        &mut self,
    ) -> (
        report::build::CaptureFacts,
        Option<crate::filter::FilteredOut>,
        Option<crate::filter::FilteredOut>,
    ) {
        self.defrag.finish();
        self.defrag_dropped();
        let start = self.clock.span().map_or(Timestamp::default(), |s| s.0);
        let (late, evictions, judged) = match &mut self.backend {
            Backend::Local(e) => {
                e.finish(start, &mut self.front);
                (e.late_segments(), e.evictions(), e.filtered_out())
            }
            Backend::Threads(p) => p.finish(start, &mut self.front),
        };
        let capture = report::build::CaptureFacts {
            frames: self.frames,
            tcp_segments: self.tcp_segments,
            frames_skipped: std::mem::take(&mut self.skipped).into_iter().collect(),
            duration: self
                .clock
                .span()
                .map_or(0.0, |(first, last)| round_us(last.secs_since(first))),
            start,
            late_segments: late,
            evictions,
            ip_fragments: self.defrag.stats(),
            frames_out_of_order: self.clock.out_of_order(),
            anomalies: std::mem::take(&mut self.capture_anomalies),
            anomalies_dropped: self.capture_anomalies_dropped,
            anomaly_counts: std::mem::take(&mut self.capture_anomaly_counts),
        };
        let pre = self.prefilter.take().map(|p| p.out);
        (capture, pre, judged)
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
