//! Delimited protobuf push bodies: `io.prometheus.client.MetricFamily` messages decoded into
//! the model by hand, with no protobuf library.
//!
//! A body is a sequence of messages, each preceded by its length as a varint (what Go's
//! `pbutil.WriteDelimited` writes, and client_golang pushes by default). The schema is
//! client_model's `metrics.proto` (proto2); field numbers and what is made of them:
//!
//! 1. `MetricFamily`: `name` 1 (required here, and a valid metric name), `help` 2, `type` 3
//!    (0 counter, the default; 1 gauge; 2 summary; 3 untyped; 4 histogram; 5 gauge histogram,
//!    whose metrics are read as a histogram's), `metric` 4 (repeated), `unit` 5 (ignored).
//! 2. `Metric`: `label` 1 (repeated `LabelPair`: `name` 1, `value` 2), `gauge` 2, `counter` 3,
//!    `summary` 4, `untyped` 5, `histogram` 7, `timestamp_ms` 6 (kept, so `check` can refuse
//!    it). Only the value message named by the family's type is read, and it must be present.
//! 3. `Gauge`, `Counter`, `Untyped`: `value` 1 (double).
//! 4. `Summary`: `sample_count` 1, `sample_sum` 2, `quantile` 3 (repeated: `quantile` 1,
//!    `value` 2).
//! 5. `Histogram`: `sample_count` 1, `sample_count_float` 4, `sample_sum` 2, `bucket` 3
//!    (repeated: `cumulative_count` 1, `cumulative_count_float` 4, `upper_bound` 2), and the
//!    native part: `schema` 5 (sint32), `zero_threshold` 6, `zero_count` 7,
//!    `zero_count_float` 8, `negative_span` 9 and `positive_span` 12 (repeated `BucketSpan`:
//!    `offset` 1 sint32, `length` 2), `negative_delta` 10 and `positive_delta` 13 (sint64),
//!    `negative_count` 11 and `positive_count` 14 (double). Any of fields 4-14 makes a
//!    [`Native`] part; its spans must cover exactly as many buckets as there are deltas or
//!    counts (the no-op span, offset 0 and length 0, covers none).
//! 6. Skipped: exemplars, created timestamps, and unknown fields of every wire type (groups
//!    nested at most `wire::MAX_GROUP_DEPTH` deep).
//!
//! Proto2 rules apply: a scalar seen twice keeps its last value, a message seen twice is
//! merged (repeated fields append), an absent field has its default, repeated numbers may come
//! packed or not. A field of the wrong wire type, a truncated or overlong item, or a bad name
//! is a [`DecodeError`] naming the byte offset. Metric and label names are checked as the text
//! parser checks them (legacy names, or with UTF-8 names any non-empty UTF-8); everything else
//! about the series (timestamps, repeated labels, collisions) is `check`'s business.

pub mod encode;
mod wire;

#[cfg(test)]
mod tests;

use crate::formats::model::{
    Label, Metric, MetricFamily, MetricType, Native, NativeBuckets, Span, Value,
};
use crate::formats::names::Validation;
pub use wire::DecodeError;
use wire::{fail, Field, Reader, Result};

/// Decodes a whole body with legacy names. Families come out in body order, repeated names
/// included (the last one wins when the push is sanitized).
pub fn decode(body: &[u8]) -> Result<Vec<MetricFamily>> {
    decode_with(body, Validation::Legacy)
}

/// [`decode`] with names as `names` allows them.
pub fn decode_with(body: &[u8], names: Validation) -> Result<Vec<MetricFamily>> {
    let mut r = Reader::new(body);
    let mut families = Vec::new();
    while !r.done() {
        let start = r.at();
        let len = r.varint()?;
        let mut msg = r.take(len, "MetricFamily message")?;
        families.push(family(&mut msg, start, names)?);
    }
    Ok(families)
}

fn family(r: &mut Reader<'_>, start: usize, names: Validation) -> Result<MetricFamily> {
    let mut name = None;
    let mut help = None;
    let mut mtype = (0, start);
    let mut metrics = Vec::new();
    while !r.done() {
        let f = r.field("MetricFamily")?;
        match f.num {
            1 => name = Some((r.bytes(&f)?, f.at)),
            2 => help = Some(r.bytes(&f)?),
            3 => mtype = (r.int32(&f)?, f.at),
            4 => metrics.push(r.message(&f)?),
            _ => r.skip(&f)?,
        }
    }
    let name = match name {
        None | Some((b"", _)) => return fail(start, "metric family without a name"),
        Some((bytes, at)) => match std::str::from_utf8(bytes) {
            Ok(name) if names.is_valid_metric_name(name) => name.to_string(),
            _ => {
                let shown = String::from_utf8_lossy(bytes);
                return fail(at, format!("invalid metric name {shown:?}"));
            }
        },
    };
    let mtype = match mtype.0 {
        0 => MetricType::Counter,
        1 => MetricType::Gauge,
        2 => MetricType::Summary,
        3 => MetricType::Untyped,
        4 => MetricType::Histogram,
        5 => MetricType::GaugeHistogram,
        other => {
            return fail(
                mtype.1,
                format!("metric family {name} has unknown type {other}"),
            )
        }
    };
    let kind = Kind {
        family: &name,
        names,
        mtype,
    };
    let metrics = metrics
        .iter_mut()
        .map(|m| metric(m, &kind))
        .collect::<Result<_>>()?;
    Ok(MetricFamily {
        // Go keeps HELP bytes as they are; a String cannot hold invalid UTF-8, so such help
        // text gets U+FFFD, as in the text parser.
        help: help.map(|h| String::from_utf8_lossy(h).into_owned()),
        name,
        mtype,
        metrics,
    })
}

/// What the metrics of one family hold.
struct Kind<'a> {
    family: &'a str,
    /// Which label names the metrics may have.
    names: Validation,
    mtype: MetricType,
}

/// The `Metric` field that holds a value of type `mtype`.
fn value_field(mtype: MetricType) -> u32 {
    match mtype {
        MetricType::Gauge => 2,
        MetricType::Counter => 3,
        MetricType::Summary => 4,
        MetricType::Untyped => 5,
        MetricType::Histogram | MetricType::GaugeHistogram => 7,
    }
}

/// Reads back the metrics of family `family` (of type `mtype`) that the store keeps as
/// protobuf (`Metric` fields, as [`encode::write_metric`] writes them) because their text
/// cannot say everything. Their names were checked when they were pushed.
pub fn decode_metrics(stored: &[u8], family: &str, mtype: MetricType) -> Result<Vec<Metric>> {
    let kind = Kind {
        family,
        names: Validation::Utf8,
        mtype,
    };
    let mut r = Reader::new(stored);
    let mut metrics = Vec::new();
    while !r.done() {
        let f = r.field("MetricFamily")?;
        match f.num {
            4 => metrics.push(metric(&mut r.message(&f)?, &kind)?),
            _ => r.skip(&f)?,
        }
    }
    Ok(metrics)
}

fn metric(r: &mut Reader<'_>, kind: &Kind<'_>) -> Result<Metric> {
    let start = r.at();
    let mut labels = Vec::new();
    let mut timestamp_ms = None;
    let mut value: Option<Value> = None;
    while !r.done() {
        let f = r.field("Metric")?;
        match f.num {
            1 => labels.push(label(&mut r.message(&f)?, kind)?),
            6 => timestamp_ms = Some(r.int64(&f)?),
            2..=5 | 7 => {
                let mut m = r.message(&f)?;
                if f.num == value_field(kind.mtype) {
                    merge_value(&mut m, kind, &mut value)?;
                }
            }
            _ => r.skip(&f)?,
        }
    }
    let Some(value) = value else {
        return fail(
            start,
            format!(
                "metric of {} {} without a {} value",
                kind.mtype, kind.family, kind.mtype
            ),
        );
    };
    let value = match value {
        Value::Histogram {
            buckets,
            sum,
            count,
            native: Some(native),
        } => {
            if let Err(reason) = check_native(&native) {
                return fail(start, format!("histogram {}: {reason}", kind.family));
            }
            Value::Histogram {
                buckets,
                sum,
                count,
                native: Some(native),
            }
        }
        v => v,
    };
    Ok(Metric {
        labels,
        value,
        timestamp_ms,
    })
}

fn label(r: &mut Reader<'_>, kind: &Kind<'_>) -> Result<Label> {
    let family = kind.family;
    let start = r.at();
    let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
    while !r.done() {
        let f = r.field("LabelPair")?;
        match f.num {
            1 => name = r.bytes(&f)?,
            2 => value = r.bytes(&f)?,
            _ => r.skip(&f)?,
        }
    }
    let name = match std::str::from_utf8(name) {
        Ok("__name__") => return fail(start, "label name \"__name__\" is reserved"),
        Ok(n) if kind.names.is_valid_label_name(n) => n,
        _ => {
            let shown = String::from_utf8_lossy(name);
            return fail(
                start,
                format!("invalid label name {shown:?} for metric {family:?}"),
            );
        }
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return fail(
            start,
            format!("value of label {name} for metric {family:?} is not UTF-8"),
        );
    };
    Ok(Label::new(name, value))
}

/// Reads one value message into `value`, merging with an earlier one as proto2 does.
fn merge_value(r: &mut Reader<'_>, kind: &Kind<'_>, value: &mut Option<Value>) -> Result<()> {
    match kind.mtype {
        MetricType::Summary => {
            let v = value.get_or_insert(Value::Summary {
                quantiles: Vec::new(),
                sum: 0.0,
                count: 0,
            });
            if let Value::Summary {
                quantiles,
                sum,
                count,
            } = v
            {
                summary(r, quantiles, sum, count)?;
            }
        }
        MetricType::Histogram | MetricType::GaugeHistogram => {
            let v = value.get_or_insert(Value::Histogram {
                buckets: Vec::new(),
                sum: 0.0,
                count: 0,
                native: None,
            });
            if let Value::Histogram {
                buckets,
                sum,
                count,
                native,
            } = v
            {
                histogram(r, buckets, sum, count, native)?;
            }
        }
        _ => {
            let v = value.get_or_insert(Value::Simple(0.0));
            while !r.done() {
                let f = r.field(kind.mtype.as_str())?;
                match (f.num, &mut *v) {
                    (1, Value::Simple(x)) => *x = r.double(&f)?,
                    _ => r.skip(&f)?,
                }
            }
        }
    }
    Ok(())
}

fn summary(
    r: &mut Reader<'_>,
    quantiles: &mut Vec<(f64, f64)>,
    sum: &mut f64,
    count: &mut u64,
) -> Result<()> {
    while !r.done() {
        let f = r.field("Summary")?;
        match f.num {
            1 => *count = r.uint64(&f)?,
            2 => *sum = r.double(&f)?,
            3 => {
                let mut q = r.message(&f)?;
                let (mut quantile, mut value) = (0.0, 0.0);
                while !q.done() {
                    let f = q.field("Quantile")?;
                    match f.num {
                        1 => quantile = q.double(&f)?,
                        2 => value = q.double(&f)?,
                        _ => q.skip(&f)?,
                    }
                }
                quantiles.push((quantile, value));
            }
            _ => r.skip(&f)?,
        }
    }
    Ok(())
}

fn histogram(
    r: &mut Reader<'_>,
    buckets: &mut Vec<(f64, u64)>,
    sum: &mut f64,
    count: &mut u64,
    native: &mut Option<Box<Native>>,
) -> Result<()> {
    while !r.done() {
        let f = r.field("Histogram")?;
        match f.num {
            1 => *count = r.uint64(&f)?,
            2 => *sum = r.double(&f)?,
            3 => bucket(&mut r.message(&f)?, buckets, native)?,
            4..=14 => native_field(r, &f, native.get_or_insert_with(Box::default))?,
            _ => r.skip(&f)?,
        }
    }
    Ok(())
}

fn native_field(r: &mut Reader<'_>, f: &Field, n: &mut Native) -> Result<()> {
    match f.num {
        4 => n.count_float = r.double(f)?,
        5 => n.schema = r.sint32(f)?,
        6 => n.zero_threshold = r.double(f)?,
        7 => n.zero_count = r.uint64(f)?,
        8 => n.zero_count_float = r.double(f)?,
        9 => n.negative.spans.push(span(&mut r.message(f)?)?),
        10 => r.repeated_sint64(f, &mut n.negative.deltas)?,
        11 => r.repeated_double(f, &mut n.negative.counts)?,
        12 => n.positive.spans.push(span(&mut r.message(f)?)?),
        13 => r.repeated_sint64(f, &mut n.positive.deltas)?,
        14 => r.repeated_double(f, &mut n.positive.counts)?,
        _ => r.skip(f)?,
    }
    Ok(())
}

fn bucket(
    r: &mut Reader<'_>,
    buckets: &mut Vec<(f64, u64)>,
    native: &mut Option<Box<Native>>,
) -> Result<()> {
    let (mut upper, mut count, mut float) = (0.0, 0, None);
    while !r.done() {
        let f = r.field("Bucket")?;
        match f.num {
            1 => count = r.uint64(&f)?,
            2 => upper = r.double(&f)?,
            4 => float = Some(r.double(&f)?),
            _ => r.skip(&f)?,
        }
    }
    let index = buckets.len();
    buckets.push((upper, count));
    // Float counts live beside the buckets, one per bucket once any bucket has one.
    let floats = match (float, native.as_deref_mut()) {
        (Some(_), _) => &mut native.get_or_insert_with(Box::default).bucket_floats,
        (None, Some(n)) if !n.bucket_floats.is_empty() => &mut n.bucket_floats,
        (None, _) => return Ok(()),
    };
    floats.resize(index, 0.0);
    floats.push(float.unwrap_or(0.0));
    Ok(())
}

fn span(r: &mut Reader<'_>) -> Result<Span> {
    let mut span = Span::default();
    while !r.done() {
        let f = r.field("BucketSpan")?;
        match f.num {
            1 => span.offset = r.sint32(&f)?,
            2 => span.length = r.uint32(&f)?,
            _ => r.skip(&f)?,
        }
    }
    Ok(span)
}

/// A native histogram that could not be expanded into buckets is refused, so no scrape has
/// to hand it on.
fn check_native(n: &Native) -> std::result::Result<(), String> {
    for (side, b) in [("negative", &n.negative), ("positive", &n.positive)] {
        check_side(side, b)?;
    }
    Ok(())
}

fn check_side(side: &str, b: &NativeBuckets) -> std::result::Result<(), String> {
    if !b.deltas.is_empty() && !b.counts.is_empty() {
        return Err(format!("both {side} deltas and {side} counts"));
    }
    let covered: u64 = b.spans.iter().map(|s| u64::from(s.length)).sum();
    let given = b.deltas.len().max(b.counts.len());
    if covered != given as u64 {
        return Err(format!(
            "{side} spans cover {covered} buckets, but {given} bucket counts are given"
        ));
    }
    Ok(())
}
