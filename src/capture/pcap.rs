//! Classic pcap: a 24-byte file header, then 16-byte record headers each
//! followed by the captured bytes. Parsed with `pcap-file`'s raw API (which
//! borrows and does not allocate); its validating `PcapPacket` is avoided
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

    /// The link type from the file header (normalised).
    pub(crate) fn linktype(&self) -> u32 {
        self.linktype
    }

    /// Parses the record at the start of `avail`; `frame_no` is its 1-based
    /// number (for messages).
    pub(crate) fn step(&self, avail: &[u8], frame_no: u64) -> Step {
        match self.parser.next_raw_packet(avail) {
            Ok((_, raw)) => {
                let caplen = raw.data.len();
                if caplen > MAX_RECORD_LEN {
                    return Step::Bad(record_too_large(frame_no, caplen as u64));
                }
                let frac_ns = if self.nanos {
                    u64::from(raw.ts_frac)
                } else {
                    u64::from(raw.ts_frac) * 1_000
                };
                let ts = u64::from(raw.ts_sec)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(frac_ns);
                Step::Frame {
                    len: RECORD_HEADER_LEN + caplen,
                    data: RECORD_HEADER_LEN..RECORD_HEADER_LEN + caplen,
                    ts: Timestamp::from_nanos(ts),
                    linktype: self.linktype,
                    orig_len: raw.orig_len,
                }
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
