//! Golden reports: the full JSON and text report of every fixture capture is
//! kept under `tests/golden/` and compared byte for byte, as Zeek's btest
//! baselines are. A change to the analysis shows up here on every capture;
//! such a change is made on purpose, by running
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test --release --test golden
//! ```
//!
//! and explaining the diff of `tests/golden/` in the commit message.
//!
//! A directory named `*.set` (a rotated capture set) is one capture, read
//! as a directory.
//!
//! A capture that cannot be read at all keeps its error message instead
//! (`.err`). Inputs are named relative to the repository root, so the
//! reports do not depend on where the checkout lives.

use std::path::{Path, PathBuf};

use httpreuse::analyzer::{self, Options, analyze};
use httpreuse::capture::Input;
use httpreuse::report;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every capture under `fixtures/` (by extension), sorted.
fn captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let set = p.extension().is_some_and(|x| x == "set");
            if p.is_dir() && set {
                // A rotated capture set (fixtures/rotated/*.set/): one
                // capture, read as a directory.
                out.push(p);
            } else if p.is_dir() {
                walk(&p, out);
            } else {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
                {
                    out.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("fixtures"), &mut out);
    out.sort();
    out
}

/// Runs the analysis the way the binary does (`httpreuse --format json` and
/// `httpreuse --color never`): the streaming engine with each renderer.
fn stream(rel: &Path, r: Box<dyn report::render::SpillRender>) -> Result<Vec<u8>, String> {
    stream_with(rel, r, 1)
}

/// [`stream`] with the per-connection analysis on `threads` workers.
fn stream_with(
    rel: &Path,
    r: Box<dyn report::render::SpillRender>,
    threads: usize,
) -> Result<Vec<u8>, String> {
    let inputs = [Input::Path(rel.to_path_buf())];
    let set = analyzer::open_inputs(&inputs).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    {
        let streamer = report::stream::Streamer::new(r, &mut out);
        let opts = Options {
            threads,
            ..Options::default()
        };
        let mut a = analyzer::Analyzer::with_sink(opts, streamer);
        a.read_set(set);
        let (outcome, streamer) = a.finish_with_sink();
        streamer.finish(&outcome).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// The golden files of one capture and what the analysis gives now.
fn render(rel: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let golden = root()
        .join("tests/golden")
        .join(rel.strip_prefix("fixtures").unwrap());
    let with = |ext: &str| {
        let mut p = golden.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let json = stream(rel, Box::new(report::json::JsonRenderer::new()));
    let text = stream(
        rel,
        Box::new(report::text::TextRenderer::new(
            &report::text::TextOptions {
                color: false,
                exchanges: true,
                connections: Some(20),
            },
        )),
    );
    match (json, text) {
        (Ok(json), Ok(text)) => {
            // The in-memory report renders the same JSON.
            let r = analyze(&[Input::Path(rel.to_path_buf())], Options::default()).unwrap();
            let mut mem = Vec::new();
            report::json::write(&r, &mut mem).unwrap();
            assert!(
                mem == json,
                "{}: in-memory JSON differs from streamed",
                rel.display()
            );
            vec![(with(".json"), json), (with(".txt"), text)]
        }
        (Err(e), _) | (_, Err(e)) => vec![(with(".err"), format!("{e}\n").into_bytes())],
    }
}

/// First differing line, for the failure message.
fn first_diff(want: &[u8], got: &[u8]) -> String {
    let (w, g) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
    for (i, (a, b)) in w.lines().zip(g.lines()).enumerate() {
        if a != b {
            return format!("line {}:\n  golden: {a}\n  now:    {b}", i + 1);
        }
    }
    format!(
        "lengths differ: golden {} lines, now {} lines",
        w.lines().count(),
        g.lines().count()
    )
}

#[test]
fn golden_reports() {
    // Paths relative to the repository root, as a user would type them.
    std::env::set_current_dir(root()).unwrap();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let all = captures();
    assert!(all.len() > 50, "found only {} captures", all.len());
    let mut failures = Vec::new();
    let mut expected_files = std::collections::BTreeSet::new();
    for abs in &all {
        let rel = abs.strip_prefix(root()).unwrap();
        for (path, now) in render(rel) {
            expected_files.insert(path.clone());
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                if std::fs::read(&path).ok().as_deref() != Some(&now[..]) {
                    std::fs::write(&path, &now).unwrap();
                }
                continue;
            }
            match std::fs::read(&path) {
                Ok(want) if want == now => {}
                Ok(want) => failures.push(format!(
                    "{}: differs from {}\n{}",
                    rel.display(),
                    path.display(),
                    first_diff(&want, &now)
                )),
                Err(_) => failures.push(format!(
                    "{}: no golden file {} (run with UPDATE_GOLDEN=1)",
                    rel.display(),
                    path.display()
                )),
            }
        }
    }
    // Golden files whose capture is gone (or now reads differently) are stale.
    let mut stale = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut present = Vec::new();
    walk(&root().join("tests/golden"), &mut present);
    for p in present {
        if !expected_files.contains(&p) {
            if update {
                std::fs::remove_file(&p).unwrap();
            } else {
                stale.push(p.display().to_string());
            }
        }
    }
    assert!(stale.is_empty(), "stale golden files: {stale:?}");
    assert!(
        failures.is_empty(),
        "{} golden report(s) differ; if intended, run UPDATE_GOLDEN=1 cargo test --test golden and explain the diff in the commit:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Worker threads give every fixture's reports byte for byte as one thread
/// does: the JSON and NDJSON reports and the text report with exchange
/// lines (rendered on the workers with threads), and the brief text report
/// (no exchanges wanted: the workers send the findings only what they read
/// of each exchange).
#[test]
fn threads_give_the_same_reports() {
    std::env::set_current_dir(root()).unwrap();
    type Make = fn() -> Box<dyn report::render::SpillRender>;
    let renderers: [(&str, Make); 4] = [
        ("json", || Box::new(report::json::JsonRenderer::new())),
        ("ndjson", || Box::new(report::json::NdjsonRenderer::new())),
        ("text", || {
            Box::new(report::text::TextRenderer::new(
                &report::text::TextOptions {
                    color: false,
                    exchanges: true,
                    connections: None,
                },
            ))
        }),
        ("brief", || {
            Box::new(report::text::TextRenderer::new(
                &report::text::TextOptions {
                    color: false,
                    exchanges: false,
                    connections: Some(5),
                },
            ))
        }),
    ];
    let mut failures = Vec::new();
    let mut compared = 0;
    for abs in captures() {
        let rel = abs.strip_prefix(root()).unwrap();
        for (name, r) in &renderers {
            let Ok(one) = stream_with(rel, r(), 1) else {
                continue;
            };
            for threads in [2, 3] {
                let many = stream_with(rel, r(), threads).unwrap();
                compared += 1;
                if many != one {
                    failures.push(format!(
                        "{} {name} --threads {threads}: {}",
                        rel.display(),
                        first_diff(&one, &many)
                    ));
                }
            }
        }
    }
    assert!(compared > 200, "compared only {compared}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
