//! Resumable per-direction HTTP/1.x message parser: httparse for heads,
//! length/chunked/close-delimited bodies.
//!
//! Only head bytes are ever buffered (up to [`HEAD_CAP`]); bodies are skipped
//! by count or walked by the chunked state machine. The parser is pull-style:
//! [`DirParser::next`] consumes input until it has something to report, so
//! the session can decide a response's framing from the request it answers
//! before the parser reads on.

use std::collections::VecDeque;

use memchr::memchr_iter;

use crate::anomaly::AnomalyKind;
use crate::http::framing::{self, ContentLength, MessageKind, RequestKind};
use crate::http::session::AnomalyLog;
use crate::http::{Framing, HeadInfo, KeepAliveParams, Version};
use crate::types::{At, Dir, Role};

/// Most bytes one head may take; past this it is the anomaly
/// `head_too_large` and the direction resynchronises.
pub const HEAD_CAP: usize = 64 * 1024;

/// Headers parsed without allocating; a head with more is retried once with
/// [`MAX_HEADERS`].
const INLINE_HEADERS: usize = 100;
/// Most headers accepted in one head.
const MAX_HEADERS: usize = 4096;
/// Longest method accepted as "token-shaped".
const MAX_METHOD: usize = 24;

const KNOWN_METHODS: &[&[u8]] = &[
    b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE", b"PRI",
];

/// Does a byte prefix look like the start of an HTTP message?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It does.
    Yes,
    /// Too short to tell, but consistent so far.
    NeedMore,
    /// It does not.
    No,
}

fn is_method_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b == b'-' || b == b'_'
}

/// Classifies bytes as the start of a request line: a known method, or an
/// upper-case token followed by ` /` or ` http`.
pub fn classify_request(bytes: &[u8]) -> Verdict {
    let Some(sp) = bytes
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
    else {
        return if bytes.len() <= MAX_METHOD && bytes.iter().all(|&b| is_method_byte(b)) {
            Verdict::NeedMore
        } else {
            Verdict::No
        };
    };
    let (method, rest) = bytes.split_at(sp);
    if method.is_empty() || method.len() > MAX_METHOD || !method.iter().all(|&b| is_method_byte(b))
    {
        return Verdict::No;
    }
    if rest.first() != Some(&b' ') {
        // A known method alone on its line (`OPTIONS`): malformed, but a
        // request all the same (servers answer it with 400).
        return if KNOWN_METHODS.contains(&method) {
            Verdict::Yes
        } else {
            Verdict::No
        };
    }
    let target = rest.get(1..).unwrap_or_default();
    let Some(&first) = target.first() else {
        return Verdict::NeedMore;
    };
    if KNOWN_METHODS.contains(&method) {
        return if first.is_ascii_graphic() {
            Verdict::Yes
        } else {
            Verdict::No
        };
    }
    if first == b'/' {
        return Verdict::Yes;
    }
    let n = target.len().min(4);
    match (target.get(..n), b"http".get(..n)) {
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => {
            if n == 4 {
                Verdict::Yes
            } else {
                Verdict::NeedMore
            }
        }
        _ => Verdict::No,
    }
}

/// Classifies bytes as the start of a status line (`HTTP/1.`).
pub fn classify_status(bytes: &[u8]) -> Verdict {
    const P: &[u8] = b"HTTP/1.";
    let n = bytes.len().min(P.len());
    if bytes.get(..n) != P.get(..n) {
        Verdict::No
    } else if n < P.len() {
        Verdict::NeedMore
    } else {
        Verdict::Yes
    }
}

fn classify(dir: Dir, bytes: &[u8]) -> Verdict {
    match dir {
        Dir::ToServer => classify_request(bytes),
        Dir::ToClient => classify_status(bytes),
    }
}

/// [`classify`] over the concatenation of `a` and `b` (only a short prefix
/// is needed).
fn classify_joined(dir: Dir, a: &[u8], b: &[u8]) -> Verdict {
    let mut tmp = [0u8; 64];
    let na = a.len().min(tmp.len());
    let nb = b.len().min(tmp.len() - na);
    let (ta, tb) = tmp.split_at_mut(na);
    ta.copy_from_slice(a.get(..na).unwrap_or_default());
    if let (Some(dst), Some(src)) = (tb.get_mut(..nb), b.get(..nb)) {
        dst.copy_from_slice(src);
    }
    classify(dir, tmp.get(..na + nb).unwrap_or_default())
}

/// Which role sent these first bytes, if they look like HTTP/1.x.
pub fn role_hint(first_bytes: &[u8]) -> Option<Role> {
    if first_bytes.len() >= 7 && classify_status(first_bytes) == Verdict::Yes {
        return Some(Role::Server);
    }
    if classify_request(first_bytes) != Verdict::Yes {
        return None;
    }
    match memchr::memchr(b'\n', first_bytes) {
        // Cut before the end of the line: the method and target will do.
        None => Some(Role::Client),
        Some(nl) => {
            let line = first_bytes.get(..nl).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let sp = line.iter().rposition(|&b| b == b' ')?;
            let version = line.get(sp + 1..)?;
            (version.len() == 8 && version.starts_with(b"HTTP/1.")).then_some(Role::Client)
        }
    }
}

/// Finds the end of a head: the first empty line (`\r\n\r\n`, or leniently
/// `\n\n` / `\n\r\n`). `tail` is the end of what is already buffered (up to
/// 2 bytes matter); returns how many bytes of `input` complete the head.
pub fn find_head_end(tail: &[u8], input: &[u8]) -> Option<usize> {
    let tail = tail.get(tail.len().saturating_sub(2)..).unwrap_or_default();
    let mut best: Option<usize> = None;
    if !tail.is_empty() {
        let mut w = [0u8; 4];
        let nt = tail.len();
        let ni = input.len().min(2);
        let (wa, wb) = w.split_at_mut(nt);
        wa.copy_from_slice(tail);
        if let (Some(dst), Some(src)) = (wb.get_mut(..ni), input.get(..ni)) {
            dst.copy_from_slice(src);
        }
        let window = w.get(..nt + ni).unwrap_or_default();
        if let Some(end) = find_blank_line(window, nt) {
            best = Some(end - nt);
        }
    }
    if let Some(end) = find_blank_line(input, 0) {
        best = Some(best.map_or(end, |b| b.min(end)));
    }
    best
}

/// The end (exclusive) of the first blank line whose first `\n` is at or
/// after... any position, ending after `min_end`.
fn find_blank_line(hay: &[u8], min_end: usize) -> Option<usize> {
    for i in memchr_iter(b'\n', hay) {
        let end = match (hay.get(i + 1), hay.get(i + 2)) {
            (Some(b'\n'), _) => i + 2,
            (Some(b'\r'), Some(b'\n')) => i + 3,
            _ => continue,
        };
        if end > min_end {
            return Some(end);
        }
    }
    None
}

/// First line of a message, as parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// A request line.
    Request {
        /// Method as sent.
        method: String,
        /// Request target as sent.
        target: String,
    },
    /// A status line.
    Response {
        /// Status code.
        status: u16,
        /// Reason phrase (lossy UTF-8).
        reason: String,
    },
}

/// A message head as the parser saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedHead {
    /// Request or status line.
    pub line: StartLine,
    /// HTTP/1.minor.
    pub version: Version,
    /// Header facts.
    pub head: HeadInfo,
    /// How the body ends (`Unknown` for a cut head).
    pub framing: Framing,
    /// The event holding the head's first byte.
    pub start: At,
    /// The event completing the head (or cutting it short).
    pub head_end: At,
}

/// How the message whose head was last reported ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageEnd {
    /// Body bytes, including chunk framing and gap bytes.
    pub body_bytes: u64,
    /// Body bytes lost to capture gaps.
    pub gap_bytes: u64,
    /// The message was framed to its end.
    pub complete: bool,
    /// The event holding the last byte, if complete.
    pub at: Option<At>,
}

/// What the parser reports, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseEvent {
    /// A whole head; a [`ParseEvent::End`] for its message follows later.
    Head(Box<ParsedHead>),
    /// A head cut short (gap, end of stream, too large) whose first line was
    /// recognised. Framing `Unknown`; no `End` follows.
    CutHead(Box<ParsedHead>),
    /// The message of the last `Head` ended (complete or not).
    End(MessageEnd),
}

/// Why the stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndKind {
    /// The sender's FIN.
    Fin,
    /// A RST.
    Reset,
    /// The capture ended.
    Finish,
}

/// Per-direction counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Runs of non-HTTP bytes where a head should start.
    pub non_http_runs: u64,
    /// Their bytes.
    pub non_http_bytes: u64,
    /// Heads parsed after a resynchronisation.
    pub resyncs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Size { n: u64, digits: u8 },
    Ext { n: u64 },
    SizeLf { n: u64 },
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLf,
}

enum ChunkOutcome {
    More,
    Done,
    Bad(&'static str),
}

/// Runs the chunked-body state machine over `input`; returns how many bytes
/// it consumed (on `Bad`, up to and excluding the offending byte).
fn chunk_step(state: &mut Chunk, input: &[u8]) -> (usize, ChunkOutcome) {
    let mut i = 0;
    while let Some(rest) = input.get(i..) {
        let Some(&b) = rest.first() else { break };
        match *state {
            Chunk::Data(rem) => {
                let n = rem.min(rest.len() as u64);
                i += n as usize;
                let left = rem - n;
                *state = if left == 0 {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left)
                };
                continue;
            }
            Chunk::Ext { n } => match memchr::memchr(b'\n', rest) {
                Some(j) => {
                    i += j + 1;
                    *state = after_size_line(n);
                    continue;
                }
                None => return (input.len(), ChunkOutcome::More),
            },
            Chunk::TrailerLine => match memchr::memchr(b'\n', rest) {
                Some(j) => {
                    i += j + 1;
                    *state = Chunk::TrailerStart;
                    continue;
                }
                None => return (input.len(), ChunkOutcome::More),
            },
            Chunk::Size { n, digits } => {
                if let Some(d) = (b as char).to_digit(16) {
                    if digits >= 16 {
                        return (i, ChunkOutcome::Bad("chunk size too large"));
                    }
                    *state = Chunk::Size {
                        n: (n << 4) | u64::from(d),
                        digits: digits + 1,
                    };
                } else if digits == 0 {
                    return (i, ChunkOutcome::Bad("chunk size is not hex"));
                } else {
                    match b {
                        b';' | b' ' | b'\t' => *state = Chunk::Ext { n },
                        b'\r' => *state = Chunk::SizeLf { n },
                        b'\n' => *state = after_size_line(n),
                        _ => return (i, ChunkOutcome::Bad("bad byte after chunk size")),
                    }
                }
            }
            Chunk::SizeLf { n } => {
                if b != b'\n' {
                    return (i, ChunkOutcome::Bad("chunk size line without LF"));
                }
                *state = after_size_line(n);
            }
            Chunk::DataCr => match b {
                b'\r' => *state = Chunk::DataLf,
                b'\n' => *state = Chunk::Size { n: 0, digits: 0 },
                _ => return (i, ChunkOutcome::Bad("chunk data not followed by CRLF")),
            },
            Chunk::DataLf => {
                if b != b'\n' {
                    return (i, ChunkOutcome::Bad("chunk data not followed by CRLF"));
                }
                *state = Chunk::Size { n: 0, digits: 0 };
            }
            Chunk::TrailerStart => match b {
                b'\r' => *state = Chunk::TrailerLf,
                b'\n' => return (i + 1, ChunkOutcome::Done),
                _ => *state = Chunk::TrailerLine,
            },
            Chunk::TrailerLf => {
                if b != b'\n' {
                    return (i, ChunkOutcome::Bad("bad end of chunked body"));
                }
                return (i + 1, ChunkOutcome::Done);
            }
        }
        i += 1;
    }
    (input.len(), ChunkOutcome::More)
}

fn after_size_line(n: u64) -> Chunk {
    if n == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data(n)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting (or inside) a head.
    Head,
    /// Inside a body.
    Body(Body),
    /// Looking for the next message start. `garbage`: the skipped bytes are
    /// non-HTTP (counted); `line_start`: the next byte starts a line.
    Resync { garbage: bool, line_start: bool },
    /// A tunnel: nothing here is HTTP any more.
    Opaque,
    /// After FIN/RST/finish.
    Closed,
}

/// The HTTP parser of one direction.
pub struct DirParser {
    dir: Dir,
    state: State,
    head_buf: Vec<u8>,
    head_start: Option<At>,
    start_ok: bool,
    body_bytes: u64,
    gap_bytes: u64,
    /// A non-HTTP run is in progress (one anomaly per run).
    in_garbage: bool,
    /// Parsing was lost; the next good head counts a resync.
    resyncing: bool,
    after_close_reported: bool,
    out: VecDeque<ParseEvent>,
    stats: DirStats,
}

impl DirParser {
    /// A parser for requests (`Dir::ToServer`) or responses (`Dir::ToClient`).
    pub fn new(dir: Dir) -> Self {
        DirParser {
            dir,
            state: State::Head,
            head_buf: Vec::new(),
            head_start: None,
            start_ok: false,
            body_bytes: 0,
            gap_bytes: 0,
            in_garbage: false,
            resyncing: false,
            after_close_reported: false,
            out: VecDeque::new(),
            stats: DirStats::default(),
        }
    }

    /// Counters of this direction.
    pub fn stats(&self) -> &DirStats {
        &self.stats
    }

    /// From now on, nothing in this direction is HTTP (tunnel). A head in
    /// progress is dropped.
    pub fn set_opaque(&mut self) {
        if self.state != State::Closed {
            self.state = State::Opaque;
        }
        self.head_buf.clear();
        self.head_start = None;
        self.start_ok = false;
    }

    fn by(&self) -> Option<Role> {
        Some(self.dir.sender())
    }

    /// Consumes `input` until there is something to report. `request` is the
    /// kind of the oldest unanswered request (it decides a response's
    /// framing). Returns None once `input` is used up and nothing is queued.
    pub fn next(
        &mut self,
        input: &mut &[u8],
        at: At,
        request: RequestKind,
        log: &mut AnomalyLog,
    ) -> Option<ParseEvent> {
        loop {
            if let Some(ev) = self.out.pop_front() {
                return Some(ev);
            }
            if input.is_empty() {
                return None;
            }
            match self.state {
                State::Opaque => *input = &[],
                State::Closed => {
                    if !self.after_close_reported {
                        self.after_close_reported = true;
                        log.push(
                            AnomalyKind::DataAfterClose,
                            at,
                            self.by(),
                            format!("{} bytes after the stream ended", input.len()),
                        );
                    }
                    *input = &[];
                }
                State::Head => self.step_head(input, at, request, log),
                State::Body(body) => self.step_body(body, input, at, log),
                State::Resync {
                    garbage,
                    line_start,
                } => self.step_resync(garbage, line_start, input),
            }
        }
    }

    fn enter_resync(&mut self, garbage: bool, line_start: bool) {
        self.state = State::Resync {
            garbage,
            line_start,
        };
        self.resyncing = true;
    }

    fn start_garbage(&mut self, at: At, log: &mut AnomalyLog, detail: &str) {
        if !self.in_garbage {
            self.in_garbage = true;
            self.stats.non_http_runs = self.stats.non_http_runs.saturating_add(1);
            log.push(AnomalyKind::NonHttp, at, self.by(), detail.to_string());
        }
    }

    fn step_head(&mut self, input: &mut &[u8], at: At, request: RequestKind, log: &mut AnomalyLog) {
        if self.head_buf.is_empty() && !self.start_ok {
            // Empty lines between messages are tolerated (RFC 9112 2.2).
            let skip = input
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            *input = input.get(skip..).unwrap_or_default();
            if input.is_empty() {
                return;
            }
        }
        if self.head_start.is_none() {
            self.head_start = Some(at);
        }
        if !self.start_ok {
            match classify_joined(self.dir, &self.head_buf, input) {
                Verdict::Yes => self.start_ok = true,
                Verdict::NeedMore => {
                    // Short by construction (a method or `HTTP/1.` prefix).
                    self.head_buf.extend_from_slice(input);
                    *input = &[];
                    return;
                }
                Verdict::No => {
                    let dropped = self.head_buf.len() as u64;
                    let line_start = false;
                    self.head_buf.clear();
                    self.head_start = None;
                    if self.in_garbage || !self.resyncing {
                        // A fresh run (or the same one going on).
                        self.start_garbage(
                            at,
                            log,
                            "bytes where a message head should start are not HTTP",
                        );
                        self.stats.non_http_bytes =
                            self.stats.non_http_bytes.saturating_add(dropped);
                        self.enter_resync(true, line_start);
                    } else {
                        // After a gap: the rest of a message we lost track of.
                        self.enter_resync(false, line_start);
                    }
                    return;
                }
            }
        }
        let found = find_head_end(&self.head_buf, input);
        let take = found.unwrap_or(input.len());
        let room = HEAD_CAP.saturating_sub(self.head_buf.len());
        if take > room {
            let (a, rest) = input.split_at(room.min(input.len()));
            self.head_buf.extend_from_slice(a);
            *input = rest;
            log.push(
                AnomalyKind::HeadTooLarge,
                at,
                self.by(),
                format!("no end of head within {HEAD_CAP} bytes"),
            );
            self.cut_head(at);
            self.enter_resync(false, false);
            return;
        }
        let Some(end) = found else {
            self.head_buf.extend_from_slice(input);
            *input = &[];
            return;
        };
        let (head, rest) = input.split_at(end.min(input.len()));
        *input = rest;
        if self.head_buf.is_empty() {
            self.complete_head(head, at, request, log);
        } else {
            let mut buf = std::mem::take(&mut self.head_buf);
            buf.extend_from_slice(head);
            self.complete_head(&buf, at, request, log);
            buf.clear();
            self.head_buf = buf;
        }
    }

    /// A head that ended with a blank line: parse it, decide framing, queue
    /// events.
    fn complete_head(&mut self, head: &[u8], at: At, request: RequestKind, log: &mut AnomalyLog) {
        let start = self.head_start.take().unwrap_or(at);
        self.start_ok = false;
        let parsed = match self.dir {
            Dir::ToServer => parse_request(head),
            Dir::ToClient => parse_response(head),
        };
        let parsed = match (parsed, self.dir) {
            // A request line httparse rejects (no target, a cut version)
            // that still starts with a method: servers answer these (400),
            // so the exchange is real. Count it, and say it was malformed.
            (Err(e), Dir::ToServer) => match lenient_request(head) {
                Some(p) => {
                    log.push(
                        AnomalyKind::MalformedRequestLine,
                        start,
                        self.by(),
                        format!("{e}: {}", first_line_text(head)),
                    );
                    Ok(p)
                }
                None => Err(e),
            },
            (p, _) => p,
        };
        let (line, version, fields) = match parsed {
            Ok(p) => p,
            Err(e) => {
                self.start_garbage(at, log, &format!("unparseable head: {e}"));
                self.stats.non_http_bytes =
                    self.stats.non_http_bytes.saturating_add(head.len() as u64);
                self.enter_resync(true, true);
                return;
            }
        };
        self.in_garbage = false;
        if self.resyncing {
            self.resyncing = false;
            self.stats.resyncs = self.stats.resyncs.saturating_add(1);
        }
        let kind = match &line {
            StartLine::Request { .. } => MessageKind::Request,
            StartLine::Response { status, .. } => MessageKind::Response {
                status: *status,
                request,
            },
        };
        let decision = framing::decide(kind, fields.info.transfer_encoding.as_deref(), fields.cl);
        for a in &decision.anomalies {
            let detail = match *a {
                AnomalyKind::ContentLengthWithChunked | AnomalyKind::BadTransferEncoding => {
                    format!(
                        "Transfer-Encoding: {}",
                        fields.info.transfer_encoding.as_deref().unwrap_or_default()
                    )
                }
                _ => format!("Content-Length: {:?}", fields.cl),
            };
            log.push(*a, at, self.by(), detail);
        }
        let mut info = fields.info;
        info.head_bytes = head.len() as u64;
        let framing = decision.framing;
        self.out.push_back(ParseEvent::Head(Box::new(ParsedHead {
            line,
            version,
            head: info,
            framing,
            start,
            head_end: at,
        })));
        self.body_bytes = 0;
        self.gap_bytes = 0;
        match framing {
            Framing::NoBody | Framing::ContentLength(0) => {
                self.end_message(true, Some(at));
                self.state = State::Head;
            }
            Framing::ContentLength(n) => self.state = State::Body(Body::Length(n)),
            Framing::Chunked => {
                self.state = State::Body(Body::Chunked(Chunk::Size { n: 0, digits: 0 }))
            }
            Framing::CloseDelimited => self.state = State::Body(Body::Close),
            Framing::Tunnel => {
                self.end_message(true, Some(at));
                self.state = State::Opaque;
            }
            Framing::Unknown => {
                self.end_message(false, None);
                self.enter_resync(false, true);
            }
        }
    }

    fn end_message(&mut self, complete: bool, at: Option<At>) {
        self.out.push_back(ParseEvent::End(MessageEnd {
            body_bytes: self.body_bytes,
            gap_bytes: self.gap_bytes,
            complete,
            at: if complete { at } else { None },
        }));
    }

    /// A head in progress will not complete: report it if its first line
    /// was recognised, and forget it.
    fn cut_head(&mut self, at: At) {
        let start = self.head_start.take();
        self.start_ok = false;
        if let (Some(start), Some((line, version))) =
            (start, parse_first_line(self.dir, &self.head_buf))
        {
            let head = HeadInfo {
                head_bytes: self.head_buf.len() as u64,
                ..HeadInfo::default()
            };
            self.out.push_back(ParseEvent::CutHead(Box::new(ParsedHead {
                line,
                version,
                head,
                framing: Framing::Unknown,
                start,
                head_end: at,
            })));
        }
        self.head_buf.clear();
    }

    fn step_body(&mut self, body: Body, input: &mut &[u8], at: At, log: &mut AnomalyLog) {
        match body {
            Body::Length(rem) => {
                let n = rem.min(input.len() as u64);
                *input = input.get(n as usize..).unwrap_or_default();
                self.body_bytes = self.body_bytes.saturating_add(n);
                if rem == n {
                    self.end_message(true, Some(at));
                    self.state = State::Head;
                } else {
                    self.state = State::Body(Body::Length(rem - n));
                }
            }
            Body::Close => {
                self.body_bytes = self.body_bytes.saturating_add(input.len() as u64);
                *input = &[];
            }
            Body::Chunked(mut chunk) => {
                let (used, outcome) = chunk_step(&mut chunk, input);
                *input = input.get(used..).unwrap_or_default();
                self.body_bytes = self.body_bytes.saturating_add(used as u64);
                match outcome {
                    ChunkOutcome::More => self.state = State::Body(Body::Chunked(chunk)),
                    ChunkOutcome::Done => {
                        self.end_message(true, Some(at));
                        self.state = State::Head;
                    }
                    ChunkOutcome::Bad(why) => {
                        log.push(AnomalyKind::BadChunk, at, self.by(), why.to_string());
                        self.end_message(false, None);
                        self.enter_resync(false, true);
                    }
                }
            }
        }
    }

    fn step_resync(&mut self, garbage: bool, line_start: bool, input: &mut &[u8]) {
        let data = *input;
        let first = line_start.then_some(0);
        let found = first
            .into_iter()
            .chain(memchr_iter(b'\n', data).map(|i| i + 1))
            .filter(|&p| p < data.len())
            .find(|&p| classify(self.dir, data.get(p..).unwrap_or_default()) != Verdict::No);
        let skipped = found.unwrap_or(data.len());
        if garbage {
            self.stats.non_http_bytes = self.stats.non_http_bytes.saturating_add(skipped as u64);
        }
        *input = data.get(skipped..).unwrap_or_default();
        if found.is_some() {
            self.state = State::Head;
        } else {
            let line_start = data.last() == Some(&b'\n');
            self.state = State::Resync {
                garbage,
                line_start,
            };
        }
    }

    /// `n` bytes of this direction were never captured.
    pub fn on_gap(&mut self, n: u64, at: At) {
        match self.state {
            State::Opaque | State::Closed => {}
            State::Head => {
                if self.head_start.is_some() || !self.head_buf.is_empty() {
                    self.cut_head(at);
                }
                self.head_start = None;
                self.enter_resync(false, true);
            }
            State::Body(Body::Length(rem)) => {
                let take = rem.min(n);
                self.gap_bytes = self.gap_bytes.saturating_add(take);
                self.body_bytes = self.body_bytes.saturating_add(take);
                if take == rem {
                    self.end_message(true, Some(at));
                    if n > take {
                        self.enter_resync(false, true);
                    } else {
                        self.state = State::Head;
                    }
                } else {
                    self.state = State::Body(Body::Length(rem - take));
                }
            }
            State::Body(Body::Close) => {
                self.gap_bytes = self.gap_bytes.saturating_add(n);
                self.body_bytes = self.body_bytes.saturating_add(n);
            }
            State::Body(Body::Chunked(_)) => {
                self.gap_bytes = self.gap_bytes.saturating_add(n);
                self.end_message(false, None);
                self.enter_resync(false, true);
            }
            State::Resync { garbage, .. } => {
                self.state = State::Resync {
                    garbage,
                    line_start: true,
                }
            }
        }
    }

    /// The stream ended (FIN, RST, or the capture ended).
    pub fn on_end(&mut self, kind: EndKind, at: At, log: &mut AnomalyLog) {
        match self.state {
            State::Closed => return,
            State::Opaque | State::Resync { .. } => {}
            State::Head => {
                if self.head_start.is_some() || !self.head_buf.is_empty() {
                    self.cut_head(at);
                }
            }
            State::Body(Body::Close) => {
                let fin = kind == EndKind::Fin;
                self.end_message(fin, Some(at));
            }
            State::Body(Body::Length(rem)) => {
                if kind == EndKind::Fin {
                    log.push(
                        AnomalyKind::BodyTruncatedAtClose,
                        at,
                        self.by(),
                        format!(
                            "expected {} body bytes, saw {}",
                            self.body_bytes.saturating_add(rem),
                            self.body_bytes
                        ),
                    );
                }
                self.end_message(false, None);
            }
            State::Body(Body::Chunked(_)) => {
                if kind == EndKind::Fin {
                    log.push(
                        AnomalyKind::BodyTruncatedAtClose,
                        at,
                        self.by(),
                        format!("chunked body unfinished after {} bytes", self.body_bytes),
                    );
                }
                self.end_message(false, None);
            }
        }
        self.head_buf.clear();
        self.head_buf.shrink_to_fit();
        self.state = State::Closed;
    }
}

/// What a head's headers say, before framing.
struct Fields {
    info: HeadInfo,
    cl: ContentLength,
}

type HeadParse = Result<(StartLine, Version, Fields), String>;

fn config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_requests(true)
        .ignore_invalid_headers_in_responses(true);
    c
}

fn parse_request(head: &[u8]) -> HeadParse {
    let mut headers = [httparse::EMPTY_HEADER; INLINE_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match config().parse_request(&mut req, head) {
        Ok(httparse::Status::Complete(_)) => request_parts(&req),
        Ok(httparse::Status::Partial) => Err("incomplete head".into()),
        Err(httparse::Error::TooManyHeaders) => {
            let mut big = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut big);
            match config().parse_request(&mut req, head) {
                Ok(httparse::Status::Complete(_)) => request_parts(&req),
                Ok(httparse::Status::Partial) => Err("incomplete head".into()),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The first line of a head, for messages (at most 80 characters).
fn first_line_text(head: &[u8]) -> String {
    let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = head.get(..end).unwrap_or_default().trim_ascii_end();
    String::from_utf8_lossy(line.get(..line.len().min(80)).unwrap_or_default()).into_owned()
}

/// Reads a request head whose request line httparse rejected, as tshark and
/// Zeek do: the line must start with an upper-case method token followed by
/// a space or the end of the line (`OPTIONS HTTP/1.1`, `GET / HTTP/1.`,
/// `OPTIONS`); `GET/ HTTP/1.1` is not a request line. The target is the
/// next word that is not a version; the version `HTTP/1.N` if one is there
/// (else 1.1, the default of the servers that answer these).
fn lenient_request(head: &[u8]) -> Option<(StartLine, Version, Fields)> {
    let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = head.get(..end)?.trim_ascii_end();
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let method = words.next()?;
    if method.len() > MAX_METHOD || !method.iter().all(|&b| is_method_byte(b)) {
        return None;
    }
    let mut target: &[u8] = b"";
    let mut minor = 1;
    for w in words {
        if let Some(v) = w.strip_prefix(b"HTTP/1.") {
            minor = v
                .first()
                .filter(|d| d.is_ascii_digit())
                .map_or(1, |d| d - b'0');
        } else if target.is_empty() {
            target = w;
        }
    }
    let rest = head.get(end + 1..).unwrap_or_default();
    let mut headers = [httparse::EMPTY_HEADER; INLINE_HEADERS];
    let fields = match httparse::parse_headers(rest, &mut headers) {
        Ok(httparse::Status::Complete((_, h))) => head_fields(h),
        _ => head_fields(&[]),
    };
    Some((
        StartLine::Request {
            method: String::from_utf8_lossy(method).into_owned(),
            target: String::from_utf8_lossy(target).into_owned(),
        },
        Version { minor },
        fields,
    ))
}

fn request_parts(req: &httparse::Request<'_, '_>) -> HeadParse {
    let line = StartLine::Request {
        method: req.method.unwrap_or_default().to_string(),
        target: req.path.unwrap_or_default().to_string(),
    };
    let version = Version {
        minor: req.version.unwrap_or(1),
    };
    Ok((line, version, head_fields(req.headers)))
}

fn parse_response(head: &[u8]) -> HeadParse {
    let mut headers = [httparse::EMPTY_HEADER; INLINE_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match config().parse_response(&mut resp, head) {
        Ok(httparse::Status::Complete(_)) => response_parts(&resp),
        Ok(httparse::Status::Partial) => Err("incomplete head".into()),
        Err(httparse::Error::TooManyHeaders) => {
            let mut big = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut big);
            match config().parse_response(&mut resp, head) {
                Ok(httparse::Status::Complete(_)) => response_parts(&resp),
                Ok(httparse::Status::Partial) => Err("incomplete head".into()),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

fn response_parts(resp: &httparse::Response<'_, '_>) -> HeadParse {
    let line = StartLine::Response {
        status: resp.code.unwrap_or_default(),
        reason: resp.reason.unwrap_or_default().to_string(),
    };
    let version = Version {
        minor: resp.version.unwrap_or(1),
    };
    Ok((line, version, head_fields(resp.headers)))
}

fn head_fields(headers: &[httparse::Header<'_>]) -> Fields {
    let mut info = HeadInfo::default();
    let mut cl = ContentLength::Absent;
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("connection") {
            for t in h.value.split(|&b| b == b',') {
                let t = t.trim_ascii();
                if !t.is_empty() {
                    info.connection
                        .push(String::from_utf8_lossy(t).to_ascii_lowercase());
                }
            }
        } else if name.eq_ignore_ascii_case("keep-alive") {
            let ka = info.keep_alive.get_or_insert_with(KeepAliveParams::default);
            crate::http::keepalive::parse_keep_alive(h.value, ka);
        } else if name.eq_ignore_ascii_case("content-length") {
            cl = cl.add_value(h.value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value.trim_ascii()).to_ascii_lowercase();
            match &mut info.transfer_encoding {
                Some(te) => {
                    te.push_str(", ");
                    te.push_str(&v);
                }
                None => info.transfer_encoding = Some(v),
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                info.expect_continue = true;
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            let v = String::from_utf8_lossy(h.value.trim_ascii());
            match &mut info.upgrade {
                Some(u) => {
                    u.push_str(", ");
                    u.push_str(&v);
                }
                None => info.upgrade = Some(v.into_owned()),
            }
        }
    }
    info.content_length = cl.value();
    Fields { info, cl }
}

/// Parses the first line of a cut head by hand: a request line with a
/// recognisable method and target, or a final (>= 200) status line.
fn parse_first_line(dir: Dir, buf: &[u8]) -> Option<(StartLine, Version)> {
    let line = match memchr::memchr(b'\n', buf) {
        Some(i) => buf.get(..i)?,
        None => buf,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let version_of = |v: Option<&[u8]>| {
        v.and_then(|v| v.strip_prefix(b"HTTP/1."))
            .and_then(|d| d.first())
            .filter(|d| d.is_ascii_digit())
            .map_or(Version::HTTP11, |d| Version { minor: d - b'0' })
    };
    match dir {
        Dir::ToServer => {
            if classify_request(buf) != Verdict::Yes {
                return None;
            }
            let method = parts.next()?;
            let target = parts.next()?;
            let version = version_of(parts.next());
            Some((
                StartLine::Request {
                    method: String::from_utf8_lossy(method).into_owned(),
                    target: String::from_utf8_lossy(target).into_owned(),
                },
                version,
            ))
        }
        Dir::ToClient => {
            let v = parts.next()?;
            if classify_status(v) != Verdict::Yes {
                return None;
            }
            let code = parts.next()?;
            if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let status = std::str::from_utf8(code).ok()?.parse::<u16>().ok()?;
            if status < 200 {
                return None;
            }
            let reason_start = line
                .windows(code.len())
                .position(|w| w == code)
                .map_or(line.len(), |p| p + code.len());
            let reason = line.get(reason_start..).unwrap_or_default().trim_ascii();
            Some((
                StartLine::Response {
                    status,
                    reason: String::from_utf8_lossy(reason).into_owned(),
                },
                version_of(Some(v)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_hints() {
        assert_eq!(
            role_hint(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(Role::Client)
        );
        assert_eq!(role_hint(b"POST /x?y=1 HTTP/1.0\r\n"), Some(Role::Client));
        assert_eq!(role_hint(b"GET /very/long/target/cut"), Some(Role::Client));
        assert_eq!(role_hint(b"PROPFIND /dav HTTP/1.1\r\n"), Some(Role::Client));
        assert_eq!(
            role_hint(b"CONNECT example.com:443 HTTP/1.1\r\n"),
            Some(Role::Client)
        );
        assert_eq!(role_hint(b"HTTP/1.1 200 OK\r\n"), Some(Role::Server));
        assert_eq!(role_hint(b"HTTP/1.0 404"), Some(Role::Server));
        assert_eq!(role_hint(b"GET / HTTP/2.0\r\n"), None);
        assert_eq!(role_hint(b"\x16\x03\x01\x02\x00"), None);
        assert_eq!(role_hint(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(role_hint(b"get / HTTP/1.1\r\n"), None);
        assert_eq!(role_hint(b""), None);
        assert_eq!(role_hint(b"HTTP/"), None);
        assert_eq!(role_hint(b"FOO bar HTTP/1.1\r\n"), None);
    }

    #[test]
    fn classifiers() {
        assert_eq!(classify_request(b"GE"), Verdict::NeedMore);
        assert_eq!(classify_request(b"GET "), Verdict::NeedMore);
        assert_eq!(classify_request(b"GET /"), Verdict::Yes);
        assert_eq!(classify_request(b"FOO h"), Verdict::NeedMore);
        assert_eq!(classify_request(b"FOO http://"), Verdict::Yes);
        assert_eq!(classify_request(b"FOO x"), Verdict::No);
        assert_eq!(classify_request(b"\x16\x03"), Verdict::No);
        assert_eq!(classify_status(b"HTT"), Verdict::NeedMore);
        assert_eq!(classify_status(b"HTTP/1.1 200"), Verdict::Yes);
        assert_eq!(classify_status(b"HTTP/2 200"), Verdict::No);
    }

    #[test]
    fn head_end_across_boundary() {
        assert_eq!(find_head_end(b"", b"GET / HTTP/1.1\r\n\r\nxx"), Some(18));
        assert_eq!(find_head_end(b"a\r\n\r", b"\nxx"), Some(1));
        assert_eq!(find_head_end(b"a\r\n", b"\r\nxx"), Some(2));
        assert_eq!(find_head_end(b"a\r", b"\n\r\nxx"), Some(3));
        assert_eq!(find_head_end(b"a\n", b"\nxx"), Some(1));
        assert_eq!(find_head_end(b"a", b"\n\nxx"), Some(2));
        assert_eq!(find_head_end(b"a\r\n", b"b\r\n"), None);
    }

    fn run_chunks(parts: &[&[u8]]) -> (usize, bool, Option<&'static str>) {
        let mut st = Chunk::Size { n: 0, digits: 0 };
        let mut total = 0;
        for p in parts {
            let (used, out) = chunk_step(&mut st, p);
            total += used;
            match out {
                ChunkOutcome::More => assert_eq!(used, p.len()),
                ChunkOutcome::Done => return (total, true, None),
                ChunkOutcome::Bad(w) => return (total, false, Some(w)),
            }
        }
        (total, false, None)
    }

    #[test]
    fn chunked_decoder() {
        let body: &[u8] =
            b"5\r\nhello\r\n6;name=val;x\r\n world\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n";
        assert_eq!(run_chunks(&[body]), (body.len(), true, None));
        // Byte by byte.
        let parts: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(run_chunks(&parts), (body.len(), true, None));
        // Split inside the size line and extension.
        let (a, b) = body.split_at(13);
        assert_eq!(run_chunks(&[a, b]), (body.len(), true, None));
        // Trailing bytes are not consumed.
        let mut more = body.to_vec();
        more.extend_from_slice(b"GET /");
        assert_eq!(run_chunks(&[&more]), (body.len(), true, None));
        // Lenient bare LF, upper-case hex, BWS.
        let lf: &[u8] = b"A \n0123456789\n0\n\n";
        assert_eq!(run_chunks(&[lf]), (lf.len(), true, None));
        // Errors.
        assert_eq!(run_chunks(&[b"zz\r\n"]).2, Some("chunk size is not hex"));
        assert_eq!(
            run_chunks(&[b"2\r\nabc"]).2,
            Some("chunk data not followed by CRLF")
        );
        assert_eq!(
            run_chunks(&[b"11111111111111111\r\n"]).2,
            Some("chunk size too large")
        );
        // Unfinished.
        assert_eq!(run_chunks(&[b"5\r\nhel"]), (6, false, None));
    }

    #[test]
    fn first_line_of_cut_heads() {
        let (l, v) = parse_first_line(Dir::ToServer, b"GET /a HTTP/1.0\r\nHost: x").unwrap();
        assert_eq!(
            l,
            StartLine::Request {
                method: "GET".into(),
                target: "/a".into()
            }
        );
        assert_eq!(v, Version::HTTP10);
        assert!(parse_first_line(Dir::ToServer, b"GE").is_none());
        let (l, _) =
            parse_first_line(Dir::ToClient, b"HTTP/1.1 503 Service Unavailable\r\n").unwrap();
        assert_eq!(
            l,
            StartLine::Response {
                status: 503,
                reason: "Service Unavailable".into()
            }
        );
        assert!(parse_first_line(Dir::ToClient, b"HTTP/1.1 100 Continue\r\n").is_none());
    }
}
