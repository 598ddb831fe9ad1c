//! One HTTP/2 connection: a frame reader and an HPACK decoder per direction,
//! the streams open now, and the connection's facts (SETTINGS, GOAWAY,
//! RST_STREAM, PING, concurrency). See the module docs of [`crate::http2`].

use std::collections::BTreeMap;

use crate::anomaly::AnomalyKind;
use crate::http2::frame::{
    self, FRAME_HEADER_LEN, Frame, FrameError, FrameHeader, FrameType, flags, setting,
};
use crate::http2::hpack::{BlockError, BlockFacts, HpackDir};
use crate::http2::{
    H2RequestInfo, H2Start, H2StartKind, MAX_CONTINUATION_FRAMES, MAX_GOAWAY_DEBUG, MAX_GOAWAYS,
    MAX_HEADER_BLOCK, MAX_OPEN_STREAMS, PING_FLOOD, PREFACE, RAPID_RESET, SETTINGS_STORM,
};
use crate::tcp::StreamEvent;
use crate::types::{Anomaly, At, Dir, MAX_ANOMALIES_PER_CONNECTION, PerRole, Role};

/// Most interim (1xx) statuses kept per stream.
const MAX_INTERIM: usize = 8;
/// Most SETTINGS parameters read from one frame.
const MAX_SETTINGS_PARAMS: usize = 64;
/// Bytes buffered while looking for frame alignment after a gap.
const RESYNC_WINDOW: usize = 64 * 1024;
/// Reset streams kept for the peer's frames already in flight (a response
/// to a request the client cancelled); the oldest is handed out past it.
const MAX_CLOSING: usize = 64;

/// A point in the capture, serialised as `{"frame": N, "ts": seconds}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp(pub At);

impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Stamp", 2)?;
        st.serialize_field("frame", &self.0.frame)?;
        st.serialize_field("ts", &self.0.ts.as_secs_f64())?;
        st.end()
    }
}

/// One side of a stream: the request (client) or the response (server).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct H2Half {
    /// The first header block of this side (HEADERS, or PUSH_PROMISE for a
    /// pushed request; the HTTP/1 head for an upgrading request).
    pub headers: Option<At>,
    /// Header blocks sent (first, interim, final, trailers).
    pub header_blocks: u32,
    /// END_STREAM of this side.
    pub end_stream: Option<At>,
    /// DATA payload bytes without padding, as sent (lost bytes included).
    pub body_bytes: u64,
    /// DATA frames.
    pub data_frames: u64,
    /// A trailing header block (trailers) was sent.
    pub trailers: bool,
}

/// RST_STREAM that ended a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Reset {
    /// Who reset it.
    pub by: Role,
    /// RFC 9113 error name (`"UNKNOWN_ERROR"` for other codes).
    pub error: &'static str,
    /// The error code.
    pub code: u32,
    /// Its frame.
    pub at: At,
}

/// A stream above the last_stream_id of a GOAWAY from the other side: not
/// processed by the GOAWAY's sender, so safe (and needed) to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Unprocessed {
    /// The GOAWAY's sender.
    pub goaway_by: Role,
    /// Its last_stream_id.
    pub last_stream_id: u32,
    /// The stream was opened after that GOAWAY in capture order.
    pub opened_after_goaway: bool,
}

/// One HTTP/2 stream, handed out when it is over (or at the end of the
/// connection, unfinished).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2Stream {
    /// Stream identifier.
    pub stream_id: u32,
    /// For a pushed stream, the stream whose PUSH_PROMISE announced it.
    pub promised_on: Option<u32>,
    /// When it was opened (its first HEADERS or PUSH_PROMISE).
    pub opened: At,
    /// `:method`
    pub method: Option<String>,
    /// `:path` (the target of an upgrading request)
    pub path: Option<String>,
    /// `:authority` (or `Host` when `:authority` is absent)
    pub authority: Option<String>,
    /// `:scheme`
    pub scheme: Option<String>,
    /// The request side (a header block was seen: `request.headers`).
    pub request: H2Half,
    /// The response side.
    pub response: H2Half,
    /// Interim (1xx) statuses in order (at most 8 kept).
    pub interim: Vec<u16>,
    /// When each of `interim` came (its header block's event).
    pub interim_at: Vec<At>,
    /// The final (non-1xx) response header block.
    pub final_headers: Option<At>,
    /// Final status.
    pub status: Option<u16>,
    /// Response `content-type`.
    pub content_type: Option<String>,
    /// `grpc-status` from the trailers (or a trailers-only response) when
    /// the content-type is `application/grpc...`.
    pub grpc_status: Option<u32>,
    /// RST_STREAM that ended it.
    pub rst: Option<H2Reset>,
    /// Some header block of this stream could not be decoded because the
    /// HPACK state was lost: the fields above may be missing; never guessed.
    pub headers_unknown: bool,
    /// Not processed: above the last_stream_id of the peer's GOAWAY.
    pub unprocessed: Option<H2Unprocessed>,
    /// Ended by END_STREAM both ways, a RST_STREAM or a GOAWAY that left it
    /// unprocessed; false for streams still open when the connection ended
    /// (or evicted past [`MAX_OPEN_STREAMS`]).
    pub finished: bool,
    /// When it ended (for unfinished streams: the last event of the
    /// connection, or of its eviction).
    pub closed: Option<At>,
    /// A stream opened before the capture (or the piece) began, seen from
    /// its response headers on: no request, only the response.
    pub continued: bool,
}

impl H2Stream {
    fn new(stream_id: u32, opened: At) -> Self {
        H2Stream {
            stream_id,
            promised_on: None,
            opened,
            method: None,
            path: None,
            authority: None,
            scheme: None,
            request: H2Half::default(),
            response: H2Half::default(),
            interim: Vec::new(),
            interim_at: Vec::new(),
            final_headers: None,
            status: None,
            content_type: None,
            grpc_status: None,
            rst: None,
            headers_unknown: false,
            unprocessed: None,
            finished: false,
            closed: None,
            continued: false,
        }
    }

    /// The side `role` sends.
    pub fn half(&self, role: Role) -> &H2Half {
        match role {
            Role::Client => &self.request,
            Role::Server => &self.response,
        }
    }

    fn half_mut(&mut self, role: Role) -> &mut H2Half {
        match role {
            Role::Client => &mut self.request,
            Role::Server => &mut self.response,
        }
    }

    /// Who opened it: odd ids the client, even ids (pushed) the server.
    pub fn initiator(&self) -> Role {
        initiator(self.stream_id)
    }

    fn is_grpc(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/grpc"))
    }

    fn request_facts(&mut self, f: &BlockFacts) {
        self.method = f.method.clone();
        self.path = f.path.clone();
        self.authority = f.authority.clone().or_else(|| f.host.clone());
        self.scheme = f.scheme.clone();
    }
}

fn initiator(stream_id: u32) -> Role {
    if !stream_id.is_multiple_of(2) {
        Role::Client
    } else {
        Role::Server
    }
}

/// A GOAWAY as sent.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct H2Goaway {
    /// Its sender.
    pub by: Role,
    /// Highest stream id the sender may have processed.
    pub last_stream_id: u32,
    /// RFC 9113 error name (`"UNKNOWN_ERROR"` for other codes).
    pub error: &'static str,
    /// The error code.
    pub code: u32,
    /// Debug data, lossy UTF-8, at most 256 bytes of it.
    pub debug: String,
    /// Its frame.
    pub at: Stamp,
    /// Streams open when it was sent.
    pub open_streams: u32,
    /// Nanoseconds since the last frame on any stream (or since the first
    /// frame of the connection if no stream had one): the idle time an
    /// idle-timeout GOAWAY follows.
    pub idle_ns: u64,
}

/// Most RST_STREAM frames kept in [`H2Facts::resets`].
pub const MAX_RESETS: usize = 64;

/// One RST_STREAM frame.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct H2RstFrame {
    /// Its sender.
    pub by: Role,
    /// The stream reset.
    pub stream_id: u32,
    /// RFC 9113 error name (`"UNKNOWN_ERROR"` for other codes, or when
    /// the frame's payload was lost).
    pub error: &'static str,
    /// Its frame.
    pub at: Stamp,
}

/// Connection-level facts (the report's `http2` object is built from this).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct H2Facts {
    /// How it started.
    pub start: H2StartKind,
    /// Streams opened by each side (the client's requests; the server's pushes).
    pub streams_opened: PerRole<u64>,
    /// Streams left unprocessed by a GOAWAY (above its last_stream_id).
    pub streams_unprocessed: u64,
    /// Most streams open (or half-closed) at once.
    pub peak_concurrent_streams: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS each side last sent (null: never).
    pub max_concurrent_streams: PerRole<Option<u32>>,
    /// SETTINGS_INITIAL_WINDOW_SIZE each side last sent.
    pub initial_window_size: PerRole<Option<u32>>,
    /// SETTINGS_HEADER_TABLE_SIZE each side last sent.
    pub header_table_size: PerRole<Option<u32>>,
    /// SETTINGS_MAX_FRAME_SIZE each side last sent.
    pub max_frame_size: PerRole<Option<u32>>,
    /// GOAWAYs in order (at most 16; `goaways_dropped` counts the rest).
    pub goaway: Vec<H2Goaway>,
    /// GOAWAYs not kept.
    pub goaways_dropped: u64,
    /// RST_STREAM frames sent by each side.
    pub rst_streams: PerRole<u64>,
    /// The RST_STREAM frames in order (at most [`MAX_RESETS`] kept; on
    /// closed streams too, where no [`H2Stream`] carries them).
    pub resets: Vec<H2RstFrame>,
    /// RST_STREAMs not kept in `resets`.
    pub resets_dropped: u64,
    /// PINGs (not ACKs) sent by each side.
    pub pings: PerRole<u64>,
    /// SETTINGS frames (not ACKs) sent by each side.
    pub settings: PerRole<u64>,
    /// Frames read from each side.
    pub frames: PerRole<u64>,
    /// Frames of a type RFC 9113 does not define (skipped).
    pub unknown_frames: PerRole<u64>,
    /// Header blocks that could not be decoded (state lost, errors).
    pub header_blocks_unknown: u64,
    /// The HPACK state of what this side sends was lost.
    pub hpack_state_lost: PerRole<bool>,
    /// The first frame of the connection.
    pub first_frame: Option<Stamp>,
    /// The last frame from each side.
    pub last_frame: PerRole<Option<Stamp>>,
    /// The last frame on a stream (not stream 0), either side: with the
    /// connection's end it tells how long it was idle.
    pub last_stream_frame: Option<Stamp>,
    /// Streams open when the connection ended (handed out unfinished).
    pub open_streams_at_end: u32,
    /// [`H2Start::MidStream`]: streams with frames here that were opened
    /// before the capture began (continued, never counted as opened).
    pub streams_continued: u64,
    /// [`H2Start::MidStream`]: the last activity (HEADERS, END_STREAM,
    /// RST_STREAM) on a continued stream, as the verdict's last stream
    /// activity counts for the streams it saw opened.
    #[serde(skip)]
    pub continued_last_activity: Option<At>,
}

impl H2Facts {
    fn new(start: H2StartKind) -> Self {
        H2Facts {
            start,
            streams_opened: PerRole::default(),
            streams_unprocessed: 0,
            peak_concurrent_streams: 0,
            max_concurrent_streams: PerRole::default(),
            initial_window_size: PerRole::default(),
            header_table_size: PerRole::default(),
            max_frame_size: PerRole::default(),
            goaway: Vec::new(),
            goaways_dropped: 0,
            rst_streams: PerRole::default(),
            resets: Vec::new(),
            resets_dropped: 0,
            pings: PerRole::default(),
            settings: PerRole::default(),
            frames: PerRole::default(),
            unknown_frames: PerRole::default(),
            header_blocks_unknown: 0,
            hpack_state_lost: PerRole::default(),
            first_frame: None,
            last_frame: PerRole::default(),
            last_stream_frame: None,
            open_streams_at_end: 0,
            streams_continued: 0,
            continued_last_activity: None,
        }
    }
}

/// The frame being read: its header and what is kept of its payload.
#[derive(Clone, Copy, Debug)]
struct Cur {
    h: FrameHeader,
    /// Payload bytes not yet read.
    remaining: u32,
    /// Payload bytes to keep (the rest is skipped by length).
    keep: usize,
    /// Part of the payload fell into a capture gap.
    lost: bool,
    /// The frame broke SETTINGS_MAX_FRAME_SIZE: skipped whole.
    too_large: bool,
}

/// A header block spread over HEADERS/PUSH_PROMISE + CONTINUATION.
#[derive(Clone, Debug)]
struct Block {
    stream_id: u32,
    kind: BlockKind,
    buf: Vec<u8>,
    /// Bytes of fragments not buffered (over the bound, or lost).
    skipped: bool,
    frames: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockKind {
    Headers { end_stream: bool },
    PushPromise { promised: u32 },
}

/// Reading state of one direction.
struct DirState {
    /// Bytes of the client preface still expected (client direction).
    preface_left: usize,
    /// The direction is not HTTP/2 (bad preface): not read further.
    dead: bool,
    /// The first frame (must be SETTINGS) was seen.
    first_frame_seen: bool,
    hdr: [u8; FRAME_HEADER_LEN],
    hdr_have: usize,
    cur: Option<Cur>,
    /// Kept payload of the current frame.
    buf: Vec<u8>,
    block: Option<Block>,
    hpack: HpackDir,
    /// Why the HPACK state was lost (for the anomaly), and whether that
    /// anomaly was noted.
    lost_why: Option<String>,
    lost_noted: bool,
    /// SETTINGS_MAX_FRAME_SIZE of the receiver (largest ever advertised).
    max_frame_size: u32,
    /// Looking for frame alignment after a gap: bytes buffered.
    resync: Option<Vec<u8>>,
    /// Bytes skipped while realigning.
    resync_skipped: u64,
    /// When the last bytes put in `resync` came.
    resync_at: Option<At>,
    /// Mid-connection: not synchronised yet (three consecutive plausible
    /// frame headers are needed, not two).
    mid_sync: bool,
}

impl DirState {
    fn new(preface: bool) -> Self {
        DirState {
            preface_left: if preface { PREFACE.len() } else { 0 },
            dead: false,
            first_frame_seen: false,
            hdr: [0; FRAME_HEADER_LEN],
            hdr_have: 0,
            cur: None,
            buf: Vec::new(),
            block: None,
            hpack: HpackDir::new(),
            lost_why: None,
            lost_noted: false,
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            resync: None,
            resync_skipped: 0,
            resync_at: None,
            mid_sync: false,
        }
    }

    /// A direction whose start the capture did not see.
    fn mid() -> Self {
        let mut d = Self::new(false);
        d.first_frame_seen = true;
        d.hpack = HpackDir::mid_connection();
        d.lost_why = Some("the connection began before the capture".to_string());
        d.resync = Some(Vec::new());
        d.mid_sync = true;
        d
    }

    fn lose(&mut self, why: String) {
        if !self.hpack.is_lost() {
            self.lost_why = Some(why);
        }
        self.hpack.lose();
    }
}

/// HTTP/2 state of one connection.
pub struct H2Session {
    dirs: [DirState; 2],
    streams: BTreeMap<u32, H2Stream>,
    /// Streams reset by one side whose other side had not ended: what the
    /// other side had in flight still lands here until it ends its side.
    closing: BTreeMap<u32, H2Stream>,
    finished: Vec<H2Stream>,
    facts: H2Facts,
    anomalies: Vec<Anomaly>,
    anomalies_dropped: u64,
    /// Highest stream id each side opened (client: odd; server: promised).
    max_id: PerRole<u32>,
    /// Lowest last_stream_id of the GOAWAYs each side sent.
    goaway_last: PerRole<Option<u32>>,
    /// Streams counted open (for concurrency).
    active: u32,
    /// Client resets of streams without a response yet.
    early_resets: u64,
    noted_storm: PerRole<bool>,
    noted_ping_flood: PerRole<bool>,
    noted_rapid_reset: bool,
    noted_too_many: bool,
    /// `Upgrade: h2c` whose request the capture did not see: stream 1's
    /// response, when it comes, is a response without its request.
    unseen_stream1: bool,
    /// Request bytes and END_STREAM seen on continued streams before their
    /// response began (the end of an upload whose headers came before the
    /// capture), for the response-only stream when it is created; at most
    /// [`MAX_CONTINUED_REQUESTS`], the lowest ids dropped first.
    continued_requests: BTreeMap<u32, (u64, Option<At>)>,
    /// When a FIN or RST first ended a direction: activity on continued
    /// streams later than it does not count (see
    /// `continued_last_activity`; frames may be delivered after the FIN of
    /// the other direction, so this goes by time, not by order).
    first_end: Option<At>,
    done: bool,
    /// [`H2Start::MidStream`].
    mid: bool,
    /// Mid-connection: the highest stream id seen continuing a stream
    /// opened before the capture began (ids at or below it are not new).
    mid_floor: u32,
}

impl H2Session {
    /// A session at the start of HTTP/2 on the connection.
    pub fn new(start: H2Start) -> Self {
        let mut s = H2Session {
            dirs: [DirState::new(true), DirState::new(false)],
            streams: BTreeMap::new(),
            closing: BTreeMap::new(),
            finished: Vec::new(),
            facts: H2Facts::new(start.kind()),
            anomalies: Vec::new(),
            anomalies_dropped: 0,
            max_id: PerRole::default(),
            goaway_last: PerRole::default(),
            active: 0,
            early_resets: 0,
            noted_storm: PerRole::default(),
            noted_ping_flood: PerRole::default(),
            noted_rapid_reset: false,
            noted_too_many: false,
            unseen_stream1: false,
            continued_requests: BTreeMap::new(),
            first_end: None,
            done: false,
            mid: false,
            mid_floor: 0,
        };
        if start == H2Start::MidStream {
            s.mid = true;
            s.dirs = [DirState::mid(), DirState::mid()];
            s.facts.hpack_state_lost = PerRole {
                client: true,
                server: true,
            };
        }
        match start {
            H2Start::Upgrade {
                request: Some(request),
            } => s.upgrade_stream(request),
            H2Start::Upgrade { request: None } => {
                // stream 1 is taken (by the request before the capture)
                s.max_id.client = 1;
                s.unseen_stream1 = true;
            }
            _ => {}
        }
        s
    }

    /// Stream 1 from the upgrading HTTP/1 request.
    fn upgrade_stream(&mut self, r: H2RequestInfo) {
        let at = r.at;
        let mut st = H2Stream::new(1, at);
        st.method = Some(r.method);
        st.path = Some(r.target);
        st.authority = r.authority;
        st.scheme = Some("http".to_string());
        st.request.headers = Some(at);
        st.request.header_blocks = 1;
        st.request.end_stream = Some(at);
        st.request.body_bytes = r.body_bytes;
        self.max_id.client = 1;
        self.facts.streams_opened.client = 1;
        self.streams.insert(1, st);
        self.activate();
        if let Some(v) = r.http2_settings.as_deref() {
            match base64url(v) {
                Some(p) => self.apply_settings(Dir::ToServer, &p),
                None => self.anomaly(
                    AnomalyKind::H2FrameError,
                    at,
                    Some(Role::Client),
                    "HTTP2-Settings is not base64url".to_string(),
                ),
            }
        }
    }

    /// One stream event of the HTTP/2 byte stream in direction `dir`.
    pub fn on_event(&mut self, dir: Dir, ev: StreamEvent<'_>, at: At) {
        if self.done {
            return;
        }
        match ev {
            StreamEvent::Data(bytes) => self.feed(dir, bytes, at),
            StreamEvent::Gap(0) => {}
            StreamEvent::Gap(n) => self.gap(dir, n, at),
            StreamEvent::Fin | StreamEvent::Reset => self.end_dir(dir, at),
        }
    }

    /// The connection is over: every stream still open is handed out,
    /// unfinished. Later events are ignored.
    pub fn finish(&mut self, at: At) {
        if self.done {
            return;
        }
        // Mid-connection, a direction that never showed three frames in a
        // row: read if what it held is whole frames and nothing else (the
        // client's first).
        for dir in [Dir::ToServer, Dir::ToClient] {
            let d = self.dir_mut(dir);
            let max = d.max_frame_size;
            if d.mid_sync
                && let Some(win) = d.resync.take_if(|w| whole_frames(w, max))
            {
                d.mid_sync = false;
                let skipped = std::mem::take(&mut d.resync_skipped);
                // the frames are read as of their last segment
                let at = d.resync_at.unwrap_or(at);
                self.anomaly(
                    AnomalyKind::H2Resync,
                    at,
                    Some(dir.sender()),
                    format!(
                        "frames synchronised mid-connection at its end ({} bytes of whole frames), {skipped} bytes skipped",
                        win.len()
                    ),
                );
                self.read(dir, &win, at);
            }
        }
        self.end_dir(Dir::ToServer, at);
        self.end_dir(Dir::ToClient, at);
        self.done = true;
        let open = std::mem::take(&mut self.streams);
        self.facts.open_streams_at_end = u32::try_from(open.len()).unwrap_or(u32::MAX);
        for (_, mut st) in open {
            st.finished = false;
            st.closed = Some(at);
            self.finished.push(st);
        }
        // reset streams are finished; they only waited for late frames
        let closing = std::mem::take(&mut self.closing);
        self.finished.extend(closing.into_values());
        self.active = 0;
    }

    /// Streams that ended since the last call, in the order they ended.
    pub fn take_finished(&mut self) -> Vec<H2Stream> {
        std::mem::take(&mut self.finished)
    }

    /// Connection facts so far.
    pub fn facts(&self) -> &H2Facts {
        &self.facts
    }

    /// Anomalies kept (at most `MAX_ANOMALIES_PER_CONNECTION`).
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    /// Anomalies past the cap, counted only.
    pub fn anomalies_dropped(&self) -> u64 {
        self.anomalies_dropped
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes the session holds in buffers now (frame payloads being kept,
    /// header blocks, realignment windows): for tests of the bounds.
    pub fn buffered_bytes(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| {
                d.buf.capacity()
                    + d.block.as_ref().map_or(0, |b| b.buf.capacity())
                    + d.resync.as_ref().map_or(0, Vec::capacity)
            })
            .sum::<usize>()
    }

    fn anomaly(&mut self, kind: AnomalyKind, at: At, by: Option<Role>, detail: String) {
        if self.anomalies.len() < MAX_ANOMALIES_PER_CONNECTION {
            self.anomalies.push(Anomaly {
                kind,
                frame: at.frame,
                ts: at.ts,
                by,
                detail,
            });
        } else {
            self.anomalies_dropped = self.anomalies_dropped.saturating_add(1);
        }
    }

    fn dir_mut(&mut self, dir: Dir) -> &mut DirState {
        let [a, b] = &mut self.dirs;
        match dir {
            Dir::ToServer => a,
            Dir::ToClient => b,
        }
    }

    fn dir_ref(&self, dir: Dir) -> &DirState {
        let [a, b] = &self.dirs;
        match dir {
            Dir::ToServer => a,
            Dir::ToClient => b,
        }
    }

    // ----- byte level -------------------------------------------------------

    fn feed(&mut self, dir: Dir, mut bytes: &[u8], at: At) {
        let d = self.dir_mut(dir);
        if d.dead || bytes.is_empty() {
            return;
        }
        if d.preface_left > 0 {
            let off = PREFACE.len() - d.preface_left;
            let n = d.preface_left.min(bytes.len());
            let want = PREFACE.get(off..off + n).unwrap_or_default();
            let (got, rest) = bytes.split_at_checked(n).unwrap_or((bytes, &[]));
            if got != want {
                d.dead = true;
                let shown = String::from_utf8_lossy(got.get(..got.len().min(24)).unwrap_or(got))
                    .into_owned();
                self.anomaly(
                    AnomalyKind::H2BadPreface,
                    at,
                    Some(Role::Client),
                    format!("client bytes do not start with the HTTP/2 preface: {shown:?}"),
                );
                return;
            }
            d.preface_left -= n;
            bytes = rest;
        }
        while let Some(mut win) = self.dir_mut(dir).resync.take() {
            let room = RESYNC_WINDOW.saturating_sub(win.len());
            let (now, later) = bytes.split_at_checked(room).unwrap_or((bytes, &[]));
            win.extend_from_slice(now);
            self.dir_mut(dir).resync_at = Some(at);
            bytes = later;
            let max = self.dir_ref(dir).max_frame_size;
            let found = if self.dir_ref(dir).mid_sync {
                // mid-connection: three frames, or one at the very start
                // once the other direction has shown the connection is
                // HTTP/2 (a piece cut at a segment boundary; waiting for
                // three would read this side's frames after the other's)
                let other = self.dir_ref(dir.reverse());
                let other_synced = !other.mid_sync && other.resync.is_none();
                if other_synced && win.len() >= FRAME_HEADER_LEN && plausible(&win, max) {
                    Some(0)
                } else {
                    find_alignment(&win, max, 3)
                }
            } else {
                find_alignment(&win, max, 2)
            };
            match found {
                Some(off) => {
                    let d = self.dir_mut(dir);
                    let skipped = d.resync_skipped.saturating_add(off as u64);
                    d.resync_skipped = 0;
                    let mid = std::mem::take(&mut d.mid_sync);
                    self.anomaly(
                        AnomalyKind::H2Resync,
                        at,
                        Some(dir.sender()),
                        if mid {
                            format!("frames synchronised mid-connection, {skipped} bytes skipped")
                        } else {
                            format!("frames realigned after a gap, {skipped} bytes skipped")
                        },
                    );
                    // the client's frames first (requests before the
                    // responses to them)
                    if mid && dir == Dir::ToClient {
                        self.mid_kick(Dir::ToServer, at);
                    }
                    self.read(dir, win.get(off..).unwrap_or_default(), at);
                    if mid && dir == Dir::ToServer {
                        self.mid_kick(Dir::ToClient, at);
                    }
                }
                None => {
                    // keep the tail, which may hold a header whose successor
                    // has not arrived yet; drop the rest
                    let d = self.dir_mut(dir);
                    if win.len() >= RESYNC_WINDOW {
                        let drop = win.len() - RESYNC_WINDOW / 2;
                        win.drain(..drop);
                        d.resync_skipped = d.resync_skipped.saturating_add(drop as u64);
                    }
                    d.resync = Some(win);
                }
            }
            if bytes.is_empty() {
                return;
            }
        }
        self.read(dir, bytes, at);
    }

    /// Mid-connection, the other direction has just synchronised: this one,
    /// if its waiting bytes begin with a plausible frame header, is read
    /// from there at once, the client's before the server's (requests
    /// before the responses to them, so that no new stream is taken for
    /// one continued from before the capture).
    fn mid_kick(&mut self, dir: Dir, at: At) {
        let d = self.dir_mut(dir);
        let max = d.max_frame_size;
        if !d.mid_sync
            || !d
                .resync
                .as_ref()
                .is_some_and(|w| w.len() >= FRAME_HEADER_LEN && plausible(w, max))
        {
            return;
        }
        let win = d.resync.take().unwrap_or_default();
        d.mid_sync = false;
        let skipped = std::mem::take(&mut d.resync_skipped);
        self.anomaly(
            AnomalyKind::H2Resync,
            at,
            Some(dir.sender()),
            format!("frames synchronised mid-connection, {skipped} bytes skipped"),
        );
        self.read(dir, &win, at);
    }

    /// Frames from aligned bytes.
    fn read(&mut self, dir: Dir, mut bytes: &[u8], at: At) {
        while !bytes.is_empty() {
            if self.dir_ref(dir).dead || self.dir_ref(dir).resync.is_some() {
                // resync started inside (cannot happen on aligned data) or dead
                return;
            }
            let d = self.dir_mut(dir);
            let Some(mut cur) = d.cur else {
                let take = (FRAME_HEADER_LEN - d.hdr_have).min(bytes.len());
                let (h, rest) = bytes.split_at_checked(take).unwrap_or((bytes, &[]));
                if let Some(dst) = d.hdr.get_mut(d.hdr_have..d.hdr_have + take) {
                    dst.copy_from_slice(h);
                }
                d.hdr_have += take;
                bytes = rest;
                if d.hdr_have < FRAME_HEADER_LEN {
                    return;
                }
                d.hdr_have = 0;
                let Some(h) = FrameHeader::parse(&d.hdr) else {
                    return;
                };
                self.begin_frame(dir, h, at);
                if h.length == 0 {
                    self.complete_frame(dir, at);
                }
                continue;
            };
            let n = usize::try_from(cur.remaining)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let (chunk, rest) = bytes.split_at_checked(n).unwrap_or((bytes, &[]));
            let room = cur.keep.saturating_sub(d.buf.len());
            d.buf
                .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            cur.remaining -= u32::try_from(n).unwrap_or(cur.remaining);
            d.cur = Some(cur);
            bytes = rest;
            if cur.remaining == 0 {
                self.complete_frame(dir, at);
            }
        }
    }

    /// A frame header was read: decide what of the payload to keep.
    fn begin_frame(&mut self, dir: Dir, h: FrameHeader, at: At) {
        let role = dir.sender();
        let max = self.dir_ref(dir).max_frame_size;
        let mut too_large = false;
        if let Err(e) = frame::check_length(&h, max) {
            too_large = true;
            self.anomaly(AnomalyKind::H2FrameTooLarge, at, Some(role), e.to_string());
        }
        let len = usize::try_from(h.length).unwrap_or(usize::MAX);
        let d = self.dir_mut(dir);
        let keep = if too_large {
            0
        } else {
            match h.kind {
                FrameType::Data => usize::from(h.has(flags::PADDED)).min(len),
                FrameType::Headers | FrameType::PushPromise | FrameType::Continuation => {
                    let have = d.block.as_ref().map_or(0, |b| b.buf.len());
                    if have.saturating_add(len) <= MAX_HEADER_BLOCK {
                        len
                    } else {
                        0
                    }
                }
                FrameType::Settings => len.min(6 * MAX_SETTINGS_PARAMS),
                FrameType::Goaway => len.min(8 + MAX_GOAWAY_DEBUG),
                FrameType::Ping
                | FrameType::RstStream
                | FrameType::WindowUpdate
                | FrameType::Priority => len.min(16),
                FrameType::Unknown(_) => 0,
            }
        };
        d.buf.clear();
        d.cur = Some(Cur {
            h,
            remaining: h.length,
            keep,
            lost: false,
            too_large,
        });
    }

    /// A gap of `n` bytes in direction `dir`.
    fn gap(&mut self, dir: Dir, n: u64, at: At) {
        let role = dir.sender();
        let d = self.dir_mut(dir);
        if d.dead {
            return;
        }
        if let Some(win) = d.resync.as_mut() {
            // still realigning: the window restarts after the new hole
            d.resync_skipped = d
                .resync_skipped
                .saturating_add(win.len() as u64)
                .saturating_add(n);
            win.clear();
            return;
        }
        if d.preface_left == 0
            && d.hdr_have == 0
            && let Some(mut cur) = d.cur
            && n <= u64::from(cur.remaining)
        {
            // inside the current frame's payload: alignment survives
            cur.remaining -= u32::try_from(n).unwrap_or(cur.remaining);
            let kept_all = d.buf.len() >= cur.keep;
            if !(kept_all && cur.h.kind == FrameType::Data) {
                cur.lost = true;
            }
            d.cur = Some(cur);
            if cur.remaining == 0 {
                self.complete_frame(dir, at);
            }
            return;
        }
        // a frame header fell into the gap: realign
        d.preface_left = 0;
        d.hdr_have = 0;
        d.cur = None;
        d.buf.clear();
        d.block = None;
        d.first_frame_seen = true;
        d.lose(format!("{n} bytes lost at frame {}", at.frame));
        d.resync = Some(Vec::new());
        *self.facts.hpack_state_lost.get_mut(role) = true;
    }

    /// FIN or RST in a direction (or the end of the connection).
    fn end_dir(&mut self, dir: Dir, at: At) {
        self.first_end.get_or_insert(at);
        let role = dir.sender();
        let d = self.dir_mut(dir);
        let mid_frame = d.cur.map(|c| (c.h, c.remaining));
        let mid_header = d.hdr_have;
        let mid_block = d.block.as_ref().map(|b| b.stream_id);
        d.cur = None;
        d.hdr_have = 0;
        d.block = None;
        d.buf.clear();
        if let Some((h, rem)) = mid_frame {
            self.anomaly(
                AnomalyKind::H2TruncatedFrame,
                at,
                Some(role),
                format!(
                    "{} frame on stream {} ended {rem} of {} bytes short",
                    h.kind.name(),
                    h.stream_id,
                    h.length
                ),
            );
        } else if mid_header > 0 {
            self.anomaly(
                AnomalyKind::H2TruncatedFrame,
                at,
                Some(role),
                format!("stream ended {mid_header} bytes into a frame header"),
            );
        } else if let Some(sid) = mid_block {
            self.anomaly(
                AnomalyKind::H2TruncatedFrame,
                at,
                Some(role),
                format!("stream ended inside the header block of stream {sid}"),
            );
        }
    }

    // ----- frame level ------------------------------------------------------

    fn complete_frame(&mut self, dir: Dir, at: At) {
        let d = self.dir_mut(dir);
        let Some(cur) = d.cur.take() else {
            return;
        };
        let payload = std::mem::take(&mut d.buf);
        self.frame(dir, &cur, &payload, at);
        let d = self.dir_mut(dir);
        let mut payload = payload;
        payload.clear();
        if d.buf.capacity() < payload.capacity() {
            d.buf = payload;
        }
    }

    fn frame(&mut self, dir: Dir, cur: &Cur, payload: &[u8], at: At) {
        let role = dir.sender();
        let h = cur.h;
        *self.facts.frames.get_mut(role) += 1;
        let stamp = Some(Stamp(at));
        if self.facts.first_frame.is_none() {
            self.facts.first_frame = stamp;
        }
        *self.facts.last_frame.get_mut(role) = stamp;
        if h.stream_id != 0 {
            self.facts.last_stream_frame = stamp;
        }
        // preface: a side's first frame is SETTINGS
        let d = self.dir_mut(dir);
        if !d.first_frame_seen {
            d.first_frame_seen = true;
            if h.kind != FrameType::Settings || h.has(flags::ACK) {
                self.anomaly(
                    AnomalyKind::H2BadPreface,
                    at,
                    Some(role),
                    format!("first {role} frame is {}, not SETTINGS", h.kind.name()),
                );
            }
        }
        // a header block in progress admits only its CONTINUATION
        if let Some(b) = self.dir_ref(dir).block.as_ref()
            && (h.kind != FrameType::Continuation || h.stream_id != b.stream_id)
        {
            let sid = b.stream_id;
            let d = self.dir_mut(dir);
            d.block = None;
            d.lose(format!("header block of stream {sid} interrupted"));
            self.anomaly(
                AnomalyKind::H2ContinuationExpected,
                at,
                Some(role),
                format!(
                    "{} on stream {} inside the header block of stream {sid}",
                    h.kind.name(),
                    h.stream_id
                ),
            );
            self.block_unknown(dir, sid, at);
        }
        if cur.too_large {
            if matches!(
                h.kind,
                FrameType::Headers | FrameType::PushPromise | FrameType::Continuation
            ) {
                self.dir_mut(dir)
                    .lose(format!("oversized {} skipped", h.kind.name()));
                self.lost_frame(dir, &h, at);
            }
            return;
        }
        if h.kind == FrameType::Data {
            self.data_frame(dir, &h, payload.first().copied(), cur.lost, at);
            return;
        }
        if cur.lost {
            self.lost_frame(dir, &h, at);
            return;
        }
        let len = usize::try_from(h.length).unwrap_or(usize::MAX);
        let parsed = if payload.len() < len {
            // kept a bounded prefix: parse what was kept
            match h.kind {
                FrameType::Settings | FrameType::Goaway => {
                    let mut hh = h;
                    let keep = if h.kind == FrameType::Settings {
                        payload.len() - payload.len() % 6
                    } else {
                        payload.len()
                    };
                    hh.length = u32::try_from(keep).unwrap_or(0);
                    Frame::from_parts(&hh, payload.get(..keep).unwrap_or_default())
                }
                FrameType::Headers | FrameType::PushPromise | FrameType::Continuation => {
                    self.header_fragment_skipped(dir, &h, at);
                    return;
                }
                FrameType::Unknown(kind) => Ok(Frame::Unknown { kind }),
                _ => Err(FrameError::BadLength {
                    kind: h.kind,
                    length: h.length,
                }),
            }
        } else {
            Frame::from_parts(&h, payload)
        };
        match parsed {
            Ok(f) => self.on_frame(dir, &h, f, at),
            Err(e) => {
                self.anomaly(AnomalyKind::H2FrameError, at, Some(role), e.to_string());
                if matches!(
                    h.kind,
                    FrameType::Headers | FrameType::PushPromise | FrameType::Continuation
                ) {
                    self.dir_mut(dir)
                        .lose(format!("malformed {}", h.kind.name()));
                    self.lost_frame(dir, &h, at);
                }
            }
        }
    }

    /// A HEADERS/PUSH_PROMISE/CONTINUATION too long to keep whole.
    fn header_fragment_skipped(&mut self, dir: Dir, h: &FrameHeader, at: At) {
        let role = dir.sender();
        let d = self.dir_mut(dir);
        let in_block = d.block.is_some();
        let first = match d.block.as_mut() {
            Some(b) => {
                let first = !b.skipped;
                b.skipped = true;
                b.buf = Vec::new();
                b.frames = b.frames.saturating_add(1);
                first
            }
            None => true,
        };
        if first {
            self.anomaly(
                AnomalyKind::H2ContinuationFlood,
                at,
                Some(role),
                format!(
                    "header block of stream {} over {MAX_HEADER_BLOCK} bytes: skipped",
                    h.stream_id
                ),
            );
        }
        self.dir_mut(dir).lose(format!(
            "header block of stream {} over {MAX_HEADER_BLOCK} bytes",
            h.stream_id
        ));
        if !in_block {
            self.headers_frame_unreadable(dir, h, at);
        } else if h.has(flags::END_HEADERS) {
            self.finish_block(dir, at);
        }
    }

    /// A frame whose payload was partly lost to a capture gap.
    fn lost_frame(&mut self, dir: Dir, h: &FrameHeader, at: At) {
        match h.kind {
            FrameType::Headers | FrameType::PushPromise | FrameType::Continuation => {
                self.dir_mut(dir).lose(format!(
                    "{} at frame {} not readable",
                    h.kind.name(),
                    at.frame
                ));
                *self.facts.hpack_state_lost.get_mut(dir.sender()) = true;
                if h.kind == FrameType::Continuation && self.dir_ref(dir).block.is_some() {
                    if let Some(b) = self.dir_mut(dir).block.as_mut() {
                        b.skipped = true;
                    }
                    if h.has(flags::END_HEADERS) {
                        self.finish_block(dir, at);
                    }
                } else {
                    self.headers_frame_unreadable(dir, h, at);
                }
            }
            FrameType::RstStream => {
                // the stream was reset, by whom is known, the code is not
                self.on_rst(dir, h.stream_id, u32::MAX, at);
            }
            _ => {}
        }
    }

    /// HEADERS or PUSH_PROMISE whose block cannot be read: the stream is
    /// still counted (by id and flags), its headers unknown. Also the
    /// CONTINUATION that ends such a block.
    fn headers_frame_unreadable(&mut self, dir: Dir, h: &FrameHeader, at: At) {
        match h.kind {
            FrameType::Headers => {
                let end_stream = h.has(flags::END_STREAM);
                if h.has(flags::END_HEADERS) {
                    self.header_block(
                        dir,
                        h.stream_id,
                        BlockKind::Headers { end_stream },
                        None,
                        at,
                    );
                } else {
                    self.dir_mut(dir).block = Some(Block {
                        stream_id: h.stream_id,
                        kind: BlockKind::Headers { end_stream },
                        buf: Vec::new(),
                        skipped: true,
                        frames: 1,
                    });
                }
            }
            FrameType::PushPromise => {
                // the promised id is in the lost payload: the block only
                // keeps the table out of step
                self.facts.header_blocks_unknown += 1;
            }
            _ => {}
        }
    }

    fn data_frame(&mut self, dir: Dir, h: &FrameHeader, pad: Option<u8>, lost: bool, at: At) {
        let role = dir.sender();
        if h.stream_id == 0 {
            self.anomaly(
                AnomalyKind::H2FrameError,
                at,
                Some(role),
                FrameError::BadStreamId {
                    kind: h.kind,
                    stream_id: 0,
                }
                .to_string(),
            );
            return;
        }
        let len = match frame::data_len(h, pad) {
            Ok(l) => l,
            Err(_) if lost => h.length.saturating_sub(1),
            Err(e) => {
                self.anomaly(AnomalyKind::H2FrameError, at, Some(role), e.to_string());
                return;
            }
        };
        let sid = h.stream_id;
        if self.stream_mut(sid).is_none() && self.continued(sid) {
            let end = h.has(flags::END_STREAM);
            if end {
                self.continued_activity(at);
            }
            if role == Role::Client {
                self.note_continued_request(sid, u64::from(len), end.then_some(at));
            }
            return;
        }
        let Some(st) = self.stream_mut(sid) else {
            if sid > *self.max_id.get(initiator(sid)) {
                self.anomaly(
                    AnomalyKind::H2FrameError,
                    at,
                    Some(role),
                    format!("DATA on idle stream {sid}"),
                );
            }
            return;
        };
        let half = st.half_mut(role);
        half.body_bytes = half.body_bytes.saturating_add(u64::from(len));
        half.data_frames += 1;
        if h.has(flags::END_STREAM) {
            self.end_stream(sid, role, at);
        }
    }

    fn on_frame(&mut self, dir: Dir, h: &FrameHeader, f: Frame<'_>, at: At) {
        let role = dir.sender();
        let sid = h.stream_id;
        match f {
            Frame::Data { .. } => {}
            Frame::Headers {
                block,
                end_stream,
                end_headers,
                ..
            } => {
                let kind = BlockKind::Headers { end_stream };
                self.start_block(dir, sid, kind, block, end_headers, at);
            }
            Frame::PushPromise {
                promised,
                block,
                end_headers,
            } => {
                if role == Role::Client {
                    self.anomaly(
                        AnomalyKind::H2FrameError,
                        at,
                        Some(role),
                        "PUSH_PROMISE from the client".to_string(),
                    );
                }
                let kind = BlockKind::PushPromise { promised };
                self.start_block(dir, sid, kind, block, end_headers, at);
            }
            Frame::Continuation { block, end_headers } => {
                let d = self.dir_mut(dir);
                let Some(b) = d.block.as_mut() else {
                    self.anomaly(
                        AnomalyKind::H2FrameError,
                        at,
                        Some(role),
                        format!("CONTINUATION on stream {sid} outside a header block"),
                    );
                    self.dir_mut(dir)
                        .lose("CONTINUATION outside a header block".to_string());
                    return;
                };
                b.frames = b.frames.saturating_add(1);
                let over_frames = b.frames > MAX_CONTINUATION_FRAMES;
                let over_bytes = b.buf.len().saturating_add(block.len()) > MAX_HEADER_BLOCK;
                if !b.skipped && (over_frames || over_bytes) {
                    b.skipped = true;
                    b.buf = Vec::new();
                    let frames = b.frames;
                    self.anomaly(
                        AnomalyKind::H2ContinuationFlood,
                        at,
                        Some(role),
                        format!(
                            "header block of stream {sid} past {frames} frames or \
                             {MAX_HEADER_BLOCK} bytes: skipped"
                        ),
                    );
                    self.dir_mut(dir)
                        .lose(format!("header block of stream {sid} skipped (flood)"));
                } else if !b.skipped {
                    b.buf.extend_from_slice(block);
                }
                if end_headers {
                    self.finish_block(dir, at);
                }
            }
            Frame::Priority(_) => {}
            Frame::RstStream { error } => self.on_rst(dir, sid, error, at),
            Frame::Settings { ack, params } => {
                if ack {
                    return;
                }
                let n = self.facts.settings.get_mut(role);
                *n += 1;
                if *n > SETTINGS_STORM && !*self.noted_storm.get(role) {
                    *self.noted_storm.get_mut(role) = true;
                    self.anomaly(
                        AnomalyKind::H2SettingsStorm,
                        at,
                        Some(role),
                        format!("more than {SETTINGS_STORM} SETTINGS frames from the {role}"),
                    );
                }
                self.apply_settings(dir, params);
            }
            Frame::Ping { ack, .. } => {
                if ack {
                    return;
                }
                let n = self.facts.pings.get_mut(role);
                *n += 1;
                if *n > PING_FLOOD && !*self.noted_ping_flood.get(role) {
                    *self.noted_ping_flood.get_mut(role) = true;
                    self.anomaly(
                        AnomalyKind::H2PingFlood,
                        at,
                        Some(role),
                        format!("more than {PING_FLOOD} PINGs from the {role}"),
                    );
                }
            }
            Frame::Goaway {
                last_stream_id,
                error,
                debug,
            } => self.on_goaway(role, last_stream_id, error, debug, at),
            Frame::WindowUpdate { .. } => {}
            Frame::Unknown { .. } => *self.facts.unknown_frames.get_mut(role) += 1,
        }
    }

    fn apply_settings(&mut self, dir: Dir, params: &[u8]) {
        let role = dir.sender();
        for (id, v) in frame::settings_iter(params) {
            match id {
                setting::HEADER_TABLE_SIZE => {
                    *self.facts.header_table_size.get_mut(role) = Some(v);
                    // bounds what the peer's encoder may use
                    self.dir_mut(dir.reverse()).hpack.advertise(v);
                }
                setting::MAX_CONCURRENT_STREAMS => {
                    *self.facts.max_concurrent_streams.get_mut(role) = Some(v)
                }
                setting::INITIAL_WINDOW_SIZE => {
                    *self.facts.initial_window_size.get_mut(role) = Some(v)
                }
                setting::MAX_FRAME_SIZE => {
                    *self.facts.max_frame_size.get_mut(role) = Some(v);
                    let peer = self.dir_mut(dir.reverse());
                    let v = v.clamp(frame::DEFAULT_MAX_FRAME_SIZE, frame::MAX_FRAME_SIZE_BOUND);
                    peer.max_frame_size = peer.max_frame_size.max(v);
                }
                _ => {}
            }
        }
    }

    fn on_goaway(&mut self, by: Role, last: u32, code: u32, debug: &[u8], at: At) {
        let error = frame::error_str(code);
        let dbg =
            String::from_utf8_lossy(debug.get(..MAX_GOAWAY_DEBUG).unwrap_or(debug)).into_owned();
        let idle_from = self.facts.last_stream_frame.or(self.facts.first_frame);
        let idle_ns = idle_from.map_or(0, |s| at.ts.nanos_since(s.0.ts));
        if code != 0 {
            let extra = if dbg.is_empty() {
                String::new()
            } else {
                format!(" ({dbg})")
            };
            self.anomaly(
                AnomalyKind::H2ProtocolErrorGoaway,
                at,
                Some(by),
                format!("GOAWAY {error}, last_stream_id {last}{extra}"),
            );
        }
        let g = H2Goaway {
            by,
            last_stream_id: last,
            error,
            code,
            debug: dbg,
            at: Stamp(at),
            open_streams: u32::try_from(self.streams.len()).unwrap_or(u32::MAX),
            idle_ns,
        };
        if self.facts.goaway.len() < MAX_GOAWAYS {
            self.facts.goaway.push(g);
        } else {
            self.facts.goaways_dropped += 1;
        }
        let lowest = self.goaway_last.get(by).map_or(last, |l| l.min(last));
        *self.goaway_last.get_mut(by) = Some(lowest);
        // streams the receiver opened above last_stream_id were not processed
        let peer = by.other();
        let victims: Vec<u32> = self
            .streams
            .range(last.saturating_add(1)..)
            .filter(|(id, st)| {
                initiator(**id) == peer && st.response.headers.is_none() && st.rst.is_none()
            })
            .map(|(id, _)| *id)
            .collect();
        for id in victims {
            self.unprocessed(id, by, last, false, at);
        }
    }

    /// A stream above the last_stream_id of `by`'s GOAWAY: not processed.
    fn unprocessed(&mut self, sid: u32, by: Role, last: u32, after: bool, at: At) {
        let Some(st) = self.streams.get_mut(&sid) else {
            return;
        };
        st.unprocessed = Some(H2Unprocessed {
            goaway_by: by,
            last_stream_id: last,
            opened_after_goaway: after,
        });
        let what = match (&st.method, &st.path) {
            (Some(m), Some(p)) => format!(" ({m} {p})"),
            _ => String::new(),
        };
        self.facts.streams_unprocessed += 1;
        let when = if after { "after" } else { "before" };
        self.anomaly(
            AnomalyKind::H2StreamAfterGoaway,
            at,
            Some(by.other()),
            format!(
                "stream {sid}{what} is above last_stream_id {last} of the {by}'s GOAWAY \
                 (opened {when} it): not processed, to be retried"
            ),
        );
        self.close(sid, true, at);
    }

    fn on_rst(&mut self, dir: Dir, sid: u32, code: u32, at: At) {
        let role = dir.sender();
        *self.facts.rst_streams.get_mut(role) += 1;
        let error = if code == u32::MAX {
            "UNKNOWN_ERROR"
        } else {
            frame::error_str(code)
        };
        if self.facts.resets.len() < MAX_RESETS {
            self.facts.resets.push(H2RstFrame {
                by: role,
                stream_id: sid,
                error,
                at: Stamp(at),
            });
        } else {
            self.facts.resets_dropped += 1;
        }
        if code == 7 {
            self.anomaly(
                AnomalyKind::H2RefusedStream,
                at,
                Some(role),
                format!("stream {sid} refused by the {role}: not processed, safe to retry"),
            );
        }
        if !self.streams.contains_key(&sid)
            && !self.closing.contains_key(&sid)
            && self.continued(sid)
        {
            self.continued_activity(at);
        }
        if self.closing.contains_key(&sid) {
            // the other side answers the reset (or resets too): done
            self.close(sid, true, at);
            return;
        }
        let Some(st) = self.streams.get_mut(&sid) else {
            return;
        };
        st.rst = Some(H2Reset {
            by: role,
            error,
            code,
            at,
        });
        st.closed = Some(at);
        let peer_done = st.half(role.other()).end_stream.is_some();
        if role == Role::Client && st.response.headers.is_none() {
            self.early_resets += 1;
            if self.early_resets >= RAPID_RESET && !self.noted_rapid_reset {
                self.noted_rapid_reset = true;
                self.anomaly(
                    AnomalyKind::H2RapidReset,
                    at,
                    Some(role),
                    format!("the client reset {RAPID_RESET} streams before any response"),
                );
            }
        }
        if peer_done {
            self.close(sid, true, at);
        } else {
            self.move_to_closing(sid, at);
        }
    }

    // ----- header blocks ----------------------------------------------------

    fn start_block(
        &mut self,
        dir: Dir,
        sid: u32,
        kind: BlockKind,
        fragment: &[u8],
        end_headers: bool,
        at: At,
    ) {
        if end_headers {
            // whole block in one frame: decode in place
            let facts = self.decode_block(dir, fragment, at);
            self.header_block(dir, sid, kind, facts, at);
            return;
        }
        self.dir_mut(dir).block = Some(Block {
            stream_id: sid,
            kind,
            buf: fragment.to_vec(),
            skipped: false,
            frames: 1,
        });
    }

    fn finish_block(&mut self, dir: Dir, at: At) {
        let Some(b) = self.dir_mut(dir).block.take() else {
            return;
        };
        let facts = if b.skipped {
            self.facts.header_blocks_unknown += 1;
            self.note_state_lost(dir, b.stream_id, at);
            None
        } else {
            self.decode_block(dir, &b.buf, at)
        };
        self.header_block(dir, b.stream_id, b.kind, facts, at);
    }

    /// Decodes a whole block; `None` if the direction's state is lost or
    /// the decoder rejects it (anomalies noted).
    fn decode_block(&mut self, dir: Dir, block: &[u8], at: At) -> Option<BlockFacts> {
        let role = dir.sender();
        let d = self.dir_mut(dir);
        if d.hpack.is_lost() && !d.hpack.is_partial() {
            self.facts.header_blocks_unknown += 1;
            self.note_state_lost(dir, 0, at);
            return None;
        }
        match d.hpack.decode(block) {
            Ok(f) => {
                if f.partial {
                    self.facts.header_blocks_unknown += 1;
                    self.note_state_lost(dir, 0, at);
                }
                if f.list_size > crate::http2::hpack::MAX_HEADER_LIST_SIZE {
                    self.anomaly(
                        AnomalyKind::H2HeaderListTooLarge,
                        at,
                        Some(role),
                        format!("decoded header list of {} bytes", f.list_size),
                    );
                }
                Some(f)
            }
            Err(BlockError::StateLost) => {
                self.facts.header_blocks_unknown += 1;
                self.note_state_lost(dir, 0, at);
                None
            }
            Err(BlockError::Decode(e)) => {
                let d = self.dir_mut(dir);
                d.lost_why = Some(format!("HPACK error at frame {}", at.frame));
                d.lost_noted = false;
                *self.facts.hpack_state_lost.get_mut(role) = true;
                self.facts.header_blocks_unknown += 1;
                self.anomaly(
                    AnomalyKind::H2HpackError,
                    at,
                    Some(role),
                    format!("header block rejected: {e}"),
                );
                None
            }
        }
    }

    /// Notes (once per direction) that header blocks go undecoded.
    fn note_state_lost(&mut self, dir: Dir, sid: u32, at: At) {
        let role = dir.sender();
        *self.facts.hpack_state_lost.get_mut(role) = true;
        let d = self.dir_mut(dir);
        if d.lost_noted {
            return;
        }
        d.lost_noted = true;
        let why = d
            .lost_why
            .clone()
            .unwrap_or_else(|| "an earlier block was lost".to_string());
        let which = if sid == 0 {
            String::new()
        } else {
            format!(" (stream {sid})")
        };
        self.anomaly(
            AnomalyKind::H2HpackStateLost,
            at,
            Some(role),
            format!(
                "{role} header blocks can no longer be decoded{which}: {why}; \
                 streams are still counted, their headers unknown"
            ),
        );
    }

    /// A complete header block (`facts` None: not decodable).
    fn block_unknown(&mut self, dir: Dir, sid: u32, at: At) {
        // an interrupted block: the stream learns nothing, but counts
        self.facts.header_blocks_unknown += 1;
        self.note_state_lost(dir, sid, at);
        if let Some(st) = self.stream_mut(sid) {
            st.headers_unknown = true;
        }
    }

    fn header_block(&mut self, dir: Dir, sid: u32, kind: BlockKind, f: Option<BlockFacts>, at: At) {
        let role = dir.sender();
        match kind {
            BlockKind::PushPromise { promised } => self.push_promise(sid, promised, f, at),
            BlockKind::Headers { end_stream } => {
                match role {
                    Role::Client => self.client_headers(sid, f, at),
                    Role::Server => self.server_headers(sid, f, at),
                }
                if end_stream {
                    self.end_stream(sid, role, at);
                }
            }
        }
    }

    /// Mid-connection: a frame on stream `sid`, which this piece did not
    /// see opened, continues a stream opened before the capture began.
    /// Whether it does (and it is noted so).
    fn continued(&mut self, sid: u32) -> bool {
        if !self.mid || sid == 0 || self.was_seen(sid) {
            return false;
        }
        if sid > self.mid_floor {
            self.mid_floor = sid;
            self.facts.streams_continued += 1;
        }
        true
    }

    /// Activity on a continued stream (see `continued_last_activity`).
    fn continued_activity(&mut self, at: At) {
        if self.first_end.is_some_and(|fe| at > fe) {
            return;
        }
        let l = &mut self.facts.continued_last_activity;
        *l = Some(l.map_or(at, |l| l.max(at)));
    }

    /// Request bytes (and its END_STREAM) on continued stream `sid` before
    /// its response began.
    fn note_continued_request(&mut self, sid: u32, bytes: u64, end: Option<At>) {
        if !self.continued_requests.contains_key(&sid)
            && self.continued_requests.len() >= MAX_CONTINUED_REQUESTS
        {
            self.continued_requests.pop_first();
        }
        let e = self.continued_requests.entry(sid).or_insert((0, None));
        e.0 = e.0.saturating_add(bytes);
        if e.1.is_none() {
            e.1 = end;
        }
    }

    /// A response-only stream for continued stream `sid`, with what its
    /// request sent in this piece before the response.
    fn insert_continued(&mut self, sid: u32, at: At) {
        let mut st = H2Stream::new(sid, at);
        st.continued = true;
        if let Some((bytes, end)) = self.continued_requests.remove(&sid) {
            st.request.body_bytes = bytes;
            st.request.end_stream = end;
        }
        self.insert(st, at);
        self.activate();
    }

    fn client_headers(&mut self, sid: u32, f: Option<BlockFacts>, at: At) {
        // a mid-connection block without :method whose fields are all
        // known is the trailers of a stream opened before the capture
        if self.stream_mut(sid).is_none()
            && (sid <= self.mid_floor
                || f.as_ref()
                    .is_some_and(|f| !f.partial && f.method.is_none() && self.mid))
            && self.continued(sid)
        {
            self.continued_activity(at);
            return;
        }
        if let Some(st) = self.stream_mut(sid) {
            // trailers of the request (or a second block)
            st.request.header_blocks = st.request.header_blocks.saturating_add(1);
            if st.request.headers.is_some() || st.continued {
                st.request.trailers = true;
            } else {
                st.request.headers = Some(at);
            }
            if f.as_ref().is_none_or(|f| f.partial) {
                st.headers_unknown = true;
            }
            return;
        }
        if sid.is_multiple_of(2) {
            self.anomaly(
                AnomalyKind::H2FrameError,
                at,
                Some(Role::Client),
                format!("client HEADERS on even stream {sid}"),
            );
            return;
        }
        if sid <= self.max_id.client {
            // a closed stream (late trailers, or a reused id: nothing to
            // attach it to)
            return;
        }
        self.max_id.client = sid;
        let mut st = H2Stream::new(sid, at);
        st.request.headers = Some(at);
        st.request.header_blocks = 1;
        match &f {
            Some(f) => {
                st.request_facts(f);
                st.headers_unknown = f.partial;
            }
            None => st.headers_unknown = true,
        }
        self.facts.streams_opened.client += 1;
        self.insert(st, at);
        self.activate();
        if let Some(last) = self.goaway_last.server
            && sid > last
        {
            self.unprocessed(sid, Role::Server, last, true, at);
        }
    }

    /// Closed streams keep no state; ids at or below the highest opened
    /// were (or could legitimately have been) used.
    fn was_seen(&self, sid: u32) -> bool {
        sid <= *self.max_id.get(initiator(sid))
    }

    fn server_headers(&mut self, sid: u32, f: Option<BlockFacts>, at: At) {
        // part of a block unknown, and no :status decoded: interim, final
        // or trailers cannot be told
        let f = f.filter(|f| !f.partial || f.has_status);
        let partial = f.as_ref().is_some_and(|f| f.partial);
        if sid == 1 && self.unseen_stream1 && self.stream_mut(1).is_none() {
            // the answer to the upgrading request the capture began after
            self.unseen_stream1 = false;
            self.insert_continued(1, at);
        } else if self.stream_mut(sid).is_none() && self.continued(sid) {
            self.continued_activity(at);
            if !f.as_ref().is_some_and(|f| f.has_status) {
                return;
            }
            // the response to a request sent before the capture began: an
            // exchange of its own, without the request (as an HTTP/1
            // response at the start of a mid-stream connection)
            self.insert_continued(sid, at);
        }
        let Some(st) = self.stream_mut(sid) else {
            if !self.was_seen(sid) {
                self.anomaly(
                    AnomalyKind::H2FrameError,
                    at,
                    Some(Role::Server),
                    format!("server HEADERS on idle stream {sid}"),
                );
            }
            return;
        };
        if partial {
            st.headers_unknown = true;
        }
        let pushed_activates = st.promised_on.is_some() && st.response.headers.is_none();
        st.response.header_blocks = st.response.header_blocks.saturating_add(1);
        if st.response.headers.is_none() {
            st.response.headers = Some(at);
        }
        match f {
            // interim, final or trailers: cannot tell, never guessed
            None => st.headers_unknown = true,
            Some(f) if st.final_headers.is_some() || !f.has_status => {
                // trailers (no :status, or after the final block)
                st.response.trailers = true;
                if f.grpc_status.is_some() && st.is_grpc() {
                    st.grpc_status = f.grpc_status;
                }
            }
            Some(f) => match f.status {
                Some(s) if (100..200).contains(&s) => {
                    if st.interim.len() < MAX_INTERIM {
                        st.interim.push(s);
                        st.interim_at.push(at);
                    }
                }
                s => {
                    // the final response (a malformed :status stays None)
                    st.final_headers = Some(at);
                    st.status = s;
                    st.content_type = f.content_type.clone();
                    if f.grpc_status.is_some() && st.is_grpc() {
                        // a trailers-only gRPC response
                        st.grpc_status = f.grpc_status;
                    }
                }
            },
        }
        if pushed_activates {
            self.activate();
        }
    }

    fn push_promise(&mut self, on: u32, promised: u32, f: Option<BlockFacts>, at: At) {
        if promised == 0 || !promised.is_multiple_of(2) || promised <= self.max_id.server {
            self.anomaly(
                AnomalyKind::H2FrameError,
                at,
                Some(Role::Server),
                format!("PUSH_PROMISE of stream {promised}, not a new even id"),
            );
            return;
        }
        self.max_id.server = promised;
        let mut st = H2Stream::new(promised, at);
        st.promised_on = Some(on);
        st.request.headers = Some(at);
        st.request.header_blocks = 1;
        st.request.end_stream = Some(at);
        match &f {
            Some(f) => st.request_facts(f),
            None => st.headers_unknown = true,
        }
        self.facts.streams_opened.server += 1;
        self.insert(st, at);
        if let Some(last) = self.goaway_last.client
            && promised > last
        {
            self.unprocessed(promised, Role::Client, last, true, at);
        }
    }

    // ----- stream lifecycle -------------------------------------------------

    fn insert(&mut self, st: H2Stream, at: At) {
        if self.streams.len() >= MAX_OPEN_STREAMS
            && let Some((&oldest, _)) = self.streams.iter().next()
        {
            if !self.noted_too_many {
                self.noted_too_many = true;
                self.anomaly(
                    AnomalyKind::H2TooManyOpenStreams,
                    at,
                    None,
                    format!(
                        "more than {MAX_OPEN_STREAMS} streams open: the oldest are \
                         handed out unfinished"
                    ),
                );
            }
            self.close(oldest, false, at);
        }
        self.streams.insert(st.stream_id, st);
    }

    fn activate(&mut self) {
        self.active = self.active.saturating_add(1);
        self.facts.peak_concurrent_streams = self.facts.peak_concurrent_streams.max(self.active);
    }

    /// An open stream, or a reset one still taking late frames.
    fn stream_mut(&mut self, sid: u32) -> Option<&mut H2Stream> {
        if self.streams.contains_key(&sid) {
            self.streams.get_mut(&sid)
        } else {
            self.closing.get_mut(&sid)
        }
    }

    fn end_stream(&mut self, sid: u32, role: Role, at: At) {
        let closing = self.closing.contains_key(&sid);
        if role == Role::Client && self.stream_mut(sid).is_none() && self.continued(sid) {
            // request trailers ending a continued stream's upload
            self.note_continued_request(sid, 0, Some(at));
            return;
        }
        let Some(st) = self.stream_mut(sid) else {
            return;
        };
        st.half_mut(role).end_stream.get_or_insert(at);
        // a continued stream's request ended before its response began
        // (or its end is not in the piece)
        let request_done = st.request.end_stream.is_some() || st.continued;
        if closing || (request_done && st.response.end_stream.is_some()) {
            self.close(sid, true, at);
        }
    }

    fn was_active(st: &H2Stream) -> bool {
        st.promised_on.is_none() || st.response.headers.is_some()
    }

    /// A reset stream waits in `closing` for the other side's late frames.
    fn move_to_closing(&mut self, sid: u32, at: At) {
        let Some(st) = self.streams.remove(&sid) else {
            return;
        };
        if Self::was_active(&st) {
            self.active = self.active.saturating_sub(1);
        }
        if self.closing.len() >= MAX_CLOSING
            && let Some((_, mut old)) = self.closing.pop_first()
        {
            old.closed.get_or_insert(at);
            self.finished.push(old);
        }
        let mut st = st;
        st.finished = true;
        self.closing.insert(sid, st);
    }

    fn close(&mut self, sid: u32, finished: bool, at: At) {
        if let Some(mut st) = self.closing.remove(&sid) {
            st.closed.get_or_insert(at);
            self.finished.push(st);
            return;
        }
        let Some(mut st) = self.streams.remove(&sid) else {
            return;
        };
        if Self::was_active(&st) {
            self.active = self.active.saturating_sub(1);
        }
        st.finished = finished;
        st.closed.get_or_insert(at);
        self.finished.push(st);
    }
}

/// Most continued streams whose request end is kept for their response
/// (see `H2Session::continued_requests`).
const MAX_CONTINUED_REQUESTS: usize = 256;

/// Whether 9 bytes look like a frame header a real peer would send.
fn plausible(h: &[u8], max_frame_size: u32) -> bool {
    let Some(fh) = FrameHeader::parse(h) else {
        return false;
    };
    if h.get(5).is_some_and(|b| b & 0x80 != 0) || fh.length > max_frame_size {
        return false;
    }
    let conn_level = fh.stream_id == 0;
    let (allowed, len_ok, sid_ok) = match fh.kind {
        FrameType::Data => (0x09, true, !conn_level),
        FrameType::Headers => (0x2d, true, !conn_level),
        FrameType::Priority => (0, fh.length == 5, !conn_level),
        FrameType::RstStream => (0, fh.length == 4, !conn_level),
        FrameType::Settings => (
            0x01,
            fh.length % 6 == 0 && (fh.flags == 0 || fh.length == 0),
            conn_level,
        ),
        FrameType::PushPromise => (0x0c, fh.length >= 4, !conn_level),
        FrameType::Ping => (0x01, fh.length == 8, conn_level),
        FrameType::Goaway => (0, fh.length >= 8, conn_level),
        FrameType::WindowUpdate => (0, fh.length == 4, true),
        FrameType::Continuation => (0x04, true, !conn_level),
        FrameType::Unknown(_) => return false,
    };
    fh.flags & !allowed == 0 && len_ok && sid_ok
}

/// Whether `win` is, from its first byte to its last, a run of whole
/// plausible frames (at least one): at the end of a piece that began
/// mid-connection, fewer frames than [`find_alignment`] asks for may still
/// be read when nothing is left over.
pub(crate) fn whole_frames(win: &[u8], max_frame_size: u32) -> bool {
    let mut at = 0usize;
    while let Some(h) = win.get(at..).filter(|h| !h.is_empty()) {
        if !plausible(h, max_frame_size) {
            return false;
        }
        let Some(fh) = FrameHeader::parse(h) else {
            return false;
        };
        at += FRAME_HEADER_LEN + fh.length as usize;
    }
    at == win.len() && at > 0
}

/// The first offset in `win` where `need` consecutive plausible frame
/// headers start (each right after the previous frame's payload). A frame
/// may be longer than `max_frame_size` (up to 2^24-1: a peer may have
/// advertised more where that was not seen) only if a plausible header
/// follows it.
pub(crate) fn find_alignment(win: &[u8], max_frame_size: u32, need: usize) -> Option<usize> {
    let last = win.len().checked_sub(FRAME_HEADER_LEN)?;
    (0..=last).find(|&i| {
        let mut at = i;
        for k in 0..need {
            let Some(h) = win.get(at..) else {
                return false;
            };
            let max = if need > 2 && k + 1 < need {
                frame::MAX_FRAME_SIZE_BOUND
            } else {
                max_frame_size
            };
            if !plausible(h, max) {
                return false;
            }
            let Some(fh) = FrameHeader::parse(h) else {
                return false;
            };
            at += FRAME_HEADER_LEN + fh.length as usize;
        }
        true
    })
}

/// base64url (RFC 4648 section 5, padding optional) decoding of an
/// `HTTP2-Settings` value; `None` if it is not base64url.
fn base64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decodes_http2_settings() {
        // SETTINGS_MAX_CONCURRENT_STREAMS 100, SETTINGS_INITIAL_WINDOW_SIZE
        // 33554432, SETTINGS_ENABLE_PUSH 0: what curl sends
        assert_eq!(
            base64url("AAMAAABkAAQCAAAAAAIAAAAA"),
            Some(vec![0, 3, 0, 0, 0, 100, 0, 4, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0])
        );
        assert_eq!(base64url("AAMAAABk="), Some(vec![0, 3, 0, 0, 0, 100]));
        assert_eq!(base64url("not base64!"), None);
        assert_eq!(base64url(""), Some(vec![]));
    }

    #[test]
    fn alignment_needs_two_plausible_headers() {
        let settings = [0u8, 0, 0, 4, 1, 0, 0, 0, 0];
        let ping = [0u8, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut w = vec![0xff, 0x13, 0x37];
        w.extend_from_slice(&settings);
        w.extend_from_slice(&ping);
        assert_eq!(find_alignment(&w, 16_384, 2), Some(3));
        assert_eq!(find_alignment(&w[..12], 16_384, 2), None);
        assert_eq!(find_alignment(&[0xff; 100], 16_384, 2), None);
    }
}
