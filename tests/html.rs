//! The HTML report opened in a real browser: Debian's `chromium`, headless.
//!
//! For each report the page is loaded twice: with `--dump-dom` at
//! `report.html#selfcheck` (the page's own check writes its result into
//! `<output id="selfcheck">`: data rows, the summary's connection count,
//! rows rendered, script errors, CSP violations, resource loads, and, after
//! scrolling the virtualised waterfall from top to bottom, how many
//! distinct `data-conn-id` rows were rendered), and with `--screenshot`.
//! Chromium's own log (`--enable-logging=stderr --v=0`) is searched for
//! console errors and failed loads.
//!
//! How rows are counted: the waterfall is virtualised, so at any moment
//! only the rows in view (plus a few) carry `data-conn-id`; the check
//! requires (1) as many data rows as the report has connections, (2) some
//! rows rendered at first paint, never more than the connections, and (3)
//! every connection's row rendered, with its own `data-conn-id`, somewhere
//! on the way down (`distinct_rows_seen == connections`). No cap applies:
//! every connection has a row.
//!
//! Without chromium these tests fail and say what to install.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use httpreuse::analyzer::{Options, analyze};
use httpreuse::capture::Input;
use httpreuse::report::{self, Report};
use serde_json::Value;

/// One browser at a time (2 cores shared).
static BROWSER: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chromium() -> PathBuf {
    let name = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(&name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p,
        None => panic!(
            "chromium not found on PATH: the HTML report tests need Debian's chromium \
             (apt-get install -y chromium; .ci/run installs it), or CHROMIUM=/path/to/chromium"
        ),
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("httpreuse-html-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs chromium headless with `args`, at most `limit`; stdout and stderr.
fn run_chromium(args: &[String], limit: Duration) -> (String, String) {
    let profile = tmpdir("profile");
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("cannot start chromium");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {limit:?}: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&profile);
    (t_out.join().unwrap(), t_err.join().unwrap())
}

/// Console errors and failed loads in chromium's log (dbus and GPU noise
/// of a headless machine is not the page's).
fn page_problems(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Failed to load resource")
                || l.contains("net::ERR_")
                || l.contains("Content Security Policy")
        })
        .map(str::to_string)
        .collect()
}

fn selfcheck(dom: &str) -> Value {
    let start = dom
        .find("<output id=\"selfcheck\"")
        .expect("no selfcheck output in the DOM");
    let rest = &dom[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest.find("</output>").unwrap();
    let text = rest[open..close]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("selfcheck {text:?}: {e}"))
}

fn render(r: &Report, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.html"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    report::html::write(r, &mut out).unwrap();
    drop(out);
    path
}

/// Loads the page, checks it, takes a screenshot; returns the check.
fn open_and_check(r: &Report, name: &str, limit: Duration) -> Value {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir(name);
    let page = render(r, &dir, name);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Nothing to fetch: no external references at all.
    for bad in [" src=", "href=\"http", "url(http", "@import", "<link"] {
        assert!(!html.contains(bad), "{name}: the page contains {bad:?}");
    }
    let url = format!("file://{}#selfcheck", page.display());
    let (dom, log) = run_chromium(&["--dump-dom".into(), url], limit);
    let check = selfcheck(&dom);
    let problems = page_problems(&log);
    assert!(problems.is_empty(), "{name}: {problems:#?}");
    assert_eq!(check["errors"], serde_json::json!([]), "{name}: {check}");
    assert_eq!(check["resources"], 0, "{name}: {check}");
    let n = r.connections.len() as u64;
    assert_eq!(check["data_rows"], n, "{name}: {check}");
    assert_eq!(check["summary_connections"], n, "{name}: {check}");
    let rendered = check["rendered_rows"].as_u64().unwrap();
    assert!(rendered <= n, "{name}: {check}");
    assert!(rendered >= n.min(20), "{name}: {check}");
    assert_eq!(check["distinct_rows_seen"], n, "{name}: {check}");
    // The controls: every filter gives the rows it should, the zoom
    // buttons halve and restore the window, dragging on the axis over a
    // quarter of it zooms to that quarter, hovering shows details.
    let ui = &check["interactions"];
    for key in [
        "server_filter",
        "reason_filter",
        "anomaly_filter",
        "zoom_buttons",
        "drag_zoom",
    ] {
        assert_eq!(ui[key], true, "{name}: {key}: {check}");
    }
    if n > 0 {
        assert_eq!(ui["hover_row"], true, "{name}: {check}");
    }
    if r.connections.iter().any(|c| !c.exchanges.is_empty()) {
        assert_eq!(ui["hover_exchange"], true, "{name}: {check}");
    }

    let shot = dir.join(format!("{name}.png"));
    let (_, log) = run_chromium(
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,900".into(),
            format!("file://{}", page.display()),
        ],
        limit,
    );
    let problems = page_problems(&log);
    assert!(problems.is_empty(), "{name}: {problems:#?}");
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{name}: no screenshot: {e}"));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
    assert!(
        png.len() > 10_000,
        "{name}: screenshot of {} bytes",
        png.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    check
}

fn fixture(names: &[&str]) -> Report {
    let inputs: Vec<Input> = names
        .iter()
        .map(|n| Input::Path(root().join("fixtures").join(n)))
        .collect();
    analyze(&inputs, Options::default()).unwrap()
}

#[test]
fn fixture_reports_open_cleanly_in_chromium() {
    for name in [
        "captures/findings-idle-race.pcap",
        "captures/findings-rollover.pcap",
        "captures/findings-no-reuse.pcap",
        "captures/multi-connection-mixed.pcap",
        "captures/refused.pcap",
        "captures/lossy.pcap",
        "broken/mixed-protocols.pcap",
    ] {
        let r = fixture(&[name]);
        assert!(!r.connections.is_empty(), "{name}");
        let tag = name.rsplit('/').next().unwrap().replace('.', "_");
        open_and_check(&r, &tag, Duration::from_secs(90));
    }
}

/// Every recorded capture as one run: more connections than the waterfall
/// shows at once, so the virtualisation is exercised.
#[test]
fn all_captures_as_one_report() {
    let mut names = Vec::new();
    for e in std::fs::read_dir(root().join("fixtures/captures")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pcap") {
            names.push(format!(
                "captures/{}",
                p.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    names.sort();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let r = fixture(&refs);
    assert!(r.connections.len() > 60, "{}", r.connections.len());
    let check = open_and_check(&r, "all", Duration::from_secs(90));
    assert!(check["rendered_rows"].as_u64().unwrap() < r.connections.len() as u64);
}

/// 50,000 connections (copies of a recorded capture's connections, spread
/// over 10 minutes: a renderer test, not an analysis test) stay usable:
/// the page loads, and scrolling through all rows renders each one.
#[test]
fn fifty_thousand_connections() {
    let base = fixture(&["captures/findings-idle-race.pcap"]);
    let mut r = base.clone();
    r.connections.clear();
    let n = 50_000u64;
    let t0 = base.connections[0].start;
    for i in 0..n {
        let mut c = base.connections[(i % base.connections.len() as u64) as usize].clone();
        c.id = i;
        c.start = t0 + i as f64 * 0.012;
        r.connections.push(c);
    }
    r.summary.connections = n;
    let check = open_and_check(&r, "fifty-thousand", Duration::from_secs(240));
    assert_eq!(check["distinct_rows_seen"], n);
    let dir = tmpdir("size");
    let page = render(&r, &dir, "size");
    let size = std::fs::metadata(&page).unwrap().len();
    eprintln!("50,000 connections: {size} bytes of HTML");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--format html -o FILE` writes the page to the file, nothing to stdout.
#[test]
fn cli_writes_html_to_a_file() {
    let dir = tmpdir("cli");
    let out = dir.join("report.html");
    let res = Command::new(env!("CARGO_BIN_EXE_httpreuse"))
        .arg("--format")
        .arg("html")
        .arg("-o")
        .arg(&out)
        .arg(root().join("fixtures/captures/findings-rollover.pcap"))
        .output()
        .unwrap();
    assert!(res.status.success(), "{res:?}");
    assert!(res.stdout.is_empty());
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("request_limit_rollover"));
    assert!(html.trim_end().ends_with("</html>"));
    let _ = std::fs::remove_dir_all(&dir);
}
