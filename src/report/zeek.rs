//! Zeek logs: `conn.log` and `http.log` in Zeek's TSV format (the
//! `#separator`, `#set_separator`, `#empty_field`, `#unset_field`, `#path`,
//! `#open`, `#fields`, `#types` header lines, one tab-separated row per
//! record, `#close`), with Zeek's field names and meanings, so `zeek-cut`
//! and log shippers read them.
//!
//! conn.log: Zeek's fields up to `tunnel_parents`, then `community_id`
//! (Community ID v1, seed 0, as Zeek's community-id policy logs it) and the
//! extension fields `requests`, `close_reason`, `close_by` and
//! `keepalive_timeout` (the server's last advertised `Keep-Alive:
//! timeout=`). How ours differ from Zeek's own:
//! - `uid` is derived from the connection (deterministic), not random.
//! - `orig`/`resp` are the client and the server as httpreuse decided them
//!   (from the SYN, else the traffic); Zeek flips when it sees a SYN-ACK
//!   first and marks that `^` in `history`, which ours does too.
//! - `orig_bytes`/`resp_bytes` are the payload bytes seen once
//!   (retransmissions out) plus the bytes lost in gaps, which is Zeek's
//!   sequence-space count for ordinary connections.
//! - `history` is ours (`S h A D d F f R r T t G g`, upper case the
//!   client; `G`/`g` is a gap in the stream): Zeek's letters, but Zeek
//!   adds repeat letters for repeated events that ours shows once.
//! - `conn_state` is derived from the handshake and who sent FIN/RST:
//!   `REJ`, `S0`, `S1`, `S2`, `S3`, `SF`, `RSTO`, `RSTR`, `RSTOS0`, `SH`,
//!   `SHR`, `RSTRH`, and `OTH` (no SYN seen and the originator sent nothing,
//!   or neither SYN nor SYN-ACK seen); a connection whose SYN was missed
//!   but whose traffic followed is judged by its FINs and RSTs, as Zeek does.
//! - `orig_ip_bytes`/`resp_ip_bytes`, `local_orig`/`local_resp` are unset
//!   (`-`): the report keeps no IP lengths and knows no local networks.
//!
//! http.log: one row per exchange with a request, Zeek's fields, then the
//! extension fields `persistent` and `close_reason`. `host`, `referrer`,
//! `user_agent`, `origin`, the auth and file fields are unset: the report
//! does not keep those headers. `version` is the response's version (the
//! request's when there is no response), `request_body_len` and
//! `response_body_len` are the body bytes on the wire (for chunked bodies
//! these include the chunk framing, and gzip bodies stay compressed, where
//! Zeek counts the de-chunked, inflated bytes), `info_code` is the last 1xx
//! response; `info_msg` is unset. Where Zeek's parser gives up on a request
//! it logs the answer as HTTP/0.9 with status 0; ours parses what it can.
//! `tests/formats.rs` compares these logs with Zeek's baselines field by
//! field and lists each known difference with its reason.
//!
//! `#open` and `#close` are the first connection's start and the last
//! packet's time (capture time, so the same capture gives the same file).
//! To standard output only conn.log is written; `-o DIR` writes both.

use std::io::{self, Write};

use sha1::{Digest, Sha1};

use crate::report::flat::{name, split_endpoint};
use crate::report::har::civil_from_days;
use crate::report::render::Render;
use crate::report::{ConnectionReport, Header, Summary};
use crate::tcp::connection::HandshakeState;

/// conn.log fields and their Zeek types.
pub const CONN_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    ("community_id", "string"),
    ("requests", "count"),
    ("close_reason", "string"),
    ("close_by", "string"),
    ("keepalive_timeout", "count"),
];

/// http.log fields and their Zeek types.
pub const HTTP_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("trans_depth", "count"),
    ("method", "string"),
    ("host", "string"),
    ("uri", "string"),
    ("referrer", "string"),
    ("version", "string"),
    ("user_agent", "string"),
    ("origin", "string"),
    ("request_body_len", "count"),
    ("response_body_len", "count"),
    ("status_code", "count"),
    ("status_msg", "string"),
    ("info_code", "count"),
    ("info_msg", "string"),
    ("tags", "set[enum]"),
    ("username", "string"),
    ("password", "string"),
    ("proxied", "set[string]"),
    ("orig_fuids", "vector[string]"),
    ("orig_filenames", "vector[string]"),
    ("orig_mime_types", "vector[string]"),
    ("resp_fuids", "vector[string]"),
    ("resp_filenames", "vector[string]"),
    ("resp_mime_types", "vector[string]"),
    ("persistent", "bool"),
    ("close_reason", "string"),
];

const UNSET: &str = "-";
const EMPTY: &str = "(empty)";

/// A string field as Zeek writes it: `(empty)` for "", `\x2d` for a lone
/// `-`, and `\xHH` for tabs, backslashes, control and non-ASCII bytes.
pub fn escape(s: &str) -> String {
    if s.is_empty() {
        return EMPTY.to_string();
    }
    if s == UNSET {
        return "\\x2d".to_string();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b == b'\\' || b == b'\t' || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn time(secs: f64) -> String {
    format!("{secs:.6}")
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| UNSET.to_string(), |v| v.to_string())
}

/// `YYYY-MM-DD-HH-MM-SS` (Zeek's `#open` format, UTC).
fn stamp(secs: f64) -> String {
    let t = secs.max(0.0) as i64;
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}-{:02}-{:02}-{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// A deterministic Zeek-style uid: `C` and 17 base62 characters of a hash
/// of the connection's id, endpoints and start.
pub fn uid(c: &ConnectionReport) -> String {
    let mut h = Sha1::new();
    h.update(format!("{}|{}|{}|{}", c.id, c.client, c.server, c.start).as_bytes());
    let d = h.finalize();
    let mut n = d
        .iter()
        .take(13)
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::from("C");
    for _ in 0..17 {
        s.push(char::from(B62[(n % 62) as usize]));
        n /= 62;
    }
    s
}

/// Zeek's `conn_state` from what the report knows (see the module docs).
pub fn conn_state(c: &ConnectionReport) -> &'static str {
    let syn = c.handshake.syn_frame.is_some();
    let synack = c.handshake.syn_ack_frame.is_some();
    let first_rst = match (c.rst.client, c.rst.server) {
        (Some(a), Some(b)) => Some(if a <= b { "client" } else { "server" }),
        (Some(_), None) => Some("client"),
        (None, Some(_)) => Some("server"),
        (None, None) => None,
    };
    let (fin_c, fin_s) = (c.fin.client.is_some(), c.fin.server.is_some());
    if c.handshake.state == HandshakeState::Refused {
        return "REJ";
    }
    if !syn && (!synack || c.packets.client == 0) {
        // no SYN, and the originator never got going: Zeek's OTH, or its
        // responder-only states
        return match (synack, first_rst, fin_s) {
            (true, Some("server"), _) => "RSTRH",
            (true, _, true) => "SHR",
            _ => "OTH",
        };
    }
    if syn && !synack {
        return match (first_rst, fin_c) {
            (Some("client"), _) => "RSTOS0",
            (_, true) => "SH",
            _ => "S0",
        };
    }
    match first_rst {
        Some("client") => return "RSTO",
        Some(_) => return "RSTR",
        None => {}
    }
    match (fin_c, fin_s) {
        (true, true) => "SF",
        (true, false) => "S2",
        (false, true) => "S3",
        (false, false) => "S1",
    }
}

fn conn_row(c: &ConnectionReport) -> Vec<String> {
    let (oh, op) = split_endpoint(&c.client);
    let (rh, rp) = split_endpoint(&c.server);
    let cid = match (c.client.parse(), c.server.parse()) {
        (Ok(a), Ok(b)) => crate::community_id::v1(a, b, crate::community_id::PROTO_TCP, 0),
        _ => None,
    };
    let bytes = |t: &crate::report::TcpStreamReport, payload: u64| {
        payload.saturating_sub(t.reassembly.retransmitted_bytes) + t.reassembly.gap_bytes
    };
    vec![
        time(c.start),
        uid(c),
        escape(&oh),
        opt(op),
        escape(&rh),
        opt(rp),
        "tcp".into(),
        if c.requests > 0 || c.responses > 0 {
            "http".into()
        } else {
            UNSET.into()
        },
        time(c.duration),
        bytes(&c.tcp.client, c.payload_bytes.client).to_string(),
        bytes(&c.tcp.server, c.payload_bytes.server).to_string(),
        conn_state(c).into(),
        UNSET.into(),
        UNSET.into(),
        (c.tcp.client.reassembly.gap_bytes + c.tcp.server.reassembly.gap_bytes).to_string(),
        escape(&c.history),
        c.packets.client.to_string(),
        UNSET.into(),
        c.packets.server.to_string(),
        UNSET.into(),
        UNSET.into(),
        cid.map_or_else(|| UNSET.into(), |s| escape(&s)),
        c.requests.to_string(),
        opt(name(&c.close.reason)),
        opt(c.close.by.and_then(|b| name(&b))),
        opt(c.http.keep_alive_advertised.server.and_then(|k| k.timeout)),
    ]
}

fn http_rows(c: &ConnectionReport, out: &mut dyn Write) -> io::Result<()> {
    let (oh, op) = split_endpoint(&c.client);
    let (rh, rp) = split_endpoint(&c.server);
    let uid = uid(c);
    for (i, e) in c.exchanges.iter().enumerate() {
        let Some(rq) = &e.request else { continue };
        let rs = e.response.as_ref();
        let version = rs.map_or(rq.version, |r| r.version);
        let row: Vec<String> = vec![
            time(c.start + e.timing.request_start.unwrap_or(0.0)),
            uid.clone(),
            escape(&oh),
            opt(op),
            escape(&rh),
            opt(rp),
            (i + 1).to_string(),
            escape(&rq.method),
            UNSET.into(),
            escape(&rq.target),
            UNSET.into(),
            escape(version.strip_prefix("HTTP/").unwrap_or(version)),
            UNSET.into(),
            UNSET.into(),
            rq.message.body_bytes.to_string(),
            rs.map_or(0, |r| r.message.body_bytes).to_string(),
            opt(rs.map(|r| r.status)),
            rs.map_or_else(|| UNSET.into(), |r| escape(&r.reason)),
            opt(e.interim.last().map(|i| i.status)),
            UNSET.into(),
            EMPTY.into(),
            UNSET.into(),
            UNSET.into(),
            UNSET.into(),
            UNSET.into(),
            UNSET.into(),
            UNSET.into(),
            UNSET.into(),
            UNSET.into(),
            UNSET.into(),
            if e.persistent { "T" } else { "F" }.into(),
            opt(name(&c.close.reason)),
        ];
        writeln!(out, "{}", row.join("\t"))?;
    }
    Ok(())
}

/// One Zeek log file being written.
struct Log<'w> {
    out: Box<dyn Write + 'w>,
    path: &'static str,
    fields: &'static [(&'static str, &'static str)],
    started: bool,
}

impl Log<'_> {
    fn header(&mut self, open: f64) -> io::Result<()> {
        self.started = true;
        let names: Vec<&str> = self.fields.iter().map(|f| f.0).collect();
        let types: Vec<&str> = self.fields.iter().map(|f| f.1).collect();
        write!(
            self.out,
            "#separator \\x09\n#set_separator\t,\n#empty_field\t{EMPTY}\n#unset_field\t{UNSET}\n#path\t{}\n#open\t{}\n#fields\t{}\n#types\t{}\n",
            self.path,
            stamp(open),
            names.join("\t"),
            types.join("\t")
        )
    }
}

/// Writes conn.log and http.log one connection at a time.
pub struct ZeekRenderer<'w> {
    conn: Log<'w>,
    http: Log<'w>,
    last: f64,
}

impl<'w> ZeekRenderer<'w> {
    /// A renderer writing conn.log to `conn` and http.log to `http`
    /// (`io::sink()` to leave one out).
    pub fn new(conn: Box<dyn Write + 'w>, http: Box<dyn Write + 'w>) -> Self {
        ZeekRenderer {
            conn: Log {
                out: conn,
                path: "conn",
                fields: CONN_FIELDS,
                started: false,
            },
            http: Log {
                out: http,
                path: "http",
                fields: HTTP_FIELDS,
                started: false,
            },
            last: 0.0,
        }
    }
}

impl Render for ZeekRenderer<'_> {
    fn begin(
        &mut self,
        _header: &Header,
        _summary: &Summary,
        _findings: &[crate::report::findings::Finding],
    ) -> io::Result<()> {
        Ok(())
    }

    fn connection(&mut self, c: &ConnectionReport) -> io::Result<()> {
        for log in [&mut self.conn, &mut self.http] {
            if !log.started {
                log.header(c.start)?;
            }
        }
        self.last = self.last.max(c.end);
        writeln!(self.conn.out, "{}", conn_row(c).join("\t"))?;
        http_rows(c, &mut *self.http.out)
    }

    fn end(&mut self) -> io::Result<()> {
        let last = self.last;
        for log in [&mut self.conn, &mut self.http] {
            if !log.started {
                log.header(last)?;
            }
            writeln!(log.out, "#close\t{}", stamp(last))?;
            log.out.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape(""), "(empty)");
        assert_eq!(escape("-"), "\\x2d");
        assert_eq!(escape("a\tb\\c"), "a\\x09b\\x5cc");
        assert_eq!(escape("/ü"), "/\\xc3\\xbc");
        assert_eq!(escape("/index.html?a=1"), "/index.html?a=1");
    }

    #[test]
    fn open_stamp() {
        // date -u -d @1714557600 +%Y-%m-%d-%H-%M-%S
        assert_eq!(stamp(1_714_557_600.9), "2024-05-01-10-00-00");
    }
}
