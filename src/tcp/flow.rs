//! The flow table: five-tuple -> live connection, with the caller's own
//! per-connection state `T` beside it (the analyzer keeps its HTTP session
//! there, so this module knows nothing of HTTP).

use crate::decode::Segment;
use crate::tcp::connection::Connection;
use crate::types::{At, Role, Timestamp};

/// Tunables of the TCP layer.
#[derive(Clone, Copy, Debug)]
pub struct TcpConfig {
    /// Out-of-order bytes one direction may buffer before declaring a gap.
    pub max_buffered_bytes: usize,
    /// How long (capture time, ns) a closed connection stays in the table to
    /// collect late packets before it is handed back.
    pub close_linger_ns: u64,
    /// Given the first payload of a connection whose handshake was not
    /// captured, says which role sent it (e.g. an HTTP request line says
    /// client), if it can tell.
    pub role_hint: Option<fn(&[u8]) -> Option<Role>>,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_buffered_bytes: 4 << 20,
            close_linger_ns: 60_000_000_000,
            role_hint: None,
        }
    }
}

/// A connection and the caller's state for it.
pub struct Tracked<T> {
    pub conn: Connection,
    pub user: T,
}

/// See the module docs.
pub struct FlowTable<T> {
    _p: std::marker::PhantomData<T>,
}

impl<T> FlowTable<T> {
    pub fn new(_config: TcpConfig) -> Self {
        unimplemented!("flow table")
    }

    /// The connection `seg` belongs to, created (with `new_user()`) if it is
    /// the first packet of a new one. A SYN that starts a new connection on a
    /// five-tuple whose connection has closed hands the old one to `done`
    /// first. The caller then feeds the segment with `conn.segment()`.
    pub fn lookup(
        &mut self,
        _seg: &Segment<'_>,
        _at: At,
        _new_user: impl FnOnce() -> T,
        _done: &mut impl FnMut(Tracked<T>),
    ) -> &mut Tracked<T> {
        unimplemented!("flow table")
    }

    /// Hands to `done` the closed connections that saw no packet for
    /// `close_linger_ns` before `now`. Cheap enough to call every frame.
    pub fn expire(&mut self, _now: Timestamp, _done: &mut impl FnMut(Tracked<T>)) {
        unimplemented!("flow table")
    }

    /// End of capture: every remaining connection, in id order.
    pub fn drain(&mut self, _done: &mut impl FnMut(Tracked<T>)) {
        unimplemented!("flow table")
    }

    /// Connections currently in the table.
    pub fn len(&self) -> usize {
        unimplemented!("flow table")
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
