//! `repeat`: a longer capture of the same concurrency, made of time-shifted
//! copies of a real one.
//!
//! Copy 0 is the input, byte for byte. Copy k (k >= 1) has every timestamp
//! shifted by k times (the input's span + a gap), so it starts after the
//! previous copy's last frame, and every TCP/IPv4 client address raised by
//! k (127.0.0.1 becomes 127.0.0.2, .3, .4 in copies 1, 2, 3), so its
//! connections are new four-tuples even where a port comes back. The
//! client is the side that is not `--server-port` (default: the side with
//! the higher port). In rewritten frames the IPv4 header checksum and the
//! TCP checksum are recomputed, so they are valid (frames cut by the snap
//! length get an incremental update instead). Frames that are not
//! Ethernet II / IPv4 / TCP are copied with only their time shifted.
//!
//! The input is read k+1 times (once for its time span, once per copy) and
//! streamed out, so the output may be `-` (standard output) and need not
//! be stored: `repeat big.pcap - | httpreuse -`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};

use crate::pcap::{self, Header, Writer};

pub struct Args {
    pub input: String,
    pub output: String,
    pub copies: u32,
    pub gap_secs: f64,
    pub server_port: Option<u16>,
}

fn open(path: &str) -> io::Result<(Header, BufReader<File>)> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let h = pcap::read_header(&mut r)?;
    Ok((h, r))
}

/// Rewrites the client address of one frame for copy `k`; false when the
/// frame is not Ethernet II / IPv4 / TCP (left unchanged).
fn rewrite(f: &mut [u8], k: u32, server_port: Option<u16>) -> bool {
    const IP: usize = 14;
    if f.len() < IP + 20 || f[12..14] != [0x08, 0x00] || f[IP] >> 4 != 4 {
        return false;
    }
    let ihl = usize::from(f[IP] & 0x0f) * 4;
    let tcp = IP + ihl;
    if ihl < 20 || f[IP + 9] != 6 || f.len() < tcp + 20 {
        return false;
    }
    let sport = u16::from_be_bytes([f[tcp], f[tcp + 1]]);
    let dport = u16::from_be_bytes([f[tcp + 2], f[tcp + 3]]);
    let src_is_client = match server_port {
        Some(p) if dport == p => true,
        Some(p) if sport == p => false,
        _ => sport > dport,
    };
    let at = if src_is_client { IP + 12 } else { IP + 16 };
    let old: [u8; 4] = [f[at], f[at + 1], f[at + 2], f[at + 3]];
    let new = u32::from_be_bytes(old).wrapping_add(k).to_be_bytes();
    f[at..at + 4].copy_from_slice(&new);
    // IPv4 header checksum over the header as it now is.
    f[IP + 10..IP + 12].copy_from_slice(&[0, 0]);
    let c = pcap::fold(pcap::sum16(&f[IP..tcp]));
    f[IP + 10..IP + 12].copy_from_slice(&c.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([f[IP + 2], f[IP + 3]]));
    let src: [u8; 4] = [f[IP + 12], f[IP + 13], f[IP + 14], f[IP + 15]];
    let dst: [u8; 4] = [f[IP + 16], f[IP + 17], f[IP + 18], f[IP + 19]];
    if total >= ihl + 20 && IP + total <= f.len() {
        f[tcp + 16..tcp + 18].copy_from_slice(&[0, 0]);
        let c = pcap::tcp4_checksum(src, dst, &f[tcp..IP + total]);
        f[tcp + 16..tcp + 18].copy_from_slice(&c.to_be_bytes());
    } else {
        // RFC 1624 incremental update: HC' = ~(~HC + ~m + m') per word.
        let hc = u16::from_be_bytes([f[tcp + 16], f[tcp + 17]]);
        let mut s = u64::from(!hc);
        for i in [0, 2] {
            s += u64::from(!u16::from_be_bytes([old[i], old[i + 1]]));
            s += u64::from(u16::from_be_bytes([new[i], new[i + 1]]));
        }
        let c = pcap::fold(s);
        f[tcp + 16..tcp + 18].copy_from_slice(&c.to_be_bytes());
    }
    true
}

pub fn run(a: &Args) -> io::Result<()> {
    let (h, mut r) = open(&a.input)?;
    let mut buf = Vec::new();
    let (mut first, mut last, mut n) = (u64::MAX, 0u64, 0u64);
    // Time order is not strict in real captures: take the extremes.
    while let Some(rec) = pcap::read_record(&mut r, &h, &mut buf)? {
        first = first.min(rec.ts);
        last = last.max(rec.ts);
        n += 1;
    }
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no frames in the input",
        ));
    }
    let gap = (a.gap_secs * h.units() as f64) as u64;
    let shift = last - first + gap;
    let out: Box<dyn Write> = if a.output == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(&a.output)?)
    };
    let mut w = Writer::new(BufWriter::with_capacity(1 << 20, out), h)?;
    let mut other = 0u64;
    for k in 0..a.copies {
        let (_, mut r) = open(&a.input)?;
        while let Some(rec) = pcap::read_record(&mut r, &h, &mut buf)? {
            if k > 0 && h.linktype == 1 && !rewrite(&mut buf, k, a.server_port) {
                other += 1;
            }
            w.record(rec.ts + u64::from(k) * shift, rec.orig_len, &buf)?;
        }
    }
    let (frames, bytes) = w.finish()?;
    if h.linktype != 1 {
        eprintln!(
            "repeat: link type {} is not Ethernet: addresses left unchanged",
            h.linktype
        );
    }
    eprintln!(
        "repeat: {} -> {}: {} copies of {n} frames spanning {:.6} s, each shifted {:.6} s; \
         {frames} frames, {bytes} bytes; {other} non-TCP/IPv4 frames not rewritten",
        a.input,
        a.output,
        a.copies,
        (last - first) as f64 / h.units() as f64,
        shift as f64 / h.units() as f64,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::{ACK, Ep, PSH, tcp_frame};

    #[test]
    fn rewrites_the_client_and_keeps_checksums_valid() {
        let c = Ep {
            ip: [127, 0, 0, 1],
            port: 45000,
        };
        let s = Ep {
            ip: [127, 0, 0, 1],
            port: 18180,
        };
        let mut f = Vec::new();
        // Server to client: the destination is rewritten.
        tcp_frame(
            &mut f,
            1,
            s,
            c,
            5,
            6,
            PSH | ACK,
            None,
            b"HTTP/1.1 200 OK\r\n\r\n",
        );
        assert!(rewrite(&mut f, 3, Some(18180)));
        assert_eq!(&f[26..30], &[127, 0, 0, 1]);
        assert_eq!(&f[30..34], &[127, 0, 0, 4]);
        assert_eq!(pcap::fold(pcap::sum16(&f[14..34])), 0);
        assert_eq!(
            pcap::tcp4_checksum([127, 0, 0, 1], [127, 0, 0, 4], &f[34..]),
            0
        );
        // Cut by a snap length: incremental update, still valid.
        let mut g = Vec::new();
        tcp_frame(
            &mut g,
            1,
            c,
            s,
            5,
            6,
            PSH | ACK,
            None,
            b"GET / HTTP/1.1\r\n\r\n",
        );
        let whole = g.clone();
        g.truncate(60);
        assert!(rewrite(&mut g, 1, None));
        let mut expect = whole;
        assert!(rewrite(&mut expect, 1, None));
        assert_eq!(&g[..], &expect[..60]);
    }

    #[test]
    fn leaves_other_frames_alone() {
        let mut arp = vec![0u8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        let before = arp.clone();
        assert!(!rewrite(&mut arp, 1, None));
        assert_eq!(arp, before);
    }
}
