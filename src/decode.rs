//! Link, IP and TCP header decoding: one [`Frame`](crate::capture::Frame)'s
//! bytes to a [`Segment`] or a [`Skip`] reason. Uses etherparse's lax
//! slicing so that snap-length-truncated frames keep every whole header.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use etherparse::err::Layer;
use etherparse::err::packet::SliceError;
use etherparse::{
    EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, LinkSlice, TcpSlice, TransportSlice,
};

use crate::capture::linktype;

/// TCP flag bits, as in the header's flags byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
}

/// A TCP segment, borrowed from its frame.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The payload bytes that were captured.
    pub payload: &'a [u8],
    /// Payload length according to the IP header (>= `payload.len()`;
    /// larger when the snap length cut the frame).
    pub payload_len: u32,
    /// The window scale option (RFC 7323), read from SYN segments only.
    pub wscale: Option<u8>,
}

/// One IP fragment of a TCP segment, borrowed from its frame, for
/// reassembly (see [`crate::defrag`]).
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The datagram's identification (IPv4: 16 bits; IPv6: 32 bits).
    pub id: u32,
    /// Byte offset of this fragment in the datagram's payload.
    pub offset: u32,
    /// More fragments follow (the MF flag / M bit).
    pub more: bool,
    /// This fragment's part of the payload, as captured.
    pub payload: &'a [u8],
    /// Its length according to the IP header (>= `payload.len()`).
    pub payload_len: u32,
}

/// What one frame holds: a TCP segment, or a fragment of one.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    /// A whole TCP segment.
    Segment(Segment<'a>),
    /// A fragment of an IP datagram carrying TCP.
    Fragment(Fragment<'a>),
}

/// Why a frame was not analysed. `kind()` is the stable key in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skip {
    /// The interface's link type is not one we decode.
    UnsupportedLinkType(u32),
    /// A link-layer protocol that is not IP (ARP, LLDP, ...), by ethertype.
    /// Values below 0x0600 are IEEE 802.3 length fields (LLC frames) or
    /// Linux "cooked" non-ethertype protocols.
    NotIp(u16),
    /// A NULL/LOOP (BSD loopback) frame whose address family is not IPv4
    /// or IPv6.
    NotIpFamily(u32),
    Arp,
    Udp,
    /// ICMP or ICMPv6.
    Icmp,
    /// Another IP protocol number.
    OtherIpProto(u8),
    /// A TCP packet in IP fragments we cannot decode: a non-first fragment,
    /// or a first one whose TCP header is incomplete. (Fragments of other
    /// protocols count as that protocol.)
    IpFragment,
    /// Headers cut off before the TCP header was whole.
    Truncated,
    /// A header that does not parse.
    Malformed,
}

impl Skip {
    /// The stable snake_case key of this reason, for reports:
    /// `unsupported_linktype_<n>`, `non_ip_ethertype_0x<hex4>`,
    /// `non_ip_llc`, `non_ip_address_family_<n>`, `arp`, `udp`, `icmp`,
    /// `ip_proto_<n>`, `ip_fragment`, `truncated`, `malformed`. Common keys
    /// do not allocate.
    pub fn kind(&self) -> Cow<'static, str> {
        match *self {
            Skip::UnsupportedLinkType(n) => Cow::Owned(format!("unsupported_linktype_{n}")),
            Skip::NotIp(t) if t < ETHERTYPE_MIN => Cow::Borrowed("non_ip_llc"),
            Skip::NotIp(0x88cc) => Cow::Borrowed("non_ip_ethertype_0x88cc"),
            Skip::NotIp(0x888e) => Cow::Borrowed("non_ip_ethertype_0x888e"),
            Skip::NotIp(0x9000) => Cow::Borrowed("non_ip_ethertype_0x9000"),
            Skip::NotIp(t) => Cow::Owned(format!("non_ip_ethertype_0x{t:04x}")),
            Skip::NotIpFamily(n) => Cow::Owned(format!("non_ip_address_family_{n}")),
            Skip::Arp => Cow::Borrowed("arp"),
            Skip::Udp => Cow::Borrowed("udp"),
            Skip::Icmp => Cow::Borrowed("icmp"),
            Skip::OtherIpProto(2) => Cow::Borrowed("ip_proto_2"),
            Skip::OtherIpProto(n) => Cow::Owned(format!("ip_proto_{n}")),
            Skip::IpFragment => Cow::Borrowed("ip_fragment"),
            Skip::Truncated => Cow::Borrowed("truncated"),
            Skip::Malformed => Cow::Borrowed("malformed"),
        }
    }
}

/// Reasons order by their report key, so the report's map of skipped
/// frames lists them alphabetically.
impl Ord for Skip {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.kind().cmp(&other.kind())
    }
}

impl PartialOrd for Skip {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl serde::Serialize for Skip {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.kind())
    }
}

/// Ethertype values start here; smaller values are 802.3 lengths.
const ETHERTYPE_MIN: u16 = 0x0600;

/// NULL and LOOP: a 4-byte address family precedes the IP packet.
const NULL_HEADER_LEN: usize = 4;
const AF_INET: u32 = 2;
/// AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// Linux cooked capture v1: packet type (2), ARPHRD type (2), address
/// length (2), address (8), protocol (2).
const SLL_HEADER_LEN: usize = 16;
const SLL_PROTOCOL_OFFSET: usize = 14;
/// Linux cooked capture v2: protocol (2), reserved (2), interface index
/// (4), ARPHRD type (2), packet type (1), address length (1), address (8).
const SLL2_HEADER_LEN: usize = 20;
const SLL2_PROTOCOL_OFFSET: usize = 0;

/// Fixed IPv6 header length.
const IPV6_HEADER_LEN: usize = 40;

/// Decodes one frame of the given LINKTYPE_*.
#[inline]
pub fn decode(linktype: u32, data: &[u8]) -> Result<Decoded<'_>, Skip> {
    if linktype == linktype::ETHERNET
        && let Some(seg) = fast_ethernet(data)
    {
        return Ok(Decoded::Segment(seg));
    }
    decode_lax(linktype, data)
}

/// [`decode`] without the fast path: etherparse's lax slicing for every
/// frame.
fn decode_lax(linktype: u32, data: &[u8]) -> Result<Decoded<'_>, Skip> {
    let packet = match linktype {
        linktype::ETHERNET => {
            let p = LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::Truncated)?;
            match (&p.net, p.ether_payload()) {
                (None, Some(e)) => encapsulated(e.ether_type, e.payload)?.unwrap_or(p),
                _ => p,
            }
        }
        linktype::NFLOG => nflog(data)?,
        linktype::NULL | linktype::LOOP => {
            let family = data.get(..NULL_HEADER_LEN).ok_or(Skip::Truncated)?;
            let family: [u8; 4] = family.try_into().map_err(|_| Skip::Truncated)?;
            let family = if linktype == linktype::LOOP {
                u32::from_be_bytes(family)
            } else {
                // The capturing host's byte order: the small reading is right.
                u32::from_le_bytes(family).min(u32::from_be_bytes(family))
            };
            let ether_type = family_ether_type(family)?;
            let rest = data.get(NULL_HEADER_LEN..).unwrap_or(&[]);
            LaxSlicedPacket::from_ether_type(ether_type, rest)
        }
        linktype::RAW
        | linktype::DLT_RAW_12
        | linktype::DLT_RAW_14
        | linktype::IPV4
        | linktype::IPV6 => {
            // The version nibble decides, whatever the link type says.
            LaxSlicedPacket::from_ether_type(EtherType::IPV4, data)
        }
        linktype::LINUX_SLL => cooked(data, SLL_HEADER_LEN, SLL_PROTOCOL_OFFSET)?,
        linktype::LINUX_SLL2 => cooked(data, SLL2_HEADER_LEN, SLL2_PROTOCOL_OFFSET)?,
        other => return Err(Skip::UnsupportedLinkType(other)),
    };
    segment(&packet)
}

/// The common case without `LaxSlicedPacket` (which costs 60-90 ns a
/// frame): Ethernet II, then IPv4 without options other than in its header
/// or IPv6 without extension headers, not a fragment, whole as captured
/// (the snap length cut nothing of the IP packet), then a well-formed TCP
/// header: etherparse's strict per-layer slices, each a few bounds checks.
/// `None` for anything else, which the lax path then decodes; for the
/// frames this accepts both give the same [`Segment`] (the same pointer
/// arithmetic below as in [`segment`]; a unit test compares them).
#[inline]
fn fast_ethernet(data: &[u8]) -> Option<Segment<'_>> {
    let eth = etherparse::Ethernet2Slice::from_slice_without_fcs(data).ok()?;
    let payload = eth.payload_slice();
    let (src, dst, ip_start, ip_len, ip_payload) = match eth.ether_type() {
        EtherType::IPV4 => {
            let v4 = etherparse::Ipv4Slice::from_slice(payload).ok()?;
            let h = v4.header();
            let p = v4.payload();
            if p.fragmented || p.ip_number != IpNumber::TCP || v4.extensions().auth.is_some() {
                return None;
            }
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.slice().as_ptr() as usize,
                usize::from(h.total_len()),
                p.payload,
            )
        }
        EtherType::IPV6 => {
            // Fixed header only: extension headers (and jumbograms, whose
            // payload length is 0) go the lax way.
            let h = etherparse::Ipv6HeaderSlice::from_slice(payload).ok()?;
            let len = usize::from(h.payload_length());
            if h.next_header() != IpNumber::TCP || len == 0 {
                return None;
            }
            let p = payload.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + len)?;
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                h.slice().as_ptr() as usize,
                IPV6_HEADER_LEN + len,
                p,
            )
        }
        _ => return None,
    };
    let tcp = TcpSlice::from_slice(ip_payload).ok()?;
    let tcp_offset = (tcp.header_slice().as_ptr() as usize).wrapping_sub(ip_start);
    let tcp_len = ip_len.saturating_sub(tcp_offset);
    Some(tcp_segment(src, dst, &tcp, tcp_len))
}

/// A TCP segment from the payload of a reassembled IP datagram.
pub fn reassembled(src: IpAddr, dst: IpAddr, tcp_bytes: &[u8]) -> Result<Segment<'_>, Skip> {
    let tcp = TcpSlice::from_slice(tcp_bytes).map_err(|_| Skip::Malformed)?;
    Ok(tcp_segment(src, dst, &tcp, tcp_bytes.len()))
}

/// A [`Segment`] from a sliced TCP header whose payload is `payload_len`
/// bytes (per the IP header) past the start of the TCP header... see the
/// callers: `tcp_len` is the TCP header plus payload length.
fn tcp_segment<'a>(src: IpAddr, dst: IpAddr, tcp: &TcpSlice<'a>, tcp_len: usize) -> Segment<'a> {
    let payload = tcp.payload();
    let header_len = tcp.header_slice().len();
    let payload_len = tcp_len.saturating_sub(header_len).max(payload.len());
    let flags = TcpFlags(
        tcp.header_slice()
            .get(TCP_FLAGS_OFFSET)
            .copied()
            .unwrap_or(0),
    );
    let wscale = if flags.syn() {
        tcp.options_iterator().find_map(|o| match o {
            Ok(etherparse::TcpOptionElement::WindowScale(s)) => Some(s),
            _ => None,
        })
    } else {
        None
    };
    Segment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags,
        window: tcp.window_size(),
        payload,
        payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
        wscale,
    }
}

/// A BSD/Linux address family (NULL, LOOP, NFLOG headers) as the
/// ethertype of the IP packet that follows.
fn family_ether_type(family: u32) -> Result<EtherType, Skip> {
    match family {
        AF_INET => Ok(EtherType::IPV4),
        f if AF_INET6.contains(&f) => Ok(EtherType::IPV6),
        f => Err(Skip::NotIpFamily(f)),
    }
}

/// 802.1Q, 802.1ad (QinQ) and the old QinQ ethertypes: a 4-byte tag whose
/// last two bytes are the ethertype of what follows.
const ETHERTYPE_VLAN: [u16; 4] = [0x8100, 0x88a8, 0x9100, 0x9200];
const VLAN_TAG_LEN: usize = 4;

/// MPLS unicast and multicast label stacks.
const ETHERTYPE_MPLS: [u16; 2] = [0x8847, 0x8848];
const MPLS_LABEL_LEN: usize = 4;
/// The bottom-of-stack bit, in the third byte of a label entry.
const MPLS_BOTTOM_OF_STACK: u8 = 0x01;
/// Most labels we walk before calling the stack malformed.
const MPLS_MAX_LABELS: usize = 16;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// PPPoE session header (version/type, code, session id, length).
const PPPOE_HEADER_LEN: usize = 6;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;

/// IP carried inside a link-layer encapsulation that etherparse leaves
/// unparsed (MPLS, PPPoE sessions). `Ok(None)`: not one of those.
fn encapsulated(
    ether_type: EtherType,
    payload: &[u8],
) -> Result<Option<LaxSlicedPacket<'_>>, Skip> {
    if ETHERTYPE_VLAN.contains(&ether_type.0) {
        // etherparse reads two tags; deeper stacks are walked here, to any
        // depth the frame holds.
        let mut t = ether_type.0;
        let mut rest = payload;
        while ETHERTYPE_VLAN.contains(&t) {
            let (tag, after) = rest.split_at_checked(VLAN_TAG_LEN).ok_or(Skip::Truncated)?;
            t = tag
                .get(2..4)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(u16::from_be_bytes)
                .ok_or(Skip::Truncated)?;
            rest = after;
        }
        let inner = EtherType(t);
        return Ok(Some(match encapsulated(inner, rest)? {
            Some(p) => p,
            None => LaxSlicedPacket::from_ether_type(inner, rest),
        }));
    }
    if ETHERTYPE_MPLS.contains(&ether_type.0) {
        let mut rest = payload;
        for _ in 0..MPLS_MAX_LABELS {
            let (label, after) = rest
                .split_at_checked(MPLS_LABEL_LEN)
                .ok_or(Skip::Truncated)?;
            rest = after;
            if label.get(2).is_some_and(|b| b & MPLS_BOTTOM_OF_STACK != 0) {
                // No ethertype after MPLS: the version nibble tells IPv4/6.
                return match rest.first().map(|b| b >> 4) {
                    Some(4) | Some(6) => Ok(Some(LaxSlicedPacket::from_ether_type(
                        EtherType::IPV4,
                        rest,
                    ))),
                    Some(_) => Err(Skip::NotIp(ether_type.0)),
                    None => Err(Skip::Truncated),
                };
            }
        }
        return Err(Skip::Malformed);
    }
    if ether_type.0 == ETHERTYPE_PPPOE_SESSION {
        let rest = payload.get(PPPOE_HEADER_LEN..).ok_or(Skip::Truncated)?;
        let proto = rest
            .get(..2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_be_bytes)
            .ok_or(Skip::Truncated)?;
        let ip = rest.get(2..).unwrap_or_default();
        return match proto {
            PPP_IPV4 => Ok(Some(LaxSlicedPacket::from_ether_type(EtherType::IPV4, ip))),
            PPP_IPV6 => Ok(Some(LaxSlicedPacket::from_ether_type(EtherType::IPV6, ip))),
            _ => Err(Skip::NotIp(ether_type.0)),
        };
    }
    Ok(None)
}

/// NFLOG header: address family, version, resource id.
const NFLOG_HEADER_LEN: usize = 4;
const NFLOG_TLV_HEADER_LEN: usize = 4;
/// NFULA_PAYLOAD: the packet, from its IP header.
const NFULA_PAYLOAD: u16 = 9;

/// Linux NFLOG: a header then type-length-value attributes (lengths and
/// types in the capturing host's byte order, each padded to 4 bytes); the
/// packet is the payload attribute.
fn nflog(data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let mut rest = data.get(NFLOG_HEADER_LEN..).ok_or(Skip::Truncated)?;
    let family = data.first().copied().ok_or(Skip::Truncated)?;
    let ether_type = family_ether_type(u32::from(family))?;
    while rest.len() >= NFLOG_TLV_HEADER_LEN {
        let le = |i: usize| u16::from_le_bytes([rest[i], rest[i + 1]]);
        let be = |i: usize| u16::from_be_bytes([rest[i], rest[i + 1]]);
        // Host order is unknown: the reading that fits the data is right.
        let (len, kind) =
            if usize::from(le(0)) >= NFLOG_TLV_HEADER_LEN && usize::from(le(0)) <= rest.len() {
                (usize::from(le(0)), le(2))
            } else {
                (usize::from(be(0)), be(2))
            };
        if len < NFLOG_TLV_HEADER_LEN || len > rest.len() {
            return Err(Skip::Truncated);
        }
        if kind == NFULA_PAYLOAD {
            let payload = rest.get(NFLOG_TLV_HEADER_LEN..len).unwrap_or_default();
            return Ok(LaxSlicedPacket::from_ether_type(ether_type, payload));
        }
        let padded = len.div_ceil(4) * 4;
        rest = rest.get(padded.min(rest.len())..).unwrap_or_default();
    }
    Err(Skip::Truncated)
}

/// A Linux cooked capture header of `header_len` bytes whose protocol
/// (an ethertype, big-endian) is at `protocol_offset`.
fn cooked(
    data: &[u8],
    header_len: usize,
    protocol_offset: usize,
) -> Result<LaxSlicedPacket<'_>, Skip> {
    let (header, rest) = data.split_at_checked(header_len).ok_or(Skip::Truncated)?;
    let protocol = header
        .get(protocol_offset..protocol_offset + 2)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .ok_or(Skip::Truncated)?;
    Ok(LaxSlicedPacket::from_ether_type(
        EtherType(u16::from_be_bytes(protocol)),
        rest,
    ))
}

/// Length errors mean the capture cut a header; others, a bad header.
fn error_skip(err: &SliceError) -> Skip {
    match err {
        SliceError::Len(_) => Skip::Truncated,
        _ => Skip::Malformed,
    }
}

/// The reason for a packet of this IP protocol that is not decodable TCP.
fn proto_skip(proto: IpNumber) -> Skip {
    match proto {
        IpNumber::UDP => Skip::Udp,
        IpNumber::ICMP | IpNumber::IPV6_ICMP => Skip::Icmp,
        IpNumber::TCP => Skip::Malformed,
        IpNumber(n) => Skip::OtherIpProto(n),
    }
}

/// The innermost ethertype of a packet that has no IP layer.
fn ether_type(p: &LaxSlicedPacket<'_>) -> Option<EtherType> {
    if let Some(payload) = p.ether_payload() {
        return Some(payload.ether_type);
    }
    match &p.link {
        Some(LinkSlice::Ethernet2(e)) => Some(e.ether_type()),
        Some(LinkSlice::EtherPayload(e)) => Some(e.ether_type),
        _ => None,
    }
}

/// The TCP segment in a sliced packet, or why there is none.
fn segment<'a>(p: &LaxSlicedPacket<'a>) -> Result<Decoded<'a>, Skip> {
    let net = match &p.net {
        Some(LaxNetSlice::Arp(_)) => return Err(Skip::Arp),
        Some(net) => net,
        None => {
            let ether_type = ether_type(p);
            if ether_type == Some(EtherType::ARP) {
                return Err(Skip::Arp);
            }
            if let Some((err, _)) = &p.stop_err {
                return Err(error_skip(err));
            }
            return Err(match ether_type {
                Some(t) => Skip::NotIp(t.0),
                None => Skip::Malformed,
            });
        }
    };

    // Addresses, the IP payload, where the IP packet starts and (per its
    // header) ends, and the fragment this is (id, offset, more), if one.
    let (src, dst, ip_payload, ip_start, ip_len, frag) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let frag = (h.fragments_offset().value() != 0 || h.more_fragments()).then(|| {
                (
                    u32::from(h.identification()),
                    u32::from(h.fragments_offset().byte_offset()),
                    h.more_fragments(),
                )
            });
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
                h.slice().as_ptr() as usize,
                usize::from(h.total_len()),
                frag,
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let exts = v6.extensions();
            let frag = if v6.payload().fragmented {
                ipv6_fragment(exts.first_header(), exts.slice())
            } else {
                None
            };
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
                h.slice().as_ptr() as usize,
                IPV6_HEADER_LEN + usize::from(h.payload_length()),
                frag,
            )
        }
        LaxNetSlice::Arp(_) => return Err(Skip::Arp),
    };

    if ip_payload.fragmented || frag.is_some() {
        if ip_payload.ip_number != IpNumber::TCP {
            return Err(proto_skip(ip_payload.ip_number));
        }
        let Some((id, offset, more)) = frag else {
            return Err(Skip::IpFragment);
        };
        let payload = ip_payload.payload;
        let off = (payload.as_ptr() as usize).wrapping_sub(ip_start);
        let payload_len = ip_len.saturating_sub(off).max(payload.len());
        return Ok(Decoded::Fragment(Fragment {
            src,
            dst,
            id,
            offset,
            more,
            payload,
            payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
        }));
    }
    let tcp = match (&p.transport, &p.stop_err) {
        (Some(TransportSlice::Tcp(tcp)), _) => tcp.clone(),
        (_, Some((err, layer))) if is_ip_layer(*layer) || *layer == Layer::TcpHeader => {
            return Err(error_skip(err));
        }
        _ => return Err(proto_skip(ip_payload.ip_number)),
    };
    // Bytes from the IP header to the TCP header, then what the IP header
    // says is left. When the header's length is unusable (0 with TCP
    // segmentation offload, or jumbograms) the captured length stands.
    let tcp_offset = (tcp.header_slice().as_ptr() as usize).wrapping_sub(ip_start);
    let tcp_len = ip_len.saturating_sub(tcp_offset);
    Ok(Decoded::Segment(tcp_segment(src, dst, &tcp, tcp_len)))
}

/// The fragment header among IPv6 extension headers (`exts`, the first of
/// type `first`): identification, byte offset, more-fragments.
///
/// Walked here with checked indexing: etherparse 0.21's
/// `Ipv6ExtensionSliceIter` reads out of bounds (undefined behaviour) on a
/// lax-parsed chain that stopped at a cut or bad header.
fn ipv6_fragment(first: Option<IpNumber>, exts: &[u8]) -> Option<(u32, u32, bool)> {
    let mut next = first?;
    let mut rest = exts;
    loop {
        let (&following, &len_field) = (rest.first()?, rest.get(1)?);
        let len = match next {
            IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS => (usize::from(len_field) + 1) * 8,
            IpNumber::AUTHENTICATION_HEADER => (usize::from(len_field) + 2) * 4,
            IpNumber::IPV6_FRAGMENTATION_HEADER => {
                // Next header (1), reserved (1), offset (13 bits) + 2
                // reserved bits + M (1 bit), identification (4).
                let &[hi, lo] = rest.get(2..4)? else {
                    return None;
                };
                let id = rest.get(4..8)?;
                let id = u32::from_be_bytes([*id.first()?, *id.get(1)?, *id.get(2)?, *id.get(3)?]);
                let word = u16::from_be_bytes([hi, lo]);
                return Some((id, u32::from(word >> 3) * 8, word & 1 != 0));
            }
            _ => return None,
        };
        rest = rest.get(len..)?;
        next = IpNumber(following);
    }
}

/// Offset of the flags byte (CWR ... FIN) in the TCP header.
const TCP_FLAGS_OFFSET: usize = 13;

/// Layers from the IP header to the transport header.
fn is_ip_layer(layer: Layer) -> bool {
    matches!(
        layer,
        Layer::IpHeader
            | Layer::Ipv4Header
            | Layer::Ipv4Packet
            | Layer::IpAuthHeader
            | Layer::Ipv6Header
            | Layer::Ipv6Packet
            | Layer::Ipv6ExtHeader
            | Layer::Ipv6HopByHopHeader
            | Layer::Ipv6DestOptionsHeader
            | Layer::Ipv6RouteHeader
            | Layer::Ipv6FragHeader
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The segment of a frame that is not a fragment.
    fn decode(lt: u32, data: &[u8]) -> Result<Segment<'_>, Skip> {
        match super::decode(lt, data)? {
            Decoded::Segment(s) => Ok(s),
            Decoded::Fragment(_) => Err(Skip::IpFragment),
        }
    }

    const SRC4: [u8; 4] = [10, 0, 0, 1];
    const DST4: [u8; 4] = [10, 0, 0, 2];
    const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    /// A 20-byte TCP header (plus `opts`, a multiple of 4) and payload.
    fn tcp(flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(51000u16.to_be_bytes());
        v.extend(80u16.to_be_bytes());
        v.extend(1000u32.to_be_bytes());
        v.extend(2000u32.to_be_bytes());
        v.push(((20 + opts.len()) as u8 / 4) << 4);
        v.push(flags);
        v.extend(65000u16.to_be_bytes());
        v.extend([0, 0, 0, 0]); // checksum, urgent pointer
        v.extend(opts);
        v.extend(payload);
        v
    }

    /// An IPv4 packet; `frag` is the flags/fragment-offset field.
    fn ipv4(proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x45, 0];
        v.extend((20 + payload.len() as u16).to_be_bytes());
        v.extend([0x12, 0x34]);
        v.extend(frag.to_be_bytes());
        v.extend([64, proto, 0, 0]);
        v.extend(SRC4);
        v.extend(DST4);
        v.extend(payload);
        v
    }

    fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend((payload.len() as u16).to_be_bytes());
        v.extend([next, 64]);
        v.extend(SRC6);
        v.extend(DST6);
        v.extend(payload);
        v
    }

    fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        v.extend(ether_type.to_be_bytes());
        v.extend(payload);
        v
    }

    /// A VLAN tag's TCI (id 5) and the type that follows it.
    fn vlan(inner_type: u16) -> Vec<u8> {
        let mut v = vec![0, 5];
        v.extend(inner_type.to_be_bytes());
        v
    }

    fn tcp4() -> Vec<u8> {
        ipv4(6, 0, &tcp(0x18, &[], b"GET / HTTP/1.1\r\n"))
    }

    fn tcp6() -> Vec<u8> {
        ipv6(6, &tcp(0x18, &[], b"GET / HTTP/1.1\r\n"))
    }

    fn check4(seg: Segment<'_>) {
        assert_eq!(seg.src, "10.0.0.1:51000".parse().unwrap());
        assert_eq!(seg.dst, "10.0.0.2:80".parse().unwrap());
        assert_eq!((seg.seq, seg.ack, seg.window), (1000, 2000, 65000));
        assert!(seg.flags.psh() && seg.flags.ack() && !seg.flags.syn());
        assert_eq!(seg.payload, b"GET / HTTP/1.1\r\n");
        assert_eq!(seg.payload_len, 16);
    }

    fn check6(seg: Segment<'_>) {
        assert_eq!(seg.src, "[2001:db8::1]:51000".parse().unwrap());
        assert_eq!(seg.dst, "[2001:db8::2]:80".parse().unwrap());
        assert_eq!(seg.payload, b"GET / HTTP/1.1\r\n");
        assert_eq!(seg.payload_len, 16);
    }

    /// The fast path gives what the lax path gives, on every Ethernet frame
    /// of every recorded fixture (and of the broken and third-party ones),
    /// and declines what it does not handle.
    #[test]
    fn fast_path_agrees_with_lax_on_fixtures() {
        use crate::capture::{CaptureReader, Input};
        let mut files = Vec::new();
        for dir in [
            "fixtures/captures",
            "fixtures/broken",
            "fixtures/thirdparty",
            "fixtures/variants",
        ] {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in rd.flatten() {
                files.push(e.path());
            }
        }
        files.sort();
        let (mut fast, mut lax) = (0u64, 0u64);
        for f in files {
            let Ok(mut r) = CaptureReader::open(&Input::Path(f.clone())) else {
                continue;
            };
            while let Ok(Some(frame)) = r.next_frame() {
                if frame.linktype != linktype::ETHERNET {
                    continue;
                }
                match fast_ethernet(frame.data) {
                    Some(seg) => {
                        fast += 1;
                        let want = match decode_lax(frame.linktype, frame.data) {
                            Ok(Decoded::Segment(s)) => format!("{s:?}"),
                            other => format!("{other:?}"),
                        };
                        assert_eq!(
                            format!("{seg:?}"),
                            want,
                            "{} frame {}",
                            f.display(),
                            frame.index
                        );
                    }
                    None => lax += 1,
                }
            }
        }
        // Most recorded frames take the fast path; some (VLAN, fragments,
        // snap-length cuts, IPv6 extension headers, non-TCP) do not.
        assert!(fast > 1_000, "fast {fast}");
        assert!(lax > 0, "lax {lax}");
    }

    /// Frames the fast path must leave to the lax one, hand-built: each
    /// decodes the same through [`decode`] as through the lax path alone.
    #[test]
    fn fast_path_declines_the_unusual() {
        let cut = {
            let mut f = eth(0x0800, &tcp4());
            f.truncate(f.len() - 3);
            f
        };
        let frag = eth(0x0800, &ipv4(6, 0x2000, &tcp(0x10, &[], b"ab")));
        let udp = eth(0x0800, &ipv4(17, 0, &[0; 8]));
        let hop = eth(0x86dd, &ipv6(0, &[6, 0, 1, 4, 0, 0, 0, 0]));
        let bad_tcp = {
            let mut t = tcp(0x10, &[], b"");
            t[12] = 0x40; // data offset 4 words: less than the header
            eth(0x0800, &ipv4(6, 0, &t))
        };
        let short = vec![0u8; 10];
        for f in [&cut, &frag, &udp, &hop, &bad_tcp, &short] {
            assert!(fast_ethernet(f).is_none());
            assert_eq!(
                format!("{:?}", super::decode(linktype::ETHERNET, f)),
                format!("{:?}", decode_lax(linktype::ETHERNET, f))
            );
        }
        assert!(fast_ethernet(&eth(0x0800, &tcp4())).is_some());
        assert!(fast_ethernet(&eth(0x86dd, &tcp6())).is_some());
    }

    #[test]
    fn ethernet_v4_v6() {
        check4(decode(linktype::ETHERNET, &eth(0x0800, &tcp4())).unwrap());
        check6(decode(linktype::ETHERNET, &eth(0x86dd, &tcp6())).unwrap());
    }

    #[test]
    fn ethernet_padding_is_trimmed() {
        let p = ipv4(6, 0, &tcp(0x10, &[], b"ab"));
        let mut frame = eth(0x0800, &p);
        frame.resize(60, 0xee);
        let seg = decode(linktype::ETHERNET, &frame).unwrap();
        assert_eq!(seg.payload, b"ab");
        assert_eq!(seg.payload_len, 2);
        // A bare ACK padded to 60 bytes has no payload.
        let mut frame = eth(0x0800, &ipv4(6, 0, &tcp(0x10, &[], b"")));
        frame.resize(60, 0xee);
        let seg = decode(linktype::ETHERNET, &frame).unwrap();
        assert!(seg.payload.is_empty());
        assert_eq!(seg.payload_len, 0);
    }

    #[test]
    fn vlan_and_qinq() {
        let mut one = vlan(0x0800);
        one.extend(tcp4());
        check4(decode(linktype::ETHERNET, &eth(0x8100, &one)).unwrap());
        let mut two = vlan(0x8100);
        two.extend(vlan(0x86dd));
        two.extend(tcp6());
        check6(decode(linktype::ETHERNET, &eth(0x88a8, &two)).unwrap());
        let mut three = vlan(0x8100);
        three.extend(&two);
        check6(decode(linktype::ETHERNET, &eth(0x9100, &three)).unwrap());
        // A tag cut off.
        assert_eq!(
            decode(linktype::ETHERNET, &eth(0x8100, &[0, 5])).unwrap_err(),
            Skip::Truncated
        );
    }

    #[test]
    fn null_both_byte_orders_and_loop() {
        for family in [2u32, 10, 24, 28, 30] {
            let p = if family == 2 { tcp4() } else { tcp6() };
            for bytes in [family.to_le_bytes(), family.to_be_bytes()] {
                let mut f = bytes.to_vec();
                f.extend(&p);
                let seg = decode(linktype::NULL, &f).unwrap();
                assert_eq!(seg.payload, b"GET / HTTP/1.1\r\n");
            }
            let mut f = family.to_be_bytes().to_vec();
            f.extend(&p);
            assert!(decode(linktype::LOOP, &f).is_ok());
            // LOOP is always network byte order.
            let mut f = family.to_le_bytes().to_vec();
            f.extend(&p);
            assert!(matches!(
                decode(linktype::LOOP, &f),
                Err(Skip::NotIpFamily(_))
            ));
        }
        let mut f = 7u32.to_le_bytes().to_vec();
        f.extend(tcp4());
        let skip = decode(linktype::NULL, &f).unwrap_err();
        assert_eq!(skip, Skip::NotIpFamily(7));
        assert_eq!(skip.kind(), "non_ip_address_family_7");
        assert_eq!(
            decode(linktype::NULL, &[2, 0]).unwrap_err(),
            Skip::Truncated
        );
    }

    #[test]
    fn raw_ip_link_types() {
        for lt in [linktype::RAW, 12, 14, linktype::IPV4, linktype::IPV6] {
            check4(decode(lt, &tcp4()).unwrap());
            check6(decode(lt, &tcp6()).unwrap());
        }
        let mut bad = tcp4();
        bad[0] = 0x55; // version 5
        assert_eq!(decode(linktype::RAW, &bad).unwrap_err(), Skip::Malformed);
        assert_eq!(decode(linktype::RAW, &[]).unwrap_err(), Skip::Truncated);
    }

    #[test]
    fn linux_cooked_v1_v2() {
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        sll.extend(0x0800u16.to_be_bytes());
        assert_eq!(sll.len(), SLL_HEADER_LEN);
        let mut f = sll.clone();
        f.extend(tcp4());
        check4(decode(linktype::LINUX_SLL, &f).unwrap());
        let mut f = sll[..14].to_vec();
        f.extend(0x0806u16.to_be_bytes());
        f.extend([0u8; 28]);
        assert_eq!(decode(linktype::LINUX_SLL, &f).unwrap_err(), Skip::Arp);
        assert_eq!(
            decode(linktype::LINUX_SLL, &sll[..10]).unwrap_err(),
            Skip::Truncated
        );
        // Protocol 0x0004: 802.2 LLC in Linux terms.
        let mut f = sll[..14].to_vec();
        f.extend([0, 4, 0xaa, 0xaa]);
        let skip = decode(linktype::LINUX_SLL, &f).unwrap_err();
        assert_eq!((skip, skip.kind().as_ref()), (Skip::NotIp(4), "non_ip_llc"));

        let mut sll2 = 0x86ddu16.to_be_bytes().to_vec();
        sll2.extend([0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(sll2.len(), SLL2_HEADER_LEN);
        let mut f = sll2.clone();
        f.extend(tcp6());
        check6(decode(linktype::LINUX_SLL2, &f).unwrap());
        assert_eq!(
            decode(linktype::LINUX_SLL2, &sll2[..19]).unwrap_err(),
            Skip::Truncated
        );
    }

    #[test]
    fn ipv6_extension_headers() {
        // Hop-by-hop (8 bytes: next = dest opts), destination options (8
        // bytes: next = TCP), then TCP.
        let mut p = vec![60, 0, 1, 4, 0, 0, 0, 0];
        p.extend([6, 0, 1, 4, 0, 0, 0, 0]);
        p.extend(tcp(0x18, &[], b"GET / HTTP/1.1\r\n"));
        check6(decode(linktype::RAW, &ipv6(0, &p)).unwrap());
        // Cut inside the second extension header.
        let full = ipv6(0, &p);
        assert_eq!(
            decode(linktype::RAW, &full[..40 + 12]).unwrap_err(),
            Skip::Truncated
        );
    }

    #[test]
    fn snaplen_cut_payload_keeps_declared_length() {
        let body = vec![b'x'; 1000];
        let full = eth(
            0x0800,
            &ipv4(
                6,
                0,
                &tcp(0x10, &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], &body),
            ),
        );
        let cut = &full[..96];
        let seg = decode(linktype::ETHERNET, cut).unwrap();
        assert_eq!(seg.payload.len(), 96 - 14 - 20 - 32);
        assert_eq!(seg.payload_len, 1000);
        let full6 = ipv6(6, &tcp(0x10, &[], &body));
        let seg = decode(linktype::RAW, &full6[..100]).unwrap();
        assert_eq!((seg.payload.len(), seg.payload_len), (40, 1000));
        // Cut inside the TCP header (including its options).
        assert_eq!(
            decode(linktype::ETHERNET, &full[..14 + 20 + 25]).unwrap_err(),
            Skip::Truncated
        );
        assert_eq!(
            decode(linktype::ETHERNET, &full[..14 + 10]).unwrap_err(),
            Skip::Truncated
        );
        assert_eq!(
            decode(linktype::ETHERNET, &full[..10]).unwrap_err(),
            Skip::Truncated
        );
    }

    #[test]
    fn tso_zero_total_length_uses_captured_length() {
        let mut p = ipv4(6, 0, &tcp(0x10, &[], &[b'y'; 3000]));
        p[2] = 0;
        p[3] = 0;
        let seg = decode(linktype::RAW, &p).unwrap();
        assert_eq!((seg.payload.len(), seg.payload_len), (3000, 3000));
    }

    #[test]
    fn malformed_tcp_header() {
        let mut t = tcp(0x10, &[], b"");
        t[12] = 0x40; // data offset 4 words
        assert_eq!(
            decode(linktype::RAW, &ipv4(6, 0, &t)).unwrap_err(),
            Skip::Malformed
        );
    }

    #[test]
    fn other_protocols() {
        let arp = eth(
            0x0806,
            &[
                0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0,
                2,
            ],
        );
        assert_eq!(decode(linktype::ETHERNET, &arp).unwrap_err(), Skip::Arp);
        assert_eq!(
            decode(linktype::ETHERNET, &arp[..20]).unwrap_err(),
            Skip::Arp
        );
        let lldp = decode(linktype::ETHERNET, &eth(0x88cc, &[0; 40])).unwrap_err();
        assert_eq!(
            (lldp, lldp.kind().as_ref()),
            (Skip::NotIp(0x88cc), "non_ip_ethertype_0x88cc")
        );
        let ipx = decode(linktype::ETHERNET, &eth(0x8137, &[0; 40])).unwrap_err();
        assert_eq!(ipx.kind(), "non_ip_ethertype_0x8137");
        let llc = decode(linktype::ETHERNET, &eth(0x0026, &[0x42; 38])).unwrap_err();
        assert_eq!(llc.kind(), "non_ip_llc");

        let udp = [0x30, 0x39, 0, 53, 0, 8, 0, 0];
        assert_eq!(
            decode(linktype::RAW, &ipv4(17, 0, &udp)).unwrap_err(),
            Skip::Udp
        );
        assert_eq!(
            decode(linktype::RAW, &ipv6(17, &udp)).unwrap_err(),
            Skip::Udp
        );
        assert_eq!(
            decode(linktype::RAW, &ipv4(17, 0, &udp[..3])).unwrap_err(),
            Skip::Udp
        );
        let icmp = [8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(
            decode(linktype::RAW, &ipv4(1, 0, &icmp)).unwrap_err(),
            Skip::Icmp
        );
        assert_eq!(
            decode(linktype::RAW, &ipv6(58, &icmp)).unwrap_err(),
            Skip::Icmp
        );
        let gre = decode(linktype::RAW, &ipv4(47, 0, &[0; 8])).unwrap_err();
        assert_eq!(
            (gre, gre.kind().as_ref()),
            (Skip::OtherIpProto(47), "ip_proto_47")
        );
        assert_eq!(
            decode(105, &[0; 40]).unwrap_err().kind(),
            "unsupported_linktype_105"
        );
    }

    fn fragment(lt: u32, data: &[u8]) -> Fragment<'_> {
        match super::decode(lt, data) {
            Ok(Decoded::Fragment(f)) => f,
            other => panic!("not a fragment: {other:?}"),
        }
    }

    #[test]
    fn fragments() {
        const MF: u16 = 0x2000;
        let t = tcp(0x18, &[], b"GET / HTTP/1.1\r\n");
        // First fragment (whole TCP header or not): handed out for reassembly.
        let p = ipv4(6, MF, &t[..24]);
        let f = fragment(linktype::RAW, &p);
        assert_eq!(
            (f.offset, f.more, f.payload, f.payload_len),
            (0, true, &t[..24], 24)
        );
        let p = ipv4(6, MF, &t[..16]);
        let f = fragment(linktype::RAW, &p);
        assert_eq!((f.offset, f.more, f.payload.len()), (0, true, 16));
        // Later fragments (offset 3 * 8 bytes), last or not.
        let p = ipv4(6, 3, &t[24..]);
        let f = fragment(linktype::RAW, &p);
        assert_eq!((f.offset, f.more), (24, false));
        let p = ipv4(6, MF | 3, &t[24..]);
        let f = fragment(linktype::RAW, &p);
        assert_eq!((f.offset, f.more), (24, true));
        // Fragments of other protocols count as those.
        assert_eq!(
            super::decode(linktype::RAW, &ipv4(17, 3, &[0; 16])).unwrap_err(),
            Skip::Udp
        );
        // IPv6 fragment header: next TCP, offset 3 (in 8-byte units), M = 0,
        // identification 1.
        let mut p = vec![6, 0, 0, 3 << 3, 0, 0, 0, 1];
        p.extend(&t[24..]);
        let pkt = ipv6(44, &p);
        let f = fragment(linktype::RAW, &pkt);
        assert_eq!(
            (f.id, f.offset, f.more, f.payload),
            (1, 24, false, &t[24..])
        );
        // First IPv6 fragment (offset 0, M = 1).
        let mut p = vec![6, 0, 0, 1, 0, 0, 0, 7];
        p.extend(&t[..24]);
        let pkt = ipv6(44, &p);
        let f = fragment(linktype::RAW, &pkt);
        assert_eq!((f.id, f.offset, f.more, f.payload), (7, 0, true, &t[..24]));
        // Put back together, the datagram is the segment.
        let seg =
            reassembled("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), &t).unwrap();
        assert_eq!(seg.payload, b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn deep_vlan_stacks() {
        let mut inner = Vec::new();
        for _ in 0..5 {
            inner.extend([0x00, 0x01, 0x81, 0x00]);
        }
        inner.extend([0x00, 0x01, 0x08, 0x00]);
        inner.extend(tcp4());
        check4(decode(linktype::ETHERNET, &eth(0x8100, &inner)).unwrap());
        // A stack cut inside a tag.
        assert_eq!(
            super::decode(linktype::ETHERNET, &eth(0x8100, &inner[..6])).unwrap_err(),
            Skip::Truncated
        );
    }

    #[test]
    fn kinds_are_stable() {
        let cases = [
            (Skip::Arp, "arp"),
            (Skip::Udp, "udp"),
            (Skip::Icmp, "icmp"),
            (Skip::OtherIpProto(2), "ip_proto_2"),
            (Skip::IpFragment, "ip_fragment"),
            (Skip::Truncated, "truncated"),
            (Skip::Malformed, "malformed"),
            (Skip::NotIp(0x888e), "non_ip_ethertype_0x888e"),
            (Skip::NotIp(0x9000), "non_ip_ethertype_0x9000"),
            (Skip::UnsupportedLinkType(127), "unsupported_linktype_127"),
        ];
        for (skip, kind) in cases {
            assert_eq!(skip.kind(), kind);
        }
        assert!(matches!(Skip::Arp.kind(), Cow::Borrowed(_)));
    }

    const LINKTYPES: [u32; 12] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105, 9999];

    proptest! {
        #[test]
        fn decode_never_panics(lt in proptest::sample::select(&LINKTYPES[..]),
                               data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(seg) = decode(lt, &data) {
                prop_assert!(seg.payload_len as usize >= seg.payload.len());
            }
        }

        #[test]
        fn decode_never_panics_on_mutated_frames(
            which in 0usize..4,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>(),
        ) {
            let mut tagged = vlan(0x86dd);
            tagged.extend(tcp6());
            let (lt, mut f) = match which {
                0 => (linktype::ETHERNET, eth(0x0800, &tcp4())),
                1 => (linktype::ETHERNET, eth(0x8100, &tagged)),
                2 => (linktype::RAW, ipv6(0, &[6, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
                _ => (linktype::RAW, ipv4(6, 0x2000, &tcp(2, &[], b"x"))),
            };
            for (at, v) in flips {
                let n = f.len();
                f[at % n] = v;
            }
            f.truncate(cut % (f.len() + 1));
            if let Ok(seg) = decode(lt, &f) {
                prop_assert!(seg.payload_len as usize >= seg.payload.len());
            }
        }
    }
}
