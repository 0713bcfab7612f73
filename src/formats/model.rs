//! The parsed form of pushed metrics, shared by every body decoder and the store.
//!
//! A decoder (`text` or `proto`) turns a request body into [`MetricFamily`] values;
//! the store validates, labels and serializes them. Nothing here does I/O.

use std::fmt;

/// The type of a metric family, as declared by `# TYPE` (or the protobuf enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Summary,
    Histogram,
    Untyped,
    /// Only a protobuf push can declare one (client_model's `GAUGE_HISTOGRAM`): a histogram
    /// whose buckets and sum may go down.
    GaugeHistogram,
}

impl MetricType {
    /// The type's name: the keyword of `# TYPE` lines, and OpenMetrics' `gaugehistogram`
    /// for the type they cannot declare (see [`MetricType::text_type`]).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Summary => "summary",
            MetricType::Histogram => "histogram",
            MetricType::Untyped => "untyped",
            MetricType::GaugeHistogram => "gaugehistogram",
        }
    }

    /// The type the text formats show: they have no gauge histogram, so one is shown as the
    /// histogram its sample lines are (`_bucket`, `_sum`, `_count`), as the Go text encoder
    /// (prometheus/common) shows it. Whatever depends on those lines (their reading, the
    /// consistency check's reserved names) goes by this type.
    pub fn text_type(self) -> MetricType {
        match self {
            MetricType::GaugeHistogram => MetricType::Histogram,
            other => other,
        }
    }

    /// Parses a `# TYPE` keyword; `None` for anything else.
    pub fn from_keyword(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "summary" => MetricType::Summary,
            "histogram" => MetricType::Histogram,
            "untyped" => MetricType::Untyped,
            _ => return None,
        })
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label pair. Within a [`Metric`] the pairs are kept sorted by name once the store has
/// sanitized them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// Orders a series' or key's labels by name, as every stored and exposed form has them; equal
/// names keep their order, so a duplicate is reported as it was given.
pub fn sort_by_name(labels: &mut [Label]) {
    labels.sort_by(|a, b| a.name.cmp(&b.name));
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The value of one series (or, for summaries and histograms, of one group of lines sharing
/// a label set).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Counter, gauge and untyped samples.
    Simple(f64),
    Summary {
        /// `(quantile, value)` in the order they were pushed.
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
    Histogram {
        /// `(upper bound, cumulative count)` in the order they were pushed.
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
        /// What only a protobuf push can carry: float counts and native buckets. `None` for
        /// every histogram the text format can express.
        native: Option<Box<Native>>,
    },
}

/// The parts of a protobuf histogram (client_model `Histogram`) beyond the classic view,
/// kept field by field as pushed so a protobuf exposition can hand them on unchanged.
///
/// The text exposition shows only the classic view, as upstream does: the classic buckets
/// (just `+Inf` for a native-only histogram), the sum and the count, where a float count
/// that is not zero replaces the integer one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Native {
    /// `sample_count_float`: a float histogram's count (0 for an integer histogram).
    pub count_float: f64,
    /// The classic buckets' `cumulative_count_float`, one per bucket of
    /// [`Value::Histogram::buckets`], or empty when no bucket has one.
    pub bucket_floats: Vec<f64>,
    /// The bucket schema: boundaries grow by a factor of `2^(2^-schema)`.
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub zero_count_float: f64,
    pub negative: NativeBuckets,
    pub positive: NativeBuckets,
}

/// One side (negative or positive) of a native histogram: spans of consecutive bucket
/// indexes, and one count per bucket the spans cover, as deltas (integer histograms) or as
/// absolute counts (float histograms).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NativeBuckets {
    pub spans: Vec<Span>,
    /// Each bucket's count minus the previous bucket's (the first one minus zero).
    pub deltas: Vec<i64>,
    pub counts: Vec<f64>,
}

/// `length` consecutive buckets, starting `offset` indexes after the end of the previous span
/// (or at index `offset`, for the first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

impl Native {
    /// A classic bucket's float count, unless it is 0 (then its integer count stands).
    pub fn bucket_float(&self, index: usize) -> Option<f64> {
        self.bucket_floats.get(index).copied().filter(|&f| f != 0.0)
    }

    /// The float count, unless it is 0 (then the integer count stands).
    pub fn float_count(&self) -> Option<f64> {
        Some(self.count_float).filter(|&f| f != 0.0)
    }
}

/// One series: its own labels (without `quantile`/`le`), its value and an optional timestamp.
/// A timestamp is kept only so the store can reject the push that carried it.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub labels: Vec<Label>,
    pub value: Value,
    pub timestamp_ms: Option<i64>,
}

/// A named family of metrics of one type.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    pub help: Option<String>,
    pub mtype: MetricType,
    pub metrics: Vec<Metric>,
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "_", ":a", "a:b_9", "A"] {
            assert!(is_valid_metric_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "é"] {
            assert!(!is_valid_metric_name(bad), "{bad}");
        }
        for ok in ["a", "_", "__x", "a9_"] {
            assert!(is_valid_label_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a:b", "a-b"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
    }
}
