//! HPACK (RFC 7541) header block decoding with the `loona-hpack` crate, one
//! decoder per direction per connection, keeping only the fields the report
//! needs. Values are never guessed: once a direction's dynamic table is out
//! of step (a capture gap, a block that could not be buffered whole, a
//! decoding error) every later block of that direction is "unknown".

use loona_hpack::Decoder;

/// Default SETTINGS_HEADER_TABLE_SIZE (RFC 9113 section 6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;
/// Largest dynamic table accepted whatever the receiver advertised; a
/// size update above it is a decoding error (bounded memory).
pub const MAX_TABLE_SIZE: usize = 1 << 20;
/// Decoded header list size (RFC 9113 section 6.5.2: names + values + 32
/// per field) past which a block is flagged; nothing past it is kept anyway.
pub const MAX_HEADER_LIST_SIZE: u64 = 1 << 20;
/// Longest value kept of a pseudo-header or selected header (bytes).
pub const MAX_VALUE_LEN: usize = 2048;

/// What one header block said that matters here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockFacts {
    /// `:method`
    pub method: Option<String>,
    /// `:path`
    pub path: Option<String>,
    /// `:authority`
    pub authority: Option<String>,
    /// `:scheme`
    pub scheme: Option<String>,
    /// `:status` as sent (`None` if absent or not three digits).
    pub status: Option<u16>,
    /// `:status` was present (even if malformed).
    pub has_status: bool,
    /// `content-type`
    pub content_type: Option<String>,
    /// `grpc-status`, if it is a number.
    pub grpc_status: Option<u32>,
    /// `host` (HTTP/2 clients should use `:authority`; some send both).
    pub host: Option<String>,
    /// Fields in the block.
    pub fields: u32,
    /// RFC 9113 header list size (name + value + 32 per field).
    pub list_size: u64,
    /// Some field of the block could not be decoded (a reference into the
    /// part of the dynamic table built before the capture began): what is
    /// set above was decoded, the rest is unknown, never guessed.
    pub partial: bool,
}

/// Why a block yielded no facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The direction's table was already out of step; nothing was decoded.
    StateLost,
    /// The decoder rejected the block (a COMPRESSION_ERROR): this and
    /// every later block of the direction are unknown.
    Decode(String),
}

/// One direction's HPACK decoder and whether its state can be trusted.
pub struct HpackDir {
    dec: Decoder<'static>,
    lost: bool,
    allowed: usize,
    /// Mid-connection: the table built before the capture began is
    /// unknown; only what is independent of it is decoded.
    partial: Option<PartialTable>,
}

/// The dynamic table as far as it is known on a connection whose start was
/// not seen: the entries inserted since (newest first; `None` where the
/// inserted name itself referred to an unknown entry). Index `62 + k`
/// with `k` below their count is the `k`-th newest of them whatever came
/// before (the table is first in, first out, and an encoder refers only to
/// entries it holds); anything older is unknown.
#[derive(Default)]
struct PartialTable {
    known: std::collections::VecDeque<Option<(Vec<u8>, Vec<u8>)>>,
}

/// Most entries kept of a partial table (older ones become unknown).
const MAX_PARTIAL_ENTRIES: usize = 256;

/// The HPACK static table (RFC 7541 appendix A), from the decoder itself.
fn static_entry(i: usize) -> Option<&'static (Vec<u8>, Vec<u8>)> {
    static TABLE: std::sync::OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let block: Vec<u8> = (1u8..=61).map(|i| 0x80 | i).collect();
        Decoder::new().decode(&block).unwrap_or_default()
    });
    i.checked_sub(1).and_then(|i| t.get(i))
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 5.1): value and bytes.
fn integer(b: &[u8], n: u32) -> Option<(usize, usize)> {
    let mask = (1u16 << n) as u8 - 1;
    let first = *b.first()? & mask;
    if first < mask {
        return Some((usize::from(first), 1));
    }
    let mut v = usize::from(mask);
    let mut shift = 0u32;
    for (i, &c) in b.iter().enumerate().skip(1) {
        if shift > 28 {
            return None;
        }
        v = v.checked_add(usize::from(c & 0x7f) << shift)?;
        shift += 7;
        if c & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// An HPACK string literal (RFC 7541 5.2): its bytes and length consumed.
fn string(b: &[u8]) -> Option<(Vec<u8>, usize)> {
    let huff = *b.first()? & 0x80 != 0;
    let (len, n) = integer(b, 7)?;
    let raw = b.get(n..n.checked_add(len)?)?;
    let v = if huff {
        loona_hpack::huffman::HuffmanDecoder::new()
            .decode(raw)
            .ok()?
    } else {
        raw.to_vec()
    };
    Some((v, n + len))
}

impl PartialTable {
    /// Entry `i` (1-61 static, 62+ dynamic) if known.
    fn get(&self, i: usize) -> Option<(Vec<u8>, Vec<u8>)> {
        if i <= 61 {
            return static_entry(i).cloned();
        }
        self.known.get(i - 62).cloned().flatten()
    }

    fn insert(&mut self, e: Option<(Vec<u8>, Vec<u8>)>) {
        self.known.push_front(e);
        self.known.truncate(MAX_PARTIAL_ENTRIES);
    }

    /// Decodes what can be decoded of `block`; `Err` if it is malformed.
    fn decode(&mut self, block: &[u8], f: &mut BlockFacts) -> Result<(), String> {
        let mut b = block;
        let bad = || "malformed header block".to_string();
        while let Some(&c) = b.first() {
            if c & 0x80 != 0 {
                // indexed field
                let (i, n) = integer(b, 7).ok_or_else(bad)?;
                if i == 0 {
                    return Err(bad());
                }
                match self.get(i) {
                    Some((name, value)) => note(f, &name, &value),
                    None => f.partial = true,
                }
                b = b.get(n..).unwrap_or_default();
                continue;
            }
            if c & 0xe0 == 0x20 {
                // dynamic table size update
                let (size, n) = integer(b, 5).ok_or_else(bad)?;
                if size == 0 {
                    // the table is emptied: everything after is known
                    self.known.clear();
                }
                b = b.get(n..).unwrap_or_default();
                continue;
            }
            // literal: with incremental indexing (6-bit name index), else
            // without indexing or never indexed (4-bit)
            let indexing = c & 0xc0 == 0x40;
            let (i, n) = integer(b, if indexing { 6 } else { 4 }).ok_or_else(bad)?;
            b = b.get(n..).unwrap_or_default();
            let name = if i == 0 {
                let (name, n) = string(b).ok_or_else(bad)?;
                b = b.get(n..).unwrap_or_default();
                Some(name)
            } else {
                self.get(i).map(|(name, _)| name)
            };
            let (value, n) = string(b).ok_or_else(bad)?;
            b = b.get(n..).unwrap_or_default();
            match &name {
                Some(name) => note(f, name, &value),
                None => f.partial = true,
            }
            if indexing {
                self.insert(name.map(|name| (name, value)));
            }
        }
        Ok(())
    }
}

impl Default for HpackDir {
    fn default() -> Self {
        Self::new()
    }
}

fn bounded(v: &[u8]) -> String {
    let cut = v.get(..MAX_VALUE_LEN).unwrap_or(v);
    String::from_utf8_lossy(cut).into_owned()
}

impl HpackDir {
    /// A decoder at connection start (table size 4096).
    pub fn new() -> Self {
        let mut dec = Decoder::new();
        dec.set_max_allowed_table_size(DEFAULT_TABLE_SIZE);
        HpackDir {
            dec,
            lost: false,
            allowed: DEFAULT_TABLE_SIZE,
            partial: None,
        }
    }

    /// A decoder for a direction whose start was not seen (a capture that
    /// began mid-connection, or after a gap there): every block is decoded
    /// as far as the static table, literals and the entries inserted since
    /// allow ([`BlockFacts::partial`] marks the rest unknown).
    pub fn mid_connection() -> Self {
        let mut d = Self::new();
        d.lost = true;
        d.partial = Some(PartialTable::default());
        d
    }

    /// Whether the direction is decoded partially (see
    /// [`HpackDir::mid_connection`]).
    pub fn is_partial(&self) -> bool {
        self.partial.is_some()
    }

    /// The receiver of this direction advertised SETTINGS_HEADER_TABLE_SIZE:
    /// the encoder may size its table up to it. Lenient for a passive
    /// observer: the largest value ever advertised stands (a smaller one only
    /// takes effect once ACKed, and the encoder then says so in a block).
    pub fn advertise(&mut self, size: u32) {
        let size = usize::try_from(size)
            .unwrap_or(MAX_TABLE_SIZE)
            .min(MAX_TABLE_SIZE);
        if size > self.allowed {
            self.allowed = size;
            self.dec.set_max_allowed_table_size(size);
        }
    }

    /// The state can no longer be trusted (capture gap, block lost).
    pub fn lose(&mut self) {
        self.lost = true;
        if let Some(p) = self.partial.as_mut() {
            // the entries inserted by what was lost are unknown too
            *p = PartialTable::default();
        }
    }

    /// Whether the state was lost.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Decodes one whole header block (HEADERS/PUSH_PROMISE + CONTINUATION).
    pub fn decode(&mut self, block: &[u8]) -> Result<BlockFacts, BlockError> {
        if let Some(p) = self.partial.as_mut() {
            let mut f = BlockFacts::default();
            return match p.decode(block, &mut f) {
                Ok(()) => Ok(f),
                Err(e) => {
                    *p = PartialTable::default();
                    Err(BlockError::Decode(e))
                }
            };
        }
        if self.lost {
            return Err(BlockError::StateLost);
        }
        let mut f = BlockFacts::default();
        let r = self.dec.decode_with_cb(block, |name, value| {
            note(&mut f, &name, &value);
        });
        match r {
            Ok(()) => Ok(f),
            Err(e) => {
                self.lost = true;
                Err(BlockError::Decode(e.to_string()))
            }
        }
    }
}

fn note(f: &mut BlockFacts, name: &[u8], value: &[u8]) {
    f.fields = f.fields.saturating_add(1);
    let sz = (name.len() as u64)
        .saturating_add(value.len() as u64)
        .saturating_add(32);
    f.list_size = f.list_size.saturating_add(sz);
    match name {
        b":method" => set_once(&mut f.method, value),
        b":path" => set_once(&mut f.path, value),
        b":authority" => set_once(&mut f.authority, value),
        b":scheme" => set_once(&mut f.scheme, value),
        b":status" if !f.has_status => {
            f.has_status = true;
            f.status = parse_status(value);
        }
        b"content-type" => set_once(&mut f.content_type, value),
        b"host" => set_once(&mut f.host, value),
        b"grpc-status" if f.grpc_status.is_none() => {
            f.grpc_status = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.trim().parse().ok());
        }
        _ => {}
    }
}

fn set_once(slot: &mut Option<String>, value: &[u8]) {
    if slot.is_none() {
        *slot = Some(bounded(value));
    }
}

/// A `:status` value: exactly three ASCII digits.
pub fn parse_status(v: &[u8]) -> Option<u16> {
    match v {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loona_hpack::Encoder;

    fn enc(e: &mut Encoder<'_>, h: &[(&[u8], &[u8])]) -> Vec<u8> {
        e.encode(h.iter().copied())
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 7541 C.3.1 then C.3.2: the second block refers (0xbe, index 62)
    /// to the `:authority` the first added to the dynamic table.
    #[test]
    fn decode_request_then_dynamic_reference() {
        let mut d = HpackDir::new();
        let b1 = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
        let f = d.decode(&b1).unwrap();
        assert_eq!(f.method.as_deref(), Some("GET"));
        assert_eq!(f.path.as_deref(), Some("/"));
        assert_eq!(f.scheme.as_deref(), Some("http"));
        assert_eq!(f.authority.as_deref(), Some("www.example.com"));
        let b2 = hex("8286 84be 5808 6e6f 2d63 6163 6865");
        let f2 = d.decode(&b2).unwrap();
        assert_eq!(f2.authority.as_deref(), Some("www.example.com"));
        assert_eq!(f2.fields, 5);
        // without the first block, index 62 does not exist: an error, not a guess
        let mut fresh = HpackDir::new();
        assert!(matches!(fresh.decode(&b2), Err(BlockError::Decode(_))));
    }

    /// RFC 7541 C.4.1: the same request with Huffman-coded strings.
    #[test]
    fn decode_huffman() {
        let mut d = HpackDir::new();
        let f = d
            .decode(&hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"))
            .unwrap();
        assert_eq!(f.authority.as_deref(), Some("www.example.com"));
    }

    #[test]
    fn encoder_round_trip_keeps_selected_fields() {
        let mut e = Encoder::new();
        let mut d = HpackDir::new();
        let h: &[(&[u8], &[u8])] = &[
            (b":status", b"200"),
            (b"content-type", b"application/grpc"),
            (b"grpc-status", b"14"),
        ];
        let f = d.decode(&enc(&mut e, h)).unwrap();
        assert_eq!(f.status, Some(200));
        assert_eq!(f.content_type.as_deref(), Some("application/grpc"));
        assert_eq!(f.grpc_status, Some(14));
    }

    #[test]
    fn long_values_are_cut() {
        let mut e = Encoder::new();
        let mut d = HpackDir::new();
        let long = vec![b'a'; MAX_VALUE_LEN * 3];
        let h: &[(&[u8], &[u8])] = &[(b":path", &long)];
        let f = d.decode(&enc(&mut e, h)).unwrap();
        assert_eq!(f.path.map(|p| p.len()), Some(MAX_VALUE_LEN));
        assert_eq!(f.list_size, (5 + MAX_VALUE_LEN * 3 + 32) as u64);
    }

    #[test]
    fn lost_state_never_guesses() {
        let mut e = Encoder::new();
        let mut d = HpackDir::new();
        let h: &[(&[u8], &[u8])] = &[(b":status", b"200"), (b"content-type", b"text/x")];
        let _skipped = enc(&mut e, h);
        d.lose();
        let b2 = enc(&mut e, h);
        assert_eq!(d.decode(&b2), Err(BlockError::StateLost));
    }

    #[test]
    fn reference_past_table_is_an_error_and_loses_state() {
        let mut d = HpackDir::new();
        // indexed field 70: beyond the static table, dynamic table empty
        let r = d.decode(&[0x80 | 70]);
        assert!(matches!(r, Err(BlockError::Decode(_))));
        assert!(d.is_lost());
    }

    #[test]
    fn size_update_over_advertised_is_an_error() {
        let mut d = HpackDir::new();
        // dynamic table size update to 8192 (001xxxxx, 5-bit prefix) then :method GET
        let block = [0x3f, 0xe1, 0x3f, 0x82];
        assert!(matches!(d.decode(&block), Err(BlockError::Decode(_))));
        let mut d = HpackDir::new();
        d.advertise(8192);
        assert!(d.decode(&block).is_ok());
    }

    /// RFC 7541 C.3.2 and C.3.3 seen without C.3.1 (the capture began
    /// after it): the static entries and the literals decode, the
    /// reference to the `:authority` C.3.1 inserted (index 62) does not;
    /// C.3.3 refers to the entry C.3.2 inserted (known now) and to the
    /// unknown one, which has become index 63.
    #[test]
    fn mid_connection_decodes_what_needs_no_lost_entry() {
        let mut d = HpackDir::mid_connection();
        let f = d
            .decode(&hex("8286 84be 5808 6e6f 2d63 6163 6865"))
            .unwrap();
        assert_eq!(f.method.as_deref(), Some("GET"));
        assert_eq!(f.path.as_deref(), Some("/"));
        assert_eq!(f.authority, None);
        assert!(f.partial);
        let f = d
            .decode(&hex(
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            ))
            .unwrap();
        assert_eq!(f.path.as_deref(), Some("/index.html"));
        assert_eq!(f.scheme.as_deref(), Some("https"));
        // 0xbf: index 63, the C.3.1 :authority, still unknown
        assert_eq!(f.authority, None);
        assert!(f.partial);
        // a block of static and literal fields only is whole
        let f = d.decode(&hex("8286 84")).unwrap();
        assert!(!f.partial);
        // C.3.3 inserted custom-key at 62, cache-control is now 63
        let f = d.decode(&hex("be bf")).unwrap();
        assert!(!f.partial);
        assert_eq!(f.fields, 2);
        let f = d.decode(&hex("c0")).unwrap();
        assert!(f.partial);
    }

    #[test]
    fn status_parse() {
        assert_eq!(parse_status(b"204"), Some(204));
        assert_eq!(parse_status(b"2004"), None);
        assert_eq!(parse_status(b"2x4"), None);
    }
}
