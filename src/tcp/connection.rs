//! One TCP connection: roles, handshake, teardown, counters, history, and
//! its two reassemblers.

use std::net::SocketAddr;

use crate::anomaly::AnomalyKind;
use crate::decode::Segment;
use crate::tcp::flow::{RoleHint, TcpConfig};
use crate::tcp::reassembly::{Pushed, Reassembler, ReassemblyStats, StreamEvent};
use crate::tcp::seq::SeqNumber;
use crate::types::{Anomaly, At, Dir, MAX_ANOMALIES_PER_CONNECTION, PerRole, Role};

/// Test switches for [`Connection::in_order`]: turn it off (every segment
/// takes the general path), count the segments it took.
#[cfg(test)]
pub(crate) mod in_order_test {
    thread_local! {
        pub(crate) static GENERAL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        pub(crate) static TAKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
}

/// How the client/server roles were decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleSource {
    /// The client sent the first SYN.
    Syn,
    /// Only the SYN-ACK was seen; its receiver is the client.
    SynAck,
    /// No handshake; the first payload looked like an HTTP request or response.
    Payload,
    /// No handshake, no recognisable payload: the higher port is the client.
    Port,
}

/// What the three-way handshake looked like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handshake {
    /// The client's first SYN.
    pub syn: Option<At>,
    /// The server's first SYN-ACK.
    pub syn_ack: Option<At>,
    /// The client's ACK of the SYN-ACK.
    pub ack: Option<At>,
    /// Further SYNs with the same ISN.
    pub syn_retransmits: u32,
    /// The SYN was answered by a RST (connection refused).
    pub refused: bool,
}

crate::named_enum! {
    /// The state of the three-way handshake as the capture shows it.
    pub enum HandshakeState {
        /// SYN, SYN-ACK and the client's ACK.
        Complete = "complete",
        /// SYN and SYN-ACK, no ACK of the SYN-ACK seen.
        NoFinalAck = "no_final_ack",
        /// The SYN was answered by a RST.
        Refused = "refused",
        /// A SYN only.
        Unanswered = "unanswered",
        /// A SYN-ACK without the SYN.
        SynackOnly = "synack_only",
        /// No handshake packet at all (the capture began mid-connection).
        NotCaptured = "not_captured",
    }
}

impl Handshake {
    /// What the handshake packets seen add up to.
    pub fn state(&self) -> HandshakeState {
        if self.refused {
            return HandshakeState::Refused;
        }
        match (self.syn, self.syn_ack, self.ack) {
            (Some(_), Some(_), Some(_)) => HandshakeState::Complete,
            (Some(_), Some(_), None) => HandshakeState::NoFinalAck,
            (Some(_), None, _) => HandshakeState::Unanswered,
            (None, Some(_), _) => HandshakeState::SynackOnly,
            (None, None, _) => HandshakeState::NotCaptured,
        }
    }
}

/// How a side closed its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseKind {
    /// An orderly FIN.
    Fin,
    /// An abortive RST.
    Rst,
}

/// The first FIN or RST of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstClose {
    /// Who sent it.
    pub by: Role,
    /// FIN or RST.
    pub kind: CloseKind,
    /// The frame that carried it.
    pub at: At,
}

/// TCP keep-alive probes sent by one side (a segment at one below the next
/// expected sequence number with 0 or 1 byte) and the peer's ACKs of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeepaliveProbes {
    /// Probes sent.
    pub probes: u64,
    /// Pure ACKs from the peer answering a probe.
    pub acks: u64,
    /// The first and the last probe.
    pub first: Option<At>,
    pub last: Option<At>,
    /// Smallest and largest time between two consecutive probes, nanoseconds.
    pub min_interval_ns: Option<u64>,
    pub max_interval_ns: Option<u64>,
}

/// Per-direction counters, keyed by the sending role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideStats {
    /// Segments sent.
    pub packets: u64,
    /// Payload bytes by IP length, retransmissions included.
    pub payload_bytes: u64,
    /// Payload bytes the snap length cut off.
    pub truncated_bytes: u64,
    /// The last segment with payload (stitching runs: when a message
    /// begun in an earlier run ended).
    pub last_payload: Option<At>,
    /// First FIN and RST sent by this side.
    pub fin: Option<At>,
    pub rst: Option<At>,
    /// Payload bytes sent after the peer's FIN (a half-close in use).
    pub bytes_after_peer_fin: u64,
    /// Zero-window probes this side sent: segments shaped like keep-alive
    /// probes (one below the next sequence number) sent while the peer
    /// advertised a zero window.
    pub zero_window_probes: u64,
    /// RSTs this side sent (or that claim to be from it) whose sequence
    /// number lies outside the receiver's window: ignored (RFC 5961).
    pub rst_out_of_window: u64,
    // Keep-alive probes and reassembly counters are the connection's
    // ([`Connection::keepalive`], [`Connection::reassembly`]): the first are
    // rare (boxed when there are any), the second the reassembler's own.
}

// History letters as bits of a side's "seen" mask: S H A D F R T G W, from
// bit 0 (a match, not a search: this runs for every segment).
fn hist_bit(letter: u8) -> u16 {
    match letter {
        b'S' => 1,
        b'H' => 1 << 1,
        b'A' => 1 << 2,
        b'D' => 1 << 3,
        b'F' => 1 << 4,
        b'R' => 1 << 5,
        b'T' => 1 << 6,
        b'G' => 1 << 7,
        b'W' => 1 << 8,
        _ => 0,
    }
}

/// Index of a role in the internal per-role arrays (same as the index of the
/// direction it sends in).
fn ri(role: Role) -> usize {
    role.sends().index()
}

/// One TCP connection: who is client and server, how the handshake and the
/// teardown went, per-side counters, a Zeek-style history, and the two
/// directions' reassemblers (whose events go to the caller of
/// [`Connection::segment`]).
///
/// Internal per-side state is kept in arrays indexed by role (client 0,
/// server 1) so that a change of roles before any data was delivered is a
/// handful of swaps.
pub struct Connection {
    /// Order of the connection's first packet in the capture, from 0.
    pub id: u64,
    /// The client's address (see [`RoleSource`] for how it was decided).
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
    /// How the roles were decided.
    pub role_source: RoleSource,
    /// First and last packet.
    pub first: At,
    pub last: At,
    /// The three-way handshake.
    pub handshake: Handshake,
    /// The first FIN or RST of the connection.
    pub first_close: Option<FirstClose>,
    /// Counters per sending side.
    pub sides: PerRole<SideStats>,
    /// Zeek conn.log style history (S h A D d F f R r T t G g W w, upper
    /// case = client), each letter at most once per side as Zeek does, `^`
    /// first when the client is not the sender of the first packet.
    pub history: String,
    /// TCP-level anomalies (conflicting overlaps, data after RST, ...), at
    /// most [`MAX_ANOMALIES_PER_CONNECTION`].
    pub anomalies: Vec<Anomaly>,
    /// Anomalies not kept in `anomalies` because it was full.
    pub anomalies_dropped: u64,

    max_buffered: usize,
    role_hint: Option<RoleHint>,
    /// Sender of the first packet (the Zeek originator before any flip).
    first_sender: SocketAddr,
    /// Roles no longer change: a SYN, a SYN-ACK or payload decided them.
    roles_final: bool,
    /// By direction index (= index of the sending role).
    reasm: [Reassembler; 2],
    /// History letters seen, by role index.
    hist_seen: [u16; 2],
    /// ISN of each role's SYN / SYN-ACK.
    isn: [Option<SeqNumber>; 2],
    /// The role's last segment was a keep-alive probe not answered yet.
    probe_pending: [bool; 2],
    /// The window each role advertised last (raw, unscaled), by role index.
    window: [Option<u16>; 2],
    /// The window scale each role's SYN / SYN-ACK offered.
    wscale: [Option<u8>; 2],
    /// A RST was seen (both streams reset).
    reset_seen: bool,
    /// Queued by the flow table for expiry.
    pub(crate) close_queued: bool,
    /// Keep-alive probes, by role index; boxed once there is one (most
    /// connections have none: 184 bytes less a connection, thousands of
    /// which wait out their close linger at once).
    keepalive: Option<Box<[KeepaliveProbes; 2]>>,
}

impl Connection {
    /// A connection whose first packet is `seg`. Until a SYN, a SYN-ACK or
    /// payload says otherwise the higher port is taken as the client (the
    /// sender of `seg` on a tie).
    pub fn new(id: u64, seg: &Segment<'_>, at: At, config: &TcpConfig) -> Connection {
        let (client, server) = if seg.src.port() >= seg.dst.port() {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let mut c = Connection {
            id,
            client,
            server,
            role_source: RoleSource::Port,
            first: at,
            last: at,
            handshake: Handshake::default(),
            first_close: None,
            sides: PerRole::default(),
            history: String::new(),
            anomalies: Vec::new(),
            anomalies_dropped: 0,
            max_buffered: config.max_buffered_bytes,
            role_hint: config.role_hint,
            first_sender: seg.src,
            roles_final: false,
            reasm: [Reassembler::new(), Reassembler::new()],
            hist_seen: [0; 2],
            isn: [None; 2],
            probe_pending: [false; 2],
            window: [None; 2],
            wscale: [None; 2],
            reset_seen: false,
            close_queued: false,
            keepalive: None,
        };
        c.fix_flip_mark();
        c
    }

    /// The role of the endpoint at `addr`.
    pub fn role_of(&self, addr: SocketAddr) -> Role {
        if addr == self.client {
            Role::Client
        } else {
            Role::Server
        }
    }

    /// Whether the roles are settled (by a SYN, a SYN-ACK or payload).
    pub fn roles_decided(&self) -> bool {
        self.roles_final
    }

    /// The client's initial sequence number, if its SYN was seen.
    pub fn client_isn(&self) -> Option<u32> {
        self.isn[0].map(|s| s.0)
    }

    /// Some payload was seen in either direction.
    pub fn carried_data(&self) -> bool {
        self.sides.client.payload_bytes > 0 || self.sides.server.payload_bytes > 0
    }

    /// A RST was seen (both streams were reset).
    pub fn was_reset(&self) -> bool {
        self.reset_seen
    }

    /// Whether `seg` (a SYN on this connection's five-tuple) starts a new
    /// connection: this one is closed, or it had completed its handshake or
    /// carried data and the SYN's ISN is not the recorded client ISN.
    pub fn syn_starts_new(&self, seg: &Segment<'_>) -> bool {
        if !seg.flags.syn() || seg.flags.ack() {
            return false;
        }
        if self.is_closed() {
            return true;
        }
        match self.isn[0] {
            Some(isn) => isn.0 != seg.seq && (self.handshake.ack.is_some() || self.carried_data()),
            None => self.carried_data(),
        }
    }

    /// Reassembly state of one direction.
    pub fn reassembler(&self, dir: Dir) -> &Reassembler {
        &self.reasm[dir.index()]
    }

    /// Feeds one segment; stream events for either direction go to `out`.
    pub fn segment(
        &mut self,
        seg: &Segment<'_>,
        at: At,
        out: &mut impl FnMut(Dir, StreamEvent<'_>),
    ) {
        self.last = at;
        let f = seg.flags;
        let (syn, ack, fin, rst) = (f.syn(), f.ack(), f.fin(), f.rst());
        let seq = SeqNumber(seg.seq);
        let len = seg
            .payload_len
            .max(u32::try_from(seg.payload.len()).unwrap_or(u32::MAX));
        if self.in_order(seg, at, seq, len, out) {
            return;
        }

        // Roles from the handshake.
        if !self.roles_final && syn {
            let want = if ack { Role::Server } else { Role::Client };
            if self.role_of(seg.src) != want {
                self.swap_roles();
            }
            self.role_source = if ack {
                RoleSource::SynAck
            } else {
                RoleSource::Syn
            };
            self.roles_final = true;
        }
        let sender = ri(self.role_of(seg.src));
        let probe_shaped = !syn && !fin && !rst && self.reasm[sender].is_keepalive(seq, len);
        // The same shape while the peer's window is closed is a zero-window
        // probe (Linux sends both at one below the next sequence number).
        let zero_window_probe = probe_shaped && self.window[1 - sender] == Some(0);
        let probe = probe_shaped && !zero_window_probe;
        // Roles from the first payload.
        if !self.roles_final && len > 0 && !probe && !rst {
            let sender = self.role_of(seg.src);
            if let Some(r) = self.role_hint.and_then(|h| h(seg.payload)) {
                if r != sender {
                    self.swap_roles();
                }
                self.role_source = RoleSource::Payload;
            } else {
                // Provisional roles already follow the port rule.
                self.role_source = RoleSource::Port;
            }
            self.roles_final = true;
        }

        let role = self.role_of(seg.src);
        let me = ri(role);
        let peer = 1 - me;
        let dir = role.sends();

        if rst && !self.rst_in_window(me, seq, ack) {
            // RFC 5961 3.2: a RST outside the receiver's window does not
            // end the connection (the receiver answers it with a challenge
            // ACK, or ignores it); most likely spoofed or stale.
            let side = self.sides.get_mut(role);
            side.packets += 1;
            side.rst_out_of_window += 1;
            let expected = self.reasm[me].expected_seq();
            self.anomaly(AnomalyKind::TcpRstOutOfWindow, at, Some(role), || {
                format!(
                    "RST with seq {seq} (next expected {}) is outside the receiver's window; ignored",
                    expected.map_or("unknown".to_string(), |e| e.0.to_string())
                )
            });
            return;
        }
        if syn {
            self.wscale[me] = seg.wscale;
        }
        if !rst {
            self.window[me] = Some(seg.window);
        }

        {
            let side = self.sides.get_mut(role);
            side.packets += 1;
            side.payload_bytes += u64::from(len);
            side.truncated_bytes += u64::from(len).saturating_sub(seg.payload.len() as u64);
            if len > 0 {
                side.last_payload = Some(at);
            }
        }

        // History (the per-segment letters; T and G follow reassembly).
        if syn {
            self.add_history(role, if ack { b'H' } else { b'S' });
        }
        if fin {
            self.add_history(role, b'F');
        }
        if rst {
            self.add_history(role, b'R');
        }
        if !syn && !fin && !rst && ack && (len == 0 || probe) {
            self.add_history(role, b'A');
        }
        if len > 0 && !probe && !rst {
            self.add_history(role, b'D');
        }
        if seg.window == 0 && !syn && !rst {
            self.add_history(role, b'W');
        }

        // Handshake.
        if syn && !ack && role == Role::Client {
            match self.isn[me] {
                None => {
                    self.isn[me] = Some(seq);
                    self.handshake.syn.get_or_insert(at);
                    self.reasm[me].set_isn(seq);
                }
                Some(isn) if isn == seq => self.handshake.syn_retransmits += 1,
                Some(isn) => {
                    // A new attempt with a new ISN before anything happened
                    // (otherwise the flow table starts a new connection).
                    self.anomaly(AnomalyKind::TcpSynIsnChanged, at, Some(role), || {
                        format!("client SYN with ISN {} after ISN {}", seq, isn)
                    });
                    if !self.carried_data_before(len) {
                        self.isn[me] = Some(seq);
                        self.reasm[me] = Reassembler::new();
                        self.reasm[me].set_isn(seq);
                    }
                }
            }
        }
        if syn && ack && role == Role::Server {
            if self.isn[me].is_none() {
                self.isn[me] = Some(seq);
                self.reasm[me].set_isn(seq);
            }
            self.handshake.syn_ack.get_or_insert(at);
        }
        if syn {
            // A FIN held from before the SYN may end the stream right away.
            self.reasm[me].deliver_ready(&mut |ev| out(dir, ev));
        }
        if !syn
            && ack
            && role == Role::Client
            && self.handshake.ack.is_none()
            && self.handshake.syn_ack.is_some()
            && self.isn[peer].is_some_and(|i| SeqNumber(seg.ack) == i + 1)
        {
            self.handshake.ack = Some(at);
        }
        if rst
            && role == Role::Server
            && self.handshake.syn.is_some()
            && self.handshake.syn_ack.is_none()
        {
            self.handshake.refused = true;
        }

        // Keep-alive: the peer's ACK of our probe, then our own probe.
        if self.probe_pending[peer] {
            if !syn
                && !fin
                && !rst
                && ack
                && len == 0
                && self.reasm[peer].expected_seq() == Some(SeqNumber(seg.ack))
            {
                self.keepalive_mut(role.other()).acks += 1;
            }
            self.probe_pending[peer] = false;
        }
        if ack {
            self.reasm[peer].peer_ack(SeqNumber(seg.ack), at.ts);
            // Data the peer sent that this ACK proves we will never see:
            // release what was buffered behind it before this segment's
            // own payload (which may answer it).
            let before = *self.reasm[peer].stats();
            self.reasm[peer].set_now(at.ts);
            let peer_role = role.other();
            let peer_dir = peer_role.sends();
            self.reasm[peer].release_acked(&mut |ev| out(peer_dir, ev));
            self.after_reassembly(peer_role, before, at);
        }
        if zero_window_probe {
            self.sides.get_mut(role).zero_window_probes += 1;
            return;
        }
        if probe {
            let ka = self.keepalive_mut(role);
            ka.probes += 1;
            ka.first.get_or_insert(at);
            if let Some(prev) = ka.last {
                let d = at.ts.nanos_since(prev.ts);
                ka.min_interval_ns = Some(ka.min_interval_ns.map_or(d, |m| m.min(d)));
                ka.max_interval_ns = Some(ka.max_interval_ns.map_or(d, |m| m.max(d)));
            }
            ka.last = Some(at);
            self.probe_pending[me] = true;
            return;
        }

        // Stream data (a RST's payload is not stream data).
        if !rst && (len > 0 || fin) {
            let data_seq = if syn { seq + 1 } else { seq };
            let before = *self.reasm[me].stats();
            self.reasm[me].set_now(at.ts);
            let pushed = self.reasm[me].segment(
                data_seq,
                seg.payload,
                len,
                fin,
                self.max_buffered,
                &mut |ev| out(dir, ev),
            );
            self.after_reassembly(role, before, at);
            self.note_pushed(role, &pushed, data_seq, at);
            if self.sides.get(role.other()).fin.is_some() {
                self.sides.get_mut(role).bytes_after_peer_fin += pushed.accepted;
            }
        }

        // Teardown.
        if fin {
            self.note_close(role, CloseKind::Fin, at);
        }
        if rst {
            self.note_close(role, CloseKind::Rst, at);
            if !self.reset_seen {
                self.reset_seen = true;
                for r in [role, role.other()] {
                    let i = ri(r);
                    let d = r.sends();
                    let before = *self.reasm[i].stats();
                    self.reasm[i].reset(&mut |ev| out(d, ev));
                    self.after_reassembly(r, before, at);
                }
            }
        }
    }

    /// The segments that make up most of a capture, handled without the
    /// general path below when they are exactly what it would reduce to: an
    /// ACK (bare, or with payload that continues its stream in order) of an
    /// established connection whose roles are settled, with no SYN, FIN or
    /// RST, an open window, no keep-alive probe pending either way, the
    /// history letter it would add already there, nothing buffered out of
    /// order behind the bytes it acknowledges, and (with payload) all of it
    /// captured, before the peer's FIN. Returns `false`, having changed
    /// nothing, for any other segment. The general path gives the same
    /// counters, events and history for these (the fixtures' golden reports
    /// and the big captures' outputs are compared across the two).
    fn in_order(
        &mut self,
        seg: &Segment<'_>,
        at: At,
        seq: SeqNumber,
        len: u32,
        out: &mut impl FnMut(Dir, StreamEvent<'_>),
    ) -> bool {
        #[cfg(test)]
        if in_order_test::GENERAL_ONLY.with(std::cell::Cell::get) {
            return false;
        }
        let f = seg.flags;
        if !self.roles_final
            || !f.ack()
            || f.syn()
            || f.fin()
            || f.rst()
            || seg.window == 0
            || self.probe_pending != [false; 2]
            || seg.payload.len() != len as usize
        {
            return false;
        }
        let role = self.role_of(seg.src);
        let me = ri(role);
        let peer = 1 - me;
        let letter = if len == 0 { b'A' } else { b'D' };
        if self.hist_seen[me] & hist_bit(letter) == 0
            || (role == Role::Client
                && self.handshake.ack.is_none()
                && self.handshake.syn_ack.is_some())
            || !self.reasm[peer].nothing_pending()
        {
            return false;
        }
        if len == 0 {
            if self.reasm[me].is_keepalive(seq, 0) {
                return false;
            }
        } else if self.sides.get(role.other()).fin.is_some() || !self.reasm[me].in_order_at(seq) {
            return false;
        }
        // Past the checks: what the general path does for this segment, in
        // its order (the ACK's effect on the peer's stream, which can only
        // be a FIN delivered, then this segment's payload).
        let peer_dir = role.other().sends();
        self.reasm[peer].peer_ack(SeqNumber(seg.ack), at.ts);
        self.reasm[peer].set_now(at.ts);
        self.reasm[peer].release_acked(&mut |ev| out(peer_dir, ev));
        if len > 0 {
            let dir = role.sends();
            self.reasm[me].push_in_order(seq, seg.payload, at.ts, &mut |ev| out(dir, ev));
        }
        self.window[me] = Some(seg.window);
        let side = self.sides.get_mut(role);
        side.packets += 1;
        side.payload_bytes += u64::from(len);
        if len > 0 {
            side.last_payload = Some(at);
        }
        #[cfg(test)]
        in_order_test::TAKEN.with(|n| n.set(n.get() + 1));
        true
    }

    /// Whether a RST sent by the role with index `me` at `seq` lies in the
    /// receiver's window (RFC 5961 3.2), with tolerance for what the
    /// capture may have missed: from a little before the sender's next
    /// sequence number seen (64 KiB) to the receiver's window past it plus
    /// 1 MiB. With nothing known of the sender's sequence space, or a RST
    /// refusing a SYN (it acknowledges the SYN), it is accepted.
    fn rst_in_window(&self, me: usize, seq: SeqNumber, ack: bool) -> bool {
        const BEHIND: i64 = 64 * 1024;
        const AHEAD: i64 = 1 << 20;
        let peer = 1 - me;
        if ack && self.isn[me].is_none() && self.reasm[me].expected_seq().is_none() {
            return true;
        }
        let Some(next) = self.reasm[me].expected_seq() else {
            return true;
        };
        // Window scaling applies only when both SYNs offered it.
        let shift = match (self.wscale[0], self.wscale[1]) {
            (Some(_), Some(_)) => self.wscale[peer].unwrap_or(0).min(14),
            (None, None) if self.handshake.syn.is_none() => 7,
            _ => 0,
        };
        let window = i64::from(self.window[peer].unwrap_or(u16::MAX)) << shift;
        let d = i64::from(seq - next);
        // A FIN takes one sequence number the data offsets do not count.
        (-BEHIND..=window + AHEAD + 1).contains(&d)
    }

    /// The first FIN or RST of `role` (and of the connection).
    fn note_close(&mut self, role: Role, kind: CloseKind, at: At) {
        let side = self.sides.get_mut(role);
        match kind {
            CloseKind::Fin => side.fin.get_or_insert(at),
            CloseKind::Rst => side.rst.get_or_insert(at),
        };
        self.first_close
            .get_or_insert(FirstClose { by: role, kind, at });
    }

    /// No more segments will come (capture ended or the connection is
    /// evicted): flush what reassembly still holds (as gaps and data).
    pub fn flush(&mut self, at: At, out: &mut impl FnMut(Dir, StreamEvent<'_>)) {
        for r in [Role::Client, Role::Server] {
            let i = ri(r);
            let d = r.sends();
            let before = *self.reasm[i].stats();
            self.reasm[i].flush(&mut |ev| out(d, ev));
            self.after_reassembly(r, before, at);
        }
    }

    /// Anything but a handshake still waiting: a SYN with no SYN-ACK and no
    /// data is not established (the handshake timeout applies); a
    /// connection the capture caught after its handshake is taken to be
    /// (pure ACKs, keep-alive probes: the idle timeout applies).
    pub fn established(&self) -> bool {
        !(self.handshake.syn.is_some() && self.handshake.syn_ack.is_none()) || self.carried_data()
    }

    /// Bytes held out of order in both directions.
    pub fn buffered(&self) -> usize {
        self.reasm[0].buffered() + self.reasm[1].buffered()
    }

    /// Gives up every hole with data buffered behind it, in both
    /// directions: the holes become gaps and the data behind them is
    /// delivered (the memory budget's last resort before eviction).
    /// Returns whether anything was buffered.
    pub fn shed(&mut self, at: At, out: &mut impl FnMut(Dir, StreamEvent<'_>)) -> bool {
        let had = self.buffered() > 0;
        for r in [Role::Client, Role::Server] {
            let i = ri(r);
            if self.reasm[i].buffered() == 0 {
                continue;
            }
            let d = r.sends();
            let before = *self.reasm[i].stats();
            self.reasm[i].shed(&mut |ev| out(d, ev));
            self.after_reassembly(r, before, at);
        }
        had
    }

    /// Keep-alive probes `role` sent, and the peer's ACKs of them.
    pub fn keepalive(&self, role: Role) -> KeepaliveProbes {
        self.keepalive
            .as_ref()
            .and_then(|k| k.get(ri(role)).copied())
            .unwrap_or_default()
    }

    fn keepalive_mut(&mut self, role: Role) -> &mut KeepaliveProbes {
        let [client, server] = &mut **self.keepalive.get_or_insert_with(Default::default);
        if ri(role) == 0 { client } else { server }
    }

    /// Reassembly counters of the stream `role` sends.
    pub fn reassembly(&self, role: Role) -> ReassemblyStats {
        *self.reasm[ri(role)].stats()
    }

    /// FIN from both sides, or a RST.
    pub fn is_closed(&self) -> bool {
        self.reset_seen || (self.sides.client.fin.is_some() && self.sides.server.fin.is_some())
    }

    /// Payload seen before the current segment (whose length is `len`).
    fn carried_data_before(&self, len: u32) -> bool {
        self.sides.client.payload_bytes + self.sides.server.payload_bytes > u64::from(len)
    }

    /// Copies the role's reassembly counters and adds T / G to the history.
    fn after_reassembly(&mut self, role: Role, before: ReassemblyStats, _at: At) {
        let now = *self.reasm[ri(role)].stats();
        if now.retransmitted_segments > before.retransmitted_segments
            || now.retransmitted_bytes > before.retransmitted_bytes
        {
            self.add_history(role, b'T');
        }
        if now.gaps > before.gaps {
            self.add_history(role, b'G');
        }
    }

    fn note_pushed(&mut self, role: Role, p: &Pushed, seq: SeqNumber, at: At) {
        if p.conflicts > 0 {
            let off = p.conflict_offset.unwrap_or(0);
            self.anomaly(AnomalyKind::TcpOverlapConflict, at, Some(role), || {
                format!(
                    "retransmitted bytes differ from the first copy at stream offset {off} \
                     (segment seq {seq}); first copy kept"
                )
            });
        }
        if p.out_of_window {
            self.anomaly(AnomalyKind::TcpSeqOutOfWindow, at, Some(role), || {
                format!("segment at seq {seq} lies far beyond the stream; ignored")
            });
        }
        if p.after_end > 0 {
            let (kind, what) = if self.reset_seen {
                (AnomalyKind::DataAfterRst, "RST")
            } else {
                (AnomalyKind::DataAfterFin, "FIN")
            };
            let n = p.after_end;
            self.anomaly(kind, at, Some(role), || {
                format!("{n} new payload bytes after the {what}; not delivered")
            });
        }
    }

    fn anomaly(
        &mut self,
        kind: AnomalyKind,
        at: At,
        by: Option<Role>,
        detail: impl FnOnce() -> String,
    ) {
        if self.anomalies.len() < MAX_ANOMALIES_PER_CONNECTION {
            self.anomalies.push(Anomaly {
                kind,
                frame: at.frame,
                ts: at.ts,
                by,
                detail: detail(),
            });
        } else {
            self.anomalies_dropped += 1;
        }
    }

    fn add_history(&mut self, role: Role, letter: u8) {
        let bit = hist_bit(letter);
        let seen = &mut self.hist_seen[ri(role)];
        if *seen & bit != 0 {
            return;
        }
        *seen |= bit;
        let c = match role {
            Role::Client => letter.to_ascii_uppercase(),
            Role::Server => letter.to_ascii_lowercase(),
        };
        self.history.push(char::from(c));
    }

    /// `^` first in the history iff the client is not the first sender.
    fn fix_flip_mark(&mut self) {
        let flipped = self.client != self.first_sender;
        let marked = self.history.starts_with('^');
        if flipped && !marked {
            self.history.insert(0, '^');
        } else if !flipped && marked {
            self.history.remove(0);
        }
    }

    /// Exchanges client and server (only before any data was delivered).
    fn swap_roles(&mut self) {
        std::mem::swap(&mut self.client, &mut self.server);
        std::mem::swap(&mut self.sides.client, &mut self.sides.server);
        self.reasm.swap(0, 1);
        if let Some(k) = &mut self.keepalive {
            k.swap(0, 1);
        }
        self.hist_seen.swap(0, 1);
        self.isn.swap(0, 1);
        self.probe_pending.swap(0, 1);
        self.window.swap(0, 1);
        self.wscale.swap(0, 1);
        if let Some(fc) = &mut self.first_close {
            fc.by = fc.by.other();
        }
        for a in &mut self.anomalies {
            a.by = a.by.map(Role::other);
        }
        let swapped: String = self
            .history
            .chars()
            .map(|c| {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        self.history = swapped;
        self.fix_flip_mark();
    }
}

#[cfg(test)]
mod hist_tests {
    /// Each history letter has its own bit, in the order S H A D F R T G W,
    /// and nothing else has one.
    #[test]
    fn history_bits() {
        for (i, l) in b"SHADFRTGW".iter().enumerate() {
            assert_eq!(super::hist_bit(*l), 1 << i, "{}", char::from(*l));
        }
        assert_eq!(super::hist_bit(b'X'), 0);
        assert_eq!(super::hist_bit(b's'), 0);
    }
}
