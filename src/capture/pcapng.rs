//! pcapng: a sequence of sections, each a Section Header Block (which fixes
//! the byte order) followed by Interface Description Blocks and packet
//! blocks.
//!
//! Block framing (length, alignment, trailer, the section header's byte
//! order) is `pcap-file`'s `RawBlock`. The block bodies we need are read
//! here, without allocating, because `pcap-file` 2.0's block parsers
//! (a) take the EPB timestamp as nanoseconds whatever the interface's
//! `if_tsresol`, (b) reject an interface whose options lack `opt_endofopt`
//! or hold non-UTF-8 text, and (c) collect every block's options in a `Vec`.

use byteorder::{BigEndian, LittleEndian};
use pcap_file::PcapError;
use pcap_file::pcapng::RawBlock;
use pcap_file::pcapng::blocks::{
    ENHANCED_PACKET_BLOCK, INTERFACE_DESCRIPTION_BLOCK, PACKET_BLOCK, SECTION_HEADER_BLOCK,
    SIMPLE_PACKET_BLOCK,
};

use super::{MAX_RECORD_LEN, Step, normalize_linktype, read_u16, read_u32};
use crate::types::Timestamp;

/// Block type and total length precede every body.
pub(crate) const BLOCK_HEADER_LEN: usize = 8;
/// Smallest block: type, length, trailing length.
pub(crate) const MIN_BLOCK_LEN: usize = 12;
/// Offset of the byte-order magic in a Section Header Block.
const SHB_MAGIC_OFFSET: usize = 8;
/// The byte-order magic as it reads in a big-endian section.
const SHB_MAGIC_BE: [u8; 4] = [0x1A, 0x2B, 0x3C, 0x4D];

/// Interface Description Block body: link type (u16), reserved (u16),
/// snap length (u32), then options.
const IDB_SNAPLEN_OFFSET: usize = 4;
const IDB_OPTIONS_OFFSET: usize = 8;
const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
/// Option header: code (u16), length (u16).
const OPT_HEADER_LEN: usize = 4;

/// Enhanced Packet Block body: interface id, timestamp high, timestamp
/// low, captured length, original length, then the data.
const EPB_IFACE_OFFSET: usize = 0;
const EPB_TS_HIGH_OFFSET: usize = 4;
const EPB_TS_LOW_OFFSET: usize = 8;
const EPB_CAPLEN_OFFSET: usize = 12;
const EPB_ORIGLEN_OFFSET: usize = 16;
const EPB_DATA_OFFSET: usize = 20;

/// Obsolete Packet Block body: interface id (u16), drops count (u16), then
/// as the EPB.
const PB_IFACE_OFFSET: usize = 0;

/// Simple Packet Block body: original length, then the data.
const SPB_ORIGLEN_OFFSET: usize = 0;
const SPB_DATA_OFFSET: usize = 4;

/// The Decryption Secrets Block type (pcapng spec, section 4.7).
const DECRYPTION_SECRETS_BLOCK: u32 = 0x0000_000A;

/// The default `if_tsresol`: microseconds.
const DEFAULT_TSRESOL: u8 = 6;

/// What a packet needs from its interface.
#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// The raw `if_tsresol` byte: high bit clear, 10^-n s; set, 2^-n s.
    tsresol: u8,
    /// `if_tsoffset`: seconds added to every timestamp.
    tsoffset: i64,
}

impl Interface {
    /// Nanoseconds since the epoch of a raw timestamp in this interface's
    /// units, saturating at 0 and `u64::MAX`.
    fn timestamp(&self, raw: u64) -> Timestamp {
        let raw = u128::from(raw);
        let exp = u32::from(self.tsresol & 0x7F);
        let ns: u128 = if self.tsresol & 0x80 == 0 {
            if exp <= 9 {
                raw * 10u128.pow(9 - exp)
            } else {
                10u128.checked_pow(exp - 9).map_or(0, |div| raw / div)
            }
        } else {
            // exp <= 127, so the shift is in range; raw * 1e9 < 2^94.
            (raw * 1_000_000_000) >> exp
        };
        let ns = i128::try_from(ns)
            .unwrap_or(i128::MAX)
            .saturating_add(i128::from(self.tsoffset) * 1_000_000_000);
        Timestamp::from_nanos(u64::try_from(ns.max(0)).unwrap_or(u64::MAX))
    }
}

pub(crate) struct PcapNgState {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Timestamp of the last packet, given to Simple Packet Blocks (which
    /// carry none) so that time never jumps back to 1970.
    last_ts: Timestamp,
    /// TLS secrets of the Decryption Secrets Blocks read and not yet taken.
    pub(crate) secrets: Option<Box<crate::tls::KeyLog>>,
    /// Decryption Secrets Blocks whose secrets ran past the block (skipped).
    pub(crate) secrets_truncated: u64,
}

impl PcapNgState {
    pub(crate) fn new() -> Self {
        PcapNgState {
            big_endian: true,
            interfaces: Vec::new(),
            last_ts: Timestamp::default(),
            secrets: None,
            secrets_truncated: 0,
        }
    }

    /// Parses the block at the start of `avail`; `frame_no` is the number
    /// the next packet would get (for messages).
    pub(crate) fn step(&mut self, avail: &[u8], frame_no: u64) -> Step {
        let parsed = if self.big_endian {
            RawBlock::from_slice::<BigEndian>(avail)
        } else {
            RawBlock::from_slice::<LittleEndian>(avail)
        };
        let (rem, block) = match parsed {
            Ok(ok) => ok,
            Err(PcapError::IncompleteBuffer) => return self.need(avail),
            Err(e) => return Step::Bad(format!("bad pcapng block: {e}")),
        };
        let len = avail.len() - rem.len();
        super::prefetch(Some(rem));
        let body: &[u8] = &block.body;
        match block.type_ {
            SECTION_HEADER_BLOCK => {
                // RawBlock checked the magic; it is either byte order.
                self.big_endian = body.get(..4) == Some(&SHB_MAGIC_BE[..]);
                self.interfaces.clear();
                Step::Skip(len)
            }
            INTERFACE_DESCRIPTION_BLOCK => match self.interface(body) {
                Some(iface) => {
                    self.interfaces.push(iface);
                    Step::Skip(len)
                }
                None => Step::Bad("interface description block too short".to_string()),
            },
            ENHANCED_PACKET_BLOCK => self.packet(body, len, frame_no, true),
            PACKET_BLOCK => self.packet(body, len, frame_no, false),
            SIMPLE_PACKET_BLOCK => self.simple_packet(body, len, frame_no),
            DECRYPTION_SECRETS_BLOCK => {
                self.secrets_block(body);
                Step::Skip(len)
            }
            _ => Step::Skip(len),
        }
    }

    /// A Decryption Secrets Block: TLS key logs are kept for the analysis
    /// (other secrets types are skipped; the body's fields are in the
    /// section's byte order, which `KeyLog::from_pcapng_dsb` recognises).
    fn secrets_block(&mut self, body: &[u8]) {
        match crate::tls::KeyLog::from_pcapng_dsb(body) {
            Ok(log) => match &mut self.secrets {
                Some(s) => s.merge(log),
                None => self.secrets = Some(Box::new(log)),
            },
            Err(crate::tls::DsbError::Truncated) => self.secrets_truncated += 1,
            Err(crate::tls::DsbError::NotTls(_)) => {}
        }
    }

    /// How many bytes the incomplete block at the start of `avail` needs.
    fn need(&self, avail: &[u8]) -> Step {
        let Some(block_type) = read_u32(avail, 0, self.big_endian) else {
            return Step::Need {
                need: MIN_BLOCK_LEN,
                block_type: None,
            };
        };
        let big_endian = if block_type == SECTION_HEADER_BLOCK {
            match avail.get(SHB_MAGIC_OFFSET..SHB_MAGIC_OFFSET + 4) {
                Some(m) => m == SHB_MAGIC_BE,
                None => {
                    return Step::Need {
                        need: MIN_BLOCK_LEN,
                        block_type: Some(block_type),
                    };
                }
            }
        } else {
            self.big_endian
        };
        let need = read_u32(avail, 4, big_endian).map_or(MIN_BLOCK_LEN, |l| l as usize);
        if need > MAX_RECORD_LEN {
            return Step::Bad(format!(
                "pcapng block of {need} bytes exceeds the {} MiB limit",
                MAX_RECORD_LEN >> 20
            ));
        }
        Step::Need {
            need: need.max(MIN_BLOCK_LEN),
            block_type: Some(block_type),
        }
    }

    fn interface(&self, body: &[u8]) -> Option<Interface> {
        let be = self.big_endian;
        let linktype = normalize_linktype(u32::from(read_u16(body, 0, be)?));
        let snaplen = read_u32(body, IDB_SNAPLEN_OFFSET, be)?;
        let mut iface = Interface {
            linktype,
            snaplen,
            tsresol: DEFAULT_TSRESOL,
            tsoffset: 0,
        };
        // Options, read leniently: a malformed one ends the list.
        let mut opts = body.get(IDB_OPTIONS_OFFSET..).unwrap_or(&[]);
        while let (Some(code), Some(len)) = (read_u16(opts, 0, be), read_u16(opts, 2, be)) {
            if code == OPT_ENDOFOPT {
                break;
            }
            let len = usize::from(len);
            let Some(value) = opts.get(OPT_HEADER_LEN..OPT_HEADER_LEN + len) else {
                break;
            };
            match code {
                OPT_IF_TSRESOL => {
                    if let Some(&r) = value.first() {
                        iface.tsresol = r;
                    }
                }
                OPT_IF_TSOFFSET => {
                    if let Some(v) = read_u64(value, 0, be) {
                        iface.tsoffset = v as i64;
                    }
                }
                _ => {}
            }
            let padded = (len + 3) & !3;
            opts = opts.get(OPT_HEADER_LEN + padded..).unwrap_or(&[]);
        }
        Some(iface)
    }

    /// An Enhanced (`enhanced`) or obsolete Packet Block.
    fn packet(&mut self, body: &[u8], len: usize, frame_no: u64, enhanced: bool) -> Step {
        let be = self.big_endian;
        let fields = (
            if enhanced {
                read_u32(body, EPB_IFACE_OFFSET, be)
            } else {
                read_u16(body, PB_IFACE_OFFSET, be).map(u32::from)
            },
            read_u32(body, EPB_TS_HIGH_OFFSET, be),
            read_u32(body, EPB_TS_LOW_OFFSET, be),
            read_u32(body, EPB_CAPLEN_OFFSET, be),
            read_u32(body, EPB_ORIGLEN_OFFSET, be),
        );
        let (Some(iface_id), Some(ts_high), Some(ts_low), Some(caplen), Some(orig_len)) = fields
        else {
            return Step::Bad(format!("frame {frame_no}: packet block too short"));
        };
        let caplen = caplen as usize;
        if caplen > body.len() - EPB_DATA_OFFSET {
            return Step::Bad(format!(
                "frame {frame_no}: captured length {caplen} exceeds its block ({} bytes of data)",
                body.len() - EPB_DATA_OFFSET
            ));
        }
        let Some(iface) = self.interfaces.get(iface_id as usize) else {
            return Step::Bad(format!(
                "frame {frame_no}: interface {iface_id} was not described (the section has {})",
                self.interfaces.len()
            ));
        };
        let ts = iface.timestamp((u64::from(ts_high) << 32) | u64::from(ts_low));
        self.last_ts = ts;
        let start = BLOCK_HEADER_LEN + EPB_DATA_OFFSET;
        Step::Frame {
            len,
            data: start..start + caplen,
            ts,
            linktype: iface.linktype,
            orig_len,
        }
    }

    fn simple_packet(&mut self, body: &[u8], len: usize, frame_no: u64) -> Step {
        let Some(orig_len) = read_u32(body, SPB_ORIGLEN_OFFSET, self.big_endian) else {
            return Step::Bad(format!("frame {frame_no}: simple packet block too short"));
        };
        let Some(iface) = self.interfaces.first() else {
            return Step::Bad(format!(
                "frame {frame_no}: simple packet block before any interface description"
            ));
        };
        // The block holds min(original length, snap length) bytes plus padding.
        let mut caplen = (body.len() - SPB_DATA_OFFSET).min(orig_len as usize);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        let start = BLOCK_HEADER_LEN + SPB_DATA_OFFSET;
        Step::Frame {
            len,
            data: start..start + caplen,
            ts: self.last_ts,
            linktype: iface.linktype,
            orig_len,
        }
    }
}

fn read_u64(b: &[u8], at: usize, big_endian: bool) -> Option<u64> {
    let bytes: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(if big_endian {
        u64::from_be_bytes(bytes)
    } else {
        u64::from_le_bytes(bytes)
    })
}
