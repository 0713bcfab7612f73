//! Text exposition format 0.0.4: number formatting, escaping, and rendering the series lines
//! of one family of one group.
//!
//! Names outside the legacy character set (pushed with `--push.enable-utf8-names`) are written
//! as upstream's encoder writes them: quoted, with `\\`, `\"` and `\n` escaped, and a metric name
//! that needs quotes moves inside the braces as their first item (`{"my.metric",job="j"} 1`,
//! `# TYPE "my.metric" gauge`). Upstream judges label names by the metric-name rule and so
//! leaves a `:` in a label name bare, which no text parser reads back; here a label name is
//! quoted unless it is a legacy label name.
//!
//! The store keeps every group's families pre-rendered with these functions, so a scrape only
//! concatenates bytes. Ordering across groups and the `# HELP`/`# TYPE` headers are the
//! store's business; sockets are the server's.

use std::fmt::Write as _;

use crate::formats::lines::find_any;
use crate::formats::model::{
    is_valid_label_name, is_valid_metric_name, Label, Metric, MetricType, Value,
};

/// Appends `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it, with the exposition
/// format's spellings of the special values (`+Inf`, `-Inf`, `NaN`) and `0` for negative zero,
/// so scrapes are byte-compatible with the upstream Pushgateway.
pub fn write_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v == 0.0 {
        out.push(b'0');
    } else if v.fract() == 0.0 && v.abs() < 1e6 {
        // Integers below the exponent threshold: the common case for counters, kept cheap.
        write_int(out, v as i64);
    } else if !write_short_decimal(out, v) {
        write_shortest(out, v);
    }
}

/// Writes `v`, not an integer, in plain decimal notation if it lies where Go does not use an
/// exponent (1e-4 ≤ |v| < 1e6) and some decimal of at most 15 significant digits parses back
/// to it: histogram bounds, quantiles and most gauges. That decimal, with the fewest fraction
/// digits, is the shortest one that round-trips (two decimals of 15 or fewer digits never
/// parse to the same f64), which is what Go prints, found at a fraction of
/// [`write_shortest`]'s cost.
fn write_short_decimal(out: &mut Vec<u8>, v: f64) -> bool {
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        return false;
    }
    debug_assert!(v.fract() != 0.0, "{v} is an integer");
    let mut scale = 1.0;
    for places in 1..=15 {
        scale *= 10.0;
        let n = (a * scale).round();
        if n >= 1e15 {
            return false;
        }
        // Both exact in an f64 and the division correctly rounded: `n / scale` is what
        // parsing the decimal gives.
        if n / scale == a {
            if v < 0.0 {
                out.push(b'-');
            }
            let n = n as u64;
            let mut place = 10u64.pow(places);
            write_u64(out, n / place);
            out.push(b'.');
            // The fraction with its leading zeros; its last digit is not 0, or fewer places
            // would have done.
            while place > 1 {
                place /= 10;
                out.push(b'0' + (n / place % 10) as u8);
            }
            return true;
        }
    }
    false
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Appends an unsigned integer (summary and histogram counts).
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Go's `%g` with shortest precision: the shortest round-tripping digits, in exponent form
/// when the decimal exponent is below -4 or at least 6 (two-digit minimum exponent).
fn write_shortest(out: &mut Vec<u8>, v: f64) {
    // Rust's `{:e}` yields the same shortest round-trip digits as Go: `d.ddddde[-]x`. It is
    // formatted on the stack: this runs for every push's timestamp.
    let mut buf = StackText::default();
    write!(buf, "{v:e}").expect("an f64 in {:e} form fits in 32 bytes");
    let s = buf.as_str();
    let (mantissa, exp) = s.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let mut digit_buf = [0u8; 24];
    let mut n = 0;
    for c in mantissa.bytes().filter(|&c| c != b'.') {
        digit_buf[n] = c;
        n += 1;
    }
    let digits = &digit_buf[..n];
    if neg {
        out.push(b'-');
    }
    if !(-4..6).contains(&exp) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        write_u64(out, u64::from(e));
    } else if exp < 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
        out.extend_from_slice(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
        } else {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    }
}

/// A small stack buffer to format into without allocating.
#[derive(Default)]
struct StackText {
    buf: [u8; 32],
    len: usize,
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("only formatted text is written")
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends a label value with `\\`, `\"` and `\n` escaped.
pub fn write_label_value(out: &mut Vec<u8>, v: &str) {
    write_escaped(out, v, [b'\\', b'"', b'\n']);
}

/// Appends a HELP text with `\\` and `\n` escaped.
pub fn write_help_text(out: &mut Vec<u8>, v: &str) {
    write_escaped(out, v, [b'\\', b'\n']);
}

/// Appends `v` with each of the bytes `specials` (some of `\\`, `"` and LF) escaped, copied in
/// runs between them: most texts have none.
fn write_escaped<const N: usize>(out: &mut Vec<u8>, v: &str, specials: [u8; N]) {
    let mut rest = v.as_bytes();
    while let Some(i) = find_any(rest, specials) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(match rest[i] {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            _ => b"\\n",
        });
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

/// Appends a quoted name: the label-value escapes between double quotes, with `suffix`
/// (plain ASCII) inside them.
fn write_quoted(out: &mut Vec<u8>, name: &str, suffix: &str) {
    out.push(b'"');
    write_label_value(out, name);
    out.extend_from_slice(suffix.as_bytes());
    out.push(b'"');
}

/// Appends a metric name in a HELP or TYPE line: bare if legacy-valid, else quoted.
pub fn write_metric_name(out: &mut Vec<u8>, name: &str) {
    if is_valid_metric_name(name) {
        out.extend_from_slice(name.as_bytes());
    } else {
        write_quoted(out, name, "");
    }
}

/// Appends the `# HELP` (when there is one) and `# TYPE` lines of a family.
pub fn write_header(out: &mut Vec<u8>, name: &str, help: Option<&str>, mtype: MetricType) {
    if let Some(help) = help {
        out.extend_from_slice(b"# HELP ");
        write_metric_name(out, name);
        out.push(b' ');
        write_help_text(out, help);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    write_metric_name(out, name);
    out.push(b' ');
    out.extend_from_slice(mtype.text_type().as_str().as_bytes());
    out.push(b'\n');
}

/// Appends `{a="x",b="y"}` (nothing for an empty set).
pub fn write_labels(out: &mut Vec<u8>, labels: &[Label]) {
    if labels.is_empty() {
        return;
    }
    out.push(b'{');
    write_pairs(out, labels);
    out.push(b'}');
}

/// The inside of [`write_labels`]' braces.
fn write_pairs(out: &mut Vec<u8>, labels: &[Label]) {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if is_valid_label_name(&l.name) {
            out.extend_from_slice(l.name.as_bytes());
        } else {
            write_quoted(out, &l.name, "");
        }
        out.extend_from_slice(b"=\"");
        write_label_value(out, &l.value);
        out.push(b'"');
    }
}

/// Writes the sample lines of one metric. How its name is written and its label pairs are
/// worked out for the first line and copied for the others: every line of a summary or a
/// histogram repeats them.
struct Sample<'a> {
    name: &'a str,
    /// A suffix keeps a legacy name legacy and cannot make another one legacy, so the name
    /// alone decides whether the lines' names are quoted.
    plain: bool,
    labels: &'a [Label],
    /// Where the first line's pairs are in the output.
    pairs: Option<std::ops::Range<usize>>,
}

impl<'a> Sample<'a> {
    fn new(name: &'a str, plain: bool, labels: &'a [Label]) -> Sample<'a> {
        Sample {
            name,
            plain,
            labels,
            pairs: None,
        }
    }

    /// Appends a line's name and labels, with an optional extra label last (`quantile` or
    /// `le`, where the Go encoder places them), and the blank before its value.
    fn line(&mut self, out: &mut Vec<u8>, suffix: &str, extra: Option<(&str, f64)>) {
        let braced = !self.labels.is_empty() || extra.is_some();
        if self.plain {
            out.extend_from_slice(self.name.as_bytes());
            out.extend_from_slice(suffix.as_bytes());
            if braced {
                out.push(b'{');
            }
        } else {
            out.push(b'{');
            write_quoted(out, self.name, suffix);
            if braced {
                out.push(b',');
            }
        }
        match &self.pairs {
            Some(pairs) => out.extend_from_within(pairs.clone()),
            None => {
                let start = out.len();
                write_pairs(out, self.labels);
                self.pairs = Some(start..out.len());
            }
        }
        if let Some((name, v)) = extra {
            if !self.labels.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            write_float(out, v);
            out.push(b'"');
        }
        if braced || !self.plain {
            out.push(b'}');
        }
        out.push(b' ');
    }

    fn sum_count(&mut self, out: &mut Vec<u8>, sum: f64, count: u64, count_float: Option<f64>) {
        self.line(out, "_sum", None);
        write_float(out, sum);
        out.push(b'\n');
        self.line(out, "_count", None);
        write_count(out, count, count_float);
        out.push(b'\n');
    }
}

/// Appends the sample lines of one metric of family `name`.
pub fn write_metric(out: &mut Vec<u8>, name: &str, m: &Metric) {
    write_sample_lines(out, name, is_valid_metric_name(name), m);
}

/// Appends the sample lines of a family's metrics, the name judged once for all of them.
pub fn write_metrics(out: &mut Vec<u8>, name: &str, metrics: &[Metric]) {
    let plain = is_valid_metric_name(name);
    for m in metrics {
        write_sample_lines(out, name, plain, m);
    }
}

/// [`write_metric`], `plain` telling whether `name` is written bare.
fn write_sample_lines(out: &mut Vec<u8>, name: &str, plain: bool, m: &Metric) {
    let mut sample = Sample::new(name, plain, &m.labels);
    match &m.value {
        Value::Simple(v) => {
            sample.line(out, "", None);
            write_float(out, *v);
            out.push(b'\n');
        }
        Value::Summary {
            quantiles,
            sum,
            count,
        } => {
            for &(q, v) in quantiles {
                sample.line(out, "", Some(("quantile", q)));
                write_float(out, v);
                out.push(b'\n');
            }
            sample.sum_count(out, *sum, *count, None);
        }
        Value::Histogram {
            buckets,
            sum,
            count,
            native,
        } => {
            // A float histogram's float counts stand in for the integer ones where they are
            // set, as in upstream's text output.
            let native = native.as_deref();
            for (i, &(le, c)) in buckets.iter().enumerate() {
                sample.line(out, "_bucket", Some(("le", le)));
                write_count(out, c, native.and_then(|n| n.bucket_float(i)));
                out.push(b'\n');
            }
            let count_float = native.and_then(|n| n.float_count());
            // The +Inf bucket is implied by the count when the pusher left it out.
            if !buckets.iter().any(|&(le, _)| le == f64::INFINITY) {
                sample.line(out, "_bucket", Some(("le", f64::INFINITY)));
                write_count(out, *count, count_float);
                out.push(b'\n');
            }
            sample.sum_count(out, *sum, *count, count_float);
        }
    }
}

fn write_count(out: &mut Vec<u8>, count: u64, float: Option<f64>) {
    match float {
        Some(f) => write_float(out, f),
        None => write_u64(out, count),
    }
}

/// An upper bound of the bytes [`write_metric`] writes for `m` of family `name` once it also
/// carries labels taking `more_labels` bytes in [`label_len_bound`]'s measure. Linear in `m`
/// and allocation-free, so a push can be weighed before anything is labelled or rendered:
/// every sample line repeats the labels, so a few bytes of protobuf bucket can cost as many
/// bytes of text as the series has labels.
pub fn metric_len_bound(name: &str, m: &Metric, more_labels: usize) -> usize {
    let labels = m
        .labels
        .iter()
        .map(|l| label_len_bound(&l.name, &l.value))
        .fold(more_labels, usize::saturating_add);
    let lines = match &m.value {
        Value::Simple(_) => 1,
        Value::Summary { quantiles, .. } => quantiles.len().saturating_add(2),
        Value::Histogram { buckets, .. } => buckets.len().saturating_add(3),
    };
    // A quoted name with a suffix, braces, a `quantile` or `le` label and two floats of at
    // most 24 bytes each fit in the fixed part.
    let line = (2 * name.len()).saturating_add(80).saturating_add(labels);
    lines.saturating_mul(line)
}

/// An upper bound of the bytes label `name="value"` takes in a sample line: escaping at most
/// doubles a name or value, plus quotes, `=` and the comma.
pub fn label_len_bound(name: &str, value: &str) -> usize {
    2 * (name.len() + value.len()) + 6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64) -> String {
        let mut out = Vec::new();
        write_float(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_as_go_formats_them() {
        // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints (and what
        // the upstream Pushgateway exposes).
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (42.0, "42"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (12345678.0, "1.2345678e+07"),
            (1e21, "1e+21"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (123456.5, "123456.5"),
            (1.5838723477166057e9, "1.5838723477166057e+09"),
            (1.7000000001234567e9, "1.7000000001234567e+09"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (1e100, "1e+100"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for &(v, want) in table {
            assert_eq!(float(v), want, "{v:?}");
        }
    }

    #[test]
    fn short_decimals_as_the_general_formatter_writes_them() {
        let general = |v: f64| {
            let mut out = Vec::new();
            write_shortest(&mut out, v);
            String::from_utf8(out).unwrap()
        };
        let mut values = vec![
            0.005,
            0.025,
            2.5,
            0.99,
            1e-4,
            0.1 + 0.2,
            999999.9,
            123.000001,
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200_000 {
            // Short decimals, and doubles of every bit pattern in and around the range.
            let (len, places) = (rng.u32(1..16), rng.i32(0..20));
            let digits = rng.u64(1..10u64.pow(len));
            values.push(digits as f64 / 10f64.powi(places));
            values.push(f64::from_bits(
                rng.u64(0x3f00_0000_0000_0000..0x4140_0000_0000_0000),
            ));
        }
        let mut short = 0;
        for v in values.into_iter().filter(|v| v.fract() != 0.0) {
            for v in [v, -v] {
                let mut out = Vec::new();
                if write_short_decimal(&mut out, v) {
                    assert_eq!(String::from_utf8(out).unwrap(), general(v), "{v:?}");
                    short += 1;
                }
            }
        }
        assert!(short > 100_000, "only {short} values were short decimals");
    }

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        write_label_value(&mut out, "a\\b\"c\nd");
        assert_eq!(out, b"a\\\\b\\\"c\\nd");
        out.clear();
        write_help_text(&mut out, "a\\b\"c\nd");
        assert_eq!(out, b"a\\\\b\"c\\nd");
    }

    #[test]
    fn metric_lines() {
        let labels = vec![Label::new("job", "j"), Label::new("zone", "a")];
        let mut out = Vec::new();
        write_metric(
            &mut out,
            "s",
            &Metric {
                labels: labels.clone(),
                value: Value::Summary {
                    quantiles: vec![(0.5, 3.0)],
                    sum: 1.5,
                    count: 7,
                },
                timestamp_ms: None,
            },
        );
        write_metric(
            &mut out,
            "h",
            &Metric {
                labels: vec![],
                value: Value::Histogram {
                    buckets: vec![(1.0, 1)],
                    sum: 2.0,
                    count: 3,
                    native: None,
                },
                timestamp_ms: None,
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "s{job=\"j\",zone=\"a\",quantile=\"0.5\"} 3\n\
             s_sum{job=\"j\",zone=\"a\"} 1.5\n\
             s_count{job=\"j\",zone=\"a\"} 7\n\
             h_bucket{le=\"1\"} 1\n\
             h_bucket{le=\"+Inf\"} 3\n\
             h_sum 2\n\
             h_count 3\n"
        );
    }

    #[test]
    fn names_outside_the_legacy_set_are_quoted() {
        let labels = vec![
            Label::new("a.b", "v"),
            Label::new("a:b", "w"),
            Label::new("job", "j"),
            Label::new("q\"\\\n", "x"),
        ];
        let m = |value| Metric {
            labels: labels.clone(),
            value,
            timestamp_ms: None,
        };
        let mut out = Vec::new();
        write_header(&mut out, "my.metric", Some("Help."), MetricType::Histogram);
        write_metric(
            &mut out,
            "my.metric",
            &m(Value::Histogram {
                buckets: vec![(1.0, 1)],
                sum: 2.0,
                count: 3,
                native: None,
            }),
        );
        write_header(&mut out, "ü", None, MetricType::Gauge);
        write_metric(
            &mut out,
            "ü",
            &Metric {
                labels: vec![],
                value: Value::Simple(1.0),
                timestamp_ms: None,
            },
        );
        write_metric(&mut out, "ok", &m(Value::Simple(2.0)));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP \"my.metric\" Help.\n\
             # TYPE \"my.metric\" histogram\n\
             {\"my.metric_bucket\",\"a.b\"=\"v\",\"a:b\"=\"w\",job=\"j\",\"q\\\"\\\\\\n\"=\"x\",le=\"1\"} 1\n\
             {\"my.metric_bucket\",\"a.b\"=\"v\",\"a:b\"=\"w\",job=\"j\",\"q\\\"\\\\\\n\"=\"x\",le=\"+Inf\"} 3\n\
             {\"my.metric_sum\",\"a.b\"=\"v\",\"a:b\"=\"w\",job=\"j\",\"q\\\"\\\\\\n\"=\"x\"} 2\n\
             {\"my.metric_count\",\"a.b\"=\"v\",\"a:b\"=\"w\",job=\"j\",\"q\\\"\\\\\\n\"=\"x\"} 3\n\
             # TYPE \"ü\" gauge\n\
             {\"ü\"} 1\n\
             ok{\"a.b\"=\"v\",\"a:b\"=\"w\",job=\"j\",\"q\\\"\\\\\\n\"=\"x\"} 2\n"
        );
    }

    #[test]
    fn float_histogram_counts() {
        // Float counts where a float histogram sets them, integer counts elsewhere; a +Inf
        // bucket anywhere counts as given.
        let m = |value| Metric {
            labels: vec![],
            value,
            timestamp_ms: None,
        };
        let mut out = Vec::new();
        write_metric(
            &mut out,
            "f",
            &m(Value::Histogram {
                buckets: vec![(1.0, 0), (2.0, 4)],
                sum: 3.0,
                count: 0,
                native: Some(Box::new(crate::formats::model::Native {
                    count_float: 4.5,
                    bucket_floats: vec![0.25, 0.0],
                    ..Default::default()
                })),
            }),
        );
        write_metric(
            &mut out,
            "h",
            &m(Value::Histogram {
                buckets: vec![(f64::INFINITY, 2_000_000), (1.0, 1)],
                sum: 3.0,
                count: 2_000_000,
                native: Some(Box::default()),
            }),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "f_bucket{le=\"1\"} 0.25\nf_bucket{le=\"2\"} 4\nf_bucket{le=\"+Inf\"} 4.5\n\
             f_sum 3\nf_count 4.5\n\
             h_bucket{le=\"+Inf\"} 2000000\nh_bucket{le=\"1\"} 1\nh_sum 3\nh_count 2000000\n"
        );
    }
}
