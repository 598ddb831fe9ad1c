//! Resumable per-direction HTTP/1.x message parser: httparse for heads,
//! length/chunked/close-delimited bodies.

use crate::types::Role;

pub fn role_hint(_first_bytes: &[u8]) -> Option<Role> {
    unimplemented!("http parser")
}
