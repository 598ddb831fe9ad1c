//! The per-connection TLS state machine: record framing across TCP segments,
//! handshake reassembly and parsing, key installation, decryption, turns.

use std::mem;
use std::sync::Arc;

use tls_parser::{
    TlsExtension, TlsMessage, TlsMessageHandshake, parse_tls_client_hello_extensions,
    parse_tls_extensions, parse_tls_message_handshake, parse_tls_server_hello_extensions,
};

use crate::tcp::StreamEvent;
use crate::tls::crypto::{self, HashAlg, OpenError, Opened, RecordKey, Suite};
use crate::tls::facts::{
    AlertFact, Anomaly, CloseNotify, LastTurn, MAX_ANOMALIES, MinMax, TlsFacts, alert_level,
    alert_name, version_name,
};
use crate::tls::keylog::{KeyLog, Secrets};
use crate::types::{At, Dir, Role};

/// Largest record body accepted: 2^14 plaintext plus 2048 of expansion
/// (RFC 5246 section 6.2.3; TLS 1.3 allows 2^14 + 256).
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Largest handshake message buffered for parsing (ClientHello,
/// ServerHello, EncryptedExtensions, KeyUpdate); other messages
/// (certificates...) are skipped by length whatever their size.
pub const MAX_HANDSHAKE_MSG: usize = 64 * 1024;
/// 0-RTT plaintext held until the server's EncryptedExtensions says
/// whether it was accepted.
pub const MAX_EARLY_BUFFER: usize = 64 * 1024;
/// ALPN protocols remembered from a ClientHello.
const MAX_ALPN: usize = 16;
/// Longest SNI / ALPN name kept.
const MAX_NAME: usize = 255;

/// The TLS 1.3 HelloRetryRequest ServerHello.random (RFC 8446 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Content types.
const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APP: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

/// TLS 1.3 ciphertext length of an unpadded alert: 2 + 1 (type) + 16 (tag).
const TLS13_ALERT_LEN: usize = 19;
/// TLS 1.3 ciphertext length of an unpadded EndOfEarlyData: 4 + 1 + 16.
const TLS13_EOED_LEN: usize = 21;
/// TLS 1.3 ciphertext length of an unpadded KeyUpdate: 4 + 1 + 1 + 16.
const TLS13_KEY_UPDATE_LEN: usize = 22;

/// Decrypted application data, in stream order per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainEvent<'a> {
    /// The next plaintext bytes.
    Data(&'a [u8]),
    /// This many plaintext bytes are missing (a record lost to a capture
    /// gap or one that would not decrypt); the length is exact for lost
    /// records (ciphertext minus the AEAD overhead, TLS 1.3 padding
    /// included).
    Gap(u64),
    /// No more plaintext in this direction: close_notify, or the TCP stream
    /// ended (FIN, RST, end of capture).
    End,
}

/// The callback receiving plaintext.
pub type PlainSink<'s> = dyn FnMut(Dir, PlainEvent<'_>, At) + 's;

/// Record framing of one direction.
#[derive(Default)]
struct Framer {
    hdr: [u8; 5],
    hdr_len: usize,
    in_body: bool,
    len: usize,
    need: usize,
    collect: bool,
    lost: bool,
    body: Vec<u8>,
    start: At,
    dead: bool,
}

/// Handshake message reassembly of one direction.
#[derive(Default)]
struct HsBuf {
    hdr: [u8; 4],
    hdr_len: usize,
    ty: u8,
    need: usize,
    keep: bool,
    msg: Vec<u8>,
}

/// A completed handshake message (its type; the message bytes, header
/// included, are in `HsBuf::msg` when kept).
struct HsDone {
    ty: u8,
    kept: bool,
    too_large: Option<usize>,
}

impl HsBuf {
    fn reset(&mut self) {
        self.hdr_len = 0;
        self.need = 0;
        self.keep = false;
        self.msg.clear();
    }

    /// Consumes bytes until a message completes (returned) or input ends.
    fn step(&mut self, data: &mut &[u8]) -> Option<HsDone> {
        loop {
            if self.hdr_len < 4 {
                if data.is_empty() {
                    return None;
                }
                let take = (4 - self.hdr_len).min(data.len());
                let (h, rest) = data.split_at_checked(take)?;
                self.hdr
                    .get_mut(self.hdr_len..self.hdr_len + take)?
                    .copy_from_slice(h);
                self.hdr_len += take;
                *data = rest;
                if self.hdr_len < 4 {
                    return None;
                }
                self.ty = self.hdr[0];
                let len = u32::from_be_bytes([0, self.hdr[1], self.hdr[2], self.hdr[3]]) as usize;
                self.need = len;
                let wanted = matches!(self.ty, 1 | 2 | 8 | 24);
                let mut too_large = None;
                self.keep = wanted && len + 4 <= MAX_HANDSHAKE_MSG;
                if wanted && !self.keep {
                    too_large = Some(len);
                }
                self.msg.clear();
                if self.keep {
                    self.msg.extend_from_slice(&self.hdr);
                }
                if len == 0 {
                    self.hdr_len = 0;
                    return Some(HsDone {
                        ty: self.ty,
                        kept: self.keep,
                        too_large,
                    });
                }
                if too_large.is_some() {
                    // Report at completion; keep skipping.
                    self.keep = false;
                }
                continue;
            }
            if data.is_empty() {
                return None;
            }
            let n = self.need.min(data.len());
            let (b, rest) = data.split_at_checked(n)?;
            if self.keep {
                self.msg.extend_from_slice(b);
            }
            self.need -= n;
            *data = rest;
            if self.need == 0 {
                self.hdr_len = 0;
                let len = u32::from_be_bytes([0, self.hdr[1], self.hdr[2], self.hdr[3]]) as usize;
                let wanted = matches!(self.ty, 1 | 2 | 8 | 24);
                return Some(HsDone {
                    ty: self.ty,
                    kept: self.keep,
                    too_large: (wanted && !self.keep).then_some(len),
                });
            }
        }
    }
}

/// 0-RTT decryption state (client direction).
enum Early {
    /// No 0-RTT keys (not offered, no key log line, or over).
    None,
    /// Keys for each offered TLS 1.3 suite whose hash fits the secret; the
    /// first record that opens picks one.
    Candidates(Vec<RecordKey>),
    /// The key that opened the early records.
    Fixed(RecordKey),
}

/// One direction's state.
#[derive(Default)]
struct Side {
    framer: Framer,
    hs: HsBuf,
    /// Current read key.
    key: Option<RecordKey>,
    /// TLS 1.2: installed at this side's ChangeCipherSpec. TLS 1.3: the
    /// application traffic key installed after this side's Finished.
    next_key: Option<RecordKey>,
    /// TLS 1.2: this side sent ChangeCipherSpec.
    ccs: bool,
    /// This side's Finished was seen (or, without keys, estimated).
    finished: bool,
    /// This side sent close_notify.
    close_notify: bool,
    data_after_close_noted: bool,
    /// Plaintext was delivered for this direction.
    plain_started: bool,
    /// `End` was delivered.
    ended: bool,
    /// Decryption stopped for this side (bad tag, gap, renegotiation).
    decrypt_off: bool,
    /// Records that opened with the current key generation.
    opened: u64,
    /// TLS 1.3 server: encrypted records after the ServerHello.
    flight_records: u64,
}

/// Turn tracking.
#[derive(Default)]
struct Turns {
    last: Option<Role>,
    count: u64,
    client_last: Option<At>,
    server_last: Option<At>,
    idle_min: Option<f64>,
    idle_max: Option<f64>,
}

/// The TLS engine of one connection. Feed it the TCP layer's stream events
/// with [`TlsSession::on_event`]; it reports what it learns in
/// [`TlsSession::facts`] and hands decrypted application data to the
/// callback.
pub struct TlsSession {
    keys: Option<Arc<KeyLog>>,
    sides: [Side; 2],
    facts: TlsFacts,
    anomalies: Vec<Anomaly>,
    anomaly_count: u64,
    client_random: Option<[u8; 32]>,
    ch_session_id: Option<([u8; 32], usize)>,
    ch_ticket: bool,
    ch_count: u32,
    ch_suites13: Vec<u16>,
    sh_seen: bool,
    tls13: bool,
    suite: Option<Suite>,
    cipher_id: u16,
    secrets: Option<Secrets>,
    server_full_handshake: bool,
    early: Early,
    early_buf: Vec<u8>,
    early_buf_lost: u64,
    early_done: bool,
    early_undecryptable_noted: bool,
    /// The first record was not a hello (application data, a
    /// ChangeCipherSpec, another handshake message, an alert longer than a
    /// plaintext one): the capture began after the hellos, so every record
    /// but ChangeCipherSpec is taken as protected.
    mid_stream: bool,
    /// The first record was seen (`mid_stream` is decided).
    first_record_seen: bool,
    /// `mid_stream`: a protected client record was seen.
    mid_client_seen: bool,
    /// `mid_stream`, and the piece shows it began inside the handshake:
    /// its first record was a ChangeCipherSpec or a handshake message, or
    /// the client sent a ChangeCipherSpec before any protected record (TLS
    /// 1.3 middlebox compatibility puts one just before its Finished).
    mid_in_handshake: bool,
    /// Plaintext bytes of 0-RTT records that were not decrypted.
    early_unread: u64,
    scratch: Vec<u8>,
    turns: Turns,
    finished: bool,
}

impl TlsSession {
    /// A session for one connection. `keys` is the merged key log of the
    /// run, if any.
    pub fn new(keys: Option<Arc<KeyLog>>) -> TlsSession {
        TlsSession {
            keys,
            sides: [Side::default(), Side::default()],
            facts: TlsFacts::new(),
            anomalies: Vec::new(),
            anomaly_count: 0,
            client_random: None,
            ch_session_id: None,
            ch_ticket: false,
            ch_count: 0,
            ch_suites13: Vec::new(),
            sh_seen: false,
            tls13: false,
            suite: None,
            cipher_id: 0,
            secrets: None,
            server_full_handshake: false,
            early: Early::None,
            early_buf: Vec::new(),
            early_buf_lost: 0,
            early_done: false,
            early_undecryptable_noted: false,
            mid_stream: false,
            first_record_seen: false,
            mid_client_seen: false,
            mid_in_handshake: false,
            early_unread: 0,
            scratch: Vec::new(),
            turns: Turns::default(),
            finished: false,
        }
    }

    /// What the session showed so far (final after [`TlsSession::finish`]).
    pub fn facts(&self) -> &TlsFacts {
        &self.facts
    }

    /// The anomalies kept (at most [`MAX_ANOMALIES`]).
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    /// All anomalies counted, including those not kept.
    pub fn anomaly_count(&self) -> u64 {
        self.anomaly_count
    }

    /// The ClientHello random, once seen (the key log key).
    pub fn client_random(&self) -> Option<&[u8; 32]> {
        self.client_random.as_ref()
    }

    /// One TCP stream event of direction `dir`, in stream order.
    pub fn on_event(&mut self, dir: Dir, ev: StreamEvent<'_>, at: At, plain: &mut PlainSink<'_>) {
        match ev {
            StreamEvent::Data(d) => self.feed(dir, d, at, plain),
            StreamEvent::Gap(n) => self.gap(dir, n, at, plain),
            StreamEvent::Fin | StreamEvent::Reset => self.end_dir(dir, at, plain),
        }
    }

    /// The connection is over: ends both plaintext streams and settles the
    /// handshake outcome and the last turn. Idempotent.
    pub fn finish(&mut self, at: At, plain: &mut PlainSink<'_>) {
        if self.finished {
            return;
        }
        self.finished = true;
        for dir in [Dir::ToServer, Dir::ToClient] {
            let side = &mut self.sides[dir.index()];
            if (side.framer.hdr_len > 0 || side.framer.in_body) && !side.framer.dead {
                let by = Some(dir.sender());
                self.anomaly(
                    crate::anomaly::AnomalyKind::TlsTruncated,
                    at,
                    by,
                    "stream ended inside a record".into(),
                );
            }
            self.deliver_end(dir, at, plain);
        }
        if self.facts.handshake == "in_progress" {
            self.facts.handshake = if self.ch_count == 0 && !self.sh_seen {
                "not_seen"
            } else {
                "abandoned"
            };
        }
        if self.facts.decrypt_error.is_none() && !self.facts.decrypted {
            self.facts.decrypt_error = Some(if self.keys.is_none() {
                "no_keys"
            } else if !self.sh_seen {
                "no_server_hello"
            } else {
                "no_keys"
            });
        }
        if let (Some(client_last_at), true) = (self.turns.client_last, self.turns.count > 0) {
            let answered =
                self.turns.last == Some(Role::Server) && self.turns.server_last.is_some();
            self.facts.last_turn = Some(LastTurn {
                answered,
                client_last: client_last_at.ts.as_secs_f64(),
                server_last: self.turns.server_last.map(|a| a.ts.as_secs_f64()),
                client_last_at,
                server_last_at: self.turns.server_last,
            });
        }
        if let (Some(min), Some(max)) = (self.turns.idle_min, self.turns.idle_max) {
            self.facts.idle_between_turns = Some(MinMax { min, max });
        }
    }

    fn anomaly(
        &mut self,
        kind: crate::anomaly::AnomalyKind,
        at: At,
        by: Option<Role>,
        detail: String,
    ) {
        self.anomaly_count += 1;
        if self.anomalies.len() < MAX_ANOMALIES {
            self.anomalies.push(Anomaly {
                kind,
                at,
                by,
                detail,
            });
        }
    }

    // ---- framing ------------------------------------------------------

    fn feed(&mut self, dir: Dir, mut data: &[u8], at: At, plain: &mut PlainSink<'_>) {
        let i = dir.index();
        while !data.is_empty() {
            let f = &mut self.sides[i].framer;
            if f.dead {
                return;
            }
            if !f.in_body {
                let take = (5 - f.hdr_len).min(data.len());
                let Some((h, rest)) = data.split_at_checked(take) else {
                    return;
                };
                if let Some(dst) = f.hdr.get_mut(f.hdr_len..f.hdr_len + take) {
                    dst.copy_from_slice(h);
                }
                f.hdr_len += take;
                data = rest;
                if f.hdr_len < 5 {
                    return;
                }
                let hdr = f.hdr;
                let ty = hdr[0];
                let len = u16::from_be_bytes([hdr[3], hdr[4]]) as usize;
                if !(CT_CCS..=CT_HEARTBEAT).contains(&ty) || hdr[1] != 3 || hdr[2] > 4 {
                    f.dead = true;
                    self.anomaly(
                        crate::anomaly::AnomalyKind::TlsBadRecord,
                        at,
                        Some(dir.sender()),
                        format!("record header {:02x} {:02x} {:02x}", hdr[0], hdr[1], hdr[2]),
                    );
                    self.stop_plain(dir, at, plain, "stream_gap");
                    return;
                }
                if len > MAX_RECORD_LEN {
                    f.dead = true;
                    self.anomaly(
                        crate::anomaly::AnomalyKind::TlsRecordTooLarge,
                        at,
                        Some(dir.sender()),
                        format!("record of {len} bytes, type {ty}"),
                    );
                    self.stop_plain(dir, at, plain, "stream_gap");
                    return;
                }
                let collect = ty != CT_APP || self.may_decrypt(dir);
                let f = &mut self.sides[i].framer;
                f.in_body = true;
                f.len = len;
                f.need = len;
                f.collect = collect;
                f.lost = false;
                f.start = at;
                f.body.clear();
                if len == 0 {
                    self.complete_record(dir, at, plain);
                }
            } else {
                let n = f.need.min(data.len());
                let Some((b, rest)) = data.split_at_checked(n) else {
                    return;
                };
                if f.collect && !f.lost {
                    f.body.extend_from_slice(b);
                }
                f.need -= n;
                data = rest;
                if f.need == 0 {
                    self.complete_record(dir, at, plain);
                }
            }
        }
    }

    fn gap(&mut self, dir: Dir, n: u64, at: At, plain: &mut PlainSink<'_>) {
        let i = dir.index();
        let f = &mut self.sides[i].framer;
        if f.dead {
            return;
        }
        let by = Some(dir.sender());
        if f.in_body && n <= f.need as u64 {
            f.need -= n as usize;
            f.lost = true;
            self.anomaly(
                crate::anomaly::AnomalyKind::TlsGap,
                at,
                by,
                format!("{n} bytes lost inside a record"),
            );
            if self.sides[i].framer.need == 0 {
                self.complete_record(dir, at, plain);
            }
        } else {
            f.dead = true;
            self.anomaly(
                crate::anomaly::AnomalyKind::TlsGap,
                at,
                by,
                format!("{n} bytes lost across records: framing lost"),
            );
            if self.sides[i].plain_started || self.sides[i].key.is_some() {
                plain(dir, PlainEvent::Gap(n), at);
            }
            self.stop_plain(dir, at, plain, "stream_gap");
        }
    }

    fn end_dir(&mut self, dir: Dir, at: At, plain: &mut PlainSink<'_>) {
        let f = &mut self.sides[dir.index()].framer;
        if (f.hdr_len > 0 || f.in_body) && !f.dead {
            f.dead = true;
            self.anomaly(
                crate::anomaly::AnomalyKind::TlsTruncated,
                at,
                Some(dir.sender()),
                "stream ended inside a record".into(),
            );
        }
        self.sides[dir.index()].framer.dead = true;
        self.deliver_end(dir, at, plain);
    }

    fn deliver_end(&mut self, dir: Dir, at: At, plain: &mut PlainSink<'_>) {
        let side = &mut self.sides[dir.index()];
        if side.plain_started && !side.ended {
            side.ended = true;
            plain(dir, PlainEvent::End, at);
        }
    }

    /// Decryption of this direction ends here (framing lost): the plaintext
    /// stream gets its end.
    fn stop_plain(&mut self, dir: Dir, at: At, plain: &mut PlainSink<'_>, why: &'static str) {
        let side = &mut self.sides[dir.index()];
        let had = side.key.is_some() || side.plain_started;
        side.key = None;
        side.next_key = None;
        side.decrypt_off = true;
        if had && self.facts.decrypt_error.is_none() {
            self.facts.decrypt_error = Some(why);
        }
        self.deliver_end(dir, at, plain);
    }

    fn may_decrypt(&self, dir: Dir) -> bool {
        let side = &self.sides[dir.index()];
        if side.decrypt_off {
            return false;
        }
        side.key.is_some()
            || (dir == Dir::ToServer && !matches!(self.early, Early::None) && !self.early_done)
    }

    fn complete_record(&mut self, dir: Dir, end: At, plain: &mut PlainSink<'_>) {
        let i = dir.index();
        let f = &mut self.sides[i].framer;
        f.in_body = false;
        f.hdr_len = 0;
        let hdr = f.hdr;
        let len = f.len;
        let start = f.start;
        let lost = f.lost;
        let collected = f.collect;
        let mut body = mem::take(&mut f.body);
        if lost {
            self.lost_record(dir, hdr, len, start, end, plain);
        } else {
            let body_opt = if collected { Some(&mut body[..]) } else { None };
            self.record(dir, hdr, len, body_opt, start, end, plain);
        }
        body.clear();
        if body.capacity() > MAX_RECORD_LEN + 64 {
            body = Vec::new();
        }
        self.sides[i].framer.body = body;
    }

    // ---- records ------------------------------------------------------

    fn encrypted(&self, dir: Dir, ty: u8) -> bool {
        let side = &self.sides[dir.index()];
        if self.mid_stream {
            ty != CT_CCS
        } else if self.tls13 {
            ty == CT_APP
        } else if self.sh_seen {
            side.ccs && ty != CT_CCS
        } else {
            // Before the ServerHello: only 0-RTT data is protected.
            ty == CT_APP && dir == Dir::ToServer && self.facts.early_data.offered
        }
    }

    fn lost_record(
        &mut self,
        dir: Dir,
        hdr: [u8; 5],
        len: usize,
        start: At,
        end: At,
        plain: &mut PlainSink<'_>,
    ) {
        let i = dir.index();
        let ty = hdr[0];
        let enc = self.encrypted(dir, ty);
        if let Some(k) = self.sides[i].key.as_mut()
            && enc
        {
            k.skip_record();
        }
        if ty == CT_HANDSHAKE || (self.tls13 && !self.sides[i].finished) {
            self.sides[i].hs.reset();
        }
        if ty == CT_APP && (self.handshake_done() || !self.sh_seen) {
            self.app_record(dir.sender(), len, start, end);
            if self.sides[i].plain_started || self.sides[i].key.is_some() {
                let overhead = self.overhead();
                plain(
                    dir,
                    PlainEvent::Gap(len.saturating_sub(overhead) as u64),
                    end,
                );
            }
        }
    }

    fn overhead(&self) -> usize {
        match self.suite {
            Some(s) if s.tls13 => crypto::TAG_LEN + 1,
            Some(s) if s.aead == crypto::AeadAlg::ChaCha20Poly1305 => crypto::TAG_LEN,
            Some(_) => crypto::TAG_LEN + crypto::GCM_EXPLICIT_LEN,
            None => 0,
        }
    }

    fn handshake_done(&self) -> bool {
        self.facts.handshake == "complete"
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        dir: Dir,
        hdr: [u8; 5],
        len: usize,
        body: Option<&mut [u8]>,
        start: At,
        end: At,
        plain: &mut PlainSink<'_>,
    ) {
        let i = dir.index();
        let role = dir.sender();
        let ty = hdr[0];
        if self.sides[i].close_notify && !self.sides[i].data_after_close_noted {
            self.sides[i].data_after_close_noted = true;
            self.anomaly(
                crate::anomaly::AnomalyKind::TlsDataAfterClose,
                start,
                Some(role),
                format!("record type {ty} after close_notify"),
            );
        }
        if !self.first_record_seen {
            self.first_record_seen = true;
            // A handshake begins with a ClientHello (or, if the capture
            // missed it, a ServerHello). A plaintext alert is 2 bytes
            // (level, description); a protected one is longer (tag,
            // explicit nonce). ChangeCipherSpec or a handshake record of
            // another message: the hellos were before the capture.
            let hello = body
                .as_deref()
                .and_then(|b| b.first())
                .is_some_and(|&t| t == 1 || t == 2);
            self.mid_stream = match ty {
                CT_HANDSHAKE => !hello,
                CT_ALERT => len != 2,
                CT_APP | CT_CCS => true,
                _ => false,
            };
            self.mid_in_handshake = self.mid_stream && matches!(ty, CT_HANDSHAKE | CT_CCS);
        }
        if ty == CT_CCS {
            if self.mid_stream && role == Role::Client && !self.mid_client_seen {
                self.mid_in_handshake = true;
            }
            self.change_cipher_spec(dir);
            return;
        }
        if self.encrypted(dir, ty) {
            self.encrypted_record(dir, hdr, len, body, start, end, plain);
            return;
        }
        match ty {
            CT_ALERT => {
                if let Some(b) = body {
                    let b: &[u8] = b;
                    for a in b.chunks_exact(2) {
                        if let [level, desc] = *a {
                            self.alert(role, level, desc, false, end, plain);
                        }
                    }
                }
            }
            CT_HANDSHAKE => {
                if let Some(b) = body {
                    let b: &[u8] = b;
                    self.handshake_bytes(dir, b, end, plain);
                }
            }
            CT_APP => {
                // Application data before any ServerHello we saw: the
                // capture started after the handshake.
                self.app_record(role, len, start, end);
            }
            _ => {}
        }
    }

    fn change_cipher_spec(&mut self, dir: Dir) {
        if self.tls13 || !self.sh_seen {
            // TLS 1.3 middlebox-compatibility CCS, or a stray one.
            return;
        }
        let side = &mut self.sides[dir.index()];
        if side.ccs {
            return;
        }
        side.ccs = true;
        side.key = side.next_key.take();
        if dir == Dir::ToClient && !self.server_full_handshake && self.facts.resumed == Some(false)
        {
            // A server CCS right after its ServerHello: the abbreviated
            // handshake of a resumption (RFC 5077 ticket without an echoed
            // session id).
            self.facts.resumed = Some(true);
            self.facts.resumed_how = Some(if self.ch_ticket {
                "ticket"
            } else {
                "session_id"
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn encrypted_record(
        &mut self,
        dir: Dir,
        hdr: [u8; 5],
        len: usize,
        body: Option<&mut [u8]>,
        start: At,
        end: At,
        plain: &mut PlainSink<'_>,
    ) {
        if let Some(body) = body {
            match self.open(dir, &hdr, body, start) {
                Ok(Some((opened, early))) => {
                    self.facts.decrypted = true;
                    let range = opened.start..opened.start + opened.len;
                    let pt: &[u8] = body.get(range).unwrap_or(&[]);
                    self.inner(dir, opened.content_type, pt, len, early, start, end, plain);
                    return;
                }
                Ok(None) => {
                    // Skipped (rejected 0-RTT).
                    return;
                }
                Err(()) => {}
            }
        }
        self.opaque(dir, hdr[0], len, start, end, plain);
    }

    /// Opens a protected record with the right key. `Ok(None)`: a record
    /// deliberately skipped; `Err`: no key or it did not open (the record is
    /// then read as opaque).
    fn open(
        &mut self,
        dir: Dir,
        hdr: &[u8; 5],
        body: &mut [u8],
        at: At,
    ) -> Result<Option<(Opened, bool)>, ()> {
        let i = dir.index();
        if self.sides[i].decrypt_off {
            return Err(());
        }
        // 0-RTT: the client's records before its EndOfEarlyData.
        if dir == Dir::ToServer && !self.early_done && !matches!(self.early, Early::None) {
            let mut scratch = mem::take(&mut self.scratch);
            let mut picked = None;
            match &self.early {
                Early::Fixed(k) => {
                    if k.would_open(hdr, body, &mut scratch) {
                        picked = Some(usize::MAX);
                    }
                }
                Early::Candidates(ks) => {
                    picked = ks
                        .iter()
                        .position(|k| k.would_open(hdr, body, &mut scratch));
                }
                Early::None => {}
            }
            self.scratch = scratch;
            if let Some(p) = picked {
                if p != usize::MAX
                    && let Early::Candidates(ks) = mem::replace(&mut self.early, Early::None)
                {
                    let mut ks = ks;
                    if p < ks.len() {
                        self.early = Early::Fixed(ks.swap_remove(p));
                    }
                }
                if let Early::Fixed(k) = &mut self.early
                    && let Ok(o) = k.open(hdr, body)
                {
                    return Ok(Some((o, true)));
                }
                return Err(());
            }
            // Not an early record: the handshake key's turn (below), unless
            // there is none yet.
            if self.sides[i].key.is_none() {
                if !self.early_undecryptable_noted {
                    self.early_undecryptable_noted = true;
                    self.anomaly(
                        crate::anomaly::AnomalyKind::TlsDecryptFailed,
                        at,
                        Some(Role::Client),
                        "0-RTT record does not open with CLIENT_EARLY_TRAFFIC_SECRET".into(),
                    );
                }
                return Err(());
            }
        }
        let Some(key) = self.sides[i].key.as_mut() else {
            return Err(());
        };
        let result = key.open(hdr, body);
        let seq = key.seq();
        match result {
            Ok(o) => {
                self.sides[i].opened += 1;
                if dir == Dir::ToServer && !matches!(self.early, Early::None) {
                    // The handshake key works: 0-RTT is over.
                    self.early_done = true;
                    self.early = Early::None;
                }
                Ok(Some((o, false)))
            }
            Err(e) => {
                let side = &self.sides[i];
                if dir == Dir::ToServer
                    && self.tls13
                    && self.facts.early_data.offered
                    && !side.finished
                    && side.opened == 0
                {
                    // A 0-RTT record (or EndOfEarlyData) under the early key
                    // we do not have: skipped. Rejected 0-RTT is skipped by
                    // the server too; accepted 0-RTT leaves a hole.
                    let accepted = self.facts.early_data.accepted == Some(true);
                    if body.len() != TLS13_EOED_LEN {
                        self.facts.early_data.records += 1;
                    }
                    if !self.early_undecryptable_noted {
                        self.early_undecryptable_noted = true;
                        let (kind, why) = if accepted {
                            (
                                crate::anomaly::AnomalyKind::TlsDecryptFailed,
                                "accepted 0-RTT record without CLIENT_EARLY_TRAFFIC_SECRET skipped",
                            )
                        } else {
                            (
                                crate::anomaly::AnomalyKind::TlsEarlyDataRejected,
                                "0-RTT record skipped: it does not open with the handshake key",
                            )
                        };
                        self.anomaly(kind, at, Some(Role::Client), why.into());
                    }
                    return Ok(None);
                }
                let why = match e {
                    OpenError::BadTag => "authentication tag mismatch",
                    OpenError::TooShort => "record shorter than the AEAD overhead",
                    OpenError::NoInnerType => "no inner content type",
                };
                self.anomaly(
                    crate::anomaly::AnomalyKind::TlsDecryptFailed,
                    at,
                    Some(dir.sender()),
                    format!("{why} (record {seq} of this key)"),
                );
                let side = &mut self.sides[i];
                side.key = None;
                side.next_key = None;
                side.decrypt_off = true;
                if self.facts.decrypt_error.is_none() || self.facts.decrypted {
                    self.facts.decrypt_error = Some("bad_keys");
                }
                Err(())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn inner(
        &mut self,
        dir: Dir,
        ct: u8,
        pt: &[u8],
        len: usize,
        early: bool,
        start: At,
        end: At,
        plain: &mut PlainSink<'_>,
    ) {
        let role = dir.sender();
        match ct {
            CT_HANDSHAKE => self.handshake_bytes(dir, pt, end, plain),
            CT_ALERT => {
                for a in pt.chunks_exact(2) {
                    if let [level, desc] = *a {
                        self.alert(role, level, desc, true, end, plain);
                    }
                }
            }
            CT_APP => {
                self.app_record(role, len, start, end);
                if early {
                    self.facts.early_data.records += 1;
                    match self.facts.early_data.accepted {
                        Some(true) => self.deliver(dir, pt, end, plain),
                        Some(false) => {}
                        None => {
                            let room = MAX_EARLY_BUFFER.saturating_sub(self.early_buf.len());
                            let n = room.min(pt.len());
                            self.early_buf.extend_from_slice(pt.get(..n).unwrap_or(&[]));
                            self.early_buf_lost += (pt.len() - n) as u64;
                        }
                    }
                } else {
                    self.deliver(dir, pt, end, plain);
                }
            }
            _ => {}
        }
    }

    fn deliver(&mut self, dir: Dir, pt: &[u8], at: At, plain: &mut PlainSink<'_>) {
        let side = &mut self.sides[dir.index()];
        if side.ended {
            return;
        }
        side.plain_started = true;
        *self.facts.plaintext_bytes.get_mut(dir.sender()) += pt.len() as u64;
        if !pt.is_empty() {
            plain(dir, PlainEvent::Data(pt), at);
        }
    }

    /// A protected record that was not decrypted: classified by its type,
    /// size and place.
    fn opaque(
        &mut self,
        dir: Dir,
        ty: u8,
        len: usize,
        start: At,
        end: At,
        plain: &mut PlainSink<'_>,
    ) {
        let i = dir.index();
        let role = dir.sender();
        if self.sides[i].plain_started {
            // Decryption stopped: the plaintext stream has a hole.
            let overhead = self.overhead();
            if ty == CT_APP || self.tls13 {
                plain(
                    dir,
                    PlainEvent::Gap(len.saturating_sub(overhead) as u64),
                    end,
                );
            }
        }
        if self.mid_stream {
            self.opaque_mid_stream(role, ty, len, start, end);
            return;
        }
        if !self.tls13 {
            if !self.sh_seen {
                // 0-RTT before the ServerHello (not decrypted): the client's
                // data all the same.
                if role == Role::Client && self.facts.early_data.offered {
                    self.facts.early_data.records += 1;
                    self.early_unread += len.saturating_sub(crypto::TAG_LEN + 1) as u64;
                }
                self.app_record(role, len, start, end);
                return;
            }
            match ty {
                CT_HANDSHAKE if !self.sides[i].finished => {
                    self.sides[i].finished = true;
                    self.check_complete();
                }
                CT_ALERT => {
                    if self.handshake_done() {
                        self.note_close_notify(role, true);
                    } else {
                        self.handshake_failed_encrypted(role);
                    }
                }
                CT_APP => self.app_record(role, len, start, end),
                _ => {}
            }
            return;
        }
        // TLS 1.3: every protected record is type 23.
        match role {
            Role::Client => {
                if !self.sh_seen {
                    self.facts.early_data.records += 1;
                    self.early_unread += len.saturating_sub(crypto::TAG_LEN + 1) as u64;
                    self.app_record(role, len, start, end);
                } else if !self.sides[i].finished {
                    if len == TLS13_ALERT_LEN {
                        self.handshake_failed_encrypted(role);
                    } else if self.facts.early_data.offered
                        && self.facts.early_data.accepted.is_none()
                        && len == TLS13_EOED_LEN
                    {
                        // EndOfEarlyData: the server accepted 0-RTT.
                        self.facts.early_data.accepted = Some(true);
                    } else {
                        self.sides[i].finished = true;
                        let server = &mut self.sides[Dir::ToClient.index()];
                        if server.flight_records > 0 {
                            // The server's flight was over, whatever its
                            // records' sizes.
                            server.finished = true;
                        }
                        if self.facts.early_data.offered && self.facts.early_data.accepted.is_none()
                        {
                            self.facts.early_data.accepted = Some(false);
                        }
                        self.check_complete();
                    }
                } else if len == TLS13_ALERT_LEN {
                    self.note_close_notify(role, true);
                } else if len == TLS13_KEY_UPDATE_LEN {
                    // KeyUpdate, most likely: no application data.
                } else {
                    self.app_record(role, len, start, end);
                }
            }
            Role::Server => {
                let client_finished = self.sides[Dir::ToServer.index()].finished;
                if !client_finished && !self.sides[i].finished {
                    // The server's flight: EncryptedExtensions ...
                    // Finished, one record each with OpenSSL and most
                    // stacks. A record of exactly the Finished size after
                    // at least one other ends it; what follows before the
                    // client's Finished is 0.5-RTT data (answers to 0-RTT).
                    self.sides[i].flight_records += 1;
                    let n = self.sides[i].flight_records;
                    if len == TLS13_ALERT_LEN && n == 1 {
                        self.handshake_failed_encrypted(role);
                    } else if n >= 2 && len == self.finished_record_len() {
                        self.sides[i].finished = true;
                    }
                } else if len == TLS13_ALERT_LEN {
                    self.note_close_notify(role, true);
                } else if len == TLS13_KEY_UPDATE_LEN || self.turns.count == 0 {
                    // NewSessionTicket (or another post-handshake message)
                    // before the first request: not a turn.
                } else {
                    self.app_record(role, len, start, end);
                }
            }
        }
    }

    /// A protected record of a session whose handshake came before the
    /// capture: the version is not known, so the sizes of TLS 1.3's
    /// protected alert and KeyUpdate (which a TLS 1.2 AEAD record of
    /// application data cannot have, bar ChaCha20 with 3 or 6 bytes) say
    /// what a type-23 record is, as after a handshake seen.
    fn opaque_mid_stream(&mut self, role: Role, ty: u8, len: usize, start: At, end: At) {
        match ty {
            CT_ALERT => self.note_close_notify(role, true),
            CT_APP if len == TLS13_ALERT_LEN => self.note_close_notify(role, true),
            CT_APP if len == TLS13_KEY_UPDATE_LEN => {}
            // TLS 1.3 cut inside its handshake (the piece shows it): the
            // client's first record of the size of a Finished (a SHA-256 or
            // SHA-384 suite's) is taken for its Finished, no request.
            CT_APP
                if role == Role::Client
                    && self.mid_in_handshake
                    && self.turns.count == 0
                    && !self.mid_client_seen
                    && (len == 4 + 32 + 1 + crypto::TAG_LEN
                        || len == 4 + 48 + 1 + crypto::TAG_LEN) =>
            {
                self.mid_client_seen = true;
            }
            CT_APP => {
                if role == Role::Client {
                    self.mid_client_seen = true;
                }
                self.app_record(role, len, start, end)
            }
            // A protected handshake message (renegotiation, a
            // post-handshake message): no application data.
            _ => {}
        }
    }

    /// TLS 1.3: ciphertext length of an unpadded Finished record
    /// (4-byte header + verify_data of the hash length + type + tag).
    fn finished_record_len(&self) -> usize {
        let hash = if self.cipher_id == 0x1302 { 48 } else { 32 };
        4 + hash + 1 + crypto::TAG_LEN
    }

    fn handshake_failed_encrypted(&mut self, by: Role) {
        if self.facts.handshake == "in_progress" {
            self.facts.handshake = "failed";
            self.facts.alert = Some(AlertFact {
                level: "unknown",
                description: "encrypted",
                by,
            });
        }
    }

    fn note_close_notify(&mut self, by: Role, estimated: bool) {
        self.sides[by.sends().index()].close_notify = true;
        match &mut self.facts.close_notify {
            Some(c) => {
                if c.by != by {
                    c.both = true;
                }
                c.estimated &= estimated;
            }
            None => {
                self.facts.close_notify = Some(CloseNotify {
                    by,
                    both: false,
                    estimated,
                })
            }
        }
    }

    fn alert(
        &mut self,
        by: Role,
        level: u8,
        desc: u8,
        decrypted: bool,
        at: At,
        plain: &mut PlainSink<'_>,
    ) {
        let _ = decrypted;
        if desc == 0 {
            self.note_close_notify(by, false);
            self.deliver_end(by.sends(), at, plain);
            return;
        }
        if level == 1 && desc == 90 {
            // user_canceled: a warning that precedes close_notify.
            return;
        }
        if self.facts.alert.is_none() {
            self.facts.alert = Some(AlertFact {
                level: alert_level(level),
                description: alert_name(desc),
                by,
            });
        }
        if self.facts.handshake == "in_progress" {
            self.facts.handshake = "failed";
        }
    }

    fn app_record(&mut self, role: Role, len: usize, start: At, end: At) {
        *self.facts.records.get_mut(role) += 1;
        *self.facts.bytes.get_mut(role) += len as u64;
        let t = &mut self.turns;
        match role {
            Role::Client => {
                if t.last != Some(Role::Client) {
                    if t.last == Some(Role::Server)
                        && t.count > 0
                        && let Some(sl) = t.server_last
                    {
                        let idle = start.ts.secs_since(sl.ts);
                        t.idle_min = Some(t.idle_min.map_or(idle, |m| m.min(idle)));
                        t.idle_max = Some(t.idle_max.map_or(idle, |m| m.max(idle)));
                    }
                    t.count += 1;
                    t.server_last = None;
                    self.facts.turns = t.count;
                }
                t.client_last = Some(end);
                t.last = Some(Role::Client);
            }
            Role::Server => {
                if t.count > 0 {
                    t.server_last = Some(end);
                } else {
                    self.facts.lead_server_at = Some(end);
                }
                t.last = Some(Role::Server);
            }
        }
    }

    fn check_complete(&mut self) {
        if self.facts.handshake == "in_progress" && self.sides[0].finished && self.sides[1].finished
        {
            self.facts.handshake = "complete";
        }
    }

    // ---- handshake ----------------------------------------------------

    fn handshake_bytes(&mut self, dir: Dir, bytes: &[u8], at: At, plain: &mut PlainSink<'_>) {
        let i = dir.index();
        let mut hs = mem::take(&mut self.sides[i].hs);
        let mut rest = bytes;
        while let Some(done) = hs.step(&mut rest) {
            if let Some(len) = done.too_large {
                self.anomaly(
                    crate::anomaly::AnomalyKind::TlsHandshakeTooLarge,
                    at,
                    Some(dir.sender()),
                    format!("handshake type {} of {len} bytes", done.ty),
                );
            }
            let msg = mem::take(&mut hs.msg);
            let m: &[u8] = if done.kept { &msg } else { &[] };
            self.handshake_message(dir, done.ty, m, at, plain);
            hs.msg = msg;
            hs.msg.clear();
        }
        self.sides[i].hs = hs;
    }

    fn handshake_message(
        &mut self,
        dir: Dir,
        ty: u8,
        msg: &[u8],
        at: At,
        plain: &mut PlainSink<'_>,
    ) {
        let role = dir.sender();
        match (role, ty) {
            (Role::Client, 1) => self.client_hello(msg, at),
            (Role::Server, 2) => self.server_hello(msg, at),
            (Role::Server, 8) => self.encrypted_extensions(msg, at, plain),
            (Role::Server, 11..=14) => self.server_full_handshake = true,
            (_, 20) => self.finished_msg(dir),
            (Role::Client, 5) => {
                // EndOfEarlyData: the client's next records use the
                // handshake key.
                self.early_done = true;
                self.early = Early::None;
                if self.facts.early_data.accepted.is_none() {
                    self.facts.early_data.accepted = Some(true);
                }
            }
            (_, 24) => {
                let side = &mut self.sides[dir.index()];
                if let Some(k) = side.key.as_ref() {
                    side.key = k.updated();
                    side.opened = 0;
                    if side.key.is_none() {
                        side.decrypt_off = true;
                    }
                }
            }
            (Role::Server, 1) | (Role::Client, 2) | (Role::Client, 8) => {
                self.anomaly(
                    crate::anomaly::AnomalyKind::TlsUnexpectedMessage,
                    at,
                    Some(role),
                    format!("handshake type {ty} from the {role}"),
                );
            }
            _ => {}
        }
    }

    fn client_hello(&mut self, msg: &[u8], at: At) {
        self.ch_count += 1;
        if self.ch_count > 1 && !(self.facts.hello_retry && self.ch_count == 2) {
            let kind = if self.handshake_done() {
                crate::anomaly::AnomalyKind::TlsRenegotiation
            } else {
                crate::anomaly::AnomalyKind::TlsUnexpectedMessage
            };
            self.anomaly(kind, at, Some(Role::Client), "another ClientHello".into());
            // Keys change with a new handshake: stop decrypting.
            for s in self.sides.iter_mut() {
                s.key = None;
                s.next_key = None;
                s.decrypt_off = true;
            }
            return;
        }
        let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
            parse_tls_message_handshake(msg)
        else {
            self.anomaly(
                crate::anomaly::AnomalyKind::TlsMalformedHandshake,
                at,
                Some(Role::Client),
                format!("ClientHello of {} bytes does not parse", msg.len()),
            );
            return;
        };
        if self.ch_count == 1 {
            if let Ok(r) = <[u8; 32]>::try_from(ch.random) {
                self.client_random = Some(r);
            }
            if let Some(sid) = ch.session_id
                && !sid.is_empty()
                && sid.len() <= 32
            {
                let mut b = [0u8; 32];
                if let Some(d) = b.get_mut(..sid.len()) {
                    d.copy_from_slice(sid);
                }
                self.ch_session_id = Some((b, sid.len()));
            }
            self.ch_suites13 = ch
                .ciphers
                .iter()
                .map(|c| c.0)
                .filter(|c| (0x1301..=0x1303).contains(c))
                .collect();
        }
        let exts = ch
            .ext
            .and_then(|e| parse_tls_client_hello_extensions(e).ok())
            .map(|(_, v)| v)
            .unwrap_or_default();
        let mut offered = Vec::new();
        let mut early = false;
        for e in &exts {
            match e {
                TlsExtension::SNI(names) => {
                    if let Some((_, n)) = names.iter().find(|(t, _)| t.0 == 0) {
                        self.facts.sni = Some(name(n));
                    }
                }
                TlsExtension::ALPN(protos) => {
                    offered = protos.iter().take(MAX_ALPN).map(|p| name(p)).collect();
                }
                TlsExtension::EarlyData(_) => early = true,
                TlsExtension::SessionTicket(t) if !t.is_empty() => {
                    self.ch_ticket = true;
                }
                _ => {}
            }
        }
        if self.ch_count == 1 {
            self.facts.alpn_offered = offered;
            self.facts.early_data.offered = early;
            self.secrets = match (&self.keys, &self.client_random) {
                (Some(k), Some(r)) => k.lookup(r).cloned(),
                _ => None,
            };
            if early && let Some(es) = self.secrets.as_ref().and_then(|s| s.client_early) {
                let hash = if es.as_bytes().len() == 48 {
                    HashAlg::Sha384
                } else {
                    HashAlg::Sha256
                };
                let ks: Vec<RecordKey> = self
                    .ch_suites13
                    .iter()
                    .filter_map(|&id| crypto::suite(id))
                    .filter(|s| s.hash == hash)
                    .filter_map(|s| RecordKey::tls13(s.aead, s.hash, es.as_bytes()))
                    .collect();
                if !ks.is_empty() {
                    self.early = Early::Candidates(ks);
                }
            }
        }
    }

    fn server_hello(&mut self, msg: &[u8], at: At) {
        let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) =
            parse_tls_message_handshake(msg)
        else {
            self.anomaly(
                crate::anomaly::AnomalyKind::TlsMalformedHandshake,
                at,
                Some(Role::Server),
                format!("ServerHello of {} bytes does not parse", msg.len()),
            );
            return;
        };
        if sh.random == HRR_RANDOM {
            self.facts.hello_retry = true;
            return;
        }
        if self.sh_seen {
            self.anomaly(
                crate::anomaly::AnomalyKind::TlsUnexpectedMessage,
                at,
                Some(Role::Server),
                "a second ServerHello".into(),
            );
            return;
        }
        self.sh_seen = true;
        let exts = sh
            .ext
            .and_then(|e| parse_tls_server_hello_extensions(e).ok())
            .map(|(_, v)| v)
            .unwrap_or_default();
        let mut version = sh.version.0;
        let mut psk = false;
        let mut alpn = None;
        for e in &exts {
            match e {
                TlsExtension::SupportedVersions(v) => {
                    if let Some(v) = v.first() {
                        version = v.0;
                    }
                }
                TlsExtension::PreSharedKey(_) => psk = true,
                TlsExtension::ALPN(p) => alpn = p.first().map(|p| name(p)),
                _ => {}
            }
        }
        self.tls13 = version == 0x0304;
        self.facts.version = Some(version_name(version));
        let id = sh.cipher.0;
        self.cipher_id = id;
        self.facts.cipher = Some(
            tls_parser::TlsCipherSuite::from_id(id)
                .map(|c| c.name)
                .unwrap_or("unknown"),
        );
        if self.tls13 {
            self.facts.resumed = Some(psk);
            self.facts.resumed_how = psk.then_some("psk");
            self.facts.alpn_hidden = true;
            if self.facts.early_data.offered && !psk {
                self.facts.early_data.accepted = Some(false);
                self.drop_early();
            }
        } else {
            let echoed = match (self.ch_session_id, sh.session_id) {
                (Some((b, n)), Some(s)) => b.get(..n) == Some(s),
                _ => false,
            };
            self.facts.resumed = Some(echoed);
            self.facts.resumed_how = echoed.then_some(if self.ch_ticket {
                "ticket"
            } else {
                "session_id"
            });
            self.facts.alpn = alpn;
            if self.facts.early_data.offered {
                self.facts.early_data.accepted = Some(false);
                self.drop_early();
            }
        }
        self.install_keys(id, sh.random);
    }

    fn drop_early(&mut self) {
        self.early_buf.clear();
        self.early_buf = Vec::new();
    }

    fn install_keys(&mut self, id: u16, server_random: &[u8]) {
        if self.keys.is_none() {
            self.facts.decrypt_error = Some("no_keys");
            return;
        }
        let Some(secrets) = self.secrets.clone() else {
            self.facts.decrypt_error = Some("no_keys");
            return;
        };
        let Some(suite) = crypto::suite(id) else {
            self.facts.decrypt_error = Some("unsupported_cipher");
            return;
        };
        if suite.tls13 != self.tls13 {
            self.facts.decrypt_error = Some("unsupported_version");
            return;
        }
        self.suite = Some(suite);
        let (Some(cr), Ok(sr)) = (self.client_random, <[u8; 32]>::try_from(server_random)) else {
            self.facts.decrypt_error = Some("keys_incomplete");
            return;
        };
        if !self.tls13 {
            let Some(master) = secrets.master else {
                self.facts.decrypt_error = Some("no_keys");
                return;
            };
            match crypto::tls12_keys(suite, master.as_bytes(), &cr, &sr) {
                Some((ck, sk)) => {
                    self.sides[Dir::ToServer.index()].next_key = Some(ck);
                    self.sides[Dir::ToClient.index()].next_key = Some(sk);
                }
                None => self.facts.decrypt_error = Some("bad_keys"),
            }
            return;
        }
        let mk = |s: Option<crate::tls::keylog::Secret>| {
            s.and_then(|s| RecordKey::tls13(suite.aead, suite.hash, s.as_bytes()))
        };
        let chs = mk(secrets.client_handshake);
        let shs = mk(secrets.server_handshake);
        let cap = mk(secrets.client_traffic0);
        let sap = mk(secrets.server_traffic0);
        if chs.is_none() || shs.is_none() || cap.is_none() || sap.is_none() {
            self.facts.decrypt_error = Some("keys_incomplete");
        }
        let c = &mut self.sides[Dir::ToServer.index()];
        c.key = chs;
        c.next_key = cap;
        let s = &mut self.sides[Dir::ToClient.index()];
        s.key = shs;
        s.next_key = sap;
    }

    fn encrypted_extensions(&mut self, msg: &[u8], at: At, plain: &mut PlainSink<'_>) {
        // HandshakeType(1) length(3) extensions<0..2^16-1>.
        let exts = msg
            .get(4..)
            .and_then(|b| {
                let n = u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize;
                b.get(2..2 + n)
            })
            .and_then(|e| parse_tls_extensions(e).ok());
        let Some((_, exts)) = exts else {
            self.anomaly(
                crate::anomaly::AnomalyKind::TlsMalformedHandshake,
                at,
                Some(Role::Server),
                format!("EncryptedExtensions of {} bytes does not parse", msg.len()),
            );
            return;
        };
        let mut early = false;
        for e in &exts {
            match e {
                TlsExtension::ALPN(p) => {
                    self.facts.alpn = p.first().map(|p| name(p));
                }
                TlsExtension::EarlyData(_) => early = true,
                _ => {}
            }
        }
        self.facts.alpn_hidden = false;
        if self.facts.early_data.offered {
            self.facts.early_data.accepted = Some(early);
            if early {
                let buf = mem::take(&mut self.early_buf);
                self.deliver(Dir::ToServer, &buf, at, plain);
                let lost = self.early_buf_lost + self.early_unread;
                if lost > 0 && (self.sides[0].key.is_some() || self.sides[0].plain_started) {
                    self.sides[0].plain_started = true;
                    plain(Dir::ToServer, PlainEvent::Gap(lost), at);
                }
                self.early_buf_lost = 0;
                self.early_unread = 0;
            } else {
                self.drop_early();
            }
        }
    }

    fn finished_msg(&mut self, dir: Dir) {
        let side = &mut self.sides[dir.index()];
        side.finished = true;
        if self.tls13 {
            if side.next_key.is_some() {
                side.key = side.next_key.take();
                side.opened = 0;
            } else if side.key.is_some() {
                // No application secret logged: stop here.
                side.key = None;
                side.decrypt_off = true;
                if self.facts.decrypt_error.is_none() {
                    self.facts.decrypt_error = Some("keys_incomplete");
                }
            }
            if dir == Dir::ToServer {
                self.early_done = true;
                self.early = Early::None;
            }
        }
        self.check_complete();
    }
}

/// A protocol or host name as text (lossy, bounded).
fn name(b: &[u8]) -> String {
    let b = b.get(..b.len().min(MAX_NAME)).unwrap_or(&[]);
    String::from_utf8_lossy(b).into_owned()
}
