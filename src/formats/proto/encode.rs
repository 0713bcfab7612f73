//! Writing `io.prometheus.client.MetricFamily` messages: the protobuf scrape format, and the
//! stored form of metrics whose text cannot say everything (native histograms).
//!
//! Field numbers are those listed in the module docs of `proto`. Messages are written in
//! place: a nested message gets a one-byte length, fixed up (moving its bytes) in the rare
//! case it grows past 127 bytes. Scalars are written even at their default, as client_golang
//! sets them; repeated numbers are written unpacked, as Go writes them for this proto2
//! schema.

use std::borrow::Cow;

use crate::formats::lines::{
    find_any, find_newline, first_pair, last_value, parse_value, plain_pairs, series_parts,
    split_value,
};
use crate::formats::model::{MetricType, Native, NativeBuckets, Value};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    tag(out, field, VARINT);
    varint(out, v);
}

fn sint(out: &mut Vec<u8>, field: u32, v: i64) {
    tag(out, field, VARINT);
    varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Starts a nested message; returns where its length goes, for [`end`].
#[inline]
fn begin(out: &mut Vec<u8>, field: u32) -> usize {
    tag(out, field, LEN);
    out.push(0);
    out.len() - 1
}

/// Ends the message [`begin`] started at `at`: writes its length.
#[inline]
fn end(out: &mut Vec<u8>, at: usize) {
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
        return;
    }
    widen(out, at, len);
}

/// Gives the message at `at` the length prefix of `len` bytes (more than one byte).
#[cold]
fn widen(out: &mut Vec<u8>, at: usize, len: usize) {
    let mut prefix = Vec::with_capacity(10);
    varint(&mut prefix, len as u64);
    out.splice(at..at + 1, prefix);
}

/// The type's number in the `MetricType` enum.
fn type_code(mtype: MetricType) -> u64 {
    match mtype {
        MetricType::Counter => 0,
        MetricType::Gauge => 1,
        MetricType::Summary => 2,
        MetricType::Untyped => 3,
        MetricType::Histogram => 4,
        MetricType::GaugeHistogram => 5,
    }
}

/// Starts a family message in `out` (which then takes its metrics): its name, help and type.
pub fn family_header(out: &mut Vec<u8>, name: &str, help: Option<&str>, mtype: MetricType) {
    bytes(out, 1, name.as_bytes());
    if let Some(help) = help {
        bytes(out, 2, help.as_bytes());
    }
    uint(out, 3, type_code(mtype));
}

/// Appends a finished family message with its length in front, as delimited output has it.
pub fn write_delimited(out: &mut Vec<u8>, family: &[u8]) {
    varint(out, family.len() as u64);
    out.extend_from_slice(family);
}

/// Appends one `Metric` (field 4 of a family) with `labels` (without `le`/`quantile`).
pub fn write_metric<'a>(
    out: &mut Vec<u8>,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    mtype: MetricType,
    value: &Value,
) {
    let metric = begin(out, 4);
    for (name, value) in labels {
        let pair = begin(out, 1);
        bytes(out, 1, name.as_bytes());
        bytes(out, 2, value.as_bytes());
        end(out, pair);
    }
    match value {
        Value::Simple(v) => {
            let m = begin(out, super::value_field(mtype));
            double(out, 1, *v);
            end(out, m);
        }
        Value::Summary {
            quantiles,
            sum,
            count,
        } => {
            let m = begin(out, 4);
            uint(out, 1, *count);
            double(out, 2, *sum);
            for &(q, v) in quantiles {
                let quantile = begin(out, 3);
                double(out, 1, q);
                double(out, 2, v);
                end(out, quantile);
            }
            end(out, m);
        }
        Value::Histogram {
            buckets,
            sum,
            count,
            native,
        } => {
            let m = begin(out, 7);
            uint(out, 1, *count);
            double(out, 2, *sum);
            let native = native.as_deref();
            for (i, &(le, c)) in buckets.iter().enumerate() {
                let bucket = begin(out, 3);
                uint(out, 1, c);
                double(out, 2, le);
                if let Some(f) = native.and_then(|n| n.bucket_float(i)) {
                    double(out, 4, f);
                }
                end(out, bucket);
            }
            if let Some(n) = native {
                write_native(out, n);
            }
            end(out, m);
        }
    }
    end(out, metric);
}

fn write_native(out: &mut Vec<u8>, n: &Native) {
    if let Some(f) = n.float_count() {
        double(out, 4, f);
    }
    sint(out, 5, i64::from(n.schema));
    double(out, 6, n.zero_threshold);
    uint(out, 7, n.zero_count);
    if n.zero_count_float != 0.0 {
        double(out, 8, n.zero_count_float);
    }
    write_side(out, 9, &n.negative);
    write_side(out, 12, &n.positive);
}

/// One side's spans, deltas and counts, in fields `first`, `first + 1` and `first + 2`.
fn write_side(out: &mut Vec<u8>, first: u32, side: &NativeBuckets) {
    for s in &side.spans {
        let span = begin(out, first);
        sint(out, 1, i64::from(s.offset));
        uint(out, 2, u64::from(s.length));
        end(out, span);
    }
    for &d in &side.deltas {
        sint(out, first + 1, d);
    }
    for &c in &side.counts {
        double(out, first + 2, c);
    }
}

/// Appends the metrics of stored sample text (family `family` of type `mtype`) as `Metric`
/// fields: the text form read back, straight from the lines' bytes (no series is built in
/// between): every series of a scrape goes through here.
pub fn write_text_metrics(out: &mut Vec<u8>, family: &str, mtype: MetricType, text: &[u8]) {
    // The store holds only text it rendered, which reads back whole; were it ever otherwise,
    // a scrape shows what it could read rather than failing for every family.
    match mtype.text_type() {
        MetricType::Summary => write_bounded_lines(out, family.as_bytes(), false, text),
        MetricType::Histogram => write_bounded_lines(out, family.as_bytes(), true, text),
        _ => write_simple_lines(out, super::value_field(mtype), text),
    }
}

/// The lines of a counter, gauge or untyped family, a metric each. `field` is the metric's
/// value field. Stops at the first line without the stored shape.
fn write_simple_lines(out: &mut Vec<u8>, field: u32, text: &[u8]) {
    let mut rest = text;
    while let Some(newline) = find_newline(rest) {
        let line = &rest[..newline];
        rest = &rest[newline + 1..];
        if write_simple_line(out, field, line).is_none() {
            return;
        }
    }
}

/// Appends the metric of a sample line with its value in field `field`; `None`, having
/// written nothing, where the line has not the stored shape.
fn write_simple_line(out: &mut Vec<u8>, field: u32, line: &[u8]) -> Option<()> {
    // The common shape, `name{labels} value` with plain labels, read in one pass: the labels
    // from the brace after the name to the one that closes them, then the value.
    let brace = find_any(line, [b'{', b' ']).filter(|&at| at > 0 && line[at] == b'{');
    if let Some(brace) = brace {
        let metric = begin(out, 4);
        let labels = &line[brace + 1..];
        if let Some(close) = write_plain_pairs(out, labels) {
            if let Some(value) = labels[close..].strip_prefix(b"} ") {
                write_value(out, field, parse_value(value));
                end(out, metric);
                return Some(());
            }
        }
        out.truncate(metric - 1);
    }
    let (series, value) = split_value(line)?;
    write_simple_metric(out, field, series, parse_value(value))
}

/// Appends a gauge's metric: the labels of `series` (the bare `{labels}` a group keeps for its
/// timestamp gauges, or a sample line's series part) and `value`.
pub fn write_gauge_metric(out: &mut Vec<u8>, series: &[u8], value: f64) {
    let _ = write_simple_metric(out, super::value_field(MetricType::Gauge), series, value);
}

/// Appends the metric of a line's series part (`name{labels}`, the quoted form, or the bare
/// labels `{labels}`) with `value` in its value field `field`; `None`, having written
/// nothing, where the series part has not the stored shape.
fn write_simple_metric(out: &mut Vec<u8>, field: u32, series: &[u8], value: f64) -> Option<()> {
    let (_, labels) = series_parts(series)?;
    let metric = begin(out, 4);
    if write_label_pairs(out, labels).is_none() {
        out.truncate(metric - 1);
        return None;
    }
    write_value(out, field, value);
    end(out, metric);
    Some(())
}

/// Appends the value's message (9 bytes): field 1, a double, in the metric's field `field`.
fn write_value(out: &mut Vec<u8>, field: u32, value: f64) {
    let v = value.to_le_bytes();
    out.extend_from_slice(&[
        (field << 3 | LEN) as u8,
        9,
        (1 << 3 | FIXED64) as u8,
        v[0],
        v[1],
        v[2],
        v[3],
        v[4],
        v[5],
        v[6],
        v[7],
    ]);
}

/// The lines of a summary (`histogram` false) or histogram family of name `family`, a metric
/// per series: its labels (those of its `_count` line), count, sum, then its quantiles or
/// buckets in the order written. Stops where the lines lose the stored shape.
fn write_bounded_lines(out: &mut Vec<u8>, family: &[u8], histogram: bool, text: &[u8]) {
    let bound_suffix: &[u8] = if histogram { b"_bucket" } else { b"" };
    // Where the series' bounds start, written as they come; its sum, once read.
    let mut series = out.len();
    let mut sum: &[u8] = b"0";
    let mut rest = text;
    while let Some(newline) = find_newline(rest) {
        let line = &rest[..newline];
        rest = &rest[newline + 1..];
        let Some(Sample {
            suffix,
            labels,
            value,
        }) = sample(line, family)
        else {
            break;
        };
        if *suffix == *bound_suffix {
            // The bound is the last label (`le` or `quantile`), as the store writes it.
            let Some(bound) = last_value(labels) else {
                continue;
            };
            let bound = parse_value(&bound.bytes());
            let b = begin(out, 3);
            if histogram {
                uint(out, 1, parse_count(value));
                double(out, 2, bound);
            } else {
                double(out, 1, bound);
                double(out, 2, parse_value(value));
            }
            end(out, b);
            continue;
        }
        match &*suffix {
            b"_sum" => sum = value,
            b"_count" => {
                // The message's head (labels, count, sum) comes last in the text and first in
                // the message: written after the bounds, then turned in front of them.
                let head = out.len();
                let metric = begin(out, 4);
                if write_label_pairs(out, labels).is_none() {
                    break;
                }
                let m = begin(out, if histogram { 7 } else { 4 });
                uint(out, 1, parse_count(value));
                double(out, 2, parse_value(sum));
                let head_len = out.len() - head;
                out[series..].rotate_right(head_len);
                let moved = head - series;
                end(out, m - moved);
                end(out, metric - moved);
                series = out.len();
                sum = b"0";
            }
            _ => {}
        }
    }
    // Bounds without their `_count` line are no series.
    out.truncate(series);
}

/// A sample line of a summary or histogram, split.
struct Sample<'a> {
    /// Its name's suffix after the family's name (empty when it is another's).
    suffix: Cow<'a, [u8]>,
    labels: &'a [u8],
    value: &'a [u8],
}

/// Splits a sample line of family `family`.
fn sample<'a>(line: &'a [u8], family: &[u8]) -> Option<Sample<'a>> {
    let (series, value) = split_value(line)?;
    let (name, labels) = series_parts(series)?;
    // As each series reader takes it: a name of another family has no suffix.
    let suffix = match name.bytes() {
        Cow::Borrowed(name) => Cow::Borrowed(name.strip_prefix(family).unwrap_or_default()),
        Cow::Owned(name) => Cow::Owned(name.strip_prefix(family).unwrap_or_default().to_vec()),
    };
    Some(Sample {
        suffix,
        labels,
        value,
    })
}

/// Writes the label pairs of `labels` (`a="x",b="y"`, names possibly quoted) as `LabelPair`
/// fields, unescaped; `None` where they do not have that shape.
fn write_label_pairs(out: &mut Vec<u8>, labels: &[u8]) -> Option<()> {
    let before = out.len();
    if write_plain_pairs(out, labels) == Some(labels.len()) {
        return Some(());
    }
    out.truncate(before);
    let mut rest = labels;
    while !rest.is_empty() {
        let ((name, value), after) = first_pair(rest)?;
        write_pair(
            out,
            name.len(),
            value.len(),
            |out| name.write(out),
            |out| value.write(out),
        );
        rest = after;
    }
    Some(())
}

/// Writes the label pairs [`plain_pairs`] reads from `labels`, returning where they end.
fn write_plain_pairs(out: &mut Vec<u8>, labels: &[u8]) -> Option<usize> {
    plain_pairs(labels, |pair, n| {
        let v = pair.len() - n - 2;
        let len = n + v + 4;
        if len < 0x80 {
            // Every length is one byte: `name="value` is copied at once, its `="` then
            // overwritten by the value's tag and length.
            let at = out.len() + 4 + n;
            out.extend_from_slice(&[PAIR_NAME, len as u8, PAIR_NAME, n as u8]);
            out.extend_from_slice(pair);
            out[at] = PAIR_VALUE;
            out[at + 1] = v as u8;
        } else {
            let (name, value) = (&pair[..n], &pair[n + 2..]);
            write_pair(
                out,
                n,
                v,
                |out| out.extend_from_slice(name),
                |out| out.extend_from_slice(value),
            );
        }
    })
}

/// Tags of a `LabelPair`'s fields 1 and 2, both length-delimited.
const PAIR_NAME: u8 = 1 << 3 | LEN as u8;
const PAIR_VALUE: u8 = 2 << 3 | LEN as u8;

/// Writes a `LabelPair` field whose name (`n` bytes) and value (`v` bytes) `name` and `value`
/// append.
fn write_pair(
    out: &mut Vec<u8>,
    n: usize,
    v: usize,
    name: impl FnOnce(&mut Vec<u8>),
    value: impl FnOnce(&mut Vec<u8>),
) {
    out.push(PAIR_NAME);
    varint(out, (2 + varint_len(n) + n + varint_len(v) + v) as u64);
    out.push(PAIR_NAME);
    varint(out, n as u64);
    name(out);
    out.push(PAIR_VALUE);
    varint(out, v as u64);
    value(out);
}

fn varint_len(v: usize) -> usize {
    (usize::BITS - (v | 1).leading_zeros()).div_ceil(7) as usize
}

/// A count as the text writes it: an integer, or (for a float histogram) a float.
fn parse_count(v: &[u8]) -> u64 {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| parse_value(v) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::expose;
    use crate::formats::lines::string_at;
    use crate::formats::model::{Label, Metric, MetricFamily, Span};

    fn family(name: &str, mtype: MetricType, values: Vec<Value>) -> MetricFamily {
        MetricFamily {
            name: name.into(),
            help: Some("Help \"text\".".into()),
            mtype,
            metrics: values
                .into_iter()
                .enumerate()
                .map(|(i, value)| Metric {
                    labels: vec![
                        Label::new("instance", ""),
                        Label::new("job", format!("j\"\\\n{i}")),
                    ],
                    value,
                    timestamp_ms: None,
                })
                .collect(),
        }
    }

    fn samples() -> Vec<MetricFamily> {
        vec![
            family(
                "c",
                MetricType::Counter,
                vec![Value::Simple(1.5), Value::Simple(0.0)],
            ),
            family("g", MetricType::Gauge, vec![Value::Simple(-2.0)]),
            family("u", MetricType::Untyped, vec![Value::Simple(f64::INFINITY)]),
            family(
                "s",
                MetricType::Summary,
                vec![Value::Summary {
                    quantiles: vec![(0.5, 1.0), (0.99, 2.0)],
                    sum: 3.5,
                    count: 4,
                }],
            ),
            family(
                "h",
                MetricType::Histogram,
                vec![Value::Histogram {
                    buckets: vec![(0.1, 1), (1.0, 3), (f64::INFINITY, 5)],
                    sum: 2.5,
                    count: 5,
                    native: None,
                }],
            ),
            family(
                "gh",
                MetricType::GaugeHistogram,
                vec![Value::Histogram {
                    buckets: vec![(2.0, 1), (f64::INFINITY, 3)],
                    sum: -6.0,
                    count: 3,
                    native: None,
                }],
            ),
        ]
    }

    fn delimited(f: &MetricFamily, metrics: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut msg = Vec::new();
        family_header(&mut msg, &f.name, f.help.as_deref(), f.mtype);
        metrics(&mut msg);
        let mut out = Vec::new();
        write_delimited(&mut out, &msg);
        out
    }

    #[test]
    fn model_and_text_forms_decode_to_what_was_written() {
        for f in samples() {
            let from_model = delimited(&f, |out| {
                for m in &f.metrics {
                    let labels = m.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
                    write_metric(out, labels, f.mtype, &m.value);
                }
            });
            assert_eq!(
                super::super::decode(&from_model).unwrap(),
                std::slice::from_ref(&f)
            );
            let mut text = Vec::new();
            expose::write_metrics(&mut text, &f.name, &f.metrics);
            let from_text = delimited(&f, |out| write_text_metrics(out, &f.name, f.mtype, &text));
            assert_eq!(from_text, from_model, "{}", f.name);
        }
    }

    #[test]
    fn strings_end_at_their_unescaped_quote() {
        let (raw, after) = string_at(br#""a\"b\\"c"#).unwrap();
        let mut out = Vec::new();
        raw.write(&mut out);
        assert_eq!(
            (out.as_slice(), raw.len(), after),
            (&br#"a"b\"#[..], 4, &b"c"[..])
        );
        for unterminated in [&br#""abc"#[..], br#""abc\"#, br#""ab\""#, b"abc"] {
            assert!(string_at(unterminated).is_none());
        }
        // A line that is not of the stored shape ends the family's metrics.
        let mut out = Vec::new();
        write_simple_lines(&mut out, 2, b"g{a=\"1\"} 1\ng{a=\"2} 2\ng 3\n");
        let mut one = Vec::new();
        write_simple_lines(&mut one, 2, b"g{a=\"1\"} 1\n");
        assert_eq!(out, one);
    }

    #[test]
    fn native_histograms_and_long_messages() {
        let native = Native {
            count_float: 0.0,
            bucket_floats: vec![],
            schema: -3,
            zero_threshold: 1e-128,
            zero_count: 2,
            zero_count_float: 0.0,
            negative: NativeBuckets {
                spans: vec![Span {
                    offset: -2,
                    length: 2,
                }],
                deltas: vec![3, -1],
                counts: vec![],
            },
            positive: NativeBuckets {
                spans: (0..40)
                    .map(|i| Span {
                        offset: i,
                        length: 1,
                    })
                    .collect(),
                deltas: (0..40).map(|i| i - 20).collect(),
                counts: vec![],
            },
        };
        let float = Native {
            count_float: 7.5,
            bucket_floats: vec![0.5],
            zero_count_float: 1.5,
            positive: NativeBuckets {
                spans: vec![Span::default()],
                deltas: vec![],
                counts: vec![],
            },
            ..Default::default()
        };
        for native in [native, float] {
            let f = family(
                "n",
                MetricType::Histogram,
                vec![Value::Histogram {
                    buckets: vec![(1.0, 0)],
                    sum: 9.0,
                    count: 44,
                    native: Some(Box::new(native)),
                }],
            );
            let m = &f.metrics[0];
            let mut stored = Vec::new();
            let labels = m.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
            write_metric(&mut stored, labels, f.mtype, &m.value);
            let msg = delimited(&f, |out| out.extend_from_slice(&stored));
            assert_eq!(
                super::super::decode(&msg).unwrap(),
                std::slice::from_ref(&f)
            );
            // The metrics alone, as the store keeps them, read back too.
            assert_eq!(
                super::super::decode_metrics(&stored, &f.name, f.mtype).unwrap(),
                f.metrics
            );
        }
    }

    /// Random families of every type, with names and label values that need escapes or
    /// quoting, rendered as the store keeps them: read back into protobuf, they decode to
    /// what was rendered.
    #[test]
    fn random_families_survive_the_text_form() {
        use crate::formats::names::Validation;
        let mut rng = fastrand::Rng::with_seed(7);
        let pick =
            |rng: &mut fastrand::Rng, from: &[&str]| from[rng.usize(..from.len())].to_string();
        let names = ["a", "b_c", "x.y", "q\"w", "n\\m", "é"];
        let values = ["", "v", "a b", "\"", "\\", "\n", "x,y=\"z\"}", "ü"];
        let float = |rng: &mut fastrand::Rng| match rng.u8(..6) {
            0 => f64::INFINITY,
            1 => f64::NEG_INFINITY,
            2 => rng.f64() * 1e-9,
            3 => (rng.i64(-1_000_000..1_000_000)) as f64,
            _ => rng.f64() * 1e12,
        };
        for round in 0..300 {
            let mtype = [
                MetricType::Counter,
                MetricType::Gauge,
                MetricType::Untyped,
                MetricType::Summary,
                MetricType::Histogram,
                MetricType::GaugeHistogram,
            ][round % 6];
            let name = format!("{}{round}", pick(&mut rng, &names));
            let metrics = (0..rng.usize(1..4))
                .map(|i| {
                    let mut labels: Vec<Label> = (0..rng.usize(0..4))
                        .map(|j| {
                            Label::new(
                                format!("{}{j}", pick(&mut rng, &names)),
                                pick(&mut rng, &values),
                            )
                        })
                        .collect();
                    labels.push(Label::new("series", i.to_string()));
                    labels.sort();
                    let value = match mtype {
                        MetricType::Summary => Value::Summary {
                            quantiles: (0..rng.usize(0..3))
                                .map(|k| (k as f64 / 4.0, float(&mut rng)))
                                .collect(),
                            sum: float(&mut rng),
                            count: rng.u64(..1 << 40),
                        },
                        MetricType::Histogram | MetricType::GaugeHistogram => {
                            let count = rng.u64(..1 << 40);
                            let mut buckets: Vec<(f64, u64)> = (0..rng.usize(0..3))
                                .map(|k| (k as f64 * 0.5, rng.u64(..=count)))
                                .collect();
                            buckets.push((f64::INFINITY, count));
                            Value::Histogram {
                                buckets,
                                sum: float(&mut rng),
                                count,
                                native: None,
                            }
                        }
                        _ => Value::Simple(float(&mut rng)),
                    };
                    Metric {
                        labels,
                        value,
                        timestamp_ms: None,
                    }
                })
                .collect();
            let f = MetricFamily {
                name,
                help: None,
                mtype,
                metrics,
            };
            let mut text = Vec::new();
            expose::write_metrics(&mut text, &f.name, &f.metrics);
            let msg = delimited(&f, |out| write_text_metrics(out, &f.name, f.mtype, &text));
            let back = super::super::decode_with(&msg, Validation::Utf8)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&text)));
            assert_eq!(
                back,
                std::slice::from_ref(&f),
                "{}",
                String::from_utf8_lossy(&text)
            );
        }
    }

    #[test]
    fn lines_encode_as_the_model_does() {
        for text in crate::formats::lines::tests::label_texts() {
            let labels: Vec<_> = crate::formats::lines::label_pairs(&text).collect();
            let labels = || labels.iter().map(|(n, v)| (n.as_ref(), v.as_ref()));
            let (plain, quoted) = match text.as_str() {
                "" => ("m".to_string(), "{\"m.x\"}".to_string()),
                _ => (format!("m{{{text}}}"), format!("{{\"m.x\",{text}}}")),
            };
            for value in ["NaN", "+Inf", "-Inf", "-0", "1.5", "17"] {
                let mut model = Vec::new();
                let v = Value::Simple(crate::formats::lines::parse_float(value));
                write_metric(&mut model, labels(), MetricType::Gauge, &v);
                for series in [&plain, &quoted] {
                    let mut got = Vec::new();
                    write_simple_lines(&mut got, 2, format!("{series} {value}\n").as_bytes());
                    assert_eq!(got, model, "{series} {value}");
                }
            }
        }
    }

    #[test]
    fn summaries_and_histograms_with_special_values_and_quoted_names() {
        let summary = b"s{a=\"x\",quantile=\"0.5\"} NaN\ns{a=\"x\",quantile=\"0.9\"} +Inf\n\
            s_sum{a=\"x\"} -Inf\ns_count{a=\"x\"} 3\ns_count{a=\"y\\n\"} 0\n\
            s{a=\"z\",quantile=\"1\"} 1\n";
        let histogram = b"{\"h.x_bucket\",\"l\\\"\xc3\xa9\"=\"\",le=\"1\"} 1\n\
            {\"h.x_bucket\",\"l\\\"\xc3\xa9\"=\"\",le=\"+Inf\"} 2\n\
            {\"h.x_sum\",\"l\\\"\xc3\xa9\"=\"\"} NaN\n{\"h.x_count\",\"l\\\"\xc3\xa9\"=\"\"} 2\n";
        let summaries = [
            (
                vec![("a", "x")],
                Value::Summary {
                    quantiles: vec![(0.5, f64::NAN), (0.9, f64::INFINITY)],
                    sum: f64::NEG_INFINITY,
                    count: 3,
                },
            ),
            (
                vec![("a", "y\n")],
                Value::Summary {
                    quantiles: vec![],
                    sum: 0.0,
                    count: 0,
                },
            ),
        ];
        let histograms = [(
            vec![("l\"é", "")],
            Value::Histogram {
                buckets: vec![(1.0, 1), (f64::INFINITY, 2)],
                sum: f64::NAN,
                count: 2,
                native: None,
            },
        )];
        for (family, mtype, text, metrics) in [
            ("s", MetricType::Summary, &summary[..], &summaries[..]),
            (
                "h.x",
                MetricType::Histogram,
                &histogram[..],
                &histograms[..],
            ),
        ] {
            let mut want = Vec::new();
            for (labels, value) in metrics {
                write_metric(&mut want, labels.iter().copied(), mtype, value);
            }
            let mut got = Vec::new();
            write_text_metrics(&mut got, family, mtype, text);
            // The quantile without its `_count` line is no series.
            assert_eq!(got, want, "{family}");
        }
    }
}
