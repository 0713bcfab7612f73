//! The parsed form of pushed metrics, shared by every body decoder and the store.
//!
//! A decoder (text today, protobuf later) turns a request body into [`MetricFamily`] values;
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
}

impl MetricType {
    /// The name used in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Summary => "summary",
            MetricType::Histogram => "histogram",
            MetricType::Untyped => "untyped",
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
    },
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
