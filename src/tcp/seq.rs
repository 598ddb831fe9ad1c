//! Wrapping sequence-number arithmetic (RFC 793 section 3.3).
//!
//! [`SeqNumber`] compares and subtracts modulo 2^32: `a < b` means `b` lies
//! less than 2^31 ahead of `a`, so comparisons stay right across the wrap
//! from `u32::MAX` to 0 (as in smoltcp).

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Sub};

/// A TCP sequence (or acknowledgement) number with wrapping arithmetic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self - other` as a signed distance: positive when `self` is ahead.
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The later of two sequence numbers (in wrapping order).
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self >= other { self } else { other }
    }

    /// The earlier of two sequence numbers (in wrapping order).
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self <= other { self } else { other }
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl Sub for SeqNumber {
    /// Signed distance, as [`SeqNumber::diff`].
    type Output = i32;
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.diff(rhs)
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_wraps_around_in_add_and_compare() {
        let a = SeqNumber(u32::MAX - 1);
        let b = a + 5;
        assert_eq!(b, SeqNumber(3));
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b - a, 5);
        assert_eq!(a - b, -5);
        assert_eq!(b - 5, a);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }

    #[test]
    fn equal_numbers_compare_equal() {
        let (a, b) = (SeqNumber(7), SeqNumber(7));
        assert!(a <= b);
        assert!(a >= b);
        assert!(a.partial_cmp(&b) == Some(std::cmp::Ordering::Equal));
        assert_eq!(a - b, 0);
    }
}
