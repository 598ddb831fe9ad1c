//! The NSS key log format (`SSLKEYLOGFILE`), as written by curl, Firefox,
//! Chromium, Go, Python, Node and OpenSSL, and carried by pcapng Decryption
//! Secrets Blocks (`editcap --inject-secrets tls,FILE`).
//!
//! One secret a line: `LABEL <client_random hex> <secret hex>`. Lines are
//! keyed by the ClientHello random (32 bytes), so a key log covering many
//! connections is looked up once per connection. Comments (`#`), blank
//! lines and CRLF endings are accepted; a line that cannot be read is
//! counted with its source and line number and skipped, never fatal.
//!
//! Secrets never leave this module except to the key schedule: the
//! [`fmt::Debug`] implementations print counts, not bytes.

use std::collections::HashMap;
use std::fmt;

/// Malformed lines remembered per key log (all are counted).
pub const MAX_MALFORMED_KEPT: usize = 64;
/// Longest secret accepted (SHA-384 secrets are 48 bytes; the TLS 1.2
/// master secret is 48).
pub const MAX_SECRET_LEN: usize = 64;
/// The pcapng Decryption Secrets Block secrets type for a TLS key log.
pub const DSB_TLS_KEY_LOG: u32 = 0x544c_534b;

/// The secrets known for one connection (one ClientHello random).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// TLS 1.2 and earlier: the 48-byte master secret (`CLIENT_RANDOM`).
    pub master: Option<Secret>,
    /// TLS 1.3 `CLIENT_EARLY_TRAFFIC_SECRET` (0-RTT data).
    pub client_early: Option<Secret>,
    /// TLS 1.3 `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Secret>,
    /// TLS 1.3 `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Secret>,
    /// TLS 1.3 `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic0: Option<Secret>,
    /// TLS 1.3 `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic0: Option<Secret>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("master", &self.master.is_some())
            .field("client_early", &self.client_early.is_some())
            .field("client_handshake", &self.client_handshake.is_some())
            .field("server_handshake", &self.server_handshake.is_some())
            .field("client_traffic0", &self.client_traffic0.is_some())
            .field("server_traffic0", &self.server_traffic0.is_some())
            .finish()
    }
}

/// A secret of at most [`MAX_SECRET_LEN`] bytes (no heap allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    len: u8,
    bytes: [u8; MAX_SECRET_LEN],
}

impl Secret {
    /// A secret from bytes; `None` when empty or longer than
    /// [`MAX_SECRET_LEN`].
    pub fn new(b: &[u8]) -> Option<Secret> {
        if b.is_empty() || b.len() > MAX_SECRET_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_SECRET_LEN];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(Secret {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len as usize).unwrap_or(&[])
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// The source name given when the key log was read (a file name).
    pub source: String,
    /// 1-based line number in that source.
    pub line: u64,
    /// Why it was skipped.
    pub reason: &'static str,
}

/// Secrets from one or more key logs, keyed by ClientHello random.
#[derive(Clone, Default)]
pub struct KeyLog {
    entries: HashMap<[u8; 32], Secrets>,
    lines: u64,
    ignored: u64,
    malformed_count: u64,
    malformed: Vec<Malformed>,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLog")
            .field("connections", &self.entries.len())
            .field("lines", &self.lines)
            .field("ignored", &self.ignored)
            .field("malformed", &self.malformed_count)
            .finish()
    }
}

/// A Decryption Secrets Block that is not a TLS key log, or is cut short.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DsbError {
    /// Fewer than 8 bytes, or a secrets length past the end of the block.
    #[error("decryption secrets block is truncated")]
    Truncated,
    /// Another secrets type (WireGuard, ZigBee, SSH...).
    #[error("decryption secrets block of type {0:#010x} is not a TLS key log")]
    NotTls(u32),
}

impl KeyLog {
    /// An empty key log.
    pub fn new() -> KeyLog {
        KeyLog::default()
    }

    /// Reads key log text. `source` names it in malformed-line reports.
    /// Never fails: unreadable lines are counted (see [`KeyLog::malformed`]).
    pub fn parse(bytes: &[u8], source: &str) -> KeyLog {
        let mut k = KeyLog::new();
        k.add(bytes, source);
        k
    }

    /// Adds the lines of another key log text to this one.
    pub fn add(&mut self, bytes: &[u8], source: &str) {
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line_no = i as u64 + 1;
            let line = trim_ascii(raw);
            if line.is_empty() || line.first() == Some(&b'#') {
                continue;
            }
            self.lines += 1;
            match self.line(line) {
                Ok(()) => {}
                Err(reason) => self.note_malformed(source, line_no, reason),
            }
        }
    }

    /// Reads the body of a pcapng Decryption Secrets Block (block type
    /// 0x0000000A): secrets type (u32), secrets length (u32), the secrets,
    /// padding. Both byte orders are recognised by the type field. Blocks of
    /// another secrets type are an error (the caller skips them).
    pub fn from_pcapng_dsb(body: &[u8]) -> Result<KeyLog, DsbError> {
        let ty_bytes: [u8; 4] = body
            .get(0..4)
            .and_then(|s| s.try_into().ok())
            .ok_or(DsbError::Truncated)?;
        let len_bytes: [u8; 4] = body
            .get(4..8)
            .and_then(|s| s.try_into().ok())
            .ok_or(DsbError::Truncated)?;
        let (ty, len) = if u32::from_le_bytes(ty_bytes) == DSB_TLS_KEY_LOG {
            (DSB_TLS_KEY_LOG, u32::from_le_bytes(len_bytes))
        } else if u32::from_be_bytes(ty_bytes) == DSB_TLS_KEY_LOG {
            (DSB_TLS_KEY_LOG, u32::from_be_bytes(len_bytes))
        } else {
            return Err(DsbError::NotTls(u32::from_le_bytes(ty_bytes)));
        };
        debug_assert_eq!(ty, DSB_TLS_KEY_LOG);
        let end = 8usize
            .checked_add(len as usize)
            .ok_or(DsbError::Truncated)?;
        let data = body.get(8..end).ok_or(DsbError::Truncated)?;
        Ok(KeyLog::parse(data, "pcapng decryption secrets block"))
    }

    /// Merges another key log into this one (later secrets win).
    pub fn merge(&mut self, other: KeyLog) {
        for (random, s) in other.entries {
            let e = self.entries.entry(random).or_default();
            merge_opt(&mut e.master, s.master);
            merge_opt(&mut e.client_early, s.client_early);
            merge_opt(&mut e.client_handshake, s.client_handshake);
            merge_opt(&mut e.server_handshake, s.server_handshake);
            merge_opt(&mut e.client_traffic0, s.client_traffic0);
            merge_opt(&mut e.server_traffic0, s.server_traffic0);
        }
        self.lines += other.lines;
        self.ignored += other.ignored;
        self.malformed_count += other.malformed_count;
        for m in other.malformed {
            if self.malformed.len() < MAX_MALFORMED_KEPT {
                self.malformed.push(m);
            }
        }
    }

    /// The secrets logged for the connection whose ClientHello carried
    /// `client_random`.
    pub fn lookup(&self, client_random: &[u8; 32]) -> Option<&Secrets> {
        self.entries.get(client_random)
    }

    /// Connections (distinct client randoms) with at least one secret.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No secrets at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Non-comment, non-blank lines read.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Well-formed lines with a label this reader does not use
    /// (`EXPORTER_SECRET`, `EARLY_EXPORTER_SECRET`, ...).
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Lines that could not be read.
    pub fn malformed_count(&self) -> u64 {
        self.malformed_count
    }

    /// The first [`MAX_MALFORMED_KEPT`] malformed lines, with source and
    /// line number.
    pub fn malformed(&self) -> &[Malformed] {
        &self.malformed
    }

    fn note_malformed(&mut self, source: &str, line: u64, reason: &'static str) {
        self.malformed_count += 1;
        if self.malformed.len() < MAX_MALFORMED_KEPT {
            self.malformed.push(Malformed {
                source: source.to_string(),
                line,
                reason,
            });
        }
    }

    fn line(&mut self, line: &[u8]) -> Result<(), &'static str> {
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let label = fields.next().ok_or("empty line")?;
        let random = fields.next().ok_or("missing client random")?;
        let secret = fields.next().ok_or("missing secret")?;
        if fields.next().is_some() {
            return Err("extra fields");
        }
        enum Slot {
            Master,
            ClientEarly,
            ClientHs,
            ServerHs,
            ClientApp,
            ServerApp,
            Ignored,
        }
        let slot = match label {
            b"CLIENT_RANDOM" => Slot::Master,
            b"CLIENT_EARLY_TRAFFIC_SECRET" => Slot::ClientEarly,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Slot::ClientHs,
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => Slot::ServerHs,
            b"CLIENT_TRAFFIC_SECRET_0" => Slot::ClientApp,
            b"SERVER_TRAFFIC_SECRET_0" => Slot::ServerApp,
            b"EXPORTER_SECRET" | b"EARLY_EXPORTER_SECRET" => Slot::Ignored,
            // `RSA <encrypted pms prefix> <pms>` and the PMS_CLIENT_RANDOM
            // forms need the key exchange we do not redo.
            b"RSA" | b"PMS_CLIENT_RANDOM" | b"RSA_SESSION_ID" => Slot::Ignored,
            _ => return Err("unknown label"),
        };
        let mut cr = [0u8; 32];
        if random.len() != 64 || !hex_into(random, &mut cr) {
            return Err("client random is not 64 hex digits");
        }
        let mut buf = [0u8; MAX_SECRET_LEN];
        if secret.len() % 2 != 0 || secret.len() / 2 > MAX_SECRET_LEN || secret.is_empty() {
            return Err("secret is not 2..128 hex digits");
        }
        let n = secret.len() / 2;
        let dst = buf.get_mut(..n).ok_or("secret too long")?;
        if !hex_into(secret, dst) {
            return Err("secret is not hex");
        }
        if let Slot::Ignored = slot {
            self.ignored += 1;
            return Ok(());
        }
        if matches!(slot, Slot::Master) && n != 48 {
            return Err("CLIENT_RANDOM master secret is not 48 bytes");
        }
        let s = Secret::new(dst).ok_or("secret length")?;
        let e = self.entries.entry(cr).or_default();
        let field = match slot {
            Slot::Master => &mut e.master,
            Slot::ClientEarly => &mut e.client_early,
            Slot::ClientHs => &mut e.client_handshake,
            Slot::ServerHs => &mut e.server_handshake,
            Slot::ClientApp => &mut e.client_traffic0,
            Slot::ServerApp => &mut e.server_traffic0,
            Slot::Ignored => return Ok(()),
        };
        *field = Some(s);
        Ok(())
    }
}

fn merge_opt(dst: &mut Option<Secret>, src: Option<Secret>) {
    if src.is_some() {
        *dst = src;
    }
}

fn trim_ascii(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes `hex` (exactly `2 * out.len()` digits) into `out`.
pub(crate) fn hex_into(hex: &[u8], out: &mut [u8]) -> bool {
    if hex.len() != out.len() * 2 {
        return false;
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        match (
            pair.first().and_then(|&c| hex_val(c)),
            pair.get(1).and_then(|&c| hex_val(c)),
        ) {
            (Some(h), Some(l)) => *o = (h << 4) | l,
            _ => return false,
        }
    }
    true
}
