//! Rotated capture sets, the reorder window and the progress display
//! (issue 8, items 6 and 7), through the real binary.
//!
//! The captures of `fixtures/rotated/` were recorded by
//! `fixtures/record-rotated.sh`: one workload against nginx, captured at
//! once by several tcpdumps on lo: `whole.pcap` (unsplit),
//! `keepalive-G1.set/` (`tcpdump -G 1`), `by-direction.set/` (one tcpdump
//! per direction: two files overlapping in time); `editcap-c40.set/` is
//! `editcap -c 40 whole.pcap`, the same frames byte for byte. Expected
//! counts come from tcpdump's "packets captured" lines, the workload the
//! script runs, and tshark (`fixtures/expected/rotated/`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(p)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_httpreuse"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run httpreuse")
}

/// `--format json` output of the binary, which must succeed.
fn json_bytes(args: &[&str]) -> Vec<u8> {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    let out = run(&a);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn json(args: &[&str]) -> Value {
    serde_json::from_slice(&json_bytes(args)).expect("valid JSON")
}

/// The JSON report's text without its `"inputs"` array (the one part that
/// names the files).
fn without_inputs(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let start = text.find("\n  \"inputs\": [").expect("inputs");
    let end = start + text[start..].find("\n  ],").expect("end of inputs") + "\n  ],".len();
    format!("{}{}", &text[..start], &text[end..])
}

/// The files of a set, sorted by name.
fn files(set: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixture(set))
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A fixed shuffle: odd positions reversed, then the even ones.
fn shuffled(mut v: Vec<String>) -> Vec<String> {
    v.reverse();
    let (a, b): (Vec<_>, Vec<_>) = v.into_iter().enumerate().partition(|(i, _)| i % 2 == 1);
    a.into_iter().chain(b).map(|(_, s)| s).collect()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn editcap_split_is_the_unsplit_capture_byte_for_byte() {
    let whole = without_inputs(&json_bytes(&[&s(&fixture("rotated/whole.pcap"))]));
    let dir = json_bytes(&[&s(&fixture("rotated/editcap-c40.set"))]);
    assert_eq!(without_inputs(&dir), whole, "as a directory");
    let parts = files("rotated/editcap-c40.set");
    assert_eq!(parts.len(), 6, "219 frames / 40 per file");
    let sh = shuffled(parts.clone());
    assert_ne!(sh, parts);
    let refs: Vec<&str> = sh.iter().map(String::as_str).collect();
    let given = json_bytes(&refs);
    // Files given in any order are read in timestamp order: the same
    // report, inputs included.
    assert_eq!(given, dir, "files in shuffled order");
    // Also without the reorder window: the order comes from the merge.
    let mut a = vec!["--reorder-window", "0"];
    a.extend_from_slice(&refs);
    assert_eq!(without_inputs(&json_bytes(&a)), whole, "no window");
    // The text report too, apart from its input lines.
    let text = |args: &[&str]| {
        let mut a = vec!["--color", "never", "--connections", "all"];
        a.extend_from_slice(args);
        let o = run(&a);
        assert!(o.status.success());
        let t = String::from_utf8(o.stdout).unwrap();
        t[t.find("\nSummary").unwrap()..].to_string()
    };
    assert_eq!(
        text(&refs),
        text(&[&s(&fixture("rotated/whole.pcap"))]),
        "text"
    );
}

#[test]
fn inputs_are_listed_in_reading_order_with_their_frames() {
    let v = json(&[&s(&fixture("rotated/keepalive-G1.set"))]);
    let inputs = v["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 7, "tcpdump -G 1 wrote 7 files");
    let frames: u64 = inputs.iter().map(|i| i["frames"].as_u64().unwrap()).sum();
    // tcpdump: "219 packets captured"
    assert_eq!(frames, 219);
    assert_eq!(v["summary"]["frames"], 219);
    // The first file tcpdump wrote has only the file header (no packet
    // arrived in its second); it is listed last, with 0 frames.
    let last = inputs.last().unwrap();
    assert_eq!(last["frames"], 0);
    assert!(
        last["file"].as_str().unwrap().ends_with(
            &files("rotated/keepalive-G1.set")[0][..]
                .rsplit('/')
                .next()
                .unwrap()
        )
    );
}

/// What must not depend on how the traffic was split: per connection the
/// endpoints, requests and statuses, who closed and why, the TCP history.
/// (Separate tcpdumps stamp the same packet a microsecond apart, so times
/// are left out.)
fn projection(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ex: Vec<String> = c["exchanges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    format!(
                        "{} {} {}",
                        e["request"]["method"], e["request"]["target"], e["response"]["status"]
                    )
                })
                .collect();
            format!(
                "{} {} hs={} req={} close={} by={} {} history={} anomalies={} {:?}",
                c["client"],
                c["server"],
                c["handshake_complete"],
                c["requests"],
                c["close"]["reason"],
                c["close"]["by"],
                c["close"]["kind"],
                c["history"],
                c["anomalies"].as_array().map_or(0, Vec::len),
                ex
            )
        })
        .collect();
    out.sort();
    for k in [
        "connections",
        "handshakes_completed",
        "requests",
        "responses",
        "frames",
        "tcp_segments",
        "frames_out_of_order",
    ] {
        out.push(format!("{k}={}", v["summary"][k]));
    }
    out.push(format!("anomalies={}", v["summary"]["anomalies"]));
    out.push(format!(
        "capture_anomalies={}",
        v["summary"]["capture_anomalies"]
    ));
    out
}

#[test]
fn a_rotated_set_is_the_unsplit_capture() {
    let whole = json(&[&s(&fixture("rotated/whole.pcap"))]);
    let dir_bytes = json_bytes(&[&s(&fixture("rotated/keepalive-G1.set"))]);
    let dir: Value = serde_json::from_slice(&dir_bytes).unwrap();
    assert_eq!(projection(&dir), projection(&whole));
    // tshark (fixtures/expected/rotated/whole.pcap.json): 15 connections, 43 requests.
    assert_eq!(dir["summary"]["connections"], 15);
    assert_eq!(dir["summary"]["requests"], 43);
    let sh = shuffled(files("rotated/keepalive-G1.set"));
    let refs: Vec<&str> = sh.iter().map(String::as_str).collect();
    assert_eq!(json_bytes(&refs), dir_bytes, "files in shuffled order");
}

#[test]
fn a_connection_crossing_files_is_one_connection() {
    // The python requests.Session of the workload: 12 GETs on one
    // keep-alive connection over 4 s, so across the files of -G 1.
    let set = json(&[&s(&fixture("rotated/keepalive-G1.set"))]);
    let twelve: Vec<&Value> = set["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["requests"] == 12)
        .collect();
    assert_eq!(twelve.len(), 1);
    let c = twelve[0];
    assert_eq!(c["handshake_complete"], true);
    assert_eq!(c["anomalies"].as_array().unwrap().len(), 0);
    let client = c["client"].as_str().unwrap();
    // The files are pcap; editcap wrote its parts as pcapng: the set mixes
    // containers.
    let e = json(&[&s(&fixture("rotated/editcap-c40.set"))]);
    assert_eq!(e["inputs"][0]["container"], "pcapng");
    assert_eq!(set["inputs"][0]["container"], "pcap");
    // In the files one by one, it is in pieces: several files carry some
    // of it, none all of it.
    let mut pieces = 0;
    for f in files("rotated/keepalive-G1.set") {
        let v = json(&[&f]);
        for part in v["connections"].as_array().unwrap() {
            if part["client"] == client {
                pieces += 1;
                assert!(part["requests"].as_u64().unwrap() < 12, "{f}");
            }
        }
    }
    assert!(pieces >= 3, "the connection spans {pieces} files");
    // The slow 20 KB response (8 KB/s) is one exchange across files.
    let slow: Vec<&Value> = set["connections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["exchanges"].as_array().unwrap())
        .filter(|e| e["request"]["target"] == "/slow/20k.bin")
        .collect();
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0]["response"]["status"], 200);
    assert_eq!(slow[0]["response"]["body_bytes"], 20000);
}

#[test]
fn overlapping_files_merge_in_timestamp_order() {
    let whole = json(&[&s(&fixture("rotated/whole.pcap"))]);
    let dir = fixture("rotated/by-direction.set");
    // No window: the merge alone puts the two directions in order.
    let v = json(&["--reorder-window", "0", &s(&dir)]);
    // tcpdump: 120 + 99 packets captured.
    assert_eq!(v["summary"]["frames"], 219);
    assert_eq!(v["summary"]["frames_out_of_order"], 0);
    assert_eq!(
        v["summary"]["capture_anomalies"].as_array().unwrap().len(),
        0
    );
    assert_eq!(projection(&v), projection(&whole));
    // Both files are read at once: the second starts before the first ends.
    let inputs = v["inputs"].as_array().unwrap();
    assert_eq!(inputs[0]["frames"], 120, "to-server (the SYN is first)");
    assert_eq!(inputs[1]["frames"], 99, "to-client");
}

#[test]
fn the_shuffled_third_party_file_is_put_in_order() {
    let shuffled = s(&fixture("thirdparty/tcpflow/test5-lines-randomized.pcapng"));
    let sorted = s(&fixture("thirdparty/tcpflow/test5-lines.pcap"));
    // Its 11 frames span 0.25 s, well inside the default window of 2 s:
    // the report is the one of the original, apart from the input.
    let v = json_bytes(&[&shuffled]);
    assert_eq!(without_inputs(&v), without_inputs(&json_bytes(&[&sorted])));
    let v: Value = serde_json::from_slice(&v).unwrap();
    assert_eq!(v["summary"]["frames_out_of_order"], 0);
    assert!(
        v["summary"]["anomalies"]
            .get("request_after_peer_fin")
            .is_none()
    );
    // In file order, the FIN (frame 2) comes before the request (frame 7):
    // a false request_after_peer_fin, and every frame after the first is
    // earlier than the one before it in time: 10 out of order.
    let raw = json(&["--reorder-window", "0", &shuffled]);
    assert_eq!(raw["summary"]["anomalies"]["request_after_peer_fin"], 1);
    assert_eq!(raw["summary"]["frames_out_of_order"], 10);
}

#[test]
fn frames_beyond_the_window_are_counted() {
    // Timestamps (tshark, seconds after .7 in 1350760377.7...) of frames
    // 1-11 in file order: .956084 .956016 .869277 .785946 .872941 .872842
    // .786380 .874281 .871265 .706969 .786171. With a 1 ms window, frame 2
    // (68 us before frame 1) and frame 6 (99 us before frame 5) are sorted
    // in; every other frame after the first is more than 1 ms older than
    // the newest so far, so it is late: analysed where it comes, after
    // what was held. Order analysed: 2 1 3 4 6 5 7 8 9 10 11; frames whose
    // timestamp is below the largest before them: 3 4 6 5 7 8 9 10 11 = 9.
    let f = s(&fixture("thirdparty/tcpflow/test5-lines-randomized.pcapng"));
    let v = json(&["--reorder-window", "1ms", &f]);
    assert_eq!(v["summary"]["frames_out_of_order"], 9);
    assert_eq!(v["summary"]["frames"], 11);
}

#[test]
fn standard_input_is_one_member_of_a_set() {
    let parts = files("rotated/editcap-c40.set");
    let first = std::fs::read(&parts[0]).unwrap();
    let mut args = vec!["--format".to_string(), "json".to_string()];
    // Given last, read first (its frames are the earliest).
    args.extend(parts[1..].iter().cloned());
    args.push("-".into());
    let mut child = Command::new(env!("CARGO_BIN_EXE_httpreuse"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let whole = json_bytes(&[&s(&fixture("rotated/whole.pcap"))]);
    assert_eq!(without_inputs(&out.stdout), without_inputs(&whole));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["inputs"][0]["file"], "<stdin>");
}

/// A scratch directory under the target dir, emptied.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_truncated_file_in_a_set_is_named_with_its_offset() {
    let d = scratch("rotated-truncated");
    let parts = files("rotated/keepalive-G1.set");
    for p in &parts {
        let name = Path::new(p).file_name().unwrap();
        std::fs::copy(p, d.join(name)).unwrap();
    }
    // Cut the third file 10 bytes into its second record: one frame of it
    // stays. Record layout (pcap, little endian): a 24-byte file header,
    // then records of a 16-byte header (captured length at bytes 8..12)
    // and the captured bytes.
    let third = d.join(Path::new(&parts[2]).file_name().unwrap());
    let bytes = std::fs::read(&third).unwrap();
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let caplen =
        |at: usize| u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    let (mut at, mut records) = (24, 0);
    while at < bytes.len() {
        at += 16 + caplen(at);
        records += 1;
    }
    assert!(records > 2);
    let second = 24 + 16 + caplen(24);
    std::fs::write(&third, &bytes[..second + 10]).unwrap();
    let out = run(&["--format", "json", &s(&d)]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let name = third.to_string_lossy();
    assert!(err.contains(&*name), "{err}");
    assert!(
        err.contains(&format!("byte offset {second}")),
        "offset {second}: {err}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 219 frames, less those cut off.
    assert_eq!(v["summary"]["frames"], 219 - (records - 1));
    let input = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["file"] == *name)
        .unwrap();
    assert_eq!(input["frames"], 1);
    assert!(input["error"].as_str().unwrap().contains("cut off"));
}

#[test]
fn files_of_a_directory_that_are_not_captures_are_left_out_with_a_warning() {
    let d = scratch("rotated-notes");
    for p in files("rotated/editcap-c40.set") {
        std::fs::copy(&p, d.join(Path::new(&p).file_name().unwrap())).unwrap();
    }
    std::fs::write(d.join("NOTES.txt"), "rotated by tcpdump -C\n").unwrap();
    std::fs::write(d.join("empty.pcap"), "").unwrap();
    std::fs::write(d.join(".hidden"), "x").unwrap();
    let out = run(&["--format", "json", &s(&d)]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOTES.txt") && err.contains("left out"),
        "{err}"
    );
    assert!(err.contains("empty.pcap"), "{err}");
    assert!(!err.contains(".hidden"), "{err}");
    let whole = json_bytes(&[&s(&fixture("rotated/whole.pcap"))]);
    assert_eq!(without_inputs(&out.stdout), without_inputs(&whole));
    // A directory without any capture is an error.
    let e = scratch("rotated-none");
    std::fs::write(e.join("NOTES.txt"), "nothing here\n").unwrap();
    let out = run(&[&s(&e)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no capture files"));
}

#[test]
fn no_progress_when_stderr_is_not_a_terminal_or_with_quiet() {
    let f = s(&fixture("rotated/keepalive-G1.set"));
    for args in [vec![f.as_str()], vec!["--quiet", f.as_str()]] {
        let out = run(&args);
        assert!(out.status.success());
        assert!(
            out.stderr.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// With `script` (util-linux) standard error can be a terminal: the bar
/// shows there (input slowed so that it is due), and not with `--quiet`.
#[test]
fn progress_on_a_terminal_unless_quiet() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("no `script`: skipped");
        return;
    }
    let f = s(&fixture("rotated/whole.pcap"));
    let bin = env!("CARGO_BIN_EXE_httpreuse");
    let on_tty = |quiet: &str| {
        let cmd = format!(
            "(head -c 5000 '{f}'; sleep 0.4; tail -c +5001 '{f}') | '{bin}' {quiet} --format json - >/dev/null"
        );
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_tty("");
    assert!(shown.contains("frames/s"), "{shown:?}");
    assert!(shown.contains("connections open"), "{shown:?}");
    let quiet = on_tty("--quiet");
    assert!(!quiet.contains("frames/s"), "{quiet:?}");
}

#[test]
fn threads_give_the_same_report_on_sets() {
    for set in [
        "rotated/keepalive-G1.set",
        "rotated/by-direction.set",
        "thirdparty/tcpflow/test5-lines-randomized.pcapng",
    ] {
        let f = s(&fixture(set));
        for format in ["json", "ndjson"] {
            let one = run(&["--format", format, "--threads", "1", &f]);
            let two = run(&["--format", format, "--threads", "2", &f]);
            assert!(one.status.success() && two.status.success());
            assert!(one.stdout == two.stdout, "{set} {format}");
        }
    }
}

/// Worker threads conclude the connections still open at the end a part
/// at a time (`--finish-part`, about a thousand by default, so that a
/// capture cut while thousands are open is not rendered all at once). Parts
/// of one and of three connections give the one-thread report byte for
/// byte, the NDJSON lines (written as connections conclude) in the same
/// order; every fixture has connections open or in their close linger at
/// its end.
#[test]
fn threads_conclude_the_end_in_parts_as_one_thread_does() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".pcap") || n.ends_with(".pcapng")
        })
        .collect();
    files.sort();
    files.push(fixture("rotated/keepalive-G1.set"));
    assert!(files.len() > 50);
    let mut parted = 0;
    for f in &files {
        let f = s(f);
        for format in ["ndjson", "json"] {
            let one = run(&["--format", format, "--threads", "1", &f]);
            assert!(one.status.success(), "{f}");
            for part in ["1", "3"] {
                let two = run(&[
                    "--format",
                    format,
                    "--threads",
                    "2",
                    "--finish-part",
                    part,
                    &f,
                ]);
                assert!(two.status.success(), "{f}");
                assert!(
                    one.stdout == two.stdout,
                    "{f} {format} --finish-part {part}"
                );
            }
        }
        // More than one part: more than one connection concluded at the end.
        let nd =
            String::from_utf8(run(&["--format", "ndjson", "--threads", "1", &f]).stdout).unwrap();
        if nd
            .lines()
            .filter(|l| l.starts_with("{\"type\":\"connection\""))
            .count()
            > 3
        {
            parted += 1;
        }
    }
    // Eight when this was written.
    assert!(
        parted >= 5,
        "{parted} fixtures with more than three connections"
    );
}

/// Splits a pcap (little endian, as tcpdump writes on x86) into files of
/// `per` records each, by hand (not by the code under test).
fn split_pcap(src: &Path, per: usize, dir: &Path) -> usize {
    let bytes = std::fs::read(src).unwrap();
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let header = &bytes[..24];
    let mut at = 24;
    let mut n = 0;
    while at < bytes.len() {
        let mut out = header.to_vec();
        for _ in 0..per {
            if at >= bytes.len() {
                break;
            }
            let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            out.extend_from_slice(&bytes[at..at + 16 + caplen]);
            at += 16 + caplen;
        }
        std::fs::write(dir.join(format!("part{n:04}.pcap")), out).unwrap();
        n += 1;
    }
    n
}

#[test]
fn a_set_of_more_files_than_are_kept_open() {
    // 219 frames, 2 per file: 110 files, more than the 64 inputs kept open
    // between checking and reading; the others are opened again in turn.
    let d = scratch("rotated-many");
    let n = split_pcap(&fixture("rotated/whole.pcap"), 2, &d);
    assert_eq!(n, 110);
    let whole = json_bytes(&[&s(&fixture("rotated/whole.pcap"))]);
    let v = json_bytes(&[&s(&d)]);
    assert_eq!(without_inputs(&v), without_inputs(&whole));
    let mut names = files_in(&d);
    names.reverse();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(json_bytes(&refs), v, "files given in reverse order");
}

fn files_in(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn gzip_members_mix_with_plain_ones() {
    let d = scratch("rotated-gzip");
    let parts = files("rotated/editcap-c40.set");
    for (i, p) in parts.iter().enumerate() {
        let name = Path::new(p)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if i % 2 == 0 {
            let st = Command::new("gzip")
                .args(["-c", p])
                .stdout(std::fs::File::create(d.join(format!("{name}.gz"))).unwrap())
                .status()
                .unwrap();
            assert!(st.success());
        } else {
            std::fs::copy(p, d.join(name)).unwrap();
        }
    }
    let v = json_bytes(&[&s(&d)]);
    let whole = json_bytes(&[&s(&fixture("rotated/whole.pcap"))]);
    assert_eq!(without_inputs(&v), without_inputs(&whole));
    let v: Value = serde_json::from_slice(&v).unwrap();
    let gz = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["gzip"] == true)
        .count();
    assert_eq!(gz, 3);
}
