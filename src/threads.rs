//! `--threads N`: the per-connection analysis on worker threads, with a
//! report byte-identical to a single-threaded run.
//!
//! The reading thread reads and decodes frames, keeps the clock, the IP
//! fragment pool and the counters (as in a single-threaded run), and sends
//! each TCP segment to the worker its five-tuple hashes to (symmetric, so
//! both directions go to the same one), in windows of [`WINDOW`] segments.
//! With each window every worker also gets the clock of every segment in
//! it: a worker "ticks" its flow table at the segments it does not own, so
//! that its connections expire (close linger, idle and handshake timeouts,
//! tombstones) at exactly the frames they would in one flow table.
//!
//! What the workers produce — connections created, exchanges settled,
//! connections concluded, each with the frame it happened at — comes back
//! per window, and the reading thread merges it in the single-threaded
//! order: by frame; within a frame the connection created, then its
//! exchanges, then the connections concluded in id order. Connection ids
//! are given there, in order of creation (of first packet), as one flow
//! table gives them; the summary, the findings and the output see the same
//! sequence as with one thread.
//!
//! The bounds (`--memory-budget`, `--max-connections`) are shared out:
//! each worker gets its part. Where they bite, which connections are
//! evicted can depend on the number of threads.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rustc_hash::{FxHashMap, FxHasher};

use crate::decode::{self, Decoded, Segment};
use crate::engine::{Engine, Events};
use crate::filter::{Filter, FilteredOut};
use crate::report::{ConnectionReport, ExchangeReport};
use crate::tcp::TcpConfig;
use crate::tcp::flow::Evictions;
use crate::types::{At, Timestamp};

/// Segments per window.
pub const WINDOW: usize = 4096;
/// Windows in flight before the reading thread waits for results.
const IN_FLIGHT: usize = 3;

/// Where a segment was read from.
#[derive(Clone, Copy)]
pub enum Raw<'a> {
    /// A frame of this link type.
    Frame(u32, &'a [u8]),
    /// The payload of a reassembled IP datagram from and to these.
    Datagram(IpAddr, IpAddr, &'a [u8]),
}

/// How a segment's bytes are to be read again.
#[derive(Clone, Copy)]
enum Kind {
    /// A frame of this link type.
    Frame(u32),
    /// A reassembled IP datagram's payload (a TCP segment).
    Datagram(IpAddr, IpAddr),
}

/// One segment of a worker's, in a window.
struct Rec {
    at: At,
    kind: Kind,
    off: usize,
    len: usize,
}

/// The clock of one segment of the window (every worker gets them all).
#[derive(Clone, Copy)]
struct Tick {
    frame: u64,
    now: Timestamp,
    start: Timestamp,
}

/// What a worker gets.
enum Job {
    Window {
        recs: Vec<Rec>,
        bytes: Vec<u8>,
        ticks: Arc<Vec<Tick>>,
    },
    Finish {
        start: Timestamp,
    },
    /// The key log for connections created from the next window on.
    Keys(Option<Arc<crate::tls::KeyLog>>),
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
    Concluded {
        c: Box<ConnectionReport>,
        stale: Vec<bool>,
    },
}

/// A worker's output for one window (or for the end of the run).
struct Output {
    events: Vec<(u64, Event)>,
    /// The window's buffers, emptied, to be filled again (a fresh 6 MB
    /// buffer per window and worker was page faults and zeroed pages for
    /// every frame).
    spare: Option<(Vec<Rec>, Vec<u8>)>,
    /// Given with the output of the end of the run.
    end: Option<(u64, Evictions, Option<FilteredOut>)>,
}

/// Collects a worker engine's events, tagged with the current frame.
struct Collector {
    frame: u64,
    wants: bool,
    events: Vec<(u64, Event)>,
}

impl Events for Collector {
    fn wants_exchanges(&self) -> bool {
        self.wants
    }

    fn created(&mut self, id: u64, _frame: u64) {
        self.events.push((self.frame, Event::Created { local: id }));
    }

    fn exchange(&mut self, id: u64, server: SocketAddr, n: u64, ex: ExchangeReport, stale: bool) {
        self.events.push((
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

    fn concluded(&mut self, c: ConnectionReport, stale: Vec<bool>) {
        self.events.push((
            self.frame,
            Event::Concluded {
                c: Box::new(c),
                stale,
            },
        ));
    }
}

struct Worker {
    jobs: SyncSender<Job>,
    results: Receiver<Output>,
    open: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
    /// The window being filled.
    recs: Vec<Rec>,
    bytes: Vec<u8>,
    /// Buffers of windows the worker is done with.
    spare: Vec<(Vec<Rec>, Vec<u8>)>,
}

/// The worker threads and the merge (see the module docs).
pub struct Pool {
    workers: Vec<Worker>,
    ticks: Vec<Tick>,
    in_flight: usize,
    /// (worker, local id) -> global id, for open connections.
    ids: FxHashMap<(usize, u64), u64>,
    next_id: u64,
    /// A worker has gone (it panicked): what it held is lost, and said.
    failed: bool,
}

fn run_worker(
    mut engine: Engine,
    jobs: Receiver<Job>,
    results: SyncSender<Output>,
    open: Arc<AtomicUsize>,
    wants: bool,
) {
    let mut out = Collector {
        frame: 0,
        wants,
        events: Vec::new(),
    };
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Window {
                mut recs,
                mut bytes,
                ticks,
            } => {
                let mut mine = recs.iter().peekable();
                for t in ticks.iter() {
                    out.frame = t.frame;
                    match mine.peek() {
                        Some(r) if r.at.frame == t.frame => {
                            let r = mine.next();
                            if let Some(r) = r {
                                let b = bytes.get(r.off..r.off + r.len).unwrap_or_default();
                                let seg = match r.kind {
                                    Kind::Frame(lt) => match decode::decode(lt, b) {
                                        Ok(Decoded::Segment(s)) => Some(s),
                                        _ => None,
                                    },
                                    Kind::Datagram(src, dst) => {
                                        decode::reassembled(src, dst, b).ok()
                                    }
                                };
                                match seg {
                                    Some(seg) => {
                                        engine.segment(&seg, r.at, t.now, t.start, &mut out)
                                    }
                                    None => engine.tick(t.now, t.start, &mut out),
                                }
                            }
                        }
                        _ => engine.tick(t.now, t.start, &mut out),
                    }
                }
                open.store(engine.open_connections(), Ordering::Relaxed);
                let events = std::mem::take(&mut out.events);
                recs.clear();
                bytes.clear();
                let spare = Some((recs, bytes));
                if results
                    .send(Output {
                        events,
                        spare,
                        end: None,
                    })
                    .is_err()
                {
                    return;
                }
            }
            Job::Keys(k) => engine.set_keys(k),
            Job::Finish { start } => {
                out.frame = u64::MAX;
                engine.finish(start, &mut out);
                let events = std::mem::take(&mut out.events);
                let end = Some((
                    engine.late_segments(),
                    engine.evictions(),
                    engine.filtered_out(),
                ));
                let _ = results.send(Output {
                    events,
                    spare: None,
                    end,
                });
                return;
            }
        }
    }
}

/// The worker a five-tuple belongs to (the same both ways).
fn worker_of(src: SocketAddr, dst: SocketAddr, n: usize) -> usize {
    let (a, b) = if src <= dst { (src, dst) } else { (dst, src) };
    let mut h = FxHasher::default();
    a.hash(&mut h);
    b.hash(&mut h);
    // The high bits of Fx are the well-mixed ones.
    ((h.finish() >> 32) as usize) % n.max(1)
}

impl Pool {
    /// `n` workers, each with its part of the TCP bounds.
    pub fn new(n: usize, tcp: TcpConfig, filter: Filter) -> Pool {
        Self::with_exchanges(n, tcp, filter, true)
    }

    fn with_exchanges(n: usize, tcp: TcpConfig, filter: Filter, wants: bool) -> Pool {
        let n = n.max(1);
        let mut part = tcp;
        part.memory_budget = (tcp.memory_budget / n).max(1);
        if tcp.max_connections > 0 {
            part.max_connections = tcp.max_connections.div_ceil(n);
        }
        let workers = (0..n)
            .map(|i| {
                let (jobs, job_rx) = sync_channel(IN_FLIGHT);
                let (res_tx, results) = sync_channel(IN_FLIGHT + 1);
                let open = Arc::new(AtomicUsize::new(0));
                let engine = Engine::new(part, filter.clone());
                let o = Arc::clone(&open);
                let handle = std::thread::Builder::new()
                    .name(format!("httpreuse-worker-{i}"))
                    .spawn(move || run_worker(engine, job_rx, res_tx, o, wants))
                    .ok();
                Worker {
                    jobs,
                    results,
                    open,
                    handle,
                    recs: Vec::with_capacity(WINDOW),
                    bytes: Vec::with_capacity(WINDOW * 1600),
                    spare: Vec::new(),
                }
            })
            .collect();
        Pool {
            workers,
            ticks: Vec::with_capacity(WINDOW),
            in_flight: 0,
            ids: FxHashMap::default(),
            next_id: 0,
            failed: false,
        }
    }

    /// Connections the workers tracked at the end of their last window.
    pub fn open_connections(&self) -> usize {
        self.workers
            .iter()
            .map(|w| w.open.load(Ordering::Relaxed))
            .sum()
    }

    /// One segment of the frame at `at` (see [`Engine::segment`]), read
    /// from `raw`.
    pub fn segment(
        &mut self,
        seg: &Segment<'_>,
        raw: Raw<'_>,
        at: At,
        now: Timestamp,
        start: Timestamp,
        front: &mut impl Events,
    ) {
        let w = worker_of(seg.src, seg.dst, self.workers.len());
        if let Some(wk) = self.workers.get_mut(w) {
            let (kind, bytes) = match raw {
                Raw::Datagram(src, dst, b) => (Kind::Datagram(src, dst), b),
                Raw::Frame(lt, b) => (Kind::Frame(lt), b),
            };
            let off = wk.bytes.len();
            wk.bytes.extend_from_slice(bytes);
            wk.recs.push(Rec {
                at,
                kind,
                off,
                len: bytes.len(),
            });
        }
        self.ticks.push(Tick {
            frame: at.frame,
            now,
            start,
        });
        if self.ticks.len() >= WINDOW {
            self.send_window(front);
        }
    }

    /// The key log for connections created from the next segment on (see
    /// [`Engine::set_keys`]): the window so far is sent first, so that
    /// every worker switches at the same frame.
    pub fn set_keys(&mut self, keys: Option<Arc<crate::tls::KeyLog>>, front: &mut impl Events) {
        self.send_window(front);
        for wk in &self.workers {
            if wk.jobs.send(Job::Keys(keys.clone())).is_err() {
                self.failed = true;
            }
        }
    }

    /// Sends the window being filled to every worker; merges the oldest
    /// results when enough windows are in flight.
    fn send_window(&mut self, front: &mut impl Events) {
        if self.ticks.is_empty() {
            return;
        }
        let ticks = Arc::new(std::mem::replace(
            &mut self.ticks,
            Vec::with_capacity(WINDOW),
        ));
        for wk in &mut self.workers {
            let (recs, bytes) = wk.spare.pop().unwrap_or_else(|| {
                (
                    Vec::with_capacity(WINDOW),
                    Vec::with_capacity(WINDOW * 1600),
                )
            });
            let job = Job::Window {
                recs: std::mem::replace(&mut wk.recs, recs),
                bytes: std::mem::replace(&mut wk.bytes, bytes),
                ticks: Arc::clone(&ticks),
            };
            if wk.jobs.send(job).is_err() {
                self.failed = true;
            }
        }
        self.in_flight += 1;
        while self.in_flight >= IN_FLIGHT {
            self.merge_one(front);
        }
    }

    /// Receives one window's output from every worker and hands it on in
    /// the single-threaded order.
    fn merge_one(
        &mut self,
        front: &mut impl Events,
    ) -> Vec<Option<(u64, Evictions, Option<FilteredOut>)>> {
        let mut all: Vec<(u64, u8, usize, usize, Event)> = Vec::new();
        let mut ends = Vec::with_capacity(self.workers.len());
        for (w, wk) in self.workers.iter_mut().enumerate() {
            match wk.results.recv() {
                Ok(o) => {
                    if let Some(spare) = o.spare {
                        wk.spare.push(spare);
                    }
                    for (seq, (frame, ev)) in o.events.into_iter().enumerate() {
                        let class = match ev {
                            Event::Created { .. } => 0,
                            Event::Exchange { .. } => 1,
                            Event::Concluded { .. } => 2,
                        };
                        all.push((frame, class, w, seq, ev));
                    }
                    ends.push(o.end);
                }
                Err(_) => {
                    self.failed = true;
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
        all.sort_unstable_by_key(|e| (e.0, e.1, e.2, e.3));
        let mut i = 0;
        while i < all.len() {
            let frame = all[i].0;
            let mut concluded: Vec<(u64, Box<ConnectionReport>, Vec<bool>)> = Vec::new();
            while i < all.len() && all[i].0 == frame {
                let (_, _, w, _, ev) =
                    std::mem::replace(&mut all[i], (0, 0, 0, 0, Event::Created { local: 0 }));
                i += 1;
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
                    Event::Concluded { mut c, stale } => {
                        if let Some(id) = self.ids.remove(&(w, c.id)) {
                            c.id = id;
                            concluded.push((id, c, stale));
                        }
                    }
                }
            }
            concluded.sort_unstable_by_key(|c| c.0);
            for (_, c, stale) in concluded {
                front.concluded(*c, stale);
            }
        }
        ends
    }

    /// The end of the run: what is in flight is merged, every worker
    /// concludes what it still tracks. Returns the late segments, the
    /// evictions and what the filter left out, over all workers.
    pub fn finish(
        &mut self,
        start: Timestamp,
        front: &mut impl Events,
    ) -> (u64, Evictions, Option<FilteredOut>) {
        self.send_window(front);
        while self.in_flight > 0 {
            self.merge_one(front);
        }
        for wk in &self.workers {
            if wk.jobs.send(Job::Finish { start }).is_err() {
                self.failed = true;
            }
        }
        self.in_flight += 1;
        let ends = self.merge_one(front);
        let mut late = 0;
        let mut ev = Evictions::default();
        let mut filtered: Option<FilteredOut> = None;
        for (l, e, f) in ends.into_iter().flatten() {
            late += l;
            ev.inactive += e.inactive;
            ev.handshake_timeout += e.handshake_timeout;
            ev.memory_budget += e.memory_budget;
            ev.max_connections += e.max_connections;
            ev.buffers_shed += e.buffers_shed;
            if let Some(f) = f {
                match &mut filtered {
                    Some(t) => {
                        t.connections += f.connections;
                        t.frames += f.frames;
                    }
                    None => filtered = Some(f),
                }
            }
        }
        for wk in &mut self.workers {
            if let Some(h) = wk.handle.take()
                && h.join().is_err()
            {
                self.failed = true;
            }
        }
        (late, ev, filtered)
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
