//! Report records of HTTP/2 connections: each stream as an exchange, and
//! the connection's `http2` object.

use crate::http::FramingKind;
use crate::http::keepalive::Persistence;
use crate::http2::{H2Facts, H2Half, H2Stream};
use crate::report::*;
use crate::types::{At, PerRole, round_us, secs};

fn message(h: &H2Half, start: At) -> MessageReport {
    MessageReport {
        frame: start.frame,
        connection: Vec::new(),
        keep_alive: None,
        persistence: Persistence::KeepAlive,
        framing: FramingKind::EndStream,
        content_length: None,
        transfer_encoding: None,
        body_bytes: h.body_bytes,
        complete: h.end_stream.is_some(),
    }
}

/// The report of one HTTP/2 stream as an exchange; `origin` is its
/// connection's first packet; `switched`: for stream 1 of an
/// `Upgrade: h2c` connection, the 101 head (an interim response).
pub fn stream_report(st: &H2Stream, origin: At, switched: Option<At>) -> ExchangeReport {
    let rel = |a: At| secs(a, origin);
    let request = st.request.headers.map(|start| RequestReport {
        method: st.method.as_deref().unwrap_or_default().into(),
        target: st.path.as_deref().unwrap_or_default().into(),
        version: "HTTP/2",
        message: message(&st.request, start),
        expect_continue: false,
    });
    let response_start = st.final_headers.or(st.response.headers);
    let response = match (st.status, response_start) {
        (Some(status), Some(start)) => Some(ResponseReport {
            status,
            version: "HTTP/2",
            reason: crate::types::Text::default(),
            message: message(&st.response, start),
        }),
        _ => None,
    };
    let mut interim: Vec<InterimReport> = switched
        .filter(|_| st.stream_id == 1)
        .map(|a| InterimReport {
            status: 101,
            frame: a.frame,
        })
        .into_iter()
        .collect();
    interim.extend(
        st.interim
            .iter()
            .zip(&st.interim_at)
            .map(|(&status, a)| InterimReport {
                status,
                frame: a.frame,
            }),
    );
    let trailers = (st.request.trailers || st.response.trailers).then_some(PerRole {
        client: st.request.trailers,
        server: st.response.trailers,
    });
    ExchangeReport {
        request,
        response,
        interim,
        response_lost_in_gap: false,
        persistent: true,
        timing: TimingReport {
            request_start: st.request.headers.map(rel),
            request_end: st.request.end_stream.map(rel),
            response_start: response_start.filter(|_| st.status.is_some()).map(rel),
            response_end: st.response.end_stream.map(rel),
        },
        stream_id: Some(st.stream_id),
        authority: st.authority.clone(),
        scheme: st.scheme.clone(),
        promised_on: st.promised_on,
        rst_stream: st.rst.map(|r| StreamResetReport {
            by: r.by,
            error: r.error,
            frame: r.at.frame,
        }),
        grpc_status: st.grpc_status,
        trailers,
        headers_unknown: st.headers_unknown,
        unprocessed: st.unprocessed.map(|u| UnprocessedReport {
            goaway_by: u.goaway_by,
            last_stream_id: u.last_stream_id,
            opened_after_goaway: u.opened_after_goaway,
        }),
        open_at_end: !st.finished,
    }
}

/// The `http2` object of a connection from its session's facts.
pub fn http2_report(f: &H2Facts, origin: At) -> Http2Report {
    Http2Report {
        start: f.start,
        streams_opened: f.streams_opened,
        streams_unprocessed: f.streams_unprocessed,
        peak_concurrent_streams: f.peak_concurrent_streams,
        max_concurrent_streams: f.max_concurrent_streams,
        initial_window_size: f.initial_window_size,
        goaway: f
            .goaway
            .iter()
            .map(|g| GoawayReport {
                by: g.by,
                last_stream_id: g.last_stream_id,
                error: g.error,
                debug: g.debug.clone(),
                frame: g.at.0.frame,
                time: secs(g.at.0, origin),
                open_streams: g.open_streams,
                idle_seconds: round_us(g.idle_ns as f64 / 1e9),
            })
            .collect(),
        goaways_not_listed: f.goaways_dropped,
        rst_streams: f.rst_streams,
        resets: f
            .resets
            .iter()
            .map(|r| RstFrameReport {
                by: r.by,
                stream_id: r.stream_id,
                error: r.error,
                frame: r.at.0.frame,
            })
            .collect(),
        resets_not_listed: f.resets_dropped,
        pings: f.pings,
        settings: f.settings,
        frames: f.frames,
        header_blocks_unknown: f.header_blocks_unknown,
        hpack_state_lost: f.hpack_state_lost,
        open_streams_at_end: f.open_streams_at_end,
    }
}
