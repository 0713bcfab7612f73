//! De-chunking of `Transfer-Encoding: chunked` request bodies, incrementally, as bytes
//! arrive. Owns chunk-size lines, extensions and trailers (tolerated, dropped) and the body
//! size limit while decoding; does not own the request head or the choice of framing (see
//! `request`).

use super::{Error, Limits};

/// Bound on chunk extensions, which carry nothing we use.
const MAX_CHUNK_EXT: usize = 4096;

/// Positions inside the chunked framing; chunk data itself is counted by `Dechunker::left`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Size { size: u64, digits: u8 },
    Ext { size: u64 },
    SizeLf { size: u64 },
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    EndLf,
}

/// Incremental `Transfer-Encoding: chunked` decoder; consumes framing as it goes so the
/// caller never has to keep the raw encoded body around.
#[derive(Debug)]
pub(super) struct Dechunker {
    state: Chunk,
    left: u64,
    /// Bytes of the current chunk extension or of the whole trailer section.
    counted: usize,
}

impl Dechunker {
    pub(super) fn new() -> Dechunker {
        Dechunker {
            state: Chunk::Size { size: 0, digits: 0 },
            left: 0,
            counted: 0,
        }
    }

    /// Decodes from `input` into `body`; returns whether the body ended and the bytes used.
    pub(super) fn feed(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        limits: &Limits,
    ) -> Result<(bool, usize), Error> {
        let mut i = 0;
        while i < input.len() {
            if self.left > 0 {
                let n = (input.len() - i).min(usize::try_from(self.left).unwrap_or(usize::MAX));
                body.extend_from_slice(&input[i..i + n]);
                i += n;
                self.left -= n as u64;
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = match (self.state, b) {
                (Chunk::Size { size, digits }, _) if b.is_ascii_hexdigit() => {
                    // 16 hex digits fill a u64; more can only be an attack or garbage.
                    if digits == 16 {
                        return Err(Error::BadChunk);
                    }
                    let d = (b as char).to_digit(16).unwrap_or(0);
                    Chunk::Size {
                        size: size << 4 | u64::from(d),
                        digits: digits + 1,
                    }
                }
                (Chunk::Size { size, digits }, b'\r') if digits > 0 => Chunk::SizeLf { size },
                (Chunk::Size { size, digits }, b';' | b' ' | b'\t') if digits > 0 => {
                    self.counted = 0;
                    Chunk::Ext { size }
                }
                (Chunk::Ext { size }, b'\r') => Chunk::SizeLf { size },
                (Chunk::Ext { size }, _) if b != b'\n' => {
                    self.counted += 1;
                    if self.counted > MAX_CHUNK_EXT {
                        return Err(Error::BadChunk);
                    }
                    Chunk::Ext { size }
                }
                (Chunk::SizeLf { size: 0 }, b'\n') => {
                    self.counted = 0;
                    Chunk::TrailerStart
                }
                (Chunk::SizeLf { size }, b'\n') => {
                    // Checked before any of the chunk is read: a huge announced chunk is
                    // rejected at once.
                    if (body.len() as u64).saturating_add(size) > limits.max_body_bytes as u64 {
                        return Err(Error::BodyTooLarge);
                    }
                    self.left = size;
                    Chunk::DataCr
                }
                (Chunk::DataCr, b'\r') => Chunk::DataLf,
                (Chunk::DataLf, b'\n') => Chunk::Size { size: 0, digits: 0 },
                (Chunk::TrailerStart, b'\r') => Chunk::EndLf,
                (Chunk::TrailerStart | Chunk::Trailer, _) => {
                    // Trailer fields are tolerated and dropped; only their size matters.
                    self.counted += 1;
                    if self.counted > limits.max_header_bytes {
                        return Err(Error::HeadersTooLarge);
                    }
                    if b == b'\n' {
                        Chunk::TrailerStart
                    } else {
                        Chunk::Trailer
                    }
                }
                (Chunk::EndLf, b'\n') => return Ok((true, i)),
                _ => return Err(Error::BadChunk),
            };
        }
        Ok((false, i))
    }
}
