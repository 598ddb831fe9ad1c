//! Flat tables of the report: one row per connection and one row per
//! exchange, with typed columns. The CSV and Parquet renderers write the
//! same columns (the column lists below are their documentation), so a
//! query means the same on either.

use std::net::SocketAddr;

use serde::Serialize;

use crate::report::{ConnectionReport, ExchangeReport, MessageReport};
use crate::types::PerRole;

/// The type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Signed 64-bit integer (counts, ports, frame numbers).
    Int,
    /// 64-bit float (seconds).
    Float,
    /// Boolean.
    Bool,
    /// UTF-8 text (names from the report's vocabularies, addresses, targets).
    Str,
}

/// One value; `None` is an empty CSV field / a Parquet null.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// An integer.
    Int(Option<i64>),
    /// A float.
    Float(Option<f64>),
    /// A boolean.
    Bool(Option<bool>),
    /// A string.
    Str(Option<String>),
}

impl Cell {
    /// The CSV text of the value (empty when null).
    pub fn text(&self) -> String {
        match self {
            Cell::Int(Some(v)) => v.to_string(),
            Cell::Float(Some(v)) => v.to_string(),
            Cell::Bool(Some(v)) => v.to_string(),
            Cell::Str(Some(v)) => v.clone(),
            _ => String::new(),
        }
    }
}

/// The stable name of a value of the report's vocabularies (its JSON string).
pub fn name<T: Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

fn int(v: u64) -> Cell {
    Cell::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)))
}

fn oint(v: Option<u64>) -> Cell {
    Cell::Int(v.map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
}

fn s(v: impl Into<String>) -> Cell {
    Cell::Str(Some(v.into()))
}

fn os(v: Option<String>) -> Cell {
    Cell::Str(v)
}

/// Address and port of a report endpoint (`1.2.3.4:80`, `[::1]:80`).
pub fn split_endpoint(e: &str) -> (String, Option<u16>) {
    match e.parse::<SocketAddr>() {
        Ok(sa) => (sa.ip().to_string(), Some(sa.port())),
        Err(_) => (e.to_string(), None),
    }
}

/// Columns of `connections.csv` / `connections.parquet`, in order.
pub const CONNECTION_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Int),
    ("client_addr", Kind::Str),
    ("client_port", Kind::Int),
    ("server_addr", Kind::Str),
    ("server_port", Kind::Int),
    ("community_id", Kind::Str),
    ("start", Kind::Float),
    ("end", Kind::Float),
    ("duration", Kind::Float),
    ("first_frame", Kind::Int),
    ("last_frame", Kind::Int),
    ("roles_from", Kind::Str),
    ("handshake_state", Kind::Str),
    ("handshake_complete", Kind::Bool),
    ("handshake_rtt", Kind::Float),
    ("requests", Kind::Int),
    ("responses", Kind::Int),
    ("reused", Kind::Bool),
    ("max_outstanding", Kind::Int),
    ("upgraded", Kind::Bool),
    ("first_close_by", Kind::Str),
    ("first_close_kind", Kind::Str),
    ("close_reason", Kind::Str),
    ("close_by", Kind::Str),
    ("close_kind", Kind::Str),
    ("close_said_by", Kind::Str),
    ("close_idle_seconds", Kind::Float),
    ("close_advertised_timeout", Kind::Int),
    ("close_matches_timeout", Kind::Bool),
    ("close_request_outstanding", Kind::Bool),
    ("idle_between_requests_min", Kind::Float),
    ("idle_between_requests_max", Kind::Float),
    ("idle_before_close", Kind::Float),
    ("server_keep_alive_timeout", Kind::Int),
    ("server_keep_alive_max", Kind::Int),
    ("client_keep_alive_timeout", Kind::Int),
    ("client_packets", Kind::Int),
    ("server_packets", Kind::Int),
    ("client_payload_bytes", Kind::Int),
    ("server_payload_bytes", Kind::Int),
    ("client_retransmitted_bytes", Kind::Int),
    ("server_retransmitted_bytes", Kind::Int),
    ("client_gap_bytes", Kind::Int),
    ("server_gap_bytes", Kind::Int),
    ("half_closed_by", Kind::Str),
    ("history", Kind::Str),
    ("anomalies", Kind::Int),
    ("anomaly_kinds", Kind::Str),
    ("close_explanation", Kind::Str),
    // Merge keys of separately analysed runs (with community_id and start).
    ("open_at_start", Kind::Bool),
    ("open_at_end", Kind::Bool),
    ("close_estimated", Kind::Bool),
    ("tls_version", Kind::Str),
    ("tls_sni", Kind::Str),
    ("tls_alpn", Kind::Str),
    ("tls_cipher", Kind::Str),
    ("tls_resumed", Kind::Bool),
    ("tls_handshake", Kind::Str),
    ("tls_turns", Kind::Int),
    ("tls_decrypted", Kind::Bool),
    ("tls_decrypt_error", Kind::Str),
    // What the close verdict needs when stitching pieces of a connection
    // cut by run boundaries (`verdict::Tail`): times in nanoseconds since
    // the epoch, the last exchange's persistence, what was unfinished at
    // the end of the input.
    ("first_close_ns", Kind::Int),
    ("last_message_ns", Kind::Int),
    ("tail_request_http10", Kind::Bool),
    ("tail_request_close", Kind::Bool),
    ("tail_response_http10", Kind::Bool),
    ("tail_response_close", Kind::Bool),
    ("tail_response_close_delimited", Kind::Bool),
    ("tail_response_lost", Kind::Bool),
    ("tail_unfinished", Kind::Bool),
    ("tail_close_delimited_open", Kind::Bool),
    ("tail_request_remaining", Kind::Int),
    ("tail_response_remaining", Kind::Int),
    ("client_last_payload_ns", Kind::Int),
    ("server_last_payload_ns", Kind::Int),
    // A TLS connection judged from its records (no keys): where its last
    // turn's last client and server records ended, and the last server
    // record before its first turn (nanoseconds since the epoch).
    ("tls_last_client_ns", Kind::Int),
    ("tls_last_server_ns", Kind::Int),
    ("tls_lead_server_ns", Kind::Int),
    // An HTTP/2 connection: how it began (`prior_knowledge`, `upgrade`,
    // `alpn`, `mid_stream`), its last stream activity up to the first close.
    ("h2_start", Kind::Str),
    ("h2_last_activity_ns", Kind::Int),
    ("h2_open_streams_at_end", Kind::Int),
    ("h2_goaway_by", Kind::Str),
];

/// The row of one connection (same order as [`CONNECTION_COLUMNS`]).
pub fn connection_row(c: &ConnectionReport) -> Vec<Cell> {
    let (ca, cp) = split_endpoint(&c.client);
    let (sa, sp) = split_endpoint(&c.server);
    let cid = c.community_id.clone();
    let per = |p: &PerRole<u64>| (int(p.client), int(p.server));
    let (cpk, spk) = per(&c.packets);
    let (cpb, spb) = per(&c.payload_bytes);
    let ka = &c.http.keep_alive_advertised;
    let mut kinds: Vec<String> = c.anomalies.iter().filter_map(|a| name(&a.kind)).collect();
    kinds.dedup();
    let tls = c.tls.as_deref().map(|t| &t.facts);
    vec![
        int(c.id),
        s(ca),
        oint(cp.map(u64::from)),
        s(sa),
        oint(sp.map(u64::from)),
        os(cid),
        Cell::Float(Some(c.start)),
        Cell::Float(Some(c.end)),
        Cell::Float(Some(c.duration)),
        int(c.first_frame),
        int(c.last_frame),
        os(name(&c.roles_from)),
        os(name(&c.handshake.state)),
        Cell::Bool(Some(c.handshake_complete)),
        Cell::Float(c.handshake.rtt),
        int(c.requests),
        int(c.responses),
        Cell::Bool(Some(c.reused)),
        int(u64::from(c.http.max_outstanding)),
        Cell::Bool(Some(c.http.upgraded)),
        os(c.first_close.and_then(|f| name(&f.by))),
        os(c.first_close.and_then(|f| name(&f.kind))),
        os(name(&c.close.reason)),
        os(c.close.by.and_then(|b| name(&b))),
        os(c.close.kind.and_then(|k| name(&k))),
        os(c.close.said_by.and_then(|k| name(&k))),
        Cell::Float(c.close.idle_seconds),
        oint(c.close.advertised_timeout),
        Cell::Bool(c.close.matches_timeout),
        Cell::Bool(c.close.request_outstanding),
        Cell::Float(c.idle.between_requests_min),
        Cell::Float(c.idle.between_requests_max),
        Cell::Float(c.idle.before_close),
        oint(ka.server.and_then(|k| k.timeout)),
        oint(ka.server.and_then(|k| k.max)),
        oint(ka.client.and_then(|k| k.timeout)),
        cpk,
        spk,
        cpb,
        spb,
        int(c.tcp.client.reassembly.retransmitted_bytes),
        int(c.tcp.server.reassembly.retransmitted_bytes),
        int(c.tcp.client.reassembly.gap_bytes),
        int(c.tcp.server.reassembly.gap_bytes),
        os(c.half_closed_by.and_then(|r| name(&r))),
        s(c.history.clone()),
        int(c.anomalies.len() as u64 + c.anomalies_not_listed),
        s(kinds.join(";")),
        s(c.close.explanation.clone()),
        Cell::Bool(Some(c.open_at_start)),
        Cell::Bool(Some(c.open_at_end)),
        Cell::Bool(Some(c.close.estimated)),
        os(tls.and_then(|t| t.version.map(String::from))),
        os(tls.and_then(|t| t.sni.clone())),
        os(tls.and_then(|t| t.alpn.clone())),
        os(tls.and_then(|t| t.cipher.map(String::from))),
        Cell::Bool(tls.and_then(|t| t.resumed)),
        os(tls.map(|t| t.handshake.to_string())),
        oint(tls.map(|t| t.turns)),
        Cell::Bool(tls.map(|t| t.decrypted)),
        os(tls.and_then(|t| t.decrypt_error.map(String::from))),
        oint(c.tail.first_close.map(|a| a.ts.0)),
        oint(c.tail.last_message.map(|a| a.ts.0)),
        Cell::Bool(c.tail.request_http10),
        Cell::Bool(c.tail.request_close),
        Cell::Bool(c.tail.response_http10),
        Cell::Bool(c.tail.response_close),
        Cell::Bool(c.tail.response_close_delimited),
        Cell::Bool(Some(c.tail.response_lost)),
        Cell::Bool(c.tail.unfinished),
        Cell::Bool(c.tail.close_delimited_open),
        oint(c.tail.request_remaining),
        oint(c.tail.response_remaining),
        oint(c.tail.client_last_payload.map(|a| a.ts.0)),
        oint(c.tail.server_last_payload.map(|a| a.ts.0)),
        oint(c.tail.tls_client_last.map(|a| a.ts.0)),
        oint(c.tail.tls_server_last.map(|a| a.ts.0)),
        oint(c.tail.tls_lead_server.map(|a| a.ts.0)),
        os(c.http2.as_ref().and_then(|h| name(&h.start))),
        oint(c.tail.h2_last_activity.map(|a| a.ts.0)),
        oint(c.http2.as_ref().map(|h| u64::from(h.open_streams_at_end))),
        os(c.http2
            .as_ref()
            .and_then(|h| h.goaway.first())
            .map(|g| g.by.to_string())),
    ]
}

/// Columns of `exchanges.csv` / `exchanges.parquet`, in order. Times are
/// seconds since the connection's first packet, as in the JSON report;
/// `trans_depth` is the exchange's 1-based position in its connection
/// (Zeek's name); `stream_id` is the HTTP/2 stream (empty for HTTP/1),
/// `open_at_end` whether it was still open when the connection ended.
pub const EXCHANGE_COLUMNS: &[(&str, Kind)] = &[
    ("connection_id", Kind::Int),
    ("trans_depth", Kind::Int),
    ("client", Kind::Str),
    ("server", Kind::Str),
    ("method", Kind::Str),
    ("target", Kind::Str),
    ("request_version", Kind::Str),
    ("status", Kind::Int),
    ("reason", Kind::Str),
    ("response_version", Kind::Str),
    ("interim_statuses", Kind::Str),
    ("persistent", Kind::Bool),
    ("response_lost_in_gap", Kind::Bool),
    ("request_frame", Kind::Int),
    ("request_connection", Kind::Str),
    ("request_persistence", Kind::Str),
    ("request_framing", Kind::Str),
    ("request_body_bytes", Kind::Int),
    ("request_complete", Kind::Bool),
    ("expect_continue", Kind::Bool),
    ("response_frame", Kind::Int),
    ("response_connection", Kind::Str),
    ("response_persistence", Kind::Str),
    ("response_keep_alive_timeout", Kind::Int),
    ("response_keep_alive_max", Kind::Int),
    ("response_framing", Kind::Str),
    ("response_content_length", Kind::Int),
    ("response_transfer_encoding", Kind::Str),
    ("response_body_bytes", Kind::Int),
    ("response_complete", Kind::Bool),
    ("request_start", Kind::Float),
    ("request_end", Kind::Float),
    ("response_start", Kind::Float),
    ("response_end", Kind::Float),
    ("stream_id", Kind::Int),
    ("open_at_end", Kind::Bool),
];

fn message_cells(m: Option<&MessageReport>) -> [Cell; 4] {
    [
        Cell::Int(m.map(|m| i64::try_from(m.frame).unwrap_or(i64::MAX))),
        Cell::Str(m.map(|m| m.connection.join(","))),
        Cell::Str(m.and_then(|m| name(&m.persistence))),
        Cell::Str(m.and_then(|m| name(&m.framing))),
    ]
}

/// The row of exchange `index` (0-based) of connection `c`.
pub fn exchange_row(c: &ConnectionReport, index: usize, e: &ExchangeReport) -> Vec<Cell> {
    let rq = e.request.as_ref();
    let rs = e.response.as_ref();
    let [rqf, rqc, rqp, rqfr] = message_cells(rq.map(|r| &r.message));
    let [rsf, rsc, rsp, rsfr] = message_cells(rs.map(|r| &r.message));
    let interim: Vec<String> = e.interim.iter().map(|i| i.status.to_string()).collect();
    let rs_ka = rs.and_then(|r| r.message.keep_alive);
    vec![
        int(c.id),
        int(index as u64 + 1),
        s(c.client.clone()),
        s(c.server.clone()),
        os(rq.map(|r| r.method.to_string())),
        os(rq.map(|r| r.target.to_string())),
        os(rq.map(|r| r.version.to_string())),
        oint(rs.map(|r| u64::from(r.status))),
        os(rs.map(|r| r.reason.to_string())),
        os(rs.map(|r| r.version.to_string())),
        s(interim.join(";")),
        Cell::Bool(Some(e.persistent)),
        Cell::Bool(Some(e.response_lost_in_gap)),
        rqf,
        rqc,
        rqp,
        rqfr,
        oint(rq.map(|r| r.message.body_bytes)),
        Cell::Bool(rq.map(|r| r.message.complete)),
        Cell::Bool(rq.map(|r| r.expect_continue)),
        rsf,
        rsc,
        rsp,
        oint(rs_ka.and_then(|k| k.timeout)),
        oint(rs_ka.and_then(|k| k.max)),
        rsfr,
        oint(rs.and_then(|r| r.message.content_length)),
        os(rs.and_then(|r| r.message.transfer_encoding.as_ref().map(|t| t.to_string()))),
        oint(rs.map(|r| r.message.body_bytes)),
        Cell::Bool(rs.map(|r| r.message.complete)),
        Cell::Float(e.timing.request_start),
        Cell::Float(e.timing.request_end),
        Cell::Float(e.timing.response_start),
        Cell::Float(e.timing.response_end),
        oint(e.stream_id.map(u64::from)),
        Cell::Bool(Some(e.open_at_end)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split() {
        assert_eq!(split_endpoint("1.2.3.4:80"), ("1.2.3.4".into(), Some(80)));
        assert_eq!(split_endpoint("[::1]:8080"), ("::1".into(), Some(8080)));
        assert_eq!(split_endpoint("junk"), ("junk".into(), None));
    }
}
