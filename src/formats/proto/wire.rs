//! The protobuf wire format, read-only: varints, fixed-width numbers, length-delimited fields
//! and skipping whatever a message does not name. Knows nothing of metrics.
//!
//! A [`Reader`] walks one message's bytes. Every length is checked against the bytes that
//! remain before anything is sliced, and nothing is allocated from a length, so a hostile
//! prefix costs nothing. Errors carry the absolute byte offset in the body.

use std::fmt;

/// Unknown groups (a deprecated proto2 encoding that can still appear among unknown fields)
/// nested deeper than this are refused.
pub(super) const MAX_GROUP_DEPTH: usize = 64;

/// A malformed body: where, and what is wrong, in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the body of the item that could not be read.
    pub offset: usize,
    pub reason: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "protobuf decoding error at byte {}: {}",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for DecodeError {}

/// The low three bits of a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wire {
    Varint,
    I64,
    Len,
    StartGroup,
    EndGroup,
    I32,
}

impl Wire {
    fn name(self) -> &'static str {
        match self {
            Wire::Varint => "varint",
            Wire::I64 => "64-bit",
            Wire::Len => "length-delimited",
            Wire::StartGroup => "start-group",
            Wire::EndGroup => "end-group",
            Wire::I32 => "32-bit",
        }
    }
}

/// A field's tag, with where it was found and in which message, for error messages.
pub(super) struct Field {
    pub num: u32,
    pub wire: Wire,
    /// Body offset of the tag.
    pub at: usize,
    msg: &'static str,
}

/// A cursor over one message's bytes.
#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Body offset of `buf[0]`.
    base: usize,
}

pub(super) type Result<T> = std::result::Result<T, DecodeError>;

pub(super) fn fail<T>(offset: usize, reason: impl Into<String>) -> Result<T> {
    Err(DecodeError {
        offset,
        reason: reason.into(),
    })
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// Body offset of the next byte.
    pub(super) fn at(&self) -> usize {
        self.base + self.pos
    }

    pub(super) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(super) fn varint(&mut self) -> Result<u64> {
        let start = self.at();
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return fail(start, "truncated varint");
            };
            self.pos += 1;
            // The tenth byte holds the 64th bit only.
            if i == 9 && byte > 1 {
                return fail(start, "varint overflows 64 bits");
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        fail(start, "varint overflows 64 bits")
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let start = self.at();
        let Some(bytes) = self.buf.get(self.pos..self.pos + N) else {
            return fail(start, format!("truncated {N}-byte number"));
        };
        self.pos += N;
        Ok(bytes.try_into().expect("slice of length N"))
    }

    /// The next `len` bytes as a reader of their own; `what` names them for the error when
    /// fewer remain.
    pub(super) fn take(&mut self, len: u64, what: &str) -> Result<Reader<'a>> {
        let left = self.buf.len() - self.pos;
        if len > left as u64 {
            return fail(
                self.at(),
                format!("{what} of {len} bytes runs past the end ({left} bytes left)"),
            );
        }
        Ok(self.slice(len as usize))
    }

    /// The next `len` bytes, which the caller made sure are there.
    fn slice(&mut self, len: usize) -> Reader<'a> {
        let sub = Reader {
            buf: &self.buf[self.pos..self.pos + len],
            pos: 0,
            base: self.at(),
        };
        self.pos += len;
        sub
    }

    /// The next field's tag; `msg` names the message being read, for errors.
    pub(super) fn field(&mut self, msg: &'static str) -> Result<Field> {
        let at = self.at();
        let tag = self.varint()?;
        let num = tag >> 3;
        if num == 0 || num > (1 << 29) - 1 {
            return fail(at, format!("{msg}: invalid field number {num}"));
        }
        let wire = match tag & 7 {
            0 => Wire::Varint,
            1 => Wire::I64,
            2 => Wire::Len,
            3 => Wire::StartGroup,
            4 => Wire::EndGroup,
            5 => Wire::I32,
            w => return fail(at, format!("{msg} field {num}: invalid wire type {w}")),
        };
        Ok(Field {
            num: num as u32,
            wire,
            at,
            msg,
        })
    }

    fn expect(&self, f: &Field, want: Wire) -> Result<()> {
        if f.wire == want {
            return Ok(());
        }
        fail(
            f.at,
            format!(
                "{} field {} has wire type {}, expected {}",
                f.msg,
                f.num,
                f.wire.name(),
                want.name()
            ),
        )
    }

    pub(super) fn double(&mut self, f: &Field) -> Result<f64> {
        self.expect(f, Wire::I64)?;
        Ok(f64::from_le_bytes(self.fixed::<8>()?))
    }

    pub(super) fn uint64(&mut self, f: &Field) -> Result<u64> {
        self.expect(f, Wire::Varint)?;
        self.varint()
    }

    pub(super) fn int64(&mut self, f: &Field) -> Result<i64> {
        Ok(self.uint64(f)? as i64)
    }

    /// `int32` and enums: the low 32 bits (negative values come sign-extended to 64).
    pub(super) fn int32(&mut self, f: &Field) -> Result<i32> {
        Ok(self.uint64(f)? as u32 as i32)
    }

    pub(super) fn uint32(&mut self, f: &Field) -> Result<u32> {
        Ok(self.uint64(f)? as u32)
    }

    pub(super) fn sint32(&mut self, f: &Field) -> Result<i32> {
        let n = self.uint64(f)? as u32;
        Ok((n >> 1) as i32 ^ -((n & 1) as i32))
    }

    /// A string or bytes field, unchecked.
    pub(super) fn bytes(&mut self, f: &Field) -> Result<&'a [u8]> {
        Ok(self.message(f)?.buf)
    }

    /// An embedded message.
    pub(super) fn message(&mut self, f: &Field) -> Result<Reader<'a>> {
        self.expect(f, Wire::Len)?;
        let len = self.varint()?;
        let left = self.buf.len() - self.pos;
        if len > left as u64 {
            return fail(
                f.at,
                format!(
                    "{} field {} of {len} bytes runs past the end of its message ({left} bytes left)",
                    f.msg, f.num
                ),
            );
        }
        Ok(self.slice(len as usize))
    }

    /// One element of a repeated `sint64`, or a packed run of them.
    pub(super) fn repeated_sint64(&mut self, f: &Field, out: &mut Vec<i64>) -> Result<()> {
        let zigzag = |n: u64| (n >> 1) as i64 ^ -((n & 1) as i64);
        if f.wire == Wire::Len {
            let mut packed = self.message(f)?;
            while !packed.done() {
                out.push(zigzag(packed.varint()?));
            }
            return Ok(());
        }
        self.expect(f, Wire::Varint)?;
        out.push(zigzag(self.varint()?));
        Ok(())
    }

    /// One element of a repeated `double`, or a packed run of them.
    pub(super) fn repeated_double(&mut self, f: &Field, out: &mut Vec<f64>) -> Result<()> {
        if f.wire == Wire::Len {
            let packed = self.message(f)?;
            if packed.buf.len() % 8 != 0 {
                return fail(
                    f.at,
                    format!(
                        "{} field {}: packed doubles of {} bytes",
                        f.msg,
                        f.num,
                        packed.buf.len()
                    ),
                );
            }
            out.extend(
                packed
                    .buf
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))),
            );
            return Ok(());
        }
        self.double(f).map(|v| out.push(v))
    }

    /// Skips a field this decoder does not read, whatever its wire type.
    pub(super) fn skip(&mut self, f: &Field) -> Result<()> {
        match f.wire {
            Wire::Varint => self.varint().map(drop),
            Wire::I64 => self.fixed::<8>().map(drop),
            Wire::I32 => self.fixed::<4>().map(drop),
            Wire::Len => self.message(f).map(drop),
            Wire::StartGroup => self.skip_group(f),
            Wire::EndGroup => fail(
                f.at,
                format!("{}: end of group {} that was not started", f.msg, f.num),
            ),
        }
    }

    /// Skips to the end of the group `start` opened, through nested groups, without recursion.
    fn skip_group(&mut self, start: &Field) -> Result<()> {
        let mut open = vec![start.num];
        while let Some(&innermost) = open.last() {
            if self.done() {
                return fail(
                    start.at,
                    format!("{}: group {} is not closed", start.msg, start.num),
                );
            }
            let f = self.field(start.msg)?;
            match f.wire {
                Wire::StartGroup if open.len() >= MAX_GROUP_DEPTH => {
                    return fail(
                        f.at,
                        format!("groups nested more than {MAX_GROUP_DEPTH} deep"),
                    );
                }
                Wire::StartGroup => open.push(f.num),
                Wire::EndGroup if f.num == innermost => {
                    open.pop();
                }
                Wire::EndGroup => {
                    return fail(
                        f.at,
                        format!("{}: end of group {} inside group {innermost}", f.msg, f.num),
                    );
                }
                _ => self.skip(&f)?,
            }
        }
        Ok(())
    }
}
