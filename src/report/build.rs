//! Builds report records from a finished connection, and the summary from
//! all of them.

use std::collections::BTreeMap;

use crate::anomaly::AnomalyKind;
use crate::http::keepalive::message_persistence;
use crate::http::{Exchange, Framing, HeadInfo, HttpSession, KeepAliveParams, Request, Response};
use crate::report::*;
use crate::tcp::Connection;
use crate::tcp::connection::{Handshake, HandshakeState, KeepaliveProbes, SideStats};
use crate::types::{Anomaly, At, MAX_ANOMALIES_PER_CONNECTION, PerRole, Role, round_us, secs};
use crate::verdict::{Close, Idle, Verdict};

fn keep_alive(p: Option<KeepAliveParams>) -> Option<KeepAliveReport> {
    p.map(|k| KeepAliveReport {
        timeout: k.timeout,
        max: k.max,
    })
}

fn message_report(
    version: crate::http::Version,
    head: &HeadInfo,
    framing: Framing,
    body_bytes: u64,
    complete: bool,
    start: At,
) -> MessageReport {
    MessageReport {
        frame: start.frame,
        connection: head.connection.to_vec(),
        keep_alive: keep_alive(head.keep_alive),
        persistence: message_persistence(version, head),
        framing: framing.kind(),
        content_length: head.content_length,
        transfer_encoding: head.transfer_encoding.clone(),
        body_bytes,
        complete,
    }
}

fn request_report(r: &Request) -> RequestReport {
    RequestReport {
        method: r.method.clone(),
        target: r.target.clone(),
        version: r.version.as_str(),
        message: message_report(
            r.version,
            &r.head,
            r.framing,
            r.body_bytes,
            r.complete,
            r.timing.start,
        ),
        expect_continue: r.head.expect_continue,
    }
}

fn response_report(r: &Response) -> ResponseReport {
    ResponseReport {
        status: r.status,
        version: r.version.as_str(),
        reason: r.reason.clone(),
        message: message_report(
            r.version,
            &r.head,
            r.framing,
            r.body_bytes,
            r.complete,
            r.timing.start,
        ),
    }
}

/// [`message_report`], taking the head's strings instead of cloning them.
fn message_report_owned(
    version: crate::http::Version,
    mut head: HeadInfo,
    framing: Framing,
    body_bytes: u64,
    complete: bool,
    start: At,
) -> MessageReport {
    let persistence = message_persistence(version, &head);
    MessageReport {
        frame: start.frame,
        connection: std::mem::take(&mut head.connection).into_vec(),
        keep_alive: keep_alive(head.keep_alive),
        persistence,
        framing: framing.kind(),
        content_length: head.content_length,
        transfer_encoding: head.transfer_encoding.take(),
        body_bytes,
        complete,
    }
}

/// [`exchange_report`] of an exchange that is done with (a settled one):
/// its strings move into the report instead of being copied.
pub fn exchange_report_owned(ex: Exchange, origin: At, persistent: bool) -> ExchangeReport {
    let timing = timing_report(&ex, origin);
    let interim = interim_reports(&ex);
    ExchangeReport::http1(
        ex.request.map(|r| RequestReport {
            method: r.method,
            target: r.target,
            version: r.version.as_str(),
            expect_continue: r.head.expect_continue,
            message: message_report_owned(
                r.version,
                r.head,
                r.framing,
                r.body_bytes,
                r.complete,
                r.timing.start,
            ),
        }),
        ex.response.map(|r| ResponseReport {
            status: r.status,
            version: r.version.as_str(),
            reason: r.reason,
            message: message_report_owned(
                r.version,
                r.head,
                r.framing,
                r.body_bytes,
                r.complete,
                r.timing.start,
            ),
        }),
        interim,
        ex.response_lost,
        persistent,
        timing,
    )
}

/// The report of one exchange; `origin` is its connection's first packet.
pub fn exchange_report(ex: &Exchange, origin: At, persistent: bool) -> ExchangeReport {
    ExchangeReport::http1(
        ex.request.as_ref().map(request_report),
        ex.response.as_ref().map(response_report),
        interim_reports(ex),
        ex.response_lost,
        persistent,
        timing_report(ex, origin),
    )
}

/// An exchange's times, seconds since `origin`.
fn timing_report(ex: &Exchange, origin: At) -> TimingReport {
    let rel = |a: At| secs(a, origin);
    TimingReport {
        request_start: ex.request.as_ref().map(|r| rel(r.timing.start)),
        request_end: ex.request.as_ref().and_then(|r| r.timing.end.map(rel)),
        response_start: ex.response.as_ref().map(|r| rel(r.timing.start)),
        response_end: ex.response.as_ref().and_then(|r| r.timing.end.map(rel)),
    }
}

fn interim_reports(ex: &Exchange) -> Vec<InterimReport> {
    ex.interim
        .iter()
        .map(|i| InterimReport {
            status: i.status,
            frame: i.at.frame,
        })
        .collect()
}

fn handshake_report(h: &Handshake) -> HandshakeReport {
    let state = h.state();
    HandshakeReport {
        state,
        syn_frame: h.syn.map(|a| a.frame),
        syn_ack_frame: h.syn_ack.map(|a| a.frame),
        ack_frame: h.ack.map(|a| a.frame),
        syn_retransmits: h.syn_retransmits,
        rtt: match (h.syn, h.syn_ack) {
            (Some(s), Some(sa)) if sa >= s => Some(secs(sa, s)),
            _ => None,
        },
    }
}

fn tcp_stream(conn: &Connection, role: Role) -> TcpStreamReport {
    TcpStreamReport {
        reassembly: conn.reassembly(role),
        truncated_bytes: conn.sides.get(role).truncated_bytes,
    }
}

/// `f` of each role.
fn per_role<T>(f: impl Fn(Role) -> T) -> PerRole<T> {
    PerRole {
        client: f(Role::Client),
        server: f(Role::Server),
    }
}

fn probes(k: &KeepaliveProbes) -> Option<KeepaliveProbeReport> {
    let ns = |n: u64| round_us(n as f64 / 1e9);
    match (k.first, k.last) {
        (Some(first), Some(last)) if k.probes > 0 => Some(KeepaliveProbeReport {
            probes: k.probes,
            acks: k.acks,
            first_frame: first.frame,
            last_frame: last.frame,
            min_interval: k.min_interval_ns.map(ns),
            max_interval: k.max_interval_ns.map(ns),
        }),
        _ => None,
    }
}

fn per<T>(f: impl Fn(&SideStats) -> T, s: &PerRole<SideStats>) -> PerRole<T> {
    per_role(|r| f(s.get(r)))
}

fn anomaly_report(a: &Anomaly, origin: At) -> AnomalyReport {
    AnomalyReport {
        kind: a.kind,
        frame: a.frame,
        time: round_us(a.ts.secs_since(origin.ts)),
        by: a.by,
        detail: a.detail.clone(),
    }
}

/// The report of one finished connection.
/// `window`: the exchanges not settled before the conclusion (the verdict
/// was judged over them); the report's `exchanges` holds theirs only, the
/// settled ones having gone their way as they settled.
pub fn connection(
    conn: &Connection,
    http: &HttpSession,
    window: &[Exchange],
    verdict: Verdict,
) -> ConnectionReport {
    connection_with(conn, http, window, verdict, &[], 0)
}

/// [`connection`], with anomalies of another layer (HTTP/2) merged in.
pub fn connection_with(
    conn: &Connection,
    http: &HttpSession,
    window: &[Exchange],
    verdict: Verdict,
    more: &[Anomaly],
    more_dropped: u64,
) -> ConnectionReport {
    let exchanges = window;
    let stats = http.stats();
    let requests = verdict.requests;
    let responses = verdict.responses;
    let origin = conn.first;

    // Anomalies of every layer, in frame order, with the detail cap.
    let mut all: Vec<&Anomaly> = conn
        .anomalies
        .iter()
        .chain(http.anomalies())
        .chain(more)
        .chain(verdict.anomalies.iter())
        .collect();
    all.sort_by_key(|a| (a.frame, a.kind));
    let listed = all.len().min(MAX_ANOMALIES_PER_CONNECTION);
    let anomalies_not_listed = (all.len() - listed) as u64
        + conn.anomalies_dropped
        + http.anomalies_dropped()
        + more_dropped
        + verdict.anomalies_dropped;

    let half_closed_by = if conn.sides.client.bytes_after_peer_fin > 0 {
        Some(Role::Client)
    } else if conn.sides.server.bytes_after_peer_fin > 0 {
        Some(Role::Server)
    } else {
        None
    };
    let adv = |role: Role| {
        let k = *verdict.advertised.get(role);
        (k.timeout.is_some() || k.max.is_some()).then_some(KeepAliveReport {
            timeout: k.timeout,
            max: k.max,
        })
    };

    ConnectionReport {
        id: conn.id,
        client: crate::types::addr_text(conn.client),
        server: crate::types::addr_text(conn.server),
        handshake_complete: conn.handshake.syn.is_some() && conn.handshake.syn_ack.is_some(),
        first_close: conn.first_close.map(|fc| FirstCloseReport {
            by: fc.by,
            kind: fc.kind,
            frame: fc.at.frame,
            time: secs(fc.at, origin),
        }),
        requests,
        exchanges: exchanges
            .iter()
            .zip(
                verdict
                    .persistent
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(false)),
            )
            .map(|(ex, p)| exchange_report(ex, origin, p))
            .collect(),
        responses,
        reused: requests > 1,
        roles_from: conn.role_source,
        start: round_us(conn.first.ts.as_secs_f64()),
        end: round_us(conn.last.ts.as_secs_f64()),
        duration: secs(conn.last, conn.first),
        first_frame: conn.first.frame,
        last_frame: conn.last.frame,
        community_id: crate::community_id::v1(
            conn.client,
            conn.server,
            crate::community_id::PROTO_TCP,
            0,
        ),
        open_at_start: conn.handshake.syn.is_none(),
        open_at_end: verdict.close.evicted.is_none()
            && conn.sides.client.rst.is_none()
            && conn.sides.server.rst.is_none()
            && (conn.sides.client.fin.is_none() || conn.sides.server.fin.is_none()),
        tail: verdict.tail,
        handshake: handshake_report(&conn.handshake),
        packets: per(|s| s.packets, &conn.sides),
        payload_bytes: per(|s| s.payload_bytes, &conn.sides),
        fin: per(|s| s.fin.map(|a| a.frame), &conn.sides),
        rst: per(|s| s.rst.map(|a| a.frame), &conn.sides),
        half_closed_by,
        history: conn.history.clone(),
        tcp: per_role(|r| tcp_stream(conn, r)),
        tcp_keepalive_probes: per_role(|r| conn.keepalive(r).probes),
        tcp_keepalive: per_role(|r| probes(&conn.keepalive(r))),
        tcp_zero_window_probes: per(|s| s.zero_window_probes, &conn.sides),
        http: HttpReport {
            max_outstanding: stats.max_outstanding,
            upgraded: stats.upgraded,
            non_http_bytes: PerRole {
                client: stats.non_http_bytes[0],
                server: stats.non_http_bytes[1],
            },
            resyncs: PerRole {
                client: stats.resyncs[0],
                server: stats.resyncs[1],
            },
            keep_alive_advertised: PerRole {
                client: adv(Role::Client),
                server: adv(Role::Server),
            },
        },
        idle: idle_report(&verdict.idle),
        close: close_report(&verdict.close),
        anomalies: all
            .iter()
            .take(listed)
            .map(|a| anomaly_report(a, origin))
            .collect(),
        anomalies_not_listed,
        tls: None,
        http2: None,
    }
}

pub use super::tls::tls_report;

fn idle_report(i: &Idle) -> IdleReport {
    IdleReport {
        between_requests_min: i.between_requests_min,
        between_requests_max: i.between_requests_max,
        before_close: i.before_close,
    }
}

fn close_report(c: &Close) -> CloseReport {
    CloseReport {
        reason: c.reason,
        by: c.by,
        kind: c.kind,
        said_by: c.said_by,
        idle_seconds: c.idle_seconds,
        advertised_timeout: c.advertised_timeout,
        matches_timeout: c.matches_timeout,
        timeout_delta: c.timeout_delta,
        request_outstanding: c.request_outstanding,
        protocol: c.protocol.clone(),
        tunnel_bytes: c.tunnel_bytes,
        goaway: c.goaway.as_ref().map(|g| GoawayCloseReport {
            error: g.error,
            last_stream_id: g.last_stream_id,
            streams: g.streams,
            unprocessed: g.unprocessed,
            open_streams: g.open_streams,
            idle_seconds: g.idle_seconds,
            cause: g.cause,
            frame: g.frame,
        }),
        open_stream: c.open_stream,
        evicted: c.evicted,
        estimated: c.estimated,
        explanation: sentences::close_explanation(c),
    }
}

/// Requests per connection from its histogram (`requests -> connections`,
/// 0 included): min, median and max over connections with at least one.
fn distribution(histogram: BTreeMap<u64, u64>) -> Distribution {
    let with: u64 = histogram
        .iter()
        .filter(|(k, _)| **k > 0)
        .map(|(_, n)| *n)
        .sum();
    // The value at 0-based rank `r` among connections with requests.
    let at = |r: u64| -> u64 {
        let mut seen = 0;
        for (&k, &n) in histogram.range(1..) {
            seen += n;
            if r < seen {
                return k;
            }
        }
        0
    };
    let median = match with {
        0 => 0.0,
        n if n % 2 == 1 => at(n / 2) as f64,
        n => (at(n / 2 - 1) + at(n / 2)) as f64 / 2.0,
    };
    Distribution {
        min: histogram.range(1..).next().map_or(0, |(k, _)| *k),
        median,
        max: histogram.range(1..).next_back().map_or(0, |(k, _)| *k),
        histogram,
    }
}

pub(crate) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        ((a as f64 / b as f64) * 1000.0).round() / 1000.0
    }
}

fn count_reason(m: &mut BTreeMap<CloseReason, ReasonCount>, c: &ConnectionReport) {
    let e = m.entry(c.close.reason).or_default();
    e.total += 1;
    match c.close.by {
        Some(Role::Client) => e.client += 1,
        Some(Role::Server) => e.server += 1,
        None => {}
    }
}

fn count_anomalies(m: &mut BTreeMap<AnomalyKind, u64>, c: &ConnectionReport) {
    for a in &c.anomalies {
        *m.entry(a.kind).or_insert(0) += 1;
    }
}

/// What the capture as a whole showed, beside its connections.
#[derive(Clone, Debug, Default)]
pub struct CaptureFacts {
    /// Frames read.
    pub frames: u64,
    /// Frames decoded as TCP segments.
    pub tcp_segments: u64,
    /// Frames not analysed, by reason.
    pub frames_skipped: BTreeMap<crate::decode::Skip, u64>,
    /// First to last plausible timestamp, seconds.
    pub duration: f64,
    /// The earliest plausible timestamp: capture anomalies' `time` counts
    /// from it.
    pub start: crate::types::Timestamp,
    /// Segments that came after their closed connection was concluded.
    pub late_segments: u64,
    /// Connections concluded before they closed, by why.
    pub evictions: crate::tcp::flow::Evictions,
    /// IP fragment reassembly.
    pub ip_fragments: crate::defrag::DefragStats,
    /// Frames a little earlier than the frame before them.
    pub frames_out_of_order: u64,
    /// Capture-level anomalies (timestamp jumps), capped.
    pub anomalies: Vec<Anomaly>,
    /// Capture-level anomalies past the cap.
    pub anomalies_dropped: u64,
    /// Capture-level anomalies by kind, listed or not.
    pub anomaly_counts: BTreeMap<AnomalyKind, u64>,
}

/// Totals over all connections and what the capture showed, from a
/// report's connections held in memory.
pub fn summary(conns: &[ConnectionReport], capture: CaptureFacts) -> Summary {
    let mut b = SummaryBuilder::new();
    for c in conns {
        b.add(c);
    }
    b.finish(capture)
}

/// One server's running totals.
#[derive(Default)]
struct ServerAcc {
    connections: u64,
    handshakes: u64,
    requests: u64,
    responses: u64,
    reused: u64,
    histogram: BTreeMap<u64, u64>,
    close_reasons: BTreeMap<CloseReason, ReasonCount>,
    anomalies: BTreeMap<AnomalyKind, u64>,
    h2: Option<Box<H2Acc>>,
}

/// HTTP/2 running totals (of the run, or of one server).
#[derive(Default)]
struct H2Acc {
    s: Http2Summary,
    histogram: BTreeMap<u64, u64>,
}

impl H2Acc {
    fn add(&mut self, c: &ConnectionReport, h: &Http2Report) {
        let s = &mut self.s;
        s.connections += 1;
        let start = match h.start {
            crate::http2::H2StartKind::PriorKnowledge => "prior_knowledge",
            crate::http2::H2StartKind::Upgrade => "upgrade",
            crate::http2::H2StartKind::Alpn => "alpn",
            crate::http2::H2StartKind::MidStream => "mid_stream",
        };
        *s.started.entry(start).or_insert(0) += 1;
        s.streams.client += h.streams_opened.client;
        s.streams.server += h.streams_opened.server;
        s.peak_concurrent_streams = s.peak_concurrent_streams.max(h.peak_concurrent_streams);
        s.streams_unprocessed += h.streams_unprocessed;
        s.rst_streams.client += h.rst_streams.client;
        s.rst_streams.server += h.rst_streams.server;
        if let (Some(g), Some(by)) = (&c.close.goaway, c.close.by) {
            let key = format!("{}:{}:{}", by.as_str(), g.error, g.cause.name());
            *s.goaway.entry(key).or_insert(0) += 1;
        }
        *self.histogram.entry(h.streams_opened.client).or_insert(0) += 1;
    }

    fn finish(self) -> Http2Summary {
        let mut s = self.s;
        s.streams_per_connection = distribution(self.histogram);
        s
    }
}

fn add_h2(acc: &mut Option<Box<H2Acc>>, c: &ConnectionReport) {
    if let Some(h) = &c.http2 {
        acc.get_or_insert_with(Default::default).add(c, h);
    }
}

/// Most servers given their own figures; the connections of the servers
/// past it are counted in the totals only (`summary.servers_not_listed`).
pub const MAX_SERVERS: usize = 4096;

/// The summary, folded one concluded connection at a time: memory follows
/// the servers and the distinct values of requests per connection, never
/// the number of connections.
#[derive(Default)]
pub struct SummaryBuilder {
    s: Summary,
    with_requests: u64,
    histogram: BTreeMap<u64, u64>,
    servers: BTreeMap<String, ServerAcc>,
    servers_not_listed: u64,
    tls: super::tls::TlsSummaryBuilder,
    h2: Option<Box<H2Acc>>,
}

impl SummaryBuilder {
    /// No connection yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one concluded connection in.
    pub fn add(&mut self, c: &ConnectionReport) {
        let s = &mut self.s;
        s.connections += 1;
        s.handshakes_completed += c.handshake_complete as u64;
        s.requests += c.requests;
        s.responses += c.responses;
        match c.handshake.state {
            HandshakeState::Refused => s.handshakes_refused += 1,
            HandshakeState::Unanswered => s.handshakes_unanswered += 1,
            HandshakeState::NotCaptured | HandshakeState::SynackOnly => {
                s.handshakes_not_captured += 1
            }
            HandshakeState::Complete | HandshakeState::NoFinalAck => {}
        }
        match &c.first_close {
            None => s.still_open += 1,
            Some(fc) => {
                use crate::tcp::connection::CloseKind::*;
                let slot = match (fc.by, fc.kind) {
                    (Role::Client, Fin) => &mut s.first_close.client_fin,
                    (Role::Client, Rst) => &mut s.first_close.client_rst,
                    (Role::Server, Fin) => &mut s.first_close.server_fin,
                    (Role::Server, Rst) => &mut s.first_close.server_rst,
                };
                *slot += 1;
            }
        }
        s.half_closed += c.half_closed_by.is_some() as u64;
        s.fins.client += c.fin.client.is_some() as u64;
        s.fins.server += c.fin.server.is_some() as u64;
        s.rsts.client += c.rst.client.is_some() as u64;
        s.rsts.server += c.rst.server.is_some() as u64;
        s.reused_connections += c.reused as u64;
        s.max_pipelined = s.max_pipelined.max(c.http.max_outstanding);
        s.upgrades += c.http.upgraded as u64;
        s.tcp_keepalive_probes.client += c.tcp_keepalive_probes.client;
        s.tcp_keepalive_probes.server += c.tcp_keepalive_probes.server;
        s.tcp_zero_window_probes.client += c.tcp_zero_window_probes.client;
        s.tcp_zero_window_probes.server += c.tcp_zero_window_probes.server;
        self.with_requests += (c.requests > 0) as u64;
        *self.histogram.entry(c.requests).or_insert(0) += 1;
        count_reason(&mut s.close_reasons, c);
        count_anomalies(&mut s.anomalies, c);
        self.tls.add(c);
        add_h2(&mut self.h2, c);

        if !self.servers.contains_key(c.server.as_str()) && self.servers.len() >= MAX_SERVERS {
            self.servers_not_listed += 1;
            return;
        }
        let a = self.servers.entry(c.server.clone()).or_default();
        a.connections += 1;
        a.handshakes += c.handshake_complete as u64;
        a.requests += c.requests;
        a.responses += c.responses;
        a.reused += c.reused as u64;
        *a.histogram.entry(c.requests).or_insert(0) += 1;
        count_reason(&mut a.close_reasons, c);
        count_anomalies(&mut a.anomalies, c);
        add_h2(&mut a.h2, c);
    }

    /// The summary, with what the capture as a whole showed.
    pub fn finish(self, capture: CaptureFacts) -> Summary {
        let mut s = self.s;
        s.frames = capture.frames;
        s.tcp_segments = capture.tcp_segments;
        s.frames_skipped = capture.frames_skipped;
        s.duration = capture.duration;
        s.late_segments = capture.late_segments;
        s.evicted = capture.evictions;
        s.ip_fragments = capture.ip_fragments;
        s.frames_out_of_order = capture.frames_out_of_order;
        let origin = At {
            frame: 0,
            ts: capture.start,
        };
        s.capture_anomalies = capture
            .anomalies
            .iter()
            .map(|a| anomaly_report(a, origin))
            .collect();
        s.capture_anomalies_not_listed = capture.anomalies_dropped;
        s.reused_share = ratio(s.reused_connections, self.with_requests);
        s.requests_per_handshake = ratio(s.requests, s.handshakes_completed);
        s.requests_per_connection = distribution(self.histogram);
        for (k, n) in &capture.anomaly_counts {
            *s.anomalies.entry(*k).or_insert(0) += n;
        }
        s.by_server = self
            .servers
            .into_iter()
            .map(|(server, a)| ServerSummary {
                server,
                connections: a.connections,
                handshakes_completed: a.handshakes,
                requests: a.requests,
                responses: a.responses,
                reused_connections: a.reused,
                requests_per_handshake: ratio(a.requests, a.handshakes),
                requests_per_connection: distribution(a.histogram),
                close_reasons: a.close_reasons,
                anomalies: a.anomalies,
                http2: a.h2.map(|h| h.finish()),
            })
            .collect();
        // Busiest servers first, then by name.
        s.by_server.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then(a.server.cmp(&b.server))
        });
        s.servers_not_listed = self.servers_not_listed;
        s.tls = self.tls.finish();
        s.http2 = self.h2.map(|h| h.finish());
        s
    }
}
