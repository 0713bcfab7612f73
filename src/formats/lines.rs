//! Reading back the sample lines the store keeps (text format 0.0.4, as `expose` writes
//! them), for what is derived from them: protobuf scrapes, name escaping, the JSON API.
//!
//! The text is our own, so its shape is known: `name{labels} value\n`, labels sorted with a
//! `le` or `quantile` label last, no timestamps, and names that are not legacy-valid written
//! in the quoted form (`{"a.b",l="v"} 1`). Reading it costs O(its bytes) and allocates only
//! for the rare escaped string.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::formats::expose::write_label_value;
use crate::formats::model::{Label, MetricType};
use crate::formats::names::{escape, Escaping};

/// One sample line, split into its parts.
#[derive(Debug, PartialEq)]
pub(crate) struct Line<'a> {
    pub name: Cow<'a, str>,
    /// What is between the braces, after the name in the quoted form: `a="x",le="1"`.
    /// Empty when the series has no labels.
    pub labels: &'a str,
    pub value: &'a str,
}

/// The lines of stored sample text. Text that does not have the expected shape (which the
/// store never holds) ends the iteration rather than panicking; [`Lines::broken`] tells.
///
/// Searches here are byte loops (and [`find_newline`]) rather than `str` pattern searches:
/// the pieces are a few bytes long, where setting up a vectorised search costs more than it
/// saves, and this runs for every series of every protobuf scrape.
pub(crate) fn lines(text: &[u8]) -> Lines<'_> {
    match std::str::from_utf8(text) {
        Ok(rest) => Lines {
            rest,
            broken: false,
        },
        Err(_) => Lines {
            rest: "",
            broken: true,
        },
    }
}

/// The iterator of [`lines`].
pub(crate) struct Lines<'a> {
    rest: &'a str,
    broken: bool,
}

impl Lines<'_> {
    /// Whether the iteration ended at text that is not stored sample lines.
    pub(crate) fn broken(&self) -> bool {
        self.broken
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = find_newline(self.rest.as_bytes()).and_then(|end| {
            let l = &self.rest[..end];
            self.rest = &self.rest[end + 1..];
            line(l)
        });
        if parsed.is_none() {
            self.broken = true;
            self.rest = "";
        }
        parsed
    }
}

/// The index of the first LF in `b`.
pub(crate) fn find_newline(b: &[u8]) -> Option<usize> {
    find_byte(b, b'\n')
}

/// The index of the first `needle` in `b`, eight bytes at a time: lines and names are long
/// enough for that to matter, and the standard library's vectorised search only takes `str`.
pub(crate) fn find_byte(b: &[u8], needle: u8) -> Option<usize> {
    find_any(b, [needle])
}

/// The index of the first byte of `b` that is one of `needles`, eight bytes at a time.
#[inline]
pub(crate) fn find_any<const N: usize>(b: &[u8], needles: [u8; N]) -> Option<usize> {
    let mut chunks = b.chunks_exact(8);
    for (i, chunk) in (&mut chunks).enumerate() {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // The lowest of all needles' flags is exact, as each one's lowest is.
        let flags = needles
            .iter()
            .fold(0, |flags, &needle| flags | first_equal(word, needle));
        if flags != 0 {
            return Some(i * 8 + (flags.trailing_zeros() / 8) as usize);
        }
    }
    let tail = chunks.remainder();
    let at = b.len() - tail.len();
    tail.iter()
        .position(|c| needles.contains(c))
        .map(|p| at + p)
}

/// The high bit of the first byte of `word` that is `byte`, none if there is none; a borrow
/// may set those of bytes above it too. Cheaper than [`bytes_equal`], for searches.
#[inline]
fn first_equal(word: u64, byte: u8) -> u64 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    // A byte of `x` is zero where `word` has `byte`.
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// The high bit of each byte of `word` that is `byte`, and no other bit.
#[inline]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    let x = word ^ (u64::from_le_bytes([1; 8]) * u64::from(byte));
    // Adding to the low seven bits carries into the high bit unless they are all zero; no
    // carry crosses bytes, so each flag is exact.
    !(((x & LOW7) + LOW7) | x) & !LOW7
}

/// A sample line split into its series part and its value (after the last space); `None`
/// for a line without a value.
pub(crate) fn split_value(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = line.iter().rposition(|&b| b == b' ')?;
    Some((&line[..space], &line[space + 1..]))
}

fn line(l: &str) -> Option<Line<'_>> {
    let (series, _) = split_value(l.as_bytes())?;
    // Split at an ASCII space, so both sides are text.
    let (series, value) = (&l[..series.len()], &l[series.len() + 1..]);
    let (name, labels) = series_parts(series.as_bytes())?;
    // `labels` ends just before the closing brace, the series part's last byte.
    let labels = match labels.len() {
        0 => "",
        len => &series[series.len() - 1 - len..series.len() - 1],
    };
    Some(Line {
        name: name.unescaped(),
        labels,
        value,
    })
}

/// A series part split into its name and what is between its braces: `name{labels}`, the
/// quoted form `{"name",labels}`, or bare `{labels}` (a group's timestamp gauges, without a
/// name). The name is empty in the last case, the labels when there are none.
pub(crate) fn series_parts(series: &[u8]) -> Option<(Raw<'_>, &[u8])> {
    let (name, inner) = match series.strip_prefix(b"{") {
        Some(rest) => match string_at(rest) {
            // A quoted string not followed by `=` is a metric name, not a label name.
            Some((name, after)) if after.first() != Some(&b'=') => {
                (name, after.strip_prefix(b",").unwrap_or(after))
            }
            _ => (Raw::plain(b""), rest),
        },
        None => match find_byte(series, b'{') {
            Some(at) => (Raw::plain(&series[..at]), &series[at + 1..]),
            None => return Some((Raw::plain(series), &[])),
        },
    };
    Some((name, inner.strip_suffix(b"}")?))
}

/// One series of stored text, as [`each_series`] hands it out.
pub(crate) struct Series<'a> {
    /// Its labels, unescaped, without `le` or `quantile`.
    pub labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The sample's value; for a summary or histogram, its count.
    pub value: &'a str,
    /// A summary's quantiles or a histogram's buckets: `(quantile or upper bound, value)`,
    /// in the order written.
    pub bounds: Vec<(Cow<'a, str>, &'a str)>,
    /// A summary's or histogram's sum.
    pub sum: &'a str,
}

/// Stored text that could not be read back to its end.
#[derive(Debug, PartialEq)]
pub(crate) struct Unreadable;

/// Calls `f` with each series of `text`, the sample lines of family `family` of type `mtype`:
/// a line each, except that the lines of one summary or histogram are one series, ending with
/// its `_count` line. `f` may reorder what it is given; the buffers are reused. `Err` when the
/// text stopped having the stored shape, after the series before that point.
pub(crate) fn each_series<'a>(
    text: &'a [u8],
    family: &str,
    mtype: MetricType,
    mut f: impl FnMut(&mut Series<'a>),
) -> Result<(), Unreadable> {
    let mut s = Series {
        labels: Vec::new(),
        value: "",
        bounds: Vec::new(),
        sum: "0",
    };
    let mut all = lines(text);
    for line in &mut all {
        let suffix = line.name.strip_prefix(family).unwrap_or_default();
        s.labels.extend(label_pairs(line.labels));
        match (mtype.text_type(), suffix) {
            _ if has_bound(mtype, suffix) => {
                if let Some((_, bound)) = s.labels.pop() {
                    s.bounds.push((bound, line.value));
                }
            }
            (MetricType::Summary | MetricType::Histogram, "_sum") => s.sum = line.value,
            (MetricType::Summary | MetricType::Histogram, "_count") => {
                s.value = line.value;
                f(&mut s);
                s.bounds.clear();
                s.sum = "0";
            }
            (MetricType::Summary | MetricType::Histogram, _) => {}
            _ => {
                s.value = line.value;
                f(&mut s);
            }
        }
        s.labels.clear();
    }
    if all.broken() {
        Err(Unreadable)
    } else {
        Ok(())
    }
}

/// Whether the lines of a family of type `mtype` whose name has `suffix` after the family's
/// carry a bound (a summary's `quantile`, a histogram bucket's `le`) as their last label.
fn has_bound(mtype: MetricType, suffix: &str) -> bool {
    matches!(
        (mtype.text_type(), suffix),
        (MetricType::Summary, "") | (MetricType::Histogram, "_bucket")
    )
}

/// Whether stored text (family `family` of type `mtype`, its series in label-set order as the
/// store keeps them) has a series with exactly `labels` (sorted by name). A binary search
/// over the lines: O(log lines) lines are read, however large the text is.
pub(crate) fn has_series(
    text: &[u8],
    family: &str,
    mtype: MetricType,
    labels: &[Label],
) -> Result<bool, Unreadable> {
    // `lo` and `hi` are line starts (or the end); the series sought is not outside them.
    let (mut lo, mut hi) = (0, text.len());
    let mut pairs = Vec::new();
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = text[lo..mid]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(lo, |at| lo + at + 1);
        let end = start + find_newline(&text[start..hi]).ok_or(Unreadable)?;
        let l = std::str::from_utf8(&text[start..end]).map_err(|_| Unreadable)?;
        let l = line(l).ok_or(Unreadable)?;
        pairs.clear();
        pairs.extend(label_pairs(l.labels));
        let suffix = l.name.strip_prefix(family).unwrap_or_default();
        if has_bound(mtype, suffix) {
            pairs.pop();
        }
        let order = pairs
            .iter()
            .map(|(n, v)| (n.as_ref(), v.as_ref()))
            .cmp(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
        match order {
            Ordering::Less => lo = end + 1,
            Ordering::Greater => hi = start,
            Ordering::Equal => return Ok(true),
        }
    }
    Ok(false)
}

/// The label pairs of [`Line::labels`], unescaped, in their order.
pub(crate) fn label_pairs(labels: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    raw_pairs(labels.as_bytes()).map(|(name, value)| (name.unescaped(), value.unescaped()))
}

/// The label pairs of a line's labels as written (`a="x",b="y"`, names possibly quoted), not
/// unescaped. Labels not of that shape end the iteration.
pub(crate) fn raw_pairs(labels: &[u8]) -> RawPairs<'_> {
    RawPairs { rest: labels }
}

/// The iterator of [`raw_pairs`].
pub(crate) struct RawPairs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RawPairs<'a> {
    type Item = (Raw<'a>, Raw<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match first_pair(self.rest) {
            Some((pair, after)) => {
                self.rest = after;
                Some(pair)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

/// The first label pair of `labels` and what follows it (its comma skipped).
#[inline]
pub(crate) fn first_pair(labels: &[u8]) -> Option<((Raw<'_>, Raw<'_>), &[u8])> {
    let (name, after) = match labels.first() {
        Some(b'"') => string_at(labels)?,
        _ => {
            let at = find_byte(labels, b'=')?;
            (Raw::plain(&labels[..at]), &labels[at..])
        }
    };
    let (value, after) = string_at(after.strip_prefix(b"=")?)?;
    Some(((name, value), after.strip_prefix(b",").unwrap_or(after)))
}

/// The value of the last label pair of `labels`, the one [`raw_pairs`] gives last: found
/// from the end where it has no escape, as a value's quotes are escaped and an opening quote
/// follows `=`.
pub(crate) fn last_value(labels: &[u8]) -> Option<Raw<'_>> {
    let body = labels.strip_suffix(b"\"")?;
    match body.iter().rposition(|&b| b == b'"') {
        Some(open) if open > 0 && body[open - 1] == b'=' && !body[open..].contains(&b'\\') => {
            Some(Raw::plain(&body[open + 1..]))
        }
        _ => raw_pairs(labels).last().map(|(_, value)| value),
    }
}

/// Calls `f` with each label pair of `labels` when none has an escape or a quoted name, the
/// common case: with the text `name="value` (the pair without its closing quote) and its
/// name's length. One pass over the bytes, eight at a time, finds every quote. The pairs end
/// with `labels` or at a `}` after a closing quote (a line's labels, read with what follows
/// them); returns where they end. `None` (after calls for the pairs before) for labels of
/// another kind or shorter than eight bytes, which [`raw_pairs`] reads.
#[inline]
pub(crate) fn plain_pairs(labels: &[u8], mut f: impl FnMut(&[u8], usize)) -> Option<usize> {
    let len = labels.len();
    if len < 8 {
        return labels.is_empty().then_some(0);
    }
    // Where the pair being read starts, and its value's opening quote once seen.
    let (mut start, mut open) = (0, None);
    let mut at = 0;
    while at < len {
        // The last word ends with the text: it overlaps the one before, whose bytes are
        // masked off.
        let base = at.min(len - 8);
        let word = u64::from_le_bytes(labels[base..base + 8].try_into().expect("8 bytes"));
        let unseen = !0u64 << ((at - base) * 8);
        if bytes_equal(word, b'\\') & unseen != 0 {
            return None;
        }
        let mut quotes = bytes_equal(word, b'"') & unseen;
        while quotes != 0 {
            let p = base + (quotes.trailing_zeros() / 8) as usize;
            quotes &= quotes - 1;
            match open.take() {
                // A quote opening the pair would be a quoted name.
                None if p > start && labels[p - 1] == b'=' => open = Some(p),
                None => return None,
                Some(o) => {
                    f(&labels[start..p], o - 1 - start);
                    match labels.get(p + 1) {
                        Some(b',') => start = p + 2,
                        None | Some(b'}') => return Some(p + 1),
                        Some(_) => return None,
                    }
                }
            }
        }
        at = base + 8;
    }
    (open.is_none() && start == len).then_some(len)
}

/// A string of stored text as written: with `\\`, `\"` and `\n` escapes when `escaped`.
pub(crate) struct Raw<'a> {
    text: &'a [u8],
    escaped: bool,
}

impl<'a> Raw<'a> {
    fn plain(text: &'a [u8]) -> Raw<'a> {
        Raw {
            text,
            escaped: false,
        }
    }

    /// Its length unescaped: each escape is two bytes for one.
    pub(crate) fn len(&self) -> usize {
        if !self.escaped {
            return self.text.len();
        }
        let mut escapes = 0;
        let mut i = 0;
        while i < self.text.len() {
            if self.text[i] == b'\\' {
                escapes += 1;
                i += 1;
            }
            i += 1;
        }
        self.text.len() - escapes
    }

    /// Appends it unescaped.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        if !self.escaped {
            out.extend_from_slice(self.text);
            return;
        }
        let mut bytes = self.text.iter();
        while let Some(&b) = bytes.next() {
            out.push(match b {
                b'\\' => match bytes.next() {
                    Some(b'n') => b'\n',
                    Some(&other) => other,
                    None => b,
                },
                other => other,
            });
        }
    }

    /// Its bytes unescaped, borrowed unless it has escapes.
    pub(crate) fn bytes(&self) -> Cow<'a, [u8]> {
        if !self.escaped {
            return Cow::Borrowed(self.text);
        }
        let mut out = Vec::with_capacity(self.text.len());
        self.write(&mut out);
        Cow::Owned(out)
    }

    /// It unescaped, as text (the store's text is UTF-8 throughout).
    fn unescaped(&self) -> Cow<'a, str> {
        match self.bytes() {
            // Checked first: the lossy conversion goes a byte at a time even over ASCII.
            Cow::Borrowed(b) => match std::str::from_utf8(b) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(b),
            },
            Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
        }
    }
}

/// Splits a leading `"..."` off `s`: the string inside and what follows the closing quote.
pub(crate) fn string_at(s: &[u8]) -> Option<(Raw<'_>, &[u8])> {
    let body = s.strip_prefix(b"\"")?;
    let mut escaped = false;
    let mut i = 0;
    loop {
        i += find_any(body.get(i..)?, [b'"', b'\\'])?;
        if body[i] == b'"' {
            break;
        }
        escaped = true;
        i += 2;
    }
    let raw = Raw {
        text: &body[..i],
        escaped,
    };
    Some((raw, &body[i + 1..]))
}

/// Whether the text has a quoted name (a name outside the legacy set): one opens a brace or
/// follows a comma, where a label value's quotes never stand (they follow `=`, and quotes in
/// values are escaped).
pub(crate) fn has_quoted_names(text: &[u8]) -> bool {
    // This runs over every pushed and replayed family: eight bytes at a time, the flags of
    // `{` and `,` moved one byte up onto those of quotes, the last byte's carried over.
    let mut carried = 0;
    let mut chunks = text.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let opens = bytes_equal(word, b'{') | bytes_equal(word, b',');
        if ((opens << 8) | carried) & bytes_equal(word, b'"') != 0 {
            return true;
        }
        carried = opens >> 56;
    }
    let tail = text.len() - chunks.remainder().len();
    text[tail.saturating_sub(1)..]
        .windows(2)
        .any(|w| matches!(w, [b'{' | b',', b'"']))
}

/// Appends `text`, the lines of family `family`, with its metric and label names escaped by
/// `scheme` (which leaves no name to quote, unless it is `AllowUtf8`, which changes nothing).
/// A sample name is the family's, escaped, and its suffix as it is (`_bucket`, `_sum`,
/// `_count`): escaping the whole name would turn `_bucket` into `__bucket` under the schemes
/// that double underscores, and the samples would no longer belong to their family.
pub(crate) fn escape_names(out: &mut Vec<u8>, family: &str, text: &[u8], scheme: Escaping) {
    let escaped_family = escape(family, scheme);
    for line in lines(text) {
        match line.name.strip_prefix(family) {
            Some(suffix @ ("" | "_bucket" | "_sum" | "_count")) => {
                out.extend_from_slice(escaped_family.as_bytes());
                out.extend_from_slice(suffix.as_bytes());
            }
            _ => out.extend_from_slice(escape(&line.name, scheme).as_bytes()),
        }
        if !line.labels.is_empty() {
            out.push(b'{');
            for (i, (name, value)) in label_pairs(line.labels).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(escape(&name, scheme).as_bytes());
                out.extend_from_slice(b"=\"");
                write_label_value(out, &value);
                out.push(b'"');
            }
            out.push(b'}');
        }
        out.push(b' ');
        out.extend_from_slice(line.value.as_bytes());
        out.push(b'\n');
    }
}

/// A sample value's bytes as the text has them: Go's float spellings, or an integer count.
pub(crate) fn parse_value(v: &[u8]) -> f64 {
    exact_decimal(v).unwrap_or_else(|| match v {
        b"+Inf" => f64::INFINITY,
        b"-Inf" => f64::NEG_INFINITY,
        b"NaN" => f64::NAN,
        _ => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN),
    })
}

/// [`parse_value`] of text.
pub(crate) fn parse_float(v: &str) -> f64 {
    parse_value(v.as_bytes())
}

/// `-?digits[.digits][e[+-]digits]` where the digits, at most 15, make an integer an f64 holds
/// exactly and the power of ten (at most 22) is exact too: one multiplication or division,
/// correctly rounded, then gives what the general parser gives, for about a tenth of its
/// instructions. Most values are small integers or short decimals. `None` otherwise.
pub(crate) fn exact_decimal(v: &[u8]) -> Option<f64> {
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let (negative, v) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    let (mut mantissa, mut digits, mut scale, mut point) = (0u64, 0, 0i32, false);
    let mut rest = v;
    while let Some((&b, after)) = rest.split_first() {
        match b {
            b'0'..=b'9' if digits < 15 => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                scale -= i32::from(point);
            }
            b'.' if !point => point = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        rest = after;
    }
    if digits == 0 {
        return None;
    }
    if let Some((_, exponent)) = rest.split_first() {
        let (sign, exponent) = match exponent.split_first() {
            Some((b'-', e)) => (-1, e),
            Some((b'+', e)) => (1, e),
            _ => (1, exponent),
        };
        if exponent.is_empty() || exponent.len() > 3 || !exponent.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let e = exponent
            .iter()
            .fold(0i32, |e, &d| e * 10 + i32::from(d - b'0'));
        scale += sign * e;
    }
    let m = mantissa as f64;
    let value = match scale {
        0..=22 => m * POWERS[scale as usize],
        -22..=-1 => m / POWERS[(-scale) as usize],
        _ => return None,
    };
    Some(if negative { -value } else { value })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn pairs(labels: &str) -> Vec<(String, String)> {
        label_pairs(labels)
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn lines_split_into_name_labels_and_value() {
        let text = b"a 1\nb{x=\"1 2\",le=\"+Inf\"} 3\n{\"c.d\",\"e f\"=\"g\"} -Inf\n{\"h\"} 4\n";
        let got: Vec<Line> = lines(text).collect();
        assert_eq!(
            got,
            [
                Line {
                    name: "a".into(),
                    labels: "",
                    value: "1"
                },
                Line {
                    name: "b".into(),
                    labels: "x=\"1 2\",le=\"+Inf\"",
                    value: "3"
                },
                Line {
                    name: "c.d".into(),
                    labels: "\"e f\"=\"g\"",
                    value: "-Inf"
                },
                Line {
                    name: "h".into(),
                    labels: "",
                    value: "4"
                },
            ]
        );
        assert_eq!(
            pairs(got[1].labels),
            [("x".into(), "1 2".into()), ("le".into(), "+Inf".into())]
        );
        assert_eq!(pairs(got[2].labels), [("e f".into(), "g".into())]);
    }

    #[test]
    fn escapes_are_undone() {
        let text = "m{a=\"q\\\"x\\\\y\\nz\",b=\"\"} 2\n";
        let l = lines(text.as_bytes()).next().unwrap();
        assert_eq!(
            pairs(l.labels),
            [
                ("a".into(), "q\"x\\y\nz".into()),
                ("b".into(), String::new())
            ]
        );
    }

    #[test]
    fn suffixes_stay_as_they_are() {
        let text = b"{\"my.hist_bucket\",le=\"1\"} 1\n{\"my.hist_sum\"} 2\n{\"my.hist_count\"} 1\n";
        for (scheme, family) in [
            (Escaping::Dots, "my_dot_hist"),
            (Escaping::Values, "U__my_2e_hist"),
            (Escaping::Underscores, "my_hist"),
        ] {
            let mut out = Vec::new();
            escape_names(&mut out, "my.hist", text, scheme);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{family}_bucket{{le=\"1\"}} 1\n{family}_sum 2\n{family}_count 1\n"),
                "{scheme:?}"
            );
        }
    }

    #[test]
    fn quoted_names_found_across_words() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..100_000 {
            let len = rng.usize(0..40);
            let text: Vec<u8> = (0..len).map(|_| *rng.choice(b"{,\"=a").unwrap()).collect();
            let naive = text.windows(2).any(|w| matches!(w, [b'{' | b',', b'"']));
            assert_eq!(
                has_quoted_names(&text),
                naive,
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }

    #[test]
    fn names_are_escaped_as_asked() {
        let text = b"{\"a.b\",\"c d\"=\"x\\\"\",e=\"1\"} 2\nplain{f=\"{\\\"\"} 3\n";
        assert!(has_quoted_names(text));
        assert!(!has_quoted_names(b"plain{f=\"{\\\"\",g=\",\\\"\"} 3\n"));
        let mut out = Vec::new();
        escape_names(&mut out, "a.b", text, Escaping::Underscores);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a_b{c_d=\"x\\\"\",e=\"1\"} 2\nplain{f=\"{\\\"\"} 3\n"
        );
        let mut out = Vec::new();
        escape_names(&mut out, "a.b", text, Escaping::Values);
        assert!(out.starts_with(b"U__a_2e_b{U__c_20_d="), "{out:?}");
    }

    #[test]
    fn text_of_another_shape_is_reported() {
        fn read(text: &[u8]) -> (Vec<&str>, Result<(), Unreadable>) {
            let mut seen = Vec::new();
            let done = each_series(text, "x", MetricType::Gauge, |s| seen.push(s.value));
            (seen, done)
        }
        assert_eq!(read(b"x 1\nx{a=\"b\"} 2\n"), (vec!["1", "2"], Ok(())));
        assert_eq!(read(b""), (vec![], Ok(())));
        assert_eq!(read(b"x 1\nnovalue\nx 3\n"), (vec!["1"], Err(Unreadable)));
        assert_eq!(read(b"x 1\nx 2"), (vec!["1"], Err(Unreadable)));
        assert_eq!(read(b"x{a=\"\xff\"} 1\n"), (vec![], Err(Unreadable)));
    }

    #[test]
    fn series_are_found_by_binary_search() {
        use crate::formats::expose::write_metric;
        use crate::formats::model::{Metric, Value};
        let labels = |i: usize| {
            vec![
                Label::new("a", format!("{i:03}")),
                Label::new("b", if i.is_multiple_of(3) { "x\"\n" } else { "" }),
            ]
        };
        for (mtype, value) in [
            (MetricType::Gauge, Value::Simple(1.0)),
            (
                MetricType::Summary,
                Value::Summary {
                    quantiles: vec![(0.5, 1.0), (0.9, 2.0)],
                    sum: 3.0,
                    count: 4,
                },
            ),
            (
                MetricType::Histogram,
                Value::Histogram {
                    buckets: vec![(1.0, 1), (f64::INFINITY, 2)],
                    sum: 3.0,
                    count: 2,
                    native: None,
                },
            ),
        ] {
            // Every other series, in label-set order, as the store keeps them.
            let mut text = Vec::new();
            for i in (0..200).step_by(2) {
                let m = Metric {
                    labels: labels(i),
                    value: value.clone(),
                    timestamp_ms: None,
                };
                write_metric(&mut text, "f", &m);
            }
            for i in 0..201 {
                let found = has_series(&text, "f", mtype, &labels(i));
                assert_eq!(found, Ok(i % 2 == 0 && i < 200), "{mtype} {i}");
            }
            assert_eq!(has_series(b"", "f", mtype, &labels(0)), Ok(false));
            let cut = &text[..text.len() - 1];
            assert_eq!(
                has_series(cut, "f", mtype, &labels(199)),
                Err(Unreadable),
                "{mtype}"
            );
        }
    }

    #[test]
    fn values() {
        assert_eq!(parse_float("+Inf"), f64::INFINITY);
        assert_eq!(parse_float("1.5e+09"), 1.5e9);
        assert_eq!(parse_float("-0.25"), -0.25);
        assert!(parse_float("NaN").is_nan());
        for v in [
            "0",
            "7",
            "123456789012345",
            "1234567890123456",
            "00012",
            "18446744073709551616",
        ] {
            assert_eq!(parse_float(v), v.parse::<f64>().unwrap(), "{v}");
        }
    }

    #[test]
    fn newlines_are_found_wherever_they_are() {
        for len in 0..40 {
            for at in 0..len {
                let mut b = vec![b'x'; len];
                b[at] = b'\n';
                if at + 3 < len {
                    b[at + 3] = b'\n';
                }
                assert_eq!(find_newline(&b), Some(at), "{len} {at}");
            }
            assert_eq!(find_newline(&vec![0x8a; len]), None, "{len}");
        }
    }

    #[test]
    fn values_read_as_the_general_parser_reads_them() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "1",
            "1.5",
            "-2.25",
            ".5",
            "5.",
            "1e5",
            "1E5",
            "1e+22",
            "1e22",
            "1e23",
            "1e-22",
            "1e-23",
            "123456789012345",
            "1234567890123456",
            "0.000000000000001",
            "9007199254740993",
            "1.7976931348623157e+308",
            "4.9e-324",
            "5e-324",
            "1e-400",
            "1e400",
            "00012",
            "-0.0",
            "3.14159265358979",
            "1.0000000000000002",
            "1.7e+09",
            "1e",
            "1e+",
            "e5",
            ".",
            "-",
            "",
            "1..5",
            "+1.5",
            "0x10",
            "1_000",
            "inf",
            "nan",
            "1e1000",
            "123.456e-5",
            "999999999999999e22",
            "1e-0",
            "1.e3",
        ]
        .map(String::from)
        .to_vec();
        for _ in 0..20_000 {
            let f = match rng.u8(..4) {
                0 => rng.f64() * 10f64.powi(rng.i32(-30..30)),
                1 => rng.i64(-1_000_000..1_000_000) as f64 / 10f64.powi(rng.i32(0..8)),
                2 => f64::from_bits(rng.u64(..)),
                _ => rng.u64(..1 << 53) as f64,
            };
            let mut go = Vec::new();
            crate::formats::expose::write_float(&mut go, f);
            cases.push(String::from_utf8(go).unwrap());
            cases.push(format!("{f}"));
            cases.push(format!("{f:e}"));
        }
        for v in &cases {
            let want = v.parse::<f64>().unwrap_or(f64::NAN);
            let got = parse_float(v);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{v}: {got} against {want}"
            );
        }
    }

    #[test]
    fn byte_flags_are_exact() {
        let mut rng = fastrand::Rng::with_seed(9);
        for _ in 0..10_000 {
            // Bytes near the needle, where inexact tricks flag neighbours too.
            let bytes: Vec<u8> = (0..8).map(|_| b'"' + rng.u8(..3) - 1).collect();
            let word = u64::from_le_bytes(bytes.clone().try_into().unwrap());
            let flags = bytes_equal(word, b'"');
            for (i, &b) in bytes.iter().enumerate() {
                assert_eq!(flags >> (i * 8 + 7) & 1 == 1, b == b'"', "{bytes:?}");
            }
            let want = bytes.iter().position(|&b| b == b'"' || b == b'#');
            assert_eq!(find_any(&bytes, [b'"', b'#']), want, "{bytes:?}");
        }
    }

    /// Label texts of every kind, as the store writes them: names plain and quoted, values
    /// with and without escapes, empty, long, a bound last.
    pub(crate) fn label_texts() -> Vec<String> {
        let pairs = [
            "a=\"1\"",
            "instance=\"\"",
            "job=\"some_job\"",
            "\"a.b\"=\"x\"",
            "\"é\"=\"ü\"",
            "b=\"q\\\"x\"",
            "c=\"\\\\\"",
            "d=\"\\n\"",
            "e=\"=\\\",\"",
            "le=\"+Inf\"",
            "quantile=\"0.99\"",
            "f=\"#\"",
            "g=\"a,b=\\\"c\\\"}\"",
        ];
        let long = format!("long=\"{}\"", "v".repeat(130));
        let mut rng = fastrand::Rng::with_seed(1);
        let mut texts = vec![String::new(), long.clone(), format!("a=\"1\",{long}")];
        for _ in 0..3000 {
            let n = rng.usize(1..5);
            let text: Vec<&str> = (0..n).map(|_| pairs[rng.usize(..pairs.len())]).collect();
            texts.push(text.join(","));
        }
        texts
    }

    #[test]
    fn plain_pairs_are_the_pairs_without_escapes() {
        for text in label_texts() {
            let labels = text.as_bytes();
            let raw: Vec<(Vec<u8>, Vec<u8>)> = raw_pairs(labels)
                .map(|(n, v)| (n.bytes().into_owned(), v.bytes().into_owned()))
                .collect();
            let mut plain = Vec::new();
            let read = plain_pairs(labels, |pair, n| {
                plain.push((pair[..n].to_vec(), pair[n + 2..].to_vec()));
            });
            let simple = !text.contains('\\')
                && !text.contains("{\"")
                && !text.starts_with('"')
                && !text.contains(",\"")
                && (text.is_empty() || text.len() >= 8);
            assert_eq!(read.is_some(), simple, "{text}");
            if read.is_some() && !text.is_empty() {
                assert_eq!((read, plain), (Some(labels.len()), raw.clone()), "{text}");
                // Followed by the rest of their line, they end at its brace.
                let line = format!("{text}}} 1.5");
                let end = plain_pairs(line.as_bytes(), |_, _| {});
                assert_eq!(end, Some(text.len()), "{line}");
            }
            let last = last_value(labels).map(|v| v.bytes().into_owned());
            assert_eq!(last, raw.last().map(|(_, v)| v.clone()), "{text}");
        }
    }
}
