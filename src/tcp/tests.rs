//! Compiled only for tests: declared `#[cfg(test)] mod tests;` in mod.rs.
//! Connection and flow-table tests, driven through [`FlowTable`] with
//! hand-built segments.

use std::net::SocketAddr;

use super::connection::{CloseKind, RoleSource};
use super::*;
use crate::decode::{Segment, TcpFlags};
use crate::types::{At, Dir, Role, Timestamp};

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
const PSH: u8 = TcpFlags::PSH;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>),
    Gap(u64),
    Fin,
    Reset,
}

fn d(s: &str) -> Ev {
    Ev::Data(s.as_bytes().to_vec())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct H {
    table: FlowTable<()>,
    frame: u64,
    /// Events by connection id.
    events: Vec<(u64, Dir, Ev)>,
    done: Vec<Connection>,
    /// Segments the table called late (after their connection concluded).
    late: u64,
    /// The window the next segments advertise.
    win: u16,
    c: SocketAddr,
    s: SocketAddr,
}

impl H {
    fn new() -> H {
        H::with(TcpConfig::default())
    }

    fn with(config: TcpConfig) -> H {
        H {
            table: FlowTable::new(config),
            frame: 0,
            events: Vec::new(),
            done: Vec::new(),
            late: 0,
            win: 1000,
            c: addr("10.0.0.1:50000"),
            s: addr("10.0.0.2:80"),
        }
    }

    fn at(&self) -> At {
        At {
            frame: self.frame,
            ts: Timestamp(self.frame * 1_000_000_000),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn raw(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        payload_len: u32,
    ) {
        self.frame += 1;
        let at = self.at();
        let seg = Segment {
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            window: self.win,
            payload,
            payload_len,
            wscale: None,
        };
        let done = &mut self.done;
        let Some(t) = self
            .table
            .lookup(&seg, at, at.ts, || (), &mut |old: Box<Tracked<()>>| {
                done.push(old.conn)
            })
        else {
            self.late += 1;
            return;
        };
        let id = t.conn.id;
        let events = &mut self.events;
        t.conn.segment(&seg, at, &mut |dir, ev| {
            events.push((id, dir, own(ev)));
        });
        let done = &mut self.done;
        self.table
            .expire(at.ts, &mut |old: Box<Tracked<()>>| done.push(old.conn));
    }

    /// Client to server.
    fn cs(&mut self, seq: u32, ack: u32, flags: u8, payload: &str) {
        let (c, s) = (self.c, self.s);
        let p = payload.as_bytes();
        self.raw(c, s, seq, ack, flags, p, p.len() as u32);
    }

    /// Server to client.
    fn sc(&mut self, seq: u32, ack: u32, flags: u8, payload: &str) {
        let (c, s) = (self.c, self.s);
        let p = payload.as_bytes();
        self.raw(s, c, seq, ack, flags, p, p.len() as u32);
    }

    /// SYN (ISN 100), SYN-ACK (ISN 500), ACK.
    fn handshake(&mut self) {
        self.cs(100, 0, SYN, "");
        self.sc(500, 101, SYN | ACK, "");
        self.cs(101, 501, ACK, "");
    }

    fn conn(&mut self) -> &Connection {
        let (c, s) = (self.c, self.s);
        let seg = Segment {
            src: c,
            dst: s,
            seq: 0,
            ack: 0,
            flags: TcpFlags(ACK),
            window: 1,
            payload: &[],
            payload_len: 0,
            wscale: None,
        };
        let at = self.at();
        &self
            .table
            .lookup(&seg, at, at.ts, || (), &mut |_| {})
            .unwrap()
            .conn
    }

    fn flush(&mut self) {
        let at = self.at();
        let events = &mut self.events;
        let done = &mut self.done;
        self.table.drain(&mut |mut t: Box<Tracked<()>>| {
            let id = t.conn.id;
            t.conn
                .flush(at, &mut |dir, ev| events.push((id, dir, own(ev))));
            done.push(t.conn);
        });
    }

    fn evs(&self, dir: Dir) -> Vec<Ev> {
        self.events
            .iter()
            .filter(|e| e.1 == dir)
            .map(|e| e.2.clone())
            .collect()
    }
}

fn own(ev: StreamEvent<'_>) -> Ev {
    match ev {
        StreamEvent::Data(b) => Ev::Data(b.to_vec()),
        StreamEvent::Gap(n) => Ev::Gap(n),
        StreamEvent::Fin => Ev::Fin,
        StreamEvent::Reset => Ev::Reset,
    }
}

#[test]
fn handshake_syn_synack_ack_is_complete() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK | PSH, "GET / HTTP/1.1\r\n\r\n");
    h.sc(501, 119, ACK | PSH, "HTTP/1.1 200 OK\r\n");
    let (cl, sv) = (h.c, h.s);
    let c = h.conn();
    assert_eq!(c.id, 0);
    assert_eq!(c.client, cl);
    assert_eq!(c.server, sv);
    assert_eq!(c.role_source, RoleSource::Syn);
    assert_eq!(c.handshake.syn.map(|a| a.frame), Some(1));
    assert_eq!(c.handshake.syn_ack.map(|a| a.frame), Some(2));
    assert_eq!(c.handshake.ack.map(|a| a.frame), Some(3));
    assert!(!c.handshake.refused);
    assert_eq!(c.history, "ShADd");
    assert_eq!(c.sides.client.packets, 3);
    assert_eq!(c.sides.client.payload_bytes, 18);
    assert!(!c.is_closed());
    assert_eq!(h.evs(Dir::ToServer), vec![d("GET / HTTP/1.1\r\n\r\n")]);
    assert_eq!(h.evs(Dir::ToClient), vec![d("HTTP/1.1 200 OK\r\n")]);
}

#[test]
fn syn_retransmit_is_counted_not_new() {
    let mut h = H::new();
    h.cs(100, 0, SYN, "");
    h.cs(100, 0, SYN, "");
    h.sc(500, 101, SYN | ACK, "");
    h.cs(101, 501, ACK, "");
    assert_eq!(h.table.len(), 1);
    let c = h.conn();
    assert_eq!(c.handshake.syn_retransmits, 1);
    assert_eq!(c.handshake.syn.map(|a| a.frame), Some(1));
    assert!(c.handshake.ack.is_some());
}

#[test]
fn rst_answering_syn_is_refused() {
    let mut h = H::new();
    h.cs(100, 0, SYN, "");
    h.sc(0, 101, RST | ACK, "");
    let c = h.conn();
    assert!(c.handshake.refused);
    assert!(c.is_closed());
    assert_eq!(c.history, "Sr");
    let fc = c.first_close.unwrap();
    assert_eq!(
        (fc.by, fc.kind, fc.at.frame),
        (Role::Server, CloseKind::Rst, 2)
    );
    assert!(c.sides.server.rst.is_some());
    // The sender's direction first.
    let order: Vec<Dir> = h.events.iter().map(|e| e.1).collect();
    assert_eq!(order, vec![Dir::ToClient, Dir::ToServer]);
    assert_eq!(h.evs(Dir::ToClient), vec![Ev::Reset]);
}

#[test]
fn rst_after_data_resets_both_and_late_data_is_anomaly() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "abc");
    h.sc(501, 104, ACK, "xyz");
    h.cs(104, 504, RST | ACK, "");
    // A late retransmission: no anomaly. New data: anomaly.
    h.sc(501, 104, ACK, "xyz");
    h.sc(504, 104, ACK, "more");
    let c = h.conn();
    assert!(c.is_closed());
    assert!(!c.handshake.refused);
    assert_eq!(c.first_close.unwrap().kind, CloseKind::Rst);
    let kinds: Vec<&str> = c.anomalies.iter().map(|a| a.kind.name()).collect();
    assert_eq!(kinds, vec!["data_after_rst"]);
    assert_eq!(h.evs(Dir::ToServer), vec![d("abc"), Ev::Reset]);
    assert_eq!(h.evs(Dir::ToClient), vec![d("xyz"), Ev::Reset]);
    let order: Vec<Dir> = h.events.iter().skip(2).map(|e| e.1).collect();
    assert_eq!(order, vec![Dir::ToServer, Dir::ToClient]);
}

#[test]
fn fin_before_hole_waits() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "aaaa");
    h.cs(109, 501, ACK | FIN, "cccc");
    assert_eq!(h.evs(Dir::ToServer), vec![d("aaaa")]);
    assert_eq!(h.conn().reassembly(Role::Client).out_of_order_segments, 1);
    h.cs(105, 501, ACK, "bbbb");
    assert_eq!(
        h.evs(Dir::ToServer),
        vec![d("aaaa"), d("bbbb"), d("cccc"), Ev::Fin]
    );
    let c = h.conn();
    assert_eq!(c.reassembly(Role::Client).gaps, 0);
    assert_eq!(c.first_close.unwrap().kind, CloseKind::Fin);
}

#[test]
fn fin_before_hole_is_gapped_at_flush() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "aaaa");
    h.cs(109, 501, ACK | FIN, "cccc");
    h.flush();
    assert_eq!(
        h.evs(Dir::ToServer),
        vec![d("aaaa"), Ev::Gap(4), d("cccc"), Ev::Fin]
    );
    let c = &h.done[0];
    assert_eq!(c.reassembly(Role::Client).gaps, 1);
    assert_eq!(c.reassembly(Role::Client).gap_bytes, 4);
    assert!(c.history.contains('G'));
}

#[test]
fn fin_only_segment_after_data_is_delivered() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "abc");
    h.sc(501, 104, FIN | ACK, "");
    h.cs(104, 502, FIN | ACK, "");
    h.sc(502, 105, ACK, "");
    assert_eq!(h.evs(Dir::ToServer), vec![d("abc"), Ev::Fin]);
    assert_eq!(h.evs(Dir::ToClient), vec![Ev::Fin]);
    let c = h.conn();
    assert!(c.is_closed());
    assert_eq!(c.first_close.unwrap().by, Role::Server);
    assert_eq!(c.history, "ShADfFa");
}

#[test]
fn half_close_counts_bytes_after_peer_fin() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK | FIN, "req");
    h.sc(501, 105, ACK, "resp1");
    h.sc(501, 105, ACK, "resp1"); // retransmission: not counted again
    h.sc(506, 105, ACK | FIN, "resp2");
    let c = h.conn();
    assert_eq!(c.sides.server.bytes_after_peer_fin, 10);
    assert_eq!(c.sides.client.bytes_after_peer_fin, 0);
    assert_eq!(c.reassembly(Role::Server).retransmitted_segments, 1);
    assert!(c.history.contains('t'));
    assert_eq!(h.evs(Dir::ToClient), vec![d("resp1"), d("resp2"), Ev::Fin]);
}

#[test]
fn keepalive_probe_is_not_retransmission() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "0123456789");
    h.sc(501, 111, ACK, "");
    // Zero-byte probe, answered.
    h.cs(110, 501, ACK, "");
    h.sc(501, 111, ACK, "");
    h.frame += 10;
    // One-byte (garbage) probe, answered.
    h.cs(110, 501, ACK, "x");
    h.sc(501, 111, ACK, "");
    let c = h.conn();
    let ka = c.keepalive(Role::Client);
    assert_eq!(ka.probes, 2);
    assert_eq!(ka.acks, 2);
    assert_eq!(ka.first.map(|a| a.frame), Some(6));
    assert_eq!(ka.last.map(|a| a.frame), Some(18));
    assert_eq!(ka.min_interval_ns, Some(12_000_000_000));
    assert_eq!(ka.max_interval_ns, Some(12_000_000_000));
    assert_eq!(c.reassembly(Role::Client).retransmitted_segments, 0);
    assert_eq!(c.reassembly(Role::Client).gaps, 0);
    assert!(!c.history.contains('T'));
    assert_eq!(h.evs(Dir::ToServer), vec![d("0123456789")]);
}

/// Issue 7, item 7: a probe-shaped segment (one below the next sequence
/// number) while the peer's window is zero is a zero-window probe, not a
/// keep-alive probe.
#[test]
fn zero_window_probes_are_not_keepalive_probes() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "GET");
    h.sc(501, 104, ACK, "0123456789");
    // The client's window closes; the server probes twice.
    h.win = 0;
    h.cs(104, 511, ACK, "");
    h.win = 1000;
    h.sc(510, 104, ACK, "");
    h.win = 0;
    h.cs(104, 511, ACK, "");
    h.win = 1000;
    h.sc(510, 104, ACK, "");
    // The window opens: the same shape is a keep-alive probe again.
    h.cs(104, 511, ACK, "");
    h.sc(510, 104, ACK, "");
    let c = h.conn();
    assert_eq!(c.sides.server.zero_window_probes, 2);
    assert_eq!(c.keepalive(Role::Server).probes, 1);
    assert_eq!(c.reassembly(Role::Server).retransmitted_segments, 0);
}

/// Issue 7, item 6: a RST far outside the receiver's window (RFC 5961) is
/// an anomaly and does not end the connection; one at the next sequence
/// number does.
#[test]
fn rst_outside_the_window_is_ignored() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "GET");
    h.sc(0x7000_0000, 0, RST, "");
    let c = h.conn();
    assert!(!c.is_closed());
    assert!(c.first_close.is_none());
    assert_eq!(c.sides.server.rst_out_of_window, 1);
    assert_eq!(c.anomalies[0].kind.name(), "tcp_rst_out_of_window");
    h.sc(501, 104, ACK, "OK");
    assert_eq!(h.evs(Dir::ToClient), vec![d("OK")]);
    h.sc(503, 0, RST, "");
    let c = h.conn();
    assert!(c.is_closed());
    assert_eq!(c.first_close.map(|f| f.kind), Some(CloseKind::Rst));
}

#[test]
fn keepalive_on_idle_connection_after_handshake() {
    let mut h = H::new();
    h.handshake();
    h.cs(100, 501, ACK, "");
    h.sc(501, 101, ACK, "");
    let ka = h.conn().keepalive(Role::Client);
    assert_eq!((ka.probes, ka.acks), (1, 1));
}

#[test]
fn new_syn_after_fin_starts_new_connection() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK | FIN, "");
    h.sc(501, 102, ACK | FIN, "");
    h.cs(102, 502, ACK, "");
    // Same five-tuple, even the same ISN: the old one is closed.
    h.cs(100, 0, SYN, "");
    assert_eq!(h.done.len(), 1);
    assert_eq!(h.done[0].id, 0);
    assert_eq!(h.table.len(), 1);
    let c = h.conn();
    assert_eq!(c.id, 1);
    assert_eq!(c.history, "S");
    assert!(!c.is_closed());
}

#[test]
fn new_syn_with_other_isn_after_data_starts_new_connection() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "GET");
    h.cs(9000, 0, SYN, "");
    assert_eq!(h.done.len(), 1);
    let c = h.conn();
    assert_eq!(c.id, 1);
    assert_eq!(c.client_isn(), Some(9000));
}

#[test]
fn synack_first_makes_receiver_client() {
    let mut h = H::new();
    h.sc(500, 101, SYN | ACK, "");
    h.cs(101, 501, ACK, "");
    h.cs(101, 501, ACK, "GET");
    let cl = h.c;
    let c = h.conn();
    assert_eq!(c.client, cl);
    assert_eq!(c.role_source, RoleSource::SynAck);
    assert_eq!(c.history, "^hAD");
    assert!(c.handshake.syn.is_none());
    assert!(c.handshake.ack.is_some());
    // The client's stream starts at its first data (no SYN seen).
    assert_eq!(h.evs(Dir::ToServer), vec![d("GET")]);
}

fn hint(p: &[u8]) -> Option<Role> {
    if p.starts_with(b"GET ") {
        Some(Role::Client)
    } else if p.starts_with(b"HTTP/") {
        Some(Role::Server)
    } else {
        None
    }
}

#[test]
fn no_syn_roles_from_role_hint() {
    let mut h = H::with(TcpConfig {
        role_hint: Some(hint),
        ..TcpConfig::default()
    });
    // The client here has the lower port.
    h.c = addr("10.0.0.2:8080");
    h.s = addr("10.0.0.1:9000");
    // First a pure ACK from the server: provisional roles by port.
    h.sc(7000, 3000, ACK, "");
    h.cs(3000, 7000, ACK | PSH, "GET / HTTP/1.1\r\n\r\n");
    h.sc(7000, 3018, ACK | PSH, "HTTP/1.1 200 OK\r\n");
    let (cl, sv) = (h.c, h.s);
    let c = h.conn();
    assert_eq!(c.role_source, RoleSource::Payload);
    assert_eq!(c.client, cl);
    assert_eq!(c.server, sv);
    assert_eq!(c.history, "^aDd");
    assert_eq!(c.sides.server.packets, 2);
    assert_eq!(c.sides.client.packets, 1);
    assert_eq!(h.evs(Dir::ToServer), vec![d("GET / HTTP/1.1\r\n\r\n")]);
    assert_eq!(h.evs(Dir::ToClient), vec![d("HTTP/1.1 200 OK\r\n")]);
}

#[test]
fn no_syn_roles_from_higher_port() {
    let mut h = H::new();
    h.sc(7000, 3000, ACK, "");
    h.sc(7000, 3000, ACK, "xyz");
    h.cs(3000, 7003, ACK, "abc");
    let cl = h.c;
    let c = h.conn();
    assert_eq!(c.role_source, RoleSource::Port);
    assert_eq!(c.client, cl);
    assert_eq!(c.history, "^adD");
    assert_eq!(h.evs(Dir::ToClient), vec![d("xyz")]);
    assert_eq!(h.evs(Dir::ToServer), vec![d("abc")]);
}

#[test]
fn no_syn_equal_ports_first_sender_is_client() {
    let mut h = H::new();
    h.c = addr("10.0.0.9:80");
    h.s = addr("10.0.0.1:80");
    h.cs(1, 1, ACK, "abc");
    let cl = h.c;
    let c = h.conn();
    assert_eq!(c.client, cl);
    assert_eq!(c.history, "D");
}

#[test]
fn sequence_wraps_around() {
    let mut h = H::new();
    let isn = u32::MAX - 2;
    h.cs(isn, 0, SYN, "");
    h.sc(500, isn.wrapping_add(1), SYN | ACK, "");
    h.cs(isn.wrapping_add(1), 501, ACK, "");
    // Out of order across the wrap: bytes 4..8 (seq 2) first.
    h.cs(2, 501, ACK, "efgh");
    h.cs(isn.wrapping_add(1), 501, ACK, "abcd");
    h.cs(6, 501, ACK | FIN, "ij");
    assert_eq!(
        h.evs(Dir::ToServer),
        vec![d("abcd"), d("efgh"), d("ij"), Ev::Fin]
    );
    let c = h.conn();
    assert_eq!(c.reassembly(Role::Client).gaps, 0);
    assert_eq!(c.reassembly(Role::Client).out_of_order_segments, 1);
}

#[test]
fn snaplen_truncation_gives_gap() {
    let mut h = H::new();
    h.handshake();
    let (c, s) = (h.c, h.s);
    h.raw(c, s, 101, 501, ACK, b"abcd", 10);
    h.cs(111, 501, ACK, "next");
    // Out of order and truncated: its lost tail is a gap when reached.
    h.raw(c, s, 125, 501, ACK, b"zz", 5);
    h.raw(c, s, 115, 501, ACK, b"0123456789", 10);
    h.cs(130, 501, ACK, "end");
    assert_eq!(
        h.evs(Dir::ToServer),
        vec![
            d("abcd"),
            Ev::Gap(6),
            d("next"),
            d("0123456789"),
            d("zz"),
            Ev::Gap(3),
            d("end"),
        ]
    );
    let c = h.conn();
    assert_eq!(c.sides.client.truncated_bytes, 9);
    assert_eq!(c.sides.client.payload_bytes, 32);
    assert_eq!(c.reassembly(Role::Client).gaps, 2);
    assert_eq!(c.reassembly(Role::Client).gap_bytes, 9);
}

#[test]
fn overlap_conflict_keeps_first() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "aa");
    h.cs(105, 501, ACK, "XXYY");
    h.cs(103, 501, ACK, "bbZZYY");
    assert_eq!(h.evs(Dir::ToServer), vec![d("aa"), d("bb"), d("XXYY")]);
    let c = h.conn();
    assert_eq!(c.reassembly(Role::Client).conflicting_overlaps, 1);
    assert_eq!(c.anomalies.len(), 1);
    assert_eq!(c.anomalies[0].kind.name(), "tcp_overlap_conflict");
    assert_eq!(c.anomalies[0].by, Some(Role::Client));
}

#[test]
fn overlap_conflict_between_buffered_copies() {
    let mut h = H::new();
    h.handshake();
    h.cs(105, 501, ACK, "XXYY");
    h.cs(105, 501, ACK, "XQYY");
    h.cs(101, 501, ACK, "aaaa");
    assert_eq!(h.evs(Dir::ToServer), vec![d("aaaa"), d("XXYY")]);
    let c = h.conn();
    assert_eq!(c.reassembly(Role::Client).conflicting_overlaps, 1);
    assert_eq!(c.reassembly(Role::Client).retransmitted_segments, 1);
}

#[test]
fn gap_when_peer_acks_past_hole() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "aaaa");
    // The capture missed bytes 105..109; the server acknowledges them.
    h.sc(501, 109, ACK, "");
    h.cs(109, 501, ACK, "cccc");
    assert_eq!(h.evs(Dir::ToServer), vec![d("aaaa"), Ev::Gap(4), d("cccc")]);
}

/// zeek/zero-length-bodies-with-drops.pcap: a request behind a lost client
/// segment must come out before the server's answer in the segment whose
/// ACK proves the loss, or the answer pairs with nothing.
#[test]
fn peer_ack_over_hole_releases_buffered_data_before_peer_payload() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "aaaa");
    // 105..109 never captured; the next request arrives behind the hole.
    h.cs(109, 501, ACK, "cccc");
    assert_eq!(h.evs(Dir::ToServer), vec![d("aaaa")]);
    // The server's answer acknowledges everything: the hole is a gap and
    // "cccc" is delivered before the server's bytes.
    h.sc(501, 113, ACK, "RESP");
    let order: Vec<(Dir, Ev)> = h.events.iter().map(|(_, d, e)| (*d, e.clone())).collect();
    assert_eq!(
        order,
        vec![
            (Dir::ToServer, d("aaaa")),
            (Dir::ToServer, Ev::Gap(4)),
            (Dir::ToServer, d("cccc")),
            (Dir::ToClient, d("RESP")),
        ]
    );
}

#[test]
fn peer_ack_short_of_hole_end_keeps_waiting() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "aaaa");
    h.cs(109, 501, ACK, "cccc");
    // The peer acknowledged only part of the hole: it may still be filled.
    h.sc(501, 107, ACK, "");
    assert_eq!(h.evs(Dir::ToServer), vec![d("aaaa")]);
    h.cs(105, 501, ACK, "bbbb");
    assert_eq!(h.evs(Dir::ToServer), vec![d("aaaa"), d("bbbb"), d("cccc")]);
}

#[test]
fn missing_tail_acked_by_peer_is_gap_at_flush() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, ACK, "aaaa");
    h.sc(501, 109, ACK, "");
    h.flush();
    assert_eq!(h.evs(Dir::ToServer), vec![d("aaaa"), Ev::Gap(4)]);
}

#[test]
fn buffer_overflow_gives_gap() {
    let mut h = H::with(TcpConfig {
        max_buffered_bytes: 6,
        ..TcpConfig::default()
    });
    h.handshake();
    h.cs(105, 501, ACK, "bbbb");
    h.cs(109, 501, ACK, "cccc");
    assert_eq!(h.evs(Dir::ToServer), vec![Ev::Gap(4), d("bbbb"), d("cccc")]);
    let st = h.conn().reassembly(Role::Client);
    assert_eq!(st.buffer_overflows, 1);
    // The late hole filler is old data now.
    h.cs(101, 501, ACK, "aaaa");
    assert_eq!(h.conn().reassembly(Role::Client).retransmitted_segments, 1);
}

#[test]
fn zero_window_is_history_w() {
    let mut h = H::new();
    h.handshake();
    let (c, s) = (h.c, h.s);
    h.frame += 1;
    let seg = Segment {
        src: s,
        dst: c,
        seq: 501,
        ack: 101,
        flags: TcpFlags(ACK),
        window: 0,
        payload: &[],
        payload_len: 0,
        wscale: None,
    };
    let at = h.at();
    let t = h.table.lookup(&seg, at, at.ts, || (), &mut |_| {}).unwrap();
    t.conn.segment(&seg, at, &mut |_, _| {});
    assert_eq!(h.conn().history, "ShAaw");
}

/// Regression (issue 7, item 8): with no close linger, the final ACK after
/// both FINs came after the connection was concluded and started a phantom
/// connection. It is a late segment of the closed one; a new SYN on the
/// same five-tuple still starts a new connection.
#[test]
fn trailing_ack_after_conclusion_is_late_not_a_new_connection() {
    let mut h = H::with(TcpConfig {
        close_linger_ns: 0,
        ..TcpConfig::default()
    });
    h.handshake();
    h.cs(101, 501, ACK | FIN, "");
    h.sc(501, 102, ACK | FIN, "");
    h.cs(102, 502, ACK, "");
    h.cs(102, 502, ACK | FIN, ""); // a retransmitted FIN, later still
    assert_eq!(h.done.len(), 1);
    assert_eq!(h.late, 2);
    assert!(h.table.is_empty());
    assert_eq!(h.table.late_segments(), 2);
    h.handshake();
    assert_eq!(h.table.len(), 1);
    assert_eq!(h.late, 2);
}

#[test]
fn expire_hands_back_closed_after_linger_only() {
    let mut h = H::with(TcpConfig {
        close_linger_ns: 5_000_000_000,
        ..TcpConfig::default()
    });
    h.handshake();
    h.cs(101, 501, ACK | FIN, "");
    h.sc(501, 102, ACK | FIN, "");
    // An open connection on another tuple.
    h.c = addr("10.0.0.1:50001");
    h.handshake();
    h.frame += 3;
    // Late ACK on the closed one keeps it.
    h.c = addr("10.0.0.1:50000");
    h.cs(102, 502, ACK, "");
    h.c = addr("10.0.0.1:50001");
    h.frame += 3;
    h.sc(600, 700, ACK, "x");
    assert_eq!(h.done.len(), 0);
    h.frame += 1;
    h.sc(600, 700, ACK, "x");
    assert_eq!(h.done.len(), 1);
    assert_eq!(h.done[0].id, 0);
    // The open one stays while it is not idle for the idle timeout...
    h.frame += 290;
    h.sc(600, 700, ACK, "x");
    assert_eq!(h.done.len(), 1);
    assert_eq!(h.table.len(), 1);
    // ...and is concluded as inactive after it; its next packet starts a
    // new connection.
    h.frame += 1000;
    h.sc(600, 700, ACK, "x");
    assert_eq!(h.done.len(), 2);
    assert_eq!(h.done[1].id, 1);
    assert_eq!(h.table.len(), 1);
    assert_eq!(h.table.evictions().inactive, 1);
}

/// The timers of concluded connections are dropped: the heap follows the
/// connections tracked, not those of the last handshake timeout (at
/// thousands of short connections a second it held every one of the last
/// 30 s). A tracked connection's timer survives the purges: it still times
/// out.
#[test]
fn timers_follow_tracked_connections_not_the_capture() {
    let secs = 1_000_000_000u64;
    let mut h = H::with(TcpConfig {
        close_linger_ns: 0,
        handshake_timeout_ns: 100_000 * secs,
        idle_timeout_ns: 100_000 * secs,
        ..TcpConfig::default()
    });
    // One connection stays open throughout.
    h.c = addr("10.0.0.9:40000");
    h.handshake();
    for i in 0..5000u32 {
        h.c = SocketAddr::new(addr("10.0.0.1:1").ip(), 1024 + (i % 60000) as u16);
        h.s = SocketAddr::new(
            std::net::Ipv4Addr::from_bits(0x0a00_0100 + i / 60000).into(),
            80,
        );
        h.handshake();
        h.cs(101, 501, ACK | FIN, "");
        h.sc(501, 102, ACK | FIN, "");
        h.cs(102, 502, ACK, "");
    }
    assert_eq!(h.done.len(), 5000);
    assert!(h.table.len() <= 2, "tracked: {}", h.table.len());
    // 5,001 timers were armed; the stale ones were dropped as they piled up.
    assert!(
        h.table.timers_len() <= 2 * h.table.len() + super::flow::STALE_TIMERS_SLACK + 1,
        "timers: {}",
        h.table.timers_len()
    );
    // The open one times out at its deadline all the same.
    h.frame += 200_000;
    h.c = addr("10.0.0.7:1000");
    h.s = addr("10.0.0.2:80");
    h.cs(100, 0, SYN, "");
    assert_eq!(h.table.evictions().inactive, 1);
    assert!(h.done.iter().any(|c| c.client == addr("10.0.0.9:40000")));
}

/// Issue 8, bounds: an unanswered SYN is concluded after the handshake
/// timeout, without any other packet of its own.
#[test]
fn unanswered_syn_times_out() {
    let mut h = H::new();
    h.cs(100, 0, SYN, "");
    h.c = addr("10.0.0.1:50001");
    h.handshake(); // frames 2-4
    // The SYN was at 1 s; this ACK at 30 s.
    h.frame += 25;
    h.cs(101, 501, ACK, "");
    assert_eq!(h.done.len(), 0);
    h.frame += 2;
    h.cs(101, 501, ACK, "");
    assert_eq!(h.done.len(), 1);
    assert_eq!(h.done[0].id, 0);
    assert_eq!(h.table.evictions().handshake_timeout, 1);
    assert_eq!(h.table.len(), 1);
}

/// Issue 8, bounds: past `max_connections` the longest idle is concluded.
#[test]
fn max_connections_evicts_the_longest_idle() {
    let mut h = H::with(TcpConfig {
        max_connections: 2,
        ..TcpConfig::default()
    });
    h.handshake(); // 50000, frames 1-3
    h.c = addr("10.0.0.1:50001");
    h.handshake(); // frames 4-6
    h.c = addr("10.0.0.1:50000");
    h.cs(101, 501, ACK, "a"); // 50000 active again: 50001 is now the idlest
    h.c = addr("10.0.0.1:50002");
    h.handshake();
    assert_eq!(h.done.len(), 1);
    assert_eq!(h.done[0].id, 1);
    assert_eq!(h.table.len(), 2);
    assert_eq!(h.table.evictions().max_connections, 1);
}

#[test]
fn drain_hands_back_in_id_order() {
    let mut h = H::new();
    for p in 0..20u32 {
        h.c = addr(&format!("10.0.0.1:{}", 40000 + (p * 7919) % 1000));
        h.cs(1, 1, ACK, "x");
    }
    h.flush();
    let ids: Vec<u64> = h.done.iter().map(|c| c.id).collect();
    assert_eq!(ids, (0..20).collect::<Vec<_>>());
    assert!(h.table.is_empty());
}

#[test]
fn anomalies_are_capped() {
    let mut h = H::new();
    h.handshake();
    h.cs(101, 501, RST, "");
    for i in 0..100u32 {
        h.cs(200 + i * 10, 501, ACK, "data");
    }
    let c = h.conn();
    assert_eq!(
        c.anomalies.len(),
        crate::types::MAX_ANOMALIES_PER_CONNECTION
    );
    assert_eq!(c.anomalies_dropped, 100 - 64);
}

// Streams without a captured SYN: where does the stream start?

#[test]
fn no_syn_peer_ack_places_stream_start() {
    let mut h = H::new();
    // The client has acknowledged up to 501: the server's stream goes on
    // from there, so 505 arriving first is out of order, not the start.
    h.cs(3000, 501, ACK, "GET / HTTP/1.1\r\n\r\n");
    h.sc(505, 3018, ACK, "bbbb");
    assert_eq!(h.evs(Dir::ToClient), vec![]);
    h.sc(501, 3018, ACK, "aaaa");
    assert_eq!(h.evs(Dir::ToClient), vec![d("aaaa"), d("bbbb")]);
    h.flush();
    let c = &h.done[0];
    let st = c.reassembly(Role::Server);
    assert_eq!(st.out_of_order_segments, 1);
    assert_eq!(st.retransmitted_segments, 0);
    assert_eq!(st.retransmitted_bytes, 0);
    assert_eq!(st.gaps, 0);
    assert_eq!(c.history, "Dd");
    assert_eq!(h.evs(Dir::ToClient), vec![d("aaaa"), d("bbbb")]);
}

#[test]
fn no_syn_without_ack_evidence_starts_at_first_payload() {
    // No ACK from the peer at all, and an ACK at (not before) the first
    // payload: either way the stream starts at the first payload, and bytes
    // before it are old, not a gap.
    for ack in [None, Some(505)] {
        let mut h = H::new();
        if let Some(a) = ack {
            h.cs(3000, a, ACK, "");
        }
        h.sc(505, 3000, ACK, "bbbb");
        assert_eq!(h.evs(Dir::ToClient), vec![d("bbbb")]);
        h.sc(501, 3000, ACK, "aaaa");
        h.flush();
        assert_eq!(h.evs(Dir::ToClient), vec![d("bbbb")]);
        let st = h.done[0].reassembly(Role::Server);
        assert_eq!(st.gaps, 0);
        assert_eq!(st.retransmitted_segments, 1);
        assert_eq!(st.out_of_order_segments, 0);
    }
}

#[test]
fn no_syn_ack_evidence_hole_never_filled_gives_gap_at_flush() {
    let mut h = H::new();
    h.cs(3000, 501, ACK, "");
    h.sc(505, 3000, ACK | FIN, "bbbb");
    assert_eq!(h.evs(Dir::ToClient), vec![]);
    h.flush();
    assert_eq!(h.evs(Dir::ToClient), vec![Ev::Gap(4), d("bbbb"), Ev::Fin]);
    let c = &h.done[0];
    let st = c.reassembly(Role::Server);
    assert_eq!((st.gaps, st.gap_bytes), (1, 4));
    assert_eq!(st.out_of_order_segments, 1);
    assert_eq!(st.retransmitted_segments, 0);
    assert!(c.history.contains('g'));
    assert!(!c.history.contains('t'));
}

#[test]
fn no_syn_ack_evidence_beyond_buffer_cap_is_ignored() {
    let mut h = H::with(TcpConfig {
        max_buffered_bytes: 6,
        ..TcpConfig::default()
    });
    h.cs(3000, 501, ACK, "");
    h.sc(511, 3000, ACK, "bbbb");
    h.flush();
    assert_eq!(h.evs(Dir::ToClient), vec![d("bbbb")]);
    assert_eq!(h.done[0].reassembly(Role::Server).gaps, 0);
}

#[test]
fn no_syn_bare_fin_alone_is_delivered_at_flush() {
    let mut h = H::new();
    h.cs(3000, 501, ACK | FIN, "");
    assert_eq!(h.evs(Dir::ToServer), vec![]);
    h.flush();
    assert_eq!(h.evs(Dir::ToServer), vec![Ev::Fin]);
    let c = &h.done[0];
    assert_eq!(c.reassembly(Role::Client), Default::default());
    assert_eq!(c.first_close.unwrap().kind, CloseKind::Fin);
}

#[test]
fn no_syn_bare_fin_then_data_after_it_is_after_end() {
    let mut h = H::new();
    h.cs(3000, 501, ACK | FIN, "");
    h.cs(3001, 501, ACK, "late");
    assert_eq!(h.evs(Dir::ToServer), vec![Ev::Fin]);
    assert!(
        h.conn()
            .anomalies
            .iter()
            .any(|a| a.kind.name() == "data_after_fin")
    );
}

#[test]
fn fin_captured_before_synack_does_not_start_stream() {
    // Packets out of file order: the server's FIN comes before its SYN-ACK
    // and its data.
    let mut h = H::new();
    h.sc(509, 101, ACK | FIN, "");
    h.sc(500, 101, SYN | ACK, "");
    h.sc(505, 101, ACK, "bbbb");
    h.sc(501, 101, ACK, "aaaa");
    assert_eq!(h.evs(Dir::ToClient), vec![d("aaaa"), d("bbbb"), Ev::Fin]);
    let st = h.conn().reassembly(Role::Server);
    assert_eq!(st.retransmitted_segments, 0);
    assert_eq!(st.out_of_order_segments, 1);
    assert_eq!(st.gaps, 0);
}

#[test]
fn fin_held_before_synack_without_data_is_delivered_at_synack() {
    let mut h = H::new();
    h.sc(501, 101, ACK | FIN, "");
    h.sc(500, 101, SYN | ACK, "");
    assert_eq!(h.evs(Dir::ToClient), vec![Ev::Fin]);
}

#[test]
fn ack_stamped_after_segment_is_not_gap_evidence() {
    // A capture not in time order: the client's ACK of everything is
    // stamped after the server's segments it acknowledges.
    let mut h = H::new();
    h.handshake();
    h.frame = 100;
    h.cs(101, 509, ACK, "");
    h.frame = 50;
    h.sc(505, 101, ACK, "bbbb");
    h.frame = 40;
    h.sc(501, 101, ACK, "aaaa");
    assert_eq!(h.evs(Dir::ToClient), vec![d("aaaa"), d("bbbb")]);
    assert_eq!(h.conn().reassembly(Role::Server).gaps, 0);
}

/// What a run of [`FlowTable`] over a capture gave, per connection: the
/// stream events and the connection's state when it concluded.
#[derive(Debug, PartialEq)]
struct RunOut {
    segments: u64,
    events: Vec<(u64, Dir, Ev)>,
    conns: Vec<String>,
}

/// Every segment of `path` through a flow table, frames in file order.
fn run_capture(path: &std::path::Path) -> RunOut {
    use crate::capture::{CaptureReader, Input};
    let mut table: FlowTable<()> = FlowTable::new(TcpConfig::default());
    let mut events = Vec::new();
    let mut done: Vec<Connection> = Vec::new();
    let Ok(mut r) = CaptureReader::open(&Input::Path(path.to_path_buf())) else {
        return RunOut {
            segments: 0,
            events,
            conns: Vec::new(),
        };
    };
    let mut n = 0;
    let mut segments = 0;
    while let Ok(Some(f)) = r.next_frame() {
        n += 1;
        let at = At { frame: n, ts: f.ts };
        let Ok(crate::decode::Decoded::Segment(seg)) = crate::decode::decode(f.linktype, f.data)
        else {
            continue;
        };
        segments += 1;
        table.expire(at.ts, &mut |old: Box<Tracked<()>>| done.push(old.conn));
        if let Some(t) = table.lookup(&seg, at, at.ts, || (), &mut |old: Box<Tracked<()>>| {
            done.push(old.conn)
        }) {
            let id = t.conn.id;
            t.conn
                .segment(&seg, at, &mut |dir, ev| events.push((id, dir, own(ev))));
        }
    }
    table.drain(&mut |old: Box<Tracked<()>>| done.push(old.conn));
    done.sort_by_key(|c| c.id);
    let conns = done
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {:?} {:?}-{:?} {:?} {:?} {:?} {} {:?} {} {:?} {} {}",
                c.id,
                c.client,
                c.server,
                c.role_source,
                c.first,
                c.last,
                c.handshake,
                c.first_close,
                c.sides,
                c.history,
                c.anomalies,
                c.anomalies_dropped,
                c.reassembler(Dir::ToServer).expected_seq(),
                c.buffered(),
                c.is_closed(),
            )
        })
        .collect();
    RunOut {
        segments,
        events,
        conns,
    }
}

/// The in-order fast path of `Connection::segment` changes nothing: every
/// fixture capture (real traffic, and the hostile and shuffled third-party
/// ones) gives the same stream events and the same connection state, to
/// the last counter, with it and with every segment on the general path;
/// and it is taken for most segments of ordinary traffic.
#[test]
fn in_order_fast_path_is_the_general_path() {
    use super::connection::in_order_test::{GENERAL_ONLY, TAKEN};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if ["pcap", "pcapng", "gz", "cap"]
                .iter()
                .any(|x| p.extension().is_some_and(|e| e == *x))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 100, "{}", files.len());
    let mut taken_total = 0;
    for f in &files {
        TAKEN.with(|n| n.set(0));
        GENERAL_ONLY.with(|g| g.set(false));
        let fast = run_capture(f);
        let taken = TAKEN.with(std::cell::Cell::get);
        GENERAL_ONLY.with(|g| g.set(true));
        let general = run_capture(f);
        GENERAL_ONLY.with(|g| g.set(false));
        assert_eq!(TAKEN.with(std::cell::Cell::get), taken, "{}", f.display());
        assert_eq!(fast.conns, general.conns, "{}", f.display());
        assert_eq!(fast.events, general.events, "{}", f.display());
        taken_total += taken;
    }
    // ab -k (keep-alive requests on a few connections): all but the
    // handshakes, the first segment of each direction and the teardowns
    // take it.
    TAKEN.with(|n| n.set(0));
    let ab = run_capture(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/captures/ab-k.pcap"),
    );
    let taken = TAKEN.with(std::cell::Cell::get);
    assert!(taken * 10 > ab.segments * 7, "{taken} of {}", ab.segments);
    assert!(taken_total > 1000, "{taken_total}");
}

/// `next_due` is the first clock at which `expire` does anything (worker
/// threads skip the ticks before it): a close linger, then the tombstone
/// it leaves, then the open connection's timer; before each, `expire`
/// concludes nothing and the due time stays.
#[test]
fn next_due_is_the_first_clock_expire_acts_at() {
    let secs = 1_000_000_000u64;
    let mut h = H::with(TcpConfig {
        close_linger_ns: 5 * secs,
        handshake_timeout_ns: 30 * secs,
        idle_timeout_ns: 300 * secs,
        ..TcpConfig::default()
    });
    assert_eq!(h.table.next_due(), Timestamp(u64::MAX));
    h.handshake(); // 1-3 s: its timer is due at 1 + 30 s
    h.c = addr("10.0.0.1:50001");
    h.handshake(); // 4-6 s
    h.cs(101, 501, ACK | FIN, ""); // 7 s
    h.sc(501, 102, ACK | FIN, ""); // 8 s: closed, lingers until 13 s
    let mut done = Vec::new();
    let mut expire = |h: &mut H, at: u64| {
        h.table.expire(Timestamp(at), &mut |t: Box<Tracked<()>>| {
            done.push(t.conn.id)
        });
        done.len()
    };
    // Due at the close linger's end; nothing before it.
    assert_eq!(h.table.next_due(), Timestamp(13 * secs));
    assert_eq!(expire(&mut h, 13 * secs - 1), 0);
    assert_eq!(h.table.next_due(), Timestamp(13 * secs));
    assert_eq!(expire(&mut h, 13 * secs), 1);
    // Its tombstone goes 15 s after its burial, before the open one's
    // handshake timer (31 s): it is looked at then.
    assert_eq!(h.table.next_due(), Timestamp(28 * secs));
    assert_eq!(expire(&mut h, 28 * secs), 1);
    // The open one's handshake timer: established, it is put back to its
    // idle deadline (3 s + 300 s).
    assert_eq!(h.table.next_due(), Timestamp(31 * secs));
    assert_eq!(expire(&mut h, 31 * secs), 1);
    // The closed one's handshake timer is stale (it is no longer tracked):
    // due all the same, and nothing comes of it.
    assert_eq!(h.table.next_due(), Timestamp(34 * secs));
    assert_eq!(expire(&mut h, 34 * secs), 1);
    assert_eq!(h.table.next_due(), Timestamp(303 * secs));
    assert_eq!(expire(&mut h, 303 * secs - 1), 1);
    assert_eq!(expire(&mut h, 303 * secs), 2);
    assert_eq!(h.table.evictions().inactive, 1);
    assert_eq!(h.table.next_due(), Timestamp(u64::MAX));
}
