//! TLS decryption under damage: the real TLS fixtures' streams (with their
//! key logs) cut at every offset, holed, bit-flipped, and key logs cut and
//! mutated, through the application layer the analysis uses
//! (`httpreuse::app::AppSession`: TLS engine + HTTP/1 session). Nothing may
//! panic; each connection ends with a clear TLS result (a handshake
//! outcome, `decrypted` or a `decrypt_error`), and never more HTTP than the
//! undamaged stream carried.

use std::path::PathBuf;
use std::sync::Arc;

use httpreuse::app::AppSession;
use httpreuse::capture::{CaptureReader, Input};
use httpreuse::decode;
use httpreuse::tcp::{FlowTable, StreamEvent, TcpConfig, Tracked};
use httpreuse::tls::KeyLog;
use httpreuse::types::{At, Dir};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One stream event, owned.
#[derive(Clone)]
enum Ev {
    Data(Dir, At, Vec<u8>),
    Gap(Dir, At, u64),
    End(Dir, At, bool),
}

/// The stream events of each connection of a capture, as the TCP layer
/// gives them.
fn streams(name: &str) -> Vec<Vec<Ev>> {
    let p = root().join(format!("fixtures/captures/{name}.pcap"));
    let mut reader = CaptureReader::open(&Input::Path(p)).unwrap();
    let mut table: FlowTable<Vec<Ev>> = FlowTable::new(TcpConfig::default());
    let mut done: Vec<Vec<Ev>> = Vec::new();
    let mut frames = 0;
    let push = |v: &mut Vec<Ev>, dir: Dir, ev: StreamEvent<'_>, at: At| match ev {
        StreamEvent::Data(b) => v.push(Ev::Data(dir, at, b.to_vec())),
        StreamEvent::Gap(n) => v.push(Ev::Gap(dir, at, n)),
        StreamEvent::Fin => v.push(Ev::End(dir, at, false)),
        StreamEvent::Reset => v.push(Ev::End(dir, at, true)),
    };
    let conclude = |t: Box<Tracked<Vec<Ev>>>| {
        let Tracked {
            mut conn, mut user, ..
        } = *t;
        let end = conn.last;
        conn.flush(end, &mut |d, ev| push(&mut user, d, ev, end));
        user
    };
    while let Some(frame) = reader.next_frame().unwrap() {
        frames += 1;
        let at = At {
            frame: frames,
            ts: frame.ts,
        };
        let Ok(decode::Decoded::Segment(seg)) = decode::decode(frame.linktype, frame.data) else {
            continue;
        };
        let mut fin = |t| done.push(conclude(t));
        if let Some(Tracked { conn, user, .. }) = table.lookup(&seg, at, at.ts, Vec::new, &mut fin)
        {
            conn.segment(&seg, at, &mut |d, ev| push(user, d, ev, at));
        }
    }
    table.drain(&mut |t| done.push(conclude(t)));
    done
}

fn keys(name: &str) -> Arc<KeyLog> {
    let p = root().join(format!("fixtures/captures/{name}.keys"));
    Arc::new(KeyLog::parse(&std::fs::read(&p).unwrap(), "keys"))
}

/// How the stream is damaged at byte `k` (counting data bytes of both
/// directions in event order).
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Everything from `k` on is lost; both directions end there.
    Cut,
    /// 13 bytes from `k` are a capture gap.
    Hole,
    /// The byte at `k` is flipped.
    Flip,
}

/// Replays `evs` damaged at `k` into an application session; returns it
/// finished.
fn replay(evs: &[Ev], keys: &Arc<KeyLog>, k: usize, damage: Damage) -> AppSession {
    let mut app = AppSession::with_keys(Some(Arc::clone(keys)));
    let mut seen = 0usize;
    let mut last = At::default();
    for ev in evs {
        match ev {
            Ev::Data(d, at, b) => {
                last = *at;
                let (start, end) = (seen, seen + b.len());
                seen = end;
                if end <= k || start > k + 13 {
                    app.on_event(*d, StreamEvent::Data(b), *at);
                    continue;
                }
                let off = k - start.min(k);
                match damage {
                    Damage::Cut => {
                        app.on_event(*d, StreamEvent::Data(&b[..off]), *at);
                        app.on_event(Dir::ToServer, StreamEvent::Fin, *at);
                        app.on_event(Dir::ToClient, StreamEvent::Fin, *at);
                        app.finish(*at);
                        return app;
                    }
                    Damage::Hole => {
                        // The part of [k, k + 13) inside this event is lost.
                        let lo = k.saturating_sub(start).min(b.len());
                        let hi = (k + 13).saturating_sub(start).min(b.len());
                        if lo > 0 {
                            app.on_event(*d, StreamEvent::Data(&b[..lo]), *at);
                        }
                        if hi > lo {
                            app.on_event(*d, StreamEvent::Gap((hi - lo) as u64), *at);
                        }
                        if hi < b.len() {
                            app.on_event(*d, StreamEvent::Data(&b[hi..]), *at);
                        }
                    }
                    Damage::Flip => {
                        let mut c = b.clone();
                        if k >= start
                            && let Some(x) = c.get_mut(k - start)
                        {
                            *x ^= 0x5a;
                        }
                        app.on_event(*d, StreamEvent::Data(&c), *at);
                    }
                }
            }
            Ev::Gap(d, at, n) => app.on_event(*d, StreamEvent::Gap(*n), *at),
            Ev::End(d, at, rst) => {
                last = *at;
                let e = if *rst {
                    StreamEvent::Reset
                } else {
                    StreamEvent::Fin
                };
                app.on_event(*d, e, *at);
            }
        }
    }
    app.finish(last);
    app
}

fn data_len(evs: &[Ev]) -> usize {
    evs.iter()
        .map(|e| match e {
            Ev::Data(_, _, b) => b.len(),
            _ => 0,
        })
        .sum()
}

/// A finished session's result is clear, and never more HTTP than the
/// undamaged stream gave.
fn check(app: &AppSession, full_requests: usize, off: usize, what: &str) {
    let Some(tls) = app.tls() else {
        // Damage to the first bytes (the record header the protocol is
        // sniffed from) makes it something else; anywhere later, no.
        assert!(off < 32, "{what}: not TLS");
        return;
    };
    let f = tls.engine().facts();
    assert!(
        ["complete", "failed", "abandoned", "not_seen"].contains(&f.handshake),
        "{what}: handshake {}",
        f.handshake
    );
    assert!(
        f.decrypted || f.decrypt_error.is_some(),
        "{what}: neither decrypted nor a reason"
    );
    let requests = app
        .http()
        .exchanges()
        .iter()
        .filter(|e| e.request.is_some())
        .count();
    assert!(
        requests <= full_requests,
        "{what}: {requests} requests, more than the {full_requests} undamaged"
    );
    serde_json::to_string(f).unwrap();
}

#[test]
fn tls_streams_cut_holed_and_flipped_at_every_offset() {
    let mut runs = 0;
    for name in [
        "tls-tls12-aes128gcm",
        "tls-tls13-aes128gcm",
        "tls-tls12-chacha20",
        "tls-tls13-0rtt",
    ] {
        let k = keys(name);
        for evs in streams(name) {
            let full = replay(&evs, &k, usize::MAX, Damage::Flip);
            let full_requests = full
                .http()
                .exchanges()
                .iter()
                .filter(|e| e.request.is_some())
                .count();
            assert!(full.tls().unwrap().engine().facts().decrypted, "{name}");
            let n = data_len(&evs);
            // Every offset of the first 3000 bytes (the handshakes and
            // first records), then every 7th.
            let offsets = (0..n.min(3000)).chain((3000..n).step_by(7));
            for off in offsets {
                for damage in [Damage::Cut, Damage::Hole, Damage::Flip] {
                    let app = replay(&evs, &k, off, damage);
                    check(
                        &app,
                        full_requests,
                        off,
                        &format!("{name} {damage:?} at {off}"),
                    );
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 10_000, "{runs}");
}

#[test]
fn damaged_streams_with_wrong_keys() {
    // Another capture's keys, and this capture's with one secret altered.
    let name = "tls-tls13-aes128gcm";
    let text =
        std::fs::read_to_string(root().join(format!("fixtures/captures/{name}.keys"))).unwrap();
    let altered: String = text
        .lines()
        .map(|l| {
            if l.starts_with("SERVER_TRAFFIC_SECRET_0") {
                format!("{}0\n", &l[..l.len() - 1])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    for k in [
        keys("tls-tls12-aes128gcm"),
        Arc::new(KeyLog::parse(altered.as_bytes(), "altered")),
    ] {
        for evs in streams(name) {
            let n = data_len(&evs);
            for off in (0..n).step_by(5) {
                for damage in [Damage::Cut, Damage::Flip] {
                    let app = replay(&evs, &k, off, damage);
                    check(&app, 3, off, &format!("wrong keys {damage:?} at {off}"));
                }
            }
        }
    }
}

#[test]
fn key_logs_cut_and_mutated_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["tls-tls12-aes128gcm", "tls-tls13-0rtt", "tls-tls13-hrr"] {
        let bytes = std::fs::read(root().join(format!("fixtures/captures/{name}.keys"))).unwrap();
        let whole = KeyLog::parse(&bytes, "whole");
        assert_eq!(whole.malformed_count(), 0, "{name}");
        // Cut at every offset: at most the one cut line is malformed.
        for cut in 0..bytes.len() {
            let k = KeyLog::parse(&bytes[..cut], "cut");
            assert!(k.malformed_count() <= 1, "{name} cut at {cut}");
            assert!(k.len() <= whole.len());
        }
        // Random byte changes: counted, never fatal.
        for _ in 0..2000 {
            let mut b = bytes.clone();
            for _ in 0..(rand() % 8 + 1) {
                let i = (rand() as usize) % b.len();
                b[i] = rand() as u8;
            }
            let k = KeyLog::parse(&b, "mutated");
            assert!(k.malformed_count() <= k.lines());
        }
    }
}
