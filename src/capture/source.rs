//! The bytes behind a [`CaptureReader`](super::CaptureReader): a memory map
//! (or an owned buffer) parsed in place, or a stream read into a refillable
//! buffer.
//!
//! Both present the same view: [`Source::avail`] is the unconsumed bytes,
//! [`Source::consume`] moves past a record, [`Source::fill`] asks for more.
//! Consuming never moves bytes, so a slice of [`Source::buffer`] taken after
//! `consume` stays valid until the next `fill`.

use std::io::{self, Read};
use std::sync::Arc;

use memmap2::Mmap;

use super::MAX_RECORD_LEN;

/// Initial size of a stream buffer.
pub(crate) const STREAM_BUF_LEN: usize = 1 << 20;

/// Bytes that are all in memory, shared: the threads of `--threads` read
/// frames through a clone instead of copying them (see [`crate::threads`]).
#[derive(Clone)]
pub enum Whole {
    /// A memory-mapped file.
    Map(Arc<Mmap>),
    /// For tests and callers that already hold the bytes.
    Owned(Arc<Vec<u8>>),
}

impl Whole {
    /// The bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Whole::Map(m) => m,
            Whole::Owned(v) => v,
        }
    }

    /// Whether `other` holds the same bytes (the same allocation or map).
    pub fn same(&self, other: &Whole) -> bool {
        match (self, other) {
            (Whole::Map(a), Whole::Map(b)) => Arc::ptr_eq(a, b),
            (Whole::Owned(a), Whole::Owned(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

pub(crate) enum Source {
    /// The whole input is addressable; `pos` is the first unconsumed byte.
    Whole { data: Whole, pos: usize },
    /// A stream: `buf[start..end]` is unconsumed, `base` is the input offset
    /// of `buf[0]`.
    Stream {
        reader: Box<dyn Read + Send>,
        buf: Vec<u8>,
        start: usize,
        end: usize,
        base: u64,
        eof: bool,
        /// The read error that ended the stream, until taken.
        error: Option<io::Error>,
    },
}

impl Source {
    pub(crate) fn whole(data: Whole) -> Self {
        Source::Whole { data, pos: 0 }
    }

    pub(crate) fn stream(reader: Box<dyn Read + Send>) -> Self {
        Source::Stream {
            reader,
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            error: None,
        }
    }

    /// The shared bytes of a source that is all in memory.
    pub(crate) fn whole_bytes(&self) -> Option<&Whole> {
        match self {
            Source::Whole { data, .. } => Some(data),
            Source::Stream { .. } => None,
        }
    }

    /// Everything the source holds in memory; ranges from [`Source::pos`]
    /// index into this.
    pub(crate) fn buffer(&self) -> &[u8] {
        match self {
            Source::Whole { data, .. } => data.bytes(),
            Source::Stream { buf, end, .. } => buf.get(..*end).unwrap_or(&[]),
        }
    }

    /// Index in [`Source::buffer`] of the first unconsumed byte.
    pub(crate) fn pos(&self) -> usize {
        match self {
            Source::Whole { pos, .. } => *pos,
            Source::Stream { start, .. } => *start,
        }
    }

    /// The unconsumed bytes held in memory.
    pub(crate) fn avail(&self) -> &[u8] {
        self.buffer().get(self.pos()..).unwrap_or(&[])
    }

    /// Input offset (in the possibly decompressed stream) of the first
    /// unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        match self {
            Source::Whole { pos, .. } => *pos as u64,
            Source::Stream { start, base, .. } => base.saturating_add(*start as u64),
        }
    }

    /// Moves past `n` bytes (at most what is available).
    pub(crate) fn consume(&mut self, n: usize) {
        match self {
            Source::Whole { data, pos } => {
                *pos = pos.saturating_add(n).min(data.bytes().len());
            }
            Source::Stream { start, end, .. } => {
                *start = start.saturating_add(n).min(*end);
            }
        }
    }

    /// The read error that ended a stream, once.
    pub(crate) fn take_error(&mut self) -> Option<io::Error> {
        match self {
            Source::Whole { .. } => None,
            Source::Stream { error, .. } => error.take(),
        }
    }

    /// Tries to have at least `need` unconsumed bytes in memory. Returns
    /// false if the input ends before that: at its end, or at a read error
    /// (kept for [`Source::take_error`]; the bytes read before it stay
    /// usable). `need` must be at most [`MAX_RECORD_LEN`] (larger requests
    /// are capped there).
    pub(crate) fn fill(&mut self, need: usize) -> bool {
        match self {
            Source::Whole { data, pos } => data.bytes().len().saturating_sub(*pos) >= need,
            Source::Stream {
                reader,
                buf,
                start,
                end,
                base,
                eof,
                error,
            } => {
                let need = need.min(MAX_RECORD_LEN);
                if *end - *start >= need {
                    return true;
                }
                if *eof {
                    return false;
                }
                // Not enough room after `start`: move the unconsumed bytes to
                // the front (a partial record, normally small).
                if buf.len() - *start < need {
                    buf.copy_within(*start..*end, 0);
                    *base = base.saturating_add(*start as u64);
                    *end -= *start;
                    *start = 0;
                }
                if buf.len() < need {
                    let len = need
                        .checked_next_power_of_two()
                        .unwrap_or(need)
                        .clamp(STREAM_BUF_LEN, MAX_RECORD_LEN.max(need));
                    buf.resize(len, 0);
                }
                while *end - *start < need {
                    let Some(space) = buf.get_mut(*end..) else {
                        return false;
                    };
                    if space.is_empty() {
                        return false;
                    }
                    match reader.read(space) {
                        Ok(0) => {
                            *eof = true;
                            return false;
                        }
                        Ok(n) => *end += n.min(space.len()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            *eof = true;
                            *error = Some(e);
                            return false;
                        }
                    }
                }
                true
            }
        }
    }
}
