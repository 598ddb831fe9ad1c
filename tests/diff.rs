//! `httpreuse diff` on two real recordings of the same workload against the
//! same nginx before and after one config change: `keepalive_timeout 0`
//! (`diff-before.pcap`) and `15s` (`diff-after.pcap`); see
//! `fixtures/record.sh`. Expected figures come from tshark's reading of the
//! captures (`fixtures/expected/captures/diff-*.pcap.json`) and from
//! running tshark here when it is installed.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(p: &str) -> String {
    root()
        .join("fixtures")
        .join(p)
        .to_string_lossy()
        .into_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_httpreuse"))
        .args(args)
        .output()
        .expect("run httpreuse")
}

fn before() -> String {
    fixture("captures/diff-before.pcap")
}
fn after() -> String {
    fixture("captures/diff-after.pcap")
}

/// tshark's connections of a capture (`fixtures/expected`).
fn tshark(name: &str) -> Vec<Value> {
    let p = root().join(format!("fixtures/expected/captures/{name}.json"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["connections"].as_array().unwrap().clone()
}

fn diff_json(extra: &[&str]) -> Value {
    let (b, a) = (before(), after());
    let mut args = vec!["diff", "--format", "json", b.as_str(), a.as_str()];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn figures_match_tshark() {
    let (tb, ta) = (tshark("diff-before.pcap"), tshark("diff-after.pcap"));
    // tshark: 25 connections before, 3 after; 25 requests in each
    let reqs = |t: &[Value]| {
        t.iter()
            .map(|c| c["requests"].as_u64().unwrap())
            .sum::<u64>()
    };
    let hs = |t: &[Value]| t.iter().filter(|c| c["handshake_complete"] == true).count() as u64;
    let d = diff_json(&[]);
    for (side, t) in [("before", &tb), ("after", &ta)] {
        let f = &d[side];
        assert_eq!(f["connections"], t.len() as u64, "{side}");
        assert_eq!(f["handshakes_completed"], hs(t), "{side}");
        assert_eq!(f["requests"], reqs(t), "{side}");
        let rph = (reqs(t) as f64 / hs(t) as f64 * 1000.0).round() / 1000.0;
        assert_eq!(f["requests_per_handshake"].as_f64().unwrap(), rph, "{side}");
        let max = t
            .iter()
            .map(|c| c["requests"].as_u64().unwrap())
            .max()
            .unwrap();
        assert_eq!(f["requests_per_connection"]["max"], max, "{side}");
    }
    assert_eq!(
        d["delta"]["connections"].as_f64().unwrap(),
        ta.len() as f64 - tb.len() as f64
    );
    assert_eq!(d["delta"]["requests"].as_f64().unwrap(), 0.0);
    // before: nginx closed every connection first (tshark's first FIN is
    // the server's) after its Connection: close; after: the clients close
    // idle keep-alive connections
    assert!(tb.iter().all(|c| c["first_close"]["by"] == "server"));
    assert!(ta.iter().all(|c| c["first_close"]["by"] == "client"));
    assert_eq!(
        d["before"]["close_reasons"]["connection_close"]["server"],
        tb.len() as u64
    );
    assert_eq!(
        d["after"]["close_reasons"]["idle"]["client"],
        ta.len() as u64
    );
    assert!(
        d["after"]["close_reasons"]
            .get("connection_close")
            .is_none()
    );
    assert_eq!(
        d["delta"]["close_reasons"]["connection_close"]["server"]
            .as_f64()
            .unwrap(),
        -(tb.len() as f64)
    );
    // one server, so one by_server entry on each side
    assert_eq!(d["before"]["by_server"][0]["server"], "127.0.0.1:18150");
    assert_eq!(d["delta"]["by_server"][0]["server"], "127.0.0.1:18150");
    let v = d["verdict"].as_str().unwrap();
    let (b, a) = (
        reqs(&tb) as f64 / hs(&tb) as f64,
        reqs(&ta) as f64 / hs(&ta) as f64,
    );
    assert!(
        v.starts_with(&format!(
            "reuse {} -> {:.3} requests per handshake (up)",
            b, a
        )),
        "{v}"
    );
    assert!(v.contains("server connection_close closes gone"), "{v}");
    assert!(v.contains("new: client idle closes (3)"), "{v}");
}

#[test]
fn tshark_sees_connection_close_before_and_keep_alive_after() {
    // second opinion on what the config change did, straight from tshark
    let Ok(out) = Command::new("tshark")
        .args([
            "-r",
            &before(),
            "-Y",
            "http.response",
            "-T",
            "fields",
            "-e",
            "http.connection",
        ])
        .output()
    else {
        eprintln!("tshark not installed: the expected JSON files carry its reading");
        return;
    };
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(s.lines().filter(|l| *l == "close").count(), 25, "{s}");
    let out = Command::new("tshark")
        .args([
            "-r",
            &after(),
            "-Y",
            "http.response",
            "-T",
            "fields",
            "-e",
            "http.connection",
        ])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(s.lines().filter(|l| *l == "keep-alive").count(), 25, "{s}");
    let d = diff_json(&[]);
    assert_eq!(d["before"]["reused_connections"], 0);
    assert_eq!(d["after"]["reused_connections"], 3);
}

#[test]
fn saved_reports_give_the_same_diff() {
    let g = |n: &str| {
        root()
            .join(format!("tests/golden/captures/{n}.json"))
            .to_string_lossy()
            .into_owned()
    };
    let o = run(&[
        "diff",
        "-f",
        "json",
        &g("diff-before.pcap"),
        &g("diff-after.pcap"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let from_reports: Value = serde_json::from_slice(&o.stdout).unwrap();
    let from_captures = diff_json(&[]);
    assert_eq!(from_reports["delta"], from_captures["delta"]);
    assert_eq!(from_reports["verdict"], from_captures["verdict"]);
}

#[test]
fn fail_if_exit_codes() {
    let (b, a) = (before(), after());
    let code = |e: &str| {
        run(&["diff", "-f", "json", &b, &a, "--fail-if", e])
            .status
            .code()
    };
    // reuse went up: a regression guard does not fire
    assert_eq!(code("delta.requests_per_handshake < 0"), Some(0));
    assert_eq!(code("after.close_reasons.reset.total > 0"), Some(0));
    // the same captures the other way round: reuse went down
    let o = run(&[
        "diff",
        "-f",
        "json",
        &a,
        &b,
        "--fail-if",
        "delta.requests_per_handshake < 0",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("holds"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(code("before.connections == 25"), Some(1));
    assert_eq!(
        code("after.server[127.0.0.1:18150].requests_per_connection.max >= 11"),
        Some(1)
    );
    assert_eq!(code("delta.close_reasons.idle.client == 3"), Some(1));
    // errors
    assert_eq!(code("delta.nonsense < 0"), Some(2));
    assert_eq!(code("delta.requests_per_handshake"), Some(2));
    assert_eq!(
        code("requests_per_handshake < 0"),
        Some(2),
        "needs before./after./delta."
    );
    assert_eq!(
        run(&["diff", &b, "/nonexistent.pcap"]).status.code(),
        Some(2)
    );
}

#[test]
fn text_is_80_columns_and_coloured_on_request() {
    let (b, a) = (before(), after());
    let o = run(&["diff", "--color", "never", &b, &a]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    for l in text.lines() {
        assert!(l.chars().count() <= 80, "{l:?}");
    }
    assert!(!text.contains('\x1b'));
    assert!(text.contains("requests per handshake"), "{text}");
    assert!(text.contains("close connection_close by server"), "{text}");
    assert!(
        text.contains("Verdict: reuse 1 -> 8.333 requests per handshake"),
        "{text}"
    );
    let o = run(&["diff", "--color", "always", &b, &a]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\x1b[1m"));
}

#[test]
fn per_server_sections_with_several_servers() {
    // multi-connection-mixed has nginx :18080 and python :18090
    let m = fixture("captures/multi-connection-mixed.pcap");
    let o = run(&["diff", "--color", "never", &m, &m]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("Servers"), "{text}");
    assert!(
        text.contains("127.0.0.1:18080") && text.contains("127.0.0.1:18090"),
        "{text}"
    );
    assert!(text.contains("(unchanged)"), "{text}");
    // filters apply to both sides
    let o = run(&["diff", "-f", "json", "--port", "18090", &m, &m]);
    let d: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["before"]["by_server"].as_array().unwrap().len(), 1);
}

#[test]
fn readme_example_is_what_the_binary_prints() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme.split("## Before and after").nth(1).unwrap();
    let cmd =
        "$ httpreuse diff fixtures/captures/diff-before.pcap fixtures/captures/diff-after.pcap\n";
    let shown = section
        .split(cmd)
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_httpreuse"))
        .args([
            "diff",
            "--color",
            "never",
            "fixtures/captures/diff-before.pcap",
            "fixtures/captures/diff-after.pcap",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(shown, String::from_utf8(o.stdout).unwrap());
}
