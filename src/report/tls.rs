//! The TLS parts of the report: each TLS connection's `tls` object, the
//! summary's `tls` object, and the key logs read (`keylogs` in the header).

use std::collections::BTreeMap;

use serde::Serialize;

use super::ConnectionReport;
use crate::app::tls::TlsConn;
use crate::tls::TlsFacts;

/// A TLS connection's `tls` object: what the TLS engine saw
/// ([`TlsFacts`], flattened) and where its plaintext went.
#[derive(Clone, Debug, Serialize)]
pub struct TlsReport {
    /// Version, SNI, ALPN, cipher, resumption, handshake, records, turns,
    /// decryption.
    #[serde(flatten)]
    pub facts: TlsFacts,
    /// The protocol of the decrypted plaintext: `http/1.1`, or `h2` (from
    /// ALPN); `null` when nothing was decrypted.
    pub plaintext_protocol: Option<&'static str>,
    /// The decrypted plaintext went through the HTTP analysis (requests,
    /// exchanges and the close reason are then exact): HTTP/1 plaintext
    /// by the HTTP/1 analysis, ALPN `h2` plaintext by the HTTP/2 one.
    pub plaintext_analysed: bool,
}

/// The `tls` object of a TLS connection.
pub fn tls_report(t: &TlsConn) -> TlsReport {
    TlsReport {
        facts: t.engine().facts().clone(),
        plaintext_protocol: t.inner().name(),
        plaintext_analysed: t.inner().analysed(),
    }
}

/// The summary's `tls` object (present when there was a TLS connection).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TlsSummary {
    /// Connections that spoke TLS.
    pub connections: u64,
    /// Handshake outcome -> connections (`complete`, `failed`, `abandoned`,
    /// `not_seen`).
    pub handshakes: BTreeMap<&'static str, u64>,
    /// Negotiated version -> connections.
    pub versions: BTreeMap<&'static str, u64>,
    /// Cipher suite -> connections.
    pub ciphers: BTreeMap<&'static str, u64>,
    /// Selected ALPN protocol -> connections (where visible).
    pub alpn: BTreeMap<String, u64>,
    /// Connections whose ALPN selection was hidden (TLS 1.3 without keys).
    pub alpn_hidden: u64,
    /// Resumed handshakes.
    pub resumed: u64,
    /// Of connections with a ServerHello, the share resumed.
    pub resumed_share: f64,
    /// How they resumed (`session_id`, `ticket`, `psk`) -> connections.
    pub resumed_how: BTreeMap<&'static str, u64>,
    /// Connections with 0-RTT early data offered, and accepted.
    pub early_data_offered: u64,
    pub early_data_accepted: u64,
    /// Connections whose application data was decrypted.
    pub decrypted: u64,
    /// Why the others were not (`no_keys`, `bad_keys`, ...) -> connections.
    pub not_decrypted: BTreeMap<&'static str, u64>,
    /// Connections whose decrypted plaintext was not analysed (HTTP/2).
    pub plaintext_not_analysed: u64,
    /// Turns over all TLS connections (the estimate of exchanges).
    pub turns: u64,
    /// Per server: connections and the SNI names asked for, busiest first.
    pub by_server: Vec<TlsServerSummary>,
    /// TLS connections of servers past the first
    /// [`super::build::MAX_SERVERS`], counted in the totals only.
    pub servers_not_listed: u64,
}

/// One server's TLS figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TlsServerSummary {
    pub server: String,
    pub connections: u64,
    /// SNI -> connections (ClientHellos without SNI are not counted).
    pub sni: BTreeMap<String, u64>,
    pub resumed: u64,
    /// Of its connections with a ServerHello, the share resumed.
    pub resumed_share: f64,
}

/// Most SNI names kept per server.
const MAX_SNI_PER_SERVER: usize = 64;

/// Folds the summary's `tls` object one connection at a time.
#[derive(Default)]
pub struct TlsSummaryBuilder {
    s: TlsSummary,
    with_server_hello: u64,
    servers: BTreeMap<String, (TlsServerSummary, u64)>,
}

impl TlsSummaryBuilder {
    /// Folds one concluded connection in (nothing when it is not TLS).
    pub fn add(&mut self, c: &ConnectionReport) {
        let Some(t) = &c.tls else {
            return;
        };
        let f = &t.facts;
        let s = &mut self.s;
        s.connections += 1;
        *s.handshakes.entry(f.handshake).or_insert(0) += 1;
        if let Some(v) = f.version {
            *s.versions.entry(v).or_insert(0) += 1;
        }
        if let Some(x) = f.cipher {
            *s.ciphers.entry(x).or_insert(0) += 1;
        }
        if let Some(a) = &f.alpn {
            *s.alpn.entry(a.clone()).or_insert(0) += 1;
        }
        s.alpn_hidden += (f.alpn.is_none() && f.alpn_hidden) as u64;
        let resumed = f.resumed == Some(true);
        self.with_server_hello += f.resumed.is_some() as u64;
        s.resumed += resumed as u64;
        if let (true, Some(how)) = (resumed, f.resumed_how) {
            *s.resumed_how.entry(how).or_insert(0) += 1;
        }
        s.early_data_offered += f.early_data.offered as u64;
        s.early_data_accepted += (f.early_data.accepted == Some(true)) as u64;
        if f.decrypted {
            s.decrypted += 1;
        } else if let Some(e) = f.decrypt_error {
            *s.not_decrypted.entry(e).or_insert(0) += 1;
        }
        s.plaintext_not_analysed += (f.decrypted && !t.plaintext_analysed) as u64;
        s.turns += f.turns;
        if !self.servers.contains_key(c.server.as_str())
            && self.servers.len() >= super::build::MAX_SERVERS
        {
            s.servers_not_listed += 1;
            return;
        }
        let (srv, with_sh) = self.servers.entry(c.server.clone()).or_default();
        srv.connections += 1;
        srv.resumed += resumed as u64;
        *with_sh += f.resumed.is_some() as u64;
        if let Some(sni) = &f.sni
            && (srv.sni.len() < MAX_SNI_PER_SERVER || srv.sni.contains_key(sni))
        {
            *srv.sni.entry(sni.clone()).or_insert(0) += 1;
        }
    }

    /// The summary's `tls` object; `None` without TLS connections.
    pub fn finish(self) -> Option<TlsSummary> {
        let mut s = self.s;
        if s.connections == 0 {
            return None;
        }
        s.resumed_share = super::build::ratio(s.resumed, self.with_server_hello);
        s.by_server = self
            .servers
            .into_iter()
            .map(|(server, (mut srv, with_sh))| {
                srv.server = server;
                srv.resumed_share = super::build::ratio(srv.resumed, with_sh);
                srv
            })
            .collect();
        s.by_server.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then(a.server.cmp(&b.server))
        });
        Some(s)
    }
}

/// One key log read (a `--keylog` file, or a capture's Decryption Secrets
/// Blocks): the header's `keylogs` list.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct KeyLogReport {
    /// The file, or `<capture> (decryption secrets blocks)`.
    pub source: String,
    /// Non-comment, non-blank lines read.
    pub lines: u64,
    /// Connections (client randoms) with at least one secret.
    pub connections: u64,
    /// Well-formed lines with labels not used (`EXPORTER_SECRET`...).
    pub ignored: u64,
    /// Lines that could not be read (skipped; not fatal).
    pub malformed: u64,
    /// The first of them: line number and why.
    pub malformed_lines: Vec<MalformedLine>,
}

/// A key log line that could not be read.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MalformedLine {
    pub line: u64,
    pub reason: &'static str,
}

impl KeyLogReport {
    /// What reading `log` from `source` gave.
    pub fn of(source: &str, log: &crate::tls::KeyLog) -> KeyLogReport {
        KeyLogReport {
            source: source.to_string(),
            lines: log.lines(),
            connections: log.len() as u64,
            ignored: log.ignored(),
            malformed: log.malformed_count(),
            malformed_lines: log
                .malformed()
                .iter()
                .map(|m| MalformedLine {
                    line: m.line,
                    reason: m.reason,
                })
                .collect(),
        }
    }
}

/// The text report's line for a TLS connection: version, SNI, ALPN,
/// cipher, resumption, turns, decryption.
pub fn text_line(t: &TlsReport) -> String {
    let f = &t.facts;
    let mut parts = vec![match f.version {
        Some(v) => v.to_string(),
        None => format!("TLS (handshake {})", f.handshake.replace('_', " ")),
    }];
    if f.version.is_some() && f.handshake != "complete" {
        parts.push(format!("handshake {}", f.handshake.replace('_', " ")));
    }
    if let Some(a) = &f.alert {
        parts.push(format!("{} alert {} by {}", a.level, a.description, a.by));
    }
    if let Some(sni) = &f.sni {
        parts.push(format!("SNI {sni}"));
    }
    match (&f.alpn, f.alpn_hidden, f.alpn_offered.is_empty()) {
        (Some(a), _, _) => parts.push(format!("ALPN {a}")),
        (None, true, false) => parts.push(format!(
            "ALPN hidden (offered {})",
            f.alpn_offered.join(", ")
        )),
        _ => {}
    }
    if let Some(c) = f.cipher {
        parts.push(c.to_string());
    }
    if f.resumed == Some(true) {
        parts.push(match f.resumed_how {
            Some(how) => format!("resumed ({})", how.replace('_', " ")),
            None => "resumed".into(),
        });
    }
    if f.hello_retry {
        parts.push("HelloRetryRequest".into());
    }
    if f.early_data.offered {
        parts.push(match f.early_data.accepted {
            Some(true) => "0-RTT accepted".to_string(),
            Some(false) => "0-RTT rejected".to_string(),
            None => "0-RTT offered".to_string(),
        });
    }
    parts.push(match f.turns {
        1 => "1 turn".to_string(),
        n => format!("{n} turns"),
    });
    parts.push(
        match (f.decrypted, t.plaintext_analysed, t.plaintext_protocol) {
            (true, true, _) => "decrypted".to_string(),
            (true, false, Some(p)) => format!("decrypted ({p} not analysed)"),
            (true, false, None) => "decrypted".to_string(),
            (false, _, _) => format!(
                "not decrypted ({})",
                f.decrypt_error.unwrap_or("no_keys").replace('_', " ")
            ),
        },
    );
    parts.join(" · ")
}

/// The text report's TLS summary rows: label, value.
pub fn text_rows(s: &TlsSummary) -> Vec<(&'static str, String)> {
    let list = |m: &BTreeMap<&'static str, u64>| {
        m.iter()
            .map(|(k, n)| format!("{} {n}", k.replace('_', " ")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rows = vec![(
        "TLS",
        format!(
            "{} connections; handshakes {}",
            s.connections,
            list(&s.handshakes)
        ),
    )];
    if !s.versions.is_empty() {
        rows.push(("TLS versions", list(&s.versions)));
    }
    if !s.ciphers.is_empty() {
        let c: Vec<String> = s.ciphers.iter().map(|(k, n)| format!("{k} {n}")).collect();
        rows.push(("TLS ciphers", c.join(", ")));
    }
    let mut alpn: Vec<String> = s.alpn.iter().map(|(k, n)| format!("{k} {n}")).collect();
    if s.alpn_hidden > 0 {
        alpn.push(format!("hidden {}", s.alpn_hidden));
    }
    if !alpn.is_empty() {
        rows.push(("ALPN", alpn.join(", ")));
    }
    let how = if s.resumed_how.is_empty() {
        String::new()
    } else {
        format!(" ({})", list(&s.resumed_how))
    };
    rows.push((
        "TLS resumed",
        format!(
            "{} ({:.0}% of handshakes with a ServerHello){how}",
            s.resumed,
            s.resumed_share * 100.0
        ),
    ));
    let mut dec = format!("{} decrypted", s.decrypted);
    if !s.not_decrypted.is_empty() {
        dec.push_str(&format!("; not: {}", list(&s.not_decrypted)));
    }
    if s.plaintext_not_analysed > 0 {
        dec.push_str(&format!(
            "; {} with plaintext not analysed",
            s.plaintext_not_analysed
        ));
    }
    dec.push_str(&format!("; {} turns", s.turns));
    rows.push(("TLS decryption", dec));
    let sni: Vec<String> = s
        .by_server
        .iter()
        .take(8)
        .map(|srv| {
            let names: Vec<&str> = srv.sni.keys().map(String::as_str).collect();
            if names.is_empty() {
                format!("{} (no SNI)", srv.server)
            } else {
                format!("{} {}", srv.server, names.join(" "))
            }
        })
        .collect();
    if !sni.is_empty() {
        rows.push(("SNI by server", sni.join("; ")));
    }
    rows
}
