//! The text format's tokens: blanks, names (plain and quoted), label values with their
//! escapes, floats as Go's `strconv.ParseFloat` reads them, timestamps, and the errors that
//! name the line they are on. The grammar that strings them together is in the parent.

use std::borrow::Cow;

use super::quote::quote_str;
use super::{Name, NameKind, ParseError, Parser};
use crate::formats::lines::{exact_decimal, find_any};

impl<'a> Parser<'a> {
    pub(super) fn error(&self, reason: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            reason: reason.into(),
        }
    }

    pub(super) fn eof(&self) -> ParseError {
        self.error("unexpected end of input stream")
    }

    /// The byte at `pos`; running out of input anywhere but at a line start is an error.
    pub(super) fn current(&self) -> Result<u8, ParseError> {
        self.buf.get(self.pos).copied().ok_or_else(|| self.eof())
    }

    pub(super) fn skip_blanks_or_end(&mut self) -> Option<u8> {
        while let Some(&b) = self.buf.get(self.pos) {
            if !is_blank(b) {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    pub(super) fn skip_blanks(&mut self) -> Result<u8, ParseError> {
        self.skip_blanks_or_end().ok_or_else(|| self.eof())
    }

    /// Steps over the current byte (a delimiter), then over blanks.
    pub(super) fn next_skip_blanks(&mut self) -> Result<u8, ParseError> {
        self.pos += 1;
        self.skip_blanks()
    }

    /// Bytes up to the next blank or LF (not consumed). Hitting the end is an error even when
    /// the token looks complete, which is how a missing final LF is caught.
    pub(super) fn token_until_space(&mut self) -> Result<&'a [u8], ParseError> {
        let buf = self.buf;
        let start = self.pos;
        while let Some(&b) = buf.get(self.pos) {
            if is_blank(b) || b == b'\n' {
                return Ok(&buf[start..self.pos]);
            }
            self.pos += 1;
        }
        Err(self.eof())
    }

    /// Bytes up to the LF (not consumed).
    pub(super) fn rest_of_line(&mut self) -> Result<&'a [u8], ParseError> {
        let buf = self.buf;
        let start = self.pos;
        match buf[start..].iter().position(|&b| b == b'\n') {
            Some(n) => {
                self.pos += n;
                Ok(&buf[start..self.pos])
            }
            None => {
                self.pos = buf.len();
                Err(self.eof())
            }
        }
    }

    /// A name whose first byte has class `start` and the others class `rest`; empty (nothing
    /// consumed) when the current byte cannot start one, so the caller decides what that means.
    pub(super) fn name_token(&mut self, start: u8, rest: u8) -> Result<&'a [u8], ParseError> {
        let buf = self.buf;
        let begin = self.pos;
        if buf
            .get(begin)
            .is_none_or(|&b| NAME_CLASS[usize::from(b)] & start == 0)
        {
            return Ok(&[]);
        }
        match buf[begin + 1..]
            .iter()
            .position(|&b| NAME_CLASS[usize::from(b)] & rest == 0)
        {
            Some(n) => {
                self.pos = begin + 1 + n;
                Ok(&buf[begin..self.pos])
            }
            None => {
                self.pos = buf.len();
                Err(self.eof())
            }
        }
    }

    /// A metric or label name; empty (nothing consumed) when the current byte cannot start
    /// one. Legacy names are borrowed; a quote starts the slower reading of rule 5.
    pub(super) fn name(&mut self, kind: NameKind) -> Result<Name<'a>, ParseError> {
        let (start, rest) = match kind {
            NameKind::Metric => (METRIC_START, METRIC_REST),
            NameKind::Label => (LABEL_START, LABEL_REST),
        };
        let begin = self.pos;
        let token = self.name_token(start, rest)?;
        if !self.utf8 || self.buf.get(self.pos) != Some(&b'"') {
            return Ok(Cow::Borrowed(token));
        }
        self.pos = begin;
        self.quoted_name(kind, rest).map(Cow::Owned)
    }

    /// Go's name reader: a quote toggles quoting, a closing quote ends the name, outside
    /// quotes the name ends at the first byte not of class `rest` (or a quote). Leaves `pos`
    /// on the first byte after the name.
    pub(super) fn quoted_name(&mut self, kind: NameKind, rest: u8) -> Result<Vec<u8>, ParseError> {
        let mut name = Vec::new();
        let (mut quoted, mut escaped) = (false, false);
        loop {
            let b = self.current()?;
            if escaped {
                match b {
                    b'\\' | b'"' => name.push(b),
                    b'n' => name.push(b'\n'),
                    other => return Err(self.invalid_escape(other)),
                }
                escaped = false;
            } else {
                match b {
                    b'"' if quoted => {
                        self.pos += 1;
                        self.current()?;
                        return Ok(name);
                    }
                    b'"' => quoted = true,
                    b'\n' => {
                        let kind = match kind {
                            NameKind::Metric => "metric",
                            NameKind::Label => "label",
                        };
                        return Err(self.error(format!(
                            "{kind} name {} contains unescaped new-line",
                            quote_str(&name)
                        )));
                    }
                    b'\\' => escaped = true,
                    other => name.push(other),
                }
            }
            self.pos += 1;
            let next = self.current()?;
            if !(quoted || next == b'"' || NAME_CLASS[usize::from(next)] & rest != 0) {
                return Ok(name);
            }
        }
    }

    /// A quoted label value starting at the opening quote; leaves `pos` past the closing one.
    pub(super) fn label_value(&mut self) -> Result<Cow<'a, str>, ParseError> {
        let buf = self.buf;
        self.pos += 1;
        let start = self.pos;
        // Most values have no escapes and are borrowed straight from the body.
        let Some(end) = find_any(&buf[start..], [b'"', b'\\', b'\n']).map(|i| start + i) else {
            self.pos = buf.len();
            return Err(self.eof());
        };
        self.pos = end;
        match buf[end] {
            b'"' => {
                self.pos += 1;
                // Both ends are next to an ASCII quote, so on character boundaries.
                return match self.text.and_then(|text| text.get(start..end)) {
                    Some(value) => Ok(Cow::Borrowed(value)),
                    None => self.utf8_label_value(&buf[start..end]).map(Cow::Borrowed),
                };
            }
            b'\n' => return Err(self.unescaped_newline(&buf[start..end])),
            _ => {}
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&buf[start..self.pos]);
        loop {
            match self.current()? {
                b'"' => break,
                b'\\' => {
                    self.pos += 1;
                    match self.current()? {
                        b'"' => self.scratch.push(b'"'),
                        b'\\' => self.scratch.push(b'\\'),
                        b'n' => self.scratch.push(b'\n'),
                        other => return Err(self.invalid_escape(other)),
                    }
                }
                b'\n' => return Err(self.unescaped_newline(&self.scratch)),
                other => self.scratch.push(other),
            }
            self.pos += 1;
        }
        self.pos += 1;
        self.utf8_label_value(&self.scratch)
            .map(|v| Cow::Owned(v.to_owned()))
    }

    pub(super) fn utf8_label_value<'b>(&self, raw: &'b [u8]) -> Result<&'b str, ParseError> {
        std::str::from_utf8(raw)
            .map_err(|_| self.error(format!("invalid label value {}", quote_str(raw))))
    }

    pub(super) fn unescaped_newline(&self, so_far: &[u8]) -> ParseError {
        self.error(format!(
            "label value {} contains unescaped new-line",
            quote_str(so_far)
        ))
    }

    pub(super) fn invalid_escape(&self, byte: u8) -> ParseError {
        // Go prints the byte with %c, i.e. as the code point of the same number.
        self.error(format!("invalid escape sequence '\\{}'", char::from(byte)))
    }

    /// The timestamp after a value, starting on the blank that ended the value; leaves `pos`
    /// on the LF.
    pub(super) fn timestamp(&mut self) -> Result<i64, ParseError> {
        self.next_skip_blanks()?;
        let token = self.token_until_space()?;
        let timestamp = std::str::from_utf8(token)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| {
                self.error(format!(
                    "expected integer as timestamp, got {}",
                    quote_str(token)
                ))
            })?;
        // Go reads the rest with the reader that drops backslashes, so only they may follow;
        // even a trailing blank is "spurious".
        let rest = self.rest_of_line()?;
        if rest.iter().any(|&b| b != b'\\') {
            let shown: Vec<u8> = rest.iter().copied().filter(|&b| b != b'\\').collect();
            return Err(self.error(format!(
                "spurious string after timestamp: {}",
                quote_str(&shown)
            )));
        }
        Ok(timestamp)
    }
}

pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Byte classes for names (`[a-zA-Z_][a-zA-Z0-9_]*` for labels, `:` allowed too for
/// metrics), so scanning a name costs one table lookup per byte.
const LABEL_START: u8 = 1;
const LABEL_REST: u8 = 2;
const METRIC_START: u8 = 4;
const METRIC_REST: u8 = 8;
static NAME_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = if b.is_ascii_alphabetic() || b == b'_' {
            LABEL_START | LABEL_REST | METRIC_START | METRIC_REST
        } else if b.is_ascii_digit() {
            LABEL_REST | METRIC_REST
        } else if b == b':' {
            METRIC_START | METRIC_REST
        } else {
            0
        };
        i += 1;
    }
    table
};

/// Names are valid UTF-8 by now: ASCII by construction, or checked.
pub(super) fn name_string(b: &[u8]) -> String {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// Go's `strconv.ParseFloat(s, 64)` as the Go parser calls it: decimal only (it refuses any
/// `p`, `P` or `_` first, which rules out hex floats and digit separators), `inf`/`infinity`
/// with an optional sign and `nan` without one, in any case. Overflow is an error (Go reports
/// ErrRange), underflow is not.
pub(super) fn parse_float(s: &[u8]) -> Option<f64> {
    // Most values are short decimals, which Go spells as Rust does.
    if let Some(value) = exact_decimal(s) {
        return Some(value);
    }
    let unsigned = match s.first() {
        Some(b'+' | b'-') => &s[1..],
        _ => s,
    };
    if unsigned.eq_ignore_ascii_case(b"inf") || unsigned.eq_ignore_ascii_case(b"infinity") {
        return Some(if s[0] == b'-' {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if s.eq_ignore_ascii_case(b"nan") {
        return Some(f64::NAN);
    }
    if !is_decimal(unsigned) {
        return None;
    }
    // The grammar is checked above, so Rust's (equally correctly rounded) parser only
    // computes the value; the input is ASCII.
    let value: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    value.is_finite().then_some(value)
}

/// `digits [. digits] [e [sign] digits]` with at least one mantissa digit on either side of
/// the dot.
fn is_decimal(s: &[u8]) -> bool {
    let digits = |from: usize| s[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let int = digits(0);
    let mut i = int;
    let mut frac = 0;
    if s.get(i) == Some(&b'.') {
        frac = digits(i + 1);
        i += 1 + frac;
    }
    if int + frac == 0 {
        return false;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = digits(i);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == s.len()
}
