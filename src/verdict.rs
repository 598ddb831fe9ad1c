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

use crate::http::{Exchange, Framing, HeadInfo, Version};
use crate::report::{CloseReport, IdleReport};
use crate::tcp::Connection;
use crate::tcp::connection::{CloseKind, FirstClose};
use crate::types::{Anomaly, At, Role};

/// Why a message does or does not keep the connection open (RFC 9112 9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 without `close`, or HTTP/1.0 with `keep-alive`.
    KeepAlive,
    /// A `Connection: close` token.
    CloseToken,
    /// HTTP/1.0 without `keep-alive`: the protocol's default is to close.
    Http10Default,
}

/// What one message asks for.
pub fn message_persistence(version: Version, head: &HeadInfo) -> Persistence {
    if head.has_token("close") {
        Persistence::CloseToken
    } else if version.minor >= 1 || head.has_token("keep-alive") {
        Persistence::KeepAlive
    } else {
        Persistence::Http10Default
    }
}

/// Why an exchange leaves the connection open or not. The server's answer
/// decides, but a client that cannot keep the connection (1.0 without
/// keep-alive, or `close`) ends it whatever the server says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExchangePersistence {
    pub persistent: bool,
    /// HTTP/1.0 default on either side ended it.
    pub http10: bool,
    /// `Connection: close` said by the client, the server.
    pub close_by_client: bool,
    pub close_by_server: bool,
    /// The response had no length: only the close could end it.
    pub close_delimited: bool,
    /// The connection switched protocols.
    pub tunnel: bool,
}

pub fn exchange_persistence(ex: &Exchange) -> ExchangePersistence {
    let req = ex
        .request
        .as_ref()
        .map(|r| message_persistence(r.version, &r.head));
    let resp = ex
        .response
        .as_ref()
        .map(|r| message_persistence(r.version, &r.head));
    let close_delimited = ex
        .response
        .as_ref()
        .is_some_and(|r| r.framing == Framing::CloseDelimited);
    let tunnel = ex
        .response
        .as_ref()
        .is_some_and(|r| r.framing == Framing::Tunnel);
    // HTTP/1.0 without keep-alive ends the connection whatever else the
    // message says (a `Connection: close` beside it does not change why).
    let http10_default = |v: Version, h: &HeadInfo| v.minor == 0 && !h.has_token("keep-alive");
    let http10 = ex
        .request
        .as_ref()
        .is_some_and(|r| http10_default(r.version, &r.head))
        || ex
            .response
            .as_ref()
            .is_some_and(|r| http10_default(r.version, &r.head));
    let close_by_client = req == Some(Persistence::CloseToken);
    let close_by_server = resp == Some(Persistence::CloseToken);
    ExchangePersistence {
        persistent: !(http10 || close_by_client || close_by_server || close_delimited || tunnel),
        http10,
        close_by_client,
        close_by_server,
        close_delimited,
        tunnel,
    }
}

/// Everything the verdict adds to a connection's report.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub close: CloseReport,
    pub idle: IdleReport,
    /// Per exchange, in order.
    pub persistent: Vec<bool>,
    pub anomalies: Vec<Anomaly>,
}

/// Keep-alive parameters advertised by `role` (the last `Keep-Alive` header
/// it sent that carried the parameter).
pub fn advertised(exchanges: &[Exchange], role: Role) -> (Option<u64>, Option<u64>) {
    let mut timeout = None;
    let mut max = None;
    for ex in exchanges {
        let head = match role {
            Role::Client => ex.request.as_ref().map(|r| &r.head),
            Role::Server => ex.response.as_ref().map(|r| &r.head),
        };
        if let Some(ka) = head.and_then(|h| h.keep_alive) {
            timeout = ka.timeout.or(timeout);
            max = ka.max.or(max);
        }
    }
    (timeout, max)
}

/// The moment the last message of the connection ended (or its head, if it
/// never ended), counting only what happened up to `until` (a request sent
/// after the peer's FIN does not make the connection less idle).
fn last_activity(exchanges: &[Exchange], until: Option<At>) -> Option<At> {
    exchanges
        .iter()
        .flat_map(|ex| {
            let r = ex
                .request
                .as_ref()
                .map(|m| m.timing.end.unwrap_or(m.timing.head_end));
            let s = ex
                .response
                .as_ref()
                .map(|m| m.timing.end.unwrap_or(m.timing.head_end));
            [r, s]
        })
        .flatten()
        .filter(|a| until.is_none_or(|u| *a <= u))
        .max()
}

/// Seconds between two instants, rounded to microseconds.
pub fn secs(later: At, earlier: At) -> f64 {
    round_us(later.ts.secs_since(earlier.ts))
}

/// `2.0 s`, `12.3 ms`, `85 µs`: a duration as people read it.
pub fn human_secs(x: f64) -> String {
    if x >= 1.0 {
        format!("{x:.1} s")
    } else if x >= 0.001 {
        format!("{:.1} ms", x * 1e3)
    } else {
        format!("{:.0} µs", x * 1e6)
    }
}

pub fn round_us(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A FIN at `fc` found this exchange unfinished. A message whose head the
/// capture cut (framing unknown: snap length, loss) is no evidence either
/// way; only a request with no answer begun before the FIN counts then.
fn unfinished_at(ex: &Exchange, fc: &FirstClose) -> bool {
    let cut = |start: At, end: Option<At>, framing: Framing| {
        framing != Framing::Unknown && start <= fc.at && end.is_none_or(|e| e > fc.at)
    };
    if let Some(req) = &ex.request
        && req.timing.start <= fc.at
    {
        if cut(req.timing.start, req.timing.end, req.framing) {
            return true;
        }
        match &ex.response {
            // The request was sent before the FIN and no answer had started.
            None => return true,
            Some(resp) if resp.timing.start > fc.at => return true,
            _ => {}
        }
    }
    if let Some(resp) = &ex.response {
        let ended_by_this_fin =
            resp.framing == Framing::CloseDelimited && fc.by == Role::Server && resp.complete;
        if !ended_by_this_fin && cut(resp.timing.start, resp.timing.end, resp.framing) {
            return true;
        }
    }
    false
}

/// Tolerance when comparing an idle close with an advertised timeout: the
/// close may come a little early (timer granularity) or somewhat late.
fn matches_timeout(idle: f64, timeout: u64) -> bool {
    let t = timeout as f64;
    idle >= t - 0.25 && idle <= t + (0.1 * t).max(1.0)
}

fn anomaly(kind: &'static str, at: At, by: Option<Role>, detail: String) -> Anomaly {
    Anomaly {
        kind,
        frame: at.frame,
        ts: at.ts,
        by,
        detail,
    }
}

/// The verdict for one finished connection.
pub fn judge(conn: &Connection, exchanges: &[Exchange]) -> Verdict {
    let persist: Vec<ExchangePersistence> = exchanges.iter().map(exchange_persistence).collect();
    let mut anomalies = Vec::new();

    // Idle times between a response's end and the next request's start.
    let mut idle = IdleReport::default();
    for pair in exchanges.windows(2) {
        let (Some(prev), Some(next)) = (
            pair[0].response.as_ref().and_then(|r| r.timing.end),
            pair[1].request.as_ref().map(|r| r.timing.start),
        ) else {
            continue;
        };
        if next < prev {
            continue; // pipelined: sent before the previous answer ended
        }
        let gap = secs(next, prev);
        idle.between_requests_min = Some(idle.between_requests_min.map_or(gap, |m| m.min(gap)));
        idle.between_requests_max = Some(idle.between_requests_max.map_or(gap, |m| m.max(gap)));
    }
    let last = last_activity(exchanges, conn.first_close.map(|fc| fc.at));
    if let (Some(fc), Some(last)) = (conn.first_close, last)
        && fc.at >= last
    {
        idle.before_close = Some(secs(fc.at, last));
    }

    // Connection-level anomalies.
    let server_fin = conn.sides.server.fin;
    for (i, ex) in exchanges.iter().enumerate() {
        let Some(req) = &ex.request else { continue };
        if let Some(fin) = server_fin
            && req.timing.start > fin
        {
            anomalies.push(anomaly(
                    "request_after_peer_fin",
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
        if i > 0
            && let Some(prev) = persist.get(i - 1).filter(|p| !p.persistent)
        {
            let why = if prev.http10 {
                "an HTTP/1.0 exchange without keep-alive"
            } else if prev.close_by_server {
                "the server's Connection: close"
            } else if prev.close_by_client {
                "the client's own Connection: close"
            } else if prev.tunnel {
                "a protocol switch"
            } else {
                "a close-delimited response"
            };
            anomalies.push(anomaly(
                "reuse_after_close",
                req.timing.start,
                Some(Role::Client),
                format!("request {} sent on the connection after {why}", i + 1),
            ));
        }
    }
    let requests = exchanges.iter().filter(|e| e.request.is_some()).count() as u64;
    // Keep-Alive max counts what may still come after each response.
    let mut later_requests = requests;
    for (i, ex) in exchanges.iter().enumerate() {
        if ex.request.is_some() {
            later_requests = later_requests.saturating_sub(1);
        }
        let Some(resp) = &ex.response else { continue };
        if let Some(max) = resp.head.keep_alive.and_then(|k| k.max)
            && later_requests > max
        {
            anomalies.push(anomaly(
                "more_requests_than_max",
                resp.timing.start,
                Some(Role::Client),
                format!(
                    "response {} advertised max={max}, but {later_requests} more requests followed",
                    i + 1
                ),
            ));
            break;
        }
    }

    let (srv_timeout, _) = advertised(exchanges, Role::Server);
    let close = close_reason(conn, exchanges, &persist, last, srv_timeout);

    // A server that closed a connection it had promised to keep.
    if let (Some(fc), Some(last_p)) = (conn.first_close, persist.last())
        && fc.by == Role::Server
        && last_p.persistent
    {
        let early_timeout = match (srv_timeout, close.idle_seconds) {
            (Some(t), Some(idle_s)) => idle_s < t as f64 - 0.25,
            _ => false,
        };
        // `max` is what may still come after the response that says it
        // (Apache counts it down): the last one is the promise in force.
        // Only meaningful when no timeout was advertised beside it.
        let last_max = exchanges
            .iter()
            .rev()
            .find_map(|e| e.response.as_ref()?.head.keep_alive?.max);
        let early_max = last_max.is_some_and(|m| m >= 1);
        let mid = close.reason == "mid_message";
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
            anomalies.push(anomaly(
                "server_broke_keepalive",
                fc.at,
                Some(Role::Server),
                format!(
                    "server closed ({}) a connection its last response kept open, {what}",
                    kind_word(fc.kind)
                ),
            ));
        }
    }

    Verdict {
        close,
        idle,
        persistent: persist.iter().map(|p| p.persistent).collect(),
        anomalies,
    }
}

fn kind_word(k: CloseKind) -> &'static str {
    match k {
        CloseKind::Fin => "FIN",
        CloseKind::Rst => "RST",
    }
}

fn close_reason(
    conn: &Connection,
    exchanges: &[Exchange],
    persist: &[ExchangePersistence],
    last: Option<At>,
    srv_timeout: Option<u64>,
) -> CloseReport {
    let mut c = CloseReport {
        reason: "open",
        by: None,
        kind: None,
        said_by: None,
        idle_seconds: None,
        advertised_timeout: None,
        matches_timeout: None,
        request_outstanding: None,
        explanation: String::new(),
    };
    if conn.handshake.refused {
        c.reason = "refused";
        c.by = Some(Role::Server);
        c.kind = Some(CloseKind::Rst);
        c.explanation = "connection refused: the server answered the SYN with a RST".into();
        return c;
    }
    let Some(fc) = conn.first_close else {
        c.explanation = if exchanges.is_empty() {
            "still open when the capture ended".into()
        } else {
            "still open when the capture ended (no FIN or RST seen)".into()
        };
        return c;
    };
    c.by = Some(fc.by);
    c.kind = Some(fc.kind);
    // A request with no response before a later answered one was answered
    // too (responses come in order); the capture missed that answer.
    let last_answered = exchanges.iter().rposition(|ex| {
        ex.response
            .as_ref()
            .is_some_and(|r| r.timing.start <= fc.at)
    });
    let outstanding = exchanges.iter().enumerate().any(|(i, ex)| {
        let answer_lost =
            ex.response.is_none() && (ex.response_lost || last_answered.is_some_and(|l| i < l));
        !answer_lost && unfinished_at(ex, &fc)
    });

    if fc.kind == CloseKind::Rst {
        c.reason = "reset";
        c.request_outstanding = Some(outstanding);
        c.explanation = format!(
            "{} reset the connection{}",
            fc.by,
            if outstanding {
                " while a request or response was unfinished"
            } else if exchanges.is_empty() {
                ""
            } else {
                " with no request outstanding"
            }
        );
        return c;
    }
    if exchanges.is_empty() {
        c.reason = "no_http";
        c.explanation = format!("{} closed; no HTTP was seen on this connection", fc.by);
        return c;
    }
    if outstanding {
        c.reason = "mid_message";
        c.request_outstanding = Some(true);
        c.explanation = format!(
            "{} closed (FIN) while a request or its response was unfinished",
            fc.by
        );
        return c;
    }
    let Some(p) = persist.last() else {
        return c;
    };
    if p.http10 {
        c.reason = "http10";
        c.explanation = format!(
            "{} closed after an HTTP/1.0 exchange without keep-alive (the protocol's default)",
            fc.by
        );
        return c;
    }
    if p.close_by_client || p.close_by_server || p.close_delimited {
        c.reason = "connection_close";
        c.said_by = Some(match (p.close_by_client, p.close_by_server) {
            (true, true) => "both",
            (true, false) => "client",
            _ => "server",
        });
        c.explanation = if p.close_by_client || p.close_by_server {
            format!(
                "{} closed after Connection: close from the {}",
                fc.by,
                match c.said_by {
                    Some("both") => "client and the server",
                    Some("client") => "client",
                    _ => "server",
                }
            )
        } else {
            format!(
                "{} closed to end a response that had no length (close-delimited)",
                fc.by
            )
        };
        return c;
    }
    // Persistent last exchange, nothing outstanding: an idle close.
    c.reason = "idle";
    if exchanges.last().is_some_and(|ex| ex.response_lost) {
        // Its answer was in bytes the capture lost: it may have said close.
        c.explanation = format!(
            "{} closed after the last request; its response was lost in a capture gap, so whether it asked to close is not known",
            fc.by
        );
        return c;
    }
    let idle = last.filter(|l| fc.at >= *l).map(|l| secs(fc.at, l));
    c.idle_seconds = idle;
    let timeout = match fc.by {
        Role::Server => srv_timeout,
        Role::Client => advertised(exchanges, Role::Client).0,
    };
    c.advertised_timeout = timeout;
    c.matches_timeout = match (idle, timeout) {
        (Some(i), Some(t)) => Some(matches_timeout(i, t)),
        _ => None,
    };
    let idle_txt = idle.map_or("an unknown time".to_string(), human_secs);
    c.explanation = match (timeout, c.matches_timeout) {
        (Some(t), Some(true)) => format!(
            "{} closed after {idle_txt} idle, as its Keep-Alive: timeout={t} said",
            fc.by
        ),
        (Some(t), _) => format!(
            "{} closed after {idle_txt} idle; its Keep-Alive said timeout={t}",
            fc.by
        ),
        (None, _) => format!("{} closed after {idle_txt} idle", fc.by),
    };
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(tokens: &[&str]) -> HeadInfo {
        HeadInfo {
            connection: tokens.iter().map(|t| t.to_string()).collect(),
            ..HeadInfo::default()
        }
    }

    #[test]
    fn http11_persists_unless_close() {
        assert_eq!(
            message_persistence(Version::HTTP11, &head(&[])),
            Persistence::KeepAlive
        );
        assert_eq!(
            message_persistence(Version::HTTP11, &head(&["close"])),
            Persistence::CloseToken
        );
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        assert_eq!(
            message_persistence(Version::HTTP10, &head(&[])),
            Persistence::Http10Default
        );
        assert_eq!(
            message_persistence(Version::HTTP10, &head(&["keep-alive"])),
            Persistence::KeepAlive
        );
    }

    #[test]
    fn timeout_match_tolerates_timer_slack() {
        assert!(matches_timeout(2.002, 2));
        assert!(matches_timeout(15.9, 15));
        assert!(!matches_timeout(2.0, 10));
        assert!(!matches_timeout(40.0, 15));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_secs(2.0), "2.0 s");
        assert_eq!(human_secs(0.0123), "12.3 ms");
        assert_eq!(human_secs(0.000085), "85 µs");
    }
}
