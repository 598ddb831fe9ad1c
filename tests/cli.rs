//! The real binary: exit codes, error messages, inputs, determinism.
//! Expected counts come from tshark/capinfos on the same files (see the
//! comments), not from this program's output.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

fn json(args: &[&str]) -> Value {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    let out = run(&a);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn no_arguments_is_a_usage_error() {
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Usage"), "{}", stderr(&o));
}

#[test]
fn missing_file_is_named_with_exit_2() {
    let o = run(&["/nonexistent/nope.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("/nonexistent/nope.pcap"), "{e}");
    assert_eq!(e.lines().count(), 1, "one clear line: {e}");
}

#[test]
fn empty_file_is_an_error_naming_it() {
    let f = fixture("broken/empty.pcap");
    let o = run(&[&f]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("empty.pcap") && e.contains("empty"), "{e}");
}

#[test]
fn text_file_is_not_a_capture_and_its_magic_is_shown() {
    let f = fixture("broken/text-file.pcap");
    let first4: Vec<String> = std::fs::read(&f).unwrap()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let o = run(&[&f]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("text-file.pcap"), "{e}");
    assert!(e.contains(&first4.join(" ")), "magic {first4:?} in {e}");
}

#[test]
fn truncated_global_header_is_an_error() {
    let f = fixture("broken/truncated-global-header.pcap");
    let o = run(&[&f]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("truncated-global-header.pcap"));
}

#[test]
fn file_cut_mid_record_reports_what_was_read() {
    // capinfos: "An error occurred after reading 8 packets ... cut short in
    // the middle of a packet."
    for name in [
        "broken/truncated-mid-record.pcap",
        "broken/truncated-record-header.pcap",
    ] {
        let f = fixture(name);
        let o = run(&["--format", "json", &f]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("warning") && e.contains("offset"), "{e}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["inputs"][0]["frames"], 8, "{name}");
        assert!(
            v["inputs"][0]["error"]
                .as_str()
                .is_some_and(|s| s.contains("offset"))
        );
        assert_eq!(v["summary"]["frames"], 8);
    }
}

#[test]
fn non_tcp_frames_are_counted_by_kind() {
    // tshark: 10 TCP frames, 6 ICMP (4 echo, 2 port unreachable), 2 UDP.
    let v = json(&[&fixture("broken/mixed-protocols.pcap")]);
    assert_eq!(v["summary"]["tcp_segments"], 10);
    assert_eq!(v["summary"]["frames_skipped"]["icmp"], 6);
    assert_eq!(v["summary"]["frames_skipped"]["udp"], 2);
    assert_eq!(v["summary"]["frames"], 18);
    // The same plus one (synthetic) ARP frame.
    let v = json(&[&fixture("broken/mixed-protocols-with-arp.pcap")]);
    assert_eq!(v["summary"]["frames_skipped"]["arp"], 1);
    assert_eq!(v["summary"]["frames"], 19);
}

#[test]
fn unsupported_link_type_interface_is_counted_not_fatal() {
    // capinfos: Ethernet (16), USER 0 (18).
    let v = json(&[&fixture("broken/unsupported-linktype.pcapng")]);
    assert_eq!(
        v["summary"]["frames_skipped"]["unsupported_linktype_147"],
        18
    );
    assert_eq!(v["summary"]["tcp_segments"], 16);
    assert_eq!(v["inputs"][0]["linktypes"]["147"], 18);
    assert_eq!(v["inputs"][0]["linktypes"]["1"], 16);
}

/// The report without the parts that name the input.
fn without_inputs(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("inputs");
    v
}

#[test]
fn stdin_gives_the_same_report_as_the_file() {
    let f = fixture("captures/curl-keepalive.pcap");
    let mut child = Command::new(env!("CARGO_BIN_EXE_httpreuse"))
        .args(["--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let data = std::fs::read(&f).unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let from_stdin: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_stdin["inputs"][0]["file"], "<stdin>");
    assert_eq!(without_inputs(from_stdin), without_inputs(json(&[&f])));
}

#[test]
fn gzip_is_detected_by_magic_not_name() {
    let plain = json(&[&fixture("captures/curl-keepalive.pcap")]);
    for v in [
        "variants/curl-keepalive.gzip-named-plain.pcap",
        "variants/curl-keepalive.pcap.gz",
    ] {
        let g = json(&[&fixture(v)]);
        assert_eq!(g["inputs"][0]["gzip"], true, "{v}");
        assert_eq!(without_inputs(g), without_inputs(plain.clone()), "{v}");
    }
}

#[test]
fn several_files_are_one_capture_in_order() {
    let a = fixture("captures/curl-keepalive.pcap");
    let b = fixture("captures/ipv6.pcap");
    let va = json(&[&a]);
    let vb = json(&[&b]);
    let both = json(&[&a, &b]);
    let n = |v: &Value, k: &str| v["summary"][k].as_u64().unwrap();
    for k in ["connections", "requests", "responses", "frames"] {
        assert_eq!(n(&both, k), n(&va, k) + n(&vb, k), "{k}");
    }
    // Frame numbers continue across files.
    let fa = n(&va, "frames");
    let last = both["connections"].as_array().unwrap().last().unwrap();
    let first_in_b = vb["connections"].as_array().unwrap().last().unwrap();
    assert_eq!(
        last["first_frame"].as_u64().unwrap(),
        first_in_b["first_frame"].as_u64().unwrap() + fa
    );
    assert_eq!(both["inputs"].as_array().unwrap().len(), 2);
}

#[test]
fn json_is_byte_identical_across_runs() {
    let f = fixture("captures/multi-connection-mixed.pcap");
    let a = run(&["--format", "json", &f]).stdout;
    let b = run(&["--format", "json", &f]).stdout;
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn text_report_is_plain_unless_colour_is_asked_for() {
    let f = fixture("captures/keepalive-requests-rollover.pcap");
    let plain = run(&[&f]);
    assert!(plain.status.success());
    let text = String::from_utf8(plain.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no escapes when not a terminal");
    assert!(text.contains("Summary") && text.contains("Connections"));
    assert!(text.contains("127.0.0.1:18082"));
    let coloured = run(&["--color", "always", &f]);
    assert!(
        String::from_utf8(coloured.stdout)
            .unwrap()
            .contains("\x1b[")
    );
}

#[test]
fn text_report_fits_80_columns_in_brief_mode() {
    let f = fixture("captures/keepalive-requests-rollover.pcap");
    let o = run(&["--brief", &f]);
    let text = String::from_utf8(o.stdout).unwrap();
    for line in text.lines() {
        // The input line carries the path, which may be long.
        if line.contains("keepalive-requests-rollover.pcap") {
            continue;
        }
        assert!(line.chars().count() <= 80, "too wide: {line:?}");
    }
}

#[test]
fn max_buffer_reaches_the_reassembler() {
    // lossy.pcap has out-of-order segments (tshark: 33 suspected
    // out-of-order): with the default 4 MiB nothing overflows; with 1000
    // bytes the buffer overflows and gaps are declared instead.
    let f = fixture("captures/lossy.pcap");
    let overflows = |v: &Value| -> u64 {
        v["connections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| {
                ["client", "server"].map(|s| c["tcp"][s]["buffer_overflows"].as_u64().unwrap())
            })
            .sum()
    };
    assert_eq!(overflows(&json(&[&f])), 0);
    let small = json(&["--max-buffer", "1000", &f]);
    assert!(overflows(&small) > 0);
}
