//! Connection persistence as HTTP/1.x says it (RFC 9112 section 9.3):
//! `Connection` tokens, `Keep-Alive: timeout=, max=` parameters, and what
//! one message, and one exchange, ask for.

use crate::http::{Exchange, Framing, HeadInfo, KeepAliveParams, Version};
use crate::named_enum;
use crate::types::Role;

named_enum! {
    /// Why a message does or does not keep the connection open.
    pub enum Persistence {
        /// HTTP/1.1 without `close`, or HTTP/1.0 with `keep-alive`.
        KeepAlive = "keep-alive",
        /// A `Connection: close` token.
        CloseToken = "close",
        /// HTTP/1.0 without `keep-alive`: the protocol's default is to close.
        Http10Default = "http10-default",
    }
}

/// What one message asks for. In requests, `Proxy-Connection` counts as
/// `Connection` (HTTP/1.0 clients talking to proxies send it, and proxies
/// honour it), see [`HeadInfo::connection`].
pub fn message_persistence(version: Version, head: &HeadInfo) -> Persistence {
    if head.has_token("close") {
        Persistence::CloseToken
    } else if version.minor >= 1 || head.has_token("keep-alive") {
        Persistence::KeepAlive
    } else {
        Persistence::Http10Default
    }
}

/// Why an exchange leaves the connection open or not. The server's answer
/// decides, but a client that cannot keep the connection (1.0 without
/// keep-alive, or `close`) ends it whatever the server says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExchangePersistence {
    /// The connection may carry another request after this exchange.
    pub persistent: bool,
    /// HTTP/1.0 default on either side ended it.
    pub http10: bool,
    /// `Connection: close` said by the client.
    pub close_by_client: bool,
    /// `Connection: close` said by the server.
    pub close_by_server: bool,
    /// The response had no length: only the close could end it.
    pub close_delimited: bool,
    /// The connection switched protocols (101, or 2xx to CONNECT).
    pub tunnel: bool,
}

/// HTTP/1.0 without keep-alive ends the connection whatever else the
/// message says (a `Connection: close` beside it does not change why).
fn http10_default(v: Version, h: &HeadInfo) -> bool {
    v.minor == 0 && !h.has_token("keep-alive")
}

/// The persistence of one exchange (RFC 9112 9.3). The response decides
/// when there is one: an HTTP/1.0 request with `keep-alive` (or
/// `Proxy-Connection: keep-alive`) answered by an HTTP/1.1 response without
/// `close` persists; an HTTP/1.0 request without keep-alive does not,
/// whatever the response says, since the client will close.
pub fn exchange_persistence(ex: &Exchange) -> ExchangePersistence {
    let req = ex
        .request
        .as_ref()
        .map(|r| message_persistence(r.version, &r.head));
    let resp = ex
        .response
        .as_ref()
        .map(|r| message_persistence(r.version, &r.head));
    let close_delimited = ex
        .response
        .as_ref()
        .is_some_and(|r| r.framing == Framing::CloseDelimited);
    let tunnel = ex
        .response
        .as_ref()
        .is_some_and(|r| r.framing == Framing::Tunnel);
    let http10 = ex
        .request
        .as_ref()
        .is_some_and(|r| http10_default(r.version, &r.head))
        || ex
            .response
            .as_ref()
            .is_some_and(|r| http10_default(r.version, &r.head));
    let close_by_client = req == Some(Persistence::CloseToken);
    let close_by_server = resp == Some(Persistence::CloseToken);
    ExchangePersistence {
        persistent: !(http10 || close_by_client || close_by_server || close_delimited || tunnel),
        http10,
        close_by_client,
        close_by_server,
        close_delimited,
        tunnel,
    }
}

/// Keep-alive parameters advertised by `role` over these exchanges (the
/// last `Keep-Alive` header it sent that carried each parameter).
pub fn advertised(exchanges: &[Exchange], role: Role) -> KeepAliveParams {
    let mut ka = KeepAliveParams::default();
    for ex in exchanges {
        let head = match role {
            Role::Client => ex.request.as_ref().map(|r| &r.head),
            Role::Server => ex.response.as_ref().map(|r| &r.head),
        };
        if let Some(k) = head.and_then(|h| h.keep_alive) {
            ka.timeout = k.timeout.or(ka.timeout);
            ka.max = k.max.or(ka.max);
        }
    }
    ka
}

/// Folds one `Keep-Alive` header value (`timeout=5, max=100`) into `ka`:
/// names case-insensitive, spaces and quotes tolerated, unknown names and
/// bad numbers ignored.
pub fn parse_keep_alive(value: &[u8], ka: &mut KeepAliveParams) {
    for param in value.split(|&b| b == b',' || b == b';') {
        let mut kv = param.splitn(2, |&b| b == b'=');
        let name = kv.next().unwrap_or_default().trim_ascii();
        let Some(v) = kv.next() else { continue };
        let v = v.trim_ascii();
        let v = v.strip_prefix(b"\"").unwrap_or(v);
        let v = v.strip_suffix(b"\"").unwrap_or(v).trim_ascii();
        let Some(n) = std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if name.eq_ignore_ascii_case(b"timeout") {
            ka.timeout = Some(n);
        } else if name.eq_ignore_ascii_case(b"max") {
            ka.max = Some(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(tokens: &[&str]) -> HeadInfo {
        HeadInfo {
            connection: tokens
                .iter()
                .map(|t| crate::types::Text::from(*t))
                .collect(),
            ..HeadInfo::default()
        }
    }

    #[test]
    fn http11_persists_unless_close() {
        assert_eq!(
            message_persistence(Version::HTTP11, &head(&[])),
            Persistence::KeepAlive
        );
        assert_eq!(
            message_persistence(Version::HTTP11, &head(&["close"])),
            Persistence::CloseToken
        );
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        assert_eq!(
            message_persistence(Version::HTTP10, &head(&[])),
            Persistence::Http10Default
        );
        assert_eq!(
            message_persistence(Version::HTTP10, &head(&["keep-alive"])),
            Persistence::KeepAlive
        );
    }

    #[test]
    fn keep_alive_params() {
        let mut ka = KeepAliveParams::default();
        parse_keep_alive(b"timeout=5, max=100", &mut ka);
        assert_eq!(
            ka,
            KeepAliveParams {
                timeout: Some(5),
                max: Some(100)
            }
        );
        let mut ka = KeepAliveParams::default();
        parse_keep_alive(b" Timeout = \"15\" ;MAX=3, foo=bar, junk", &mut ka);
        assert_eq!(
            ka,
            KeepAliveParams {
                timeout: Some(15),
                max: Some(3)
            }
        );
        let mut ka = KeepAliveParams::default();
        parse_keep_alive(b"timeout=abc", &mut ka);
        assert_eq!(ka, KeepAliveParams::default());
    }
}
