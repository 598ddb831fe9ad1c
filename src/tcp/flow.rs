//! The flow table: five-tuple -> live connection, with the caller's own
//! per-connection state `T` beside it (the analyzer keeps its HTTP session
//! there, so this module knows nothing of HTTP).

use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;

use rustc_hash::FxHashMap;

use crate::decode::Segment;
use crate::tcp::connection::Connection;
use crate::types::{At, Role, Timestamp};

/// Says which role sent a connection's first payload, if it can tell.
pub type RoleHint = fn(&[u8]) -> Option<Role>;

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
    pub role_hint: Option<RoleHint>,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_buffered_bytes: 4 << 20,
            // Zeek's tcp_close_delay: late ACKs and retransmitted FINs come
            // within it; longer holds memory at high connection rates.
            close_linger_ns: 5_000_000_000,
            role_hint: None,
        }
    }
}

/// A connection and the caller's state for it.
pub struct Tracked<T> {
    /// The TCP connection.
    pub conn: Connection,
    /// The caller's state (the analyzer's HTTP session).
    pub user: T,
}

/// The canonical five-tuple: the two endpoints in order (always TCP).
type Key = (SocketAddr, SocketAddr);

fn key_of(seg: &Segment<'_>) -> Key {
    if seg.src <= seg.dst {
        (seg.src, seg.dst)
    } else {
        (seg.dst, seg.src)
    }
}

/// A closed connection waiting out `close_linger_ns`.
struct Closed {
    key: Key,
    id: u64,
    /// Its last packet when it was queued.
    last: Timestamp,
}

/// Live connections by five-tuple.
///
/// Closed connections (FIN both ways, or a RST) are queued in the order they
/// were seen closing; [`FlowTable::expire`] only looks at the front of that
/// queue, so it costs next to nothing per frame. Open connections are never
/// expired: they stay until [`FlowTable::drain`] (an inactivity timeout is
/// future work).
pub struct FlowTable<T> {
    config: TcpConfig,
    map: FxHashMap<Key, Tracked<T>>,
    next_id: u64,
    /// Closed connections in order of closing (roughly, of last packet).
    closed: VecDeque<Closed>,
    /// The five-tuple of the last lookup: its connection may have closed
    /// since (the caller feeds the segment after the lookup).
    last_key: Option<Key>,
}

impl<T> FlowTable<T> {
    /// An empty table.
    pub fn new(config: TcpConfig) -> Self {
        FlowTable {
            config,
            map: FxHashMap::default(),
            next_id: 0,
            closed: VecDeque::new(),
            last_key: None,
        }
    }

    /// The configuration the table was made with.
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    /// The connection `seg` belongs to, created (with `new_user()`) if it is
    /// the first packet of a new one. A SYN that starts a new connection on a
    /// five-tuple whose connection has closed hands the old one to `done`
    /// first. The caller then feeds the segment with `conn.segment()`.
    pub fn lookup(
        &mut self,
        seg: &Segment<'_>,
        at: At,
        new_user: impl FnOnce() -> T,
        done: &mut impl FnMut(Tracked<T>),
    ) -> &mut Tracked<T> {
        self.note_last_closed();
        let key = key_of(seg);
        self.last_key = Some(key);
        match self.map.entry(key) {
            Entry::Occupied(e) => {
                let t = e.into_mut();
                if t.conn.syn_starts_new(seg) {
                    let id = self.next_id;
                    self.next_id += 1;
                    let fresh = Tracked {
                        conn: Connection::new(id, seg, at, &self.config),
                        user: new_user(),
                    };
                    done(std::mem::replace(t, fresh));
                }
                t
            }
            Entry::Vacant(e) => {
                let id = self.next_id;
                self.next_id += 1;
                e.insert(Tracked {
                    conn: Connection::new(id, seg, at, &self.config),
                    user: new_user(),
                })
            }
        }
    }

    /// Queues the last looked-up connection if it has closed since.
    fn note_last_closed(&mut self) {
        let Some(key) = self.last_key.take() else {
            return;
        };
        if let Some(t) = self.map.get_mut(&key)
            && !t.conn.close_queued
            && t.conn.is_closed()
        {
            t.conn.close_queued = true;
            self.closed.push_back(Closed {
                key,
                id: t.conn.id,
                last: t.conn.last.ts,
            });
        }
    }

    /// Hands to `done` the closed connections that saw no packet for
    /// `close_linger_ns` before `now`. Cheap enough to call every frame.
    pub fn expire(&mut self, now: Timestamp, done: &mut impl FnMut(Tracked<T>)) {
        // TODO: an inactivity timeout for open connections (needs a second,
        // lazily re-checked queue ordered by last packet).
        self.note_last_closed();
        let linger = self.config.close_linger_ns;
        while let Some(front) = self.closed.front() {
            if now.nanos_since(front.last) < linger {
                break;
            }
            let Some(c) = self.closed.pop_front() else {
                break;
            };
            let Some(t) = self.map.get(&c.key) else {
                continue;
            };
            if t.conn.id != c.id {
                // Replaced by a new connection on the same five-tuple.
                continue;
            }
            let last = t.conn.last.ts;
            if last > c.last && now.nanos_since(last) < linger {
                // A late packet: wait again from it.
                self.closed.push_back(Closed { last, ..c });
                continue;
            }
            if let Some(t) = self.map.remove(&c.key) {
                done(t);
            }
        }
    }

    /// End of capture: every remaining connection, in id order.
    pub fn drain(&mut self, done: &mut impl FnMut(Tracked<T>)) {
        self.last_key = None;
        self.closed.clear();
        let mut all: Vec<Tracked<T>> = self.map.drain().map(|(_, t)| t).collect();
        all.sort_unstable_by_key(|t| t.conn.id);
        for t in all {
            done(t);
        }
    }

    /// Connections currently in the table.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No connection in the table.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
