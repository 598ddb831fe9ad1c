//! One TCP connection: roles, handshake, teardown, counters, history, and
//! its two reassemblers.

use std::net::SocketAddr;

use crate::decode::Segment;
use crate::tcp::reassembly::{ReassemblyStats, StreamEvent};
use crate::types::{Anomaly, At, Dir, PerRole, Role};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseKind {
    Fin,
    Rst,
}

/// The first FIN or RST of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstClose {
    pub by: Role,
    pub kind: CloseKind,
    pub at: At,
}

/// TCP keep-alive probes sent by one side (a segment at one below the next
/// expected sequence number with 0 or 1 byte) and the peer's ACKs of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeepaliveProbes {
    pub probes: u64,
    pub acks: u64,
    pub first: Option<At>,
    pub last: Option<At>,
    /// Smallest and largest time between two consecutive probes, nanoseconds.
    pub min_interval_ns: Option<u64>,
    pub max_interval_ns: Option<u64>,
}

/// Per-direction counters, keyed by the sending role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideStats {
    pub packets: u64,
    /// Payload bytes by IP length, retransmissions included.
    pub payload_bytes: u64,
    /// Payload bytes the snap length cut off.
    pub truncated_bytes: u64,
    /// First FIN and RST sent by this side.
    pub fin: Option<At>,
    pub rst: Option<At>,
    /// Payload bytes sent after the peer's FIN (a half-close in use).
    pub bytes_after_peer_fin: u64,
    pub keepalive: KeepaliveProbes,
    pub reassembly: ReassemblyStats,
}

/// See the module docs.
pub struct Connection {
    /// Order of the connection's first packet in the capture, from 0.
    pub id: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub role_source: RoleSource,
    pub first: At,
    pub last: At,
    pub handshake: Handshake,
    pub first_close: Option<FirstClose>,
    pub sides: PerRole<SideStats>,
    /// Zeek conn.log style history (S h A D d F f R r T t G g, upper case =
    /// client), each letter at most once per side as Zeek does.
    pub history: String,
    /// TCP-level anomalies (conflicting overlaps, data after RST, ...).
    pub anomalies: Vec<Anomaly>,
}

impl Connection {
    /// Feeds one segment; stream events for either direction go to `out`.
    pub fn segment(
        &mut self,
        _seg: &Segment<'_>,
        _at: At,
        _out: &mut impl FnMut(Dir, StreamEvent<'_>),
    ) {
        unimplemented!("tcp connection")
    }

    /// No more segments will come (capture ended or the connection is
    /// evicted): flush what reassembly still holds (as gaps and data).
    pub fn flush(&mut self, _at: At, _out: &mut impl FnMut(Dir, StreamEvent<'_>)) {
        unimplemented!("tcp connection")
    }

    /// FIN from both sides, or a RST.
    pub fn is_closed(&self) -> bool {
        unimplemented!("tcp connection")
    }
}
