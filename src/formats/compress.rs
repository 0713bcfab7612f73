//! Compressed request bodies: `Content-Encoding: gzip` and `snappy`, decompressed with the
//! output capped, so that a small body cannot expand past the body limit (a zip bomb answers
//! 413 after at most `limit + 1` bytes of output, and no more memory than that). And gzip
//! responses, compressed piece by piece as a scrape is streamed ([`Gzip`]).
//!
//! 1. gzip is RFC 1952: a 10-byte header (magic `1f 8b`, method 8 = deflate, flags, mtime,
//!    extra flags, OS), then the optional FEXTRA (2-byte little-endian length and that many
//!    bytes), FNAME and FCOMMENT (zero-terminated) and FHCRC (the low 16 bits of the header's
//!    CRC-32, checked) parts, the raw deflate stream (inflated by miniz_oxide), and an 8-byte
//!    trailer: the CRC-32 of the data and its length mod 2^32, both checked. Several members
//!    in a row decompress to their concatenation, as Go's reader and `gzip -d` have it.
//! 2. snappy is the framing format (what Go's `snappy.NewReader` reads): a stream identifier
//!    chunk, then compressed or uncompressed chunks each with a masked CRC-32C of its data.
//!    The snap crate's frame decoder reads and checks it.
//!
//! Anything malformed is [`Error::Corrupt`] (400). This module knows nothing of HTTP beyond
//! the status each error maps to.

use crate::crc::{crc32, crc32_update};
use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use miniz_oxide::deflate::core::CompressorOxide;
use miniz_oxide::deflate::stream::deflate;
use miniz_oxide::inflate::stream::{inflate, InflateState, MinReset};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// A request body's `Content-Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Snappy,
}

impl Encoding {
    /// Reads a `Content-Encoding` header (absent, empty or `identity` is no encoding; names
    /// are case-insensitive). `Err` has the 415 answer for anything else.
    pub fn from_header(value: Option<&str>) -> Result<Encoding, String> {
        let value = value.unwrap_or_default().trim();
        if value.is_empty() || value.eq_ignore_ascii_case("identity") {
            Ok(Encoding::Identity)
        } else if value.eq_ignore_ascii_case("gzip") {
            Ok(Encoding::Gzip)
        } else if value.eq_ignore_ascii_case("snappy") {
            Ok(Encoding::Snappy)
        } else {
            Err(format!(
                "unsupported Content-Encoding {value:?}; supported: gzip, snappy, identity"
            ))
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Snappy => "snappy",
        }
    }
}

/// Why a body could not be decompressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The output would exceed the limit.
    TooLarge { limit: usize },
    /// Not valid data of the encoding.
    Corrupt { encoding: Encoding, reason: String },
}

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::TooLarge { .. } => 413,
            Error::Corrupt { .. } => 400,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge { limit } => write!(f, "decompressed body exceeds {limit} bytes"),
            // Go's gzip reader words these as upstream answers them.
            Error::Corrupt {
                encoding: Encoding::Gzip,
                reason,
            } => f.write_str(reason),
            Error::Corrupt { encoding, reason } => {
                write!(f, "invalid {} body: {reason}", encoding.name())
            }
        }
    }
}

impl std::error::Error for Error {}

/// Reasons a gzip body is refused with, in the words of Go's reader that upstream answers with.
const UNEXPECTED_EOF: &str = "unexpected EOF";
const BAD_HEADER: &str = "gzip: invalid header";
const BAD_CHECKSUM: &str = "gzip: invalid checksum";

/// The body as the encoding says to read it, at most `limit` bytes.
pub fn decompress(encoding: Encoding, body: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, Error> {
    match encoding {
        Encoding::Identity => Ok(Cow::Borrowed(body)),
        Encoding::Gzip => gunzip(body, limit).map(Cow::Owned),
        Encoding::Snappy => unsnappy(body, limit).map(Cow::Owned),
    }
}

fn corrupt(encoding: Encoding, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        encoding,
        reason: reason.into(),
    }
}

/// Decompressors write into this much scratch at a time. A fixed buffer, zeroed once per
/// body: offering the output vector's own spare room would zero it again for every call, and
/// a body of many tiny gzip members (or snappy's 64 KiB frames) makes many calls.
const SCRATCH: usize = 64 << 10;

/// Appends `piece` to `out`, an error once the output would pass `limit`. The vector grows by
/// doubling, but never to more than `limit` bytes.
fn append_capped(out: &mut Vec<u8>, piece: &[u8], limit: usize) -> Result<(), Error> {
    let len = out.len() + piece.len();
    if len > limit {
        return Err(Error::TooLarge { limit });
    }
    if len > out.capacity() {
        let to = len.max(out.capacity() * 2).min(limit);
        out.reserve_exact(to - out.len());
    }
    out.extend_from_slice(piece);
    Ok(())
}

fn unsnappy(body: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let mut frames = snap::read::FrameDecoder::new(body);
    let mut out = Vec::new();
    let mut scratch = vec![0; SCRATCH];
    loop {
        match frames.read(&mut scratch) {
            Ok(0) => return Ok(out),
            Ok(n) => append_capped(&mut out, &scratch[..n], limit)?,
            Err(e) => return Err(corrupt(Encoding::Snappy, e.to_string())),
        }
    }
}

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;

fn gunzip(mut input: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut scratch = vec![0; SCRATCH];
    loop {
        input = &input[gzip_header(input)?..];
        let start = out.len();
        input = &input[inflate_member(&mut state, input, &mut out, &mut scratch, limit)?..];
        let Some(trailer) = input.get(..8) else {
            return Err(corrupt(Encoding::Gzip, UNEXPECTED_EOF));
        };
        let crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
        let size = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes"));
        if crc32(&out[start..]) != crc {
            return Err(corrupt(Encoding::Gzip, BAD_CHECKSUM));
        }
        if (out.len() - start) as u32 != size {
            return Err(corrupt(Encoding::Gzip, BAD_CHECKSUM));
        }
        input = &input[8..];
        if input.is_empty() {
            return Ok(out);
        }
        // Without zeroing its 32 KiB window, which a body of many tiny members would pay for
        // each: what a member could see of the one before is this same body's.
        state.reset_as(MinReset);
    }
}

/// The length of the gzip member header at the start of `b`.
fn gzip_header(b: &[u8]) -> Result<usize, Error> {
    let bad = |reason: &str| corrupt(Encoding::Gzip, reason);
    let Some(fixed) = b.get(..10) else {
        return Err(bad(UNEXPECTED_EOF));
    };
    if fixed[..2] != [0x1f, 0x8b] {
        return Err(bad(BAD_HEADER));
    }
    if fixed[2] != 8 {
        return Err(bad(BAD_HEADER));
    }
    let flags = fixed[3];
    if flags & 0xe0 != 0 {
        return Err(bad(BAD_HEADER));
    }
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        let xlen = b.get(pos..pos + 2).ok_or_else(|| bad(UNEXPECTED_EOF))?;
        pos += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let text = b.get(pos..).unwrap_or_default();
            let end = text
                .iter()
                .position(|&c| c == 0)
                .ok_or_else(|| bad(UNEXPECTED_EOF))?;
            pos += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        let crc = b.get(pos..pos + 2).ok_or_else(|| bad(UNEXPECTED_EOF))?;
        if crc32(&b[..pos]) as u16 != u16::from_le_bytes([crc[0], crc[1]]) {
            return Err(bad(BAD_HEADER));
        }
        pos += 2;
    }
    if pos > b.len() {
        return Err(bad(UNEXPECTED_EOF));
    }
    Ok(pos)
}

/// Inflates one raw deflate stream from `input` onto `out` (through `scratch`); returns the
/// input bytes it used.
fn inflate_member(
    state: &mut InflateState,
    input: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut [u8],
    limit: usize,
) -> Result<usize, Error> {
    let mut used = 0;
    loop {
        let r = inflate(state, &input[used..], scratch, MZFlush::None);
        append_capped(out, &scratch[..r.bytes_written], limit)?;
        used += r.bytes_consumed;
        match r.status {
            Ok(MZStatus::StreamEnd) => return Ok(used),
            Ok(_) if r.bytes_consumed > 0 || r.bytes_written > 0 => {}
            Ok(_) | Err(MZError::Buf) if used == input.len() => {
                return Err(corrupt(Encoding::Gzip, UNEXPECTED_EOF));
            }
            _ => {
                let at = used + r.bytes_consumed;
                return Err(corrupt(
                    Encoding::Gzip,
                    format!("flate: corrupt input before offset {at}"),
                ));
            }
        }
    }
}

/// A gzip stream (RFC 1952) produced piece by piece: one member, header without optional
/// parts, the raw deflate stream, and the CRC-32 and length trailer.
pub struct Gzip {
    deflater: Box<CompressorOxide>,
    crc: u32,
    /// The input length mod 2^32, as the trailer wants it.
    len: u32,
    started: bool,
}

/// Level 1: scrapes are compressed on the event loop, where speed matters more than the last
/// few percent of size (it still shrinks an exposition about tenfold).
const GZIP_LEVEL: u8 = 1;

impl Default for Gzip {
    fn default() -> Gzip {
        let mut deflater = Box::<CompressorOxide>::default();
        deflater.set_format_and_level(DataFormat::Raw, GZIP_LEVEL);
        Gzip {
            deflater,
            crc: 0,
            len: 0,
            started: false,
        }
    }
}

impl Gzip {
    /// Compresses `input` onto `out`; with `finish`, ends the stream. Without it, output may
    /// lag behind input: the compressor keeps a window of it.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>, finish: bool) {
        if !self.started {
            self.started = true;
            // Magic, deflate, no flags, no mtime, no extra flags, OS unknown.
            out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        }
        self.crc = crc32_update(self.crc, input);
        self.len = self.len.wrapping_add(input.len() as u32);
        let flush = if finish {
            MZFlush::Finish
        } else {
            MZFlush::None
        };
        let mut used = 0;
        loop {
            let start = out.len();
            out.resize(start + (input.len() - used) / 2 + 1024, 0);
            let r = deflate(&mut self.deflater, &input[used..], &mut out[start..], flush);
            out.truncate(start + r.bytes_written);
            used += r.bytes_consumed;
            match r.status {
                Ok(MZStatus::StreamEnd) => break,
                // Without `finish`, done once all input is taken in; otherwise the output ran
                // out of room: go round with more.
                Ok(_) if !finish && used == input.len() => break,
                Ok(_) => {}
                // No progress was possible: only when there is nothing to take in.
                Err(_) => break,
            }
        }
        if finish {
            out.extend_from_slice(&self.crc.to_le_bytes());
            out.extend_from_slice(&self.len.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// One gzip member around `data`, with the header parts `flags` asks for.
    fn member(data: &[u8], flags: u8) -> Vec<u8> {
        let mut m = vec![0x1f, 0x8b, 8, flags, 1, 2, 3, 4, 0, 3];
        if flags & FEXTRA != 0 {
            m.extend_from_slice(&[4, 0, b'A', b'B', 0, 0]);
        }
        if flags & FNAME != 0 {
            m.extend_from_slice(b"body.prom\0");
        }
        if flags & FCOMMENT != 0 {
            m.extend_from_slice(b"a comment\0");
        }
        if flags & FHCRC != 0 {
            let crc = crc32(&m) as u16;
            m.extend_from_slice(&crc.to_le_bytes());
        }
        m.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
        m.extend_from_slice(&crc32(data).to_le_bytes());
        m.extend_from_slice(&(data.len() as u32).to_le_bytes());
        m
    }

    fn snappy(data: &[u8]) -> Vec<u8> {
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(data).unwrap();
        w.into_inner().unwrap()
    }

    fn gunzipped(body: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
        decompress(Encoding::Gzip, body, limit).map(Cow::into_owned)
    }

    fn reason(r: Result<Vec<u8>, Error>) -> String {
        r.expect_err("should fail").to_string()
    }

    const DATA: &[u8] = b"# TYPE x counter\nx{a=\"b\"} 1\n";

    #[test]
    fn encodings_by_header() {
        for (header, want) in [
            (None, Ok(Encoding::Identity)),
            (Some(""), Ok(Encoding::Identity)),
            (Some("Identity"), Ok(Encoding::Identity)),
            (Some("gzip"), Ok(Encoding::Gzip)),
            (Some(" GZip "), Ok(Encoding::Gzip)),
            (Some("SNAPPY"), Ok(Encoding::Snappy)),
        ] {
            assert_eq!(Encoding::from_header(header), want, "{header:?}");
        }
        for bad in ["br", "deflate", "gzip, identity", "x-gzip"] {
            let err = Encoding::from_header(Some(bad)).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn gzip_header_parts_and_members() {
        for flags in 0..32 {
            if flags & 1 != 0 {
                continue; // FTEXT is only a hint
            }
            assert_eq!(gunzipped(&member(DATA, flags), 1 << 20).unwrap(), DATA);
        }
        let mut two = member(b"first ", FNAME);
        two.extend(member(b"", 0));
        two.extend(member(b"second", FHCRC | FCOMMENT));
        assert_eq!(gunzipped(&two, 100).unwrap(), b"first second");
        let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(gunzipped(&member(&big, 0), big.len()).unwrap(), big);
    }

    #[test]
    fn corrupt_gzip() {
        let good = member(DATA, FNAME | FHCRC);
        let with = |i: usize, b: u8| {
            let mut v = good.clone();
            v[i] = b;
            v
        };
        let data_end = good.len() - 8;
        for (what, body, want) in [
            ("empty", vec![], "unexpected EOF"),
            ("magic", with(0, 0x1e), "gzip: invalid header"),
            ("method", with(2, 7), "gzip: invalid header"),
            (
                "reserved flag",
                with(3, 0x80 | FNAME | FHCRC),
                "gzip: invalid header",
            ),
            ("header crc", with(12, b'B'), "gzip: invalid header"),
            (
                "data crc",
                with(data_end, good[data_end] ^ 1),
                "gzip: invalid checksum",
            ),
            ("length", with(good.len() - 1, 1), "gzip: invalid checksum"),
            (
                "trailing junk",
                [&good[..], b"junk and more"].concat(),
                "gzip: invalid header",
            ),
            (
                "invalid deflate",
                [&good[..22], &[0xff; 20][..]].concat(),
                "flate: corrupt input before offset",
            ),
        ] {
            let got = reason(gunzipped(&body, 1 << 20));
            assert!(got.starts_with(want), "{what}: {got}");
            assert_eq!(
                Error::Corrupt {
                    encoding: Encoding::Gzip,
                    reason: String::new()
                }
                .status(),
                400
            );
        }
        // Every cut of a valid body fails cleanly.
        for cut in 0..good.len() {
            assert!(gunzipped(&good[..cut], 1 << 20).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 2 << 20];
        let bomb = member(&zeros, 0);
        assert!(bomb.len() < 4 << 10, "{}", bomb.len());
        let err = gunzipped(&bomb, 100_000).unwrap_err();
        assert_eq!(err, Error::TooLarge { limit: 100_000 });
        assert_eq!(err.status(), 413);
        assert_eq!(err.to_string(), "decompressed body exceeds 100000 bytes");
        // Exactly at the limit is fine; one byte less is not.
        assert_eq!(gunzipped(&bomb, zeros.len()).unwrap().len(), zeros.len());
        assert!(gunzipped(&bomb, zeros.len() - 1).is_err());
        // The limit counts all members together.
        let two = [member(&zeros[..600], 0), member(&zeros[..600], 0)].concat();
        assert!(gunzipped(&two, 1200).is_ok());
        assert_eq!(gunzipped(&two, 1199).unwrap_err().status(), 413);
    }

    #[test]
    fn snappy_frames() {
        let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for data in [&b""[..], DATA, &big] {
            let body = snappy(data);
            let got = decompress(Encoding::Snappy, &body, data.len()).unwrap();
            assert_eq!(&got[..], data);
        }
        let zeros = vec![0u8; 2 << 20];
        let bomb = snappy(&zeros);
        let err = decompress(Encoding::Snappy, &bomb, 100_000).unwrap_err();
        assert_eq!(err, Error::TooLarge { limit: 100_000 });
        assert!(decompress(Encoding::Snappy, &bomb, zeros.len()).is_ok());
        assert!(decompress(Encoding::Snappy, &bomb, zeros.len() - 1).is_err());

        let good = snappy(DATA);
        let mut bad_crc = good.clone();
        bad_crc[14] ^= 1;
        for (what, body) in [
            (
                "raw block, no stream identifier",
                snap::raw::Encoder::new().compress_vec(DATA).unwrap(),
            ),
            ("checksum", bad_crc),
            ("truncated", good[..good.len() - 3].to_vec()),
            ("text", DATA.to_vec()),
        ] {
            let err = decompress(Encoding::Snappy, &body, 1 << 20).unwrap_err();
            assert_eq!(err.status(), 400, "{what}: {err}");
            assert!(
                err.to_string().starts_with("invalid snappy body: "),
                "{what}: {err}"
            );
        }
    }

    #[test]
    fn identity_borrows() {
        assert!(matches!(
            decompress(Encoding::Identity, DATA, 1),
            Ok(Cow::Borrowed(b)) if b == DATA
        ));
    }

    #[test]
    fn gzip_streams_in_pieces_and_reads_back() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("m{{i=\"{}\"}} {}\n", i % 977, i).into_bytes())
            .collect();
        let mut gz = Gzip::default();
        let mut out = Vec::new();
        for piece in data.chunks(65_536) {
            gz.write(piece, &mut out, false);
        }
        gz.write(&[], &mut out, true);
        assert!(
            out.len() < data.len() / 4,
            "{} of {}",
            out.len(),
            data.len()
        );
        assert_eq!(gunzipped(&out, usize::MAX).unwrap(), data);
        let mut empty = Vec::new();
        Gzip::default().write(&[], &mut empty, true);
        assert_eq!(gunzipped(&empty, 10).unwrap(), b"");
    }
}
