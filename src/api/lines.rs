//! Turns the store's rendered sample lines of one family in one group straight into the JSON
//! API's `metrics` array, without parsing them into owned values first: listing every group
//! must not cost the event loop an allocation per label.
//!
//! The input is pushgate's own rendering (`expose::write_metric`), so its shape is known:
//! one sample per line, `name[suffix][{labels}] value`, labels sorted by name, label values
//! escaped (`\\`, `\"`, `\n`), `le`/`quantile` last, and the lines of one summary or histogram
//! contiguous and ending with its `_count` line. Numbers are already spelled as Go's
//! `fmt.Sprint` spells them, so they are copied as they are.

use super::json;
use crate::model::MetricType;

/// One sample line, borrowed from the text.
struct Line<'a> {
    suffix: &'a [u8],
    /// `(name, escaped value)`, `le`/`quantile` removed.
    labels: Vec<(&'a str, &'a [u8])>,
    /// The value of `le` or `quantile`, if the line has one.
    bound: Option<&'a str>,
    value: &'a str,
}

fn parse_line<'a>(name: &str, mtype: MetricType, line: &'a [u8]) -> Option<Line<'a>> {
    let rest = line.strip_prefix(name.as_bytes())?;
    let end = rest.iter().position(|&b| b == b'{' || b == b' ')?;
    let (suffix, mut rest) = rest.split_at(end);
    let mut labels = Vec::new();
    let mut bound = None;
    let special: &[u8] = match (mtype, suffix) {
        (MetricType::Histogram, b"_bucket") => b"le",
        (MetricType::Summary, b"") => b"quantile",
        _ => b"",
    };
    if let Some(mut r) = rest.strip_prefix(b"{") {
        loop {
            if let Some(after) = r.strip_prefix(b"}") {
                rest = after;
                break;
            }
            let eq = r.iter().position(|&b| b == b'=')?;
            let label = &r[..eq];
            r = r[eq..].strip_prefix(b"=\"")?;
            // The closing quote is the first one not escaped.
            let mut i = 0;
            while *r.get(i)? != b'"' {
                i += if r[i] == b'\\' { 2 } else { 1 };
            }
            let value = &r[..i];
            r = &r[i + 1..];
            r = r.strip_prefix(b",").unwrap_or(r);
            if label == special {
                bound = Some(std::str::from_utf8(value).ok()?);
            } else {
                labels.push((std::str::from_utf8(label).ok()?, value));
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

/// Writes a label value unescaped from the exposition format, as a JSON string.
fn label_value(out: &mut Vec<u8>, escaped: &[u8], scratch: &mut String) {
    let text = std::str::from_utf8(escaped).unwrap_or_default();
    if !text.contains('\\') {
        return json::string(out, text);
    }
    scratch.clear();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => scratch.push('\n'),
                Some(other) => scratch.push(other),
                None => {}
            },
            (c, false) => scratch.push(c),
        }
    }
    json::string(out, scratch);
}

fn write_labels(out: &mut Vec<u8>, first: bool, labels: &mut [(&str, &[u8])], s: &mut String) {
    json::key(out, first, "labels");
    labels.sort_by_key(|(n, _)| *n);
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
    out.push(b'[');
    for raw in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Some(mut line) = parse_line(name, mtype, raw) else {
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
