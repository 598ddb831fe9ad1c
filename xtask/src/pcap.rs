//! Classic pcap reading and writing, Internet checksums and a hand-built
//! Ethernet/IPv4/TCP frame builder. Only what the two tools need.

use std::io::{self, Read, Write};

/// The 24-byte global header of a classic pcap file.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    /// The header as it was read, written back unchanged by `repeat`.
    pub raw: [u8; 24],
    /// Big-endian fields.
    pub be: bool,
    /// Nanosecond timestamps (else microseconds).
    pub nanos: bool,
    pub linktype: u32,
}

impl Header {
    /// Timestamp units per second.
    pub fn units(&self) -> u64 {
        if self.nanos { 1_000_000_000 } else { 1_000_000 }
    }

    fn u32(&self, b: [u8; 4]) -> u32 {
        if self.be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn bytes(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A little-endian, microsecond, Ethernet header (snap length 262144).
    pub fn ethernet_usec() -> Self {
        let mut raw = [0u8; 24];
        raw[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        raw[4..6].copy_from_slice(&2u16.to_le_bytes());
        raw[6..8].copy_from_slice(&4u16.to_le_bytes());
        raw[16..20].copy_from_slice(&262_144u32.to_le_bytes());
        raw[20..24].copy_from_slice(&1u32.to_le_bytes());
        Header {
            raw,
            be: false,
            nanos: false,
            linktype: 1,
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads and checks the global header.
pub fn read_header(r: &mut impl Read) -> io::Result<Header> {
    let mut raw = [0u8; 24];
    r.read_exact(&mut raw)?;
    let magic = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let (be, nanos) = match magic {
        0xa1b2_c3d4 => (false, false),
        0xa1b2_3c4d => (false, true),
        0xd4c3_b2a1 => (true, false),
        0x4d3c_b2a1 => (true, true),
        _ => {
            return Err(invalid(format!(
                "not a classic pcap file (magic {magic:#010x}; pcapng is not read here)"
            )));
        }
    };
    let mut h = Header {
        raw,
        be,
        nanos,
        linktype: 0,
    };
    h.linktype = h.u32([raw[20], raw[21], raw[22], raw[23]]) & 0x0fff_ffff;
    Ok(h)
}

/// One record's header fields; its bytes are in the caller's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// Timestamp in the file's units (`Header::units` per second).
    pub ts: u64,
    pub orig_len: u32,
}

/// Reads the next record into `buf`; `None` at a clean end of file.
pub fn read_record(r: &mut impl Read, h: &Header, buf: &mut Vec<u8>) -> io::Result<Option<Record>> {
    let mut rh = [0u8; 16];
    // A clean end is zero bytes of a record header; a part of one is an error.
    let mut got = 0;
    while got < rh.len() {
        match r.read(&mut rh[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Err(invalid("truncated record header".into())),
            n => got += n,
        }
    }
    let f = |i: usize| h.u32([rh[i], rh[i + 1], rh[i + 2], rh[i + 3]]);
    let (sec, frac, incl, orig) = (f(0), f(4), f(8), f(12));
    if incl > 1 << 24 {
        return Err(invalid(format!("record of {incl} bytes")));
    }
    buf.resize(incl as usize, 0);
    r.read_exact(buf)?;
    Ok(Some(Record {
        ts: u64::from(sec) * h.units() + u64::from(frac),
        orig_len: orig,
    }))
}

/// Writes records in the byte order and resolution of `h`.
pub struct Writer<W: Write> {
    w: W,
    h: Header,
    pub frames: u64,
    pub bytes: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(mut w: W, h: Header) -> io::Result<Self> {
        w.write_all(&h.raw)?;
        Ok(Writer {
            w,
            h,
            frames: 0,
            bytes: 24,
        })
    }

    /// Writes one record; `ts` is in the header's units.
    pub fn record(&mut self, ts: u64, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let units = self.h.units();
        let sec = u32::try_from(ts / units).map_err(|_| invalid("timestamp past 2106".into()))?;
        let frac = (ts % units) as u32;
        let incl = u32::try_from(data.len()).map_err(|_| invalid("frame too long".into()))?;
        let mut rh = [0u8; 16];
        rh[0..4].copy_from_slice(&self.h.bytes(sec));
        rh[4..8].copy_from_slice(&self.h.bytes(frac));
        rh[8..12].copy_from_slice(&self.h.bytes(incl));
        rh[12..16].copy_from_slice(&self.h.bytes(orig_len.max(incl)));
        self.w.write_all(&rh)?;
        self.w.write_all(data)?;
        self.frames += 1;
        self.bytes += 16 + u64::from(incl);
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<(u64, u64)> {
        self.w.flush()?;
        Ok((self.frames, self.bytes))
    }
}

/// One's-complement sum of `data` as big-endian 16-bit words, unfolded.
/// `data` must start at an even offset of the summed message.
pub fn sum16(data: &[u8]) -> u64 {
    // Summing 32-bit words and folding later gives the same result
    // (2^16 = 1 modulo 0xffff) with half the additions.
    let mut chunks = data.chunks_exact(4);
    let mut s: u64 = 0;
    for c in &mut chunks {
        s += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut pad = [0u8; 4];
    pad[..rest.len()].copy_from_slice(rest);
    s + u64::from(u32::from_be_bytes(pad))
}

/// Folds a sum to 16 bits and complements it: the checksum field's value.
pub fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The TCP checksum of `segment` (header and payload, checksum field
/// included as it is) over IPv4 `src` and `dst`. Zero the field first.
pub fn tcp4_checksum(src: [u8; 4], dst: [u8; 4], segment: &[u8]) -> u16 {
    let pseudo = sum16(&src) + sum16(&dst) + 6 + segment.len() as u64;
    fold(pseudo + sum16(segment))
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// An IPv4 address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ep {
    pub ip: [u8; 4],
    pub port: u16,
}

/// Builds one Ethernet II / IPv4 / TCP frame in `out` (cleared first),
/// with correct IPv4 and TCP checksums. `mss` adds an MSS option (SYNs).
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame(
    out: &mut Vec<u8>,
    ip_id: u16,
    src: Ep,
    dst: Ep,
    seq: u32,
    ack: u32,
    flags: u8,
    mss: Option<u16>,
    payload: &[u8],
) {
    out.clear();
    // Locally administered MACs; the lower address's side is ...:01.
    let (smac, dmac) = if (src.ip, src.port) < (dst.ip, dst.port) {
        ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
    } else {
        ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
    };
    out.extend_from_slice(&dmac);
    out.extend_from_slice(&smac);
    out.extend_from_slice(&[0x08, 0x00]);
    let tcp_hlen = if mss.is_some() { 24 } else { 20 };
    let total = 20 + tcp_hlen + payload.len();
    let total16 = u16::try_from(total).unwrap_or(u16::MAX);
    let ip_start = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total16.to_be_bytes());
    out.extend_from_slice(&ip_id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]); // DF, TTL 64, TCP, checksum
    out.extend_from_slice(&src.ip);
    out.extend_from_slice(&dst.ip);
    let ipc = fold(sum16(&out[ip_start..]));
    out[ip_start + 10..ip_start + 12].copy_from_slice(&ipc.to_be_bytes());
    let tcp_start = out.len();
    out.extend_from_slice(&src.port.to_be_bytes());
    out.extend_from_slice(&dst.port.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ack.to_be_bytes());
    out.push(((tcp_hlen / 4) as u8) << 4);
    out.push(flags);
    out.extend_from_slice(&65535u16.to_be_bytes()); // window
    out.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    if let Some(m) = mss {
        out.extend_from_slice(&[2, 4]);
        out.extend_from_slice(&m.to_be_bytes());
    }
    out.extend_from_slice(payload);
    let tc = tcp4_checksum(src.ip, dst.ip, &out[tcp_start..]);
    out[tcp_start + 16..tcp_start + 18].copy_from_slice(&tc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum16(&data)), !0xddf2);
        // Odd length: the last byte is padded with a zero.
        assert_eq!(fold(sum16(&[0x12, 0x34, 0x56])), !(0x1234u16 + 0x5600));
    }

    #[test]
    fn built_frame_checksums_verify() {
        let mut f = Vec::new();
        let c = Ep {
            ip: [127, 1, 0, 1],
            port: 40000,
        };
        let s = Ep {
            ip: [127, 0, 0, 1],
            port: 80,
        };
        tcp_frame(
            &mut f,
            7,
            c,
            s,
            1000,
            2000,
            PSH | ACK,
            None,
            b"GET / HTTP/1.1\r\n\r\n!",
        );
        // Summing a header with its checksum in place gives 0xffff.
        assert_eq!(fold(sum16(&f[14..34])), 0);
        assert_eq!(tcp4_checksum(c.ip, s.ip, &f[34..]), 0);
        assert_eq!(f.len(), 14 + 20 + 20 + 19);
    }

    #[test]
    fn records_round_trip() {
        let mut out = Vec::new();
        let h = Header::ethernet_usec();
        let mut w = Writer::new(&mut out, h).unwrap();
        w.record(3_000_001, 0, b"abc").unwrap();
        w.finish().unwrap();
        let mut r = &out[..];
        let h2 = read_header(&mut r).unwrap();
        assert_eq!((h2.linktype, h2.nanos, h2.be), (1, false, false));
        let mut buf = Vec::new();
        let rec = read_record(&mut r, &h2, &mut buf).unwrap().unwrap();
        assert_eq!(
            (rec.ts, rec.orig_len, &buf[..]),
            (3_000_001, 3, &b"abc"[..])
        );
        assert!(read_record(&mut r, &h2, &mut buf).unwrap().is_none());
    }
}
