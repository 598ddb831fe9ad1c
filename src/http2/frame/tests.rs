//! Frame layer: every type, cut at every length ("need more", no panic),
//! and the RFC 9113 section 6 checks. Frames here are built by hand: this
//! tests one layer, and several are hostile cases no real peer sends.

use super::*;
use proptest::prelude::*;

fn raw(kind: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    let h = FrameHeader {
        length: payload.len() as u32,
        kind: FrameType::from_u8(kind),
        flags,
        stream_id: sid,
    };
    let mut v = h.encode().to_vec();
    v.extend_from_slice(payload);
    v
}

/// One valid frame of every type (and an unknown one), with what it parses to.
fn samples() -> Vec<(Vec<u8>, &'static str)> {
    let mut s = vec![
        (raw(0, flags::END_STREAM, 1, b"hello"), "data"),
        (
            raw(0, flags::PADDED, 1, &[2, b'h', b'i', 0, 0]),
            "padded data",
        ),
        (raw(1, flags::END_HEADERS, 1, &[0x82, 0x84]), "headers"),
        (
            raw(
                1,
                flags::END_HEADERS | flags::PADDED | flags::PRIORITY,
                3,
                &[1, 0x80, 0, 0, 1, 15, 0x82, 0],
            ),
            "headers with priority and padding",
        ),
        (raw(2, 0, 3, &[0, 0, 0, 1, 200]), "priority"),
        (raw(3, 0, 1, &[0, 0, 0, 8]), "rst_stream"),
        (
            raw(4, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0]),
            "settings",
        ),
        (raw(4, flags::ACK, 0, &[]), "settings ack"),
        (
            raw(5, flags::END_HEADERS, 1, &[0, 0, 0, 2, 0x82]),
            "push_promise",
        ),
        (raw(6, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8]), "ping"),
        (
            raw(7, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 0, b'b', b'y', b'e']),
            "goaway",
        ),
        (raw(8, 0, 0, &[0, 0, 1, 0]), "window_update"),
        (raw(9, flags::END_HEADERS, 1, &[0x84]), "continuation"),
        (raw(0xfa, 0xff, 7, b"whatever"), "unknown"),
    ];
    s.push((raw(0, 0, 5, &[]), "empty data"));
    s
}

#[test]
fn every_type_parses_whole() {
    for (bytes, what) in samples() {
        let (f, used) =
            parse_frame(&bytes, DEFAULT_MAX_FRAME_SIZE).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(used, bytes.len(), "{what}");
        let ok = match (what, f) {
            ("data", Frame::Data { data, end_stream }) => data == b"hello" && end_stream,
            ("padded data", Frame::Data { data, .. }) => data == b"hi",
            (
                "headers",
                Frame::Headers {
                    block,
                    end_headers,
                    priority,
                    ..
                },
            ) => block == [0x82, 0x84] && end_headers && priority.is_none(),
            (
                "headers with priority and padding",
                Frame::Headers {
                    block, priority, ..
                },
            ) => {
                block == [0x82]
                    && priority
                        == Some(PriorityFields {
                            exclusive: true,
                            depends_on: 1,
                            weight: 15,
                        })
            }
            ("priority", Frame::Priority(p)) => p.depends_on == 1 && p.weight == 200,
            ("rst_stream", Frame::RstStream { error }) => error_name(error) == Some("CANCEL"),
            ("settings", Frame::Settings { ack, params }) => {
                !ack && settings_iter(params).collect::<Vec<_>>() == vec![(3, 100), (4, 65536)]
            }
            ("settings ack", Frame::Settings { ack, params }) => ack && params.is_empty(),
            (
                "push_promise",
                Frame::PushPromise {
                    promised, block, ..
                },
            ) => promised == 2 && block == [0x82],
            ("ping", Frame::Ping { ack, data }) => !ack && data == [1, 2, 3, 4, 5, 6, 7, 8],
            (
                "goaway",
                Frame::Goaway {
                    last_stream_id,
                    error,
                    debug,
                },
            ) => last_stream_id == 5 && error == 0 && debug == b"bye",
            ("window_update", Frame::WindowUpdate { increment }) => increment == 256,
            ("continuation", Frame::Continuation { block, end_headers }) => {
                block == [0x84] && end_headers
            }
            ("unknown", Frame::Unknown { kind }) => kind == 0xfa,
            ("empty data", Frame::Data { data, end_stream }) => data.is_empty() && !end_stream,
            _ => false,
        };
        assert!(ok, "{what}: {f:?}");
    }
}

#[test]
fn every_type_cut_at_every_length_needs_more() {
    for (bytes, what) in samples() {
        for cut in 0..bytes.len() {
            match parse_frame(&bytes[..cut], DEFAULT_MAX_FRAME_SIZE) {
                Err(FrameError::Incomplete { need }) => {
                    let want = if cut < FRAME_HEADER_LEN {
                        FRAME_HEADER_LEN - cut
                    } else {
                        bytes.len() - cut
                    };
                    assert_eq!(need, want, "{what} cut at {cut}");
                }
                other => panic!("{what} cut at {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn frames_back_to_back_parse_in_turn() {
    let all: Vec<u8> = samples().into_iter().flat_map(|(b, _)| b).collect();
    let mut rest = &all[..];
    let mut n = 0;
    while !rest.is_empty() {
        let (_, used) = parse_frame(rest, DEFAULT_MAX_FRAME_SIZE).expect("frame");
        rest = &rest[used..];
        n += 1;
    }
    assert_eq!(n, samples().len());
}

#[test]
fn header_reserved_bit_is_cleared() {
    let mut b = raw(0, 0, 1, b"x");
    b[5] |= 0x80;
    assert_eq!(FrameHeader::parse(&b).map(|h| h.stream_id), Some(1));
    assert_eq!(FrameHeader::parse(&b[..8]), None);
}

#[test]
fn length_over_max_frame_size() {
    let b = raw(0, 0, 1, &[0; 16_385]);
    assert_eq!(
        parse_frame(&b, DEFAULT_MAX_FRAME_SIZE).err(),
        Some(FrameError::TooLarge {
            length: 16_385,
            max: 16_384
        })
    );
    assert!(parse_frame(&b, 1 << 20).is_ok());
    // the header alone is enough to tell
    assert!(matches!(
        parse_frame(&b[..9], DEFAULT_MAX_FRAME_SIZE),
        Err(FrameError::TooLarge { .. })
    ));
    // an advertised size below the floor is read as the floor; above the
    // bound as the bound
    assert!(check_length(&FrameHeader::parse(&b).unwrap(), 10).is_err());
    let h = FrameHeader {
        length: MAX_FRAME_SIZE_BOUND,
        kind: FrameType::Data,
        flags: 0,
        stream_id: 1,
    };
    assert!(check_length(&h, u32::MAX).is_ok());
}

fn err(bytes: &[u8]) -> FrameError {
    parse_frame(bytes, DEFAULT_MAX_FRAME_SIZE).expect_err("must be rejected")
}

#[test]
fn fixed_sizes_and_stream_ids_are_checked() {
    let bl = |t| FrameError::BadLength {
        kind: FrameType::from_u8(t),
        length: 3,
    };
    assert_eq!(err(&raw(2, 0, 1, &[0, 0, 0])), bl(2));
    assert_eq!(err(&raw(3, 0, 1, &[0, 0, 0])), bl(3));
    assert_eq!(err(&raw(4, 0, 0, &[0, 0, 0])), bl(4));
    assert_eq!(err(&raw(6, 0, 0, &[0, 0, 0])), bl(6));
    assert_eq!(err(&raw(7, 0, 0, &[0, 0, 0])), bl(7));
    assert_eq!(err(&raw(8, 0, 0, &[0, 0, 0])), bl(8));
    assert_eq!(err(&raw(5, 0, 1, &[0, 0, 0])), bl(5));
    assert_eq!(
        err(&raw(4, flags::ACK, 0, &[0; 6])),
        FrameError::SettingsAckWithPayload
    );
    assert_eq!(
        err(&raw(8, 0, 3, &[0, 0, 0, 0])),
        FrameError::ZeroWindowIncrement { stream_id: 3 }
    );
    for t in [0u8, 1, 2, 3, 5, 9] {
        let p: &[u8] = match t {
            2 => &[0, 0, 0, 0, 0],
            3 | 5 => &[0, 0, 0, 0],
            _ => &[],
        };
        assert_eq!(
            err(&raw(t, 0, 0, p)),
            FrameError::BadStreamId {
                kind: FrameType::from_u8(t),
                stream_id: 0
            },
            "type {t}"
        );
    }
    for t in [4u8, 6, 7] {
        let p: &[u8] = match t {
            6 | 7 => &[0; 8],
            _ => &[],
        };
        assert!(
            matches!(err(&raw(t, 0, 1, p)), FrameError::BadStreamId { .. }),
            "type {t}"
        );
    }
}

#[test]
fn padding_longer_than_payload() {
    for t in [0u8, 1, 5] {
        let e = err(&raw(t, flags::PADDED, 1, &[9, 1, 2, 3, 4]));
        assert!(
            matches!(e, FrameError::PadTooLong { pad: 9, .. }),
            "type {t}: {e:?}"
        );
        // PADDED with an empty payload: no pad length octet
        let e = err(&raw(t, flags::PADDED, 1, &[]));
        assert!(matches!(e, FrameError::BadLength { .. }), "type {t}: {e:?}");
    }
    // HEADERS with PRIORITY but fewer than 5 bytes after padding
    let e = err(&raw(1, flags::PRIORITY, 1, &[0, 0, 0]));
    assert!(matches!(e, FrameError::BadLength { .. }));
    // pad length equal to the rest: zero bytes of data is fine
    assert!(
        parse_frame(
            &raw(0, flags::PADDED, 1, &[2, 0, 0]),
            DEFAULT_MAX_FRAME_SIZE
        )
        .is_ok()
    );
}

#[test]
fn data_len_without_the_payload() {
    let h = |f, l| FrameHeader {
        length: l,
        kind: FrameType::Data,
        flags: f,
        stream_id: 1,
    };
    assert_eq!(data_len(&h(0, 100), None), Ok(100));
    assert_eq!(data_len(&h(flags::PADDED, 100), Some(9)), Ok(90));
    assert!(data_len(&h(flags::PADDED, 100), None).is_err());
    assert!(data_len(&h(flags::PADDED, 10), Some(10)).is_err());
    assert!(data_len(&h(flags::PADDED, 0), Some(0)).is_err());
}

#[test]
fn error_names() {
    assert_eq!(error_str(0), "NO_ERROR");
    assert_eq!(error_str(7), "REFUSED_STREAM");
    assert_eq!(error_str(0xd), "HTTP_1_1_REQUIRED");
    assert_eq!(error_str(0xe), "UNKNOWN_ERROR");
    assert_eq!(error_name(u32::MAX), None);
}

proptest! {
    /// Any bytes: a frame, "need more", or an error; never a panic, never
    /// more consumed than given.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                   max in any::<u32>()) {
        match parse_frame(&bytes, max) {
            Ok((_, used)) => prop_assert!(used <= bytes.len() && used >= FRAME_HEADER_LEN),
            Err(FrameError::Incomplete { need }) => prop_assert!(need > 0),
            Err(_) => {}
        }
    }

    /// A valid frame with an arbitrary payload, cut anywhere: need more,
    /// exactly the missing bytes.
    #[test]
    fn cut_anywhere(kind in 0u8..12, flags in any::<u8>(), sid in any::<u32>(),
                    payload in proptest::collection::vec(any::<u8>(), 0..64),
                    cut in any::<prop::sample::Index>()) {
        let b = raw(kind, flags, sid, &payload);
        let c = cut.index(b.len());
        match parse_frame(&b[..c], DEFAULT_MAX_FRAME_SIZE) {
            Err(FrameError::Incomplete { need }) => {
                let want = if c < FRAME_HEADER_LEN { FRAME_HEADER_LEN - c } else { b.len() - c };
                prop_assert_eq!(need, want);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
