//! Throughput and memory of the whole pipeline on one core.
//!
//! `cargo bench --bench throughput` builds a large capture by replicating a
//! real fixture (each copy gets its own client address and later
//! timestamps, so every copy is a new set of connections), then analyses it
//! and prints MB/s, frames/s and the peak resident memory of the analysis.
//!
//! Environment: `BENCH_SOURCE` (a pcap fixture, Ethernet/IPv4, default
//! fixtures/captures/ab-k.pcap), `BENCH_MB` (size to build, default 512),
//! `BENCH_RUNS` (default 3; the best run is reported).
//!
//! Timed figures are printed, never asserted: machines here are shared.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use httpreuse::analyzer::{Options, analyze};
use httpreuse::capture::{CaptureReader, Input};

/// Anonymous resident memory (heap, stacks): unlike VmRSS it leaves out the
/// pages of the memory-mapped capture, which the kernel can drop at will.
fn rss_anon_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples RssAnon every 5 ms until stopped; returns the peak.
fn sample_peak(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(rss_anon_kib());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        peak.max(rss_anon_kib())
    })
}

struct Frame {
    ts_ns: u64,
    data: Vec<u8>,
}

fn load(source: &Path) -> Vec<Frame> {
    let mut r = CaptureReader::open(&Input::Path(source.to_path_buf())).expect("open source");
    let mut frames = Vec::new();
    while let Some(f) = r.next_frame().expect("read source") {
        assert_eq!(f.linktype, 1, "BENCH_SOURCE must be an Ethernet capture");
        frames.push(Frame {
            ts_ns: f.ts.as_nanos(),
            data: f.data.to_vec(),
        });
    }
    frames
}

/// Rewrites the IPv4 address of the side with the higher port (the client)
/// to 10.a.b.c for copy `k`. Checksums are not recomputed (nothing reads them).
fn rewrite(data: &mut [u8], k: u32) {
    if data.len() < 14 + 20 + 4 || data[12..14] != [0x08, 0x00] {
        return;
    }
    let ihl = ((data[14] & 0x0f) as usize) * 4;
    let tcp = 14 + ihl;
    if data[23] != 6 || data.len() < tcp + 4 {
        return;
    }
    let sport = u16::from_be_bytes([data[tcp], data[tcp + 1]]);
    let dport = u16::from_be_bytes([data[tcp + 2], data[tcp + 3]]);
    let addr = [10, (k >> 16) as u8, (k >> 8) as u8, k as u8];
    if sport > dport {
        data[26..30].copy_from_slice(&addr);
    } else {
        data[30..34].copy_from_slice(&addr);
    }
}

fn build(source: &Path, out: &Path, target_bytes: u64) -> (u64, u64) {
    let frames = load(source);
    let first = frames.first().map_or(0, |f| f.ts_ns);
    let span = frames.last().map_or(0, |f| f.ts_ns - first) + 1_000_000;
    let mut w = BufWriter::with_capacity(1 << 20, File::create(out).expect("create"));
    // pcap header: little-endian, nanosecond, snaplen 262144, Ethernet.
    w.write_all(&0xa1b2_3c4du32.to_le_bytes()).unwrap();
    w.write_all(&2u16.to_le_bytes()).unwrap();
    w.write_all(&4u16.to_le_bytes()).unwrap();
    w.write_all(&[0; 8]).unwrap();
    w.write_all(&262_144u32.to_le_bytes()).unwrap();
    w.write_all(&1u32.to_le_bytes()).unwrap();
    let mut written = 24u64;
    let mut nframes = 0u64;
    let mut k = 0u32;
    let mut buf = Vec::new();
    while written < target_bytes {
        for f in &frames {
            buf.clear();
            buf.extend_from_slice(&f.data);
            rewrite(&mut buf, k);
            let ts = f.ts_ns + u64::from(k) * span;
            w.write_all(&((ts / 1_000_000_000) as u32).to_le_bytes())
                .unwrap();
            w.write_all(&((ts % 1_000_000_000) as u32).to_le_bytes())
                .unwrap();
            w.write_all(&(buf.len() as u32).to_le_bytes()).unwrap();
            w.write_all(&(buf.len() as u32).to_le_bytes()).unwrap();
            w.write_all(&buf).unwrap();
            written += 16 + buf.len() as u64;
            nframes += 1;
        }
        k += 1;
    }
    w.flush().unwrap();
    (written, nframes)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass
    // other flags: only run when asked to bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let source = std::env::var("BENCH_SOURCE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("fixtures/captures/ab-k.pcap"));
    let mb: u64 = std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("synthetic.pcap");
    let (bytes, frames) = build(&source, &out, mb << 20);
    println!(
        "built {} ({:.1} MB, {frames} frames) from {}",
        out.display(),
        bytes as f64 / 1e6,
        source.display()
    );
    // Warm the page cache so the figures measure parsing, not the disk.
    let _ = std::fs::read(&out);
    let mut best = f64::MAX;
    let mut peak = 0;
    let mut summary = String::new();
    for _ in 0..runs {
        let base = rss_anon_kib();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = sample_peak(stop.clone());
        let t = Instant::now();
        let report = analyze(&[Input::Path(out.clone())], Options::default()).expect("analyze");
        let secs = t.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let p = sampler.join().unwrap_or(0);
        best = best.min(secs);
        peak = peak.max(p.saturating_sub(base));
        summary = format!(
            "{} connections, {} requests",
            report.summary.connections, report.summary.requests
        );
        drop(report);
    }
    println!("analysed: {summary}");
    println!(
        "best of {runs}: {:.3} s  {:.0} MB/s  {:.2} M frames/s  peak anonymous memory over baseline (report included) {:.1} MB",
        best,
        bytes as f64 / 1e6 / best,
        frames as f64 / 1e6 / best,
        peak as f64 / 1024.0
    );
}
