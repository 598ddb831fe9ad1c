//! `hostile`: the five hostile captures of issue 8, for memory bounds.
//!
//! These are **hand-built packets**, not recordings: no real client or
//! server makes this traffic on purpose (a SYN flood tool comes closest to
//! the first), and no network is used: the frames are written straight to
//! pcap files. Every frame is Ethernet II / IPv4 / TCP with correct IPv4 and
//! TCP checksums, classic pcap, microsecond timestamps from
//! 2026-01-01T00:00:00Z. Clients are 127.1.0.1 and up, ports 10000-59999
//! (connection i: address 127.1.0.1 + i / 50000, port 10000 + i % 50000);
//! the server is 127.0.0.1:80. Connections follow one another in time
//! (frames are written in time order, one connection's frames at a time).
//!
//! | case | what | spacing | what should bound memory |
//! |---|---|---|---|
//! | `syn-flood` | 1M SYNs, never answered, each a new client port | 1 ms (1000 s) | the handshake timeout, the connection cap |
//! | `abandoned` | 200k connections: handshake, one GET, the server's ACK, then silence (no response, no FIN) | 5 ms (1000 s) | the inactivity timeout, the connection cap |
//! | `ooo` | 10k connections, each: handshake, then 1 MiB of client data in 1460-byte segments starting 1460 bytes after the first byte (a hole at the start, never filled), no FIN | 10 ms (100 s) | the global buffer budget (all 10k are open at the end) |
//! | `pipelined` | 1 connection: handshake, then 100k pipelined GETs (about 4 MB, cut into 1460-byte segments regardless of request boundaries, each ACKed by the server), never answered, no FIN | 20 µs per segment | the budget for pending requests |
//! | `small-conns` | 1M complete connections: SYN, SYN-ACK, ACK, GET, 200 with a 2-byte body, client FIN, server FIN, ACK | 500 µs (500 s) | nothing but concluded connections being written out |
//!
//! `--scale F` multiplies the number of connections (and the pipelined
//! requests) for quick checks; the 1 MiB per `ooo` connection stays.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use crate::pcap::{ACK, Ep, FIN, Header, PSH, SYN, Writer, tcp_frame};

/// Capture start: 2026-01-01T00:00:00Z, in microseconds.
const T0: u64 = 1_767_225_600 * 1_000_000;
const MSS: u16 = 1460;
const SERVER: Ep = Ep {
    ip: [127, 0, 0, 1],
    port: 80,
};

/// The five cases, by name.
pub const CASES: [&str; 5] = ["syn-flood", "abandoned", "ooo", "pipelined", "small-conns"];

fn client(i: u64) -> Ep {
    let host = (i / 50_000) as u32;
    Ep {
        ip: (u32::from_be_bytes([127, 1, 0, 1]) + host).to_be_bytes(),
        port: 10_000 + (i % 50_000) as u16,
    }
}

fn isn(i: u64, salt: u32) -> u32 {
    (i as u32).wrapping_mul(2_654_435_761).wrapping_add(salt)
}

struct Gen<W: Write> {
    w: Writer<W>,
    buf: Vec<u8>,
    ip_id: u16,
    conns: u64,
}

impl<W: Write> Gen<W> {
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        ts: u64,
        src: Ep,
        dst: Ep,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        self.ip_id = self.ip_id.wrapping_add(1);
        let mss = (flags & SYN != 0).then_some(MSS);
        tcp_frame(
            &mut self.buf,
            self.ip_id,
            src,
            dst,
            seq,
            ack,
            flags,
            mss,
            payload,
        );
        self.w.record(ts, 0, &self.buf)
    }

    /// SYN, SYN-ACK, ACK at `t`, +50 µs, +100 µs; returns the client's and
    /// the server's next sequence numbers.
    fn handshake(&mut self, t: u64, c: Ep, i: u64) -> io::Result<(u32, u32)> {
        let (ci, si) = (isn(i, 0x1234_5678), isn(i, 0x9abc_def0));
        self.send(t, c, SERVER, ci, 0, SYN, b"")?;
        self.send(t + 50, SERVER, c, si, ci.wrapping_add(1), SYN | ACK, b"")?;
        self.send(
            t + 100,
            c,
            SERVER,
            ci.wrapping_add(1),
            si.wrapping_add(1),
            ACK,
            b"",
        )?;
        self.conns += 1;
        Ok((ci.wrapping_add(1), si.wrapping_add(1)))
    }
}

fn request(i: u64) -> Vec<u8> {
    format!("GET /hostile/{i} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: httpreuse-xtask\r\n\r\n")
        .into_bytes()
}

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

fn scaled(n: u64, scale: f64) -> u64 {
    ((n as f64 * scale).round() as u64).max(1)
}

fn generate<W: Write>(case: &str, scale: f64, g: &mut Gen<W>) -> io::Result<()> {
    match case {
        "syn-flood" => {
            for i in 0..scaled(1_000_000, scale) {
                g.send(
                    T0 + i * 1000,
                    client(i),
                    SERVER,
                    isn(i, 0x1234_5678),
                    0,
                    SYN,
                    b"",
                )?;
                g.conns += 1;
            }
        }
        "abandoned" => {
            for i in 0..scaled(200_000, scale) {
                let (t, c) = (T0 + i * 5000, client(i));
                let (cs, ss) = g.handshake(t, c, i)?;
                let req = request(i);
                g.send(t + 150, c, SERVER, cs, ss, PSH | ACK, &req)?;
                let after = cs.wrapping_add(req.len() as u32);
                g.send(t + 200, SERVER, c, ss, after, ACK, b"")?;
            }
        }
        "ooo" => {
            let seg = vec![b'x'; usize::from(MSS)];
            const DATA: u32 = 1 << 20;
            for i in 0..scaled(10_000, scale) {
                let (t, c) = (T0 + i * 10_000, client(i));
                let (cs, ss) = g.handshake(t, c, i)?;
                // The hole: bytes cs .. cs+1460 are never sent.
                let (mut off, mut k) = (0u32, 0u64);
                while off < DATA {
                    let n = (DATA - off).min(u32::from(MSS));
                    let seq = cs.wrapping_add(u32::from(MSS) + off);
                    g.send(
                        t + 150 + k * 10,
                        c,
                        SERVER,
                        seq,
                        ss,
                        ACK,
                        &seg[..n as usize],
                    )?;
                    off += n;
                    k += 1;
                }
            }
        }
        "pipelined" => {
            let c = client(0);
            let (mut cs, ss) = g.handshake(T0, c, 0)?;
            let mut stream = Vec::new();
            for i in 0..scaled(100_000, scale) {
                stream.extend_from_slice(
                    format!("GET /p/{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
                );
            }
            let mut t = T0 + 150;
            for chunk in stream.chunks(usize::from(MSS)) {
                g.send(t, c, SERVER, cs, ss, PSH | ACK, chunk)?;
                cs = cs.wrapping_add(chunk.len() as u32);
                g.send(t + 10, SERVER, c, ss, cs, ACK, b"")?;
                t += 20;
            }
        }
        "small-conns" => {
            for i in 0..scaled(1_000_000, scale) {
                let (t, c) = (T0 + i * 500, client(i));
                let (cs, ss) = g.handshake(t, c, i)?;
                let req = request(i);
                let cs2 = cs.wrapping_add(req.len() as u32);
                let ss2 = ss.wrapping_add(RESPONSE.len() as u32);
                g.send(t + 150, c, SERVER, cs, ss, PSH | ACK, &req)?;
                g.send(t + 300, SERVER, c, ss, cs2, PSH | ACK, RESPONSE)?;
                g.send(t + 350, c, SERVER, cs2, ss2, FIN | ACK, b"")?;
                g.send(t + 400, SERVER, c, ss2, cs2.wrapping_add(1), FIN | ACK, b"")?;
                g.send(
                    t + 450,
                    c,
                    SERVER,
                    cs2.wrapping_add(1),
                    ss2.wrapping_add(1),
                    ACK,
                    b"",
                )?;
            }
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown case {other:?} (cases: {})", CASES.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Writes one case to `out` (a path, or `-` for standard output).
pub fn write_case(case: &str, out: &str, scale: f64) -> io::Result<()> {
    let sink: Box<dyn Write> = if out == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(out)?)
    };
    let w = Writer::new(
        BufWriter::with_capacity(1 << 20, sink),
        Header::ethernet_usec(),
    )?;
    let mut g = Gen {
        w,
        buf: Vec::new(),
        ip_id: 0,
        conns: 0,
    };
    generate(case, scale, &mut g)?;
    let conns = g.conns;
    let (frames, bytes) = g.w.finish()?;
    eprintln!("hostile: {case} -> {out}: {conns} connections, {frames} frames, {bytes} bytes");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap;

    /// Reads back a generated case: frames in time order, all TCP/IPv4
    /// with valid checksums; returns (frames, SYNs without ACK, payload bytes).
    fn check(case: &str, scale: f64) -> (u64, u64, u64) {
        let mut out = Vec::new();
        let w = Writer::new(&mut out, Header::ethernet_usec()).unwrap();
        let mut g = Gen {
            w,
            buf: Vec::new(),
            ip_id: 0,
            conns: 0,
        };
        generate(case, scale, &mut g).unwrap();
        g.w.finish().unwrap();
        let mut r = &out[..];
        let h = pcap::read_header(&mut r).unwrap();
        let mut buf = Vec::new();
        let (mut frames, mut syns, mut payload, mut last) = (0, 0, 0, 0);
        while let Some(rec) = pcap::read_record(&mut r, &h, &mut buf).unwrap() {
            assert!(rec.ts >= last, "time order");
            last = rec.ts;
            assert_eq!(pcap::fold(pcap::sum16(&buf[14..34])), 0, "IPv4 checksum");
            let src = [buf[26], buf[27], buf[28], buf[29]];
            let dst = [buf[30], buf[31], buf[32], buf[33]];
            assert_eq!(pcap::tcp4_checksum(src, dst, &buf[34..]), 0, "TCP checksum");
            let hlen = usize::from(buf[34 + 12] >> 4) * 4;
            if buf[34 + 13] == SYN {
                syns += 1;
            }
            payload += (buf.len() - 34 - hlen) as u64;
            frames += 1;
        }
        (frames, syns, payload)
    }

    #[test]
    fn cases_have_the_shape_the_docs_say() {
        assert_eq!(check("syn-flood", 0.001), (1000, 1000, 0));
        let req = |i: u64| request(i).len() as u64;
        let (f, s, p) = check("abandoned", 0.001);
        assert_eq!((f, s, p), (1000, 200, (0..200).map(req).sum()));
        let (f, s, p) = check("ooo", 0.0002);
        assert_eq!((f, s, p), (2 * (3 + 719), 2, 2 << 20));
        let (f, s, p) = check("small-conns", 0.0001);
        let resp = RESPONSE.len() as u64;
        assert_eq!(
            (f, s, p),
            (800, 100, (0..100).map(req).sum::<u64>() + 100 * resp)
        );
        let (f, s, p) = check("pipelined", 0.001);
        let stream: u64 = (0..100)
            .map(|i| format!("GET /p/{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").len() as u64)
            .sum();
        assert_eq!((s, p), (1, stream));
        assert_eq!(f, 3 + 2 * stream.div_ceil(1460));
        assert!(check_unknown());
    }

    fn check_unknown() -> bool {
        let mut out = Vec::new();
        let w = Writer::new(&mut out, Header::ethernet_usec()).unwrap();
        let mut g = Gen {
            w,
            buf: Vec::new(),
            ip_id: 0,
            conns: 0,
        };
        generate("nope", 1.0, &mut g).is_err()
    }
}
