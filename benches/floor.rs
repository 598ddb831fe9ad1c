//! The read floor: the least work a one-core HTTP/1 connection analyser has
//! to do on a capture, to judge httpreuse's speed against (issue 8, "Speed").
//!
//! What it does, per frame, on one thread:
//! - walks a memory-mapped pcap file (classic pcap, either byte order,
//!   micro- or nanosecond; link type Ethernet only);
//! - decodes with etherparse's *strict* per-layer slices
//!   ([`Ethernet2Slice`], [`Ipv4Slice`], [`TcpSlice`]; not the `Lax*` ones);
//! - looks the connection up in an `FxHashMap` keyed by the symmetric
//!   IPv4 four-tuple (a SYN with a new initial sequence number on a known
//!   four-tuple starts a new flow, as a reused client port does);
//! - follows each direction's sequence numbers (retransmitted bytes are
//!   dropped, a gap inside a body being skipped is absorbed, any other gap
//!   stops that direction and is counted);
//! - finds head ends with `memchr::memmem` (`\r\n\r\n`), parses the heads
//!   with httparse (requests on the client's side, responses on the
//!   server's) and skips bodies by `Content-Length` (1xx, 204 and 304 have
//!   none; a response without a length runs to the end of the connection).
//!
//! What it leaves out, on purpose: chunked bodies (counted, that direction
//! stops), pairing responses with requests (so a response to HEAD that
//! carries a `Content-Length` is mis-skipped), IPv6, VLAN tags, pcapng,
//! every report. Its counts are there so that a run can be checked against
//! tshark and httpreuse on the same file, not to replace either.
//!
//! Run (a `[[bench]]` target with `harness = false`):
//!
//! ```sh
//! cargo bench --bench floor -- /work/bigcap/big.pcap
//! # or the built binary alone, for /usr/bin/time (see benches/run.sh):
//! cargo bench --bench floor --no-run   # prints target/release/deps/floor-<hash>
//! ```
//!
//! It prints one line of `key=value` counts and figures. Timed figures are
//! printed, never asserted: the machines here are shared.

use std::collections::hash_map::Entry;
use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use etherparse::{EtherType, Ethernet2Slice, IpNumber, Ipv4Slice, TcpSlice};
use memchr::memmem;
use rustc_hash::FxHashMap;

/// A head longer than this (with no `\r\n\r\n`) stops its direction.
const MAX_HEAD: usize = 64 * 1024;
/// Header slots for httparse.
const MAX_HEADERS: usize = 64;

#[derive(Default, Debug)]
struct Counts {
    frames: u64,
    /// Frames that are Ethernet + IPv4 + TCP and were looked up.
    tcp_frames: u64,
    /// Frames that are not Ethernet/IPv4/TCP, or fragments, or malformed.
    skipped: u64,
    flows: u64,
    /// Flows that began with a SYN from the client.
    syn_flows: u64,
    requests: u64,
    responses: u64,
    /// Payload bytes delivered in order to the HTTP layer.
    stream_bytes: u64,
    /// Bytes skipped as message bodies.
    body_bytes: u64,
    /// Gaps in a direction's sequence space that could not be absorbed.
    gaps: u64,
    /// Heads httparse rejected, or longer than `MAX_HEAD`.
    bad_heads: u64,
    /// Messages with `Transfer-Encoding` (not followed here).
    chunked: u64,
}

/// One direction of a flow.
#[derive(Default)]
struct Half {
    /// Sequence number of the next byte expected, once `synced`.
    next_seq: u32,
    synced: bool,
    /// Body bytes still to skip (`u64::MAX`: to the end of the connection).
    skip: u64,
    /// The start of a head that has not ended yet.
    partial: Vec<u8>,
    /// Parsing stopped (a gap, a bad head, a chunked body).
    dead: bool,
}

struct Flow {
    /// Initial sequence number of the SYN that opened it, if seen.
    syn_seq: Option<u32>,
    /// Which half (0: sent by the lower endpoint of the key) is the client's.
    client: usize,
    halves: [Half; 2],
}

impl Flow {
    fn new(client: usize) -> Self {
        Flow {
            syn_seq: None,
            client,
            halves: [Half::default(), Half::default()],
        }
    }
}

/// `a` is before `b` in sequence space (RFC 1982 style).
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The body length a head announces, or `None` when the message's framing
/// is not followed here (chunked).
fn body_len(headers: &[httparse::Header<'_>]) -> Option<Option<u64>> {
    let mut len = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
    }
    Some(len)
}

/// Parses one complete head (ending in `\r\n\r\n`); returns the body bytes
/// to skip after it, or `None` when the direction must stop.
fn parse_head(head: &[u8], request: bool, c: &mut Counts) -> Option<u64> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    if request {
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(head) {
            Ok(httparse::Status::Complete(_)) => {
                c.requests += 1;
                match body_len(req.headers) {
                    Some(len) => Some(len.unwrap_or(0)),
                    None => {
                        c.chunked += 1;
                        None
                    }
                }
            }
            _ => {
                c.bad_heads += 1;
                None
            }
        }
    } else {
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(head) {
            Ok(httparse::Status::Complete(_)) => {
                c.responses += 1;
                let code = resp.code.unwrap_or(0);
                if (100..200).contains(&code) || code == 204 || code == 304 {
                    return Some(0);
                }
                match body_len(resp.headers) {
                    Some(len) => Some(len.unwrap_or(u64::MAX)),
                    None => {
                        c.chunked += 1;
                        None
                    }
                }
            }
            _ => {
                c.bad_heads += 1;
                None
            }
        }
    }
}

impl Half {
    /// Feeds in-order stream bytes to the HTTP layer.
    fn feed(
        &mut self,
        mut data: &[u8],
        request: bool,
        finder: &memmem::Finder<'_>,
        c: &mut Counts,
    ) {
        c.stream_bytes += data.len() as u64;
        while !self.dead {
            if self.skip > 0 {
                let n = usize::try_from(self.skip).map_or(data.len(), |s| s.min(data.len()));
                c.body_bytes += n as u64;
                data = data.get(n..).unwrap_or_default();
                if self.skip != u64::MAX {
                    self.skip -= n as u64;
                }
            }
            if data.is_empty() {
                return;
            }
            if self.partial.is_empty() {
                match finder.find(data) {
                    Some(p) => {
                        let (head, rest) = data.split_at(p + 4);
                        match parse_head(head, request, c) {
                            Some(skip) => self.skip = skip,
                            None => self.dead = true,
                        }
                        data = rest;
                    }
                    None => {
                        if data.len() > MAX_HEAD {
                            c.bad_heads += 1;
                            self.dead = true;
                        } else {
                            self.partial.extend_from_slice(data);
                        }
                        return;
                    }
                }
            } else {
                // The head began in an earlier segment: search again from
                // just before the old end, so a `\r\n\r\n` split between
                // segments is found.
                let old = self.partial.len();
                let take = data.len().min(MAX_HEAD.saturating_sub(old) + 1);
                let (now, later) = data.split_at(take);
                self.partial.extend_from_slice(now);
                let from = old.saturating_sub(3);
                let found = self
                    .partial
                    .get(from..)
                    .and_then(|tail| finder.find(tail))
                    .map(|p| from + p + 4);
                match found {
                    Some(end) => {
                        let skip = self
                            .partial
                            .get(..end)
                            .and_then(|h| parse_head(h, request, c));
                        match skip {
                            Some(skip) => self.skip = skip,
                            None => self.dead = true,
                        }
                        // `end > old`: the head did not end before.
                        data = data.get(end - old..).unwrap_or_default();
                        self.partial.clear();
                    }
                    None if self.partial.len() > MAX_HEAD || !later.is_empty() => {
                        c.bad_heads += 1;
                        self.dead = true;
                        self.partial = Vec::new();
                    }
                    None => return,
                }
            }
        }
    }

    /// Delivers one segment's payload in sequence order.
    fn segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        request: bool,
        finder: &memmem::Finder<'_>,
        c: &mut Counts,
    ) {
        if payload.is_empty() {
            return;
        }
        if !self.synced {
            // Picked up mid-stream: start at this segment.
            self.synced = true;
            self.next_seq = seq;
        }
        let len = payload.len() as u32;
        let data = if seq == self.next_seq {
            payload
        } else if seq_lt(seq, self.next_seq) {
            // Retransmitted bytes, maybe with new ones after them.
            let old = self.next_seq.wrapping_sub(seq);
            if old >= len {
                return;
            }
            payload.get(old as usize..).unwrap_or_default()
        } else {
            let gap = u64::from(seq.wrapping_sub(self.next_seq));
            if !self.dead && self.skip >= gap && self.partial.is_empty() {
                // Lost bytes inside a body being skipped change nothing.
                if self.skip != u64::MAX {
                    self.skip -= gap;
                }
            } else if !self.dead {
                c.gaps += 1;
                self.dead = true;
                self.partial = Vec::new();
            }
            payload
        };
        self.next_seq = self.next_seq.wrapping_add(data.len() as u32);
        if !self.dead {
            self.feed(data, request, finder, c);
        }
    }
}

/// One IPv4 endpoint as 48 bits: address, port.
fn endpoint(ip: [u8; 4], port: u16) -> u64 {
    (u64::from(u32::from_be_bytes(ip)) << 16) | u64::from(port)
}

struct Floor<'f> {
    flows: FxHashMap<u128, Flow>,
    finder: memmem::Finder<'f>,
    c: Counts,
}

impl Floor<'_> {
    fn frame(&mut self, data: &[u8]) {
        self.c.frames += 1;
        let Ok(eth) = Ethernet2Slice::from_slice_without_fcs(data) else {
            self.c.skipped += 1;
            return;
        };
        if eth.ether_type() != EtherType::IPV4 {
            self.c.skipped += 1;
            return;
        }
        let Ok(ip) = Ipv4Slice::from_slice(eth.payload_slice()) else {
            self.c.skipped += 1;
            return;
        };
        let ipp = ip.payload();
        if ipp.ip_number != IpNumber::TCP || ipp.fragmented {
            self.c.skipped += 1;
            return;
        }
        let Ok(tcp) = TcpSlice::from_slice(ipp.payload) else {
            self.c.skipped += 1;
            return;
        };
        self.c.tcp_frames += 1;
        let h = ip.header();
        let src = endpoint(h.source(), tcp.source_port());
        let dst = endpoint(h.destination(), tcp.destination_port());
        let (key, dir) = if src <= dst {
            ((u128::from(src) << 64) | u128::from(dst), 0)
        } else {
            ((u128::from(dst) << 64) | u128::from(src), 1)
        };
        let seq = tcp.sequence_number();
        let syn_only = tcp.syn() && !tcp.ack();
        // If this starts a new flow, the client is the SYN's sender, else
        // the SYN-ACK's receiver, else the side with the higher port.
        let client = if syn_only {
            dir
        } else if tcp.syn() || tcp.source_port() < tcp.destination_port() {
            1 - dir
        } else {
            dir
        };
        let c = &mut self.c;
        let flow = match self.flows.entry(key) {
            Entry::Occupied(o) => {
                let f = o.into_mut();
                if syn_only && f.syn_seq != Some(seq) {
                    // A new connection on a reused four-tuple.
                    c.flows += 1;
                    c.syn_flows += 1;
                    *f = Flow::new(client);
                }
                f
            }
            Entry::Vacant(v) => {
                c.flows += 1;
                if syn_only {
                    c.syn_flows += 1;
                }
                v.insert(Flow::new(client))
            }
        };
        let request = dir == flow.client;
        let Some(half) = flow.halves.get_mut(dir) else {
            return;
        };
        if tcp.syn() {
            if syn_only {
                flow.syn_seq = Some(seq);
            }
            half.synced = true;
            half.next_seq = seq.wrapping_add(1);
            return;
        }
        half.segment(seq, tcp.payload(), request, &self.finder, c);
    }
}

/// Reads a u32 of the file's byte order at `at`.
fn u32_at(buf: &[u8], at: usize, be: bool) -> Option<u32> {
    let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if be {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

fn run(path: &str) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let t = Instant::now();
    // SAFETY: the file is only read; a capture truncated by another process
    // while mapped would fault, which is acceptable for a benchmark.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{path}: {e}"))?;
    let _ = map.advise(memmap2::Advice::Sequential);
    let buf: &[u8] = &map;
    let magic = u32_at(buf, 0, false).ok_or("not a pcap file (too short)")?;
    let be = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => false,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
        _ => {
            return Err(format!(
                "{path}: not a classic pcap file (magic {magic:#010x})"
            ));
        }
    };
    let linktype = u32_at(buf, 20, be).ok_or("truncated pcap header")? & 0x0fff_ffff;
    if linktype != 1 {
        return Err(format!(
            "{path}: link type {linktype}, only Ethernet (1) is read"
        ));
    }
    let mut floor = Floor {
        flows: FxHashMap::default(),
        finder: memmem::Finder::new(b"\r\n\r\n"),
        c: Counts::default(),
    };
    let mut at = 24usize;
    let mut truncated = false;
    while at < buf.len() {
        let Some(incl) = u32_at(buf, at + 8, be) else {
            truncated = true;
            break;
        };
        let start = at + 16;
        let Some(data) = start
            .checked_add(incl as usize)
            .and_then(|end| buf.get(start..end))
        else {
            truncated = true;
            break;
        };
        floor.frame(data);
        at = start + data.len();
    }
    let secs = t.elapsed().as_secs_f64();
    let c = &floor.c;
    let bytes = buf.len() as f64;
    println!(
        "floor file={path} bytes={} frames={} tcp_frames={} skipped={} flows={} syn_flows={} \
         requests={} responses={} stream_bytes={} body_bytes={} gaps={} bad_heads={} chunked={} \
         truncated={truncated} secs={secs:.3} gbps={:.2} mpps={:.2} rss_anon_kib={}",
        buf.len(),
        c.frames,
        c.tcp_frames,
        c.skipped,
        c.flows,
        c.syn_flows,
        c.requests,
        c.responses,
        c.stream_bytes,
        c.body_bytes,
        c.gaps,
        c.bad_heads,
        c.chunked,
        bytes / secs / 1e9,
        c.frames as f64 / secs / 1e6,
        rss_anon_kib(),
    );
    Ok(())
}

/// Anonymous resident memory of this process (heap; not the mapped file).
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

fn main() -> ExitCode {
    // `cargo bench` adds `--bench`; every other argument is a capture.
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if files.is_empty() {
        eprintln!(
            "floor: no capture given (cargo bench --bench floor -- FILE.pcap); nothing to do"
        );
        return ExitCode::SUCCESS;
    }
    for f in &files {
        if let Err(e) = run(f) {
            eprintln!("floor: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
