//! The examples in README.md are what the binary prints today.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_httpreuse"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The `text` code blocks of the README section "The report".
fn examples() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## The report").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    section
        .split("```text\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_string())
        .collect()
}

#[test]
fn readme_examples_match_the_binary() {
    let ex = examples();
    assert_eq!(ex.len(), 2);
    assert_eq!(
        ex[0],
        run(&["fixtures/captures/keepalive-requests-rollover.pcap"])
    );
    let brief = run(&[
        "--brief",
        "fixtures/captures/stale-reuse.pcap",
        "fixtures/captures/broken-promise.pcap",
    ]);
    let connections = &brief[brief.find("Connections").unwrap()..];
    let shown = ex[1].split("...\n").nth(1).unwrap();
    assert_eq!(shown, connections);
}

/// The README's table of anomalies is the catalogue in src/anomaly.rs, in
/// its order. `UPDATE_README=1 cargo test --test readme` rewrites it.
#[test]
fn readme_lists_every_anomaly_of_the_catalogue() {
    use httpreuse::anomaly::AnomalyKind;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (begin, end) = ("<!-- anomalies:begin -->\n", "<!-- anomalies:end -->");
    let a = readme.find(begin).expect("begin marker") + begin.len();
    let b = readme.find(end).expect("end marker");
    let mut table = String::from("| kind | layer | meaning |\n|---|---|---|\n");
    for k in AnomalyKind::ALL {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            k.name(),
            k.layer().name(),
            k.meaning()
        ));
    }
    if std::env::var_os("UPDATE_README").is_some() {
        let new = format!("{}{}{}", &readme[..a], table, &readme[b..]);
        std::fs::write(path, new).unwrap();
        return;
    }
    assert_eq!(
        &readme[a..b],
        table,
        "run UPDATE_README=1 cargo test --test readme"
    );
}
