//! The one place that connects the stages: frames -> segments -> connections
//! -> HTTP sessions -> connection reports.

use std::collections::BTreeMap;

use crate::app::AppSession;
use crate::capture::{CaptureError, CaptureReader, Input};
use crate::decode::{self, Segment};
use crate::filter::{Filter, FilteredOut};
use crate::report::{self, ConnectionReport, InputReport, Report};
use crate::tcp::{FlowTable, TcpConfig, Tracked};
use crate::types::{At, Timestamp};
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

/// Reads captures frame by frame and builds the report. Memory follows the
/// connections open at a time plus one small report per connection.
pub struct Analyzer {
    table: FlowTable<AppSession>,
    finished: Vec<ConnectionReport>,
    frames: u64,
    tcp_segments: u64,
    skipped: rustc_hash::FxHashMap<crate::decode::Skip, u64>,
    inputs: Vec<InputReport>,
    first_ts: Option<Timestamp>,
    last: At,
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

/// Concludes `t` into `finished` unless the filter leaves it out.
fn take(
    t: Tracked<AppSession>,
    filter: &mut Option<Box<FilterState>>,
    start: Timestamp,
    finished: &mut Vec<ConnectionReport>,
) {
    if filter.as_mut().is_none_or(|f| f.keeps(&t.conn, start)) {
        finished.push(conclude(t));
    }
}

impl Analyzer {
    pub fn new(opts: Options) -> Self {
        Analyzer {
            table: FlowTable::new(opts.tcp),
            finished: Vec::new(),
            frames: 0,
            tcp_segments: 0,
            skipped: Default::default(),
            inputs: Vec::new(),
            first_ts: None,
            last: At::default(),
            filter: None,
        }
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
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last = at;
        match decode::decode(linktype, data) {
            Ok(seg) => {
                if self.filter.as_mut().is_some_and(|f| !f.segment(&seg)) {
                    return;
                }
                self.tcp_segments += 1;
                self.segment(&seg, at);
            }
            Err(skip) => *self.skipped.entry(skip).or_insert(0) += 1,
        }
    }

    fn segment(&mut self, seg: &Segment<'_>, at: At) {
        let (finished, filter) = (&mut self.finished, &mut self.filter);
        let start = self.first_ts.unwrap_or_default();
        let mut done = |t: Tracked<AppSession>| take(t, filter, start, finished);
        let Tracked { conn, user } = self.table.lookup(seg, at, AppSession::new, &mut done);
        conn.segment(seg, at, &mut |dir, ev| user.on_event(dir, ev, at));
        self.table.expire(at.ts, &mut done);
    }

    /// Ends the run: every connection still in the table is concluded.
    pub fn finish(mut self) -> Report {
        let (finished, filter) = (&mut self.finished, &mut self.filter);
        let start = self.first_ts.unwrap_or_default();
        self.table
            .drain(&mut |t: Tracked<AppSession>| take(t, filter, start, finished));
        self.finished.sort_by_key(|c| c.id);
        let mut summary = report::build::summary(
            &self.finished,
            self.frames,
            self.tcp_segments,
            self.skipped.into_iter().collect(),
            self.first_ts
                .map_or(0.0, |f| crate::types::round_us(self.last.ts.secs_since(f))),
        );
        summary.filtered_out = self.filter.map(|f| f.out);
        Report {
            header: report::Header {
                format_version: report::FORMAT_VERSION,
                tool: report::Tool {
                    name: env!("CARGO_PKG_NAME"),
                    version: env!("CARGO_PKG_VERSION"),
                },
                inputs: self.inputs,
            },
            summary,
            connections: self.finished,
        }
    }
}

/// A connection is over (closed and lingered, reused, or the capture ended):
/// flush its streams into the HTTP session and judge it.
fn conclude(t: Tracked<AppSession>) -> ConnectionReport {
    let Tracked { mut conn, mut user } = t;
    let end = conn.last;
    conn.flush(end, &mut |dir, ev| user.on_event(dir, ev, end));
    user.finish(end);
    let verdict = verdict::judge(&conn, user.http().exchanges());
    report::build::connection(&conn, user.http(), verdict)
}

/// Analyses inputs in order as one capture.
pub fn analyze(inputs: &[Input], opts: Options) -> Result<Report, CaptureError> {
    analyze_filtered(inputs, opts, Filter::default())
}

/// [`analyze`], keeping only the connections `filter` keeps.
pub fn analyze_filtered(
    inputs: &[Input],
    opts: Options,
    filter: Filter,
) -> Result<Report, CaptureError> {
    let mut a = Analyzer::new(opts);
    a.set_filter(filter);
    for input in inputs {
        a.read(input)?;
    }
    Ok(a.finish())
}
