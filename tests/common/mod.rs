//! Helpers shared by the tests that cut a fixture capture into pieces
//! (`tests/midstream.rs`, `tests/h2_midstream.rs`): the first N records
//! dropped, as `editcap -r` would, without needing editcap.

// Each test crate that includes this module uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use httpreuse::analyzer::{Options, analyze};
use httpreuse::capture::Input;
use serde_json::Value;

/// A path under the repository.
pub fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The JSON report of one capture, with default options.
pub fn report(path: &Path) -> Value {
    let r = analyze(&[Input::Path(path.to_path_buf())], Options::default()).unwrap();
    serde_json::to_value(r).unwrap()
}

/// The records of a classic little-endian pcap: (header, records).
pub fn pcap_records(bytes: &[u8]) -> (&[u8], Vec<&[u8]>) {
    assert_eq!(
        bytes.get(..4),
        Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]),
        "classic LE pcap"
    );
    let (header, mut rest) = bytes.split_at(24);
    let mut out = Vec::new();
    while rest.len() >= 16 {
        let incl = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        let (rec, tail) = rest.split_at(16 + incl);
        out.push(rec);
        rest = tail;
    }
    assert!(rest.is_empty());
    (header, out)
}

/// Writes a pcap of `header` and `records`.
pub fn write_pcap(path: &Path, header: &[u8], records: &[&[u8]]) {
    let mut out = header.to_vec();
    for r in records {
        out.extend_from_slice(r);
    }
    std::fs::write(path, out).unwrap();
}

/// A capture cut into pieces: its records, and the temporary file each
/// piece is written to (removed when this is dropped).
pub struct Pieces<'a> {
    header: &'a [u8],
    pub records: Vec<&'a [u8]>,
    file: PathBuf,
}

impl<'a> Pieces<'a> {
    /// The records of `bytes` (see [`pcap_records`]); `tag` names the
    /// temporary file.
    pub fn new(bytes: &'a [u8], tag: &str) -> Self {
        let (header, records) = pcap_records(bytes);
        let file = std::env::temp_dir().join(format!(
            "httpreuse-{}-{}.pcap",
            tag.replace('.', "_"),
            std::process::id()
        ));
        Pieces {
            header,
            records,
            file,
        }
    }

    /// The report of the piece from record `cut` on (the first `cut`
    /// dropped, as `editcap -r` would; frames numbered from 1 again).
    pub fn from(&self, cut: usize) -> Value {
        self.piece(&self.records[cut..])
    }

    /// The report of the piece of the first `cut` records.
    pub fn until(&self, cut: usize) -> Value {
        self.piece(&self.records[..cut])
    }

    fn piece(&self, records: &[&[u8]]) -> Value {
        write_pcap(&self.file, self.header, records);
        report(&self.file)
    }
}

impl Drop for Pieces<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// The kinds of a connection's anomalies, in order.
pub fn kinds(c: &Value) -> Vec<String> {
    c["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}
