//! Turns the store's rendered sample lines of one family in one group straight into the JSON
//! API's `metrics` array, reading them back with `formats::lines` rather than parsing them
//! into the model: listing every group must not cost the event loop more than a pass over
//! them.
//!
//! Numbers are already spelled as Go's `fmt.Sprint` spells them, so they are copied as they
//! are.

use std::borrow::Cow;

use super::json;
use crate::formats::lines::each_series;
use crate::formats::model::MetricType;
use crate::order;

pub(super) type Labels<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Appends the `labels` object, sorted by name as Go sorts map keys.
pub(super) fn write_labels(out: &mut Vec<u8>, first: bool, labels: &mut Labels<'_>) {
    json::key(out, first, "labels");
    order::sort_by(labels, |a, b| a.0.cmp(&b.0));
    out.push(b'{');
    for (i, (name, value)) in labels.iter().enumerate() {
        json::key(out, i == 0, name);
        json::string(out, value);
    }
    out.push(b'}');
}

/// An object of `bound -> value` strings, keys sorted as Go sorts map keys, the last of equal
/// keys kept.
pub(super) fn bound_map<K: AsRef<str>, V: AsRef<str>>(
    out: &mut Vec<u8>,
    entries: &mut Vec<(K, V)>,
) {
    entries.reverse();
    order::sort_by(entries, |a, b| a.0.as_ref().cmp(b.0.as_ref()));
    entries.dedup_by(|a, b| a.0.as_ref() == b.0.as_ref());
    out.push(b'{');
    for (i, (k, v)) in entries.iter().enumerate() {
        json::key(out, i == 0, k.as_ref());
        json::string(out, v.as_ref());
    }
    out.push(b'}');
}

/// Appends the JSON array of the metrics in `text`, the sample lines of family `name`.
pub(super) fn write_metrics(out: &mut Vec<u8>, name: &str, mtype: MetricType, text: &[u8]) {
    let mut first = true;
    out.push(b'[');
    // As for protobuf scrapes: the stored text reads back whole, and were it ever otherwise
    // the answer lists what could be read.
    let _ = each_series(text, name, mtype, |s| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'{');
        match mtype {
            MetricType::Summary => {
                json::key(out, true, "count");
                json::string(out, s.value);
                write_labels(out, false, &mut s.labels);
                json::key(out, false, "quantiles");
                bound_map(out, &mut s.bounds);
                json::key(out, false, "sum");
                json::string(out, s.sum);
            }
            MetricType::Histogram => {
                json::key(out, true, "buckets");
                bound_map(out, &mut s.bounds);
                json::key(out, false, "count");
                json::string(out, s.value);
                write_labels(out, false, &mut s.labels);
                json::key(out, false, "sum");
                json::string(out, s.sum);
            }
            _ => {
                // Upstream reads a value from gauges, counters and untyped metrics only, and
                // shows a gauge histogram as the value 0.
                let value = match mtype {
                    MetricType::GaugeHistogram => "0",
                    _ => s.value,
                };
                write_labels(out, true, &mut s.labels);
                json::key(out, false, "value");
                json::string(out, value);
            }
        }
        out.push(b'}');
    });
    out.push(b']');
}
