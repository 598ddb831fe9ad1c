//! Pairs requests and responses of one connection.

use std::collections::VecDeque;

use crate::anomaly::AnomalyKind;
use crate::http::framing::RequestKind;
use crate::http::parser::{DirParser, EndKind, MessageEnd, ParseEvent, ParsedHead, StartLine};
use crate::http::{Exchange, Framing, HttpStats, Interim, MessageTiming, Request, Response};
use crate::tcp::StreamEvent;
use crate::types::{Anomaly, At, Dir, MAX_ANOMALIES_PER_CONNECTION, Role};

/// Anomalies of one connection, capped at
/// [`MAX_ANOMALIES_PER_CONNECTION`]; past the cap only a count grows.
#[derive(Clone, Debug, Default)]
pub struct AnomalyLog {
    list: Vec<Anomaly>,
    dropped: u64,
}

impl AnomalyLog {
    /// Records one anomaly (or counts it as dropped past the cap).
    pub fn push(&mut self, kind: AnomalyKind, at: At, by: Option<Role>, detail: String) {
        if self.list.len() < MAX_ANOMALIES_PER_CONNECTION {
            self.list.push(Anomaly {
                kind,
                frame: at.frame,
                ts: at.ts,
                by,
                detail,
            });
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// The anomalies kept.
    pub fn list(&self) -> &[Anomaly] {
        &self.list
    }

    /// How many were not kept.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Most exchanges kept unsettled (see [`HttpSession::settle`]); past this the
/// oldest settles whatever else (requests still waiting for answers are the
/// exception: see [`MAX_OUTSTANDING`]).
pub const MAX_WINDOW: usize = 64;

/// Most requests waiting for their answers at once; past this the oldest is
/// given up as unanswered (anomaly `pipeline_overflow`), so that a client
/// pipelining without end cannot hold unbounded memory.
pub const MAX_OUTSTANDING: usize = 1024;

/// Where the `End` of the message now in a direction's body goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Current {
    /// No message (or an interim response, whose end changes nothing).
    None,
    /// The request or response of this exchange (absolute index).
    Exchange(u64),
}

/// HTTP state of one connection: a parser per direction and the exchanges
/// seen so far.
pub struct HttpSession {
    parsers: [DirParser; 2],
    /// Exchanges not settled yet (see [`HttpSession::settle`]), oldest
    /// first; the front one has absolute index `base`.
    window: VecDeque<Exchange>,
    /// Absolute index (from 0, in connection order) of `window`'s front.
    base: u64,
    /// Exchanges whose request has no final response yet, oldest first
    /// (absolute indices).
    unanswered: VecDeque<u64>,
    current: [Current; 2],
    stats: HttpStats,
    log: AnomalyLog,
    finished: bool,
    /// Bytes of the response stream were lost since the last response head.
    response_gap: bool,
    /// When the response stream last lost bytes.
    last_response_gap: Option<At>,
    /// A response came while two or more requests were outstanding and no
    /// response bytes were lost: the client pipelines.
    pipelining_seen: bool,
    /// More than [`MAX_OUTSTANDING`] requests waited at once (reported once).
    overflowed: bool,
    /// An `Upgrade: h2c` request was answered by 101: the connection is
    /// HTTP/2 from there; this session takes no more bytes.
    handed_off: bool,
    /// The hand-off, until taken ([`HttpSession::take_h2c`]).
    h2c: Option<Box<H2cHandoff>>,
}

/// An `Upgrade: h2c` request answered by `101 Switching Protocols`: what
/// the HTTP/2 session that takes the connection over needs. The upgrading
/// exchange leaves this session (it becomes HTTP/2 stream 1, whose final
/// response is the HTTP/2 one); the exchanges before it stay HTTP/1.
#[derive(Clone, Debug)]
pub struct H2cHandoff {
    /// The upgrading request (stream 1); None when the capture began after
    /// it (a 101 naming `h2c` with no request seen: stream 1 is then a
    /// response without its request).
    pub request: Option<crate::http2::H2RequestInfo>,
    /// The 101 head's first and last byte.
    pub switched: (At, At),
    /// Bytes of the server's stream after the 101 head, in the event that
    /// ended the head (HTTP/2 frames: the server's SETTINGS first).
    pub server_rest: Vec<u8>,
    /// HTTP/1 exchanges of the connection before the upgrading one.
    pub prior: u64,
}

impl Default for HttpSession {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpSession {
    /// A session before any byte of the connection.
    pub fn new() -> Self {
        HttpSession {
            parsers: [DirParser::new(Dir::ToServer), DirParser::new(Dir::ToClient)],
            window: VecDeque::new(),
            base: 0,
            unanswered: VecDeque::new(),
            current: [Current::None; 2],
            stats: HttpStats::default(),
            log: AnomalyLog::default(),
            finished: false,
            response_gap: false,
            last_response_gap: None,
            pipelining_seen: false,
            overflowed: false,
            handed_off: false,
            h2c: None,
        }
    }

    /// The `Upgrade: h2c` hand-off, once, right after the event that
    /// completed the 101 head (see [`H2cHandoff`]).
    pub fn take_h2c(&mut self) -> Option<Box<H2cHandoff>> {
        self.h2c.take()
    }

    /// The connection switched to HTTP/2 by `Upgrade: h2c`.
    pub fn handed_off(&self) -> bool {
        self.handed_off
    }

    /// One stream event from the TCP layer; `at` is the frame that released it.
    pub fn on_event(&mut self, dir: Dir, ev: StreamEvent<'_>, at: At) {
        if self.finished || self.handed_off {
            return;
        }
        let i = dir.index();
        match ev {
            StreamEvent::Data(bytes) => self.feed(dir, bytes, at),
            StreamEvent::Gap(0) => {}
            StreamEvent::Gap(n) => {
                if dir == Dir::ToClient {
                    self.response_gap = true;
                    self.last_response_gap = Some(at);
                }
                if let Some(p) = self.parsers.get_mut(i) {
                    p.on_gap(n, at);
                }
                self.feed(dir, &[], at);
            }
            StreamEvent::Fin => self.end(dir, EndKind::Fin, at),
            StreamEvent::Reset => self.end(dir, EndKind::Reset, at),
        }
        self.sync_stats();
    }

    /// No more events will come (connection over or capture ended): a
    /// close-delimited body that ran to here is complete only if a FIN was
    /// seen; others are not complete.
    pub fn finish(&mut self, at: At) {
        if self.finished {
            return;
        }
        self.end(Dir::ToServer, EndKind::Finish, at);
        self.end(Dir::ToClient, EndKind::Finish, at);
        self.mark_responses_lost_at_end();
        self.finished = true;
        self.sync_stats();
    }

    /// The exchanges not settled yet, in request order (responses without
    /// a captured request take their place in response order). Without
    /// [`HttpSession::settle`] that is every exchange of the connection.
    pub fn exchanges(&self) -> &VecDeque<Exchange> {
        &self.window
    }

    /// Makes [`HttpSession::exchanges`] one slice (its `as_slices().0`).
    pub fn make_contiguous(&mut self) {
        self.window.make_contiguous();
    }

    /// Absolute index of the first exchange in [`HttpSession::exchanges`]
    /// (the number of exchanges settled before it).
    pub fn settled(&self) -> u64 {
        self.base
    }

    /// Hands the exchanges that can no longer change or matter to how the
    /// connection ends, oldest first, with their absolute index and the
    /// exchange after them (always there: the last exchange never settles).
    /// An exchange settles when nothing refers to it any more (no request of
    /// it waits for an answer, no message of it is being parsed) and the
    /// connection has moved past it: a later request started after its
    /// response ended (or, with no response, a later response started); and,
    /// whatever else, when more than [`MAX_WINDOW`] exchanges wait. Memory
    /// then follows the exchanges in flight, not the connection's history.
    /// The exchange is lent, not given: a callback that wants it takes it
    /// (`std::mem::take`), and one that only reads it costs no move.
    pub fn settle(&mut self, out: &mut impl FnMut(u64, &mut Exchange, &Exchange)) {
        while self.window.len() >= 2 {
            let idx = self.base;
            // After an h2c hand-off nothing more comes to the exchanges
            // before the upgrade: each settles (the last stays for the end).
            let referenced = !self.handed_off
                && (self.unanswered.front() == Some(&idx)
                    || self.current.contains(&Current::Exchange(idx)));
            if referenced {
                break;
            }
            let (Some(front), Some(next)) = (self.window.front(), self.window.get(1)) else {
                break;
            };
            let moved_on = match &front.response {
                Some(r) => match (r.timing.end, &next.request) {
                    (Some(end), Some(q)) => q.timing.start >= end,
                    _ => false,
                },
                None => self.window.iter().skip(1).any(|e| e.response.is_some()),
            };
            if !moved_on && !self.handed_off && self.window.len() <= MAX_WINDOW {
                break;
            }
            // Handed over in place, then dropped in place (an exchange is
            // hundreds of bytes: moving it out was a copy per exchange).
            let mut both = self.window.iter_mut();
            if let (Some(ex), Some(next)) = (both.next(), both.next()) {
                out(idx, ex, next);
            }
            self.window.drain(..1);
            self.base += 1;
        }
    }

    fn ex_mut(&mut self, i: u64) -> Option<&mut Exchange> {
        let off = usize::try_from(i.checked_sub(self.base)?).ok()?;
        self.window.get_mut(off)
    }

    fn ex(&self, i: u64) -> Option<&Exchange> {
        let off = usize::try_from(i.checked_sub(self.base)?).ok()?;
        self.window.get(off)
    }

    /// Appends an exchange; returns its absolute index.
    fn push_ex(&mut self, e: Exchange) -> u64 {
        let idx = self.base + self.window.len() as u64;
        if self.window.capacity() == 0 {
            // Most connections carry one exchange or two at a time: no room
            // for four (the default first allocation) of these.
            self.window.reserve_exact(1);
        }
        self.window.push_back(e);
        idx
    }

    /// Frees the allocations that are empty (see [`DirParser::trim`]).
    pub fn trim(&mut self) {
        for p in &mut self.parsers {
            p.trim();
        }
        if self.unanswered.is_empty() && self.unanswered.capacity() > 0 {
            self.unanswered = VecDeque::new();
        }
    }

    /// Bytes held: heads in progress.
    pub fn buffered(&self) -> usize {
        self.parsers.iter().map(DirParser::buffered).sum()
    }

    /// Counters of the session.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// HTTP-level anomalies (unparseable head, CL with chunked, body cut
    /// short at close, response without request, ...), at most
    /// [`MAX_ANOMALIES_PER_CONNECTION`].
    pub fn anomalies(&self) -> &[Anomaly] {
        self.log.list()
    }

    /// Anomalies past the cap that were only counted (also in
    /// [`HttpStats::anomalies_dropped`]).
    pub fn anomalies_dropped(&self) -> u64 {
        self.log.dropped()
    }

    fn end(&mut self, dir: Dir, kind: EndKind, at: At) {
        if let Some(p) = self.parsers.get_mut(dir.index()) {
            p.on_end(kind, at, &mut self.log);
        }
        self.feed(dir, &[], at);
    }

    /// Runs a direction's parser over `bytes`, applying what it reports.
    fn feed(&mut self, dir: Dir, bytes: &[u8], at: At) {
        let mut input = bytes;
        loop {
            let kind = self.pending_request_kind();
            let Some(parser) = self.parsers.get_mut(dir.index()) else {
                return;
            };
            match parser.next(&mut input, at, kind, &mut self.log) {
                Some(ev) => {
                    self.apply(dir, ev, at);
                    if self.handed_off {
                        // The rest of this event is HTTP/2's.
                        if let Some(h) = self.h2c.as_mut()
                            && dir == Dir::ToClient
                        {
                            h.server_rest = input.to_vec();
                        }
                        return;
                    }
                }
                None => return,
            }
        }
    }

    /// The kind of the oldest request without a final response.
    fn pending_request_kind(&self) -> RequestKind {
        self.unanswered
            .front()
            .and_then(|&i| self.ex(i))
            .and_then(|x| x.request.as_ref())
            .map_or(RequestKind::Other, |r| RequestKind::of_method(&r.method))
    }

    fn apply(&mut self, dir: Dir, ev: ParseEvent, at: At) {
        match ev {
            ParseEvent::Head(h) => self.on_head(dir, *h, true, at),
            ParseEvent::CutHead(h) => self.on_head(dir, *h, false, at),
            ParseEvent::End(end) => self.on_end_of_message(dir, end),
        }
    }

    fn on_head(&mut self, dir: Dir, h: ParsedHead, whole: bool, at: At) {
        let timing = MessageTiming {
            start: h.start,
            head_end: h.head_end,
            end: None,
        };
        let slot = dir.index();
        match h.line {
            StartLine::Request { method, target } => {
                let req = Request {
                    method,
                    target,
                    version: h.version,
                    head: h.head,
                    framing: h.framing,
                    body_bytes: 0,
                    gap_bytes: 0,
                    complete: false,
                    timing,
                };
                let idx = self.push_ex(Exchange {
                    request: Some(req),
                    response: None,
                    interim: Vec::new(),
                    response_lost: false,
                });
                self.unanswered.push_back(idx);
                let outstanding = u32::try_from(self.unanswered.len()).unwrap_or(u32::MAX);
                self.stats.max_outstanding = self.stats.max_outstanding.max(outstanding);
                if self.unanswered.len() > MAX_OUTSTANDING
                    && let Some(oldest) = self.unanswered.pop_front()
                {
                    // Bounded memory: the oldest waiting request is given
                    // up on; it settles with no answer.
                    if !self.overflowed {
                        self.overflowed = true;
                        self.log.push(
                            AnomalyKind::PipelineOverflow,
                            at,
                            Some(Role::Client),
                            format!(
                                "more than {MAX_OUTSTANDING} requests waiting for their answers; from request {} on the oldest are given up as unanswered, and later responses may pair with the wrong requests",
                                oldest + 1
                            ),
                        );
                    }
                }
                self.set_current(
                    slot,
                    if whole {
                        Current::Exchange(idx)
                    } else {
                        Current::None
                    },
                );
            }
            StartLine::Response { status, reason } => {
                if (100..200).contains(&status) && status != 101 {
                    match self
                        .unanswered
                        .front()
                        .copied()
                        .and_then(|i| self.ex_mut(i))
                    {
                        Some(x) => x.interim.push(Interim {
                            status,
                            at: h.head_end,
                        }),
                        None => self.log.push(
                            AnomalyKind::InterimWithoutRequest,
                            at,
                            Some(Role::Server),
                            format!("{status} with no request outstanding"),
                        ),
                    }
                    self.set_current(slot, Current::None);
                    return;
                }
                if self.unanswered.is_empty()
                    && let Some(ev) = self
                        .parsers
                        .get_mut(Dir::ToServer.index())
                        .and_then(DirParser::cut_unfinished)
                {
                    // A final response to a request head still arriving.
                    self.apply(Dir::ToServer, ev, at);
                }
                let tunnel = h.framing == Framing::Tunnel;
                let resp = Response {
                    status,
                    reason,
                    version: h.version,
                    head: h.head,
                    framing: h.framing,
                    body_bytes: 0,
                    gap_bytes: 0,
                    complete: false,
                    timing,
                };
                self.skip_responses_lost_in_gap(at);
                let idx = match self.unanswered.pop_front() {
                    Some(idx) => {
                        if let Some(x) = self.ex_mut(idx) {
                            x.response = Some(resp);
                        }
                        idx
                    }
                    None => {
                        self.log.push(
                            AnomalyKind::ResponseWithoutRequest,
                            at,
                            Some(Role::Server),
                            format!("{status} with no request outstanding"),
                        );
                        self.push_ex(Exchange {
                            request: None,
                            response: Some(resp),
                            interim: Vec::new(),
                            response_lost: false,
                        })
                    }
                };
                self.set_current(
                    slot,
                    if whole {
                        Current::Exchange(idx)
                    } else {
                        Current::None
                    },
                );
                if tunnel && status == 101 && self.switch_to_h2c(idx, &h.start, &h.head_end) {
                    return;
                }
                if tunnel {
                    self.stats.upgraded = true;
                    for p in &mut self.parsers {
                        p.set_opaque();
                    }
                }
            }
        }
    }

    /// A 101 to exchange `idx`: if its request asked for `h2c` (and the
    /// response does not name another protocol), the connection is HTTP/2
    /// from the end of this head: the exchange leaves the window and the
    /// hand-off waits for [`HttpSession::take_h2c`].
    fn switch_to_h2c(&mut self, idx: u64, start: &At, head_end: &At) -> bool {
        let Some(x) = self.ex(idx) else {
            return false;
        };
        let Some(resp) = &x.response else {
            return false;
        };
        let upgrade = resp.head.upgrade.as_deref();
        let request = match &x.request {
            Some(req) => {
                let Some(f) = req.head.h2c.as_deref() else {
                    return false;
                };
                if upgrade.is_some_and(|u| !crate::http::lists_h2c(u)) {
                    return false;
                }
                Some(crate::http2::H2RequestInfo {
                    method: req.method.to_string(),
                    target: req.target.to_string(),
                    authority: f.host.clone(),
                    http2_settings: f.http2_settings.clone(),
                    body_bytes: req.body_bytes,
                    at: req.timing.end.unwrap_or(req.timing.head_end),
                })
            }
            // the capture began after the request: the 101 itself must
            // name h2c (RFC 9113 section 3.2 has it say `Upgrade: h2c`)
            None if upgrade.is_some_and(crate::http::lists_h2c) => None,
            None => return false,
        };
        let Some(off) = idx
            .checked_sub(self.base)
            .and_then(|o| usize::try_from(o).ok())
        else {
            return false;
        };
        self.window.remove(off);
        self.unanswered.retain(|&i| i != idx);
        self.current = [Current::None; 2];
        for p in &mut self.parsers {
            p.set_opaque();
        }
        self.handed_off = true;
        self.h2c = Some(Box::new(H2cHandoff {
            request,
            switched: (*start, *head_end),
            server_rest: Vec::new(),
            prior: self.base + self.window.len() as u64,
        }));
        true
    }

    /// A final response arrives after response bytes were lost, with
    /// several requests outstanding, from a client that has never
    /// pipelined: a client that waits for each answer sent the later
    /// requests only after it received the earlier answers, so those
    /// answers were in the lost bytes. This response answers the newest
    /// request; the older ones keep no response (and say why). Without
    /// this, every later response would pair one request too early.
    fn skip_responses_lost_in_gap(&mut self, at: At) {
        let outstanding = self.unanswered.len();
        if !self.response_gap && outstanding >= 2 {
            self.pipelining_seen = true;
        }
        if self.response_gap && outstanding >= 2 && !self.pipelining_seen {
            for _ in 1..outstanding {
                if let Some(i) = self.unanswered.pop_front() {
                    if let Some(x) = self.ex_mut(i) {
                        x.response_lost = true;
                    }
                    self.log.push(
                        AnomalyKind::ResponseLostInGap,
                        at,
                        Some(Role::Server),
                        format!(
                            "the response to request {} was in bytes the capture missed",
                            i + 1
                        ),
                    );
                }
            }
        }
        self.response_gap = false;
    }

    /// The connection is over with requests unanswered, and the response
    /// stream lost bytes after they were sent and before anything else
    /// answered: their answers were most likely in those bytes.
    fn mark_responses_lost_at_end(&mut self) {
        let Some(gap) = self.last_response_gap.filter(|_| self.response_gap) else {
            return;
        };
        for k in 0..self.unanswered.len() {
            let Some(&i) = self.unanswered.get(k) else {
                continue;
            };
            let Some(x) = self.ex_mut(i) else {
                continue;
            };
            if x.response.is_none() && x.request.as_ref().is_some_and(|r| r.timing.start <= gap) {
                x.response_lost = true;
                self.log.push(
                    AnomalyKind::ResponseLostInGap,
                    gap,
                    Some(Role::Server),
                    format!(
                        "no response to request {} was seen; the response stream lost bytes after it",
                        i + 1
                    ),
                );
            }
        }
    }

    fn set_current(&mut self, slot: usize, c: Current) {
        if let Some(cur) = self.current.get_mut(slot) {
            *cur = c;
        }
    }

    fn on_end_of_message(&mut self, dir: Dir, end: MessageEnd) {
        let slot = dir.index();
        let cur = self.current.get(slot).copied().unwrap_or(Current::None);
        self.set_current(slot, Current::None);
        let Current::Exchange(idx) = cur else { return };
        let Some(x) = self.ex_mut(idx) else {
            return;
        };
        let fields = match dir {
            Dir::ToServer => x.request.as_mut().map(|r| {
                (
                    &mut r.body_bytes,
                    &mut r.gap_bytes,
                    &mut r.complete,
                    &mut r.timing.end,
                )
            }),
            Dir::ToClient => x.response.as_mut().map(|r| {
                (
                    &mut r.body_bytes,
                    &mut r.gap_bytes,
                    &mut r.complete,
                    &mut r.timing.end,
                )
            }),
        };
        if let Some((body, gap, complete, t_end)) = fields {
            *body = end.body_bytes;
            *gap = end.gap_bytes;
            *complete = end.complete;
            *t_end = end.at;
        }
    }

    fn sync_stats(&mut self) {
        for (i, p) in self.parsers.iter().enumerate() {
            let s = p.stats();
            if let (Some(r), Some(b), Some(y), Some(t)) = (
                self.stats.non_http_runs.get_mut(i),
                self.stats.non_http_bytes.get_mut(i),
                self.stats.resyncs.get_mut(i),
                self.stats.tunnel_bytes.get_mut(i),
            ) {
                *r = s.non_http_runs;
                *b = s.non_http_bytes;
                *y = s.resyncs;
                *t = s.tunnel_bytes;
            }
        }
        self.stats.anomalies_dropped = self.log.dropped();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{KeepAliveParams, Version};
    use crate::types::Timestamp;

    fn at(frame: u64) -> At {
        At {
            frame,
            ts: Timestamp::from_nanos(frame * 1000),
        }
    }

    /// Feeds (dir, bytes) as one Data event each, frames numbered from 1.
    fn run(events: &[(Dir, &[u8])]) -> HttpSession {
        let mut s = HttpSession::new();
        for (i, (d, b)) in events.iter().enumerate() {
            s.on_event(*d, StreamEvent::Data(b), at(i as u64 + 1));
        }
        s
    }

    fn kinds(s: &HttpSession) -> Vec<&'static str> {
        s.anomalies().iter().map(|a| a.kind.name()).collect()
    }

    fn req(x: &Exchange) -> &Request {
        x.request.as_ref().unwrap()
    }

    fn resp(x: &Exchange) -> &Response {
        x.response.as_ref().unwrap()
    }

    const C: Dir = Dir::ToServer;
    const S: Dir = Dir::ToClient;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    /// A closed connection's session frees its empty queues and buffers
    /// (thousands wait out the close linger at once) and keeps what it
    /// found: the exchange, judged at the end, stays.
    #[test]
    fn trim_frees_the_empty_allocations_of_a_closed_session() {
        let mut s = run(&[
            (C, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody"),
        ]);
        s.on_event(C, StreamEvent::Fin, at(3));
        s.on_event(S, StreamEvent::Fin, at(4));
        assert!(s.parsers.iter().any(|p| p.queue_capacity() > 0));
        s.trim();
        assert!(s.parsers.iter().all(|p| p.queue_capacity() == 0));
        assert_eq!(s.unanswered.capacity(), 0);
        assert_eq!(s.exchanges().len(), 1);
        assert_eq!(resp(&s.exchanges()[0]).body_bytes, 4);
    }

    #[test]
    fn lost_response_of_non_pipelining_client_does_not_shift_pairing() {
        let mut s = HttpSession::new();
        s.on_event(C, StreamEvent::Data(b"GET /1 HTTP/1.1\r\n\r\n"), at(1));
        s.on_event(S, StreamEvent::Data(OK), at(2));
        s.on_event(C, StreamEvent::Data(b"GET /2 HTTP/1.1\r\n\r\n"), at(3));
        // The answer to /2 was never captured; the client went on.
        s.on_event(S, StreamEvent::Gap(40), at(4));
        s.on_event(C, StreamEvent::Data(b"GET /3 HTTP/1.1\r\n\r\n"), at(5));
        s.on_event(S, StreamEvent::Data(OK), at(6));
        let x = s.exchanges();
        assert!(x[1].response.is_none());
        assert_eq!(req(&x[2]).target, "/3");
        assert_eq!(resp(&x[2]).timing.start.frame, 6);
        assert_eq!(kinds(&s), ["response_lost_in_gap"]);
    }

    #[test]
    fn response_stream_gap_before_the_end_marks_the_answer_lost() {
        let mut s = HttpSession::new();
        s.on_event(
            C,
            StreamEvent::Data(b"POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\nz"),
            at(1),
        );
        s.on_event(S, StreamEvent::Gap(1460), at(2));
        s.on_event(S, StreamEvent::Data(b"tail of a body"), at(3));
        s.on_event(S, StreamEvent::Fin, at(4));
        s.finish(at(5));
        let x = &s.exchanges()[0];
        assert!(x.response.is_none());
        assert!(x.response_lost);
        assert!(kinds(&s).contains(&"response_lost_in_gap"));
    }

    #[test]
    fn unanswered_request_without_response_gap_is_not_marked_lost() {
        let mut s = HttpSession::new();
        s.on_event(C, StreamEvent::Data(b"GET /x HTTP/1.1\r\n\r\n"), at(1));
        s.on_event(S, StreamEvent::Fin, at(2));
        s.finish(at(3));
        assert!(!s.exchanges()[0].response_lost);
    }

    #[test]
    fn gap_with_a_pipelining_client_keeps_order_pairing() {
        let mut s = HttpSession::new();
        // Pipelining seen: two outstanding when an answer came, no loss.
        s.on_event(
            C,
            StreamEvent::Data(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
            at(1),
        );
        s.on_event(S, StreamEvent::Data(OK), at(2));
        s.on_event(S, StreamEvent::Data(OK), at(3));
        s.on_event(
            C,
            StreamEvent::Data(b"GET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\n"),
            at(4),
        );
        s.on_event(S, StreamEvent::Gap(7), at(5));
        s.on_event(S, StreamEvent::Data(OK), at(6));
        // No evidence of which answers were lost: oldest first, as on the wire.
        assert_eq!(resp(&s.exchanges()[2]).timing.start.frame, 6);
        assert!(kinds(&s).is_empty());
    }

    #[test]
    fn simple_exchange_with_head_info() {
        let s = run(&[
            (C, b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Upgrade\r\nconnection: foo\r\n\r\n"),
            (
                S,
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5, max=100\r\nConnection: keep-alive\r\n\r\nhello",
            ),
        ]);
        let x = &s.exchanges()[0];
        let r = req(x);
        assert_eq!((r.method.as_str(), r.target.as_str()), ("GET", "/a"));
        assert_eq!(
            r.head.connection.as_slice(),
            ["keep-alive", "upgrade", "foo"]
        );
        assert!(r.complete);
        assert_eq!(r.framing, Framing::NoBody);
        assert_eq!(r.timing.end, Some(at(1)));
        let p = resp(x);
        assert_eq!(
            (p.status, p.reason.as_str(), p.version),
            (200, "OK", Version::HTTP11)
        );
        assert_eq!(p.framing, Framing::ContentLength(5));
        assert_eq!(p.body_bytes, 5);
        assert!(p.complete);
        assert_eq!(
            p.head.keep_alive,
            Some(KeepAliveParams {
                timeout: Some(5),
                max: Some(100)
            })
        );
        assert!(p.head.has_token("keep-alive"));
        assert_eq!(p.head.content_length, Some(5));
        assert_eq!(
            p.timing,
            MessageTiming {
                start: at(2),
                head_end: at(2),
                end: Some(at(2))
            }
        );
        assert_eq!(s.stats().max_outstanding, 1);
        assert!(s.anomalies().is_empty());
    }

    /// Issue 7, item 1: a final response while a request head is still
    /// arriving (Apache's 408 from mod_reqtimeout) answers that head.
    #[test]
    fn response_to_an_unfinished_request_head() {
        let s = run(&[
            (C, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            (C, b"GET /b HTTP/1.1\r\nHost: x\r\n"),
            (
                S,
                b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            ),
        ]);
        let xs = s.exchanges();
        assert_eq!(xs.len(), 2);
        assert_eq!(req(&xs[1]).target, "/b");
        assert!(!req(&xs[1]).complete);
        assert_eq!(req(&xs[1]).timing.start, at(3));
        assert_eq!(resp(&xs[1]).status, 408);
        assert!(s.anomalies().is_empty(), "{:?}", kinds(&s));
    }

    #[test]
    fn pipelining_in_one_event() {
        let s = run(&[
            (
                C,
                b"GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcHEAD /3 HTTP/1.1\r\n\r\n",
            ),
            (
                S,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            ),
        ]);
        let xs = s.exchanges();
        assert_eq!(xs.len(), 3);
        assert_eq!(req(&xs[0]).target, "/1");
        assert_eq!(req(&xs[1]).body_bytes, 3);
        assert_eq!(req(&xs[2]).method, "HEAD");
        assert_eq!(resp(&xs[0]).body_bytes, 2);
        assert_eq!(resp(&xs[1]).status, 201);
        assert_eq!(resp(&xs[1]).framing, Framing::Chunked);
        assert!(resp(&xs[1]).complete);
        // The HEAD response has no body despite Content-Length.
        assert_eq!(resp(&xs[2]).framing, Framing::NoBody);
        assert!(resp(&xs[2]).complete);
        assert_eq!(resp(&xs[2]).head.content_length, Some(100));
        assert_eq!(s.stats().max_outstanding, 3);
        assert!(s.anomalies().is_empty(), "{:?}", s.anomalies());
    }

    #[test]
    fn continue_interim_then_final() {
        let s = run(&[
            (
                C,
                b"PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
            ),
            (S, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (C, b"data"),
            (
                S,
                b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            ),
        ]);
        assert_eq!(s.exchanges().len(), 1);
        let x = &s.exchanges()[0];
        assert!(req(x).head.expect_continue);
        assert!(req(x).complete);
        assert_eq!(req(x).timing.end, Some(at(3)));
        assert_eq!(
            x.interim,
            vec![
                Interim {
                    status: 100,
                    at: at(2)
                },
                Interim {
                    status: 103,
                    at: at(4)
                }
            ]
        );
        assert_eq!(resp(x).status, 204);
        assert!(resp(x).complete);
    }

    #[test]
    fn head_split_byte_by_byte() {
        let reqb: &[u8] = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        let mut s = HttpSession::new();
        for (i, b) in reqb.iter().enumerate() {
            s.on_event(
                C,
                StreamEvent::Data(std::slice::from_ref(b)),
                at(i as u64 + 1),
            );
        }
        let r = req(&s.exchanges()[0]);
        assert_eq!(r.method, "POST");
        assert_eq!(r.head.head_bytes, reqb.len() as u64 - 3);
        assert_eq!(r.timing.start, at(1));
        assert_eq!(r.timing.head_end, at(reqb.len() as u64 - 3));
        assert_eq!(r.timing.end, Some(at(reqb.len() as u64)));
        assert!(r.complete);
    }

    #[test]
    fn gap_inside_content_length_body_stays_framed() {
        let mut s = run(&[
            (C, b"GET / HTTP/1.1\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"),
        ]);
        s.on_event(S, StreamEvent::Gap(5), at(3));
        s.on_event(
            S,
            StreamEvent::Data(b"xyzHTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n"),
            at(4),
        );
        s.on_event(C, StreamEvent::Data(b"GET /2 HTTP/1.1\r\n\r\n"), at(5));
        s.on_event(
            S,
            StreamEvent::Data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            at(6),
        );
        let xs = s.exchanges();
        assert_eq!(xs.len(), 3);
        let p = resp(&xs[0]);
        assert_eq!((p.body_bytes, p.gap_bytes, p.complete), (10, 5, true));
        // The 404 (framed right after the gap) had no request; /2 pairs with 200.
        assert!(xs[1].request.is_none());
        assert_eq!(resp(&xs[1]).status, 404);
        assert_eq!(resp(&xs[2]).status, 200);
        assert_eq!(s.stats().resyncs, [0, 0]);
        assert!(kinds(&s).contains(&"response_without_request"));
    }

    #[test]
    fn gap_inside_head_resyncs_at_next_request() {
        let mut s = HttpSession::new();
        s.on_event(
            C,
            StreamEvent::Data(b"GET /cut HTTP/1.1\r\nHost: a\r\nUser-"),
            at(1),
        );
        s.on_event(C, StreamEvent::Gap(100), at(2));
        s.on_event(
            C,
            StreamEvent::Data(b"ent: x\r\n\r\nGET /next HTTP/1.1\r\n\r\n"),
            at(3),
        );
        let xs = s.exchanges();
        assert_eq!(xs.len(), 2);
        let cut = req(&xs[0]);
        assert_eq!((cut.method.as_str(), cut.target.as_str()), ("GET", "/cut"));
        assert!(!cut.complete);
        assert_eq!(cut.framing, Framing::Unknown);
        assert_eq!(req(&xs[1]).target, "/next");
        assert!(req(&xs[1]).complete);
        assert_eq!(s.stats().resyncs, [1, 0]);
        assert_eq!(s.stats().non_http_runs, [0, 0]);
        assert_eq!(s.stats().max_outstanding, 2);
    }

    #[test]
    fn gap_inside_chunked_body_resyncs() {
        let mut s = run(&[(
            C,
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
        )]);
        s.on_event(C, StreamEvent::Gap(20), at(2));
        s.on_event(
            C,
            StreamEvent::Data(b"\r\n0\r\n\r\nGET /after HTTP/1.1\r\n\r\n"),
            at(3),
        );
        let xs = s.exchanges();
        assert_eq!(xs.len(), 2);
        assert!(!req(&xs[0]).complete);
        assert_eq!(req(&xs[1]).target, "/after");
        assert_eq!(s.stats().resyncs, [1, 0]);
    }

    #[test]
    fn garbage_then_valid_request() {
        let s = run(&[(
            C,
            b"\x16\x03\x01\x00\x05hello\r\nmore junk\nGET /ok HTTP/1.1\r\n\r\n",
        )]);
        assert_eq!(s.exchanges().len(), 1);
        assert_eq!(req(&s.exchanges()[0]).target, "/ok");
        assert_eq!(s.stats().non_http_runs, [1, 0]);
        assert_eq!(s.stats().non_http_bytes, [22, 0]);
        assert_eq!(s.stats().resyncs, [1, 0]);
        assert_eq!(kinds(&s), vec!["non_http"]);
    }

    #[test]
    fn tls_stream_counts_bytes_without_spam() {
        let mut s = HttpSession::new();
        for i in 0..200u64 {
            s.on_event(
                C,
                StreamEvent::Data(b"\x17\x03\x03\x00\x10\n\x00\x01binary\n"),
                at(i + 1),
            );
            s.on_event(
                S,
                StreamEvent::Data(b"\x17\x03\x03\x00\x10\x00\x01binary"),
                at(i + 1),
            );
        }
        assert_eq!(kinds(&s), vec!["non_http", "non_http"]);
        assert_eq!(s.stats().non_http_runs, [1, 1]);
        assert_eq!(s.stats().non_http_bytes, [200 * 15, 200 * 13]);
        assert!(s.exchanges().is_empty());
    }

    #[test]
    fn response_without_request() {
        let s = run(&[(S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")]);
        let xs = s.exchanges();
        assert_eq!(xs.len(), 1);
        assert!(xs[0].request.is_none());
        assert!(resp(&xs[0]).complete);
        assert_eq!(kinds(&s), vec!["response_without_request"]);
    }

    #[test]
    fn close_delimited_response_needs_fin() {
        let mut s = run(&[
            (C, b"GET / HTTP/1.0\r\n\r\n"),
            (S, b"HTTP/1.0 200 OK\r\n\r\nbody"),
        ]);
        s.on_event(S, StreamEvent::Data(b" more"), at(3));
        s.on_event(S, StreamEvent::Fin, at(4));
        s.finish(at(5));
        let p = resp(&s.exchanges()[0]);
        assert_eq!(p.framing, Framing::CloseDelimited);
        assert_eq!(p.body_bytes, 9);
        assert!(p.complete);
        assert_eq!(p.timing.end, Some(at(4)));

        let mut s = run(&[
            (C, b"GET / HTTP/1.0\r\n\r\n"),
            (S, b"HTTP/1.0 200 OK\r\n\r\nbody"),
        ]);
        s.finish(at(3));
        let p = resp(&s.exchanges()[0]);
        assert!(!p.complete);
        assert_eq!(p.timing.end, None);
    }

    #[test]
    fn fin_truncates_content_length_body() {
        let mut s = run(&[
            (C, b"GET / HTTP/1.1\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        ]);
        s.on_event(S, StreamEvent::Fin, at(3));
        s.on_event(S, StreamEvent::Data(b"late"), at(4));
        let p = resp(&s.exchanges()[0]);
        assert!(!p.complete);
        assert_eq!(p.body_bytes, 3);
        assert_eq!(
            kinds(&s),
            vec!["body_truncated_at_close", "data_after_close"]
        );
        assert_eq!(s.anomalies()[0].detail, "expected 10 body bytes, saw 3");
        assert_eq!(s.anomalies()[0].by, Some(Role::Server));
    }

    #[test]
    fn reset_leaves_messages_incomplete() {
        let mut s = run(&[
            (C, b"GET / HTTP/1.1\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\n\r\nabc"),
        ]);
        s.on_event(S, StreamEvent::Reset, at(3));
        assert!(!resp(&s.exchanges()[0]).complete);
    }

    #[test]
    fn upgrade_makes_both_directions_opaque() {
        let s = run(&[
            (
                C,
                b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            ),
            (
                S,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
            ),
            (C, b"\x81\x85abcdxxxxx"),
        ]);
        assert!(s.stats().upgraded);
        assert_eq!(s.stats().non_http_runs, [0, 0]);
        let x = &s.exchanges()[0];
        assert_eq!(req(x).head.upgrade.as_deref(), Some("websocket"));
        assert_eq!(resp(x).framing, Framing::Tunnel);
        assert!(resp(x).complete);
        assert!(s.anomalies().is_empty());
    }

    #[test]
    fn connect_tunnel() {
        let s = run(&[
            (
                C,
                b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            ),
            (S, b"HTTP/1.1 200 Connection established\r\n\r\n"),
            (C, b"\x16\x03\x01\x02\x00"),
            (S, b"\x16\x03\x03\x00\x10"),
        ]);
        assert!(s.stats().upgraded);
        assert_eq!(resp(&s.exchanges()[0]).framing, Framing::Tunnel);
        assert_eq!(s.stats().non_http_bytes, [0, 0]);
    }

    #[test]
    fn framing_anomalies() {
        let s = run(&[
            (C, b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
            (C, b"POST /2 HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc\r\nGET /3 HTTP/1.1\r\n\r\n"),
        ]);
        let xs = s.exchanges();
        assert_eq!(xs.len(), 3);
        assert_eq!(req(&xs[0]).framing, Framing::Chunked);
        assert!(req(&xs[0]).complete);
        assert_eq!(req(&xs[1]).framing, Framing::Unknown);
        assert!(!req(&xs[1]).complete);
        assert_eq!(req(&xs[2]).target, "/3");
        assert_eq!(
            kinds(&s),
            vec!["content_length_with_chunked", "conflicting_content_length"]
        );
    }

    #[test]
    fn bad_chunk_resyncs() {
        let s = run(&[(
            C,
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /n HTTP/1.1\r\n\r\n",
        )]);
        let xs = s.exchanges();
        assert_eq!(xs.len(), 2);
        assert!(!req(&xs[0]).complete);
        assert_eq!(req(&xs[1]).target, "/n");
        assert_eq!(kinds(&s), vec!["bad_chunk"]);
    }

    #[test]
    fn head_too_large() {
        let mut s = HttpSession::new();
        s.on_event(C, StreamEvent::Data(b"GET /big HTTP/1.1\r\n"), at(1));
        let line = [b'a'; 1000];
        for i in 0..70 {
            s.on_event(C, StreamEvent::Data(&line), at(i + 2));
        }
        s.on_event(
            C,
            StreamEvent::Data(b"\r\n\r\nGET /ok HTTP/1.1\r\n\r\n"),
            at(100),
        );
        assert_eq!(kinds(&s), vec!["head_too_large"]);
        let xs = s.exchanges();
        assert_eq!(xs.len(), 2);
        assert_eq!(req(&xs[0]).target, "/big");
        assert!(!req(&xs[0]).complete);
        assert_eq!(req(&xs[1]).target, "/ok");
    }

    #[test]
    fn anomaly_cap() {
        let mut s = HttpSession::new();
        for i in 0..100 {
            s.on_event(
                S,
                StreamEvent::Data(b"HTTP/1.1 204 No Content\r\n\r\n"),
                at(i + 1),
            );
        }
        assert_eq!(s.anomalies().len(), MAX_ANOMALIES_PER_CONNECTION);
        assert_eq!(
            s.stats().anomalies_dropped,
            100 - MAX_ANOMALIES_PER_CONNECTION as u64
        );
        assert_eq!(s.exchanges().len(), 100);
    }

    #[test]
    fn many_headers_retry() {
        let mut h = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..300 {
            h.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        h.extend_from_slice(b"Connection: close\r\n\r\n");
        let s = run(&[(C, &h)]);
        assert!(req(&s.exchanges()[0]).head.has_token("close"));
    }

    #[test]
    fn leading_blank_lines_and_bare_lf() {
        let s = run(&[(
            C,
            b"\r\nGET /a HTTP/1.1\nHost: x\n\nGET /b HTTP/1.1\r\n\r\n",
        )]);
        let xs = s.exchanges();
        assert_eq!(xs.len(), 2);
        assert_eq!(req(&xs[1]).target, "/b");
        assert!(s.anomalies().is_empty());
    }
    #[test]
    fn cut_response_head_and_stray_interim() {
        let mut s = run(&[
            (S, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (C, b"GET / HTTP/1.1\r\n\r\n"),
            (S, b"HTTP/1.1 503 Busy\r\nServer: x"),
        ]);
        s.on_event(S, StreamEvent::Gap(10), at(4));
        s.on_event(S, StreamEvent::Gap(0), at(5));
        s.finish(at(6));
        assert_eq!(kinds(&s), vec!["interim_without_request"]);
        let p = resp(&s.exchanges()[0]);
        assert_eq!(
            (p.status, p.reason.as_str(), p.complete),
            (503, "Busy", false)
        );
        assert_eq!(p.framing, Framing::Unknown);
        assert_eq!(p.timing.head_end, at(4));
    }
    /// Regression (proptest): a huge gap in a close-delimited body overflowed.
    #[test]
    fn huge_gap_in_close_delimited_body() {
        let mut s = run(&[(S, b"HTTP/1.1 200 OK\r\n\r\n")]);
        s.on_event(S, StreamEvent::Gap(u64::MAX), at(2));
        s.on_event(S, StreamEvent::Data(&[0]), at(3));
        s.on_event(S, StreamEvent::Gap(u64::MAX), at(4));
        s.on_event(S, StreamEvent::Fin, at(5));
        let p = resp(&s.exchanges()[0]);
        assert_eq!(
            (p.body_bytes, p.gap_bytes, p.complete),
            (u64::MAX, u64::MAX, true)
        );
    }
}
