//! `--threads N`: the per-connection analysis on worker threads, with a
//! report byte-identical to a single-threaded run.
//!
//! The reading thread reads and decodes: it merges the inputs (see
//! [`crate::capture::merge`]) and does what a single-threaded run does per
//! frame before the per-connection analysis (the clock, decoding, IP
//! reassembly, the filter's pre-check, the capture's counters), once. Each
//! TCP segment goes, in windows of up to [`WINDOW`] segments, to the worker
//! its five-tuple hashes to (symmetric, so both directions go to the same
//! worker), decoded, its payload a place in the shared memory map of the
//! input (not copied) or, for streams (standard input, gzip) and payloads
//! reassembled from IP fragments, copied once into the window.
//!
//! Each worker runs the TCP and HTTP analysis on its segments. Every
//! segment's clock is in the window too, for every worker: at the other
//! workers' segments a worker only "ticks" its flow table, so that its
//! connections expire (close linger, idle and handshake timeouts,
//! tombstones) at exactly the frames they would in one flow table. It
//! ticks only where the clock reaches its next deadline
//! ([`Engine::next_due`]; the clock never goes back, so that place is
//! found by bisection): before it a tick changes nothing.
//!
//! What the workers produce (connections created, exchanges settled,
//! connections concluded, each with the frame it happened at) comes back
//! per window (windows are sized so that their results stay near
//! `RESULTS_TARGET`, 4 MiB). When the output's renderer can run on a worker
//! ([`crate::report::render::ExchangeRender`]: JSON, NDJSON, the text
//! report's exchange lines), exchanges (and, for JSON and NDJSON, whole
//! connections) come back rendered,
//! with what the findings read of them; the reading thread only writes the
//! connection's id into its head. The reading thread merges it all in the
//! single-threaded order: by frame; within a frame the connection created, then its
//! exchanges, then the connections concluded in id order. Connection ids
//! are given there, in order of creation (of first packet), as one flow
//! table gives them; the summary, the findings and the output see the same
//! sequence as with one thread.
//!
//! The bounds (`--memory-budget`, `--max-connections`) are shared out:
//! each worker gets its part. Where they bite, which connections are
//! evicted can depend on the number of threads.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rustc_hash::FxHashMap;

use crate::analyzer::Options;
use crate::capture::Whole;
use crate::decode::{Segment, TcpFlags};
use crate::engine::{Engine, Events};
use crate::filter::{Filter, FilteredOut};
use crate::report::findings::ExchangeFacts;
use crate::report::render::ExchangeRender;
use crate::report::{ConnectionReport, ExchangeReport};
use crate::tcp::flow::Evictions;
use crate::types::{At, Timestamp};

/// Segments per window.
pub const WINDOW: usize = 2048;
/// Bytes copied into a window (payloads of streams) before it is sent:
/// with [`IN_FLIGHT`] windows out and one being filled, at most 32 MiB (and
/// a frame) wait for the workers, whatever the frames' size (loopback
/// captures have 64 KiB frames; 2,048 of those would be 128 MiB a window).
const WINDOW_BYTES: usize = 8 << 20;
/// What a window's results should weigh, over all workers: the next
/// windows have as many segments as the last one merged had results for
/// this (between [`MIN_WINDOW`] and [`WINDOW`] segments), growing at most
/// twofold a window from [`FIRST_WINDOW`]. Results can be far larger than
/// the frames (a segment of pipelined GETs settles dozens of exchanges,
/// each rendered): 4,096 such frames were 73 MiB of results a window. A
/// burst after quiet windows still weighs what its window's segments
/// settle, once.
const RESULTS_TARGET: usize = 4 << 20;
const MIN_WINDOW: usize = 16;
const FIRST_WINDOW: usize = 256;
/// What a concluded connection or a whole exchange is taken to weigh on the
/// heap, for [`RESULTS_TARGET`].
const REPORT_WEIGHT: usize = 2048;
/// Windows in flight before the reading thread waits for results.
const IN_FLIGHT: usize = 3;
/// How many of its segments ahead of the one it analyses a worker
/// prefetches the payload of, and how many of their first bytes (the
/// heads the analysis reads).
const PREFETCH_AHEAD: usize = 8;
const PREFETCH_BYTES: usize = 320;

/// [`SegRec::map`] of a payload copied into the window's own bytes.
const COPIED: u32 = u32::MAX;

/// One TCP segment of a window, decoded by the reading thread, for the
/// worker whose connection it is: a [`Segment`] without its payload, which
/// is at `off` of the window's `maps[map]` or (`map` [`COPIED`]) of its
/// own bytes. Kept small (120 bytes): every segment of the capture is
/// written once and read once on another core.
struct SegRec {
    src: SocketAddr,
    dst: SocketAddr,
    at: At,
    off: usize,
    seq: u32,
    ack: u32,
    payload_len: u32,
    /// The payload's captured length.
    len: u32,
    /// Its place in the window's [`Window::clocks`].
    pos: u32,
    map: u32,
    window: u16,
    flags: TcpFlags,
    wscale: Option<u8>,
}

/// The clock at one segment of a window, for every worker.
#[derive(Clone, Copy)]
struct Tick {
    frame: u64,
    /// The expiry clock (never goes back).
    now: Timestamp,
    /// The capture's earliest timestamp so far (for the filter).
    start: Timestamp,
}

/// Segments for the workers.
#[derive(Default)]
struct Window {
    /// The clock at every segment, in order.
    clocks: Vec<Tick>,
    /// Each worker's segments.
    own: Vec<Vec<SegRec>>,
    /// The payloads of segments that are not in a shared map.
    bytes: Vec<u8>,
    /// The shared inputs payloads are in (normally one).
    maps: Vec<Whole>,
    /// Key logs coming into force before the segment at each place in
    /// `clocks`.
    keys: Vec<(usize, Option<Arc<crate::tls::KeyLog>>)>,
}

impl Window {
    fn clear(&mut self) {
        self.clocks.clear();
        for o in &mut self.own {
            o.clear();
        }
        self.bytes.clear();
        self.maps.clear();
        self.keys.clear();
    }

    fn payload(&self, s: &SegRec) -> &[u8] {
        let all = match s.map {
            COPIED => Some(self.bytes.as_slice()),
            map => self.maps.get(map as usize).map(|m| m.bytes()),
        };
        all.and_then(|b| b.get(s.off..s.off + s.len as usize))
            .unwrap_or_default()
    }

    /// The segment `s` stands for.
    fn segment(&self, s: &SegRec) -> Segment<'_> {
        Segment {
            src: s.src,
            dst: s.dst,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            payload: self.payload(s),
            payload_len: s.payload_len,
            wscale: s.wscale,
        }
    }

    /// Asks the CPU to start loading the first bytes of a segment's
    /// payload (the heads the analysis reads).
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn prefetch(&self, s: Option<&SegRec>) {
        #[cfg(target_arch = "x86_64")]
        if let Some(s) = s {
            let d = self.payload(s);
            let d = d.get(..d.len().min(PREFETCH_BYTES)).unwrap_or_default();
            // SAFETY: prefetching is a hint with no effect on memory; the
            // pointers are into a live slice.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                for line in d.chunks(64) {
                    _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
                }
            }
        }
    }
}

/// What a worker gets.
enum Job {
    /// Frames, and empty buffers for the events of the next window (the
    /// buffers go round: a fresh one per window was page faults and
    /// zeroed pages, and copying as it grew).
    Window(Arc<Window>, Buffers),
    /// Conclude the connections still tracked whose local id is below
    /// this (the end of the run, a part at a time), with the capture's
    /// earliest timestamp (for the filter).
    /// With empty buffers for its events, as [`Job::Window`].
    FinishBelow(u64, Timestamp, Buffers),
    Finish(Timestamp),
}

/// What a worker reports, tagged with the frame it happened at.
enum Event {
    Created {
        local: u64,
    },
    Exchange {
        local: u64,
        server: SocketAddr,
        n: u64,
        ex: Box<ExchangeReport>,
        stale: bool,
    },
    /// An exchange, for a front that does not want the whole of it: what
    /// the findings read, the whole only when it is the connection's first
    /// with a request, and its rendering (`rendered`, in the window's
    /// [`Buffers::rendered`]) if the output wants it.
    Facts {
        local: u64,
        server: SocketAddr,
        n: u64,
        facts: ExchangeFacts,
        full: Option<Box<ExchangeReport>>,
        rendered: (usize, usize),
        stale: bool,
    },
    Concluded {
        c: Box<ConnectionReport>,
        stale: Vec<bool>,
        /// Its rendering, if the output's renderer renders connections on
        /// workers (in the window's [`Buffers::rendered`]).
        pre: Option<Box<Pre>>,
    },
}

/// A connection concluded at the frame being merged: global id, worker,
/// report, stale flags, rendering.
type Concluded = (
    u64,
    usize,
    Box<ConnectionReport>,
    Vec<bool>,
    Option<Box<Pre>>,
);

/// A connection rendered on a worker: ranges of [`Buffers::rendered`].
struct Pre {
    head: (usize, usize),
    /// Where in `head` the stand-in id ([`STAND_IN_ID`]) is.
    id_at: Option<usize>,
    more: (usize, usize),
    tail: (usize, usize),
}

/// The id workers render connections with, and as rendered; the reading
/// thread writes the connection's own id in its place.
const STAND_IN_ID: u64 = u64::MAX;
const STAND_IN: &str = "18446744073709551615";

/// What a worker hands back per window: its events, and the bytes of the
/// exchanges it rendered.
#[derive(Default)]
struct Buffers {
    events: Vec<(u64, Event)>,
    rendered: Vec<u8>,
    /// Reports the reading thread is done with, freed by the worker that
    /// built them (glibc's frees of another thread's memory were a fifth of
    /// the workers' time on captures of a million short connections).
    // The boxes themselves were allocated on the worker too.
    #[allow(clippy::vec_box)]
    garbage: Vec<Box<ConnectionReport>>,
}

/// What the reading thread's front does with [`Event::Facts`].
pub(crate) trait PoolFront: Events {
    /// A concluded connection rendered on a worker (see [`Pre`]).
    fn concluded_rendered(
        &mut self,
        c: &ConnectionReport,
        stale: Vec<bool>,
        head: &[u8],
        more: &[u8],
        tail: &[u8],
    );
    /// Whether concluded connections may be lent to
    /// [`PoolFront::concluded_lent`] (and then freed by their worker).
    fn borrows_concluded(&self) -> bool;
    /// A concluded connection, lent.
    fn concluded_lent(&mut self, c: &ConnectionReport, stale: Vec<bool>);
    /// The `n`th exchange of open connection `id` (see [`Event::Facts`]).
    #[allow(clippy::too_many_arguments)]
    fn exchange_facts(
        &mut self,
        id: u64,
        server: SocketAddr,
        n: u64,
        facts: &ExchangeFacts,
        full: Option<Box<ExchangeReport>>,
        rendered: &[u8],
        stale: bool,
    );
}

/// What a worker's engine counted besides its connections, at the end.
struct ShardEnd {
    late_segments: u64,
    evictions: Evictions,
    /// What this worker's engine left out when its connections concluded.
    judged: Option<FilteredOut>,
}

/// A worker's output for one window (or for the end of the run).
struct Output {
    events: Buffers,
    /// Given with the output of the end of the run.
    end: Option<Box<ShardEnd>>,
}

/// Collects a worker engine's events, tagged with the current frame.
struct Collector {
    frame: u64,
    wants: bool,
    /// Exchanges go out as [`Event::Facts`] (the output does not want
    /// them, or they are rendered here).
    facts: bool,
    renderer: Option<Box<dyn ExchangeRender>>,
    out: Buffers,
    /// Open connections whose first exchange with a request went out.
    first_sent: rustc_hash::FxHashSet<u64>,
    /// Exchanges rendered so far, per open connection (when rendering).
    counts: FxHashMap<u64, u64>,
    /// Whether the renderer renders connections too (until it says not).
    connections: bool,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Events for Collector {
    fn wants_exchanges(&self) -> bool {
        self.wants
    }

    fn created(&mut self, id: u64, _frame: u64) {
        self.out
            .events
            .push((self.frame, Event::Created { local: id }));
    }

    fn exchange(&mut self, id: u64, server: SocketAddr, n: u64, ex: ExchangeReport, stale: bool) {
        if self.facts {
            let start = self.out.rendered.len();
            if self.wants
                && let Some(r) = &mut self.renderer
            {
                r.exchange(n, &ex, &mut self.out.rendered);
            }
            let rendered = (start, self.out.rendered.len());
            if self.wants && self.renderer.is_some() && self.connections {
                self.counts.insert(id, n);
            }
            let facts = ExchangeFacts::of(&ex);
            let full = (facts.has_request && self.first_sent.insert(id)).then(|| Box::new(ex));
            self.out.events.push((
                self.frame,
                Event::Facts {
                    local: id,
                    server,
                    n,
                    facts,
                    full,
                    rendered,
                    stale,
                },
            ));
            return;
        }
        self.out.events.push((
            self.frame,
            Event::Exchange {
                local: id,
                server,
                n,
                ex: Box::new(ex),
                stale,
            },
        ));
    }

    fn exchange_lazy(
        &mut self,
        id: u64,
        server: SocketAddr,
        n: u64,
        facts: &ExchangeFacts,
        build: impl FnOnce() -> ExchangeReport,
        stale: bool,
    ) {
        if !self.facts || self.wants {
            return self.exchange(id, server, n, build(), stale);
        }
        // Nothing rendered: the facts, and the report only for the
        // connection's first request (the findings quote it).
        let start = self.out.rendered.len();
        let full = (facts.has_request && self.first_sent.insert(id)).then(|| Box::new(build()));
        self.out.events.push((
            self.frame,
            Event::Facts {
                local: id,
                server,
                n,
                facts: *facts,
                full,
                rendered: (start, start),
                stale,
            },
        ));
    }

    fn concluded(&mut self, mut c: ConnectionReport, stale: Vec<bool>) {
        self.first_sent.remove(&c.id);
        let count = self.counts.remove(&c.id).unwrap_or(0);
        let mut pre = None;
        if self.wants
            && self.connections
            && let Some(r) = &mut self.renderer
        {
            let out = &mut self.out.rendered;
            let more_at = out.len();
            for (i, ex) in c.exchanges.iter().enumerate() {
                r.exchange(count + 1 + i as u64, ex, out);
            }
            let more = (more_at, out.len());
            let exchanges = count + c.exchanges.len() as u64;
            let id = std::mem::replace(&mut c.id, STAND_IN_ID);
            self.head.clear();
            self.tail.clear();
            if r.connection(&c, exchanges, &mut self.head, &mut self.tail) {
                let id_at = memchr::memmem::find(&self.head, STAND_IN.as_bytes());
                let head_at = out.len();
                out.extend_from_slice(&self.head);
                let head = (head_at, out.len());
                out.extend_from_slice(&self.tail);
                let tail = (head.1, out.len());
                pre = Some(Box::new(Pre {
                    head,
                    id_at,
                    more,
                    tail,
                }));
            } else {
                // Not rendered here after all: the reading thread renders
                // them, and the exchanges written above are dropped.
                out.truncate(more_at);
                self.connections = false;
            }
            c.id = id;
        }
        self.out.events.push((
            self.frame,
            Event::Concluded {
                c: Box::new(c),
                stale,
                pre,
            },
        ));
    }
}

/// A worker's engine: the connections whose five-tuple hashes to `index`
/// of `n` (see the module docs).
struct Shard {
    engine: Engine,
    index: usize,
    out: Collector,
}

impl Shard {
    /// The segments of a window: this worker's are analysed; at the
    /// others' only the clock of the flow table moves, and only where it
    /// reaches the next deadline ([`Engine::next_due`]; before it a tick
    /// changes nothing), so that connections expire at the frames they
    /// would in one flow table.
    fn window(&mut self, w: &Window) {
        let own = w.own.get(self.index).map(Vec::as_slice).unwrap_or_default();
        let mut keys = w.keys.iter().peekable();
        let mut due = self.engine.next_due();
        let mut next = 0;
        for (i, s) in own.iter().enumerate() {
            due = self.ticks(w, next, s.pos as usize, due);
            while let Some((_, k)) = keys.next_if(|(at, _)| *at <= s.pos as usize) {
                self.engine.set_keys(k.clone());
            }
            w.prefetch(own.get(i + PREFETCH_AHEAD));
            let pos = s.pos as usize;
            let Some(c) = w.clocks.get(pos) else {
                continue;
            };
            self.out.frame = s.at.frame;
            self.engine
                .segment(&w.segment(s), s.at, c.now, c.start, &mut self.out);
            due = self.engine.next_due();
            next = pos + 1;
        }
        self.ticks(w, next, w.clocks.len(), due);
        for (_, k) in keys {
            self.engine.set_keys(k.clone());
        }
    }

    /// The other workers' segments at `from..to` of the window's clocks:
    /// a tick at each one where the clock reaches the next deadline `due`
    /// (the clock never goes back, so that is found by bisection, and a
    /// stretch ending before `due` is passed over at once). Returns the
    /// next deadline.
    fn ticks(&mut self, w: &Window, mut from: usize, to: usize, mut due: Timestamp) -> Timestamp {
        let clocks = w.clocks.get(from..to).unwrap_or_default();
        let Some(last) = clocks.last() else {
            return due;
        };
        if last.now < due {
            return due;
        }
        let end = from + clocks.len();
        while from < end {
            let rest = w.clocks.get(from..end).unwrap_or_default();
            let k = rest.partition_point(|c| c.now < due);
            let Some(c) = rest.get(k) else {
                break;
            };
            self.out.frame = c.frame;
            self.engine.tick(c.now, c.start, &mut self.out);
            due = self.engine.next_due();
            from += k + 1;
        }
        due
    }

    /// The end of the run: every connection still tracked is concluded.
    fn finish(&mut self, start: Timestamp) {
        self.out.frame = u64::MAX;
        self.engine.finish(start, &mut self.out);
    }

    /// Part of the end of the run (see [`Engine::finish_below`]).
    fn finish_below(&mut self, start: Timestamp, below: u64) {
        self.out.frame = u64::MAX;
        self.engine.finish_below(start, below, &mut self.out);
    }
}

struct Worker {
    jobs: SyncSender<Job>,
    /// Event buffers to hand back.
    spare: Vec<Buffers>,
    results: Receiver<Output>,
    open: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
}

/// The worker threads and the merge (see the module docs).
pub struct Pool {
    workers: Vec<Worker>,
    /// The window being filled.
    window: Window,
    /// Windows sent, oldest first (taken back once merged).
    sent: VecDeque<Arc<Window>>,
    /// Windows to fill again.
    spare: Vec<Window>,
    in_flight: usize,
    /// Segments in a window now (see [`RESULTS_TARGET`]).
    window_frames: usize,
    /// A connection's head with its id put in (kept for its capacity).
    head: Vec<u8>,
    /// The order of a window's events being merged: (frame, class, worker,
    /// index), kept for its capacity.
    all: Vec<(u64, u8, u32, u32)>,
    /// (worker, local id) -> global id, for open connections.
    ids: FxHashMap<(usize, u64), u64>,
    next_id: u64,
    /// A worker has gone (it panicked): what it held is lost, and said.
    failed: bool,
    /// Connections concluded per part at the end (see [`Pool::finish`]).
    finish_part: usize,
}

fn run_worker(
    mut shard: Shard,
    jobs: Receiver<Job>,
    results: SyncSender<Output>,
    open: Arc<AtomicUsize>,
) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Window(w, spare) => {
                shard.window(&w);
                // The reading thread takes the window back once every
                // worker is done with it.
                drop(w);
                open.store(shard.engine.open_connections(), Ordering::Relaxed);
                let events = shard.swap_events(spare);
                if results.send(Output { events, end: None }).is_err() {
                    return;
                }
            }
            Job::FinishBelow(below, start, spare) => {
                shard.finish_below(start, below);
                let events = shard.swap_events(spare);
                if results.send(Output { events, end: None }).is_err() {
                    return;
                }
            }
            Job::Finish(start) => {
                shard.finish(start);
                let events = shard.swap_events(Buffers::default());
                let e = &shard.engine;
                let end = ShardEnd {
                    late_segments: e.late_segments(),
                    evictions: e.evictions(),
                    judged: e.filtered_out(),
                };
                let _ = results.send(Output {
                    events,
                    end: Some(Box::new(end)),
                });
                return;
            }
        }
    }
}

/// Connections concluded in one part of the end of the run (see
/// `Pool::finish`): about `RESULTS_TARGET` (4 MiB) of results.
pub const FINISH_PART: usize = RESULTS_TARGET / (2 * REPORT_WEIGHT);

/// The parts of the end of the run: for each part but the last (which
/// [`Job::Finish`] concludes), the local id below which each worker
/// concludes its connections, so that the part holds the next `per_part`
/// open connections by global id. `ids`: (worker, local id) -> global id
/// of the open connections; a worker's local ids rise with its global ids.
fn finish_parts(
    ids: &FxHashMap<(usize, u64), u64>,
    workers: usize,
    per_part: usize,
) -> Vec<Vec<u64>> {
    let mut open: Vec<(u64, usize, u64)> = ids.iter().map(|(&(w, l), &g)| (g, w, l)).collect();
    open.sort_unstable();
    let per_part = per_part.max(1);
    let mut parts = Vec::new();
    // From the end: each worker's lowest local id at or after a boundary.
    let mut lowest = vec![u64::MAX; workers];
    for (i, &(_, w, l)) in open.iter().enumerate().rev() {
        if let Some(x) = lowest.get_mut(w) {
            *x = (*x).min(l);
        }
        if i > 0 && i % per_part == 0 {
            parts.push(lowest.clone());
        }
    }
    parts.reverse();
    parts
}

/// The worker a five-tuple belongs to (the same both ways): each end
/// folded to 64 bits, the two ordered, mixed by a multiply whose high bits
/// pick the worker (every worker computes it for every segment, so it is
/// kept to a few instructions).
fn worker_of(src: SocketAddr, dst: SocketAddr, n: usize) -> usize {
    fn fold(a: SocketAddr) -> u64 {
        let ip = match a.ip() {
            IpAddr::V4(v4) => u64::from(u32::from(v4)),
            IpAddr::V6(v6) => {
                let x = u128::from(v6);
                (x as u64) ^ ((x >> 64) as u64).rotate_left(17)
            }
        };
        ip ^ (u64::from(a.port()) << 40)
    }
    let (x, y) = (fold(src), fold(dst));
    let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
    let h = (lo ^ hi.rotate_left(32))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(23)
        .wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    // The high 32 bits scaled to 0..n by a multiply (a division here was
    // a fifth of this function's time).
    (((h >> 32) * n.max(1) as u64) >> 32) as usize
}

/// Segments in the next windows, now `now`, when a window of `frames` segments
/// came back with results weighing `weight` bytes (see [`RESULTS_TARGET`]).
fn next_window(now: usize, weight: usize, frames: usize) -> usize {
    let per_frame = weight / frames.max(1);
    RESULTS_TARGET
        .checked_div(per_frame)
        .unwrap_or(WINDOW)
        .min(now.saturating_mul(2))
        .clamp(MIN_WINDOW, WINDOW)
}

/// The shard `index` of `n`: its engine, with its part of the bounds.
fn shard(
    opts: &Options,
    filter: Filter,
    index: usize,
    n: usize,
    wants: bool,
    renderer: Option<Box<dyn ExchangeRender>>,
) -> Shard {
    let n = n.max(1);
    let mut part = opts.tcp;
    part.memory_budget = (opts.tcp.memory_budget / n).max(1);
    if opts.tcp.max_connections > 0 {
        part.max_connections = opts.tcp.max_connections.div_ceil(n);
    }
    let mut engine = Engine::new(part, filter);
    engine.set_keys(opts.keylog.clone());
    Shard {
        engine,
        index,
        out: Collector {
            frame: 0,
            wants,
            facts: !wants || renderer.is_some(),
            renderer,
            out: Buffers::default(),
            first_sent: Default::default(),
            counts: FxHashMap::default(),
            connections: true,
            head: Vec::new(),
            tail: Vec::new(),
        },
    }
}

impl Shard {
    /// The events so far; `next` (emptied) collects those from now on.
    fn swap_events(&mut self, mut next: Buffers) -> Buffers {
        next.events.clear();
        next.rendered.clear();
        next.garbage.clear();
        std::mem::replace(&mut self.out.out, next)
    }
}

impl Pool {
    /// `n` workers, each with its part of the TCP bounds; `wants`: whether
    /// the front wants exchanges.
    /// `renderers`: one per worker, if the output's exchanges can be
    /// rendered there.
    pub(crate) fn new(
        opts: &Options,
        filter: Filter,
        wants: bool,
        renderers: Vec<Option<Box<dyn ExchangeRender>>>,
    ) -> Pool {
        let n = opts.threads.max(1);
        let mut renderers = renderers.into_iter();
        let workers = (0..n)
            .map(|i| {
                let renderer = renderers.next().flatten();
                let (jobs, job_rx) = sync_channel(IN_FLIGHT);
                let (res_tx, results) = sync_channel(IN_FLIGHT + 1);
                let open = Arc::new(AtomicUsize::new(0));
                let sh = shard(opts, filter.clone(), i, n, wants, renderer);
                let o = Arc::clone(&open);
                let handle = std::thread::Builder::new()
                    .name(format!("httpreuse-worker-{i}"))
                    .spawn(move || run_worker(sh, job_rx, res_tx, o))
                    .ok();
                Worker {
                    jobs,
                    spare: Vec::new(),
                    results,
                    open,
                    handle,
                }
            })
            .collect();
        Pool {
            workers,
            window: Window::default(),
            sent: VecDeque::new(),
            spare: Vec::new(),
            in_flight: 0,
            window_frames: FIRST_WINDOW,
            head: Vec::new(),
            all: Vec::new(),
            ids: FxHashMap::default(),
            next_id: 0,
            failed: false,
            finish_part: opts.finish_part,
        }
    }

    /// Connections the workers tracked at the end of their last window.
    pub fn open_connections(&self) -> usize {
        self.workers
            .iter()
            .map(|w| w.open.load(Ordering::Relaxed))
            .sum()
    }

    /// One TCP segment of the frame at `at` (decoded from `data`), at
    /// clock `now`, for the worker whose connection it is and as a tick
    /// for the others; `backing`: the shared bytes `data` is in, and
    /// where (a payload in them is not copied).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn segment(
        &mut self,
        seg: &Segment<'_>,
        at: At,
        now: Timestamp,
        start: Timestamp,
        data: &[u8],
        backing: Option<(&Whole, usize)>,
        front: &mut impl PoolFront,
    ) {
        let w = &mut self.window;
        let inside = {
            let (d, p) = (data.as_ptr_range(), seg.payload.as_ptr_range());
            d.start <= p.start && p.end <= d.end
        };
        let (map, off) = match backing {
            // In the frame's bytes, in the shared input. (A payload
            // reassembled from IP fragments is not.)
            Some((whole, off)) if inside => {
                let map = match w.maps.iter().position(|m| m.same(whole)) {
                    Some(i) => i,
                    None => {
                        w.maps.push(whole.clone());
                        w.maps.len() - 1
                    }
                };
                let rel = seg.payload.as_ptr() as usize - data.as_ptr() as usize;
                (map as u32, off + rel)
            }
            _ => {
                let off = w.bytes.len();
                w.bytes.extend_from_slice(seg.payload);
                (COPIED, off)
            }
        };
        let owner = worker_of(seg.src, seg.dst, self.workers.len());
        if w.own.len() < self.workers.len() {
            w.own.resize_with(self.workers.len(), Vec::new);
        }
        let pos = w.clocks.len() as u32;
        w.clocks.push(Tick {
            frame: at.frame,
            now,
            start,
        });
        if let Some(o) = w.own.get_mut(owner) {
            o.push(SegRec {
                src: seg.src,
                dst: seg.dst,
                at,
                off,
                seq: seg.seq,
                ack: seg.ack,
                payload_len: seg.payload_len,
                len: seg.payload.len() as u32,
                pos,
                map,
                window: seg.window,
                flags: seg.flags,
                wscale: seg.wscale,
            });
        }
        if w.clocks.len() >= self.window_frames || w.bytes.len() >= WINDOW_BYTES {
            self.send_window(front);
        }
    }

    /// The key log in force from the next frame on (see
    /// [`Engine::set_keys`]): every worker switches at the same frame.
    pub(crate) fn set_keys(&mut self, keys: Option<Arc<crate::tls::KeyLog>>) {
        let at = self.window.clocks.len();
        self.window.keys.push((at, keys));
    }

    /// Sends the window being filled to every worker; merges the oldest
    /// results when enough windows are in flight.
    fn send_window(&mut self, front: &mut impl PoolFront) {
        if self.window.clocks.is_empty() && self.window.keys.is_empty() {
            return;
        }
        let next = self.spare.pop().unwrap_or_default();
        let w = Arc::new(std::mem::replace(&mut self.window, next));
        for wk in &mut self.workers {
            let spare = wk.spare.pop().unwrap_or_default();
            if wk.jobs.send(Job::Window(Arc::clone(&w), spare)).is_err() {
                self.failed = true;
            }
        }
        self.sent.push_back(w);
        self.in_flight += 1;
        while self.in_flight >= IN_FLIGHT {
            self.merge_one(front);
        }
    }

    /// Receives one window's output from every worker and hands it on in
    /// the single-threaded order.
    fn merge_one(&mut self, front: &mut impl PoolFront) -> Vec<Option<Box<ShardEnd>>> {
        let mut all = std::mem::take(&mut self.all);
        let mut ends = Vec::with_capacity(self.workers.len());
        let mut rendered = Vec::with_capacity(self.workers.len());
        let mut weight = 0usize;
        for (w, wk) in self.workers.iter_mut().enumerate() {
            match wk.results.recv() {
                Ok(o) => {
                    weight += o.events.events.len() * std::mem::size_of::<(u64, Event)>()
                        + o.events.rendered.len();
                    for (seq, (frame, ev)) in o.events.events.iter().enumerate() {
                        let class = match ev {
                            Event::Created { .. } => 0,
                            Event::Facts { full, .. } => {
                                weight += full.as_ref().map_or(0, |_| REPORT_WEIGHT);
                                1
                            }
                            Event::Exchange { .. } => {
                                weight += REPORT_WEIGHT;
                                1
                            }
                            Event::Concluded { .. } => {
                                weight += REPORT_WEIGHT;
                                2
                            }
                        };
                        all.push((*frame, class, w as u32, seq as u32));
                    }
                    rendered.push(o.events);
                    ends.push(o.end);
                }
                Err(_) => {
                    self.failed = true;
                    rendered.push(Buffers::default());
                    ends.push(None);
                }
            }
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.failed {
            // A worker thread panicked: a bug, and what it held is lost.
            // Never a silently partial report.
            panic!("httpreuse: a worker thread failed; the analysis cannot go on");
        }
        // Every worker is done with the oldest window: it can be filled
        // again.
        if let Some(w) = self.sent.pop_front() {
            self.window_frames = next_window(self.window_frames, weight, w.clocks.len());
            if let Ok(mut w) = Arc::try_unwrap(w) {
                w.clear();
                self.spare.push(w);
            }
        }
        // The keys are sorted, not the events (moving the events was most of
        // the reading thread's time on captures of short connections).
        all.sort_unstable();
        let mut i = 0;
        while i < all.len() {
            let frame = all[i].0;
            let mut concluded: Vec<Concluded> = Vec::new();
            while i < all.len() && all[i].0 == frame {
                let (_, _, w, seq) = all[i];
                let w = w as usize;
                i += 1;
                let Some(slot) = rendered
                    .get_mut(w)
                    .and_then(|b| b.events.get_mut(seq as usize))
                else {
                    continue;
                };
                let ev = std::mem::replace(&mut slot.1, Event::Created { local: 0 });
                match ev {
                    Event::Created { local } => {
                        let id = self.next_id;
                        self.next_id += 1;
                        self.ids.insert((w, local), id);
                        front.created(id, frame);
                    }
                    Event::Exchange {
                        local,
                        server,
                        n,
                        ex,
                        stale,
                    } => {
                        if let Some(&id) = self.ids.get(&(w, local)) {
                            front.exchange(id, server, n, *ex, stale);
                        }
                    }
                    Event::Facts {
                        local,
                        server,
                        n,
                        facts,
                        full,
                        rendered: (a, b),
                        stale,
                    } => {
                        if let Some(&id) = self.ids.get(&(w, local)) {
                            let bytes = rendered
                                .get(w)
                                .and_then(|r| r.rendered.get(a..b))
                                .unwrap_or_default();
                            front.exchange_facts(id, server, n, &facts, full, bytes, stale);
                        }
                    }
                    Event::Concluded { mut c, stale, pre } => {
                        if let Some(id) = self.ids.remove(&(w, c.id)) {
                            c.id = id;
                            concluded.push((id, w, c, stale, pre));
                        }
                    }
                }
            }
            concluded.sort_unstable_by_key(|c| c.0);
            for (id, w, c, stale, pre) in concluded {
                match pre {
                    None if front.borrows_concluded() => {
                        front.concluded_lent(&c, stale);
                        if let Some(b) = rendered.get_mut(w) {
                            b.garbage.push(c);
                        }
                    }
                    None => front.concluded(*c, stale),
                    Some(p) => {
                        let r = rendered
                            .get(w)
                            .map(|b| b.rendered.as_slice())
                            .unwrap_or_default();
                        let part = |(a, b): (usize, usize)| r.get(a..b).unwrap_or_default();
                        let head = part(p.head);
                        self.head.clear();
                        match p.id_at {
                            Some(at) => {
                                use std::io::Write as _;
                                self.head
                                    .extend_from_slice(head.get(..at).unwrap_or_default());
                                let _ = write!(self.head, "{id}");
                                self.head.extend_from_slice(
                                    head.get(at + STAND_IN.len()..).unwrap_or_default(),
                                );
                            }
                            None => self.head.extend_from_slice(head),
                        }
                        front.concluded_rendered(&c, stale, &self.head, part(p.more), part(p.tail));
                        if let Some(b) = rendered.get_mut(w) {
                            b.garbage.push(c);
                        }
                    }
                }
            }
        }
        all.clear();
        self.all = all;
        for (wk, mut b) in self.workers.iter_mut().zip(rendered) {
            // A burst's buffers are not kept.
            if b.rendered.capacity() > RESULTS_TARGET {
                b.rendered = Vec::new();
            }
            if b.events.capacity() * std::mem::size_of::<(u64, Event)>() > RESULTS_TARGET {
                b.events = Vec::new();
            }
            wk.spare.push(b);
        }
        ends
    }

    /// The end of the run: what is in flight is merged, every worker
    /// concludes what it still tracks (`start`: the capture's earliest
    /// timestamp, for the filter). Returns the late segments and evictions
    /// of all workers, and what their engines' filters left out.
    pub(crate) fn finish(
        &mut self,
        start: Timestamp,
        front: &mut impl PoolFront,
    ) -> (u64, Evictions, Option<FilteredOut>) {
        self.send_window(front);
        while self.in_flight > 0 {
            self.merge_one(front);
        }
        // The connections still open conclude a part at a time, in id
        // order, each part one result per worker (as a window's), so that
        // the workers never render them all at once: a capture cut while
        // thousands are open (or waiting out their close linger) was tens
        // of MiB of results in one go.
        for bounds in finish_parts(&self.ids, self.workers.len(), self.finish_part) {
            for (wk, below) in self.workers.iter_mut().zip(bounds) {
                // The buffers go round (and the reports merged from them
                // are freed) as a window's do.
                let spare = wk.spare.pop().unwrap_or_default();
                if wk.jobs.send(Job::FinishBelow(below, start, spare)).is_err() {
                    self.failed = true;
                }
            }
            self.in_flight += 1;
            self.merge_one(front);
        }
        for wk in &self.workers {
            if wk.jobs.send(Job::Finish(start)).is_err() {
                self.failed = true;
            }
        }
        self.in_flight += 1;
        let ends = self.merge_one(front);
        for wk in &mut self.workers {
            if let Some(h) = wk.handle.take()
                && h.join().is_err()
            {
                self.failed = true;
            }
        }
        if self.failed || ends.iter().any(Option::is_none) {
            panic!("httpreuse: a worker thread failed; the analysis cannot go on");
        }
        let mut late = 0;
        let mut evictions = Evictions::default();
        let mut judged: Option<FilteredOut> = None;
        for e in ends.into_iter().flatten() {
            late += e.late_segments;
            let (t, x) = (&mut evictions, &e.evictions);
            t.inactive += x.inactive;
            t.handshake_timeout += x.handshake_timeout;
            t.memory_budget += x.memory_budget;
            t.max_connections += x.max_connections;
            t.buffers_shed += x.buffers_shed;
            if let Some(f) = e.judged {
                match &mut judged {
                    Some(t) => {
                        t.connections += f.connections;
                        t.frames += f.frames;
                    }
                    None => judged = Some(f),
                }
            }
        }
        (late, evictions, judged)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the job channels ends the workers.
        for wk in &mut self.workers {
            let (tx, _) = sync_channel(0);
            drop(std::mem::replace(&mut wk.jobs, tx));
        }
        for wk in &mut self.workers {
            // Drain so a worker blocked on sending can finish.
            while wk.results.try_recv().is_ok() {}
            if let Some(h) = wk.handle.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_record_stays_small() {
        // Written once and read once on another core for every segment.
        assert!(std::mem::size_of::<SegRec>() <= 120);
        assert!(std::mem::size_of::<Tick>() <= 24);
    }

    #[test]
    fn the_stand_in_id_is_written_as_its_text() {
        assert_eq!(STAND_IN_ID.to_string(), STAND_IN);
    }

    #[test]
    fn windows_follow_the_weight_of_their_results() {
        // Light results: the window doubles, up to WINDOW.
        assert_eq!(next_window(FIRST_WINDOW, 0, FIRST_WINDOW), 2 * FIRST_WINDOW);
        assert_eq!(next_window(WINDOW, 1000, WINDOW), WINDOW);
        // hostile-pipelined.pcap's first window: 4,096 frames, 30 MB rendered
        // and 70k events: next windows of about a tenth.
        let heavy = next_window(WINDOW, 40 << 20, 4096);
        assert!((300..=450).contains(&heavy), "{heavy}");
        // Never below MIN_WINDOW, whatever one frame settles.
        assert_eq!(next_window(WINDOW, usize::MAX, 1), MIN_WINDOW);
        assert_eq!(next_window(MIN_WINDOW, 0, 0), 2 * MIN_WINDOW);
    }

    #[test]
    fn the_end_is_concluded_in_parts_of_global_ids() {
        // Open connections: global id -> (worker, local id); a worker's
        // local ids rise with the global ids.
        let open = [
            (0u64, (0usize, 3u64)),
            (1, (1, 0)),
            (2, (1, 1)),
            (3, (0, 4)),
            (4, (0, 5)),
            (5, (1, 7)),
            (6, (0, 9)),
        ];
        let ids: FxHashMap<(usize, u64), u64> = open.iter().map(|&(g, k)| (k, g)).collect();
        let parts = finish_parts(&ids, 2, 3);
        // Parts of 3: globals 0-2, 3-5; the rest (6) is the final Finish.
        assert_eq!(parts, vec![vec![4, 7], vec![9, u64::MAX]]);
        // Each part concludes exactly the next globals.
        let mut done = Vec::new();
        let mut lower = [0u64; 2];
        for bounds in &parts {
            let mut part: Vec<u64> = open
                .iter()
                .filter(|(_, (w, l))| *l >= lower[*w] && *l < bounds[*w])
                .map(|&(g, _)| g)
                .collect();
            part.sort_unstable();
            done.extend(part);
            lower = [bounds[0], bounds[1]];
        }
        assert_eq!(done, vec![0, 1, 2, 3, 4, 5]);
        // Fewer open connections than a part: no parts, Finish does all.
        assert!(finish_parts(&ids, 2, 100).is_empty());
        assert!(finish_parts(&FxHashMap::default(), 2, 3).is_empty());
    }

    #[test]
    fn both_directions_go_to_the_same_worker() {
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let c: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        let d: SocketAddr = "[2001:db8::2]:51000".parse().unwrap();
        for n in 1..8 {
            assert_eq!(worker_of(a, b, n), worker_of(b, a, n));
            assert_eq!(worker_of(c, d, n), worker_of(d, c, n));
            assert!(worker_of(a, b, n) < n);
        }
        // Client ports spread over the workers.
        let mut seen = [0usize; 4];
        for port in 30000..31000u16 {
            let cl = SocketAddr::new(a.ip(), port);
            seen[worker_of(cl, b, 4)] += 1;
        }
        assert!(seen.iter().all(|&k| k > 150), "{seen:?}");
    }
}
