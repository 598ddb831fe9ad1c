//! The HTTP/2 frame layer (RFC 9113 section 4 and 6): the 9-byte header is
//! checked once, the payload length is checked against the buffer and the
//! receiver's SETTINGS_MAX_FRAME_SIZE, and after that every accessor reads
//! inside bounds it has already checked (smoltcp's habit): nothing here can
//! panic on any input.
//!
//! Two ways in:
//! - [`parse_frame`] on a whole buffer: `Err(FrameError::Incomplete)` says
//!   how many more bytes are needed ("need more"), as rusticata's parsers do;
//! - [`FrameHeader::parse`] then [`Frame::from_parts`] for a reader that
//!   skips DATA payloads by length and buffers only what it keeps (the
//!   session does this).

use std::fmt;

/// Length of the frame header.
pub const FRAME_HEADER_LEN: usize = 9;
/// Default SETTINGS_MAX_FRAME_SIZE (RFC 9113 section 6.5.2), also its floor.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// Largest SETTINGS_MAX_FRAME_SIZE a peer may advertise (2^24 - 1): frame
/// lengths are bounded at 16 MiB whatever was advertised.
pub const MAX_FRAME_SIZE_BOUND: u32 = (1 << 24) - 1;

/// Frame flags (RFC 9113 section 6).
pub mod flags {
    /// DATA, HEADERS: the last frame the sender sends on this stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: the header block ends here.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a pad length byte and padding.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: exclusive flag, stream dependency and weight follow.
    pub const PRIORITY: u8 = 0x20;
}

/// Frame types of RFC 9113; every other value is [`FrameType::Unknown`]
/// (to be skipped, section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameType {
    /// 0x0
    Data,
    /// 0x1
    Headers,
    /// 0x2
    Priority,
    /// 0x3
    RstStream,
    /// 0x4
    Settings,
    /// 0x5
    PushPromise,
    /// 0x6
    Ping,
    /// 0x7
    Goaway,
    /// 0x8
    WindowUpdate,
    /// 0x9
    Continuation,
    /// Any other type octet.
    Unknown(u8),
}

impl FrameType {
    /// The type for a type octet.
    pub fn from_u8(t: u8) -> FrameType {
        match t {
            0 => FrameType::Data,
            1 => FrameType::Headers,
            2 => FrameType::Priority,
            3 => FrameType::RstStream,
            4 => FrameType::Settings,
            5 => FrameType::PushPromise,
            6 => FrameType::Ping,
            7 => FrameType::Goaway,
            8 => FrameType::WindowUpdate,
            9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }

    /// The RFC's name of the type (`"UNKNOWN"` for others).
    pub fn name(self) -> &'static str {
        match self {
            FrameType::Data => "DATA",
            FrameType::Headers => "HEADERS",
            FrameType::Priority => "PRIORITY",
            FrameType::RstStream => "RST_STREAM",
            FrameType::Settings => "SETTINGS",
            FrameType::PushPromise => "PUSH_PROMISE",
            FrameType::Ping => "PING",
            FrameType::Goaway => "GOAWAY",
            FrameType::WindowUpdate => "WINDOW_UPDATE",
            FrameType::Continuation => "CONTINUATION",
            FrameType::Unknown(_) => "UNKNOWN",
        }
    }
}

/// The 9-byte frame header, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits, so at most 16 MiB - 1).
    pub length: u32,
    /// Frame type.
    pub kind: FrameType,
    /// Flag octet as sent.
    pub flags: u8,
    /// Stream identifier, reserved bit cleared.
    pub stream_id: u32,
}

impl FrameHeader {
    /// Decodes a header from the first 9 bytes of `buf`; `None` if fewer.
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; FRAME_HEADER_LEN] = buf.get(..FRAME_HEADER_LEN)?.try_into().ok()?;
        // length (24 bits), type, flags, R + stream id (31 bits)
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *h;
        Some(FrameHeader {
            length: u32::from_be_bytes([0, l0, l1, l2]),
            kind: FrameType::from_u8(kind),
            flags,
            stream_id: u32::from_be_bytes([s0, s1, s2, s3]) & 0x7fff_ffff,
        })
    }

    /// Encodes the header (for tests and tools).
    pub fn encode(&self) -> [u8; FRAME_HEADER_LEN] {
        let l = self.length.min(MAX_FRAME_SIZE_BOUND).to_be_bytes();
        let s = (self.stream_id & 0x7fff_ffff).to_be_bytes();
        let t = match self.kind {
            FrameType::Data => 0,
            FrameType::Headers => 1,
            FrameType::Priority => 2,
            FrameType::RstStream => 3,
            FrameType::Settings => 4,
            FrameType::PushPromise => 5,
            FrameType::Ping => 6,
            FrameType::Goaway => 7,
            FrameType::WindowUpdate => 8,
            FrameType::Continuation => 9,
            FrameType::Unknown(t) => t,
        };
        [l[1], l[2], l[3], t, self.flags, s[0], s[1], s[2], s[3]]
    }

    /// A flag is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Why a frame could not be read. Each maps to the RFC's connection or
/// stream error; the session records them as anomalies and goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer ends before the frame does: `need` more bytes.
    Incomplete {
        /// Bytes still missing.
        need: usize,
    },
    /// The length exceeds the receiver's SETTINGS_MAX_FRAME_SIZE
    /// (FRAME_SIZE_ERROR).
    TooLarge {
        /// Payload length sent.
        length: u32,
        /// The limit in force.
        max: u32,
    },
    /// A fixed-size frame of the wrong size, or a payload too short for
    /// its mandatory fields (FRAME_SIZE_ERROR).
    BadLength {
        /// Frame type.
        kind: FrameType,
        /// Payload length sent.
        length: u32,
    },
    /// Padding not shorter than the payload (PROTOCOL_ERROR).
    PadTooLong {
        /// Frame type.
        kind: FrameType,
        /// Pad length octet.
        pad: u8,
        /// Payload length.
        length: u32,
    },
    /// A stream frame on stream 0, or a connection frame on a stream
    /// (PROTOCOL_ERROR).
    BadStreamId {
        /// Frame type.
        kind: FrameType,
        /// The stream id sent.
        stream_id: u32,
    },
    /// SETTINGS with ACK and a payload (FRAME_SIZE_ERROR).
    SettingsAckWithPayload,
    /// WINDOW_UPDATE with an increment of 0 (PROTOCOL_ERROR).
    ZeroWindowIncrement {
        /// The stream id (0: a connection error).
        stream_id: u32,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::Incomplete { need } => write!(f, "{need} more bytes needed"),
            FrameError::TooLarge { length, max } => {
                write!(
                    f,
                    "frame of {length} bytes over SETTINGS_MAX_FRAME_SIZE {max}"
                )
            }
            FrameError::BadLength { kind, length } => {
                write!(f, "{} frame with a {length}-byte payload", kind.name())
            }
            FrameError::PadTooLong { kind, pad, length } => {
                write!(
                    f,
                    "{} frame padding {pad} in a {length}-byte payload",
                    kind.name()
                )
            }
            FrameError::BadStreamId { kind, stream_id } => {
                write!(f, "{} frame on stream {stream_id}", kind.name())
            }
            FrameError::SettingsAckWithPayload => f.write_str("SETTINGS ACK with a payload"),
            FrameError::ZeroWindowIncrement { stream_id } => {
                write!(f, "WINDOW_UPDATE of 0 on stream {stream_id}")
            }
        }
    }
}

/// HEADERS priority fields (deprecated by RFC 9113, still parsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityFields {
    /// Exclusive flag.
    pub exclusive: bool,
    /// Stream dependency.
    pub depends_on: u32,
    /// Weight octet (weight - 1).
    pub weight: u8,
}

impl PriorityFields {
    fn parse(p: &[u8]) -> Option<PriorityFields> {
        let b: &[u8; 5] = p.get(..5)?.try_into().ok()?;
        let dep = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        Some(PriorityFields {
            exclusive: dep & 0x8000_0000 != 0,
            depends_on: dep & 0x7fff_ffff,
            weight: b[4],
        })
    }
}

/// A decoded frame whose payload is borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA: `data` is the payload without padding.
    Data {
        /// Application data.
        data: &'a [u8],
        /// END_STREAM flag.
        end_stream: bool,
    },
    /// HEADERS: the first fragment of a header block.
    Headers {
        /// Header block fragment (padding and priority removed).
        block: &'a [u8],
        /// END_STREAM flag.
        end_stream: bool,
        /// END_HEADERS flag: no CONTINUATION follows.
        end_headers: bool,
        /// Priority fields if the PRIORITY flag was set.
        priority: Option<PriorityFields>,
    },
    /// PRIORITY.
    Priority(PriorityFields),
    /// RST_STREAM with its error code.
    RstStream {
        /// Error code.
        error: u32,
    },
    /// SETTINGS (or its ACK).
    Settings {
        /// ACK flag (then `params` is empty).
        ack: bool,
        /// The parameters, 6 bytes each (see [`settings_iter`]).
        params: &'a [u8],
    },
    /// PUSH_PROMISE: reserves `promised` and starts its request header block.
    PushPromise {
        /// The promised stream id.
        promised: u32,
        /// Header block fragment.
        block: &'a [u8],
        /// END_HEADERS flag.
        end_headers: bool,
    },
    /// PING.
    Ping {
        /// ACK flag.
        ack: bool,
        /// Opaque data.
        data: [u8; 8],
    },
    /// GOAWAY.
    Goaway {
        /// Highest stream id the sender may have acted on.
        last_stream_id: u32,
        /// Error code.
        error: u32,
        /// Additional debug data.
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE.
    WindowUpdate {
        /// Window size increment (31 bits).
        increment: u32,
    },
    /// CONTINUATION.
    Continuation {
        /// Header block fragment.
        block: &'a [u8],
        /// END_HEADERS flag.
        end_headers: bool,
    },
    /// A type this layer does not know: skipped (RFC 9113 section 4.1).
    Unknown {
        /// Type octet.
        kind: u8,
    },
}

/// The parameters of a SETTINGS payload as (identifier, value); a trailing
/// partial entry is ignored (and rejected earlier by [`Frame::from_parts`]).
pub fn settings_iter(params: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    params
        .chunks_exact(6)
        .map(|c| match <&[u8; 6]>::try_from(c) {
            Ok(e) => (
                u16::from_be_bytes([e[0], e[1]]),
                u32::from_be_bytes([e[2], e[3], e[4], e[5]]),
            ),
            Err(_) => (0, 0),
        })
}

/// Splits off the pad length byte and the padding of a PADDED frame.
fn unpad<'a>(h: &FrameHeader, p: &'a [u8]) -> Result<&'a [u8], FrameError> {
    if !h.has(flags::PADDED) {
        return Ok(p);
    }
    let Some((&pad, rest)) = p.split_first() else {
        return Err(FrameError::BadLength {
            kind: h.kind,
            length: h.length,
        });
    };
    let keep = rest.len().checked_sub(usize::from(pad));
    match keep.and_then(|k| rest.get(..k)) {
        Some(body) => Ok(body),
        None => Err(FrameError::PadTooLong {
            kind: h.kind,
            pad,
            length: h.length,
        }),
    }
}

/// DATA payload bytes without padding, from the header and (for a PADDED
/// frame) the pad length octet; lets a reader count DATA without keeping it.
pub fn data_len(h: &FrameHeader, pad_octet: Option<u8>) -> Result<u32, FrameError> {
    if !h.has(flags::PADDED) {
        return Ok(h.length);
    }
    let Some(pad) = pad_octet else {
        return Err(FrameError::BadLength {
            kind: h.kind,
            length: h.length,
        });
    };
    h.length
        .checked_sub(1)
        .and_then(|l| l.checked_sub(u32::from(pad)))
        .ok_or(FrameError::PadTooLong {
            kind: h.kind,
            pad,
            length: h.length,
        })
}

fn need_stream(h: &FrameHeader) -> Result<(), FrameError> {
    if h.stream_id == 0 {
        return Err(FrameError::BadStreamId {
            kind: h.kind,
            stream_id: 0,
        });
    }
    Ok(())
}

fn need_conn(h: &FrameHeader) -> Result<(), FrameError> {
    if h.stream_id != 0 {
        return Err(FrameError::BadStreamId {
            kind: h.kind,
            stream_id: h.stream_id,
        });
    }
    Ok(())
}

fn bad_len(h: &FrameHeader) -> FrameError {
    FrameError::BadLength {
        kind: h.kind,
        length: h.length,
    }
}

fn be32(p: &[u8], at: usize) -> Option<u32> {
    let b: &[u8; 4] = p.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(*b))
}

impl<'a> Frame<'a> {
    /// Decodes a frame from its header and its whole payload (`payload`
    /// must be exactly `h.length` bytes, else [`FrameError::Incomplete`]
    /// or [`FrameError::BadLength`]). Validates what RFC 9113 section 6
    /// requires of each type's length, padding, flags and stream id.
    pub fn from_parts(h: &FrameHeader, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        let len = usize::try_from(h.length).unwrap_or(usize::MAX);
        if payload.len() < len {
            return Err(FrameError::Incomplete {
                need: len - payload.len(),
            });
        }
        let p = payload.get(..len).ok_or(bad_len(h))?;
        match h.kind {
            FrameType::Data => {
                need_stream(h)?;
                Ok(Frame::Data {
                    data: unpad(h, p)?,
                    end_stream: h.has(flags::END_STREAM),
                })
            }
            FrameType::Headers => {
                need_stream(h)?;
                let body = unpad(h, p)?;
                let (priority, block) = if h.has(flags::PRIORITY) {
                    let pr = PriorityFields::parse(body).ok_or(bad_len(h))?;
                    (Some(pr), body.get(5..).unwrap_or_default())
                } else {
                    (None, body)
                };
                Ok(Frame::Headers {
                    block,
                    end_stream: h.has(flags::END_STREAM),
                    end_headers: h.has(flags::END_HEADERS),
                    priority,
                })
            }
            FrameType::Priority => {
                need_stream(h)?;
                if p.len() != 5 {
                    return Err(bad_len(h));
                }
                PriorityFields::parse(p)
                    .map(Frame::Priority)
                    .ok_or(bad_len(h))
            }
            FrameType::RstStream => {
                need_stream(h)?;
                if p.len() != 4 {
                    return Err(bad_len(h));
                }
                Ok(Frame::RstStream {
                    error: be32(p, 0).ok_or(bad_len(h))?,
                })
            }
            FrameType::Settings => {
                need_conn(h)?;
                let ack = h.has(flags::ACK);
                if ack && !p.is_empty() {
                    return Err(FrameError::SettingsAckWithPayload);
                }
                if p.len() % 6 != 0 {
                    return Err(bad_len(h));
                }
                Ok(Frame::Settings { ack, params: p })
            }
            FrameType::PushPromise => {
                need_stream(h)?;
                let body = unpad(h, p)?;
                let promised = be32(body, 0).ok_or(bad_len(h))? & 0x7fff_ffff;
                Ok(Frame::PushPromise {
                    promised,
                    block: body.get(4..).unwrap_or_default(),
                    end_headers: h.has(flags::END_HEADERS),
                })
            }
            FrameType::Ping => {
                need_conn(h)?;
                let data: [u8; 8] = p.try_into().map_err(|_| bad_len(h))?;
                Ok(Frame::Ping {
                    ack: h.has(flags::ACK),
                    data,
                })
            }
            FrameType::Goaway => {
                need_conn(h)?;
                let last = be32(p, 0).ok_or(bad_len(h))? & 0x7fff_ffff;
                let error = be32(p, 4).ok_or(bad_len(h))?;
                Ok(Frame::Goaway {
                    last_stream_id: last,
                    error,
                    debug: p.get(8..).unwrap_or_default(),
                })
            }
            FrameType::WindowUpdate => {
                if p.len() != 4 {
                    return Err(bad_len(h));
                }
                let increment = be32(p, 0).ok_or(bad_len(h))? & 0x7fff_ffff;
                if increment == 0 {
                    return Err(FrameError::ZeroWindowIncrement {
                        stream_id: h.stream_id,
                    });
                }
                Ok(Frame::WindowUpdate { increment })
            }
            FrameType::Continuation => {
                need_stream(h)?;
                Ok(Frame::Continuation {
                    block: p,
                    end_headers: h.has(flags::END_HEADERS),
                })
            }
            FrameType::Unknown(kind) => Ok(Frame::Unknown { kind }),
        }
    }
}

/// Checks a header's length against the receiver's SETTINGS_MAX_FRAME_SIZE
/// (clamped to [16 KiB, 16 MiB - 1]).
pub fn check_length(h: &FrameHeader, max_frame_size: u32) -> Result<(), FrameError> {
    let max = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_BOUND);
    if h.length > max {
        return Err(FrameError::TooLarge {
            length: h.length,
            max,
        });
    }
    Ok(())
}

/// Parses one whole frame at the start of `buf`: the frame and the bytes it
/// took, or [`FrameError::Incomplete`] with the bytes still missing.
pub fn parse_frame(buf: &[u8], max_frame_size: u32) -> Result<(Frame<'_>, usize), FrameError> {
    let Some(h) = FrameHeader::parse(buf) else {
        return Err(FrameError::Incomplete {
            need: FRAME_HEADER_LEN - buf.len(),
        });
    };
    check_length(&h, max_frame_size)?;
    let len = usize::try_from(h.length).unwrap_or(usize::MAX);
    let payload = buf.get(FRAME_HEADER_LEN..).unwrap_or_default();
    if payload.len() < len {
        return Err(FrameError::Incomplete {
            need: len - payload.len(),
        });
    }
    let f = Frame::from_parts(&h, payload.get(..len).unwrap_or_default())?;
    Ok((f, FRAME_HEADER_LEN + len))
}

/// Error code names of RFC 9113 section 7; `None` for other codes.
pub fn error_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => return None,
    })
}

/// The name of an error code, `"UNKNOWN_ERROR"` for codes RFC 9113 does
/// not define (the number is kept beside it where it matters).
pub fn error_str(code: u32) -> &'static str {
    error_name(code).unwrap_or("UNKNOWN_ERROR")
}

/// SETTINGS identifiers (RFC 9113 section 6.5.2).
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

#[cfg(test)]
mod tests;
