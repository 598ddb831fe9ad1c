//! Assertions over a JSON report: `PATH OP VALUE`.
//!
//! ```text
//! expr   = path ws* op ws* value
//! path   = step ("." step)*
//! step   = name | name "[" key "]"       server[127.0.0.1:8080] picks one server
//! op     = "==" | "!=" | "<" | "<=" | ">" | ">="
//! value  = number | "true" | "false" | "null" | '"' chars '"' | bare-word
//! ```
//!
//! `PATH` is a dotted path into an object (for `httpreuse check`, the
//! report's `summary`; for `httpreuse diff --fail-if`, the diff's `before`,
//! `after` and `delta`). `server[ADDR]` steps into the entry of `by_server`
//! whose `server` is `ADDR`. Counts keyed by a closed vocabulary are 0 when
//! absent: `close_reasons.<reason>.{total,client,server}` for every close
//! reason, `anomalies.<kind>` for every anomaly kind,
//! `requests_per_connection.histogram.<n>`, `frames_skipped.<reason>`. Any
//! other name that is not in the report is an error, never a silent pass.
//!
//! Numbers compare as numbers; strings, booleans and `null` only with `==`
//! and `!=`.

use std::fmt;

use serde_json::Value;

use crate::anomaly::AnomalyKind;
use crate::verdict::CloseReason;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// One step of a path: a field name, optionally with a `[key]` selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Field name.
    pub name: String,
    /// The `[...]` part, if any.
    pub key: Option<String>,
}

/// The right-hand side of an assertion.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A number.
    Number(f64),
    /// A string (quoted or a bare word).
    String(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Number(n) => write!(f, "{n}"),
            Literal::String(s) => write!(f, "{s:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

/// A parsed assertion.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// The text it was parsed from (trimmed).
    pub text: String,
    /// The path.
    pub path: Vec<Step>,
    /// The operator.
    pub op: Op,
    /// The value compared with.
    pub value: Literal,
}

/// Why an expression could not be parsed or evaluated (exit 2 in the CLI).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The text is not `PATH OP VALUE`.
    #[error("bad expression `{text}`: {why}")]
    Syntax {
        /// The expression.
        text: String,
        /// What is wrong.
        why: String,
    },
    /// The path names nothing in the report.
    #[error("`{text}`: unknown path `{path}`: {why}")]
    UnknownPath {
        /// The expression.
        text: String,
        /// The path up to the step that failed.
        path: String,
        /// What was there instead.
        why: String,
    },
    /// The value at the path cannot be compared this way.
    #[error("`{text}`: {why}")]
    Type {
        /// The expression.
        text: String,
        /// What is wrong.
        why: String,
    },
}

/// What evaluating an assertion gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Whether the comparison holds.
    pub holds: bool,
    /// The value found at the path (JSON text).
    pub actual: String,
}

fn syntax(text: &str, why: impl Into<String>) -> ExprError {
    ExprError::Syntax {
        text: text.to_string(),
        why: why.into(),
    }
}

/// Parses `PATH OP VALUE`.
pub fn parse(input: &str) -> Result<Expr, ExprError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(syntax(text, "empty"));
    }
    // The path ends at the first operator character outside brackets.
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut end = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'=' | b'!' | b'<' | b'>' if depth == 0 => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let Some(op_at) = end else {
        return Err(syntax(
            text,
            "no operator (one of == != < <= > >=); the form is PATH OP VALUE",
        ));
    };
    let (path_text, rest) = text.split_at(op_at);
    let path = parse_path(text, path_text.trim())?;
    let (op, rest) = if let Some(r) = rest.strip_prefix("==") {
        (Op::Eq, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (Op::Ne, r)
    } else if let Some(r) = rest.strip_prefix("<=") {
        (Op::Le, r)
    } else if let Some(r) = rest.strip_prefix(">=") {
        (Op::Ge, r)
    } else if let Some(r) = rest.strip_prefix('<') {
        (Op::Lt, r)
    } else if let Some(r) = rest.strip_prefix('>') {
        (Op::Gt, r)
    } else {
        return Err(syntax(
            text,
            "unknown operator (use == != < <= > >=; a single = is not one)",
        ));
    };
    let value = parse_value(text, rest.trim())?;
    Ok(Expr {
        text: text.to_string(),
        path,
        op,
        value,
    })
}

fn parse_path(text: &str, p: &str) -> Result<Vec<Step>, ExprError> {
    if p.is_empty() {
        return Err(syntax(text, "no path before the operator"));
    }
    let mut steps = Vec::new();
    let mut rest = p;
    loop {
        // name up to '.', '[' or the end
        let stop = rest.find(['.', '[']).unwrap_or(rest.len());
        let (name, after) = rest.split_at(stop);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(syntax(text, format!("bad path step `{name}` in `{p}`")));
        }
        let mut step = Step {
            name: name.to_string(),
            key: None,
        };
        rest = after;
        if let Some(r) = rest.strip_prefix('[') {
            let Some(close) = r.find(']') else {
                return Err(syntax(text, format!("unclosed `[` in `{p}`")));
            };
            let (key, r) = r.split_at(close);
            step.key = Some(key.trim().to_string());
            rest = r.get(1..).unwrap_or_default();
        }
        steps.push(step);
        if rest.is_empty() {
            return Ok(steps);
        }
        match rest.strip_prefix('.') {
            Some(r) if !r.is_empty() => rest = r,
            _ => return Err(syntax(text, format!("bad path `{p}`"))),
        }
    }
}

fn parse_value(text: &str, v: &str) -> Result<Literal, ExprError> {
    if v.is_empty() {
        return Err(syntax(text, "no value after the operator"));
    }
    if let Some(inner) = v.strip_prefix('"') {
        return match inner.strip_suffix('"') {
            Some(s) if !s.contains('"') => Ok(Literal::String(s.to_string())),
            _ => Err(syntax(text, format!("bad string {v}"))),
        };
    }
    match v {
        "true" => return Ok(Literal::Bool(true)),
        "false" => return Ok(Literal::Bool(false)),
        "null" => return Ok(Literal::Null),
        _ => {}
    }
    if let Ok(n) = v.parse::<f64>()
        && n.is_finite()
    {
        return Ok(Literal::Number(n));
    }
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
    {
        return Ok(Literal::String(v.to_string()));
    }
    Err(syntax(
        text,
        format!("bad value `{v}` (a number, true, false, null, a word or a \"string\")"),
    ))
}

/// Maps whose absent keys read as zero counts, by field name: the closed
/// vocabulary of their keys (`None`: any number) and the zero value.
fn zero_map(name: &str, key: &str) -> Option<Value> {
    let zero_counts = || serde_json::json!({"total": 0, "client": 0, "server": 0});
    match name {
        "close_reasons" => CloseReason::from_name(key).map(|_| zero_counts()),
        "anomalies" => AnomalyKind::from_name(key).map(|_| Value::from(0)),
        "histogram" => key.parse::<u64>().ok().map(|_| Value::from(0)),
        "frames_skipped" => Some(Value::from(0)),
        _ => None,
    }
}

fn keys_of(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "an empty object".into(),
        Value::Object(m) => {
            let mut ks: Vec<&str> = m.keys().map(String::as_str).collect();
            ks.truncate(40);
            format!("fields are {}", ks.join(", "))
        }
        Value::Array(_) => "an array".into(),
        other => format!("a value ({other})"),
    }
}

/// Finds the value at `path` in `root`.
pub fn resolve(root: &Value, path: &[Step], text: &str) -> Result<Value, ExprError> {
    let mut cur = root.clone();
    let mut walked = String::new();
    let unknown = |walked: &str, why: String| ExprError::UnknownPath {
        text: text.to_string(),
        path: walked.to_string(),
        why,
    };
    let mut parent_name = String::new();
    for step in path {
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(&step.name);
        if let Some(k) = &step.key {
            walked.push_str(&format!("[{k}]"));
        }
        match (&step.name[..], &step.key) {
            ("server", Some(addr)) => {
                let servers = cur.get("by_server").and_then(Value::as_array);
                let Some(servers) = servers else {
                    return Err(unknown(&walked, "no per-server figures here".into()));
                };
                let found = servers
                    .iter()
                    .find(|s| s.get("server").and_then(Value::as_str) == Some(addr));
                cur = match found {
                    Some(s) => s.clone(),
                    None => {
                        let names: Vec<&str> = servers
                            .iter()
                            .filter_map(|s| s.get("server").and_then(Value::as_str))
                            .collect();
                        return Err(unknown(
                            &walked,
                            format!(
                                "no server {addr} in the report (servers: {})",
                                if names.is_empty() {
                                    "none".to_string()
                                } else {
                                    names.join(", ")
                                }
                            ),
                        ));
                    }
                };
            }
            (_, Some(_)) => {
                return Err(unknown(&walked, "only `server[ADDR]` takes a [key]".into()));
            }
            (name, None) => {
                let next = match &cur {
                    Value::Object(m) => match m.get(name) {
                        Some(v) => v.clone(),
                        None => match zero_map(&parent_name, name) {
                            Some(z) => z,
                            None => return Err(unknown(&walked, keys_of(&cur))),
                        },
                    },
                    other => return Err(unknown(&walked, format!("parent is {}", keys_of(other)))),
                };
                cur = next;
            }
        }
        parent_name = step.name.clone();
    }
    Ok(cur)
}

/// Evaluates a parsed assertion against `root`.
pub fn eval(e: &Expr, root: &Value) -> Result<Outcome, ExprError> {
    let actual = resolve(root, &e.path, &e.text)?;
    let type_err = |why: String| ExprError::Type {
        text: e.text.clone(),
        why,
    };
    if matches!(actual, Value::Object(_) | Value::Array(_)) {
        return Err(type_err(format!(
            "the path is not a single value: {}",
            keys_of(&actual)
        )));
    }
    let holds = match (&actual, &e.value) {
        (Value::Number(a), Literal::Number(b)) => {
            let a = a.as_f64().unwrap_or(f64::NAN);
            let b = *b;
            match e.op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Gt => a > b,
                Op::Ge => a >= b,
            }
        }
        (a, lit) => {
            let equal = match (a, lit) {
                (Value::String(s), Literal::String(t)) => s == t,
                (Value::Bool(x), Literal::Bool(y)) => x == y,
                (Value::Null, Literal::Null) => true,
                _ => false,
            };
            match e.op {
                Op::Eq => equal,
                Op::Ne => !equal,
                op => {
                    return Err(type_err(format!(
                        "`{}` needs numbers; the value at the path is {actual} and the expression has {lit}",
                        op.as_str()
                    )));
                }
            }
        }
    };
    Ok(Outcome {
        holds,
        actual: actual.to_string(),
    })
}

/// Parses an expectations file: one expression per line, blank lines and
/// lines starting with `#` ignored (a `#` later in a line is part of it).
/// Errors name the line.
pub fn parse_file(text: &str, name: &str) -> Result<Vec<Expr>, ExprError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match parse(l) {
            Ok(e) => out.push(e),
            Err(ExprError::Syntax { text, why }) => {
                return Err(ExprError::Syntax {
                    text,
                    why: format!("{why} ({name} line {})", i + 1),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary() -> Value {
        json!({
            "requests": 5,
            "requests_per_handshake": 2.5,
            "close_reasons": {"idle": {"total": 1, "client": 1, "server": 0}},
            "anomalies": {},
            "requests_per_connection": {"min": 2, "median": 2.5, "max": 3, "histogram": {"2": 1}},
            "by_server": [{"server": "127.0.0.1:18082", "requests": 5,
                           "requests_per_connection": {"median": 2.5}}],
            "label": "x"
        })
    }

    fn ev(s: &str) -> Result<Outcome, ExprError> {
        eval(&parse(s)?, &summary())
    }

    #[test]
    fn operators_on_numbers() {
        for (e, want) in [
            ("requests == 5", true),
            ("requests != 5", false),
            ("requests < 5", false),
            ("requests <= 5", true),
            ("requests > 4.5", true),
            ("requests >= 6", false),
            ("requests_per_handshake>=2", true),
        ] {
            assert_eq!(ev(e).unwrap().holds, want, "{e}");
        }
        assert_eq!(ev("requests == 4").unwrap().actual, "5");
    }

    #[test]
    fn absent_counts_of_known_vocabularies_are_zero() {
        assert!(ev("close_reasons.reset.total == 0").unwrap().holds);
        assert!(ev("close_reasons.idle.client == 1").unwrap().holds);
        assert!(ev("anomalies.request_after_peer_fin == 0").unwrap().holds);
        assert!(
            ev("requests_per_connection.histogram.7 == 0")
                .unwrap()
                .holds
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        for e in [
            "requestz == 5",
            "close_reasons.nonsense.total == 0",
            "anomalies.not_a_kind == 0",
            "close_reasons.idle.everyone == 0",
            "server[10.0.0.1:80].requests == 1",
            "requests.more == 1",
        ] {
            assert!(
                matches!(ev(e), Err(ExprError::UnknownPath { .. })),
                "{e}: {:?}",
                ev(e)
            );
        }
    }

    #[test]
    fn server_selector() {
        assert!(
            ev("server[127.0.0.1:18082].requests_per_connection.median == 2.5")
                .unwrap()
                .holds
        );
    }

    #[test]
    fn strings_and_types() {
        assert!(ev("label == x").unwrap().holds);
        assert!(ev("label == \"x\"").unwrap().holds);
        assert!(ev("label != y").unwrap().holds);
        assert!(matches!(ev("label < 3"), Err(ExprError::Type { .. })));
        assert!(matches!(
            ev("close_reasons == 1"),
            Err(ExprError::Type { .. })
        ));
    }

    #[test]
    fn syntax_errors() {
        for e in [
            "",
            "requests",
            "requests = 5",
            "== 5",
            "requests ==",
            "a..b == 1",
            "x[1 == 2",
        ] {
            assert!(matches!(parse(e), Err(ExprError::Syntax { .. })), "{e}");
        }
    }

    #[test]
    fn file_with_comments() {
        let f = "# reuse must work\nrequests >= 1\n\n  # indented comment\nrequests_per_handshake > 1\n";
        assert_eq!(parse_file(f, "x").unwrap().len(), 2);
        let err = parse_file("requests >= 1\nbad line\n", "exp.txt").unwrap_err();
        assert!(err.to_string().contains("exp.txt line 2"), "{err}");
    }
}
