//! What a TLS session showed: the serialisable facts and the anomaly list.

use serde::Serialize;

use crate::types::{At, PerRole, Role};

/// Per connection facts of a TLS session (the `tls` object of the
/// JSON report). Field names are the report's; `Option`s serialise as
/// `null` when not seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TlsFacts {
    /// Negotiated version, `"TLS 1.2"`, `"TLS 1.3"` (from
    /// `supported_versions` in the ServerHello)...; the ClientHello's
    /// highest offer while no ServerHello was seen is not reported here.
    pub version: Option<&'static str>,
    /// Server name (SNI) from the ClientHello.
    pub sni: Option<String>,
    /// ALPN protocols the client offered, in its order.
    pub alpn_offered: Vec<String>,
    /// ALPN protocol the server selected (TLS 1.2 ServerHello, TLS 1.3
    /// EncryptedExtensions when decrypted).
    pub alpn: Option<String>,
    /// True when the selection cannot be seen: TLS 1.3 without keys, where
    /// it travels in the encrypted EncryptedExtensions.
    pub alpn_hidden: bool,
    /// Negotiated cipher suite, IANA name (`TLS_AES_128_GCM_SHA256`).
    pub cipher: Option<&'static str>,
    /// Resumed handshake (abbreviated TLS 1.2 handshake, or a TLS 1.3
    /// ServerHello accepting a PSK); `null` without a ServerHello.
    pub resumed: Option<bool>,
    /// How: `"session_id"`, `"ticket"` (TLS 1.2 RFC 5077) or `"psk"`
    /// (TLS 1.3).
    pub resumed_how: Option<&'static str>,
    /// 0-RTT early data.
    pub early_data: EarlyData,
    /// The server answered the first ClientHello with a HelloRetryRequest.
    pub hello_retry: bool,
    /// `"complete"`, `"failed"` (an alert ended it), `"abandoned"` (the
    /// stream ended first), `"not_seen"` (the capture started after it)
    /// or `"in_progress"` (only until the session is finished).
    pub handshake: &'static str,
    /// The alert that ended the handshake, when one did.
    pub alert: Option<AlertFact>,
    /// Application data records per direction (TLS 1.3 records known or
    /// estimated to be handshake, tickets or alerts are not counted).
    pub records: PerRole<u64>,
    /// Bytes of those records on the wire (record bodies, i.e. ciphertext
    /// including nonce and tag).
    pub bytes: PerRole<u64>,
    /// Plaintext application bytes delivered, per direction (0 when not
    /// decrypted).
    pub plaintext_bytes: PerRole<u64>,
    /// Runs of client application records followed by server application
    /// records: the estimate of request/response exchanges.
    pub turns: u64,
    /// Idle time between the end of one turn's server records and the next
    /// turn's first client record, seconds.
    pub idle_between_turns: Option<MinMax>,
    /// The state of the last turn when the session ended.
    pub last_turn: Option<LastTurn>,
    /// Where the last server application record before the first turn
    /// ended: in a capture that began mid-connection, the answer to a
    /// request made before it (not in the JSON report; the flat tables'
    /// `tls_lead_server_ns`, for stitching).
    #[serde(skip)]
    pub lead_server_at: Option<crate::types::At>,
    /// The first close_notify seen, where visible.
    pub close_notify: Option<CloseNotify>,
    /// Application data was decrypted (some of it, at least).
    pub decrypted: bool,
    /// Why not (or why it stopped): `"no_keys"`, `"unsupported_cipher"`,
    /// `"unsupported_version"`, `"bad_keys"`, `"keys_incomplete"`,
    /// `"stream_gap"`, `"no_server_hello"`.
    pub decrypt_error: Option<&'static str>,
}

/// 0-RTT early data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EarlyData {
    /// The ClientHello carried the `early_data` extension.
    pub offered: bool,
    /// The server accepted it (EncryptedExtensions when decrypted; without
    /// keys estimated from an EndOfEarlyData-sized client record); `null`
    /// when not offered or unknown.
    pub accepted: Option<bool>,
    /// Early data records the client sent (before its Finished).
    pub records: u64,
}

/// An alert that ended the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertFact {
    /// `"warning"` / `"fatal"` (or `"unknown"` for an encrypted alert).
    pub level: &'static str,
    /// IANA description (`"unknown_ca"`, `"protocol_version"`, ...);
    /// `"encrypted"` when the alert could not be read.
    pub description: &'static str,
    /// Who sent it.
    pub by: Role,
}

/// Minimum and maximum of a duration, seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MinMax {
    /// Shortest, seconds.
    pub min: f64,
    /// Longest, seconds.
    pub max: f64,
}

/// The last turn of the session.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LastTurn {
    /// The server sent application records after the client's last run.
    pub answered: bool,
    /// Capture time (seconds since the epoch) of the client's last
    /// application record of that turn.
    pub client_last: f64,
    /// Capture time of the server's last application record, if any.
    pub server_last: Option<f64>,
    /// Where the client's last record ended.
    #[serde(skip)]
    pub client_last_at: At,
    /// Where the server's last record ended.
    #[serde(skip)]
    pub server_last_at: Option<At>,
}

/// A close_notify alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CloseNotify {
    /// Who sent the first one.
    pub by: Role,
    /// Both sides sent one.
    pub both: bool,
    /// Read from an encrypted record's type and size, not decrypted
    /// (TLS 1.2 alert records after the handshake; TLS 1.3 19-byte
    /// records).
    pub estimated: bool,
}

/// Something unexpected in a TLS stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// Its kind (TLS kinds of the catalogue in [`crate::anomaly`]).
    pub kind: crate::anomaly::AnomalyKind,
    /// Where it was seen.
    pub at: At,
    /// The sender of the offending bytes, when it is one side's.
    pub by: Option<Role>,
    /// Specifics (lengths, types; never key material or plaintext).
    pub detail: String,
}

/// Anomalies kept per session (all are counted).
pub const MAX_ANOMALIES: usize = 32;

impl TlsFacts {
    pub(crate) fn new() -> TlsFacts {
        TlsFacts {
            handshake: "in_progress",
            ..TlsFacts::default()
        }
    }
}

/// IANA name of a protocol version.
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "unknown",
    }
}

/// IANA name of an alert description (TLS Alert Registry).
pub fn alert_name(d: u8) -> &'static str {
    match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

/// Name of an alert level.
pub fn alert_level(l: u8) -> &'static str {
    match l {
        1 => "warning",
        2 => "fatal",
        _ => "unknown",
    }
}
