//! Analyses captures and prints only the summary counts: for profiling the
//! pipeline without output rendering (`perf record target/release/examples/analyze_only F`).

use httpreuse::analyzer::{Options, analyze};
use httpreuse::capture::Input;

fn main() {
    let inputs: Vec<Input> = std::env::args()
        .skip(1)
        .map(|p| Input::Path(p.into()))
        .collect();
    match analyze(&inputs, Options::default()) {
        Ok(r) => println!(
            "{} frames, {} connections, {} requests",
            r.summary.frames, r.summary.connections, r.summary.requests
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
