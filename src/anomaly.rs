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
    /// TLS records, handshakes and decryption.
    Tls,
    /// HTTP/2 frames, HPACK and streams.
    Http2,
}

impl Layer {
    /// The layer's name as the README writes it.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Capture => "capture",
            Layer::Tcp => "TCP",
            Layer::Http => "HTTP",
            Layer::KeepAlive => "keep-alive",
            Layer::Tls => "TLS",
            Layer::Http2 => "HTTP/2",
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
    /// More requests waiting for answers than are kept.
    PipelineOverflow = "pipeline_overflow", Http,
        "more than 1024 requests waited for their answers at once: the oldest are given up as unanswered (bounded memory), and later responses may pair with the wrong requests";
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
    /// a record header declares more than 2^14+2048 bytes.
    TlsRecordTooLarge = "tls_record_too_large", Tls,
        "a record header declares more than 2^14+2048 bytes: not TLS, or the stream lost sync; that direction is no longer parsed";
    /// a record header with an unknown content type or version.
    TlsBadRecord = "tls_bad_record", Tls,
        "a record header with an unknown content type or version: not TLS, or the stream lost sync; that direction is no longer parsed";
    /// bytes missing from the capture inside the TLS stream.
    TlsGap = "tls_gap", Tls,
        "bytes missing from the capture inside the TLS stream; a gap inside a record loses that record, one across records loses the direction's framing";
    /// a handshake message longer than the buffer cap.
    TlsHandshakeTooLarge = "tls_handshake_too_large", Tls,
        "a handshake message longer than the buffer cap; it is skipped unparsed";
    /// a ClientHello, ServerHello or EncryptedExtensions that does not parse.
    TlsMalformedHandshake = "tls_malformed_handshake", Tls,
        "a ClientHello, ServerHello or EncryptedExtensions that does not parse";
    /// a handshake message from the wrong side or in the wrong state (a second ClientHello withou.
    TlsUnexpectedMessage = "tls_unexpected_message", Tls,
        "a handshake message from the wrong side or in the wrong state (a second ClientHello without HelloRetryRequest, a ServerHello from the client...)";
    /// a record that should have opened with the logged keys did not (authentication tag failure).
    TlsDecryptFailed = "tls_decrypt_failed", Tls,
        "a record that should have opened with the logged keys did not (authentication tag failure); decryption stops for that direction";
    /// the client sent 0-RTT data the server did not accept.
    TlsEarlyDataRejected = "tls_early_data_rejected", Tls,
        "the client sent 0-RTT data the server did not accept; those records are skipped (trial decryption with the handshake key fails on them)";
    /// a second handshake on an established TLS 1.2 connection.
    TlsRenegotiation = "tls_renegotiation", Tls,
        "a second handshake on an established TLS 1.2 connection; what follows is analysed without decryption";
    /// records after that side's close_notify.
    TlsDataAfterClose = "tls_data_after_close", Tls,
        "records after that side's close_notify";
    /// the stream ended inside a record.
    TlsTruncated = "tls_truncated", Tls,
        "the stream ended inside a record";
    /// the client did not start with the 24-byte preface.
    H2BadPreface = "h2_bad_preface", Http2,
        "the client did not start with the 24-byte preface (the direction is not read further), or a side's first frame was not SETTINGS";
    /// a frame longer than the receiver's SETTINGS_MAX_FRAME_SIZE.
    H2FrameTooLarge = "h2_frame_too_large", Http2,
        "a frame longer than the receiver's SETTINGS_MAX_FRAME_SIZE (FRAME_SIZE_ERROR); skipped by its length";
    /// a frame malformed for its type.
    H2FrameError = "h2_frame_error", Http2,
        "a frame malformed for its type (length, padding, stream id, zero WINDOW_UPDATE, DATA on an idle stream, PUSH_PROMISE from a client...)";
    /// a header block interrupted by another frame.
    H2ContinuationExpected = "h2_continuation_expected", Http2,
        "a header block interrupted by another frame (PROTOCOL_ERROR); the block is lost";
    /// a header block past MAX_HEADER_BLOCK bytes or MAX_CONTINUATION_FRAMES frames.
    H2ContinuationFlood = "h2_continuation_flood", Http2,
        "a header block past MAX_HEADER_BLOCK bytes or MAX_CONTINUATION_FRAMES frames; the block is skipped";
    /// a header block the HPACK decoder rejected.
    H2HpackError = "h2_hpack_error", Http2,
        "a header block the HPACK decoder rejected (COMPRESSION_ERROR)";
    /// a header block could not be decoded because the direction's HPACK state was lost earlier.
    H2HpackStateLost = "h2_hpack_state_lost", Http2,
        "a header block could not be decoded because the direction's HPACK state was lost earlier (gap, skipped block, error); streams are still counted, headers unknown";
    /// a decoded header list over MAX_HEADER_LIST_SIZE.
    H2HeaderListTooLarge = "h2_header_list_too_large", Http2,
        "a decoded header list over MAX_HEADER_LIST_SIZE";
    /// after a gap the frame reader realigned on two plausible frame headers, skipping bytes.
    H2Resync = "h2_resync", Http2,
        "after a gap the frame reader realigned on two plausible frame headers, skipping bytes";
    /// more than SETTINGS_STORM SETTINGS frames from one side.
    H2SettingsStorm = "h2_settings_storm", Http2,
        "more than SETTINGS_STORM SETTINGS frames from one side";
    /// more than PING_FLOOD PINGs from one side.
    H2PingFlood = "h2_ping_flood", Http2,
        "more than PING_FLOOD PINGs from one side";
    /// the client reset RAPID_RESET streams before any response.
    H2RapidReset = "h2_rapid_reset", Http2,
        "the client reset RAPID_RESET streams before any response (CVE-2023-44487 pattern)";
    /// RST_STREAM REFUSED_STREAM: the stream was not processed, safe to retry.
    H2RefusedStream = "h2_refused_stream", Http2,
        "RST_STREAM REFUSED_STREAM: the stream was not processed, safe to retry";
    /// a stream opened by the peer of a GOAWAY sender above its last_stream_id.
    H2StreamAfterGoaway = "h2_stream_after_goaway", Http2,
        "a stream opened by the peer of a GOAWAY sender above its last_stream_id (before or after the GOAWAY in capture order, the detail says which): not processed, must be retried";
    /// a GOAWAY with an error code other than NO_ERROR.
    H2ProtocolErrorGoaway = "h2_protocol_error_goaway", Http2,
        "a GOAWAY with an error code other than NO_ERROR (a connection error)";
    /// more than MAX_OPEN_STREAMS streams open at once.
    H2TooManyOpenStreams = "h2_too_many_open_streams", Http2,
        "more than MAX_OPEN_STREAMS streams open at once; the oldest was handed out unfinished";
    /// a direction ended.
    H2TruncatedFrame = "h2_truncated_frame", Http2,
        "a direction ended (FIN, RST, end of capture) inside a frame or a header block";
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
