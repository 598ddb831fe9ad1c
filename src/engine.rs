//! The per-connection half of the analysis: the flow table, each
//! connection's TCP state, application session and verdict fold, and what
//! comes out of them as they go — connections created, exchanges settled,
//! connections concluded — handed to an [`Events`] receiver.
//!
//! One engine does all the connections of a single-threaded run; with
//! `--threads N` each worker runs one over the connections whose
//! five-tuple hashes to it (see `crate::threads`), and is told the clock of
//! the other segments of the capture where it reaches the engine's next
//! deadline (see [`Engine::tick`] and [`Engine::next_due`]), so that
//! connections expire at the same frames whatever the number of threads.
//!
//! The order of what comes out, for one frame: the connection created by
//! it, then its settled exchanges, then the connections concluded at that
//! frame in id order.

use std::net::SocketAddr;

use crate::app::AppSession;
use crate::filter::{Filter, FilteredOut};
use crate::report::{self, ConnectionReport, ExchangeReport};
use crate::tcp::{FlowTable, TcpConfig, Tracked};
use crate::types::{At, Timestamp};
use crate::verdict;

/// Receives what an engine produces.
pub trait Events {
    /// Whether exchange reports are wanted by the output (they are always
    /// given to [`Events::exchange`] with `wanted` false otherwise, for the
    /// findings).
    fn wants_exchanges(&self) -> bool {
        true
    }
    /// A connection was created at frame `frame` (engine-local id).
    fn created(&mut self, _id: u64, _frame: u64) {}
    /// The `n`th exchange (from 1) of open connection `id` settled; `stale`:
    /// its request went out after the server's FIN.
    fn exchange(&mut self, id: u64, server: SocketAddr, n: u64, ex: ExchangeReport, stale: bool);
    /// [`Events::exchange`] of a settled HTTP/1 exchange given as what the
    /// findings read of it and a builder of its report, which is called
    /// only if the report is wanted (by the output, or by the findings for
    /// a connection's first request): `--brief` builds almost none.
    fn exchange_lazy(
        &mut self,
        id: u64,
        server: SocketAddr,
        n: u64,
        facts: &crate::report::findings::ExchangeFacts,
        build: impl FnOnce() -> ExchangeReport,
        stale: bool,
    ) where
        Self: Sized,
    {
        let _ = facts;
        self.exchange(id, server, n, build(), stale);
    }
    /// A connection concluded (its `exchanges` are the ones not given out
    /// before; `stale` says for each of them what [`Events::exchange`]
    /// says). Connections the filter leaves out are not given.
    fn concluded(&mut self, c: ConnectionReport, stale: Vec<bool>);
}

/// A run's connection filter and what it left out (of the connections it
/// judged: the per-segment pre-check is the reader's).
pub(crate) struct FilterState {
    pub(crate) filter: Filter,
    pub(crate) out: FilteredOut,
    /// Address pairs dropped by the pre-check (counted as connections once).
    pub(crate) dropped_pairs: rustc_hash::FxHashSet<(SocketAddr, SocketAddr)>,
}

/// Most distinct address pairs the pre-check counts.
const MAX_DROPPED_PAIRS: usize = 1 << 20;

impl FilterState {
    pub(crate) fn new(filter: Filter) -> Option<Box<FilterState>> {
        (!filter.is_empty()).then(|| {
            Box::new(FilterState {
                out: FilteredOut {
                    filter: filter.describe(),
                    ..FilteredOut::default()
                },
                filter,
                dropped_pairs: Default::default(),
            })
        })
    }

    /// Pre-check of one segment: false drops it.
    pub(crate) fn segment(&mut self, src: SocketAddr, dst: SocketAddr) -> bool {
        if self.filter.may_match_segment(src, dst) {
            return true;
        }
        self.out.frames += 1;
        let pair = if src <= dst { (src, dst) } else { (dst, src) };
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

/// One connection's state beside its TCP state: the application session
/// and the verdict's running fold.
pub(crate) struct ConnState {
    app: AppSession,
    fold: verdict::Fold,
}

impl ConnState {
    fn new(keys: Option<std::sync::Arc<crate::tls::KeyLog>>) -> Self {
        ConnState {
            app: AppSession::with_keys(keys),
            fold: verdict::Fold::new(),
        }
    }
}

/// The flow table and the per-connection analysis (see the module docs).
pub struct Engine {
    table: FlowTable<ConnState>,
    /// Concluded connections waiting to be judged (filled inside table
    /// calls, emptied right after). Boxed: they come out of the table so.
    #[allow(clippy::vec_box)]
    concluded: Vec<Box<Tracked<ConnState>>>,
    /// At the end of the run, the connections still tracked, in id order,
    /// not yet concluded (see [`Engine::finish_below`]). Boxed, as above.
    #[allow(clippy::vec_box)]
    remaining: Option<Vec<Box<Tracked<ConnState>>>>,
    filter: Option<Box<FilterState>>,
    /// The key log given to each new connection (TLS decryption).
    keys: Option<std::sync::Arc<crate::tls::KeyLog>>,
}

impl Engine {
    /// An engine with this TCP configuration and connection filter.
    pub fn new(tcp: TcpConfig, filter: Filter) -> Self {
        Engine {
            table: FlowTable::new(tcp),
            concluded: Vec::new(),
            remaining: None,
            filter: FilterState::new(filter),
            keys: None,
        }
    }

    /// The key log connections created from now on decrypt their TLS with
    /// (`--keylog`, and pcapng Decryption Secrets Blocks as they are read).
    pub fn set_keys(&mut self, keys: Option<std::sync::Arc<crate::tls::KeyLog>>) {
        self.keys = keys;
    }

    /// Connections tracked now.
    pub fn open_connections(&self) -> usize {
        self.table.len()
    }

    /// What the filter left out of the connections concluded here.
    pub(crate) fn filtered_out(&self) -> Option<FilteredOut> {
        self.filter.as_ref().map(|f| f.out.clone())
    }

    /// Segments that came after their closed connection was concluded.
    pub fn late_segments(&self) -> u64 {
        self.table.late_segments()
    }

    /// Connections concluded before they closed.
    pub fn evictions(&self) -> crate::tcp::flow::Evictions {
        self.table.evictions()
    }

    /// The earliest clock at which [`Engine::tick`] would conclude anything
    /// (see [`FlowTable::next_due`]): ticks before it can be skipped.
    pub fn next_due(&mut self) -> Timestamp {
        self.table.next_due()
    }

    /// A frame that carries none of this engine's connections, at clock
    /// `now`: connections due to expire then do.
    pub fn tick(&mut self, now: Timestamp, start: Timestamp, out: &mut impl Events) {
        let concluded = &mut self.concluded;
        self.table
            .expire(now, &mut |t: Box<Tracked<ConnState>>| concluded.push(t));
        self.drain(start, out);
    }

    /// One TCP segment of the frame at `at`, at clock `now`; `start`: the
    /// capture's earliest timestamp so far (for the filter's time window).
    pub fn segment(
        &mut self,
        seg: &crate::decode::Segment<'_>,
        at: At,
        now: Timestamp,
        start: Timestamp,
        out: &mut impl Events,
    ) {
        let concluded = &mut self.concluded;
        let mut done = |t: Box<Tracked<ConnState>>| concluded.push(t);
        // Expiry first, on this frame's clock: whether the connection this
        // segment belongs to has already been concluded must not depend on
        // which other connections' frames came before it.
        self.table.expire(now, &mut done);
        let mut fed = None;
        let mut created = None;
        let keys = &self.keys;
        let new_user = || ConnState::new(keys.clone());
        if let Some(t) = self.table.lookup(seg, at, now, new_user, &mut done) {
            if t.conn.first.frame == at.frame && t.conn.last.frame == at.frame {
                created = Some(t.conn.id);
            }
            if let Some(id) = created.take() {
                out.created(id, at.frame);
                if !seg.flags.syn() {
                    // the capture began mid-connection
                    t.user.app.set_mid_stream();
                }
            }
            let Tracked { conn, user, .. } = &mut *t;
            conn.segment(seg, at, &mut |dir, ev| user.app.on_event(dir, ev, at));
            let b = conn.buffered() + user.app.buffered();
            settle(t, out);
            if t.conn.is_closed() {
                // It waits out the close linger now (thousands do at high
                // connection rates): what it no longer needs is freed.
                t.user.app.trim();
            }
            fed = Some(t.fed(b));
        }
        if let Some(f) = fed {
            self.table.note_fed(f);
            if self.table.over_budget() {
                self.keep_budget(at, out);
            }
        }
        self.drain(start, out);
    }

    /// Over the memory budget: the connection just fed sheds its
    /// out-of-order buffers (holes become gaps), then the longest-idle
    /// connections are concluded until the budget is kept.
    fn keep_budget(&mut self, at: At, out: &mut impl Events) {
        if let Some(t) = self.table.last_mut()
            && t.conn.buffered() > 0
        {
            let Tracked { conn, user, .. } = &mut *t;
            conn.shed(at, &mut |dir, ev| user.app.on_event(dir, ev, at));
            let b = conn.buffered() + user.app.buffered();
            settle(t, out);
            self.table.note_shed();
            self.table.set_buffered(b);
        }
        let keep = self.table.last_key();
        let concluded = &mut self.concluded;
        self.table
            .enforce_budget(keep, &mut |t: Box<Tracked<ConnState>>| concluded.push(t));
    }

    /// Judges and hands out the connections concluded by the last table
    /// calls, in id order.
    fn drain(&mut self, start: Timestamp, out: &mut impl Events) {
        if self.concluded.is_empty() {
            return;
        }
        let mut all = std::mem::take(&mut self.concluded);
        all.sort_unstable_by_key(|t| t.conn.id);
        for t in all.drain(..) {
            let kept = self.filter.as_mut().is_none_or(|f| f.keeps(&t.conn, start));
            if kept {
                let (c, stale) = conclude(t);
                out.concluded(c, stale);
            }
        }
        // Keep the vector's allocation for the next frame.
        self.concluded = all;
    }

    /// The end of the run: every connection still tracked concludes.
    pub fn finish(&mut self, start: Timestamp, out: &mut impl Events) {
        self.finish_below(start, u64::MAX, out);
    }

    /// The end of the run, in parts: the connections still tracked whose
    /// id is below `below` conclude (in id order); the others wait for the
    /// next call. No segment may come after the first call. (Worker
    /// threads conclude their connections so, a range of ids at a time, so
    /// that what they render at the end is not all held at once.)
    pub fn finish_below(&mut self, start: Timestamp, below: u64, out: &mut impl Events) {
        let remaining = self.remaining.get_or_insert_with(|| {
            let mut all = Vec::new();
            // In id order.
            self.table
                .drain(&mut |t: Box<Tracked<ConnState>>| all.push(t));
            all
        });
        let n = remaining.partition_point(|t| t.conn.id < below);
        self.concluded.extend(remaining.drain(..n));
        self.drain(start, out);
    }
}

/// Hands the exchanges of `t` that have settled to the verdict's fold and
/// out.
fn settle(t: &mut Tracked<ConnState>, out: &mut impl Events) {
    let Tracked { conn, user, .. } = t;
    let ConnState { app, fold } = user;
    app.settle(&mut |i, ex, next| {
        let persistent = fold.settle(conn, i, ex, next);
        let stale = stale_request(conn, ex);
        let facts = report::findings::ExchangeFacts::of_http1(ex, conn.first);
        let first = conn.first;
        out.exchange_lazy(
            conn.id,
            conn.server,
            i + 1,
            &facts,
            || report::build::exchange_report_owned(std::mem::take(ex), first, persistent),
            stale,
        );
    });
    if let Some(h2) = app.h2_mut() {
        h2.settle(conn, &mut |n, rep, stale| {
            out.exchange(conn.id, conn.server, n, rep, stale);
        });
    }
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
/// not settled yet. Returns its report and, for each of its exchanges,
/// whether its request was stale.
fn conclude(t: Box<Tracked<ConnState>>) -> (ConnectionReport, Vec<bool>) {
    let evicted = t.evicted;
    let Tracked { mut conn, user, .. } = *t;
    let ConnState { mut app, fold } = user;
    let end = conn.last;
    conn.flush(end, &mut |dir, ev| app.on_event(dir, ev, end));
    app.finish(end);
    app.http_mut().make_contiguous();
    let (http, h2, tls) = app.parts_all();
    let window = http.exchanges().as_slices().0;
    let (mut c, stale) = match h2 {
        // HTTP/2 (from its start, after an `Upgrade: h2c`, or ALPN h2 on
        // decrypted TLS): its streams not handed out yet, after the HTTP/1
        // exchanges of before an upgrade, and the HTTP/2 verdict.
        Some(h2) => {
            let (streams, h2_stale, mut verdict) = h2.conclude(&conn, fold, window, evicted);
            if let Some(tls) = tls {
                verdict::tls::judge(&conn, tls, &mut verdict);
            }
            let mut stale: Vec<bool> = window.iter().map(|ex| stale_request(&conn, ex)).collect();
            stale.extend(h2_stale);
            let mut c = report::build::connection_with(
                &conn,
                http,
                window,
                verdict,
                h2.anomalies(),
                h2.anomalies_dropped(),
            );
            c.exchanges.extend(streams);
            c.http2 = Some(Box::new(h2.report(conn.first)));
            (c, stale)
        }
        None => {
            let t = http.stats().tunnel_bytes;
            let tunnel = crate::types::PerRole {
                client: t[0],
                server: t[1],
            };
            let mut verdict = verdict::judge(&conn, fold, window, tunnel, evicted);
            if let Some(tls) = tls {
                verdict::tls::judge(&conn, tls, &mut verdict);
            }
            let c = report::build::connection(&conn, http, window, verdict);
            let stale = window.iter().map(|ex| stale_request(&conn, ex)).collect();
            (c, stale)
        }
    };
    if let Some(tls) = tls {
        c.tls = Some(Box::new(report::build::tls_report(tls)));
    }
    (c, stale)
}
