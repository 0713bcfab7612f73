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
//! 3. Sample values and sums that look like integers get a `.0` (`1.0`, `-3.0`); counts
//!    (`_count`, `_bucket`) stay integers. The `le` and `quantile` label values keep the
//!    stored text's spelling (`le="1"`, valid OpenMetrics too): Prometheus 2 stores label
//!    values as written, so respelling them (`le="1.0"`) would make every bucket and quantile
//!    another series than the one it stores from the upstream Pushgateway's text.
//! 4. HELP text also escapes `"`.
//! 5. The exposition ends with `# EOF`.
//! 6. A gauge histogram is typed `histogram`, as in the text format. OpenMetrics' own
//!    `gaugehistogram` names its count and sum `_gcount` and `_gsum`, which a scraper stores
//!    as other series than the `_count` and `_sum` it stores from upstream (text or protobuf),
//!    for the same reason as in point 2; and keeping `_count` and `_sum` under the type
//!    `gaugehistogram` (as client_golang's encoder does) is an exposition strict parsers
//!    refuse whole.
//!
//! Native histograms cannot be expressed in OpenMetrics 1.0: their classic view is shown, as
//! in the text format.

use std::borrow::Cow;

use crate::formats::expose;
use crate::formats::lines::find_newline;
use crate::formats::model::{is_valid_metric_name, MetricType};

pub(crate) const EOF: &[u8] = b"# EOF\n";

/// Appends the `# HELP` (when there is one) and `# TYPE` lines of a family.
pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, help: Option<&str>, mtype: MetricType) {
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

/// The family name and type OpenMetrics shows (points 1, 2 and 6 above).
fn exposed(name: &str, mtype: MetricType) -> (&str, MetricType) {
    match (mtype, name.strip_suffix("_total")) {
        (MetricType::Counter, Some(base)) => (base, mtype),
        (MetricType::Counter, None) => (name, MetricType::Untyped),
        _ => (name, mtype.text_type()),
    }
}

/// Appends the samples of family `family` (of type `mtype`) held in `text`, the stored form.
///
/// A line's series part (name and labels, quoted names included) reads the same in both
/// formats, and so do its value's spellings but for the `.0` of a float that looks like an
/// integer: the text is copied in runs between those insertions, as this runs for every series
/// of every OpenMetrics scrape.
pub(crate) fn write_samples(out: &mut Vec<u8>, family: &str, mtype: MetricType, text: &[u8]) {
    // Only histograms and summaries have count lines, whose values stay integers.
    let spelled = matches!(
        mtype.text_type(),
        MetricType::Histogram | MetricType::Summary
    )
    .then(|| spelled_name(family));
    let mut copied = 0;
    let mut at = 0;
    while let Some(end) = find_newline(&text[at..]) {
        let newline = at + end;
        let line = &text[at..newline];
        let space = line.iter().rposition(|&b| b == b' ');
        at = newline + 1;
        let Some(space) = space else {
            continue;
        };
        let (series, value) = (&line[..space], &line[space + 1..]);
        let count = spelled
            .as_ref()
            .is_some_and(|s| matches!(suffix(s, series), b"_bucket" | b"_count"));
        if !count && reads_as_integer(value) {
            out.extend_from_slice(&text[copied..newline]);
            out.extend_from_slice(b".0");
            copied = newline;
        }
    }
    out.extend_from_slice(&text[copied..at]);
}

/// Appends a float written by `expose::write_float`, spelled the OpenMetrics way.
pub(crate) fn write_float(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(v);
    if reads_as_integer(v) {
        out.extend_from_slice(b".0");
    }
}

/// Whether a float written by `expose::write_float` would read as an integer, which an
/// OpenMetrics float must not (point 3 above).
fn reads_as_integer(v: &[u8]) -> bool {
    v.iter().all(|&b| b.is_ascii_digit() || b == b'-')
}

/// A metric name as sample lines spell it: bare, or (outside the legacy set) quoted, which
/// is `{"` and the name with label-value escapes.
fn spelled_name(name: &str) -> Cow<'_, [u8]> {
    if is_valid_metric_name(name) {
        return Cow::Borrowed(name.as_bytes());
    }
    let mut spelled = b"{\"".to_vec();
    expose::write_label_value(&mut spelled, name);
    Cow::Owned(spelled)
}

/// What follows the family's name in the metric name of a line's series part: `_bucket`,
/// `_sum`, `_count` or nothing (suffixes need no escapes).
fn suffix<'a>(spelled: &[u8], series: &'a [u8]) -> &'a [u8] {
    let rest = series.strip_prefix(spelled).unwrap_or_default();
    let end = if spelled.first() == Some(&b'{') {
        rest.iter().position(|&b| b == b'"')
    } else {
        rest.iter().position(|&b| b == b'{')
    };
    &rest[..end.unwrap_or(rest.len())]
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
        // A gauge histogram is shown as the histogram its lines are (point 6).
        for mtype in [MetricType::Histogram, MetricType::GaugeHistogram] {
            assert_eq!(
                om(
                    "h",
                    mtype,
                    "h_bucket{j=\"a\",le=\"1\"} 2\nh_bucket{j=\"a\",le=\"+Inf\"} 3\n\
                     h_sum{j=\"a\"} 4\nh_count{j=\"a\"} 3\n"
                ),
                "h_bucket{j=\"a\",le=\"1\"} 2\nh_bucket{j=\"a\",le=\"+Inf\"} 3\n\
                 h_sum{j=\"a\"} 4.0\nh_count{j=\"a\"} 3\n"
            );
            let mut head = Vec::new();
            write_header(&mut head, "h", Some("H."), mtype);
            assert_eq!(
                String::from_utf8(head).unwrap(),
                "# HELP h H.\n# TYPE h histogram\n"
            );
        }
        assert_eq!(
            om(
                "s",
                MetricType::Summary,
                "s{quantile=\"0.5\"} 1\ns{quantile=\"1\"} 2\ns_sum 3\ns_count 2\n"
            ),
            "s{quantile=\"0.5\"} 1.0\ns{quantile=\"1\"} 2.0\ns_sum 3.0\ns_count 2\n"
        );
    }

    #[test]
    fn quoted_names_are_kept_and_their_suffixes_found() {
        assert_eq!(
            om(
                "h.x",
                MetricType::Histogram,
                "{\"h.x_bucket\",\"a.b\"=\"1\",le=\"1\"} 2\n{\"h.x_sum\"} 3\n{\"h.x_count\"} 2\n"
            ),
            "{\"h.x_bucket\",\"a.b\"=\"1\",le=\"1\"} 2\n{\"h.x_sum\"} 3.0\n{\"h.x_count\"} 2\n"
        );
        assert_eq!(
            om(
                "s\"q",
                MetricType::Summary,
                "{\"s\\\"q\",quantile=\"1\"} 4\n"
            ),
            "{\"s\\\"q\",quantile=\"1\"} 4.0\n"
        );
    }
}
