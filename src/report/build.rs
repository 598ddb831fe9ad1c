//! Builds report records from a finished connection, and the summary from
//! all of them.

use std::collections::BTreeMap;

use crate::anomaly::AnomalyKind;
use crate::http::keepalive::{advertised, message_persistence};
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
        connection: head.connection.clone(),
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

fn exchange_report(ex: &Exchange, origin: At, persistent: bool) -> ExchangeReport {
    let rel = |a: At| secs(a, origin);
    ExchangeReport {
        request: ex.request.as_ref().map(request_report),
        response: ex.response.as_ref().map(response_report),
        interim: ex
            .interim
            .iter()
            .map(|i| InterimReport {
                status: i.status,
                frame: i.at.frame,
            })
            .collect(),
        response_lost_in_gap: ex.response_lost,
        persistent,
        timing: TimingReport {
            request_start: ex.request.as_ref().map(|r| rel(r.timing.start)),
            request_end: ex.request.as_ref().and_then(|r| r.timing.end.map(rel)),
            response_start: ex.response.as_ref().map(|r| rel(r.timing.start)),
            response_end: ex.response.as_ref().and_then(|r| r.timing.end.map(rel)),
        },
    }
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

fn tcp_stream(s: &SideStats) -> TcpStreamReport {
    TcpStreamReport {
        reassembly: s.reassembly,
        truncated_bytes: s.truncated_bytes,
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
    PerRole {
        client: f(&s.client),
        server: f(&s.server),
    }
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
pub fn connection(conn: &Connection, http: &HttpSession, verdict: Verdict) -> ConnectionReport {
    let exchanges = http.exchanges();
    let stats = http.stats();
    let requests = exchanges.iter().filter(|e| e.request.is_some()).count() as u64;
    let responses = exchanges.iter().filter(|e| e.response.is_some()).count() as u64;
    let origin = conn.first;

    // Anomalies of every layer, in frame order, with the detail cap.
    let mut all: Vec<&Anomaly> = conn
        .anomalies
        .iter()
        .chain(http.anomalies())
        .chain(verdict.anomalies.iter())
        .collect();
    all.sort_by_key(|a| (a.frame, a.kind));
    let listed = all.len().min(MAX_ANOMALIES_PER_CONNECTION);
    let anomalies_not_listed =
        (all.len() - listed) as u64 + conn.anomalies_dropped + http.anomalies_dropped();

    let half_closed_by = if conn.sides.client.bytes_after_peer_fin > 0 {
        Some(Role::Client)
    } else if conn.sides.server.bytes_after_peer_fin > 0 {
        Some(Role::Server)
    } else {
        None
    };
    let adv = |role: Role| {
        let k = advertised(exchanges, role);
        (k.timeout.is_some() || k.max.is_some()).then_some(KeepAliveReport {
            timeout: k.timeout,
            max: k.max,
        })
    };

    ConnectionReport {
        id: conn.id,
        client: conn.client.to_string(),
        server: conn.server.to_string(),
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
        handshake: handshake_report(&conn.handshake),
        packets: per(|s| s.packets, &conn.sides),
        payload_bytes: per(|s| s.payload_bytes, &conn.sides),
        fin: per(|s| s.fin.map(|a| a.frame), &conn.sides),
        rst: per(|s| s.rst.map(|a| a.frame), &conn.sides),
        half_closed_by,
        history: conn.history.clone(),
        tcp: per(tcp_stream, &conn.sides),
        tcp_keepalive_probes: per(|s| s.keepalive.probes, &conn.sides),
        tcp_keepalive: per(|s| probes(&s.keepalive), &conn.sides),
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
    }
}

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
        explanation: sentences::close_explanation(c),
    }
}

fn distribution(counts: impl Iterator<Item = u64>) -> Distribution {
    let mut all: Vec<u64> = counts.collect();
    let mut histogram = BTreeMap::new();
    for &n in &all {
        *histogram.entry(n).or_insert(0) += 1;
    }
    all.retain(|&n| n > 0);
    all.sort_unstable();
    let median = match all.len() {
        0 => 0.0,
        n if n % 2 == 1 => all[n / 2] as f64,
        n => (all[n / 2 - 1] + all[n / 2]) as f64 / 2.0,
    };
    Distribution {
        min: all.first().copied().unwrap_or(0),
        median,
        max: all.last().copied().unwrap_or(0),
        histogram,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        ((a as f64 / b as f64) * 1000.0).round() / 1000.0
    }
}

fn count_reasons(conns: &[&ConnectionReport]) -> BTreeMap<CloseReason, ReasonCount> {
    let mut m: BTreeMap<CloseReason, ReasonCount> = BTreeMap::new();
    for c in conns {
        let e = m.entry(c.close.reason).or_default();
        e.total += 1;
        match c.close.by {
            Some(Role::Client) => e.client += 1,
            Some(Role::Server) => e.server += 1,
            None => {}
        }
    }
    m
}

fn count_anomalies(conns: &[&ConnectionReport]) -> BTreeMap<AnomalyKind, u64> {
    let mut m = BTreeMap::new();
    for c in conns {
        for a in &c.anomalies {
            *m.entry(a.kind).or_insert(0) += 1;
        }
    }
    m
}

/// Totals over all connections.
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

/// Totals over all connections and what the capture showed.
pub fn summary(conns: &[ConnectionReport], capture: CaptureFacts) -> Summary {
    let all: Vec<&ConnectionReport> = conns.iter().collect();
    let mut s = Summary {
        connections: conns.len() as u64,
        frames: capture.frames,
        tcp_segments: capture.tcp_segments,
        frames_skipped: capture.frames_skipped,
        duration: capture.duration,
        late_segments: capture.late_segments,
        ip_fragments: capture.ip_fragments,
        frames_out_of_order: capture.frames_out_of_order,
        capture_anomalies: capture
            .anomalies
            .iter()
            .map(|a| {
                anomaly_report(
                    a,
                    At {
                        frame: 0,
                        ts: capture.start,
                    },
                )
            })
            .collect(),
        capture_anomalies_not_listed: capture.anomalies_dropped,
        ..Summary::default()
    };
    for c in conns {
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
    }
    let with_requests = conns.iter().filter(|c| c.requests > 0).count() as u64;
    s.reused_share = ratio(s.reused_connections, with_requests);
    s.requests_per_handshake = ratio(s.requests, s.handshakes_completed);
    s.requests_per_connection = distribution(conns.iter().map(|c| c.requests));
    s.close_reasons = count_reasons(&all);
    s.anomalies = count_anomalies(&all);
    for (k, n) in &capture.anomaly_counts {
        *s.anomalies.entry(*k).or_insert(0) += n;
    }

    let mut servers: BTreeMap<&str, Vec<&ConnectionReport>> = BTreeMap::new();
    for c in conns {
        servers.entry(c.server.as_str()).or_default().push(c);
    }
    s.by_server = servers
        .into_iter()
        .map(|(server, cs)| {
            let requests = cs.iter().map(|c| c.requests).sum();
            let handshakes = cs.iter().filter(|c| c.handshake_complete).count() as u64;
            ServerSummary {
                server: server.to_string(),
                connections: cs.len() as u64,
                handshakes_completed: handshakes,
                requests,
                responses: cs.iter().map(|c| c.responses).sum(),
                reused_connections: cs.iter().filter(|c| c.reused).count() as u64,
                requests_per_handshake: ratio(requests, handshakes),
                requests_per_connection: distribution(cs.iter().map(|c| c.requests)),
                close_reasons: count_reasons(&cs),
                anomalies: count_anomalies(&cs),
            }
        })
        .collect();
    // Busiest servers first, then by name.
    s.by_server.sort_by(|a, b| {
        b.connections
            .cmp(&a.connections)
            .then(a.server.cmp(&b.server))
    });
    s
}
