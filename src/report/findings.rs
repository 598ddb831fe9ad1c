//! Findings: what the capture shows about each server's keep-alive policy
//! and its clients' reuse, and what to change.
//!
//! A [`FindingsBuilder`] is fed every concluded [`ConnectionReport`] (in any
//! order) and keeps only bounded aggregates per server endpoint: counters,
//! quantile sketches of idle times ([`Sketch`]: exact up to
//! [`SKETCH_EXACT`] values, then log-spaced buckets 2% wide), and evidence
//! lists capped at [`MAX_EVIDENCE`] connection ids and frames. At most
//! [`MAX_SERVERS`] servers are tracked one by one; connections to further
//! servers count in the capture-wide figures only. [`FindingsBuilder::finish`]
//! turns the aggregates into [`Finding`]s, each with a severity, the
//! evidence, the figures it rests on and one sentence of advice.
//!
//! Every kind is in the catalogue [`FindingKind`] (name and meaning); the
//! README's table of findings is this catalogue (a test checks that they
//! agree). A capture where nothing is wrong gets only `info` findings.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::anomaly::AnomalyKind;
use crate::http::keepalive::Persistence;
use crate::report::{ConnectionReport, ExchangeReport, Summary};
use crate::types::{FrameNo, Role, round_us};
use crate::verdict::{CloseReason, SaidBy};

/// Connection ids (and frames) kept as evidence per finding.
pub const MAX_EVIDENCE: usize = 20;
/// Servers tracked one by one; the rest count capture-wide only.
pub const MAX_SERVERS: usize = 1024;
/// Values a [`Sketch`] keeps exactly before it switches to buckets.
pub const SKETCH_EXACT: usize = 1024;
/// A request limit below this many requests per connection is a warning.
pub const LOW_REQUEST_LIMIT: u64 = 100;

macro_rules! findings_catalogue {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $meaning:literal; )*) => {
        /// Every kind of finding, with its stable snake_case name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FindingKind {
            $( $(#[$doc])* $variant, )*
        }

        impl FindingKind {
            /// Every kind, in catalogue order.
            pub const ALL: &'static [FindingKind] = &[$(FindingKind::$variant),*];

            /// The stable snake_case key of this kind.
            pub fn name(self) -> &'static str {
                match self { $(FindingKind::$variant => $name,)* }
            }

            /// One line of meaning, for people.
            pub fn meaning(self) -> &'static str {
                match self { $(FindingKind::$variant => $meaning,)* }
            }

            /// The kind with this name.
            pub fn from_name(name: &str) -> Option<FindingKind> {
                FindingKind::ALL.iter().copied().find(|k| k.name() == name)
            }
        }
    };
}

findings_catalogue! {
    /// Clients reused connections idle longer than the server keeps them.
    IdleTimeoutRace = "idle_timeout_race",
        "clients reuse connections idle longer than the server keeps them open: requests go out after the server's FIN and are reset (error), or reuse comes within 20% of the server's idle timeout (warning)";
    /// The server closed a connection while a request was unanswered.
    ResetWithRequestOutstanding = "reset_with_request_outstanding",
        "a RST ended connections while a request was unanswered (not counting the idle-timeout race): those requests failed";
    /// The server closes idle connections before its advertised timeout.
    AdvertisedTimeoutMismatch = "advertised_timeout_mismatch",
        "the server's Keep-Alive: timeout= promises longer than it keeps idle connections open: clients that trust the header reuse closed connections";
    /// Connections end after a fixed number of requests.
    RequestLimitRollover = "request_limit_rollover",
        "the server ends connections with Connection: close after a fixed number of requests (nginx keepalive_requests, Apache MaxKeepAliveRequests, Keep-Alive: max=): each rollover costs a handshake (warning below 100 requests)";
    /// Clients close after one request.
    ClientDefeatsReuse = "client_defeats_reuse",
        "clients use one connection per request: Connection: close on every request, HTTP/1.0 without keep-alive, or a new connection although the server kept the last one open";
    /// The server closes after one request.
    ServerDefeatsReuse = "server_defeats_reuse",
        "the server ends every connection after one response to clients that asked for keep-alive (Connection: close, or an HTTP/1.0 response)";
    /// How long the server keeps idle connections, as observed.
    ServerIdleTimeout = "server_idle_timeout",
        "how long the server keeps an idle keep-alive connection open before it closes it (observed idle before its FIN), and what its Keep-Alive: timeout= says";
    /// How long clients leave connections idle before reusing them.
    ClientReuseIdle = "client_reuse_idle",
        "how long clients leave a connection idle before they send the next request on it (percentiles of the idle gaps)";
    /// Capture-wide reuse.
    ReuseOverview = "reuse_overview",
        "the whole capture: requests per handshake and the share of connections reused";
}

impl Serialize for FindingKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

crate::named_enum! {
    /// How much a finding matters.
    pub enum Severity {
        /// What the capture shows; nothing to fix.
        Info = "info",
        /// A setting that costs handshakes or risks failures.
        Warning = "warning",
        /// Requests failed because of it.
        Error = "error",
    }
}

impl Severity {
    fn rank(self) -> u8 {
        match self {
            Severity::Error => 0,
            Severity::Warning => 1,
            Severity::Info => 2,
        }
    }
}

/// Where a finding can be seen: connection ids and frame numbers (each at
/// most [`MAX_EVIDENCE`]).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Evidence {
    /// Connection ids (`connections[].id`), ascending.
    pub connections: Vec<u64>,
    /// Frames that show it (a stale request, a FIN, a `Connection: close`).
    pub frames: Vec<FrameNo>,
}

impl Evidence {
    fn add(&mut self, conn: u64, frame: Option<FrameNo>) {
        if self.connections.len() < MAX_EVIDENCE && !self.connections.contains(&conn) {
            self.connections.push(conn);
        }
        if let Some(f) = frame
            && self.frames.len() < MAX_EVIDENCE
        {
            self.frames.push(f);
        }
    }

    fn sorted(mut self) -> Self {
        self.connections.sort_unstable();
        self.frames.sort_unstable();
        self
    }
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// What kind (see [`FindingKind`]).
    pub kind: FindingKind,
    /// `info`, `warning` or `error`.
    pub severity: Severity,
    /// The server endpoint (`ADDR:PORT`), `null` for the whole capture.
    pub server: Option<String>,
    /// What the capture shows, in a sentence.
    pub observed: String,
    /// Where to see it.
    pub evidence: Evidence,
    /// The numbers the finding rests on (seconds, counts), by name.
    pub figures: Map<String, Value>,
    /// What to change, in a sentence.
    pub advice: String,
}

/// A quantile sketch of non-negative values (seconds): exact while it holds
/// at most [`SKETCH_EXACT`] values, then counts in log-spaced buckets 2%
/// wide (quantiles within 1% of the truth); min and max stay exact.
#[derive(Clone, Debug, Default)]
pub struct Sketch {
    exact: Vec<f64>,
    /// Values moved to buckets (then `exact` stays empty).
    bucketed: bool,
    /// Bucketed values of at most 1 µs (`bucket_of`'s `i32::MIN`).
    zero: u64,
    /// Counts of buckets `first..first + dense.len()`: one increment per
    /// value, no map update (buckets 2% wide from 1 µs to the largest f64
    /// are at most some 36,000).
    first: i32,
    dense: Vec<u64>,
    count: u64,
    min: f64,
    max: f64,
}

const BUCKET_GROWTH: f64 = 1.02;

fn bucket_of(v: f64) -> i32 {
    if v <= 1e-6 {
        i32::MIN
    } else {
        (v.ln() / BUCKET_GROWTH.ln()).floor() as i32
    }
}

fn bucket_value(b: i32) -> f64 {
    if b == i32::MIN {
        0.0
    } else {
        // The geometric middle of the bucket.
        BUCKET_GROWTH.powf(b as f64 + 0.5)
    }
}

impl Sketch {
    /// Adds one value (negative or non-finite values are ignored).
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() || v < 0.0 {
            return;
        }
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        if !self.bucketed && self.exact.len() < SKETCH_EXACT {
            self.exact.push(v);
            return;
        }
        self.bucketed = true;
        for x in std::mem::take(&mut self.exact) {
            self.bump(bucket_of(x));
        }
        self.bump(bucket_of(v));
    }

    /// One more value in bucket `b`.
    fn bump(&mut self, b: i32) {
        if b == i32::MIN {
            self.zero += 1;
            return;
        }
        if self.dense.is_empty() {
            self.first = b;
        } else if b < self.first {
            let k = usize::try_from(self.first.abs_diff(b)).unwrap_or(0);
            self.dense.splice(0..0, std::iter::repeat_n(0, k));
            self.first = b;
        }
        let i = usize::try_from(b.abs_diff(self.first)).unwrap_or(0);
        if i >= self.dense.len() {
            self.dense.resize(i + 1, 0);
        }
        if let Some(n) = self.dense.get_mut(i) {
            *n += 1;
        }
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value (0 when empty).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Largest value (0 when empty).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// The `q` quantile (nearest rank), 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        if !self.bucketed {
            let mut v = self.exact.clone();
            v.sort_by(f64::total_cmp);
            let i = (rank as usize).min(v.len()).saturating_sub(1);
            return v.get(i).copied().unwrap_or(0.0);
        }
        // In bucket order: the values of at most 1 µs first.
        let mut seen = self.zero;
        if seen >= rank {
            return bucket_value(i32::MIN).clamp(self.min, self.max);
        }
        for (b, &n) in (self.first..).zip(&self.dense) {
            seen += n;
            if seen >= rank {
                return bucket_value(b).clamp(self.min, self.max);
            }
        }
        self.max
    }

    fn figures(&self) -> Value {
        json!({
            "count": self.count,
            "min": round_us(self.min()),
            "p50": round_us(self.quantile(0.5)),
            "p90": round_us(self.quantile(0.9)),
            "p99": round_us(self.quantile(0.99)),
            "max": round_us(self.max()),
        })
    }
}

/// Small counting map with a bound on distinct keys (further keys are
/// counted in `other`).
#[derive(Clone, Debug, Default)]
struct Counts {
    m: BTreeMap<u64, u64>,
    other: u64,
}

impl Counts {
    const MAX_KEYS: usize = 64;

    fn add(&mut self, k: u64) {
        if let Some(n) = self.m.get_mut(&k) {
            *n += 1;
        } else if self.m.len() < Self::MAX_KEYS {
            self.m.insert(k, 1);
        } else {
            self.other += 1;
        }
    }

    /// The most frequent key (ties: the larger key).
    fn mode(&self) -> Option<u64> {
        self.m
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
            .map(|(k, _)| *k)
    }

    fn total(&self) -> u64 {
        self.m.values().sum::<u64>() + self.other
    }
}

/// What the builder keeps per server endpoint.
#[derive(Clone, Debug, Default)]
struct ServerAgg {
    connections: u64,
    with_requests: u64,
    requests: u64,
    handshakes: u64,
    reused: u64,
    // The server's idle closes.
    server_idle: Sketch,
    server_idle_ev: Evidence,
    advertised_timeout: Counts,
    closed_before_advertised: u64,
    closed_before_advertised_ev: Evidence,
    closed_before_advertised_idle: Sketch,
    // Clients' idle before reuse.
    reuse_idle: Sketch,
    reuse_conns: u64,
    reuse_ev: Evidence,
    // The race.
    after_fin: u64,
    after_fin_conns: u64,
    after_fin_reset: u64,
    after_fin_unanswered: u64,
    after_fin_idle: Sketch,
    after_fin_ev: Evidence,
    // Resets with a request outstanding (not the race).
    reset_outstanding: [u64; 2],
    reset_ev: Evidence,
    // Rollovers: connections the server ended with Connection: close
    // (after at least two requests), by request count.
    rollover_counts: Counts,
    rollover_ev: Evidence,
    rollover_advertised_max: Counts,
    /// Of the rollovers, HTTP/2 connections the server ended with GOAWAY
    /// (NO_ERROR, a stream limit), by streams it processed.
    rollover_h2: u64,
    /// HTTP/2 GOAWAYs right after the last stream with none pending
    /// (`after_last_stream`): a limit only if the count repeats.
    rollover_h2_soft: Counts,
    rollover_h2_soft_ev: Evidence,
    // One-request connections and why.
    single_close_token: u64,
    single_http10: u64,
    single_client_new_conn: u64,
    client_ev: Evidence,
    single_server_close: u64,
    single_server_http10: u64,
    server_ev: Evidence,
}

/// What the findings need of a connection's exchanges, kept while it is
/// open (the exchanges themselves leave as they settle): a few fields,
/// whatever the number of exchanges.
#[derive(Clone, Debug, Default)]
pub struct Digest {
    /// The server's `ADDR:PORT`, once known.
    server: Option<String>,
    /// The previous exchange's response end (seconds into the connection).
    prev_response_end: Option<f64>,
    /// Some request followed an answered one (idle reuse).
    reused_here: bool,
    /// The frame of the last response's head.
    last_response_frame: Option<FrameNo>,
    /// `max=` of the first response that sent a `Keep-Alive` header.
    first_keep_alive: Option<Option<u64>>,
    /// The first exchange that had a request.
    first_request: Option<Box<ExchangeReport>>,
}

/// What the findings read of an exchange (see
/// `FindingsBuilder::exchange_facts`): worker threads send this instead
/// of the whole exchange when the output does not want it.
#[derive(Clone, Copy, Debug)]
pub struct ExchangeFacts {
    request_start: Option<f64>,
    response_end: Option<f64>,
    pub(crate) has_request: bool,
    /// The response's head frame and its `Keep-Alive: max=`, if any.
    response: Option<(FrameNo, Option<Option<u64>>)>,
}

impl ExchangeFacts {
    /// The facts of a settled HTTP/1 exchange, read from it before (and
    /// instead of) building its report: the same values as
    /// [`ExchangeFacts::of`] its [`crate::report::build::exchange_report`]
    /// (`origin`: the connection's first packet).
    pub(crate) fn of_http1(ex: &crate::http::Exchange, origin: crate::types::At) -> Self {
        let rel = |a: crate::types::At| crate::types::secs(a, origin);
        ExchangeFacts {
            request_start: ex.request.as_ref().map(|r| rel(r.timing.start)),
            response_end: ex.response.as_ref().and_then(|r| r.timing.end.map(rel)),
            has_request: ex.request.is_some(),
            response: ex
                .response
                .as_ref()
                .map(|r| (r.timing.start.frame, r.head.keep_alive.map(|k| k.max))),
        }
    }

    pub(crate) fn of(ex: &ExchangeReport) -> Self {
        ExchangeFacts {
            request_start: ex.timing.request_start,
            response_end: ex.timing.response_end,
            has_request: ex.request.is_some(),
            response: ex
                .response
                .as_ref()
                .map(|r| (r.message.frame, r.message.keep_alive.map(|k| k.max))),
        }
    }
}

/// Collects bounded per-server aggregates from concluded connections and
/// turns them into findings (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct FindingsBuilder {
    servers: BTreeMap<String, ServerAgg>,
    /// Connections to servers beyond [`MAX_SERVERS`].
    untracked_connections: u64,
}

fn role_index(r: Role) -> usize {
    match r {
        Role::Client => 0,
        Role::Server => 1,
    }
}

impl FindingsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one exchange of an open connection (to the server `server`
    /// names, `ADDR:PORT`; with id `conn`) in, in order; `stale`: its
    /// request went out after the server's FIN.
    pub fn exchange(
        &mut self,
        d: &mut Digest,
        server: impl FnOnce() -> String,
        conn: u64,
        ex: &ExchangeReport,
        stale: bool,
    ) {
        let facts = ExchangeFacts::of(ex);
        self.exchange_facts(d, server, conn, &facts, stale, || {
            Some(Box::new(ex.clone()))
        });
    }

    /// [`FindingsBuilder::exchange`] from what it reads of an exchange;
    /// `full`: the whole exchange, asked for when it is the connection's
    /// first with a request (the evidence quotes it).
    pub(crate) fn exchange_facts(
        &mut self,
        d: &mut Digest,
        server: impl FnOnce() -> String,
        conn: u64,
        ex: &ExchangeFacts,
        stale: bool,
        full: impl FnOnce() -> Option<Box<ExchangeReport>>,
    ) {
        let _ = conn;
        let key = d.server.get_or_insert_with(server);
        // Found without a copy of the name (a String for every exchange).
        let s = if self.servers.contains_key(key.as_str()) {
            match self.servers.get_mut(key.as_str()) {
                Some(s) => s,
                None => return,
            }
        } else if self.servers.len() >= MAX_SERVERS {
            return;
        } else {
            self.servers.entry(key.clone()).or_default()
        };
        // Idle gaps before each reuse, and the requests that raced a FIN.
        if let (Some(end), Some(start)) = (d.prev_response_end, ex.request_start)
            && start >= end
        {
            // (A request sent before the previous answer ended is pipelined.)
            let gap = start - end;
            s.reuse_idle.add(gap);
            d.reused_here = true;
            if stale {
                s.after_fin_idle.add(gap);
                if ex.response.is_none() {
                    s.after_fin_unanswered += 1;
                }
            }
        }
        d.prev_response_end = ex.response_end;
        if let Some((frame, keep_alive)) = ex.response {
            d.last_response_frame = Some(frame);
            if d.first_keep_alive.is_none()
                && let Some(k) = keep_alive
            {
                d.first_keep_alive = Some(k);
            }
        }
        if d.first_request.is_none() && ex.has_request {
            d.first_request = full();
        }
    }

    /// Folds one concluded connection into the aggregates; `d` holds what
    /// its exchanges showed (see [`FindingsBuilder::exchange`]).
    pub fn add(&mut self, c: &ConnectionReport, d: &Digest) {
        if !self.servers.contains_key(&c.server) && self.servers.len() >= MAX_SERVERS {
            self.untracked_connections += 1;
            return;
        }
        let s = self.servers.entry(c.server.clone()).or_default();
        s.connections += 1;
        s.requests += c.requests;
        s.handshakes += c.handshake_complete as u64;
        s.with_requests += (c.requests > 0) as u64;
        s.reused += c.reused as u64;
        let close = &c.close;

        // The server's idle close (not an estimate from TLS records: a
        // server closing after Connection: close looks the same there).
        if close.reason == CloseReason::Idle
            && !close.estimated
            && close.by == Some(Role::Server)
            && let Some(idle) = close.idle_seconds
        {
            s.server_idle.add(idle);
            s.server_idle_ev.add(c.id, c.fin.server.or(c.rst.server));
            if let Some(t) = close.advertised_timeout {
                s.advertised_timeout.add(t);
                if close.matches_timeout == Some(false) && idle < t as f64 {
                    s.closed_before_advertised += 1;
                    s.closed_before_advertised_idle.add(idle);
                    s.closed_before_advertised_ev
                        .add(c.id, c.fin.server.or(c.rst.server));
                }
            }
        }

        // The requests that raced a FIN.
        let stale: Vec<FrameNo> = c
            .anomalies
            .iter()
            .filter(|a| a.kind == AnomalyKind::RequestAfterPeerFin)
            .map(|a| a.frame)
            .collect();
        if d.reused_here {
            s.reuse_conns += 1;
            s.reuse_ev.add(c.id, None);
        }
        if !stale.is_empty() {
            s.after_fin += stale.len() as u64;
            s.after_fin_conns += 1;
            s.after_fin_reset += c.rst.server.is_some() as u64;
            for &f in &stale {
                s.after_fin_ev.add(c.id, Some(f));
            }
        }

        // A reset with a request outstanding.
        if close.reason == CloseReason::Reset
            && close.request_outstanding == Some(true)
            && let Some(by) = close.by
        {
            s.reset_outstanding[role_index(by)] += 1;
            s.reset_ev.add(c.id, c.rst.client.or(c.rst.server));
        }

        // The server ended the connection with Connection: close after
        // several requests the client meant to keep going with.
        if close.reason == CloseReason::ConnectionClose
            && close.said_by == Some(SaidBy::Server)
            && c.requests >= 2
        {
            s.rollover_counts.add(c.requests);
            s.rollover_ev.add(c.id, d.last_response_frame);
            if let Some(max) = d.first_keep_alive.flatten() {
                // max= on the first response counts the requests left after it.
                s.rollover_advertised_max.add(max.saturating_add(1));
            }
        }

        // HTTP/2: the server's NO_ERROR GOAWAY right after its last
        // stream, counted by the streams it processed (nginx
        // keepalive_requests counts HTTP/2 streams too).
        if close.reason == CloseReason::Goaway
            && close.by == Some(Role::Server)
            && let Some(g) = &close.goaway
            && g.cause == crate::verdict::h2::GoawayCause::StreamLimit
            && g.streams.saturating_sub(g.unprocessed) >= 2
        {
            s.rollover_counts
                .add(g.streams.saturating_sub(g.unprocessed));
            s.rollover_ev.add(c.id, Some(g.frame));
            s.rollover_h2 += 1;
        }
        if close.reason == CloseReason::Goaway
            && close.by == Some(Role::Server)
            && let Some(g) = &close.goaway
            && g.cause == crate::verdict::h2::GoawayCause::AfterLastStream
            && g.streams >= 2
        {
            s.rollover_h2_soft.add(g.streams);
            s.rollover_h2_soft_ev.add(c.id, Some(g.frame));
        }

        // One request per connection: whose doing?
        if c.requests == 1
            && let Some(ex) = &d.first_request
            && let Some(req) = &ex.request
        {
            let req_frame = Some(req.message.frame);
            match req.message.persistence {
                Persistence::CloseToken => {
                    s.single_close_token += 1;
                    s.client_ev.add(c.id, req_frame);
                }
                Persistence::Http10Default => {
                    s.single_http10 += 1;
                    s.client_ev.add(c.id, req_frame);
                }
                Persistence::KeepAlive => match ex.response.as_ref().map(|r| r.message.persistence)
                {
                    Some(Persistence::CloseToken) => {
                        s.single_server_close += 1;
                        s.server_ev
                            .add(c.id, ex.response.as_ref().map(|r| r.message.frame));
                    }
                    Some(Persistence::Http10Default) => {
                        s.single_server_http10 += 1;
                        s.server_ev
                            .add(c.id, ex.response.as_ref().map(|r| r.message.frame));
                    }
                    Some(Persistence::KeepAlive)
                        if close.reason == CloseReason::Idle && close.by == Some(Role::Client) =>
                    {
                        s.single_client_new_conn += 1;
                        s.client_ev.add(c.id, c.fin.client.or(c.rst.client));
                    }
                    _ => {}
                },
            }
        }
    }

    /// The findings: errors first, then warnings, then info; by server.
    pub fn finish(&self, summary: &Summary) -> Vec<Finding> {
        let mut out = Vec::new();
        for (server, s) in &self.servers {
            server_findings(server, s, &mut out);
        }
        if summary.requests > 0 {
            out.push(overview(summary, self.untracked_connections));
        }
        out.sort_by(|a, b| {
            a.severity
                .rank()
                .cmp(&b.severity.rank())
                .then(a.server.is_none().cmp(&b.server.is_none()))
                .then(a.server.cmp(&b.server))
                .then(a.kind.cmp(&b.kind))
        });
        out
    }
}

/// Seconds with three significant digits (for sentences that compare two
/// close numbers: "1.03 s" against "1.00 s").
pub fn secs3(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0} s")
    } else if x >= 10.0 {
        format!("{x:.1} s")
    } else if x >= 1.0 {
        format!("{x:.2} s")
    } else if x >= 0.01 {
        format!("{:.0} ms", x * 1e3)
    } else if x >= 0.001 {
        format!("{:.1} ms", x * 1e3)
    } else {
        format!("{:.0} µs", x * 1e6)
    }
}

/// A round timeout strictly above `x` seconds, for advice.
pub fn round_above(x: f64) -> u64 {
    const STEPS: [u64; 21] = [
        1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 75, 90, 120, 180, 240, 300, 600, 900, 1200, 1800, 3600,
    ];
    STEPS
        .iter()
        .copied()
        .find(|&t| t as f64 > x)
        .unwrap_or_else(|| ((x / 3600.0).floor() as u64 + 1) * 3600)
}

/// A round timeout at or below `x` seconds (but above 0), for advice.
fn round_below(x: f64) -> String {
    if x >= 2.0 {
        format!("{} s", x.floor() as u64)
    } else {
        secs3(x)
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        ((a as f64 / b as f64) * 1000.0).round() / 1000.0
    }
}

fn obj(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn server_findings(server: &str, s: &ServerAgg, out: &mut Vec<Finding>) {
    let finding =
        |kind, severity, observed: String, evidence: &Evidence, figures, advice| Finding {
            kind,
            severity,
            server: Some(server.to_string()),
            observed,
            evidence: evidence.clone().sorted(),
            figures,
            advice,
        };
    let timeout = (s.server_idle.count() > 0).then(|| s.server_idle.min());
    let advertised = s.advertised_timeout.mode();

    // The race between the server's idle timeout and the clients' reuse.
    let client_max = s.reuse_idle.max();
    let risky = timeout.is_some_and(|t| s.reuse_idle.count() > 0 && client_max >= 0.8 * t);
    if s.after_fin > 0 || risky {
        let severity = if s.after_fin > 0 {
            Severity::Error
        } else {
            Severity::Warning
        };
        let server_txt = match timeout {
            Some(t) => format!("this server closes them after {}", secs3(t)),
            None => "this server closes them sooner".to_string(),
        };
        let observed = if s.after_fin > 0 {
            format!(
                "{} went out after the server's FIN on {} ({} reset by the server, {} never answered): clients reused connections idle up to {}, {server_txt}",
                plural(s.after_fin, "request", "requests"),
                plural(s.after_fin_conns, "connection", "connections"),
                s.after_fin_reset,
                s.after_fin_unanswered,
                secs3(client_max),
            )
        } else {
            format!(
                "clients reuse connections idle up to {}, within 20% of the server's idle timeout ({}): requests will race its FIN",
                secs3(client_max),
                secs3(timeout.unwrap_or(0.0)),
            )
        };
        let advice = match timeout {
            Some(t) => format!(
                "clients reuse connections idle up to {}; {server_txt}: set the client's idle timeout below {} or the server's above {} s",
                secs3(client_max),
                round_below(t),
                round_above(client_max)
            ),
            None => format!(
                "clients reuse connections idle up to {}: set the client's pool idle timeout below the server's, or make the server keep idle connections above {} s",
                secs3(client_max),
                round_above(client_max)
            ),
        };
        let ev = if s.after_fin > 0 {
            &s.after_fin_ev
        } else {
            &s.reuse_ev
        };
        out.push(finding(
            FindingKind::IdleTimeoutRace,
            severity,
            observed,
            ev,
            obj(vec![
                ("requests_after_server_fin", json!(s.after_fin)),
                ("connections_with_stale_requests", json!(s.after_fin_conns)),
                (
                    "server_resets_after_stale_request",
                    json!(s.after_fin_reset),
                ),
                ("stale_requests_unanswered", json!(s.after_fin_unanswered)),
                (
                    "client_max_idle_before_request",
                    json!(round_us(client_max)),
                ),
                (
                    "stale_request_idle",
                    if s.after_fin_idle.count() > 0 {
                        s.after_fin_idle.figures()
                    } else {
                        Value::Null
                    },
                ),
                (
                    "server_idle_timeout_observed",
                    timeout.map_or(Value::Null, |t| json!(round_us(t))),
                ),
                (
                    "suggested_client_idle_timeout_below",
                    timeout.map_or(Value::Null, |t| json!(round_us(t))),
                ),
                (
                    "suggested_server_idle_timeout_above",
                    json!(round_above(client_max)),
                ),
            ]),
            advice,
        ));
    }

    // Resets while a request was unanswered.
    let [by_client, by_server] = s.reset_outstanding;
    if by_client + by_server > 0 {
        let who = match (by_client > 0, by_server > 0) {
            (true, true) => "clients and the server",
            (true, false) => "clients",
            _ => "the server",
        };
        let advice = if by_server >= by_client {
            "find why the server aborts connections mid-request (its error log: crashes, limits, a proxy's upstream timeout); clients should retry idempotent requests".to_string()
        } else {
            "the clients gave up waiting (a client-side timeout shorter than the server's response time): raise the client's timeout or make the server answer sooner".to_string()
        };
        out.push(finding(
            FindingKind::ResetWithRequestOutstanding,
            Severity::Error,
            format!(
                "{who} reset {} while a request was unanswered ({by_server} by the server, {by_client} by clients)",
                plural(by_client + by_server, "connection", "connections")
            ),
            &s.reset_ev,
            obj(vec![
                ("connections", json!(by_client + by_server)),
                ("reset_by_server", json!(by_server)),
                ("reset_by_client", json!(by_client)),
            ]),
            advice,
        ));
    }

    // The advertised timeout against the observed one.
    if let Some(adv) = advertised
        && s.closed_before_advertised > 0
    {
        let observed_t = s.closed_before_advertised_idle.quantile(0.5);
        out.push(finding(
            FindingKind::AdvertisedTimeoutMismatch,
            Severity::Warning,
            format!(
                "the server says Keep-Alive: timeout={adv} but closed {} after {} idle",
                plural(s.closed_before_advertised, "connection", "connections"),
                secs3(observed_t)
            ),
            &s.closed_before_advertised_ev,
            obj(vec![
                ("advertised_timeout", json!(adv)),
                ("closes_before_advertised", json!(s.closed_before_advertised)),
                ("idle_before_close", s.closed_before_advertised_idle.figures()),
            ]),
            format!(
                "make the server's Keep-Alive: timeout= say what it does (timeout={}, nginx: keepalive_timeout {}s {}s) or keep idle connections open for the advertised {adv} s",
                observed_t.floor() as u64,
                observed_t.round() as u64,
                observed_t.floor() as u64
            ),
        ));
    }

    // Rollovers at a request limit. HTTP/2 GOAWAYs after the last stream
    // count when the same number of streams repeats on this server.
    let merged;
    let s = if s
        .rollover_h2_soft
        .mode()
        .and_then(|k| s.rollover_h2_soft.m.get(&k))
        .is_some_and(|&n| n >= 2)
    {
        let mut m = s.clone();
        for (&k, &n) in &s.rollover_h2_soft.m {
            for _ in 0..n {
                m.rollover_counts.add(k);
            }
        }
        m.rollover_h2 += s.rollover_h2_soft.total();
        for &c in &s.rollover_h2_soft_ev.connections {
            m.rollover_ev.add(c, None);
        }
        for &f in &s.rollover_h2_soft_ev.frames {
            m.rollover_ev.frames.push(f);
        }
        m.rollover_ev.frames.truncate(MAX_EVIDENCE);
        merged = m;
        &merged
    } else {
        s
    };
    if let Some(limit) = s.rollover_counts.mode() {
        let rollovers = s.rollover_counts.total();
        let adv_max = s.rollover_advertised_max.mode();
        let severity = if limit < LOW_REQUEST_LIMIT {
            Severity::Warning
        } else {
            Severity::Info
        };
        let advice = if severity == Severity::Warning {
            format!(
                "raise the server's requests-per-connection limit (nginx keepalive_requests, Apache MaxKeepAliveRequests, Tomcat maxKeepAliveRequests) from {limit} to 1000 or more: each rollover costs the client a new handshake"
            )
        } else {
            format!(
                "nothing to change: a limit of {limit} requests per connection costs one handshake per {limit} requests"
            )
        };
        out.push(finding(
            FindingKind::RequestLimitRollover,
            severity,
            format!(
                "the server ended {} with {} after {limit} requests{}; {} requests on {} here",
                plural(rollovers, "connection", "connections"),
                match (s.rollover_h2, rollovers - s.rollover_h2) {
                    (0, _) => "Connection: close",
                    (_, 0) => "an HTTP/2 GOAWAY (NO_ERROR)",
                    _ => "Connection: close or an HTTP/2 GOAWAY (NO_ERROR)",
                },
                adv_max
                    .map(|m| format!(" (its Keep-Alive: max= allowed {m})"))
                    .unwrap_or_default(),
                s.requests,
                plural(s.connections, "connection", "connections"),
            ),
            &s.rollover_ev,
            {
                let mut f = obj(vec![
                    ("request_limit", json!(limit)),
                    ("rollovers", json!(rollovers)),
                    (
                        "advertised_max_requests",
                        adv_max.map_or(Value::Null, |m| json!(m)),
                    ),
                    ("connections", json!(s.connections)),
                    ("requests", json!(s.requests)),
                    (
                        "requests_per_handshake",
                        json!(ratio(s.requests, s.handshakes)),
                    ),
                ]);
                if s.rollover_h2 > 0 {
                    f.insert("http2_rollovers".into(), json!(s.rollover_h2));
                }
                f
            },
            advice,
        ));
    }

    // One connection per request.
    let client_single = s.single_close_token + s.single_http10 + s.single_client_new_conn;
    if client_single >= 2 && client_single * 2 > s.with_requests {
        let (cause, what, advice) = if s.single_close_token >= s.single_http10
            && s.single_close_token >= s.single_client_new_conn
        {
            (
                "connection_close",
                "send Connection: close on every request",
                "let the client keep connections: drop the Connection: close header (Go: leave Transport.DisableKeepAlives false; python requests: use one Session, without Connection: close; curl: one invocation for many URLs)",
            )
        } else if s.single_http10 >= s.single_client_new_conn {
            (
                "http10",
                "speak HTTP/1.0 without keep-alive",
                "use HTTP/1.1 in the client, or send Connection: keep-alive (ab: -k; curl: without -0)",
            )
        } else {
            (
                "new_connection_per_request",
                "open a new connection for each request although the server keeps the last one open",
                "reuse one client (a connection pool: python requests.Session, Go's shared http.Client, node's keepAlive agent) instead of creating one per request",
            )
        };
        out.push(finding(
            FindingKind::ClientDefeatsReuse,
            Severity::Warning,
            format!(
                "clients {what}: {} of {} with requests carried a single request ({:.2} requests per handshake)",
                client_single,
                plural(s.with_requests, "connection", "connections"),
                ratio(s.requests, s.handshakes)
            ),
            &s.client_ev,
            obj(vec![
                ("cause", json!(cause)),
                ("single_request_connections", json!(client_single)),
                ("connections_with_requests", json!(s.with_requests)),
                ("connection_close_requests", json!(s.single_close_token)),
                ("http10_requests", json!(s.single_http10)),
                (
                    "new_connection_while_kept_open",
                    json!(s.single_client_new_conn),
                ),
                (
                    "requests_per_handshake",
                    json!(ratio(s.requests, s.handshakes)),
                ),
            ]),
            advice.to_string(),
        ));
    }
    let server_single = s.single_server_close + s.single_server_http10;
    if server_single >= 2 && server_single * 2 > s.with_requests {
        let (cause, what) = if s.single_server_close >= s.single_server_http10 {
            ("connection_close", "answers with Connection: close")
        } else {
            ("http10", "answers in HTTP/1.0 without keep-alive")
        };
        out.push(finding(
            FindingKind::ServerDefeatsReuse,
            Severity::Warning,
            format!(
                "the server {what} to clients that asked for keep-alive: {server_single} of {} with requests carried a single request",
                plural(s.with_requests, "connection", "connections"),
            ),
            &s.server_ev,
            obj(vec![
                ("cause", json!(cause)),
                ("single_request_connections", json!(server_single)),
                ("connections_with_requests", json!(s.with_requests)),
                ("connection_close_responses", json!(s.single_server_close)),
                ("http10_responses", json!(s.single_server_http10)),
                (
                    "requests_per_handshake",
                    json!(ratio(s.requests, s.handshakes)),
                ),
            ]),
            "enable keep-alive on the server (HTTP/1.1 responses without Connection: close; python http.server: protocol_version = \"HTTP/1.1\"; nginx: keepalive_timeout above 0)".to_string(),
        ));
    }

    // What the server's idle timeout is.
    if let Some(t) = timeout {
        let median = s.server_idle.quantile(0.5);
        let agrees = advertised.map(|a| {
            let a = a as f64;
            median >= a - 0.25 && median <= a + (0.1 * a).max(1.0)
        });
        let said = match (advertised, agrees) {
            (Some(a), Some(true)) => format!(", as its Keep-Alive: timeout={a} says"),
            (Some(a), _) => format!("; its Keep-Alive says timeout={a}"),
            (None, _) => "; it advertises no Keep-Alive: timeout=".to_string(),
        };
        out.push(finding(
            FindingKind::ServerIdleTimeout,
            Severity::Info,
            format!(
                "the server closes idle keep-alive connections after {} ({}, {} to {}){said}",
                secs3(median),
                plural(s.server_idle.count(), "close", "closes"),
                secs3(t),
                secs3(s.server_idle.max())
            ),
            &s.server_idle_ev,
            obj(vec![
                ("idle_before_close", s.server_idle.figures()),
                (
                    "advertised_timeout",
                    advertised.map_or(Value::Null, |a| json!(a)),
                ),
                (
                    "agrees_with_advertised",
                    agrees.map_or(Value::Null, |a| json!(a)),
                ),
            ]),
            format!(
                "keep every pooled client's (and load balancer's) idle timeout for this server below {}",
                secs3(t)
            ),
        ));
    }

    // How long clients idle before reusing.
    if s.reuse_idle.count() > 0 {
        out.push(finding(
            FindingKind::ClientReuseIdle,
            Severity::Info,
            format!(
                "clients reused connections after up to {} idle (median {}, p90 {}; {} on {})",
                secs3(client_max),
                secs3(s.reuse_idle.quantile(0.5)),
                secs3(s.reuse_idle.quantile(0.9)),
                plural(s.reuse_idle.count(), "reuse", "reuses"),
                plural(s.reuse_conns, "connection", "connections"),
            ),
            &s.reuse_ev,
            obj(vec![("idle_before_request", s.reuse_idle.figures())]),
            if client_max < 1.0 {
                format!(
                    "nothing to change: clients reuse connections within {}, far below any usual idle timeout",
                    secs3(client_max)
                )
            } else {
                format!(
                    "keep this server's idle timeout (and that of anything in front of it) above {}",
                    secs3(client_max)
                )
            },
        ));
    }
}

fn overview(s: &Summary, untracked: u64) -> Finding {
    let with_requests = s.connections - s.requests_per_connection.histogram.get(&0).unwrap_or(&0);
    Finding {
        kind: FindingKind::ReuseOverview,
        severity: Severity::Info,
        server: None,
        observed: format!(
            "{} on {} handshakes ({:.2} per handshake); {} of {} with requests reused",
            plural(s.requests, "request", "requests"),
            s.handshakes_completed,
            s.requests_per_handshake,
            s.reused_connections,
            plural(with_requests, "connection", "connections"),
        ),
        evidence: Evidence::default(),
        figures: obj(vec![
            ("connections", json!(s.connections)),
            ("requests", json!(s.requests)),
            ("handshakes_completed", json!(s.handshakes_completed)),
            ("requests_per_handshake", json!(s.requests_per_handshake)),
            ("reused_share", json!(s.reused_share)),
            ("servers", json!(s.by_server.len())),
            ("connections_not_analysed_per_server", json!(untracked)),
        ]),
        advice: if s.requests_per_handshake < 1.5 && s.requests >= 4 {
            "most requests paid for a handshake of their own: see the warnings for the servers concerned".to_string()
        } else {
            "see the per-server findings for what to change, if anything".to_string()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for &k in FindingKind::ALL {
            assert!(seen.insert(k.name()));
            assert!(
                k.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert_eq!(FindingKind::from_name(k.name()), Some(k));
            assert!(!k.meaning().is_empty());
        }
    }

    /// The dense buckets give the quantiles a map from bucket to count
    /// gives, for values spread over many decades, below 1 µs included,
    /// added in an order that makes the first bucket move down.
    #[test]
    fn sketch_buckets_are_a_sorted_map() {
        let mut s = Sketch::default();
        let mut reference: BTreeMap<i32, u64> = BTreeMap::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..5000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = match i % 4 {
                0 => 1e-7 * (x % 100) as f64,
                1 => 10f64.powi(-((x % 9) as i32)) * (1.0 + (x % 1000) as f64 / 1000.0),
                2 => (x % 3600) as f64,
                _ => 1e6 / (1 + x % 1_000_000) as f64,
            };
            s.add(v);
            reference
                .entry(bucket_of(v))
                .and_modify(|n| *n += 1)
                .or_insert(1);
        }
        for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0] {
            let rank = ((q * s.count() as f64).ceil() as u64).max(1);
            let mut seen = 0;
            let want = reference
                .iter()
                .find_map(|(&b, &n)| {
                    seen += n;
                    (seen >= rank).then(|| bucket_value(b).clamp(s.min(), s.max()))
                })
                .unwrap_or(s.max());
            assert_eq!(s.quantile(q), want, "q {q}");
        }
    }

    #[test]
    fn sketch_is_exact_then_bucketed_within_two_percent() {
        let mut s = Sketch::default();
        for i in 1..=100 {
            s.add(i as f64 / 10.0);
        }
        assert_eq!(s.quantile(0.5), 5.0);
        assert_eq!(s.quantile(0.9), 9.0);
        assert_eq!(s.max(), 10.0);
        let mut big = Sketch::default();
        for i in 1..=10_000u64 {
            big.add(i as f64 / 1000.0);
        }
        assert_eq!(big.count(), 10_000);
        assert!(big.dense.len() < 1000, "{}", big.dense.len());
        let p50 = big.quantile(0.5);
        assert!((p50 - 5.0).abs() / 5.0 < 0.02, "{p50}");
        assert_eq!(big.max(), 10.0);
        assert_eq!(big.min(), 0.001);
        s.add(f64::NAN);
        s.add(-1.0);
        assert_eq!(s.count(), 100);
    }

    #[test]
    fn round_numbers_for_advice() {
        assert_eq!(round_above(58.0), 60);
        assert_eq!(round_above(1.03), 2);
        assert_eq!(round_above(3.0), 5);
        assert_eq!(round_above(5000.0), 7200);
        assert_eq!(secs3(1.0307), "1.03 s");
        assert_eq!(secs3(58.2), "58.2 s");
        assert_eq!(secs3(0.0014), "1.4 ms");
        assert_eq!(secs3(0.045), "45 ms");
        assert_eq!(round_below(5.0), "5 s");
        assert_eq!(round_below(1.0), "1.00 s");
    }

    #[test]
    fn evidence_is_capped() {
        let mut e = Evidence::default();
        for i in 0..100 {
            e.add(i, Some(i * 2));
        }
        assert_eq!(e.connections.len(), MAX_EVIDENCE);
        assert_eq!(e.frames.len(), MAX_EVIDENCE);
    }
}
