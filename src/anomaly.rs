//! The catalogue of anomalies: every kind the analysis can report, with the
//! layer that finds it and one line of meaning (as Zeek keeps its weirds).
//!
//! Anomalies are data, never log lines: each connection lists them (kind,
//! frame, side, detail) and the summary counts them by kind. A kind's
//! snake_case name is a stable key in the JSON report; the README's table
//! of anomalies is this catalogue (a test checks that they agree).

use std::cmp::Ordering;
use std::fmt;

/// The layer whose analysis finds an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Frames, timestamps, link and IP decoding.
    Capture,
    /// TCP segments and stream reassembly.
    Tcp,
    /// HTTP/1.x messages and their framing.
    Http,
    /// Keep-alive semantics across the exchanges of a connection.
    KeepAlive,
}

impl Layer {
    /// The layer's name as the README writes it.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Capture => "capture",
            Layer::Tcp => "TCP",
            Layer::Http => "HTTP",
            Layer::KeepAlive => "keep-alive",
        }
    }
}

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $layer:ident, $meaning:literal; )*) => {
        /// Every kind of anomaly, with its stable snake_case name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum AnomalyKind {
            $( $(#[$doc])* $variant, )*
        }

        impl AnomalyKind {
            /// Every kind, in catalogue order.
            pub const ALL: &'static [AnomalyKind] = &[$(AnomalyKind::$variant),*];

            /// The stable snake_case key of this kind.
            pub fn name(self) -> &'static str {
                match self { $(AnomalyKind::$variant => $name,)* }
            }

            /// The layer that finds it.
            pub fn layer(self) -> Layer {
                match self { $(AnomalyKind::$variant => Layer::$layer,)* }
            }

            /// One line of meaning, for people.
            pub fn meaning(self) -> &'static str {
                match self { $(AnomalyKind::$variant => $meaning,)* }
            }
        }
    };
}

catalogue! {
    /// The capture's timestamps jump back, or far ahead.
    TimestampJump = "timestamp_jump", Capture,
        "a frame's timestamp is more than 1 s earlier than the frame before it, or more than 24 h after it (a clock step, files out of order, a corrupt record); expiry goes on, unharmed";
    /// IP fragments that could not be put back together.
    IpFragmentsIncomplete = "ip_fragments_incomplete", Capture,
        "IP fragments of a TCP segment that never completed (lost, or held past the reassembly timeout); counted, not analysed";
    /// Bytes that differ between two copies of the same stream offset.
    TcpOverlapConflict = "tcp_overlap_conflict", Tcp,
        "a retransmission carries different bytes than the first copy of the same stream offsets (the first copy is kept)";
    /// A segment implausibly far beyond the stream.
    TcpSeqOutOfWindow = "tcp_seq_out_of_window", Tcp,
        "a segment lies more than 1 GiB beyond the next expected byte; ignored";
    /// A RST outside the receiver's window.
    TcpRstOutOfWindow = "tcp_rst_out_of_window", Tcp,
        "a RST whose sequence number is outside the receiver's window (RFC 5961 3.2): ignored, the connection goes on";
    /// A new SYN with a different ISN before anything happened.
    TcpSynIsnChanged = "tcp_syn_isn_changed", Tcp,
        "the client sent a SYN with a new initial sequence number before the handshake completed";
    /// New payload after the sender's FIN.
    DataAfterFin = "data_after_fin", Tcp,
        "new payload bytes after the sender's FIN; not delivered";
    /// New payload after a RST.
    DataAfterRst = "data_after_rst", Tcp,
        "new payload bytes after a RST ended the connection; not delivered";
    /// Bytes where an HTTP head should start are not HTTP.
    NonHttp = "non_http", Http,
        "bytes where an HTTP message should start are not HTTP (counted per run, the parser resynchronises)";
    /// A request line httparse rejects but servers answer.
    MalformedRequestLine = "malformed_request_line", Http,
        "a request line that does not parse (no target, a cut version) but starts with a method; counted as a request";
    /// A head larger than the head buffer.
    HeadTooLarge = "head_too_large", Http,
        "no end of a message head within 64 KiB; the head is cut and the parser resynchronises";
    /// A chunked body that does not parse.
    BadChunk = "bad_chunk", Http,
        "a chunked body's framing does not parse (size line, CRLF); the message is unfinished";
    /// A body shorter than its framing said, ended by a FIN.
    BodyTruncatedAtClose = "body_truncated_at_close", Http,
        "the sender closed (FIN) before the Content-Length or chunked body was complete";
    /// Bytes after the stream ended.
    DataAfterClose = "data_after_close", Http,
        "bytes delivered after this direction's stream had ended";
    /// A 1xx with no request outstanding.
    InterimWithoutRequest = "interim_without_request", Http,
        "an interim 1xx response with no request outstanding";
    /// A final response with no request outstanding.
    ResponseWithoutRequest = "response_without_request", Http,
        "a final response with no request outstanding (its request was not captured or not parsed)";
    /// A response whose bytes the capture lost.
    ResponseLostInGap = "response_lost_in_gap", Http,
        "the response to a request was in bytes the capture missed (later responses still pair with their own requests)";
    /// Both Content-Length and Transfer-Encoding: chunked.
    ContentLengthWithChunked = "content_length_with_chunked", Http,
        "a message with both Content-Length and Transfer-Encoding (Transfer-Encoding wins, RFC 9112 6.3)";
    /// A Transfer-Encoding that does not end in chunked.
    BadTransferEncoding = "bad_transfer_encoding", Http,
        "a request whose Transfer-Encoding does not end in chunked: its body cannot be framed";
    /// Content-Length values that differ.
    ConflictingContentLength = "conflicting_content_length", Http,
        "Content-Length values that differ; the body cannot be framed";
    /// A Content-Length that is not a number.
    BadContentLength = "bad_content_length", Http,
        "a Content-Length that is not a decimal number; the body cannot be framed";
    /// A request sent after the server's FIN.
    RequestAfterPeerFin = "request_after_peer_fin", KeepAlive,
        "the client sent a request after the server's FIN: it reused a connection the server had already closed (the stale-reuse race behind many resets)";
    /// A request after an exchange that said the connection would close.
    ReuseAfterClose = "reuse_after_close", KeepAlive,
        "a request on a connection that the previous exchange said would close";
    /// The server closed a connection it had promised to keep.
    ServerBrokeKeepalive = "server_broke_keepalive", KeepAlive,
        "the server closed a connection its last response kept open, before its advertised timeout= or max=, or while a request was unanswered";
    /// More requests than Keep-Alive max allowed.
    MoreRequestsThanMax = "more_requests_than_max", KeepAlive,
        "more requests followed a response than its Keep-Alive: max= allowed";
    /// The response came after the client had closed.
    ResponseAfterClientClose = "response_after_client_close", KeepAlive,
        "the response started after the client's FIN: the client gave up waiting (a client timeout) and the answer was wasted";
}

impl AnomalyKind {
    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<AnomalyKind> {
        AnomalyKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// Kinds order by name, so maps keyed by kind list them alphabetically.
impl Ord for AnomalyKind {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for AnomalyKind {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_serialise_as_such() {
        let mut seen = std::collections::BTreeSet::new();
        for &k in AnomalyKind::ALL {
            assert!(seen.insert(k.name()), "duplicate {}", k.name());
            assert!(
                k.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
            assert_eq!(AnomalyKind::from_name(k.name()), Some(k));
            assert!(!k.meaning().is_empty());
        }
    }
}
