//! Several capture files read as one capture, in timestamp order: rotated
//! sets (`tcpdump -G`/`-C`/`-W`), a directory of them, captures of several
//! interfaces taken at once; and a bounded reorder window for frames a
//! little out of time order within a file.
//!
//! # How frames are ordered
//!
//! [`CaptureSet::open`] opens every input (a directory stands for every
//! capture file in it), checks it, and reads its first frame. The members
//! are then ordered by the timestamp of their first frame (ties: in the
//! order given; a directory's files by name), whatever the order on the
//! command line.
//!
//! [`Merged`] is a k-way merge, as `mergecap` does it: each member being
//! read has one pending frame (its next one), and the earliest pending
//! frame goes next. A member is opened only when the merge reaches its
//! first timestamp and is closed at its end, so files that follow each
//! other are read one after the other, and only files that overlap in time
//! are open together. Memory: one pending frame per open member, plus the
//! reorder window; never a whole file.
//!
//! # The reorder window
//!
//! Frames leave the merge into a window sorted by timestamp (equal
//! timestamps keep their order) and are released once they are
//! `window` of capture time older than the newest frame seen, or when the
//! window holds [`MAX_HELD_FRAMES`] frames or [`MAX_HELD_BYTES`] copied
//! bytes (frames of memory-mapped files are held as positions, not copies).
//! So frames out of order by less than the window come out in order.
//!
//! A frame older than the newest by more than the window is *late*: it is
//! not sorted in but released where it came, after every frame held before
//! it. The analysis clock then counts it: `frames_out_of_order` (a step back
//! under a second) or a `timestamp_jump` anomaly. A step of the capture's
//! clock back (NTP) is such a late frame, and the window starts again from
//! it, as it does after a frame far ahead (a corrupt timestamp).
//!
//! # Frame numbers
//!
//! Frames are numbered from 1 in the order they are released (the order
//! the analysis sees them), across all members. For one file in time
//! order, that is the frame number Wireshark shows; for a set, it is the
//! frame number in the set merged by timestamp (`mergecap -w all.pcap
//! FILES`, then Wireshark); a frame the window moved keeps its timestamp,
//! which finds it in Wireshark (`frame.time_epoch`). [`MergedFrame`] also
//! has the member and the frame's number within its own file, and errors
//! name the file and the byte offset in it.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::source::Source;
use super::{CaptureError, CaptureReader, Found, Input};
use crate::report::InputReport;
use crate::types::Timestamp;

/// Default reorder window: 2 s of capture time (or [`MAX_HELD_FRAMES`],
/// whichever comes first). Frames of `tcpdump -i any` on several CPUs are
/// out of order by microseconds to milliseconds (each CPU's packets are
/// stamped when received and reach the capture ring a poll later); 2 s is
/// far beyond that on a quiet link, and still short enough to keep
/// `--format ndjson -` a live feed.
pub const DEFAULT_WINDOW_NS: u64 = 2_000_000_000;

/// Most frames held in the reorder window. A busy capture reaches this
/// before 2 s pass (4,096 frames are 0.7 ms at 5.7 M frames/s): the
/// reordering of `tcpdump -i any` spans a NAPI poll of each CPU (at most 64
/// frames by default), well inside it. It also keeps the window's entries
/// (64 bytes each, 256 KiB in all) in the CPU's cache: measured with
/// cachegrind on a 30 MB prefix of a 616 MB wrk/ab capture, 65,536 entries
/// cost about one last-level cache miss per frame, 1,024 none.
pub const MAX_HELD_FRAMES: usize = 1 << 12;

/// Most bytes copied into the reorder window (frames of streams: standard
/// input, gzip files; memory-mapped frames are not copied).
pub const MAX_HELD_BYTES: usize = 32 << 20;
/// How many frames ahead of the one released [`Merged`] prefetches.
const PREFETCH_AHEAD: usize = 8;
/// How many of its first bytes (the headers an analysis reads).
const PREFETCH_BYTES: usize = 320;

/// Inputs kept open between checking them and reading them; past this
/// many, files are checked, closed, and opened again when their turn comes
/// (rotated capture sets can have thousands).
const MAX_OPEN_INPUTS: usize = 64;

/// One input of a set.
struct Member {
    input: Input,
    /// Open now; `None` before its turn (large sets) and after its end.
    reader: Option<CaptureReader>,
    /// The pending frame of an open reader (the next one to merge).
    head: Option<Found>,
    /// The first frame's timestamp; `None`: the member has no frame (or
    /// an error before the first).
    first: Option<Timestamp>,
    /// Its size on disk, when a regular file.
    size: Option<u64>,
    /// Frames of this member in the reorder window (its reader stays open
    /// while there are any: they may point into its memory map).
    held: usize,
    /// Read to its end (or an error).
    done: bool,
    /// Frames read from this file.
    frames: u64,
    /// Bytes read when its reader closed.
    read: u64,
    report: InputReport,
    /// TLS secrets of its Decryption Secrets Blocks read and not yet
    /// handed out (pcapng).
    secrets: Option<Box<crate::tls::KeyLog>>,
    /// What its Decryption Secrets Blocks gave (the header's `keylogs`).
    dsb: Option<crate::report::tls::KeyLogReport>,
    /// Frames of the last link type read, not yet added to
    /// `report.linktypes` (one map update per run of frames, not per frame).
    linktype_run: (u32, u64),
}

/// Inputs opened and checked, in reading order (see the module docs).
pub struct CaptureSet {
    members: Vec<Member>,
    /// Files of a directory that are not captures, left out (for warnings).
    skipped: Vec<String>,
}

impl CaptureSet {
    /// Opens and checks every input, so that a missing or unreadable one
    /// fails the run at once, not after minutes of work on the ones before
    /// it. A directory stands for its regular files (not those whose name
    /// starts with `.`), by name; among them, empty files and files that
    /// are not captures are left out (see [`CaptureSet::skipped`]), and a
    /// directory without any capture is an error. Standard input may appear
    /// once.
    pub fn open(inputs: &[Input]) -> Result<CaptureSet, CaptureError> {
        if inputs.iter().filter(|i| matches!(i, Input::Stdin)).count() > 1 {
            return Err(CaptureError::StdinTwice);
        }
        let mut files: Vec<(Input, bool)> = Vec::new();
        for input in inputs {
            match input {
                Input::Path(p) if p.is_dir() => {
                    let entries = dir_files(p)?;
                    if entries.is_empty() {
                        return Err(CaptureError::NoCaptures {
                            dir: p.display().to_string(),
                        });
                    }
                    files.extend(entries.into_iter().map(|f| (Input::Path(f), true)));
                }
                other => files.push((other.clone(), false)),
            }
        }
        let keep = files.len() <= MAX_OPEN_INPUTS;
        let mut set = CaptureSet {
            members: Vec::new(),
            skipped: Vec::new(),
        };
        let mut from_dirs = 0usize;
        for (input, in_dir) in files {
            let reader = match CaptureReader::open(&input) {
                Ok(r) => r,
                Err(e @ (CaptureError::Empty { .. } | CaptureError::NotCapture { .. }))
                    if in_dir =>
                {
                    set.skipped.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            };
            from_dirs += usize::from(in_dir);
            let size = match &input {
                Input::Path(p) => std::fs::metadata(p)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len()),
                Input::Stdin => None,
            };
            let keep = keep || matches!(input, Input::Stdin);
            set.members.push(Member::checked(input, reader, size, keep));
        }
        if set.members.is_empty() || (from_dirs == 0 && inputs.iter().all(is_dir)) {
            let dir = inputs.first().map(Input::display_name).unwrap_or_default();
            return Err(CaptureError::NoCaptures { dir });
        }
        set.order();
        Ok(set)
    }

    /// A set of one reader already open; `name` is used in messages and
    /// in the report.
    pub fn from_reader(reader: CaptureReader, name: String) -> CaptureSet {
        CaptureSet::from_readers(vec![(reader, name)])
    }

    /// A set of readers already open (e.g. over sockets or bytes in
    /// memory), each with its name; ordered as [`CaptureSet::open`] orders.
    pub fn from_readers(readers: Vec<(CaptureReader, String)>) -> CaptureSet {
        let mut set = CaptureSet {
            members: readers
                .into_iter()
                .map(|(mut r, name)| {
                    r.name = name;
                    Member::checked(Input::Stdin, r, None, true)
                })
                .collect(),
            skipped: Vec::new(),
        };
        set.order();
        set
    }

    /// Reading order: by first timestamp, ties (and members without a
    /// frame, last) in the order given.
    fn order(&mut self) {
        self.members
            .sort_by_key(|m| (m.first.is_none(), m.first.unwrap_or_default()));
    }

    /// Files of directories left out, one message each (`DIR/x: not a
    /// pcap or pcapng capture ...`).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// How many inputs the set reads.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the set has no input (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The sum of the members' sizes on disk, if all are regular files.
    pub fn total_bytes(&self) -> Option<u64> {
        self.members.iter().map(|m| m.size).sum()
    }

    /// The merge of the set, with a reorder window of `window_ns` of
    /// capture time (0: none; frames are released in the order read).
    pub fn merge(mut self, window_ns: u64) -> Merged {
        // Secrets before the members' first frames (read when checked).
        let mut secrets: Option<Box<crate::tls::KeyLog>> = None;
        for new in self.members.iter_mut().filter_map(|m| m.secrets.take()) {
            match &mut secrets {
                Some(s) => s.merge(*new),
                None => secrets = Some(new),
            }
        }
        Merged {
            total: self.total_bytes(),
            members: self.members,
            next: 0,
            active: Vec::new(),
            window: VecDeque::new(),
            window_ns,
            newest: None,
            held_bytes: 0,
            pool: Vec::new(),
            out: false,
            exhausted: false,
            flush: 0,
            secrets,
        }
    }
}

fn is_dir(i: &Input) -> bool {
    matches!(i, Input::Path(p) if p.is_dir())
}

/// The regular files of a directory whose name does not start with `.`,
/// sorted by name.
fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, CaptureError> {
    let io_err = |source| CaptureError::Io {
        file: dir.display().to_string(),
        source,
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err)? {
        let e = e.map_err(io_err)?;
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let p = e.path();
        if p.is_file() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

impl Member {
    /// A member opened and checked: its first frame is read now (and kept
    /// pending if `keep`, else the reader is closed until its turn).
    fn checked(input: Input, mut reader: CaptureReader, size: Option<u64>, keep: bool) -> Member {
        let report = InputReport {
            file: reader.name().to_string(),
            container: Some(reader.container()),
            gzip: reader.gzip(),
            frames: 0,
            linktypes: BTreeMap::new(),
            error: None,
        };
        let mut m = Member {
            input,
            reader: None,
            head: None,
            first: None,
            size,
            held: 0,
            done: false,
            frames: 0,
            read: 0,
            report,
            secrets: None,
            dsb: None,
            linktype_run: (0, 0),
        };
        let first = reader.next_found();
        if let Some(new) = reader.take_secrets() {
            m.note_secrets(new);
        }
        if !keep {
            m.note_truncated(&reader);
        }
        match first {
            Ok(Some(f)) => {
                m.first = Some(f.ts);
                if keep {
                    m.head = Some(f);
                    m.reader = Some(reader);
                }
            }
            Ok(None) => m.done = true,
            Err(e) => {
                m.report.error = Some(e.to_string());
                m.done = true;
            }
        }
        m
    }

    /// Opens the member again (a large set) and reads its first frame.
    fn reopen(&mut self) {
        let reader = CaptureReader::open(&self.input).and_then(|mut r| {
            let head = r.next_found()?;
            // The secrets before the first frame were taken when the
            // member was checked.
            let _ = r.take_secrets();
            Ok((r, head))
        });
        match reader {
            Ok((r, Some(head))) => {
                self.reader = Some(r);
                self.head = Some(head);
            }
            Ok((_, None)) => {
                self.report.error = Some(format!(
                    "{}: has no frame any more (changed since it was checked)",
                    self.report.file
                ));
                self.done = true;
            }
            Err(e) => {
                self.report.error = Some(e.to_string());
                self.done = true;
            }
        }
    }

    /// Reads the next pending frame (after the head was taken).
    fn advance(&mut self) {
        let Some(r) = self.reader.as_mut() else {
            self.done = true;
            return;
        };
        let next = r.next_found();
        let secrets = r.take_secrets();
        match next {
            Ok(Some(f)) => self.head = Some(f),
            Ok(None) => self.done = true,
            Err(e) => {
                self.report.error = Some(e.to_string());
                self.done = true;
            }
        }
        if let Some(new) = secrets {
            self.note_secrets(new);
        }
        if self.done {
            self.close_if_unused();
        }
    }

    fn close_if_unused(&mut self) {
        if self.done
            && self.held == 0
            && let Some(r) = self.reader.take()
        {
            self.read = r.position();
            self.note_truncated(&r);
        }
    }

    /// Secrets of Decryption Secrets Blocks just read: kept to hand out,
    /// and counted for the header's `keylogs`.
    fn note_secrets(&mut self, new: Box<crate::tls::KeyLog>) {
        use crate::report::tls::KeyLogReport;
        let file = &self.report.file;
        let dsb = self.dsb.get_or_insert_with(|| KeyLogReport {
            source: format!("{file} (decryption secrets blocks)"),
            ..KeyLogReport::default()
        });
        let r = KeyLogReport::of(&dsb.source, &new);
        dsb.lines += r.lines;
        dsb.connections += r.connections;
        dsb.ignored += r.ignored;
        dsb.malformed += r.malformed;
        dsb.malformed_lines.extend(r.malformed_lines);
        dsb.malformed_lines
            .truncate(crate::tls::keylog::MAX_MALFORMED_KEPT);
        match &mut self.secrets {
            Some(s) => s.merge(*new),
            None => self.secrets = Some(new),
        }
    }

    /// Decryption Secrets Blocks of a reader about to close that ran past
    /// their block.
    fn note_truncated(&mut self, r: &CaptureReader) {
        let truncated = r.secrets_truncated();
        if truncated == 0 {
            return;
        }
        let file = &self.report.file;
        let dsb = self
            .dsb
            .get_or_insert_with(|| crate::report::tls::KeyLogReport {
                source: format!("{file} (decryption secrets blocks)"),
                ..Default::default()
            });
        dsb.malformed += truncated;
        dsb.malformed_lines.push(crate::report::tls::MalformedLine {
            line: 0,
            reason: "decryption secrets block cut short",
        });
        dsb.malformed_lines
            .truncate(crate::tls::keylog::MAX_MALFORMED_KEPT);
    }

    /// One more frame of `linktype`.
    fn count_linktype(&mut self, linktype: u32) {
        if self.linktype_run.1 > 0 && self.linktype_run.0 == linktype {
            self.linktype_run.1 += 1;
        } else {
            self.flush_linktypes();
            self.linktype_run = (linktype, 1);
        }
    }

    /// Adds the run of frames counted by [`Member::count_linktype`] to the
    /// report.
    fn flush_linktypes(&mut self) {
        let (lt, n) = std::mem::take(&mut self.linktype_run);
        if n > 0 {
            *self.report.linktypes.entry(lt).or_insert(0) += n;
        }
    }

    /// Bytes of this member read so far.
    fn position(&self) -> u64 {
        match &self.reader {
            Some(r) => r.position(),
            None if self.done => self.size.unwrap_or(self.read),
            None => 0,
        }
    }
}

/// Where a held frame's bytes are.
enum Bytes {
    /// In the member's memory map (or owned buffer), which does not move.
    Mapped(Range<usize>),
    /// Copied out of a stream buffer.
    Owned(Vec<u8>),
}

/// A frame in the reorder window.
struct Held {
    ts: Timestamp,
    linktype: u32,
    orig_len: u32,
    member: usize,
    /// Its number in its own file.
    file_frame: u64,
    bytes: Bytes,
}

/// A frame released by [`Merged::next_frame`].
pub struct MergedFrame<'a> {
    pub ts: Timestamp,
    /// LINKTYPE_* of the interface the frame was captured on.
    pub linktype: u32,
    pub data: &'a [u8],
    pub orig_len: u32,
    /// The member it came from (index in reading order, as in
    /// [`Merged::finish`]).
    pub member: usize,
    /// Its frame number within its own file (from 1).
    pub file_frame: u64,
    /// TLS secrets of pcapng Decryption Secrets Blocks read since the last
    /// frame released (at least those before this frame and before every
    /// frame released after it): to be in force before this frame.
    pub secrets: Option<Box<crate::tls::KeyLog>>,
    /// The shared bytes `data` is in, and where: for frames of inputs held
    /// all in memory (memory-mapped files), which `--threads` hands to its
    /// workers without copying.
    pub backing: Option<(&'a super::Whole, usize)>,
}

/// The frames of a [`CaptureSet`] in timestamp order (see the module docs).
pub struct Merged {
    members: Vec<Member>,
    /// Members `..next` have been started (in reading order).
    next: usize,
    /// Started members with a pending frame.
    active: Vec<usize>,
    window: VecDeque<Held>,
    window_ns: u64,
    /// The newest timestamp in the window's era (see the module docs).
    newest: Option<Timestamp>,
    held_bytes: usize,
    /// Buffers of released copies, for reuse.
    pool: Vec<Vec<u8>>,
    /// The window's first frame was released last (its bytes are borrowed
    /// by the caller until the next call).
    out: bool,
    /// No member has frames left to merge.
    exhausted: bool,
    /// The window's first `flush` frames go out whatever their age: they
    /// came before a late frame (which is the last of them).
    flush: usize,
    total: Option<u64>,
    /// Secrets taken from members, to go out with the next frame.
    secrets: Option<Box<crate::tls::KeyLog>>,
}

impl Merged {
    /// The next frame in order; `None` at the end of every member. A member
    /// cut off or corrupt ends there (its error is in [`Merged::finish`]'s
    /// report); the others go on.
    pub fn next_frame(&mut self) -> Option<MergedFrame<'_>> {
        self.recycle();
        loop {
            if let Some(front) = self.window.front() {
                let ripe = self.exhausted
                    || self.flush > 0
                    || self.window.len() > MAX_HELD_FRAMES
                    || self.held_bytes > MAX_HELD_BYTES
                    || self
                        .newest
                        .is_some_and(|n| front.ts.0.saturating_add(self.window_ns) <= n.0);
                if ripe {
                    return self.release();
                }
            } else if self.exhausted {
                return None;
            }
            match self.pull() {
                Some(h) => self.hold(h),
                None => self.exhausted = true,
            }
        }
    }

    /// Sorts a frame into the window, or, if late, puts it after every
    /// frame held now (see the module docs).
    fn hold(&mut self, h: Held) {
        if let Bytes::Owned(v) = &h.bytes {
            self.held_bytes += v.len();
        }
        let newest = self.newest.unwrap_or(h.ts);
        if h.ts.0.saturating_add(self.window_ns) < newest.0 {
            // Late: released after everything held before it; the window
            // starts again from it.
            self.window.push_back(h);
            self.flush = self.window.len();
            self.newest = self.window.back().map(|b| b.ts);
            return;
        }
        self.newest = Some(newest.max(h.ts));
        match self.window.back() {
            Some(b) if b.ts > h.ts => {
                let at = self.window.partition_point(|x| x.ts <= h.ts);
                self.window.insert(at.max(self.flush), h);
            }
            _ => self.window.push_back(h),
        }
    }

    /// The earliest pending frame of the members, taken out of its member
    /// (which then reads its next one).
    fn pull(&mut self) -> Option<Held> {
        loop {
            // The earliest pending frame among the open members.
            let mut best: Option<(Timestamp, usize)> = None;
            for &i in &self.active {
                if let Some(h) = self.members.get(i).and_then(|m| m.head.as_ref())
                    && best.is_none_or(|(t, _)| h.ts < t)
                {
                    best = Some((h.ts, i));
                }
            }
            // A member not started yet whose first frame is not later
            // starts now (ties: the member started first goes first).
            if let Some(m) = self.members.get_mut(self.next)
                && let Some(first) = m.first
                && best.is_none_or(|(t, _)| first < t)
            {
                self.next += 1;
                if m.head.is_none() {
                    m.reopen();
                }
                if m.head.is_some() {
                    self.active.push(self.next - 1);
                }
                continue;
            }
            let (_, i) = best?;
            let m = self.members.get_mut(i)?;
            let f = m.head.take()?;
            let r = m.reader.as_ref()?;
            m.frames += 1;
            let bytes = if matches!(r.src, Source::Whole { .. }) {
                Bytes::Mapped(f.data.clone())
            } else {
                let data = r.src.buffer().get(f.data.clone()).unwrap_or(&[]);
                let mut v = self.pool.pop().unwrap_or_default();
                v.clear();
                v.extend_from_slice(data);
                Bytes::Owned(v)
            };
            m.report.frames += 1;
            m.count_linktype(f.linktype);
            let held = Held {
                ts: f.ts,
                linktype: f.linktype,
                orig_len: f.orig_len,
                member: i,
                file_frame: m.frames,
                bytes,
            };
            // Held from now on: its reader stays open until it is released.
            m.held += 1;
            m.advance();
            if let Some(new) = m.secrets.take() {
                match &mut self.secrets {
                    Some(s) => s.merge(*new),
                    None => self.secrets = Some(new),
                }
            }
            if m.done {
                self.active.retain(|&a| a != i);
            }
            return Some(held);
        }
    }

    /// Releases the window's first frame (it stays at the front, its
    /// bytes borrowed by the caller, until the next call).
    fn release(&mut self) -> Option<MergedFrame<'_>> {
        let secrets = if self.window.is_empty() {
            None
        } else {
            self.secrets.take()
        };
        self.prefetch_ahead();
        let h = self.window.front()?;
        self.out = true;
        let (data, backing) = match &h.bytes {
            Bytes::Owned(v) => (v.as_slice(), None),
            Bytes::Mapped(r) => {
                let src = self
                    .members
                    .get(h.member)
                    .and_then(|m| m.reader.as_ref())
                    .map(|rd| &rd.src);
                let data = src.and_then(|s| s.buffer().get(r.clone())).unwrap_or(&[]);
                let backing = src
                    .and_then(|s| s.whole_bytes())
                    .filter(|_| !data.is_empty())
                    .map(|w| (w, r.start));
                (data, backing)
            }
        };
        Some(MergedFrame {
            ts: h.ts,
            linktype: h.linktype,
            data,
            orig_len: h.orig_len,
            member: h.member,
            file_frame: h.file_frame,
            secrets,
            backing,
        })
    }

    /// Asks the CPU to start loading the frame released [`PREFETCH_AHEAD`]
    /// frames from now: the window holds thousands of frames, so by the time
    /// one is released its bytes (read once already, for its record header)
    /// have left the caches; without this every frame's headers are a
    /// cache miss the analysis waits on.
    fn prefetch_ahead(&self) {
        #[cfg(target_arch = "x86_64")]
        if let Some(h) = self.window.get(PREFETCH_AHEAD)
            && let Bytes::Mapped(r) = &h.bytes
            && let Some(d) = self
                .members
                .get(h.member)
                .and_then(|m| m.reader.as_ref())
                .and_then(|rd| {
                    rd.src
                        .buffer()
                        .get(r.start..r.end.min(r.start + PREFETCH_BYTES))
                })
        {
            // SAFETY: prefetching is a hint with no effect on memory; the
            // pointers are into a live slice.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                for line in d.chunks(64) {
                    _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
                }
            }
        }
    }

    /// Done with the frame released last: it leaves the window, its buffer
    /// goes back to the pool, its member closes if it has ended and holds
    /// nothing more.
    fn recycle(&mut self) {
        if !std::mem::take(&mut self.out) {
            return;
        }
        let Some(h) = self.window.pop_front() else {
            return;
        };
        self.flush = self.flush.saturating_sub(1);
        if let Some(m) = self.members.get_mut(h.member) {
            m.held = m.held.saturating_sub(1);
            m.close_if_unused();
        }
        if let Bytes::Owned(v) = h.bytes {
            self.held_bytes -= v.len();
            if self.pool.len() < 64 {
                self.pool.push(v);
            }
        }
    }

    /// Bytes of the inputs read so far (on disk: compressed bytes for
    /// gzip files).
    pub fn bytes_read(&self) -> u64 {
        self.members.iter().map(Member::position).sum()
    }

    /// The sum of the inputs' sizes, if all are regular files.
    pub fn bytes_total(&self) -> Option<u64> {
        self.total
    }

    /// What the inputs' Decryption Secrets Blocks gave, in reading order
    /// (call at the end, before [`Merged::finish`]).
    pub fn keylog_reports(&mut self) -> Vec<crate::report::tls::KeyLogReport> {
        self.members
            .iter_mut()
            .filter_map(|m| m.dsb.take())
            .collect()
    }

    /// What was read of each input, in reading order (call at the end).
    pub fn finish(self) -> Vec<InputReport> {
        self.members
            .into_iter()
            .map(|mut m| {
                m.flush_linktypes();
                m.report
            })
            .collect()
    }
}
