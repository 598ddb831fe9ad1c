//! Verdicts of HTTP/2 connections: the streams folded as they finish
//! ([`H2Fold`]), and the close judged from them and the connection's
//! GOAWAYs ([`judge_h2`]).
//!
//! Precedence of `close.reason` for HTTP/2 (first that applies):
//! 1. `refused`, 2. `open` (no FIN or RST), as for HTTP/1.
//! 3. `goaway`: a GOAWAY came before the first FIN or RST; `close.by` is
//!    the GOAWAY's sender (the first one, if both sent one), and
//!    `close.goaway` says which error, after how many streams, how long the
//!    connection was idle before it and what that looks like (`cause`).
//! 4. `reset`: the first close was a RST (no GOAWAY before it).
//! 5. `mid_message`: a stream was open when the first FIN came.
//! 6. `idle`: otherwise (no stream open, no GOAWAY): seconds from the last
//!    stream activity to the close.

use crate::http::Exchange;
use crate::http2::{H2Facts, H2Goaway, H2Stream};
use crate::tcp::Connection;
use crate::tcp::connection::CloseKind;
use crate::types::{At, PerRole, Role, secs};
use crate::verdict::{Close, CloseReason, Fold, Idle, Verdict};

crate::named_enum! {
    /// What a GOAWAY that ended a connection looks like.
    pub enum GoawayCause {
        /// The server said NO_ERROR while the client still had streams
        /// coming (open, or above its last_stream_id): a limit on streams
        /// per connection (nginx `keepalive_requests`, `http2_max_requests`).
        StreamLimit = "stream_limit",
        /// The server said NO_ERROR right after its last stream ended, with
        /// none pending: a stream limit reached exactly, or a server that
        /// ends connections when they go quiet (Apache mod_http2 on h2c);
        /// the same count on other connections points to a limit.
        AfterLastStream = "after_last_stream",
        /// The server said NO_ERROR after the connection had been idle: an
        /// idle timeout (nginx `keepalive_timeout`).
        IdleTimeout = "idle_timeout",
        /// An error code other than NO_ERROR: a connection error.
        Error = "error",
        /// The client said NO_ERROR: it was done with the connection.
        ClientDone = "client_done",
    }
}

/// Idle time below which a server's NO_ERROR GOAWAY counts as following its
/// last stream at once rather than an idle timeout, seconds.
pub const ROLLOVER_IDLE_MAX: f64 = 0.1;

/// The GOAWAY that ended a connection (`close.goaway`).
#[derive(Clone, Debug, PartialEq)]
pub struct GoawayClose {
    /// RFC 9113 error name.
    pub error: &'static str,
    /// Its last_stream_id.
    pub last_stream_id: u32,
    /// Streams the client had opened when it was sent.
    pub streams: u64,
    /// Streams above last_stream_id (not processed).
    pub unprocessed: u64,
    /// Streams open when it was sent.
    pub open_streams: u32,
    /// Seconds of stream silence before it.
    pub idle_seconds: f64,
    /// What it looks like.
    pub cause: GoawayCause,
    /// Its frame.
    pub frame: u64,
}

/// The verdict's running state over the streams of one HTTP/2 connection,
/// fed each stream as it finishes (in the order they finish).
#[derive(Clone, Debug, Default)]
pub struct H2Fold {
    /// Streams folded in.
    pub streams: u64,
    /// Streams with a request (client streams; pushed ones are not
    /// requests of the client).
    pub requests: u64,
    /// Streams with a final response.
    pub responses: u64,
    /// Client streams opened, by the time each was folded (for GOAWAYs).
    client_opened: Vec<(At, u32)>,
    /// Last stream activity up to the first close.
    last_activity: Option<At>,
    /// The first stream open at the first close (its id).
    open_at_close: Option<u32>,
}

/// Most stream openings kept to count streams before each GOAWAY; past it
/// the count is the number of client streams over the whole connection.
const MAX_OPENINGS: usize = 1 << 16;

impl H2Fold {
    /// No stream yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One stream that finished (or was handed out unfinished at the end),
    /// with the connection as it is now.
    pub fn stream(&mut self, conn: &Connection, s: &H2Stream) {
        self.streams += 1;
        let client = s.initiator() == Role::Client;
        if client && s.request.headers.is_some() {
            self.requests += 1;
        }
        if s.status.is_some() {
            self.responses += 1;
        }
        if client && !s.continued && self.client_opened.len() < MAX_OPENINGS {
            self.client_opened.push((s.opened, s.stream_id));
        }
        let until = conn.first_close.map(|fc| fc.at);
        let ends = [
            s.request.headers,
            s.request.end_stream,
            s.response.headers,
            s.response.end_stream,
            s.rst.map(|r| r.at),
        ];
        for a in ends.into_iter().flatten() {
            if until.is_none_or(|u| a <= u) {
                self.last_activity = Some(self.last_activity.map_or(a, |l| l.max(a)));
            }
        }
        if let Some(fc) = conn.first_close
            && s.opened <= fc.at
            && s.unprocessed.is_none()
            && (!s.finished || s.closed.is_none_or(|c| c > fc.at))
        {
            self.open_at_close = Some(match self.open_at_close {
                Some(id) => id.min(s.stream_id),
                None => s.stream_id,
            });
        }
    }

    fn client_streams_before(&self, at: At, total: u64) -> u64 {
        if self.client_opened.len() >= MAX_OPENINGS {
            return total;
        }
        self.client_opened.iter().filter(|(o, _)| *o <= at).count() as u64
    }
}

/// What a GOAWAY looks like (see [`GoawayCause`]).
pub fn goaway_cause(g: &H2Goaway, unprocessed: u64) -> GoawayCause {
    if g.error != "NO_ERROR" {
        return GoawayCause::Error;
    }
    if g.by == Role::Client {
        return GoawayCause::ClientDone;
    }
    let idle = g.idle_ns as f64 / 1e9;
    if unprocessed > 0 || g.open_streams > 0 {
        GoawayCause::StreamLimit
    } else if idle < ROLLOVER_IDLE_MAX {
        GoawayCause::AfterLastStream
    } else {
        GoawayCause::IdleTimeout
    }
}

/// The verdict of an HTTP/2 connection. `fold`: the HTTP/1 exchanges
/// settled before an `Upgrade: h2c` (empty for prior knowledge and ALPN);
/// `window`: HTTP/1 exchanges not settled (before the upgrade); `h2`: the
/// streams folded; `facts`: the HTTP/2 session's facts at the end.
pub fn judge_h2(
    conn: &Connection,
    mut fold: Fold,
    window: &[Exchange],
    h2: &H2Fold,
    facts: &H2Facts,
    evicted: Option<crate::tcp::flow::Eviction>,
) -> Verdict {
    let until = conn.first_close.map(|fc| fc.at);
    let base = fold.exchanges;
    let mut persistent = Vec::with_capacity(window.len());
    for (k, ex) in window.iter().enumerate() {
        let next = window.get(k + 1);
        persistent.push(fold.observe(conn, base + k as u64, ex, next, until));
    }
    let mut close = Close {
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
        had_exchanges: fold.exchanges + h2.streams > 0,
        protocol: None,
        tunnel_bytes: None,
        evicted: None,
        estimated: false,
        tls: None,
        goaway: None,
        open_stream: None,
    };
    // Activity on streams a mid-connection piece did not see opened counts
    // as the fold's does, up to the first close.
    let continued = facts
        .continued_last_activity
        .filter(|a| conn.first_close.is_none_or(|fc| *a <= fc.at));
    let last = [fold.last_activity, h2.last_activity, continued]
        .into_iter()
        .flatten()
        .max();
    let mut idle = Idle {
        between_requests_min: fold.idle.between_requests_min,
        between_requests_max: fold.idle.between_requests_max,
        before_close: None,
    };
    if let (Some(fc), Some(l)) = (conn.first_close, last)
        && fc.at >= l
    {
        idle.before_close = Some(secs(fc.at, l));
    }
    if conn.handshake.refused {
        close.reason = CloseReason::Refused;
        close.by = Some(Role::Server);
        close.kind = Some(CloseKind::Rst);
    } else if let Some(fc) = conn.first_close {
        close.by = Some(fc.by);
        close.kind = Some(fc.kind);
        let first_goaway = facts.goaway.iter().find(|g| g.at.0 <= fc.at);
        if let Some(g) = first_goaway {
            let unprocessed = facts.streams_unprocessed;
            close.reason = CloseReason::Goaway;
            close.by = Some(g.by);
            let streams = h2.client_streams_before(g.at.0, facts.streams_opened.client);
            close.goaway = Some(GoawayClose {
                error: g.error,
                last_stream_id: g.last_stream_id,
                streams,
                unprocessed,
                open_streams: g.open_streams,
                idle_seconds: crate::types::round_us(g.idle_ns as f64 / 1e9),
                cause: goaway_cause(g, unprocessed),
                frame: g.at.0.frame,
            });
            if h2.open_at_close.is_some() {
                close.request_outstanding = Some(true);
                close.open_stream = h2.open_at_close;
            }
        } else if fc.kind == CloseKind::Rst {
            close.reason = CloseReason::Reset;
            close.request_outstanding = Some(h2.open_at_close.is_some());
            close.open_stream = h2.open_at_close;
        } else if let Some(id) = h2.open_at_close {
            close.reason = CloseReason::MidMessage;
            close.request_outstanding = Some(true);
            close.open_stream = Some(id);
        } else {
            close.reason = CloseReason::Idle;
            close.idle_seconds = idle.before_close;
        }
    }
    if let Some(why) = evicted {
        if conn.first_close.is_some() {
            close.evicted = Some(why);
        } else {
            close.reason = CloseReason::Open;
            close.evicted = Some(why);
        }
    }
    fold.trim();
    Verdict {
        close,
        idle,
        persistent,
        anomalies: fold.anomalies,
        anomalies_dropped: fold.anomalies_dropped,
        exchanges: fold.exchanges + h2.streams,
        requests: fold.requests + h2.requests,
        responses: fold.responses + h2.responses,
        advertised: PerRole {
            client: fold.client_ka,
            server: fold.server_ka,
        },
        // Stitching takes an HTTP/2 piece's verdict as it is, with
        // `idle_before_close` counted from the last stream activity of all
        // pieces.
        tail: super::Tail {
            first_close: conn.first_close.map(|fc| fc.at),
            client_last_payload: conn.sides.client.last_payload,
            server_last_payload: conn.sides.server.last_payload,
            h2_last_activity: last,
            ..super::Tail::default()
        },
    }
}
