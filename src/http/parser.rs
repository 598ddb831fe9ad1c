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
use crate::http::chunked::{Chunk, ChunkOutcome, chunk_step};
use crate::http::framing::{self, MessageKind, RequestKind};
use crate::http::head::{HEAD_CAP, find_head_end, parse_request, parse_response};
use crate::http::session::AnomalyLog;
pub use crate::http::start_line::StartLine;
use crate::http::start_line::{
    Verdict, classify, classify_joined, classify_strict_joined, first_line_text, lenient_request,
    parse_first_line,
};
use crate::http::{Framing, HeadInfo, Version};
use crate::types::{At, Dir, Role};

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

/// What the parser reports, in stream order. Heads are boxed: the queue of
/// each direction of every connection tracked (closed ones linger) keeps
/// its allocation, four events, and unboxed heads made that 1 KiB a
/// direction (20 MiB more peak heap on the big capture) for a malloc and a
/// free per message saved.
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
    /// Bytes after the switch to a tunnel (101 or 2xx to CONNECT),
    /// including bytes the capture lost.
    pub tunnel_bytes: u64,
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
    /// The event that brought the last bytes of an unfinished head.
    head_last: Option<At>,
    start_ok: bool,
    body_bytes: u64,
    gap_bytes: u64,
    /// A non-HTTP run is in progress (one anomaly per run).
    in_garbage: bool,
    /// Parsing was lost; the next good head counts a resync.
    resyncing: bool,
    /// Empty-line bytes skipped where a head should start: tolerated
    /// between messages, counted as non-HTTP if no head follows.
    blank: u64,
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
            head_last: None,
            start_ok: false,
            body_bytes: 0,
            gap_bytes: 0,
            in_garbage: false,
            resyncing: false,
            blank: 0,
            after_close_reported: false,
            out: VecDeque::new(),
            stats: DirStats::default(),
        }
    }

    /// Bytes of a head in progress (at most [`HEAD_CAP`]).
    pub fn buffered(&self) -> usize {
        self.head_buf.len()
    }

    /// Counters of this direction.
    pub fn stats(&self) -> &DirStats {
        &self.stats
    }

    /// What the event queue and head buffer hold allocated (tests).
    #[cfg(test)]
    pub(crate) fn queue_capacity(&self) -> usize {
        self.out.capacity() + self.head_buf.capacity()
    }

    /// Frees the queue and head buffer if they are empty (their capacity
    /// stays otherwise): for a closed connection waiting out its close
    /// linger, tens of thousands of which can be tracked at once.
    pub fn trim(&mut self) {
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.out = VecDeque::new();
        }
        if self.head_buf.is_empty() && self.head_buf.capacity() > 0 {
            self.head_buf = Vec::new();
        }
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
                State::Opaque => {
                    self.stats.tunnel_bytes =
                        self.stats.tunnel_bytes.saturating_add(input.len() as u64);
                    *input = &[];
                }
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
            self.blank = self.blank.saturating_add(skip as u64);
            if input.is_empty() {
                return;
            }
        }
        if self.head_start.is_none() {
            self.head_start = Some(at);
        }
        if !self.start_ok {
            // A direction not synchronised on a message yet (it started
            // mid-stream, or lost track: `resyncing`) takes only a
            // well-formed first line, so body bytes that begin like a
            // request (`A /...`) are skipped as the rest of what it lost,
            // not read as a malformed request. One that started in sync
            // keeps the lenient check: a malformed request line there is a
            // real one.
            let verdict = if self.resyncing {
                classify_strict_joined(self.dir, &self.head_buf, input)
            } else {
                classify_joined(self.dir, &self.head_buf, input)
            };
            match verdict {
                Verdict::Yes => {
                    self.start_ok = true;
                    self.blank = 0;
                }
                Verdict::NeedMore => {
                    // Short by construction (a method or `HTTP/1.` prefix,
                    // or when resyncing at most one line without its end).
                    self.head_buf.extend_from_slice(input);
                    *input = &[];
                    return;
                }
                Verdict::No => {
                    let dropped = (self.head_buf.len() as u64).saturating_add(self.blank);
                    self.blank = 0;
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
            self.head_last = Some(at);
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
        let mut parsed = match self.dir {
            Dir::ToServer => parse_request(head),
            Dir::ToClient => parse_response(head),
        };
        // A request line httparse rejects (no target, a cut version) that
        // still starts with a method: servers answer these (400), so the
        // exchange is real. Count it, and say it was malformed. (Tested in
        // place, so that a head parsed at once is not moved.)
        if self.dir == Dir::ToServer
            && let Err(e) = &parsed
            && let Some(p) = lenient_request(head)
        {
            log.push(
                AnomalyKind::MalformedRequestLine,
                start,
                self.by(),
                format!("{e}: {}", first_line_text(head)),
            );
            parsed = Ok(p);
        }
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

    /// The peer answered a head this direction has not finished (Apache's
    /// mod_reqtimeout answers a request head still arriving with `408` and
    /// closes): report that head now as cut short, so the answer pairs with
    /// it, and resynchronise on whatever follows. `None` when no head with a
    /// recognised first line is in progress.
    pub fn cut_unfinished(&mut self) -> Option<ParseEvent> {
        if self.state != State::Head || self.head_buf.is_empty() || !self.start_ok {
            return None;
        }
        let at = self.head_last.or(self.head_start)?;
        let queued = self.out.len();
        self.cut_head(at);
        self.enter_resync(false, false);
        if self.out.len() > queued {
            self.out.pop_back()
        } else {
            None
        }
    }

    /// A head in progress will not complete: report it if its first line
    /// was recognised, and forget it.
    fn cut_head(&mut self, at: At) {
        self.head_last = None;
        let start = self.head_start.take();
        // Not synchronised: only a first line already found well-formed.
        let recognised = self.start_ok || !self.resyncing;
        self.start_ok = false;
        if let (Some(start), true, Some((line, version))) = (
            start,
            recognised,
            parse_first_line(self.dir, &self.head_buf),
        ) {
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
            State::Opaque => {
                self.stats.tunnel_bytes = self.stats.tunnel_bytes.saturating_add(n);
            }
            State::Closed => {}
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

#[cfg(test)]
mod size_tests {
    /// Every direction of every tracked connection keeps its event queue's
    /// allocation (four events): an event must stay small, which is why
    /// heads are boxed (unboxed, the big capture's peak heap grew by 20 MiB).
    #[test]
    fn parse_events_stay_small() {
        assert!(
            std::mem::size_of::<super::ParseEvent>() <= 64,
            "{}",
            std::mem::size_of::<super::ParseEvent>()
        );
    }
}
