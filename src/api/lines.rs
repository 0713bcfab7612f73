//! Turns the store's rendered sample lines of one family in one group straight into the JSON
//! API's `metrics` array, without parsing them into owned values first: listing every group
//! must not cost the event loop an allocation per label.
//!
//! The input is pushgate's own rendering (`expose::write_metric`), so its shape is known:
//! one sample per line, `name[suffix][{labels}] value`, labels sorted by name, label values
//! escaped (`\\`, `\"`, `\n`), `le`/`quantile` last, and the lines of one summary or histogram
//! contiguous and ending with its `_count` line. Names outside the legacy set (UTF-8 names) are
//! quoted with the same escapes, a quoted metric name being the first item inside the braces:
//! `{"my.metric_sum","a.b"="x"} 1`. Numbers are already spelled as Go's `fmt.Sprint` spells
//! them, so they are copied as they are.

use std::borrow::Cow;

use super::json;
use crate::expose;
use crate::model::{is_valid_metric_name, MetricType};

/// One sample line, borrowed from the text.
struct Line<'a> {
    suffix: &'a [u8],
    /// `(name, escaped value)`, `le`/`quantile` removed; a name is borrowed unless it had
    /// escapes.
    labels: Vec<(Cow<'a, str>, &'a [u8])>,
    /// The value of `le` or `quantile`, if the line has one.
    bound: Option<&'a str>,
    value: &'a str,
}

/// `spelled` is the family name as the lines spell it: bare, or (`quoted`) its escaped text.
fn parse_line<'a>(
    spelled: &[u8],
    quoted: bool,
    mtype: MetricType,
    line: &'a [u8],
) -> Option<Line<'a>> {
    // `r` is what follows the metric name: the inside of the braces (if any) and the value.
    let (suffix, in_braces, mut rest) = if quoted {
        let r = line.strip_prefix(b"{\"")?.strip_prefix(spelled)?;
        let end = r.iter().position(|&b| b == b'"')?;
        let after = &r[end + 1..];
        (&r[..end], true, after.strip_prefix(b",").unwrap_or(after))
    } else {
        let r = line.strip_prefix(spelled)?;
        let end = r.iter().position(|&b| b == b'{' || b == b' ')?;
        let (suffix, r) = r.split_at(end);
        match r.strip_prefix(b"{") {
            Some(r) => (suffix, true, r),
            None => (suffix, false, r),
        }
    };
    let mut labels = Vec::new();
    let mut bound = None;
    let special: &[u8] = match (mtype, suffix) {
        (MetricType::Histogram, b"_bucket") => b"le",
        (MetricType::Summary, b"") => b"quantile",
        _ => b"",
    };
    if in_braces {
        let mut r = rest;
        loop {
            if let Some(after) = r.strip_prefix(b"}") {
                rest = after;
                break;
            }
            let (label, after) = match r.strip_prefix(b"\"") {
                Some(q) => {
                    let end = closing_quote(q)?;
                    let name = std::str::from_utf8(&q[..end]).ok()?;
                    (unescape(name), &q[end + 1..])
                }
                None => {
                    let eq = r.iter().position(|&b| b == b'=')?;
                    (Cow::Borrowed(std::str::from_utf8(&r[..eq]).ok()?), &r[eq..])
                }
            };
            r = after.strip_prefix(b"=\"")?;
            let i = closing_quote(r)?;
            let value = &r[..i];
            r = &r[i + 1..];
            r = r.strip_prefix(b",").unwrap_or(r);
            if label.as_bytes() == special {
                bound = Some(std::str::from_utf8(value).ok()?);
            } else {
                labels.push((label, value));
            }
        }
    }
    let value = std::str::from_utf8(rest.strip_prefix(b" ")?).ok()?;
    Some(Line {
        suffix,
        labels,
        bound,
        value,
    })
}

/// The index of the first quote in `s` that is not escaped.
fn closing_quote(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while *s.get(i)? != b'"' {
        i += if s[i] == b'\\' { 2 } else { 1 };
    }
    Some(i)
}

/// Appends `escaped` with the exposition format's escapes undone.
fn unescape_into(out: &mut String, escaped: &str) {
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
}

/// A quoted name's text with its escapes undone (borrowed when it has none).
fn unescape(escaped: &str) -> Cow<'_, str> {
    if !escaped.contains('\\') {
        return Cow::Borrowed(escaped);
    }
    let mut out = String::with_capacity(escaped.len());
    unescape_into(&mut out, escaped);
    Cow::Owned(out)
}

/// Writes a label value unescaped from the exposition format, as a JSON string.
fn label_value(out: &mut Vec<u8>, escaped: &[u8], scratch: &mut String) {
    let text = std::str::from_utf8(escaped).unwrap_or_default();
    if !text.contains('\\') {
        return json::string(out, text);
    }
    scratch.clear();
    unescape_into(scratch, text);
    json::string(out, scratch);
}

fn write_labels(
    out: &mut Vec<u8>,
    first: bool,
    labels: &mut [(Cow<'_, str>, &[u8])],
    s: &mut String,
) {
    json::key(out, first, "labels");
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    out.push(b'{');
    for (i, (name, value)) in labels.iter().enumerate() {
        json::key(out, i == 0, name);
        label_value(out, value, s);
    }
    out.push(b'}');
}

/// An object of `bound -> value` strings, keys sorted as Go sorts map keys, the last of equal
/// keys kept.
fn bound_map(out: &mut Vec<u8>, entries: &mut Vec<(&str, &str)>) {
    entries.reverse();
    entries.sort_by_key(|(k, _)| *k);
    entries.dedup_by_key(|(k, _)| *k);
    out.push(b'{');
    for (i, (k, v)) in entries.iter().enumerate() {
        json::key(out, i == 0, k);
        json::string(out, v);
    }
    out.push(b'}');
}

/// Appends the JSON array of the metrics in `text`, the sample lines of family `name`.
pub fn write_metrics(out: &mut Vec<u8>, name: &str, mtype: MetricType, text: &[u8]) {
    let mut scratch = String::new();
    let mut bounds: Vec<(&str, &str)> = Vec::new();
    let mut sum = "0";
    let mut first = true;
    let quoted = !is_valid_metric_name(name);
    let spelled: Cow<'_, [u8]> = if quoted {
        let mut escaped = Vec::with_capacity(name.len());
        expose::write_label_value(&mut escaped, name);
        Cow::Owned(escaped)
    } else {
        Cow::Borrowed(name.as_bytes())
    };
    out.push(b'[');
    for raw in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Some(mut line) = parse_line(&spelled, quoted, mtype, raw) else {
            continue; // not ours; cannot happen
        };
        let complex = matches!(mtype, MetricType::Summary | MetricType::Histogram);
        if complex && line.suffix != b"_count" {
            match (line.suffix, line.bound) {
                (b"_sum", _) => sum = line.value,
                (_, Some(b)) => bounds.push((b, line.value)),
                _ => {}
            }
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'{');
        match mtype {
            MetricType::Summary => {
                json::key(out, true, "count");
                json::string(out, line.value);
                write_labels(out, false, &mut line.labels, &mut scratch);
                json::key(out, false, "quantiles");
                bound_map(out, &mut bounds);
                json::key(out, false, "sum");
                json::string(out, sum);
            }
            MetricType::Histogram => {
                json::key(out, true, "buckets");
                bound_map(out, &mut bounds);
                json::key(out, false, "count");
                json::string(out, line.value);
                write_labels(out, false, &mut line.labels, &mut scratch);
                json::key(out, false, "sum");
                json::string(out, sum);
            }
            _ => {
                write_labels(out, true, &mut line.labels, &mut scratch);
                json::key(out, false, "value");
                json::string(out, line.value);
            }
        }
        out.push(b'}');
        bounds.clear();
        sum = "0";
    }
    out.push(b']');
}
