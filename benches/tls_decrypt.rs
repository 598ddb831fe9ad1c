//! TLS engine throughput on one core.
//!
//! `cargo bench --bench tls_decrypt` prints:
//! * record decryption alone (`RecordKey::open`, 16 KiB TLS 1.3 records,
//!   AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305), GB/s of ciphertext;
//! * the whole engine with keys: RFC 8448's handshake, then the server
//!   sending 16 KiB application records, fed in 1448-byte TCP segments
//!   (framing, copy, decryption, plaintext callback);
//! * the same stream without keys (records skipped by length);
//! * for comparison, the HTTP/1 session on a plaintext response of the same
//!   size fed the same way.
//!
//! `BENCH_MB` (default 256) sets the stream size; the best of `BENCH_RUNS`
//! (default 3) is reported. Figures are printed, never asserted.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use httpreuse::http::HttpSession;
use httpreuse::tcp::StreamEvent;
use httpreuse::tls::crypto::{AeadAlg, HashAlg, RecordKey};
use httpreuse::tls::{KeyLog, PlainEvent, TlsSession};
use httpreuse::types::{At, Dir, Timestamp};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

// RFC 8448 section 3 (see src/tls/tests.rs).
const CR: &str = "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";
const CH: &str = "010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001";
const SH: &str = "020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304";
const C_HS: &str = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21";
const S_HS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
const C_AP: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
const S_AP: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

fn rec(ty: u8, ver: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ty];
    r.extend_from_slice(&ver.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn best<F: FnMut() -> u64>(runs: usize, mut f: F) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut out = 0;
    for _ in 0..runs {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, out)
}

fn main() {
    let mb = env("BENCH_MB", 256);
    let runs = env("BENCH_RUNS", 3);
    let total = mb << 20;
    let plain_len = 16 * 1024;
    let n = total / plain_len;
    let payload: Vec<u8> = (0..plain_len).map(|i| (i % 251) as u8).collect();

    println!("TLS engine, one core, {n} records of {plain_len} B ({mb} MiB)");
    for (name, aead, hash) in [
        ("AES-128-GCM", AeadAlg::Aes128Gcm, HashAlg::Sha256),
        ("AES-256-GCM", AeadAlg::Aes256Gcm, HashAlg::Sha384),
        (
            "ChaCha20-Poly1305",
            AeadAlg::ChaCha20Poly1305,
            HashAlg::Sha256,
        ),
    ] {
        let secret = vec![7u8; hash.output_len()];
        let mut sealer = RecordKey::tls13(aead, hash, &secret).unwrap();
        // A ring of distinct records (the sequence number changes each).
        let ring: Vec<Vec<u8>> = (0..64)
            .map(|_| sealer.seal(23, &payload).unwrap())
            .collect();
        let mut buf = vec![0u8; ring[0].len()];
        let (secs, bytes) = best(runs, || {
            let mut opener = RecordKey::tls13(aead, hash, &secret).unwrap();
            let mut bytes = 0u64;
            for i in 0..n {
                let r = &ring[i % ring.len()];
                if i % ring.len() == 0 && i > 0 {
                    opener = RecordKey::tls13(aead, hash, &secret).unwrap();
                }
                buf.copy_from_slice(r);
                let hdr: [u8; 5] = buf[..5].try_into().unwrap();
                let o = opener.open(&hdr, &mut buf[5..]).unwrap();
                bytes += o.len as u64;
            }
            black_box(bytes)
        });
        println!(
            "  RecordKey::open {name:<18} {:6.2} GB/s of plaintext ({:.3} s)",
            bytes as f64 / secs / 1e9,
            secs
        );
    }

    // The whole engine: RFC 8448 handshake + n server records.
    let keys = format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {C_HS}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {CR} {S_HS}\n\
         CLIENT_TRAFFIC_SECRET_0 {CR} {C_AP}\nSERVER_TRAFFIC_SECRET_0 {CR} {S_AP}\n"
    );
    let keys = Arc::new(KeyLog::parse(keys.as_bytes(), "bench"));
    let client_hello = rec(22, 0x0301, &hex(CH));
    let mut server_hello = rec(22, 0x0303, &hex(SH));
    // After the ServerHello the server's records are sealed here with the
    // application key directly (a stand-in flight: one Finished message).
    let mut shk = RecordKey::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &hex(S_HS)).unwrap();
    server_hello.extend(
        shk.seal(
            22,
            &[20, 0, 0, 32]
                .iter()
                .copied()
                .chain([0u8; 32])
                .collect::<Vec<_>>(),
        )
        .unwrap(),
    );
    let mut chk = RecordKey::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &hex(C_HS)).unwrap();
    let client_fin = chk
        .seal(
            22,
            &[20, 0, 0, 32]
                .iter()
                .copied()
                .chain([0u8; 32])
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let mut cak = RecordKey::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &hex(C_AP)).unwrap();
    let request = cak
        .seal(23, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut sak = RecordKey::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &hex(S_AP)).unwrap();
    let mut stream = Vec::with_capacity(n * (plain_len + 22));
    for _ in 0..n {
        stream.extend(sak.seal(23, &payload).unwrap());
    }
    let seg = 1448;
    let run_tls = |keys: Option<Arc<KeyLog>>| -> u64 {
        let mut s = TlsSession::new(keys);
        let mut got = 0u64;
        let mut sink = |_: Dir, ev: PlainEvent<'_>, _: At| {
            if let PlainEvent::Data(b) = ev {
                got += b.len() as u64;
            }
        };
        let mut frame = 0;
        let mut at = || {
            frame += 1;
            At {
                frame,
                ts: Timestamp::from_nanos(frame * 1000),
            }
        };
        s.on_event(
            Dir::ToServer,
            StreamEvent::Data(&client_hello),
            at(),
            &mut sink,
        );
        s.on_event(
            Dir::ToClient,
            StreamEvent::Data(&server_hello),
            at(),
            &mut sink,
        );
        s.on_event(
            Dir::ToServer,
            StreamEvent::Data(&client_fin),
            at(),
            &mut sink,
        );
        s.on_event(Dir::ToServer, StreamEvent::Data(&request), at(), &mut sink);
        for chunk in stream.chunks(seg) {
            s.on_event(Dir::ToClient, StreamEvent::Data(chunk), at(), &mut sink);
        }
        let a = at();
        s.finish(a, &mut sink);
        assert_eq!(s.facts().turns, 1);
        got
    };
    let (secs, got) = best(runs, || run_tls(Some(keys.clone())));
    assert_eq!(got as usize, 30 + n * plain_len, "everything decrypted");
    let wire = stream.len() as f64;
    println!(
        "  TlsSession with keys (AES-128-GCM)  {:6.2} GB/s of wire bytes ({:.3} s)",
        wire / secs / 1e9,
        secs
    );
    let (secs_nokeys, got) = best(runs, || run_tls(None));
    assert_eq!(got, 0);
    println!(
        "  TlsSession without keys             {:6.2} GB/s of wire bytes ({:.3} s)",
        wire / secs_nokeys / 1e9,
        secs_nokeys
    );

    // Plaintext HTTP/1 of the same size, fed the same way.
    let body_len = stream.len();
    let mut response =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\n\r\n").into_bytes();
    response.extend(std::iter::repeat_n(b'x', body_len));
    let (secs_http, _) = best(runs, || {
        let mut h = HttpSession::new();
        let mut frame = 0;
        let mut at = || {
            frame += 1;
            At {
                frame,
                ts: Timestamp::from_nanos(frame * 1000),
            }
        };
        h.on_event(
            Dir::ToServer,
            StreamEvent::Data(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n"),
            at(),
        );
        for chunk in response.chunks(seg) {
            h.on_event(Dir::ToClient, StreamEvent::Data(chunk), at());
        }
        let a = at();
        h.finish(a);
        black_box(h.exchanges().len() as u64)
    });
    println!(
        "  HttpSession on plaintext            {:6.2} GB/s of wire bytes ({:.3} s)",
        response.len() as f64 / secs_http / 1e9,
        secs_http
    );
    println!(
        "  keyless TLS / plaintext HTTP time: {:.2}x",
        secs_nokeys / secs_http
    );
}
