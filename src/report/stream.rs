//! The streaming sink: renders each settled exchange and each concluded
//! connection at once with a [`SpillRender`]er, and keeps only the bytes,
//! in a [`Store`] (memory up to [`MEMORY_LIMIT`], then an unlinked
//! temporary file), until they can be written in order: the summary first,
//! then connections in id order (text, JSON). A live renderer (NDJSON)
//! gets each connection written and flushed as it concludes.
//!
//! Memory: the index of stored connections (a few dozen bytes each), the
//! exchange bytes of open connections up to [`OPEN_CHUNK`] each, and the
//! selection of the text report (see `--connections`).

use std::collections::BinaryHeap;
use std::fs::File;
#[cfg(not(unix))]
use std::io::Read;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};

use rustc_hash::FxHashMap;

use crate::analyzer::{Outcome, Sink};
use crate::report::render::{Preamble, SpillRender};
use crate::report::{ConnectionReport, ExchangeReport};

/// Bytes kept in memory before the store moves to a temporary file.
pub const MEMORY_LIMIT: usize = 2 << 20;
/// Exchange bytes an open connection keeps before they go to the store.
pub const OPEN_CHUNK: usize = 16 << 10;
/// Bytes of the temporary file read at once when the report is written
/// out: connections concluded one after the other are stored one after
/// the other, so one read serves the next few.
const READ_AHEAD: usize = 256 << 10;

/// A read of the temporary file that misses what was read last reads
/// ahead ([`READ_AHEAD`]) only if it begins at most this far past the end
/// of it: connections concluded one after the other are read one after
/// the other, but the pieces of a long connection were stored among
/// everyone else's as it went. Read ahead there too, a 3.2 GB wrk/ab
/// capture's JSON report (1.3 GB) made 60k reads of 256 KiB, 15 GB copied
/// out of the page cache: a tenth of the run.
const NEAR: u64 = 64 << 10;

/// Reads `buf.len()` bytes of `f` at `at`, fewer at its end; returns how
/// many. Where the platform has no positioned read, the file's position
/// moves (`moved` is set: appends seek back to the end).
fn read_full_at(f: &File, buf: &mut [u8], at: u64, moved: &mut bool) -> io::Result<usize> {
    let mut got = 0;
    #[cfg(not(unix))]
    {
        *moved = true;
        let mut f = f;
        f.seek(SeekFrom::Start(at))?;
    }
    #[cfg(unix)]
    let _ = &moved;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        #[cfg(unix)]
        let r = std::os::unix::fs::FileExt::read_at(f, rest, at + got as u64);
        #[cfg(not(unix))]
        let r = {
            let mut f = f;
            f.read(rest)
        };
        match r {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Where a stretch of stored bytes is.
#[derive(Clone, Copy, Debug)]
struct Loc {
    /// Where its stored bytes start (in memory, or in the file).
    offset: u64,
    /// Stored bytes.
    len: u64,
    /// The bytes it stands for: more than `len` when the stored bytes are
    /// LZ4-compressed.
    raw: u64,
}

/// Append-only bytes: memory, then a temporary file.
///
/// Pieces that go to the file are compressed one by one (LZ4 block
/// format, [`lz4_flex`]): rendered reports are repetitive (the same keys,
/// the indentation of pretty JSON), and a big capture's JSON report is as
/// big as a third of the capture. Measured on a 2.49 GB wrk/ab capture, the
/// JSON report is 1.06 GB; written to the temporary file uncompressed it
/// cost more kernel time (copying into the page cache) than the whole
/// analysis, and as much disk space. Compressed, the file is a fraction
/// of that (pieces of 2-16 KiB of pretty JSON: 11-34% of their size).
pub struct Store {
    mem: Vec<u8>,
    file: Option<BufWriter<File>>,
    /// Stored bytes so far (memory, then file).
    len: u64,
    /// The file's position was moved by a read (appends go to its end).
    moved: bool,
    /// A stretch of the file read last: its bytes from `cached_at`.
    cache: Vec<u8>,
    cached_at: u64,
    /// Compressed bytes of the piece being appended.
    packed: Vec<u8>,
    /// Decompressed bytes of the piece being copied out (kept for its
    /// capacity).
    unpacked: Vec<u8>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Store {
            mem: Vec::new(),
            file: None,
            len: 0,
            moved: false,
            cache: Vec::new(),
            cached_at: 0,
            packed: Vec::new(),
            unpacked: Vec::new(),
        }
    }

    fn append(&mut self, b: &[u8]) -> io::Result<Loc> {
        if self.file.is_none() && self.mem.len() + b.len() > MEMORY_LIMIT {
            // What is in memory goes to the file as it is (the pieces
            // stored there keep their places).
            let mut f = BufWriter::with_capacity(1 << 20, tempfile::tempfile()?);
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        let Some(f) = &mut self.file else {
            self.mem.extend_from_slice(b);
            let loc = Loc {
                offset: self.len,
                len: b.len() as u64,
                raw: b.len() as u64,
            };
            self.len += loc.len;
            return Ok(loc);
        };
        if std::mem::take(&mut self.moved) {
            f.get_mut().seek(SeekFrom::End(0))?;
        }
        self.packed
            .resize(lz4_flex::block::get_maximum_output_size(b.len()), 0);
        let packed = lz4_flex::block::compress_into(b, &mut self.packed)
            .ok()
            .filter(|&n| n < b.len());
        let stored = match packed {
            Some(n) => self.packed.get(..n).unwrap_or_default(),
            None => b,
        };
        f.write_all(stored)?;
        let loc = Loc {
            offset: self.len,
            len: stored.len() as u64,
            raw: b.len() as u64,
        };
        self.len += loc.len;
        Ok(loc)
    }

    /// Copies the bytes at `loc` to `out`.
    fn copy(&mut self, loc: Loc, out: &mut dyn Write) -> io::Result<()> {
        let mut unpacked = std::mem::take(&mut self.unpacked);
        let r = self.copy_with(loc, out, &mut unpacked);
        self.unpacked = unpacked;
        r
    }

    fn copy_with(
        &mut self,
        loc: Loc,
        out: &mut dyn Write,
        unpacked: &mut Vec<u8>,
    ) -> io::Result<()> {
        let stored = self.stored(loc)?;
        if loc.len == loc.raw {
            return out.write_all(stored);
        }
        let raw = usize::try_from(loc.raw).map_err(|_| corrupt())?;
        unpacked.resize(raw, 0);
        match lz4_flex::block::decompress_into(stored, unpacked) {
            Ok(n) if n == raw => out.write_all(unpacked),
            _ => Err(corrupt()),
        }
    }

    /// The stored bytes at `loc`.
    fn stored(&mut self, loc: Loc) -> io::Result<&[u8]> {
        let (a, n) = (loc.offset, usize::try_from(loc.len).map_err(|_| corrupt())?);
        let Some(w) = &mut self.file else {
            let a = usize::try_from(a).map_err(|_| corrupt())?;
            let end = a.checked_add(n).ok_or_else(corrupt)?;
            return self.mem.get(a..end).ok_or_else(corrupt);
        };
        let cached = a >= self.cached_at
            && a.saturating_add(loc.len) <= self.cached_at + self.cache.len() as u64;
        if !cached {
            w.flush()?;
            // Near where the cached stretch ended: the piece, and what
            // follows it up to READ_AHEAD bytes (less at the end of the
            // file). Far from it: the piece alone.
            let cache_end = self.cached_at + self.cache.len() as u64;
            let near = a >= cache_end && a - cache_end <= NEAR;
            let want = if near {
                n.max(READ_AHEAD).min(
                    usize::try_from(self.len.saturating_sub(a))
                        .unwrap_or(n)
                        .max(n),
                )
            } else {
                n
            };
            self.cache.resize(want, 0);
            let got = read_full_at(w.get_ref(), &mut self.cache, a, &mut self.moved)?;
            self.cache.truncate(got);
            self.cached_at = a;
            if got < n {
                return Err(corrupt());
            }
        }
        let at = usize::try_from(a - self.cached_at).map_err(|_| corrupt())?;
        let end = at.checked_add(n).ok_or_else(corrupt)?;
        self.cache.get(at..end).ok_or_else(corrupt)
    }
}

/// The temporary file did not give back what was written to it.
fn corrupt() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the report's temporary file did not read back as written",
    )
}

/// Exchange bytes of an open connection.
#[derive(Default)]
struct Open {
    /// Exchanges rendered so far.
    count: u64,
    /// Bytes not yet stored.
    bytes: Vec<u8>,
    /// Earlier bytes, stored.
    stored: Vec<Loc>,
}

/// The stored connections, in the order they concluded: for each, its id,
/// its number of pieces and each piece's [`Loc`], as LEB128 varints, the
/// id as the difference from the last one's and a piece's offset as the
/// difference from where the piece before it ended (connections are
/// stored as they conclude, one after the other: mostly 0), both
/// zigzag-coded. A connection costs about seven bytes here, where an entry
/// and a `Loc` each (48 bytes, and as much again while the vectors
/// doubled) made the index grow with the capture: 200k connections were
/// 15 MiB of a JSON run's peak. It is decoded at the end, when the
/// analysis is over.
///
/// Seven bytes a connection still grew with the capture (a 4x capture of
/// 200k connections: 1.4 MiB, 4 MiB with the vector's doubling, the part
/// of a JSON run's peak that an NDJSON run did not have): the index goes
/// to the store [`INDEX_CHUNK`] bytes at a time as it grows, and is read
/// back at the end, when what the analysis held is free.
#[derive(Default)]
struct Index {
    /// The bytes not in the store yet (after those of `spilled`).
    bytes: Vec<u8>,
    /// Earlier bytes of the index, in the store, in order.
    spilled: Vec<Loc>,
    count: usize,
    /// The last id pushed, and where its last piece ended.
    last_id: u64,
    end: u64,
    /// The largest id pushed.
    max_id: u64,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The varint at `*pos` (moved past it); None past the end or when it is
/// longer than a u64's.
fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// `b - a` as a zigzag-coded varint value (wrapping: any two u64s).
fn zigzag(a: u64, b: u64) -> u64 {
    let d = b.wrapping_sub(a) as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

/// The `b` of [`zigzag`]`(a, b)`.
fn unzigzag(a: u64, z: u64) -> u64 {
    let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
    a.wrapping_add(d as u64)
}

/// Index bytes kept in memory before they go to the store.
const INDEX_CHUNK: usize = 64 << 10;

/// A connection's record in the [`Index`]: its id, and its number in the
/// order connections were stored (concluded).
type Record = (u64, u64);

/// Records between two checkpoints of an [`Order`].
const CHECKPOINT_EVERY: u64 = 16;

/// The records of an [`Index`] by id (see [`Index::by_id`]), and where
/// every [`CHECKPOINT_EVERY`]th record begins in the index (and where the
/// piece before it ended), so that a record is found by reading at most
/// 15 records before it. About 9 bytes a connection, where a position
/// and an end beside each id were 24 (200k connections: 1.8 MiB at the
/// end of a JSON run instead of 4.8).
struct Order {
    by_id: ById,
    checkpoints: Vec<(usize, u64)>,
}

enum ById {
    /// Id and number packed in a u64 (high and low 32 bits): every id
    /// and the count fit in 32 bits, as they do short of 4 billion
    /// connections.
    Packed(Vec<u64>),
    Wide(Vec<Record>),
}

impl Order {
    fn len(&self) -> usize {
        match &self.by_id {
            ById::Packed(v) => v.len(),
            ById::Wide(v) => v.len(),
        }
    }

    /// The records, by id (ties: in the order they were stored).
    fn iter(&self) -> impl Iterator<Item = Record> + '_ {
        (0..self.len()).filter_map(|i| match &self.by_id {
            ById::Packed(v) => v.get(i).map(|&p| (p >> 32, p & 0xffff_ffff)),
            ById::Wide(v) => v.get(i).copied(),
        })
    }
}

impl Index {
    fn push(&mut self, id: u64, parts: &[Loc]) {
        put_varint(&mut self.bytes, zigzag(self.last_id, id));
        self.last_id = id;
        put_varint(&mut self.bytes, parts.len() as u64);
        for l in parts {
            put_varint(&mut self.bytes, zigzag(self.end, l.offset));
            put_varint(&mut self.bytes, l.len);
            // A piece is stored compressed only if that is shorter.
            put_varint(&mut self.bytes, l.raw.saturating_sub(l.len));
            self.end = l.offset.wrapping_add(l.len);
        }
        self.count += 1;
        self.max_id = self.max_id.max(id);
    }

    /// Moves the bytes in memory to `store` once there are
    /// [`INDEX_CHUNK`] of them.
    fn spill_full(&mut self, store: &mut Store) -> io::Result<()> {
        if self.bytes.len() < INDEX_CHUNK {
            return Ok(());
        }
        let loc = store.append(&self.bytes)?;
        self.spilled.push(loc);
        self.bytes.clear();
        Ok(())
    }

    /// Reads the bytes that went to `store` back, in front of those in
    /// memory: the whole index in memory again.
    fn load(&mut self, store: &mut Store) -> io::Result<()> {
        if self.spilled.is_empty() {
            return Ok(());
        }
        let total = self.spilled.iter().map(|l| l.raw).sum::<u64>();
        let total = usize::try_from(total).map_err(|_| corrupt())?;
        let mut all = Vec::with_capacity(total + self.bytes.len());
        for loc in std::mem::take(&mut self.spilled) {
            store.copy(loc, &mut all)?;
        }
        all.extend_from_slice(&self.bytes);
        self.bytes = all;
        Ok(())
    }

    /// Every connection's record, by id.
    fn by_id(&self) -> io::Result<Order> {
        let packed = self.max_id <= u64::from(u32::MAX) && self.count <= u32::MAX as usize;
        let mut by_id = if packed {
            ById::Packed(Vec::with_capacity(self.count))
        } else {
            ById::Wide(Vec::with_capacity(self.count))
        };
        let mut checkpoints = Vec::with_capacity(self.count / CHECKPOINT_EVERY as usize + 1);
        let (mut pos, mut id, mut end, mut n) = (0, 0u64, 0u64, 0u64);
        let b = &self.bytes;
        while pos < b.len() {
            if n.is_multiple_of(CHECKPOINT_EVERY) {
                checkpoints.push((pos, end));
            }
            id = unzigzag(id, get_varint(b, &mut pos).ok_or_else(corrupt)?);
            match &mut by_id {
                ById::Packed(v) => v.push((id << 32) | n),
                ById::Wide(v) => v.push((id, n)),
            }
            end = self.parts_from(&mut pos, end, None)?;
            n += 1;
        }
        match &mut by_id {
            ById::Packed(v) => v.sort_unstable(),
            ById::Wide(v) => v.sort_unstable(),
        }
        Ok(Order { by_id, checkpoints })
    }

    /// The pieces of a record (see [`Index::by_id`]).
    fn parts(&self, order: &Order, r: Record, out: &mut Vec<Loc>) -> io::Result<()> {
        out.clear();
        let cp = usize::try_from(r.1 / CHECKPOINT_EVERY).map_err(|_| corrupt())?;
        let &(mut pos, mut end) = order.checkpoints.get(cp).ok_or_else(corrupt)?;
        for _ in 0..r.1 % CHECKPOINT_EVERY {
            get_varint(&self.bytes, &mut pos).ok_or_else(corrupt)?;
            end = self.parts_from(&mut pos, end, None)?;
        }
        get_varint(&self.bytes, &mut pos).ok_or_else(corrupt)?;
        self.parts_from(&mut pos, end, Some(out)).map(|_| ())
    }

    /// Reads the pieces at `*pos` (after the id), whose first begins
    /// relative to `end`, into `out`; returns where the last ended.
    fn parts_from(
        &self,
        pos: &mut usize,
        mut end: u64,
        mut out: Option<&mut Vec<Loc>>,
    ) -> io::Result<u64> {
        let b = &self.bytes;
        let mut next = || get_varint(b, pos).ok_or_else(corrupt);
        let n = next()?;
        for _ in 0..n {
            let offset = unzigzag(end, next()?);
            let len = next()?;
            let raw = len.saturating_add(next()?);
            end = offset.wrapping_add(len);
            if let Some(o) = out.as_mut() {
                o.push(Loc { offset, len, raw });
            }
        }
        Ok(end)
    }
}

/// A candidate for the text report's selection.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Busy {
    /// More requests first, then the lower id (as a max-heap of the worst:
    /// the heap keeps the N best by popping the worst).
    requests: std::cmp::Reverse<u64>,
    id: u64,
}

/// The streaming sink (see the module docs).
pub struct Streamer<'w> {
    r: Box<dyn SpillRender + 'w>,
    out: &'w mut dyn Write,
    store: Store,
    open: FxHashMap<u64, Open>,
    index: Index,
    /// The pieces of the connection being stored (or written out).
    parts: Vec<Loc>,
    live_written: u64,
    /// The text report's selection: the lowest ids with anomalies, and the
    /// busiest, at most N each.
    limit: Option<usize>,
    with_anomalies: BinaryHeap<u64>,
    busiest: BinaryHeap<Busy>,
    err: Option<io::Error>,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl<'w> Streamer<'w> {
    /// A sink rendering with `r` to `out`.
    pub fn new(r: Box<dyn SpillRender + 'w>, out: &'w mut dyn Write) -> Self {
        let limit = r
            .shown_at_most()
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        Streamer {
            r,
            out,
            store: Store::new(),
            open: FxHashMap::default(),
            index: Index::default(),
            parts: Vec::new(),
            live_written: 0,
            limit,
            with_anomalies: BinaryHeap::new(),
            busiest: BinaryHeap::new(),
            err: None,
            head: Vec::new(),
            tail: Vec::new(),
        }
    }

    fn keep_err(&mut self, r: io::Result<()>) {
        if let Err(e) = r
            && self.err.is_none()
        {
            self.err = Some(e);
        }
    }

    /// Notes a concluded connection for the text report's selection.
    /// Whether it may still be shown: false when it is in neither part of
    /// the selection (the heaps only ever drop connections, so it never
    /// will be), and it need not be rendered at all.
    fn select(&mut self, c: &ConnectionReport) -> bool {
        let Some(n) = self.limit else { return true };
        let mut kept = false;
        if !c.anomalies.is_empty() || c.anomalies_not_listed > 0 {
            self.with_anomalies.push(c.id);
            kept = true;
            if self.with_anomalies.len() > n && self.with_anomalies.pop() == Some(c.id) {
                kept = false;
            }
        }
        self.busiest.push(Busy {
            requests: std::cmp::Reverse(c.requests),
            id: c.id,
        });
        let mut busy = true;
        if self.busiest.len() > n && self.busiest.pop().map(|b| b.id) == Some(c.id) {
            busy = false;
        }
        kept || busy
    }

    /// Writes the report: the preamble, the stored connections in id order
    /// (or the selected ones), the end. Returns the first error met.
    pub fn finish(mut self, outcome: &Outcome) -> io::Result<()> {
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        let pre = Preamble {
            header: &outcome.header,
            summary: Some(&outcome.summary),
            findings: &outcome.findings,
            shown: None,
        };
        if self.r.live() {
            let n = self.live_written;
            return self.r.end(&pre, n, self.out);
        }
        let selected: Option<std::collections::BTreeSet<u64>> = self.limit.map(|_| {
            self.with_anomalies
                .iter()
                .copied()
                .chain(self.busiest.iter().map(|b| b.id))
                .collect()
        });
        self.index.load(&mut self.store)?;
        let order = self.index.by_id()?;
        let shown = selected.as_ref().map(|s| s.len() as u64);
        let pre = Preamble { shown, ..pre };
        self.r.begin(&pre, self.out)?;
        let mut written = 0u64;
        let mut parts = std::mem::take(&mut self.parts);
        for r in order.iter() {
            if selected.as_ref().is_some_and(|s| !s.contains(&r.0)) {
                continue;
            }
            if written > 0 {
                self.out.write_all(self.r.separator())?;
            }
            written += 1;
            self.index.parts(&order, r, &mut parts)?;
            for &loc in &parts {
                self.store.copy(loc, self.out)?;
            }
        }
        self.r.end(&pre, written, self.out)
    }
}

impl Streamer<'_> {
    /// The `n`th exchange of `conn` was rendered into its bytes: they are
    /// stored once there are enough.
    fn exchange_added(&mut self, conn: u64, n: u64) {
        let Some(o) = self.open.get_mut(&conn) else {
            return;
        };
        o.count = n;
        if o.bytes.len() >= OPEN_CHUNK {
            match self.store.append(&o.bytes) {
                Ok(loc) => {
                    o.stored.push(loc);
                    o.bytes.clear();
                }
                Err(e) => {
                    o.bytes.clear();
                    self.keep_err(Err(e));
                }
            }
        }
    }
}

impl Sink for Streamer<'_> {
    fn wants_exchanges(&self) -> bool {
        self.r.wants_exchanges()
    }

    fn exchange(&mut self, conn: u64, n: u64, ex: ExchangeReport) {
        let o = self.open.entry(conn).or_default();
        self.r.exchange(n, &ex, &mut o.bytes);
        self.exchange_added(conn, n);
    }

    fn exchange_renderer(&self) -> Option<Box<dyn crate::report::render::ExchangeRender>> {
        if self.r.wants_exchanges() {
            self.r.exchange_renderer()
        } else {
            None
        }
    }

    fn exchange_rendered(&mut self, conn: u64, n: u64, bytes: &[u8]) {
        let o = self.open.entry(conn).or_default();
        o.bytes.extend_from_slice(bytes);
        self.exchange_added(conn, n);
    }

    fn connection(&mut self, c: ConnectionReport) {
        self.conclude(&c, None);
    }

    fn borrows_connections(&self) -> bool {
        true
    }

    fn connection_lent(&mut self, c: &ConnectionReport) {
        self.conclude(c, None);
    }

    fn connection_rendered(&mut self, c: &ConnectionReport, head: &[u8], more: &[u8], tail: &[u8]) {
        self.conclude(c, Some((head, more, tail)));
    }
}

impl Streamer<'_> {
    /// A concluded connection, rendered here or (`pre`: head, its own
    /// exchanges, tail) on a worker.
    fn conclude(&mut self, c: &ConnectionReport, pre: Option<(&[u8], &[u8], &[u8])>) {
        let mut o = self.open.remove(&c.id).unwrap_or_default();
        if !self.r.live() && !self.select(c) {
            // Not in the text report's selection, and never will be.
            return;
        }
        self.head.clear();
        self.tail.clear();
        let (mut head, mut tail) = (
            std::mem::take(&mut self.head),
            std::mem::take(&mut self.tail),
        );
        match pre {
            Some((h, more, t)) => {
                o.bytes.extend_from_slice(more);
                head.extend_from_slice(h);
                tail.extend_from_slice(t);
            }
            None => {
                if self.r.wants_exchanges() {
                    for ex in &c.exchanges {
                        o.count += 1;
                        self.r.exchange(o.count, ex, &mut o.bytes);
                    }
                }
                let exchanges = o.count.max(c.exchanges.len() as u64);
                self.r.connection(c, exchanges, &mut head, &mut tail);
            }
        }
        if self.r.live() {
            let mut w = || -> io::Result<()> {
                self.out.write_all(&head)?;
                for &loc in &o.stored {
                    self.store.copy(loc, self.out)?;
                }
                self.out.write_all(&o.bytes)?;
                self.out.write_all(&tail)?;
                self.out.flush()
            };
            let r = w();
            self.keep_err(r);
            self.live_written += 1;
        } else {
            self.parts.clear();
            let mut r = || -> io::Result<()> {
                if o.stored.is_empty() {
                    // One piece: head, exchanges, tail together.
                    head.extend_from_slice(&o.bytes);
                    head.extend_from_slice(&tail);
                    let loc = self.store.append(&head)?;
                    self.parts.push(loc);
                } else {
                    let loc = self.store.append(&head)?;
                    self.parts.push(loc);
                    self.parts.extend_from_slice(&o.stored);
                    o.bytes.extend_from_slice(&tail);
                    let loc = self.store.append(&o.bytes)?;
                    self.parts.push(loc);
                }
                Ok(())
            };
            let res = r();
            self.keep_err(res);
            self.index.push(c.id, &self.parts);
            let res = self.index.spill_full(&mut self.store);
            self.keep_err(res);
        }
        self.head = head;
        self.tail = tail;
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;

    /// Piece `k`: compressible text (like a rendered report) or, every
    /// third one, bytes that do not compress; some larger than a read.
    fn piece(k: u64) -> Vec<u8> {
        let len = match k % 7 {
            0 => 3 * READ_AHEAD + 17,
            1 => 0,
            _ => 100 + (k as usize * 7919) % 40_000,
        };
        let mut x = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|i| {
                if k.is_multiple_of(3) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                } else {
                    b"    \"requests\": 12,\n"[i % 20]
                }
            })
            .collect()
    }

    #[test]
    fn pieces_read_back_as_written_in_any_order() {
        let mut s = Store::new();
        let mut locs = Vec::new();
        let mut k = 0;
        // Past the memory limit, into the file.
        while s.len < 4 * MEMORY_LIMIT as u64 {
            locs.push((k, s.append(&piece(k)).unwrap()));
            k += 1;
        }
        assert!(s.file.is_some());
        assert!(
            locs.iter().any(|(_, l)| l.len < l.raw),
            "some pieces are stored compressed"
        );
        assert!(
            locs.iter()
                .any(|(_, l)| l.offset > MEMORY_LIMIT as u64 && l.len == l.raw && l.raw > 0),
            "incompressible pieces are stored as they are"
        );
        // Forwards, backwards, and interleaved with more appends.
        let mut order: Vec<usize> = (0..locs.len()).collect();
        order.extend((0..locs.len()).rev());
        for (n, &i) in order.iter().enumerate() {
            let (k, loc) = locs[i];
            let mut out = Vec::new();
            s.copy(loc, &mut out).unwrap();
            assert_eq!(out, piece(k), "piece {k}");
            if n.is_multiple_of(5) {
                let k2 = 1000 + n as u64;
                let l2 = s.append(&piece(k2)).unwrap();
                let mut out = Vec::new();
                s.copy(l2, &mut out).unwrap();
                assert_eq!(out, piece(k2), "piece {k2}, read at once");
            }
        }
    }

    /// A read of the file reads ahead only near the end of the last one:
    /// a piece far from it is read alone (the pieces of long connections
    /// lie among everyone else's), the next one after it with what
    /// follows.
    #[test]
    fn a_far_piece_is_read_alone_a_near_one_with_what_follows() {
        let mut s = Store::new();
        let mut locs = Vec::new();
        while s.len < 2 * MEMORY_LIMIT as u64 {
            locs.push(s.append(&[b'x'; 3000]).unwrap());
        }
        assert!(s.file.is_some());
        let far = *locs.last().unwrap();
        let mut out = Vec::new();
        s.copy(far, &mut out).unwrap();
        assert_eq!(s.cache.len() as u64, far.len, "read alone");
        // Far back again: alone; then the piece after it: read ahead.
        let back = locs[locs.len() / 2];
        s.copy(back, &mut out).unwrap();
        assert_eq!(s.cache.len() as u64, back.len);
        let next = locs[locs.len() / 2 + 1];
        s.copy(next, &mut out).unwrap();
        assert!(s.cache.len() as u64 > next.len, "{}", s.cache.len());
        assert_eq!(
            s.cache.len(),
            READ_AHEAD.min((s.len - next.offset) as usize)
        );
    }

    /// The index that went to the store a chunk at a time reads back as
    /// the same bytes as one kept whole, the store in memory or in its
    /// file.
    #[test]
    fn the_index_spilled_to_the_store_reads_back_whole() {
        for first in [0usize, MEMORY_LIMIT + 1] {
            let mut store = Store::new();
            store.append(&vec![7u8; first]).unwrap();
            let (mut spilled, mut whole) = (Index::default(), Index::default());
            for k in 0..40_000u64 {
                let loc = store.append(&k.to_le_bytes()).unwrap();
                spilled.push(k ^ 5, &[loc]);
                whole.push(k ^ 5, &[loc]);
                spilled.spill_full(&mut store).unwrap();
            }
            assert!(spilled.spilled.len() >= 3, "{}", spilled.spilled.len());
            assert!(spilled.bytes.len() < INDEX_CHUNK);
            spilled.load(&mut store).unwrap();
            assert!(spilled.spilled.is_empty());
            assert_eq!(spilled.bytes, whole.bytes);
            assert_eq!(spilled.by_id().unwrap().len(), 40_000);
        }
    }

    /// Pushes 5000 connections (one with the id `largest`), checks that
    /// they read back by id, and returns the index.
    fn index_reads_back_by_id(largest: u64) -> Index {
        let mut ix = Index::default();
        let mut want = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for k in 0..5000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly in id order, some far out of it, one id the largest.
            let id = if k == 77 {
                largest
            } else if x.is_multiple_of(10) {
                x % 100_000
            } else {
                k * 20 + 1
            };
            let parts: Vec<Loc> = (0..(x % 4))
                .map(|i| {
                    let len = (x >> (8 * i)) % 70_000;
                    Loc {
                        offset: x >> (i + 3),
                        len,
                        raw: if i % 2 == 0 { len } else { len * 3 + 1 },
                    }
                })
                .collect();
            ix.push(id, &parts);
            want.push((id, k, parts));
        }
        want.sort_by_key(|w| (w.0, w.1));
        let order = ix.by_id().unwrap();
        assert_eq!(order.len(), want.len());
        assert_eq!(
            matches!(order.by_id, ById::Packed(_)),
            largest <= u64::from(u32::MAX)
        );
        let mut got = Vec::new();
        for (r, (wid, k, wparts)) in order.iter().zip(&want) {
            let id = r.0;
            assert_eq!((id, r.1), (*wid, *k));
            ix.parts(&order, r, &mut got).unwrap();
            let key = |l: &Loc| (l.offset, l.len, l.raw);
            assert_eq!(
                got.iter().map(key).collect::<Vec<_>>(),
                wparts.iter().map(key).collect::<Vec<_>>(),
                "connection {id}"
            );
        }
        ix
    }

    /// The index gives back every connection's pieces, by id, whatever
    /// order they concluded in; one cut short is an error, not a panic.
    #[test]
    fn the_index_reads_back_by_id() {
        // The largest id: one past 32 bits (ids and numbers wide), then
        // the largest of 32 bits (packed).
        for largest in [1u64 << 32, u64::from(u32::MAX)] {
            let ix = index_reads_back_by_id(largest);
            assert!(ix.bytes.len() < 5000 * 40, "{} bytes", ix.bytes.len());
        }
        let mut ix = index_reads_back_by_id(u64::MAX);
        assert!(ix.bytes.len() < 5000 * 40, "{} bytes", ix.bytes.len());
        // Connections stored one after the other, in id order: a few bytes
        // each.
        let mut packed = Index::default();
        for k in 0..1000u64 {
            let loc = |i: u64| Loc {
                offset: 50_000_000 + 2000 * i,
                len: 2000,
                raw: 9000,
            };
            packed.push(100_000 + k, &[loc(k)]);
        }
        assert!(
            packed.bytes.len() <= 1000 * 7 + 16,
            "{} bytes",
            packed.bytes.len()
        );
        ix.bytes.pop();
        assert!(ix.by_id().is_err());
        ix.bytes.push(0x80);
        assert!(ix.by_id().is_err());
    }

    #[test]
    fn a_store_in_memory_reads_back() {
        let mut s = Store::new();
        let a = s.append(b"one").unwrap();
        let b = s.append(b"two three").unwrap();
        assert!(s.file.is_none());
        let mut out = Vec::new();
        s.copy(b, &mut out).unwrap();
        s.copy(a, &mut out).unwrap();
        assert_eq!(out, b"two threeone");
    }
}
