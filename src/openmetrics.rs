//! OpenMetrics 1.0 text, derived line by line from the stored text format 0.0.4.
//!
//! What differs from the stored text, as Prometheus' own encoder writes it:
//! 1. A counter family is named without its `_total` suffix in `# HELP` and `# TYPE`; its
//!    samples keep it.
//! 2. Untyped families are of type `unknown`, and so are counters whose name does not end in
//!    `_total`. OpenMetrics would have their samples renamed to `x_total` (Prometheus' own
//!    encoder does that), but a scraper that prefers OpenMetrics would then store other series
//!    than it stores from the upstream Pushgateway, which only speaks the text format: every
//!    query and alert on such a counter would break on switching gateways.
//! 3. Floats that look like integers get a `.0` (`1.0`, `-3.0`): sample values, sums, and the
//!    `le` and `quantile` label values. Counts (`_count`, `_bucket`) stay integers.
//! 4. HELP text also escapes `"`.
//! 5. The exposition ends with `# EOF`.
//!
//! Native histograms cannot be expressed in OpenMetrics 1.0: their classic view is shown, as
//! in the text format.

use crate::expose;
use crate::lines::lines;
use crate::model::MetricType;

pub const EOF: &[u8] = b"# EOF\n";

/// Appends the `# HELP` (when there is one) and `# TYPE` lines of a family.
pub fn write_header(out: &mut Vec<u8>, name: &str, help: Option<&str>, mtype: MetricType) {
    let (name, mtype) = exposed(name, mtype);
    if let Some(help) = help {
        out.extend_from_slice(b"# HELP ");
        expose::write_metric_name(out, name);
        out.push(b' ');
        for &b in help.as_bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'"' => out.extend_from_slice(b"\\\""),
                _ => out.push(b),
            }
        }
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    expose::write_metric_name(out, name);
    out.push(b' ');
    out.extend_from_slice(match mtype {
        MetricType::Untyped => b"unknown",
        other => other.as_str().as_bytes(),
    });
    out.push(b'\n');
}

/// The family name and type OpenMetrics shows (point 1 and 2 above).
fn exposed(name: &str, mtype: MetricType) -> (&str, MetricType) {
    match (mtype, name.strip_suffix("_total")) {
        (MetricType::Counter, Some(base)) => (base, mtype),
        (MetricType::Counter, None) => (name, MetricType::Untyped),
        _ => (name, mtype),
    }
}

/// Appends the samples of family `family` (of type `mtype`) held in `text`, the stored form.
pub fn write_samples(out: &mut Vec<u8>, family: &str, mtype: MetricType, text: &[u8]) {
    for line in lines(text) {
        let suffix = line.name.strip_prefix(family).unwrap_or_default();
        // Which part of the line is a float to spell the OpenMetrics way: the value, a last
        // label (`le`, `quantile`), both or neither.
        let (float_value, float_label) = match (mtype, suffix) {
            (MetricType::Histogram, "_bucket") => (false, true),
            (MetricType::Histogram | MetricType::Summary, "_count") => (false, false),
            (MetricType::Summary, "") => (true, true),
            _ => (true, false),
        };
        // A name outside the legacy set is quoted, first inside the braces, as in the text.
        let quoted = line.quoted;
        if quoted {
            out.push(b'{');
            expose::write_metric_name(out, &line.name);
            if !line.labels.is_empty() {
                out.push(b',');
            }
        } else {
            out.extend_from_slice(line.name.as_bytes());
            if !line.labels.is_empty() {
                out.push(b'{');
            }
        }
        // The last label's value has no quotes or escapes: it is a number.
        let bound = float_label
            .then(|| line.labels.strip_suffix('"')?.rsplit_once('"'))
            .flatten();
        match bound {
            Some((head, last)) => {
                out.extend_from_slice(head.as_bytes());
                out.push(b'"');
                write_float(out, last);
                out.push(b'"');
            }
            None => out.extend_from_slice(line.labels.as_bytes()),
        }
        if quoted || !line.labels.is_empty() {
            out.push(b'}');
        }
        out.push(b' ');
        if float_value {
            write_float(out, line.value);
        } else {
            out.extend_from_slice(line.value.as_bytes());
        }
        out.push(b'\n');
    }
}

/// Appends a float written by `expose::write_float`, with `.0` added where it would read as
/// an integer.
fn write_float(out: &mut Vec<u8>, v: &str) {
    out.extend_from_slice(v.as_bytes());
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        out.extend_from_slice(b".0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn om(family: &str, mtype: MetricType, text: &str) -> String {
        let mut out = Vec::new();
        write_samples(&mut out, family, mtype, text.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn counters_and_floats() {
        assert_eq!(
            om("c", MetricType::Counter, "c{a=\"1\"} 3\nc 1e+06\n"),
            "c{a=\"1\"} 3.0\nc 1e+06\n"
        );
        assert_eq!(
            om("c_total", MetricType::Counter, "c_total 0.5\n"),
            "c_total 0.5\n"
        );
        assert_eq!(
            om("g", MetricType::Gauge, "g{a=\"x y\"} -2\ng NaN\ng +Inf\n"),
            "g{a=\"x y\"} -2.0\ng NaN\ng +Inf\n"
        );
        let mut head = Vec::new();
        write_header(
            &mut head,
            "c_total",
            Some("A \"b\"\\\n"),
            MetricType::Counter,
        );
        write_header(&mut head, "u", None, MetricType::Untyped);
        write_header(&mut head, "c", None, MetricType::Counter);
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "# HELP c A \\\"b\\\"\\\\\\n\n# TYPE c counter\n# TYPE u unknown\n# TYPE c unknown\n"
        );
    }

    #[test]
    fn histograms_and_summaries() {
        assert_eq!(
            om(
                "h",
                MetricType::Histogram,
                "h_bucket{j=\"a\",le=\"1\"} 2\nh_bucket{j=\"a\",le=\"+Inf\"} 3\n\
                 h_sum{j=\"a\"} 4\nh_count{j=\"a\"} 3\n"
            ),
            "h_bucket{j=\"a\",le=\"1.0\"} 2\nh_bucket{j=\"a\",le=\"+Inf\"} 3\n\
             h_sum{j=\"a\"} 4.0\nh_count{j=\"a\"} 3\n"
        );
        assert_eq!(
            om(
                "s",
                MetricType::Summary,
                "s{quantile=\"0.5\"} 1\ns{quantile=\"1\"} 2\ns_sum 3\ns_count 2\n"
            ),
            "s{quantile=\"0.5\"} 1.0\ns{quantile=\"1.0\"} 2.0\ns_sum 3.0\ns_count 2\n"
        );
    }
}
