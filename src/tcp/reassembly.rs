//! One direction of a connection as an ordered byte stream.
//!
//! Segments go in by sequence number; contiguous bytes come out at once as
//! [`StreamEvent::Data`] (no waiting for ACKs). Retransmitted bytes come out
//! once; bytes never captured come out as [`StreamEvent::Gap`].

/// What a direction's stream delivers, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// This many bytes of the stream were never captured.
    Gap(u64),
    /// The sender's FIN: no more data in this direction.
    Fin,
    /// A RST from either side ended the stream.
    Reset,
}

/// Counters kept by one direction's reassembler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReassemblyStats {
    /// Segments whose payload was entirely old data.
    pub retransmitted_segments: u64,
    pub retransmitted_bytes: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order_segments: u64,
    /// Overlaps whose bytes differed from the first copy (the first is kept).
    pub conflicting_overlaps: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Times the out-of-order buffer cap forced a gap.
    pub buffer_overflows: u64,
}

/// Per-direction reassembly state.
pub struct Reassembler {
    _private: (),
}
