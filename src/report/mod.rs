//! The report: serialize-only types that every renderer reads.
//!
//! The fields named in the JSON contract (`format_version`, `summary.{connections,
//! handshakes_completed, requests, responses}`, `connections[].{id, client,
//! server, handshake_complete, first_close, requests, exchanges}` and each
//! exchange's `request.{method, target, version}` / `response.{status,
//! version}`) never change meaning or name without a new `format_version`.
//! Everything else is added beside them.

pub mod build;
pub mod csv;
mod fastjson;
pub mod findings;
pub mod flat;
pub mod h2;
pub mod har;
pub mod html;
pub mod json;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod render;
pub mod sentences;
pub mod stream;
pub mod text;
pub mod tls;
pub mod zeek;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::anomaly::AnomalyKind;
use crate::http::FramingKind;
use crate::http::keepalive::Persistence;
use crate::tcp::connection::{HandshakeState, RoleSource};
use crate::types::{FrameNo, PerRole, Role};
use crate::verdict::{CloseReason, SaidBy};

/// Version of the JSON contract.
pub const FORMAT_VERSION: u32 = 1;

/// A whole report in memory: header, summary, every connection.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Version, tool, inputs.
    #[serde(flatten)]
    pub header: Header,
    /// Totals over `connections`.
    pub summary: Summary,
    /// What the capture shows about keep-alive policy and what to change
    /// (see [`findings`]); errors first, then warnings, then info.
    pub findings: Vec<findings::Finding>,
    /// Every connection, in order of its first packet.
    pub connections: Vec<ConnectionReport>,
}

/// What a report says before its summary: the contract version, the tool,
/// and the inputs read.
#[derive(Clone, Debug, Serialize)]
pub struct Header {
    /// Version of the JSON contract ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The program that wrote the report.
    pub tool: Tool,
    /// Each input and what reading it gave.
    pub inputs: Vec<InputReport>,
    /// The TLS key logs read (`--keylog` files, pcapng Decryption Secrets
    /// Blocks); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keylogs: Vec<tls::KeyLogReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

/// One capture file (or standard input) and what reading it gave.
#[derive(Clone, Debug, Serialize)]
pub struct InputReport {
    pub file: String,
    pub container: Option<crate::capture::Container>,
    pub gzip: bool,
    pub frames: u64,
    /// Link types seen (LINKTYPE_* values) and their frame counts.
    pub linktypes: BTreeMap<u32, u64>,
    /// Set when the file was cut off or corrupt: what was read before it stands.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    // -- contract --
    pub connections: u64,
    pub handshakes_completed: u64,
    pub requests: u64,
    pub responses: u64,
    // -- more --
    pub frames: u64,
    /// Frames decoded as TCP segments and analysed.
    pub tcp_segments: u64,
    /// Frames not analysed, by reason (`udp`, `arp`, `unsupported_linktype_147`...).
    pub frames_skipped: BTreeMap<crate::decode::Skip, u64>,
    /// Earliest to latest timestamp, seconds (a timestamp reported as an
    /// implausible jump ahead does not count).
    pub duration: f64,
    /// TCP segments that came after their closed connection was concluded
    /// (a last ACK, a retransmitted FIN): counted, never a new connection.
    pub late_segments: u64,
    /// Connections concluded before they closed (bounds; see README), and
    /// out-of-order buffers given up to keep the memory budget.
    pub evicted: crate::tcp::flow::Evictions,
    /// IP fragments of TCP segments: fragment frames taken in, datagrams
    /// reassembled (each analysed as one segment, not counted in
    /// `tcp_segments`), and datagrams that never completed. Every frame is
    /// counted once: `frames = tcp_segments + frames_skipped +
    /// ip_fragments.fragments`.
    pub ip_fragments: crate::defrag::DefragStats,
    /// Frames stamped a little (under a second) earlier than the frame
    /// analysed before them: those the reorder window could not put back
    /// in order (see [`crate::capture::merge`]).
    pub frames_out_of_order: u64,
    /// Anomalies of the capture as a whole (timestamp jumps), in frame order.
    pub capture_anomalies: Vec<AnomalyReport>,
    /// Capture anomalies beyond the cap (counted, not listed).
    pub capture_anomalies_not_listed: u64,
    pub handshakes_refused: u64,
    /// A SYN was seen but not the SYN-ACK, and no RST refused it.
    pub handshakes_unanswered: u64,
    /// Connections whose handshake was not in the capture.
    pub handshakes_not_captured: u64,
    /// First close of each connection, by side and kind.
    pub first_close: FirstCloseCounts,
    /// Connections in which each side sent a FIN, and a RST.
    pub fins: PerRole<u64>,
    pub rsts: PerRole<u64>,
    /// Connections with neither FIN nor RST when the capture ended.
    pub still_open: u64,
    /// Connections where one side went on sending after the other's FIN.
    pub half_closed: u64,
    /// Connections that carried more than one request.
    pub reused_connections: u64,
    /// Of connections with at least one request, the share with more than one.
    pub reused_share: f64,
    /// Requests per completed handshake.
    pub requests_per_handshake: f64,
    pub requests_per_connection: Distribution,
    /// Max requests outstanding at once on any connection (pipelining depth).
    pub max_pipelined: u32,
    pub upgrades: u64,
    pub tcp_keepalive_probes: PerRole<u64>,
    /// Zero-window probes sent by clients and by servers.
    pub tcp_zero_window_probes: PerRole<u64>,
    /// `close.reason` -> count, and by the side that closed.
    pub close_reasons: BTreeMap<CloseReason, ReasonCount>,
    /// Anomaly kind -> count over all connections.
    pub anomalies: BTreeMap<AnomalyKind, u64>,
    pub by_server: Vec<ServerSummary>,
    /// Connections of servers past the first 4096, counted in the totals
    /// but not given figures of their own in `by_server`.
    pub servers_not_listed: u64,
    /// What `--server`/`--port`/`--client`/`--from`/`--to` left out; only
    /// present when a filter was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filtered_out: Option<crate::filter::FilteredOut>,
    /// TLS connections: versions, ALPN, SNI per server, resumption; only
    /// present when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<tls::TlsSummary>,
    /// HTTP/2 connections' figures; only present when there were some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2: Option<Http2Summary>,
}

/// HTTP/2 over a set of connections (`summary.http2`, and per server).
/// Their streams opened by the client count as requests, in
/// `requests_per_connection` with the HTTP/1 requests.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Http2Summary {
    /// Connections that spoke HTTP/2.
    pub connections: u64,
    /// How they started: `prior_knowledge`, `upgrade`, `alpn` -> count.
    pub started: BTreeMap<&'static str, u64>,
    /// Streams opened by each side (the server's: pushed).
    pub streams: PerRole<u64>,
    /// Client streams per HTTP/2 connection.
    pub streams_per_connection: Distribution,
    /// Most streams open at once on any one connection.
    pub peak_concurrent_streams: u32,
    /// GOAWAYs that ended connections, by `by:error:cause` (for example
    /// `server:NO_ERROR:stream_limit`) -> count.
    pub goaway: BTreeMap<String, u64>,
    /// Streams left unprocessed by GOAWAYs (above their last_stream_id).
    pub streams_unprocessed: u64,
    /// RST_STREAMs sent by each side.
    pub rst_streams: PerRole<u64>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct FirstCloseCounts {
    pub client_fin: u64,
    pub client_rst: u64,
    pub server_fin: u64,
    pub server_rst: u64,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ReasonCount {
    pub total: u64,
    pub client: u64,
    pub server: u64,
}

/// Requests per connection over connections that carried at least one.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Distribution {
    pub min: u64,
    pub median: f64,
    pub max: u64,
    /// `requests -> connections`, including 0 (connections with no request).
    pub histogram: BTreeMap<u64, u64>,
}

/// The same figures for one server endpoint.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerSummary {
    pub server: String,
    pub connections: u64,
    pub handshakes_completed: u64,
    pub requests: u64,
    pub responses: u64,
    pub reused_connections: u64,
    pub requests_per_handshake: f64,
    pub requests_per_connection: Distribution,
    pub close_reasons: BTreeMap<CloseReason, ReasonCount>,
    pub anomalies: BTreeMap<AnomalyKind, u64>,
    /// This server's HTTP/2 connections; only present when there were some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2: Option<Http2Summary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectionReport {
    // -- contract --
    pub id: u64,
    pub client: String,
    pub server: String,
    pub handshake_complete: bool,
    pub first_close: Option<FirstCloseReport>,
    pub requests: u64,
    #[serde(serialize_with = "serialize_exchanges")]
    pub exchanges: Vec<ExchangeReport>,
    // -- more --
    pub responses: u64,
    pub reused: bool,
    /// How client and server were told apart: `syn`, `syn_ack`, `payload`, `port`.
    pub roles_from: RoleSource,
    /// Capture time of the first packet, seconds since the epoch.
    pub start: f64,
    /// Capture time of the last packet, seconds since the epoch.
    pub end: f64,
    /// Last packet minus first packet, seconds.
    pub duration: f64,
    pub first_frame: FrameNo,
    pub last_frame: FrameNo,
    /// Community ID v1 of the connection (`1:` + base64), with `start` the
    /// key that matches its pieces across separately analysed files.
    pub community_id: Option<String>,
    /// No SYN was seen: the capture (or file set) began mid-connection.
    pub open_at_start: bool,
    /// Neither a RST nor a FIN from each side, and not evicted: the
    /// connection was still open when the input ended.
    pub open_at_end: bool,
    /// What the close verdict needs of this piece when a connection cut by
    /// run boundaries is stitched (the flat tables' `tail_*` columns; not
    /// in the JSON report).
    #[serde(skip)]
    pub tail: crate::verdict::Tail,
    pub handshake: HandshakeReport,
    pub packets: PerRole<u64>,
    pub payload_bytes: PerRole<u64>,
    /// Frame of the first FIN / RST sent by each side.
    pub fin: PerRole<Option<FrameNo>>,
    pub rst: PerRole<Option<FrameNo>>,
    /// The side that went on sending after the other's FIN.
    pub half_closed_by: Option<Role>,
    /// Zeek conn.log style history.
    pub history: String,
    pub tcp: PerRole<TcpStreamReport>,
    pub tcp_keepalive_probes: PerRole<u64>,
    pub tcp_keepalive: PerRole<Option<KeepaliveProbeReport>>,
    /// Zero-window probes each side sent (probe-shaped segments while the
    /// peer's window was closed; not keep-alive probes).
    pub tcp_zero_window_probes: PerRole<u64>,
    pub http: HttpReport,
    pub idle: IdleReport,
    pub close: CloseReport,
    pub anomalies: Vec<AnomalyReport>,
    /// Anomalies beyond the per-connection detail cap (counted, not listed).
    pub anomalies_not_listed: u64,
    /// A TLS connection's facts (see [`tls::TlsReport`]); absent on other
    /// connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<tls::TlsReport>>,
    /// The connection spoke HTTP/2 (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2: Option<Box<Http2Report>>,
}

/// An HTTP/2 connection's facts (`connections[].http2`).
#[derive(Clone, Debug, Serialize)]
pub struct Http2Report {
    /// `prior_knowledge`, `upgrade` (`Upgrade: h2c` answered by 101; the
    /// upgrading request is stream 1) or `alpn`.
    pub start: crate::http2::H2StartKind,
    /// Streams opened by each side (the client's requests; the server's
    /// pushes).
    pub streams_opened: PerRole<u64>,
    /// Streams above the last_stream_id of a GOAWAY from the other side.
    pub streams_unprocessed: u64,
    /// Most streams open at once.
    pub peak_concurrent_streams: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS each side last sent (null: never).
    pub max_concurrent_streams: PerRole<Option<u32>>,
    /// SETTINGS_INITIAL_WINDOW_SIZE each side last sent.
    pub initial_window_size: PerRole<Option<u32>>,
    /// GOAWAYs in order.
    pub goaway: Vec<GoawayReport>,
    /// GOAWAYs past the detail cap.
    pub goaways_not_listed: u64,
    /// RST_STREAM frames each side sent.
    pub rst_streams: PerRole<u64>,
    /// The RST_STREAM frames in order (capped; `resets_not_listed`).
    pub resets: Vec<RstFrameReport>,
    pub resets_not_listed: u64,
    /// PINGs (not ACKs) each side sent.
    pub pings: PerRole<u64>,
    /// SETTINGS frames (not ACKs) each side sent.
    pub settings: PerRole<u64>,
    /// Frames each side sent.
    pub frames: PerRole<u64>,
    /// Header blocks that could not be decoded (HPACK state lost, errors):
    /// their streams are counted, their headers unknown.
    pub header_blocks_unknown: u64,
    /// The HPACK state of what each side sends was lost (a capture gap...).
    pub hpack_state_lost: PerRole<bool>,
    /// Streams still open when the connection ended.
    pub open_streams_at_end: u32,
}

/// One GOAWAY frame.
#[derive(Clone, Debug, Serialize)]
pub struct GoawayReport {
    pub by: Role,
    pub last_stream_id: u32,
    /// RFC 9113 error name (`NO_ERROR`, `PROTOCOL_ERROR`...).
    pub error: &'static str,
    /// Debug data (lossy UTF-8, at most 256 bytes).
    pub debug: String,
    pub frame: FrameNo,
    /// Seconds since the connection's first packet.
    pub time: f64,
    /// Streams open when it was sent.
    pub open_streams: u32,
    /// Seconds since the last frame on any stream.
    pub idle_seconds: f64,
}

/// One RST_STREAM frame.
#[derive(Clone, Debug, Serialize)]
pub struct RstFrameReport {
    pub by: Role,
    pub stream_id: u32,
    pub error: &'static str,
    pub frame: FrameNo,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct FirstCloseReport {
    pub by: Role,
    pub kind: crate::tcp::connection::CloseKind,
    pub frame: FrameNo,
    /// Seconds since the connection's first packet.
    pub time: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct HandshakeReport {
    /// `complete` (SYN, SYN-ACK, ACK), `no_final_ack`, `refused`,
    /// `unanswered` (SYN only), `synack_only`, `not_captured`.
    pub state: HandshakeState,
    pub syn_frame: Option<FrameNo>,
    pub syn_ack_frame: Option<FrameNo>,
    pub ack_frame: Option<FrameNo>,
    pub syn_retransmits: u32,
    /// SYN to SYN-ACK, seconds.
    pub rtt: Option<f64>,
}

/// One direction's reassembly counters (the reassembler's own, flattened
/// into this object) and the payload bytes the snap length cut off.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct TcpStreamReport {
    #[serde(flatten)]
    pub reassembly: crate::tcp::reassembly::ReassemblyStats,
    pub truncated_bytes: u64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct KeepaliveProbeReport {
    pub probes: u64,
    pub acks: u64,
    pub first_frame: FrameNo,
    pub last_frame: FrameNo,
    pub min_interval: Option<f64>,
    pub max_interval: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct HttpReport {
    pub max_outstanding: u32,
    pub upgraded: bool,
    pub non_http_bytes: PerRole<u64>,
    pub resyncs: PerRole<u64>,
    /// `Keep-Alive` parameters advertised by each side (the last seen).
    pub keep_alive_advertised: PerRole<Option<KeepAliveReport>>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct KeepAliveReport {
    pub timeout: Option<u64>,
    pub max: Option<u64>,
}

/// Idle times of the connection, seconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct IdleReport {
    /// Between the end of one response and the next request.
    pub between_requests_min: Option<f64>,
    pub between_requests_max: Option<f64>,
    /// From the end of the last response to the first FIN or RST.
    pub before_close: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CloseReport {
    /// Why the connection ended (see [`CloseReason`]).
    pub reason: CloseReason,
    /// Who sent the first FIN or RST (`null` when `open`).
    pub by: Option<Role>,
    /// `fin` or `rst` (`null` when `open`).
    pub kind: Option<crate::tcp::connection::CloseKind>,
    /// For `connection_close`: `client`, `server` or `both`.
    pub said_by: Option<SaidBy>,
    /// For `idle`: seconds from the last response's end to the close.
    pub idle_seconds: Option<f64>,
    /// For `idle`: the closer advertised `Keep-Alive: timeout=N`.
    pub advertised_timeout: Option<u64>,
    /// For `idle`: whether `idle_seconds` matches the advertised timeout:
    /// `T - max(0.25 s, 2% of T) <= idle <= T + max(2.5 s, 10% of T)`.
    pub matches_timeout: Option<bool>,
    /// For `idle` with an advertised timeout: `idle_seconds` minus the
    /// timeout, seconds (positive: the close came later than advertised).
    pub timeout_delta: Option<f64>,
    /// For `reset` and `mid_message`: a request had no final response yet.
    pub request_outstanding: Option<bool>,
    /// For `upgraded`: what the connection switched to (`websocket`,
    /// `h2c`..., or `connect` for a CONNECT tunnel).
    pub protocol: Option<String>,
    /// For `upgraded`: payload bytes each side sent through the tunnel.
    pub tunnel_bytes: Option<PerRole<u64>>,
    /// For `goaway` (HTTP/2): the GOAWAY that ended the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goaway: Option<GoawayCloseReport>,
    /// HTTP/2, for `mid_message`, `reset`, `goaway`: the lowest stream
    /// still open at the first FIN or RST.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_stream: Option<u32>,
    /// The connection was concluded before the capture ended, and why:
    /// `inactive` (`--idle-timeout`), `handshake_timeout`, `memory_budget`,
    /// `max_connections`; its later packets, if any, start a new
    /// connection. With no FIN or RST seen the reason is then `open`; a
    /// half-closed connection keeps the reason its close gives.
    pub evicted: Option<crate::tcp::flow::Eviction>,
    /// Judged from encrypted TLS records (turns), not HTTP messages; only
    /// present (and `true`) then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
    /// A sentence for people.
    pub explanation: String,
}

/// `close.goaway`: the GOAWAY that ended an HTTP/2 connection.
#[derive(Clone, Debug, Serialize)]
pub struct GoawayCloseReport {
    /// RFC 9113 error name.
    pub error: &'static str,
    pub last_stream_id: u32,
    /// Streams the client had opened when it was sent.
    pub streams: u64,
    /// Streams above last_stream_id (not processed, to be retried).
    pub unprocessed: u64,
    /// Streams open when it was sent.
    pub open_streams: u32,
    /// Seconds of stream silence before it.
    pub idle_seconds: f64,
    /// `stream_limit` (NO_ERROR from the server with streams still
    /// coming: a requests-per-connection limit), `after_last_stream`
    /// (NO_ERROR right after the last stream, none pending),
    /// `idle_timeout` (NO_ERROR after idle time), `error` (another code),
    /// `client_done` (NO_ERROR from the client).
    pub cause: crate::verdict::h2::GoawayCause,
    pub frame: FrameNo,
}

#[derive(Clone, Debug, Serialize)]
pub struct AnomalyReport {
    pub kind: AnomalyKind,
    pub frame: FrameNo,
    /// Seconds since the connection's first packet.
    pub time: f64,
    pub by: Option<Role>,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExchangeReport {
    // -- contract --
    pub request: Option<RequestReport>,
    pub response: Option<ResponseReport>,
    // -- more --
    pub interim: Vec<InterimReport>,
    /// No response was seen and the response stream lost bytes after the
    /// request: the answer was most likely in them.
    pub response_lost_in_gap: bool,
    /// Whether this exchange asked for the connection to stay open
    /// (RFC 9112 section 9.3; the server's answer decides).
    pub persistent: bool,
    pub timing: TimingReport,
    // -- HTTP/2 streams only (absent for HTTP/1) --
    /// The HTTP/2 stream identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u32>,
    /// `:authority` (or `Host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// `:scheme`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// A pushed stream: the stream whose PUSH_PROMISE announced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised_on: Option<u32>,
    /// The RST_STREAM that ended the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rst_stream: Option<StreamResetReport>,
    /// gRPC: `grpc-status` from the trailers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<u32>,
    /// Which sides sent trailers (a header block after the data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trailers: Option<PerRole<bool>>,
    /// Some header block of the stream could not be decoded (HPACK state
    /// lost): method, target or status may be missing; never guessed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headers_unknown: bool,
    /// Not processed: above the last_stream_id of the peer's GOAWAY.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unprocessed: Option<UnprocessedReport>,
    /// Still open when the connection ended.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub open_at_end: bool,
}

impl ExchangeReport {
    /// An HTTP/1 exchange: none of the HTTP/2 fields.
    pub fn http1(
        request: Option<RequestReport>,
        response: Option<ResponseReport>,
        interim: Vec<InterimReport>,
        response_lost_in_gap: bool,
        persistent: bool,
        timing: TimingReport,
    ) -> Self {
        ExchangeReport {
            request,
            response,
            interim,
            response_lost_in_gap,
            persistent,
            timing,
            stream_id: None,
            authority: None,
            scheme: None,
            promised_on: None,
            rst_stream: None,
            grpc_status: None,
            trailers: None,
            headers_unknown: false,
            unprocessed: None,
            open_at_end: false,
        }
    }
}

/// `rst_stream` of an HTTP/2 exchange.
#[derive(Clone, Debug, Serialize)]
pub struct StreamResetReport {
    pub by: Role,
    /// RFC 9113 error name (`CANCEL`, `REFUSED_STREAM`...).
    pub error: &'static str,
    pub frame: FrameNo,
}

/// `unprocessed` of an HTTP/2 exchange.
#[derive(Clone, Debug, Serialize)]
pub struct UnprocessedReport {
    /// The GOAWAY's sender.
    pub goaway_by: Role,
    pub last_stream_id: u32,
    /// The stream was opened after that GOAWAY in capture order.
    pub opened_after_goaway: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct RequestReport {
    // -- contract --
    pub method: crate::types::Text,
    pub target: crate::types::Text,
    pub version: &'static str,
    // -- more --
    #[serde(flatten)]
    pub message: MessageReport,
    pub expect_continue: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResponseReport {
    // -- contract --
    pub status: u16,
    pub version: &'static str,
    // -- more --
    pub reason: crate::types::Text,
    #[serde(flatten)]
    pub message: MessageReport,
}

/// What requests and responses report alike (flattened into each).
#[derive(Clone, Debug, Serialize)]
pub struct MessageReport {
    /// Frame holding the first byte of the head.
    pub frame: FrameNo,
    /// `Connection` tokens, lower-cased.
    pub connection: Vec<crate::types::Text>,
    pub keep_alive: Option<KeepAliveReport>,
    /// What this message asked for (RFC 9112 section 9.3): `keep-alive`,
    /// `close` (a close token) or `http10-default` (1.0 without keep-alive).
    pub persistence: Persistence,
    /// `none`, `content_length`, `chunked`, `close_delimited`, `tunnel`, `unknown`.
    pub framing: FramingKind,
    pub content_length: Option<u64>,
    pub transfer_encoding: Option<crate::types::Text>,
    /// Body bytes seen on the wire (chunked: with chunk framing).
    pub body_bytes: u64,
    /// The whole message was seen.
    pub complete: bool,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct InterimReport {
    pub status: u16,
    pub frame: FrameNo,
}

/// Times of an exchange, seconds since the connection's first packet.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct TimingReport {
    pub request_start: Option<f64>,
    pub request_end: Option<f64>,
    pub response_start: Option<f64>,
    pub response_end: Option<f64>,
}

thread_local! {
    /// Set while a connection is serialised without its exchanges (see
    /// [`ConnectionReport::serialize_with_exchanges`]).
    static BARE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn serialize_exchanges<S: serde::Serializer>(
    v: &[ExchangeReport],
    s: S,
) -> Result<S::Ok, S::Error> {
    if BARE.with(|b| b.get()) {
        s.collect_seq(std::iter::empty::<&ExchangeReport>())
    } else {
        s.collect_seq(v)
    }
}

impl ConnectionReport {
    /// Serialises the connection with `exchanges` in place of its own
    /// (only an empty list is supported: streaming renderers write the
    /// exchanges themselves, as they settle).
    pub fn serialize_with_exchanges<S: serde::Serializer>(
        &self,
        s: S,
        exchanges: &[ExchangeReport],
    ) -> Result<S::Ok, S::Error> {
        debug_assert!(exchanges.is_empty());
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                let old = self.0;
                BARE.with(|b| b.set(old));
            }
        }
        let _reset = Reset(BARE.with(|b| b.replace(true)));
        self.serialize(s)
    }
}
