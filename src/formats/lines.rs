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
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = ONES << 7;
    let mut chunks = b.chunks_exact(8);
    for (i, chunk) in (&mut chunks).enumerate() {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ (ONES * u64::from(needle));
        // A byte of `x` is zero where `chunk` has `needle`; the lowest flag is exact.
        let flags = x.wrapping_sub(ONES) & !x & HIGHS;
        if flags != 0 {
            return Some(i * 8 + (flags.trailing_zeros() / 8) as usize);
        }
    }
    let tail = chunks.remainder();
    let at = b.len() - tail.len();
    tail.iter().position(|&c| c == needle).map(|p| at + p)
}

/// `s` split at the first (or, with `last`, the last) byte `b`, which must be ASCII.
fn split_at_byte(s: &str, b: u8, last: bool) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let at = if last {
        bytes.iter().rposition(|&c| c == b)
    } else {
        bytes.iter().position(|&c| c == b)
    }?;
    Some((&s[..at], &s[at + 1..]))
}

fn line(l: &str) -> Option<Line<'_>> {
    let (series, value) = split_at_byte(l, b' ', true)?;
    let (name, labels) = match series.strip_prefix('{') {
        Some(rest) => {
            let (name, after) = string_at(rest.as_bytes())?;
            let labels = rest[rest.len() - after.len()..].strip_suffix('}')?;
            (name.unescaped(), labels.strip_prefix(',').unwrap_or(labels))
        }
        None => match split_at_byte(series, b'{', false) {
            Some((name, labels)) => (Cow::Borrowed(name), labels.strip_suffix('}')?),
            None => (Cow::Borrowed(series), ""),
        },
    };
    Some(Line {
        name,
        labels,
        value,
    })
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
/// unescaped. Labels not of that shape end the iteration; [`RawPairs::broken`] tells.
pub(crate) fn raw_pairs(labels: &[u8]) -> RawPairs<'_> {
    RawPairs {
        rest: labels,
        broken: false,
    }
}

/// The iterator of [`raw_pairs`].
pub(crate) struct RawPairs<'a> {
    rest: &'a [u8],
    broken: bool,
}

impl RawPairs<'_> {
    /// Whether the iteration ended at labels not of the stored shape.
    pub(crate) fn broken(&self) -> bool {
        self.broken
    }
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
                self.broken = true;
                self.rest = &[];
                None
            }
        }
    }
}

/// The first label pair of `labels` and what follows it (its comma skipped).
#[inline]
fn first_pair(labels: &[u8]) -> Option<((Raw<'_>, Raw<'_>), &[u8])> {
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

    /// It unescaped, as text (the store's text is UTF-8 throughout).
    fn unescaped(&self) -> Cow<'a, str> {
        if !self.escaped {
            return String::from_utf8_lossy(self.text);
        }
        let mut out = Vec::with_capacity(self.text.len());
        self.write(&mut out);
        Cow::Owned(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Splits a leading `"..."` off `s`: the string inside and what follows the closing quote.
pub(crate) fn string_at(s: &[u8]) -> Option<(Raw<'_>, &[u8])> {
    let body = s.strip_prefix(b"\"")?;
    let mut escaped = false;
    let mut i = 0;
    loop {
        i += body
            .get(i..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
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
    // `str` searches are vectorised: this runs over every pushed and replayed family.
    let text = std::str::from_utf8(text).unwrap_or_default();
    text.contains("{\"") || text.contains(",\"")
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

/// [`parse_float`] of a value's bytes.
pub(crate) fn parse_value(v: &[u8]) -> f64 {
    std::str::from_utf8(v).map_or(f64::NAN, parse_float)
}

/// A sample value as the text has it: Go's float spellings, or an integer count.
pub(crate) fn parse_float(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        // Most values are small integers, exact in an f64 up to 15 digits: no need for the
        // general parser, which costs about 100 instructions a value.
        _ if !v.is_empty() && v.len() <= 15 && v.bytes().all(|b| b.is_ascii_digit()) => {
            v.bytes().fold(0u64, |n, b| n * 10 + u64::from(b - b'0')) as f64
        }
        _ => v.parse().unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
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
}
