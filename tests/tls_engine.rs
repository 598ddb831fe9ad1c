//! The TLS engine on real captures: `fixtures/captures/tls-*.pcap` recorded
//! by `fixtures/record-tls.sh` with their key logs, read through
//! `capture` + `decode` + `tcp` exactly as the analyzer does, and compared
//! with what tshark read (`fixtures/expected/tls/*.json`, written by
//! `fixtures/tls-expect.py` from the same captures and key logs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use httpreuse::capture::{CaptureReader, Input};
use httpreuse::decode;
use httpreuse::tcp::{FlowTable, TcpConfig, Tracked};
use httpreuse::tls::{KeyLog, PlainEvent, TlsFacts, TlsSession};
use httpreuse::types::{At, Dir, Role};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Plaintext kept per direction in the test (bounded).
const KEEP: usize = 1 << 20;

struct User {
    tls: TlsSession,
    plain: [Vec<u8>; 2],
    gaps: [u64; 2],
    ends: [u32; 2],
}

impl User {
    fn new(keys: Option<Arc<KeyLog>>) -> User {
        User {
            tls: TlsSession::new(keys),
            plain: [Vec::new(), Vec::new()],
            gaps: [0; 2],
            ends: [0; 2],
        }
    }
}

fn sink<'a>(
    plain: &'a mut [Vec<u8>; 2],
    gaps: &'a mut [u64; 2],
    ends: &'a mut [u32; 2],
) -> impl FnMut(Dir, PlainEvent<'_>, At) + 'a {
    move |d, ev, _| match ev {
        PlainEvent::Data(b) => {
            let v = &mut plain[d.index()];
            let n = b.len().min(KEEP.saturating_sub(v.len()));
            v.extend_from_slice(&b[..n]);
        }
        PlainEvent::Gap(n) => gaps[d.index()] += n,
        PlainEvent::End => ends[d.index()] += 1,
    }
}

/// One concluded connection.
struct Conn {
    client_port: u16,
    facts: TlsFacts,
    anomalies: Vec<&'static str>,
    plain: [Vec<u8>; 2],
    gaps: [u64; 2],
    ends: [u32; 2],
    last: At,
}

fn conclude(t: Box<Tracked<User>>) -> Conn {
    let Tracked {
        mut conn, mut user, ..
    } = *t;
    let end = conn.last;
    let User {
        tls,
        plain,
        gaps,
        ends,
    } = &mut user;
    {
        let mut s = sink(plain, gaps, ends);
        conn.flush(end, &mut |dir, ev| tls.on_event(dir, ev, end, &mut s));
        tls.finish(end, &mut s);
    }
    Conn {
        client_port: conn.client.port(),
        facts: tls.facts().clone(),
        anomalies: tls.anomalies().iter().map(|a| a.kind.name()).collect(),
        plain: std::mem::take(plain),
        gaps: *gaps,
        ends: *ends,
        last: end,
    }
}

/// The analyzer's loop (src/analyzer.rs), with a TlsSession per connection.
fn analyse(pcap: &Path, keys: Option<Arc<KeyLog>>) -> Vec<Conn> {
    let mut reader = CaptureReader::open(&Input::Path(pcap.to_path_buf())).unwrap();
    let mut table: FlowTable<User> = FlowTable::new(TcpConfig::default());
    let mut done = Vec::new();
    let mut frames = 0u64;
    while let Some(frame) = reader.next_frame().unwrap() {
        frames += 1;
        let at = At {
            frame: frames,
            ts: frame.ts,
        };
        let Ok(decode::Decoded::Segment(seg)) = decode::decode(frame.linktype, frame.data) else {
            continue;
        };
        let mut fin = |t: Box<Tracked<User>>| done.push(conclude(t));
        if let Some(Tracked { conn, user, .. }) =
            table.lookup(&seg, at, at.ts, || User::new(keys.clone()), &mut fin)
        {
            let User {
                tls,
                plain,
                gaps,
                ends,
            } = user;
            let mut s = sink(plain, gaps, ends);
            conn.segment(&seg, at, &mut |dir, ev| tls.on_event(dir, ev, at, &mut s));
        }
        table.expire(at.ts, &mut fin);
    }
    table.drain(&mut |t| done.push(conclude(t)));
    done
}

fn keys_of(name: &str) -> Option<Arc<KeyLog>> {
    let p = root().join(format!("fixtures/captures/{name}.keys"));
    let b = std::fs::read(&p).ok()?;
    if b.is_empty() {
        return None;
    }
    Some(Arc::new(KeyLog::parse(&b, &p.display().to_string())))
}

/// Every fixture: (name, tshark's reading).
fn fixtures() -> Vec<(String, Value)> {
    let dir = root().join("fixtures/expected/tls");
    let mut v: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let j: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (name, j)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(v.len() >= 20, "TLS expectations missing");
    v
}

fn run(name: &str, with_keys: bool) -> Vec<Conn> {
    let keys = if with_keys { keys_of(name) } else { None };
    analyse(&root().join(format!("fixtures/captures/{name}.pcap")), keys)
}

/// tshark's connection matched to ours by client port.
fn matched<'a>(conns: &'a [Conn], t: &Value) -> &'a Conn {
    let port = t["client_port"].as_u64().unwrap() as u16;
    conns
        .iter()
        .find(|c| c.client_port == port)
        .unwrap_or_else(|| panic!("no connection from port {port}"))
}

fn opt_str(v: &Value) -> Option<&str> {
    v.as_str()
}

fn is_h2(t: &Value) -> bool {
    t["alpn"].as_str() == Some("h2")
}

/// Counts HTTP/1 request lines and status lines in a plaintext stream.
fn http1_starts(b: &[u8]) -> (usize, usize) {
    let mut req = 0;
    let mut resp = 0;
    for line in b.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let parts: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
        if parts.len() == 3
            && [&b"GET"[..], b"HEAD", b"POST"].contains(&parts[0])
            && parts[2].starts_with(b"HTTP/1.")
        {
            req += 1;
        }
        if parts.len() >= 2
            && parts[0].starts_with(b"HTTP/1.")
            && parts[1].len() == 3
            && parts[1].iter().all(u8::is_ascii_digit)
        {
            resp += 1;
        }
    }
    (req, resp)
}

#[test]
fn handshake_facts_agree_with_tshark_with_and_without_keys() {
    for (name, exp) in fixtures() {
        for with_keys in [false, true] {
            let conns = run(&name, with_keys);
            let tconns = exp["connections"].as_array().unwrap();
            assert_eq!(conns.len(), tconns.len(), "{name}: connections");
            for t in tconns {
                let c = matched(&conns, t);
                let f = &c.facts;
                let ctx = format!("{name} keys={with_keys} port {}", c.client_port);
                assert_eq!(f.sni.as_deref(), opt_str(&t["sni"]), "{ctx}: sni");
                assert_eq!(f.version, opt_str(&t["version"]), "{ctx}: version");
                assert_eq!(f.cipher, opt_str(&t["cipher"]), "{ctx}: cipher");
                assert_eq!(f.resumed, t["resumed"].as_bool(), "{ctx}: resumed");
                assert_eq!(
                    f.hello_retry,
                    t["hello_retry"].as_bool().unwrap(),
                    "{ctx}: hrr"
                );
                assert_eq!(
                    f.early_data.offered,
                    t["early_data_offered"].as_bool().unwrap(),
                    "{ctx}: 0-RTT offered"
                );
                let tls13 = f.version == Some("TLS 1.3");
                if tls13 && !(with_keys && f.decrypted) {
                    assert_eq!(f.alpn, None, "{ctx}: TLS 1.3 alpn hidden");
                    assert!(f.alpn_hidden || f.version.is_none(), "{ctx}: alpn_hidden");
                } else {
                    assert_eq!(f.alpn.as_deref(), opt_str(&t["alpn"]), "{ctx}: alpn");
                }
                if with_keys && f.decrypted {
                    assert_eq!(
                        f.early_data.accepted,
                        t["early_data_accepted"].as_bool(),
                        "{ctx}: 0-RTT accepted"
                    );
                }
                let offered: Vec<&str> = t["alpn_offered"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(f.alpn_offered, offered, "{ctx}: alpn offered");
            }
        }
    }
}

#[test]
fn decrypted_plaintext_has_the_requests_and_responses_tshark_decrypted() {
    let mut decrypted_conns = 0;
    for (name, exp) in fixtures() {
        if keys_of(&name).is_none() {
            continue;
        }
        let conns = run(&name, true);
        for t in exp["connections"].as_array().unwrap() {
            let c = matched(&conns, t);
            let f = &c.facts;
            let ctx = format!("{name} port {}", c.client_port);
            if f.cipher == Some("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256") {
                assert!(!f.decrypted, "{ctx}");
                assert_eq!(f.decrypt_error, Some("unsupported_cipher"), "{ctx}");
                assert!(c.plain[0].is_empty());
                continue;
            }
            let reqs = t["http_requests"].as_u64().unwrap() as usize;
            let resps = t["http_responses"].as_u64().unwrap() as usize;
            let h2 = t["h2_requests"].as_u64().unwrap();
            if reqs + resps == 0 && h2 == 0 {
                continue;
            }
            assert!(f.decrypted, "{ctx}: {:?}", f.decrypt_error);
            assert_eq!(f.decrypt_error, None, "{ctx}");
            decrypted_conns += 1;
            if is_h2(t) {
                assert!(
                    c.plain[0].starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
                    "{ctx}: h2 preface"
                );
                continue;
            }
            let first_line = c.plain[0].split(|&b| b == b'\n').next().unwrap();
            assert!(
                first_line.starts_with(b"GET /") && first_line.ends_with(b"HTTP/1.1\r"),
                "{ctx}: plaintext starts with a request line"
            );
            assert_eq!(http1_starts(&c.plain[0]).0, reqs, "{ctx}: requests");
            assert_eq!(http1_starts(&c.plain[1]).1, resps, "{ctx}: responses");
            assert_eq!(c.gaps, [0, 0], "{ctx}: no plaintext missing");
            assert_eq!(c.ends, [1, 1], "{ctx}: one end per direction");
        }
    }
    assert!(decrypted_conns >= 15, "only {decrypted_conns} decrypted");
}

#[test]
fn without_keys_turns_equal_requests_on_sequential_connections() {
    for (name, exp) in fixtures() {
        let conns = run(&name, false);
        for t in exp["connections"].as_array().unwrap() {
            if is_h2(t) {
                continue; // multiplexed: turns are not requests
            }
            let c = matched(&conns, t);
            let f = &c.facts;
            let reqs = t["http_requests"].as_u64().unwrap();
            assert_eq!(f.turns, reqs, "{name} port {}: turns", c.client_port);
            assert!(!f.decrypted);
            if reqs > 0 {
                let lt = f.last_turn.unwrap();
                assert!(lt.answered, "{name}: the last request was answered");
            }
        }
    }
}

#[test]
fn close_notify_agrees_with_tshark() {
    for (name, exp) in fixtures() {
        for with_keys in [true, false] {
            let conns = run(&name, with_keys);
            for t in exp["connections"].as_array().unwrap() {
                let c = matched(&conns, t);
                let ctx = format!("{name} keys={with_keys} port {}", c.client_port);
                let alerts = t["alerts"].as_array().unwrap();
                let cn: Vec<&str> = alerts
                    .iter()
                    .filter(|a| a["description"] == "close_notify")
                    .map(|a| a["by"].as_str().unwrap())
                    .collect();
                let f = &c.facts;
                if f.handshake != "complete" {
                    continue;
                }
                // tshark sees TLS 1.3 close_notify only decrypted.
                let visible = with_keys || f.version == Some("TLS 1.2");
                if !visible && !cn.is_empty() {
                    let got = f.close_notify.unwrap_or_else(|| panic!("{ctx}: estimate"));
                    assert!(got.estimated, "{ctx}");
                    assert_eq!(got.by.as_str(), cn[0], "{ctx}: by");
                    continue;
                }
                match (cn.first(), f.close_notify) {
                    (None, None) => {}
                    (Some(by), Some(got)) => {
                        assert_eq!(got.by.as_str(), *by, "{ctx}: by");
                        assert_eq!(got.both, cn.len() > 1, "{ctx}: both");
                        assert_eq!(got.estimated, !f.decrypted, "{ctx}: estimated");
                    }
                    (a, b) => panic!("{ctx}: tshark {a:?}, engine {b:?}"),
                }
            }
        }
    }
}

#[test]
fn failures_report_the_alert_and_outcome() {
    // (fixture, with keys, outcome, alert description, by)
    let cases = [
        (
            "tls-tls12-unknown-ca",
            false,
            "failed",
            Some("unknown_ca"),
            Role::Client,
        ),
        (
            "tls-tls13-unknown-ca",
            true,
            "failed",
            Some("unknown_ca"),
            Role::Client,
        ),
        // OpenSSL alerts before switching to the handshake key: plaintext.
        (
            "tls-tls13-unknown-ca",
            false,
            "failed",
            Some("unknown_ca"),
            Role::Client,
        ),
        (
            "tls-tls-version-mismatch",
            false,
            "failed",
            Some("protocol_version"),
            Role::Server,
        ),
        (
            "tls-tls-clienthello-rst",
            false,
            "abandoned",
            None,
            Role::Client,
        ),
    ];
    for (name, keys, outcome, desc, by) in cases {
        let conns = run(name, keys);
        assert_eq!(conns.len(), 1, "{name}");
        let f = &conns[0].facts;
        assert_eq!(f.handshake, outcome, "{name} keys={keys}");
        assert_eq!(f.alert.as_ref().map(|a| a.description), desc, "{name}");
        if let Some(a) = &f.alert {
            assert_eq!(a.by, by, "{name}");
        }
        assert_eq!(f.turns, 0);
        // tshark's reading of the same alert (plaintext or decrypted).
        let (_, exp) = fixtures().into_iter().find(|(n, _)| n == name).unwrap();
        let t_alert = exp["connections"][0]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["description"] != "close_notify")
            .map(|a| a["description"].as_str().unwrap().to_string());
        if desc != Some("encrypted") {
            assert_eq!(t_alert.as_deref(), desc, "{name}: tshark");
        }
    }
}

#[test]
fn close_kinds_and_idle_time() {
    // Plain FIN: no close_notify from anyone.
    for keys in [true, false] {
        let c = &run("tls-tls13-plain-fin", keys)[0];
        assert_eq!(c.facts.close_notify, None);
        assert_eq!(c.facts.turns, 1);
        assert!(c.facts.last_turn.unwrap().answered);
    }
    // Server idle timeout (keepalive_timeout 2s): server close_notify about
    // 2 s after the last response.
    for keys in [true, false] {
        let c = &run("tls-tls13-idle-timeout", keys)[0];
        let cn = c.facts.close_notify.unwrap();
        assert_eq!(cn.by, Role::Server, "keys={keys}");
        assert_eq!(cn.estimated, !keys);
        let lt = c.facts.last_turn.unwrap();
        assert!(lt.answered);
        let idle = c.last.ts.secs_since(lt.server_last_at.unwrap().ts);
        assert!((1.9..3.0).contains(&idle), "idle {idle}");
    }
    // Client close_notify (curl at exit), TLS 1.2: visible as an encrypted
    // alert without keys.
    let c = &run("tls-tls12-aes128gcm", false)[0];
    let cn = c.facts.close_notify.unwrap();
    assert_eq!((cn.by, cn.estimated), (Role::Client, true));
}

#[test]
fn resumption_kinds() {
    let how = |name: &str| -> Vec<Option<&'static str>> {
        run(name, false)
            .iter()
            .map(|c| c.facts.resumed_how)
            .collect()
    };
    assert_eq!(
        how("tls-tls12-resume-session-id"),
        [None, Some("session_id")]
    );
    assert_eq!(how("tls-tls12-resume-ticket"), [None, Some("ticket")]);
    assert_eq!(how("tls-tls13-python-reuse"), [None, Some("psk")]);
    assert_eq!(how("tls-tls13-psk-refused"), [None, None]);
    assert_eq!(how("tls-tls13-0rtt"), [None, Some("psk")]);
}

#[test]
fn zero_rtt_request_is_decrypted_once() {
    let conns = run("tls-tls13-0rtt", true);
    let c = &conns[1];
    assert_eq!(c.facts.early_data.accepted, Some(true));
    assert!(c.facts.early_data.records >= 1);
    assert_eq!(http1_starts(&c.plain[0]).0, 1);
    assert!(c.plain[0].starts_with(b"GET /b.txt HTTP/1.1\r\n"));
    assert_eq!(http1_starts(&c.plain[1]).1, 1);
    // Without keys the EndOfEarlyData size tells acceptance.
    let c = &run("tls-tls13-0rtt", false)[1];
    assert_eq!(c.facts.early_data.accepted, Some(true));
}

#[test]
fn key_update_keeps_decrypting() {
    let c = &run("tls-tls13-keyupdate", true)[0];
    assert!(c.facts.decrypted);
    assert_eq!(http1_starts(&c.plain[0]).0, 2);
    assert_eq!(http1_starts(&c.plain[1]).1, 2);
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
}

#[test]
fn anomalies_only_where_expected() {
    for (name, _) in fixtures() {
        for keys in [true, false] {
            for c in run(&name, keys) {
                assert!(
                    c.anomalies.is_empty(),
                    "{name} keys={keys}: {:?}",
                    c.anomalies
                );
            }
        }
    }
}

/// Reads the Decryption Secrets Blocks of a pcapng (little-endian section,
/// as editcap writes it on this machine).
fn dsb_bodies(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 12 <= b.len() {
        let ty = u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let len = u32::from_le_bytes(b[i + 4..i + 8].try_into().unwrap()) as usize;
        if len < 12 || i + len > b.len() {
            break;
        }
        if ty == 0x0000_000a {
            out.push(&b[i + 8..i + len - 4]);
        }
        i += len;
    }
    out
}

#[test]
fn keys_from_a_decryption_secrets_block() {
    // fixtures/captures/tls-tls13-aes128gcm-dsb.pcapng was made by
    // `editcap --inject-secrets tls,tls-tls13-aes128gcm.keys` (see
    // fixtures/README.md).
    let p = root().join("fixtures/captures/tls-tls13-aes128gcm-dsb.pcapng");
    let bytes = std::fs::read(&p).unwrap();
    let bodies = dsb_bodies(&bytes);
    assert_eq!(bodies.len(), 1);
    let keys = KeyLog::from_pcapng_dsb(bodies[0]).unwrap();
    assert_eq!(keys.malformed_count(), 0);
    let conns = analyse(&p, Some(Arc::new(keys)));
    assert_eq!(conns.len(), 1);
    assert!(conns[0].facts.decrypted);
    assert_eq!(http1_starts(&conns[0].plain[0]).0, 3);
}
