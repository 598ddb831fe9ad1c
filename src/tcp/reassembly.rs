//! One direction of a connection as an ordered byte stream.
//!
//! Segments go in by sequence number; contiguous bytes come out at once as
//! [`StreamEvent::Data`] (no waiting for ACKs). Retransmitted bytes come out
//! once; bytes never captured come out as [`StreamEvent::Gap`].
//!
//! Sequence numbers are mapped to 64-bit stream offsets (0 = the first byte
//! after the SYN), so the buffer of out-of-order data never has to care about
//! wrap-around.
//!
//! When the SYN was not seen (the capture started mid-connection), the
//! stream starts at the first segment carrying payload, with two refinements:
//!
//! * If the peer had already acknowledged a sequence number `A` before that
//!   segment's `S` (`A < S`, `S - A` within the out-of-order buffer cap), the
//!   stream starts at `A`: bytes `[A, S)` exist and were sent before `S`, so
//!   the segment at `S` is held as out of order and a later segment at `A`
//!   fills the hole (packets reordered at the start of the capture). If the
//!   hole is never filled it becomes a [`StreamEvent::Gap`] like any other.
//! * A bare FIN (no payload) does not start the stream: it is held until the
//!   SYN, the first payload or [`Reassembler::flush`] places the start, so a
//!   FIN captured before the handshake or the data it ends does not swallow
//!   the stream.
//!
//! Without such evidence bytes before the first captured one are not
//! reported as a gap (they were most likely sent before the capture began).
//! In-order data is handed out straight from the segment's slice; only data
//! that arrives ahead of a hole is copied (into recycled buffers).

use std::collections::BTreeMap;

use crate::tcp::seq::SeqNumber;
use crate::types::Timestamp;

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
    /// Payload bytes that had been seen before (whole or partial
    /// retransmissions).
    pub retransmitted_bytes: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order_segments: u64,
    /// Overlaps whose bytes differed from the first copy (the first is kept).
    pub conflicting_overlaps: u64,
    /// Gaps delivered, and the bytes they stand for.
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Times the out-of-order buffer cap forced a gap.
    pub buffer_overflows: u64,
    /// Holes given up to keep the memory budget (see `--memory-budget`).
    pub budget_sheds: u64,
}

/// What one call to [`Reassembler::segment`] did, beyond the events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Payload bytes of this segment seen for the first time (delivered now
    /// or buffered).
    pub accepted: u64,
    /// Overlaps with buffered data whose bytes differed (first copy kept).
    pub conflicts: u64,
    /// Stream offset of the first conflicting overlap, if any.
    pub conflict_offset: Option<u64>,
    /// New payload bytes that came after the stream had ended (after its FIN
    /// was delivered, or after a reset); they are not delivered.
    pub after_end: u64,
    /// The segment lay implausibly far ahead (more than
    /// [`MAX_AHEAD`] bytes) and was ignored.
    pub out_of_window: bool,
}

/// Segments starting more than this many bytes past the next expected byte
/// are taken as bogus (or a different connection) and ignored.
pub const MAX_AHEAD: u64 = 1 << 30;

/// Spare buffers kept for reuse, per direction.
const MAX_SPARE: usize = 4;
/// Buffers larger than this are not kept for reuse.
const MAX_SPARE_CAPACITY: usize = 16 * 1024;

/// Out-of-order data held until the hole before it is filled.
#[derive(Debug)]
enum Piece {
    /// Captured bytes.
    Bytes(Vec<u8>),
    /// Bytes the segment carried but the snap length cut off.
    Missing(u64),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(v) => v.len() as u64,
            Piece::Missing(n) => *n,
        }
    }
}

/// The segment being delivered: stream offset, captured bytes, real length.
#[derive(Clone, Copy)]
struct Input<'a> {
    start: u64,
    captured: &'a [u8],
    len: u64,
}

impl Input<'_> {
    fn end(&self) -> u64 {
        self.start + self.len
    }
    fn captured_end(&self) -> u64 {
        self.start + self.captured.len() as u64
    }
}

/// Per-direction reassembly state.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of stream offset 0; `None` until the stream starts.
    base: Option<SeqNumber>,
    /// Next stream offset to deliver.
    next: u64,
    /// One past the highest stream offset any segment carried.
    highest: u64,
    /// Out-of-order pieces by stream offset: non-overlapping, beyond `next`.
    pending: BTreeMap<u64, Piece>,
    /// Bytes held in `pending`.
    buffered: usize,
    /// Stream offset of the (first) FIN.
    fin: Option<u64>,
    fin_delivered: bool,
    reset: bool,
    /// Highest acknowledgement number the peer sent for this stream.
    peer_ack: Option<SeqNumber>,
    /// Capture time of the (earliest) acknowledgement reaching `peer_ack`.
    peer_ack_ts: Option<Timestamp>,
    /// Capture time of the segment being fed, if the caller gave it.
    now: Option<Timestamp>,
    /// Sequence number of a bare FIN seen before the stream started.
    early_fin: Option<SeqNumber>,
    spare: Vec<Vec<u8>>,
    stats: ReassemblyStats,
}

impl Reassembler {
    /// An empty stream that will start at the SYN or at the first segment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// The SYN (or SYN-ACK) of this direction was seen: the stream starts at
    /// `isn + 1`. Ignored once the stream has started.
    /// A FIN held from before is placed; it is delivered by
    /// [`Reassembler::deliver_ready`] or the next segment.
    pub fn set_isn(&mut self, isn: SeqNumber) {
        if self.base.is_none() {
            self.start_at(isn + 1);
        }
    }

    /// Delivers what is ready without a new segment (a held FIN placed
    /// right at the start by [`Reassembler::set_isn`]).
    pub fn deliver_ready(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        if !self.reset && self.base.is_some() {
            self.check_fin(out);
        }
    }

    /// Starts the stream at `base`, placing a FIN held from before it
    /// started (dropped if it lies before `base` or implausibly far ahead).
    fn start_at(&mut self, base: SeqNumber) {
        self.base = Some(base);
        if let Some(f) = self.early_fin.take()
            && let Ok(off) = u64::try_from(f - base)
            && off <= MAX_AHEAD
        {
            self.fin = Some(off);
            self.highest = self.highest.max(off);
        }
    }

    /// Where a stream without a captured SYN starts, given its first
    /// segment with payload at `seq`: at the peer's earlier acknowledgement
    /// when there is one within `max_buffered` bytes, else at `seq`; never
    /// after a FIN held from before (data after the FIN stays after it).
    fn first_base(&self, seq: SeqNumber, max_buffered: usize) -> SeqNumber {
        let mut b = seq;
        if let Some(a) = self.peer_ack
            && let Ok(d) = u64::try_from(seq - a)
            && d > 0
            && d <= max_buffered as u64
        {
            b = a;
        }
        if let Some(f) = self.early_fin
            && f < b
        {
            b = f;
        }
        b
    }

    /// Whether the stream has started (SYN or first payload seen; a bare
    /// FIN alone does not start it).
    pub fn started(&self) -> bool {
        self.base.is_some()
    }

    /// Sequence number of the next byte to deliver, once started.
    pub fn next_seq(&self) -> Option<SeqNumber> {
        self.base.map(|b| b + self.next as u32)
    }

    /// Sequence number one past the highest byte seen (the sender's next
    /// sequence number), falling back to the peer's ACK before the stream
    /// has started.
    pub fn expected_seq(&self) -> Option<SeqNumber> {
        match self.base {
            Some(b) => Some(b + self.highest as u32),
            None => self.peer_ack,
        }
    }

    /// Bytes currently held out of order.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// The stream's FIN has been delivered.
    pub fn fin_delivered(&self) -> bool {
        self.fin_delivered
    }

    /// The stream was reset.
    pub fn is_reset(&self) -> bool {
        self.reset
    }

    /// A segment of `len` bytes at `seq` would be a TCP keep-alive probe:
    /// 0 or 1 byte at one below the sender's next sequence number.
    pub fn is_keepalive(&self, seq: SeqNumber, len: u32) -> bool {
        len <= 1 && self.expected_seq().is_some_and(|e| seq == e - 1)
    }

    /// The peer acknowledged up to `ack` in this stream, in a packet
    /// captured at `ts`. ACKs past a hole are evidence that the capture
    /// missed data: the hole is declared a gap when the next segment of this
    /// direction does not fill it (unless that segment is stamped earlier
    /// than the ACK: see [`Reassembler::set_now`]).
    pub fn peer_ack(&mut self, ack: SeqNumber, ts: Timestamp) {
        match self.peer_ack {
            Some(a) if ack < a => {}
            Some(a) if ack == a => {
                self.peer_ack_ts = Some(self.peer_ack_ts.map_or(ts, |t| t.min(ts)));
            }
            _ => {
                self.peer_ack = Some(ack);
                self.peer_ack_ts = Some(ts);
            }
        }
    }

    /// The capture time of the segment about to be fed. An ACK stamped later
    /// than the segment (a capture not in time order) does not make the hole
    /// before that segment a gap: the bytes may still come later in the
    /// file. In a capture in time order this never applies.
    pub fn set_now(&mut self, ts: Timestamp) {
        self.now = Some(ts);
    }

    /// Nothing is buffered out of order (so [`Reassembler::release_acked`]
    /// can do no more than deliver a FIN, and an ACK changes no counter).
    pub fn nothing_pending(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether a segment with payload at `seq` (all of it captured, no FIN)
    /// is the common case [`Reassembler::push_in_order`] handles: it starts
    /// at the next byte to deliver of an open stream that holds nothing out
    /// of order, has no FIN placed and no byte beyond `next` seen.
    pub fn in_order_at(&self, seq: SeqNumber) -> bool {
        match self.base {
            Some(base) => {
                !self.reset
                    && !self.fin_delivered
                    && self.fin.is_none()
                    && self.next == self.highest
                    && self.pending.is_empty()
                    && base + self.next as u32 == seq
            }
            None => false,
        }
    }

    /// [`Reassembler::segment`] for a segment [`Reassembler::in_order_at`]
    /// accepts, with the state and counters `segment` would leave (none
    /// changes: nothing is old, out of order or a gap): `payload` is
    /// delivered. Anything else goes to `segment` (checked in debug builds).
    pub fn push_in_order(
        &mut self,
        seq: SeqNumber,
        payload: &[u8],
        now: Timestamp,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        debug_assert!(self.in_order_at(seq) && !payload.is_empty());
        self.now = Some(now);
        self.next += payload.len() as u64;
        self.highest = self.next;
        out(StreamEvent::Data(payload));
    }

    /// Stream offset of `seq` (may be negative: before the stream start).
    fn offset_of(&self, base: SeqNumber, seq: SeqNumber) -> i64 {
        let next_seq = base + self.next as u32;
        self.next as i64 + i64::from(seq - next_seq)
    }

    /// Feeds one segment of this direction: `seq` is the sequence number of
    /// its first payload byte (one past the SYN's for a SYN with data),
    /// `payload` the captured bytes and `payload_len` the real length.
    /// Events for this direction go to `out`.
    pub fn segment(
        &mut self,
        seq: SeqNumber,
        payload: &[u8],
        payload_len: u32,
        fin: bool,
        max_buffered: usize,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) -> Pushed {
        let mut pushed = Pushed::default();
        let len = u64::from(payload_len).max(payload.len() as u64);
        let captured = payload;
        if len == 0 && !fin {
            return pushed;
        }
        let base = match self.base {
            Some(b) => b,
            None if len == 0 => {
                // A bare FIN before anything placed the stream start: hold
                // it (a retransmitted FIN keeps the first sequence number).
                self.early_fin.get_or_insert(seq);
                return pushed;
            }
            None => {
                let b = self.first_base(seq, max_buffered);
                self.start_at(b);
                // A held FIN at the very start ends the stream before this
                // segment's data (which then counts as after the end).
                self.check_fin(out);
                b
            }
        };
        let start = self.offset_of(base, seq);
        if start > (self.next + MAX_AHEAD) as i64 {
            pushed.out_of_window = true;
            return pushed;
        }
        let end = start + len as i64;
        let fresh = end - start.max(self.highest as i64);
        if end > 0 {
            self.highest = self.highest.max(end as u64);
        }
        // Retransmitted bytes: those before the next byte to deliver.
        let next = self.next as i64;
        if len > 0 && start < next {
            let old = (next.min(end) - start) as u64;
            self.stats.retransmitted_bytes += old;
            if end <= next {
                self.stats.retransmitted_segments += 1;
            }
        }
        if self.reset || self.fin_delivered {
            pushed.after_end = fresh.max(0) as u64;
            return pushed;
        }
        if fin && end >= 0 && self.fin.is_none() {
            self.fin = Some(end as u64);
        }
        if len > 0 && end > next {
            // The part before the stream start (if any) is dropped.
            let (start, captured) = if start < 0 {
                let cut = usize::try_from(-start).unwrap_or(usize::MAX);
                (0u64, captured.get(cut..).unwrap_or(&[]))
            } else {
                (start as u64, captured)
            };
            let len = end as u64 - start;
            let keep = captured
                .len()
                .min(usize::try_from(len).unwrap_or(usize::MAX));
            let input = Input {
                start,
                captured: &captured[..keep],
                len,
            };
            if input.start > self.next {
                self.gap_by_ack(base, input.start, out);
            }
            if input.start > self.next {
                let inserted = self.insert(input, &mut pushed);
                pushed.accepted += inserted;
                if inserted == 0 {
                    self.stats.retransmitted_segments += 1;
                } else {
                    self.stats.out_of_order_segments += 1;
                }
                self.stats.retransmitted_bytes += input.len - inserted;
                while self.buffered > max_buffered {
                    self.stats.buffer_overflows += 1;
                    self.skip_to_pending(out);
                    self.drain_ready(None, &mut pushed, out);
                }
            } else {
                self.drain_ready(Some(input), &mut pushed, out);
            }
        } else if fin && start > next {
            // A FIN without data beyond a hole.
            self.gap_by_ack(base, start as u64, out);
            self.drain_ready(None, &mut pushed, out);
        }
        self.check_fin(out);
        pushed
    }

    /// No more segments: holes become gaps, buffered data is delivered, and
    /// the FIN (if seen) follows. Idempotent.
    pub fn flush(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        if self.reset {
            return;
        }
        if self.base.is_none()
            && let Some(f) = self.early_fin
        {
            // Only a bare FIN was seen: the stream is empty and ends there.
            self.start_at(f);
        }
        let mut pushed = Pushed::default();
        while !self.pending.is_empty() {
            self.skip_to_pending(out);
            self.drain_ready(None, &mut pushed, out);
        }
        let end = match (self.fin, self.base, self.peer_ack) {
            (Some(f), _, _) => Some(f),
            // Bytes the peer acknowledged but the capture never showed.
            (None, Some(base), Some(ack)) if !self.fin_delivered => {
                let a = self.offset_of(base, ack);
                (a > self.next as i64 && a - self.next as i64 <= MAX_AHEAD as i64)
                    .then_some(a as u64)
            }
            _ => None,
        };
        if let Some(e) = end
            && e > self.next
            && !self.fin_delivered
        {
            self.gap(e - self.next, out);
            self.next = e;
        }
        self.check_fin(out);
    }

    /// Gives up every hole before buffered data (they become gaps) and
    /// delivers what was behind them; the spare buffers are freed. Unlike
    /// [`Reassembler::flush`] the stream goes on.
    pub fn shed(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        if self.reset {
            return;
        }
        let mut pushed = Pushed::default();
        while !self.pending.is_empty() {
            self.stats.budget_sheds += 1;
            self.skip_to_pending(out);
            self.drain_ready(None, &mut pushed, out);
        }
        self.spare = Vec::new();
        self.check_fin(out);
    }

    /// The connection was reset: flush what can be delivered, then
    /// [`StreamEvent::Reset`]. Later segments deliver nothing.
    pub fn reset(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        if self.reset {
            return;
        }
        self.flush(out);
        self.reset = true;
        self.spare = Vec::new();
        out(StreamEvent::Reset);
    }

    fn gap(&mut self, n: u64, out: &mut impl FnMut(StreamEvent<'_>)) {
        if n > 0 {
            self.stats.gaps += 1;
            self.stats.gap_bytes += n;
            out(StreamEvent::Gap(n));
        }
    }

    fn check_fin(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        if !self.fin_delivered
            && let Some(f) = self.fin
            && self.next >= f
        {
            self.fin_delivered = true;
            out(StreamEvent::Fin);
        }
    }

    /// The peer acknowledged past the hole at `next` and the segment now
    /// arriving (at `start`) does not fill it: declare the acknowledged part
    /// of the hole a gap.
    fn gap_by_ack(&mut self, base: SeqNumber, start: u64, out: &mut impl FnMut(StreamEvent<'_>)) {
        let Some(ack) = self.peer_ack else { return };
        if let (Some(t), Some(now)) = (self.peer_ack_ts, self.now)
            && t > now
        {
            return;
        }
        let a = self.offset_of(base, ack);
        if a <= self.next as i64 {
            return;
        }
        let mut to = (a as u64).min(start);
        if let Some((&k, _)) = self.pending.first_key_value() {
            to = to.min(k);
        }
        if to > self.next {
            self.gap(to - self.next, out);
            self.next = to;
        }
    }

    /// The peer's ACK covers a whole hole before buffered data: the peer
    /// has those bytes, so they will never be sent again and the capture
    /// simply missed them. Declare the gap now and deliver what follows,
    /// so that data is not held back until the end of the connection (an
    /// HTTP request behind a lost segment must come out before the response
    /// that answers it). Holes the ACK does not cover may still be filled.
    pub fn release_acked(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        let (Some(base), Some(ack)) = (self.base, self.peer_ack) else {
            return;
        };
        if self.reset || self.fin_delivered {
            return;
        }
        if let (Some(t), Some(now)) = (self.peer_ack_ts, self.now)
            && t > now
        {
            return;
        }
        let a = self.offset_of(base, ack);
        let mut pushed = Pushed::default();
        while let Some((&k, _)) = self.pending.first_key_value() {
            if k <= self.next || (k as i64) > a {
                break;
            }
            self.skip_to_pending(out);
            self.drain_ready(None, &mut pushed, out);
        }
        self.check_fin(out);
    }

    /// Gives up on the hole before the first buffered piece.
    fn skip_to_pending(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        if let Some((&k, _)) = self.pending.first_key_value()
            && k > self.next
        {
            self.gap(k - self.next, out);
            self.next = k;
        }
    }

    fn take_buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    fn recycle(&mut self, mut v: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && v.capacity() <= MAX_SPARE_CAPACITY {
            v.clear();
            self.spare.push(v);
        }
    }

    /// Delivers everything contiguous from `next`: buffered pieces and the
    /// segment being fed (which must start at or before `next`), the first
    /// copy of every byte winning.
    fn drain_ready(
        &mut self,
        input: Option<Input<'_>>,
        pushed: &mut Pushed,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        loop {
            if let Some(entry) = self.pending.first_entry()
                && *entry.key() <= self.next
            {
                let (off, piece) = entry.remove_entry();
                let pend = off + piece.len();
                match piece {
                    Piece::Bytes(v) => {
                        self.buffered -= v.len();
                        if pend > self.next {
                            let from = self.next;
                            if let Some(at) = input.and_then(|i| differs(off, &v, i, from, pend)) {
                                self.note_conflict(at, pushed);
                            }
                            let skip = (from - off) as usize;
                            if let Some(bytes) = v.get(skip..)
                                && !bytes.is_empty()
                            {
                                out(StreamEvent::Data(bytes));
                            }
                            self.next = pend;
                        }
                        self.recycle(v);
                    }
                    Piece::Missing(_) => {
                        if pend > self.next {
                            self.gap(pend - self.next, out);
                            self.next = pend;
                        }
                    }
                }
                continue;
            }
            if let Some(inp) = input
                && inp.start <= self.next
                && inp.end() > self.next
            {
                let limit = match self.pending.first_key_value() {
                    Some((&k, _)) => k.min(inp.end()),
                    None => inp.end(),
                };
                let cap_end = inp.captured_end().min(limit);
                if self.next < cap_end {
                    let a = (self.next - inp.start) as usize;
                    let b = (cap_end - inp.start) as usize;
                    if let Some(bytes) = inp.captured.get(a..b) {
                        out(StreamEvent::Data(bytes));
                    }
                    pushed.accepted += cap_end - self.next;
                    self.next = cap_end;
                }
                if self.next < limit {
                    pushed.accepted += limit - self.next;
                    self.gap(limit - self.next, out);
                    self.next = limit;
                }
                continue;
            }
            break;
        }
    }

    fn note_conflict(&mut self, at: u64, p: &mut Pushed) {
        self.stats.conflicting_overlaps += 1;
        p.conflicts += 1;
        p.conflict_offset.get_or_insert(at);
    }

    /// Buffers the parts of `inp` (which lies beyond `next`) that no
    /// buffered piece covers yet; returns how many bytes that was.
    fn insert(&mut self, inp: Input<'_>, pushed: &mut Pushed) -> u64 {
        let end = inp.end();
        let mut pos = inp.start;
        let mut inserted = 0;
        while pos < end {
            // A buffered piece covering `pos`: keep it, compare.
            let covering = self
                .pending
                .range(..=pos)
                .next_back()
                .map(|(&k, p)| (k, k + p.len()))
                .filter(|&(_, pend)| pend > pos);
            if let Some((k, pend)) = covering {
                let oend = pend.min(end);
                let diff = match self.pending.get(&k) {
                    Some(Piece::Bytes(v)) => differs(k, v, inp, pos, oend),
                    _ => None,
                };
                if let Some(at) = diff {
                    self.note_conflict(at, pushed);
                }
                pos = oend;
                continue;
            }
            // A hole from `pos` to the next piece (or the segment's end).
            let hole_end = match self.pending.range(pos..).next() {
                Some((&k, _)) => k.min(end),
                None => end,
            };
            let cap_end = inp.captured_end().min(hole_end);
            let mut p = pos;
            if p < cap_end {
                let a = (p - inp.start) as usize;
                let b = (cap_end - inp.start) as usize;
                if let Some(bytes) = inp.captured.get(a..b) {
                    let mut v = self.take_buffer();
                    v.extend_from_slice(bytes);
                    self.buffered += v.len();
                    self.pending.insert(p, Piece::Bytes(v));
                }
                p = cap_end;
            }
            if p < hole_end {
                self.pending.insert(p, Piece::Missing(hole_end - p));
            }
            inserted += hole_end - pos;
            pos = hole_end;
        }
        inserted
    }
}

/// Where the buffered bytes `v` (at stream offset `off`) first disagree with
/// the input's captured bytes over `[from, to)`, if they do.
fn differs(off: u64, v: &[u8], inp: Input<'_>, from: u64, to: u64) -> Option<u64> {
    let lo = from.max(inp.start);
    let hi = to.min(inp.captured_end()).min(off + v.len() as u64);
    if lo >= hi {
        return None;
    }
    let a = v.get((lo - off) as usize..(hi - off) as usize)?;
    let b = inp
        .captured
        .get((lo - inp.start) as usize..(hi - inp.start) as usize)?;
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .map(|i| lo + i as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    const BIG: usize = 1 << 30;

    /// Delivered data (`Ok`) and gaps (`Err`), FINs, progress per segment.
    type Outcome = (Vec<Result<Vec<u8>, u64>>, usize, Vec<usize>);

    /// Feeds `(offset, len, fin)` pieces of `data` (stream offset 0 at
    /// `isn + 1`) and records what comes out: (delivered bytes, gaps, fins,
    /// delivered length after each segment).
    fn run(isn: u32, data: &[u8], pieces: &[(usize, usize, bool)], flush: bool) -> Outcome {
        let mut r = Reassembler::new();
        r.set_isn(SeqNumber(isn));
        let mut evs: Vec<Result<Vec<u8>, u64>> = Vec::new();
        let mut fins = 0;
        let mut progress = Vec::new();
        let mut delivered = 0usize;
        for &(off, len, fin) in pieces {
            let seq = SeqNumber(isn) + 1 + off as u32;
            r.segment(
                seq,
                &data[off..off + len],
                len as u32,
                fin,
                BIG,
                &mut |ev| match ev {
                    StreamEvent::Data(b) => {
                        delivered += b.len();
                        evs.push(Ok(b.to_vec()))
                    }
                    StreamEvent::Gap(n) => {
                        delivered += n as usize;
                        evs.push(Err(n))
                    }
                    StreamEvent::Fin => fins += 1,
                    StreamEvent::Reset => panic!("no reset expected"),
                },
            );
            progress.push(delivered);
        }
        if flush {
            r.flush(&mut |ev| match ev {
                StreamEvent::Data(b) => evs.push(Ok(b.to_vec())),
                StreamEvent::Gap(n) => evs.push(Err(n)),
                StreamEvent::Fin => fins += 1,
                StreamEvent::Reset => panic!("no reset expected"),
            });
        }
        (evs, fins, progress)
    }

    /// Cuts `len` bytes at `cuts`, adds retransmissions of random ranges,
    /// orders everything by `keys`.
    fn pieces(
        len: usize,
        cuts: &[Index],
        rexmits: &[(Index, Index)],
        keys: &[u32],
    ) -> Vec<(usize, usize)> {
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(len)).collect();
        points.push(0);
        points.push(len);
        points.sort_unstable();
        points.dedup();
        let mut ps: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
        for (a, b) in rexmits {
            let (a, b) = (a.index(len), b.index(len + 1));
            let (lo, hi) = (a.min(b), a.max(b));
            if hi > lo {
                ps.push((lo, hi - lo));
            }
        }
        let mut keyed: Vec<(u32, (usize, usize))> = ps
            .into_iter()
            .enumerate()
            .map(|(i, p)| (keys.get(i).copied().unwrap_or(i as u32), p))
            .collect();
        keyed.sort_by_key(|k| k.0);
        keyed.into_iter().map(|k| k.1).collect()
    }

    /// Bytes covered contiguously from 0 after each piece (the obviously
    /// correct model of eager delivery).
    fn model_progress(len: usize, pieces: &[(usize, usize, bool)]) -> Vec<usize> {
        let mut seen = vec![false; len];
        let mut next = 0;
        pieces
            .iter()
            .map(|&(off, l, _)| {
                seen[off..off + l].iter_mut().for_each(|b| *b = true);
                while next < len && seen[next] {
                    next += 1;
                }
                next
            })
            .collect()
    }

    fn isn_strategy() -> impl Strategy<Value = u32> {
        prop_oneof![u32::MAX - 4000..=u32::MAX, any::<u32>()]
    }

    proptest! {
        #[test]
        fn any_order_with_duplicates_delivers_original(
            data in prop::collection::vec(any::<u8>(), 1..1500),
            cuts in prop::collection::vec(any::<Index>(), 0..25),
            rexmits in prop::collection::vec((any::<Index>(), any::<Index>()), 0..10),
            keys in prop::collection::vec(any::<u32>(), 40),
            isn in isn_strategy(),
        ) {
            let mut ps: Vec<(usize, usize, bool)> = pieces(data.len(), &cuts, &rexmits, &keys)
                .into_iter()
                .map(|(o, l)| (o, l, false))
                .collect();
            // A FIN-only segment somewhere in the order.
            let at = keys[0] as usize % (ps.len() + 1);
            ps.insert(at, (data.len(), 0, true));
            let (evs, fins, progress) = run(isn, &data, &ps, false);
            let mut out = Vec::new();
            for e in evs {
                match e {
                    Ok(b) => out.extend(b),
                    Err(n) => prop_assert!(false, "unexpected gap of {}", n),
                }
            }
            prop_assert_eq!(&out, &data);
            prop_assert_eq!(fins, 1);
            prop_assert_eq!(progress, model_progress(data.len(), &ps));
        }

        #[test]
        fn missing_segment_gives_exact_gaps(
            data in prop::collection::vec(any::<u8>(), 2..1500),
            cuts in prop::collection::vec(any::<Index>(), 1..25),
            rexmits in prop::collection::vec((any::<Index>(), any::<Index>()), 0..10),
            keys in prop::collection::vec(any::<u32>(), 40),
            drop in any::<Index>(),
            isn in isn_strategy(),
        ) {
            let mut ps: Vec<(usize, usize, bool)> = pieces(data.len(), &cuts, &rexmits, &keys)
                .into_iter()
                .map(|(o, l)| (o, l, false))
                .collect();
            ps.remove(drop.index(ps.len()));
            ps.push((data.len(), 0, true));
            let (evs, fins, _) = run(isn, &data, &ps, true);
            let mut pos = 0usize;
            for e in evs {
                match e {
                    Ok(b) => {
                        prop_assert!(!b.is_empty());
                        prop_assert_eq!(&b[..], &data[pos..pos + b.len()]);
                        pos += b.len();
                    }
                    Err(n) => {
                        prop_assert!(n > 0);
                        pos += n as usize;
                    }
                }
            }
            prop_assert_eq!(pos, data.len());
            prop_assert_eq!(fins, 1);
        }

        #[test]
        fn no_syn_peer_ack_at_start_any_order_delivers_original(
            data in prop::collection::vec(any::<u8>(), 1..1500),
            cuts in prop::collection::vec(any::<Index>(), 0..25),
            rexmits in prop::collection::vec((any::<Index>(), any::<Index>()), 0..10),
            keys in prop::collection::vec(any::<u32>(), 40),
            start in isn_strategy(),
        ) {
            let ps = pieces(data.len(), &cuts, &rexmits, &keys);
            let mut r = Reassembler::new();
            r.peer_ack(SeqNumber(start), Timestamp(0));
            let mut out = Vec::new();
            for &(off, len) in &ps {
                r.segment(
                    SeqNumber(start) + off as u32,
                    &data[off..off + len],
                    len as u32,
                    false,
                    4096,
                    &mut |ev| match ev {
                        StreamEvent::Data(b) => out.extend_from_slice(b),
                        other => panic!("unexpected {other:?}"),
                    },
                );
            }
            prop_assert_eq!(&out, &data);
            prop_assert_eq!(r.stats().gaps, 0);
        }

        #[test]
        fn arbitrary_segments_never_panic(
            segs in prop::collection::vec(
                (any::<u32>(), prop::collection::vec(any::<u8>(), 0..50), 0u32..80, any::<bool>()),
                0..30,
            ),
            cap in 0usize..200,
        ) {
            let mut r = Reassembler::new();
            for (seq, p, extra, fin) in &segs {
                let len = p.len() as u32 + extra;
                r.segment(SeqNumber(*seq), p, len, *fin, cap, &mut |_| {});
                prop_assert!(r.buffered() <= cap);
            }
            r.flush(&mut |_| {});
            r.reset(&mut |_| {});
        }
    }

    #[test]
    fn in_order_data_is_not_copied() {
        let mut r = Reassembler::new();
        r.set_isn(SeqNumber(0));
        let data = b"hello world".to_vec();
        let mut ptrs = Vec::new();
        r.segment(SeqNumber(1), &data, 11, false, BIG, &mut |ev| {
            if let StreamEvent::Data(b) = ev {
                ptrs.push(b.as_ptr());
            }
        });
        assert_eq!(ptrs, vec![data.as_ptr()]);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn retransmission_is_counted_once_delivered_once() {
        let mut r = Reassembler::new();
        r.set_isn(SeqNumber(10));
        let mut n = 0;
        for _ in 0..3 {
            r.segment(SeqNumber(11), b"abc", 3, false, BIG, &mut |_| n += 1);
        }
        assert_eq!(n, 1);
        assert_eq!(r.stats().retransmitted_segments, 2);
        assert_eq!(r.stats().retransmitted_bytes, 6);
    }
}
