//! Compiled only for tests: declared `#[cfg(test)] mod tests;` in mod.rs.
//! Tests for the capture reader, on hand-built pcap and pcapng bytes.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;

use super::*;

// ---------------------------------------------------------------- builders

fn u16b(v: u16, be: bool) -> [u8; 2] {
    if be { v.to_be_bytes() } else { v.to_le_bytes() }
}

fn u32b(v: u32, be: bool) -> [u8; 4] {
    if be { v.to_be_bytes() } else { v.to_le_bytes() }
}

/// One pcap record: (seconds, fraction, data, orig_len).
type Rec<'a> = (u32, u32, &'a [u8], u32);

fn pcap(be: bool, nanos: bool, linktype: u32, recs: &[Rec]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(u32b(if nanos { 0xa1b23c4d } else { 0xa1b2c3d4 }, be));
    v.extend(u16b(2, be));
    v.extend(u16b(4, be));
    v.extend(u32b(0, be));
    v.extend(u32b(0, be));
    v.extend(u32b(65535, be));
    v.extend(u32b(linktype, be));
    for &(sec, frac, data, orig) in recs {
        v.extend(u32b(sec, be));
        v.extend(u32b(frac, be));
        v.extend(u32b(data.len() as u32, be));
        v.extend(u32b(orig, be));
        v.extend(data);
    }
    v
}

fn block(be: bool, ty: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let len = body.len() as u32 + 12;
    let mut v = Vec::new();
    v.extend(u32b(ty, be));
    v.extend(u32b(len, be));
    v.extend(body);
    v.extend(u32b(len, be));
    v
}

fn shb(be: bool) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(u32b(0x1A2B3C4D, be));
    b.extend(u16b(1, be));
    b.extend(u16b(0, be));
    b.extend(if be {
        (-1i64).to_be_bytes()
    } else {
        (-1i64).to_le_bytes()
    });
    block(be, 0x0A0D0D0A, &b)
}

fn opt(be: bool, code: u16, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(u16b(code, be));
    v.extend(u16b(value.len() as u16, be));
    v.extend(value);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    v
}

/// An IDB; `opts` are already encoded (end-of-options not added).
fn idb(be: bool, linktype: u16, snaplen: u32, opts: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(u16b(linktype, be));
    b.extend(u16b(0, be));
    b.extend(u32b(snaplen, be));
    b.extend(opts);
    block(be, 1, &b)
}

fn epb(be: bool, iface: u32, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(u32b(iface, be));
    b.extend(u32b((ts >> 32) as u32, be));
    b.extend(u32b(ts as u32, be));
    b.extend(u32b(data.len() as u32, be));
    b.extend(u32b(orig, be));
    b.extend(data);
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
    // An option, to check that packet options are skipped.
    b.extend(opt(be, 2, &u32b(1, be)));
    b.extend(opt(be, 0, &[]));
    block(be, 6, &b)
}

fn pb(be: bool, iface: u16, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(u16b(iface, be));
    b.extend(u16b(0, be));
    b.extend(u32b((ts >> 32) as u32, be));
    b.extend(u32b(ts as u32, be));
    b.extend(u32b(data.len() as u32, be));
    b.extend(u32b(orig, be));
    b.extend(data);
    block(be, 2, &b)
}

fn spb(be: bool, data: &[u8], orig: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(u32b(orig, be));
    b.extend(data);
    block(be, 3, &b)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A frame, owned.
#[derive(Debug, PartialEq, Eq)]
struct F {
    index: u64,
    ts: u64,
    linktype: u32,
    data: Vec<u8>,
    orig_len: u32,
}

/// Reads every frame, then the error if any.
fn read_all(r: &mut CaptureReader) -> (Vec<F>, Option<CaptureError>) {
    let mut out = Vec::new();
    loop {
        match r.next_frame() {
            Ok(Some(f)) => out.push(F {
                index: f.index,
                ts: f.ts.as_nanos(),
                linktype: f.linktype,
                data: f.data.to_vec(),
                orig_len: f.orig_len,
            }),
            Ok(None) => return (out, None),
            Err(e) => {
                // Fused after an error.
                assert!(matches!(r.next_frame(), Ok(None)));
                return (out, Some(e));
            }
        }
    }
}

/// A reader that hands out at most `chunk` bytes per read.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads `bytes` every way: in place, as a stream in small pieces, gzipped
/// in place, gzipped as a stream; all must agree. Returns the in-place result.
fn read_every_way(bytes: &[u8]) -> (Vec<F>, Option<String>) {
    let mut results = Vec::new();
    let gz = gzip(bytes);
    let readers = [
        CaptureReader::from_bytes("t", bytes.to_vec()),
        CaptureReader::from_reader(
            "t",
            Trickle {
                data: bytes.to_vec(),
                pos: 0,
                chunk: 7,
            },
        ),
        CaptureReader::from_bytes("t", gz.clone()),
        CaptureReader::from_reader("t", std::io::Cursor::new(gz)),
    ];
    for (i, r) in readers.into_iter().enumerate() {
        let mut r = r.expect("opens");
        assert_eq!(r.gzip(), i >= 2);
        let (frames, err) = read_all(&mut r);
        // Gzip adds a note to corruption messages; compare the rest.
        let err = err.map(|e| e.to_string().replace(GZIP_NOTE, ""));
        results.push((frames, err));
    }
    for r in &results[1..] {
        assert_eq!(r, &results[0]);
    }
    results.swap_remove(0)
}

fn temp_path(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "httpreuse-capture-{}-{n}-{tag}",
        std::process::id()
    ))
}

/// Writes `bytes` to a temporary file and opens it.
fn open_file(tag: &str, bytes: &[u8]) -> (PathBuf, Result<CaptureReader, CaptureError>) {
    let path = temp_path(tag);
    std::fs::write(&path, bytes).unwrap();
    let r = CaptureReader::open(&Input::Path(path.clone()));
    (path, r)
}

// ---------------------------------------------------------------- pcap

#[test]
fn pcap_all_magics() {
    for be in [false, true] {
        for nanos in [false, true] {
            let bytes = pcap(
                be,
                nanos,
                1,
                &[
                    (1_700_000_000, 123_456, b"abc", 60),
                    (1_700_000_001, 7, b"", 0),
                    (5, 999_999, b"0123456789", 10),
                ],
            );
            let r = CaptureReader::from_bytes("t", bytes.clone()).unwrap();
            assert_eq!(r.container(), Container::Pcap);
            assert_eq!(r.pcap_linktype(), Some(1));
            let (frames, err) = read_every_way(&bytes);
            assert!(err.is_none(), "{err:?}");
            let unit = if nanos { 1 } else { 1000 };
            assert_eq!(
                frames,
                vec![
                    F {
                        index: 1,
                        ts: 1_700_000_000 * 1_000_000_000 + 123_456 * unit,
                        linktype: 1,
                        data: b"abc".to_vec(),
                        orig_len: 60
                    },
                    F {
                        index: 2,
                        ts: 1_700_000_001 * 1_000_000_000 + 7 * unit,
                        linktype: 1,
                        data: vec![],
                        orig_len: 0
                    },
                    F {
                        index: 3,
                        ts: 5 * 1_000_000_000 + 999_999 * unit,
                        linktype: 1,
                        data: b"0123456789".to_vec(),
                        orig_len: 10
                    },
                ]
            );
        }
    }
}

#[test]
fn pcap_dlt_raw_variants_map_to_raw() {
    for lt in [12, 14, 101] {
        let bytes = pcap(false, false, lt, &[(1, 0, b"x", 1)]);
        let (frames, _) = read_every_way(&bytes);
        assert_eq!(frames[0].linktype, linktype::RAW);
    }
    // FCS bits in the upper half of the link type field are ignored.
    let bytes = pcap(false, false, 0x1000_0001, &[(1, 0, b"x", 1)]);
    assert_eq!(read_every_way(&bytes).0[0].linktype, 1);
}

#[test]
fn pcap_snaplen_cut_frames_are_kept() {
    // orig_len > snaplen > incl_len: normal with `tcpdump -s 96`.
    let big = vec![7u8; 96];
    let bytes = pcap(true, false, 1, &[(1, 0, &big, 1514)]);
    let (frames, err) = read_every_way(&bytes);
    assert!(err.is_none());
    assert_eq!(frames[0].orig_len, 1514);
    assert_eq!(frames[0].data.len(), 96);
}

#[test]
fn pcap_truncated_record_keeps_earlier_frames() {
    let full = pcap(
        false,
        false,
        1,
        &[(1, 0, b"aaaa", 4), (2, 0, b"bbbbbbbb", 8)],
    );
    // Cut inside the second record's data: header 24 + rec 16+4, then 16+3.
    let cut = &full[..24 + 20 + 16 + 3];
    let (frames, err) = read_every_way(cut);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        err.unwrap(),
        "t: frame 2 cut off: record needs 24 bytes, 19 left at byte offset 44"
    );
    // Cut inside the second record's header.
    let (frames, err) = read_every_way(&full[..24 + 20 + 5]);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        err.unwrap(),
        "t: frame 2 cut off: record needs 16 bytes, 5 left at byte offset 44"
    );
}

#[test]
fn pcap_absurd_length_is_corrupt() {
    let mut bytes = pcap(false, false, 1, &[(1, 0, b"aaaa", 4)]);
    bytes.extend(u32b(1, false));
    bytes.extend(u32b(0, false));
    bytes.extend(u32b(0xFFFF_FFF0, false));
    bytes.extend(u32b(0xFFFF_FFF0, false));
    bytes.extend([0u8; 100]);
    let (frames, err) = read_every_way(&bytes);
    assert_eq!(frames.len(), 1);
    let err = err.unwrap();
    assert!(err.contains("frame 2: record of"), "{err}");
    assert!(
        err.contains("exceeds the 256 MiB limit at byte offset 44"),
        "{err}"
    );
}

#[test]
fn pcap_header_cut_off() {
    let bytes = pcap(false, false, 1, &[]);
    let err = CaptureReader::from_bytes("t", bytes[..10].to_vec())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "t: pcap file header cut off: needs 24 bytes, 10 left at byte offset 0"
    );
    // A header alone is a valid, empty capture.
    let (frames, err) = read_every_way(&bytes);
    assert!(frames.is_empty() && err.is_none());
}

#[test]
fn empty_and_garbage() {
    let err = CaptureReader::from_bytes("e", vec![]).err().unwrap();
    assert!(matches!(err, CaptureError::Empty { .. }));
    assert_eq!(err.to_string(), "e: empty file, not a capture");
    let err = CaptureReader::from_reader("e", std::io::empty())
        .err()
        .unwrap();
    assert!(matches!(err, CaptureError::Empty { .. }));
    let err = CaptureReader::from_bytes("e", gzip(b"")).err().unwrap();
    assert!(matches!(err, CaptureError::Empty { .. }));

    let html = b"<!DOCTYPE html><html></html>".to_vec();
    for r in [
        CaptureReader::from_bytes("g", html.clone()),
        CaptureReader::from_bytes("g", gzip(&html)),
        CaptureReader::from_reader("g", std::io::Cursor::new(html.clone())),
    ] {
        let err = r.err().unwrap();
        assert_eq!(
            err.to_string(),
            "g: not a pcap or pcapng capture (first bytes 3c 21 44 4f)"
        );
    }
    let err = CaptureReader::from_bytes("g", vec![0x1f]).err().unwrap();
    assert_eq!(
        err.to_string(),
        "g: not a pcap or pcapng capture (first bytes 1f)"
    );
}

// ---------------------------------------------------------------- pcapng

#[test]
fn pcapng_interfaces_resolutions_and_block_kinds() {
    for be in [false, true] {
        let mut f = shb(be);
        // Interface 0: Ethernet, default microseconds.
        f.extend(idb(be, 1, 65535, &opt(be, 0, &[])));
        // An unknown block and a name resolution block in between.
        f.extend(block(be, 0x0000_0BAD, b"whatever"));
        f.extend(block(be, 4, &[0, 0, 0, 0]));
        // Interface 1: raw IP (as DLT 12), nanoseconds, an if_name that is
        // not UTF-8 and no end-of-options (pcap-file would reject both).
        let mut o = opt(be, 2, &[0xff, 0xfe]);
        o.extend(opt(be, 9, &[9]));
        f.extend(idb(be, 12, 0, &o));
        // Interface 2: SLL2, 2^-10 s units, if_tsoffset 100 s.
        let mut o = opt(be, 9, &[0x80 | 10]);
        let off = if be {
            100u64.to_be_bytes()
        } else {
            100u64.to_le_bytes()
        };
        o.extend(opt(be, 14, &off));
        o.extend(opt(be, 0, &[]));
        f.extend(idb(be, 276, 0, &o));

        f.extend(epb(be, 0, 1_700_000_000_123_456, b"eth!", 60));
        f.extend(epb(be, 1, 1_700_000_000_123_456_789, b"raw", 3));
        f.extend(epb(be, 2, 3 << 10 | 512, b"sll2-frame", 10));
        // Interface statistics: skipped.
        f.extend(block(be, 5, &[0; 12]));
        f.extend(pb(be, 1, 42, b"pb", 2));
        // SPB: interface 0, snaplen 65535; carries min(orig, snaplen) bytes.
        f.extend(spb(be, b"simple", 6));
        f.extend(spb(be, b"cut", 1000));

        let r = CaptureReader::from_bytes("t", f.clone()).unwrap();
        assert_eq!(r.container(), Container::Pcapng);
        assert_eq!(r.pcap_linktype(), None);
        let (frames, err) = read_every_way(&f);
        assert!(err.is_none(), "{err:?}");
        let got: Vec<_> = frames
            .iter()
            .map(|f| (f.index, f.ts, f.linktype, f.data.as_slice(), f.orig_len))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 1_700_000_000_123_456_000, 1, &b"eth!"[..], 60),
                (2, 1_700_000_000_123_456_789, 101, &b"raw"[..], 3),
                (3, 103_500_000_000, 276, &b"sll2-frame"[..], 10),
                (4, 42, 101, &b"pb"[..], 2),
                // SPBs take the previous timestamp.
                (5, 42, 1, &b"simple"[..], 6),
                (6, 42, 1, &b"cut\0"[..], 1000),
            ]
        );
    }
}

#[test]
fn pcapng_sections_change_byte_order_and_interfaces() {
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, &[]));
    f.extend(epb(false, 0, 1_000_000, b"one", 3));
    f.extend(shb(true));
    f.extend(idb(true, 113, 0, &opt(true, 9, &[3])));
    f.extend(epb(true, 0, 2_000, b"two", 3));
    f.extend(shb(false));
    f.extend(idb(false, 101, 0, &[]));
    f.extend(idb(false, 0, 0, &[]));
    f.extend(epb(false, 1, 3, b"three", 5));
    let (frames, err) = read_every_way(&f);
    assert!(err.is_none(), "{err:?}");
    let got: Vec<_> = frames.iter().map(|f| (f.ts, f.linktype)).collect();
    assert_eq!(
        got,
        vec![(1_000_000_000, 1), (2_000_000_000, 113), (3_000, 0)]
    );
}

#[test]
fn pcapng_unknown_interface_is_corrupt() {
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, &[]));
    f.extend(epb(false, 0, 1, b"ok", 2));
    let at = f.len();
    f.extend(epb(false, 3, 1, b"bad", 3));
    let (frames, err) = read_every_way(&f);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        err.unwrap(),
        format!(
            "t: frame 2: interface 3 was not described (the section has 1) at byte offset {at}"
        )
    );
    // Interfaces do not carry over into a new section.
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, &[]));
    f.extend(shb(false));
    f.extend(epb(false, 0, 1, b"x", 1));
    assert!(
        read_every_way(&f)
            .1
            .unwrap()
            .contains("interface 0 was not described")
    );
}

#[test]
fn pcapng_truncated_and_corrupt_blocks() {
    let mut f = shb(true);
    f.extend(idb(true, 1, 0, &[]));
    f.extend(epb(true, 0, 1, b"first", 5));
    let at = f.len();
    let second = epb(true, 0, 2, b"second frame", 12);
    f.extend(&second);
    let cut = &f[..f.len() - 5];
    let (frames, err) = read_every_way(cut);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        err.unwrap(),
        format!(
            "t: frame 2 cut off: record needs {} bytes, {} left at byte offset {at}",
            second.len(),
            second.len() - 5
        )
    );
    // A non-packet block cut off names its type.
    let mut g = f[..at].to_vec();
    g.extend(&idb(true, 1, 0, &[])[..10]);
    assert!(
        read_every_way(&g)
            .1
            .unwrap()
            .contains("pcapng block (type 0x00000001) cut off: needs 20 bytes, 10 left")
    );
    // Trailer length differs from the header's.
    let mut g = f[..at].to_vec();
    let mut bad = second.clone();
    let n = bad.len();
    bad[n - 1] ^= 4;
    g.extend(bad);
    let err = read_every_way(&g).1.unwrap();
    assert!(err.starts_with("t: bad pcapng block"), "{err}");
    assert!(err.ends_with(&format!("at byte offset {at}")), "{err}");
    // Absurd block length.
    let mut g = f[..at].to_vec();
    g.extend(u32b(6, true));
    g.extend(u32b(0x7FFF_FFF0, true));
    g.extend([0; 64]);
    let err = read_every_way(&g).1.unwrap();
    assert!(err.contains("exceeds the 256 MiB limit"), "{err}");
    // Captured length larger than the block.
    let mut g = f[..at].to_vec();
    let mut bad = second.clone();
    bad[8 + 12..8 + 16].copy_from_slice(&u32b(500, true));
    g.extend(bad);
    let err = read_every_way(&g).1.unwrap();
    assert!(
        err.contains("frame 2: captured length 500 exceeds its block"),
        "{err}"
    );
}

#[test]
fn pcapng_bad_section_header_fails_at_open() {
    let mut f = shb(false);
    f[8] = 0x99; // byte-order magic
    let err = CaptureReader::from_bytes("t", f.clone()).err().unwrap();
    assert!(err.to_string().starts_with("t: bad pcapng block"), "{err}");
    let err = CaptureReader::from_bytes("t", shb(true)[..16].to_vec())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "t: pcapng section header cut off: needs 28 bytes, 16 left at byte offset 0"
    );
}

// ---------------------------------------------------------------- streams

#[test]
fn stream_grows_for_frames_larger_than_its_buffer() {
    let big: Vec<u8> = (0..3 * source::STREAM_BUF_LEN + 5)
        .map(|i| i as u8)
        .collect();
    let bytes = pcap(false, true, 1, &[(1, 2, b"small", 5), (3, 4, &big, 1)]);
    let mut f = shb(false);
    f.extend(idb(false, 1, 0, &[]));
    f.extend(epb(false, 0, 9, &big, 1));
    f.extend(epb(false, 0, 9, b"after", 1));
    for bytes in [bytes, f] {
        let (frames, err) = read_every_way(&bytes);
        assert!(err.is_none());
        assert!(frames.iter().any(|f| f.data == big));
    }
}

#[test]
fn multi_member_gzip() {
    let bytes = pcap(false, false, 1, &[(1, 0, b"one", 3), (2, 0, b"two", 3)]);
    let mut gz = gzip(&bytes[..30]);
    gz.extend(gzip(&bytes[30..]));
    let mut r = CaptureReader::from_bytes("t", gz).unwrap();
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none());
    assert_eq!(frames.len(), 2);
}

#[test]
fn corrupt_gzip_is_reported_after_the_frames_before_it() {
    let recs: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            (0..300u32)
                .map(|j| (i * 7919 + j * 31) as u8 ^ (j >> 3) as u8)
                .collect()
        })
        .collect();
    let recs: Vec<Rec> = recs.iter().map(|d| (1, 0, &d[..], 300)).collect();
    let bytes = pcap(false, false, 1, &recs);
    let gz = gzip(&bytes);
    // Cut the compressed stream short.
    let mut r = CaptureReader::from_bytes("t", gz[..gz.len() * 2 / 3].to_vec()).unwrap();
    let (frames, err) = read_all(&mut r);
    assert!(frames.len() > 50, "{}", frames.len());
    let err = err.unwrap().to_string();
    assert!(
        err.starts_with("t: decompressed data: gzip data cannot be decompressed ("),
        "{err}"
    );
    // Broken right after the header: an error at open or at the first frame.
    let mut bad = gz.clone();
    for b in &mut bad[12..40] {
        *b = 0xff;
    }
    if let Ok(mut r) = CaptureReader::from_bytes("t", bad) {
        assert!(read_all(&mut r).1.is_some());
    }
}

// ---------------------------------------------------------------- files

#[test]
fn files_plain_and_gzip() {
    let bytes = pcap(true, false, 1, &[(1, 0, b"one", 3), (2, 0, b"two", 3)]);
    for (tag, content, gz) in [("plain", bytes.clone(), false), ("gz", gzip(&bytes), true)] {
        // The name says nothing: detection is by magic.
        let (path, r) = open_file(tag, &content);
        let mut r = r.unwrap();
        assert_eq!(r.gzip(), gz);
        assert_eq!(r.container(), Container::Pcap);
        let (frames, err) = read_all(&mut r);
        assert!(err.is_none());
        assert_eq!(frames.len(), 2);
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn files_errors_name_the_file() {
    let (path, r) = open_file("empty", b"");
    let name = path.display().to_string();
    assert_eq!(
        r.err().unwrap().to_string(),
        format!("{name}: empty file, not a capture")
    );
    std::fs::remove_file(&path).unwrap();

    let err = CaptureReader::open(&Input::Path(path.clone()))
        .err()
        .unwrap();
    assert!(matches!(err, CaptureError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("{name}: cannot read: "))
    );

    let bytes = pcap(false, false, 1, &[(1, 0, b"aaaa", 4)]);
    let (path, r) = open_file("cut", &bytes[..bytes.len() - 1]);
    let (frames, err) = read_all(&mut r.unwrap());
    assert!(frames.is_empty());
    assert_eq!(
        err.unwrap().to_string(),
        format!(
            "{}: frame 1 cut off: record needs 20 bytes, 19 left at byte offset 24",
            path.display()
        )
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn input_display_name() {
    assert_eq!(Input::Stdin.display_name(), "<stdin>");
    assert_eq!(Input::Path("a/b.pcap".into()).display_name(), "a/b.pcap");
}

/// A real capture, if one is given in HTTPREUSE_TEST_PCAP (not committed:
/// fixtures/ is owned elsewhere). With HTTPREUSE_TEST_DUMP set, writes one
/// line per frame there, `number epoch_ns tcp_len` (tcp_len `-` if not
/// TCP), to compare with `tshark -T fields -e frame.number
/// -e frame.time_epoch -e tcp.len`.
#[test]
fn real_capture_if_given() {
    let Ok(path) = std::env::var("HTTPREUSE_TEST_PCAP") else {
        return;
    };
    let mut r = CaptureReader::open(&Input::Path(path.into())).unwrap();
    let mut lines = String::new();
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        n += 1;
        assert_eq!(f.index, n);
        assert!(f.ts.as_nanos() > 1_500_000_000_000_000_000);
        let tcp_len = match crate::decode::decode(f.linktype, f.data) {
            Ok(crate::decode::Decoded::Segment(seg)) => seg.payload_len.to_string(),
            Ok(crate::decode::Decoded::Fragment(f)) => format!("fragment {}", f.payload_len),
            Err(skip) => skip.kind().into_owned(),
        };
        lines += &format!("{} {} {tcp_len}\n", f.index, f.ts);
    }
    assert!(n > 0);
    if let Ok(out) = std::env::var("HTTPREUSE_TEST_DUMP") {
        std::fs::write(out, lines).unwrap();
    }
}

// ---------------------------------------------------------------- fuzz

/// Reads everything, bounded: the number of frames can't exceed the input
/// size (each record takes at least one byte).
fn drain(r: Result<CaptureReader, CaptureError>, max: usize) {
    if let Ok(mut r) = r {
        let mut n = 0;
        while let Ok(Some(_)) = r.next_frame() {
            n += 1;
            assert!(n <= max + 1);
        }
        assert!(matches!(r.next_frame(), Ok(None)));
    }
}

fn sample_files() -> Vec<Vec<u8>> {
    let mut ng = shb(false);
    ng.extend(idb(false, 1, 0, &opt(false, 9, &[9])));
    ng.extend(epb(false, 0, 5, b"hello", 5));
    ng.extend(spb(false, b"spb", 3));
    ng.extend(shb(true));
    ng.extend(idb(true, 101, 0, &[]));
    ng.extend(pb(true, 0, 5, b"pb", 2));
    vec![
        pcap(false, false, 1, &[(1, 2, b"abc", 3), (4, 5, b"defgh", 5)]),
        pcap(true, true, 113, &[(1, 2, b"abc", 3)]),
        ng,
    ]
}

proptest! {
    #[test]
    fn reader_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        magic in 0usize..6,
    ) {
        let mut bytes = bytes;
        // Give most inputs a valid magic so the parsers get exercised.
        let prefix: &[u8] = match magic {
            0 => &[0xa1, 0xb2, 0xc3, 0xd4],
            1 => &[0x4d, 0x3c, 0xb2, 0xa1],
            2 => &[0x0a, 0x0d, 0x0d, 0x0a],
            3 => &[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d],
            _ => &[],
        };
        bytes.splice(0..0, prefix.iter().copied());
        let max = bytes.len();
        drain(CaptureReader::from_bytes("p", bytes.clone()), max);
        drain(CaptureReader::from_reader("p", Trickle { data: bytes.clone(), pos: 0, chunk: 3 }), max);
        drain(CaptureReader::from_bytes("p", gzip(&bytes)), max);
    }

    #[test]
    fn reader_never_panics_on_mutated_captures(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = sample_files().swap_remove(which);
        for (at, v) in flips {
            let n = bytes.len();
            bytes[at % n] = v;
        }
        let keep = cut % (bytes.len() + 1);
        bytes.truncate(keep);
        let max = bytes.len();
        drain(CaptureReader::from_bytes("p", bytes.clone()), max);
        drain(CaptureReader::from_reader("p", std::io::Cursor::new(bytes)), max);
    }
}

// ------------------------------------------------- merge and reorder window

mod merge_window {
    use super::super::merge::{CaptureSet, MAX_HELD_FRAMES};
    use super::*;

    const MS: u64 = 1_000_000;

    /// A pcap whose frames are one byte each (their id), stamped `ts_ms`
    /// (milliseconds; nanosecond pcap).
    fn frames(ids_ts_ms: &[(u8, u64)]) -> Vec<u8> {
        let data: Vec<[u8; 1]> = ids_ts_ms.iter().map(|&(id, _)| [id]).collect();
        let recs: Vec<Rec> = ids_ts_ms
            .iter()
            .zip(&data)
            .map(|(&(_, ms), d)| {
                let ns = ms * MS;
                (
                    (ns / 1_000_000_000) as u32,
                    (ns % 1_000_000_000) as u32,
                    &d[..],
                    1,
                )
            })
            .collect();
        pcap(false, true, 1, &recs)
    }

    /// The ids in the order the merge releases them, each member given as
    /// bytes in memory (`stream`: read through a stream, so copied).
    fn order(members: &[Vec<u8>], window_ms: u64, stream: bool) -> Vec<u8> {
        let readers = members
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let r = if stream {
                    CaptureReader::from_reader(format!("m{i}"), std::io::Cursor::new(b.clone()))
                } else {
                    CaptureReader::from_bytes(format!("m{i}"), b.clone())
                };
                (r.unwrap(), format!("m{i}"))
            })
            .collect();
        let mut m = CaptureSet::from_readers(readers).merge(window_ms * MS);
        let mut out = Vec::new();
        while let Some(f) = m.next_frame() {
            out.push(f.data[0]);
        }
        out
    }

    fn both(members: &[Vec<u8>], window_ms: u64) -> Vec<u8> {
        let a = order(members, window_ms, false);
        assert_eq!(a, order(members, window_ms, true), "mapped vs streamed");
        a
    }

    #[test]
    fn small_disorder_is_sorted_and_ties_keep_their_order() {
        let f = frames(&[(1, 10), (2, 12), (3, 11), (4, 12), (5, 13), (6, 11)]);
        assert_eq!(both(std::slice::from_ref(&f), 2000), [1, 3, 6, 2, 4, 5]);
        // Without a window: as read.
        assert_eq!(both(&[f], 0), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_late_frame_comes_after_what_was_held_before_it() {
        // 90 is 11 ms older than the newest (101): beyond a 5 ms window.
        let f = frames(&[(1, 100), (2, 101), (3, 90), (4, 99), (5, 102)]);
        // 4 (99) is within 5 ms of the new era's newest... which starts at
        // 90: 99 is ahead of it, so it is simply next.
        assert_eq!(both(&[f], 5), [1, 2, 3, 4, 5]);
        // 3 is late and goes out at once (after 1 and 2); the window
        // starts again from it: 5 (93) is sorted before 4 (95).
        let g = frames(&[(1, 100), (2, 103), (3, 90), (4, 95), (5, 93), (6, 104)]);
        assert_eq!(both(&[g], 5), [1, 2, 3, 5, 4, 6]);
    }

    #[test]
    fn a_clock_step_back_and_a_far_outlier_keep_file_order() {
        let s = 1000;
        // NTP steps the clock back 30 s: what was held goes first.
        let f = frames(&[
            (1, 100 * s),
            (2, 100 * s + 500),
            (3, 70 * s),
            (4, 70 * s + 100),
        ]);
        assert_eq!(both(&[f], 2000), [1, 2, 3, 4]);
        // One timestamp 20 years ahead: it does not hold back what follows.
        let y20 = 20 * 365 * 86_400 * s;
        let g = frames(&[(1, 100 * s), (2, y20), (3, 100 * s + 1), (4, 100 * s + 2)]);
        assert_eq!(both(&[g], 2000), [1, 2, 3, 4]);
    }

    #[test]
    fn overlapping_members_are_merged_and_followers_follow() {
        let a = frames(&[(1, 1), (3, 3), (5, 5)]);
        let b = frames(&[(2, 2), (4, 4), (6, 6)]);
        let c = frames(&[(7, 7), (8, 8)]);
        // Given in any order; no window needed.
        assert_eq!(
            both(&[c.clone(), b.clone(), a.clone()], 0),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        // Equal timestamps across members: the member starting first wins.
        let d = frames(&[(9, 3)]);
        assert_eq!(both(&[d, a], 0), [1, 3, 9, 5]);
    }

    #[test]
    fn the_window_holds_at_most_its_frame_cap() {
        // MAX_HELD_FRAMES + 10 frames at 1 ms, then one 2 ms before the
        // last; the window (100 s) never ripens by time, only by the cap.
        let n = MAX_HELD_FRAMES as u64 + 10;
        let mut recs: Vec<(u8, u64)> = (0..n).map(|i| (1, 1000 + i)).collect();
        recs.push((2, 1000 + n - 3));
        let out = both(&[frames(&recs)], 100_000);
        assert_eq!(out.len() as u64, n + 1);
        // Sorted in among the frames still held: 2 before the last two.
        assert_eq!(&out[out.len() - 3..], [2, 1, 1]);
        let mut recs: Vec<(u8, u64)> = (0..n).map(|i| (1, 1000 + i)).collect();
        recs.push((2, 1000));
        // Its place (after the first frame) went out at the cap: it comes
        // where it can, next, and the clock will count it.
        let out = both(&[frames(&recs)], 100_000);
        let at = out.iter().position(|&x| x == 2).unwrap();
        assert_eq!(at, 10, "after the 10 frames released at the cap");
    }
}
