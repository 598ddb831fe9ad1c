//! The verdict of a TLS connection whose plaintext was not analysed (no
//! keys, keys that did not work, or HTTP/2 plaintext): judged from its
//! records, with `close.estimated` set.
//!
//! Precedence (after `refused` and `open`, which stand as they are):
//! 1. `tls_failed`: the handshake failed (an alert) or was abandoned (the
//!    connection ended before it completed);
//! 2. `reset`: the first close was a RST (`request_outstanding`: the last
//!    client turn was not answered);
//! 3. `mid_message`: the last client turn (a run of client application
//!    records) was not answered by the server;
//! 4. `idle`: otherwise, with `idle_seconds` from the last application
//!    record to the first FIN.
//!
//! A connection whose plaintext went through the HTTP analysis keeps the
//! HTTP verdict. Either way the TLS engine's anomalies join the
//! connection's.

use crate::app::tls::TlsConn;
use crate::tcp::Connection;
use crate::tcp::connection::CloseKind;
use crate::tls::AlertFact;
use crate::types::{MAX_ANOMALIES_PER_CONNECTION, secs};

use super::{CloseReason, Outstanding, Unfinished, Verdict, anomaly};

/// What the sentence of a TLS verdict needs.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsClose {
    /// The handshake outcome (`complete`, `failed`, `abandoned`, `not_seen`).
    pub handshake: &'static str,
    /// The alert that ended the handshake.
    pub alert: Option<AlertFact>,
    /// Turns seen.
    pub turns: u64,
    /// The plaintext was decrypted but not analysed: its protocol (`h2`).
    pub unanalysed: Option<&'static str>,
    /// Why the plaintext could not be read (`no_keys`, `bad_keys`...).
    pub decrypt_error: Option<&'static str>,
    /// The first close_notify, where visible.
    pub close_notify: Option<crate::tls::CloseNotify>,
    /// The close was judged from the TLS records (the plaintext was not
    /// analysed), not from HTTP messages.
    pub from_records: bool,
}

/// Adds the TLS side to the verdict of a TLS connection (module docs).
pub fn judge(conn: &Connection, tls: &TlsConn, v: &mut Verdict) {
    let engine = tls.engine();
    let f = engine.facts();
    for a in engine.anomalies() {
        v.anomalies
            .push(anomaly(a.kind, a.at, a.by, a.detail.clone()));
    }
    v.anomalies_dropped += engine
        .anomaly_count()
        .saturating_sub(engine.anomalies().len() as u64);
    if v.anomalies.len() > MAX_ANOMALIES_PER_CONNECTION {
        v.anomalies.sort_by_key(|a| (a.frame, a.kind));
        let extra = v.anomalies.len() - MAX_ANOMALIES_PER_CONNECTION;
        v.anomalies.truncate(MAX_ANOMALIES_PER_CONNECTION);
        v.anomalies_dropped += extra as u64;
    }
    v.tail.tls_client_last = f.last_turn.map(|t| t.client_last_at);
    v.tail.tls_server_last = f.last_turn.and_then(|t| t.server_last_at);
    v.tail.tls_lead_server = f.lead_server_at;
    let c = &mut v.close;
    c.tls = Some(TlsClose {
        handshake: f.handshake,
        alert: f.alert.clone(),
        turns: f.turns,
        unanalysed: tls
            .inner()
            .name()
            .filter(|_| f.decrypted && !tls.inner().analysed()),
        decrypt_error: f.decrypt_error,
        close_notify: f.close_notify,
        from_records: !tls.inner().analysed(),
    });
    if tls.inner().analysed() {
        return;
    }
    if matches!(c.reason, CloseReason::Refused | CloseReason::Open) {
        return;
    }
    let Some(fc) = conn.first_close else {
        return;
    };
    c.said_by = None;
    c.close_delimited = false;
    c.request_outstanding = None;
    c.outstanding = None;
    if matches!(f.handshake, "failed" | "abandoned") {
        c.reason = CloseReason::TlsFailed;
        // A TLS 1.3 alert is encrypted: read from its size.
        c.estimated = f
            .alert
            .as_ref()
            .is_some_and(|a| a.description == "encrypted");
        return;
    }
    c.estimated = true;
    let unanswered = f.last_turn.is_some_and(|t| !t.answered);
    let outstanding = Outstanding {
        what: Unfinished::Unanswered,
        request: Some(f.turns),
    };
    if fc.kind == CloseKind::Rst {
        c.reason = CloseReason::Reset;
        c.request_outstanding = Some(unanswered);
        c.outstanding = unanswered.then_some(outstanding);
        return;
    }
    if unanswered {
        c.reason = CloseReason::MidMessage;
        c.request_outstanding = Some(true);
        c.outstanding = Some(outstanding);
        return;
    }
    c.reason = CloseReason::Idle;
    let last = f
        .last_turn
        .map(|t| t.server_last_at.unwrap_or(t.client_last_at));
    if let Some(last) = last
        && fc.at >= last
    {
        let idle = secs(fc.at, last);
        c.idle_seconds = Some(idle);
        v.idle.before_close = Some(idle);
    }
    if let Some(mm) = f.idle_between_turns {
        v.idle.between_requests_min = Some(mm.min);
        v.idle.between_requests_max = Some(mm.max);
    }
}
