//! Capture containers: pcap (both byte orders, micro/nanosecond), pcapng
//! (several sections and interfaces), gzip-compressed files, standard input.
//!
//! The reader hands out [`Frame`]s that borrow from its own buffer (a memory
//! map for plain files, a refilled buffer for streams): no per-frame
//! allocation.

use std::path::PathBuf;

use crate::types::Timestamp;

/// LINKTYPE_* values (https://www.tcpdump.org/linktypes.html) that decode/ knows.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    /// DLT_RAW on OpenBSD (14) and most other systems (12) map here too.
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// Where a capture comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    /// `-` on the command line.
    Stdin,
}

impl Input {
    /// How the input is named in messages: the path, or `<stdin>`.
    pub fn display_name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".to_string(),
        }
    }
}

/// One captured frame, borrowed from the reader.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based index within this input.
    pub index: u64,
    pub ts: Timestamp,
    /// LINKTYPE_* of the interface the frame was captured on.
    pub linktype: u32,
    /// The captured bytes (possibly cut by the snap length).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

/// What kind of container an input turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    Pcap,
    Pcapng,
}

/// A file-level problem. Every message names the input and where it went wrong.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: empty file, not a capture")]
    Empty { file: String },
    #[error("{file}: not a pcap or pcapng capture (first bytes {magic})")]
    NotCapture { file: String, magic: String },
    #[error("{file}: {what} at byte offset {offset}")]
    Corrupt {
        file: String,
        offset: u64,
        what: String,
    },
}

/// Reads frames from one input. See the module docs.
pub struct CaptureReader {
    _private: (),
}

impl CaptureReader {
    /// Opens an input, detecting gzip by its magic, then pcap or pcapng by theirs.
    pub fn open(_input: &Input) -> Result<Self, CaptureError> {
        unimplemented!("capture reader")
    }

    /// The next frame, `Ok(None)` at a clean end of input. A frame cut off by
    /// the end of the file is an `Err(Corrupt)` naming its offset; the caller
    /// keeps what it read before.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        unimplemented!("capture reader")
    }

    pub fn container(&self) -> Container {
        unimplemented!("capture reader")
    }

    pub fn gzip(&self) -> bool {
        unimplemented!("capture reader")
    }
}
