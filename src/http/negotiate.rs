//! Content negotiation for scrapes: which exposition format an `Accept` header asks for, and
//! whether `Accept-Encoding` allows gzip.
//!
//! Media ranges are tried in order of their q-value (ties in header order); q=0 ranges are
//! not acceptable. The first range naming a format we write wins:
//! 1. `application/vnd.google.protobuf` with `proto=io.prometheus.client.MetricFamily` and
//!    `encoding=delimited`: delimited protobuf.
//! 2. `application/openmetrics-text` with `version=1.0.0`, `0.0.1` or none: OpenMetrics.
//! 3. `text/plain` with `version=0.0.4`, `1.0.0` (answered as such: Prometheus 3 asks for it)
//!    or none, or a wildcard (`*/*`, `text/*`): text.
//!
//! Without such a range (or without the header) it is text format 0.0.4, so a plain `curl`
//! and every older scraper get what they always got.
//!
//! An `escaping=` parameter (of the chosen range or of a preferred one before it, as upstream
//! reads it) says how names outside the legacy character set are shown; see `names`.

use crate::formats::names::Escaping;
use crate::order;

/// What a scrape is answered with: the format, the name escaping when the scraper named
/// one, and whether the body is gzip'd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Choice {
    pub format: Format,
    pub escaping: Option<Escaping>,
    pub gzip: bool,
}

impl Choice {
    pub fn from_headers(accept: Option<&str>, accept_encoding: Option<&str>) -> Choice {
        let (format, escaping) = format(accept);
        Choice {
            format,
            escaping,
            gzip: gzip(accept_encoding),
        }
    }

    /// The response's `Content-Type`: the format's, with the escaping when one was asked for.
    pub fn content_type(&self) -> String {
        match self.escaping {
            Some(e) => format!("{}; escaping={}", self.format.content_type(), e.as_param()),
            None => self.format.content_type().to_string(),
        }
    }
}

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Text; `true` when asked for as version 1.0.0, the version that allows quoted
    /// (UTF-8) names and that Prometheus 3 asks for. Both are the same text here: names are
    /// quoted only when the scraper also asked for them unescaped.
    Text(bool),
    /// OpenMetrics text; `true` for version 1.0.0, `false` for 0.0.1 (the same text here).
    OpenMetrics(bool),
    Protobuf,
}

impl Default for Format {
    fn default() -> Format {
        Format::Text(false)
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text(false) => "text/plain; version=0.0.4; charset=utf-8",
            Format::Text(true) => "text/plain; version=1.0.0; charset=utf-8",
            Format::OpenMetrics(true) => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            Format::OpenMetrics(false) => {
                "application/openmetrics-text; version=0.0.1; charset=utf-8"
            }
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; \
                 encoding=delimited"
            }
        }
    }
}

/// One media range of an `Accept` header: `type/subtype`, its parameters (names lowercased,
/// values unquoted) and its q-value.
struct Range<'a> {
    media: &'a str,
    params: Vec<(String, &'a str)>,
    q: f32,
}

impl Range<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    fn format(&self) -> Option<Format> {
        let media = self.media.to_ascii_lowercase();
        let version = self.param("version");
        match media.as_str() {
            "application/vnd.google.protobuf"
                if self.param("proto") == Some("io.prometheus.client.MetricFamily")
                    && self.param("encoding") == Some("delimited") =>
            {
                Some(Format::Protobuf)
            }
            "application/openmetrics-text" => match version {
                Some("1.0.0") => Some(Format::OpenMetrics(true)),
                Some("0.0.1") | None => Some(Format::OpenMetrics(false)),
                Some(_) => None,
            },
            "text/plain" => match version {
                Some("1.0.0") => Some(Format::Text(true)),
                Some("0.0.4") | None => Some(Format::Text(false)),
                Some(_) => None,
            },
            "*/*" | "text/*" => Some(Format::Text(false)),
            _ => None,
        }
    }
}

/// Splits a header value into its comma-separated ranges, each with its parameters, highest
/// q-value first.
fn ranges(header: &str) -> Vec<Range<'_>> {
    let mut out: Vec<Range> = header
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let media = parts.next()?.trim();
            if media.is_empty() {
                return None;
            }
            let mut q = 1.0;
            let mut params = Vec::new();
            for p in parts {
                let Some((name, value)) = p.split_once('=') else {
                    continue;
                };
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                if name == "q" {
                    q = value.parse().unwrap_or(0.0);
                } else {
                    params.push((name, value));
                }
            }
            Some(Range { media, params, q })
        })
        .collect();
    // Stable: equal q-values keep the order the client gave.
    order::sort_by(&mut out, |a, b| b.q.total_cmp(&a.q));
    out
}

/// The format an `Accept` header asks for, and the name escaping if it names one.
pub fn format(accept: Option<&str>) -> (Format, Option<Escaping>) {
    let mut escaping = None;
    for range in ranges(accept.unwrap_or_default())
        .iter()
        .filter(|r| r.q > 0.0)
    {
        if let Some(e) = range.param("escaping").and_then(Escaping::from_param) {
            escaping = Some(e);
        }
        if let Some(format) = range.format() {
            return (format, escaping);
        }
    }
    (Format::Text(false), escaping)
}

/// Whether a push's `Content-Type` asks for the protobuf decoder: `application/vnd.google.protobuf` with
/// `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`, parameters in any
/// order. Anything else is the text format, as upstream has it.
pub fn is_delimited(content_type: &str) -> bool {
    // A `Content-Type` is read as the one media range of an `Accept` header would be.
    format(Some(content_type)).0 == Format::Protobuf
}

/// Whether an `Accept-Encoding` header accepts gzip: by name (`gzip;q=0` refuses it), or
/// else by `*`.
pub fn gzip(accept_encoding: Option<&str>) -> bool {
    let ranges = ranges(accept_encoding.unwrap_or_default());
    let find = |f: &dyn Fn(&str) -> bool| ranges.iter().find(|r| f(r.media)).map(|r| r.q > 0.0);
    find(&|m| m.eq_ignore_ascii_case("gzip") || m.eq_ignore_ascii_case("x-gzip"))
        .or_else(|| find(&|m| m == "*"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTO: &str =
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";

    #[test]
    fn what_prometheus_sends() {
        // Prometheus 2.x by default, and with native histograms enabled.
        let om_first = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                        version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(format(Some(om_first)).0, Format::OpenMetrics(true));
        let proto_first = format!("{PROTO};q=0.8,{om_first}");
        // Here OpenMetrics has the higher q.
        assert_eq!(format(Some(&proto_first)).0, Format::OpenMetrics(true));
        let proto_first = format!(
            "{PROTO},application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5"
        );
        assert_eq!(format(Some(&proto_first)).0, Format::Protobuf);
        // Prometheus 3 with UTF-8 names.
        let utf8 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
                    text/plain;version=0.0.4;escaping=underscores;q=0.4";
        assert_eq!(
            format(Some(utf8)),
            (Format::OpenMetrics(true), Some(Escaping::AllowUtf8))
        );
    }

    #[test]
    fn q_values_wildcards_and_fallbacks() {
        for (accept, want) in [
            (None, Format::Text(false)),
            (Some(""), Format::Text(false)),
            (Some("*/*"), Format::Text(false)),
            (Some("application/json"), Format::Text(false)),
            (Some("text/plain;version=0.0.4;q=0.2, application/openmetrics-text"), Format::OpenMetrics(false)),
            (Some("application/openmetrics-text; version=\"1.0.0\"; q=0.9, text/plain"), Format::Text(false)),
            (Some("application/openmetrics-text;version=2.0.0, text/plain"), Format::Text(false)),
            (Some("application/openmetrics-text;q=0, */*;q=0.1"), Format::Text(false)),
            (Some("text/plain;version=1.0.0,application/openmetrics-text;version=1.0.0;q=0.5"), Format::Text(true)),
            (Some("text/plain;version=2.0.0,application/openmetrics-text;version=1.0.0;q=0.5"), Format::OpenMetrics(true)),
            (Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"), Format::Text(false)),
            (Some("APPLICATION/VND.GOOGLE.PROTOBUF; encoding=delimited; proto=io.prometheus.client.MetricFamily"), Format::Protobuf),
        ] {
            assert_eq!(format(accept), (want, None), "{accept:?}");
        }
    }

    #[test]
    fn escaping_parameters() {
        for (accept, want) in [
            ("text/plain;escaping=values", Some(Escaping::Values)),
            ("text/plain;escaping=bogus", None),
            (
                "application/json;escaping=dots,text/plain",
                Some(Escaping::Dots),
            ),
            ("text/plain,application/json;escaping=dots", None),
        ] {
            assert_eq!(
                format(Some(accept)),
                (Format::Text(false), want),
                "{accept}"
            );
        }
    }

    #[test]
    fn prometheus_accept_headers() {
        // What Prometheus 2.x (2.42) and 3.x send by default, and 3.x with its protobuf-first
        // scrape protocols (native histograms).
        let prometheus_2 =
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
            version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
            application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;\
            escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        let prometheus_3_protobuf = "application/vnd.google.protobuf;\
            proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.5,\
            application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.4,\
            application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=1.0.0;\
            escaping=allow-utf-8;q=0.2,text/plain;version=0.0.4;q=0.1,*/*;q=0.05";
        let text_1 =
            "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3";
        for (accept, content_type) in [
            (
                prometheus_2,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (
                prometheus_3,
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            ),
            (
                prometheus_3_protobuf,
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; \
                 encoding=delimited; escaping=allow-utf-8",
            ),
            (
                text_1,
                "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            ),
            (
                "text/plain;version=1.0.0",
                "text/plain; version=1.0.0; charset=utf-8",
            ),
        ] {
            assert_eq!(
                Choice::from_headers(Some(accept), None).content_type(),
                content_type,
                "{accept}"
            );
        }
    }

    #[test]
    fn gzip_by_accept_encoding() {
        for (header, want) in [
            (None, false),
            (Some("gzip"), true),
            (Some("deflate, GZIP;q=0.5"), true),
            (Some("gzip;q=0"), false),
            (Some("*"), true),
            (Some("gzip;q=0, *"), false),
            (Some("br, zstd"), false),
            (Some("identity"), false),
        ] {
            assert_eq!(gzip(header), want, "{header:?}");
        }
    }

    #[test]
    fn push_content_types() {
        for yes in [
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
            "application/vnd.google.protobuf;encoding=delimited;proto=io.prometheus.client.MetricFamily",
            "Application/VND.Google.Protobuf ; Encoding = delimited ; proto=\"io.prometheus.client.MetricFamily\"",
        ] {
            assert!(is_delimited(yes), "{yes}");
        }
        for no in [
            "",
            "text/plain; version=0.0.4",
            "application/vnd.google.protobuf",
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text",
            "application/vnd.google.protobuf; proto=io.prometheus.client.Metric; encoding=delimited",
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=DELIMITED",
            "application/vnd.google.protobufx; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        ] {
            assert!(!is_delimited(no), "{no}");
        }
    }
}
