//! Body length rules of RFC 9112 section 6, in order.
