//! HAR 1.2 (<http://www.softwareishard.com/blog/har-12-spec/>), the format
//! browser devtools and HAR viewers open: one entry per exchange that has a
//! request, in connection order.
//!
//! - `connection` is the connection id; `serverIPAddress` the server's address.
//! - `request.url` is `http://SERVER` + the target (the report does not keep
//!   the Host header); absolute-form targets are used as they are.
//! - `headers` lists only the headers the analysis keeps: `Connection`,
//!   `Keep-Alive`, `Content-Length`, `Transfer-Encoding` (values as parsed:
//!   tokens lower-cased); `headersSize` is -1 (not known).
//! - `timings`: `blocked` and `dns` are -1 (not in a capture); `connect` is
//!   SYN to SYN-ACK for the first exchange of a connection whose handshake
//!   was captured and -1 on a reused connection (as the spec says) or when
//!   the handshake is not in the capture; `ssl` is -1 (no TLS); `send` is
//!   the request's first to last byte, `wait` its last byte to the
//!   response's first, `receive` the response's first to last byte (ms,
//!   0 when a side is missing).
//! - An exchange without a response gets `status` 0, as browsers log
//!   requests that got no answer.
//! - Custom fields: `_requestIndex` (1-based position in the connection),
//!   `_closeReason` (the connection's `close.reason`), `_closeBy`,
//!   `_persistent`, `_responseLostInGap`.
//!
//! Responses that had no request in the capture (a capture started
//! mid-connection) have no HAR entry: HAR has no way to say so.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::report::flat::{name, split_endpoint};
use crate::report::render::Render;
use crate::report::{ConnectionReport, ExchangeReport, Header, MessageReport, Summary};

/// Writes a HAR log one entry at a time.
pub struct HarRenderer<'w> {
    out: &'w mut dyn Write,
    entries: u64,
}

impl<'w> HarRenderer<'w> {
    /// A renderer writing to `out`.
    pub fn new(out: &'w mut dyn Write) -> Self {
        HarRenderer { out, entries: 0 }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of seconds since the epoch.
pub fn iso8601_ms(secs: f64) -> String {
    let ms_total = (secs * 1000.0).round().max(0.0) as i64;
    let (days, ms_of_day) = (
        ms_total.div_euclid(86_400_000),
        ms_total.rem_euclid(86_400_000),
    );
    let (y, m, d) = civil_from_days(days);
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (mi, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn ms(a: Option<f64>, b: Option<f64>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) if b >= a => ((b - a) * 1e6).round() / 1e3,
        _ => 0.0,
    }
}

fn headers(m: &MessageReport) -> Vec<Value> {
    let mut h = Vec::new();
    if !m.connection.is_empty() {
        h.push(json!({"name": "Connection", "value": m.connection.join(", ")}));
    }
    if let Some(k) = m.keep_alive {
        let mut parts = Vec::new();
        if let Some(t) = k.timeout {
            parts.push(format!("timeout={t}"));
        }
        if let Some(x) = k.max {
            parts.push(format!("max={x}"));
        }
        h.push(json!({"name": "Keep-Alive", "value": parts.join(", ")}));
    }
    if let Some(cl) = m.content_length {
        h.push(json!({"name": "Content-Length", "value": cl.to_string()}));
    }
    if let Some(te) = &m.transfer_encoding {
        h.push(json!({"name": "Transfer-Encoding", "value": te}));
    }
    h
}

fn http_version(v: &str) -> String {
    if v.starts_with("HTTP/") {
        v.to_string()
    } else {
        format!("HTTP/{v}")
    }
}

/// The HAR entry of exchange `index` of `c`; `None` without a request.
pub fn entry(c: &ConnectionReport, index: usize, e: &ExchangeReport) -> Option<Value> {
    let rq = e.request.as_ref()?;
    let t = &e.timing;
    let start = c.start + t.request_start.unwrap_or(0.0);
    let connect = match (index, c.handshake.rtt) {
        (0, Some(rtt)) if c.handshake_complete => (rtt * 1e6).round() / 1e3,
        _ => -1.0,
    };
    let send = ms(t.request_start, t.request_end);
    let wait = ms(t.request_end, t.response_start);
    let receive = ms(t.response_start, t.response_end);
    let time = ((send + wait + receive + connect.max(0.0)) * 1e3).round() / 1e3;
    // HTTP/2 streams name their host (`:authority`); HTTP/1 uses the server.
    let host = e.authority.as_deref().unwrap_or(&c.server);
    let scheme = match e.scheme.as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    let url = if rq.target.starts_with("http://") || rq.target.starts_with("https://") {
        rq.target.to_string()
    } else if rq.target.starts_with('/') {
        format!("{scheme}://{host}{}", rq.target)
    } else {
        format!("{scheme}://{host}/{}", rq.target.trim_start_matches('*'))
    };
    let response = match &e.response {
        Some(rs) => json!({
            "status": rs.status,
            "statusText": rs.reason,
            "httpVersion": http_version(rs.version),
            "cookies": [],
            "headers": headers(&rs.message),
            "content": {"size": rs.message.body_bytes, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": rs.message.body_bytes,
        }),
        None => json!({
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        }),
    };
    Some(json!({
        "startedDateTime": iso8601_ms(start),
        "time": time,
        "request": {
            "method": rq.method,
            "url": url,
            "httpVersion": http_version(rq.version),
            "cookies": [],
            "headers": headers(&rq.message),
            "queryString": [],
            "headersSize": -1,
            "bodySize": rq.message.body_bytes,
        },
        "response": response,
        "cache": {},
        "timings": {
            "blocked": -1,
            "dns": -1,
            "connect": connect,
            "ssl": -1,
            "send": send,
            "wait": wait,
            "receive": receive,
        },
        "serverIPAddress": split_endpoint(&c.server).0,
        "connection": c.id.to_string(),
        "_requestIndex": index + 1,
        "_closeReason": name(&c.close.reason),
        "_closeBy": c.close.by.and_then(|b| name(&b)),
        "_persistent": e.persistent,
        "_responseLostInGap": e.response_lost_in_gap,
    }))
}

impl Render for HarRenderer<'_> {
    fn begin(
        &mut self,
        header: &Header,
        _summary: &Summary,
        _findings: &[crate::report::findings::Finding],
    ) -> io::Result<()> {
        let creator = json!({"name": header.tool.name, "version": header.tool.version});
        let files: Vec<&str> = header.inputs.iter().map(|i| i.file.as_str()).collect();
        let comment = format!(
            "from {}; headers: only Connection, Keep-Alive, Content-Length, Transfer-Encoding",
            files.join(", ")
        );
        write!(
            self.out,
            "{{\n  \"log\": {{\n    \"version\": \"1.2\",\n    \"creator\": {},\n    \"comment\": {},\n    \"pages\": [],\n    \"entries\": [",
            creator,
            Value::String(comment)
        )
    }

    fn connection(&mut self, c: &ConnectionReport) -> io::Result<()> {
        for (i, e) in c.exchanges.iter().enumerate() {
            let Some(v) = entry(c, i, e) else { continue };
            self.out.write_all(if self.entries == 0 {
                b"\n      "
            } else {
                b",\n      "
            })?;
            serde_json::to_writer(&mut *self.out, &v).map_err(io::Error::other)?;
            self.entries += 1;
        }
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        if self.entries > 0 {
            self.out.write_all(b"\n    ")?;
        }
        self.out.write_all(b"]\n  }\n}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // date -u -d @1714557600.123 +%FT%T.%3NZ
        assert_eq!(iso8601_ms(1_714_557_600.123), "2024-05-01T10:00:00.123Z");
        assert_eq!(iso8601_ms(0.0), "1970-01-01T00:00:00.000Z");
        // date -u -d @951868799 = 2000-02-29T23:59:59
        assert_eq!(iso8601_ms(951_868_799.999_4), "2000-02-29T23:59:59.999Z");
        assert_eq!(iso8601_ms(951_868_799.999_6), "2000-03-01T00:00:00.000Z");
    }
}
