//! `httpreuse diff BEFORE AFTER`: the same traffic before and after a
//! change (a new `keepalive_timeout`, a client pool setting), side by side.
//!
//! For the whole capture and for each server: connections, handshakes,
//! requests, requests per handshake, reused connections and their share,
//! requests per connection (min, median, max, histogram), close reasons by
//! the side that closed, anomalies, idle times (before the close, between
//! requests) and the keep-alive timeouts servers advertised, each with
//! `delta = after - before`, and a one-line verdict. The JSON form is
//! `{before, after, delta, verdict}`; `before`/`after` carry `by_server`
//! lists, so `--fail-if` paths read `delta.requests_per_handshake` or
//! `after.server[127.0.0.1:80].close_reasons.idle.server` (see
//! [`crate::expr`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::{Map, Value, json};

use crate::expr::{self, Expr};

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        ((a as f64 / b as f64) * 1000.0).round() / 1000.0
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some(round6((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0)),
    }
}

fn spread(mut v: Vec<f64>) -> Value {
    let min = v.iter().copied().reduce(f64::min);
    let max = v.iter().copied().reduce(f64::max);
    json!({"min": min, "median": median(&mut v), "max": max})
}

fn u(c: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(c, |v, k| v.get(k))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn f(c: &Value, path: &[&str]) -> Option<f64> {
    path.iter()
        .try_fold(c, |v, k| v.get(k))
        .and_then(Value::as_f64)
}

fn s<'a>(c: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(c, |v, k| v.get(k))
        .and_then(Value::as_str)
}

/// The figures of a set of connections (JSON report objects).
pub fn figures(conns: &[&Value]) -> Value {
    let n = conns.len() as u64;
    let handshakes = conns
        .iter()
        .filter(|c| c.get("handshake_complete").and_then(Value::as_bool) == Some(true))
        .count() as u64;
    let requests: u64 = conns.iter().map(|c| u(c, &["requests"])).sum();
    let responses: u64 = conns.iter().map(|c| u(c, &["responses"])).sum();
    let reused = conns.iter().filter(|c| u(c, &["requests"]) > 1).count() as u64;
    let with_requests = conns.iter().filter(|c| u(c, &["requests"]) > 0).count() as u64;
    let mut hist: BTreeMap<u64, u64> = BTreeMap::new();
    let mut per: Vec<f64> = Vec::new();
    for c in conns {
        let r = u(c, &["requests"]);
        *hist.entry(r).or_insert(0) += 1;
        if r > 0 {
            per.push(r as f64);
        }
    }
    let mut reasons: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut anomalies: BTreeMap<String, u64> = BTreeMap::new();
    let (mut idle_close, mut between, mut timeouts) = (Vec::new(), Vec::new(), Vec::new());
    for c in conns {
        if let Some(r) = s(c, &["close", "reason"]) {
            let e = reasons.entry(r.to_string()).or_default();
            e[0] += 1;
            match s(c, &["close", "by"]) {
                Some("client") => e[1] += 1,
                Some("server") => e[2] += 1,
                _ => {}
            }
        }
        for a in c
            .get("anomalies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = a.get("kind").and_then(Value::as_str) {
                *anomalies.entry(k.to_string()).or_insert(0) += 1;
            }
        }
        if let Some(x) = f(c, &["close", "idle_seconds"]) {
            idle_close.push(x);
        }
        if let Some(x) = f(c, &["idle", "between_requests_max"]) {
            between.push(x);
        }
        if let Some(x) = f(c, &["http", "keep_alive_advertised", "server", "timeout"]) {
            timeouts.push(x);
        }
    }
    let per_min = per.iter().copied().reduce(f64::min).map_or(0, |x| x as u64);
    let per_max = per.iter().copied().reduce(f64::max).map_or(0, |x| x as u64);
    let rpc = spread(per);
    let histogram: Map<String, Value> = hist
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect();
    let close_reasons: Map<String, Value> = reasons
        .into_iter()
        .map(|(k, [t, c, s])| (k, json!({"total": t, "client": c, "server": s})))
        .collect();
    let anomalies: Map<String, Value> = anomalies
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    json!({
        "connections": n,
        "handshakes_completed": handshakes,
        "requests": requests,
        "responses": responses,
        "requests_per_handshake": ratio(requests, handshakes),
        "reused_connections": reused,
        "reused_share": ratio(reused, with_requests),
        "requests_per_connection": {
            "min": per_min, "median": rpc["median"], "max": per_max,
            "histogram": histogram,
        },
        "close_reasons": close_reasons,
        "anomalies": anomalies,
        "idle": {
            "before_close": spread(idle_close),
            "between_requests_max": between.iter().copied().reduce(f64::max),
        },
        "keep_alive_timeout_advertised": {
            "min": timeouts.iter().copied().reduce(f64::min),
            "max": timeouts.iter().copied().reduce(f64::max),
        },
    })
}

/// Figures of a whole report, with `by_server` and `inputs`.
pub fn report_figures(report: &Value) -> Value {
    let conns: Vec<&Value> = report
        .get("connections")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut fig = figures(&conns);
    let mut servers: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for c in &conns {
        servers
            .entry(s(c, &["server"]).unwrap_or("?"))
            .or_default()
            .push(c);
    }
    let by_server: Vec<Value> = servers
        .into_iter()
        .map(|(name, cs)| {
            let mut v = figures(&cs);
            if let Some(o) = v.as_object_mut() {
                o.insert("server".into(), Value::from(name));
            }
            v
        })
        .collect();
    let inputs: Vec<Value> = report
        .get("inputs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|i| i.get("file").cloned()).collect())
        .unwrap_or_default();
    if let Some(o) = fig.as_object_mut() {
        o.insert("inputs".into(), Value::from(inputs));
        o.insert("by_server".into(), Value::from(by_server));
    }
    fig
}

/// `after - before` for every number in either (absent = 0; a null on
/// either side gives null); strings, booleans and lists other than
/// `by_server` are left out.
pub fn delta(before: &Value, after: &Value) -> Value {
    delta_of(before, after).unwrap_or_else(|| Value::Object(Map::new()))
}

fn delta_of(before: &Value, after: &Value) -> Option<Value> {
    match (before, after) {
        (Value::Number(_) | Value::Null, Value::Number(_) | Value::Null) => {
            Some(match (before.as_f64(), after.as_f64()) {
                (Some(b), Some(a)) => json!(round6(a - b)),
                _ => Value::Null,
            })
        }
        (Value::Object(b), Value::Object(a)) => {
            let mut out = Map::new();
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                if k == "by_server" {
                    let null = Value::Null;
                    let (x, y) = (b.get(k).unwrap_or(&null), a.get(k).unwrap_or(&null));
                    out.insert(k.clone(), server_deltas(x, y));
                    continue;
                }
                let d = match (b.get(k), a.get(k)) {
                    (Some(x), Some(y)) => delta_of(x, y),
                    (Some(x), None) => delta_of(x, &zero_like(x)),
                    (None, Some(y)) => delta_of(&zero_like(y), y),
                    (None, None) => None,
                };
                if let Some(d) = d {
                    out.insert(k.clone(), d);
                }
            }
            Some(Value::Object(out))
        }
        _ => None,
    }
}

fn zero_like(v: &Value) -> Value {
    match v {
        Value::Number(_) => json!(0),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), zero_like(v))).collect())
        }
        other => other.clone(),
    }
}

fn server_deltas(before: &Value, after: &Value) -> Value {
    let by_name = |v: &Value| -> BTreeMap<String, Value> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| Some((s.get("server")?.as_str()?.to_string(), s.clone())))
            .collect()
    };
    let (b, a) = (by_name(before), by_name(after));
    let names: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    Value::from(
        names
            .into_iter()
            .map(|n| {
                let empty = figures(&[]);
                let mut d = delta(b.get(n).unwrap_or(&empty), a.get(n).unwrap_or(&empty));
                if let Some(o) = d.as_object_mut() {
                    o.insert("server".into(), Value::from(n.as_str()));
                }
                d
            })
            .collect::<Vec<_>>(),
    )
}

/// The whole diff of two reports: `{before, after, delta, verdict}`.
pub fn diff(before: &Value, after: &Value) -> Value {
    let (b, a) = (report_figures(before), report_figures(after));
    let d = delta(&b, &a);
    let v = verdict(&b, &a);
    json!({"before": b, "after": a, "delta": d, "verdict": v})
}

fn reason_counts(fig: &Value) -> BTreeMap<(String, String), u64> {
    let mut m = BTreeMap::new();
    for (reason, c) in fig
        .get("close_reasons")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for side in ["client", "server"] {
            let n = u(c, &[side]);
            if n > 0 {
                m.insert((side.to_string(), reason.clone()), n);
            }
        }
        let unknown = u(c, &["total"]).saturating_sub(u(c, &["client"]) + u(c, &["server"]));
        if unknown > 0 {
            m.insert(("no side".to_string(), reason.clone()), unknown);
        }
    }
    m
}

/// One line: how reuse changed, which close reasons and anomalies went
/// away or appeared.
pub fn verdict(b: &Value, a: &Value) -> String {
    let mut parts = Vec::new();
    let rph = |v: &Value| f(v, &["requests_per_handshake"]).unwrap_or(0.0);
    let (rb, ra) = (rph(b), rph(a));
    let trend = if ra > rb {
        "up"
    } else if ra < rb {
        "down"
    } else {
        "unchanged"
    };
    parts.push(format!(
        "reuse {} -> {} requests per handshake ({trend})",
        num(rb),
        num(ra)
    ));
    let (cb, ca) = (u(b, &["connections"]), u(a, &["connections"]));
    if cb != ca {
        parts.push(format!("connections {cb} -> {ca}"));
    }
    let (xb, xa) = (reason_counts(b), reason_counts(a));
    let keys: BTreeSet<&(String, String)> = xb.keys().chain(xa.keys()).collect();
    let mut new = Vec::new();
    for k in keys {
        let (nb, na) = (
            xb.get(k).copied().unwrap_or(0),
            xa.get(k).copied().unwrap_or(0),
        );
        let (side, reason) = k;
        if nb > 0 && na == 0 {
            parts.push(format!("{side} {reason} closes gone"));
        } else if nb == 0 && na > 0 {
            new.push(format!("new: {side} {reason} closes ({na})"));
        }
    }
    parts.extend(new);
    let an = |v: &Value| -> BTreeMap<String, u64> {
        v.get("anomalies")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, n)| Some((k.clone(), n.as_u64()?)))
            .collect()
    };
    let (ab, aa) = (an(b), an(a));
    let kinds: BTreeSet<&String> = ab.keys().chain(aa.keys()).collect();
    for k in kinds {
        let (nb, na) = (
            ab.get(k).copied().unwrap_or(0),
            aa.get(k).copied().unwrap_or(0),
        );
        if nb > 0 && na == 0 {
            parts.push(format!("{k} gone"));
        } else if na > nb {
            parts.push(format!("{k} {nb} -> {na}"));
        }
    }
    parts.join("; ")
}

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Evaluates `--fail-if` expressions against a diff: the ones that hold.
pub fn failing<'a>(
    exprs: &'a [Expr],
    d: &Value,
) -> Result<Vec<(&'a Expr, String)>, expr::ExprError> {
    let mut out = Vec::new();
    for e in exprs {
        let o = expr::eval(e, d)?;
        if o.holds {
            out.push((e, o.actual));
        }
    }
    Ok(out)
}

/// Options of the text form.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// ANSI colours.
    pub color: bool,
}

struct Table<'a> {
    out: &'a mut dyn Write,
    color: bool,
}

impl Table<'_> {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn row(
        &mut self,
        indent: usize,
        label: &str,
        b: String,
        a: String,
        d: String,
    ) -> io::Result<()> {
        let label = format!("{}{label}", " ".repeat(indent));
        let dcol = format!("{d:>14}");
        let dcol = if d.is_empty() || d == "0" || d == "+0" {
            self.paint("2", &dcol)
        } else {
            self.paint("33", &dcol)
        };
        let line = format!("{label:<34}{b:>15}{a:>15}{dcol}");
        writeln!(self.out, "{}", line.trim_end())
    }
}

fn opt_num(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(x) => num(x),
        None => "-".into(),
    }
}

fn signed(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(x) if x > 0.0 => format!("+{}", num(x)),
        Some(x) => num(x),
        None => String::new(),
    }
}

fn opt_secs(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(x) => crate::types::human_secs(x),
        None => "-".into(),
    }
}

fn signed_secs(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(x) if x > 0.0 => format!("+{}", crate::types::human_secs(x)),
        Some(x) if x < 0.0 => format!("-{}", crate::types::human_secs(-x)),
        Some(_) => "0".into(),
        None => String::new(),
    }
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

fn hist_text(v: &Value) -> String {
    let Some(h) = at(v, "requests_per_connection.histogram").and_then(Value::as_object) else {
        return "-".into();
    };
    let mut items: Vec<(u64, u64)> = h
        .iter()
        .filter_map(|(k, n)| Some((k.parse().ok()?, n.as_u64()?)))
        .collect();
    items.sort();
    if items.is_empty() {
        return "-".into();
    }
    items
        .iter()
        .map(|(k, n)| format!("{k}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn block(t: &mut Table<'_>, indent: usize, b: &Value, a: &Value, d: &Value) -> io::Result<()> {
    for (label, path) in [
        ("connections", "connections"),
        ("handshakes", "handshakes_completed"),
        ("requests", "requests"),
        ("responses", "responses"),
        ("requests per handshake", "requests_per_handshake"),
        ("reused connections", "reused_connections"),
        ("reused share", "reused_share"),
        ("requests/conn min", "requests_per_connection.min"),
        ("requests/conn median", "requests_per_connection.median"),
        ("requests/conn max", "requests_per_connection.max"),
    ] {
        t.row(
            indent,
            label,
            opt_num(at(b, path)),
            opt_num(at(a, path)),
            signed(at(d, path)),
        )?;
    }
    let (hb, ha) = (hist_text(b), hist_text(a));
    if hb.len() <= 14 && ha.len() <= 14 {
        t.row(indent, "histogram (reqs:conns)", hb, ha, String::new())?;
    } else {
        writeln!(
            t.out,
            "{}histogram (requests:connections)",
            " ".repeat(indent)
        )?;
        writeln!(t.out, "{}  before {hb}", " ".repeat(indent))?;
        writeln!(t.out, "{}  after  {ha}", " ".repeat(indent))?;
    }
    let (xb, xa) = (reason_counts(b), reason_counts(a));
    let keys: BTreeSet<&(String, String)> = xb.keys().chain(xa.keys()).collect();
    if keys.is_empty() {
        t.row(
            indent,
            "close reasons",
            "none".into(),
            "none".into(),
            String::new(),
        )?;
    }
    for k in keys {
        let (nb, na) = (
            xb.get(k).copied().unwrap_or(0),
            xa.get(k).copied().unwrap_or(0),
        );
        let d = na as i64 - nb as i64;
        t.row(
            indent,
            &format!("close {} by {}", k.1, k.0),
            nb.to_string(),
            na.to_string(),
            if d > 0 {
                format!("+{d}")
            } else {
                d.to_string()
            },
        )?;
    }
    let an = |v: &Value| -> BTreeMap<String, u64> {
        v.get("anomalies")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, n)| Some((k.clone(), n.as_u64()?)))
            .collect()
    };
    let (ab, aa) = (an(b), an(a));
    let kinds: BTreeSet<&String> = ab.keys().chain(aa.keys()).collect();
    if kinds.is_empty() {
        t.row(
            indent,
            "anomalies",
            "none".into(),
            "none".into(),
            String::new(),
        )?;
    }
    for k in kinds {
        let (nb, na) = (
            ab.get(k).copied().unwrap_or(0),
            aa.get(k).copied().unwrap_or(0),
        );
        let d = na as i64 - nb as i64;
        let label: String = format!("! {k}").chars().take(33).collect();
        t.row(
            indent,
            &label,
            nb.to_string(),
            na.to_string(),
            if d > 0 {
                format!("+{d}")
            } else {
                d.to_string()
            },
        )?;
    }
    for (label, path) in [
        ("idle before close (median)", "idle.before_close.median"),
        ("idle before close (max)", "idle.before_close.max"),
        ("idle between requests (max)", "idle.between_requests_max"),
    ] {
        t.row(
            indent,
            label,
            opt_secs(at(b, path)),
            opt_secs(at(a, path)),
            signed_secs(at(d, path)),
        )?;
    }
    let tmo = |v: &Value| match (
        at(v, "keep_alive_timeout_advertised.min").and_then(Value::as_f64),
        at(v, "keep_alive_timeout_advertised.max").and_then(Value::as_f64),
    ) {
        (Some(lo), Some(hi)) if lo == hi => format!("{} s", num(lo)),
        (Some(lo), Some(hi)) => format!("{}-{} s", num(lo), num(hi)),
        _ => "-".into(),
    };
    t.row(
        indent,
        "advertised keep-alive timeout",
        tmo(b),
        tmo(a),
        String::new(),
    )
}

/// Writes the text form (80 columns).
pub fn write_text(d: &Value, opts: &TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let mut t = Table {
        out,
        color: opts.color,
    };
    let null = Value::Null;
    let (b, a, dl) = (
        d.get("before").unwrap_or(&null),
        d.get("after").unwrap_or(&null),
        d.get("delta").unwrap_or(&null),
    );
    let files = |v: &Value| {
        v.get("inputs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let title = t.paint("1", "httpreuse diff");
    writeln!(t.out, "{title}")?;
    writeln!(t.out, "  before  {}", files(b))?;
    writeln!(t.out, "  after   {}", files(a))?;
    writeln!(t.out)?;
    let head = format!("{:<34}{:>15}{:>15}{:>14}", "", "before", "after", "delta");
    let head = t.paint("1", &head);
    writeln!(t.out, "{head}")?;
    block(&mut t, 2, b, a, dl)?;
    let servers = |v: &Value| -> BTreeMap<String, Value> {
        v.get("by_server")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| Some((s.get("server")?.as_str()?.to_string(), s.clone())))
            .collect()
    };
    let (sb, sa, sd) = (servers(b), servers(a), servers(dl));
    let names: BTreeSet<&String> = sb.keys().chain(sa.keys()).collect();
    if names.len() > 1 {
        writeln!(t.out)?;
        let h = t.paint("1", "Servers");
        writeln!(t.out, "{h}")?;
        let empty = figures(&[]);
        for n in names {
            let nb = sb.get(n).unwrap_or(&empty);
            let na = sa.get(n).unwrap_or(&empty);
            let nd = sd.get(n).unwrap_or(&null);
            writeln!(t.out, "  {}", t.paint("36", n))?;
            block(&mut t, 4, nb, na, nd)?;
            writeln!(t.out, "    {}", verdict(nb, na))?;
        }
    }
    writeln!(t.out)?;
    let v = d.get("verdict").and_then(Value::as_str).unwrap_or_default();
    let label = t.paint("1", "Verdict:");
    // wrap at 80 columns between verdict parts
    let mut line = format!("{label} ");
    let mut width = "Verdict: ".len();
    for (i, part) in v.split("; ").enumerate() {
        let piece = if i == 0 {
            part.to_string()
        } else {
            format!("; {part}")
        };
        if width + piece.len() > 80 && i > 0 {
            writeln!(t.out, "{};", line.trim_end())?;
            line = format!("  {part}");
            width = 2 + part.len();
        } else {
            width += piece.len();
            line.push_str(&piece);
        }
    }
    writeln!(t.out, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(server: &str, requests: u64, reason: &str, by: &str) -> Value {
        json!({"server": server, "requests": requests, "responses": requests,
               "handshake_complete": true, "close": {"reason": reason, "by": by},
               "anomalies": []})
    }

    #[test]
    fn figures_and_delta() {
        let before = json!({"connections": [
            conn("s:1", 1, "connection_close", "server"),
            conn("s:1", 1, "connection_close", "server"),
        ]});
        let after = json!({"connections": [conn("s:1", 2, "idle", "client")]});
        let d = diff(&before, &after);
        assert_eq!(d["before"]["requests_per_handshake"], json!(1.0));
        assert_eq!(d["after"]["requests_per_handshake"], json!(2.0));
        assert_eq!(d["delta"]["requests_per_handshake"], json!(1.0));
        assert_eq!(d["delta"]["connections"], json!(-1.0));
        assert_eq!(
            d["delta"]["close_reasons"]["connection_close"]["server"],
            json!(-2.0)
        );
        assert_eq!(d["delta"]["close_reasons"]["idle"]["client"], json!(1.0));
        assert_eq!(d["delta"]["by_server"][0]["server"], json!("s:1"));
        let v = d["verdict"].as_str().unwrap();
        assert_eq!(
            v,
            "reuse 1 -> 2 requests per handshake (up); connections 2 -> 1; \
             server connection_close closes gone; new: client idle closes (1)"
        );
    }

    #[test]
    fn fail_if_over_delta() {
        let before = json!({"connections": [conn("s:1", 2, "idle", "client")]});
        let after = json!({"connections": [conn("s:1", 1, "idle", "client")]});
        let d = diff(&before, &after);
        let e = vec![expr::parse("delta.requests_per_handshake < 0").unwrap()];
        assert_eq!(failing(&e, &d).unwrap().len(), 1);
        let e = vec![expr::parse("after.server[s:1].requests >= 2").unwrap()];
        assert!(failing(&e, &d).unwrap().is_empty());
        let e = vec![expr::parse("delta.nonsense < 0").unwrap()];
        assert!(failing(&e, &d).is_err());
    }

    #[test]
    fn text_fits_80_columns() {
        let before =
            json!({"connections": [conn("127.0.0.1:18150", 1, "connection_close", "server")]});
        let after = json!({"connections": [conn("127.0.0.1:18150", 5, "idle", "client")]});
        let mut out = Vec::new();
        write_text(&diff(&before, &after), &TextOptions::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for l in text.lines() {
            assert!(l.chars().count() <= 80, "{l:?}");
        }
        assert!(text.contains("close connection_close by server"), "{text}");
    }
}
