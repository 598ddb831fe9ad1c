//! Classic pcap: a 24-byte file header, then 16-byte record headers each
//! followed by the captured bytes. The file header is parsed with
//! `pcap-file`; a complete record is read directly (it is the per-frame
//! cost), and any other goes to `pcap-file`'s raw API (which borrows and
//! does not allocate) for its error. Its validating `PcapPacket` is avoided
//! because it rejects `orig_len > snaplen`, i.e. every frame of a capture
//! taken with a short snap length.

use pcap_file::pcap::PcapParser;
use pcap_file::{Endianness, PcapError, TsResolution};

use super::{MAX_RECORD_LEN, Step, read_u32, record_too_large};
use crate::types::Timestamp;

/// Length of the pcap file header.
pub(crate) const FILE_HEADER_LEN: usize = 24;
/// Length of a pcap record header.
pub(crate) const RECORD_HEADER_LEN: usize = 16;
/// Offset of `incl_len` (captured length) in a record header.
const INCL_LEN_OFFSET: usize = 8;
/// The link type is the low 16 bits of the header's field; the upper bits
/// carry the FCS length.
const LINKTYPE_MASK: u32 = 0xFFFF;

pub(crate) struct PcapState {
    parser: PcapParser,
    big_endian: bool,
    nanos: bool,
    linktype: u32,
}

impl PcapState {
    /// Parses the file header (`avail` must hold [`FILE_HEADER_LEN`] bytes).
    pub(crate) fn new(avail: &[u8]) -> Result<Self, PcapError> {
        let (_, parser) = PcapParser::new(avail)?;
        let header = parser.header();
        Ok(PcapState {
            big_endian: header.endianness == Endianness::Big,
            nanos: header.ts_resolution == TsResolution::NanoSecond,
            linktype: super::normalize_linktype(u32::from(header.datalink) & LINKTYPE_MASK),
            parser,
        })
    }

    /// A complete record of `caplen` captured bytes.
    fn frame(&self, ts_sec: u32, ts_frac: u32, caplen: usize, orig_len: u32) -> Step {
        let frac_ns = if self.nanos {
            u64::from(ts_frac)
        } else {
            u64::from(ts_frac) * 1_000
        };
        let ts = u64::from(ts_sec)
            .saturating_mul(1_000_000_000)
            .saturating_add(frac_ns);
        Step::Frame {
            len: RECORD_HEADER_LEN + caplen,
            data: RECORD_HEADER_LEN..RECORD_HEADER_LEN + caplen,
            ts: Timestamp::from_nanos(ts),
            linktype: self.linktype,
            orig_len,
        }
    }

    /// The link type from the file header (normalised).
    pub(crate) fn linktype(&self) -> u32 {
        self.linktype
    }

    /// Parses the record at the start of `avail`; `frame_no` is its 1-based
    /// number (for messages).
    pub(crate) fn step(&self, avail: &[u8], frame_no: u64) -> Step {
        // The 16-byte record header read directly (one bounds check, four
        // loads): this runs for every frame, and the crate's generic reader
        // costs several times as much. What it checks is the same: a
        // complete header and `incl_len` bytes after it; anything else goes
        // to the crate below for the same error.
        if let Some(head) = avail.get(..RECORD_HEADER_LEN)
            && let [
                s0,
                s1,
                s2,
                s3,
                f0,
                f1,
                f2,
                f3,
                c0,
                c1,
                c2,
                c3,
                o0,
                o1,
                o2,
                o3,
            ] = *head
        {
            let word = |b: [u8; 4]| {
                if self.big_endian {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            };
            let caplen = word([c0, c1, c2, c3]) as usize;
            if caplen <= MAX_RECORD_LEN && avail.len() - RECORD_HEADER_LEN >= caplen {
                super::prefetch(avail.get(RECORD_HEADER_LEN + caplen..));
                return self.frame(
                    word([s0, s1, s2, s3]),
                    word([f0, f1, f2, f3]),
                    caplen,
                    word([o0, o1, o2, o3]),
                );
            }
        }
        match self.parser.next_raw_packet(avail) {
            Ok((_, raw)) => {
                let caplen = raw.data.len();
                if caplen > MAX_RECORD_LEN {
                    return Step::Bad(record_too_large(frame_no, caplen as u64));
                }
                self.frame(raw.ts_sec, raw.ts_frac, caplen, raw.orig_len)
            }
            Err(PcapError::IncompleteBuffer) => {
                let need = match read_u32(avail, INCL_LEN_OFFSET, self.big_endian) {
                    None => RECORD_HEADER_LEN,
                    Some(caplen) => {
                        if caplen as usize > MAX_RECORD_LEN {
                            return Step::Bad(record_too_large(frame_no, u64::from(caplen)));
                        }
                        RECORD_HEADER_LEN + caplen as usize
                    }
                };
                Step::Need {
                    need,
                    block_type: None,
                }
            }
            Err(e) => Step::Bad(format!("frame {frame_no}: bad record header: {e}")),
        }
    }
}
