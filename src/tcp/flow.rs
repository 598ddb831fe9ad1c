//! The flow table: five-tuple -> live connection, with the caller's own
//! per-connection state `T` beside it (the analyzer keeps its HTTP session
//! there, so this module knows nothing of HTTP).

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, VecDeque};
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
    /// A connection that carried data or completed its handshake and then
    /// saw no packet for this long (capture time, ns) is concluded as
    /// still open (`inactive`); its later packets start a new one.
    pub idle_timeout_ns: u64,
    /// The same for a connection that never completed a handshake nor
    /// carried data (an unanswered SYN, a lone ACK): `handshake_timeout`.
    pub handshake_timeout_ns: u64,
    /// Memory the analysis may hold for open connections: each tracked
    /// connection counts [`CONNECTION_COST`] bytes, plus what it buffers
    /// (out-of-order data, partial heads, events held while sniffing).
    /// Past it, the connection being fed sheds its out-of-order buffers
    /// (holes become gaps), and if that is not enough the longest-idle
    /// connections are concluded as still open (`memory_budget`).
    pub memory_budget: usize,
    /// Most connections tracked at once (0: what the budget allows); past
    /// it the longest-idle is concluded as still open (`max_connections`).
    pub max_connections: usize,
}

/// Bytes a tracked connection is counted for in the memory budget (its
/// state, boxed, with the allocations it makes).
pub const CONNECTION_COST: usize = 4096;

crate::named_enum! {
    /// Why a connection still open was concluded before the capture ended.
    pub enum Eviction {
        /// No packet for the idle timeout.
        Inactive = "inactive",
        /// No handshake completed and no data within the handshake timeout.
        HandshakeTimeout = "handshake_timeout",
        /// The memory budget was reached; it was the longest idle.
        MemoryBudget = "memory_budget",
        /// The most connections tracked at once was reached; it was the
        /// longest idle.
        MaxConnections = "max_connections",
    }
}

/// Connections concluded early, by why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Evictions {
    /// Idle past `--idle-timeout`.
    pub inactive: u64,
    /// No handshake nor data within `--handshake-timeout`.
    pub handshake_timeout: u64,
    /// To stay within `--memory-budget`.
    pub memory_budget: u64,
    /// To stay within `--max-connections`.
    pub max_connections: u64,
    /// Times a connection's out-of-order buffers were given up (their holes
    /// made gaps) to stay within the budget.
    pub buffers_shed: u64,
}

impl Evictions {
    fn count(&mut self, why: Eviction) {
        let slot = match why {
            Eviction::Inactive => &mut self.inactive,
            Eviction::HandshakeTimeout => &mut self.handshake_timeout,
            Eviction::MemoryBudget => &mut self.memory_budget,
            Eviction::MaxConnections => &mut self.max_connections,
        };
        *slot += 1;
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_buffered_bytes: 4 << 20,
            // Zeek's tcp_close_delay: late ACKs and retransmitted FINs come
            // within it; longer holds memory at high connection rates.
            close_linger_ns: 5_000_000_000,
            role_hint: None,
            // Zeek's tcp_inactivity_timeout (Suricata and Retina use the
            // same order of magnitude).
            idle_timeout_ns: 300_000_000_000,
            handshake_timeout_ns: 30_000_000_000,
            memory_budget: 512 << 20,
            max_connections: 0,
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
    /// Set when the connection was concluded before it closed, and why.
    pub evicted: Option<Eviction>,
    /// Bytes it buffers, as last reported with [`FlowTable::set_buffered`].
    buffered: usize,
}

/// What [`Tracked::fed`] found, for [`FlowTable::note_fed`].
pub struct Fed {
    was: usize,
    now: usize,
    /// Closed by what it was fed: its id and clock.
    closed: Option<(u64, Timestamp)>,
}

impl<T> Tracked<T> {
    /// After its segment was fed: records that it buffers `bytes` now, and
    /// whether it has closed (queued for the close linger once the table
    /// is told, by [`FlowTable::note_fed`]).
    pub fn fed(&mut self, bytes: usize) -> Fed {
        let was = std::mem::replace(&mut self.buffered, bytes);
        let closed = (!self.conn.close_queued && self.conn.is_closed()).then(|| {
            self.conn.close_queued = true;
            (self.conn.id, self.last_clock)
        });
        Fed {
            was,
            now: bytes,
            closed,
        }
    }
}

/// The canonical five-tuple: the two endpoints in order (always TCP), with
/// its hash, computed once: a frame looks its connection up several times
/// (expiry, lookup, the buffered-bytes count). The endpoints are kept as
/// plain integers, not `SocketAddr`s: comparing, ordering and hashing two
/// `SocketAddr` enums field by field was 5% of a run's instructions; three
/// integer compares and one multiply per word are what is left.
#[derive(Clone, Copy, Debug)]
struct Key {
    /// The lower endpoint's address bits (IPv4 in the low 32 bits).
    lo: u128,
    /// The higher endpoint's address bits.
    hi: u128,
    /// The lower endpoint's port (high 16 bits) and the higher's (low 16).
    ports: u32,
    /// IPv6 endpoints (an IPv4-mapped IPv6 address is not its IPv4 one).
    v6: bool,
    hash: u64,
}

/// An endpoint's address bits, port, and whether it is IPv6 (flow info
/// and scope id are not part of a five-tuple; decoded segments have none).
fn parts(a: &SocketAddr) -> (u128, u16, bool) {
    match a {
        SocketAddr::V4(v) => (u128::from(v.ip().to_bits()), v.port(), false),
        SocketAddr::V6(v) => (v.ip().to_bits(), v.port(), true),
    }
}

impl Key {
    /// The key of two endpoints, in either order.
    fn of(a: &SocketAddr, b: &SocketAddr) -> Self {
        let (ia, pa, va) = parts(a);
        let (ib, pb, vb) = parts(b);
        // SocketAddr's order: IPv4 before IPv6, then address, then port.
        let (lo, lp, hi, hp) = if (va, ia, pa) <= (vb, ib, pb) {
            (ia, pa, ib, pb)
        } else {
            (ib, pb, ia, pa)
        };
        let v6 = va || vb;
        let ports = (u32::from(lp) << 16) | u32::from(hp);
        use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
        let mut h = BuildHasherDefault::<rustc_hash::FxHasher>::default().build_hasher();
        if v6 {
            h.write_u128(lo);
            h.write_u128(hi);
        } else {
            // Both IPv4: one word holds both addresses.
            h.write_u64(((lo as u64) << 32) | (hi as u64 & 0xffff_ffff));
        }
        h.write_u32(ports);
        Key {
            lo,
            hi,
            ports,
            v6,
            hash: h.finish(),
        }
    }

    /// The two endpoints, lower first.
    fn pair(&self) -> (SocketAddr, SocketAddr) {
        let addr = |bits: u128, port: u16| -> SocketAddr {
            if self.v6 {
                SocketAddr::new(std::net::Ipv6Addr::from_bits(bits).into(), port)
            } else {
                SocketAddr::new(std::net::Ipv4Addr::from_bits(bits as u32).into(), port)
            }
        };
        (
            addr(self.lo, (self.ports >> 16) as u16),
            addr(self.hi, self.ports as u16),
        )
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.lo == other.lo
            && self.hi == other.hi
            && self.ports == other.ports
            && self.v6 == other.v6
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (
            self.v6,
            self.lo,
            self.ports >> 16,
            self.hi,
            self.ports & 0xffff,
        )
            .cmp(&(
                other.v6,
                other.lo,
                other.ports >> 16,
                other.hi,
                other.ports & 0xffff,
            ))
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Whether the connection's idle time has passed its timeout at `now`
/// (closed connections wait out the close linger instead).
fn timed_out<T>(config: &TcpConfig, t: &Tracked<T>, now: Timestamp) -> Option<Eviction> {
    if t.conn.close_queued || t.conn.is_closed() {
        return None;
    }
    let idle = now.nanos_since(t.last_clock);
    if t.conn.established() {
        (idle >= config.idle_timeout_ns).then_some(Eviction::Inactive)
    } else {
        (idle >= config.handshake_timeout_ns).then_some(Eviction::HandshakeTimeout)
    }
}

fn key_of(seg: &Segment<'_>) -> Key {
    Key::of(&seg.src, &seg.dst)
}

/// A connection waiting for a deadline (its close linger, or its idle or
/// handshake timeout): the heaps of these give the soonest first, so each
/// connection is looked at on the first frame at or past its deadline,
/// whatever the others do (the same frame with one flow table or several).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    due: Timestamp,
    id: u64,
    key: Key,
}

/// How long (expiry clock, ns) the five-tuple of a concluded closed
/// connection is remembered, so that its trailing packets (the last ACK, a
/// retransmitted FIN) do not start a phantom connection. Trailing packets
/// come within seconds of the close (Linux's TIME_WAIT is 60 s, but what
/// it answers then is new data, not the last ACK); at thousands of
/// connections a second a tombstone is worth its memory only that long.
pub const TOMBSTONE_NS: u64 = 15_000_000_000;

/// Timers beyond twice the connections tracked before the stale ones are
/// dropped (see [`FlowTable::drop_stale_timers`]).
pub(crate) const STALE_TIMERS_SLACK: usize = 1024;

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
    /// Boxed: an entry is a pointer beside its key, whatever the size of
    /// the state, so the table's slots stay small and it can shrink.
    map: FxHashMap<Key, Box<Tracked<T>>>,
    next_id: u64,
    /// Closed connections, by the end of their close linger.
    closed: BinaryHeap<Reverse<Due>>,
    /// The five-tuple of the last lookup: its connection may have closed
    /// since (the caller feeds the segment after the lookup).
    last_key: Option<Key>,
    /// Whether what the last lookup's connection was fed has been noted
    /// already ([`FlowTable::note_fed`]): no need to look it up again.
    last_noted: bool,
    /// Five-tuples of concluded closed connections -> their id.
    tombs: FxHashMap<Key, u64>,
    /// The same, in order of conclusion.
    tomb_queue: VecDeque<Tomb>,
    /// Segments that arrived after their (closed) connection was concluded.
    late_segments: u64,
    /// Open connections, by when they would time out if no packet came
    /// (looked at then: concluded, or put back with their new deadline).
    timers: BinaryHeap<Reverse<Due>>,
    /// Bytes buffered by all tracked connections.
    buffered: usize,
    evictions: Evictions,
}

impl<T> FlowTable<T> {
    /// An empty table.
    pub fn new(config: TcpConfig) -> Self {
        FlowTable {
            config,
            map: FxHashMap::default(),
            next_id: 0,
            closed: BinaryHeap::new(),
            last_key: None,
            last_noted: false,
            tombs: FxHashMap::default(),
            tomb_queue: VecDeque::new(),
            late_segments: 0,
            timers: BinaryHeap::new(),
            buffered: 0,
            evictions: Evictions::default(),
        }
    }

    /// Connections concluded before they closed, by why.
    pub fn evictions(&self) -> Evictions {
        self.evictions
    }

    /// The most connections tracked at once: `max_connections`, or what
    /// the memory budget allows.
    fn max_tracked(&self) -> usize {
        match self.config.max_connections {
            0 => (self.config.memory_budget / CONNECTION_COST).max(1),
            n => n,
        }
    }

    /// Bytes the tracked connections take, as counted for the budget.
    pub fn memory_used(&self) -> usize {
        self.map
            .len()
            .saturating_mul(CONNECTION_COST)
            .saturating_add(self.buffered)
    }

    /// Whether the memory budget is exceeded.
    pub fn over_budget(&self) -> bool {
        self.memory_used() > self.config.memory_budget
    }

    /// Records what the connection last looked up now buffers, after it
    /// was fed.
    pub fn set_buffered(&mut self, bytes: usize) {
        let Some(key) = self.last_key else { return };
        // It may have closed since (what it was fed last).
        self.last_noted = false;
        if let Some(t) = self.map.get_mut(&key) {
            self.buffered = self
                .buffered
                .saturating_sub(t.buffered)
                .saturating_add(bytes);
            t.buffered = bytes;
        }
    }

    /// Counts a shedding of out-of-order buffers (see
    /// [`TcpConfig::memory_budget`]).
    pub fn note_shed(&mut self) {
        self.evictions.buffers_shed += 1;
    }

    /// Removes a connection concluded early, for `why`.
    fn evict(&mut self, key: &Key, why: Eviction, done: &mut impl FnMut(Box<Tracked<T>>)) {
        if let Some(mut t) = self.map.remove(key) {
            self.buffered = self.buffered.saturating_sub(t.buffered);
            t.evicted = Some(why);
            self.evictions.count(why);
            if self.last_key == Some(*key) {
                self.last_key = None;
            }
            done(t);
        }
    }

    /// Concludes the longest-idle connection of a few at the front of the
    /// activity queues (but not `keep`); false when there is none.
    fn evict_longest_idle(
        &mut self,
        why: Eviction,
        keep: Option<Key>,
        done: &mut impl FnMut(Box<Tracked<T>>),
    ) -> bool {
        const LOOK: usize = 8;
        let mut best: Option<(Timestamp, Key)> = None;
        let mut looked = Vec::with_capacity(LOOK);
        while looked.len() < LOOK {
            let Some(Reverse(a)) = self.timers.pop() else {
                break;
            };
            if let Some(t) = self.map.get(&a.key)
                && t.conn.id == a.id
            {
                if keep != Some(a.key) && best.is_none_or(|(l, _)| t.last_clock < l) {
                    best = Some((t.last_clock, a.key));
                }
                looked.push(a);
            }
        }
        for a in looked {
            self.timers.push(Reverse(a));
        }
        if best.is_none() {
            // Queues hold only stale entries at their fronts: any other.
            best = self
                .map
                .iter()
                .filter(|(k, _)| keep != Some(**k))
                .min_by_key(|(_, t)| (t.last_clock, t.conn.id))
                .map(|(k, t)| (t.last_clock, *k));
        }
        match best {
            Some((_, key)) => {
                self.evict(&key, why, done);
                true
            }
            None => false,
        }
    }

    /// Concludes the longest-idle connections until the budget is kept
    /// (but not `keep`, the connection being fed).
    pub fn enforce_budget(
        &mut self,
        keep: Option<(SocketAddr, SocketAddr)>,
        done: &mut impl FnMut(Box<Tracked<T>>),
    ) {
        let keep = keep.map(|(a, b)| Key::of(&a, &b));
        while self.over_budget() && self.map.len() > 1 {
            if !self.evict_longest_idle(Eviction::MemoryBudget, keep, done) {
                break;
            }
        }
    }

    /// The connection last looked up, if it is still tracked.
    pub fn last_mut(&mut self) -> Option<&mut Tracked<T>> {
        let key = self.last_key?;
        self.map.get_mut(&key).map(|b| &mut **b)
    }

    /// The five-tuple of the connection last looked up.
    pub fn last_key(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.last_key.map(|k| k.pair())
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
        done: &mut impl FnMut(Box<Tracked<T>>),
    ) -> Option<&mut Tracked<T>> {
        self.note_last_closed();
        let key = key_of(seg);
        // One hash lookup for a known connection; a second only for a new
        // one while the table is full.
        if self.map.len() >= self.max_tracked() && !self.map.contains_key(&key) {
            self.evict_longest_idle(Eviction::MaxConnections, Some(key), done);
        }
        match self.map.entry(key) {
            Entry::Occupied(e) => {
                self.last_key = Some(key);
                self.last_noted = false;
                let t = e.into_mut();
                // Idle past its timeout: concluded as open; this packet
                // starts a new (mid-stream) connection in its place.
                let expired = timed_out(&self.config, t, now);
                if expired.is_some() || t.conn.syn_starts_new(seg) {
                    let id = self.next_id;
                    self.next_id += 1;
                    let fresh = Box::new(Tracked {
                        conn: Connection::new(id, seg, at, &self.config),
                        user: new_user(),
                        last_clock: now,
                        evicted: None,
                        buffered: 0,
                    });
                    let mut old = std::mem::replace(t, fresh);
                    self.buffered = self.buffered.saturating_sub(old.buffered);
                    if let Some(why) = expired {
                        old.evicted = Some(why);
                        self.evictions.count(why);
                    }
                    done(old);
                    let due = Timestamp(now.0.saturating_add(self.config.handshake_timeout_ns));
                    self.timers.push(Reverse(Due { due, id, key }));
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
                self.last_noted = false;
                let id = self.next_id;
                self.next_id += 1;
                let due = Timestamp(now.0.saturating_add(self.config.handshake_timeout_ns));
                self.timers.push(Reverse(Due { due, id, key }));
                Some(e.insert(Box::new(Tracked {
                    conn: Connection::new(id, seg, at, &self.config),
                    user: new_user(),
                    last_clock: now,
                    evicted: None,
                    buffered: 0,
                })))
            }
        }
    }

    /// What [`Tracked::fed`] found of the connection the last lookup
    /// returned (one hash lookup less per frame than finding it again).
    pub fn note_fed(&mut self, f: Fed) {
        self.buffered = self.buffered.saturating_sub(f.was).saturating_add(f.now);
        if let (Some((id, clock)), Some(key)) = (f.closed, self.last_key) {
            self.closed.push(Reverse(Due {
                due: Timestamp(clock.0.saturating_add(self.config.close_linger_ns)),
                id,
                key,
            }));
        }
        self.last_noted = true;
    }

    /// Queues the last looked-up connection if it has closed since.
    fn note_last_closed(&mut self) {
        let Some(key) = self.last_key.take() else {
            return;
        };
        if std::mem::take(&mut self.last_noted) {
            return;
        }
        if let Some(t) = self.map.get_mut(&key)
            && !t.conn.close_queued
            && t.conn.is_closed()
        {
            t.conn.close_queued = true;
            self.closed.push(Reverse(Due {
                due: Timestamp(t.last_clock.0.saturating_add(self.config.close_linger_ns)),
                id: t.conn.id,
                key,
            }));
        }
    }

    /// The earliest clock at which [`FlowTable::expire`] would do anything:
    /// before it, `expire` changes nothing (a worker thread skips the
    /// frames of other workers' connections until then, see
    /// `crate::threads`). The front of each queue (close lingers, timers,
    /// tombstones); at once (0) when stale timers or tombstones are over
    /// their bounds. Queues the last looked-up connection if it has closed,
    /// as the next `expire` would.
    pub fn next_due(&mut self) -> Timestamp {
        self.note_last_closed();
        if self.timers.len() > STALE_TIMERS_SLACK + 2 * self.map.len()
            || self.tomb_queue.len() > MAX_TOMBSTONES
        {
            return Timestamp(0);
        }
        let mut due = u64::MAX;
        if let Some(Reverse(t)) = self.timers.peek() {
            due = due.min(t.due.0);
        }
        if let Some(Reverse(c)) = self.closed.peek() {
            due = due.min(c.due.0);
        }
        if let Some(t) = self.tomb_queue.front() {
            due = due.min(t.at.0.saturating_add(TOMBSTONE_NS));
        }
        Timestamp(due)
    }

    /// Hands to `done` the closed connections that saw no packet for
    /// `close_linger_ns` before `now` (the expiry clock). Cheap enough to
    /// call every frame.
    pub fn expire(&mut self, now: Timestamp, done: &mut impl FnMut(Box<Tracked<T>>)) {
        self.note_last_closed();
        self.expire_inactive(now, done);
        let linger = self.config.close_linger_ns;
        while let Some(Reverse(front)) = self.closed.peek() {
            if now < front.due {
                break;
            }
            let Some(Reverse(c)) = self.closed.pop() else {
                break;
            };
            let Some(t) = self.map.get(&c.key) else {
                continue;
            };
            if t.conn.id != c.id {
                // Replaced by a new connection on the same five-tuple.
                continue;
            }
            let due = Timestamp(t.last_clock.0.saturating_add(linger));
            if now < due {
                // A late packet: wait again from it.
                self.closed.push(Reverse(Due { due, ..c }));
                continue;
            }
            if let Some(t) = self.map.remove(&c.key) {
                self.buffered = self.buffered.saturating_sub(t.buffered);
                if self.last_key == Some(c.key) {
                    self.last_key = None;
                }
                // Buried at its deadline, not at `now`: the tombstone's
                // life does not depend on when this frame came.
                self.bury(c.key, t.conn.id, due);
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

    /// Concludes connections idle past their timeout (see
    /// [`TcpConfig::idle_timeout_ns`]). A connection found active since it
    /// was queued goes back in the queue for its new due time, so each
    /// look is a conclusion or a postponement.
    fn expire_inactive(&mut self, now: Timestamp, done: &mut impl FnMut(Box<Tracked<T>>)) {
        if self.timers.len() > STALE_TIMERS_SLACK + 2 * self.map.len() {
            self.drop_stale_timers();
        }
        while let Some(Reverse(front)) = self.timers.peek() {
            if now < front.due {
                break;
            }
            let Some(Reverse(a)) = self.timers.pop() else {
                break;
            };
            let Some(t) = self.map.get(&a.key) else {
                continue;
            };
            if t.conn.id != a.id || t.conn.close_queued || t.conn.is_closed() {
                continue; // replaced, or waiting out its close linger
            }
            if let Some(why) = timed_out(&self.config, t, now) {
                self.evict(&a.key, why, done);
                continue;
            }
            let timeout = if t.conn.established() {
                self.config.idle_timeout_ns
            } else {
                self.config.handshake_timeout_ns
            };
            let due = Timestamp(t.last_clock.0.saturating_add(timeout));
            self.timers.push(Reverse(Due { due, ..a }));
            if due <= now {
                // Not timed out yet due already (the clock at the end of
                // its range, where the sum saturates): look again later,
                // not in a loop.
                break;
            }
        }
    }

    /// Drops the timers of connections no longer tracked. Each connection
    /// gets one when it is created, due at its handshake timeout (30 s by
    /// default): at thousands of connections a second, closed in
    /// milliseconds, the heap held the timers of every connection of the
    /// last 30 s, not of those tracked. A dropped timer is one the
    /// expiry would have skipped when it came due (its connection gone or
    /// replaced), so no timeout concludes otherwise; and the heap pops in
    /// the order of its entries' values, however it is laid out. (Where
    /// the memory budget or `--max-connections` bites, the few timers
    /// [`FlowTable::evict_longest_idle`] looks at are more often live
    /// ones.) Called
    /// when stale timers are at least half the heap: linear in it, paid
    /// for by the pushes since the last call.
    fn drop_stale_timers(&mut self) {
        let map = &self.map;
        self.timers
            .retain(|Reverse(d)| map.get(&d.key).is_some_and(|t| t.conn.id == d.id));
        if self.timers.capacity() > 4 * self.timers.len().max(STALE_TIMERS_SLACK) {
            self.timers.shrink_to_fit();
        }
    }

    /// Remembers the five-tuple of a concluded closed connection.
    fn bury(&mut self, key: Key, id: u64, now: Timestamp) {
        self.tombs.insert(key, id);
        self.tomb_queue.push_back(Tomb { key, id, at: now });
    }

    /// End of capture: every remaining connection, in id order.
    pub fn drain(&mut self, done: &mut impl FnMut(Box<Tracked<T>>)) {
        self.last_key = None;
        self.closed.clear();
        self.timers.clear();
        self.buffered = 0;
        self.tombs.clear();
        self.tomb_queue.clear();
        let mut all: Vec<Box<Tracked<T>>> = self.map.drain().map(|(_, t)| t).collect();
        all.sort_unstable_by_key(|t| t.conn.id);
        for t in all {
            done(t);
        }
    }

    /// Timers queued (tests: they follow the connections tracked).
    #[cfg(test)]
    pub(crate) fn timers_len(&self) -> usize {
        self.timers.len()
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

#[cfg(test)]
mod key_tests {
    use super::Key;
    use std::net::SocketAddr;

    /// The integer key orders, compares and gives back endpoints as the
    /// `SocketAddr` pair it replaced: canonical order whatever the
    /// direction, an IPv4-mapped IPv6 address apart from its IPv4 one.
    #[test]
    fn key_is_the_sorted_socket_addr_pair() {
        let addrs: Vec<SocketAddr> = [
            "10.0.0.1:80",
            "10.0.0.1:81",
            "10.0.0.2:80",
            "9.255.255.255:65535",
            "255.255.255.255:1",
            "[::1]:80",
            "[::ffff:10.0.0.1]:80",
            "[2001:db8::1]:443",
            "[2001:db8::1]:0",
        ]
        .iter()
        .map(|s| s.parse().expect("address"))
        .collect();
        let mut pairs = Vec::new();
        for a in &addrs {
            for b in &addrs {
                if a == b || a.is_ipv4() != b.is_ipv4() {
                    continue;
                }
                let k = Key::of(a, b);
                assert_eq!(k, Key::of(b, a));
                assert_eq!(k.hash, Key::of(b, a).hash);
                assert_eq!(k.pair(), (*a.min(b), *a.max(b)));
                pairs.push((k, k.pair()));
            }
        }
        for (k1, p1) in &pairs {
            for (k2, p2) in &pairs {
                assert_eq!(k1 == k2, p1 == p2, "{p1:?} {p2:?}");
                assert_eq!(k1.cmp(k2), p1.cmp(p2), "{p1:?} {p2:?}");
            }
        }
        let v4 = Key::of(&addrs[0], &addrs[2]);
        let mapped = Key::of(&addrs[6], &"[::ffff:10.0.0.2]:80".parse().expect("address"));
        assert_ne!(v4, mapped);
    }
}
