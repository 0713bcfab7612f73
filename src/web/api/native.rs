//! Histograms whose text cannot say everything (native buckets, float counts) in the JSON
//! API, as upstream's newest release lists them, read from the protobuf form the store keeps
//! of them (`store::Member::native`) rather than from their classic view.
//!
//! Each metric has `buckets`, `count`, `labels` and `sum`. Which `buckets`:
//! - With native buckets (a span on either side): an array of
//!   `[boundaries, "lower", "upper", "count"]`, one per bucket whose count is not 0: the
//!   negative buckets from the lowest up, the zero bucket (`[-threshold, threshold]`) unless
//!   its count is 0, then the positive buckets. `boundaries` tells which ends the bucket
//!   holds: 0 the upper, 1 the lower, 2 neither, 3 both. A bucket holds the end farther from
//!   zero, the zero bucket both. Bucket `i` ends at 2^(i·2^-schema), and starts where `i - 1`
//!   ends; negative buckets are their mirror images.
//! - Without: the classic buckets as pushed, `upper bound -> cumulative count`.
//!
//! A float histogram (a float count or float zero count above 0) shows float counts; a
//! classic bucket or count shows its float form where that is above 0. Numbers are spelled
//! as Go's `fmt.Sprint` spells them.
//!
//! Where upstream differs: it reads the boundaries of schemas 1 to 8 from a table whose
//! entries are at times a unit or two off in the last place, so such a boundary can differ
//! from the exact one here in its last digit or two; schemas it has no bounds for (above 8,
//! or custom buckets) can fail its whole answer, and are computed here by the same formula.

use std::borrow::Cow;

use super::json;
use super::samples::{bound_map, write_labels, Labels};
use crate::formats::expose::write_u64;
use crate::formats::model::{Metric, MetricType, Native, NativeBuckets, Value};
use crate::formats::proto::{self, DecodeError};

/// Appends the JSON array of the metrics of histogram `name` kept as protobuf in `stored`.
/// `Err`, having written nothing, if they cannot be read back (the store holds none such).
pub(super) fn write_metrics(
    out: &mut Vec<u8>,
    name: &str,
    stored: &[u8],
) -> Result<(), DecodeError> {
    let metrics = proto::decode_metrics(stored, name, MetricType::Histogram)?;
    out.push(b'[');
    for (i, m) in metrics.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_metric(out, m);
    }
    out.push(b']');
    Ok(())
}

fn write_metric(out: &mut Vec<u8>, m: &Metric) {
    // A histogram family's metrics decode to histograms; were one anything else, it would
    // show as an empty histogram rather than break the document.
    let (buckets, sum, count, native): (&[(f64, u64)], f64, u64, Option<&Native>) = match &m.value {
        Value::Histogram {
            buckets,
            sum,
            count,
            native,
        } => (buckets, *sum, *count, native.as_deref()),
        _ => (&[], 0.0, 0, None),
    };
    out.push(b'{');
    json::key(out, true, "buckets");
    let count = match native.filter(|n| has_spans(n)) {
        Some(n) => {
            write_native_buckets(out, n);
            if is_float(n) {
                Count::Float(n.count_float)
            } else {
                Count::Int(count)
            }
        }
        None => {
            write_classic_buckets(out, buckets, native);
            match native.map(|n| n.count_float).filter(|&f| f > 0.0) {
                Some(f) => Count::Float(f),
                None => Count::Int(count),
            }
        }
    };
    json::key(out, false, "count");
    count.write(out);
    let mut labels: Labels = m
        .labels
        .iter()
        .map(|l| {
            (
                Cow::Borrowed(l.name.as_str()),
                Cow::Borrowed(l.value.as_str()),
            )
        })
        .collect();
    write_labels(out, false, &mut labels);
    json::key(out, false, "sum");
    quoted(out, |o| json::float(o, sum));
    out.push(b'}');
}

/// Whether upstream takes the histogram as native: a span on either side (which is what
/// tells a native histogram without observations from a classic one).
fn has_spans(n: &Native) -> bool {
    !n.negative.spans.is_empty() || !n.positive.spans.is_empty()
}

/// Whether the counts are floats, as upstream decides it.
fn is_float(n: &Native) -> bool {
    n.count_float > 0.0 || n.zero_count_float > 0.0
}

/// A count as the JSON shows it: an integer, or a float of a float histogram.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Count {
    Int(u64),
    Float(f64),
}

impl Count {
    fn is_zero(self) -> bool {
        match self {
            Count::Int(n) => n == 0,
            Count::Float(f) => f == 0.0,
        }
    }

    /// Appends it as a JSON string.
    fn write(self, out: &mut Vec<u8>) {
        quoted(out, |o| self.write_bare(o));
    }

    fn write_bare(self, out: &mut Vec<u8>) {
        match self {
            Count::Int(n) => write_u64(out, n),
            Count::Float(f) => json::float(out, f),
        }
    }
}

fn write_classic_buckets(out: &mut Vec<u8>, buckets: &[(f64, u64)], native: Option<&Native>) {
    let mut entries: Vec<(String, String)> = buckets
        .iter()
        .enumerate()
        .map(|(i, &(upper, count))| {
            let float = native
                .and_then(|n| n.bucket_floats.get(i).copied())
                .filter(|&f| f > 0.0);
            let count = float.map_or(Count::Int(count), Count::Float);
            (
                spelled(|o| json::float(o, upper)),
                spelled(|o| count.write_bare(o)),
            )
        })
        .collect();
    bound_map(out, &mut entries);
}

/// What `f` appends (numbers, which need no escapes) as a JSON string.
fn quoted(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(b'"');
    f(out);
    out.push(b'"');
}

/// What `f` appends (numbers) as a string.
fn spelled(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8(out).expect("numbers are ASCII")
}

/// One bucket as listed.
#[derive(Debug, PartialEq)]
struct Bucket {
    lower: f64,
    upper: f64,
    count: Count,
}

impl Bucket {
    /// Which ends the bucket holds: 0 the upper, 1 the lower, 2 neither, 3 both.
    fn boundaries(&self, zero_bucket: bool) -> u8 {
        if zero_bucket {
            return 3;
        }
        match (self.lower < 0.0, self.upper > 0.0) {
            (false, true) => 0,
            (true, false) => 1,
            (false, false) => 2,
            (true, true) => 3,
        }
    }
}

fn write_native_buckets(out: &mut Vec<u8>, n: &Native) {
    let mirrored = |(index, count)| Bucket {
        lower: -upper_bound(index, n.schema),
        upper: -upper_bound(index - 1, n.schema),
        count,
    };
    let negative = side(&n.negative).into_iter().rev().map(mirrored);
    let zero_count = if is_float(n) {
        Count::Float(n.zero_count_float)
    } else {
        Count::Int(n.zero_count)
    };
    let zero = (!zero_count.is_zero()).then_some(Bucket {
        lower: -n.zero_threshold,
        upper: n.zero_threshold,
        count: zero_count,
    });
    let positive = side(&n.positive).into_iter().map(|(index, count)| Bucket {
        lower: upper_bound(index - 1, n.schema),
        upper: upper_bound(index, n.schema),
        count,
    });
    let listed = negative
        .map(|b| (b, false))
        .chain(zero.map(|b| (b, true)))
        .chain(positive.map(|b| (b, false)));
    out.push(b'[');
    for (i, (b, zero_bucket)) in listed.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        write_u64(out, u64::from(b.boundaries(zero_bucket)));
        for end in [b.lower, b.upper] {
            out.push(b',');
            quoted(out, |o| json::float(o, end));
        }
        out.push(b',');
        b.count.write(out);
        out.push(b']');
    }
    out.push(b']');
}

/// The buckets of one side whose count is not 0, as `(index, count)` in index order. A span
/// starts `offset` indexes after the end of the one before (the first at index `offset`);
/// integer histograms give each count as the difference from the bucket before, float ones
/// the count itself.
fn side(b: &NativeBuckets) -> Vec<(i64, Count)> {
    let mut out = Vec::new();
    let (mut deltas, mut floats) = (b.deltas.iter(), b.counts.iter());
    let mut running = 0i64;
    let mut index = 0i64;
    for span in &b.spans {
        index += i64::from(span.offset);
        for _ in 0..span.length {
            // The decoder made sure the spans cover as many buckets as there are counts.
            let count = if b.deltas.is_empty() {
                let Some(&f) = floats.next() else { return out };
                Count::Float(f)
            } else {
                let Some(&d) = deltas.next() else { return out };
                // As upstream: the running sum in 64 bits, shown unsigned.
                running = running.wrapping_add(d);
                Count::Int(running as u64)
            };
            if !count.is_zero() {
                out.push((index, count));
            }
            index += 1;
        }
    }
    out
}

/// Where bucket `index` of schema `schema` ends: 2^(index·2^-schema), except that the last
/// bucket below infinity ends at the largest float rather than at 2^1024 (which overflows),
/// so that infinity has a bucket of its own.
fn upper_bound(index: i64, schema: i32) -> f64 {
    // index·2^-schema = whole + part, part in [0, 1). Past these shifts nothing changes that
    // an f64 can tell (a bound past 2^±1100 is infinite or 0; 2^(index·2^-120) is 1), and
    // the products fit an i128.
    let (whole, part) = if schema <= 0 {
        (i128::from(index) << schema.unsigned_abs().min(63), 0.0)
    } else {
        let scale = 1i128 << schema.min(120);
        let index = i128::from(index);
        (
            index.div_euclid(scale),
            index.rem_euclid(scale) as f64 / scale as f64,
        )
    };
    if whole == 1024 && part == 0.0 {
        return f64::MAX;
    }
    part.exp2() * pow2(whole)
}

/// 2^`exp`, exactly (0 below the smallest subnormal, infinity above the largest float).
fn pow2(exp: i128) -> f64 {
    match exp {
        1024.. => f64::INFINITY,
        -1022..=1023 => f64::from_bits(((exp + 1023) as u64) << 52),
        -1074..=-1023 => f64::from_bits(1 << (exp + 1074)),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::model::{Label, Span};

    fn spans(s: &[(i32, u32)]) -> Vec<Span> {
        s.iter()
            .map(|&(offset, length)| Span { offset, length })
            .collect()
    }

    #[test]
    fn bounds_are_powers_of_two_in_every_schema() {
        assert_eq!(upper_bound(0, 0), 1.0);
        assert_eq!(upper_bound(1, 0), 2.0);
        assert_eq!(upper_bound(-1, 0), 0.5);
        assert_eq!(upper_bound(1, 1), std::f64::consts::SQRT_2);
        assert_eq!(upper_bound(2, 1), 2.0);
        assert_eq!(upper_bound(-1, 1), std::f64::consts::FRAC_1_SQRT_2);
        assert_eq!(upper_bound(8, 3), 2.0);
        assert_eq!(upper_bound(-8, 3), 0.5);
        assert_eq!(upper_bound(1, -2), 16.0);
        assert_eq!(upper_bound(-3, -4), 2f64.powi(-48));
        // Each bucket of schema s+1 splits one of schema s in two.
        for schema in 0..8 {
            for index in -40..40 {
                assert_eq!(
                    upper_bound(index, schema),
                    upper_bound(2 * index, schema + 1),
                    "{schema} {index}"
                );
            }
        }
        // The last finite bucket ends at the largest float; infinity's bucket is next.
        assert_eq!(upper_bound(1024, 0), f64::MAX);
        assert_eq!(upper_bound(256, -2), f64::MAX);
        assert_eq!(upper_bound(1024 << 8, 8), f64::MAX);
        assert_eq!(upper_bound(1025, 0), f64::INFINITY);
        assert!(upper_bound(1024 * 8 - 1, 3) < f64::MAX);
        assert_eq!(upper_bound(-1074, 0), f64::from_bits(1));
        assert_eq!(upper_bound(-1075, 0), 0.0);
        // Far outside the defined schemas: no overflow, and what an f64 can tell.
        assert_eq!(upper_bound(i64::from(i32::MAX), -53), f64::INFINITY);
        assert_eq!(upper_bound(i64::from(i32::MIN), -53), 0.0);
        assert_eq!(upper_bound(i64::from(i32::MAX), i32::MAX), 1.0);
        assert_eq!(upper_bound(i64::from(i32::MIN), i32::MAX), 1.0);
    }

    #[test]
    fn spans_deltas_and_counts_become_buckets() {
        // Offsets after the end of the span before; a span of length 0 moves the start.
        let b = NativeBuckets {
            spans: spans(&[(-2, 2), (0, 0), (3, 1), (1, 2)]),
            deltas: vec![2, -2, 5, -1, 0],
            counts: vec![],
        };
        assert_eq!(
            side(&b),
            [
                (-2, Count::Int(2)),
                (3, Count::Int(5)),
                (5, Count::Int(4)),
                (6, Count::Int(4))
            ]
        );
        let f = NativeBuckets {
            spans: spans(&[(0, 0), (1, 2)]),
            deltas: vec![],
            counts: vec![0.5, 0.0],
        };
        assert_eq!(side(&f), [(1, Count::Float(0.5))]);
        // Counts that run out end the side rather than the answer.
        let short = NativeBuckets {
            spans: spans(&[(0, 3)]),
            deltas: vec![1],
            counts: vec![],
        };
        assert_eq!(side(&short), [(0, Count::Int(1))]);
    }

    fn json(value: Value) -> String {
        let mut out = Vec::new();
        write_metric(
            &mut out,
            &Metric {
                labels: vec![Label::new("job", "j"), Label::new("a", "<")],
                value,
                timestamp_ms: None,
            },
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn native_histograms_list_their_buckets() {
        let native = Native {
            schema: 1,
            zero_threshold: 0.0,
            zero_count: 3,
            negative: NativeBuckets {
                spans: spans(&[(0, 2)]),
                deltas: vec![1, 1],
                counts: vec![],
            },
            positive: NativeBuckets {
                spans: spans(&[(0, 1), (1, 1)]),
                deltas: vec![4, -4],
                counts: vec![],
            },
            ..Native::default()
        };
        let got = json(Value::Histogram {
            buckets: vec![(1.0, 2)],
            sum: -0.5,
            count: 10,
            native: Some(Box::new(native)),
        });
        assert_eq!(
            got,
            concat!(
                r#"{"buckets":[[1,"-1.4142135623730951","-1","2"],[1,"-1","-0.7071067811865476","1"],"#,
                r#"[3,"-0","0","3"],[0,"0.7071067811865476","1","4"]],"#,
                r#""count":"10","labels":{"a":"\u003c","job":"j"},"sum":"-0.5"}"#
            )
        );
        let float = Native {
            count_float: 2.5,
            zero_threshold: 0.001,
            zero_count_float: 0.5,
            positive: NativeBuckets {
                spans: spans(&[(3, 1)]),
                deltas: vec![],
                counts: vec![2.0],
            },
            ..Native::default()
        };
        let got = json(Value::Histogram {
            buckets: vec![],
            sum: 1e6,
            count: 0,
            native: Some(Box::new(float)),
        });
        assert_eq!(
            got,
            concat!(
                r#"{"buckets":[[3,"-0.001","0.001","0.5"],[0,"4","8","2"]],"#,
                r#""count":"2.5","labels":{"a":"\u003c","job":"j"},"sum":"1e+06"}"#
            )
        );
        // A native histogram without observations: the no-op span, nothing to list.
        let empty = Native {
            positive: NativeBuckets {
                spans: spans(&[(0, 0)]),
                ..NativeBuckets::default()
            },
            ..Native::default()
        };
        let got = json(Value::Histogram {
            buckets: vec![],
            sum: 0.0,
            count: 0,
            native: Some(Box::new(empty)),
        });
        assert!(got.starts_with(r#"{"buckets":[],"count":"0","#), "{got}");
    }

    #[test]
    fn classic_buckets_take_float_counts_above_zero() {
        let float = Native {
            count_float: 4.5,
            bucket_floats: vec![2.5, 0.0, -1.0],
            ..Native::default()
        };
        let got = json(Value::Histogram {
            buckets: vec![(0.1, 1), (1.0, 3), (5.0, 4)],
            sum: 3.0,
            count: 9,
            native: Some(Box::new(float)),
        });
        assert_eq!(
            got,
            concat!(
                r#"{"buckets":{"0.1":"2.5","1":"3","5":"4"},"count":"4.5","#,
                r#""labels":{"a":"\u003c","job":"j"},"sum":"3"}"#
            )
        );
        // Within a family kept as protobuf, a histogram of integers stays as it was pushed:
        // no `+Inf` bucket is added.
        let got = json(Value::Histogram {
            buckets: vec![(1.0, 3)],
            sum: 3.0,
            count: 5,
            native: None,
        });
        assert!(
            got.starts_with(r#"{"buckets":{"1":"3"},"count":"5","#),
            "{got}"
        );
    }
}
