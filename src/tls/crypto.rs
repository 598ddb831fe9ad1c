//! Key derivation and record protection, written from the RFCs:
//!
//! * TLS 1.2 PRF and key block (RFC 5246 sections 5 and 6.3), with the
//!   SHA-384 PRF of the `_SHA384` suites (RFC 5289);
//! * TLS 1.3 `HKDF-Expand-Label`, traffic keys and KeyUpdate (RFC 8446
//!   sections 7.1-7.3), on the `hkdf` crate's extract/expand;
//! * AEAD record protection: TLS 1.2 AES-GCM (RFC 5288: 4-byte salt and an
//!   8-byte explicit nonce per record), TLS 1.2 ChaCha20-Poly1305 (RFC 7905:
//!   IV XOR sequence number), TLS 1.3 (RFC 8446 section 5.3, the record
//!   header as additional data, inner content type after the padding).
//!
//! Nothing here logs or formats key material.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

/// AEAD tag length of every supported suite.
pub const TAG_LEN: usize = 16;
/// Explicit nonce carried by TLS 1.2 AES-GCM records.
pub const GCM_EXPLICIT_LEN: usize = 8;

/// The hash of a suite's PRF / HKDF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256 (32-byte output).
    Sha256,
    /// SHA-384 (48-byte output).
    Sha384,
}

impl HashAlg {
    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }
}

/// The AEAD of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeadAlg {
    /// AES-128-GCM.
    Aes128Gcm,
    /// AES-256-GCM.
    Aes256Gcm,
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305,
}

impl AeadAlg {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm => 16,
            AeadAlg::Aes256Gcm | AeadAlg::ChaCha20Poly1305 => 32,
        }
    }
}

/// What decryption needs to know of a negotiated cipher suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    /// IANA id.
    pub id: u16,
    /// The AEAD.
    pub aead: AeadAlg,
    /// PRF (TLS 1.2) or HKDF (TLS 1.3) hash.
    pub hash: HashAlg,
    /// A TLS 1.3 suite (`TLS_AES_128_GCM_SHA256`...).
    pub tls13: bool,
}

/// The suites this engine decrypts; `None` for any other (CBC, CCM, NULL,
/// export...): those are analysed without decryption.
pub fn suite(id: u16) -> Option<Suite> {
    use AeadAlg::*;
    use HashAlg::*;
    let (aead, hash, tls13) = match id {
        0x1301 => (Aes128Gcm, Sha256, true),
        0x1302 => (Aes256Gcm, Sha384, true),
        0x1303 => (ChaCha20Poly1305, Sha256, true),
        // TLS 1.2 AES-128-GCM: RSA, DHE_RSA, ECDHE_ECDSA, ECDHE_RSA.
        0x009c | 0x009e | 0xc02b | 0xc02f => (Aes128Gcm, Sha256, false),
        // TLS 1.2 AES-256-GCM with the SHA-384 PRF.
        0x009d | 0x009f | 0xc02c | 0xc030 => (Aes256Gcm, Sha384, false),
        // TLS 1.2 ChaCha20-Poly1305: ECDHE_RSA, ECDHE_ECDSA, DHE_RSA.
        0xcca8..=0xccaa => (ChaCha20Poly1305, Sha256, false),
        _ => return None,
    };
    Some(Suite {
        id,
        aead,
        hash,
        tls13,
    })
}

fn hmac_parts(hash: HashAlg, key: &[u8], parts: &[&[u8]], out: &mut [u8]) {
    match hash {
        HashAlg::Sha256 => {
            let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
                return;
            };
            for p in parts {
                m.update(p);
            }
            let r = m.finalize().into_bytes();
            let n = out.len().min(r.len());
            if let (Some(o), Some(r)) = (out.get_mut(..n), r.get(..n)) {
                o.copy_from_slice(r);
            }
        }
        HashAlg::Sha384 => {
            let Ok(mut m) = <Hmac<Sha384> as KeyInit>::new_from_slice(key) else {
                return;
            };
            for p in parts {
                m.update(p);
            }
            let r = m.finalize().into_bytes();
            let n = out.len().min(r.len());
            if let (Some(o), Some(r)) = (out.get_mut(..n), r.get(..n)) {
                o.copy_from_slice(r);
            }
        }
    }
}

/// The TLS 1.2 PRF (RFC 5246 section 5): `P_hash(secret, label + seed)`
/// written into `out`.
pub fn prf12(hash: HashAlg, secret: &[u8], label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let hl = hash.output_len();
    // A(0) = label + seed; A(i) = HMAC(secret, A(i-1)).
    let mut a = [0u8; 48];
    let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 1);
    parts.push(label);
    parts.extend_from_slice(seed);
    hmac_parts(hash, secret, &parts, &mut a[..hl]);
    let mut block = [0u8; 48];
    for chunk in out.chunks_mut(hl) {
        let mut p: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
        p.push(&a[..hl]);
        p.extend_from_slice(&parts);
        hmac_parts(hash, secret, &p, &mut block[..hl]);
        let n = chunk.len();
        chunk.copy_from_slice(&block[..n]);
        let prev = a;
        hmac_parts(hash, secret, &[&prev[..hl]], &mut a[..hl]);
    }
}

/// TLS 1.3 `HKDF-Expand-Label(secret, label, context, out.len())`
/// (RFC 8446 section 7.1). `false` when the secret is not a valid PRK for
/// the hash or the output is too long.
pub fn hkdf_expand_label(
    hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> bool {
    const PREFIX: &[u8] = b"tls13 ";
    let full = PREFIX.len() + label.len();
    if out.len() > u16::MAX as usize || full > 255 || context.len() > 255 {
        return false;
    }
    let mut info = Vec::with_capacity(4 + full + context.len());
    info.extend_from_slice(&(out.len() as u16).to_be_bytes());
    info.push(full as u8);
    info.extend_from_slice(PREFIX);
    info.extend_from_slice(label);
    info.push(context.len() as u8);
    info.extend_from_slice(context);
    match hash {
        HashAlg::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(&info, out).ok())
            .is_some(),
        HashAlg::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(&info, out).ok())
            .is_some(),
    }
}

/// The AEAD with its key schedule done once.
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Cipher {
    fn new(alg: AeadAlg, key: &[u8]) -> Option<Cipher> {
        Some(match alg {
            AeadAlg::Aes128Gcm => Cipher::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            AeadAlg::Aes256Gcm => Cipher::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            AeadAlg::ChaCha20Poly1305 => {
                Cipher::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
        })
    }

    /// Decrypts `buf` in place, checking `tag`. `false` on a bad tag.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        let Ok(tag) = <[u8; TAG_LEN]>::try_from(tag) else {
            return false;
        };
        let n = (*nonce).into();
        let t = tag.into();
        match self {
            Cipher::Aes128(c) => c.decrypt_inout_detached(&n, aad, buf.into(), &t).is_ok(),
            Cipher::Aes256(c) => c.decrypt_inout_detached(&n, aad, buf.into(), &t).is_ok(),
            Cipher::ChaCha(c) => c.decrypt_inout_detached(&n, aad, buf.into(), &t).is_ok(),
        }
    }

    /// Encrypts `buf` in place and returns the tag (tests and the bench
    /// build records with it).
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        let n = (*nonce).into();
        let t = match self {
            Cipher::Aes128(c) => c.encrypt_inout_detached(&n, aad, buf.into()).ok()?,
            Cipher::Aes256(c) => c.encrypt_inout_detached(&n, aad, buf.into()).ok()?,
            Cipher::ChaCha(c) => c.encrypt_inout_detached(&n, aad, buf.into()).ok()?,
        };
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(t.as_slice());
        Some(out)
    }
}

/// How nonces and additional data are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// TLS 1.2 AES-GCM: 4-byte implicit salt + 8-byte explicit nonce.
    Tls12Gcm,
    /// TLS 1.2 ChaCha20-Poly1305: IV XOR sequence number.
    Tls12ChaCha,
    /// TLS 1.3: IV XOR sequence number, header as AAD, inner type.
    Tls13,
}

/// One direction's read key: the AEAD, its IV and the record sequence
/// number.
pub struct RecordKey {
    cipher: Cipher,
    iv: [u8; 12],
    seq: u64,
    mode: Mode,
    /// TLS 1.3: the traffic secret this key came from (for KeyUpdate).
    secret: Option<(HashAlg, crate::tls::keylog::Secret)>,
    aead: AeadAlg,
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RecordKey({:?}, {:?}, seq {})",
            self.aead, self.mode, self.seq
        )
    }
}

/// A record opened: its (inner) content type and where the plaintext is in
/// the buffer handed to [`RecordKey::open`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// Content type (TLS 1.3: the inner type after padding removal).
    pub content_type: u8,
    /// Plaintext start in the record body.
    pub start: usize,
    /// Plaintext length.
    pub len: usize,
}

/// Why a record could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than the nonce and tag.
    TooShort,
    /// The tag did not verify: wrong keys, wrong sequence or a corrupt
    /// record.
    BadTag,
    /// TLS 1.3: the plaintext was all zeros (no inner content type).
    NoInnerType,
}

impl RecordKey {
    /// TLS 1.2 keys for one direction from the key block
    /// (`write_key`, then `write_iv`: 4 bytes for GCM, 12 for ChaCha20).
    pub fn tls12(suite: Suite, key: &[u8], iv: &[u8]) -> Option<RecordKey> {
        let (mode, ivlen) = match suite.aead {
            AeadAlg::ChaCha20Poly1305 => (Mode::Tls12ChaCha, 12),
            _ => (Mode::Tls12Gcm, 4),
        };
        let mut ivb = [0u8; 12];
        ivb.get_mut(..ivlen)?.copy_from_slice(iv.get(..ivlen)?);
        Some(RecordKey {
            cipher: Cipher::new(suite.aead, key)?,
            iv: ivb,
            seq: 0,
            mode,
            secret: None,
            aead: suite.aead,
        })
    }

    /// TLS 1.3 key and IV from a traffic secret (RFC 8446 section 7.3).
    pub fn tls13(aead: AeadAlg, hash: HashAlg, secret: &[u8]) -> Option<RecordKey> {
        let mut key = [0u8; 32];
        let kl = aead.key_len();
        let mut iv = [0u8; 12];
        if !hkdf_expand_label(hash, secret, b"key", b"", key.get_mut(..kl)?)
            || !hkdf_expand_label(hash, secret, b"iv", b"", &mut iv)
        {
            return None;
        }
        Some(RecordKey {
            cipher: Cipher::new(aead, key.get(..kl)?)?,
            iv,
            seq: 0,
            mode: Mode::Tls13,
            secret: Some((hash, crate::tls::keylog::Secret::new(secret)?)),
            aead,
        })
    }

    /// The next generation after a TLS 1.3 KeyUpdate:
    /// `HKDF-Expand-Label(secret, "traffic upd", "", Hash.length)`.
    pub fn updated(&self) -> Option<RecordKey> {
        let (hash, secret) = self.secret.as_ref()?;
        let mut next = [0u8; 48];
        let hl = hash.output_len();
        if !hkdf_expand_label(
            *hash,
            secret.as_bytes(),
            b"traffic upd",
            b"",
            next.get_mut(..hl)?,
        ) {
            return None;
        }
        RecordKey::tls13(self.aead, *hash, next.get(..hl)?)
    }

    /// Records opened (or attempted) so far with this key.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Counts a record that was lost (a capture gap) so the next one gets
    /// the right sequence number.
    pub fn skip_record(&mut self) {
        self.seq = self.seq.wrapping_add(1);
    }

    fn nonce_xor(&self) -> [u8; 12] {
        let mut n = self.iv;
        for (b, s) in n.iter_mut().skip(4).zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }

    /// Decrypts one record body in place. `header` is the 5-byte record
    /// header as received. The sequence number advances on success only.
    pub fn open(&mut self, header: &[u8; 5], body: &mut [u8]) -> Result<Opened, OpenError> {
        let r = self.open_at(header, body);
        if r.is_ok() {
            self.seq = self.seq.wrapping_add(1);
        }
        r
    }

    fn open_at(&self, header: &[u8; 5], body: &mut [u8]) -> Result<Opened, OpenError> {
        let ty = header[0];
        let ver = [header[1], header[2]];
        match self.mode {
            Mode::Tls12Gcm => {
                if body.len() < GCM_EXPLICIT_LEN + TAG_LEN {
                    return Err(OpenError::TooShort);
                }
                let plen = body.len() - GCM_EXPLICIT_LEN - TAG_LEN;
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&self.iv[..4]);
                nonce[4..].copy_from_slice(&body[..GCM_EXPLICIT_LEN]);
                let aad = aad12(self.seq, ty, ver, plen);
                let (ct, tag) = body[GCM_EXPLICIT_LEN..].split_at_mut(plen);
                if !self.cipher.open(&nonce, &aad, ct, tag) {
                    return Err(OpenError::BadTag);
                }
                Ok(Opened {
                    content_type: ty,
                    start: GCM_EXPLICIT_LEN,
                    len: plen,
                })
            }
            Mode::Tls12ChaCha => {
                if body.len() < TAG_LEN {
                    return Err(OpenError::TooShort);
                }
                let plen = body.len() - TAG_LEN;
                let aad = aad12(self.seq, ty, ver, plen);
                let (ct, tag) = body.split_at_mut(plen);
                if !self.cipher.open(&self.nonce_xor(), &aad, ct, tag) {
                    return Err(OpenError::BadTag);
                }
                Ok(Opened {
                    content_type: ty,
                    start: 0,
                    len: plen,
                })
            }
            Mode::Tls13 => {
                if body.len() < TAG_LEN + 1 {
                    return Err(OpenError::TooShort);
                }
                let plen = body.len() - TAG_LEN;
                let (ct, tag) = body.split_at_mut(plen);
                if !self.cipher.open(&self.nonce_xor(), header, ct, tag) {
                    return Err(OpenError::BadTag);
                }
                // TLSInnerPlaintext: content || type || zeros.
                let Some(pos) = ct.iter().rposition(|&b| b != 0) else {
                    return Err(OpenError::NoInnerType);
                };
                Ok(Opened {
                    content_type: ct[pos],
                    start: 0,
                    len: pos,
                })
            }
        }
    }

    /// Tries to open a copy of the record without consuming the sequence
    /// number or touching `body` (trial decryption: 0-RTT or handshake key?).
    pub fn would_open(&self, header: &[u8; 5], body: &[u8], scratch: &mut Vec<u8>) -> bool {
        scratch.clear();
        scratch.extend_from_slice(body);
        self.open_at(header, scratch).is_ok()
    }

    /// Builds a protected record (header + body) from plaintext: for tests,
    /// the fuzz target and the benchmark, never for the analysis. TLS 1.2
    /// GCM uses the sequence number as explicit nonce, as OpenSSL does.
    pub fn seal(&mut self, content_type: u8, plaintext: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(plaintext.len() + 5 + 32);
        match self.mode {
            Mode::Tls12Gcm => {
                let len = GCM_EXPLICIT_LEN + plaintext.len() + TAG_LEN;
                out.extend_from_slice(&[content_type, 3, 3]);
                out.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
                out.extend_from_slice(&self.seq.to_be_bytes());
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&self.iv[..4]);
                nonce[4..].copy_from_slice(&self.seq.to_be_bytes());
                let aad = aad12(self.seq, content_type, [3, 3], plaintext.len());
                let start = out.len();
                out.extend_from_slice(plaintext);
                let tag = self.cipher.seal(&nonce, &aad, out.get_mut(start..)?)?;
                out.extend_from_slice(&tag);
            }
            Mode::Tls12ChaCha => {
                let len = plaintext.len() + TAG_LEN;
                out.extend_from_slice(&[content_type, 3, 3]);
                out.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
                let aad = aad12(self.seq, content_type, [3, 3], plaintext.len());
                let start = out.len();
                out.extend_from_slice(plaintext);
                let tag = self
                    .cipher
                    .seal(&self.nonce_xor(), &aad, out.get_mut(start..)?)?;
                out.extend_from_slice(&tag);
            }
            Mode::Tls13 => {
                let len = plaintext.len() + 1 + TAG_LEN;
                out.extend_from_slice(&[23, 3, 3]);
                out.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
                let header: [u8; 5] = out.get(..5)?.try_into().ok()?;
                out.extend_from_slice(plaintext);
                out.push(content_type);
                let tag = self
                    .cipher
                    .seal(&self.nonce_xor(), &header, out.get_mut(5..)?)?;
                out.extend_from_slice(&tag);
            }
        }
        self.seq = self.seq.wrapping_add(1);
        Some(out)
    }
}

fn aad12(seq: u64, ty: u8, ver: [u8; 2], plen: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[..8].copy_from_slice(&seq.to_be_bytes());
    a[8] = ty;
    a[9..11].copy_from_slice(&ver);
    a[11..13].copy_from_slice(&(plen as u16).to_be_bytes());
    a
}

/// TLS 1.2 key block (RFC 5246 section 6.3) for an AEAD suite: the two
/// direction keys (client then server).
pub fn tls12_keys(
    suite: Suite,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Option<(RecordKey, RecordKey)> {
    let kl = suite.aead.key_len();
    let ivl = match suite.aead {
        AeadAlg::ChaCha20Poly1305 => 12,
        _ => 4,
    };
    // AEAD suites have no MAC keys: client key, server key, client IV,
    // server IV.
    let mut block = [0u8; 2 * 32 + 2 * 12];
    let n = 2 * kl + 2 * ivl;
    prf12(
        suite.hash,
        master,
        b"key expansion",
        &[server_random, client_random],
        block.get_mut(..n)?,
    );
    let ck = block.get(..kl)?;
    let sk = block.get(kl..2 * kl)?;
    let civ = block.get(2 * kl..2 * kl + ivl)?;
    let siv = block.get(2 * kl + ivl..n)?;
    Some((
        RecordKey::tls12(suite, ck, civ)?,
        RecordKey::tls12(suite, sk, siv)?,
    ))
}
