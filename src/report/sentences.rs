//! The sentences of the report: verdicts said for people. The verdict
//! layer returns facts ([`crate::verdict::Close`]); only this module words
//! them, so every renderer says the same thing.

use crate::types::{Role, human_secs};
use crate::verdict::{Close, CloseReason, SaidBy};

/// The sentence explaining why a connection ended.
pub fn close_explanation(c: &Close) -> String {
    let by = c.by.unwrap_or(Role::Client);
    match c.reason {
        CloseReason::Refused => "connection refused: the server answered the SYN with a RST".into(),
        CloseReason::Open => {
            if c.had_exchanges {
                "still open when the capture ended (no FIN or RST seen)".into()
            } else {
                "still open when the capture ended".into()
            }
        }
        CloseReason::Reset => format!(
            "{by} reset the connection{}",
            if c.request_outstanding == Some(true) {
                " while a request or response was unfinished"
            } else if !c.had_exchanges {
                ""
            } else {
                " with no request outstanding"
            }
        ),
        CloseReason::NoHttp => format!("{by} closed; no HTTP was seen on this connection"),
        CloseReason::MidMessage => {
            format!("{by} closed (FIN) while a request or its response was unfinished")
        }
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
        CloseReason::Idle => {
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
                    format!(
                        "{by} closed after {idle_txt} idle, as its Keep-Alive: timeout={t} said"
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
