//! IPv4 and IPv6 fragment reassembly, bounded in time and memory.
//!
//! Fragments are keyed by (source, destination, identification) and held
//! until the datagram is whole (the last fragment gave its length and every
//! byte before it arrived), then handed back as one payload. The first copy
//! of a byte wins on overlaps. Bounds, each counted in [`DefragStats`]
//! when it bites: a datagram may not exceed 64 KiB of payload; at most
//! [`MAX_PENDING`] datagrams and [`MAX_PENDING_BYTES`] bytes wait at once
//! (the oldest go first); a datagram not completed within [`TIMEOUT_NS`]
//! of capture time (Linux's `ipfrag_time`) is dropped. A fragment whose
//! bytes the snap length cut makes its datagram unusable.

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::decode::Fragment;
use crate::types::{At, FrameNo, Timestamp};

/// Largest datagram payload (IPv4 total length is 16 bits).
pub const MAX_DATAGRAM: usize = 65_535;
/// Datagrams waiting for fragments at once.
pub const MAX_PENDING: usize = 4096;
/// Bytes held for them.
pub const MAX_PENDING_BYTES: usize = 16 << 20;
/// Capture time a datagram may wait for its fragments (30 s, as Linux).
pub const TIMEOUT_NS: u64 = 30_000_000_000;

/// Fragment reassembly counters (the report's `summary.ip_fragments`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DefragStats {
    /// Fragment frames taken in.
    pub fragments: u64,
    /// Datagrams put back together (each then analysed as one segment).
    pub reassembled: u64,
    /// Datagrams dropped unfinished: timed out, evicted by the bounds, too
    /// large, or cut by the snap length.
    pub incomplete: u64,
    /// Fragment frames of those dropped datagrams.
    pub incomplete_fragments: u64,
    /// Reassembled datagrams whose TCP header did not parse.
    pub malformed: u64,
}

/// A datagram dropped unfinished, for the report's anomalies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The frame of its first fragment (in capture order) and its time.
    pub at: At,
    /// Its fragment frames.
    pub fragments: u64,
    /// Why.
    pub why: &'static str,
}

type Key = (IpAddr, IpAddr, u32);

struct Pending {
    /// Bytes so far (grown as fragments arrive), and which are present.
    data: Vec<u8>,
    have: Vec<(u32, u32)>,
    /// Payload length, once the last fragment was seen.
    total: Option<u32>,
    first: Timestamp,
    at: At,
    fragments: u64,
    /// Unusable (cut by the snap length, or too large): dropped when done.
    broken: bool,
}

impl Pending {
    fn covered(&self) -> bool {
        let Some(total) = self.total else {
            return false;
        };
        let mut end = 0u32;
        for &(a, b) in &self.have {
            if a > end {
                return false;
            }
            end = end.max(b);
        }
        end >= total
    }

    /// Adds `[off, off + bytes.len())`, first copy winning.
    fn add(&mut self, off: u32, bytes: &[u8]) {
        let end = off as usize + bytes.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        let mut pos = off;
        let stop = off + bytes.len() as u32;
        // Copy only the parts not already present.
        let mut spans = self.have.clone();
        spans.sort_unstable();
        for (a, b) in spans.iter().copied().chain(std::iter::once((stop, stop))) {
            if b <= pos {
                continue;
            }
            let gap_end = a.min(stop);
            if gap_end > pos {
                let src = bytes.get((pos - off) as usize..(gap_end - off) as usize);
                let dst = self.data.get_mut(pos as usize..gap_end as usize);
                if let (Some(s), Some(d)) = (src, dst) {
                    d.copy_from_slice(s);
                }
            }
            pos = pos.max(b);
            if pos >= stop {
                break;
            }
        }
        self.have.push((off, stop));
        self.have.sort_unstable();
        // Merge touching spans.
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.have.len());
        for &(a, b) in &self.have {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.have = merged;
    }
}

/// The reassembly pool.
#[derive(Default)]
pub struct Defrag {
    pending: FxHashMap<Key, Pending>,
    order: VecDeque<(Key, Timestamp)>,
    bytes: usize,
    stats: DefragStats,
    dropped: Vec<Dropped>,
}

impl Defrag {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// Counts a reassembled datagram whose TCP header did not parse.
    pub fn malformed(&mut self) {
        self.stats.malformed += 1;
    }

    /// Datagrams dropped unfinished since the last call (at most a few
    /// hundred are kept between calls; the counters count them all).
    pub fn take_dropped(&mut self) -> Vec<Dropped> {
        std::mem::take(&mut self.dropped)
    }

    /// Takes one fragment, carried by the frame at `at`, at capture clock
    /// `now`; returns the whole datagram payload when this fragment
    /// completed it.
    pub fn push(&mut self, f: &Fragment<'_>, at: At, now: Timestamp) -> Option<Vec<u8>> {
        self.expire(now);
        self.stats.fragments += 1;
        let key = (f.src, f.dst, f.id);
        if !self.pending.contains_key(&key) {
            while self.pending.len() >= MAX_PENDING
                || (self.bytes > MAX_PENDING_BYTES && !self.order.is_empty())
            {
                self.drop_oldest();
            }
            self.pending.insert(
                key,
                Pending {
                    data: Vec::new(),
                    have: Vec::new(),
                    total: None,
                    first: now,
                    at,
                    fragments: 0,
                    broken: false,
                },
            );
            self.order.push_back((key, now));
        }
        let p = self.pending.get_mut(&key)?;
        p.fragments += 1;
        let end = u64::from(f.offset) + u64::from(f.payload_len);
        if end > MAX_DATAGRAM as u64 || (f.payload.len() as u64) < u64::from(f.payload_len) {
            p.broken = true;
        } else {
            let before = p.data.len();
            p.add(f.offset, f.payload);
            self.bytes = self
                .bytes
                .saturating_add(p.data.len().saturating_sub(before));
        }
        if !f.more {
            p.total = Some(u32::try_from(end).unwrap_or(u32::MAX));
        }
        // An unusable datagram waits out its timeout (so that its later
        // fragments are not taken for a new one), then counts incomplete.
        if p.broken || !p.covered() {
            return None;
        }
        let p = self.pending.remove(&key)?;
        self.bytes = self.bytes.saturating_sub(p.data.len());
        self.stats.reassembled += 1;
        let mut data = p.data;
        data.truncate(p.total.map_or(0, |t| t as usize));
        Some(data)
    }

    /// Drops datagrams that waited longer than [`TIMEOUT_NS`].
    pub fn expire(&mut self, now: Timestamp) {
        while let Some(&(key, t)) = self.order.front() {
            if now.nanos_since(t) < TIMEOUT_NS {
                break;
            }
            self.order.pop_front();
            if let Some(p) = self.pending.get(&key)
                && p.first == t
            {
                self.discard(&key, "timed out");
            }
        }
    }

    /// End of capture: whatever still waits is incomplete.
    pub fn finish(&mut self) {
        let mut keys: Vec<(FrameNo, Key)> =
            self.pending.iter().map(|(k, p)| (p.at.frame, *k)).collect();
        keys.sort_unstable_by_key(|(frame, _)| *frame);
        for (_, k) in keys {
            self.discard(&k, "unfinished when the capture ended");
        }
        self.order.clear();
    }

    fn drop_oldest(&mut self) {
        if let Some((key, t)) = self.order.pop_front()
            && self.pending.get(&key).is_some_and(|p| p.first == t)
        {
            self.discard(&key, "evicted: too many fragmented datagrams waiting");
        }
    }

    fn discard(&mut self, key: &Key, why: &'static str) {
        if let Some(p) = self.pending.remove(key) {
            self.bytes = self.bytes.saturating_sub(p.data.len());
            self.stats.incomplete += 1;
            self.stats.incomplete_fragments += p.fragments;
            if self.dropped.len() < 256 {
                self.dropped.push(Dropped {
                    at: p.at,
                    fragments: p.fragments,
                    why: if p.broken {
                        "unusable: cut by the snap length or over 64 KiB"
                    } else {
                        why
                    },
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    impl Defrag {
        fn push_t(&mut self, f: &Fragment<'_>, now: Timestamp) -> Option<Vec<u8>> {
            self.push(f, At { frame: 1, ts: now }, now)
        }
    }

    fn frag(id: u32, offset: u32, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id,
            offset,
            more,
            payload,
            payload_len: payload.len() as u32,
        }
    }

    #[test]
    fn in_order_out_of_order_and_overlapping() {
        let mut d = Defrag::new();
        let t = Timestamp(1);
        assert_eq!(d.push_t(&frag(1, 0, true, b"abcdefgh"), t), None);
        assert_eq!(
            d.push_t(&frag(1, 8, false, b"ijkl"), t).as_deref(),
            Some(&b"abcdefghijkl"[..])
        );
        // Last first, with an overlap whose bytes differ: the first wins.
        assert_eq!(d.push_t(&frag(2, 8, false, b"ijkl"), t), None);
        assert_eq!(d.push_t(&frag(2, 4, true, b"XXXXZZZZ"), t), None);
        assert_eq!(
            d.push_t(&frag(2, 0, true, b"abcd"), t).as_deref(),
            Some(&b"abcdXXXXijkl"[..])
        );
        assert_eq!(d.stats().reassembled, 2);
        assert_eq!(d.stats().fragments, 5);
    }

    #[test]
    fn timeout_and_cut_fragments_are_incomplete() {
        let mut d = Defrag::new();
        assert_eq!(d.push_t(&frag(1, 0, true, b"abcdefgh"), Timestamp(0)), None);
        d.expire(Timestamp(TIMEOUT_NS + 1));
        assert_eq!(d.stats().incomplete, 1);
        let mut cut = frag(2, 0, false, b"ab");
        cut.payload_len = 100;
        assert_eq!(d.push_t(&cut, Timestamp(TIMEOUT_NS + 2)), None);
        // Too large.
        assert_eq!(
            d.push_t(
                &frag(3, 65_530, false, b"0123456789"),
                Timestamp(TIMEOUT_NS + 3)
            ),
            None
        );
        d.finish();
        assert_eq!(d.stats().incomplete, 3);
        assert_eq!(d.stats().incomplete_fragments, 3);
        assert_eq!(d.stats().reassembled, 0);
    }

    #[test]
    fn bounded_number_of_pending_datagrams() {
        let mut d = Defrag::new();
        for id in 0..(MAX_PENDING as u32 + 10) {
            d.push_t(&frag(id, 0, true, b"x"), Timestamp(0));
        }
        assert!(d.pending.len() <= MAX_PENDING);
        assert_eq!(d.stats().incomplete, 10);
        d.finish();
        assert_eq!(d.stats().incomplete, MAX_PENDING as u64 + 10);
    }
}
