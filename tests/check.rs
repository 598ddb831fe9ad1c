//! `httpreuse check`: every exit code, every assertion form, `--update`,
//! `--junit`, time tolerance. Expected values are what the captures show
//! (tshark's reading in `fixtures/expected/`, nginx's configuration in
//! `fixtures/recording/`), not this program's output.

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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("httpreuse-check-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// keepalive-requests-rollover.pcap: nginx `keepalive_requests 3`, curl 5
/// URLs. tshark: 2 connections with 3 and 2 requests, all 200; the 3rd
/// response carries `Connection: close` and nginx sends the first FIN of
/// connection 0; curl sends the first FIN of connection 1.
const ROLLOVER: &str = "captures/keepalive-requests-rollover.pcap";

fn golden_of(capture: &str) -> String {
    root()
        .join("tests/golden")
        .join(format!("{capture}.json"))
        .to_string_lossy()
        .into_owned()
}

fn check(extra: &[&str]) -> Output {
    let f = fixture(ROLLOVER);
    let mut a = vec!["check", "--color", "never", f.as_str()];
    a.extend_from_slice(extra);
    run(&a)
}

#[test]
fn golden_of_the_same_capture_passes() {
    let g = golden_of(ROLLOVER);
    let o = check(&["--golden", &g]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("PASS golden"), "{}", stdout(&o));
}

#[test]
fn a_changed_close_reason_fails_with_a_readable_difference() {
    let mut golden: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_of(ROLLOVER)).unwrap()).unwrap();
    // connection 0 really ended with Connection: close from nginx
    assert_eq!(
        golden["connections"][0]["close"]["reason"],
        "connection_close"
    );
    golden["connections"][0]["close"]["reason"] = "idle".into();
    let g = tmp("changed-reason.json");
    std::fs::write(&g, serde_json::to_vec_pretty(&golden).unwrap()).unwrap();
    let o = check(&["--golden", g.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("FAIL"), "{out}");
    assert!(
        out.contains("connection #0 (127.0.0.1:53134 -> 127.0.0.1:18082): close.reason: expected \"idle\" -> got \"connection_close\""),
        "{out}"
    );
}

#[test]
fn a_missing_request_is_a_difference() {
    let mut golden: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_of(ROLLOVER)).unwrap()).unwrap();
    golden["connections"][1]["exchanges"]
        .as_array_mut()
        .unwrap()
        .pop();
    golden["summary"]["requests"] = 4.into();
    let g = tmp("missing-request.json");
    std::fs::write(&g, serde_json::to_vec(&golden).unwrap()).unwrap();
    let o = check(&["--golden", g.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("summary: requests: expected 4 -> got 5"),
        "{out}"
    );
    assert!(
        out.contains("exchanges (count): expected 1 -> got 2"),
        "{out}"
    );
}

#[test]
fn times_within_tolerance_unless_strict() {
    let mut golden: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_of(ROLLOVER)).unwrap()).unwrap();
    let d = golden["connections"][0]["duration"].as_f64().unwrap();
    golden["connections"][0]["duration"] = (d + 0.3).into();
    let g = tmp("shifted-time.json");
    std::fs::write(&g, serde_json::to_vec(&golden).unwrap()).unwrap();
    let g = g.to_str().unwrap();
    assert_eq!(
        check(&["--golden", g]).status.code(),
        Some(0),
        "default tolerance 0.5 s"
    );
    let o = check(&["--golden", g, "--strict-times"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("duration"), "{}", stdout(&o));
    assert_eq!(
        check(&["--golden", g, "--time-tolerance", "0.1"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn update_writes_the_json_report_then_passes() {
    let g = tmp("updated.json");
    let _ = std::fs::remove_file(&g);
    let g = g.to_str().unwrap();
    let o = check(&["--golden", g, "--update"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("(updated)"));
    // byte for byte what --format json prints
    let json = run(&["--format", "json", &fixture(ROLLOVER)]).stdout;
    assert_eq!(std::fs::read(g).unwrap(), json);
    assert_eq!(check(&["--golden", g]).status.code(), Some(0));
    // --update rewrites a golden file that no longer matches
    std::fs::write(
        g,
        b"{\"format_version\": 1, \"summary\": {}, \"connections\": []}",
    )
    .unwrap();
    assert_eq!(check(&["--golden", g]).status.code(), Some(1));
    assert_eq!(check(&["--golden", g, "--update"]).status.code(), Some(0));
    assert_eq!(check(&["--golden", g]).status.code(), Some(0));
}

#[test]
fn every_operator_and_path_form() {
    // 5 requests over 2 handshakes (tshark) = 2.5 requests per handshake
    let passing = [
        "requests == 5",
        "requests != 4",
        "requests < 6",
        "requests <= 5",
        "requests > 4",
        "requests >= 5",
        "requests_per_handshake == 2.5",
        "connections == 2",
        // nested paths; nginx closed the first with Connection: close,
        // curl the second while idle
        "close_reasons.connection_close.server == 1",
        "close_reasons.idle.client == 1",
        "first_close.server_fin == 1",
        "requests_per_connection.median == 2.5",
        "requests_per_connection.histogram.3 == 1",
        // absent counts of known vocabularies are 0
        "close_reasons.reset.total == 0",
        "anomalies.request_after_peer_fin == 0",
        "requests_per_connection.histogram.7 == 0",
        // one server's summary
        "server[127.0.0.1:18082].requests == 5",
        "server[127.0.0.1:18082].requests_per_connection.max == 3",
    ];
    for e in passing {
        let o = check(&["--expect", e]);
        assert_eq!(o.status.code(), Some(0), "{e}: {}", stdout(&o));
    }
    let failing = [
        ("requests == 4", "5"),
        ("requests_per_handshake > 3", "2.5"),
        ("close_reasons.reset.total >= 1", "0"),
        ("server[127.0.0.1:18082].reused_connections < 2", "2"),
    ];
    for (e, actual) in failing {
        let o = check(&["--expect", e]);
        assert_eq!(o.status.code(), Some(1), "{e}");
        let out = stdout(&o);
        assert!(
            out.contains(&format!("FAIL {e} failed: actual value {actual}")),
            "{e}: {out}"
        );
    }
}

#[test]
fn string_values() {
    let g = tmp("strings.json");
    let mut r: Value =
        serde_json::from_slice(&run(&["-f", "json", &fixture(ROLLOVER)]).stdout).unwrap();
    r["summary"]["label"] = "nginx-18082".into();
    std::fs::write(&g, serde_json::to_vec(&r).unwrap()).unwrap();
    let g = g.to_str().unwrap();
    // a saved report is read as the input when it is the only one
    let ok = run(&[
        "check",
        g,
        "--expect",
        "label == nginx-18082",
        "--expect",
        "label != \"x\"",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    let o = run(&["check", g, "--expect", "label < 3"]);
    assert_eq!(o.status.code(), Some(2), "ordering a string is an error");
}

#[test]
fn expect_file_with_comments() {
    let f = tmp("expectations.txt");
    std::fs::write(
        &f,
        "# nginx keepalive_requests 3: curl gets 3 then 2 requests\n\
         requests_per_handshake >= 2\n\
         \n\
         close_reasons.connection_close.server == 1   \n\
         # a stale reuse would show here\n\
         anomalies.request_after_peer_fin == 0\n",
    )
    .unwrap();
    let o = check(&["--expect-file", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o).matches("PASS").count(), 3, "{}", stdout(&o));
    std::fs::write(&f, "requests >= 1\nrequests = 5\n").unwrap();
    let o = check(&["--expect-file", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("line 2"), "{}", stdout(&o));
}

#[test]
fn errors_exit_2() {
    let g = golden_of(ROLLOVER);
    // unknown path: never a silent pass
    let o = check(&["--expect", "close_reasons.bogus.total == 0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("unknown path"), "{}", stdout(&o));
    let o = check(&["--expect", "server[10.9.9.9:80].requests == 0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("127.0.0.1:18082"),
        "names the servers: {}",
        stdout(&o)
    );
    // bad expression
    for bad in ["requests", "requests = 5", "== 1", "requests == "] {
        assert_eq!(check(&["--expect", bad]).status.code(), Some(2), "{bad}");
    }
    // an error wins over a failure
    let o = check(&["--expect", "requests == 1", "--expect", "nope == 1"]);
    assert_eq!(o.status.code(), Some(2));
    // unreadable capture
    let o = run(&["check", "/nonexistent/x.pcap", "--golden", &g]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("/nonexistent/x.pcap"), "{}", stdout(&o));
    let o = run(&["check", &fixture("broken/text-file.pcap"), "--golden", &g]);
    assert_eq!(o.status.code(), Some(2));
    // bad golden files
    let bad = tmp("bad-golden.json");
    std::fs::write(&bad, "{not json").unwrap();
    assert_eq!(
        check(&["--golden", bad.to_str().unwrap()]).status.code(),
        Some(2)
    );
    std::fs::write(
        &bad,
        "{\"format_version\": 9, \"summary\": {}, \"connections\": []}",
    )
    .unwrap();
    let o = check(&["--golden", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("format_version 9"), "{}", stdout(&o));
    let o = check(&["--golden", "/nonexistent/golden.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("--update"), "{}", stdout(&o));
    // nothing to check; --update without --golden
    assert_eq!(check(&[]).status.code(), Some(2));
    assert_eq!(check(&["--update"]).status.code(), Some(2));
}

/// The JUnit file parsed back: (tests, failures, errors) attributes of the
/// testsuite and the testcase / failure / error elements counted.
type Counts = (u64, u64, u64);

fn junit_counts(path: &std::path::Path) -> (Counts, Counts, Vec<String>) {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let xml = std::fs::read_to_string(path).unwrap();
    let mut r = Reader::from_str(&xml);
    let (mut attrs, mut counted, mut names) = ((0, 0, 0), (0, 0, 0), Vec::new());
    let attr = |e: &quick_xml::events::BytesStart<'_>, k: &str| -> Option<String> {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == k)
            .map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                    .unwrap()
                    .into_owned()
            })
    };
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "testsuite" => {
                    let n = |k| attr(&e, k).unwrap().parse::<u64>().unwrap();
                    attrs = (n("tests"), n("failures"), n("errors"));
                }
                "testcase" => {
                    counted.0 += 1;
                    names.push(attr(&e, "name").unwrap());
                }
                "failure" => counted.1 += 1,
                "error" => counted.2 += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (attrs, counted, names)
}

#[test]
fn junit_has_one_case_per_assertion_and_golden() {
    let j = tmp("junit.xml");
    let g = golden_of(ROLLOVER);
    let o = check(&[
        "--golden",
        &g,
        "--expect",
        "requests == 5",
        "--expect",
        "requests_per_handshake > 3",
        "--expect",
        "anomalies.request_after_peer_fin == 0",
        "--junit",
        j.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let (attrs, counted, names) = junit_counts(&j);
    assert_eq!(attrs, (4, 1, 0));
    assert_eq!(counted, (4, 1, 0));
    assert!(names[0].starts_with("golden "), "{names:?}");
    assert_eq!(names[2], "requests_per_handshake > 3");
    // errors are <error> elements, and XML specials survive the round trip
    let o = check(&[
        "--expect",
        "requests < 9",
        "--expect",
        "server[<&\">].requests == 1",
        "--junit",
        j.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let (attrs, counted, names) = junit_counts(&j);
    assert_eq!(attrs, (2, 0, 1));
    assert_eq!(counted, (2, 0, 1));
    assert_eq!(names[1], "server[<&\">].requests == 1");
}
