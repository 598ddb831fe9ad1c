//! Keep-alive verdicts: why each connection was reused or closed.
//!
//! This is the one place that looks at TCP facts (who sent the first FIN or
//! RST, when) and HTTP facts (what each message said about persistence)
//! together. Pure functions of a finished [`Connection`] and its exchanges.
//!
//! Precedence of `close.reason` (first that applies):
//! 1. `refused`: the SYN was answered by a RST.
//! 2. `open`: no FIN or RST in the capture.
//! 3. `reset`: the first close was a RST.
//! 4. `no_http`: no HTTP message was seen.
//! 5. `mid_message`: at the first FIN a request was unanswered, or a message
//!    had started and not ended (a close-delimited response ended by the
//!    server's FIN has ended).
//! 6. `http10`: the last exchange was HTTP/1.0 on either side without
//!    `keep-alive` (wins over `connection_close`).
//! 7. `connection_close`: the last exchange said `Connection: close`, or its
//!    response could only end at close.
//! 8. `idle`: otherwise: the last exchange was persistent and nothing was
//!    outstanding when one side closed.
//!
//! A TLS connection whose plaintext was not analysed (no keys) is judged
//! from its TLS records instead ([`tls`]): `tls_failed` when the handshake
//! failed or was abandoned, else `reset`, `mid_message` or `idle` from the
//! turns, with `estimated` set.
//!
//! HTTP/2 connections are judged by [`h2::judge_h2`] (its docs give the
//! precedence there: `goaway` after `open`, before `reset`).

pub mod h2;
pub mod tls;

use crate::anomaly::AnomalyKind;
use crate::http::keepalive::{ExchangePersistence, exchange_persistence};
use crate::http::{Exchange, Framing, KeepAliveParams};
use crate::named_enum;
use crate::tcp::Connection;
use crate::tcp::connection::{CloseKind, FirstClose};
use crate::types::{Anomaly, At, MAX_ANOMALIES_PER_CONNECTION, PerRole, Role, human_secs, secs};

named_enum! {
    /// Why a connection ended: exactly one per connection (see the module
    /// docs for the precedence).
    pub enum CloseReason {
        /// The SYN was answered by a RST.
        Refused = "refused",
        /// No FIN or RST in the capture.
        Open = "open",
        /// A RST ended the connection.
        Reset = "reset",
        /// The connection carried no HTTP.
        NoHttp = "no_http",
        /// A FIN came while a request was unanswered or a message unfinished.
        MidMessage = "mid_message",
        /// The last exchange was HTTP/1.0 without keep-alive.
        Http10 = "http10",
        /// The last exchange said `Connection: close` (or had no length).
        ConnectionClose = "connection_close",
        /// Closed while idle after a persistent exchange.
        Idle = "idle",
        /// The connection became a tunnel (101 Switching Protocols, or 2xx
        /// to CONNECT): HTTP ended there, whatever closed it later.
        Upgraded = "upgraded",
        /// The TLS handshake failed (an alert) or was abandoned (the
        /// connection ended before it completed).
        TlsFailed = "tls_failed",
        /// HTTP/2: the connection ended after a GOAWAY from `close.by`
        /// (its error code, last_stream_id and what it looks like are in
        /// `close.goaway`).
        Goaway = "goaway",
    }
}

/// What was unfinished when the connection closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfinished {
    /// A request had been sent and no answer had begun.
    Unanswered,
    /// A request was still being sent.
    Request,
    /// A response was still arriving.
    Response,
}

/// The first unfinished exchange at the close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outstanding {
    /// What was unfinished.
    pub what: Unfinished,
    /// The request's number on the connection (1-based), if it was seen.
    pub request: Option<u64>,
}

named_enum! {
    /// Who said `Connection: close` in the last exchange.
    pub enum SaidBy {
        /// The client's request.
        Client = "client",
        /// The server's response.
        Server = "server",
        /// Both.
        Both = "both",
    }
}

/// How and why a connection ended: facts only; `report/` words them.
#[derive(Clone, Debug, PartialEq)]
pub struct Close {
    /// The reason.
    pub reason: CloseReason,
    /// Who sent the first FIN or RST (`None` when open).
    pub by: Option<Role>,
    /// FIN or RST (`None` when open).
    pub kind: Option<CloseKind>,
    /// For `connection_close`: who said it (`None` when the response was
    /// close-delimited without a close token).
    pub said_by: Option<SaidBy>,
    /// For `connection_close`: the response had no length, so only the
    /// close could end it.
    pub close_delimited: bool,
    /// For `idle`: seconds from the last message's end to the close.
    pub idle_seconds: Option<f64>,
    /// For `idle`: the closer advertised `Keep-Alive: timeout=N`.
    pub advertised_timeout: Option<u64>,
    /// For `idle`: whether `idle_seconds` matches the advertised timeout
    /// (see [`matches_timeout`]).
    pub matches_timeout: Option<bool>,
    /// For `idle` with an advertised timeout: `idle_seconds` minus it
    /// (positive: closed later than advertised).
    pub timeout_delta: Option<f64>,
    /// For `reset` and `mid_message`: a request had no final response yet.
    pub request_outstanding: Option<bool>,
    /// For `reset` and `mid_message`: what was unfinished.
    pub outstanding: Option<Outstanding>,
    /// For `idle`: the last response was lost in a capture gap, so whether
    /// it asked to close is not known.
    pub last_response_lost: bool,
    /// The connection carried at least one exchange.
    pub had_exchanges: bool,
    /// For `upgraded`: what the connection switched to (`websocket`,
    /// `h2c`, ... from the Upgrade header, or `connect` for a CONNECT
    /// tunnel).
    pub protocol: Option<String>,
    /// For `upgraded`: bytes each side sent through the tunnel.
    pub tunnel_bytes: Option<PerRole<u64>>,
    /// For `open`: the connection was concluded before the capture ended,
    /// and why (an idle timeout, the memory budget...).
    pub evicted: Option<crate::tcp::flow::Eviction>,
    /// Judged from encrypted TLS records (turns), not from HTTP messages.
    pub estimated: bool,
    /// For a TLS connection judged from its records: what the sentence
    /// needs (see [`tls::TlsClose`]).
    pub tls: Option<tls::TlsClose>,
    /// For `goaway` (HTTP/2): the GOAWAY that ended the connection.
    pub goaway: Option<h2::GoawayClose>,
    /// HTTP/2, for `mid_message`, `reset` and `goaway`: the lowest stream
    /// still open at the first FIN or RST.
    pub open_stream: Option<u32>,
}

/// Idle times of a connection, seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Idle {
    /// Shortest time between the end of one response and the next request.
    pub between_requests_min: Option<f64>,
    /// Longest such time.
    pub between_requests_max: Option<f64>,
    /// From the end of the last message to the first FIN or RST.
    pub before_close: Option<f64>,
}

/// Everything the verdict adds to a connection's report.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// How and why the connection ended.
    pub close: Close,
    /// Idle times.
    pub idle: Idle,
    /// Per exchange not settled before the conclusion (the `window` given
    /// to [`judge`]), in order: may the connection carry another request.
    pub persistent: Vec<bool>,
    /// Keep-alive anomalies (reuse races, broken promises...), at most
    /// [`MAX_ANOMALIES_PER_CONNECTION`] (the earliest by frame).
    pub anomalies: Vec<Anomaly>,
    /// Keep-alive anomalies past that cap (counted, not listed).
    pub anomalies_dropped: u64,
    /// Exchanges, requests and responses over the whole connection.
    pub exchanges: u64,
    /// Exchanges with a request.
    pub requests: u64,
    /// Exchanges with a final response.
    pub responses: u64,
    /// `Keep-Alive` parameters each side advertised (the last of each).
    pub advertised: PerRole<KeepAliveParams>,
    /// What a close after the end of the input would find (see [`Tail`]).
    pub tail: Tail,
}

/// The facts the close verdict needs, as they stand at the end of the
/// input: what stitching needs when a connection cut by the end of one run
/// is closed in a later run whose piece carries no HTTP of its own (only
/// the FINs or RST). With these and the later piece's first close, the
/// verdict follows `close_reason`'s rules as one run over both would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tail {
    /// The first FIN or RST, if any.
    pub first_close: Option<At>,
    /// The end of the last message (what `idle_before_close` counts from).
    pub last_message: Option<At>,
    /// The last exchange's request: HTTP/1.0 without `keep-alive`
    /// (`None`: no request).
    pub request_http10: Option<bool>,
    /// The last exchange's request said `Connection: close`.
    pub request_close: Option<bool>,
    /// The last exchange's response: HTTP/1.0 without `keep-alive`
    /// (`None`: no response).
    pub response_http10: Option<bool>,
    /// The last exchange's response said `Connection: close`.
    pub response_close: Option<bool>,
    /// The last exchange's response had no length (close-delimited).
    pub response_close_delimited: Option<bool>,
    /// The last exchange's answer was lost in a capture gap.
    pub response_lost: bool,
    /// A request unanswered or a message unfinished at the end, other than
    /// a close-delimited response or a Content-Length body still arriving
    /// (`None`: no exchanges).
    pub unfinished: Option<bool>,
    /// A request's Content-Length body still arriving at the end: the
    /// bytes it still needs (the client's next bytes complete it).
    pub request_remaining: Option<u64>,
    /// A response's Content-Length body still arriving: the bytes it
    /// still needs.
    pub response_remaining: Option<u64>,
    /// The last segment with payload from each side.
    pub client_last_payload: Option<At>,
    /// As `client_last_payload`, the server's.
    pub server_last_payload: Option<At>,
    /// A close-delimited response not ended yet: a FIN from the server
    /// ends it, any other close finds it unfinished.
    pub close_delimited_open: Option<bool>,
    /// A TLS connection judged from its records: where the last turn's
    /// last client record ended.
    pub tls_client_last: Option<At>,
    /// Where the last turn's last server record ended (`None`: not
    /// answered, or no turn).
    pub tls_server_last: Option<At>,
    /// Where the last server record before the first turn ended (the
    /// answer to a turn of an earlier piece).
    pub tls_lead_server: Option<At>,
    /// An HTTP/2 connection: the last stream activity up to the first
    /// close (what its `idle_before_close` counts from).
    pub h2_last_activity: Option<At>,
}

/// [`Tail`] over the exchanges not settled (`window`; settled ones cannot
/// be unfinished), `last` the end of the last message: what a FIN or RST
/// after every byte seen would find, by the rules of [`close_reason`] and
/// [`unfinished_at`].
fn tail(conn: &Connection, window: &[Exchange], last: Option<At>) -> Tail {
    let http10 = |v: crate::http::Version, h: &crate::http::HeadInfo| {
        v.minor == 0 && !h.has_token("keep-alive")
    };
    let ex = window.last();
    let req = ex.and_then(|e| e.request.as_ref());
    let resp = ex.and_then(|e| e.response.as_ref());
    let last_answered = window.iter().rposition(|e| e.response.is_some());
    let (mut unfinished, mut close_delimited_open) = (false, false);
    let (mut request_remaining, mut response_remaining) = (None, None);
    // A body still arriving: a Content-Length one, the first in its
    // direction, may end with the bytes that follow; any other stays
    // unfinished.
    let mut in_flight = |framing: Framing, body: u64, slot: &mut Option<u64>| match framing {
        Framing::ContentLength(n) if slot.is_none() => *slot = Some(n.saturating_sub(body)),
        _ => unfinished = true,
    };
    for (i, e) in window.iter().enumerate() {
        if e.response.is_none() && (e.response_lost || last_answered.is_some_and(|l| i < l)) {
            continue;
        }
        if let Some(r) = &e.request
            && r.framing != Framing::Unknown
            && r.timing.end.is_none()
        {
            in_flight(r.framing, r.body_bytes, &mut request_remaining);
        }
        if let Some(r) = &e.response {
            if r.framing == Framing::CloseDelimited {
                close_delimited_open |= r.timing.end.is_none() || !r.complete;
            } else if r.framing != Framing::Unknown && r.timing.end.is_none() {
                in_flight(r.framing, r.body_bytes, &mut response_remaining);
            }
        }
    }
    // A request with no answer begun stays unanswered whatever follows.
    unfinished |= window.iter().enumerate().any(|(i, e)| {
        e.request.is_some()
            && e.response.is_none()
            && !(e.response_lost || last_answered.is_some_and(|l| i < l))
    });
    let any = !window.is_empty();
    Tail {
        first_close: conn.first_close.map(|fc| fc.at),
        last_message: last,
        request_http10: req.map(|r| http10(r.version, &r.head)),
        request_close: req.map(|r| r.head.has_token("close")),
        response_http10: resp.map(|r| http10(r.version, &r.head)),
        response_close: resp.map(|r| r.head.has_token("close")),
        response_close_delimited: resp.map(|r| r.framing == Framing::CloseDelimited),
        response_lost: ex.is_some_and(|e| e.response_lost),
        unfinished: any.then_some(unfinished),
        close_delimited_open: any.then_some(close_delimited_open),
        request_remaining,
        response_remaining,
        client_last_payload: conn.sides.client.last_payload,
        server_last_payload: conn.sides.server.last_payload,
        ..Tail::default()
    }
}

/// A response's `Keep-Alive: max=`, kept while it may still turn out to be
/// exceeded: `bound` = max + the requests up to and including its exchange.
#[derive(Clone, Copy, Debug)]
struct MaxPromise {
    /// Absolute exchange index.
    index: u64,
    /// Requests up to and including that exchange.
    requests: u64,
    max: u64,
    at: At,
}

/// Most `max=` promises kept (each a new lowest bound; see [`Fold`]).
pub const MAX_PROMISES: usize = 256;

/// The verdict's running state over the exchanges of one connection, fed
/// each exchange once it has settled (see `HttpSession::settle`), in order;
/// what is left unsettled when the connection ends is given to [`judge`]
/// with it. Memory is a few counters and at most [`MAX_PROMISES`] +
/// [`MAX_ANOMALIES_PER_CONNECTION`] small records, whatever the number of
/// exchanges.
#[derive(Clone, Debug, Default)]
pub struct Fold {
    exchanges: u64,
    requests: u64,
    responses: u64,
    idle: Idle,
    last_activity: Option<At>,
    client_ka: KeepAliveParams,
    server_ka: KeepAliveParams,
    /// `max=` of the last response that said one.
    last_server_max: Option<u64>,
    /// `max=` promises whose bounds decrease strictly with their index: the
    /// first exceeded by the final request count is the first of these that
    /// is (an exceeded later one has a larger bound than some earlier one).
    promises: Vec<MaxPromise>,
    anomalies: Vec<Anomaly>,
    anomalies_dropped: u64,
}

impl Fold {
    /// A connection before its first exchange.
    pub fn new() -> Self {
        Self::default()
    }

    /// Exchanges folded in so far.
    pub fn exchanges(&self) -> u64 {
        self.exchanges
    }

    /// One settled exchange (absolute index `i`), followed by `next`; the
    /// connection as it is now. Returns whether the exchange persisted.
    pub fn settle(&mut self, conn: &Connection, i: u64, ex: &Exchange, next: &Exchange) -> bool {
        self.observe(conn, i, ex, Some(next), None)
    }

    fn push(&mut self, a: Anomaly) {
        self.anomalies.push(a);
        if self.anomalies.len() >= 2 * MAX_ANOMALIES_PER_CONNECTION {
            self.trim();
        }
    }

    /// Keeps the earliest [`MAX_ANOMALIES_PER_CONNECTION`] by (frame, kind).
    fn trim(&mut self) {
        self.anomalies.sort_by_key(|a| (a.frame, a.kind));
        let extra = self
            .anomalies
            .len()
            .saturating_sub(MAX_ANOMALIES_PER_CONNECTION);
        self.anomalies.truncate(MAX_ANOMALIES_PER_CONNECTION);
        self.anomalies_dropped += extra as u64;
    }

    /// Folds exchange `i` in; `next` is the exchange after it, if any;
    /// `until` limits what counts as activity (the first close, for
    /// exchanges judged at the end). Returns its persistence.
    fn observe(
        &mut self,
        conn: &Connection,
        i: u64,
        ex: &Exchange,
        next: Option<&Exchange>,
        until: Option<At>,
    ) -> bool {
        let p = exchange_persistence(ex);
        self.exchanges += 1;
        if ex.request.is_some() {
            self.requests += 1;
        }
        if ex.response.is_some() {
            self.responses += 1;
        }
        for a in [
            ex.request
                .as_ref()
                .map(|m| m.timing.end.unwrap_or(m.timing.head_end)),
            ex.response
                .as_ref()
                .map(|m| m.timing.end.unwrap_or(m.timing.head_end)),
        ]
        .into_iter()
        .flatten()
        {
            if until.is_none_or(|u| a <= u) {
                self.last_activity = Some(self.last_activity.map_or(a, |l| l.max(a)));
            }
        }
        if let Some(k) = ex.request.as_ref().and_then(|r| r.head.keep_alive) {
            self.client_ka.timeout = k.timeout.or(self.client_ka.timeout);
            self.client_ka.max = k.max.or(self.client_ka.max);
        }
        if let Some(resp) = &ex.response
            && let Some(k) = resp.head.keep_alive
        {
            {
                self.server_ka.timeout = k.timeout.or(self.server_ka.timeout);
                self.server_ka.max = k.max.or(self.server_ka.max);
                if let Some(max) = k.max {
                    self.last_server_max = Some(max);
                    let bound = max.saturating_add(self.requests);
                    let lowest = self
                        .promises
                        .last()
                        .map(|m| m.max.saturating_add(m.requests));
                    if lowest.is_none_or(|l| bound < l) && self.promises.len() < MAX_PROMISES {
                        self.promises.push(MaxPromise {
                            index: i,
                            requests: self.requests,
                            max,
                            at: resp.timing.start,
                        });
                    }
                }
            }
        }

        // Anomalies of this exchange's request.
        if let Some(req) = &ex.request {
            // A client that half-closes on purpose (shutdown(SHUT_WR)) reads
            // the answer; one that gave up has closed its socket, and its
            // kernel answers the late response with a RST.
            let (client_fin, client_rst) = (conn.sides.client.fin, conn.sides.client.rst);
            if let (Some(fin), Some(resp), Some(rst)) = (client_fin, &ex.response, client_rst)
                && req.timing.start < fin
                && resp.timing.start > fin
                && rst >= resp.timing.start
            {
                self.push(anomaly(
                    AnomalyKind::ResponseAfterClientClose,
                    resp.timing.start,
                    Some(Role::Server),
                    format!(
                        "the {} answering request {} ({} {}) started {} after the client's FIN (frame {}): the client had given up on it",
                        resp.status,
                        i + 1,
                        req.method,
                        req.target,
                        human_secs(secs(resp.timing.start, fin)),
                        fin.frame
                    ),
                ));
            }
            if let Some(fin) = conn.sides.server.fin
                && req.timing.start > fin
            {
                self.push(anomaly(
                    AnomalyKind::RequestAfterPeerFin,
                    req.timing.start,
                    Some(Role::Client),
                    format!(
                        "request {} ({} {}) sent {} after the server's FIN (frame {}): stale connection reused",
                        i + 1,
                        req.method,
                        req.target,
                        human_secs(secs(req.timing.start, fin)),
                        fin.frame
                    ),
                ));
            }
        }

        let Some(next) = next else {
            return p.persistent;
        };
        // The next request, after this exchange said the connection would close.
        if let Some(req) = &next.request
            && !p.persistent
        {
            let why = if p.http10 {
                "an HTTP/1.0 exchange without keep-alive"
            } else if p.close_by_server {
                "the server's Connection: close"
            } else if p.close_by_client {
                "the client's own Connection: close"
            } else if p.tunnel {
                "a protocol switch"
            } else {
                "a close-delimited response"
            };
            self.push(anomaly(
                AnomalyKind::ReuseAfterClose,
                req.timing.start,
                Some(Role::Client),
                format!("request {} sent on the connection after {why}", i + 2),
            ));
        }
        // Idle time between this response's end and the next request's start.
        if let (Some(prev), Some(start)) = (
            ex.response.as_ref().and_then(|r| r.timing.end),
            next.request.as_ref().map(|r| r.timing.start),
        ) && start >= prev
        {
            // (A next request sent before the answer ended is pipelined.)
            let gap = secs(start, prev);
            let idle = &mut self.idle;
            idle.between_requests_min = Some(idle.between_requests_min.map_or(gap, |m| m.min(gap)));
            idle.between_requests_max = Some(idle.between_requests_max.map_or(gap, |m| m.max(gap)));
        }
        p.persistent
    }
}

/// What a FIN or RST at `fc` found unfinished in this exchange, if anything. A message whose head the
/// capture cut (framing unknown: snap length, loss) is no evidence either
/// way; only a request with no answer begun before the FIN counts then.
fn unfinished_at(ex: &Exchange, fc: &FirstClose) -> Option<Unfinished> {
    let cut = |start: At, end: Option<At>, framing: Framing| {
        framing != Framing::Unknown && start <= fc.at && end.is_none_or(|e| e > fc.at)
    };
    if let Some(req) = &ex.request
        && req.timing.start <= fc.at
    {
        if cut(req.timing.start, req.timing.end, req.framing) {
            return Some(Unfinished::Request);
        }
        match &ex.response {
            // The request was sent before the FIN and no answer had started.
            None => return Some(Unfinished::Unanswered),
            Some(resp) if resp.timing.start > fc.at => return Some(Unfinished::Unanswered),
            _ => {}
        }
    }
    if let Some(resp) = &ex.response {
        let ended_by_this_fin =
            resp.framing == Framing::CloseDelimited && fc.by == Role::Server && resp.complete;
        if !ended_by_this_fin && cut(resp.timing.start, resp.timing.end, resp.framing) {
            return Some(Unfinished::Response);
        }
    }
    None
}

/// How much earlier than its advertised `timeout=T` a server may close
/// and still keep its word: timer granularity and scheduling jitter,
/// `max(0.25 s, 2% of T)`.
pub fn timeout_early_slack(t: f64) -> f64 {
    (0.02 * t).max(0.25)
}

/// How much later: real servers close after their timeout, not at it
/// (Node adds 1 s to its `keepAliveTimeout`; nginx and Apache check their
/// timers in passes), `max(2.5 s, 10% of T)`.
pub fn timeout_late_slack(t: f64) -> f64 {
    (0.1 * t).max(2.5)
}

/// Whether an idle close after `idle` seconds matches an advertised
/// `timeout=T`: `T - early slack <= idle <= T + late slack`.
pub fn matches_timeout(idle: f64, timeout: u64) -> bool {
    let t = timeout as f64;
    idle >= t - timeout_early_slack(t) && idle <= t + timeout_late_slack(t)
}

pub(crate) fn anomaly(kind: AnomalyKind, at: At, by: Option<Role>, detail: String) -> Anomaly {
    Anomaly {
        kind,
        frame: at.frame,
        ts: at.ts,
        by,
        detail,
    }
}

/// The verdict for one finished connection: `fold` holds what its settled
/// exchanges showed, `window` the exchanges after them (absolute index of
/// the first: `fold.exchanges()`), in order. With every exchange in the
/// window and an empty fold this is the verdict over all of them.
/// `tunnel_bytes`: bytes each side sent after a switch to a tunnel (the
/// HTTP session counts them).
pub fn judge(
    conn: &Connection,
    mut fold: Fold,
    window: &[Exchange],
    tunnel_bytes: PerRole<u64>,
    evicted: Option<crate::tcp::flow::Eviction>,
) -> Verdict {
    let until = conn.first_close.map(|fc| fc.at);
    let base = fold.exchanges;
    let settled_requests = fold.requests;
    let mut persistent = Vec::with_capacity(window.len());
    for (k, ex) in window.iter().enumerate() {
        persistent.push(fold.observe(conn, base + k as u64, ex, window.get(k + 1), until));
    }
    let total_exchanges = fold.exchanges;
    let requests = fold.requests;
    let mut idle = fold.idle;
    let last = fold.last_activity;
    if let (Some(fc), Some(last)) = (conn.first_close, last)
        && fc.at >= last
    {
        idle.before_close = Some(secs(fc.at, last));
    }

    // Keep-Alive max counts what may still come after each response: the
    // first promise the final count exceeds.
    if let Some(m) = fold
        .promises
        .iter()
        .find(|m| requests.saturating_sub(m.requests) > m.max)
        .copied()
    {
        fold.push(anomaly(
            AnomalyKind::MoreRequestsThanMax,
            m.at,
            Some(Role::Client),
            format!(
                "response {} advertised max={}, but {} more requests followed",
                m.index + 1,
                m.max,
                requests - m.requests
            ),
        ));
    }

    let persist: Vec<ExchangePersistence> = window.iter().map(exchange_persistence).collect();
    let srv_timeout = fold.server_ka.timeout;
    let mut close = close_reason(
        conn,
        window,
        &persist,
        last,
        srv_timeout,
        fold.client_ka.timeout,
        total_exchanges,
        settled_requests,
    );
    if close.reason == CloseReason::Upgraded {
        close.tunnel_bytes = Some(tunnel_bytes);
        // Idle time after a switch is the tunnel's, not HTTP's.
        idle.before_close = None;
    }
    if let Some(why) = evicted
        && close.reason != CloseReason::Upgraded
        && conn.first_close.is_some()
    {
        // Half-closed when concluded early: judged as it stands, and said.
        close.evicted = Some(why);
    } else if let Some(why) = evicted
        && close.reason != CloseReason::Upgraded
    {
        // Concluded early with no FIN or RST: it was open.
        close = Close {
            reason: CloseReason::Open,
            by: None,
            kind: None,
            said_by: None,
            close_delimited: false,
            idle_seconds: None,
            advertised_timeout: None,
            matches_timeout: None,
            timeout_delta: None,
            request_outstanding: None,
            outstanding: None,
            last_response_lost: false,
            had_exchanges: close.had_exchanges,
            protocol: None,
            tunnel_bytes: None,
            evicted: Some(why),
            estimated: false,
            tls: None,
            goaway: None,
            open_stream: None,
        };
    }

    // A server that closed a connection it had promised to keep.
    if let (Some(fc), Some(last_p)) = (conn.first_close, persist.last())
        && fc.by == Role::Server
        && last_p.persistent
    {
        let early_timeout = match (srv_timeout, close.idle_seconds) {
            (Some(t), Some(idle_s)) => idle_s < t as f64 - timeout_early_slack(t as f64),
            _ => false,
        };
        // `max` is what may still come after the response that says it
        // (Apache counts it down): the last one is the promise in force.
        // Only meaningful when no timeout was advertised beside it.
        let last_max = fold.last_server_max;
        let early_max = last_max.is_some_and(|m| m >= 1);
        let mid = close.reason == CloseReason::MidMessage;
        if early_timeout || mid || (early_max && srv_timeout.is_none()) {
            let what = if mid {
                "while a request was unanswered".to_string()
            } else if early_timeout {
                format!(
                    "after {} idle, before its advertised timeout={}",
                    human_secs(close.idle_seconds.unwrap_or(0.0)),
                    srv_timeout.unwrap_or(0)
                )
            } else {
                format!(
                    "after {requests} requests, though its last response allowed max={} more",
                    last_max.unwrap_or(0)
                )
            };
            fold.push(anomaly(
                AnomalyKind::ServerBrokeKeepalive,
                fc.at,
                Some(Role::Server),
                format!(
                    "server closed ({}) a connection its last response kept open, {what}",
                    kind_word(fc.kind)
                ),
            ));
        }
    }
    fold.trim();
    Verdict {
        close,
        idle,
        persistent,
        anomalies: fold.anomalies,
        anomalies_dropped: fold.anomalies_dropped,
        exchanges: total_exchanges,
        requests,
        responses: fold.responses,
        advertised: PerRole {
            client: fold.client_ka,
            server: fold.server_ka,
        },
        tail: tail(conn, window, last),
    }
}

fn kind_word(k: CloseKind) -> &'static str {
    match k {
        CloseKind::Fin => "FIN",
        CloseKind::Rst => "RST",
    }
}

/// What a tunnel exchange switched to: `connect` for CONNECT, else the
/// first token of the response's (or the request's) Upgrade header,
/// lower-cased.
fn tunnel_protocol(ex: &Exchange) -> String {
    if let Some(r) = &ex.request
        && r.method.eq_ignore_ascii_case("CONNECT")
    {
        return "connect".into();
    }
    let upgrade = ex
        .response
        .as_ref()
        .and_then(|r| r.head.upgrade.as_deref())
        .or_else(|| ex.request.as_ref().and_then(|r| r.head.upgrade.as_deref()));
    upgrade
        .and_then(|u| u.split(',').map(str::trim).find(|t| !t.is_empty()))
        .map_or_else(|| "unknown".into(), str::to_ascii_lowercase)
}

/// The close, from the exchanges not settled (`exchanges`; settled ones
/// cannot be unfinished at the close, see `HttpSession::settle`) and
/// counts over all of them.
#[allow(clippy::too_many_arguments)]
fn close_reason(
    conn: &Connection,
    exchanges: &[Exchange],
    persist: &[ExchangePersistence],
    last: Option<At>,
    srv_timeout: Option<u64>,
    client_timeout: Option<u64>,
    total_exchanges: u64,
    settled_requests: u64,
) -> Close {
    let mut c = Close {
        reason: CloseReason::Open,
        by: None,
        kind: None,
        said_by: None,
        close_delimited: false,
        idle_seconds: None,
        advertised_timeout: None,
        matches_timeout: None,
        timeout_delta: None,
        request_outstanding: None,
        outstanding: None,
        last_response_lost: false,
        had_exchanges: total_exchanges > 0,
        protocol: None,
        tunnel_bytes: None,
        evicted: None,
        estimated: false,
        tls: None,
        goaway: None,
        open_stream: None,
    };
    if conn.handshake.refused {
        c.reason = CloseReason::Refused;
        c.by = Some(Role::Server);
        c.kind = Some(CloseKind::Rst);
        return c;
    }
    c.by = conn.first_close.map(|fc| fc.by);
    c.kind = conn.first_close.map(|fc| fc.kind);
    if let Some(ex) = exchanges.iter().rev().find(|e| {
        e.response
            .as_ref()
            .is_some_and(|r| r.framing == Framing::Tunnel)
    }) {
        c.reason = CloseReason::Upgraded;
        c.protocol = Some(tunnel_protocol(ex));
        return c;
    }
    let Some(fc) = conn.first_close else {
        c.reason = CloseReason::Open;
        return c;
    };
    // A request with no response before a later answered one was answered
    // too (responses come in order); the capture missed that answer.
    let last_answered = exchanges.iter().rposition(|ex| {
        ex.response
            .as_ref()
            .is_some_and(|r| r.timing.start <= fc.at)
    });
    let unfinished = exchanges.iter().enumerate().find_map(|(i, ex)| {
        let answer_lost =
            ex.response.is_none() && (ex.response_lost || last_answered.is_some_and(|l| i < l));
        if answer_lost {
            return None;
        }
        let request = ex.request.as_ref().map(|_| {
            settled_requests
                + exchanges
                    .iter()
                    .take(i + 1)
                    .filter(|e| e.request.is_some())
                    .count() as u64
        });
        unfinished_at(ex, &fc).map(|what| Outstanding { what, request })
    });
    let outstanding = unfinished.is_some();
    c.outstanding = unfinished;

    if fc.kind == CloseKind::Rst {
        c.reason = CloseReason::Reset;
        c.request_outstanding = Some(outstanding);
        return c;
    }
    if total_exchanges == 0 {
        c.reason = CloseReason::NoHttp;
        return c;
    }
    if outstanding {
        c.reason = CloseReason::MidMessage;
        c.request_outstanding = Some(true);
        return c;
    }
    let Some(p) = persist.last() else {
        return c;
    };
    if p.http10 {
        c.reason = CloseReason::Http10;
        return c;
    }
    if p.close_by_client || p.close_by_server || p.close_delimited {
        c.reason = CloseReason::ConnectionClose;
        c.close_delimited = !(p.close_by_client || p.close_by_server);
        c.said_by = Some(match (p.close_by_client, p.close_by_server) {
            (true, true) => SaidBy::Both,
            (true, false) => SaidBy::Client,
            _ => SaidBy::Server,
        });
        return c;
    }
    // Persistent last exchange, nothing outstanding: an idle close.
    c.reason = CloseReason::Idle;
    if exchanges.last().is_some_and(|ex| ex.response_lost) {
        // Its answer was in bytes the capture lost: it may have said close.
        c.last_response_lost = true;
        return c;
    }
    let idle = last.filter(|l| fc.at >= *l).map(|l| secs(fc.at, l));
    c.idle_seconds = idle;
    let timeout = match fc.by {
        Role::Server => srv_timeout,
        Role::Client => client_timeout,
    };
    c.advertised_timeout = timeout;
    c.matches_timeout = match (idle, timeout) {
        (Some(i), Some(t)) => Some(matches_timeout(i, t)),
        _ => None,
    };
    c.timeout_delta = match (idle, timeout) {
        (Some(i), Some(t)) => Some(crate::types::round_us(i - t as f64)),
        _ => None,
    };
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_match_tolerates_timer_slack() {
        assert!(matches_timeout(2.002, 2));
        assert!(matches_timeout(15.9, 15));
        assert!(!matches_timeout(2.0, 10));
        assert!(!matches_timeout(40.0, 15));
        // Node advertises timeout=5 and closes about 6.0 s later: stable
        // on both sides of 6.0.
        assert!(matches_timeout(5.99, 5));
        assert!(matches_timeout(6.01, 5));
        assert!(matches_timeout(4.8, 5));
        assert!(!matches_timeout(4.7, 5));
        assert!(!matches_timeout(7.6, 5));
        // Long timeouts scale: 75 s (nginx's default) closed at 80 s.
        assert!(matches_timeout(80.0, 75));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_secs(2.0), "2.0 s");
        assert_eq!(human_secs(0.0123), "12.3 ms");
        assert_eq!(human_secs(0.000085), "85 µs");
    }
}
