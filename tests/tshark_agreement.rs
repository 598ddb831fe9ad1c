//! The connection list and HTTP exchanges httpreuse reports agree with what
//! tshark reported for the same capture.
//!
//! `fixtures/expected/*.json` were written by `fixtures/tshark-expect.py`
//! (tshark 4.0.17) from each capture, independently of this code. For every
//! connection we compare client, server, handshake_complete, first_close
//! (by, kind), and the requests' methods and the final response statuses in
//! order. tshark misses HTTP messages after capture gaps and on odd ports,
//! so for third-party captures httpreuse may see more messages, never fewer:
//! tshark's list must be a subsequence of ours. For our own recordings
//! (`fixtures/captures`, `fixtures/variants`) they must be equal.
//!
//! Known, explained disagreements (where tshark is wrong) are listed in
//! `fixtures/expected/DISAGREEMENTS.md` and are matched here by
//! capture + connection + field, never silently.

use std::path::{Path, PathBuf};

use httpreuse::analyzer::{Options, analyze};
use httpreuse::capture::Input;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `capture|stream|field` lines from DISAGREEMENTS.md (lines starting with `- `` `).
fn known_disagreements() -> Vec<String> {
    let p = root().join("fixtures/expected/DISAGREEMENTS.md");
    let Ok(text) = std::fs::read_to_string(p) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

fn is_subsequence(small: &[Value], big: &[Value]) -> bool {
    let mut it = big.iter();
    small.iter().all(|s| it.any(|b| b == s))
}

fn check_file(
    expected_path: &Path,
    exact_http: bool,
    known: &[String],
    failures: &mut Vec<String>,
) {
    let exp: Value = serde_json::from_str(&std::fs::read_to_string(expected_path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    let capture = exp["capture"].as_str().expect("capture field");
    let capture_path = root().join("fixtures").join(capture);
    let report = match analyze(&[Input::Path(capture_path.clone())], Options::default()) {
        Ok(r) => r,
        Err(e) => {
            failures.push(format!("{capture}: error {e}"));
            return;
        }
    };
    let ours = serde_json::to_value(&report).unwrap();
    let ours_conns = ours["connections"].as_array().unwrap();
    let exp_conns = exp["connections"].as_array().unwrap();
    let allowed = |stream: &str, field: &str| {
        known
            .iter()
            .any(|k| *k == format!("{capture}|{stream}|{field}"))
    };
    if ours_conns.len() != exp_conns.len() && !allowed("*", "connections") {
        failures.push(format!(
            "{capture}: {} connections, tshark says {}",
            ours_conns.len(),
            exp_conns.len()
        ));
        return;
    }
    for (i, (o, e)) in ours_conns.iter().zip(exp_conns).enumerate() {
        let s = i.to_string();
        for field in ["client", "server", "handshake_complete"] {
            if o[field] != e[field] && !allowed(&s, field) {
                failures.push(format!(
                    "{capture} conn {i}: {field} {} vs tshark {}",
                    o[field], e[field]
                ));
            }
        }
        let fc_ours = if o["first_close"].is_null() {
            Value::Null
        } else {
            serde_json::json!({
                "by": o["first_close"]["by"],
                "kind": o["first_close"]["kind"],
                "frame": o["first_close"]["frame"],
            })
        };
        if fc_ours != e["first_close"] && !allowed(&s, "first_close") {
            failures.push(format!(
                "{capture} conn {i}: first_close {fc_ours} vs tshark {}",
                e["first_close"]
            ));
        }
        let exchanges = o["exchanges"].as_array().unwrap();
        let methods: Vec<Value> = exchanges
            .iter()
            .filter(|x| !x["request"].is_null())
            .map(|x| x["request"]["method"].clone())
            .collect();
        let statuses: Vec<Value> = exchanges
            .iter()
            .filter(|x| !x["response"].is_null())
            .map(|x| x["response"]["status"].clone())
            .collect();
        let exp_methods = e["methods"].as_array().cloned().unwrap_or_default();
        let exp_statuses = e["statuses"].as_array().cloned().unwrap_or_default();
        let (m_ok, s_ok) = if exact_http {
            (methods == exp_methods, statuses == exp_statuses)
        } else {
            (
                is_subsequence(&exp_methods, &methods),
                is_subsequence(&exp_statuses, &statuses),
            )
        };
        if !m_ok && !allowed(&s, "methods") {
            failures.push(format!(
                "{capture} conn {i}: methods {methods:?} vs tshark {exp_methods:?}"
            ));
        }
        if !s_ok && !allowed(&s, "statuses") {
            failures.push(format!(
                "{capture} conn {i}: statuses {statuses:?} vs tshark {exp_statuses:?}"
            ));
        }
        if o["requests"].as_u64() != Some(methods.len() as u64) {
            failures.push(format!(
                "{capture} conn {i}: requests field disagrees with exchanges"
            ));
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") && !p.ends_with("notes.json") {
            out.push(p);
        }
    }
}

fn check_dir(prefix: &str, exact_http: bool) {
    let dir = root().join("fixtures/expected");
    let known = known_disagreements();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut entries = Vec::new();
    walk(&dir, &mut entries);
    entries.sort();
    for p in entries {
        let exp: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        if !exp["capture"].as_str().unwrap_or("").starts_with(prefix) {
            continue;
        }
        checked += 1;
        check_file(&p, exact_http, &known, &mut failures);
    }
    assert!(checked > 0, "no expectations for fixtures/{prefix}");
    assert!(
        failures.is_empty(),
        "{} disagreements with tshark over {checked} captures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn recorded_captures_agree_with_tshark() {
    check_dir("captures/", true);
}

#[test]
fn link_layer_and_container_variants_agree_with_tshark() {
    check_dir("variants/", true);
}

#[test]
fn broken_and_mixed_inputs_agree_with_tshark() {
    check_dir("broken/", true);
}

#[test]
fn third_party_captures_agree_with_tshark() {
    check_dir("thirdparty/", false);
}

/// The rotated sets of `fixtures/rotated/` (directories read as one
/// capture) agree with tshark on the same files merged by mergecap.
#[test]
fn rotated_sets_agree_with_tshark() {
    check_dir("rotated/", true);
}
