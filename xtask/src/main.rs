//! Capture tools for httpreuse's benchmarks (see benches/README.md).
//!
//! ```text
//! cargo run --release --manifest-path xtask/Cargo.toml -- repeat IN.pcap OUT.pcap|- [--copies 4] [--gap SECS] [--server-port P]
//! cargo run --release --manifest-path xtask/Cargo.toml -- hostile DIR [--case NAME]... [--scale F]
//! cargo run --release --manifest-path xtask/Cargo.toml -- hostile - --case NAME [--scale F]
//! ```
//!
//! `repeat`: see [`repeat`]; `hostile`: see [`hostile`] (hand-built
//! packets). Neither uses the network: they read and write pcap files.

mod hostile;
mod pcap;
mod repeat;

use std::process::ExitCode;

const USAGE: &str = "usage:
  xtask repeat IN.pcap OUT.pcap|- [--copies N (4)] [--gap SECS (1)] [--server-port P]
      OUT: N time-shifted copies of IN; copy k's client addresses raised by k
  xtask hostile DIR [--case NAME]... [--scale F (1)]
      writes DIR/hostile-NAME.pcap for each case (default: all five)
  xtask hostile - --case NAME [--scale F]
      writes one case to standard output
  cases: syn-flood abandoned ooo pipelined small-conns";

fn value<T: std::str::FromStr>(
    it: &mut impl Iterator<Item = String>,
    flag: &str,
) -> Result<T, String> {
    it.next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} needs a value"))
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut it = args.into_iter();
    let cmd = it.next().unwrap_or_default();
    let mut pos = Vec::new();
    let mut copies = 4u32;
    let mut gap = 1.0f64;
    let mut server_port = None;
    let mut cases = Vec::new();
    let mut scale = 1.0f64;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--copies" => copies = value(&mut it, &a)?,
            "--gap" => gap = value(&mut it, &a)?,
            "--server-port" => server_port = Some(value(&mut it, &a)?),
            "--case" => cases.push(value::<String>(&mut it, &a)?),
            "--scale" => scale = value(&mut it, &a)?,
            f if f.starts_with("--") => return Err(format!("unknown flag {f}")),
            _ => pos.push(a),
        }
    }
    match (cmd.as_str(), pos.as_slice()) {
        ("repeat", [input, output]) => {
            if copies == 0 || gap.is_nan() || gap < 0.0 {
                return Err("--copies must be at least 1, --gap not negative".into());
            }
            repeat::run(&repeat::Args {
                input: input.clone(),
                output: output.clone(),
                copies,
                gap_secs: gap,
                server_port,
            })
            .map_err(|e| format!("repeat: {e}"))
        }
        ("hostile", [dir]) => {
            if scale.is_nan() || scale <= 0.0 {
                return Err("--scale must be positive".into());
            }
            if dir == "-" {
                let [case] = cases.as_slice() else {
                    return Err("hostile -: give exactly one --case".into());
                };
                return hostile::write_case(case, "-", scale).map_err(|e| format!("hostile: {e}"));
            }
            if cases.is_empty() {
                cases = hostile::CASES.iter().map(|s| s.to_string()).collect();
            }
            for case in &cases {
                let out = format!("{dir}/hostile-{case}.pcap");
                hostile::write_case(case, &out, scale)
                    .map_err(|e| format!("hostile: {out}: {e}"))?;
            }
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
