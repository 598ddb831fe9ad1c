//! Unit tests of the TLS engine: published vectors (the TLS 1.2 PRF
//! vectors of the IETF TLS WG list, RFC 8448's traced TLS 1.3 handshakes)
//! and hand-built hostile input (no real program sends it).

use std::sync::Arc;

use super::crypto::{self, AeadAlg, HashAlg, RecordKey};
use super::*;
use crate::tcp::StreamEvent;
use crate::types::{At, Dir, Role, Timestamp};

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

fn at(n: u64) -> At {
    At {
        frame: n,
        ts: Timestamp::from_nanos(1_000_000_000 + n * 1_000_000),
    }
}

// ---- TLS 1.2 PRF -------------------------------------------------------

#[test]
fn prf12_sha256_published_vector() {
    // IETF TLS WG mailing list, msg03416 (the vector every TLS stack uses).
    let mut out = [0u8; 100];
    crypto::prf12(
        HashAlg::Sha256,
        &hex("9bbe436ba940f017b17652849a71db35"),
        b"test label",
        &[&hex("a0ba9f936cda311827a6f796ffd5198c")],
        &mut out,
    );
    assert_eq!(
        out.to_vec(),
        hex(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a\
             6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab\
             4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
             87347b66"
        )
    );
}

#[test]
fn prf12_sha384_published_vector() {
    let mut out = [0u8; 148];
    crypto::prf12(
        HashAlg::Sha384,
        &hex("b80b733d6ceefcdc71566ea48e5567df"),
        b"test label",
        &[&hex("cd665cf6a8447dd6ff8b27555edb7465")],
        &mut out,
    );
    assert_eq!(
        out.to_vec(),
        hex(
            "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd\
             e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd\
             8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425\
             9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6\
             91c8f3a26854308d5eaa3be85e0990703d73e56f"
        )
    );
}

// ---- RFC 8448 section 3: simple 1-RTT handshake -----------------------------

mod rfc8448_1rtt {
    pub const CLIENT_RANDOM: &str =
        "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";
    pub const CH: &str = "010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001";
    pub const SH: &str = "020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304";
    pub const SERVER_FLIGHT: &str = "d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca07612ef9f945cb960b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13bd9aefb0e57f271585b8ea9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122a4cf51427325250c7d0e509289444c9b3a648f1d71035d2ed65b0e3cdd0cbae8bf2d0b227812cbb360987255cc744110c453baa4fcd610928d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead686945ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b3684596c960bd596eea520a56a8d650f563aad27409960dca63d3e688611ea5e22f4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad6d26f59ecaba9acbbb317b66d902f4f292a36ac1b639c637ce343117b659622245317b49eeda0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e1b7a6c7178af36879018e3f252107f243d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4c5e8280a2b48052cf93b16499a66db7cca71e4599426f7d461e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe5a37668936b335583b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb5630c8ca01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee340bbc4fddd502784016e4b3be7ef04dda49f4b440a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e750edc53370d2b";
    pub const CLIENT_FINISHED: &str = "75ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546";
    pub const SERVER_TICKET: &str = "3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf15985684f";
    pub const CLIENT_APP: &str = "a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4";
    pub const SERVER_APP: &str = "2e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d";
    pub const CLIENT_ALERT: &str = "c9872760655666b74d7ff1153efd6db6d0b0e3";
    pub const SERVER_ALERT: &str = "b58fd67166ebf599d24720cfbe7efa7a8864a9";
    pub const C_HS: &str = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21";
    pub const S_HS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
    pub const C_AP: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
    pub const S_AP: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";
}

/// A TLS record: header + body.
fn rec(ty: u8, ver: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ty];
    r.extend_from_slice(&ver.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// The RFC 8448 section 3 conversation as (direction, bytes) in order.
fn rfc8448_1rtt_flow() -> Vec<(Dir, Vec<u8>)> {
    use rfc8448_1rtt::*;
    let mut server_first = rec(22, 0x0303, &hex(SH));
    server_first.extend(rec(23, 0x0303, &hex(SERVER_FLIGHT)));
    vec![
        (Dir::ToServer, rec(22, 0x0301, &hex(CH))),
        (Dir::ToClient, server_first),
        (Dir::ToServer, rec(23, 0x0303, &hex(CLIENT_FINISHED))),
        (Dir::ToClient, rec(23, 0x0303, &hex(SERVER_TICKET))),
        (Dir::ToServer, rec(23, 0x0303, &hex(CLIENT_APP))),
        (Dir::ToClient, rec(23, 0x0303, &hex(SERVER_APP))),
        (Dir::ToServer, rec(23, 0x0303, &hex(CLIENT_ALERT))),
        (Dir::ToClient, rec(23, 0x0303, &hex(SERVER_ALERT))),
    ]
}

fn rfc8448_1rtt_keys() -> KeyLog {
    use rfc8448_1rtt::*;
    let text = format!(
        "# RFC 8448 section 3\r\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM} {C_HS}\r\n\
         SERVER_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM} {S_HS}\n\
         CLIENT_TRAFFIC_SECRET_0 {CLIENT_RANDOM} {C_AP}\n\
         SERVER_TRAFFIC_SECRET_0 {CLIENT_RANDOM} {S_AP}\n\
         EXPORTER_SECRET {CLIENT_RANDOM} {S_AP}\n"
    );
    KeyLog::parse(text.as_bytes(), "rfc8448.keys")
}

/// What a run delivered per direction.
#[derive(Default, Debug)]
struct Plain {
    data: [Vec<u8>; 2],
    gaps: [u64; 2],
    ends: [u32; 2],
}

/// Feeds a flow, each message cut into pieces of `chunk` bytes.
fn run(flow: &[(Dir, Vec<u8>)], keys: Option<KeyLog>, chunk: usize) -> (TlsSession, Plain) {
    let mut s = TlsSession::new(keys.map(Arc::new));
    let mut p = Plain::default();
    let mut sink = |d: Dir, ev: PlainEvent<'_>, _at: At| match ev {
        PlainEvent::Data(b) => p.data[d.index()].extend_from_slice(b),
        PlainEvent::Gap(n) => p.gaps[d.index()] += n,
        PlainEvent::End => p.ends[d.index()] += 1,
    };
    let mut frame = 0;
    for (dir, bytes) in flow {
        for piece in bytes.chunks(chunk.max(1)) {
            frame += 1;
            s.on_event(*dir, StreamEvent::Data(piece), at(frame), &mut sink);
        }
    }
    frame += 1;
    s.on_event(Dir::ToServer, StreamEvent::Fin, at(frame), &mut sink);
    s.on_event(Dir::ToClient, StreamEvent::Fin, at(frame), &mut sink);
    s.finish(at(frame), &mut sink);
    (s, p)
}

#[test]
fn rfc8448_traffic_keys() {
    use rfc8448_1rtt::*;
    // RFC 8448 section 3: "derive write traffic keys for handshake data".
    let mut k = [0u8; 16];
    let mut iv = [0u8; 12];
    assert!(crypto::hkdf_expand_label(
        HashAlg::Sha256,
        &hex(S_HS),
        b"key",
        b"",
        &mut k
    ));
    assert!(crypto::hkdf_expand_label(
        HashAlg::Sha256,
        &hex(S_HS),
        b"iv",
        b"",
        &mut iv
    ));
    assert_eq!(k.to_vec(), hex("3fce516009c21727d0f2e4e86ee403bc"));
    assert_eq!(iv.to_vec(), hex("5d313eb2671276ee13000b30"));
    assert!(crypto::hkdf_expand_label(
        HashAlg::Sha256,
        &hex(C_AP),
        b"key",
        b"",
        &mut k
    ));
    assert!(crypto::hkdf_expand_label(
        HashAlg::Sha256,
        &hex(C_AP),
        b"iv",
        b"",
        &mut iv
    ));
    assert_eq!(k.to_vec(), hex("17422dda596ed5d9acd890e3c63f5051"));
    assert_eq!(iv.to_vec(), hex("5b78923dee08579033e523d9"));
}

#[test]
fn rfc8448_1rtt_decrypts_every_record() {
    for chunk in [100_000, 1, 3, 7, 500] {
        let (s, p) = run(&rfc8448_1rtt_flow(), Some(rfc8448_1rtt_keys()), chunk);
        let f = s.facts();
        assert_eq!(f.version, Some("TLS 1.3"), "chunk {chunk}");
        assert_eq!(f.cipher, Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(f.sni.as_deref(), Some("server"));
        assert_eq!(f.handshake, "complete");
        assert_eq!(f.resumed, Some(false));
        assert!(f.decrypted);
        assert_eq!(f.decrypt_error, None);
        assert!(!f.alpn_hidden, "EncryptedExtensions was decrypted");
        assert_eq!(f.alpn, None, "RFC 8448 negotiates no ALPN");
        // The application data of both sides: 50 bytes 00..31 each.
        let expect: Vec<u8> = (0u8..50).collect();
        assert_eq!(p.data[0], expect);
        assert_eq!(p.data[1], expect);
        assert_eq!(p.ends, [1, 1]);
        // The NewSessionTicket is no application record and no turn.
        assert_eq!(f.records.client, 1);
        assert_eq!(f.records.server, 1);
        assert_eq!(f.turns, 1);
        let cn = f.close_notify.unwrap();
        assert_eq!((cn.by, cn.both, cn.estimated), (Role::Client, true, false));
        assert!(f.last_turn.unwrap().answered);
        assert!(s.anomalies().is_empty(), "{:?}", s.anomalies());
    }
}

#[test]
fn rfc8448_1rtt_without_keys_estimates_the_same_shape() {
    let (s, p) = run(&rfc8448_1rtt_flow(), None, 5);
    let f = s.facts();
    assert_eq!(f.version, Some("TLS 1.3"));
    assert_eq!(f.handshake, "complete");
    assert!(f.alpn_hidden);
    assert!(!f.decrypted);
    assert_eq!(f.decrypt_error, Some("no_keys"));
    assert!(p.data[0].is_empty() && p.data[1].is_empty());
    assert_eq!(p.ends, [0, 0], "nothing decrypted, nothing to end");
    assert_eq!(f.turns, 1);
    assert_eq!((f.records.client, f.records.server), (1, 1));
    assert_eq!((f.bytes.client, f.bytes.server), (67, 67));
    let cn = f.close_notify.unwrap();
    assert_eq!((cn.by, cn.both, cn.estimated), (Role::Client, true, true));
}

#[test]
fn rfc8448_wrong_keys_say_bad_keys() {
    use rfc8448_1rtt::*;
    let bad = "00".repeat(32);
    let text = format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM} {bad}\n\
         SERVER_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM} {bad}\n\
         CLIENT_TRAFFIC_SECRET_0 {CLIENT_RANDOM} {bad}\n\
         SERVER_TRAFFIC_SECRET_0 {CLIENT_RANDOM} {bad}\n"
    );
    let (s, p) = run(
        &rfc8448_1rtt_flow(),
        Some(KeyLog::parse(text.as_bytes(), "bad")),
        1000,
    );
    let f = s.facts();
    assert!(!f.decrypted);
    assert_eq!(f.decrypt_error, Some("bad_keys"));
    assert!(
        s.anomalies()
            .iter()
            .any(|a| a.kind.name() == "tls_decrypt_failed")
    );
    assert!(p.data[0].is_empty());
    // Still analysed as without keys.
    assert_eq!(f.handshake, "complete");
    assert_eq!(f.turns, 1);
}

#[test]
fn rfc8448_other_connections_keys_say_no_keys() {
    let other = format!(
        "CLIENT_TRAFFIC_SECRET_0 {} {}\n",
        "11".repeat(32),
        "22".repeat(32)
    );
    let (s, _) = run(
        &rfc8448_1rtt_flow(),
        Some(KeyLog::parse(other.as_bytes(), "other")),
        1000,
    );
    assert_eq!(s.facts().decrypt_error, Some("no_keys"));
}

// ---- RFC 8448 section 4: resumed 0-RTT handshake ------------------------

mod rfc8448_0rtt {
    pub const CLIENT_RANDOM: &str =
        "1bc3ceb6bbe39cff938355b5a50adb6db21b7a6af649d7b4bc419d7876487d95";
    pub const CH: &str = "010001fc03031bc3ceb6bbe39cff938355b5a50adb6db21b7a6af649d7b4bc419d7876487d95000006130113031302010001cd0000000b0009000006736572766572ff01000100000a00140012001d00170018001901000101010201030104003300260024001d0020e4ffb68ac05f8d96c99da26698346c6be16482badddafe051a66b4f18d668f0b002a0000002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c0002400100150057000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000002900dd00b800b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a34cb33fa90bf1b0070ad3c498883c9367c09a2be785abc55cd226097a3a982117283f82a03a143efd3ff5dd36d64e861be7fd61d2827db279cce145077d454a3664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529513e3da2677fa5906c5b3f7d8f92f228bda40dda721470f9fbf297b5aea617646fac5c03272e970727c621a79141ef5f7de6505e5bfbc388e93343694093934ae4d357fad6aacb0021203add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d";
    pub const EARLY: &str = "ab1df420e75c457a7cc5d2844f76d5aee4b4edbf049be0";
    pub const SH: &str = "0200005c03033ccfd2dec890222763472ae8136777c9d7358777bb66e91ea5122495f559ea2d00130100003400290002000000330024001d0020121761ee42c333e1b9e77b60dd57c2053cd94512ab47f115e86eff50942cea31002b00020304";
    pub const SERVER_FLIGHT: &str = "dc48237b4b879f50d0d4d262ea8b4716eb40ddc1eb957e11126e8a7149c2d012d37a7115957e64ce30008b9e0323f2c05a9c1c77b4f37849a695ab255060a33fee770ca95cb8486bfd0843b87024865ca35cc41c4e515c64dcb1369f98635bc7a5";
    pub const EOED: &str = "aca6fc944841298df99593725f9bf9754429b12f09";
    pub const CLIENT_FINISHED: &str = "00f8b467d14cf22a4b3f0b6ae0d8e6cc8d08e0db3515ef5c2bdf1922eafbb70009964716d834fb70c3d2a56c5b1f5f6bdba6c333cf";
    pub const CLIENT_APP: &str = "b1cebce242aa201be9ae5e1cb2a9aa4b33d4e866af1edb068919237741aa031d7a74d491c99b9d4e232b74206bc6fbaa04fe78be44a9b4f54320a17eb76992afac3103";
    pub const SERVER_APP: &str = "275e9f20acff57bc000657d3867df039cccf79047884cf75771746f740b5a83f462a0954c3581393a203a25a7dd14141ef1a37900cdb62ff62dee1ba39ab2590cbf194";
    pub const CLIENT_ALERT: &str = "0facce3246bdfc6369838d6a82ae6de5d422dc";
    pub const SERVER_ALERT: &str = "5b18af444e8e1eec7158fb62d8f2577d37ba5d";
    pub const C_EARLY: &str = "3fbbe6a60deb66c30a32795aba0eff7eaa10105586e7be5c09678d63b6caab62";
    pub const C_HS: &str = "2faac08f851d35fea3604fcb4de82dc62c9b164a70974d0462e27f1ab278700f";
    pub const S_HS: &str = "fe927ae271312e8bf0275b581c54eef020450dc4ecffaa05a1a35d27518e7803";
    pub const C_AP: &str = "2abbf2b8e381d23dbebe1dd2a7d16a8bf484cb4950d23fb7fb7fa8547062d9a1";
    pub const S_AP: &str = "cc21f1bf8feb7dd5fa505bd9c4b468a9984d554a993dc49e6d285598fb672691";
}

fn rfc8448_0rtt_flow() -> Vec<(Dir, Vec<u8>)> {
    use rfc8448_0rtt::*;
    let mut first = rec(22, 0x0301, &hex(CH));
    first.extend(rec(23, 0x0303, &hex(EARLY)));
    let mut server_first = rec(22, 0x0303, &hex(SH));
    server_first.extend(rec(23, 0x0303, &hex(SERVER_FLIGHT)));
    let mut client_second = rec(23, 0x0303, &hex(EOED));
    client_second.extend(rec(23, 0x0303, &hex(CLIENT_FINISHED)));
    vec![
        (Dir::ToServer, first),
        (Dir::ToClient, server_first),
        (Dir::ToServer, client_second),
        (Dir::ToServer, rec(23, 0x0303, &hex(CLIENT_APP))),
        (Dir::ToClient, rec(23, 0x0303, &hex(SERVER_APP))),
        (Dir::ToServer, rec(23, 0x0303, &hex(CLIENT_ALERT))),
        (Dir::ToClient, rec(23, 0x0303, &hex(SERVER_ALERT))),
    ]
}

fn rfc8448_0rtt_keys(with_early: bool) -> KeyLog {
    use rfc8448_0rtt::*;
    let mut text = format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM} {C_HS}\n\
         SERVER_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM} {S_HS}\n\
         CLIENT_TRAFFIC_SECRET_0 {CLIENT_RANDOM} {C_AP}\n\
         SERVER_TRAFFIC_SECRET_0 {CLIENT_RANDOM} {S_AP}\n"
    );
    if with_early {
        text.push_str(&format!(
            "CLIENT_EARLY_TRAFFIC_SECRET {CLIENT_RANDOM} {C_EARLY}\n"
        ));
    }
    KeyLog::parse(text.as_bytes(), "rfc8448-0rtt.keys")
}

#[test]
fn rfc8448_0rtt_decrypts_early_data_and_resumption() {
    for chunk in [100_000, 1, 13] {
        let (s, p) = run(&rfc8448_0rtt_flow(), Some(rfc8448_0rtt_keys(true)), chunk);
        let f = s.facts();
        assert_eq!(f.resumed, Some(true), "chunk {chunk}");
        assert_eq!(f.resumed_how, Some("psk"));
        assert!(f.early_data.offered);
        assert_eq!(f.early_data.accepted, Some(true));
        assert_eq!(f.early_data.records, 1);
        assert_eq!(f.handshake, "complete");
        assert!(f.decrypted);
        // 0-RTT "ABCDEF", then 50 bytes of application data.
        let mut expect = b"ABCDEF".to_vec();
        expect.extend(0u8..50);
        assert_eq!(p.data[0], expect);
        assert_eq!(p.data[1], (0u8..50).collect::<Vec<u8>>());
        // Early data and the request after it are one client run.
        assert_eq!(f.turns, 1);
        assert!(s.anomalies().is_empty(), "{:?}", s.anomalies());
    }
}

#[test]
fn rfc8448_0rtt_without_early_secret_skips_early_records() {
    let (s, p) = run(&rfc8448_0rtt_flow(), Some(rfc8448_0rtt_keys(false)), 1000);
    let f = s.facts();
    assert_eq!(f.handshake, "complete");
    assert!(f.decrypted);
    // EncryptedExtensions was decrypted: the server accepted 0-RTT.
    assert_eq!(f.early_data.accepted, Some(true));
    // Only the 1-RTT data; the early record could not be opened.
    assert_eq!(p.data[0], (0u8..50).collect::<Vec<u8>>());
    assert!(
        s.anomalies()
            .iter()
            .any(|a| a.kind.name() == "tls_decrypt_failed")
    );
}

#[test]
fn rfc8448_0rtt_without_keys() {
    let (s, _) = run(&rfc8448_0rtt_flow(), None, 1000);
    let f = s.facts();
    assert_eq!(f.resumed, Some(true));
    assert_eq!(f.resumed_how, Some("psk"));
    assert!(f.early_data.offered);
    // The 21-byte EndOfEarlyData record tells acceptance.
    assert_eq!(f.early_data.accepted, Some(true));
    assert_eq!(f.early_data.records, 1);
    assert_eq!(f.handshake, "complete");
    assert_eq!(f.turns, 1);
}

// ---- KeyUpdate (sealed with this module's own record protection) -------

#[test]
fn key_update_moves_to_the_next_generation() {
    use rfc8448_1rtt::*;
    // The RFC 8448 conversation, then the server sends KeyUpdate and one
    // more record under the next traffic secret. Only the last two records
    // are built here (no published trace has a KeyUpdate); the derivation is
    // RFC 8446 7.2.
    let mut flow = rfc8448_1rtt_flow();
    flow.truncate(6);
    let mut sk = RecordKey::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &hex(S_AP)).unwrap();
    sk.skip_record(); // the ticket
    sk.skip_record(); // the application record
    let ku = sk.seal(22, &[24, 0, 0, 1, 0]).unwrap();
    let mut next = sk.updated().unwrap();
    let after = next.seal(23, b"after update").unwrap();
    flow.push((Dir::ToClient, ku));
    flow.push((Dir::ToClient, after));
    let (s, p) = run(&flow, Some(rfc8448_1rtt_keys()), 1000);
    let mut expect: Vec<u8> = (0u8..50).collect();
    expect.extend_from_slice(b"after update");
    assert_eq!(p.data[1], expect);
    assert!(s.anomalies().is_empty(), "{:?}", s.anomalies());
}

// ---- framing and hostile input (hand-built: no real program sends these) --

#[test]
fn oversized_record_stops_the_direction() {
    let mut s = TlsSession::new(None);
    let mut sink = |_: Dir, _: PlainEvent<'_>, _: At| {};
    s.on_event(
        Dir::ToServer,
        StreamEvent::Data(&[22, 3, 1, 0xff, 0xff, 1, 2, 3]),
        at(1),
        &mut sink,
    );
    s.finish(at(2), &mut sink);
    assert_eq!(s.anomalies()[0].kind.name(), "tls_record_too_large");
    assert_eq!(s.facts().handshake, "not_seen");
}

#[test]
fn non_tls_bytes_are_a_bad_record() {
    let mut s = TlsSession::new(None);
    let mut sink = |_: Dir, _: PlainEvent<'_>, _: At| {};
    s.on_event(
        Dir::ToServer,
        StreamEvent::Data(b"GET / HTTP/1.1\r\n\r\n"),
        at(1),
        &mut sink,
    );
    s.finish(at(2), &mut sink);
    assert_eq!(s.anomalies()[0].kind.name(), "tls_bad_record");
    assert_eq!(s.anomaly_count(), 1);
}

#[test]
fn client_hello_then_reset_is_abandoned() {
    use rfc8448_1rtt::*;
    let mut s = TlsSession::new(None);
    let mut sink = |_: Dir, _: PlainEvent<'_>, _: At| {};
    s.on_event(
        Dir::ToServer,
        StreamEvent::Data(&rec(22, 0x0301, &hex(CH))),
        at(1),
        &mut sink,
    );
    s.on_event(Dir::ToClient, StreamEvent::Reset, at(2), &mut sink);
    s.finish(at(2), &mut sink);
    let f = s.facts();
    assert_eq!(f.handshake, "abandoned");
    assert_eq!(f.sni.as_deref(), Some("server"));
    assert_eq!(f.version, None);
}

#[test]
fn plaintext_alert_fails_the_handshake() {
    use rfc8448_1rtt::*;
    let flow = vec![
        (Dir::ToServer, rec(22, 0x0301, &hex(CH))),
        (Dir::ToClient, rec(21, 0x0303, &[2, 70])),
    ];
    let (s, _) = run(&flow, None, 1000);
    let f = s.facts();
    assert_eq!(f.handshake, "failed");
    let a = f.alert.as_ref().unwrap();
    assert_eq!(
        (a.level, a.description, a.by),
        ("fatal", "protocol_version", Role::Server)
    );
}

#[test]
fn gap_inside_a_record_loses_only_that_record() {
    let flow = rfc8448_1rtt_flow();
    let mut s = TlsSession::new(Some(Arc::new(rfc8448_1rtt_keys())));
    let mut p = Plain::default();
    let mut sink = |d: Dir, ev: PlainEvent<'_>, _at: At| match ev {
        PlainEvent::Data(b) => p.data[d.index()].extend_from_slice(b),
        PlainEvent::Gap(n) => p.gaps[d.index()] += n,
        PlainEvent::End => p.ends[d.index()] += 1,
    };
    for (i, (dir, bytes)) in flow.iter().enumerate() {
        if i == 5 {
            // The server's application record: header, a 10-byte hole, rest.
            s.on_event(
                *dir,
                StreamEvent::Data(&bytes[..20]),
                at(i as u64),
                &mut sink,
            );
            s.on_event(*dir, StreamEvent::Gap(10), at(i as u64), &mut sink);
            s.on_event(
                *dir,
                StreamEvent::Data(&bytes[30..]),
                at(i as u64),
                &mut sink,
            );
        } else {
            s.on_event(*dir, StreamEvent::Data(bytes), at(i as u64), &mut sink);
        }
    }
    s.finish(at(99), &mut sink);
    assert_eq!(p.gaps[1], 50, "the lost record's plaintext length");
    assert!(p.data[1].is_empty());
    // The alert after it still opens: the sequence number was kept.
    assert!(s.facts().close_notify.unwrap().both);
    assert!(!s.facts().close_notify.unwrap().estimated);
    assert_eq!(s.anomalies()[0].kind.name(), "tls_gap");
}

#[test]
fn anomalies_are_bounded() {
    let mut s = TlsSession::new(None);
    let mut sink = |_: Dir, _: PlainEvent<'_>, _: At| {};
    // Many separate sessions' worth of junk cannot exceed the cap.
    for i in 0..200 {
        s.on_event(Dir::ToServer, StreamEvent::Gap(1), at(i), &mut sink);
        s.on_event(
            Dir::ToClient,
            StreamEvent::Data(&[0xff; 5]),
            at(i),
            &mut sink,
        );
    }
    assert!(s.anomalies().len() <= MAX_ANOMALIES);
}

// ---- key log --------------------------------------------------------------

#[test]
fn keylog_reads_labels_comments_crlf_and_counts_malformed_lines() {
    let r = "ab".repeat(32);
    let text = format!(
        "# comment\r\n\r\nCLIENT_RANDOM {r} {m}\r\nSERVER_TRAFFIC_SECRET_0 {r} {s}\n\
         EXPORTER_SECRET {r} {s}\nGARBAGE line here\nCLIENT_RANDOM {r}\n\
         CLIENT_RANDOM zz{rest} {m}\nCLIENT_RANDOM {r} {short}\n",
        m = "01".repeat(48),
        s = "02".repeat(32),
        rest = &r[2..],
        short = "03".repeat(10),
    );
    let k = KeyLog::parse(text.as_bytes(), "test.keys");
    assert_eq!(k.len(), 1);
    let e = k.lookup(&[0xab; 32]).unwrap();
    assert_eq!(e.master.unwrap().as_bytes(), &[1u8; 48][..]);
    assert_eq!(e.server_traffic0.unwrap().as_bytes(), &[2u8; 32][..]);
    assert!(e.client_traffic0.is_none());
    assert_eq!(k.ignored(), 1);
    assert_eq!(k.malformed_count(), 4);
    let lines: Vec<u64> = k.malformed().iter().map(|m| m.line).collect();
    assert_eq!(lines, vec![6, 7, 8, 9]);
    assert!(k.malformed().iter().all(|m| m.source == "test.keys"));
    // Debug never prints secrets.
    assert!(!format!("{k:?} {e:?}").contains("0101"));
}

#[test]
fn keylog_merge_and_dsb_in_both_byte_orders() {
    let line = format!(
        "CLIENT_TRAFFIC_SECRET_0 {} {}\n",
        "cd".repeat(32),
        "05".repeat(32)
    );
    let mut le = 0x544c_534bu32.to_le_bytes().to_vec();
    le.extend((line.len() as u32).to_le_bytes());
    le.extend(line.as_bytes());
    le.extend([0, 0]); // padding
    let mut be = 0x544c_534bu32.to_be_bytes().to_vec();
    be.extend((line.len() as u32).to_be_bytes());
    be.extend(line.as_bytes());
    let a = KeyLog::from_pcapng_dsb(&le).unwrap();
    let b = KeyLog::from_pcapng_dsb(&be).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(
        a.lookup(&[0xcd; 32]).unwrap().client_traffic0,
        b.lookup(&[0xcd; 32]).unwrap().client_traffic0
    );
    let mut wg = 0x5747_4b4cu32.to_le_bytes().to_vec();
    wg.extend(0u32.to_le_bytes());
    assert!(matches!(
        KeyLog::from_pcapng_dsb(&wg),
        Err(DsbError::NotTls(_))
    ));
    assert_eq!(
        KeyLog::from_pcapng_dsb(&le[..10]).unwrap_err(),
        DsbError::Truncated
    );
    let mut m = rfc8448_1rtt_keys();
    m.merge(a);
    assert_eq!(m.len(), 2);
}

#[test]
fn facts_serialise_with_report_names() {
    let (s, _) = run(&rfc8448_1rtt_flow(), None, 1000);
    let v = serde_json::to_value(s.facts()).unwrap();
    for k in [
        "version",
        "sni",
        "alpn_offered",
        "alpn",
        "alpn_hidden",
        "cipher",
        "resumed",
        "resumed_how",
        "early_data",
        "hello_retry",
        "handshake",
        "alert",
        "records",
        "bytes",
        "turns",
        "idle_between_turns",
        "last_turn",
        "close_notify",
        "decrypted",
        "decrypt_error",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert!(v["alpn"].is_null());
    assert_eq!(v["records"]["client"], 1);
}

#[test]
fn tls_anomaly_kinds_are_in_the_catalogue() {
    use crate::anomaly::{AnomalyKind, Layer};
    let tls: Vec<AnomalyKind> = AnomalyKind::ALL
        .iter()
        .copied()
        .filter(|k| k.layer() == Layer::Tls)
        .collect();
    assert!(tls.len() >= 10);
    assert!(tls.iter().all(|k| k.name().starts_with("tls_")));
}
