//! Which connections a run analyses and reports: `--server ADDR[:PORT]`
//! (repeatable), `--port N` (the server's port, repeatable), `--client
//! ADDR` (repeatable), `--from` / `--to` (RFC 3339, or seconds into the
//! capture). Kinds combine with AND, values of one kind with OR. A
//! connection is kept when it overlaps the time window.
//!
//! Roles are only known once a connection is judged, so the decision is
//! made when it concludes; before that, [`Filter::may_match_segment`] drops
//! segments that cannot belong to a matching connection whichever end turns
//! out to be the server (a cheap check on addresses and ports only).

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::types::Timestamp;

/// `ADDR` or `ADDR:PORT` (`[v6]:PORT` for IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Address.
    pub ip: IpAddr,
    /// Port, if given.
    pub port: Option<u16>,
}

impl Endpoint {
    /// Parses `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80`.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(Endpoint {
                ip: sa.ip(),
                port: Some(sa.port()),
            });
        }
        let bare = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        bare.parse::<IpAddr>()
            .map(|ip| Endpoint { ip, port: None })
            .map_err(|_| format!("`{s}` is not ADDR or ADDR:PORT (IPv6: [ADDR]:PORT)"))
    }

    fn matches(&self, a: SocketAddr) -> bool {
        self.ip == a.ip() && self.port.is_none_or(|p| p == a.port())
    }
}

/// A time bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeBound {
    /// An absolute time (RFC 3339 given).
    At(Timestamp),
    /// Seconds after the capture's first frame.
    IntoCapture(f64),
}

impl TimeBound {
    /// Parses `2024-05-01T10:00:00Z`, `2024-05-01T12:00:00.5+02:00` or a
    /// number of seconds into the capture (`30`, `1.5`).
    pub fn parse(s: &str) -> Result<TimeBound, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<f64>() {
            if n.is_finite() && n >= 0.0 {
                return Ok(TimeBound::IntoCapture(n));
            }
            return Err(format!("`{s}`: seconds into the capture must be >= 0"));
        }
        rfc3339(s).map(TimeBound::At).ok_or_else(|| {
            format!("`{s}` is neither RFC 3339 (2024-05-01T10:00:00Z) nor seconds into the capture")
        })
    }

    fn resolve(self, first: Timestamp) -> Timestamp {
        match self {
            TimeBound::At(t) => t,
            TimeBound::IntoCapture(s) => {
                Timestamp(first.0.saturating_add((s * 1e9).round() as u64))
            }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 date-time (`T` or a space between date and time, `Z` or an
/// offset) to nanoseconds since the epoch; `None` if malformed or before 1970.
fn rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ns = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = s.get(start..i.min(start + 9))?;
        frac_ns = digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32);
    }
    let offset_s = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let v = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    let ns = secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)?;
    u64::try_from(ns).ok().map(Timestamp)
}

/// The connection filter of a run. The default keeps everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// `--server`: the connection's server is one of these.
    pub servers: Vec<Endpoint>,
    /// `--port`: the server's port is one of these.
    pub ports: Vec<u16>,
    /// `--client`: the client's address is one of these.
    pub clients: Vec<IpAddr>,
    /// `--from`: the connection's last packet is at or after this.
    pub from: Option<TimeBound>,
    /// `--to`: the connection's first packet is at or before this.
    pub to: Option<TimeBound>,
}

impl Filter {
    /// Whether this filter keeps everything.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// A short description for the report (`server 127.0.0.1:80, port 80`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let ep = |e: &Endpoint| match e.port {
            Some(p) => SocketAddr::new(e.ip, p).to_string(),
            None => e.ip.to_string(),
        };
        if !self.servers.is_empty() {
            let v: Vec<String> = self.servers.iter().map(ep).collect();
            parts.push(format!("server {}", v.join(" or ")));
        }
        if !self.ports.is_empty() {
            let v: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            parts.push(format!("port {}", v.join(" or ")));
        }
        if !self.clients.is_empty() {
            let v: Vec<String> = self.clients.iter().map(IpAddr::to_string).collect();
            parts.push(format!("client {}", v.join(" or ")));
        }
        let tb = |t: &TimeBound| match t {
            TimeBound::At(ts) => format!("{ts}"),
            TimeBound::IntoCapture(s) => format!("{s} s into the capture"),
        };
        if let Some(f) = &self.from {
            parts.push(format!("from {}", tb(f)));
        }
        if let Some(t) = &self.to {
            parts.push(format!("to {}", tb(t)));
        }
        parts.join(", ")
    }

    /// Whether a segment between `a` and `b` can belong to a connection
    /// this filter keeps, whichever of the two is the server. Time bounds
    /// are not checked here (a connection overlapping the window has
    /// packets outside it).
    pub fn may_match_segment(&self, a: SocketAddr, b: SocketAddr) -> bool {
        self.may_match_as(a, b) || self.may_match_as(b, a)
    }

    fn may_match_as(&self, client: SocketAddr, server: SocketAddr) -> bool {
        (self.servers.is_empty() || self.servers.iter().any(|e| e.matches(server)))
            && (self.ports.is_empty() || self.ports.contains(&server.port()))
            && (self.clients.is_empty() || self.clients.contains(&client.ip()))
    }

    /// Whether a concluded connection is kept. `capture_start` is the
    /// first frame's time (for bounds given in seconds into the capture).
    pub fn keeps(
        &self,
        client: SocketAddr,
        server: SocketAddr,
        first: Timestamp,
        last: Timestamp,
        capture_start: Timestamp,
    ) -> bool {
        self.may_match_as(client, server)
            && self.from.is_none_or(|f| last >= f.resolve(capture_start))
            && self.to.is_none_or(|t| first <= t.resolve(capture_start))
    }
}

/// What a filter left out of the report (`summary.filtered_out`, present
/// only when a filter was given).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FilteredOut {
    /// The filter, as given.
    pub filter: String,
    /// Connections analysed and then left out, plus flows dropped before
    /// analysis by the address/port pre-check (counted once per flow seen).
    pub connections: u64,
    /// TCP frames left out: those dropped by the pre-check and the packets
    /// of connections left out when they concluded.
    pub frames: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("127.0.0.1:80").unwrap(),
            Endpoint {
                ip: "127.0.0.1".parse().unwrap(),
                port: Some(80)
            }
        );
        assert_eq!(Endpoint::parse("::1").unwrap().port, None);
        assert_eq!(Endpoint::parse("[::1]:8080").unwrap().port, Some(8080));
        assert_eq!(Endpoint::parse("[::1]").unwrap().port, None);
        assert!(Endpoint::parse("example.com").is_err());
        assert!(Endpoint::parse("1.2.3.4:99999").is_err());
    }

    #[test]
    fn rfc3339_known_instants() {
        // date -u -d '2024-05-01T10:00:00Z' +%s = 1714557600
        assert_eq!(
            rfc3339("2024-05-01T10:00:00Z"),
            Some(Timestamp(1_714_557_600_000_000_000))
        );
        assert_eq!(
            rfc3339("2024-05-01T12:00:00.25+02:00"),
            Some(Timestamp(1_714_557_600_250_000_000))
        );
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(Timestamp(0)));
        // date -u -d '2000-02-29T23:59:59Z' +%s = 951868799
        assert_eq!(
            rfc3339("2000-02-29 23:59:59z"),
            Some(Timestamp(951_868_799_000_000_000))
        );
        for bad in [
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-05-01T10:00:00",
            "1969-12-31T23:59:59Z",
            "2024-05-01T10:00:00.Z",
        ] {
            assert_eq!(rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn time_bounds() {
        assert_eq!(
            TimeBound::parse("1.5").unwrap(),
            TimeBound::IntoCapture(1.5)
        );
        assert!(TimeBound::parse("-1").is_err());
        assert!(TimeBound::parse("yesterday").is_err());
    }

    #[test]
    fn kinds_and_and_values_or() {
        let f = Filter {
            servers: vec![
                Endpoint::parse("10.0.0.1:80").unwrap(),
                Endpoint::parse("10.0.0.2").unwrap(),
            ],
            clients: vec!["10.0.0.9".parse().unwrap()],
            ..Filter::default()
        };
        let t = Timestamp(0);
        assert!(f.keeps(sa("10.0.0.9:5000"), sa("10.0.0.1:80"), t, t, t));
        assert!(f.keeps(sa("10.0.0.9:5000"), sa("10.0.0.2:443"), t, t, t));
        assert!(!f.keeps(sa("10.0.0.9:5000"), sa("10.0.0.1:81"), t, t, t));
        assert!(!f.keeps(sa("10.0.0.8:5000"), sa("10.0.0.1:80"), t, t, t));
        // the pre-check does not know the roles yet
        assert!(f.may_match_segment(sa("10.0.0.1:80"), sa("10.0.0.9:5000")));
        assert!(!f.may_match_segment(sa("10.0.0.3:80"), sa("10.0.0.9:5000")));
    }

    #[test]
    fn time_window_overlap() {
        let f = Filter {
            from: Some(TimeBound::IntoCapture(10.0)),
            to: Some(TimeBound::IntoCapture(20.0)),
            ..Filter::default()
        };
        let s = |x: u64| Timestamp(x * 1_000_000_000);
        let (c, v) = (sa("1.1.1.1:1"), sa("2.2.2.2:2"));
        assert!(f.keeps(c, v, s(105), s(115), s(100)));
        assert!(f.keeps(c, v, s(95), s(125), s(100)), "spans the window");
        assert!(!f.keeps(c, v, s(100), s(109), s(100)), "ends before");
        assert!(!f.keeps(c, v, s(121), s(130), s(100)), "starts after");
    }
}
