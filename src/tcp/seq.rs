//! Wrapping sequence-number arithmetic (RFC 793 section 3.3).
