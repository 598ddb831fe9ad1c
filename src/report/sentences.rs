//! The sentences of the report: verdicts said for people. The verdict
//! layer returns facts ([`crate::verdict::Close`]); only this module words
//! them, so every renderer says the same thing.

use crate::types::{Role, human_secs};

/// `4032 B`, `12.5 kB`, `3.1 MB`.
pub fn human_bytes(n: u64) -> String {
    match n {
        0..=9_999 => format!("{n} B"),
        10_000..=9_999_999 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}
use crate::verdict::{Close, CloseReason, Outstanding, SaidBy, Unfinished};

/// `while request 2 was unanswered`, and the like.
fn unfinished(o: Option<Outstanding>) -> String {
    let Some(o) = o else {
        return "while a request or its response was unfinished".into();
    };
    let req = o
        .request
        .map_or("a request".to_string(), |n| format!("request {n}"));
    match o.what {
        Unfinished::Unanswered => format!("while {req} was unanswered"),
        Unfinished::Request => format!("while {req} was still being sent"),
        Unfinished::Response => match o.request {
            Some(n) => format!("while the response to request {n} was still arriving"),
            None => "while a response was still arriving".into(),
        },
    }
}

/// The sentence explaining why a connection ended.
pub fn close_explanation(c: &Close) -> String {
    let base = close_sentence(c);
    match &c.tls {
        Some(t) if t.from_records && c.reason != CloseReason::TlsFailed => {
            format!("{base}{}", tls_note(t))
        }
        Some(t) => match (t.close_notify, c.by) {
            // The TLS session was ended by the other side than the FIN's.
            (Some(n), Some(by))
                if n.by != by && !n.estimated && c.reason != CloseReason::TlsFailed =>
            {
                format!("{base}; the {} had sent the first close_notify", n.by)
            }
            _ => base,
        },
        None => base,
    }
}

/// What a TLS connection judged from its records adds to the sentence.
fn tls_note(t: &crate::verdict::tls::TlsClose) -> String {
    let why = match (t.unanalysed, t.decrypt_error) {
        (Some(p), _) => format!("the {p} plaintext was decrypted but not analysed"),
        (None, Some("no_keys")) => "no TLS keys for it".to_string(),
        (None, Some(e)) => format!("TLS not decrypted: {}", e.replace('_', " ")),
        (None, None) => "decrypted, no plaintext".to_string(),
    };
    let turns = match t.turns {
        1 => "1 turn".to_string(),
        n => format!("{n} turns"),
    };
    format!(" (estimated from the TLS records, {turns}; {why})")
}

fn close_sentence(c: &Close) -> String {
    let by = c.by.unwrap_or(Role::Client);
    match c.reason {
        CloseReason::TlsFailed => {
            let (handshake, alert) = c
                .tls
                .as_ref()
                .map_or(("abandoned", None), |t| (t.handshake, t.alert.as_ref()));
            match (handshake, alert) {
                ("failed", Some(a)) if a.description == "encrypted" => format!(
                    "the TLS handshake failed: the {} sent an encrypted alert (its description cannot be read without keys)",
                    a.by
                ),
                ("failed", Some(a)) => format!(
                    "the TLS handshake failed: the {} sent a {} {} alert",
                    a.by, a.level, a.description
                ),
                _ => format!(
                    "the TLS handshake was abandoned: {by} {} before it completed",
                    match c.kind {
                        Some(crate::tcp::connection::CloseKind::Rst) => "reset the connection",
                        _ => "closed the connection",
                    }
                ),
            }
        }
        CloseReason::Refused => "connection refused: the server answered the SYN with a RST".into(),
        CloseReason::Open => {
            if let Some(why) = c.evicted {
                use crate::tcp::flow::Eviction::*;
                return match why {
                    Inactive => "still open after the idle timeout (--idle-timeout): concluded then; later packets start a new connection".into(),
                    HandshakeTimeout => "no handshake completed and no data within the handshake timeout (--handshake-timeout): concluded then".into(),
                    MemoryBudget => "still open; concluded early as the longest idle to keep the memory budget (--memory-budget)".into(),
                    MaxConnections => "still open; concluded early as the longest idle to keep within --max-connections".into(),
                };
            }
            if c.had_exchanges {
                "still open when the capture ended (no FIN or RST seen)".into()
            } else {
                "still open when the capture ended".into()
            }
        }
        CloseReason::Reset => format!(
            "{by} reset the connection{}",
            if let Some(id) = c.open_stream {
                format!(" while HTTP/2 stream {id} was open")
            } else if c.request_outstanding == Some(true) {
                format!(" {}", unfinished(c.outstanding))
            } else if !c.had_exchanges {
                String::new()
            } else {
                " with no request outstanding".into()
            }
        ),
        CloseReason::NoHttp => format!("{by} closed; no HTTP was seen on this connection"),
        CloseReason::MidMessage => match c.open_stream {
            Some(id) => format!("{by} closed (FIN) while HTTP/2 stream {id} was open"),
            None => format!("{by} closed (FIN) {}", unfinished(c.outstanding)),
        },
        CloseReason::Goaway => goaway_sentence(c),
        CloseReason::Http10 => format!(
            "{by} closed after an HTTP/1.0 exchange without keep-alive (the protocol's default)"
        ),
        CloseReason::ConnectionClose => {
            if c.close_delimited {
                format!("{by} closed to end a response that had no length (close-delimited)")
            } else {
                let who = match c.said_by {
                    Some(SaidBy::Both) => "client and the server",
                    Some(SaidBy::Client) => "client",
                    Some(SaidBy::Server) | None => "server",
                };
                format!("{by} closed after Connection: close from the {who}")
            }
        }
        CloseReason::Upgraded => {
            let proto = c.protocol.as_deref().unwrap_or("unknown");
            let what = if proto == "connect" {
                "became a CONNECT tunnel".to_string()
            } else {
                format!("switched to {proto}")
            };
            let bytes = c.tunnel_bytes.map_or(String::new(), |t| {
                format!(
                    "; the client sent {} and the server {} through it",
                    human_bytes(t.client),
                    human_bytes(t.server)
                )
            });
            let end = match (c.by, c.kind) {
                (Some(by), Some(crate::tcp::connection::CloseKind::Fin)) => {
                    format!("; {by} closed (FIN)")
                }
                (Some(by), Some(crate::tcp::connection::CloseKind::Rst)) => {
                    format!("; {by} reset it")
                }
                _ => "; still open when the capture ended".to_string(),
            };
            format!("the connection {what}{bytes}{end}")
        }
        CloseReason::Idle => {
            if c.estimated && c.tls.as_ref().is_some_and(|t| t.turns == 0) {
                if c.tls.as_ref().is_some_and(|t| t.handshake == "not_seen") {
                    return format!(
                        "{by} closed; the capture began after the TLS handshake and holds no client application data of it"
                    );
                }
                return format!("{by} closed after the TLS handshake, before any application data");
            }
            if c.last_response_lost {
                return format!(
                    "{by} closed after the last request; its response was lost in a capture gap, so whether it asked to close is not known"
                );
            }
            let idle_txt = c
                .idle_seconds
                .map_or("an unknown time".to_string(), human_secs);
            match (c.advertised_timeout, c.matches_timeout) {
                (Some(t), Some(true)) => {
                    let off = match c.timeout_delta {
                        Some(d) if d >= 0.5 => format!(" ({} late)", human_secs(d)),
                        Some(d) if d <= -0.5 => format!(" ({} early)", human_secs(-d)),
                        _ => String::new(),
                    };
                    format!(
                        "{by} closed after {idle_txt} idle, as its Keep-Alive: timeout={t} said{off}"
                    )
                }
                (Some(t), _) => {
                    format!("{by} closed after {idle_txt} idle; its Keep-Alive said timeout={t}")
                }
                (None, _) => format!("{by} closed after {idle_txt} idle"),
            }
        }
    }
}

/// The sentence of an HTTP/2 connection that ended after a GOAWAY.
fn goaway_sentence(c: &Close) -> String {
    use crate::verdict::h2::GoawayCause;
    let by = c.by.unwrap_or(Role::Server);
    let Some(g) = &c.goaway else {
        return format!("{by} sent GOAWAY, then the connection closed");
    };
    let streams = match g.streams {
        1 => "1 stream".to_string(),
        n => format!("{n} streams"),
    };
    let what = match g.cause {
        GoawayCause::StreamLimit => format!(
            "after {streams}, with more still coming: a stream-count rollover (a limit on requests per connection, such as nginx keepalive_requests)"
        ),
        GoawayCause::AfterLastStream => format!(
            "after {streams}, right after the last one ended, none pending: a stream limit reached exactly or a server that closes quiet connections (the same count on its other connections points to a limit)"
        ),
        GoawayCause::IdleTimeout => format!(
            "after {} idle: an idle timeout ({streams} before it)",
            human_secs(g.idle_seconds)
        ),
        GoawayCause::Error => format!("after {streams}: a connection error"),
        GoawayCause::ClientDone => format!("after {streams}: the client was done with it"),
    };
    let unprocessed = match g.unprocessed {
        0 => String::new(),
        1 => "; 1 stream above it was not processed (to be retried)".to_string(),
        n => format!("; {n} streams above it were not processed (to be retried)"),
    };
    let open = c
        .open_stream
        .map_or(String::new(), |id| format!("; stream {id} was still open"));
    let end = match c.kind {
        Some(crate::tcp::connection::CloseKind::Fin) => "; then the connection closed (FIN)",
        Some(crate::tcp::connection::CloseKind::Rst) => "; then the connection was reset",
        None => "",
    };
    format!(
        "{by} sent GOAWAY ({}, last_stream_id {}) {what}{unprocessed}{open}{end}",
        g.error, g.last_stream_id
    )
}
