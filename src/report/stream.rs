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
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use rustc_hash::FxHashMap;

use crate::analyzer::{Outcome, Sink};
use crate::report::render::{Preamble, SpillRender};
use crate::report::{ConnectionReport, ExchangeReport};

/// Bytes kept in memory before the store moves to a temporary file.
pub const MEMORY_LIMIT: usize = 2 << 20;
/// Exchange bytes an open connection keeps before they go to the store.
pub const OPEN_CHUNK: usize = 16 << 10;

/// Where a stretch of stored bytes is.
#[derive(Clone, Copy, Debug)]
struct Loc {
    offset: u64,
    len: u64,
}

/// Append-only bytes: memory, then a temporary file.
pub struct Store {
    mem: Vec<u8>,
    file: Option<BufWriter<File>>,
    len: u64,
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
        }
    }

    fn append(&mut self, b: &[u8]) -> io::Result<Loc> {
        let loc = Loc {
            offset: self.len,
            len: b.len() as u64,
        };
        if self.file.is_none() && self.mem.len() + b.len() > MEMORY_LIMIT {
            let mut f = BufWriter::with_capacity(1 << 20, tempfile::tempfile()?);
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f.write_all(b)?,
            None => self.mem.extend_from_slice(b),
        }
        self.len += b.len() as u64;
        Ok(loc)
    }

    /// Copies the bytes at `loc` to `out`.
    fn copy(&mut self, loc: Loc, out: &mut dyn Write, buf: &mut Vec<u8>) -> io::Result<()> {
        match &mut self.file {
            None => {
                let (a, b) = (loc.offset as usize, (loc.offset + loc.len) as usize);
                out.write_all(self.mem.get(a..b).unwrap_or_default())
            }
            Some(w) => {
                w.flush()?;
                let f = w.get_mut();
                f.seek(SeekFrom::Start(loc.offset))?;
                let mut left = loc.len;
                buf.resize(1 << 16, 0);
                while left > 0 {
                    let n = (left as usize).min(buf.len());
                    f.read_exact(&mut buf[..n])?;
                    out.write_all(&buf[..n])?;
                    left -= n as u64;
                }
                f.seek(SeekFrom::End(0))?;
                Ok(())
            }
        }
    }
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

/// A stored connection: its pieces, in order.
struct Entry {
    id: u64,
    first: usize,
    parts: usize,
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
    entries: Vec<Entry>,
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
    buf: Vec<u8>,
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
            entries: Vec::new(),
            parts: Vec::new(),
            live_written: 0,
            limit,
            with_anomalies: BinaryHeap::new(),
            busiest: BinaryHeap::new(),
            err: None,
            head: Vec::new(),
            tail: Vec::new(),
            buf: Vec::new(),
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
        self.entries.sort_unstable_by_key(|e| e.id);
        let shown = selected.as_ref().map(|s| s.len() as u64);
        let pre = Preamble { shown, ..pre };
        self.r.begin(&pre, self.out)?;
        let mut written = 0u64;
        let mut buf = std::mem::take(&mut self.buf);
        for e in &self.entries {
            if selected.as_ref().is_some_and(|s| !s.contains(&e.id)) {
                continue;
            }
            if written > 0 {
                self.out.write_all(self.r.separator())?;
            }
            written += 1;
            for k in e.first..e.first + e.parts {
                if let Some(&loc) = self.parts.get(k) {
                    self.store.copy(loc, self.out, &mut buf)?;
                }
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
            let mut buf = std::mem::take(&mut self.buf);
            let mut w = || -> io::Result<()> {
                self.out.write_all(&head)?;
                for &loc in &o.stored {
                    self.store.copy(loc, self.out, &mut buf)?;
                }
                self.out.write_all(&o.bytes)?;
                self.out.write_all(&tail)?;
                self.out.flush()
            };
            let r = w();
            self.buf = buf;
            self.keep_err(r);
            self.live_written += 1;
        } else {
            let first = self.parts.len();
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
            self.entries.push(Entry {
                id: c.id,
                first,
                parts: self.parts.len() - first,
            });
        }
        self.head = head;
        self.tail = tail;
    }
}
