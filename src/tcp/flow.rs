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
    /// The expiry clock at its last packet (see [`FlowTable::lookup`]).
    last_clock: Timestamp,
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
    /// The expiry clock at its last packet when it was queued.
    last: Timestamp,
}

/// How long (expiry clock, ns) the five-tuple of a concluded closed
/// connection is remembered, so that its trailing packets (the last ACK, a
/// retransmitted FIN) do not start a phantom connection. Linux keeps a
/// closed connection in TIME_WAIT for 60 s.
pub const TOMBSTONE_NS: u64 = 60_000_000_000;

/// Most tombstones kept; the oldest go first past this.
pub const MAX_TOMBSTONES: usize = 1 << 18;

/// A concluded closed connection's five-tuple, remembered for a while.
struct Tomb {
    key: Key,
    id: u64,
    at: Timestamp,
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
    /// Five-tuples of concluded closed connections -> their id.
    tombs: FxHashMap<Key, u64>,
    /// The same, in order of conclusion.
    tomb_queue: VecDeque<Tomb>,
    /// Segments that arrived after their (closed) connection was concluded.
    late_segments: u64,
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
            tombs: FxHashMap::default(),
            tomb_queue: VecDeque::new(),
            late_segments: 0,
        }
    }

    /// Segments that came after their closed connection was concluded (a
    /// last ACK or a retransmitted FIN past the close linger): counted, not
    /// analysed, never the start of a new connection.
    pub fn late_segments(&self) -> u64 {
        self.late_segments
    }

    /// The configuration the table was made with.
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    /// The connection `seg` belongs to, created (with `new_user()`) if it is
    /// the first packet of a new one. A SYN that starts a new connection on a
    /// five-tuple whose connection has closed hands the old one to `done`
    /// first. The caller then feeds the segment with `conn.segment()`.
    ///
    /// `now` is the expiry clock: capture time made monotonic by the caller
    /// (see `analyzer`), which closes and tombstones are measured in.
    /// Returns `None` for a late segment of a connection already concluded
    /// after it closed (see [`FlowTable::late_segments`]).
    pub fn lookup(
        &mut self,
        seg: &Segment<'_>,
        at: At,
        now: Timestamp,
        new_user: impl FnOnce() -> T,
        done: &mut impl FnMut(Tracked<T>),
    ) -> Option<&mut Tracked<T>> {
        self.note_last_closed();
        let key = key_of(seg);
        match self.map.entry(key) {
            Entry::Occupied(e) => {
                self.last_key = Some(key);
                let t = e.into_mut();
                if t.conn.syn_starts_new(seg) {
                    let id = self.next_id;
                    self.next_id += 1;
                    let fresh = Tracked {
                        conn: Connection::new(id, seg, at, &self.config),
                        user: new_user(),
                        last_clock: now,
                    };
                    done(std::mem::replace(t, fresh));
                }
                t.last_clock = now;
                Some(t)
            }
            Entry::Vacant(e) => {
                if self.tombs.contains_key(&key) {
                    if !seg.flags.syn() || seg.flags.ack() {
                        self.late_segments += 1;
                        return None;
                    }
                    // A new SYN reuses the five-tuple.
                    self.tombs.remove(&key);
                }
                self.last_key = Some(key);
                let id = self.next_id;
                self.next_id += 1;
                Some(e.insert(Tracked {
                    conn: Connection::new(id, seg, at, &self.config),
                    user: new_user(),
                    last_clock: now,
                }))
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
                last: t.last_clock,
            });
        }
    }

    /// Hands to `done` the closed connections that saw no packet for
    /// `close_linger_ns` before `now` (the expiry clock). Cheap enough to
    /// call every frame.
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
            let last = t.last_clock;
            if last > c.last && now.nanos_since(last) < linger {
                // A late packet: wait again from it.
                self.closed.push_back(Closed { last, ..c });
                continue;
            }
            if let Some(t) = self.map.remove(&c.key) {
                self.bury(c.key, t.conn.id, now);
                done(t);
            }
        }
        while let Some(front) = self.tomb_queue.front() {
            if now.nanos_since(front.at) < TOMBSTONE_NS && self.tomb_queue.len() <= MAX_TOMBSTONES {
                break;
            }
            if let Some(t) = self.tomb_queue.pop_front()
                && self.tombs.get(&t.key) == Some(&t.id)
            {
                self.tombs.remove(&t.key);
            }
        }
    }

    /// Remembers the five-tuple of a concluded closed connection.
    fn bury(&mut self, key: Key, id: u64, now: Timestamp) {
        self.tombs.insert(key, id);
        self.tomb_queue.push_back(Tomb { key, id, at: now });
    }

    /// End of capture: every remaining connection, in id order.
    pub fn drain(&mut self, done: &mut impl FnMut(Tracked<T>)) {
        self.last_key = None;
        self.closed.clear();
        self.tombs.clear();
        self.tomb_queue.clear();
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
