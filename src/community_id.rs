//! Community ID v1 flow hashing (<https://github.com/corelight/community-id-spec>),
//! the flow identifier Zeek, Suricata, Wireshark and Elastic log beside their
//! own: the same five-tuple gives the same string in every tool, whichever
//! direction it is written in.
//!
//! `"1:" + base64(sha1(seed . saddr . daddr . proto . 0 . sport . dport))`,
//! every field in network byte order, the endpoints ordered so that the
//! smaller `(address, port)` comes first. Only port-carrying protocols
//! (TCP, UDP, SCTP) are covered: ICMP's type/code mapping is not needed
//! here and not implemented.

use std::net::{IpAddr, SocketAddr};

use sha1::{Digest, Sha1};

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;

/// The Community ID v1 string of a flow between `a` and `b` (either
/// direction gives the same string) over IP protocol `proto`, with `seed`
/// (0 unless a site chose another). Mixed address families have no ID:
/// `None`.
pub fn v1(a: SocketAddr, b: SocketAddr, proto: u8, seed: u16) -> Option<String> {
    let key = |s: &SocketAddr| (ip_bytes(s.ip()), s.port());
    let (ka, kb) = (key(&a), key(&b));
    if ka.0.len() != kb.0.len() {
        return None;
    }
    let (lo, hi) = if ka <= kb { (ka, kb) } else { (kb, ka) };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(&lo.0);
    h.update(&hi.0);
    h.update([proto, 0]);
    h.update(lo.1.to_be_bytes());
    h.update(hi.1.to_be_bytes());
    let digest = h.finalize();
    let mut out = String::from("1:");
    base64(&digest, &mut out);
    Some(out)
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// Standard base64 (RFC 4648 section 4) with `=` padding.
fn base64(data: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |v: u32| char::from(ALPHABET[(v & 63) as usize]);
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), port)
    }

    /// Vectors from the spec's `baseline/baseline_deflt.json` (seed 0) and
    /// `baseline_seed1.json` / Zeek's community-id btest (seed 1): TCP,
    /// UDP and SCTP over IPv4 and IPv6, both directions.
    #[test]
    fn spec_baseline_vectors() {
        let cases: &[(u8, &str, u16, &str, u16, u16, &str)] = &[
            (
                6,
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                0,
                "1:wCb3OG7yAFWelaUydu0D+125CLM=",
            ),
            (
                17,
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                0,
                "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
            ),
            (
                6,
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                1,
                "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=",
            ),
            (
                17,
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                1,
                "1:OShq+iKDAMVouh/4bMxB9Sz4amw=",
            ),
            (
                6,
                "2001:470:e5bf:dead:4957:2174:e82c:4887",
                63943,
                "2607:f8b0:400c:c03::1a",
                25,
                0,
                "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
            ),
            (
                6,
                "128.232.110.120",
                34855,
                "66.35.250.204",
                80,
                0,
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            ),
            (
                17,
                "192.168.1.52",
                54585,
                "8.8.8.8",
                53,
                0,
                "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
            ),
            (
                132,
                "192.168.170.8",
                7,
                "192.168.170.56",
                7,
                0,
                "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
            ),
        ];
        for &(proto, s, sp, d, dp, seed, want) in cases {
            let fwd = v1(sa(s, sp), sa(d, dp), proto, seed);
            let rev = v1(sa(d, dp), sa(s, sp), proto, seed);
            assert_eq!(fwd.as_deref(), Some(want), "{s}:{sp} -> {d}:{dp}/{proto}");
            assert_eq!(rev.as_deref(), Some(want), "{d}:{dp} -> {s}:{sp}/{proto}");
        }
    }

    #[test]
    fn mixed_families_have_no_id() {
        assert_eq!(v1(sa("1.2.3.4", 1), sa("::1", 2), PROTO_TCP, 0), None);
    }

    #[test]
    fn base64_padding() {
        for (inp, want) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
        ] {
            let mut s = String::new();
            base64(inp, &mut s);
            assert_eq!(s, want);
        }
    }
}
