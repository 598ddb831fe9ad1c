//! The chunked transfer coding (RFC 9112 section 7.1) as a resumable state
//! machine: chunk sizes, extensions, data skipped by count, trailers.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
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

pub(crate) enum ChunkOutcome {
    More,
    Done,
    Bad(&'static str),
}

/// Runs the chunked-body state machine over `input`; returns how many bytes
/// it consumed (on `Bad`, up to and excluding the offending byte).
pub(crate) fn chunk_step(state: &mut Chunk, input: &[u8]) -> (usize, ChunkOutcome) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
