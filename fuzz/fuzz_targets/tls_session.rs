//! Feeds arbitrary bytes to a `TlsSession` as stream events, with and
//! without a key log.
//!
//! The first byte picks the mode: bit 0 a key log (RFC 8448's secrets plus
//! a line taken from the input, usually malformed), bit 1 the RFC 8448
//! conversation as the stream with the input's bytes XORed into it and cut
//! at input-chosen places (records cut, tags broken), else the raw input
//! cut into chunks with gaps, FINs and resets; bit 2 wrong secrets.
#![no_main]

use std::sync::Arc;

use httpreuse::tcp::StreamEvent;
use httpreuse::tls::{KeyLog, PlainEvent, TlsSession};
use httpreuse::types::{At, Dir, Timestamp};
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod rfc8448 {
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

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn rec(ty: u8, ver: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ty];
    r.extend_from_slice(&ver.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn flow() -> Vec<(Dir, Vec<u8>)> {
    use rfc8448::*;
    let mut sf = rec(22, 0x0303, &hex(SH));
    sf.extend(rec(23, 0x0303, &hex(SERVER_FLIGHT)));
    vec![
        (Dir::ToServer, rec(22, 0x0301, &hex(CH))),
        (Dir::ToClient, sf),
        (Dir::ToServer, rec(23, 0x0303, &hex(CLIENT_FINISHED))),
        (Dir::ToClient, rec(23, 0x0303, &hex(SERVER_TICKET))),
        (Dir::ToServer, rec(23, 0x0303, &hex(CLIENT_APP))),
        (Dir::ToClient, rec(23, 0x0303, &hex(SERVER_APP))),
        (Dir::ToServer, rec(23, 0x0303, &hex(CLIENT_ALERT))),
        (Dir::ToClient, rec(23, 0x0303, &hex(SERVER_ALERT))),
    ]
}

fn keylog(wrong: bool, extra: &[u8]) -> KeyLog {
    use rfc8448::*;
    let z = "00".repeat(32);
    let pick = |s: &'static str| if wrong { z.clone() } else { s.to_string() };
    let mut text = format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM} {}\n\
         CLIENT_TRAFFIC_SECRET_0 {CLIENT_RANDOM} {}\nSERVER_TRAFFIC_SECRET_0 {CLIENT_RANDOM} {}\n",
        pick(C_HS),
        pick(S_HS),
        pick(C_AP),
        pick(S_AP)
    )
    .into_bytes();
    text.extend_from_slice(extra);
    KeyLog::parse(&text, "fuzz")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = (mode & 1 != 0).then(|| {
        let cut = rest.len().min(64);
        Arc::new(keylog(mode & 4 != 0, &rest[..cut]))
    });
    let mut s = TlsSession::new(keys);
    let mut delivered = [0u64; 2];
    let mut sink = |d: Dir, ev: PlainEvent<'_>, _: At| {
        if let PlainEvent::Data(b) = ev {
            delivered[d.index()] += b.len() as u64;
        }
    };
    let mut frame = 0u64;
    let mut at = || {
        frame += 1;
        At {
            frame,
            ts: Timestamp::from_nanos(frame * 1_000_000),
        }
    };
    if mode & 2 != 0 {
        // The RFC 8448 conversation, mutated: (position, xor) pairs, then
        // cut points.
        let mut msgs = flow();
        let total: usize = msgs.iter().map(|(_, b)| b.len()).sum();
        let mut pairs = rest.chunks_exact(3);
        for p in pairs.by_ref().take(8) {
            let pos = usize::from(u16::from_be_bytes([p[0], p[1]])) % total.max(1);
            let mut acc = 0;
            for (_, b) in msgs.iter_mut() {
                if pos < acc + b.len() {
                    b[pos - acc] ^= p[2];
                    break;
                }
                acc += b.len();
            }
        }
        let mut cuts = pairs.remainder().iter().chain(rest.iter()).cycle();
        for (dir, b) in &msgs {
            let mut b = &b[..];
            while !b.is_empty() {
                let n = (usize::from(*cuts.next().unwrap_or(&64)) % 97 + 1).min(b.len());
                let (head, tail) = b.split_at(n);
                s.on_event(*dir, StreamEvent::Data(head), at(), &mut sink);
                b = tail;
            }
        }
    } else {
        let mut rest = rest;
        let mut state = u32::from(mode) | 1;
        while let Some((&ctl, tail)) = rest.split_first() {
            let dir = if ctl & 1 == 0 { Dir::ToServer } else { Dir::ToClient };
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = ((state >> 16) as usize % 64) + 1;
            let a = at();
            match ctl >> 1 {
                0..=3 => {
                    let n = tail.first().map_or(1, |&n| u64::from(n));
                    s.on_event(dir, StreamEvent::Gap(n), a, &mut sink);
                    rest = tail.get(1..).unwrap_or(&[]);
                }
                4 => {
                    s.on_event(dir, StreamEvent::Fin, a, &mut sink);
                    rest = tail;
                }
                5 => {
                    s.on_event(dir, StreamEvent::Reset, a, &mut sink);
                    rest = tail;
                }
                _ => {
                    let n = len.min(tail.len());
                    s.on_event(dir, StreamEvent::Data(&tail[..n]), a, &mut sink);
                    rest = &tail[n..];
                }
            }
        }
    }
    let a = at();
    s.finish(a, &mut sink);
    let f = s.facts();
    assert!(s.anomalies().len() <= httpreuse::tls::MAX_ANOMALIES);
    assert!(f.handshake != "in_progress");
    assert!(f.decrypted || delivered == [0, 0]);
    let _ = serde_json::to_string(f);
});
