//! The analysis clock: capture timestamps made monotonic, with jumps
//! reported.
//!
//! Connection expiry (close linger, tombstones, and later inactivity
//! timeouts) is measured on this clock, never on raw timestamps: a clock
//! stepped back (NTP), files given out of time order, or one corrupt
//! timestamp twenty years ahead would otherwise stop expiry for the rest of
//! the capture. The clock is `ts + offset`; it never goes back, and the
//! offset absorbs jumps:
//!
//! * a step back of more than [`BACK_JUMP_NS`] shifts the offset so the
//!   clock goes on from where it was (and is a `timestamp_jump`); smaller
//!   steps back (frames a little out of order, as `tcpdump -i any` on
//!   several CPUs writes them) only hold the clock still and are counted;
//! * a step forward of more than [`FORWARD_JUMP_NS`] is implausible for a
//!   packet capture: the clock stays where it was (a `timestamp_jump`). If
//!   the next frame comes back, that one timestamp was bogus and does not
//!   count toward the capture's time span; if the frames after it stay
//!   there (captures of different years concatenated), it does.
//!
//! The capture's first and last timestamps are the smallest and largest of
//! the frames' timestamps, bogus ones left out.

use crate::types::{FrameNo, Timestamp};

/// Steps back larger than this are reported as jumps.
pub const BACK_JUMP_NS: u64 = 1_000_000_000;

/// Steps forward larger than this (24 hours) are implausible.
pub const FORWARD_JUMP_NS: u64 = 24 * 3600 * 1_000_000_000;

/// A timestamp jump seen on one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jump {
    /// The frame whose timestamp jumped.
    pub frame: FrameNo,
    /// The timestamp of the frame before it (in file order).
    pub from: Timestamp,
    /// Its own timestamp.
    pub to: Timestamp,
}

/// The monotonic analysis clock.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Added to raw timestamps (ns, may be negative).
    offset: i128,
    /// The clock's current value.
    now: Option<u64>,
    /// The previous frame's raw timestamp.
    prev_raw: Option<Timestamp>,
    /// Smallest and largest plausible timestamps.
    min: Option<Timestamp>,
    max: Option<Timestamp>,
    /// Frames a little out of time order (steps back below the jump size).
    out_of_order: u64,
    /// The previous frame jumped implausibly far ahead: its timestamp,
    /// counted in the span only if the frames after it stay there (a new
    /// era, as in captures concatenated from several years), not if they
    /// come back (one corrupt timestamp).
    pending_outlier: Option<Timestamp>,
}

impl Clock {
    /// A clock before the first frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Advances the clock to the frame `frame` stamped `ts`; returns the
    /// clock's value and the jump this frame made, if any.
    pub fn tick(&mut self, frame: FrameNo, ts: Timestamp) -> (Timestamp, Option<Jump>) {
        let raw = i128::from(ts.0);
        let prev = self.prev_raw.replace(ts);
        let after_outlier = self.pending_outlier.take();
        let Some(now) = self.now else {
            self.offset = 0;
            self.now = Some(ts.0);
            self.min = Some(ts);
            self.max = Some(ts);
            return (ts, None);
        };
        let cand = raw + self.offset;
        let now_i = i128::from(now);
        let jump = Some(Jump {
            frame,
            from: prev.unwrap_or(ts),
            to: ts,
        });
        if cand < now_i {
            let back = now_i - cand;
            if back > i128::from(BACK_JUMP_NS) {
                self.offset += back;
                self.note(ts);
                // Coming back from one implausible frame is not a second jump.
                return (
                    Timestamp(now),
                    if after_outlier.is_some() { None } else { jump },
                );
            }
            self.out_of_order += 1;
            self.note(ts);
            return (Timestamp(now), None);
        }
        if cand - now_i > i128::from(FORWARD_JUMP_NS) {
            self.offset -= cand - now_i;
            self.pending_outlier = Some(ts);
            return (Timestamp(now), jump);
        }
        if let Some(o) = after_outlier {
            self.note(o);
        }
        self.note(ts);
        let next = u64::try_from(cand).unwrap_or(u64::MAX);
        self.now = Some(next);
        (Timestamp(next), None)
    }

    fn note(&mut self, ts: Timestamp) {
        self.min = Some(self.min.map_or(ts, |m| m.min(ts)));
        self.max = Some(self.max.map_or(ts, |m| m.max(ts)));
    }

    /// The smallest and largest plausible timestamps seen.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        Some((self.min?, self.max?))
    }

    /// Frames whose timestamp was a little earlier than the one before.
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn step_back_keeps_the_clock_going_and_is_one_jump() {
        let mut c = Clock::new();
        assert_eq!(c.tick(1, Timestamp(100 * S)).0, Timestamp(100 * S));
        assert_eq!(c.tick(2, Timestamp(101 * S)).0, Timestamp(101 * S));
        let (t, j) = c.tick(3, Timestamp(71 * S));
        assert_eq!(t, Timestamp(101 * S));
        assert_eq!(
            j,
            Some(Jump {
                frame: 3,
                from: Timestamp(101 * S),
                to: Timestamp(71 * S)
            })
        );
        // Time flows again from the new base.
        assert_eq!(c.tick(4, Timestamp(73 * S)), (Timestamp(103 * S), None));
        assert_eq!(c.span(), Some((Timestamp(71 * S), Timestamp(101 * S))));
    }

    #[test]
    fn one_frame_far_ahead_does_not_move_the_clock_or_the_span() {
        let mut c = Clock::new();
        c.tick(1, Timestamp(100 * S));
        let (t, j) = c.tick(2, Timestamp(100 * S + 20 * 365 * 86400 * S));
        assert_eq!(t, Timestamp(100 * S));
        assert!(j.is_some());
        // Back to normal: not a second jump; the clock goes on.
        let (t, j) = c.tick(3, Timestamp(102 * S));
        assert!(j.is_none());
        assert_eq!(t, Timestamp(100 * S));
        assert_eq!(c.tick(4, Timestamp(103 * S)).0, Timestamp(101 * S));
        assert_eq!(c.span(), Some((Timestamp(100 * S), Timestamp(103 * S))));
    }

    #[test]
    fn a_new_era_counts_in_the_span() {
        let mut c = Clock::new();
        c.tick(1, Timestamp(100 * S));
        let far = 100 * S + 400 * 86400 * S;
        assert!(c.tick(2, Timestamp(far)).1.is_some());
        assert_eq!(c.tick(3, Timestamp(far + S)), (Timestamp(101 * S), None));
        assert_eq!(c.span(), Some((Timestamp(100 * S), Timestamp(far + S))));
    }

    #[test]
    fn small_reordering_holds_the_clock_and_is_counted() {
        let mut c = Clock::new();
        c.tick(1, Timestamp(10 * S));
        let (t, j) = c.tick(2, Timestamp(10 * S - 1000));
        assert_eq!((t, j), (Timestamp(10 * S), None));
        assert_eq!(c.out_of_order(), 1);
        assert_eq!(c.tick(3, Timestamp(10 * S + 5)).0, Timestamp(10 * S + 5));
    }
}
